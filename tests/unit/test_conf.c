/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for rf_conf: a good file with every kind of setting, one bad
 * file per kind of error (exact messages with file:line), environment
 * overrides, print -> reload round trip, masking of secrets, the --help
 * table walked entry by entry, and the shipped config/ files. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_conf.h"
#include "rf_test.h"

#define CONF_DIR RF_SOURCE_ROOT "/tests/unit/conf/"

extern char **environ;

/* The tests must not see the developer's or CI's RUNFLEET_* variables. */
static void clear_env(void) {
        for (;;) {
                char name[256];
                bool found = false;

                for (char **e = environ; *e; e++)
                        if (strncmp(*e, "RUNFLEET_", 9) == 0) {
                                size_t n = strcspn(*e, "=");

                                snprintf(name, sizeof(name), "%.*s", (int)n, *e);
                                found = true;
                                break;
                        }
                if (!found)
                        return;
                unsetenv(name);
        }
}

static char *print_to_string(const rf_conf_t *conf) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        rf_conf_print(conf, f);
        fclose(f);
        return buf;
}

static rf_conf_t *load_ok(const char *path) {
        rf_conf_t *conf = NULL;
        char err[512] = "";
        int r = rf_conf_load(path, &conf, err, sizeof(err));

        CHECK(r == 0);
        if (r < 0)
                fprintf(stderr, "loading %s: %s\n", path, err);
        return conf;
}

/* Loading CONF_DIR/@p name fails with "<path><suffix>". */
static void check_file_error(const char *name, const char *suffix) {
        char path[512], want[1024], err[512] = "";
        rf_conf_t *conf = NULL;

        snprintf(path, sizeof(path), "%s%s", CONF_DIR, name);
        snprintf(want, sizeof(want), "%s%s", path, suffix);
        CHECK(rf_conf_load(path, &conf, err, sizeof(err)) == -EINVAL);
        CHECK(conf == NULL);
        CHECK_STR_EQ(err, want);
        CHECK(strchr(err, '\n') == NULL);
}

/* Loading @p text (named "t.cfg") fails with @p want. */
static void check_string_error_at(int line, const char *text, const char *want) {
        char err[512] = "";
        rf_conf_t *conf = NULL;
        int r = rf_conf_load_string(text, "t.cfg", &conf, err, sizeof(err));

        CHECK(r < 0);
        CHECK(conf == NULL);
        CHECK_STR_EQ(err, want);
        if (r == 0 || strcmp(err, want) != 0)
                fprintf(stderr, "  (from line %d)\n", line);
        rf_conf_destroy(conf);
}

#define check_string_error(text, want) check_string_error_at(__LINE__, text, want)

#define BASE "kafka = { brokers = \"b:9092\"; };\ndatabase = { url = \"dbname=x\"; };\n"
/* the same two lines, with more kafka settings to follow */
#define KBASE "database = { url = \"dbname=x\"; };\n\nkafka = { brokers = \"b:9092\"; "

static void test_good(void) {
        rf_conf_t *conf = load_ok(CONF_DIR "good.cfg");
        const rf_workflow_conf_t *wf;
        const rf_scraper_conf_t *sc;

        if (!conf)
                return;
        CHECK_STR_EQ(conf->path, CONF_DIR "good.cfg");
        CHECK_STR_EQ(conf->kafka.brokers, "k1:9092,k2:9092");
        CHECK_STR_EQ(conf->kafka.topic, "t.decisions");
        CHECK_STR_EQ(conf->kafka.dlq_topic, "t.decisions.dlq");
        CHECK_STR_EQ(conf->kafka.group, "t-workers");
        CHECK(conf->kafka.partitions == 24);
        CHECK(conf->kafka.replication_factor == 3);
        CHECK(conf->kafka.delivery_timeout_ms == 20000);
        CHECK(conf->kafka.session_timeout_ms == 15000);
        CHECK(conf->kafka.max_poll_interval_ms == 600000);
        CHECK(conf->kafka.property_count == 6);
        if (conf->kafka.property_count == 6) {
                CHECK_STR_EQ(conf->kafka.properties[0].key, "security.protocol");
                CHECK_STR_EQ(conf->kafka.properties[0].value, "SASL_SSL");
                CHECK_STR_EQ(conf->kafka.properties[3].key, "sasl.password");
                CHECK_STR_EQ(conf->kafka.properties[3].value, "kafka-pw-do-not-print");
                CHECK_STR_EQ(conf->kafka.properties[4].key, "sasl.oauthbearer.client.secret");
                CHECK_STR_EQ(conf->kafka.properties[5].value, "quote\" back\\slash\ttab");
        }
        CHECK_STR_EQ(conf->database.url,
                     "postgresql://runfleet:db-pw-do-not-print@db.example:5432/runfleet?sslmode=require");
        CHECK_STR_EQ(conf->producer.timezone, "America/New_York");
        CHECK(conf->producer.every_ms == 30000);
        CHECK(conf->worker.max_in_flight == 2500);
        CHECK(conf->worker.lease_ms == 45000);
        CHECK(conf->worker.heartbeat_ms == 9000);
        CHECK(conf->worker.commit_interval_ms == 500);
        CHECK(conf->worker.drain_timeout_ms == 25000);
        CHECK(conf->worker.max_response_bytes == 131072);
        CHECK(conf->reaper.interval_ms == 7000);
        CHECK(conf->reaper.grace_ms == 90000);
        CHECK(conf->reaper.max_failed_executions == 7);
        CHECK(conf->reaper.backoff_ms == 0);
        CHECK_STR_EQ(conf->http.listen, "0.0.0.0");
        CHECK(conf->http.port == 9464);
        CHECK_STR_EQ(conf->log.level, "warn");

        CHECK(conf->scraper_count == 4);
        sc = rf_conf_scraper(conf, "events");
        CHECK(sc && sc->timeout_ms == 60000);
        CHECK(sc && strcmp(sc->url, "http://127.0.0.1:18080/events?delay_ms=50") == 0);
        sc = rf_conf_scraper(conf, "lines");
        CHECK(sc && sc->timeout_ms == 30000); /* default */
        CHECK(rf_conf_scraper(conf, "player_props") && rf_conf_scraper(conf, "player_props")->timeout_ms == 1);
        CHECK(rf_conf_scraper(conf, "nope") == NULL);
        CHECK(rf_conf_scraper(conf, NULL) == NULL);

        CHECK(conf->workflow_count == 3);
        wf = rf_conf_workflow(conf, "betting_lines");
        CHECK(wf != NULL);
        if (wf) {
                CHECK_STR_EQ(wf->schedule, "0 * * * *");
                CHECK(wf->cron != NULL);
                CHECK(wf->scraper_count == 3);
                CHECK_STR_EQ(wf->scrapers[2], "player_props");
                CHECK(wf->deadline_ms == 900000);
                CHECK(wf->enabled);
                CHECK_STR_EQ(wf->window, "12:00-18:00");
                CHECK(wf->window_start_min == 720 && wf->window_end_min == 1080);
                CHECK(wf->max_runs_per_day == 2);
                CHECK(wf->after_count == 1 && wf->after && strcmp(wf->after[0], "tick") == 0);
        }
        wf = rf_conf_workflow(conf, "referee_discovery");
        CHECK(wf && wf->scraper_count == 1 && !wf->enabled && wf->deadline_ms == 600000);
        wf = rf_conf_workflow(conf, "tick");
        CHECK(wf && wf->enabled && wf->cron);
        /* defaults: no window, no limit, no dependency */
        CHECK(wf && !wf->window && wf->window_start_min == -1 && wf->window_end_min == -1);
        CHECK(wf && wf->max_runs_per_day == 0 && wf->after_count == 0);
        CHECK(wf && wf->max_active_runs == 0);
        {
                /* worker defaults: a few retries, a breaker, no rate limit */
                const rf_scraper_conf_t *first = &conf->scrapers[0];
                CHECK(first->max_tries == 3 && first->retry_backoff_ms == 500);
                CHECK(first->breaker_failures == 5 && first->breaker_cooldown_ms == 30000);
                CHECK(first->rate_per_s == 0 && first->rate_group == NULL);
        }
        if (wf && wf->cron) {
                int64_t t = 0;

                CHECK(rf_cron_next(wf->cron, conf->producer.timezone, 1000000005, &t) == 0 && t == 1000000020);
        }
        CHECK(rf_conf_workflow(conf, "nope") == NULL);
        rf_conf_destroy(conf);
        rf_conf_destroy(NULL);
}

static void test_defaults(void) {
        rf_conf_t *conf = NULL;
        char err[256] = "";

        CHECK(rf_conf_load_string(BASE, "t.cfg", &conf, err, sizeof(err)) == 0);
        if (!conf) {
                fprintf(stderr, "%s\n", err);
                return;
        }
        CHECK_STR_EQ(conf->kafka.topic, "runfleet.decisions");
        CHECK_STR_EQ(conf->kafka.dlq_topic, "runfleet.decisions.dlq");
        CHECK_STR_EQ(conf->kafka.group, "runfleet-workers");
        CHECK(conf->kafka.partitions == 12);
        CHECK(conf->kafka.replication_factor == 0);  /* min(3, brokers), resolved by migrate */
        CHECK(conf->kafka.min_insync_replicas == 0); /* replication factor - 1, at least 1 */
        CHECK(conf->kafka.delivery_timeout_ms == 30000);
        CHECK(conf->kafka.session_timeout_ms == 10000);
        CHECK(conf->kafka.max_poll_interval_ms == 300000);
        CHECK(conf->kafka.property_count == 0 && conf->kafka.properties == NULL);
        CHECK_STR_EQ(conf->producer.timezone, "UTC");
        CHECK(conf->producer.every_ms == 60000);
        CHECK(conf->worker.max_in_flight == 1000);
        CHECK(conf->worker.lease_ms == 30000);
        CHECK(conf->worker.heartbeat_ms == 5000);
        CHECK(conf->worker.commit_interval_ms == 1000);
        CHECK(conf->worker.drain_timeout_ms == 20000);
        CHECK(conf->worker.max_response_bytes == 65536);
        CHECK(conf->reaper.interval_ms == 5000);
        CHECK(conf->reaper.grace_ms == 60000);
        CHECK(conf->reaper.max_failed_executions == 5);
        CHECK(conf->reaper.backoff_ms == 10000);
        CHECK(conf->reaper.webhook_url == NULL);
        CHECK(conf->reaper.webhook_timeout_ms == 5000);
        CHECK(conf->reaper.webhook_backoff_ms == 5000);
        CHECK_STR_EQ(conf->http.listen, "127.0.0.1");
        CHECK(conf->http.port == 0);
        CHECK(conf->scraper_count == 0 && conf->workflow_count == 0);
        CHECK_STR_EQ(conf->path, "t.cfg");
        rf_conf_destroy(conf);
}

static void test_file_errors(void) {
        check_file_error("syntax.cfg", ":4: syntax error");
        check_file_error("wrong_type.cfg", ":4: worker.max_in_flight: expected an integer");
        check_file_error("out_of_range.cfg", ":5: worker.max_in_flight: 0 is out of range [1, 100000]");
        check_file_error("unknown_setting.cfg", ":4: unknown setting 'worker.max_inflight'");
        check_file_error("unknown_group.cfg", ":3: unknown setting 'wroker'");
        check_file_error("unknown_scraper.cfg", ":10: workflow 'betting_lines' names unknown scraper 'linez'");
        check_file_error("duplicate_scraper.cfg", ":6: duplicate scraper name 'events' (first defined at line 4)");
        check_file_error("duplicate_workflow.cfg", ":6: duplicate workflow name 'w' (first defined at line 5)");
        check_file_error("bad_schedule.cfg",
                         ":6: workflow 'nightly': schedule '0 25 * * *': hour: 25 is out of range 0-23");
        check_file_error("bad_timezone.cfg", ":4: producer.timezone: unknown time zone 'America/Nwe_York'");
        check_file_error("missing_brokers.cfg",
                         ": kafka.brokers is not set (set it in the file or RUNFLEET_KAFKA_BROKERS)");
        check_file_error("lease.cfg", ":5: worker.lease_ms (3000) must be longer than worker.heartbeat_ms (5000)");
        check_file_error("grace.cfg",
                         ":3: reaper.grace_ms (20000) must be longer than kafka.delivery_timeout_ms (30000)");
        check_file_error("scraper_unknown_setting.cfg", ":6: scraper 'events': unknown setting 'timeout'");
        check_file_error("bad_url.cfg",
                         ":4: scraper 'events': url: 'ftp://127.0.0.1/events' does not start with http:// or https://");
}

static void test_include(void) {
        rf_conf_t *conf = load_ok(CONF_DIR "include.cfg");

        CHECK(conf && conf->kafka.property_count == 1);
        if (conf && conf->kafka.property_count == 1)
                CHECK_STR_EQ(conf->kafka.properties[0].value, "included-pw");
        rf_conf_destroy(conf);
}

static void test_open_errors(void) {
        rf_conf_t *conf = NULL;
        char err[512] = "";

        CHECK(rf_conf_load(CONF_DIR "does-not-exist.cfg", &conf, err, sizeof(err)) == -ENOENT);
        CHECK_STR_EQ(err, CONF_DIR "does-not-exist.cfg: cannot open: No such file or directory");
        CHECK(rf_conf_load(CONF_DIR, &conf, err, sizeof(err)) == -EISDIR);
        CHECK_STR_EQ(err, CONF_DIR ": cannot open: Is a directory");

        unsetenv("RUNFLEET_CONFIG");
        CHECK(rf_conf_load(NULL, &conf, err, sizeof(err)) < 0);
        CHECK_STR_EQ(err, "no configuration file: pass -c FILE or set RUNFLEET_CONFIG");
        CHECK(rf_conf_load("", &conf, err, sizeof(err)) < 0);
        CHECK_STR_EQ(err, "no configuration file: pass -c FILE or set RUNFLEET_CONFIG");
        CHECK(conf == NULL);

        setenv("RUNFLEET_CONFIG", CONF_DIR "good.cfg", 1);
        CHECK(rf_conf_load(NULL, &conf, err, sizeof(err)) == 0);
        CHECK(conf && strcmp(conf->path, CONF_DIR "good.cfg") == 0);
        rf_conf_destroy(conf);
        conf = NULL;
        setenv("RUNFLEET_CONFIG", CONF_DIR "nope.cfg", 1);
        CHECK(rf_conf_load(NULL, &conf, err, sizeof(err)) == -ENOENT);
        CHECK_STR_EQ(err, CONF_DIR "nope.cfg: cannot open: No such file or directory");
        unsetenv("RUNFLEET_CONFIG");
}

static void test_string_errors(void) {
        /* syntax, from a string */
        check_string_error("kafka = {\n brokers = \n};\n", "t.cfg:3: syntax error");
        check_string_error("a = 1;\na = 2;\n", "t.cfg:2: duplicate setting name");
        /* types */
        check_string_error(BASE "worker = { max_in_flight = 1.5; };",
                           "t.cfg:3: worker.max_in_flight: expected an integer");
        check_string_error(BASE "worker = { max_in_flight = true; };",
                           "t.cfg:3: worker.max_in_flight: expected an integer");
        check_string_error(BASE "kafka2 = 1;", "t.cfg:3: unknown setting 'kafka2'");
        check_string_error(BASE "http = { listen = 5; };", "t.cfg:3: http.listen: expected a string");
        check_string_error(BASE "http = { listen = \"\"; };", "t.cfg:3: http.listen: must not be empty");
        check_string_error(BASE "http = 5;", "t.cfg:3: http: expected a group, http = { ... };");
        check_string_error(BASE "http = { port = 70000; };", "t.cfg:3: http.port: 70000 is out of range [0, 65535]");
        check_string_error(BASE "http = { port = -1; };", "t.cfg:3: http.port: -1 is out of range [0, 65535]");
        check_string_error(BASE "http = { port = 8000000000L; };",
                           "t.cfg:3: http.port: 8000000000 is out of range [0, 65535]");
        check_string_error(BASE "worker = { nested = { a = 1; }; };", "t.cfg:3: unknown setting 'worker.nested'");
        check_string_error(
                KBASE "topic = \"a b\"; };",
                "t.cfg:3: kafka.topic: 'a b' is not a valid Kafka topic name (letters, digits, '.', '_', '-')");
        check_string_error(
                "kafka = { brokers = \"b\"; dlq_topic = \"runfleet.decisions\"; };\ndatabase = { url = \"x=y\"; };",
                "t.cfg:1: kafka.dlq_topic must differ from kafka.topic ('runfleet.decisions')");
        check_string_error("kafka = { brokers = \"b\"; };",
                           "t.cfg: database.url is not set (set it in the file or RUNFLEET_DATABASE_URL)");
        check_string_error("kafka = { brokers = \"b\"; };\ndatabase = { url = \"\"; };",
                           "t.cfg:2: database.url: must not be empty");
        check_string_error(BASE "log = { level = \"loud\"; };",
                           "t.cfg:3: log.level: 'loud' is not one of debug, info, warn, error");
        check_string_error(KBASE "group_protocol = \"eager\"; };",
                           "t.cfg:3: kafka.group_protocol: 'eager' is not one of classic, consumer");
        check_string_error(BASE "producer = { timezone = \"../../etc/passwd\"; };",
                           "t.cfg:3: producer.timezone: unknown time zone '../../etc/passwd'");
        check_string_error(BASE "producer = { catchup = \"sometimes\"; };",
                           "t.cfg:3: producer.catchup: 'sometimes' is not one of latest, all, none");
        check_string_error(
                BASE "producer = { catchup_window = \"soon\"; };",
                "t.cfg:3: producer.catchup_window: 'soon' is not a duration of at least 1s (e.g. 90s, 30m, 6h, 2d)");
        check_string_error(BASE "worker = { heartbeat_ms = 30000; };",
                           "t.cfg:3: worker.lease_ms (30000) must be longer than worker.heartbeat_ms (30000)");
        check_string_error(BASE "worker = { lease_ms = 3000; };",
                           "t.cfg:3: worker.lease_ms (3000) must be longer than worker.heartbeat_ms (5000)");
        check_string_error(KBASE "replication_factor = 2;\nmin_insync_replicas = 3; };",
                           "t.cfg:4: kafka.min_insync_replicas (3) must not exceed kafka.replication_factor (2)");
        check_string_error(KBASE "replication_factor = -1; };",
                           "t.cfg:3: kafka.replication_factor: -1 is out of range [0, 100]");
        /* kafka.properties */
        check_string_error(KBASE "properties = 5; };",
                           "t.cfg:3: kafka.properties: expected a list of (\"key\", \"value\") pairs");
        check_string_error(KBASE "properties = ( (\"a\") ); };",
                           "t.cfg:3: kafka.properties: expected a list of (\"key\", \"value\") pairs");
        check_string_error(KBASE "properties = (\n(\"a\", 1) ); };",
                           "t.cfg:4: kafka.properties: expected a list of (\"key\", \"value\") pairs");
        check_string_error(KBASE "properties = ( (\"\", \"x\") ); };",
                           "t.cfg:3: kafka.properties: empty property name");
        check_string_error(KBASE "properties = ( (\"a\", \"x\"),\n (\"a\", \"y\") ); };",
                           "t.cfg:4: kafka.properties: 'a' is set twice");
        /* scrapers */
        check_string_error(BASE "scrapers = 5;",
                           "t.cfg:3: scrapers: expected a list of groups, scrapers = ( { name = ...; }, ... );");
        check_string_error(BASE "scrapers = ( 5 );",
                           "t.cfg:3: scrapers: element 1 is not a group { name = \"...\"; ... }");
        check_string_error(BASE "scrapers = ( { url = \"http://x\"; } );", "t.cfg:3: scraper #1: name is not set");
        check_string_error(BASE "scrapers = ( { name = 5; } );", "t.cfg:3: scraper #1: name: expected a string");
        check_string_error(BASE "scrapers = ( { name = \"a b\"; url = \"http://x\"; } );",
                           "t.cfg:3: scraper #1: name: 'a b' may only contain letters, digits, '_', '.' and '-'");
        check_string_error(BASE "scrapers = ( { name = \"a\"; } );", "t.cfg:3: scraper 'a': url is not set");
        check_string_error(BASE "scrapers = ( { name = \"a\"; url = \"http://\"; } );",
                           "t.cfg:3: scraper 'a': url: 'http://' has no host");
        check_string_error(BASE "scrapers = ( { name = \"a\"; url = \"http://x/a b\"; } );",
                           "t.cfg:3: scraper 'a': url: 'http://x/a b' contains a space or control character");
        check_string_error(BASE "scrapers = ( { name = \"a\"; url = \"http://x\"; timeout_ms = 0; } );",
                           "t.cfg:3: scraper 'a': timeout_ms: 0 is out of range [1, 3600000]");
        check_string_error(BASE "scrapers = ( { name = \"a\"; url = \"http://x\"; timeout_ms = \"5s\"; } );",
                           "t.cfg:3: scraper 'a': timeout_ms: expected an integer");
        /* workflows */
#define SC "scrapers = ( { name = \"a\"; url = \"http://x\"; } );\n"
        check_string_error(BASE SC "workflows = ( { name = \"w\"; scrapers = [\"a\"]; } );",
                           "t.cfg:4: workflow 'w': schedule is not set");
        check_string_error(BASE SC "workflows = ( { name = \"w\"; schedule = \"@daily\"; } );",
                           "t.cfg:4: workflow 'w': scrapers is not set");
        check_string_error(BASE SC "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = []; } );",
                           "t.cfg:4: workflow 'w': scrapers: the list is empty (name at least one)");
        check_string_error(BASE SC "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = \"a\"; } );",
                           "t.cfg:4: workflow 'w': scrapers: expected a list of names [\"a\", \"b\"]");
        check_string_error(BASE SC "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [1]; } );",
                           "t.cfg:4: workflow 'w': scrapers: expected a list of names [\"a\", \"b\"]");
        check_string_error(BASE SC
                           "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"a\", \"a\"]; } );",
                           "t.cfg:4: workflow 'w' names scraper 'a' twice");
        check_string_error(BASE SC
                           "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"a\"]; enabled = 1; } );",
                           "t.cfg:4: workflow 'w': enabled: expected true or false");
        check_string_error(
                BASE SC "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"a\"]; deadline = 1; } );",
                "t.cfg:4: workflow 'w': unknown setting 'deadline'");
        check_string_error(BASE SC "workflows = ( { name = \"w\"; schedule = \"@every 0s\"; scrapers = [\"a\"]; } );",
                           "t.cfg:4: workflow 'w': schedule '@every 0s': @every: the period must be at least 1s");
        check_string_error(
                BASE SC "workflows = ( { name = \"w\"; schedule = \"* * *\"; scrapers = [\"a\"]; } );",
                "t.cfg:4: workflow 'w': schedule '* * *': expected 5 fields (minute hour day-of-month month day-of-week), found 3");
        check_string_error(BASE SC "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"b\"]; } );",
                           "t.cfg:4: workflow 'w' names unknown scraper 'b'");
        check_string_error(
                BASE SC
                "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"a\"]; catchup = \"every\"; } );",
                "t.cfg:4: workflow 'w': catchup: 'every' is not one of latest, all, none");
        /* windows, limits and dependencies */
        check_string_error(
                BASE SC
                "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"a\"]; window = \"12-18\"; } );",
                "t.cfg:4: workflow 'w': window: '12-18' is not a window \"HH:MM-HH:MM\" (24-hour local times, start != end)");
        check_string_error(
                BASE SC
                "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"a\"]; window = \"12:00-24:30\"; } );",
                "t.cfg:4: workflow 'w': window: '12:00-24:30' is not a window \"HH:MM-HH:MM\" (24-hour local times, start != end)");
        check_string_error(
                BASE SC
                "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"a\"]; window = \"09:00-09:00\"; } );",
                "t.cfg:4: workflow 'w': window: '09:00-09:00' is not a window \"HH:MM-HH:MM\" (24-hour local times, start != end)");
        check_string_error(
                BASE SC
                "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"a\"]; max_runs_per_day = -1; } );",
                "t.cfg:4: workflow 'w': max_runs_per_day: -1 is out of range [0, 1440]");
        check_string_error(
                BASE SC
                "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"a\"]; after = [\"x\"]; } );",
                "t.cfg:4: workflow 'w': after names unknown workflow 'x'");
        check_string_error(
                BASE SC
                "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"a\"]; after = [\"w\"]; } );",
                "t.cfg:4: workflow 'w': after 'w' makes a cycle (neither could ever run)");
        check_string_error(
                BASE SC "workflows = ( { name = \"w\"; schedule = \"@daily\"; scrapers = [\"a\"]; after = [\"v\"]; },\n"
                        "  { name = \"v\"; schedule = \"@daily\"; scrapers = [\"a\"]; after = [\"w\"]; } );",
                "t.cfg:4: workflow 'w': after 'v' makes a cycle (neither could ever run)");
        {
                int a = 0, b = 0;

                CHECK(rf_conf_window_parse("22:00-02:00", &a, &b) == 0 && a == 1320 && b == 120);
                CHECK(rf_conf_window_parse("00:00-24:00", &a, &b) == 0 && a == 0 && b == 1440);
                CHECK(rf_conf_window_parse("0:00-24:00", &a, &b) == -EINVAL);
                CHECK(rf_conf_window_parse("12:00-18:00 ", &a, &b) == -EINVAL);
                CHECK(rf_conf_window_parse(NULL, &a, &b) == -EINVAL);
        }
        /* One line, whatever the value holds. */
        check_string_error(BASE "producer = { timezone = \"Bad\\nZone\"; };",
                           "t.cfg:3: producer.timezone: unknown time zone 'Bad?Zone'");
#undef SC
}

static void test_env(void) {
        rf_conf_t *conf = NULL;
        char err[512] = "";

        setenv("RUNFLEET_WORKER_MAX_IN_FLIGHT", "42", 1);
        setenv("RUNFLEET_KAFKA_BROKERS", "env-broker:9092", 1);
        setenv("RUNFLEET_DATABASE_URL", "postgresql://env@db/x", 1);
        setenv("RUNFLEET_PRODUCER_TIMEZONE", "Europe/Paris", 1);
        setenv("RUNFLEET_HTTP_PORT", "", 1); /* empty counts as unset */
        setenv("RUNFLEET_LOG_LEVEL", "debug", 1);
        conf = load_ok(CONF_DIR "good.cfg");
        if (conf) {
                CHECK(conf->worker.max_in_flight == 42);
                CHECK_STR_EQ(conf->kafka.brokers, "env-broker:9092");
                CHECK_STR_EQ(conf->database.url, "postgresql://env@db/x");
                CHECK_STR_EQ(conf->producer.timezone, "Europe/Paris");
                CHECK(conf->http.port == 9464);
                CHECK_STR_EQ(conf->log.level, "debug");
        }
        rf_conf_destroy(conf);
        unsetenv("RUNFLEET_LOG_LEVEL");
        conf = NULL;

        /* The environment supplies required settings missing from the file. */
        CHECK(rf_conf_load(CONF_DIR "missing_brokers.cfg", &conf, err, sizeof(err)) == 0);
        CHECK(conf && strcmp(conf->kafka.brokers, "env-broker:9092") == 0);
        rf_conf_destroy(conf);
        conf = NULL;
        unsetenv("RUNFLEET_PRODUCER_TIMEZONE");
        unsetenv("RUNFLEET_KAFKA_BROKERS");
        unsetenv("RUNFLEET_DATABASE_URL");

        setenv("RUNFLEET_WORKER_MAX_IN_FLIGHT", "abc", 1);
        CHECK(rf_conf_load(CONF_DIR "good.cfg", &conf, err, sizeof(err)) == -EINVAL);
        CHECK_STR_EQ(err, "environment RUNFLEET_WORKER_MAX_IN_FLIGHT: 'abc' is not an integer");
        setenv("RUNFLEET_WORKER_MAX_IN_FLIGHT", "12x", 1);
        CHECK(rf_conf_load(CONF_DIR "good.cfg", &conf, err, sizeof(err)) == -EINVAL);
        CHECK_STR_EQ(err, "environment RUNFLEET_WORKER_MAX_IN_FLIGHT: '12x' is not an integer");
        setenv("RUNFLEET_WORKER_MAX_IN_FLIGHT", "99999999999999999999", 1);
        CHECK(rf_conf_load(CONF_DIR "good.cfg", &conf, err, sizeof(err)) == -EINVAL);
        CHECK_STR_EQ(err, "environment RUNFLEET_WORKER_MAX_IN_FLIGHT: '99999999999999999999' is not an integer");
        setenv("RUNFLEET_WORKER_MAX_IN_FLIGHT", "0", 1);
        CHECK(rf_conf_load(CONF_DIR "good.cfg", &conf, err, sizeof(err)) == -EINVAL);
        CHECK_STR_EQ(err, "environment RUNFLEET_WORKER_MAX_IN_FLIGHT: 0 is out of range [1, 100000]");
        unsetenv("RUNFLEET_WORKER_MAX_IN_FLIGHT");

        setenv("RUNFLEET_PRODUCER_TIMEZONE", "America/Nwe_York", 1);
        CHECK(rf_conf_load(CONF_DIR "good.cfg", &conf, err, sizeof(err)) == -EINVAL);
        CHECK_STR_EQ(err, "environment RUNFLEET_PRODUCER_TIMEZONE: unknown time zone 'America/Nwe_York'");
        unsetenv("RUNFLEET_PRODUCER_TIMEZONE");

        /* A cross-field error caused by the environment names the variable. */
        setenv("RUNFLEET_WORKER_LEASE_MS", "3000", 1);
        CHECK(rf_conf_load(CONF_DIR "good.cfg", &conf, err, sizeof(err)) == -EINVAL);
        CHECK_STR_EQ(err, "environment RUNFLEET_WORKER_LEASE_MS: worker.lease_ms (3000) must be longer than "
                          "worker.heartbeat_ms (9000)");
        unsetenv("RUNFLEET_WORKER_LEASE_MS");
        /* ... and an environment value fixes a file's cross-field error. */
        setenv("RUNFLEET_WORKER_HEARTBEAT_MS", "1000", 1);
        conf = load_ok(CONF_DIR "lease.cfg");
        CHECK(conf && conf->worker.heartbeat_ms == 1000 && conf->worker.lease_ms == 3000);
        rf_conf_destroy(conf);
        conf = NULL;
        unsetenv("RUNFLEET_WORKER_HEARTBEAT_MS");
        CHECK(conf == NULL);
}

/* Walks every row of the --help table: the environment variable follows
 * RUNFLEET_<GROUP>_<NAME>, and each one is wired to its setting. */
static void test_help_walk(void) {
        char *buf = NULL, *save = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        int rows = 0, env_rows = 0;

        rf_conf_help(f);
        fclose(f);
        CHECK_CONTAINS(buf, "worker.max_in_flight");
        CHECK_CONTAINS(buf, "RUNFLEET_KAFKA_BROKERS");
        CHECK_CONTAINS(buf, "workflows[].schedule");
        CHECK_CONTAINS(buf, "scrapers[].timeout_ms");
        CHECK_CONTAINS(buf, "kafka.properties");
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char name[64], type[16], def[64], range[32], env[64], want_env[80], err[512] = "";
                rf_conf_t *conf = NULL;
                char *p;

                if (sscanf(line, "%63s %15s %63s %31s %63s", name, type, def, range, env) != 5 ||
                    strcmp(name, "SETTING") == 0 || !strchr(name, '.'))
                        continue;
                rows++;
                CHECK(strlen(line) > 100); /* has a description */
                if (strcmp(env, "-") == 0) {
                        CHECK(strchr(name, '[') || strcmp(name, "kafka.properties") == 0);
                        continue;
                }
                env_rows++;
                snprintf(want_env, sizeof(want_env), "RUNFLEET_%s", name);
                for (p = want_env; *p; p++)
                        *p = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
                CHECK_STR_EQ(env, want_env);

                if (strcmp(type, "int") == 0) {
                        char want[160];

                        setenv(env, "not-a-number", 1);
                        CHECK(rf_conf_load(CONF_DIR "good.cfg", &conf, err, sizeof(err)) == -EINVAL);
                        snprintf(want, sizeof(want), "environment %s: 'not-a-number' is not an integer", env);
                        CHECK_STR_EQ(err, want);
                        /* and the default (shown in the table) is accepted */
                        setenv(env, def, 1);
                        conf = NULL;
                        {
                                char *out;
                                char want_line[128];

                                CHECK(rf_conf_load(CONF_DIR "good.cfg", &conf, err, sizeof(err)) == 0);
                                out = conf ? print_to_string(conf) : NULL;
                                snprintf(want_line, sizeof(want_line), "  %s = %s;\n", strchr(name, '.') + 1, def);
                                CHECK_CONTAINS(out, want_line);
                                free(out);
                                rf_conf_destroy(conf);
                        }
                } else if (strcmp(type, "string") == 0) {
                        bool url = strstr(name, "webhook_url") != NULL || strcmp(name, "schema_registry.url") == 0;
                        bool secret = strcmp(name, "schema_registry.password") == 0;
                        const char *v = strcmp(name, "producer.timezone") == 0         ? "Asia/Tokyo"
                                        : strcmp(name, "log.level") == 0               ? "error"
                                        : strcmp(name, "kafka.group_protocol") == 0    ? "consumer"
                                        : strcmp(name, "kafka.value_format") == 0      ? "single-object"
                                        : strcmp(name, "producer.catchup") == 0        ? "all"
                                        : strcmp(name, "producer.catchup_window") == 0 ? "6h"
                                        : strcmp(name, "producer.overlap") == 0        ? "buffer_one"
                                        : strcmp(name, "scraping.base_url") == 0       ? "http://walk.example:8080/base"
                                        : strcmp(name, "reaper.alert_after") == 0      ? "15m"
                                        : strcmp(name, "tracing.otlp_endpoint") == 0
                                                ? "http://walk.example:4318/v1/traces"
                                        : strstr(name, "topic") ? "walk.topic"
                                        : url                   ? "http://walk.example/token"
                                                                : "walk-value";
                        char want_line[128], *out;

                        setenv(env, v, 1);
                        CHECK(rf_conf_load(CONF_DIR "good.cfg", &conf, err, sizeof(err)) == 0);
                        out = conf ? print_to_string(conf) : NULL;
                        /* a webhook URL's path may be its credential: printed masked;
                         * a password is never printed */
                        snprintf(want_line, sizeof(want_line), "  %s = \"%s\";\n", strchr(name, '.') + 1,
                                 url      ? "http://walk.example/****"
                                 : secret ? "****"
                                          : v);
                        CHECK_CONTAINS(out, want_line);
                        free(out);
                        rf_conf_destroy(conf);
                } else
                        CHECK(!"unexpected type with an environment variable");
                unsetenv(env);
        }
        CHECK(rows == 54 + 9 + 14);
        CHECK(env_rows == 53);
        free(buf);
}

/* overlap and pause_after_failures: a workflow's own value, else the
 * producer's; a bad overlap is refused where it is written. */
/* tracing: off by default; the queue must hold a batch; the endpoint is an http(s) URL. */
static void test_tracing(void) {
        char err[512] = "";
        rf_conf_t *conf = NULL;

        CHECK(rf_conf_load_string(BASE, "t.cfg", &conf, err, sizeof(err)) == 0);
        if (conf) {
                CHECK(conf->tracing.otlp_endpoint == NULL);
                CHECK(conf->tracing.batch_size == 512 && conf->tracing.queue_size == 2048);
                rf_conf_destroy(conf);
        }
        conf = NULL;
        CHECK(rf_conf_load_string(BASE "tracing = { otlp_endpoint = \"http://127.0.0.1:4318/v1/traces\";\n"
                                       "  service_name = \"w1\"; };\n",
                                  "t.cfg", &conf, err, sizeof(err)) == 0);
        if (conf) {
                CHECK_STR_EQ(conf->tracing.otlp_endpoint, "http://127.0.0.1:4318/v1/traces");
                CHECK_STR_EQ(conf->tracing.service_name, "w1");
                rf_conf_destroy(conf);
        }
        conf = NULL;
        CHECK(rf_conf_load_string(BASE "tracing = { batch_size = 100;\n queue_size = 10; };\n", "t.cfg", &conf, err,
                                  sizeof(err)) == -EINVAL);
        CHECK_CONTAINS(err, "t.cfg:");
        CHECK_CONTAINS(err, "tracing.queue_size (10) must be at least tracing.batch_size (100)");
        CHECK(rf_conf_load_string(BASE "tracing = { otlp_endpoint = \"grpc://collector:4317\"; };\n", "t.cfg", &conf,
                                  err, sizeof(err)) == -EINVAL);
        CHECK_CONTAINS(err, "tracing.otlp_endpoint");
        CHECK_CONTAINS(err, "does not start with http:// or https://");
}

static void test_workflow_defaults(void) {
        static const char *const text = BASE
                "producer = { overlap = \"buffer_one\"; pause_after_failures = 3; };\n"
                "scrapers = ( { name = \"a\"; url = \"http://x/a\"; } );\n"
                "workflows = ( { name = \"own\"; schedule = \"@hourly\"; scrapers = [\"a\"]; overlap = \"allow\";\n"
                "                pause_after_failures = 0; },\n"
                "              { name = \"inherits\"; schedule = \"@hourly\"; scrapers = [\"a\"]; } );\n";
        char err[512] = "";
        rf_conf_t *conf = NULL;

        CHECK(rf_conf_load_string(text, "t.cfg", &conf, err, sizeof(err)) == 0);
        if (conf) {
                CHECK(rf_conf_workflow(conf, "own")->overlap == RF_OVERLAP_ALLOW);
                CHECK(rf_conf_workflow(conf, "own")->pause_after_failures == 0);
                CHECK(rf_conf_workflow(conf, "inherits")->overlap == RF_OVERLAP_BUFFER_ONE);
                CHECK_STR_EQ(rf_conf_workflow(conf, "inherits")->overlap_name, "buffer_one");
                CHECK(rf_conf_workflow(conf, "inherits")->pause_after_failures == 3);
                rf_conf_destroy(conf);
        }
        /* without a producer setting: skip, never */
        conf = NULL;
        CHECK(rf_conf_load_string(BASE
                                  "scrapers = ( { name = \"a\"; url = \"http://x/a\"; } );\n"
                                  "workflows = ( { name = \"w\"; schedule = \"@hourly\"; scrapers = [\"a\"]; } );\n",
                                  "t.cfg", &conf, err, sizeof(err)) == 0);
        if (conf) {
                CHECK(conf->workflows[0].overlap == RF_OVERLAP_SKIP);
                CHECK(conf->workflows[0].pause_after_failures == 0);
                rf_conf_destroy(conf);
        }
        check_string_error(BASE "scrapers = ( { name = \"a\"; url = \"http://x/a\"; } );\n"
                                "workflows = ( { name = \"w\"; schedule = \"@hourly\"; scrapers = [\"a\"];\n"
                                "                overlap = \"queue\"; } );\n",
                           "t.cfg:5: workflow 'w': overlap: 'queue' is not one of skip, buffer_one, allow");
        CHECK_STR_EQ(rf_overlap_name(RF_OVERLAP_BUFFER_ONE), "buffer_one");
        CHECK(rf_overlap_from_name("nope") == -EINVAL);
}

/* scraping.base_url: scraper URLs that are paths are joined to it, from the
 * file or the environment; a path without a base is refused where it is. */
static void test_scraping_base_url(void) {
        static const char *const wf =
                "workflows = ( { name = \"w\"; schedule = \"@hourly\"; scrapers = [\"a\", \"b\"]; } );\n";
        char text[1024], err[512] = "";
        rf_conf_t *conf = NULL;

        (void)wf;
        snprintf(text, sizeof(text),
                 BASE "scraping = { base_url = \"http://127.0.0.1:28080/\"; };\n"
                      "scrapers = ( { name = \"a\"; url = \"/events?delay_ms=5\"; },\n"
                      "             { name = \"b\"; url = \"https://api.example/x\"; } );\n%s",
                 wf);
        CHECK(rf_conf_load_string(text, "t.cfg", &conf, err, sizeof(err)) == 0);
        if (conf) {
                CHECK_STR_EQ(rf_conf_scraper(conf, "a")->url, "http://127.0.0.1:28080/events?delay_ms=5");
                CHECK_STR_EQ(rf_conf_scraper(conf, "b")->url, "https://api.example/x"); /* whole URLs stay */
                rf_conf_destroy(conf);
        }
        /* the environment wins, as for every setting */
        setenv("RUNFLEET_SCRAPING_BASE_URL", "http://10.0.0.7:9999", 1);
        conf = NULL;
        CHECK(rf_conf_load_string(text, "t.cfg", &conf, err, sizeof(err)) == 0);
        if (conf) {
                CHECK_STR_EQ(rf_conf_scraper(conf, "a")->url, "http://10.0.0.7:9999/events?delay_ms=5");
                rf_conf_destroy(conf);
        }
        unsetenv("RUNFLEET_SCRAPING_BASE_URL");
        snprintf(text, sizeof(text),
                 BASE "scrapers = ( { name = \"a\"; url = \"/events\"; },\n"
                      "             { name = \"b\"; url = \"/lines\"; } );\n%s",
                 wf);
        check_string_error(text, "t.cfg:3: scraper 'a': url '/events' is a path, and scraping.base_url is not set "
                                 "(set it in the file or RUNFLEET_SCRAPING_BASE_URL)");
        check_string_error(BASE "scraping = { base_url = \"http://h:1/x?y=1\"; };",
                           "t.cfg:3: scraping.base_url: 'http://h:1/x?y=1' has a query or fragment; a base URL ends "
                           "with its path");
        check_string_error(BASE "scraping = { base_url = \"ftp://h\"; };",
                           "t.cfg:3: scraping.base_url: 'ftp://h' does not start with http:// or https://");
}

static void test_round_trip(void) {
        rf_conf_t *a = load_ok(CONF_DIR "good.cfg"), *b = NULL;
        char *text1 = NULL, *text2 = NULL, err[512] = "";

        if (!a)
                return;
        text1 = print_to_string(a);
        /* secrets masked */
        CHECK(strstr(text1, "db-pw-do-not-print") == NULL);
        CHECK(strstr(text1, "kafka-pw-do-not-print") == NULL);
        CHECK(strstr(text1, "oauth-secret-do-not-print") == NULL);
        CHECK_CONTAINS(text1, "url = \"postgresql://runfleet:****@db.example:5432/runfleet?sslmode=require\";");
        CHECK_CONTAINS(text1, "(\"sasl.password\", \"****\")");
        CHECK_CONTAINS(text1, "(\"sasl.username\", \"fleet\")");
        CHECK_CONTAINS(text1, "schedule = \"0 11 * * MON-FRI\";");

        CHECK(rf_conf_load_string(text1, "printed", &b, err, sizeof(err)) == 0);
        if (!b) {
                fprintf(stderr, "reloading the printed configuration: %s\n%s", err, text1);
                goto out;
        }
        text2 = print_to_string(b);
        /* identical apart from the first line, which names the source */
        CHECK_STR_EQ(strchr(text1, '\n'), strchr(text2, '\n'));

        /* field by field, everything but the masked secrets */
        CHECK_STR_EQ(a->kafka.brokers, b->kafka.brokers);
        CHECK_STR_EQ(a->kafka.topic, b->kafka.topic);
        CHECK_STR_EQ(a->kafka.dlq_topic, b->kafka.dlq_topic);
        CHECK_STR_EQ(a->kafka.group, b->kafka.group);
        CHECK(a->kafka.partitions == b->kafka.partitions);
        CHECK(a->kafka.replication_factor == b->kafka.replication_factor);
        CHECK(a->kafka.delivery_timeout_ms == b->kafka.delivery_timeout_ms);
        CHECK(a->kafka.session_timeout_ms == b->kafka.session_timeout_ms);
        CHECK(a->kafka.max_poll_interval_ms == b->kafka.max_poll_interval_ms);
        CHECK(a->kafka.property_count == b->kafka.property_count);
        for (size_t i = 0; i < a->kafka.property_count && i < b->kafka.property_count; i++) {
                CHECK_STR_EQ(a->kafka.properties[i].key, b->kafka.properties[i].key);
                if (strcmp(b->kafka.properties[i].value, "****") != 0)
                        CHECK_STR_EQ(a->kafka.properties[i].value, b->kafka.properties[i].value);
        }
        CHECK_STR_EQ(b->database.url, "postgresql://runfleet:****@db.example:5432/runfleet?sslmode=require");
        CHECK_STR_EQ(a->producer.timezone, b->producer.timezone);
        CHECK(a->producer.every_ms == b->producer.every_ms);
        CHECK(memcmp(&a->worker, &b->worker, sizeof(a->worker)) == 0);
        CHECK(a->reaper.interval_ms == b->reaper.interval_ms && a->reaper.grace_ms == b->reaper.grace_ms);
        CHECK(a->reaper.max_failed_executions == b->reaper.max_failed_executions &&
              a->reaper.backoff_ms == b->reaper.backoff_ms);
        CHECK((!a->reaper.webhook_url && !b->reaper.webhook_url) || (a->reaper.webhook_url && b->reaper.webhook_url));
        CHECK(a->reaper.webhook_timeout_ms == b->reaper.webhook_timeout_ms);
        CHECK(a->reaper.webhook_backoff_ms == b->reaper.webhook_backoff_ms);
        CHECK_STR_EQ(a->http.listen, b->http.listen);
        CHECK(a->http.port == b->http.port);
        CHECK(a->scraper_count == b->scraper_count);
        for (size_t i = 0; i < a->scraper_count && i < b->scraper_count; i++) {
                CHECK_STR_EQ(a->scrapers[i].name, b->scrapers[i].name);
                CHECK_STR_EQ(a->scrapers[i].url, b->scrapers[i].url);
                CHECK(a->scrapers[i].timeout_ms == b->scrapers[i].timeout_ms);
        }
        CHECK(a->workflow_count == b->workflow_count);
        for (size_t i = 0; i < a->workflow_count && i < b->workflow_count; i++) {
                const rf_workflow_conf_t *x = &a->workflows[i], *y = &b->workflows[i];

                CHECK_STR_EQ(x->name, y->name);
                CHECK_STR_EQ(x->schedule, y->schedule);
                CHECK(x->deadline_ms == y->deadline_ms);
                CHECK(x->enabled == y->enabled);
                CHECK(x->scraper_count == y->scraper_count);
                for (size_t j = 0; j < x->scraper_count && j < y->scraper_count; j++)
                        CHECK_STR_EQ(x->scrapers[j], y->scrapers[j]);
                CHECK((!x->window && !y->window) || (x->window && y->window && !strcmp(x->window, y->window)));
                CHECK(x->window_start_min == y->window_start_min && x->window_end_min == y->window_end_min);
                CHECK(x->max_runs_per_day == y->max_runs_per_day);
                CHECK(x->after_count == y->after_count);
                for (size_t j = 0; j < x->after_count && j < y->after_count; j++)
                        CHECK_STR_EQ(x->after[j], y->after[j]);
        }

        /* an empty configuration prints and reloads too */
        {
                rf_conf_t *c = NULL, *d = NULL;
                char *t = NULL;

                CHECK(rf_conf_load_string(BASE, "t.cfg", &c, err, sizeof(err)) == 0);
                t = c ? print_to_string(c) : NULL;
                CHECK_CONTAINS(t, "scrapers = ();");
                CHECK(t && rf_conf_load_string(t, "t2", &d, err, sizeof(err)) == 0);
                free(t);
                rf_conf_destroy(c);
                rf_conf_destroy(d);
        }
out:
        free(text1);
        free(text2);
        rf_conf_destroy(a);
        rf_conf_destroy(b);
}

static void check_mask(const char *dsn, const char *want) {
        char *got = rf_conf_mask_dsn(dsn);

        CHECK_STR_EQ(got, want);
        free(got);
}

static void test_mask_dsn(void) {
        check_mask("postgresql://postgres@127.0.0.1:15432/runfleet", "postgresql://postgres@127.0.0.1:15432/runfleet");
        check_mask("postgresql://u:pw@h/db", "postgresql://u:****@h/db");
        check_mask("postgres://u:pw@h:5432/db?sslmode=require", "postgres://u:****@h:5432/db?sslmode=require");
        check_mask("postgresql://u:p@ss/w@h/db", "postgresql://u:****@h/db");
        check_mask("postgresql://h/db?user=u&password=pw&sslmode=require",
                   "postgresql://h/db?user=u&password=****&sslmode=require");
        check_mask("postgresql://u@h/db?password=p@ss", "postgresql://u@h/db?password=****");
        check_mask("postgresql://h/db", "postgresql://h/db");
        check_mask("host=h dbname=x", "host=h dbname=x");
        check_mask("host=h password=pw dbname=x", "host=h password=**** dbname=x");
        check_mask("host=h password = 'p w\\' x' user=u", "host=h password = **** user=u");
        check_mask("password=pw", "password=****");
        check_mask("dbname='host=h password=pw'", "dbname=****");
        check_mask("host=h password='unterminated", "****");
        check_mask("", "");
        CHECK(rf_conf_mask_dsn(NULL) == NULL);
}

/* reaper.webhook_url: http(s) only, and printed without its path or user
 * part (a chat webhook's token), in a form that loads again. */
static void test_webhook_url(void) {
        rf_conf_t *conf = NULL, *again = NULL;
        char err[512] = "", *out = NULL;

        check_string_error(
                BASE "reaper = { webhook_url = \"ftp://alerts.example/x\"; };",
                "t.cfg:3: reaper.webhook_url: 'ftp://alerts.example/x' does not start with http:// or https://");
        check_string_error(BASE "reaper = { webhook_url = \"\"; };", "t.cfg:3: reaper.webhook_url: must not be empty");
        check_string_error(BASE "reaper = { webhook_timeout_ms = 50; };",
                           "t.cfg:3: reaper.webhook_timeout_ms: 50 is out of range [100, 60000]");
        CHECK(rf_conf_load_string(BASE "reaper = { webhook_url = \"https://u:pw@hooks.example:8443/T0/B0/s3cret?x=1\";"
                                       " webhook_timeout_ms = 2000; webhook_backoff_ms = 250; };",
                                  "t.cfg", &conf, err, sizeof(err)) == 0);
        if (!conf) {
                fprintf(stderr, "%s\n", err);
                return;
        }
        CHECK_STR_EQ(conf->reaper.webhook_url, "https://u:pw@hooks.example:8443/T0/B0/s3cret?x=1");
        CHECK(conf->reaper.webhook_timeout_ms == 2000);
        CHECK(conf->reaper.webhook_backoff_ms == 250);
        out = print_to_string(conf);
        CHECK_CONTAINS(out, "  webhook_url = \"https://****@hooks.example:8443/****\";\n");
        CHECK(out && strstr(out, "s3cret") == NULL && strstr(out, "pw@") == NULL);
        CHECK(out && rf_conf_load_string(out, "printed", &again, err, sizeof(err)) == 0);
        free(out);
        rf_conf_destroy(conf);
        rf_conf_destroy(again);
        conf = NULL;
        CHECK(rf_conf_load_string(BASE "reaper = { webhook_url = \"http://127.0.0.1:9000\"; };", "t.cfg", &conf, err,
                                  sizeof(err)) == 0);
        out = conf ? print_to_string(conf) : NULL;
        CHECK_CONTAINS(out, "  webhook_url = \"http://127.0.0.1:9000\";\n");
        free(out);
        rf_conf_destroy(conf);
        /* a password holding '@' or '/' is masked whole */
        conf = NULL;
        CHECK(rf_conf_load_string(BASE "reaper = { webhook_url = \"https://u:p@ss/w0rd@hooks.example/T0?x=a@b\"; };",
                                  "t.cfg", &conf, err, sizeof(err)) == 0);
        out = conf ? print_to_string(conf) : NULL;
        CHECK_CONTAINS(out, "  webhook_url = \"https://****@hooks.example/****\";\n");
        CHECK(out && strstr(out, "p@ss") == NULL && strstr(out, "ss/w0rd") == NULL && strstr(out, "w0rd") == NULL);
        free(out);
        rf_conf_destroy(conf);
}

static void test_shipped_configs(void) {
        rf_conf_t *conf = load_ok(RF_SOURCE_ROOT "/config/runfleet.example.cfg");
        const rf_workflow_conf_t *wf;
        int64_t t = 0;

        if (conf) {
                CHECK_STR_EQ(conf->producer.timezone, "America/New_York");
                CHECK(conf->workflow_count == 3);
                wf = rf_conf_workflow(conf, "betting_lines");
                CHECK(wf && wf->scraper_count == 3 && wf->deadline_ms == 15 * 60 * 1000);
                CHECK(wf && rf_conf_alert_after_ms(conf, wf) == 45 * 60 * 1000);
                CHECK(conf->warning_count == 0); /* no deprecated names in what we ship */
                CHECK(wf && strcmp(wf->schedule, "0 * * * *") == 0);
                wf = rf_conf_workflow(conf, "referee_discovery");
                CHECK(wf && wf->scraper_count == 1 && strcmp(wf->scrapers[0], "referee_assignments") == 0);
                /* 11:00 in New York on 2026-06-15 is 15:00Z */
                CHECK(wf && rf_cron_next(wf->cron, conf->producer.timezone, 1781524800, &t) == 0 && t == 1781535600);
                wf = rf_conf_workflow(conf, "schedule_dependency");
                CHECK(wf && wf->scraper_count == 1 && strcmp(wf->scrapers[0], "schedule") == 0);
                for (size_t i = 0; i < conf->scraper_count; i++)
                        CHECK(strncmp(conf->scrapers[i].url, "https://scrapers.example.internal/", 34) == 0);
        }
        rf_conf_destroy(conf);

        conf = load_ok(RF_SOURCE_ROOT "/config/local.cfg");
        if (conf) {
                bool fail_rate = false;

                CHECK_STR_EQ(conf->kafka.brokers, "127.0.0.1:19092");
                CHECK_STR_EQ(conf->database.url, "postgresql://postgres@127.0.0.1:15432/runfleet");
                CHECK(conf->reaper.grace_ms == 40000);
                CHECK(conf->workflow_count == 3);
                for (size_t i = 0; i < conf->workflow_count; i++)
                        CHECK_STR_EQ(conf->workflows[i].schedule, "@every 15s");
                for (size_t i = 0; i < conf->scraper_count; i++) {
                        const char *u = conf->scrapers[i].url, *d = strstr(u, "delay_ms=");
                        char prefix[128];

                        snprintf(prefix, sizeof(prefix), "http://127.0.0.1:18080/%s?", conf->scrapers[i].name);
                        CHECK(strncmp(u, prefix, strlen(prefix)) == 0);
                        CHECK(d && atoi(d + 9) >= 200 && atoi(d + 9) <= 3000);
                        fail_rate |= strstr(u, "fail_rate=0.1") != NULL;
                }
                CHECK(fail_rate);
                CHECK(rf_conf_workflow(conf, "betting_lines") && rf_conf_workflow(conf, "referee_discovery") &&
                      rf_conf_workflow(conf, "schedule_dependency"));
        }
        rf_conf_destroy(conf);
}

/* workflows[].alert_after and its default reaper.alert_after: durations,
 * "0" turns a workflow's LATE alert off under a default. */
static void test_alert_after(void) {
        static const char *const wfs =
                "scrapers = ( { name = \"s\"; url = \"http://h/s\"; } );\n"
                "workflows = ( { name = \"own\"; schedule = \"@hourly\"; scrapers = [\"s\"]; alert_after = \"20m\"; },\n"
                "              { name = \"off\"; schedule = \"@hourly\"; scrapers = [\"s\"]; alert_after = \"0\"; },\n"
                "              { name = \"dflt\"; schedule = \"@hourly\"; scrapers = [\"s\"]; } );\n";
        char text[2048], err[512] = "";
        rf_conf_t *conf = NULL;

        snprintf(text, sizeof(text), BASE "%s", wfs);
        CHECK(rf_conf_load_string(text, "t.cfg", &conf, err, sizeof(err)) == 0);
        if (conf) {
                CHECK(conf->reaper.alert_after_ms == 0);
                CHECK(rf_conf_alert_after_ms(conf, rf_conf_workflow(conf, "own")) == 20 * 60000);
                CHECK(rf_conf_alert_after_ms(conf, rf_conf_workflow(conf, "off")) == 0);
                CHECK(rf_conf_alert_after_ms(conf, rf_conf_workflow(conf, "dflt")) == 0);
        }
        rf_conf_destroy(conf);
        conf = NULL;
        snprintf(text, sizeof(text), BASE "reaper = { alert_after = \"90s\"; };\n%s", wfs);
        CHECK(rf_conf_load_string(text, "t.cfg", &conf, err, sizeof(err)) == 0);
        if (conf) {
                CHECK(rf_conf_alert_after_ms(conf, rf_conf_workflow(conf, "own")) == 20 * 60000);
                CHECK(rf_conf_alert_after_ms(conf, rf_conf_workflow(conf, "off")) == 0);
                CHECK(rf_conf_alert_after_ms(conf, rf_conf_workflow(conf, "dflt")) == 90000);
        }
        rf_conf_destroy(conf);
        check_string_error(BASE "reaper = { alert_after = \"soon\"; };",
                           "t.cfg:3: reaper.alert_after: 'soon' is not a duration (e.g. \"90s\", \"20m\", \"2h\"; "
                           "\"0\": off)");
        check_string_error(BASE "scrapers = ( { name = \"s\"; url = \"http://h/s\"; } );\n"
                                "workflows = ( { name = \"w\"; schedule = \"@hourly\"; scrapers = [\"s\"];\n"
                                "  alert_after = \"-5m\"; } );",
                           "t.cfg:5: workflow 'w': alert_after: '-5m' is not a duration (e.g. \"90s\", \"20m\", "
                           "\"2h\"; \"0\": off)");
}

/* reaper.max_attempts, renamed reaper.max_failed_executions: the old name
 * still loads, with a warning; both at once is an error. */
static void test_renamed(void) {
        char err[512] = "";
        rf_conf_t *conf = NULL;

        CHECK(rf_conf_load_string(BASE "reaper = { max_attempts = 8; };", "t.cfg", &conf, err, sizeof(err)) == 0);
        if (conf) {
                CHECK(conf->reaper.max_failed_executions == 8);
                CHECK(conf->warning_count == 1);
                CHECK_CONTAINS(conf->warning_count ? conf->warnings[0] : "",
                               "t.cfg:3: reaper.max_attempts is deprecated, it is now called "
                               "reaper.max_failed_executions");
        }
        rf_conf_destroy(conf);
        conf = NULL;
        CHECK(rf_conf_load_string(BASE "reaper = { max_failed_executions = 8; };", "t.cfg", &conf, err, sizeof(err)) ==
              0);
        CHECK(conf && conf->warning_count == 0 && conf->reaper.max_failed_executions == 8);
        rf_conf_destroy(conf);
        conf = NULL;
        check_string_error(BASE "reaper = { max_failed_executions = 3; max_attempts = 8; };",
                           "t.cfg:3: reaper.max_failed_executions and reaper.max_attempts are the same setting "
                           "(reaper.max_attempts is its old name): set only reaper.max_failed_executions");
        check_string_error(BASE "reaper = { max_attempts = 0; };",
                           "t.cfg:3: reaper.max_attempts: 0 is out of range [1, 100]");
        setenv("RUNFLEET_REAPER_MAX_ATTEMPTS", "9", 1);
        CHECK(rf_conf_load_string(BASE, "t.cfg", &conf, err, sizeof(err)) == 0);
        if (conf) {
                CHECK(conf->reaper.max_failed_executions == 9);
                CHECK(conf->warning_count == 1);
                CHECK_CONTAINS(conf->warning_count ? conf->warnings[0] : "",
                               "environment RUNFLEET_REAPER_MAX_ATTEMPTS is deprecated, use "
                               "RUNFLEET_REAPER_MAX_FAILED_EXECUTIONS");
        }
        rf_conf_destroy(conf);
        conf = NULL;
        setenv("RUNFLEET_REAPER_MAX_FAILED_EXECUTIONS", "4", 1);
        CHECK(rf_conf_load_string(BASE, "t.cfg", &conf, err, sizeof(err)) < 0);
        CHECK_STR_EQ(err, "environment RUNFLEET_REAPER_MAX_ATTEMPTS and RUNFLEET_REAPER_MAX_FAILED_EXECUTIONS set the "
                          "same setting reaper.max_failed_executions: set only RUNFLEET_REAPER_MAX_FAILED_EXECUTIONS");
        unsetenv("RUNFLEET_REAPER_MAX_ATTEMPTS");
        unsetenv("RUNFLEET_REAPER_MAX_FAILED_EXECUTIONS");
        {
                char *buf = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&buf, &len);

                rf_conf_help(f);
                fclose(f);
                CHECK_CONTAINS(buf, "renamed: reaper.max_attempts is now reaper.max_failed_executions");
                free(buf);
        }
}

/* Reads a file of the source tree whole; NULL (after a failed CHECK) if it cannot. */
static char *read_doc(const char *path) {
        FILE *f = fopen(path, "re");
        char *text = NULL;
        size_t len = 0;

        CHECK(f != NULL);
        if (!f)
                return NULL;
        CHECK(getdelim(&text, &len, '\0', f) > 0);
        fclose(f);
        return text;
}

/* What an operator reads about the two counts and the new settings is in
 * docs/ (configuration.md for the settings, operating.md for status and
 * late runs), under the names the programs use. */
static void test_documented(void) {
        char *text = read_doc(RF_SOURCE_ROOT "/docs/configuration.md");

        if (text) {
                CHECK_CONTAINS(text, "`reaper.max_attempts` is now\n`reaper.max_failed_executions` "
                                     "(`RUNFLEET_REAPER_MAX_FAILED_EXECUTIONS`,\ndefault 5");
                CHECK_CONTAINS(text, "`RUNFLEET_REAPER_MAX_ATTEMPTS` still\nwork");
                CHECK_CONTAINS(text, "`workflows[].alert_after`");
                CHECK_CONTAINS(text, "(`RUNFLEET_REAPER_ALERT_AFTER`, default unset");
                /* the generated settings table (scripts/gen-config-doc) */
                CHECK_CONTAINS(text, "| `reaper.max_failed_executions` | int | 5 | 1..100 | "
                                     "`RUNFLEET_REAPER_MAX_FAILED_EXECUTIONS` |");
                free(text);
        }
        text = read_doc(RF_SOURCE_ROOT "/docs/operating.md");
        if (text) {
                CHECK_CONTAINS(text, "DECIDED   ACTION  STATE      PRODUCED  FAILED  EXECUTION   DURATION");
                CHECK_CONTAINS(text, "- **PRODUCED** is `decisions.attempt`");
                CHECK_CONTAINS(text, "- **FAILED** is how many of its executions failed");
                CHECK_CONTAINS(text, "runfleet_decisions_late_total");
                free(text);
        }
}

/* The settings table of docs/configuration.md is this table: every row
 * --print-config-doc writes names a setting --help lists, with the same
 * default. */
static void test_help_markdown(void) {
        char *md = NULL, *help = NULL;
        size_t md_len = 0, help_len = 0;
        FILE *f = open_memstream(&md, &md_len);
        int rows = 0;

        rf_conf_help_markdown(f);
        fclose(f);
        f = open_memstream(&help, &help_len);
        rf_conf_help(f);
        fclose(f);
        CHECK_CONTAINS(md, "| setting | type | default | range | environment | meaning |\n");
        CHECK_CONTAINS(md, "| `worker.lease_ms` | int | 30000 | 1000..3600000 | `RUNFLEET_WORKER_LEASE_MS` |");
        CHECK_CONTAINS(md, "| `scrapers[].breaker_cooldown_ms` | int | 30000 |");
        /* a '|' inside a cell is escaped, or the row would have a column too many */
        CHECK_CONTAINS(md, "\"@every &lt;N>s\\|m\\|h\"");
        CHECK_CONTAINS(md, "Renamed: `reaper.max_attempts` is now `reaper.max_failed_executions`");
        for (const char *line = md; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                char name[80];

                if (sscanf(line, "| `%79[^`]`", name) != 1)
                        continue;
                rows++;
                CHECK_CONTAINS(help, name);
        }
        CHECK(rows > 60);
        free(md);
        free(help);
}

int main(void) {
        clear_env();
        test_good();
        test_defaults();
        test_file_errors();
        test_open_errors();
        test_include();
        test_string_errors();
        test_env();
        test_help_walk();
        test_scraping_base_url();
        test_workflow_defaults();
        test_tracing();
        test_round_trip();
        test_mask_dsn();
        test_webhook_url();
        test_shipped_configs();
        test_alert_after();
        test_renamed();
        test_documented();
        test_help_markdown();
        return rf_test_finish();
}
