/* SPDX-License-Identifier: Apache-2.0 */
/* The incident's day (2026-01-20), replayed with the real programs and told
 * by `timeline` and `explain`. Three workflows in America/New_York, each
 * at most once a day: betting_lines (three scrapers), referee_discovery and
 * schedule_dependency (one each). At the first tick every scraper answers
 * HTTP 500 with the same body -- the shared defect -- and the reaper marks
 * the three decisions DEAD (reaper.max_failed_executions = 1); the scrapers are then
 * fixed; referee_discovery is triggered by hand, as at 13:30; the next tick
 * comes: betting_lines, whose only run today failed, is decided RUN again
 * and succeeds (the incident's "betting_lines never ran after its 1:05 PM
 * failure" cannot happen), referee_discovery SKIPs (already succeeded),
 * schedule_dependency runs. The timeline must group the five failed calls
 * as one cause across three workflows, show betting_lines re-decided and
 * succeeding, and no orphan; explain must give the reasons; the JSON
 * document must carry the same counts. Bad input exits 2. */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_util.h"

#define PERIOD_S 15
#define TZ "America/New_York"
#define BODY "Failed to load scraper: No module named 'scrapers.oddsapi.oddsa_events'"
#define BODY_Q "Failed%20to%20load%20scraper%3A%20No%20module%20named%20%27scrapers.oddsapi.oddsa_events%27"

static int count_in(const char *hay, const char *needle) {
        int n = 0;

        for (const char *p = hay; hay && (p = strstr(p, needle)); p++)
                n++;
        return n;
}

/* The local wall clock of unix second @p s as the timeline prints it. */
static void local_clock(itest_t *t, long long s, char *buf, size_t size) {
        char sql[256], errstr[256];
        PGresult *res = NULL;

        snprintf(sql, sizeof(sql), "SELECT to_char(to_timestamp(%lld) AT TIME ZONE '" TZ "', 'HH24:MI:SS')", s);
        buf[0] = '\0';
        if (rf_pg_exec(t->pg, sql, 0, NULL, &res, errstr, sizeof(errstr)) == 0 && PQntuples(res) == 1)
                snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
}

static void outage(itest_t *t, bool on) {
        char url[512];
        itest_reply_t r;

        snprintf(url, sizeof(url), "%s/outage?prefix=/timeline/%s", t->fake_url, on ? "&status=500&body=" BODY_Q : "");
        itest_http("POST", url, &r);
        CHECK(r.status == 200);
        free(r.body);
}

/* The workflow object named @p name in a timeline document. */
static json_t *workflow_of(json_t *doc, const char *name) {
        size_t i;
        json_t *w;

        json_array_foreach(json_object_get(doc, "workflows"), i, w) {
                if (strcmp(json_string_value(json_object_get(w, "workflow")), name) == 0)
                        return w;
        }
        return NULL;
}

/* Runs timeline --format json with @p extra options (up to 2) and parses it. */
static json_t *timeline_json(itest_t *t, char *out, size_t size, const char *a, const char *b) {
        json_error_t err;
        json_t *doc;
        const char *start;
        int code;

        code = itest_run(t, out, size, 60000, NULL, "runfleet-producer", "timeline", "--format", "json", a, b, NULL);
        CHECK(code == 0);
        start = strstr(out, "{\n");
        doc = start ? json_loads(start, 0, &err) : NULL;
        if (!doc)
                fprintf(stderr, "# timeline JSON did not parse (%s): %.2000s\n", start ? err.text : "no document", out);
        CHECK(doc != NULL);
        return doc;
}

int main(void) {
        static char out[262144], out2[262144];
        char t0_clock[16], t1_clock[16], line[256];
        long long minute, t0, t1;
        itest_t t;
        pid_t worker, evaluator;
        json_t *doc, *summary, *errors, *err0, *bl, *d;
        size_t i;

        itest_init(&t, "timeline");
        /* every run of the test must fall on one local day ("today") */
        minute = itest_query_ll(&t, "SELECT (extract(hour FROM now() AT TIME ZONE '" TZ "') * 60"
                                    " + extract(minute FROM now() AT TIME ZONE '" TZ "'))::bigint");
        if (minute > 1436) {
                printf("# waiting for local midnight to pass\n");
                itest_sleep_ms((1441 - (int)minute) * 60000);
        }
        itest_own_fake_scraper(&t);
        t.partitions = 3;
        itest_config(
                &t,
                "producer = { timezone = \"" TZ "\"; };\n"
                "scrapers = (\n"
                "  { name = \"oddsa_events\"; url = \"@FAKE@/timeline/oddsa_events\"; max_tries = 1; },\n"
                "  { name = \"oddsa_lines\"; url = \"@FAKE@/timeline/oddsa_lines\"; max_tries = 1; },\n"
                "  { name = \"player_props\"; url = \"@FAKE@/timeline/player_props\"; max_tries = 1; },\n"
                "  { name = \"referee_assignments\"; url = \"@FAKE@/timeline/referee_assignments\"; max_tries = 1; },\n"
                "  { name = \"nba_schedule\"; url = \"@FAKE@/timeline/nba_schedule\"; max_tries = 1; }\n"
                ");\n"
                "workflows = (\n"
                "  { name = \"betting_lines\"; schedule = \"@every %ds\"; max_runs_per_day = 1;\n"
                "    scrapers = [\"oddsa_events\", \"oddsa_lines\", \"player_props\"]; },\n"
                "  { name = \"referee_discovery\"; schedule = \"@every %ds\"; max_runs_per_day = 1;\n"
                "    scrapers = [\"referee_assignments\"]; },\n"
                "  { name = \"schedule_dependency\"; schedule = \"@every %ds\"; max_runs_per_day = 1;\n"
                "    scrapers = [\"nba_schedule\"]; },\n"
                "  { name = \"gappy\"; schedule = \"@every 1h\"; scrapers = [\"nba_schedule\"]; enabled = false; }\n"
                ");\n"
                "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                "reaper = { interval_ms = 300; max_failed_executions = 1; };\n",
                PERIOD_S, PERIOD_S, PERIOD_S);
        itest_migrate(&t);

        /* bad input: one line, exit 2, before any database work */
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "timeline", "--day", "2026-02-30",
                        NULL) == 2);
        CHECK_CONTAINS(out, "--day '2026-02-30' is not a date");
        CHECK(count_in(out, "\n") == 1);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "timeline", "--from",
                        "2026-01-20 14:00", "--to", "2026-01-20 13:00", NULL) == 2);
        CHECK_CONTAINS(out, "must be before --to");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "timeline", "--from", "noon", "--to",
                        "13:00", NULL) == 2);
        CHECK_CONTAINS(out, "--from 'noon' is not a time");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "timeline", "--workflow", "nope",
                        NULL) == 2);
        CHECK_CONTAINS(out, "unknown workflow 'nope'");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "timeline", "--format", "xml", NULL) ==
              2);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "explain", "nope", NULL) == 2);
        CHECK_CONTAINS(out, "unknown workflow 'nope'");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "explain", "betting_lines", "--day",
                        "20-01-2026", NULL) == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions") == 0);

        /* the shared defect: every scraper fails the same way */
        outage(&t, true);
        worker = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
        CHECK(itest_wait_assigned(&t, &worker, 1, t.partitions, 60000));

        /* the first tick: the evaluator starts just after a period boundary,
         * so its first evaluation decides that tick and no earlier one (it
         * looks back two of its periods: a slow start still finds the tick) */
        t0 = (rf_now_ms() / 1000 / PERIOD_S + 1) * PERIOD_S;
        itest_sleep_ms((int)(t0 * 1000 - rf_now_ms()) + 200);
        evaluator = itest_spawn(&t, "evaluator", "runfleet-producer", "evaluate", "--every", "2s", NULL);
        t1 = t0 + PERIOD_S;
        CHECK(itest_wait_for(&t, 3, 30000,
                             "SELECT count(*) FROM runfleet.decisions WHERE state = 'DEAD'"
                             " AND tick = to_timestamp(%lld)",
                             t0));
        /* still before the next tick, or the story below is another one */
        CHECK(rf_now_ms() < t1 * 1000);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE http_status = 500") == 5);

        /* the fix, then the manual trigger */
        outage(&t, false);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "trigger", "referee_discovery",
                        "--reason", "re-run after fix", NULL) == 0);
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'referee_discovery'"
                             " AND tick IS NULL AND state = 'SUCCEEDED'"));
        /* the next tick */
        CHECK(itest_wait_for(&t, 3, 60000, "SELECT count(*) FROM runfleet.decisions WHERE tick = to_timestamp(%lld)",
                             t1));
        CHECK(itest_wait_for(&t, 2, 30000,
                             "SELECT count(*) FROM runfleet.decisions WHERE tick = to_timestamp(%lld)"
                             " AND action = 'RUN' AND state = 'SUCCEEDED'",
                             t1));
        kill(evaluator, SIGTERM);
        CHECK(itest_wait(evaluator, 20000) == 0);
        CHECK(itest_invariant_violations(&t) == 0);
        local_clock(&t, t0, t0_clock, sizeof(t0_clock));
        local_clock(&t, t1, t1_clock, sizeof(t1_clock));

        /* ---- the story, as text */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "timeline", NULL) == 0);
        printf("%s", out);
        /* one cause, five calls, three workflows */
        CHECK(count_in(out, "HTTP 500 \"") == 1);
        CHECK_CONTAINS(out, "errors by cause: 1\n");
        CHECK_CONTAINS(out, "HTTP 500 \"Failed to load scraper \u2026 oddsa_events\" \u2014 5 calls, 3 workflows, ");
        /* each call shown with its status and first line */
        CHECK(count_in(out, "HTTP 500  ") == 5);
        CHECK(count_in(out, BODY) == 5);
        /* betting_lines: DEAD at the first tick, RUN again and SUCCEEDED at the next */
        snprintf(line, sizeof(line), "  %s  tick      RUN     DEAD       scheduled: tick ", t0_clock);
        CHECK(count_in(out, line) == 3);
        snprintf(line, sizeof(line), "  %s  tick      RUN     SUCCEEDED  scheduled: tick ", t1_clock);
        CHECK(count_in(out, line) == 2);
        CHECK_CONTAINS(out, "previous run today DEAD (decision ");
        CHECK_CONTAINS(out, "manual    RUN     SUCCEEDED  manual trigger: re-run after fix");
        snprintf(line, sizeof(line), "  %s  tick      SKIP    SKIPPED    already succeeded today at ", t1_clock);
        CHECK_CONTAINS(out, line);
        CHECK(count_in(out, "      reaper: DEAD at ") == 3);
        CHECK_CONTAINS(out, "  reliability    3 of 6 RUN decisions SUCCEEDED (50.0%)\n");
        CHECK_CONTAINS(out, "  orphans        0\n");
        CHECK_CONTAINS(out, "  DEAD           3\n");
        CHECK_CONTAINS(out, "  missed ticks   0\n");

        /* ---- the same, as a document */
        doc = timeline_json(&t, out2, sizeof(out2), NULL, NULL);
        summary = json_object_get(doc, "summary");
        errors = json_object_get(summary, "errors");
        CHECK(json_array_size(errors) == 1);
        err0 = json_array_get(errors, 0);
        CHECK(json_integer_value(json_object_get(err0, "calls")) == 5);
        CHECK(json_integer_value(json_object_get(err0, "workflow_count")) == 3);
        CHECK(json_integer_value(json_object_get(err0, "http_status")) == 500);
        CHECK_STR_EQ(json_string_value(json_object_get(err0, "message")), BODY);
        CHECK(json_integer_value(json_object_get(summary, "run")) == 6);
        CHECK(json_integer_value(json_object_get(summary, "succeeded")) == 3);
        CHECK(json_integer_value(json_object_get(summary, "dead")) == 3);
        CHECK(json_integer_value(json_object_get(summary, "orphans")) == 0);
        CHECK(json_integer_value(json_object_get(summary, "missed_ticks")) == 0);
        CHECK(json_real_value(json_object_get(summary, "reliability")) == 0.5);
        CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(summary, "durations"), "SUCCEEDED"),
                                                 "count")) == 3);
        bl = workflow_of(doc, "betting_lines");
        CHECK(bl != NULL);
        {
                int dead_first = 0, ok_next = 0;

                json_array_foreach(json_object_get(bl, "decisions"), i, d) {
                        const char *state = json_string_value(json_object_get(d, "state"));
                        json_t *ex = json_object_get(d, "executions");

                        if (strcmp(state, "DEAD") == 0 && json_array_size(ex) == 1 &&
                            json_array_size(json_object_get(json_array_get(ex, 0), "calls")) == 3 &&
                            json_is_true(json_object_get(json_object_get(d, "reaper"), "dead")))
                                dead_first = (int)i + 1;
                        if (strcmp(state, "SUCCEEDED") == 0 && dead_first > 0 &&
                            strcmp(json_string_value(json_object_get(d, "kind")), "tick") == 0 &&
                            strstr(json_string_value(json_object_get(d, "reason")), "previous run today DEAD"))
                                ok_next = 1;
                }
                CHECK(dead_first == 1);
                CHECK(ok_next == 1);
        }
        json_decref(doc);

        /* one workflow: its calls only */
        doc = timeline_json(&t, out2, sizeof(out2), "--workflow=betting_lines", NULL);
        err0 = json_array_get(json_object_get(json_object_get(doc, "summary"), "errors"), 0);
        CHECK(json_array_size(json_object_get(doc, "workflows")) == 1);
        CHECK(json_integer_value(json_object_get(err0, "calls")) == 3);
        CHECK(json_integer_value(json_object_get(err0, "workflow_count")) == 1);
        json_decref(doc);

        /* a range that ends as the manual trigger is decided: the failure alone */
        CHECK(itest_run(&t, out2, sizeof(out2), 30000, NULL, "runfleet-producer", "timeline", "--from", "00:00",
                        NULL) == 2);
        CHECK_CONTAINS(out2, "--from and --to go together");
        {
                char from[32], to[48];

                snprintf(from, sizeof(from), "@%lld", t0 - 1);
                rf_time_format(itest_query_ll(&t, "SELECT (extract(epoch FROM decided_at) * 1000)::bigint"
                                                  " FROM runfleet.decisions WHERE tick IS NULL"),
                               to, sizeof(to));
                CHECK(itest_run(&t, out2, sizeof(out2), 60000, NULL, "runfleet-producer", "timeline", "--format",
                                "json", "--from", from, "--to", to, NULL) == 0);
                doc = json_loads(strstr(out2, "{\n") ? strstr(out2, "{\n") : "", 0, NULL);
                CHECK(doc != NULL);
                summary = json_object_get(doc, "summary");
                CHECK(json_integer_value(json_object_get(summary, "run")) == 3);
                CHECK(json_integer_value(json_object_get(summary, "succeeded")) == 0);
                CHECK(json_real_value(json_object_get(summary, "reliability")) == 0.0);
                CHECK(json_integer_value(
                              json_object_get(json_array_get(json_object_get(summary, "errors"), 0), "calls")) == 5);
                json_decref(doc);
        }

        /* ---- why */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "explain", "betting_lines", NULL) == 0);
        printf("%s", out);
        snprintf(line, sizeof(line), "RUN at %s: scheduled: tick ", t0_clock);
        CHECK_CONTAINS(out, line);
        CHECK_CONTAINS(out, "  -> DEAD at ");
        CHECK_CONTAINS(out, "after 1 failed execution; last error ");
        CHECK_CONTAINS(out, ": HTTP 500 \"" BODY "\"\n");
        snprintf(line, sizeof(line), "RUN at %s: scheduled: tick ", t1_clock);
        CHECK_CONTAINS(out, line);
        CHECK_CONTAINS(out, "previous run today DEAD (decision ");
        CHECK_CONTAINS(out, "  -> SUCCEEDED at ");
        snprintf(line, sizeof(line), "named above (RUN at %s): DEAD at ", t0_clock);
        CHECK_CONTAINS(out, line);
        CHECK_CONTAINS(out, "0 ticks between them without a decision");

        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "explain", "referee_discovery", NULL) ==
              0);
        printf("%s", out);
        CHECK_CONTAINS(out, "RUN (manual) at ");
        CHECK_CONTAINS(out, ": manual trigger: re-run after fix\n  -> SUCCEEDED at ");
        snprintf(line, sizeof(line), "SKIP at %s: already succeeded today at ", t1_clock);
        CHECK_CONTAINS(out, line);
        CHECK_CONTAINS(out, "  -> nothing ran\n     decision ");
        CHECK_CONTAINS(out, "named above (RUN (manual) at ");

        /* ticks nobody decided, and a MISSED one: hourly ticks 5, 4 and 1
         * hours back were decided (today), the two between them were not */
        CHECK(itest_query_ll(&t, "WITH ins AS (INSERT INTO runfleet.decisions (decision_id, workflow, action, reason,"
                                 " tick, scrapers, state, trace_id)"
                                 " SELECT gen_random_uuid(), 'gappy', a, r, date_trunc('hour', now()) - h,"
                                 " '{nba_schedule}', 'SKIPPED', 't' FROM (VALUES"
                                 " ('SKIP', 'workflow disabled', interval '5 hours'),"
                                 " ('MISSED', 'missed while no evaluator ran', interval '4 hours'),"
                                 " ('SKIP', 'workflow disabled', interval '1 hour')) v(a, r, h)"
                                 " RETURNING 1) SELECT count(*) FROM ins") == 3);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "explain", "gappy", NULL) == 0);
        printf("%s", out);
        CHECK_CONTAINS(out, "-- disabled in the configuration");
        CHECK_CONTAINS(out, ": missed while no evaluator ran\n  -> nothing ran\n");
        CHECK(count_in(out, "NO DECISION for 2 ticks, ") == 1);
        CHECK_CONTAINS(out, "1 MISSED; 2 ticks between them without a decision");
        doc = timeline_json(&t, out2, sizeof(out2), "--workflow", "gappy");
        CHECK(json_integer_value(json_object_get(json_object_get(doc, "summary"), "missed_ticks")) == 1);
        json_decref(doc);

        /* what the reaper and operators did, as their rows record it: a
         * decision re-produced after its first execution's lease ran out, a
         * cancelled one, a pause, a backfill, a replay and a redrive */
        CHECK(itest_query_ll(&t,
                             "WITH d AS (INSERT INTO runfleet.decisions (decision_id, workflow, action, reason,"
                             " scrapers, attempt, state, trace_id) VALUES"
                             " ('00000000-0000-4000-8000-0000000000a1', 'gappy', 'RUN', 'manual trigger', '{s}', 2,"
                             "  'SUCCEEDED', 't'),"
                             " ('00000000-0000-4000-8000-0000000000a2', 'gappy', 'RUN', 'manual trigger', '{s}', 1,"
                             "  'PENDING', 't') RETURNING 1),"
                             " e AS (INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id,"
                             " status, started_at, heartbeat_at, lease_until, finished_at, error) VALUES"
                             " (gen_random_uuid(), '00000000-0000-4000-8000-0000000000a1', 1, 'w-gone', 'ABANDONED',"
                             "  now() - interval '50 s', now() - interval '40 s', now() - interval '35 s', now(),"
                             "  'lease expired (worker w-gone)'),"
                             " (gen_random_uuid(), '00000000-0000-4000-8000-0000000000a1', 2, 'w-2', 'SUCCEEDED',"
                             "  now() - interval '20 s', now(), now(), now() - interval '18 s', NULL) RETURNING 1)"
                             " SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM e)") == 4);
        CHECK(itest_query_ll(&t,
                             "WITH c AS (UPDATE runfleet.decisions SET state = 'CANCELLED', cancelled_by = 'alice',"
                             " cancel_reason = 'wrong day' WHERE decision_id = '00000000-0000-4000-8000-0000000000a2'"
                             " RETURNING 1),"
                             " p AS (INSERT INTO runfleet.pauses (workflow, paused_at, paused_by, reason, unpaused_at,"
                             " unpaused_by) VALUES ('gappy', now() - interval '30 s', 'alice', 'upstream API down',"
                             " now() - interval '10 s', 'bob') RETURNING 1),"
                             " b AS (INSERT INTO runfleet.backfills (backfill_id, workflows, from_ts, to_ts, mode,"
                             " requested_by, planned, created) VALUES (gen_random_uuid(), '{gappy}',"
                             " now() - interval '1 day', now() - interval '20 hours', 'failed', 'carol', 4, 4)"
                             " RETURNING 1),"
                             " r AS (INSERT INTO runfleet.replays (replay_id, from_ts, to_ts, workflows, requested_by,"
                             " decisions) VALUES (gen_random_uuid(), now() - interval '2 hours',"
                             " now() - interval '1 hour', '{}', 'dave', 2) RETURNING 1),"
                             " x AS (INSERT INTO runfleet.dlq_redrives (dlq_topic, dlq_partition, dlq_offset,"
                             " decision_id, attempt, topic, redriven_by) VALUES ('dlq', 0, 7,"
                             " '00000000-0000-4000-8000-0000000000a1', 1, 'topic', 'erin') RETURNING 1)"
                             " SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM p) + (SELECT count(*) FROM b)"
                             " + (SELECT count(*) FROM r) + (SELECT count(*) FROM x)") == 5);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "timeline", "--workflow", "gappy",
                        NULL) == 0);
        printf("%s", out);
        CHECK_CONTAINS(out, "      reaper: re-produced 1 time, abandoned 1 execution (lease expired)\n");
        CHECK_CONTAINS(out, "      attempt 1  ");
        CHECK_CONTAINS(out, "ABANDONED  worker w-gone  lease expired (worker w-gone)\n");
        CHECK_CONTAINS(out, "      cancelled at ");
        CHECK_CONTAINS(out, " by alice: wrong day\n");
        CHECK_CONTAINS(out, "events: 5\n");
        CHECK_CONTAINS(out, "PAUSE     gappy                 paused by alice: upstream API down\n");
        CHECK_CONTAINS(out, "UNPAUSE   gappy                 unpaused by bob (paused since ");
        CHECK_CONTAINS(out, "BACKFILL  gappy                 backfill ");
        CHECK_CONTAINS(out, " by carol: --mode failed, ticks ");
        CHECK_CONTAINS(out, "REPLAY    (all workflows)       replay ");
        CHECK_CONTAINS(out, "REDRIVE   gappy                 dead letter 0:7 produced again by erin");
        /* the abandoned execution ran 10 s (to its last renewal), not 50 */
        CHECK_CONTAINS(out, "durations      SUCCEEDED avg 2.0s (1), ABANDONED avg 10.0s (1)\n");
        CHECK_CONTAINS(out, "ABANDONED \"lease expired (worker w-gone)\" \u2014 1 execution, 1 workflow, ");
        CHECK_CONTAINS(out, "re-produced 1 decision (1 time), abandoned 1 execution, 0 DEAD\n");
        return itest_finish(&t);
}
