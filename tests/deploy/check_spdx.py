#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every source file git tracks names its license, as meson.build declares
it: a `SPDX-License-Identifier: <license>` line among its first three lines
(C and headers, Python, and scripts with a shell or Python #! line).
Migrations under schemas/sql/ are left alone (their text is checksummed
once applied), as are data files (fuzz corpora, bench results, vectors).
The check first runs on two files of its own making, one with the line and
one without, so a check that can no longer see a missing line fails.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as dl  # noqa: E402

SKIP = ("fuzz/corpus/", "bench/results/", "tests/vectors/", "schemas/sql/")


def declared_license():
    m = re.search(r"license\s*:\s*'([^']+)'", open(dl.path("meson.build")).read())
    return m.group(1) if m else None


def is_source(path):
    if path.startswith(SKIP) or not os.path.isfile(path):
        return False
    if path.endswith((".c", ".h", ".py")):
        return True
    with open(path, "rb") as f:
        first = f.readline()
    return first.startswith(b"#!") and (b"sh" in first or b"python" in first)


def lacks_tag(path, tag):
    with open(path, "rb") as f:
        head = [f.readline() for _ in range(3)]
    return not any(tag.encode() in line for line in head)


c = dl.Checks("spdx")
lic = declared_license()
c.check(lic is not None, "meson.build declares no license")
tag = "SPDX-License-Identifier: %s" % lic

with tempfile.TemporaryDirectory() as d:
    good, bad = os.path.join(d, "good.c"), os.path.join(d, "bad.c")
    open(good, "w").write("/* %s */\nint x;\n" % tag)
    open(bad, "w").write("/* nothing here */\nint x;\n")
    c.check(not lacks_tag(good, tag) and lacks_tag(bad, tag), "the check cannot tell a file without the line")

r = subprocess.run(["git", "-C", dl.SRC, "ls-files"], capture_output=True, text=True)
if r.returncode != 0:
    dl.missing("not a git checkout: %s" % r.stderr.strip())
os.chdir(dl.SRC)
files = [f for f in r.stdout.split() if is_source(f)]
c.check(len(files) > 100, "only %d source files found" % len(files))
missing = [f for f in files if lacks_tag(f, tag)]
c.check(not missing, "%d file(s) without '%s' in their first three lines: %s"
        % (len(missing), tag, ", ".join(missing[:20])))
c.finish()
