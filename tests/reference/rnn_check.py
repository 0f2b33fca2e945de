#!/usr/bin/python3
"""Recurrent ops at serving sizes against ONNX Runtime.

    tests/reference/rnn_check.py --skiff build/skiff [--keep DIR]

The conformance cases exercise LSTM/GRU/RNN at toy sizes only. This builds
LSTMs with hidden 128 and batch 8 - the size where the engine's step product
runs on its eight-row AVX-512 kernel - forward, reverse and bidirectional, with ragged sequence_lens
(including a row of length 0), peepholes, clip and initial states, plus a GRU
and an RNN of the same size, and compares skiff at 1 and 2 threads with ONNX
Runtime (atol 1e-4 + rtol 1e-3) and the two thread counts with each other.
Exit 77 (skipped) when ONNX Runtime cannot load.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from check import ORT_RUN, ort_available  # noqa: E402

S, B, I, H = 12, 8, 16, 128
CASES = [
    # name, op, direction, peepholes, clip, sequence_lens
    ("lstm_bidirectional", "LSTM", "bidirectional", True, None, [12, 5, 12, 1, 7, 12, 3, 0]),
    ("lstm_forward_clip", "LSTM", "forward", False, 1.5, None),
    ("lstm_reverse", "LSTM", "reverse", True, None, [3, 12, 12, 9, 1, 2, 12, 6]),
    ("gru_bidirectional", "GRU", "bidirectional", False, None, [12, 4, 12, 0, 7, 12, 3, 11]),
    ("rnn_forward", "RNN", "forward", False, None, None),
]


def build(work, name, op, direction, peep, clip, lens, rng):
    dirs = 2 if direction == "bidirectional" else 1
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    inits = [numpy_helper.from_array((rng.standard_normal((dirs, G * H, I)) * 0.2).astype(np.float32), "W"),
             numpy_helper.from_array((rng.standard_normal((dirs, G * H, H)) * 0.1).astype(np.float32), "R"),
             numpy_helper.from_array((rng.standard_normal((dirs, 2 * G * H)) * 0.1).astype(np.float32), "B")]
    ins = ["X", "W", "R", "B", "", "h0"]
    if lens:
        inits.append(numpy_helper.from_array(np.array(lens, dtype=np.int32), "sl"))
        ins[4] = "sl"
    outs = ["Y", "Yh"]
    feeds = [helper.make_tensor_value_info("X", TensorProto.FLOAT, [S, B, I]),
             helper.make_tensor_value_info("h0", TensorProto.FLOAT, [dirs, B, H])]
    if op == "LSTM":
        ins.append("c0")
        outs.append("Yc")
        feeds.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, [dirs, B, H]))
        if peep:
            inits.append(numpy_helper.from_array((rng.standard_normal((dirs, 3 * H)) * 0.1).astype(np.float32), "P"))
            ins.append("P")
    attrs = dict(hidden_size=H, direction=direction)
    if clip:
        attrs["clip"] = clip
    node = helper.make_node(op, ins, outs, **attrs)
    g = helper.make_graph([node], name, feeds,
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs], inits)
    path = os.path.join(work, name + ".onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), path)
    inputs = {"X": rng.standard_normal((S, B, I)).astype(np.float32),
              "h0": (rng.standard_normal((dirs, B, H)) * 0.5).astype(np.float32)}
    if op == "LSTM":
        inputs["c0"] = (rng.standard_normal((dirs, B, H)) * 0.5).astype(np.float32)
    args = []
    for k, v in inputs.items():
        f = os.path.join(work, "%s_%s.npy" % (name, k))
        np.save(f, v)
        args += ["--input", "%s=%s" % (k, f)]
    return path, args, outs


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return None if r.returncode == 0 else (r.stderr or r.stdout).strip()[-400:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skiff", required=True)
    ap.add_argument("--node", default=shutil.which("node") or "node")
    ap.add_argument("--keep")
    args = ap.parse_args()
    if not ort_available(args.node):
        print("rnn_check: ONNX Runtime (onnxruntime-node) cannot load; run scripts/install-deps.sh")
        return 77
    work = args.keep or tempfile.mkdtemp(prefix="skiff-rnn-")
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(3)
    failed = 0
    try:
        for name, op, direction, peep, clip, lens in CASES:
            model, ins, outs = build(work, name, op, direction, peep, clip, lens, rng)
            dirs = {k: os.path.join(work, name + "_" + k) for k in ("ort", "t1", "t2")}
            err = run([args.node, ORT_RUN, model] + ins + ["--output-dir", dirs["ort"], "--quiet"])
            for t in (1, 2):
                err = err or run([args.skiff, "run", model] + ins + ["--output-dir", dirs["t%d" % t],
                                 "--threads", str(t), "--repeat", "2", "--quiet"])
            if err:
                print("FAIL %s: %s" % (name, err))
                failed += 1
                continue
            for o in outs:
                ref = np.load(os.path.join(dirs["ort"], o + ".npy"))
                got = [np.load(os.path.join(dirs[k], o + ".npy")) for k in ("t1", "t2")]
                bad = [k for k, a in zip(("1 thread", "2 threads"), got)
                       if a.shape != ref.shape or not np.allclose(a, ref, atol=1e-4, rtol=1e-3)]
                if got[0].shape == got[1].shape and not np.allclose(got[0], got[1], atol=1e-5, rtol=1e-5):
                    bad.append("1 vs 2 threads")
                err_abs = max(float(np.abs(a - ref).max()) if a.shape == ref.shape else float("inf") for a in got)
                print("%s %s %s %s max abs err %.2e%s" % ("ok  " if not bad else "FAIL", name, o,
                      list(ref.shape), err_abs, "" if not bad else " (" + ", ".join(bad) + ")"))
                failed += bool(bad)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("rnn_check: %d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
