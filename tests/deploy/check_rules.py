#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks deploy/prometheus with promtool (Debian package prometheus):

- `promtool check rules deploy/prometheus/alerts.yml`
- `promtool test rules tests/deploy/alerts_test.yml`: each alert fires on
  the failure it is for and stays silent on a healthy fleet
- `promtool check config deploy/prometheus/prometheus.yml` (the compose
  profile's configuration, which loads the rules)
- every runfleet_* metric an expression uses is one the programs register
  (a string literal in common/, producer/, worker/ or reaper/), so a
  renamed metric cannot leave an alert that never fires
- every alert has a unit test
"""
import glob
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as dl  # noqa: E402

c = dl.Checks("alert_rules")
promtool = shutil.which("promtool")
if not promtool:
    dl.missing("promtool not found (Debian package prometheus)")

rules = dl.path("deploy", "prometheus", "alerts.yml")
tests = dl.path("tests", "deploy", "alerts_test.yml")
config = dl.path("deploy", "prometheus", "prometheus.yml")
for args in (["check", "rules", rules], ["test", "rules", tests], ["check", "config", config]):
    r = subprocess.run([promtool] + args, capture_output=True, text=True, timeout=300)
    c.check(r.returncode == 0, "promtool %s:\n%s" % (" ".join(args[:2]), (r.stdout + r.stderr).strip()))

# metric names used by the rules exist in the programs
known = set()
for d in ("common", "producer", "worker", "reaper"):
    for f in glob.glob(os.path.join(dl.SRC, d, "*.c")):
        known.update(re.findall(r'"(runfleet_[a-z0-9_]+)"', open(f, errors="replace").read()))
doc = dl.load_yaml(rules)
alerts = []
for group in doc.get("groups") or []:
    for rule in group.get("rules") or []:
        if "alert" in rule:
            alerts.append(rule["alert"])
        for name in set(re.findall(r"\b(runfleet_[a-z0-9_]+)", rule.get("expr", ""))):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            c.check(name in known or base in known, "%s: metric %s is not exported by any program"
                    % (rule.get("alert") or rule.get("record"), name))
c.check(len(alerts) >= 5, "fewer alerts than expected: %s" % alerts)

# each alert has a test
tested = {t.get("alertname") for test in (dl.load_yaml(tests).get("tests") or [])
          for t in (test.get("alert_rule_test") or [])}
for a in alerts:
    c.check(a in tested, "alert %s has no test in tests/deploy/alerts_test.yml" % a)

c.finish()
