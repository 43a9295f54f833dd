/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the OTLP/JSON span encoder (common/rf_otlp.c) and the trace
 * context helpers it relies on (common/rf_trace.c).
 *
 * The input is read as a byte of flags, then strings separated by NUL
 * bytes, taken in turn: per span (up to 8; flags & 7 more than one) a trace
 * id, a span id, a parent id, a name, a status message, an attribute count
 * byte and that many key/value pairs (a value starting with '#' is an
 * integer attribute). With flag 0x80 the ids are used raw (mostly
 * malformed, which the encoder must refuse); without, they are made valid
 * from the strings (rf_trace_id_of(), rf_trace_decision_span_id()), so the
 * encoding itself is exercised.
 *
 * Expected: malformed ids give -EINVAL and no output; valid spans give
 * JSON that jansson accepts (so valid UTF-8, whatever bytes the names and
 * values held) with exactly the spans, ids, attributes, times and status
 * put in, and names/values that were valid UTF-8 come back unchanged.
 * Also: rf_trace_id_of() always gives a valid trace id; a traceparent that
 * parses formats back to itself; a redacted URL keeps no query, fragment
 * or user:password@. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rf_otlp.h"
#include "rf_trace.h"
#include "rf_util.h"

#define MAX_SPANS 8

typedef struct cursor {
        const char *p, *end;
} cursor_t;

/* The next NUL-terminated string of the input (the input is copied with a
 * final NUL, so the last one ends too); "" past the end. */
static const char *take(cursor_t *c) {
        const char *s = c->p;

        if (c->p >= c->end)
                return "";
        c->p += strlen(s) + 1;
        return s;
}

static bool valid_utf8(const char *s) {
        for (size_t i = 0; s[i];) {
                size_t k = (unsigned char)s[i] < 0x80 ? 1 : rf_utf8_char_length(s + i, SIZE_MAX);
                if (!k)
                        return false;
                i += k;
        }
        return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void)argc;
        (void)argv;
        return 0;
}

static void check_helpers(const char *s) {
        char t[RF_TRACE_ID_HEX], sp[RF_SPAN_ID_HEX], tp[RF_TRACEPARENT_SIZE], url[256];

        rf_trace_id_of(s, t);
        FUZZ_ASSERT(rf_trace_hex_valid(t, 32), "trace id of '%s' is '%s'", s, t);
        if (rf_traceparent_parse(s, t, sp) == 0) {
                FUZZ_ASSERT(rf_traceparent_format(t, sp, tp) == 0, "parsed ids do not format");
                FUZZ_ASSERT(strncmp(tp, s, 53) == 0, "'%s' formats back as '%s'", s, tp);
        }
        rf_trace_url_redact(s, url, sizeof(url));
        FUZZ_ASSERT(!strpbrk(url, "?#"), "redacted '%s' keeps a query or fragment: '%s'", s, url);
        {
                const char *host = strstr(url, "://");
                const char *slash = host ? strchr(host + 3, '/') : NULL;
                const char *at = host ? strchr(host + 3, '@') : NULL;
                FUZZ_ASSERT(!at || (slash && at > slash), "redacted '%s' keeps a user part: '%s'", s, url);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        rf_span_t spans[MAX_SPANS];
        char *copy, *json = NULL, errstr[256];
        cursor_t c;
        size_t n, len = 0;
        unsigned flags;
        bool raw, all_valid = true;
        json_t *doc, *list;
        int r;

        if (size < 1)
                return 0;
        flags = data[0];
        raw = flags & 0x80;
        n = 1 + (flags & 7);
        copy = malloc(size);
        if (!copy)
                return 0;
        memcpy(copy, data + 1, size - 1);
        copy[size - 1] = '\0';
        c.p = copy;
        c.end = copy + size - 1;

        for (size_t i = 0; i < n; i++) {
                const char *tid = take(&c), *sid = take(&c), *pid = take(&c), *name = take(&c), *msg = take(&c);
                const char *count = take(&c);
                char t[RF_TRACE_ID_HEX], s[RF_SPAN_ID_HEX], p[RF_SPAN_ID_HEX] = "";
                size_t attrs = (unsigned char)count[0] % (RF_SPAN_MAX_ATTRS + 3);

                check_helpers(tid);
                if (raw) {
                        snprintf(t, sizeof(t), "%s", tid);
                        snprintf(s, sizeof(s), "%s", sid);
                        snprintf(p, sizeof(p), "%s", pid);
                } else {
                        rf_trace_id_of(tid, t);
                        rf_trace_decision_span_id(sid, (int)i, s);
                        if (pid[0])
                                rf_trace_decision_span_id(pid, 1, p);
                }
                FUZZ_ASSERT(rf_span_init(&spans[i], t, s, p, name, (rf_span_kind_t)(1 + i % 5),
                                         (uint64_t)strlen(name) * UINT64_C(1000000007)) == 0,
                            "span_init");
                spans[i].end_ns = spans[i].start_ns + strlen(msg);
                for (size_t a = 0; a < attrs; a++) {
                        const char *key = take(&c), *value = take(&c);
                        if (value[0] == '#')
                                rf_span_attr_int(&spans[i], key, strtoll(value + 1, NULL, 10));
                        else
                                rf_span_attr_str(&spans[i], key, value);
                }
                rf_span_set_status(&spans[i], (rf_span_status_t)(strlen(msg) % 3), msg);
                if (!rf_span_valid(&spans[i]))
                        all_valid = false;
        }

        r = rf_otlp_encode("fuzz", "instance", spans, n, &json, &len, errstr, sizeof(errstr));
        if (!all_valid) {
                FUZZ_ASSERT(r == -EINVAL && json == NULL, "malformed ids accepted (r=%d)", r);
                goto out;
        }
        FUZZ_ASSERT(r == 0 && json && strlen(json) == len, "valid spans refused: %d %s", r, errstr);
        doc = json_loadb(json, len, 0, NULL);
        FUZZ_ASSERT(doc, "not JSON: %.200s", json);
        list = json_object_get(
                json_array_get(json_object_get(json_array_get(json_object_get(doc, "resourceSpans"), 0), "scopeSpans"),
                               0),
                "spans");
        FUZZ_ASSERT(json_array_size(list) == n, "%zu spans out of %zu", json_array_size(list), n);
        for (size_t i = 0; i < n; i++) {
                json_t *sp = json_array_get(list, i), *attrs = json_object_get(sp, "attributes");
                char num[24];

                FUZZ_ASSERT(strcmp(json_string_value(json_object_get(sp, "traceId")), spans[i].trace_id) == 0,
                            "traceId");
                FUZZ_ASSERT(strcmp(json_string_value(json_object_get(sp, "spanId")), spans[i].span_id) == 0, "spanId");
                FUZZ_ASSERT(spans[i].parent_span_id[0] ? strcmp(json_string_value(json_object_get(sp, "parentSpanId")),
                                                                spans[i].parent_span_id) == 0
                                                       : json_object_get(sp, "parentSpanId") == NULL,
                            "parentSpanId");
                snprintf(num, sizeof(num), "%" PRIu64, spans[i].start_ns);
                FUZZ_ASSERT(strcmp(json_string_value(json_object_get(sp, "startTimeUnixNano")), num) == 0, "start");
                FUZZ_ASSERT(json_integer_value(json_object_get(json_object_get(sp, "status"), "code")) ==
                                    spans[i].status,
                            "status");
                FUZZ_ASSERT(json_array_size(attrs) == spans[i].attr_count, "attributes");
                if (valid_utf8(spans[i].name) && strlen(spans[i].name) < RF_OTLP_MAX_VALUE)
                        FUZZ_ASSERT(strcmp(json_string_value(json_object_get(sp, "name")), spans[i].name) == 0, "name");
                for (size_t a = 0; a < spans[i].attr_count; a++) {
                        json_t *v = json_object_get(json_array_get(attrs, a), "value");
                        const rf_span_attr_t *in = &spans[i].attrs[a];
                        if (!in->str) {
                                snprintf(num, sizeof(num), "%" PRId64, in->num);
                                FUZZ_ASSERT(strcmp(json_string_value(json_object_get(v, "intValue")), num) == 0,
                                            "intValue");
                        } else if (valid_utf8(in->str) && strlen(in->str) < RF_OTLP_MAX_VALUE) {
                                FUZZ_ASSERT(strcmp(json_string_value(json_object_get(v, "stringValue")), in->str) == 0,
                                            "stringValue");
                        }
                }
        }
        json_decref(doc);
out:
        free(json);
        for (size_t i = 0; i < n; i++)
                rf_span_clear(&spans[i]);
        free(copy);
        return 0;
}
