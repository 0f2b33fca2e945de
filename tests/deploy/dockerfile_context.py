#!/usr/bin/python3
"""deploy/Dockerfile's build stage copies only what the binary's build reads, so
that edits to docs or tests keep its compile step cached. This checks that the
list is complete, without podman: the paths of the build stage's COPY lines
(each also let through by .dockerignore) are copied into an empty directory,
configured as the Dockerfile configures them (Release, tests off), and the
`skiff` target is dry-run by make (-n -k), which names every source file a rule
needs and the copy lacks (as a new CMake step reading a file outside the list
would).

    dockerfile_context.py [--repo DIR]
"""
import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def build_stage_copies(dockerfile):
    """The local sources of COPY lines before the second FROM (the runtime stage)."""
    srcs, froms = [], 0
    with open(dockerfile) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            if words[0].upper() == "FROM":
                froms += 1
                if froms > 1:
                    break
            elif words[0].upper() == "COPY" and not any(w.startswith("--from") for w in words):
                srcs += [w for w in words[1:-1] if not w.startswith("--")]
    return srcs


def let_through(repo, path):
    """Whether .dockerignore (a '*' then '!path' allowlist) keeps path in the context."""
    rules = []
    with open(os.path.join(repo, ".dockerignore")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                rules.append(line)
    keep = True
    for r in rules:
        neg = r.startswith("!")
        pat = r[1:] if neg else r
        if fnmatch.fnmatch(path, pat) or path.startswith(pat.rstrip("/") + "/"):
            keep = neg
    return keep


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(HERE)))
    args = ap.parse_args()
    srcs = build_stage_copies(os.path.join(args.repo, "deploy", "Dockerfile"))
    if not srcs:
        print("FAIL: no COPY lines found in the build stage")
        return 1
    work = tempfile.mkdtemp(prefix="skiff-dockerctx-")
    try:
        ctx = os.path.join(work, "src")
        os.makedirs(ctx)
        for s in srcs:
            if not let_through(args.repo, s):
                print("FAIL: COPY %s, but .dockerignore leaves it out of the context" % s)
                return 1
            src, dst = os.path.join(args.repo, s), os.path.join(ctx, s)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("models", "__pycache__"))
            else:
                shutil.copy2(src, dst)
        b = os.path.join(work, "build")
        r = subprocess.run(["cmake", "-S", ctx, "-B", b, "-DCMAKE_BUILD_TYPE=Release",
                            "-DSKIFF_TESTS=OFF"], capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL: cmake configure of the build stage's files:\n" + r.stderr[-3000:])
            return 1
        # -n -k: plan every rule, keep going; a rule needing a source the copy lacks
        # says "No rule to make target '<path in the copy>'" (build products missing
        # from a dry run name paths in the build tree: not counted)
        r = subprocess.run(["cmake", "--build", b, "--target", "skiff", "--", "-n", "-k"],
                           capture_output=True, text=True)
        missing = sorted({ln.split("'")[1] for ln in (r.stdout + r.stderr).splitlines()
                          if "No rule to make target '" in ln and
                          ln.split("'")[1].startswith(ctx + os.sep)})
        if missing:
            print("FAIL: the skiff target needs files the build stage does not copy: " +
                  ", ".join(os.path.relpath(m, ctx) for m in missing))
            return 1
        print("ok: the build stage's %d COPY paths (%s) configure and plan the skiff target"
              % (len(srcs), ", ".join(srcs)))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
