/* SPDX-License-Identifier: Apache-2.0 */
/* rf_decision: the RUN decision codec (Avro single-object encoding).
 *
 * Schemas. Every embedded schemas/run_decision.v<N>.avsc is a known writer,
 * named on the wire by the CRC-64-AVRO fingerprint of its Parsing Canonical
 * Form; the highest N is the reader and the only schema the encoder writes.
 * A message from an older (or registered newer) writer is read through an
 * avro-c resolved writer into a value of the reader schema. The registry is
 * built once (pthread_once) and only grows afterwards (test hook), under a
 * rwlock; entries are never freed, so a decoder may use one after unlocking.
 *
 * Newer writers, without a registry. A producer upgraded before its
 * workers writes with a schema they were not built with; a worker learns it
 * from the directory named by RUNFLEET_DECISION_SCHEMA_DIR (like TZDIR for
 * zones): every *.avsc file there is a known writer from first use, resolved
 * to the reader like the embedded ones. Deploying a new schema is copying
 * its .avsc there (a ConfigMap in Kubernetes) before the producer uses it.
 * A file that cannot be read or resolved is skipped, not fatal: every
 * other writer keeps working, and the reason is added to the refusal of
 * any message with an unknown fingerprint, so it shows in the DLQ header.
 *
 * Hostile input. avro-c's binary reader trusts length prefixes: it allocates
 * what a string length says before checking that the bytes exist, writes
 * out of bounds for a negative length, leaks the buffer when the read then
 * fails, and loops on a huge array count. So no byte reaches avro-c before
 * validate_body() has walked the whole body against the writer schema and
 * shown that every length and count fits in what remains, every varint is
 * at most 10 bytes, every union branch and enum index exists, every string
 * is UTF-8 without NUL, and nothing trails the body. After that, avro-c
 * allocates at most a constant factor of the input length, and its reader
 * cannot fail halfway (where it would leak). */
#include "rf_decision.h"

#include <avro.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_embedded.h"
#include "rf_fingerprint.h"
#include "rf_util.h"

#define SCHEMA_PREFIX "run_decision.v"
#define SCHEMA_SUFFIX ".avsc"
#define SCHEMA_DIR_ENV "RUNFLEET_DECISION_SCHEMA_DIR"
#define SCHEMA_FILE_MAX (256 * 1024)

/* Deeper than any sane message; stops a recursive writer schema from
 * recursing on the stack without consuming input. */
#define MAX_DEPTH 32

static const unsigned char soe_marker[2] = { 0xc3, 0x01 };

typedef struct writer {
        uint64_t fingerprint;
        char label[64]; /* embedded file name, or "registered" */
        avro_schema_t schema;
        avro_value_iface_t *resolver; /* writer → reader; NULL for the reader itself */
} writer_t;

static struct {
        pthread_once_t once;
        int error; /* init failure, negative errno */
        char errstr[256];
        const writer_t *reader;
        avro_value_iface_t *reader_class;
        pthread_rwlock_t lock; /* guards writers, n_writers */
        writer_t **writers;
        size_t n_writers, cap;
        char dir_errstr[300];    /* first file of SCHEMA_DIR_ENV skipped, and why */
        const char *reader_json; /* the embedded text of the reader schema */
        /* Schema Registry ids (Confluent framing) → writer, a bounded
         * table: a slot is reused round-robin once it is full. Writers
         * are never freed, so an evicted id only costs a fetch again. */
        struct {
                int32_t id;
                const writer_t *w;
        } ids[RF_DECISION_MAX_SCHEMA_IDS];
        size_t n_ids, next_id_slot;
        size_t n_by_id; /* writers added for a registry id (bounded too) */
} reg = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_RWLOCK_INITIALIZER };

/* avro-c's last error as one line (avro_strerror() may hold newlines). */
static const char *avro_error_line(char *buf, size_t size) {
        snprintf(buf, size, "%s", avro_strerror());
        for (char *c = buf; *c; c++)
                if (*c == '\n' || *c == '\r')
                        *c = ' ';
        return buf;
}

/* ---- schema registry ---------------------------------------------------- */

/* "run_decision.v<N>.avsc" → N; -1 for any other name. */
static long schema_version(const char *name) {
        const char *p = name + strlen(SCHEMA_PREFIX);
        long v = 0;

        if (strncmp(name, SCHEMA_PREFIX, strlen(SCHEMA_PREFIX)) != 0 || *p < '0' || *p > '9')
                return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > 100000)
                        return -1;
                v = v * 10 + (*p - '0');
        }
        return strcmp(p, SCHEMA_SUFFIX) == 0 ? v : -1;
}

static void writer_free(writer_t *w) {
        if (!w)
                return;
        if (w->resolver)
                avro_value_iface_decref(w->resolver);
        if (w->schema)
                avro_schema_decref(w->schema);
        free(w);
}

/* Parses @p json (NUL-terminated) into a writer; no resolver yet. */
static int writer_new(const char *json, const char *label, writer_t **ret, char *errstr, size_t errstr_size) {
        char msg[256], aerr[200];
        writer_t *w;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        snprintf(w->label, sizeof(w->label), "%s", label);
        r = rf_avro_fingerprint(json, &w->fingerprint, msg, sizeof(msg));
        if (r < 0) {
                rf_seterr(errstr, errstr_size, "%s: %s", label, msg);
                goto fail;
        }
        if (avro_schema_from_json_length(json, strlen(json), &w->schema) != 0) {
                rf_seterr(errstr, errstr_size, "%s: avro-c rejects the schema: %s", label,
                          avro_error_line(aerr, sizeof(aerr)));
                w->schema = NULL;
                r = -EINVAL;
                goto fail;
        }
        if (!is_avro_record(w->schema)) {
                rf_seterr(errstr, errstr_size, "%s: not a record schema", label);
                r = -EINVAL;
                goto fail;
        }
        *ret = w;
        return 0;
fail:
        writer_free(w);
        return r;
}

/* ---- resolvability, checked before avro-c is asked ---------------------
 *
 * avro-c 1.11.1's avro_resolved_writer_new() frees resolvers twice on its
 * failure path (a use-after-free, and a crash with our own schemas), so it is
 * only called once this check has shown that it will succeed. The rules are
 * avro-c's, made stricter where avro-c would go wrong quietly: a reader field
 * must exist in the writer (avro-c ignores defaults), primitives promote as
 * the specification says but string and bytes do not mix, enums need the
 * same symbols in the same order (avro-c maps them by index, not by name),
 * and every branch of a writer union must resolve (avro-c would fail only
 * when a message uses the bad branch, halfway through a read). */

typedef struct pair {
        avro_schema_t w, r;
        const struct pair *up;
} pair_t;

static avro_schema_t follow(avro_schema_t s) {
        while (s && is_avro_link(s))
                s = avro_schema_link_target(s);
        return s;
}

static bool promotes(avro_type_t w, avro_type_t r) {
        if (w == r)
                return true;
        switch (w) {
        case AVRO_INT32:
                return r == AVRO_INT64 || r == AVRO_FLOAT || r == AVRO_DOUBLE;
        case AVRO_INT64:
                return r == AVRO_FLOAT || r == AVRO_DOUBLE;
        case AVRO_FLOAT:
                return r == AVRO_DOUBLE;
        default:
                return false;
        }
}

static int check_resolvable(avro_schema_t w, avro_schema_t r, const char *where, const pair_t *up, int depth,
                            char *errstr, size_t errstr_size);

/* Whether avro-c would pick reader branch @p r for writer @p w. */
static bool same_kind(avro_schema_t w, avro_schema_t r) {
        if (!promotes(avro_typeof(w), avro_typeof(r)))
                return false;
        switch (avro_typeof(w)) {
        case AVRO_RECORD:
        case AVRO_ENUM:
                return strcmp(avro_schema_name(w), avro_schema_name(r)) == 0;
        case AVRO_FIXED:
                return avro_schema_equal(w, r);
        default:
                return true;
        }
}

/* Non-union writer against a non-union reader. */
static int check_same_kind(avro_schema_t w, avro_schema_t r, const char *where, const pair_t *up, int depth,
                           char *errstr, size_t errstr_size) {
        avro_type_t wt = avro_typeof(w), rt = avro_typeof(r);
        char sub[160];
        int n;

        if (wt != rt && !promotes(wt, rt)) {
                rf_seterr(errstr, errstr_size, "%s: writer type %s does not resolve to reader type %s", where,
                          avro_schema_type_name(w), avro_schema_type_name(r));
                return -EINVAL;
        }
        switch (wt) {
        case AVRO_ARRAY:
                snprintf(sub, sizeof(sub), "%s[]", where);
                return check_resolvable(avro_schema_array_items(w), avro_schema_array_items(r), sub, up, depth + 1,
                                        errstr, errstr_size);
        case AVRO_MAP:
                snprintf(sub, sizeof(sub), "%s{}", where);
                return check_resolvable(avro_schema_map_values(w), avro_schema_map_values(r), sub, up, depth + 1,
                                        errstr, errstr_size);
        case AVRO_FIXED:
                if (!avro_schema_equal(w, r)) {
                        rf_seterr(errstr, errstr_size, "%s: fixed types differ in name or size", where);
                        return -EINVAL;
                }
                return 0;
        case AVRO_ENUM:
                n = avro_schema_enum_number_of_symbols(w);
                if (strcmp(avro_schema_name(w), avro_schema_name(r)) != 0 ||
                    n != avro_schema_enum_number_of_symbols(r)) {
                        rf_seterr(errstr, errstr_size, "%s: enums differ in name or symbols", where);
                        return -EINVAL;
                }
                for (int i = 0; i < n; i++)
                        if (strcmp(avro_schema_enum_get(w, i), avro_schema_enum_get(r, i)) != 0) {
                                rf_seterr(errstr, errstr_size, "%s: enum symbol %d differs", where, i);
                                return -EINVAL;
                        }
                return 0;
        case AVRO_RECORD: {
                size_t rn = avro_schema_record_size(r);

                if (strcmp(avro_schema_name(w), avro_schema_name(r)) != 0) {
                        rf_seterr(errstr, errstr_size, "%s: writer record %s is not reader record %s", where,
                                  avro_schema_name(w), avro_schema_name(r));
                        return -EINVAL;
                }
                for (size_t i = 0; i < rn; i++) {
                        const char *name = avro_schema_record_field_name(r, (int)i);
                        int wi = avro_schema_record_field_get_index(w, name);
                        int res;

                        snprintf(sub, sizeof(sub), "%s.%s", where, name);
                        if (wi < 0) {
                                rf_seterr(errstr, errstr_size,
                                          "%s: reader field missing from the writer (avro-c applies no defaults)", sub);
                                return -EINVAL;
                        }
                        res = check_resolvable(avro_schema_record_field_get_by_index(w, wi),
                                               avro_schema_record_field_get_by_index(r, (int)i), sub, up, depth + 1,
                                               errstr, errstr_size);
                        if (res < 0)
                                return res;
                }
                return 0;
        }
        default:
                return 0;
        }
}

static int check_resolvable(avro_schema_t w, avro_schema_t r, const char *where, const pair_t *up, int depth,
                            char *errstr, size_t errstr_size) {
        pair_t here;
        char sub[160];
        int res;

        w = follow(w);
        r = follow(r);
        /* A recursive pair already being checked holds if the rest does. */
        for (const pair_t *p = up; p; p = p->up)
                if (p->w == w && p->r == r)
                        return 0;
        if (depth > MAX_DEPTH) {
                rf_seterr(errstr, errstr_size, "%s: schemas nest too deeply", where);
                return -EINVAL;
        }
        here = (pair_t){ .w = w, .r = r, .up = up };

        if (is_avro_union(w)) {
                for (size_t i = 0; i < avro_schema_union_size(w); i++) {
                        snprintf(sub, sizeof(sub), "%s<%zu>", where, i);
                        res = check_resolvable(avro_schema_union_branch(w, (int)i), r, sub, &here, depth + 1, errstr,
                                               errstr_size);
                        if (res < 0)
                                return res;
                }
                return 0;
        }
        if (is_avro_union(r)) {
                /* avro-c takes the first reader branch of a matching kind,
                 * and fails if that branch then does not resolve. */
                for (size_t i = 0; i < avro_schema_union_size(r); i++) {
                        avro_schema_t b = follow(avro_schema_union_branch(r, (int)i));

                        if (same_kind(w, b))
                                return check_same_kind(w, b, where, &here, depth + 1, errstr, errstr_size);
                }
                rf_seterr(errstr, errstr_size, "%s: writer type %s matches no branch of the reader union", where,
                          avro_schema_type_name(w));
                return -EINVAL;
        }
        return check_same_kind(w, r, where, &here, depth, errstr, errstr_size);
}

static int writer_resolve(writer_t *w, const writer_t *reader, char *errstr, size_t errstr_size) {
        char aerr[200], why[200];

        if (check_resolvable(w->schema, reader->schema, avro_schema_name(reader->schema), NULL, 0, why, sizeof(why)) <
            0) {
                rf_seterr(errstr, errstr_size,
                          "%s (fingerprint 0x%016" PRIx64 ") cannot be resolved to the reader schema %s: %s", w->label,
                          w->fingerprint, reader->label, why);
                return -EINVAL;
        }
        w->resolver = avro_resolved_writer_new(w->schema, reader->schema);
        if (!w->resolver) {
                rf_seterr(errstr, errstr_size,
                          "%s (fingerprint 0x%016" PRIx64 ") cannot be resolved to the reader schema %s: %s", w->label,
                          w->fingerprint, reader->label, avro_error_line(aerr, sizeof(aerr)));
                return -EINVAL;
        }
        return 0;
}

/* Caller holds the write lock (or is the once-initializer). */
static int writers_add(writer_t *w) {
        if (reg.n_writers == reg.cap) {
                size_t cap = reg.cap ? reg.cap * 2 : 8;
                writer_t **n = realloc(reg.writers, cap * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                reg.writers = n;
                reg.cap = cap;
        }
        reg.writers[reg.n_writers++] = w;
        return 0;
}

/* Caller holds the lock (either kind). */
static const writer_t *writers_find(uint64_t fp) {
        for (size_t i = 0; i < reg.n_writers; i++)
                if (reg.writers[i]->fingerprint == fp)
                        return reg.writers[i];
        return NULL;
}

/* A whole file of at most SCHEMA_FILE_MAX bytes, NUL-terminated (free()). */
static char *read_schema_file(const char *path, char *errstr, size_t errstr_size) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t n;

        if (!f) {
                rf_seterr(errstr, errstr_size, "%s: cannot open: %s",
                          strrchr(path, '/') ? strrchr(path, '/') + 1 : path, strerror(errno));
                return NULL;
        }
        buf = malloc(SCHEMA_FILE_MAX + 1);
        if (!buf)
                rf_seterr(errstr, errstr_size, "out of memory");
        else if ((n = fread(buf, 1, SCHEMA_FILE_MAX + 1, f)) > SCHEMA_FILE_MAX || ferror(f)) {
                rf_seterr(errstr, errstr_size, "%s: cannot read, or larger than %d bytes",
                          strrchr(path, '/') ? strrchr(path, '/') + 1 : path, SCHEMA_FILE_MAX);
                free(buf);
                buf = NULL;
        } else
                buf[n] = '\0';
        fclose(f);
        return buf;
}

/* Adds every *.avsc in @p dir as a known writer (once-initializer). A file
 * that fails is skipped; the first failure is kept in reg.dir_errstr. */
static void registry_load_dir(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;
        char why[sizeof(reg.dir_errstr)];

        if (!d) {
                rf_seterr(reg.dir_errstr, sizeof(reg.dir_errstr), "%s=%s: cannot open: %s", SCHEMA_DIR_ENV, dir,
                          strerror(errno));
                return;
        }
        while ((e = readdir(d))) {
                size_t len = strlen(e->d_name);
                char path[4096], *json;
                writer_t *w = NULL;
                int r = -EINVAL;

                if (e->d_name[0] == '.' || len <= strlen(SCHEMA_SUFFIX) ||
                    strcmp(e->d_name + len - strlen(SCHEMA_SUFFIX), SCHEMA_SUFFIX) != 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                json = read_schema_file(path, why, sizeof(why));
                if (json)
                        r = writer_new(json, e->d_name, &w, why, sizeof(why));
                free(json);
                if (r == 0 && writers_find(w->fingerprint)) {
                        writer_free(w); /* one we already know (the reader, an embedded one) */
                        continue;
                }
                if (r == 0)
                        r = writer_resolve(w, reg.reader, why, sizeof(why));
                if (r == 0)
                        r = writers_add(w);
                if (r == 0)
                        continue;
                writer_free(w);
                /* why names the file; the directory is in the environment */
                if (!reg.dir_errstr[0])
                        rf_seterr(reg.dir_errstr, sizeof(reg.dir_errstr), "%s: skipped %s", SCHEMA_DIR_ENV,
                                  r == -ENOMEM ? "a file: out of memory" : why);
        }
        closedir(d);
        /* it becomes part of DLQ headers and log lines: printable ASCII only */
        for (char *c = reg.dir_errstr; *c; c++)
                if (*c < 0x20 || *c > 0x7e)
                        *c = '?';
}

static void registry_init(void) {
        const rf_embedded_file_t *f, *newest = NULL;
        writer_t *w = NULL;
        long top = -1;
        int r = 0;

        for (f = rf_embedded_files; f->name; f++)
                if (schema_version(f->name) > top) {
                        top = schema_version(f->name);
                        newest = f;
                }
        if (!newest) {
                rf_seterr(reg.errstr, sizeof(reg.errstr), "no embedded " SCHEMA_PREFIX "N" SCHEMA_SUFFIX);
                r = -ENOENT;
                goto out;
        }

        /* The reader first: every other writer is resolved against it. */
        r = writer_new(newest->data, newest->name, &w, reg.errstr, sizeof(reg.errstr));
        if (r < 0)
                goto out;
        r = writers_add(w);
        if (r < 0)
                goto out;
        reg.reader = w;
        reg.reader_json = newest->data;
        w = NULL;
        reg.reader_class = avro_generic_class_from_schema(reg.reader->schema);
        if (!reg.reader_class) {
                rf_seterr(reg.errstr, sizeof(reg.errstr), "%s: avro-c cannot build a value class", newest->name);
                r = -ENOMEM;
                goto out;
        }

        for (f = rf_embedded_files; f->name; f++) {
                if (f == newest || schema_version(f->name) < 0)
                        continue;
                r = writer_new(f->data, f->name, &w, reg.errstr, sizeof(reg.errstr));
                if (r < 0)
                        goto out;
                if (writers_find(w->fingerprint)) {
                        rf_seterr(reg.errstr, sizeof(reg.errstr), "%s has the fingerprint of another version", f->name);
                        r = -EINVAL;
                        goto out;
                }
                r = writer_resolve(w, reg.reader, reg.errstr, sizeof(reg.errstr));
                if (r < 0)
                        goto out;
                r = writers_add(w);
                if (r < 0)
                        goto out;
                w = NULL;
        }
        if (getenv(SCHEMA_DIR_ENV) && *getenv(SCHEMA_DIR_ENV))
                registry_load_dir(getenv(SCHEMA_DIR_ENV));
out:
        writer_free(w);
        if (r == -ENOMEM && !reg.errstr[0])
                rf_seterr(reg.errstr, sizeof(reg.errstr), "out of memory loading the decision schemas");
        reg.error = r;
}

static int registry_get(char *errstr, size_t errstr_size) {
        pthread_once(&reg.once, registry_init);
        if (reg.error < 0) {
                rf_seterr(errstr, errstr_size, "decision schemas unusable: %s", reg.errstr);
                return reg.error;
        }
        return 0;
}

static const writer_t *registry_find(uint64_t fp) {
        const writer_t *w;

        pthread_rwlock_rdlock(&reg.lock);
        w = writers_find(fp);
        pthread_rwlock_unlock(&reg.lock);
        return w;
}

/* Caller holds the lock (either kind). */
static const writer_t *ids_find(int32_t id) {
        for (size_t i = 0; i < reg.n_ids; i++)
                if (reg.ids[i].id == id)
                        return reg.ids[i].w;
        return NULL;
}

const char *rf_decision_schema_json(void) {
        return registry_get(NULL, 0) < 0 ? NULL : reg.reader_json;
}

bool rf_decision_schema_id_known(int32_t id) {
        const writer_t *w;

        if (registry_get(NULL, 0) < 0)
                return false;
        pthread_rwlock_rdlock(&reg.lock);
        w = ids_find(id);
        pthread_rwlock_unlock(&reg.lock);
        return w != NULL;
}

/* A writer for a schema a caller hands over (a registry's, a test's),
 * once the embedded ones are loaded. */
static int writer_given(const char *schema_json, const char *label, writer_t **ret, char *errstr, size_t errstr_size) {
        int r = registry_get(errstr, errstr_size);

        if (r < 0)
                return r;
        if (!schema_json) {
                rf_seterr(errstr, errstr_size, "no schema given");
                return -EINVAL;
        }
        return writer_new(schema_json, label, ret, errstr, errstr_size);
}

int rf_decision_add_schema_id(int32_t id, const char *schema_json, char *errstr, size_t errstr_size) {
        writer_t *w = NULL;
        const writer_t *known;
        char label[64];
        int r;

        snprintf(label, sizeof(label), "registry schema id %" PRId32, id);
        r = writer_given(schema_json, label, &w, errstr, errstr_size);
        if (r < 0)
                return r;
        pthread_rwlock_wrlock(&reg.lock);
        known = writers_find(w->fingerprint);
        pthread_rwlock_unlock(&reg.lock);
        if (!known) {
                r = writer_resolve(w, reg.reader, errstr, errstr_size);
                if (r < 0)
                        goto out;
        }

        pthread_rwlock_wrlock(&reg.lock);
        if (ids_find(id))
                goto unlock; /* another thread was first */
        known = writers_find(w->fingerprint);
        if (!known) {
                /* A registry (or whoever controls it) could hand out endless
                 * distinct schemas; writers are never freed, so bound them. */
                if (reg.n_by_id >= RF_DECISION_MAX_SCHEMA_IDS) {
                        rf_seterr(errstr, errstr_size, "%s: more than %d distinct writer schemas from the registry",
                                  label, RF_DECISION_MAX_SCHEMA_IDS);
                        r = -ENOSPC;
                        goto unlock;
                }
                r = writers_add(w);
                if (r < 0) {
                        rf_seterr(errstr, errstr_size, "out of memory");
                        goto unlock;
                }
                reg.n_by_id++;
                known = w;
                w = NULL;
        }
        if (reg.n_ids < RF_DECISION_MAX_SCHEMA_IDS)
                reg.n_ids++;
        reg.ids[reg.next_id_slot].id = id;
        reg.ids[reg.next_id_slot].w = known;
        reg.next_id_slot = (reg.next_id_slot + 1) % RF_DECISION_MAX_SCHEMA_IDS;
unlock:
        pthread_rwlock_unlock(&reg.lock);
out:
        writer_free(w);
        return r;
}

uint64_t rf_decision_fingerprint(void) {
        return registry_get(NULL, 0) < 0 ? 0 : reg.reader->fingerprint;
}

void rf_decision_free_schemas(void) {
        pthread_rwlock_wrlock(&reg.lock);
        for (size_t i = 0; i < reg.n_writers; i++)
                writer_free(reg.writers[i]);
        free(reg.writers);
        reg.writers = NULL;
        reg.n_writers = reg.cap = 0;
        reg.reader = NULL;
        reg.n_ids = reg.next_id_slot = reg.n_by_id = 0;
        if (reg.reader_class)
                avro_value_iface_decref(reg.reader_class);
        reg.reader_class = NULL;
        /* pthread_once cannot run again: later calls fail, they do not crash. */
        reg.error = -ESHUTDOWN;
        snprintf(reg.errstr, sizeof(reg.errstr), "rf_decision_free_schemas() was called");
        pthread_rwlock_unlock(&reg.lock);
}

int rf_decision_register_writer_schema(const char *schema_json, char *errstr, size_t errstr_size) {
        writer_t *w = NULL;
        int r;

        r = writer_given(schema_json, "registered", &w, errstr, errstr_size);
        if (r < 0)
                return r;
        if (registry_find(w->fingerprint)) {
                writer_free(w);
                return 0;
        }
        snprintf(w->label, sizeof(w->label), "registered schema");
        r = writer_resolve(w, reg.reader, errstr, errstr_size);
        if (r < 0)
                goto out;

        pthread_rwlock_wrlock(&reg.lock);
        if (writers_find(w->fingerprint))
                r = 0; /* another thread was first */
        else {
                r = writers_add(w);
                if (r == 0)
                        w = NULL;
        }
        pthread_rwlock_unlock(&reg.lock);
        if (r < 0)
                rf_seterr(errstr, errstr_size, "out of memory");
out:
        writer_free(w);
        return r;
}

/* ---- bounded walk of the Avro binary body ------------------------------- */

typedef struct walk {
        const unsigned char *start, *p, *end;
        size_t items_left; /* array/map items the whole message may still hold */
        const char *field; /* innermost record field, for messages */
        char *errstr;
        size_t errstr_size;
} walk_t;

/* Offset within the whole message (header included), for messages. */
static size_t walk_offset(const walk_t *w, const unsigned char *at) {
        return RF_SOE_HEADER_LEN + (size_t)(at - w->start);
}

static size_t walk_left(const walk_t *w) {
        return (size_t)(w->end - w->p);
}

/* A value starting at @p at needs @p need bytes where fewer are left. */
static int walk_truncated(walk_t *w, const unsigned char *at, const char *what, int64_t need) {
        rf_seterr(w->errstr, w->errstr_size,
                  "truncated Avro body: %s of %" PRId64 " bytes at byte %zu, only %zu left (field %s)", what, need,
                  walk_offset(w, at), walk_left(w), w->field);
        return -EBADMSG;
}

static int walk_malformed(walk_t *w, const unsigned char *at, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int walk_malformed(walk_t *w, const unsigned char *at, const char *fmt, ...) {
        char what[160];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        rf_seterr(w->errstr, w->errstr_size, "malformed Avro body: %s at byte %zu (field %s)", what, walk_offset(w, at),
                  w->field);
        return -EBADMSG;
}

/* A zigzag varint of at most 10 bytes whose value fits 64 bits. */
static int walk_long(walk_t *w, int64_t *ret) {
        const unsigned char *at = w->p;
        uint64_t u = 0;

        for (int i = 0;; i++) {
                unsigned char b;

                if (w->p == w->end) {
                        rf_seterr(w->errstr, w->errstr_size,
                                  "truncated Avro body: varint at byte %zu runs past the end (field %s)",
                                  walk_offset(w, at), w->field);
                        return -EBADMSG;
                }
                b = *w->p++;
                if (i == 9 && b > 1)
                        return walk_malformed(w, at, "varint overflows 64 bits");
                u |= (uint64_t)(b & 0x7f) << (7 * i);
                if (!(b & 0x80))
                        break;
        }
        *ret = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
        return 0;
}

/* Well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF), no NUL. */
static bool utf8_valid(const unsigned char *s, size_t n) {
        size_t i = 0, k;

        while (i < n) {
                if (s[i] == 0)
                        return false;
                if (s[i] < 0x80) {
                        i++;
                        continue;
                }
                k = rf_utf8_char_length((const char *)s + i, n - i);
                if (k == 0)
                        return false;
                i += k;
        }
        return true;
}

/* A string or bytes value: a non-negative length that fits in what is left. */
static int walk_blob(walk_t *w, bool is_string) {
        const unsigned char *at = w->p;
        int64_t len;
        int r;

        r = walk_long(w, &len);
        if (r < 0)
                return r;
        if (len < 0)
                return walk_malformed(w, at, "negative %s length %" PRId64, is_string ? "string" : "bytes", len);
        if ((uint64_t)len > walk_left(w))
                return walk_truncated(w, at, is_string ? "string" : "bytes", len);
        if (is_string && !utf8_valid(w->p, (size_t)len))
                return walk_malformed(w, at, "string of %" PRId64 " bytes is not UTF-8 or holds NUL", len);
        w->p += len;
        return 0;
}

static int walk_value(walk_t *w, avro_schema_t s, int depth);

/* Arrays and maps: blocks of items ended by a zero count; a negative count
 * is followed by the block's byte size. */
static int walk_blocks(walk_t *w, avro_schema_t s, int depth) {
        bool is_map = avro_typeof(s) == AVRO_MAP;
        avro_schema_t item = is_map ? avro_schema_map_values(s) : avro_schema_array_items(s);
        const char *kind = is_map ? "map" : "array";

        for (;;) {
                const unsigned char *at = w->p, *items_start;
                int64_t count, size = -1;
                int r;

                r = walk_long(w, &count);
                if (r < 0)
                        return r;
                if (count == 0)
                        return 0;
                if (count < 0) {
                        if (count == INT64_MIN)
                                return walk_malformed(w, at, "%s block count out of range", kind);
                        count = -count;
                        r = walk_long(w, &size);
                        if (r < 0)
                                return r;
                        if (size < 0)
                                return walk_malformed(w, at, "negative %s block size %" PRId64, kind, size);
                        if ((uint64_t)size > walk_left(w))
                                return walk_truncated(w, at, is_map ? "map block" : "array block", size);
                }
                /* Each item takes a byte except in schemas whose items are
                 * empty (null, empty record); the message-wide budget
                 * bounds those too, so avro-c never allocates more items
                 * than the message has bytes. */
                if ((uint64_t)count > walk_left(w) || (uint64_t)count > w->items_left) {
                        rf_seterr(w->errstr, w->errstr_size,
                                  "truncated Avro body: %s block of %" PRId64
                                  " items at byte %zu, only %zu bytes left (field %s)",
                                  kind, count, walk_offset(w, at), walk_left(w), w->field);
                        return -EBADMSG;
                }
                w->items_left -= (size_t)count;
                items_start = w->p;
                for (int64_t i = 0; i < count; i++) {
                        if (is_map) {
                                r = walk_blob(w, true);
                                if (r < 0)
                                        return r;
                        }
                        r = walk_value(w, item, depth + 1);
                        if (r < 0)
                                return r;
                }
                if (size >= 0 && (int64_t)(w->p - items_start) != size)
                        return walk_malformed(w, at, "%s block says %" PRId64 " bytes, its items take %zu", kind, size,
                                              (size_t)(w->p - items_start));
        }
}

static int walk_value(walk_t *w, avro_schema_t s, int depth) {
        const unsigned char *at = w->p;
        int64_t v;
        int r;

        if (depth > MAX_DEPTH)
                return walk_malformed(w, at, "values nested deeper than %d", MAX_DEPTH);

        switch (avro_typeof(s)) {
        case AVRO_NULL:
                return 0;
        case AVRO_BOOLEAN:
                if (w->p == w->end)
                        return walk_truncated(w, at, "boolean", 1);
                if (*w->p > 1)
                        return walk_malformed(w, at, "boolean byte 0x%02x", *w->p);
                w->p++;
                return 0;
        case AVRO_INT32:
                r = walk_long(w, &v);
                if (r < 0)
                        return r;
                if (v < INT32_MIN || v > INT32_MAX)
                        return walk_malformed(w, at, "int %" PRId64 " out of range", v);
                return 0;
        case AVRO_INT64:
                return walk_long(w, &v);
        case AVRO_FLOAT:
        case AVRO_DOUBLE: {
                size_t n = avro_typeof(s) == AVRO_FLOAT ? 4 : 8;

                if (walk_left(w) < n)
                        return walk_truncated(w, at, n == 4 ? "float" : "double", (int64_t)n);
                w->p += n;
                return 0;
        }
        case AVRO_STRING:
                return walk_blob(w, true);
        case AVRO_BYTES:
                return walk_blob(w, false);
        case AVRO_FIXED: {
                int64_t n = avro_schema_fixed_size(s);

                if (n < 0 || (uint64_t)n > walk_left(w))
                        return walk_truncated(w, at, "fixed", n);
                w->p += n;
                return 0;
        }
        case AVRO_ENUM:
                r = walk_long(w, &v);
                if (r < 0)
                        return r;
                if (v < 0 || v >= avro_schema_enum_number_of_symbols(s))
                        return walk_malformed(w, at, "enum index %" PRId64 " out of range", v);
                return 0;
        case AVRO_UNION:
                r = walk_long(w, &v);
                if (r < 0)
                        return r;
                if (v < 0 || (uint64_t)v >= avro_schema_union_size(s))
                        return walk_malformed(w, at, "union branch %" PRId64 " does not exist", v);
                return walk_value(w, avro_schema_union_branch(s, (int)v), depth + 1);
        case AVRO_ARRAY:
        case AVRO_MAP:
                return walk_blocks(w, s, depth);
        case AVRO_RECORD: {
                const char *outer = w->field;
                size_t n = avro_schema_record_size(s);

                for (size_t i = 0; i < n; i++) {
                        w->field = avro_schema_record_field_name(s, (int)i);
                        r = walk_value(w, avro_schema_record_field_get_by_index(s, (int)i), depth + 1);
                        if (r < 0)
                                return r;
                }
                w->field = outer;
                return 0;
        }
        case AVRO_LINK:
                return walk_value(w, avro_schema_link_target(s), depth + 1);
        default:
                return walk_malformed(w, at, "schema type %d not supported", (int)avro_typeof(s));
        }
}

static int validate_body(const writer_t *wr, const unsigned char *body, size_t len, char *errstr, size_t errstr_size) {
        walk_t w = {
                .start = body,
                .p = body,
                .end = body + len,
                .items_left = len,
                .field = "(record)",
                .errstr = errstr,
                .errstr_size = errstr_size,
        };
        int r;

        r = walk_value(&w, wr->schema, 0);
        if (r < 0)
                return r;
        if (w.p != w.end) {
                rf_seterr(errstr, errstr_size, "trailing bytes: %zu after the Avro body ends at byte %zu",
                          walk_left(&w), walk_offset(&w, w.p));
                return -EBADMSG;
        }
        return 0;
}

/* ---- decision fields ---------------------------------------------------- */

rf_decision_t *rf_decision_new(void) {
        return calloc(1, sizeof(rf_decision_t));
}

static void free_strv(char **v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void rf_decision_destroy(rf_decision_t *d) {
        if (!d)
                return;
        free(d->decision_id);
        free(d->workflow);
        free_strv(d->scrapers, d->scraper_count);
        free(d->reason);
        free(d->replay_of);
        free(d->trace_id);
        free(d);
}

int rf_decision_set_scrapers(rf_decision_t *d, char *const *names, size_t count) {
        char **v = NULL;

        if (!d || (count && !names))
                return -EINVAL;
        if (count) {
                v = calloc(count, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i < count; i++) {
                        v[i] = names[i] ? strdup(names[i]) : NULL;
                        if (!v[i]) {
                                free_strv(v, count);
                                return names[i] ? -ENOMEM : -EINVAL;
                        }
                }
        }
        free_strv(d->scrapers, d->scraper_count);
        d->scrapers = v;
        d->scraper_count = count;
        return 0;
}

/* At most 40 printable ASCII characters of @p s, for an error message that
 * must stay one line whatever a message holds. */
static const char *excerpt(const char *s, char out[48]) {
        size_t i;

        for (i = 0; s[i] && i < 40; i++)
                out[i] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
        if (s[i])
                out[i++] = '~';
        out[i] = '\0';
        return out;
}

/* The rules every decision on the wire keeps, whoever wrote it. */
static int check_decision(const rf_decision_t *d, char *errstr, size_t errstr_size) {
        const struct {
                const char *name, *value;
        } strings[] = {
                { "decision_id", d->decision_id }, { "workflow", d->workflow },   { "reason", d->reason },
                { "trace_id", d->trace_id },       { "replay_of", d->replay_of },
        };
        char ex[48];

        for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
                const char *v = strings[i].value;

                if (!v) {
                        if (strcmp(strings[i].name, "replay_of") == 0)
                                continue;
                        rf_seterr(errstr, errstr_size, "%s is not set", strings[i].name);
                        return -EINVAL;
                }
                if (!utf8_valid((const unsigned char *)v, strlen(v))) {
                        rf_seterr(errstr, errstr_size, "%s is not valid UTF-8", strings[i].name);
                        return -EINVAL;
                }
        }
        if (!rf_uuid_valid(d->decision_id)) {
                rf_seterr(errstr, errstr_size, "decision_id \"%s\" is not a UUID", excerpt(d->decision_id, ex));
                return -EINVAL;
        }
        if (d->replay_of && !rf_uuid_valid(d->replay_of)) {
                rf_seterr(errstr, errstr_size, "replay_of \"%s\" is not a UUID", excerpt(d->replay_of, ex));
                return -EINVAL;
        }
        if (!*d->workflow) {
                rf_seterr(errstr, errstr_size, "workflow is empty");
                return -EINVAL;
        }
        if (d->scraper_count == 0 || d->scraper_count > RF_DECISION_MAX_SCRAPERS || !d->scrapers) {
                rf_seterr(errstr, errstr_size, "%zu scrapers, need 1 to %d", d->scraper_count,
                          RF_DECISION_MAX_SCRAPERS);
                return -EINVAL;
        }
        for (size_t i = 0; i < d->scraper_count; i++) {
                const char *s = d->scrapers[i];

                if (!s || !*s || !utf8_valid((const unsigned char *)s, strlen(s))) {
                        rf_seterr(errstr, errstr_size, "scraper %zu has an empty or invalid name", i);
                        return -EINVAL;
                }
        }
        if (d->attempt < 1) {
                rf_seterr(errstr, errstr_size, "attempt %" PRId32 " is below 1", d->attempt);
                return -EINVAL;
        }
        if (d->deadline_ms <= 0) {
                rf_seterr(errstr, errstr_size, "deadline_ms %" PRId64 " is not positive", d->deadline_ms);
                return -EINVAL;
        }
        return 0;
}

/* ---- encode ------------------------------------------------------------- */

/* The branch of union @p s whose type is @p type, or -1. */
static int union_branch(avro_schema_t s, avro_type_t type) {
        for (size_t i = 0; i < avro_schema_union_size(s); i++)
                if (avro_typeof(avro_schema_union_branch(s, (int)i)) == type)
                        return (int)i;
        return -1;
}

static int fill_value(avro_value_t *rec, const rf_decision_t *d) {
        avro_value_t f, item;
        int r, b;

        /* avro-c returns positive errno values; the caller reports -EIO. */
#define FIELD(name)                                                                                                    \
        do {                                                                                                           \
                r = avro_value_get_by_name(rec, (name), &f, NULL);                                                     \
                if (r)                                                                                                 \
                        return r;                                                                                      \
        } while (0)
        FIELD("decision_id");
        if ((r = avro_value_set_string(&f, d->decision_id)))
                return r;
        FIELD("workflow");
        if ((r = avro_value_set_string(&f, d->workflow)))
                return r;
        FIELD("scrapers");
        for (size_t i = 0; i < d->scraper_count; i++)
                if ((r = avro_value_append(&f, &item, NULL)) || (r = avro_value_set_string(&item, d->scrapers[i])))
                        return r;
        FIELD("decided_at");
        if ((r = avro_value_set_long(&f, d->decided_at_ms)))
                return r;
        FIELD("attempt");
        if ((r = avro_value_set_int(&f, d->attempt)))
                return r;
        FIELD("reason");
        if ((r = avro_value_set_string(&f, d->reason)))
                return r;
        FIELD("deadline_ms");
        if ((r = avro_value_set_long(&f, d->deadline_ms)))
                return r;
        FIELD("replay_of");
        b = union_branch(avro_value_get_schema(&f), d->replay_of ? AVRO_STRING : AVRO_NULL);
        if (b < 0)
                return EINVAL;
        if ((r = avro_value_set_branch(&f, b, &item)))
                return r;
        if ((r = d->replay_of ? avro_value_set_string(&item, d->replay_of) : avro_value_set_null(&item)))
                return r;
        FIELD("trace_id");
        if ((r = avro_value_set_string(&f, d->trace_id)))
                return r;
#undef FIELD
        return 0;
}

static void put_le64(unsigned char *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p) {
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

/* Encodes @p d's Avro body after the @p hdr_len bytes of @p hdr. */
static int encode_framed(const rf_decision_t *d, const unsigned char *hdr, size_t hdr_len, void **ret_buf,
                         size_t *ret_len, char *errstr, size_t errstr_size) {
        avro_value_t rec = { 0 };
        avro_writer_t aw = NULL;
        unsigned char *buf = NULL;
        char msg[200], aerr[200];
        size_t size = 0;
        int r;

        r = registry_get(errstr, errstr_size);
        if (r < 0)
                return r;
        if (!d) {
                rf_seterr(errstr, errstr_size, "invalid decision: none given");
                return -EINVAL;
        }
        r = check_decision(d, msg, sizeof(msg));
        if (r < 0) {
                rf_seterr(errstr, errstr_size, "invalid decision: %s", msg);
                return r;
        }
        if (avro_generic_value_new(reg.reader_class, &rec) != 0) {
                rf_seterr(errstr, errstr_size, "out of memory");
                return -ENOMEM;
        }
        if (fill_value(&rec, d) != 0 || avro_value_sizeof(&rec, &size) != 0) {
                rf_seterr(errstr, errstr_size, "avro-c cannot build the message: %s",
                          avro_error_line(aerr, sizeof(aerr)));
                r = -EIO;
                goto out;
        }
        buf = malloc(hdr_len + size);
        if (!buf) {
                rf_seterr(errstr, errstr_size, "out of memory");
                r = -ENOMEM;
                goto out;
        }
        memcpy(buf, hdr, hdr_len);
        aw = avro_writer_memory((const char *)buf + hdr_len, (int64_t)size);
        if (!aw) {
                rf_seterr(errstr, errstr_size, "out of memory");
                r = -ENOMEM;
                goto out;
        }
        if (avro_value_write(aw, &rec) != 0 || avro_writer_tell(aw) != (int64_t)size) {
                rf_seterr(errstr, errstr_size, "avro-c cannot write the message: %s",
                          avro_error_line(aerr, sizeof(aerr)));
                r = -EIO;
                goto out;
        }
        *ret_buf = buf;
        *ret_len = hdr_len + size;
        buf = NULL;
        r = 0;
out:
        if (aw)
                avro_writer_free(aw);
        free(buf);
        avro_value_decref(&rec);
        return r;
}

int rf_decision_encode(const rf_decision_t *d, void **ret_buf, size_t *ret_len, char *errstr, size_t errstr_size) {
        unsigned char hdr[RF_SOE_HEADER_LEN];
        int r;

        r = registry_get(errstr, errstr_size);
        if (r < 0)
                return r;
        memcpy(hdr, soe_marker, sizeof(soe_marker));
        put_le64(hdr + 2, reg.reader->fingerprint);
        return encode_framed(d, hdr, sizeof(hdr), ret_buf, ret_len, errstr, errstr_size);
}

int rf_decision_encode_confluent(const rf_decision_t *d, int32_t schema_id, void **ret_buf, size_t *ret_len,
                                 char *errstr, size_t errstr_size) {
        unsigned char hdr[RF_CONFLUENT_HEADER_LEN];

        if (schema_id < 0) {
                rf_seterr(errstr, errstr_size, "invalid schema id %" PRId32, schema_id);
                return -EINVAL;
        }
        hdr[0] = 0;
        for (int i = 0; i < 4; i++)
                hdr[1 + i] = (unsigned char)((uint32_t)schema_id >> (8 * (3 - i)));
        return encode_framed(d, hdr, sizeof(hdr), ret_buf, ret_len, errstr, errstr_size);
}

rf_wire_t rf_decision_wire(const void *buf, size_t len, int32_t *ret_schema_id) {
        const unsigned char *m = buf;

        if (m && len >= RF_CONFLUENT_HEADER_LEN && m[0] == 0) {
                if (ret_schema_id)
                        *ret_schema_id = (int32_t)((uint32_t)m[1] << 24 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 8 |
                                                   (uint32_t)m[4]);
                return RF_WIRE_CONFLUENT;
        }
        if (m && len >= 2 && memcmp(m, soe_marker, sizeof(soe_marker)) == 0)
                return RF_WIRE_SINGLE_OBJECT;
        return RF_WIRE_UNKNOWN;
}

/* ---- decode ------------------------------------------------------------- */

static int copy_string(avro_value_t *v, char **ret) {
        const char *s;
        size_t n;

        if (avro_value_get_string(v, &s, &n) != 0 || !s || n == 0)
                return -EIO;
        /* n counts the NUL avro-c keeps after the bytes. */
        *ret = strndup(s, n - 1);
        return *ret ? 0 : -ENOMEM;
}

static int field_string(avro_value_t *rec, const char *name, char **ret) {
        avro_value_t f;

        if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
                return -EIO;
        return copy_string(&f, ret);
}

static int extract(avro_value_t *rec, rf_decision_t *d) {
        avro_value_t f, item;
        size_t n;
        int r;

        if ((r = field_string(rec, "decision_id", &d->decision_id)) < 0 ||
            (r = field_string(rec, "workflow", &d->workflow)) < 0 ||
            (r = field_string(rec, "reason", &d->reason)) < 0 || (r = field_string(rec, "trace_id", &d->trace_id)) < 0)
                return r;

        if (avro_value_get_by_name(rec, "scrapers", &f, NULL) != 0 || avro_value_get_size(&f, &n) != 0)
                return -EIO;
        /* The walk bounded n by the input length; the scraper limit is a rule
         * of ours, checked with the others in check_decision(). */
        if (n > RF_DECISION_MAX_SCRAPERS) {
                d->scraper_count = n;
                return 0;
        }
        if (n) {
                d->scrapers = calloc(n, sizeof(char *));
                if (!d->scrapers)
                        return -ENOMEM;
        }
        d->scraper_count = n;
        for (size_t i = 0; i < n; i++) {
                if (avro_value_get_by_index(&f, i, &item, NULL) != 0)
                        return -EIO;
                if ((r = copy_string(&item, &d->scrapers[i])) < 0)
                        return r;
        }

        if (avro_value_get_by_name(rec, "decided_at", &f, NULL) != 0 ||
            avro_value_get_long(&f, &d->decided_at_ms) != 0 || avro_value_get_by_name(rec, "attempt", &f, NULL) != 0 ||
            avro_value_get_int(&f, &d->attempt) != 0 || avro_value_get_by_name(rec, "deadline_ms", &f, NULL) != 0 ||
            avro_value_get_long(&f, &d->deadline_ms) != 0 || avro_value_get_by_name(rec, "replay_of", &f, NULL) != 0 ||
            avro_value_get_current_branch(&f, &item) != 0)
                return -EIO;
        if (avro_value_get_type(&item) == AVRO_STRING)
                return copy_string(&item, &d->replay_of);
        return 0;
}

int rf_decision_decode(const void *buf, size_t len, rf_decision_t **ret_decision, char *errstr, size_t errstr_size) {
        const unsigned char *m = buf, *body;
        avro_value_t dest = { 0 }, resolved = { 0 };
        avro_reader_t ar = NULL;
        rf_decision_t *d = NULL;
        const writer_t *w;
        char msg[200], aerr[200];
        size_t body_len;
        uint64_t fp;
        int32_t id;
        int r;

        r = registry_get(errstr, errstr_size);
        if (r < 0)
                return r;
        if (rf_decision_wire(m, len, &id) == RF_WIRE_CONFLUENT) {
                pthread_rwlock_rdlock(&reg.lock);
                w = ids_find(id);
                pthread_rwlock_unlock(&reg.lock);
                if (!w) {
                        rf_seterr(errstr, errstr_size, "schema id %" PRId32 " not resolved from the schema registry",
                                  id);
                        return -ENOKEY;
                }
                body = m + RF_CONFLUENT_HEADER_LEN;
                body_len = len - RF_CONFLUENT_HEADER_LEN;
                goto have_writer;
        }
        if (!m || len < RF_SOE_HEADER_LEN) {
                rf_seterr(errstr, errstr_size,
                          "not an Avro single-object message: %zu bytes, shorter than the %d-byte header", m ? len : 0,
                          RF_SOE_HEADER_LEN);
                return -EBADMSG;
        }
        if (memcmp(m, soe_marker, sizeof(soe_marker)) != 0) {
                rf_seterr(errstr, errstr_size, "not an Avro single-object message: marker %02x %02x, expected c3 01",
                          m[0], m[1]);
                return -EBADMSG;
        }
        fp = get_le64(m + 2);
        w = registry_find(fp);
        if (!w) {
                rf_seterr(errstr, errstr_size,
                          "unknown schema fingerprint 0x%016" PRIx64
                          " (the reader knows run_decision up to 0x%016" PRIx64 ")%s%s",
                          fp, reg.reader->fingerprint, reg.dir_errstr[0] ? "; " : "", reg.dir_errstr);
                return -EBADMSG;
        }
        body = m + RF_SOE_HEADER_LEN;
        body_len = len - RF_SOE_HEADER_LEN;
have_writer:
        r = validate_body(w, body, body_len, errstr, errstr_size);
        if (r < 0)
                return r;

        d = rf_decision_new();
        if (!d || avro_generic_value_new(reg.reader_class, &dest) != 0) {
                rf_seterr(errstr, errstr_size, "out of memory");
                r = -ENOMEM;
                goto out;
        }
        ar = avro_reader_memory((const char *)body, (int64_t)body_len);
        if (!ar) {
                rf_seterr(errstr, errstr_size, "out of memory");
                r = -ENOMEM;
                goto out;
        }
        if (w->resolver) {
                if (avro_resolved_writer_new_value(w->resolver, &resolved) != 0) {
                        rf_seterr(errstr, errstr_size, "out of memory");
                        r = -ENOMEM;
                        goto out;
                }
                avro_resolved_writer_set_dest(&resolved, &dest);
                r = avro_value_read(ar, &resolved);
        } else
                r = avro_value_read(ar, &dest);
        if (r != 0) {
                /* Not expected after validate_body(); reported, not trusted. */
                rf_seterr(errstr, errstr_size, "Avro body rejected by avro-c: %s", avro_error_line(aerr, sizeof(aerr)));
                r = -EBADMSG;
                goto out;
        }
        r = extract(&dest, d);
        if (r < 0) {
                rf_seterr(errstr, errstr_size,
                          r == -ENOMEM ? "out of memory" : "decoded value does not have the reader schema's shape");
                goto out;
        }
        r = check_decision(d, msg, sizeof(msg));
        if (r < 0) {
                rf_seterr(errstr, errstr_size, "invalid decision: %s", msg);
                r = -EBADMSG;
                goto out;
        }
        *ret_decision = d;
        d = NULL;
out:
        if (resolved.self)
                avro_value_decref(&resolved);
        if (dest.self)
                avro_value_decref(&dest);
        if (ar)
                avro_reader_free(ar);
        rf_decision_destroy(d);
        return r;
}
