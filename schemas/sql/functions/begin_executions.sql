-- runfleet.begin_executions: a worker claims every message of one poll in
-- one round trip, with begin_execution's verdicts, as a few set-based
-- statements per batch (a PL/pgSQL loop calling the one-item function
-- planned and ran six statements per item; 007_set_based_batches.sql).
--
-- The decisions of the batch are locked in decision_id order first, so two
-- workers' batches cannot deadlock each other. A decision appearing twice
-- in one claim (the same attempt delivered twice) is claimed by the batch's
-- first item. When every item started, which is the rule, each verdict is
-- STARTED without reading the rows again (about 15 % of the function's
-- time; 011_batches_common_case.sql).
--
-- p_batch: [{"i": n, "decision_id": uuid, "attempt": n, "execution_id": uuid,
--            "partition": n, "offset": n}, ...]
-- Returns each item's index with its verdict.
--
-- Re-applied by every `migrate` (schemas/sql/README.md).
CREATE OR REPLACE FUNCTION runfleet.begin_executions(
        p_worker text, p_lease_ms integer, p_topic text, p_batch jsonb)
RETURNS TABLE (idx integer, verdict text) LANGUAGE plpgsql AS $$
DECLARE
        v_decisions uuid[];
        v_started bigint;
BEGIN
        -- Each statement joins the batch to a table through its primary
        -- key, or looks rows up by an array of keys: never a join of two
        -- derived sets, which the planner may nest into a loop over both
        -- (quadratic in the batch; seen at 500 items). Every join also
        -- names the array of the batch's decisions: a constant when the
        -- statement is planned, from which the planner keeps only the day
        -- partitions that hold them (018_partitioned_history.sql).
        SELECT array_agg(DISTINCT (item->>'decision_id')::uuid) INTO v_decisions
          FROM jsonb_array_elements(p_batch) AS item;
        PERFORM 1 FROM runfleet.decisions
          WHERE decision_id = ANY (v_decisions)
          ORDER BY decision_id
            FOR UPDATE;

        WITH claimed AS (
                INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id, status,
                                                 lease_until, kafka_topic, kafka_partition, kafka_offset)
                SELECT i.execution_id, i.decision_id, i.attempt, p_worker, 'RUNNING',
                       now() + make_interval(secs => p_lease_ms / 1000.0), p_topic, i.partition, i."offset"
                  FROM jsonb_to_recordset(p_batch)
                       AS i(i integer, decision_id uuid, attempt integer, execution_id uuid,
                            partition integer, "offset" bigint)
                  JOIN runfleet.decisions d ON d.decision_id = i.decision_id AND d.decision_id = ANY (v_decisions)
                 WHERE d.state NOT IN ('SUCCEEDED', 'DEAD', 'SKIPPED', 'CANCELLED') AND i.attempt >= d.attempt
                 ORDER BY i.decision_id, i.attempt, i.i
                ON CONFLICT (decision_id, attempt) DO NOTHING
                RETURNING execution_id, decision_id, attempt),
        moved AS (
                UPDATE runfleet.decisions d
                   SET state = 'RUNNING', state_at = now(),
                       attempt = greatest(d.attempt, c.attempt),
                       delivered_at = coalesce(d.delivered_at, now())
                  FROM (SELECT decision_id, max(attempt) AS attempt FROM claimed GROUP BY decision_id) c
                 WHERE d.decision_id = c.decision_id AND d.decision_id = ANY (v_decisions))
        SELECT count(*) INTO v_started FROM claimed;

        -- Every item started (the common case): that is each one's verdict,
        -- with no need to read the rows again.
        IF v_started = jsonb_array_length(p_batch) THEN
                RETURN QUERY
                SELECT (item->>'i')::integer, 'STARTED'::text FROM jsonb_array_elements(p_batch) AS item;
                RETURN;
        END IF;
        -- an item's execution exists only if this call inserted it (its id is new)
        RETURN QUERY
        SELECT i.i,
               CASE WHEN e.execution_id IS NOT NULL THEN 'STARTED'
                    WHEN d.decision_id IS NULL THEN 'UNKNOWN'
                    WHEN d.state IN ('SUCCEEDED', 'DEAD', 'SKIPPED', 'CANCELLED') THEN 'DONE'
                    WHEN i.attempt < d.attempt THEN 'STALE'
                    ELSE 'TAKEN' END
          FROM jsonb_to_recordset(p_batch) AS i(i integer, decision_id uuid, attempt integer, execution_id uuid)
          LEFT JOIN runfleet.decisions d ON d.decision_id = i.decision_id AND d.decision_id = ANY (v_decisions)
          LEFT JOIN runfleet.executions e ON e.execution_id = i.execution_id AND e.decision_id = i.decision_id
                AND e.decision_id = ANY (v_decisions) AND e.worker_id = p_worker;
END $$;

-- force_custom_plan: each call plans its statements for the tables as they
-- are now. A generic plan cached while a table was nearly empty (a worker's
-- first calls) read the whole table, or its whole primary key index, for
-- every batch, and kept doing so as the table grew: claims slowed from 2 ms
-- to 60 ms within a minute at 1,000 decisions/s (bench scenario c).
-- enable_seqscan off: the planner sizes every batch at 100 items
-- (jsonb_to_recordset's estimate) and each table by its last ANALYZE, and a
-- hash join over a sequential scan looked cheaper than 100 index lookups
-- on a table of a few thousand rows (009_no_sequential_scans_in_batches.sql).
ALTER FUNCTION runfleet.begin_executions(text, integer, text, jsonb)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan
        SET enable_seqscan = off;
REVOKE EXECUTE ON FUNCTION runfleet.begin_executions(text, integer, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.begin_executions(text, integer, text, jsonb) TO runfleet_worker_role;
