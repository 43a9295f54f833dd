-- runfleet schema, version 3: replays. A replay re-runs the RUN decisions
-- the decisions topic holds for a time range, as new decisions linked to
-- their originals by decisions.replay_of. Each replay is recorded, so the
-- same range is not replayed twice by accident (`replay --again` says it is
-- on purpose).

CREATE TABLE runfleet.replays (
        replay_id     uuid PRIMARY KEY,
        from_ts       timestamptz NOT NULL,
        to_ts         timestamptz NOT NULL CHECK (to_ts > from_ts),
        -- the --workflow filter, sorted and without repeats; empty: every workflow
        workflows     text[] NOT NULL DEFAULT '{}',
        again         boolean NOT NULL DEFAULT false,
        requested_at  timestamptz NOT NULL DEFAULT now(),
        requested_by  text NOT NULL,
        decisions     integer NOT NULL DEFAULT 0
);

CREATE INDEX replays_range ON runfleet.replays (from_ts, to_ts);

-- which new decision a replay made for which original, once per original
CREATE TABLE runfleet.replay_decisions (
        replay_id     uuid NOT NULL REFERENCES runfleet.replays (replay_id),
        original_id   uuid NOT NULL REFERENCES runfleet.decisions (decision_id),
        decision_id   uuid NOT NULL UNIQUE REFERENCES runfleet.decisions (decision_id),
        kafka_partition integer NOT NULL,
        kafka_offset  bigint NOT NULL,
        PRIMARY KEY (replay_id, original_id)
);
