/* SPDX-License-Identifier: Apache-2.0 */
/* A hanging scraper ends at its own timeout and holds back neither the
 * other scrapers of its workflow nor other workflows. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"

int main(void) {
        itest_t t;
        char out[4096];
        long long hang_ms, fast_ms, other_ms, fast_before_hang, other_before_hang;

        itest_init(&t, "hang");
        itest_config(&t,
                     "scrapers = (\n"
                     "  { name = \"stuck\"; url = \"@FAKE@/hang/stuck?hang=1\"; timeout_ms = 4000; max_tries = 1; },\n"
                     "  { name = \"quick\"; url = \"@FAKE@/hang/quick?delay_ms=100\"; timeout_ms = 4000; },\n"
                     "  { name = \"other\"; url = \"@FAKE@/hang/other?delay_ms=100\"; timeout_ms = 4000; }\n"
                     ");\n"
                     "workflows = (\n"
                     "  { name = \"mixed\"; schedule = \"0 3 * * *\"; scrapers = [\"stuck\", \"quick\"]; },\n"
                     "  { name = \"neighbour\"; schedule = \"0 3 * * *\"; scrapers = [\"other\"]; }\n"
                     ");\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n");
        itest_migrate(&t);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "mixed", NULL) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "neighbour", NULL) == 0);
        CHECK(itest_wait_for(&t, 2, 60000, "SELECT count(*) FROM runfleet.executions WHERE finished_at IS NOT NULL"));

        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                                 " USING (decision_id) WHERE d.workflow = 'mixed' AND e.status = 'TIMED_OUT'") == 1);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                             " USING (decision_id) WHERE d.workflow = 'neighbour' AND e.status = 'SUCCEEDED'") == 1);
        hang_ms = itest_query_ll(&t, "SELECT duration_ms FROM runfleet.scraper_calls WHERE scraper = 'stuck'");
        fast_ms = itest_query_ll(&t, "SELECT duration_ms FROM runfleet.scraper_calls WHERE scraper = 'quick'");
        other_ms = itest_query_ll(&t, "SELECT duration_ms FROM runfleet.scraper_calls WHERE scraper = 'other'");
        printf("# stuck %lld ms, quick %lld ms, other %lld ms\n", hang_ms, fast_ms, other_ms);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE scraper = 'stuck'"
                                 " AND outcome = 'TIMEOUT'") == 1);
        /* generous bounds: the timeout is 4 s */
        CHECK(hang_ms >= 3500 && hang_ms < 10000);
        CHECK(fast_ms >= 0 && fast_ms < 2500);
        CHECK(other_ms >= 0 && other_ms < 2500);
        /* the quick call and the other workflow finished while the stuck call still waited */
        fast_before_hang = itest_query_ll(
                &t,
                "SELECT count(*) FROM runfleet.scraper_calls q, runfleet.scraper_calls s"
                " WHERE q.scraper = 'quick' AND s.scraper = 'stuck'"
                " AND q.started_at + q.duration_ms * interval '1 ms' < s.started_at + s.duration_ms * interval '1 ms' - interval '1 s'");
        other_before_hang = itest_query_ll(
                &t, "SELECT count(*) FROM runfleet.executions o, runfleet.scraper_calls s, runfleet.decisions d"
                    " WHERE o.decision_id = d.decision_id AND d.workflow = 'neighbour' AND s.scraper = 'stuck'"
                    " AND o.finished_at < s.started_at + s.duration_ms * interval '1 ms' - interval '1 s'");
        CHECK(fast_before_hang == 1);
        CHECK(other_before_hang == 1);
        return itest_finish(&t);
}
