/* SPDX-License-Identifier: Apache-2.0 */
/* `status [--day YYYY-MM-DD]`: what an operator asks first, without SQL:
 * per workflow, the day's decisions with their state, how often each was
 * produced and how many of its executions failed, and durations; then the
 * orphans, the DEAD decisions, the day's missed ticks, the workflows paused
 * now and the latest backfills with their progress. The day is a local
 * day in producer.timezone, like the evaluator's "today". */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backfill.h"
#include "producer.h"
#include "rf_lifecycle.h"
#include "rf_pg.h"
#include "rf_util.h"

/* The day's decisions, latest execution of each, times in the zone.
 *
 * Two counts that must not be confused: decisions.attempt is how many times
 * the decision was handed to Kafka (PRODUCED; the reaper also re-produces a
 * decision nobody executed, which costs nothing), and the failed executions
 * are what reaper.max_failed_executions bounds (FAILED, shown as n/max).
 *
 * DURATION is how long the execution ran: until it finished, or so far while
 * RUNNING. An ABANDONED execution's finished_at is when a reaper found its
 * lease expired (which can be many minutes after the worker died), so its
 * duration runs to its last heartbeat instead, printed with a "+": it ran
 * at least that long. */
/* Every query of a day bounds decided_at by the day's two midnights in
 * the zone, so the decisions_day index of each partition finds the day's
 * rows: a condition on a function of decided_at (its local date) read the
 * whole table, history included (bench (f): 0.5 s with 200,000 rows). */
#define IN_DAY(d)                                                                                                      \
        " " d ".decided_at >= $1::date::timestamp AT TIME ZONE $2"                                                     \
        " AND " d ".decided_at < ($1::date + 1)::timestamp AT TIME ZONE $2"

/* The executions of the day's decisions, whose ids ($3) the first query
 * of status read: an array the planner knows when it plans, so it keeps
 * only the partitions that can hold them and looks each id up in their
 * indexes; each decision's latest execution and its failed count come from
 * them. A subquery per decision paid for choosing among every day's
 * partition again (80 us a decision with 40 days, bench (f)); an array
 * made by a subquery of the same statement is unknown when planned, and
 * every partition was read (0.25 s for 1,000 decisions among 10 million). */
#define EXECUTIONS_OF_DAY                                                                                              \
        " ex AS MATERIALIZED (SELECT x.decision_id, x.attempt, x.status, x.started_at, x.finished_at,"                 \
        "                            x.heartbeat_at, x.error"                                                          \
        "                       FROM runfleet.executions x WHERE x.decision_id = ANY ($3::uuid[])),"                   \
        " latest AS (SELECT DISTINCT ON (decision_id) * FROM ex ORDER BY decision_id, attempt DESC),"                  \
        " failed AS (SELECT decision_id, count(*) AS n FROM ex"                                                        \
        "             WHERE status IN ('FAILED', 'TIMED_OUT', 'ABANDONED') GROUP BY decision_id)"

static const char *const sql_day_ids = "SELECT d.decision_id::text FROM runfleet.decisions d WHERE" IN_DAY("d");

static const char *const sql_day = "WITH day AS MATERIALIZED (SELECT * FROM runfleet.decisions d WHERE" IN_DAY(
        "d") ")," EXECUTIONS_OF_DAY
             " SELECT d.workflow, to_char(d.decided_at AT TIME ZONE $2, 'HH24:MI:SS'), d.action, d.state,"
             "       d.attempt::text, coalesce(e.status, '-'),"
             "       coalesce(round(extract(epoch FROM (CASE WHEN e.status = 'ABANDONED' THEN e.heartbeat_at"
             "                                               ELSE coalesce(e.finished_at, now()) END"
             "                                          - e.started_at)) * 1000)::text, '-'),"
             "       coalesce(to_char(e.finished_at AT TIME ZONE $2, 'HH24:MI:SS'), '-'),"
             "       right(d.decision_id::text, 8), coalesce(right(d.replay_of::text, 8), ''), d.reason,"
             "       coalesce(f.n, 0)::text"
             "  FROM day d"
             "  LEFT JOIN latest e ON e.decision_id = d.decision_id"
             "  LEFT JOIN failed f ON f.decision_id = d.decision_id"
             " ORDER BY d.workflow, d.decided_at, d.decision_id";

static const char *const sql_orphans = "SELECT workflow, decision_id::text, attempt::text, state,"
                                       "       to_char(decided_at AT TIME ZONE $1, 'YYYY-MM-DD HH24:MI:SS'), why"
                                       "  FROM runfleet.orphans ORDER BY decided_at";

static const char *const sql_dead =
        "WITH dead AS MATERIALIZED (SELECT * FROM runfleet.decisions d WHERE d.state = 'DEAD' AND" IN_DAY(
                "d") ")," EXECUTIONS_OF_DAY
                     " SELECT d.workflow, d.decision_id::text, d.attempt::text, coalesce(f.n, 0)::text,"
                     "       to_char(d.state_at AT TIME ZONE $2, 'HH24:MI:SS'), coalesce(e.error, '-')"
                     "  FROM dead d"
                     "  LEFT JOIN latest e ON e.decision_id = d.decision_id"
                     "  LEFT JOIN failed f ON f.decision_id = d.decision_id"
                     " ORDER BY d.workflow, d.decided_at";

/* Ticks of the day that passed while no evaluator ran (catch-up: decided
 * late, SKIPped or MISSED), per workflow; the catch-up's SKIP reasons and
 * MISSED rows say so, and decided_at - tick tells a late decision. */
static const char *const sql_missed =
        "SELECT workflow, count(*)::text,"
        "       count(*) FILTER (WHERE action = 'MISSED')::text,"
        "       count(*) FILTER (WHERE action = 'SKIP')::text,"
        "       count(*) FILTER (WHERE action = 'RUN')::text,"
        "       to_char(min(tick) AT TIME ZONE $2, 'HH24:MI:SS') || '–' ||"
        "       to_char(max(tick) AT TIME ZONE $2, 'HH24:MI:SS')"
        "  FROM runfleet.decisions"
        " WHERE" IN_DAY(
                "runfleet.decisions") " AND tick IS NOT NULL AND backfill_of IS NULL"
                                      "   AND (action = 'MISSED' OR reason LIKE '%missed while no evaluator ran%')"
                                      " GROUP BY workflow ORDER BY workflow";

static const char *const sql_paused =
        "SELECT workflow, to_char(paused_at AT TIME ZONE $1, 'YYYY-MM-DD HH24:MI'), paused_by,"
        "       CASE WHEN automatic THEN 'yes' ELSE 'no' END, reason"
        "  FROM runfleet.pauses WHERE unpaused_at IS NULL ORDER BY workflow";

/* The latest backfills with their progress. A request is "creating" while
 * its command holds the request's advisory lock (backfill.h), "stopped"
 * when unfinished without it (the same command continues it), then
 * "running" until every decision it created is SUCCEEDED, DEAD or
 * CANCELLED, and "finished". */
static const char *const sql_backfills =
        "SELECT right(b.backfill_id::text, 8), array_to_string(b.workflows, ','), b.mode,"
        "       to_char(b.from_ts AT TIME ZONE $1, 'YYYY-MM-DD HH24:MI:SS') || ' to ' ||"
        "       to_char(b.to_ts AT TIME ZONE $1, 'YYYY-MM-DD HH24:MI:SS'),"
        "       b.requested_by, b.planned::text, b.created::text,"
        "       count(d.decision_id) FILTER (WHERE d.state IN ('PENDING', 'RUNNING', 'FAILED'))::text,"
        "       count(d.decision_id) FILTER (WHERE d.state = 'SUCCEEDED')::text,"
        "       count(d.decision_id) FILTER (WHERE d.state IN ('DEAD', 'CANCELLED'))::text,"
        "       CASE WHEN b.finished_at IS NULL THEN"
        "              CASE WHEN EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
        "                                   AND l.objsubid = 2 AND l.classid = " BACKFILL_LOCK_CLASS "::oid"
        "                                   AND l.objid = hashtext(b.backfill_id::text)::oid)"
        "                   THEN 'creating' ELSE 'stopped' END"
        "            WHEN count(d.decision_id) FILTER (WHERE d.state IN ('PENDING', 'RUNNING', 'FAILED')) > 0"
        "            THEN 'running' ELSE 'finished' END"
        "  FROM (SELECT * FROM runfleet.backfills ORDER BY requested_at DESC LIMIT 10) b"
        "  LEFT JOIN runfleet.decisions d ON d.backfill_id = b.backfill_id"
        " GROUP BY b.backfill_id, b.workflows, b.mode, b.from_ts, b.to_ts, b.requested_by, b.planned, b.created,"
        "          b.finished_at, b.requested_at"
        " ORDER BY b.requested_at DESC";

/* "2026-11-27" for today in @p tz. */
static int today(const char *tz, char day[11]) {
        struct tm tm;
        int r = rf_tz_localtime(tz, rf_now_ms() / 1000, &tm);

        if (r < 0)
                return r;
        strftime(day, 11, "%Y-%m-%d", &tm);
        return 0;
}

static bool valid_day(const char *s) {
        struct tm tm = { 0 };
        const char *end = strlen(s) == 10 ? strptime(s, "%Y-%m-%d", &tm) : NULL;

        return end && !*end;
}

static void print_day(PGresult *res, int max_failed) {
        const char *workflow = NULL;
        int n = PQntuples(res);
        bool abandoned = false;

        for (int i = 0; i < n; i++) {
                const char *w = PQgetvalue(res, i, 0);
                int runs = 0, ok = 0, failed = 0, skipped = 0, missed = 0, cancelled = 0;
                char more[32] = "";

                if (workflow && strcmp(workflow, w) == 0)
                        continue;
                workflow = w;
                for (int j = i; j < n && strcmp(PQgetvalue(res, j, 0), w) == 0; j++) {
                        rf_decision_action_t action = RF_ACTION_RUN;
                        rf_decision_state_t state = RF_DECISION_PENDING;

                        /* a name this program does not know counts as an open RUN */
                        (void)rf_decision_action_from_name(PQgetvalue(res, j, 2), &action);
                        (void)rf_decision_state_from_name(PQgetvalue(res, j, 3), &state);
                        if (action == RF_ACTION_SKIP) {
                                skipped++;
                                continue;
                        }
                        if (action == RF_ACTION_MISSED) {
                                missed++;
                                continue;
                        }
                        runs++;
                        ok += state == RF_DECISION_SUCCEEDED;
                        failed += state == RF_DECISION_FAILED || state == RF_DECISION_DEAD;
                        cancelled += state == RF_DECISION_CANCELLED;
                }
                if (cancelled)
                        snprintf(more, sizeof(more), ", %d cancelled", cancelled);
                printf("\n%s: %d run%s (%d succeeded, %d failed or dead%s), %d skipped, %d missed\n", w, runs,
                       runs == 1 ? "" : "s", ok, failed, more, skipped, missed);
                printf("  %-8s  %-6s  %-9s  %8s  %6s  %-9s  %9s  %-8s  %-8s  %-9s  %s\n", "DECIDED", "ACTION", "STATE",
                       "PRODUCED", "FAILED", "EXECUTION", "DURATION", "FINISHED", "DECISION", "REPLAY OF", "REASON");
                for (int j = i; j < n && strcmp(PQgetvalue(res, j, 0), w) == 0; j++) {
                        char dur[24], fails[24];
                        const char *ms = PQgetvalue(res, j, 6);
                        bool gone = strcmp(PQgetvalue(res, j, 5), "ABANDONED") == 0;

                        if (strcmp(ms, "-") == 0)
                                snprintf(dur, sizeof(dur), "-");
                        else if (strtod(ms, NULL) < 1000)
                                snprintf(dur, sizeof(dur), "%sms%s", ms, gone ? "+" : "");
                        else
                                snprintf(dur, sizeof(dur), "%.1fs%s", strtod(ms, NULL) / 1000.0, gone ? "+" : "");
                        abandoned |= gone;
                        if (strcmp(PQgetvalue(res, j, 2), "RUN") == 0)
                                snprintf(fails, sizeof(fails), "%s/%d", PQgetvalue(res, j, 11), max_failed);
                        else
                                snprintf(fails, sizeof(fails), "-");
                        printf("  %-8s  %-6s  %-9s  %8s  %6s  %-9s  %9s  %-8s  %-8s  %-9s  %s\n", PQgetvalue(res, j, 1),
                               PQgetvalue(res, j, 2), PQgetvalue(res, j, 3), PQgetvalue(res, j, 4), fails,
                               PQgetvalue(res, j, 5), dur, PQgetvalue(res, j, 7), PQgetvalue(res, j, 8),
                               *PQgetvalue(res, j, 9) ? PQgetvalue(res, j, 9) : "-", PQgetvalue(res, j, 10));
                }
        }
        if (n == 0)
                printf("\n(no decisions)\n");
        else
                printf("\nPRODUCED: times the decision was handed to Kafka (decisions.attempt; re-produces of a\n"
                       "decision never executed count too). FAILED: its failed executions / reaper.max_failed_executions,\n"
                       "after which it is DEAD. EXECUTION, DURATION, FINISHED: its latest execution.\n");
        if (abandoned)
                printf("DURATION+ (ABANDONED): until the execution's last heartbeat, it ran at least that long;\n"
                       "FINISHED is when a reaper found its lease expired.\n");
}

static void print_backfills(PGresult *res) {
        printf("\nbackfills (latest first): %d\n", PQntuples(res));
        if (PQntuples(res) == 0)
                return;
        printf("  %-8s  %-9s  %-7s  %-42s  %-12s  %7s  %7s  %6s  %9s  %8s  %s\n", "BACKFILL", "STATE", "MODE", "RANGE",
               "BY", "PLANNED", "CREATED", "ACTIVE", "SUCCEEDED", "DEAD", "WORKFLOWS");
        for (int i = 0; i < PQntuples(res); i++)
                printf("  %-8s  %-9s  %-7s  %-42s  %-12s  %7s  %7s  %6s  %9s  %8s  %s\n", PQgetvalue(res, i, 0),
                       PQgetvalue(res, i, 10), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
                       PQgetvalue(res, i, 5), PQgetvalue(res, i, 6), PQgetvalue(res, i, 7), PQgetvalue(res, i, 8),
                       PQgetvalue(res, i, 9), PQgetvalue(res, i, 1));
}

int producer_status(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "day", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 } };
        const char *tz = conf->producer.timezone;
        char day[11] = "", errstr[1024], *day_ids = NULL;
        rf_pg_t *pg = NULL;
        PGresult *res = NULL;
        int c, code = RF_EXIT_FAILURE;

        rf_program_subcommand_options();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (c != 'd' || !valid_day(optarg))
                        return rf_program_fail(prog, RF_EXIT_USAGE, "usage: status [--day YYYY-MM-DD]");
                snprintf(day, sizeof(day), "%s", optarg);
        }
        if (optind < argc)
                return rf_program_fail(prog, RF_EXIT_USAGE, "status: unexpected argument '%s'", argv[optind]);
        if (!*day && today(tz, day) < 0)
                return rf_program_fail(prog, RF_EXIT_FAILURE, "status: time zone '%s' is unusable", tz);
        if (rf_pg_connect(conf->database.url, prog->name, &pg, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "%s", errstr);
                goto out;
        }
        {
                const char *params[] = { day, tz, NULL };
                if (rf_pg_exec(pg, sql_day_ids, 2, params, &res, errstr, sizeof(errstr)) < 0) {
                        rf_program_fail(prog, code, "status: %s", errstr);
                        goto out;
                }
                day_ids = rf_pg_column_array(res, 0);
                PQclear(res);
                res = NULL;
                params[2] = day_ids;
                if (!day_ids) {
                        rf_program_fail(prog, code, "status: out of memory");
                        goto out;
                }
                if (rf_pg_exec(pg, sql_day, 3, params, &res, errstr, sizeof(errstr)) < 0) {
                        rf_program_fail(prog, code, "status: %s", errstr);
                        goto out;
                }
        }
        printf("runfleet status for %s (%s)\n", day, tz);
        print_day(res, conf->reaper.max_failed_executions);
        PQclear(res);
        res = NULL;

        {
                const char *params[] = { tz };
                if (rf_pg_exec(pg, sql_orphans, 1, params, &res, errstr, sizeof(errstr)) < 0) {
                        rf_program_fail(prog, code, "status: %s", errstr);
                        goto out;
                }
        }
        printf("\norphans (RUN decisions nothing is working on), any day: %d\n", PQntuples(res));
        if (PQntuples(res) > 0)
                printf("  %-20s  %-36s  %8s  %-9s  %-19s  %s\n", "WORKFLOW", "DECISION", "PRODUCED", "STATE", "DECIDED",
                       "WHY");
        for (int i = 0; i < PQntuples(res); i++)
                printf("  %-20s  %-36s  %8s  %-9s  %-19s  %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                       PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), PQgetvalue(res, i, 5));
        PQclear(res);
        res = NULL;

        {
                const char *params[] = { day, tz, day_ids };
                if (rf_pg_exec(pg, sql_dead, 3, params, &res, errstr, sizeof(errstr)) < 0) {
                        rf_program_fail(prog, code, "status: %s", errstr);
                        goto out;
                }
        }
        printf("\nDEAD decisions on %s: %d\n", day, PQntuples(res));
        if (PQntuples(res) > 0)
                printf("  %-20s  %-36s  %8s  %6s  %-8s  %s\n", "WORKFLOW", "DECISION", "PRODUCED", "FAILED", "DEAD AT",
                       "LAST ERROR");
        for (int i = 0; i < PQntuples(res); i++)
                printf("  %-20s  %-36s  %8s  %6s  %-8s  %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                       PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), PQgetvalue(res, i, 5));
        PQclear(res);
        res = NULL;

        {
                const char *params[] = { day, tz };
                if (rf_pg_exec(pg, sql_missed, 2, params, &res, errstr, sizeof(errstr)) < 0) {
                        rf_program_fail(prog, code, "status: %s", errstr);
                        goto out;
                }
        }
        printf("\nworkflows with ticks missed while no evaluator ran, on %s: %d\n", day, PQntuples(res));
        if (PQntuples(res) > 0)
                printf("  %-20s  %6s  %6s  %6s  %6s  %s\n", "WORKFLOW", "TICKS", "MISSED", "SKIP", "RUN", "RANGE");
        for (int i = 0; i < PQntuples(res); i++)
                printf("  %-20s  %6s  %6s  %6s  %6s  %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                       PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), PQgetvalue(res, i, 5));
        PQclear(res);
        res = NULL;

        {
                const char *params[] = { tz };
                if (rf_pg_exec(pg, sql_paused, 1, params, &res, errstr, sizeof(errstr)) < 0) {
                        rf_program_fail(prog, code, "status: %s", errstr);
                        goto out;
                }
        }
        printf("\npaused workflows (every tick SKIPs until `unpause`): %d\n", PQntuples(res));
        if (PQntuples(res) > 0)
                printf("  %-20s  %-16s  %-16s  %-4s  %s\n", "WORKFLOW", "SINCE", "BY", "AUTO", "REASON");
        for (int i = 0; i < PQntuples(res); i++)
                printf("  %-20s  %-16s  %-16s  %-4s  %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                       PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
        PQclear(res);
        res = NULL;

        {
                const char *params[] = { tz };
                if (rf_pg_exec(pg, sql_backfills, 1, params, &res, errstr, sizeof(errstr)) < 0) {
                        rf_program_fail(prog, code, "status: %s", errstr);
                        goto out;
                }
        }
        print_backfills(res);
        code = RF_EXIT_OK;
out:
        PQclear(res);
        free(day_ids);
        rf_pg_destroy(pg);
        return code;
}
