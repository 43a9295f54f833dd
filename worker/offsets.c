/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "offsets.h"

/* The unfinished window is a ring of (offset, done) kept in arrival order:
 * finishing is a binary search, and the committable offset is the head once
 * finished heads are dropped. */
typedef struct slot {
        int64_t offset;
        bool done;
} slot_t;

struct offset_track {
        int32_t partition;
        slot_t *ring;
        size_t cap, head, len;
        int64_t next;      /* one past the highest offset begun, -1 before any */
        int64_t committed; /* last committed, -1 before any */
};

offset_track_t *offset_track_new(int32_t partition) {
        offset_track_t *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->partition = partition;
        t->next = -1;
        t->committed = -1;
        return t;
}

void offset_track_destroy(offset_track_t *t) {
        if (!t)
                return;
        free(t->ring);
        free(t);
}

int32_t offset_track_partition(const offset_track_t *t) {
        return t->partition;
}

static slot_t *at(const offset_track_t *t, size_t i) {
        return &t->ring[(t->head + i) % t->cap];
}

static int grow(offset_track_t *t) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        slot_t *ring = malloc(cap * sizeof(*ring));

        if (!ring)
                return -ENOMEM;
        for (size_t i = 0; i < t->len; i++)
                ring[i] = *at(t, i);
        free(t->ring);
        t->ring = ring;
        t->cap = cap;
        t->head = 0;
        return 0;
}

int offset_track_begin(offset_track_t *t, int64_t offset) {
        if (t->len == t->cap && grow(t) < 0)
                return -ENOMEM;
        *at(t, t->len) = (slot_t){ .offset = offset, .done = false };
        t->len++;
        t->next = offset + 1;
        return 0;
}

int offset_track_finish(offset_track_t *t, int64_t offset) {
        size_t lo = 0, hi = t->len;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (at(t, mid)->offset < offset)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == t->len || at(t, lo)->offset != offset)
                return -ENOENT;
        at(t, lo)->done = true;
        while (t->len > 0 && at(t, 0)->done) {
                t->head = (t->head + 1) % t->cap;
                t->len--;
        }
        return 0;
}

int64_t offset_track_committable(const offset_track_t *t) {
        return t->len > 0 ? at(t, 0)->offset : t->next;
}

size_t offset_track_pending(const offset_track_t *t) {
        size_t n = 0;

        for (size_t i = 0; i < t->len; i++)
                n += !at(t, i)->done;
        return n;
}

void offset_track_set_committed(offset_track_t *t, int64_t offset) {
        t->committed = offset;
}

bool offset_track_dirty(const offset_track_t *t) {
        int64_t c = offset_track_committable(t);

        return c >= 0 && c > t->committed;
}

void offset_track_commit_failed(offset_track_t *t, int64_t offset) {
        if (t->committed == offset)
                t->committed = -1;
}
