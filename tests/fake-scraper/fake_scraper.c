/* SPDX-License-Identifier: Apache-2.0 */
/* runfleet-fake-scraper: an HTTP server that stands in for real scraper
 * endpoints in tests and in the local cluster.
 *
 * Every path except the control paths (/stats, /reset, /healthz) is a
 * "scraper" route. Its behaviour is chosen per request by the query string:
 *
 *   delay_ms=N      answer after N ms
 *   status=N        HTTP status to answer (200..599, default 200)
 *   hang_rate=P     with probability P, behave as hang=1
 *   hang=1          never answer; the connection stays open until the client
 *                   gives up (or the server stops)
 *   fail_rate=P     answer 500 with probability P (0..1)
 *   reset_rate=P    with probability P, close the connection without an
 *                   answer (SO_LINGER 0, so the client sees a reset)
 *   retry_after=N   add "Retry-After: N" to the answer
 *
 * The delay comes first; the reset and failure rolls are made when the
 * answer is due, so "delay_ms=5000&reset_rate=1" is a scraper that dies
 * after five seconds of work.
 *
 * Concurrency: thousands of slow requests must not cost a thread each, so
 * one serving thread drives libmicrohttpd on epoll (see serve()), and a delayed or
 * hung request *suspends* its connection (MHD_ALLOW_SUSPEND_RESUME). One
 * scheduler thread owns every suspended connection: a min-heap of deadlines
 * for delayed ones, and its own epoll set watching each suspended socket for
 * EPOLLRDHUP. MHD does not watch a suspended socket, so without the latter a
 * client that gives up on a hung request would leave a CLOSE_WAIT socket
 * behind until the server stops; with it, the connection is resumed and
 * closed as soon as the client goes away. The trade-off: a client that
 * half-closes its sending side while still waiting for the answer (rare for
 * HTTP clients) is treated as gone.
 *
 * Counting happens when a request's headers arrive, before any delay, so a
 * hung or reset request is counted too. Control paths are not counted.
 * GET /stats answers
 *
 *   {"total": N,                      scraper requests since start or reset
 *    "paths": {"/events": 3, ...},    requests per path
 *    "idempotency_keys": {"k": 2},    requests per Idempotency-Key header
 *                                     value, over all paths
 *    "idempotency_keys_by_path": {"/events": {"k": 1}, ...},
 *    "duplicate_keys": K,             (path, key) pairs seen more than once
 *    "suspended": S}                  requests now delayed or hung
 *
 * duplicate_keys is counted per (path, key) pair, not per key: one decision
 * calls each of its workflow's scrapers once with the same key, so the same
 * key on /events and /lines is expected, while the same key twice on
 * /events is a repeat the scraper would have to drop. A pair seen three
 * times still counts once. POST /reset clears all counters; GET /healthz
 * answers 200.
 *
 * GET /stats?prefix=/some/ answers the same for the paths starting with
 * that prefix only (totals and duplicates computed over them), plus
 *
 *   "requests_by_path": {"/some/a": [{"traceparent": "00-...-01",
 *                        "idempotency_key": "k", "attempt": "1", "try": "2"},
 *                        ...], ...}
 *
 * the W3C traceparent, Idempotency-Key, X-Runfleet-Attempt and
 * X-Runfleet-Try headers of each request in arrival order (a header that
 * was absent is left out), at most MAX_REQUESTS_PER_PATH per path and
 * MAX_REQUESTS_KEPT over the server's life until /reset ("requests_dropped"
 * counts those not kept), so a long-running shared server stays small.
 *
 * Outages: a scraper that fails for a while and is then fixed, as a shared
 * defect behind every scraper and its fix look from outside. The URL of a
 * scraper is fixed in a worker's configuration, so this cannot be a query
 * parameter; it is state of the server, set by a control path:
 *
 *   POST /outage?prefix=/p/&status=500&body=TEXT
 *                   from now on every scraper request whose path starts
 *                   with /p/ answers HTTP 500 with TEXT as a text/plain body
 *                   (default "fake scraper: outage"), whatever its own query
 *                   says (no delay, no hang); counted as usual
 *   POST /outage?prefix=/p/
 *                   ends that prefix's outage: the routes behave as their
 *                   queries say again
 *
 * Up to MAX_OUTAGES prefixes at once; a prefix confines an outage to one
 * test's paths on a shared server. /reset ends every outage.
 *
 * Paths and keys are stored with bytes outside printable ASCII replaced by
 * '?' and truncated, so /stats is always valid JSON. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#define PROG "runfleet-fake-scraper"
#define DEFAULT_PORT 18080
#define DEFAULT_MAX_CONNECTIONS 20000u
#define FD_RESERVE 64u /* fds kept for listen, epoll, stdio, ... */
#define MAX_DELAY_MS (24u * 3600u * 1000u)
#define MAX_PATH_LEN 512
#define MAX_KEY_LEN 256
#define RESUME_BATCH 256
#define NO_HEAP_INDEX SIZE_MAX
#define MAX_REQUESTS_PER_PATH 256
#define MAX_REQUESTS_KEPT 100000
#define MAX_OUTAGES 16
#define MAX_OUTAGE_BODY 1024

enum req_phase {
        REQ_ARRIVED,   /* headers in, not acted on yet */
        REQ_SUSPENDED, /* owned by the scheduler */
        REQ_RESUMED,   /* handed back to MHD; see req.wake */
};

enum req_wake {
        WAKE_NONE,
        WAKE_TIMER,    /* the delay passed: answer now */
        WAKE_HANGUP,   /* the client went away: close */
        WAKE_SHUTDOWN, /* the server is stopping: close */
};

/* Per-request state, MHD's con_cls. Allocated on the first call of the
 * access handler, freed by on_completed(). While phase is REQ_SUSPENDED
 * the scheduler owns the heap/list/epoll fields, under sched.lock. */
struct req {
        struct MHD_Connection *conn;
        bool control;
        enum req_phase phase;
        enum req_wake wake;

        /* parsed query */
        unsigned delay_ms;
        unsigned status;
        bool hang;
        double fail_rate;
        double reset_rate;
        double hang_rate;
        long retry_after; /* -1: none */

        /* scheduler bookkeeping */
        uint64_t deadline_ns;
        size_t heap_idx;
        int fd;
        bool watched;
        struct req *prev, *next;
};

struct sched {
        pthread_mutex_t lock;
        int epfd;
        int evfd;          /* wakes the scheduler: new earliest deadline, or stop */
        struct req **heap; /* min-heap on deadline_ns */
        size_t heap_len, heap_cap;
        struct req *suspended; /* every suspended request, for shutdown */
        size_t n_suspended;
        bool stopping;
        bool thread_started;
        pthread_t thread;
};

struct stats {
        pthread_mutex_t lock;
        json_int_t total;
        json_int_t duplicate_keys;
        json_t *paths;            /* path -> count */
        json_t *keys;             /* key -> count, all paths */
        json_t *keys_by_path;     /* path -> { key -> count } */
        json_t *requests_by_path; /* path -> [ {traceparent, idempotency_key, attempt, try} ] */
        json_int_t requests_kept, requests_dropped;
};

/* POST /outage: the paths under prefix answer status with body. */
struct outage {
        char prefix[MAX_PATH_LEN];
        unsigned status;
        char body[MAX_OUTAGE_BODY];
};

struct outages {
        pthread_mutex_t lock;
        struct outage list[MAX_OUTAGES];
        size_t count;
};

struct server {
        struct sched sched;
        struct stats stats;
        struct outages outages;
        uint64_t rng; /* xorshift64*; used by the MHD thread only */
};

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Uniform double in [0, 1). Single-threaded use only (the MHD thread). */
static double rng_next(struct server *srv) {
        uint64_t x = srv->rng;

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        srv->rng = x;
        return (double)((x * UINT64_C(2685821657736338717)) >> 11) / 9007199254740992.0;
}

/* Copies @p in into @p out as printable ASCII, truncated to @p outsz - 1. */
static void sanitize(const char *in, char *out, size_t outsz) {
        size_t i;

        for (i = 0; in[i] && i + 1 < outsz; i++) {
                unsigned char c = (unsigned char)in[i];
                out[i] = (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') ? (char)c : '?';
        }
        out[i] = '\0';
}

/* ---- statistics ---------------------------------------------------------- */

static int stats_init(struct stats *st) {
        if (pthread_mutex_init(&st->lock, NULL) != 0)
                return -ENOMEM;
        st->paths = json_object();
        st->keys = json_object();
        st->keys_by_path = json_object();
        st->requests_by_path = json_object();
        if (!st->paths || !st->keys || !st->keys_by_path || !st->requests_by_path)
                return -ENOMEM;
        return 0;
}

static void stats_destroy(struct stats *st) {
        json_decref(st->paths);
        json_decref(st->keys);
        json_decref(st->keys_by_path);
        json_decref(st->requests_by_path);
        pthread_mutex_destroy(&st->lock);
}

/* Adds 1 to the integer at @p obj[@p key] and returns the new value, or -1
 * when out of memory. */
static json_int_t bump(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        json_int_t n = v ? json_integer_value(v) + 1 : 1;

        if (v)
                return json_integer_set(v, n) == 0 ? n : -1;
        return json_object_set_new(obj, key, json_integer(n)) == 0 ? n : -1;
}

/* Headers of a scraper request kept for /stats?prefix= (NULL: absent). */
struct req_headers {
        const char *key, *traceparent, *attempt, *try_no;
};

static void set_sanitized(json_t *obj, const char *name, const char *raw) {
        char v[MAX_KEY_LEN];

        if (!raw)
                return;
        sanitize(raw, v, sizeof(v));
        json_object_set_new(obj, name, json_string(v));
}

/* Appends the request's headers to its path's list, within the bounds.
 * Called with st->lock held. */
static void keep_request(struct stats *st, const char *path, const struct req_headers *h) {
        json_t *list = json_object_get(st->requests_by_path, path), *entry;

        if (st->requests_kept >= MAX_REQUESTS_KEPT || (list && json_array_size(list) >= MAX_REQUESTS_PER_PATH)) {
                st->requests_dropped++;
                return;
        }
        if (!list) {
                list = json_array();
                if (json_object_set_new(st->requests_by_path, path, list) != 0)
                        return;
        }
        entry = json_object();
        if (!entry)
                return;
        set_sanitized(entry, "traceparent", h->traceparent);
        set_sanitized(entry, "idempotency_key", h->key);
        set_sanitized(entry, "attempt", h->attempt);
        set_sanitized(entry, "try", h->try_no);
        if (json_array_append_new(list, entry) == 0)
                st->requests_kept++;
}

static void stats_count(struct stats *st, const char *raw_path, const struct req_headers *h) {
        char path[MAX_PATH_LEN], key[MAX_KEY_LEN];
        const char *raw_key = h->key;
        json_t *per_path;

        sanitize(raw_path, path, sizeof(path));
        pthread_mutex_lock(&st->lock);
        st->total++;
        bump(st->paths, path);
        if (raw_key) {
                sanitize(raw_key, key, sizeof(key));
                bump(st->keys, key);
                per_path = json_object_get(st->keys_by_path, path);
                if (!per_path) {
                        per_path = json_object();
                        if (json_object_set_new(st->keys_by_path, path, per_path) != 0)
                                per_path = NULL;
                }
                if (per_path && bump(per_path, key) == 2)
                        st->duplicate_keys++;
        }
        keep_request(st, path, h);
        pthread_mutex_unlock(&st->lock);
}

static void stats_reset(struct stats *st) {
        pthread_mutex_lock(&st->lock);
        st->total = 0;
        st->duplicate_keys = 0;
        json_object_clear(st->paths);
        json_object_clear(st->keys);
        json_object_clear(st->keys_by_path);
        json_object_clear(st->requests_by_path);
        st->requests_kept = st->requests_dropped = 0;
        pthread_mutex_unlock(&st->lock);
}

/* The counters of the paths starting with @p prefix only, as stats_dump()
 * lays them out: a test reads its own paths without the whole server's
 * history (which grows large over a test suite). Called with st->lock held. */
static json_t *stats_filtered(struct stats *st, const char *prefix, size_t n_suspended) {
        json_t *paths = json_object(), *keys = json_object(), *by_path = json_object(), *requests = json_object();
        json_int_t total = 0, dups = 0;
        const char *path, *key;
        json_t *count, *per_key, *n;

        json_object_foreach(st->paths, path, count) {
                if (strncmp(path, prefix, strlen(prefix)) != 0)
                        continue;
                json_object_set(paths, path, count);
                total += json_integer_value(count);
                if (json_object_get(st->requests_by_path, path))
                        json_object_set(requests, path, json_object_get(st->requests_by_path, path));
                per_key = json_object_get(st->keys_by_path, path);
                if (!per_key)
                        continue;
                json_object_set(by_path, path, per_key);
                json_object_foreach(per_key, key, n) {
                        json_int_t had = json_integer_value(json_object_get(keys, key));
                        json_object_set_new(keys, key, json_integer(had + json_integer_value(n)));
                        dups += json_integer_value(n) > 1;
                }
        }
        return json_pack("{s:I, s:o, s:o, s:o, s:I, s:I, s:o, s:I}", "total", total, "paths", paths, "idempotency_keys",
                         keys, "idempotency_keys_by_path", by_path, "duplicate_keys", dups, "suspended",
                         (json_int_t)n_suspended, "requests_by_path", requests, "requests_dropped",
                         st->requests_dropped);
}

/* Returns the /stats document (all paths, or those starting with @p prefix
 * when not NULL) as a malloc'ed string the caller frees, or NULL. */
static char *stats_dump(struct server *srv, const char *prefix) {
        struct stats *st = &srv->stats;
        json_t *doc;
        char *s = NULL;
        size_t n_suspended;

        pthread_mutex_lock(&srv->sched.lock);
        n_suspended = srv->sched.n_suspended;
        pthread_mutex_unlock(&srv->sched.lock);

        pthread_mutex_lock(&st->lock);
        if (prefix)
                doc = stats_filtered(st, prefix, n_suspended);
        else
                doc = json_pack("{s:I, s:O, s:O, s:O, s:I, s:I}", "total", st->total, "paths", st->paths,
                                "idempotency_keys", st->keys, "idempotency_keys_by_path", st->keys_by_path,
                                "duplicate_keys", st->duplicate_keys, "suspended", (json_int_t)n_suspended);
        if (doc)
                s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        pthread_mutex_unlock(&st->lock);
        json_decref(doc);
        return s;
}

/* ---- scheduler: suspended connections ------------------------------------ */

static void heap_swap(struct sched *s, size_t a, size_t b) {
        struct req *t = s->heap[a];

        s->heap[a] = s->heap[b];
        s->heap[b] = t;
        s->heap[a]->heap_idx = a;
        s->heap[b]->heap_idx = b;
}

static void heap_up(struct sched *s, size_t i) {
        while (i > 0) {
                size_t parent = (i - 1) / 2;

                if (s->heap[parent]->deadline_ns <= s->heap[i]->deadline_ns)
                        break;
                heap_swap(s, i, parent);
                i = parent;
        }
}

static void heap_down(struct sched *s, size_t i) {
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;

                if (l < s->heap_len && s->heap[l]->deadline_ns < s->heap[m]->deadline_ns)
                        m = l;
                if (r < s->heap_len && s->heap[r]->deadline_ns < s->heap[m]->deadline_ns)
                        m = r;
                if (m == i)
                        return;
                heap_swap(s, i, m);
                i = m;
        }
}

static int heap_push(struct sched *s, struct req *r) {
        if (s->heap_len == s->heap_cap) {
                size_t cap = s->heap_cap ? s->heap_cap * 2 : 1024;
                struct req **h = realloc(s->heap, cap * sizeof(*h));

                if (!h)
                        return -ENOMEM;
                s->heap = h;
                s->heap_cap = cap;
        }
        r->heap_idx = s->heap_len;
        s->heap[s->heap_len++] = r;
        heap_up(s, r->heap_idx);
        return 0;
}

static void heap_remove(struct sched *s, struct req *r) {
        size_t i = r->heap_idx;

        if (i == NO_HEAP_INDEX)
                return;
        r->heap_idx = NO_HEAP_INDEX;
        s->heap_len--;
        if (i == s->heap_len)
                return;
        s->heap[i] = s->heap[s->heap_len];
        s->heap[i]->heap_idx = i;
        heap_up(s, i);
        heap_down(s, s->heap[i]->heap_idx);
}

static void wake_scheduler(struct sched *s) {
        uint64_t one = 1;

        /* A full counter (EAGAIN) already means "wake up". */
        (void)!write(s->evfd, &one, sizeof(one));
}

/* Takes @p r off every scheduler structure; the caller then resumes it.
 * Called with s->lock held. */
static void detach_locked(struct sched *s, struct req *r, enum req_wake wake) {
        heap_remove(s, r);
        if (r->watched) {
                epoll_ctl(s->epfd, EPOLL_CTL_DEL, r->fd, NULL);
                r->watched = false;
        }
        if (r->prev)
                r->prev->next = r->next;
        else
                s->suspended = r->next;
        if (r->next)
                r->next->prev = r->prev;
        r->prev = r->next = NULL;
        s->n_suspended--;
        r->wake = wake;
        r->phase = REQ_RESUMED;
}

/* Suspends @p r's connection until its deadline (0: until the client goes
 * away). Called from the access handler. Returns 0, or -ECANCELED when the
 * server is stopping (the caller closes the connection). */
static int sched_park(struct sched *s, struct req *r, uint64_t deadline_ns) {
        const union MHD_ConnectionInfo *ci;
        struct epoll_event ev = { .events = EPOLLRDHUP };
        bool wake = false;

        pthread_mutex_lock(&s->lock);
        if (s->stopping) {
                pthread_mutex_unlock(&s->lock);
                return -ECANCELED;
        }
        r->deadline_ns = deadline_ns;
        if (deadline_ns && heap_push(s, r) < 0) {
                pthread_mutex_unlock(&s->lock);
                return -ENOMEM;
        }
        MHD_suspend_connection(r->conn);
        r->phase = REQ_SUSPENDED;
        r->next = s->suspended;
        if (s->suspended)
                s->suspended->prev = r;
        s->suspended = r;
        s->n_suspended++;
        wake = deadline_ns && r->heap_idx == 0;

        ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) {
                r->fd = ci->connect_fd;
                ev.data.ptr = r;
                /* Without the watch a hung request lingers until shutdown,
                 * which is still correct, so a failure here is not fatal. */
                r->watched = epoll_ctl(s->epfd, EPOLL_CTL_ADD, r->fd, &ev) == 0;
        }
        pthread_mutex_unlock(&s->lock);
        if (wake)
                wake_scheduler(s);
        return 0;
}

/* The scheduler thread: resumes delayed connections when their deadline
 * passes and hung or delayed ones whose client went away; on stop, resumes
 * everything so MHD_stop_daemon() finds no suspended connection. */
static void *sched_main(void *arg) {
        struct sched *s = arg;
        struct epoll_event evs[RESUME_BATCH];
        struct MHD_Connection *conns[RESUME_BATCH];
        bool stop = false;

        while (!stop) {
                size_t nb = 0;
                int timeout = -1, n;

                pthread_mutex_lock(&s->lock);
                if (s->stopping) {
                        timeout = 0; /* more to resume than one batch */
                } else if (s->heap_len > 0) {
                        uint64_t now = now_ns(), dl = s->heap[0]->deadline_ns;
                        uint64_t ms = dl > now ? (dl - now + 999999) / 1000000 : 0;

                        timeout = ms > INT_MAX ? INT_MAX : (int)ms;
                }
                pthread_mutex_unlock(&s->lock);

                n = epoll_wait(s->epfd, evs, RESUME_BATCH, timeout);
                if (n < 0 && errno != EINTR) {
                        fprintf(stderr, PROG ": epoll_wait: %s\n", strerror(errno));
                        n = 0;
                        usleep(10000);
                }

                pthread_mutex_lock(&s->lock);
                for (int i = 0; i < n; i++) {
                        struct req *r = evs[i].data.ptr;

                        if (!r) {
                                uint64_t v;
                                (void)!read(s->evfd, &v, sizeof(v));
                                continue;
                        }
                        /* Only this thread detaches, and each request is in
                         * one event at most, so r is still suspended. */
                        detach_locked(s, r, WAKE_HANGUP);
                        conns[nb++] = r->conn;
                }
                if (s->stopping) {
                        while (s->suspended && nb < RESUME_BATCH) {
                                struct req *r = s->suspended;
                                detach_locked(s, r, WAKE_SHUTDOWN);
                                conns[nb++] = r->conn;
                        }
                        stop = !s->suspended;
                } else {
                        uint64_t now = now_ns();

                        while (s->heap_len > 0 && nb < RESUME_BATCH && s->heap[0]->deadline_ns <= now) {
                                struct req *r = s->heap[0];
                                detach_locked(s, r, WAKE_TIMER);
                                conns[nb++] = r->conn;
                        }
                }
                pthread_mutex_unlock(&s->lock);
                /* Outside the lock, and through the saved connection
                 * pointers: once resumed, MHD may complete and free a
                 * request at any time. */
                for (size_t i = 0; i < nb; i++)
                        MHD_resume_connection(conns[i]);
        }
        return NULL;
}

static int sched_init(struct sched *s) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

        s->epfd = s->evfd = -1;
        if (pthread_mutex_init(&s->lock, NULL) != 0)
                return -ENOMEM;
        s->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (s->epfd < 0)
                return -errno;
        s->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->evfd < 0)
                return -errno;
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &ev) < 0)
                return -errno;
        return 0;
}

static int sched_start(struct sched *s) {
        int r = pthread_create(&s->thread, NULL, sched_main, s);

        if (r != 0)
                return -r;
        s->thread_started = true;
        return 0;
}

/* Resumes every suspended connection (they close) and joins the thread. */
static void sched_stop(struct sched *s) {
        if (!s->thread_started)
                return;
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_mutex_unlock(&s->lock);
        wake_scheduler(s);
        pthread_join(s->thread, NULL);
        s->thread_started = false;
}

static void sched_destroy(struct sched *s) {
        if (s->epfd >= 0)
                close(s->epfd);
        if (s->evfd >= 0)
                close(s->evfd);
        free(s->heap);
        pthread_mutex_destroy(&s->lock);
}

/* ---- HTTP ---------------------------------------------------------------- */

static enum MHD_Result respond_json(struct MHD_Connection *conn, unsigned status, json_t *doc, long retry_after) {
        struct MHD_Response *resp;
        enum MHD_Result ret = MHD_NO;
        char *body = NULL;

        if (!doc)
                return MHD_NO;
        body = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!body)
                return MHD_NO;
        resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        /* from here on resp owns body */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        if (retry_after >= 0) {
                char buf[32];
                snprintf(buf, sizeof(buf), "%ld", retry_after);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, buf);
        }
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, unsigned status, const char *msg) {
        return respond_json(conn, status, json_pack("{s:b, s:s}", "ok", 0, "error", msg), -1);
}

/* ---- outages ------------------------------------------------------------ */

static int arg_long(struct MHD_Connection *conn, const char *name, long lo, long hi, long *ret);

/* Starts (status > 0) or ends (status 0) the outage of @p prefix. Returns 0,
 * or -ENOSPC when MAX_OUTAGES prefixes are out already. */
static int outage_set(struct outages *o, const char *prefix, unsigned status, const char *body) {
        size_t i;
        int r = 0;

        pthread_mutex_lock(&o->lock);
        for (i = 0; i < o->count; i++)
                if (strcmp(o->list[i].prefix, prefix) == 0)
                        break;
        if (status == 0) {
                if (i < o->count)
                        o->list[i] = o->list[--o->count];
        } else if (i == o->count && o->count == MAX_OUTAGES) {
                r = -ENOSPC;
        } else {
                if (i == o->count)
                        o->count++;
                snprintf(o->list[i].prefix, sizeof(o->list[i].prefix), "%s", prefix);
                o->list[i].status = status;
                snprintf(o->list[i].body, sizeof(o->list[i].body), "%s", body);
        }
        pthread_mutex_unlock(&o->lock);
        return r;
}

/* Copies the outage @p path is under into @p ret; false when none. */
static bool outage_find(struct outages *o, const char *path, struct outage *ret) {
        bool found = false;

        pthread_mutex_lock(&o->lock);
        for (size_t i = 0; i < o->count && !found; i++)
                if (strncmp(path, o->list[i].prefix, strlen(o->list[i].prefix)) == 0) {
                        *ret = o->list[i];
                        found = true;
                }
        pthread_mutex_unlock(&o->lock);
        return found;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *text) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret;

        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static bool is_control(const char *url) {
        return strcmp(url, "/stats") == 0 || strcmp(url, "/reset") == 0 || strcmp(url, "/healthz") == 0 ||
               strcmp(url, "/outage") == 0;
}

static enum MHD_Result serve_control(struct server *srv, struct MHD_Connection *conn, const char *url,
                                     const char *method) {
        bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;

        if (strcmp(url, "/healthz") == 0 && get)
                return respond_json(conn, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1), -1);
        if (strcmp(url, "/stats") == 0 && get) {
                struct MHD_Response *resp;
                enum MHD_Result ret;
                char *body = stats_dump(srv, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "prefix"));

                if (!body)
                        return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
                resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
                if (!resp) {
                        free(body);
                        return MHD_NO;
                }
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
                ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
                MHD_destroy_response(resp);
                return ret;
        }
        if (strcmp(url, "/reset") == 0 && strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
                stats_reset(&srv->stats);
                pthread_mutex_lock(&srv->outages.lock);
                srv->outages.count = 0;
                pthread_mutex_unlock(&srv->outages.lock);
                return respond_json(conn, MHD_HTTP_OK, json_pack("{s:b, s:b}", "ok", 1, "reset", 1), -1);
        }
        if (strcmp(url, "/outage") == 0 && strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
                const char *prefix = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "prefix");
                const char *body = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "body");
                long status = 0;

                if (!prefix || prefix[0] != '/' || strlen(prefix) >= MAX_PATH_LEN)
                        return respond_error(conn, MHD_HTTP_BAD_REQUEST, "outage: prefix=/path/ is required");
                if (arg_long(conn, "status", 400, 599, &status) < 0)
                        return respond_error(conn, MHD_HTTP_BAD_REQUEST,
                                             "outage: bad query parameter status (400..599)");
                if (outage_set(&srv->outages, prefix, (unsigned)status, body ? body : "fake scraper: outage") < 0)
                        return respond_error(conn, MHD_HTTP_INSUFFICIENT_STORAGE, "outage: too many prefixes");
                return respond_json(conn, MHD_HTTP_OK,
                                    json_pack("{s:b, s:s, s:i}", "ok", 1, "prefix", prefix, "status", (int)status), -1);
        }
        return respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                             "control paths: GET /healthz, GET /stats, POST /reset, POST /outage");
}

/* Parses query argument @p name as an integer in [lo, hi] into @p ret.
 * Absent: @p ret untouched, returns 0. Malformed: -EINVAL. */
static int arg_long(struct MHD_Connection *conn, const char *name, long lo, long hi, long *ret) {
        const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
        char *end;
        long n;

        if (!v)
                return 0;
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < lo || n > hi)
                return -EINVAL;
        *ret = n;
        return 0;
}

static int arg_rate(struct MHD_Connection *conn, const char *name, double *ret) {
        const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
        char *end;
        double d;

        if (!v)
                return 0;
        errno = 0;
        d = strtod(v, &end);
        if (errno || end == v || *end || !(d >= 0.0 && d <= 1.0))
                return -EINVAL;
        *ret = d;
        return 0;
}

/* Fills @p r's behaviour from the query string. Returns 0, or -EINVAL with
 * the offending parameter's name in @p errstr. */
static int parse_query(struct MHD_Connection *conn, struct req *r, char *errstr, size_t errstr_size) {
        long delay = 0, status = 200, hang = 0, retry_after = -1;
        const char *bad = NULL;

        if (arg_long(conn, "delay_ms", 0, MAX_DELAY_MS, &delay) < 0)
                bad = "delay_ms (0..86400000)";
        else if (arg_long(conn, "status", 200, 599, &status) < 0)
                bad = "status (200..599)";
        else if (arg_long(conn, "hang", 0, 1, &hang) < 0)
                bad = "hang (0 or 1)";
        else if (arg_long(conn, "retry_after", 0, INT_MAX, &retry_after) < 0)
                bad = "retry_after (seconds >= 0)";
        else if (arg_rate(conn, "fail_rate", &r->fail_rate) < 0)
                bad = "fail_rate (0..1)";
        else if (arg_rate(conn, "reset_rate", &r->reset_rate) < 0)
                bad = "reset_rate (0..1)";
        else if (arg_rate(conn, "hang_rate", &r->hang_rate) < 0)
                bad = "hang_rate (0..1)";
        if (bad) {
                snprintf(errstr, errstr_size, "bad query parameter %s", bad);
                return -EINVAL;
        }
        r->delay_ms = (unsigned)delay;
        r->status = (unsigned)status;
        r->hang = hang == 1;
        r->retry_after = retry_after;
        return 0;
}

/* Closes the connection with a TCP reset instead of an answer. */
static enum MHD_Result reset_connection(struct MHD_Connection *conn) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };

        if (ci)
                setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        return MHD_NO;
}

static enum MHD_Result serve_scraper(struct server *srv, struct req *r, struct MHD_Connection *conn, const char *url) {
        char path[MAX_PATH_LEN], errstr[128];
        const char *key;
        unsigned status;
        json_t *doc;
        int ret;

        switch (r->phase) {
        case REQ_ARRIVED: {
                struct outage o;

                /* an outage answers at once, whatever the route's own query */
                if (outage_find(&srv->outages, url, &o))
                        return respond_text(conn, o.status, o.body);
                if (parse_query(conn, r, errstr, sizeof(errstr)) < 0)
                        return respond_error(conn, MHD_HTTP_BAD_REQUEST, errstr);
                if (r->hang_rate > 0.0 && rng_next(srv) < r->hang_rate)
                        r->hang = true;
                if (r->hang || r->delay_ms > 0) {
                        uint64_t deadline = r->hang ? 0 : now_ns() + (uint64_t)r->delay_ms * 1000000u;

                        ret = sched_park(&srv->sched, r, deadline);
                        if (ret == -ECANCELED)
                                return MHD_NO;
                        if (ret < 0)
                                return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
                        return MHD_YES;
                }
                break;
        }
        case REQ_RESUMED:
                if (r->wake != WAKE_TIMER)
                        return MHD_NO;
                break;
        case REQ_SUSPENDED:
        default:
                /* MHD does not call a suspended connection's handler. */
                return MHD_NO;
        }

        if (r->reset_rate > 0.0 && rng_next(srv) < r->reset_rate)
                return reset_connection(conn);

        sanitize(url, path, sizeof(path));
        key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
        status = r->status;
        if (r->fail_rate > 0.0 && rng_next(srv) < r->fail_rate) {
                status = MHD_HTTP_INTERNAL_SERVER_ERROR;
                snprintf(errstr, sizeof(errstr), "fake scraper: injected failure (fail_rate=%g)", r->fail_rate);
        } else if (status >= 500) {
                snprintf(errstr, sizeof(errstr), "fake scraper: injected HTTP %u (status=%u)", status, status);
        } else if (status >= 400) {
                snprintf(errstr, sizeof(errstr), "fake scraper: requested HTTP %u (status=%u)", status, status);
        }
        doc = json_pack("{s:b, s:s, s:i}", "ok", status < 400, "path", path, "status", (int)status);
        if (doc && status >= 400)
                json_object_set_new(doc, "error", json_string(errstr));
        if (doc && key) {
                char k[MAX_KEY_LEN];
                sanitize(key, k, sizeof(k));
                json_object_set_new(doc, "idempotency_key", json_string(k));
        }
        if (doc && r->delay_ms > 0)
                json_object_set_new(doc, "delay_ms", json_integer(r->delay_ms));
        return respond_json(conn, status, doc, r->retry_after);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        struct server *srv = cls;
        struct req *r = *con_cls;

        if (!r) {
                r = calloc(1, sizeof(*r));
                if (!r)
                        return MHD_NO;
                r->conn = conn;
                r->heap_idx = NO_HEAP_INDEX;
                r->fd = -1;
                r->control = is_control(url);
                r->phase = REQ_ARRIVED;
                *con_cls = r; /* owned by MHD until on_completed() */
                if (!r->control) {
                        struct req_headers h = {
                                .key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key"),
                                .traceparent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent"),
                                .attempt = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Runfleet-Attempt"),
                                .try_no = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Runfleet-Try"),
                        };
                        stats_count(&srv->stats, url, &h);
                }
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                /* Request bodies are accepted and dropped. */
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (r->control)
                return serve_control(srv, conn, url, method);
        return serve_scraper(srv, r, conn, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
        free(*con_cls);
        *con_cls = NULL;
}

/* ---- main ---------------------------------------------------------------- */

struct options {
        const char *listen;
        unsigned port;
        unsigned max_connections;
        uint64_t seed;
};

static void usage(FILE *f) {
        fprintf(f,
                "Usage: " PROG " [--listen ADDR] [--port N] [--max-connections N] [--seed N]\n"
                "\n"
                "A fake scraper HTTP server for runfleet tests.\n"
                "  --listen ADDR          address to bind (default 127.0.0.1; IPv6 allowed)\n"
                "  --port N               TCP port (default %d; 0 picks a free one)\n"
                "  --max-connections N    concurrent connection limit (default %u,\n"
                "                         lowered to fit RLIMIT_NOFILE)\n"
                "  --seed N               seed for fail_rate/reset_rate rolls (default: random)\n"
                "\n"
                "Scraper routes: any path; query delay_ms=N status=N hang=1 hang_rate=P fail_rate=P\n"
                "reset_rate=P retry_after=N. Control: GET /healthz, GET /stats, POST /reset,\n"
                "POST /outage?prefix=/p/&status=N&body=TEXT (without status: the outage ends).\n",
                DEFAULT_PORT, DEFAULT_MAX_CONNECTIONS);
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *ret) {
        char *end;
        unsigned long long n;

        errno = 0;
        n = strtoull(s, &end, 10);
        if (errno || end == s || *end || *s == '-' || n > max)
                return -EINVAL;
        *ret = n;
        return 0;
}

static int parse_options(int argc, char **argv, struct options *o) {
        static const struct option longopts[] = {
                { "listen", required_argument, NULL, 'l' },
                { "port", required_argument, NULL, 'p' },
                { "max-connections", required_argument, NULL, 'm' },
                { "seed", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        unsigned long long n;
        int c;

        while ((c = getopt_long(argc, argv, "l:p:m:s:h", longopts, NULL)) != -1) {
                switch (c) {
                case 'l':
                        o->listen = optarg;
                        break;
                case 'p':
                        if (parse_uint(optarg, 65535, &n) < 0) {
                                fprintf(stderr, PROG ": error: --port: not a port number: %s\n", optarg);
                                return -EINVAL;
                        }
                        o->port = (unsigned)n;
                        break;
                case 'm':
                        if (parse_uint(optarg, 1000000, &n) < 0 || n == 0) {
                                fprintf(stderr, PROG ": error: --max-connections: not in 1..1000000: %s\n", optarg);
                                return -EINVAL;
                        }
                        o->max_connections = (unsigned)n;
                        break;
                case 's':
                        if (parse_uint(optarg, UINT64_MAX, &n) < 0) {
                                fprintf(stderr, PROG ": error: --seed: not a number: %s\n", optarg);
                                return -EINVAL;
                        }
                        o->seed = n ? n : 1;
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, PROG ": error: unexpected argument: %s\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

/* ---- serving thread -------------------------------------------------------
 * MHD's own polling thread (MHD_USE_INTERNAL_POLLING_THREAD with epoll, in
 * libmicrohttpd 0.9.75) waits a second time whenever one wait returned
 * exactly 128 events, with its full timeout, and handles none of those 128
 * until something else happens on the server: at the end of a burst, 128
 * requests sat unanswered until their clients gave up (seen in bench
 * scenario a: 128 calls hung for their 60 s timeout). Driven from here,
 * MHD_run() never blocks inside MHD: this loop does the waiting, on MHD's
 * epoll descriptor, which also carries MHD_resume_connection()'s wake-ups. */
struct serving {
        struct MHD_Daemon *d;
        int epoll_fd;
        atomic_bool stop;
        pthread_t thread;
        bool running;
};

/* A wait's longest sleep, so a stop request is seen promptly. */
#define SERVE_WAIT_MS 200

static void *serve(void *arg) {
        struct serving *sv = arg;

        while (!atomic_load(&sv->stop)) {
                struct pollfd p = { .fd = sv->epoll_fd, .events = POLLIN };
                MHD_UNSIGNED_LONG_LONG due;
                int wait_ms = SERVE_WAIT_MS;

                if (MHD_get_timeout(sv->d, &due) == MHD_YES && due < (MHD_UNSIGNED_LONG_LONG)wait_ms)
                        wait_ms = (int)due;
                poll(&p, 1, wait_ms);
                MHD_run(sv->d);
        }
        return NULL;
}

static int serving_start(struct serving *sv, struct MHD_Daemon *d) {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
        int r;

        if (!di)
                return -EINVAL;
        sv->d = d;
        sv->epoll_fd = di->epoll_fd;
        atomic_store(&sv->stop, false);
        r = pthread_create(&sv->thread, NULL, serve, sv);
        if (r != 0)
                return -r; /* pthread_create returns its error, errno is untouched */
        sv->running = true;
        return 0;
}

/* Stops the thread after one last turn, which lets MHD take back the
 * connections the scheduler has just resumed (MHD_stop_daemon() must find
 * none suspended). */
static void serving_stop(struct serving *sv) {
        if (!sv->running)
                return;
        atomic_store(&sv->stop, true);
        pthread_join(sv->thread, NULL);
        sv->running = false;
        MHD_run(sv->d);
}

/* Raises the soft RLIMIT_NOFILE to the hard limit and returns the result. */
static rlim_t raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 1024;
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        getrlimit(RLIMIT_NOFILE, &rl);
        }
        return rl.rlim_cur;
}

int main(int argc, char **argv) {
        struct options opt = { .listen = "127.0.0.1",
                               .port = DEFAULT_PORT,
                               .max_connections = DEFAULT_MAX_CONNECTIONS };
        struct server srv = { 0 };
        struct serving sv = { 0 };
        struct MHD_Daemon *d = NULL;
        struct sockaddr_storage ss = { 0 };
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
        const union MHD_DaemonInfo *di;
        unsigned max_conn, port;
        sigset_t sigs;
        rlim_t nofile;
        int sig = 0, r, ret = 1;

        srv.sched.epfd = srv.sched.evfd = -1;
        if (parse_options(argc, argv, &opt) < 0)
                return 2;

        if (strchr(opt.listen, ':')) {
                struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons((uint16_t)opt.port);
                r = inet_pton(AF_INET6, opt.listen, &a6->sin6_addr);
                flags |= MHD_USE_IPv6;
        } else {
                struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

                a4->sin_family = AF_INET;
                a4->sin_port = htons((uint16_t)opt.port);
                r = inet_pton(AF_INET, opt.listen, &a4->sin_addr);
        }
        if (r != 1) {
                fprintf(stderr, PROG ": error: --listen: not an IP address: %s\n", opt.listen);
                return 2;
        }

        nofile = raise_nofile();
        max_conn = opt.max_connections;
        if (nofile <= FD_RESERVE * 2)
                max_conn = 16;
        else if ((rlim_t)max_conn > nofile - FD_RESERVE)
                max_conn = (unsigned)(nofile - FD_RESERVE);

        srv.rng = opt.seed ? opt.seed : (now_ns() ^ ((uint64_t)getpid() << 32)) | 1;

        /* Every thread started from here on inherits this mask, so the
         * signals reach only sigwait() below. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = pthread_mutex_init(&srv.outages.lock, NULL) != 0 ? -ENOMEM : stats_init(&srv.stats);
        if (r == 0)
                r = sched_init(&srv.sched);
        if (r < 0) {
                fprintf(stderr, PROG ": error: initialisation failed: %s\n", strerror(-r));
                goto fail;
        }
        r = sched_start(&srv.sched);
        if (r < 0) {
                fprintf(stderr, PROG ": error: cannot start scheduler thread: %s\n", strerror(-r));
                goto fail;
        }

        d = MHD_start_daemon(flags, (uint16_t)opt.port, NULL, NULL, on_request, &srv, MHD_OPTION_SOCK_ADDR,
                             (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, max_conn,
                             MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                             MHD_OPTION_CONNECTION_TIMEOUT, 600u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, &srv,
                             MHD_OPTION_END);
        if (!d) {
                fprintf(stderr, PROG ": error: cannot listen on %s port %u (in use, or bad address?)\n", opt.listen,
                        opt.port);
                goto fail;
        }
        r = serving_start(&sv, d);
        if (r < 0) {
                fprintf(stderr, PROG ": error: cannot start the serving thread: %s\n", strerror(-r));
                goto fail;
        }
        di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        port = di && di->port ? di->port : opt.port;
        fprintf(stderr, PROG ": listening on %s port %u (max %u connections, RLIMIT_NOFILE %llu, pid %d)\n", opt.listen,
                port, max_conn, (unsigned long long)nofile, (int)getpid());

        while (sigwait(&sigs, &sig) != 0)
                ;
        fprintf(stderr, PROG ": %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        ret = 0;
fail:
        /* Order matters: MHD_stop_daemon() must find no suspended
         * connection, so the scheduler resumes them all first; while it
         * stops, the handler closes instead of suspending. */
        sched_stop(&srv.sched);
        serving_stop(&sv);
        if (d)
                MHD_stop_daemon(d);
        sched_destroy(&srv.sched);
        stats_destroy(&srv.stats);
        pthread_mutex_destroy(&srv.outages.lock);
        return ret;
}
