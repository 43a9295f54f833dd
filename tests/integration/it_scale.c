/* SPDX-License-Identifier: Apache-2.0 */
/* One worker keeps far more than 500 slow scraper calls in flight at once:
 * 2,000 decisions whose scraper takes 2 s all finish, and the recorded call
 * intervals overlap. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_util.h"

#define N 2000

int main(void) {
        itest_t t;
        long long overlap, ok;
        int64_t started;

        itest_init(&t, "scale");
        itest_config(
                &t,
                "scrapers = ( { name = \"slow\"; url = \"@FAKE@/scale/slow?delay_ms=2000\"; timeout_ms = 30000; } );\n"
                "workflows = ( { name = \"bulk\"; schedule = \"0 3 * * *\"; scrapers = [\"slow\"]; } );\n"
                "worker = { max_in_flight = 2000; lease_ms = 30000; heartbeat_ms = 5000; commit_interval_ms = 500; };\n");
        itest_migrate(&t);
        CHECK(itest_decide(&t, "bulk", N, NULL) == N);
        started = rf_mono_ms();
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, N, 120000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        printf("# %d two-second executions finished in %lld ms\n", N, (long long)(rf_mono_ms() - started));
        ok = itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE outcome = 'OK'");
        CHECK(ok == N);
        /* the most calls open at one instant: at each call's start, count those running */
        overlap = itest_query_ll(
                &t, "WITH c AS (SELECT started_at AS s, started_at + duration_ms * interval '1 ms' AS e"
                    "             FROM runfleet.scraper_calls)"
                    " SELECT max(n) FROM (SELECT (SELECT count(*) FROM c b WHERE b.s <= a.s AND b.e > a.s) AS n"
                    "                       FROM c a) x");
        printf("# at most %lld calls in flight at once\n", overlap);
        CHECK(overlap > 500);
        return itest_finish(&t);
}
