-- runfleet.orphans: RUN decisions that nothing is working on: never
-- produced, or produced without an execution past the grace period, or
-- whose lease ran out, or a waiting decision (overlap buffer_one) left
-- behind: nothing else of its workflow is in flight and nothing of it
-- changed state for 2 minutes, yet it was not released. A decision waiting
-- behind a run in progress is not an orphan; a CANCELLED one is not either
-- (it ended, on purpose). The reaper applies its own grace; this view uses
-- a fixed 2 minutes so an operator sees only what is really stuck.
--
-- Re-applied by every `migrate` (schemas/sql/README.md). CREATE OR
-- REPLACE VIEW may only add columns at the end.
CREATE OR REPLACE VIEW runfleet.orphans AS
SELECT d.decision_id, d.workflow, d.attempt, d.state, d.decided_at, d.produced_at,
       CASE WHEN d.waiting_for IS NOT NULL THEN 'waiting (overlap buffer_one), never released'
            WHEN d.delivered_at IS NULL THEN 'never delivered to Kafka'
            WHEN e.execution_id IS NULL THEN 'produced, never executed'
            ELSE 'lease expired' END AS why
  FROM runfleet.decisions d
  -- a LATERAL lookup by (decision_id, attempt), unique, so at most one row:
  -- as a plain LEFT JOIN the planner, which cannot tell how few open
  -- decisions there are per executions partition, hashed them and read
  -- every execution of every day (2.4 s at 9 million rows)
  LEFT JOIN LATERAL (SELECT x.execution_id, x.status, x.lease_until
                       FROM runfleet.executions x
                      WHERE x.decision_id = d.decision_id AND x.attempt = d.attempt
                      LIMIT 1) e ON true
 WHERE d.action = 'RUN'
   AND d.state IN ('PENDING', 'RUNNING')
   AND ((d.waiting_for IS NULL AND e.execution_id IS NULL AND d.produced_at < now() - interval '2 minutes')
        OR (d.waiting_for IS NULL AND e.status = 'RUNNING' AND e.lease_until < now() - interval '2 minutes')
        OR (d.waiting_for IS NOT NULL AND d.decided_at < now() - interval '2 minutes'
            -- in flight: found through decisions_open
            AND NOT EXISTS (SELECT 1 FROM runfleet.decisions o
                             WHERE o.workflow = d.workflow AND o.decision_id <> d.decision_id
                               AND o.action = 'RUN' AND o.waiting_for IS NULL
                               AND o.state IN ('PENDING', 'RUNNING'))
            -- ended in the last 2 minutes: no index serves it, but it is
            -- only asked for a waiting decision that passed the rest
            AND NOT EXISTS (SELECT 1 FROM runfleet.decisions o
                             WHERE o.workflow = d.workflow AND o.decision_id <> d.decision_id
                               AND o.action = 'RUN' AND o.waiting_for IS NULL
                               AND o.state_at > now() - interval '2 minutes')));
GRANT SELECT ON runfleet.orphans TO runfleet_producer_role;
