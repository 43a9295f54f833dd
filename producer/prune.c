/* SPDX-License-Identifier: Apache-2.0 */
/* `runfleet-producer prune`: retention by hand — what the reaper does on
 * its timer (reaper/retention.c), once, or with --dry-run only said. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "producer.h"
#include "rf_partitions.h"

static void print_row(const rf_prune_row_t *row, void *userdata) {
        (void)userdata;
        printf("%-10s  %-48s  %12lld  %s\n", *row->day ? row->day : "(default)", row->part, row->est_rows, row->action);
}

int producer_prune(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "dry-run", no_argument, NULL, 'n' },
                                                 { "keep-days", required_argument, NULL, 'k' },
                                                 { NULL, 0, NULL, 0 } };
        static const char usage[] = "usage: prune [--dry-run] [--keep-days N]";
        int keep = conf->retention.days, c, code = RF_EXIT_FAILURE;
        bool dry_run = false;
        size_t dropped = 0, kept = 0;
        char errstr[1024], *end;
        rf_pg_t *pg = NULL;

        rf_program_subcommand_options();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (c) {
                case 'n':
                        dry_run = true;
                        break;
                case 'k':
                        keep = (int)strtol(optarg, &end, 10);
                        if (*optarg == '\0' || *end != '\0' || keep < 1 || keep > 36500)
                                return rf_program_fail(prog, RF_EXIT_USAGE,
                                                       "prune: --keep-days needs a number of days from 1 to 36500, "
                                                       "not \"%s\"",
                                                       optarg);
                        break;
                default:
                        return rf_program_fail(prog, RF_EXIT_USAGE, "%s", usage);
                }
        }
        if (optind < argc)
                return rf_program_fail(prog, RF_EXIT_USAGE, "prune: unexpected argument \"%s\" (%s)", argv[optind],
                                       usage);
        if (keep == 0) {
                printf("retention.days is 0: all history is kept; nothing to prune (--keep-days N prunes once)\n");
                return RF_EXIT_OK;
        }
        if (rf_pg_connect(conf->database.url, prog->name, &pg, errstr, sizeof(errstr)) < 0)
                return rf_program_fail(prog, RF_EXIT_FAILURE, "%s", errstr);
        printf("%s history older than %d days (retention.days)\n", dry_run ? "would prune" : "pruning", keep);
        printf("%-10s  %-48s  %12s  %s\n", "DAY", "PARTITIONS", "ROWS (EST.)", "ACTION");
        if (rf_partitions_prune(pg, keep, dry_run, print_row, NULL, &dropped, &kept, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, RF_EXIT_FAILURE, "prune: %s", errstr);
                goto out;
        }
        printf("%zu %s, %zu kept (open decisions or busy; retried at the next prune)\n", dropped,
               dry_run ? "would go" : "dropped", kept);
        code = RF_EXIT_OK;
out:
        rf_pg_destroy(pg);
        return code;
}
