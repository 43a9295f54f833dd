/* `dlq list [--since T]`: the dead-letter topic, one line per message, with
 * the reason the worker gave and where the message came from, so nobody
 * needs kcat and the header names to find out why work was set aside. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer.h"
#include "rf_decision.h"
#include "rf_kafka.h"
#include "rf_util.h"
#include "scan.h"

typedef struct listing {
        size_t count;
} listing_t;

/* Header @p name of @p m into @p buf ("-" when absent), control characters masked. */
static void header(const rd_kafka_message_t *m, const char *name, char *buf, size_t size) {
        rd_kafka_headers_t *h = NULL;
        const void *v = NULL;
        size_t len = 0;

        if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len) || !v) {
                snprintf(buf, size, "-");
                return;
        }
        snprintf(buf, size, "%.*s", (int)len, (const char *)v);
        for (char *p = buf; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
}

static int print_one(const rd_kafka_message_t *m, int64_t ts, void *opaque) {
        listing_t *l = opaque;
        char when[40], reason[512], topic[256], part[16], offset[32], what[160], origin[320];
        rf_decision_t *d = NULL;
        char why[256];

        rf_time_format(ts, when, sizeof(when));
        header(m, "runfleet.dlq.reason", reason, sizeof(reason));
        header(m, "runfleet.dlq.source.topic", topic, sizeof(topic));
        header(m, "runfleet.dlq.source.partition", part, sizeof(part));
        header(m, "runfleet.dlq.source.offset", offset, sizeof(offset));
        if (rf_decision_decode(m->payload, m->len, &d, why, sizeof(why)) == 0)
                snprintf(what, sizeof(what), "decision %.36s of %.64s", d->decision_id, d->workflow);
        else
                snprintf(what, sizeof(what), "%zu undecodable bytes", m->len);
        rf_decision_destroy(d);
        if (l->count++ == 0)
                printf("%-6s  %-24s  %-40s  %s\n", "OFFSET", "DEAD-LETTERED", "ORIGIN", "MESSAGE / REASON");
        snprintf(origin, sizeof(origin), "%s [%s] @%s", topic, part, offset);
        printf("%d:%-4lld  %-24s  %-40s  %s\n        reason: %s\n", (int)m->partition, (long long)m->offset, when,
               origin, what, reason);
        return 0;
}

static int dlq_list(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "since", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 } };
        listing_t l = { 0 };
        rd_kafka_t *rk = NULL;
        char errstr[1024];
        int64_t since = 0;
        int c, code = RF_EXIT_FAILURE;

        optind = 1;
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1)
                if (c != 's' || rf_time_parse(optarg, &since) < 0)
                        return rf_program_fail(prog, RF_EXIT_USAGE,
                                               "usage: dlq list [--since T] (T e.g. 2026-11-27T13:00:00Z or 2026-11-27)");
        if (optind < argc)
                return rf_program_fail(prog, RF_EXIT_USAGE, "dlq list: unexpected argument '%s'", argv[optind]);
        if (rf_kafka_reader_new(conf, "runfleet-dlq", &rk, errstr, sizeof(errstr)) < 0 ||
            scan_topic(rk, conf->kafka.dlq_topic, since, -1, print_one, &l, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "dlq list: %s", errstr);
                goto out;
        }
        printf("%zu message%s in %s\n", l.count, l.count == 1 ? "" : "s", conf->kafka.dlq_topic);
        code = RF_EXIT_OK;
out:
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        return code;
}

int producer_dlq(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        if (argc >= 2 && strcmp(argv[1], "list") == 0)
                return dlq_list(prog, conf, argc - 1, argv + 1);
        return rf_program_fail(prog, RF_EXIT_USAGE, "usage: dlq list [--since T]");
}
