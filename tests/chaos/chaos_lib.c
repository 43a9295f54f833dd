/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "chaos_lib.h"

int chaos_script(const itest_t *t, const char *root, const char *env, const char *cmd) {
        char line[4096];
        int status;

        snprintf(line, sizeof(line), "%s '%s'/scripts/%s >>'%s/services.log' 2>&1", env ? env : "", root, cmd, t->dir);
        status = system(line);
        return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void chaos_duplicates(itest_t *t, const char *prefix, long long *ret_keys, long long *ret_dups) {
        json_t *stats = itest_fake_stats_prefix(t, prefix), *by_path, *per_key, *n;
        const char *path, *key;
        long long keys = 0, dups = 0;

        by_path = json_object_get(stats, "idempotency_keys_by_path");
        json_object_foreach(by_path, path, per_key) {
                if (strncmp(path, prefix, strlen(prefix)) != 0)
                        continue;
                json_object_foreach(per_key, key, n) {
                        keys++;
                        dups += json_integer_value(n) > 1;
                }
        }
        json_decref(stats);
        *ret_keys = keys;
        *ret_dups = dups;
}

void chaos_explain_unsettled(itest_t *t) {
        long long committed = -1, end = -1;

        itest_print_rows(t, "SELECT state, attempt, count(*), min(state_at)::time AS since, max(state_at)::time AS last"
                            " FROM runfleet.decisions WHERE action = 'RUN' AND state NOT IN ('SUCCEEDED', 'DEAD')"
                            " GROUP BY 1, 2 ORDER BY 1, 2");
        itest_print_rows(t, "SELECT status, count(*), max(coalesce(finished_at, started_at))::time AS last"
                            " FROM runfleet.executions GROUP BY 1 ORDER BY 1");
        itest_print_rows(t, "SELECT application_name, state, wait_event_type, wait_event,"
                            " (now() - state_change)::interval(0) AS waited, left(query, 60) AS query"
                            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
        itest_group_offsets(t, t->topic, t->group, &committed, &end);
        printf("# group %s: committed %lld of %lld messages in %s\n", t->group, committed, end, t->topic);
        fflush(stdout);
        itest_sh("for f in '%s'/*.log; do echo \"# $f:\"; grep -o '\"event\":\"[^\"]*\"' \"$f\" | sort | uniq -c |"
                 " sort -rn | head -15 | sed 's/^/#   /'; grep '\"level\":\"error\"' \"$f\" | head -n 3 | cut -c1-400 |"
                 " sed 's/^/#   first error: /'; tail -n 3 \"$f\" | cut -c1-300 | sed 's/^/#   /'; done",
                 t->dir);
}
