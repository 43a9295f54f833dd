/* SPDX-License-Identifier: Apache-2.0 */
/* The topics `migrate` creates: how many replicas they get on the cluster
 * at hand, and their creation (idempotent). */
#include <errno.h>
#include <stdio.h>

#include "rf_kafka.h"

int rf_kafka_replication(rd_kafka_t *rk, const rf_conf_t *conf, int timeout_ms, rf_kafka_replication_t *ret,
                         char *errstr, size_t errstr_size) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;
        int brokers, rf, isr;

        /* no topic: the brokers only */
        err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
        if (err) {
                snprintf(errstr, errstr_size, "kafka: listing the cluster's brokers: %s", rd_kafka_err2str(err));
                return -ENOTCONN;
        }
        brokers = md->broker_cnt;
        rd_kafka_metadata_destroy(md);

        rf = conf->kafka.replication_factor;
        if (rf == 0)
                rf = brokers < 3 ? brokers : 3;
        else if (rf > brokers) {
                snprintf(errstr, errstr_size,
                         "%s: kafka.replication_factor is %d but the cluster at %s has only %d broker%s (lower it "
                         "in the file or RUNFLEET_KAFKA_REPLICATION_FACTOR, or set 0 for min(3, brokers))",
                         conf->path ? conf->path : "configuration", rf, conf->kafka.brokers, brokers,
                         brokers == 1 ? "" : "s");
                return -EINVAL;
        }
        isr = conf->kafka.min_insync_replicas;
        if (isr == 0)
                isr = rf > 1 ? rf - 1 : 1;
        else if (isr > rf) {
                /* only reachable with replication_factor = 0: rf_conf checks explicit pairs */
                snprintf(errstr, errstr_size,
                         "%s: kafka.min_insync_replicas is %d but the replication factor is %d (min(3, %d broker%s)): "
                         "every acks=all write would be refused (lower it, or set 0 for replication factor - 1)",
                         conf->path ? conf->path : "configuration", isr, rf, brokers, brokers == 1 ? "" : "s");
                return -EINVAL;
        }
        ret->brokers = brokers;
        ret->replication_factor = rf;
        ret->min_insync_replicas = isr;
        return 0;
}

int rf_kafka_ensure_topics(rd_kafka_t *rk, const rf_conf_t *conf, const rf_kafka_replication_t *repl, int timeout_ms,
                           int *ret_created, char *errstr, size_t errstr_size) {
        const char *names[] = { conf->kafka.topic, conf->kafka.dlq_topic };
        rd_kafka_NewTopic_t *topics[2] = { NULL, NULL };
        rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_event_t *ev = NULL;
        char why[512], isr[16];
        int created = 0, r = 0;

        snprintf(isr, sizeof(isr), "%d", repl->min_insync_replicas);
        rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, why, sizeof(why));
        for (int i = 0; i < 2; i++) {
                topics[i] = rd_kafka_NewTopic_new(names[i], conf->kafka.partitions, repl->replication_factor, why,
                                                  sizeof(why));
                if (!topics[i]) {
                        snprintf(errstr, errstr_size, "kafka: topic %s: %s", names[i], why);
                        r = -EINVAL;
                        goto out;
                }
                if (rd_kafka_NewTopic_set_config(topics[i], "min.insync.replicas", isr)) {
                        snprintf(errstr, errstr_size, "kafka: topic %s: cannot set min.insync.replicas", names[i]);
                        r = -EINVAL;
                        goto out;
                }
        }
        rd_kafka_CreateTopics(rk, topics, 2, options, queue);
        ev = rd_kafka_queue_poll(queue, timeout_ms + 2000);
        if (!ev || rd_kafka_event_error(ev)) {
                snprintf(errstr, errstr_size, "kafka: creating topics: %s",
                         ev ? rd_kafka_event_error_string(ev) : "timed out");
                r = -ETIMEDOUT;
                goto out;
        } else {
                size_t n;
                const rd_kafka_topic_result_t **res =
                        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
                for (size_t i = 0; i < n; i++) {
                        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
                        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                                created++;
                        else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                                snprintf(errstr, errstr_size, "kafka: creating topic %s: %s",
                                         rd_kafka_topic_result_name(res[i]),
                                         rd_kafka_topic_result_error_string(res[i]));
                                r = -EIO;
                                goto out;
                        }
                }
        }
        if (ret_created)
                *ret_created = created;
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        for (int i = 0; i < 2; i++)
                if (topics[i])
                        rd_kafka_NewTopic_destroy(topics[i]);
        rd_kafka_AdminOptions_destroy(options);
        rd_kafka_queue_destroy(queue);
        return r;
}
