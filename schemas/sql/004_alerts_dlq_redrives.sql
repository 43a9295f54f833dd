-- runfleet schema, version 4: the alerts the reaper owes, and the
-- dead-letter messages an operator redrove.

-- An outbox of webhook alerts. The reaper inserts a row in the same
-- transaction that marks a decision DEAD (only when reaper.webhook_url is
-- set), so an alert cannot be lost to a crash between the two; it is POSTed
-- after the sweep, again and again with exponential backoff until the
-- endpoint accepts it (2xx), and then marked sent. A sender claims a row by
-- pushing next_attempt_at forward before it POSTs, so replicas do not send
-- the same alert at the same time; a sender that dies mid-POST leaves the
-- row to be sent again once its claim runs out (at-least-once: the POST
-- carries Idempotency-Key: <decision_id>).
CREATE TABLE runfleet.alerts (
        decision_id     uuid NOT NULL REFERENCES runfleet.decisions (decision_id),
        kind            text NOT NULL DEFAULT 'DEAD' CHECK (kind IN ('DEAD')),
        created_at      timestamptz NOT NULL DEFAULT now(),
        -- POSTs tried so far
        attempts        integer NOT NULL DEFAULT 0,
        -- not tried again before this: the backoff after a failure, or a sender's claim
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_status     integer,
        last_error      text,
        sent_at         timestamptz,
        PRIMARY KEY (decision_id, kind)
);

CREATE INDEX alerts_pending ON runfleet.alerts (next_attempt_at) WHERE sent_at IS NULL;

-- `runfleet-producer dlq redrive`: each dead-letter message produced again
-- to the decisions topic, once. The primary key is what refuses a second
-- redrive of the same DLQ message (DLQ offsets count per partition).
CREATE TABLE runfleet.dlq_redrives (
        dlq_topic       text NOT NULL,
        dlq_partition   integer NOT NULL,
        dlq_offset      bigint NOT NULL,
        decision_id     uuid NOT NULL REFERENCES runfleet.decisions (decision_id),
        -- the attempt the redriven message carries (the decision's, when redriven)
        attempt         integer NOT NULL,
        topic           text NOT NULL,
        redriven_at     timestamptz NOT NULL DEFAULT now(),
        redriven_by     text NOT NULL,
        PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);

CREATE INDEX dlq_redrives_decision ON runfleet.dlq_redrives (decision_id);
