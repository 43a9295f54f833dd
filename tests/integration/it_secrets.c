/* SPDX-License-Identifier: Apache-2.0 */
/* Secrets stay secret, and the HTTP listener exposes nothing else.
 *
 * The database password and the Kafka SASL password are one recognisable
 * canary, and they are real: the test starts a TLS-only PostgreSQL
 * (tests/security/pg-tls) and a SASL_SSL broker (tests/security/kafka-sasl)
 * that need them. Every program then runs -- --print-config, migrate,
 * trigger, status, dlq list, a worker with http.port (one valid decision,
 * one garbage message for the DLQ), a reaper with http.port -- and fails on
 * purpose (a database that is not there, a wrong database password, a wrong
 * Kafka password), with the secrets given both in the file and through the
 * environment (RUNFLEET_DATABASE_URL, RUNFLEET_KAFKA_PROPERTY_SASL_PASSWORD).
 * Afterwards the canary must appear nowhere in what the programs wrote, in
 * their --print-config output, in /metrics, /healthz and /readyz, or in the
 * DLQ message (headers, key, value).
 *
 * The HTTP server: bound to 127.0.0.1 only by default (the socket table says
 * so, and a non-loopback address of this machine is refused), /metrics,
 * /healthz and /readyz answer, any other path is 404 and any method but GET
 * and HEAD is 405. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rf_util.h"

#define CANARY "S3cr3t-canary-XYZ"

static char root[256], pg_dir[560], k_dir[560], infra_log[560], ca[600], pg_ca[600];
static int pg_started, kafka_started, pg_port;
static const char *mech;

static void stop_services(void) {
        if (kafka_started)
                itest_sh("'%s/tests/security/kafka-sasl' stop '%s' >>'%s' 2>&1", root, k_dir, infra_log);
        if (pg_started)
                itest_sh("'%s/tests/security/pg-tls' stop '%s' >>'%s' 2>&1", root, pg_dir, infra_log);
        kafka_started = pg_started = 0;
}

static void write_file(itest_t *t, const char *name, const char *text) {
        char path[700];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", t->dir, name);
        f = fopen(path, "w");
        if (f) {
                fputs(text, f);
                fclose(f);
        }
}

/* Writes the configuration. @p db_url and @p sasl_password may be NULL:
 * then they come from the environment. */
static void config(itest_t *t, const char *db_url, const char *sasl_password, int http_port) {
        FILE *f = itest_config_open_kafka(t);

        fprintf(f,
                "  properties = (\n    (\"security.protocol\", \"SASL_SSL\"),\n    (\"sasl.mechanisms\", \"%s\"),\n"
                "    (\"sasl.username\", \"runfleet\"),\n    (\"ssl.ca.location\", \"%s\")%s%s%s\n  );\n};\n",
                mech, ca, sasl_password ? ",\n    (\"sasl.password\", \"" : "", sasl_password ? sasl_password : "",
                sasl_password ? "\")" : "");
        if (db_url)
                fprintf(f, "database = { url = \"%s\"; };\n", db_url);
        fprintf(f,
                "scrapers = ( { name = \"s\"; url = \"%s/secrets/s\"; } );\n"
                "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                "reaper = { interval_ms = 500; };\n",
                t->fake_url);
        if (http_port)
                fprintf(f, "http = { port = %d; };\n", http_port);
        fclose(f);
}

/* ---- HTTP ---------------------------------------------------------------- */

/* @p method on http://HOST:PORT/PATH (PATH sent as written); status 0 when
 * nothing answered. The caller frees r->body. */
static void request(const char *host, int port, const char *method, const char *path, itest_reply_t *r) {
        char url[300];

        snprintf(url, sizeof(url), "http://%s:%d%s", host, port, path);
        itest_http(method, url, r);
}

static long status_of(int port, const char *method, const char *path) {
        itest_reply_t r;

        request("127.0.0.1", port, method, path, &r);
        free(r.body);
        return r.status;
}

/* The local addresses that listen on TCP @p port: from /proc/net/tcp and
 * tcp6 ("0100007F" is 127.0.0.1). Returns how many; @p ret_loopback_only
 * says whether all are 127.0.0.1. */
static int listeners(int port, bool *ret_loopback_only) {
        const char *files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
        int n = 0;

        *ret_loopback_only = true;
        for (size_t i = 0; i < 2; i++) {
                FILE *f = fopen(files[i], "r");
                char line[512], local[64];
                unsigned lport, state;

                if (!f)
                        continue;
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, " %*d: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", local, &lport, &state) == 3 &&
                            lport == (unsigned)port && state == 0x0A) {
                                n++;
                                if (strcmp(local, "0100007F") != 0)
                                        *ret_loopback_only = false;
                        }
                fclose(f);
        }
        return n;
}

/* The HTTP server of a program with http.port = @p port. */
static void check_http(itest_t *t, int port, const char *name) {
        const char *not_found[] = { "/",
                                    "/config",
                                    "/env",
                                    "/debug",
                                    "/debug/pprof",
                                    "/metrics/",
                                    "/metricsx",
                                    "/healthz/../config",
                                    "/../../etc/passwd",
                                    "/.git/config",
                                    "/print-config" };
        const char *methods[] = { "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE" };
        struct ifaddrs *ifs = NULL;
        char file[64];
        bool loopback_only;
        itest_reply_t r;

        request("127.0.0.1", port, "GET", "/metrics", &r);
        CHECK(r.status == 200);
        CHECK_CONTAINS(r.body, "runfleet_build_info");
        snprintf(file, sizeof(file), "%s-metrics.txt", name);
        write_file(t, file, r.body);
        free(r.body);
        request("127.0.0.1", port, "GET", "/healthz", &r);
        CHECK(r.status == 200);
        snprintf(file, sizeof(file), "%s-healthz.txt", name);
        write_file(t, file, r.body);
        free(r.body);
        request("127.0.0.1", port, "GET", "/readyz", &r);
        CHECK(r.status == 200 || r.status == 503);
        snprintf(file, sizeof(file), "%s-readyz.txt", name);
        write_file(t, file, r.body);
        free(r.body);
        CHECK(status_of(port, "HEAD", "/metrics") == 200);
        for (size_t i = 0; i < sizeof(not_found) / sizeof(not_found[0]); i++) {
                long st = status_of(port, "GET", not_found[i]);
                if (st != 404)
                        fprintf(stderr, "%s: GET %s answered %ld\n", name, not_found[i], st);
                CHECK(st == 404);
        }
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
                long st = status_of(port, methods[i], "/metrics");
                if (st != 405)
                        fprintf(stderr, "%s: %s /metrics answered %ld\n", name, methods[i], st);
                CHECK(st == 405);
        }

        /* loopback only: the one listening socket is 127.0.0.1, and this
         * machine's other addresses refuse the connection */
        CHECK(listeners(port, &loopback_only) == 1);
        CHECK(loopback_only);
        if (getifaddrs(&ifs) == 0) {
                int tried = 0;
                for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
                        char host[INET6_ADDRSTRLEN + 2], addr[INET6_ADDRSTRLEN];
                        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
                                continue;
                        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, addr, sizeof(addr));
                        if (strncmp(addr, "127.", 4) == 0)
                                continue;
                        snprintf(host, sizeof(host), "%s", addr);
                        request(host, port, "GET", "/metrics", &r);
                        printf("# %s: GET http://%s:%d/metrics: %s\n", name, host, port,
                               r.status ? "answered" : "refused");
                        CHECK(r.status == 0);
                        free(r.body);
                        tried++;
                }
                if (!tried)
                        printf("# %s: no non-loopback IPv4 address to try\n", name);
                freeifaddrs(ifs);
        }
}

/* ---- Kafka, with the right credentials ----------------------------------- */

static rd_kafka_t *client(itest_t *t, rd_kafka_type_t type) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        char errstr[512];
        const char *props[][2] = { { "bootstrap.servers", t->brokers }, { "security.protocol", "SASL_SSL" },
                                   { "sasl.mechanisms", mech },         { "sasl.username", "runfleet" },
                                   { "sasl.password", CANARY },         { "ssl.ca.location", ca },
                                   { "group.id", "it-secrets-reader" } };

        for (size_t i = 0; i < sizeof(props) / sizeof(props[0]) - (type == RD_KAFKA_PRODUCER); i++)
                rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr, sizeof(errstr));
        return rd_kafka_new(type, kc, errstr, sizeof(errstr));
}

static int produce_garbage(itest_t *t) {
        rd_kafka_t *rk = client(t, RD_KAFKA_PRODUCER);
        rd_kafka_resp_err_t err;

        err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(t->topic), RD_KAFKA_V_KEY("w", 1), RD_KAFKA_V_VALUE("garbage", 7),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!err && rd_kafka_flush(rk, 15000) != RD_KAFKA_RESP_ERR_NO_ERROR)
                err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        rd_kafka_destroy(rk);
        return err ? -1 : 0;
}

static void write_dead_letter(const rd_kafka_message_t *m, void *arg) {
        FILE *f = arg;
        rd_kafka_headers_t *h = NULL;
        const char *name;
        const void *v;
        size_t len;

        fprintf(f, "key=%.*s value=%.*s\n", (int)m->key_len, (const char *)m->key, (int)m->len,
                (const char *)m->payload);
        if (rd_kafka_message_headers(m, &h) == 0)
                for (size_t k = 0; rd_kafka_header_get_all(h, k, &name, &v, &len) == 0; k++)
                        fprintf(f, "%s=%.*s\n", name, (int)len, v ? (const char *)v : "");
}

/* Every DLQ message's headers, key and value as text, into dlq.txt, read
 * over the same SASL_SSL listener the programs use. Returns how many
 * messages. */
static int dump_dlq(itest_t *t) {
        rd_kafka_t *rk = client(t, RD_KAFKA_CONSUMER);
        char path[700];
        FILE *f;
        int found = -1;

        snprintf(path, sizeof(path), "%s/dlq.txt", t->dir);
        f = fopen(path, "w");
        if (f && rk)
                found = itest_read_topic(t, rk, t->dlq_topic, 1, 10000, write_dead_letter, f);
        if (f)
                fclose(f);
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        return found;
}

/* ---- the grep -------------------------------------------------------------- */

/* Counts the canary in every file the programs' output went to (everything
 * in the test's directory but its configuration files and the services'
 * own logs and state). */
static int grep_canary(itest_t *t, int *ret_files, long *ret_bytes) {
        DIR *d = opendir(t->dir);
        struct dirent *e;
        int hits = 0;

        *ret_files = 0;
        *ret_bytes = 0;
        while (d && (e = readdir(d))) {
                char path[1100], *buf;
                struct stat st;
                FILE *f;
                size_t n = strlen(e->d_name);

                if (n > 4 && strcmp(e->d_name + n - 4, ".cfg") == 0)
                        continue;
                if (strcmp(e->d_name, "services.log") == 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", t->dir, e->d_name);
                if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                        continue;
                f = fopen(path, "r");
                buf = calloc(1, (size_t)st.st_size + 1);
                if (f && buf && fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size) {
                        (*ret_files)++;
                        *ret_bytes += st.st_size;
                        for (const char *p = buf;
                             (p = memmem(p, (size_t)(buf + st.st_size - p), CANARY, strlen(CANARY))); p++) {
                                fprintf(strcmp(e->d_name, "control.txt") ? stderr : stdout,
                                        "%scanary found in %s at byte %ld\n",
                                        strcmp(e->d_name, "control.txt") ? "" : "# as planted: ", path,
                                        (long)(p - buf));
                                hits++;
                        }
                }
                free(buf);
                if (f)
                        fclose(f);
        }
        if (d)
                closedir(d);
        return hits;
}

int main(void) {
        itest_t t;
        char out[16384], url[800], env_url[900], env_pw[128], bad_url[800];
        char *env[3] = { env_url, env_pw, NULL };
        int64_t t0 = rf_mono_ms();
        int ports[5] = { 0 }, files;
        long bytes;
        pid_t worker, reaper;

        itest_init(&t, "secrets");
        itest_source_root(&t, root, sizeof(root));
        if (snprintf(pg_dir, sizeof(pg_dir), "%s/pg", t.dir) >= (int)sizeof(pg_dir) ||
            snprintf(k_dir, sizeof(k_dir), "%s/kafka", t.dir) >= (int)sizeof(k_dir) ||
            snprintf(infra_log, sizeof(infra_log), "%s/services.log", t.dir) >= (int)sizeof(infra_log))
                return 1;
        snprintf(ca, sizeof(ca), "%s/certs/ca.pem", k_dir);
        snprintf(pg_ca, sizeof(pg_ca), "%s/certs/ca.pem", pg_dir);
        for (int i = 0; i < 5; i++)
                ports[i] = itest_free_port(ports, i);
        pg_port = ports[0];
        atexit(stop_services);

        /* both services at once: the broker takes the longest */
        kafka_started = pg_started = 1;
        itest_sh("( '%s/tests/security/kafka-sasl' start '%s' %d %d runfleet " CANARY
                 " >>'%s' 2>&1; echo $? >'%s/kafka.rc' ) &",
                 root, k_dir, ports[1], ports[2], infra_log, t.dir);
        if (itest_sh("'%s/tests/security/pg-tls' start '%s' %d >>'%s' 2>&1", root, pg_dir, pg_port, infra_log) != 0 ||
            itest_sh(
                    "'%s/tests/security/pg-tls' psql '%s' -X -q -c \"CREATE ROLE rf_app LOGIN CREATEROLE PASSWORD '" CANARY
                    "'\" -c 'CREATE DATABASE rfsec OWNER rf_app' >>'%s' 2>&1",
                    root, pg_dir, infra_log) != 0) {
                fprintf(stderr, "FAIL: could not start the TLS PostgreSQL cluster; see %s\n", infra_log);
                return 1;
        }
        for (int i = 0; i < 1800; i++) {
                char rc[700];
                snprintf(rc, sizeof(rc), "%s/kafka.rc", t.dir);
                if (access(rc, R_OK) == 0 && itest_sh("grep -qx 0 '%s'", rc) == 0)
                        break;
                if (access(rc, R_OK) == 0 || i == 1799) {
                        fprintf(stderr, "FAIL: could not start the SASL_SSL broker; see %s\n", infra_log);
                        return 1;
                }
                itest_sleep_ms(100);
        }
        snprintf(t.brokers, sizeof(t.brokers), "127.0.0.1:%d", ports[1]);
        mech = rd_kafka_version() >= 0x020601ff ? "SCRAM-SHA-512" : "PLAIN";
        printf("# TLS PostgreSQL and SASL_SSL (%s) broker ready in %lld ms\n", mech, (long long)(rf_mono_ms() - t0));

        snprintf(url, sizeof(url),
                 "postgresql://rf_app:" CANARY "@localhost:%d/rfsec?sslmode=verify-full&sslrootcert=%s", pg_port,
                 pg_ca);
        snprintf(env_url, sizeof(env_url), "RUNFLEET_DATABASE_URL=%s", url);
        snprintf(env_pw, sizeof(env_pw), "RUNFLEET_KAFKA_PROPERTY_SASL_PASSWORD=" CANARY);
        rf_pg_destroy(t.pg);
        t.pg = NULL;
        {
                char errstr[512];
                if (rf_pg_connect(url, "it_secrets", &t.pg, errstr, sizeof(errstr)) < 0) {
                        fprintf(stderr, "FAIL: %s\n", errstr);
                        return 1;
                }
        }

        /* --print-config: secrets from the file, then from the environment */
        config(&t, url, CANARY, ports[3]);
        CHECK(itest_run(&t, out, sizeof(out), 10000, NULL, "runfleet-worker", "--print-config", NULL) == 0);
        CHECK_CONTAINS(out, "(\"sasl.password\", \"****\")");
        CHECK_CONTAINS(out, "postgresql://rf_app:****@localhost");
        CHECK_CONTAINS(out, "listen = \"127.0.0.1\";"); /* the HTTP server's default address */
        CHECK(itest_run(&t, out, sizeof(out), 10000, NULL, "runfleet-producer", "--print-config", NULL) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 10000, NULL, "runfleet-reaper", "--print-config", NULL) == 0);
        config(&t, NULL, NULL, ports[3]);
        CHECK(itest_run(&t, out, sizeof(out), 10000, env, "runfleet-worker", "--print-config", NULL) == 0);
        CHECK_CONTAINS(out, "(\"sasl.password\", \"****\")");
        CHECK_CONTAINS(out, "rf_app:****@");
        CHECK(itest_run(&t, out, sizeof(out), 10000, env, "runfleet-worker", "--help", NULL) == 0);

        /* the real work, secrets in the environment */
        CHECK(itest_run(&t, out, sizeof(out), 60000, env, "runfleet-producer", "migrate", NULL) == 0);
        CHECK(produce_garbage(&t) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, env, "runfleet-producer", "trigger", "w", NULL) == 0);
        worker = itest_spawn_env(&t, "worker", env, "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        CHECK(dump_dlq(&t) == 1);
        {
                char path[700], *text = NULL;
                FILE *f;
                snprintf(path, sizeof(path), "%s/dlq.txt", t.dir);
                f = fopen(path, "r");
                if (f) {
                        text = calloc(1, 8192);
                        if (text && fread(text, 1, 8191, f) == 0)
                                text[0] = '\0';
                        fclose(f);
                }
                CHECK_CONTAINS(text, "runfleet.dlq.reason=");
                free(text);
        }
        check_http(&t, ports[3], "worker");

        /* the reaper, secrets in the file, with its own HTTP server */
        config(&t, url, CANARY, ports[4]);
        reaper = itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
        for (int i = 0; i < 50 && status_of(ports[4], "GET", "/healthz") != 200; i++)
                itest_sleep_ms(100);
        check_http(&t, ports[4], "reaper");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "status", NULL) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "dlq", "list", NULL) == 0);
        CHECK_CONTAINS(out, "undecodable");

        /* failures, so that errors are logged: no database there, a wrong
         * database password, a wrong Kafka password (each extends the canary,
         * so a leak of the attempted secret is a leak of the canary) */
        snprintf(bad_url, sizeof(bad_url),
                 "postgresql://rf_app:" CANARY "@127.0.0.1:%d/rfsec?sslmode=require&connect_timeout=3",
                 itest_free_port(ports, 5));
        config(&t, bad_url, CANARY, 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-worker", NULL) == 1);
        CHECK_CONTAINS(out, "database: connection to server");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "migrate", NULL) == 1);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-reaper", NULL) == 1);
        snprintf(bad_url, sizeof(bad_url),
                 "postgresql://rf_app:" CANARY "-wrong@localhost:%d/rfsec?sslmode=verify-full&sslrootcert=%s", pg_port,
                 pg_ca);
        config(&t, bad_url, CANARY, 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "w", NULL) == 1);
        CHECK_CONTAINS(out, "password authentication failed");
        /* libpq quotes what it cannot parse: a '%' in the password, a password without its keyword */
        snprintf(bad_url, sizeof(bad_url), "postgresql://rf_app:" CANARY "%%zz@localhost:%d/rfsec", pg_port);
        config(&t, bad_url, CANARY, 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "migrate", NULL) == 1);
        CHECK_CONTAINS(out, "database.url cannot be parsed");
        CHECK(itest_run(&t, out, sizeof(out), 10000, NULL, "runfleet-producer", "--print-config", NULL) == 0);
        snprintf(bad_url, sizeof(bad_url), "host=localhost port=%d dbname=rfsec user=rf_app " CANARY, pg_port);
        config(&t, bad_url, CANARY, 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-worker", NULL) == 1);
        CHECK_CONTAINS(out, "database.url cannot be parsed");
        CHECK(itest_run(&t, out, sizeof(out), 10000, NULL, "runfleet-worker", "--print-config", NULL) == 0);
        config(&t, url, CANARY "-wrong", 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-worker", NULL) == 1);
        CHECK_CONTAINS(out, "authentication refused");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "w", NULL) == 1);

        CHECK(kill(worker, SIGTERM) == 0 && itest_wait(worker, 15000) == 0);
        CHECK(kill(reaper, SIGTERM) == 0 && itest_wait(reaper, 15000) == 0);
        for (int i = 0; i < t.proc_count; i++)
                t.procs[i] = 0;

        /* the grep: first that it finds a planted canary, then that there is none */
        write_file(&t, "control.txt", "planted: " CANARY "\n");
        CHECK(grep_canary(&t, &files, &bytes) == 1);
        {
                char control[700];
                snprintf(control, sizeof(control), "%s/control.txt", t.dir);
                unlink(control);
        }
        CHECK(grep_canary(&t, &files, &bytes) == 0);
        printf("# canary searched in %d files (%ld bytes) of output: %s\n", files, bytes,
               rf_test_failures ? "see above" : "not found");
        CHECK(files >= 20);

        rf_pg_destroy(t.pg);
        t.pg = NULL;
        stop_services();
        printf("# secrets took %lld ms\n", (long long)(rf_mono_ms() - t0));
        return itest_finish(&t);
}
