#!/usr/bin/python3
"""Reduced precision against fp32 on small generated models.

int8: quantized (QuantizeLinear/DequantizeLinear) convolutions that
`--precision int8` runs on oneDNN's int8 kernels must give what the same
model gives in fp32, where skiff runs the QDQ arithmetic as written (exact
integer products, float requantization): every output within one
quantization step, most of them equal. Weights are 7-bit, so no CPU
saturates a pair of products (docs/precision.md). QLinearConv with constant
scales (the oneDNN path) against the same node with its scales fed as
inputs (the reference kernel). A model without quantized convolutions asked
for int8 runs fp32 and says so.

bf16: where the CPU has AVX512-BF16, a convolution and a matrix product in
bf16 against fp32 within bf16's rounding; elsewhere the fallback warning.

    tests/reference/precision_check.py --skiff build/skiff
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

SKIFF = None
TMP = None
rng = np.random.default_rng(7)
failures = []


def check(ok, what, *detail):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else ": " + " ".join(map(str, detail))))
    if not ok:
        failures.append(what)


def run(model, inputs, precision, extra_env=None):
    """Runs skiff run; returns ({output name: array}, log text)."""
    out_dir = tempfile.mkdtemp(dir=TMP)
    args = [SKIFF, "run", model, "--precision", precision, "--output-dir", out_dir]
    for name, arr in inputs.items():
        p = os.path.join(out_dir, "in_" + name + ".npy")
        np.save(p, arr)
        args += ["--input", name + "=" + p]
    env = dict(os.environ, **(extra_env or {}))
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise AssertionError("skiff run failed: " + r.stdout + r.stderr)
    outs = {f[:-4]: np.load(os.path.join(out_dir, f)) for f in os.listdir(out_dir)
            if f.endswith(".npy") and not f.startswith("in_")}
    return outs, r.stdout + r.stderr


def save(nodes, inits, inputs, outputs, name, opset=13):
    g = h.make_graph(nodes, name, inputs, outputs, inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(TMP, name + ".onnx")
    onnx.save(m, path)
    return path


def quant_weights(w, per_channel):
    """Symmetric int8 weights in 7 bits ([-64, 63]), scales per output channel or one."""
    if per_channel:
        ws = (np.abs(w).reshape(w.shape[0], -1).max(1) / 63).astype(np.float32)
        wq = np.round(w / ws.reshape((-1,) + (1,) * (w.ndim - 1)))
    else:
        ws = np.array(np.abs(w).max() / 63, np.float32)
        wq = np.round(w / ws)
    return np.clip(wq, -64, 63).astype(np.int8), ws


def qdq_conv_model(name, C, M, k, stride=1, group=1, act=None, out_q=True, per_channel=True,
                   x_type=np.uint8, bias=True, hw=13, layers=1):
    """x -> Q -> DQ -> [Conv(DQ(w)) -> act -> Q -> DQ] x layers (the last one's Q optional)."""
    zp = 128 if x_type == np.uint8 else 0
    inits = [nh.from_array(np.array(0.02, np.float32), "xs"), nh.from_array(np.array(zp, x_type), "xz")]
    nodes = [h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"])]
    src, cin, size = "xd", C, hw
    for i in range(layers):
        w = (rng.standard_normal((M, cin // group, k, k)) * 0.3).astype(np.float32)
        wq, ws = quant_weights(w, per_channel)
        inits += [nh.from_array(wq, "w%d" % i), nh.from_array(ws, "ws%d" % i)]
        nodes.append(h.make_node("DequantizeLinear", ["w%d" % i, "ws%d" % i], ["wd%d" % i], axis=0))
        conv_in = [src, "wd%d" % i]
        if bias:
            inits.append(nh.from_array((rng.standard_normal(M) * 0.1).astype(np.float32), "b%d" % i))
            conv_in.append("b%d" % i)
        nodes.append(h.make_node("Conv", conv_in, ["c%d" % i], pads=[k // 2] * 4, group=group,
                                 strides=[stride, stride]))
        o = "c%d" % i
        if act == "relu":
            nodes.append(h.make_node("Relu", [o], ["a%d" % i]))
            o = "a%d" % i
        elif act == "clip":
            inits += [nh.from_array(np.array(0, np.float32), "lo%d" % i),
                      nh.from_array(np.array(0.6, np.float32), "hi%d" % i)]
            nodes.append(h.make_node("Clip", [o, "lo%d" % i, "hi%d" % i], ["a%d" % i]))
            o = "a%d" % i
        elif act == "sigmoid":
            nodes.append(h.make_node("Sigmoid", [o], ["a%d" % i]))
            o = "a%d" % i
        if out_q or i + 1 < layers:
            yz = 0 if act in ("relu", "clip", "sigmoid") else 128
            inits += [nh.from_array(np.array(0.05 if act != "sigmoid" else 0.004, np.float32), "ys%d" % i),
                      nh.from_array(np.array(yz, np.uint8), "yz%d" % i)]
            nodes += [h.make_node("QuantizeLinear", [o, "ys%d" % i, "yz%d" % i], ["q%d" % i]),
                      h.make_node("DequantizeLinear", ["q%d" % i, "ys%d" % i, "yz%d" % i], ["d%d" % i])]
            o = "d%d" % i
        src, cin, size = o, M, (size + 2 * (k // 2) - k) // stride + 1
    path = save(nodes, inits, [h.make_tensor_value_info("x", T.FLOAT, [1, C, hw, hw])],
                [h.make_tensor_value_info(src, T.FLOAT, [1, M, size, size])], name)
    step = 0.05 if out_q and act != "sigmoid" else 0.004 if out_q else None
    return path, src, step


def test_int8_qdq():
    cases = [
        dict(name="conv3x3_relu", C=8, M=16, k=3, act="relu"),
        dict(name="conv3x3_linear", C=8, M=16, k=3),
        dict(name="conv3x3_float_out", C=8, M=16, k=3, out_q=False),
        dict(name="depthwise_relu", C=16, M=16, k=3, group=16, act="relu"),
        dict(name="grouped_stride2", C=8, M=16, k=3, group=2, stride=2, act="relu"),
        dict(name="pointwise", C=24, M=16, k=1),
        dict(name="per_tensor", C=8, M=16, k=3, act="relu", per_channel=False),
        dict(name="int8_activations", C=8, M=16, k=3, act="relu", x_type=np.int8),
        dict(name="no_bias", C=8, M=16, k=3, act="relu", bias=False),
        dict(name="clip", C=8, M=16, k=3, act="clip"),
        dict(name="sigmoid", C=8, M=16, k=3, act="sigmoid"),
        dict(name="stack3", C=8, M=16, k=3, act="relu", layers=3),
    ]
    for c in cases:
        path, out, step = qdq_conv_model(**c)
        x = rng.standard_normal((1, c["C"], 13, 13)).astype(np.float32)
        ref, _ = run(path, {"x": x}, "fp32")
        got, log = run(path, {"x": x}, "int8")
        layers = c.get("layers", 1)
        check("precision int8 (%d convolutions" % layers in log, c["name"] + ": int8 in use", log)
        r, g = ref[out], got[out]
        if step is None:
            # a float result: the accumulator is exact, the scale and bias are
            # applied in another order; relative to the output's range
            tol = 1e-5 * max(1.0, float(np.abs(r).max()))
            check(np.abs(r - g).max() <= tol, c["name"] + ": float result as fp32",
                  np.abs(r - g).max())
        else:
            d = np.abs(r - g) / step
            check(d.max() <= 1.0 + 1e-4 and (d > 1e-4).mean() <= 0.01,
                  c["name"] + ": within one step of fp32, 99% equal", "max steps", d.max(),
                  "differing", (d > 1e-4).mean())


def test_int8_matmul_view():
    """A channels-last 1x1 int8 convolution may run as oneDNN's int8 matmul (the
    kernel timing picks it where faster): the same scales, zero points,
    activations and results as the direct kernel, pinned one way and the other."""
    with open("/proc/cpuinfo") as f:
        flags = f.read()
    vnni = " avx512_vnni" in flags or " avx_vnni" in flags
    # three layers: the middle one reads and writes channels-last (the first
    # reads the graph's NCHW input, the last writes its NCHW output)
    cases = [
        dict(name="pw_relu", C=24, M=32, k=1, act="relu", layers=3),
        dict(name="pw_linear_u8", C=24, M=24, k=1, layers=3),
        dict(name="pw_float_out", C=24, M=24, k=1, out_q=False, layers=3),
        dict(name="pw_per_tensor_s8", C=16, M=16, k=1, per_channel=False, x_type=np.int8,
             layers=3),
    ]
    for c in cases:
        path, out, step = qdq_conv_model(**c)
        x = rng.standard_normal((1, c["C"], 13, 13)).astype(np.float32)
        direct, _ = run(path, {"x": x}, "int8", {"SKIFF_CONV_ALGO": "blocked"})
        mm, log = run(path, {"x": x}, "int8", {"SKIFF_CONV_ALGO": "matmul", "ONEDNN_VERBOSE": "1"})
        if vnni:
            check("exec,cpu,matmul" in log, c["name"] + ": a convolution ran as a matmul",
                  log[-600:])
        else:  # u8 x s8 pairs could saturate in the matmul: the convolution stays
            check("exec,cpu,matmul" not in log, c["name"] + ": no int8 matmul without VNNI",
                  log[-600:])
        d, g = direct[out], mm[out]
        tol = (step or 0) + 1e-5 * max(1.0, float(np.abs(d).max()))
        check(np.abs(d - g).max() <= tol and (np.abs(d - g) > 1e-6).mean() <= 0.01,
              c["name"] + ": as the direct kernel", np.abs(d - g).max())


def residual_model(quantized_join):
    """x -> Q/DQ -> Conv1 -> Relu -> a; a -> Q/DQ -> Conv2 -> Q/DQ -> Add(., r) -> Relu,
    with r = a (float: skiff quantize's form) or DQ(Q(a)) and the join quantized."""
    C = 16
    inits = [nh.from_array(np.array(0.02, np.float32), "xs"), nh.from_array(np.array(128, np.uint8), "xz"),
             nh.from_array(np.array(0.03, np.float32), "as"), nh.from_array(np.array(0, np.uint8), "az"),
             nh.from_array(np.array(0.04, np.float32), "ys"), nh.from_array(np.array(128, np.uint8), "yz"),
             nh.from_array(np.array(0.05, np.float32), "os"), nh.from_array(np.array(0, np.uint8), "oz")]
    nodes = [h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"])]
    for i, src in ((1, "xd"), (2, "ad")):
        wq, ws = quant_weights((rng.standard_normal((C, C, 3, 3)) * 0.15).astype(np.float32), True)
        inits += [nh.from_array(wq, "w%d" % i), nh.from_array(ws, "ws%d" % i),
                  nh.from_array((rng.standard_normal(C) * 0.1).astype(np.float32), "b%d" % i)]
        nodes += [h.make_node("DequantizeLinear", ["w%d" % i, "ws%d" % i], ["wd%d" % i], axis=0),
                  h.make_node("Conv", [src, "wd%d" % i, "b%d" % i], ["c%d" % i], pads=[1, 1, 1, 1])]
        if i == 1:
            nodes += [h.make_node("Relu", ["c1"], ["a"]),
                      h.make_node("QuantizeLinear", ["a", "as", "az"], ["aq"]),
                      h.make_node("DequantizeLinear", ["aq", "as", "az"], ["ad"])]
    nodes += [h.make_node("QuantizeLinear", ["c2", "ys", "yz"], ["yq"]),
              h.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["yd"]),
              h.make_node("Add", ["yd", "ad" if quantized_join else "a"], ["s"]),
              h.make_node("Relu", ["s"], ["o"])]
    out = "o"
    if quantized_join:
        nodes += [h.make_node("QuantizeLinear", ["o", "os", "oz"], ["oq"]),
                  h.make_node("DequantizeLinear", ["oq", "os", "oz"], ["od"])]
        out = "od"
    name = "residual_q" if quantized_join else "residual_float"
    path = save(nodes, inits, [h.make_tensor_value_info("x", T.FLOAT, [1, C, 12, 12])],
                [h.make_tensor_value_info(out, T.FLOAT, [1, C, 12, 12])], name)
    return path, out


def test_int8_residual():
    """A residual join after an int8 convolution runs in that convolution
    (oneDNN's sum post-op): float residual, or quantized on both sides. The
    convolution's own rounding to y's scale (0.04) is skipped there, so the
    result may differ from fp32's by half of that, then by one output step."""
    for quantized_join in (False, True):
        path, out = residual_model(quantized_join)
        x = rng.standard_normal((1, 16, 12, 12)).astype(np.float32)
        ref, _ = run(path, {"x": x}, "fp32")
        got, log = run(path, {"x": x}, "int8")
        what = "residual (%s join)" % ("quantized" if quantized_join else "float")
        check("2 convolutions and products in int8 (1 add their quantized residual" in log, what + ": fused",
              log)
        r, g = ref[out], got[out]
        if quantized_join:
            d = np.abs(r - g) / 0.05
            check(d.max() <= 1.0 + 1e-4 and (d > 1e-4).mean() <= 0.2,
                  what + ": within one step of fp32", "max steps", d.max(), "differing", (d > 1e-4).mean())
        else:
            e = np.abs(r - g).max()
            check(e <= 0.02 + 1e-4, what + ": within half of y's step of fp32", e)
        check(np.abs(r).max() > 0.5, what + ": the output is not trivially small", np.abs(r).max())


def test_int8_products():
    """QDQ MatMul (per-column weights, quantized result) and Gemm (transB=1,
    per-row weights, a float bias, float result) run as oneDNN int8 products:
    within one output step of the fp32 path, or as fp32 for a float result."""
    K, N = 64, 32
    for gemm in (False, True):
        w = (rng.standard_normal((N, K) if gemm else (K, N)) * 0.2).astype(np.float32)
        axis = 0 if gemm else 1
        ws = (np.abs(w).max(axis=1 - axis) / 63).astype(np.float32)
        wq = np.round(w / (ws[:, None] if gemm else ws[None, :])).astype(np.int8)
        inits = [nh.from_array(np.array(0.03, np.float32), "xs"), nh.from_array(np.array(120, np.uint8), "xz"),
                 nh.from_array(wq, "wq"), nh.from_array(ws, "ws"),
                 nh.from_array(np.array(0.05, np.float32), "ys"), nh.from_array(np.array(128, np.uint8), "yz")]
        nodes = [h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
                 h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
                 h.make_node("DequantizeLinear", ["wq", "ws"], ["wd"], axis=axis)]
        xshape = [6, K] if gemm else [2, 5, K]
        if gemm:
            inits.append(nh.from_array((rng.standard_normal(N) * 0.5).astype(np.float32), "c"))
            nodes.append(h.make_node("Gemm", ["xd", "wd", "c"], ["y"], transB=1))
            out, step = "y", None
        else:
            nodes += [h.make_node("MatMul", ["xd", "wd"], ["m"]),
                      h.make_node("QuantizeLinear", ["m", "ys", "yz"], ["mq"]),
                      h.make_node("DequantizeLinear", ["mq", "ys", "yz"], ["y"])]
            out, step = "y", 0.05
        yshape = xshape[:-1] + [N]
        name = "qdq_gemm" if gemm else "qdq_matmul"
        path = save(nodes, inits, [h.make_tensor_value_info("x", T.FLOAT, xshape)],
                    [h.make_tensor_value_info(out, T.FLOAT, yshape)], name)
        x = rng.standard_normal(xshape).astype(np.float32)
        ref, _ = run(path, {"x": x}, "fp32")
        got, log = run(path, {"x": x}, "int8")
        check("precision int8 (1 convolutions and products" in log, name + ": int8 in use", log)
        r, g = ref[out], got[out]
        if step is None:
            tol = 1e-5 * max(1.0, float(np.abs(r).max()))
            check(np.abs(r - g).max() <= tol, name + ": float result as fp32", np.abs(r - g).max())
        else:
            d = np.abs(r - g) / step
            check(d.max() <= 1.0 + 1e-4 and (d > 1e-4).mean() <= 0.01, name + ": within one step of fp32, 99% equal",
                  "max steps", d.max(), "differing", (d > 1e-4).mean())
        check(np.abs(r).max() > 0.5, name + ": the output is not trivially small", np.abs(r).max())


def test_qlinear_conv():
    """QLinearConv: constant scales (oneDNN) against scales fed as inputs (reference kernel)."""
    C, M, k = 8, 16, 3
    w = (rng.standard_normal((M, C, k, k)) * 0.3).astype(np.float32)
    wq, ws = quant_weights(w, True)
    b = rng.integers(-500, 500, M).astype(np.int32)
    consts = {"x_scale": np.array(0.02, np.float32), "x_zero_point": np.array(128, np.uint8),
              "w": wq, "w_scale": ws, "w_zero_point": np.zeros(M, np.int8),
              "y_scale": np.array(0.05, np.float32), "y_zero_point": np.array(100, np.uint8), "B": b}
    order = ["x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point", "B"]
    node = h.make_node("QLinearConv", order, ["y"], pads=[1, 1, 1, 1])
    x = rng.integers(0, 256, (1, C, 11, 11)).astype(np.uint8)
    out = h.make_tensor_value_info("y", T.UINT8, [1, M, 11, 11])
    const_path = save([node], [nh.from_array(v, n) for n, v in consts.items()],
                      [h.make_tensor_value_info("x", T.UINT8, [1, C, 11, 11])], [out], "qlinear_const")
    feeds = [h.make_tensor_value_info(n, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[v.dtype], list(v.shape))
             for n, v in consts.items()]
    input_path = save([node], [], [h.make_tensor_value_info("x", T.UINT8, [1, C, 11, 11])] + feeds, [out],
                      "qlinear_inputs")
    a, _ = run(const_path, {"x": x}, "fp32")
    ref, _ = run(input_path, dict(consts, x=x), "fp32")
    d = np.abs(a["y"].astype(np.int32) - ref["y"].astype(np.int32))
    check(d.max() <= 1 and (d > 0).mean() <= 0.01, "QLinearConv on oneDNN as the reference kernel",
          "max", d.max(), "differing", (d > 0).mean())


def test_int8_fallback():
    x = h.make_tensor_value_info("x", T.FLOAT, [1, 4, 8, 8])
    y = h.make_tensor_value_info("y", T.FLOAT, [1, 4, 8, 8])
    w = nh.from_array((rng.standard_normal((4, 4, 3, 3)) * 0.2).astype(np.float32), "w")
    path = save([h.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], [w], [x], [y], "float_conv")
    xv = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    # one kernel for both runs: the timed choice (Winograd or direct, on
    # AVX-512) may differ between two processes on a loaded machine
    pin = {"SKIFF_CONV_ALGO": "blocked"}
    ref, _ = run(path, {"x": xv}, "fp32", pin)
    got, log = run(path, {"x": xv}, "int8", pin)
    check("precision int8 requested, running fp32" in log and "skiff quantize" in log and "precision fp32" in log,
          "int8 on a float model: fp32 with a warning", log)
    check(np.array_equal(ref["y"], got["y"]), "int8 fallback computes fp32")


def test_bf16():
    K, N = 256, 96
    x = h.make_tensor_value_info("x", T.FLOAT, [2, 8, 16, 16])
    a = h.make_tensor_value_info("a", T.FLOAT, [4, K])
    y = h.make_tensor_value_info("y", T.FLOAT, [2, 16, 16, 16])
    z = h.make_tensor_value_info("z", T.FLOAT, [4, N])
    w = nh.from_array((rng.standard_normal((16, 8, 3, 3)) * 0.2).astype(np.float32), "w")
    bm = nh.from_array((rng.standard_normal((K, N)) * 0.1).astype(np.float32), "bm")
    path = save([h.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]), h.make_node("MatMul", ["a", "bm"], ["z"])],
                [w, bm], [x, a], [y, z], "bf16_pair")
    inputs = {"x": rng.standard_normal((2, 8, 16, 16)).astype(np.float32),
              "a": rng.standard_normal((4, K)).astype(np.float32)}
    pin = {"SKIFF_CONV_ALGO": "blocked"}  # one kernel for both runs (see test_int8_fallback)
    ref, _ = run(path, inputs, "fp32", pin)
    got, log = run(path, inputs, "bf16", pin)
    if "precision bf16 requested, running fp32" in log:
        check("AVX512-BF16" in log and "precision fp32" in log, "bf16 without AVX512-BF16: fp32 with a warning", log)
        check(all(np.array_equal(ref[k], got[k]) for k in ref), "bf16 fallback computes fp32")
        capped, log = run(path, inputs, "bf16", {"ONEDNN_MAX_CPU_ISA": "AVX2"})
        check("ONEDNN_MAX_CPU_ISA" in log, "the warning names the cap", log)
        return
    check("precision bf16 (2 convolutions and products" in log, "bf16 in use", log)
    for k in ("y", "z"):
        # bf16 keeps 8 bits of mantissa: each product's inputs are rounded by
        # at most 2^-9 relative; the sums stay fp32
        r, g = ref[k], got[k]
        scale = np.sqrt((r ** 2).mean())
        rel = np.abs(r - g).max() / scale
        cos = float((r * g).sum() / np.sqrt((r * r).sum() * (g * g).sum()))
        check(rel < 0.03 and cos > 0.9999, "bf16 %s within bf16 rounding" % k, "max/rms", rel, "cos", cos)
        check(not np.array_equal(r, g), "bf16 %s is not fp32" % k)
    capped, log = run(path, inputs, "bf16", {"ONEDNN_MAX_CPU_ISA": "AVX2"})
    check("precision bf16 requested, running fp32" in log and "ONEDNN_MAX_CPU_ISA" in log,
          "bf16 capped by ONEDNN_MAX_CPU_ISA: fp32 with a warning", log)


def test_bf16_chain():
    """Convolutions reading only each other pass bf16 results on: no
    float32 -> bf16 conversion of an activation between them, a fused
    residual sum held in bf16, the result within bf16's rounding."""
    x = h.make_tensor_value_info("x", T.FLOAT, [2, 8, 16, 16])
    y = h.make_tensor_value_info("y", T.FLOAT, [2, 16, 16, 16])
    w1 = nh.from_array((rng.standard_normal((16, 8, 3, 3)) * 0.2).astype(np.float32), "w1")
    w2 = nh.from_array((rng.standard_normal((16, 16, 3, 3)) * 0.1).astype(np.float32), "w2")
    w3 = nh.from_array((rng.standard_normal((16, 16, 1, 1)) * 0.2).astype(np.float32), "w3")
    nodes = [h.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             h.make_node("Relu", ["c1"], ["r1"]),
             h.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             h.make_node("Add", ["c2", "r1"], ["s"]),
             h.make_node("Conv", ["s", "w3"], ["y"])]
    path = save(nodes, [w1, w2, w3], [x], [y], "bf16_chain")
    inputs = {"x": rng.standard_normal((2, 8, 16, 16)).astype(np.float32)}
    pin = {"SKIFF_CONV_ALGO": "blocked"}  # one kernel for both runs (see test_int8_fallback)
    ref, _ = run(path, inputs, "fp32", pin)
    got, log = run(path, inputs, "bf16", dict(pin, ONEDNN_VERBOSE="1"))
    if "precision bf16 requested, running fp32" in log:
        check(np.array_equal(ref["y"], got["y"]), "bf16 chain fallback computes fp32")
        return
    r, g = ref["y"], got["y"]
    rel = np.abs(r - g).max() / np.sqrt((r ** 2).mean())
    cos = float((r * g).sum() / np.sqrt((r * r).sum() * (g * g).sum()))
    check(rel < 0.05 and cos > 0.9999, "bf16 chain within bf16 rounding", "max/rms", rel, "cos", cos)
    # oneDNN's execution log: activations (2x16x16x16, or 512x16 seen as a
    # matrix) are never reordered from f32 to bf16; the input x is
    conv_in = []
    for line in log.splitlines():
        f = line.split(",")
        if len(f) > 9 and f[1] == "exec" and f[3] == "reorder" and "src_f32" in f[6] and "dst_bf16" in f[6]:
            conv_in.append(f[9])
    check("2x8x16x16" in conv_in, "bf16 chain: the graph input is converted", conv_in)
    check(not any(d in ("2x16x16x16", "512x16") for d in conv_in),
          "bf16 chain: no activation between the convolutions is converted", conv_in)


def main():
    global SKIFF, TMP
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skiff", required=True)
    args = ap.parse_args()
    SKIFF = os.path.abspath(args.skiff)
    with tempfile.TemporaryDirectory(prefix="skiff-precision-") as tmp:
        TMP = tmp
        for t in (test_int8_qdq, test_int8_matmul_view, test_int8_residual, test_int8_products, test_qlinear_conv, test_int8_fallback, test_bf16,
                  test_bf16_chain):
            print("--", t.__name__)
            t()
    if failures:
        print("%d failed: %s" % (len(failures), ", ".join(failures)))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
