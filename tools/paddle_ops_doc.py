#!/usr/bin/python3
"""Rewrites the Paddle operator list in docs/paddle-models.md (between
<!-- paddle-ops:begin --> and <!-- paddle-ops:end -->) from the mapping
tables in src/engine/paddle_ops*.c, in registry order. The engine unit test
test_paddle_ops_doc checks the list against the live registry.

    tools/paddle_ops_doc.py
"""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src", "engine")
DOC = os.path.join(ROOT, "docs", "paddle-models.md")


def tables():
    reg = open(os.path.join(SRC, "paddle_ops.c")).read()
    block = reg[reg.index("} pd_tables[] = {"):]
    block = block[:block.index("};")]
    out = []
    for name, sym in re.findall(r'\{"(\w+)", (skiff__pd_ops_\w+)\}', block):
        src = open(os.path.join(SRC, name + ".c")).read()
        body = src[src.index("const skiff__pd_map %s[] = {" % sym):]
        body = body[:body.index("};")]
        out.append((name, re.findall(r'\.type = "(\w+)"', body)))
    return out


def block():
    lines = ["<!-- paddle-ops:begin -->", "| file | Paddle operators |", "|---|---|"]
    for name, ops in tables():
        lines.append("| %s.c | %s |" % (name, ", ".join("`%s`" % o for o in ops)))
    lines.append("<!-- paddle-ops:end -->")
    return "\n".join(lines)


def main():
    doc = open(DOC).read()
    b, e = doc.index("<!-- paddle-ops:begin -->"), doc.index("<!-- paddle-ops:end -->")
    doc = doc[:b] + block() + doc[e + len("<!-- paddle-ops:end -->"):]
    with open(DOC, "w") as f:
        f.write(doc)
    print("docs/paddle-models.md: %d operators" % sum(len(o) for _, o in tables()))


if __name__ == "__main__":
    main()
