/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's defences against misbehaving scrapers: what is retried and
 * when, the circuit breaker's states, the token bucket's rate. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "breaker.h"
#include "ratelimit.h"
#include "retry.h"
#include "rf_test.h"

static void retryable(void) {
        CHECK(retry_is_retryable(RF_CALL_TIMEOUT, 0));
        CHECK(retry_is_retryable(RF_CALL_CONNECT_ERROR, 0));
        CHECK(retry_is_retryable(RF_CALL_ERROR, 0));
        CHECK(retry_is_retryable(RF_CALL_HTTP_ERROR, 500));
        CHECK(retry_is_retryable(RF_CALL_HTTP_ERROR, 503));
        CHECK(retry_is_retryable(RF_CALL_HTTP_ERROR, 429));
        CHECK(!retry_is_retryable(RF_CALL_HTTP_ERROR, 400));
        CHECK(!retry_is_retryable(RF_CALL_HTTP_ERROR, 404));
        CHECK(!retry_is_retryable(RF_CALL_OK, 200));
        CHECK(!retry_is_retryable(RF_CALL_CIRCUIT_OPEN, 0));
        CHECK(!retry_is_retryable(RF_CALL_ABORTED, 0));
}

static void backoff(void) {
        /* full jitter under a doubling ceiling */
        CHECK(retry_delay_ms(500, 2, 0, 0.0) == 1);
        CHECK(retry_delay_ms(500, 2, 0, 0.999) <= 500);
        CHECK(retry_delay_ms(500, 3, 0, 0.999) > 500 && retry_delay_ms(500, 3, 0, 0.999) <= 1000);
        CHECK(retry_delay_ms(500, 4, 0, 0.999) > 1000 && retry_delay_ms(500, 4, 0, 0.999) <= 2000);
        /* capped at a minute, however many tries */
        CHECK(retry_delay_ms(500, 30, 0, 0.999) <= 60000);
        CHECK(retry_delay_ms(500, 30, 0, 0.999) > 30000);
        /* Retry-After wins when it is longer, not when shorter */
        CHECK(retry_delay_ms(500, 2, 3, 0.5) == 3000);
        CHECK(retry_delay_ms(100000, 3, 1, 0.999) > 1000);
}

static void breaker(void) {
        breaker_t b;
        bool probe;
        int64_t now = 1000;

        memset(&b, 0, sizeof(b));
        /* threshold 0: no breaker at all */
        for (int i = 0; i < 10; i++)
                breaker_record(&b, false, false, 0, 1000, now);
        CHECK(breaker_allow(&b, 0, now, &probe) && !probe);

        memset(&b, 0, sizeof(b));
        breaker_record(&b, false, false, 3, 1000, now);
        breaker_record(&b, false, false, 3, 1000, now);
        /* a success resets the run of failures */
        breaker_record(&b, true, false, 3, 1000, now);
        breaker_record(&b, false, false, 3, 1000, now);
        breaker_record(&b, false, false, 3, 1000, now);
        CHECK(b.state == BREAKER_CLOSED);
        CHECK(breaker_record(&b, false, false, 3, 1000, now) == BREAKER_CLOSED);
        CHECK(b.state == BREAKER_OPEN);
        CHECK(!breaker_allow(&b, 3, now + 999, &probe));

        /* after the cool-down exactly one probe goes through */
        CHECK(breaker_allow(&b, 3, now + 1000, &probe) && probe);
        CHECK(b.state == BREAKER_HALF_OPEN);
        CHECK(!breaker_allow(&b, 3, now + 1001, &probe));
        /* a late success from before the breaker opened does not close it */
        breaker_record(&b, true, false, 3, 1000, now + 1002);
        CHECK(b.state == BREAKER_HALF_OPEN);
        /* the probe fails: open again for another cool-down */
        CHECK(breaker_record(&b, false, true, 3, 1000, now + 1100) == BREAKER_HALF_OPEN);
        CHECK(b.state == BREAKER_OPEN && b.open_until == now + 2100);
        CHECK(!breaker_allow(&b, 3, now + 2000, &probe));
        CHECK(breaker_allow(&b, 3, now + 2100, &probe) && probe);
        /* the probe succeeds: closed */
        breaker_record(&b, true, true, 3, 1000, now + 2200);
        CHECK(b.state == BREAKER_CLOSED);
        CHECK(breaker_allow(&b, 3, now + 2201, &probe) && !probe);
        CHECK(strcmp(breaker_state_name(BREAKER_HALF_OPEN), "half-open") == 0);
}

static void bucket(void) {
        bucket_t b;
        int taken = 0;

        bucket_init(&b, 0, 0);
        for (int i = 0; i < 1000; i++)
                taken += bucket_take(&b, 0) == 0;
        CHECK(taken == 1000); /* unlimited */

        /* 10/s: a burst of 10, then one every 100 ms */
        bucket_init(&b, 10, 0);
        taken = 0;
        for (int i = 0; i < 20; i++)
                taken += bucket_take(&b, 0) == 0;
        CHECK(taken == 10);
        CHECK(bucket_take(&b, 0) > 0 && bucket_take(&b, 0) <= 101);
        CHECK(bucket_take(&b, 100) == 0);
        CHECK(bucket_take(&b, 100) > 0);
        /* over 10 simulated seconds the rate holds: 10 burst + 100 */
        bucket_init(&b, 10, 0);
        taken = 0;
        for (int64_t t = 0; t <= 10000; t += 5)
                while (bucket_take(&b, t) == 0)
                        taken++;
        CHECK(taken >= 109 && taken <= 111);
        /* idle time refills only up to the burst */
        CHECK(bucket_take(&b, 1000000) == 0);
        taken = 1;
        while (bucket_take(&b, 1000000) == 0)
                taken++;
        CHECK(taken == 10);
}

/* Draws @p n retry delays in a fresh process, seeded as a worker seeds
 * (calls_init: retry_rng_seed), into @p out. */
static bool draw_in_child(int64_t *out, size_t n) {
        int fds[2];
        pid_t pid;
        size_t got = 0;
        int status;

        if (pipe(fds) < 0)
                return false;
        pid = fork();
        if (pid == 0) {
                retry_rng_t r;
                close(fds[0]);
                retry_rng_seed(&r);
                for (size_t i = 0; i < n; i++) {
                        int64_t d = retry_delay_ms(1000, 5, 0, retry_rng_next(&r));
                        if (write(fds[1], &d, sizeof(d)) != (ssize_t)sizeof(d))
                                _exit(1);
                }
                _exit(0);
        }
        close(fds[1]);
        while (got < n * sizeof(*out)) {
                ssize_t k = read(fds[0], (char *)out + got, n * sizeof(*out) - got);
                if (k <= 0)
                        break;
                got += (size_t)k;
        }
        close(fds[0]);
        return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
               got == n * sizeof(*out);
}

/* Two workers of a fleet draw different jitter (libc's rand(), never
 * seeded, gave every process the same sequence). */
static void jitter_per_process(void) {
        enum { N = 8 };
        int64_t a[N], b[N];
        retry_rng_t x = { .state = 7 }, y = { .state = 7 };
        bool same_seed_same = true, in_range = true;

        CHECK(draw_in_child(a, N));
        CHECK(draw_in_child(b, N));
        CHECK(memcmp(a, b, sizeof(a)) != 0);
        for (int i = 0; i < N; i++)
                in_range = in_range && a[i] >= 1 && a[i] <= 8000 && b[i] >= 1 && b[i] <= 8000;
        CHECK(in_range);
        /* the difference is the seed's: one state draws one sequence */
        for (int i = 0; i < 1000; i++) {
                double u = retry_rng_next(&x);
                same_seed_same = same_seed_same && u == retry_rng_next(&y) && u >= 0.0 && u < 1.0;
        }
        CHECK(same_seed_same);
}

int main(void) {
        jitter_per_process();
        retryable();
        backoff();
        breaker();
        bucket();
        return rf_test_finish();
}
