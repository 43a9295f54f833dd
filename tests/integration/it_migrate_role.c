/* SPDX-License-Identifier: Apache-2.0 */
/* migrate run as a login role named "runfleet", the non-superuser owner of
 * its database, as docker-compose.yml and most installations do. The
 * default search_path ("$user", public) then finds our own schema first
 * once 001_init.sql made it: an unqualified bookkeeping table used to be
 * created empty there by the second migrate, which ran 001_init.sql again
 * and failed ("relation "decisions" already exists"). Also: databases an
 * earlier version left with a table named runfleet.runfleet_migrations
 * (empty after that bug, or holding the real rows when the schema existed
 * before the first migrate) migrate again without re-running anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static const char *const workflows =
        "scrapers = ( { name = \"s\"; url = \"@FAKE@/migrate_role/s\"; } );\n"
        "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n";

/* @p url with its user replaced by @p user (a URI "postgresql://[user@]host..."). */
static void url_with_user(const char *url, const char *user, char *out, size_t size) {
        const char *host = strstr(url, "://");
        const char *at, *slash;

        if (!host) {
                fprintf(stderr, "FAIL: RUNFLEET_DATABASE_URL is not a URI: %s\n", url);
                exit(1);
        }
        host += 3;
        slash = strchr(host, '/');
        at = strchr(host, '@');
        if (at && (!slash || at < slash))
                host = at + 1;
        snprintf(out, size, "postgresql://%s@%s", user, host);
}

static void admin_sql(itest_t *t, const char *sql) {
        char errstr[512];

        if (rf_pg_exec(t->pg, sql, 0, NULL, NULL, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "FAIL: %s: %s\n", sql, errstr);
                exit(1);
        }
}

/* Runs migrate as the role and returns how many migrations it applied (-1 when it failed). */
static int migrate(itest_t *t) {
        char out[8192];
        const char *n;
        int code = itest_run(t, out, sizeof(out), 60000, NULL, "runfleet-producer", "migrate", NULL);

        if (code != 0) {
                fprintf(stderr, "migrate exited %d:\n%s\n", code, out);
                return -1;
        }
        n = strstr(out, "\"migrations_applied\":");
        return n ? atoi(n + strlen("\"migrations_applied\":")) : -1;
}

int main(void) {
        itest_t t;
        char sql[256], admin_db_url[sizeof(t.db_url)];
        long long files;
        int first;

        itest_init(&t, "migrate_role");
        /* roles belong to the cluster: made once, left for the next run; the
         * three NOLOGIN group roles the way a DBA makes them for an owner
         * without CREATEROLE (005_roles.sql's hint) */
        admin_sql(&t, "DO $$ BEGIN"
                      " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'runfleet') THEN"
                      "  CREATE ROLE runfleet LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB; END IF;"
                      " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'runfleet_worker_role') THEN"
                      "  CREATE ROLE runfleet_worker_role NOLOGIN; END IF;"
                      " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'runfleet_reaper_role') THEN"
                      "  CREATE ROLE runfleet_reaper_role NOLOGIN; END IF;"
                      " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'runfleet_producer_role') THEN"
                      "  CREATE ROLE runfleet_producer_role NOLOGIN; END IF;"
                      " END $$");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_roles WHERE rolname = 'runfleet'"
                                 " AND NOT rolsuper AND NOT rolcreaterole") == 1);
        snprintf(sql, sizeof(sql), "ALTER DATABASE %s OWNER TO runfleet", t.db_name);
        admin_sql(&t, sql);

        /* the programs connect as runfleet (the URL keeps the test's
         * database); t.pg stays the superuser's, to look */
        snprintf(admin_db_url, sizeof(admin_db_url), "%s", t.db_url);
        url_with_user(admin_db_url, "runfleet", t.db_url, sizeof(t.db_url));
        itest_config(&t, "%s", workflows);
        snprintf(t.db_url, sizeof(t.db_url), "%s", admin_db_url);

        /* twice: the second applies nothing and succeeds */
        first = migrate(&t);
        CHECK(first > 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner"
                                 " WHERE n.nspname = 'runfleet' AND r.rolname = 'runfleet'") == 1);
        CHECK(migrate(&t) == 0);
        CHECK(migrate(&t) == 0);
        files = itest_query_ll(&t, "SELECT count(*) FROM public.runfleet_migrations");
        CHECK(files == first);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                                 " WHERE c.relname = 'runfleet_migrations' AND n.nspname <> 'public'") == 0);

        /* a database the bug left behind: an empty runfleet.runfleet_migrations
         * beside public's; migrate drops it and re-runs nothing */
        admin_sql(&t, "CREATE TABLE runfleet.runfleet_migrations (LIKE public.runfleet_migrations INCLUDING ALL)");
        admin_sql(&t, "ALTER TABLE runfleet.runfleet_migrations OWNER TO runfleet");
        CHECK(migrate(&t) == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM public.runfleet_migrations") == files);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_class WHERE relname = 'runfleet_migrations'") == 1);

        /* a database whose schema existed before its first migrate: the
         * bookkeeping is in runfleet.runfleet_migrations only; migrate moves
         * it to public and re-runs nothing */
        admin_sql(&t, "ALTER TABLE public.runfleet_migrations SET SCHEMA runfleet");
        CHECK(migrate(&t) == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM public.runfleet_migrations") == files);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_class WHERE relname = 'runfleet_migrations'") == 1);

        /* and the schema is the one migrate made, usable as the role */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions") == 0);
        return itest_finish(&t);
}
