/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "worker.h"

/* record: each database batch's statement and its answer. The sends put
 * c->batch on connection @p c and return rf_pg_async_send()'s result (or
 * -ENOMEM); @p done gets the answer, with @p c as its argument. */
/* Claims b->exs[0..n) in one round trip. */
int record_begin_send(db_conn_t *c, rf_pg_async_done_fn *done);
/* ret_verdicts[i] gets each claim's verdict (UNKNOWN when the answer has no
 * row for it, or a verdict this worker does not know); a STARTED
 * execution's lease runs from the send. */
void record_begin_read(worker_t *w, const db_batch_t *b, const PGresult *res, rf_claim_verdict_t *ret_verdicts);
/* Records b->exs[0..n) finished (try records, status) in one round trip. */
int record_finish_send(db_conn_t *c, rf_pg_async_done_fn *done);
/* ret_recorded[i] is false when the execution was fenced. */
void record_finish_read(const db_batch_t *b, const PGresult *res, bool *ret_recorded);
/* Renews the leases of every running or finishing execution; -ENODATA when there is none. */
int record_renew_send(db_conn_t *c, rf_pg_async_done_fn *done);
void record_renew_read(worker_t *w, const db_batch_t *b, const PGresult *res);
