#!/usr/bin/env python3
"""`skiff quantize` end to end: small models built here with onnx.helper,
calibrated on seeded random samples, quantized, run by `skiff run` and
checked against the fp32 model and against the parameters written.

    quant_tests.py --skiff build/skiff

Bounds (docs/precision.md, "Calibration"): on the test convnet, int8 outputs
within 5% of max |fp32| and cosine >= 0.995 for each method (10% on the two
other models, whose new inputs reach past the calibrated ranges and are
clipped there); every int8 weight within half a step of its float value; the
int32 bias within half a step of its float value.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def conf_text(name, shape, out, out_shape):
    dims = "".join("  shape: %d\n" % d for d in shape)
    odims = "".join("  shape: %d\n" % d for d in out_shape)
    return ('feed_var {\n  name: "%s"\n  alias_name: "%s"\n  is_lod_tensor: false\n'
            '  feed_type: 1\n%s}\nfetch_var {\n  name: "%s"\n  alias_name: "%s"\n'
            '  is_lod_tensor: false\n  fetch_type: 1\n%s}\n' % (name, name, dims, out, out, odims))


def save_dir(model, d, in_shape, out_shape, out="y"):
    os.makedirs(d, exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "serving_server_conf.prototxt"), "w") as f:
        f.write(conf_text("x", in_shape, out, out_shape))


def init(name, a):
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def convnet(rng, opset=13):
    """x[N,3,12,12] -> Conv 3x3 (bias) -> Relu -> Conv 3x3 groups 2 -> Relu ->
    GlobalAveragePool -> Flatten -> Gemm (transB) -> y[N,5]."""
    w1 = rng.normal(0, 0.3, (8, 3, 3, 3))
    w1[3] *= 0.05  # a channel with small weights: per-channel scales matter
    b1 = rng.normal(0, 0.1, 8)
    w2 = rng.normal(0, 0.3, (8, 4, 3, 3))
    b2 = rng.normal(0, 0.1, 8)
    w3 = rng.normal(0, 0.3, (5, 8))
    b3 = rng.normal(0, 0.1, 5)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1],
                         group=2),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], name="fc", transB=1),
    ]
    g = helper.make_graph(
        nodes, "convnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 12, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        [init("w1", w1), init("b1", b1), init("w2", w2), init("b2", b2), init("w3", w3),
         init("b3", b3)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def with_unsupported(rng):
    """Conv -> ConvTranspose (float weights: no int8 form) -> y."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("ConvTranspose", ["c1", "wt"], ["y"], name="deconv", strides=[2, 2]),
    ]
    g = helper.make_graph(
        nodes, "unsup", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 16, 16])],
        [init("w1", rng.normal(0, 0.3, (4, 3, 3, 3))), init("wt", rng.normal(0, 0.3, (4, 2, 2, 2)))])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def old_opset(rng):
    """Opset 9 (as paddle2onnx writes): weights in Constant nodes, a
    BatchNormalization after the Conv, Clip with attributes, Softmax with the
    2-D coercion on a rank-2 input."""
    w1 = helper.make_tensor("w1v", TensorProto.FLOAT, [6, 3, 3, 3],
                            rng.normal(0, 0.3, 162).astype(np.float32))
    w2 = helper.make_tensor("w2v", TensorProto.FLOAT, [6, 4],
                            rng.normal(0, 0.3, 24).astype(np.float32))
    nodes = [
        helper.make_node("Constant", [], ["w1"], name="cw1", value=w1),
        helper.make_node("Constant", [], ["w2"], name="cw2", value=w2),
        helper.make_node("Conv", ["x", "w1"], ["c0"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c0", "g", "b", "mu", "var"], ["c1"], name="bn1",
                         epsilon=1e-3),
        helper.make_node("Clip", ["c1"], ["r1"], name="clip1", min=0.0, max=6.0),
        helper.make_node("GlobalAveragePool", ["r1"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("MatMul", ["f", "w2"], ["m"], name="fc"),
        helper.make_node("Softmax", ["m"], ["y"], name="softmax", axis=1),
    ]
    g = helper.make_graph(
        nodes, "old", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 10, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [init("g", rng.uniform(0.2, 3, 6)), init("b", rng.normal(0, 0.5, 6)),
         init("mu", rng.normal(0, 0.5, 6)), init("var", rng.uniform(0.1, 2, 6))])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])


def affine_net(rng):
    """PP-LCNetV3's learnable affine blocks: Conv -> Mul(scalar) -> Add(scalar), a
    Conv -> Mul([1, C, 1, 1]) -> Add([C, 1, 1]) with a HardSwish, and a Conv whose
    output is also read elsewhere (not folded), the constants in Constant nodes."""
    def const(name, a):
        return helper.make_node("Constant", [], [name], name="c_" + name,
                                value=numpy_helper.from_array(np.asarray(a, np.float32), name + "v"))
    nodes = [
        const("s1", [1.7]), const("b1", [-0.3]),
        const("s2", rng.uniform(0.5, 2, (1, 6, 1, 1))), const("b2", rng.normal(0, 0.3, (6, 1, 1))),
        helper.make_node("Conv", ["x", "w1", "bias1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["c1", "s1"], ["m1"], name="mul1"),
        helper.make_node("Add", ["b1", "m1"], ["a1"], name="add1"),
        helper.make_node("Relu", ["a1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["s2", "c2"], ["m2"], name="mul2"),
        helper.make_node("Add", ["m2", "b2"], ["a2"], name="add2"),
        helper.make_node("HardSwish", ["a2"], ["h2"], name="hs2"),
        helper.make_node("Conv", ["h2", "w3"], ["c3"], name="conv3"),
        helper.make_node("Mul", ["c3", "s1"], ["m3"], name="mul3"),
        helper.make_node("Add", ["m3", "c3"], ["y"], name="add3"),
    ]
    g = helper.make_graph(
        nodes, "affine", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 10, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 10, 10])],
        [init("w1", rng.normal(0, 0.3, (6, 3, 3, 3))), init("bias1", rng.normal(0, 0.2, 6)),
         init("w2", rng.normal(0, 0.3, (6, 6, 3, 3))), init("w3", rng.normal(0, 0.3, (4, 6, 1, 1)))])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])


def run(args, expect_rc=0):
    r = subprocess.run(args, capture_output=True, text=True, timeout=240)
    if expect_rc is not None and r.returncode != expect_rc:
        print("  command: %s\n  rc %d (expected %d)\n  stdout: %s\n  stderr: %s" % (
            " ".join(args), r.returncode, expect_rc, r.stdout, r.stderr))
    return r


def skiff_out(skiff, model, x, work, tag):
    f = os.path.join(work, "in_%s.npy" % tag)
    np.save(f, x)
    d = os.path.join(work, "out_" + tag)
    r = run([skiff, "run", model, "--input", "x=" + f, "--output-dir", d, "--quiet"])
    if r.returncode:
        return None
    return np.load(os.path.join(d, "y.npy"))


def calib_dirs(root, rng, shape, n, flat=False):
    os.makedirs(root, exist_ok=True)
    for i in range(n):
        x = rng.normal(0, 1, shape).astype(np.float32)
        if flat:
            np.save(os.path.join(root, "s%02d.npy" % i), x)
        else:
            os.makedirs(os.path.join(root, "s%02d" % i), exist_ok=True)
            np.save(os.path.join(root, "s%02d" % i, "x.npy"), x)


def inits_of(path):
    m = onnx.load(path)
    return m, {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}


def close(ref, got, what, rel=0.05, cos_min=0.995):
    if ref is None or got is None:
        check(False, what + ": outputs")
        return
    err = np.abs(ref - got).max() / np.abs(ref).max()
    cos = float((ref * got).sum() / np.linalg.norm(ref) / np.linalg.norm(got))
    check(err <= rel and cos >= cos_min,
          "%s: max error %.4f of max |fp32| (<= %.2f), cosine %.6f (>= %.3f)" % (
              what, err, rel, cos, cos_min))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", required=True)
    a = ap.parse_args()
    skiff = a.skiff
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="skiff-quant-") as work:
        src = os.path.join(work, "convnet")
        save_dir(convnet(rng), src, [3, 12, 12], [5])
        cal = os.path.join(work, "calib")
        calib_dirs(cal, rng, (2, 3, 12, 12), 6)
        x = rng.normal(0, 1, (4, 3, 12, 12)).astype(np.float32)
        ref = skiff_out(skiff, src, x, work, "fp32")

        for method in ("minmax", "percentile", "entropy"):
            out = os.path.join(work, "q_" + method)
            r = run([skiff, "quantize", "--model", src, "--calib", cal, "--method", method,
                     "--out", out])
            check(r.returncode == 0, "%s: quantize exits 0" % method)
            for f in ("model.onnx", "serving_server_conf.prototxt", "calibration.json"):
                check(os.path.exists(os.path.join(out, f)), "%s: wrote %s" % (method, f))
            if r.returncode:
                continue
            rec = json.load(open(os.path.join(out, "calibration.json")))
            check(rec["method"] == method and rec["samples"] == 6 and
                  set(rec["tensors"]) == {"x", "r1", "r2", "f"},
                  "%s: calibration.json names the method, 6 samples, tensors x, r1, r2, f" % method)
            close(ref, skiff_out(skiff, out, x, work, method), method + ": int8 vs fp32")

        # the written parameters, against the float model
        out = os.path.join(work, "q_minmax")
        m, q = inits_of(os.path.join(out, "model.onnx"))
        _, f = inits_of(os.path.join(src, "model.onnx"))
        ops = [n.op_type for n in m.graph.node]
        check(ops.count("QuantizeLinear") == 4 and ops.count("DequantizeLinear") == 4 + 3 + 2,
              "QDQ layout: 4 activation Q/DQ pairs (inputs x, r1, f; outputs after the Relus r1, "
              "r2), 3 weight and 2 bias DequantizeLinear (%s)" % ops)
        pool = [n for n in m.graph.node if n.op_type == "GlobalAveragePool"][0]
        check(pool.input[0] == "r2_DequantizeLinear_Output",
              "a quantized node's output is read through its pair by every reader")
        r = run([skiff, "quantize", "--model", src, "--calib", cal, "--out",
                 os.path.join(work, "q_fo"), "--float_outputs"])
        if r.returncode == 0:
            mf, _ = inits_of(os.path.join(work, "q_fo", "model.onnx"))
            check([n.op_type for n in mf.graph.node].count("QuantizeLinear") == 3,
                  "--float_outputs: only the inputs x, r1, f quantized")
        for w, axis in (("w1", 0), ("w2", 0), ("w3", 0)):
            wq, ws = q[w + "_quantized"], q[w + "_scale"]
            shape = [1] * wq.ndim
            shape[axis] = -1
            deq = wq.astype(np.float32) * ws.reshape(shape)
            check(wq.dtype == np.int8 and ws.shape == (wq.shape[axis],) and
                  np.all(np.abs(deq - f[w]) <= ws.reshape(shape) / 2 + 1e-7) and
                  np.abs(wq).max() == 63,
                  "%s: int8 per channel (axis %d), within half a step, [-63, 63]" % (w, axis))
        r = run([skiff, "quantize", "--model", src, "--calib", cal, "--method", "minmax", "--out",
                 os.path.join(work, "q_full"), "--reduce_range=false"])
        if r.returncode == 0:
            _, qf = inits_of(os.path.join(work, "q_full", "model.onnx"))
            check(all(np.abs(qf[w + "_quantized"]).max() == 127 for w in ("w1", "w2", "w3")),
                  "--reduce_range=false: weights use [-127, 127]")
        for b, w, x_t in (("b1", "w1", "x"), ("b2", "w2", "r1")):
            bq, bs = q[b + "_quantized"], q[b + "_scale"]
            expect = q[x_t + "_scale"] * q[w + "_scale"]
            check(bq.dtype == np.int32 and np.allclose(bs, expect, rtol=1e-6) and
                  np.all(np.abs(bq * bs - f[b]) <= bs / 2 + 1e-7),
                  "%s: int32 with scale x_scale * w_scale, within half a step" % b)
        check("b3" in q and q["b3"].dtype == np.float32, "Gemm's C stays float32")
        xs, xz = q["x_scale"], q["x_zero_point"]
        check(xz.dtype == np.uint8, "activations uint8 asymmetric")

        # the same ranges again: the same model
        again = os.path.join(work, "q_again")
        r = run([skiff, "quantize", "--model", src, "--ranges", os.path.join(out, "calibration.json"),
                 "--out", again])
        same = r.returncode == 0 and open(os.path.join(again, "model.onnx"), "rb").read() == \
            open(os.path.join(out, "model.onnx"), "rb").read()
        check(same, "--ranges calibration.json writes the same model.onnx")

        # flat calibration directory, --exclude, --keep_first_last, --per_tensor
        flat = os.path.join(work, "calib_flat")
        calib_dirs(flat, rng, (1, 3, 12, 12), 4, flat=True)
        for flag, kept, n_q in ((["--exclude", "conv2"], ["conv2' (Conv): named by --exclude"], 3),
                                (["--keep_first_last"],
                                 ["conv1' (Conv): the first quantizable node",
                                  "fc' (Gemm): the last quantizable node"], 2)):
            out = os.path.join(work, "q_" + flag[0][2:])
            r = run([skiff, "quantize", "--model", src, "--calib", flat, "--out", out] + flag)
            check(r.returncode == 0 and all("kept fp32: node '" + k in r.stderr for k in kept),
                  "flat samples, %s: says which nodes stay fp32" % flag[0])
            if r.returncode == 0:
                m, _ = inits_of(os.path.join(out, "model.onnx"))
                check([n.op_type for n in m.graph.node].count("QuantizeLinear") == n_q,
                      "%s: %d activation(s) quantized" % (flag[0], n_q))
        out = os.path.join(work, "q_none")
        r = run([skiff, "quantize", "--model", src, "--calib", flat, "--out", out, "--exclude",
                 "conv2", "--keep_first_last"], expect_rc=1)
        check(r.returncode == 1 and "no node to quantize" in r.stderr,
              "every node kept fp32: an error, not an empty model")
        out = os.path.join(work, "q_pt")
        r = run([skiff, "quantize", "--model", src, "--calib", cal, "--out", out, "--per_tensor"])
        if r.returncode == 0:
            _, q = inits_of(os.path.join(out, "model.onnx"))
            check(q["w1_scale"].shape == (), "--per_tensor: one weight scale")
            close(ref, skiff_out(skiff, out, x, work, "pt"), "per tensor: int8 vs fp32", 0.08,
                  0.99)

        # an unsupported layer stays fp32, and the tool says so
        usrc = os.path.join(work, "unsup")
        save_dir(with_unsupported(rng), usrc, [3, 8, 8], [2, 16, 16])
        ucal = os.path.join(work, "ucal")
        calib_dirs(ucal, rng, (4, 3, 8, 8), 8)
        out = os.path.join(work, "q_unsup")
        r = run([skiff, "quantize", "--model", usrc, "--calib", ucal, "--out", out])
        check(r.returncode == 0 and "kept fp32: node 'deconv' (ConvTranspose): skiff quantize has "
              "no int8 form for this operator" in r.stderr, "ConvTranspose kept fp32, with a note")
        if r.returncode == 0:
            m, q = inits_of(os.path.join(out, "model.onnx"))
            deconv = [n for n in m.graph.node if n.op_type == "ConvTranspose"][0]
            check(deconv.input[1] == "wt" and q["wt"].dtype == np.float32,
                  "ConvTranspose still reads its float weights")
            ux = rng.normal(0, 1, (2, 3, 8, 8)).astype(np.float32)
            close(skiff_out(skiff, usrc, ux, work, "u32"), skiff_out(skiff, out, ux, work, "u8"),
                  "unsupported model: int8 vs fp32", 0.10)

        # opset 9: converted to 13 (Constant weights, Clip attributes, Softmax)
        osrc = os.path.join(work, "old")
        save_dir(old_opset(rng), osrc, [3, 10, 10], [4])
        ocal = os.path.join(work, "ocal")
        calib_dirs(ocal, rng, (4, 3, 10, 10), 8)
        out = os.path.join(work, "q_old")
        r = run([skiff, "quantize", "--model", osrc, "--calib", ocal, "--out", out])
        check(r.returncode == 0 and "converted the model from opset 9 to opset 13" in r.stderr and
              "folded 1 BatchNormalization node into the Conv before it" in r.stderr,
              "opset 9 model converted to opset 13, its BatchNormalization folded")
        if r.returncode == 0:
            m, _ = inits_of(os.path.join(out, "model.onnx"))
            check(m.opset_import[0].version == 13 and
                  not any(n.op_type == "Constant" and n.output[0] in ("w1", "w2")
                          for n in m.graph.node) and
                  not any(n.op_type == "BatchNormalization" for n in m.graph.node),
                  "opset 13, weight Constants and the BatchNormalization replaced")
            ox = rng.normal(0, 1, (3, 3, 10, 10)).astype(np.float32)
            close(skiff_out(skiff, osrc, ox, work, "o32"), skiff_out(skiff, out, ox, work, "o8"),
                  "opset 9 model: int8 vs fp32", 0.10)

        # constant scalings after a Conv folded into it before quantizing
        asrc = os.path.join(work, "affine")
        save_dir(affine_net(rng), asrc, [3, 10, 10], [4, 10, 10])
        acal = os.path.join(work, "acal")
        calib_dirs(acal, rng, (4, 3, 10, 10), 8)
        out = os.path.join(work, "q_affine")
        r = run([skiff, "quantize", "--model", asrc, "--calib", acal, "--out", out])
        check(r.returncode == 0 and "folded the constant scalings (Mul, Add) after 2 Conv nodes "
              "into them" in r.stderr, "affine blocks after two Convs folded, with a note")
        if r.returncode == 0:
            m, _ = inits_of(os.path.join(out, "model.onnx"))
            names = {n.name for n in m.graph.node}
            check(not names & {"mul1", "add1", "mul2", "add2"} and {"mul3", "add3"} <= names,
                  "the folded Mul and Add gone, the shared Conv output's kept")
            ax = rng.normal(0, 1, (3, 3, 10, 10)).astype(np.float32)
            close(skiff_out(skiff, asrc, ax, work, "a32"), skiff_out(skiff, out, ax, work, "a8"),
                  "affine model: int8 vs fp32", 0.10)

        # bad arguments and bad samples: exit status and message
        bad = os.path.join(work, "bad")
        os.makedirs(os.path.join(bad, "s0"))
        np.save(os.path.join(bad, "s0", "z.npy"), np.zeros((1, 3, 12, 12), np.float32))
        bad64 = os.path.join(work, "bad64")
        os.makedirs(os.path.join(bad64, "s0"))
        np.save(os.path.join(bad64, "s0", "x.npy"), np.zeros((1, 3, 12, 12), np.float64))
        badnpy = os.path.join(work, "badnpy")
        os.makedirs(badnpy)
        open(os.path.join(badnpy, "a.npy"), "wb").write(b"\x93NUMPY\x01\x00garbage")
        empty = os.path.join(work, "empty")
        os.makedirs(empty)
        o = os.path.join(work, "q_bad")
        cases = [
            ([], 2, "--model is required"),
            (["--model", src], 2, "--calib (or --ranges) is required"),
            (["--model", src, "--calib", cal, "--method", "kl"], 2,
             "--method expects minmax, percentile or entropy, got 'kl'"),
            (["--model", src, "--calib", cal, "--percentile", "120"], 2,
             "--percentile expects a number from 50 to 100, got '120'"),
            (["--model", src, "--calib", os.path.join(work, "nope")], 2, "not a directory"),
            (["--model", os.path.join(work, "nope"), "--calib", cal], 2, "no such file or directory"),
            (["--model", src, "--calib", cal, "--bogus", "1"], 2, "unknown option '--bogus'"),
            (["--model", src, "--calib", cal, "--out", src], 2, "is the model's own directory"),
            (["--model", src, "--calib", cal, "--exclude", "conv9", "--out", o], 1,
             "--exclude: the model has no node or node output named 'conv9'"),
            (["--model", src, "--calib", bad, "--out", o], 1,
             "'z' is not an input of the model (inputs: 'x')"),
            (["--model", src, "--calib", bad64, "--out", o], 1,
             "input 'x' expects float32, got float64"),
            (["--model", src, "--calib", badnpy, "--out", o], 1, "a.npy"),
            (["--model", src, "--calib", empty, "--out", o], 1, "holds no samples"),
            (["--model", src, "--ranges", os.path.join(src, "model.onnx"), "--out", o], 1,
             "--ranges:"),
        ]
        for args, rc, msg in cases:
            r = run([skiff, "quantize"] + args, expect_rc=rc)
            check(r.returncode == rc and msg in r.stderr,
                  "quantize %s: exit %d, says %r" % (" ".join(args[-2:]) or "(none)", rc, msg))
        check(not os.path.exists(o), "failed runs wrote no directory")

        # skiff serve --use_calib refuses a directory skiff quantize did not write
        r = run([skiff, "serve", "--model", src, "--use_calib", "--port", "0"], expect_rc=1)
        check(r.returncode == 1 and "--use_calib: %s is not a calibrated model" % src in r.stderr,
              "serve --use_calib on an fp32 directory: exit 1, says it is not calibrated")
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("all quantize checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
