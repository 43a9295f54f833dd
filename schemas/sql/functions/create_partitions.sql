-- runfleet.create_partitions: the day partitions of decisions, executions
-- and scraper_calls for @p_days days from @p_first (UTC), those that do not
-- exist yet. migrate and the reaper call it ahead of time, never on the hot
-- path: creating a partition locks its parent table briefly, so it waits at
-- most lock_timeout (2 s) for the fleet's short transactions and otherwise
-- leaves the day to the next call. A day whose rows went to the DEFAULT
-- partition meanwhile (nobody created it in time) cannot get a partition
-- any more; its rows stay in the default, still found by every query.
-- Returns each partition it created.
--
-- A day of decisions fills half of each page, so that setting
-- delivered_at after Kafka's acknowledgement is a HOT update
-- (019_decisions_fillfactor.sql says why; change the two together).
--
-- Re-applied by every `migrate` (schemas/sql/README.md).
CREATE OR REPLACE FUNCTION runfleet.create_partitions(p_first date, p_days integer)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
        v_day date;
        v_table text;
        v_name text;
BEGIN
        -- two reapers, or a reaper and migrate, take turns
        PERFORM pg_advisory_xact_lock(pg_catalog.hashtext('runfleet.create_partitions'));
        PERFORM pg_catalog.set_config('lock_timeout', '2s', true);
        FOR i IN 0 .. p_days - 1 LOOP
                v_day := p_first + i;
                FOREACH v_table IN ARRAY ARRAY['decisions', 'executions', 'scraper_calls'] LOOP
                        v_name := v_table || '_' || pg_catalog.to_char(v_day, 'YYYYMMDD');
                        CONTINUE WHEN pg_catalog.to_regclass('runfleet.' || v_name) IS NOT NULL;
                        BEGIN
                                EXECUTE pg_catalog.format('CREATE TABLE runfleet.%I PARTITION OF runfleet.%I'
                                                          ' FOR VALUES FROM (%L) TO (%L)%s', v_name, v_table,
                                                          runfleet.day_id(v_day), runfleet.day_id(v_day + 1),
                                                          CASE v_table WHEN 'decisions'
                                                                  THEN ' WITH (fillfactor = 50)' ELSE '' END);
                                RETURN NEXT v_name;
                        EXCEPTION
                                WHEN check_violation THEN
                                        RAISE NOTICE 'partition % not created: the default partition holds rows of %',
                                                v_name, v_day;
                                WHEN lock_not_available THEN
                                        RAISE NOTICE 'partition % not created: runfleet.% busy, left to the next call',
                                                v_name, v_table;
                        END;
                END LOOP;
        END LOOP;
END $$;
ALTER FUNCTION runfleet.create_partitions(date, integer)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION runfleet.create_partitions(date, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.create_partitions(date, integer) TO runfleet_reaper_role, runfleet_producer_role;
