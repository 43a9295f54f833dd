/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>

#include "producer.h"
#include "rf_kafka.h"
#include "rf_log.h"
#include "rf_migrate.h"
#include "rf_pg.h"
#include "rf_sr.h"

/* Registers the decision schema (the newest embedded
 * schemas/run_decision.vN.avsc) under "<topic>-value" (TopicNameStrategy)
 * with compatibility BACKWARD: a new schema must read every message
 * already on the topic. The level is set first, so the check below and
 * the registry's own check on registering both apply it. Returns 0 with
 * the id, or -1 with the reason in @p errstr. */
static int register_schema(const rf_conf_t *conf, rf_sr_t *sr, int32_t *ret_id, char *errstr, size_t errstr_size) {
        const char *schema = rf_decision_schema_json();
        char subject[300], why[768] = "";
        bool ok = false;
        int r;

        snprintf(subject, sizeof(subject), "%s-value", conf->kafka.topic);
        if (!schema) {
                snprintf(errstr, errstr_size, "the decision schemas are unusable");
                return -1;
        }
        r = rf_sr_set_compatibility(sr, subject, "BACKWARD", why, sizeof(why));
        if (r == 0)
                r = rf_sr_test_compatibility(sr, subject, schema, &ok, why, sizeof(why));
        if (r < 0) {
                snprintf(errstr, errstr_size,
                         "schema registry: cannot register the decision schema under %.260s: %.500s", subject, why);
                return -1;
        }
        if (!ok && why[0]) {
                snprintf(errstr, errstr_size,
                         "schema registry: the decision schema is incompatible (BACKWARD) with the latest version "
                         "under %.260s: %.500s; hint: a new schema must read the messages already on the topic (add "
                         "fields with defaults only)",
                         subject, why);
                return -1;
        }
        /* incompatible without reasons (Apicurio gives none there): the
         * registry refuses the registration below with its reasons */
        r = rf_sr_register(sr, subject, schema, ret_id, why, sizeof(why));
        if (r == -EINVAL || (r == 0 && !ok)) {
                snprintf(errstr, errstr_size,
                         "schema registry: the decision schema is incompatible (BACKWARD) with the latest version "
                         "under %.260s: %.500s; hint: a new schema must read the messages already on the topic (add "
                         "fields with defaults only)",
                         subject, r == 0 ? "the compatibility check failed" : why);
                return -1;
        }
        if (r < 0) {
                snprintf(errstr, errstr_size, "schema registry: registering the decision schema under %.260s: %.500s",
                         subject, why);
                return -1;
        }
        return 0;
}

/* `migrate`: the database schema first, then the topics, both idempotent. */
int producer_migrate(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        rf_pg_t *pg = NULL;
        rd_kafka_t *rk = NULL;
        rf_kafka_replication_t repl;
        char errstr[1024];
        int applied = 0, created = 0, code = RF_EXIT_FAILURE;

        (void)argv;
        if (argc > 1)
                return rf_program_fail(prog, RF_EXIT_USAGE, "migrate takes no arguments");
        if (rf_pg_connect(conf->database.url, prog->name, &pg, errstr, sizeof(errstr)) < 0 ||
            rf_migrate_apply(pg, &applied, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "%s", errstr);
                goto out;
        }
        /* before the topics: a refused schema changes nothing on the broker */
        if (rf_sr_global()) {
                int32_t id = -1;

                if (register_schema(conf, rf_sr_global(), &id, errstr, sizeof(errstr)) < 0) {
                        rf_program_fail(prog, code, "%s", errstr);
                        goto out;
                }
                rf_log_info("migrate.schema_registered",
                            json_pack("{s:s, s:i, s:s}", "registry", rf_sr_url(rf_sr_global()), "schema_id", (int)id,
                                      "value_format", conf->kafka.value_format),
                            "decision schema registered under %s-value as id %d (compatibility BACKWARD)",
                            conf->kafka.topic, (int)id);
        }
        if (rf_kafka_producer_new(conf, "runfleet-migrate", NULL, NULL, &rk, errstr, sizeof(errstr)) < 0 ||
            rf_kafka_check_reachable(rk, 15000, errstr, sizeof(errstr)) < 0 ||
            rf_kafka_replication(rk, conf, 15000, &repl, errstr, sizeof(errstr)) < 0 ||
            rf_kafka_ensure_topics(rk, conf, &repl, 30000, &created, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "%s", errstr);
                goto out;
        }
        rf_log_info("migrate.done",
                    json_pack("{s:i, s:i, s:s, s:i, s:i, s:i, s:i}", "migrations_applied", applied, "topics_created",
                              created, "topic", conf->kafka.topic, "partitions", conf->kafka.partitions,
                              "replication_factor", repl.replication_factor, "min_insync_replicas",
                              repl.min_insync_replicas, "brokers", repl.brokers),
                    "database schema and topics are up to date");
        code = RF_EXIT_OK;
out:
        if (rk)
                rd_kafka_destroy(rk);
        rf_pg_destroy(pg);
        return code;
}
