/* SPDX-License-Identifier: Apache-2.0 */
/* migrate's two rules (schemas/sql/README.md). Numbered migrations are
 * recorded with their SHA-256, and one whose text changed after it was
 * applied is refused, naming the file, before anything runs (simulated by
 * changing the recorded checksum); a database migrated by a build with
 * more migrations is refused too; rows recorded before checksums existed
 * (a bookkeeping table without the column) get the current checksum.
 * Functions and views are re-applied by every migrate: a body, a setting,
 * a grant or a view changed or dropped behind migrate's back is back after
 * the next one, which applies no migration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static const char *const workflows =
        "scrapers = ( { name = \"s\"; url = \"@FAKE@/migrate_checksum/s\"; } );\n"
        "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n";

static void sql(itest_t *t, const char *text) {
        char errstr[512];

        if (rf_pg_exec(t->pg, text, 0, NULL, NULL, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "FAIL: %s: %s\n", text, errstr);
                exit(1);
        }
}

/* Runs migrate: its exit status, and how many migrations it applied in *ret_applied. */
static int migrate(itest_t *t, char *out, size_t size, int *ret_applied) {
        int code = itest_run(t, out, size, 60000, NULL, "runfleet-producer", "migrate", NULL);
        const char *n = strstr(out, "\"migrations_applied\":");

        *ret_applied = n ? atoi(n + strlen("\"migrations_applied\":")) : -1;
        if (code != 0)
                printf("# migrate exited %d: %s", code, out);
        return code;
}

static void check_refused(const char *out, const char *name, const char *why) {
        size_t len = strlen(out);

        CHECK_CONTAINS(out, name);
        CHECK_CONTAINS(out, why);
        /* one line */
        CHECK(len > 0 && strchr(out, '\n') == out + len - 1);
}

/* The checksums as one text, to compare before and after. */
static void checksums(itest_t *t, char *out, size_t size) {
        PGresult *res = NULL;
        char errstr[256];

        out[0] = '\0';
        if (rf_pg_exec(t->pg,
                       "SELECT string_agg(name || '=' || coalesce(checksum, 'NULL'), ',' ORDER BY name)"
                       "  FROM public.runfleet_migrations",
                       0, NULL, &res, errstr, sizeof(errstr)) == 0)
                snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
}

/* The database's own SHA-256 of a migration file's bytes equals the recorded one. */
static void recorded_is_files(itest_t *t, const char *name) {
        char root[1024], path[1300], errstr[256];
        const char *params[2] = { name, NULL };
        PGresult *res = NULL;
        FILE *f;
        char *text = calloc(1, 1 << 20);
        size_t len;

        itest_source_root(t, root, sizeof(root));
        snprintf(path, sizeof(path), "%s/schemas/sql/%s", root, name);
        f = fopen(path, "rb");
        CHECK(f != NULL && text != NULL);
        if (!f || !text) {
                free(text);
                return;
        }
        len = fread(text, 1, (1 << 20) - 1, f);
        fclose(f);
        text[len] = '\0';
        params[1] = text;
        CHECK(rf_pg_exec(t->pg,
                         "SELECT checksum = encode(sha256(convert_to($2, 'UTF8')), 'hex')"
                         "  FROM public.runfleet_migrations WHERE name = $1",
                         2, params, &res, errstr, sizeof(errstr)) == 0);
        CHECK(res && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0);
        PQclear(res);
        free(text);
}

static const char *const seqscan_off =
        "SELECT count(*) FROM pg_proc WHERE oid = 'runfleet.begin_executions(text, integer, text, jsonb)'::regprocedure"
        " AND prosecdef AND 'enable_seqscan=off' = ANY (proconfig)";

int main(void) {
        itest_t t;
        char out[8192], before[4096], after[4096];
        int first, n;

        itest_init(&t, "migrate_checksum");
        itest_config(&t, "%s", workflows);

        CHECK(migrate(&t, out, sizeof(out), &first) == 0);
        CHECK(first >= 16);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM public.runfleet_migrations"
                                 " WHERE checksum ~ '^[0-9a-f]{64}$'") == first);
        /* 009 holds non-ASCII text: the checksum is of the file's bytes */
        recorded_is_files(&t, "009_no_sequential_scans_in_batches.sql");
        recorded_is_files(&t, "013_pause_overlap.sql");
        checksums(&t, before, sizeof(before));
        CHECK(migrate(&t, out, sizeof(out), &n) == 0 && n == 0);

        /* a bookkeeping table from before checksums: the column is added and
         * each row gets the current file's checksum; nothing runs again */
        sql(&t, "ALTER TABLE public.runfleet_migrations DROP COLUMN checksum");
        CHECK(migrate(&t, out, sizeof(out), &n) == 0 && n == 0);
        checksums(&t, after, sizeof(after));
        CHECK_STR_EQ(after, before);

        /* definitions changed behind migrate's back are restored by the
         * next migrate: a body, a setting, a grant, a view */
        sql(&t, "ALTER FUNCTION runfleet.begin_executions(text, integer, text, jsonb) RESET enable_seqscan");
        sql(&t,
            "CREATE OR REPLACE FUNCTION runfleet.renew_leases(p_executions uuid[], p_worker text, p_lease_ms integer)"
            " RETURNS SETOF uuid LANGUAGE sql AS $$ SELECT unnest(p_executions) $$");
        sql(&t, "REVOKE EXECUTE ON FUNCTION runfleet.finish_executions(text, jsonb) FROM runfleet_worker_role");
        sql(&t, "DROP VIEW runfleet.orphans");
        CHECK(itest_query_ll(&t, "%s", seqscan_off) == 0);
        CHECK(migrate(&t, out, sizeof(out), &n) == 0 && n == 0);
        CHECK(itest_query_ll(&t, "%s", seqscan_off) == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_proc WHERE proname = 'renew_leases'"
                                 " AND prosrc LIKE '%%WITH renewed AS%%' AND prosecdef") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) WHERE has_function_privilege('runfleet_worker_role',"
                                 " 'runfleet.finish_executions(text, jsonb)', 'EXECUTE')") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) WHERE has_table_privilege('runfleet_producer_role',"
                                 " 'runfleet.orphans', 'SELECT')") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.orphans") == 0);

        /* an applied migration whose text changed: refused, naming the file,
         * exit 1, before anything runs (the setting stays reset) */
        sql(&t, "ALTER FUNCTION runfleet.begin_executions(text, integer, text, jsonb) RESET enable_seqscan");
        sql(&t, "UPDATE public.runfleet_migrations SET checksum = repeat('0', 64)"
                " WHERE name = '007_set_based_batches.sql'");
        CHECK(migrate(&t, out, sizeof(out), &n) == 1);
        check_refused(out, "migration 007_set_based_batches.sql", "changed after it was applied");
        CHECK(itest_query_ll(&t, "%s", seqscan_off) == 0);
        CHECK(migrate(&t, out, sizeof(out), &n) == 1);
        check_refused(out, "007_set_based_batches.sql", "changed after it was applied");
        sql(&t, "UPDATE public.runfleet_migrations SET checksum = NULL WHERE name = '007_set_based_batches.sql'");

        /* a database a newer build migrated: refused, naming its migration */
        sql(&t, "INSERT INTO public.runfleet_migrations (name, checksum) VALUES ('999_from_a_newer_build.sql', NULL)");
        CHECK(migrate(&t, out, sizeof(out), &n) == 1);
        check_refused(out, "999_from_a_newer_build.sql", "not in this build");
        CHECK(itest_query_ll(&t, "%s", seqscan_off) == 0);
        sql(&t, "DELETE FROM public.runfleet_migrations WHERE name = '999_from_a_newer_build.sql'");

        /* and back to normal */
        CHECK(migrate(&t, out, sizeof(out), &n) == 0 && n == 0);
        CHECK(itest_query_ll(&t, "%s", seqscan_off) == 1);
        checksums(&t, after, sizeof(after));
        CHECK_STR_EQ(after, before);
        return itest_finish(&t);
}
