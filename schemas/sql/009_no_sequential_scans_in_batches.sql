-- begin_executions and finish_executions never scan a table from end to
-- end. Their statements find rows by key, but the planner sizes every
-- batch at 100 items (jsonb_to_recordset's estimate) and each table by its
-- last ANALYZE: on a table of a few thousand rows, a hash join over a
-- sequential scan looked cheaper than 100 index lookups. Batches are often
-- a handful of items (1,000 decisions/s spread over three workers) and the
-- tables keep growing, so every claim read the whole decisions and
-- executions tables until they outgrew the estimate: for the first ~18 s of
-- bench scenario c, produce→start p99 was 40–180 ms instead of 15–25 ms.
ALTER FUNCTION runfleet.begin_executions(text, integer, text, jsonb)
        SET enable_seqscan = off;
ALTER FUNCTION runfleet.finish_executions(text, jsonb)
        SET enable_seqscan = off;
