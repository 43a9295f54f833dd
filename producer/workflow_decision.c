/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "workflow_decision.h"

rf_decision_t *workflow_decision_new(const rf_workflow_conf_t *w, const char *reason) {
        rf_decision_t *d = rf_decision_new();

        if (!d)
                return NULL;
        d->workflow = strdup(w->name);
        d->reason = strdup(reason);
        d->deadline_ms = w->deadline_ms;
        if (!d->workflow || !d->reason || rf_decision_set_scrapers(d, w->scrapers, w->scraper_count) < 0) {
                rf_decision_destroy(d);
                return NULL;
        }
        return d;
}
