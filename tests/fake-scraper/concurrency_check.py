#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Opens N concurrent requests to the fake scraper and reports how long they
took, to check that slow requests cost no thread each.

    tests/fake-scraper/concurrency_check.py [--url http://127.0.0.1:18080]
        [-n 2000] [--delay-ms 2000] [--max-seconds 10]

Exits 0 when every request got HTTP 200 within --max-seconds (a generous
bound, not a benchmark), 1 otherwise. curl --parallel is no good here: it
caps itself at 300 transfers at a time.
"""
import argparse
import asyncio
import resource
import sys
import time
import urllib.parse


async def one(host, port, path, key, timeout):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                      f"Idempotency-Key: {key}\r\nConnection: close\r\n\r\n").encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        await asyncio.wait_for(reader.read(), timeout)
        parts = status_line.split()
        return int(parts[1]) if len(parts) > 1 else 0
    finally:
        writer.close()


async def run(args):
    u = urllib.parse.urlsplit(args.url)
    host, port = u.hostname, u.port or 80
    path = f"/concurrency?delay_ms={args.delay_ms}"
    t0 = time.monotonic()
    results = await asyncio.gather(
        *(one(host, port, path, f"cc-{i}", args.max_seconds) for i in range(args.n)),
        return_exceptions=True)
    elapsed = time.monotonic() - t0
    ok = sum(1 for r in results if r == 200)
    errors = [r for r in results if r != 200]
    print(f"{args.n} requests, delay_ms={args.delay_ms}: {ok} ok, {len(errors)} failed, "
          f"{elapsed:.2f} s")
    for e in errors[:5]:
        print(f"  e.g. {e!r}")
    return 0 if ok == args.n and elapsed <= args.max_seconds else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:18080")
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("--delay-ms", type=int, default=2000)
    p.add_argument("--max-seconds", type=float, default=10.0)
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.n + 1024), hard))
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
