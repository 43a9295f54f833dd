/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_otlp.h"
#include "rf_util.h"

int rf_span_init(rf_span_t *span, const char *trace_id, const char *span_id, const char *parent, const char *name,
                 rf_span_kind_t kind, uint64_t start_ns) {
        memset(span, 0, sizeof(*span));
        snprintf(span->trace_id, sizeof(span->trace_id), "%s", trace_id ? trace_id : "");
        snprintf(span->span_id, sizeof(span->span_id), "%s", span_id ? span_id : "");
        snprintf(span->parent_span_id, sizeof(span->parent_span_id), "%s", parent ? parent : "");
        span->kind = kind;
        span->start_ns = start_ns;
        span->end_ns = start_ns;
        span->name = strdup(name ? name : "");
        return span->name ? 0 : -ENOMEM;
}

void rf_span_attr_str(rf_span_t *span, const char *key, const char *value) {
        rf_span_attr_t *a;

        if (span->attr_count >= RF_SPAN_MAX_ATTRS || !key || !value)
                return;
        a = &span->attrs[span->attr_count];
        a->key = key;
        a->str = strndup(value, RF_OTLP_MAX_VALUE);
        if (a->str)
                span->attr_count++;
}

void rf_span_attr_int(rf_span_t *span, const char *key, int64_t value) {
        rf_span_attr_t *a;

        if (span->attr_count >= RF_SPAN_MAX_ATTRS || !key)
                return;
        a = &span->attrs[span->attr_count++];
        a->key = key;
        a->str = NULL;
        a->num = value;
}

void rf_span_set_status(rf_span_t *span, rf_span_status_t status, const char *message) {
        span->status = status;
        free(span->status_message);
        span->status_message = message && status == RF_SPAN_STATUS_ERROR ? strndup(message, RF_OTLP_MAX_VALUE) : NULL;
}

void rf_span_clear(rf_span_t *span) {
        if (!span)
                return;
        free(span->name);
        free(span->status_message);
        for (size_t i = 0; i < span->attr_count; i++)
                free(span->attrs[i].str);
        memset(span, 0, sizeof(*span));
}

bool rf_span_valid(const rf_span_t *span) {
        return rf_trace_hex_valid(span->trace_id, 32) && rf_trace_hex_valid(span->span_id, 16) &&
               (!span->parent_span_id[0] || rf_trace_hex_valid(span->parent_span_id, 16)) &&
               (!span->link_trace_id[0] ||
                (rf_trace_hex_valid(span->link_trace_id, 32) && rf_trace_hex_valid(span->link_span_id, 16))) &&
               span->name && span->kind >= RF_SPAN_INTERNAL && span->kind <= RF_SPAN_CONSUMER &&
               span->status >= RF_SPAN_STATUS_UNSET && span->status <= RF_SPAN_STATUS_ERROR;
}

/* @p s as a JSON string: at most RF_OTLP_MAX_VALUE bytes, every byte that
 * does not start a well-formed UTF-8 character replaced by U+FFFD (jansson
 * refuses invalid UTF-8, and a collector would refuse the whole request). */
static json_t *utf8_string(const char *s) {
        size_t n = strnlen(s, RF_OTLP_MAX_VALUE), o = 0;
        char *buf = malloc(n * 3 + 1);
        json_t *j;

        if (!buf)
                return NULL;
        for (size_t i = 0; i < n;) {
                unsigned char c = (unsigned char)s[i];
                size_t k;

                if (c < 0x80) {
                        buf[o++] = (char)c;
                        i++;
                        continue;
                }
                k = rf_utf8_char_length(s + i, n - i);
                if (k) {
                        memcpy(buf + o, s + i, k);
                        o += k;
                        i += k;
                } else {
                        memcpy(buf + o, "\xef\xbf\xbd", 3);
                        o += 3;
                        i++;
                }
        }
        j = json_stringn(buf, o);
        free(buf);
        return j;
}

static json_t *any_value(const rf_span_attr_t *a) {
        char num[24];

        if (a->str)
                return json_pack("{s:o}", "stringValue", utf8_string(a->str));
        snprintf(num, sizeof(num), "%" PRId64, a->num);
        return json_pack("{s:s}", "intValue", num);
}

static json_t *key_value(const char *key, json_t *value) {
        return json_pack("{s:o, s:o}", "key", utf8_string(key), "value", value);
}

static json_t *encode_span(const rf_span_t *sp) {
        char start[24], end[24];
        json_t *attrs = json_array(), *span, *status;

        snprintf(start, sizeof(start), "%" PRIu64, sp->start_ns);
        snprintf(end, sizeof(end), "%" PRIu64, sp->end_ns < sp->start_ns ? sp->start_ns : sp->end_ns);
        for (size_t i = 0; attrs && i < sp->attr_count; i++)
                if (json_array_append_new(attrs, key_value(sp->attrs[i].key, any_value(&sp->attrs[i]))) < 0) {
                        json_decref(attrs);
                        return NULL;
                }
        status = json_pack("{s:i}", "code", (int)sp->status);
        if (status && sp->status == RF_SPAN_STATUS_ERROR && sp->status_message)
                json_object_set_new(status, "message", utf8_string(sp->status_message));
        span = json_pack("{s:s, s:s, s:o, s:i, s:s, s:s, s:o, s:o}", "traceId", sp->trace_id, "spanId", sp->span_id,
                         "name", utf8_string(sp->name), "kind", (int)sp->kind, "startTimeUnixNano", start,
                         "endTimeUnixNano", end, "attributes", attrs, "status", status);
        if (span && sp->parent_span_id[0] &&
            json_object_set_new(span, "parentSpanId", json_string(sp->parent_span_id)) < 0) {
                json_decref(span);
                return NULL;
        }
        if (span && sp->link_trace_id[0]) {
                json_t *links = json_pack("[{s:s, s:s}]", "traceId", sp->link_trace_id, "spanId", sp->link_span_id);
                if (json_object_set_new(span, "links", links) < 0) {
                        json_decref(span);
                        return NULL;
                }
        }
        return span;
}

int rf_otlp_encode(const char *service_name, const char *instance_id, const rf_span_t *spans, size_t n, char **ret_json,
                   size_t *ret_len, char *errstr, size_t errstr_size) {
        json_t *list = json_array(), *res_attrs = json_array(), *doc = NULL;
        char *text = NULL;
        int r = -ENOMEM;

        if (!list || !res_attrs)
                goto out;
        for (size_t i = 0; i < n; i++) {
                if (!rf_span_valid(&spans[i])) {
                        snprintf(errstr, errstr_size, "span %zu (%.64s): malformed trace, span or parent id", i,
                                 spans[i].name ? spans[i].name : "?");
                        r = -EINVAL;
                        goto out;
                }
                if (json_array_append_new(list, encode_span(&spans[i])) < 0)
                        goto out;
        }
        if (json_array_append_new(
                    res_attrs,
                    key_value("service.name", json_pack("{s:o}", "stringValue",
                                                        utf8_string(service_name ? service_name : "runfleet")))) < 0)
                goto out;
        if (instance_id &&
            json_array_append_new(res_attrs, key_value("service.instance.id", json_pack("{s:o}", "stringValue",
                                                                                        utf8_string(instance_id)))) < 0)
                goto out;
        doc = json_pack("{s:[{s:{s:O}, s:[{s:{s:s, s:s}, s:O}]}]}", "resourceSpans", "resource", "attributes",
                        res_attrs, "scopeSpans", "scope", "name", "runfleet", "version", RF_VERSION, "spans", list);
        if (!doc)
                goto out;
        text = json_dumps(doc, JSON_COMPACT);
        if (!text)
                goto out;
        *ret_len = strlen(text);
        *ret_json = text;
        r = 0;
out:
        json_decref(doc);
        json_decref(list);
        json_decref(res_attrs);
        return r;
}
