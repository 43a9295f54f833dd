/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "producer.h"
#include "rf_kafka.h"
#include "rf_log.h"
#include "rf_migrate.h"
#include "rf_pg.h"

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
