/* SPDX-License-Identifier: Apache-2.0 */
/* runfleet-worker: setup and teardown. The loop (loop.c) and every part it
 * drives live in the worker library (meson: runfleet-worker-parts), which
 * the unit tests and fuzzers link without this file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rf_kafka.h"
#include "rf_log.h"
#include "rf_metrics.h"
#include "rf_program.h"
#include "rf_util.h"
#include "calls.h"
#include "completion.h"
#include "consumer.h"
#include "dlq.h"
#include "execution.h"
#include "loop.h"
#include "metrics.h"
#include "sockets.h"

static int setup(worker_t *w, const rf_program_t *prog, char *errstr, size_t errstr_size) {
        int r;

        rf_process_id(w->id, sizeof(w->id));
        timers_init(&w->timers);
        if (pipe2(w->wake_fds, O_NONBLOCK | O_CLOEXEC) < 0) {
                snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
                return -errno;
        }
        for (int i = 0; i < DB_ROLES; i++) {
                /* each first connect blocks: a bad URL or a database away at
                 * start fails the start, with libpq's reason (db.c: why two) */
                rf_pg_t *pg = NULL;
                w->db[i].w = w;
                w->db[i].role = (db_role_t)i;
                /* Generic plans: the worker's statements are calls of
                 * runfleet's functions, each planned as its own SET
                 * plan_cache_mode says. What this reaches is the key check
                 * of executions.decision_id, run at commit (schema 010) from
                 * a plan kept per connection: since decisions is partitioned
                 * (018), PostgreSQL otherwise chose a custom plan, planned
                 * anew for every execution claimed, about a fifth of its CPU
                 * in bench scenario (a). The generic plan prunes the
                 * partitions when it runs. */
                r = rf_pg_connect_with(w->conf->database.url, prog->name, RF_PG_GENERIC_PLANS, &pg, errstr,
                                       errstr_size);
                if (r < 0)
                        return r;
                r = rf_pg_async_new(pg, &w->db[i].pg, errstr, errstr_size);
                if (r < 0) {
                        rf_pg_destroy(pg);
                        return r;
                }
                w->db[i].up = rf_pg_async_connected(w->db[i].pg);
                metrics_db_state(w->db[i].role, w->db[i].up, NULL);
        }
        r = rf_kafka_producer_new(w->conf, w->id, dlq_on_delivery, w, &w->producer, errstr, errstr_size);
        if (r < 0)
                return r;
        r = rf_kafka_check_reachable(w->producer, 15000, errstr, errstr_size);
        if (r < 0)
                return r;
        r = rf_kafka_consumer_new(w->conf, w->id, consumer_on_rebalance, consumer_on_commit, w, &w->consumer, errstr,
                                  errstr_size);
        if (r < 0)
                return r;
        {
                rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(w->consumer);
                rd_kafka_queue_io_event_enable(q, w->wake_fds[1], "w", 1);
                rd_kafka_queue_destroy(q);
        }
        {
                rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
                rd_kafka_resp_err_t err;
                rd_kafka_topic_partition_list_add(topics, w->conf->kafka.topic, RD_KAFKA_PARTITION_UA);
                err = rd_kafka_subscribe(w->consumer, topics);
                rd_kafka_topic_partition_list_destroy(topics);
                if (err) {
                        snprintf(errstr, errstr_size, "kafka: subscribing to %s: %s", w->conf->kafka.topic,
                                 rd_kafka_err2str(err));
                        return -EIO;
                }
        }
        for (int i = 0; i < CURL_SHARDS; i++) {
                w->shards[i] = (curl_shard_t){ .w = w, .multi = curl_multi_init(), .index = i };
                if (!w->shards[i].multi) {
                        snprintf(errstr, errstr_size, "out of memory setting up the HTTP client");
                        return -ENOMEM;
                }
        }
        if (calls_init(w) < 0) {
                snprintf(errstr, errstr_size, "out of memory setting up the HTTP client");
                return -ENOMEM;
        }
        return sockets_init(w, errstr, errstr_size);
}

static void teardown(worker_t *w) {
        while (w->head) {
                rf_log_warn("execution.abandoned", execution_fields(w->head),
                            "drain timeout: left unfinished for its lease to expire and the reaper to re-run");
                execution_free(w, w->head);
        }
        if (w->consumer) {
                consumer_commit(w, NULL, true);
                rd_kafka_consumer_close(w->consumer);
                rd_kafka_destroy(w->consumer);
        }
        if (w->producer) {
                rd_kafka_flush(w->producer, 10000);
                rd_kafka_destroy(w->producer);
        }
        dlq_cleanup(w);
        if (w->registry_held)
                rd_kafka_topic_partition_list_destroy(w->registry_held);
        for (size_t i = 0; i < w->track_count; i++)
                offset_track_destroy(w->tracks[i]);
        free(w->tracks);
        for (int i = 0; i < CURL_SHARDS; i++)
                if (w->shards[i].multi) /* tells sockets.c to forget each socket: before its cleanup */
                        curl_multi_cleanup(w->shards[i].multi);
        sockets_cleanup(w);
        calls_cleanup(w);
        completion_cleanup(w);
        for (int i = 0; i < DB_ROLES; i++)
                rf_pg_async_destroy(w->db[i].pg);
        if (w->wake_fds[0] > 0) {
                close(w->wake_fds[0]);
                close(w->wake_fds[1]);
        }
}

int main(int argc, char **argv) {
        rf_program_t prog = { .name = "runfleet-worker", .usage = "\n\nConsumes RUN decisions and executes them." };
        worker_t w = { .epoll_fd = -1 };
        rf_http_t *http = NULL;
        char errstr[1024];
        int first, code = RF_EXIT_OK;

        first = rf_program_options(&prog, &argc, argv);
        if (first < 0)
                return RF_EXIT_USAGE;
        if (first < argc)
                return rf_program_fail(&prog, RF_EXIT_USAGE, "unexpected argument '%s'", argv[first]);
        w.conf = rf_program_load(&prog);
        rf_program_signals();
        curl_global_init(CURL_GLOBAL_DEFAULT);
        metrics_init(w.conf);
        if (rf_program_tracing_start(&prog, w.conf) < 0) {
                code = RF_EXIT_FAILURE;
                goto out;
        }
        if (w.conf->http.port)
                rf_kafka_consumer_stats(metrics_on_stats, METRICS_STATS_INTERVAL_MS);
        if (setup(&w, &prog, errstr, sizeof(errstr)) < 0) {
                code = rf_program_fail(&prog, RF_EXIT_FAILURE, "%s", errstr);
                goto out;
        }
        metrics_kafka_up(); /* setup() had a broker answer */
        metrics_tick(&w);
        if (rf_program_http_start(&prog, w.conf, METRICS_LOOP_STALE_MS, metrics_ready, &w, &http) < 0) {
                code = RF_EXIT_FAILURE;
                goto out;
        }
        rf_log_info("worker.started",
                    json_pack("{s:s, s:s, s:s, s:i}", "worker_id", w.id, "group", w.conf->kafka.group, "topic",
                              w.conf->kafka.topic, "max_in_flight", w.conf->worker.max_in_flight),
                    "worker %s consuming %s", w.id, w.conf->kafka.topic);
        loop_run(&w);
        rf_log_info("worker.stopped",
                    json_pack("{s:I, s:I}", "finished", (json_int_t)w.finished, "dead_lettered",
                              (json_int_t)w.dead_lettered),
                    "stopped after %llu executions", (unsigned long long)w.finished);
out:
        teardown(&w);
        rf_program_tracing_stop(); /* after teardown: the executions abandoned there have their spans */
        rf_http_stop(http);
        curl_global_cleanup();
        rf_conf_destroy((rf_conf_t *)w.conf);
        return code;
}
