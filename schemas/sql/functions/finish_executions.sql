-- runfleet.finish_executions: a worker records every execution finished in
-- one loop turn in one round trip, as a few set-based statements
-- (007_set_based_batches.sql), fenced like finish_execution_json. The
-- executions are locked in execution_id order first, so two workers'
-- batches cannot deadlock each other.
--
-- Calls are recorded whether or not the fence lets the status through:
-- they happened. Calls of the executions this worker still runs are
-- inserted plainly; only those of executions it no longer owns (a re-sent
-- batch, or one fenced out) use ON CONFLICT, a speculative insertion that
-- looks the key up first (228 -> 139-162 ms for 20,000 rows;
-- 011_batches_common_case.sql). A second SUCCEEDED for one decision (the
-- partial unique index executions_one_success), or a plain insert that
-- still meets a duplicate, makes the set-based statements fail as a whole;
-- the batch is then done item by item with finish_execution_json, where
-- that item alone is refused.
--
-- p_batch: [{"i": n, "execution_id": uuid, "decision_id": uuid, "status": text, "error": text|null,
--            "calls": [...]}, ...]
-- Returns each item's index and whether it was recorded.
--
-- Re-applied by every `migrate` (schemas/sql/README.md).
CREATE OR REPLACE FUNCTION runfleet.finish_executions(p_worker text, p_batch jsonb)
RETURNS TABLE (idx integer, recorded boolean) LANGUAGE plpgsql AS $$
DECLARE
        v_executions uuid[];
        v_decisions uuid[];
        v_existing uuid[];
        v_owned uuid[];
        v_recorded uuid[];
BEGIN
        -- The decisions name the day partitions to read (a constant when
        -- each statement is planned: 018_partitioned_history.sql). A worker
        -- from before 018 (a rolling update) does not send them: they are
        -- looked up once, through every partition.
        SELECT array_agg((item->>'execution_id')::uuid),
               CASE WHEN bool_and(item ? 'decision_id') THEN array_agg(DISTINCT (item->>'decision_id')::uuid) END
          INTO v_executions, v_decisions
          FROM jsonb_array_elements(p_batch) AS item;
        IF v_decisions IS NULL THEN
                SELECT array_agg(DISTINCT decision_id) INTO v_decisions
                  FROM runfleet.executions WHERE execution_id = ANY (v_executions);
        END IF;
        BEGIN
                -- The fence, under lock: only this worker's RUNNING executions
                -- change. Rows are found by primary key alone: a status
                -- condition in the scan lets the planner use the partial index
                -- executions_running_lease, which between vacuums holds an
                -- entry for every execution that ever ran (seen: 100,000
                -- entries read per batch).
                WITH locked AS MATERIALIZED (
                        SELECT execution_id, worker_id, status
                          FROM runfleet.executions
                         WHERE execution_id = ANY (v_executions) AND decision_id = ANY (v_decisions)
                         ORDER BY execution_id
                           FOR UPDATE)
                SELECT array_agg(execution_id),
                       array_agg(execution_id) FILTER (WHERE worker_id = p_worker AND status = 'RUNNING')
                  INTO v_existing, v_owned
                  FROM locked;
                -- The calls of every execution that exists, whoever owns it:
                -- they happened. Those of an execution this worker still
                -- runs cannot be there yet (calls are written together with
                -- the status that ends the execution), so they are inserted
                -- without ON CONFLICT's check of the key for each row; the
                -- others may be a re-sent batch's, already recorded.
                INSERT INTO runfleet.scraper_calls SELECT * FROM runfleet.batch_calls(p_batch, v_owned);
                IF coalesce(cardinality(v_existing), 0) > coalesce(cardinality(v_owned), 0) THEN
                        INSERT INTO runfleet.scraper_calls
                        SELECT * FROM runfleet.batch_calls(p_batch, ARRAY(SELECT unnest(v_existing)
                                                                          EXCEPT SELECT unnest(v_owned)))
                        ON CONFLICT DO NOTHING;
                END IF;
                WITH finished AS (
                        UPDATE runfleet.executions e
                           SET status = i.status, finished_at = now(), error = i.error
                          FROM jsonb_to_recordset(p_batch) AS i(execution_id uuid, status text, error text)
                         WHERE e.execution_id = i.execution_id AND e.execution_id = ANY (v_owned)
                           AND e.decision_id = ANY (v_decisions)
                        RETURNING e.execution_id, e.decision_id, e.attempt, e.status),
                settled AS (
                        UPDATE runfleet.decisions d
                           SET state = CASE WHEN f.status = 'SUCCEEDED' THEN 'SUCCEEDED' ELSE 'FAILED' END,
                               state_at = now()
                          FROM finished f
                         WHERE d.decision_id = f.decision_id AND d.attempt = f.attempt AND d.state = 'RUNNING'
                           AND d.decision_id = ANY (v_decisions))
                SELECT array_agg(execution_id) INTO v_recorded FROM finished;
        EXCEPTION WHEN unique_violation THEN
                SELECT array_agg((item->>'execution_id')::uuid)
                  INTO v_recorded
                  FROM (SELECT value AS item FROM jsonb_array_elements(p_batch)
                         ORDER BY value->>'execution_id') AS ordered
                 WHERE runfleet.finish_execution_json((item->>'execution_id')::uuid, p_worker,
                                                      item->>'status', item->>'error', item->'calls');
        END;
        RETURN QUERY
        SELECT (item->>'i')::integer, coalesce((item->>'execution_id')::uuid = ANY (v_recorded), false)
          FROM jsonb_array_elements(p_batch) AS item;
END $$;

-- force_custom_plan and enable_seqscan off: see begin_executions.sql.
ALTER FUNCTION runfleet.finish_executions(text, jsonb)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan
        SET enable_seqscan = off;
REVOKE EXECUTE ON FUNCTION runfleet.finish_executions(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.finish_executions(text, jsonb) TO runfleet_worker_role;
