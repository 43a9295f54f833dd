/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's two batch functions against PostgreSQL, one case per
 * verdict: begin_executions answers STARTED, DONE, STALE, TAKEN and UNKNOWN
 * for the items of one batch as begin_execution would for each, and
 * STARTED again for a claim its worker sends twice, STARTED for each item
 * of a batch that all starts; and
 * finish_executions records what its worker owns, refuses what it does not
 * (keeping the calls, which happened), and when two executions of one
 * decision both succeed in one batch records exactly one of them. */
#include "itest.h"

#define A "00000000-0000-4000-8000-00000000000a"
#define B "00000000-0000-4000-8000-00000000000b"
#define C "00000000-0000-4000-8000-00000000000c"
#define D "00000000-0000-4000-8000-00000000000d"
#define E "00000000-0000-4000-8000-00000000000e"
#define F "00000000-0000-4000-8000-00000000000f"
#define G "00000000-0000-4000-8000-000000000010"
#define MISSING "00000000-0000-4000-8000-0000000000ff"
#define EX(n) "00000000-0000-4000-9000-0000000000" n

static void decision(itest_t *t, const char *id, const char *state, int attempt) {
        CHECK(itest_query_ll(t,
                             "WITH x AS (INSERT INTO runfleet.decisions (decision_id, workflow, action, reason,"
                             " trace_id, state, attempt) VALUES ('%s', 'w', 'RUN', 'test', 't', '%s', %d)"
                             " RETURNING 1) SELECT count(*) FROM x",
                             id, state, attempt) == 1);
}

static void execution(itest_t *t, const char *id, const char *decision_id, int attempt, const char *worker) {
        CHECK(itest_query_ll(t,
                             "WITH x AS (INSERT INTO runfleet.executions (execution_id, decision_id, attempt,"
                             " worker_id, status, lease_until) VALUES ('%s', '%s', %d, '%s', 'RUNNING',"
                             " now() + interval '1 minute') RETURNING 1) SELECT count(*) FROM x",
                             id, decision_id, attempt, worker) == 1);
}

static void begin_verdicts(itest_t *t) {
        decision(t, A, "PENDING", 1);
        decision(t, B, "SUCCEEDED", 1);
        decision(t, C, "PENDING", 2);
        decision(t, D, "RUNNING", 1);
        execution(t, EX("d1"), D, 1, "other");
        CHECK(itest_query_ll(
                      t,
                      "SELECT count(*) FROM runfleet.begin_executions('w1', 5000, 'topic', '["
                      "{\"i\": 0, \"decision_id\": \"" A "\", \"attempt\": 1, \"execution_id\": \"" EX(
                              "a1") "\", \"partition\": 0, \"offset\": 10},"
                                    "{\"i\": 1, \"decision_id\": \"" B "\", \"attempt\": 1, \"execution_id\": \"" EX(
                                            "b1") "\", \"partition\": 0, \"offset\": 11},"
                                                  "{\"i\": 2, \"decision_id\": \"" C
                                                  "\", \"attempt\": 1, \"execution_id\": \"" EX(
                                                          "c1") "\", \"partition\": 1, \"offset\": 12},"
                                                                "{\"i\": 3, \"decision_id\": \"" D
                                                                "\", \"attempt\": 1, \"execution_id\": \"" EX(
                                                                        "d2") "\", \"partition\": 1, \"offset\": 13},"
                                                                              "{\"i\": 4, \"decision_id\": \"" MISSING
                                                                              "\", \"attempt\": 1, \"execution_id\": \"" EX(
                                                                                      "f1") "\", \"partition\": 2, \"offset\": 14},"
                                                                                            "{\"i\": 5, \"decision_id\": \"" A
                                                                                            "\", \"attempt\": 1, \"execution_id\": \"" EX(
                                                                                                    "a2") "\", \"partition\": 0, \"offset\": 10}"
                                                                                                          "]'::jsonb) WHERE (idx, verdict) IN ((0, 'STARTED'), (1, 'DONE'), (2, 'STALE'),"
                                                                                                          " (3, 'TAKEN'), (4, 'UNKNOWN'), (5, 'TAKEN'))") ==
              6);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '" A "'"
                                " AND state = 'RUNNING' AND delivered_at IS NOT NULL") == 1);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.executions WHERE decision_id = '" A "'"
                                " AND worker_id = 'w1' AND status = 'RUNNING' AND kafka_offset = 10") == 1);
        /* nothing was claimed for the others */
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.executions") == 2);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '" C "'"
                                " AND state = 'PENDING' AND attempt = 2") == 1);
}

/* The common case (migration 011): every item of the claim starts, and
 * says so without the verdicts being read back. */
static void begin_all_started(itest_t *t) {
        decision(t, F, "PENDING", 1);
        decision(t, G, "FAILED", 1);
        CHECK(itest_query_ll(
                      t,
                      "SELECT count(*) FROM runfleet.begin_executions('w1', 5000, 'topic', '["
                      "{\"i\": 0, \"decision_id\": \"" F "\", \"attempt\": 1, \"execution_id\": \"" EX(
                              "0f") "\", \"partition\": 0, \"offset\": 20},"
                                    "{\"i\": 1, \"decision_id\": \"" G "\", \"attempt\": 2, \"execution_id\": \"" EX(
                                            "10") "\", \"partition\": 1, \"offset\": 21}"
                                                  "]'::jsonb) WHERE (idx, verdict) IN ((0, 'STARTED'), (1, 'STARTED'))") ==
              2);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.executions WHERE execution_id IN ('" EX("0f") "', '" EX(
                                        "10") "') AND worker_id = 'w1' AND status = 'RUNNING'") == 2);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.decisions WHERE decision_id IN ('" F "', '" G "')"
                                " AND state = 'RUNNING'") == 2);
        CHECK(itest_query_ll(t, "SELECT attempt FROM runfleet.decisions WHERE decision_id = '" G "'") == 2);
}

/* A claim sent again after its answer was lost (the connection broke after
 * the commit): the execution it inserted is its own, so it is STARTED
 * again, not TAKEN, and nothing is inserted twice. Another worker asking
 * with its own execution id is still TAKEN. */
static void begin_retried(itest_t *t) {
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.begin_executions('w1', 5000, 'topic', '["
                                "{\"i\": 0, \"decision_id\": \"" A "\", \"attempt\": 1, \"execution_id\": \"" EX(
                                        "a1") "\", \"partition\": 0, \"offset\": 10}"
                                              "]'::jsonb) WHERE (idx, verdict) = (0, 'STARTED')") == 1);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.begin_executions('w2', 5000, 'topic', '["
                                "{\"i\": 0, \"decision_id\": \"" A "\", \"attempt\": 1, \"execution_id\": \"" EX(
                                        "a3") "\", \"partition\": 0, \"offset\": 10}"
                                              "]'::jsonb) WHERE (idx, verdict) = (0, 'TAKEN')") == 1);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.executions WHERE decision_id = '" A "'") == 1);
}

#define CALL(scraper)                                                                                                  \
        "[{\"scraper\": \"" scraper "\", \"try\": 1, \"http_status\": 200, \"outcome\": \"OK\", "                      \
        "\"started_ms\": 1790000000000, \"duration_ms\": 3, \"error\": null}]"

/* A's execution is w1's; D's belongs to another worker */
#define FENCED_BATCH                                                                                                   \
        "SELECT count(*) FROM runfleet.finish_executions('w1', '["                                                     \
        "{\"i\": 0, \"execution_id\": \"" EX(                                                                          \
                "a1") "\", \"status\": \"SUCCEEDED\","                                                                 \
                      " \"error\": null, \"calls\": " CALL(                                                            \
                              "s") "},"                                                                                \
                                   "{\"i\": 1, \"execution_id\": \"" EX(                                               \
                                           "d1") "\", \"status\": \"FAILED\","                                         \
                                                 " \"error\": \"boom\", \"calls\": " CALL("s") "}"                     \
                                                                                               "]'::jsonb)"

static void finish_fenced(itest_t *t) {
        CHECK(itest_query_ll(t, FENCED_BATCH " WHERE (idx, recorded) IN ((0, true), (1, false))") == 2);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '" A "'"
                                " AND state = 'SUCCEEDED'") == 1);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.executions WHERE execution_id = '" EX(
                                        "d1") "'"
                                              " AND status = 'RUNNING' AND worker_id = 'other'") == 1);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '" D "'"
                                " AND state = 'RUNNING'") == 1);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.scraper_calls") == 2);
        /* the same batch again (its answer lost): nothing is recorded twice */
        CHECK(itest_query_ll(t, FENCED_BATCH " WHERE NOT recorded") == 2);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.scraper_calls") == 2);
}

/* A call listed twice for an execution the worker runs: the plain insert
 * of migration 011 meets the duplicate, and the batch falls back to one
 * item at a time, which records the execution and the call once. */
static void finish_duplicate_call(itest_t *t) {
        CHECK(itest_query_ll(
                      t,
                      "SELECT count(*) FROM runfleet.finish_executions('w1', '["
                      "{\"i\": 0, \"execution_id\": \"" EX(
                              "0f") "\", \"status\": \"SUCCEEDED\","
                                    " \"error\": null, \"calls\": " CALL(
                                            "s") "},"
                                                 "{\"i\": 1, \"execution_id\": \"" EX(
                                                         "10") "\", \"status\": \"SUCCEEDED\","
                                                               " \"error\": null, \"calls\": [{\"scraper\": \"s\", \"try\": 1, \"outcome\": \"OK\","
                                                               " \"started_ms\": 1790000000000, \"duration_ms\": 3}, {\"scraper\": \"s\", \"try\": 1,"
                                                               " \"outcome\": \"OK\", \"started_ms\": 1790000000000, \"duration_ms\": 3}]}"
                                                               "]'::jsonb) WHERE recorded") == 2);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.scraper_calls WHERE execution_id IN ('" EX(
                                        "0f") "', '" EX("10") "')") == 2);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.decisions WHERE decision_id IN ('" F "', '" G "')"
                                " AND state = 'SUCCEEDED'") == 2);
}

/* scraper_calls has no foreign key (migration 008): the functions must
 * not write calls for an execution that does not exist. */
static void finish_unknown(itest_t *t) {
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.finish_executions('w1', '["
                                "{\"i\": 0, \"execution_id\": \"" EX(
                                        "f0") "\", \"status\": \"SUCCEEDED\","
                                              " \"error\": null, \"calls\": " CALL(
                                                      "s") "}"
                                                           "]'::jsonb) WHERE (idx, recorded) = (0, false)") == 1);
        CHECK(itest_query_ll(t, "SELECT runfleet.finish_execution_json('" EX("f0") "', 'w1', 'SUCCEEDED',"
                                                                                   " NULL, '" CALL(
                                                                                           "s") "'::jsonb)::int") == 0);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.scraper_calls WHERE execution_id = '" EX("f0") "'") ==
              0);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.scraper_calls s WHERE NOT EXISTS"
                                " (SELECT 1 FROM runfleet.executions e WHERE e.execution_id = s.execution_id)") == 0);
}

/* Unreachable through the reaper (it abandons attempt 1 before producing
 * attempt 2), so made by hand: the partial unique index refuses the second
 * success and the batch falls back to one item at a time. */
static void finish_one_success(itest_t *t) {
        decision(t, E, "RUNNING", 2);
        execution(t, EX("e1"), E, 1, "w1");
        execution(t, EX("e2"), E, 2, "w1");
        CHECK(itest_query_ll(t,
                             "SELECT count(*) FROM runfleet.finish_executions('w1', '["
                             "{\"i\": 0, \"execution_id\": \"" EX(
                                     "e1") "\", \"status\": \"SUCCEEDED\","
                                           " \"error\": null, \"calls\": " CALL(
                                                   "s") "},"
                                                        "{\"i\": 1, \"execution_id\": \"" EX(
                                                                "e2") "\", \"status\": \"SUCCEEDED\","
                                                                      " \"error\": null, \"calls\": " CALL(
                                                                              "s") "}"
                                                                                   "]'::jsonb) WHERE recorded") == 1);
        CHECK(itest_query_ll(t, "SELECT count(*) FROM runfleet.executions WHERE decision_id = '" E "'"
                                " AND status = 'SUCCEEDED'") == 1);
}

int main(void) {
        itest_t t;

        itest_init(&t, "batches");
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/batches/s\"; } );\n"
                         "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n");
        itest_migrate(&t);
        /* migration 009: a batch is found by key, never by reading a whole table */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_proc WHERE proname IN ('begin_executions',"
                                 " 'finish_executions') AND 'enable_seqscan=off' = ANY (proconfig)"
                                 " AND 'plan_cache_mode=force_custom_plan' = ANY (proconfig)") == 2);
        /* migration 010: the key to decisions is checked at commit, and
         * still refuses an execution of an unknown decision */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_constraint WHERE conname = 'executions_decision_id_fkey'"
                                 " AND conrelid = 'runfleet.executions'::regclass"
                                 " AND condeferrable AND condeferred") == 1);
        fprintf(stderr, "# expected below: a foreign key violation\n");
        CHECK(itest_query_ll(&t,
                             "WITH x AS (INSERT INTO runfleet.executions (execution_id, decision_id, attempt,"
                             " worker_id, status, lease_until) VALUES ('%s', '%s', 1, 'w', 'RUNNING', now())"
                             " RETURNING 1) SELECT count(*) FROM x",
                             EX("f1"), MISSING) == -1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE execution_id = '%s'", EX("f1")) == 0);
        begin_verdicts(&t);
        begin_all_started(&t);
        begin_retried(&t);
        finish_fenced(&t);
        finish_duplicate_call(&t);
        finish_unknown(&t);
        finish_one_success(&t);
        return itest_finish(&t);
}
