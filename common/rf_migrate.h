/* SPDX-License-Identifier: Apache-2.0 */
/* rf_migrate: applies the SQL embedded from schemas/sql/ under an advisory
 * lock, so concurrent `migrate` runs serialise instead of racing: the
 * numbered migrations in name order, each once, its SHA-256 recorded in
 * public.runfleet_migrations and checked on every later run; then every
 * file of schemas/sql/functions/ and views/, each run, in one transaction
 * (schemas/sql/README.md). */
#pragma once

#include <stddef.h>

#include "rf_pg.h"

/* Applies the migrations that are missing, then the definitions.
 * *ret_applied (may be NULL) gets how many migrations were applied now.
 * Returns 0 or a negative errno with the failing file and the reason in
 * @p errstr: -EBADMSG when an applied migration's text changed since,
 * -EPROTO when the database holds a migration this build does not have
 * (a newer build migrated it), -EIO when a file failed. */
int rf_migrate_apply(rf_pg_t *pg, int *ret_applied, char *errstr, size_t errstr_size);
