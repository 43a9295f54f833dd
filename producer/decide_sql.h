/* SPDX-License-Identifier: Apache-2.0 */
/* decide_sql: the statements of one round of an evaluation (decide.c)
 * that read the history, on their own so that a test can EXPLAIN them
 * with a round's parameters (tests/integration/it_decided.c): their bounds
 * keep an evaluation from reading the older days' partitions. */
#pragma once

/* The indexes of the jobs whose tick has a decision already.
 * $1: the jobs, [{"i": index, "w": workflow, "t": tick_ms}];
 * $2: rf_uuid_floor() of the round's earliest tick. */
extern const char *const decide_sql_decided;

/* The RUN history of the round's workflows.
 * $1: their names (text[]); $2, $3: the round's earliest and latest tick
 * (ms); $4: rf_uuid_floor($2 - DECIDE_HISTORY_BEFORE_MS). */
extern const char *const decide_sql_history;

/* How long before the round's first tick a decision of its history can
 * have been decided: 26 h of local day either side, and an hour for the
 * clocks of evaluator and database. */
#define DECIDE_HISTORY_BEFORE_MS (27LL * 3600 * 1000)
