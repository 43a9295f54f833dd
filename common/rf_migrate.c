/* SPDX-License-Identifier: Apache-2.0 */
/* Migrations and definitions. schemas/sql/NNN_*.sql are numbered
 * migrations: tables, indexes, data; each runs once, and its text must not
 * change after it ran anywhere, which the SHA-256 recorded beside its name
 * enforces. schemas/sql/functions/ and views/ hold one function or view
 * per file, its only definition, re-applied in full (CREATE OR REPLACE,
 * with its settings and grants) by every migrate, in one transaction after
 * the migrations: a database has the bodies of the build that migrated it
 * last, whatever it ran before, and a body's history is its file's. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "rf_embedded.h"
#include "rf_migrate.h"
#include "rf_partitions.h"

static bool is_migration(const char *name) {
        size_t len = strlen(name);

        return len > 4 && !strchr(name, '/') && strcmp(name + len - 4, ".sql") == 0;
}

static bool is_definition(const char *name) {
        size_t len = strlen(name);

        return (strncmp(name, "functions/", 10) == 0 || strncmp(name, "views/", 6) == 0) && len > 4 &&
               strcmp(name + len - 4, ".sql") == 0;
}

/* Runs @p sql (several statements) in the open transaction; the database's
 * reason, one line, after "@p what @p name: ". */
static int exec_file(rf_pg_t *pg, const char *what, const rf_embedded_file_t *f, char *errstr, size_t errstr_size) {
        PGresult *res = PQexec(rf_pg_conn(pg), f->data);
        char why[512];

        if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK) {
                PQclear(res);
                return 0;
        }
        snprintf(why, sizeof(why), "%s", PQresultErrorMessage(res));
        why[strcspn(why, "\n")] = '\0';
        PQclear(res);
        snprintf(errstr, errstr_size, "%s %s: %s", what, f->name, why);
        return -EIO;
}

static int apply_one(rf_pg_t *pg, const rf_embedded_file_t *f, int *applied, char *errstr, size_t errstr_size) {
        const char *params[] = { f->name, f->sha256 };
        char ignored[256];
        int r;

        /* each file runs in its own transaction with its bookkeeping row, so a
         * failure leaves the database exactly as before that file */
        r = rf_pg_exec(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0)
                return r;
        r = exec_file(pg, "migration", f, errstr, errstr_size);
        if (r == 0)
                r = rf_pg_exec(pg, "INSERT INTO public.runfleet_migrations (name, checksum) VALUES ($1, $2)", 2, params,
                               NULL, errstr, errstr_size);
        if (r == 0)
                r = rf_pg_exec(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0) {
                if (rf_pg_ok(pg))
                        rf_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, ignored, sizeof(ignored));
                return r;
        }
        (*applied)++;
        return 0;
}

/* The embedded migration called @p name, or NULL. */
static const rf_embedded_file_t *migration(const char *name) {
        const rf_embedded_file_t *f = rf_embedded_find(name);

        return f && is_migration(f->name) ? f : NULL;
}

/* Compares what the database recorded with the embedded migrations, before
 * anything runs. A migration whose text changed after it was applied is
 * refused: the database ran the old text, and nothing would ever run the
 * new one, so the schema would silently differ from what the file says (a
 * change belongs in a new migration). A row recorded before checksums
 * existed gets the current file's now: what ran then cannot be known. A
 * name this build does not know means a newer build migrated the database;
 * re-applying this build's function bodies would take the newer ones back,
 * so that is refused too. */
static int check_recorded(rf_pg_t *pg, char *errstr, size_t errstr_size) {
        PGresult *res = NULL;
        int r, n;

        r = rf_pg_exec(pg, "SELECT name, checksum FROM public.runfleet_migrations ORDER BY name", 0, NULL, &res, errstr,
                       errstr_size);
        if (r < 0)
                return r;
        n = PQntuples(res);
        for (int i = 0; r == 0 && i < n; i++) {
                const char *name = PQgetvalue(res, i, 0), *sum = PQgetvalue(res, i, 1);
                const rf_embedded_file_t *f = migration(name);

                if (!f) {
                        snprintf(errstr, errstr_size,
                                 "migration %s was applied to this database but is not in this build: a newer "
                                 "runfleet migrated it; run migrate with that version",
                                 name);
                        r = -EPROTO;
                } else if (PQgetisnull(res, i, 1)) {
                        const char *params[] = { name, f->sha256 };

                        r = rf_pg_exec(pg,
                                       "UPDATE public.runfleet_migrations SET checksum = $2"
                                       " WHERE name = $1 AND checksum IS NULL",
                                       2, params, NULL, errstr, errstr_size);
                } else if (strcmp(sum, f->sha256) != 0) {
                        snprintf(errstr, errstr_size,
                                 "migration %s changed after it was applied (sha256 %.12s... when applied, %.12s... "
                                 "now): restore the file as it was and put the change in a new migration",
                                 name, sum, f->sha256);
                        r = -EBADMSG;
                }
        }
        PQclear(res);
        return r;
}

/* Every function and view file, in one transaction: all or none. */
static int apply_definitions(rf_pg_t *pg, char *errstr, size_t errstr_size) {
        char ignored[256];
        int r;

        r = rf_pg_exec(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
        for (const rf_embedded_file_t *f = rf_embedded_files; r == 0 && f->name; f++)
                if (is_definition(f->name))
                        r = exec_file(pg, "definition", f, errstr, errstr_size);
        if (r == 0)
                r = rf_pg_exec(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0 && rf_pg_ok(pg))
                rf_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, ignored, sizeof(ignored));
        return r;
}

/* The bookkeeping table lives in the public schema, named with it: it
 * must exist before the migration that creates ours, and an unqualified
 * name follows the search_path, whose default ("$user", public) finds a
 * schema named like the login role first -- for a role named runfleet,
 * our own schema once 001_init.sql made it, where a second migrate used
 * to create an empty table and run every migration again. A table an
 * earlier version left there (empty after that bug, or the real one when
 * the schema existed before the first migrate) is merged into public's
 * and dropped, in one transaction. The checksum column came later: a
 * table without it gets it (altered only then, since ALTER TABLE needs
 * ownership even when it would change nothing). */
static int bookkeeping_table(rf_pg_t *pg, char *errstr, size_t errstr_size) {
        char ignored[256];
        int r;

        r = rf_pg_exec(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0)
                return r;
        r = rf_pg_exec(pg,
                       "CREATE TABLE IF NOT EXISTS public.runfleet_migrations ("
                       " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), checksum text)",
                       0, NULL, NULL, errstr, errstr_size);
        if (r == 0)
                r = rf_pg_exec(pg,
                               "DO $$ BEGIN"
                               " IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute"
                               "                 WHERE attrelid = 'public.runfleet_migrations'::regclass"
                               "                   AND attname = 'checksum' AND NOT attisdropped) THEN"
                               "  ALTER TABLE public.runfleet_migrations ADD COLUMN checksum text;"
                               " END IF;"
                               " IF pg_catalog.to_regclass('runfleet.runfleet_migrations') IS NOT NULL THEN"
                               "  INSERT INTO public.runfleet_migrations (name, applied_at)"
                               "   SELECT name, applied_at FROM runfleet.runfleet_migrations"
                               "   ON CONFLICT (name) DO NOTHING;"
                               "  DROP TABLE runfleet.runfleet_migrations;"
                               " END IF;"
                               " END $$",
                               0, NULL, NULL, errstr, errstr_size);
        if (r == 0)
                r = rf_pg_exec(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0 && rf_pg_ok(pg))
                rf_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, ignored, sizeof(ignored));
        return r;
}

int rf_migrate_apply(rf_pg_t *pg, int *ret_applied, char *errstr, size_t errstr_size) {
        char key[32];
        const char *params[] = { key };
        int applied = 0, r;

        snprintf(key, sizeof(key), "%lld", RF_LOCK_MIGRATE);
        r = rf_pg_exec(pg, "SELECT pg_advisory_lock($1::bigint)", 1, params, NULL, errstr, errstr_size);
        if (r < 0)
                return r;
        r = bookkeeping_table(pg, errstr, errstr_size);
        if (r == 0)
                r = check_recorded(pg, errstr, errstr_size);
        for (const rf_embedded_file_t *f = rf_embedded_files; r == 0 && f->name; f++) {
                const char *name[] = { f->name };
                PGresult *res = NULL;

                if (!is_migration(f->name))
                        continue;
                r = rf_pg_exec(pg, "SELECT 1 FROM public.runfleet_migrations WHERE name = $1", 1, name, &res, errstr,
                               errstr_size);
                if (r == 0 && PQntuples(res) == 0)
                        r = apply_one(pg, f, &applied, errstr, errstr_size);
                PQclear(res);
        }
        if (r == 0)
                r = apply_definitions(pg, errstr, errstr_size);
        if (r == 0)
                r = rf_partitions_create(pg, NULL, errstr, errstr_size);
        if (rf_pg_ok(pg)) {
                char ignored[256];
                rf_pg_exec(pg, "SELECT pg_advisory_unlock($1::bigint)", 1, params, NULL, ignored, sizeof(ignored));
        }
        if (r == 0 && ret_applied)
                *ret_applied = applied;
        return r;
}
