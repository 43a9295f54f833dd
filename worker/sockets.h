/* SPDX-License-Identifier: Apache-2.0 */
/* sockets: one epoll set for curl's sockets and librdkafka's wake pipe. */
#pragma once

#include "worker.h"

int sockets_init(worker_t *w, char *errstr, size_t errstr_size);
void sockets_cleanup(worker_t *w);
/* Waits up to @p timeout_ms (less when curl's timer is due sooner) and hands
 * libcurl the sockets that are ready and its due timeout. */
void sockets_wait(worker_t *w, int timeout_ms);
