/* SPDX-License-Identifier: Apache-2.0 */
/* causes: errors grouped by what caused them, across workflows. A defect
 * shared by every scraper (the incident of 2026-01-20: one failing import
 * in a common base class) shows up as many failed calls in many workflows
 * with the same answer; read one by one they look like many problems, and
 * grouped they are one. Two errors have the same cause when they have the
 * same kind (outcome, or execution status), the same HTTP status and the
 * same message once what varies between occurrences of one failure --
 * numbers, ids, addresses -- is set aside. No I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAUSE_TEXT_MAX 256

/* One cause. @p text is the message of its first occurrence (first line,
 * "HTTP 500: " and a JSON wrapper taken off); workflows are copies. */
typedef struct cause {
        char key[CAUSE_TEXT_MAX + 48];
        char kind[24];   /* HTTP_ERROR, TIMEOUT, CONNECT_ERROR, ERROR; or an execution status */
        int http_status; /* 0 when there was no HTTP answer */
        char text[CAUSE_TEXT_MAX];
        int calls;      /* failed scraper calls */
        int executions; /* failed executions that recorded no failed call (a lease that ran out...) */
        char **workflows;
        size_t workflow_count;
        int64_t first_ms, last_ms;
} cause_t;

typedef struct causes {
        cause_t *list;
        size_t count, cap;
} causes_t;

/* The message an error is known by: its first line, without the worker's
 * "HTTP 500: " prefix; when what follows is a JSON object with a string
 * "error", "message" or "detail", that string (first line). Into @p buf. */
void cause_message(const char *error, char *buf, size_t size);

/* The grouping key of @p message: runs of digits, and hexadecimal or
 * UUID-like runs that hold a digit and are 8 characters or more, become
 * '#'. "lease expired (worker host-8812-1a2b)" and "... host-9034-77c1)"
 * are one cause. Into @p buf. */
void cause_mask(const char *message, char *buf, size_t size);

/* Adds one error of @p workflow at @p at_ms. @p is_call: a failed scraper
 * call (kind = its outcome), else a failed execution (kind = its status).
 * Returns 0 or -ENOMEM. */
int causes_add(causes_t *c, const char *workflow, bool is_call, const char *kind, int http_status, const char *error,
               int64_t at_ms);

/* Orders the causes: most occurrences first, then earliest. */
void causes_sort(causes_t *c);

/* 'HTTP 500 "Failed to load scraper … oddsa_events"': the kind and the
 * message, a long message cut in the middle at word boundaries. */
void cause_label(const cause_t *cause, char *buf, size_t size);

void causes_free(causes_t *c);
