/* SPDX-License-Identifier: Apache-2.0 */
/* `dlq list`: a message the worker dead-lettered is listed with its
 * reason, its origin (topic, partition, offset) and its time; --since
 * leaves out what came before. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_util.h"

int main(void) {
        itest_t t;
        char out[8192], origin[200], later[40];
        long long offset;

        itest_init(&t, "dlq_tools");
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/dlq_tools/s\"; } );\n"
                         "workflows = ( { name = \"w\"; schedule = \"0 0 1 1 *\"; scrapers = [\"s\"]; } );\n"
                         "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n");
        itest_migrate(&t);

        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "dlq", "list", NULL) == 0);
        CHECK_CONTAINS(out, "0 messages in ");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "dlq", "list", "--since", "soon",
                        NULL) == 2);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "dlq", "bogus", NULL) == 2);

        CHECK(itest_produce_raw(&t, t.topic, "w", "not avro", 8) == 0);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        /* the worker commits past the message once the DLQ has it */
        {
                bool done = false;
                for (int i = 0; i < 120 && !done; i++) {
                        long long committed = 0, end = 0;
                        itest_group_offsets(&t, t.topic, t.group, &committed, &end);
                        done = committed == end && end == 1;
                        if (!done)
                                itest_sleep_ms(250);
                }
                CHECK(done);
        }
        offset = 0; /* the first and only message of its partition */
        snprintf(origin, sizeof(origin), "%s [", t.topic);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "dlq", "list", NULL) == 0);
        CHECK_CONTAINS(out, "1 message in ");
        CHECK_CONTAINS(out, origin);
        {
                char at[32];
                snprintf(at, sizeof(at), "] @%lld", offset);
                CHECK_CONTAINS(out, at);
        }
        CHECK_CONTAINS(out, "8 undecodable bytes");
        CHECK_CONTAINS(out, "reason: undecodable");
        CHECK_CONTAINS(out, "DEAD-LETTERED");

        itest_sleep_ms(1100);
        rf_time_format(rf_now_ms(), later, sizeof(later));
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "dlq", "list", "--since", later,
                        NULL) == 0);
        CHECK_CONTAINS(out, "0 messages in ");
        return itest_finish(&t);
}
