/* rf_migrate: applies the SQL migrations embedded from schemas/sql/ in name
 * order, each once, under an advisory lock so concurrent `migrate` runs
 * serialise instead of racing. */
#pragma once

#include <stddef.h>

#include "rf_pg.h"

/* Applies what is missing. *ret_applied (may be NULL) gets how many files
 * were applied now. Returns 0 or a negative errno with the failing file and
 * the database's reason in @p errstr. */
int rf_migrate_apply(rf_pg_t *pg, int *ret_applied, char *errstr, size_t errstr_size);
