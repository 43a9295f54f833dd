/* SPDX-License-Identifier: Apache-2.0 */
/* The session settings every runfleet connection is made with
 * (common/rf_pg.c, CONNECT_OPTIONS): JIT off, and an options= in the
 * database URL still wins over it. */
#include <stdio.h>
#include <string.h>

#include "itest.h"
#include "rf_pg.h"

/* SHOW @p name on a new connection to @p url, into @p out. */
static int show(const char *url, const char *name, char *out, size_t size) {
        char errstr[256], sql[64];
        rf_pg_t *pg = NULL;
        PGresult *res = NULL;
        int r = rf_pg_connect(url, "it_pg_session", &pg, errstr, sizeof(errstr));

        if (r == 0) {
                snprintf(sql, sizeof(sql), "SHOW %s", name);
                r = rf_pg_exec(pg, sql, 0, NULL, &res, errstr, sizeof(errstr));
        }
        if (r == 0)
                snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
        else
                fprintf(stderr, "# %s: %s\n", url, errstr);
        PQclear(res);
        rf_pg_destroy(pg);
        return r;
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
        return itest_finish(&t);
}
