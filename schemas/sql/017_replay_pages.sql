-- runfleet schema, version 17: a replay's decisions read back in the
-- originals' order, a page at a time (producer/replay_record.c produces a
-- replay of any size with bounded memory): an index on the replay's
-- partition and offset, so each page is an index range, not a sort of the
-- whole replay.
CREATE INDEX IF NOT EXISTS replay_decisions_order
        ON runfleet.replay_decisions (replay_id, kafka_partition, kafka_offset);
