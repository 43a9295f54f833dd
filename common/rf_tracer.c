/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rf_log.h"
#include "rf_metrics.h"
#include "rf_tracer.h"
#include "rf_util.h"

struct rf_tracer {
        rf_tracer_conf_t conf; /* strings owned (copies) */
        pthread_mutex_t lock;
        pthread_cond_t wake;
        pthread_t thread;
        rf_span_t *ring; /* queue_size slots; head is the oldest */
        size_t head, count;
        bool stopping;
        int64_t stop_deadline; /* monotonic ms, set with stopping */
        rf_span_t *batch;      /* the thread's own: batch_size slots */
        CURL *curl;            /* the thread's own */
        struct curl_slist *headers;
        bool failing; /* the last export failed (logged once per run of failures) */
        _Atomic uint64_t exported, dropped;
        rf_metric_t *m_dropped, *m_exported;
};

static _Atomic(rf_tracer_t *) default_tracer;

rf_tracer_t *rf_tracer_default(void) {
        return atomic_load(&default_tracer);
}

void rf_tracer_set_default(rf_tracer_t *tracer) {
        atomic_store(&default_tracer, tracer);
}

static void count_dropped(rf_tracer_t *t, size_t n, const char *reason) {
        atomic_fetch_add(&t->dropped, n);
        rf_metrics_inc(t->m_dropped, (double)n, reason);
}

void rf_tracer_submit(rf_tracer_t *t, rf_span_t *span) {
        if (!t) {
                rf_span_clear(span);
                return;
        }
        if (!rf_span_valid(span)) {
                rf_span_clear(span);
                count_dropped(t, 1, "invalid");
                return;
        }
        pthread_mutex_lock(&t->lock);
        if (t->count == (size_t)t->conf.queue_size || t->stopping) {
                bool stopping = t->stopping;

                pthread_mutex_unlock(&t->lock);
                rf_span_clear(span);
                count_dropped(t, 1, stopping ? "shutdown" : "queue_full");
                return;
        }
        /* the slot takes the span's strings over: a move, not a copy */
        t->ring[(t->head + t->count) % (size_t)t->conf.queue_size] = *span;
        memset(span, 0, sizeof(*span));
        if (++t->count == (size_t)t->conf.batch_size)
                pthread_cond_signal(&t->wake);
        pthread_mutex_unlock(&t->lock);
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *opaque) {
        (void)ptr;
        (void)opaque;
        return size * nmemb;
}

/* POSTs one encoded batch; returns 0 for a 2xx answer, else -EIO with why. */
static int post(rf_tracer_t *t, const char *body, size_t len, long timeout_ms, char *why, size_t why_size) {
        char curl_err[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode rc;

        curl_easy_setopt(t->curl, CURLOPT_URL, t->conf.endpoint);
        curl_easy_setopt(t->curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(t->curl, CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(t->curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
        curl_easy_setopt(t->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
        curl_easy_setopt(t->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, discard_body);
        curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, curl_err);
        curl_easy_setopt(t->curl, CURLOPT_USERAGENT, "runfleet/" RF_VERSION);
        rc = curl_easy_perform(t->curl);
        curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, NULL);
        if (rc != CURLE_OK) {
                snprintf(why, why_size, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
                return -EIO;
        }
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299) {
                snprintf(why, why_size, "the collector answered HTTP %ld", status);
                return -EIO;
        }
        return 0;
}

/* Exports t->batch[0..n) and clears it. Called without the lock. */
static void export_batch(rf_tracer_t *t, size_t n, long timeout_ms) {
        char why[CURL_ERROR_SIZE + 64] = "", errstr[256];
        char *body = NULL;
        size_t len = 0;
        int r;

        r = rf_otlp_encode(t->conf.service_name, t->conf.instance_id, t->batch, n, &body, &len, errstr, sizeof(errstr));
        if (r < 0)
                snprintf(why, sizeof(why), "encoding: %s", r == -ENOMEM ? "out of memory" : errstr);
        else
                r = post(t, body, len, timeout_ms, why, sizeof(why));
        free(body);
        for (size_t i = 0; i < n; i++)
                rf_span_clear(&t->batch[i]);
        if (r < 0) {
                count_dropped(t, n, "export_failed");
                if (!t->failing)
                        rf_log_warn("tracing.export_failed",
                                    json_pack("{s:s, s:s, s:i}", "endpoint", t->conf.endpoint, "error", why, "spans",
                                              (int)n),
                                    "spans not exported to %s (%s): dropping spans until the collector answers",
                                    t->conf.endpoint, why);
                t->failing = true;
                return;
        }
        atomic_fetch_add(&t->exported, n);
        rf_metrics_inc(t->m_exported, (double)n);
        if (t->failing)
                rf_log_info("tracing.export_recovered",
                            json_pack("{s:s, s:I}", "endpoint", t->conf.endpoint, "dropped_total",
                                      (json_int_t)atomic_load(&t->dropped)),
                            "spans exported to %s again", t->conf.endpoint);
        t->failing = false;
}

/* Moves up to a batch of queued spans into t->batch. Called with the lock. */
static size_t take_batch(rf_tracer_t *t) {
        size_t n = t->count < (size_t)t->conf.batch_size ? t->count : (size_t)t->conf.batch_size;

        for (size_t i = 0; i < n; i++) {
                t->batch[i] = t->ring[t->head];
                memset(&t->ring[t->head], 0, sizeof(t->ring[t->head]));
                t->head = (t->head + 1) % (size_t)t->conf.queue_size;
        }
        t->count -= n;
        return n;
}

static void *exporter_main(void *opaque) {
        rf_tracer_t *t = opaque;

        pthread_mutex_lock(&t->lock);
        for (;;) {
                size_t n;
                long timeout;

                if (!t->stopping && t->count < (size_t)t->conf.batch_size) {
                        struct timespec until;
                        clock_gettime(CLOCK_MONOTONIC, &until);
                        until.tv_sec += t->conf.export_interval_ms / 1000;
                        until.tv_nsec += (long)(t->conf.export_interval_ms % 1000) * 1000000L;
                        if (until.tv_nsec >= 1000000000L) {
                                until.tv_sec++;
                                until.tv_nsec -= 1000000000L;
                        }
                        while (!t->stopping && t->count < (size_t)t->conf.batch_size &&
                               pthread_cond_timedwait(&t->wake, &t->lock, &until) == 0)
                                ;
                }
                timeout = t->conf.export_timeout_ms;
                if (t->stopping) {
                        int64_t left = t->stop_deadline - rf_mono_ms();
                        if (t->count == 0 || left <= 0)
                                break;
                        if (left < timeout)
                                timeout = (long)left;
                }
                n = take_batch(t);
                if (n == 0)
                        continue;
                pthread_mutex_unlock(&t->lock);
                export_batch(t, n, timeout);
                pthread_mutex_lock(&t->lock);
        }
        /* past the shutdown bound: what is left is dropped */
        if (t->count)
                count_dropped(t, t->count, "shutdown");
        while (t->count) {
                rf_span_clear(&t->ring[t->head]);
                t->head = (t->head + 1) % (size_t)t->conf.queue_size;
                t->count--;
        }
        pthread_mutex_unlock(&t->lock);
        return NULL;
}

static void tracer_free(rf_tracer_t *t) {
        free((char *)t->conf.endpoint);
        free((char *)t->conf.service_name);
        free((char *)t->conf.instance_id);
        free(t->ring);
        free(t->batch);
        curl_slist_free_all(t->headers);
        if (t->curl)
                curl_easy_cleanup(t->curl);
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
}

int rf_tracer_new(const rf_tracer_conf_t *conf, rf_tracer_t **ret_tracer, char *errstr, size_t errstr_size) {
        rf_tracer_t *t;
        pthread_condattr_t ca;
        int r;

        if (!conf->endpoint || conf->batch_size < 1 || conf->queue_size < conf->batch_size ||
            conf->export_interval_ms < 1 || conf->export_timeout_ms < 1 || conf->shutdown_timeout_ms < 0) {
                snprintf(errstr, errstr_size,
                         "tracing: endpoint, batch size <= queue size and positive intervals are "
                         "required");
                return -EINVAL;
        }
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        pthread_mutex_init(&t->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&t->wake, &ca);
        pthread_condattr_destroy(&ca);
        t->conf = *conf;
        t->conf.endpoint = strdup(conf->endpoint);
        t->conf.service_name = strdup(conf->service_name ? conf->service_name : "runfleet");
        t->conf.instance_id = conf->instance_id ? strdup(conf->instance_id) : NULL;
        t->ring = calloc((size_t)conf->queue_size, sizeof(*t->ring));
        t->batch = calloc((size_t)conf->batch_size, sizeof(*t->batch));
        t->curl = curl_easy_init();
        t->headers = curl_slist_append(NULL, "Content-Type: application/json");
        if (!t->conf.endpoint || !t->conf.service_name || (conf->instance_id && !t->conf.instance_id) || !t->ring ||
            !t->batch || !t->curl || !t->headers) {
                snprintf(errstr, errstr_size, "tracing: out of memory");
                tracer_free(t);
                return -ENOMEM;
        }
        t->m_dropped = rf_metrics_counter("runfleet_spans_dropped_total",
                                          "Trace spans dropped instead of exported: queue_full (the collector is "
                                          "slower than spans are made), export_failed (down or refusing), shutdown "
                                          "(past the flush bound), invalid.",
                                          "reason");
        t->m_exported =
                rf_metrics_counter("runfleet_spans_exported_total", "Trace spans the OTLP collector accepted.", NULL);
        r = pthread_create(&t->thread, NULL, exporter_main, t);
        if (r != 0) {
                snprintf(errstr, errstr_size, "tracing: cannot start the exporter thread: %s", strerror(r));
                tracer_free(t);
                return -r;
        }
        *ret_tracer = t;
        return 0;
}

void rf_tracer_destroy(rf_tracer_t *t) {
        uint64_t exported, dropped;

        rf_tracer_destroy_counts(t, &exported, &dropped);
}

void rf_tracer_destroy_counts(rf_tracer_t *t, uint64_t *ret_exported, uint64_t *ret_dropped) {
        *ret_exported = *ret_dropped = 0;
        if (!t)
                return;
        if (rf_tracer_default() == t)
                rf_tracer_set_default(NULL);
        pthread_mutex_lock(&t->lock);
        t->stopping = true;
        t->stop_deadline = rf_mono_ms() + t->conf.shutdown_timeout_ms;
        pthread_cond_signal(&t->wake);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
        rf_tracer_counts(t, ret_exported, ret_dropped);
        tracer_free(t);
}

void rf_tracer_counts(rf_tracer_t *t, uint64_t *ret_exported, uint64_t *ret_dropped) {
        *ret_exported = t ? atomic_load(&t->exported) : 0;
        *ret_dropped = t ? atomic_load(&t->dropped) : 0;
}
