/* SPDX-License-Identifier: Apache-2.0 */
/* rf_pg_async: one PostgreSQL connection driven from an event loop that
 * must never wait on the database (the worker's: its scraper calls keep
 * running while PostgreSQL is away, stalled or failing over).
 *
 * At most one statement is in flight. Connecting and reconnecting are
 * non-blocking (PQconnectStart/PQconnectPoll) and statements asynchronous
 * (PQsendQueryParams in non-blocking mode); the loop watches
 * rf_pg_async_fd() for readability and calls rf_pg_async_process() when it
 * is readable or when rf_pg_async_due_ms() has come. A lost connection is
 * re-made (any host of a multi-host URL: the current primary) until it
 * works; the statement it took with it fails with -ENOTCONN, and the
 * caller decides what to send again. Like the rest of common/, it does
 * not log: the caller sees the transitions (rf_pg_async_connected). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "rf_pg.h"

typedef struct rf_pg_async rf_pg_async_t;

/* A statement's end, called once per rf_pg_async_send() that returned 0,
 * always from rf_pg_async_process(). err: 0 (@p res is the result, cleared
 * after the call), -ENOTCONN (connection lost, or no answer within the
 * statement timeout: it may or may not have been applied) or -EIO (an SQL
 * error); @p errstr says why. The callback may send the next statement. */
typedef void rf_pg_async_done_fn(void *arg, int err, const PGresult *res, const char *errstr);

/* Takes over @p pg, a connected rf_pg (rf_pg_connect: a program's start
 * still fails fast on a bad URL or an unreachable database). Returns 0 or
 * a negative errno. */
int rf_pg_async_new(rf_pg_t *pg, rf_pg_async_t **ret_a, char *errstr, size_t errstr_size);

/* Closes the connection; a statement in flight is dropped without its callback. */
void rf_pg_async_destroy(rf_pg_async_t *a);

/* An epoll descriptor of the connection's own (readable when libpq has
 * something to do): the caller adds it to its set. A set of its own, since
 * libpq closes and opens sockets (one per host tried) behind the caller's
 * back, and a number it closed may come back as one of the caller's. */
int rf_pg_async_fd(const rf_pg_async_t *a);

/* Monotonic ms when rf_pg_async_process() must run even without an event
 * (a reconnect, a timeout), or 0 when only events matter. */
int64_t rf_pg_async_due_ms(const rf_pg_async_t *a);

/* Does what libpq can do now without waiting: advances a connect, reads
 * and delivers a result, notices a lost connection, starts a reconnect. */
void rf_pg_async_process(rf_pg_async_t *a);

/* True when connected with nothing in flight: rf_pg_async_send() takes a statement. */
bool rf_pg_async_idle(const rf_pg_async_t *a);

/* True while connected (idle or busy). */
bool rf_pg_async_connected(const rf_pg_async_t *a);

/* "host:port" of the server connected to (of a multi-host URL: the one
 * that took the connection). */
void rf_pg_async_server(const rf_pg_async_t *a, char *buf, size_t size);

/* Why the connection is down (its last error), for logs and readiness. */
const char *rf_pg_async_error(const rf_pg_async_t *a);

/* Sends one statement with text parameters (NULL: SQL NULL); @p done gets
 * its end. Returns 0, -EBUSY (one is in flight) or -ENOTCONN (not
 * connected: a reconnect is under way). */
int rf_pg_async_send(rf_pg_async_t *a, const char *sql, int nparams, const char *const *params,
                     rf_pg_async_done_fn *done, void *arg);
