/* SPDX-License-Identifier: Apache-2.0 */
/* The catch-up planner (producer/catchup.c) without a database: which ticks
 * of a gap are decided, SKIPped or MISSED under each policy, the window,
 * the bound on rows per gap, a workflow never decided before, and the tick
 * arithmetic across both DST changes in America/New_York. */
#include <stdlib.h>
#include <string.h>

#include "catchup.h"
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

static rf_workflow_conf_t wf(const char *schedule, rf_catchup_t policy, const char *window) {
        rf_workflow_conf_t w = { .name = "w", .enabled = true, .catchup_policy = policy };
        char why[256];

        if (rf_cron_parse(schedule, &w.cron, why, sizeof(why)) < 0 ||
            rf_duration_parse(window, &w.catchup_window_ms) < 0)
                abort();
        return w;
}

/* The plan as text, one letter per tick: D decide, S skip, M missed, B the
 * summary row beyond the bound; e.g. "MMSSD". */
static const char *shape(const catchup_plan_t *p) {
        static char buf[64];
        size_t n = 0;

        for (size_t i = 0; i < p->count && n + 1 < sizeof(buf); i++)
                buf[n++] = p->ticks[i].summary                    ? 'B'
                           : p->ticks[i].action == CATCHUP_DECIDE ? 'D'
                           : p->ticks[i].action == CATCHUP_SKIP   ? 'S'
                                                                  : 'M';
        buf[n] = 0;
        return buf;
}

/* Fall back: 2026-11-01 01:00 happens twice in New York; an hourly cron
 * fires once, at the first. After the 00:00 EDT tick the gap up to 04:00
 * EST holds 01:00 EDT, 02:00, 03:00 and 04:00 EST: four ticks, not five. */
static void test_fall_back(void) {
        rf_workflow_conf_t w = wf("0 * * * *", RF_CATCHUP_ALL, "1d");
        catchup_plan_t p;

        CHECK(catchup_plan(&w, NY, at("2026-11-01T04:00:00Z"), at("2026-11-01T09:00:30Z"), 60000, 1000, &p) == 0);
        CHECK_STR_EQ(shape(&p), "DDDD");
        CHECK(p.count == 4 && p.missed == 3);
        CHECK(p.ticks[0].tick_ms == at("2026-11-01T05:00:00Z"));
        CHECK(p.ticks[1].tick_ms == at("2026-11-01T07:00:00Z"));
        CHECK(p.ticks[3].tick_ms == at("2026-11-01T09:00:00Z"));
        /* local times, and the policy, in the reason */
        CHECK_CONTAINS(p.skip_reason, "missed while no evaluator ran, 01:00–03:00; catch-up policy all");
        free(p.ticks);

        /* latest: the newest tick is on time, so every missed one is SKIP */
        w.catchup_policy = RF_CATCHUP_LATEST;
        CHECK(catchup_plan(&w, NY, at("2026-11-01T04:00:00Z"), at("2026-11-01T09:00:30Z"), 60000, 1000, &p) == 0);
        CHECK_STR_EQ(shape(&p), "SSSD");
        free(p.ticks);
        /* 30 minutes later every tick of the gap was missed: latest decides the newest */
        CHECK(catchup_plan(&w, NY, at("2026-11-01T04:00:00Z"), at("2026-11-01T09:30:00Z"), 60000, 1000, &p) == 0);
        CHECK_STR_EQ(shape(&p), "SSSD");
        CHECK(p.missed == 4);
        CHECK_CONTAINS(p.skip_reason, "catch-up policy latest: only the newest tick is decided");
        free(p.ticks);
        w.catchup_policy = RF_CATCHUP_NONE;
        CHECK(catchup_plan(&w, NY, at("2026-11-01T04:00:00Z"), at("2026-11-01T09:30:00Z"), 60000, 1000, &p) == 0);
        CHECK_STR_EQ(shape(&p), "SSSS");
        free(p.ticks);
        rf_cron_destroy(w.cron);
}

/* Spring forward: 2026-03-08 02:30 does not exist in New York; a daily
 * 02:30 job has no tick that day. */
static void test_spring_forward(void) {
        rf_workflow_conf_t w = wf("30 2 * * *", RF_CATCHUP_ALL, "7d");
        catchup_plan_t p;

        CHECK(catchup_plan(&w, NY, at("2026-03-07T07:30:00Z"), at("2026-03-10T07:00:00Z"), 60000, 1000, &p) == 0);
        CHECK_STR_EQ(shape(&p), "DD");
        CHECK(p.ticks[0].tick_ms == at("2026-03-09T06:30:00Z")); /* 02:30 EDT */
        CHECK(p.ticks[1].tick_ms == at("2026-03-10T06:30:00Z"));
        free(p.ticks);
        rf_cron_destroy(w.cron);
}

/* "@every 2s", down for 20 s, window 7 s, lookback 4 s: ticks older than
 * the window are MISSED whatever the policy; the two on-time ticks are
 * decided whatever the policy. */
static void test_window_and_policies(void) {
        int64_t last = at("2026-06-15T12:00:00Z"), now = last + 20300;
        const char *want[] = {
                [RF_CATCHUP_ALL] = "MMMMMMDDDD", [RF_CATCHUP_LATEST] = "MMMMMMSSDD", [RF_CATCHUP_NONE] = "MMMMMMSSDD"
        };

        for (int policy = RF_CATCHUP_LATEST; policy <= RF_CATCHUP_NONE; policy++) {
                rf_workflow_conf_t w = wf("@every 2s", (rf_catchup_t)policy, "7s");
                catchup_plan_t p;

                CHECK(catchup_plan(&w, "UTC", last, now, 4000, 1000, &p) == 0);
                CHECK_STR_EQ(shape(&p), want[policy]);
                CHECK(p.missed == 8);
                CHECK_CONTAINS(p.missed_reason, "missed while no evaluator ran, 12:00:02–12:00:16; older than the "
                                                "catch-up window (7s), not run");
                free(p.ticks);
                rf_cron_destroy(w.cron);
        }
}

/* A gap longer than catchup_max_ticks: the newest ticks get a row each,
 * one MISSED row at the gap's first tick stands for the older ones. */
static void test_bound(void) {
        rf_workflow_conf_t w = wf("@every 1s", RF_CATCHUP_ALL, "1d");
        int64_t last = at("2026-06-15T12:00:00Z");
        catchup_plan_t p;

        CHECK(catchup_plan(&w, "UTC", last, last + 100500, 1000, 10, &p) == 0);
        CHECK_STR_EQ(shape(&p), "BDDDDDDDDDD");
        CHECK(p.ticks[0].tick_ms == last + 1000);
        CHECK(p.ticks[1].tick_ms == last + 91000);
        CHECK(p.ticks[10].tick_ms == last + 100000);
        CHECK_CONTAINS(p.bound_reason, "more than 10 ticks (producer.catchup_max_ticks): this row stands for every "
                                       "tick from 12:00:01–12:01:30");
        free(p.ticks);
        /* exactly the bound: no summary */
        CHECK(catchup_plan(&w, "UTC", last, last + 10500, 1000, 10, &p) == 0);
        CHECK_STR_EQ(shape(&p), "DDDDDDDDDD");
        free(p.ticks);
        rf_cron_destroy(w.cron);
}

/* Never decided: history starts now, with the newest tick if on time. */
static void test_first_evaluation(void) {
        rf_workflow_conf_t w = wf("0 * * * *", RF_CATCHUP_ALL, "1d");
        catchup_plan_t p;

        CHECK(catchup_plan(&w, NY, -1, at("2026-06-15T12:00:20Z"), 60000, 1000, &p) == 0);
        CHECK_STR_EQ(shape(&p), "D");
        free(p.ticks);
        CHECK(catchup_plan(&w, NY, -1, at("2026-06-15T12:30:00Z"), 60000, 1000, &p) == 0);
        CHECK(p.count == 0 && p.ticks == NULL);
        /* nothing new since the last decided tick */
        CHECK(catchup_plan(&w, NY, at("2026-06-15T12:00:00Z"), at("2026-06-15T12:30:00Z"), 60000, 1000, &p) == 0);
        CHECK(p.count == 0);
        free(p.ticks);
        CHECK(catchup_plan(&w, "Not/AZone", 0, at("2026-06-15T12:30:00Z"), 60000, 1000, &p) < 0);
        rf_cron_destroy(w.cron);
}

int main(void) {
        test_fall_back();
        test_spring_forward();
        test_window_and_policies();
        test_bound();
        test_first_evaluation();
        return rf_test_finish();
}
