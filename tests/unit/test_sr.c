/* SPDX-License-Identifier: Apache-2.0 */
/* rf_sr against a small registry of this test's own (libmicrohttpd on
 * 127.0.0.1): basic auth sent as configured; answers mapped to the
 * errors callers act on (404 permanent, 5xx and no answer transient, 409
 * refused); an unknown id asked once and then refused from memory; a
 * known id fetched once and decoded; while the registry fails, requests
 * back off and a framed message is transient, never refused; /readyz's
 * reason names the registry. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "rf_conf.h"
#include "rf_decision.h"
#include "rf_sr.h"
#include "rf_test.h"

static struct {
        pthread_mutex_t lock;
        int status; /* forced answer, 0: normal */
        int requests, schema_gets;
        char auth[256]; /* the last Authorization header */
        char last_url[256];
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

static enum MHD_Result reply(struct MHD_Connection *conn, int status, const char *body) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret;

        MHD_add_response_header(resp, "Content-Type", "application/vnd.schemaregistry.v1+json");
        ret = MHD_queue_response(conn, (unsigned)status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
        const char *auth;
        int forced;
        char *body = NULL;
        enum MHD_Result ret;

        (void)cls;
        (void)version;
        (void)upload;
        (void)method;
        if (!*con_cls) { /* first call: headers only */
                *con_cls = (void *)1;
                return MHD_YES;
        }
        if (*upload_size) {
                *upload_size = 0; /* bodies are not looked at */
                return MHD_YES;
        }
        auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        pthread_mutex_lock(&srv.lock);
        srv.requests++;
        snprintf(srv.auth, sizeof(srv.auth), "%s", auth ? auth : "");
        snprintf(srv.last_url, sizeof(srv.last_url), "%s", url);
        forced = srv.status;
        if (strncmp(url, "/api/schemas/ids/", 17) == 0)
                srv.schema_gets++;
        pthread_mutex_unlock(&srv.lock);

        if (forced)
                return reply(conn, forced, "{\"error_code\":50001,\"message\":\"forced\"}");
        if (strcmp(url, "/api/schemas/ids/7") == 0) {
                json_t *j = json_pack("{s:s}", "schema", rf_decision_schema_json());
                body = json_dumps(j, JSON_COMPACT);
                json_decref(j);
                ret = reply(conn, 200, body);
                free(body);
                return ret;
        }
        if (strncmp(url, "/api/schemas/ids/", 17) == 0)
                return reply(conn, 404, "{\"error_code\":40403,\"message\":\"Schema not found\"}");
        if (strcmp(url, "/api/subjects/t-value/versions") == 0)
                return reply(conn, 409, "{\"error_code\":409,\"message\":\"Incompatible artifact\"}");
        if (strcmp(url, "/api/subjects/t-value") == 0)
                return reply(conn, 200, "{\"subject\":\"t-value\",\"id\":7,\"version\":1,\"schema\":\"x\"}");
        if (strcmp(url, "/api/config/t-value") == 0)
                return reply(conn, 200, "{\"compatibility\":\"BACKWARD\"}");
        return reply(conn, 404, "{\"error_code\":404,\"message\":\"no such path\"}");
}

static void set_status(int status) {
        pthread_mutex_lock(&srv.lock);
        srv.status = status;
        pthread_mutex_unlock(&srv.lock);
}

static int get(int *field) {
        int v;

        pthread_mutex_lock(&srv.lock);
        v = *field;
        pthread_mutex_unlock(&srv.lock);
        return v;
}

/* A whole small file, NUL-terminated (free()), or NULL. */
static char *slurp(const char *path) {
        FILE *f = fopen(path, "r");
        char *b = f ? calloc(1, 65536) : NULL;

        if (b && fread(b, 1, 65535, f) == 0) {
                free(b);
                b = NULL;
        }
        if (f)
                fclose(f);
        return b;
}

/* https with a CA of the test's own (openssl): the client trusts the
 * server with schema_registry.ca_file, and refuses it without. */
static void test_tls(void) {
        char dir[] = "/tmp/rf-test-sr-XXXXXX", cmd[2048], path[600], url[128], err[512];
        char *key = NULL, *cert = NULL;
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct MHD_Daemon *tls = NULL;
        const union MHD_DaemonInfo *info;
        rf_sr_t *sr = NULL;
        int32_t id = -1;

        CHECK(mkdtemp(dir) != NULL);
        snprintf(
                cmd, sizeof(cmd),
                "cd %s && (openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
                "-subj /CN=rf-test-ca && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr "
                "-subj /CN=127.0.0.1 && printf 'subjectAltName=IP:127.0.0.1\\n' >ext && openssl x509 -req -in "
                "srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext) >openssl.log 2>&1",
                dir);
        CHECK(system(cmd) == 0 || !"openssl (scripts/install-deps installs it)");
        snprintf(path, sizeof(path), "%s/srv.key", dir);
        key = slurp(path);
        snprintf(path, sizeof(path), "%s/srv.pem", dir);
        cert = slurp(path);
        CHECK(key && cert);
        if (key && cert)
                tls = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, NULL, NULL, on_request, NULL,
                                       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_HTTPS_MEM_KEY, key,
                                       MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
        CHECK(tls != NULL);
        if (tls) {
                info = MHD_get_daemon_info(tls, MHD_DAEMON_INFO_BIND_PORT);
                snprintf(url, sizeof(url), "https://127.0.0.1:%d/api", info ? info->port : 0);
                snprintf(path, sizeof(path), "%s/ca.pem", dir);
                CHECK(rf_sr_new(url, NULL, NULL, path, 5000, &sr, err, sizeof(err)) == 0);
                CHECK(rf_sr_lookup(sr, "t-value", "{}", &id, err, sizeof(err)) == 0 && id == 7);
                if (id != 7)
                        printf("# with the CA: %s\n", err);
                rf_sr_destroy(sr);
                CHECK(rf_sr_new(url, NULL, NULL, NULL, 5000, &sr, err, sizeof(err)) == 0);
                CHECK(rf_sr_lookup(sr, "t-value", "{}", &id, err, sizeof(err)) < 0);
                printf("# without the CA: %s\n", err);
                CHECK_CONTAINS(err, "certificate");
                rf_sr_destroy(sr);
                MHD_stop_daemon(tls);
        }
        free(key);
        free(cert);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
                printf("# could not remove %s\n", dir);
}

static void encode(int32_t id, void **buf, size_t *len) {
        rf_decision_t *d = rf_decision_new();
        char s[] = "s", *names[] = { s }, err[256];

        d->decision_id = strdup("0b1e3a52-8e3c-4f5e-9a53-2f0d7c4b6a11");
        d->workflow = strdup("wf");
        d->reason = strdup("r");
        d->trace_id = strdup("0123456789abcdef0123456789abcdef");
        d->decided_at_ms = 1700000000000;
        d->attempt = 1;
        d->deadline_ms = 1000;
        rf_decision_set_scrapers(d, names, 1);
        CHECK(rf_decision_encode_confluent(d, id, buf, len, err, sizeof(err)) == 0);
        rf_decision_destroy(d);
}

int main(void) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct MHD_Daemon *daemon;
        const union MHD_DaemonInfo *info;
        char url[128], cfg[512], err[512], *json = NULL;
        rf_sr_t *sr = NULL;
        rf_conf_t *conf = NULL;
        rf_decision_t *d = NULL;
        void *buf = NULL, *unknown = NULL;
        size_t len = 0, unknown_len = 0;
        int32_t id = -1;

        /* the configuration below is the test's, not the environment's */
        for (const char *const *v =
                     (const char *const[]){ "RUNFLEET_SCHEMA_REGISTRY_URL", "RUNFLEET_SCHEMA_REGISTRY_USERNAME",
                                            "RUNFLEET_SCHEMA_REGISTRY_PASSWORD", "RUNFLEET_SCHEMA_REGISTRY_CA_FILE",
                                            "RUNFLEET_SCHEMA_REGISTRY_TIMEOUT_MS", "RUNFLEET_KAFKA_VALUE_FORMAT",
                                            "RUNFLEET_KAFKA_TOPIC", "RUNFLEET_KAFKA_BROKERS", "RUNFLEET_DATABASE_URL",
                                            NULL };
             *v; v++)
                unsetenv(*v);
        daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL,
                                  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
        CHECK(daemon != NULL);
        if (!daemon)
                return rf_test_finish();
        info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/", info ? info->port : 0);

        /* the client: basic auth, answers mapped to errors */
        CHECK(rf_sr_new(url, "alice", "s3cret", NULL, 2000, &sr, err, sizeof(err)) == 0);
        CHECK(rf_sr_lookup(sr, "t", "{}", &id, err, sizeof(err)) == -ENOENT); /* /subjects/t: no such path */
        CHECK(rf_sr_lookup(sr, "t-value", "{}", &id, err, sizeof(err)) == 0 && id == 7);
        CHECK_STR_EQ(srv.auth, "Basic YWxpY2U6czNjcmV0"); /* alice:s3cret */
        CHECK(rf_sr_set_compatibility(sr, "t-value", "BACKWARD", err, sizeof(err)) == 0);
        CHECK(rf_sr_register(sr, "t-value", "{}", &id, err, sizeof(err)) == -EINVAL);
        CHECK_CONTAINS(err, "HTTP 409");
        CHECK_CONTAINS(err, "Incompatible artifact");
        CHECK(rf_sr_get_schema(sr, 7, &json, err, sizeof(err)) == 0);
        CHECK(json && strcmp(json, rf_decision_schema_json()) == 0);
        free(json);
        CHECK(rf_sr_get_schema(sr, 8, &json, err, sizeof(err)) == -ENOENT);
        set_status(503);
        CHECK(rf_sr_get_schema(sr, 7, &json, err, sizeof(err)) == -EAGAIN);
        set_status(429);
        CHECK(rf_sr_get_schema(sr, 7, &json, err, sizeof(err)) == -EAGAIN);
        set_status(401);
        CHECK(rf_sr_get_schema(sr, 7, &json, err, sizeof(err)) == -EACCES);
        set_status(0);
        rf_sr_destroy(sr);
        /* nothing listens: transient */
        CHECK(rf_sr_new("http://127.0.0.1:1/api", NULL, NULL, NULL, 500, &sr, err, sizeof(err)) == 0);
        CHECK(rf_sr_get_schema(sr, 7, &json, err, sizeof(err)) == -EAGAIN);
        CHECK_CONTAINS(err, "schema registry http://127.0.0.1:1/api: GET /schemas/ids/7");
        rf_sr_destroy(sr);

        /* the process-wide framing, from a configuration */
        pthread_mutex_lock(&srv.lock);
        srv.schema_gets = 0;
        pthread_mutex_unlock(&srv.lock);
        snprintf(cfg, sizeof(cfg),
                 "kafka = { brokers = \"127.0.0.1:1\"; topic = \"t\"; value_format = \"schema-registry\"; };\n"
                 "schema_registry = { url = \"%s\"; username = \"alice\"; password = \"s3cret\"; };\n"
                 "database = { url = \"postgresql://x@127.0.0.1/db\"; };\n",
                 url);
        CHECK(rf_conf_load_string(cfg, "sr.cfg", &conf, err, sizeof(err)) == 0);
        CHECK(conf && rf_sr_setup(conf, err, sizeof(err)) == 0);
        CHECK(rf_sr_producing_framed());
        CHECK(rf_sr_readiness(err, sizeof(err)) == 0);

        /* an unknown id: asked once, then refused from memory; not transient */
        encode(99, &unknown, &unknown_len);
        CHECK(rf_sr_decode_value(unknown, unknown_len, &d, err, sizeof(err)) == -EBADMSG);
        CHECK_CONTAINS(err, "schema id 99 is unknown to the schema registry");
        CHECK(rf_sr_decode_value(unknown, unknown_len, &d, err, sizeof(err)) == -EBADMSG);
        CHECK(get(&srv.schema_gets) == 1);

        /* the registry failing: transient, backed off (one request), named for /readyz */
        encode(7, &buf, &len);
        set_status(500);
        CHECK(rf_sr_decode_value(buf, len, &d, err, sizeof(err)) == -EAGAIN);
        CHECK(rf_sr_decode_value(buf, len, &d, err, sizeof(err)) == -EAGAIN);
        CHECK(get(&srv.schema_gets) == 2);
        CHECK(rf_sr_readiness(err, sizeof(err)) == -EAGAIN);
        CHECK_CONTAINS(err, "schema registry http://127.0.0.1:");
        /* while backing off, the producer cannot learn its id: transient too */
        {
                void *none = NULL;
                size_t none_len = 0;

                CHECK(rf_sr_encode_value(NULL, &none, &none_len, err, sizeof(err)) == -EAGAIN && none == NULL);
        }

        /* back: after the back-off the id is fetched once and decodes */
        set_status(0);
        rf_sr_reset_for_tests();
        CHECK(rf_sr_decode_value(buf, len, &d, err, sizeof(err)) == 0);
        CHECK(d && strcmp(d->workflow, "wf") == 0);
        rf_decision_destroy(d);
        d = NULL;
        CHECK(rf_sr_decode_value(buf, len, &d, err, sizeof(err)) == 0);
        rf_decision_destroy(d);
        d = NULL;
        CHECK(get(&srv.schema_gets) == 3);
        /* cached: decodes with the registry failing */
        set_status(500);
        CHECK(rf_sr_decode_value(buf, len, &d, err, sizeof(err)) == 0);
        rf_decision_destroy(d);
        d = NULL;
        CHECK(get(&srv.schema_gets) == 3);
        set_status(0);
        /* the producer: its id looked up once, then framed without asking */
        CHECK(rf_sr_producer_check(err, sizeof(err)) == 0);
        {
                int before = get(&srv.requests);
                rf_decision_t *e = NULL;
                void *out = NULL;
                size_t out_len = 0;
                int32_t got = -1;

                CHECK(rf_sr_decode_value(buf, len, &e, err, sizeof(err)) == 0);
                CHECK(rf_sr_encode_value(e, &out, &out_len, err, sizeof(err)) == 0);
                CHECK(rf_decision_wire(out, out_len, &got) == RF_WIRE_CONFLUENT && got == 7);
                CHECK(out_len == len && memcmp(out, buf, len) == 0);
                CHECK(get(&srv.requests) == before);
                free(out);
                rf_decision_destroy(e);
        }
        free(buf);
        free(unknown);
        rf_sr_teardown();
        rf_conf_destroy(conf);
        MHD_stop_daemon(daemon);
        test_tls();
        return rf_test_finish();
}
