#!/usr/bin/python3
"""deconv_check.py - ConvTranspose whose kernel equals its stride (the PP-OCR
detector's upsampling), which skiff runs as one matrix product per image and
a tile scatter: against a numpy reference (each kernel tap is a product of
the channels), with bias, activations, a 2x3 kernel, batch 2, the weights
held by the weight store, and bf16 (which runs it in float32).

    deconv_check.py --skiff BIN
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

failures = []


def check(ok, what, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", what, (": %s" % detail) if not ok else ""))
    if not ok:
        failures.append(what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", required=True)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    cases = [(24, 1, (2, 2), 10, 7, True, "Sigmoid"), (24, 24, (2, 2), 5, 9, False, None),
             (3, 5, (3, 3), 4, 4, True, "Relu"), (6, 2, (2, 3), 3, 5, True, None)]
    with tempfile.TemporaryDirectory(prefix="skiff-deconv-") as d:
        for C, M, (kh, kw), H, W, bias, act in cases:
            w = (rng.standard_normal((C, M, kh, kw)) * 0.3).astype(np.float32)
            b = rng.standard_normal(M).astype(np.float32)
            x = rng.standard_normal((2, C, H, W)).astype(np.float32)
            ins = ["x", "w"] + (["b"] if bias else [])
            nodes = [h.make_node("ConvTranspose", ins, ["c"] if act else ["y"], kernel_shape=[kh, kw],
                                 strides=[kh, kw])]
            if act:
                nodes.append(h.make_node(act, ["c"], ["y"]))
            inits = [nh.from_array(w, "w")] + ([nh.from_array(b, "b")] if bias else [])
            g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, list(x.shape))],
                             [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
            m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
            m.ir_version = 8
            p = os.path.join(d, "m.onnx")
            onnx.save(m, p)
            np.save(os.path.join(d, "x.npy"), x)
            ref = np.zeros((2, M, H * kh, W * kw), np.float32)
            for i in range(kh):
                for j in range(kw):
                    ref[:, :, i::kh, j::kw] = np.einsum("nchw,cm->nmhw", x, w[:, :, i, j])
            if bias:
                ref += b[None, :, None, None]
            if act == "Sigmoid":
                ref = 1 / (1 + np.exp(-ref))
            elif act == "Relu":
                ref = np.maximum(ref, 0)
            for prec in ("fp32", "bf16"):
                out = os.path.join(d, "out")
                r = subprocess.run([args.skiff, "run", p, "--input", "x=" + os.path.join(d, "x.npy"),
                                    "--output-dir", out, "--precision", prec, "--repeat", "2"],
                                   capture_output=True, text=True)
                name = "C%d M%d k%dx%d %s %s" % (C, M, kh, kw, act or "linear", prec)
                if r.returncode:
                    check(False, name, r.stderr)
                    continue
                got = np.load(os.path.join(out, "y.npy"))
                err = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
                check(err <= 1e-5, name, "shape %s, max error %g" % (got.shape, err))
    if failures:
        print("%d failed: %s" % (len(failures), ", ".join(failures)))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
