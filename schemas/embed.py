#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes a C file holding the given files' bytes, so the programs carry
their Avro schemas and SQL migrations and need nothing installed beside them.
A file is named by its base name ("001_init.sql", "run_decision.v1.avsc"),
or by its path under schemas/sql/ when it lies in a folder there
("functions/begin_execution.sql", "views/runs.sql"). Each entry carries the
SHA-256 of its bytes, the checksum `migrate` records for a migration.

usage: embed.py OUTPUT.c FILE...
"""
import hashlib
import os
import sys

SQL_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), "sql")


def name_of(path: str) -> str:
    rel = os.path.relpath(os.path.realpath(path), SQL_DIR)
    if rel.startswith("..") or os.sep not in rel:
        return os.path.basename(path)
    return rel.replace(os.sep, "/")


def c_literal(data: bytes) -> str:
    out = []
    for i in range(0, len(data), 16):
        out.append("        " + "".join("0x%02x, " % b for b in data[i:i + 16]))
    return "\n".join(out)


def main() -> int:
    output, inputs = sys.argv[1], sorted(sys.argv[2:], key=name_of)
    parts = ['#include "rf_embedded.h"', ""]
    for i, path in enumerate(inputs):
        with open(path, "rb") as f:
            data = f.read()
        parts.append("static const unsigned char file_%d[] = {\n%s\n        0x00\n};" % (i, c_literal(data)))
    parts.append("")
    parts.append("const rf_embedded_file_t rf_embedded_files[] = {")
    for i, path in enumerate(inputs):
        with open(path, "rb") as f:
            data = f.read()
        parts.append('        { "%s", (const char *)file_%d, %d, "%s" },'
                     % (name_of(path), i, len(data), hashlib.sha256(data).hexdigest()))
    parts.append("        { NULL, NULL, 0, NULL },")
    parts.append("};")
    with open(output, "w") as f:
        f.write("\n".join(parts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
