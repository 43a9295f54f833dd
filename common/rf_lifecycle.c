/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "rf_lifecycle.h"

#define NAME_(n) #n,

static const char *const decision_actions[] = { RF_DECISION_ACTIONS(NAME_) };
static const char *const decision_states[] = { RF_DECISION_STATES(NAME_) };
static const char *const exec_statuses[] = { RF_EXEC_STATUSES(NAME_) };
static const char *const call_outcomes[] = { RF_CALL_OUTCOMES(NAME_) };
static const char *const claim_verdicts[] = { RF_CLAIM_VERDICTS(NAME_) };

_Static_assert(sizeof(decision_actions) / sizeof(decision_actions[0]) == RF_DECISION_ACTION_COUNT, "one name each");
_Static_assert(sizeof(decision_states) / sizeof(decision_states[0]) == RF_DECISION_STATE_COUNT, "one name each");
_Static_assert(sizeof(exec_statuses) / sizeof(exec_statuses[0]) == RF_EXEC_STATUS_COUNT, "one name each");
_Static_assert(sizeof(call_outcomes) / sizeof(call_outcomes[0]) == RF_CALL_OUTCOME_COUNT, "one name each");
_Static_assert(sizeof(claim_verdicts) / sizeof(claim_verdicts[0]) == RF_CLAIM_VERDICT_COUNT, "one name each");

static const char *name_of(const char *const *table, size_t n, int v) {
        return v >= 0 && (size_t)v < n ? table[v] : "?";
}

static int find(const char *const *table, size_t n, const char *name) {
        if (!name)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (strcmp(table[i], name) == 0)
                        return (int)i;
        return -EINVAL;
}

#define DEFINE_TABLE(type, fn, table, count)                                                                           \
        const char *fn##_name(type v) {                                                                                \
                return name_of(table, count, (int)v);                                                                  \
        }                                                                                                              \
        int fn##_from_name(const char *name, type *ret) {                                                              \
                int i = find(table, count, name);                                                                      \
                if (i < 0)                                                                                             \
                        return i;                                                                                      \
                *ret = (type)i;                                                                                        \
                return 0;                                                                                              \
        }

DEFINE_TABLE(rf_decision_action_t, rf_decision_action, decision_actions, RF_DECISION_ACTION_COUNT)
DEFINE_TABLE(rf_decision_state_t, rf_decision_state, decision_states, RF_DECISION_STATE_COUNT)
DEFINE_TABLE(rf_exec_status_t, rf_exec_status, exec_statuses, RF_EXEC_STATUS_COUNT)
DEFINE_TABLE(rf_call_outcome_t, rf_call_outcome, call_outcomes, RF_CALL_OUTCOME_COUNT)
DEFINE_TABLE(rf_claim_verdict_t, rf_claim_verdict, claim_verdicts, RF_CLAIM_VERDICT_COUNT)
