/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest_pg.h"

int itest_pg_script(itest_t *t, const itest_pg_t *pg, const char *cmd) {
        char root[512];

        itest_source_root(t, root, sizeof(root));
        return itest_sh("cd '%s' && RUNFLEET_STATE_DIR='%s' PG_PORT=%d scripts/postgres %s >>'%s/%s-postgres.log' 2>&1",
                        root, pg->state_dir, pg->port, cmd, t->dir, pg->name);
}

int itest_pg_start(itest_t *t, itest_pg_t *pg, const char *name, const itest_pg_t *primary, const char *replication,
                   const int *avoid, int navoid) {
        char root[512], env[128] = "";

        memset(pg, 0, sizeof(*pg));
        snprintf(pg->name, sizeof(pg->name), "%s", name);
        snprintf(pg->state_dir, sizeof(pg->state_dir), "%s/%s-state", t->dir, name);
        pg->port = itest_free_port(avoid, navoid);
        if (!pg->port) {
                fprintf(stderr, "FAIL: no free port for PostgreSQL %s\n", name);
                return -1;
        }
        if (primary)
                snprintf(env, sizeof(env), "PG_PRIMARY_PORT=%d", primary->port);
        else
                snprintf(env, sizeof(env), "PG_REPLICATION=%s", replication ? replication : "async");
        itest_source_root(t, root, sizeof(root));
        if (itest_sh(
                    "cd '%s' && RUNFLEET_STATE_DIR='%s' PG_PORT=%d %s scripts/postgres start >>'%s/%s-postgres.log' 2>&1",
                    root, pg->state_dir, pg->port, env, t->dir, name) != 0) {
                fprintf(stderr, "FAIL: PostgreSQL %s did not start; see %s/%s-postgres.log\n", name, t->dir, name);
                itest_sh("tail -n 5 '%s/%s-postgres.log' >&2", t->dir, name);
                pg->started = true; /* whatever was made is deleted by itest_pg_reset */
                return -1;
        }
        pg->started = true;
        printf("# PostgreSQL %s on 127.0.0.1:%d%s%s\n", name, pg->port, primary ? ", streaming from " : "",
               primary ? primary->name : "");
        return 0;
}

/* Runs @p action in a shell where $pid is @p pg's postmaster (from
 * `scripts/postgres status`); returns the number it prints, or 0. */
static int with_postmaster(itest_t *t, const itest_pg_t *pg, const char *action) {
        char root[512], out[64] = "", cmd[2048];
        FILE *f;
        int n = 0;

        itest_source_root(t, root, sizeof(root));
        snprintf(cmd, sizeof(cmd),
                 "cd '%s' && pid=$(RUNFLEET_STATE_DIR='%s' PG_PORT=%d scripts/postgres status 2>/dev/null |"
                 " sed -n 's/.*(pid \\([0-9]*\\)).*/\\1/p') && [ -n \"$pid\" ] && %s",
                 root, pg->state_dir, pg->port, action);
        f = popen(cmd, "r");
        if (!f)
                return 0;
        if (fgets(out, sizeof(out), f))
                n = atoi(out);
        pclose(f);
        return n;
}

int itest_pg_signal(itest_t *t, const itest_pg_t *pg, int sig) {
        char action[320];

        /* A freeze and its thaw must count the same processes. SIGSTOP goes
         * to the postmaster first, so no child is forked after the list is
         * taken; SIGCONT to the children first, so the postmaster reaps none
         * before it is thawed. Only the processes signalled are counted (a
         * zombie counts both times: its stopped postmaster cannot reap it). */
        if (sig == SIGSTOP)
                snprintf(action, sizeof(action),
                         "kill -STOP $pid && n=1 && for c in $(pgrep -P $pid); do"
                         " kill -STOP $c 2>/dev/null && n=$((n + 1)); done; echo $n");
        else if (sig == SIGCONT)
                snprintf(action, sizeof(action),
                         "n=1; for c in $(pgrep -P $pid); do kill -CONT $c 2>/dev/null && n=$((n + 1)); done;"
                         " kill -CONT $pid && echo $n");
        else
                /* the postmaster, then its children (the backends). A child may
                 * exit between pgrep and kill (a backend ending its session): that
                 * one is not an error, the postmaster's signal is what must work. */
                snprintf(
                        action, sizeof(action),
                        "c=$(pgrep -P $pid); kill -%d $pid && { kill -%d $c 2>/dev/null; echo $((1 + $(echo $c | wc -w))); }",
                        sig, sig);
        return with_postmaster(t, pg, action);
}

int itest_pg_signal_one(itest_t *t, const itest_pg_t *pg, const char *title, int sig) {
        char action[256];

        snprintf(action, sizeof(action),
                 "c=$(pgrep -P $pid -f '%s' | head -n 1) && [ -n \"$c\" ] && kill -%d $c && echo 1", title, sig);
        return with_postmaster(t, pg, action);
}

void itest_pg_use(itest_t *t, itest_pg_t *const *hosts, int count) {
        char hostlist[256] = "", errstr[512];
        size_t len = 0;

        for (int i = 0; i < count; i++)
                len += (size_t)snprintf(hostlist + len, sizeof(hostlist) - len, "%s127.0.0.1:%d", i ? "," : "",
                                        hosts[i]->port);
        snprintf(t->db_url, sizeof(t->db_url), "postgresql://postgres@%s/runfleet%s", hostlist,
                 count > 1 ? "?target_session_attrs=read-write" : "");
        rf_pg_destroy(t->pg);
        t->pg = NULL;
        if (rf_pg_connect(t->db_url, "itest", &t->pg, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "FAIL: %s\n", errstr);
                exit(1);
        }
        printf("# database: %s\n", t->db_url);
}

void itest_pg_reset(itest_t *t, itest_pg_t *const *pgs, int count) {
        for (int i = 0; i < count; i++)
                if (pgs[i]->started) {
                        itest_pg_signal(t, pgs[i], SIGCONT); /* a frozen server would not stop */
                        itest_pg_script(t, pgs[i], "reset");
                        pgs[i]->started = false;
                }
}
