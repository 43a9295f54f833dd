#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every C file git tracks is formatted as .clang-format says, by
clang-format 14 (Debian 12's; another version lays some lines out
differently, so the check names the version it needs). The check first
formats a file of its own making that breaks the style, so a check that can
no longer see a badly formatted file fails. To mend: scripts/format.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as dl  # noqa: E402

TOOL = "clang-format-14"


def unformatted(tool, paths, cwd):
    """The files among @paths clang-format would change."""
    bad = []
    for i in range(0, len(paths), 50):
        chunk = paths[i:i + 50]
        r = subprocess.run([tool, "--dry-run", "--Werror", "--style=file"] + chunk,
                           cwd=cwd, capture_output=True, text=True)
        if r.returncode != 0:
            bad += sorted({line.split(":", 1)[0] for line in r.stderr.splitlines()
                           if ": error:" in line})
    return bad


c = dl.Checks("format")
tool = shutil.which(TOOL)
if tool is None:
    dl.missing("%s is not installed (scripts/install-deps installs it)" % TOOL)
c.check(os.path.isfile(dl.path(".clang-format")), ".clang-format is missing")

with tempfile.TemporaryDirectory() as d:
    shutil.copy(dl.path(".clang-format"), d)
    open(os.path.join(d, "bad.c"), "w").write("int f(int x){if(x)return 1;return 0;}\n")
    c.check(unformatted(tool, ["bad.c"], d) == ["bad.c"], "the check cannot tell a badly formatted file")

r = subprocess.run(["git", "-C", dl.SRC, "ls-files", "*.c", "*.h"], capture_output=True, text=True)
if r.returncode != 0:
    dl.missing("not a git checkout: %s" % r.stderr.strip())
files = [f for f in r.stdout.split() if os.path.isfile(os.path.join(dl.SRC, f))]
c.check(len(files) > 100, "only %d C files found" % len(files))
bad = unformatted(tool, files, dl.SRC)
c.check(not bad, "%d file(s) not formatted as .clang-format says (run scripts/format): %s"
        % (len(bad), ", ".join(bad[:20])))
c.finish()
