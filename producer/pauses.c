/* SPDX-License-Identifier: Apache-2.0 */
/* `pause` and `unpause` (the evaluator reads the active pauses in
 * decide.c).
 *
 * A pause is a row of runfleet.pauses (who, when, why), kept after it ends
 * so the day's story can tell it; a workflow is paused while it has a row
 * without unpaused_at (the pauses_active index allows one). The evaluator
 * goes on deciding every tick of a paused workflow, as SKIP with the pause
 * in the reason, so the tick invariant holds through a pause.
 *
 * `--cancel-pending` ends the workflow's RUN decisions not yet started
 * (PENDING, no RUNNING execution; a decision waiting under buffer_one is
 * one) in state CANCELLED with who and why, in the transaction that pauses
 * it. A worker that later receives one of their messages does not run it:
 * begin_executions answers DONE (schemas/sql/013_pause_overlap.sql). */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rf_pg.h"
#include "producer.h"
#include "rf_util.h"

/* Pauses one workflow unless it is paused already; columns: pause_id (NULL
 * when it was paused already), then the active pause's paused_by, paused_at
 * (local), reason. */
static const char *const sql_pause =
        "WITH new AS ("
        "  INSERT INTO runfleet.pauses (workflow, paused_by, reason) VALUES ($1, $2, $3)"
        "  ON CONFLICT (workflow) WHERE unpaused_at IS NULL DO NOTHING"
        "  RETURNING pause_id, paused_by, paused_at, reason)"
        " SELECT pause_id::text, paused_by, to_char(paused_at AT TIME ZONE $4, 'YYYY-MM-DD HH24:MI'), reason FROM new"
        " UNION ALL"
        " SELECT NULL, paused_by, to_char(paused_at AT TIME ZONE $4, 'YYYY-MM-DD HH24:MI'), reason"
        "   FROM runfleet.pauses WHERE workflow = $1 AND unpaused_at IS NULL AND NOT EXISTS (SELECT 1 FROM new)";

/* schemas/sql/013_pause_overlap.sql: the producer's role may not set a
 * decision's state but through this function */
static const char *const sql_cancel = "SELECT id::text FROM runfleet.cancel_pending($1, $2, $3) AS id";

static const char *const sql_unpause =
        "UPDATE runfleet.pauses SET unpaused_at = now(), unpaused_by = $2"
        " WHERE workflow = $1 AND unpaused_at IS NULL"
        " RETURNING paused_by, to_char(paused_at AT TIME ZONE $3, 'YYYY-MM-DD HH24:MI'), reason,"
        "   round(extract(epoch FROM unpaused_at - paused_at) / 60)::text";

/* The OS user running the command, for paused_by / unpaused_by. */
static const char *os_user(void) {
        const struct passwd *pw = getpwuid(geteuid());
        const char *env = getenv("USER");

        if (pw && pw->pw_name && *pw->pw_name)
                return pw->pw_name;
        return env && *env ? env : "unknown";
}

/* The workflows named on the command line, or with --all every enabled one;
 * an unknown or (when naming) disabled workflow is refused before anything
 * is written. Returns the count, or -EINVAL after reporting. */
static int pick_workflows(const rf_program_t *prog, const rf_conf_t *conf, const char *cmd, bool all,
                          bool refuse_disabled, char **names, int n, const rf_workflow_conf_t **ret) {
        int count = 0;

        if (all) {
                for (size_t i = 0; i < conf->workflow_count; i++)
                        if (conf->workflows[i].enabled || !refuse_disabled)
                                ret[count++] = &conf->workflows[i];
                return count;
        }
        for (int i = 0; i < n; i++) {
                const rf_workflow_conf_t *w = rf_conf_workflow(conf, names[i]);

                if (!w) {
                        rf_program_fail(prog, RF_EXIT_USAGE, "%s: unknown workflow '%s' in %s", cmd, names[i],
                                        conf->path);
                        return -EINVAL;
                }
                if (!w->enabled && refuse_disabled) {
                        rf_program_fail(prog, RF_EXIT_USAGE,
                                        "%s: workflow '%s' is disabled in %s (it is not evaluated, nothing to pause)",
                                        cmd, w->name, conf->path);
                        return -EINVAL;
                }
                ret[count++] = w;
        }
        return count;
}

static int rollback_fail(const rf_program_t *prog, rf_pg_t *pg, const char *cmd, const char *errstr) {
        char ignored[256];

        rf_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, ignored, sizeof(ignored));
        return rf_program_fail(prog, RF_EXIT_FAILURE, "%s: %s", cmd, errstr);
}

/* Pauses (and cancels for) @p w inside the caller's transaction and prints
 * what happened. Returns 0 or a negative errno with the reason. */
static int pause_one(rf_pg_t *pg, const rf_conf_t *conf, const rf_workflow_conf_t *w, const char *by, const char *why,
                     bool cancel, char *errstr, size_t errstr_size) {
        const char *params[] = { w->name, by, why, conf->producer.timezone };
        char cancel_reason[600];
        PGresult *res = NULL;
        int r;

        r = rf_pg_exec(pg, sql_pause, 4, params, &res, errstr, errstr_size);
        if (r < 0)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                snprintf(errstr, errstr_size, "%s: no pause recorded or found", w->name);
                return -EIO;
        }
        if (PQgetisnull(res, 0, 0))
                printf("%s: already paused by %s since %s %s: %s\n", w->name, PQgetvalue(res, 0, 1),
                       PQgetvalue(res, 0, 2), conf->producer.timezone, PQgetvalue(res, 0, 3));
        else
                printf("%s: paused by %s since %s %s: %s\n", w->name, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
                       conf->producer.timezone, PQgetvalue(res, 0, 3));
        PQclear(res);
        if (!cancel)
                return 0;
        snprintf(cancel_reason, sizeof(cancel_reason), "pause --cancel-pending: %s", why);
        {
                const char *cparams[] = { w->name, by, cancel_reason };
                r = rf_pg_exec(pg, sql_cancel, 3, cparams, &res, errstr, errstr_size);
        }
        if (r < 0)
                return r;
        printf("%s: %d pending decision%s cancelled%s", w->name, PQntuples(res), PQntuples(res) == 1 ? "" : "s",
               PQntuples(res) ? ":" : "\n");
        for (int i = 0; i < PQntuples(res); i++)
                printf(" %s%s", PQgetvalue(res, i, 0), i + 1 == PQntuples(res) ? "\n" : "");
        PQclear(res);
        return 0;
}

int producer_pause(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "reason", required_argument, NULL, 'r' },
                                                 { "by", required_argument, NULL, 'b' },
                                                 { "all", no_argument, NULL, 'a' },
                                                 { "cancel-pending", no_argument, NULL, 'C' },
                                                 { NULL, 0, NULL, 0 } };
        static const char usage[] = "usage: pause (WORKFLOW... | --all) --reason TEXT [--by NAME] [--cancel-pending]";
        const rf_workflow_conf_t **ws = NULL;
        const char *why = NULL, *by = NULL;
        bool all = false, cancel = false;
        char errstr[1024];
        rf_pg_t *pg = NULL;
        int c, n, code = RF_EXIT_FAILURE;

        rf_program_subcommand_options();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (c) {
                case 'r':
                        why = optarg;
                        break;
                case 'b':
                        by = optarg;
                        break;
                case 'a':
                        all = true;
                        break;
                case 'C':
                        cancel = true;
                        break;
                default:
                        return rf_program_fail(prog, RF_EXIT_USAGE, "%s", usage);
                }
        }
        if (!why || !*why)
                return rf_program_fail(prog, RF_EXIT_USAGE, "pause: --reason TEXT is required (%s)", usage);
        if (by && !*by)
                return rf_program_fail(prog, RF_EXIT_USAGE, "pause: --by needs a name");
        if (all == (optind < argc))
                return rf_program_fail(prog, RF_EXIT_USAGE, "pause: name workflows or give --all, not both (%s)",
                                       usage);
        ws = calloc(conf->workflow_count + (size_t)(argc - optind) + 1, sizeof(*ws));
        if (!ws)
                return rf_program_fail(prog, RF_EXIT_FAILURE, "pause: out of memory");
        n = pick_workflows(prog, conf, "pause", all, true, argv + optind, argc - optind, ws);
        if (n < 0) {
                code = RF_EXIT_USAGE;
                goto out;
        }
        if (rf_pg_connect(conf->database.url, prog->name, &pg, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, RF_EXIT_FAILURE, "pause: %s", errstr);
                goto out;
        }
        if (rf_pg_exec(pg, "BEGIN", 0, NULL, NULL, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, RF_EXIT_FAILURE, "pause: %s", errstr);
                goto out;
        }
        for (int i = 0; i < n; i++)
                if (pause_one(pg, conf, ws[i], by ? by : os_user(), why, cancel, errstr, sizeof(errstr)) < 0) {
                        rollback_fail(prog, pg, "pause", errstr);
                        goto out;
                }
        if (rf_pg_exec(pg, "COMMIT", 0, NULL, NULL, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, RF_EXIT_FAILURE, "pause: %s", errstr);
                goto out;
        }
        if (n == 0)
                printf("no enabled workflow to pause\n");
        code = RF_EXIT_OK;
out:
        rf_pg_destroy(pg);
        free(ws);
        return code;
}

int producer_unpause(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "by", required_argument, NULL, 'b' },
                                                 { "all", no_argument, NULL, 'a' },
                                                 { NULL, 0, NULL, 0 } };
        static const char usage[] = "usage: unpause (WORKFLOW... | --all) [--by NAME]";
        const rf_workflow_conf_t **ws = NULL;
        const char *by = NULL;
        bool all = false;
        char errstr[1024];
        rf_pg_t *pg = NULL;
        PGresult *res = NULL;
        int c, n, unpaused = 0, code = RF_EXIT_FAILURE;

        rf_program_subcommand_options();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (c == 'b')
                        by = optarg;
                else if (c == 'a')
                        all = true;
                else
                        return rf_program_fail(prog, RF_EXIT_USAGE, "%s", usage);
        }
        if (by && !*by)
                return rf_program_fail(prog, RF_EXIT_USAGE, "unpause: --by needs a name");
        if (all == (optind < argc))
                return rf_program_fail(prog, RF_EXIT_USAGE, "unpause: name workflows or give --all, not both (%s)",
                                       usage);
        ws = calloc(conf->workflow_count + (size_t)(argc - optind) + 1, sizeof(*ws));
        if (!ws)
                return rf_program_fail(prog, RF_EXIT_FAILURE, "unpause: out of memory");
        /* a disabled workflow may still carry a pause from before: it can be lifted */
        n = pick_workflows(prog, conf, "unpause", all, false, argv + optind, argc - optind, ws);
        if (n < 0) {
                code = RF_EXIT_USAGE;
                goto out;
        }
        if (rf_pg_connect(conf->database.url, prog->name, &pg, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, RF_EXIT_FAILURE, "unpause: %s", errstr);
                goto out;
        }
        for (int i = 0; i < n; i++) {
                const char *params[] = { ws[i]->name, by ? by : os_user(), conf->producer.timezone };

                if (rf_pg_exec(pg, sql_unpause, 3, params, &res, errstr, sizeof(errstr)) < 0) {
                        rf_program_fail(prog, RF_EXIT_FAILURE, "unpause: %s", errstr);
                        goto out;
                }
                if (PQntuples(res) == 1) {
                        printf("%s: unpaused (was paused by %s since %s %s, %s min: %s)\n", ws[i]->name,
                               PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), conf->producer.timezone,
                               PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 2));
                        unpaused++;
                } else if (!all)
                        printf("%s: not paused\n", ws[i]->name);
                PQclear(res);
                res = NULL;
        }
        if (all && unpaused == 0)
                printf("no workflow was paused\n");
        code = RF_EXIT_OK;
out:
        PQclear(res);
        rf_pg_destroy(pg);
        free(ws);
        return code;
}
