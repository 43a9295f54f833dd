/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP side of an execution: one easy handle per try on the shared
 * multi handle, so thousands of calls wait on sockets, not threads. A call
 * is retried with backoff while its outcome is retryable, its scraper's
 * breaker lets it through and its rate group has a token, all within the
 * workflow's deadline. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_json_text.h"
#include "rf_log.h"
#include "rf_util.h"
#include "calls.h"
#include "completion.h"
#include "response.h"
#include "spans.h"

static json_t *call_fields(const call_t *c) {
        return json_pack("{s:s, s:s, s:s, s:s, s:i}", "decision_id", c->ex->d->decision_id, "execution_id",
                         c->ex->execution_id, "workflow", c->ex->d->workflow, "scraper", c->scraper->name, "try",
                         c->tries);
}

/* Rate groups: scrapers naming the same rate_group (default: their own
 * name) share one bucket, at the rate of the first scraper naming it. */
int calls_init(worker_t *w) {
        size_t n = w->conf->scraper_count, groups = 0;
        int64_t now = rf_mono_ms();

        w->breakers = calloc(n ? n : 1, sizeof(*w->breakers));
        w->buckets = calloc(n ? n : 1, sizeof(*w->buckets));
        w->bucket_of = calloc(n ? n : 1, sizeof(*w->bucket_of));
        w->active_runs = calloc(w->conf->workflow_count ? w->conf->workflow_count : 1, sizeof(*w->active_runs));
        if (!w->breakers || !w->buckets || !w->bucket_of || !w->active_runs)
                return -ENOMEM;
        retry_rng_seed(&w->rng);
        for (size_t i = 0; i < n; i++) {
                const rf_scraper_conf_t *s = &w->conf->scrapers[i];
                const char *group = s->rate_group ? s->rate_group : s->name;
                size_t k;
                for (k = 0; k < i; k++) {
                        const rf_scraper_conf_t *o = &w->conf->scrapers[k];
                        if (strcmp(o->rate_group ? o->rate_group : o->name, group) == 0)
                                break;
                }
                if (k < i) {
                        w->bucket_of[i] = w->bucket_of[k];
                        continue;
                }
                w->bucket_of[i] = groups;
                bucket_init(&w->buckets[groups++], s->rate_per_s, now);
        }
        return 0;
}

void calls_cleanup(worker_t *w) {
        while (w->idle_easy_count)
                curl_easy_cleanup(w->idle_easy[--w->idle_easy_count]);
        free(w->idle_easy);
        free(w->breakers);
        free(w->buckets);
        free(w->bucket_of);
        free(w->active_runs);
}

static char *request_body(const execution_t *ex, const call_t *c) {
        rf_json_text_t t = { 0 };

        rf_json_text_open(&t, '{');
        rf_json_text_key(&t, "decision_id");
        rf_json_text_string(&t, ex->d->decision_id);
        rf_json_text_key(&t, "execution_id");
        rf_json_text_string(&t, ex->execution_id);
        rf_json_text_key(&t, "workflow");
        rf_json_text_string(&t, ex->d->workflow);
        rf_json_text_key(&t, "attempt");
        rf_json_text_int(&t, ex->d->attempt);
        rf_json_text_key(&t, "scraper");
        rf_json_text_string(&t, c->scraper->name);
        rf_json_text_key(&t, "try");
        rf_json_text_int(&t, c->tries);
        rf_json_text_lit(&t, "}");
        return rf_json_text_take(&t);
}

/* A finished try's handle serves a later try: creating and destroying one
 * per try was a tenth of libcurl's instructions per call (callgrind). Every
 * try sets every option it relies on (try_launch), so nothing of the last
 * request carries over; the pool holds at most as many handles as were
 * ever in flight at once. */
static CURL *easy_take(worker_t *w) {
        return w->idle_easy_count ? w->idle_easy[--w->idle_easy_count] : curl_easy_init();
}

static void easy_give_back(worker_t *w, CURL *easy) {
        if (w->idle_easy_count == w->idle_easy_cap) {
                size_t cap = w->idle_easy_cap ? w->idle_easy_cap * 2 : 64;
                CURL **grown = realloc(w->idle_easy, cap * sizeof(*grown));

                if (!grown) {
                        curl_easy_cleanup(easy);
                        return;
                }
                w->idle_easy = grown;
                w->idle_easy_cap = cap;
        }
        w->idle_easy[w->idle_easy_count++] = easy;
}

static void try_release(worker_t *w, call_t *c) {
        if (c->easy) {
                curl_multi_remove_handle(c->shard->multi, c->easy);
                easy_give_back(w, c->easy);
                c->easy = NULL;
        }
        curl_slist_free_all(c->headers);
        c->headers = NULL;
        free(c->body);
        c->body = NULL;
}

static int append_record(execution_t *ex, const call_t *c) {
        try_record_t *r;

        if (ex->record_count == ex->record_cap) {
                size_t cap = ex->record_cap ? ex->record_cap * 2 : ex->call_count + 2;
                try_record_t *recs = realloc(ex->records, cap * sizeof(*recs));
                if (!recs)
                        return -ENOMEM;
                ex->records = recs;
                ex->record_cap = cap;
        }
        r = &ex->records[ex->record_count++];
        r->scraper = c->scraper->name;
        r->try_no = c->tries;
        r->http_status = c->http_status;
        r->outcome = c->outcome;
        r->started_wall_ms = c->started_wall_ms;
        r->duration_ms = c->duration_ms;
        snprintf(r->error, sizeof(r->error), "%s", c->error);
        return 0;
}

static void log_progress(execution_t *ex) {
        int quarter = (int)(ex->calls_done * 4 / ex->call_count);

        if (quarter <= ex->progress_logged || quarter >= 4)
                return;
        ex->progress_logged = quarter;
        rf_log_info("execution.progress",
                    json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:I}", "decision_id", ex->d->decision_id, "execution_id",
                              ex->execution_id, "workflow", ex->d->workflow, "trace_id", ex->d->trace_id,
                              "scrapers_done", (int)ex->calls_done, "scrapers", (int)ex->call_count, "elapsed_ms",
                              (json_int_t)(rf_mono_ms() - ex->started_ms)),
                    "%s: %d%% of scrapers finished", ex->d->workflow, quarter * 25);
}

/* The call's last try was its last: the execution may be complete. */
static void call_done(worker_t *w, call_t *c) {
        execution_t *ex = c->ex;

        c->done = true;
        timers_stop(&w->timers, &c->try_timer);
        try_release(w, c);
        ex->calls_done++;
        log_progress(ex);
        if (ex->calls_done == ex->call_count)
                completion_push(w, ex);
}

/* Records a try that sent no request (deadline, rate limit, breaker): no
 * HTTP status and no duration. */
static void record_refusal(call_t *c, rf_call_outcome_t outcome, const char *why) {
        c->tries++;
        c->started_ms = rf_mono_ms();
        c->started_wall_ms = rf_now_ms();
        c->duration_ms = 0;
        c->http_status = 0;
        c->outcome = outcome;
        snprintf(c->error, sizeof(c->error), "%s", why);
        append_record(c->ex, c);
}

/* Ends a call with a try that sent no request. */
static void call_refused(worker_t *w, call_t *c, rf_call_outcome_t outcome, const char *why) {
        record_refusal(c, outcome, why);
        call_done(w, c);
}

/* While a half-open breaker's probe is out, other calls ask again after this. */
#define BREAKER_PROBE_WAIT_MS 250
/* Refusals recorded for one call before it gives up, whatever its deadline. */
#define BREAKER_MAX_REJECTIONS 20

/* The call's next try waits until @p at (calls_try_due() then). */
static void try_at(worker_t *w, call_t *c, int64_t at) {
        timers_start(&w->timers, &c->try_timer, TIMER_CALL_TRY, at);
}

static int try_launch(worker_t *w, call_t *c, int64_t now) {
        execution_t *ex = c->ex;
        char header[128], traceparent[RF_TRACEPARENT_SIZE];
        int64_t left = ex->deadline_ms - now;
        long timeout = c->scraper->timeout_ms < left ? c->scraper->timeout_ms : (long)left;

        c->tries++;
        c->easy = easy_take(w);
        c->body = request_body(ex, c);
        if (!c->easy || !c->body)
                return -ENOMEM;
        /* scrapers drop repeats by this key: at-least-once delivery stays harmless */
        snprintf(header, sizeof(header), "Idempotency-Key: %s", ex->d->decision_id);
        c->headers = curl_slist_append(NULL, header);
        snprintf(header, sizeof(header), "X-Runfleet-Attempt: %d", (int)ex->d->attempt);
        c->headers = curl_slist_append(c->headers, header);
        snprintf(header, sizeof(header), "X-Runfleet-Try: %d", c->tries);
        c->headers = curl_slist_append(c->headers, header);
        /* the decision's trace_id as stored (UUID form), which scrapers
         * already log and operators grep for; traceparent carries the same
         * id in W3C form, and this try's span id */
        snprintf(header, sizeof(header), "X-Runfleet-Trace-Id: %s", ex->d->trace_id);
        c->headers = curl_slist_append(c->headers, header);
        spans_try_begin(c, traceparent);
        snprintf(header, sizeof(header), "traceparent: %s", traceparent);
        c->headers = curl_slist_append(c->headers, header);
        c->headers = curl_slist_append(c->headers, "Content-Type: application/json");

        c->body_bytes = 0;
        c->truncated = false;
        c->error[0] = '\0';
        c->http_status = 0;
        c->retry_after_s = 0;
        curl_easy_setopt(c->easy, CURLOPT_URL, c->scraper->url);
        curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
        curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout);
        curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000 ? timeout : 10000L);
        curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, response_on_body);
        curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
        curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "runfleet-worker/" RF_VERSION);
        c->started_ms = now;
        c->started_wall_ms = rf_now_ms();
        c->shard = &w->shards[w->next_shard++ % CURL_SHARDS];
        return curl_multi_add_handle(c->shard->multi, c->easy) == CURLM_OK ? 0 : -EIO;
}

/* Starts the call's next try now, or parks it until a token is free, or
 * ends it when the breaker or the deadline says so. */
static void try_next(worker_t *w, call_t *c) {
        execution_t *ex = c->ex;
        const rf_scraper_conf_t *s = c->scraper;
        int64_t now = rf_mono_ms(), wait;
        char why[160];

        timers_stop(&w->timers, &c->try_timer);
        if (now >= ex->deadline_ms) {
                call_refused(w, c, RF_CALL_TIMEOUT, "workflow deadline passed before the call could start");
                return;
        }
        wait = bucket_take(&w->buckets[w->bucket_of[c->scraper_index]], now);
        if (wait > 0) {
                /* waiting for a token counts against the deadline */
                if (now + wait >= ex->deadline_ms) {
                        call_refused(w, c, RF_CALL_TIMEOUT, "rate limit: no token before the workflow deadline");
                        return;
                }
                w->rate_limit_waits++;
                try_at(w, c, now + wait);
                return;
        }
        if (!breaker_allow(&w->breakers[c->scraper_index], s->breaker_failures, now, &c->probe)) {
                /* Failing fast is the point: no request leaves this process.
                 * The refusal is recorded, but it is not one of the call's
                 * max_tries: the call asks again when the breaker's cool-down
                 * ends (or its probe has had time), within the workflow's
                 * deadline. Failing the whole execution instead would burn
                 * the decision's attempts on a breaker that is protecting the
                 * scraper, and turn a short outage into DEAD decisions. */
                const breaker_t *b = &w->breakers[c->scraper_index];
                int64_t again = b->state == BREAKER_OPEN ? b->open_until : now + BREAKER_PROBE_WAIT_MS;
                w->breaker_rejections++;
                snprintf(why, sizeof(why), "circuit breaker for %s is open", s->name);
                record_refusal(c, RF_CALL_CIRCUIT_OPEN, why);
                c->rejections++;
                if (again >= ex->deadline_ms || c->rejections >= BREAKER_MAX_REJECTIONS) {
                        call_done(w, c);
                        return;
                }
                try_at(w, c, again);
                return;
        }
        if (try_launch(w, c, now) < 0) {
                try_release(w, c);
                c->outcome = RF_CALL_ERROR;
                c->duration_ms = 0;
                snprintf(c->error, sizeof(c->error), "could not start the HTTP request");
                append_record(ex, c);
                call_done(w, c);
        }
}

int calls_start(worker_t *w, execution_t *ex, char *errstr, size_t errstr_size) {
        ex->calls = calloc(ex->d->scraper_count, sizeof(call_t));
        if (!ex->calls) {
                snprintf(errstr, errstr_size, "out of memory");
                return -ENOMEM;
        }
        ex->call_count = ex->d->scraper_count;
        for (size_t i = 0; i < ex->call_count; i++) {
                call_t *c = &ex->calls[i];
                c->ex = ex;
                c->scraper = rf_conf_scraper(w->conf, ex->d->scrapers[i]);
                c->scraper_index = (size_t)(c->scraper - w->conf->scrapers);
                c->max_body = (size_t)w->conf->worker.max_response_bytes;
        }
        for (size_t i = 0; i < ex->call_count; i++)
                try_next(w, &ex->calls[i]);
        return 0;
}

static void log_breaker(const call_t *c, breaker_state_t before, const breaker_t *b) {
        if (before == b->state)
                return;
        rf_log(b->state == BREAKER_OPEN ? RF_LOG_WARN : RF_LOG_INFO, "breaker.changed",
               json_pack("{s:s, s:s, s:s, s:i}", "scraper", c->scraper->name, "from", breaker_state_name(before), "to",
                         breaker_state_name(b->state), "failures", b->failures),
               "circuit breaker for %s: %s -> %s", c->scraper->name, breaker_state_name(before),
               breaker_state_name(b->state));
}

/* A try finished: record it, tell the breaker, and retry or end the call. */
static void try_finished(worker_t *w, call_t *c, CURLcode rc) {
        const rf_scraper_conf_t *s = c->scraper;
        breaker_t *b = &w->breakers[c->scraper_index];
        int64_t now = rf_mono_ms(), delay;
        bool retryable;
        breaker_state_t before;

        response_classify(c, rc);
        c->duration_ms = (int)(now - c->started_ms);
        spans_try_end(c);
        try_release(w, c);
        append_record(c->ex, c);
        retryable = retry_is_retryable(c->outcome, c->http_status);
        /* a 4xx other than 429 is the caller's fault, not the scraper's health */
        before = breaker_record(b, !retryable, c->probe, s->breaker_failures, s->breaker_cooldown_ms, now);
        log_breaker(c, before, b);
        c->probe = false;
        if (!retryable || c->tries - c->rejections >= s->max_tries) {
                call_done(w, c);
                return;
        }
        delay = retry_delay_ms(s->retry_backoff_ms, c->tries + 1, c->retry_after_s, retry_rng_next(&w->rng));
        if (now + delay >= c->ex->deadline_ms) {
                call_done(w, c);
                return;
        }
        w->retries++;
        rf_log_info("call.retry", call_fields(c), "%s: try %d of %s: %s; next in %lld ms", c->ex->d->workflow, c->tries,
                    s->name, c->error[0] ? c->error : rf_call_outcome_name(c->outcome), (long long)delay);
        try_at(w, c, now + delay);
}

void calls_collect(worker_t *w) {
        CURLMsg *msg;
        int left;

        for (int i = 0; i < CURL_SHARDS; i++) {
                while ((msg = curl_multi_info_read(w->shards[i].multi, &left))) {
                        call_t *c = NULL;
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
                        try_finished(w, c, msg->data.result);
                }
        }
}

void calls_try_due(worker_t *w, call_t *c) {
        /* a call's timer is armed only while its execution runs: completed
         * executions are only queued (completion.c), never freed here, and
         * a released one stopped its calls' timers (calls_abort) */
        try_next(w, c);
}

void calls_abort(worker_t *w, execution_t *ex, const char *why) {
        for (size_t i = 0; i < ex->call_count; i++) {
                call_t *c = &ex->calls[i];
                if (c->done)
                        continue;
                if (c->probe)
                        w->breakers[c->scraper_index].probe_in_flight = false;
                c->done = true;
                timers_stop(&w->timers, &c->try_timer);
                c->outcome = RF_CALL_ABORTED;
                c->duration_ms = c->started_ms ? (int)(rf_mono_ms() - c->started_ms) : 0;
                snprintf(c->error, sizeof(c->error), "%s", why);
                if (c->easy) /* a request was in flight: its span ends here */
                        spans_try_end(c);
                try_release(w, c);
                ex->calls_done++;
        }
}
