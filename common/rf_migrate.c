#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rf_embedded.h"
#include "rf_migrate.h"

static int is_migration(const char *name) {
        size_t len = strlen(name);

        return len > 4 && strcmp(name + len - 4, ".sql") == 0;
}

static int apply_one(rf_pg_t *pg, const rf_embedded_file_t *f, int *applied, char *errstr,
                     size_t errstr_size) {
        const char *params[] = { f->name };
        PGresult *res = NULL;
        char why[512];
        int r, done;

        r = rf_pg_exec(pg, "SELECT 1 FROM public.runfleet_migrations WHERE name = $1", 1, params, &res, errstr,
                       errstr_size);
        if (r < 0)
                return r;
        done = PQntuples(res) > 0;
        PQclear(res);
        if (done)
                return 0;

        /* each file runs in its own transaction with its bookkeeping row, so a
         * failure leaves the database exactly as before that file */
        r = rf_pg_exec(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0)
                return r;
        res = PQexec(rf_pg_conn(pg), f->data);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
                snprintf(why, sizeof(why), "%s", PQresultErrorMessage(res));
                why[strcspn(why, "\n")] = '\0';
                PQclear(res);
                rf_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, errstr, errstr_size);
                snprintf(errstr, errstr_size, "migration %s: %s", f->name, why);
                return -EIO;
        }
        PQclear(res);
        r = rf_pg_exec(pg, "INSERT INTO public.runfleet_migrations (name) VALUES ($1)", 1, params, NULL, errstr,
                       errstr_size);
        if (r == 0)
                r = rf_pg_exec(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0) {
                rf_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, why, sizeof(why));
                return r;
        }
        (*applied)++;
        return 0;
}

/* The bookkeeping table lives in the public schema, named with it: it
 * must exist before the migration that creates ours, and an unqualified
 * name follows the search_path, whose default ("$user", public) finds a
 * schema named like the login role first -- for a role named runfleet,
 * our own schema once 001_init.sql made it, where a second migrate used
 * to create an empty table and run every migration again. A table an
 * earlier version left there (empty after that bug, or the real one when
 * the schema existed before the first migrate) is merged into public's
 * and dropped, in one transaction. */
static int bookkeeping_table(rf_pg_t *pg, char *errstr, size_t errstr_size) {
        char ignored[256];
        int r;

        r = rf_pg_exec(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0)
                return r;
        r = rf_pg_exec(pg,
                       "CREATE TABLE IF NOT EXISTS public.runfleet_migrations ("
                       " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                       0, NULL, NULL, errstr, errstr_size);
        if (r == 0)
                r = rf_pg_exec(pg,
                               "DO $$ BEGIN"
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
        for (const rf_embedded_file_t *f = rf_embedded_files; r == 0 && f->name; f++)
                if (is_migration(f->name))
                        r = apply_one(pg, f, &applied, errstr, errstr_size);
        if (rf_pg_ok(pg)) {
                char ignored[256];
                rf_pg_exec(pg, "SELECT pg_advisory_unlock($1::bigint)", 1, params, NULL, ignored,
                           sizeof(ignored));
        }
        if (r == 0 && ret_applied)
                *ret_applied = applied;
        return r;
}
