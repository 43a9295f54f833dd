/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "rf_kafka.h"
#include "rf_store.h"
#include "rf_util.h"

#define SKIP 77

void itest_sleep_ms(int ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

/* The services' variables, read once: itest_init() unsets some of them so
 * the programs it starts use the test's own configuration, and a test may
 * call itest_init() more than once. */
static const char *env_or_missing(const char *name) {
        static struct {
                char name[64];
                char *value;
        } seen[8];
        const char *v = NULL;
        size_t i;

        for (i = 0; i < sizeof(seen) / sizeof(seen[0]) && seen[i].value; i++)
                if (strcmp(seen[i].name, name) == 0)
                        return seen[i].value;
        v = getenv(name);
        if (v && *v) {
                if (i < sizeof(seen) / sizeof(seen[0])) {
                        snprintf(seen[i].name, sizeof(seen[i].name), "%s", name);
                        seen[i].value = strdup(v);
                }
                return v;
        }
        if (getenv("RUNFLEET_REQUIRE_SERVICES") && strcmp(getenv("RUNFLEET_REQUIRE_SERVICES"), "1") == 0) {
                fprintf(stderr, "FAIL: %s is not set and services are required (start them with scripts/services)\n",
                        name);
                exit(1);
        }
        fprintf(stderr, "SKIP: %s is not set (source .runfleet/local.env after scripts/services start)\n", name);
        exit(SKIP);
}

/* Replaces the dbname of a URI "postgresql://.../olddb?x" with @p db. */
static void url_with_db(const char *url, const char *db, char *out, size_t size) {
        const char *scheme = strstr(url, "://");
        const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
        const char *query = slash ? strchr(slash, '?') : NULL;

        if (!slash) {
                snprintf(out, size, "%s dbname=%s", url, db); /* conninfo form */
                return;
        }
        snprintf(out, size, "%.*s/%s%s", (int)(slash - url), url, db, query ? query : "");
}

static char registry_url_seen[256]; /* a second itest_init() finds the variable unset */

void itest_require_registry(itest_t *t) {
        itest_reply_t r;
        char url[300];
        bool required = getenv("RUNFLEET_REQUIRE_SERVICES") && strcmp(getenv("RUNFLEET_REQUIRE_SERVICES"), "1") == 0;

        if (!t->registry_url[0]) {
                fprintf(stderr,
                        "%s: RUNFLEET_SCHEMA_REGISTRY_URL is not set (scripts/services start schema-registry)\n",
                        required ? "FAIL" : "SKIP");
                exit(required ? 1 : SKIP);
        }
        snprintf(url, sizeof(url), "%s/subjects", t->registry_url);
        itest_http("GET", url, &r);
        if (r.status != 200) {
                fprintf(stderr, "%s: the schema registry at %s does not answer (HTTP %ld)\n",
                        required ? "FAIL" : "SKIP", t->registry_url, r.status);
                free(r.body);
                exit(required ? 1 : SKIP);
        }
        free(r.body);
}

int itest_start_registry(itest_t *t, int port) {
        char root[512];

        itest_source_root(t, root, sizeof(root));
        t->own_registry_port = port;
        return itest_sh("RUNFLEET_STATE_DIR='%s/registry' SCHEMA_REGISTRY_PORT=%d '%s/scripts/schema-registry' start "
                        ">>'%s/registry-script.log' 2>&1",
                        t->dir, port, root, t->dir);
}

int itest_stop_registry(itest_t *t) {
        char root[512];

        if (!t->own_registry_port)
                return 0;
        itest_source_root(t, root, sizeof(root));
        return itest_sh("RUNFLEET_STATE_DIR='%s/registry' SCHEMA_REGISTRY_PORT=%d '%s/scripts/schema-registry' stop "
                        ">>'%s/registry-script.log' 2>&1",
                        t->dir, t->own_registry_port, root, t->dir);
}

void itest_init(itest_t *t, const char *name) {
        char errstr[512], sql[256], suffix[16], uuid[37];
        rf_pg_t *admin = NULL;

        memset(t, 0, sizeof(*t));
        setvbuf(stdout, NULL, _IOLBF, 0);
        snprintf(t->name, sizeof(t->name), "%s", name);
        snprintf(t->brokers, sizeof(t->brokers), "%s", env_or_missing("RUNFLEET_KAFKA_BROKERS"));
        snprintf(t->admin_url, sizeof(t->admin_url), "%s", env_or_missing("RUNFLEET_DATABASE_URL"));
        snprintf(t->fake_url, sizeof(t->fake_url), "%s", env_or_missing("RUNFLEET_FAKE_SCRAPER_URL"));
        snprintf(t->bin_dir, sizeof(t->bin_dir), "%s", env_or_missing("RUNFLEET_BUILD_ROOT"));

        if (getenv("RUNFLEET_SCHEMA_REGISTRY_URL"))
                snprintf(t->registry_url, sizeof(t->registry_url), "%s", getenv("RUNFLEET_SCHEMA_REGISTRY_URL"));
        else
                snprintf(t->registry_url, sizeof(t->registry_url), "%s", registry_url_seen);
        snprintf(registry_url_seen, sizeof(registry_url_seen), "%s", t->registry_url);

        /* the test's config files name their own database and topics; the
         * shared services' variables must not override them (nor the
         * registry's: only the tests of the framing use one) */
        unsetenv("RUNFLEET_SCHEMA_REGISTRY_URL");
        unsetenv("RUNFLEET_KAFKA_BROKERS");
        unsetenv("RUNFLEET_DATABASE_URL");
        unsetenv("RUNFLEET_CONFIG");

        rf_uuid_new(uuid);
        snprintf(suffix, sizeof(suffix), "%s", rf_uuid_short(uuid));
        snprintf(t->db_name, sizeof(t->db_name), "itest_%s_%s", name, suffix);
        snprintf(t->topic, sizeof(t->topic), "itest.%s.%s", name, suffix);
        snprintf(t->dlq_topic, sizeof(t->dlq_topic), "itest.%s.%s.dlq", name, suffix);
        snprintf(t->group, sizeof(t->group), "itest-%s-%s", name, suffix);
        snprintf(t->dir, sizeof(t->dir), "%s/itest-logs/%s-%s", t->bin_dir, name, suffix);
        {
                char cmd[600];
                snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", t->dir);
                if (system(cmd) != 0) {
                        fprintf(stderr, "FAIL: cannot create %s\n", t->dir);
                        exit(1);
                }
        }
        if (rf_pg_connect(t->admin_url, "itest", &admin, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "FAIL: %s\n", errstr);
                exit(1);
        }
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", t->db_name);
        if (rf_pg_exec(admin, sql, 0, NULL, NULL, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "FAIL: %s\n", errstr);
                exit(1);
        }
        rf_pg_destroy(admin);
        url_with_db(t->admin_url, t->db_name, t->db_url, sizeof(t->db_url));
        if (rf_pg_connect(t->db_url, "itest", &t->pg, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "FAIL: %s\n", errstr);
                exit(1);
        }
        printf("# %s: logs in %s\n", name, t->dir);
}

static char *replace_all(const char *text, const char *needle, const char *with) {
        size_t n = 0, nl = strlen(needle), wl = strlen(with);
        const char *p;
        char *out, *o;

        for (p = text; (p = strstr(p, needle)); p += nl)
                n++;
        out = malloc(strlen(text) + n * wl + 1);
        for (o = out, p = text;;) {
                const char *hit = strstr(p, needle);
                if (!hit) {
                        strcpy(o, p);
                        break;
                }
                memcpy(o, p, (size_t)(hit - p));
                o += hit - p;
                memcpy(o, with, wl);
                o += wl;
                p = hit + nl;
        }
        return out;
}

FILE *itest_config_open_kafka(itest_t *t) {
        static int seq;
        FILE *f;

        snprintf(t->config, sizeof(t->config), "%s/runfleet-%d.cfg", t->dir, ++seq);
        f = fopen(t->config, "w");
        if (!f) {
                fprintf(stderr, "FAIL: cannot write %s\n", t->config);
                exit(1);
        }
        fprintf(f,
                "kafka = {\n  brokers = \"%s\";\n  topic = \"%s\";\n  dlq_topic = \"%s\";\n"
                "  group = \"%s\";\n  partitions = %d;\n  delivery_timeout_ms = 5000;\n"
                "  session_timeout_ms = 6000;\n",
                t->brokers, t->topic, t->dlq_topic, t->group, t->partitions > 0 ? t->partitions : 3);
        return f;
}

const char *itest_config(itest_t *t, const char *fmt, ...) {
        char *body = NULL, *text;
        va_list ap;
        FILE *f;

        va_start(ap, fmt);
        if (vasprintf(&body, fmt, ap) < 0)
                body = NULL;
        va_end(ap);
        text = replace_all(body ? body : "", "@FAKE@", t->fake_url);
        f = itest_config_open_kafka(t);
        fprintf(f, "};\ndatabase = {\n  url = \"%s\";\n};\n%s\n", t->db_url, text);
        fclose(f);
        free(body);
        free(text);
        return t->config;
}

void itest_workflow_names(int partitions, int count, char names[][32]) {
        int used[64] = { 0 }, found = 0;

        for (int i = 0; found < count && i < 10000; i++) {
                char name[32];
                int32_t p;
                snprintf(name, sizeof(name), "flow_%d", i);
                p = rd_kafka_msg_partitioner_consistent(NULL, name, strlen(name), partitions, NULL, NULL);
                if (p < 0 || p >= 64 || used[p])
                        continue;
                used[p] = 1;
                snprintf(names[found++], 32, "%s", name);
        }
}

static pid_t spawn_v(itest_t *t, const char *log, char *const *env, int out_fd, const char *program, va_list ap) {
        char *argv[48];
        char path[700], wrapper[512] = "";
        const char *wrap = getenv("RUNFLEET_ITEST_WRAPPER");
        int argc = 0;
        pid_t pid;

        /* RUNFLEET_ITEST_WRAPPER="valgrind --error-exitcode=99 ..." runs our
         * programs (not the fake scraper) under a tool; words split on spaces */
        if (wrap && strncmp(program, "runfleet-", 9) == 0) {
                snprintf(wrapper, sizeof(wrapper), "%s", wrap);
                for (char *w = strtok(wrapper, " "); w && argc < 15; w = strtok(NULL, " "))
                        argv[argc++] = w;
                /* A process run with a fault point (RUNFLEET_FAULT) dies
                 * there on purpose, _exit(86) in the middle of its work, as
                 * a crash would: what it still holds then is not a leak.
                 * valgrind checks for leaks even at _exit (LeakSanitizer
                 * does not), so its leak check is turned off for such a
                 * process (the last option wins); invalid accesses up to
                 * the crash are still errors. Like a SIGKILLed process. */
                for (int i = 0; argc > 0 && env && env[i]; i++)
                        if (strncmp(env[i], "RUNFLEET_FAULT=", 15) == 0) {
                                const char *base = strrchr(argv[0], '/');
                                if (strcmp(base ? base + 1 : argv[0], "valgrind") == 0)
                                        argv[argc++] = "--leak-check=no";
                                break;
                        }
        }
        snprintf(path, sizeof(path), "%s/%s", t->bin_dir,
                 strcmp(program, "runfleet-producer") == 0 ? "producer/runfleet-producer"
                 : strcmp(program, "runfleet-worker") == 0 ? "worker/runfleet-worker"
                 : strcmp(program, "runfleet-reaper") == 0 ? "reaper/runfleet-reaper"
                                                           : program);
        argv[argc++] = path;
        for (const char *a; argc < 47 && (a = va_arg(ap, const char *));)
                argv[argc++] = (char *)a;
        argv[argc] = NULL;

        pid = fork();
        if (pid == 0) {
                int fd = out_fd;
                if (fd < 0) {
                        char file[700];
                        snprintf(file, sizeof(file), "%s/%s.log", t->dir, log);
                        fd = open(file, O_WRONLY | O_CREAT | O_APPEND, 0644);
                }
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                setenv("RUNFLEET_CONFIG", t->config, 1);
                for (int i = 0; env && env[i]; i++)
                        putenv(env[i]);
                execvp(argv[0], argv);
                fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        return pid;
}

static void remember(itest_t *t, pid_t pid, const char *log) {
        if (t->proc_count < ITEST_MAX_PROCS) {
                snprintf(t->proc_logs[t->proc_count], sizeof(t->proc_logs[0]), "%s/%s.log", t->dir, log);
                t->procs[t->proc_count++] = pid;
        }
}

pid_t itest_spawn(itest_t *t, const char *log, const char *program, ...) {
        va_list ap;
        pid_t pid;

        va_start(ap, program);
        pid = spawn_v(t, log, NULL, -1, program, ap);
        va_end(ap);
        remember(t, pid, log);
        return pid;
}

pid_t itest_spawn_env(itest_t *t, const char *log, char *const *env, const char *program, ...) {
        va_list ap;
        pid_t pid;

        va_start(ap, program);
        pid = spawn_v(t, log, env, -1, program, ap);
        va_end(ap);
        remember(t, pid, log);
        return pid;
}

int itest_wait(pid_t pid, int timeout_ms) {
        int64_t until = rf_mono_ms() + timeout_ms;
        int status;

        while (rf_mono_ms() < until) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                if (r < 0)
                        return -1;
                itest_sleep_ms(20);
        }
        return -1;
}

int itest_run(itest_t *t, char *out, size_t out_size, int timeout_ms, char *const *env, const char *program, ...) {
        char file[700];
        va_list ap;
        pid_t pid;
        int fd, code;
        ssize_t n;

        snprintf(file, sizeof(file), "%s/run-%d.out", t->dir, (int)rf_mono_ms());
        fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
        va_start(ap, program);
        pid = spawn_v(t, NULL, env, fd, program, ap);
        va_end(ap);
        code = itest_wait(pid, timeout_ms);
        if (code < 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
        }
        lseek(fd, 0, SEEK_SET);
        n = read(fd, out, out_size - 1);
        out[n > 0 ? n : 0] = '\0';
        close(fd);
        return code;
}

char *itest_read_log(itest_t *t, pid_t pid) {
        for (int i = 0; i < t->proc_count; i++)
                if (t->procs[i] == pid) {
                        FILE *f = fopen(t->proc_logs[i], "r");
                        char *buf;
                        long n;
                        if (!f)
                                return strdup("");
                        fseek(f, 0, SEEK_END);
                        n = ftell(f);
                        fseek(f, 0, SEEK_SET);
                        buf = calloc(1, (size_t)n + 1);
                        if (fread(buf, 1, (size_t)n, f) != (size_t)n)
                                buf[0] = '\0';
                        fclose(f);
                        return buf;
                }
        return strdup("");
}

bool itest_wait_log(itest_t *t, pid_t pid, const char *needle, int timeout_ms) {
        for (int waited = 0;; waited += 100) {
                char *log = itest_read_log(t, pid);
                bool found = strstr(log, needle) != NULL;

                free(log);
                if (found || waited >= timeout_ms)
                        return found;
                itest_sleep_ms(100);
        }
}

double itest_cpu_seconds(pid_t pid) {
        char path[64], buf[2048];
        unsigned long ut = 0, st = 0;
        const char *p;
        size_t n;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "r");
        if (!f)
                return NAN;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')');
        /* after "pid (comm)": state(3) ... utime(14) stime(15) */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
                return NAN;
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

void itest_migrate(itest_t *t) {
        char out[4096];
        int code = itest_run(t, out, sizeof(out), 60000, NULL, "runfleet-producer", "migrate", NULL);

        if (code != 0) {
                fprintf(stderr, "FAIL: migrate exited %d:\n%s\n", code, out);
                exit(1);
        }
}

int itest_exec(itest_t *t, const char *sql) {
        char errstr[512] = "";

        if (rf_pg_exec(t->pg, sql, 0, NULL, NULL, errstr, sizeof(errstr)) == 0)
                return 0;
        printf("# %s: %s\n", sql, errstr);
        return -1;
}

__attribute__((format(printf, 2, 0))) static long long query_v(itest_t *t, const char *fmt, va_list ap) {
        char *sql = NULL, errstr[512];
        PGresult *res = NULL;
        long long v = -1;

        if (vasprintf(&sql, fmt, ap) < 0)
                return -1;
        /* a connection broken by a database restart is re-made on the next call */
        if (rf_pg_exec(t->pg, sql, 0, NULL, &res, errstr, sizeof(errstr)) == -ENOTCONN)
                rf_pg_exec(t->pg, sql, 0, NULL, &res, errstr, sizeof(errstr));
        if (!res) {
                fprintf(stderr, "query failed: %s: %s\n", sql, errstr);
        } else {
                if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
                        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
                PQclear(res);
        }
        free(sql);
        return v;
}

void itest_print_rows(itest_t *t, const char *sql) {
        char errstr[512];
        PGresult *res = NULL;

        if (rf_pg_exec(t->pg, sql, 0, NULL, &res, errstr, sizeof(errstr)) < 0) {
                printf("# %s: %s\n", sql, errstr);
                return;
        }
        printf("# %s\n", sql);
        for (int row = 0; row < PQntuples(res); row++) {
                printf("#  ");
                for (int col = 0; col < PQnfields(res); col++)
                        printf(" %s=%s", PQfname(res, col),
                               PQgetisnull(res, row, col) ? "NULL" : PQgetvalue(res, row, col));
                printf("\n");
        }
        PQclear(res);
}

long long itest_query_ll(itest_t *t, const char *fmt, ...) {
        va_list ap;
        long long v;

        va_start(ap, fmt);
        v = query_v(t, fmt, ap);
        va_end(ap);
        return v;
}

int itest_trigger(itest_t *t, const char *workflow, char id[37]) {
        char out[8192];
        const char *nl;
        int code = itest_run(t, out, sizeof(out), 60000, NULL, "runfleet-producer", "trigger", workflow, NULL);

        nl = out + strlen(out);
        while (nl > out && nl[-1] == '\n')
                nl--;
        while (nl > out && nl[-1] != '\n')
                nl--;
        snprintf(id, 37, "%.36s", nl);
        return code;
}

const char *itest_query_str(itest_t *t, const char *sql) {
        static char buf[1024];
        char errstr[512];
        PGresult *res = NULL;

        buf[0] = 0;
        if (rf_pg_exec(t->pg, sql, 0, NULL, &res, errstr, sizeof(errstr)) < 0)
                fprintf(stderr, "# query failed: %s\n", errstr);
        else if (PQntuples(res) > 0)
                snprintf(buf, sizeof(buf), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return buf;
}

bool itest_wait_for(itest_t *t, long long expect, int timeout_ms, const char *fmt, ...) {
        int64_t until = rf_mono_ms() + timeout_ms;
        long long v = -1;

        while (true) {
                va_list ap;
                va_start(ap, fmt);
                v = query_v(t, fmt, ap);
                va_end(ap);
                if (v == expect)
                        return true;
                if (rf_mono_ms() >= until)
                        break;
                itest_sleep_ms(250);
        }
        fprintf(stderr, "timed out after %d ms waiting for %lld (last %lld): ", timeout_ms, expect, v);
        {
                va_list ap;
                va_start(ap, fmt);
                vfprintf(stderr, fmt, ap);
                va_end(ap);
        }
        fputc('\n', stderr);
        return false;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *userp) {
        itest_reply_t *r = userp;
        size_t n = size * nmemb;
        char *b = realloc(r->body, r->len + n + 1);

        if (!b)
                return 0;
        memcpy(b + r->len, data, n);
        r->body = b;
        r->len += n;
        r->body[r->len] = '\0';
        return n;
}

void itest_http(const char *method, const char *url, itest_reply_t *r) {
        CURL *c = curl_easy_init();

        memset(r, 0, sizeof(*r));
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
        if (strcmp(method, "HEAD") == 0)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_cleanup(c);
        if (!r->body)
                r->body = strdup("");
}

void itest_source_root(const itest_t *t, char *buf, size_t size) {
        char path[600];
        json_t *j;
        const char *src;

        snprintf(path, sizeof(path), "%s/meson-info/meson-info.json", t->bin_dir);
        j = json_load_file(path, 0, NULL);
        src = json_string_value(json_object_get(json_object_get(j, "directories"), "source"));
        snprintf(buf, size, "%s", src ? src : "");
        json_decref(j);
}

json_t *itest_fake_stats(itest_t *t) {
        return itest_fake_stats_prefix(t, NULL);
}

json_t *itest_fake_stats_prefix(itest_t *t, const char *prefix) {
        char url[600];
        itest_reply_t r = { 0, NULL, 0 };
        json_t *j = NULL;
        CURL *c = curl_easy_init();

        snprintf(url, sizeof(url), "%s/stats%s%s", t->fake_url, prefix ? "?prefix=" : "", prefix ? prefix : "");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
        if (curl_easy_perform(c) == CURLE_OK && r.body)
                j = json_loads(r.body, 0, NULL);
        curl_easy_cleanup(c);
        free(r.body);
        return j ? j : json_object();
}

static rd_kafka_t *client(itest_t *t, rd_kafka_type_t type, const char *group) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        char errstr[512];

        rd_kafka_conf_set(kc, "bootstrap.servers", t->brokers, errstr, sizeof(errstr));
        if (group)
                rd_kafka_conf_set(kc, "group.id", group, errstr, sizeof(errstr));
        return rd_kafka_new(type, kc, errstr, sizeof(errstr));
}

/* Each partition's log-end offset into @p hi (at most @p max partitions).
 * Returns the number of partitions, or -1. */
static int topic_ends(rd_kafka_t *rk, const char *topic, int64_t *hi, int max) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int n = -1;

        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == 0 && md->topic_cnt == 1 && !md->topics[0].err)
                n = md->topics[0].partition_cnt < max ? md->topics[0].partition_cnt : max;
        for (int p = 0; p < n; p++) {
                int64_t lo;
                if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi[p], 10000) != 0)
                        n = -1;
        }
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return n;
}

rd_kafka_resp_err_t itest_committed(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int timeout_ms) {
        int64_t until = rf_mono_ms() + timeout_ms;
        rd_kafka_resp_err_t err;

        for (;;) {
                err = rd_kafka_committed(rk, parts, timeout_ms);
                if ((err != RD_KAFKA_RESP_ERR_NOT_COORDINATOR && err != RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE &&
                     err != RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS) ||
                    rf_mono_ms() >= until)
                        return err;
                itest_sleep_ms(200);
        }
}

/* What @p group has committed on @p parts, summed (nothing counts 0), or
 * -1 when Kafka did not answer. */
static long long committed_sum(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts) {
        long long sum = 0;

        if (itest_committed(rk, parts, 10000) != 0)
                return -1;
        for (int i = 0; i < parts->cnt; i++)
                sum += parts->elems[i].offset > 0 ? parts->elems[i].offset : 0;
        return sum;
}

/* A consumer of @p group (not subscribed: it only asks) and the list of
 * @p topic's partitions; sums their log-end offsets into @p ret_end. */
static rd_kafka_t *group_reader(itest_t *t, const char *topic, const char *group,
                                rd_kafka_topic_partition_list_t **ret_parts, long long *ret_end) {
        rd_kafka_t *rk = client(t, RD_KAFKA_CONSUMER, group);
        int64_t hi[64];
        int n = rk ? topic_ends(rk, topic, hi, 64) : -1;

        *ret_parts = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
        *ret_end = 0;
        for (int p = 0; p < n; p++) {
                rd_kafka_topic_partition_list_add(*ret_parts, topic, p);
                *ret_end += hi[p];
        }
        return rk;
}

void itest_group_offsets(itest_t *t, const char *topic, const char *group, long long *ret_committed,
                         long long *ret_end) {
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_t *rk = group_reader(t, topic, group, &parts, ret_end);
        long long committed = rk ? committed_sum(rk, parts) : -1;

        *ret_committed = committed > 0 ? committed : 0;
        rd_kafka_topic_partition_list_destroy(parts);
        if (rk)
                rd_kafka_destroy(rk);
}

bool itest_wait_committed(itest_t *t, const char *topic, const char *group, int timeout_ms) {
        rd_kafka_topic_partition_list_t *parts;
        long long end, committed = -1;
        rd_kafka_t *rk = group_reader(t, topic, group, &parts, &end);
        int64_t until = rf_mono_ms() + timeout_ms;

        while (rk && (committed = committed_sum(rk, parts)) < end && rf_mono_ms() < until)
                itest_sleep_ms(100);
        rd_kafka_topic_partition_list_destroy(parts);
        if (rk)
                rd_kafka_destroy(rk);
        return committed >= end;
}

long long itest_invariant_violations(itest_t *t) {
        static const struct {
                const char *what, *sql;
        } rules[] = {
                { "RUN decisions neither SUCCEEDED, DEAD nor CANCELLED",
                  "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'"
                  " AND state NOT IN ('SUCCEEDED', 'DEAD', 'CANCELLED')" },
                { "CANCELLED decisions with an execution",
                  "SELECT count(*) FROM runfleet.decisions d WHERE d.state = 'CANCELLED' AND"
                  " EXISTS (SELECT 1 FROM runfleet.executions e WHERE e.decision_id = d.decision_id"
                  "   AND e.status IN ('RUNNING', 'SUCCEEDED'))" },
                { "SUCCEEDED decisions without exactly one SUCCEEDED execution",
                  "SELECT count(*) FROM runfleet.decisions d WHERE d.state = 'SUCCEEDED' AND"
                  " (SELECT count(*) FROM runfleet.executions e WHERE e.decision_id = d.decision_id"
                  "   AND e.status = 'SUCCEEDED') <> 1" },
                { "DEAD decisions with a SUCCEEDED execution",
                  "SELECT count(*) FROM runfleet.decisions d WHERE d.state = 'DEAD' AND"
                  " EXISTS (SELECT 1 FROM runfleet.executions e WHERE e.decision_id = d.decision_id"
                  "   AND e.status = 'SUCCEEDED')" },
                { "DEAD decisions without any attempt",
                  "SELECT count(*) FROM runfleet.decisions d WHERE d.state = 'DEAD' AND"
                  " (SELECT count(*) FROM runfleet.executions e WHERE e.decision_id = d.decision_id) = 0" },
                { "decisions with two SUCCEEDED executions",
                  "SELECT count(*) FROM (SELECT decision_id FROM runfleet.executions"
                  " WHERE status = 'SUCCEEDED' GROUP BY 1 HAVING count(*) > 1) x" },
                { "executions still RUNNING", "SELECT count(*) FROM runfleet.executions WHERE status = 'RUNNING'" },
                { "rows in the orphans view", "SELECT count(*) FROM runfleet.orphans" },
        };
        long long total = 0;

        for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
                long long n = itest_query_ll(t, "%s", rules[i].sql);
                if (n != 0) {
                        printf("# invariant broken: %lld %s\n", n, rules[i].what);
                        total += n < 0 ? 1 : n;
                }
        }
        fflush(stdout);
        return total;
}

const char *itest_group_type(itest_t *t, const char *group) {
        rd_kafka_t *rk = client(t, RD_KAFKA_PRODUCER, NULL);
        rd_kafka_queue_t *q = rk ? rd_kafka_queue_new(rk) : NULL;
        rd_kafka_event_t *ev = NULL;
        const char *type = "unknown";

        if (!q)
                goto out;
        rd_kafka_DescribeConsumerGroups(rk, &group, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 15000);
        if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT &&
            !rd_kafka_event_error(ev)) {
                size_t n = 0;
                const rd_kafka_ConsumerGroupDescription_t **gs = rd_kafka_DescribeConsumerGroups_result_groups(
                        rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
                if (n == 1 && !rd_kafka_ConsumerGroupDescription_error(gs[0]))
                        switch (rd_kafka_ConsumerGroupDescription_type(gs[0])) {
                        case RD_KAFKA_CONSUMER_GROUP_TYPE_CONSUMER:
                                type = "consumer";
                                break;
                        case RD_KAFKA_CONSUMER_GROUP_TYPE_CLASSIC:
                                type = "classic";
                                break;
                        default:
                                break;
                        }
        }
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        if (q)
                rd_kafka_queue_destroy(q);
        if (rk)
                rd_kafka_destroy(rk);
        return type;
}

bool itest_wait_assigned(itest_t *t, const pid_t *pids, int n, int partitions, int timeout_ms) {
        int64_t until = rf_mono_ms() + timeout_ms, stable_since = 0;
        int last_total = -1;

        while (rf_mono_ms() < until) {
                int total = 0, all = 1;
                for (int i = 0; i < n; i++) {
                        char *log = itest_read_log(t, pids[i]), *p, *last = NULL;
                        for (p = log; p && (p = strstr(p, "\"now_assigned\":")); p++)
                                last = p;
                        if (last)
                                total += atoi(last + strlen("\"now_assigned\":"));
                        else
                                all = 0;
                        free(log);
                }
                if (all && total == partitions) {
                        if (total != last_total)
                                stable_since = rf_mono_ms();
                        if (rf_mono_ms() - stable_since >= 1000)
                                return true;
                } else {
                        stable_since = 0;
                }
                last_total = all ? total : -1;
                itest_sleep_ms(100);
        }
        return false;
}

int itest_read_topic(itest_t *t, rd_kafka_t *rk, const char *topic, long long min_messages, int timeout_ms,
                     itest_message_fn each, void *arg) {
        rd_kafka_t *own = NULL;
        rd_kafka_topic_partition_list_t *parts;
        int64_t hi[64] = { 0 }, until = rf_mono_ms() + timeout_ms;
        int n, left = 0, read = 0;

        if (!rk) {
                rk = own = client(t, RD_KAFKA_CONSUMER, "itest-topic-reader");
                if (!rk)
                        return -1;
        }
        while (true) {
                long long total = 0;
                n = topic_ends(rk, topic, hi, 64);
                for (int p = 0; p < n; p++)
                        total += hi[p];
                if (n >= 0 && total >= min_messages)
                        break;
                if (rf_mono_ms() >= until) {
                        n = -1;
                        break;
                }
                itest_sleep_ms(100);
        }
        parts = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
        for (int p = 0; p < n; p++)
                if (hi[p] > 0) {
                        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
                        left++;
                }
        rd_kafka_assign(rk, parts);
        while (left > 0 && rf_mono_ms() < until) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (!m->err && m->partition >= 0 && m->partition < n && m->offset < hi[m->partition]) {
                        read++;
                        each(m, arg);
                        if (m->offset + 1 == hi[m->partition])
                                left--;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(rk, NULL);
        rd_kafka_topic_partition_list_destroy(parts);
        if (own) {
                rd_kafka_consumer_close(own);
                rd_kafka_destroy(own);
        }
        return n < 0 || left > 0 ? -1 : read;
}

int itest_produce_raw(itest_t *t, const char *topic, const char *key, const void *value, size_t len) {
        rd_kafka_t *rk = client(t, RD_KAFKA_PRODUCER, NULL);
        rd_kafka_resp_err_t err;

        err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                                RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END);
        if (!err && rd_kafka_flush(rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
                err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        rd_kafka_destroy(rk);
        return err ? -EIO : 0;
}

/* Under valgrind (RUNFLEET_ITEST_WRAPPER), an error in a process whose exit
 * status no test looks at — one it SIGKILLed, or one stopped at a fault
 * point — shows only in its log: any such report fails the test. */
static int valgrind_reports(const itest_t *t) {
        const char *wrap = getenv("RUNFLEET_ITEST_WRAPPER");

        if (!wrap || !strstr(wrap, "valgrind"))
                return 0;
        if (itest_sh("grep -lE '^==[0-9]+== (Invalid (read|write|free)|Mismatched free|Conditional jump|"
                     "Use of uninitialised|Syscall param|Source and destination overlap|.* are definitely lost "
                     "in loss record)' '%s'/*.log >&2 2>/dev/null",
                     t->dir) != 0)
                return 0;
        fprintf(stderr, "%s: valgrind reported errors in the logs listed above\n", t->name);
        return 1;
}

/* A passing test's topics go, as its database does: thousands of leftover
 * partitions keep the shared broker busy (seen: 4,600 partitions after a
 * day of benchmarks, the idle broker using 80 % of a core). */
static void delete_topics(itest_t *t) {
        rd_kafka_t *rk = client(t, RD_KAFKA_PRODUCER, NULL);
        rd_kafka_DeleteTopic_t *del[2];
        rd_kafka_queue_t *q;
        rd_kafka_event_t *ev;

        if (!rk)
                return;
        del[0] = rd_kafka_DeleteTopic_new(t->topic);
        del[1] = rd_kafka_DeleteTopic_new(t->dlq_topic);
        q = rd_kafka_queue_new(rk);
        rd_kafka_DeleteTopics(rk, del, 2, NULL, q);
        ev = rd_kafka_queue_poll(q, 10000);
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_DeleteTopic_destroy_array(del, 2);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
}

int itest_cleanup(itest_t *t, int failures) {
        int bad = 0;

        for (int i = 0; i < t->proc_count; i++) {
                int code;
                if (t->procs[i] <= 0 || kill(t->procs[i], SIGTERM) != 0)
                        continue;
                code = itest_wait(t->procs[i], 15000);
                if (code == 0)
                        continue;
                if (code < 0) {
                        kill(t->procs[i], SIGKILL);
                        waitpid(t->procs[i], NULL, 0);
                }
                fprintf(stderr, "%s: process did not stop cleanly on SIGTERM (status %d); see %s\n", t->name, code,
                        t->proc_logs[i]);
                bad++;
        }
        bad += valgrind_reports(t);
        itest_stop_registry(t);
        failures += bad;
        rf_pg_destroy(t->pg);
        /* RUNFLEET_ITEST_KEEP_DB=1 keeps a passing test's database too
         * (statistics, plans and rows to inspect after a benchmark) */
        if (failures == 0 && !getenv("RUNFLEET_ITEST_KEEP_DB")) {
                char errstr[256], sql[160];
                rf_pg_t *admin = NULL;
                if (rf_pg_connect(t->admin_url, "itest", &admin, errstr, sizeof(errstr)) == 0) {
                        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->db_name);
                        rf_pg_exec(admin, sql, 0, NULL, NULL, errstr, sizeof(errstr));
                }
                rf_pg_destroy(admin);
                delete_topics(t);
        } else {
                fprintf(stderr, "# %s %s: database %s and logs in %s kept for inspection\n", t->name,
                        failures ? "failed" : "passed", t->db_name, t->dir);
        }
        return bad;
}

int itest_decide(itest_t *t, const char *workflow, int count, char (**ret_ids)[37]) {
        return itest_decide_with(t, NULL, workflow, count, ret_ids);
}

int itest_decide_with(itest_t *t, rd_kafka_t *rk, const char *workflow, int count, char (**ret_ids)[37]) {
        rf_conf_t *conf = NULL;
        rf_pg_t *pg = NULL;
        rd_kafka_t *own = NULL;
        rf_decision_t **ds = calloc((size_t)count, sizeof(*ds));
        char errstr[1024];
        size_t delivered = 0;
        int n = 0;

        if (!ds || rf_conf_load(t->config, &conf, errstr, sizeof(errstr)) < 0 ||
            rf_pg_connect(conf->database.url, "itest", &pg, errstr, sizeof(errstr)) < 0 ||
            (!rk && rf_kafka_producer_new(conf, "itest", rf_store_dr_cb, NULL, &own, errstr, sizeof(errstr)) < 0)) {
                fprintf(stderr, "itest_decide: %s\n", errstr);
                goto out;
        }
        {
                const rf_workflow_conf_t *w = rf_conf_workflow(conf, workflow);
                for (n = 0; w && n < count; n++) {
                        ds[n] = rf_decision_new();
                        ds[n]->workflow = strdup(w->name);
                        ds[n]->reason = strdup("integration test");
                        ds[n]->deadline_ms = w->deadline_ms;
                        rf_decision_set_scrapers(ds[n], w->scrapers, w->scraper_count);
                        if (rf_store_insert_decision(pg, ds[n], "RUN", -1, errstr, sizeof(errstr)) < 0) {
                                fprintf(stderr, "itest_decide: %s\n", errstr);
                                rf_decision_destroy(ds[n]);
                                break;
                        }
                }
        }
        if (rf_store_publish(rk ? rk : own, pg, conf->kafka.topic, ds, (size_t)n, 60000, &delivered, errstr,
                             sizeof(errstr)) < 0)
                fprintf(stderr, "itest_decide: %s\n", errstr);
        if (ret_ids) {
                *ret_ids = calloc((size_t)n + 1, 37);
                for (int i = 0; *ret_ids && i < n; i++)
                        snprintf((*ret_ids)[i], 37, "%s", ds[i]->decision_id);
        }
out:
        for (int i = 0; ds && i < n; i++)
                rf_decision_destroy(ds[i]);
        free(ds);
        if (own)
                rd_kafka_destroy(own);
        rf_pg_destroy(pg);
        rf_conf_destroy(conf);
        return (int)delivered;
}

int itest_free_port(const int *avoid, int navoid) {
        int seed = (int)(((unsigned)getpid() * 7919u + (unsigned)rf_mono_ms()) % 11000u);

        for (int i = 0; i < 300; i++) {
                int port = 21000 + (seed + i * 37) % 11000, taken = 0, fd, ok;
                struct sockaddr_in a = { .sin_family = AF_INET,
                                         .sin_port = htons((uint16_t)port),
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                for (int k = 0; k < navoid; k++)
                        taken |= avoid[k] == port;
                if (taken)
                        continue;
                fd = socket(AF_INET, SOCK_STREAM, 0);
                ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
                if (fd >= 0)
                        close(fd);
                if (ok)
                        return port;
        }
        return 0;
}

int itest_sh(const char *fmt, ...) {
        char *cmd = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -1;
        r = system(cmd);
        free(cmd);
        return r == -1 ? -1 : WIFEXITED(r) ? WEXITSTATUS(r) : 128;
}

void itest_own_fake_scraper(itest_t *t) {
        static const char banner[] = "listening on 127.0.0.1 port ";
        pid_t pid = itest_spawn(t, "fake-scraper", "tests/fake-scraper/runfleet-fake-scraper", "--port", "0", NULL);

        for (int i = 0; i < 200; i++) {
                char *log = itest_read_log(t, pid);
                const char *p = strstr(log, banner);
                unsigned port = 0;

                if (p)
                        sscanf(p + strlen(banner), "%u", &port);
                free(log);
                if (port > 0) {
                        snprintf(t->fake_url, sizeof(t->fake_url), "http://127.0.0.1:%u", port);
                        return;
                }
                itest_sleep_ms(50);
        }
        fprintf(stderr, "FAIL: the test's own fake scraper did not start\n");
        exit(1);
}

long long itest_fake_path_count(itest_t *t, const char *scraper) {
        char path[300];

        snprintf(path, sizeof(path), "/%s/%s", t->topic, scraper);
        /* on a loaded machine /stats may answer late: tried again, not read as 0 */
        for (int tries = 0; tries < 5; tries++) {
                json_t *stats = itest_fake_stats_prefix(t, path), *paths = json_object_get(stats, "paths");
                long long n = json_integer_value(json_object_get(paths, path));
                bool ok = json_is_object(paths);

                json_decref(stats);
                if (ok)
                        return n;
                fprintf(stderr, "# no answer from the fake scraper's /stats, trying again\n");
                itest_sleep_ms(1000);
        }
        return -1;
}

long itest_peak_rss_kb(pid_t pid) {
        char path[64], line[256];
        long kb = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "r");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "VmHWM:", 6) == 0)
                        kb = strtol(line + 6, NULL, 10);
        fclose(f);
        return kb;
}
