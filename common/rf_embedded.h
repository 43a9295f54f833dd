/* SPDX-License-Identifier: Apache-2.0 */
/* rf_embedded: the Avro schemas and SQL files under schemas/, compiled
 * into the programs (see schemas/embed.py). */
#pragma once

#include <stddef.h>

typedef struct rf_embedded_file {
        const char *name; /* base name, e.g. "001_init.sql", or the path under schemas/sql/
                               ("functions/begin_execution.sql"); NULL ends the table */
        const char *data; /* NUL-terminated */
        size_t len;
        const char *sha256; /* of the @p len bytes, 64 lower-case hex digits */
} rf_embedded_file_t;

/* Sorted by name, ended by an entry whose name is NULL. */
extern const rf_embedded_file_t rf_embedded_files[];

/* The embedded file called @p name, or NULL. */
const rf_embedded_file_t *rf_embedded_find(const char *name);
