-- The batch functions' common case without work it does not need
-- (pg_stat_statements, bench scenario a, 20,000 decisions):
--
-- begin_executions: when every item of the claim started, which is the
-- rule, each verdict is STARTED, and the query that read the decisions and
-- executions again to tell the verdicts apart (about 15 % of the
-- function's time, planning included) is not run. Any other batch gets
-- the verdicts of 007 as before.
--
-- finish_executions: its INSERT of scraper_calls used ON CONFLICT DO
-- NOTHING for every row, a speculative insertion that first looks the key
-- up (228 -> 139-162 ms for the 20,000 rows). Calls of the executions this
-- worker still runs are now inserted plainly; only those of executions it
-- no longer owns (a re-sent batch, or one fenced out) keep ON CONFLICT.
-- Should a plain insert still meet a duplicate, the batch falls back to
-- finish_execution_json item by item, as for a second success.
--
-- As in 007 and 008 otherwise.

CREATE OR REPLACE FUNCTION runfleet.begin_executions(
        p_worker text, p_lease_ms integer, p_topic text, p_batch jsonb)
RETURNS TABLE (idx integer, verdict text) LANGUAGE plpgsql AS $$
DECLARE
        v_decisions uuid[];
        v_started bigint;
BEGIN
        -- Each statement joins the batch to a table through its primary
        -- key, or looks rows up by an array of keys: never a join of two
        -- derived sets, which the planner may nest into a loop over both
        -- (quadratic in the batch; seen at 500 items).
        SELECT array_agg(DISTINCT (item->>'decision_id')::uuid) INTO v_decisions
          FROM jsonb_array_elements(p_batch) AS item;
        PERFORM 1 FROM runfleet.decisions
          WHERE decision_id = ANY (v_decisions)
          ORDER BY decision_id
            FOR UPDATE;

        WITH claimed AS (
                INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id, status,
                                                 lease_until, kafka_topic, kafka_partition, kafka_offset)
                SELECT i.execution_id, i.decision_id, i.attempt, p_worker, 'RUNNING',
                       now() + make_interval(secs => p_lease_ms / 1000.0), p_topic, i.partition, i."offset"
                  FROM jsonb_to_recordset(p_batch)
                       AS i(i integer, decision_id uuid, attempt integer, execution_id uuid,
                            partition integer, "offset" bigint)
                  JOIN runfleet.decisions d ON d.decision_id = i.decision_id
                 WHERE d.state NOT IN ('SUCCEEDED', 'DEAD', 'SKIPPED') AND i.attempt >= d.attempt
                 ORDER BY i.decision_id, i.attempt, i.i
                ON CONFLICT (decision_id, attempt) DO NOTHING
                RETURNING execution_id, decision_id, attempt),
        moved AS (
                UPDATE runfleet.decisions d
                   SET state = 'RUNNING', state_at = now(),
                       attempt = greatest(d.attempt, c.attempt),
                       delivered_at = coalesce(d.delivered_at, now())
                  FROM (SELECT decision_id, max(attempt) AS attempt FROM claimed GROUP BY decision_id) c
                 WHERE d.decision_id = c.decision_id)
        SELECT count(*) INTO v_started FROM claimed;

        -- Every item started (the common case): that is each one's verdict,
        -- with no need to read the rows again.
        IF v_started = jsonb_array_length(p_batch) THEN
                RETURN QUERY
                SELECT (item->>'i')::integer, 'STARTED'::text FROM jsonb_array_elements(p_batch) AS item;
                RETURN;
        END IF;
        -- an item's execution exists only if this call inserted it (its id is new)
        RETURN QUERY
        SELECT i.i,
               CASE WHEN e.execution_id IS NOT NULL THEN 'STARTED'
                    WHEN d.decision_id IS NULL THEN 'UNKNOWN'
                    WHEN d.state IN ('SUCCEEDED', 'DEAD', 'SKIPPED') THEN 'DONE'
                    WHEN i.attempt < d.attempt THEN 'STALE'
                    ELSE 'TAKEN' END
          FROM jsonb_to_recordset(p_batch) AS i(i integer, decision_id uuid, attempt integer, execution_id uuid)
          LEFT JOIN runfleet.decisions d ON d.decision_id = i.decision_id
          LEFT JOIN runfleet.executions e ON e.execution_id = i.execution_id AND e.worker_id = p_worker;
END $$;

-- The scraper_calls rows of a finish batch's items whose execution is one
-- of @p_executions. SQL, so the planner inlines it into the INSERT.
CREATE OR REPLACE FUNCTION runfleet.batch_calls(p_batch jsonb, p_executions uuid[])
RETURNS SETOF runfleet.scraper_calls LANGUAGE sql STABLE AS $$
        SELECT (item->>'execution_id')::uuid, c.scraper, c.try, c.http_status, c.outcome,
               pg_catalog.to_timestamp(c.started_ms / 1000.0::float8), c.duration_ms, c.error
          FROM pg_catalog.jsonb_array_elements(p_batch) AS item,
               pg_catalog.jsonb_to_recordset(item->'calls') AS c(scraper text, try integer, http_status integer,
                                                                  outcome text, started_ms bigint,
                                                                  duration_ms integer, error text)
         WHERE (item->>'execution_id')::uuid = ANY (p_executions)
$$;
REVOKE EXECUTE ON FUNCTION runfleet.batch_calls(jsonb, uuid[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION runfleet.finish_executions(p_worker text, p_batch jsonb)
RETURNS TABLE (idx integer, recorded boolean) LANGUAGE plpgsql AS $$
DECLARE
        v_executions uuid[];
        v_existing uuid[];
        v_owned uuid[];
        v_recorded uuid[];
BEGIN
        SELECT array_agg((item->>'execution_id')::uuid) INTO v_executions
          FROM jsonb_array_elements(p_batch) AS item;
        BEGIN
                -- The fence, under lock: only this worker's RUNNING executions
                -- change. Rows are found by primary key alone: a status
                -- condition in the scan lets the planner use the partial index
                -- executions_running_lease, which between vacuums holds an
                -- entry for every execution that ever ran (seen: 100,000
                -- entries read per batch).
                WITH locked AS MATERIALIZED (
                        SELECT execution_id, worker_id, status
                          FROM runfleet.executions
                         WHERE execution_id = ANY (v_executions)
                         ORDER BY execution_id
                           FOR UPDATE)
                SELECT array_agg(execution_id),
                       array_agg(execution_id) FILTER (WHERE worker_id = p_worker AND status = 'RUNNING')
                  INTO v_existing, v_owned
                  FROM locked;
                -- The calls of every execution that exists, whoever owns it:
                -- they happened. Those of an execution this worker still
                -- runs cannot be there yet (calls are written together with
                -- the status that ends the execution), so they are inserted
                -- without ON CONFLICT's check of the key for each row; the
                -- others may be a re-sent batch's, already recorded.
                INSERT INTO runfleet.scraper_calls SELECT * FROM runfleet.batch_calls(p_batch, v_owned);
                IF coalesce(cardinality(v_existing), 0) > coalesce(cardinality(v_owned), 0) THEN
                        INSERT INTO runfleet.scraper_calls
                        SELECT * FROM runfleet.batch_calls(p_batch, ARRAY(SELECT unnest(v_existing)
                                                                          EXCEPT SELECT unnest(v_owned)))
                        ON CONFLICT DO NOTHING;
                END IF;
                WITH finished AS (
                        UPDATE runfleet.executions e
                           SET status = i.status, finished_at = now(), error = i.error
                          FROM jsonb_to_recordset(p_batch) AS i(execution_id uuid, status text, error text)
                         WHERE e.execution_id = i.execution_id AND e.execution_id = ANY (v_owned)
                        RETURNING e.execution_id, e.decision_id, e.attempt, e.status),
                settled AS (
                        UPDATE runfleet.decisions d
                           SET state = CASE WHEN f.status = 'SUCCEEDED' THEN 'SUCCEEDED' ELSE 'FAILED' END,
                               state_at = now()
                          FROM finished f
                         WHERE d.decision_id = f.decision_id AND d.attempt = f.attempt AND d.state = 'RUNNING')
                SELECT array_agg(execution_id) INTO v_recorded FROM finished;
        EXCEPTION WHEN unique_violation THEN
                SELECT array_agg((item->>'execution_id')::uuid)
                  INTO v_recorded
                  FROM (SELECT value AS item FROM jsonb_array_elements(p_batch)
                         ORDER BY value->>'execution_id') AS ordered
                 WHERE runfleet.finish_execution_json((item->>'execution_id')::uuid, p_worker,
                                                      item->>'status', item->>'error', item->'calls');
        END;
        RETURN QUERY
        SELECT (item->>'i')::integer, coalesce((item->>'execution_id')::uuid = ANY (v_recorded), false)
          FROM jsonb_array_elements(p_batch) AS item;
END $$;

-- CREATE OR REPLACE resets what ALTER FUNCTION set: set it again (see 007, 009)
ALTER FUNCTION runfleet.begin_executions(text, integer, text, jsonb)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan
        SET enable_seqscan = off;
ALTER FUNCTION runfleet.finish_executions(text, jsonb)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan
        SET enable_seqscan = off;
