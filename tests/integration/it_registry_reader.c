/* SPDX-License-Identifier: Apache-2.0 */
/* An independent reader of the Schema Registry framing: decisions that
 * runfleet's programs produce (trigger, and replay's decisions with
 * replay_of set) are read back by Confluent's Python client
 * (AvroDeserializer + SchemaRegistryClient, from PyPI, in the venv of
 * tests/deploy/setup-venv) against the same registry, and every field of
 * every message is compared with its row in PostgreSQL
 * (read_confluent.py). */
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_util.h"

int main(void) {
        itest_t t;
        char out[8192], python[600], root[512], from[40], to[40];
        const char *venv = getenv("RUNFLEET_VENV");
        bool required = getenv("RUNFLEET_REQUIRE_SERVICES") && strcmp(getenv("RUNFLEET_REQUIRE_SERVICES"), "1") == 0;

        itest_init(&t, "registry_reader");
        itest_require_registry(&t);
        itest_source_root(&t, root, sizeof(root));
        if (venv && *venv)
                snprintf(python, sizeof(python), "%s/bin/python", venv);
        else if (getenv("RUNFLEET_STATE_DIR"))
                snprintf(python, sizeof(python), "%s/venv/bin/python", getenv("RUNFLEET_STATE_DIR"));
        else
                snprintf(python, sizeof(python), "%s/.runfleet/venv/bin/python", root);
        if (itest_sh("'%s' -c 'import confluent_kafka.schema_registry.avro' >/dev/null 2>&1", python) != 0) {
                fprintf(stderr,
                        "%s: %s cannot import confluent_kafka (run tests/deploy/setup-venv, or set RUNFLEET_VENV)\n",
                        required ? "FAIL" : "SKIP", python);
                itest_cleanup(&t, 0);
                return required ? 1 : 77;
        }

        setenv("RUNFLEET_KAFKA_VALUE_FORMAT", "schema-registry", 1);
        itest_config(&t,
                     "schema_registry = { url = \"%s\"; };\n"
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/registry_reader/s\"; },\n"
                     "             { name = \"s2\"; url = \"@FAKE@/registry_reader/s2\"; } );\n"
                     "workflows = ( { name = \"a\"; schedule = \"0 3 * * *\"; scrapers = [\"s\", \"s2\"]; },\n"
                     "              { name = \"b\"; schedule = \"0 4 * * *\"; scrapers = [\"s2\"];\n"
                     "                deadline_ms = 120000; } );\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n",
                     t.registry_url);
        itest_migrate(&t);
        rf_time_format(rf_now_ms() - 1000, from, sizeof(from));
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "trigger", "a", "--reason",
                        "reader test \"quoted\" é", NULL) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "trigger", "b", NULL) == 0);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 2, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        itest_sleep_ms(1200);
        rf_time_format(rf_now_ms(), to, sizeof(to));
        itest_sleep_ms(1200);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        NULL) == 0);
        CHECK_CONTAINS(out, "2 decisions replayed");
        CHECK(itest_wait_for(&t, 4, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));

        /* four decisions, two with replay_of; every field against PostgreSQL */
        /* the reader bounds its own waits; timeout(1) is the last resort */
        CHECK(itest_sh("PGDATABASE='%s' timeout -k 10 180 '%s' '%s/tests/integration/read_confluent.py' "
                       "--brokers '%s' --topic '%s' "
                       "--registry '%s' --expect 4 >'%s/reader.log' 2>&1",
                       t.db_name, python, root, t.brokers, t.topic, t.registry_url, t.dir) == 0);
        {
                char cmd[1200];

                snprintf(cmd, sizeof(cmd), "cat '%s/reader.log'", t.dir);
                if (system(cmd) != 0)
                        CHECK(!"reader log");
        }
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE replay_of IS NOT NULL") == 2);
        return itest_finish(&t);
}
