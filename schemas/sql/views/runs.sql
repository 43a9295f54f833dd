-- runfleet.runs: one row per decision with its latest execution: what ran
-- on a day and how it went.
--
-- duration_ms of an ABANDONED execution runs to the execution's last
-- heartbeat (it ran at least that long), not to finished_at, which is when
-- a reaper found its lease expired. failed_executions: executions of the
-- decision that failed (FAILED, TIMED_OUT, ABANDONED), the count
-- reaper.max_failed_executions bounds (015_runs_durations.sql).
--
-- Re-applied by every `migrate` (schemas/sql/README.md). CREATE OR
-- REPLACE VIEW may only add columns at the end.
CREATE OR REPLACE VIEW runfleet.runs AS
SELECT d.decided_at::date AS day, d.workflow, d.decision_id, d.action, d.reason, d.state,
       d.attempt, d.decided_at, d.replay_of,
       e.execution_id, e.status AS execution_status, e.worker_id, e.started_at, e.finished_at,
       extract(epoch FROM ((CASE WHEN e.status = 'ABANDONED' THEN e.heartbeat_at ELSE e.finished_at END)
                           - e.started_at)) * 1000 AS duration_ms,
       e.error,
       (SELECT count(*) FROM runfleet.executions fx
         WHERE fx.decision_id = d.decision_id AND fx.status IN ('FAILED', 'TIMED_OUT', 'ABANDONED'))
               AS failed_executions
  FROM runfleet.decisions d
  LEFT JOIN LATERAL (SELECT * FROM runfleet.executions x
                      WHERE x.decision_id = d.decision_id
                      ORDER BY x.attempt DESC LIMIT 1) e ON true;
GRANT SELECT ON runfleet.runs TO runfleet_producer_role;
