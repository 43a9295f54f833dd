#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""deploy/k8s on a real cluster (tests/k8s/run prepares the cluster, the
image and the suite's Kafka, PostgreSQL and fake scraper on the host).

1. `kubectl apply -k tests/k8s/overlay` (the base plus namespace, Secret,
   image, addresses) is accepted without a warning under Pod Security
   "restricted"; the migrate Job completes; KEDA (scripts/k8s runs it beside
   the cluster) scales the workers to its minReplicaCount, 2; the
   evaluator, both reapers and the workers become Ready through their own
   probes.
2. Decisions triggered in the evaluator's pod are executed: all SUCCEEDED.
3. `kubectl drain` of the node under load: the PodDisruptionBudget lets one
   worker go and refuses the second while the first has no Ready
   replacement; after `uncordon`, two workers again. Nothing lost.
4. A rolling update of the worker image under load. Nothing lost.
5. A worker with executions in flight killed with `kubectl delete
   --grace-period=0 --force`: the reaper marks them ABANDONED and their
   decisions still end SUCCEEDED, once. Nothing lost.
6. A backlog raises the group's lag: KEDA scales the workers up from 2 and
   new workers consume; once the lag is gone, back down to 2, with no
   execution abandoned by the scale-down. Nothing lost. Prints the time
   from the backlog to the first execution by a new worker. The backlog is
   one `runfleet-producer backfill` of 16 workflows (25 past daily ticks
   each: 400 decisions of 6 s within a second or two), spread over the
   partitions by their keys, so the new workers have partitions with lag.
   Nothing lost = every RUN decision ends SUCCEEDED or DEAD, exactly one
   SUCCEEDED execution per SUCCEEDED decision, the orphans view empty, no
   execution left RUNNING, and the workers' group has committed every
   message of the decisions topic.
"""
import datetime
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fleet_checks  # noqa: E402
from fleet_checks import check, log, run, wait_for  # noqa: E402

ROOT = os.environ.get("RUNFLEET_SOURCE_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NS = "runfleet-k8s-test"
NODE = "rf-k8s"
IMAGE = "docker.io/library/runfleet:k8s-test"
CTR = ["ctr", "--address", os.environ.get("RUNFLEET_K8S_CTR_SOCK", ""), "-n", "k8s.io"]
PSQL = ["psql", "-X", "-h", "127.0.0.1", "-p", "17432", "-U", "postgres", "-d", "runfleet", "-v", "ON_ERROR_STOP=1", "-Atc"]
SETTLE_S = 300
WORKER = "app.kubernetes.io/component=worker"
EVALUATOR = "app.kubernetes.io/component=evaluator"
BACKLOG_WORKFLOWS = ["backlog_%d" % i for i in range(16)]   # tests/k8s/overlay/runfleet.cfg
BACKLOG_TICKS = 25                                          # per workflow: 400 decisions
T0 = time.monotonic()


def phase_done(name, since):
    log("phase %s: %.0f s (%.0f s since the test started)" % (name, time.monotonic() - since, time.monotonic() - T0))
    return time.monotonic()


def k(*args, **kw):
    return run(["kubectl", "-n", NS] + list(args), **kw)


def psql(sql):
    return run(PSQL + [sql], timeout=60).stdout.strip()


def psql_int(sql):
    return int(psql(sql) or -1)


def pods(selector):
    return json.loads(k("get", "pods", "-l", selector, "-o", "json").stdout)["items"]


def ready(p):
    return (p["metadata"].get("deletionTimestamp") is None
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])))


def ready_count(selector):
    return sum(1 for p in pods(selector) if ready(p))


def dump(selector):
    """The pods' state and their last log lines, for a failure."""
    for p in pods(selector):
        log("%s: phase %s, conditions %s" % (p["metadata"]["name"], p["status"].get("phase"),
                                               [(c["type"], c["status"]) for c in p["status"].get("conditions", [])]))
        r = k("logs", "--tail", "20", p["metadata"]["name"], check_rc=False)
        log("logs:\n" + (r.stdout + r.stderr)[-2000:])


def exec_evaluator(script):
    return k("exec", "deploy/runfleet-evaluator", "--", "sh", "-c", script, check_rc=False, timeout=300)


def Load(workflow="referee_discovery"):
    """Decisions on demand in the evaluator's pod (kubectl exec), once it is Ready again."""
    return fleet_checks.Load(exec_evaluator, "k8s-load", 20, workflow, before=evaluator_ready)


def group_offsets():
    """From Kafka's own ConsumerGroupCommand, run from the suite's Kafka install."""
    java = run(["bash", "-c", "source %s/scripts/lib.sh && rf_java" % ROOT]).stdout.strip()
    return fleet_checks.group_offsets(run(
        [java, "-Xmx256m", "-cp", os.path.join(ROOT, "kafka/lib/*"),
         "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--bootstrap-server", "127.0.0.1:17092",
         "--describe", "--group", "runfleet-workers"], check_rc=False, timeout=120).stdout)


evaluator_down = [None]   # the phase that scaled the evaluator to 0, until it is Ready again


def evaluator_ready():
    """After nothing_lost(): the evaluator (scaled back to 1 there, without
    waiting) Ready again before the next phase execs into it."""
    if evaluator_down[0] is None:
        return
    check(wait_for("evaluator", lambda: ready_count(EVALUATOR) == 1, 120),
          "%s: the evaluator Ready again" % evaluator_down[0])
    evaluator_down[0] = None


def nothing_lost(phase, offsets_s=120, last=False):
    """Stops the evaluator (no new decisions), waits for the fleet to
    settle, checks the invariant and the committed offsets (within
    offsets_s of the settling), starts it again (the next phase waits for
    it to be Ready) unless this is the last phase."""
    k("scale", "deployment/runfleet-evaluator", "--replicas=0")
    evaluator_down[0] = phase
    fleet_checks.nothing_lost(phase, psql_int, psql, group_offsets, SETTLE_S, offsets_s=offsets_s,
                              offsets_every=5, no_dead=True)
    if not last:
        k("scale", "deployment/runfleet-evaluator", "--replicas=1")


def wait_workers(n, timeout=240):
    return wait_for("workers", lambda: ready_count(WORKER) == n and len(pods(WORKER)) == n, timeout)


def main():
    # ------------------------------------------------------------ 1. apply
    t0 = time.monotonic()
    tp = t0
    r = run(["kubectl", "apply", "-k", os.path.join(ROOT, "tests/k8s/overlay")], check_rc=False)
    check(r.returncode == 0, "kubectl apply -k tests/k8s/overlay" + ("" if r.returncode == 0 else ": " + r.stderr[-1500:]))
    check("Warning" not in r.stderr, "apply: no warning (Pod Security \"restricted\" enforced)%s" % (
        "" if "Warning" not in r.stderr else ": " + r.stderr[-1500:]))
    done = k("wait", "--for=condition=complete", "job/runfleet-migrate", "--timeout=300s", check_rc=False)
    if not check(done.returncode == 0, "the migrate Job completes"):
        dump("app.kubernetes.io/component=migrate")
        return
    hpa = wait_for("hpa", lambda: k("get", "hpa", "keda-hpa-runfleet-worker", check_rc=False).returncode == 0, 120)
    check(hpa, "KEDA made the HorizontalPodAutoscaler of the ScaledObject (keda-hpa-runfleet-worker)")
    for comp, n in (("evaluator", 1), ("reaper", 2), ("worker", 2)):
        ok = wait_for(comp, lambda: ready_count("app.kubernetes.io/component=" + comp) == n, 300)
        if not check(ok, "%d %s pod(s) Ready through their probes" % (n, comp)):
            dump("app.kubernetes.io/component=" + comp)
            return
    log("applied to all Ready: %.0f s" % (time.monotonic() - t0))
    uid = k("exec", "deploy/runfleet-worker", "--", "id", "-u").stdout.strip()
    check(uid == "10001", "a worker runs as uid 10001 (%s)" % uid)
    # the cluster's DNS (CoreDNS, scripts/k8s): the pods above reached
    # Kafka, PostgreSQL and the scraper by their Services' names; what a
    # name resolves to: a headless Service's endpoint, a Service's ClusterIP
    r = k("exec", "deploy/runfleet-worker", "--", "getent", "hosts", "kafka", "kubernetes.default", check_rc=False)
    check(r.returncode == 0 and "10.213.0.1 " in r.stdout and "10.214.0.1 " in r.stdout,
          "cluster DNS: in a pod, kafka resolves to the host (10.213.0.1) and kubernetes.default to its "
          "ClusterIP (10.214.0.1): %s" % " | ".join((r.stdout + r.stderr).strip().splitlines()))
    tp = phase_done("apply", tp)

    # ------------------------------------------------------------ 2. decisions flow
    with Load():
        time.sleep(15)
    check(wait_for("succeeded", lambda: psql_int(
        "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN' AND state = 'SUCCEEDED'") >= 20, 180),
        "decisions triggered in the evaluator's pod are executed and SUCCEEDED")
    nothing_lost("flow")
    tp = phase_done("flow", tp)

    # ------------------------------------------------------------ 3. drain and the PDB
    with Load():
        time.sleep(5)
        low = [2]

        def watch():
            while drain.poll() is None:
                try:
                    low[0] = min(low[0], ready_count(WORKER))
                except RuntimeError:
                    pass
                time.sleep(0.5)
        # 45 s: the first eviction, its worker's drain (the overlay's
        # drain_timeout_ms is 20 s) and refusals of the second (its
        # replacement cannot be scheduled on the cordoned node)
        drain = subprocess.Popen(["kubectl", "drain", NODE, "--pod-selector", WORKER, "--ignore-daemonsets",
                                  "--delete-emptydir-data", "--timeout=45s"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        watcher = threading.Thread(target=watch)
        watcher.start()
        out = drain.communicate(timeout=300)[0]
        watcher.join()
        check(drain.returncode != 0 and "disruption budget" in out,
              "drain: the PodDisruptionBudget refuses the second worker while the first has no Ready "
              "replacement (exit %d)" % drain.returncode)
        check(low[0] == 1, "drain: one worker unavailable at a time, never both (fewest Ready: %d)" % low[0])
        log("drain output: " + " | ".join(out.strip().splitlines()[-4:]))
        run(["kubectl", "uncordon", NODE])
        check(wait_workers(2), "uncordon: two workers Ready again")
        time.sleep(5)
    nothing_lost("drain")
    tp = phase_done("drain", tp)

    # ------------------------------------------------------------ 4. rolling update
    run(CTR + ["images", "tag", "--force", IMAGE, IMAGE + "-2"])
    with Load():
        time.sleep(5)
        k("set", "image", "deployment/runfleet-worker", "worker=" + IMAGE + "-2")
        r = k("rollout", "status", "deployment/runfleet-worker", "--timeout=300s", check_rc=False)
        check(r.returncode == 0, "rolling update of the worker image under load completes")
        imgs = {p["spec"]["containers"][0]["image"] for p in pods(WORKER) if ready(p)}
        check(imgs == {IMAGE + "-2"} and wait_workers(2), "every Ready worker runs the new image (%s)" % imgs)
        time.sleep(5)
    nothing_lost("rolling update")
    tp = phase_done("rolling update", tp)

    # ------------------------------------------------------------ 5. force delete
    abandoned0 = psql_int("SELECT count(*) FROM runfleet.executions WHERE status = 'ABANDONED'")
    with Load("slow_k8s"):
        victim = [None]

        def busy():
            for p in pods(WORKER):
                name = p["metadata"]["name"]
                # a slow_k8s execution (20 s) begun in the last 8 s: still
                # running when the kill lands (any execution would do, and
                # a 300 ms one of the scheduled workflows may end first)
                if psql_int("SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                            " USING (decision_id) WHERE e.status = 'RUNNING' AND d.workflow = 'slow_k8s'"
                            " AND e.started_at > now() - interval '8 seconds'"
                            " AND e.worker_id LIKE '%s-%%'" % name) >= 1:
                    victim[0] = name
                    return True
            return False
        if check(wait_for("busy worker", busy, 120, every=1), "a worker with executions in flight"):
            k("delete", "pod", victim[0], "--grace-period=0", "--force")
            log("force-deleted %s" % victim[0])
            check(wait_for("replaced", lambda: ready_count(WORKER) >= 2
                           and victim[0] not in [p["metadata"]["name"] for p in pods(WORKER)], 240),
                  "the Deployment replaces the force-deleted worker")
            time.sleep(10)
    # the killed worker's partitions change hands (a rebalance after its
    # session times out): the committed offsets may follow later
    nothing_lost("force delete", offsets_s=360)
    if victim[0]:
        lost = psql_int("SELECT count(*) FROM runfleet.executions WHERE status = 'ABANDONED'"
                        " AND worker_id LIKE '%s-%%'" % victim[0])
        check(lost >= 1 and psql_int("SELECT count(*) FROM runfleet.executions WHERE status = 'ABANDONED'") > abandoned0,
              "the reaper marked the killed worker's executions ABANDONED (%d)" % lost)
        check(psql_int("SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d USING (decision_id)"
                       " WHERE e.status = 'ABANDONED' AND e.worker_id LIKE '%s-%%' AND d.state <> 'SUCCEEDED'"
                       % victim[0]) == 0,
              "every decision the killed worker had in flight ended SUCCEEDED")
    tp = phase_done("force delete", tp)

    # ------------------------------------------------------------ 6. KEDA on lag
    check(wait_workers(2, 420), "before the backlog: KEDA back at minReplicaCount, 2 workers")
    evaluator_ready()
    initial = [p["metadata"]["name"] for p in pods(WORKER)]
    abandoned0 = psql_int("SELECT count(*) FROM runfleet.executions WHERE status = 'ABANDONED'")
    t0 = psql("SELECT now()")
    not_initial = " AND ".join("worker_id NOT LIKE '%s-%%'" % n for n in initial)
    samples = []   # (seconds since the backlog's start, Ready workers, worker pods)
    sampling = [True]
    start = time.monotonic()

    def sample():
        while sampling[0]:
            try:
                ps = pods(WORKER)
                samples.append((time.monotonic() - start, sum(1 for p in ps if ready(p)), len(ps)))
            except RuntimeError:
                pass
            time.sleep(2)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    # the backlog: the last BACKLOG_TICKS daily ticks (03:00 in the
    # producer's time zone) of each backlog workflow, ending two days ago
    # (--to may not be in the future, in any time zone)
    last = datetime.date.today() - datetime.timedelta(days=2)
    first = last - datetime.timedelta(days=BACKLOG_TICKS - 1)
    r = k("exec", "deploy/runfleet-evaluator", "--", "runfleet-producer", "backfill", *BACKLOG_WORKFLOWS,
          "--from", "%s 00:00" % first, "--to", "%s 12:00" % last, "--mode", "missing", check_rc=False, timeout=300)
    made = psql_int("SELECT count(*) FROM runfleet.decisions WHERE workflow LIKE 'backlog\\_%' AND action = 'RUN'")
    log("backlog: %d decisions by one backfill in %.0f s: %s" % (
        made, time.monotonic() - start, (r.stdout + r.stderr).strip().splitlines()[-1:]))
    check(r.returncode == 0 and made == len(BACKLOG_WORKFLOWS) * BACKLOG_TICKS,
          "backfill: %d decisions of the backlog workflows (%d)" % (len(BACKLOG_WORKFLOWS) * BACKLOG_TICKS, made))
    first_new = [None]

    def scaled():
        if first_new[0] is None:
            v = psql("SELECT extract(epoch FROM min(started_at) - '%s'::timestamptz) FROM runfleet.executions"
                     " WHERE started_at > '%s' AND %s" % (t0, t0, not_initial))
            first_new[0] = float(v) if v else None
        return first_new[0] is not None and max((r for _, r, _ in samples), default=0) >= 4
    up = wait_for("scale up", scaled, 300)
    check(up, "KEDA scales the workers up on the lag and new workers consume")
    if first_new[0] is not None:
        log("KEDA: %.0f s from the backlog's start to the first execution by a new worker" % first_new[0])
    def backlog_done():
        return psql_int("SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'"
                        " AND state NOT IN ('SUCCEEDED', 'DEAD')") == 0
    settled = wait_for("backlog done", backlog_done, SETTLE_S)
    check(settled, "the backlog is executed")
    done_at = time.monotonic() - start
    down = wait_for("scale down", lambda: ready_count(WORKER) == 2 and len(pods(WORKER)) == 2, 420)
    check(down, "KEDA scales the workers back down to 2 once the lag is gone")
    time.sleep(4)
    sampling[0] = False
    sampler.join(30)
    most = max(r for _, r, _ in samples)
    t_up = next((t for t, r, _ in samples if r > 2), None)
    t_peak = next(t for t, r, _ in samples if r == most)
    t_two = next((t for t, r, n in samples if t > t_peak and r == 2 and n == 2), None)
    log("KEDA, seconds from the backlog's start: a third worker Ready at %s, the first execution by a new worker "
        "at %.0f, the most workers (%d Ready) at %.0f, the backlog executed at %.0f, back to 2 workers at %s" % (
            "%.0f" % t_up if t_up is not None else "-", first_new[0] or -1, most, t_peak, done_at,
            "%.0f" % t_two if t_two is not None else "-"))
    check(most > 2 and t_two is not None, "KEDA: up from 2 (to %d) and back to 2" % most)
    check(psql_int("SELECT count(*) FROM runfleet.executions WHERE status = 'ABANDONED'") == abandoned0,
          "no execution abandoned by the scale-down (the workers drained)")
    nothing_lost("KEDA scale up and down", last=True)
    phase_done("KEDA", tp)


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        check(False, str(e))
    sys.exit(fleet_checks.finish("k8s"))
