-- scraper_calls loses its foreign key to executions. The key's check ran
-- one query per call row inside finish_executions, the table's only writer
-- in normal operation: about a quarter of that function's CPU (70 -> 52 ms
-- per 1,000 finished executions of one call each, measured with the
-- batches of bench scenario a). The functions now keep the key's promise
-- themselves: a call row is written only for an execution that exists, and
-- only while that execution's row is locked. Nothing deletes executions
-- (005: only the schema's owner may). executions keeps its key to
-- decisions.
ALTER TABLE runfleet.scraper_calls DROP CONSTRAINT IF EXISTS scraper_calls_execution_id_fkey;

-- As in 006, but the execution is locked, and must exist, before its calls
-- are written. Still the fallback of finish_executions.
CREATE OR REPLACE FUNCTION runfleet.finish_execution_json(
        p_execution uuid, p_worker text, p_status text, p_error text, p_calls jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
        v_decision uuid;
        v_attempt integer;
BEGIN
        PERFORM 1 FROM runfleet.executions WHERE execution_id = p_execution FOR UPDATE;
        IF NOT FOUND THEN
                RETURN false;
        END IF;
        INSERT INTO runfleet.scraper_calls (execution_id, scraper, try, http_status, outcome,
                                            started_at, duration_ms, error)
        SELECT p_execution, c.scraper, c.try, c.http_status, c.outcome,
               to_timestamp(c.started_ms / 1000.0), c.duration_ms, c.error
          FROM jsonb_to_recordset(p_calls) AS c(scraper text, try integer, http_status integer,
                                                outcome text, started_ms bigint, duration_ms integer,
                                                error text)
        ON CONFLICT DO NOTHING;

        UPDATE runfleet.executions
           SET status = p_status, finished_at = now(), error = p_error
         WHERE execution_id = p_execution AND worker_id = p_worker AND status = 'RUNNING'
        RETURNING decision_id, attempt INTO v_decision, v_attempt;
        IF NOT FOUND THEN
                RETURN false;
        END IF;

        UPDATE runfleet.decisions
           SET state = CASE WHEN p_status = 'SUCCEEDED' THEN 'SUCCEEDED' ELSE 'FAILED' END,
               state_at = now()
         WHERE decision_id = v_decision AND attempt = v_attempt AND state = 'RUNNING';
        RETURN true;
EXCEPTION WHEN unique_violation THEN
        RETURN false;
END $$;

-- As in 007, but the rows are locked first and calls are written only for
-- the executions found.
CREATE OR REPLACE FUNCTION runfleet.finish_executions(p_worker text, p_batch jsonb)
RETURNS TABLE (idx integer, recorded boolean) LANGUAGE plpgsql AS $$
DECLARE
        v_executions uuid[];
        v_existing uuid[];
        v_owned uuid[];
        v_recorded uuid[];
BEGIN
        SELECT array_agg((item->>'execution_id')::uuid) INTO v_executions
          FROM jsonb_array_elements(p_batch) AS item;
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
                         WHERE execution_id = ANY (v_executions)
                         ORDER BY execution_id
                           FOR UPDATE)
                SELECT array_agg(execution_id),
                       array_agg(execution_id) FILTER (WHERE worker_id = p_worker AND status = 'RUNNING')
                  INTO v_existing, v_owned
                  FROM locked;
                -- the calls of every execution that exists, whoever owns it:
                -- they happened
                INSERT INTO runfleet.scraper_calls (execution_id, scraper, try, http_status, outcome,
                                                    started_at, duration_ms, error)
                SELECT (item->>'execution_id')::uuid, c.scraper, c.try, c.http_status, c.outcome,
                       to_timestamp(c.started_ms / 1000.0), c.duration_ms, c.error
                  FROM jsonb_array_elements(p_batch) AS item,
                       jsonb_to_recordset(item->'calls') AS c(scraper text, try integer, http_status integer,
                                                              outcome text, started_ms bigint,
                                                              duration_ms integer, error text)
                 WHERE (item->>'execution_id')::uuid = ANY (v_existing)
                ON CONFLICT DO NOTHING;
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

-- CREATE OR REPLACE resets what ALTER FUNCTION set: set it again (see 006, 007)
ALTER FUNCTION runfleet.finish_execution_json(uuid, text, text, text, jsonb)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION runfleet.finish_executions(text, jsonb)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan;
