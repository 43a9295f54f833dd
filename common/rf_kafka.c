/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rf_kafka.h"
#include "rf_sr.h"
#include "rf_log.h"

static void log_cb(const rd_kafka_t *rk, int level, const char *facility, const char *buf) {
        rf_log_level_t lvl = level <= 3   ? RF_LOG_ERROR
                             : level <= 4 ? RF_LOG_WARN
                             : level <= 6 ? RF_LOG_INFO
                                          : RF_LOG_DEBUG;
        rf_log(lvl, "kafka.log", json_pack("{s:s, s:s}", "client", rd_kafka_name(rk), "facility", facility), "%s", buf);
}

/* The last error librdkafka reported for each client handle (by its unique
 * name), so that rf_kafka_check_reachable() can say why no broker answered
 * -- and give up at once on a wrong password or an untrusted certificate,
 * which retrying does not cure. error_cb runs on whichever thread polls. */
#define LAST_ERRORS 16
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
        char client[128];
        int err;
        char reason[400];
} last_errors[LAST_ERRORS];
static unsigned last_next;

static void last_error_set(const rd_kafka_t *rk, int err, const char *reason) {
        const char *name = rd_kafka_name(rk);
        unsigned i;

        pthread_mutex_lock(&last_lock);
        for (i = 0; i < LAST_ERRORS; i++)
                if (strcmp(last_errors[i].client, name) == 0)
                        break;
        if (i == LAST_ERRORS)
                i = last_next++ % LAST_ERRORS;
        /* a refusal stays until a request succeeds: the "all brokers down"
         * that follows it says less */
        if (err &&
            (last_errors[i].err == RD_KAFKA_RESP_ERR__AUTHENTICATION || last_errors[i].err == RD_KAFKA_RESP_ERR__SSL) &&
            err != RD_KAFKA_RESP_ERR__AUTHENTICATION && err != RD_KAFKA_RESP_ERR__SSL) {
                pthread_mutex_unlock(&last_lock);
                return;
        }
        snprintf(last_errors[i].client, sizeof(last_errors[i].client), "%s", name);
        last_errors[i].err = err;
        snprintf(last_errors[i].reason, sizeof(last_errors[i].reason), "%s", reason ? reason : "");
        pthread_mutex_unlock(&last_lock);
}

/* Copies the handle's last error; returns its code, 0 when none. */
static int last_error_get(const rd_kafka_t *rk, char *reason, size_t size) {
        const char *name = rd_kafka_name(rk);
        int err = 0;

        pthread_mutex_lock(&last_lock);
        for (unsigned i = 0; i < LAST_ERRORS; i++)
                if (last_errors[i].err && strcmp(last_errors[i].client, name) == 0) {
                        err = last_errors[i].err;
                        snprintf(reason, size, "%s", last_errors[i].reason);
                }
        pthread_mutex_unlock(&last_lock);
        return err;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        (void)opaque;
        last_error_set(rk, err, reason);
        rf_log(err == RD_KAFKA_RESP_ERR__FATAL ? RF_LOG_ERROR : RF_LOG_WARN, "kafka.error",
               json_pack("{s:s, s:s}", "client", rd_kafka_name(rk), "code", rd_kafka_err2name(err)), "%s", reason);
}

static int set(rd_kafka_conf_t *kc, const char *name, const char *value, char *errstr, size_t errstr_size) {
        char why[512];

        if (rd_kafka_conf_set(kc, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "kafka property %s: %s", name, why);
                return -EINVAL;
        }
        return 0;
}

static int set_int(rd_kafka_conf_t *kc, const char *name, int value, char *errstr, size_t errstr_size) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%d", value);
        return set(kc, name, buf, errstr, errstr_size);
}

/* Common settings first, then the file's pass-through properties, so an
 * operator can override anything we chose (except what correctness needs,
 * which the callers set afterwards). */
static int base_conf(const rf_conf_t *conf, const char *client_id, rd_kafka_conf_t **ret_kc, char *errstr,
                     size_t errstr_size) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        int r;

        r = set(kc, "bootstrap.servers", conf->kafka.brokers, errstr, errstr_size);
        if (r == 0)
                r = set(kc, "client.id", client_id, errstr, errstr_size);
        if (r == 0)
                r = set(kc, "socket.keepalive.enable", "true", errstr, errstr_size);
        for (size_t i = 0; r == 0 && i < conf->kafka.property_count; i++)
                r = set(kc, conf->kafka.properties[i].key, conf->kafka.properties[i].value, errstr, errstr_size);
        if (r < 0) {
                rd_kafka_conf_destroy(kc);
                return r;
        }
        rd_kafka_conf_set_log_cb(kc, log_cb);
        rd_kafka_conf_set_error_cb(kc, error_cb);
        *ret_kc = kc;
        return 0;
}

static int new_handle(rd_kafka_type_t type, rd_kafka_conf_t *kc, rd_kafka_t **ret_rk, char *errstr,
                      size_t errstr_size) {
        char why[512];
        rd_kafka_t *rk = rd_kafka_new(type, kc, why, sizeof(why));

        if (!rk) {
                rd_kafka_conf_destroy(kc);
                snprintf(errstr, errstr_size, "kafka: %s", why);
                return -EINVAL;
        }
        *ret_rk = rk;
        return 0;
}

int rf_kafka_producer_new(const rf_conf_t *conf, const char *client_id, rf_kafka_dr_cb_t *dr_cb, void *opaque,
                          rd_kafka_t **ret_rk, char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *kc;
        int r;

        r = base_conf(conf, client_id, &kc, errstr, errstr_size);
        if (r < 0)
                return r;
        r = set(kc, "enable.idempotence", "true", errstr, errstr_size);
        if (r == 0)
                r = set(kc, "acks", "all", errstr, errstr_size);
        if (r == 0)
                r = set_int(kc, "message.timeout.ms", conf->kafka.delivery_timeout_ms, errstr, errstr_size);
        if (r == 0)
                r = set(kc, "linger.ms", "5", errstr, errstr_size);
        if (r < 0) {
                rd_kafka_conf_destroy(kc);
                return r;
        }
        if (dr_cb)
                rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
        rd_kafka_conf_set_opaque(kc, opaque);
        return new_handle(RD_KAFKA_PRODUCER, kc, ret_rk, errstr, errstr_size);
}

int rf_kafka_producer_recover(rd_kafka_t **rk, const rf_conf_t *conf, const char *client_id, rf_kafka_dr_cb_t *dr_cb) {
        char why[512], errstr[512];
        rd_kafka_resp_err_t err = rd_kafka_fatal_error(*rk, why, sizeof(why));
        rd_kafka_t *old = *rk, *fresh = NULL;
        int r;

        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                return 0;
        r = rf_kafka_producer_new(conf, client_id, dr_cb, rd_kafka_opaque(old), &fresh, errstr, sizeof(errstr));
        if (r < 0) {
                rf_log_error("kafka.producer_fatal",
                             json_pack("{s:s, s:s}", "client", rd_kafka_name(old), "code", rd_kafka_err2name(err)),
                             "producer %s hit a fatal error (%s) and cannot be replaced: %s", rd_kafka_name(old), why,
                             errstr);
                return r;
        }
        rf_log_warn("kafka.producer_replaced",
                    json_pack("{s:s, s:s, s:s}", "client", rd_kafka_name(old), "code", rd_kafka_err2name(err), "reason",
                              why),
                    "producer %s hit a fatal error and is replaced by a new one: %s", rd_kafka_name(old), why);
        /* swapped first: a delivery report of the old handle may queue its
         * message again, and must find the new one */
        *rk = fresh;
        rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(old, 1000);
        rd_kafka_destroy(old);
        return 1;
}

void rf_kafka_fault_point(rd_kafka_t *rk) {
        static bool injected;
        const char *fault = getenv("RUNFLEET_FAULT");

        if (!injected && fault && strcmp(fault, "kafka-fatal") == 0) {
                injected = true;
                rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                          "injected by RUNFLEET_FAULT=kafka-fatal");
        }
}

static rf_kafka_stats_cb_t *consumer_stats_cb;
static int consumer_stats_interval_ms;

void rf_kafka_consumer_stats(rf_kafka_stats_cb_t *cb, int interval_ms) {
        consumer_stats_cb = cb;
        consumer_stats_interval_ms = interval_ms;
}

int rf_kafka_consumer_new(const rf_conf_t *conf, const char *client_id, rf_kafka_partitions_cb_t *rebalance_cb,
                          rf_kafka_partitions_cb_t *commit_cb, void *opaque, rd_kafka_t **ret_rk, char *errstr,
                          size_t errstr_size) {
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        int r;

        r = base_conf(conf, client_id, &kc, errstr, errstr_size);
        if (r < 0)
                return r;
        r = set(kc, "group.id", conf->kafka.group, errstr, errstr_size);
        /* offsets are committed by the worker only once the execution record is durable */
        if (r == 0)
                r = set(kc, "enable.auto.commit", "false", errstr, errstr_size);
        if (r == 0)
                r = set(kc, "enable.auto.offset.store", "false", errstr, errstr_size);
        if (r == 0)
                r = set(kc, "auto.offset.reset", "earliest", errstr, errstr_size);
        if (r == 0 && strcmp(conf->kafka.group_protocol, "consumer") == 0) {
                /* KIP-848: the broker assigns partitions incrementally and owns
                 * the session timeout; librdkafka refuses the classic
                 * protocol's assignor and timeout settings beside it */
                r = set(kc, "group.protocol", "consumer", errstr, errstr_size);
        } else {
                if (r == 0)
                        r = set(kc, "partition.assignment.strategy", "cooperative-sticky", errstr, errstr_size);
                if (r == 0)
                        r = set_int(kc, "session.timeout.ms", conf->kafka.session_timeout_ms, errstr, errstr_size);
        }
        if (r == 0)
                r = set_int(kc, "max.poll.interval.ms", conf->kafka.max_poll_interval_ms, errstr, errstr_size);
        if (r == 0 && consumer_stats_cb) {
                r = set_int(kc, "statistics.interval.ms", consumer_stats_interval_ms, errstr, errstr_size);
                rd_kafka_conf_set_stats_cb(kc, consumer_stats_cb);
        }
        if (r < 0) {
                rd_kafka_conf_destroy(kc);
                return r;
        }
        if (rebalance_cb)
                rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
        if (commit_cb)
                rd_kafka_conf_set_offset_commit_cb(kc, commit_cb);
        rd_kafka_conf_set_opaque(kc, opaque);
        r = new_handle(RD_KAFKA_CONSUMER, kc, &rk, errstr, errstr_size);
        if (r < 0)
                return r;
        rd_kafka_poll_set_consumer(rk);
        *ret_rk = rk;
        return 0;
}

static int64_t mono_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rf_kafka_check_reachable(rd_kafka_t *rk, int timeout_ms, char *errstr, size_t errstr_size) {
        int64_t deadline = mono_ms() + timeout_ms;
        rd_kafka_resp_err_t err;
        char reason[400] = "";
        int last = 0;

        /* In steps, serving the error callback in between (producers only:
         * a consumer's callbacks belong to its poll loop), so that a refused
         * login or certificate fails now, with librdkafka's own words,
         * instead of as a timeout. */
        do {
                const struct rd_kafka_metadata *md = NULL;
                int64_t now = mono_ms(), step = deadline - now > 1000 ? 1000 : deadline - now;

                err = rd_kafka_metadata(rk, 0, NULL, &md, step > 0 ? (int)step : 1);
                if (!err) {
                        rd_kafka_metadata_destroy(md);
                        last_error_set(rk, 0, NULL);
                        return 0;
                }
                if (rd_kafka_type(rk) == RD_KAFKA_PRODUCER)
                        rd_kafka_poll(rk, 0);
                last = last_error_get(rk, reason, sizeof(reason));
                if (last == RD_KAFKA_RESP_ERR__AUTHENTICATION || last == RD_KAFKA_RESP_ERR__SSL)
                        break;
                if (mono_ms() - now < step) {
                        struct timespec pause = { 0, 100 * 1000000L };
                        nanosleep(&pause, NULL);
                }
        } while (mono_ms() < deadline);

        if (last == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
                snprintf(errstr, errstr_size,
                         "kafka: authentication refused (check sasl.mechanisms, "
                         "sasl.username and sasl.password): %s",
                         reason);
                return -EACCES;
        }
        if (last == RD_KAFKA_RESP_ERR__SSL) {
                snprintf(errstr, errstr_size,
                         "kafka: TLS handshake refused (check ssl.ca.location and the broker's "
                         "certificate): %s",
                         reason);
                return -EACCES;
        }
        if (last && reason[0])
                snprintf(errstr, errstr_size, "kafka: no broker answered within %d ms (%s; last error: %s)", timeout_ms,
                         rd_kafka_err2str(err), reason);
        else
                snprintf(errstr, errstr_size, "kafka: no broker answered within %d ms (%s)", timeout_ms,
                         rd_kafka_err2str(err));
        return -ENOTCONN;
}

rd_kafka_headers_t *rf_kafka_decision_headers(const rf_decision_t *d, size_t extra) {
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(3 + extra);
        char attempt[16];

        snprintf(attempt, sizeof(attempt), "%d", (int)d->attempt);
        rd_kafka_header_add(hdrs, "decision_id", -1, d->decision_id, -1);
        rd_kafka_header_add(hdrs, "attempt", -1, attempt, -1);
        rd_kafka_header_add(hdrs, "trace_id", -1, d->trace_id ? d->trace_id : "", -1);
        return hdrs;
}

int rf_kafka_produce_decision(rd_kafka_t *rk, const char *topic, const rf_decision_t *d, void *msg_opaque, char *errstr,
                              size_t errstr_size) {
        rd_kafka_headers_t *hdrs = NULL;
        void *buf = NULL;
        size_t len = 0;
        rd_kafka_resp_err_t err;
        int r;

        /* single-object, or framed with the registry's id (-EAGAIN while
         * the registry is unreachable: the decision stays recorded and
         * unproduced, and the reaper produces it later) */
        r = rf_sr_encode_value(d, &buf, &len, errstr, errstr_size);
        if (r < 0)
                return r;
        hdrs = rf_kafka_decision_headers(d, 0);
        /* RD_KAFKA_MSG_F_FREE: librdkafka takes @buf over on success */
        err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(d->workflow, strlen(d->workflow)),
                                RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        if (err) {
                free(buf);
                rd_kafka_headers_destroy(hdrs);
                snprintf(errstr, errstr_size, "kafka: producing to %s: %s", topic, rd_kafka_err2str(err));
                return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? -ENOBUFS : -EIO;
        }
        rf_kafka_fault_point(rk);
        return 0;
}

int rf_kafka_reader_new(const rf_conf_t *conf, const char *client_id, rd_kafka_t **ret_rk, char *errstr,
                        size_t errstr_size) {
        rd_kafka_conf_t *kc;
        int r;

        r = base_conf(conf, client_id, &kc, errstr, errstr_size);
        if (r < 0)
                return r;
        /* a group id is required by the consumer API, but a reader only
         * assigns partitions: it never joins the group nor commits */
        r = set(kc, "group.id", client_id, errstr, errstr_size);
        if (r == 0)
                r = set(kc, "enable.auto.commit", "false", errstr, errstr_size);
        if (r == 0)
                r = set(kc, "enable.auto.offset.store", "false", errstr, errstr_size);
        if (r == 0)
                r = set(kc, "enable.partition.eof", "true", errstr, errstr_size);
        if (r < 0) {
                rd_kafka_conf_destroy(kc);
                return r;
        }
        return new_handle(RD_KAFKA_CONSUMER, kc, ret_rk, errstr, errstr_size);
}
