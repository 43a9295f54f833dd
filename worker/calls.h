/* SPDX-License-Identifier: Apache-2.0 */
/* calls: the HTTP side of an execution (see calls.c). A call whose last try
 * ends queues its execution on the completion queue when it was the last. */
#pragma once

#include "worker.h"

/* Breakers, rate buckets, the per-workflow run counts and the jitter's
 * random state. Returns 0 or -ENOMEM. */
int calls_init(worker_t *w);
void calls_cleanup(worker_t *w);

/* Starts one call per scraper of @p ex (each tries now, or waits for a
 * token or its breaker). Returns 0, or -ENOMEM with @p errstr. */
int calls_start(worker_t *w, execution_t *ex, char *errstr, size_t errstr_size);

/* Takes finished transfers from libcurl: records, retries or ends each. */
void calls_collect(worker_t *w);

/* The call's try timer came due (the loop's timer phase). */
void calls_try_due(worker_t *w, call_t *c);

/* Ends every unfinished call of @p ex as ABORTED (@p why), stopping its
 * transfer and its timer. */
void calls_abort(worker_t *w, execution_t *ex, const char *why);
