-- runfleet schema, version 19: room on every page of a day of decisions for
-- the next version of its rows.
--
-- Every decision is updated once soon after its insert: delivered_at, when
-- Kafka has acknowledged it (common/rf_store.c). delivered_at is in no
-- index, so that update can be HOT (heap-only: no new index entries) if the
-- row's page has room for the new version. At fillfactor 100 a freshly
-- filled page has none, the new version goes to another page and each of
-- the table's indexes gets a new entry: the update costs as much as the
-- insert (docs/benchmarks.md, "Replay and backfill (h)"). Inserts now fill
-- half of each page: the other half holds the next version of each of its
-- rows. Less would not do: the update is one statement over a whole batch,
-- usually every row of a page, and a row's old version cannot be pruned
-- while that statement runs, so each row needs its own room (fillfactor
-- 80 made a quarter of these updates HOT, 65 three fifths, 50 all). The
-- cost is disk: a page of a finished day keeps half its room, where pages
-- at 100 get their dead versions' room back for the day's later inserts.
--
-- PostgreSQL 15 takes no storage parameters on a partitioned table, so the
-- setting is per partition: runfleet.create_partitions() (functions/) gives
-- it to each new day, and this sets it on the partitions that exist,
-- DEFAULT included (rows of a day without a partition land there). Pages
-- already written are not rewritten; only new inserts leave the room.
-- executions and scraper_calls keep 100: an execution's updates change its
-- status or lease_until, both indexed (partial indexes on status count), so
-- they can never be HOT; calls are never updated.
DO $$
DECLARE
        p regclass;
BEGIN
        FOR p IN SELECT inhrelid::regclass FROM pg_catalog.pg_inherits
                  WHERE inhparent = 'runfleet.decisions'::regclass
        LOOP
                EXECUTE format('ALTER TABLE %s SET (fillfactor = 50)', p);
        END LOOP;
END $$;
