/* What an operator sees when something is wrong: one clear line and the
 * documented exit code, never a crash; and migrate is idempotent. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static const char *const good =
        "scrapers = ( { name = \"s\"; url = \"@FAKE@/cli/s\"; } );\n"
        "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; },\n"
        "              { name = \"off\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; enabled = false; } );\n";

static int lines(const char *s) {
        int n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

int main(void) {
        itest_t t;
        char out[8192];
        int code;

        itest_init(&t, "cli");
        itest_config(&t, "%s", good);

        /* migrate twice: the second run changes nothing and succeeds */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "migrate", NULL) == 0);
        CHECK_CONTAINS(out, "\"migrations_applied\":");
        CHECK(!strstr(out, "\"migrations_applied\":0"));
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "migrate", NULL) == 0);
        CHECK_CONTAINS(out, "\"migrations_applied\":0");
        CHECK_CONTAINS(out, "\"topics_created\":0");
        /* replication_factor = 0 (the default): min(3, brokers), min ISR one less but at least 1 */
        if (strstr(out, "\"brokers\":1}") || strstr(out, "\"brokers\":1,")) {
                CHECK_CONTAINS(out, "\"replication_factor\":1");
                CHECK_CONTAINS(out, "\"min_insync_replicas\":1");
        } else {
                CHECK_CONTAINS(out, "\"replication_factor\":3");
                CHECK_CONTAINS(out, "\"min_insync_replicas\":2");
        }
        /* a replication factor the cluster cannot have: one line naming the setting, exit 1, no topic */
        {
                char *env[] = { "RUNFLEET_KAFKA_REPLICATION_FACTOR=100", "RUNFLEET_KAFKA_TOPIC=itest.cli.rf100",
                                "RUNFLEET_KAFKA_DLQ_TOPIC=itest.cli.rf100.dlq", NULL };
                const char *p, *msg;
                int n = 0;
                code = itest_run(&t, out, sizeof(out), 60000, env, "runfleet-producer", "migrate", NULL);
                CHECK(code == 1);
                CHECK_CONTAINS(out, "kafka.replication_factor is 100 but the cluster at ");
                msg = strstr(out, "runfleet-producer: ");
                CHECK(msg && strchr(msg, '\n') && !strstr(strchr(msg, '\n'), "runfleet-producer: "));
                for (p = out; (p = strstr(p, "runfleet-producer: ")); p++)
                        n++;
                CHECK(n == 1);
                CHECK(!strstr(out, "migrate.done"));
        }

        code = itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "nope", NULL);
        CHECK(code == 2);
        CHECK_CONTAINS(out, "unknown workflow 'nope'");
        CHECK(lines(out) == 1);

        code = itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "off", NULL);
        CHECK(code == 2);
        CHECK_CONTAINS(out, "disabled");

        code = itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "bogus", NULL);
        CHECK(code == 2);
        CHECK_CONTAINS(out, "unknown command 'bogus'");

        /* a broken file: file:line and exit 2, from every program */
        itest_config(&t, "%s\nworker = { max_in_flight = \"many\"; };\n", good);
        for (int i = 0; i < 3; i++) {
                const char *prog[] = { "runfleet-producer", "runfleet-worker", "runfleet-reaper" };
                code = itest_run(&t, out, sizeof(out), 30000, NULL, prog[i], i == 0 ? "evaluate" : NULL, NULL);
                CHECK(code == 2);
                CHECK_CONTAINS(out, ".cfg:");
                CHECK_CONTAINS(out, "max_in_flight");
                CHECK(lines(out) == 1);
        }

        /* an unreachable database: one line, exit 1, for each program */
        {
                char *env[] = { "RUNFLEET_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", NULL };
                itest_config(&t, "%s", good);
                code = itest_run(&t, out, sizeof(out), 30000, env, "runfleet-producer", "trigger", "w", NULL);
                CHECK(code == 1);
                CHECK_CONTAINS(out, "database");
                CHECK(lines(out) == 1);
                code = itest_run(&t, out, sizeof(out), 30000, env, "runfleet-worker", NULL);
                CHECK(code == 1);
                CHECK_CONTAINS(out, "database");
        }
        /* an unreachable broker: the decision is recorded, the command fails clearly */
        {
                char *env[] = { "RUNFLEET_KAFKA_BROKERS=127.0.0.1:1", NULL };
                code = itest_run(&t, out, sizeof(out), 60000, env, "runfleet-producer", "trigger", "w", NULL);
                CHECK(code == 1);
                CHECK_CONTAINS(out, "not delivered");
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'w'"
                                         " AND delivered_at IS NULL") == 1);
        }
        /* a subcommand's option after its operand, as its usage line shows it */
        code = itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "trigger", "w", "--reason", "by hand",
                         NULL);
        CHECK(code == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'w' AND reason LIKE"
                                 " '%%by hand%%' AND delivered_at IS NOT NULL") == 1);
        /* the reaper's own switch, beside the common options */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-reaper", "--once", NULL) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 10000, NULL, "runfleet-reaper", "--bogus", NULL) == 2);
        CHECK_CONTAINS(out, "--bogus");
        CHECK(itest_run(&t, out, sizeof(out), 10000, NULL, "runfleet-worker", "--version", NULL) == 0);
        CHECK_CONTAINS(out, "runfleet-worker ");
        CHECK(itest_run(&t, out, sizeof(out), 10000, NULL, "runfleet-reaper", "--help", NULL) == 0);
        CHECK_CONTAINS(out, "worker.max_in_flight");
        return itest_finish(&t);
}
