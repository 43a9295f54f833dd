/* SPDX-License-Identifier: Apache-2.0 */
/* rf_program: what every runfleet program does the same way at start-up:
 * common options (-c, --help, --version, --print-config), loading the
 * configuration, and SIGTERM/SIGINT turning into a stop request. */
#pragma once

#include <signal.h>
#include <stdbool.h>

#include "rf_conf.h"
#include "rf_http.h"

/* Exit codes shared by the programs. */
#define RF_EXIT_OK 0
#define RF_EXIT_FAILURE 1
#define RF_EXIT_USAGE 2 /* bad options or configuration */

typedef struct rf_program {
        const char *name;         /* "runfleet-worker" */
        const char *usage;        /* text after "usage: NAME ", may span lines */
        const char *const *flags; /* the program's own --NAME switches (NULL-terminated, at most 8), or NULL */
        unsigned flags_set;       /* bit i: flags[i] was given */
        const char *config_path;
        bool print_config;
} rf_program_t;

/* Set by SIGTERM or SIGINT; loops check it and drain. */
extern volatile sig_atomic_t rf_stop_requested;

/* Installs the stop handlers and ignores SIGPIPE. */
void rf_program_signals(void);

/* Consumes the common options from argv (getopt-style, before the
 * subcommand), handling --help and --version itself (exits); then takes
 * "-c FILE", "--config FILE" or "--config=FILE" out of the arguments after
 * the subcommand too (up to "--"), shifting the rest down and lowering
 * *argc, so "runfleet-producer status -c cfg" works and subcommands never
 * see the option. Returns the index of the first argument it did not consume
 * (the subcommand), or -1 on a bad option (after printing the usage line or
 * a one-line error to stderr). */
int rf_program_options(rf_program_t *prog, int *argc, char **argv);

/* Makes the next getopt_long() start afresh on a subcommand's own argv:
 * options and operands in any order ("trigger W --reason T" as well as
 * "trigger --reason T W"). optind = 0 re-reads the option string's mode;
 * optind = 1 would keep rf_program_options()' "+" (stop at the first
 * operand) and refuse the first form; so would POSIXLY_CORRECT in the
 * environment, which it therefore unsets. */
void rf_program_subcommand_options(void);

/* Loads the configuration (or exits with RF_EXIT_USAGE and a one-line
 * error); handles --print-config (prints and exits 0). Initialises logging. */
rf_conf_t *rf_program_load(rf_program_t *prog);

/* Prints "NAME: message" to stderr (one line) and returns @p code, for
 * failures before logging matters or in interactive commands. */
int rf_program_fail(const rf_program_t *prog, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Starts the metrics/health/readiness listener on conf->http.listen and
 * conf->http.port and logs http.listening; when the port is 0 it stays off
 * and *ret_http is NULL. /healthz fails after @p stale_ms without
 * rf_http_heartbeat(); @p ready and @p opaque as for rf_http_start(). Also
 * publishes runfleet_build_info. The caller owns *ret_http (rf_http_stop()).
 * Returns 0, or a negative errno after logging http.failed. */
int rf_program_http_start(const rf_program_t *prog, const rf_conf_t *conf, int64_t stale_ms, rf_http_ready_cb_t *ready,
                          void *opaque, rf_http_t **ret_http);

/* Starts the OTLP span exporter (rf_tracer.h) when tracing.otlp_endpoint is
 * set, as the process's default tracer, and logs tracing.started; does
 * nothing when it is not set. Returns 0, or a negative errno after logging
 * tracing.failed. */
int rf_program_tracing_start(const rf_program_t *prog, const rf_conf_t *conf);

/* Exports the spans still queued (within tracing.shutdown_timeout_ms),
 * stops the exporter and logs tracing.stopped with its counts; nothing
 * when tracing is off. */
void rf_program_tracing_stop(void);
