# SPDX-License-Identifier: Apache-2.0
"""What the deployment suites (tests/compose, tests/k8s) check on a fleet
they run from outside: load made of `runfleet-producer trigger`, and
"nothing lost" after it. Each suite passes how it reaches its fleet (a
`docker compose exec`, a `kubectl exec`, its psql); the checks are the same.

Nothing lost = every RUN decision ends SUCCEEDED or DEAD, exactly one
SUCCEEDED execution per SUCCEEDED decision, none for a DEAD one, the
orphans view empty, no execution left RUNNING, and the workers' group has
committed every message of the decisions topic.
"""
import subprocess
import threading
import time

PARTITIONS = 12   # runfleet.decisions in both deployments
failures = 0


def log(msg):
    print("# " + msg, flush=True)


def check(ok, what):
    global failures
    print(("ok: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        failures += 1
    return ok


def run(args, timeout=600, check_rc=True, inp=None):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=inp)
    if check_rc and r.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s%s" % (" ".join(args), r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    return r


def wait_for(what, fn, timeout, every=2):
    """fn() true within timeout seconds; a RuntimeError (a service down) is logged and retried."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if fn():
                return True
        except RuntimeError as e:
            log("%s: %s" % (what, str(e).strip()[-300:]))
        time.sleep(every)
    return False


def finish(suite):
    """Prints the suite's verdict and returns its exit status."""
    print("%s: %s" % (suite, "all checks passed" if failures == 0 else "%d checks failed" % failures))
    return 1 if failures else 0


class Load:
    """Decisions on demand: `runfleet-producer trigger` ten at a time in the
    evaluator's container, in a loop, until the `with` block ends; then at
    least min_ok of them must have been recorded. exec_sh(script) runs a
    shell script there and returns its CompletedProcess; before() runs
    first (e.g. waits for the evaluator to be back)."""

    def __init__(self, exec_sh, reason, min_ok, workflow="referee_discovery", before=None):
        self.exec_sh, self.min_ok, self.before = exec_sh, min_ok, before
        self.ok, self.failed, self.stop_flag, self.last_error = 0, 0, False, ""
        # the options first: the producer's subcommands stop at the first operand; the
        # last output is kept in a variable (a pod's root file system is read-only)
        self.script = ("n=0; for i in 1 2 3 4 5 6 7 8 9 10; do out=$(runfleet-producer trigger --reason %s %s 2>&1)"
                       " && n=$((n+1)); done; echo $n; printf '%%s\\n' \"$out\" | tail -1" % (reason, workflow))
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop_flag:
            try:
                r = self.exec_sh(self.script)
                n = int(r.stdout.strip().splitlines()[0])
            except (ValueError, IndexError, subprocess.TimeoutExpired):
                r, n = None, 0
            self.ok += n
            self.failed += 10 - n
            if n == 0:
                self.last_error = ((r.stdout + r.stderr) if r else "timeout").strip()[-300:]
                time.sleep(1)

    def __enter__(self):
        if self.before:
            self.before()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag = True
        self.thread.join(600)
        log("load: %d decisions triggered, %d triggers refused (a service down)%s" % (
            self.ok, self.failed, "; last refusal: " + self.last_error if self.last_error else ""))
        check(self.ok >= self.min_ok, "load: decisions triggered while it ran (%d)" % self.ok)


def group_offsets(describe_output):
    """Per partition of the decisions topic: (committed, log end) of the
    workers' group, from the output of Kafka's kafka-consumer-groups
    --describe (ConsumerGroupCommand)."""
    parts = {}
    for line in describe_output.splitlines():
        f = line.split()
        if len(f) >= 5 and f[1] == "runfleet.decisions" and f[2].isdigit():
            parts[int(f[2])] = (f[3], f[4])
    return parts


def all_committed(parts):
    """Every partition's committed offset at its log end, and some message written."""
    return (len(parts) == PARTITIONS and all(c == e or (c == "-" and e == "0") for c, e in parts.values())
            and any(e != "0" for c, e in parts.values()))


def nothing_lost(phase, count, text, offsets, settle_s, offsets_s=120, offsets_every=2, no_dead=False):
    """With no new decisions coming: waits for the fleet to settle and checks
    the invariant, then the committed offsets. count(sql) and text(sql) run
    a query; offsets() returns group_offsets() of the fleet's Kafka."""
    settled = wait_for("settle", lambda: count(
        "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN' AND state NOT IN ('SUCCEEDED', 'DEAD')") == 0,
        settle_s)
    if not settled:
        log(text("SELECT state, attempt, count(*) FROM runfleet.decisions WHERE action = 'RUN'"
                 " GROUP BY 1, 2 ORDER BY 1, 2"))
    check(settled, "%s: every RUN decision ends SUCCEEDED or DEAD" % phase)
    total = count("SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'")
    dead = count("SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN' AND state = 'DEAD'")
    log("%s: %d RUN decisions, %d DEAD, %d executions" % (
        phase, total, dead, count("SELECT count(*) FROM runfleet.executions")))
    if no_dead:
        check(dead == 0, "%s: no decision DEAD (%d)" % (phase, dead))
    check(count("SELECT count(*) FROM runfleet.decisions d WHERE d.state = 'SUCCEEDED' AND"
                " (SELECT count(*) FROM runfleet.executions e WHERE e.decision_id = d.decision_id"
                "   AND e.status = 'SUCCEEDED') <> 1") == 0,
          "%s: exactly one SUCCEEDED execution per SUCCEEDED decision" % phase)
    check(count("SELECT count(*) FROM runfleet.decisions d WHERE d.state = 'DEAD' AND"
                " EXISTS (SELECT 1 FROM runfleet.executions e WHERE e.decision_id = d.decision_id"
                "   AND e.status = 'SUCCEEDED')") == 0, "%s: no SUCCEEDED execution of a DEAD decision" % phase)
    check(count("SELECT count(*) FROM runfleet.orphans") == 0, "%s: orphans view empty" % phase)
    check(count("SELECT count(*) FROM runfleet.executions WHERE status = 'RUNNING'") == 0,
          "%s: no execution left RUNNING" % phase)
    last = {}
    t0 = time.monotonic()
    ok = wait_for("offsets", lambda: (lambda p: last.update(p) or all_committed(p))(offsets()), offsets_s,
                  every=offsets_every)
    if not ok:
        log("committed/end per partition: %s" % last)
    elif time.monotonic() - t0 > 15:
        log("%s: every offset committed %.0f s after the decisions settled" % (phase, time.monotonic() - t0))
    check(ok, "%s: the workers' group committed every message of runfleet.decisions (%d partitions)"
          % (phase, PARTITIONS))
