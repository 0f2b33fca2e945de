#!/usr/bin/python3
"""Writes the small ONNX models the unit tests use into tests/data/.

Run with Debian's python3 (python3-onnx, python3-numpy):
    /usr/bin/python3 tools/make_test_models.py
The outputs are committed; rerun only when changing them."""
import os
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(7)


def save(model, name):
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name))


# y = relu(x @ W + b) @ W2 + b2 : Gemm, Relu, Gemm with a dynamic batch.
w1 = rng.standard_normal((4, 8)).astype(np.float32)
b1 = rng.standard_normal(8).astype(np.float32)
w2 = rng.standard_normal((8, 3)).astype(np.float32)
b2 = rng.standard_normal(3).astype(np.float32)
g = helper.make_graph(
    [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["hr"], name="relu1"),
        helper.make_node("Identity", ["hr"], ["hi"], name="id1"),
        helper.make_node("Gemm", ["hi", "w2", "b2"], ["y"], name="fc2"),
    ],
    "mlp",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
    [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
     numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(b2, "b2")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "mlp.onnx")
x = rng.standard_normal((2, 4)).astype(np.float32)
np.save(os.path.join(OUT, "mlp_x.npy"), x)
y = np.maximum(x @ w1 + b1, 0) @ w2 + b2
np.save(os.path.join(OUT, "mlp_y.npy"), y.astype(np.float32))

# Two unsupported ops, to check that the loader lists both at once.
g = helper.make_graph(
    [
        helper.make_node("FooOp", ["x"], ["a"], name="foo1", domain="com.example"),
        helper.make_node("BarOp", ["a"], ["y"], name="bar1", domain="com.example"),
    ],
    "unsupported",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                        helper.make_opsetid("com.example", 1)])
onnx.save(m, os.path.join(OUT, "unsupported.onnx"))

# Constant folding: y = x + (c1 * c2), with a Constant node.
g = helper.make_graph(
    [
        helper.make_node("Constant", [], ["c1"], value=numpy_helper.from_array(
            np.array([1, 2, 3], dtype=np.float32))),
        helper.make_node("Mul", ["c1", "c2"], ["c"], name="mulc"),
        helper.make_node("Add", ["x", "c"], ["y"], name="addx"),
    ],
    "fold",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
    [numpy_helper.from_array(np.array([2, 2, 2], dtype=np.float32), "c2")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "fold.onnx")

# External data: the weight of a MatMul lives in a side file.
wext = rng.standard_normal((4, 2)).astype(np.float32)
t = numpy_helper.from_array(wext, "wext")
g = helper.make_graph(
    [helper.make_node("MatMul", ["x", "wext"], ["y"], name="mm")],
    "external",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    [t],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
if os.path.exists(os.path.join(OUT, "external.bin")):
    os.remove(os.path.join(OUT, "external.bin"))  # onnx.save appends to it
onnx.external_data_helper.convert_model_to_external_data(
    m, all_tensors_to_one_file=True, location="external.bin", size_threshold=0)
onnx.save(m, os.path.join(OUT, "external.onnx"))
np.save(os.path.join(OUT, "external_w.npy"), wext)
print("wrote", sorted(os.listdir(OUT)))

# GELU (erf form, as torch exports it) followed by layer normalisation written
# out as ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add: the passes fuse both.
from math import erf, sqrt
gamma = rng.standard_normal(6).astype(np.float32)
beta = rng.standard_normal(6).astype(np.float32)
c = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.float32), name)
g = helper.make_graph(
    [
        helper.make_node("Div", ["x", "sqrt2"], ["g_div"]),
        helper.make_node("Erf", ["g_div"], ["g_erf"]),
        helper.make_node("Add", ["g_erf", "one"], ["g_add"]),
        helper.make_node("Mul", ["x", "g_add"], ["g_mul"]),
        helper.make_node("Mul", ["g_mul", "half"], ["h"]),
        helper.make_node("ReduceMean", ["h"], ["ln_mean"], axes=[-1]),
        helper.make_node("Sub", ["h", "ln_mean"], ["ln_sub"]),
        helper.make_node("Pow", ["ln_sub", "two"], ["ln_pow"]),
        helper.make_node("ReduceMean", ["ln_pow"], ["ln_var"], axes=[-1]),
        helper.make_node("Add", ["ln_var", "eps"], ["ln_add"]),
        helper.make_node("Sqrt", ["ln_add"], ["ln_sqrt"]),
        helper.make_node("Div", ["ln_sub", "ln_sqrt"], ["ln_div"]),
        helper.make_node("Mul", ["ln_div", "gamma"], ["ln_mul"]),
        helper.make_node("Add", ["ln_mul", "beta"], ["y"]),
    ],
    "gelu_layernorm",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6])],
    [c("sqrt2", 1.4142135381698608), c("one", 1.0), c("half", 0.5), c("two", 2.0),
     c("eps", 1e-5), numpy_helper.from_array(gamma, "gamma"), numpy_helper.from_array(beta, "beta")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "gelu_ln.onnx")
x = rng.standard_normal((2, 6)).astype(np.float64)
h = x * 0.5 * (1 + np.vectorize(erf)(x / sqrt(2)))
mu = h.mean(-1, keepdims=True)
var = ((h - mu) ** 2).mean(-1, keepdims=True)
y = (h - mu) / np.sqrt(var + 1e-5) * gamma + beta
np.save(os.path.join(OUT, "gelu_ln_x.npy"), x.astype(np.float32))
np.save(os.path.join(OUT, "gelu_ln_y.npy"), y.astype(np.float32))
print("wrote gelu_ln")

# paddle2onnx's hardswish after a 1x1 Conv (opset 9: Clip bounds as
# attributes): Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6). The passes turn it into
# HardSwish and fuse that into the Conv.
wc = rng.standard_normal((4, 3, 1, 1)).astype(np.float32)
g = helper.make_graph(
    [
        helper.make_node("Conv", ["x", "wc"], ["c"], name="conv"),
        helper.make_node("Add", ["c", "three"], ["a"]),
        helper.make_node("Clip", ["a"], ["cl"], min=0.0, max=6.0),
        helper.make_node("Mul", ["c", "cl"], ["m"]),
        helper.make_node("Div", ["m", "six"], ["y"]),
    ],
    "hardswish",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2, 2])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 2, 2])],
    [numpy_helper.from_array(wc, "wc"), c("three", 3.0), c("six", 6.0)],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)]), "hardswish.onnx")
x = (rng.standard_normal((1, 3, 2, 2)) * 3).astype(np.float32)
conv = np.einsum("oc,nchw->nohw", wc[:, :, 0, 0], x)
y = conv * np.clip(conv + 3, 0, 6) / 6
np.save(os.path.join(OUT, "hardswish_x.npy"), x)
np.save(os.path.join(OUT, "hardswish_y.npy"), y.astype(np.float32))
print("wrote hardswish")

# Shape chain: y = Reshape(x, [N*M, 1]) + N*M, with N, M read by Shape/Gather.
# The engine keeps such shape-derived values per input-shape signature.
g = helper.make_graph(
    [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        helper.make_node("Gather", ["s", "i1"], ["m"], axis=0),
        helper.make_node("Mul", ["n", "m"], ["nm"]),
        helper.make_node("Unsqueeze", ["nm", "ax0"], ["nm1"]),
        helper.make_node("Concat", ["nm1", "one"], ["shp"], axis=0),
        helper.make_node("Reshape", ["x", "shp"], ["flat"]),
        helper.make_node("Cast", ["nm"], ["nmf"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["flat", "nmf"], ["y"]),
    ],
    "shape_chain",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "M"])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["NM", 1])],
    [numpy_helper.from_array(np.array(0, dtype=np.int64), "i0"),
     numpy_helper.from_array(np.array(1, dtype=np.int64), "i1"),
     numpy_helper.from_array(np.array([0], dtype=np.int64), "ax0"),
     numpy_helper.from_array(np.array([1], dtype=np.int64), "one")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "shape_chain.onnx")
print("wrote shape_chain")

# Channels-last chain: Convs, pools and fused sums whose edges the engine
# holds channels-last, with every layout mix a fused sum can meet (the sum
# row-major into a channels-last output and the reverse), a pool oneDNN
# declines (ceil_mode past the pads with count_include_pad), and 3x3 convs
# with 16 and 32 channels that may run as Winograd. Reference from PyTorch.
import torch
import torch.nn.functional as F


def wt(*shape):
    return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)


w1, b1 = wt(16, 16, 3, 3), wt(16)
w2, w3, b3 = wt(32, 16, 1, 1), wt(32, 16, 1, 1), wt(32)
w4, b4 = wt(32, 32, 3, 3), wt(32)
w5, w6 = wt(16, 16, 1, 1), wt(16, 16, 1, 1)
g = helper.make_graph(
    [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p1", "w3", "b3"], ["side"]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"]),
        helper.make_node("Add", ["c2", "side"], ["a"]),
        helper.make_node("Relu", ["a"], ["ar"]),
        helper.make_node("AveragePool", ["ar"], ["ap"], kernel_shape=[2, 2], strides=[2, 2],
                         ceil_mode=1, count_include_pad=1),
        helper.make_node("Conv", ["ap", "w4", "b4"], ["c4"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c4"], ["gp"]),
        helper.make_node("Flatten", ["gp"], ["y"]),
        helper.make_node("Conv", ["p1", "w5"], ["c5"]),
        helper.make_node("Conv", ["p1", "w6"], ["c6"]),
        helper.make_node("Add", ["c5", "c6"], ["z"]),
    ],
    "cl_chain",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16, 13, 13])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 32]),
     helper.make_tensor_value_info("side", TensorProto.FLOAT, ["N", 32, 7, 7]),
     helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 16, 7, 7])],
    [numpy_helper.from_array(v, k) for k, v in
     dict(w1=w1, b1=b1, w2=w2, w3=w3, b3=b3, w4=w4, b4=b4, w5=w5, w6=w6).items()],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "cl_chain.onnx")
x = rng.standard_normal((2, 16, 13, 13)).astype(np.float32)
T = {k: torch.from_numpy(v).double() for k, v in
     dict(x=x, w1=w1, b1=b1, w2=w2, w3=w3, b3=b3, w4=w4, b4=b4, w5=w5, w6=w6).items()}
p1 = F.max_pool2d(F.relu(F.conv2d(T["x"], T["w1"], T["b1"], padding=1)), 3, 2, 1)
side = F.conv2d(p1, T["w3"], T["b3"])
ar = F.relu(F.conv2d(p1, T["w2"]) + side)
ap = F.avg_pool2d(ar, 2, 2, ceil_mode=True, count_include_pad=True)
y = F.conv2d(ap, T["w4"], T["b4"], padding=1).mean(dim=(2, 3))
z = F.conv2d(p1, T["w5"]) + F.conv2d(p1, T["w6"])
np.save(os.path.join(OUT, "cl_chain_x.npy"), x)
for k, v in dict(y=y, side=side, z=z).items():
    np.save(os.path.join(OUT, "cl_chain_%s.npy" % k), v.numpy().astype(np.float32))
print("wrote cl_chain")

# Fused sums whose addend dies at the Conv: the output takes over the
# addend's buffer, including while the first run times the candidate
# kernels (1x1: blocked vs plain; 3x3 with 16 channels: direct vs Winograd).
w7, w8 = wt(16, 16, 1, 1), wt(16, 16, 3, 3)
g = helper.make_graph(
    [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Conv", ["x", "w7"], ["c7"]),
        helper.make_node("Add", ["c7", "a"], ["y1"]),
        helper.make_node("Sigmoid", ["x"], ["b"]),
        helper.make_node("Conv", ["x", "w8"], ["c8"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["b", "c8"], ["y2"]),
    ],
    "sum_inplace",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16, 6, 6])],
    [helper.make_tensor_value_info("y1", TensorProto.FLOAT, ["N", 16, 6, 6]),
     helper.make_tensor_value_info("y2", TensorProto.FLOAT, ["N", 16, 6, 6])],
    [numpy_helper.from_array(w7, "w7"), numpy_helper.from_array(w8, "w8")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "sum_inplace.onnx")
x = rng.standard_normal((2, 16, 6, 6)).astype(np.float32)
xt = torch.from_numpy(x).double()
y1 = F.conv2d(xt, torch.from_numpy(w7).double()) + F.relu(xt)
y2 = F.conv2d(xt, torch.from_numpy(w8).double(), padding=1) + torch.sigmoid(xt)
np.save(os.path.join(OUT, "sum_inplace_x.npy"), x)
np.save(os.path.join(OUT, "sum_inplace_y1.npy"), y1.numpy().astype(np.float32))
np.save(os.path.join(OUT, "sum_inplace_y2.npy"), y2.numpy().astype(np.float32))
print("wrote sum_inplace")

# Gemm and MatMul by constant weights (packed once when 4096 floats or
# more): a row bias fused from the Add after a MatMul, a same-shape fused sum
# (copied, and in place where the addend dies), Gemm's C with transB, and the
# forms that stay on the sgemm path (beta != 1, a sum broadcast along rows,
# W4's 1536 floats).
W1, b1 = wt(64, 64).T.copy(), wt(64)
W2 = wt(64, 64)
W3, C3 = wt(32, 192), wt(32)
W4, C4 = wt(192, 8), wt(8)
W5 = wt(64, 64).T.copy()
W6 = wt(64, 64)
g = helper.make_graph(
    [
        helper.make_node("MatMul", ["x", "W1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["h1"]),
        helper.make_node("MatMul", ["h1", "W2"], ["m2"]),
        helper.make_node("Add", ["m2", "h1"], ["h2"]),
        helper.make_node("Flatten", ["h2"], ["flat"]),
        helper.make_node("Gemm", ["flat", "W3", "C3"], ["g3"], transB=1),
        helper.make_node("Sigmoid", ["g3"], ["y1"]),
        helper.make_node("Gemm", ["flat", "W4", "C4"], ["y2"], beta=0.5),
        helper.make_node("ReduceMean", ["h1"], ["z5"], axes=[1], keepdims=1),
        helper.make_node("MatMul", ["x", "W5"], ["m5"]),
        helper.make_node("Add", ["m5", "z5"], ["y3"]),
        helper.make_node("Tanh", ["x"], ["t"]),
        helper.make_node("MatMul", ["x", "W6"], ["m6"]),
        helper.make_node("Add", ["m6", "t"], ["y4"]),
    ],
    "gemm_packed",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 64])],
    [helper.make_tensor_value_info("y1", TensorProto.FLOAT, ["N", 32]),
     helper.make_tensor_value_info("y2", TensorProto.FLOAT, ["N", 8]),
     helper.make_tensor_value_info("y3", TensorProto.FLOAT, ["N", 3, 64]),
     helper.make_tensor_value_info("y4", TensorProto.FLOAT, ["N", 3, 64])],
    [numpy_helper.from_array(v, k) for k, v in
     dict(W1=W1, b1=b1, W2=W2, W3=W3, C3=C3, W4=W4, C4=C4, W5=W5, W6=W6).items()],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "gemm_packed.onnx")
x = rng.standard_normal((2, 3, 64)).astype(np.float32)
xd = x.astype(np.float64)
h1 = np.maximum(xd @ W1 + b1, 0)
h2 = h1 @ W2 + h1
flat = h2.reshape(2, -1)
y1 = 1 / (1 + np.exp(-(flat @ W3.T.astype(np.float64) + C3)))
y2 = flat @ W4 + 0.5 * C4
y3 = xd @ W5 + h1.mean(axis=1, keepdims=True)
y4 = xd @ W6 + np.tanh(xd)
np.save(os.path.join(OUT, "gemm_packed_x.npy"), x)
for k, v in dict(y1=y1, y2=y2, y3=y3, y4=y4).items():
    np.save(os.path.join(OUT, "gemm_packed_%s.npy" % k), v.astype(np.float32))
print("wrote gemm_packed")

# Mul, Add and Sub by constant scalars fused into the producer as linear
# steps (either operand order; adjacent ones merged), around a HardSwish,
# where a second linear step after the HardSwish must stay a node of its own
# (oneDNN 2.6 runs two linear post-ops with the first one's parameters); a
# Gemm with a scalar Sub and Mul; a vector . vector MatMul, whose scalar
# result a [1] constant would broadcast to [1], so it is not fused.
Wc = wt(8, 4, 3, 3)
Wg = wt(24, 120)
vm = wt(16)
k = {n: np.array([v], np.float32) for n, v in
     dict(k0=0.7, k1=-0.3, k3=1.5, k4=0.25, k5=-2.0, k6=3.0).items()}
k["k2"] = np.array(1.25, np.float32)
g = helper.make_graph(
    [
        helper.make_node("Conv", ["x", "Wc"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["k0", "c"], ["c1"]),
        helper.make_node("Add", ["c1", "k1"], ["c2"]),
        helper.make_node("HardSwish", ["c2"], ["c3"]),
        helper.make_node("Mul", ["c3", "k2"], ["c4"]),
        helper.make_node("Sub", ["k3", "c4"], ["c5"]),
        helper.make_node("Relu", ["c5"], ["y1"]),
        helper.make_node("Flatten", ["x"], ["f"], axis=2),
        helper.make_node("Gemm", ["f", "Wg"], ["g"], transB=1),
        helper.make_node("Sub", ["g", "k4"], ["g1"]),
        helper.make_node("Mul", ["g1", "k5"], ["y2"]),
        helper.make_node("MatMul", ["v", "vm"], ["d"]),
        helper.make_node("Mul", ["d", "k6"], ["y3"]),
    ],
    "conv_affine",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 10, 12]),
     helper.make_tensor_value_info("v", TensorProto.FLOAT, [16])],
    [helper.make_tensor_value_info("y1", TensorProto.FLOAT, ["N", 8, 10, 12]),
     helper.make_tensor_value_info("y2", TensorProto.FLOAT, ["M", 24]),
     helper.make_tensor_value_info("y3", TensorProto.FLOAT, [1])],
    [numpy_helper.from_array(v, n) for n, v in dict(Wc=Wc, Wg=Wg, vm=vm, **k).items()],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), "conv_affine.onnx")
x = rng.standard_normal((2, 4, 10, 12)).astype(np.float32)
v = rng.standard_normal(16).astype(np.float32)
c = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(Wc).double(), padding=1).numpy()
c2 = 0.7 * c - 0.3
c3 = c2 * np.clip(c2 + 3, 0, 6) / 6
y1 = np.maximum(1.5 - np.float32(1.25) * c3, 0)
f = x.reshape(8, 120).astype(np.float64)
y2 = ((f @ Wg.T.astype(np.float64)) - 0.25) * -2.0
y3 = np.array([float(v.astype(np.float64) @ vm.astype(np.float64)) * 3.0])
np.save(os.path.join(OUT, "conv_affine_x.npy"), x)
np.save(os.path.join(OUT, "conv_affine_v.npy"), v)
for n_, val in dict(y1=y1, y2=y2, y3=y3).items():
    np.save(os.path.join(OUT, "conv_affine_%s.npy" % n_), val.astype(np.float32))
print("wrote conv_affine")


# One-node models of the detection, signal, text, loss and random operators,
# for the behaviour the conformance cases do not reach (errors, seeding,
# UTF-8): tests/unit/engine/test_ops.c. Inputs are declared without shapes
# so a test can feed anything.
def one_node(name, op, inputs, outputs, opset, **attrs):
    g = helper.make_graph(
        [helper.make_node(op, [i for i, _ in inputs], outputs, name=name, **attrs)], name,
        [helper.make_tensor_value_info(i, t, None) for i, t in inputs if i],
        [helper.make_value_info(o, onnx.TypeProto()) for o in outputs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.save(m, os.path.join(OUT, "ops_%s.onnx" % name))


F32, I64, STR = TensorProto.FLOAT, TensorProto.INT64, TensorProto.STRING
nms_in = [("boxes", F32), ("scores", F32), ("max", I64), ("iou", F32), ("score", F32)]
one_node("nms", "NonMaxSuppression", nms_in, ["sel"], 11)
one_node("nms_center", "NonMaxSuppression", nms_in, ["sel"], 11, center_point_box=1)
one_node("roialign", "RoiAlign", [("X", F32), ("rois", F32), ("bi", I64)], ["Y"], 16,
         output_height=2, output_width=2, mode="max")
one_node("gridsample", "GridSample", [("X", F32), ("grid", F32)], ["Y"], 16, mode="bicubic")
one_node("nll", "NegativeLogLikelihoodLoss", [("x", F32), ("t", I64)], ["loss"], 13,
         reduction="sum", ignore_index=-1)
one_node("dft_bad", "DFT", [("x", F32)], ["y"], 17, onesided=1, inverse=1)
one_node("uniform_seed", "RandomUniform", [], ["y"], 13, shape=[64], low=-2.0, high=3.0,
         seed=5.0)
one_node("uniform", "RandomUniform", [], ["y"], 13, shape=[64])
one_node("bernoulli", "Bernoulli", [("p", F32)], ["y"], 15, seed=1.0)
one_node("multinomial", "Multinomial", [("x", F32)], ["y"], 13, sample_size=200,
         dtype=TensorProto.INT64)
one_node("strnorm", "StringNormalizer", [("x", STR)], ["y"], 10, case_change_action="UPPER",
         stopwords=["über", "the"])
one_node("tfidf_bad", "TfIdfVectorizer", [("x", I64)], ["y"], 9, min_gram_length=1,
         max_gram_length=1, max_skip_count=0, ngram_counts=[0], ngram_indexes=[0, 1],
         pool_int64s=[4, 5])
one_node("unique", "Unique", [("x", STR)], ["y", "idx", "inv", "cnt"], 11, sorted=0)
one_node("bitshift", "BitShift", [("x", TensorProto.UINT32), ("y", TensorProto.UINT32)], ["z"], 11,
         direction="LEFT")
one_node("resize_aa", "Resize", [("X", F32), ("", None), ("scales", F32)], ["Y"], 18,
         mode="linear", antialias=1)
print("wrote ops_*")
# Control flow. cf_loop: a Loop of n iterations (n a graph input) carrying acc
# (from x), whose body holds an If that reads s (a value of the main graph
# nothing else reads) and k (a constant two scopes up), and scans out each
# acc; then a Scan over those rows keeps a running sum times k (read from
# the main graph in its body). Outputs: the last acc, the rows, the running
# sums.
F_ = TensorProto.FLOAT
I64 = TensorProto.INT64
B_ = TensorProto.BOOL
vi = helper.make_tensor_value_info
then_g = helper.make_graph([helper.make_node("Add", ["acc", "s"], ["t_out"])], "then", [],
                           [vi("t_out", F_, [3])])
else_g = helper.make_graph([helper.make_node("Mul", ["acc", "k"], ["e_out"])], "else", [],
                           [vi("e_out", F_, [3])])
body = helper.make_graph(
    [
        helper.make_node("Less", ["i", "two"], ["small"]),
        helper.make_node("If", ["small"], ["acc_new"], then_branch=then_g, else_branch=else_g),
        helper.make_node("Identity", ["acc_new"], ["row"]),
        helper.make_node("Identity", ["cond_in"], ["cond_out"]),
    ],
    "body",
    [vi("i", I64, []), vi("cond_in", B_, []), vi("acc", F_, [3])],
    [vi("cond_out", B_, []), vi("acc_new", F_, [3]), vi("row", F_, [3])],
    [numpy_helper.from_array(np.array(2, np.int64), "two")],
)
scan_body = helper.make_graph(
    [helper.make_node("Add", ["sum_in", "r"], ["sum_out"]),
     helper.make_node("Mul", ["sum_out", "k"], ["scaled"])],
    "scan_body",
    [vi("sum_in", F_, [3]), vi("r", F_, [3])],
    [vi("sum_out", F_, [3]), vi("scaled", F_, [3])],
)
g = helper.make_graph(
    [
        helper.make_node("Mul", ["x", "two_f"], ["s"]),
        helper.make_node("Loop", ["n", "", "x"], ["acc_last", "rows"], body=body),
        helper.make_node("Scan", ["zeros", "rows"], ["sum_last", "sums"], body=scan_body,
                         num_scan_inputs=1),
    ],
    "cf_loop",
    [vi("x", F_, [3]), vi("n", I64, [])],
    [vi("acc_last", F_, [3]), vi("rows", F_, ["T", 3]), vi("sums", F_, ["T", 3])],
    [numpy_helper.from_array(np.float32(2.0), "two_f"),
     numpy_helper.from_array(np.float32(0.5), "k"),
     numpy_helper.from_array(np.zeros(3, np.float32), "zeros")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 16)]), "cf_loop.onnx")
x = np.array([1.0, -2.0, 0.5], np.float32)
acc, rows = x.copy(), []
for i in range(4):
    acc = acc + 2 * x if i < 2 else acc * np.float32(0.5)
    rows.append(acc)
rows = np.stack(rows)
sums = np.cumsum(rows, axis=0) * np.float32(0.5)
np.save(os.path.join(OUT, "cf_loop_x.npy"), x)
np.save(os.path.join(OUT, "cf_loop_acc.npy"), acc.astype(np.float32))
np.save(os.path.join(OUT, "cf_loop_rows.npy"), rows.astype(np.float32))
np.save(os.path.join(OUT, "cf_loop_sums.npy"), sums.astype(np.float32))

# cf_seq: a Loop of n iterations inserts i * x into a sequence (carried from
# SequenceEmpty); ConcatFromSequence stacks it and SequenceLength counts it;
# SplitToSequence + SequenceAt take x's last element back.
seq_body = helper.make_graph(
    [
        helper.make_node("Cast", ["i"], ["fi"], to=F_),
        helper.make_node("Mul", ["x", "fi"], ["ix"]),
        helper.make_node("SequenceInsert", ["seq_in", "ix"], ["seq_out"]),
        helper.make_node("Identity", ["cond_in"], ["cond_out"]),
    ],
    "seq_body",
    [vi("i", I64, []), vi("cond_in", B_, []),
     helper.make_tensor_sequence_value_info("seq_in", F_, None)],
    [vi("cond_out", B_, []), helper.make_tensor_sequence_value_info("seq_out", F_, None)],
)
g = helper.make_graph(
    [
        helper.make_node("SequenceEmpty", [], ["empty"], dtype=F_),
        helper.make_node("Loop", ["n", "true", "empty"], ["seq"], body=seq_body),
        helper.make_node("ConcatFromSequence", ["seq"], ["stacked"], axis=0, new_axis=1),
        helper.make_node("SequenceLength", ["seq"], ["count"]),
        helper.make_node("SplitToSequence", ["x"], ["parts"], axis=0, keepdims=0),
        helper.make_node("SequenceAt", ["parts", "minus1"], ["last"]),
    ],
    "cf_seq",
    [vi("x", F_, [3]), vi("n", I64, [])],
    [vi("stacked", F_, ["T", 3]), vi("count", I64, []), vi("last", F_, [])],
    [numpy_helper.from_array(np.array(True), "true"),
     numpy_helper.from_array(np.array(-1, np.int64), "minus1")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 16)]), "cf_seq.onnx")


# cf_forever: a Loop without a trip count whose condition stays true; the
# run must stop at the context's loop budget.
fbody = helper.make_graph(
    [helper.make_node("Add", ["v", "one"], ["v2"]),
     helper.make_node("Identity", ["cond_in"], ["cond_out"])],
    "forever_body",
    [vi("i", I64, []), vi("cond_in", B_, []), vi("v", F_, [1])],
    [vi("cond_out", B_, []), vi("v2", F_, [1])],
    [numpy_helper.from_array(np.ones(1, np.float32), "one")],
)
g = helper.make_graph(
    [helper.make_node("Loop", ["", "true", "x"], ["y"], body=fbody)],
    "cf_forever", [vi("x", F_, [1])], [vi("y", F_, [1])],
    [numpy_helper.from_array(np.array(True), "true")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 16)]), "cf_forever.onnx")


# cf_deep: Ifs nested 20 deep (the engine refuses more than 16).
def nested_if(depth):
    if depth == 0:
        return helper.make_graph([helper.make_node("Neg", ["x"], ["y0"])], "leaf", [],
                                 [vi("y0", F_, [1])])
    inner = nested_if(depth - 1)
    out = "y%d" % depth
    leaf = helper.make_graph([helper.make_node("Abs", ["x"], ["a%d" % depth])], "leaf%d" % depth,
                             [], [vi("a%d" % depth, F_, [1])])
    return helper.make_graph(
        [helper.make_node("If", ["c"], [out], then_branch=inner, else_branch=leaf)],
        "level%d" % depth, [], [vi(out, F_, [1])])


top = nested_if(20)
g = helper.make_graph(list(top.node), "cf_deep", [vi("c", B_, []), vi("x", F_, [1])],
                      [vi("y20", F_, [1])])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 16)]), "cf_deep.onnx")

# cf_mismatch: an If whose branches give two outputs to a node with one.
two = helper.make_graph([helper.make_node("Neg", ["x"], ["a"]),
                         helper.make_node("Abs", ["x"], ["b"])], "two", [],
                        [vi("a", F_, [1]), vi("b", F_, [1])])
g = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=two, else_branch=two)],
                      "cf_mismatch", [vi("c", B_, []), vi("x", F_, [1])], [vi("y", F_, [1])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 16)]),
          os.path.join(OUT, "cf_mismatch.onnx"))
# cf_seqmap: SequenceMap over x's elements, with x itself as a tensor input
# and k from the main graph: element i is x * x[i] * k; stacked, 2 * outer(x, x).
mbody = helper.make_graph(
    [helper.make_node("Mul", ["t", "e"], ["te"]), helper.make_node("Mul", ["te", "k"], ["o"])],
    "map_body", [vi("e", F_, []), vi("t", F_, [3])], [vi("o", F_, [3])])
g = helper.make_graph(
    [
        helper.make_node("SplitToSequence", ["x"], ["parts"], axis=0, keepdims=0),
        helper.make_node("SequenceMap", ["parts", "x"], ["mapped"], body=mbody),
        helper.make_node("ConcatFromSequence", ["mapped"], ["y"], axis=0, new_axis=1),
    ],
    "cf_seqmap", [vi("x", F_, [3])], [vi("y", F_, [3, 3])],
    [numpy_helper.from_array(np.float32(2.0), "k")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), "cf_seqmap.onnx")


# cf_torch_loop: what torch.onnx.export makes of a scripted Python loop with
# a branch and a list (a Loop carrying a sequence, an If in its body,
# ConcatFromSequence); the outputs are torch's own.
class TorchLoop(torch.nn.Module):
    def forward(self, x, n: int):
        y = x
        outs = []
        for i in range(n):
            if i % 2 == 0:
                y = y * 2 + x
            else:
                y = torch.relu(y - 1.0)
            outs.append(y)
        return y, torch.stack(outs)


scripted = torch.jit.script(TorchLoop())
x = torch.from_numpy(rng.standard_normal((2, 3)).astype(np.float32))
torch.onnx.export(scripted, (x, 5), os.path.join(OUT, "cf_torch_loop.onnx"), opset_version=17,
                  input_names=["x", "n"], output_names=["y", "stacked"])
y, st_ = scripted(x, 5)
np.save(os.path.join(OUT, "cf_torch_loop_x.npy"), x.numpy())
np.save(os.path.join(OUT, "cf_torch_loop_y.npy"), y.numpy())
np.save(os.path.join(OUT, "cf_torch_loop_stacked.npy"), st_.numpy())
print("wrote control flow models")


# gelu_linear: a Linear layer and the erf GELU as torch exports them (bias Add
# with the bias first, then Div/Erf/Add/Mul/Mul on the Add's output, the
# constants as Constant nodes). The GELU's x is itself an Add: the passes still
# find the 1 + erf one, make a Gelu and fuse it into the MatMul.
from math import erf, sqrt  # noqa: E402
grng = np.random.default_rng(11)
gw = grng.standard_normal((8, 16)).astype(np.float32) * 0.5
gb = grng.standard_normal(16).astype(np.float32)


def const_node(name, v):
    return helper.make_node("Constant", [], [name],
                            value=numpy_helper.from_array(np.array(v, dtype=np.float32)))


g = helper.make_graph(
    [
        helper.make_node("MatMul", ["x", "w"], ["mm"]),
        helper.make_node("Add", ["b", "mm"], ["lin"]),
        const_node("sqrt2", 1.4142135381698608),
        const_node("one", 1.0),
        const_node("half", 0.5),
        helper.make_node("Div", ["lin", "sqrt2"], ["g_div"]),
        helper.make_node("Erf", ["g_div"], ["g_erf"]),
        helper.make_node("Add", ["g_erf", "one"], ["g_add"]),
        helper.make_node("Mul", ["lin", "g_add"], ["g_mul"]),
        helper.make_node("Mul", ["g_mul", "half"], ["y"]),
    ],
    "gelu_linear",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 16])],
    [numpy_helper.from_array(gw, "w"), numpy_helper.from_array(gb, "b")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "gelu_linear.onnx")
gx = grng.standard_normal((3, 8))
glin = gx @ gw.astype(np.float64) + gb
gy = glin * 0.5 * (1 + np.vectorize(erf)(glin / sqrt(2)))
np.save(os.path.join(OUT, "gelu_linear_x.npy"), gx.astype(np.float32))
np.save(os.path.join(OUT, "gelu_linear_y.npy"), gy.astype(np.float32))
print("wrote gelu_linear")
