#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Cross-file invariants of the deployment files.

The configuration each container would see is computed by the real
program: for every runfleet service of docker-compose.yml and every
workload of deploy/k8s, the file it mounts at RUNFLEET_CONFIG (with the
Secret example's files beside it, for @include) and exactly its
environment (the image's ENV, then the service's or container's, Secret
references resolved from secret.example.yaml) go through
`runfleet-worker -c FILE --print-config`. Then:

- topic, DLQ topic, consumer group and partition count agree across
  docker-compose.yml, deploy/compose/runfleet.cfg, deploy/k8s and
  config/runfleet.example.cfg; the broker's own partition default agrees;
- compose: brokers, database and scraper URLs name compose services on the
  ports those services listen on; worker replicas <= partitions; the worker's
  stop_grace_period exceeds worker.drain_timeout_ms; health checks and
  Prometheus scrape the port the config serves, on the service names;
- k8s: probes (/readyz, /healthz), containerPort and prometheus.io/port are
  the port the config serves on a non-loopback address;
  terminationGracePeriodSeconds > drain_timeout_ms / 1000; KEDA's
  maxReplicaCount == partitions and its topic, group and brokers are the
  config's; the HPA alternative likewise; selectors match their pods;
  referenced ConfigMap, Secret and keys exist; --every == producer.every_ms;
- no secret in a ConfigMap or compose config file;
- the image's RUNFLEET_CONFIG is where compose and k8s mount the file.
"""
import os
import re
import shutil
import sys
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as dl  # noqa: E402

c = dl.Checks("cross_file")
dl.need_module("yaml")
dl.worker_exe()

image_env = dl.dockerfile_runtime_env()
cfg_path_in_image = image_env.get("RUNFLEET_CONFIG", "")
c.check(cfg_path_in_image, "Dockerfile sets no RUNFLEET_CONFIG")
tmp = dl.tempdir()
SHARED = ("topic", "dlq_topic", "group", "partitions")


def duration_ms(s):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", str(s))
    if not m:
        return None
    return int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, None: 1000}[m.group(2)]


def port_of(url):
    u = urlsplit(url)
    return u.hostname, u.port or {"http": 80, "https": 443, "postgresql": 5432, "postgres": 5432}.get(u.scheme)


def secret_like(cfg_text):
    """Secrets a config file must not hold: a password in a URL or a password property."""
    found = []
    if re.search(r"\w+://[^/\s\"@:]+:[^@\s\"]+@", cfg_text):
        found.append("a URL with a password")
    for m in re.finditer(r'\(\s*"([^"]*(?:password|secret)[^"]*)"', cfg_text, re.I):
        found.append("property %s" % m.group(1))
    return found


def strip_comments(text):
    return "\n".join(re.sub(r"(^|\s)#.*$", "", ln) for ln in text.splitlines())


reference = {}
# ------------------------------------------------------------ example config
example, err = dl.effective_config(dl.path("config", "runfleet.example.cfg"),
                                   {"RUNFLEET_DATABASE_URL": "postgresql://u@h/db"})
if c.check(example, "config/runfleet.example.cfg does not load: %s" % err):
    reference = {k: example["kafka"][k] for k in SHARED}
    print("reference (config/runfleet.example.cfg): %s" % reference)


def agree(cfg, where):
    for k in SHARED:
        c.equal(cfg["kafka"][k], reference.get(k), "%s: kafka.%s (config/runfleet.example.cfg has it)" % (where, k))


# ------------------------------------------------------------ docker-compose
compose = dl.load_yaml(dl.path("docker-compose.yml"))
services = compose.get("services") or {}
compose_cfg_file = None
listen_ports = {}       # service -> ports its process listens on
kenv = dl.compose_env(services.get("kafka") or {})
for l in kenv.get("KAFKA_ADVERTISED_LISTENERS", "").split(","):
    h, p = port_of("x://" + l.split("//", 1)[1]) if "//" in l else (None, None)
    if h:
        listen_ports.setdefault(h, set()).add(p)
listen_ports.setdefault("postgres", set()).add(5432)
fs_cmd = (services.get("fake-scraper") or {}).get("command") or []
if "--port" in fs_cmd:
    listen_ports.setdefault("fake-scraper", set()).add(int(fs_cmd[fs_cmd.index("--port") + 1]))
c.equal(fs_cmd[fs_cmd.index("--listen") + 1] if "--listen" in fs_cmd else None, "0.0.0.0",
        "compose fake-scraper: --listen")

compose_effective = {}
for name, svc in services.items():
    cmd = svc.get("command") or []
    if not cmd or not str(cmd[0]).startswith("runfleet-") or cmd[0] == "runfleet-fake-scraper":
        continue
    env = dict(image_env)
    env.update(dl.compose_env(svc))
    mounted = None
    for v in svc.get("volumes") or []:
        parts = v.split(":")
        if len(parts) >= 2 and parts[1] == env.get("RUNFLEET_CONFIG"):
            mounted = os.path.normpath(os.path.join(dl.ROOT, parts[0]))
    if not c.check(mounted and os.path.isfile(mounted), "compose %s: nothing mounted at RUNFLEET_CONFIG %s"
                   % (name, env.get("RUNFLEET_CONFIG"))):
        continue
    compose_cfg_file = mounted
    cfg, err = dl.effective_config(mounted, env)
    if not c.check(cfg, "compose %s: configuration does not load: %s" % (name, err)):
        continue
    compose_effective[name] = cfg
    agree(cfg, "compose " + name)
    for b in cfg["kafka"]["brokers"].split(","):
        h, _, p = b.strip().rpartition(":")
        c.check(int(p) in listen_ports.get(h, set()), "compose %s: broker %s is not an advertised Kafka listener %s"
                % (name, b, sorted(listen_ports.get("kafka", []))))
    h, p = port_of(cfg["database"]["url"].replace("****", "x"))
    c.check(h in services and p in listen_ports.get(h, set()), "compose %s: database %s:%s is not the postgres service"
            % (name, h, p))
    for s in cfg.get("scrapers") or []:
        h, p = port_of(s["url"])
        c.check(h in services and p in listen_ports.get(h, set()),
                "compose %s: scraper %s at %s:%s is not a compose service's port" % (name, s["name"], h, p))
    if cmd[0] == "runfleet-producer" and "--every" in cmd:
        c.equal(duration_ms(cmd[cmd.index("--every") + 1]), cfg["producer"]["every_ms"],
                "compose %s: --every vs producer.every_ms" % name)
    if cmd[0] in ("runfleet-worker", "runfleet-reaper") or "--every" in cmd:
        port = cfg["http"]["port"]
        c.check(port > 0 and cfg["http"]["listen"] not in ("127.0.0.1", "::1", "localhost"),
                "compose %s: serves no /healthz reachable from outside (%s:%s)" % (name, cfg["http"]["listen"], port))
        test = " ".join((svc.get("healthcheck") or {}).get("test") or [])
        c.check(re.search(r":%d/healthz\b" % port, test), "compose %s: health check %r is not /healthz on port %d"
                % (name, test, port))
        listen_ports.setdefault(name, set()).add(port)

mig = compose_effective.get("migrate")
if c.check(mig, "compose: no effective configuration for migrate"):
    c.equal(str(mig["kafka"]["partitions"]), kenv.get("KAFKA_NUM_PARTITIONS"),
            "compose kafka KAFKA_NUM_PARTITIONS vs the partitions migrate creates")
    c.equal(kenv.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE"), "false",
            "compose kafka: topics must come from migrate (KAFKA_AUTO_CREATE_TOPICS_ENABLE)")
    file_cfg, _ = dl.effective_config(compose_cfg_file, {"RUNFLEET_DATABASE_URL": "postgresql://u@h/db"})
    if file_cfg:
        c.equal(file_cfg["kafka"]["partitions"], mig["kafka"]["partitions"],
                "deploy/compose/runfleet.cfg kafka.partitions vs the environment's")
    parts = mig["kafka"]["partitions"]
    c.check(int(((services.get("worker") or {}).get("deploy") or {}).get("replicas", 1)) <= parts,
            "compose worker replicas exceed the %d partitions" % parts)
wk = compose_effective.get("worker")
if c.check(wk, "compose: no effective configuration for worker"):
    grace = duration_ms((services["worker"].get("stop_grace_period") or "10s"))
    c.check(grace and grace > wk["worker"]["drain_timeout_ms"], "compose worker: stop_grace_period %s <= drain %d ms"
            % (services["worker"].get("stop_grace_period"), wk["worker"]["drain_timeout_ms"]))
if compose_cfg_file:
    found = secret_like(strip_comments(open(compose_cfg_file).read()))
    c.check(not found, "%s holds secrets: %s" % (os.path.relpath(compose_cfg_file, dl.ROOT), found))
fs_hc = " ".join(((services.get("fake-scraper") or {}).get("healthcheck") or {}).get("test") or [])
c.check(any(re.search(r":%d/" % p, fs_hc) for p in listen_ports.get("fake-scraper", [])),
        "compose fake-scraper: health check %r is not on its --port" % fs_hc)

# Prometheus (monitoring profile) scrapes the services on the port they serve
prom = dl.load_yaml(dl.path("deploy", "prometheus", "prometheus.yml"))
scraped = {}
for job in prom.get("scrape_configs") or []:
    for sd in job.get("dns_sd_configs") or []:
        for n in sd.get("names") or []:
            scraped[n] = sd.get("port")
    for st in job.get("static_configs") or []:
        for t in st.get("targets") or []:
            h, _, p = t.rpartition(":")
            scraped[h] = int(p)
for name in ("worker", "reaper", "evaluator"):
    want = next(iter(listen_ports.get(name, {None})))
    c.equal(scraped.get(name), want, "deploy/prometheus/prometheus.yml: port scraped on compose service %s" % name)
psvc = services.get("prometheus") or {}
mounts = {v.split(":")[1]: os.path.normpath(os.path.join(dl.ROOT, v.split(":")[0])) for v in psvc.get("volumes") or []
          if v.startswith(".")}
conf_in = next((a.split("=", 1)[1] for a in psvc.get("command") or [] if a.startswith("--config.file=")),
               "/etc/prometheus/prometheus.yml")
c.equal(mounts.get(conf_in), dl.path("deploy", "prometheus", "prometheus.yml"), "compose prometheus: config mounted")
for rf in prom.get("rule_files") or []:
    inside = os.path.normpath(os.path.join(os.path.dirname(conf_in), rf))
    c.check(mounts.get(inside) and os.path.isfile(mounts[inside]),
            "compose prometheus: rule file %s is not mounted at %s" % (rf, inside))

# ------------------------------------------------------------ Kubernetes
k8s = dl.path("deploy", "k8s")
kust = dl.load_yaml(os.path.join(k8s, "kustomization.yaml"))
docs = []
for res in kust.get("resources") or []:
    if os.path.isfile(os.path.join(k8s, res)):
        docs += [(res, d) for d in dl.load_yaml_docs(os.path.join(k8s, res))]
by_kind = {}
for res, d in docs:
    by_kind.setdefault(d.get("kind"), []).append(d)
secret = next((d for d in dl.load_yaml_docs(os.path.join(k8s, "secret.example.yaml")) if d.get("kind") == "Secret"), {})
secret_data = dict(secret.get("stringData") or {})
secret_name = (secret.get("metadata") or {}).get("name")
configmaps = {}
for gen in kust.get("configMapGenerator") or []:
    files = {}
    for f in gen.get("files") or []:
        key, _, src = f.rpartition("=")
        files[key or os.path.basename(src)] = os.path.join(k8s, src)
    configmaps[gen["name"]] = files
for d in by_kind.get("ConfigMap", []):
    configmaps[d["metadata"]["name"]] = {k: ("inline", v) for k, v in (d.get("data") or {}).items()}
images = {i["name"] for i in kust.get("images") or []}

# no secrets in ConfigMaps
for name, files in configmaps.items():
    for key, src in files.items():
        text = src[1] if isinstance(src, tuple) else open(src).read()
        found = secret_like(strip_comments(text))
        c.check(not found, "ConfigMap %s/%s holds secrets: %s" % (name, key, found))


def materialize(pod, container, where):
    """The files mounted in @p container, laid out under a temporary
    directory: returns {path in the container: path here}."""
    vols = {v["name"]: v for v in pod.get("volumes") or []}
    out = {}
    for vm in container.get("volumeMounts") or []:
        v = vols.get(vm["name"])
        if not c.check(v, "%s: volumeMount %s names no volume" % (where, vm["name"])):
            continue
        sources = []
        if "configMap" in v:
            sources.append({"configMap": v["configMap"]})
        if "secret" in v:
            sources.append({"secret": dict(v["secret"], name=v["secret"].get("secretName"))})
        sources += (v.get("projected") or {}).get("sources") or []
        d = os.path.join(tmp, where.replace("/", "_"), vm["name"])
        os.makedirs(d, exist_ok=True)
        for s in sources:
            if "configMap" in s:
                cm = configmaps.get(s["configMap"].get("name"))
                if not c.check(cm is not None, "%s: ConfigMap %s is not generated by the kustomization"
                               % (where, s["configMap"].get("name"))):
                    continue
                data = {k: (src[1] if isinstance(src, tuple) else open(src).read()) for k, src in cm.items()}
            elif "secret" in s:
                if not c.check(s["secret"].get("name") == secret_name, "%s: Secret %s is not secret.example.yaml's %s"
                               % (where, s["secret"].get("name"), secret_name)):
                    continue
                data = secret_data
            else:
                continue
            items = s[next(iter(s))].get("items") or [{"key": k, "path": k} for k in data]
            for it in items:
                if c.check(it["key"] in data, "%s: key %s missing from %s" % (where, it["key"], next(iter(s)))):
                    with open(os.path.join(d, it["path"]), "w") as f:
                        f.write(data[it["key"]])
        out[vm["mountPath"].rstrip("/")] = d
    return out


def container_env(container, where):
    env = dict(image_env)
    for e in container.get("env") or []:
        if "value" in e:
            env[e["name"]] = str(e["value"])
        else:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef") or {}
            if c.check(ref.get("name") == secret_name and ref.get("key") in secret_data,
                       "%s: env %s refers to %s/%s, not in secret.example.yaml" % (where, e["name"], ref.get("name"),
                                                                                   ref.get("key"))):
                env[e["name"]] = secret_data[ref["key"]]
    return env


k8s_effective = {}
workloads = by_kind.get("Deployment", []) + by_kind.get("Job", []) + by_kind.get("CronJob", [])
for w in workloads:
    name = w["metadata"]["name"]
    tpl = w["spec"].get("jobTemplate", {}).get("spec", w["spec"])["template"] if w["kind"] == "CronJob" \
        else w["spec"]["template"]
    pod = tpl["spec"]
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    sel = (w["spec"].get("selector") or {}).get("matchLabels") or {}
    c.check(w["kind"] != "Deployment" or (sel and all(labels.get(k) == v for k, v in sel.items())),
            "%s: selector %s does not match the pod labels %s" % (name, sel, labels))
    for term in (((pod.get("affinity") or {}).get("podAntiAffinity") or {})
                 .get("preferredDuringSchedulingIgnoredDuringExecution") or []):
        ml = term["podAffinityTerm"]["labelSelector"].get("matchLabels") or {}
        c.check(all(labels.get(k) == v for k, v in ml.items()), "%s: anti-affinity selector %s is not its pods" % (name, ml))
    for ctr in pod["containers"]:
        where = "%s/%s" % (name, ctr["name"])
        c.check(ctr["image"].split(":")[0] in images, "%s: image %s is not set by the kustomization's images"
                % (where, ctr["image"]))
        env = container_env(ctr, where)
        mounts = materialize(pod, ctr, where)
        cfgp = env.get("RUNFLEET_CONFIG", "")
        c.equal(cfgp, cfg_path_in_image, "%s: RUNFLEET_CONFIG vs the image's" % where)
        local = None
        for mp, d in mounts.items():
            if cfgp.startswith(mp + "/"):
                local = os.path.join(d, cfgp[len(mp) + 1:])
        if not c.check(local and os.path.isfile(local), "%s: no file mounted at RUNFLEET_CONFIG %s" % (where, cfgp)):
            continue
        cfg, err = dl.effective_config(local, env)
        if not c.check(cfg, "%s: configuration does not load: %s" % (where, err)):
            continue
        k8s_effective[name] = cfg
        agree(cfg, where)
        cmd = (ctr.get("command") or []) + (ctr.get("args") or [])
        serves = cmd[:1] in (["runfleet-worker"], ["runfleet-reaper"]) or "--every" in cmd
        port = cfg["http"]["port"]
        ports = {p.get("name"): p["containerPort"] for p in ctr.get("ports") or []}
        if "--every" in cmd:
            c.equal(duration_ms(cmd[cmd.index("--every") + 1]), cfg["producer"]["every_ms"],
                    "%s: --every vs producer.every_ms" % where)
        if serves:
            c.check(port > 0 and cfg["http"]["listen"] not in ("127.0.0.1", "::1", "localhost"),
                    "%s: http must listen on the pod's address (%s:%s)" % (where, cfg["http"]["listen"], port))
            c.check(port in ports.values(), "%s: containerPort %s is not http.port %d" % (where, ports, port))
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                g = (ctr.get(probe) or {}).get("httpGet") or {}
                pp = ports.get(g.get("port"), g.get("port"))
                c.check(g.get("path") == path and pp == port, "%s: %s is %s on port %s, expected %s on %d"
                        % (where, probe, g.get("path"), pp, path, port))
            ann = (tpl.get("metadata") or {}).get("annotations") or {}
            if "prometheus.io/port" in ann:
                c.equal(ann["prometheus.io/port"], str(port), "%s: prometheus.io/port" % where)
            c.check((ctr.get("resources") or {}).get("requests"), "%s: no resource requests" % where)
        if cmd[:1] == ["runfleet-worker"]:
            tgps = pod.get("terminationGracePeriodSeconds", 30)
            c.check(tgps > cfg["worker"]["drain_timeout_ms"] / 1000,
                    "%s: terminationGracePeriodSeconds %s <= worker.drain_timeout_ms %d ms"
                    % (where, tgps, cfg["worker"]["drain_timeout_ms"]))

deps = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
worker = next((n for n, d in deps.items() for ctr in d["spec"]["template"]["spec"]["containers"]
               if ctr.get("command", [None])[0] == "runfleet-worker"), None)
reaper = next((n for n, d in deps.items() for ctr in d["spec"]["template"]["spec"]["containers"]
               if ctr.get("command", [None])[0] == "runfleet-reaper"), None)
evaluator = next((n for n, d in deps.items() for ctr in d["spec"]["template"]["spec"]["containers"]
                  if ctr.get("command", [])[:2] == ["runfleet-producer", "evaluate"]), None)
c.check(worker and reaper and evaluator, "deploy/k8s: worker, reaper and evaluator Deployments expected")
c.check(any(ctr.get("command", [])[:2] == ["runfleet-producer", "migrate"] for j in by_kind.get("Job", [])
            for ctr in j["spec"]["template"]["spec"]["containers"]), "deploy/k8s: no migrate Job")
if reaper:
    c.equal(deps[reaper]["spec"].get("replicas"), 2, "%s: replicas" % reaper)
if evaluator:
    c.equal(deps[evaluator]["spec"].get("replicas", 1), 1, "%s: replicas (one evaluator)" % evaluator)
wcfg = k8s_effective.get(worker)
if c.check(wcfg, "deploy/k8s: no effective configuration for the worker"):
    wlabels = deps[worker]["spec"]["template"]["metadata"]["labels"]
    pdbs = [p for p in by_kind.get("PodDisruptionBudget", [])
            if all(wlabels.get(k) == v for k, v in p["spec"]["selector"].get("matchLabels", {}).items())]
    c.check(pdbs, "deploy/k8s: no PodDisruptionBudget selects the worker pods")
    kafka = wcfg["kafka"]

    def check_scaler(kind, d, maxr, target):
        c.equal(maxr, kafka["partitions"], "%s %s: max replicas vs kafka.partitions" % (kind, d["metadata"]["name"]))
        c.equal(target, worker, "%s %s: scale target" % (kind, d["metadata"]["name"]))

    sos = by_kind.get("ScaledObject", [])
    c.check(sos, "deploy/k8s: no KEDA ScaledObject")
    for so in sos:
        check_scaler("ScaledObject", so, so["spec"].get("maxReplicaCount"), so["spec"]["scaleTargetRef"]["name"])
        for t in so["spec"].get("triggers") or []:
            md = t.get("metadata") or {}
            c.equal(md.get("topic"), kafka["topic"], "ScaledObject: topic")
            c.equal(md.get("consumerGroup"), kafka["group"], "ScaledObject: consumerGroup")
            c.equal(sorted(md.get("bootstrapServers", "").split(",")), sorted(kafka["brokers"].split(",")),
                    "ScaledObject: bootstrapServers vs kafka.brokers")
            props = dict(tuple(p) for p in kafka.get("properties") or [])
            proto = props.get("security.protocol", "PLAINTEXT").upper()
            c.equal(md.get("tls", "disable"), "enable" if proto in ("SSL", "SASL_SSL") else "disable",
                    "ScaledObject: tls vs security.protocol %s" % proto)
            mech = props.get("sasl.mechanisms", props.get("sasl.mechanism", "")).upper()
            mech = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512",
                    "OAUTHBEARER": "oauthbearer", "GSSAPI": "gssapi"}.get(mech, mech)
            c.equal(md.get("sasl", "none"), mech if proto.startswith("SASL") else "none",
                    "ScaledObject: sasl vs sasl.mechanisms")
            ta = next((a for a in by_kind.get("TriggerAuthentication", [])
                       if a["metadata"]["name"] == (t.get("authenticationRef") or {}).get("name")), None)
            if proto.startswith("SASL"):
                c.check(ta, "ScaledObject: SASL without a TriggerAuthentication")
            for ref in (ta or {}).get("spec", {}).get("secretTargetRef") or []:
                c.check(ref["name"] == secret_name and ref["key"] in secret_data,
                        "TriggerAuthentication: %s/%s is not in secret.example.yaml" % (ref["name"], ref["key"]))
    hpa_file = os.path.join(k8s, "optional", "hpa.yaml")
    c.check("optional/hpa.yaml" not in (kust.get("resources") or []), "optional/hpa.yaml must not be in the kustomization")
    for h in (dl.load_yaml_docs(hpa_file) if os.path.isfile(hpa_file) else []):
        if h.get("kind") == "HorizontalPodAutoscaler":
            check_scaler("HPA", h, h["spec"].get("maxReplicas"), h["spec"]["scaleTargetRef"]["name"])
            for m in h["spec"].get("metrics") or []:
                sel = ((m.get("external") or {}).get("metric") or {}).get("selector", {}).get("matchLabels", {})
                c.equal(sel.get("topic"), kafka["topic"], "HPA: metric selector topic")

# ------------------------------------------------------------ image paths
for name, svc in services.items():
    if name in compose_effective:
        c.check(any(v.split(":")[1:2] == [cfg_path_in_image] for v in svc.get("volumes") or []),
                "compose %s: the config is not mounted at the image's RUNFLEET_CONFIG" % name)

shutil.rmtree(tmp, ignore_errors=True)
c.finish()
