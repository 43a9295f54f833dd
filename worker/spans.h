/* SPDX-License-Identifier: Apache-2.0 */
/* spans: the worker's part of a decision's trace (common/rf_trace.h).
 *
 * An execution is one span (kind INTERNAL, "execution <workflow>"), a child
 * of the "decision produced" span of the attempt it executes, from its
 * claim to its terminal record; each try of each scraper call is one span
 * (kind CLIENT, "POST"), a child of the execution's, whose span id is the
 * one the try's traceparent header carried. A try the breaker, the rate
 * limit or the deadline refused sent nothing and has no span (it is in
 * runfleet.scraper_calls). Nothing is made when tracing is off. */
#pragma once

#include <stdint.h>

#include "worker.h"

/* Gives @p ex its trace id (from its decision) and a fresh span id. */
void spans_execution_begin(execution_t *ex);

/* Ends @p ex's span with @p status (the name recorded; OK when
 * @p succeeded, else an error with @p error its message). Once per
 * execution; later calls do nothing. */
void spans_execution_end(execution_t *ex, const char *status, bool succeeded, const char *error);

/* Gives the try @p c is about to send a fresh span id and writes its
 * traceparent header value into @p ret. */
void spans_try_begin(call_t *c, char ret[RF_TRACEPARENT_SIZE]);

/* Ends the span of the try of @p c that just finished (its outcome,
 * status and error set). */
void spans_try_end(const call_t *c);
