/* SPDX-License-Identifier: Apache-2.0 */
/* itest: the harness for integration tests against the real Kafka broker,
 * PostgreSQL and fake scraper started by scripts/services. Each test gets
 * its own database, topics and consumer group, so tests never see each
 * other's data. A missing service skips (exit 77), or fails when
 * RUNFLEET_REQUIRE_SERVICES=1 (scripts/test sets it). */
#pragma once

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "../unit/rf_test.h"
#include "rf_pg.h"

#define ITEST_MAX_PROCS 128

typedef struct itest {
        char name[64];
        char dir[512]; /* logs and configs of this run */
        char brokers[256];
        char admin_url[512]; /* the services' database */
        char db_name[96];
        char db_url[640];       /* this test's own database */
        char fake_url[256];     /* fake scraper base URL */
        char registry_url[256]; /* RUNFLEET_SCHEMA_REGISTRY_URL of the services, "" when unset */
        char bin_dir[256];
        char topic[128], dlq_topic[128], group[128];
        char config[600]; /* path of the config written last */
        int partitions;   /* of the test's topic, 3 unless the test sets it before itest_config */
        rf_pg_t *pg;
        pid_t procs[ITEST_MAX_PROCS];
        char proc_logs[ITEST_MAX_PROCS][600];
        int proc_count;
        int own_registry_port; /* itest_start_registry()'s, 0: none */
} itest_t;

/* Sets up the test or exits 77 (skip) / 1. */
void itest_init(itest_t *t, const char *name);

/* Writes the configuration file: kafka and database sections pointing at
 * this test's topics and database, followed by @p fmt (scrapers, workflows,
 * worker and reaper groups). "@FAKE@" in the text is replaced by the fake
 * scraper's base URL. Returns the path. */
const char *itest_config(itest_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For a test that writes its own configuration (a kafka group with
 * security properties): opens the next configuration file of the test,
 * sets t->config to it, and writes "kafka = {" and the settings of
 * itest_config's kafka group; the caller adds its properties, closes the
 * group and writes the rest. Exits the test when the file cannot be made. */
FILE *itest_config_open_kafka(itest_t *t);

/* Fills @p names with @p count workflow names whose Kafka keys land on
 * different partitions of a @p partitions-partition topic (count <= partitions). */
void itest_workflow_names(int partitions, int count, char names[][32]);

/* For tests of the Schema Registry framing: fails the test (skips it
 * without RUNFLEET_REQUIRE_SERVICES=1) unless t->registry_url is set and
 * answers. itest_init() keeps the variable from the programs it starts:
 * a test that wants the registry names it in its configuration. */
void itest_require_registry(itest_t *t);

/* Starts a Schema Registry of this test's own (scripts/schema-registry,
 * its state under the test's directory) on @p port, for a test that
 * stops and restarts it; 0 when it answers. itest_stop_registry() stops it
 * (also called by itest_cleanup()). */
int itest_start_registry(itest_t *t, int port);
int itest_stop_registry(itest_t *t);

/* Runs `runfleet-producer migrate` and fails the test if it does not succeed. */
void itest_migrate(itest_t *t);

/* Starts a program from the build (e.g. "runfleet-worker") in the background
 * with RUNFLEET_CONFIG set, output to <dir>/<log>.log. Returns its pid. */
pid_t itest_spawn(itest_t *t, const char *log, const char *program, ...);

/* Same, with extra "NAME=value" environment entries (NULL-terminated array). */
pid_t itest_spawn_env(itest_t *t, const char *log, char *const *env, const char *program, ...);

/* Runs a program to completion (at most @p timeout_ms), its stdout and
 * stderr into @p out. Returns its exit status, 128+signal, or -1 on timeout. */
int itest_run(itest_t *t, char *out, size_t out_size, int timeout_ms, char *const *env, const char *program, ...);

/* Waits for @p pid to exit within @p timeout_ms; returns its status as above. */
int itest_wait(pid_t pid, int timeout_ms);

/* The log file of a spawned process, read whole (free()). */
char *itest_read_log(itest_t *t, pid_t pid);

/* Polls the log of @p pid every 100 ms for at most @p timeout_ms until it
 * holds @p needle. */
bool itest_wait_log(itest_t *t, pid_t pid, const char *needle, int timeout_ms);

/* utime + stime of the live process @p pid so far, in seconds (from
 * /proc/<pid>/stat); NAN when it cannot be read. */
double itest_cpu_seconds(pid_t pid);

/* Runs @p sql (one statement, no parameters) on the test database.
 * Returns 0, or -1 with the statement and the database's reason printed
 * (the caller CHECKs: CHECK counts per test file). */
int itest_exec(itest_t *t, const char *sql);

/* A query on the test database whose first column of the first row is a
 * number (or -1 when there is no row / an error, logged). */
long long itest_query_ll(itest_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs `runfleet-producer trigger @p workflow` and copies the decision id
 * it prints last into @p id. Returns its exit status as itest_run() does:
 * the caller CHECKs it is 0 (CHECK counts in the test's own file). */
int itest_trigger(itest_t *t, const char *workflow, char id[37]);

/* The first column of the first row of @p sql as text, in a static buffer
 * (valid until the next call): "" when there is no row or on an error
 * (logged). */
const char *itest_query_str(itest_t *t, const char *sql);

/* Polls a numeric query until it returns @p expect or @p timeout_ms passes.
 * Returns true when it did. */
bool itest_wait_for(itest_t *t, long long expect, int timeout_ms, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Prints every row of @p sql as "# column=value ..." lines (diagnostics
 * for a failed test). */
void itest_print_rows(itest_t *t, const char *sql);

/* GET <fake>/stats as JSON (json_decref()): every path the fake scraper
 * has seen since it started. */
json_t *itest_fake_stats(itest_t *t);

/* The same for the paths starting with @p prefix (e.g. "/fleet/") only:
 * cheaper, and blind to other tests' traffic. */
json_t *itest_fake_stats_prefix(itest_t *t, const char *prefix);

/* The offsets a consumer group committed, summed over the topic's partitions,
 * and the sum of the partitions' log-end offsets. */
void itest_group_offsets(itest_t *t, const char *topic, const char *group, long long *ret_committed,
                         long long *ret_end);

/* rd_kafka_committed(), asked again while the group's coordinator is
 * still moving or loading (librdkafka 2.x reports that at once, e.g. on
 * a broker that has just created its offsets topic), at most @p timeout_ms. */
rd_kafka_resp_err_t itest_committed(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int timeout_ms);

/* Waits until @p group has committed every message @p topic holds now.
 * Returns false if it has not within @p timeout_ms. */
bool itest_wait_committed(itest_t *t, const char *topic, const char *group, int timeout_ms);

/* Counts the violations of the invariant in t's database, printing a "#"
 * line for each kind found: every RUN decision SUCCEEDED, DEAD or
 * CANCELLED (a CANCELLED one never started or succeeded an execution); a
 * SUCCEEDED decision has exactly one SUCCEEDED execution, a DEAD one none
 * and at least one attempt; no decision has two SUCCEEDED executions; no
 * execution is still RUNNING; the orphans view is empty. 0 when it holds. */
long long itest_invariant_violations(itest_t *t);

/* How the broker runs @p group: "consumer" (KIP-848), "classic", or
 * "unknown" (no such group, or no answer within 15 s). */
const char *itest_group_type(itest_t *t, const char *group);

/* Waits until each of the @p n workers has logged an assignment
 * ("now_assigned") and together they hold all @p partitions, unchanged for
 * a second: the group has settled. False when it has not within @p timeout_ms. */
bool itest_wait_assigned(itest_t *t, const pid_t *pids, int n, int partitions, int timeout_ms);

/* Called by itest_read_topic for each message it reads (never for an
 * error event); @p m stays owned by the reader. */
typedef void (*itest_message_fn)(const rd_kafka_message_t *m, void *arg);

/* Reads @p topic from its beginning up to the end each partition has once
 * the topic holds at least @p min_messages (waited for), calling @p each
 * for every message. @p rk: the consumer to read with, which the caller
 * still owns (NULL: a plain one on t->brokers). Returns how many messages
 * were read, or -1 when that end was not reached within @p timeout_ms. */
int itest_read_topic(itest_t *t, rd_kafka_t *rk, const char *topic, long long min_messages, int timeout_ms,
                     itest_message_fn each, void *arg);

/* Produces raw bytes to @p topic (key may be NULL). Returns 0 on delivery. */
int itest_produce_raw(itest_t *t, const char *topic, const char *key, const void *value, size_t len);

/* Stops every spawned process that still runs with SIGTERM: each must drain
 * and exit 0 (a sanitizer's leak report or a crash is a failure) within 15 s,
 * else it is killed. Drops the test database when nothing failed (else keeps
 * it, and the logs, for a look). Returns how many processes failed to stop cleanly. */
int itest_cleanup(itest_t *t, int failures);

/* The end of a test's main(): cleanup, summary line, exit code. A macro so
 * that it reads and updates the calling test's own CHECK counters. */
#define itest_finish(t) (rf_test_failures += itest_cleanup((t), rf_test_failures), rf_test_finish())

/* Sleeps @p ms milliseconds. */
void itest_sleep_ms(int ms);

/* Records and produces @p count RUN decisions of workflow @p workflow (as
 * configured in the last itest_config), like the evaluator does. Returns
 * how many Kafka acknowledged; their ids go to @p ret_ids (may be NULL; an
 * array of 37-byte strings the caller frees) when given. */
int itest_decide(itest_t *t, const char *workflow, int count, char (**ret_ids)[37]);

/* The same on the caller's producer @p rk, which the caller still owns
 * (NULL: a producer of its own, as itest_decide). */
int itest_decide_with(itest_t *t, rd_kafka_t *rk, const char *workflow, int count, char (**ret_ids)[37]);

/* A free TCP port on 127.0.0.1 below the ephemeral range (an ephemeral port
 * may be taken by an outgoing connection at any moment), not one of the
 * @p navoid ports in @p avoid. 0 when none was found. */
int itest_free_port(const int *avoid, int navoid);

/* Runs a shell command; returns its exit status (-1 when it could not run,
 * 128 when killed). */
int itest_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Starts a fake scraper of this test's own and points t->fake_url (and so
 * "@FAKE@" in later itest_config() calls) at it: its /stats counts this
 * test's calls only. Call before itest_config(). */
void itest_own_fake_scraper(itest_t *t);

/* Calls of path "/<topic>/<scraper>" counted by the fake scraper, asking
 * again when /stats does not answer in time; -1 when it never did. */
long long itest_fake_path_count(itest_t *t, const char *scraper);

/* Peak resident set (VmHWM) of a running process, in kB, or -1. */
long itest_peak_rss_kb(pid_t pid);

/* A reply to itest_http(). */
typedef struct itest_reply {
        long status; /* 0 when nothing answered */
        char *body;  /* never NULL after itest_http(); the caller frees it */
        size_t len;
} itest_reply_t;

/* Sends @p method (GET, HEAD, POST...) to @p url, its path sent as written,
 * with a 5 s bound, and fills @p r. */
void itest_http(const char *method, const char *url, itest_reply_t *r);

/* The source tree this build was configured from (meson-info), into @p buf. */
void itest_source_root(const itest_t *t, char *buf, size_t size);
