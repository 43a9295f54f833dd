-- runfleet.day_id: the smallest id of a UTC day — the bound between two
-- days' partitions. Ids begin with 48 bits of unix milliseconds
-- (common/rf_uuid.h), so this is the day's midnight in that form with the
-- remaining bits zero.
--
-- Re-applied by every `migrate` (schemas/sql/README.md).
CREATE OR REPLACE FUNCTION runfleet.day_id(p_day date)
RETURNS uuid LANGUAGE sql IMMUTABLE STRICT AS $$
        SELECT (pg_catalog.lpad(pg_catalog.to_hex((pg_catalog.date_part('epoch', p_day::timestamp) * 1000)::bigint),
                                12, '0')
                || pg_catalog.repeat('0', 20))::uuid
$$;
ALTER FUNCTION runfleet.day_id(date) SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION runfleet.day_id(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.day_id(date) TO runfleet_worker_role, runfleet_reaper_role, runfleet_producer_role;
