-- bench (f): history as the programs leave it, generated in SQL — the
-- preload of bench/grown.c and `bench_scenarios run --preload N`.
--
-- p_rows decisions spread evenly over the p_days days before today (UTC),
-- of 1,000 workflows "hist_000".."hist_999" (not the workflows the bench
-- then evaluates or runs, so what grows is history, not their own days):
-- 9 in 10 RUN SUCCEEDED, with one SUCCEEDED execution and one OK call each,
-- 1 in 10 SKIP. Ids begin with their time (common/rf_uuid.h), so every row
-- lands in its day's partition, made here for the days it needs. Then
-- VACUUM ANALYZE, as autovacuum would have done over the days.
CREATE OR REPLACE FUNCTION pg_temp.preload_history(p_rows bigint, p_days integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
        v_per_day bigint := p_rows / p_days;
        v_day date;
BEGIN
        PERFORM runfleet.create_partitions(current_date - p_days, p_days);
        FOR i IN 1 .. p_days LOOP
                v_day := current_date - i;
                CREATE TEMP TABLE IF NOT EXISTS preload_day (id uuid, exec_id uuid, ts timestamptz, g bigint);
                TRUNCATE preload_day;
                INSERT INTO preload_day
                SELECT (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(g), 19, '0'))::uuid,
                       (lpad(to_hex(ms), 12, '0') || '8' || lpad(to_hex(g), 19, '0'))::uuid,
                       to_timestamp(ms / 1000.0), g
                  FROM (SELECT g, (extract(epoch FROM v_day::timestamp) * 1000)::bigint
                                  + g * 86400000 / v_per_day AS ms
                          FROM generate_series(0, v_per_day - 1) AS g) x;
                INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, decided_at, tick, scrapers,
                                                attempt, produced_at, delivered_at, state, state_at, trace_id)
                SELECT id, 'hist_' || lpad((g % 1000)::text, 3, '0'),
                       CASE WHEN g % 10 = 9 THEN 'SKIP' ELSE 'RUN' END, 'preloaded history', ts, ts, '{s}', 1, ts,
                       ts, CASE WHEN g % 10 = 9 THEN 'SKIPPED' ELSE 'SUCCEEDED' END, ts + interval '20 ms', 'trace'
                  FROM preload_day;
                INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id, status, started_at,
                                                 heartbeat_at, lease_until, finished_at, kafka_topic,
                                                 kafka_partition, kafka_offset)
                SELECT exec_id, id, 1, 'preload', 'SUCCEEDED', ts + interval '10 ms', ts + interval '10 ms',
                       ts + interval '30 s', ts + interval '20 ms', 'runfleet.decisions', (g % 12)::int, g
                  FROM preload_day WHERE g % 10 <> 9;
                INSERT INTO runfleet.scraper_calls (execution_id, scraper, try, http_status, outcome, started_at,
                                                    duration_ms)
                SELECT exec_id, 's', 1, 200, 'OK', ts + interval '11 ms', 5 FROM preload_day WHERE g % 10 <> 9;
        END LOOP;
END $$;
