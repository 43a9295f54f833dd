/* SPDX-License-Identifier: Apache-2.0 */
/* rf_conf: the runfleet configuration.
 *
 * Everything hangs off declarative tables (in the manner of librdkafka's
 * rdkafka_conf.c): one row per setting with its path, type, field offset,
 * range, default, environment variable, flags and a one-line description.
 * The same rows drive loading from libconfig, environment overrides,
 * validation, rf_conf_print() and rf_conf_help(); adding a setting means
 * adding a field to rf_conf_t and a row here, nothing else.
 *
 * Order of precedence: table default < configuration file < environment.
 * An environment variable that is set but empty counts as unset, so that
 * "RUNFLEET_KAFKA_BROKERS=" in a compose file does not override the file
 * with an empty broker list.
 *
 * Typo protection: a setting the table does not know is an error, at the
 * top level, inside the known groups and inside scraper/workflow entries.
 * A misspelt optional setting would otherwise silently keep its default. */
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "rf_conf.h"
#include "rf_log.h"
#include "rf_util.h"

typedef enum {
        P_STR,     /* char * */
        P_INT,     /* int, within [vmin, vmax] */
        P_BOOL,    /* bool */
        P_KVLIST,  /* rf_kv_t * at offset, size_t count at count_offset */
        P_STRLIST, /* char ** at offset, size_t count at count_offset */
} ptype_t;

#define P_REQUIRED 0x1   /* no default: must be set in the file or the environment */
#define P_SECRET_DSN 0x2 /* a libpq conninfo/URI: printed with its password masked */
#define P_SECRET_URL 0x4 /* an http(s) URL whose path may be a token (chat webhooks): printed as host only */
#define P_SECRET 0x8     /* a password: printed as "****" */

/* Validates a string value; on failure writes why (naming the value) and returns -EINVAL. */
typedef int check_fn_t(const char *value, char *why, size_t why_size);

typedef struct prop {
        const char *name; /* "group.setting" at the top level, "setting" in scraper/workflow entries */
        ptype_t type;
        size_t offset;
        size_t count_offset; /* P_KVLIST, P_STRLIST */
        int vmin, vmax;      /* P_INT */
        int idef;            /* P_INT, P_BOOL */
        const char *sdef;    /* P_STR; NULL: no default */
        const char *env;     /* overriding environment variable, NULL: none */
        int flags;
        check_fn_t *check; /* P_STR, P_STRLIST elements */
        const char *desc;
} prop_t;

static check_fn_t check_value_format, check_overlap, check_topic, check_group_protocol, check_tz, check_name, check_url,
        check_scraper_url, check_base_url, check_window, check_log_level, check_catchup, check_catchup_window,
        check_duration;

#define C_STR(n, f, def, env, fl, chk, d)                                                                              \
        { n, P_STR, offsetof(rf_conf_t, f), 0, 0, 0, 0, def, env, fl, chk, d }
#define C_INT(n, f, lo, hi, def, env, d)                                                                               \
        { n, P_INT, offsetof(rf_conf_t, f), 0, lo, hi, def, NULL, env, 0, NULL, d }

/* The top-level settings. Groups must stay contiguous (rf_conf_print
 * writes one libconfig group per run of equal prefixes). Every environment
 * variable is RUNFLEET_<GROUP>_<NAME> upper-cased; the unit test checks it. */
static const prop_t props[] = {
        C_STR("kafka.brokers", kafka.brokers, NULL, "RUNFLEET_KAFKA_BROKERS", P_REQUIRED, NULL,
              "bootstrap servers, host:port[,host:port...]"),
        C_STR("kafka.topic", kafka.topic, "runfleet.decisions", "RUNFLEET_KAFKA_TOPIC", 0, check_topic,
              "topic RUN decisions are produced to (key = workflow name)"),
        C_STR("kafka.dlq_topic", kafka.dlq_topic, "runfleet.decisions.dlq", "RUNFLEET_KAFKA_DLQ_TOPIC", 0, check_topic,
              "dead-letter topic for messages that cannot be decoded or validated"),
        C_STR("kafka.group", kafka.group, "runfleet-workers", "RUNFLEET_KAFKA_GROUP", 0, NULL,
              "consumer group of the workers"),
        C_INT("kafka.partitions", kafka.partitions, 1, 10000, 12, "RUNFLEET_KAFKA_PARTITIONS",
              "partitions when runfleet creates the topics (the most workers that can share the load)"),
        C_INT("kafka.replication_factor", kafka.replication_factor, 0, 100, 0, "RUNFLEET_KAFKA_REPLICATION_FACTOR",
              "replication factor when runfleet creates the topics; 0 = min(3, brokers in the cluster)"),
        C_INT("kafka.min_insync_replicas", kafka.min_insync_replicas, 0, 100, 0, "RUNFLEET_KAFKA_MIN_INSYNC_REPLICAS",
              "min.insync.replicas of the topics runfleet creates (acks=all writes need that many replicas); "
              "0 = replication factor - 1, at least 1; at most kafka.replication_factor"),
        C_INT("kafka.delivery_timeout_ms", kafka.delivery_timeout_ms, 100, 3600000, 30000,
              "RUNFLEET_KAFKA_DELIVERY_TIMEOUT_MS", "producer message.timeout.ms; must be < reaper.grace_ms"),
        C_STR("kafka.group_protocol", kafka.group_protocol, "classic", "RUNFLEET_KAFKA_GROUP_PROTOCOL", 0,
              check_group_protocol,
              "\"classic\" (cooperative-sticky rebalances) or \"consumer\" (KIP-848: the broker assigns; "
              "Kafka 4.0 or newer)"),
        C_INT("kafka.session_timeout_ms", kafka.session_timeout_ms, 1000, 3600000, 10000,
              "RUNFLEET_KAFKA_SESSION_TIMEOUT_MS",
              "consumer session.timeout.ms (classic protocol; with \"consumer\" the broker's "
              "group.consumer.session.timeout.ms applies)"),
        C_INT("kafka.max_poll_interval_ms", kafka.max_poll_interval_ms, 1000, 86400000, 300000,
              "RUNFLEET_KAFKA_MAX_POLL_INTERVAL_MS", "consumer max.poll.interval.ms"),
        C_STR("kafka.value_format", kafka.value_format, "single-object", "RUNFLEET_KAFKA_VALUE_FORMAT", 0,
              check_value_format,
              "how decisions are framed on the topic: \"single-object\" (Avro single-object encoding, schemas "
              "built in, no registry) or \"schema-registry\" (the Confluent wire format: byte 0, the schema id "
              "from schema_registry.url, the Avro body); consumers read both either way"),
        { "kafka.properties", P_KVLIST, offsetof(rf_conf_t, kafka.properties),
          offsetof(rf_conf_t, kafka.property_count), 0, 0, 0, NULL, NULL, 0, NULL,
          "extra librdkafka properties, ((\"key\", \"value\"), ...), passed verbatim; "
          "RUNFLEET_KAFKA_PROPERTY_<NAME> sets one from the environment (SASL_PASSWORD: sasl.password)" },

        C_STR("schema_registry.url", schema_registry.url, NULL, "RUNFLEET_SCHEMA_REGISTRY_URL", P_SECRET_URL, check_url,
              "Confluent-compatible Schema Registry API (Apicurio: .../apis/ccompat/v7); required by "
              "kafka.value_format = \"schema-registry\", and used by consumers to resolve ids of framed messages"),
        C_STR("schema_registry.username", schema_registry.username, NULL, "RUNFLEET_SCHEMA_REGISTRY_USERNAME", 0, NULL,
              "HTTP basic-auth user for the registry; unset: no authentication"),
        C_STR("schema_registry.password", schema_registry.password, NULL, "RUNFLEET_SCHEMA_REGISTRY_PASSWORD", P_SECRET,
              NULL, "HTTP basic-auth password (masked when printed; prefer the environment)"),
        C_STR("schema_registry.ca_file", schema_registry.ca_file, NULL, "RUNFLEET_SCHEMA_REGISTRY_CA_FILE", 0, NULL,
              "PEM file of the CA(s) that sign the registry's https certificate; unset: the system's CAs"),
        C_INT("schema_registry.timeout_ms", schema_registry.timeout_ms, 100, 600000, 5000,
              "RUNFLEET_SCHEMA_REGISTRY_TIMEOUT_MS", "bound on one registry request, connect included"),

        C_STR("database.url", database.url, NULL, "RUNFLEET_DATABASE_URL", P_REQUIRED | P_SECRET_DSN, NULL,
              "PostgreSQL conninfo or postgresql:// URI (password masked when printed)"),

        C_STR("producer.timezone", producer.timezone, "UTC", "RUNFLEET_PRODUCER_TIMEZONE", 0, check_tz,
              "IANA time zone the workflow schedules are read in"),
        C_INT("producer.every_ms", producer.every_ms, 1000, 86400000, 60000, "RUNFLEET_PRODUCER_EVERY_MS",
              "evaluation period of 'evaluate --every'"),
        C_STR("producer.catchup", producer.catchup, "latest", "RUNFLEET_PRODUCER_CATCHUP", 0, check_catchup,
              "ticks missed while no evaluator ran, within the catch-up window: \"latest\" decides the newest "
              "and SKIPs the others, \"all\" decides each (oldest first), \"none\" SKIPs them all"),
        C_STR("producer.catchup_window", producer.catchup_window, "1d", "RUNFLEET_PRODUCER_CATCHUP_WINDOW", 0,
              check_catchup_window, "missed ticks older than this (e.g. 30m, 6h, 2d) are recorded MISSED, never run"),
        C_INT("producer.catchup_max_ticks", producer.catchup_max_ticks, 1, 1000000, 1000,
              "RUNFLEET_PRODUCER_CATCHUP_MAX_TICKS",
              "ticks of one gap recorded one by one; older ones of a longer gap share one MISSED row that "
              "says so"),
        C_STR("producer.overlap", producer.overlap, "skip", "RUNFLEET_PRODUCER_OVERLAP", 0, check_overlap,
              "default of the workflows' overlap: \"skip\", \"buffer_one\" or \"allow\""),
        C_INT("producer.pause_after_failures", producer.pause_after_failures, 0, 1000, 0,
              "RUNFLEET_PRODUCER_PAUSE_AFTER_FAILURES",
              "default of the workflows' pause_after_failures, 0 = never pause automatically"),
        C_INT("producer.backfill_max_decisions", producer.backfill_max_decisions, 1, 100000000, 10000,
              "RUNFLEET_PRODUCER_BACKFILL_MAX_DECISIONS",
              "decisions one 'backfill' may create without --yes (a guard against a mistyped range)"),

        C_INT("worker.max_in_flight", worker.max_in_flight, 1, 100000, 1000, "RUNFLEET_WORKER_MAX_IN_FLIGHT",
              "executions in flight per worker process"),
        C_INT("worker.lease_ms", worker.lease_ms, 1000, 3600000, 30000, "RUNFLEET_WORKER_LEASE_MS",
              "execution lease; must be > worker.heartbeat_ms"),
        C_INT("worker.heartbeat_ms", worker.heartbeat_ms, 100, 3600000, 5000, "RUNFLEET_WORKER_HEARTBEAT_MS",
              "lease renewal period"),
        C_INT("worker.commit_interval_ms", worker.commit_interval_ms, 10, 600000, 1000,
              "RUNFLEET_WORKER_COMMIT_INTERVAL_MS", "offset commit batching period"),
        C_INT("worker.drain_timeout_ms", worker.drain_timeout_ms, 0, 3600000, 20000, "RUNFLEET_WORKER_DRAIN_TIMEOUT_MS",
              "bound on the SIGTERM/rebalance drain"),
        C_INT("worker.max_response_bytes", worker.max_response_bytes, 1024, 67108864, 65536,
              "RUNFLEET_WORKER_MAX_RESPONSE_BYTES", "scraper response body bytes kept per call"),

        C_INT("reaper.interval_ms", reaper.interval_ms, 100, 3600000, 5000, "RUNFLEET_REAPER_INTERVAL_MS",
              "sweep period"),
        C_INT("reaper.grace_ms", reaper.grace_ms, 1000, 86400000, 60000, "RUNFLEET_REAPER_GRACE_MS",
              "age of an unexecuted RUN decision before it is re-produced; must be > kafka.delivery_timeout_ms"),
        C_INT("reaper.max_failed_executions", reaper.max_failed_executions, 1, 100, 5,
              "RUNFLEET_REAPER_MAX_FAILED_EXECUTIONS",
              "executions of a decision that may fail (FAILED, TIMED_OUT, ABANDONED) before it is marked DEAD; "
              "re-produces of a decision never executed do not count, so its produce count (status PRODUCED, "
              "decisions.attempt) can exceed this; formerly reaper.max_attempts"),
        C_INT("reaper.backoff_ms", reaper.backoff_ms, 0, 86400000, 10000, "RUNFLEET_REAPER_BACKOFF_MS",
              "first retry backoff, doubled per failed execution"),
        C_STR("reaper.webhook_url", reaper.webhook_url, NULL, "RUNFLEET_REAPER_WEBHOOK_URL", P_SECRET_URL, check_url,
              "http(s) URL a JSON alert is POSTed to when a decision becomes DEAD, retried until accepted (2xx)"),
        C_INT("reaper.webhook_timeout_ms", reaper.webhook_timeout_ms, 100, 60000, 5000,
              "RUNFLEET_REAPER_WEBHOOK_TIMEOUT_MS", "bound on one webhook POST, connect included"),
        C_INT("reaper.webhook_backoff_ms", reaper.webhook_backoff_ms, 100, 3600000, 5000,
              "RUNFLEET_REAPER_WEBHOOK_BACKOFF_MS", "delay before an alert is POSTed again, doubled per refusal"),
        C_STR("reaper.alert_after", reaper.alert_after, NULL, "RUNFLEET_REAPER_ALERT_AFTER", 0, check_duration,
              "default of workflows[].alert_after (a duration, \"30m\"); unset or \"0\": no LATE alerts"),

        C_INT("retention.days", retention.days, 0, 36500, 30, "RUNFLEET_RETENTION_DAYS",
              "days of history kept: older days of decisions, executions and calls are dropped whole by the "
              "reaper (never a day holding an open decision); 0 keeps everything"),
        C_INT("retention.interval_ms", retention.interval_ms, 60000, 86400000, 3600000,
              "RUNFLEET_RETENTION_INTERVAL_MS",
              "how often the reaper makes the coming days' partitions and applies retention.days"),

        C_STR("scraping.base_url", scraping.base_url, NULL, "RUNFLEET_SCRAPING_BASE_URL", 0, check_base_url,
              "http(s) URL that scraper URLs starting with '/' are relative to (one place to move every scraper)"),

        C_STR("http.listen", http.listen, "127.0.0.1", "RUNFLEET_HTTP_LISTEN", 0, NULL,
              "address of the /metrics, /healthz and /readyz server"),
        C_INT("http.port", http.port, 0, 65535, 0, "RUNFLEET_HTTP_PORT", "port of that server, 0 = off"),

        C_STR("log.level", log.level, "info", "RUNFLEET_LOG_LEVEL", 0, check_log_level,
              "least severe log lines written: debug, info, warn or error"),

        C_STR("tracing.otlp_endpoint", tracing.otlp_endpoint, NULL, "RUNFLEET_TRACING_OTLP_ENDPOINT", 0, check_url,
              "OTLP/HTTP URL spans are POSTed to as JSON (a collector's http://127.0.0.1:4318/v1/traces); "
              "unset: no spans are made or sent (the traceparent header is sent either way)"),
        C_STR("tracing.service_name", tracing.service_name, NULL, "RUNFLEET_TRACING_SERVICE_NAME", 0, NULL,
              "the spans' resource service.name; default: the program's name (runfleet-worker, ...)"),
        C_INT("tracing.batch_size", tracing.batch_size, 1, 10000, 512, "RUNFLEET_TRACING_BATCH_SIZE",
              "spans per export request"),
        C_INT("tracing.export_interval_ms", tracing.export_interval_ms, 10, 600000, 1000,
              "RUNFLEET_TRACING_EXPORT_INTERVAL_MS", "longest a partial batch waits before it is exported"),
        C_INT("tracing.queue_size", tracing.queue_size, 1, 1000000, 2048, "RUNFLEET_TRACING_QUEUE_SIZE",
              "spans waiting for export at most; past it new spans are dropped and counted "
              "(runfleet_spans_dropped_total); at least tracing.batch_size"),
        C_INT("tracing.export_timeout_ms", tracing.export_timeout_ms, 100, 600000, 5000,
              "RUNFLEET_TRACING_EXPORT_TIMEOUT_MS",
              "bound on one export POST, connect included; a failed export drops its batch"),
        C_INT("tracing.shutdown_timeout_ms", tracing.shutdown_timeout_ms, 0, 600000, 3000,
              "RUNFLEET_TRACING_SHUTDOWN_TIMEOUT_MS",
              "at exit, spans still queued are exported within this, then dropped"),
};

#define N_PROPS (sizeof(props) / sizeof(props[0]))

/* Settings that were renamed. The old name (in the file or the
 * environment) still loads into the new setting, with a warning the program
 * logs; setting both is an error. reaper.max_attempts was read as "the
 * decision's attempts" (decisions.attempt, which also counts re-produces of
 * a decision never executed) while it bounds failed executions. */
static const struct {
        const char *old_name, *old_env, *new_name;
} renamed[] = {
        { "reaper.max_attempts", "RUNFLEET_REAPER_MAX_ATTEMPTS", "reaper.max_failed_executions" },
};

#define N_RENAMED (sizeof(renamed) / sizeof(renamed[0]))

/* One entry of the "scrapers" list. */
static const prop_t scraper_props[] = {
        { "name", P_STR, offsetof(rf_scraper_conf_t, name), 0, 0, 0, 0, NULL, NULL, P_REQUIRED, check_name,
          "unique name that workflows and decisions refer to, [A-Za-z0-9_.-]+" },
        { "url", P_STR, offsetof(rf_scraper_conf_t, url), 0, 0, 0, 0, NULL, NULL, P_REQUIRED, check_scraper_url,
          "endpoint, http:// or https://, or a path \"/...\" under scraping.base_url" },
        { "timeout_ms", P_INT, offsetof(rf_scraper_conf_t, timeout_ms), 0, 1, 3600000, 30000, NULL, NULL, 0, NULL,
          "one call, connect included" },
        { "max_tries", P_INT, offsetof(rf_scraper_conf_t, max_tries), 0, 1, 20, 3, NULL, NULL, 0, NULL,
          "tries per execution for retryable outcomes (connect errors, timeouts, 5xx, 429)" },
        { "retry_backoff_ms", P_INT, offsetof(rf_scraper_conf_t, retry_backoff_ms), 0, 1, 600000, 500, NULL, NULL, 0,
          NULL, "first retry delay, doubled per try, with full jitter; a 429's Retry-After wins" },
        { "breaker_failures", P_INT, offsetof(rf_scraper_conf_t, breaker_failures), 0, 0, 100000, 5, NULL, NULL, 0,
          NULL, "consecutive failed calls that open the circuit breaker, 0 = no breaker" },
        { "breaker_cooldown_ms", P_INT, offsetof(rf_scraper_conf_t, breaker_cooldown_ms), 0, 10, 86400000, 30000, NULL,
          NULL, 0, NULL, "how long an open breaker fails calls fast before one probe is let through" },
        { "rate_per_s", P_INT, offsetof(rf_scraper_conf_t, rate_per_s), 0, 0, 1000000, 0, NULL, NULL, 0, NULL,
          "calls per second allowed to this scraper's rate group (token bucket), 0 = unlimited" },
        { "rate_group", P_STR, offsetof(rf_scraper_conf_t, rate_group), 0, 0, 0, 0, NULL, NULL, 0, check_name,
          "scrapers with the same group share one rate limit (an external API); default: the scraper's own name" },
};

/* One entry of the "workflows" list. */
static const prop_t workflow_props[] = {
        { "name", P_STR, offsetof(rf_workflow_conf_t, name), 0, 0, 0, 0, NULL, NULL, P_REQUIRED, check_name,
          "unique name, the Kafka message key, [A-Za-z0-9_.-]+" },
        { "schedule", P_STR, offsetof(rf_workflow_conf_t, schedule), 0, 0, 0, 0, NULL, NULL, P_REQUIRED, NULL,
          "5-field cron in producer.timezone, @hourly/@daily/..., or \"@every <N>s|m|h\"" },
        { "scrapers", P_STRLIST, offsetof(rf_workflow_conf_t, scrapers), offsetof(rf_workflow_conf_t, scraper_count), 0,
          0, 0, NULL, NULL, P_REQUIRED, check_name, "names of the scrapers called, [\"a\", \"b\"], at least one" },
        { "deadline_ms", P_INT, offsetof(rf_workflow_conf_t, deadline_ms), 0, 1, 86400000, 600000, NULL, NULL, 0, NULL,
          "bound on one whole execution" },
        { "enabled", P_BOOL, offsetof(rf_workflow_conf_t, enabled), 0, 0, 0, 1, NULL, NULL, 0, NULL,
          "false: the producer does not evaluate it" },
        { "window", P_STR, offsetof(rf_workflow_conf_t, window), 0, 0, 0, 0, NULL, NULL, 0, check_window,
          "run window \"HH:MM-HH:MM\" in producer.timezone (end exclusive, may wrap midnight); ticks outside it SKIP" },
        { "max_runs_per_day", P_INT, offsetof(rf_workflow_conf_t, max_runs_per_day), 0, 0, 1440, 0, NULL, NULL, 0, NULL,
          "successful or in-progress runs per local day, 0 = no limit; FAILED and DEAD runs do not count" },
        { "after", P_STRLIST, offsetof(rf_workflow_conf_t, after), offsetof(rf_workflow_conf_t, after_count), 0, 0, 0,
          NULL, NULL, 0, check_name, "workflows that must have SUCCEEDED today (local day) before this one runs" },
        { "max_active_runs", P_INT, offsetof(rf_workflow_conf_t, max_active_runs), 0, 0, 100000, 0, NULL, NULL, 0, NULL,
          "executions of this workflow at once in one worker, 0 = unlimited; others wait without blocking other workflows" },
        { "catchup", P_STR, offsetof(rf_workflow_conf_t, catchup), 0, 0, 0, 0, NULL, NULL, 0, check_catchup,
          "\"latest\", \"all\" or \"none\": this workflow's producer.catchup" },
        { "catchup_window", P_STR, offsetof(rf_workflow_conf_t, catchup_window), 0, 0, 0, 0, NULL, NULL, 0,
          check_catchup_window, "this workflow's producer.catchup_window" },
        { "alert_after", P_STR, offsetof(rf_workflow_conf_t, alert_after), 0, 0, 0, 0, NULL, NULL, 0, check_duration,
          "a LATE alert (webhook, metric, log line) fires once when a RUN decision has not SUCCEEDED (nor gone DEAD "
          "or CANCELLED) this long (\"20m\") after its tick (a manual trigger, replay or backfill: after it was "
          "decided), while it is still pending, running or retrying; \"0\": none; default: reaper.alert_after" },
        { "overlap", P_STR, offsetof(rf_workflow_conf_t, overlap_name), 0, 0, 0, 0, NULL, NULL, 0, check_overlap,
          "at a tick while a run is in flight: \"skip\" (SKIP naming it), \"buffer_one\" (one RUN waits for it, "
          "later ticks SKIP) or \"allow\" (RUN alongside); unset: producer.overlap" },
        { "pause_after_failures", P_INT, offsetof(rf_workflow_conf_t, pause_after_failures), 0, 0, 1000, -1, NULL, NULL,
          0, NULL,
          "the reaper pauses the workflow after this many DEAD decisions in a row (webhook alert PAUSED), "
          "0 = never" },
};

#define N_SCRAPER_PROPS (sizeof(scraper_props) / sizeof(scraper_props[0]))
#define N_WORKFLOW_PROPS (sizeof(workflow_props) / sizeof(workflow_props[0]))
#define MAX_ITEM_PROPS 20 /* load_item() tracks which were seen */
_Static_assert(N_SCRAPER_PROPS <= MAX_ITEM_PROPS && N_WORKFLOW_PROPS <= MAX_ITEM_PROPS, "raise MAX_ITEM_PROPS");

/* Where each top-level value came from, for messages about it. */
typedef struct ctx {
        const char *file;
        char *errstr;
        size_t errstr_size;
        unsigned line[N_PROPS];         /* 0: not set in the file */
        const char *line_file[N_PROPS]; /* the file that line is in (@include) */
        bool from_env[N_PROPS];
} ctx_t;

/* ---- field access ----------------------------------------------------- */

#define FIELD(base, off, type) ((type *)(void *)((char *)(base) + (off)))

static int value_check(const prop_t *p, const char *v, char *why, size_t why_size) {
        if (!*v) {
                snprintf(why, why_size, "must not be empty");
                return -EINVAL;
        }
        return p->check ? p->check(v, why, why_size) : 0;
}

/* ---- errors ----------------------------------------------------------- */

/* Messages are one line: control characters from values become '?'. */
static void one_line(char *s) {
        for (; s && *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        *s = '?';
}

static const char *setting_file(const ctx_t *ctx, const config_setting_t *s) {
        const char *f = s ? config_setting_source_file(s) : NULL;

        return f ? f : ctx->file;
}

/* Writes "file:line: <fmt>" (or "file: <fmt>" without a line) and returns -EINVAL. */
static int __attribute__((format(printf, 4, 5)))
fail_line(ctx_t *ctx, const char *file, unsigned line, const char *fmt, ...) {
        va_list ap;
        int n;

        if (!ctx->errstr || ctx->errstr_size == 0)
                return -EINVAL;
        if (line)
                n = snprintf(ctx->errstr, ctx->errstr_size, "%s:%u: ", file, line);
        else
                n = snprintf(ctx->errstr, ctx->errstr_size, "%s: ", file);
        if (n >= 0 && (size_t)n < ctx->errstr_size) {
                va_start(ap, fmt);
                vsnprintf(ctx->errstr + n, ctx->errstr_size - (size_t)n, fmt, ap);
                va_end(ap);
        }
        one_line(ctx->errstr);
        return -EINVAL;
}

#define fail_at(ctx, s, ...) fail_line(ctx, setting_file(ctx, s), config_setting_source_line(s), __VA_ARGS__)

/* Writes an error without a file prefix (environment errors). */
static int __attribute__((format(printf, 2, 3))) fail_plain(ctx_t *ctx, const char *fmt, ...) {
        va_list ap;

        if (!ctx->errstr || ctx->errstr_size == 0)
                return -EINVAL;
        va_start(ap, fmt);
        vsnprintf(ctx->errstr, ctx->errstr_size, fmt, ap);
        va_end(ap);
        one_line(ctx->errstr);
        return -EINVAL;
}

static int oom(ctx_t *ctx) {
        if (ctx->errstr && ctx->errstr_size)
                snprintf(ctx->errstr, ctx->errstr_size, "%s: out of memory", ctx->file);
        return -ENOMEM;
}

/* ---- validators ------------------------------------------------------- */

static int check_topic(const char *v, char *why, size_t why_size) {
        size_t n = strlen(v);

        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)v[i]) && !strchr("._-", v[i]))
                        n = 0;
        if (n == 0 || n > 249 || strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
                snprintf(why, why_size, "'%.100s' is not a valid Kafka topic name (letters, digits, '.', '_', '-')", v);
                return -EINVAL;
        }
        return 0;
}

static const char *const overlap_names[_RF_OVERLAP_MAX] = {
        [RF_OVERLAP_SKIP] = "skip",
        [RF_OVERLAP_BUFFER_ONE] = "buffer_one",
        [RF_OVERLAP_ALLOW] = "allow",
};

const char *rf_overlap_name(rf_overlap_t o) {
        return o >= 0 && o < _RF_OVERLAP_MAX ? overlap_names[o] : NULL;
}

int rf_overlap_from_name(const char *name) {
        for (int i = 0; name && i < _RF_OVERLAP_MAX; i++)
                if (strcmp(name, overlap_names[i]) == 0)
                        return i;
        return -EINVAL;
}

static int check_overlap(const char *v, char *why, size_t why_size) {
        if (rf_overlap_from_name(v) < 0) {
                snprintf(why, why_size, "'%.100s' is not one of skip, buffer_one, allow", v);
                return -EINVAL;
        }
        return 0;
}

static int check_group_protocol(const char *v, char *why, size_t why_size) {
        if (strcmp(v, "classic") != 0 && strcmp(v, "consumer") != 0) {
                snprintf(why, why_size, "'%.100s' is not one of classic, consumer", v);
                return -EINVAL;
        }
        return 0;
}

int rf_conf_catchup_parse(const char *text, rf_catchup_t *ret_policy) {
        static const char *const names[] = {
                [RF_CATCHUP_LATEST] = "latest", [RF_CATCHUP_ALL] = "all", [RF_CATCHUP_NONE] = "none"
        };

        for (size_t i = 0; text && i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(text, names[i]) == 0) {
                        *ret_policy = (rf_catchup_t)i;
                        return 0;
                }
        return -EINVAL;
}

static int check_catchup(const char *v, char *why, size_t why_size) {
        rf_catchup_t c;

        if (rf_conf_catchup_parse(v, &c) < 0) {
                snprintf(why, why_size, "'%.100s' is not one of latest, all, none", v);
                return -EINVAL;
        }
        return 0;
}

static int check_catchup_window(const char *v, char *why, size_t why_size) {
        int64_t ms;

        if (rf_duration_parse(v, &ms) < 0 || ms < 1000) {
                snprintf(why, why_size, "'%.100s' is not a duration of at least 1s (e.g. 90s, 30m, 6h, 2d)", v);
                return -EINVAL;
        }
        return 0;
}

static int check_tz(const char *v, char *why, size_t why_size) {
        if (!rf_tz_valid(v)) {
                snprintf(why, why_size, "unknown time zone '%.100s'", v);
                return -EINVAL;
        }
        return 0;
}

static int check_log_level(const char *v, char *why, size_t why_size) {
        rf_log_level_t level;

        if (rf_log_level_parse(v, &level) < 0) {
                snprintf(why, why_size, "'%.100s' is not one of debug, info, warn, error", v);
                return -EINVAL;
        }
        return 0;
}

static int check_name(const char *v, char *why, size_t why_size) {
        for (const char *p = v; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("_.-", *p)) {
                        snprintf(why, why_size, "'%.100s' may only contain letters, digits, '_', '.' and '-'", v);
                        return -EINVAL;
                }
        return 0;
}

int rf_conf_window_parse(const char *text, int *ret_start_min, int *ret_end_min) {
        int v[4], n = 0;

        if (!text || sscanf(text, "%2d:%2d-%2d:%2d%n", &v[0], &v[1], &v[2], &v[3], &n) != 4 || text[n] ||
            strlen(text) != 11)
                return -EINVAL;
        if (v[0] > 23 || v[1] > 59 || v[2] > 24 || v[3] > 59 || (v[2] == 24 && v[3] != 0) || v[0] < 0 || v[1] < 0 ||
            v[2] < 0 || v[3] < 0)
                return -EINVAL;
        /* an empty window would silently never run: refused */
        if (v[0] * 60 + v[1] == v[2] * 60 + v[3])
                return -EINVAL;
        *ret_start_min = v[0] * 60 + v[1];
        *ret_end_min = v[2] * 60 + v[3];
        return 0;
}

static int check_window(const char *v, char *why, size_t why_size) {
        int a, b;

        if (rf_conf_window_parse(v, &a, &b) < 0) {
                snprintf(why, why_size, "'%.100s' is not a window \"HH:MM-HH:MM\" (24-hour local times, start != end)",
                         v);
                return -EINVAL;
        }
        return 0;
}

static int check_duration(const char *v, char *why, size_t why_size) {
        int64_t ms;

        if (rf_duration_parse(v, &ms) == 0)
                return 0;
        snprintf(why, why_size, "'%.100s' is not a duration (e.g. \"90s\", \"20m\", \"2h\"; \"0\": off)", v);
        return -EINVAL;
}

static int check_value_format(const char *v, char *why, size_t why_size) {
        if (strcmp(v, "single-object") == 0 || strcmp(v, "schema-registry") == 0)
                return 0;
        snprintf(why, why_size, "'%.100s' is not \"single-object\" or \"schema-registry\"", v);
        return -EINVAL;
}

static int check_url(const char *v, char *why, size_t why_size) {
        size_t skip;

        if (strncasecmp(v, "http://", 7) == 0)
                skip = 7;
        else if (strncasecmp(v, "https://", 8) == 0)
                skip = 8;
        else {
                snprintf(why, why_size, "'%.100s' does not start with http:// or https://", v);
                return -EINVAL;
        }
        if (!v[skip] || strchr("/?#:", v[skip])) {
                snprintf(why, why_size, "'%.100s' has no host", v);
                return -EINVAL;
        }
        for (const char *p = v; *p; p++)
                if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
                        snprintf(why, why_size, "'%.100s' contains a space or control character", v);
                        return -EINVAL;
                }
        return 0;
}

/* A scraper's own URL, or a path for scraping.base_url (resolved once the
 * environment is read, by resolve_scraper_urls). */
static int check_scraper_url(const char *v, char *why, size_t why_size) {
        if (v[0] == '/') {
                for (const char *p = v; *p; p++)
                        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
                                snprintf(why, why_size, "'%.100s' contains a space or control character", v);
                                return -EINVAL;
                        }
                return 0;
        }
        return check_url(v, why, why_size);
}

static int check_base_url(const char *v, char *why, size_t why_size) {
        int r = check_url(v, why, why_size);

        if (r == 0 && strpbrk(v, "?#")) {
                snprintf(why, why_size, "'%.100s' has a query or fragment; a base URL ends with its path", v);
                return -EINVAL;
        }
        return r;
}

/* ---- secrets ---------------------------------------------------------- */

static bool kafka_key_is_secret(const char *key) {
        return strcasestr(key, "password") || strcasestr(key, "secret") || strcasecmp(key, "ssl.key.pem") == 0 ||
               strcasecmp(key, "sasl.oauthbearer.config") == 0;
}

/* Appends @p n bytes to a growing buffer. */
typedef struct sbuf {
        char *p;
        size_t len, cap;
        bool oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n) {
        if (b->oom)
                return;
        if (b->len + n + 1 > b->cap) {
                size_t cap = (b->len + n + 1) * 2;
                char *p = realloc(b->p, cap);

                if (!p) {
                        b->oom = true;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = 0;
}

static char *sb_finish(sbuf_t *b) {
        if (b->oom || !b->p) {
                free(b->p);
                return b->oom ? NULL : strdup("");
        }
        return b->p;
}

static int hex_digit(char c) {
        return c >= '0' && c <= '9'   ? c - '0'
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                      : -1;
}

/* Whether the URI query parameter at @p p is "password" as libpq reads it,
 * that is once percent-decoded ("pass%77ord=" names the password too);
 * *ret_len gets the length of the name as written, '=' excluded. */
static bool query_key_is_password(const char *p, size_t *ret_len) {
        static const char want[] = "password";
        size_t i = 0, n = 0;

        while (p[i] && p[i] != '=' && p[i] != '&') {
                int c = (unsigned char)p[i];

                if (c == '%' && hex_digit(p[i + 1]) >= 0 && hex_digit(p[i + 2]) >= 0) {
                        c = hex_digit(p[i + 1]) * 16 + hex_digit(p[i + 2]);
                        i += 3;
                } else
                        i++;
                if (n >= sizeof(want) - 1 || tolower(c) != want[n])
                        return false;
                n++;
        }
        if (p[i] != '=' || n != sizeof(want) - 1)
                return false;
        *ret_len = i;
        return true;
}

static char *mask_uri(const char *dsn) {
        sbuf_t q = { 0 }, out = { 0 };
        const char *p, *at, *colon, *body = strstr(dsn, "://") + 3;
        char *tmp;
        size_t klen;

        /* Pass 1: "password=" query parameters, anywhere (a value may
         * contain '@', so this comes before looking for the userinfo). */
        for (p = dsn; *p;) {
                if (p > body && (p[-1] == '?' || p[-1] == '&') && query_key_is_password(p, &klen)) {
                        sb_add(&q, p, klen + 1);
                        sb_add(&q, "****", 4);
                        p += klen + 1;
                        /* libpq ends a value at '&' only: a '#' belongs to the password */
                        p += strcspn(p, "&");
                        continue;
                }
                sb_add(&q, p, 1);
                p++;
        }
        tmp = sb_finish(&q);
        if (!tmp)
                return NULL;
        /* Pass 2: user:password@ — the last '@', so an unescaped '@' or '/'
         * in the password masks too much rather than too little. */
        body = strstr(tmp, "://") + 3;
        at = strrchr(body, '@');
        colon = at ? memchr(body, ':', (size_t)(at - body)) : NULL;
        if (!colon)
                return tmp;
        sb_add(&out, tmp, (size_t)(colon + 1 - tmp));
        sb_add(&out, "****", 4);
        sb_add(&out, at, strlen(at));
        free(tmp);
        return sb_finish(&out);
}

/* libpq "key = value" conninfo: values may be single-quoted with backslash escapes. */
static char *mask_conninfo(const char *dsn) {
        sbuf_t out = { 0 };
        const char *p = dsn, *copied = dsn;

        while (*p) {
                const char *k, *v;
                size_t klen;
                bool secret;

                while (isspace((unsigned char)*p))
                        p++;
                if (!*p)
                        break;
                k = p;
                while (*p && !isspace((unsigned char)*p) && *p != '=')
                        p++;
                klen = (size_t)(p - k);
                while (isspace((unsigned char)*p))
                        p++;
                if (*p != '=')
                        goto malformed;
                p++;
                while (isspace((unsigned char)*p))
                        p++;
                v = p;
                if (*p == '\'') {
                        for (p++; *p && *p != '\''; p++)
                                if (*p == '\\' && p[1])
                                        p++;
                        if (*p != '\'')
                                goto malformed;
                        p++;
                } else
                        for (; *p && !isspace((unsigned char)*p); p++)
                                if (*p == '\\' && p[1])
                                        p++;
                secret = (klen == 8 && strncmp(k, "password", 8) == 0) ||
                         /* dbname may itself hold a whole connection string */
                         (klen == 6 && strncmp(k, "dbname", 6) == 0 && memmem(v, (size_t)(p - v), "password", 8));
                if (secret) {
                        sb_add(&out, copied, (size_t)(v - copied));
                        sb_add(&out, "****", 4);
                        /* libpq lets a key follow a closing quote at once;
                         * after an unquoted "****" it would join the value */
                        if (*p && !isspace((unsigned char)*p))
                                sb_add(&out, " ", 1);
                        copied = p;
                }
        }
        sb_add(&out, copied, strlen(copied));
        return sb_finish(&out);
malformed:
        free(out.p);
        /* Without '=' libpq takes it as a database name; anything else that
         * does not parse, libpq refuses too: never risk printing a password
         * (say "host=h S3cret", a password missing its keyword). */
        return strdup(strchr(dsn, '=') ? "****" : dsn);
}

char *rf_conf_mask_dsn(const char *dsn) {
        if (!dsn)
                return NULL;
        if (strncasecmp(dsn, "postgresql://", 13) == 0 || strncasecmp(dsn, "postgres://", 11) == 0)
                return mask_uri(dsn);
        return mask_conninfo(dsn);
}

/* An http(s) URL reduced to its scheme, host and port, the path and query
 * replaced by four stars: chat and paging webhooks carry their credential
 * there, and a user:password@ part is masked too. Returns a new string, or
 * NULL when out of memory. */
static char *mask_url(const char *url) {
        const char *host = strstr(url, "://"), *end, *at;
        char *out = NULL;

        if (!host)
                return strdup("****");
        host += 3;
        /* the user part ends at the last '@' before the query: a password
         * may hold an '@' or (not percent-encoded) a '/'; masking a path
         * that holds an '@' as well costs nothing, showing a password would */
        at = memrchr(host, '@', strcspn(host, "?#"));
        if (at)
                host = at + 1;
        end = host + strcspn(host, "/?#");
        if (asprintf(&out, "%.*s%s%.*s%s", (int)(strstr(url, "://") + 3 - url), url, at ? "****@" : "",
                     (int)(end - host), host, *end ? "/****" : "") < 0)
                return NULL;
        return out;
}

/* ---- table walking ---------------------------------------------------- */

static void free_value(const prop_t *p, void *base) {
        switch (p->type) {
        case P_STR:
                free(*FIELD(base, p->offset, char *));
                *FIELD(base, p->offset, char *) = NULL;
                break;
        case P_KVLIST: {
                rf_kv_t *kv = *FIELD(base, p->offset, rf_kv_t *);
                size_t n = *FIELD(base, p->count_offset, size_t);

                for (size_t i = 0; i < n; i++) {
                        free(kv[i].key);
                        free(kv[i].value);
                }
                free(kv);
                *FIELD(base, p->offset, rf_kv_t *) = NULL;
                *FIELD(base, p->count_offset, size_t) = 0;
                break;
        }
        case P_STRLIST: {
                char **v = *FIELD(base, p->offset, char **);
                size_t n = *FIELD(base, p->count_offset, size_t);

                for (size_t i = 0; i < n; i++)
                        free(v[i]);
                free(v);
                *FIELD(base, p->offset, char **) = NULL;
                *FIELD(base, p->count_offset, size_t) = 0;
                break;
        }
        case P_INT:
        case P_BOOL:
                break;
        }
}

static void free_values(const prop_t *tbl, size_t n, void *base) {
        for (size_t i = 0; i < n; i++)
                free_value(&tbl[i], base);
}

static int set_defaults(ctx_t *ctx, const prop_t *tbl, size_t n, void *base) {
        for (size_t i = 0; i < n; i++) {
                const prop_t *p = &tbl[i];

                if (p->type == P_INT)
                        *FIELD(base, p->offset, int) = p->idef;
                else if (p->type == P_BOOL)
                        *FIELD(base, p->offset, bool) = p->idef != 0;
                else if (p->type == P_STR && p->sdef) {
                        char *s = strdup(p->sdef);

                        if (!s)
                                return oom(ctx);
                        *FIELD(base, p->offset, char *) = s;
                }
        }
        return 0;
}

static int set_str(ctx_t *ctx, const prop_t *p, void *base, const char *v) {
        char *s = strdup(v);

        if (!s)
                return oom(ctx);
        free(*FIELD(base, p->offset, char *));
        *FIELD(base, p->offset, char *) = s;
        return 0;
}

static int load_kvlist(ctx_t *ctx, const prop_t *p, void *base, const config_setting_t *s, const char *label) {
        int n = config_setting_length(s);
        rf_kv_t *kv;

        if (s->type != CONFIG_TYPE_LIST && !(s->type == CONFIG_TYPE_ARRAY && n == 0))
                return fail_at(ctx, s, "%s%s: expected a list of (\"key\", \"value\") pairs", label, p->name);
        free_value(p, base);
        kv = calloc((size_t)n + 1, sizeof(*kv));
        if (!kv)
                return oom(ctx);
        *FIELD(base, p->offset, rf_kv_t *) = kv;
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                const char *k, *v;

                if ((e->type != CONFIG_TYPE_LIST && e->type != CONFIG_TYPE_ARRAY) || config_setting_length(e) != 2 ||
                    config_setting_get_elem(e, 0)->type != CONFIG_TYPE_STRING ||
                    config_setting_get_elem(e, 1)->type != CONFIG_TYPE_STRING)
                        return fail_at(ctx, e, "%s%s: expected a list of (\"key\", \"value\") pairs", label, p->name);
                k = config_setting_get_string_elem(e, 0);
                v = config_setting_get_string_elem(e, 1);
                if (!*k)
                        return fail_at(ctx, e, "%s%s: empty property name", label, p->name);
                for (int j = 0; j < i; j++)
                        if (strcmp(kv[j].key, k) == 0)
                                return fail_at(ctx, e, "%s%s: '%.100s' is set twice", label, p->name, k);
                kv[i].key = strdup(k);
                kv[i].value = strdup(v);
                *FIELD(base, p->count_offset, size_t) = (size_t)i + 1;
                if (!kv[i].key || !kv[i].value)
                        return oom(ctx);
        }
        return 0;
}

static int load_strlist(ctx_t *ctx, const prop_t *p, void *base, const config_setting_t *s, const char *label) {
        int n = config_setting_length(s);
        char **v;

        if (s->type != CONFIG_TYPE_ARRAY && s->type != CONFIG_TYPE_LIST)
                return fail_at(ctx, s, "%s%s: expected a list of names [\"a\", \"b\"]", label, p->name);
        if (n == 0)
                return fail_at(ctx, s, "%s%s: the list is empty (name at least one)", label, p->name);
        free_value(p, base);
        v = calloc((size_t)n, sizeof(*v));
        if (!v)
                return oom(ctx);
        *FIELD(base, p->offset, char **) = v;
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                const config_setting_t *at = config_setting_source_line(e) ? e : s;
                char why[256];

                if (e->type != CONFIG_TYPE_STRING)
                        return fail_at(ctx, at, "%s%s: expected a list of names [\"a\", \"b\"]", label, p->name);
                if (value_check(p, config_setting_get_string(e), why, sizeof(why)) < 0)
                        return fail_at(ctx, at, "%s%s: %s", label, p->name, why);
                v[i] = strdup(config_setting_get_string(e));
                *FIELD(base, p->count_offset, size_t) = (size_t)i + 1;
                if (!v[i])
                        return oom(ctx);
        }
        return 0;
}

/* Sets @p p in @p base from libconfig setting @p s. @p label prefixes the
 * setting's name in messages ("scraper 'events': "). */
static int load_value(ctx_t *ctx, const prop_t *p, void *base, const config_setting_t *s, const char *label) {
        char why[256];
        long long v;

        switch (p->type) {
        case P_STR:
                if (s->type != CONFIG_TYPE_STRING)
                        return fail_at(ctx, s, "%s%s: expected a string", label, p->name);
                if (value_check(p, config_setting_get_string(s), why, sizeof(why)) < 0)
                        return fail_at(ctx, s, "%s%s: %s", label, p->name, why);
                return set_str(ctx, p, base, config_setting_get_string(s));
        case P_INT:
                if (s->type == CONFIG_TYPE_INT)
                        v = config_setting_get_int(s);
                else if (s->type == CONFIG_TYPE_INT64)
                        v = config_setting_get_int64(s);
                else
                        return fail_at(ctx, s, "%s%s: expected an integer", label, p->name);
                if (v < p->vmin || v > p->vmax)
                        return fail_at(ctx, s, "%s%s: %lld is out of range [%d, %d]", label, p->name, v, p->vmin,
                                       p->vmax);
                *FIELD(base, p->offset, int) = (int)v;
                return 0;
        case P_BOOL:
                if (s->type != CONFIG_TYPE_BOOL)
                        return fail_at(ctx, s, "%s%s: expected true or false", label, p->name);
                *FIELD(base, p->offset, bool) = config_setting_get_bool(s) != 0;
                return 0;
        case P_KVLIST:
                return load_kvlist(ctx, p, base, s, label);
        case P_STRLIST:
                return load_strlist(ctx, p, base, s, label);
        }
        return -EINVAL;
}

static const prop_t *find_prop(const prop_t *tbl, size_t n, const char *group, const char *member, size_t *ret_idx) {
        size_t glen = group ? strlen(group) : 0;

        for (size_t i = 0; i < n; i++) {
                const char *name = tbl[i].name;

                if (group) {
                        if (strncmp(name, group, glen) != 0 || name[glen] != '.')
                                continue;
                        name += glen + 1;
                }
                if (strcmp(name, member) == 0) {
                        *ret_idx = i;
                        return &tbl[i];
                }
        }
        return NULL;
}

/* ---- top level -------------------------------------------------------- */

static bool is_group_name(const char *name) {
        size_t len = strlen(name);

        for (size_t i = 0; i < N_PROPS; i++)
                if (strncmp(props[i].name, name, len) == 0 && props[i].name[len] == '.')
                        return true;
        return false;
}

static size_t prop_index(const char *name);
static int load_env(ctx_t *ctx, const prop_t *p, void *base, const char *v);

/* Keeps one line for the program to log (rf_conf_t.warnings). */
static int __attribute__((format(printf, 3, 4))) add_warning(ctx_t *ctx, rf_conf_t *conf, const char *fmt, ...) {
        va_list ap;
        char *line;
        int n;

        if (conf->warning_count >= sizeof(conf->warnings) / sizeof(conf->warnings[0]))
                return 0;
        va_start(ap, fmt);
        n = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (n < 0)
                return oom(ctx);
        conf->warnings[conf->warning_count++] = line;
        return 0;
}

/* @p m in group @p g under the old name of a renamed setting: loads it into
 * the new setting, with a warning. Returns -ENOENT when @p m is no old name. */
static int load_renamed(ctx_t *ctx, rf_conf_t *conf, const config_setting_t *g, const config_setting_t *m) {
        char full[160];

        snprintf(full, sizeof(full), "%s.%s", g->name, m->name);
        for (size_t i = 0; i < N_RENAMED; i++) {
                size_t idx;
                prop_t alias;
                int r;

                if (strcmp(renamed[i].old_name, full) != 0)
                        continue;
                idx = prop_index(renamed[i].new_name);
                if (config_setting_get_member(g, strchr(renamed[i].new_name, '.') + 1))
                        return fail_at(ctx, m, "%s and %s are the same setting (%s is its old name): set only %s",
                                       renamed[i].new_name, full, full, renamed[i].new_name);
                alias = props[idx];
                alias.name = renamed[i].old_name; /* messages name what the file says */
                r = load_value(ctx, &alias, conf, m, "");
                if (r < 0)
                        return r;
                ctx->line[idx] = config_setting_source_line(m);
                ctx->line_file[idx] = setting_file(ctx, m);
                return add_warning(ctx, conf, "%s:%u: %s is deprecated, it is now called %s (same meaning: %s)",
                                   setting_file(ctx, m), config_setting_source_line(m), full, renamed[i].new_name,
                                   alias.desc);
        }
        return -ENOENT;
}

/* The environment variables of renamed settings, under their old names. */
static int load_env_renamed(ctx_t *ctx, rf_conf_t *conf) {
        for (size_t i = 0; i < N_RENAMED; i++) {
                const char *v = getenv(renamed[i].old_env);
                size_t idx = prop_index(renamed[i].new_name);
                const char *now = props[idx].env ? getenv(props[idx].env) : NULL;
                prop_t alias;
                int r;

                if (!v || !*v)
                        continue;
                if (now && *now)
                        return fail_plain(ctx, "environment %s and %s set the same setting %s: set only %s",
                                          renamed[i].old_env, props[idx].env, renamed[i].new_name, props[idx].env);
                alias = props[idx];
                alias.env = renamed[i].old_env;
                r = load_env(ctx, &alias, conf, v);
                if (r < 0)
                        return r;
                ctx->from_env[idx] = true;
                r = add_warning(ctx, conf, "environment %s is deprecated, use %s (%s)", renamed[i].old_env,
                                props[idx].env, renamed[i].new_name);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_group(ctx_t *ctx, rf_conf_t *conf, const config_setting_t *g) {
        if (g->type != CONFIG_TYPE_GROUP)
                return fail_at(ctx, g, "%s: expected a group, %s = { ... };", g->name, g->name);
        for (int i = 0; i < config_setting_length(g); i++) {
                const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
                size_t idx;
                const prop_t *p = find_prop(props, N_PROPS, g->name, m->name, &idx);
                int r;

                if (!p) {
                        r = load_renamed(ctx, conf, g, m);
                        if (r == -ENOENT)
                                return fail_at(ctx, m, "unknown setting '%s.%s'", g->name, m->name);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = load_value(ctx, p, conf, m, "");
                if (r < 0)
                        return r;
                ctx->line[idx] = config_setting_source_line(m);
                ctx->line_file[idx] = setting_file(ctx, m);
        }
        return 0;
}

/* Loads one element of "scrapers" or "workflows" through @p tbl. */
static int load_item(ctx_t *ctx, const prop_t *tbl, size_t n, const char *kind, const config_setting_t *e, size_t index,
                     void *base) {
        const config_setting_t *name_s = NULL;
        char label[160];
        bool seen[MAX_ITEM_PROPS] = { false };
        size_t idx;
        int r;

        if (e->type != CONFIG_TYPE_GROUP)
                return fail_at(ctx, e, "%ss: element %zu is not a group { name = \"...\"; ... }", kind, index + 1);
        r = set_defaults(ctx, tbl, n, base);
        if (r < 0)
                return r;
        /* The name first: every later message names the entry. */
        snprintf(label, sizeof(label), "%s #%zu: ", kind, index + 1);
        name_s = config_setting_get_member(e, "name");
        if (!name_s)
                return fail_at(ctx, e, "%sname is not set", label);
        r = load_value(ctx, find_prop(tbl, n, NULL, "name", &idx), base, name_s, label);
        if (r < 0)
                return r;
        snprintf(label, sizeof(label), "%s '%.100s': ", kind, config_setting_get_string(name_s));

        for (int i = 0; i < config_setting_length(e); i++) {
                const config_setting_t *m = config_setting_get_elem(e, (unsigned)i);
                const prop_t *p = find_prop(tbl, n, NULL, m->name, &idx);

                if (!p)
                        return fail_at(ctx, m, "%sunknown setting '%s'", label, m->name);
                seen[idx] = true;
                if (m == name_s)
                        continue;
                r = load_value(ctx, p, base, m, label);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++)
                if ((tbl[i].flags & P_REQUIRED) && !seen[i])
                        return fail_at(ctx, e, "%s%s is not set", label, tbl[i].name);
        return 0;
}

typedef struct named {
        const char *name;
        size_t index;
} named_t;

static int by_name_then_index(const void *a, const void *b) {
        const named_t *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Fails on the first entry of @p list (in file order) whose name an earlier
 * entry has, naming the earlier one's line. @p names[i] is entry i's name.
 * Sorting makes it n log n: 10,000 workflows load in milliseconds. */
static int check_unique(ctx_t *ctx, const char *kind, const config_setting_t *list, const char *const *names,
                        size_t n) {
        named_t *sorted = calloc(n + 1, sizeof(*sorted));
        size_t dup = n, first = 0;

        if (!sorted)
                return oom(ctx);
        for (size_t i = 0; i < n; i++)
                sorted[i] = (named_t){ names[i], i };
        qsort(sorted, n, sizeof(*sorted), by_name_then_index);
        for (size_t i = 1, group = 0; i < n; i++) {
                if (strcmp(sorted[i].name, sorted[group].name) != 0) {
                        group = i;
                        continue;
                }
                if (sorted[i].index < dup) {
                        dup = sorted[i].index;
                        first = sorted[group].index;
                }
        }
        free(sorted);
        if (dup == n)
                return 0;
        {
                const config_setting_t *now =
                        config_setting_get_member(config_setting_get_elem(list, (unsigned)dup), "name");
                const config_setting_t *was =
                        config_setting_get_member(config_setting_get_elem(list, (unsigned)first), "name");

                return fail_at(ctx, now, "duplicate %s name '%s' (first defined at line %u)", kind, names[dup],
                               config_setting_source_line(was));
        }
}

/* check_unique() of the name at @p name_offset in each of @p n entries of
 * @p size bytes at @p items. */
static int check_unique_of(ctx_t *ctx, const char *kind, const config_setting_t *list, const void *items, size_t size,
                           size_t name_offset, size_t n) {
        const char **names = calloc(n + 1, sizeof(*names));
        int r;

        if (!names)
                return oom(ctx);
        for (size_t i = 0; i < n; i++)
                names[i] = *(const char *const *)((const char *)items + i * size + name_offset);
        r = check_unique(ctx, kind, list, names, n);
        free(names);
        return r;
}

static int load_scrapers(ctx_t *ctx, rf_conf_t *conf, const config_setting_t *list) {
        size_t n = (size_t)config_setting_length(list);
        int r;

        if (list->type != CONFIG_TYPE_LIST && !(list->type == CONFIG_TYPE_ARRAY && n == 0))
                return fail_at(ctx, list, "scrapers: expected a list of groups, scrapers = ( { name = ...; }, ... );");
        conf->scrapers = calloc(n + 1, sizeof(*conf->scrapers));
        if (!conf->scrapers)
                return oom(ctx);
        for (size_t i = 0; i < n; i++) {
                conf->scraper_count = i + 1;
                r = load_item(ctx, scraper_props, N_SCRAPER_PROPS, "scraper",
                              config_setting_get_elem(list, (unsigned)i), i, &conf->scrapers[i]);
                if (r < 0)
                        return r;
        }
        return check_unique_of(ctx, "scraper", list, conf->scrapers, sizeof(*conf->scrapers),
                               offsetof(rf_scraper_conf_t, name), n);
}

/* Whether workflow @p from reaches @p target through "after" edges, at most
 * @p depth steps deep (the workflow count bounds any path without a cycle). */
static bool depends_on(const rf_conf_t *conf, const char *from, const char *target, size_t depth) {
        const rf_workflow_conf_t *w = rf_conf_workflow(conf, from);

        if (strcmp(from, target) == 0)
                return true;
        if (!w || depth == 0)
                return false;
        for (size_t k = 0; k < w->after_count; k++)
                if (depends_on(conf, w->after[k], target, depth - 1))
                        return true;
        return false;
}

static int load_workflows(ctx_t *ctx, rf_conf_t *conf, const config_setting_t *list) {
        size_t n = (size_t)config_setting_length(list);
        int r;

        if (list->type != CONFIG_TYPE_LIST && !(list->type == CONFIG_TYPE_ARRAY && n == 0))
                return fail_at(ctx, list,
                               "workflows: expected a list of groups, workflows = ( { name = ...; }, ... );");
        conf->workflows = calloc(n + 1, sizeof(*conf->workflows));
        if (!conf->workflows)
                return oom(ctx);
        for (size_t i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
                rf_workflow_conf_t *wf = &conf->workflows[i];
                const config_setting_t *sched, *names;
                char why[256] = "";

                conf->workflow_count = i + 1;
                r = load_item(ctx, workflow_props, N_WORKFLOW_PROPS, "workflow", e, i, wf);
                if (r < 0)
                        return r;
                sched = config_setting_get_member(e, "schedule");
                r = rf_cron_parse(wf->schedule, &wf->cron, why, sizeof(why));
                if (r == -ENOMEM)
                        return oom(ctx);
                if (r < 0)
                        return fail_at(ctx, sched, "workflow '%s': schedule '%.100s': %s", wf->name, wf->schedule, why);

                names = config_setting_get_member(e, "scrapers");
                for (size_t k = 0; k < wf->scraper_count; k++) {
                        const config_setting_t *ks = config_setting_get_elem(names, (unsigned)k);
                        const config_setting_t *at = config_setting_source_line(ks) ? ks : names;

                        if (!rf_conf_scraper(conf, wf->scrapers[k]))
                                return fail_at(ctx, at, "workflow '%s' names unknown scraper '%s'", wf->name,
                                               wf->scrapers[k]);
                        for (size_t j = 0; j < k; j++)
                                if (strcmp(wf->scrapers[j], wf->scrapers[k]) == 0)
                                        return fail_at(ctx, at, "workflow '%s' names scraper '%s' twice", wf->name,
                                                       wf->scrapers[k]);
                }
                wf->window_start_min = wf->window_end_min = -1;
                if (wf->window)
                        rf_conf_window_parse(wf->window, &wf->window_start_min, &wf->window_end_min);
                wf->alert_after_ms = -1;
                if (wf->alert_after)
                        rf_duration_parse(wf->alert_after, &wf->alert_after_ms); /* checked by check_duration */
        }
        r = check_unique_of(ctx, "workflow", list, conf->workflows, sizeof(*conf->workflows),
                            offsetof(rf_workflow_conf_t, name), n);
        if (r < 0)
                return r;
        /* "after" names refer to any workflow, earlier or later in the list */
        for (size_t i = 0; i < n; i++) {
                const rf_workflow_conf_t *wf = &conf->workflows[i];
                const config_setting_t *at =
                        config_setting_get_member(config_setting_get_elem(list, (unsigned)i), "after");

                for (size_t k = 0; k < wf->after_count; k++) {
                        if (!rf_conf_workflow(conf, wf->after[k]))
                                return fail_at(ctx, at, "workflow '%s': after names unknown workflow '%s'", wf->name,
                                               wf->after[k]);
                        if (depends_on(conf, wf->after[k], wf->name, n))
                                return fail_at(ctx, at,
                                               "workflow '%s': after '%s' makes a cycle (neither could ever run)",
                                               wf->name, wf->after[k]);
                }
        }
        return 0;
}

/* Settings a workflow takes from the producer group unless it sets its own;
 * after the environment, which may override the producer's. Each value was
 * checked when it was loaded. */
static void resolve_workflow_defaults(rf_conf_t *conf) {
        for (size_t i = 0; i < conf->workflow_count; i++) {
                rf_workflow_conf_t *wf = &conf->workflows[i];

                rf_conf_catchup_parse(wf->catchup ? wf->catchup : conf->producer.catchup, &wf->catchup_policy);
                rf_duration_parse(wf->catchup_window ? wf->catchup_window : conf->producer.catchup_window,
                                  &wf->catchup_window_ms);
        }
}

/* Parses an environment value for @p p into @p base. */
static int load_env(ctx_t *ctx, const prop_t *p, void *base, const char *v) {
        char why[256];
        char *end;
        long long n;

        switch (p->type) {
        case P_STR:
                if (value_check(p, v, why, sizeof(why)) < 0)
                        return fail_plain(ctx, "environment %s: %s", p->env, why);
                return set_str(ctx, p, base, v);
        case P_INT:
                errno = 0;
                n = strtoll(v, &end, 10);
                if (end == v || *end || errno == ERANGE || isspace((unsigned char)*v))
                        return fail_plain(ctx, "environment %s: '%.100s' is not an integer", p->env, v);
                if (n < p->vmin || n > p->vmax)
                        return fail_plain(ctx, "environment %s: %lld is out of range [%d, %d]", p->env, n, p->vmin,
                                          p->vmax);
                *FIELD(base, p->offset, int) = (int)n;
                return 0;
        case P_BOOL:
                if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
                        *FIELD(base, p->offset, bool) = true;
                else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
                        *FIELD(base, p->offset, bool) = false;
                else
                        return fail_plain(ctx, "environment %s: '%.100s' is not true or false", p->env, v);
                return 0;
        case P_KVLIST:
        case P_STRLIST:
                break;
        }
        return -EINVAL;
}

/* RUNFLEET_KAFKA_PROPERTY_<NAME>=value sets the librdkafka property whose
 * name is NAME lower-cased with '_' for '.' (RUNFLEET_KAFKA_PROPERTY_SASL_PASSWORD
 * is sasl.password), over the file's kafka.properties, so that a secret
 * need not be written in the file. Empty counts as unset. */
#define KAFKA_PROPERTY_ENV "RUNFLEET_KAFKA_PROPERTY_"

extern char **environ;

static int load_env_kafka_properties(ctx_t *ctx, rf_conf_t *conf) {
        size_t plen = strlen(KAFKA_PROPERTY_ENV);

        for (char **e = environ; e && *e; e++) {
                const char *name = *e + plen, *eq = strchr(*e, '='), *value;
                char *key;
                size_t klen, i;

                if (strncmp(*e, KAFKA_PROPERTY_ENV, plen) != 0 || !eq || !eq[1])
                        continue;
                value = eq + 1;
                klen = (size_t)(eq - name);
                if (klen == 0 || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != klen)
                        return fail_plain(ctx,
                                          "environment %.*s: the name after " KAFKA_PROPERTY_ENV
                                          " must be a librdkafka property in capitals, '_' for '.'",
                                          (int)(eq - *e), *e);
                key = strndup(name, klen);
                if (!key)
                        return -ENOMEM;
                for (char *k = key; *k; k++)
                        *k = *k == '_' ? '.' : (char)tolower((unsigned char)*k);
                for (i = 0; i < conf->kafka.property_count; i++)
                        if (strcmp(conf->kafka.properties[i].key, key) == 0)
                                break;
                if (i == conf->kafka.property_count) {
                        rf_kv_t *kv = realloc(conf->kafka.properties, (i + 1) * sizeof(*kv));
                        if (!kv) {
                                free(key);
                                return -ENOMEM;
                        }
                        conf->kafka.properties = kv;
                        kv[i].key = key;
                        kv[i].value = NULL;
                        conf->kafka.property_count++;
                } else
                        free(key);
                free(conf->kafka.properties[i].value);
                conf->kafka.properties[i].value = strdup(value);
                if (!conf->kafka.properties[i].value)
                        return -ENOMEM;
        }
        return 0;
}

/* "file:line" of a top-level setting, "environment VAR", or "file". */
static void where(const ctx_t *ctx, size_t idx, char *buf, size_t size) {
        if (ctx->from_env[idx])
                snprintf(buf, size, "environment %s", props[idx].env);
        else if (ctx->line[idx])
                snprintf(buf, size, "%s:%u", ctx->line_file[idx], ctx->line[idx]);
        else
                snprintf(buf, size, "%s", ctx->file);
}

static size_t prop_index(const char *name) {
        for (size_t i = 0; i < N_PROPS; i++)
                if (strcmp(props[i].name, name) == 0)
                        return i;
        abort(); /* a name below that is not in the table is a programming error */
}

/* "@p a must be longer than @p b", located at whichever was set explicitly. */
static int check_longer(ctx_t *ctx, const rf_conf_t *conf, const char *a, const char *b) {
        size_t ia = prop_index(a), ib = prop_index(b);
        int va = *FIELD(conf, props[ia].offset, int), vb = *FIELD(conf, props[ib].offset, int);
        char loc[300];

        if (va > vb)
                return 0;
        where(ctx, (ctx->from_env[ia] || ctx->line[ia]) ? ia : ib, loc, sizeof(loc));
        return fail_plain(ctx, "%s: %s (%d) must be longer than %s (%d)", loc, a, va, b, vb);
}

/* Joins scraping.base_url and each scraper URL that is a path, so that the
 * programs see whole URLs; one setting (or RUNFLEET_SCRAPING_BASE_URL) then
 * moves every scraper, e.g. to the port a local fake scraper was given. */
static int resolve_scraper_urls(ctx_t *ctx, rf_conf_t *conf, const config_setting_t *list) {
        const char *base = conf->scraping.base_url;
        size_t base_len = base ? strlen(base) : 0;

        while (base_len > 0 && base[base_len - 1] == '/') /* "http://h:1/" + "/x": one slash */
                base_len--;
        for (size_t i = 0; i < conf->scraper_count; i++) {
                rf_scraper_conf_t *sc = &conf->scrapers[i];
                const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
                const config_setting_t *url_s = e ? config_setting_get_member(e, "url") : NULL;
                char *joined;

                if (sc->url[0] != '/')
                        continue;
                if (!base)
                        return fail_at(ctx, url_s ? url_s : list,
                                       "scraper '%s': url '%.100s' is a path, and scraping.base_url is not set "
                                       "(set it in the file or RUNFLEET_SCRAPING_BASE_URL)",
                                       sc->name, sc->url);
                if (asprintf(&joined, "%.*s%s", (int)base_len, base, sc->url) < 0)
                        return oom(ctx);
                free(sc->url);
                sc->url = joined;
        }
        return 0;
}

static int validate(ctx_t *ctx, rf_conf_t *conf) {
        char loc[300];
        int r;

        for (size_t i = 0; i < N_PROPS; i++)
                if ((props[i].flags & P_REQUIRED) && !*FIELD(conf, props[i].offset, char *))
                        return fail_plain(ctx, "%s: %s is not set (set it in the file or %s)", ctx->file, props[i].name,
                                          props[i].env);
        r = check_longer(ctx, conf, "worker.lease_ms", "worker.heartbeat_ms");
        if (r < 0)
                return r;
        r = check_longer(ctx, conf, "reaper.grace_ms", "kafka.delivery_timeout_ms");
        if (r < 0)
                return r;
        if (conf->kafka.replication_factor > 0 && conf->kafka.min_insync_replicas > conf->kafka.replication_factor) {
                size_t i = prop_index("kafka.min_insync_replicas");

                where(ctx, (ctx->from_env[i] || ctx->line[i]) ? i : prop_index("kafka.replication_factor"), loc,
                      sizeof(loc));
                return fail_plain(ctx,
                                  "%s: kafka.min_insync_replicas (%d) must not exceed kafka.replication_factor (%d)",
                                  loc, conf->kafka.min_insync_replicas, conf->kafka.replication_factor);
        }
        if (conf->tracing.queue_size < conf->tracing.batch_size) {
                size_t i = prop_index("tracing.queue_size");

                where(ctx, (ctx->from_env[i] || ctx->line[i]) ? i : prop_index("tracing.batch_size"), loc, sizeof(loc));
                return fail_plain(ctx, "%s: tracing.queue_size (%d) must be at least tracing.batch_size (%d)", loc,
                                  conf->tracing.queue_size, conf->tracing.batch_size);
        }
        if (strcmp(conf->kafka.topic, conf->kafka.dlq_topic) == 0) {
                size_t i = prop_index("kafka.dlq_topic");

                where(ctx, (ctx->from_env[i] || ctx->line[i]) ? i : prop_index("kafka.topic"), loc, sizeof(loc));
                return fail_plain(ctx, "%s: kafka.dlq_topic must differ from kafka.topic ('%s')", loc,
                                  conf->kafka.topic);
        }
        if (strcmp(conf->kafka.value_format, "schema-registry") == 0 && !conf->schema_registry.url) {
                where(ctx, prop_index("kafka.value_format"), loc, sizeof(loc));
                return fail_plain(ctx,
                                  "%s: kafka.value_format = \"schema-registry\" needs schema_registry.url "
                                  "(or RUNFLEET_SCHEMA_REGISTRY_URL)",
                                  loc);
        }
        return 0;
}

static int load_config(config_t *cfg, const char *file, rf_conf_t **ret_conf, char *errstr, size_t errstr_size) {
        ctx_t ctx = { .file = file, .errstr = errstr, .errstr_size = errstr_size };
        const config_setting_t *root = config_root_setting(cfg), *scrapers = NULL, *workflows = NULL;
        rf_conf_t *conf;
        int r;

        conf = calloc(1, sizeof(*conf));
        if (!conf)
                return oom(&ctx);
        conf->path = strdup(file);
        if (!conf->path) {
                r = oom(&ctx);
                goto fail;
        }
        r = set_defaults(&ctx, props, N_PROPS, conf);
        if (r < 0)
                goto fail;

        for (int i = 0; i < config_setting_length(root); i++) {
                const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);

                if (strcmp(s->name, "scrapers") == 0)
                        scrapers = s;
                else if (strcmp(s->name, "workflows") == 0)
                        workflows = s;
                else if (is_group_name(s->name)) {
                        r = load_group(&ctx, conf, s);
                        if (r < 0)
                                goto fail;
                } else {
                        r = fail_at(&ctx, s, "unknown setting '%s'", s->name);
                        goto fail;
                }
        }
        /* Scrapers before workflows, whatever the order in the file:
         * workflows refer to scrapers by name. */
        if (scrapers) {
                r = load_scrapers(&ctx, conf, scrapers);
                if (r < 0)
                        goto fail;
        }
        if (workflows) {
                r = load_workflows(&ctx, conf, workflows);
                if (r < 0)
                        goto fail;
        }

        for (size_t i = 0; i < N_PROPS; i++) {
                const char *v = props[i].env ? getenv(props[i].env) : NULL;

                if (!v || !*v)
                        continue;
                r = load_env(&ctx, &props[i], conf, v);
                if (r < 0)
                        goto fail;
                ctx.from_env[i] = true;
        }
        r = load_env_renamed(&ctx, conf);
        if (r < 0)
                goto fail;
        r = load_env_kafka_properties(&ctx, conf);
        if (r < 0)
                goto fail;
        /* after the environment: a workflow's unset overlap,
         * pause_after_failures and catch-up take the producer's, which it
         * may override */
        for (size_t i = 0; i < conf->workflow_count; i++) {
                rf_workflow_conf_t *wf = &conf->workflows[i];

                if (!wf->overlap_name && !(wf->overlap_name = strdup(conf->producer.overlap))) {
                        r = oom(&ctx);
                        goto fail;
                }
                wf->overlap = (rf_overlap_t)rf_overlap_from_name(wf->overlap_name);
                if (wf->pause_after_failures < 0)
                        wf->pause_after_failures = conf->producer.pause_after_failures;
        }
        resolve_workflow_defaults(conf);
        if (scrapers) {
                r = resolve_scraper_urls(&ctx, conf, scrapers);
                if (r < 0)
                        goto fail;
        }
        r = validate(&ctx, conf);
        if (r < 0)
                goto fail;
        conf->reaper.alert_after_ms = 0;
        if (conf->reaper.alert_after)
                rf_duration_parse(conf->reaper.alert_after, &conf->reaper.alert_after_ms); /* checked */
        *ret_conf = conf;
        return 0;
fail:
        rf_conf_destroy(conf);
        return r;
}

static int syntax_error(config_t *cfg, const char *file, char *errstr, size_t errstr_size) {
        ctx_t ctx = { .file = file, .errstr = errstr, .errstr_size = errstr_size };
        const char *f = config_error_file(cfg) ? config_error_file(cfg) : file;

        return fail_line(&ctx, f, (unsigned)(config_error_line(cfg) > 0 ? config_error_line(cfg) : 0), "%s",
                         config_error_text(cfg) ? config_error_text(cfg) : "cannot parse");
}

int rf_conf_load(const char *path, rf_conf_t **ret_conf, char *errstr, size_t errstr_size) {
        config_t cfg;
        struct stat st;
        char *dir = NULL, *slash;
        FILE *f;
        int r;

        if (!path || !*path)
                path = getenv("RUNFLEET_CONFIG");
        if (!path || !*path) {
                snprintf(errstr, errstr_size, "no configuration file: pass -c FILE or set RUNFLEET_CONFIG");
                return -ENOENT;
        }
        f = fopen(path, "re");
        if (!f)
                r = -errno;
        else if (fstat(fileno(f), &st) < 0)
                r = -errno;
        else if (S_ISDIR(st.st_mode))
                r = -EISDIR;
        else
                r = 0;
        if (r < 0) {
                snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(-r));
                one_line(errstr);
                if (f)
                        fclose(f);
                return r;
        }
        config_init(&cfg);
        /* @include "x.cfg" is relative to the including file's directory. */
        dir = strdup(path);
        if (dir && (slash = strrchr(dir, '/'))) {
                *slash = 0;
                config_set_include_dir(&cfg, *dir ? dir : "/");
        }
        if (!config_read(&cfg, f))
                r = syntax_error(&cfg, path, errstr, errstr_size);
        else
                r = load_config(&cfg, path, ret_conf, errstr, errstr_size);
        fclose(f);
        config_destroy(&cfg);
        free(dir);
        return r;
}

int rf_conf_load_string(const char *text, const char *name, rf_conf_t **ret_conf, char *errstr, size_t errstr_size) {
        config_t cfg;
        int r;

        if (!name)
                name = "(string)";
        config_init(&cfg);
        if (!config_read_string(&cfg, text ? text : ""))
                r = syntax_error(&cfg, name, errstr, errstr_size);
        else
                r = load_config(&cfg, name, ret_conf, errstr, errstr_size);
        config_destroy(&cfg);
        return r;
}

void rf_conf_destroy(rf_conf_t *conf) {
        if (!conf)
                return;
        free_values(props, N_PROPS, conf);
        for (size_t i = 0; i < conf->scraper_count; i++)
                free_values(scraper_props, N_SCRAPER_PROPS, &conf->scrapers[i]);
        free(conf->scrapers);
        for (size_t i = 0; i < conf->workflow_count; i++) {
                free_values(workflow_props, N_WORKFLOW_PROPS, &conf->workflows[i]);
                rf_cron_destroy(conf->workflows[i].cron);
        }
        free(conf->workflows);
        for (size_t i = 0; i < conf->warning_count; i++)
                free(conf->warnings[i]);
        free(conf->path);
        free(conf);
}

int64_t rf_conf_alert_after_ms(const rf_conf_t *conf, const rf_workflow_conf_t *wf) {
        return wf->alert_after_ms >= 0 ? wf->alert_after_ms : conf->reaper.alert_after_ms;
}

const rf_scraper_conf_t *rf_conf_scraper(const rf_conf_t *conf, const char *name) {
        for (size_t i = 0; conf && name && i < conf->scraper_count; i++)
                if (conf->scrapers[i].name && strcmp(conf->scrapers[i].name, name) == 0)
                        return &conf->scrapers[i];
        return NULL;
}

const rf_workflow_conf_t *rf_conf_workflow(const rf_conf_t *conf, const char *name) {
        for (size_t i = 0; conf && name && i < conf->workflow_count; i++)
                if (conf->workflows[i].name && strcmp(conf->workflows[i].name, name) == 0)
                        return &conf->workflows[i];
        return NULL;
}

/* ---- printing --------------------------------------------------------- */

/* A libconfig string literal. */
static void print_string(FILE *out, const char *s) {
        fputc('"', out);
        for (; s && *s; s++) {
                unsigned char c = (unsigned char)*s;

                if (c == '"' || c == '\\')
                        fprintf(out, "\\%c", c);
                else if (c == '\n')
                        fputs("\\n", out);
                else if (c == '\t')
                        fputs("\\t", out);
                else if (c < 0x20 || c == 0x7f)
                        fprintf(out, "\\x%02x", c);
                else
                        fputc(c, out);
        }
        fputc('"', out);
}

static void print_value(FILE *out, const prop_t *p, const void *base, const char *member, const char *indent) {
        switch (p->type) {
        case P_STR: {
                const char *v = *FIELD(base, p->offset, char *);
                char *masked = NULL;

                if (!v)
                        return; /* required and unset: only possible on a failed load */
                fprintf(out, "%s%s = ", indent, member);
                if (p->flags & P_SECRET)
                        v = "****";
                else if (p->flags & (P_SECRET_DSN | P_SECRET_URL)) {
                        masked = (p->flags & P_SECRET_DSN) ? rf_conf_mask_dsn(v) : mask_url(v);
                        v = masked ? masked : "****";
                }
                print_string(out, v);
                fputs(";\n", out);
                free(masked);
                break;
        }
        case P_INT:
                fprintf(out, "%s%s = %d;\n", indent, member, *FIELD(base, p->offset, int));
                break;
        case P_BOOL:
                fprintf(out, "%s%s = %s;\n", indent, member, *FIELD(base, p->offset, bool) ? "true" : "false");
                break;
        case P_KVLIST: {
                const rf_kv_t *kv = *FIELD(base, p->offset, rf_kv_t *);
                size_t n = *FIELD(base, p->count_offset, size_t);

                fprintf(out, "%s%s = (", indent, member);
                for (size_t i = 0; i < n; i++) {
                        fprintf(out, "%s\n%s  (", i ? "," : "", indent);
                        print_string(out, kv[i].key);
                        fputs(", ", out);
                        print_string(out, kafka_key_is_secret(kv[i].key) ? "****" : kv[i].value);
                        fputc(')', out);
                }
                fprintf(out, n ? "\n%s);\n" : "%s);\n", n ? indent : "");
                break;
        }
        case P_STRLIST: {
                char *const *v = *FIELD(base, p->offset, char **);
                size_t n = *FIELD(base, p->count_offset, size_t);

                if (n == 0)
                        return; /* optional and unset; "[]" would not load again */
                fprintf(out, "%s%s = [", indent, member);
                for (size_t i = 0; i < n; i++) {
                        fputs(i ? ", " : "", out);
                        print_string(out, v[i]);
                }
                fputs("];\n", out);
                break;
        }
        }
}

static void print_items(FILE *out, const char *list, const prop_t *tbl, size_t n, const void *items, size_t size,
                        size_t count) {
        fprintf(out, "\n%s = (", list);
        for (size_t i = 0; i < count; i++) {
                fprintf(out, "%s\n  {\n", i ? "," : "");
                for (size_t j = 0; j < n; j++)
                        print_value(out, &tbl[j], (const char *)items + i * size, tbl[j].name, "    ");
                fputs("  }", out);
        }
        fputs(count ? "\n);\n" : ");\n", out);
}

void rf_conf_print(const rf_conf_t *conf, FILE *out) {
        size_t glen = 0;
        const char *group = NULL;

        fprintf(out, "# runfleet effective configuration, loaded from ");
        for (const char *p = conf->path; p && *p; p++)
                fputc((unsigned char)*p < 0x20 ? '?' : *p, out);
        fputs("; secrets masked\n", out);
        for (size_t i = 0; i < N_PROPS; i++) {
                const prop_t *p = &props[i];
                const char *dot = strchr(p->name, '.');

                if (!group || (size_t)(dot - p->name) != glen || strncmp(p->name, group, glen) != 0) {
                        if (group)
                                fputs("};\n", out);
                        group = p->name;
                        glen = (size_t)(dot - p->name);
                        fprintf(out, "\n%.*s = {\n", (int)glen, group);
                }
                print_value(out, p, conf, dot + 1, "  ");
        }
        if (group)
                fputs("};\n", out);
        print_items(out, "scrapers", scraper_props, N_SCRAPER_PROPS, conf->scrapers, sizeof(*conf->scrapers),
                    conf->scraper_count);
        print_items(out, "workflows", workflow_props, N_WORKFLOW_PROPS, conf->workflows, sizeof(*conf->workflows),
                    conf->workflow_count);
}

static const char *type_name(ptype_t t) {
        switch (t) {
        case P_STR:
                return "string";
        case P_INT:
                return "int";
        case P_BOOL:
                return "bool";
        case P_KVLIST:
                return "pairs";
        case P_STRLIST:
                return "names";
        }
        return "?";
}

/* Writes @p s as one Markdown table cell: '|' would end the cell and
 * "<N>" would be read as an HTML tag. */
static void md_cell(FILE *out, const char *s) {
        for (; *s; s++) {
                if (*s == '|')
                        fputs("\\|", out);
                else if (*s == '<')
                        fputs("&lt;", out);
                else
                        fputc(*s, out);
        }
}

static void help_rows(FILE *out, const char *prefix, const prop_t *tbl, size_t n, bool markdown) {
        for (size_t i = 0; i < n; i++) {
                const prop_t *p = &tbl[i];
                char name[64], def[64], range[32];

                snprintf(name, sizeof(name), "%s%s", prefix, p->name);
                if (p->type == P_INT && p->idef < p->vmin) {
                        /* a workflow's setting that takes the producer's when unset */
                        snprintf(def, sizeof(def), "(producer.%s)", p->name);
                        snprintf(range, sizeof(range), "%d..%d", p->vmin, p->vmax);
                } else if (p->type == P_INT) {
                        snprintf(def, sizeof(def), "%d", p->idef);
                        snprintf(range, sizeof(range), "%d..%d", p->vmin, p->vmax);
                } else {
                        if (p->type == P_BOOL)
                                snprintf(def, sizeof(def), "%s", p->idef ? "true" : "false");
                        else if (p->type == P_STR && p->sdef)
                                snprintf(def, sizeof(def), "\"%s\"", p->sdef);
                        else
                                snprintf(def, sizeof(def), "%s", (p->flags & P_REQUIRED) ? "(required)" : "(none)");
                        snprintf(range, sizeof(range), "-");
                }
                if (markdown) {
                        fprintf(out, "| `%s` | %s | %s | %s | %s%s%s | ", name, type_name(p->type), def, range,
                                p->env ? "`" : "", p->env ? p->env : "-", p->env ? "`" : "");
                        md_cell(out, p->desc);
                        fputs(" |\n", out);
                        continue;
                }
                fprintf(out, "%-28s %-6s %-24s %-16s %-36s %s\n", name, type_name(p->type), def, range,
                        p->env ? p->env : "-", p->desc);
        }
}

void rf_conf_help(FILE *out) {
        fprintf(out, "%-28s %-6s %-24s %-16s %-36s %s\n", "SETTING", "TYPE", "DEFAULT", "RANGE", "ENVIRONMENT",
                "DESCRIPTION");
        help_rows(out, "", props, N_PROPS, false);
        help_rows(out, "scrapers[].", scraper_props, N_SCRAPER_PROPS, false);
        help_rows(out, "workflows[].", workflow_props, N_WORKFLOW_PROPS, false);
        for (size_t i = 0; i < N_RENAMED; i++)
                fprintf(out,
                        "renamed: %s is now %s (environment %s is now %s); the old names still work, with a "
                        "warning\n",
                        renamed[i].old_name, renamed[i].new_name, renamed[i].old_env,
                        props[prop_index(renamed[i].new_name)].env);
        fputs("Durations are integers in milliseconds (the _ms settings). The environment overrides the file;\n"
              "an empty variable counts as unset. RUNFLEET_CONFIG names the file when -c is not given.\n",
              out);
}

void rf_conf_help_markdown(FILE *out) {
        fputs("| setting | type | default | range | environment | meaning |\n"
              "| --- | --- | --- | --- | --- | --- |\n",
              out);
        help_rows(out, "", props, N_PROPS, true);
        help_rows(out, "scrapers[].", scraper_props, N_SCRAPER_PROPS, true);
        help_rows(out, "workflows[].", workflow_props, N_WORKFLOW_PROPS, true);
        fputs("\n", out);
        for (size_t i = 0; i < N_RENAMED; i++)
                fprintf(out,
                        "Renamed: `%s` is now `%s` (environment `%s` is now `%s`); the old names still work, "
                        "with a warning.\n",
                        renamed[i].old_name, renamed[i].new_name, renamed[i].old_env,
                        props[prop_index(renamed[i].new_name)].env);
        fputs("Durations are integers in milliseconds (the `_ms` settings). The environment overrides the file;\n"
              "an empty variable counts as unset. `RUNFLEET_CONFIG` names the file when `-c` is not given.\n",
              out);
}
