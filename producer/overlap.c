/* SPDX-License-Identifier: Apache-2.0 */
/* The waiting decision of overlap = "buffer_one".
 *
 * Why it is recorded but not produced: a message in Kafka would be taken by
 * a worker at once, and a worker has no good way to hold one back (it would
 * stall its partition, which carries other workflows, or need a timer of its
 * own). So the decision stays in PostgreSQL, PENDING, with waiting_for
 * naming the run it was buffered behind, and the reaper, which already
 * produces the RUN decisions nothing is working on, releases it: at its
 * first sweep after nothing else of the workflow is PENDING or RUNNING it
 * clears waiting_for and produces it (see reaper/sweep.c). Until then the
 * reaper's grace rule and the orphans view leave it alone; once nothing is
 * in flight it is an orphan like any other, so it cannot be forgotten. */
#include <errno.h>
#include <stdio.h>

#include "overlap.h"
#include "rf_store.h"

int overlap_insert_waiting(rf_pg_t *pg, rf_decision_t *d, int64_t tick_ms, const char *wait_for, char *errstr,
                           size_t errstr_size) {
        char ignored[256];
        PGresult *res = NULL;
        int r;

        r = rf_pg_exec(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0)
                return r;
        r = rf_store_insert_decision(pg, d, "RUN", tick_ms, errstr, errstr_size);
        if (r < 0)
                goto rollback;
        {
                const char *params[] = { d->decision_id, wait_for };
                r = rf_pg_exec(pg,
                               "UPDATE runfleet.decisions SET waiting_for = $2::uuid WHERE decision_id = $1"
                               " RETURNING 1",
                               2, params, &res, errstr, errstr_size);
        }
        if (r < 0)
                goto rollback;
        /* a connection lost and made again between the statements took the
         * insert with it: say so rather than commit nothing */
        if (PQntuples(res) != 1) {
                PQclear(res);
                snprintf(errstr, errstr_size, "the decision's insert was lost with its connection");
                r = -EIO;
                goto rollback;
        }
        PQclear(res);
        return rf_pg_exec(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
rollback:
        rf_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, ignored, sizeof(ignored));
        return r;
}
