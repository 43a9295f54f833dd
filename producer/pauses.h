/* SPDX-License-Identifier: Apache-2.0 */
/* pauses: runfleet.pauses as the evaluator reads it, and the `pause` /
 * `unpause` commands that write it (see pauses.c). */
#pragma once

#include <stdbool.h>

#include "policy.h"
#include "rf_pg.h"

/* The active pause of @p workflow. *ret_found says whether there is one;
 * when there is, *ret_pause points into *ret_res, which the caller owns
 * (PQclear()) and keeps while it uses the pause. Returns 0, or a negative
 * errno with the reason in @p errstr. */
int pauses_load_active(rf_pg_t *pg, const char *workflow, PGresult **ret_res, policy_pause_t *ret_pause,
                       bool *ret_found, char *errstr, size_t errstr_size);
