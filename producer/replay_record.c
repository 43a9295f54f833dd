/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_record.h"
#include "rf_json_text.h"
#include "rf_store.h"
#include "rf_util.h"
#include "rf_uuid.h"

static int by_root_then_scan_order(const void *a, const void *b) {
        const replay_item_t *x = a, *y = b;
        int c = strcmp(x->root, y->root);

        if (c)
                return c;
        if (x->partition != y->partition)
                return x->partition < y->partition ? -1 : 1;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

size_t replay_fold(replay_item_t *items, size_t n, int (*order)(const void *, const void *)) {
        size_t k = 0;

        if (n == 0)
                return 0; /* items may be NULL: qsort's array must not be, even for no elements */
        qsort(items, n, sizeof(*items), order);
        for (size_t i = 0; i < n; i++) {
                if (k > 0 && strcmp(items[k - 1].root, items[i].root) == 0) {
                        rf_decision_destroy(items[i].d);
                        continue;
                }
                items[k++] = items[i];
        }
        return k;
}

/* A chunk's new decisions and their links in one statement: the
 * originals an earlier chunk of this replay recorded already (linked in
 * replay_decisions) are left out, the rest inserted into decisions and
 * linked. $1 the replay, $2 the chunk as JSON; answers how many it
 * recorded. Each decision is a RUN replaying its original, with the
 * original's workflow, scrapers and deadline: a new time-ordered id (its
 * day's partition), decided now, attempt 1, PENDING. */
static const char *const sql_chunk =
        "WITH x AS (SELECT * FROM jsonb_to_recordset($2::jsonb)"
        "             AS x(original_id uuid, decision_id uuid, workflow text, reason text, decided_ms bigint,"
        "                  scrapers text[], deadline_ms bigint, trace_id text, p integer, o bigint)),"
        " fresh AS (SELECT * FROM x WHERE NOT EXISTS (SELECT FROM runfleet.replay_decisions r"
        "                                             WHERE r.replay_id = $1 AND r.original_id = x.original_id)),"
        " made AS (INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, decided_at, scrapers,"
        "                                          deadline_ms, attempt, replay_of, trace_id, state)"
        "          SELECT decision_id, workflow, 'RUN', reason, to_timestamp(decided_ms / 1000.0), scrapers,"
        "                 deadline_ms, 1, original_id, trace_id, 'PENDING' FROM fresh),"
        " linked AS (INSERT INTO runfleet.replay_decisions (replay_id, original_id, decision_id, kafka_partition,"
        "                                                   kafka_offset)"
        "            SELECT $1, original_id, decision_id, p, o FROM fresh)"
        " SELECT count(*) FROM fresh";

/* The chunk as the JSON array sql_chunk reads; NULL when out of memory. */
static char *chunk_json(const replay_recorder_t *rr) {
        rf_json_text_t t = { 0 };

        rf_json_text_open(&t, '[');
        for (size_t i = 0; i < rr->n; i++) {
                const replay_item_t *it = &rr->chunk[i];
                char reason[256], when[40], id[37], trace[37];
                int64_t now = rf_now_ms();

                rf_time_format(it->d->decided_at_ms, when, sizeof(when));
                snprintf(reason, sizeof(reason), "replay %s of decision %s (decided %s)", rf_uuid_short(rr->replay_id),
                         rf_uuid_short(it->root), when);
                rf_uuid_at(now, id);
                rf_uuid_new(trace);
                rf_json_text_open(&t, '{');
                rf_json_text_key(&t, "original_id");
                rf_json_text_string(&t, it->root);
                rf_json_text_key(&t, "decision_id");
                rf_json_text_string(&t, id);
                rf_json_text_key(&t, "workflow");
                rf_json_text_string(&t, it->d->workflow);
                rf_json_text_key(&t, "reason");
                rf_json_text_string(&t, reason);
                rf_json_text_key(&t, "decided_ms");
                rf_json_text_int(&t, now);
                rf_json_text_key(&t, "scrapers");
                rf_json_text_open(&t, '[');
                for (size_t k = 0; k < it->d->scraper_count; k++) {
                        if (k)
                                rf_json_text_raw(&t, ",", 1);
                        rf_json_text_string(&t, it->d->scrapers[k]);
                }
                rf_json_text_raw(&t, "]", 1);
                rf_json_text_key(&t, "deadline_ms");
                rf_json_text_int(&t, it->d->deadline_ms);
                rf_json_text_key(&t, "trace_id");
                rf_json_text_string(&t, trace);
                rf_json_text_key(&t, "p");
                rf_json_text_int(&t, it->partition);
                rf_json_text_key(&t, "o");
                rf_json_text_int(&t, it->offset);
                rf_json_text_raw(&t, "}", 1);
        }
        rf_json_text_raw(&t, "]", 1);
        return rf_json_text_take(&t);
}

/* The answer to the chunk sent last, if one is in flight. */
static int take_sent(replay_recorder_t *rr, char *errstr, size_t errstr_size) {
        PGresult *res = NULL;
        int r;

        if (!rr->sent)
                return 0;
        rr->sent = false;
        r = rf_pg_wait(rr->pg, &res, errstr, errstr_size);
        if (r < 0) {
                size_t len = strlen(errstr);

                snprintf(errstr + len, errstr_size - len, " (replaying %zu decisions, %s of %s among them)", rr->sent_n,
                         rr->sent_root, rr->sent_workflow);
                return r;
        }
        rr->recorded += (size_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        return 0;
}

/* Sends the chunk, after taking the answer to the one before: the server
 * records it while the caller reads the next from Kafka. */
static int send_chunk(replay_recorder_t *rr, char *errstr, size_t errstr_size) {
        char *text = chunk_json(rr);
        int r;

        if (!text) {
                snprintf(errstr, errstr_size, "out of memory");
                return -ENOMEM;
        }
        r = take_sent(rr, errstr, errstr_size);
        if (r == 0) {
                const char *params[] = { rr->replay_id, text };

                r = rf_pg_send(rr->pg, sql_chunk, 2, params, errstr, errstr_size);
        }
        if (r == 0) {
                rr->sent = true;
                rr->sent_n = rr->n;
                snprintf(rr->sent_root, sizeof(rr->sent_root), "%s", rr->chunk[0].root);
                snprintf(rr->sent_workflow, sizeof(rr->sent_workflow), "%s", rr->chunk[0].d->workflow);
        }
        free(text);
        return r;
}

static int flush_chunk(replay_recorder_t *rr, char *errstr, size_t errstr_size) {
        int r = 0;

        /* the chunk's later messages of an original it holds twice */
        rr->n = replay_fold(rr->chunk, rr->n, by_root_then_scan_order);
        if (rr->n)
                r = send_chunk(rr, errstr, errstr_size);
        replay_recorder_clear(rr);
        return r;
}

int replay_recorder_flush(replay_recorder_t *rr, char *errstr, size_t errstr_size) {
        int r = flush_chunk(rr, errstr, errstr_size);

        if (r < 0) {
                /* the answer in flight, whatever it is, before anything else uses the connection */
                replay_recorder_abandon(rr);
                return r;
        }
        return take_sent(rr, errstr, errstr_size);
}

void replay_recorder_abandon(replay_recorder_t *rr) {
        char ignored[256];

        take_sent(rr, ignored, sizeof(ignored));
        replay_recorder_clear(rr);
}

int replay_recorder_add(replay_recorder_t *rr, replay_item_t it, char *errstr, size_t errstr_size) {
        rr->chunk[rr->n++] = it;
        return rr->n == REPLAY_CHUNK ? flush_chunk(rr, errstr, errstr_size) : 0;
}

void replay_recorder_clear(replay_recorder_t *rr) {
        for (size_t i = 0; i < rr->n; i++)
                rf_decision_destroy(rr->chunk[i].d);
        rr->n = 0;
}

/* One page of the replay's decisions after (partition, offset) @p after_*,
 * with the original each replays (the column after the decision's). The
 * replay's decisions were all made between $5 and $6 (ids that begin with
 * their time): the planner reads only those days' partitions, and not every
 * day's index for every row. */
static const char *const sql_page =
        "SELECT " RF_STORE_DECISION_COLUMNS ", original_id::text, kafka_partition, kafka_offset"
        "  FROM runfleet.decisions JOIN runfleet.replay_decisions r USING (decision_id)"
        " WHERE r.replay_id = $1 AND (r.kafka_partition, r.kafka_offset) > ($2::integer, $3::bigint)"
        "   AND decision_id >= $5::uuid AND decision_id < $6::uuid"
        " ORDER BY r.kafka_partition, r.kafka_offset LIMIT $4";

#define CLOCK_MARGIN_MS (3600 * 1000)

/* A page read back, and then handed to Kafka. */
typedef struct page {
        PGresult *res;
        rf_decision_t *ds[REPLAY_PAGE];
        size_t n;
        rf_store_publish_t *pub;
} page_t;

static void page_clear(page_t *p) {
        rf_store_publish_free(p->pub);
        p->pub = NULL;
        for (size_t i = 0; i < p->n; i++)
                rf_decision_destroy(p->ds[i]);
        p->n = 0;
        PQclear(p->res);
        p->res = NULL;
}

/* Reads the page after @p after (the page before, or NULL for the first). */
static int page_read(rf_pg_t *pg, const char *replay_id, const char *const bounds[2], const page_t *after, page_t *p,
                     char *errstr, size_t errstr_size) {
        char part[16] = "-1", offset[32] = "-1", limit[16];
        const char *params[] = { replay_id, part, offset, limit, bounds[0], bounds[1] };
        int r;

        if (after && after->n > 0) {
                snprintf(part, sizeof(part), "%s", PQgetvalue(after->res, (int)after->n - 1, 10));
                snprintf(offset, sizeof(offset), "%s", PQgetvalue(after->res, (int)after->n - 1, 11));
        }
        snprintf(limit, sizeof(limit), "%d", REPLAY_PAGE);
        r = rf_pg_exec(pg, sql_page, 6, params, &p->res, errstr, errstr_size);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(p->res); i++) {
                if (rf_store_decision_from_row(p->res, i, &p->ds[i]) < 0) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -ENOMEM;
                }
                p->n++;
        }
        return 0;
}

int replay_publish(rd_kafka_t *rk, rf_pg_t *pg, const rf_conf_t *conf, const char *replay_id, int64_t since_ms,
                   size_t *ret_total, size_t *ret_delivered, char *errstr, size_t errstr_size) {
        page_t *pages = calloc(2, sizeof(*pages)), *cur, *next;
        char lo[37], hi[37];
        const char *bounds[] = { lo, hi };
        int r = 0, pr;

        *ret_total = *ret_delivered = 0;
        if (!pages) {
                snprintf(errstr, errstr_size, "out of memory");
                return -ENOMEM;
        }
        /* an hour's margin either side: the wall clock may be set back or forth meanwhile */
        rf_uuid_floor(since_ms - CLOCK_MARGIN_MS, lo);
        rf_uuid_floor(rf_now_ms() + CLOCK_MARGIN_MS, hi);
        cur = &pages[0];
        next = &pages[1];
        pr = page_read(pg, replay_id, bounds, NULL, cur, errstr, errstr_size);
        while (pr == 0 && cur->n > 0) {
                size_t delivered = 0;
                char why[1024];
                page_t *t;

                pr = rf_store_publish_start(rk, conf->kafka.topic, cur->ds, cur->n,
                                            conf->kafka.delivery_timeout_ms + 5000, &cur->pub);
                if (pr < 0) {
                        snprintf(errstr, errstr_size, "out of memory");
                        break;
                }
                /* the next page is read while Kafka takes this one */
                if (cur->n == REPLAY_PAGE)
                        pr = page_read(pg, replay_id, bounds, cur, next, errstr, errstr_size);
                rf_store_publish_wait(cur->pub);
                if (rf_store_publish_finish(cur->pub, pg, NULL, &delivered, why, sizeof(why)) < 0 && r == 0) {
                        snprintf(errstr, errstr_size, "%s", why);
                        r = -EIO;
                }
                cur->pub = NULL;
                for (size_t i = 0; i < cur->n; i++)
                        printf("  %s  replays %s  %s\n", cur->ds[i]->decision_id, PQgetvalue(cur->res, (int)i, 9),
                               cur->ds[i]->workflow);
                *ret_total += cur->n;
                *ret_delivered += delivered;
                page_clear(cur);
                t = cur;
                cur = next;
                next = t;
        }
        page_clear(&pages[0]);
        page_clear(&pages[1]);
        free(pages);
        return pr < 0 ? pr : r;
}
