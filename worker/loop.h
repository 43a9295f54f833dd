/* SPDX-License-Identifier: Apache-2.0 */
/* loop: the worker's one thread, a sequence of named phases per turn. */
#pragma once

#include "worker.h"

/* Runs until a stop is requested and the executions in flight have
 * finished (or the drain timeout passed). */
void loop_run(worker_t *w);

/* FOR TESTS: the timer phase at @p now (runs what is due). */
void loop_run_timers(worker_t *w, int64_t now);

/* The poll timeout for the turn at w->now: until the earliest thing due,
 * at most 500 ms. */
int loop_wait_ms(const worker_t *w);
