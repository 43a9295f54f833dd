/* SPDX-License-Identifier: Apache-2.0 */
/* bench_scenarios: one benchmark measurement per invocation, for bench/run,
 * which runs it once per table row and prints the table. Figures, never
 * assertions. Uses the integration harness (its own database, topic and
 * consumer group per run, against the real Kafka, PostgreSQL and fake
 * scraper of scripts/services). Prints one JSON object on a line of its
 * own; every other line it prints starts with '#'.
 *
 *   bench_scenarios run --engine runfleet|seq|threads --decisions N [--workers N]
 *                       [--scrapers K] [--delay-ms D] [--in-flight N] [--overlap]
 *                       [--rate R --seconds S [--evaluator-path]]
 *                       [--baseline bench/baseline/original.py]
 *       runfleet: the workers start and settle on the partitions, are
 *       frozen (SIGSTOP) while N decisions are recorded and produced (a
 *       backlog), then let go (SIGCONT) together; with --rate, the workers start first and a
 *       producer loop records and produces R decisions/s for S seconds:
 *       each due batch recorded with one INSERT and queued on Kafka without
 *       waiting, or, with --evaluator-path, the way the evaluator does it
 *       (one INSERT per batch, rf_store_insert_decisions, then
 *       rf_store_publish: sent at once, then a wait for the
 *       acknowledgements). Latency is then
 *       measured from each message's Kafka timestamp (the moment it was
 *       produced) to its execution's start and finish.
 *       seq / threads: the original design (Python, bench/baseline/) walks
 *       the N pending decisions of the table, sequentially or on 3 threads.
 *   bench_scenarios scale-up --rate R --seconds S
 *       3 workers under R decisions/s for S seconds, then 3 more join while
 *       the load goes on for 15 s: the longest gap between execution starts
 *       on one partition and over the topic after the join, beside the same
 *       before it; RUNFLEET_KAFKA_GROUP_PROTOCOL picks the group protocol.
 *   bench_scenarios pg-limit --seconds S --clients C --batch B
 *       pgbench against a migrated database, writing the rows of a decision
 *       (decision, execution, scraper call, state changes): one decision per
 *       round trip through runfleet's SQL functions, and B per statement.
 *   bench_scenarios kafka-limit --messages N --size BYTES
 *       librdkafka producing N messages (runfleet's producer settings) to a
 *       6-partition topic and consuming them back.
 *
 * Time stamps for latency and wall time come from PostgreSQL (now() in the
 * transactions that insert a decision, claim and finish its execution). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "itest.h"
#include "rf_sr.h"
#include "rf_conf.h"
#include "rf_kafka.h"
#include "rf_store.h"
#include "preload.h"
#include "rf_util.h"

#define PARTITIONS 6
#define REASON "bench"
#define CHUNK 1000

typedef struct opts {
        const char *mode;
        const char *engine;
        const char *baseline;
        int workers, decisions, scrapers, delay_ms, in_flight, rate, seconds;
        int overlap, evaluator_path;
        int clients, batch, messages, size;
        long long preload; /* (f): decisions of history generated before the run (bench/preload.h) */
} opts_t;

static bool registry_framed(void) {
        const char *f = getenv("RUNFLEET_BENCH_VALUE_FORMAT");

        return f && strcmp(f, "schema-registry") == 0;
}

static char names[PARTITIONS][32];

/* --- small helpers ------------------------------------------------------- */

static json_t *num(double v) {
        return isfinite(v) ? json_real(v) : json_null();
}

/* The first row of @p sql as @p n doubles (NAN for NULL). */
static int query_doubles(itest_t *t, const char *sql, double *out, int n) {
        char errstr[512];
        PGresult *res = NULL;

        for (int i = 0; i < n; i++)
                out[i] = NAN;
        if (rf_pg_exec(t->pg, sql, 0, NULL, &res, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "# query failed: %s\n", errstr);
                return -1;
        }
        for (int i = 0; i < n && i < PQnfields(res); i++)
                if (PQntuples(res) > 0 && !PQgetisnull(res, 0, i))
                        out[i] = strtod(PQgetvalue(res, 0, i), NULL);
        PQclear(res);
        return 0;
}

static double db_clock(itest_t *t) {
        double v;

        query_doubles(t, "SELECT extract(epoch FROM clock_timestamp())", &v, 1);
        return v;
}

static void scraper_url(const itest_t *t, const opts_t *o, int k, char *out, size_t size, bool placeholder) {
        const char *base = placeholder ? "@FAKE@" : t->fake_url;

        if (o->delay_ms > 0)
                snprintf(out, size, "%s/bench/s%d?delay_ms=%d", base, k, o->delay_ms);
        else
                snprintf(out, size, "%s/bench/s%d", base, k);
}

/* Six workflows, one per partition, each calling scrapers s1..sK. */
static void write_config(itest_t *t, const opts_t *o) {
        char scrapers[4096] = "", list[512] = "", workflows[4096] = "", url[300];
        size_t len;

        itest_workflow_names(PARTITIONS, PARTITIONS, names);
        for (int k = 1; k <= o->scrapers; k++) {
                scraper_url(t, o, k, url, sizeof(url), true);
                len = strlen(scrapers);
                snprintf(scrapers + len, sizeof(scrapers) - len,
                         "%s{ name = \"s%d\"; url = \"%s\"; timeout_ms = 60000; }", k > 1 ? ", " : "", k, url);
                len = strlen(list);
                snprintf(list + len, sizeof(list) - len, "%s\"s%d\"", k > 1 ? ", " : "", k);
        }
        for (int i = 0; i < PARTITIONS; i++) {
                len = strlen(workflows);
                snprintf(workflows + len, sizeof(workflows) - len,
                         "%s{ name = \"%s\"; schedule = \"0 3 * * *\"; scrapers = [%s]; }", i ? ", " : "", names[i],
                         list);
        }
        t->partitions = PARTITIONS;
        /* RUNFLEET_BENCH_VALUE_FORMAT=schema-registry: decisions framed for
         * the registry of RUNFLEET_SCHEMA_REGISTRY_URL (the overhead of
         * kafka.value_format); the workers resolve the id once each */
        if (registry_framed()) {
                setenv("RUNFLEET_KAFKA_VALUE_FORMAT", "schema-registry", 1);
                itest_config(t,
                             "schema_registry = { url = \"%s\"; };\nscrapers = ( %s );\nworkflows = ( %s );\n"
                             "worker = { max_in_flight = %d; };\n",
                             t->registry_url, scrapers, workflows, o->in_flight);
                return;
        }
        itest_config(t, "scrapers = ( %s );\nworkflows = ( %s );\nworker = { max_in_flight = %d; };\n", scrapers,
                     workflows, o->in_flight);
}

static rf_decision_t *new_decision(const rf_conf_t *conf, int i, const char *reason) {
        const rf_workflow_conf_t *w = rf_conf_workflow(conf, names[i % PARTITIONS]);
        rf_decision_t *d = rf_decision_new();
        char id[37];

        d->workflow = strdup(w->name);
        d->reason = strdup(reason);
        d->deadline_ms = w->deadline_ms;
        d->attempt = 1;
        d->decided_at_ms = rf_now_ms();
        rf_decision_set_scrapers(d, w->scrapers, w->scraper_count);
        rf_uuid_new(id);
        d->decision_id = strdup(id);
        rf_uuid_new(id);
        d->trace_id = strdup(id);
        return d;
}

/* Appends @p s to a PostgreSQL array literal being built in @p buf. */
static void append_item(char **buf, size_t *len, size_t *cap, const char *s) {
        size_t need = strlen(s) + 4;

        if (*len + need >= *cap) {
                *cap = (*cap + need) * 2;
                *buf = realloc(*buf, *cap);
        }
        *len += (size_t)sprintf(*buf + *len, "%s\"%s\"", *len > 1 ? "," : "", s);
}

/* Records decisions first .. first+k-1 with one INSERT and, when @p rk is
 * given, queues them on Kafka without waiting for the acknowledgements.
 * Returns how many were recorded (0 or k). */
static int record_and_queue(rf_pg_t *pg, const rf_conf_t *conf, rd_kafka_t *rk, int first, int k) {
        rf_decision_t **ds = calloc((size_t)k, sizeof(*ds));
        size_t il = 1, ic = 64, wl = 1, wc = 64, tl = 1, tc = 64;
        char *ids = malloc(ic), *wfs = malloc(wc), *trs = malloc(tc), deadline[32], errstr[1024];
        char *scrapers;
        int r = k;

        strcpy(ids, "{");
        strcpy(wfs, "{");
        strcpy(trs, "{");
        for (int i = 0; i < k; i++) {
                ds[i] = new_decision(conf, first + i, REASON);
                append_item(&ids, &il, &ic, ds[i]->decision_id);
                append_item(&wfs, &wl, &wc, ds[i]->workflow);
                append_item(&trs, &tl, &tc, ds[i]->trace_id);
        }
        strcat(ids, "}");
        strcat(wfs, "}");
        strcat(trs, "}");
        scrapers = rf_pg_array_literal(ds[0]->scrapers, ds[0]->scraper_count);
        snprintf(deadline, sizeof(deadline), "%lld", (long long)ds[0]->deadline_ms);
        {
                const char *params[] = { ids, wfs, scrapers, deadline, trs };
                if (rf_pg_exec(pg,
                               "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, decided_at,"
                               " scrapers, deadline_ms, attempt, trace_id, state)"
                               " SELECT u.d, u.w, 'RUN', '" REASON "', now(), $3::text[], $4::bigint, 1, u.tr,"
                               " 'PENDING' FROM unnest($1::uuid[], $2::text[], $5::text[]) AS u(d, w, tr)",
                               5, params, NULL, errstr, sizeof(errstr)) < 0) {
                        fprintf(stderr, "# insert: %s\n", errstr);
                        r = 0;
                }
        }
        for (int i = 0; i < k; i++) {
                for (int tries = 0; rk && r > 0 && tries < 1000; tries++) {
                        char why[256];
                        if (rf_kafka_produce_decision(rk, conf->kafka.topic, ds[i], NULL, why, sizeof(why)) == 0)
                                break;
                        rd_kafka_poll(rk, 10); /* queue full: let deliveries drain */
                }
                rf_decision_destroy(ds[i]);
        }
        if (rk)
                rd_kafka_poll(rk, 0);
        free(scrapers);
        free(ids);
        free(wfs);
        free(trs);
        free(ds);
        return r;
}

static int dr_errors;

/* Delivery reports: rf_store_publish()'s per-message slots, and a count of failures. */
static void bench_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
        rf_store_dr_cb(rk, msg, opaque);
        if (msg->err)
                dr_errors++;
}

/* The backlog: @p n RUN decisions recorded in bulk (one INSERT per 1,000)
 * and, when @p to_kafka, produced and acknowledged. Setup, not measured. */
static int preload(itest_t *t, int n, bool to_kafka) {
        rf_conf_t *conf = NULL;
        rd_kafka_t *rk = NULL;
        char errstr[1024];
        int done = 0;
        int64_t t0 = rf_mono_ms();

        if (rf_conf_load(t->config, &conf, errstr, sizeof(errstr)) < 0 ||
            rf_sr_setup(conf, errstr, sizeof(errstr)) < 0 ||
            (to_kafka && rf_kafka_producer_new(conf, "bench", bench_dr, NULL, &rk, errstr, sizeof(errstr)) < 0)) {
                fprintf(stderr, "# preload: %s\n", errstr);
                rf_conf_destroy(conf);
                return -1;
        }
        while (done < n) {
                int k = n - done < CHUNK ? n - done : CHUNK;
                if (record_and_queue(t->pg, conf, rk, done, k) == 0)
                        break;
                done += k;
        }
        if (rk) {
                rd_kafka_flush(rk, 120000);
                if (rd_kafka_outq_len(rk) > 0 || dr_errors)
                        fprintf(stderr, "# preload: %d not delivered, %d delivery errors\n", rd_kafka_outq_len(rk),
                                dr_errors);
                rd_kafka_destroy(rk);
                rf_pg_exec(t->pg, "UPDATE runfleet.decisions SET delivered_at = now() WHERE delivered_at IS NULL", 0,
                           NULL, NULL, errstr, sizeof(errstr));
        }
        rf_conf_destroy(conf);
        printf("# preloaded %d decisions in %.1f s\n", done, (double)(rf_mono_ms() - t0) / 1000.0);
        return done;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* As percentile_cont(): linear interpolation between the closest ranks. */
static double percentile(const double *sorted, size_t n, double p) {
        double pos = p * (double)(n - 1);
        size_t lo = (size_t)pos;

        if (n == 0)
                return NAN;
        if (lo + 1 >= n)
                return sorted[n - 1];
        return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * (pos - (double)lo);
}

/* Each message's Kafka timestamp, by partition and offset. */
typedef struct {
        int64_t *ts[PARTITIONS];
        int64_t cap[PARTITIONS];
} timestamps_t;

static void note_timestamp(const rd_kafka_message_t *m, void *arg) {
        timestamps_t *s = arg;
        int p = m->partition;

        if (p < 0 || p >= PARTITIONS || m->offset < 0)
                return;
        if (m->offset >= s->cap[p]) {
                int64_t cap = s->cap[p] ? s->cap[p] : 4096;
                while (cap <= m->offset)
                        cap *= 2;
                s->ts[p] = realloc(s->ts[p], (size_t)cap * sizeof(int64_t));
                memset(s->ts[p] + s->cap[p], 0, (size_t)(cap - s->cap[p]) * sizeof(int64_t));
                s->cap[p] = cap;
        }
        s->ts[p][m->offset] = rd_kafka_message_timestamp(m, NULL);
}

/* Latency from the moment each message was produced (its Kafka CreateTime,
 * set by librdkafka when the producer hands it over) to its execution's
 * start and finish as PostgreSQL recorded them. out: p2s p50, p99, e2e p50, p99 (ms). */
static int kafka_latencies(itest_t *t, double out[4]) {
        timestamps_t stamps = { .cap = { 0 } };
        double *p2s = NULL, *e2e = NULL;
        PGresult *res = NULL;
        char errstr[512];
        size_t n = 0;
        int got;

        for (int i = 0; i < 4; i++)
                out[i] = NAN;
        got = itest_read_topic(t, NULL, t->topic, 0, 60000, note_timestamp, &stamps);
        if (rf_pg_exec(t->pg,
                       "SELECT e.kafka_partition, e.kafka_offset, extract(epoch FROM e.started_at) * 1000,"
                       " extract(epoch FROM e.finished_at) * 1000"
                       " FROM runfleet.executions e JOIN runfleet.decisions d USING (decision_id)"
                       " WHERE d.reason = '" REASON "' AND e.kafka_offset IS NOT NULL AND e.finished_at IS NOT NULL",
                       0, NULL, &res, errstr, sizeof(errstr)) == 0) {
                int rows = PQntuples(res);
                p2s = calloc((size_t)rows + 1, sizeof(double));
                e2e = calloc((size_t)rows + 1, sizeof(double));
                for (int r = 0; r < rows; r++) {
                        int p = atoi(PQgetvalue(res, r, 0));
                        long long off = atoll(PQgetvalue(res, r, 1));
                        if (p < 0 || p >= PARTITIONS || off < 0 || off >= stamps.cap[p] || stamps.ts[p][off] <= 0)
                                continue;
                        p2s[n] = strtod(PQgetvalue(res, r, 2), NULL) - (double)stamps.ts[p][off];
                        e2e[n] = strtod(PQgetvalue(res, r, 3), NULL) - (double)stamps.ts[p][off];
                        n++;
                }
                PQclear(res);
        }
        if (n > 0) {
                qsort(p2s, n, sizeof(double), cmp_double);
                qsort(e2e, n, sizeof(double), cmp_double);
                out[0] = percentile(p2s, n, 0.5);
                out[1] = percentile(p2s, n, 0.99);
                out[2] = percentile(e2e, n, 0.5);
                out[3] = percentile(e2e, n, 0.99);
        }
        printf("# latency from Kafka timestamps: %zu executions, %d messages read\n", n, got);
        free(p2s);
        free(e2e);
        for (int p = 0; p < PARTITIONS; p++)
                free(stamps.ts[p]);
        return n > 0 ? 0 : -1;
}

/* Records and produces @p k decisions as the evaluator does: one INSERT
 * for the batch (rf_store_insert_decisions, as producer/decide.c's round),
 * then rf_store_publish, which sends at once and waits for Kafka's
 * acknowledgements before it records delivered_at. */
static int produce_like_evaluator(rf_conf_t *conf, rf_pg_t *pg, rd_kafka_t *rk, int first, int k, const char *reason) {
        rf_decision_t *ds[512];
        rf_store_new_t rows[512];
        char errstr[1024];
        size_t delivered = 0;
        int n = k < 512 ? k : 512;

        for (int i = 0; i < n; i++) {
                ds[i] = new_decision(conf, first + i, reason);
                rows[i] = (rf_store_new_t){ .d = ds[i], .action = "RUN", .tick_ms = -1 };
        }
        if (rf_store_insert_decisions(pg, rows, (size_t)n, errstr, sizeof(errstr)) < 0)
                fprintf(stderr, "# insert: %s\n", errstr);
        else if (rf_store_publish(rk, pg, conf->kafka.topic, ds, (size_t)n, 30000, &delivered, errstr, sizeof(errstr)) <
                 0)
                fprintf(stderr, "# publish: %s\n", errstr);
        for (int i = 0; i < n; i++)
                rf_decision_destroy(ds[i]);
        return (int)delivered;
}

/* Starts @p n workers (logs worker-1...) and waits until the group has
 * assigned them the partitions. Returns the database clock at their start. */
static double spawn_workers(itest_t *t, pid_t *pids, int n) {
        double at;

        for (int i = 0; i < n; i++) {
                char log[32];
                snprintf(log, sizeof(log), "worker-%d", i + 1);
                pids[i] = itest_spawn(t, log, "runfleet-worker", NULL);
        }
        at = db_clock(t);
        if (!itest_wait_assigned(t, pids, n, PARTITIONS, 30000))
                printf("# workers had not settled on the partitions after 30 s; measuring anyway\n");
        return at;
}

/* How many consumer.rebalance lines the workers have logged so far. */
static int count_rebalances(itest_t *t, const pid_t *pids, int n) {
        int count = 0;

        for (int i = 0; i < n; i++) {
                char *log = itest_read_log(t, pids[i]);
                for (char *p = log; (p = strstr(p, "\"consumer.rebalance\"")); p++)
                        count++;
                free(log);
        }
        return count;
}

/* Offers decisions at @p rate per second for @p ms (numbered from
 * @p first, so spread over the partitions), recorded and queued in batches
 * of at most 500 (through rf_store when @p evaluator_path). Returns how many
 * were offered; gives up 60 s past the end when hopelessly behind. */
static int offer(rf_conf_t *conf, rf_pg_t *pg, rd_kafka_t *rk, int rate, int ms, int evaluator_path, int first) {
        int64_t t0 = rf_mono_ms(), end = t0 + ms;
        int n = (int)((int64_t)rate * ms / 1000), produced = 0;

        while (produced < n) {
                int64_t now = rf_mono_ms();
                long due = (long)((double)rate * (double)(now - t0) / 1000.0) + 1;
                int k;
                if (due > n)
                        due = n;
                k = (int)(due - produced);
                if (k <= 0) {
                        itest_sleep_ms(1);
                        continue;
                }
                if (k > 500)
                        k = 500;
                if (evaluator_path)
                        produced += produce_like_evaluator(conf, pg, rk, first + produced, k, REASON);
                else
                        produced += record_and_queue(pg, conf, rk, first + produced, k);
                if (now > end + 60000)
                        break; /* hopelessly behind: stop offering */
        }
        return produced;
}

#define FINISHED_SQL                                                                                                   \
        "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d USING (decision_id)"                     \
        " WHERE d.reason = '" REASON "' AND e.finished_at IS NOT NULL"

/* --- run ----------------------------------------------------------------- */

static int run(const opts_t *o) {
        itest_t t;
        pid_t pids[64] = { 0 };
        int nw = o->workers, n = o->decisions, produced = 0;
        bool baseline = strcmp(o->engine, "runfleet") != 0;
        double spawn_at, m[9], lat[4], cpu = 0, offered_s = NAN, overlap = NAN;
        const char *latency_from;
        double settle_s = NAN, frozen_s = NAN;
        int rebalances = -1;
        long rss = -1;
        bool done;
        json_t *out = json_object();
        struct rusage ru;
        int64_t wait_ms;

        itest_init(&t, baseline ? "bench_baseline" : "bench_run");
        write_config(&t, o);
        itest_migrate(&t);
        if (o->preload > 0) {
                double secs = bench_preload(&t, o->preload);

                if (secs < 0) {
                        json_decref(out);
                        itest_finish(&t);
                        return 1;
                }
                json_object_set_new(out, "preload", json_integer(o->preload));
                json_object_set_new(out, "preload_s", json_real(secs));
        }

        if (o->rate > 0) {
                /* latency: warm workers, then decisions offered at a steady rate */
                rf_conf_t *conf = NULL;
                rf_pg_t *pg = NULL;
                rd_kafka_t *rk = NULL;
                char errstr[1024];
                int64_t t0;

                spawn_at = spawn_workers(&t, pids, nw);
                if (rf_conf_load(t.config, &conf, errstr, sizeof(errstr)) < 0 ||
                    rf_pg_connect(conf->database.url, "bench-producer", &pg, errstr, sizeof(errstr)) < 0 ||
                    rf_kafka_producer_new(conf, "bench-producer", bench_dr, NULL, &rk, errstr, sizeof(errstr)) < 0) {
                        fprintf(stderr, "# producer: %s\n", errstr);
                        exit(1);
                }
                /* warm-up: one decision per partition, not measured */
                produce_like_evaluator(conf, pg, rk, 0, PARTITIONS, "warm-up");
                itest_wait_for(&t, PARTITIONS, 30000,
                               "SELECT count(*) FROM runfleet.executions WHERE finished_at IS NOT NULL");
                t0 = rf_mono_ms();
                produced = offer(conf, pg, rk, o->rate, o->seconds * 1000, o->evaluator_path, 0);
                offered_s = (double)(rf_mono_ms() - t0) / 1000.0;
                rd_kafka_flush(rk, 30000);
                n = produced;
                rd_kafka_destroy(rk);
                rf_pg_destroy(pg);
                rf_conf_destroy(conf);
        } else {
                if (!baseline) {
                        /* the workers join and settle on the partitions first,
                         * then are frozen (SIGSTOP) while the backlog is
                         * recorded and produced, and let go all at once: the
                         * figures are for a settled group, not for its join */
                        spawn_at = spawn_workers(&t, pids, nw);
                        settle_s = db_clock(&t) - spawn_at;
                        rebalances = count_rebalances(&t, pids, nw);
                        for (int i = 0; i < nw; i++)
                                kill(pids[i], SIGSTOP);
                        n = preload(&t, n, true);
                        frozen_s = db_clock(&t) - spawn_at - settle_s;
                        spawn_at = db_clock(&t);
                        for (int i = 0; i < nw; i++)
                                kill(pids[i], SIGCONT);
                } else {
                        n = preload(&t, n, false);
                        spawn_at = db_clock(&t);
                        char *argv[32], urls[8][400], logpath[700];
                        int a = 0;
                        argv[a++] = "/usr/bin/python3";
                        argv[a++] = (char *)o->baseline;
                        argv[a++] = "--database-url";
                        argv[a++] = t.db_url;
                        argv[a++] = "--threads";
                        argv[a++] = strcmp(o->engine, "threads") == 0 ? "3" : "0";
                        for (int k = 1; k <= o->scrapers && k <= 8; k++) {
                                char url[300];
                                scraper_url(&t, o, k, url, sizeof(url), false);
                                snprintf(urls[k - 1], sizeof(urls[k - 1]), "s%d=%s", k, url);
                                argv[a++] = "--scraper";
                                argv[a++] = urls[k - 1];
                        }
                        argv[a] = NULL;
                        snprintf(logpath, sizeof(logpath), "%s/baseline.log", t.dir);
                        nw = 1;
                        pids[0] = fork();
                        if (pids[0] == 0) {
                                int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
                                dup2(fd, STDOUT_FILENO);
                                dup2(fd, STDERR_FILENO);
                                execv(argv[0], argv);
                                _exit(127);
                        }
                }
        }

        /* wait for every decision to finish (or give up) */
        wait_ms = 120000 + (int64_t)n * (o->delay_ms + 10) * o->scrapers / (baseline ? 1 : 100);
        if (baseline) {
                int64_t until = rf_mono_ms() + wait_ms;
                int status = 0;
                pid_t r = 0;
                done = false;
                while (rf_mono_ms() < until) {
                        r = wait4(pids[0], &status, WNOHANG, &ru);
                        if (r == pids[0])
                                break;
                        itest_sleep_ms(200);
                }
                if (r != pids[0]) {
                        kill(pids[0], SIGKILL);
                        wait4(pids[0], &status, 0, &ru);
                }
                done = itest_query_ll(&t, FINISHED_SQL) == n;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        printf("# baseline exited with status %d; see %s/baseline.log\n", status, t.dir);
                cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                      ru.ru_stime.tv_usec / 1e6;
                rss = ru.ru_maxrss;
        } else {
                /* The end of the run, asked of Kafka, not PostgreSQL: a worker
                 * commits an offset only after the execution is recorded, and
                 * polling FINISHED_SQL, a join over both tables, took about 5 %
                 * of PostgreSQL's CPU while (a) was measured. One count in
                 * PostgreSQL afterwards. */
                itest_wait_committed(&t, t.topic, t.group, (int)(wait_ms > 900000 ? 900000 : wait_ms));
                done = itest_wait_for(&t, n, 60000, FINISHED_SQL);
                if (rebalances >= 0)
                        rebalances = count_rebalances(&t, pids, nw) - rebalances;
                for (int i = 0; i < nw; i++) {
                        long r = itest_peak_rss_kb(pids[i]);
                        cpu += itest_cpu_seconds(pids[i]);
                        if (r > rss)
                                rss = r;
                }
        }

        query_doubles(
                &t,
                "SELECT count(*) FILTER (WHERE e.status = 'SUCCEEDED'),"
                " count(*) FILTER (WHERE e.status <> 'SUCCEEDED'),"
                " extract(epoch FROM max(e.finished_at) - min(e.started_at)),"
                " extract(epoch FROM min(e.started_at)),"
                " 1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.started_at - d.produced_at)),"
                " 1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM e.started_at - d.produced_at)),"
                " 1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.finished_at - d.produced_at)),"
                " 1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM e.finished_at - d.produced_at)),"
                " count(DISTINCT e.worker_id)"
                " FROM runfleet.executions e JOIN runfleet.decisions d USING (decision_id)"
                " WHERE d.reason = '" REASON "'",
                m, 9);
        latency_from = "insert";
        if (o->rate > 0 && kafka_latencies(&t, lat) == 0) {
                m[4] = lat[0];
                m[5] = lat[1];
                m[6] = lat[2];
                m[7] = lat[3];
                latency_from = "kafka";
        }
        if (o->overlap)
                query_doubles(
                        &t,
                        "WITH c AS (SELECT c.started_at AS s, c.started_at + c.duration_ms * interval '1 ms' AS e"
                        "             FROM runfleet.scraper_calls c JOIN runfleet.executions x USING (execution_id)"
                        "             JOIN runfleet.decisions d USING (decision_id) WHERE d.reason = '" REASON "')"
                        " SELECT max(n) FROM (SELECT (SELECT count(*) FROM c b WHERE b.s <= a.s AND b.e > a.s)"
                        " AS n FROM c a) x",
                        &overlap, 1);

        json_object_set_new(out, "engine", json_string(o->engine));
        json_object_set_new(out, "workers", json_integer(nw));
        json_object_set_new(out, "decisions", json_integer(n));
        json_object_set_new(out, "complete", json_boolean(done));
        json_object_set_new(out, "succeeded", num(m[0]));
        json_object_set_new(out, "failed", num(m[1]));
        json_object_set_new(out, "wall_s", num(m[2]));
        json_object_set_new(out, "rate", num(m[2] > 0 ? m[0] / m[2] : NAN));
        /* from the workers' release (or the baseline's start) to the first execution */
        json_object_set_new(out, "startup_s", num(m[3] - spawn_at));
        json_object_set_new(out, "settle_s", num(settle_s));
        json_object_set_new(out, "frozen_s", num(frozen_s));
        if (rebalances >= 0)
                json_object_set_new(out, "rebalances_during_run", json_integer(rebalances));
        json_object_set_new(out, "p2s_p50_ms", num(m[4]));
        json_object_set_new(out, "p2s_p99_ms", num(m[5]));
        json_object_set_new(out, "e2e_p50_ms", num(m[6]));
        json_object_set_new(out, "e2e_p99_ms", num(m[7]));
        json_object_set_new(out, "workers_used", num(m[8]));
        json_object_set_new(out, "rss_kb", rss >= 0 ? json_integer(rss) : json_null());
        json_object_set_new(out, "cpu_s", num(cpu));
        json_object_set_new(out, "cpu_s_per_1000", num(m[0] > 0 ? cpu * 1000.0 / m[0] : NAN));
        json_object_set_new(out, "backlog", json_boolean(o->rate <= 0));
        json_object_set_new(out, "latency_from", json_string(latency_from));
        if (o->rate > 0) {
                json_object_set_new(out, "offered_rate", json_integer(o->rate));
                json_object_set_new(out, "achieved_offer_rate", num(produced / offered_s));
                json_object_set_new(out, "offer_s", num(offered_s));
                json_object_set_new(out, "offered_by", json_string(o->evaluator_path ? "rf_store" : "bulk"));
                json_object_set_new(out, "delivery_errors", json_integer(dr_errors));
        }
        if (o->overlap)
                json_object_set_new(out, "most_in_flight", num(overlap));
        {
                char *s = json_dumps(out, JSON_COMPACT);
                printf("%s\n", s);
                free(s);
        }
        json_decref(out);
        itest_finish(&t);
        return 0;
}

/* --- scale-up ------------------------------------------------------------- */

/* Longest gap between two execution starts that ended after @p from (epoch
 * seconds) and began no earlier than @p since, in ms: per partition (the
 * largest of them) and over the whole topic. */
static void start_gaps(itest_t *t, double since, double from, double to, double *ret_partition, double *ret_topic) {
        char sql[1024];
        double v[2];

        snprintf(sql, sizeof(sql),
                 "WITH s AS (SELECT started_at,"
                 "   lag(started_at) OVER (PARTITION BY kafka_partition ORDER BY started_at) AS prev_p,"
                 "   lag(started_at) OVER (ORDER BY started_at) AS prev_t"
                 "   FROM runfleet.executions WHERE started_at >= to_timestamp(%.3f))"
                 " SELECT 1000 * extract(epoch FROM max(started_at - prev_p)),"
                 "        1000 * extract(epoch FROM max(started_at - prev_t))"
                 " FROM s WHERE started_at > to_timestamp(%.3f) AND started_at <= to_timestamp(%.3f)",
                 since, from, to);
        query_doubles(t, sql, v, 2);
        *ret_partition = v[0];
        *ret_topic = v[1];
}

/* Three workers take a steady load (o->rate decisions/s over the six
 * partitions) for o->seconds; then three more join at once while the load
 * goes on for 15 s. How long executions stop starting: the longest gap
 * between two starts on one partition (a moved partition waits for its
 * revocation, commit and new owner) and over the whole topic, from the
 * join on, beside the same figures for the seconds before it. The group
 * protocol (kafka.group_protocol) comes from RUNFLEET_KAFKA_GROUP_PROTOCOL. */
static int scale_up(const opts_t *o) {
        itest_t t;
        pid_t pids[6] = { 0 };
        rf_conf_t *conf = NULL;
        rf_pg_t *pg = NULL;
        rd_kafka_t *rk = NULL;
        char errstr[1024];
        double before_at, join_at, end_at, gap_p, gap_t, base_p, base_t, assigned_s = NAN;
        int offered = 0, settled;
        const char *protocol = getenv("RUNFLEET_KAFKA_GROUP_PROTOCOL");
        json_t *out = json_object();

        itest_init(&t, "bench_scale_up");
        write_config(&t, o);
        itest_migrate(&t);
        if (rf_conf_load(t.config, &conf, errstr, sizeof(errstr)) < 0 ||
            rf_pg_connect(conf->database.url, "bench-producer", &pg, errstr, sizeof(errstr)) < 0 ||
            rf_kafka_producer_new(conf, "bench-producer", bench_dr, NULL, &rk, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "# producer: %s\n", errstr);
                exit(1);
        }
        spawn_workers(&t, pids, 3);
        offered += offer(conf, pg, rk, o->rate, 2000, 0, offered); /* warm, not measured */
        before_at = db_clock(&t);
        offered += offer(conf, pg, rk, o->rate, o->seconds * 1000, 0, offered);
        join_at = db_clock(&t);
        for (int i = 3; i < 6; i++) {
                char log[32];
                snprintf(log, sizeof(log), "worker-%d", i + 1);
                pids[i] = itest_spawn(&t, log, "runfleet-worker", NULL);
        }
        offered += offer(conf, pg, rk, o->rate, 15000, 0, offered);
        end_at = db_clock(&t);
        settled = itest_wait_assigned(&t, pids, 6, PARTITIONS, 30000);
        if (settled)
                assigned_s = db_clock(&t) - join_at; /* an upper bound: polled after the load */
        rd_kafka_flush(rk, 30000);
        itest_wait_committed(&t, t.topic, t.group, 120000);
        start_gaps(&t, before_at, before_at, join_at, &base_p, &base_t);
        start_gaps(&t, before_at, join_at, end_at, &gap_p, &gap_t);

        json_object_set_new(out, "protocol", json_string(protocol && *protocol ? protocol : "classic"));
        json_object_set_new(out, "offered", json_integer(offered));
        json_object_set_new(out, "succeeded",
                            json_integer(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions"
                                                            " WHERE status = 'SUCCEEDED'")));
        json_object_set_new(out, "rate", json_integer(o->rate));
        json_object_set_new(out, "stall_partition_ms", num(gap_p));
        json_object_set_new(out, "stall_topic_ms", num(gap_t));
        json_object_set_new(out, "before_partition_ms", num(base_p));
        json_object_set_new(out, "before_topic_ms", num(base_t));
        json_object_set_new(out, "all_six_assigned", json_boolean(settled));
        json_object_set_new(out, "workers_used",
                            json_integer(itest_query_ll(&t,
                                                        "SELECT count(DISTINCT worker_id) FROM runfleet.executions"
                                                        " WHERE started_at > to_timestamp(%.3f)",
                                                        join_at)));
        json_object_set_new(out, "assigned_within_s", num(assigned_s));
        {
                char *text = json_dumps(out, JSON_COMPACT);
                printf("%s\n", text);
                free(text);
        }
        json_decref(out);
        rd_kafka_destroy(rk);
        rf_pg_destroy(pg);
        rf_conf_destroy(conf);
        itest_finish(&t);
        return 0;
}

/* --- the machine's limits --------------------------------------------------- */

static double pgbench(itest_t *t, const char *script_name, const char *script, const opts_t *o) {
        char path[700], cmd[2048], line[512];
        double tps = NAN;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s.sql", t->dir, script_name);
        f = fopen(path, "w");
        if (!f)
                return NAN;
        fputs(script, f);
        fclose(f);
        /* the worker's session settings: its foreign key checks, too, run
         * from a generic plan (worker/main.c) */
        snprintf(cmd, sizeof(cmd), "PGOPTIONS='%s' pgbench -n -M prepared -c %d -j 2 -T %d -f '%s' '%s' 2>&1",
                 RF_PG_GENERIC_PLANS, o->clients, o->seconds, path, t->db_url);
        f = popen(cmd, "r");
        if (!f)
                return NAN;
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, "tps = ", 6) == 0)
                        tps = strtod(line + 6, NULL);
                else if (strstr(line, "error") || strstr(line, "ERROR") || strstr(line, "aborted"))
                        printf("# pgbench %s: %s", script_name, line);
        }
        pclose(f);
        return tps;
}

/* Ids as the programs make them, beginning with their time (rf_uuid.h), so
 * the rows land in today's partitions as the programs' do: from now(), or
 * from the script's :ms with a tail from @p kind, the client and batch. */
#define NOW_ID(tail)                                                                                                   \
        "(lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0') || '7' || substr(md5(" tail                \
        "), 1, 19))::uuid"
#define AT_ID(kind)                                                                                                    \
        "(lpad(to_hex(:ms::bigint), 12, '0') || '7' || substr(md5(" kind                                               \
        " || :client_id || '-' || :b || '-' || i), 1, 19))::uuid"

static int pg_limit(const opts_t *o) {
        itest_t t;
        char batch[4096];
        double row, many;
        json_t *out;
        char *s;

        itest_init(&t, "bench_pg_limit");
        write_config(&t, o);
        itest_migrate(&t);
        /* one decision: the producer's insert, the worker's claim and finish,
         * each its own transaction, through the worker's batch functions
         * with one item (what a worker does when decisions come one by one) */
        row = pgbench(
                &t, "one_per_round_trip",
                "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, decided_at, tick, scrapers,"
                " deadline_ms, attempt, replay_of, trace_id, state)"
                " VALUES (" NOW_ID(
                        "gen_random_uuid()::text") ", 'flow_0', 'RUN', 'pgbench', now(), NULL, '{s1}',"
                                                   " 600000, 1, NULL, gen_random_uuid()::text, 'PENDING')"
                                                   " ON CONFLICT (decision_id) DO NOTHING"
                                                   " RETURNING decision_id AS d, " NOW_ID(
                                                           "gen_random_uuid()::text") " AS e\n"
                                                                                      "\\gset\n"
                                                                                      "SELECT * FROM runfleet.begin_executions('pgbench', 30000, 'topic', jsonb_build_array("
                                                                                      "jsonb_build_object('i', 0, 'decision_id', :d::text, 'attempt', 1, 'execution_id', :e::text,"
                                                                                      " 'partition', 0, 'offset', 0)));\n"
                                                                                      "SELECT * FROM runfleet.finish_executions('pgbench', jsonb_build_array(jsonb_build_object("
                                                                                      "'i', 0, 'execution_id', :e::text, 'status', 'SUCCEEDED', 'error', NULL, 'calls',"
                                                                                      " jsonb_build_array(jsonb_build_object('scraper', 's1', 'try', 1, 'http_status', 200,"
                                                                                      " 'outcome', 'OK', 'started_ms', (extract(epoch FROM now()) * 1000)::bigint,"
                                                                                      " 'duration_ms', 1, 'error', NULL)))));\n",
                o);
        /* the same rows and state changes, B decisions per statement */
        snprintf(
                batch, sizeof(batch),
                "\\set b random(1, 1000000000000)\n"
                "SELECT (extract(epoch FROM now()) * 1000)::bigint AS ms\n"
                "\\gset\n"
                "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, scrapers, deadline_ms, attempt,"
                " trace_id, state)"
                " SELECT " AT_ID(
                        "'d'") ", 'flow_' || (i %% 6), 'RUN', 'pgbench',"
                               " '{s1}', 600000, 1, gen_random_uuid()::text, 'PENDING' FROM generate_series(1, %d) i;\n"
                               "WITH ids AS (SELECT " AT_ID("'d'") " AS d, " AT_ID(
                                       "'e'") " AS e FROM generate_series(1, %d) i),"
                                              " x AS (INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id, status,"
                                              " lease_until, kafka_topic, kafka_partition, kafka_offset)"
                                              " SELECT e, d, 1, 'pgbench', 'RUNNING', now() + interval '30 s', 'topic', 0, 0 FROM ids)"
                                              " UPDATE runfleet.decisions SET state = 'RUNNING', state_at = now(),"
                                              " delivered_at = coalesce(delivered_at, now()) WHERE decision_id IN (SELECT d FROM ids);\n"
                                              "WITH ids AS (SELECT " AT_ID("'d'") " AS d, " AT_ID(
                                                      "'e'") " AS e FROM generate_series(1, %d) i),"
                                                             " c AS (INSERT INTO runfleet.scraper_calls (execution_id, scraper, try, http_status, outcome,"
                                                             " duration_ms) SELECT e, 's1', 1, 200, 'OK', 1 FROM ids),"
                                                             " x AS (UPDATE runfleet.executions SET status = 'SUCCEEDED', finished_at = now()"
                                                             " WHERE execution_id IN (SELECT e FROM ids))"
                                                             " UPDATE runfleet.decisions SET state = 'SUCCEEDED', state_at = now()"
                                                             " WHERE decision_id IN (SELECT d FROM ids);\n",
                o->batch, o->batch, o->batch);
        many = pgbench(&t, "batched", batch, o) * o->batch;
        out = json_pack("{s:o, s:o, s:i, s:i}", "pg_one_per_round_trip", num(row), "pg_batched", num(many), "batch",
                        o->batch, "clients", o->clients);
        s = json_dumps(out, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(out);
        itest_finish(&t);
        return 0;
}

static int kafka_limit(const opts_t *o) {
        itest_t t;
        rf_conf_t *conf = NULL;
        rd_kafka_t *rk = NULL;
        rd_kafka_conf_t *kc;
        rd_kafka_topic_partition_list_t *parts;
        char errstr[1024], *payload, group[160];
        double produce_rate, consume_rate;
        int64_t t0, until;
        int got = 0;
        json_t *out;
        char *s;

        itest_init(&t, "bench_kafka_limit");
        write_config(&t, o);
        itest_migrate(&t);
        if (rf_conf_load(t.config, &conf, errstr, sizeof(errstr)) < 0 ||
            rf_kafka_producer_new(conf, "bench-limit", bench_dr, NULL, &rk, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "# kafka-limit: %s\n", errstr);
                return 1;
        }
        payload = malloc((size_t)o->size);
        for (int i = 0; i < o->size; i++)
                payload[i] = (char)('a' + i % 26);
        t0 = rf_mono_ms();
        for (int i = 0; i < o->messages; i++) {
                const char *key = names[i % PARTITIONS];
                while (rd_kafka_producev(
                               rk, RD_KAFKA_V_TOPIC(conf->kafka.topic), RD_KAFKA_V_KEY((void *)key, strlen(key)),
                               RD_KAFKA_V_VALUE(payload, (size_t)o->size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(rk, 5);
                rd_kafka_poll(rk, 0);
        }
        rd_kafka_flush(rk, 120000);
        produce_rate = o->messages / ((double)(rf_mono_ms() - t0) / 1000.0);
        rd_kafka_destroy(rk);

        kc = rd_kafka_conf_new();
        snprintf(group, sizeof(group), "%s-limit", t.group);
        rd_kafka_conf_set(kc, "bootstrap.servers", t.brokers, errstr, sizeof(errstr));
        rd_kafka_conf_set(kc, "group.id", group, errstr, sizeof(errstr));
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", errstr, sizeof(errstr));
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
        rd_kafka_poll_set_consumer(rk);
        parts = rd_kafka_topic_partition_list_new(PARTITIONS);
        for (int p = 0; p < PARTITIONS; p++)
                rd_kafka_topic_partition_list_add(parts, conf->kafka.topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        t0 = rf_mono_ms();
        until = t0 + 120000;
        rd_kafka_assign(rk, parts);
        while (got < o->messages && rf_mono_ms() < until) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (!m->err)
                        got++;
                rd_kafka_message_destroy(m);
        }
        consume_rate = got / ((double)(rf_mono_ms() - t0) / 1000.0);
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        rf_conf_destroy(conf);
        free(payload);
        out = json_pack("{s:o, s:o, s:i, s:i, s:i, s:i}", "kafka_produce", num(produce_rate), "kafka_consume",
                        num(consume_rate), "messages", o->messages, "consumed", got, "size", o->size, "delivery_errors",
                        dr_errors);
        s = json_dumps(out, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(out);
        itest_finish(&t);
        return 0;
}

int main(int argc, char **argv) {
        static const struct option long_opts[] = {
                { "engine", required_argument, NULL, 'e' },
                { "workers", required_argument, NULL, 'w' },
                { "decisions", required_argument, NULL, 'n' },
                { "scrapers", required_argument, NULL, 'k' },
                { "delay-ms", required_argument, NULL, 'd' },
                { "in-flight", required_argument, NULL, 'f' },
                { "rate", required_argument, NULL, 'r' },
                { "seconds", required_argument, NULL, 's' },
                { "baseline", required_argument, NULL, 'b' },
                { "overlap", no_argument, NULL, 'o' },
                { "clients", required_argument, NULL, 'c' },
                { "batch", required_argument, NULL, 'B' },
                { "messages", required_argument, NULL, 'm' },
                { "size", required_argument, NULL, 'z' },
                { "evaluator-path", no_argument, NULL, 'E' },
                { "preload", required_argument, NULL, 'P' },
                { NULL, 0, NULL, 0 },
        };
        opts_t o = { .engine = "runfleet",
                     .baseline = "bench/baseline/original.py",
                     .workers = 3,
                     .decisions = 1000,
                     .scrapers = 1,
                     .in_flight = 1000,
                     .seconds = 10,
                     .clients = 4,
                     .batch = 100,
                     .messages = 100000,
                     .size = 200 };
        int c;

        if (argc < 2) {
                fprintf(stderr, "usage: %s run|scale-up|pg-limit|kafka-limit [options]\n", argv[0]);
                return 2;
        }
        o.mode = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
                switch (c) {
                case 'e':
                        o.engine = optarg;
                        break;
                case 'w':
                        o.workers = atoi(optarg);
                        break;
                case 'n':
                        o.decisions = atoi(optarg);
                        break;
                case 'k':
                        o.scrapers = atoi(optarg);
                        break;
                case 'd':
                        o.delay_ms = atoi(optarg);
                        break;
                case 'f':
                        o.in_flight = atoi(optarg);
                        break;
                case 'r':
                        o.rate = atoi(optarg);
                        break;
                case 's':
                        o.seconds = atoi(optarg);
                        break;
                case 'b':
                        o.baseline = optarg;
                        break;
                case 'o':
                        o.overlap = 1;
                        break;
                case 'E':
                        o.evaluator_path = 1;
                        break;
                case 'c':
                        o.clients = atoi(optarg);
                        break;
                case 'B':
                        o.batch = atoi(optarg);
                        break;
                case 'm':
                        o.messages = atoi(optarg);
                        break;
                case 'z':
                        o.size = atoi(optarg);
                        break;
                case 'P':
                        o.preload = atoll(optarg);
                        break;
                default:
                        return 2;
                }
        }
        if (o.workers < 1 || o.workers > 64 || o.scrapers < 1 || o.scrapers > 8) {
                fprintf(stderr, "--workers 1..64, --scrapers 1..8\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        if (strcmp(o.mode, "run") == 0)
                return run(&o);
        if (strcmp(o.mode, "scale-up") == 0)
                return scale_up(&o);
        if (strcmp(o.mode, "pg-limit") == 0)
                return pg_limit(&o);
        if (strcmp(o.mode, "kafka-limit") == 0)
                return kafka_limit(&o);
        fprintf(stderr, "unknown mode %s\n", o.mode);
        return 2;
}
