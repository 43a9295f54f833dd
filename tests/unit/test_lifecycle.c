/* SPDX-License-Identifier: Apache-2.0 */
/* The lifecycle name tables (common/rf_lifecycle.c) against the schema:
 * the CHECK lists of decisions.action, decisions.state and
 * executions.status in
 * schemas/sql (the last one each migration leaves, in file order) must
 * name exactly the C values, and every claim verdict must be a literal
 * the SQL functions can answer. */
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rf_lifecycle.h"
#include "rf_test.h"

#define SQL_DIR RF_SOURCE_ROOT "/schemas/sql"

static int by_name(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every .sql file under @p dir (one level of subdirectories), in name
 * order, concatenated. The caller frees it. */
static char *read_sql(const char *dir) {
        char *names[256], *all = NULL;
        size_t n = 0, len = 0;
        DIR *d = opendir(dir);
        struct dirent *e;

        if (!d)
                return NULL;
        while ((e = readdir(d)) && n < 256) {
                size_t l = strlen(e->d_name);
                if (l > 4 && strcmp(e->d_name + l - 4, ".sql") == 0)
                        names[n++] = strdup(e->d_name);
                else if (e->d_name[0] != '.' && e->d_type == DT_DIR) {
                        char sub[512];
                        char *inner;
                        snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
                        inner = read_sql(sub);
                        if (inner) {
                                size_t il = strlen(inner);
                                all = realloc(all, len + il + 2);
                                memcpy(all + len, inner, il + 1);
                                len += il;
                                free(inner);
                        }
                }
        }
        closedir(d);
        qsort(names, n, sizeof(names[0]), by_name);
        for (size_t i = 0; i < n; i++) {
                char path[512];
                FILE *f;
                long size;
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                f = fopen(path, "r");
                free(names[i]);
                if (!f)
                        continue;
                fseek(f, 0, SEEK_END);
                size = ftell(f);
                fseek(f, 0, SEEK_SET);
                all = realloc(all, len + (size_t)size + 2);
                len += fread(all + len, 1, (size_t)size, f);
                all[len++] = '\n';
                all[len] = '\0';
                fclose(f);
        }
        return all;
}

/* The quoted names of the last "CHECK (@p column IN ('A', 'B'))" that follows
 * a mention of "TABLE runfleet.@p table", as one string "A,B". */
static bool last_check(const char *sql, const char *table, const char *column, char *out, size_t size) {
        char pattern[256], table_ref[128];
        regex_t re;
        regmatch_t m[2];
        const char *p = sql;
        bool found = false;

        snprintf(pattern, sizeof(pattern), "CHECK \\(%s IN \\(([^)]*)\\)\\)", column);
        snprintf(table_ref, sizeof(table_ref), "TABLE runfleet.%s", table);
        if (regcomp(&re, pattern, REG_EXTENDED) != 0)
                return false;
        while (regexec(&re, p, 2, m, 0) == 0) {
                /* the CHECK belongs to the table named last before it */
                const char *at = p + m[0].rm_so, *t = NULL, *q = sql;
                while ((q = strstr(q, "TABLE runfleet.")) && q < at)
                        t = q++;
                if (t && strncmp(t, table_ref, strlen(table_ref)) == 0 &&
                    !((t[strlen(table_ref)] >= 'a' && t[strlen(table_ref)] <= 'z') || t[strlen(table_ref)] == '_')) {
                        size_t o = 0;
                        for (const char *c = p + m[1].rm_so; c < p + m[1].rm_eo && o + 1 < size; c++)
                                if (*c != '\'' && *c != ' ' && *c != '\n')
                                        out[o++] = *c;
                        out[o] = '\0';
                        found = true;
                }
                p += m[0].rm_eo;
        }
        regfree(&re);
        return found;
}

/* "A,B,C" from a name table, in the enum's order. */
static void join(const char *(*name)(int), int count, char *out, size_t size) {
        size_t o = 0;

        out[0] = '\0';
        for (int i = 0; i < count; i++)
                o += (size_t)snprintf(out + o, size - o, "%s%s", i ? "," : "", name(i));
}

static const char *decision_action(int i) {
        return rf_decision_action_name((rf_decision_action_t)i);
}
static const char *decision_state(int i) {
        return rf_decision_state_name((rf_decision_state_t)i);
}
static const char *exec_status(int i) {
        return rf_exec_status_name((rf_exec_status_t)i);
}

static void against_schema(void) {
        char *sql = read_sql(SQL_DIR);
        char in_sql[512], in_c[512];

        CHECK(sql != NULL);
        if (!sql)
                return;
        CHECK(last_check(sql, "decisions", "action", in_sql, sizeof(in_sql)));
        join(decision_action, RF_DECISION_ACTION_COUNT, in_c, sizeof(in_c));
        CHECK_STR_EQ(in_c, in_sql);
        CHECK(last_check(sql, "decisions", "state", in_sql, sizeof(in_sql)));
        join(decision_state, RF_DECISION_STATE_COUNT, in_c, sizeof(in_c));
        CHECK_STR_EQ(in_c, in_sql);
        CHECK(last_check(sql, "executions", "status", in_sql, sizeof(in_sql)));
        join(exec_status, RF_EXEC_STATUS_COUNT, in_c, sizeof(in_c));
        CHECK_STR_EQ(in_c, in_sql);
        for (int v = 0; v < RF_CLAIM_VERDICT_COUNT; v++) {
                char quoted[64];
                snprintf(quoted, sizeof(quoted), "'%s'", rf_claim_verdict_name((rf_claim_verdict_t)v));
                CHECK_CONTAINS(sql, quoted);
        }
        free(sql);
}

static void tables(void) {
        rf_exec_status_t s = RF_EXEC_RUNNING;
        rf_call_outcome_t o = RF_CALL_OK;
        rf_claim_verdict_t v = RF_VERDICT_STARTED;
        rf_decision_state_t d = RF_DECISION_PENDING;

        CHECK_STR_EQ(rf_exec_status_name(RF_EXEC_TIMED_OUT), "TIMED_OUT");
        CHECK_STR_EQ(rf_call_outcome_name(RF_CALL_CIRCUIT_OPEN), "CIRCUIT_OPEN");
        CHECK_STR_EQ(rf_claim_verdict_name(RF_VERDICT_TAKEN), "TAKEN");
        CHECK_STR_EQ(rf_decision_state_name(RF_DECISION_CANCELLED), "CANCELLED");
        CHECK_STR_EQ(rf_exec_status_name(RF_EXEC_STATUS_COUNT), "?");
        CHECK(rf_exec_status_from_name("ABANDONED", &s) == 0 && s == RF_EXEC_ABANDONED);
        CHECK(rf_call_outcome_from_name("CONNECT_ERROR", &o) == 0 && o == RF_CALL_CONNECT_ERROR);
        CHECK(rf_claim_verdict_from_name("STALE", &v) == 0 && v == RF_VERDICT_STALE);
        CHECK(rf_decision_state_from_name("DEAD", &d) == 0 && d == RF_DECISION_DEAD);
        /* exact names only; the out-parameter is left alone on failure */
        CHECK(rf_claim_verdict_from_name("started", &v) == -EINVAL && v == RF_VERDICT_STALE);
        CHECK(rf_claim_verdict_from_name(NULL, &v) == -EINVAL);
        /* every name round-trips */
        for (int i = 0; i < RF_CALL_OUTCOME_COUNT; i++)
                CHECK(rf_call_outcome_from_name(rf_call_outcome_name((rf_call_outcome_t)i), &o) == 0 && (int)o == i);
        for (int i = 0; i < RF_DECISION_STATE_COUNT; i++)
                CHECK(rf_decision_state_from_name(rf_decision_state_name((rf_decision_state_t)i), &d) == 0 &&
                      (int)d == i);
}

int main(void) {
        tables();
        against_schema();
        return rf_test_finish();
}
