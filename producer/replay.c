/* SPDX-License-Identifier: Apache-2.0 */
/* `replay --from T1 --to T2 [--workflow W]... [--dry-run] [--again]`:
 * re-runs, on purpose, the RUN decisions the decisions topic holds for a
 * time range. Each becomes a new decision (new decision_id, so workers and
 * the one-success-per-decision rule treat it as new work, even though the
 * original succeeded) linked to the original by replay_of, recorded in
 * PostgreSQL before it is produced, like any decision.
 *
 * The topic holds a decision once per attempt (the reaper re-produces
 * attempt+1 with the same decision_id), and may hold earlier replays; both
 * are folded onto the original decision, which is replayed once.
 *
 * The replay row, the new decisions and their links are written in one
 * transaction: a replay is recorded with all its decisions or not at all. A
 * crash after COMMIT and before Kafka acknowledges leaves PENDING decisions
 * the reaper produces after its grace period. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer.h"
#include "rf_kafka.h"
#include "rf_log.h"
#include "rf_pg.h"
#include "rf_sr.h"
#include "rf_store.h"
#include "rf_util.h"
#include "replay_record.h"
#include "scan.h"

#define USAGE "usage: replay --from T1 --to T2 [--workflow W]... [--dry-run] [--again]"

/* What the scan does with each wanted message: a dry run collects them
 * (items), a replay hands them to its recorder (rec). */
typedef struct collect {
        char **workflows; /* filter; none: all */
        size_t workflow_count;
        replay_item_t *items;
        size_t n, cap;
        size_t undecodable, filtered;
        replay_recorder_t *rec;
        char errstr[1024]; /* why on_message() or the recorder stopped the scan */
} collect_t;

static bool wanted(const collect_t *c, const char *workflow) {
        if (c->workflow_count == 0)
                return true;
        for (size_t i = 0; i < c->workflow_count; i++)
                if (strcmp(c->workflows[i], workflow) == 0)
                        return true;
        return false;
}

static int on_message(const rd_kafka_message_t *m, int64_t ts, void *opaque) {
        collect_t *c = opaque;
        rf_decision_t *d = NULL;
        char why[256];
        int r;

        r = rf_sr_decode_value(m->payload, m->len, &d, why, sizeof(why));
        if (r == -EAGAIN || r == -ENOMEM) {
                /* skipping it would replay less than asked, silently */
                snprintf(c->errstr, sizeof(c->errstr), "%s [%d] offset %lld: %s", rd_kafka_topic_name(m->rkt),
                         (int)m->partition, (long long)m->offset, why);
                return r;
        }
        if (r < 0) {
                /* the worker dead-letters these; a replay has nothing to run */
                c->undecodable++;
                return 0;
        }
        if (!wanted(c, d->workflow)) {
                c->filtered++;
                rf_decision_destroy(d);
                return 0;
        }
        if (c->rec)
                return replay_recorder_add(c->rec,
                                           (replay_item_t){ .d = d,
                                                            .root = d->replay_of ? d->replay_of : d->decision_id,
                                                            .partition = m->partition,
                                                            .offset = m->offset,
                                                            .ts = ts },
                                           c->errstr, sizeof(c->errstr));
        if (c->n == c->cap) {
                size_t cap = c->cap ? 2 * c->cap : 64;
                replay_item_t *items = realloc(c->items, cap * sizeof(*items));

                if (!items) {
                        rf_decision_destroy(d);
                        return -ENOMEM;
                }
                c->items = items;
                c->cap = cap;
        }
        c->items[c->n++] = (replay_item_t){ .d = d,
                                            .root = d->replay_of ? d->replay_of : d->decision_id,
                                            .partition = m->partition,
                                            .offset = m->offset,
                                            .ts = ts };
        return 0;
}

static int by_root_then_time(const void *a, const void *b) {
        const replay_item_t *x = a, *y = b;
        int c = strcmp(x->root, y->root);

        if (c)
                return c;
        return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int by_time(const void *a, const void *b) {
        const replay_item_t *x = a, *y = b;

        if (x->ts != y->ts)
                return x->ts < y->ts ? -1 : 1;
        return strcmp(x->root, y->root);
}

/* Keeps the first message of each original decision, in time order. */
static void fold_duplicates(collect_t *c) {
        c->n = replay_fold(c->items, c->n, by_root_then_time);
        if (c->n > 0)
                qsort(c->items, c->n, sizeof(*c->items), by_time);
}

static void warn_undecodable(const collect_t *c) {
        if (c->undecodable > 0)
                rf_log_warn("replay.undecodable", json_pack("{s:i}", "messages", (int)c->undecodable),
                            "%zu messages in the range could not be decoded and are not replayed (see the DLQ)",
                            c->undecodable);
}

static int by_name(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An earlier replay of exactly this range and filter, as "id at time", or "". */
static int earlier_replay(rf_pg_t *pg, const char *from, const char *to, const char *workflows, char *ret,
                          size_t ret_size, char *errstr, size_t errstr_size) {
        const char *params[] = { from, to, workflows };
        PGresult *res;
        int r;

        r = rf_pg_exec(
                pg,
                "SELECT replay_id::text || ' at ' || to_char(requested_at AT TIME ZONE 'UTC',"
                "       'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ' (' || decisions || ' decisions)'"
                "  FROM runfleet.replays"
                " WHERE from_ts = to_timestamp($1::bigint / 1000.0) AND to_ts = to_timestamp($2::bigint / 1000.0)"
                "   AND workflows = $3::text[] ORDER BY requested_at DESC LIMIT 1",
                3, params, &res, errstr, errstr_size);
        if (r < 0)
                return r;
        snprintf(ret, ret_size, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
        PQclear(res);
        return 0;
}

/* Records the replay and its decisions in one transaction, reading the
 * range from the topic as it goes (replay_record.h). *ret_count gets how
 * many decisions it recorded. */
static int record(rf_pg_t *pg, rd_kafka_t *reader, const rf_conf_t *conf, collect_t *c, const char *replay_id,
                  int64_t from_ms, int64_t to_ms, const char *workflows, bool again, const char *who, size_t *ret_count,
                  char *errstr, size_t errstr_size) {
        replay_recorder_t *rr = calloc(1, sizeof(*rr));
        char from[32], to[32], count[24], prior[256], ignored[256];
        int r;

        if (!rr) {
                snprintf(errstr, errstr_size, "out of memory");
                return -ENOMEM;
        }
        snprintf(from, sizeof(from), "%lld", (long long)from_ms);
        snprintf(to, sizeof(to), "%lld", (long long)to_ms);
        r = rf_pg_exec(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0)
                goto out;
        /* one replay is recorded at a time, so two identical requests cannot both pass the check */
        r = rf_pg_exec(pg, "LOCK TABLE runfleet.replays IN SHARE ROW EXCLUSIVE MODE", 0, NULL, NULL, errstr,
                       errstr_size);
        if (r == 0)
                r = earlier_replay(pg, from, to, workflows, prior, sizeof(prior), errstr, errstr_size);
        if (r < 0)
                goto rollback;
        if (*prior && !again) {
                snprintf(errstr, errstr_size,
                         "replay: this range and filter were already replayed (replay %s); pass --again to "
                         "replay them once more",
                         prior);
                r = -EEXIST;
                goto rollback;
        }
        {
                const char *params[] = { replay_id, from, to, workflows, again ? "t" : "f", who };
                r = rf_pg_exec(pg,
                               "INSERT INTO runfleet.replays (replay_id, from_ts, to_ts, workflows, again,"
                               " requested_by, decisions) VALUES ($1, to_timestamp($2::bigint / 1000.0),"
                               " to_timestamp($3::bigint / 1000.0), $4::text[], $5::boolean, $6, 0)",
                               6, params, NULL, errstr, errstr_size);
        }
        if (r < 0)
                goto rollback;
        rr->pg = pg;
        rr->replay_id = replay_id;
        c->rec = rr;
        r = scan_topic(reader, conf->kafka.topic, from_ms, to_ms, on_message, c, errstr, errstr_size);
        c->rec = NULL;
        if (r < 0) {
                /* the recorder's own error, or the scan's */
                if (*c->errstr)
                        snprintf(errstr, errstr_size, "%s", c->errstr);
                goto rollback;
        }
        r = replay_recorder_flush(rr, errstr, errstr_size);
        if (r < 0)
                goto rollback;
        snprintf(count, sizeof(count), "%zu", rr->recorded);
        {
                const char *params[] = { replay_id, count };
                r = rf_pg_exec(pg, "UPDATE runfleet.replays SET decisions = $2::integer WHERE replay_id = $1", 2,
                               params, NULL, errstr, errstr_size);
        }
        if (r == 0)
                r = rf_pg_exec(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
        if (r == 0) {
                *ret_count = rr->recorded;
                goto out;
        }
rollback:
        /* a chunk may still be with the server (the scan failed meanwhile) */
        replay_recorder_abandon(rr);
        rf_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, ignored, sizeof(ignored));
out:
        replay_recorder_clear(rr);
        free(rr);
        return r;
}

int producer_replay(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = {
                { "from", required_argument, NULL, 'f' },     { "to", required_argument, NULL, 't' },
                { "workflow", required_argument, NULL, 'w' }, { "dry-run", no_argument, NULL, 'n' },
                { "again", no_argument, NULL, 'a' },          { NULL, 0, NULL, 0 }
        };
        collect_t c = { 0 };
        char errstr[1024], from[32], to[32], replay_id[37], who[128], prior[256] = "";
        char *workflows = NULL;
        const char *from_text = NULL, *to_text = NULL;
        int64_t from_ms = 0, to_ms = 0, since_ms;
        bool dry_run = false, again = false;
        rf_pg_t *pg = NULL;
        rd_kafka_t *reader = NULL, *producer = NULL;
        size_t delivered = 0, recorded = 0;
        int opt, r, code = RF_EXIT_FAILURE;

        c.workflows = calloc((size_t)argc + 1, sizeof(*c.workflows));
        if (!c.workflows)
                return rf_program_fail(prog, RF_EXIT_FAILURE, "replay: out of memory");
        rf_program_subcommand_options();
        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (opt) {
                case 'f':
                        from_text = optarg;
                        break;
                case 't':
                        to_text = optarg;
                        break;
                case 'n':
                        dry_run = true;
                        break;
                case 'a':
                        again = true;
                        break;
                case 'w':
                        if (!rf_conf_workflow(conf, optarg)) {
                                code = rf_program_fail(prog, RF_EXIT_USAGE, "replay: unknown workflow '%s' in %s",
                                                       optarg, conf->path);
                                goto out;
                        }
                        c.workflows[c.workflow_count++] = optarg;
                        break;
                default:
                        code = rf_program_fail(prog, RF_EXIT_USAGE, USAGE);
                        goto out;
                }
        }
        if (optind < argc || !from_text || !to_text) {
                code = rf_program_fail(prog, RF_EXIT_USAGE, USAGE);
                goto out;
        }
        if (rf_time_parse(from_text, &from_ms) < 0 || rf_time_parse(to_text, &to_ms) < 0) {
                code = rf_program_fail(
                        prog, RF_EXIT_USAGE,
                        "replay: '%s' is not a time (e.g. 2026-11-27T13:00:00Z, 2026-11-27, @1795000000)",
                        rf_time_parse(from_text, &from_ms) < 0 ? from_text : to_text);
                goto out;
        }
        if (from_ms >= to_ms) {
                code = rf_program_fail(prog, RF_EXIT_USAGE, "replay: --from (%s) must be before --to (%s)", from_text,
                                       to_text);
                goto out;
        }
        /* the filter as recorded: sorted, no repeats, so the same request compares equal */
        if (c.workflow_count > 0) /* no filter: c.workflows may be NULL, which qsort must not get */
                qsort(c.workflows, c.workflow_count, sizeof(*c.workflows), by_name);
        {
                size_t k = 0;
                for (size_t i = 0; i < c.workflow_count; i++)
                        if (k == 0 || strcmp(c.workflows[k - 1], c.workflows[i]) != 0)
                                c.workflows[k++] = c.workflows[i];
                c.workflow_count = k;
        }
        workflows = rf_pg_array_literal(c.workflows, c.workflow_count);
        if (!workflows) {
                rf_program_fail(prog, code, "replay: out of memory");
                goto out;
        }
        snprintf(from, sizeof(from), "%lld", (long long)from_ms);
        snprintf(to, sizeof(to), "%lld", (long long)to_ms);

        if (rf_pg_connect(conf->database.url, prog->name, &pg, errstr, sizeof(errstr)) < 0 ||
            rf_kafka_reader_new(conf, "runfleet-replay", &reader, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "%s", errstr);
                goto out;
        }
        if (dry_run) {
                r = scan_topic(reader, conf->kafka.topic, from_ms, to_ms, on_message, &c, errstr, sizeof(errstr));
                if (r < 0) {
                        rf_program_fail(prog, code, "replay: %s",
                                        c.errstr[0]    ? c.errstr
                                        : r == -ENOMEM ? "out of memory"
                                                       : errstr);
                        goto out;
                }
                fold_duplicates(&c);
                warn_undecodable(&c);
                if (earlier_replay(pg, from, to, workflows, prior, sizeof(prior), errstr, sizeof(errstr)) < 0) {
                        rf_program_fail(prog, code, "replay: %s", errstr);
                        goto out;
                }
                printf("dry run: would replay %zu decision%s from %s to %s%s\n", c.n, c.n == 1 ? "" : "s", from_text,
                       to_text, c.workflow_count ? " (workflow filter applied)" : "");
                for (size_t i = 0; i < c.n; i++) {
                        char when[40];
                        rf_time_format(c.items[i].ts, when, sizeof(when));
                        printf("  %s  %-24s  produced %s  partition %d offset %lld\n", c.items[i].root,
                               c.items[i].d->workflow, when, (int)c.items[i].partition, (long long)c.items[i].offset);
                }
                if (*prior)
                        printf("note: already replayed (replay %s); a real run needs --again\n", prior);
                code = RF_EXIT_OK;
                goto out;
        }

        rf_uuid_new(replay_id);
        rf_process_id(who, sizeof(who));
        since_ms = rf_now_ms();
        r = record(pg, reader, conf, &c, replay_id, from_ms, to_ms, workflows, again, who, &recorded, errstr,
                   sizeof(errstr));
        if (r < 0) {
                rf_program_fail(prog, code, "%s", r == -ENOMEM ? "replay: out of memory" : errstr);
                goto out;
        }
        warn_undecodable(&c);
        rf_log_info("replay.recorded",
                    json_pack("{s:s, s:i, s:s, s:s}", "replay_id", replay_id, "decisions", (int)recorded, "from",
                              from_text, "to", to_text),
                    "replay %s: %zu decisions recorded", replay_id, recorded);
        printf("replay %s: %zu decision%s replayed\n", replay_id, recorded, recorded == 1 ? "" : "s");
        if (recorded > 0) {
                size_t total = 0;

                if (rf_kafka_producer_new(conf, prog->name, rf_store_dr_cb, NULL, &producer, errstr, sizeof(errstr)) <
                            0 ||
                    replay_publish(producer, pg, conf, replay_id, since_ms, &total, &delivered, errstr,
                                   sizeof(errstr)) < 0) {
                        rf_program_fail(prog, code,
                                        "replay %s: %zu of %zu decisions delivered to Kafka (%s); the reaper will "
                                        "produce the rest",
                                        replay_id, delivered, recorded, errstr);
                        goto out;
                }
        }
        code = RF_EXIT_OK;
out:
        if (producer) {
                rd_kafka_flush(producer, 5000);
                rd_kafka_destroy(producer);
        }
        if (reader) {
                rd_kafka_consumer_close(reader);
                rd_kafka_destroy(reader);
        }
        for (size_t i = 0; i < c.n; i++)
                rf_decision_destroy(c.items[i].d);
        free(c.items);
        free(c.workflows);
        free(workflows);
        rf_pg_destroy(pg);
        return code;
}
