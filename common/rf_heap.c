/* SPDX-License-Identifier: Apache-2.0 */
/* The tree is kept complete: the node at 1-based position i has its
 * children at 2i and 2i+1, so the path from the root to position i is the
 * binary digits of i below its top bit (0: left, 1: right). Inserting goes
 * to position count+1; removing moves the node at position count into the
 * hole and sifts it down, then up. */
#include <assert.h>

#include "rf_heap.h"

void rf_heap_init(rf_heap_t *h, rf_heap_less_fn *less) {
        h->min = NULL;
        h->count = 0;
        h->less = less;
}

/* Swaps @p parent with its child @p child by relinking (the nodes stay where
 * they are in memory: they are embedded in their owners). */
static void node_swap(rf_heap_t *h, rf_heap_node_t *parent, rf_heap_node_t *child) {
        rf_heap_node_t *sibling, t;

        t = *parent;
        *parent = *child;
        *child = t;
        parent->parent = child;
        if (child->left == child) {
                child->left = parent;
                sibling = child->right;
        } else {
                child->right = parent;
                sibling = child->left;
        }
        if (sibling)
                sibling->parent = child;
        if (parent->left)
                parent->left->parent = parent;
        if (parent->right)
                parent->right->parent = parent;
        if (!child->parent)
                h->min = child;
        else if (child->parent->left == parent)
                child->parent->left = child;
        else
                child->parent->right = child;
}

/* The link that points at 1-based position @p pos (which may be empty). */
static rf_heap_node_t **slot_at(rf_heap_t *h, size_t pos) {
        rf_heap_node_t **slot = &h->min;
        size_t path = 0;
        int k = 0;

        for (size_t n = pos; n >= 2; n /= 2, k++)
                path = (path << 1) | (n & 1);
        while (k-- > 0) {
                slot = (path & 1) ? &(*slot)->right : &(*slot)->left;
                path >>= 1;
        }
        return slot;
}

void rf_heap_insert(rf_heap_t *h, rf_heap_node_t *n) {
        rf_heap_node_t **slot;

        n->left = n->right = n->parent = NULL;
        if (h->count == 0) {
                h->min = n;
                h->count = 1;
                return;
        }
        /* the parent of position count+1 is position (count+1)/2 */
        n->parent = *slot_at(h, (h->count + 1) / 2);
        slot = (h->count + 1) & 1 ? &n->parent->right : &n->parent->left;
        assert(*slot == NULL);
        *slot = n;
        h->count++;
        while (n->parent && h->less(n, n->parent))
                node_swap(h, n->parent, n);
}

void rf_heap_remove(rf_heap_t *h, rf_heap_node_t *n) {
        rf_heap_node_t **last_slot, *last, *smallest;

        assert(h->count > 0);
        last_slot = slot_at(h, h->count);
        last = *last_slot;
        *last_slot = NULL;
        h->count--;
        if (last == n) {
                if (n == h->min)
                        h->min = NULL;
                return;
        }
        /* the last node takes @p n's place */
        last->left = n->left;
        last->right = n->right;
        last->parent = n->parent;
        if (last->left)
                last->left->parent = last;
        if (last->right)
                last->right->parent = last;
        if (!n->parent)
                h->min = last;
        else if (n->parent->left == n)
                n->parent->left = last;
        else
                n->parent->right = last;
        for (;;) {
                smallest = last;
                if (last->left && h->less(last->left, smallest))
                        smallest = last->left;
                if (last->right && h->less(last->right, smallest))
                        smallest = last->right;
                if (smallest == last)
                        break;
                node_swap(h, last, smallest);
        }
        while (last->parent && h->less(last, last->parent))
                node_swap(h, last->parent, last);
}
