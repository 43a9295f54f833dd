/* SPDX-License-Identifier: Apache-2.0 */
/* runfleet.orphans, row by row: each reason it names, and each look-alike
 * it must leave out, written straight into the tables (no program runs).
 * The view reads an execution by (decision_id, attempt) and a waiting
 * decision's workflow in two lookups (schemas/sql/views/orphans.sql); this
 * pins what those return. */
#include <string.h>

#include "itest.h"

/* decisions: id suffix, workflow, state, attempt, decided/produced minutes ago, delivered?, waiting? */
static const char *const decisions_sql =
        "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, decided_at, produced_at,"
        " delivered_at, scrapers, attempt, state, state_at, waiting_for, trace_id)"
        " SELECT ('00000000-0000-4000-8000-' || lpad(v.n::text, 12, '0'))::uuid, v.wf, 'RUN', 'by hand',"
        "        now() - v.ago * interval '1 min', now() - v.ago * interval '1 min',"
        "        CASE WHEN v.delivered THEN now() - v.ago * interval '1 min' END, '{s}', v.attempt, v.state,"
        "        now() - v.state_ago * interval '1 min',"
        "        CASE WHEN v.waiting THEN '00000000-0000-4000-8000-999999999999'::uuid END, 't'"
        "   FROM (VALUES"
        /* 1: never reached Kafka */
        "         (1, 'a', 'PENDING', 1, 10, false, false, 10),"
        /* 2: produced, no execution */
        "         (2, 'b', 'PENDING', 1, 10, true, false, 10),"
        /* 3: attempt 2 produced, only attempt 1 executed */
        "         (3, 'c', 'PENDING', 2, 10, true, false, 10),"
        /* 4: running, lease ran out */
        "         (4, 'd', 'RUNNING', 1, 10, true, false, 10),"
        /* 5: running, lease fresh: not an orphan */
        "         (5, 'e', 'RUNNING', 1, 10, true, false, 10),"
        /* 6: produced a minute ago, within the grace: not an orphan */
        "         (6, 'f', 'PENDING', 1, 1, true, false, 1),"
        /* 7: waiting, nothing else of workflow g: an orphan */
        "         (7, 'g', 'PENDING', 1, 10, false, true, 10),"
        /* 8, 9: waiting behind a run of h in flight: not an orphan */
        "         (8, 'h', 'PENDING', 1, 10, false, true, 10),"
        "         (9, 'h', 'RUNNING', 1, 10, true, false, 10),"
        /* 10, 11: waiting, a run of i ended 30 s ago (its release may be on its way) */
        "         (10, 'i', 'PENDING', 1, 10, false, true, 10),"
        "         (11, 'i', 'SUCCEEDED', 1, 10, true, false, 0.5),"
        /* 12: ended: not an orphan */
        "         (12, 'j', 'SUCCEEDED', 1, 10, true, false, 5)"
        "        ) AS v(n, wf, state, attempt, ago, delivered, waiting, state_ago)";

static const char *const executions_sql =
        "INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id, status, started_at,"
        " heartbeat_at, lease_until, finished_at)"
        " SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(v.n::text, 12, '0'))::uuid, v.attempt, 'w',"
        "        v.status, now() - interval '9 min', now() - interval '9 min',"
        "        now() + v.lease_in * interval '1 min', CASE WHEN v.status <> 'RUNNING' THEN now() END"
        "   FROM (VALUES (3, 1, 'ABANDONED', -8), (4, 1, 'RUNNING', -5), (5, 1, 'RUNNING', 1),"
        "                (9, 1, 'RUNNING', 1), (11, 1, 'SUCCEEDED', -8), (12, 1, 'SUCCEEDED', -8)"
        "        ) AS v(n, attempt, status, lease_in)";

int main(void) {
        itest_t t;

        itest_init(&t, "orphans_view");
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/orphans_view/s\"; } );\n"
                         "workflows = ( { name = \"a\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n");
        itest_migrate(&t);
        CHECK(itest_exec(&t, decisions_sql) == 0);
        CHECK(itest_exec(&t, executions_sql) == 0);

        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.orphans") == 5);
        CHECK(strcmp(itest_query_str(&t, "SELECT string_agg(workflow || ': ' || why, '; ' ORDER BY workflow)"
                                         "  FROM runfleet.orphans"),
                     "a: never delivered to Kafka; b: produced, never executed; c: produced, never executed;"
                     " d: lease expired; g: waiting (overlap buffer_one), never released") == 0);
        return itest_finish(&t);
}
