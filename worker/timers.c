/* SPDX-License-Identifier: Apache-2.0 */
#include <stddef.h>

#include "timers.h"

/* earlier() and timers_take_due() read a heap node as its timer */
_Static_assert(offsetof(wtimer_t, node) == 0, "the heap node must come first");

static bool earlier(const rf_heap_node_t *a, const rf_heap_node_t *b) {
        const wtimer_t *x = (const wtimer_t *)a, *y = (const wtimer_t *)b;

        return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

void timers_init(timers_t *ts) {
        rf_heap_init(&ts->heap, earlier);
        ts->seq = 0;
}

void timers_start(timers_t *ts, wtimer_t *t, timer_kind_t kind, int64_t at) {
        timers_stop(ts, t);
        t->at = at;
        t->seq = ts->seq++;
        t->kind = kind;
        t->active = true;
        rf_heap_insert(&ts->heap, &t->node);
}

void timers_stop(timers_t *ts, wtimer_t *t) {
        if (!t->active)
                return;
        rf_heap_remove(&ts->heap, &t->node);
        t->active = false;
}

int64_t timers_next_at(const timers_t *ts) {
        const rf_heap_node_t *n = rf_heap_min(&ts->heap);

        return n ? ((const wtimer_t *)n)->at : 0;
}

wtimer_t *timers_take_due(timers_t *ts, int64_t now, uint64_t seq_limit) {
        wtimer_t *t = (wtimer_t *)rf_heap_min(&ts->heap);

        if (!t || t->at > now || t->seq >= seq_limit)
                return NULL;
        timers_stop(ts, t);
        return t;
}
