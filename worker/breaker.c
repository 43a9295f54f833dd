/* SPDX-License-Identifier: Apache-2.0 */
#include "breaker.h"

bool breaker_allow(breaker_t *b, int threshold, int64_t now, bool *ret_probe) {
        *ret_probe = false;
        if (threshold <= 0)
                return true;
        switch (b->state) {
        case BREAKER_CLOSED:
                return true;
        case BREAKER_OPEN:
                if (now < b->open_until)
                        return false;
                b->state = BREAKER_HALF_OPEN;
                b->probe_in_flight = false;
                /* fall through: the first call after the cool-down is the probe */
                __attribute__((fallthrough));
        case BREAKER_HALF_OPEN:
                if (b->probe_in_flight)
                        return false;
                b->probe_in_flight = true;
                *ret_probe = true;
                return true;
        }
        return true;
}

breaker_state_t breaker_record(breaker_t *b, bool success, bool was_probe, int threshold, int cooldown_ms,
                               int64_t now) {
        breaker_state_t before = b->state;

        if (threshold <= 0)
                return before;
        if (was_probe)
                b->probe_in_flight = false;
        if (success) {
                b->failures = 0;
                /* only the probe may close a half-open breaker; a call started
                 * before the breaker opened says nothing about now */
                if (b->state == BREAKER_HALF_OPEN && was_probe)
                        b->state = BREAKER_CLOSED;
                return before;
        }
        b->failures++;
        if ((b->state == BREAKER_HALF_OPEN && was_probe) || (b->state == BREAKER_CLOSED && b->failures >= threshold)) {
                b->state = BREAKER_OPEN;
                b->open_until = now + cooldown_ms;
        }
        return before;
}

const char *breaker_state_name(breaker_state_t state) {
        return state == BREAKER_CLOSED ? "closed" : state == BREAKER_OPEN ? "open" : "half-open";
}
