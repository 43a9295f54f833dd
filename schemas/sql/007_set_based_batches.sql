-- begin_executions and finish_executions as a few set-based statements
-- per batch instead of a PL/pgSQL loop calling the one-item functions: the
-- loop planned and ran six statements per item, and finishing opened a
-- subtransaction per item for its unique_violation handler; the batch now
-- costs about what the same rows cost written in bulk (bench/: the
-- PostgreSQL "batched" limit). Verdicts and fencing are those of
-- begin_execution (002) and finish_execution_json (006), which stay for
-- single items and as the fallback below.
--
-- Each locks the rows its batch is keyed by in key order first (decisions
-- by decision_id, executions by execution_id), so two workers' batches
-- cannot deadlock each other. A decision appearing twice in one claim (the
-- same attempt delivered twice) is claimed by the batch's first item.

-- p_batch: [{"i": n, "decision_id": uuid, "attempt": n, "execution_id": uuid,
--            "partition": n, "offset": n}, ...]
CREATE OR REPLACE FUNCTION runfleet.begin_executions(
        p_worker text, p_lease_ms integer, p_topic text, p_batch jsonb)
RETURNS TABLE (idx integer, verdict text) LANGUAGE plpgsql AS $$
DECLARE
        v_decisions uuid[];
BEGIN
        -- Each statement joins the batch to a table through its primary
        -- key, or looks rows up by an array of keys: never a join of two
        -- derived sets, which the planner may nest into a loop over both
        -- (quadratic in the batch; seen at 500 items).
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
                  JOIN runfleet.decisions d ON d.decision_id = i.decision_id
                 WHERE d.state NOT IN ('SUCCEEDED', 'DEAD', 'SKIPPED') AND i.attempt >= d.attempt
                 ORDER BY i.decision_id, i.attempt, i.i
                ON CONFLICT (decision_id, attempt) DO NOTHING
                RETURNING decision_id, attempt)
        UPDATE runfleet.decisions d
           SET state = 'RUNNING', state_at = now(),
               attempt = greatest(d.attempt, c.attempt),
               delivered_at = coalesce(d.delivered_at, now())
          FROM (SELECT decision_id, max(attempt) AS attempt FROM claimed GROUP BY decision_id) c
         WHERE d.decision_id = c.decision_id;

        -- an item's execution exists only if this call inserted it (its id is new)
        RETURN QUERY
        SELECT i.i,
               CASE WHEN e.execution_id IS NOT NULL THEN 'STARTED'
                    WHEN d.decision_id IS NULL THEN 'UNKNOWN'
                    WHEN d.state IN ('SUCCEEDED', 'DEAD', 'SKIPPED') THEN 'DONE'
                    WHEN i.attempt < d.attempt THEN 'STALE'
                    ELSE 'TAKEN' END
          FROM jsonb_to_recordset(p_batch) AS i(i integer, decision_id uuid, attempt integer, execution_id uuid)
          LEFT JOIN runfleet.decisions d ON d.decision_id = i.decision_id
          LEFT JOIN runfleet.executions e ON e.execution_id = i.execution_id AND e.worker_id = p_worker;
END $$;

-- p_batch: [{"i": n, "execution_id": uuid, "status": text, "error": text|null, "calls": [...]}, ...]
-- Calls are recorded whether or not the fence lets the status through: they
-- happened. A second SUCCEEDED for one decision (the partial unique index
-- executions_one_success) makes the set-based statements fail as a whole;
-- the batch is then done item by item, where that item alone is refused.
CREATE OR REPLACE FUNCTION runfleet.finish_executions(p_worker text, p_batch jsonb)
RETURNS TABLE (idx integer, recorded boolean) LANGUAGE plpgsql AS $$
DECLARE
        v_executions uuid[];
        v_owned uuid[];
        v_recorded uuid[];
BEGIN
        SELECT array_agg((item->>'execution_id')::uuid) INTO v_executions
          FROM jsonb_array_elements(p_batch) AS item;
        BEGIN
                INSERT INTO runfleet.scraper_calls (execution_id, scraper, try, http_status, outcome,
                                                    started_at, duration_ms, error)
                SELECT (item->>'execution_id')::uuid, c.scraper, c.try, c.http_status, c.outcome,
                       to_timestamp(c.started_ms / 1000.0), c.duration_ms, c.error
                  FROM jsonb_array_elements(p_batch) AS item,
                       jsonb_to_recordset(item->'calls') AS c(scraper text, try integer, http_status integer,
                                                              outcome text, started_ms bigint,
                                                              duration_ms integer, error text)
                ON CONFLICT DO NOTHING;
                -- The fence, under lock: only this worker's RUNNING executions
                -- change. Rows are found by primary key alone: a status
                -- condition in the scan lets the planner use the partial index
                -- executions_running_lease, which between vacuums holds an
                -- entry for every execution that ever ran (seen: 100,000
                -- entries read per batch).
                WITH locked AS MATERIALIZED (
                        SELECT execution_id, worker_id, status
                          FROM runfleet.executions
                         WHERE execution_id = ANY (v_executions)
                         ORDER BY execution_id
                           FOR UPDATE)
                SELECT array_agg(execution_id) INTO v_owned
                  FROM locked
                 WHERE worker_id = p_worker AND status = 'RUNNING';
                WITH finished AS (
                        UPDATE runfleet.executions e
                           SET status = i.status, finished_at = now(), error = i.error
                          FROM jsonb_to_recordset(p_batch) AS i(execution_id uuid, status text, error text)
                         WHERE e.execution_id = i.execution_id AND e.execution_id = ANY (v_owned)
                        RETURNING e.execution_id, e.decision_id, e.attempt, e.status),
                settled AS (
                        UPDATE runfleet.decisions d
                           SET state = CASE WHEN f.status = 'SUCCEEDED' THEN 'SUCCEEDED' ELSE 'FAILED' END,
                               state_at = now()
                          FROM finished f
                         WHERE d.decision_id = f.decision_id AND d.attempt = f.attempt AND d.state = 'RUNNING')
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

-- force_custom_plan: each call plans its statements for the tables as
-- they are now. A generic plan cached while a table was nearly empty (a
-- worker's first calls) read the whole table, or its whole primary key
-- index, for every batch, and kept doing so as the table grew: claims
-- slowed from 2 ms to 60 ms within a minute at 1,000 decisions/s (bench
-- scenario c). Turning sequential scans and hash joins off instead still
-- left a whole-index scan materialized under a nested loop.
ALTER FUNCTION runfleet.begin_executions(text, integer, text, jsonb)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION runfleet.finish_executions(text, jsonb)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan;
