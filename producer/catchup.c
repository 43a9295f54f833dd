/* SPDX-License-Identifier: Apache-2.0 */
/* catchup: the plan for one workflow's gap of ticks (see catchup.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catchup.h"

const char *catchup_policy_name(rf_catchup_t policy) {
        switch (policy) {
        case RF_CATCHUP_ALL:
                return "all";
        case RF_CATCHUP_NONE:
                return "none";
        case RF_CATCHUP_LATEST:
        default:
                return "latest";
        }
}

/* "1d", "6h", "30m" or "90s": a window as a person would write it. */
static void format_duration(int64_t ms, char *buf, size_t size) {
        if (ms % 86400000 == 0)
                snprintf(buf, size, "%lldd", (long long)(ms / 86400000));
        else if (ms % 3600000 == 0)
                snprintf(buf, size, "%lldh", (long long)(ms / 3600000));
        else if (ms % 60000 == 0)
                snprintf(buf, size, "%lldm", (long long)(ms / 60000));
        else
                snprintf(buf, size, "%llds", (long long)(ms / 1000));
}

/* "09:00–12:00" in local time: seconds when either end has them (an
 * "@every 2s" schedule), the date when an end is not on @p now_s's local day. */
static void format_range(const char *tz, int64_t from_s, int64_t to_s, int64_t now_s, char *buf, size_t size) {
        struct tm a, b, now;
        char sa[32], sb[32];
        bool seconds;

        if (rf_tz_localtime(tz, from_s, &a) < 0 || rf_tz_localtime(tz, to_s, &b) < 0 ||
            rf_tz_localtime(tz, now_s, &now) < 0) {
                snprintf(buf, size, "@%lld–@%lld", (long long)from_s, (long long)to_s);
                return;
        }
        seconds = a.tm_sec || b.tm_sec;
        for (int i = 0; i < 2; i++) {
                const struct tm *t = i == 0 ? &a : &b;
                char *out = i == 0 ? sa : sb;
                size_t at = 0;

                if (t->tm_yday != now.tm_yday || t->tm_year != now.tm_year)
                        at = strftime(out, sizeof(sa), "%Y-%m-%d ", t);
                strftime(out + at, sizeof(sa) - at, seconds ? "%H:%M:%S" : "%H:%M", t);
        }
        if (from_s == to_s)
                snprintf(buf, size, "%s", sa);
        else
                snprintf(buf, size, "%s–%s", sa, sb);
}

/* The ticks after @p last_s up to @p now_s, newest first, at most @p max:
 * into *ret_ticks (seconds) and *ret_count. */
static int collect_backwards(const rf_workflow_conf_t *w, const char *tz, int64_t last_s, int64_t now_s, int max,
                             int64_t **ret_ticks, size_t *ret_count) {
        int64_t *ticks = NULL, t;
        size_t n = 0, cap = 0;
        int r;

        for (r = rf_cron_prev(w->cron, tz, now_s, &t); r == 0 && t > last_s && n < (size_t)max;
             r = rf_cron_prev(w->cron, tz, t - 1, &t)) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        int64_t *nt = realloc(ticks, ncap * sizeof(*nt));

                        if (!nt) {
                                free(ticks);
                                return -ENOMEM;
                        }
                        ticks = nt;
                        cap = ncap;
                }
                ticks[n++] = t;
        }
        if (r < 0 && r != -ENOENT) {
                free(ticks);
                return r;
        }
        *ret_ticks = ticks;
        *ret_count = n;
        return 0;
}

int catchup_plan(const rf_workflow_conf_t *w, const char *tz, int64_t last_tick_ms, int64_t now_ms, int64_t lookback_ms,
                 int max_ticks, catchup_plan_t *ret_plan) {
        catchup_plan_t p = { 0 };
        int64_t *back = NULL, first_s = 0, now_s = now_ms / 1000, on_time_ms = now_ms - lookback_ms;
        int64_t window_ms = now_ms - w->catchup_window_ms, missed_from = 0, missed_to = 0;
        size_t n = 0;
        bool beyond = false;
        char window[32];
        int r;

        *ret_plan = p;
        if (last_tick_ms < 0)
                max_ticks = 1; /* never decided: its history starts at this evaluation */
        r = collect_backwards(w, tz, last_tick_ms < 0 ? INT64_MIN : last_tick_ms / 1000, now_s, max_ticks, &back, &n);
        if (r < 0)
                return r;
        if (n == 0 || (last_tick_ms < 0 && back[0] * 1000 < on_time_ms)) {
                free(back);
                return 0;
        }
        /* a gap longer than the bound: is there a tick before the oldest collected? */
        if (last_tick_ms >= 0 && n == (size_t)max_ticks &&
            rf_cron_next(w->cron, tz, last_tick_ms / 1000, &first_s) == 0 && first_s < back[n - 1])
                beyond = true;
        p.ticks = calloc(n + 1, sizeof(*p.ticks));
        if (!p.ticks) {
                free(back);
                return -ENOMEM;
        }
        if (beyond)
                p.ticks[p.count++] =
                        (catchup_tick_t){ .tick_ms = first_s * 1000, .action = CATCHUP_MISSED, .summary = 1 };
        for (size_t i = n; i-- > 0;)
                p.ticks[p.count++] = (catchup_tick_t){ .tick_ms = back[i] * 1000 };

        for (size_t i = 0; i < p.count; i++) {
                catchup_tick_t *t = &p.ticks[i];

                if (t->tick_ms >= on_time_ms)
                        continue; /* on time: the policy decides */
                if (p.missed == 0)
                        missed_from = t->tick_ms;
                missed_to = t->tick_ms;
                p.missed++;
                if (t->summary)
                        continue;
                if (t->tick_ms < window_ms)
                        t->action = CATCHUP_MISSED;
                else if (w->catchup_policy == RF_CATCHUP_NONE ||
                         (w->catchup_policy == RF_CATCHUP_LATEST && i + 1 < p.count))
                        t->action = CATCHUP_SKIP;
        }
        if (p.missed > 0) {
                format_range(tz, missed_from / 1000, missed_to / 1000, now_s, p.range, sizeof(p.range));
                format_duration(w->catchup_window_ms, window, sizeof(window));
                snprintf(p.skip_reason, sizeof(p.skip_reason),
                         "missed while no evaluator ran, %s; catch-up policy %s%s", p.range,
                         catchup_policy_name(w->catchup_policy),
                         w->catchup_policy == RF_CATCHUP_LATEST ? ": only the newest tick is decided" : "");
                snprintf(p.late_note, sizeof(p.late_note),
                         "decided late: missed while no evaluator ran, %s; "
                         "catch-up policy %s",
                         p.range, catchup_policy_name(w->catchup_policy));
                snprintf(p.missed_reason, sizeof(p.missed_reason),
                         "missed while no evaluator ran, %s; older than the catch-up window (%s), not run", p.range,
                         window);
        }
        if (beyond) {
                char summarised[96];
                int64_t last_s = first_s;

                /* the tick before the oldest with a row of its own */
                rf_cron_prev(w->cron, tz, back[n - 1] - 1, &last_s);
                format_range(tz, first_s, last_s, now_s, summarised, sizeof(summarised));
                snprintf(p.bound_reason, sizeof(p.bound_reason),
                         "missed while no evaluator ran, %s; more than %d ticks (producer.catchup_max_ticks): "
                         "this row stands for every tick from %s, each later tick has its own row",
                         p.range, max_ticks, summarised);
        }
        free(back);
        *ret_plan = p;
        return 0;
}
