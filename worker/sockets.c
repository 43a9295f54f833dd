/* The worker's wait: one epoll set holding libcurl's sockets and the pipe
 * librdkafka writes to. libcurl tells us which sockets it wants watched
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
#include "worker.h"

#define EVENTS_PER_WAIT 1024

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
        worker_t *w = userp;
        struct epoll_event ev = { .data.fd = s };

        (void)easy;
        if (what == CURL_POLL_REMOVE) {
                /* curl may already have closed it, and closing removed it */
                epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, s, NULL);
                curl_multi_assign(w->multi, s, NULL);
                return 0;
        }
        ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
        /* socketp says what libcurl believes; the set may disagree: a socket
         * it knew may have been closed (leaving the set) and its number
         * reused (ENOENT), or one it calls new may still be there (EEXIST) */
        if (epoll_ctl(w->epoll_fd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) < 0)
                epoll_ctl(w->epoll_fd, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev);
        /* any non-NULL pointer: marks the socket as added */
        curl_multi_assign(w->multi, s, w);
        return 0;
}

/* libcurl may not be called back from here; the loop acts on the time. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
        worker_t *w = userp;

        (void)multi;
        w->curl_timer_at = timeout_ms < 0 ? 0 : rf_mono_ms() + timeout_ms;
        return 0;
}

int sockets_init(worker_t *w, char *errstr, size_t errstr_size) {
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = w->wake_fds[0] };

        w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (w->epoll_fd < 0 || epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->wake_fds[0], &ev) < 0) {
                snprintf(errstr, errstr_size, "epoll: %s", strerror(errno));
                return -errno;
        }
        curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
        curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
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

        if (w->curl_timer_at && w->curl_timer_at - now < timeout_ms)
                timeout_ms = w->curl_timer_at <= now ? 0 : (int)(w->curl_timer_at - now);
        n = epoll_wait(w->epoll_fd, events, EVENTS_PER_WAIT, timeout_ms);
        for (int i = 0; i < n; i++) {
                int flags = 0;

                if (events[i].data.fd == w->wake_fds[0])
                        continue; /* drained where the consumer is polled */
                if (events[i].events & (EPOLLIN | EPOLLHUP))
                        flags |= CURL_CSELECT_IN;
                if (events[i].events & EPOLLOUT)
                        flags |= CURL_CSELECT_OUT;
                if (events[i].events & EPOLLERR)
                        flags |= CURL_CSELECT_ERR;
                curl_multi_socket_action(w->multi, events[i].data.fd, flags, &running);
        }
        if (w->curl_timer_at && rf_mono_ms() >= w->curl_timer_at) {
                w->curl_timer_at = 0;
                curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
}
