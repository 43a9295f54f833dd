/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "rf_trace.h"

static const char hexdig[] = "0123456789abcdef";

static uint64_t fnv1a(const char *s, size_t n, uint64_t h) {
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)

static void hex64(uint64_t v, char *out) {
        for (int i = 15; i >= 0; i--, v >>= 4)
                out[i] = hexdig[v & 0xf];
}

int rf_trace_hex_valid(const char *s, size_t digits) {
        bool nonzero = false;
        size_t i;

        if (!s)
                return 0;
        for (i = 0; i < digits; i++) {
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return 0;
                nonzero |= s[i] != '0';
        }
        return s[i] == '\0' && nonzero;
}

/* The 32 hex digits of a UUID written 8-4-4-4-12 (either case), or -EINVAL. */
static int uuid_hex(const char *u, char out[RF_TRACE_ID_HEX]) {
        size_t k = 0;

        if (strlen(u) != 36)
                return -EINVAL;
        for (size_t i = 0; i < 36; i++) {
                char c = u[i];
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (c != '-')
                                return -EINVAL;
                        continue;
                }
                if (c >= 'A' && c <= 'F')
                        c = (char)(c - 'A' + 'a');
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return -EINVAL;
                out[k++] = c;
        }
        out[k] = '\0';
        return rf_trace_hex_valid(out, 32) ? 0 : -EINVAL;
}

void rf_trace_id_of(const char *trace_id, char ret_hex[RF_TRACE_ID_HEX]) {
        uint64_t hi, lo;
        size_t n;

        if (trace_id && uuid_hex(trace_id, ret_hex) == 0)
                return;
        /* not a UUID: a stable 128-bit hash, so the decision still has one
         * trace; two FNV-1a passes with different seeds give the halves */
        n = trace_id ? strlen(trace_id) : 0;
        hi = fnv1a(trace_id ? trace_id : "", n, FNV_OFFSET);
        lo = fnv1a(trace_id ? trace_id : "", n, FNV_OFFSET ^ UINT64_C(0x9e3779b97f4a7c15));
        if (hi == 0 && lo == 0)
                lo = 1;
        hex64(hi, ret_hex);
        hex64(lo, ret_hex + 16);
        ret_hex[32] = '\0';
}

void rf_trace_decision_span_id(const char *decision_id, int attempt, char ret_hex[RF_SPAN_ID_HEX]) {
        char suffix[16];
        int n = snprintf(suffix, sizeof(suffix), "/%d", attempt);
        uint64_t h = fnv1a(decision_id ? decision_id : "", decision_id ? strlen(decision_id) : 0, FNV_OFFSET);

        h = fnv1a(suffix, (size_t)n, h);
        hex64(h ? h : 1, ret_hex);
        ret_hex[16] = '\0';
}

void rf_trace_span_id_new(char ret_hex[RF_SPAN_ID_HEX]) {
        /* one getrandom() per 512 ids: a scraper call costs no system call */
        static _Thread_local uint64_t pool[512];
        static _Thread_local size_t used = sizeof(pool) / sizeof(pool[0]);
        static _Thread_local pid_t filled_by;
        uint64_t v;

        do {
                if (used == sizeof(pool) / sizeof(pool[0]) || filled_by != getpid()) {
                        if (getrandom(pool, sizeof(pool), 0) != (ssize_t)sizeof(pool)) {
                                /* no entropy at all: the clock and a counter still differ per call */
                                static _Thread_local uint64_t counter;
                                pool[0] = rf_trace_now_ns() ^ (++counter << 40) ^ ((uint64_t)getpid() << 20);
                                pool[0] = fnv1a((const char *)&pool[0], sizeof(pool[0]), FNV_OFFSET);
                                for (size_t i = 1; i < sizeof(pool) / sizeof(pool[0]); i++)
                                        pool[i] = fnv1a((const char *)&pool[i - 1], sizeof(pool[i]), FNV_OFFSET);
                        }
                        used = 0;
                        filled_by = getpid();
                }
                v = pool[used++];
        } while (v == 0);
        hex64(v, ret_hex);
        ret_hex[16] = '\0';
}

int rf_traceparent_format(const char *trace_hex, const char *span_hex, char ret[RF_TRACEPARENT_SIZE]) {
        if (!rf_trace_hex_valid(trace_hex, 32) || !rf_trace_hex_valid(span_hex, 16))
                return -EINVAL;
        snprintf(ret, RF_TRACEPARENT_SIZE, "00-%s-%s-01", trace_hex, span_hex);
        return 0;
}

int rf_traceparent_parse(const char *value, char ret_trace[RF_TRACE_ID_HEX], char ret_span[RF_SPAN_ID_HEX]) {
        char t[RF_TRACE_ID_HEX], s[RF_SPAN_ID_HEX];

        if (!value || strlen(value) != 55 || strncmp(value, "00-", 3) != 0 || value[35] != '-' || value[52] != '-')
                return -EINVAL;
        memcpy(t, value + 3, 32);
        t[32] = '\0';
        memcpy(s, value + 36, 16);
        s[16] = '\0';
        if (!rf_trace_hex_valid(t, 32) || !rf_trace_hex_valid(s, 16))
                return -EINVAL;
        /* flags: two hex digits, any value */
        for (int i = 53; i < 55; i++)
                if (!strchr(hexdig, value[i]))
                        return -EINVAL;
        memcpy(ret_trace, t, sizeof(t));
        memcpy(ret_span, s, sizeof(s));
        return 0;
}

uint64_t rf_trace_now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

void rf_trace_url_redact(const char *url, char *out, size_t size) {
        const char *scheme_end = url ? strstr(url, "://") : NULL, *host, *end, *at;

        if (!size)
                return;
        /* a scheme is a letter, then letters, digits, '+', '-', '.' (RFC 3986):
         * anything else before "://" is not a URL, and nothing of it is kept */
        for (const char *p = url; scheme_end && p < scheme_end; p++)
                if (!(isalpha((unsigned char)*p) || (p > url && (isdigit((unsigned char)*p) || strchr("+-.", *p)))))
                        scheme_end = NULL;
        if (!scheme_end || scheme_end == url) {
                snprintf(out, size, "%s", "");
                return;
        }
        host = scheme_end + 3;
        end = host + strcspn(host, "/?#");
        /* the last '@': a password may hold one, and URL parsers (libcurl's
         * among them) end the user part at the last */
        at = memrchr(host, '@', (size_t)(end - host));
        if (at)
                host = at + 1;
        /* the path runs to the query or the fragment */
        end += strcspn(end, "?#");
        snprintf(out, size, "%.*s%.*s", (int)(scheme_end + 3 - url), url, (int)(end - host), host);
}
