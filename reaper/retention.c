/* SPDX-License-Identifier: Apache-2.0 */
/* The reaper's partition upkeep: every retention.interval_ms, the day
 * partitions of the coming week are made (so no insert of the hot path
 * ever waits for one), and history older than retention.days is dropped
 * whole (rf_partitions.h). It runs between sweeps, on the reaper's own
 * connection; every reaper may run it, the database serializes them. */
#include <stdio.h>

#include "reaper.h"
#include "rf_log.h"
#include "rf_metrics.h"
#include "rf_partitions.h"
#include "rf_util.h"

static rf_metric_t *partitions_metric;

void reaper_retention_metrics_init(void) {
        partitions_metric = rf_metrics_counter(
                "runfleet_reaper_partitions_total",
                "Day partitions of the history tables created ahead, dropped by retention.days, or kept past it "
                "(open decisions, or busy).",
                "action");
        rf_metrics_inc(partitions_metric, 0, "created");
        rf_metrics_inc(partitions_metric, 0, "dropped");
        rf_metrics_inc(partitions_metric, 0, "kept");
}

static void log_row(const rf_prune_row_t *row, void *userdata) {
        (void)userdata;
        rf_log_info("reaper.prune",
                    json_pack("{s:s, s:s, s:I, s:s}", "partitions", row->part, "day", row->day, "est_rows",
                              (json_int_t)row->est_rows, "action", row->action),
                    "retention: %s %s", row->part, row->action);
}

int reaper_retention(const rf_conf_t *conf, rf_pg_t *pg, char *errstr, size_t errstr_size) {
        size_t created = 0, dropped = 0, kept = 0;
        int r;

        r = rf_partitions_create(pg, &created, errstr, errstr_size);
        if (r == 0 && conf->retention.days > 0)
                r = rf_partitions_prune(pg, conf->retention.days, false, log_row, NULL, &dropped, &kept, errstr,
                                        errstr_size);
        if (r < 0)
                return r;
        if (partitions_metric) {
                rf_metrics_inc(partitions_metric, (double)created, "created");
                rf_metrics_inc(partitions_metric, (double)dropped, "dropped");
                rf_metrics_inc(partitions_metric, (double)kept, "kept");
        }
        if (created || dropped || kept)
                rf_log_info("reaper.partitions",
                            json_pack("{s:I, s:I, s:I, s:i}", "created", (json_int_t)created, "dropped",
                                      (json_int_t)dropped, "kept", (json_int_t)kept, "retention_days",
                                      conf->retention.days),
                            "partitions: %zu created ahead, %zu days dropped, %zu kept past retention", created,
                            dropped, kept);
        return 0;
}
