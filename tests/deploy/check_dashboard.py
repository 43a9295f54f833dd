#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks the Grafana dashboard (deploy/grafana/runfleet.json) and its
provisioning by docker-compose.yml's `monitoring` profile. Grafana's image
cannot be pulled where the tests run, so this is how they are checked:

(a) the JSON validates against tests/deploy/schemas/grafana-dashboard.schema.json,
    a strict JSON Schema of the dashboard model written for this suite (no
    maintained one is installable from PyPI or npm: see its $comment), plus
    what a schema cannot say: unique panel ids and refIds, panels inside the
    24-column grid and not overlapping, every query on the ${datasource}
    variable, every $variable used defined;
(b) every PromQL expression (panel targets and label_values() of the
    variables) parses: they go, with the dashboard's variables replaced by
    values Prometheus accepts, into a rules file as recording rules, and
    `promtool check rules` reads it;
(c) every metric an expression names is one the programs export: a string
    literal in common/, producer/, worker/ or reaper/ (here), and, with
    --scrape FILE (the integration test dashboard_metrics passes the
    /metrics of a live worker, reaper and evaluator), a series of those
    scrapes, with every label the expression matches or groups by on it,
    and every label="value" it matches; with --target JOB=HOST:PORT (the
    same live programs), a real Prometheus (Debian's, on loopback, a
    temporary directory) scrapes them and every expression must return at
    least one series from its query API, so a join or filter that can
    never match fails too;
(d) the compose profile runs Grafana on a pinned official image, mounts the
    provisioning files that exist, the datasource points at the profile's
    Prometheus under the uid the dashboard selects, and the dashboard
    provider reads the directory where runfleet.json is mounted.

    check_dashboard.py                       (a), (b), (c) against the sources, (d)
    check_dashboard.py --live-only --scrape F [--scrape F...] [--target JOB=HOST:PORT...]
                                             (c) against live programs only
"""
import argparse
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as dl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DASHBOARD = os.path.join("deploy", "grafana", "runfleet.json")
# series Prometheus makes itself, not the programs
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# labels Prometheus adds to every scraped series, and the bucket label
TARGET_LABELS = {"job", "instance", "le", "__name__"}
# what the dashboard's variables stand for when promtool reads an expression
SUBSTITUTE = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h", "__range_s": "3600",
              "__interval_ms": "60000", "job": ".*", "instance": ".*"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan", "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk",
                "bottomk", "quantile", "count_values", "group", "limitk", "limit_ratio"}


def load_json_strict(p):
    """The JSON of @p p; a key given twice is an error (json keeps the last)."""
    def pairs(items):
        seen = {}
        for k, v in items:
            if k in seen:
                raise ValueError("key %r given twice" % k)
            seen[k] = v
        return seen
    with open(p) as f:
        return json.load(f, object_pairs_hook=pairs)


def all_panels(dash):
    for p in dash.get("panels") or []:
        yield p
        for sub in p.get("panels") or []:
            yield sub


def expressions(dash):
    """(where, PromQL) of every query: panel targets, then the variables'
    label_values(SELECTOR, label) selectors."""
    out = []
    for p in all_panels(dash):
        for t in p.get("targets") or []:
            if isinstance(t.get("expr"), str):
                out.append(("panel %s %r target %s" % (p.get("id"), p.get("title"), t.get("refId")), t["expr"]))
    for v in (dash.get("templating") or {}).get("list") or []:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", q or "", re.S)
        if m:
            out.append(("variable %s" % v.get("name"), m.group(1)))
        else:
            out.append(("variable %s" % v.get("name"), q or ""))
    return out


def substitute(expr):
    """The expression with $var, ${var} and [[var]] replaced."""
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        return SUBSTITUTE.get(name.split(":")[0], "x")
    return re.sub(r"\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([^\]]+)\]\]", repl, expr)


def strip_strings(expr):
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)


def metric_names(expr):
    """Metric names an expression selects: identifiers before `{`, or bare
    identifiers that are neither functions, keywords, durations nor label
    names of a by/on/without/ignoring list or a matcher."""
    e = strip_strings(substitute(expr))
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\{[^}]*\}", lambda m: "{}", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\(|\{)?", e):
        word, nxt = m.group(1), m.group(2)
        if nxt == "(" or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def used_labels(expr):
    """(label names in matchers, label names in by/on/without/ignoring lists)."""
    e = strip_strings(substitute(expr)).replace('""', "")
    matchers = set()
    for body in re.findall(r"\{([^}]*)\}", e):
        matchers.update(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", body))
    groups = set()
    for body in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", e):
        groups.update(x.strip() for x in body.split(",") if x.strip())
    return matchers, groups


def source_metrics():
    known = set()
    for d in ("common", "producer", "worker", "reaper"):
        for f in glob.glob(os.path.join(dl.SRC, d, "*.c")):
            known.update(re.findall(r'"(runfleet_[a-z0-9_]+)"', open(f, errors="replace").read()))
    return known


def scrape_series(files):
    """{series name: {label name: set of values}} of Prometheus text scrapes."""
    series = {}
    sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+")
    for f in files:
        for line in open(f, errors="replace"):
            m = sample.match(line)
            if not m or line.startswith("#"):
                continue
            labels = series.setdefault(m.group(1), {})
            for name, value in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""):
                labels.setdefault(name, set()).add(value)
    return series


def equality_matchers(expr):
    """(metric, label, value) of every label="value" matcher on a named metric."""
    out = []
    for name, body in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", substitute(expr)):
        for label, value in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"', body):
            out.append((name, label, value))
    return out


def check_live(c, exprs, scrapes):
    series = scrape_series(scrapes)
    c.check(len(series) >= 10, "the scrapes %s hold only %d series" % (", ".join(scrapes), len(series)))
    print("live: %d series in %d scrapes" % (len(series), len(scrapes)))
    for where, expr in exprs:
        names = metric_names(expr) - PROMETHEUS_SERIES
        labels = set(TARGET_LABELS)
        for n in sorted(names):
            if c.check(n in series, "%s: %s is not in the live /metrics of the programs" % (where, n)):
                labels |= set(series[n])
        for n, label, value in equality_matchers(expr):
            if n in series and label in series[n]:
                c.check(value in series[n][label], "%s: %s{%s=%r} matches no live series (values: %s)"
                        % (where, n, label, value, sorted(series[n][label])))
        matchers, groups = used_labels(expr)
        if names and not (metric_names(expr) & PROMETHEUS_SERIES):
            for lab in sorted((matchers | groups) - labels):
                c.check(False, "%s: label %r is on none of %s in the live /metrics" % (where, lab, sorted(names)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prometheus_query(base, expr):
    """The result of an instant query, or raises (OSError, ValueError)."""
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as f:
        body = json.load(f)
    if body.get("status") != "success":
        raise ValueError(body.get("error") or body)
    return body["data"]["result"]


def check_prometheus(c, exprs, targets):
    """A real Prometheus scrapes @p targets (JOB=HOST:PORT); every expression
    returns a series within 60 s."""
    exe = shutil.which("prometheus")
    if not exe:
        if c.failed:  # a skip must not hide what already failed
            print("prometheus not found (Debian package prometheus): expressions not queried")
            return
        dl.missing("prometheus not found (Debian package prometheus)")
    jobs = {}
    for t in targets:
        job, _, addr = t.partition("=")
        jobs.setdefault(job, []).append(addr)
    tmp = dl.tempdir()
    port = free_port()
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:  # JSON is YAML
        json.dump({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                   "scrape_configs": [{"job_name": j, "static_configs": [{"targets": a}]}
                                      for j, a in sorted(jobs.items())]}, f)
    log = open(os.path.join(tmp, "prometheus.log"), "w")
    proc = subprocess.Popen([exe, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                             "--web.listen-address=127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    try:
        pending = {where: substitute(expr) for where, expr in exprs}
        errors = {}
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline and proc.poll() is None:
            for where, expr in list(pending.items()):
                try:
                    if prometheus_query(base, expr):
                        del pending[where]
                        errors.pop(where, None)
                except (OSError, ValueError) as e:
                    errors[where] = str(e)
            time.sleep(1)
        c.check(proc.poll() is None, "prometheus exited (%s); its log:\n%s"
                % (proc.returncode, open(log.name).read()[-2000:]))
        for where, expr in pending.items():
            c.check(False, "%s: no series from a Prometheus scraping the live programs in 60 s%s: %s"
                    % (where, " (%s)" % errors[where] if where in errors else "", expr))
        print("prometheus: %d of %d expressions return series" % (len(exprs) - len(pending), len(exprs)))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def check_structure(c, dash):
    schema_file = os.path.join(HERE, "schemas", "grafana-dashboard.schema.json")
    jsonschema = dl.need_module("jsonschema", "tests/deploy/setup-venv")
    schema = json.load(open(schema_file))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(dash), key=lambda e: list(e.absolute_path))
    for e in errors[:20]:
        c.check(False, "%s: schema: %s at /%s" % (DASHBOARD, e.message[:300], "/".join(map(str, e.absolute_path))))
    c.check(not errors, "%s: %d schema errors" % (DASHBOARD, len(errors)))
    if errors:
        return
    ids = [p["id"] for p in all_panels(dash)]
    c.check(len(ids) == len(set(ids)), "%s: panel ids not unique: %s" % (DASHBOARD, ids))
    cells = {}
    for p in all_panels(dash):
        g = p["gridPos"]
        c.check(g["x"] + g["w"] <= 24, "panel %s %r: x + w = %d, beyond the 24 columns"
                % (p["id"], p["title"], g["x"] + g["w"]))
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                other = cells.setdefault((x, y), p["id"])
                if other != p["id"]:
                    c.check(False, "panel %s %r overlaps panel %s at x=%d y=%d" % (p["id"], p["title"], other, x, y))
                    break
            else:
                continue
            break
        refs = [t["refId"] for t in p.get("targets") or []]
        c.check(len(refs) == len(set(refs)), "panel %s %r: refIds not unique: %s" % (p["id"], p["title"], refs))
        for obj in [p] + list(p.get("targets") or []):
            if "datasource" in obj:
                c.equal(obj["datasource"], {"type": "prometheus", "uid": "${datasource}"},
                        "panel %s %r: datasource (the ${datasource} variable)" % (p["id"], p["title"]))
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables.get("datasource") or {}
    c.check(ds.get("type") == "datasource" and ds.get("query") == "prometheus",
            "%s: no `datasource` variable of Prometheus data sources" % DASHBOARD)
    for name in ("job", "instance"):
        c.check(name in variables, "%s: no `%s` variable" % (DASHBOARD, name))
    used = set()
    for m in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([^\]:]+)",
                         json.dumps(dash)):
        used.add(m.group(1) or m.group(2) or m.group(3))
    for name in sorted(used):
        c.check(name.startswith("__") or name in variables, "%s: $%s is used but not defined" % (DASHBOARD, name))
    for where, expr in expressions(dash):
        if where.startswith("panel"):
            c.check('job=~"$job"' in expr and 'instance=~"$instance"' in expr,
                    "%s: does not filter on $job and $instance: %s" % (where, expr))


def check_promql(c, exprs):
    promtool = shutil.which("promtool")
    if not promtool:
        dl.missing("promtool not found (Debian package prometheus)")
    rules = []
    for i, (where, expr) in enumerate(exprs):
        rules.append({"record": "dashboard:query_%d" % i, "expr": substitute(expr),
                      "labels": {"where": where.replace('"', "'")}})
    tmp = dl.tempdir()
    try:
        p = os.path.join(tmp, "dashboard-rules.yml")
        with open(p, "w") as f:
            json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, indent=1)  # JSON is YAML
        r = subprocess.run([promtool, "check", "rules", p], capture_output=True, text=True, timeout=120)
        out = (r.stdout + r.stderr).strip()
        if r.returncode != 0:
            for m in re.finditer(r"rule (\d+)", out):
                i = int(m.group(1)) - 1
                if 0 <= i < len(exprs):
                    print("  rule %d is %s: %s" % (i + 1, exprs[i][0], exprs[i][1]))
        c.check(r.returncode == 0, "promtool check rules on the dashboard's %d expressions:\n%s" % (len(rules), out))
        if r.returncode == 0:
            print("promtool: %d expressions parse" % len(rules))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_sources(c, exprs):
    known = source_metrics()
    for where, expr in exprs:
        for n in sorted(metric_names(expr) - PROMETHEUS_SERIES):
            base = re.sub(r"_(bucket|sum|count)$", "", n)
            c.check(n in known or base in known, "%s: metric %s is not exported by any program" % (where, n))


def check_compose(c, dash):
    doc = dl.load_yaml(dl.path("docker-compose.yml"))
    services = doc.get("services") or {}
    g = services.get("grafana")
    if not c.check(isinstance(g, dict), "docker-compose.yml: no grafana service"):
        return
    image = str(g.get("image", ""))
    c.check(re.fullmatch(r"grafana/grafana(-oss)?:\d+\.\d+\.\d+", image) is not None,
            "grafana: image %r is not the official grafana/grafana at a pinned version" % image)
    c.equal(g.get("profiles"), ["monitoring"], "grafana: profiles")
    c.check("prometheus" in (g.get("depends_on") or {}), "grafana: does not depend on prometheus")
    mounts = {}
    for v in g.get("volumes") or []:
        src, _, rest = (v if isinstance(v, str) else "%s:%s" % (v.get("source"), v.get("target"))).partition(":")
        target = rest.split(":")[0]
        mounts[target] = src
        if src.startswith("."):
            c.check(os.path.exists(dl.path(src)), "grafana: mounts %s, which does not exist" % src)
    by_source = {os.path.normpath(s): t for t, s in mounts.items() if s.startswith(".")}
    prov = {}
    for kind in ("datasources", "dashboards"):
        rel = os.path.join("deploy", "grafana", "provisioning", kind)
        target = by_source.get(rel)
        c.equal(target, "/etc/grafana/provisioning/" + kind, "grafana: where %s is mounted" % rel)
        files = sorted(glob.glob(dl.path(rel, "*.yml")) + glob.glob(dl.path(rel, "*.yaml")))
        c.check(files, "%s: no provisioning file" % rel)
        prov[kind] = [dl.load_yaml(f) for f in files]
    dash_target = by_source.get(DASHBOARD)
    if not c.check(dash_target, "grafana: %s is not mounted" % DASHBOARD):
        return
    # the datasource: the profile's Prometheus, under the uid the dashboard selects
    sources = [d for doc in prov["datasources"] for d in (doc.get("datasources") or [])]
    proms = [d for d in sources if d.get("type") == "prometheus"]
    if c.check(len(proms) == 1, "datasources: %d of type prometheus, expected 1" % len(proms)):
        d = proms[0]
        m = re.fullmatch(r"http://([a-z0-9-]+):(\d+)/?", str(d.get("url", "")))
        c.check(m and m.group(1) in services and "monitoring" in (services[m.group(1)].get("profiles") or []),
                "datasource url %r is not a service of the monitoring profile" % d.get("url"))
        prom_cmd = " ".join((services.get("prometheus") or {}).get("command") or [])
        listen = re.search(r"--web\.listen-address=\S*:(\d+)", prom_cmd)
        c.check(m and m.group(2) == (listen.group(1) if listen else "9090"),
                "datasource url %r: not the port Prometheus listens on" % d.get("url"))
        current = ((next((v for v in dash["templating"]["list"] if v.get("name") == "datasource"), {})
                    .get("current")) or {}).get("value")
        c.equal(d.get("uid"), current, "datasource uid (the dashboard's default ${datasource})")
    # the dashboard provider reads the directory runfleet.json is mounted in
    providers = [p for doc in prov["dashboards"] for p in (doc.get("providers") or [])]
    paths = [(p.get("options") or {}).get("path") for p in providers if p.get("type", "file") == "file"]
    c.check(os.path.dirname(dash_target) in [str(x).rstrip("/") for x in paths],
            "dashboard providers read %s, but %s is mounted at %s" % (paths, DASHBOARD, dash_target))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scrape", action="append", default=[], help="a /metrics scrape of a program (text format)")
    ap.add_argument("--target", action="append", default=[],
                    help="JOB=HOST:PORT of a live program for a real Prometheus to scrape and query")
    ap.add_argument("--live-only", action="store_true", help="only check against the live programs")
    args = ap.parse_args()
    c = dl.Checks("dashboard")
    try:
        dash = load_json_strict(dl.path(DASHBOARD))
    except (OSError, ValueError) as e:
        c.check(False, "%s: %s" % (DASHBOARD, e))
        c.finish()
    exprs = expressions(dash)
    c.check(len(exprs) >= 12, "%s: only %d expressions" % (DASHBOARD, len(exprs)))
    if args.scrape:
        check_live(c, exprs, args.scrape)
    if args.target:
        check_prometheus(c, exprs, args.target)
    if not args.live_only:
        check_structure(c, dash)
        check_promql(c, exprs)
        check_sources(c, exprs)
        check_compose(c, dash)
    c.finish()


main()
