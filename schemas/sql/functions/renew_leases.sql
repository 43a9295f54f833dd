-- runfleet.renew_leases: extends the leases of the given executions that
-- this worker still owns. Returns the ids it could not extend (taken away
-- by the reaper).
--
-- Re-applied by every `migrate` (schemas/sql/README.md).
CREATE OR REPLACE FUNCTION runfleet.renew_leases(p_executions uuid[], p_worker text, p_lease_ms integer)
RETURNS SETOF uuid LANGUAGE sql AS $$
        WITH renewed AS (
                UPDATE runfleet.executions
                   SET heartbeat_at = now(),
                       lease_until = now() + make_interval(secs => p_lease_ms / 1000.0)
                 WHERE execution_id = ANY (p_executions) AND worker_id = p_worker AND status = 'RUNNING'
                RETURNING execution_id)
        SELECT x FROM unnest(p_executions) AS x WHERE x NOT IN (SELECT execution_id FROM renewed);
$$;

ALTER FUNCTION runfleet.renew_leases(uuid[], text, integer)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION runfleet.renew_leases(uuid[], text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.renew_leases(uuid[], text, integer) TO runfleet_worker_role;
