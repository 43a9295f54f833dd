/* SPDX-License-Identifier: Apache-2.0 */
/* rf_json_text: JSON text written straight into a growing buffer, for the
 * hot paths — the worker's claim and finish batches, its request bodies and
 * the JSON log lines. Building jansson values and dumping them was a third
 * of the worker's instructions (callgrind over bench scenario a); jansson
 * stays for everything that parses JSON or is not hot.
 *
 * Strings are escaped per RFC 8259, and a byte that does not start a
 * well-formed UTF-8 character is written as U+FFFD: the text is always
 * valid JSON, which PostgreSQL's jsonb and log collectors insist on.
 * An allocation failure is remembered and reported by rf_json_text_take(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct rf_json_text {
        char *data;
        size_t len, cap;
        bool failed; /* out of memory: everything after is dropped */
} rf_json_text_t;

/* Appends @p n bytes as they are (JSON punctuation, numbers, keys the caller knows are plain). */
void rf_json_text_raw(rf_json_text_t *t, const char *s, size_t n);

/* Appends a NUL-terminated literal as it is. */
void rf_json_text_lit(rf_json_text_t *t, const char *s);

/* Appends @p s as a quoted, escaped JSON string; null when @p s is NULL. */
void rf_json_text_string(rf_json_text_t *t, const char *s);

/* Opens an object or array ('{' or '['), after a comma when it follows
 * another value: the separator comes from what was written last. */
void rf_json_text_open(rf_json_text_t *t, char bracket);

/* Appends the member name @p name (escaped) and its colon, after a comma
 * unless it is the object's first. */
void rf_json_text_key(rf_json_text_t *t, const char *name);

/* Appends a decimal integer. */
void rf_json_text_int(rf_json_text_t *t, long long v);

/* The NUL-terminated text, which the caller frees; NULL if an allocation
 * failed. Leaves @p t empty. */
char *rf_json_text_take(rf_json_text_t *t);

/* Frees what @p t holds (after an error path). */
void rf_json_text_free(rf_json_text_t *t);
