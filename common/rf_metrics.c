/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rf_metrics.h"

#define SERIES_HASH 64
#define DROPPED_NAME "runfleet_metrics_samples_dropped_total"

static const double bucket_bounds[RF_METRICS_BUCKET_COUNT] = RF_METRICS_BUCKETS;

/* One label combination of a metric. */
typedef struct series {
        struct series *chain;                      /* same hash slot */
        struct series *next;                       /* creation order, which is render order */
        char **values;                             /* label_count strings */
        double value;                              /* counter, gauge */
        uint64_t buckets[RF_METRICS_BUCKET_COUNT]; /* histogram, per bucket (not cumulative) */
        uint64_t count;                            /* histogram */
        double sum;                                /* histogram */
} series_t;

struct rf_metric {
        rf_metrics_t *reg;
        rf_metric_t *next;
        rf_metric_type_t type;
        char *name;
        char *help;
        char *labels[RF_METRICS_MAX_LABELS];
        size_t label_count;
        series_t *slots[SERIES_HASH];
        series_t *first, *last;
        size_t series_count;
};

struct rf_metrics {
        pthread_mutex_t lock;
        rf_metric_t *first, *last;
        size_t max_series, series_count;
        uint64_t dropped;
};

/* --- registry -------------------------------------------------------- */

rf_metrics_t *rf_metrics_new(size_t max_series) {
        rf_metrics_t *reg = calloc(1, sizeof(*reg));

        if (!reg)
                return NULL;
        if (pthread_mutex_init(&reg->lock, NULL) != 0) {
                free(reg);
                return NULL;
        }
        reg->max_series = max_series ? max_series : RF_METRICS_MAX_SERIES;
        return reg;
}

static void series_free(series_t *s, size_t label_count) {
        if (!s)
                return;
        for (size_t i = 0; s->values && i < label_count; i++)
                free(s->values[i]);
        free(s->values);
        free(s);
}

static void metric_drop_series(rf_metric_t *m) {
        series_t *next;

        for (series_t *s = m->first; s; s = next) {
                next = s->next;
                series_free(s, m->label_count);
        }
        m->reg->series_count -= m->series_count;
        m->series_count = 0;
        m->first = m->last = NULL;
        memset(m->slots, 0, sizeof(m->slots));
}

static void metric_free(rf_metric_t *m) {
        metric_drop_series(m);
        for (size_t i = 0; i < m->label_count; i++)
                free(m->labels[i]);
        free(m->name);
        free(m->help);
        free(m);
}

void rf_metrics_destroy(rf_metrics_t *reg) {
        rf_metric_t *next;

        if (!reg)
                return;
        for (rf_metric_t *m = reg->first; m; m = next) {
                next = m->next;
                metric_free(m);
        }
        pthread_mutex_destroy(&reg->lock);
        free(reg);
}

static rf_metrics_t *default_reg;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void) {
        default_reg = rf_metrics_new(0);
}

rf_metrics_t *rf_metrics_default(void) {
        pthread_once(&default_once, default_init);
        return default_reg;
}

/* --- names ----------------------------------------------------------- */

static bool valid_metric_name(const char *s) {
        if (!s || !*s || !(s[0] == '_' || s[0] == ':' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
                return false;
        for (; *s; s++)
                if (!(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9')))
                        return false;
        return true;
}

static bool valid_label_name(const char *s, rf_metric_type_t type) {
        if (!s || !*s || (s[0] >= '0' && s[0] <= '9') || strncmp(s, "__", 2) == 0)
                return false;
        if (type == RF_METRIC_HISTOGRAM && strcmp(s, "le") == 0)
                return false; /* the bucket label */
        for (; *s; s++)
                if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
                        return false;
        return true;
}

/* Splits "a, b" into m->labels. Returns 0 or -EINVAL / -ENOMEM. */
static int parse_labels(rf_metric_t *m, const char *labels) {
        const char *p = labels && *labels ? labels : NULL;

        while (p) {
                const char *end = strchr(p, ',');
                size_t len = end ? (size_t)(end - p) : strlen(p);
                char *name;

                while (len > 0 && *p == ' ') {
                        p++;
                        len--;
                }
                while (len > 0 && p[len - 1] == ' ')
                        len--;
                if (m->label_count == RF_METRICS_MAX_LABELS)
                        return -EINVAL;
                name = strndup(p, len);
                if (!name)
                        return -ENOMEM;
                m->labels[m->label_count++] = name;
                if (!valid_label_name(name, m->type))
                        return -EINVAL;
                for (size_t i = 0; i + 1 < m->label_count; i++)
                        if (strcmp(m->labels[i], name) == 0)
                                return -EINVAL;
                p = end ? end + 1 : NULL;
        }
        return 0;
}

static bool same_definition(const rf_metric_t *a, const rf_metric_t *b) {
        if (a->type != b->type || a->label_count != b->label_count)
                return false;
        for (size_t i = 0; i < a->label_count; i++)
                if (strcmp(a->labels[i], b->labels[i]) != 0)
                        return false;
        return true;
}

/* --- series ---------------------------------------------------------- */

static unsigned hash_values(const char *const *values, size_t n) {
        uint32_t h = 2166136261u; /* FNV-1a */

        for (size_t i = 0; i < n; i++) {
                for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
                        h = (h ^ *p) * 16777619u;
                h = (h ^ 0xff) * 16777619u; /* separator: ("ab","") != ("a","b") */
        }
        return h % SERIES_HASH;
}

/* Text exposition is UTF-8; a value that is not is refused, not mangled. */
static bool valid_utf8(const char *s) {
        const unsigned char *p = (const unsigned char *)s;

        while (*p) {
                int n = *p < 0x80             ? 0
                        : (*p & 0xe0) == 0xc0 ? 1
                        : (*p & 0xf0) == 0xe0 ? 2
                        : (*p & 0xf8) == 0xf0 ? 3
                                              : -1;
                if (n < 0 || (n == 1 && *p < 0xc2))
                        return false;
                p++;
                for (int i = 0; i < n; i++, p++)
                        if ((*p & 0xc0) != 0x80)
                                return false;
        }
        return true;
}

static series_t *series_find(rf_metric_t *m, const char *const *values, unsigned slot) {
        for (series_t *s = m->slots[slot]; s; s = s->chain) {
                size_t i = 0;
                while (i < m->label_count && strcmp(s->values[i], values[i]) == 0)
                        i++;
                if (i == m->label_count)
                        return s;
        }
        return NULL;
}

/* The series for @p values, created when new and within the bounds; NULL
 * (and a dropped sample) otherwise. Called with the registry locked. */
static series_t *series_get(rf_metric_t *m, const char *const *values) {
        rf_metrics_t *reg = m->reg;
        unsigned slot = hash_values(values, m->label_count);
        series_t *s = series_find(m, values, slot);

        if (s)
                return s;
        if (reg->series_count >= reg->max_series)
                goto drop;
        for (size_t i = 0; i < m->label_count; i++)
                if (strlen(values[i]) > RF_METRICS_MAX_LABEL_VALUE || !valid_utf8(values[i]))
                        goto drop;
        s = calloc(1, sizeof(*s));
        if (!s)
                goto drop;
        if (m->label_count > 0) {
                s->values = calloc(m->label_count, sizeof(*s->values));
                if (!s->values)
                        goto drop_free;
                for (size_t i = 0; i < m->label_count; i++) {
                        s->values[i] = strdup(values[i]);
                        if (!s->values[i])
                                goto drop_free;
                }
        }
        s->chain = m->slots[slot];
        m->slots[slot] = s;
        if (m->last)
                m->last->next = s;
        else
                m->first = s;
        m->last = s;
        m->series_count++;
        reg->series_count++;
        return s;
drop_free:
        series_free(s, m->label_count);
drop:
        reg->dropped++;
        return NULL;
}

rf_metric_t *rf_metrics_register(rf_metrics_t *reg, rf_metric_type_t type, const char *name, const char *help,
                                 const char *labels) {
        rf_metric_t *m, *old;

        if (!reg || !valid_metric_name(name) || strcmp(name, DROPPED_NAME) == 0)
                return NULL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->reg = reg;
        m->type = type;
        m->name = strdup(name);
        m->help = strdup(help ? help : "");
        if (!m->name || !m->help || parse_labels(m, labels) < 0) {
                metric_free(m);
                return NULL;
        }
        pthread_mutex_lock(&reg->lock);
        for (old = reg->first; old; old = old->next)
                if (strcmp(old->name, name) == 0)
                        break;
        if (old) {
                bool same = same_definition(old, m);
                pthread_mutex_unlock(&reg->lock);
                metric_free(m);
                return same ? old : NULL;
        }
        if (reg->last)
                reg->last->next = m;
        else
                reg->first = m;
        reg->last = m;
        if (m->label_count == 0)
                series_get(m, NULL); /* "name 0" from the start: rate() needs a beginning */
        pthread_mutex_unlock(&reg->lock);
        return m;
}

rf_metric_t *rf_metrics_counter(const char *name, const char *help, const char *labels) {
        return rf_metrics_register(rf_metrics_default(), RF_METRIC_COUNTER, name, help, labels);
}

rf_metric_t *rf_metrics_gauge(const char *name, const char *help, const char *labels) {
        return rf_metrics_register(rf_metrics_default(), RF_METRIC_GAUGE, name, help, labels);
}

rf_metric_t *rf_metrics_histogram(const char *name, const char *help, const char *labels) {
        return rf_metrics_register(rf_metrics_default(), RF_METRIC_HISTOGRAM, name, help, labels);
}

/* --- updates --------------------------------------------------------- */

/* @p op names the operation by the type it applies to: COUNTER adds (to a
 * counter or a gauge), GAUGE sets, HISTOGRAM observes. */
void rf_metrics_update(rf_metric_t *m, rf_metric_type_t op, double value, const char *const *values) {
        series_t *s;

        if (!m || isnan(value))
                return;
        if (op == RF_METRIC_HISTOGRAM ? m->type != RF_METRIC_HISTOGRAM
            : op == RF_METRIC_GAUGE   ? m->type != RF_METRIC_GAUGE
                                      : m->type == RF_METRIC_HISTOGRAM)
                return;
        if (op == RF_METRIC_COUNTER && m->type == RF_METRIC_COUNTER && value < 0)
                return; /* counters only go up */
        pthread_mutex_lock(&m->reg->lock);
        s = series_get(m, values);
        if (s) {
                if (op == RF_METRIC_COUNTER)
                        s->value += value;
                else if (op == RF_METRIC_GAUGE)
                        s->value = value;
                else {
                        size_t i = 0;
                        while (i < RF_METRICS_BUCKET_COUNT && value > bucket_bounds[i])
                                i++;
                        if (i < RF_METRICS_BUCKET_COUNT)
                                s->buckets[i]++;
                        s->count++;
                        s->sum += value;
                }
        }
        pthread_mutex_unlock(&m->reg->lock);
}

static void update_va(rf_metric_t *m, rf_metric_type_t op, double value, va_list ap) {
        const char *values[RF_METRICS_MAX_LABELS];

        if (!m)
                return;
        for (size_t i = 0; i < m->label_count; i++) {
                const char *v = va_arg(ap, const char *);
                values[i] = v ? v : "";
        }
        rf_metrics_update(m, op, value, values);
}

void rf_metrics_inc(rf_metric_t *m, double value, ...) {
        va_list ap;

        va_start(ap, value);
        update_va(m, RF_METRIC_COUNTER, value, ap);
        va_end(ap);
}

void rf_metrics_set(rf_metric_t *m, double value, ...) {
        va_list ap;

        va_start(ap, value);
        update_va(m, RF_METRIC_GAUGE, value, ap);
        va_end(ap);
}

void rf_metrics_observe(rf_metric_t *m, double value, ...) {
        va_list ap;

        va_start(ap, value);
        update_va(m, RF_METRIC_HISTOGRAM, value, ap);
        va_end(ap);
}

void rf_metrics_clear(rf_metric_t *m) {
        if (!m)
                return;
        pthread_mutex_lock(&m->reg->lock);
        metric_drop_series(m);
        if (m->label_count == 0)
                series_get(m, NULL);
        pthread_mutex_unlock(&m->reg->lock);
}

double rf_metrics_value(rf_metric_t *m, ...) {
        const char *values[RF_METRICS_MAX_LABELS];
        series_t *s;
        double v = 0;
        va_list ap;

        if (!m)
                return 0;
        va_start(ap, m);
        for (size_t i = 0; i < m->label_count; i++) {
                const char *x = va_arg(ap, const char *);
                values[i] = x ? x : "";
        }
        va_end(ap);
        pthread_mutex_lock(&m->reg->lock);
        s = series_find(m, values, hash_values(values, m->label_count));
        if (s)
                v = m->type == RF_METRIC_HISTOGRAM ? (double)s->count : s->value;
        pthread_mutex_unlock(&m->reg->lock);
        return v;
}

/* --- rendering ------------------------------------------------------- */

typedef struct buf {
        char *data;
        size_t len, cap;
        bool failed;
} buf_t;

static void buf_grow(buf_t *b, size_t need) {
        size_t cap = b->cap ? b->cap : 4096;
        char *data;

        while (cap < b->len + need + 1)
                cap *= 2;
        if (cap == b->cap)
                return;
        data = realloc(b->data, cap);
        if (!data) {
                b->failed = true;
                return;
        }
        b->data = data;
        b->cap = cap;
}

static void buf_add(buf_t *b, const char *s, size_t n) {
        if (b->failed)
                return;
        buf_grow(b, n);
        if (b->failed)
                return;
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
}

static void buf_str(buf_t *b, const char *s) {
        buf_add(b, s, strlen(s));
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void buf_escaped(buf_t *b, const char *s, bool quote) {
        for (; *s; s++) {
                if (*s == '\\')
                        buf_add(b, "\\\\", 2);
                else if (*s == '\n')
                        buf_add(b, "\\n", 2);
                else if (quote && *s == '"')
                        buf_add(b, "\\\"", 2);
                else
                        buf_add(b, s, 1);
        }
}

/* The shortest of %.15g and %.17g that reads back as @p v: counts print as
 * integers, 0.1 prints as 0.1. */
static void format_number(double v, char *out, size_t size) {
        if (isnan(v))
                snprintf(out, size, "NaN");
        else if (isinf(v))
                snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        else {
                snprintf(out, size, "%.15g", v);
                if (strtod(out, NULL) != v)
                        snprintf(out, size, "%.17g", v);
        }
}

static void buf_number(buf_t *b, double v) {
        char num[40];

        format_number(v, num, sizeof(num));
        buf_str(b, num);
}

/* name{a="x",b="y"[,le="..."]} value */
static void render_sample(buf_t *b, const rf_metric_t *m, const char *suffix, const series_t *s, const char *le,
                          double value) {
        buf_str(b, m->name);
        buf_str(b, suffix);
        if (m->label_count > 0 || le) {
                buf_add(b, "{", 1);
                for (size_t i = 0; i < m->label_count; i++) {
                        if (i > 0)
                                buf_add(b, ",", 1);
                        buf_str(b, m->labels[i]);
                        buf_add(b, "=\"", 2);
                        buf_escaped(b, s->values[i], true);
                        buf_add(b, "\"", 1);
                }
                if (le) {
                        if (m->label_count > 0)
                                buf_add(b, ",", 1);
                        buf_str(b, "le=\"");
                        buf_str(b, le);
                        buf_add(b, "\"", 1);
                }
                buf_add(b, "}", 1);
        }
        buf_add(b, " ", 1);
        buf_number(b, value);
        buf_add(b, "\n", 1);
}

static void render_header(buf_t *b, const char *name, const char *help, const char *type) {
        buf_str(b, "# HELP ");
        buf_str(b, name);
        buf_add(b, " ", 1);
        buf_escaped(b, help, false);
        buf_str(b, "\n# TYPE ");
        buf_str(b, name);
        buf_add(b, " ", 1);
        buf_str(b, type);
        buf_add(b, "\n", 1);
}

static void render_metric(buf_t *b, const rf_metric_t *m) {
        static const char *const types[] = { "counter", "gauge", "histogram" };

        /* a family without samples is left out, as client libraries do */
        if (!m->first)
                return;
        render_header(b, m->name, m->help, types[m->type]);
        for (const series_t *s = m->first; s; s = s->next) {
                if (m->type != RF_METRIC_HISTOGRAM) {
                        render_sample(b, m, "", s, NULL, s->value);
                        continue;
                }
                uint64_t cumulative = 0;
                for (size_t i = 0; i < RF_METRICS_BUCKET_COUNT; i++) {
                        char le[40];
                        cumulative += s->buckets[i];
                        format_number(bucket_bounds[i], le, sizeof(le));
                        render_sample(b, m, "_bucket", s, le, (double)cumulative);
                }
                render_sample(b, m, "_bucket", s, "+Inf", (double)s->count);
                render_sample(b, m, "_sum", s, NULL, s->sum);
                render_sample(b, m, "_count", s, NULL, (double)s->count);
        }
}

int rf_metrics_render(rf_metrics_t *reg, char **ret_text, size_t *ret_len) {
        buf_t b = { 0 };

        if (!reg)
                reg = rf_metrics_default();
        if (!reg)
                return -ENOMEM;
        buf_grow(&b, 0);
        pthread_mutex_lock(&reg->lock);
        for (const rf_metric_t *m = reg->first; m; m = m->next)
                render_metric(&b, m);
        render_header(&b, DROPPED_NAME,
                      "Samples refused because the series limit was reached or a label value was unusable.", "counter");
        buf_str(&b, DROPPED_NAME " ");
        buf_number(&b, (double)reg->dropped);
        buf_add(&b, "\n", 1);
        pthread_mutex_unlock(&reg->lock);
        if (b.failed) {
                free(b.data);
                return -ENOMEM;
        }
        *ret_text = b.data;
        if (ret_len)
                *ret_len = b.len;
        return 0;
}

int rf_metrics_write(rf_metrics_t *reg, FILE *out) {
        char *text = NULL;
        size_t len = 0;
        int r = rf_metrics_render(reg, &text, &len);

        if (r < 0)
                return r;
        if (fwrite(text, 1, len, out) != len)
                r = -EIO;
        free(text);
        return r;
}
