/* SPDX-License-Identifier: Apache-2.0 */
/* Pause on failure: a workflow with pause_after_failures = N is paused
 * once its last N ended RUN decisions are all DEAD.
 *
 * Why the reaper: it is what marks decisions DEAD, in a transaction, so the
 * pause (and the PAUSED alert owed to the webhook, in the runfleet.alerts
 * outbox keyed by the DEAD decision that tripped it) is recorded in the same
 * transaction as the last DEAD: no crash can leave a workflow DEAD N times
 * and still running. The evaluator then records every tick as SKIP "paused
 * by runfleet-reaper since ...", until an operator runs `unpause`.
 *
 * "In a row" counts the workflow's RUN decisions that ended (SUCCEEDED or
 * DEAD; a CANCELLED one ended on purpose and is not counted) since its
 * last unpause, latest first: a success in between breaks the row, and an
 * unpause starts a new one, so the next DEAD after an unpause does not
 * pause it again at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reaper.h"
#include "rf_log.h"

#define AUTOPAUSE_BY "runfleet-reaper"

/* $1 workflow, $2 N, $3 reason, $4 owe an alert, $5 the DEAD decision that
 * tripped it. Returns the new pause's id, no row when it did not trip (or
 * the workflow was paused already). */
static const char *const sql_autopause =
        "WITH last AS ("
        "  SELECT state FROM runfleet.decisions"
        "   WHERE workflow = $1 AND action = 'RUN' AND state IN ('SUCCEEDED', 'DEAD')"
        "     AND state_at > coalesce((SELECT max(unpaused_at) FROM runfleet.pauses WHERE workflow = $1),"
        "                             '-infinity')"
        "   ORDER BY state_at DESC, decided_at DESC LIMIT $2::int),"
        " trip AS (SELECT 1 WHERE (SELECT count(*) FROM last WHERE state = 'DEAD') = $2::int),"
        " paused AS ("
        "  INSERT INTO runfleet.pauses (workflow, paused_by, reason, automatic)"
        "  SELECT $1, '" AUTOPAUSE_BY "', $3, true FROM trip"
        "  ON CONFLICT (workflow) WHERE unpaused_at IS NULL DO NOTHING"
        "  RETURNING pause_id),"
        " owed AS ("
        "  INSERT INTO runfleet.alerts (decision_id, kind) SELECT $5::uuid, 'PAUSED' FROM paused WHERE $4::boolean"
        "  ON CONFLICT DO NOTHING)"
        " SELECT pause_id::text FROM paused";

int reaper_autopause(const rf_conf_t *conf, rf_pg_t *pg, PGresult *dead, int *ret_paused, char *errstr,
                     size_t errstr_size) {
        int n = PQntuples(dead), paused = 0, r = 0;

        for (int i = 0; i < n; i++) {
                const char *workflow = PQgetvalue(dead, i, 1);
                const rf_workflow_conf_t *w = rf_conf_workflow(conf, workflow);
                char threshold[16], reason[700];
                const char *error = PQgetvalue(dead, i, 4);
                const char *trip_id = PQgetvalue(dead, i, 0);
                PGresult *res = NULL;
                bool later = false;

                if (!w || w->pause_after_failures <= 0)
                        continue;
                /* once per workflow, with its latest row of this sweep as the one that tripped it */
                for (int j = i + 1; j < n && !later; j++)
                        later = strcmp(PQgetvalue(dead, j, 1), workflow) == 0;
                if (later)
                        continue;
                snprintf(threshold, sizeof(threshold), "%d", w->pause_after_failures);
                snprintf(reason, sizeof(reason),
                         "%d DEAD decision%s in a row (pause_after_failures = %d); last: %s: %s",
                         w->pause_after_failures, w->pause_after_failures == 1 ? "" : "s", w->pause_after_failures,
                         trip_id, *error ? error : "no error recorded");
                {
                        const char *params[] = { workflow, threshold, reason,
                                                 conf->reaper.webhook_url ? "true" : "false", trip_id };
                        r = rf_pg_exec(pg, sql_autopause, 5, params, &res, errstr, errstr_size);
                }
                if (r < 0)
                        return r;
                if (PQntuples(res) == 1) {
                        paused++;
                        rf_log_warn("workflow.paused",
                                    json_pack("{s:s, s:s, s:i, s:s}", "workflow", workflow, "decision_id", trip_id,
                                              "pause_after_failures", w->pause_after_failures, "paused_by",
                                              AUTOPAUSE_BY),
                                    "%s: paused after %s; every tick is a SKIP until `runfleet-producer unpause %s`",
                                    workflow, reason, workflow);
                }
                PQclear(res);
        }
        *ret_paused = paused;
        return 0;
}
