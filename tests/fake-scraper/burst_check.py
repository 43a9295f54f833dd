#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Regression check for the fake scraper's serving loop: requests that all
become readable at once, 128 of them, must all be answered.

    tests/fake-scraper/burst_check.py PATH-TO-runfleet-fake-scraper

libmicrohttpd 0.9.75's own polling thread waits again, with its full
timeout, after a wait that returned exactly 128 events, and leaves those
128 requests unanswered until something else happens on the server. To
make that happen on demand, the check opens its connections first, stops
the server (SIGSTOP), writes every request, and lets it go (SIGCONT): the
server then usually finds all of them readable in one wait (the old loop
failed about one round in two, hence several rounds). Exits 0 when every
request was answered within 5 s, 1 otherwise.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

BURST = 128
DEADLINE_S = 5.0


def start(binary):
    proc = subprocess.Popen([binary, "--port", "0"], stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"port (\d+)", line)
    if not match:
        proc.kill()
        sys.exit(f"burst_check: the scraper did not say its port: {line.strip()!r}")
    return proc, int(match.group(1))


def burst(proc, port, count):
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    time.sleep(0.5)  # every connection accepted and idle in the server's epoll set
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        for i, c in enumerate(conns):
            c.sendall(f"GET /burst HTTP/1.1\r\nHost: x\r\nIdempotency-Key: b{i}\r\n"
                      "Connection: close\r\n\r\n".encode())
        time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    answered, until = 0, time.monotonic() + DEADLINE_S
    for c in conns:
        c.settimeout(max(0.01, until - time.monotonic()))
        try:
            if c.recv(64).startswith(b"HTTP/1.1 200"):
                answered += 1
        except socket.timeout:
            pass
        c.close()
    return answered


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    proc, port = start(sys.argv[1])
    try:
        rounds = [BURST] * 6 + [BURST * 2, BURST - 1]
        failures = 0
        for count in rounds:
            answered = burst(proc, port, count)
            if answered != count:
                failures += 1
                print(f"FAIL: {answered} of {count} requests made readable at once "
                      f"were answered within {DEADLINE_S:.0f} s")
        print(f"{len(rounds) - failures} of {len(rounds)} rounds answered in full")
        return 1 if failures else 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
