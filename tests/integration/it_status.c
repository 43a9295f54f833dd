/* SPDX-License-Identifier: Apache-2.0 */
/* What `runfleet-producer status` says about durations and attempts, from
 * rows laid out as the programs leave them (so the numbers are exact):
 *
 * - "lost": its worker died 12 s into the execution; a reaper found the
 *   lease expired 790 s later and marked it ABANDONED (finished_at then).
 *   DURATION must be the 12 s it ran (to its last heartbeat), marked "+",
 *   never the 802 s until a reaper noticed; runfleet.runs says the same.
 * - "busy": produced 9 times (Kafka was down, the reaper re-produced it
 *   while nobody executed it) with 1 failed execution, then SUCCEEDED, with
 *   reaper.max_failed_executions = 8: status shows PRODUCED 9 and FAILED
 *   1/8, so the two counts cannot be mistaken for each other. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"

/* The line of @p out that contains @p what, into @p line. */
static bool line_with(const char *out, const char *what, char *line, size_t size) {
        const char *p = strstr(out, what), *start, *end;

        if (!p)
                return false;
        for (start = p; start > out && start[-1] != '\n'; start--)
                ;
        end = strchr(p, '\n');
        snprintf(line, size, "%.*s", (int)(end ? end - start : (long)strlen(start)), start);
        return true;
}

int main(void) {
        itest_t t;
        char out[16384], line[512], day[16] = "";
        PGresult *res = NULL;
        char errstr[256];

        itest_init(&t, "status");
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/status/s\"; } );\n"
                         "workflows = ( { name = \"lost\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; },\n"
                         "              { name = \"busy\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                         "reaper = { max_failed_executions = 8; };\n");
        itest_migrate(&t);
        /* decided 20 minutes ago; the day status shows is that one's (UTC) */
        CHECK(itest_exec(
                      &t,
                      "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, decided_at, scrapers,"
                      " attempt, state, trace_id) VALUES"
                      " ('11111111-1111-4111-8111-111111111111', 'lost', 'RUN', 'by hand', now() - interval '20 min',"
                      "  '{s}', 1, 'FAILED', 't1'),"
                      " ('22222222-2222-4222-8222-222222222222', 'busy', 'RUN', 'by hand', now() - interval '20 min',"
                      "  '{s}', 9, 'SUCCEEDED', 't2')") == 0);
        CHECK(itest_exec(&t, "INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id, status,"
                             " started_at, heartbeat_at, lease_until, finished_at, error) VALUES"
                             " (gen_random_uuid(), '11111111-1111-4111-8111-111111111111', 1, 'w-1', 'ABANDONED',"
                             "  now() - interval '900 s', now() - interval '888 s', now() - interval '858 s',"
                             "  now() - interval '98 s', 'lease expired (worker w-1)'),"
                             " (gen_random_uuid(), '22222222-2222-4222-8222-222222222222', 2, 'w-2', 'FAILED',"
                             "  now() - interval '600 s', now() - interval '598 s', now() - interval '570 s',"
                             "  now() - interval '597 s', 'HTTP 500'),"
                             " (gen_random_uuid(), '22222222-2222-4222-8222-222222222222', 9, 'w-2', 'SUCCEEDED',"
                             "  now() - interval '60 s', now() - interval '57 s', now() - interval '30 s',"
                             "  now() - interval '55 s', NULL)") == 0);
        CHECK(rf_pg_exec(t.pg, "SELECT to_char((now() - interval '20 min') AT TIME ZONE 'UTC', 'YYYY-MM-DD')", 0, NULL,
                         &res, errstr, sizeof(errstr)) == 0);
        if (res && PQntuples(res) == 1)
                snprintf(day, sizeof(day), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);

        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "status", "--day", day, NULL) == 0);
        printf("%s", out);
        /* the header names both counts */
        CHECK(line_with(out, "DECIDED", line, sizeof(line)));
        CHECK_CONTAINS(line, "PRODUCED");
        CHECK_CONTAINS(line, "FAILED");
        CHECK(!strstr(line, "ATTEMPT"));
        /* how long it ran, not how long until a reaper noticed */
        CHECK(line_with(out, "ABANDONED", line, sizeof(line)));
        CHECK_CONTAINS(line, " 12.0s+ ");
        CHECK(!strstr(line, "802"));
        CHECK_CONTAINS(line, " 1/8 ");
        CHECK_CONTAINS(out, "DURATION+ (ABANDONED): until the execution's last heartbeat");
        /* produced 9 times, failed once, of 8 allowed */
        CHECK(line_with(out, "22222222", line, sizeof(line)));
        CHECK_CONTAINS(line, " SUCCEEDED         9     1/8 ");
        CHECK_CONTAINS(line, " 5.0s ");
        CHECK_CONTAINS(out, "PRODUCED: times the decision was handed to Kafka");
        CHECK_CONTAINS(out, "FAILED: its failed executions / reaper.max_failed_executions");

        /* the view an operator queries says the same */
        CHECK(itest_query_ll(&t, "SELECT round(duration_ms)::bigint FROM runfleet.runs WHERE workflow = 'lost'") ==
              12000);
        CHECK(itest_query_ll(&t, "SELECT failed_executions FROM runfleet.runs WHERE workflow = 'busy'") == 1);
        CHECK(itest_query_ll(&t, "SELECT attempt FROM runfleet.runs WHERE workflow = 'busy'") == 9);
        return itest_finish(&t);
}
