-- runfleet.prune_partitions: retention. Drops every day older than
-- @p_keep_days whole — its decisions and their executions together, and its
-- scraper calls — by detaching and dropping the partitions, never a DELETE
-- over the hot tables. With @p_dry_run it only says what it would do.
--
-- A day that still holds an open decision (a RUN PENDING, RUNNING or
-- FAILED with tries left: a pending retry is FAILED until the reaper
-- re-produces it) or a RUNNING execution is kept, and said so; it goes at
-- a later prune, once they end. The check runs after both partitions are
-- locked ACCESS EXCLUSIVE, so no claim or finish can open one between the
-- check and the drop. Nothing reopens a decision that has ended.
--
-- Rows of the DEFAULT partitions (from before 018, or of a day nobody made
-- a partition for) are deleted by the same rule: they are few and cold.
-- The small tables' rows that name a dropped day's decisions (alerts, dead
-- letter redrives, replay links) go with it.
--
-- Locks wait at most lock_timeout (2 s); a busy day is left to the next
-- prune. Returns one row per day (or default partition) considered.
--
-- Re-applied by every `migrate` (schemas/sql/README.md).
CREATE OR REPLACE FUNCTION runfleet.prune_partitions(p_keep_days integer, p_dry_run boolean)
RETURNS TABLE (part text, day date, est_rows bigint, action text) LANGUAGE plpgsql AS $$
DECLARE
        v_cutoff date := current_date - p_keep_days;
        v_suffix text;
        v_open bigint;
        v_running bigint;
        v_defaults regclass[];
BEGIN
        IF p_keep_days IS NULL OR p_keep_days < 1 THEN
                RAISE EXCEPTION 'retention must keep at least 1 day, not %', p_keep_days;
        END IF;
        PERFORM pg_advisory_xact_lock(pg_catalog.hashtext('runfleet.create_partitions'));
        PERFORM pg_catalog.set_config('lock_timeout', '2s', true);

        FOR day, v_suffix, est_rows IN
                SELECT pg_catalog.to_date(pg_catalog.substr(c.relname, 11), 'YYYYMMDD'), pg_catalog.substr(c.relname, 11),
                       c.reltuples::bigint
                  FROM pg_catalog.pg_inherits i
                  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'runfleet.decisions'::regclass AND c.relname ~ '^decisions_[0-9]{8}$'
                 ORDER BY 1
        LOOP
                EXIT WHEN day >= v_cutoff;
                part := 'decisions_' || v_suffix || ' + executions_' || v_suffix;
                IF est_rows < 0 THEN -- never analyzed: count
                        EXECUTE pg_catalog.format('SELECT count(*) FROM runfleet.%I', 'decisions_' || v_suffix)
                                INTO est_rows;
                END IF;
                BEGIN
                        IF NOT p_dry_run THEN
                                EXECUTE pg_catalog.format('LOCK TABLE runfleet.%I, runfleet.%I IN ACCESS EXCLUSIVE MODE',
                                                          'decisions_' || v_suffix, 'executions_' || v_suffix);
                        END IF;
                        EXECUTE pg_catalog.format('SELECT count(*) FROM runfleet.%I WHERE action = ''RUN'''
                                                  ' AND state IN (''PENDING'', ''RUNNING'', ''FAILED'')',
                                                  'decisions_' || v_suffix) INTO v_open;
                        EXECUTE pg_catalog.format('SELECT count(*) FROM runfleet.%I WHERE status = ''RUNNING''',
                                                  'executions_' || v_suffix) INTO v_running;
                        IF v_open > 0 OR v_running > 0 THEN
                                action := pg_catalog.format('kept: %s open decisions, %s running executions',
                                                            v_open, v_running);
                        ELSIF p_dry_run THEN
                                action := 'would drop';
                        ELSE
                                EXECUTE pg_catalog.format('ALTER TABLE runfleet.executions DETACH PARTITION runfleet.%I',
                                                          'executions_' || v_suffix);
                                EXECUTE pg_catalog.format('DROP TABLE runfleet.%I', 'executions_' || v_suffix);
                                EXECUTE pg_catalog.format('ALTER TABLE runfleet.decisions DETACH PARTITION runfleet.%I',
                                                          'decisions_' || v_suffix);
                                EXECUTE pg_catalog.format('DROP TABLE runfleet.%I', 'decisions_' || v_suffix);
                                DELETE FROM runfleet.alerts
                                 WHERE decision_id >= runfleet.day_id(day) AND decision_id < runfleet.day_id(day + 1);
                                DELETE FROM runfleet.dlq_redrives
                                 WHERE decision_id >= runfleet.day_id(day) AND decision_id < runfleet.day_id(day + 1);
                                DELETE FROM runfleet.replay_decisions
                                 WHERE decision_id >= runfleet.day_id(day) AND decision_id < runfleet.day_id(day + 1);
                                action := 'dropped';
                        END IF;
                EXCEPTION
                        WHEN lock_not_available THEN
                                action := 'busy: left to the next prune';
                        -- the day's executions partition was never made (its rows
                        -- went to the default one): its decisions stay until
                        -- they can go with their executions
                        WHEN undefined_table OR foreign_key_violation THEN
                                action := 'kept: ' || SQLERRM;
                END;
                RETURN NEXT;
        END LOOP;

        FOR day, v_suffix, est_rows IN
                SELECT pg_catalog.to_date(pg_catalog.substr(c.relname, 15), 'YYYYMMDD'), pg_catalog.substr(c.relname, 15),
                       c.reltuples::bigint
                  FROM pg_catalog.pg_inherits i
                  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'runfleet.scraper_calls'::regclass AND c.relname ~ '^scraper_calls_[0-9]{8}$'
                 ORDER BY 1
        LOOP
                EXIT WHEN day >= v_cutoff;
                part := 'scraper_calls_' || v_suffix;
                IF est_rows < 0 THEN -- never analyzed: count
                        EXECUTE pg_catalog.format('SELECT count(*) FROM runfleet.%I', part) INTO est_rows;
                END IF;
                BEGIN
                        IF p_dry_run THEN
                                action := 'would drop';
                        ELSE
                                EXECUTE pg_catalog.format('ALTER TABLE runfleet.scraper_calls DETACH PARTITION runfleet.%I',
                                                          part);
                                EXECUTE pg_catalog.format('DROP TABLE runfleet.%I', part);
                                action := 'dropped';
                        END IF;
                EXCEPTION WHEN lock_not_available THEN
                        action := 'busy: left to the next prune';
                END;
                RETURN NEXT;
        END LOOP;

        -- the default partitions: old, ended decisions with their executions and calls
        SELECT pg_catalog.array_agg(t.partdefid::regclass ORDER BY t.partrelid::regclass::text)
          INTO v_defaults
          FROM pg_catalog.pg_partitioned_table t
         WHERE t.partrelid IN ('runfleet.decisions'::regclass, 'runfleet.executions'::regclass,
                               'runfleet.scraper_calls'::regclass)
           AND t.partdefid <> 0;
        IF pg_catalog.cardinality(v_defaults) = 3 THEN
                -- in name order: decisions, executions, scraper_calls
                part := v_defaults[1]::text;
                day := NULL;
                CREATE TEMP TABLE IF NOT EXISTS runfleet_prune_old (decision_id uuid PRIMARY KEY) ON COMMIT DROP;
                TRUNCATE runfleet_prune_old;
                EXECUTE pg_catalog.format(
                        'INSERT INTO runfleet_prune_old SELECT d.decision_id FROM %s d'
                        ' WHERE d.decided_at < %L AND NOT (d.action = ''RUN'' AND d.state IN (''PENDING'', ''RUNNING'', ''FAILED''))'
                        '   AND NOT EXISTS (SELECT 1 FROM %s e WHERE e.decision_id = d.decision_id AND e.status = ''RUNNING'')',
                        v_defaults[1], v_cutoff, v_defaults[2]);
                GET DIAGNOSTICS est_rows = ROW_COUNT;
                IF est_rows > 0 THEN
                        IF p_dry_run THEN
                                action := 'would delete its ended decisions older than the cut-off';
                        ELSE
                                EXECUTE pg_catalog.format(
                                        'DELETE FROM %s c USING %s e, runfleet_prune_old o'
                                        ' WHERE c.execution_id = e.execution_id AND e.decision_id = o.decision_id',
                                        v_defaults[3], v_defaults[2]);
                                EXECUTE pg_catalog.format('DELETE FROM %s e USING runfleet_prune_old o'
                                                          ' WHERE e.decision_id = o.decision_id', v_defaults[2]);
                                EXECUTE pg_catalog.format('DELETE FROM %s d USING runfleet_prune_old o'
                                                          ' WHERE d.decision_id = o.decision_id', v_defaults[1]);
                                DELETE FROM runfleet.alerts a USING runfleet_prune_old o WHERE a.decision_id = o.decision_id;
                                DELETE FROM runfleet.dlq_redrives r USING runfleet_prune_old o
                                 WHERE r.decision_id = o.decision_id;
                                DELETE FROM runfleet.replay_decisions r USING runfleet_prune_old o
                                 WHERE r.decision_id = o.decision_id;
                                action := 'deleted its ended decisions older than the cut-off';
                        END IF;
                        RETURN NEXT;
                END IF;
        END IF;
END $$;
ALTER FUNCTION runfleet.prune_partitions(integer, boolean)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION runfleet.prune_partitions(integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.prune_partitions(integer, boolean) TO runfleet_reaper_role, runfleet_producer_role;
