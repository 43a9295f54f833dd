/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "decide_sql.h"
#include "overlap.h"
#include "rf_lifecycle.h"
#include "rf_log.h"
#include "rf_store.h"
#include "rf_uuid.h"
#include "workflow_decision.h"

/* The jobs as the JSON array [{"i": index, "w": workflow, "t": tick_ms}]
 * the queries below read. */
static char *jobs_json(const decide_job_t *jobs, size_t count) {
        json_t *a = json_array();
        char *text;

        for (size_t i = 0; a && i < count; i++)
                if (json_array_append_new(a, json_pack("{s:I, s:s, s:I}", "i", (json_int_t)i, "w", jobs[i].w->name, "t",
                                                       (json_int_t)jobs[i].tick_ms)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        text = a ? json_dumps(a, JSON_COMPACT) : NULL;
        json_decref(a);
        return text;
}

static const char *const sql_pauses =
        "SELECT workflow, paused_by, (extract(epoch FROM paused_at) * 1000)::bigint, reason, automatic"
        "  FROM runfleet.pauses WHERE unpaused_at IS NULL AND workflow = ANY ($1::text[])"
        " ORDER BY workflow COLLATE \"C\"";

typedef struct job_name {
        const char *name;
        size_t job;
} job_name_t;

typedef struct round {
        rf_pg_t *pg;
        const char *tz;
        decide_job_t *jobs;
        size_t count;
        bool *decided; /* by job: its tick has a decision already */
        PGresult *hist, *pauses;
        policy_run_t *runs; /* rows of hist, by workflow */
        size_t run_count;
        policy_run_t *scratch; /* one job's runs: its own and those of the workflows it runs after */
        size_t scratch_cap;
        /* by job: the RUN it made, for the jobs after it that run after its
         * workflow (a workflow listed before another is decided first, as
         * one decision at a time always did); workflow NULL: none */
        policy_run_t *made;
        job_name_t *by_name; /* the jobs by workflow name */
} round_t;

static int by_name(const void *a, const void *b) {
        return strcmp(((const job_name_t *)a)->name, ((const job_name_t *)b)->name);
}

/* The job of @p workflow in this round, or -1. */
static long job_of(const round_t *rd, const char *workflow) {
        const job_name_t key = { .name = workflow }, *hit;

        hit = bsearch(&key, rd->by_name, rd->count, sizeof(*rd->by_name), by_name);
        return hit ? (long)hit->job : -1;
}

/* The workflows of the round and those they run after, as a text[]
 * literal (duplicates are harmless to ANY()). */
static char *names_literal(const round_t *rd, bool with_after) {
        size_t n = 0, k = 0;
        char **names, *list;

        for (size_t i = 0; i < rd->count; i++)
                n += 1 + (with_after ? rd->jobs[i].w->after_count : 0);
        names = calloc(n + 1, sizeof(*names));
        if (!names)
                return NULL;
        for (size_t i = 0; i < rd->count; i++) {
                names[k++] = rd->jobs[i].w->name;
                for (size_t j = 0; with_after && j < rd->jobs[i].w->after_count; j++)
                        names[k++] = rd->jobs[i].w->after[j];
        }
        list = rf_pg_array_literal(names, n);
        free(names);
        return list;
}

/* The earliest tick of the round, in ms. */
static int64_t first_tick(const round_t *rd) {
        int64_t lo = rd->jobs[0].tick_ms;

        for (size_t i = 1; i < rd->count; i++)
                lo = rd->jobs[i].tick_ms < lo ? rd->jobs[i].tick_ms : lo;
        return lo;
}

static int load_decided(round_t *rd, char *errstr, size_t errstr_size) {
        char *text = jobs_json(rd->jobs, rd->count), min_id[37];
        PGresult *res = NULL;
        int r;

        if (!text)
                return -ENOMEM;
        rf_uuid_floor(first_tick(rd), min_id);
        {
                const char *params[] = { text, min_id };
                r = rf_pg_exec(rd->pg, decide_sql_decided, 2, params, &res, errstr, errstr_size);
        }
        free(text);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(res); i++) {
                long j = strtol(PQgetvalue(res, i, 0), NULL, 10);
                if (j >= 0 && (size_t)j < rd->count)
                        rd->decided[j] = true;
        }
        PQclear(res);
        return 0;
}

static int load_history(round_t *rd, char *errstr, size_t errstr_size) {
        char *list = names_literal(rd, true), from[32], to[32], min_id[37];
        int64_t lo = first_tick(rd), hi = rd->jobs[0].tick_ms;
        int r, n;

        if (!list)
                return -ENOMEM;
        for (size_t i = 1; i < rd->count; i++)
                hi = rd->jobs[i].tick_ms > hi ? rd->jobs[i].tick_ms : hi;
        snprintf(from, sizeof(from), "%lld", (long long)lo);
        snprintf(to, sizeof(to), "%lld", (long long)hi);
        rf_uuid_floor(lo - DECIDE_HISTORY_BEFORE_MS, min_id);
        {
                const char *params[] = { list, from, to, min_id };
                r = rf_pg_exec(rd->pg, decide_sql_history, 4, params, &rd->hist, errstr, errstr_size);
        }
        free(list);
        if (r < 0)
                return r;
        n = PQntuples(rd->hist);
        rd->runs = calloc((size_t)n + 1, sizeof(*rd->runs));
        if (!rd->runs)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                const PGresult *h = rd->hist;

                rd->runs[i] = (policy_run_t){ .workflow = PQgetvalue(h, i, 0),
                                              .decision_id = PQgetvalue(h, i, 1),
                                              .at_ms = strtoll(PQgetvalue(h, i, 2), NULL, 10),
                                              .state_at_ms = strtoll(PQgetvalue(h, i, 3), NULL, 10),
                                              .replay = strcmp(PQgetvalue(h, i, 5), "t") == 0,
                                              .waiting = strcmp(PQgetvalue(h, i, 6), "t") == 0 };
                if (rf_decision_state_from_name(PQgetvalue(h, i, 4), &rd->runs[i].state) < 0) {
                        snprintf(errstr, errstr_size, "decision %s has an unknown state '%s' (a newer schema?)",
                                 rd->runs[i].decision_id, PQgetvalue(h, i, 4));
                        return -EPROTO;
                }
        }
        rd->run_count = (size_t)n;
        return 0;
}

static int load_pauses(round_t *rd, char *errstr, size_t errstr_size) {
        char *list = names_literal(rd, false);
        int r;

        if (!list)
                return -ENOMEM;
        {
                const char *params[] = { list };
                r = rf_pg_exec(rd->pg, sql_pauses, 1, params, &rd->pauses, errstr, errstr_size);
        }
        free(list);
        return r;
}

/* The first row of @p res (sorted by column 0 as strcmp sorts) whose
 * column 0 is @p name, or -1. */
static int first_row(const PGresult *res, int rows, const char *name) {
        int lo = 0, hi = rows;

        while (lo < hi) {
                int mid = lo + (hi - lo) / 2;

                if (strcmp(PQgetvalue(res, mid, 0), name) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < rows && strcmp(PQgetvalue(res, lo, 0), name) == 0 ? lo : -1;
}

static int scratch_add(round_t *rd, const policy_run_t *run, size_t *n) {
        if (*n == rd->scratch_cap) {
                size_t cap = rd->scratch_cap ? rd->scratch_cap * 2 : 64;
                policy_run_t *p = realloc(rd->scratch, cap * sizeof(*p));

                if (!p)
                        return -ENOMEM;
                rd->scratch = p;
                rd->scratch_cap = cap;
        }
        rd->scratch[(*n)++] = *run;
        return 0;
}

/* Appends the runs of @p workflow to the scratch list: its history, and
 * with @p with_made the RUN this round made for it already. */
static int gather(round_t *rd, const char *workflow, bool with_made, size_t *n) {
        int i = first_row(rd->hist, (int)rd->run_count, workflow);
        long j = with_made ? job_of(rd, workflow) : -1;

        for (; i >= 0 && (size_t)i < rd->run_count && strcmp(rd->runs[i].workflow, workflow) == 0; i++)
                if (scratch_add(rd, &rd->runs[i], n) < 0)
                        return -ENOMEM;
        if (j >= 0 && rd->made[j].workflow)
                return scratch_add(rd, &rd->made[j], n);
        return 0;
}

/* Decides job @p j by the policy; j->d gets the new decision. */
static int decide_job(round_t *rd, decide_job_t *j, policy_verdict_t *v) {
        const rf_workflow_conf_t *w = j->w;
        policy_pause_t pause;
        size_t n = 0;
        int p, r;

        r = gather(rd, w->name, false, &n);
        for (size_t k = 0; r == 0 && k < w->after_count; k++)
                r = gather(rd, w->after[k], true, &n);
        if (r < 0)
                return r;
        p = first_row(rd->pauses, PQntuples(rd->pauses), w->name);
        if (p >= 0)
                pause = (policy_pause_t){ .by = PQgetvalue(rd->pauses, p, 1),
                                          .since_ms = strtoll(PQgetvalue(rd->pauses, p, 2), NULL, 10),
                                          .reason = PQgetvalue(rd->pauses, p, 3),
                                          .automatic = strcmp(PQgetvalue(rd->pauses, p, 4), "t") == 0 };
        r = policy_decide(w, rd->tz, j->tick_ms, rd->scratch, n, p >= 0 ? &pause : NULL, v);
        if (r < 0)
                return -EINVAL;
        if (j->note) {
                size_t len = strlen(v->reason);

                snprintf(v->reason + len, sizeof(v->reason) - len, "; %s", j->note);
        }
        snprintf(j->reason, sizeof(j->reason), "%s", v->reason);
        j->run = v->run;
        j->waiting = v->run && *v->wait_for;
        j->d = workflow_decision_new(w, v->reason);
        if (!j->d)
                return -ENOMEM;
        if (j->run) {
                size_t i = (size_t)(j - rd->jobs);

                rd->made[i] = (policy_run_t){ .workflow = w->name,
                                              .decision_id = "(this evaluation)",
                                              .at_ms = j->tick_ms,
                                              .state_at_ms = j->tick_ms,
                                              .state = RF_DECISION_PENDING,
                                              .waiting = j->waiting };
        }
        return 0;
}

/* Records the decisions made, but the waiting ones, in one INSERT. A job
 * whose tick another evaluator decided meanwhile loses its decision. */
static int insert_batch(round_t *rd, char *errstr, size_t errstr_size) {
        rf_store_new_t *rows = calloc(rd->count + 1, sizeof(*rows));
        size_t *of = calloc(rd->count + 1, sizeof(*of)), n = 0;
        int r = -ENOMEM;

        if (!rows || !of)
                goto out;
        for (size_t i = 0; i < rd->count; i++)
                if (rd->jobs[i].d && !rd->jobs[i].waiting) {
                        rows[n] = (rf_store_new_t){ .d = rd->jobs[i].d,
                                                    .action = rd->jobs[i].run ? "RUN" : "SKIP",
                                                    .tick_ms = rd->jobs[i].tick_ms };
                        of[n++] = i;
                }
        r = n ? rf_store_insert_decisions(rd->pg, rows, n, errstr, errstr_size) : 0;
        for (size_t k = 0; k < n; k++)
                if (r < 0 || !rows[k].inserted) {
                        rf_decision_destroy(rd->jobs[of[k]].d);
                        rd->jobs[of[k]].d = NULL;
                }
out:
        if (r == -ENOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        free(rows);
        free(of);
        return r;
}

/* Records each waiting RUN in its own transaction (overlap.h); they are
 * rare: one per workflow with a run in flight and overlap buffer_one. */
static int insert_waiting(round_t *rd, const policy_verdict_t *verdicts, char *errstr, size_t errstr_size) {
        int first = 0;

        for (size_t i = 0; i < rd->count; i++) {
                decide_job_t *j = &rd->jobs[i];
                char why[1024];
                int r;

                if (!j->d || !j->waiting)
                        continue;
                r = overlap_insert_waiting(rd->pg, j->d, j->tick_ms, verdicts[i].wait_for, why, sizeof(why));
                if (r == 0)
                        continue;
                rf_decision_destroy(j->d);
                j->d = NULL;
                if (r != -EEXIST && first == 0) {
                        snprintf(errstr, errstr_size, "%s: %s", j->w->name, why);
                        first = r;
                }
        }
        return first;
}

int decide_round(rf_pg_t *pg, const char *tz, decide_job_t *jobs, size_t count, char *errstr, size_t errstr_size) {
        round_t rd = { .pg = pg, .tz = tz, .jobs = jobs, .count = count };
        policy_verdict_t *verdicts = NULL;
        int r = -ENOMEM;

        for (size_t i = 0; i < count; i++)
                jobs[i].d = NULL;
        if (count == 0)
                return 0;
        rd.decided = calloc(count, sizeof(*rd.decided));
        rd.made = calloc(count, sizeof(*rd.made));
        rd.by_name = calloc(count, sizeof(*rd.by_name));
        verdicts = calloc(count, sizeof(*verdicts));
        if (!rd.decided || !rd.made || !rd.by_name || !verdicts)
                goto out;
        for (size_t i = 0; i < count; i++)
                rd.by_name[i] = (job_name_t){ jobs[i].w->name, i };
        qsort(rd.by_name, count, sizeof(*rd.by_name), by_name);
        r = load_decided(&rd, errstr, errstr_size);
        if (r == 0)
                r = load_history(&rd, errstr, errstr_size);
        if (r == 0)
                r = load_pauses(&rd, errstr, errstr_size);
        for (size_t i = 0; r == 0 && i < count; i++) {
                if (rd.decided[i])
                        continue;
                r = decide_job(&rd, &jobs[i], &verdicts[i]);
                if (r == -EINVAL)
                        snprintf(errstr, errstr_size, "time zone '%s' is unusable", tz ? tz : "UTC");
        }
        if (r == 0)
                r = insert_batch(&rd, errstr, errstr_size);
        if (r == 0)
                r = insert_waiting(&rd, verdicts, errstr, errstr_size);
        else
                decide_jobs_clear(jobs, count); /* nothing of the round was recorded */
out:
        if (r == -ENOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        free(verdicts);
        free(rd.decided);
        free(rd.made);
        free(rd.by_name);
        free(rd.runs);
        free(rd.scratch);
        PQclear(rd.hist);
        PQclear(rd.pauses);
        return r;
}

void decide_jobs_clear(decide_job_t *jobs, size_t count) {
        for (size_t i = 0; i < count; i++) {
                rf_decision_destroy(jobs[i].d);
                jobs[i].d = NULL;
        }
}
