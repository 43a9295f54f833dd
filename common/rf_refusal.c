/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "rf_refusal.h"

rf_refusal_t rf_refusal_check(const rf_conf_t *conf, const rf_decision_t *d, char *why, size_t why_size) {
        if (!rf_conf_workflow(conf, d->workflow)) {
                snprintf(why, why_size, "unknown workflow '%.100s'", d->workflow);
                return RF_REFUSAL_UNKNOWN_WORKFLOW;
        }
        for (size_t i = 0; i < d->scraper_count; i++)
                if (!rf_conf_scraper(conf, d->scrapers[i])) {
                        snprintf(why, why_size, "unknown scraper '%.100s' in workflow '%.100s'", d->scrapers[i],
                                 d->workflow);
                        return RF_REFUSAL_UNKNOWN_SCRAPER;
                }
        return RF_REFUSAL_NONE;
}

const char *rf_refusal_label(rf_refusal_t r) {
        switch (r) {
        case RF_REFUSAL_UNKNOWN_WORKFLOW:
                return "unknown_workflow";
        case RF_REFUSAL_UNKNOWN_SCRAPER:
                return "unknown_scraper";
        case RF_REFUSAL_NONE:
                break;
        }
        return "";
}
