# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the deploy test suite (tests/deploy/check_*.py).

Paths: RUNFLEET_DEPLOY_ROOT is the tree whose deployment files are checked
(Dockerfile, docker-compose.yml, deploy/, config/runfleet.example.cfg,
tests/deploy/alerts_test.yml); it defaults to the source tree, and
mutations.py points it at a broken copy. RUNFLEET_SOURCE_ROOT is the
source tree (C sources, scripts/), RUNFLEET_BUILD_ROOT the meson build
directory (its runfleet-worker reads configuration files for us).

Exit codes: 0 pass, 1 fail, 77 skip (a tool is missing). With
RUNFLEET_REQUIRE_SERVICES=1 a missing tool fails instead of skipping.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.environ.get("RUNFLEET_SOURCE_ROOT") or os.path.join(HERE, "..", ".."))
ROOT = os.path.abspath(os.environ.get("RUNFLEET_DEPLOY_ROOT") or SRC)
BUILD = os.environ.get("RUNFLEET_BUILD_ROOT") or os.path.join(SRC, "build")


def path(*parts):
    """A path in the checked tree."""
    return os.path.join(ROOT, *parts)


def missing(what):
    """A needed tool is missing: skip (77), or fail when services are required."""
    if os.environ.get("RUNFLEET_REQUIRE_SERVICES") == "1":
        print("FAIL: %s (RUNFLEET_REQUIRE_SERVICES=1; run scripts/install-deps)" % what)
        sys.exit(1)
    print("SKIP: %s (run scripts/install-deps)" % what)
    sys.exit(77)


def need_module(name, what=None):
    try:
        return __import__(name)
    except ImportError:
        missing("Python module %s not importable by %s%s" % (name, sys.executable,
                                                              " (%s)" % what if what else ""))


def venv_bin(name):
    """An executable of the deploy suite's venv (tests/deploy/setup-venv), or None."""
    state = os.environ.get("RUNFLEET_STATE_DIR") or os.path.join(SRC, ".runfleet")
    venv = os.environ.get("RUNFLEET_VENV") or os.path.join(state, "venv")
    for cand in (os.path.join(venv, "bin", name), os.path.join(os.path.dirname(sys.executable), name)):
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which(name)


class Checks:
    """Collects named checks; finish() prints a summary and exits."""

    def __init__(self, name):
        self.name = name
        self.failed = []
        self.count = 0

    def check(self, cond, msg):
        self.count += 1
        if not cond:
            self.failed.append(msg)
            print("FAIL: " + msg)
        return bool(cond)

    def equal(self, got, want, what):
        return self.check(got == want, "%s: %r, expected %r" % (what, got, want))

    def finish(self):
        print("%s: %d checks, %d failed" % (self.name, self.count, len(self.failed)))
        sys.exit(1 if self.failed else 0)


def load_yaml_docs(p):
    yaml = need_module("yaml")
    with open(p) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_yaml(p):
    docs = load_yaml_docs(p)
    return docs[0] if docs else {}


# --------------------------------------------------------------- libconfig
# A parser for the subset of libconfig that `--print-config` writes (and
# that hand-written files without @include use): groups, lists, arrays,
# strings, integers, floats and booleans.
_TOKEN = re.compile(r'''
    (?P<ws>\s+|\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>[-+]?(?:0[xX][0-9a-fA-F]+|\d+\.\d*(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)L{0,2})
  | (?P<name>[A-Za-z*][-A-Za-z0-9_*]*)
  | (?P<punct>[=:;,{}()\[\]])
''', re.S | re.X)


def _tokens(text):
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError("libconfig: cannot read at %r" % text[pos:pos + 30])
        pos = m.end()
        if m.lastgroup != "ws":
            yield m.lastgroup, m.group(m.lastgroup)


def parse_libconfig(text):
    toks = list(_tokens(text)) + [("eof", None)]
    i = 0

    def peek():
        return toks[i]

    def take(kind=None, value=None):
        nonlocal i
        t = toks[i]
        if (kind and t[0] != kind) or (value and t[1] != value):
            raise ValueError("libconfig: expected %s, got %r" % (value or kind, t[1]))
        i += 1
        return t

    def value():
        kind, v = peek()
        if kind == "str":
            s = ""
            while peek()[0] == "str":  # adjacent strings concatenate
                s += bytes(take()[1][1:-1], "utf-8").decode("unicode_escape")
            return s
        if kind == "num":
            take()
            v = v.rstrip("L")
            return float(v) if re.search(r"[.eE]", v) and not v.lower().startswith("0x") else int(v, 0)
        if kind == "name" and v.lower() in ("true", "false"):
            take()
            return v.lower() == "true"
        if v == "{":
            take()
            g = settings("}")
            take(value="}")
            return g
        if v in ("(", "["):
            close = ")" if v == "(" else "]"
            take()
            items = []
            while peek()[1] != close:
                items.append(value())
                if peek()[1] == ",":
                    take()
            take(value=close)
            return items
        raise ValueError("libconfig: unexpected %r" % v)

    def settings(end):
        g = {}
        while peek()[1] != end and peek()[0] != "eof":
            name = take("name")[1]
            if peek()[1] not in ("=", ":"):
                raise ValueError("libconfig: expected = after %s" % name)
            take()
            g[name] = value()
            if peek()[1] in (";", ","):
                take()
        return g

    return settings(None)


BENCH_BEGIN = "<!-- begin: written by bench/run --docs"
BENCH_END = "<!-- end: written by bench/run --docs -->"


def bench_block(text):
    """The block of docs/benchmarks.md (its text) that bench/run --docs writes, or None."""
    if BENCH_BEGIN not in text or BENCH_END not in text:
        return None
    return text.split(BENCH_BEGIN, 1)[1].split(BENCH_END, 1)[0]


def bench_rate(block):
    """The decisions/s of (a) as the block has it ("10,389"), or None."""
    m = re.search(r"^\| \(a\) throughput \|[^|]*\|[^|]*\|[^|]*\| ([\d,]+) \|", block, re.M)
    return m.group(1) if m else None


def worker_exe():
    exe = os.path.join(BUILD, "worker", "runfleet-worker")
    if not os.access(exe, os.X_OK):
        missing("%s not built (ninja -C %s)" % (exe, BUILD))
    return exe


def effective_config(cfg_file, env):
    """The configuration a program sees with @p cfg_file and exactly the
    environment @p env (nothing inherited from this process): runs
    `runfleet-worker -c FILE --print-config` and parses its output.
    Returns (config dict, None) or (None, error text)."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    clean.update({k: str(v) for k, v in env.items() if k != "RUNFLEET_CONFIG"})
    r = subprocess.run([worker_exe(), "-c", cfg_file, "--print-config"], env=clean,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return None, (r.stderr or r.stdout).strip()
    try:
        return parse_libconfig(r.stdout), None
    except ValueError as e:
        return None, "cannot parse --print-config output: %s" % e


def tempdir():
    return tempfile.mkdtemp(prefix="runfleet-deploy-")


# --------------------------------------------------------------- compose
_INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value, env=None):
    """Compose's ${VAR}, ${VAR:-default} and ${VAR-default}, with the
    defaults (the variables unset unless @p env gives them)."""
    env = env or {}

    def repl(m):
        name = m.group(1) or m.group(4)
        op, default = m.group(2), m.group(3)
        if name in env and (env[name] != "" or op != ":-"):
            return env[name]
        return default if op in (":-", "-") else ""

    if isinstance(value, str):
        return _INTERP.sub(repl, value.replace("$$", "\0")).replace("\0", "$")
    return value


def compose_env(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: interpolate("" if v is None else str(v)) for k, v in env.items()}


def dockerfile_runtime_env():
    """ENV of the Dockerfile's last stage (the runtime image)."""
    env = {}
    text = open(path("Dockerfile")).read().replace("\\\n", " ")
    for line in text.splitlines():
        s = line.strip()
        if s.upper().startswith("FROM "):
            env = {}
        elif s.upper().startswith("ENV "):
            body = s[4:].strip()
            pairs = re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)', body)
            if pairs:
                for k, v in pairs:
                    env[k] = v[1:-1] if v.startswith('"') else v
            else:
                k, _, v = body.partition(" ")
                env[k] = v.strip()
    return env
