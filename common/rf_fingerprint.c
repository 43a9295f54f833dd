/* SPDX-License-Identifier: Apache-2.0 */
/* rf_fingerprint: Avro Parsing Canonical Form (PCF) and CRC-64-AVRO.
 *
 * The canonical form is written by walking the parsed JSON once and emitting
 * text directly, rather than building a normalized jansson tree and dumping
 * it: the specification fixes the attribute order (name, type, fields,
 * symbols, items, values, size) and forbids \u escapes in the output, and a
 * hand-written emitter states both exactly instead of relying on a JSON
 * library's ordering and escaping flags.
 *
 * Every string the walk emits is a validated Avro name, a primitive type name
 * or one of the fixed keywords, so none needs JSON escaping; jansson has
 * already replaced any escape in the input by its UTF-8 bytes [STRINGS]. */
#include "rf_fingerprint.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Schemas nest far less than this; the bound keeps a hostile schema from
 * exhausting the stack. */
#define MAX_DEPTH 128

static const char *const primitives[] = {
        "null", "boolean", "int", "long", "float", "double", "bytes", "string", NULL,
};

typedef struct pcf {
        char *buf;
        size_t len, cap;
        bool oom;
        json_t *defined; /* set of fullnames defined so far (keys) */
        char *errstr;
        size_t errstr_size;
} pcf_t;

static int fail(pcf_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(pcf_t *p, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (p->errstr_size > 0)
                vsnprintf(p->errstr, p->errstr_size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static void put(pcf_t *p, const char *s) {
        size_t n = strlen(s);

        if (p->oom)
                return;
        if (p->len + n + 1 > p->cap) {
                size_t cap = p->cap ? p->cap : 256;
                char *b;

                while (cap < p->len + n + 1)
                        cap *= 2;
                b = realloc(p->buf, cap);
                if (!b) {
                        p->oom = true;
                        return;
                }
                p->buf = b;
                p->cap = cap;
        }
        memcpy(p->buf + p->len, s, n + 1);
        p->len += n;
}

static void put_quoted(pcf_t *p, const char *s) {
        put(p, "\"");
        put(p, s);
        put(p, "\"");
}

static bool is_primitive(const char *s) {
        for (size_t i = 0; primitives[i]; i++)
                if (strcmp(s, primitives[i]) == 0)
                        return true;
        return false;
}

/* [A-Za-z_][A-Za-z0-9_]* over the @p len bytes at @p s. */
static bool is_simple_name_n(const char *s, size_t len) {
        if (len == 0)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';

                if (!alpha && (i == 0 || c < '0' || c > '9'))
                        return false;
        }
        return true;
}

static bool is_simple_name(const char *s) {
        return is_simple_name_n(s, strlen(s));
}

/* Dot-separated simple names; no empty component. */
static bool is_dotted_name(const char *s) {
        for (;;) {
                const char *dot = strchr(s, '.');
                size_t n = dot ? (size_t)(dot - s) : strlen(s);

                if (!is_simple_name_n(s, n))
                        return false;
                if (!dot)
                        return true;
                s = dot + 1;
        }
}

/* "ns.name", or "name" in the null namespace. The caller frees. */
static char *qualify(const char *name, const char *ns) {
        char *r;

        if (!ns || !*ns)
                return strdup(name);
        if (asprintf(&r, "%s.%s", ns, name) < 0)
                return NULL;
        return r;
}

static int emit(pcf_t *p, json_t *s, const char *ns, int depth);

/* A name used as a type: a primitive, or a named type defined earlier. */
static int emit_reference(pcf_t *p, const char *name, const char *ns) {
        char *full;

        if (is_primitive(name)) {
                put_quoted(p, name);
                return 0;
        }
        if (!is_dotted_name(name))
                return fail(p, "invalid type name \"%s\"", name);
        full = strchr(name, '.') ? strdup(name) : qualify(name, ns);
        if (!full)
                return -ENOMEM;
        if (!json_object_get(p->defined, full)) {
                int r = fail(p, "unknown type \"%s\" (looked up as \"%s\")", name, full);
                free(full);
                return r;
        }
        put_quoted(p, full);
        free(full);
        return 0;
}

/* Works out the fullname of the named type @p s and the namespace its
 * nested definitions inherit ([FULLNAMES]), and records it as defined.
 * *ret_full and *ret_ns are the caller's to free (*ret_ns may be NULL:
 * the null namespace). */
static int define_name(pcf_t *p, json_t *s, const char *type, const char *ns, char **ret_full, char **ret_ns) {
        json_t *jname = json_object_get(s, "name"), *jns = json_object_get(s, "namespace");
        const char *name, *dot;
        char *full = NULL, *space = NULL;

        if (!json_is_string(jname))
                return fail(p, "%s without a string \"name\"", type);
        name = json_string_value(jname);
        if (!is_dotted_name(name))
                return fail(p, "invalid %s name \"%s\"", type, name);
        if (jns && !json_is_null(jns)) {
                if (!json_is_string(jns))
                        return fail(p, "%s \"%s\": \"namespace\" is not a string", type, name);
                /* "" names the null namespace. */
                if (*json_string_value(jns) && !is_dotted_name(json_string_value(jns)))
                        return fail(p, "%s \"%s\": invalid namespace \"%s\"", type, name, json_string_value(jns));
        }

        dot = strrchr(name, '.');
        if (dot) {
                /* A dotted name is already full; an explicit namespace is ignored. */
                full = strdup(name);
                space = strndup(name, (size_t)(dot - name));
        } else {
                const char *use = jns && json_is_string(jns) ? json_string_value(jns) : ns;

                full = qualify(name, use);
                space = use && *use ? strdup(use) : NULL;
                if (use && *use && !space) {
                        free(full);
                        return -ENOMEM;
                }
        }
        if (!full || (dot && !space)) {
                free(full);
                free(space);
                return -ENOMEM;
        }
        if (is_primitive(full) || json_object_get(p->defined, full)) {
                int r = fail(p, "%s \"%s\" %s", type, full,
                             is_primitive(full) ? "redefines a primitive type" : "is defined twice");
                free(full);
                free(space);
                return r;
        }
        /* Before the body, so the type may refer to itself. */
        if (json_object_set_new(p->defined, full, json_true()) < 0) {
                free(full);
                free(space);
                return -ENOMEM;
        }
        *ret_full = full;
        *ret_ns = space;
        return 0;
}

static int emit_record(pcf_t *p, json_t *s, const char *type, const char *ns, int depth) {
        json_t *fields = json_object_get(s, "fields"), *f;
        char *full = NULL, *space = NULL;
        size_t i;
        int r;

        r = define_name(p, s, type, ns, &full, &space);
        if (r < 0)
                return r;
        if (!json_is_array(fields)) {
                r = fail(p, "%s \"%s\" without a \"fields\" array", type, full);
                goto out;
        }
        put(p, "{\"name\":");
        put_quoted(p, full);
        put(p, ",\"type\":");
        put_quoted(p, type);
        put(p, ",\"fields\":[");
        json_array_foreach(fields, i, f) {
                json_t *fname = json_object_get(f, "name"), *ftype = json_object_get(f, "type");

                if (!json_is_string(fname) || !is_simple_name(json_string_value(fname))) {
                        r = fail(p, "%s \"%s\": field %zu has no valid \"name\"", type, full, i);
                        goto out;
                }
                /* Field names are unique within a record. */
                for (size_t j = 0; j < i; j++)
                        if (json_equal(json_object_get(json_array_get(fields, j), "name"), fname)) {
                                r = fail(p, "%s \"%s\": field \"%s\" appears twice", type, full,
                                         json_string_value(fname));
                                goto out;
                        }
                if (!ftype) {
                        r = fail(p, "%s \"%s\": field \"%s\" has no \"type\"", type, full, json_string_value(fname));
                        goto out;
                }
                put(p, i ? ",{\"name\":" : "{\"name\":");
                put_quoted(p, json_string_value(fname));
                put(p, ",\"type\":");
                r = emit(p, ftype, space, depth + 1);
                if (r < 0)
                        goto out;
                put(p, "}");
        }
        put(p, "]}");
        r = 0;
out:
        free(full);
        free(space);
        return r;
}

static int emit_enum(pcf_t *p, json_t *s, const char *ns) {
        json_t *symbols = json_object_get(s, "symbols"), *sym;
        char *full = NULL, *space = NULL;
        size_t i;
        int r;

        r = define_name(p, s, "enum", ns, &full, &space);
        if (r < 0)
                return r;
        if (!json_is_array(symbols)) {
                r = fail(p, "enum \"%s\" without a \"symbols\" array", full);
                goto out;
        }
        put(p, "{\"name\":");
        put_quoted(p, full);
        put(p, ",\"type\":\"enum\",\"symbols\":[");
        json_array_foreach(symbols, i, sym) {
                if (!json_is_string(sym) || !is_simple_name(json_string_value(sym))) {
                        r = fail(p, "enum \"%s\": symbol %zu is not a valid name", full, i);
                        goto out;
                }
                for (size_t j = 0; j < i; j++)
                        if (json_equal(json_array_get(symbols, j), sym)) {
                                r = fail(p, "enum \"%s\": symbol \"%s\" appears twice", full, json_string_value(sym));
                                goto out;
                        }
                if (i)
                        put(p, ",");
                put_quoted(p, json_string_value(sym));
        }
        put(p, "]}");
        r = 0;
out:
        free(full);
        free(space);
        return r;
}

static int emit_fixed(pcf_t *p, json_t *s, const char *ns) {
        json_t *jsize = json_object_get(s, "size");
        char *full = NULL, *space = NULL, num[32];
        long long size = -1;
        int r;

        r = define_name(p, s, "fixed", ns, &full, &space);
        if (r < 0)
                return r;
        if (json_is_integer(jsize))
                size = json_integer_value(jsize);
        else if (json_is_string(jsize)) {
                /* [INTEGERS]: a quoted size loses its quotes and leading zeros. */
                const char *t = json_string_value(jsize);
                char *end;

                if (*t >= '0' && *t <= '9') {
                        errno = 0;
                        size = strtoll(t, &end, 10);
                        if (errno || *end)
                                size = -1;
                }
        }
        if (size < 0 || size > INT32_MAX) {
                r = fail(p, "fixed \"%s\" without a valid \"size\"", full);
                goto out;
        }
        snprintf(num, sizeof(num), "%lld", size);
        put(p, "{\"name\":");
        put_quoted(p, full);
        put(p, ",\"type\":\"fixed\",\"size\":");
        put(p, num);
        put(p, "}");
out:
        free(full);
        free(space);
        return r;
}

static int emit(pcf_t *p, json_t *s, const char *ns, int depth) {
        const char *type;
        json_t *jtype, *branch;
        size_t i;
        int r;

        if (depth > MAX_DEPTH)
                return fail(p, "schema nested deeper than %d levels", MAX_DEPTH);

        if (json_is_string(s))
                return emit_reference(p, json_string_value(s), ns);

        if (json_is_array(s)) {
                put(p, "[");
                json_array_foreach(s, i, branch) {
                        if (json_is_array(branch))
                                return fail(p, "a union may not contain a union directly");
                        if (i)
                                put(p, ",");
                        r = emit(p, branch, ns, depth + 1);
                        if (r < 0)
                                return r;
                }
                put(p, "]");
                return 0;
        }

        if (!json_is_object(s))
                return fail(p, "a schema must be a string, an array or an object");
        jtype = json_object_get(s, "type");
        if (!json_is_string(jtype))
                return fail(p, "schema object without a string \"type\"");
        type = json_string_value(jtype);

        /* [PRIMITIVES]: {"type":"int", "logicalType":...} is just "int". */
        if (is_primitive(type)) {
                put_quoted(p, type);
                return 0;
        }
        if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0)
                return emit_record(p, s, type, ns, depth);
        if (strcmp(type, "enum") == 0)
                return emit_enum(p, s, ns);
        if (strcmp(type, "fixed") == 0)
                return emit_fixed(p, s, ns);
        if (strcmp(type, "array") == 0 || strcmp(type, "map") == 0) {
                bool array = type[0] == 'a';
                json_t *inner = json_object_get(s, array ? "items" : "values");

                if (!inner)
                        return fail(p, "%s without \"%s\"", type, array ? "items" : "values");
                put(p, array ? "{\"type\":\"array\",\"items\":" : "{\"type\":\"map\",\"values\":");
                r = emit(p, inner, ns, depth + 1);
                if (r < 0)
                        return r;
                put(p, "}");
                return 0;
        }
        /* {"type":"SomeRecord"}: a reference written as an object. */
        return emit_reference(p, type, ns);
}

int rf_avro_canonical_form(const char *schema_json, char **ret_pcf, char *errstr, size_t errstr_size) {
        pcf_t p = { .errstr = errstr, .errstr_size = errstr_size };
        json_error_t jerr;
        json_t *root;
        int r;

        root = json_loads(schema_json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return fail(&p, "schema is not valid JSON (line %d, column %d): %s", jerr.line, jerr.column, jerr.text);
        p.defined = json_object();
        if (!p.defined) {
                r = -ENOMEM;
                goto out;
        }
        r = emit(&p, root, NULL, 0);
        if (r == 0 && p.oom)
                r = -ENOMEM;
        if (r == -ENOMEM)
                fail(&p, "out of memory");
        if (r < 0)
                goto out;
        *ret_pcf = p.buf;
        p.buf = NULL;
out:
        free(p.buf);
        json_decref(p.defined);
        json_decref(root);
        return r;
}

/* The specification's reference code steps a 256-entry table; stepping the
 * eight bits of each byte directly gives the same value (the step is linear
 * over GF(2)) without a table to initialize, and schemas are short. */
uint64_t rf_crc64_avro(const void *buf, size_t len) {
        const unsigned char *b = buf;
        uint64_t fp = RF_CRC64_AVRO_EMPTY;

        for (size_t i = 0; i < len; i++) {
                fp ^= b[i];
                for (int j = 0; j < 8; j++)
                        fp = (fp >> 1) ^ (RF_CRC64_AVRO_EMPTY & (0 - (fp & 1)));
        }
        return fp;
}

int rf_avro_fingerprint(const char *schema_json, uint64_t *ret_fp, char *errstr, size_t errstr_size) {
        char *pcf = NULL;
        int r;

        r = rf_avro_canonical_form(schema_json, &pcf, errstr, errstr_size);
        if (r < 0)
                return r;
        *ret_fp = rf_crc64_avro(pcf, strlen(pcf));
        free(pcf);
        return 0;
}
