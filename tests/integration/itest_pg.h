/* SPDX-License-Identifier: Apache-2.0 */
/* itest_pg: PostgreSQL clusters of a test's own (scripts/postgres with the
 * test's state directory and free ports), for tests that kill, freeze or
 * fail over the database: the shared services' cluster is left alone. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "itest.h"

typedef struct itest_pg {
        char name[32];       /* "primary", "standby" */
        char state_dir[700]; /* its RUNFLEET_STATE_DIR */
        int port;
        bool started;
} itest_pg_t;

/* Starts a cluster named @p name on a free port (not one of @p avoid).
 * @p primary: NULL for a primary (replication "sync" or "async"), or the
 * primary to copy and stream from (a standby). Returns 0, or -1 with the
 * reason printed (output of scripts/postgres in <dir>/<name>-postgres.log). */
int itest_pg_start(itest_t *t, itest_pg_t *pg, const char *name, const itest_pg_t *primary, const char *replication,
                   const int *avoid, int navoid);

/* Runs `scripts/postgres CMD` on @p pg (kill9, promote, stop...). Returns its exit status. */
int itest_pg_script(itest_t *t, const itest_pg_t *pg, const char *cmd);

/* Sends @p sig to the postmaster and every backend of @p pg (SIGSTOP and
 * SIGCONT freeze and thaw the whole server). Returns how many processes
 * were signalled (0: none found). */
int itest_pg_signal(itest_t *t, const itest_pg_t *pg, int sig);

/* Sends @p sig to the one backend of @p pg whose process title contains
 * @p title (e.g. "walreceiver": SIGSTOP holds a standby back from its
 * primary's WAL). Returns 1 when signalled, 0 when none was found. */
int itest_pg_signal_one(itest_t *t, const itest_pg_t *pg, const char *title, int sig);

/* Points the test at the database "runfleet" of @p hosts (1 or 2 clusters,
 * in that order, target_session_attrs=read-write when 2): t->db_url (and so
 * later itest_config() files) and t->pg. Exits the test when it cannot connect. */
void itest_pg_use(itest_t *t, itest_pg_t *const *hosts, int count);

/* Deletes every cluster started (at the end of the test). */
void itest_pg_reset(itest_t *t, itest_pg_t *const *pgs, int count);
