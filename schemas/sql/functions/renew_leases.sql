-- runfleet.renew_leases: extends the leases of the given executions that
-- this worker still owns. Returns the ids it could not extend (taken away
-- by the reaper). @p_decisions, the executions' decisions, name the day
-- partitions to read (018_partitioned_history.sql); a worker from before
-- 018 (a rolling update) sends none, and then the executions are found
-- through every partition.
--
-- Re-applied by every `migrate` (schemas/sql/README.md).
CREATE OR REPLACE FUNCTION runfleet.renew_leases(p_executions uuid[], p_worker text, p_lease_ms integer,
                                                 p_decisions uuid[] DEFAULT NULL)
RETURNS SETOF uuid LANGUAGE plpgsql AS $$
DECLARE
        v_renewed uuid[];
BEGIN
        IF p_decisions IS NULL THEN
                SELECT array_agg(DISTINCT decision_id) INTO p_decisions
                  FROM runfleet.executions WHERE execution_id = ANY (p_executions);
        END IF;
        WITH renewed AS (
                UPDATE runfleet.executions
                   SET heartbeat_at = now(),
                       lease_until = now() + make_interval(secs => p_lease_ms / 1000.0)
                 WHERE execution_id = ANY (p_executions) AND decision_id = ANY (p_decisions)
                   AND worker_id = p_worker AND status = 'RUNNING'
                RETURNING execution_id)
        SELECT array_agg(execution_id) INTO v_renewed FROM renewed;
        RETURN QUERY SELECT x FROM unnest(p_executions) AS x WHERE NOT (x = ANY (coalesce(v_renewed, '{}')));
END $$;

ALTER FUNCTION runfleet.renew_leases(uuid[], text, integer, uuid[])
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan;
REVOKE EXECUTE ON FUNCTION runfleet.renew_leases(uuid[], text, integer, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.renew_leases(uuid[], text, integer, uuid[]) TO runfleet_worker_role;
