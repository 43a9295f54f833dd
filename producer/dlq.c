/* SPDX-License-Identifier: Apache-2.0 */
/* `dlq list [--since T]`: the dead-letter topic, one line per message, with
 * the reason the worker gave and where the message came from, so nobody
 * needs kcat and the header names to find out why work was set aside.
 *
 * `dlq redrive (--offset [P:]N | --partition P --offset N | --all) [--dry-run]`:
 * produces the dead letters that are valid now (after a missing scraper or
 * workflow was added to the configuration) back to the decisions topic, with
 * the same key, and records each in runfleet.dlq_redrives so the same DLQ
 * message is never redriven twice. Messages still invalid stay where they
 * are (a Kafka topic cannot drop one message) with today's reason printed.
 * DLQ offsets count per partition of the DLQ topic, hence P:N. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer.h"
#include "rf_decision.h"
#include "rf_dlq.h"
#include "rf_kafka.h"
#include "rf_pg.h"
#include "rf_refusal.h"
#include "rf_sr.h"
#include "rf_util.h"
#include "scan.h"

#define REDRIVE_USAGE "usage: dlq redrive (--offset [P:]N | --partition P --offset N | --all) [--dry-run]"
#define META_TIMEOUT_MS 15000

typedef struct listing {
        size_t count;
} listing_t;

/* Header @p name of @p m into @p buf ("-" when absent), control characters masked. */
static void header(const rd_kafka_message_t *m, const char *name, char *buf, size_t size) {
        rd_kafka_headers_t *h = NULL;
        const void *v = NULL;
        size_t len = 0;

        if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len) || !v) {
                snprintf(buf, size, "-");
                return;
        }
        snprintf(buf, size, "%.*s", (int)len, (const char *)v);
        for (char *p = buf; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
}

static int print_one(const rd_kafka_message_t *m, int64_t ts, void *opaque) {
        listing_t *l = opaque;
        char when[40], reason[512], topic[256], part[16], offset[32], what[160], origin[320];
        rf_decision_t *d = NULL;
        char why[256];

        rf_time_format(ts, when, sizeof(when));
        header(m, RF_DLQ_REASON, reason, sizeof(reason));
        header(m, RF_DLQ_SOURCE_TOPIC, topic, sizeof(topic));
        header(m, RF_DLQ_SOURCE_PARTITION, part, sizeof(part));
        header(m, RF_DLQ_SOURCE_OFFSET, offset, sizeof(offset));
        if (rf_sr_decode_value(m->payload, m->len, &d, why, sizeof(why)) == 0)
                snprintf(what, sizeof(what), "decision %.36s of %.64s", d->decision_id, d->workflow);
        else
                snprintf(what, sizeof(what), "%zu undecodable bytes (%.100s)", m->len, why);
        rf_decision_destroy(d);
        if (l->count++ == 0)
                printf("%-6s  %-24s  %-40s  %s\n", "OFFSET", "DEAD-LETTERED", "ORIGIN", "MESSAGE / REASON");
        snprintf(origin, sizeof(origin), "%s [%s] @%s", topic, part, offset);
        printf("%d:%-4lld  %-24s  %-40s  %s\n        reason: %s\n", (int)m->partition, (long long)m->offset, when,
               origin, what, reason);
        return 0;
}

static int dlq_list(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "since", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 } };
        listing_t l = { 0 };
        rd_kafka_t *rk = NULL;
        char errstr[1024];
        int64_t since = 0;
        int c, code = RF_EXIT_FAILURE;

        rf_program_subcommand_options();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1)
                if (c != 's' || rf_time_parse(optarg, &since) < 0)
                        return rf_program_fail(
                                prog, RF_EXIT_USAGE,
                                "usage: dlq list [--since T] (T e.g. 2026-11-27T13:00:00Z or 2026-11-27)");
        if (optind < argc)
                return rf_program_fail(prog, RF_EXIT_USAGE, "dlq list: unexpected argument '%s'", argv[optind]);
        if (rf_kafka_reader_new(conf, "runfleet-dlq", &rk, errstr, sizeof(errstr)) < 0 ||
            scan_topic(rk, conf->kafka.dlq_topic, since, -1, print_one, &l, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "dlq list: %s", errstr);
                goto out;
        }
        printf("%zu message%s in %s\n", l.count, l.count == 1 ? "" : "s", conf->kafka.dlq_topic);
        code = RF_EXIT_OK;
out:
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        return code;
}

/* ---- redrive ---------------------------------------------------------- */

typedef struct redrive {
        const rf_conf_t *conf;
        rf_pg_t *pg;
        rd_kafka_t *producer;
        bool dry_run;
        bool single; /* --offset: print refusals, exit 1 unless redriven */
        char who[128];
        size_t redriven, stays, already;
        char errstr[1024]; /* why the command failed (database, Kafka) */
} redrive_t;

/* Where one redriven message went, filled by the delivery report. */
typedef struct delivery {
        int err; /* INT_MIN while pending */
        int32_t partition;
        int64_t offset;
} delivery_t;

static void redrive_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
        delivery_t *d = msg->_private;

        (void)rk;
        (void)opaque;
        if (!d)
                return;
        d->partition = msg->partition;
        d->offset = msg->offset;
        d->err = (int)msg->err;
}

/* Whether the DLQ message can run now. Returns 0 (valid; *ret_d is the
 * decoded decision with the attempt the database has, owned by the
 * caller), 1 (still invalid, why in @p why), or a negative errno with the
 * reason in r->errstr. */
static int check_valid(redrive_t *r, const rd_kafka_message_t *m, rf_decision_t **ret_d, char *why, size_t why_size) {
        rf_decision_t *d = NULL;
        PGresult *res = NULL;
        char err[256];
        int rc = 1;

        rc = rf_sr_decode_value(m->payload, m->len, &d, err, sizeof(err));
        if (rc == -EAGAIN || rc == -ENOMEM) {
                /* the registry's trouble, not the message's: stop, keep it */
                snprintf(r->errstr, sizeof(r->errstr), "%s [%d] offset %lld: %s", r->conf->kafka.dlq_topic,
                         (int)m->partition, (long long)m->offset, err);
                return rc;
        }
        rc = 1;
        if (d == NULL) {
                snprintf(why, why_size, "undecodable: %s", err);
                return 1;
        }
        /* the worker's rules, with the configuration this command loaded
         * (a decision_id that is not a UUID did not decode) */
        if (rf_refusal_check(r->conf, d, why, why_size) != RF_REFUSAL_NONE)
                goto out;
        {
                const char *params[] = { d->decision_id };

                rc = rf_pg_exec(r->pg, "SELECT action, state, attempt FROM runfleet.decisions WHERE decision_id = $1",
                                1, params, &res, r->errstr, sizeof(r->errstr));
                if (rc < 0)
                        goto out;
                rc = 1;
        }
        if (PQntuples(res) == 0)
                snprintf(why, why_size, "decision %s is not in PostgreSQL", d->decision_id);
        else if (strcmp(PQgetvalue(res, 0, 0), "RUN") != 0)
                snprintf(why, why_size, "decision %s is a %s decision: nothing to run", d->decision_id,
                         PQgetvalue(res, 0, 0));
        else if (strcmp(PQgetvalue(res, 0, 1), "PENDING") != 0)
                /* RUNNING or FAILED: an execution has it or the reaper retries
                 * it; SUCCEEDED or DEAD: done. A worker would skip it. */
                snprintf(why, why_size, "decision %s is %s at attempt %s: nothing to redrive", d->decision_id,
                         PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
        else {
                /* the decision's current attempt: the reaper may have
                 * re-produced it meanwhile, and a worker skips a stale one */
                d->attempt = (int32_t)strtol(PQgetvalue(res, 0, 2), NULL, 10);
                *ret_d = d;
                d = NULL;
                rc = 0;
        }
out:
        PQclear(res);
        rf_decision_destroy(d);
        return rc;
}

/* "at <time> (decision <id>)" when this DLQ message was redriven before, else "". */
static int earlier_redrive(redrive_t *r, const rd_kafka_message_t *m, char *ret, size_t ret_size) {
        char part[16], off[32];
        const char *params[] = { r->conf->kafka.dlq_topic, part, off };
        PGresult *res = NULL;
        int rc;

        snprintf(part, sizeof(part), "%d", (int)m->partition);
        snprintf(off, sizeof(off), "%lld", (long long)m->offset);
        rc = rf_pg_exec(
                r->pg,
                "SELECT to_char(redriven_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                "       || ' by ' || redriven_by || ' (decision ' || decision_id || ', attempt ' || attempt || ')'"
                "  FROM runfleet.dlq_redrives WHERE dlq_topic = $1 AND dlq_partition = $2 AND dlq_offset = $3",
                3, params, &res, r->errstr, sizeof(r->errstr));
        if (rc < 0)
                return rc;
        snprintf(ret, ret_size, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
        PQclear(res);
        return 0;
}

/* Queues @p d on the decisions topic with the DLQ message's key and waits
 * for Kafka's acknowledgement into @p dv. Returns 0 or -EIO (r->errstr). */
static int produce_again(redrive_t *r, const rd_kafka_message_t *m, const rf_decision_t *d, delivery_t *dv) {
        rd_kafka_headers_t *hdrs = NULL;
        char source[300];
        const void *key;
        void *buf = NULL;
        size_t len = 0, key_len;
        int64_t until;
        rd_kafka_resp_err_t err;
        char why[256];

        /* in this process's kafka.value_format, like every producer */
        if (rf_sr_encode_value(d, &buf, &len, why, sizeof(why)) < 0) {
                snprintf(r->errstr, sizeof(r->errstr), "encoding decision %s: %s", d->decision_id, why);
                return -EIO;
        }
        snprintf(source, sizeof(source), "%s:%d:%lld", r->conf->kafka.dlq_topic, (int)m->partition,
                 (long long)m->offset);
        hdrs = rf_kafka_decision_headers(d, 1);
        rd_kafka_header_add(hdrs, RF_DLQ_REDRIVE_SOURCE, -1, source, -1);
        dv->err = INT_MIN;
        /* the same key as the dead letter (the workflow, as the producers key it) */
        if (m->key_len) {
                key = m->key;
                key_len = m->key_len;
        } else {
                key = d->workflow;
                key_len = strlen(d->workflow);
        }
        err = rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(r->conf->kafka.topic), RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(dv), RD_KAFKA_V_END);
        if (err) {
                free(buf);
                rd_kafka_headers_destroy(hdrs);
                snprintf(r->errstr, sizeof(r->errstr), "kafka: producing to %s: %s", r->conf->kafka.topic,
                         rd_kafka_err2str(err));
                return -EIO;
        }
        until = rf_mono_ms() + r->conf->kafka.delivery_timeout_ms + 5000;
        while (dv->err == INT_MIN && rf_mono_ms() < until)
                rd_kafka_flush(r->producer, 100);
        if (dv->err == INT_MIN) {
                /* @dv is on the caller's stack: no report may arrive after we return */
                rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_flush(r->producer, 1000);
        }
        if (dv->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(r->errstr, sizeof(r->errstr), "kafka: decision %s not delivered to %s: %s", d->decision_id,
                         r->conf->kafka.topic,
                         dv->err == INT_MIN ? "timed out waiting for the broker"
                                            : rd_kafka_err2str((rd_kafka_resp_err_t)dv->err));
                return -EIO;
        }
        return 0;
}

/* Records and produces one valid dead letter, in that order inside one
 * transaction: the row's primary key makes a concurrent or later redrive of
 * the same DLQ message wait and then refuse, and a produce that fails rolls
 * the record back. (A crash after Kafka's acknowledgement and before COMMIT
 * leaves a produced, unrecorded message; redriving it again is harmless, as
 * a worker skips an attempt that already has an execution.) Returns 0, 1
 * when it turned out to be redriven already, or a negative errno. */
static int record_and_produce(redrive_t *r, const rd_kafka_message_t *m, const rf_decision_t *d, delivery_t *dv) {
        char part[16], off[32], attempt[16], ignored[256];
        const char *params[] = { r->conf->kafka.dlq_topic, part,  off, d->decision_id, attempt,
                                 r->conf->kafka.topic,     r->who };
        PGresult *res = NULL;
        int rc;

        snprintf(part, sizeof(part), "%d", (int)m->partition);
        snprintf(off, sizeof(off), "%lld", (long long)m->offset);
        snprintf(attempt, sizeof(attempt), "%d", (int)d->attempt);
        rc = rf_pg_exec(r->pg, "BEGIN", 0, NULL, NULL, r->errstr, sizeof(r->errstr));
        if (rc < 0)
                return rc;
        rc = rf_pg_exec(r->pg,
                        "INSERT INTO runfleet.dlq_redrives (dlq_topic, dlq_partition, dlq_offset, decision_id,"
                        " attempt, topic, redriven_by) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                        " ON CONFLICT DO NOTHING RETURNING 1",
                        7, params, &res, r->errstr, sizeof(r->errstr));
        if (rc < 0)
                goto rollback;
        if (PQntuples(res) == 0) {
                rc = 1;
                goto rollback;
        }
        rc = produce_again(r, m, d, dv);
        if (rc < 0)
                goto rollback;
        PQclear(res);
        rc = rf_pg_exec(r->pg, "COMMIT", 0, NULL, NULL, r->errstr, sizeof(r->errstr));
        if (rc < 0) {
                char why[sizeof(r->errstr)];

                snprintf(why, sizeof(why), "%s", r->errstr);
                snprintf(r->errstr, sizeof(r->errstr),
                         "decision %s was produced to %s [%d] @%lld but the redrive could not be recorded: %.400s",
                         d->decision_id, r->conf->kafka.topic, (int)dv->partition, (long long)dv->offset, why);
        }
        return rc;
rollback:
        PQclear(res);
        rf_pg_exec(r->pg, "ROLLBACK", 0, NULL, NULL, ignored, sizeof(ignored));
        return rc;
}

static int redrive_one(const rd_kafka_message_t *m, int64_t ts, void *opaque) {
        redrive_t *r = opaque;
        rf_decision_t *d = NULL;
        delivery_t dv = { .err = INT_MIN };
        char at[48], earlier[400], why[512];
        int rc;

        (void)ts;
        snprintf(at, sizeof(at), "%d:%lld", (int)m->partition, (long long)m->offset);
        rc = earlier_redrive(r, m, earlier, sizeof(earlier));
        if (rc < 0)
                return rc;
        if (*earlier) {
                r->already++;
                if (r->single)
                        printf("refused   %-8s already redriven at %s\n", at, earlier);
                return 0;
        }
        rc = check_valid(r, m, &d, why, sizeof(why));
        if (rc < 0)
                return rc;
        if (rc == 1) {
                r->stays++;
                printf("stays     %-8s %s\n", at, why);
                return 0;
        }
        if (r->dry_run) {
                r->redriven++;
                printf("would     %-8s redrive decision %s of %s (attempt %d) to %s\n", at, d->decision_id, d->workflow,
                       (int)d->attempt, r->conf->kafka.topic);
                rf_decision_destroy(d);
                return 0;
        }
        rc = record_and_produce(r, m, d, &dv);
        if (rc == 1) {
                /* another redrive got there between the two looks */
                r->already++;
                if (r->single)
                        printf("refused   %-8s already redriven\n", at);
                rc = 0;
        } else if (rc == 0) {
                r->redriven++;
                printf("redriven  %-8s decision %s of %s (attempt %d) -> %s [%d] @%lld\n", at, d->decision_id,
                       d->workflow, (int)d->attempt, r->conf->kafka.topic, (int)dv.partition, (long long)dv.offset);
        }
        rf_decision_destroy(d);
        return rc;
}

static int partition_count(rd_kafka_t *rk, const char *topic, int *ret_n, char *errstr, size_t errstr_size) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;

        if (!rkt)
                return -ENOMEM;
        err = rd_kafka_metadata(rk, 0, rkt, &md, META_TIMEOUT_MS);
        if (!err && md->topic_cnt == 1)
                err = md->topics[0].err;
        if (err)
                snprintf(errstr, errstr_size, "kafka: topic %s: %s", topic, rd_kafka_err2str(err));
        else
                *ret_n = md->topics[0].partition_cnt;
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return err ? -EIO : 0;
}

/* Reads the one message at @p partition : @p offset of @p topic and hands
 * it to @p cb. -ENOENT (reason in @p errstr) when there is none. */
static int read_one(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset, scan_cb_t *cb, void *opaque,
                    char *errstr, size_t errstr_size) {
        rd_kafka_topic_partition_list_t *assign;
        int64_t lo = 0, hi = 0, until;
        rd_kafka_resp_err_t err;
        int rc = -ETIMEDOUT;

        err = rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, META_TIMEOUT_MS);
        if (err) {
                snprintf(errstr, errstr_size, "kafka: offsets of %s [%d]: %s", topic, (int)partition,
                         rd_kafka_err2str(err));
                return -EIO;
        }
        if (offset < lo || offset >= hi) {
                if (lo < hi)
                        snprintf(errstr, errstr_size, "no message at %d:%lld in %s (partition %d holds %lld to %lld)",
                                 (int)partition, (long long)offset, topic, (int)partition, (long long)lo,
                                 (long long)hi - 1);
                else
                        snprintf(errstr, errstr_size, "no message at %d:%lld in %s (partition %d is empty)",
                                 (int)partition, (long long)offset, topic, (int)partition);
                return -ENOENT;
        }
        assign = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(assign, topic, partition)->offset = offset;
        if (rd_kafka_assign(rk, assign)) {
                rd_kafka_topic_partition_list_destroy(assign);
                snprintf(errstr, errstr_size, "kafka: cannot assign %s [%d]", topic, (int)partition);
                return -EIO;
        }
        rd_kafka_topic_partition_list_destroy(assign);
        snprintf(errstr, errstr_size, "kafka: no message at %d:%lld of %s within 30 s", (int)partition,
                 (long long)offset, topic);
        until = rf_mono_ms() + 30000;
        while (rc == -ETIMEDOUT && rf_mono_ms() < until) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);

                if (!m)
                        continue;
                if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        snprintf(errstr, errstr_size, "kafka: reading %s: %s", topic, rd_kafka_message_errstr(m));
                        rc = -EIO;
                } else if (!m->err && m->offset == offset)
                        rc = cb(m, 0, opaque);
                else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || m->offset > offset) {
                        /* compacted or transaction markers: the offset holds no message */
                        snprintf(errstr, errstr_size, "no message at %d:%lld in %s", (int)partition, (long long)offset,
                                 topic);
                        rc = -ENOENT;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(rk, NULL);
        return rc;
}

/* A non-negative integer, all of @p s. */
static int parse_count(const char *s, long long max, long long *ret) {
        char *end;
        long long v;

        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (*end || errno == ERANGE || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int dlq_redrive(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "offset", required_argument, NULL, 'o' },
                                                 { "partition", required_argument, NULL, 'p' },
                                                 { "all", no_argument, NULL, 'a' },
                                                 { "dry-run", no_argument, NULL, 'n' },
                                                 { NULL, 0, NULL, 0 } };
        redrive_t r = { .conf = conf };
        rd_kafka_t *reader = NULL;
        long long partition = -1, offset = -1;
        const char *offset_arg = NULL;
        bool all = false;
        int c, rc = 0, code = RF_EXIT_FAILURE, partitions = 0;

        rf_program_subcommand_options();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                long long v;

                switch (c) {
                case 'o':
                        offset_arg = optarg;
                        break;
                case 'p':
                        if (parse_count(optarg, INT32_MAX, &v) < 0)
                                return rf_program_fail(prog, RF_EXIT_USAGE,
                                                       "dlq redrive: --partition '%s' is not a "
                                                       "partition number\n" REDRIVE_USAGE,
                                                       optarg);
                        partition = v;
                        break;
                case 'a':
                        all = true;
                        break;
                case 'n':
                        r.dry_run = true;
                        break;
                default:
                        return rf_program_fail(prog, RF_EXIT_USAGE, REDRIVE_USAGE);
                }
        }
        if (optind < argc)
                return rf_program_fail(prog, RF_EXIT_USAGE, "dlq redrive: unexpected argument '%s'\n" REDRIVE_USAGE,
                                       argv[optind]);
        if (all == (offset_arg != NULL) || (all && partition >= 0))
                return rf_program_fail(prog, RF_EXIT_USAGE, "dlq redrive: give --offset or --all\n" REDRIVE_USAGE);
        if (offset_arg) {
                const char *colon = strchr(offset_arg, ':');
                long long v;

                if (colon) {
                        char p[32];

                        snprintf(p, sizeof(p), "%.*s", (int)(colon - offset_arg), offset_arg);
                        if (partition >= 0)
                                return rf_program_fail(prog, RF_EXIT_USAGE,
                                                       "dlq redrive: --offset P:N and --partition both name a "
                                                       "partition\n" REDRIVE_USAGE);
                        if (parse_count(p, INT32_MAX, &v) < 0)
                                return rf_program_fail(
                                        prog, RF_EXIT_USAGE,
                                        "dlq redrive: --offset '%s' is not P:N (partition:offset)\n" REDRIVE_USAGE,
                                        offset_arg);
                        partition = v;
                }
                if (parse_count(colon ? colon + 1 : offset_arg, INT64_MAX, &v) < 0)
                        return rf_program_fail(prog, RF_EXIT_USAGE,
                                               "dlq redrive: --offset '%s' is not an offset (N or P:N)\n" REDRIVE_USAGE,
                                               offset_arg);
                offset = v;
                r.single = true;
        }
        rf_process_id(r.who, sizeof(r.who));

        if (rf_kafka_reader_new(conf, "runfleet-dlq", &reader, r.errstr, sizeof(r.errstr)) < 0 ||
            (!r.dry_run && rf_kafka_producer_new(conf, "runfleet-dlq-redrive", redrive_dr_cb, NULL, &r.producer,
                                                 r.errstr, sizeof(r.errstr)) < 0) ||
            rf_pg_connect(conf->database.url, "runfleet-dlq-redrive", &r.pg, r.errstr, sizeof(r.errstr)) < 0) {
                rf_program_fail(prog, code, "dlq redrive: %s", r.errstr);
                goto out;
        }
        if (r.single) {
                rc = partition_count(reader, conf->kafka.dlq_topic, &partitions, r.errstr, sizeof(r.errstr));
                if (rc < 0) {
                        rf_program_fail(prog, code, "dlq redrive: %s", r.errstr);
                        goto out;
                }
                if (partition < 0 && partitions != 1) {
                        code = rf_program_fail(prog, RF_EXIT_USAGE,
                                               "dlq redrive: %s has %d partitions and offsets count per partition: "
                                               "name one, --offset P:N or --partition P --offset N",
                                               conf->kafka.dlq_topic, partitions);
                        goto out;
                }
                if (partition < 0)
                        partition = 0;
                if (partition >= partitions) {
                        rf_program_fail(prog, code, "dlq redrive: %s has no partition %lld (it has %d)",
                                        conf->kafka.dlq_topic, partition, partitions);
                        goto out;
                }
                rc = read_one(reader, conf->kafka.dlq_topic, (int32_t)partition, offset, redrive_one, &r, r.errstr,
                              sizeof(r.errstr));
        } else
                rc = scan_topic(reader, conf->kafka.dlq_topic, 0, -1, redrive_one, &r, r.errstr, sizeof(r.errstr));
        if (rc < 0) {
                rf_program_fail(prog, code, "dlq redrive: %s", r.errstr);
                if (r.redriven)
                        printf("%zu redriven before the failure\n", r.redriven);
                goto out;
        }
        printf("%zu %s, %zu still invalid (left in %s), %zu already redriven%s\n", r.redriven,
               r.dry_run ? "would be redriven" : "redriven", r.stays, conf->kafka.dlq_topic, r.already,
               r.dry_run ? " (dry run: nothing changed)" : "");
        code = r.single && r.redriven == 0 ? RF_EXIT_FAILURE : RF_EXIT_OK;
out:
        if (reader) {
                rd_kafka_consumer_close(reader);
                rd_kafka_destroy(reader);
        }
        if (r.producer) {
                rd_kafka_flush(r.producer, 5000);
                rd_kafka_destroy(r.producer);
        }
        rf_pg_destroy(r.pg);
        return code;
}

int producer_dlq(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        if (argc >= 2 && strcmp(argv[1], "list") == 0)
                return dlq_list(prog, conf, argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], "redrive") == 0)
                return dlq_redrive(prog, conf, argc - 1, argv + 1);
        return rf_program_fail(prog, RF_EXIT_USAGE, "usage: dlq list [--since T]\n       " REDRIVE_USAGE);
}
