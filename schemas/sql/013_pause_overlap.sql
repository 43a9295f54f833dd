-- runfleet schema, version 13: pauses, CANCELLED decisions, and the
-- overlap policy's waiting decision (issue 14, part 3).

-- overlap = "buffer_one": a RUN decision recorded while an earlier run of
-- its workflow is still in flight is not produced to Kafka; it waits,
-- naming the decision it was buffered behind. The reaper releases it (sets
-- waiting_for to NULL and produces it, same attempt) at its first sweep
-- after nothing else of its workflow is in flight, so it is never produced
-- while the previous one runs, and nothing it waits on can leave it behind:
-- a waiting decision whose workflow has nothing in flight is an orphan like
-- any other (see the view below) until the reaper produces it.
ALTER TABLE runfleet.decisions ADD COLUMN IF NOT EXISTS waiting_for uuid;
CREATE INDEX IF NOT EXISTS decisions_waiting ON runfleet.decisions (workflow, decided_at)
        WHERE waiting_for IS NOT NULL;
-- "is anything else of this workflow in flight" is asked only for a
-- waiting decision, and decisions_open (001) answers it: no index of its
-- own, which every decision's state change would have to maintain.

-- A worker must not run a CANCELLED decision whose message it receives
-- later: CANCELLED is 'DONE', like SUCCEEDED, DEAD and SKIPPED. Both
-- functions restated whole from their latest versions (002, 011), with
-- what 005, 007, 009 and 011 set on them set again (CREATE OR REPLACE
-- resets it).
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
                 WHERE d.decision_id = c.decision_id)
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
          LEFT JOIN runfleet.decisions d ON d.decision_id = i.decision_id
          LEFT JOIN runfleet.executions e ON e.execution_id = i.execution_id AND e.worker_id = p_worker;
END $$;

ALTER FUNCTION runfleet.begin_execution(uuid, integer, uuid, text, integer, text, integer, bigint)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION runfleet.begin_executions(text, integer, text, jsonb)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan
        SET enable_seqscan = off;
REVOKE EXECUTE ON FUNCTION runfleet.begin_execution(uuid, integer, uuid, text, integer, text, integer, bigint),
        runfleet.begin_executions(text, integer, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.begin_execution(uuid, integer, uuid, text, integer, text, integer, bigint),
        runfleet.begin_executions(text, integer, text, jsonb) TO runfleet_worker_role;

-- RUN decisions that nothing is working on (as in 001), now also a waiting
-- decision (overlap buffer_one) left behind: nothing else of its workflow
-- is in flight and nothing of it changed state for 2 minutes, yet it was
-- not released. A decision waiting behind a run in progress is not an
-- orphan; a CANCELLED one is not either (it ended, on purpose).
CREATE OR REPLACE VIEW runfleet.orphans AS
SELECT d.decision_id, d.workflow, d.attempt, d.state, d.decided_at, d.produced_at,
       CASE WHEN d.waiting_for IS NOT NULL THEN 'waiting (overlap buffer_one), never released'
            WHEN d.delivered_at IS NULL THEN 'never delivered to Kafka'
            WHEN e.execution_id IS NULL THEN 'produced, never executed'
            ELSE 'lease expired' END AS why
  FROM runfleet.decisions d
  LEFT JOIN runfleet.executions e ON e.decision_id = d.decision_id AND e.attempt = d.attempt
 WHERE d.action = 'RUN'
   AND d.state IN ('PENDING', 'RUNNING')
   AND ((d.waiting_for IS NULL AND e.execution_id IS NULL AND d.produced_at < now() - interval '2 minutes')
        OR (d.waiting_for IS NULL AND e.status = 'RUNNING' AND e.lease_until < now() - interval '2 minutes')
        OR (d.waiting_for IS NOT NULL AND d.decided_at < now() - interval '2 minutes'
            AND NOT EXISTS (SELECT 1 FROM runfleet.decisions o
                             WHERE o.workflow = d.workflow AND o.decision_id <> d.decision_id
                               AND o.action = 'RUN'
                               AND o.waiting_for IS NULL
                               AND (o.state IN ('PENDING', 'RUNNING')
                                    OR o.state_at > now() - interval '2 minutes'))));

-- `pause --cancel-pending`: ends @p_workflow's RUN decisions no worker has
-- started (PENDING, no RUNNING execution) as CANCELLED, with who and why,
-- and returns their ids. A function run as its owner, so the producer's
-- role may cancel but never set a decision's state otherwise (it has no
-- UPDATE on decisions.state; it_pg_auth checks that it cannot).
CREATE OR REPLACE FUNCTION runfleet.cancel_pending(p_workflow text, p_by text, p_reason text)
RETURNS SETOF uuid LANGUAGE sql AS $$
        UPDATE runfleet.decisions d
           SET state = 'CANCELLED', state_at = now(), cancelled_by = p_by, cancel_reason = p_reason
         WHERE d.workflow = p_workflow AND d.action = 'RUN' AND d.state = 'PENDING'
           AND NOT EXISTS (SELECT 1 FROM runfleet.executions e
                            WHERE e.decision_id = d.decision_id AND e.status = 'RUNNING')
        RETURNING d.decision_id
$$;
ALTER FUNCTION runfleet.cancel_pending(text, text, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION runfleet.cancel_pending(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.cancel_pending(text, text, text) TO runfleet_producer_role;

-- producer: evaluate records a waiting decision (insert, then waiting_for,
-- in one transaction)
GRANT UPDATE (waiting_for) ON runfleet.decisions TO runfleet_producer_role;
-- reaper: releases waiting decisions; pauses a workflow after
-- pause_after_failures DEAD decisions in a row
GRANT UPDATE (waiting_for) ON runfleet.decisions TO runfleet_reaper_role;
GRANT INSERT ON runfleet.pauses TO runfleet_reaper_role;
GRANT USAGE ON SEQUENCE runfleet.pauses_pause_id_seq TO runfleet_reaper_role;
