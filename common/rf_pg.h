/* SPDX-License-Identifier: Apache-2.0 */
/* rf_pg: one PostgreSQL connection (libpq) with reconnect-on-use, and the
 * statements every program shares. */
#pragma once

#include <libpq-fe.h>
#include <stddef.h>

typedef struct rf_pg rf_pg_t;

/* Connects to @p url (a libpq conninfo string or URI). The caller owns
 * *ret_pg (rf_pg_destroy()). Returns 0 or -ENOTCONN with libpq's reason. */
int rf_pg_connect(const char *url, const char *application_name, rf_pg_t **ret_pg, char *errstr, size_t errstr_size);

/* Session options: prepared statements and kept plans use generic plans.
 * For the worker's sessions (worker/main.c: why) and the bench's pgbench,
 * which does the same work. */
#define RF_PG_GENERIC_PLANS "-c plan_cache_mode=force_generic_plan"

/* rf_pg_connect(), with @p options ("-c name=value ...", NULL: none) added
 * to the session settings of this and every later connection of *ret_pg. */
int rf_pg_connect_with(const char *url, const char *application_name, const char *options, rf_pg_t **ret_pg,
                       char *errstr, size_t errstr_size);

void rf_pg_destroy(rf_pg_t *pg);

/* Runs one statement with text parameters (NULL entries are SQL NULL).
 * Re-establishes a lost connection first. On success the caller owns
 * *ret_res (PQclear(); pass NULL to discard). Returns 0, -ENOTCONN when the
 * server cannot be reached, or -EIO for an SQL error (SQLSTATE and message
 * in @p errstr). */
int rf_pg_exec(rf_pg_t *pg, const char *sql, int nparams, const char *const *params, PGresult **ret_res, char *errstr,
               size_t errstr_size);

/* rf_pg_exec() for a statement run again and again (a timer's): prepared
 * once per connection, so PostgreSQL plans it once rather than on every
 * call — with the history tables partitioned by day, planning a sweep's
 * statements over every day's partition took 50 ms, running them 5 ms
 * (bench (f)). @p sql must be a string that lives as long as @p pg (its
 * address names the statement). */
int rf_pg_exec_prepared(rf_pg_t *pg, const char *sql, int nparams, const char *const *params, PGresult **ret_res,
                        char *errstr, size_t errstr_size);

/* Sends one statement as rf_pg_exec() runs it, and returns without its
 * result, so the caller works while the server does (a replay reads its
 * next messages while the server records the last ones). At most one
 * statement is in flight: rf_pg_wait() takes its result before anything
 * else uses @p pg. No reconnect (a lost connection is an error: its
 * transaction went with it). Returns 0 or -ENOTCONN/-EIO with the reason. */
int rf_pg_send(rf_pg_t *pg, const char *sql, int nparams, const char *const *params, char *errstr, size_t errstr_size);

/* Waits for the result of the statement rf_pg_send() sent; returns as
 * rf_pg_exec() does, with *ret_res (or NULL to discard). */
int rf_pg_wait(rf_pg_t *pg, PGresult **ret_res, char *errstr, size_t errstr_size);

/* Non-blocking (re)connection, for an event loop (rf_pg_async): drops the
 * connection and starts a new one to the same URL with PQconnectStartParams;
 * the caller drives it with PQconnectPoll on rf_pg_conn(). With several
 * hosts in the URL libpq walks them, so this finds the current primary.
 * Returns 0 or -ENOTCONN with the reason. */
int rf_pg_connect_start(rf_pg_t *pg, char *errstr, size_t errstr_size);

/* To call once PQconnectPoll said PGRES_POLLING_OK: the session settings
 * rf_pg_connect() makes (notices are dropped). */
void rf_pg_connected(rf_pg_t *pg);

/* Formats a failed statement's error (@p res may be NULL) as rf_pg_exec
 * does: -ENOTCONN when the connection is gone, else -EIO with SQLSTATE and
 * message. Passwords in libpq's messages are masked. */
int rf_pg_error(rf_pg_t *pg, const PGresult *res, char *errstr, size_t errstr_size);

/* The connection's last error message, one line, password masked. */
void rf_pg_conn_error(rf_pg_t *pg, char *errstr, size_t errstr_size);

/* True while the connection is usable. */
int rf_pg_ok(rf_pg_t *pg);

/* The connection, for callers that need libpq directly. Owned by @p pg. */
PGconn *rf_pg_conn(rf_pg_t *pg);

/* Takes a session-level advisory lock without waiting. Returns 1 when held,
 * 0 when another session holds it, or a negative errno. */
int rf_pg_try_advisory_lock(rf_pg_t *pg, long long key, char *errstr, size_t errstr_size);

/* Formats a text[] literal ("{a,b}") of @p items into a new string (free()). */
char *rf_pg_array_literal(char *const *items, size_t count);

/* Column @p col of every row of @p res as an array literal, as
 * rf_pg_array_literal() makes it (malloc()ed; NULL: out of memory). To
 * send the ids one query returned to the next as one parameter, which the
 * planner knows when it plans (it prunes partitions by it). */
char *rf_pg_column_array(const PGresult *res, int col);

/* Advisory lock keys, one per singleton role. */
#define RF_LOCK_MIGRATE 0x72666d01LL
#define RF_LOCK_REAPER 0x72666d02LL
#define RF_LOCK_EVALUATOR 0x72666d03LL
