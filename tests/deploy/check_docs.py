#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks the documentation against what it documents.

1. docs/configuration.md's settings table is what `scripts/gen-config-doc`
   generates from the built programs' configuration table (a setting
   added, renamed or changed in common/rf_conf.c and not regenerated fails).
2. README.md leads: under 200 lines, and links to every file of docs/.
3. Every relative link in README.md and docs/*.md names a file that
   exists, and every #anchor a heading of that file.
4. LICENSE is the license meson.build declares.
5. The benchmark figures live in one block of docs/benchmarks.md (written
   by bench/run --docs), and no other document copies its figures.
"""
import glob
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as dl  # noqa: E402

c = dl.Checks("docs")

# ------------------------------------------------ 1. the generated settings
gen = os.path.join(dl.SRC, "scripts", "gen-config-doc")
if not os.access(os.path.join(dl.BUILD, "worker", "runfleet-worker"), os.X_OK):
    dl.missing("runfleet-worker is not built in %s" % dl.BUILD)
r = subprocess.run([sys.executable, gen, "--check", "--build", dl.BUILD, "--doc", dl.path("docs", "configuration.md")],
                   capture_output=True, text=True, timeout=60)
c.check(r.returncode == 0, "docs/configuration.md differs from `scripts/gen-config-doc` (exit %d):\n%s%s"
        % (r.returncode, r.stdout[-3000:], r.stderr))

# ------------------------------------------------------- 2. a short README
readme = open(dl.path("README.md")).read()
n = readme.count("\n")
c.check(n < 200, "README.md has %d lines; it should lead to docs/, under 200" % n)
docs = sorted(glob.glob(dl.path("docs", "*.md")))
c.check(len(docs) >= 6, "docs/ has %d documents" % len(docs))
for d in docs:
    rel = "docs/" + os.path.basename(d)
    c.check("](%s" % rel in readme, "README.md does not link to %s" % rel)

# ------------------------------------------------------------- 3. links


def anchors(text):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to '-'."""
    out, in_code = set(), False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^#{1,6} (.*)", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


def strip_code(text):
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"`[^`\n]*`", "", text)


for f in [dl.path("README.md")] + docs:
    text = open(f).read()
    name = os.path.relpath(f, dl.ROOT)
    for target in re.findall(r"\]\(([^)\s]+)\)", strip_code(text)):
        if re.match(r"^[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(f), file_part)) if file_part else f
        if not os.path.exists(dest):
            # a file the mutations' copy of the tree leaves out (bench/results/)
            dest = os.path.join(dl.SRC, os.path.relpath(dest, dl.ROOT))
        if not c.check(os.path.exists(dest), "%s links to %s, which does not exist" % (name, target)):
            continue
        if anchor and dest.endswith(".md"):
            c.check(anchor in anchors(open(dest).read()),
                    "%s links to %s: no heading of %s has that anchor" % (name, target, os.path.relpath(dest, dl.ROOT)))

# ----------------------------------------------------------- 4. the license
meson = open(dl.path("meson.build")).read()
m = re.search(r"license\s*:\s*'([^']+)'", meson)
c.check(m is not None, "meson.build declares no license")
lic = open(dl.path("LICENSE")).read() if os.path.exists(dl.path("LICENSE")) else ""
if m and m.group(1) == "Apache-2.0":
    c.check("Apache License" in lic and "Version 2.0, January 2004" in lic
            and "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in lic,
            "LICENSE is not the Apache License 2.0 that meson.build declares")
elif m:
    c.check(False, "meson.build declares %s: teach check_docs.py its text" % m.group(1))

# ---------------------------------------------------- 5. figures in one place
bench = open(dl.path("docs", "benchmarks.md")).read()
block = dl.bench_block(bench)
if c.check(block is not None, "docs/benchmarks.md has no block written by bench/run --docs"):
    c.check("| (a) throughput |" in block, "the bench/run block of docs/benchmarks.md has no results table")
    # the decisions/s of (a), as the block has it: no other document may repeat it
    rate = dl.bench_rate(block)
    if c.check(rate is not None, "no (a) decisions/s in the bench/run block"):
        for f in [dl.path("README.md")] + docs:
            text = open(f).read()
            if f.endswith("benchmarks.md"):
                text = text.replace(block, "")
            c.check(rate not in text, "%s copies the benchmark figure %s; link to docs/benchmarks.md instead"
                    % (os.path.relpath(f, dl.ROOT), rate))

c.finish()
