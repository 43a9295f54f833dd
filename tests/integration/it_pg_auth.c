/* SPDX-License-Identifier: Apache-2.0 */
/* PostgreSQL locked down: a second, throwaway cluster (tests/security/pg-tls)
 * that accepts only TLS with scram-sha-256 passwords. The programs connect
 * with sslmode=verify-full and work; each runs as a login user holding only
 * its group role from migration 005 (the worker executes a decision with
 * nothing but EXECUTE on its three functions, and cannot read, change or
 * delete a table); a wrong password, an untrusted CA and a plain-text
 * connection are refused with a clear one-line error and exit 1, and
 * nothing ran twice. Kafka is the default broker. */
#include <jansson.h>
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

#define OWNER_PW "Owner-pw-7f3a"
#define WORKER_PW "Worker-pw-91c2"
#define REAPER_PW "Reaper-pw-5be0"
#define PRODUCER_PW "Producer-pw-c4d8"
#define WRONG_PW "Wrong-pw-e61d"

static char root[256], pg_dir[560], pg_log[560];
static int pg_started;

/* Superuser SQL on the TLS cluster, over its unix socket. */
static int admin_sql(const char *db, const char *sql) {
        return itest_sh("'%s/tests/security/pg-tls' psql '%s' -X -q -v ON_ERROR_STOP=1 -d %s -c \"%s\" >>'%s' 2>&1",
                        root, pg_dir, db, sql, pg_log);
}

/* The first output line of superuser SQL on the TLS cluster. */
static void admin_query(const char *db, const char *sql, char *out, size_t size) {
        char cmd[4000];
        FILE *p;

        if (snprintf(cmd, sizeof(cmd), "'%s/tests/security/pg-tls' psql '%s' -X -q -tA -d %s -c \"%s\" 2>>'%s'", root,
                     pg_dir, db, sql, pg_log) >= (int)sizeof(cmd))
                return;
        out[0] = '\0';
        p = popen(cmd, "r");
        if (p) {
                if (!fgets(out, (int)size, p))
                        out[0] = '\0';
                pclose(p);
        }
        out[strcspn(out, "\n")] = '\0';
}

static void stop_pg(void) {
        if (pg_started && itest_sh("'%s/tests/security/pg-tls' stop '%s' >>'%s' 2>&1", root, pg_dir, pg_log) != 0)
                fprintf(stderr, "could not stop the TLS PostgreSQL cluster; see %s\n", pg_log);
        pg_started = 0;
}

static int port;

static void url(char *out, size_t size, const char *user, const char *pw, const char *ca, const char *sslmode) {
        if (snprintf(out, size, "postgresql://%s:%s@localhost:%d/rfauth?sslmode=%s&sslrootcert=%s/certs/%s", user, pw,
                     port, sslmode, pg_dir, ca) >= (int)size)
                fprintf(stderr, "database URL truncated: %s\n", out);
}

/* Writes a configuration whose database URL logs in as @p user. */
static void config_as(itest_t *t, const char *user, const char *pw, const char *ca, const char *sslmode) {
        url(t->db_url, sizeof(t->db_url), user, pw, ca, sslmode);
        itest_config(t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/pg_auth/s\"; } );\n"
                        "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                        "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                        "reaper = { interval_ms = 300; };\n");
}

/* Exactly one line of output that says @p what, and no password in it. */
static void check_refusal(const char *out, const char *what) {
        size_t len = strlen(out);

        printf("# refused: %s", out);
        CHECK_CONTAINS(out, what);
        CHECK(len > 0 && out[len - 1] == '\n' && strchr(out, '\n') == out + len - 1);
        CHECK(!strstr(out, WRONG_PW) && !strstr(out, WORKER_PW) && !strstr(out, OWNER_PW));
}

/* A process this test stopped itself: itest_cleanup() must not wait for it. */
static void forget(itest_t *t, pid_t pid) {
        for (int i = 0; i < t->proc_count; i++)
                if (t->procs[i] == pid)
                        t->procs[i] = 0;
}

/* Runs @p sql as @p user; returns its SQLSTATE ("" on success). */
static const char *try_sql(const char *user, const char *pw, const char *sql, char *state, size_t size) {
        char u[800], errstr[512];
        rf_pg_t *pg = NULL;

        url(u, sizeof(u), user, pw, "ca.pem", "verify-full");
        state[0] = '\0';
        if (rf_pg_connect(u, "it_pg_auth", &pg, errstr, sizeof(errstr)) < 0) {
                snprintf(state, size, "connect: %s", errstr);
                return state;
        }
        if (rf_pg_exec(pg, sql, 0, NULL, NULL, errstr, sizeof(errstr)) < 0) {
                const char *s = strstr(errstr, "SQLSTATE ");
                snprintf(state, size, "%.5s", s ? s + 9 : "?????");
                printf("# %s as %s: %s\n", sql, user, errstr);
        }
        rf_pg_destroy(pg);
        return state;
}

int main(void) {
        itest_t t;
        char out[8192], errstr[512], state[600], owner_url[800];
        int64_t t0 = rf_mono_ms(), t1;
        pid_t worker;

        itest_init(&t, "pg_auth");
        itest_source_root(&t, root, sizeof(root));
        if (snprintf(pg_dir, sizeof(pg_dir), "%s/pg", t.dir) >= (int)sizeof(pg_dir) ||
            snprintf(pg_log, sizeof(pg_log), "%s/pg-tls.log", t.dir) >= (int)sizeof(pg_log))
                return 1;
        port = itest_free_port(NULL, 0);
        atexit(stop_pg);
        pg_started = 1;
        if (!root[0] || !port ||
            itest_sh("'%s/tests/security/pg-tls' start '%s' %d >>'%s' 2>&1", root, pg_dir, port, pg_log)) {
                fprintf(stderr, "FAIL: could not start the TLS PostgreSQL cluster (port %d); see %s\n", port, pg_log);
                return 1;
        }
        printf("# TLS PostgreSQL on 127.0.0.1:%d, started in %lld ms\n", port, (long long)(rf_mono_ms() - t0));

        /* The owner runs migrate; CREATEROLE lets migration 005 create the group roles. */
        CHECK(admin_sql("postgres", "CREATE ROLE rf_owner LOGIN CREATEROLE PASSWORD '" OWNER_PW "'") == 0);
        CHECK(admin_sql("postgres", "CREATE DATABASE rfauth OWNER rf_owner") == 0);
        /* stored as a SCRAM verifier, not md5 */
        admin_query("postgres", "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'rf_owner'", state,
                    sizeof(state));
        CHECK_STR_EQ(state, "SCRAM-SHA-256$");

        config_as(&t, "rf_owner", OWNER_PW, "ca.pem", "verify-full");
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "migrate", NULL) == 0);
        printf("# migrate as rf_owner over verify-full: %s", out);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "migrate", NULL) == 0);

        /* The recipe of docs/deployment.md, "Database roles": one login user per program, in its group role. */
        CHECK(admin_sql("rfauth",
                        "CREATE ROLE rf_worker LOGIN PASSWORD '" WORKER_PW "' IN ROLE runfleet_worker_role") == 0);
        CHECK(admin_sql("rfauth",
                        "CREATE ROLE rf_reaper LOGIN PASSWORD '" REAPER_PW "' IN ROLE runfleet_reaper_role") == 0);
        CHECK(admin_sql("rfauth", "CREATE ROLE rf_producer LOGIN PASSWORD '" PRODUCER_PW
                                  "' IN ROLE runfleet_producer_role") == 0);

        rf_pg_destroy(t.pg);
        t.pg = NULL;
        url(owner_url, sizeof(owner_url), "rf_owner", OWNER_PW, "ca.pem", "verify-full");
        if (rf_pg_connect(owner_url, "it_pg_auth", &t.pg, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "FAIL: %s\n", errstr);
                return 1;
        }
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl") == 1);

        /* producer and worker, each as its own least-privileged user */
        config_as(&t, "rf_producer", PRODUCER_PW, "ca.pem", "verify-full");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "w", NULL) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "status", NULL) == 0);
        config_as(&t, "rf_worker", WORKER_PW, "ca.pem", "verify-full");
        worker = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        if (!itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'")) {
                /* a right missing from the worker's role shows in its log */
                char *log = itest_read_log(&t, worker), *hit = strstr(log, "42501");
                CHECK(!"the worker, with nothing but runfleet_worker_role, ran the decision");
                if (hit) {
                        char *start = hit;
                        while (start > log && start[-1] != '\n')
                                start--;
                        fprintf(stderr, "worker: %.*s\n", (int)strcspn(start, "\n"), start);
                }
                free(log);
        }
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == 1);
        /* the worker's own sessions (claims and records): its user, over TLS (the superuser sees every session's TLS state) */
        admin_query("postgres",
                    "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid"
                    " WHERE a.application_name = 'runfleet-worker' AND a.usename = 'rf_worker' AND s.ssl",
                    state, sizeof(state));
        CHECK_STR_EQ(state, "2");
        /* a few sweeps as the reaper's user: any missing right is a sweep_failed error */
        config_as(&t, "rf_reaper", REAPER_PW, "ca.pem", "verify-full");
        {
                pid_t reaper = itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
                char *log;
                itest_sleep_ms(2000);
                CHECK(kill(reaper, SIGTERM) == 0);
                CHECK(itest_wait(reaper, 15000) == 0);
                log = itest_read_log(&t, reaper);
                forget(&t, reaper);
                CHECK_CONTAINS(log, "reaper.started");
                /* an event name ends in _failed ("reaper.sweep_failed"); a field
                 * name such as max_failed_executions does not count */
                CHECK(!strstr(log, "_failed\"") && !strstr(log, "42501"));
                free(log);
        }

        /* pause and unpause as the producer's user (cancelling through
         * runfleet.cancel_pending, as its role may not set a state), and
         * what the reaper's automatic pause and the release of a waiting
         * decision need */
        config_as(&t, "rf_producer", PRODUCER_PW, "ca.pem", "verify-full");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "pause", "w", "--reason", "roles",
                        "--cancel-pending", NULL) == 0);
        CHECK_CONTAINS(out, "w: 0 pending decisions cancelled");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "unpause", "w", NULL) == 0);
        CHECK_CONTAINS(out, "w: unpaused");
        CHECK_STR_EQ(try_sql("rf_reaper", REAPER_PW,
                             "INSERT INTO runfleet.pauses (workflow, paused_by, reason, automatic)"
                             " VALUES ('w', 'runfleet-reaper', 'roles', true)",
                             state, sizeof(state)),
                     "");
        CHECK_STR_EQ(try_sql("rf_reaper", REAPER_PW,
                             "UPDATE runfleet.decisions SET waiting_for = NULL"
                             " WHERE waiting_for IS NOT NULL",
                             state, sizeof(state)),
                     "");
        CHECK_STR_EQ(try_sql("rf_producer", PRODUCER_PW,
                             "UPDATE runfleet.decisions SET waiting_for = NULL"
                             " WHERE waiting_for IS NOT NULL",
                             state, sizeof(state)),
                     "");

        /* What the roles may not do: 42501 is insufficient_privilege. */
        CHECK_STR_EQ(try_sql("rf_worker", WORKER_PW, "DELETE FROM runfleet.decisions", state, sizeof(state)), "42501");
        CHECK_STR_EQ(try_sql("rf_worker", WORKER_PW, "SELECT count(*) FROM runfleet.decisions", state, sizeof(state)),
                     "42501");
        CHECK_STR_EQ(try_sql("rf_worker", WORKER_PW, "UPDATE runfleet.executions SET status = 'SUCCEEDED'", state,
                             sizeof(state)),
                     "42501");
        CHECK_STR_EQ(try_sql("rf_worker", WORKER_PW, "CREATE TABLE runfleet.x (i int)", state, sizeof(state)), "42501");
        CHECK_STR_EQ(try_sql("rf_producer", PRODUCER_PW, "DELETE FROM runfleet.decisions", state, sizeof(state)),
                     "42501");
        CHECK_STR_EQ(try_sql("rf_producer", PRODUCER_PW, "UPDATE runfleet.decisions SET state = 'CANCELLED'", state,
                             sizeof(state)),
                     "42501");
        CHECK_STR_EQ(try_sql("rf_reaper", REAPER_PW, "DELETE FROM runfleet.pauses", state, sizeof(state)), "42501");
        CHECK_STR_EQ(try_sql("rf_producer", PRODUCER_PW, "UPDATE runfleet.decisions SET state = 'DEAD'", state,
                             sizeof(state)),
                     "42501");
        CHECK_STR_EQ(try_sql("rf_reaper", REAPER_PW, "DELETE FROM runfleet.executions", state, sizeof(state)), "42501");
        CHECK_STR_EQ(try_sql("rf_reaper", REAPER_PW, "TRUNCATE runfleet.scraper_calls", state, sizeof(state)), "42501");
        /* the owner's functions are not open to every login */
        CHECK(admin_sql("rfauth", "CREATE ROLE rf_nobody LOGIN PASSWORD '" WORKER_PW "'") == 0);
        CHECK_STR_EQ(
                try_sql("rf_nobody", WORKER_PW, "SELECT runfleet.renew_leases('{}', 'x', 1)", state, sizeof(state)),
                "42501");
        CHECK_STR_EQ(
                try_sql("rf_nobody", WORKER_PW, "SELECT runfleet.cancel_pending('w', 'x', 'y')", state, sizeof(state)),
                "42501");

        /* Refusals: one line, exit 1, no password in it. */
        config_as(&t, "rf_worker", WRONG_PW, "ca.pem", "verify-full");
        t1 = rf_mono_ms();
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-worker", NULL) == 1);
        CHECK(rf_mono_ms() - t1 < 10000);
        check_refusal(out, "password authentication failed for user \"rf_worker\"");
        config_as(&t, "rf_owner", WRONG_PW, "ca.pem", "verify-full");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "migrate", NULL) == 1);
        check_refusal(out, "password authentication failed");
        config_as(&t, "rf_worker", WORKER_PW, "other-ca.pem", "verify-full");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-worker", NULL) == 1);
        check_refusal(out, "certificate verify failed");
        config_as(&t, "rf_reaper", REAPER_PW, "other-ca.pem", "verify-full");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-reaper", NULL) == 1);
        check_refusal(out, "certificate verify failed");
        config_as(&t, "rf_worker", WORKER_PW, "ca.pem", "disable");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-worker", NULL) == 1);
        check_refusal(out, "no encryption");

        /* nothing ran twice, nothing else was claimed */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == 1);

        /* the worker drains and exits 0 before its database goes away */
        CHECK(kill(worker, SIGTERM) == 0);
        CHECK(itest_wait(worker, 15000) == 0);
        forget(&t, worker);
        rf_pg_destroy(t.pg);
        t.pg = NULL;
        stop_pg();
        printf("# pg_auth took %lld ms\n", (long long)(rf_mono_ms() - t0));
        return itest_finish(&t);
}
