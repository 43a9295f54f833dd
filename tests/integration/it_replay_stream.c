/* SPDX-License-Identifier: Apache-2.0 */
/* A replay larger than its chunks (producer/replay_record.c records 1,000
 * messages at a time): a backfill makes 1,500 decisions, a first replay
 * re-runs them, and a second replay over a range holding both the 1,500
 * originals and the 1,500 replays of them must re-run each original
 * exactly once: a replay's message names its original (replay_of) and
 * comes ≥ 1,500 messages after it, in a later chunk, so the fold against
 * what the replay recorded already is what keeps it single. No worker
 * runs: the decisions only need to be in the topic. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_util.h"

#define N 1500

int main(void) {
        itest_t t;
        char out[8192], from[40], to[40];

        itest_init(&t, "replay_stream");
        t.partitions = 1; /* one partition: every message in one offset order */
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/replay_stream/s\"; } );\n"
                         "workflows = ( { name = \"sec\"; schedule = \"@every 1s\"; scrapers = [\"s\"]; } );\n");
        itest_migrate(&t);
        rf_time_format(rf_now_ms() - 1000, from, sizeof(from));
        CHECK(itest_run(&t, out, sizeof(out), 120000, NULL, "runfleet-producer", "backfill", "sec", "--from",
                        "2026-01-01T00:00:00Z", "--to", "2026-01-01T00:24:59Z", "--mode", "all", "--yes", NULL) == 0);
        CHECK_CONTAINS(out, "1500 decisions created, 1500 delivered to Kafka");
        itest_sleep_ms(1100);
        rf_time_format(rf_now_ms(), to, sizeof(to));
        CHECK(itest_run(&t, out, sizeof(out), 120000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        NULL) == 0);
        CHECK_CONTAINS(out, "1500 decisions replayed");
        itest_sleep_ms(1100);
        rf_time_format(rf_now_ms(), to, sizeof(to));

        /* originals and their replays in one range: each original once */
        CHECK(itest_run(&t, out, sizeof(out), 120000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        NULL) == 0);
        CHECK_CONTAINS(out, "1500 decisions replayed");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.replays") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(DISTINCT original_id) FROM runfleet.replay_decisions") == N);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.replay_decisions r JOIN runfleet.decisions o"
                                 " ON o.decision_id = r.original_id WHERE o.replay_of IS NOT NULL") == 0);
        CHECK(itest_query_ll(&t, "SELECT max(decisions) FROM runfleet.replays") == N);
        /* every replayed decision was produced, in the originals' order */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE replay_of IS NOT NULL"
                                 " AND delivered_at IS NULL") == 0);
        return itest_finish(&t);
}
