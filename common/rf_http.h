/* SPDX-License-Identifier: Apache-2.0 */
/* rf_http: the small HTTP server each program runs beside its main loop
 * (libmicrohttpd, one internal polling thread), serving
 *
 *   GET /metrics   the default rf_metrics registry, Prometheus text format
 *   GET /healthz   200 "ok" while the main loop has called rf_http_heartbeat()
 *                  within the bound given at start, else 503: the loop is stuck
 *   GET /readyz    200 "ready", or 503 with a one-line reason from the
 *                  program's readiness callback
 *
 * and 404 for anything else. The callbacks run on the server's thread, so
 * a program never queries its database or broker from them: its loop
 * records what it learnt in rf_http_condition_t values (thread-safe), and
 * the readiness callback reads those. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rf_http rf_http_t;

/* Returns 0 when the program is ready, or a negative errno with a one-line
 * reason in @p reason. Runs on the server's thread. */
typedef int(rf_http_ready_cb_t)(void *opaque, char *reason, size_t reason_size);

/* A fact a program's loop keeps up to date ("the database answered") and
 * its readiness callback reads from the server's thread. */
typedef struct rf_http_condition {
        pthread_mutex_t lock;
        const char *name; /* "database": prefixes the reasons rf_http_condition_ok() makes up */
        bool checked;
        bool ok;
        int64_t ok_at; /* monotonic ms of the last rf_http_condition_set(ok) */
        char why[256]; /* of the last failure */
} rf_http_condition_t;

#define RF_HTTP_CONDITION_INIT(name)                                                                                   \
        { PTHREAD_MUTEX_INITIALIZER, (name), false, false, 0, "" }

/* Records the latest check: held (@p ok), or failed for @p why (copied;
 * it should name what failed, as "database: connection refused" does). */
void rf_http_condition_set(rf_http_condition_t *c, bool ok, const char *why);

/* True when the last check held and, if @p max_age_ms > 0, held within the
 * last @p max_age_ms; otherwise false with the reason in @p why: the last
 * failure's text, or "NAME: not checked yet" / "NAME: not confirmed for N ms". */
bool rf_http_condition_ok(rf_http_condition_t *c, int64_t max_age_ms, char *why, size_t why_size);

/* Listens on @p address (numeric IPv4 or IPv6, or a host name resolved
 * once; that address only) and @p port (0: any free port, see
 * rf_http_port()). /healthz fails once rf_http_heartbeat() has not been
 * called for @p stale_ms. @p ready (may be NULL: always ready) gets
 * @p opaque, which must outlive the server. The caller owns *ret_http
 * (rf_http_stop()). Returns 0, or a negative errno with the reason in
 * @p errstr. */
int rf_http_start(const char *address, int port, int64_t stale_ms, rf_http_ready_cb_t *ready, void *opaque,
                  rf_http_t **ret_http, char *errstr, size_t errstr_size);

/* "127.0.0.1:9100" or "[::1]:9100"; owned by @p http. */
const char *rf_http_address(const rf_http_t *http);

/* The port it listens on. */
int rf_http_port(const rf_http_t *http);

/* Stops serving (waits for the server's thread) and frees; accepts NULL. */
void rf_http_stop(rf_http_t *http);

/* Called by the program's main loop on every turn: /healthz is 200 while
 * the last call is recent. Async-signal-unsafe, thread-safe, cheap. */
void rf_http_heartbeat(void);
