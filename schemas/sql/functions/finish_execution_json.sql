-- runfleet.finish_execution_json: one execution's terminal record, its
-- scraper calls and status, fenced: only the worker that still owns a
-- RUNNING execution can finish it, and a decision never gets a second
-- SUCCEEDED. The execution is locked, and must exist, before its calls are
-- written (scraper_calls has no foreign key to executions since
-- 008_calls_without_foreign_key.sql: the functions keep its promise).
-- Returns true when recorded. finish_executions falls back to it item by
-- item.
-- p_calls: [{"scraper", "try", "http_status", "outcome", "started_ms", "duration_ms", "error"}, ...]
--
-- Re-applied by every `migrate` (schemas/sql/README.md).
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

ALTER FUNCTION runfleet.finish_execution_json(uuid, text, text, text, jsonb)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION runfleet.finish_execution_json(uuid, text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.finish_execution_json(uuid, text, text, text, jsonb) TO runfleet_worker_role;
