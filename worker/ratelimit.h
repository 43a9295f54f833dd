/* SPDX-License-Identifier: Apache-2.0 */
/* ratelimit: a token bucket per external API (a scraper's rate group), so a
 * burst of decisions cannot call an upstream faster than it allows. A call
 * that finds no token waits, and the wait counts against its deadline. */
#pragma once

#include <stdint.h>

typedef struct bucket {
        double tokens;
        int64_t refilled_at; /* monotonic ms */
        int rate_per_s;      /* 0 = unlimited */
        double burst;
} bucket_t;

void bucket_init(bucket_t *b, int rate_per_s, int64_t now);

/* Takes a token at @p now. Returns 0 when taken, else the milliseconds to
 * wait before asking again. */
int64_t bucket_take(bucket_t *b, int64_t now);
