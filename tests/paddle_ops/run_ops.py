#!/usr/bin/python3
"""Paddle op tests: each case builds a small Paddle program with pdprog.py,
computes the expected outputs with numpy (Paddle's semantics written out in
the case), runs the program with `skiff run` and compares.

    run_ops.py --skiff build/skiff cases_basic [cases_detect ...] [-k NAME]

A case module holds functions named case_*; each returns a Case (None:
skipped, the files it needs are not here). A case
either expects outputs (compared by shape and values) or an error at load
(a substring of skiff's message).
"""
import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pdprog  # noqa: E402


class Case:
    def __init__(self, prog, inputs, expect=None, rtol=1e-5, atol=1e-5, error=None,
                 combined=False, check=None, args=()):
        """prog: pdprog.Prog; inputs: {name: array}; expect: {name: array};
        error: expected message substring (load or run fails); combined:
        write combined params; check: fn(outputs) -> message or None for
        outputs not compared by value; args: extra skiff run arguments."""
        self.prog, self.inputs, self.expect = prog, inputs, expect or {}
        self.rtol, self.atol, self.error = rtol, atol, error
        self.combined, self.check, self.args = combined, check, list(args)


class ModelDir:
    """A model directory on disk used as it is (in place of a Prog)."""

    def __init__(self, path):
        self.path = path

    def write(self, d, combined=False):
        return self.path


SHARED_MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "shared", "paddle-models")


def rng(seed=0):
    return np.random.default_rng(seed)


def run_case(skiff, name, case, work):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    model = case.prog.write(os.path.join(d, "model"), combined=case.combined)
    cmd = [skiff, "run", model, "--quiet", "--output-dir", os.path.join(d, "out")] + case.args
    for k, v in case.inputs.items():
        p = os.path.join(d, k.replace("/", "_") + ".npy")
        np.save(p, v)
        cmd += ["--input", "%s=%s" % (k, p)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if case.error is not None:
        if r.returncode == 0:
            return "expected an error containing %r, the run succeeded" % case.error
        if case.error not in r.stderr:
            return "expected an error containing %r, got: %s" % (case.error, r.stderr.strip())
        if "AddressSanitizer" in r.stderr or "runtime error" in r.stderr:
            return "sanitizer: " + r.stderr[-2000:]
        return None
    if r.returncode != 0:
        return "skiff run failed (%d): %s" % (r.returncode, r.stderr.strip()[-2000:])
    outs = {}
    for k in case.expect:
        p = os.path.join(d, "out", k + ".npy")
        if not os.path.exists(p):
            return "no output %s (have %s)" % (k, os.listdir(os.path.join(d, "out")))
        outs[k] = np.load(p)
    for k, want in case.expect.items():
        got = outs[k]
        want = np.asarray(want)
        if got.shape != want.shape:
            return "%s: shape %s, expected %s" % (k, got.shape, want.shape)
        if want.dtype.kind in "iub":
            if got.dtype.kind not in "iub" or not np.array_equal(got, want):
                return "%s: %s\n  expected %s" % (k, got.ravel()[:20], want.ravel()[:20])
        elif not np.allclose(got, want, rtol=case.rtol, atol=case.atol, equal_nan=True):
            err = np.max(np.abs(got.astype(np.float64) - want))
            return "%s: max abs error %g (rtol %g atol %g)\n  got %s\n  expected %s" % (
                k, err, case.rtol, case.atol, got.ravel()[:8], want.ravel()[:8])
    if case.check:
        if case.expect:
            pass
        else:
            outdir = os.path.join(d, "out")
            for f in os.listdir(outdir):
                outs[f[:-4]] = np.load(os.path.join(outdir, f))
        return case.check(outs)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skiff", required=True)
    ap.add_argument("-k", help="only cases whose name contains this")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("modules", nargs="+")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="skiff-pdops-")
    failed = total = 0
    for mod_name in a.modules:
        mod = importlib.import_module(mod_name)
        for name in sorted(n for n in dir(mod) if n.startswith("case_")):
            if a.k and a.k not in name:
                continue
            total += 1
            case = None
            try:
                case = getattr(mod, name)()  # None: its files are not on this machine
                err = run_case(a.skiff, name, case, work) if case else None
            except Exception:
                err = traceback.format_exc()
            print("%-6s %s.%s%s" % ("FAIL" if err else "ok" if case else "skip", mod_name, name,
                                    "" if not err else ": " + err), flush=True)
            failed += bool(err)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("%d of %d cases passed" % (total - failed, total))
    if total == 0:
        print("no cases ran")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
