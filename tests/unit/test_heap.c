/* SPDX-License-Identifier: Apache-2.0 */
/* rf_heap (common/) and the worker's timers on it (worker/timers.c). */
#include <stdint.h>
#include <stdlib.h>

#include "rf_heap.h"
#include "rf_test.h"
#include "timers.h"

typedef struct item {
        rf_heap_node_t node; /* first: the comparison reads an item from its node */
        int key;
        bool in;
} item_t;

static bool item_less(const rf_heap_node_t *a, const rf_heap_node_t *b) {
        return ((const item_t *)a)->key < ((const item_t *)b)->key;
}

/* Every child is no smaller than its parent, and the links agree. */
static size_t check_tree(const rf_heap_node_t *n, const rf_heap_node_t *parent, bool *ok) {
        if (!n)
                return 0;
        if (n->parent != parent || (parent && item_less(n, parent)))
                *ok = false;
        return 1 + check_tree(n->left, n, ok) + check_tree(n->right, n, ok);
}

static bool heap_valid(const rf_heap_t *h) {
        bool ok = true;

        return check_tree(h->min, NULL, &ok) == h->count && ok;
}

static void heap_basics(void) {
        rf_heap_t h;
        item_t a = { .key = 3 }, b = { .key = 1 }, c = { .key = 2 };

        rf_heap_init(&h, item_less);
        CHECK(rf_heap_min(&h) == NULL);
        rf_heap_insert(&h, &a.node);
        CHECK(rf_heap_min(&h) == &a.node);
        rf_heap_insert(&h, &b.node);
        rf_heap_insert(&h, &c.node);
        CHECK(rf_heap_min(&h) == &b.node && h.count == 3 && heap_valid(&h));
        rf_heap_remove(&h, &c.node); /* not the min: the order of the rest holds */
        CHECK(rf_heap_min(&h) == &b.node && h.count == 2 && heap_valid(&h));
        rf_heap_remove(&h, &b.node);
        CHECK(rf_heap_min(&h) == &a.node && h.count == 1);
        rf_heap_remove(&h, &a.node);
        CHECK(rf_heap_min(&h) == NULL && h.count == 0);
}

/* Random inserts and removals of arbitrary nodes against a plain scan. */
static void heap_random(void) {
        enum { N = 500 };
        static item_t items[N];
        rf_heap_t h;
        bool valid = true, min_right = true;

        srand(42);
        rf_heap_init(&h, item_less);
        for (int round = 0; round < 20000; round++) {
                item_t *it = &items[rand() % N];
                const item_t *want = NULL;

                if (it->in) {
                        rf_heap_remove(&h, &it->node);
                        it->in = false;
                } else {
                        it->key = rand() % 1000;
                        rf_heap_insert(&h, &it->node);
                        it->in = true;
                }
                for (int i = 0; i < N; i++)
                        if (items[i].in && (!want || items[i].key < want->key))
                                want = &items[i];
                if (round % 97 == 0 && !heap_valid(&h))
                        valid = false;
                if (want ? !rf_heap_min(&h) || ((item_t *)rf_heap_min(&h))->key != want->key : rf_heap_min(&h) != NULL)
                        min_right = false;
        }
        CHECK(valid);
        CHECK(min_right);
        /* drained in order */
        {
                int last = -1;
                bool sorted = true;
                while (rf_heap_min(&h)) {
                        item_t *m = (item_t *)rf_heap_min(&h);
                        if (m->key < last)
                                sorted = false;
                        last = m->key;
                        rf_heap_remove(&h, &m->node);
                }
                CHECK(sorted);
                CHECK(h.count == 0);
        }
}

static void timers(void) {
        timers_t ts;
        wtimer_t a = { 0 }, b = { 0 }, c = { 0 };
        uint64_t limit;

        timers_init(&ts);
        CHECK(timers_next_at(&ts) == 0);
        timers_start(&ts, &a, TIMER_CALL_TRY, 200);
        timers_start(&ts, &b, TIMER_DB_RETRY, 100);
        timers_start(&ts, &c, TIMER_CALL_TRY, 100);
        CHECK(timers_active(&a) && timers_active(&b) && timers_active(&c));
        CHECK(timers_next_at(&ts) == 100);
        limit = timers_seq(&ts);
        CHECK(timers_take_due(&ts, 99, limit) == NULL);
        /* ties in arming order */
        CHECK(timers_take_due(&ts, 150, limit) == &b);
        CHECK(!timers_active(&b) && b.kind == TIMER_DB_RETRY);
        CHECK(timers_take_due(&ts, 150, limit) == &c);
        CHECK(timers_take_due(&ts, 150, limit) == NULL);
        /* re-arming moves a timer; stopping twice is harmless */
        timers_start(&ts, &a, TIMER_CALL_TRY, 50);
        CHECK(timers_next_at(&ts) == 50 && ts.heap.count == 1);
        timers_stop(&ts, &a);
        timers_stop(&ts, &a);
        CHECK(timers_next_at(&ts) == 0 && ts.heap.count == 0);
        /* one armed during a run (for "now") waits for the next run */
        timers_start(&ts, &a, TIMER_CALL_TRY, 10);
        limit = timers_seq(&ts);
        CHECK(timers_take_due(&ts, 10, limit) == &a);
        timers_start(&ts, &a, TIMER_CALL_TRY, 10);
        CHECK(timers_take_due(&ts, 10, limit) == NULL);
        CHECK(timers_take_due(&ts, 10, timers_seq(&ts)) == &a);
}

int main(void) {
        heap_basics();
        heap_random();
        timers();
        return rf_test_finish();
}
