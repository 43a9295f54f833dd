#!/usr/bin/env python3
"""Writes a C file holding the given files' bytes, so the programs carry
their Avro schemas and SQL migrations and need nothing installed beside them.

usage: embed.py OUTPUT.c FILE...
"""
import os
import sys


def c_literal(data: bytes) -> str:
    out = []
    for i in range(0, len(data), 16):
        out.append("        " + "".join("0x%02x, " % b for b in data[i:i + 16]))
    return "\n".join(out)


def main() -> int:
    output, inputs = sys.argv[1], sorted(sys.argv[2:], key=os.path.basename)
    parts = ['#include "rf_embedded.h"', ""]
    for i, path in enumerate(inputs):
        with open(path, "rb") as f:
            data = f.read()
        parts.append("static const unsigned char file_%d[] = {\n%s\n        0x00\n};" % (i, c_literal(data)))
    parts.append("")
    parts.append("const rf_embedded_file_t rf_embedded_files[] = {")
    for i, path in enumerate(inputs):
        size = os.path.getsize(path)
        parts.append('        { "%s", (const char *)file_%d, %d },' % (os.path.basename(path), i, size))
    parts.append("        { NULL, NULL, 0 },")
    parts.append("};")
    with open(output, "w") as f:
        f.write("\n".join(parts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
