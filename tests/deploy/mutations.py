#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tests the deploy checks themselves: each check must pass on a copy of
the deployment files and fail (exit 1) on a copy with one thing broken.
A check that cannot see the breakage it exists for is a test that passes
for nothing; this makes that a failure.

Each mutation replaces the first occurrence of a string in one file; a
string that is no longer there fails the test too, so the list follows
the files.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as dl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
COPIED = ["Dockerfile", ".dockerignore", "docker-compose.yml", "deploy", "config/runfleet.example.cfg",
          "tests/deploy/alerts_test.yml", "README.md", "docs", "LICENSE", "meson.build"]

# the figure of (a) in docs/benchmarks.md's bench/run block, which no other document may copy
with open(os.path.join(dl.ROOT, "docs", "benchmarks.md")) as f:
    BENCH_RATE = dl.bench_rate(dl.bench_block(f.read()) or "") or "no (a) figure in docs/benchmarks.md"

# (check script, file, old, new, what breaks)
MUTATIONS = [
    ("check_compose", "docker-compose.yml", "condition: service_completed_successfully",
     "condition: service_finished", "unknown depends_on condition (compose parser)"),
    ("check_compose", "docker-compose.yml", 'test: ["CMD", "pg_isready"', 'disable: true\n      x-test: ["CMD", "pg_isready"',
     "postgres without a health check while migrate waits for it to be healthy"),
    ("check_compose", "docker-compose.yml", "replicas: 3", "replicas: 1", "3 workers"),
    ("check_compose", "docker-compose.yml", 'KAFKA_PROCESS_ROLES: "broker,controller"', 'KAFKA_PROCESS_ROLES: "broker"',
     "Kafka not in KRaft combined mode"),
    ("check_invariants", "docker-compose.yml", 'RUNFLEET_KAFKA_PARTITIONS: "12"', 'RUNFLEET_KAFKA_PARTITIONS: "24"',
     "compose partitions differ from the config and the broker"),
    ("check_invariants", "docker-compose.yml", "stop_grace_period: 30s", "stop_grace_period: 5s",
     "compose stop grace period below the drain timeout"),
    ("check_invariants", "deploy/compose/runfleet.cfg", 'brokers = "kafka:9092"', 'brokers = "kafka:29092"',
     "compose brokers on a port Kafka does not advertise"),
    ("check_invariants", "deploy/compose/runfleet.cfg", "postgresql://runfleet@postgres:5432/runfleet",
     "postgresql://runfleet:hunter2@postgres:5432/runfleet", "a password in the compose config file"),
    ("check_invariants", "deploy/compose/runfleet.cfg", 'topic = "runfleet.decisions";', 'topic = "decisions";',
     "compose topic differs"),
    ("check_invariants", "deploy/prometheus/prometheus.yml", "port: 9400", "port: 9464",
     "Prometheus scrapes another port than the processes serve"),
    ("check_invariants", "deploy/k8s/worker.yaml", "terminationGracePeriodSeconds: 45",
     "terminationGracePeriodSeconds: 15", "grace period below the worker's drain timeout"),
    ("check_invariants", "deploy/k8s/worker.yaml", "path: /readyz", "path: /healthz", "readiness probe on /healthz"),
    ("check_invariants", "deploy/k8s/worker.yaml", "containerPort: 9400", "containerPort: 9401",
     "containerPort is not http.port"),
    ("check_invariants", "deploy/k8s/worker-keda.yaml", "maxReplicaCount: 12", "maxReplicaCount: 20",
     "KEDA scales past the partition count"),
    ("check_invariants", "deploy/k8s/worker-keda.yaml", "consumerGroup: runfleet-workers", "consumerGroup: workers",
     "KEDA watches another consumer group"),
    ("check_invariants", "deploy/k8s/runfleet.cfg", "drain_timeout_ms = 20000;", "drain_timeout_ms = 60000;",
     "drain timeout above the termination grace period"),
    ("check_invariants", "deploy/k8s/runfleet.cfg", "partitions = 12;", "partitions = 6;",
     "k8s partitions differ from the example config and KEDA"),
    ("check_invariants", "deploy/k8s/runfleet.cfg", "# database.url: RUNFLEET_DATABASE_URL, from the Secret.",
     'database = { url = "postgresql://runfleet:hunter2@db/runfleet"; };', "a password in the ConfigMap"),
    ("check_invariants", "deploy/k8s/optional/hpa.yaml", "maxReplicas: 12", "maxReplicas: 30",
     "the HPA alternative scales past the partition count"),
    ("check_invariants", "deploy/k8s/secret.example.yaml", "kafka-sasl-password:", "kafka-sasl-pass:",
     "TriggerAuthentication names a key the Secret lacks"),
    ("check_invariants", "Dockerfile", "RUNFLEET_HTTP_PORT=9400", "RUNFLEET_HTTP_PORT=9500",
     "the image's port overrides the config's, probes point elsewhere"),
    ("check_k8s", "deploy/k8s/worker.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true",
     "misspelt field (strict schema)"),
    ("check_k8s", "deploy/k8s/worker-pdb.yaml", "maxUnavailable: 1", "maxUnavailable: [1]",
     "wrong type (schema)"),
    ("check_k8s", "deploy/k8s/worker-keda.yaml", 'lagThreshold: "50"', "lagThreshold: 50",
     "KEDA metadata value not a string"),
    ("check_k8s", "deploy/k8s/worker-keda.yaml", "offsetResetPolicy: earliest", "offsetResetPolicy: oldest",
     "invalid KEDA kafka setting"),
    ("check_k8s", "deploy/k8s/kustomization.yaml", "  - reaper.yaml\n", "", "a manifest left out of the kustomization"),
    ("check_rules", "deploy/prometheus/alerts.yml", "runfleet_reaper_decisions_dead_total",
     "runfleet_reaper_dead_total", "an alert on a metric no program exports"),
    ("check_rules", "deploy/prometheus/alerts.yml", "increase(runfleet_reaper_orphans_found_total[10m])) > 0",
     "increase(runfleet_reaper_orphans_found_total[10m]) > 0", "PromQL syntax error"),
    ("check_rules", "deploy/prometheus/alerts.yml", "for: 15m # tune: N minutes", "for: 0m",
     "orphan alert firing at once (unit test)"),
    ("check_rules", "deploy/prometheus/alerts.yml", "unless on (job, instance, scraper)", "or on (job, instance, scraper)",
     "breaker alert firing for a breaker that closes again (unit test)"),
    ("check_rules", "deploy/prometheus/alerts.yml", "unless on (workflow)", "and on (workflow)",
     "workflow alert firing while the workflow succeeds (unit test)"),
    ("check_rules", "deploy/prometheus/prometheus.yml", "  - alerts.yml", "  - alert-rules.yml",
     "Prometheus config loads a missing rule file"),
    ("check_dashboard", "deploy/grafana/runfleet.json", "runfleet_reaper_decisions_dead_total{",
     "runfleet_reaper_dead_total{", "a dashboard panel on a metric no program exports"),
    ("check_dashboard", "deploy/grafana/runfleet.json", '"expr": "sum by (action) (rate(',
     '"expr": "sum by (action) rate(', "a dashboard expression promtool cannot parse"),
    ("check_dashboard", "deploy/grafana/runfleet.json", '"legendFormat":', '"legendformat":',
     "a misspelt dashboard field (schema)"),
    ("check_dashboard", "deploy/grafana/runfleet.json", '"x": 4,', '"x": 2,', "overlapping dashboard panels"),
    ("check_dashboard", "deploy/grafana/runfleet.json", 'instance=~\\"$instance\\"', 'instance=~\\"$instanc\\"',
     "a dashboard variable used but not defined"),
    ("check_dashboard", "docker-compose.yml", "./deploy/grafana/provisioning/dashboards:",
     "./deploy/grafana/provisioning/dashboard:", "Grafana mounts a provisioning directory that does not exist"),
    ("check_dashboard", "deploy/grafana/provisioning/dashboards/runfleet.yml",
     "path: /var/lib/grafana/dashboards/runfleet", "path: /var/lib/grafana/dashboards",
     "the dashboard provider reads another directory than the one runfleet.json is mounted in"),
    ("check_dashboard", "deploy/grafana/provisioning/datasources/prometheus.yml", "uid: prometheus", "uid: prom",
     "the provisioned datasource is not the one the dashboard selects"),
    ("check_compose", "docker-compose.yml", "  environment: *runfleet-env\n",
     "  build:\n    context: .\n  environment: *runfleet-env\n", "every runfleet service builds the image again"),
    ("check_dockerfile", "Dockerfile", "libpq5 ", "", "runtime image without a linked library"),
    ("check_dockerfile", "Dockerfile", "libjansson4 ", "libjansson ", "a runtime package that does not exist"),
    ("check_dockerfile", "Dockerfile", "libcurl4-openssl-dev ", "", "build stage without a -dev package"),
    ("check_dockerfile", "Dockerfile", "RUN scripts/build-librdkafka", "RUN true",
     "the build stage links Debian 12's old librdkafka"),
    ("check_dockerfile", "Dockerfile", " && cp -L /usr/local/lib/librdkafka.so.1 /out/lib/", "",
     "the runtime stage lacks the built librdkafka"),
    ("check_dockerfile", "Dockerfile", "libzstd1 ", "", "the runtime stage lacks a library librdkafka links"),
    ("check_dockerfile", "Dockerfile", "USER 10001:10001", "USER root", "running as root"),
    ("check_dockerfile", "Dockerfile", "EXPOSE 9400", "EXPOSE 8080", "EXPOSE is not the HTTP port"),
    ("check_dockerfile", ".dockerignore", ".runfleet\n", "tests\n", "context leaves out tests/ (meson.build) "
                                                                    "and takes in .runfleet"),
    ("check_docs", "docs/configuration.md", "| `worker.lease_ms` | int | 30000 |", "| `worker.lease_ms` | int | 3000 |",
     "a settings table edited by hand (not generated from the programs)"),
    ("check_docs", "docs/configuration.md", "| `log.level` |", "| `log.verbosity` |",
     "a setting documented under a name the programs do not know"),
    ("check_docs", "README.md", "(docs/operating.md)", "(docs/operations.md)", "a link to a missing file"),
    ("check_docs", "docs/deployment.md", "(design.md#how-a-decision-flows)", "(design.md#how-decisions-flow)",
     "a link to a missing heading"),
    ("check_docs", "LICENSE", "Version 2.0, January 2004", "Version 1.1", "LICENSE not what meson.build declares"),
    ("check_docs", "docs/design.md", "## Code layout", "## Code layout\n\n(a) runs at %s decisions/s." % BENCH_RATE,
     "a benchmark figure copied out of docs/benchmarks.md"),
]


def copy_tree(dst):
    for rel in COPIED:
        src = os.path.join(dl.ROOT, rel)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(dst, rel))
        elif os.path.exists(src):
            os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dst, rel))


def run(script, root):
    env = dict(os.environ, RUNFLEET_DEPLOY_ROOT=root, RUNFLEET_SOURCE_ROOT=dl.SRC, RUNFLEET_BUILD_ROOT=dl.BUILD)
    r = subprocess.run([sys.executable, os.path.join(HERE, script + ".py")], env=env, capture_output=True,
                       text=True, timeout=300)
    return r.returncode, (r.stdout + r.stderr).strip()


c = dl.Checks("deploy_mutations")
scripts = sorted({m[0] for m in MUTATIONS})
base = tempfile.mkdtemp(prefix="runfleet-mutations-")
try:
    pristine = os.path.join(base, "pristine")
    copy_tree(pristine)
    for s in scripts:
        rc, out = run(s, pristine)
        if rc == 77:
            dl.missing("%s skips here:\n%s" % (s, out))
        c.check(rc == 0, "%s fails on the unmodified files (exit %d):\n%s" % (s, rc, out))
    if c.failed:
        c.finish()
    for i, (script, rel, old, new, what) in enumerate(MUTATIONS):
        root = os.path.join(base, "m%02d" % i)
        copy_tree(root)
        p = os.path.join(root, rel)
        text = open(p).read()
        if not c.check(old in text, "mutation %d: %r not found in %s (update the list)" % (i, old, rel)):
            continue
        with open(p, "w") as f:
            f.write(text.replace(old, new, 1))
        rc, out = run(script, root)
        ok = c.check(rc == 1, "%s passes (exit %d) with %s broken: %s" % (script, rc, rel, what))
        reason = next((ln for ln in out.splitlines() if ln.startswith("FAIL")), out.splitlines()[-1] if out else "")
        print("%s %-16s %-36s %s\n     -> %s" % ("ok  " if ok else "MISS", script, rel, what, reason[:200]))
        shutil.rmtree(root, ignore_errors=True)
finally:
    shutil.rmtree(base, ignore_errors=True)
c.finish()
