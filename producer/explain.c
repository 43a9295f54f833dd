/* SPDX-License-Identifier: Apache-2.0 */
/* `explain WORKFLOW [--day D]`: why a workflow did or did not run at each
 * tick of a local day. Each line is the decision's recorded reason (made by
 * policy.c when it was decided, so it says what the evaluator knew then),
 * followed by what happened to it since, and by the fate of any decision
 * the reason names ("previous run today FAILED (decision 1f3a9c2e, 13:05)
 * does not count": what that run's error was). Ticks of the schedule that
 * fall between the day's decided ticks and have no decision are listed as
 * such: nothing about a schedule should be silent. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "causes.h"
#include "history.h"
#include "producer.h"
#include "rf_cron.h"
#include "rf_util.h"

#define USAGE "usage: explain WORKFLOW [--day YYYY-MM-DD]"
/* schedule ticks walked looking for undecided ones; "@every 1s" makes 86,400 a day */
#define MAX_TICKS_WALKED 200000

/* A run of consecutive schedule ticks without a decision. */
typedef struct gap {
        int64_t first_ms, last_ms;
        int count;
} gap_t;

static int by_ms(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return x < y ? -1 : x > y;
}

/* The schedule's ticks between the first and the last decided tick of
 * @p w in @p h that have no decision, as runs. The caller frees *ret_gaps. */
static int find_gaps(const history_t *h, const rf_workflow_conf_t *w, const char *tz, gap_t **ret_gaps,
                     size_t *ret_count, bool *ret_cut) {
        int64_t *ticks = calloc(h->count + 1, sizeof(*ticks));
        gap_t *gaps = NULL;
        size_t n = 0, ngaps = 0, cap = 0, at = 0;
        int64_t t_s;
        int walked = 0;

        *ret_cut = false;
        if (!ticks)
                return -ENOMEM;
        for (size_t i = 0; i < h->count; i++)
                if (h->decisions[i].tick_ms >= 0 && !h->decisions[i].backfill_of)
                        ticks[n++] = h->decisions[i].tick_ms;
        qsort(ticks, n, sizeof(*ticks), by_ms);
        for (t_s = n ? ticks[0] / 1000 : 0;
             n > 1 && rf_cron_next(w->cron, tz, t_s, &t_s) == 0 && t_s * 1000 < ticks[n - 1];) {
                if (++walked > MAX_TICKS_WALKED) {
                        *ret_cut = true;
                        break;
                }
                while (at < n && ticks[at] < t_s * 1000)
                        at++;
                if (at < n && ticks[at] == t_s * 1000)
                        continue;
                if (ngaps > 0 && gaps[ngaps - 1].last_ms >= (at > 0 ? ticks[at - 1] : 0)) {
                        /* no decided tick since the last gap began: the same run */
                        gaps[ngaps - 1].last_ms = t_s * 1000;
                        gaps[ngaps - 1].count++;
                        continue;
                }
                if (ngaps == cap) {
                        gap_t *more = realloc(gaps, (cap = cap ? 2 * cap : 8) * sizeof(*gaps));
                        if (!more) {
                                free(gaps);
                                free(ticks);
                                return -ENOMEM;
                        }
                        gaps = more;
                }
                gaps[ngaps++] = (gap_t){ t_s * 1000, t_s * 1000, 1 };
        }
        free(ticks);
        *ret_gaps = gaps;
        *ret_count = ngaps;
        return 0;
}

static void print_gap(const history_t *h, const gap_t *g) {
        char a[32], b[32];

        span_clock(&h->span, g->first_ms, a, sizeof(a));
        span_clock(&h->span, g->last_ms, b, sizeof(b));
        if (g->count == 1)
                printf("NO DECISION at %s: no evaluator decided this tick\n", a);
        else
                printf("NO DECISION for %d ticks, %s to %s: no evaluator decided them\n", g->count, a, b);
}

/* The execution that settled @p d's state: its SUCCEEDED one, else its last. */
static const hist_execution_t *settling(const hist_decision_t *d) {
        for (size_t i = 0; i < d->execution_count; i++)
                if (d->executions[i].status == RF_EXEC_SUCCEEDED)
                        return &d->executions[i];
        return d->execution_count ? &d->executions[d->execution_count - 1] : NULL;
}

/* 'HTTP 500 "Failed to load scraper …"': the first error of @p e's calls,
 * or its own. */
static void first_error(const hist_execution_t *e, char *buf, size_t size) {
        buf[0] = '\0';
        for (size_t i = 0; e && i < e->call_count; i++)
                if (e->calls[i].outcome != RF_CALL_OK) {
                        char message[CAUSE_TEXT_MAX];
                        cause_message(e->calls[i].error, message, sizeof(message));
                        if (e->calls[i].http_status > 0)
                                snprintf(buf, size, "%s: HTTP %d \"%s\"", e->calls[i].scraper, e->calls[i].http_status,
                                         message);
                        else
                                snprintf(buf, size, "%s: %s \"%s\"", e->calls[i].scraper,
                                         rf_call_outcome_name(e->calls[i].outcome), message);
                        return;
                }
        if (e && *e->error)
                snprintf(buf, size, "%s", e->error);
}

/* What happened to @p d after it was decided, one line after "  -> ". */
static void outcome(const history_t *h, const rf_conf_t *conf, const hist_decision_t *d, char *buf, size_t size) {
        const hist_execution_t *e = settling(d);
        char when[32], dur[24], error[CAUSE_TEXT_MAX + 64];
        int failed = 0;

        for (size_t i = 0; i < d->execution_count; i++)
                failed += d->executions[i].status != RF_EXEC_SUCCEEDED && d->executions[i].status != RF_EXEC_RUNNING;
        span_clock(&h->span, d->state_ms, when, sizeof(when));
        first_error(e, error, sizeof(error));
        if (d->action != RF_ACTION_RUN) {
                snprintf(buf, size, "nothing ran");
        } else if (d->state == RF_DECISION_SUCCEEDED && e) {
                span_clock(&h->span, e->finished_ms ? e->finished_ms : d->state_ms, when, sizeof(when));
                span_duration(hist_execution_ms(e), dur, sizeof(dur));
                snprintf(buf, size, "SUCCEEDED at %s (attempt %d, %s, worker %s)%s", when, e->attempt, dur,
                         e->worker_id, failed ? "; earlier attempts failed" : "");
        } else if (d->state == RF_DECISION_DEAD) {
                snprintf(buf, size, "DEAD at %s after %d failed execution%s%s%s", when, failed, failed == 1 ? "" : "s",
                         *error ? "; last error " : "", error);
        } else if (d->state == RF_DECISION_FAILED) {
                snprintf(
                        buf, size,
                        "FAILED at %s (%d of reaper.max_failed_executions %d failed executions)%s%s; the reaper tries again",
                        when, failed, conf->reaper.max_failed_executions, *error ? ": " : "", error);
        } else if (d->state == RF_DECISION_CANCELLED) {
                snprintf(buf, size, "CANCELLED at %s by %s: %s", when, d->cancelled_by ? d->cancelled_by : "?",
                         d->cancel_reason ? d->cancel_reason : "(no reason given)");
        } else if (d->orphan_why) {
                snprintf(buf, size, "ORPHAN (%s): nothing is working on it; the reaper re-produces it", d->orphan_why);
        } else if (d->state == RF_DECISION_RUNNING && e) {
                span_clock(&h->span, e->started_ms, when, sizeof(when));
                snprintf(buf, size, "RUNNING since %s on worker %s (attempt %d)", when, e->worker_id, e->attempt);
        } else {
                snprintf(buf, size, "%s: attempt %d produced, not started yet", rf_decision_state_name(d->state),
                         d->attempt);
        }
}

/* The decision a reason names as "(decision 1f3a9c2e" (its short id,
 * rf_uuid_short), in @p h. */
static const hist_decision_t *named(const history_t *h, const hist_decision_t *d) {
        const char *p = strstr(d->reason, "(decision ");
        char suffix[RF_UUID_SHORT_LEN + 1];
        const hist_decision_t *found;

        if (!p || sscanf(p + 10, "%8[0-9a-f]", suffix) != 1 || strlen(suffix) != RF_UUID_SHORT_LEN)
                return NULL;
        found = history_find(h, d->workflow, suffix);
        return found && found != d ? found : NULL;
}

static const char *kind_of(const hist_decision_t *d) {
        if (d->replay_of)
                return " (replay)";
        if (d->backfill_id || d->backfill_of)
                return " (backfill)";
        return d->tick_ms < 0 ? " (manual)" : "";
}

static void explain_decision(const history_t *h, const rf_conf_t *conf, const hist_decision_t *d) {
        const hist_decision_t *ref = named(h, d);
        char at[32], what[CAUSE_TEXT_MAX + 256];

        span_clock(&h->span, d->tick_ms >= 0 ? d->tick_ms : d->decided_ms, at, sizeof(at));
        printf("%s%s at %s: %s\n", rf_decision_action_name(d->action), kind_of(d), at, d->reason);
        outcome(h, conf, d, what, sizeof(what));
        printf("  -> %s\n", what);
        if (ref) {
                span_clock(&h->span, ref->tick_ms >= 0 ? ref->tick_ms : ref->decided_ms, at, sizeof(at));
                outcome(h, conf, ref, what, sizeof(what));
                printf("     decision %s named above (%s%s at %s): %s\n", rf_uuid_short(ref->decision_id),
                       rf_decision_action_name(ref->action), kind_of(ref), at, what);
        }
}

int producer_explain(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "day", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 } };
        const char *day = NULL, *tz = conf->producer.timezone;
        const rf_workflow_conf_t *w;
        char errstr[1024], date[16];
        history_t h = { 0 };
        gap_t *gaps = NULL;
        size_t ngaps = 0, g = 0;
        bool cut = false;
        int run = 0, skip = 0, missed = 0, undecided = 0;
        span_t span;
        rf_pg_t *pg = NULL;
        int c, code = RF_EXIT_FAILURE;

        rf_program_subcommand_options();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (c != 'd')
                        return rf_program_fail(prog, RF_EXIT_USAGE, USAGE);
                day = optarg;
        }
        if (optind != argc - 1)
                return rf_program_fail(prog, RF_EXIT_USAGE, USAGE);
        w = rf_conf_workflow(conf, argv[optind]);
        if (!w)
                return rf_program_fail(prog, RF_EXIT_USAGE, "explain: unknown workflow '%s' in %s", argv[optind],
                                       conf->path);
        if (day && span_day(day, &span) < 0)
                return rf_program_fail(prog, RF_EXIT_USAGE,
                                       "explain: --day '%s' is not a date (YYYY-MM-DD, a local day in %s)", day, tz);
        if (!day)
                span_today(rf_now_ms(), &span);

        if (rf_pg_connect(conf->database.url, prog->name, &pg, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "%s", errstr);
                goto out;
        }
        if (history_load(pg, &span, tz, &w->name, 1, &h, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "explain: %s", errstr);
                goto out;
        }
        if (find_gaps(&h, w, tz, &gaps, &ngaps, &cut) < 0) {
                rf_program_fail(prog, code, "explain: out of memory");
                goto out;
        }
        span_date(span.from_ms, date, sizeof(date));
        printf("%s on %s (%s): schedule \"%s\"", w->name, date, tz, w->schedule);
        if (w->max_runs_per_day > 0)
                printf(", max_runs_per_day %d (FAILED and DEAD runs do not count)", w->max_runs_per_day);
        if (w->window)
                printf(", window %s", w->window);
        for (size_t i = 0; i < w->after_count; i++)
                printf("%s%s", i == 0 ? ", after " : ", ", w->after[i]);
        printf("%s\n\n", w->enabled ? "" : " -- disabled in the configuration");
        for (size_t i = 0; i < h.count; i++) {
                const hist_decision_t *d = &h.decisions[i];
                int64_t at = d->tick_ms >= 0 ? d->tick_ms : d->decided_ms;

                for (; g < ngaps && gaps[g].first_ms < at; g++) {
                        print_gap(&h, &gaps[g]);
                        undecided += gaps[g].count;
                }
                explain_decision(&h, conf, d);
                run += d->action == RF_ACTION_RUN;
                skip += d->action == RF_ACTION_SKIP;
                missed += d->action == RF_ACTION_MISSED;
        }
        for (; g < ngaps; g++) {
                print_gap(&h, &gaps[g]);
                undecided += gaps[g].count;
        }
        if (h.count == 0)
                printf("no decisions for %s on %s\n", w->name, date);
        printf("\n%zu decision%s: %d RUN, %d SKIP, %d MISSED; %d tick%s between them without a decision%s\n", h.count,
               h.count == 1 ? "" : "s", run, skip, missed, undecided, undecided == 1 ? "" : "s",
               cut ? " (stopped counting: too many ticks)" : "");
        code = fflush(stdout) == 0 ? RF_EXIT_OK : RF_EXIT_FAILURE;
out:
        free(gaps);
        history_free(&h);
        rf_pg_destroy(pg);
        return code;
}
