#!/usr/bin/python3
"""Test vectors for the RUN-decision wire format, made by an implementation
independent of runfleet's C code: Debian's python3-avro (1.11.1).

Regenerate (from the source root; the output is checked in):

    apt-get install -y python3-avro
    /usr/bin/python3 tests/vectors/make_vectors.py

It writes, next to itself:

  run_decision_v1.json   the Parsing Canonical Form (PCF) and CRC-64-AVRO
                         fingerprint of schemas/run_decision.v1.avsc, and
                         sample decisions with their single-object messages
                         (C3 01, fingerprint little-endian, Avro binary body)
                         encoded by avro.io.DatumWriter + BinaryEncoder; also
                         messages written with the test-only writer schemas
                         run_decision_v0_test.avsc (older: one extra field the
                         reader drops) and run_decision_v2_test.avsc (newer:
                         extra field "priority" with a default).
  canonical_form.json    PCF and fingerprint cases for the algorithm itself.

What python3-avro 1.11.1 does not do, and how this script makes up for it:

  * it has no fingerprint function: CRC-64-AVRO is written below straight
    from the specification's reference code;
  * it has no single-object encoding: the 10-byte header is prepended here;
  * its Schema.canonical_form breaks two rules of the specification, so its
    output goes through canonical_fixups(): a primitive that carries extra
    attributes ({"type":"string","logicalType":"uuid"}) stays an object
    ({"type":"string"}) instead of becoming "string" [PRIMITIVES], and a
    fixed type used a second time is written out in full again instead of
    by its full name.

The fixed-up output is checked against reference cases published with the
Java implementation (apache/avro share/test/data/schema-tests.txt, whose
fingerprints the Java tests cross-check) and against hand-derived forms;
the script fails if any disagree.
"""
import datetime
import io
import json
import os
import struct
import sys

import avro.io
import avro.schema

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}

# --- CRC-64-AVRO, as given in the Avro specification ----------------------

EMPTY = 0xC15D213AA4D7A795
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _fp_table():
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp & 0xFFFFFFFFFFFFFFFF)
    return table


FP_TABLE = _fp_table()


def crc64_avro(data: bytes) -> int:
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ FP_TABLE[(fp ^ b) & 0xFF]
    return fp


# --- Parsing Canonical Form ------------------------------------------------


def canonical_fixups(node, seen):
    """Repairs python3-avro 1.11.1's canonical JSON (see the module doc)."""
    if isinstance(node, list):
        return [canonical_fixups(n, seen) for n in node]
    if isinstance(node, dict):
        if set(node) == {"type"} and node["type"] in PRIMITIVES:
            return node["type"]
        if node.get("type") in ("record", "error", "enum", "fixed") and "name" in node:
            if node["name"] in seen:
                return node["name"]
            seen.add(node["name"])
        return {k: canonical_fixups(v, seen) for k, v in node.items()}
    return node


def canonical_form(schema_json: str) -> str:
    schema = avro.schema.parse(schema_json)
    tree = canonical_fixups(schema.to_canonical_json(), set())
    return json.dumps(tree, separators=(",", ":"), ensure_ascii=False)


def signed_to_hex(v: int) -> str:
    return "%016x" % (v & 0xFFFFFFFFFFFFFFFF)


# Reference cases from apache/avro share/test/data/schema-tests.txt (Java):
# (input, canonical form, fingerprint as Java's signed long or None).
JAVA_CASES = [
    ('"null"', '"null"', 7195948357588979594),
    ('{"type":"null"}', '"null"', None),
    ('"boolean"', '"boolean"', -6970731678124411036),
    ('"int"', '"int"', 8247732601305521295),
    ('{"type":"int"}', '"int"', None),
    ('"long"', '"long"', -3434872931120570953),
    ('"float"', '"float"', 5583340709985441680),
    ('"double"', '"double"', -8181574048448539266),
    ('"bytes"', '"bytes"', 5746618253357095269),
    ('"string"', '"string"', -8142146995180207161),
    ('[  ]', '[]', -1241056759729112623),
    ('[ "int"  ]', '["int"]', -5232228896498058493),
    ('[ "int" , {"type":"boolean"} ]', '["int","boolean"]', 5392556393470105090),
    ('{"fields":[], "type":"record", "name":"foo"}',
     '{"name":"foo","type":"record","fields":[]}', -4824392279771201922),
    ('{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
     '{"name":"x.y.foo","type":"record","fields":[]}', 5916914534497305771),
    ('{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}',
     '{"name":"a.b.foo","type":"record","fields":[]}', -4616218487480524110),
    ('{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}',
     '{"name":"foo","type":"record","fields":[]}', -4824392279771201922),
    ('{"fields":[], "type":"record", "name":"foo", "aliases":["foo","bar"]}',
     '{"name":"foo","type":"record","fields":[]}', -4824392279771201922),
    ('{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}',
     '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}', 7843277075252814651),
    ('{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},\n'
     '            {"order":"descending","name":"f2","doc":"Hello","type":"int"}],\n'
     '  "type":"record", "name":"foo"\n}',
     '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
     -4860222112080293046),
    ('{"type":"enum", "name":"foo", "symbols":["A1"]}',
     '{"name":"foo","type":"enum","symbols":["A1"]}', -6342190197741309591),
    ('{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
     '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}', -4448647247586288245),
    ('{"name":"foo","type":"fixed","size":15}',
     '{"name":"foo","type":"fixed","size":15}', 1756455273707447556),
    ('{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}',
     '{"name":"x.y.z.foo","type":"fixed","size":32}', -3064184465700546786),
    ('{ "items":{"type":"null"}, "type":"array"}',
     '{"type":"array","items":"null"}', -589620603366471059),
    ('{ "values":"string", "type":"map"}',
     '{"type":"map","values":"string"}', -8732877298790414990),
    ('{"name":"PigValue","type":"record",\n'
     ' "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
     '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
     -1759257747318642341),
]

# Hand-derived from the specification's rules: nested named types, namespace
# inheritance (from a dotted name and from an explicit namespace), references by short and full name (a short name resolves
# in the enclosing namespace only, as in python3-avro and avro-c; Java also
# tries the null namespace), enum, fixed used twice,
# map, array, unions, logical types, doc/aliases/defaults/order to strip, and
# a \\u escape to unfold [STRINGS].
NESTED_INPUT = r"""
{
  "type": "record", "name": "Outer", "namespace": "com.example",
  "doc": "strip me", "aliases": ["Old"],
  "fields": [
    {"name": "id", "type": {"type": "fixed", "name": "Id16", "size": 16}, "doc": "x"},
    {"name": "copy_of", "type": ["null", "Id16"], "default": null},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "namespace": "other.ns",
                              "symbols": ["A", "B", "C"], "default": "A", "doc": "d"}},
    {"name": "kind2", "type": "other.ns.Kind"},
    {"name": "inner", "type": {
        "type": "record", "name": "deep.Inner",
        "fields": [
          {"name": "n", "type": {"type": "int", "logicalType": "date"}, "order": "ignore"},
          {"name": "tags", "type": {"type": "map", "values": {"type": "array", "items": "string"}}},
          {"name": "leaf", "type": {"type": "record", "name": "Leaf", "fields": [
              {"name": "v", "type": "\u0069nt"}]}},
          {"name": "top", "type": {"type": "record", "name": "Top", "namespace": "x",
                                   "fields": [{"name": "z", "type": "double"}]}}
        ]}},
    {"name": "leaf2", "type": "deep.Leaf"},
    {"name": "top2", "type": ["null", {"type": "array", "items": "Outer"}]},
    {"name": "when", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "blob", "type": {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}},
    {"name": "f", "type": "float"}, {"name": "b", "type": "boolean"}
  ]
}
"""
NESTED_CANONICAL = (
    '{"name":"com.example.Outer","type":"record","fields":['
    '{"name":"id","type":{"name":"com.example.Id16","type":"fixed","size":16}},'
    '{"name":"copy_of","type":["null","com.example.Id16"]},'
    '{"name":"kind","type":{"name":"other.ns.Kind","type":"enum","symbols":["A","B","C"]}},'
    '{"name":"kind2","type":"other.ns.Kind"},'
    '{"name":"inner","type":{"name":"deep.Inner","type":"record","fields":['
    '{"name":"n","type":"int"},'
    '{"name":"tags","type":{"type":"map","values":{"type":"array","items":"string"}}},'
    '{"name":"leaf","type":{"name":"deep.Leaf","type":"record","fields":[{"name":"v","type":"int"}]}},'
    '{"name":"top","type":{"name":"x.Top","type":"record","fields":[{"name":"z","type":"double"}]}}]}},'
    '{"name":"leaf2","type":"deep.Leaf"},'
    '{"name":"top2","type":["null",{"type":"array","items":"com.example.Outer"}]},'
    '{"name":"when","type":"long"},'
    '{"name":"blob","type":"bytes"},'
    '{"name":"f","type":"float"},{"name":"b","type":"boolean"}]}'
)

# The empty namespace means the null namespace (specification, "Names"), so
# Inner's fullname is "Inner", the nested Leaf inherits the null namespace
# (and "Leaf" inside Inner names it), and "Outer" outside Inner is "a.Outer".
# python3-avro 1.11.1 gets this wrong (it treats "" as absent and gives
# "a.Inner"), so this case's canonical form is hand-derived only.
EMPTY_NS_INPUT = (
    '{"type":"record","name":"a.Outer","fields":[{"name":"i","type":'
    '{"type":"record","name":"Inner","namespace":"","fields":[{"name":"l","type":'
    '{"type":"record","name":"Leaf","fields":[]}},{"name":"m","type":"Leaf"}]}},'
    '{"name":"j","type":"Outer"}]}')
EMPTY_NS_CANONICAL = (
    '{"name":"a.Outer","type":"record","fields":[{"name":"i","type":'
    '{"name":"Inner","type":"record","fields":[{"name":"l","type":'
    '{"name":"Leaf","type":"record","fields":[]}},{"name":"m","type":"Leaf"}]}},'
    '{"name":"j","type":"a.Outer"}]}')

# --- samples ------------------------------------------------------------------

SAMPLES = [
    {
        "name": "first_run",
        "datum": {
            "decision_id": "3f2c1e9a-7b4d-4c8e-9f1a-2b3c4d5e6f70",
            "workflow": "betting_lines",
            "scrapers": ["events", "lines", "player_props"],
            "decided_at": 1718035200000,
            "attempt": 1,
            "reason": "window open: afternoon before games",
            "deadline_ms": 600000,
            "replay_of": None,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        },
    },
    {
        "name": "replay",
        "datum": {
            "decision_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
            "workflow": "referee_discovery",
            "scrapers": ["referees"],
            "decided_at": 1718092800123,
            "attempt": 3,
            "reason": "manual replay",
            "deadline_ms": 90000,
            "replay_of": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "trace_id": "00f067aa0ba902b7",
        },
    },
    {
        "name": "unicode",
        "datum": {
            "decision_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
            "workflow": "schedule_dependency",
            "scrapers": ["schedule", "calendrier_\u00e9t\u00e9"],
            "decided_at": -1,
            "attempt": 2147483647,
            "reason": "r\u00e9essai apr\u00e8s \u00e9chec \u2014 \u518d\u8a66\u884c \u2713 \U0001F3C8",
            "deadline_ms": 9007199254740991,
            "replay_of": "1B4E28BA-2FA1-11D2-883F-0016D3CCA427",
            "trace_id": "\u00fcber-trace",
        },
    },
]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def encode(schema_json: str, datum) -> bytes:
    schema = avro.schema.parse(schema_json)
    body = io.BytesIO()
    # python3-avro wants a datetime for a timestamp-millis long.
    datum = dict(datum, decided_at=EPOCH + datetime.timedelta(milliseconds=datum["decided_at"]))
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(body))
    fp = crc64_avro(canonical_form(schema_json).encode("utf-8"))
    return b"\xc3\x01" + struct.pack("<Q", fp) + body.getvalue()


def schema_entry(schema_json: str):
    pcf = canonical_form(schema_json)
    return pcf, "%016x" % crc64_avro(pcf.encode("utf-8"))


def main() -> int:
    failures = 0

    cases = []
    for inp, want_pcf, want_fp in JAVA_CASES + [(NESTED_INPUT, NESTED_CANONICAL, None)]:
        pcf, fp = schema_entry(inp)
        if pcf != want_pcf or (want_fp is not None and fp != signed_to_hex(want_fp)):
            print("MISMATCH for %s:\n  got  %s %s\n  want %s %s" % (inp, pcf, fp, want_pcf,
                  signed_to_hex(want_fp) if want_fp is not None else "-"), file=sys.stderr)
            failures += 1
        source = "python3-avro + java reference" if want_fp is not None else \
            "python3-avro + hand-derived" if inp is NESTED_INPUT else "python3-avro + java reference (form)"
        cases.append({"source": source, "input": inp.strip(), "canonical": pcf, "fingerprint": fp})
    cases.append({"source": "hand-derived (python3-avro 1.11.1 mishandles \"namespace\":\"\")",
                  "input": EMPTY_NS_INPUT, "canonical": EMPTY_NS_CANONICAL,
                  "fingerprint": "%016x" % crc64_avro(EMPTY_NS_CANONICAL.encode("utf-8"))})
    if crc64_avro(b"") != EMPTY:
        failures += 1

    v1 = read(os.path.join(ROOT, "schemas", "run_decision.v1.avsc"))
    v0 = read(os.path.join(HERE, "run_decision_v0_test.avsc"))
    v2 = read(os.path.join(HERE, "run_decision_v2_test.avsc"))
    v1_pcf, v1_fp = schema_entry(v1)
    out = {
        "generator": "tests/vectors/make_vectors.py (python3-avro %s)" % avro.__version__,
        "schema": "schemas/run_decision.v1.avsc",
        "canonical": v1_pcf,
        "fingerprint": v1_fp,
        "samples": [],
        "writers": [],
    }
    for s in SAMPLES:
        out["samples"].append({"name": s["name"], "fields": s["datum"],
                               "message": encode(v1, s["datum"]).hex()})

    # Messages from other writer versions, for schema resolution tests.
    old = dict(SAMPLES[0]["datum"], legacy_host="evaluator-7")
    new = dict(SAMPLES[1]["datum"], priority=7)
    for label, path, text, datum, expect in (
            ("v0", "tests/vectors/run_decision_v0_test.avsc", v0, old, SAMPLES[0]["datum"]),
            ("v2", "tests/vectors/run_decision_v2_test.avsc", v2, new, SAMPLES[1]["datum"])):
        pcf, fp = schema_entry(text)
        out["writers"].append({"name": label, "schema": path, "canonical": pcf, "fingerprint": fp,
                               "writer_fields": datum, "reader_fields": expect,
                               "message": encode(text, datum).hex()})

    with open(os.path.join(HERE, "run_decision_v1.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(HERE, "canonical_form.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": out["generator"], "empty_fingerprint": "%016x" % crc64_avro(b""),
                   "cases": cases}, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("run_decision.v1 PCF: %s\nfingerprint: %s" % (v1_pcf, v1_fp))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
