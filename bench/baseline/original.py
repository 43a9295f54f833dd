#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The design runfleet replaces, re-implemented as a reference for bench/run.

An `/execute-workflows` handler of a single-service orchestrator: it walks
the pending RUN decisions of the decisions table in a synchronous loop and,
for each, records an execution, calls the workflow's scrapers one after the
other, and records the outcome. `--threads 3` is the same loop handed to
`ThreadPoolExecutor(max_workers=3)`, the usual first fix.

It writes to runfleet's own schema (runfleet.decisions / runfleet.executions)
so that bench/run measures both designs with the same queries. It is the
kindest version of the original: one keep-alive HTTP session and one
PostgreSQL connection per thread, no scraper-call rows. Like the original,
it has no lease, no retry and no record of a decision it never reached.

    original.py --database-url URL [--threads N] --scraper NAME=URL ...

Debian packages: python3-psycopg2, python3-requests.
"""
import argparse
import concurrent.futures
import os
import socket
import sys
import threading
import uuid

import psycopg2
import requests

WORKER = "baseline-%s-%d" % (socket.gethostname(), os.getpid())


def pending(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT decision_id, workflow, scrapers FROM runfleet.decisions"
                    " WHERE action = 'RUN' AND state = 'PENDING' ORDER BY decided_at")
        return cur.fetchall()


def execute(conn, session, scrapers, decision):
    decision_id, workflow, names = decision
    execution_id = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute("INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id, status,"
                    " lease_until) VALUES (%s, %s, 1, %s, 'RUNNING', now() + interval '1 day')",
                    (execution_id, decision_id, WORKER))
        cur.execute("UPDATE runfleet.decisions SET state = 'RUNNING', state_at = now() WHERE decision_id = %s",
                    (decision_id,))
    status, error = "SUCCEEDED", None
    for name in names:
        try:
            r = session.post(scrapers[name], json={"workflow": workflow, "decision_id": decision_id},
                             timeout=600)
            if r.status_code >= 300:
                status, error = "FAILED", "%s: HTTP %d" % (name, r.status_code)
                break
        except requests.RequestException as e:
            status, error = "FAILED", "%s: %s" % (name, e)
            break
    with conn.cursor() as cur:
        cur.execute("UPDATE runfleet.executions SET status = %s, finished_at = now(), error = %s"
                    " WHERE execution_id = %s", (status, error, execution_id))
        cur.execute("UPDATE runfleet.decisions SET state = %s, state_at = now() WHERE decision_id = %s",
                    ("SUCCEEDED" if status == "SUCCEEDED" else "FAILED", decision_id))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--threads", type=int, default=0, help="0: the sequential loop")
    ap.add_argument("--scraper", action="append", default=[], metavar="NAME=URL")
    args = ap.parse_args()
    scrapers = dict(s.split("=", 1) for s in args.scraper)

    def connect():
        conn = psycopg2.connect(args.database_url)
        conn.autocommit = True
        return conn

    conn = connect()
    decisions = pending(conn)
    if args.threads <= 0:
        session = requests.Session()
        for d in decisions:
            execute(conn, session, scrapers, d)
    else:
        local = threading.local()

        def run_one(d):
            if not hasattr(local, "conn"):
                local.conn, local.session = connect(), requests.Session()
            execute(local.conn, local.session, scrapers, d)

        with concurrent.futures.ThreadPoolExecutor(max_workers=args.threads) as pool:
            for f in [pool.submit(run_one, d) for d in decisions]:
                f.result()
    print("executed %d decisions" % len(decisions), file=sys.stderr)


if __name__ == "__main__":
    main()
