/* SPDX-License-Identifier: Apache-2.0 */
/* A worker group scaled up and down under a steady load loses nothing,
 * with either consumer group protocol (the argument: "classic", the
 * cooperative-sticky default, or "consumer", KIP-848's broker-side
 * assignment): two workers grow to six one by one, then four of them are
 * stopped (SIGTERM: they drain and leave) while decisions keep arriving.
 * Afterwards every decision has exactly one SUCCEEDED execution, none is
 * orphaned, the group has committed the whole topic, and the broker says
 * the group ran the protocol asked for. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_conf.h"
#include "rf_kafka.h"
#include "rf_store.h"
#include "rf_util.h"

#define PARTITIONS 12
#define MAX_WORKERS 6

static const char *protocol;
static char protocol_env[64];

static pid_t spawn_worker(itest_t *t, int i) {
        char log[32];
        char *env[] = { protocol_env, NULL };

        snprintf(log, sizeof(log), "worker-%d", i + 1);
        return itest_spawn_env(t, log, env, "runfleet-worker", NULL);
}

/* Offers a batch of decisions every 100 ms for @p ms, spread over the
 * workflows (so over the partitions). Returns how many Kafka acknowledged. */
static int offer(itest_t *t, rd_kafka_t *rk, char wf[][32], int *next_wf, int ms) {
        int64_t until = rf_mono_ms() + ms;
        int acked = 0;

        while (rf_mono_ms() < until) {
                int64_t turn = rf_mono_ms();
                for (int k = 0; k < 3; k++)
                        acked += itest_decide_with(t, rk, wf[(*next_wf)++ % PARTITIONS], 2, NULL);
                if (rf_mono_ms() - turn < 100)
                        itest_sleep_ms((int)(100 - (rf_mono_ms() - turn)));
        }
        return acked;
}

int main(int argc, char **argv) {
        itest_t t;
        char wf[PARTITIONS][32], name[64], errstr[1024];
        pid_t pids[MAX_WORKERS] = { 0 };
        rf_conf_t *conf = NULL;
        rd_kafka_t *rk = NULL;
        int next_wf = 0, offered = 0, running;
        long long committed = -1, end = -2, decisions;
        const char *type;

        protocol = argc > 1 ? argv[1] : "classic";
        if (strcmp(protocol, "classic") != 0 && strcmp(protocol, "consumer") != 0) {
                fprintf(stderr, "usage: %s classic|consumer\n", argv[0]);
                return 2;
        }
        snprintf(protocol_env, sizeof(protocol_env), "RUNFLEET_KAFKA_GROUP_PROTOCOL=%s", protocol);
        snprintf(name, sizeof(name), "group_scale_%s", protocol);
        itest_init(&t, name);
        t.partitions = PARTITIONS;
        itest_workflow_names(PARTITIONS, PARTITIONS, wf);
        {
                char workflows[PARTITIONS * 96] = "", *o = workflows;
                for (int i = 0; i < PARTITIONS; i++)
                        o += snprintf(o, sizeof(workflows) - (size_t)(o - workflows),
                                      "%s{ name = \"%s\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; }",
                                      i ? ",\n" : "", wf[i]);
                itest_config(&t,
                             "scrapers = ( { name = \"s\"; url = \"@FAKE@/group_scale/s?delay_ms=200\"; } );\n"
                             "workflows = ( %s );\n"
                             "worker = { max_in_flight = 200; lease_ms = 10000; heartbeat_ms = 1000;"
                             " commit_interval_ms = 200; drain_timeout_ms = 10000; };\n",
                             workflows);
        }
        itest_migrate(&t);
        CHECK(rf_conf_load(t.config, &conf, errstr, sizeof(errstr)) == 0);
        CHECK(conf && rf_kafka_producer_new(conf, "itest", rf_store_dr_cb, NULL, &rk, errstr, sizeof(errstr)) == 0);
        if (!rk) {
                fprintf(stderr, "FAIL: producer: %s\n", errstr);
                return itest_finish(&t);
        }

        /* two workers settle, then the load starts */
        pids[0] = spawn_worker(&t, 0);
        pids[1] = spawn_worker(&t, 1);
        CHECK(itest_wait_assigned(&t, pids, 2, PARTITIONS, 60000));
        offered += offer(&t, rk, wf, &next_wf, 2000);
        type = itest_group_type(&t, t.group);
        printf("# the broker runs group %s with the %s protocol\n", t.group, type);
        CHECK(strcmp(type, protocol) == 0);

        /* up: one more worker every 1.5 s, the load going on */
        for (running = 2; running < MAX_WORKERS; running++) {
                pids[running] = spawn_worker(&t, running);
                offered += offer(&t, rk, wf, &next_wf, 1500);
        }
        CHECK(itest_wait_assigned(&t, pids, MAX_WORKERS, PARTITIONS, 60000));
        offered += offer(&t, rk, wf, &next_wf, 2000);
        CHECK(itest_query_ll(&t, "SELECT count(DISTINCT worker_id) FROM runfleet.executions") > 2);

        /* down: four leave one by one, each draining what it runs */
        for (; running > 2; running--) {
                kill(pids[running - 1], SIGTERM);
                offered += offer(&t, rk, wf, &next_wf, 1000);
                CHECK(itest_wait(pids[running - 1], 30000) == 0);
        }
        CHECK(itest_wait_assigned(&t, pids, 2, PARTITIONS, 60000));
        offered += offer(&t, rk, wf, &next_wf, 2000);
        rd_kafka_destroy(rk);
        rf_conf_destroy(conf);

        decisions = itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions");
        printf("# %d decisions offered and acknowledged, %lld recorded\n", offered, decisions);
        CHECK(offered > 300);
        CHECK(decisions == offered);
        CHECK(itest_wait_for(&t, offered, 120000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        CHECK(itest_invariant_violations(&t) == 0);
        printf("# %lld executions for %lld decisions (a re-run after a move is allowed, a second success is not)\n",
               itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions"), decisions);
        CHECK(itest_wait_committed(&t, t.topic, t.group, 60000));
        itest_group_offsets(&t, t.topic, t.group, &committed, &end);
        CHECK(committed == end);
        CHECK(end == offered);
        return itest_finish(&t);
}
