/* SPDX-License-Identifier: Apache-2.0 */
/* rf_metrics rendering (exact text, escaping, histogram buckets, the series
 * bound), `promtool check metrics` on a rendered registry, and rf_http's
 * routes on a real socket. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rf_http.h"
#include "rf_metrics.h"
#include "rf_test.h"

static char *render(rf_metrics_t *reg) {
        char *text = NULL;
        size_t len = 0;

        CHECK(rf_metrics_render(reg, &text, &len) == 0);
        CHECK(text && strlen(text) == len);
        return text;
}

static void test_exact_text(void) {
        rf_metrics_t *reg = rf_metrics_new(0);
        rf_metric_t *c = rf_metrics_register(reg, RF_METRIC_COUNTER, "runfleet_test_total", "Things counted.",
                                             "workflow,status");
        rf_metric_t *g = rf_metrics_register(reg, RF_METRIC_GAUGE, "runfleet_test_in_flight", "Now running.", NULL);
        rf_metric_t *h =
                rf_metrics_register(reg, RF_METRIC_HISTOGRAM, "runfleet_test_duration_seconds", "How long.", "scraper");
        rf_metric_t *e = rf_metrics_register(reg, RF_METRIC_COUNTER, "runfleet_test_empty_total", "None yet.", "x");
        char *text;

        CHECK(c && g && h && e);
        rf_metrics_inc(c, 1, "w", "SUCCEEDED");
        rf_metrics_inc(c, 2, "w", "FAILED");
        rf_metrics_inc(c, 1, "w", "SUCCEEDED");
        rf_metrics_set(g, 3);
        rf_metrics_observe(h, 0.5, "a");
        rf_metrics_observe(h, 0.25, "a");
        rf_metrics_observe(h, 700, "a");
        text = render(reg);
        CHECK_STR_EQ(text, "# HELP runfleet_test_total Things counted.\n"
                           "# TYPE runfleet_test_total counter\n"
                           "runfleet_test_total{workflow=\"w\",status=\"SUCCEEDED\"} 2\n"
                           "runfleet_test_total{workflow=\"w\",status=\"FAILED\"} 2\n"
                           "# HELP runfleet_test_in_flight Now running.\n"
                           "# TYPE runfleet_test_in_flight gauge\n"
                           "runfleet_test_in_flight 3\n"
                           "# HELP runfleet_test_duration_seconds How long.\n"
                           "# TYPE runfleet_test_duration_seconds histogram\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"0.005\"} 0\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"0.01\"} 0\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"0.025\"} 0\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"0.05\"} 0\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"0.1\"} 0\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"0.25\"} 1\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"0.5\"} 2\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"1\"} 2\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"2.5\"} 2\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"5\"} 2\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"10\"} 2\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"30\"} 2\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"60\"} 2\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"120\"} 2\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"300\"} 2\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"600\"} 2\n"
                           "runfleet_test_duration_seconds_bucket{scraper=\"a\",le=\"+Inf\"} 3\n"
                           "runfleet_test_duration_seconds_sum{scraper=\"a\"} 700.75\n"
                           "runfleet_test_duration_seconds_count{scraper=\"a\"} 3\n"
                           "# HELP runfleet_metrics_samples_dropped_total Samples refused because the series limit was "
                           "reached or a label value was unusable.\n"
                           "# TYPE runfleet_metrics_samples_dropped_total counter\n"
                           "runfleet_metrics_samples_dropped_total 0\n");
        free(text);
        CHECK(rf_metrics_value(c, "w", "SUCCEEDED") == 2);
        CHECK(rf_metrics_value(c, "w", "TIMED_OUT") == 0);
        CHECK(rf_metrics_value(h, "a") == 3);
        rf_metrics_destroy(reg);
}

static void test_escaping_and_numbers(void) {
        rf_metrics_t *reg = rf_metrics_new(0);
        rf_metric_t *c =
                rf_metrics_register(reg, RF_METRIC_COUNTER, "esc_total", "A \\ and a\nnewline \"kept\".", " name ");
        rf_metric_t *g = rf_metrics_register(reg, RF_METRIC_GAUGE, "num", "Numbers.", "k");
        char *text;

        rf_metrics_inc(c, 1, "a\"b\\c\nd");
        rf_metrics_inc(c, 1, NULL); /* NULL reads as "" */
        rf_metrics_set(g, 0.1, "tenth");
        rf_metrics_set(g, -2.5, "neg");
        rf_metrics_set(g, 1e20, "big");
        rf_metrics_set(g, 1.0 / 3, "third");
        rf_metrics_set(g, 1.0 / 0.0, "inf");
        text = render(reg);
        CHECK_CONTAINS(text, "# HELP esc_total A \\\\ and a\\nnewline \"kept\".\n");
        CHECK_CONTAINS(text, "esc_total{name=\"a\\\"b\\\\c\\nd\"} 1\n");
        CHECK_CONTAINS(text, "esc_total{name=\"\"} 1\n");
        CHECK_CONTAINS(text, "num{k=\"tenth\"} 0.1\n");
        CHECK_CONTAINS(text, "num{k=\"neg\"} -2.5\n");
        CHECK_CONTAINS(text, "num{k=\"big\"} 1e+20\n");
        CHECK_CONTAINS(text, "num{k=\"third\"} 0.33333333333333331\n");
        CHECK_CONTAINS(text, "num{k=\"inf\"} +Inf\n");
        free(text);
        rf_metrics_destroy(reg);
}

static void test_histogram_buckets(void) {
        rf_metrics_t *reg = rf_metrics_new(0);
        rf_metric_t *h = rf_metrics_register(reg, RF_METRIC_HISTOGRAM, "h_seconds", "H.", NULL);
        char *text;

        rf_metrics_observe(h, 0.005);  /* on a bound: counted in that bucket (le = less or equal) */
        rf_metrics_observe(h, 0.0051); /* just above */
        rf_metrics_observe(h, 600);
        rf_metrics_observe(h, 601);       /* only in +Inf */
        rf_metrics_observe(h, 0.0 / 0.0); /* NaN: ignored */
        text = render(reg);
        CHECK_CONTAINS(text, "h_seconds_bucket{le=\"0.005\"} 1\n");
        CHECK_CONTAINS(text, "h_seconds_bucket{le=\"0.01\"} 2\n");
        CHECK_CONTAINS(text, "h_seconds_bucket{le=\"300\"} 2\n");
        CHECK_CONTAINS(text, "h_seconds_bucket{le=\"600\"} 3\n");
        CHECK_CONTAINS(text, "h_seconds_bucket{le=\"+Inf\"} 4\n");
        CHECK_CONTAINS(text, "h_seconds_count 4\n");
        CHECK_CONTAINS(text, "h_seconds_sum 1201.0101\n");
        free(text);
        rf_metrics_destroy(reg);
}

static void test_registration(void) {
        rf_metrics_t *reg = rf_metrics_new(0);
        rf_metric_t *c = rf_metrics_register(reg, RF_METRIC_COUNTER, "a_total", "A.", "x,y");
        char *text;

        CHECK(c);
        CHECK(rf_metrics_register(reg, RF_METRIC_COUNTER, "a_total", "A again.", "x, y") == c);
        CHECK(rf_metrics_register(reg, RF_METRIC_GAUGE, "a_total", "A.", "x,y") == NULL);
        CHECK(rf_metrics_register(reg, RF_METRIC_COUNTER, "a_total", "A.", "x") == NULL);
        CHECK(rf_metrics_register(reg, RF_METRIC_COUNTER, "1bad", "B.", NULL) == NULL);
        CHECK(rf_metrics_register(reg, RF_METRIC_COUNTER, "bad-name", "B.", NULL) == NULL);
        CHECK(rf_metrics_register(reg, RF_METRIC_COUNTER, "", "B.", NULL) == NULL);
        CHECK(rf_metrics_register(reg, RF_METRIC_COUNTER, "b_total", "B.", "x,x") == NULL);
        CHECK(rf_metrics_register(reg, RF_METRIC_COUNTER, "b_total", "B.", "__x") == NULL);
        CHECK(rf_metrics_register(reg, RF_METRIC_COUNTER, "b_total", "B.", "x,") == NULL);
        CHECK(rf_metrics_register(reg, RF_METRIC_COUNTER, "b_total", "B.", "a-b") == NULL);
        CHECK(rf_metrics_register(reg, RF_METRIC_HISTOGRAM, "b_seconds", "B.", "le") == NULL);
        CHECK(rf_metrics_register(reg, RF_METRIC_GAUGE, "runfleet_metrics_samples_dropped_total", "B.", NULL) == NULL);
        CHECK(rf_metrics_register(reg, RF_METRIC_GAUGE, "c_:ok", "colons are allowed.", "le") != NULL);

        /* NULL metrics and wrong operations are no-ops */
        rf_metrics_inc(NULL, 1);
        rf_metrics_set(NULL, 1);
        rf_metrics_observe(NULL, 1);
        rf_metrics_clear(NULL);
        rf_metrics_destroy(NULL);
        rf_metrics_set(c, 5, "p", "q");     /* set on a counter */
        rf_metrics_observe(c, 5, "p", "q"); /* observe on a counter */
        rf_metrics_inc(c, -1, "p", "q");    /* counters only go up */
        CHECK(rf_metrics_value(c, "p", "q") == 0);
        rf_metrics_inc(c, 1.5, "p", "q");
        CHECK(rf_metrics_value(c, "p", "q") == 1.5);

        /* clear drops the labelled series; a gauge can go down */
        {
                rf_metric_t *g = rf_metrics_register(reg, RF_METRIC_GAUGE, "lag", "Lag.", "partition");
                rf_metrics_set(g, 5, "0");
                rf_metrics_set(g, 7, "1");
                rf_metrics_inc(g, -2, "1");
                CHECK(rf_metrics_value(g, "1") == 5);
                rf_metrics_clear(g);
                rf_metrics_set(g, 1, "2");
                text = render(reg);
                CHECK(!strstr(text, "lag{partition=\"0\"}"));
                CHECK_CONTAINS(text, "lag{partition=\"2\"} 1\n");
                free(text);
        }
        /* the default registry is one per process */
        CHECK(rf_metrics_default() == rf_metrics_default());
        rf_metrics_destroy(reg);
}

static void test_series_bound(void) {
        rf_metrics_t *reg = rf_metrics_new(3);
        rf_metric_t *u = rf_metrics_register(reg, RF_METRIC_COUNTER, "u_total", "Unlabelled: one series.", NULL);
        rf_metric_t *c = rf_metrics_register(reg, RF_METRIC_COUNTER, "c_total", "C.", "workflow");
        char long_value[RF_METRICS_MAX_LABEL_VALUE + 2], *text;

        CHECK(u && c);
        rf_metrics_inc(c, 1, "a");
        rf_metrics_inc(c, 1, "b");
        rf_metrics_inc(c, 1, "forged");  /* a fourth series: refused */
        rf_metrics_inc(c, 1, "forged2"); /* and again */
        rf_metrics_inc(c, 1, "a");       /* existing series still count */
        CHECK(rf_metrics_value(c, "a") == 2);
        CHECK(rf_metrics_value(c, "forged") == 0);
        text = render(reg);
        CHECK(!strstr(text, "forged"));
        CHECK_CONTAINS(text, "runfleet_metrics_samples_dropped_total 2\n");
        free(text);

        /* clearing frees room */
        rf_metrics_clear(c);
        rf_metrics_inc(c, 1, "x");
        CHECK(rf_metrics_value(c, "x") == 1);
        /* values too long or not UTF-8 are refused, not truncated */
        memset(long_value, 'v', sizeof(long_value) - 1);
        long_value[sizeof(long_value) - 1] = '\0';
        rf_metrics_inc(c, 1, long_value);
        rf_metrics_inc(c, 1, "bad\xff");
        rf_metrics_inc(c, 1, "\xc3\xa9t\xc3\xa9"); /* "été" is fine */
        CHECK(rf_metrics_value(c, long_value) == 0);
        CHECK(rf_metrics_value(c, "\xc3\xa9t\xc3\xa9") == 1);
        text = render(reg);
        CHECK_CONTAINS(text, "runfleet_metrics_samples_dropped_total 4\n");
        free(text);
        rf_metrics_destroy(reg);

        /* 10,000 by default: a flood of distinct names costs bounded memory */
        reg = rf_metrics_new(0);
        c = rf_metrics_register(reg, RF_METRIC_COUNTER, "flood_total", "F.", "workflow");
        for (int i = 0; i < RF_METRICS_MAX_SERIES + 500; i++) {
                char name[32];
                snprintf(name, sizeof(name), "wf%d", i);
                rf_metrics_inc(c, 1, name);
        }
        CHECK(rf_metrics_value(c, "wf9999") == 1);
        CHECK(rf_metrics_value(c, "wf10000") == 0);
        text = render(reg);
        CHECK_CONTAINS(text, "runfleet_metrics_samples_dropped_total 500\n");
        free(text);
        rf_metrics_destroy(reg);
}

static void *hammer(void *arg) {
        rf_metric_t *c = arg;

        for (int i = 0; i < 20000; i++)
                rf_metrics_inc(c, 1, i % 2 ? "odd" : "even");
        return NULL;
}

static void test_threads(void) {
        rf_metrics_t *reg = rf_metrics_new(0);
        rf_metric_t *c = rf_metrics_register(reg, RF_METRIC_COUNTER, "t_total", "T.", "k");
        pthread_t th[2];

        for (int i = 0; i < 2; i++)
                pthread_create(&th[i], NULL, hammer, c);
        for (int i = 0; i < 20; i++)
                free(render(reg));
        for (int i = 0; i < 2; i++)
                pthread_join(th[i], NULL);
        CHECK(rf_metrics_value(c, "odd") == 20000);
        CHECK(rf_metrics_value(c, "even") == 20000);
        rf_metrics_destroy(reg);
}

/* A registry like the programs' (names lint-clean), through promtool. */
static void test_promtool(void) {
        const char *require = getenv("RUNFLEET_REQUIRE_SERVICES");
        rf_metrics_t *reg;
        rf_metric_t *c, *h, *g;
        FILE *p;
        int status;

        if (system("command -v promtool >/dev/null 2>&1") != 0) {
                if (require && strcmp(require, "1") == 0) {
                        fprintf(stderr, "promtool is not installed (scripts/install-deps installs prometheus)\n");
                        CHECK(!"promtool installed");
                } else
                        printf("# promtool not installed: skipping `promtool check metrics`\n");
                return;
        }
        reg = rf_metrics_new(0);
        c = rf_metrics_register(reg, RF_METRIC_COUNTER, "runfleet_executions_finished_total",
                                "Executions finished, by workflow and terminal status.", "workflow,status");
        h = rf_metrics_register(reg, RF_METRIC_HISTOGRAM, "runfleet_execution_duration_seconds",
                                "Execution durations \"quoted\" \\ backslashed.", "workflow");
        g = rf_metrics_register(reg, RF_METRIC_GAUGE, "runfleet_executions_in_flight", "In flight.", NULL);
        rf_metrics_inc(c, 1, "w", "SUCCEEDED");
        rf_metrics_inc(c, 1, "we\"ird\\name\nx", "FAILED");
        rf_metrics_observe(h, 1.5, "w");
        rf_metrics_observe(h, 0.001, "\xc3\xa9t\xc3\xa9");
        rf_metrics_set(g, 2);
        p = popen("promtool check metrics", "w");
        CHECK(p != NULL);
        if (p) {
                CHECK(rf_metrics_write(reg, p) == 0);
                status = pclose(p);
                CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        rf_metrics_destroy(reg);
}

/* --- rf_http --------------------------------------------------------- */

typedef struct reply {
        long status;
        char body[4096];
        size_t len;
        char content_type[128];
} reply_t;

static size_t on_data(char *data, size_t size, size_t n, void *userp) {
        reply_t *r = userp;
        size_t len = size * n, room = sizeof(r->body) - 1 - r->len;

        memcpy(r->body + r->len, data, len < room ? len : room);
        r->len += len < room ? len : room;
        r->body[r->len] = '\0';
        return len;
}

static int get(int port, const char *method, const char *path, reply_t *r) {
        CURL *c = curl_easy_init();
        char url[256];
        char *ct = NULL;
        CURLcode rc;

        memset(r, 0, sizeof(*r));
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        if (strcmp(method, "HEAD") == 0)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (ct)
                snprintf(r->content_type, sizeof(r->content_type), "%s", ct);
        curl_easy_cleanup(c);
        return rc == CURLE_OK ? 0 : -1;
}

static int ready_state = 0;
static rf_http_condition_t cond = RF_HTTP_CONDITION_INIT("database");

/* Runs on the server's thread: no CHECK here (its counters are not atomic). */
static int ready_cb(void *opaque, char *reason, size_t size) {
        if (opaque != &ready_state) {
                snprintf(reason, size, "wrong opaque");
                return -EINVAL;
        }
        if (!rf_http_condition_ok(&cond, 0, reason, size))
                return -EAGAIN;
        return 0;
}

static void test_http(void) {
        rf_http_t *http = NULL, *other = NULL;
        rf_metric_t *c = rf_metrics_counter("runfleet_test_requests_total", "Test.", NULL);
        char errstr[256], why[128];
        reply_t r;
        int port;

        rf_metrics_inc(c, 7);
        CHECK(rf_http_start("127.0.0.1", 0, 400, ready_cb, &ready_state, &http, errstr, sizeof(errstr)) == 0);
        if (!http) {
                fprintf(stderr, "rf_http_start: %s\n", errstr);
                return;
        }
        port = rf_http_port(http);
        CHECK(port > 0);
        {
                char expect[64];
                snprintf(expect, sizeof(expect), "127.0.0.1:%d", port);
                CHECK_STR_EQ(rf_http_address(http), expect);
        }
        CHECK(get(port, "GET", "/metrics", &r) == 0);
        CHECK(r.status == 200);
        CHECK_STR_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
        CHECK_CONTAINS(r.body, "# TYPE runfleet_test_requests_total counter\nrunfleet_test_requests_total 7\n");
        CHECK(get(port, "GET", "/healthz", &r) == 0);
        CHECK(r.status == 200);
        CHECK_STR_EQ(r.body, "ok\n");
        CHECK(get(port, "HEAD", "/healthz", &r) == 0);
        CHECK(r.status == 200 && r.len == 0);

        /* readiness: not checked yet, failing with a reason, then ok */
        CHECK(get(port, "GET", "/readyz", &r) == 0);
        CHECK(r.status == 503);
        CHECK_STR_EQ(r.body, "not ready: database: not checked yet\n");
        rf_http_condition_set(&cond, false, "database: connection refused\nsecond line");
        CHECK(get(port, "GET", "/readyz", &r) == 0);
        CHECK(r.status == 503);
        CHECK_STR_EQ(r.body, "not ready: database: connection refused second line\n");
        rf_http_condition_set(&cond, true, NULL);
        CHECK(get(port, "GET", "/readyz", &r) == 0);
        CHECK(r.status == 200);
        CHECK_STR_EQ(r.body, "ready\n");
        CHECK(rf_http_condition_ok(&cond, 60000, why, sizeof(why)));
        usleep(30 * 1000);
        CHECK(!rf_http_condition_ok(&cond, 10, why, sizeof(why)));
        CHECK_CONTAINS(why, "database: not confirmed for ");

        /* everything else */
        CHECK(get(port, "GET", "/", &r) == 0);
        CHECK(r.status == 404);
        CHECK(get(port, "GET", "/metrics/x", &r) == 0);
        CHECK(r.status == 404);
        CHECK(get(port, "POST", "/metrics", &r) == 0);
        CHECK(r.status == 405);

        /* a loop that stops beating turns /healthz to 503, and back */
        usleep(600 * 1000);
        CHECK(get(port, "GET", "/healthz", &r) == 0);
        CHECK(r.status == 503);
        CHECK_CONTAINS(r.body, "stale: the main loop last ticked ");
        rf_http_heartbeat();
        CHECK(get(port, "GET", "/healthz", &r) == 0);
        CHECK(r.status == 200);

        /* the port is taken while it runs, with a clear reason ... */
        CHECK(rf_http_start("127.0.0.1", port, 1000, NULL, NULL, &other, errstr, sizeof(errstr)) < 0);
        CHECK(other == NULL);
        CHECK_CONTAINS(errstr, "Address already in use");
        CHECK(rf_http_start("not an address", 0, 1000, NULL, NULL, &other, errstr, sizeof(errstr)) < 0);
        CHECK_CONTAINS(errstr, "http: listen address 'not an address'");
        CHECK(rf_http_start("127.0.0.1", 70000, 1000, NULL, NULL, &other, errstr, sizeof(errstr)) == -EINVAL);
        /* ... and free again after stop (the daemon closed the socket) */
        rf_http_stop(http);
        rf_http_stop(NULL);
        CHECK(rf_http_start("127.0.0.1", port, 1000, NULL, NULL, &http, errstr, sizeof(errstr)) == 0);
        CHECK(get(port, "GET", "/readyz", &r) == 0);
        CHECK(r.status == 200); /* no callback: ready */
        rf_http_stop(http);

        /* IPv6 loopback when the machine has it */
        if (rf_http_start("::1", 0, 1000, NULL, NULL, &http, errstr, sizeof(errstr)) == 0) {
                CHECK_CONTAINS(rf_http_address(http), "[::1]:");
                rf_http_stop(http);
        } else
                printf("# no IPv6 loopback: %s\n", errstr);
}

int main(void) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        test_exact_text();
        test_escaping_and_numbers();
        test_histogram_buckets();
        test_registration();
        test_series_bound();
        test_threads();
        test_promtool();
        test_http();
        curl_global_cleanup();
        return rf_test_finish();
}
