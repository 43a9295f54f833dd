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
