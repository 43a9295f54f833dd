/* SPDX-License-Identifier: Apache-2.0 */
#include "decide_sql.h"

/* The jobs whose tick has a decision already (another evaluator's, or one
 * recorded before a crash): their index, one row each.
 *
 * $2, the smallest id of the round's earliest tick (rf_uuid_floor), lets
 * the planner skip the day partitions before that tick's day, which
 * cannot hold the answer: a tick's first decision has the tick's own id
 * (rf_uuid_tick), so it sorts at or above $2 whoever recorded it; a
 * backfill's second decision of a tick has an id of its decided_at, after
 * the tick. Without it each job probed the (workflow, tick) index of every
 * day kept: with 39 partitions, 9,100 buffers and 5 ms for 100 jobs, and
 * 15 ms more to plan in a new connection (docs/benchmarks.md, (f)). (A
 * bound on decided_at, which is no partition key, prunes nothing.)
 *
 * The DEFAULT partition, decisions_before_018, is read whole: it holds the
 * decisions from before 018_partitioned_history.sql, whose random ids say
 * nothing of their time (and the days nobody made a partition for). A
 * manual trigger's decision has no tick and matches no job. */
const char *const decide_sql_decided =
        "SELECT j.i FROM jsonb_to_recordset($1::jsonb) AS j(i integer, w text, t bigint)"
        " WHERE EXISTS (SELECT 1 FROM runfleet.decisions d"
        "                WHERE d.workflow = j.w AND d.tick = to_timestamp(j.t / 1000.0)"
        "                  AND d.decision_id >= $2::uuid)"
        "    OR EXISTS (SELECT 1 FROM runfleet.decisions_before_018 d"
        "                WHERE d.workflow = j.w AND d.tick = to_timestamp(j.t / 1000.0))";

/* The RUN decisions of every workflow involved ($1, with the workflows
 * they run after) whose tick, or decided_at for one without a tick, is
 * within a day and a bit either side of the round's ticks ($2, $3): 26 h
 * covers the longest local day (25 h) whatever the zone's offset; a
 * decision is made after its tick, give or take an hour of the clocks of
 * evaluator and database, so decided_at >= $2 - 27 h. Sorted by workflow
 * as strcmp() sorts, for decide.c's lookups.
 *
 * Those with a tick, and those without (triggers, replays), each have an
 * index by workflow: (workflow, tick, decided_at) of 018, and
 * decisions_untimed of 020. As one query over coalesce(tick, decided_at)
 * no index served it, and PostgreSQL read every decision of yesterday
 * since the bound: 52 ms with a third of a million a day
 * (docs/benchmarks.md, (f)). $4, the smallest id of $2 - 27 h, lets the
 * planner skip the older days' partitions (20 ms to plan with 39): an id
 * begins with its tick, or without one with its decided_at (rf_store.c),
 * both later. The DEFAULT partition's rows below $4 come from its own
 * branch, as in decide_sql_decided. */
const char *const decide_sql_history =
        "SELECT * FROM ("
        " SELECT workflow, decision_id::text, (extract(epoch FROM tick) * 1000)::bigint AS at_ms,"
        "        (extract(epoch FROM state_at) * 1000)::bigint, state, replay_of IS NOT NULL,"
        "        waiting_for IS NOT NULL"
        "   FROM runfleet.decisions"
        "  WHERE action = 'RUN' AND workflow = ANY ($1::text[])"
        "    AND tick BETWEEN to_timestamp($2::bigint / 1000.0) - interval '26 hours'"
        "                 AND to_timestamp($3::bigint / 1000.0) + interval '26 hours'"
        "    AND decided_at >= to_timestamp($2::bigint / 1000.0) - interval '27 hours'"
        "    AND decision_id >= $4::uuid"
        " UNION ALL"
        " SELECT workflow, decision_id::text, (extract(epoch FROM decided_at) * 1000)::bigint,"
        "        (extract(epoch FROM state_at) * 1000)::bigint, state, replay_of IS NOT NULL,"
        "        waiting_for IS NOT NULL"
        "   FROM runfleet.decisions"
        "  WHERE action = 'RUN' AND workflow = ANY ($1::text[]) AND tick IS NULL"
        "    AND decided_at BETWEEN to_timestamp($2::bigint / 1000.0) - interval '26 hours'"
        "                       AND to_timestamp($3::bigint / 1000.0) + interval '26 hours'"
        "    AND decision_id >= $4::uuid"
        " UNION ALL"
        " SELECT workflow, decision_id::text, (extract(epoch FROM coalesce(tick, decided_at)) * 1000)::bigint,"
        "        (extract(epoch FROM state_at) * 1000)::bigint, state, replay_of IS NOT NULL,"
        "        waiting_for IS NOT NULL"
        "   FROM runfleet.decisions_before_018"
        "  WHERE action = 'RUN' AND workflow = ANY ($1::text[])"
        "    AND coalesce(tick, decided_at) BETWEEN to_timestamp($2::bigint / 1000.0) - interval '26 hours'"
        "                                       AND to_timestamp($3::bigint / 1000.0) + interval '26 hours'"
        "    AND decided_at >= to_timestamp($2::bigint / 1000.0) - interval '27 hours'"
        "    AND decision_id < $4::uuid) h"
        " ORDER BY workflow COLLATE \"C\"";
