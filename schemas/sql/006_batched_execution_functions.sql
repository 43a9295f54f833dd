-- Batched forms of begin_execution and finish_execution: a worker claims
-- every message of one poll, and records every execution finished in one
-- loop turn, in one round trip each. Items are handled in decision or
-- execution order so two workers' batches always lock rows in the same
-- order and cannot deadlock each other.

-- p_batch: [{"i": n, "decision_id": uuid, "attempt": n, "execution_id": uuid,
--            "partition": n, "offset": n}, ...]
-- Returns each item's index with begin_execution's verdict.
CREATE OR REPLACE FUNCTION runfleet.begin_executions(
        p_worker text, p_lease_ms integer, p_topic text, p_batch jsonb)
RETURNS TABLE (idx integer, verdict text) LANGUAGE plpgsql AS $$
DECLARE
        item jsonb;
BEGIN
        FOR item IN SELECT value FROM jsonb_array_elements(p_batch) ORDER BY value->>'decision_id' LOOP
                idx := (item->>'i')::integer;
                verdict := runfleet.begin_execution((item->>'decision_id')::uuid, (item->>'attempt')::integer,
                                                    (item->>'execution_id')::uuid, p_worker, p_lease_ms, p_topic,
                                                    (item->>'partition')::integer, (item->>'offset')::bigint);
                RETURN NEXT;
        END LOOP;
END $$;

-- One execution's terminal record: its calls and status, fenced like
-- finish_execution (only the worker that still owns a RUNNING execution
-- can finish it, and a decision never gets a second SUCCEEDED).
-- p_calls: [{"scraper", "try", "http_status", "outcome", "started_ms", "duration_ms", "error"}, ...]
CREATE OR REPLACE FUNCTION runfleet.finish_execution_json(
        p_execution uuid, p_worker text, p_status text, p_error text, p_calls jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
        v_decision uuid;
        v_attempt integer;
BEGIN
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

-- p_batch: [{"i": n, "execution_id": uuid, "status": text, "error": text|null, "calls": [...]}, ...]
-- Returns each item's index and whether it was recorded.
CREATE OR REPLACE FUNCTION runfleet.finish_executions(p_worker text, p_batch jsonb)
RETURNS TABLE (idx integer, recorded boolean) LANGUAGE plpgsql AS $$
DECLARE
        item jsonb;
BEGIN
        FOR item IN SELECT value FROM jsonb_array_elements(p_batch) ORDER BY value->>'execution_id' LOOP
                idx := (item->>'i')::integer;
                recorded := runfleet.finish_execution_json((item->>'execution_id')::uuid, p_worker,
                                                           item->>'status', item->>'error', item->'calls');
                RETURN NEXT;
        END LOOP;
END $$;
-- Least privilege (see 005_roles.sql): the worker role calls these and
-- nothing else; finish_execution_json writes tables, so it runs as its owner.
ALTER FUNCTION runfleet.finish_execution_json(uuid, text, text, text, jsonb)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION runfleet.begin_executions(text, integer, text, jsonb),
        runfleet.finish_execution_json(uuid, text, text, text, jsonb),
        runfleet.finish_executions(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.begin_executions(text, integer, text, jsonb),
        runfleet.finish_execution_json(uuid, text, text, text, jsonb),
        runfleet.finish_executions(text, jsonb) TO runfleet_worker_role;

-- The array form from 002 is replaced by finish_execution_json and no
-- longer called by anything: one definition of finishing, not two.
DROP FUNCTION runfleet.finish_execution(uuid, text, text, text, text[], integer[], integer[], text[], bigint[],
                                        integer[], text[]);
