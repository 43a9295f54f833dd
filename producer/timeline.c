/* SPDX-License-Identifier: Apache-2.0 */
/* `timeline [--day D | --from T1 --to T2] [--workflow W]... [--format text|json]`:
 * the story of a range, told from the database so nobody reconstructs it
 * with hand-written SQL (the incident of 2026-01-20 took twenty minutes of
 * it): per workflow and tick, in local time, the decision and its reason,
 * each attempt and each scraper call, what the reaper did; the operator's
 * pauses, backfills, replays and redrives; then a summary whose last part,
 * errors grouped by cause across workflows, is what tells one shared defect
 * from many separate ones. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "causes.h"
#include "history.h"
#include "producer.h"
#include "rf_util.h"

#define USAGE "usage: timeline [--day YYYY-MM-DD | --from T1 --to T2] [--workflow W]... [--format text|json]"
#define MAX_FILTER 64

/* Execution statuses whose durations the summary averages, in its order. */
static const rf_exec_status_t duration_statuses[] = { RF_EXEC_SUCCEEDED, RF_EXEC_FAILED, RF_EXEC_TIMED_OUT,
                                                      RF_EXEC_ABANDONED };
#define N_DURATIONS (sizeof(duration_statuses) / sizeof(duration_statuses[0]))

typedef struct summary {
        int decisions, run, skip, missed, succeeded, failed, dead, cancelled, open, orphans;
        int reproduced_decisions, reproduced, abandoned;
        int duration_count[N_DURATIONS];
        int64_t duration_total[N_DURATIONS];
        causes_t causes;
} summary_t;

/* What the story calls a decision: from the schedule, by hand, a replay or a backfill. */
static const char *decision_kind(const hist_decision_t *d) {
        if (d->replay_of)
                return "replay";
        if (d->backfill_id || d->backfill_of)
                return "backfill";
        return d->tick_ms < 0 ? "manual" : "tick";
}

static int64_t decision_at(const hist_decision_t *d) {
        return d->tick_ms >= 0 ? d->tick_ms : d->decided_ms;
}

static int abandoned_of(const hist_decision_t *d) {
        int n = 0;

        for (size_t i = 0; i < d->execution_count; i++)
                n += d->executions[i].status == RF_EXEC_ABANDONED;
        return n;
}

static int failed_executions_of(const hist_decision_t *d) {
        int n = 0;

        for (size_t i = 0; i < d->execution_count; i++)
                n += d->executions[i].status != RF_EXEC_SUCCEEDED && d->executions[i].status != RF_EXEC_RUNNING;
        return n;
}

static int summarize(const history_t *h, summary_t *s) {
        memset(s, 0, sizeof(*s));
        for (size_t i = 0; i < h->count; i++) {
                const hist_decision_t *d = &h->decisions[i];

                s->decisions++;
                s->missed += d->action == RF_ACTION_MISSED;
                s->skip += d->action == RF_ACTION_SKIP;
                if (d->action != RF_ACTION_RUN)
                        continue;
                s->run++;
                s->succeeded += d->state == RF_DECISION_SUCCEEDED;
                s->failed += d->state == RF_DECISION_FAILED;
                s->dead += d->state == RF_DECISION_DEAD;
                s->cancelled += d->state == RF_DECISION_CANCELLED;
                s->open += d->state == RF_DECISION_PENDING || d->state == RF_DECISION_RUNNING;
                s->orphans += d->orphan_why != NULL;
                if (d->attempt > 1) {
                        s->reproduced_decisions++;
                        s->reproduced += d->attempt - 1;
                }
                s->abandoned += abandoned_of(d);
                for (size_t k = 0; k < d->execution_count; k++) {
                        const hist_execution_t *e = &d->executions[k];
                        int64_t ms = hist_execution_ms(e);
                        bool call_failed = false;

                        for (size_t j = 0; j < N_DURATIONS; j++)
                                if (ms >= 0 && e->status == duration_statuses[j]) {
                                        s->duration_count[j]++;
                                        s->duration_total[j] += ms;
                                }
                        for (size_t j = 0; j < e->call_count; j++) {
                                const hist_call_t *c = &e->calls[j];

                                if (c->outcome == RF_CALL_OK)
                                        continue;
                                call_failed = true;
                                if (causes_add(&s->causes, d->workflow, true, rf_call_outcome_name(c->outcome),
                                               c->http_status, c->error, c->started_ms) < 0)
                                        return -ENOMEM;
                        }
                        /* a failure no call explains: a lease that ran out, nothing started */
                        if (!call_failed && e->status != RF_EXEC_SUCCEEDED && e->status != RF_EXEC_RUNNING &&
                            causes_add(&s->causes, d->workflow, false, rf_exec_status_name(e->status), 0, e->error,
                                       e->finished_ms ? e->finished_ms : e->started_ms) < 0)
                                return -ENOMEM;
                }
        }
        causes_sort(&s->causes);
        return 0;
}

/* "13:05–13:06", or "13:05" when both are one minute. */
static void minutes(int64_t first_ms, int64_t last_ms, char *buf, size_t size) {
        char a[8], b[8];

        span_hhmm(first_ms, a, sizeof(a));
        span_hhmm(last_ms, b, sizeof(b));
        if (strcmp(a, b) == 0)
                snprintf(buf, size, "%s", a);
        else
                snprintf(buf, size, "%s\u2013%s", a, b);
}

/* ---- text ---------------------------------------------------------------- */

/* "2026-01-20 13:05:00" local. */
static void stamp(int64_t ms, char *buf, size_t size) {
        char clock[16];

        span_date(ms, buf, size);
        span_clock(NULL, ms, clock, sizeof(clock));
        snprintf(buf + strlen(buf), size - strlen(buf), " %s", clock);
}

static void print_call(const hist_call_t *c) {
        char dur[24], status[16], message[CAUSE_TEXT_MAX];

        span_duration(c->duration_ms, dur, sizeof(dur));
        if (c->http_status > 0)
                snprintf(status, sizeof(status), "HTTP %d", c->http_status);
        else
                snprintf(status, sizeof(status), "%s", rf_call_outcome_name(c->outcome));
        if (c->outcome == RF_CALL_OK)
                snprintf(message, sizeof(message), "OK");
        else
                cause_message(c->error, message, sizeof(message));
        printf("        %-20s try %d  %-13s %7s  %s\n", c->scraper, c->try_no, status, dur, message);
}

static void print_reaper(const history_t *h, const hist_decision_t *d) {
        char line[512] = "", when[32];
        size_t len = 0;
        int abandoned = abandoned_of(d);

        if (d->attempt > 1)
                len += (size_t)snprintf(line + len, sizeof(line) - len, "%sre-produced %d time%s", len ? ", " : "",
                                        d->attempt - 1, d->attempt == 2 ? "" : "s");
        if (abandoned > 0 && len < sizeof(line))
                len += (size_t)snprintf(line + len, sizeof(line) - len, "%sabandoned %d execution%s (lease expired)",
                                        len ? ", " : "", abandoned, abandoned == 1 ? "" : "s");
        if (d->state == RF_DECISION_DEAD && len < sizeof(line)) {
                int failed = failed_executions_of(d);

                span_clock(&h->span, d->state_ms, when, sizeof(when));
                snprintf(line + len, sizeof(line) - len, "%sDEAD at %s after %d failed execution%s", len ? ", " : "",
                         when, failed, failed == 1 ? "" : "s");
        }
        if (line[0])
                printf("      reaper: %s\n", line);
}

static void print_decision(const history_t *h, const hist_decision_t *d) {
        char at[32], when[32], dur[24];

        span_clock(&h->span, decision_at(d), at, sizeof(at));
        printf("  %-8s  %-8s  %-6s  %-9s  %s\n", at, decision_kind(d), rf_decision_action_name(d->action),
               rf_decision_state_name(d->state), d->reason);
        if (d->replay_of)
                printf("      replay of decision %s\n", rf_uuid_short(d->replay_of));
        if (d->backfill_of || d->backfill_id)
                printf("      backfill %s%s%s\n", d->backfill_id ? rf_uuid_short(d->backfill_id) : "-",
                       d->backfill_of ? " of decision " : "", d->backfill_of ? rf_uuid_short(d->backfill_of) : "");
        if (d->state == RF_DECISION_CANCELLED) {
                span_clock(&h->span, d->state_ms, when, sizeof(when));
                printf("      cancelled at %s by %s: %s\n", when, d->cancelled_by ? d->cancelled_by : "?",
                       d->cancel_reason ? d->cancel_reason : "(no reason given)");
        }
        for (size_t i = 0; i < d->execution_count; i++) {
                const hist_execution_t *e = &d->executions[i];
                int64_t ms = hist_execution_ms(e);

                span_clock(&h->span, e->started_ms, when, sizeof(when));
                if (ms < 0)
                        snprintf(dur, sizeof(dur), "running");
                else
                        span_duration(ms, dur, sizeof(dur));
                bool explained = false;

                /* an execution's error is its first failed call's: said once, below */
                for (size_t k = 0; k < e->call_count; k++)
                        explained |= e->calls[k].outcome != RF_CALL_OK;
                printf("      attempt %d  %s  %7s  %-9s  worker %s%s%s\n", e->attempt, when, dur,
                       rf_exec_status_name(e->status), e->worker_id, *e->error && !explained ? "  " : "",
                       *e->error && !explained ? e->error : "");
                for (size_t k = 0; k < e->call_count; k++)
                        print_call(&e->calls[k]);
        }
        if (d->action == RF_ACTION_RUN && d->execution_count < (size_t)d->attempt && d->state == RF_DECISION_PENDING)
                printf("      attempt %d produced, not executed yet\n", d->attempt);
        print_reaper(h, d);
        if (d->orphan_why)
                printf("      ORPHAN: %s\n", d->orphan_why);
}

static void print_text(const history_t *h, const summary_t *s, const char *tz, char *const *filter, size_t nfilter) {
        char from[40], to[40], dur[24], range[32];

        stamp(h->span.from_ms, from, sizeof(from));
        stamp(h->span.to_ms, to, sizeof(to));
        printf("runfleet timeline %s to %s (%s), ", from, to, tz);
        if (nfilter == 0)
                printf("all workflows\n");
        else
                for (size_t i = 0; i < nfilter; i++)
                        printf("%s%s", filter[i], i + 1 < nfilter ? ", " : "\n");

        for (size_t i = 0; i < h->count;) {
                const char *w = h->decisions[i].workflow;
                size_t end = i;
                int run = 0, skip = 0, missed = 0;

                for (; end < h->count && strcmp(h->decisions[end].workflow, w) == 0; end++) {
                        run += h->decisions[end].action == RF_ACTION_RUN;
                        skip += h->decisions[end].action == RF_ACTION_SKIP;
                        missed += h->decisions[end].action == RF_ACTION_MISSED;
                }
                printf("\n%s: %zu decision%s (%d RUN, %d SKIP, %d MISSED)\n", w, end - i, end - i == 1 ? "" : "s", run,
                       skip, missed);
                printf("  %-8s  %-8s  %-6s  %-9s  %s\n", "TIME", "KIND", "ACTION", "STATE", "REASON");
                for (; i < end; i++)
                        print_decision(h, &h->decisions[i]);
        }
        if (h->count == 0)
                printf("\n(no decisions in this range)\n");

        printf("\nevents: %zu\n", h->event_count);
        for (size_t i = 0; i < h->event_count; i++) {
                const hist_event_t *e = &h->events[i];
                char at[32];

                span_clock(&h->span, e->at_ms, at, sizeof(at));
                printf("  %-8s  %-8s  %-20s  %s\n", at, e->kind, *e->workflows ? e->workflows : "(all workflows)",
                       e->text);
        }

        printf("\nsummary\n");
        printf("  decisions      %d: %d RUN, %d SKIP, %d MISSED\n", s->decisions, s->run, s->skip, s->missed);
        if (s->run > 0)
                printf("  reliability    %d of %d RUN decisions SUCCEEDED (%.1f%%)%s\n", s->succeeded, s->run,
                       100.0 * s->succeeded / s->run, s->open ? " -- some still open" : "");
        else
                printf("  reliability    no RUN decisions\n");
        printf("  states         %d SUCCEEDED, %d FAILED, %d DEAD, %d CANCELLED, %d PENDING or RUNNING\n", s->succeeded,
               s->failed, s->dead, s->cancelled, s->open);
        printf("  durations     ");
        {
                bool any = false;
                for (size_t j = 0; j < N_DURATIONS; j++) {
                        if (s->duration_count[j] == 0)
                                continue;
                        span_duration(s->duration_total[j] / s->duration_count[j], dur, sizeof(dur));
                        printf("%s %s avg %s (%d)", any ? "," : "", rf_exec_status_name(duration_statuses[j]), dur,
                               s->duration_count[j]);
                        any = true;
                }
                printf("%s\n", any ? "" : " no executions");
        }
        printf("  reaper         re-produced %d decision%s (%d time%s), abandoned %d execution%s, %d DEAD\n",
               s->reproduced_decisions, s->reproduced_decisions == 1 ? "" : "s", s->reproduced,
               s->reproduced == 1 ? "" : "s", s->abandoned, s->abandoned == 1 ? "" : "s", s->dead);
        printf("  orphans        %d", s->orphans);
        if (h->orphans_any_day > s->orphans)
                printf(" (%lld more decided outside this range: runfleet-producer status)",
                       h->orphans_any_day - s->orphans);
        printf("\n  DEAD           %d\n", s->dead);
        printf("  missed ticks   %d\n", s->missed);
        printf("  errors by cause: %zu\n", s->causes.count);
        for (size_t i = 0; i < s->causes.count; i++) {
                const cause_t *c = &s->causes.list[i];
                char label[CAUSE_TEXT_MAX + 64], counts[64] = "";

                cause_label(c, label, sizeof(label));
                minutes(c->first_ms, c->last_ms, range, sizeof(range));
                if (c->calls)
                        snprintf(counts, sizeof(counts), "%d call%s", c->calls, c->calls == 1 ? "" : "s");
                if (c->executions)
                        snprintf(counts + strlen(counts), sizeof(counts) - strlen(counts), "%s%d execution%s",
                                 c->calls ? ", " : "", c->executions, c->executions == 1 ? "" : "s");
                printf("    %s \u2014 %s, %zu workflow%s, %s (", label, counts, c->workflow_count,
                       c->workflow_count == 1 ? "" : "s", range);
                for (size_t k = 0; k < c->workflow_count; k++)
                        printf("%s%s", c->workflows[k], k + 1 < c->workflow_count ? ", " : ")\n");
        }
}

/* ---- JSON ---------------------------------------------------------------- */

/* A JSON string, or null for NULL; text the database returns is UTF-8, but
 * one bad row must not make the whole document NULL. */
static json_t *jstr(const char *s) {
        json_t *j;

        if (!s)
                return json_null();
        j = json_string(s);
        return j ? j : json_string("(not valid UTF-8)");
}

static json_t *jtime(int64_t ms) {
        char buf[48];

        if (ms < 0)
                return json_null();
        span_iso(ms, buf, sizeof(buf));
        return json_string(buf);
}

static json_t *json_call(const hist_call_t *c) {
        char message[CAUSE_TEXT_MAX] = "";

        if (c->outcome != RF_CALL_OK)
                cause_message(c->error, message, sizeof(message));
        return json_pack("{s:o, s:i, s:o, s:o, s:o, s:i, s:o, s:o}", "scraper", jstr(c->scraper), "try", c->try_no,
                         "http_status", c->http_status > 0 ? json_integer(c->http_status) : json_null(), "outcome",
                         jstr(rf_call_outcome_name(c->outcome)), "started_at", jtime(c->started_ms), "duration_ms",
                         c->duration_ms, "error", *c->error ? jstr(c->error) : json_null(), "message",
                         *message ? jstr(message) : json_null());
}

static json_t *json_decision(const hist_decision_t *d) {
        json_t *executions = json_array(), *o;
        int64_t ms;

        for (size_t i = 0; i < d->execution_count; i++) {
                const hist_execution_t *e = &d->executions[i];
                json_t *calls = json_array();

                for (size_t k = 0; k < e->call_count; k++)
                        json_array_append_new(calls, json_call(&e->calls[k]));
                ms = hist_execution_ms(e);
                json_array_append_new(executions,
                                      json_pack("{s:o, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "execution_id",
                                                jstr(e->execution_id), "attempt", e->attempt, "worker",
                                                jstr(e->worker_id), "status", jstr(rf_exec_status_name(e->status)),
                                                "started_at", jtime(e->started_ms), "finished_at",
                                                e->finished_ms ? jtime(e->finished_ms) : json_null(), "duration_ms",
                                                ms >= 0 ? json_integer(ms) : json_null(), "error",
                                                *e->error ? jstr(e->error) : json_null(), "calls", calls));
        }
        o = json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "decision_id",
                      jstr(d->decision_id), "kind", decision_kind(d), "tick", jtime(d->tick_ms), "decided_at",
                      jtime(d->decided_ms), "action", jstr(rf_decision_action_name(d->action)), "state",
                      jstr(rf_decision_state_name(d->state)), "state_at", jtime(d->state_ms), "reason", jstr(d->reason),
                      "attempt", d->attempt, "replay_of", jstr(d->replay_of), "backfill_of", jstr(d->backfill_of),
                      "backfill_id", jstr(d->backfill_id), "cancelled_by", jstr(d->cancelled_by), "cancel_reason",
                      jstr(d->cancel_reason), "orphan", jstr(d->orphan_why));
        json_object_set_new(o, "reaper",
                            json_pack("{s:i, s:i, s:b, s:o}", "reproduced", d->attempt > 1 ? d->attempt - 1 : 0,
                                      "abandoned", abandoned_of(d), "dead", d->state == RF_DECISION_DEAD, "dead_at",
                                      d->state == RF_DECISION_DEAD ? jtime(d->state_ms) : json_null()));
        json_object_set_new(o, "executions", executions);
        return o;
}

static json_t *json_summary(const history_t *h, const summary_t *s) {
        json_t *durations = json_object(), *errors = json_array();

        for (size_t j = 0; j < N_DURATIONS; j++)
                if (s->duration_count[j] > 0)
                        json_object_set_new(durations, rf_exec_status_name(duration_statuses[j]),
                                            json_pack("{s:i, s:I}", "count", s->duration_count[j], "avg_ms",
                                                      (json_int_t)(s->duration_total[j] / s->duration_count[j])));
        for (size_t i = 0; i < s->causes.count; i++) {
                const cause_t *c = &s->causes.list[i];
                char label[CAUSE_TEXT_MAX + 64];
                json_t *workflows = json_array();

                for (size_t k = 0; k < c->workflow_count; k++)
                        json_array_append_new(workflows, jstr(c->workflows[k]));
                cause_label(c, label, sizeof(label));
                json_array_append_new(errors,
                                      json_pack("{s:o, s:o, s:o, s:o, s:i, s:i, s:i, s:o, s:o, s:o}", "cause",
                                                jstr(label), "kind", jstr(c->kind), "http_status",
                                                c->http_status > 0 ? json_integer(c->http_status) : json_null(),
                                                "message", jstr(c->text), "calls", c->calls, "executions",
                                                c->executions, "workflow_count", (int)c->workflow_count, "workflows",
                                                workflows, "first", jtime(c->first_ms), "last", jtime(c->last_ms)));
        }
        return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:i, s:I, s:i, s:i, s:i, s:i, "
                         "s:o}",
                         "decisions", s->decisions, "run", s->run, "skip", s->skip, "missed", s->missed, "succeeded",
                         s->succeeded, "failed", s->failed, "dead", s->dead, "cancelled", s->cancelled, "open", s->open,
                         "reliability", s->run > 0 ? json_real((double)s->succeeded / s->run) : json_null(),
                         "durations", durations, "orphans", s->orphans, "orphans_any_day",
                         (json_int_t)h->orphans_any_day, "reproduced_decisions", s->reproduced_decisions, "reproduced",
                         s->reproduced, "abandoned", s->abandoned, "missed_ticks", s->missed, "errors", errors);
}

static int print_json(const history_t *h, const summary_t *s, const char *tz, char *const *filter, size_t nfilter) {
        json_t *doc, *workflows = json_array(), *events = json_array(), *names = json_array();
        int r;

        for (size_t i = 0; i < nfilter; i++)
                json_array_append_new(names, jstr(filter[i]));
        for (size_t i = 0; i < h->count;) {
                const char *w = h->decisions[i].workflow;
                json_t *list = json_array();

                for (; i < h->count && strcmp(h->decisions[i].workflow, w) == 0; i++)
                        json_array_append_new(list, json_decision(&h->decisions[i]));
                json_array_append_new(workflows, json_pack("{s:o, s:o}", "workflow", jstr(w), "decisions", list));
        }
        for (size_t i = 0; i < h->event_count; i++)
                json_array_append_new(events, json_pack("{s:o, s:o, s:o, s:o}", "at", jtime(h->events[i].at_ms), "kind",
                                                        jstr(h->events[i].kind), "workflows",
                                                        jstr(h->events[i].workflows), "text", jstr(h->events[i].text)));
        doc = json_pack("{s:o, s:o, s:s, s:o, s:o, s:o, s:o}", "from", jtime(h->span.from_ms), "to",
                        jtime(h->span.to_ms), "timezone", tz, "workflow_filter", names, "workflows", workflows,
                        "events", events, "summary", json_summary(h, s));
        if (!doc)
                return -ENOMEM;
        r = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(doc);
        return r < 0 ? -EIO : 0;
}

/* ---- the command --------------------------------------------------------- */

int producer_timeline(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = {
                { "day", required_argument, NULL, 'd' },    { "from", required_argument, NULL, 'f' },
                { "to", required_argument, NULL, 't' },     { "workflow", required_argument, NULL, 'w' },
                { "format", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 }
        };
        const char *day = NULL, *from = NULL, *to = NULL, *format = "text";
        char *filter[MAX_FILTER], errstr[1024];
        size_t nfilter = 0;
        int64_t now = rf_now_ms();
        history_t h = { 0 };
        summary_t s = { 0 };
        span_t span;
        rf_pg_t *pg = NULL;
        int c, code = RF_EXIT_FAILURE;

        rf_program_subcommand_options();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (c) {
                case 'd':
                        day = optarg;
                        break;
                case 'f':
                        from = optarg;
                        break;
                case 't':
                        to = optarg;
                        break;
                case 'w':
                        if (!rf_conf_workflow(conf, optarg))
                                return rf_program_fail(prog, RF_EXIT_USAGE, "timeline: unknown workflow '%s' in %s",
                                                       optarg, conf->path);
                        if (nfilter == MAX_FILTER)
                                return rf_program_fail(prog, RF_EXIT_USAGE, "timeline: at most %d --workflow",
                                                       MAX_FILTER);
                        filter[nfilter++] = optarg;
                        break;
                case 'o':
                        format = optarg;
                        break;
                default:
                        return rf_program_fail(prog, RF_EXIT_USAGE, USAGE);
                }
        }
        if (optind < argc)
                return rf_program_fail(prog, RF_EXIT_USAGE, "timeline: unexpected argument '%s'", argv[optind]);
        if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
                return rf_program_fail(prog, RF_EXIT_USAGE, "timeline: --format takes text or json, not '%s'", format);
        if (day && (from || to))
                return rf_program_fail(prog, RF_EXIT_USAGE, "timeline: --day or --from/--to, not both");
        if (!from != !to)
                return rf_program_fail(prog, RF_EXIT_USAGE, "timeline: --from and --to go together");
        if (day) {
                if (span_day(day, &span) < 0)
                        return rf_program_fail(prog, RF_EXIT_USAGE,
                                               "timeline: --day '%s' is not a date (YYYY-MM-DD, a local day in %s)",
                                               day, conf->producer.timezone);
        } else if (from) {
                bool bad_from = span_time(from, now, &span.from_ms) < 0;

                if (bad_from || span_time(to, now, &span.to_ms) < 0)
                        return rf_program_fail(prog, RF_EXIT_USAGE,
                                               "timeline: --%s '%s' is not a time (e.g. \"2026-01-20 13:00\" in %s, "
                                               "\"2026-01-20T18:00:00Z\", or 13:00 today)",
                                               bad_from ? "from" : "to", bad_from ? from : to, conf->producer.timezone);
                if (span.from_ms >= span.to_ms)
                        return rf_program_fail(prog, RF_EXIT_USAGE, "timeline: --from (%s) must be before --to (%s)",
                                               from, to);
        } else
                span_today(now, &span);

        if (rf_pg_connect(conf->database.url, prog->name, &pg, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "%s", errstr);
                goto out;
        }
        if (history_load(pg, &span, conf->producer.timezone, filter, nfilter, &h, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "timeline: %s", errstr);
                goto out;
        }
        if (summarize(&h, &s) < 0) {
                rf_program_fail(prog, code, "timeline: out of memory");
                goto out;
        }
        if (strcmp(format, "json") == 0) {
                if (print_json(&h, &s, conf->producer.timezone, filter, nfilter) < 0) {
                        rf_program_fail(prog, code, "timeline: could not write the JSON document");
                        goto out;
                }
        } else
                print_text(&h, &s, conf->producer.timezone, filter, nfilter);
        code = fflush(stdout) == 0 ? RF_EXIT_OK : RF_EXIT_FAILURE;
out:
        causes_free(&s.causes);
        history_free(&h);
        rf_pg_destroy(pg);
        return code;
}
