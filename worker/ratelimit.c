/* SPDX-License-Identifier: Apache-2.0 */
#include "ratelimit.h"

void bucket_init(bucket_t *b, int rate_per_s, int64_t now) {
        b->rate_per_s = rate_per_s;
        /* a burst of one second's worth: smooth enough for an upstream's
         * per-second quota, and never less than one call */
        b->burst = rate_per_s > 1 ? rate_per_s : 1;
        b->tokens = b->burst;
        b->refilled_at = now;
}

int64_t bucket_take(bucket_t *b, int64_t now) {
        double wait;

        if (b->rate_per_s <= 0)
                return 0;
        if (now > b->refilled_at) {
                b->tokens += (double)(now - b->refilled_at) * b->rate_per_s / 1000.0;
                if (b->tokens > b->burst)
                        b->tokens = b->burst;
                b->refilled_at = now;
        }
        if (b->tokens >= 1.0) {
                b->tokens -= 1.0;
                return 0;
        }
        wait = (1.0 - b->tokens) * 1000.0 / b->rate_per_s;
        return (int64_t)wait + 1;
}
