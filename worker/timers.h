/* SPDX-License-Identifier: Apache-2.0 */
/* timers: the worker's one-shot timers (a call's next try, an execution's
 * next database attempt) in one min-heap ordered by due time, so a loop
 * turn finds the next deadline in O(1) and pays only for what is due.
 * A timer is embedded in its owner: arming one never allocates. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_heap.h"

/* What a timer belongs to, so the loop can find its owner (container_of). */
typedef enum timer_kind {
        TIMER_CALL_TRY, /* call_t.try_timer: its next try (backoff, token, breaker) */
        TIMER_DB_RETRY, /* execution_t.db_timer: its claim or record, after a database error */
} timer_kind_t;

typedef struct wtimer {
        rf_heap_node_t node;
        int64_t at;   /* monotonic ms */
        uint64_t seq; /* arming order: ties come out first armed, first run */
        timer_kind_t kind;
        bool active;
} wtimer_t;

typedef struct timers {
        rf_heap_t heap;
        uint64_t seq;
} timers_t;

void timers_init(timers_t *ts);

/* Arms @p t for @p at (re-arms it when it is already armed). */
void timers_start(timers_t *ts, wtimer_t *t, timer_kind_t kind, int64_t at);

/* Disarms @p t; nothing when it is not armed. */
void timers_stop(timers_t *ts, wtimer_t *t);

static inline bool timers_active(const wtimer_t *t) {
        return t->active;
}

/* When the earliest timer is due, 0 when none is armed. */
int64_t timers_next_at(const timers_t *ts);

/* Disarms and returns the earliest timer due at @p now that was armed
 * before @p seq_limit (timers_seq() at the start of the run: one re-armed
 * for "now" by its own callback waits for the next turn instead of
 * spinning), or NULL. */
wtimer_t *timers_take_due(timers_t *ts, int64_t now, uint64_t seq_limit);

static inline uint64_t timers_seq(const timers_t *ts) {
        return ts->seq;
}

#define TIMER_OWNER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
