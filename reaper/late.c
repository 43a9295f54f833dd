/* SPDX-License-Identifier: Apache-2.0 */
/* LATE alerts: a RUN decision still not SUCCEEDED (nor DEAD, CANCELLED)
 * its workflow's alert_after after its tick is said loudly once, while it is
 * still pending, running or retrying, instead of only when it finally ends.
 *
 * Where the delay comes from: the reaper's own configuration (the same file
 * as the producer's), not the decision row. A decision carries deadline_ms
 * because a worker needs it in the message; the alert concerns the reaper
 * alone, and reading it from the configuration lets a changed alert_after
 * apply to runs already under way, with no schema change.
 *
 * From when: a decision the evaluator made for its tick is late counted
 * from the tick (a catch-up decision of an old tick can be late at once:
 * that tick's run really is late). A manual trigger, a replay or a backfill
 * is a run asked for now, so it counts from when it was decided.
 *
 * Once: the alert is a row of runfleet.alerts (kind LATE), whose primary
 * key (decision_id, kind) admits one per decision. It is inserted inside the
 * sweep's transaction, under the sweep's advisory lock, and only the rows
 * this insert created are logged and counted, so a second replica, a
 * restarted reaper or the next sweep finds the row and stays silent; they
 * are logged and counted after the transaction commits. The
 * webhook POST goes through the same outbox as DEAD alerts (alerts.c). With
 * no reaper.webhook_url the row is still written, as the record that the
 * alert fired, but never due (next_attempt_at = infinity): configuring a
 * webhook later does not send stale alerts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reaper.h"
#include "rf_log.h"
#include "rf_metrics.h"
#include "rf_util.h"

/* $1 workflows, $2 their alert_after in ms, $3 whether a webhook is set.
 * Columns: decision_id, workflow, state, attempt (produced), trace_id,
 * counted from (epoch ms), alert_after ms, late by ms (now - from), status
 * of the latest execution (NULL: none yet). */
static const char *const sql_late =
        "WITH wf AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS w(workflow, after_ms)),"
        " late AS ("
        "  SELECT d.decision_id, d.workflow, d.state, d.attempt, d.trace_id, f.since, w.after_ms"
        "    FROM runfleet.decisions d"
        "    JOIN wf w ON w.workflow = d.workflow"
        "   CROSS JOIN LATERAL (SELECT CASE WHEN d.tick IS NOT NULL AND d.replay_of IS NULL"
        "                                   AND d.backfill_of IS NULL AND d.backfill_id IS NULL"
        "                              THEN d.tick ELSE d.decided_at END AS since) f"
        "   WHERE d.action = 'RUN' AND d.state IN ('PENDING', 'RUNNING', 'FAILED')"
        "     AND f.since + make_interval(secs => w.after_ms / 1000.0) <= now()"
        "     AND NOT EXISTS (SELECT 1 FROM runfleet.alerts a"
        "                      WHERE a.decision_id = d.decision_id AND a.kind = 'LATE')),"
        " fired AS ("
        "  INSERT INTO runfleet.alerts (decision_id, kind, next_attempt_at, last_error)"
        "  SELECT decision_id, 'LATE',"
        "         CASE WHEN $3::boolean THEN now() ELSE 'infinity'::timestamptz END,"
        "         CASE WHEN $3::boolean THEN NULL ELSE 'no reaper.webhook_url when it fired' END"
        "    FROM late ON CONFLICT DO NOTHING RETURNING decision_id)"
        " SELECT l.decision_id, l.workflow, l.state, l.attempt, l.trace_id,"
        "        (extract(epoch FROM l.since) * 1000)::bigint, l.after_ms,"
        "        (extract(epoch FROM now() - l.since) * 1000)::bigint,"
        "        (SELECT x.status FROM runfleet.executions x WHERE x.decision_id = l.decision_id"
        "          ORDER BY x.attempt DESC LIMIT 1)"
        "   FROM late l JOIN fired USING (decision_id)";

static rf_metric_t *late_metric;

void reaper_late_metrics_init(const rf_conf_t *conf) {
        late_metric = rf_metrics_counter("runfleet_decisions_late_total",
                                         "RUN decisions not SUCCEEDED (nor DEAD or CANCELLED) by their workflow's "
                                         "alert_after: LATE alerts fired, once per decision.",
                                         "workflow");
        /* at 0 from the start, so increase() sees the first one */
        for (size_t i = 0; i < conf->workflow_count; i++)
                if (rf_conf_alert_after_ms(conf, &conf->workflows[i]) > 0)
                        rf_metrics_inc(late_metric, 0, conf->workflows[i].name);
}

/* '{"a","b"}' and '{1,2}': the workflows with an alert_after and their
 * delays, as PostgreSQL array literals. Names are [A-Za-z0-9_.-]+ (checked
 * by the configuration), so quoting needs no escapes. The caller frees both. */
static int arrays(const rf_conf_t *conf, char **ret_names, char **ret_delays, size_t *ret_count) {
        size_t cap = 16, used_n = 0, used_d = 0, count = 0;
        char *names, *delays;

        for (size_t i = 0; i < conf->workflow_count; i++)
                cap += strlen(conf->workflows[i].name) + 4;
        names = malloc(cap);
        delays = malloc(24 * (conf->workflow_count + 1));
        if (!names || !delays) {
                free(names);
                free(delays);
                return -ENOMEM;
        }
        used_n = (size_t)sprintf(names, "{");
        used_d = (size_t)sprintf(delays, "{");
        for (size_t i = 0; i < conf->workflow_count; i++) {
                int64_t ms = rf_conf_alert_after_ms(conf, &conf->workflows[i]);

                if (ms <= 0)
                        continue;
                used_n += (size_t)sprintf(names + used_n, "%s\"%s\"", count ? "," : "", conf->workflows[i].name);
                used_d += (size_t)sprintf(delays + used_d, "%s%lld", count ? "," : "", (long long)ms);
                count++;
        }
        sprintf(names + used_n, "}");
        sprintf(delays + used_d, "}");
        *ret_names = names;
        *ret_delays = delays;
        *ret_count = count;
        return 0;
}

static void log_late(PGresult *res, int i) {
        char since[40];
        const char *status = PQgetisnull(res, i, 8) ? "none yet" : PQgetvalue(res, i, 8);
        long long after_ms = strtoll(PQgetvalue(res, i, 6), NULL, 10);
        long long late_ms = strtoll(PQgetvalue(res, i, 7), NULL, 10);

        rf_time_format(strtoll(PQgetvalue(res, i, 5), NULL, 10), since, sizeof(since));
        rf_log_warn("decision.late",
                    json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:I, s:s}", "decision_id", PQgetvalue(res, i, 0),
                              "workflow", PQgetvalue(res, i, 1), "state", PQgetvalue(res, i, 2), "produced",
                              atoi(PQgetvalue(res, i, 3)), "trace_id", PQgetvalue(res, i, 4), "since", since,
                              "alert_after_ms", (json_int_t)after_ms, "late_ms", (json_int_t)late_ms,
                              "last_execution_status", status),
                    "%s: decision %s is not done %.0f s after %s (alert_after %.0f s): still %s, latest execution "
                    "%s",
                    PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), (double)late_ms / 1000.0, since,
                    (double)after_ms / 1000.0, PQgetvalue(res, i, 2), status);
}

int reaper_late(const rf_conf_t *conf, rf_pg_t *pg, PGresult **ret_fired, char *errstr, size_t errstr_size) {
        char *names = NULL, *delays = NULL;
        const char *params[3];
        PGresult *res = NULL;
        size_t count = 0;
        int r;

        r = arrays(conf, &names, &delays, &count);
        if (r < 0) {
                snprintf(errstr, errstr_size, "out of memory");
                return r;
        }
        if (count == 0) {
                *ret_fired = NULL;
                goto out;
        }
        params[0] = names;
        params[1] = delays;
        params[2] = conf->reaper.webhook_url ? "true" : "false";
        r = rf_pg_exec_prepared(pg, sql_late, 3, params, &res, errstr, errstr_size);
        if (r < 0)
                goto out;
        *ret_fired = res;
        res = NULL;
out:
        PQclear(res);
        free(names);
        free(delays);
        return r;
}

int reaper_late_report(PGresult *fired) {
        int n = fired ? PQntuples(fired) : 0;

        for (int i = 0; i < n; i++) {
                log_late(fired, i);
                if (late_metric)
                        rf_metrics_inc(late_metric, 1, PQgetvalue(fired, i, 1));
        }
        return n;
}
