-- runfleet schema, version 1: decisions, executions, scraper calls, and the
-- views an operator reads instead of writing SQL by hand.

CREATE SCHEMA IF NOT EXISTS runfleet;

CREATE TABLE runfleet.decisions (
        decision_id   uuid PRIMARY KEY,
        workflow      text NOT NULL,
        action        text NOT NULL CHECK (action IN ('RUN', 'SKIP')),
        reason        text NOT NULL,
        decided_at    timestamptz NOT NULL DEFAULT now(),
        -- the schedule tick this decision answers; NULL for manual triggers and replays
        tick          timestamptz,
        scrapers      text[] NOT NULL DEFAULT '{}',
        deadline_ms   bigint NOT NULL DEFAULT 600000,
        -- the last attempt handed to Kafka; the first is 1
        attempt       integer NOT NULL DEFAULT 1,
        -- when the last attempt was requested; the reaper's grace period runs from here
        produced_at   timestamptz NOT NULL DEFAULT now(),
        -- when Kafka acknowledged the last attempt
        delivered_at  timestamptz,
        state         text NOT NULL DEFAULT 'PENDING'
                      CHECK (state IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'DEAD', 'SKIPPED')),
        state_at      timestamptz NOT NULL DEFAULT now(),
        replay_of     uuid REFERENCES runfleet.decisions (decision_id),
        trace_id      text NOT NULL
);

-- one decision per workflow and schedule tick, whichever evaluator gets there first
CREATE UNIQUE INDEX decisions_workflow_tick ON runfleet.decisions (workflow, tick) WHERE tick IS NOT NULL;
CREATE INDEX decisions_open ON runfleet.decisions (state, produced_at)
        WHERE action = 'RUN' AND state IN ('PENDING', 'RUNNING', 'FAILED');
CREATE INDEX decisions_day ON runfleet.decisions (decided_at);

CREATE TABLE runfleet.executions (
        execution_id  uuid PRIMARY KEY,
        decision_id   uuid NOT NULL REFERENCES runfleet.decisions (decision_id),
        attempt       integer NOT NULL,
        worker_id     text NOT NULL,
        status        text NOT NULL
                      CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABANDONED')),
        started_at    timestamptz NOT NULL DEFAULT now(),
        heartbeat_at  timestamptz NOT NULL DEFAULT now(),
        lease_until   timestamptz NOT NULL,
        finished_at   timestamptz,
        error         text,
        kafka_topic   text,
        kafka_partition integer,
        kafka_offset  bigint,
        UNIQUE (decision_id, attempt)
);

-- the record is effectively-once: the database refuses a second success
CREATE UNIQUE INDEX executions_one_success ON runfleet.executions (decision_id) WHERE status = 'SUCCEEDED';
CREATE INDEX executions_running_lease ON runfleet.executions (lease_until) WHERE status = 'RUNNING';

CREATE TABLE runfleet.scraper_calls (
        execution_id  uuid NOT NULL REFERENCES runfleet.executions (execution_id),
        scraper       text NOT NULL,
        try           integer NOT NULL DEFAULT 1,
        http_status   integer,
        outcome       text NOT NULL,
        started_at    timestamptz NOT NULL DEFAULT now(),
        duration_ms   integer NOT NULL,
        error         text,
        PRIMARY KEY (execution_id, scraper, try)
);

-- RUN decisions that nothing is working on: never produced, or produced
-- without an execution past the grace period, or whose lease ran out.
-- The reaper applies its own grace; this view uses a fixed 2 minutes so an
-- operator sees only what is really stuck.
CREATE VIEW runfleet.orphans AS
SELECT d.decision_id, d.workflow, d.attempt, d.state, d.decided_at, d.produced_at,
       CASE WHEN d.delivered_at IS NULL THEN 'never delivered to Kafka'
            WHEN e.execution_id IS NULL THEN 'produced, never executed'
            ELSE 'lease expired' END AS why
  FROM runfleet.decisions d
  LEFT JOIN runfleet.executions e ON e.decision_id = d.decision_id AND e.attempt = d.attempt
 WHERE d.action = 'RUN'
   AND d.state IN ('PENDING', 'RUNNING')
   AND ((e.execution_id IS NULL AND d.produced_at < now() - interval '2 minutes')
        OR (e.status = 'RUNNING' AND e.lease_until < now() - interval '2 minutes'));

-- one row per decision with its latest execution: what ran on a day and how it went
CREATE VIEW runfleet.runs AS
SELECT d.decided_at::date AS day, d.workflow, d.decision_id, d.action, d.reason, d.state,
       d.attempt, d.decided_at, d.replay_of,
       e.execution_id, e.status AS execution_status, e.worker_id, e.started_at, e.finished_at,
       extract(epoch FROM (e.finished_at - e.started_at)) * 1000 AS duration_ms, e.error
  FROM runfleet.decisions d
  LEFT JOIN LATERAL (SELECT * FROM runfleet.executions x
                      WHERE x.decision_id = d.decision_id
                      ORDER BY x.attempt DESC LIMIT 1) e ON true;
