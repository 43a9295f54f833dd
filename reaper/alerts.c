/* SPDX-License-Identifier: Apache-2.0 */
/* Webhook alerts, sent from the outbox the sweep fills (runfleet.alerts, see
 * schemas/sql/004_alerts_dlq_redrives.sql): DEAD decisions (sweep.c) and
 * LATE ones (late.c), one JSON shape with an "event" per kind.
 *
 * Delivery is at-least-once and never blocks a sweep for long: alerts go
 * out one at a time after the sweep's transaction has committed, each POST
 * bounded by reaper.webhook_timeout_ms, at most ALERTS_PER_ROUND per round,
 * and a round stops at the first refusal (an endpoint that is down refuses
 * the next one too; the others wait for the next round). A refused alert is
 * tried again after reaper.webhook_backoff_ms × 2^(tries−1), capped at 2^10,
 * until the endpoint accepts it with a 2xx.
 *
 * Replicas: before its POST a sender claims the alert by pushing
 * next_attempt_at past the POST's bound, so another reaper does not send it
 * at the same time. A sender that dies between the POST and marking the
 * alert sent makes the next one send it again when the claim runs out; the
 * POST carries Idempotency-Key: <decision_id> (DEAD) or <decision_id>:<kind>
 * (LATE, PAUSED), so the receiver can drop a repeat but not take one kind of
 * alert about a decision for a repeat of another.
 *
 * Kinds: DEAD (a decision out of failed executions), LATE (not done by its
 * workflow's alert_after, see late.c) and PAUSED (its workflow paused after
 * pause_after_failures DEAD decisions in a row, keyed by the DEAD decision
 * that tripped it; see autopause.c). */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reaper.h"
#include "rf_log.h"
#include "rf_program.h"
#include "rf_util.h"

#define ALERTS_PER_ROUND 20
/* a claim outlives the POST it covers by this much */
#define CLAIM_MARGIN_MS 5000

/* Claims the oldest due alert and reads what its JSON says. Columns:
 * decision_id, kind, tries (this one included), workflow, attempt
 * (produced), trace_id, alert recorded at (epoch ms), last execution status
 * and error, state, failed executions, for LATE the time its delay counts
 * from (the tick, or when a manual/replay/backfill decision was decided;
 * see late.c), epoch ms, and for PAUSED the reason of the workflow's latest
 * automatic pause. */
static const char *const sql_claim =
        "WITH due AS ("
        "  SELECT decision_id, kind FROM runfleet.alerts"
        "   WHERE sent_at IS NULL AND next_attempt_at <= now()"
        "   ORDER BY next_attempt_at, created_at LIMIT 1 FOR UPDATE SKIP LOCKED),"
        " claimed AS ("
        "  UPDATE runfleet.alerts a SET attempts = a.attempts + 1,"
        "         next_attempt_at = now() + make_interval(secs => $1 / 1000.0)"
        "    FROM due WHERE a.decision_id = due.decision_id AND a.kind = due.kind"
        "  RETURNING a.decision_id, a.kind, a.attempts, a.created_at)"
        " SELECT c.decision_id, c.kind, c.attempts, d.workflow, d.attempt, d.trace_id,"
        "        (extract(epoch FROM c.created_at) * 1000)::bigint, e.status, e.error, d.state,"
        "        (SELECT count(*) FROM runfleet.executions fx WHERE fx.decision_id = c.decision_id"
        "          AND fx.status IN ('FAILED', 'TIMED_OUT', 'ABANDONED')),"
        "        (extract(epoch FROM CASE WHEN d.tick IS NOT NULL AND d.replay_of IS NULL AND d.backfill_of IS NULL"
        "                                  AND d.backfill_id IS NULL THEN d.tick ELSE d.decided_at END) * 1000)::bigint,"
        "        CASE WHEN c.kind = 'PAUSED' THEN (SELECT p.reason FROM runfleet.pauses p"
        "                                           WHERE p.workflow = d.workflow AND p.automatic"
        "                                           ORDER BY p.paused_at DESC LIMIT 1) END"
        "   FROM claimed c JOIN runfleet.decisions d ON d.decision_id = c.decision_id"
        "   LEFT JOIN LATERAL (SELECT x.status, x.error FROM runfleet.executions x"
        "                       WHERE x.decision_id = c.decision_id"
        "                       ORDER BY x.attempt DESC LIMIT 1) e ON true";

static const char *const sql_sent = "UPDATE runfleet.alerts SET sent_at = now(), last_status = $3, last_error = NULL"
                                    " WHERE decision_id = $1 AND kind = $2";

static const char *const sql_refused =
        "UPDATE runfleet.alerts SET last_status = $3, last_error = $4,"
        "       next_attempt_at = now() + make_interval(secs => $5 / 1000.0 * power(2, least(attempts - 1, 10)))"
        " WHERE decision_id = $1 AND kind = $2 AND sent_at IS NULL"
        " RETURNING (extract(epoch FROM next_attempt_at - now()) * 1000)::bigint";

static size_t discard(char *data, size_t size, size_t nmemb, void *userp) {
        (void)data;
        (void)userp;
        return size * nmemb;
}

/* POSTs @p body to @p url. *ret_status gets the HTTP status, 0 when there
 * was no answer. Returns 0 when the endpoint accepted it (2xx), else -EIO
 * with the reason in @p errstr. */
static int post(CURL *c, const rf_conf_t *conf, const char *body, const char *key, long *ret_status, char *errstr,
                size_t errstr_size) {
        struct curl_slist *headers = NULL;
        char idem[128], curl_err[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode rc;

        snprintf(idem, sizeof(idem), "Idempotency-Key: %s", key);
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, idem);
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, conf->reaper.webhook_url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)conf->reaper.webhook_timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)conf->reaper.webhook_timeout_ms);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "runfleet-reaper/" RF_VERSION);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
        rc = curl_easy_perform(c);
        if (rc == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(headers);
        *ret_status = status;
        if (rc != CURLE_OK) {
                /* the URL is not repeated: its path may be a credential */
                snprintf(errstr, errstr_size, "%s", *curl_err ? curl_err : curl_easy_strerror(rc));
                return -EIO;
        }
        if (status < 200 || status > 299) {
                snprintf(errstr, errstr_size, "HTTP %ld", status);
                return -EIO;
        }
        return 0;
}

/* The alert's JSON (json_decref()). "text" makes it readable as is by
 * chat webhooks that show a message's text. "attempts" is the decision's
 * produce count (decisions.attempt, kept under its first name);
 * "failed_executions" is what reaper.max_failed_executions bounds. */
static json_t *alert_json(const rf_conf_t *conf, PGresult *res, const char *when) {
        const char *id = PQgetvalue(res, 0, 0), *kind = PQgetvalue(res, 0, 1), *workflow = PQgetvalue(res, 0, 3);
        const char *error = PQgetisnull(res, 0, 8) ? NULL : PQgetvalue(res, 0, 8);
        int produced = atoi(PQgetvalue(res, 0, 4)), failed = atoi(PQgetvalue(res, 0, 10));
        bool late = strcmp(kind, "LATE") == 0;
        const rf_workflow_conf_t *wf = rf_conf_workflow(conf, workflow);
        long long after_ms = wf ? (long long)rf_conf_alert_after_ms(conf, wf) : 0;
        char text[1024], since[40], after[32];
        json_t *doc;

        if (strcmp(kind, "PAUSED") == 0) {
                const char *why = PQgetisnull(res, 0, 12) ? "pause_after_failures" : PQgetvalue(res, 0, 12);

                snprintf(text, sizeof(text),
                         "runfleet: workflow %s is PAUSED after %s; its ticks are SKIPs until "
                         "`runfleet-producer unpause %s`",
                         workflow, why, workflow);
                return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:i, s:s}", "event", "workflow.paused",
                                 "kind", "PAUSED", "decision_id", id, "workflow", workflow, "reason", why, "last_error",
                                 error, "trace_id", PQgetvalue(res, 0, 5), "time", when, "delivery_try",
                                 atoi(PQgetvalue(res, 0, 2)), "text", text);
        }
        rf_time_format(strtoll(PQgetvalue(res, 0, 11), NULL, 10), since, sizeof(since));
        snprintf(after, sizeof(after), "%s",
                 wf && wf->alert_after      ? wf->alert_after
                 : conf->reaper.alert_after ? conf->reaper.alert_after
                                            : "alert_after");
        if (late)
                snprintf(text, sizeof(text),
                         "runfleet: workflow %s, decision %s is LATE: not done %s after %s; "
                         "state %s, %d failed execution%s so far, latest execution %s",
                         workflow, id, after, since, PQgetvalue(res, 0, 9), failed, failed == 1 ? "" : "s",
                         PQgetisnull(res, 0, 7) ? "none yet" : PQgetvalue(res, 0, 7));
        else
                snprintf(text, sizeof(text),
                         "runfleet: workflow %s, decision %s is DEAD after %d failed execution%s (produced %d "
                         "time%s): %s",
                         workflow, id, failed, failed == 1 ? "" : "s", produced, produced == 1 ? "" : "s",
                         error && *error ? error : "no error recorded");
        doc = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s?, s:s?, s:s, s:s, s:i, s:s}", "event",
                        late ? "decision.late" : "decision.dead", "kind", kind, "decision_id", id, "workflow", workflow,
                        "attempts", produced, "failed_executions", failed, "state", PQgetvalue(res, 0, 9),
                        "last_status", PQgetisnull(res, 0, 7) ? NULL : PQgetvalue(res, 0, 7), "last_error", error,
                        "trace_id", PQgetvalue(res, 0, 5), "time", when, "delivery_try", atoi(PQgetvalue(res, 0, 2)),
                        "text", text);
        if (doc && late) {
                json_object_set_new(doc, "late_since", json_string(since));
                json_object_set_new(doc, "alert_after_ms", json_integer(after_ms));
        }
        return doc;
}

/* Claims and sends one due alert. Returns 1 when sent, 0 when none was
 * due, -EAGAIN when the endpoint refused it, or a negative errno from the
 * database. */
static int send_one(const rf_conf_t *conf, rf_pg_t *pg, CURL *c, char *errstr, size_t errstr_size) {
        char claim[32], when[40], status_s[16], backoff[16], why[512], key[96];
        const char *claim_params[] = { claim };
        PGresult *res = NULL;
        json_t *doc = NULL;
        char *body = NULL;
        long status = 0;
        int r, sent;

        snprintf(claim, sizeof(claim), "%d", conf->reaper.webhook_timeout_ms + CLAIM_MARGIN_MS);
        r = rf_pg_exec(pg, sql_claim, 1, claim_params, &res, errstr, errstr_size);
        if (r < 0)
                return r;
        if (PQntuples(res) == 0) {
                PQclear(res);
                return 0;
        }
        rf_time_format(strtoll(PQgetvalue(res, 0, 6), NULL, 10), when, sizeof(when));
        doc = alert_json(conf, res, when);
        body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (!body) {
                r = -ENOMEM;
                goto out;
        }
        snprintf(key, sizeof(key), "%s%s%s", PQgetvalue(res, 0, 0), strcmp(PQgetvalue(res, 0, 1), "DEAD") ? ":" : "",
                 strcmp(PQgetvalue(res, 0, 1), "DEAD") ? PQgetvalue(res, 0, 1) : "");
        sent = post(c, conf, body, key, &status, why, sizeof(why)) == 0;
        rf_http_heartbeat();
        snprintf(status_s, sizeof(status_s), "%ld", status);
        snprintf(backoff, sizeof(backoff), "%d", conf->reaper.webhook_backoff_ms);
        {
                const char *params[] = { PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), status ? status_s : NULL, why,
                                         backoff };
                PGresult *next = NULL;
                char db_err[512];
                int tries = atoi(PQgetvalue(res, 0, 2));

                if (sent) {
                        r = rf_pg_exec(pg, sql_sent, 3, params, NULL, db_err, sizeof(db_err));
                        rf_log_info("alert.sent",
                                    json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "decision_id", PQgetvalue(res, 0, 0),
                                              "kind", PQgetvalue(res, 0, 1), "workflow", PQgetvalue(res, 0, 3),
                                              "trace_id", PQgetvalue(res, 0, 5), "http_status", (int)status, "tries",
                                              tries),
                                    "%s: alert for %s decision %s accepted (HTTP %ld, try %d)", PQgetvalue(res, 0, 3),
                                    PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0), status, tries);
                } else {
                        r = rf_pg_exec(pg, sql_refused, 5, params, &next, db_err, sizeof(db_err));
                        rf_log_warn("alert.failed",
                                    json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:I}", "decision_id",
                                              PQgetvalue(res, 0, 0), "kind", PQgetvalue(res, 0, 1), "workflow",
                                              PQgetvalue(res, 0, 3), "trace_id", PQgetvalue(res, 0, 5), "http_status",
                                              (int)status, "tries", tries, "error", why, "retry_in_ms",
                                              (json_int_t)(r == 0 && next && PQntuples(next) == 1
                                                                   ? strtoll(PQgetvalue(next, 0, 0), NULL, 10)
                                                                   : -1)),
                                    "%s: alert for %s decision %s not accepted (try %d): %s; will try again",
                                    PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0), tries, why);
                        PQclear(next);
                }
                if (r < 0) {
                        /* sent but not marked: sent again once the claim runs out */
                        snprintf(errstr, errstr_size, "%s", db_err);
                        goto out;
                }
        }
        r = sent ? 1 : -EAGAIN;
out:
        free(body);
        json_decref(doc);
        PQclear(res);
        return r;
}

int reaper_alerts_send(const rf_conf_t *conf, rf_pg_t *pg, alert_stats_t *stats, char *errstr, size_t errstr_size) {
        CURL *c;
        int r = 0;

        memset(stats, 0, sizeof(*stats));
        if (!conf->reaper.webhook_url)
                return 0;
        c = curl_easy_init();
        if (!c) {
                snprintf(errstr, errstr_size, "cannot create a libcurl handle");
                return -ENOMEM;
        }
        for (int i = 0; i < ALERTS_PER_ROUND && !rf_stop_requested; i++) {
                r = send_one(conf, pg, c, errstr, errstr_size);
                if (r == 1) {
                        stats->sent++;
                        r = 0;
                        continue;
                }
                if (r == -EAGAIN) {
                        stats->failed++;
                        r = 0;
                }
                break;
        }
        curl_easy_cleanup(c);
        return r;
}
