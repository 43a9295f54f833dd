-- runfleet schema, version 16: `runfleet-producer timeline` reads the
-- operator events of a time range (pauses ended, backfills, replays and
-- DLQ redrives requested in it) by their time, as it reads decisions by
-- decided_at (decisions_day): each query stays bounded by the range
-- however long the tables grow (a `dlq redrive --all` adds a row per
-- dead letter). Decisions, executions and calls need nothing new.
CREATE INDEX IF NOT EXISTS dlq_redrives_redriven_at ON runfleet.dlq_redrives (redriven_at);
CREATE INDEX IF NOT EXISTS replays_requested_at ON runfleet.replays (requested_at);
CREATE INDEX IF NOT EXISTS backfills_requested_at ON runfleet.backfills (requested_at);
CREATE INDEX IF NOT EXISTS pauses_unpaused_at ON runfleet.pauses (unpaused_at) WHERE unpaused_at IS NOT NULL;
