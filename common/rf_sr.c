/* SPDX-License-Identifier: Apache-2.0 */
/* rf_sr: Schema Registry client (libcurl + jansson) and the framing that
 * depends on it.
 *
 * Blocking requests. A request runs on the caller's thread, bounded by
 * schema_registry.timeout_ms. That is acceptable on a loop because a
 * process asks rarely: a producer once for its id, a consumer once per
 * writer id it has not seen (ids are immutable, so a resolved id is never
 * asked again while it stays in the bounded cache). During an outage a
 * back-off stops every caller from asking more than once per period, so
 * an unreachable registry costs one timeout per period, not one per
 * message. */
#include "rf_sr.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_util.h"

#define MAX_RESPONSE (1024 * 1024)
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define MAX_REFUSED_IDS 64 /* ids the registry said it does not know, remembered */
#define CONTENT_TYPE "application/vnd.schemaregistry.v1+json"

struct rf_sr {
        pthread_mutex_t lock; /* one request at a time on the handle */
        CURL *curl;
        char *url, *username, *password, *ca_file;
        int timeout_ms;
};

typedef struct body {
        char *b;
        size_t len;
        bool too_big;
} body_t;

static char *dup_or_null(const char *s) {
        return s && *s ? strdup(s) : NULL;
}

int rf_sr_new(const char *url, const char *username, const char *password, const char *ca_file, int timeout_ms,
              rf_sr_t **ret, char *errstr, size_t errstr_size) {
        rf_sr_t *sr;
        size_t n;

        if (!url || !*url) {
                rf_seterr(errstr, errstr_size, "schema registry: no URL");
                return -EINVAL;
        }
        sr = calloc(1, sizeof(*sr));
        if (!sr)
                goto nomem;
        pthread_mutex_init(&sr->lock, NULL);
        sr->url = strdup(url);
        sr->username = dup_or_null(username);
        sr->password = dup_or_null(password);
        sr->ca_file = dup_or_null(ca_file);
        sr->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
        sr->curl = curl_easy_init();
        if (!sr->url || !sr->curl || (username && *username && !sr->username) ||
            (password && *password && !sr->password) || (ca_file && *ca_file && !sr->ca_file))
                goto nomem;
        /* "…/v7/" and "…/v7" name the same API */
        n = strlen(sr->url);
        while (n > 0 && sr->url[n - 1] == '/')
                sr->url[--n] = '\0';
        *ret = sr;
        return 0;
nomem:
        rf_sr_destroy(sr);
        rf_seterr(errstr, errstr_size, "out of memory");
        return -ENOMEM;
}

void rf_sr_destroy(rf_sr_t *sr) {
        if (!sr)
                return;
        if (sr->curl)
                curl_easy_cleanup(sr->curl);
        free(sr->url);
        free(sr->username);
        if (sr->password) {
                memset(sr->password, 0, strlen(sr->password));
                free(sr->password);
        }
        free(sr->ca_file);
        pthread_mutex_destroy(&sr->lock);
        free(sr);
}

const char *rf_sr_url(const rf_sr_t *sr) {
        return sr ? sr->url : NULL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque) {
        body_t *b = opaque;
        size_t n = size * nmemb;
        char *nb;

        if (b->len + n > MAX_RESPONSE) {
                b->too_big = true;
                return 0;
        }
        nb = realloc(b->b, b->len + n + 1);
        if (!nb)
                return 0;
        memcpy(nb + b->len, data, n);
        b->b = nb;
        b->len += n;
        b->b[b->len] = '\0';
        return n;
}

/* The registry's error message from a JSON error body, or the status. */
static void answer_error(const char *what, long status, const body_t *b, char *errstr, size_t errstr_size) {
        json_t *j = b->b ? json_loads(b->b, 0, NULL) : NULL;
        const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
        json_int_t code = j ? json_integer_value(json_object_get(j, "error_code")) : 0;

        if (msg)
                rf_seterr(errstr, errstr_size, "%s: HTTP %ld (error %" JSON_INTEGER_FORMAT "): %.300s", what, status,
                          code, msg);
        else
                rf_seterr(errstr, errstr_size, "%s: HTTP %ld", what, status);
        json_decref(j);
}

/* One request: @p method on url + @p path with @p payload (JSON, may be
 * NULL). 2xx: 0 and *ret_json the parsed body (caller decrefs). Otherwise
 * the errors of rf_sr.h, with "schema registry <url>: ..." in @p errstr. */
static int request(rf_sr_t *sr, const char *method, const char *path, json_t *payload, json_t **ret_json, char *errstr,
                   size_t errstr_size) {
        struct curl_slist *hdrs = NULL;
        body_t b = { 0 };
        char *url = NULL, *data = NULL, what[512], cerr[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode cc;
        int r;

        snprintf(what, sizeof(what), "schema registry %s: %s %s", sr->url, method, path);
        if (asprintf(&url, "%s%s", sr->url, path) < 0) {
                url = NULL;
                rf_seterr(errstr, errstr_size, "out of memory");
                return -ENOMEM;
        }
        if (payload && !(data = json_dumps(payload, JSON_COMPACT))) {
                free(url);
                rf_seterr(errstr, errstr_size, "out of memory");
                return -ENOMEM;
        }
        hdrs = curl_slist_append(hdrs, "Accept: " CONTENT_TYPE ", application/json");
        if (data)
                hdrs = curl_slist_append(hdrs, "Content-Type: " CONTENT_TYPE);

        pthread_mutex_lock(&sr->lock);
        curl_easy_reset(sr->curl);
        curl_easy_setopt(sr->curl, CURLOPT_URL, url);
        curl_easy_setopt(sr->curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(sr->curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(sr->curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(sr->curl, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(sr->curl, CURLOPT_TIMEOUT_MS, (long)sr->timeout_ms);
        curl_easy_setopt(sr->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)sr->timeout_ms);
        curl_easy_setopt(sr->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(sr->curl, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(sr->curl, CURLOPT_PROTOCOLS_STR, "http,https");
        if (data)
                curl_easy_setopt(sr->curl, CURLOPT_POSTFIELDS, data);
        if (sr->username) {
                curl_easy_setopt(sr->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
                curl_easy_setopt(sr->curl, CURLOPT_USERNAME, sr->username);
                curl_easy_setopt(sr->curl, CURLOPT_PASSWORD, sr->password ? sr->password : "");
        }
        if (sr->ca_file)
                curl_easy_setopt(sr->curl, CURLOPT_CAINFO, sr->ca_file);
        cc = curl_easy_perform(sr->curl);
        if (cc == CURLE_OK)
                curl_easy_getinfo(sr->curl, CURLINFO_RESPONSE_CODE, &status);
        pthread_mutex_unlock(&sr->lock);
        curl_slist_free_all(hdrs);

        if (cc != CURLE_OK) {
                if (b.too_big)
                        rf_seterr(errstr, errstr_size, "%s: answer larger than %d bytes", what, MAX_RESPONSE);
                else
                        rf_seterr(errstr, errstr_size, "%s: %s", what, cerr[0] ? cerr : curl_easy_strerror(cc));
                r = b.too_big ? -EPROTO : -EAGAIN;
                goto out;
        }
        if (status >= 200 && status < 300) {
                json_error_t je;
                json_t *j = json_loadb(b.b ? b.b : "", b.len, 0, &je);

                if (!j) {
                        rf_seterr(errstr, errstr_size, "%s: HTTP %ld with a body that is not JSON: %s", what, status,
                                  je.text);
                        r = -EPROTO;
                        goto out;
                }
                *ret_json = j;
                r = 0;
                goto out;
        }
        answer_error(what, status, &b, errstr, errstr_size);
        if (status >= 500 || status == 429 || status == 408)
                r = -EAGAIN;
        else if (status == 404)
                r = -ENOENT;
        else if (status == 401 || status == 403)
                r = -EACCES;
        else if (status == 409 || status == 422)
                r = -EINVAL;
        else
                r = -EPROTO;
out:
        free(b.b);
        free(url);
        free(data);
        return r;
}

static json_t *schema_payload(const char *schema_json) {
        return json_pack("{s:s}", "schema", schema_json);
}

static int id_of(json_t *j, int32_t *ret_id, const char *what, char *errstr, size_t errstr_size) {
        json_t *id = json_object_get(j, "id");

        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX) {
                rf_seterr(errstr, errstr_size, "schema registry: %s: the answer has no valid \"id\"", what);
                return -EPROTO;
        }
        *ret_id = (int32_t)json_integer_value(id);
        return 0;
}

/* POSTs @p schema_json to @p path (under @p subject) and reads the id the
 * answer names: registering a version and looking one up differ only in
 * the path. */
static int post_schema(rf_sr_t *sr, const char *path, const char *schema_json, int32_t *ret_id, char *errstr,
                       size_t errstr_size) {
        json_t *p = schema_payload(schema_json), *j = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = request(sr, "POST", path, p, &j, errstr, errstr_size);
        json_decref(p);
        if (r < 0)
                return r;
        r = id_of(j, ret_id, path, errstr, errstr_size);
        json_decref(j);
        return r;
}

int rf_sr_register(rf_sr_t *sr, const char *subject, const char *schema_json, int32_t *ret_id, char *errstr,
                   size_t errstr_size) {
        char path[512];

        snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
        return post_schema(sr, path, schema_json, ret_id, errstr, errstr_size);
}

int rf_sr_lookup(rf_sr_t *sr, const char *subject, const char *schema_json, int32_t *ret_id, char *errstr,
                 size_t errstr_size) {
        char path[512];

        snprintf(path, sizeof(path), "/subjects/%s", subject);
        return post_schema(sr, path, schema_json, ret_id, errstr, errstr_size);
}

int rf_sr_set_compatibility(rf_sr_t *sr, const char *subject, const char *level, char *errstr, size_t errstr_size) {
        json_t *p = json_pack("{s:s}", "compatibility", level), *j = NULL;
        char path[512];
        int r;

        if (!p)
                return -ENOMEM;
        snprintf(path, sizeof(path), "/config/%s", subject);
        r = request(sr, "PUT", path, p, &j, errstr, errstr_size);
        json_decref(p);
        json_decref(j);
        return r;
}

int rf_sr_test_compatibility(rf_sr_t *sr, const char *subject, const char *schema_json, bool *ret_ok, char *errstr,
                             size_t errstr_size) {
        json_t *p = schema_payload(schema_json), *j = NULL, *ok, *msgs;
        char path[512];
        int r;

        if (!p)
                return -ENOMEM;
        snprintf(path, sizeof(path), "/compatibility/subjects/%s/versions/latest?verbose=true", subject);
        r = request(sr, "POST", path, p, &j, errstr, errstr_size);
        json_decref(p);
        if (r == -ENOENT) {
                /* no version yet: nothing to be incompatible with */
                *ret_ok = true;
                return 0;
        }
        if (r < 0)
                return r;
        ok = json_object_get(j, "is_compatible");
        if (!json_is_boolean(ok)) {
                rf_seterr(errstr, errstr_size, "schema registry: %s: the answer has no \"is_compatible\"", path);
                json_decref(j);
                return -EPROTO;
        }
        *ret_ok = json_is_true(ok);
        if (!*ret_ok) {
                msgs = json_object_get(j, "messages");
                if (json_is_array(msgs) && json_array_size(msgs) > 0) {
                        char *text = json_dumps(msgs, JSON_COMPACT);

                        rf_seterr(errstr, errstr_size, "%.400s", text ? text : "incompatible");
                        free(text);
                } else if (errstr && errstr_size)
                        errstr[0] = '\0';
        }
        json_decref(j);
        return 0;
}

int rf_sr_get_schema(rf_sr_t *sr, int32_t id, char **ret_json, char *errstr, size_t errstr_size) {
        json_t *j = NULL;
        const char *s;
        char path[64];
        int r;

        snprintf(path, sizeof(path), "/schemas/ids/%" PRId32, id);
        r = request(sr, "GET", path, NULL, &j, errstr, errstr_size);
        if (r < 0)
                return r;
        s = json_string_value(json_object_get(j, "schema"));
        if (!s) {
                rf_seterr(errstr, errstr_size, "schema registry: %s: the answer has no \"schema\"", path);
                json_decref(j);
                return -EPROTO;
        }
        *ret_json = strdup(s);
        json_decref(j);
        return *ret_json ? 0 : -ENOMEM;
}

/* ---- process-wide framing ------------------------------------------- */

static struct {
        pthread_mutex_t lock; /* guards everything below but client */
        rf_sr_t *client;
        bool framed; /* producers write the Confluent framing */
        char subject[300];
        int32_t id; /* the producer's, -1 until looked up */
        int32_t refused[MAX_REFUSED_IDS];
        size_t n_refused, next_refused;
        int64_t retry_at; /* mono ms: no request before, after a transient failure */
        int backoff_ms;
        bool failing; /* the last request failed */
        char why[400];
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .id = -1 };

int rf_sr_setup(const rf_conf_t *conf, char *errstr, size_t errstr_size) {
        int r;

        rf_sr_teardown();
        if (conf->schema_registry.url) {
                r = rf_sr_new(conf->schema_registry.url, conf->schema_registry.username, conf->schema_registry.password,
                              conf->schema_registry.ca_file, conf->schema_registry.timeout_ms, &g.client, errstr,
                              errstr_size);
                if (r < 0)
                        return r;
        }
        g.framed = strcmp(conf->kafka.value_format, "schema-registry") == 0;
        snprintf(g.subject, sizeof(g.subject), "%s-value", conf->kafka.topic);
        return 0;
}

void rf_sr_teardown(void) {
        rf_sr_destroy(g.client);
        g.client = NULL;
        g.framed = false;
        rf_sr_reset_for_tests();
}

void rf_sr_reset_for_tests(void) {
        pthread_mutex_lock(&g.lock);
        g.id = -1;
        g.n_refused = g.next_refused = 0;
        g.retry_at = 0;
        g.backoff_ms = 0;
        g.failing = false;
        g.why[0] = '\0';
        pthread_mutex_unlock(&g.lock);
}

rf_sr_t *rf_sr_global(void) {
        return g.client;
}

bool rf_sr_producing_framed(void) {
        return g.framed;
}

/* Whether a request may go out now (not within a back-off); if not, the
 * last failure is copied to @p errstr. */
static bool may_ask(char *errstr, size_t errstr_size) {
        bool ok;

        pthread_mutex_lock(&g.lock);
        ok = !g.failing || rf_mono_ms() >= g.retry_at;
        if (!ok)
                rf_seterr(errstr, errstr_size, "%s (retrying within %d ms)", g.why, g.backoff_ms);
        pthread_mutex_unlock(&g.lock);
        return ok;
}

/* Records a request's outcome: @p r < 0 transient failures start or
 * lengthen the back-off; anything that got an answer ends it. */
static void note(int r, const char *why) {
        pthread_mutex_lock(&g.lock);
        if (r == -EAGAIN) {
                g.backoff_ms = g.backoff_ms ? g.backoff_ms * 2 : BACKOFF_MIN_MS;
                if (g.backoff_ms > BACKOFF_MAX_MS)
                        g.backoff_ms = BACKOFF_MAX_MS;
                g.retry_at = rf_mono_ms() + g.backoff_ms;
                g.failing = true;
                snprintf(g.why, sizeof(g.why), "%s", why);
        } else {
                g.failing = false;
                g.backoff_ms = 0;
                g.why[0] = '\0';
        }
        pthread_mutex_unlock(&g.lock);
}

/* The producer's schema id, looked up once (0 and *ret_id), or the
 * errors of rf_sr_encode_value() without encoding anything. */
static int producer_id(int32_t *ret_id, char *errstr, size_t errstr_size) {
        char why[400];
        int32_t id;
        int r;

        pthread_mutex_lock(&g.lock);
        id = g.id;
        pthread_mutex_unlock(&g.lock);
        if (id >= 0) {
                *ret_id = id;
                return 0;
        }
        if (!may_ask(why, sizeof(why))) {
                rf_seterr(errstr, errstr_size, "no schema id for %s: %s", g.subject, why);
                return -EAGAIN;
        }
        r = rf_sr_lookup(g.client, g.subject, rf_decision_schema_json(), &id, why, sizeof(why));
        note(r == -EAGAIN ? r : 0, why);
        if (r == -ENOENT) {
                rf_seterr(errstr, errstr_size,
                          "the decision schema is not registered under %s (run 'runfleet-producer migrate'): %s",
                          g.subject, why);
                pthread_mutex_lock(&g.lock);
                snprintf(g.why, sizeof(g.why), "%s", errstr);
                pthread_mutex_unlock(&g.lock);
                return r;
        }
        if (r < 0) {
                rf_seterr(errstr, errstr_size, "no schema id for %s: %s", g.subject, why);
                return r;
        }
        pthread_mutex_lock(&g.lock);
        g.id = id;
        pthread_mutex_unlock(&g.lock);
        *ret_id = id;
        return 0;
}

int rf_sr_producer_check(char *errstr, size_t errstr_size) {
        int32_t id;

        return g.framed ? producer_id(&id, errstr, errstr_size) : 0;
}

int rf_sr_encode_value(const rf_decision_t *d, void **ret_buf, size_t *ret_len, char *errstr, size_t errstr_size) {
        int32_t id;
        int r;

        if (!g.framed)
                return rf_decision_encode(d, ret_buf, ret_len, errstr, errstr_size);
        r = producer_id(&id, errstr, errstr_size);
        if (r < 0)
                return r;
        return rf_decision_encode_confluent(d, id, ret_buf, ret_len, errstr, errstr_size);
}

static bool refused_id(int32_t id) {
        bool found = false;

        pthread_mutex_lock(&g.lock);
        for (size_t i = 0; i < g.n_refused; i++)
                if (g.refused[i] == id)
                        found = true;
        pthread_mutex_unlock(&g.lock);
        return found;
}

static void refuse_id(int32_t id) {
        pthread_mutex_lock(&g.lock);
        if (g.n_refused < MAX_REFUSED_IDS)
                g.n_refused++;
        g.refused[g.next_refused] = id;
        g.next_refused = (g.next_refused + 1) % MAX_REFUSED_IDS;
        pthread_mutex_unlock(&g.lock);
}

/* Makes @p id decodable: 0, -EAGAIN, or -EBADMSG (reason in @p errstr). */
static int resolve_id(int32_t id, char *errstr, size_t errstr_size) {
        char why[400], *json = NULL;
        int r;

        if (rf_decision_schema_id_known(id))
                return 0;
        if (!g.client) {
                rf_seterr(errstr, errstr_size,
                          "schema registry framing (schema id %" PRId32 ") but no schema_registry.url is configured",
                          id);
                return -EBADMSG;
        }
        if (refused_id(id)) {
                rf_seterr(errstr, errstr_size, "schema id %" PRId32 " is unknown to the schema registry", id);
                return -EBADMSG;
        }
        if (!may_ask(why, sizeof(why))) {
                rf_seterr(errstr, errstr_size, "schema id %" PRId32 " not resolved: %s", id, why);
                return -EAGAIN;
        }
        r = rf_sr_get_schema(g.client, id, &json, why, sizeof(why));
        note(r == -EAGAIN ? r : 0, why);
        if (r == -ENOENT) {
                refuse_id(id);
                rf_seterr(errstr, errstr_size, "schema id %" PRId32 " is unknown to the schema registry (%s)", id, why);
                return -EBADMSG;
        }
        if (r == -EAGAIN || r == -ENOMEM) {
                rf_seterr(errstr, errstr_size, "schema id %" PRId32 " not resolved: %s", id, why);
                return -EAGAIN;
        }
        if (r < 0) {
                /* 401/403 or an answer we cannot use: the registry's or our
                 * configuration's fault, not the message's; retried */
                note(-EAGAIN, why);
                rf_seterr(errstr, errstr_size, "schema id %" PRId32 " not resolved: %s", id, why);
                return -EAGAIN;
        }
        r = rf_decision_add_schema_id(id, json, why, sizeof(why));
        free(json);
        if (r == -ENOMEM || r == -ENOSPC) {
                rf_seterr(errstr, errstr_size, "schema id %" PRId32 ": %s", id, why);
                return r == -ENOMEM ? -EAGAIN : -EBADMSG;
        }
        if (r < 0) {
                rf_seterr(errstr, errstr_size, "schema id %" PRId32 " is not a readable run_decision schema: %s", id,
                          why);
                return -EBADMSG;
        }
        return 0;
}

int rf_sr_decode_value(const void *buf, size_t len, rf_decision_t **ret_decision, char *errstr, size_t errstr_size) {
        int32_t id;
        int r;

        if (rf_decision_wire(buf, len, &id) == RF_WIRE_CONFLUENT) {
                r = resolve_id(id, errstr, errstr_size);
                if (r < 0)
                        return r;
        }
        r = rf_decision_decode(buf, len, ret_decision, errstr, errstr_size);
        if (r == -ENOKEY)
                return -EAGAIN; /* evicted from the bounded cache between the two calls: retry */
        return r < 0 && r != -ENOMEM ? -EBADMSG : r;
}

int rf_sr_readiness(char *why, size_t why_size) {
        int r = 0;

        pthread_mutex_lock(&g.lock);
        if (g.client && g.failing) {
                rf_seterr(why, why_size, "%s", g.why);
                r = -EAGAIN;
        } else if (g.framed && g.id < 0 && g.why[0]) {
                rf_seterr(why, why_size, "%s", g.why);
                r = -EAGAIN;
        }
        pthread_mutex_unlock(&g.lock);
        return r;
}
