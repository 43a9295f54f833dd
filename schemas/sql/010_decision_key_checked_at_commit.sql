-- executions' foreign key to decisions is checked at commit instead of at
-- the end of each statement. The check itself is unchanged; what changes
-- is under which settings it is planned. begin_executions runs with
-- plan_cache_mode = force_custom_plan (007), and a key check that fires
-- inside it inherits that setting: PostgreSQL planned the check's query
-- anew for every inserted row, about 9 % of PostgreSQL's CPU in bench
-- scenario a (perf), more than running the checks. Checked at commit, after
-- the function has returned and its settings are undone, the check uses
-- its plan cached once per connection. A claim only inserts executions of
-- decisions it has just locked, so no claim can fail this check; any other
-- writer still has its row refused, at commit.
ALTER TABLE runfleet.executions
        ALTER CONSTRAINT executions_decision_id_fkey DEFERRABLE INITIALLY DEFERRED;
