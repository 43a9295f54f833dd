#include <string.h>

#include "retry.h"

#define RETRY_CAP_MS 60000

bool retry_is_retryable(const char *outcome, long http_status) {
        if (strcmp(outcome, "TIMEOUT") == 0 || strcmp(outcome, "CONNECT_ERROR") == 0 ||
            strcmp(outcome, "ERROR") == 0)
                return true;
        if (strcmp(outcome, "HTTP_ERROR") == 0)
                return http_status >= 500 || http_status == 429;
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
