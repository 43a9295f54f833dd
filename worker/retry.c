/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "retry.h"

#define RETRY_CAP_MS 60000

bool retry_is_retryable(rf_call_outcome_t outcome, long http_status) {
        switch (outcome) {
        case RF_CALL_TIMEOUT:
        case RF_CALL_CONNECT_ERROR:
        case RF_CALL_ERROR:
                return true;
        case RF_CALL_HTTP_ERROR:
                return http_status >= 500 || http_status == 429;
        case RF_CALL_OK:
        case RF_CALL_CIRCUIT_OPEN:
        case RF_CALL_ABORTED:
        case RF_CALL_OUTCOME_COUNT:
                break;
        }
        return false;
}

int64_t retry_delay_ms(int base_ms, int next_try, long retry_after_s, double rnd) {
        int64_t ceiling = base_ms;
        int64_t delay;

        for (int i = 2; i < next_try && ceiling < RETRY_CAP_MS; i++)
                ceiling *= 2;
        if (ceiling > RETRY_CAP_MS)
                ceiling = RETRY_CAP_MS;
        /* full jitter: replicas that failed together do not retry together */
        delay = (int64_t)(rnd * (double)ceiling) + 1;
        if (retry_after_s > 0 && retry_after_s * 1000 > delay)
                delay = retry_after_s * 1000;
        return delay;
}

void retry_rng_seed(retry_rng_t *r) {
        uint64_t seed = 0;
        struct timespec ts;

        if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
                /* no entropy yet (early boot) or no getrandom: still differs per process */
                clock_gettime(CLOCK_REALTIME, &ts);
                seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
        }
        r->state = seed;
}

double retry_rng_next(retry_rng_t *r) {
        uint64_t z = (r->state += 0x9e3779b97f4a7c15u);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        z ^= z >> 31;
        return (double)(z >> 11) * 0x1.0p-53; /* 53 random bits: exactly representable, < 1 */
}
