-- runfleet schema, version 18: the history tables partitioned by day, so
-- retention drops whole days and a lookup by id reads one day's index.
--
-- decisions and executions are range-partitioned on decision_id, and
-- scraper_calls on execution_id. Every id begins with its time (common/
-- rf_uuid.h: 48 bits of unix ms, as in UUID version 7), so a day is a range
-- of ids, and the primary keys, which must contain the partition key, stay
-- what they were. A decision's executions live in its day, so a day of
-- decisions and its executions go together. The unique (workflow, tick)
-- index cannot exist on a partitioned table (it lacks the key); a tick's
-- decision has the tick's own id instead, so the primary key keeps a tick
-- decided once (rf_uuid_tick).
--
-- The existing tables become the DEFAULT partitions, unchanged and without
-- a copy: rows from before this migration (random ids) stay there, and so
-- does any row of a day whose partition does not exist.
-- runfleet.create_partitions() (functions/) makes the days ahead; migrate
-- and the reaper call it. runfleet.prune_partitions() is retention.
--
-- Foreign keys into decisions from other tables (replays, alerts, dead
-- letter redrives, replay_of, backfill_of) are dropped: retention removes
-- old days whole, and a key from a small table would forbid it. Those
-- references are to history; prune removes the small tables' rows of the
-- days it drops.

-- what names the old tables' row types or would keep them alive; migrate
-- re-creates these from functions/ and views/ after the migrations
DROP VIEW IF EXISTS runfleet.orphans;
DROP VIEW IF EXISTS runfleet.runs;
DROP FUNCTION IF EXISTS runfleet.batch_calls(jsonb, uuid[]);
-- renew_leases gains the executions' decision ids, to find their days
DROP FUNCTION IF EXISTS runfleet.renew_leases(uuid[], text, integer);

DO $$
DECLARE
        c record;
BEGIN
        FOR c IN SELECT conrelid::regclass AS tbl, conname
                   FROM pg_catalog.pg_constraint
                  WHERE contype = 'f'
                    AND (confrelid IN ('runfleet.decisions'::regclass, 'runfleet.executions'::regclass)
                         OR conrelid IN ('runfleet.decisions'::regclass, 'runfleet.executions'::regclass,
                                         'runfleet.scraper_calls'::regclass))
        LOOP
                EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
        END LOOP;
        -- the old tables' indexes keep their places under new names
        FOR c IN SELECT i.relname
                   FROM pg_catalog.pg_index x
                   JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
                  WHERE x.indrelid IN ('runfleet.decisions'::regclass, 'runfleet.executions'::regclass,
                                       'runfleet.scraper_calls'::regclass)
        LOOP
                EXECUTE format('ALTER INDEX runfleet.%I RENAME TO %I', c.relname, c.relname || '_before_018');
        END LOOP;
END $$;

ALTER TABLE runfleet.decisions RENAME TO decisions_before_018;
ALTER TABLE runfleet.executions RENAME TO executions_before_018;
ALTER TABLE runfleet.scraper_calls RENAME TO scraper_calls_before_018;

CREATE TABLE runfleet.decisions (LIKE runfleet.decisions_before_018 INCLUDING DEFAULTS INCLUDING CONSTRAINTS
                                 INCLUDING COMMENTS)
        PARTITION BY RANGE (decision_id);
CREATE TABLE runfleet.executions (LIKE runfleet.executions_before_018 INCLUDING DEFAULTS INCLUDING CONSTRAINTS
                                  INCLUDING COMMENTS)
        PARTITION BY RANGE (decision_id);
CREATE TABLE runfleet.scraper_calls (LIKE runfleet.scraper_calls_before_018 INCLUDING DEFAULTS
                                     INCLUDING CONSTRAINTS INCLUDING COMMENTS)
        PARTITION BY RANGE (execution_id);

ALTER TABLE runfleet.decisions ATTACH PARTITION runfleet.decisions_before_018 DEFAULT;
ALTER TABLE runfleet.executions ATTACH PARTITION runfleet.executions_before_018 DEFAULT;
ALTER TABLE runfleet.scraper_calls ATTACH PARTITION runfleet.scraper_calls_before_018 DEFAULT;

ALTER TABLE runfleet.decisions ADD CONSTRAINT decisions_pkey PRIMARY KEY (decision_id);
CREATE INDEX decisions_open ON runfleet.decisions (state, produced_at)
        WHERE action = 'RUN' AND state IN ('PENDING', 'RUNNING', 'FAILED');
CREATE INDEX decisions_day ON runfleet.decisions (decided_at);
CREATE INDEX decisions_tick_history ON runfleet.decisions (workflow, tick, decided_at) WHERE tick IS NOT NULL;
CREATE INDEX decisions_waiting ON runfleet.decisions (workflow, decided_at) WHERE waiting_for IS NOT NULL;
CREATE INDEX decisions_backfill ON runfleet.decisions (backfill_id, state) WHERE backfill_id IS NOT NULL;
ALTER TABLE runfleet.decisions ADD CONSTRAINT decisions_backfill_id_fkey
        FOREIGN KEY (backfill_id) REFERENCES runfleet.backfills (backfill_id);

-- the primary key must contain the partition key; execution_id leads, so a
-- lookup by execution_id alone still has its index. The old table's key
-- (execution_id alone) gives way to it.
DO $$
DECLARE
        v_pkey name;
BEGIN
        SELECT conname INTO v_pkey FROM pg_catalog.pg_constraint
         WHERE conrelid = 'runfleet.executions_before_018'::regclass AND contype = 'p';
        EXECUTE format('ALTER TABLE runfleet.executions_before_018 DROP CONSTRAINT %I', v_pkey);
END $$;
ALTER TABLE runfleet.executions ADD CONSTRAINT executions_pkey PRIMARY KEY (execution_id, decision_id);
ALTER TABLE runfleet.executions ADD CONSTRAINT executions_decision_id_attempt_key UNIQUE (decision_id, attempt);
CREATE UNIQUE INDEX executions_one_success ON runfleet.executions (decision_id) WHERE status = 'SUCCEEDED';
CREATE INDEX executions_running_lease ON runfleet.executions (lease_until) WHERE status = 'RUNNING';
-- checked at commit, as since 010_decision_key_checked_at_commit.sql
ALTER TABLE runfleet.executions ADD CONSTRAINT executions_decision_id_fkey
        FOREIGN KEY (decision_id) REFERENCES runfleet.decisions (decision_id) DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE runfleet.scraper_calls ADD CONSTRAINT scraper_calls_pkey PRIMARY KEY (execution_id, scraper, try);

-- the same privileges on the new tables as on the old, table and column
DO $$
DECLARE
        g record;
BEGIN
        FOR g IN SELECT table_name, grantee, privilege_type
                   FROM information_schema.role_table_grants
                  WHERE table_schema = 'runfleet'
                    AND table_name IN ('decisions_before_018', 'executions_before_018', 'scraper_calls_before_018')
                    AND grantee <> current_user
        LOOP
                EXECUTE format('GRANT %s ON runfleet.%I TO %I', g.privilege_type,
                               replace(g.table_name, '_before_018', ''), g.grantee);
        END LOOP;
        FOR g IN SELECT table_name, column_name, grantee, privilege_type
                   FROM information_schema.column_privileges
                  WHERE table_schema = 'runfleet'
                    AND table_name IN ('decisions_before_018', 'executions_before_018', 'scraper_calls_before_018')
                    AND grantee <> current_user
                    AND privilege_type = 'UPDATE'
        LOOP
                EXECUTE format('GRANT UPDATE (%I) ON runfleet.%I TO %I', g.column_name,
                               replace(g.table_name, '_before_018', ''), g.grantee);
        END LOOP;
END $$;
