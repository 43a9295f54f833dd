/* SPDX-License-Identifier: Apache-2.0 */
/* Errors grouped by cause; see causes.h. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "causes.h"

#define LABEL_MAX 60 /* longer messages are cut in the middle */
#define LABEL_HEAD 28
#define LABEL_TAIL 24

/* Copies the first line of @p s, trimmed, into @p buf. */
static void first_line(const char *s, char *buf, size_t size) {
        size_t n;

        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
                s++;
        n = strcspn(s, "\r\n");
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                n--;
        snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), s);
}

void cause_message(const char *error, char *buf, size_t size) {
        const char *s = error ? error : "";
        json_t *doc;

        /* the worker writes "HTTP 500: <start of the body>" */
        if (strncmp(s, "HTTP ", 5) == 0 && isdigit((unsigned char)s[5])) {
                const char *colon = strstr(s, ": ");
                if (colon && colon - s <= 9)
                        s = colon + 2;
        }
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
                s++;
        if (*s == '{' && (doc = json_loads(s, JSON_DISABLE_EOF_CHECK, NULL))) {
                static const char *const fields[] = { "error", "message", "detail" };
                for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                        const char *v = json_string_value(json_object_get(doc, fields[i]));
                        if (v && *v) {
                                first_line(v, buf, size);
                                json_decref(doc);
                                return;
                        }
                }
                json_decref(doc);
        }
        first_line(s, buf, size);
}

static bool word_char(char ch) {
        return isalnum((unsigned char)ch) || ch == '_' || (unsigned char)ch >= 0x80;
}

void cause_mask(const char *message, char *buf, size_t size) {
        size_t out = 0;

        for (const char *p = message; *p && out + 1 < size;) {
                size_t run = 0, digits = 0, letters = 0;

                /* a whole word of hex digits and '-' holding a digit: a number,
                 * a date, or (8 characters or more) an id */
                if (p == message || !word_char(p[-1])) {
                        while (isxdigit((unsigned char)p[run]) || p[run] == '-') {
                                digits += isdigit((unsigned char)p[run]) != 0;
                                letters += isalpha((unsigned char)p[run]) != 0;
                                run++;
                        }
                        if (digits > 0 && !word_char(p[run]) && (letters == 0 || run >= 8)) {
                                buf[out++] = '#';
                                p += run;
                                continue;
                        }
                }
                if (isdigit((unsigned char)*p)) {
                        /* digits inside a word: "host8812", "v2" */
                        while (isdigit((unsigned char)*p))
                                p++;
                        buf[out++] = '#';
                        continue;
                }
                buf[out++] = *p++;
        }
        buf[out] = '\0';
}

static bool has_workflow(const cause_t *c, const char *workflow) {
        for (size_t i = 0; i < c->workflow_count; i++)
                if (strcmp(c->workflows[i], workflow) == 0)
                        return true;
        return false;
}

int causes_add(causes_t *c, const char *workflow, bool is_call, const char *kind, int http_status, const char *error,
               int64_t at_ms) {
        char message[CAUSE_TEXT_MAX], masked[CAUSE_TEXT_MAX], key[sizeof(((cause_t *)0)->key)];
        cause_t *g = NULL;

        cause_message(error, message, sizeof(message));
        cause_mask(message, masked, sizeof(masked));
        snprintf(key, sizeof(key), "%s|%d|%s", kind, http_status, masked);
        for (size_t i = 0; i < c->count && !g; i++)
                if (strcmp(c->list[i].key, key) == 0)
                        g = &c->list[i];
        if (!g) {
                if (c->count == c->cap) {
                        size_t cap = c->cap ? 2 * c->cap : 8;
                        cause_t *list = realloc(c->list, cap * sizeof(*list));
                        if (!list)
                                return -ENOMEM;
                        c->list = list;
                        c->cap = cap;
                }
                g = &c->list[c->count++];
                memset(g, 0, sizeof(*g));
                snprintf(g->key, sizeof(g->key), "%s", key);
                snprintf(g->kind, sizeof(g->kind), "%s", kind);
                g->http_status = http_status;
                snprintf(g->text, sizeof(g->text), "%s", message);
                g->first_ms = g->last_ms = at_ms;
        }
        if (!has_workflow(g, workflow)) {
                char **list = realloc(g->workflows, (g->workflow_count + 1) * sizeof(*list));
                if (!list)
                        return -ENOMEM;
                g->workflows = list;
                list[g->workflow_count] = strdup(workflow);
                if (!list[g->workflow_count])
                        return -ENOMEM;
                g->workflow_count++;
        }
        if (is_call)
                g->calls++;
        else
                g->executions++;
        if (at_ms < g->first_ms)
                g->first_ms = at_ms;
        if (at_ms > g->last_ms)
                g->last_ms = at_ms;
        return 0;
}

static int by_weight(const void *a, const void *b) {
        const cause_t *x = a, *y = b;
        int wx = x->calls + x->executions, wy = y->calls + y->executions;

        if (wx != wy)
                return wx > wy ? -1 : 1;
        return x->first_ms < y->first_ms ? -1 : x->first_ms > y->first_ms;
}

void causes_sort(causes_t *c) {
        if (c->count > 1)
                qsort(c->list, c->count, sizeof(*c->list), by_weight);
}

/* "Failed to load scraper … oddsa_events" from a long message: the head up
 * to a clause or word boundary, the tail from the last word boundary. */
static void elide(const char *msg, char *buf, size_t size) {
        size_t len = strlen(msg), head = 0, end = len, tail;

        if (len <= LABEL_MAX) {
                snprintf(buf, size, "%s", msg);
                return;
        }
        /* head: the last ": " / ". " / ", " within the window, else the last space */
        for (size_t i = 8; i < LABEL_HEAD; i++)
                if (strchr(":.,;", msg[i]) && msg[i + 1] == ' ')
                        head = i;
        if (head == 0)
                for (size_t i = 8; i < LABEL_HEAD; i++)
                        if (msg[i] == ' ')
                                head = i;
        if (head == 0)
                for (head = LABEL_HEAD; head > 0 && ((unsigned char)msg[head] & 0xC0) == 0x80; head--)
                        ;
        while (head > 0 && strchr(".:,; ", msg[head - 1]))
                head--;
        /* tail: the last word, without closing quotes and punctuation */
        while (end > 0 && !word_char(msg[end - 1]))
                end--;
        tail = end;
        while (tail > 0 && end - tail < LABEL_TAIL && word_char(msg[tail - 1]))
                tail--;
        if (end - tail < 4 || (tail > 0 && word_char(msg[tail - 1]))) {
                /* no short last word: the last LABEL_TAIL bytes, whole characters */
                tail = end > LABEL_TAIL ? end - LABEL_TAIL : 0;
                while (tail < end && ((unsigned char)msg[tail] & 0xC0) == 0x80)
                        tail++;
        }
        if (tail < head)
                tail = head;
        snprintf(buf, size, "%.*s \u2026 %.*s", (int)head, msg, (int)(end - tail), msg + tail);
}

void cause_label(const cause_t *cause, char *buf, size_t size) {
        char text[LABEL_MAX * 2];

        elide(cause->text, text, sizeof(text));
        if (cause->http_status > 0 && strcmp(cause->kind, "HTTP_ERROR") == 0)
                snprintf(buf, size, "HTTP %d \"%s\"", cause->http_status, text);
        else if (cause->http_status > 0)
                snprintf(buf, size, "%s (HTTP %d) \"%s\"", cause->kind, cause->http_status, text);
        else
                snprintf(buf, size, "%s \"%s\"", cause->kind, text);
}

void causes_free(causes_t *c) {
        for (size_t i = 0; i < c->count; i++) {
                for (size_t k = 0; k < c->list[i].workflow_count; k++)
                        free(c->list[i].workflows[k]);
                free(c->list[i].workflows);
        }
        free(c->list);
        memset(c, 0, sizeof(*c));
}
