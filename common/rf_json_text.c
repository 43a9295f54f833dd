/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_json_text.h"
#include "rf_util.h"

static bool grow(rf_json_text_t *t, size_t more) {
        size_t cap;
        char *data;

        cap = t->cap ? t->cap : 256;
        while (cap < t->len + more + 1)
                cap *= 2;
        data = realloc(t->data, cap);
        if (!data) {
                t->failed = true;
                return false;
        }
        t->data = data;
        t->cap = cap;
        return true;
}

static inline bool reserve(rf_json_text_t *t, size_t more) {
        if (t->failed)
                return false;
        return t->len + more + 1 <= t->cap || grow(t, more);
}

void rf_json_text_raw(rf_json_text_t *t, const char *s, size_t n) {
        if (!reserve(t, n))
                return;
        memcpy(t->data + t->len, s, n);
        t->len += n;
        t->data[t->len] = '\0';
}

void rf_json_text_lit(rf_json_text_t *t, const char *s) {
        rf_json_text_raw(t, s, strlen(s));
}

/* By hand: snprintf cost 750 instructions a number, and a log line or a
 * batch item has several. */
void rf_json_text_int(rf_json_text_t *t, long long v) {
        char buf[24], *p = buf + sizeof(buf);
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

        do {
                *--p = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        if (v < 0)
                *--p = '-';
        rf_json_text_raw(t, p, (size_t)(buf + sizeof(buf) - p));
}

/* A byte a JSON string carries as it is. */
static inline bool plain(unsigned char c) {
        return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

void rf_json_text_string(rf_json_text_t *t, const char *s) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = (const unsigned char *)s, *run;

        if (!s) {
                rf_json_text_raw(t, "null", 4);
                return;
        }
        /* the usual string (ids, names) needs no escape: one copy */
        for (run = p; plain(*p); p++)
                ;
        if (!*p) {
                size_t n = (size_t)(p - run);

                if (reserve(t, n + 2)) {
                        t->data[t->len] = '"';
                        memcpy(t->data + t->len + 1, s, n);
                        t->data[t->len + n + 1] = '"';
                        t->len += n + 2;
                        t->data[t->len] = '\0';
                }
                return;
        }
        /* the plain start is already measured: the loop goes on from p */
        rf_json_text_raw(t, "\"", 1);
        rf_json_text_raw(t, s, (size_t)(p - run));
        while (*p) {
                char esc[8];
                size_t n;

                /* copy the longest run that needs nothing done */
                for (run = p; plain(*p); p++)
                        ;
                rf_json_text_raw(t, (const char *)run, (size_t)(p - run));
                if (!*p)
                        break;
                if (*p >= 0x80) {
                        n = rf_utf8_char_length((const char *)p, SIZE_MAX);
                        if (n) {
                                rf_json_text_raw(t, (const char *)p, n);
                                p += n;
                        } else {
                                rf_json_text_raw(t, "\\ufffd", 6);
                                p++;
                        }
                        continue;
                }
                if (*p == '"' || *p == '\\') {
                        esc[0] = '\\', esc[1] = (char)*p, n = 2;
                } else if (*p == '\n') {
                        memcpy(esc, "\\n", 2), n = 2;
                } else if (*p == '\t') {
                        memcpy(esc, "\\t", 2), n = 2;
                } else if (*p == '\r') {
                        memcpy(esc, "\\r", 2), n = 2;
                } else {
                        memcpy(esc, "\\u00", 4);
                        esc[4] = hex[*p >> 4], esc[5] = hex[*p & 0xf], n = 6;
                }
                rf_json_text_raw(t, esc, n);
                p++;
        }
        rf_json_text_raw(t, "\"", 1);
}

/* Whether a value or member written now follows another one. */
static bool needs_comma(const rf_json_text_t *t) {
        char last = t->len ? t->data[t->len - 1] : '\0';

        return last != '\0' && last != '{' && last != '[' && last != ':';
}

void rf_json_text_open(rf_json_text_t *t, char bracket) {
        char text[2] = { ',', bracket };

        if (needs_comma(t))
                rf_json_text_raw(t, text, 2);
        else
                rf_json_text_raw(t, text + 1, 1);
}

void rf_json_text_key(rf_json_text_t *t, const char *name) {
        if (needs_comma(t))
                rf_json_text_raw(t, ",", 1);
        rf_json_text_string(t, name);
        rf_json_text_raw(t, ":", 1);
}

char *rf_json_text_take(rf_json_text_t *t) {
        char *data = t->data;

        if (t->failed || !data) {
                bool failed = t->failed;
                rf_json_text_free(t);
                return failed ? NULL : strdup("");
        }
        t->data = NULL;
        t->len = t->cap = 0;
        return data;
}

void rf_json_text_free(rf_json_text_t *t) {
        free(t->data);
        t->data = NULL;
        t->len = t->cap = 0;
        t->failed = false;
}
