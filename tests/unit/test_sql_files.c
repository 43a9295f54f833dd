/* SPDX-License-Identifier: Apache-2.0 */
/* schemas/sql as migrate applies it (schemas/sql/README.md): every
 * function and view has one file under functions/ or views/, its only
 * current definition; no migration after the split defines one; the
 * migrations users' databases ran stay byte-identical (their checksums are
 * pinned here, and migrate refuses a changed one); what is embedded is what
 * is on disk, with the right SHA-256. */
#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>

#include "rf_embedded.h"
#include "rf_test.h"

/* The last migration allowed to create a function or a view: the bodies
 * they define are replaced by functions/ and views/ at every migrate. */
#define SPLIT 16

/* Never change a line: a migration, once merged, may have run on a user's
 * database. Add the next migration's line when it is merged. */
static const struct {
        const char *name, *sha256;
} pinned[] = {
        { "001_init.sql", "d4f4e2165ea0732780ecb9c92d323ded18dd4653f6ffbfdadd044b77e6e20266" },
        { "002_execution_functions.sql", "9d96a2fe2d2315bd1ab68c9361dd9693afcf6b6df5aaa0af3e9c13c4c7b076f2" },
        { "003_replays.sql", "bbf1b5badc65e81d4cb4c54bb000fb03ed564158aa02d9348860e05edd65cf69" },
        { "004_alerts_dlq_redrives.sql", "00b76e38d247964a7bc1115b85f8156b62b41cd1b4cfdba6c5f175a12f2419f0" },
        { "005_roles.sql", "075be42d634df4b77b32be92aefeaa18c4936ba6b52d566a265c609f388f1f29" },
        { "006_batched_execution_functions.sql", "fa88b4e5d3ceebc30d1083e0ee33125b305c83f9ef08e9d5bcccb74321cb0efd" },
        { "007_set_based_batches.sql", "6baa0f089dfd44d07da59a60354c03d9f5fe70b9554b0a8c19abe0e83f4db4a5" },
        { "008_calls_without_foreign_key.sql", "9d8cfcdc234f18e2ead71659637516a4e2c0a6a9bcacce4802cf3042dd0dd75b" },
        { "009_no_sequential_scans_in_batches.sql",
          "4dc6ad7431764ef587989578689e3687c26c20ced4ca455780a15b1496801d71" },
        { "010_decision_key_checked_at_commit.sql",
          "ed9c79cf1f68698a07ade1a412108ef20841b49e3d16966d05764f4ec59ede8e" },
        { "011_batches_common_case.sql", "21c773f910e24795508439097fb5447e4270497007108e83a9b1a01d250afcb2" },
        { "012_every_tick.sql", "faab3673d0e93063b902ee1afaa9df0c46d8b7b4997e95777065c65cd5bd6387" },
        { "013_pause_overlap.sql", "d2b4fcb908ac577a2b7b1f2c969c04828d307a9d99712b6303ef1d9242013722" },
        { "014_backfill_lookups.sql", "bbb5b2c32eb7462856e3068d01efbfe3068dc90ac643be0c52a22d6d5f8ff603" },
        { "015_runs_durations.sql", "f05a9daf15cdc3f79247d52df53a12e63d17aa3e0ba49b1ed3ea7eb60ab256f5" },
        { "016_timeline_indexes.sql", "793d3688457b6d6ac1467ee344dcfe84ec5c6b1bbeee8a14649d41bd5e931e47" },
        { "017_replay_pages.sql", "31f1cef7265585c5e738255a57126584b151a0cd3ee7479958bdbb310eb285bf" },
        { "018_partitioned_history.sql", "1e5f5236324340fc73571227aaaa610959246de3b0989d96034292303720157c" },
        { "019_decisions_fillfactor.sql", "1a1db9ddfd09b6c81dead17bfb044d9269315b7d107a7dc272803659edc0ecd1" },
        { "020_untimed_runs.sql", "6b3911430c9d277f33d51c60743adab78e67001301737c53f3edb01b7ddcfa42" },
};

#define MAX_NAMES 64

typedef struct names {
        char v[MAX_NAMES][64];
        int n;
} names_t;

static int find(const names_t *s, const char *name) {
        for (int i = 0; i < s->n; i++)
                if (strcmp(s->v[i], name) == 0)
                        return i;
        return -1;
}

static void add(names_t *s, const char *name) {
        if (find(s, name) < 0 && s->n < MAX_NAMES)
                snprintf(s->v[s->n++], sizeof(s->v[0]), "%s", name);
}

static void del(names_t *s, const char *name) {
        int i = find(s, name);

        if (i >= 0)
                memmove(s->v[i], s->v[i + 1], (size_t)(--s->n - i) * sizeof(s->v[0]));
}

/* @p sql lower-cased, without -- comments, each run of white space one
 * space; the caller frees it. */
static char *normalised(const char *sql) {
        char *out = malloc(strlen(sql) + 1), *o = out;

        for (const char *p = sql; *p; p++) {
                if (p[0] == '-' && p[1] == '-') {
                        p += strcspn(p, "\n");
                        if (!*p)
                                break;
                }
                if (isspace((unsigned char)*p)) {
                        if (o > out && o[-1] != ' ')
                                *o++ = ' ';
                } else
                        *o++ = (char)tolower((unsigned char)*p);
        }
        *o = '\0';
        return out;
}

/* Calls @p fn with each name "runfleet.NAME" that follows @p keyword in
 * @p sql (normalised); returns how many. */
static int each(const char *sql, const char *keyword, void (*fn)(names_t *, const char *), names_t *s) {
        size_t klen = strlen(keyword);
        int count = 0;

        for (const char *p = strstr(sql, keyword); p; p = strstr(p + klen, keyword)) {
                const char *q = p + klen;
                char name[64];
                size_t len;

                if (strncmp(q, "if exists ", 10) == 0)
                        q += 10;
                if (strncmp(q, "runfleet.", 9) != 0)
                        continue;
                q += 9;
                len = strcspn(q, " (;");
                snprintf(name, sizeof(name), "%.*s", (int)len, q);
                count++;
                if (fn)
                        fn(s, name);
        }
        return count;
}

static int creates(const char *sql, const char *what, void (*fn)(names_t *, const char *), names_t *s) {
        char a[64], b[64];

        snprintf(a, sizeof(a), "create %s ", what);
        snprintf(b, sizeof(b), "create or replace %s ", what);
        return each(sql, a, fn, s) + each(sql, b, fn, s);
}

static bool is_migration(const char *name) {
        return isdigit((unsigned char)name[0]) && !strchr(name, '/');
}

/* Functions and views the migrations leave, in order, and none after SPLIT. */
static void migrations(names_t *functions, names_t *views) {
        int count = 0;

        for (const rf_embedded_file_t *f = rf_embedded_files; f->name; f++) {
                char *sql;

                if (!is_migration(f->name))
                        continue;
                count++;
                sql = normalised(f->data);
                if (atoi(f->name) > SPLIT) {
                        int n = creates(sql, "function", NULL, NULL) + creates(sql, "view", NULL, NULL) +
                                creates(sql, "procedure", NULL, NULL);
                        if (n) {
                                fprintf(stderr,
                                        "%s defines a function or view: put it in schemas/sql/functions/ "
                                        "or views/\n",
                                        f->name);
                                CHECK(n == 0);
                        }
                }
                creates(sql, "function", add, functions);
                each(sql, "drop function ", del, functions);
                creates(sql, "view", add, views);
                each(sql, "drop view ", del, views);
                free(sql);
        }
        CHECK(count >= SPLIT);
        CHECK(find(functions, "begin_executions") >= 0 && find(functions, "finish_execution") < 0);
        /* 018 drops both views (they named the tables it partitions): only their files define them now */
        CHECK(find(views, "orphans") < 0 && find(views, "runs") < 0);
}

/* Each file of @p dir ("functions/") defines one @p what named like it. */
static void definitions(const char *dir, const char *what, const names_t *from_migrations) {
        names_t defined = { .n = 0 };
        size_t dlen = strlen(dir);

        for (const rf_embedded_file_t *f = rf_embedded_files; f->name; f++) {
                names_t here = { .n = 0 };
                char *sql, expect[64];

                if (strncmp(f->name, dir, dlen) != 0)
                        continue;
                snprintf(expect, sizeof(expect), "%.*s", (int)(strlen(f->name) - dlen - 4), f->name + dlen);
                sql = normalised(f->data);
                CHECK(creates(sql, what, add, &here) == 1);
                CHECK(here.n == 1 && strcmp(here.v[0], expect) == 0);
                /* re-applied by every migrate: it must replace, never fail on, itself */
                CHECK(strstr(sql, "create or replace ") != NULL);
                if (find(&defined, expect) >= 0) {
                        fprintf(stderr, "%s %s is defined twice\n", what, expect);
                        CHECK(!"one file per definition");
                }
                add(&defined, expect);
                if (strcmp(what, "function") == 0) {
                        /* functions are executable by PUBLIC unless revoked */
                        char revoke[128];

                        snprintf(revoke, sizeof(revoke), "revoke execute on function runfleet.%s(", expect);
                        CHECK_CONTAINS(sql, revoke);
                }
                free(sql);
        }
        for (int i = 0; i < from_migrations->n; i++)
                if (find(&defined, from_migrations->v[i]) < 0) {
                        fprintf(stderr, "%s runfleet.%s has no file %s%s.sql\n", what, from_migrations->v[i], dir,
                                from_migrations->v[i]);
                        CHECK(!"every function and view has its file");
                }
        CHECK(defined.n >= from_migrations->n);
}

static void pinned_checksums(void) {
        for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
                const rf_embedded_file_t *f = rf_embedded_find(pinned[i].name);

                CHECK(f != NULL);
                if (f && strcmp(f->sha256, pinned[i].sha256) != 0) {
                        fprintf(stderr,
                                "%s changed (sha256 %s, was %s): migrate refuses it on every database "
                                "that ran it; restore it and put the change in a new migration\n",
                                pinned[i].name, f->sha256, pinned[i].sha256);
                        CHECK(!"applied migrations are immutable");
                }
        }
}

/* Every .sql file in schemas/sql/@p sub is embedded, with its own SHA-256
 * (sha256sum's, not embed.py's): a file left out of schemas/meson.build
 * would never be applied. */
static int on_disk(const char *sub) {
        char dir[1024], cmd[2200], line[256];
        struct dirent *e;
        DIR *d;
        int count = 0;

        snprintf(dir, sizeof(dir), "%s/schemas/sql/%s", RF_SOURCE_ROOT, sub);
        d = opendir(dir);
        CHECK(d != NULL);
        while (d && (e = readdir(d))) {
                size_t len = strlen(e->d_name);
                char name[300];
                const rf_embedded_file_t *f;
                FILE *p;

                if (len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0)
                        continue;
                count++;
                snprintf(name, sizeof(name), "%s%s", sub, e->d_name);
                f = rf_embedded_find(name);
                if (!f) {
                        fprintf(stderr, "schemas/sql/%s is not in schemas/meson.build\n", name);
                        CHECK(!"every SQL file is embedded");
                        continue;
                }
                snprintf(cmd, sizeof(cmd), "sha256sum '%s/%s'", dir, e->d_name);
                p = popen(cmd, "r");
                CHECK(p && fgets(line, sizeof(line), p) && strncmp(line, f->sha256, 64) == 0);
                if (p)
                        pclose(p);
        }
        if (d)
                closedir(d);
        return count;
}

int main(void) {
        names_t functions = { .n = 0 }, views = { .n = 0 };

        migrations(&functions, &views);
        definitions("functions/", "function", &functions);
        definitions("views/", "view", &views);
        pinned_checksums();
        CHECK(on_disk("") >= SPLIT);
        CHECK(on_disk("functions/") >= 7);
        CHECK(on_disk("views/") == 2);
        return rf_test_finish();
}
