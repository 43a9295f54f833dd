/* SPDX-License-Identifier: Apache-2.0 */
/* execution: the lifecycle of one execution, from its message to its
 * release. Its phase changes only through execution_set_phase(), which
 * asserts the transition is legal:
 *
 *   QUEUED ──slot──▶ BEGIN ──STARTED──▶ RUNNING ──calls done──▶ FINISHING
 *                                                               (again on a retry)
 *
 * and from any phase it may be released (skipped, dead-lettered, fenced,
 * lease lost, recorded, abandoned at exit). */
#pragma once

#include <jansson.h>

#include "rf_json_text.h"
#include "worker.h"

/* A new execution of @p d (taken over on success) for the message at
 * @p partition / @p offset, in PHASE_QUEUED at the tail of the worker's
 * list. Returns 0 or -ENOMEM (then @p d stays the caller's). */
int execution_new(worker_t *w, rf_decision_t *d, int32_t partition, int64_t offset, execution_t **ret_ex);

/* Moves @p ex to @p phase; the transition must be legal (asserted). */
void execution_set_phase(execution_t *ex, execution_phase_t phase);

/* True when the lifecycle allows @p from → @p to. */
bool execution_phase_legal(execution_phase_t from, execution_phase_t to);

const char *execution_phase_name(execution_phase_t phase);

/* Marks @p ex to be claimed in the next batch (PHASE_BEGIN). */
void execution_want_begin(worker_t *w, execution_t *ex);

/* Its claim or record failed: try again at @p at. */
void execution_db_retry(worker_t *w, execution_t *ex, int64_t at);

/* Its database retry timer came due (the loop's timer phase). */
void execution_db_retry_due(worker_t *w, execution_t *ex);

/* The terminal status of an execution whose calls are done (error: the
 * first failed call's, or NULL). */
rf_exec_status_t execution_status(const execution_t *ex, const char **ret_error);

/* Acts on the database's answer to a claim: runs, skips or dead-letters. */
void execution_apply_verdict(worker_t *w, execution_t *ex, rf_claim_verdict_t verdict);

/* Logs, counts and releases an execution whose terminal record was written
 * (or refused by the fence): its offset may be committed from now on. */
void execution_finished(worker_t *w, execution_t *ex, rf_exec_status_t status, const char *error, bool recorded);

/* Releases @p ex and finishes its offset: nothing more is owed for it. */
void execution_release(worker_t *w, execution_t *ex);

/* Frees @p ex without finishing its offset (its message is redelivered, or
 * its dead letter's delivery report finishes it). */
void execution_free(worker_t *w, execution_t *ex);

/* The execution's ids as JSON object members, for the lines logged per
 * execution (rf_log_members), and the same as a jansson object. */
void execution_fields_text(const execution_t *ex, rf_json_text_t *t);
json_t *execution_fields(const execution_t *ex);
