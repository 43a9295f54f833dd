#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""CPU seconds by component while a command runs (docs/benchmarks.md,
"Where the time goes"): PostgreSQL (its postmaster and every child, the
exited backends through the postmaster's cutime/cstime), Kafka and the
fake scraper (by the pid files of scripts/services), and the command's own
tree (RUSAGE_CHILDREN: a bench driver and the workers it waited for).

    bench/cpu_split.py STATE_DIR COMMAND...

STATE_DIR is the services' state directory (.runfleet, or the
RUNFLEET_STATE_DIR scripts/services was started with). Prints one line,
CPU_SPLIT {json}, and exits with the command's status."""
import json
import os
import resource
import subprocess
import sys

HZ = os.sysconf("SC_CLK_TCK")


def pid(state, path):
    with open(os.path.join(state, path)) as f:
        return int(f.readline().split()[0])


def stat(p):
    """(ppid, own utime+stime, waited-for children's utime+stime) in ticks."""
    with open("/proc/%d/stat" % p) as f:
        s = f.read()
    f = s[s.rindex(")") + 2:].split()
    return int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14])


def snapshot(state):
    postmaster = pid(state, "postgres/data/postmaster.pid")
    pg = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                ppid, own, _ = stat(int(p))
            except OSError:
                continue
            if ppid == postmaster:
                pg += own
    _, own, kids = stat(postmaster)
    out = {"postgres": pg + own + kids}
    for name, path in (("kafka", "kafka/kafka.pid"), ("fake scraper", "fake-scraper/fake-scraper.pid")):
        _, own, kids = stat(pid(state, path))
        out[name] = own + kids
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: bench/cpu_split.py STATE_DIR COMMAND...")
    state = sys.argv[1]
    before = snapshot(state)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rc = subprocess.call(sys.argv[2:])
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = snapshot(state)
    res = {k: round((after[k] - before[k]) / HZ, 2) for k in before}
    res["command tree"] = round(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, 2)
    print("CPU_SPLIT " + json.dumps(res), flush=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
