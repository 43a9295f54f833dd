/* SPDX-License-Identifier: Apache-2.0 */
/* The evaluator's rules (producer/policy.c) without a database: windows,
 * max_runs_per_day, "after" dependencies, the failed-morning-run case,
 * local days across midnight and both DST changes in America/New_York,
 * pauses, and the overlap policies. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "rf_test.h"
#include "rf_util.h"

#define NY "America/New_York"

static int64_t at(const char *iso) {
        int64_t ms = 0;

        if (rf_time_parse(iso, &ms) < 0) {
                fprintf(stderr, "bad time in test: %s\n", iso);
                abort();
        }
        return ms;
}

static rf_workflow_conf_t wf(const char *name, const char *window, int max_runs, char **after, size_t after_count) {
        rf_workflow_conf_t w = { .name = (char *)name,
                                 .enabled = true,
                                 .window = (char *)window,
                                 .window_start_min = -1,
                                 .window_end_min = -1,
                                 .max_runs_per_day = max_runs,
                                 .after = after,
                                 .after_count = after_count };

        if (window && rf_conf_window_parse(window, &w.window_start_min, &w.window_end_min) < 0)
                abort();
        return w;
}

static rf_decision_state_t state_of(const char *name) {
        rf_decision_state_t s;

        if (rf_decision_state_from_name(name, &s) < 0)
                abort();
        return s;
}

static policy_run_t run(const char *workflow, const char *id, const char *when, const char *state,
                        const char *state_at) {
        return (policy_run_t){ .workflow = workflow,
                               .decision_id = id,
                               .at_ms = at(when),
                               .state_at_ms = at(state_at ? state_at : when),
                               .state = state_of(state) };
}

/* Decides (paused by @p pause, or NULL) and checks the verdict: @p want_run,
 * a reason containing @p want, and the decision it waits for ("" = none). */
#define EXPECT_FULL(w, tz, tick, runs, n, pause, want_run, want, want_wait)                                            \
        do {                                                                                                           \
                policy_verdict_t v_ = { .run = !(want_run), .wait_for = "x" };                                         \
                CHECK(policy_decide((w), (tz), at(tick), (runs), (n), (pause), &v_) == 0);                             \
                CHECK(v_.run == (want_run));                                                                           \
                CHECK_CONTAINS(v_.reason, (want));                                                                     \
                CHECK_STR_EQ(v_.wait_for, (want_wait));                                                                \
        } while (0)
#define EXPECT(w, tz, tick, runs, n, want_run, want) EXPECT_FULL(w, tz, tick, runs, n, NULL, want_run, want, "")

static void test_window(void) {
        rf_workflow_conf_t w = wf("betting_lines", "12:00-18:00", 0, NULL, 0);
        rf_workflow_conf_t night = wf("night", "22:00-02:00", 0, NULL, 0);

        /* local time, not UTC: 11:00 EDT is 15:00Z */
        EXPECT(&w, NY, "2026-06-15T11:00:00-04:00", NULL, 0, false, "outside window 12:00-18:00 (tick 11:00 " NY ")");
        EXPECT(&w, NY, "2026-06-15T12:00:00-04:00", NULL, 0, true, "scheduled: tick 12:00 " NY);
        EXPECT(&w, NY, "2026-06-15T17:59:00-04:00", NULL, 0, true, "scheduled");
        EXPECT(&w, NY, "2026-06-15T18:00:00-04:00", NULL, 0, false, "outside window 12:00-18:00");
        /* in winter the same window is an hour later in UTC */
        EXPECT(&w, NY, "2026-01-15T17:30:00Z", NULL, 0, true, "tick 12:30");
        EXPECT(&w, NY, "2026-01-15T16:30:00Z", NULL, 0, false, "outside window");
        EXPECT(&w, "UTC", "2026-01-15T16:30:00Z", NULL, 0, true, "tick 16:30 UTC");

        /* a window across midnight */
        EXPECT(&night, NY, "2026-06-15T23:00:00-04:00", NULL, 0, true, "scheduled");
        EXPECT(&night, NY, "2026-06-16T01:00:00-04:00", NULL, 0, true, "scheduled");
        EXPECT(&night, NY, "2026-06-16T02:00:00-04:00", NULL, 0, false, "outside window 22:00-02:00");
        EXPECT(&night, NY, "2026-06-15T21:59:00-04:00", NULL, 0, false, "outside window");
}

static void test_failed_morning_run(void) {
        rf_workflow_conf_t w = wf("referee_discovery", NULL, 1, NULL, 0);
        policy_run_t failed[] = { run("referee_discovery", "0193aaaa-1111-7000-8000-00000000aaaa",
                                      "2026-06-15T09:00:00-04:00", "FAILED", "2026-06-15T09:01:00-04:00") };
        policy_run_t dead[] = { run("referee_discovery", "bbbbbbbb-2222", "2026-06-15T09:00:00-04:00", "DEAD",
                                    "2026-06-15T09:20:00-04:00") };
        policy_run_t ok[] = { run("referee_discovery", "cccccccc-3333", "2026-06-15T13:00:00-04:00", "SUCCEEDED",
                                  "2026-06-15T13:30:00-04:00") };
        policy_run_t busy[] = { run("referee_discovery", "0193dddd-4444-7000-8000-00000000dddd",
                                    "2026-06-15T09:00:00-04:00", "RUNNING", NULL) };

        /* the regression: a failed (or dead) morning run is not "already ran today" */
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", failed, 1, true,
               "previous run today FAILED (decision 0000aaaa, 09:00) does not count, running again");
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", dead, 1, true, "previous run today DEAD");
        /* a success does count, and says when */
        EXPECT(&w, NY, "2026-06-15T14:00:00-04:00", ok, 1, false, "already succeeded today at 13:30");
        /* so does a run still in progress: no second run on top of it */
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", busy, 1, false,
               "run in progress since 09:00 (decision 0000dddd, RUNNING)");
        busy[0].state = RF_DECISION_PENDING;
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", busy, 1, false, "PENDING");
}

static void test_max_runs(void) {
        rf_workflow_conf_t w = wf("w", NULL, 2, NULL, 0);
        rf_workflow_conf_t unlimited = wf("w", NULL, 0, NULL, 0);
        policy_run_t two[] = { run("w", "1", "2026-06-15T08:00:00-04:00", "SUCCEEDED", NULL),
                               run("w", "2", "2026-06-15T09:00:00-04:00", "RUNNING", NULL),
                               run("other", "3", "2026-06-15T09:00:00-04:00", "SUCCEEDED", NULL) };
        policy_run_t one_failed[] = { run("w", "1", "2026-06-15T08:00:00-04:00", "SUCCEEDED", NULL),
                                      run("w", "2", "2026-06-15T09:00:00-04:00", "FAILED", NULL) };
        policy_run_t replayed[] = { run("w", "1", "2026-06-15T08:00:00-04:00", "SUCCEEDED", NULL),
                                    run("w", "2", "2026-06-15T09:00:00-04:00", "SUCCEEDED", NULL) };

        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", two, 3, false,
               "max_runs_per_day (2) reached: 1 succeeded, 1 in progress today");
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", one_failed, 2, true, "previous run today FAILED");
        /* no limit, but run 2 is still RUNNING: the overlap policy (skip by default) has the say */
        EXPECT(&unlimited, NY, "2026-06-15T10:00:00-04:00", two, 3, false,
               "previous run still in progress: decision 2");
        unlimited.overlap = RF_OVERLAP_ALLOW;
        EXPECT(&unlimited, NY, "2026-06-15T10:00:00-04:00", two, 3, true, "scheduled");
        /* replays re-run the past; they do not use up today's runs */
        replayed[1].replay = true;
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", replayed, 2, true, "scheduled");
        /* another workflow's runs are not ours (run 2 is in flight: allowed here) */
        two[0].workflow = "other";
        w.overlap = RF_OVERLAP_ALLOW;
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", two, 3, true, "scheduled");
}

static void test_dependencies(void) {
        char *deps[] = { "schedule_dependency" };
        rf_workflow_conf_t w = wf("betting_lines", "12:00-18:00", 1, deps, 1);
        policy_run_t none[] = { run("betting_lines", "x", "2026-06-14T13:00:00-04:00", "SUCCEEDED", NULL) };
        policy_run_t yesterday[] = { run("schedule_dependency", "y", "2026-06-14T11:00:00-04:00", "SUCCEEDED", NULL) };
        policy_run_t running[] = { run("schedule_dependency", "y", "2026-06-15T11:00:00-04:00", "RUNNING", NULL) };
        policy_run_t failed[] = { run("schedule_dependency", "y", "2026-06-15T11:00:00-04:00", "FAILED", NULL) };
        policy_run_t done[] = { run("schedule_dependency", "y", "2026-06-15T11:00:00-04:00", "SUCCEEDED",
                                    "2026-06-15T11:05:00-04:00") };

        EXPECT(&w, NY, "2026-06-15T12:00:00-04:00", none, 1, false,
               "waiting for schedule_dependency (no run today yet)");
        EXPECT(&w, NY, "2026-06-15T12:00:00-04:00", yesterday, 1, false, "waiting for schedule_dependency");
        EXPECT(&w, NY, "2026-06-15T12:00:00-04:00", running, 1, false, "its run today is still in progress");
        EXPECT(&w, NY, "2026-06-15T12:00:00-04:00", failed, 1, false, "its runs today failed");
        EXPECT(&w, NY, "2026-06-15T12:00:00-04:00", done, 1, true, "; schedule_dependency succeeded at 11:05");
        /* the window is checked first: a dependency does not open it */
        EXPECT(&w, NY, "2026-06-15T11:00:00-04:00", done, 1, false, "outside window");
}

static void test_midnight(void) {
        rf_workflow_conf_t w = wf("w", NULL, 1, NULL, 0);
        /* 23:30 EDT on the 15th is 03:30Z on the 16th: the same UTC day as the
         * 00:00 EDT tick, yet yesterday in New York */
        policy_run_t late[] = { run("w", "1", "2026-06-15T23:30:00-04:00", "SUCCEEDED", NULL) };
        /* 19:30 EDT (23:30Z) and a 21:00 EDT tick (01:00Z next day): different UTC days, same local day */
        policy_run_t evening[] = { run("w", "2", "2026-06-15T19:30:00-04:00", "SUCCEEDED", NULL) };

        EXPECT(&w, NY, "2026-06-16T00:00:00-04:00", late, 1, true, "scheduled: tick 00:00");
        EXPECT(&w, NY, "2026-06-15T23:59:00-04:00", late, 1, false, "already succeeded today at 23:30");
        EXPECT(&w, NY, "2026-06-15T21:00:00-04:00", evening, 1, false, "already succeeded today at 19:30");
        EXPECT(&w, "UTC", "2026-06-16T01:00:00Z", evening, 1, true, "scheduled");
}

static void test_dst(void) {
        rf_workflow_conf_t w = wf("w", NULL, 1, NULL, 0);
        rf_workflow_conf_t gap = wf("gap", "02:00-03:00", 0, NULL, 0);
        rf_workflow_conf_t twice = wf("twice", "01:00-02:00", 0, NULL, 0);
        /* spring forward, 2026-03-08 02:00 EST -> 03:00 EDT: a 23-hour day */
        policy_run_t spring[] = { run("w", "1", "2026-03-08T00:30:00-05:00", "SUCCEEDED", NULL) };
        /* fall back, 2026-11-01 02:00 EDT -> 01:00 EST: a 25-hour day */
        policy_run_t fall[] = { run("w", "2", "2026-11-01T01:30:00-04:00", "SUCCEEDED", NULL) };

        EXPECT(&w, NY, "2026-03-08T23:30:00-04:00", spring, 1, false, "already succeeded today at 00:30");
        EXPECT(&w, NY, "2026-03-09T00:00:00-04:00", spring, 1, true, "tick 00:00");
        EXPECT(&w, NY, "2026-03-08T03:00:00-04:00", spring, 1, false, "already succeeded");
        /* 02:00-03:00 does not exist that day: no tick is inside it */
        EXPECT(&gap, NY, "2026-03-08T01:59:00-05:00", NULL, 0, false, "outside window 02:00-03:00 (tick 01:59");
        EXPECT(&gap, NY, "2026-03-08T03:00:00-04:00", NULL, 0, false, "outside window 02:00-03:00 (tick 03:00");
        EXPECT(&gap, NY, "2026-03-09T02:30:00-04:00", NULL, 0, true, "tick 02:30");

        /* the repeated 01:30 is the same day, and both are inside 01:00-02:00 */
        EXPECT(&w, NY, "2026-11-01T01:30:00-05:00", fall, 1, false, "already succeeded today at 01:30");
        EXPECT(&w, NY, "2026-11-01T23:30:00-05:00", fall, 1, false, "already succeeded"); /* 23 h later, same day */
        EXPECT(&w, NY, "2026-11-02T00:00:00-05:00", fall, 1, true, "scheduled");
        EXPECT(&twice, NY, "2026-11-01T01:30:00-04:00", NULL, 0, true, "tick 01:30");
        EXPECT(&twice, NY, "2026-11-01T01:30:00-05:00", NULL, 0, true, "tick 01:30");
        EXPECT(&twice, NY, "2026-11-01T02:00:00-05:00", NULL, 0, false, "outside window");
}

static void test_disabled_and_errors(void) {
        rf_workflow_conf_t w = wf("w", "12:00-18:00", 0, NULL, 0);
        policy_verdict_t v;

        w.enabled = false;
        EXPECT(&w, NY, "2026-06-15T13:00:00-04:00", NULL, 0, false, "workflow disabled (tick 13:00 " NY ")");
        w.enabled = true;
        CHECK(policy_decide(&w, "Not/AZone", at("2026-06-15T13:00:00Z"), NULL, 0, NULL, &v) == -EINVAL);
}

static void test_pause(void) {
        rf_workflow_conf_t w = wf("w", "12:00-18:00", 1, NULL, 0);
        policy_pause_t p = { .by = "alice", .since_ms = at("2026-06-15T09:15:00-04:00"), .reason = "scraper fix" };
        policy_pause_t auto_p = { .by = "runfleet-reaper",
                                  .since_ms = at("2026-06-14T22:05:00-04:00"),
                                  .reason = "3 DEAD decisions in a row (pause_after_failures = 3)",
                                  .automatic = true };

        /* every tick while paused is a SKIP saying who, since when (local) and why */
        EXPECT_FULL(&w, NY, "2026-06-15T13:00:00-04:00", NULL, 0, &p, false,
                    "paused by alice since 09:15: scraper fix (tick 13:00 " NY ")", "");
        /* the pause comes before the window */
        EXPECT_FULL(&w, NY, "2026-06-15T11:00:00-04:00", NULL, 0, &p, false, "paused by alice", "");
        /* a pause from another local day gives its date */
        EXPECT_FULL(&w, NY, "2026-06-15T13:00:00-04:00", NULL, 0, &auto_p, false,
                    "paused by runfleet-reaper since 2026-06-14 22:05: 3 DEAD decisions in a row", "");
        /* not paused: runs */
        EXPECT_FULL(&w, NY, "2026-06-15T13:00:00-04:00", NULL, 0, NULL, true, "scheduled", "");
        /* a disabled workflow says so first */
        w.enabled = false;
        EXPECT_FULL(&w, NY, "2026-06-15T13:00:00-04:00", NULL, 0, &p, false, "workflow disabled", "");
}

static void test_overlap(void) {
        rf_workflow_conf_t w = wf("w", NULL, 0, NULL, 0);
        /* yesterday's run still RUNNING: in flight whatever its day */
        policy_run_t running[] = {
                run("w", "11111111-aaaa-4aaa-8aaa-000000000001", "2026-06-14T23:00:00-04:00", "RUNNING", NULL),
                run("w", "11111111-aaaa-4aaa-8aaa-000000000000", "2026-06-14T22:00:00-04:00", "SUCCEEDED", NULL),
                run("other", "22222222-aaaa-4aaa-8aaa-000000000000", "2026-06-15T09:00:00-04:00", "RUNNING", NULL),
        };
        policy_run_t waiting[] = {
                run("w", "11111111-aaaa-4aaa-8aaa-000000000001", "2026-06-15T09:00:00-04:00", "RUNNING", NULL),
                run("w", "11111111-aaaa-4aaa-8aaa-000000000002", "2026-06-15T09:01:00-04:00", "PENDING", NULL),
        };
        policy_run_t failed[] = {
                run("w", "11111111-aaaa-4aaa-8aaa-000000000001", "2026-06-15T09:00:00-04:00", "FAILED", NULL),
        };

        waiting[1].waiting = true;
        /* skip, the default: SKIP naming the decision in flight */
        CHECK(w.overlap == RF_OVERLAP_SKIP);
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", running, 3, false,
               "previous run still in progress: decision 11111111-aaaa-4aaa-8aaa-000000000001 (RUNNING, tick "
               "2026-06-14 23:00); overlap skip");
        running[0].state = RF_DECISION_PENDING;
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", running, 3, false, "(PENDING, tick 2026-06-14 23:00)");
        /* nothing of w in flight: another workflow's run and a FAILED one do not hold it back */
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", running + 1, 2, true, "scheduled: tick 10:00");
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", failed, 1, true, "scheduled");

        /* buffer_one: one RUN waits for the run in flight, later ticks SKIP naming the waiting one */
        w.overlap = RF_OVERLAP_BUFFER_ONE;
        EXPECT_FULL(&w, NY, "2026-06-15T10:00:00-04:00", running, 3, NULL, true,
                    "scheduled: tick 10:00 " NY "; waits for decision 11111111-aaaa-4aaa-8aaa-000000000001 (PENDING, "
                    "tick 2026-06-14 23:00) to end; overlap buffer_one",
                    "11111111-aaaa-4aaa-8aaa-000000000001");
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", waiting, 2, false,
               "decision 11111111-aaaa-4aaa-8aaa-000000000002 (tick 09:01) is already waiting for the run in "
               "progress; overlap buffer_one");
        /* the run it waited for ended, the reaper has not released it yet: still the one */
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", waiting + 1, 1, false, "is already waiting");
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", failed, 1, true, "scheduled");

        /* allow: RUN alongside, and the reason says so */
        w.overlap = RF_OVERLAP_ALLOW;
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", running, 3, true,
               "scheduled: tick 10:00 " NY "; decision 11111111-aaaa-4aaa-8aaa-000000000001 (PENDING, tick "
               "2026-06-14 23:00) still in progress; overlap allow");

        /* a CANCELLED run is neither in flight nor a run of the day */
        {
                rf_workflow_conf_t once = wf("w", NULL, 1, NULL, 0);
                policy_run_t cancelled[] = { run("w", "c", "2026-06-15T09:00:00-04:00", "CANCELLED", NULL) };

                EXPECT(&once, NY, "2026-06-15T10:00:00-04:00", cancelled, 1, true, "scheduled: tick 10:00");
        }

        /* the other rules come first: a paused or windowed-out tick is not an overlap */
        w.overlap = RF_OVERLAP_SKIP;
        w.max_runs_per_day = 1;
        EXPECT(&w, NY, "2026-06-15T10:00:00-04:00", waiting, 2, false, "run in progress since 09:01");
}

int main(void) {
        test_window();
        test_failed_morning_run();
        test_max_runs();
        test_dependencies();
        test_midnight();
        test_dst();
        test_disabled_and_errors();
        test_pause();
        test_overlap();
        return rf_test_finish();
}
