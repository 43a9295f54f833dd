/* SPDX-License-Identifier: Apache-2.0 */
/* bench_history: bench scenario (h), recording history at the broker's
 * pace, one measurement per invocation, for bench/run:
 *
 *   bench_history --decisions N
 *
 * In a fresh database and topic: `backfill --mode all` of N ticks of an
 * "@every 1s" workflow, then `replay` of the range those N decisions were
 * produced in. Each is timed from exec to exit (every decision recorded in
 * PostgreSQL and acknowledged by Kafka), with the peak RSS of its process.
 * Prints one JSON line. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rf_util.h"

typedef struct timed {
        double ms;
        long rss_kb;
        int code;
} timed_t;

/* Runs the producer with @p argv (NULL-terminated, at most 12) in a child
 * of its own, so RUSAGE_CHILDREN there is that one program's. */
static timed_t run_timed(itest_t *t, char *const *argv) {
        timed_t out = { -1, -1, -1 };
        int fds[2];
        pid_t pid;

        if (pipe(fds) < 0)
                return out;
        pid = fork();
        if (pid == 0) {
                static char text[1 << 16];
                const char *a[12] = { NULL };
                struct rusage ru;
                int64_t t0 = rf_mono_ms();
                timed_t r;

                for (int i = 0; i < 11 && argv[i]; i++)
                        a[i] = argv[i];
                r.code = itest_run(t, text, sizeof(text), 1800000, NULL, "runfleet-producer", a[0], a[1], a[2], a[3],
                                   a[4], a[5], a[6], a[7], a[8], a[9], a[10], NULL);
                r.ms = (double)(rf_mono_ms() - t0);
                getrusage(RUSAGE_CHILDREN, &ru);
                r.rss_kb = ru.ru_maxrss;
                if (r.code != 0)
                        fprintf(stderr, "# runfleet-producer %s: exit %d: %.500s\n", a[0], r.code, text);
                if (write(fds[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
                        _exit(1);
                _exit(0);
        }
        close(fds[1]);
        if (pid > 0 && read(fds[0], &out, sizeof(out)) != (ssize_t)sizeof(out))
                out.code = -1;
        close(fds[0]);
        if (pid > 0)
                waitpid(pid, NULL, 0);
        return out;
}

int main(int argc, char **argv) {
        static const struct option opts[] = { { "decisions", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 } };
        char to_tick[40], from[40], to[40];
        timed_t bf, rp;
        int n = 10000, c;
        json_t *o;
        char *s;
        itest_t t;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c != 'n')
                        return 2;
                n = atoi(optarg);
        }
        if (n < 1 || n > 10000000) {
                fprintf(stderr, "--decisions 1..10000000\n");
                return 2;
        }
        itest_init(&t, "bench_history");
        t.partitions = 6;
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/bench/zero\"; } );\n"
                         "workflows = ( { name = \"sec\"; schedule = \"@every 1s\"; scrapers = [\"s\"]; } );\n"
                         "producer = { backfill_max_decisions = 100000000; };\n");
        itest_migrate(&t);
        /* N ticks, one a second from 2026-01-01 */
        rf_time_format(1767225600000LL + (int64_t)(n - 1) * 1000, to_tick, sizeof(to_tick));
        rf_time_format(rf_now_ms() - 1000, from, sizeof(from));
        bf = run_timed(&t, (char *[]){ "backfill", "sec", "--from", "2026-01-01T00:00:00Z", "--to", to_tick, "--mode",
                                       "all", "--yes", NULL });
        itest_sleep_ms(1100);
        rf_time_format(rf_now_ms(), to, sizeof(to));
        rp = run_timed(&t, (char *[]){ "replay", "--from", from, "--to", to, NULL });
        o = json_pack("{s:i, s:f, s:I, s:f, s:I, s:I, s:I}", "decisions", n, "backfill_ms", bf.ms, "backfill_rss_kb",
                      (json_int_t)bf.rss_kb, "replay_ms", rp.ms, "replay_rss_kb", (json_int_t)rp.rss_kb, "recorded",
                      (json_int_t)itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions"), "acknowledged",
                      (json_int_t)itest_query_ll(&t, "SELECT count(delivered_at) FROM runfleet.decisions"));
        s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        CHECK(bf.code == 0 && rp.code == 0);
        return itest_finish(&t);
}
