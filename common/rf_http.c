/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rf_http.h"
#include "rf_metrics.h"
#include "rf_util.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct rf_http {
        struct MHD_Daemon *daemon;
        int64_t stale_ms;
        rf_http_ready_cb_t *ready;
        void *opaque;
        char address[96];
        int port;
};

/* One per process: the loop that beats is the process's main loop. */
static _Atomic int64_t last_beat_ms;

void rf_http_heartbeat(void) {
        atomic_store_explicit(&last_beat_ms, rf_mono_ms(), memory_order_relaxed);
}

void rf_http_condition_set(rf_http_condition_t *c, bool ok, const char *why) {
        pthread_mutex_lock(&c->lock);
        c->checked = true;
        c->ok = ok;
        if (ok)
                c->ok_at = rf_mono_ms();
        else
                snprintf(c->why, sizeof(c->why), "%s", why && *why ? why : "failed");
        pthread_mutex_unlock(&c->lock);
}

bool rf_http_condition_ok(rf_http_condition_t *c, int64_t max_age_ms, char *why, size_t why_size) {
        bool ok;

        pthread_mutex_lock(&c->lock);
        if (!c->checked) {
                ok = false;
                snprintf(why, why_size, "%s: not checked yet", c->name ? c->name : "condition");
        } else if (!c->ok) {
                ok = false;
                snprintf(why, why_size, "%s", c->why);
        } else if (max_age_ms > 0 && rf_mono_ms() - c->ok_at > max_age_ms) {
                ok = false;
                snprintf(why, why_size, "%s: not confirmed for %lld ms", c->name ? c->name : "condition",
                         (long long)(rf_mono_ms() - c->ok_at));
        } else
                ok = true;
        pthread_mutex_unlock(&c->lock);
        return ok;
}

/* --- requests -------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *content_type, char *body,
                               size_t len, enum MHD_ResponseMemoryMode mode) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
        enum MHD_Result ret;

        if (!resp) {
                if (mode == MHD_RESPMEM_MUST_FREE)
                        free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *fmt, ...) {
        char text[600];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        if ((size_t)n >= sizeof(text))
                n = sizeof(text) - 1;
        return respond(conn, status, "text/plain; charset=utf-8", text, (size_t)n, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        rf_http_t *http = cls;
        bool known = strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0;

        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        (void)con_cls;
        if (!known)
                return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n");
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method %.20s not allowed\n", method);

        if (strcmp(url, "/metrics") == 0) {
                char *text = NULL;
                size_t len = 0;
                if (rf_metrics_render(NULL, &text, &len) < 0)
                        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
                /* MUST_FREE: libmicrohttpd frees @text with the response */
                return respond(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, text, len, MHD_RESPMEM_MUST_FREE);
        }
        if (strcmp(url, "/healthz") == 0) {
                int64_t age = rf_mono_ms() - atomic_load_explicit(&last_beat_ms, memory_order_relaxed);
                if (age > http->stale_ms)
                        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                            "stale: the main loop last ticked %lld ms ago (bound %lld ms)\n",
                                            (long long)age, (long long)http->stale_ms);
                return respond_text(conn, MHD_HTTP_OK, "ok\n");
        }
        {
                char reason[512] = "";
                if (http->ready && http->ready(http->opaque, reason, sizeof(reason)) < 0) {
                        /* one line, whatever the callback wrote */
                        for (char *p = reason; *p; p++)
                                if (*p == '\n' || *p == '\r')
                                        *p = ' ';
                        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: %s\n",
                                            reason[0] ? reason : "no reason given");
                }
                return respond_text(conn, MHD_HTTP_OK, "ready\n");
        }
}

/* --- the server ------------------------------------------------------ */

/* A listening socket on @p address:@p port, so a bind failure has a clear
 * reason (libmicrohttpd only says it could not start). */
static int listen_on(const char *address, int port, int *ret_fd, int *ret_family, char *errstr, size_t errstr_size) {
        struct addrinfo hints = { .ai_family = AF_UNSPEC,
                                  .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
        struct addrinfo *ai = NULL;
        char service[16];
        int fd, one = 1, r;

        snprintf(service, sizeof(service), "%d", port);
        r = getaddrinfo(address, service, &hints, &ai);
        if (r != 0) {
                snprintf(errstr, errstr_size, "http: listen address '%s': %s", address, gai_strerror(r));
                return -EINVAL;
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = -errno;
                snprintf(errstr, errstr_size, "http: socket: %s", strerror(errno));
                goto out;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
                r = -errno;
                snprintf(errstr, errstr_size, "http: cannot listen on %s port %d: %s", address, port, strerror(errno));
                close(fd);
                goto out;
        }
        *ret_fd = fd;
        *ret_family = ai->ai_family;
        r = 0;
out:
        freeaddrinfo(ai);
        return r;
}

static void describe(rf_http_t *http, int fd) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char host[64] = "?", serv[16] = "0";

        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
                getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv, sizeof(serv),
                            NI_NUMERICHOST | NI_NUMERICSERV);
        http->port = atoi(serv);
        snprintf(http->address, sizeof(http->address), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

int rf_http_start(const char *address, int port, int64_t stale_ms, rf_http_ready_cb_t *ready, void *opaque,
                  rf_http_t **ret_http, char *errstr, size_t errstr_size) {
        rf_http_t *http;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
        int fd = -1, family = AF_INET, r;

        if (port < 0 || port > 65535) {
                snprintf(errstr, errstr_size, "http: port %d is out of range", port);
                return -EINVAL;
        }
        http = calloc(1, sizeof(*http));
        if (!http)
                return -ENOMEM;
        http->stale_ms = stale_ms;
        http->ready = ready;
        http->opaque = opaque;
        r = listen_on(address && *address ? address : "127.0.0.1", port, &fd, &family, errstr, errstr_size);
        if (r < 0) {
                free(http);
                return r;
        }
        describe(http, fd);
        if (family == AF_INET6)
                flags |= MHD_USE_IPv6;
        rf_http_heartbeat(); /* the clock starts now, not at the epoch */
        /* the daemon takes @fd over and closes it in MHD_stop_daemon() */
        http->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, http, MHD_OPTION_LISTEN_SOCKET, fd,
                                        MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT,
                                        (unsigned)10, MHD_OPTION_END);
        if (!http->daemon) {
                snprintf(errstr, errstr_size, "http: libmicrohttpd could not start on %s", http->address);
                close(fd);
                free(http);
                return -EIO;
        }
        *ret_http = http;
        return 0;
}

const char *rf_http_address(const rf_http_t *http) {
        return http->address;
}

int rf_http_port(const rf_http_t *http) {
        return http->port;
}

void rf_http_stop(rf_http_t *http) {
        if (!http)
                return;
        MHD_stop_daemon(http->daemon);
        free(http);
}
