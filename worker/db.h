/* SPDX-License-Identifier: Apache-2.0 */
/* db: the worker's database traffic on two asynchronous connections, claims and records (see db.c). */
#pragma once

#include "worker.h"

/* Drives each connection (when its event flag or its timer says so) and
 * sends the next statement on each that is idle. Once per loop turn. */
void db_step(worker_t *w);
/* Monotonic ms when db_step() has something to do without an event (the
 * turn's clock, w->now: work waits on an idle connection of its kind), 0
 * for none. */
int64_t db_due_ms(const worker_t *w);
