/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_partitions.h"

int rf_partitions_create(rf_pg_t *pg, size_t *ret_created, char *errstr, size_t errstr_size) {
        char from[16], days[16];
        const char *params[] = { from, days };
        PGresult *res = NULL;
        int r;

        snprintf(from, sizeof(from), "%d", RF_PARTITIONS_FROM_DAY);
        snprintf(days, sizeof(days), "%d", RF_PARTITIONS_DAYS);
        r = rf_pg_exec(pg, "SELECT count(*) FROM runfleet.create_partitions(current_date + $1::integer, $2::integer)",
                       2, params, &res, errstr, errstr_size);
        if (r == 0 && ret_created)
                *ret_created = (size_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        return r;
}

int rf_partitions_prune(rf_pg_t *pg, int keep_days, bool dry_run, rf_prune_row_fn *fn, void *userdata,
                        size_t *ret_dropped, size_t *ret_kept, char *errstr, size_t errstr_size) {
        char keep[16];
        const char *params[] = { keep, dry_run ? "true" : "false" };
        size_t dropped = 0, kept = 0;
        PGresult *res = NULL;
        int r;

        if (keep_days < 1) {
                snprintf(errstr, errstr_size, "retention must keep at least 1 day, not %d", keep_days);
                return -EINVAL;
        }
        snprintf(keep, sizeof(keep), "%d", keep_days);
        r = rf_pg_exec(pg,
                       "SELECT part, coalesce(day::text, ''), est_rows, action"
                       "  FROM runfleet.prune_partitions($1::integer, $2::boolean)",
                       2, params, &res, errstr, errstr_size);
        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                rf_prune_row_t row = { .part = PQgetvalue(res, i, 0),
                                       .day = PQgetvalue(res, i, 1),
                                       .est_rows = strtoll(PQgetvalue(res, i, 2), NULL, 10),
                                       .action = PQgetvalue(res, i, 3) };

                if (strncmp(row.action, "kept", 4) == 0 || strncmp(row.action, "busy", 4) == 0)
                        kept++;
                else if (strncmp(row.action, "dropped", 7) == 0 || strncmp(row.action, "deleted", 7) == 0 ||
                         strncmp(row.action, "would", 5) == 0)
                        dropped++;
                if (fn)
                        fn(&row, userdata);
        }
        PQclear(res);
        if (ret_dropped)
                *ret_dropped = dropped;
        if (ret_kept)
                *ret_kept = kept;
        return r;
}
