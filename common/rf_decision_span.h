/* SPDX-License-Identifier: Apache-2.0 */
/* rf_decision_span: the "decision produced" span, made where a decision is
 * handed to Kafka (rf_store_publish()) by every program that does so: the
 * evaluator, trigger, replay, backfill and the reaper's re-produces.
 *
 * The span of attempt 1 is the root of the decision's trace (trace id
 * rf_trace_id_of(trace_id), span id rf_trace_decision_span_id(decision_id,
 * 1)); a re-produce (attempt n > 1) is a child of it with span id
 * rf_trace_decision_span_id(decision_id, n). A worker's execution span
 * names the span of the attempt it executes as its parent, derived the
 * same way from the message, so the tree needs nothing new on the wire.
 *
 * A replay is a new decision, with a new trace_id and so a new trace; its
 * root span carries runfleet.replay_of and a span link to the root span of
 * the original decision's trace (looked up in runfleet.decisions, once per
 * replayed decision and only when tracing is on). */
#pragma once

#include <stdint.h>

#include "rf_decision.h"
#include "rf_pg.h"

/* Submits the span of @p d's produce to the process's tracer (nothing when
 * tracing is off): from its decided_at to @p end_ns, on @p topic, with an
 * ERROR status and @p error when Kafka did not acknowledge it (@p error
 * NULL: acknowledged). @p pg (may be NULL) serves the replay link lookup. */
void rf_decision_span_submit(rf_pg_t *pg, const char *topic, const rf_decision_t *d, uint64_t end_ns,
                             const char *error);
