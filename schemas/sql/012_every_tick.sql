-- runfleet schema, version 12: every schedule tick accounted for (issue 14).
--
-- The invariant now covers ticks as well as decisions: every schedule tick
-- of every enabled workflow, from its first evaluation on, has exactly one
-- row here (the unique (workflow, tick) index of 001 makes it at most one).
--
-- action MISSED: a tick the evaluator found too late to decide (older than
-- the workflow's catch-up window, or beyond the bound on ticks decided per
-- evaluation). It is an action of its own, not a SKIP with a special
-- reason, so one count separates "the policy said no" (SKIP) from "nobody
-- was there to decide" (MISSED); its state is SKIPPED, as for SKIP: there
-- is nothing to execute.
ALTER TABLE runfleet.decisions DROP CONSTRAINT IF EXISTS decisions_action_check;
ALTER TABLE runfleet.decisions ADD CONSTRAINT decisions_action_check
        CHECK (action IN ('RUN', 'SKIP', 'MISSED'));

-- state CANCELLED: a RUN decision an operator ended before it started
-- (`pause --cancel-pending`); terminal, like SUCCEEDED and DEAD.
ALTER TABLE runfleet.decisions DROP CONSTRAINT IF EXISTS decisions_state_check;
ALTER TABLE runfleet.decisions ADD CONSTRAINT decisions_state_check
        CHECK (state IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'DEAD', 'SKIPPED', 'CANCELLED'));

-- a backfill's new decision for a tick whose decision ended FAILED or DEAD
-- (or any tick, --mode all) names the decision it does again
ALTER TABLE runfleet.decisions ADD COLUMN IF NOT EXISTS backfill_of uuid REFERENCES runfleet.decisions (decision_id);

-- alert kinds: DEAD (004), LATE (a run neither SUCCEEDED nor DEAD by its
-- workflow's alert_after), PAUSED (paused after pause_after_failures DEAD
-- decisions in a row)
ALTER TABLE runfleet.alerts DROP CONSTRAINT IF EXISTS alerts_kind_check;
ALTER TABLE runfleet.alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('DEAD', 'LATE', 'PAUSED'));

-- Still one decision per workflow and tick, but a backfill's re-run of a
-- tick (backfill_of set) is a second row for that tick by design; the
-- evaluator's and `backfill --mode missing`'s decisions stay one per tick.
DROP INDEX IF EXISTS runfleet.decisions_workflow_tick;
CREATE UNIQUE INDEX decisions_workflow_tick ON runfleet.decisions (workflow, tick)
        WHERE tick IS NOT NULL AND backfill_of IS NULL;

-- who ended a CANCELLED decision, and why
ALTER TABLE runfleet.decisions ADD COLUMN IF NOT EXISTS cancelled_by text;
ALTER TABLE runfleet.decisions ADD COLUMN IF NOT EXISTS cancel_reason text;

-- `runfleet-producer pause` / `unpause`, and pauses after failures: one row
-- per pause, kept after it ends so the day's story can tell it. A workflow
-- is paused while it has a row without unpaused_at (at most one).
CREATE TABLE IF NOT EXISTS runfleet.pauses (
        pause_id        bigserial PRIMARY KEY,
        workflow        text NOT NULL,
        paused_at       timestamptz NOT NULL DEFAULT now(),
        paused_by       text NOT NULL,
        reason          text NOT NULL,
        -- paused by pause_after_failures rather than by a person
        automatic       boolean NOT NULL DEFAULT false,
        unpaused_at     timestamptz,
        unpaused_by     text
);
CREATE UNIQUE INDEX IF NOT EXISTS pauses_active ON runfleet.pauses (workflow) WHERE unpaused_at IS NULL;
CREATE INDEX IF NOT EXISTS pauses_paused_at ON runfleet.pauses (paused_at);

-- `runfleet-producer backfill`: one row per request; its decisions name it
CREATE TABLE IF NOT EXISTS runfleet.backfills (
        backfill_id     uuid PRIMARY KEY,
        workflows       text[] NOT NULL,
        from_ts         timestamptz NOT NULL,
        to_ts           timestamptz NOT NULL CHECK (to_ts >= from_ts),
        mode            text NOT NULL CHECK (mode IN ('missing', 'failed', 'all')),
        max_active      integer,
        requested_by    text NOT NULL,
        requested_at    timestamptz NOT NULL DEFAULT now(),
        -- ticks the request found to decide, and decisions it created so far
        planned         integer NOT NULL DEFAULT 0,
        created         integer NOT NULL DEFAULT 0,
        finished_at     timestamptz
);
ALTER TABLE runfleet.decisions ADD COLUMN IF NOT EXISTS backfill_id uuid REFERENCES runfleet.backfills (backfill_id);

GRANT SELECT, INSERT, UPDATE ON runfleet.pauses, runfleet.backfills TO runfleet_producer_role;
GRANT USAGE ON SEQUENCE runfleet.pauses_pause_id_seq TO runfleet_producer_role;
GRANT SELECT ON runfleet.pauses TO runfleet_reaper_role;
