#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Seeds for the fuzz corpora, written to fuzz/corpus/<target>/ (checked in).

    python3 fuzz/make_corpus.py

Seeds are files named seed-*; inputs libFuzzer found that are worth keeping
(a crash once fixed, or new coverage after `fuzz_x -merge=1`) are added
beside them by hand, under other names, and are never touched here.

decision: the test vectors' messages (tests/vectors/run_decision_v1.json,
          v1 samples and the v0/v2 writers), truncated ones, wrong markers
          and fingerprints, absurd lengths and counts, garbage.
config:   tests/unit/conf/*.cfg and config/*.cfg (those without @include),
          plus secrets, escapes and odd values.
response: raw HTTP responses after the target's 2-byte prefix
          (max_response_bytes choice, retry parameters).
otlp:     spans for the OTLP/JSON encoder: a flags byte, then NUL-separated
          ids, names, status messages and attributes (fuzz/fuzz_otlp.c),
          valid and raw ids, traceparents, URLs with secrets, bad UTF-8.
"""
import glob
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def zigzag_varint(v):
    u = (v << 1) ^ (v >> 63)
    u &= (1 << 64) - 1
    b = bytearray()
    while True:
        x = u & 0x7F
        u >>= 7
        if u:
            b.append(x | 0x80)
        else:
            b.append(x)
            return bytes(b)


def decision():
    vec = json.load(open(os.path.join(ROOT, "tests/vectors/run_decision_v1.json")))
    fp = bytes.fromhex(vec["fingerprint"])[::-1]  # little-endian on the wire
    header = b"\xc3\x01" + fp
    msgs = {}
    for s in vec["samples"]:
        msgs["v1-" + s["name"]] = bytes.fromhex(s["message"])
    for w in vec["writers"]:
        msgs["writer-" + w["name"]] = bytes.fromhex(w["message"])
    for name, m in msgs.items():
        out("decision", name, m)
        for n in sorted({0, 1, 2, 9, 10, 11, len(m) // 2, len(m) - 1}):
            out("decision", "%s-trunc%d" % (name, n), m[:n])
        out("decision", name + "-trailing", m + b"\x00")
    first = msgs["v1-first_run"]
    out("decision", "wrong-marker", b"\xc3\x02" + first[2:])
    out("decision", "wrong-fingerprint", first[:2] + bytes([first[2] ^ 0x01]) + first[3:])
    out("decision", "corrupt-body", header + bytes([0x55] * (len(first) - 10)))
    # a 2 GB string length in 20 bytes
    absurd = header + zigzag_varint(2 ** 31)
    out("decision", "absurd-length", absurd + b"A" * (20 - len(absurd)))
    out("decision", "negative-length", header + zigzag_varint(-5) + b"abcdefgh")
    uuid = b"3f2c1e9a-7b4d-4c8e-9f1a-2b3c4d5e6f70"
    body = zigzag_varint(len(uuid)) + uuid + zigzag_varint(1) + b"w"
    out("decision", "huge-array-count", header + body + zigzag_varint(2 ** 40) + b"\x02s")
    out("decision", "negative-block", header + body + zigzag_varint(-1) + zigzag_varint(2 ** 30) + b"\x02s")
    out("decision", "varint-11-bytes", header + b"\xff" * 11)
    # valid Avro written unusually: non-minimal varints, an array in two
    # blocks, one with its byte size (a negative count) -- all decode, and
    # re-encode shorter
    def s(v):
        return zigzag_varint(len(v)) + v
    fields = [s(uuid), s(b"w"), None, zigzag_varint(1718035200000), b"\x82\x80\x00", s(b"r"),
              zigzag_varint(60000), b"\x00", s(b"t")]
    items = s(b"a") + s(b"b")
    fields[2] = zigzag_varint(1) + s(b"a") + zigzag_varint(-1) + zigzag_varint(len(s(b"b"))) + s(b"b") + b"\x00"
    out("decision", "unusual-encoding", header + b"".join(fields))
    fields[2] = zigzag_varint(2) + items + b"\x00"
    fields[1] = s(b"no_such_workflow")
    out("decision", "unknown-workflow", header + b"".join(fields))
    out("decision", "garbage", b"garbage")
    out("decision", "empty", b"")
    rnd = random.Random(5)
    for i in range(4):
        out("decision", "random%d" % i, bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 200))))
        out("decision", "random-header%d" % i, header + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 200))))


def config():
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/unit/conf/*.cfg")) + glob.glob(os.path.join(ROOT, "config/*.cfg"))):
        text = open(path, "rb").read()
        if b"@include" in text:
            continue
        out("config", os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path), text)
    base = ('kafka = { brokers = "127.0.0.1:9092"; };\n'
            'database = { url = "%s"; };\n'
            'scrapers = ( { name = "s"; url = "http://127.0.0.1:1/s"; } );\n'
            'workflows = ( { name = "w"; schedule = "@every 30s"; scrapers = ["s"]; } );\n')
    dsns = {
        "dsn-conninfo": "host=db user=u password=hunter2 dbname=d",
        "dsn-conninfo-quoted": "host=db password='a b\\\\' c' dbname=d",
        "dsn-uri": "postgresql://u:hunter2@db:5432/d?sslmode=verify-full",
        "dsn-uri-query": "postgres://db/d?user=u&password=hunter2&application_name=x",
        "dsn-uri-encoded-key": "postgresql://db/d?pass%77ord=hunter2",
        "dsn-dbname-conninfo": "host=db dbname='user=u password=hunter2'",
        "dsn-dbname-uri": "host=db dbname=postgresql://u:hunter2@db/d",
        "dsn-malformed": "host=db password",
    }
    for name, dsn in dsns.items():
        out("config", name, base % dsn.replace("\\", "\\\\").replace('"', '\\"'))
    out("config", "kafka-secrets",
        'kafka = { brokers = "b:1"; properties = ( ("security.protocol", "SASL_SSL"),'
        ' ("sasl.password", "hunter2"), ("ssl.key.password", "k"), ("client.id", "a\\"b\\\\c\\td\\x01") ); };\n'
        'database = { url = "host=x"; };\n')
    out("config", "everything",
        'kafka = { brokers = "b:1"; topic = "t"; dlq_topic = "t.dlq"; group = "g"; partitions = 3;'
        ' delivery_timeout_ms = 1000; };\n'
        'database = { url = "host=x"; };\n'
        'producer = { timezone = "America/New_York"; every_ms = 5000; };\n'
        'worker = { max_in_flight = 10; lease_ms = 5000; heartbeat_ms = 1000; max_response_bytes = 1024; };\n'
        'reaper = { grace_ms = 2000; max_attempts = 3; };\n'
        'http = { listen = "127.0.0.1"; port = 9100; };\n'
        'scrapers = ( { name = "a"; url = "https://h/a"; timeout_ms = 100; max_tries = 2; rate_group = "g";'
        ' rate_per_s = 5; breaker_failures = 0; },\n'
        '             { name = "b.c-d_e"; url = "HTTP://h:8080/b?q=1#f"; } );\n'
        'workflows = ( { name = "w1"; schedule = "0 3 * * 1-5"; scrapers = ["a", "b.c-d_e"]; window = "22:00-02:00";'
        ' max_runs_per_day = 2; max_active_runs = 1; enabled = false; },\n'
        '              { name = "w2"; schedule = "@hourly"; scrapers = ["a"]; after = ["w1"]; deadline_ms = 1000; } );\n')
    out("config", "empty", "")


def response():
    def resp(name, raw, prefix=b"\x00\x00"):
        out("response", name, prefix + (raw if isinstance(raw, bytes) else raw.encode()))

    resp("ok", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    resp("ok-http10-close", "HTTP/1.0 200 OK\r\n\r\nbody until close")
    resp("no-content", "HTTP/1.1 204 No Content\r\n\r\n")
    resp("server-error", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 23\r\n\r\nImportError: no module\n")
    resp("server-error-binary", b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 6\r\n\r\n\xff\xfe\x00a\x1b[")
    resp("server-error-multiline", "HTTP/1.1 503 Unavailable\r\nContent-Length: 11\r\n\r\nline1\r\nline2")
    body = "é" * 150  # 300 bytes: any cut at an odd byte splits a character
    resp("server-error-utf8-cut", "HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n%s" % (len(body.encode()), body))
    resp("too-many-requests", "HTTP/1.1 429 Too Many\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n")
    resp("retry-after-huge", "HTTP/1.1 429 Too Many\r\nRetry-After: 9223372036854775807\r\nContent-Length: 0\r\n\r\n")
    resp("retry-after-date", "HTTP/1.1 503 Later\r\nRetry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\nContent-Length: 0\r\n\r\n")
    resp("retry-after-negative", "HTTP/1.1 429 Too Many\r\nRetry-After: -1\r\nContent-Length: 0\r\n\r\n")
    resp("not-found", "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
    resp("redirect", "HTTP/1.1 301 Moved\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n")
    resp("continue-then-ok", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    resp("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    resp("chunked-huge", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello\r\n")
    resp("content-length-lies", "HTTP/1.1 200 OK\r\nContent-Length: 2147483648\r\n\r\nshort")
    resp("body-past-bound", "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + "x" * 5000)
    resp("error-body-past-bound", "HTTP/1.1 500 Big\r\nContent-Length: 5000\r\n\r\n" + "y" * 5000)
    resp("long-header", "HTTP/1.1 200 OK\r\nX-Long: " + "h" * 3000 + "\r\nContent-Length: 0\r\n\r\n")
    resp("not-http", "SSH-2.0-OpenSSH_9.2\r\n")
    resp("empty", b"")
    resp("status-only", "HTTP/1.1 200")
    resp("bad-status", "HTTP/1.1 999999999999 Huge\r\n\r\n")
    resp("retry-params", "HTTP/1.1 500 x\r\n\r\n", prefix=b"\xf7\x93")


def otlp():
    def span(tid, sid, pid, name, msg, attrs):
        parts = [tid, sid, pid, name, msg, bytes([len(attrs)])]
        for k, v in attrs:
            parts += [k, v]
        return b"\0".join(p if isinstance(p, bytes) else p.encode() for p in parts)

    call = span("4bf92f35-77b3-4da6-a3ce-929d0e0e4736", "call", "exec", "POST", "HTTP 503",
                [("http.request.method", "POST"), ("url.full", "http://h:1/p"),
                 ("http.response.status_code", "#503"), ("runfleet.outcome", "HTTP_ERROR"),
                 ("runfleet.try", "#2")])
    out("otlp", "one-call", b"\x00" + call)
    root = span("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "d", "", "decision produced", "",
                [("messaging.system", "kafka"), ("runfleet.attempt", "#1")])
    exe = span("4bf92f35-77b3-4da6-a3ce-929d0e0e4736", "exec", "d", "execution w", "FAILED",
               [("runfleet.status", "FAILED")])
    out("otlp", "tree", b"\x02" + root + b"\0" + exe + b"\0" + call)
    raw = span("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "", "raw ids", "x", [("k", "v")])
    out("otlp", "raw-valid", b"\x80" + raw)
    out("otlp", "raw-bad", b"\x80" + span("4BF92F3577B34DA6A3CE929D0E0E4736", "0000000000000000", "zz", "n", "", []))
    out("otlp", "bad-utf8", b"\x01" + span("t", "s", "p", "name \xff\xc3(", "msg \xed\xa0\x80", 
                                            [("key \x80", "value \xf4\x90\x80\x80"), ("", "#-9223372036854775808")]) +
        b"\0" + span("http://user:pw@h:8080/p?token=secret#frag", "s", "", "\xe2\x82", "\x01\x02\x7f", []))
    out("otlp", "long", b"\x00" + span("x" * 3000, "s", "p", "n" * 2000, "m" * 1500, [("k", "v" * 1100)] * 18))
    out("otlp", "empty", b"\x07")
    random.seed(16)
    out("otlp", "garbage", bytes(random.randrange(256) for _ in range(300)))


if __name__ == "__main__":
    decision()
    config()
    response()
    otlp()
