/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "rf_pg_async.h"
#include "rf_util.h"

/* PQconnectPoll ignores connect_timeout: our own bound for one attempt
 * (every host of the URL), like the blocking connect's 10 s per host. */
#define CONNECT_TIMEOUT_MS 10000
/* Between failed connect attempts: a failover is found within this. */
#define RETRY_MS 500
/* A statement unanswered this long is given up with its connection (a
 * server gone without a reset: a partition, a frozen host). Long enough for
 * a batch on a loaded server and for a short stall to be waited out. */
#define STATEMENT_TIMEOUT_MS 60000

typedef enum state { ST_DOWN, ST_CONNECTING, ST_IDLE, ST_BUSY } state_t;

struct rf_pg_async {
        rf_pg_t *pg;
        state_t state;
        int epoll_fd;
        int watched;      /* the socket in epoll_fd, or -1 */
        int64_t deadline; /* CONNECTING, BUSY: give up at; DOWN: next attempt */
        bool flushing;    /* BUSY: the statement is not all sent yet */
        bool failed;      /* BUSY: sending failed; deliver at the next process() */
        PGresult *result; /* BUSY: the statement's first result */
        rf_pg_async_done_fn *done;
        void *arg;
        char error[512];
};

/* Watches the connection's current socket for @p events (0: none). The
 * socket may be a new one with the old number (libpq closed and reopened
 * it): MOD then falls back to ADD. */
static void watch(rf_pg_async_t *a, uint32_t events) {
        PGconn *conn = rf_pg_conn(a->pg);
        int fd = conn && a->state != ST_DOWN ? PQsocket(conn) : -1;
        struct epoll_event ev = { .events = events };

        if (a->watched >= 0 && a->watched != fd) {
                epoll_ctl(a->epoll_fd, EPOLL_CTL_DEL, a->watched, NULL); /* may be gone already */
                a->watched = -1;
        }
        if (fd < 0 || !events) {
                if (a->watched >= 0)
                        epoll_ctl(a->epoll_fd, EPOLL_CTL_DEL, a->watched, NULL);
                a->watched = -1;
                return;
        }
        ev.data.fd = fd;
        if (epoll_ctl(a->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0)
                epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
        a->watched = fd;
}

/* Ends the statement in flight, if any, with @p err. */
static void deliver(rf_pg_async_t *a, int err, const char *errstr) {
        rf_pg_async_done_fn *done = a->done;
        PGresult *res = a->result;

        a->done = NULL;
        a->result = NULL;
        a->flushing = a->failed = false;
        if (a->state == ST_BUSY)
                a->state = ST_IDLE;
        if (done)
                done(a->arg, err, err ? NULL : res, errstr);
        PQclear(res);
}

/* The connection is gone (or given up): fail its statement, reconnect. */
static void lost(rf_pg_async_t *a, const char *why) {
        bool busy = a->state == ST_BUSY;

        snprintf(a->error, sizeof(a->error), "%s", why);
        watch(a, 0);
        a->state = ST_DOWN;
        a->deadline = rf_mono_ms(); /* the first new attempt at once: a failover is often quick */
        if (busy)
                deliver(a, -ENOTCONN, why);
}

static void connect_failed(rf_pg_async_t *a, const char *why) {
        snprintf(a->error, sizeof(a->error), "%s", why);
        watch(a, 0);
        a->state = ST_DOWN;
        a->deadline = rf_mono_ms() + RETRY_MS;
}

static void start_connect(rf_pg_async_t *a) {
        char errstr[512];

        watch(a, 0); /* before libpq closes the old socket */
        if (rf_pg_connect_start(a->pg, errstr, sizeof(errstr)) < 0) {
                connect_failed(a, errstr);
                return;
        }
        a->state = ST_CONNECTING;
        a->deadline = rf_mono_ms() + CONNECT_TIMEOUT_MS;
        /* libpq's protocol: wait until the socket is writable, then poll */
        watch(a, EPOLLOUT);
}

static void poll_connect(rf_pg_async_t *a) {
        PGconn *conn = rf_pg_conn(a->pg);
        PostgresPollingStatusType st = PQconnectPoll(conn);
        char errstr[512];

        switch (st) {
        case PGRES_POLLING_READING:
                watch(a, EPOLLIN);
                return;
        case PGRES_POLLING_WRITING:
                watch(a, EPOLLOUT);
                return;
        case PGRES_POLLING_OK:
                if (PQsetnonblocking(conn, 1) != 0) {
                        rf_pg_conn_error(a->pg, errstr, sizeof(errstr));
                        connect_failed(a, errstr);
                        return;
                }
                rf_pg_connected(a->pg);
                a->state = ST_IDLE;
                a->error[0] = '\0';
                watch(a, EPOLLIN); /* idle: readable means closed (or a notice) */
                return;
        default:
                rf_pg_conn_error(a->pg, errstr, sizeof(errstr));
                connect_failed(a, errstr);
                return;
        }
}

/* Reads what arrived; delivers the statement's result once complete. */
static void read_input(rf_pg_async_t *a) {
        PGconn *conn = rf_pg_conn(a->pg);
        char errstr[512];

        if (a->state == ST_BUSY && a->flushing) {
                int f = PQflush(conn);
                if (f < 0)
                        a->failed = true;
                a->flushing = f == 1;
        }
        if (a->failed || !PQconsumeInput(conn)) {
                rf_pg_conn_error(a->pg, errstr, sizeof(errstr));
                lost(a, errstr);
                return;
        }
        for (PGnotify *n; (n = PQnotifies(conn));)
                PQfreemem(n);
        if (a->state != ST_BUSY)
                return;
        while (!PQisBusy(conn)) {
                PGresult *res = PQgetResult(conn);
                if (!res) {
                        ExecStatusType st = a->result ? PQresultStatus(a->result) : PGRES_FATAL_ERROR;
                        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                                deliver(a, 0, NULL);
                        } else {
                                int err = rf_pg_error(a->pg, a->result, errstr, sizeof(errstr));
                                if (err == -ENOTCONN)
                                        lost(a, errstr);
                                else
                                        deliver(a, err, errstr);
                        }
                        break;
                }
                if (!a->result)
                        a->result = res;
                else
                        PQclear(res); /* one statement: nothing more is expected */
        }
        if (a->state == ST_BUSY && PQstatus(conn) != CONNECTION_OK) {
                rf_pg_conn_error(a->pg, errstr, sizeof(errstr));
                lost(a, errstr);
                return;
        }
        if (a->state == ST_BUSY || a->state == ST_IDLE)
                watch(a, EPOLLIN | (a->state == ST_BUSY && a->flushing ? EPOLLOUT : 0));
}

int rf_pg_async_new(rf_pg_t *pg, rf_pg_async_t **ret_a, char *errstr, size_t errstr_size) {
        rf_pg_async_t *a = calloc(1, sizeof(*a));

        if (!a) {
                snprintf(errstr, errstr_size, "out of memory");
                return -ENOMEM;
        }
        a->pg = pg;
        a->watched = -1;
        a->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (a->epoll_fd < 0) {
                int err = errno;
                snprintf(errstr, errstr_size, "epoll: %s", strerror(err));
                a->pg = NULL;
                rf_pg_async_destroy(a);
                return -err;
        }
        if (rf_pg_ok(pg) && PQsetnonblocking(rf_pg_conn(pg), 1) == 0) {
                a->state = ST_IDLE;
                watch(a, EPOLLIN);
        } else {
                lost(a, "database: connection not usable");
        }
        *ret_a = a;
        return 0;
}

void rf_pg_async_destroy(rf_pg_async_t *a) {
        if (!a)
                return;
        PQclear(a->result);
        if (a->epoll_fd >= 0)
                close(a->epoll_fd);
        rf_pg_destroy(a->pg);
        free(a);
}

int rf_pg_async_fd(const rf_pg_async_t *a) {
        return a->epoll_fd;
}

int64_t rf_pg_async_due_ms(const rf_pg_async_t *a) {
        if (a->state == ST_BUSY && a->failed)
                return rf_mono_ms();
        return a->state == ST_IDLE ? 0 : a->deadline;
}

void rf_pg_async_process(rf_pg_async_t *a) {
        int64_t now = rf_mono_ms();

        switch (a->state) {
        case ST_DOWN:
                if (now >= a->deadline)
                        start_connect(a);
                return;
        case ST_CONNECTING:
                if (now >= a->deadline) {
                        connect_failed(a, "database: no connection within 10 s");
                        return;
                }
                poll_connect(a);
                return;
        case ST_IDLE:
                read_input(a);
                return;
        case ST_BUSY:
                if (now >= a->deadline && !a->failed) {
                        char why[128];
                        snprintf(why, sizeof(why), "database: no answer within %d s", STATEMENT_TIMEOUT_MS / 1000);
                        lost(a, why);
                        return;
                }
                read_input(a);
                return;
        }
}

void rf_pg_async_server(const rf_pg_async_t *a, char *buf, size_t size) {
        PGconn *conn = rf_pg_conn(a->pg);
        const char *host = conn ? PQhost(conn) : NULL, *port = conn ? PQport(conn) : NULL;

        snprintf(buf, size, "%s:%s", host ? host : "?", port ? port : "?");
}

const char *rf_pg_async_error(const rf_pg_async_t *a) {
        return a->error[0] ? a->error : "database: not connected";
}

bool rf_pg_async_idle(const rf_pg_async_t *a) {
        return a->state == ST_IDLE;
}

bool rf_pg_async_connected(const rf_pg_async_t *a) {
        return a->state == ST_IDLE || a->state == ST_BUSY;
}

int rf_pg_async_send(rf_pg_async_t *a, const char *sql, int nparams, const char *const *params,
                     rf_pg_async_done_fn *done, void *arg) {
        PGconn *conn = rf_pg_conn(a->pg);
        char errstr[512];
        int f;

        if (a->state == ST_BUSY)
                return -EBUSY;
        if (a->state != ST_IDLE)
                return -ENOTCONN;
        if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)) {
                rf_pg_conn_error(a->pg, errstr, sizeof(errstr));
                lost(a, errstr);
                return -ENOTCONN;
        }
        a->state = ST_BUSY;
        a->done = done;
        a->arg = arg;
        a->deadline = rf_mono_ms() + STATEMENT_TIMEOUT_MS;
        /* non-blocking: what the socket does not take now goes when it is writable */
        f = PQflush(conn);
        a->failed = f < 0;
        a->flushing = f == 1;
        watch(a, EPOLLIN | (a->flushing ? EPOLLOUT : 0));
        return 0;
}
