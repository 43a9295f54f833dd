/* SPDX-License-Identifier: Apache-2.0 */
/* runfleet-producer: decides which workflows run, records each decision in
 * PostgreSQL and publishes the RUN decisions to Kafka. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "producer.h"
#include "rf_cron.h"
#include "rf_log.h"

/* Each command with its usage, as `--help` lists them and as
 * `COMMAND --help` prints one: the text after "  " on the first line is
 * the synopsis, the indented lines say what it does. */
static const struct {
        const char *name;
        int (*run)(const rf_program_t *, const rf_conf_t *, int, char **);
        const char *usage;
} commands[] = {
        { "migrate", producer_migrate,
          "  migrate                        apply SQL migrations and create the Kafka topics" },
        { "evaluate", producer_evaluate,
          "  evaluate [--every DURATION]    decide RUN/SKIP for every workflow (once, or in a\n"
          "                                 loop aligned to the clock, e.g. --every 60s)" },
        { "trigger", producer_trigger, "  trigger WORKFLOW [--reason T]  decide RUN for one workflow now" },
        { "status", producer_status,
          "  status [--day YYYY-MM-DD]      the day's decisions per workflow (state, PRODUCED: times\n"
          "                                 handed to Kafka, FAILED: failed executions of\n"
          "                                 reaper.max_failed_executions, durations), orphans, DEAD\n"
          "                                 decisions, missed ticks, pauses" },
        { "replay", producer_replay,
          "  replay --from T1 --to T2 [--workflow W]... [--dry-run] [--again]\n"
          "                                 run the RUN decisions produced in [T1, T2) again,\n"
          "                                 as new decisions linked to the originals" },
        { "backfill", producer_backfill,
          "  backfill WORKFLOW... --from T1 --to T2 [--mode missing|failed|all] [--dry-run]\n"
          "           [--max-active N] [--yes] [--by NAME]\n"
          "                                 new RUN decisions for the schedule ticks in [T1, T2]\n"
          "                                 (times in producer.timezone): ticks without a decision,\n"
          "                                 ticks whose run FAILED or is DEAD, or all of them" },
        { "dlq", producer_dlq,
          "  dlq list [--since T]           the dead-letter topic: reason, origin, time\n"
          "  dlq redrive (--offset [P:]N | --partition P --offset N | --all) [--dry-run]\n"
          "                                 produce the dead letters that are valid now back to\n"
          "                                 the decisions topic, once each (P: DLQ partition)" },
        { "timeline", producer_timeline,
          "  timeline [--day YYYY-MM-DD | --from T1 --to T2] [--workflow W]... [--format text|json]\n"
          "                                 the story of a range (default: today) in local time:\n"
          "                                 per workflow and tick the decision, each attempt and\n"
          "                                 scraper call, what the reaper did; pauses, backfills,\n"
          "                                 replays, redrives; reliability, durations, orphans,\n"
          "                                 DEAD, missed ticks and errors grouped by cause" },
        { "explain", producer_explain,
          "  explain WORKFLOW [--day YYYY-MM-DD]\n"
          "                                 why it did or did not run at each tick of the day" },
        { "pause", producer_pause,
          "  pause (WORKFLOW... | --all) --reason T [--by NAME] [--cancel-pending]\n"
          "                                 SKIP every tick until unpaused; --cancel-pending\n"
          "                                 also ends the RUN decisions not yet started" },
        { "unpause", producer_unpause,
          "  unpause (WORKFLOW... | --all) [--by NAME]\n"
          "                                 evaluate the workflows' ticks normally again" },
        { "prune", producer_prune,
          "  prune [--dry-run] [--keep-days N]\n"
          "                                 retention: drop the days of history older than\n"
          "                                 retention.days (what the reaper does hourly), or say\n"
          "                                 what would go; a day with open decisions is kept" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The whole usage text: the command list, from the table above. */
static const char *usage_text(void) {
        static char buf[4096];
        size_t used = (size_t)snprintf(buf, sizeof(buf), "COMMAND [ARGS]\n\ncommands:");

        for (size_t i = 0; i < N_COMMANDS && used < sizeof(buf); i++)
                used += (size_t)snprintf(buf + used, sizeof(buf) - used, "\n%s", commands[i].usage);
        return buf;
}

/* "COMMAND --help" (or -h) anywhere among the command's arguments, up to
 * "--": that command's usage on stdout. Checked before the configuration
 * is read, so it answers on a machine with no configuration at all, and
 * before the command parses its arguments, so every command answers the
 * same way (before, each refused --help as an unknown option, and migrate
 * said "migrate takes no arguments"). Returns true when it printed. */
static bool command_help(const rf_program_t *prog, int argc, char **argv, int first) {
        for (int i = first + 1; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0)
                        return false;
                if (strcmp(argv[i], "--help") != 0 && strcmp(argv[i], "-h") != 0)
                        continue;
                for (size_t c = 0; c < N_COMMANDS; c++)
                        if (strcmp(argv[first], commands[c].name) == 0) {
                                printf("usage: %s [-c FILE] COMMAND [ARGS], for %s:\n%s\n\n"
                                       "-c FILE may also follow the command. %s --help lists every command,\n"
                                       "the common options and every configuration setting.\n",
                                       prog->name, commands[c].name, commands[c].usage, prog->name);
                                return true;
                        }
                return false;
        }
        return false;
}

/* The commands that produce decisions, and so "decision produced" spans
 * when tracing is on; the others start no exporter (nor its log lines). */
static bool produces_decisions(const char *command) {
        static const char *const traced[] = { "evaluate", "trigger", "replay", "backfill" };

        for (size_t i = 0; i < sizeof(traced) / sizeof(traced[0]); i++)
                if (strcmp(command, traced[i]) == 0)
                        return true;
        return false;
}

int main(int argc, char **argv) {
        rf_program_t prog = {
                .name = "runfleet-producer",
                .usage = usage_text(),
        };
        rf_conf_t *conf;
        int first, code = RF_EXIT_USAGE;

        first = rf_program_options(&prog, &argc, argv);
        if (first < 0)
                return RF_EXIT_USAGE;
        if (first >= argc && !prog.print_config)
                return rf_program_fail(&prog, RF_EXIT_USAGE, "no command given (try --help)");
        if (first < argc && command_help(&prog, argc, argv, first))
                return RF_EXIT_OK;
        conf = rf_program_load(&prog);
        rf_program_signals();
        /* before librdkafka starts threads: schedules are read in this zone */
        if (rf_tz_pin(conf->producer.timezone) < 0) {
                code = rf_program_fail(&prog, RF_EXIT_USAGE, "unknown time zone '%s'", conf->producer.timezone);
                goto out;
        }
        for (size_t i = 0; i < N_COMMANDS; i++)
                if (strcmp(argv[first], commands[i].name) == 0) {
                        bool traced = produces_decisions(commands[i].name);

                        if (traced && rf_program_tracing_start(&prog, conf) < 0) {
                                code = RF_EXIT_FAILURE;
                                goto out;
                        }
                        code = commands[i].run(&prog, conf, argc - first, argv + first);
                        if (traced)
                                rf_program_tracing_stop();
                        goto out;
                }
        code = rf_program_fail(&prog, RF_EXIT_USAGE, "unknown command '%s' (try --help)", argv[first]);
out:
        rf_conf_destroy(conf);
        return code;
}
