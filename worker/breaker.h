/* SPDX-License-Identifier: Apache-2.0 */
/* breaker: a circuit breaker per scraper. After a run of consecutive failed
 * calls the breaker opens and calls fail fast, without touching the
 * network, for a cool-down; then one probe call is let through (half-open):
 * its success closes the breaker, its failure opens it again. This stops a
 * fleet from hammering a scraper that is down and lets it recover. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum breaker_state {
        BREAKER_CLOSED,
        BREAKER_OPEN,
        BREAKER_HALF_OPEN,
} breaker_state_t;

typedef struct breaker {
        breaker_state_t state;
        int failures;         /* consecutive */
        int64_t open_until;   /* monotonic ms, while OPEN */
        bool probe_in_flight; /* while HALF_OPEN */
} breaker_t;

/* May a call start at @p now? Sets *ret_probe when it is the half-open probe. */
bool breaker_allow(breaker_t *b, int threshold, int64_t now, bool *ret_probe);

/* Records a call's result. Returns the state before, so a caller can log a change. */
breaker_state_t breaker_record(breaker_t *b, bool success, bool was_probe, int threshold, int cooldown_ms, int64_t now);

const char *breaker_state_name(breaker_state_t state);
