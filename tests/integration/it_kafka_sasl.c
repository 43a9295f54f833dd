/* SPDX-License-Identifier: Apache-2.0 */
/* Kafka locked down: a second, throwaway broker (tests/security/kafka-sasl)
 * whose only client listener is SASL_SSL, with certificates made by the
 * test. With the right credentials migrate, trigger and a worker work; with
 * a wrong password, or a CA that did not sign the broker's certificate,
 * each program stops at once with a one-line error that says so (exit 1),
 * the worker consumes nothing, and nothing is lost: once the credentials are
 * right again, the decision produced before runs exactly once, and the one
 * recorded while the broker refused the producer is re-produced by the
 * reaper and runs exactly once too. PostgreSQL is the default cluster.
 *
 * All of it goes through SCRAM-SHA-512 over SASL_SSL against the Kafka 4.x
 * of kafka/pom.xml: the case librdkafka before 2.6.1 (Debian 12 ships
 * 2.0.2) could not complete whatever the password, and the reason
 * meson.build asks for a current librdkafka. PLAIN over the same TLS
 * listener is checked once as well. */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rf_util.h"

#define USER "runfleet"
#define PASSWORD "Kafka-pw-3c9e1b"
#define WRONG_PASSWORD "Wrong-pw-77d0a4"

static char root[256], kdir[560], klog[560], ca[600], other_ca[600];
static int kafka_started;
static const char *const mech = "SCRAM-SHA-512";

static void stop_kafka(void) {
        if (kafka_started && itest_sh("'%s/tests/security/kafka-sasl' stop '%s' >>'%s' 2>&1", root, kdir, klog) != 0)
                fprintf(stderr, "could not stop the SASL_SSL broker; see %s\n", klog);
        kafka_started = 0;
}

/* The broker's version ("3.9.1"), from the kafka-version file kafka-sasl
 * writes, into @p buf; returns its major number (0 when unknown). */
static int broker_version(char *buf, size_t size) {
        char path[600];
        FILE *f;

        snprintf(path, sizeof(path), "%s/kafka-version", kdir);
        buf[0] = '\0';
        f = fopen(path, "r");
        if (f) {
                if (!fgets(buf, (int)size, f))
                        buf[0] = '\0';
                fclose(f);
        }
        buf[strcspn(buf, "\n")] = '\0';
        return atoi(buf);
}

/* Writes the test's configuration: the SASL_SSL broker with these
 * credentials and CA, the default PostgreSQL. */
static void config(itest_t *t, const char *mechanism, const char *password, const char *cafile) {
        FILE *f = itest_config_open_kafka(t);

        fprintf(f,
                "  properties = (\n    (\"security.protocol\", \"SASL_SSL\"),\n    (\"sasl.mechanisms\", \"%s\"),\n"
                "    (\"sasl.username\", \"" USER "\"),\n    (\"sasl.password\", \"%s\"),\n"
                "    (\"ssl.ca.location\", \"%s\")\n  );\n};\n"
                "database = { url = \"%s\"; };\n"
                "scrapers = ( { name = \"s\"; url = \"%s/kafka_sasl/s\"; } );\n"
                "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                "reaper = { interval_ms = 500; grace_ms = 6000; backoff_ms = 1000; };\n",
                mechanism, password, cafile, t->db_url, t->fake_url);
        fclose(f);
}

/* A client of the SASL_SSL broker with the right credentials. */
static rd_kafka_t *client(itest_t *t, const char *group) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        char errstr[512];
        const char *props[][2] = { { "bootstrap.servers", t->brokers },
                                   { "security.protocol", "SASL_SSL" },
                                   { "sasl.mechanisms", mech },
                                   { "sasl.username", USER },
                                   { "sasl.password", PASSWORD },
                                   { "ssl.ca.location", ca },
                                   { "group.id", group } };

        for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
                if (rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
                        fprintf(stderr, "%s: %s\n", props[i][0], errstr);
        return rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
}

/* Committed offsets of the workers' group and log-end offsets, summed. */
static void offsets(itest_t *t, long long *ret_committed, long long *ret_end) {
        rd_kafka_t *rk = client(t, t->group);
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);

        *ret_committed = *ret_end = -1;
        for (int p = 0; p < 3; p++) {
                int64_t lo, hi;
                rd_kafka_topic_partition_list_add(parts, t->topic, p);
                if (rd_kafka_query_watermark_offsets(rk, t->topic, p, &lo, &hi, 10000) == 0)
                        *ret_end = (*ret_end < 0 ? 0 : *ret_end) + hi;
        }
        if (itest_committed(rk, parts, 20000) == 0) {
                *ret_committed = 0;
                for (int i = 0; i < parts->cnt; i++)
                        *ret_committed += parts->elems[i].offset > 0 ? parts->elems[i].offset : 0;
        }
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_destroy(rk);
}

/* The program's one-line error ("PROGRAM: kafka: ...", among its log
 * lines) names what was refused, and no password is anywhere in what it
 * wrote. */
static void check_refusal(const char *out, const char *program, const char *what) {
        char want[64], line[2048] = "";
        const char *p;

        snprintf(want, sizeof(want), "%s: kafka: ", program);
        for (p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, want, strlen(want)) == 0) {
                        snprintf(line, sizeof(line), "%.*s", (int)strcspn(p, "\n"), p);
                        break;
                }
        printf("# refused: %s\n", line);
        CHECK(line[0]);
        CHECK_CONTAINS(line, what);
        CHECK(!strstr(out, PASSWORD) && !strstr(out, WRONG_PASSWORD));
}

static void forget(itest_t *t, pid_t pid) {
        for (int i = 0; i < t->proc_count; i++)
                if (t->procs[i] == pid)
                        t->procs[i] = 0;
}

static void stop(itest_t *t, pid_t pid) {
        CHECK(kill(pid, SIGTERM) == 0);
        CHECK(itest_wait(pid, 15000) == 0);
        forget(t, pid);
}

int main(void) {
        itest_t t;
        char out[16384], version[32];
        int64_t t0 = rf_mono_ms(), t1;
        long long committed, end;
        int port, cport, major;
        pid_t worker, reaper;
        itest_init(&t, "kafka_sasl");
        itest_source_root(&t, root, sizeof(root));
        if (snprintf(kdir, sizeof(kdir), "%s/kafka", t.dir) >= (int)sizeof(kdir) ||
            snprintf(klog, sizeof(klog), "%s/kafka-sasl.log", t.dir) >= (int)sizeof(klog))
                return 1;
        snprintf(ca, sizeof(ca), "%s/certs/ca.pem", kdir);
        snprintf(other_ca, sizeof(other_ca), "%s/certs/other-ca.pem", kdir);
        port = itest_free_port(NULL, 0);
        cport = itest_free_port(&port, 1);
        atexit(stop_kafka);
        kafka_started = 1;
        if (!root[0] || !port || !cport ||
            itest_sh("'%s/tests/security/kafka-sasl' start '%s' %d %d " USER " " PASSWORD " >>'%s' 2>&1", root, kdir,
                     port, cport, klog) != 0) {
                fprintf(stderr, "FAIL: could not start the SASL_SSL broker (ports %d, %d); see %s\n", port, cport,
                        klog);
                return 1;
        }
        snprintf(t.brokers, sizeof(t.brokers), "127.0.0.1:%d", port);
        major = broker_version(version, sizeof(version));
        CHECK(major >= 4); /* the broker that refused the SCRAM of older librdkafka */
        printf("# SASL_SSL broker (Kafka %s) on %s, started in %lld ms; librdkafka %s: %s\n", version, t.brokers,
               (long long)(rf_mono_ms() - t0), rd_kafka_version_str(), mech);

        /* the right credentials */
        config(&t, mech, PASSWORD, ca);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "migrate", NULL) == 0);
        config(&t, "PLAIN", PASSWORD, ca);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "migrate", NULL) == 0);
        config(&t, mech, PASSWORD, ca);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "w", NULL) == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE delivered_at IS NOT NULL") == 1);

        /* a wrong password: refused at once, nothing consumed */
        config(&t, mech, WRONG_PASSWORD, ca);
        t1 = rf_mono_ms();
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-worker", NULL) == 1);
        printf("# worker with a wrong password stopped after %lld ms\n", (long long)(rf_mono_ms() - t1));
        CHECK(rf_mono_ms() - t1 < 10000);
        check_refusal(out, "runfleet-worker", "authentication refused");
        CHECK_CONTAINS(out, "\"event\":\"kafka.error\""); /* logged as it happened too */
        /* the broker's words: SCRAM, and the wrong password */
        CHECK_CONTAINS(out, "invalid credentials with SASL mechanism SCRAM-SHA-512");
        t1 = rf_mono_ms();
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "migrate", NULL) == 1);
        CHECK(rf_mono_ms() - t1 < 10000);
        check_refusal(out, "runfleet-producer", "authentication refused");
        /* the decision is recorded, not delivered: the reaper's to re-produce */
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "w", NULL) == 1);
        printf("# trigger with a wrong password: %s", out);
        CHECK(!strstr(out, WRONG_PASSWORD));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE delivered_at IS NULL") == 1);

        /* a CA that did not sign the broker's certificate */
        config(&t, mech, PASSWORD, other_ca);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "migrate", NULL) == 1);
        check_refusal(out, "runfleet-producer", "certificate verify failed");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-worker", NULL) == 1);
        check_refusal(out, "runfleet-worker", "TLS handshake refused");

        /* nothing was consumed or claimed */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == 0);
        offsets(&t, &committed, &end);
        CHECK(committed == 0);
        CHECK(end == 1);

        /* the right credentials again: the message produced first runs, once */
        config(&t, mech, PASSWORD, ca);
        worker = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE attempt = 1 AND status = 'SUCCEEDED'"
                                 " AND decision_id IN (SELECT decision_id FROM runfleet.decisions"
                                 " WHERE delivered_at IS NOT NULL)") == 1);
        /* and the one the producer could not deliver is the reaper's: produced again, run once */
        reaper = itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
        CHECK(itest_wait_for(&t, 2, 30000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == 2);
        CHECK(itest_query_ll(
                      &t, "SELECT count(*) FROM runfleet.executions WHERE attempt = 2 AND status = 'SUCCEEDED'") == 1);
        for (int i = 0; i < 40; i++) {
                offsets(&t, &committed, &end);
                if (committed == end)
                        break;
                itest_sleep_ms(250);
        }
        CHECK(end == 2); /* the first decision, and the second as the reaper produced it */
        CHECK(committed == end);
        stop(&t, worker);
        stop(&t, reaper);
        stop_kafka();
        printf("# %s took %lld ms\n", t.name, (long long)(rf_mono_ms() - t0));
        return itest_finish(&t);
}
