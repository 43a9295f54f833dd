/* runfleet-producer: decides which workflows run, records each decision in
 * PostgreSQL and publishes the RUN decisions to Kafka. */
#include <stdio.h>
#include <string.h>

#include "producer.h"
#include "rf_cron.h"
#include "rf_log.h"

static const struct {
        const char *name;
        int (*run)(const rf_program_t *, const rf_conf_t *, int, char **);
} commands[] = {
        { "migrate", producer_migrate },
        { "evaluate", producer_evaluate },
        { "trigger", producer_trigger },
        { "status", producer_status },
        { "replay", producer_replay },
        { "backfill", producer_backfill },
        { "dlq", producer_dlq },
        { "timeline", producer_timeline },
        { "explain", producer_explain },
        { "pause", producer_pause },
        { "unpause", producer_unpause },
};

int main(int argc, char **argv) {
        rf_program_t prog = {
                .name = "runfleet-producer",
                .usage = "COMMAND [ARGS]\n\ncommands:\n"
                         "  migrate                        apply SQL migrations and create the Kafka topics\n"
                         "  evaluate [--every DURATION]    decide RUN/SKIP for every workflow (once, or in a\n"
                         "                                 loop aligned to the clock, e.g. --every 60s)\n"
                         "  trigger WORKFLOW [--reason T]  decide RUN for one workflow now\n"
                         "  status [--day YYYY-MM-DD]      the day's decisions per workflow (state, PRODUCED: times\n"
                         "                                 handed to Kafka, FAILED: failed executions of\n"
                         "                                 reaper.max_failed_executions, durations), orphans, DEAD\n"
                         "                                 decisions, missed ticks, pauses\n"
                         "  replay --from T1 --to T2 [--workflow W]... [--dry-run] [--again]\n"
                         "                                 run the RUN decisions produced in [T1, T2) again,\n"
                         "                                 as new decisions linked to the originals\n"
                         "  backfill WORKFLOW... --from T1 --to T2 [--mode missing|failed|all] [--dry-run]\n"
                         "           [--max-active N] [--yes] [--by NAME]\n"
                         "                                 new RUN decisions for the schedule ticks in [T1, T2]\n"
                         "                                 (times in producer.timezone): ticks without a decision,\n"
                         "                                 ticks whose run FAILED or is DEAD, or all of them\n"
                         "  dlq list [--since T]           the dead-letter topic: reason, origin, time\n"
                         "  dlq redrive (--offset [P:]N | --partition P --offset N | --all) [--dry-run]\n"
                         "                                 produce the dead letters that are valid now back to\n"
                         "                                 the decisions topic, once each (P: DLQ partition)\n"
                         "  timeline [--day YYYY-MM-DD | --from T1 --to T2] [--workflow W]... [--format text|json]\n"
                         "                                 the story of a range (default: today) in local time:\n"
                         "                                 per workflow and tick the decision, each attempt and\n"
                         "                                 scraper call, what the reaper did; pauses, backfills,\n"
                         "                                 replays, redrives; reliability, durations, orphans,\n"
                         "                                 DEAD, missed ticks and errors grouped by cause\n"
                         "  explain WORKFLOW [--day YYYY-MM-DD]\n"
                         "                                 why it did or did not run at each tick of the day\n"
                         "  pause (WORKFLOW... | --all) --reason T [--by NAME] [--cancel-pending]\n"
                         "                                 SKIP every tick until unpaused; --cancel-pending\n"
                         "                                 also ends the RUN decisions not yet started\n"
                         "  unpause (WORKFLOW... | --all) [--by NAME]\n"
                         "                                 evaluate the workflows' ticks normally again",
        };
        rf_conf_t *conf;
        int first, code = RF_EXIT_USAGE;

        first = rf_program_options(&prog, &argc, argv);
        if (first < 0)
                return RF_EXIT_USAGE;
        if (first >= argc && !prog.print_config)
                return rf_program_fail(&prog, RF_EXIT_USAGE, "no command given (try --help)");
        conf = rf_program_load(&prog);
        rf_program_signals();
        /* before librdkafka starts threads: schedules are read in this zone */
        if (rf_tz_pin(conf->producer.timezone) < 0) {
                code = rf_program_fail(&prog, RF_EXIT_USAGE, "unknown time zone '%s'", conf->producer.timezone);
                goto out;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[first], commands[i].name) == 0) {
                        code = commands[i].run(&prog, conf, argc - first, argv + first);
                        goto out;
                }
        code = rf_program_fail(&prog, RF_EXIT_USAGE, "unknown command '%s' (try --help)", argv[first]);
out:
        rf_conf_destroy(conf);
        return code;
}
