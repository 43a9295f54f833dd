#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Validates docker-compose.yml.

1. A compose parser: Debian's docker-compose (v1.29, package
   docker-compose) runs `config -q`, with and without the monitoring
   profile: YAML, interpolation, merge keys and the Compose Specification
   schema it ships (compose/config/compose_spec.json). When the Compose v2
   plugin is installed (`docker compose`), it is run as well. Neither needs
   a Docker engine.
2. Structure that a schema cannot see: the services docs/deployment.md promises,
   Kafka in KRaft mode on the official image with its data on a volume,
   health-based depends_on whose targets really have health checks, the
   replica counts, the monitoring profile (Prometheus and Grafana; the
   dashboard's provisioning is check_dashboard.py's), the runfleet image built once
   (by migrate) and shared by the other services.
Cross-file agreement (ports, topic, partitions) is check_invariants.py's.
"""
import base64
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as dl  # noqa: E402

c = dl.Checks("compose")
compose_file = dl.path("docker-compose.yml")

# ------------------------------------------------------------ 1. parsers
dc = shutil.which("docker-compose")
if not dc:
    dl.missing("docker-compose not found (Debian package docker-compose)")
env = {k: v for k, v in os.environ.items()
       if not k.startswith(("POSTGRES_", "RUNFLEET_", "COMPOSE_", "DOCKER_"))}
parsers = [("docker-compose", [dc])]
try:
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        parsers.append(("docker compose", ["docker", "compose"]))
except (OSError, subprocess.TimeoutExpired):
    pass
for label, cmd in parsers:
    for profile in ([], ["--profile", "monitoring"]):
        r = subprocess.run(cmd + ["-f", compose_file, "--project-directory", dl.ROOT] + profile + ["config", "-q"],
                           capture_output=True, text=True, env=env, timeout=120)
        c.check(r.returncode == 0, "%s %s config: %s" % (label, " ".join(profile),
                                                         (r.stderr or r.stdout).strip()))
print("parsed by: " + ", ".join(p[0] for p in parsers))

# ------------------------------------------------------------ 2. structure
doc = dl.load_yaml(compose_file)
services = doc.get("services") or {}
want = {"kafka", "postgres", "migrate", "fake-scraper", "evaluator", "worker", "reaper", "prometheus", "grafana"}
monitoring = {"prometheus", "grafana"}
c.check(want <= set(services), "services missing: %s" % sorted(want - set(services)))
if not c.failed:
    kafka, pg = services["kafka"], services["postgres"]
    kenv = dl.compose_env(kafka)

    # Kafka: official image, KRaft, single node
    c.check(str(kafka.get("image", "")).startswith("apache/kafka:"), "kafka: image is not apache/kafka")
    roles = set(kenv.get("KAFKA_PROCESS_ROLES", "").split(","))
    c.check({"broker", "controller"} <= roles, "kafka: KAFKA_PROCESS_ROLES must be broker,controller (KRaft)")
    ctl = kenv.get("KAFKA_CONTROLLER_LISTENER_NAMES", "")
    c.check(ctl and ctl + "://" in kenv.get("KAFKA_LISTENERS", ""),
            "kafka: the controller listener %r is not in KAFKA_LISTENERS" % ctl)
    voters = kenv.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "")
    c.check(voters.split("@")[0] == kenv.get("KAFKA_NODE_ID"),
            "kafka: KAFKA_CONTROLLER_QUORUM_VOTERS %r does not name KAFKA_NODE_ID" % voters)
    try:
        cid = base64.urlsafe_b64decode(kenv.get("CLUSTER_ID", "") + "==")
    except ValueError:
        cid = b""
    c.check(len(cid) == 16, "kafka: CLUSTER_ID must be a base64 UUID (16 bytes)")
    for var in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"):
        c.equal(kenv.get(var), "1", "kafka: %s on a single node" % var)

    # data on named volumes
    declared = set((doc.get("volumes") or {}).keys())

    def volume_at(svc, target):
        for v in services[svc].get("volumes") or []:
            src, _, rest = (v if isinstance(v, str) else "%s:%s" % (v.get("source"), v.get("target"))).partition(":")
            if rest.split(":")[0] == target:
                return src
        return None

    kdir = kenv.get("KAFKA_LOG_DIRS", "")
    c.check(volume_at("kafka", kdir) in declared, "kafka: KAFKA_LOG_DIRS %r is not on a declared volume" % kdir)
    c.check(volume_at("postgres", "/var/lib/postgresql/data") in declared,
            "postgres: /var/lib/postgresql/data is not on a declared volume")
    c.check(str(pg.get("image", "")).startswith("postgres:15"), "postgres: image is not postgres:15")

    # health-based start order
    def healthcheck_on(name):
        hc = services[name].get("healthcheck") or {}
        return bool(hc.get("test")) and not hc.get("disable")

    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            c.check(False, "%s: depends_on is a list: give each a condition" % name)
            continue
        for dep, spec in deps.items():
            cond = (spec or {}).get("condition")
            if cond == "service_healthy":
                c.check(healthcheck_on(dep), "%s waits for %s to be healthy, but %s has no health check"
                        % (name, dep, dep))
    for name in ("evaluator", "worker", "reaper"):
        cond = ((services[name].get("depends_on") or {}).get("migrate") or {}).get("condition")
        c.equal(cond, "service_completed_successfully", "%s: depends_on migrate" % name)
    for dep in ("kafka", "postgres"):
        cond = ((services["migrate"].get("depends_on") or {}).get(dep) or {}).get("condition")
        c.equal(cond, "service_healthy", "migrate: depends_on %s" % dep)
    c.equal(services["migrate"].get("command"), ["runfleet-producer", "migrate"], "migrate: command")
    c.check(str(services["migrate"].get("restart", "no")) == "no", "migrate: a one-shot must not restart")
    for name in ("kafka", "postgres", "fake-scraper", "evaluator", "worker", "reaper"):
        c.check(healthcheck_on(name), "%s: no health check" % name)

    # one image, built once: only migrate has build:, the other runfleet
    # services run its image (compose neither builds nor pulls it again)
    builders = sorted(n for n, svc in services.items() if svc.get("build"))
    c.equal(builders, ["migrate"], "services with build: (the runfleet image is built once, by migrate)")
    image = services["migrate"].get("image")
    c.check(bool(image), "migrate: builds an image without naming it (image:), so the others cannot share it")
    for name in ("fake-scraper", "evaluator", "worker", "reaper"):
        c.equal(services[name].get("image"), image, "%s: image (the one migrate builds)" % name)

    # replicas, evaluator, profile
    c.equal(((services["worker"].get("deploy") or {}).get("replicas")), 3, "worker: deploy.replicas")
    c.equal(((services["reaper"].get("deploy") or {}).get("replicas")), 2, "reaper: deploy.replicas")
    for name in ("worker", "reaper"):
        svc = services[name]
        c.check("container_name" not in svc, "%s: container_name prevents replicas" % name)
        c.check(not svc.get("ports"), "%s: a published port prevents replicas" % name)
    ev = services["evaluator"].get("command") or []
    c.check(ev[:2] == ["runfleet-producer", "evaluate"] and "--every" in ev,
            "evaluator: command must be runfleet-producer evaluate --every ...")
    for name in sorted(monitoring):
        c.equal(services[name].get("profiles"), ["monitoring"], "%s: profiles" % name)
    for name, svc in services.items():
        if name not in monitoring:
            c.check(not svc.get("profiles"), "%s: in a profile, so `docker compose up` would not start it" % name)

c.finish()
