/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "rf_util.h"
#include "rf_uuid.h"

/* Random bytes from the kernel, fetched a page at a time. libuuid's
 * uuid_generate_random reseeds libc's random() on every call, which cost
 * 9,000 instructions per UUID: 3 % of a worker's instructions per execution
 * (callgrind). The pool is per thread, and refilled in a forked child, so
 * no two processes hand out the same bytes. */
static void random_bytes(uuid_t u) {
        static _Thread_local unsigned char pool[4096];
        static _Thread_local size_t used = sizeof(pool);
        static _Thread_local pid_t filled_by;

        if (used + sizeof(uuid_t) > sizeof(pool) || filled_by != getpid()) {
                if (getrandom(pool, sizeof(pool), 0) != (ssize_t)sizeof(pool)) {
                        uuid_generate_random(u);
                        return;
                }
                used = 0;
                filled_by = getpid();
        }
        memcpy(u, pool + used, sizeof(uuid_t));
        used += sizeof(uuid_t);
}

static void stamp(uuid_t u, int64_t ms, unsigned version) {
        uint64_t t = ms > 0 ? (uint64_t)ms : 0;

        for (int i = 5; i >= 0; i--, t >>= 8)
                u[i] = (unsigned char)(t & 0xff);
        u[6] = (unsigned char)((u[6] & 0x0f) | (version << 4));
        u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* variant: RFC 9562 */
}

void rf_uuid_at(int64_t ms, char out[37]) {
        uuid_t u = { 0 };

        random_bytes(u);
        stamp(u, ms, 7);
        uuid_unparse_lower(u, out);
}

void rf_uuid_floor(int64_t ms, char out[37]) {
        uuid_t u = { 0 };
        uint64_t t = ms > 0 ? (uint64_t)ms : 0;

        for (int i = 5; i >= 0; i--, t >>= 8)
                u[i] = (unsigned char)(t & 0xff);
        uuid_unparse_lower(u, out);
}

void rf_uuid_new(char out[37]) {
        rf_uuid_at(rf_now_ms(), out);
}

void rf_uuid_tick(const char *workflow, int64_t tick_ms, char out[37]) {
        /* a fixed namespace of our own: only the hash's spread matters */
        static const uuid_t ns = { 0x6b, 0x1e, 0x0c, 0x52, 0x93, 0x4d, 0x4e, 0x0f,
                                   0x9a, 0x61, 0x2c, 0x7d, 0x15, 0x88, 0xf3, 0x40 };
        char name[512];
        int n = snprintf(name, sizeof(name), "%lld/%s", (long long)tick_ms, workflow);
        uuid_t u;

        /* a name longer than the buffer is hashed whole from the heap */
        if (n >= (int)sizeof(name)) {
                char *long_name = malloc((size_t)n + 1);

                if (long_name) {
                        snprintf(long_name, (size_t)n + 1, "%lld/%s", (long long)tick_ms, workflow);
                        uuid_generate_sha1(u, ns, long_name, (size_t)n);
                        free(long_name);
                } else
                        uuid_generate_sha1(u, ns, name, sizeof(name) - 1);
        } else
                uuid_generate_sha1(u, ns, name, (size_t)n);
        stamp(u, tick_ms, 8);
        uuid_unparse_lower(u, out);
}

const char *rf_uuid_short(const char *id) {
        size_t len = id ? strlen(id) : 0;

        return len > RF_UUID_SHORT_LEN ? id + len - RF_UUID_SHORT_LEN : id ? id : "";
}

int64_t rf_uuid_ms(const char *id) {
        char hex[13];

        if (!rf_uuid_valid(id))
                return -1;
        memcpy(hex, id, 8);
        memcpy(hex + 8, id + 9, 4);
        hex[12] = '\0';
        return (int64_t)strtoll(hex, NULL, 16);
}

bool rf_uuid_valid(const char *s) {
        if (strlen(s) != 36)
                return false;
        for (int i = 0; i < 36; i++) {
                char c = s[i];

                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (c != '-')
                                return false;
                } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
                        return false;
        }
        return true;
}
