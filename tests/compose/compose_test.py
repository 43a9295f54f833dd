#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`docker compose up`, really: docker-compose.yml as users run it, on the
engine DOCKER_HOST names (tests/compose/run prepares it and the images).

1. `up -d --build` (monitoring profile too): every service healthy, migrate
   exited 0; decisions are evaluated, executed and SUCCEEDED.
2. The image: runs as uid 10001; its own HEALTHCHECK turns healthy.
3. `--scale worker=6` under load, then back to 2: nothing lost.
4. One worker killed, `restart kafka`, `restart postgres`, all under load:
   nothing lost.
   Nothing lost = every RUN decision ends with exactly one SUCCEEDED or
   DEAD, no decision with two SUCCEEDED executions, the orphans view empty,
   and the workers' consumer group has committed every message of the
   decisions topic.
5. A second `up -d` works (migrate again, as the role runfleet).
6. Prometheus (monitoring profile) scrapes every target and loads the rules;
   Grafana, when its official image can be had (pulled, or already in the
   engine; it has no stand-in), is healthy with the provisioned datasource
   answering and the runfleet dashboard loaded. Without it every `up` names
   the other services and Grafana is left out (tests/deploy/check_dashboard.py
   checks its files offline).
7. `down -v` leaves no container, network or volume of the project.
Prints the time to healthy and the layers the runtime stage adds.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fleet_checks  # noqa: E402
from fleet_checks import check, log, run, wait_for  # noqa: E402

ROOT = os.environ.get("RUNFLEET_SOURCE_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROJECT = os.environ.get("RUNFLEET_COMPOSE_PROJECT", "runfleet-compose-test")
COMPOSE = ["docker", "compose", "-p", PROJECT, "-f", os.path.join(ROOT, "docker-compose.yml"),
           "--project-directory", ROOT, "--profile", "monitoring"]
IMAGE = "runfleet:local"
SERVICES = {"kafka", "postgres", "fake-scraper", "evaluator", "worker", "reaper", "prometheus"}
UP_SERVICES = []   # what `up` names: all (empty), or all but grafana when its image cannot be had
SETTLE_S = 420   # reaper.grace_ms 40 s, backoff, 5 attempts: far above what a settled fleet needs


def dc(*args, **kw):
    return run(COMPOSE + list(args), **kw)


def containers():
    out = dc("ps", "-a", "--format", "json").stdout
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if not line:
            continue
        v = json.loads(line)
        rows.extend(v if isinstance(v, list) else [v])
    return rows


def wait_healthy(expect_workers, timeout=300):
    """Every service running and healthy (migrate exited 0), with
    expect_workers workers. Returns the seconds it took, or None."""
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < timeout:
        rows = containers()
        bad = []
        seen = set()
        workers = 0
        for c in rows:
            svc = c.get("Service")
            seen.add(svc)
            if svc == "migrate":
                if c.get("State") != "exited" or int(c.get("ExitCode", -1)) != 0:
                    bad.append("migrate %s/%s" % (c.get("State"), c.get("ExitCode")))
                continue
            if svc == "worker" and c.get("State") == "running":
                workers += 1
            if c.get("State") != "running" or c.get("Health") != "healthy":
                bad.append("%s %s/%s" % (c.get("Name"), c.get("State"), c.get("Health")))
        missing = (SERVICES | {"migrate"}) - seen
        if not bad and not missing and workers == expect_workers:
            return time.monotonic() - t0
        last = "not yet: %s missing %s, %d workers" % (bad, sorted(missing), workers)
        time.sleep(2)
    log(last)
    for c in containers():
        if c.get("Service") == "migrate" or c.get("Health") != "healthy":
            log("logs of %s:\n%s" % (c.get("Name"), run(["docker", "logs", "--tail", "30", c["Name"]],
                                                         check_rc=False).stderr[-3000:]))
    return None


def psql(sql):
    r = dc("exec", "-T", "postgres", "psql", "-U", "runfleet", "-d", "runfleet", "-v", "ON_ERROR_STOP=1",
           "-Atc", sql, check_rc=False, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("psql: %s: %s" % (sql, r.stderr.strip()))
    return r.stdout.strip()


def psql_ll(sql):
    for _ in range(30):   # the database may be restarting
        try:
            return int(psql(sql) or -1)
        except RuntimeError as e:
            err = e
            time.sleep(2)
    raise err


def exec_evaluator(script):
    return dc("exec", "-T", "evaluator", "sh", "-c", script, check_rc=False, timeout=300)


def Load(workflow="referee_discovery"):
    """Decisions on demand in the evaluator's container, on top of the evaluator's own every 15 s."""
    return fleet_checks.Load(exec_evaluator, "compose-load", 50, workflow)


def group_offsets():
    return fleet_checks.group_offsets(dc(
        "exec", "-T", "kafka", "/opt/kafka/bin/kafka-consumer-groups.sh", "--bootstrap-server", "kafka:9092",
        "--describe", "--group", "runfleet-workers", check_rc=False, timeout=120).stdout)


def nothing_lost(phase):
    """Stops the evaluator (no new decisions), checks that nothing was lost
    once the fleet settles, starts it again."""
    dc("stop", "evaluator")
    fleet_checks.nothing_lost(phase, psql_ll, psql, group_offsets, SETTLE_S)
    dc("start", "evaluator")


def runtime_layers():
    """Bytes the runtime stage adds on top of its base image (docker history)."""
    def sizes(image):
        out = run(["docker", "history", "--no-trunc", "-H=false", "--format", "{{.Size}}", image]).stdout
        return [int(s) for s in out.split()]
    img, base = sizes(IMAGE), sizes("debian:bookworm-slim")
    return sum(img[:len(img) - len(base)]), sum(base)


def grafana_image():
    """Grafana's image is in the engine, or can be pulled: True."""
    import yaml
    image = yaml.safe_load(open(os.path.join(ROOT, "docker-compose.yml")))["services"]["grafana"]["image"]
    if run(["docker", "image", "inspect", image], check_rc=False).returncode == 0:
        return True
    try:
        return run(["docker", "pull", "-q", image], check_rc=False, timeout=90).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def up(*args, **kw):
    return dc("up", *args, *UP_SERVICES, **kw)


def main():
    dc("down", "-v", "--remove-orphans", check_rc=False)
    if grafana_image():
        SERVICES.add("grafana")
    else:
        log("grafana/grafana cannot be pulled here and has no stand-in: Grafana is left out "
            "(its files are checked offline by the deploy test dashboard)")
        UP_SERVICES.extend(sorted(SERVICES | {"migrate"}))

    # ------------------------------------------------------------ 1. up
    t0 = time.monotonic()
    dc("build", timeout=3600)
    log("image built in %.0f s" % (time.monotonic() - t0))
    t0 = time.monotonic()
    up("-d", "--build", timeout=600)
    took = wait_healthy(3)
    if not check(took is not None, "up -d --build: every service healthy, migrate exited 0"):
        return
    log("time to healthy: %.0f s after `up -d --build` (image cached)" % (time.monotonic() - t0))
    check(wait_for("succeeded", lambda: psql_ll(
        "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN' AND state = 'SUCCEEDED'") >= 3, 180),
        "decisions evaluated, executed and SUCCEEDED")
    check(psql_ll("SELECT count(DISTINCT workflow) FROM runfleet.decisions WHERE state = 'SUCCEEDED'") >= 2,
          "decisions of several workflows SUCCEEDED")
    added, base = runtime_layers()
    log("runtime image: %.1f MB added by the runtime stage on top of the base (%.1f MB here)" % (
        added / 1e6, base / 1e6))

    # ------------------------------------------------------------ 2. the image
    cfg = run(["docker", "image", "inspect", "-f", "{{.Config.User}} {{json .Config.Healthcheck.Test}}", IMAGE]).stdout
    check(cfg.startswith("10001:10001 ") and "/healthz" in cfg, "image: USER 10001:10001, HEALTHCHECK on /healthz")
    check(dc("exec", "-T", "worker", "id", "-u").stdout.strip() == "10001", "a worker container runs as uid 10001")
    net = PROJECT + "_default"
    name = PROJECT + "-image-healthcheck"
    run(["docker", "rm", "-f", name], check_rc=False)
    run(["docker", "run", "-d", "--name", name, "--network", net,
         "-v", os.path.join(ROOT, "deploy/compose/runfleet.cfg") + ":/etc/runfleet/runfleet.cfg:ro",
         "-e", "RUNFLEET_DATABASE_URL=postgresql://runfleet:runfleet@postgres:5432/runfleet",
         IMAGE, "runfleet-reaper"])
    healthy = wait_for("image healthcheck", lambda: run(
        ["docker", "inspect", "-f", "{{.State.Health.Status}}", name]).stdout.strip() == "healthy", 120)
    check(healthy, "the image's own HEALTHCHECK turns healthy (a reaper without compose's health check)")
    run(["docker", "rm", "-f", name], check_rc=False)

    # ------------------------------------------------------------ 3. scale under load
    with Load():
        time.sleep(10)
        up("-d", "--scale", "worker=6", "--no-recreate")
        check(wait_healthy(6) is not None, "--scale worker=6: six healthy workers")
        time.sleep(20)
        up("-d", "--scale", "worker=2", "--no-recreate")
        check(wait_healthy(2) is not None, "--scale worker=2: back to two")
        time.sleep(10)
    nothing_lost("scale 3 -> 6 -> 2")

    # ------------------------------------------------------------ 4. faults under load
    with Load():
        time.sleep(10)
        victim = sorted(c["Name"] for c in containers() if c.get("Service") == "worker")[0]
        run(["docker", "kill", victim])
        log("killed %s" % victim)
        time.sleep(20)
        dc("restart", "kafka", timeout=300)
        log("kafka restarted")
        time.sleep(20)
        dc("restart", "postgres", timeout=300)
        log("postgres restarted")
        time.sleep(20)
    nothing_lost("worker killed, kafka and postgres restarted")

    # ------------------------------------------------------------ 5. up again
    r = up("-d", "--scale", "worker=2", timeout=600, check_rc=False)
    check(r.returncode == 0, "a second `up -d` succeeds" + ("" if r.returncode == 0 else ": " + r.stderr.strip()[-800:]))
    check(wait_healthy(2) is not None, "after the second up: every service healthy, migrate exited 0 again")
    mig = [c["Name"] for c in containers() if c.get("Service") == "migrate"]
    out = run(["docker", "logs", mig[0]], check_rc=False)
    check(out.stdout.count('"migrations_applied":0') + out.stderr.count('"migrations_applied":0') >= 1,
          "migrate ran again and applied nothing")

    # ------------------------------------------------------------ 6. prometheus
    def targets():
        with urllib.request.urlopen("http://127.0.0.1:9090/api/v1/targets", timeout=10) as f:
            return json.load(f)["data"]["activeTargets"]

    want = {"runfleet-worker": 2, "runfleet-reaper": 2, "runfleet-evaluator": 1, "prometheus": 1}
    seen = {}

    def all_up():
        t = targets()
        seen.clear()
        for x in t:
            if x["health"] == "up":
                seen[x["labels"]["job"]] = seen.get(x["labels"]["job"], 0) + 1
        return seen == want and all(x["health"] == "up" for x in t)
    ok = wait_for("prometheus targets", all_up, 120)
    check(ok, "Prometheus scrapes every target and all are up: %s (want %s)" % (seen, want))
    with urllib.request.urlopen("http://127.0.0.1:9090/api/v1/rules", timeout=10) as f:
        groups = json.load(f)["data"]["groups"]
    rules = sum(len(g["rules"]) for g in groups)
    text = open(os.path.join(ROOT, "deploy/prometheus/alerts.yml")).read()
    check(rules > 0 and rules == text.count("- alert:"), "Prometheus loaded the alert rules (%d)" % rules)
    if "grafana" in SERVICES:
        auth = "Basic " + __import__("base64").b64encode(b"admin:admin").decode()

        def grafana(path):
            req = urllib.request.Request("http://127.0.0.1:3000" + path, headers={"Authorization": auth})
            with urllib.request.urlopen(req, timeout=10) as f:
                return json.load(f)
        found = grafana("/api/search?query=runfleet")
        check(any(d.get("uid") == "runfleet" for d in found), "Grafana provisioned the runfleet dashboard")
        health = grafana("/api/datasources/uid/prometheus/health")
        check(health.get("status") == "OK", "Grafana's provisioned Prometheus datasource answers: %s" % health)

    # ------------------------------------------------------------ 7. down
    dc("down", "-v", timeout=300)
    left = run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=" + PROJECT]).stdout.split()
    check(not left, "down -v: no container left")
    vols = run(["docker", "volume", "ls", "-q", "--filter", "label=com.docker.compose.project=" + PROJECT]).stdout
    check(not vols.split(), "down -v: no volume left")
    nets = run(["docker", "network", "ls", "-q", "--filter", "label=com.docker.compose.project=" + PROJECT]).stdout
    check(not nets.split(), "down -v: no network left")


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        check(False, str(e))
    sys.exit(fleet_checks.finish("compose"))
