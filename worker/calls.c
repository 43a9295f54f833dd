/* The HTTP side of an execution: one easy handle per scraper on the shared
 * multi handle, so thousands of calls wait on sockets, not threads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_log.h"
#include "rf_util.h"
#include "worker.h"

/* Counts the body without keeping it: a scraper's answer can be large and
 * only its status matters. The first bytes are kept for an error record;
 * past max_body the transfer stops (the status line has arrived by then). */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
        call_t *c = userp;
        size_t n = size * nmemb;

        if (c->body_bytes + n > c->max_body) {
                c->truncated = true;
                return 0;
        }
        if (c->body_bytes == 0 && n > 0) {
                size_t keep = n < sizeof(c->error) - 1 ? n : sizeof(c->error) - 1;
                memcpy(c->error, data, keep);
                c->error[keep] = '\0';
        }
        c->body_bytes += n;
        return n;
}

static char *request_body(const execution_t *ex, const call_t *c) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "decision_id", ex->d->decision_id, "execution_id",
                              ex->execution_id, "workflow", ex->d->workflow, "attempt", (int)ex->d->attempt,
                              "scraper", c->scraper->name);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

        json_decref(o);
        return text;
}

static int call_start(worker_t *w, execution_t *ex, call_t *c, char *errstr, size_t errstr_size) {
        char header[128];
        int64_t left = ex->deadline_ms - rf_mono_ms();
        long timeout = c->scraper->timeout_ms < left ? c->scraper->timeout_ms : (long)left;

        if (timeout < 1)
                timeout = 1;
        c->easy = curl_easy_init();
        c->body = request_body(ex, c);
        if (!c->easy || !c->body) {
                snprintf(errstr, errstr_size, "out of memory starting a call to %s", c->scraper->name);
                return -ENOMEM;
        }
        /* scrapers drop repeats by this key: at-least-once delivery stays harmless */
        snprintf(header, sizeof(header), "Idempotency-Key: %s", ex->d->decision_id);
        c->headers = curl_slist_append(NULL, header);
        snprintf(header, sizeof(header), "X-Runfleet-Attempt: %d", (int)ex->d->attempt);
        c->headers = curl_slist_append(c->headers, header);
        snprintf(header, sizeof(header), "X-Runfleet-Trace-Id: %s", ex->d->trace_id);
        c->headers = curl_slist_append(c->headers, header);
        c->headers = curl_slist_append(c->headers, "Content-Type: application/json");

        curl_easy_setopt(c->easy, CURLOPT_URL, c->scraper->url);
        curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
        curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout);
        curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000 ? timeout : 10000L);
        curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
        curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "runfleet-worker/" RF_VERSION);
        c->started_ms = rf_mono_ms();
        c->started_wall_ms = rf_now_ms();
        if (curl_multi_add_handle(w->multi, c->easy) != CURLM_OK) {
                snprintf(errstr, errstr_size, "curl refused a call to %s", c->scraper->name);
                return -EIO;
        }
        return 0;
}

int calls_start(worker_t *w, execution_t *ex, char *errstr, size_t errstr_size) {
        ex->calls = calloc(ex->d->scraper_count, sizeof(call_t));
        if (!ex->calls)
                return -ENOMEM;
        ex->call_count = ex->d->scraper_count;
        for (size_t i = 0; i < ex->call_count; i++) {
                ex->calls[i].ex = ex;
                ex->calls[i].scraper = rf_conf_scraper(w->conf, ex->d->scrapers[i]);
                ex->calls[i].max_body = (size_t)w->conf->worker.max_response_bytes;
        }
        for (size_t i = 0; i < ex->call_count; i++) {
                int r = call_start(w, ex, &ex->calls[i], errstr, errstr_size);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void call_release(worker_t *w, call_t *c) {
        if (c->easy) {
                curl_multi_remove_handle(w->multi, c->easy);
                curl_easy_cleanup(c->easy);
                c->easy = NULL;
        }
        curl_slist_free_all(c->headers);
        c->headers = NULL;
        free(c->body);
        c->body = NULL;
}

static void call_classify(call_t *c, CURLcode rc) {
        char body[WORKER_ERROR_MAX];

        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->http_status);
        if (rc == CURLE_WRITE_ERROR && c->truncated)
                rc = CURLE_OK;
        if (rc == CURLE_OK && c->http_status >= 200 && c->http_status < 300) {
                c->outcome = "OK";
                c->error[0] = '\0';
                return;
        }
        if (rc == CURLE_OK) {
                /* keep the start of the error body: it usually says what went wrong */
                snprintf(body, sizeof(body), "%s", c->error);
                for (char *p = body; *p; p++)
                        if (*p == '\n' || *p == '\r')
                                *p = ' ';
                c->outcome = "HTTP_ERROR";
                snprintf(c->error, sizeof(c->error), "HTTP %ld: %.200s", c->http_status, body);
                return;
        }
        c->outcome = rc == CURLE_OPERATION_TIMEDOUT ? "TIMEOUT"
                     : rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ? "CONNECT_ERROR"
                                                                                        : "ERROR";
        snprintf(c->error, sizeof(c->error), "%s", curl_easy_strerror(rc));
}

static void log_progress(execution_t *ex) {
        int quarter = (int)(ex->calls_done * 4 / ex->call_count);

        if (quarter <= ex->progress_logged || quarter >= 4)
                return;
        ex->progress_logged = quarter;
        rf_log_info("execution.progress",
                    json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:I}", "decision_id", ex->d->decision_id,
                              "execution_id", ex->execution_id, "workflow", ex->d->workflow, "trace_id",
                              ex->d->trace_id, "scrapers_done", (int)ex->calls_done, "scrapers",
                              (int)ex->call_count, "elapsed_ms", (json_int_t)(rf_mono_ms() - ex->started_ms)),
                    "%s: %d%% of scrapers finished", ex->d->workflow, quarter * 25);
}

static void call_done(worker_t *w, call_t *c) {
        execution_t *ex = c->ex;

        c->duration_ms = (int)(rf_mono_ms() - c->started_ms);
        c->done = true;
        call_release(w, c);
        ex->calls_done++;
        log_progress(ex);
        if (ex->calls_done == ex->call_count)
                worker_execution_done(w, ex);
}

void calls_collect(worker_t *w) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(w->multi, &left))) {
                call_t *c = NULL;
                if (msg->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
                call_classify(c, msg->data.result);
                call_done(w, c);
        }
}

void calls_abort(worker_t *w, execution_t *ex, const char *why) {
        for (size_t i = 0; i < ex->call_count; i++) {
                call_t *c = &ex->calls[i];
                if (c->done)
                        continue;
                if (!c->started_ms) {
                        c->started_ms = rf_mono_ms();
                        c->started_wall_ms = rf_now_ms();
                }
                c->done = true;
                c->outcome = "ABORTED";
                c->duration_ms = (int)(rf_mono_ms() - c->started_ms);
                snprintf(c->error, sizeof(c->error), "%s", why);
                call_release(w, c);
                ex->calls_done++;
        }
}
