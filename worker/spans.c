/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "rf_otlp.h"
#include "rf_tracer.h"
#include "spans.h"

void spans_execution_begin(execution_t *ex) {
        rf_trace_id_of(ex->d->trace_id, ex->trace_hex);
        rf_trace_span_id_new(ex->span_id);
        ex->started_ns = rf_trace_now_ns();
        ex->span_ended = false;
}

void spans_execution_end(execution_t *ex, const char *status, bool succeeded, const char *error) {
        rf_tracer_t *tracer = rf_tracer_default();
        char parent[RF_SPAN_ID_HEX], name[160];
        rf_span_t span;

        if (!tracer || ex->span_ended || !ex->started_ns)
                return;
        ex->span_ended = true;
        rf_trace_decision_span_id(ex->d->decision_id, ex->d->attempt, parent);
        snprintf(name, sizeof(name), "execution %s", ex->d->workflow);
        if (rf_span_init(&span, ex->trace_hex, ex->span_id, parent, name, RF_SPAN_INTERNAL, ex->started_ns) < 0)
                return;
        span.end_ns = rf_trace_now_ns();
        rf_span_attr_str(&span, "runfleet.decision_id", ex->d->decision_id);
        rf_span_attr_str(&span, "runfleet.execution_id", ex->execution_id);
        rf_span_attr_str(&span, "runfleet.workflow", ex->d->workflow);
        rf_span_attr_int(&span, "runfleet.attempt", ex->d->attempt);
        rf_span_attr_str(&span, "runfleet.status", status);
        rf_span_attr_int(&span, "messaging.kafka.destination.partition", ex->partition);
        rf_span_attr_int(&span, "messaging.kafka.message.offset", ex->offset);
        rf_span_attr_int(&span, "runfleet.scrapers", (int64_t)ex->call_count);
        rf_span_set_status(&span, succeeded ? RF_SPAN_STATUS_OK : RF_SPAN_STATUS_ERROR, error ? error : status);
        rf_tracer_submit(tracer, &span);
}

void spans_try_begin(call_t *c, char ret[RF_TRACEPARENT_SIZE]) {
        rf_trace_span_id_new(c->span_id);
        c->started_ns = rf_trace_now_ns();
        if (rf_traceparent_format(c->ex->trace_hex, c->span_id, ret) < 0)
                ret[0] = '\0'; /* cannot happen: both ids are made valid */
}

void spans_try_end(const call_t *c) {
        rf_tracer_t *tracer = rf_tracer_default();
        char url[512];
        rf_span_t span;

        if (!tracer || !c->started_ns)
                return;
        if (rf_span_init(&span, c->ex->trace_hex, c->span_id, c->ex->span_id, "POST", RF_SPAN_CLIENT, c->started_ns) <
            0)
                return;
        span.end_ns = rf_trace_now_ns();
        rf_trace_url_redact(c->scraper->url, url, sizeof(url));
        rf_span_attr_str(&span, "http.request.method", "POST");
        rf_span_attr_str(&span, "url.full", url);
        if (c->http_status > 0)
                rf_span_attr_int(&span, "http.response.status_code", c->http_status);
        rf_span_attr_str(&span, "runfleet.scraper", c->scraper->name);
        rf_span_attr_int(&span, "runfleet.try", c->tries);
        rf_span_attr_str(&span, "runfleet.outcome", rf_call_outcome_name(c->outcome));
        if (c->outcome != RF_CALL_OK) {
                char type[24];

                if (c->outcome == RF_CALL_HTTP_ERROR && c->http_status > 0)
                        snprintf(type, sizeof(type), "%ld", c->http_status);
                else
                        snprintf(type, sizeof(type), "%s", rf_call_outcome_name(c->outcome));
                rf_span_attr_str(&span, "error.type", type);
                rf_span_set_status(&span, RF_SPAN_STATUS_ERROR,
                                   c->error[0] ? c->error : rf_call_outcome_name(c->outcome));
        }
        rf_tracer_submit(tracer, &span);
}
