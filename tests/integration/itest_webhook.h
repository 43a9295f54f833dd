/* SPDX-License-Identifier: Apache-2.0 */
/* itest_webhook: an HTTP server on a loopback port of its own that stands
 * for an alert webhook in a test. It answers every request with the status
 * set (200 at first), counts the requests and keeps the first
 * ITEST_WEBHOOK_KEPT that it answered with a 2xx, for the test to read. */
#pragma once

#include <stdbool.h>

#define ITEST_WEBHOOK_KEPT 64

typedef struct itest_webhook itest_webhook_t;

/* One request answered 2xx, as received (bodies cut at 8 KiB). */
typedef struct itest_webhook_request {
        char method[16], path[128], key[128], content_type[128]; /* key: Idempotency-Key, "" when none */
        char body[8192];
} itest_webhook_request_t;

/* Starts the server; NULL when it cannot (the reason printed). */
itest_webhook_t *itest_webhook_start(void);
void itest_webhook_stop(itest_webhook_t *w);

int itest_webhook_port(const itest_webhook_t *w);

/* What the server answers from now on (e.g. 503 to refuse alerts). */
void itest_webhook_set_status(itest_webhook_t *w, int status);

/* Requests received, whatever the answer; requests answered 2xx. */
int itest_webhook_requests(itest_webhook_t *w);
int itest_webhook_accepted(itest_webhook_t *w);

/* Copies the @p i-th request answered 2xx into @p ret; false when there is
 * no such request. */
bool itest_webhook_get(itest_webhook_t *w, int i, itest_webhook_request_t *ret);

/* The index of the first request answered 2xx whose body contains
 * @p needle (copied into @p ret when not NULL), or -1. */
int itest_webhook_find(itest_webhook_t *w, const char *needle, itest_webhook_request_t *ret);

/* Waits until at least @p n requests arrived; false after @p timeout_ms. */
bool itest_webhook_wait_requests(itest_webhook_t *w, int n, int timeout_ms);
