/* SPDX-License-Identifier: Apache-2.0 */
/* rf_refusal: when a decoded decision must not run with a configuration.
 * The worker sends such a message to the DLQ; `dlq redrive` keeps it
 * there. One rule, so a redriven letter is never one the worker refuses
 * again. (rf_decision_decode() already refused what no configuration can
 * run: a malformed message, a decision_id that is not a UUID.) */
#pragma once

#include <stddef.h>

#include "rf_conf.h"
#include "rf_decision.h"

typedef enum rf_refusal {
        RF_REFUSAL_NONE = 0, /* it may run */
        RF_REFUSAL_UNKNOWN_WORKFLOW,
        RF_REFUSAL_UNKNOWN_SCRAPER, /* names only: a forged message cannot point us at another host */
} rf_refusal_t;

/* Why @p d cannot run with @p conf: RF_REFUSAL_NONE, or the refusal with a
 * one-line reason in @p why ("unknown workflow 'x'"). */
rf_refusal_t rf_refusal_check(const rf_conf_t *conf, const rf_decision_t *d, char *why, size_t why_size);

/* The refusal's label in metrics ("unknown_workflow"); "" for RF_REFUSAL_NONE. */
const char *rf_refusal_label(rf_refusal_t r);
