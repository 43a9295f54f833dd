/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rf_json_text.h"
#include "rf_log.h"

static const char *log_program = "runfleet";
static int log_json = -1; /* -1: decide from isatty(2) on first use */
static rf_log_level_t log_min_level = RF_LOG_INFO;
/* librdkafka and libcurl callbacks may log from their own threads; one lock
 * keeps each line whole. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void rf_log_init(const char *program) {
        log_program = program;
}

void rf_log_set_json(bool json) {
        log_json = json;
}

void rf_log_set_min_level(rf_log_level_t level) {
        log_min_level = level;
}

int rf_log_level_parse(const char *name, rf_log_level_t *ret) {
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
                if (strcmp(name, level_names[i]) == 0) {
                        *ret = (rf_log_level_t)i;
                        return 0;
                }
        return -EINVAL;
}

bool rf_log_enabled(rf_log_level_t level) {
        return level >= log_min_level;
}

static void format_time(char *buf, size_t size) {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* @p members: JSON object members already written, in place of @p fields. */
static void write_human(const char *when, rf_log_level_t level, const char *event, const char *msg, json_t *fields,
                        const char *members) {
        const char *key;
        json_t *value;

        fprintf(stderr, "%s %-5s %-12s %-24s %s", when + 11, level_names[level], log_program, event, msg);
        json_object_foreach(fields, key, value) {
                char *text = json_is_string(value) ? NULL : json_dumps(value, JSON_ENCODE_ANY);
                fprintf(stderr, " %s=%s", key, text ? text : json_string_value(value));
                free(text);
        }
        if (members && *members)
                fprintf(stderr, " %s", members);
        fputc('\n', stderr);
}

/* One JSON object: the five header members, then @p fields (those with a
 * header member's name are dropped) or @p members as written. Written as
 * text: a worker logs a line per execution, and building and dumping a
 * jansson object per line cost more than the rest of the line's work. */
static char *json_line(const char *when, rf_log_level_t level, const char *event, const char *msg, json_t *fields,
                       const char *members) {
        static const char *const header[] = { "time", "level", "program", "event", "msg" };
        const char *values[] = { when, level_names[level], log_program, event, msg };
        rf_json_text_t t = { 0 };
        const char *key;
        json_t *value;

        rf_json_text_open(&t, '{');
        for (size_t i = 0; i < 5; i++) {
                rf_json_text_key(&t, header[i]);
                rf_json_text_string(&t, values[i]);
        }
        json_object_foreach(fields, key, value) {
                bool taken = false;
                char *other;

                for (size_t i = 0; i < 5; i++)
                        taken = taken || strcmp(key, header[i]) == 0;
                if (taken)
                        continue;
                rf_json_text_key(&t, key);
                if (json_is_string(value)) {
                        rf_json_text_string(&t, json_string_value(value));
                } else if (json_is_integer(value)) {
                        rf_json_text_int(&t, json_integer_value(value));
                } else {
                        other = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
                        rf_json_text_lit(&t, other ? other : "null");
                        free(other);
                }
        }
        if (members && *members) {
                rf_json_text_raw(&t, ",", 1);
                rf_json_text_lit(&t, members);
        }
        rf_json_text_lit(&t, "}");
        return rf_json_text_take(&t);
}

__attribute__((format(printf, 5, 0))) static void emit(rf_log_level_t level, const char *event, json_t *fields,
                                                       const char *members, const char *fmt, va_list ap) {
        char when[40], msg[2048];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        format_time(when, sizeof(when));
        pthread_mutex_lock(&log_lock);
        if (log_json < 0)
                log_json = !isatty(STDERR_FILENO);
        if (log_json) {
                char *text = json_line(when, level, event, msg, fields, members);
                if (text)
                        fprintf(stderr, "%s\n", text);
                free(text);
        } else {
                write_human(when, level, event, msg, fields, members);
        }
        fflush(stderr);
        pthread_mutex_unlock(&log_lock);
}

void rf_log(rf_log_level_t level, const char *event, json_t *fields, const char *fmt, ...) {
        va_list ap;

        if (level >= log_min_level) {
                va_start(ap, fmt);
                emit(level, event, fields, NULL, fmt, ap);
                va_end(ap);
        }
        json_decref(fields);
}

void rf_log_members(rf_log_level_t level, const char *event, const char *members, const char *fmt, ...) {
        va_list ap;

        if (level < log_min_level)
                return;
        va_start(ap, fmt);
        emit(level, event, NULL, members, fmt, ap);
        va_end(ap);
}
