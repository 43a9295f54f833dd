/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>

#include "rf_log.h"
#include "completion.h"

void completion_push(worker_t *w, execution_t *ex) {
        if (w->completed_count == w->completed_cap) {
                size_t cap = w->completed_cap ? w->completed_cap * 2 : 64;
                execution_t **c = realloc(w->completed, cap * sizeof(*c));
                if (!c) {
                        /* the lease runs out and the reaper re-runs it: slow, not lost */
                        rf_log_error("worker.oom",
                                     json_pack("{s:s, s:s}", "decision_id", ex->d->decision_id, "execution_id",
                                               ex->execution_id),
                                     "out of memory queueing a finished execution");
                        return;
                }
                w->completed = c;
                w->completed_cap = cap;
        }
        w->completed[w->completed_count++] = ex;
}

execution_t *completion_take(worker_t *w) {
        return w->completed_count > 0 ? w->completed[--w->completed_count] : NULL;
}

void completion_forget(worker_t *w, const execution_t *ex) {
        for (size_t i = 0; i < w->completed_count; i++)
                if (w->completed[i] == ex)
                        w->completed[i] = w->completed[--w->completed_count];
}

void completion_cleanup(worker_t *w) {
        free(w->completed);
        w->completed = NULL;
        w->completed_count = w->completed_cap = 0;
}
