#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bench/run's driver: runs each scenario, baseline and machine limit through
build/bench/bench_scenarios (and wrk), prints one table, and writes it as
CSV and Markdown under bench/results/. Figures, never assertions.

    bench/bench.py [--quick] [--build DIR] [--brokers N] [a] [b] [c] [d] [e] [f] [g] [h] [features] [scale] [base] [limits]

Expects the services of scripts/services (RUNFLEET_* from .runfleet/local.env);
bench/run sets everything up and calls this.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELECTABLE = ["a", "b", "c", "d", "e", "f", "g", "h", "features", "scale", "base", "limits"]

# a_runs: (a) is run that many times and the run of median rate reported;
# one run on this shared 2-core machine swings by a fifth either way.
FULL = dict(scale_rate=500, scale_secs=10, a=20000, a_runs=5, b=3000, c_rate=1000, c_secs=60, d=1000,
            base_a=2000, base_b_seq=30, base_b_thr=30, pg_secs=10, kafka_msgs=300000, wrk_secs=5,
            g=(100, 1000, 10000), h=(10000, 100000), f=(0, 1000000, 10000000))
QUICK = dict(scale_rate=300, scale_secs=5, a=2000, a_runs=1, b=300, c_rate=1000, c_secs=10, d=1000,
             base_a=300, base_b_seq=5, base_b_thr=6, pg_secs=3, kafka_msgs=100000, wrk_secs=3,
             g=(100, 1000), h=(10000,), f=(0, 200000))
PG_CLIENTS, PG_BATCH = 8, 1000


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class Runner:
    def __init__(self, build, logfile, driver="bench_scenarios"):
        self.driver = os.path.join(build, "bench", driver)
        self.env = dict(os.environ, RUNFLEET_BUILD_ROOT=build)
        self.logfile = logfile

    def call(self, *args, timeout=1800, env=None):
        cmd = [self.driver] + [str(a) for a in args]
        with open(self.logfile, "a") as f:
            f.write("\n$ " + " ".join(cmd) + "\n")
            f.flush()
            p = subprocess.run(cmd, env=dict(self.env, **(env or {})), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=timeout)
            f.write(p.stdout)
        for line in reversed(p.stdout.splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        log("no result from %s (exit %d); see %s" % (" ".join(cmd[1:]), p.returncode, self.logfile))
        return None


def wrk(url, secs, logfile):
    try:
        p = subprocess.run(["wrk", "-t2", "-c64", "-d%ds" % secs, "--timeout", "5s", url],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=secs + 60)
    except (OSError, subprocess.TimeoutExpired) as e:
        log("wrk: %s" % e)
        return None
    with open(logfile, "a") as f:
        f.write("\n$ wrk %s\n%s" % (url, p.stdout))
    m = re.search(r"Requests/sec:\s*([0-9.]+)", p.stdout)
    return float(m.group(1)) if m else None


def machine():
    info = {"cores": os.cpu_count(), "kernel": platform.release(), "arch": platform.machine()}
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                info["memory_gib"] = int(line.split()[1]) / 1024 / 1024
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        info["commit"] = head + (" + uncommitted changes" if dirty else "")
    except OSError:
        info["commit"] = "?"
    return info


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def cpu_idle_share(secs):
    """The share of all CPUs' time idle over the next @secs seconds."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)  # idle + iowait, total
    i0, t0 = sample()
    time.sleep(secs)
    i1, t1 = sample()
    return (i1 - i0) / max(1, t1 - t0)


def settle(limit_s=90):
    """Waits for the machine to go quiet (80 % idle over 3 s, at most
    @limit_s) before measuring, so that other work on the shared machine,
    or services started a moment ago, do not weigh on the first scenario."""
    t0 = time.time()
    while time.time() - t0 < limit_s:
        if cpu_idle_share(3) >= 0.8:
            break
    waited = time.time() - t0
    if waited > 4:
        log("waited %.0f s for the machine to go quiet" % waited)


# --- formatting ---------------------------------------------------------------

def fnum(v, digits=0):
    if v is None:
        return "—"
    if digits == 0 and 0 < abs(v) < 10 and v != int(v):
        return "{:.2f}".format(v)
    if digits == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, digits)


def fsecs(v):
    if v is None:
        return "—"
    if v >= 100:
        return "{:,.0f} s".format(v)
    if v >= 10:
        return "{:.1f} s".format(v)
    return "{:.2f} s".format(v)


def fms(v):
    if v is None:
        return "—"
    return "{:,.0f}".format(v) if v >= 10 else "{:.1f}".format(v)


def ratio(x, y):
    if not x or not y:
        return None
    return x / y


def fratio(r):
    if r is None:
        return "—"
    return "×{:,.0f}".format(r) if r >= 100 else "×{:.1f}".format(r)


class Row:
    def __init__(self, rid, scenario, config, res, nominal=None, engine="runfleet"):
        self.id, self.scenario, self.config, self.res, self.engine = rid, scenario, config, res or {}, engine
        self.nominal = nominal
        self.vs = ""
        self.notes = []

    def get(self, k):
        v = self.res.get(k)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    @property
    def rate(self):
        return self.get("rate")

    def wall_extrapolated(self):
        w, n = self.get("wall_s"), self.get("succeeded")
        if w is None or not n or not self.nominal or self.nominal == n:
            return None
        return w * self.nominal / n

    def cells(self):
        r = self.res
        n = self.get("succeeded")
        if self.nominal and n is not None and self.nominal != n:
            decisions = "{} of {:,} (sample)".format(fnum(n), self.nominal)
        elif r.get("offered_rate"):
            decisions = "{} ({} /s offered, {} /s achieved)".format(
                fnum(n), fnum(r["offered_rate"]), fnum(r.get("achieved_offer_rate")))
        else:
            decisions = fnum(n)
        if r.get("failed"):
            decisions += ", {} failed".format(fnum(r["failed"]))
        if r and not r.get("complete", True):
            decisions += " (incomplete)"
        ext = self.wall_extrapolated()
        if ext is not None:
            wall = "≈ {} (extrapolated)".format(fsecs(ext))
        else:
            wall = fsecs(self.get("wall_s"))
        if r.get("backlog", True):
            p2s = e2e = "—"
        else:
            p2s = "{} / {} ms".format(fms(self.get("p2s_p50_ms")), fms(self.get("p2s_p99_ms")))
            e2e = "{} / {} ms".format(fms(self.get("e2e_p50_ms")), fms(self.get("e2e_p99_ms")))
        rss = self.get("rss_kb")
        return [self.scenario, self.config, decisions, wall, fnum(self.rate), p2s, e2e,
                "{:.1f} MB".format(rss / 1024) if rss else "—", fnum(self.get("cpu_s_per_1000"), 2), self.vs]


class LimitRow(Row):
    def __init__(self, rid, scenario, config, value):
        super().__init__(rid, scenario, config, {}, engine="limit")
        self.value = value

    @property
    def rate(self):
        return self.value

    def cells(self):
        return [self.scenario, self.config, "—", "—", fnum(self.value), "—", "—", "—", "—", self.vs]


HEADER = ["scenario", "configuration", "decisions", "wall time", "decisions/s",
          "produce→start p50 / p99", "end-to-end p50 / p99", "peak RSS / worker", "CPU s / 1,000", "runfleet vs. this"]


def markdown_table(rows):
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in rows:
        out.append("| " + " | ".join(c.replace("|", "/") for c in r.cells()) + " |")
    return "\n".join(out)


# --- docs/benchmarks.md --------------------------------------------------------

DOCS = os.path.join(ROOT, "docs", "benchmarks.md")
DOCS_BEGIN = "<!-- begin: written by bench/run --docs; do not edit by hand -->"
DOCS_END = "<!-- end: written by bench/run --docs -->"


def update_docs(results_md):
    """Replaces the marked block of docs/benchmarks.md with a results file:
    the figures live in that one block, and every other document links to it
    rather than copying them (copies drift)."""
    with open(results_md) as f:
        lines = f.read().rstrip("\n").split("\n")
    title = lines[0].lstrip("# ")
    body = ["### " + l.lstrip("#").strip() if l.startswith("## ") else l for l in lines[1:]]
    rel = os.path.relpath(os.path.abspath(results_md), os.path.dirname(DOCS))
    block = ["### " + title, "", "From [`%s`](%s):" % (os.path.basename(results_md), rel)] + body
    with open(DOCS) as f:
        text = f.read()
    if DOCS_BEGIN not in text or DOCS_END not in text:
        sys.exit("bench: %s has no block marked %r ... %r" % (DOCS, DOCS_BEGIN, DOCS_END))
    head, rest = text.split(DOCS_BEGIN, 1)
    tail = rest.split(DOCS_END, 1)[1]
    with open(DOCS, "w") as f:
        f.write(head + DOCS_BEGIN + "\n" + "\n".join(block) + "\n" + DOCS_END + tail)
    log("wrote the figures of %s into %s" % (os.path.relpath(results_md, ROOT), os.path.relpath(DOCS, ROOT)))


# --- (h): backfill and replay at the broker's pace -----------------------------

H_TARGET_RATE = 20000


def history_md(results):
    def rate(r, k):
        n, ms = r.get("decisions"), r.get(k)
        return fnum(n / (ms / 1000.0)) if n and ms and ms > 0 else "—"

    def mb(kb):
        return "%s MB" % fnum(kb / 1024.0, 1) if kb else "—"

    out = ["## (h) Backfill and replay", "",
           "| decisions | `backfill --mode all` | decisions/s | peak RSS | `replay` of them | decisions/s | peak RSS |",
           "|---|---|---|---|---|---|---|"]
    for r in results:
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            fnum(r.get("decisions")), fsecs((r.get("backfill_ms") or 0) / 1000.0) if r.get("backfill_ms") else "—",
            rate(r, "backfill_ms"), mb(r.get("backfill_rss_kb")),
            fsecs((r.get("replay_ms") or 0) / 1000.0) if r.get("replay_ms") else "—", rate(r, "replay_ms"),
            mb(r.get("replay_rss_kb"))))
    out += ["", "- (h): in a fresh database and topic, `backfill --mode all` of N one-second ticks, then `replay`"
            " of the range those N decisions were produced in; each from exec to exit (every decision recorded"
            " and acknowledged by Kafka), with its process's peak RSS. Target: %s decisions/s each, memory"
            " bounded (the same peak at 10,000 and 100,000)." % fnum(H_TARGET_RATE)]
    return out


# --- (f): cost against history ---------------------------------------------

F_TARGET_A_SHARE, F_TARGET_SWEEP_P99_MS, F_TARGET_DAY_MS = 0.9, 50, 300


def grown_md(results):
    base = next((r for r in results if not r.get("preload")), None)

    def vs(r, k):
        if not base or not base.get(k) or not r.get(k) or r is base:
            return ""
        return " (×%.2f)" % (r[k] / base[k])

    out = ["## (f) Cost against history", "",
           "| history (decisions) | (a) decisions/s | reaper sweep p50 / p99 | `status --day` | `timeline --day` |"
           " `evaluate`, 100 workflows | preload |",
           "|---|---|---|---|---|---|---|"]
    for r in results:
        out.append("| %s | %s%s | %s / %s ms | %s ms%s | %s ms%s | %s ms%s | %s |" % (
            fnum(r.get("preload")), fnum(r.get("a_rate")), vs(r, "a_rate"),
            fnum(r.get("sweep_p50_ms"), 1), fnum(r.get("sweep_p99_ms"), 1), fnum(r.get("status_ms")),
            vs(r, "status_ms"), fnum(r.get("timeline_ms")), vs(r, "timeline_ms"), fnum(r.get("evaluate_ms")),
            vs(r, "evaluate_ms"), fsecs(r.get("preload_s")) if r.get("preload_s") else "—"))
    out += ["", "- (f): N decisions of history (with their executions and calls, generated in SQL by"
            " bench/preload_history.sql) over the 30 days before today, then the same work at every N: (a) once"
            " (20,000 decisions, 3 workers) in one database; in another, 1,000 decisions executed today, then"
            " `status --day` and `timeline --day` of today (median of 3, exec to exit), a reaper sweeping every 100 ms"
            " for 10 s (each sweep's duration from its log), and `evaluate` of 100 workflows on one tick (median of"
            " 3, each on 100 workflows never decided before). In brackets: against the empty-history figure of the same run. Targets: (a) within 10 %% of"
            " empty; sweep p99 ≤ %s ms; one day's `status`/`timeline` ≤ %s ms; evaluation unchanged." %
            (fnum(F_TARGET_SWEEP_P99_MS), fnum(F_TARGET_DAY_MS))]
    return out


def plot_grown(results, path):
    """Cost against history size, as a PNG beside the results."""
    plt = pyplot(path)
    if not plt:
        return
    pts = [r for r in results if r.get("status_ms") is not None]
    if not pts:
        return
    xs = [max(r.get("preload") or 0, 1e4) for r in pts]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("status_ms", "status --day"), ("timeline_ms", "timeline --day"),
                       ("evaluate_ms", "evaluate, 100 workflows"), ("sweep_p99_ms", "reaper sweep p99")):
        ax1.plot(xs, [r.get(key) for r in pts], marker="o", label=label)
    ax1.set_xscale("log")
    ax1.set_xlabel("decisions of history (0 drawn at 10^4)")
    ax1.set_ylabel("ms")
    ax1.set_title("(f) commands and sweep against history")
    ax1.legend(fontsize=8)
    ax2.plot(xs, [r.get("a_rate") for r in pts], marker="o", color="C4", label="(a) decisions/s")
    ax2.set_xscale("log")
    ax2.set_ylim(bottom=0)
    ax2.set_xlabel("decisions of history (0 drawn at 10^4)")
    ax2.set_ylabel("decisions/s")
    ax2.set_title("(a) against history")
    ax2.legend(fontsize=8)
    save_figure(plt, fig, path)


# --- features: (a) with the registry format and with tracing ------------------

def start_collector(build):
    """The tests' OpenTelemetry Collector (scripts/build-otelcol) on a free
    loopback port, spans to a scratch file; (process, endpoint) or None."""
    import socket
    import tempfile
    try:
        binary = subprocess.run([os.path.join(ROOT, "scripts", "build-otelcol")], capture_output=True, text=True,
                                timeout=900).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        log("no collector for the tracing variant: %s" % e)
        return None
    if not binary or not os.access(binary, os.X_OK):
        log("no collector for the tracing variant (scripts/build-otelcol gave none)")
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    d = tempfile.mkdtemp(prefix="bench-otelcol-", dir=os.path.join(build, "bench-logs"))
    cfg = os.path.join(d, "otelcol.yaml")
    with open(cfg, "w") as f:
        f.write("receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:%d\n"
                "exporters:\n  rfjson:\n    path: %s\n"
                "service:\n  telemetry:\n    metrics:\n      level: none\n"
                "  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [rfjson]\n"
                % (port, os.devnull))
    proc = subprocess.Popen([binary, "--config", cfg], stdout=open(os.path.join(d, "otelcol.log"), "w"),
                            stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, "http://127.0.0.1:%d/v1/traces" % port
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    log("the collector did not start; see %s" % d)
    return None


# --- (g): the evaluator at N workflows ----------------------------------------

G_TARGET_EVAL_MS, G_TARGET_CONFIG_MS = 1000, 200


def evaluator_md(results):
    out = ["## (g) The evaluator at N workflows", "",
           "| workflows | configuration loaded (`--print-config`) | one tick: exec → every RUN acknowledged |"
           " RUN decisions recorded / acknowledged |",
           "|---|---|---|---|"]
    for r in results:
        out.append("| %s | %s ms | %s ms | %s / %s |" % (
            fnum(r.get("workflows")), fnum(r.get("config_ms")), fnum(r.get("evaluate_ms")),
            fnum(r.get("run_decisions")), fnum(r.get("acknowledged"))))
    out += ["", "- (g): N workflows on one cron tick, never decided before, in a fresh database. The tick's"
            " figure is the whole `runfleet-producer evaluate` process, exec to exit (it exits once Kafka has"
            " acknowledged every RUN decision), so it bounds the time from a tick to the last acknowledgement."
            " Targets at 10,000 workflows: %s ms for the tick, %s ms for the configuration." %
            (fnum(G_TARGET_EVAL_MS), fnum(G_TARGET_CONFIG_MS))]
    return out


def pyplot(path):
    """matplotlib's pyplot for drawing @path, or None (said) without it."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no matplotlib (python3-matplotlib, scripts/install-deps): %s not drawn" % os.path.basename(path))
        return None
    return plt


def save_figure(plt, fig, path):
    """Writes @fig as the PNG @path and closes it."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    log("wrote %s" % os.path.relpath(path, ROOT))


def plot_evaluator(results, path):
    """Cost against the number of workflows, as a PNG beside the results."""
    plt = pyplot(path)
    if not plt:
        return
    pts = [r for r in results if r.get("evaluate_ms") is not None and r.get("config_ms") is not None]
    if not pts:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [r["workflows"] for r in pts]
    ax.plot(xs, [r["evaluate_ms"] for r in pts], marker="o", label="one tick: exec → all acknowledged")
    ax.plot(xs, [r["config_ms"] for r in pts], marker="s", label="configuration loaded")
    ax.axhline(G_TARGET_EVAL_MS, color="grey", linestyle="--", linewidth=0.8, label="tick target (10,000 workflows)")
    ax.set_xscale("log")
    ax.set_xlabel("workflows")
    ax.set_ylabel("ms")
    ax.set_title("(g) the evaluator's cost against its workflows")
    ax.legend(fontsize=8)
    save_figure(plt, fig, path)


# --- the run ------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description="runfleet benchmarks")
    ap.add_argument("--quick", action="store_true", help="smaller counts: a smoke run of a few minutes")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--brokers", type=int, default=1,
                    help="Kafka nodes behind RUNFLEET_KAFKA_BROKERS (bench/run --brokers starts them); recorded")
    ap.add_argument("--docs", action="store_true",
                    help="also put this run's results into docs/benchmarks.md (a full run of every scenario)")
    ap.add_argument("--docs-from", metavar="RESULTS_MD",
                    help="put an earlier run's bench/results/*.md into docs/benchmarks.md and exit")
    ap.add_argument("what", nargs="*", help="any of: " + " ".join(SELECTABLE) + " (default: all)")
    args = ap.parse_args()
    if args.docs_from:
        update_docs(args.docs_from)
        return
    if args.docs and (args.quick or args.what or args.brokers > 1):
        ap.error("--docs takes a full run of every scenario on one broker (no --quick, no scenario list)")
    for w in args.what:
        if w not in SELECTABLE:
            ap.error("unknown scenario %r: choose from %s" % (w, " ".join(SELECTABLE)))
    want = set(args.what or SELECTABLE)
    P = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    if args.brokers > 1:
        mode += "-%dbrokers" % args.brokers
    started = time.time()
    stamp = datetime.datetime.now(datetime.timezone.utc)
    os.makedirs(os.path.join(args.build, "bench-logs"), exist_ok=True)
    logfile = os.path.join(args.build, "bench-logs", stamp.strftime("%Y-%m-%d-%H%M%S") + ".log")
    R = Runner(os.path.abspath(args.build), logfile)
    baseline = os.path.join(ROOT, "bench", "baseline", "original.py")
    info = machine()
    settle()
    load_before = load1()
    log("%s run, log in %s" % (mode, logfile))
    rows, by = [], {}

    def add(row):
        rows.append(row)
        by[row.id] = row
        return row

    def measure(rid, scenario, config, *argv, nominal=None, engine="runfleet", env=None):
        log("%s: %s" % (scenario, config))
        t0 = time.time()
        res = R.call("run", *argv, env=env)
        log("  done in %.0f s" % (time.time() - t0))
        return Row(rid, scenario, config, res, nominal=nominal, engine=engine)

    def run(rid, scenario, config, *argv, nominal=None, engine="runfleet"):
        return add(measure(rid, scenario, config, *argv, nominal=nominal, engine=engine))

    def run_median(rid, scenario, config, times, *argv, env=None):
        runs = sorted((measure(rid, scenario, config, *argv, env=env) for _ in range(times)), key=lambda r: r.rate or 0)
        row = runs[len(runs) // 2]
        if times > 1:
            row.config += "; median of %d runs (%s–%s /s)" % (times, fnum(runs[0].rate), fnum(runs[-1].rate))
        return add(row)

    if want & {"a", "b", "c", "d", "e", "features"}:
        # Services bench/run has just started are cold: the broker's JVM has
        # compiled little, PostgreSQL's caches are empty. The first scenario
        # would pay for that alone (seen: (a) a tenth slower than with the
        # services warm), so one run of (a) goes first and is not counted.
        measure("warmup", "warm-up", "one run of (a), not counted", "--workers", 3, "--decisions", P["a"])
    if "a" in want:
        run_median("a", "(a) throughput", "3 workers, 1 zero-latency scraper", P["a_runs"],
                   "--workers", 3, "--decisions", P["a"])
    if "b" in want:
        run("b", "(b) slow scrapers", "3 workers, 3 scrapers × 1 s each",
            "--workers", 3, "--decisions", P["b"], "--scrapers", 3, "--delay-ms", 1000)
    if "c" in want:
        run("c", "(c) latency at %s/s" % fnum(P["c_rate"]),
            "3 workers, 1 zero-latency scraper; offered for %d s, one INSERT per batch" % P["c_secs"],
            "--workers", 3, "--rate", P["c_rate"], "--seconds", P["c_secs"])
        run("c_store", "(c) via the evaluator's path",
            "same, each due batch recorded with one INSERT and sent at once, acknowledged before the next"
            " (as the evaluator does)",
            "--workers", 3, "--rate", P["c_rate"], "--seconds", P["c_secs"], "--evaluator-path")
    if "d" in want:
        r = run("d", "(d) %s in flight" % fnum(P["d"]), "1 worker, max_in_flight %s, 1 scraper × 2 s" % fnum(P["d"]),
                "--workers", 1, "--decisions", P["d"], "--delay-ms", 2000, "--in-flight", P["d"], "--overlap")
        if r.get("most_in_flight") is not None:
            r.config += "; most in flight at once: %s" % fnum(r.get("most_in_flight"))
    if "e" in want:
        for n in (1, 2, 3, 6):
            if n == 3 and "a" in by:
                rows.append(Row("e3", "(e) 3 workers", "= (a)", by["a"].res))
                by["e3"] = rows[-1]
                continue
            run("e%d" % n, "(e) %d worker%s" % (n, "s" if n > 1 else ""), "as (a), %d process%s" %
                (n, "es" if n > 1 else ""), "--workers", n, "--decisions", P["a"])
    scale = []
    if "scale" in want:
        for proto in ("classic", "consumer"):
            log("scale-up 3 → 6 workers, %s protocol, %d decisions/s" % (proto, P["scale_rate"]))
            res = R.call("scale-up", "--rate", P["scale_rate"], "--seconds", P["scale_secs"],
                         env={"RUNFLEET_KAFKA_GROUP_PROTOCOL": proto}) or {}
            scale.append((proto, res))
    if "base" in want:
        for eng, label in (("seq", "sequential loop"), ("threads", "ThreadPoolExecutor(3)")):
            run("base_a_" + eng, "baseline (a): " + label, "Python, table walk, 1 zero-latency scraper",
                "--engine", eng, "--decisions", P["base_a"], "--baseline", baseline,
                nominal=P["a"], engine=eng)
        for eng, label, n in (("seq", "sequential loop", P["base_b_seq"]),
                              ("threads", "ThreadPoolExecutor(3)", P["base_b_thr"])):
            run("base_b_" + eng, "baseline (b): " + label, "Python, table walk, 3 scrapers × 1 s each",
                "--engine", eng, "--decisions", n, "--scrapers", 3, "--delay-ms", 1000, "--baseline", baseline,
                nominal=P["b"], engine=eng)
    if "features" in want:
        # (a) again with each optional feature on, in the same run, so the
        # cost of each is read against (a) from one machine state
        variants = [("f_registry", "(a) with kafka.value_format schema-registry",
                     "as (a), decisions framed with the registry's id (Apicurio on this machine)",
                     {"RUNFLEET_BENCH_VALUE_FORMAT": "schema-registry"})]
        collector = start_collector(args.build)
        if collector:
            variants.append(("f_tracing", "(a) with tracing on",
                             "as (a), spans exported over OTLP/HTTP to an OpenTelemetry Collector on this machine",
                             {"RUNFLEET_TRACING_OTLP_ENDPOINT": collector[1],
                              "RUNFLEET_TRACING_QUEUE_SIZE": "16384", "RUNFLEET_TRACING_BATCH_SIZE": "1024"}))
        try:
            for rid, scenario, config, env in variants:
                r = run_median(rid, scenario, config, P["a_runs"], "--workers", 3, "--decisions", P["a"], env=env)
                if "a" in by and by["a"].rate and r.rate:
                    r.vs = "(a) %s" % fratio(ratio(r.rate, by["a"].rate))
        finally:
            if collector:
                collector[0].terminate()
                collector[0].wait()
    history = []
    if "h" in want:
        H = Runner(os.path.abspath(args.build), logfile, driver="bench_history")
        for n in P["h"]:
            log("(h) backfill and replay of %s decisions" % fnum(n))
            history.append(H.call("--decisions", n, timeout=3600) or {"decisions": n})
    grown = []
    if "f" in want:
        F = Runner(os.path.abspath(args.build), logfile, driver="bench_grown")
        for n in P["f"]:
            log("(f) history of %s decisions: the commands and the sweep" % fnum(n))
            r = F.call("--preload", n, timeout=7200) or {"preload": n}
            a = measure("f_a_%d" % n, "(f) (a) with %s decisions of history" % fnum(n), "as (a), once",
                        "--workers", 3, "--decisions", P["a"], "--preload", n)
            r["a_rate"] = a.rate
            grown.append(r)
    evaluator = []
    if "g" in want:
        G = Runner(os.path.abspath(args.build), logfile, driver="bench_evaluator")
        for n in P["g"]:
            log("(g) the evaluator at %s workflows" % fnum(n))
            evaluator.append(G.call("--workflows", n) or {"workflows": n})
    limits = []
    if "limits" in want:
        log("limit: PostgreSQL (pgbench, %d s each)" % P["pg_secs"])
        pg = R.call("pg-limit", "--seconds", P["pg_secs"], "--clients", PG_CLIENTS, "--batch", PG_BATCH) or {}
        limits.append(add(LimitRow("pg_row", "limit: PostgreSQL, row by row",
                                   "pgbench, %d clients; per decision: INSERT decision, begin_executions() and"
                                   " finish_executions() with one item, a transaction each; the worker's session settings" % PG_CLIENTS, pg.get("pg_one_per_round_trip"))))
        limits.append(add(LimitRow("pg_batch", "limit: PostgreSQL, %s decisions per statement" % fnum(PG_BATCH),
                                   "pgbench, %d clients: the same rows and state changes, 3 statements per batch;"
                                   " the worker's session settings" % PG_CLIENTS, pg.get("pg_batched"))))
        log("limit: Kafka (%s messages of 200 bytes)" % fnum(P["kafka_msgs"]))
        k = R.call("kafka-limit", "--messages", P["kafka_msgs"], "--size", 200) or {}
        limits.append(add(LimitRow("kafka_produce", "limit: Kafka produce",
                                   "librdkafka, runfleet's producer settings (acks=all, idempotent, linger 5 ms),"
                                   " %s × 200 B, 6 partitions" % fnum(P["kafka_msgs"]), k.get("kafka_produce"))))
        limits.append(add(LimitRow("kafka_consume", "limit: Kafka consume", "librdkafka consumer, the same messages",
                                   k.get("kafka_consume"))))
        log("limit: fake scraper (wrk, %d s)" % P["wrk_secs"])
        url = os.environ.get("RUNFLEET_FAKE_SCRAPER_URL", "http://127.0.0.1:18080") + "/bench/zero"
        limits.append(add(LimitRow("scraper", "limit: fake scraper",
                                   "wrk, 2 threads, 64 keep-alive connections, GET, %d s" % P["wrk_secs"],
                                   wrk(url, P["wrk_secs"], logfile))))

    # --- ratios ---------------------------------------------------------------
    notes = []
    for rid, target in (("base_a_seq", "a"), ("base_a_threads", "a"), ("base_b_seq", "b"), ("base_b_threads", "b")):
        if rid in by and target in by:
            by[rid].vs = "(%s) %s" % (target, fratio(ratio(by[target].rate, by[rid].rate)))
    if "e1" in by:
        for n in (2, 3, 6):
            if "e%d" % n in by:
                by["e%d" % n].vs = "%s of 1 worker" % fratio(ratio(by["e%d" % n].rate, by["e1"].rate))
    tight = None
    if limits:
        pg_best = max([r for r in limits if r.id.startswith("pg_") and r.value] or [None],
                      key=lambda r: r.value if r else 0)
        cands = [r for r in limits if r.value and (not r.id.startswith("pg_") or r is pg_best)]
        if cands:
            tight = min(cands, key=lambda r: r.value)
        ref = by.get("a")
        for r in limits:
            if ref and ref.rate and r.value:
                pct = 100 * ref.rate / r.value
                r.vs = "(a) " + ("{:.0f} %".format(pct) if pct >= 1 else "{:.1f} %".format(pct)) + (" ← tightest" if r is tight else "")
            elif r is tight:
                r.vs = "tightest"
        if tight:
            notes.append("Tightest machine limit: %s, %s/s (PostgreSQL counts with its better figure; one request"
                         " to the scraper per decision in (a))%s." %
                         (tight.scenario.replace("limit: ", ""), fnum(tight.value),
                          "; runfleet (a) runs at {:.0f} % of it".format(100 * ref.rate / tight.value)
                          if ref and ref.rate else ""))
    for r in rows:
        if r.res and not r.res.get("complete", True):
            notes.append("%s did not finish within its time limit (%s of %s recorded)." %
                         (r.scenario, fnum(r.get("succeeded")), fnum(r.get("decisions"))))
        if r.engine != "limit" and not r.res:
            notes.append("%s produced no result; see the log." % r.scenario)
        if r.get("rebalances_during_run"):
            notes.append("%s: the consumer group rebalanced %d times during the measurement." %
                         (r.scenario, r.get("rebalances_during_run")))
        used = r.get("workers_used")
        if r.engine == "runfleet" and used is not None and used < r.get("workers"):
            notes.append("%s: only %d of the %d workers executed anything." % (r.scenario, used, r.get("workers")))
        off, got = r.res.get("offered_rate"), r.get("achieved_offer_rate")
        if off and got and got < 0.95 * off:
            notes.append("%s: the producer loop offered only %s/s of the %s/s asked (%s), so the workers saw"
                         " less load than asked." % (r.scenario, fnum(got), fnum(off),
                                                     "rf_store_insert_decision + rf_store_publish: two synchronous"
                                                     " round trips per decision" if r.res.get("offered_by") ==
                                                     "rf_store" else "one INSERT per batch"))

    load_after = load1()
    elapsed = time.time() - started
    table = markdown_table(rows)
    kafka = ("one Kafka broker (topics with replication factor 1)" if args.brokers == 1 else
             "a %d-node Kafka cluster (topics with replication factor %d, min.insync.replicas %d; producers acks=all)"
             % (args.brokers, min(3, args.brokers), max(1, min(3, args.brokers) - 1)))
    machine_line = ("%d cores (%s), %.1f GiB memory, Linux %s %s; %s, PostgreSQL (fsync on), the fake scraper,"
                    " the workers and the baselines all on this one machine" %
                    (info["cores"], info.get("cpu", "?"), info.get("memory_gib", 0), info["kernel"], info["arch"],
                     kafka))
    md = [
        "# runfleet benchmarks, %s (%s run)" % (stamp.strftime("%Y-%m-%d %H:%M UTC"), mode),
        "",
        "- Machine: " + machine_line + ".",
        "- Load average (1 min) before / after: %.1f / %.1f%s." % (
            load_before, load_after,
            " — the machine was busy with other work, so the figures are noisy" if max(load_before, load_after) > 1.5
            else ""),
        "- Commit %s; build %s; bench/run took %d min %02d s." % (
            info["commit"], os.path.relpath(os.path.abspath(args.build), ROOT), elapsed // 60, elapsed % 60),
        "",
    ]
    if rows:
        md += [table, ""]
    scale_md = []
    if scale:
        scale_md += ["## Scale-up 3 → 6 workers under load", "",
               "| group protocol | longest pause of a partition | longest pause of the topic | before the join"
               " (partition / topic) | decisions | all 6 assigned |",
               "|---|---|---|---|---|---|"]
        for proto, r in scale:
            g = lambda k: r.get(k) if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) else None
            scale_md.append("| %s | %s ms | %s ms | %s / %s ms | %s of %s SUCCEEDED | %s |" % (
                {"classic": "classic (cooperative-sticky)", "consumer": "consumer (KIP-848)"}[proto],
                fnum(g("stall_partition_ms")), fnum(g("stall_topic_ms")), fnum(g("before_partition_ms")),
                fnum(g("before_topic_ms")), fnum(g("succeeded")), fnum(g("offered")),
                "yes" if r.get("all_six_assigned") else "no"))
        scale_md += ["", "- Scale-up: three workers take %s decisions/s spread over the 6 partitions (1 zero-latency"
               " scraper each) for %d s, then three more join at once while the load goes on for 15 s. A"
               " partition's pause is the longest gap between two execution starts on it that ended after the"
               " join (a moved partition waits for its revocation, its last commit and its new owner); the"
               " topic's, the same over all partitions. 'Before' is the same measure over the %d s before the"
               " join: the gaps the load itself leaves." % (fnum(P["scale_rate"]), P["scale_secs"],
                                                           P["scale_secs"])]
    md += ["- " + n for n in notes]
    md += [] if not rows else [
        "- Wall time: first execution started → last finished, by PostgreSQL's clock."
        " decisions/s = succeeded ÷ wall time. (a) is the run of median rate among the runs its"
        " configuration names (the range is there too); (e) 3 workers is that same run. One run of (a)"
        " before all scenarios warms the services up and is not counted.",
        "- (a), (b), (d), (e) and the baselines work off a backlog: runfleet's workers start, settle on the"
        " topic's 6 partitions, are frozen (SIGSTOP) while the decisions are recorded and produced (1–2 s,"
        " under the 6 s session timeout), then released together, so the figures are for a settled consumer"
        " group (its join time is in the CSV, settle_s); the baselines find the decisions in the table."
        " Their latency would be queueing time: shown as —. (c) offers decisions while the workers run;"
        " latency is from each message's Kafka timestamp (when the producer handed it to librdkafka) to"
        " executions.started_at / finished_at.",
        "- Peak RSS: VmHWM of the largest worker. CPU s / 1,000: utime + stime of all worker processes"
        " (from /proc just before they are stopped, start-up and idle polling included) per 1,000 decisions;"
        " for a baseline, of its Python process (getrusage), interpreter start-up included, which dominates"
        " the small samples of (b).",
        "- Baselines: bench/baseline/original.py, the original design in Python: one process walks the"
        " pending RUN decisions of the table, records an execution, calls the scrapers one after the other"
        " (requests, keep-alive session) and records the outcome; the second one hands the same loop to"
        " ThreadPoolExecutor(max_workers=3). They run on a sample; their wall time is extrapolated to the"
        " scenario's count. 'runfleet vs. this' is runfleet's decisions/s ÷ the baseline's.",
        "- Limits: what this machine does for the same work without runfleet, measured in the same run."
        " 'runfleet vs. this' is (a)'s decisions/s as a share of the limit. The PostgreSQL figures include"
        " recording the decision (the producer's INSERT), which in (a) happened before the measured interval."
        " The Kafka figures count messages (one per decision); the scraper's, requests (one per decision in (a)).",
    ]
    if scale_md:
        md += [""] + scale_md
    if grown:
        md += [""] + grown_md(grown)
    if evaluator:
        md += [""] + evaluator_md(evaluator)
    if history:
        md += [""] + history_md(history)
    text = "\n".join(md) + "\n"

    os.makedirs(args.results, exist_ok=True)
    base = os.path.join(args.results, stamp.strftime("%Y-%m-%d-%H%M") + "-" + mode)
    with open(base + ".md", "w") as f:
        f.write(text)
    fields = ["date", "mode", "id", "scenario", "configuration", "engine", "decisions", "nominal_decisions",
              "complete", "failed", "wall_s", "wall_s_extrapolated", "startup_s", "settle_s", "frozen_s",
              "rebalances_during_run", "decisions_per_s",
              "p2s_p50_ms", "p2s_p99_ms", "e2e_p50_ms", "e2e_p99_ms", "latency_from", "peak_rss_mb", "cpu_s",
              "cpu_s_per_1000", "workers", "workers_used", "most_in_flight", "offered_rate", "achieved_offer_rate", "runfleet_vs_this",
              "cores", "memory_gib", "load_before", "load_after", "commit", "kafka_brokers"]
    with open(base + ".csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for r in rows:
            g = r.get
            rss = g("rss_kb")
            w.writerow([stamp.isoformat(timespec="seconds"), mode, r.id, r.scenario, r.config, r.engine,
                        g("succeeded"), r.nominal or g("succeeded"), r.res.get("complete", ""), g("failed"),
                        g("wall_s"), r.wall_extrapolated(), g("startup_s"), g("settle_s"), g("frozen_s"),
                        g("rebalances_during_run"), r.rate,
                        *(None if r.res.get("backlog", True) else g(k)
                          for k in ("p2s_p50_ms", "p2s_p99_ms", "e2e_p50_ms", "e2e_p99_ms")),
                        r.res.get("latency_from", ""), rss / 1024 if rss else None, g("cpu_s"),
                        g("cpu_s_per_1000"), g("workers"), g("workers_used"), g("most_in_flight"), g("offered_rate"), g("achieved_offer_rate"),
                        r.vs, info["cores"], round(info.get("memory_gib", 0), 1), load_before, load_after,
                        info["commit"], args.brokers])
    if evaluator:
        plot_evaluator(evaluator, base + "-g.png")
    if grown:
        plot_grown(grown, base + "-f.png")
    print(text)
    log("wrote %s.md and %s.csv" % (os.path.relpath(base, ROOT), os.path.relpath(base, ROOT)))
    if args.docs:
        update_docs(base + ".md")


if __name__ == "__main__":
    main()
