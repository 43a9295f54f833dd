/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>

#include "preload.h"
#include "rf_util.h"

static char *read_file(const char *path) {
        FILE *f = fopen(path, "r");
        char *text = NULL;
        long len;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (text = malloc((size_t)len + 1)) != NULL) {
                text[fread(text, 1, (size_t)len, f)] = '\0';
        }
        fclose(f);
        return text;
}

double bench_preload(itest_t *t, long long rows) {
        char root[512], path[600], count[32], days[16], errstr[512];
        const char *params[] = { count, days };
        int64_t t0 = rf_mono_ms();
        char *sql;
        PGresult *res;

        if (rows <= 0)
                return 0;
        itest_source_root(t, root, sizeof(root));
        snprintf(path, sizeof(path), "%s/bench/preload_history.sql", root);
        sql = read_file(path);
        if (!sql) {
                fprintf(stderr, "# preload: cannot read %s\n", path);
                return -1;
        }
        res = PQexec(rf_pg_conn(t->pg), sql);
        free(sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                fprintf(stderr, "# preload: %s", PQresultErrorMessage(res));
                PQclear(res);
                return -1;
        }
        PQclear(res);
        snprintf(count, sizeof(count), "%lld", rows);
        snprintf(days, sizeof(days), "%d", BENCH_PRELOAD_DAYS);
        if (rf_pg_exec(t->pg, "SELECT pg_temp.preload_history($1::bigint, $2::integer)", 2, params, NULL, errstr,
                       sizeof(errstr)) < 0 ||
            rf_pg_exec(t->pg, "VACUUM ANALYZE runfleet.decisions", 0, NULL, NULL, errstr, sizeof(errstr)) < 0 ||
            rf_pg_exec(t->pg, "VACUUM ANALYZE runfleet.executions", 0, NULL, NULL, errstr, sizeof(errstr)) < 0 ||
            rf_pg_exec(t->pg, "VACUUM ANALYZE runfleet.scraper_calls", 0, NULL, NULL, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "# preload: %s\n", errstr);
                return -1;
        }
        return (double)(rf_mono_ms() - t0) / 1000.0;
}
