/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's wait: one epoll set holding libcurl's sockets (of every
 * shard's multi handle, see CURL_SHARDS), the pipe librdkafka writes to and
 * the database connection's own epoll set (rf_pg_async_fd).
 * libcurl tells us which sockets it wants watched
 * (CURLMOPT_SOCKETFUNCTION) and when it next needs a timeout
 * (CURLMOPT_TIMERFUNCTION), and we hand it only the sockets that are ready
 * (curl_multi_socket_action). curl_multi_poll + curl_multi_perform, used
 * before, polled every socket and walked every transfer on every loop turn:
 * with 1,000 calls in flight that made finishing them quadratic. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "rf_util.h"
#include "sockets.h"

#define EVENTS_PER_WAIT 1024

/* An event's tag: the shard in the high half (1-based: 0 is the wake pipe),
 * the socket in the low half. */
#define WAKE_TAG 0
#define DB_TAG ((uint64_t)UINT32_MAX << 32) /* no shard has that index; | the connection's db_role_t */
static uint64_t socket_tag(const curl_shard_t *shard, curl_socket_t s) {
        return (uint64_t)(shard->index + 1) << 32 | (uint32_t)s;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
        curl_shard_t *shard = userp;
        worker_t *w = shard->w;
        struct epoll_event ev = { .data.u64 = socket_tag(shard, s) };

        (void)easy;
        if (what == CURL_POLL_REMOVE) {
                /* curl may already have closed it, and closing removed it */
                epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, s, NULL);
                curl_multi_assign(shard->multi, s, NULL);
                return 0;
        }
        ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
        /* socketp says what libcurl believes; the set may disagree: a socket
         * it knew may have been closed (leaving the set) and its number
         * reused (ENOENT), or one it calls new may still be there (EEXIST) */
        if (epoll_ctl(w->epoll_fd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) < 0)
                epoll_ctl(w->epoll_fd, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev);
        /* any non-NULL pointer: marks the socket as added */
        curl_multi_assign(shard->multi, s, shard);
        return 0;
}

/* libcurl may not be called back from here; the loop acts on the time. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
        curl_shard_t *shard = userp;

        (void)multi;
        shard->timer_at = timeout_ms < 0 ? 0 : rf_mono_ms() + timeout_ms;
        return 0;
}

int sockets_init(worker_t *w, char *errstr, size_t errstr_size) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_TAG };

        w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (w->epoll_fd < 0 || epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->wake_fds[0], &ev) < 0) {
                snprintf(errstr, errstr_size, "epoll: %s", strerror(errno));
                return -errno;
        }
        for (int i = 0; i < DB_ROLES; i++) {
                struct epoll_event db = { .events = EPOLLIN, .data.u64 = DB_TAG | (uint64_t)i };
                if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, rf_pg_async_fd(w->db[i].pg), &db) < 0) {
                        snprintf(errstr, errstr_size, "epoll: %s", strerror(errno));
                        return -errno;
                }
        }
        for (int i = 0; i < CURL_SHARDS; i++) {
                curl_shard_t *shard = &w->shards[i];

                curl_multi_setopt(shard->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
                curl_multi_setopt(shard->multi, CURLMOPT_SOCKETDATA, shard);
                curl_multi_setopt(shard->multi, CURLMOPT_TIMERFUNCTION, on_timer);
                curl_multi_setopt(shard->multi, CURLMOPT_TIMERDATA, shard);
        }
        return 0;
}

void sockets_cleanup(worker_t *w) {
        if (w->epoll_fd >= 0)
                close(w->epoll_fd);
        w->epoll_fd = -1;
}

void sockets_wait(worker_t *w, int timeout_ms) {
        struct epoll_event events[EVENTS_PER_WAIT];
        int64_t now = rf_mono_ms();
        int running, n;

        for (int i = 0; i < CURL_SHARDS; i++) {
                int64_t at = w->shards[i].timer_at;

                if (at && at - now < timeout_ms)
                        timeout_ms = at <= now ? 0 : (int)(at - now);
        }
        n = epoll_wait(w->epoll_fd, events, EVENTS_PER_WAIT, timeout_ms);
        for (int i = 0; i < n; i++) {
                uint64_t tag = events[i].data.u64;
                int flags = 0;

                if (tag == WAKE_TAG)
                        continue; /* drained where the consumer is polled */
                if ((tag & DB_TAG) == DB_TAG) {
                        w->db[tag & ~DB_TAG].event = true; /* db_step() reads it */
                        continue;
                }
                if (events[i].events & (EPOLLIN | EPOLLHUP))
                        flags |= CURL_CSELECT_IN;
                if (events[i].events & EPOLLOUT)
                        flags |= CURL_CSELECT_OUT;
                if (events[i].events & EPOLLERR)
                        flags |= CURL_CSELECT_ERR;
                curl_multi_socket_action(w->shards[(tag >> 32) - 1].multi, (curl_socket_t)(uint32_t)tag, flags,
                                         &running);
        }
        now = rf_mono_ms();
        for (int i = 0; i < CURL_SHARDS; i++) {
                curl_shard_t *shard = &w->shards[i];

                if (shard->timer_at && now >= shard->timer_at) {
                        shard->timer_at = 0;
                        curl_multi_socket_action(shard->multi, CURL_SOCKET_TIMEOUT, 0, &running);
                }
        }
}
