/* SPDX-License-Identifier: Apache-2.0 */
/* The evaluator's rules; see policy.h. Days are local calendar days in the
 * producer's zone, taken from the tick, not from the moment the evaluator
 * happens to run, so a late or repeated evaluation of a tick reaches the
 * same verdict. A day is compared as (year, day of year) of the local wall
 * clock, which stays right on 23- and 25-hour DST days where "24 hours
 * before the tick" would not. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rf_uuid.h"
#include "policy.h"

typedef struct local {
        int day;    /* year * 1000 + day of year: equal on the same local day */
        int minute; /* minutes after local midnight, by the wall clock */
} local_t;

static int local_of(const char *tz, int64_t ms, local_t *ret) {
        struct tm tm;
        int r = rf_tz_localtime(tz, ms / 1000 - (ms % 1000 < 0), &tm);

        if (r < 0)
                return r;
        ret->day = (tm.tm_year + 1900) * 1000 + tm.tm_yday;
        ret->minute = tm.tm_hour * 60 + tm.tm_min;
        return 0;
}

static bool in_window(const rf_workflow_conf_t *w, int minute) {
        if (w->window_start_min < 0)
                return true;
        if (w->window_start_min < w->window_end_min)
                return minute >= w->window_start_min && minute < w->window_end_min;
        /* wraps midnight: "22:00-02:00" */
        return minute >= w->window_start_min || minute < w->window_end_min;
}

static bool in_progress(rf_decision_state_t state) {
        return state == RF_DECISION_PENDING || state == RF_DECISION_RUNNING;
}

static bool not_run(rf_decision_state_t state) {
        return state == RF_DECISION_FAILED || state == RF_DECISION_DEAD;
}

/* "13:30", the local wall clock of @p ms. */
static void hhmm(const char *tz, int64_t ms, char buf[8]) {
        local_t l = { 0, 0 };

        local_of(tz, ms, &l);
        snprintf(buf, 8, "%02d:%02d", (l.minute / 60) % 100, l.minute % 60);
}

/* "13:30" on the tick's local day, else "2026-06-14 13:30". */
static void local_when(const char *tz, int64_t ms, int tick_day, char buf[24]) {
        struct tm tm;
        local_t l = { 0, 0 };

        if (local_of(tz, ms, &l) < 0 || rf_tz_localtime(tz, ms / 1000 - (ms % 1000 < 0), &tm) < 0) {
                snprintf(buf, 24, "?");
                return;
        }
        if (l.day == tick_day)
                snprintf(buf, 24, "%02d:%02d", tm.tm_hour % 100, tm.tm_min % 100);
        else
                snprintf(buf, 24, "%04d-%02d-%02d %02d:%02d", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
                         tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100);
}

/* The runs of @p workflow in flight, whatever their day: the latest one
 * produced or running (not waiting), and the latest waiting one. */
typedef struct in_flight {
        const policy_run_t *running, *waiting;
} in_flight_t;

static in_flight_t find_in_flight(const char *workflow, const policy_run_t *runs, size_t count) {
        in_flight_t f = { NULL, NULL };

        for (size_t i = 0; i < count; i++) {
                const policy_run_t *p = &runs[i];

                if (strcmp(p->workflow, workflow) != 0 || !in_progress(p->state))
                        continue;
                if (p->waiting && p->state == RF_DECISION_PENDING) {
                        if (!f.waiting || p->at_ms > f.waiting->at_ms)
                                f.waiting = p;
                } else if (!f.running || p->at_ms > f.running->at_ms)
                        f.running = p;
        }
        return f;
}

/* Today's runs of @p workflow in @p runs, by kind. The latest of each kind
 * is kept for the reason text. */
typedef struct tally {
        int succeeded, running, failed;
        const policy_run_t *last_succeeded, *last_running, *last_failed;
} tally_t;

static int tally(const char *tz, int day, const char *workflow, const policy_run_t *runs, size_t count, tally_t *ret) {
        memset(ret, 0, sizeof(*ret));
        for (size_t i = 0; i < count; i++) {
                const policy_run_t *p = &runs[i];
                local_t l;
                int r;

                if (p->replay || strcmp(p->workflow, workflow) != 0)
                        continue;
                r = local_of(tz, p->at_ms, &l);
                if (r < 0)
                        return r;
                if (l.day != day)
                        continue;
                if (p->state == RF_DECISION_SUCCEEDED) {
                        ret->succeeded++;
                        if (!ret->last_succeeded || p->state_at_ms > ret->last_succeeded->state_at_ms)
                                ret->last_succeeded = p;
                } else if (in_progress(p->state)) {
                        ret->running++;
                        if (!ret->last_running || p->at_ms > ret->last_running->at_ms)
                                ret->last_running = p;
                } else if (not_run(p->state)) {
                        ret->failed++;
                        if (!ret->last_failed || p->at_ms > ret->last_failed->at_ms)
                                ret->last_failed = p;
                }
        }
        return 0;
}

int policy_decide(const rf_workflow_conf_t *w, const char *tz, int64_t tick_ms, const policy_run_t *runs, size_t count,
                  const policy_pause_t *pause, policy_verdict_t *ret_verdict) {
        policy_verdict_t v = { .run = false };
        char at[8], when[8], since[24], extra[300] = "", overlap[200] = "";
        in_flight_t busy;
        const char *zone = tz ? tz : "UTC";
        local_t tick;
        tally_t own;
        int r;

        r = local_of(tz, tick_ms, &tick);
        if (r < 0)
                return r;
        hhmm(tz, tick_ms, at);
        if (!w->enabled) {
                snprintf(v.reason, sizeof(v.reason), "workflow disabled (tick %s %s)", at, zone);
                goto out;
        }
        if (pause) {
                local_when(tz, pause->since_ms, tick.day, since);
                snprintf(v.reason, sizeof(v.reason), "paused by %s since %s: %s (tick %s %s)", pause->by, since,
                         pause->reason, at, zone);
                goto out;
        }
        if (!in_window(w, tick.minute)) {
                snprintf(v.reason, sizeof(v.reason), "outside window %s (tick %s %s)", w->window, at, zone);
                goto out;
        }
        r = tally(tz, tick.day, w->name, runs, count, &own);
        if (r < 0)
                return r;
        if (w->max_runs_per_day > 0 && own.succeeded + own.running >= w->max_runs_per_day) {
                if (w->max_runs_per_day == 1 && own.last_succeeded) {
                        hhmm(tz, own.last_succeeded->state_at_ms, when);
                        snprintf(v.reason, sizeof(v.reason), "already succeeded today at %s (decision %s)", when,
                                 rf_uuid_short(own.last_succeeded->decision_id));
                } else if (w->max_runs_per_day == 1) {
                        hhmm(tz, own.last_running->at_ms, when);
                        snprintf(v.reason, sizeof(v.reason), "run in progress since %s (decision %s, %s)", when,
                                 rf_uuid_short(own.last_running->decision_id),
                                 rf_decision_state_name(own.last_running->state));
                } else
                        snprintf(v.reason, sizeof(v.reason),
                                 "max_runs_per_day (%d) reached: %d succeeded, %d in progress today",
                                 w->max_runs_per_day, own.succeeded, own.running);
                goto out;
        }
        for (size_t k = 0; k < w->after_count; k++) {
                tally_t dep;
                size_t len = strlen(extra);

                r = tally(tz, tick.day, w->after[k], runs, count, &dep);
                if (r < 0)
                        return r;
                if (!dep.last_succeeded) {
                        snprintf(v.reason, sizeof(v.reason), "waiting for %s (%s)", w->after[k],
                                 dep.running  ? "its run today is still in progress"
                                 : dep.failed ? "its runs today failed"
                                              : "no run today yet");
                        goto out;
                }
                hhmm(tz, dep.last_succeeded->state_at_ms, when);
                snprintf(extra + len, sizeof(extra) - len, "; %s succeeded at %s", w->after[k], when);
        }
        /* Overlap: only a run that would start now is held back by one in
         * flight. Its reasons name the whole decision id, so an operator can
         * paste it into a query. */
        busy = find_in_flight(w->name, runs, count);
        if ((busy.running || busy.waiting) && w->overlap != RF_OVERLAP_ALLOW) {
                const policy_run_t *p = busy.running ? busy.running : busy.waiting;

                local_when(tz, p->at_ms, tick.day, since);
                if (w->overlap == RF_OVERLAP_SKIP) {
                        snprintf(v.reason, sizeof(v.reason),
                                 "previous run still in progress: decision %s (%s%s, tick %s); overlap skip",
                                 p->decision_id, rf_decision_state_name(p->state), p == busy.waiting ? ", waiting" : "",
                                 since);
                        goto out;
                }
                /* a waiting decision, even one whose predecessor just ended
                 * and that the reaper has not yet released, is the one */
                if (busy.waiting) {
                        local_when(tz, busy.waiting->at_ms, tick.day, since);
                        snprintf(v.reason, sizeof(v.reason),
                                 "decision %s (tick %s) is already waiting for the run in progress; "
                                 "overlap buffer_one",
                                 busy.waiting->decision_id, since);
                        goto out;
                }
                snprintf(v.wait_for, sizeof(v.wait_for), "%s", p->decision_id);
                snprintf(overlap, sizeof(overlap), "; waits for decision %s (%s, tick %s) to end; overlap buffer_one",
                         p->decision_id, rf_decision_state_name(p->state), since);
        } else if (busy.running) {
                local_when(tz, busy.running->at_ms, tick.day, since);
                snprintf(overlap, sizeof(overlap), "; decision %s (%s, tick %s) still in progress; overlap allow",
                         busy.running->decision_id, rf_decision_state_name(busy.running->state), since);
        }
        v.run = true;
        if (own.last_failed) {
                hhmm(tz, own.last_failed->at_ms, when);
                snprintf(v.reason, sizeof(v.reason),
                         "scheduled: tick %s %s; previous run today %s (decision %s, %s) does not count, "
                         "running again%s%s",
                         at, zone, rf_decision_state_name(own.last_failed->state),
                         rf_uuid_short(own.last_failed->decision_id), when, extra, overlap);
        } else
                snprintf(v.reason, sizeof(v.reason), "scheduled: tick %s %s%s%s", at, zone, extra, overlap);
out:
        *ret_verdict = v;
        return 0;
}
