-- runfleet.batch_calls: the scraper_calls rows of a finish batch's items
-- whose execution is one of @p_executions. SQL, so the planner inlines it
-- into finish_executions' INSERT. Not SECURITY DEFINER and callable by its
-- owner only: finish_executions, which runs as the owner, is its caller.
--
-- Re-applied by every `migrate` (schemas/sql/README.md).
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
