-- Server-side steps of an execution's life, one round trip each, so the
-- checks and the writes they guard happen in one transaction.

-- Claims a delivered decision for one worker. Returns 'STARTED' when the
-- caller now owns a RUNNING execution, or why it must not run it:
-- 'UNKNOWN' (no such decision), 'DONE' (already SUCCEEDED, DEAD or SKIPPED),
-- 'STALE' (a later attempt was produced), 'TAKEN' (this attempt already has
-- an execution: live, finished, or left to the reaper).
CREATE OR REPLACE FUNCTION runfleet.begin_execution(
        p_decision uuid, p_attempt integer, p_execution uuid, p_worker text, p_lease_ms integer,
        p_topic text, p_partition integer, p_offset bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
        d runfleet.decisions%ROWTYPE;
BEGIN
        SELECT * INTO d FROM runfleet.decisions WHERE decision_id = p_decision FOR UPDATE;
        IF NOT FOUND THEN
                RETURN 'UNKNOWN';
        END IF;
        IF d.state IN ('SUCCEEDED', 'DEAD', 'SKIPPED') THEN
                RETURN 'DONE';
        END IF;
        IF p_attempt < d.attempt THEN
                RETURN 'STALE';
        END IF;
        INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id, status,
                                         lease_until, kafka_topic, kafka_partition, kafka_offset)
        VALUES (p_execution, p_decision, p_attempt, p_worker, 'RUNNING',
                now() + make_interval(secs => p_lease_ms / 1000.0), p_topic, p_partition, p_offset)
        ON CONFLICT (decision_id, attempt) DO NOTHING;
        IF NOT FOUND THEN
                RETURN 'TAKEN';
        END IF;
        UPDATE runfleet.decisions
           SET state = 'RUNNING', state_at = now(),
               attempt = greatest(attempt, p_attempt),
               delivered_at = coalesce(delivered_at, now())
         WHERE decision_id = p_decision;
        RETURN 'STARTED';
END $$;

-- Extends the leases of the given executions that this worker still owns.
-- Returns the ids it could not extend (taken away by the reaper).
CREATE OR REPLACE FUNCTION runfleet.renew_leases(p_executions uuid[], p_worker text, p_lease_ms integer)
RETURNS SETOF uuid LANGUAGE sql AS $$
        WITH renewed AS (
                UPDATE runfleet.executions
                   SET heartbeat_at = now(),
                       lease_until = now() + make_interval(secs => p_lease_ms / 1000.0)
                 WHERE execution_id = ANY (p_executions) AND worker_id = p_worker AND status = 'RUNNING'
                RETURNING execution_id)
        SELECT x FROM unnest(p_executions) AS x WHERE x NOT IN (SELECT execution_id FROM renewed);
$$;

-- Records every scraper call of an execution and its terminal status, fenced:
-- only the worker that still owns a RUNNING execution can finish it, and a
-- decision never gets a second SUCCEEDED. Returns true when recorded.
CREATE OR REPLACE FUNCTION runfleet.finish_execution(
        p_execution uuid, p_worker text, p_status text, p_error text,
        p_scrapers text[], p_tries integer[], p_http integer[], p_outcomes text[],
        p_started_ms bigint[], p_durations integer[], p_errors text[])
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
        v_decision uuid;
        v_attempt integer;
BEGIN
        INSERT INTO runfleet.scraper_calls (execution_id, scraper, try, http_status, outcome,
                                            started_at, duration_ms, error)
        SELECT p_execution, s, t, h, o, to_timestamp(st / 1000.0), dur, e
          FROM unnest(p_scrapers, p_tries, p_http, p_outcomes, p_started_ms, p_durations, p_errors)
               AS c(s, t, h, o, st, dur, e)
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
