/* SPDX-License-Identifier: Apache-2.0 */
/* offsets: per-partition bookkeeping for out-of-order completion. Messages
 * arrive in offset order but finish in any order; the offset a worker may
 * commit for a partition is the lowest one not yet finished, so a crash
 * redelivers exactly what had not finished and nothing that had. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct offset_track offset_track_t;

/* A tracker for one partition. @p committed is where consumption starts. */
offset_track_t *offset_track_new(int32_t partition);
void offset_track_destroy(offset_track_t *t);

int32_t offset_track_partition(const offset_track_t *t);

/* Records that @p offset was taken on (offsets must increase). Returns 0 or -ENOMEM. */
int offset_track_begin(offset_track_t *t, int64_t offset);

/* Records that @p offset is finished (recorded durably or handed to the DLQ).
 * Returns 0, or -ENOENT when it was never begun here. */
int offset_track_finish(offset_track_t *t, int64_t offset);

/* The offset to commit (the next one to consume after a restart), or -1 when
 * nothing was begun yet. */
int64_t offset_track_committable(const offset_track_t *t);

/* How many begun offsets are not finished. */
size_t offset_track_pending(const offset_track_t *t);

/* Remembers that @p offset was committed; offset_track_dirty() is true while
 * the committable offset is ahead of it. */
void offset_track_set_committed(offset_track_t *t, int64_t offset);
bool offset_track_dirty(const offset_track_t *t);

/* The commit of @p offset failed (a rebalance in progress, the coordinator
 * moving): unless a later commit already went out, the partition is dirty
 * again, so the next commit pass sends it. Without this, a partition that
 * gets no new message keeps its lag for good. */
void offset_track_commit_failed(offset_track_t *t, int64_t offset);
