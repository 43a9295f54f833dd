/* SPDX-License-Identifier: Apache-2.0 */
/* `runfleet-producer backfill` with the real programs: over a range of an
 * `@every 2s` workflow whose ticks were seeded with a history (a success, a
 * FAILED and a DEAD run, a SKIP, a MISSED tick, and ticks without any
 * decision), `missing` fills exactly the undecided and MISSED ticks and a
 * second run adds nothing; `failed` runs exactly the FAILED and DEAD ticks
 * again (backfill_of set), and not twice while their re-runs are pending;
 * workers execute every new decision to SUCCEEDED; `all` runs every tick
 * again; --dry-run records nothing; --max-active N never has more than N
 * decisions of the backfill active (read from the database while it runs),
 * a SIGINT leaves it resumable and the same command continues it under the
 * same id; bad input exits 2 and records nothing. Times on the command line
 * are local times in producer.timezone (America/New_York). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"
#include "rf_cron.h"
#include "rf_util.h"

#define TZ "America/New_York"

/* "YYYY-MM-DD HH:MM:SS", the wall clock of @p s in TZ. */
static void local(int64_t s, char *buf, size_t size) {
        struct tm tm;

        CHECK(rf_tz_localtime(TZ, s, &tm) == 0);
        strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

/* Records a decision of @p workflow for tick @p tick_s as an earlier
 * evaluator would have left it; returns its id. */
static void seed(itest_t *t, const char *workflow, int64_t tick_s, const char *action, const char *state, char id[37]) {
        rf_uuid_new(id);
        CHECK(itest_query_ll(t,
                             "WITH ins AS (INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, tick,"
                             " scrapers, state, trace_id, decided_at) VALUES ('%s', '%s', '%s', 'seeded',"
                             " to_timestamp(%lld), '{s}', '%s', '%s', now() - interval '1 hour') RETURNING 1)"
                             " SELECT count(*) FROM ins",
                             id, workflow, action, (long long)tick_s, state, id) == 1);
}

static long long count_decisions(itest_t *t) {
        return itest_query_ll(t, "SELECT count(*) FROM runfleet.decisions");
}

/* Runs `backfill ARGS...` to completion; its exit status, output in @p out. */
#define BACKFILL(t, out, ...)                                                                                          \
        itest_run((t), (out), sizeof(out), 120000, NULL, "runfleet-producer", "backfill", __VA_ARGS__, NULL)

int main(void) {
        itest_t t;
        char out[65536], from[32], to[32], mid[32], far[32], future[32], day[16], next_day[16];
        char ok1[37], failed3[37], dead5[37], skip7[37], missed9[37];
        int64_t base;

        itest_init(&t, "backfill");
        itest_config(&t, "producer = { timezone = \"" TZ "\"; backfill_max_decisions = 40; };\n"
                         "scrapers = (\n"
                         "  { name = \"s\"; url = \"@FAKE@/backfill/s?delay_ms=10\"; },\n"
                         "  { name = \"slow\"; url = \"@FAKE@/backfill/slow?delay_ms=1200\"; }\n"
                         ");\n"
                         "workflows = (\n"
                         "  { name = \"every2\"; schedule = \"@every 2s\"; scrapers = [\"s\"]; },\n"
                         "  { name = \"slow2\"; schedule = \"@every 2s\"; scrapers = [\"slow\"]; },\n"
                         "  { name = \"hourly\"; schedule = \"0 * * * *\"; scrapers = [\"s\"]; },\n"
                         "  { name = \"live2\"; schedule = \"@every 2s\"; scrapers = [\"s\"]; },\n"
                         "  { name = \"off\"; schedule = \"@every 2s\"; scrapers = [\"s\"]; enabled = false; }\n"
                         ");\n"
                         "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n");
        itest_migrate(&t);

        /* eleven ticks two days back: base + 0, 2, ..., 20 s */
        base = (rf_now_ms() / 1000 / 3600 - 48) * 3600;
        local(base, from, sizeof(from));
        local(base + 20, to, sizeof(to));
        local(base + 4, mid, sizeof(mid));
        local(base + 60, far, sizeof(far));
        local(rf_now_ms() / 1000 + 3600, future, sizeof(future));
        seed(&t, "every2", base + 2, "RUN", "SUCCEEDED", ok1);
        seed(&t, "every2", base + 6, "RUN", "FAILED", failed3);
        seed(&t, "every2", base + 10, "RUN", "DEAD", dead5);
        seed(&t, "every2", base + 14, "SKIP", "SKIPPED", skip7);
        seed(&t, "every2", base + 18, "MISSED", "SKIPPED", missed9);
        printf("# range %s .. %s (%s)\n", from, to, TZ);

        /* bad input: exit 2, one line naming what is wrong, nothing recorded */
        CHECK(BACKFILL(&t, out, "nosuch", "--from", from, "--to", to) == 2);
        CHECK_CONTAINS(out, "unknown workflow 'nosuch'");
        CHECK(BACKFILL(&t, out, "off", "--from", from, "--to", to) == 2);
        CHECK_CONTAINS(out, "workflow 'off' is disabled");
        CHECK(BACKFILL(&t, out, "every2", "--from", "yesterday", "--to", to) == 2);
        CHECK_CONTAINS(out, "--from 'yesterday' is not a time");
        CHECK(BACKFILL(&t, out, "every2", "--from", to, "--to", from) == 2);
        CHECK_CONTAINS(out, "is after --to");
        CHECK(BACKFILL(&t, out, "every2", "--from", from, "--to", future) == 2);
        CHECK_CONTAINS(out, "is in the future");
        /* 27 + 31 decisions to create, more than backfill_max_decisions = 40 */
        CHECK(BACKFILL(&t, out, "every2", "slow2", "--from", from, "--to", far) == 2);
        CHECK_CONTAINS(out, "more than 40 decisions (producer.backfill_max_decisions)");
        CHECK_CONTAINS(out, "--yes");
        CHECK(BACKFILL(&t, out, "every2", "--from", from, "--to", to, "--mode", "broken") == 2);
        CHECK_CONTAINS(out, "--mode 'broken'");
        CHECK(BACKFILL(&t, out, "every2", "--from", from, "--to", to, "--max-active", "0") == 2);
        CHECK_CONTAINS(out, "--max-active '0'");
        CHECK(BACKFILL(&t, out, "--from", from, "--to", to) == 2);
        CHECK_CONTAINS(out, "at least one workflow");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.backfills") == 0);
        CHECK(count_decisions(&t) == 5);

        /* dry run: the ticks and what would become of them, nothing recorded */
        CHECK(BACKFILL(&t, out, "every2", "--from", from, "--to", to, "--dry-run") == 0);
        CHECK_CONTAINS(out, "11 ticks,        7 would be created,        4 left as they are");
        CHECK_CONTAINS(out, "would create 7 decisions");
        {
                char line[96], ok1_at[32];
                /* listed in local time, with what each tick has */
                snprintf(line, sizeof(line), "%s  create  (no decision yet)", from);
                CHECK_CONTAINS(out, line);
                local(base + 2, ok1_at, sizeof(ok1_at));
                snprintf(line, sizeof(line), "%s  keep    (%s RUN SUCCEEDED)", ok1_at, rf_uuid_short(ok1));
                CHECK_CONTAINS(out, line);
        }
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.backfills") == 0);
        CHECK(count_decisions(&t) == 5);
        /* a date alone is local midnight: the cron workflow's ticks of a whole day */
        snprintf(day, sizeof(day), "%.10s", from);
        {
                char later[32];
                local(base + 86400, later, sizeof(later));
                snprintf(next_day, sizeof(next_day), "%.10s", later);
        }
        CHECK(BACKFILL(&t, out, "hourly", "--from", day, "--to", next_day, "--dry-run") == 0);
        {
                char first[48], last[48];
                snprintf(first, sizeof(first), "%s 00:00:00  create", day);
                snprintf(last, sizeof(last), "%s 00:00:00  create", next_day);
                CHECK_CONTAINS(out, first);
                CHECK_CONTAINS(out, last);
        }
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.backfills") == 0);

        /* failed: the FAILED and the DEAD tick again, linked to what they
         * re-run; no worker runs yet, so a second run finds those re-runs
         * PENDING, and leaves them alone */
        CHECK(BACKFILL(&t, out, "every2", "--from", from, "--to", to, "--mode", "failed") == 0);
        CHECK_CONTAINS(out, "2 decisions created");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE backfill_id IS NOT NULL"
                                 " AND state = 'PENDING'") == 2);
        CHECK(BACKFILL(&t, out, "every2", "--from", from, "--to", to, "--mode", "failed") == 0);
        CHECK_CONTAINS(out, "0 decisions created");
        CHECK(count_decisions(&t) == 7);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions d JOIN runfleet.backfills b USING (backfill_id)"
                             " WHERE b.mode = 'failed' AND ((d.backfill_of = '%s' AND d.tick = to_timestamp(%lld))"
                             "   OR (d.backfill_of = '%s' AND d.tick = to_timestamp(%lld)))",
                             failed3, (long long)base + 6, dead5, (long long)base + 10) == 2);

        /* workers run them to SUCCEEDED; the seeded decisions stay as they were */
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 2, 60000,
                             "SELECT count(*) FROM runfleet.decisions WHERE backfill_of IN ('%s', '%s')"
                             " AND state = 'SUCCEEDED'",
                             failed3, dead5));
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d USING (decision_id)"
                             " WHERE d.backfill_of IN ('%s', '%s') AND e.status = 'SUCCEEDED'",
                             failed3, dead5) == 2);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions WHERE decision_id IN ('%s', '%s')"
                             " AND state IN ('FAILED', 'DEAD')",
                             failed3, dead5) == 2);
        /* their re-runs succeeded: nothing left to re-run */
        CHECK(BACKFILL(&t, out, "every2", "--from", from, "--to", to, "--mode", "failed") == 0);
        CHECK_CONTAINS(out, "0 decisions created");
        CHECK(count_decisions(&t) == 7);

        /* missing: the six ticks without a decision, and the MISSED one */
        CHECK(BACKFILL(&t, out, "every2", "--from", from, "--to", to, "--by", "tester") == 0);
        CHECK_CONTAINS(out, "7 decisions created, 7 delivered to Kafka");
        CHECK(count_decisions(&t) == 14);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions d JOIN runfleet.backfills b USING (backfill_id)"
                             " WHERE b.mode = 'missing' AND d.action = 'RUN' AND d.backfill_of IS NULL"
                             " AND d.tick IN (SELECT to_timestamp(%lld + 4 * g) FROM generate_series(0, 5) g)",
                             (long long)base) == 6);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions WHERE backfill_of = '%s'"
                             " AND tick = to_timestamp(%lld)",
                             missed9, (long long)base + 18) == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.backfills WHERE mode = 'missing' AND planned = 7"
                                 " AND created = 7 AND finished_at IS NOT NULL AND requested_by = 'tester'") == 1);
        CHECK(itest_wait_for(&t, 9, 60000,
                             "SELECT count(*) FROM runfleet.decisions WHERE backfill_id IS NOT NULL"
                             " AND state = 'SUCCEEDED'"));
        /* every tick of the range now has a decision; running it again adds nothing */
        CHECK(itest_query_ll(&t, "SELECT count(DISTINCT tick) FROM runfleet.decisions WHERE workflow = 'every2'") ==
              11);
        CHECK(BACKFILL(&t, out, "every2", "--from", from, "--to", to) == 0);
        CHECK_CONTAINS(out, "0 decisions created");
        CHECK(count_decisions(&t) == 14);

        /* all: every tick of a sub-range again, each linked to its latest decision */
        CHECK(BACKFILL(&t, out, "every2", "--from", from, "--to", mid, "--mode", "all") == 0);
        CHECK_CONTAINS(out, "3 decisions created");
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions d JOIN runfleet.backfills b USING (backfill_id)"
                             " WHERE b.mode = 'all' AND d.backfill_of IS NOT NULL"
                             "   AND d.backfill_of = (SELECT p.decision_id FROM runfleet.decisions p"
                             "                        WHERE p.workflow = d.workflow AND p.tick = d.tick"
                             "                          AND p.decision_id <> d.decision_id"
                             "                        ORDER BY p.decided_at DESC LIMIT 1)") == 3);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions d JOIN runfleet.backfills b"
                             " USING (backfill_id) WHERE b.mode = 'all' AND d.backfill_of = '%s'",
                             ok1) == 1);
        CHECK(itest_wait_for(&t, 0, 60000,
                             "SELECT count(*) FROM runfleet.decisions WHERE backfill_id IS NOT NULL"
                             " AND state <> 'SUCCEEDED'"));

        /* --max-active 3 over 12 slow ticks: never more than 3 active, and 3 at some point */
        {
                char slow_to[32], log_out[8192];
                long long peak = 0, active;
                int64_t until = rf_mono_ms() + 90000;
                int code = -1;
                pid_t pid;

                local(base + 22, slow_to, sizeof(slow_to));
                pid = itest_spawn(&t, "backfill-max-active", "runfleet-producer", "backfill", "slow2", "--from", from,
                                  "--to", slow_to, "--max-active", "3", NULL);
                while ((code = itest_wait(pid, 100)) < 0) {
                        active = itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions"
                                                    " WHERE workflow = 'slow2'"
                                                    " AND state IN ('PENDING', 'RUNNING', 'FAILED')");
                        if (active > peak)
                                peak = active;
                        if (rf_mono_ms() > until)
                                break;
                }
                CHECK(code == 0);
                printf("# --max-active 3: peak %lld active\n", peak);
                CHECK(peak == 3);
                {
                        char *log = itest_read_log(&t, pid);
                        snprintf(log_out, sizeof(log_out), "%s", log ? log : "");
                        free(log);
                }
                CHECK_CONTAINS(log_out, "active (--max-active 3); waiting");
                CHECK_CONTAINS(log_out, "12 decisions created");
                CHECK(itest_wait_for(&t, 12, 60000,
                                     "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'slow2'"
                                     " AND state = 'SUCCEEDED'"));
        }

        /* SIGINT while throttled: stops cleanly, resumable; the same command
         * continues the same request (mode all: ticks it did are not done twice) */
        {
                char slow_to[32], *log;
                long long created;
                pid_t pid;
                int code;

                local(base + 22, slow_to, sizeof(slow_to));
                pid = itest_spawn(&t, "backfill-interrupted", "runfleet-producer", "backfill", "slow2", "--from", from,
                                  "--to", slow_to, "--mode", "all", "--max-active", "2", NULL);
                CHECK(itest_wait_for(&t, 1, 30000,
                                     "SELECT count(*) FROM runfleet.backfills WHERE mode = 'all' AND created >= 2"
                                     " AND 'slow2' = ANY (workflows)"));
                /* while it waits its request shows as being created */
                CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "status", NULL) == 0);
                CHECK_CONTAINS(out, "creating");
                /* and a second copy of the same request refuses to race it */
                CHECK(BACKFILL(&t, out, "slow2", "--from", from, "--to", slow_to, "--mode", "all") == 1);
                CHECK_CONTAINS(out, "is being created by another process");
                kill(pid, SIGINT);
                code = itest_wait(pid, 30000);
                CHECK(code == 1);
                log = itest_read_log(&t, pid);
                CHECK_CONTAINS(log ? log : "", "run the same command again to continue");
                free(log);
                created = itest_query_ll(&t, "SELECT created FROM runfleet.backfills WHERE mode = 'all'"
                                             " AND 'slow2' = ANY (workflows) AND finished_at IS NULL");
                printf("# interrupted after %lld of 12\n", created);
                CHECK(created >= 2 && created < 12);
                CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "status", NULL) == 0);
                CHECK_CONTAINS(out, "stopped");
                CHECK_CONTAINS(out, "backfills (latest first): 8");

                CHECK(BACKFILL(&t, out, "slow2", "--from", from, "--to", slow_to, "--mode", "all", "--max-active",
                               "2") == 0);
                CHECK_CONTAINS(out, "continuing");
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.backfills WHERE mode = 'all'"
                                         " AND 'slow2' = ANY (workflows)") == 1);
                CHECK(itest_query_ll(&t, "SELECT created FROM runfleet.backfills WHERE mode = 'all'"
                                         " AND 'slow2' = ANY (workflows) AND finished_at IS NOT NULL") == 12);
                /* each of the 12 ticks once in that request */
                CHECK(itest_query_ll(&t, "SELECT count(DISTINCT d.tick) FROM runfleet.decisions d"
                                         " JOIN runfleet.backfills b USING (backfill_id)"
                                         " WHERE b.mode = 'all' AND d.workflow = 'slow2'") == 12);
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions d"
                                         " JOIN runfleet.backfills b USING (backfill_id)"
                                         " WHERE b.mode = 'all' AND d.workflow = 'slow2'") == 12);
                CHECK(itest_wait_for(&t, 24, 90000,
                                     "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'slow2'"
                                     " AND state = 'SUCCEEDED'"));
        }

        /* status: the requests with their progress */
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "status", NULL) == 0);
        CHECK_CONTAINS(out, "backfills (latest first): 8");
        CHECK_CONTAINS(out, "PLANNED  CREATED  ACTIVE  SUCCEEDED");
        CHECK(!strstr(out, "stopped"));
        printf("%s", strstr(out, "backfills (latest first)") ? strstr(out, "backfills (latest first)") : out);
        /* against a running evaluator: backfills of a range ending now, run
         * while the evaluator decides the same workflow's new ticks, leave
         * every tick with exactly one decision of its own and no gap */
        {
                int64_t start = (rf_now_ms() / 1000 - 20) / 2 * 2, last = 0;
                char start_text[32], now_text[32];
                pid_t evaluator = itest_spawn(&t, "evaluator", "runfleet-producer", "evaluate", "--every", "2s", NULL);

                local(start, start_text, sizeof(start_text));
                itest_sleep_ms(2500);
                for (int i = 0; i < 3; i++) {
                        last = rf_now_ms() / 1000;
                        local(last, now_text, sizeof(now_text));
                        CHECK(BACKFILL(&t, out, "live2", "--from", start_text, "--to", now_text) == 0);
                        itest_sleep_ms(1700);
                }
                CHECK(itest_wait(evaluator, 0) < 0); /* still running */
                kill(evaluator, SIGTERM);
                CHECK(itest_wait(evaluator, 20000) == 0);
                CHECK(itest_query_ll(&t,
                                     "SELECT count(DISTINCT tick) FROM runfleet.decisions WHERE workflow = 'live2'"
                                     " AND tick BETWEEN to_timestamp(%lld) AND to_timestamp(%lld)",
                                     (long long)start, (long long)last) == (last - start) / 2 + 1);
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM (SELECT tick FROM runfleet.decisions"
                                         " WHERE workflow = 'live2' AND backfill_of IS NULL GROUP BY tick"
                                         " HAVING count(*) > 1) x") == 0);
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'live2'"
                                         " AND backfill_of IS NOT NULL") == 0);
                /* the evaluator decided some of them, the backfills the rest */
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'live2'"
                                         " AND backfill_id IS NULL") >= 1);
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'live2'"
                                         " AND backfill_id IS NOT NULL") >= 9);
                CHECK(itest_wait_for(&t, 0, 60000,
                                     "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'"
                                     " AND state NOT IN ('SUCCEEDED')"
                                     " AND decision_id NOT IN ('%s', '%s')",
                                     failed3, dead5));
        }

        /* nothing a backfill created is orphaned or unfinished */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE backfill_id IS NOT NULL"
                                 " AND state <> 'SUCCEEDED'") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.orphans") == 0);
        return itest_finish(&t);
}
