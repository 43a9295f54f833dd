#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An independent reader of runfleet's Schema Registry framing.

Reads every message of a topic with Confluent's own client
(confluent_kafka.DeserializingConsumer, AvroDeserializer and
SchemaRegistryClient against the registry runfleet registered its schema
in) and compares every field of every decision with its row in
PostgreSQL (runfleet.decisions, read with psql). Run by the integration
test registry_reader (it_registry_reader.c) with the deploy suite's venv.

    read_confluent.py --brokers B --topic T --registry URL --expect N

The database is the one libpq's environment names (PGHOST, PGPORT,
PGUSER, PGDATABASE). Prints one line per decision; exits 0 when N
decisions were read and all match, 1 otherwise (naming the difference).
"""
import argparse
import datetime
import faulthandler
import json
import subprocess
import sys
import time
import uuid

from confluent_kafka import DeserializingConsumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer


def db_row(decision_id):
    sql = (
        "SELECT json_build_object('decision_id', decision_id, 'workflow', workflow, "
        "'scrapers', scrapers, 'decided_at_ms', (extract(epoch FROM decided_at) * 1000)::bigint, "
        "'attempt', attempt, 'reason', reason, 'deadline_ms', deadline_ms, "
        "'replay_of', replay_of, 'trace_id', trace_id) "
        "FROM runfleet.decisions WHERE decision_id = '%s'" % uuid.UUID(str(decision_id))
    )
    out = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                         capture_output=True, text=True, timeout=30).stdout.strip()
    return json.loads(out) if out else None


def as_ms(v):
    # fastavro turns timestamp-millis into an aware datetime
    if isinstance(v, datetime.datetime):
        return round(v.timestamp() * 1000)
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    # Nothing below may wait for ever: the client's HTTP requests have no
    # timeout by default (one hung a CI run for the test's whole 300 s,
    # printing nothing). Past the deadline, print every thread's stack and
    # exit, so a stall names its place.
    faulthandler.dump_traceback_later(a.timeout + 60, exit=True)

    registry = SchemaRegistryClient({"url": a.registry, "timeout": 10})
    consumer = DeserializingConsumer({
        "bootstrap.servers": a.brokers,
        "group.id": "read-confluent-%s" % uuid.uuid4(),
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "value.deserializer": AvroDeserializer(registry),
    })
    md = consumer.list_topics(a.topic, timeout=10).topics[a.topic]
    consumer.assign([TopicPartition(a.topic, p, 0) for p in md.partitions])

    bad, read = [], 0
    deadline = time.monotonic() + a.timeout
    while read < a.expect and time.monotonic() < deadline:
        m = consumer.poll(1.0)
        if m is None:
            continue
        if m.error():
            bad.append("kafka error: %s" % m.error())
            break
        raw = m.value()
        read += 1
        d = dict(raw)
        row = db_row(str(d["decision_id"]))
        if row is None:
            bad.append("%s: no row in runfleet.decisions" % d["decision_id"])
            continue
        want = {
            "decision_id": row["decision_id"],
            "workflow": row["workflow"],
            "scrapers": row["scrapers"],
            "decided_at": row["decided_at_ms"],
            "attempt": row["attempt"],
            "reason": row["reason"],
            "deadline_ms": row["deadline_ms"],
            "replay_of": row["replay_of"],
            "trace_id": row["trace_id"],
        }
        got = {k: as_ms(v) for k, v in d.items()}
        got["decision_id"] = str(uuid.UUID(str(got["decision_id"])))
        if sorted(got) != sorted(want):
            bad.append("%s: fields %s, expected %s" % (d["decision_id"], sorted(got), sorted(want)))
            continue
        diff = [k for k in want if got[k] != want[k]]
        for k in diff:
            bad.append("%s: %s is %r in Kafka, %r in PostgreSQL" % (d["decision_id"], k, got[k], want[k]))
        print("decision %s of %s at offset %d: %s" % (d["decision_id"], d["workflow"], m.offset(),
                                                       "all %d fields match" % len(want) if not diff else "DIFFERS"))
    consumer.close()
    if read != a.expect:
        bad.append("read %d decisions, expected %d" % (read, a.expect))
    for b in bad:
        print("MISMATCH: " + b)
    print("%d decisions read, %d problems" % (read, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
