-- runfleet schema, version 14: what `runfleet-producer backfill` looks up.
--
-- A tick's decisions, whatever they are: 012 made the unique (workflow,
-- tick) index partial (backfill_of IS NULL), and a partial index serves
-- only queries that repeat its predicate, so "every decision of this
-- workflow at this tick, the latest first" (a backfill's plan, and the
-- evaluator's "is this tick decided?") would otherwise read every decision
-- of the workflow.
CREATE INDEX IF NOT EXISTS decisions_tick_history ON runfleet.decisions (workflow, tick, decided_at)
        WHERE tick IS NOT NULL;

-- A backfill's decisions: --max-active counts those not yet terminal while
-- it runs, and `status` counts them by state.
CREATE INDEX IF NOT EXISTS decisions_backfill ON runfleet.decisions (backfill_id, state)
        WHERE backfill_id IS NOT NULL;
