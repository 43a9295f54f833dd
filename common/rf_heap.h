/* SPDX-License-Identifier: Apache-2.0 */
/* rf_heap: an intrusive binary min-heap, after libuv's heap-inl.h. The
 * nodes live inside the caller's structures, so inserting and removing
 * never allocate: a timer can be armed on the hot path for free, and a
 * loop turn pays for what is due, not for everything that waits. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct rf_heap_node {
        struct rf_heap_node *left, *right, *parent;
} rf_heap_node_t;

/* True when @p a must come out before @p b. A strict order (ties broken by
 * the caller, e.g. by an insertion sequence) makes the order deterministic. */
typedef bool rf_heap_less_fn(const rf_heap_node_t *a, const rf_heap_node_t *b);

typedef struct rf_heap {
        rf_heap_node_t *min;
        size_t count;
        rf_heap_less_fn *less;
} rf_heap_t;

void rf_heap_init(rf_heap_t *h, rf_heap_less_fn *less);

/* The smallest node, or NULL when the heap is empty. */
static inline rf_heap_node_t *rf_heap_min(const rf_heap_t *h) {
        return h->min;
}

/* Inserts @p n, which must not be in a heap. O(log n). */
void rf_heap_insert(rf_heap_t *h, rf_heap_node_t *n);

/* Removes @p n, which must be in @p h. O(log n). */
void rf_heap_remove(rf_heap_t *h, rf_heap_node_t *n);
