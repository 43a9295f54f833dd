/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_log.h"
#include "rf_metrics.h"
#include "rf_program.h"
#include "rf_sr.h"
#include "rf_tracer.h"
#include "rf_util.h"

volatile sig_atomic_t rf_stop_requested;

static void on_stop(int sig) {
        (void)sig;
        rf_stop_requested = 1;
}

void rf_program_signals(void) {
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_stop;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

static void print_usage(const rf_program_t *prog, FILE *out) {
        fprintf(out, "usage: %s [-c FILE] [--print-config] %s\n", prog->name, prog->usage);
        fprintf(out, "\ncommon options:\n"
                     "  -c, --config FILE   configuration file (default: $RUNFLEET_CONFIG); before or after\n"
                     "                      the command (-c FILE, --config FILE or --config=FILE there)\n"
                     "  --print-config      print the effective configuration, secrets masked, and exit\n"
                     "  -h, --help          this text and every configuration setting\n"
                     "  --print-config-doc  print every configuration setting as a Markdown table and exit\n"
                     "  -V, --version       print the version and exit\n");
}

#define FLAG_BASE 0x100 /* getopt values of the program's own switches */

void rf_program_subcommand_options(void) {
        /* with POSIXLY_CORRECT set, glibc's getopt stops at the first operand
         * as "+" would, and "trigger W --reason T" would be refused again */
        unsetenv("POSIXLY_CORRECT");
        optind = 0;
}

/* "-c FILE", "--config FILE" and "--config=FILE" after the subcommand:
 * taken out of argv (the subcommand's own getopt never sees them, so no
 * subcommand has to know about them) and kept as the configuration path.
 * Stops at "--". Only these whole words count: "-cFILE" there could be an
 * option's value ("--reason -cleanup"), so it is left alone. Returns the new
 * argc, or -1 after a usage message when FILE is missing. */
static int config_after_subcommand(rf_program_t *prog, int first, int argc, char **argv) {
        int out = first + 1;

        for (int i = first + 1; i < argc; i++) {
                const char *a = argv[i];

                if (strcmp(a, "--") == 0) {
                        while (i < argc)
                                argv[out++] = argv[i++];
                        break;
                }
                if (strncmp(a, "--config=", 9) == 0 && a[9]) {
                        prog->config_path = a + 9;
                        continue;
                }
                if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
                        if (i + 1 >= argc) {
                                rf_program_fail(prog, RF_EXIT_USAGE, "%s after '%s' needs a FILE", a, argv[first]);
                                return -1;
                        }
                        prog->config_path = argv[++i];
                        continue;
                }
                argv[out++] = argv[i];
        }
        for (int i = out; i < argc; i++)
                argv[i] = NULL;
        return out;
}

int rf_program_options(rf_program_t *prog, int *argc, char **argv) {
        struct option options[5 + 8 + 1] = {
                { "config", required_argument, NULL, 'c' },     { "print-config", no_argument, NULL, 'P' },
                { "print-config-doc", no_argument, NULL, 'D' }, { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
        };
        int c, n = 5;

        for (int i = 0; prog->flags && prog->flags[i] && i < 8; i++)
                options[n++] = (struct option){ prog->flags[i], no_argument, NULL, FLAG_BASE + i };
        options[n] = (struct option){ NULL, 0, NULL, 0 };
        /* '+': stop at the subcommand; its own options are parsed after it */
        optind = 1;
        while ((c = getopt_long(*argc, argv, "+c:hV", options, NULL)) != -1) {
                if (c >= FLAG_BASE && c < FLAG_BASE + 8) {
                        prog->flags_set |= 1u << (c - FLAG_BASE);
                        continue;
                }
                switch (c) {
                case 'c':
                        prog->config_path = optarg;
                        break;
                case 'P':
                        prog->print_config = true;
                        break;
                case 'h':
                        print_usage(prog, stdout);
                        fprintf(stdout, "\nconfiguration settings (file, default, environment):\n");
                        rf_conf_help(stdout);
                        exit(RF_EXIT_OK);
                case 'D':
                        /* docs/configuration.md's table (scripts/gen-config-doc) */
                        rf_conf_help_markdown(stdout);
                        exit(RF_EXIT_OK);
                case 'V':
                        printf("%s %s\n", prog->name, RF_VERSION);
                        exit(RF_EXIT_OK);
                default:
                        print_usage(prog, stderr);
                        return -1;
                }
        }
        if (optind < *argc) {
                int first = optind, left = config_after_subcommand(prog, first, *argc, argv);

                if (left < 0)
                        return -1;
                *argc = left;
                return first;
        }
        return optind;
}

rf_conf_t *rf_program_load(rf_program_t *prog) {
        rf_conf_t *conf = NULL;
        char errstr[1024];

        rf_log_init(prog->name);
        if (rf_conf_load(prog->config_path, &conf, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "%s: %s\n", prog->name, errstr);
                exit(RF_EXIT_USAGE);
        }
        {
                rf_log_level_t level = RF_LOG_INFO;
                rf_log_level_parse(conf->log.level, &level); /* checked by the loader */
                rf_log_set_min_level(level);
        }
        if (rf_sr_setup(conf, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "%s: %s\n", prog->name, errstr);
                exit(RF_EXIT_USAGE);
        }
        for (size_t i = 0; i < conf->warning_count; i++)
                rf_log_warn("config.deprecated", json_pack("{s:s}", "config", conf->path), "%s", conf->warnings[i]);
        if (prog->print_config) {
                rf_conf_print(conf, stdout);
                rf_conf_destroy(conf);
                exit(RF_EXIT_OK);
        }
        return conf;
}

int rf_program_fail(const rf_program_t *prog, int code, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", prog->name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return code;
}

int rf_program_http_start(const rf_program_t *prog, const rf_conf_t *conf, int64_t stale_ms, rf_http_ready_cb_t *ready,
                          void *opaque, rf_http_t **ret_http) {
        char errstr[512];
        int r;

        *ret_http = NULL;
        rf_metrics_set(rf_metrics_gauge("runfleet_build_info", "The program and version, always 1.", "program,version"),
                       1, prog->name, RF_VERSION);
        if (conf->http.port == 0)
                return 0;
        r = rf_http_start(conf->http.listen, conf->http.port, stale_ms, ready, opaque, ret_http, errstr,
                          sizeof(errstr));
        if (r < 0) {
                rf_log_error("http.failed",
                             json_pack("{s:s, s:i}", "listen", conf->http.listen, "port", conf->http.port), "%s",
                             errstr);
                return r;
        }
        rf_log_info("http.listening", json_pack("{s:s}", "address", rf_http_address(*ret_http)),
                    "serving /metrics, /healthz and /readyz on http://%s", rf_http_address(*ret_http));
        return 0;
}

int rf_program_tracing_start(const rf_program_t *prog, const rf_conf_t *conf) {
        char errstr[512], instance[128];
        rf_tracer_t *t = NULL;
        rf_tracer_conf_t tc = {
                .endpoint = conf->tracing.otlp_endpoint,
                .service_name = conf->tracing.service_name ? conf->tracing.service_name : prog->name,
                .instance_id = instance,
                .batch_size = conf->tracing.batch_size,
                .export_interval_ms = conf->tracing.export_interval_ms,
                .queue_size = conf->tracing.queue_size,
                .export_timeout_ms = conf->tracing.export_timeout_ms,
                .shutdown_timeout_ms = conf->tracing.shutdown_timeout_ms,
        };
        int r;

        if (!conf->tracing.otlp_endpoint)
                return 0;
        rf_process_id(instance, sizeof(instance));
        /* the exporter's thread uses libcurl: initialise it here, on one
         * thread, before that thread exists (curl_global_init is counted) */
        curl_global_init(CURL_GLOBAL_DEFAULT);
        r = rf_tracer_new(&tc, &t, errstr, sizeof(errstr));
        if (r < 0) {
                curl_global_cleanup();
                rf_log_error("tracing.failed", json_pack("{s:s}", "endpoint", conf->tracing.otlp_endpoint), "%s",
                             errstr);
                return r;
        }
        rf_tracer_set_default(t);
        rf_log_info("tracing.started",
                    json_pack("{s:s, s:s, s:i, s:i}", "endpoint", conf->tracing.otlp_endpoint, "service_name",
                              tc.service_name, "batch_size", tc.batch_size, "queue_size", tc.queue_size),
                    "exporting spans to %s as %s", conf->tracing.otlp_endpoint, tc.service_name);
        return 0;
}

void rf_program_tracing_stop(void) {
        rf_tracer_t *t = rf_tracer_default();
        uint64_t exported, dropped;

        if (!t)
                return;
        rf_tracer_set_default(NULL);
        rf_tracer_destroy_counts(t, &exported, &dropped);
        curl_global_cleanup();
        rf_log_info("tracing.stopped",
                    json_pack("{s:I, s:I}", "exported", (json_int_t)exported, "dropped", (json_int_t)dropped),
                    "tracing stopped: %llu spans exported, %llu dropped", (unsigned long long)exported,
                    (unsigned long long)dropped);
}
