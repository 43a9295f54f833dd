/* SPDX-License-Identifier: Apache-2.0 */
/* completion: the queue of executions whose calls are all done and whose
 * terminal record is not yet written. calls.c fills it when a call's last
 * try ends; db.c takes from it for the next record batch. Queuing, never
 * releasing, means no caller ever sees its execution freed under it. */
#pragma once

#include "worker.h"

/* Queues @p ex. On no memory it logs and leaves @p ex unqueued: its
 * lease runs out and the reaper re-runs it, slow but not lost. */
void completion_push(worker_t *w, execution_t *ex);

/* The newest queued execution, taken off the queue, or NULL. */
execution_t *completion_take(worker_t *w);

/* Drops @p ex from the queue, if it is there (it is being released). */
void completion_forget(worker_t *w, const execution_t *ex);

void completion_cleanup(worker_t *w);
