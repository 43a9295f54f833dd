/* SPDX-License-Identifier: Apache-2.0 */
/* `dlq redrive`: a decision naming a scraper the worker's configuration
 * lacks lands in the DLQ; once the scraper is in the configuration,
 * `dlq redrive --all` runs it exactly once, a second redrive re-produces
 * nothing, messages still invalid stay with today's reason, and --dry-run
 * changes nothing. Two configuration files stand for "before" and "after"
 * the scraper was added. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_decision.h"
#include "rf_util.h"

static char conf_old[600], conf_new[600];
static char env_old[700], env_new[700];

/* Stops a spawned process with SIGTERM; it must drain and exit 0. */
static void stop(itest_t *t, pid_t pid) {
        kill(pid, SIGTERM);
        CHECK(itest_wait(pid, 20000) == 0);
        for (int i = 0; i < t->proc_count; i++)
                if (t->procs[i] == pid)
                        t->procs[i] = 0;
}

/* Runs `runfleet-producer dlq ARGS...` with the configuration @p env names. */
#define dlq(t, out, env, ...)                                                                                          \
        itest_run((t), (out), sizeof(out), 90000, (char *[]){ (env), NULL }, "runfleet-producer", "dlq", __VA_ARGS__,  \
                  NULL)

int main(void) {
        itest_t t;
        char out[16384], at[48], expect[256];
        char(*ids)[37] = NULL;
        long long committed, end;
        int part = -1;
        long long off = -1;
        pid_t old_worker;

        itest_init(&t, "redrive");
        itest_own_fake_scraper(&t);
        /* after: "extra" exists; before: the worker has never heard of it */
        itest_config(&t,
                     "scrapers = ( { name = \"base\"; url = \"@FAKE@/%s/base\"; },\n"
                     "             { name = \"extra\"; url = \"@FAKE@/%s/extra\"; } );\n"
                     "workflows = ( { name = \"w\"; schedule = \"0 0 1 1 *\"; scrapers = [\"base\", \"extra\"]; } );\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n",
                     t.topic, t.topic);
        snprintf(conf_new, sizeof(conf_new), "%s", t.config);
        itest_config(&t,
                     "scrapers = ( { name = \"base\"; url = \"@FAKE@/%s/base\"; } );\n"
                     "workflows = ( { name = \"w\"; schedule = \"0 0 1 1 *\"; scrapers = [\"base\"]; } );\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n",
                     t.topic);
        snprintf(conf_old, sizeof(conf_old), "%s", t.config);
        snprintf(env_old, sizeof(env_old), "RUNFLEET_CONFIG=%s", conf_old);
        snprintf(env_new, sizeof(env_new), "RUNFLEET_CONFIG=%s", conf_new);

        /* the evaluator knows the new workflow: the decision is recorded and produced */
        snprintf(t.config, sizeof(t.config), "%s", conf_new);
        itest_migrate(&t);
        CHECK(itest_decide(&t, "w", 1, &ids) == 1);
        if (!ids)
                return itest_finish(&t);

        /* a worker with the old configuration dead-letters it */
        snprintf(t.config, sizeof(t.config), "%s", conf_old);
        old_worker = itest_spawn(&t, "worker-old", "runfleet-worker", NULL);
        for (int i = 0; i < 240; i++) {
                itest_group_offsets(&t, t.topic, t.group, &committed, &end);
                if (committed == 1 && end == 1)
                        break;
                itest_sleep_ms(250);
        }
        CHECK(committed == 1 && end == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'PENDING'") == 1);

        /* still invalid under the old configuration: it stays, with its reason */
        CHECK(dlq(&t, out, env_old, "redrive", "--all", "--dry-run") == 0);
        CHECK_CONTAINS(out, "stays ");
        CHECK_CONTAINS(out, "unknown scraper 'extra' in workflow 'w'");
        CHECK_CONTAINS(out, "0 would be redriven, 1 still invalid");
        stop(&t, old_worker);

        /* two more dead letters that no configuration makes valid, same key */
        CHECK(itest_produce_raw(&t, t.dlq_topic, "w", "garbage", 7) == 0);
        {
                rf_decision_t *d = rf_decision_new();
                char id[37], errstr[256];
                char *names[] = { "base" };
                void *buf = NULL;
                size_t len = 0;

                rf_uuid_new(id);
                d->decision_id = strdup(id);
                d->workflow = strdup("w");
                d->reason = strdup("never recorded");
                d->trace_id = strdup(id);
                d->attempt = 1;
                d->decided_at_ms = rf_now_ms();
                d->deadline_ms = 60000;
                rf_decision_set_scrapers(d, names, 1);
                CHECK(rf_decision_encode(d, &buf, &len, errstr, sizeof(errstr)) == 0);
                CHECK(itest_produce_raw(&t, t.dlq_topic, "w", buf, len) == 0);
                free(buf);
                rf_decision_destroy(d);
        }

        /* the scraper is added: a worker runs the new configuration */
        snprintf(t.config, sizeof(t.config), "%s", conf_new);
        itest_spawn(&t, "worker-new", "runfleet-worker", NULL);

        /* dry run: says what it would do, and does nothing */
        CHECK(dlq(&t, out, env_new, "redrive", "--all", "--dry-run") == 0);
        snprintf(expect, sizeof(expect), "redrive decision %s of w (attempt 1) to %s", ids[0], t.topic);
        CHECK_CONTAINS(out, expect);
        CHECK_CONTAINS(out, "undecodable");
        CHECK_CONTAINS(out, "is not in PostgreSQL");
        CHECK_CONTAINS(out, "1 would be redriven, 2 still invalid");
        CHECK_CONTAINS(out, "dry run: nothing changed");
        itest_sleep_ms(3000);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.dlq_redrives") == 0);
        itest_group_offsets(&t, t.topic, t.group, &committed, &end);
        CHECK(end == 1);

        /* offsets count per DLQ partition: a bare offset is ambiguous with 3 */
        CHECK(dlq(&t, out, env_new, "redrive", "--offset", "0") == 2);
        CHECK_CONTAINS(out, "has 3 partitions");
        CHECK(dlq(&t, out, env_new, "redrive", "--offset", "7:0") == 1);
        CHECK_CONTAINS(out, "has no partition 7");
        CHECK(dlq(&t, out, env_new, "redrive", "--all", "--offset", "0:0") == 2);
        CHECK(dlq(&t, out, env_new, "redrive") == 2);
        CHECK(dlq(&t, out, env_new, "redrive", "--offset", "x:1") == 2);

        /* the redrive: produced again once, and run once */
        CHECK(dlq(&t, out, env_new, "redrive", "--all") == 0);
        printf("%s", out);
        CHECK_CONTAINS(out, "1 redriven, 2 still invalid");
        {
                const char *line = strstr(out, "redriven  ");
                CHECK(line && sscanf(line + 10, "%d:%lld", &part, &off) == 2);
        }
        CHECK(itest_wait_for(&t, 1, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"
                             " AND decision_id = '%s'",
                             ids[0]) == 1);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.dlq_redrives WHERE decision_id = '%s'"
                             " AND dlq_partition = %d AND dlq_offset = %lld AND attempt = 1",
                             ids[0], part, off) == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE scraper = 'extra'") == 1);
        CHECK(itest_fake_path_count(&t, "extra") == 1);
        CHECK(itest_fake_path_count(&t, "base") == 1);

        /* a second redrive re-produces nothing */
        CHECK(dlq(&t, out, env_new, "redrive", "--all") == 0);
        CHECK_CONTAINS(out, "0 redriven, 2 still invalid");
        CHECK_CONTAINS(out, "1 already redriven");
        snprintf(at, sizeof(at), "%d:%lld", part, off);
        CHECK(dlq(&t, out, env_new, "redrive", "--offset", at) == 1);
        CHECK_CONTAINS(out, "already redriven at ");
        /* the garbage came after the dead letter in the same partition */
        snprintf(at, sizeof(at), "%lld", off + 1);
        {
                char p[16];
                snprintf(p, sizeof(p), "%d", part);
                CHECK(dlq(&t, out, env_new, "redrive", "--partition", p, "--offset", at) == 1);
        }
        CHECK_CONTAINS(out, "stays ");
        CHECK_CONTAINS(out, "undecodable");
        snprintf(at, sizeof(at), "%d:%lld", part, off + 5);
        CHECK(dlq(&t, out, env_new, "redrive", "--offset", at) == 1);
        CHECK_CONTAINS(out, "no message at");

        itest_sleep_ms(3000);
        itest_group_offsets(&t, t.topic, t.group, &committed, &end);
        CHECK(end == 2); /* the original and the one redrive */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == 1);
        CHECK(itest_fake_path_count(&t, "extra") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.dlq_redrives") == 1);
        /* `dlq list` still shows every dead letter */
        CHECK(dlq(&t, out, env_new, "list") == 0);
        CHECK_CONTAINS(out, "3 messages in ");
        free(ids);
        return itest_finish(&t);
}
