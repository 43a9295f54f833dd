/* SPDX-License-Identifier: Apache-2.0 */
/* pause / unpause with the real programs: bad input is refused with exit 2
 * and nothing recorded; `pause --cancel-pending` records who, when and why,
 * ends the RUN decisions no worker had started as CANCELLED (with who and
 * why); while paused every `@every 2s` tick is a SKIP "paused by alice
 * since HH:MM: ..."; a worker started afterwards receives the CANCELLED
 * decisions' messages and runs none of them; the reaper never produces a
 * CANCELLED decision again and the orphans view leaves it out, however old;
 * `unpause` records who lifted it and the ticks RUN again; --all pauses and
 * unpauses every enabled workflow. */
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

int main(void) {
        itest_t t;
        char out[8192];
        pid_t ev;
        long long cancelled;

        itest_init(&t, "pause");
        itest_config(&t,
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/%s/s?delay_ms=10\"; } );\n"
                     "workflows = (\n"
                     /* allow: RUN decisions pile up, PENDING, while no worker runs */
                     "  { name = \"wf\"; schedule = \"@every 2s\"; scrapers = [\"s\"]; overlap = \"allow\"; },\n"
                     "  { name = \"other\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; },\n"
                     "  { name = \"off\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; enabled = false; } );\n"
                     "worker = { commit_interval_ms = 200; };\n"
                     "reaper = { interval_ms = 300; grace_ms = 31000; };\n",
                     t.topic);
        itest_migrate(&t);

        /* bad input: exit 2, one line naming what is wrong, nothing recorded */
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "pause", "nope", "--reason", "x",
                        NULL) == 2);
        CHECK_CONTAINS(out, "pause: unknown workflow 'nope'");
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "pause", "wf", "nope", "--reason", "x",
                        NULL) == 2);
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "pause", "off", "--reason", "x",
                        NULL) == 2);
        CHECK_CONTAINS(out, "pause: workflow 'off' is disabled");
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "pause", "wf", NULL) == 2);
        CHECK_CONTAINS(out, "--reason TEXT is required");
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "pause", "wf", "--all", "--reason", "x",
                        NULL) == 2);
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "unpause", "nope", NULL) == 2);
        CHECK_CONTAINS(out, "unpause: unknown workflow 'nope'");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses") == 0);

        /* RUN decisions recorded and produced, no worker yet: they stay PENDING */
        ev = itest_spawn(&t, "evaluator", "runfleet-producer", "evaluate", "--every", "2s", NULL);
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT least(count(*), 3) / 3 FROM runfleet.decisions WHERE workflow = 'wf'"
                             " AND action = 'RUN' AND state = 'PENDING' AND delivered_at IS NOT NULL"));

        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "pause", "wf", "--reason",
                        "scraper fix", "--by", "alice", "--cancel-pending", NULL) == 0);
        printf("# %s", out);
        CHECK_CONTAINS(out, "wf: paused by alice since ");
        CHECK_CONTAINS(out, " UTC: scraper fix\n");
        CHECK_CONTAINS(out, "pending decisions cancelled: ");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses WHERE workflow = 'wf' AND paused_by = 'alice'"
                                 " AND reason = 'scraper fix' AND NOT automatic AND unpaused_at IS NULL") == 1);
        /* every RUN decided before the pause that no worker started is CANCELLED, with who and why */
        cancelled = itest_query_ll(
                &t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'CANCELLED'"
                    " AND cancelled_by = 'alice' AND cancel_reason = 'pause --cancel-pending: scraper fix'");
        CHECK(cancelled >= 3);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions d, runfleet.pauses p"
                                 " WHERE d.action = 'RUN' AND d.state = 'PENDING'"
                                 "   AND d.decided_at < p.paused_at - interval '1 second'") == 0);

        /* every tick while paused: SKIP, saying who, since when (local time) and why */
        CHECK(itest_wait_for(&t, 3, 30000,
                             "SELECT least(count(*), 3) FROM runfleet.decisions d, runfleet.pauses p"
                             " WHERE d.workflow = 'wf' AND d.tick > p.paused_at AND d.action = 'SKIP'"
                             "   AND d.reason = 'paused by alice since ' || to_char(p.paused_at AT TIME ZONE 'UTC',"
                             "       'HH24:MI') || ': scraper fix (tick ' || to_char(d.tick AT TIME ZONE 'UTC',"
                             "       'HH24:MI') || ' UTC)'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions d, runfleet.pauses p"
                                 " WHERE d.workflow = 'wf' AND d.tick > p.paused_at + interval '1 second'"
                                 "   AND d.action <> 'SKIP'") == 0);

        /* pausing again says so and changes nothing */
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "pause", "wf", "--reason", "again",
                        NULL) == 0);
        CHECK_CONTAINS(out, "wf: already paused by alice since ");
        CHECK_CONTAINS(out, "scraper fix");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses") == 1);

        /* status shows the pause and the cancelled runs */
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "status", NULL) == 0);
        CHECK_CONTAINS(out, "paused workflows (every tick SKIPs until `unpause`): 1\n");
        CHECK_CONTAINS(out, "  WORKFLOW              SINCE             BY                AUTO  REASON\n  wf    ");
        CHECK_CONTAINS(out, "  alice             no    scraper fix\n");
        {
                char want[64];

                snprintf(want, sizeof(want), "failed or dead, %lld cancelled), ", cancelled);
                CHECK_CONTAINS(out, want);
        }

        /* a worker now receives the CANCELLED decisions' messages and runs none */
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        CHECK(itest_wait_committed(&t, t.topic, t.group, 60000));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                                 " USING (decision_id) WHERE d.state = 'CANCELLED'") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'CANCELLED'") == cancelled);

        /* however old, a CANCELLED decision is no orphan and the reaper leaves it be */
        CHECK(itest_query_ll(&t, "WITH x AS (UPDATE runfleet.decisions SET produced_at = now() - interval '1 hour',"
                                 " decided_at = now() - interval '1 hour' WHERE state = 'CANCELLED' RETURNING 1)"
                                 " SELECT count(*) FROM x") == cancelled);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.orphans") == 0);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-reaper", "--once", NULL) == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'CANCELLED' AND attempt = 1"
                                 " AND produced_at < now() - interval '50 minutes'") == cancelled);

        /* unpause: who lifted it is recorded, and the ticks RUN again */
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "unpause", "wf", "--by", "bob", NULL) ==
              0);
        printf("# %s", out);
        CHECK_CONTAINS(out, "wf: unpaused (was paused by alice since ");
        CHECK_CONTAINS(out, "scraper fix");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses WHERE unpaused_by = 'bob'"
                                 " AND unpaused_at IS NOT NULL") == 1);
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT least(count(*), 1) FROM runfleet.decisions d, runfleet.pauses p"
                             " WHERE d.workflow = 'wf' AND d.tick > p.unpaused_at AND d.action = 'RUN'"
                             "   AND d.state = 'SUCCEEDED'"));
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "unpause", "wf", NULL) == 0);
        CHECK_CONTAINS(out, "wf: not paused");

        /* --all: every enabled workflow, not the disabled one */
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "pause", "--all", "--reason",
                        "maintenance", NULL) == 0);
        CHECK_CONTAINS(out, "wf: paused by ");
        CHECK_CONTAINS(out, "other: paused by ");
        CHECK(strstr(out, "off:") == NULL);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses WHERE unpaused_at IS NULL") == 2);
        /* without --by: the OS user */
        CHECK_STR_EQ(itest_query_str(&t, "SELECT string_agg(DISTINCT paused_by, ',') FROM runfleet.pauses"
                                         " WHERE reason = 'maintenance'"),
                     getpwuid(geteuid())->pw_name);
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "unpause", "--all", NULL) == 0);
        CHECK_CONTAINS(out, "wf: unpaused");
        CHECK_CONTAINS(out, "other: unpaused");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses WHERE unpaused_at IS NULL") == 0);

        kill(ev, SIGTERM);
        CHECK(itest_wait(ev, 20000) == 0);
        CHECK(itest_wait_for(&t, 0, 30000,
                             "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'"
                             " AND state IN ('PENDING', 'RUNNING')"));
        CHECK(itest_invariant_violations(&t) == 0);
        return itest_finish(&t);
}
