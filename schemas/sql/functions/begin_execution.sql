-- runfleet.begin_execution: claims one delivered decision for one worker.
-- Returns 'STARTED' when the caller now owns a RUNNING execution, or why it
-- must not run it: 'UNKNOWN' (no such decision), 'DONE' (already
-- SUCCEEDED, DEAD, SKIPPED or CANCELLED), 'STALE' (a later attempt was
-- produced), 'TAKEN' (this attempt already has an execution: live,
-- finished, or left to the reaper). begin_executions is the batched form
-- the worker calls; this one serves single items.
--
-- Re-applied by every `migrate` (schemas/sql/README.md): this file is
-- the function's only definition; its history is this file's git history.
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
        IF d.state IN ('SUCCEEDED', 'DEAD', 'SKIPPED', 'CANCELLED') THEN
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

-- Run as its owner with a fixed search_path (005_roles.sql): the worker's
-- role can make only this fenced move, not write the tables itself.
ALTER FUNCTION runfleet.begin_execution(uuid, integer, uuid, text, integer, text, integer, bigint)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION runfleet.begin_execution(uuid, integer, uuid, text, integer, text, integer, bigint)
        FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.begin_execution(uuid, integer, uuid, text, integer, text, integer, bigint)
        TO runfleet_worker_role;
