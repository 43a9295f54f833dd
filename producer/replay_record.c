/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_record.h"
#include "rf_store.h"
#include "rf_util.h"

rf_decision_t *replay_decision(const replay_item_t *it, const char *replay_id) {
        rf_decision_t *d = rf_decision_new();
        char reason[256], when[40];

        if (!d)
                return NULL;
        rf_time_format(it->d->decided_at_ms, when, sizeof(when));
        snprintf(reason, sizeof(reason), "replay %s of decision %s (decided %s)", rf_uuid_short(replay_id),
                 rf_uuid_short(it->root), when);
        d->workflow = strdup(it->d->workflow);
        d->reason = strdup(reason);
        d->replay_of = strdup(it->root);
        d->deadline_ms = it->d->deadline_ms;
        if (!d->workflow || !d->reason || !d->replay_of ||
            rf_decision_set_scrapers(d, it->d->scrapers, it->d->scraper_count) < 0) {
                rf_decision_destroy(d);
                return NULL;
        }
        return d;
}

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

/* Drops the originals an earlier chunk of this replay recorded already. */
static int drop_recorded(replay_recorder_t *rr, char *errstr, size_t errstr_size) {
        char **roots = calloc(rr->n + 1, sizeof(*roots)), *list = NULL;
        PGresult *res = NULL;
        size_t k = 0;
        int r = -ENOMEM;

        if (!roots)
                goto out;
        for (size_t i = 0; i < rr->n; i++)
                roots[i] = (char *)rr->chunk[i].root;
        list = rf_pg_array_literal(roots, rr->n);
        if (!list)
                goto out;
        {
                const char *params[] = { rr->replay_id, list };
                r = rf_pg_exec(rr->pg,
                               "SELECT original_id::text FROM runfleet.replay_decisions"
                               " WHERE replay_id = $1 AND original_id = ANY ($2::uuid[]) ORDER BY 1",
                               2, params, &res, errstr, errstr_size);
        }
        if (r < 0)
                goto out;
        /* both sorted: the chunk by root (replay_fold), the answer by uuid text */
        for (size_t i = 0, j = 0; i < rr->n; i++) {
                while (j < (size_t)PQntuples(res) && strcmp(PQgetvalue(res, (int)j, 0), rr->chunk[i].root) < 0)
                        j++;
                if (j < (size_t)PQntuples(res) && strcmp(PQgetvalue(res, (int)j, 0), rr->chunk[i].root) == 0)
                        rf_decision_destroy(rr->chunk[i].d);
                else
                        rr->chunk[k++] = rr->chunk[i];
        }
        rr->n = k;
out:
        if (r == -ENOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        PQclear(res);
        free(list);
        free(roots);
        return r;
}

/* The new decisions of the chunk and their replay_decisions links: two
 * statements. */
static int insert_chunk(replay_recorder_t *rr, char *errstr, size_t errstr_size) {
        rf_store_new_t *rows = calloc(rr->n + 1, sizeof(*rows));
        json_t *links = json_array();
        char *text = NULL;
        int r = -ENOMEM;

        if (!rows || !links)
                goto out;
        for (size_t i = 0; i < rr->n; i++) {
                rows[i] = (rf_store_new_t){ .d = replay_decision(&rr->chunk[i], rr->replay_id),
                                            .action = "RUN",
                                            .tick_ms = -1 };
                if (!rows[i].d)
                        goto out;
        }
        r = rf_store_insert_decisions(rr->pg, rows, rr->n, errstr, errstr_size);
        if (r < 0) {
                /* most likely an original is not in this database (foreign key) */
                size_t len = strlen(errstr);
                snprintf(errstr + len, errstr_size - len, " (replaying %zu decisions, %s of %s among them)", rr->n,
                         rr->chunk[0].root, rr->chunk[0].d->workflow);
                goto out;
        }
        r = -ENOMEM;
        for (size_t i = 0; i < rr->n; i++) {
                const replay_item_t *it = &rr->chunk[i];

                if (json_array_append_new(links, json_pack("{s:s, s:s, s:i, s:I}", "original_id", it->root,
                                                           "decision_id", rows[i].d->decision_id, "partition",
                                                           (int)it->partition, "offset", (json_int_t)it->offset)) < 0)
                        goto out;
        }
        text = json_dumps(links, JSON_COMPACT);
        if (!text)
                goto out;
        {
                const char *params[] = { rr->replay_id, text };
                r = rf_pg_exec(rr->pg,
                               "INSERT INTO runfleet.replay_decisions (replay_id, original_id, decision_id,"
                               " kafka_partition, kafka_offset)"
                               " SELECT $1, x.original_id, x.decision_id, x.partition, x.offset"
                               "   FROM jsonb_to_recordset($2::jsonb)"
                               "        AS x(original_id uuid, decision_id uuid, partition integer, \"offset\" bigint)",
                               2, params, NULL, errstr, errstr_size);
        }
        if (r == 0)
                rr->recorded += rr->n;
out:
        if (r == -ENOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        for (size_t i = 0; rows && i < rr->n; i++)
                rf_decision_destroy(rows[i].d);
        free(text);
        json_decref(links);
        free(rows);
        return r;
}

int replay_recorder_flush(replay_recorder_t *rr, char *errstr, size_t errstr_size) {
        int r;

        /* the chunk's later messages of an original it holds twice */
        rr->n = replay_fold(rr->chunk, rr->n, by_root_then_scan_order);
        r = rr->n ? drop_recorded(rr, errstr, errstr_size) : 0;
        if (r == 0 && rr->n)
                r = insert_chunk(rr, errstr, errstr_size);
        replay_recorder_clear(rr);
        return r;
}

int replay_recorder_add(replay_recorder_t *rr, replay_item_t it, char *errstr, size_t errstr_size) {
        rr->chunk[rr->n++] = it;
        return rr->n == REPLAY_CHUNK ? replay_recorder_flush(rr, errstr, errstr_size) : 0;
}

void replay_recorder_clear(replay_recorder_t *rr) {
        for (size_t i = 0; i < rr->n; i++)
                rf_decision_destroy(rr->chunk[i].d);
        rr->n = 0;
}

/* One page of the replay's decisions after (partition, offset) @p after_*,
 * with the original each replays (the last column). */
static const char *const sql_page =
        "SELECT " RF_STORE_DECISION_COLUMNS ", original_id::text, kafka_partition, kafka_offset"
        "  FROM runfleet.decisions JOIN runfleet.replay_decisions r USING (decision_id)"
        " WHERE r.replay_id = $1 AND (r.kafka_partition, r.kafka_offset) > ($2::integer, $3::bigint)"
        " ORDER BY r.kafka_partition, r.kafka_offset LIMIT $4";

int replay_publish(rd_kafka_t *rk, rf_pg_t *pg, const rf_conf_t *conf, const char *replay_id, size_t *ret_total,
                   size_t *ret_delivered, char *errstr, size_t errstr_size) {
        rf_decision_t *ds[REPLAY_PAGE];
        char part[16] = "-1", offset[32] = "-1", limit[16];
        int r = 0;

        *ret_total = *ret_delivered = 0;
        snprintf(limit, sizeof(limit), "%d", REPLAY_PAGE);
        for (;;) {
                const char *params[] = { replay_id, part, offset, limit };
                PGresult *res = NULL;
                size_t n, delivered = 0;
                int pr;

                pr = rf_pg_exec(pg, sql_page, 4, params, &res, errstr, errstr_size);
                if (pr < 0)
                        return pr;
                n = (size_t)PQntuples(res);
                for (size_t i = 0; i < n; i++)
                        if (rf_store_decision_from_row(res, (int)i, &ds[i]) < 0) {
                                for (size_t k = 0; k < i; k++)
                                        rf_decision_destroy(ds[k]);
                                PQclear(res);
                                snprintf(errstr, errstr_size, "out of memory");
                                return -ENOMEM;
                        }
                if (n > 0) {
                        char why[1024];

                        pr = rf_store_publish(rk, pg, conf->kafka.topic, ds, n, conf->kafka.delivery_timeout_ms + 5000,
                                              &delivered, why, sizeof(why));
                        if (pr < 0 && r == 0) {
                                snprintf(errstr, errstr_size, "%s", why);
                                r = pr;
                        }
                        for (size_t i = 0; i < n; i++)
                                printf("  %s  replays %s  %s\n", ds[i]->decision_id, PQgetvalue(res, (int)i, 9),
                                       ds[i]->workflow);
                        snprintf(part, sizeof(part), "%s", PQgetvalue(res, (int)n - 1, 10));
                        snprintf(offset, sizeof(offset), "%s", PQgetvalue(res, (int)n - 1, 11));
                }
                for (size_t i = 0; i < n; i++)
                        rf_decision_destroy(ds[i]);
                PQclear(res);
                *ret_total += n;
                *ret_delivered += delivered;
                if (n < REPLAY_PAGE)
                        return r;
        }
}
