#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Validates deploy/k8s.

1. kubernetes-validate (PyPI, pinned in tests/deploy/requirements.txt; it
   bundles the Kubernetes JSON schemas, so this runs offline) in strict
   mode (unknown fields are errors) against the oldest and the newest
   Kubernetes version we claim: every manifest, the Secret example and
   optional/hpa.yaml. Only the KEDA kinds and the Kustomization may lack a
   schema.
2. The kustomization: every resource it lists exists, every manifest in
   deploy/k8s is listed (except the Secret example, which must not be),
   the ConfigMap generator's files exist. When kubectl is installed,
   `kubectl kustomize` renders it and the output is validated too.
3. KEDA's ScaledObject and TriggerAuthentication, which no bundled schema
   covers: a JSON schema written from KEDA's CRDs (the fields we use and
   their types; unknown fields are errors) and the Kafka scaler's
   metadata keys.
"""
import glob
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as dl  # noqa: E402

K8S_VERSIONS = ["1.27.0", "1.37.0"]   # oldest supported (PDB policy/v1, HPA v2, CronJob v1) and newest bundled
NO_SCHEMA_OK = {"ScaledObject", "TriggerAuthentication", "Kustomization"}

c = dl.Checks("k8s")
jsonschema = dl.need_module("jsonschema", "tests/deploy/setup-venv installs it")
kv = dl.venv_bin("kubernetes-validate")
if not kv:
    dl.missing("kubernetes-validate not found (tests/deploy/setup-venv)")

k8s = dl.path("deploy", "k8s")
manifests = sorted(glob.glob(os.path.join(k8s, "*.yaml")) + glob.glob(os.path.join(k8s, "optional", "*.yaml")))


def validate(files, label):
    for ver in K8S_VERSIONS:
        r = subprocess.run([kv, "--strict", "--quiet", "-k", ver] + files, capture_output=True, text=True,
                           timeout=300)
        out = (r.stdout + r.stderr).strip()
        c.check(r.returncode == 0, "kubernetes-validate %s (%s):\n%s" % (ver, label, out))
        for line in out.splitlines():
            if "Couldn't find schema for kind" in line:
                kind = line.split("for kind ")[1].split()[0]
                c.check(kind in NO_SCHEMA_OK, "no schema for kind %s: %s" % (kind, line))


# ------------------------------------------------------------ 1. schemas
validate(manifests, "deploy/k8s")

# ------------------------------------------------------------ 2. kustomization
kust = dl.load_yaml(os.path.join(k8s, "kustomization.yaml"))
resources = kust.get("resources") or []
for res in resources:
    c.check(os.path.isfile(os.path.join(k8s, res)), "kustomization: resource %s does not exist" % res)
top = {os.path.basename(p) for p in glob.glob(os.path.join(k8s, "*.yaml"))} - {"kustomization.yaml"}
c.check("secret.example.yaml" not in resources,
        "kustomization: the Secret example must not be applied (it would overwrite the real Secret)")
unlisted = top - set(resources) - {"secret.example.yaml"}
c.check(not unlisted, "kustomization: manifests not listed in resources: %s" % sorted(unlisted))
for gen in kust.get("configMapGenerator") or []:
    for f in gen.get("files") or []:
        src = f.split("=", 1)[-1]
        c.check(os.path.isfile(os.path.join(k8s, src)), "configMapGenerator %s: no file %s" % (gen.get("name"), src))

kubectl = shutil.which("kubectl")
if kubectl:
    r = subprocess.run([kubectl, "kustomize", k8s], capture_output=True, text=True, timeout=120)
    if c.check(r.returncode == 0, "kubectl kustomize: %s" % r.stderr.strip()):
        tmp = dl.tempdir()
        rendered = os.path.join(tmp, "rendered.yaml")
        with open(rendered, "w") as f:
            f.write(r.stdout)
        validate([rendered], "kubectl kustomize output")
        docs = dl.load_yaml_docs(rendered)
        cms = {d["metadata"]["name"] for d in docs if d.get("kind") == "ConfigMap"}
        for d in docs:
            spec = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
            for v in spec.get("volumes") or []:
                for s in (v.get("projected") or {}).get("sources") or []:
                    if "configMap" in s:
                        c.check(s["configMap"]["name"] in cms, "%s: rendered ConfigMap reference %s does not exist"
                                % (d["metadata"]["name"], s["configMap"]["name"]))
        shutil.rmtree(tmp, ignore_errors=True)
else:
    print("note: kubectl not installed; the kustomization was checked without rendering it")

# ------------------------------------------------------------ 3. KEDA
STR = {"type": "string", "minLength": 1}
INT = {"type": "integer"}
META = {"type": "object", "required": ["name"],
        "properties": {"name": STR, "namespace": STR, "labels": {"type": "object"},
                       "annotations": {"type": "object"}}, "additionalProperties": False}
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"}, "kind": {"const": "ScaledObject"}, "metadata": META,
        "spec": {
            "type": "object", "required": ["scaleTargetRef", "triggers"], "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {"type": "object", "required": ["name"], "additionalProperties": False,
                                   "properties": {"apiVersion": STR, "kind": STR, "name": STR,
                                                  "envSourceContainerName": STR}},
                "pollingInterval": INT, "cooldownPeriod": INT, "initialCooldownPeriod": INT,
                "idleReplicaCount": INT, "minReplicaCount": INT, "maxReplicaCount": INT,
                "fallback": {"type": "object", "required": ["failureThreshold", "replicas"]},
                "advanced": {"type": "object", "additionalProperties": False, "properties": {
                    "restoreToOriginalReplicaCount": {"type": "boolean"},
                    "scalingModifiers": {"type": "object"},
                    "horizontalPodAutoscalerConfig": {"type": "object", "additionalProperties": False,
                                                      "properties": {"name": STR, "behavior": {"type": "object"}}}}},
                "triggers": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["type", "metadata"], "additionalProperties": False,
                    "properties": {
                        "type": STR, "name": STR, "useCachedMetrics": {"type": "boolean"},
                        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                        # KEDA's CRD: metadata values are strings ("50", not 50)
                        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        "authenticationRef": {"type": "object", "required": ["name"], "additionalProperties": False,
                                              "properties": {"name": STR,
                                                             "kind": {"enum": ["TriggerAuthentication",
                                                                               "ClusterTriggerAuthentication"]}}}}}},
            }},
    },
}
TRIGGER_AUTH = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"}, "kind": {"const": "TriggerAuthentication"}, "metadata": META,
        "spec": {"type": "object", "additionalProperties": False, "properties": {
            "secretTargetRef": {"type": "array", "items": {
                "type": "object", "required": ["key", "name", "parameter"], "additionalProperties": False,
                "properties": {"key": STR, "name": STR, "parameter": STR}}},
            "env": {"type": "array"}, "podIdentity": {"type": "object"}}}},
}
# pkg/scalers/kafka_scaler.go: trigger metadata (and auth params) it reads
KAFKA_METADATA = {"bootstrapServers", "consumerGroup", "topic", "partitionLimitation", "lagThreshold",
                  "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers", "excludePersistentLag",
                  "scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag", "ensureEvenDistributionOfPartitions",
                  "version", "tls", "unsafeSsl", "sasl", "saslTokenProvider", "awsRegion"}
KAFKA_AUTH = {"sasl", "username", "password", "tls", "ca", "cert", "key", "keyPassword", "oauthTokenEndpointUri",
              "scopes", "oauthExtensions", "keytab", "realm", "kerberosConfig", "kerberosServiceName"}

keda = [(p, d) for p in manifests for d in dl.load_yaml_docs(p) if str(d.get("apiVersion", "")).startswith("keda.sh/")]
auth_names = {d["metadata"]["name"] for _, d in keda if d.get("kind") == "TriggerAuthentication"}
c.check(any(d.get("kind") == "ScaledObject" for _, d in keda), "no KEDA ScaledObject in deploy/k8s")
for p, d in keda:
    name = "%s %s" % (d.get("kind"), (d.get("metadata") or {}).get("name"))
    schema = {"ScaledObject": SCALED_OBJECT, "TriggerAuthentication": TRIGGER_AUTH}.get(d.get("kind"))
    if not c.check(schema is not None, "%s: unexpected KEDA kind" % name):
        continue
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(d), key=lambda e: list(e.path))
    for e in errors:
        c.check(False, "%s (%s): %s at %s" % (name, os.path.basename(p), e.message, "/".join(map(str, e.path))))
    if d.get("kind") == "ScaledObject" and not errors:
        spec = d["spec"]
        c.check(spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100),
                "%s: minReplicaCount > maxReplicaCount" % name)
        for t in spec["triggers"]:
            if t["type"] != "kafka":
                continue
            md = t["metadata"]
            unknown = set(md) - KAFKA_METADATA
            c.check(not unknown, "%s: unknown kafka trigger metadata %s" % (name, sorted(unknown)))
            for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
                c.check(key in md, "%s: kafka trigger without %s" % (name, key))
            c.check(md.get("lagThreshold", "").isdigit() and int(md["lagThreshold"]) > 0,
                    "%s: lagThreshold must be a positive integer string" % name)
            c.check(md.get("offsetResetPolicy", "latest") in ("latest", "earliest"), "%s: offsetResetPolicy" % name)
            ref = (t.get("authenticationRef") or {}).get("name")
            c.check(ref is None or ref in auth_names, "%s: authenticationRef %s is not in deploy/k8s" % (name, ref))
    if d.get("kind") == "TriggerAuthentication" and not errors:
        for ref in d["spec"].get("secretTargetRef") or []:
            c.check(ref["parameter"] in KAFKA_AUTH, "%s: unknown parameter %s" % (name, ref["parameter"]))

c.finish()
