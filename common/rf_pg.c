/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_pg.h"

/* Statements rf_pg_exec_prepared() prepared on the current connection,
 * known by their text's address (each is a static string of its caller). */
#define PREPARED_MAX 32

struct rf_pg {
        PGconn *conn;
        const char *prepared[PREPARED_MAX];
        size_t prepared_count; /* 0 again on every new connection: its statements went with the old one */
        char *password;        /* masked out of libpq's messages; NULL when none */
        char *url;             /* kept for rf_pg_connect_start(): a new connection, any host of a list */
        char *application_name;
        char *options; /* the session's settings: SESSION_OPTIONS and the caller's */
};

/* Replaces every occurrence of @p secret in @p s with "****". */
static void redact(char *s, size_t size, const char *secret) {
        size_t n = secret ? strlen(secret) : 0;
        char *hit;

        if (n < 3) /* a tiny "password" would mask half the message */
                return;
        for (char *from = s; (hit = strstr(from, secret)); from = hit + 4) {
                size_t tail = strlen(hit + n);
                if (n < 4 && (size_t)(hit - s) + 4 + tail >= size)
                        break;
                memmove(hit + 4, hit + n, tail + 1);
                memcpy(hit, "****", 4);
        }
}

static void copy_conn_error(const rf_pg_t *pg, PGconn *conn, char *errstr, size_t errstr_size) {
        const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
        size_t len;

        snprintf(errstr, errstr_size, "database: %s", msg);
        redact(errstr, errstr_size, pg ? pg->password : NULL);
        /* libpq ends messages with a newline and spans lines ("...\n\tIs the
         * server running..."; one per host tried): keep one line, one space */
        {
                char *o = errstr;
                for (const char *p = errstr; *p; p++) {
                        char c = *p == '\n' || *p == '\t' ? ' ' : *p;
                        if (c == ' ' && o > errstr && o[-1] == ' ')
                                continue;
                        *o++ = c;
                }
                *o = '\0';
        }
        len = strlen(errstr);
        while (len > 0 && errstr[len - 1] == ' ')
                errstr[--len] = '\0';
}

static void ignore_notice(void *arg, const char *message) {
        (void)arg;
        (void)message;
}

/* Checks a conninfo string or URI before libpq uses it, and keeps its
 * password for redact(). libpq's parse errors quote the piece they choke
 * on -- which may be the password (an unescaped '%' in a URI, a missing
 * '=') -- so they are reported with every quoted piece masked. */
static int parse_url(rf_pg_t *pg, const char *url, char *errstr, size_t errstr_size) {
        PQconninfoOption *opts;
        char *why = NULL;

        /* libpq expands only these; anything else is a plain database name */
        if (!strchr(url, '=') && strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0)
                return 0;
        opts = PQconninfoParse(url, &why);
        if (!opts) {
                char *o = errstr;
                size_t left = errstr_size;
                int quoted = 0, n = snprintf(errstr, errstr_size, "database: database.url cannot be parsed: ");

                if (n < 0 || (size_t)n >= errstr_size) {
                        PQfreemem(why);
                        return -EINVAL;
                }
                o += n;
                left -= (size_t)n;
                for (const char *w = why ? why : "out of memory"; *w && *w != '\n' && left > 5; w++) {
                        if (*w == '"') {
                                quoted = !quoted;
                                if (!quoted) {
                                        memcpy(o, "****", 4);
                                        o += 4;
                                        left -= 4;
                                }
                        } else if (quoted)
                                continue;
                        *o++ = *w;
                        left--;
                }
                *o = '\0';
                PQfreemem(why);
                return -EINVAL;
        }
        for (PQconninfoOption *o = opts; o->keyword; o++)
                if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) {
                        pg->password = strdup(o->val);
                        if (!pg->password) {
                                PQconninfoFree(opts);
                                return -ENOMEM;
                        }
                }
        PQconninfoFree(opts);
        return 0;
}

/* The connection options every connection of @p pg is made with.
 * expand_dbname=1 (the callers' last argument): "dbname" may hold a whole
 * conninfo string or URI, with several hosts ("postgresql://h1:p1,h2:p2/db
 * ?target_session_attrs=read-write"); libpq then tries them in turn and
 * keeps the first that fits, so a new connection finds the current primary.
 * connect_timeout bounds each host's try of a blocking connect only.
 *
 * "options" (SESSION_OPTIONS, then the caller's) turns JIT compilation off
 * for the session. Our statements are short, but over a month of day
 * partitions the planner's cost estimates add up past jit_above_cost, and
 * LLVM then spent 4 to 10 s compiling a statement that runs in 10 ms
 * (timeline of one day with 10 million decisions kept). It comes before
 * "dbname", so an options= in the URL replaces it. */
#define SESSION_OPTIONS "-c jit=off"
#define CONNECT_OPTIONS(pg)                                                                                            \
        const char *keys[] = { "options", "dbname", "application_name", "connect_timeout", NULL };                     \
        const char *values[] = { (pg)->options, (pg)->url, (pg)->application_name, "10", NULL }

int rf_pg_connect(const char *url, const char *application_name, rf_pg_t **ret_pg, char *errstr, size_t errstr_size) {
        return rf_pg_connect_with(url, application_name, NULL, ret_pg, errstr, errstr_size);
}

int rf_pg_connect_with(const char *url, const char *application_name, const char *options, rf_pg_t **ret_pg,
                       char *errstr, size_t errstr_size) {
        rf_pg_t *pg = calloc(1, sizeof(*pg));
        int r;

        if (!pg)
                return -ENOMEM;
        pg->url = strdup(url);
        pg->application_name = strdup(application_name);
        if (asprintf(&pg->options, "%s%s%s", SESSION_OPTIONS, options ? " " : "", options ? options : "") < 0)
                pg->options = NULL;
        if (!pg->url || !pg->application_name || !pg->options) {
                rf_pg_destroy(pg);
                return -ENOMEM;
        }
        r = parse_url(pg, url, errstr, errstr_size);
        if (r < 0) {
                rf_pg_destroy(pg);
                return r;
        }
        CONNECT_OPTIONS(pg);
        pg->conn = PQconnectdbParams(keys, values, 1);
        if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
                copy_conn_error(pg, pg->conn, errstr, errstr_size);
                rf_pg_destroy(pg);
                return -ENOTCONN;
        }
        PQsetNoticeProcessor(pg->conn, ignore_notice, NULL);
        *ret_pg = pg;
        return 0;
}

void rf_pg_destroy(rf_pg_t *pg) {
        if (!pg)
                return;
        PQfinish(pg->conn);
        free(pg->password);
        free(pg->url);
        free(pg->application_name);
        free(pg->options);
        free(pg);
}

int rf_pg_connect_start(rf_pg_t *pg, char *errstr, size_t errstr_size) {
        CONNECT_OPTIONS(pg);

        PQfinish(pg->conn);
        pg->prepared_count = 0;
        pg->conn = PQconnectStartParams(keys, values, 1);
        if (!pg->conn || PQstatus(pg->conn) == CONNECTION_BAD) {
                copy_conn_error(pg, pg->conn, errstr, errstr_size);
                return -ENOTCONN;
        }
        return 0;
}

void rf_pg_connected(rf_pg_t *pg) {
        PQsetNoticeProcessor(pg->conn, ignore_notice, NULL);
}

int rf_pg_error(rf_pg_t *pg, const PGresult *res, char *errstr, size_t errstr_size) {
        if (PQstatus(pg->conn) != CONNECTION_OK) {
                copy_conn_error(pg, pg->conn, errstr, errstr_size);
                return -ENOTCONN;
        }
        {
                const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
                const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
                snprintf(errstr, errstr_size, "database: %s (SQLSTATE %s)", msg ? msg : PQerrorMessage(pg->conn),
                         state ? state : "?");
                redact(errstr, errstr_size, pg->password);
        }
        return -EIO;
}

void rf_pg_conn_error(rf_pg_t *pg, char *errstr, size_t errstr_size) {
        copy_conn_error(pg, pg->conn, errstr, errstr_size);
}

int rf_pg_ok(rf_pg_t *pg) {
        return pg && PQstatus(pg->conn) == CONNECTION_OK;
}

PGconn *rf_pg_conn(rf_pg_t *pg) {
        return pg->conn;
}

static int ensure_connected(rf_pg_t *pg, char *errstr, size_t errstr_size) {
        if (PQstatus(pg->conn) == CONNECTION_OK)
                return 0;
        PQreset(pg->conn);
        pg->prepared_count = 0;
        if (PQstatus(pg->conn) != CONNECTION_OK) {
                copy_conn_error(pg, pg->conn, errstr, errstr_size);
                return -ENOTCONN;
        }
        PQsetNoticeProcessor(pg->conn, ignore_notice, NULL);
        return 0;
}

/* The result of a statement: 0 with *ret_res (or cleared), or the error. */
static int take_result(rf_pg_t *pg, PGresult *res, PGresult **ret_res, char *errstr, size_t errstr_size) {
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        int r;

        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                if (ret_res)
                        *ret_res = res;
                else
                        PQclear(res);
                return 0;
        }
        r = rf_pg_error(pg, res, errstr, errstr_size);
        PQclear(res);
        return r;
}

int rf_pg_exec(rf_pg_t *pg, const char *sql, int nparams, const char *const *params, PGresult **ret_res, char *errstr,
               size_t errstr_size) {
        int r = ensure_connected(pg, errstr, errstr_size);

        if (r < 0)
                return r;
        return take_result(pg, PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0), ret_res, errstr,
                           errstr_size);
}

int rf_pg_exec_prepared(rf_pg_t *pg, const char *sql, int nparams, const char *const *params, PGresult **ret_res,
                        char *errstr, size_t errstr_size) {
        char name[32];
        size_t i;
        int r;

        r = ensure_connected(pg, errstr, errstr_size);
        if (r < 0)
                return r;
        for (i = 0; i < pg->prepared_count && pg->prepared[i] != sql; i++)
                ;
        if (i == PREPARED_MAX) /* more statements than kept: planned each time, as rf_pg_exec() */
                return rf_pg_exec(pg, sql, nparams, params, ret_res, errstr, errstr_size);
        snprintf(name, sizeof(name), "rf_prepared_%zu", i);
        if (i == pg->prepared_count) {
                r = take_result(pg, PQprepare(pg->conn, name, sql, nparams, NULL), NULL, errstr, errstr_size);
                if (r < 0)
                        return r;
                pg->prepared[pg->prepared_count++] = sql;
        }
        return take_result(pg, PQexecPrepared(pg->conn, name, nparams, params, NULL, NULL, 0), ret_res, errstr,
                           errstr_size);
}

int rf_pg_send(rf_pg_t *pg, const char *sql, int nparams, const char *const *params, char *errstr, size_t errstr_size) {
        /* no reconnect: a statement sent on its own is one of a transaction's, which a new connection does not have */
        if (PQsendQueryParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0) != 1)
                return rf_pg_error(pg, NULL, errstr, errstr_size);
        return 0;
}

int rf_pg_wait(rf_pg_t *pg, PGresult **ret_res, char *errstr, size_t errstr_size) {
        PGresult *res = PQgetResult(pg->conn), *more;

        /* one statement, one result; the NULL after it ends the query */
        while ((more = PQgetResult(pg->conn)))
                PQclear(more);
        return take_result(pg, res, ret_res, errstr, errstr_size);
}

int rf_pg_try_advisory_lock(rf_pg_t *pg, long long key, char *errstr, size_t errstr_size) {
        char keybuf[32];
        const char *params[] = { keybuf };
        PGresult *res;
        int r;

        snprintf(keybuf, sizeof(keybuf), "%lld", key);
        r = rf_pg_exec(pg, "SELECT pg_try_advisory_lock($1::bigint)", 1, params, &res, errstr, errstr_size);
        if (r < 0)
                return r;
        r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        return r;
}

char *rf_pg_array_literal(char *const *items, size_t count) {
        size_t size = 3;
        char *out, *p;

        for (size_t i = 0; i < count; i++)
                size += 2 * strlen(items[i]) + 3;
        out = malloc(size);
        if (!out)
                return NULL;
        p = out;
        *p++ = '{';
        for (size_t i = 0; i < count; i++) {
                if (i)
                        *p++ = ',';
                *p++ = '"';
                for (const char *s = items[i]; *s; s++) {
                        if (*s == '"' || *s == '\\')
                                *p++ = '\\';
                        *p++ = *s;
                }
                *p++ = '"';
        }
        *p++ = '}';
        *p = '\0';
        return out;
}

char *rf_pg_column_array(const PGresult *res, int col) {
        int n = PQntuples(res);
        char **items = malloc(((size_t)n + 1) * sizeof(*items));
        char *list;

        if (!items)
                return NULL;
        for (int i = 0; i < n; i++)
                items[i] = PQgetvalue(res, i, col);
        list = rf_pg_array_literal(items, (size_t)n);
        free(items);
        return list;
}
