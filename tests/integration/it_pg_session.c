/* SPDX-License-Identifier: Apache-2.0 */
/* The session settings every runfleet connection is made with
 * (common/rf_pg.c, CONNECT_OPTIONS): JIT off, and an options= in the
 * database URL still wins over it. A caller's own settings
 * (rf_pg_connect_with, the worker's generic plans) come on top and stay
 * with the connection when it is made anew. */
#include <stdio.h>
#include <string.h>

#include "itest.h"
#include "rf_pg.h"

/* SHOW @p name on @p pg, into @p out. */
static int show_on(rf_pg_t *pg, const char *name, char *out, size_t size) {
        char errstr[256], sql[64];
        PGresult *res = NULL;
        int r;

        snprintf(sql, sizeof(sql), "SHOW %s", name);
        r = rf_pg_exec(pg, sql, 0, NULL, &res, errstr, sizeof(errstr));
        if (r == 0)
                snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
        else
                fprintf(stderr, "# SHOW %s: %s\n", name, errstr);
        PQclear(res);
        return r;
}

/* SHOW @p name on a new connection to @p url, into @p out. */
static int show(const char *url, const char *name, char *out, size_t size) {
        char errstr[256];
        rf_pg_t *pg = NULL;
        int r = rf_pg_connect(url, "it_pg_session", &pg, errstr, sizeof(errstr));

        if (r == 0)
                r = show_on(pg, name, out, size);
        else
                fprintf(stderr, "# %s: %s\n", url, errstr);
        rf_pg_destroy(pg);
        return r;
}

/* A connection with the worker's settings has them, and JIT off, also
 * after its session was ended and the next statement made a new one. */
static void caller_options(itest_t *t) {
        char errstr[256], value[64] = "";
        rf_pg_t *pg = NULL;

        CHECK(rf_pg_connect_with(t->db_url, "it_pg_session", RF_PG_GENERIC_PLANS, &pg, errstr, sizeof(errstr)) == 0);
        if (!pg)
                return;
        CHECK(show_on(pg, "plan_cache_mode", value, sizeof(value)) == 0);
        CHECK(strcmp(value, "force_generic_plan") == 0);
        CHECK(show_on(pg, "jit", value, sizeof(value)) == 0);
        CHECK(strcmp(value, "off") == 0);
        /* its session ends: the statement fails, the next one reconnects */
        CHECK(rf_pg_exec(pg, "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL, NULL, errstr, sizeof(errstr)) <
              0);
        CHECK(show_on(pg, "plan_cache_mode", value, sizeof(value)) == 0);
        CHECK(strcmp(value, "force_generic_plan") == 0);
        rf_pg_destroy(pg);
        /* and a plain connection keeps the server's default */
        CHECK(show(t->db_url, "plan_cache_mode", value, sizeof(value)) == 0);
        CHECK(strcmp(value, "auto") == 0);
}

int main(void) {
        itest_t t;
        char url[800], value[64] = "";

        itest_init(&t, "pg_session");
        CHECK(show(t.db_url, "jit", value, sizeof(value)) == 0);
        CHECK(strcmp(value, "off") == 0);
        /* the operator's own options= replaces ours */
        snprintf(url, sizeof(url), "%s%coptions=-c%%20jit%%3Don%%20-c%%20work_mem%%3D7MB", t.db_url,
                 strchr(t.db_url, '?') ? '&' : '?');
        CHECK(show(url, "work_mem", value, sizeof(value)) == 0);
        CHECK(strcmp(value, "7MB") == 0);
        CHECK(show(url, "jit", value, sizeof(value)) == 0);
        CHECK(strcmp(value, "on") == 0);
        caller_options(&t);
        return itest_finish(&t);
}
