/* SPDX-License-Identifier: Apache-2.0 */
/* rf_conf: the runfleet configuration file (libconfig syntax), loaded through
 * one declarative table that parses, validates, applies environment
 * overrides and documents every setting. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rf_cron.h"

/* Exit code for a configuration that cannot be loaded. */
#define RF_CONF_EXIT_INVALID 2

typedef struct rf_scraper_conf {
        char *name;
        char *url;               /* http:// or https:// (a path in the file is joined to scraping.base_url) */
        int timeout_ms;          /* one call, connect included */
        int max_tries;           /* tries per execution for retryable outcomes */
        int retry_backoff_ms;    /* first retry delay, doubled per try, full jitter */
        int breaker_failures;    /* consecutive failures that open the breaker, 0 = none */
        int breaker_cooldown_ms; /* open → half-open after this */
        int rate_per_s;          /* token bucket rate of the rate group, 0 = unlimited */
        char *rate_group;        /* shared bucket name; NULL = the scraper's name */
} rf_scraper_conf_t;

/* What the evaluator does with the ticks of a gap (ticks that passed while
 * no evaluator ran): each decided (ALL), only the newest (LATEST), or none
 * (NONE); see producer/catchup.h. */
typedef enum rf_catchup {
        RF_CATCHUP_LATEST,
        RF_CATCHUP_ALL,
        RF_CATCHUP_NONE,
} rf_catchup_t;
/* What the evaluator does at a tick while an earlier run of the workflow is
 * still in flight (PENDING or RUNNING); producer/policy.c applies it. */
typedef enum rf_overlap {
        RF_OVERLAP_SKIP = 0,   /* SKIP the tick, naming the run in flight (the default) */
        RF_OVERLAP_BUFFER_ONE, /* record one RUN that waits for it; further ticks SKIP */
        RF_OVERLAP_ALLOW,      /* RUN anyway, concurrently */
        _RF_OVERLAP_MAX,
} rf_overlap_t;

/* "skip", "buffer_one", "allow"; NULL for a value out of range. */
const char *rf_overlap_name(rf_overlap_t o);
/* The overlap policy named @p name, or -EINVAL. */
int rf_overlap_from_name(const char *name);

typedef struct rf_workflow_conf {
        char *name;
        char *schedule;  /* as written: 5-field cron or "@every 30s" */
        rf_cron_t *cron; /* parsed schedule, owned */
        char **scrapers; /* names, each resolved in rf_conf_t.scrapers */
        size_t scraper_count;
        int deadline_ms; /* the whole execution */
        bool enabled;
        char *window;         /* "HH:MM-HH:MM" local time in producer.timezone, or NULL: all day */
        int window_start_min; /* parsed window, minutes after local midnight; start inclusive, */
        int window_end_min;   /* end exclusive; start > end wraps midnight; both -1 without a window */
        int max_runs_per_day; /* successful or in-progress runs per local day, 0 = no limit */
        char **after;         /* workflows that must have SUCCEEDED today first */
        size_t after_count;
        int max_active_runs;         /* per worker process, 0 = unlimited */
        char *catchup;               /* as written, NULL: producer.catchup */
        char *catchup_window;        /* as written, NULL: producer.catchup_window */
        rf_catchup_t catchup_policy; /* resolved from catchup or producer.catchup */
        int64_t catchup_window_ms;   /* resolved from catchup_window or producer.catchup_window */
        char *alert_after;           /* duration as written ("15m"), or NULL: reaper.alert_after applies */
        int64_t alert_after_ms;      /* parsed alert_after; -1 when not set; 0 = no LATE alert */
        char *overlap_name;          /* as written, else producer.overlap's */
        rf_overlap_t overlap;        /* parsed overlap_name */
        int pause_after_failures;    /* DEAD decisions in a row that pause it, 0 = never; else producer's */
} rf_workflow_conf_t;

/* A librdkafka property passed through verbatim ("security.protocol" = "SASL_SSL"). */
typedef struct rf_kv {
        char *key;
        char *value;
} rf_kv_t;

typedef struct rf_conf {
        char *path;

        struct {
                char *brokers;            /* env RUNFLEET_KAFKA_BROKERS */
                char *topic;              /* "runfleet.decisions" */
                char *dlq_topic;          /* "runfleet.decisions.dlq" */
                char *group;              /* "runfleet-workers" */
                int partitions;           /* 12 */
                int replication_factor;   /* 0: min(3, brokers) when the topics are created */
                int min_insync_replicas;  /* 0: replication_factor - 1, at least 1 */
                int delivery_timeout_ms;  /* producer: message.timeout.ms, 30000 */
                char *group_protocol;     /* "classic" (default) or "consumer" (KIP-848) */
                char *value_format;       /* "single-object" (default) or "schema-registry" */
                int session_timeout_ms;   /* consumer, 10000; classic protocol only */
                int max_poll_interval_ms; /* consumer, 300000 */
                rf_kv_t *properties;      /* extra librdkafka properties */
                size_t property_count;
        } kafka;

        struct {
                char *url;      /* Confluent-compatible API base, NULL: none */
                char *username; /* basic auth, NULL: none */
                char *password; /* basic auth; masked when printed */
                char *ca_file;  /* PEM CA bundle for https, NULL: system CAs */
                int timeout_ms; /* one request, 5000 */
        } schema_registry;

        struct {
                char *url; /* env RUNFLEET_DATABASE_URL; libpq conninfo or URI */
        } database;

        struct {
                char *timezone;             /* IANA zone schedules are read in, "UTC" */
                int every_ms;               /* default loop period for evaluate --every, 60000 */
                char *catchup;              /* "latest" (default), "all" or "none"; workflows may override */
                char *catchup_window;       /* "1d": older missed ticks are MISSED, not decided */
                int catchup_max_ticks;      /* ticks of one gap recorded one by one, 1000 */
                char *overlap;              /* default of the workflows' overlap, "skip" */
                int pause_after_failures;   /* default of the workflows' pause_after_failures, 0 = never */
                int backfill_max_decisions; /* most decisions a backfill creates without --yes, 10000 */
        } producer;

        struct {
                int max_in_flight;      /* executions at once, 1000 */
                int lease_ms;           /* execution lease, 30000 */
                int heartbeat_ms;       /* lease renewal period, 5000; < lease_ms */
                int commit_interval_ms; /* offset commit batching, 1000 */
                int drain_timeout_ms;   /* SIGTERM drain bound, 20000 */
                int max_response_bytes; /* body bytes read per call, 65536 */
        } worker;

        struct {
                int interval_ms; /* sweep period, 5000 */
                int grace_ms;    /* unexecuted decision age before re-produce, 60000; > kafka.delivery_timeout_ms */
                int max_failed_executions; /* failed executions before DEAD, 5 (was reaper.max_attempts) */
                int backoff_ms;            /* first retry backoff, doubled per attempt, 10000 */
                char *webhook_url;         /* DEAD alerts are POSTed here (http/https), NULL: none */
                int webhook_timeout_ms;    /* one POST, connect included, 5000 */
                int webhook_backoff_ms;    /* first delay after a refused alert, doubled per try, 5000 */
                char *alert_after;         /* default of workflows[].alert_after, NULL: no LATE alerts */
                int64_t alert_after_ms;    /* parsed alert_after, 0 when not set */
        } reaper;

        struct {
                int days;        /* days of history kept, 30; 0: all (no pruning) */
                int interval_ms; /* the reaper's partition upkeep period, 3600000 */
        } retention;

        struct {
                char *base_url; /* scraper URLs "/..." are relative to it; NULL = none */
        } scraping;

        struct {
                char *listen; /* "127.0.0.1" */
                int port;     /* 0 = off */
        } http;

        struct {
                char *level; /* "info"; debug adds execution.started */
        } log;

        struct {
                char *otlp_endpoint;     /* OTLP/HTTP traces URL, NULL: tracing off */
                char *service_name;      /* resource service.name, NULL: the program's name */
                int batch_size;          /* spans per export request, 512 */
                int export_interval_ms;  /* a partial batch waits at most this, 1000 */
                int queue_size;          /* spans waiting at most, 2048; more are dropped */
                int export_timeout_ms;   /* one export POST, 5000 */
                int shutdown_timeout_ms; /* flush bound at exit, 3000 */
        } tracing;

        rf_scraper_conf_t *scrapers;
        size_t scraper_count;
        rf_workflow_conf_t *workflows;
        size_t workflow_count;

        /* What the loader accepted but the operator should change (a
         * deprecated setting name), one line each; the program logs them. */
        char *warnings[4];
        size_t warning_count;
} rf_conf_t;

/* Loads @p path (or, when NULL, $RUNFLEET_CONFIG), applies environment
 * overrides and validates. The caller owns *ret_conf (rf_conf_destroy()).
 * On failure returns a negative errno and writes "file:line: what is wrong"
 * to @p errstr. */
int rf_conf_load(const char *path, rf_conf_t **ret_conf, char *errstr, size_t errstr_size);

/* Same as rf_conf_load() from a string; @p name stands in for the file name
 * in messages. For tests and fuzzing. */
int rf_conf_load_string(const char *text, const char *name, rf_conf_t **ret_conf, char *errstr, size_t errstr_size);

void rf_conf_destroy(rf_conf_t *conf);

/* Lookups by name; NULL when absent. The result is owned by @p conf. */
const rf_scraper_conf_t *rf_conf_scraper(const rf_conf_t *conf, const char *name);
const rf_workflow_conf_t *rf_conf_workflow(const rf_conf_t *conf, const char *name);

/* Parses "latest", "all" or "none". Returns 0 or -EINVAL. */
int rf_conf_catchup_parse(const char *text, rf_catchup_t *ret_policy);
/* The LATE alert delay of @p wf: its own alert_after, else reaper.alert_after;
 * 0 = no LATE alert. */
int64_t rf_conf_alert_after_ms(const rf_conf_t *conf, const rf_workflow_conf_t *wf);

/* Parses a run window "HH:MM-HH:MM" (local wall-clock times, start
 * inclusive, end exclusive, start > end wraps past midnight, "24:00" allowed
 * as an end) into minutes after midnight. Returns 0 or -EINVAL. */
int rf_conf_window_parse(const char *text, int *ret_start_min, int *ret_end_min);

/* A copy of a libpq conninfo ("host=h password=x") or postgresql:// URI with
 * the password replaced by "****", for messages and rf_conf_print(). The
 * caller frees the result; NULL when out of memory. */
char *rf_conf_mask_dsn(const char *dsn);

/* Writes the effective configuration in libconfig syntax, secrets masked. */
void rf_conf_print(const rf_conf_t *conf, FILE *out);

/* Writes one line per setting: name, type, default, environment variable, description. */
void rf_conf_help(FILE *out);

/* Writes the same table as Markdown, for docs/configuration.md
 * (scripts/gen-config-doc): generated from this table, it cannot drift. */
void rf_conf_help_markdown(FILE *out);
