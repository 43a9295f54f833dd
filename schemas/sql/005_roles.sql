-- runfleet schema, version 5: least-privilege database roles.
--
-- Three group roles (NOLOGIN) hold exactly the rights each program uses;
-- an operator creates one login user per program and makes it a member
-- (README, "Database roles"):
--
--   runfleet_worker_role    EXECUTE on begin_execution, renew_leases and
--                           finish_execution -- nothing else: no table
--                           rights at all, not even SELECT.
--   runfleet_reaper_role    reads decisions, executions, calls; updates
--                           only the state columns it changes; the alerts
--                           outbox.
--   runfleet_producer_role  reads everything (status, evaluate, replay);
--                           inserts decisions, replays, redrives; updates
--                           only decisions.delivered_at.
--
-- Nobody but the owner (the user that runs `migrate`) may DELETE, TRUNCATE
-- or change the schema.
--
-- The worker's functions run as SECURITY DEFINER (as their owner) with a
-- fixed search_path, so a worker's credentials can only make the fenced,
-- checked moves those functions allow -- claim a decision, renew its own
-- lease, record its own finish -- and cannot rewrite decisions, executions
-- or call records directly. Their bodies use schema-qualified names and
-- pg_catalog built-ins only. A later migration that replaces one of them
-- with CREATE OR REPLACE FUNCTION must state SECURITY DEFINER and the
-- search_path again (CREATE OR REPLACE resets them), and a new function
-- the worker calls needs the same treatment and a GRANT to
-- runfleet_worker_role: the pg_auth integration test runs a worker with
-- nothing but this role and fails otherwise.
--
-- Roles belong to the whole PostgreSQL cluster, not to one database: they
-- are created only when missing (several databases may run this at once),
-- which needs the CREATEROLE right; without it, a DBA creates the three
-- NOLOGIN roles first and the grants below still apply.

DO $$
DECLARE
        r text;
BEGIN
        FOREACH r IN ARRAY ARRAY['runfleet_worker_role', 'runfleet_reaper_role', 'runfleet_producer_role'] LOOP
                CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r);
                BEGIN
                        EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
                EXCEPTION
                        -- another database's migrate created it at the same moment
                        WHEN duplicate_object OR unique_violation THEN
                                NULL;
                        WHEN insufficient_privilege THEN
                                RAISE EXCEPTION 'role % does not exist and % may not create roles', r, current_user
                                        USING HINT = 'as a superuser: CREATE ROLE runfleet_worker_role NOLOGIN; '
                                                     'CREATE ROLE runfleet_reaper_role NOLOGIN; '
                                                     'CREATE ROLE runfleet_producer_role NOLOGIN; '
                                                     'or run migrate as a user with CREATEROLE';
                END;
        END LOOP;
END $$;

GRANT USAGE ON SCHEMA runfleet TO runfleet_worker_role, runfleet_reaper_role, runfleet_producer_role;

-- ---- worker: three functions, run as their owner --------------------------

ALTER FUNCTION runfleet.begin_execution(uuid, integer, uuid, text, integer, text, integer, bigint)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION runfleet.renew_leases(uuid[], text, integer)
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION runfleet.finish_execution(uuid, text, text, text, text[], integer[], integer[], text[], bigint[],
                                         integer[], text[])
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Functions are executable by PUBLIC by default; these run with the
-- owner's rights, so only the worker role (and the owner) may call them.
REVOKE EXECUTE ON FUNCTION
        runfleet.begin_execution(uuid, integer, uuid, text, integer, text, integer, bigint),
        runfleet.renew_leases(uuid[], text, integer),
        runfleet.finish_execution(uuid, text, text, text, text[], integer[], integer[], text[], bigint[],
                                  integer[], text[])
        FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
        runfleet.begin_execution(uuid, integer, uuid, text, integer, text, integer, bigint),
        runfleet.renew_leases(uuid[], text, integer),
        runfleet.finish_execution(uuid, text, text, text, text[], integer[], integer[], text[], bigint[],
                                  integer[], text[])
        TO runfleet_worker_role;

-- ---- reaper: sweeps (reaper/sweep.c) and the alerts outbox ----------------

GRANT SELECT ON runfleet.decisions, runfleet.executions, runfleet.scraper_calls TO runfleet_reaper_role;
-- abandon expired leases; FAILED, DEAD, re-produce (attempt + 1); FOR UPDATE
GRANT UPDATE (state, state_at, attempt, produced_at, delivered_at) ON runfleet.decisions TO runfleet_reaper_role;
GRANT UPDATE (status, finished_at, error) ON runfleet.executions TO runfleet_reaper_role;

-- ---- producer: evaluate, trigger, status, replay, dlq ---------------------

GRANT SELECT ON ALL TABLES IN SCHEMA runfleet TO runfleet_producer_role;
GRANT INSERT ON runfleet.decisions TO runfleet_producer_role;
GRANT UPDATE (delivered_at) ON runfleet.decisions TO runfleet_producer_role;
-- replay takes LOCK TABLE ... SHARE ROW EXCLUSIVE, which needs UPDATE
GRANT INSERT, UPDATE ON runfleet.replays TO runfleet_producer_role;
GRANT INSERT ON runfleet.replay_decisions TO runfleet_producer_role;

-- Tables of migration 004 (alerts outbox, DLQ redrives), when present.
DO $$
BEGIN
        IF pg_catalog.to_regclass('runfleet.alerts') IS NOT NULL THEN
                GRANT SELECT, INSERT, UPDATE ON runfleet.alerts TO runfleet_reaper_role;
        END IF;
        IF pg_catalog.to_regclass('runfleet.dlq_redrives') IS NOT NULL THEN
                GRANT INSERT ON runfleet.dlq_redrives TO runfleet_producer_role;
        END IF;
END $$;

-- Tables and views a later migration adds can be read by the producer
-- (status) and the reaper; anything more is granted explicitly there.
ALTER DEFAULT PRIVILEGES IN SCHEMA runfleet GRANT SELECT ON TABLES TO runfleet_producer_role, runfleet_reaper_role;
