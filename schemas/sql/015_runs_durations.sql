-- runfleet schema, version 15: what runfleet.runs says about durations and
-- failures (issue 14, part 6).
--
-- duration_ms of an ABANDONED execution ran to finished_at, which is when a
-- reaper found its lease expired (minutes after the worker died, e.g.
-- 791 s), not how long it ran. It now runs to the execution's last
-- heartbeat: it ran at least that long. Other statuses are unchanged.
--
-- failed_executions (new, last column): executions of the decision that
-- failed (FAILED, TIMED_OUT, ABANDONED), the count reaper.max_failed_executions
-- bounds; attempt stays what it was, the times the decision was produced to
-- Kafka (re-produces of a decision never executed count too), so attempt
-- can exceed reaper.max_failed_executions.
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

COMMENT ON COLUMN runfleet.decisions.attempt IS
        'times the decision was produced to Kafka (the first is 1); re-produces of a decision never executed count '
        'too, so it can exceed reaper.max_failed_executions, which counts failed executions';
