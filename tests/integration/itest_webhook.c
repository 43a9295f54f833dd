/* SPDX-License-Identifier: Apache-2.0 */
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "itest_webhook.h"

struct itest_webhook {
        struct MHD_Daemon *daemon;
        int port;
        pthread_mutex_t lock;
        int status, requests, accepted;
        itest_webhook_request_t kept[ITEST_WEBHOOK_KEPT];
};

/* A request's body as it arrives, in parts. */
typedef struct body {
        char data[8192];
        size_t len;
} body_t;

static void copy_header(struct MHD_Connection *conn, const char *name, char *buf, size_t size) {
        const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

        snprintf(buf, size, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
        itest_webhook_t *w = cls;
        body_t *b = *con_cls;
        struct MHD_Response *resp;
        enum MHD_Result ret;
        int status;

        (void)version;
        if (!b) {
                *con_cls = calloc(1, sizeof(body_t));
                return *con_cls ? MHD_YES : MHD_NO;
        }
        if (*upload_size) {
                size_t n = *upload_size < sizeof(b->data) - 1 - b->len ? *upload_size : sizeof(b->data) - 1 - b->len;
                memcpy(b->data + b->len, upload_data, n);
                b->len += n;
                *upload_size = 0;
                return MHD_YES;
        }
        pthread_mutex_lock(&w->lock);
        w->requests++;
        status = w->status;
        if (status >= 200 && status < 300) {
                if (w->accepted < ITEST_WEBHOOK_KEPT) {
                        itest_webhook_request_t *r = &w->kept[w->accepted];

                        snprintf(r->method, sizeof(r->method), "%s", method);
                        snprintf(r->path, sizeof(r->path), "%s", url);
                        snprintf(r->body, sizeof(r->body), "%.*s", (int)b->len, b->data);
                        copy_header(conn, "Idempotency-Key", r->key, sizeof(r->key));
                        copy_header(conn, "Content-Type", r->content_type, sizeof(r->content_type));
                }
                w->accepted++;
        }
        pthread_mutex_unlock(&w->lock);
        resp = MHD_create_response_from_buffer(3, (void *)"ok\n", MHD_RESPMEM_PERSISTENT);
        ret = MHD_queue_response(conn, (unsigned)status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
        (void)cls;
        (void)conn;
        (void)toe;
        free(*con_cls);
        *con_cls = NULL;
}

itest_webhook_t *itest_webhook_start(void) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        const union MHD_DaemonInfo *info;
        itest_webhook_t *w = calloc(1, sizeof(*w));

        if (!w)
                return NULL;
        pthread_mutex_init(&w->lock, NULL);
        w->status = 200;
        w->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, w,
                                     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
                                     on_completed, NULL, MHD_OPTION_END);
        info = w->daemon ? MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
        w->port = info ? info->port : 0;
        if (w->port <= 0) {
                fprintf(stderr, "# webhook: could not start a server on a loopback port\n");
                itest_webhook_stop(w);
                return NULL;
        }
        return w;
}

void itest_webhook_stop(itest_webhook_t *w) {
        if (!w)
                return;
        if (w->daemon)
                MHD_stop_daemon(w->daemon);
        pthread_mutex_destroy(&w->lock);
        free(w);
}

int itest_webhook_port(const itest_webhook_t *w) {
        return w->port;
}

void itest_webhook_set_status(itest_webhook_t *w, int status) {
        pthread_mutex_lock(&w->lock);
        w->status = status;
        pthread_mutex_unlock(&w->lock);
}

static int read_count(itest_webhook_t *w, const int *field) {
        int v;

        pthread_mutex_lock(&w->lock);
        v = *field;
        pthread_mutex_unlock(&w->lock);
        return v;
}

int itest_webhook_requests(itest_webhook_t *w) {
        return read_count(w, &w->requests);
}

int itest_webhook_accepted(itest_webhook_t *w) {
        return read_count(w, &w->accepted);
}

bool itest_webhook_get(itest_webhook_t *w, int i, itest_webhook_request_t *ret) {
        bool ok;

        pthread_mutex_lock(&w->lock);
        ok = i >= 0 && i < w->accepted && i < ITEST_WEBHOOK_KEPT;
        if (ok)
                *ret = w->kept[i];
        pthread_mutex_unlock(&w->lock);
        return ok;
}

int itest_webhook_find(itest_webhook_t *w, const char *needle, itest_webhook_request_t *ret) {
        int found = -1;

        pthread_mutex_lock(&w->lock);
        for (int i = 0; i < w->accepted && i < ITEST_WEBHOOK_KEPT && found < 0; i++)
                if (strstr(w->kept[i].body, needle)) {
                        found = i;
                        if (ret)
                                *ret = w->kept[i];
                }
        pthread_mutex_unlock(&w->lock);
        return found;
}

bool itest_webhook_wait_requests(itest_webhook_t *w, int n, int timeout_ms) {
        for (int waited = 0; waited < timeout_ms; waited += 50) {
                if (itest_webhook_requests(w) >= n)
                        return true;
                itest_sleep_ms(50);
        }
        return itest_webhook_requests(w) >= n;
}
