/* SPDX-License-Identifier: Apache-2.0 */
/* rf_log: one JSON object per line on stderr (time, level, program, event,
 * message and any ids), or an aligned human-readable line when stderr is a
 * terminal. Programs log; common/ returns errors and leaves logging to them. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

typedef enum rf_log_level {
        RF_LOG_DEBUG,
        RF_LOG_INFO,
        RF_LOG_WARN,
        RF_LOG_ERROR,
} rf_log_level_t;

/* Names the program in every line; @p program must outlive the process. */
void rf_log_init(const char *program);

/* Forces the JSON format (true) or the human format (false) whatever stderr is. */
void rf_log_set_json(bool json);

void rf_log_set_min_level(rf_log_level_t level);

/* "debug", "info", "warn" or "error" into @p ret; -EINVAL for anything else. */
int rf_log_level_parse(const char *name, rf_log_level_t *ret);

/* Whether a line of @p level would be written: lets a hot path skip
 * building the fields of a line nobody reads. */
bool rf_log_enabled(rf_log_level_t level);

/* Writes one line. @p fields (may be NULL) is a JSON object whose members are
 * added to the line; the call takes it over (steals the reference). */
void rf_log(rf_log_level_t level, const char *event, json_t *fields, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* As rf_log, with the fields already written as JSON object members
 * (rf_json_text_key and a value, one after the other: "k":v,"k2":v2), for
 * lines written once per execution: building and walking a jansson object
 * per line cost a worker more than the rest of the line (callgrind). */
void rf_log_members(rf_log_level_t level, const char *event, const char *members, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
#define rf_log_info(event, fields, ...) rf_log(RF_LOG_INFO, event, fields, __VA_ARGS__)
#define rf_log_warn(event, fields, ...) rf_log(RF_LOG_WARN, event, fields, __VA_ARGS__)
#define rf_log_error(event, fields, ...) rf_log(RF_LOG_ERROR, event, fields, __VA_ARGS__)
#define rf_log_debug(event, fields, ...) rf_log(RF_LOG_DEBUG, event, fields, __VA_ARGS__)
