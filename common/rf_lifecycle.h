/* SPDX-License-Identifier: Apache-2.0 */
/* rf_lifecycle: the states a decision, an execution, a scraper call and a
 * claim can be in, as enums, each with one name table. The names are what
 * PostgreSQL stores and checks (schemas/sql: decisions.state and
 * executions.status CHECK lists; the unit test lifecycle compares them),
 * what the SQL functions answer (claim verdicts) and what metrics and logs
 * show. Compare enums, never the strings (systemd's string tables). */
#pragma once

#include <stddef.h>

/* Each list is the single source: the enum and its names come from it. */
#define RF_DECISION_ACTIONS(X) X(RUN) X(SKIP) X(MISSED)
#define RF_DECISION_STATES(X) X(PENDING) X(RUNNING) X(SUCCEEDED) X(FAILED) X(DEAD) X(SKIPPED) X(CANCELLED)
#define RF_EXEC_STATUSES(X) X(RUNNING) X(SUCCEEDED) X(FAILED) X(TIMED_OUT) X(ABANDONED)
#define RF_CALL_OUTCOMES(X) X(OK) X(HTTP_ERROR) X(TIMEOUT) X(CONNECT_ERROR) X(ERROR) X(CIRCUIT_OPEN) X(ABORTED)
#define RF_CLAIM_VERDICTS(X) X(STARTED) X(UNKNOWN) X(DONE) X(STALE) X(TAKEN)

#define RF_LIFECYCLE_ENUM_(prefix, name) prefix##name,
#define RF_ACTION_ENUM_(n) RF_LIFECYCLE_ENUM_(RF_ACTION_, n)
#define RF_DECISION_ENUM_(n) RF_LIFECYCLE_ENUM_(RF_DECISION_, n)
#define RF_EXEC_ENUM_(n) RF_LIFECYCLE_ENUM_(RF_EXEC_, n)
#define RF_CALL_ENUM_(n) RF_LIFECYCLE_ENUM_(RF_CALL_, n)
#define RF_VERDICT_ENUM_(n) RF_LIFECYCLE_ENUM_(RF_VERDICT_, n)

/* runfleet.decisions.action: the policy ran it, skipped it, or nobody was
 * there to decide (a missed tick) */
typedef enum rf_decision_action { RF_DECISION_ACTIONS(RF_ACTION_ENUM_) RF_DECISION_ACTION_COUNT } rf_decision_action_t;
/* runfleet.decisions.state */
typedef enum rf_decision_state { RF_DECISION_STATES(RF_DECISION_ENUM_) RF_DECISION_STATE_COUNT } rf_decision_state_t;
/* runfleet.executions.status */
typedef enum rf_exec_status { RF_EXEC_STATUSES(RF_EXEC_ENUM_) RF_EXEC_STATUS_COUNT } rf_exec_status_t;
/* runfleet.scraper_calls.outcome: how one try of a call ended */
typedef enum rf_call_outcome { RF_CALL_OUTCOMES(RF_CALL_ENUM_) RF_CALL_OUTCOME_COUNT } rf_call_outcome_t;
/* runfleet.begin_executions()'s answer to a claim */
typedef enum rf_claim_verdict { RF_CLAIM_VERDICTS(RF_VERDICT_ENUM_) RF_CLAIM_VERDICT_COUNT } rf_claim_verdict_t;

/* The stored name ("TIMED_OUT"); "?" for a value out of range. */
const char *rf_decision_action_name(rf_decision_action_t a);
const char *rf_decision_state_name(rf_decision_state_t s);
const char *rf_exec_status_name(rf_exec_status_t s);
const char *rf_call_outcome_name(rf_call_outcome_t o);
const char *rf_claim_verdict_name(rf_claim_verdict_t v);

/* The value named @p name (exactly, as stored) into *ret; 0, or -EINVAL
 * (*ret untouched) for a name not in the table. */
int rf_decision_action_from_name(const char *name, rf_decision_action_t *ret);
int rf_decision_state_from_name(const char *name, rf_decision_state_t *ret);
int rf_exec_status_from_name(const char *name, rf_exec_status_t *ret);
int rf_call_outcome_from_name(const char *name, rf_call_outcome_t *ret);
int rf_claim_verdict_from_name(const char *name, rf_claim_verdict_t *ret);
