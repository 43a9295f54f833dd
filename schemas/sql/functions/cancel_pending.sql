-- runfleet.cancel_pending: `pause --cancel-pending` ends @p_workflow's RUN
-- decisions no worker has started (PENDING, no RUNNING execution) as
-- CANCELLED, with who and why, and returns their ids. Run as its owner, so
-- the producer's role may cancel but never set a decision's state
-- otherwise (it has no UPDATE on decisions.state; it_pg_auth checks that it
-- cannot).
--
-- Re-applied by every `migrate` (schemas/sql/README.md).
CREATE OR REPLACE FUNCTION runfleet.cancel_pending(p_workflow text, p_by text, p_reason text)
RETURNS SETOF uuid LANGUAGE sql AS $$
        UPDATE runfleet.decisions d
           SET state = 'CANCELLED', state_at = now(), cancelled_by = p_by, cancel_reason = p_reason
         WHERE d.workflow = p_workflow AND d.action = 'RUN' AND d.state = 'PENDING'
           AND NOT EXISTS (SELECT 1 FROM runfleet.executions e
                            WHERE e.decision_id = d.decision_id AND e.status = 'RUNNING')
        RETURNING d.decision_id
$$;
ALTER FUNCTION runfleet.cancel_pending(text, text, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION runfleet.cancel_pending(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runfleet.cancel_pending(text, text, text) TO runfleet_producer_role;
