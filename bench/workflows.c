/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workflows.h"

char *bench_workflows(int n) {
        return bench_workflows_named(n, "w");
}

char *bench_workflows_named(int n, const char *prefix) {
        size_t size = (size_t)n * (80 + strlen(prefix)) + 64, len = 0;
        char *s = malloc(size);

        if (!s)
                return NULL;
        s[0] = '\0';
        for (int i = 0; i < n; i++)
                len += (size_t)snprintf(s + len, size - len,
                                        "%s{ name = \"%s%05d\"; schedule = \"* * * * *\"; scrapers = [\"s\"]; }\n",
                                        i ? "," : "", prefix, i);
        return s;
}
