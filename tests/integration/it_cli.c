/* SPDX-License-Identifier: Apache-2.0 */
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
        /* Every subcommand: its options after its operands, and -c FILE after
         * the subcommand (RUNFLEET_CONFIG emptied, so only -c can name the
         * file); the option never reaches the subcommand's own parser. */
        {
                char *noenv[] = { "RUNFLEET_CONFIG=", NULL };
                char *posix[] = { "RUNFLEET_CONFIG=", "POSIXLY_CORRECT=1", NULL };
                char cfg[600], eq[620];

                snprintf(cfg, sizeof(cfg), "%s", t.config);
                snprintf(eq, sizeof(eq), "--config=%s", cfg);
                code = itest_run(&t, out, sizeof(out), 30000, noenv, "runfleet-producer", "status", NULL);
                CHECK(code == 2);
                CHECK_CONTAINS(out, "no configuration file: pass -c FILE or set RUNFLEET_CONFIG");

                CHECK(itest_run(&t, out, sizeof(out), 60000, noenv, "runfleet-producer", "migrate", "-c", cfg, NULL) ==
                      0);
                CHECK_CONTAINS(out, "\"migrations_applied\":0");
                CHECK(itest_run(&t, out, sizeof(out), 30000, noenv, "runfleet-producer", "status", "-c", cfg, NULL) ==
                      0);
                CHECK_CONTAINS(out, "runfleet status for ");
                CHECK(itest_run(&t, out, sizeof(out), 30000, noenv, "runfleet-producer", "status", "--day",
                                "2026-01-02", "-c", cfg, NULL) == 0);
                CHECK_CONTAINS(out, "runfleet status for 2026-01-02");
                CHECK(itest_run(&t, out, sizeof(out), 30000, noenv, "runfleet-producer", "status", "--config", cfg,
                                "--day", "2026-01-03", NULL) == 0);
                CHECK_CONTAINS(out, "runfleet status for 2026-01-03");
                CHECK(itest_run(&t, out, sizeof(out), 30000, noenv, "runfleet-producer", "status", eq, NULL) == 0);
                CHECK_CONTAINS(out, "runfleet status for ");
                CHECK(itest_run(&t, out, sizeof(out), 60000, noenv, "runfleet-producer", "trigger", "w", "--reason",
                                "after c", "-c", cfg, NULL) == 0);
                CHECK(itest_run(&t, out, sizeof(out), 60000, noenv, "runfleet-producer", "trigger", "-c", cfg, "w",
                                "--reason", "c first", NULL) == 0);
                /* POSIXLY_CORRECT would make getopt stop at the operand */
                CHECK(itest_run(&t, out, sizeof(out), 60000, posix, "runfleet-producer", "trigger", "w", "--reason",
                                "posix", "-c", cfg, NULL) == 0);
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'w' AND ("
                                         "reason LIKE '%%after c%%' OR reason LIKE '%%c first%%' OR reason LIKE"
                                         " '%%posix%%') AND delivered_at IS NOT NULL") == 3);
                CHECK(itest_run(&t, out, sizeof(out), 60000, noenv, "runfleet-producer", "evaluate", "-c", cfg, NULL) ==
                      0);
                CHECK(itest_run(&t, out, sizeof(out), 60000, noenv, "runfleet-producer", "replay", "--from",
                                "2026-01-01", "-c", cfg, "--to", "2026-01-02", "--dry-run", "--workflow", "w",
                                NULL) == 0);
                CHECK(itest_run(&t, out, sizeof(out), 60000, noenv, "runfleet-producer", "dlq", "list", "--since",
                                "2026-01-01", "-c", cfg, NULL) == 0);
                CHECK_CONTAINS(out, "0 messages in ");
                CHECK(itest_run(&t, out, sizeof(out), 60000, noenv, "runfleet-producer", "dlq", "-c", cfg, "list",
                                NULL) == 0);
                CHECK(itest_run(&t, out, sizeof(out), 60000, noenv, "runfleet-producer", "dlq", "redrive", "--dry-run",
                                "-c", cfg, "--all", NULL) == 0);
                CHECK_CONTAINS(out, "dry run: nothing changed");
                /* the reaper and the worker have no subcommand: -c is one of their options */
                CHECK(itest_run(&t, out, sizeof(out), 60000, noenv, "runfleet-reaper", "--once", "-c", cfg, NULL) == 0);
                CHECK(itest_run(&t, out, sizeof(out), 30000, noenv, "runfleet-worker", "--print-config", "-c", cfg,
                                NULL) == 0);
                CHECK_CONTAINS(out, "workflows = (");
                /* -c without its FILE: one line, exit 2, nothing recorded */
                {
                        long long before = itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions");

                        code = itest_run(&t, out, sizeof(out), 30000, noenv, "runfleet-producer", "trigger", "w", "-c",
                                         NULL);
                        CHECK(code == 2);
                        CHECK_CONTAINS(out, "-c after 'trigger' needs a FILE");
                        CHECK(lines(out) == 1);
                        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions") == before);
                }
                /* after "--" nothing is taken for -c: the subcommand sees it */
                code = itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "status", "--", "-c", cfg,
                                 NULL);
                CHECK(code == 2);
                CHECK_CONTAINS(out, "status: unexpected argument '-c'");
                {
                        static char help[65536];

                        CHECK(itest_run(&t, help, sizeof(help), 10000, NULL, "runfleet-producer", "--help", NULL) == 0);
                        CHECK_CONTAINS(help, "before or after\n                      the command");
                        CHECK_CONTAINS(help, "reaper.max_failed_executions");
                        CHECK_CONTAINS(help, "renamed: reaper.max_attempts is now reaper.max_failed_executions");
                        CHECK_CONTAINS(help, "workflows[].alert_after");
                }
        }
        /* COMMAND --help: that command's usage on stdout, exit 0, for every
         * command the same way, without a configuration and touching nothing
         * (migrate used to answer "migrate takes no arguments", the others
         * "unrecognized option '--help'" and exit 2) */
        {
                static const char *const cmds[][3] = {
                        { "migrate", "", "  migrate " },
                        { "evaluate", "", "  evaluate [--every DURATION]" },
                        { "trigger", "w", "  trigger WORKFLOW [--reason T]" },
                        { "status", "", "  status [--day YYYY-MM-DD]" },
                        { "replay", "", "  replay --from T1 --to T2" },
                        { "backfill", "w", "  backfill WORKFLOW... --from T1 --to T2" },
                        { "dlq", "list", "  dlq redrive (--offset" },
                        { "dlq", "redrive", "  dlq list [--since T]" },
                        { "timeline", "", "  timeline [--day YYYY-MM-DD" },
                        { "explain", "w", "  explain WORKFLOW [--day YYYY-MM-DD]" },
                        { "pause", "w", "  pause (WORKFLOW... | --all) --reason T" },
                        { "unpause", "", "  unpause (WORKFLOW... | --all)" },
                };
                char *noconf[] = { "RUNFLEET_CONFIG=", NULL };
                long long decisions = itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions");
                long long pauses = itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses");

                for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
                        const char *arg = cmds[i][1][0] ? cmds[i][1] : NULL;
                        char want[96];

                        snprintf(want, sizeof(want), "COMMAND [ARGS], for %s:\n", cmds[i][0]);
                        /* --help after an operand, and -h before it */
                        code = arg ? itest_run(&t, out, sizeof(out), 10000, noconf, "runfleet-producer", cmds[i][0],
                                               arg, "--help", NULL)
                                   : itest_run(&t, out, sizeof(out), 10000, noconf, "runfleet-producer", cmds[i][0],
                                               "--help", NULL);
                        CHECK(code == 0);
                        CHECK_CONTAINS(out, "usage: runfleet-producer [-c FILE] ");
                        CHECK_CONTAINS(out, want);
                        CHECK_CONTAINS(out, cmds[i][2]);
                        CHECK(!strstr(out, "takes no arguments") && !strstr(out, "unrecognized option"));
                        if (code != 0 || !strstr(out, want))
                                printf("# %s %s --help:\n%s\n", cmds[i][0], cmds[i][1], out);
                        code = itest_run(&t, out, sizeof(out), 10000, noconf, "runfleet-producer", cmds[i][0], "-h",
                                         arg, NULL);
                        CHECK(code == 0);
                        CHECK_CONTAINS(out, want);
                }
                /* only that command's usage, not the whole list and the settings */
                CHECK(itest_run(&t, out, sizeof(out), 10000, noconf, "runfleet-producer", "migrate", "--help", NULL) ==
                      0);
                CHECK(!strstr(out, "evaluate [--every") && !strstr(out, "kafka.brokers"));
                CHECK(lines(out) <= 6);
                /* a pause --help records no pause; after "--" it is the command's argument */
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions") == decisions);
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses") == pauses);
                code = itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "status", "--", "--help",
                                 NULL);
                CHECK(code == 2);
                CHECK(!strstr(out, "COMMAND [ARGS], for status"));
        }
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
