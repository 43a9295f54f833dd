/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "rf_embedded.h"

const rf_embedded_file_t *rf_embedded_find(const char *name) {
        for (const rf_embedded_file_t *f = rf_embedded_files; f->name; f++)
                if (strcmp(f->name, name) == 0)
                        return f;
        return NULL;
}
