/* SPDX-License-Identifier: Apache-2.0 */
/* retry: which outcomes of a scraper call are worth another try, and when. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "rf_lifecycle.h"

/* Connection errors, timeouts, 5xx and 429 are retryable; other 4xx and
 * successes are not. */
bool retry_is_retryable(rf_call_outcome_t outcome, long http_status);

/* The delay before try @p next_try (2, 3, ...): full jitter over
 * base * 2^(next_try-2), capped at 60 s; a server's Retry-After (seconds,
 * > 0) wins when longer. @p rnd is a uniform random number in [0, 1). */
int64_t retry_delay_ms(int base_ms, int next_try, long retry_after_s, double rnd);

/* The jitter's random numbers: a small PRNG (splitmix64) per process.
 * libc's rand() unseeded draws the same sequence in every worker of a
 * fleet, so retries after a shared outage would arrive together: the herd
 * that jitter exists to prevent. */
typedef struct retry_rng {
        uint64_t state;
} retry_rng_t;

/* Seeds @p r from getrandom(2) (from the clock and pid if the kernel has
 * none to give). Never fails. */
void retry_rng_seed(retry_rng_t *r);

/* A uniform random number in [0, 1). */
double retry_rng_next(retry_rng_t *r);
