/* SPDX-License-Identifier: Apache-2.0 */
/* One sweep of the reaper. The database work happens in one transaction
 * under a transaction-level advisory lock, so replicas take turns and a
 * replica that dies mid-sweep leaves nothing half-done: every decision it
 * had marked for re-production carries a fresh produced_at and is found
 * again by the grace-period rule if its message never reached Kafka. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reaper.h"
#include "rf_log.h"
#include "rf_store.h"

/* Expired leases: the worker is gone (or stalled); its execution is
 * ABANDONED, which fences a late finish, and the decision becomes FAILED so
 * the retry rule below picks it up. */
static const char *const sql_abandon = "WITH expired AS ("
                                       "  UPDATE runfleet.executions SET status = 'ABANDONED', finished_at = now(),"
                                       "         error = 'lease expired (worker ' || worker_id || ')'"
                                       "   WHERE status = 'RUNNING' AND lease_until < now()"
                                       "  RETURNING decision_id, attempt)"
                                       " UPDATE runfleet.decisions d SET state = 'FAILED', state_at = now()"
                                       "   FROM expired e WHERE d.decision_id = e.decision_id AND d.attempt = e.attempt"
                                       "    AND d.state = 'RUNNING'"
                                       " RETURNING d.decision_id";

/* reaper.max_failed_executions counts executions that ran and failed
 * (FAILED, TIMED_OUT, ABANDONED), not messages produced (decisions.attempt,
 * "PRODUCED" in status): while Kafka is down the grace rule re-produces an
 * unexecuted decision again and again, and those must not use up its
 * failures. So decisions.attempt may exceed max_failed_executions. */
#define FAILED_EXECUTIONS_OF(alias)                                                                                    \
        "(SELECT count(*) FROM runfleet.executions fx WHERE fx.decision_id = " alias ".decision_id"                    \
        " AND fx.status IN ('FAILED', 'TIMED_OUT', 'ABANDONED'))"
#define FAILED_EXECUTIONS FAILED_EXECUTIONS_OF("runfleet.decisions")
#define FAILED_EXECUTIONS_D FAILED_EXECUTIONS_OF("d")

/* Out of attempts: DEAD, and said loudly. With a webhook configured ($2),
 * the alert owed is recorded in the same transaction (runfleet.alerts, an
 * outbox sent after the sweep by alerts.c), so no crash can lose it. The
 * error of the latest execution and the failed executions are for the log
 * line. */
static const char *const sql_dead =
        "WITH dead AS ("
        "  UPDATE runfleet.decisions SET state = 'DEAD', state_at = now()"
        "   WHERE action = 'RUN' AND state = 'FAILED'"
        "     AND " FAILED_EXECUTIONS " >= $1"
        "  RETURNING decision_id, workflow, attempt, trace_id, " FAILED_EXECUTIONS " AS failed),"
        " owed AS ("
        "  INSERT INTO runfleet.alerts (decision_id) SELECT decision_id FROM dead WHERE $2::boolean"
        "  ON CONFLICT DO NOTHING)"
        " SELECT d.decision_id, d.workflow, d.attempt, d.trace_id, coalesce(e.error, ''), d.failed"
        "   FROM dead d LEFT JOIN LATERAL (SELECT x.error FROM runfleet.executions x"
        "                                   WHERE x.decision_id = d.decision_id"
        "                                   ORDER BY x.attempt DESC LIMIT 1) e ON true";

/* Re-produce, attempt + 1: (a) PENDING with no execution of its attempt past
 * the grace period (never produced, lost, or never consumed), and not
 * waiting behind a run in flight (overlap buffer_one: sql_release below
 * produces those), (b) FAILED past an exponential backoff (base *
 * 2^(attempt-1), capped at 2^10).
 *
 * The new attempt calls only the scrapers that have not yet succeeded for
 * the decision: the message's scraper list is the decision's, in its order,
 * less every scraper with an OK call in any earlier attempt (also those of
 * an execution that was fenced off after its calls returned: the scraper
 * did the work). The decision row keeps the full list. When every scraper
 * already succeeded (an execution that failed or lost its lease after its
 * last call), the message carries the full list again: a decision must name
 * at least one scraper, an execution without calls would record a success
 * nothing observed, and the calls repeat with the same Idempotency-Key, so
 * a scraper can drop them.
 *
 * RETURNING is RF_STORE_DECISION_COLUMNS, in its order, with the scrapers
 * column replaced by that list, then the cause (column 9). */
static const char *const sql_reproduce =
        "WITH picked AS ("
        "  SELECT d.decision_id AS picked_id,"
        "         CASE WHEN d.state = 'PENDING' THEN 'unexecuted' ELSE 'retry' END AS cause"
        "    FROM runfleet.decisions d"
        "   WHERE d.action = 'RUN' AND ("
        "         (d.state = 'PENDING' AND d.waiting_for IS NULL"
        "          AND d.produced_at < now() - make_interval(secs => $1 / 1000.0)"
        "          AND NOT EXISTS (SELECT 1 FROM runfleet.executions e"
        "                           WHERE e.decision_id = d.decision_id AND e.attempt = d.attempt))"
        "      OR (d.state = 'FAILED' AND " FAILED_EXECUTIONS_D " < $3 AND d.state_at < now() -"
        "          make_interval(secs => $2 / 1000.0 * power(2, least(" FAILED_EXECUTIONS_D " - 1, 10)))))"
        "   ORDER BY d.decided_at LIMIT 1000 FOR UPDATE SKIP LOCKED)"
        " UPDATE runfleet.decisions d SET attempt = d.attempt + 1, produced_at = now(),"
        "        delivered_at = NULL, state = 'PENDING', state_at = now()"
        "   FROM picked p WHERE d.decision_id = p.picked_id"
        " RETURNING d.decision_id, d.workflow,"
        "   array_to_json(coalesce(nullif(ARRAY("
        "     SELECT u.s FROM unnest(d.scrapers) WITH ORDINALITY AS u(s, i)"
        "      WHERE NOT EXISTS (SELECT 1 FROM runfleet.scraper_calls c"
        "                          JOIN runfleet.executions x ON x.execution_id = c.execution_id"
        "                         WHERE x.decision_id = d.decision_id AND c.scraper = u.s AND c.outcome = 'OK')"
        "      ORDER BY u.i), '{}'), d.scrapers))::text,"
        "   (extract(epoch FROM d.decided_at) * 1000)::bigint, d.attempt, d.reason, d.deadline_ms,"
        "   d.replay_of, d.trace_id, p.cause";

/* Releases the waiting decisions of overlap buffer_one whose workflow has
 * nothing else PENDING or RUNNING any more: the oldest waiting one of each
 * such workflow (there is at most one, save a race of two evaluators) gets
 * waiting_for cleared and a fresh produced_at, and is produced after COMMIT
 * with its attempt unchanged (it was never produced). Should that produce
 * fail, it is an ordinary unexecuted decision for rule (a) above. Columns
 * as sql_reproduce's, the cause 'released'. */
static const char *const sql_release =
        "WITH picked AS ("
        "  SELECT DISTINCT ON (d.workflow) d.decision_id AS picked_id, d.workflow AS picked_workflow"
        "    FROM runfleet.decisions d"
        "   WHERE d.waiting_for IS NOT NULL AND d.action = 'RUN' AND d.state = 'PENDING'"
        "   ORDER BY d.workflow, d.decided_at, d.decision_id)"
        " UPDATE runfleet.decisions d SET waiting_for = NULL, produced_at = now()"
        "   FROM picked p WHERE d.decision_id = p.picked_id"
        "    AND d.waiting_for IS NOT NULL AND d.state = 'PENDING'"
        "    AND NOT EXISTS (SELECT 1 FROM runfleet.decisions o"
        "                     WHERE o.workflow = p.picked_workflow AND o.action = 'RUN'"
        "                       AND o.state IN ('PENDING', 'RUNNING') AND o.waiting_for IS NULL)"
        " RETURNING d.decision_id, d.workflow, array_to_json(d.scrapers)::text,"
        "   (extract(epoch FROM d.decided_at) * 1000)::bigint, d.attempt, d.reason, d.deadline_ms,"
        "   d.replay_of, d.trace_id, 'released'";

static void log_dead(PGresult *res) {
        for (int i = 0; i < PQntuples(res); i++)
                rf_log_error("decision.dead",
                             json_pack("{s:s, s:s, s:i, s:i, s:s, s:s}", "decision_id", PQgetvalue(res, i, 0),
                                       "workflow", PQgetvalue(res, i, 1), "attempt", atoi(PQgetvalue(res, i, 2)),
                                       "failed_executions", atoi(PQgetvalue(res, i, 5)), "trace_id",
                                       PQgetvalue(res, i, 3), "error", PQgetvalue(res, i, 4)),
                             "%s: decision %s is DEAD after %s failed executions (produced %s times): %s",
                             PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), PQgetvalue(res, i, 5), PQgetvalue(res, i, 2),
                             *PQgetvalue(res, i, 4) ? PQgetvalue(res, i, 4) : "no error recorded");
}

/* "a, b" for the log line of a re-produced decision. */
static void scraper_list(const rf_decision_t *d, char *buf, size_t size) {
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < d->scraper_count && used < size; i++) {
                int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", d->scrapers[i]);
                if (n < 0)
                        break;
                used += (size_t)n;
        }
}

int reaper_sweep(const rf_conf_t *conf, rf_pg_t *pg, rd_kafka_t *rk, sweep_stats_t *stats, char *errstr,
                 size_t errstr_size) {
        char grace[16], backoff[16], max_failed[16], lock[32];
        const char *lock_params[] = { lock };
        const char *dead_params[] = { max_failed, conf->reaper.webhook_url ? "true" : "false" };
        const char *repro_params[] = { grace, backoff, max_failed };
        PGresult *res = NULL, *late = NULL, *released = NULL;
        rf_decision_t **ds = NULL;
        size_t n = 0, delivered = 0;
        int r;

        memset(stats, 0, sizeof(*stats));
        snprintf(grace, sizeof(grace), "%d", conf->reaper.grace_ms);
        snprintf(backoff, sizeof(backoff), "%d", conf->reaper.backoff_ms);
        snprintf(max_failed, sizeof(max_failed), "%d", conf->reaper.max_failed_executions);
        snprintf(lock, sizeof(lock), "%lld", RF_LOCK_REAPER);

        r = rf_pg_exec(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0)
                return r;
        r = rf_pg_exec(pg, "SELECT pg_try_advisory_xact_lock($1::bigint)", 1, lock_params, &res, errstr, errstr_size);
        if (r < 0)
                goto rollback;
        if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
                stats->skipped = 1;
                PQclear(res);
                res = NULL;
                goto rollback;
        }
        PQclear(res);

        r = rf_pg_exec_prepared(pg, sql_abandon, 0, NULL, &res, errstr, errstr_size);
        if (r < 0)
                goto rollback;
        stats->abandoned = PQntuples(res);
        PQclear(res);

        r = rf_pg_exec_prepared(pg, sql_dead, 2, dead_params, &res, errstr, errstr_size);
        if (r < 0)
                goto rollback;
        stats->dead = PQntuples(res);
        log_dead(res);
        r = reaper_autopause(conf, pg, res, &stats->paused, errstr, errstr_size);
        PQclear(res);
        if (r < 0)
                goto rollback;

        r = reaper_late(conf, pg, &late, errstr, errstr_size);
        if (r < 0)
                goto rollback;

        /* released before the grace rule runs, so it does not see them */
        r = rf_pg_exec_prepared(pg, sql_release, 0, NULL, &released, errstr, errstr_size);
        if (r < 0)
                goto rollback;
        r = rf_pg_exec_prepared(pg, sql_reproduce, 3, repro_params, &res, errstr, errstr_size);
        if (r < 0) {
                PQclear(released);
                goto rollback;
        }
        ds = calloc((size_t)PQntuples(res) + (size_t)PQntuples(released) + 1, sizeof(*ds));
        if (!ds) {
                r = -ENOMEM;
                PQclear(res);
                PQclear(released);
                goto rollback;
        }
        for (int k = 0; k < 2; k++) {
                PGresult *rows = k == 0 ? released : res;

                for (int i = 0; i < PQntuples(rows); i++) {
                        if (rf_store_decision_from_row(rows, i, &ds[n]) < 0)
                                continue;
                        if (strcmp(PQgetvalue(rows, i, 9), "released") == 0)
                                stats->released++;
                        else if (strcmp(PQgetvalue(rows, i, 9), "unexecuted") == 0)
                                stats->unexecuted++;
                        else
                                stats->retried++;
                        n++;
                }
        }
        PQclear(res);
        PQclear(released);
        res = NULL;
        /* test-only crash points: a replica dying mid-sweep must lose nothing */
        if (n > 0)
                rf_fault_point("reaper-before-commit");
        r = rf_pg_exec(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0)
                goto out;
        if (n > 0)
                rf_fault_point("reaper-after-commit");
        stats->late = reaper_late_report(late);

        for (size_t i = 0; i < n; i++) {
                char names[512];

                scraper_list(ds[i], names, sizeof(names));
                if (i < (size_t)stats->released) {
                        rf_log_info("decision.released",
                                    json_pack("{s:s, s:s, s:i, s:s}", "decision_id", ds[i]->decision_id, "workflow",
                                              ds[i]->workflow, "attempt", (int)ds[i]->attempt, "trace_id",
                                              ds[i]->trace_id),
                                    "%s: producing decision %s, which waited for the previous run to end "
                                    "(overlap buffer_one)",
                                    ds[i]->workflow, ds[i]->decision_id);
                        continue;
                }
                rf_log_info("decision.reproduced",
                            json_pack("{s:s, s:s, s:i, s:s, s:s}", "decision_id", ds[i]->decision_id, "workflow",
                                      ds[i]->workflow, "attempt", (int)ds[i]->attempt, "trace_id", ds[i]->trace_id,
                                      "scrapers", names),
                            "%s: re-producing decision %s as attempt %d (scrapers: %s)", ds[i]->workflow,
                            ds[i]->decision_id, (int)ds[i]->attempt, names);
        }
        /* after COMMIT: a crash here is covered by the grace-period rule */
        r = rf_store_publish(rk, pg, conf->kafka.topic, ds, n, conf->kafka.delivery_timeout_ms + 5000, &delivered,
                             errstr, errstr_size);
        stats->delivered = (int)delivered;
        goto out;

rollback : {
        char ignored[256];
        rf_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, ignored, sizeof(ignored));
}
out:
        PQclear(late);
        for (size_t i = 0; i < n; i++)
                rf_decision_destroy(ds[i]);
        free(ds);
        return r;
}
