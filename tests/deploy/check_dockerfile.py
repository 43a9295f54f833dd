#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks the Dockerfile and .dockerignore by reading them (no Docker
engine here, so the image is not built):

- two stages: build on debian:bookworm, run on debian:bookworm-slim;
- the build stage installs every -dev package scripts/install-deps lists,
  and the build tools, except librdkafka-dev: it runs
  scripts/build-librdkafka (and installs that script's build dependencies);
  it builds and copies the four programs, whose targets exist in this meson
  build, and librdkafka.so.1;
- the runtime stage installs a package for every shared library the built
  programs and the copied librdkafka.so.1 link (readelf -d, dpkg-query -S on this Debian 12 machine, the
  same release as the image), and no -dev package;
- every package named exists in this machine's apt lists (when it has any);
- a numeric non-root USER, a HEALTHCHECK on /healthz at RUNFLEET_HTTP_PORT,
  which the image sets, listens for on 0.0.0.0, and EXPOSEs;
- .dockerignore keeps build trees and local state out of the context but
  nothing the build needs (every meson.build, C source, schema).
"""
import glob
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as dl  # noqa: E402

c = dl.Checks("dockerfile")
for tool in ("readelf", "dpkg-query"):
    if not shutil.which(tool):
        dl.missing("%s not found" % tool)

text = open(dl.path("Dockerfile")).read()
lines = [ln.strip() for ln in re.sub(r"\\\n", " ", text).splitlines()]
lines = [ln for ln in lines if ln and not ln.startswith("#")]

# ------------------------------------------------------------ stages
args = {}
stages = []   # [(from, [instructions])]
for ln in lines:
    word, _, rest = ln.partition(" ")
    word = word.upper()
    if word == "ARG" and not stages:
        k, _, v = rest.partition("=")
        args[k.strip()] = v.strip()
    elif word == "FROM":
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), rest.split()[0])
        stages.append((image, []))
    elif stages:
        stages[-1][1].append((word, rest))
c.equal([s[0] for s in stages], ["debian:bookworm", "debian:bookworm-slim"], "Dockerfile stages")
if len(stages) != 2:
    c.finish()
build, runtime = stages[0][1], stages[1][1]


def apt_packages(instrs):
    pkgs = []
    for word, rest in instrs:
        if word != "RUN":
            continue
        for part in re.split(r"&&|;|\|\|", rest):
            toks = part.split()
            if "apt-get" in toks and "install" in toks:
                pkgs += [t for t in toks[toks.index("install") + 1:] if not t.startswith("-")]
    return pkgs


build_pkgs, run_pkgs = apt_packages(build), apt_packages(runtime)

# ------------------------------------------------------------ build stage
src = open(os.path.join(dl.SRC, "scripts", "install-deps")).read()
m = re.search(r"^PACKAGES=\((.*?)^\)", src, re.S | re.M)
listed = re.findall(r'[^\s"]+', re.sub(r"#[^\n]*", "", m.group(1))) if m else []
dev = [p for p in listed if p.endswith("-dev")]
c.check(dev, "no -dev packages found in scripts/install-deps")
# librdkafka: Debian 12's is too old, so the build stage runs
# scripts/build-librdkafka (as install-deps does) instead of installing
# librdkafka-dev, and installs that script's build dependencies.
run_text = " ".join(rest for w, rest in build if w == "RUN")
builds_rdkafka = "scripts/build-librdkafka" in run_text
c.check(builds_rdkafka, "the build stage does not run scripts/build-librdkafka (a current librdkafka)")
if builds_rdkafka:
    c.check(any(w == "COPY" and "scripts/build-librdkafka" in rest for w, rest in build),
            "the build stage runs scripts/build-librdkafka without copying it in first")
    bl = open(os.path.join(dl.SRC, "scripts", "build-librdkafka")).read()
    m = re.search(r"^build_deps=\((.*?)\)", bl, re.S | re.M)
    for p in (m.group(1).split() if m else []):
        c.check(p in build_pkgs, "build stage does not install %s (scripts/build-librdkafka needs it)" % p)
    c.check("librdkafka-dev" not in build_pkgs,
            "build stage installs librdkafka-dev (Debian's old one) besides building librdkafka")
for p in [d for d in dev if not (builds_rdkafka and d == "librdkafka-dev")] + ["pkg-config", "meson", "ninja-build",
                                                                              "python3"]:
    c.check(p in build_pkgs, "build stage does not install %s (scripts/install-deps has it)" % p)

programs = {"producer/runfleet-producer", "worker/runfleet-worker", "reaper/runfleet-reaper",
            "tests/fake-scraper/runfleet-fake-scraper"}
copied = set(re.findall(r"/build/([\w/.-]+/runfleet-[\w-]+)", run_text))
c.equal(copied, programs, "programs copied out of the build stage")
compiled = re.search(r"meson compile -C /build ([\w\s-]+?)(?:&&|$)", run_text)
c.check(compiled and set(compiled.group(1).split()) == {os.path.basename(p) for p in programs},
        "the build stage compiles exactly the four programs (meson compile ... names)")
for p in sorted(programs):
    c.check(os.access(os.path.join(dl.BUILD, p), os.X_OK), "meson builds no %s (in %s)" % (p, dl.BUILD))

# ------------------------------------------------------------ runtime libraries
c.check(not [p for p in run_pkgs if p.endswith("-dev")], "runtime stage installs -dev packages: %s" % run_pkgs)
for p in ("ca-certificates", "tzdata"):
    c.check(p in run_pkgs, "runtime stage does not install %s" % p)
needed = set()
for p in sorted(programs):
    exe = os.path.join(dl.BUILD, p)
    if os.access(exe, os.X_OK):
        out = subprocess.run(["readelf", "-d", exe], capture_output=True, text=True).stdout
        needed.update(re.findall(r"Shared library: \[([^\]]+)\]", out))
c.check(needed, "no shared libraries found in the built programs")
# librdkafka.so.1 is the build stage's own (copied, not a package): what it
# links must be installed instead; the one built on this machine by the same
# script tells which libraries that is
copies_rdkafka = any(w == "COPY" and "--from=build" in rest for w, rest in runtime) and \
    re.search(r"cp [^&]*librdkafka\.so\.1", run_text)
if builds_rdkafka:
    c.check(copies_rdkafka, "the build stage's librdkafka.so.1 is not copied into the runtime stage")
if builds_rdkafka and copies_rdkafka and "librdkafka.so.1" in needed:
    needed.discard("librdkafka.so.1")
    libdir = subprocess.run(["pkg-config", "--variable=libdir", "rdkafka"], capture_output=True,
                            text=True).stdout.strip()
    lib = os.path.join(libdir, "librdkafka.so.1")
    if c.check(libdir and os.path.exists(lib), "no librdkafka.so.1 found through pkg-config (%r)" % libdir):
        out = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True).stdout
        needed.update(re.findall(r"Shared library: \[([^\]]+)\]", out))
base = {"libc6"}  # in every Debian image
for lib in sorted(needed):
    r = subprocess.run(["dpkg-query", "-S", "*/" + lib], capture_output=True, text=True)
    owners = set()
    for line in r.stdout.splitlines():
        pkg, _, p = line.partition(": ")
        if re.search(r"/(usr/)?lib/[^/]*linux-gnu/", p):
            owners.update(x.split(":")[0] for x in pkg.split(", "))
    if not c.check(owners, "%s: no Debian package found for it" % lib):
        continue
    c.check(owners & (set(run_pkgs) | base), "%s (package %s) is not installed in the runtime stage"
            % (lib, "/".join(sorted(owners))))

# ------------------------------------------------------------ apt candidates
if glob.glob("/var/lib/apt/lists/*_Packages*") and shutil.which("apt-cache"):
    pkgs = sorted(set(build_pkgs + run_pkgs))
    out = subprocess.run(["apt-cache", "policy"] + pkgs, capture_output=True, text=True).stdout
    cand = dict(re.findall(r"^(\S+):\n(?:.*\n)*?\s+Candidate: (\S+)", out, re.M))
    for p in pkgs:
        c.check(cand.get(p, "(none)") != "(none)", "apt knows no package %s" % p)
else:
    print("note: no apt lists on this machine; package names were not looked up")

# ------------------------------------------------------------ runtime settings
words = [w for w, _ in runtime]
env = dl.dockerfile_runtime_env()
user = [rest for w, rest in runtime if w == "USER"]
c.check(user and re.fullmatch(r"[1-9]\d*(:\d+)?", user[-1].strip()),
        "USER must be a numeric non-root uid (runAsNonRoot can only verify a number): %s" % user)
port = env.get("RUNFLEET_HTTP_PORT", "")
c.check(port.isdigit() and port != "0", "ENV RUNFLEET_HTTP_PORT must be a port: %r" % port)
c.equal(env.get("RUNFLEET_HTTP_LISTEN"), "0.0.0.0", "ENV RUNFLEET_HTTP_LISTEN")
c.check(env.get("RUNFLEET_CONFIG", "").startswith("/"), "ENV RUNFLEET_CONFIG must name the mounted file")
expose = " ".join(rest for w, rest in runtime if w == "EXPOSE").split()
c.check(port in [e.split("/")[0] for e in expose], "EXPOSE %s does not include RUNFLEET_HTTP_PORT %s"
        % (expose, port))
hc = [rest for w, rest in runtime if w == "HEALTHCHECK"]
c.check(hc and "/healthz" in hc[-1] and ("${RUNFLEET_HTTP_PORT}" in hc[-1] or ":%s/" % port in hc[-1]),
        "HEALTHCHECK must probe /healthz on RUNFLEET_HTTP_PORT: %s" % hc)
if hc and "curl" in hc[-1]:
    c.check("curl" in run_pkgs, "HEALTHCHECK uses curl, which the runtime stage does not install")
c.check("CMD" in words or "ENTRYPOINT" in words, "no CMD or ENTRYPOINT")
c.check(any(w == "COPY" and "--from=build" in rest for w, rest in runtime), "runtime stage copies nothing from build")

# ------------------------------------------------------------ .dockerignore
patterns = []
di = dl.path(".dockerignore")
if c.check(os.path.isfile(di), ".dockerignore missing"):
    for ln in open(di).read().splitlines():
        ln = ln.strip()
        if ln and not ln.startswith("#"):
            neg = ln.startswith("!")
            pat = ln[1:] if neg else ln
            rx = re.escape(pat.strip("/")).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
            rx = rx.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
            patterns.append((neg, re.compile(rx + "$")))


def ignored(rel):
    parts = rel.split("/")
    out = False
    for neg, rx in patterns:
        if any(rx.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            out = not neg
    return out


for rel in ("build/x", "build-asan/x", ".runfleet/venv/x", ".git/HEAD", "kafka/lib/x.jar", "registry/app/quarkus-run.jar",
            "registry/jdk/bin/python"):
    c.check(ignored(rel), ".dockerignore does not exclude %s" % rel.split("/")[0])
r = subprocess.run(["git", "-C", dl.SRC, "ls-files", "--cached", "--others", "--exclude-standard"],
                   capture_output=True, text=True)
files = r.stdout.split() if r.returncode == 0 else []
need = [f for f in files if os.path.basename(f) in ("meson.build", "meson_options.txt")
        or f.endswith((".c", ".h", ".py", ".avsc", ".sql"))] + ["config/runfleet.example.cfg"]
bad = [f for f in need if ignored(f)]
c.check(files and not bad, ".dockerignore excludes files the build needs: %s" % bad[:10])

c.finish()
