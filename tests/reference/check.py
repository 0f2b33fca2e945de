#!/usr/bin/python3
"""Checks skiff's engine against ONNX Runtime on the reference models.

For each model (and batch) in models-cache/manifest.json it runs
    skiff run MODEL --input NAME=FILE.npy ... --output-dir D/skiff --threads T
    node tools/ort_run.js MODEL --input NAME=FILE.npy ... --output-dir D/ort
and compares every output: same dtype and shape, and for floats
|skiff - ort| <= atol + rtol * |ort| elementwise (atol 1e-4, rtol 1e-3),
integers exactly. It prints the largest absolute and relative error per output.

Detectors whose outputs come out of non-maximum suppression (manifest
"compare": "detections": boxes [N,4], labels [N], scores [N], masks [N,1,H,W])
are compared as sets of detections, because with random weights two engines
may legally disagree where a decision sits on a knife edge. The rule:
  - a skiff detection matches an ORT detection when the labels are equal, the
    scores differ by at most 1e-3 and every box coordinate by at most 0.5 pixel
    (pairs are taken in ORT's score order, each with its closest candidate);
    a matched pair's masks differ by 1e-3 on average, and by more than 0.02 at
    no more than 0.1% of their pixels (boxes may differ by 0.5 pixel, which
    moves a mask's edge when it is pasted into the image);
  - a detection left unmatched on either side is allowed only when the decision
    to keep it is numerically unstable: its box is under 2 pixels wide or high
    (decoding such a box amplifies rounding, clipping at the border and the
    small-box filter flip on it, and RoiAlign over it samples other pixels;
    torch and ORT differ on such boxes too), or its
    score is within 1e-3 of the lowest score its engine kept (the cut at the
    detection limit or the score threshold);
  - at least 90% of ORT's detections are matched.

    tests/reference/check.py                 # the small set (uci_housing, lstm_classifier, ocr_cls)
    tests/reference/check.py --all           # every reference model (builds missing ones first)
    tests/reference/check.py --only resnet50,bert_base --skiff build/skiff

Missing models are built with tools/models/export_models.py. Exit status: 0 all
match, 1 a mismatch or a failed run, 77 when the ORT oracle cannot run here
(CTest reports that as skipped).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXPORT = os.path.join(REPO, "tools", "models", "export_models.py")
ORT_RUN = os.path.join(REPO, "tools", "ort_run.js")
ATOL, RTOL = 1e-4, 1e-3
SKIP = 77


def safe_name(name):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "output"


def ort_available(node):
    probe = ("require(%r).InferenceSession" %
             os.path.join(REPO, "third_party", "npm", "node_modules", "onnxruntime-node"))
    try:
        r = subprocess.run([node, "-e", probe], capture_output=True, timeout=60)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_models(cache, names):
    manifest = os.path.join(cache, "manifest.json")
    have = set()
    if os.path.exists(manifest):
        with open(manifest) as f:
            have = {e["name"] for e in json.load(f)
                    if os.path.exists(os.path.join(cache, e["model"]))}
    missing = [n for n in names if n not in have]
    if missing:
        subprocess.run([sys.executable, EXPORT, "--out", cache, "--only", ",".join(missing)],
                       check=True)
    with open(manifest) as f:
        return [e for e in json.load(f) if e["name"] in names]


def compare(name, got, exp):
    """Returns (ok, one-line summary)."""
    if got.dtype != exp.dtype:
        return False, "%s: dtype %s, expected %s" % (name, got.dtype, exp.dtype)
    if got.shape != exp.shape:
        return False, "%s: shape %s, expected %s" % (name, list(got.shape), list(exp.shape))
    shape = "[%s]" % ",".join(str(d) for d in exp.shape)
    if exp.size == 0:
        return True, "%s %s empty" % (name, shape)
    if np.issubdtype(exp.dtype, np.floating):
        g, e = got.astype(np.float64), exp.astype(np.float64)
        both_nan = np.isnan(g) & np.isnan(e)
        diff = np.where(both_nan, 0.0, np.abs(g - e))
        diff = np.where(np.isnan(diff), np.inf, diff)
        # Relative to max(|ort|, 1e-3): tiny reference values would make any
        # rounding difference look huge.
        rel = diff / np.maximum(np.abs(e), 1e-3)
        bad = diff > ATOL + RTOL * np.abs(e)
        n_bad = int(bad.sum())
        msg = "%s %s max abs err %.3g, max rel err %.3g" % (name, shape, diff.max(), rel.max())
        if n_bad:
            i = int(np.argmax(bad.reshape(-1)))
            msg += "; %d/%d elements outside tolerance (first at %d: skiff %.7g, ort %.7g)" % (
                n_bad, exp.size, i, g.reshape(-1)[i], e.reshape(-1)[i])
        return n_bad == 0, msg
    n_bad = int((got != exp).sum())
    return n_bad == 0, "%s %s %d/%d elements differ" % (name, shape, n_bad, exp.size)


DET_SCORE_TOL, DET_BOX_TOL, DET_THIN = 1e-3, 0.5, 2.0
DET_MASK_DIFF, DET_MASK_FRACTION, DET_MASK_MEAN, DET_MIN_MATCHED = 0.02, 1e-3, 1e-3, 0.9


def unstable(boxes, scores, i):
    """True when keeping detection i is a knife-edge decision (see the module doc)."""
    w, h = boxes[i, 2] - boxes[i, 0], boxes[i, 3] - boxes[i, 1]
    return bool(w < DET_THIN or h < DET_THIN or scores[i] - scores.min() <= DET_SCORE_TOL)


def compare_detections(sk_dir, ort_dir):
    """Returns (ok, lines) for one detector run under the rule of the module doc."""
    def load(d):
        out = {}
        for k in ("boxes", "labels", "scores", "masks"):
            f = os.path.join(d, k + ".npy")
            if os.path.exists(f):
                out[k] = np.load(f)
        return out
    sk, ort = load(sk_dir), load(ort_dir)
    for k in ort:
        if k not in sk:
            return False, ["skiff wrote no output '%s'" % k]
        if sk[k].dtype != ort[k].dtype or sk[k].shape[1:] != ort[k].shape[1:]:
            return False, ["%s: %s %s, expected %s %s" % (k, sk[k].dtype, list(sk[k].shape),
                                                          ort[k].dtype, list(ort[k].shape))]
    for k in ("boxes", "labels", "scores"):
        if k not in ort:
            return False, ["ORT wrote no output '%s'" % k]
    n_sk, n_ort = len(sk["scores"]), len(ort["scores"])
    used = np.zeros(n_sk, bool)
    pairs, lost = [], []
    for j in np.argsort(-ort["scores"], kind="stable"):
        cand = np.where(~used & (sk["labels"] == ort["labels"][j]) &
                        (np.abs(sk["scores"] - ort["scores"][j]) <= DET_SCORE_TOL))[0]
        if len(cand):
            d = np.abs(sk["boxes"][cand] - ort["boxes"][j]).max(axis=1)
            if d.min() <= DET_BOX_TOL:
                k = int(cand[np.argmin(d)])
                used[k] = True
                pairs.append((k, int(j)))
                continue
        lost.append(int(j))
    extra = [int(i) for i in np.where(~used)[0]]
    ok, lines = True, []
    msg = "%d detections (ORT %d), %d matched" % (n_sk, n_ort, len(pairs))
    if pairs:
        k, j = np.array(pairs).T
        msg += ", max score diff %.3g, max box diff %.3g px" % (
            np.abs(sk["scores"][k] - ort["scores"][j]).max(),
            np.abs(sk["boxes"][k] - ort["boxes"][j]).max())
        if "masks" in ort:
            md = np.abs(sk["masks"][k].astype(np.float64) - ort["masks"][j])
            off = float((md > DET_MASK_DIFF).mean())
            msg += ", masks mean diff %.3g, %.4f%% of pixels off by more than %g" % (
                md.mean(), 100 * off, DET_MASK_DIFF)
            if md.mean() > DET_MASK_MEAN or off > DET_MASK_FRACTION:
                ok = False
                msg += " (over %g%%)" % (100 * DET_MASK_FRACTION)
    for side, idx, det in (("ORT only", lost, ort), ("skiff only", extra, sk)):
        for i in idx:
            allowed = unstable(det["boxes"], det["scores"], i)
            ok &= allowed
            lines.append("  %s: label %d score %.5f box [%s]%s" % (
                side, det["labels"][i], det["scores"][i],
                ", ".join("%.2f" % v for v in det["boxes"][i]),
                " (knife edge: allowed)" if allowed else " (not allowed)"))
    if n_ort and len(pairs) < DET_MIN_MATCHED * n_ort:
        ok = False
        msg += " (under %d%% of ORT's)" % int(DET_MIN_MATCHED * 100)
    return ok, [msg] + lines


def run(cmd, what):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return "%s failed (exit %d): %s" % (what, r.returncode, " | ".join(tail))
    return None


def check_entry(e, args, work):
    model = os.path.join(args.cache, e["model"])
    v = e.get("variant", "")
    label = "%s b%d%s" % (e["name"], e["batch"], " " + v if v else "")
    d = os.path.join(work, "%s_b%d%s" % (e["name"], e["batch"], "_" + v if v else ""))
    sk_dir, ort_dir = os.path.join(d, "skiff"), os.path.join(d, "ort")
    os.makedirs(sk_dir, exist_ok=True)
    os.makedirs(ort_dir, exist_ok=True)
    ins = []
    for name, rel in e["inputs"].items():
        ins += ["--input", "%s=%s" % (name, os.path.join(args.cache, rel))]
    err = run([args.skiff, "run", model] + ins +
              ["--output-dir", sk_dir, "--threads", str(args.threads), "--quiet"], "skiff run")
    if err:
        return False, ["FAIL %s: %s" % (label, err)]
    err = run([args.node, ORT_RUN, model] + ins +
              ["--output-dir", ort_dir, "--threads", str(args.threads), "--warmup", "0",
               "--quiet"], "ort_run.js")
    if err:
        return False, ["FAIL %s: %s" % (label, err)]
    if e.get("compare") == "detections":
        good, msgs = compare_detections(sk_dir, ort_dir)
        return good, ["%s %s: %s" % ("ok  " if good else "FAIL", label, msgs[0])] + msgs[1:]
    ok, lines = True, []
    outs = sorted(f for f in os.listdir(ort_dir) if f.endswith(".npy"))
    if not outs:
        return False, ["FAIL %s: ORT wrote no outputs" % label]
    for f in outs:
        name = f[:-4]
        sk = os.path.join(sk_dir, f)
        if not os.path.exists(sk):
            ok = False
            lines.append("FAIL %s: skiff wrote no output '%s'" % (label, name))
            continue
        good, msg = compare(name, np.load(sk), np.load(os.path.join(ort_dir, f)))
        ok &= good
        lines.append("%s %s: %s" % ("ok  " if good else "FAIL", label, msg))
    return ok, lines


def main():
    ap = argparse.ArgumentParser(description="compare skiff with ONNX Runtime on reference models")
    ap.add_argument("--skiff", default=os.path.join(REPO, "build", "skiff"))
    ap.add_argument("--node", default=shutil.which("node") or "node")
    ap.add_argument("--cache", default=os.path.join(REPO, "models-cache"))
    ap.add_argument("--all", action="store_true", help="every reference model")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", default=None, help="keep outputs in this directory")
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(EXPORT))
    import export_models
    if args.only:
        names = [n for n in args.only.split(",") if n]
    elif args.all:
        names = list(export_models.BATCHES)
    else:
        names = sorted(export_models.SMALL)
    if not os.access(args.skiff, os.X_OK):
        print("check: skiff binary '%s' not found (pass --skiff)" % args.skiff)
        return 1
    if not ort_available(args.node):
        print("check: ONNX Runtime (onnxruntime-node) cannot load; run scripts/install-deps.sh")
        return SKIP
    entries = ensure_models(args.cache, names)
    work = args.keep or tempfile.mkdtemp(prefix="skiff-ref-")
    failed = 0
    try:
        for e in entries:
            ok, lines = check_entry(e, args, work)
            failed += not ok
            for ln in lines:
                print(ln, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("%d of %d model runs match ONNX Runtime (atol %g, rtol %g)"
          % (len(entries) - failed, len(entries), ATOL, RTOL))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
