/* SPDX-License-Identifier: Apache-2.0 */
/* replay_record: a replay recorded as its messages stream in, and its
 * decisions produced afterwards, a page at a time, so a replay of any size
 * holds a bounded number of decisions in memory (REPLAY_CHUNK while
 * recording, REPLAY_PAGE while producing). */
#pragma once

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_conf.h"
#include "rf_decision.h"
#include "rf_pg.h"

#define REPLAY_CHUNK 1000
#define REPLAY_PAGE 10000

/* A RUN decision read from the topic. */
typedef struct replay_item {
        rf_decision_t *d; /* as read (owned) */
        const char *root; /* the original decision: d->replay_of, else d->decision_id */
        int32_t partition;
        int64_t offset;
        int64_t ts;
} replay_item_t;

typedef struct replay_recorder {
        rf_pg_t *pg;
        const char *replay_id;
        replay_item_t chunk[REPLAY_CHUNK];
        size_t n;        /* items waiting in chunk */
        size_t recorded; /* decisions recorded so far */
        /* a chunk sent and not yet answered (replay_recorder_flush() takes
         * the answer), and what its error message names */
        bool sent;
        size_t sent_n;
        char sent_root[37];
        char sent_workflow[128];
} replay_recorder_t;

/* Takes @p it (and its decision) over; records the chunk when it is full.
 * Within the caller's transaction, each original is replayed once: the
 * first of its messages in scan order (a partition's offset order, where
 * all messages of a workflow are) makes the new decision, later ones are
 * dropped. Returns 0, or a negative errno with the reason in @p errstr. */
int replay_recorder_add(replay_recorder_t *rr, replay_item_t it, char *errstr, size_t errstr_size);

/* Records what is waiting, and waits until everything added is recorded
 * (a chunk is recorded while the next is read). After an error the
 * transaction is to be rolled back. */
int replay_recorder_flush(replay_recorder_t *rr, char *errstr, size_t errstr_size);

/* After a failed scan: takes (and ignores) the answer to a chunk still in
 * flight, so the connection can roll the transaction back, and frees what
 * is waiting, unrecorded. */
void replay_recorder_abandon(replay_recorder_t *rr);

/* Frees what is waiting, unrecorded. */
void replay_recorder_clear(replay_recorder_t *rr);

/* Produces the decisions of replay @p replay_id, in the originals' order
 * within each partition, REPLAY_PAGE at a time, printing a line per
 * decision; *ret_total and *ret_delivered count them. The replay's
 * decisions were made at @p since_ms or later. Returns 0, or -EIO
 * when some were not acknowledged (they stay for the reaper). */
int replay_publish(rd_kafka_t *rk, rf_pg_t *pg, const rf_conf_t *conf, const char *replay_id, int64_t since_ms,
                   size_t *ret_total, size_t *ret_delivered, char *errstr, size_t errstr_size);

/* Keeps the first message of each original among @p n @p items, first by
 * @p order (which sorts by root, then by what makes a message first), and
 * destroys the others' decisions. Returns how many are left, sorted by
 * @p order. */
size_t replay_fold(replay_item_t *items, size_t n, int (*order)(const void *, const void *));
