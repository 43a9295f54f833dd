/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "rf_decision_span.h"
#include "rf_otlp.h"
#include "rf_trace.h"
#include "rf_tracer.h"

/* The trace id of decision @p decision_id, or "" when it cannot be read
 * (the link is then left out: a span never fails a produce). */
static void original_trace(rf_pg_t *pg, const char *decision_id, char ret[RF_TRACE_ID_HEX]) {
        const char *params[] = { decision_id };
        PGresult *res = NULL;
        char errstr[256];

        ret[0] = '\0';
        if (!pg || rf_pg_exec(pg, "SELECT trace_id FROM runfleet.decisions WHERE decision_id::text = $1", 1, params,
                              &res, errstr, sizeof(errstr)) < 0)
                return;
        if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
                rf_trace_id_of(PQgetvalue(res, 0, 0), ret);
        PQclear(res);
}

void rf_decision_span_submit(rf_pg_t *pg, const char *topic, const rf_decision_t *d, uint64_t end_ns,
                             const char *error) {
        rf_tracer_t *tracer = rf_tracer_default();
        char trace[RF_TRACE_ID_HEX], span_id[RF_SPAN_ID_HEX], parent[RF_SPAN_ID_HEX] = "";
        uint64_t start_ns;
        rf_span_t span;

        if (!tracer)
                return;
        rf_trace_id_of(d->trace_id, trace);
        rf_trace_decision_span_id(d->decision_id, d->attempt, span_id);
        if (d->attempt > 1)
                rf_trace_decision_span_id(d->decision_id, 1, parent);
        /* attempt 1 spans from the decision to Kafka's acknowledgement; a
         * re-produce from when the reaper picked it up is not known here, so
         * it spans the produce only (decided_at is hours earlier) */
        start_ns = d->attempt > 1 || d->decided_at_ms <= 0 ? end_ns : (uint64_t)d->decided_at_ms * UINT64_C(1000000);
        if (rf_span_init(&span, trace, span_id, parent, "decision produced", RF_SPAN_PRODUCER, start_ns) < 0)
                return;
        span.end_ns = end_ns;
        rf_span_attr_str(&span, "messaging.system", "kafka");
        rf_span_attr_str(&span, "messaging.operation.type", "send");
        rf_span_attr_str(&span, "messaging.destination.name", topic);
        rf_span_attr_str(&span, "messaging.kafka.message.key", d->workflow);
        rf_span_attr_str(&span, "runfleet.decision_id", d->decision_id);
        rf_span_attr_str(&span, "runfleet.workflow", d->workflow);
        rf_span_attr_int(&span, "runfleet.attempt", d->attempt);
        rf_span_attr_str(&span, "runfleet.trace_id", d->trace_id);
        if (d->reason)
                rf_span_attr_str(&span, "runfleet.reason", d->reason);
        if (d->replay_of && d->attempt >= 1) {
                rf_span_attr_str(&span, "runfleet.replay_of", d->replay_of);
                original_trace(pg, d->replay_of, span.link_trace_id);
                if (span.link_trace_id[0])
                        rf_trace_decision_span_id(d->replay_of, 1, span.link_span_id);
        }
        rf_span_set_status(&span, error ? RF_SPAN_STATUS_ERROR : RF_SPAN_STATUS_UNSET, error);
        rf_tracer_submit(tracer, &span);
}
