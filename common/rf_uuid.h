/* SPDX-License-Identifier: Apache-2.0 */
/* rf_uuid: the ids of decisions, executions and everything else.
 *
 * Every id begins with a time: 48 bits of unix milliseconds, big-endian, as
 * in RFC 9562's version 7. The history tables are range-partitioned by day
 * on these ids (schemas/sql/018_partitioned_history.sql), so an id alone
 * names the partition that holds its row: a claim by decision_id reads one
 * day's index, and retention drops whole days. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A version 7 UUID for now: the time, then 74 random bits. */
void rf_uuid_new(char out[37]);

/* A version 7 UUID for the time @p ms (a decision's decided_at). */
void rf_uuid_at(int64_t ms, char out[37]);

/* The smallest id of millisecond @p ms: its time, then zeros (what
 * runfleet.day_id() is for a day). Every id made at @p ms or later sorts
 * at or above it, so a range of them bounds a query's ids by time, which
 * the planner prunes day partitions by. */
void rf_uuid_floor(int64_t ms, char out[37]);

/* The id of the decision of @p workflow's schedule tick @p tick_ms: the
 * tick's time, then 74 bits of a SHA-1 of the workflow's name and the tick
 * (version 8, "custom"). The same tick always has the same id, so the
 * primary key is what makes a tick decided once — a unique (workflow, tick)
 * index could not, since it would not contain the partition key. Two
 * workflows' ticks of the same millisecond collide only if 74 bits of their
 * hashes match (about 1 in 10^22 per pair). */
void rf_uuid_tick(const char *workflow, int64_t tick_ms, char out[37]);

/* How people see an id: its last 8 hex digits, which are random (version
 * 7) or a hash of the workflow and tick (version 8) — the first ones are
 * the time, shared by every id of the same minute. For logs, reasons and
 * tables; the whole id is what commands take. */
#define RF_UUID_SHORT_LEN 8
const char *rf_uuid_short(const char *id);

/* The unix milliseconds at the start of a time-ordered id (version 7 or 8). */
int64_t rf_uuid_ms(const char *id);

/* Whether @p s is a UUID in text form: 8-4-4-4-12 hex digits, either case. */
bool rf_uuid_valid(const char *s);
