"""Paddle 3 PIR programs (inference.json + inference.pdiparams), read by
src/engine/paddle_pir.c: small programs built here (Pir, below) checked
against numpy, the loader's refusals, and the real PP-LCNet text-line
orientation classifier of ../shared/paddle-models checked against a torch
run of the same JSON program (pir_torch, below).

Pir writes the format as Paddle 3 saves it (nothing is copied from a real
file): {"base_code": {"magic": "pir", "version": 1, "trainable": true},
"program": {"regions": [{"#": "region_0", "blocks": [{"#": "block_0",
"args": [], "ops": [...]}]}]}}; an op is {"#": "1.<pd_op name>" (or "p" for a
parameter, "0.combine"), "I": [{"%": id}], "O": [{"%": id, "TT": type}],
"A": [{"N": name, "AT": {"#": attr type, "D": data}}], "OA": [...]}; the
parameters are the tensor records of pdprog.record in byte-wise sorted name
order. tools/paddle_seeds.py builds the fuzz seeds of fuzz_paddle_pir with it.
"""
import json
import os
import struct
import sys

import numpy as np

from pdprog import ROOT, pb, record
from run_ops import Case, rng

# ---- the builder ------------------------------------------------------------------

NP_TYPE = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64", np.dtype(np.int32): "i32",
           np.dtype(np.int64): "i64", np.dtype(np.bool_): "bool", np.dtype(np.uint8): "ui8",
           np.dtype(np.int8): "i8", np.dtype(np.float16): "f16"}
DTYPE_NAME = {"f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64", "bool": "bool"}


def tt(dtype, dims):
    """A dense tensor type: element type ("f32"), dims."""
    return {"#": "0.t_dtensor", "D": [{"#": "0.t_" + dtype}, list(dims), "NCHW", [], 0]}


def attr(v):
    """A Python value as a PIR attribute: bool, int (a_i32), float (a_f32),
    str, list (a_array of those); ("i64", v), ("f64", v), ("intarray", [..]),
    ("dtype", "float32"), ("scalar", dtype, v) for the others."""
    if isinstance(v, tuple):
        kind = v[0]
        if kind == "intarray":
            return {"#": "1.a_intarray", "D": list(v[1])}
        if kind == "dtype":
            return {"#": "1.a_dtype", "D": v[1]}
        if kind == "scalar":
            return {"#": "1.a_scalar", "D": [v[1], v[2]]}
        if kind == "place":
            return {"#": "1.a_place", "D": [0, 0, ""]}
        if kind == "array":
            return {"#": "0.a_array", "D": [attr(x) for x in v[1]]}
        return {"#": "0.a_" + kind, "D": v[1]}
    if isinstance(v, bool):
        return {"#": "0.a_bool", "D": v}
    if isinstance(v, int):
        return {"#": "0.a_i32", "D": v}
    if isinstance(v, float):
        if np.isnan(v):
            return {"#": "0.a_f32", "VD": "NaN"}
        if np.isinf(v):
            return {"#": "0.a_f32", "VD": "INF" if v > 0 else "-INF"}
        return {"#": "0.a_f32", "D": v}
    if isinstance(v, str):
        return {"#": "0.a_str", "D": v}
    if isinstance(v, list):
        return {"#": "0.a_array", "D": [attr(x) for x in v]}
    raise TypeError(repr(v))


class Pir:
    """A PIR program and its parameters.

        g = Pir()
        x = g.data("x", [-1, 3], "f32")
        w = g.param("w", np.ones((3, 2), np.float32))
        y = g.op("matmul", [x, w], [("f32", [-1, 2])], transpose_x=False, transpose_y=False)
        g.fetch(y)
        g.write(directory)    # inference.json + inference.pdiparams
    """

    def __init__(self):
        self.ops = []
        self.params = {}
        self.next_id = 1
        self.n_data = self.n_fetch = 0
        self.magic, self.version = "pir", 1
        self.file = False  # write() returns the .json file, not the directory
        self.edit_json = self.edit_params = None  # bytes -> bytes, for broken files

    def _id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def param(self, name, arr, dims=None):
        """A parameter (a "p" op); dims: what the program declares (default arr's)."""
        arr = np.ascontiguousarray(arr)
        i = self._id()
        self.ops.append({"#": "p", "A": [0, 1, 1, name], "DA": [],
                         "O": {"%": i, "TT": tt(NP_TYPE[arr.dtype],
                                                arr.shape if dims is None else dims)},
                         "OA": [1, 0, 1], "QA": []})
        self.params[name] = record(arr)
        return i

    def data(self, name, dims, dtype="f32"):
        i = self._id()
        self.ops.append({"#": "1.data",
                         "A": [{"AT": attr("x" if name is None else name), "N": "name"},
                               {"AT": attr(("intarray", dims)), "N": "shape"},
                               {"AT": attr(("dtype", DTYPE_NAME[dtype])), "N": "dtype"},
                               {"AT": attr(("place",)), "N": "place"}],
                         "I": [], "O": [{"%": i, "TT": tt(dtype, dims)}],
                         "OA": [{"AT": attr([False]), "N": "stop_gradient"}]})
        self.n_data += 1
        return i

    def op(self, kind, inputs, outs, **attrs):
        """pd_op `kind` ("1." prefixed unless it has a dialect); inputs: value
        ids (0: none); outs: (dtype, dims) per result; returns the result
        id, or the list of them for several."""
        ids = [self._id() for _ in outs]
        a = [{"AT": attr(v), "N": k} for k, v in attrs.items()]
        a.append({"AT": attr("/Model/Layer/"), "N": "struct_name"})
        self.ops.append({"#": kind if "." in kind else "1." + kind,
                         "A": a, "I": [{"%": v} for v in inputs],
                         "O": [{"%": i, "TT": tt(*o)} for i, o in zip(ids, outs)],
                         "OA": [{"AT": attr([False] * len(outs)), "N": "stop_gradient"}]})
        return ids[0] if len(ids) == 1 else ids

    def full_int_array(self, values):
        return self.op("full_int_array", [], [("i64", [len(values)])],
                       value=("array", [("i64", int(v)) for v in values]),
                       dtype=("dtype", "int64"), place=("place",))

    def full(self, shape, value, dtype="float32"):
        t = {"float32": "f32", "int64": "i64", "int32": "i32"}[dtype]
        return self.op("full", [], [(t, shape)], shape=("intarray", shape),
                       value=("f64", float(value)), dtype=("dtype", dtype), place=("place",))

    def combine(self, ids):
        i = self._id()
        self.ops.append({"#": "0.combine", "A": [], "I": [{"%": v} for v in ids],
                         "O": [{"%": i, "TT": {"#": "0.t_vec", "D": []}}]})
        return i

    def fetch(self, v, name=None, dtype="f32", dims=()):
        col = self.n_fetch
        self.n_fetch += 1
        return self.op("fetch", [v], [(dtype, dims)],
                       name=name or "fetch_name_%d" % col, col=col)

    def program(self):
        return {"base_code": {"magic": self.magic, "trainable": True, "version": self.version},
                "program": {"regions": [{"#": "region_0", "blocks": [
                    {"#": "block_0", "args": [], "ops": self.ops}]}]}}

    def text(self):
        return json.dumps(self.program()).encode()

    def combined(self):
        return b"".join(self.params[k] for k in sorted(self.params, key=lambda k: k.encode()))

    def write(self, d, combined=True):
        os.makedirs(d, exist_ok=True)
        text, params = self.text(), self.combined()
        if self.edit_json:
            text = self.edit_json(text)
        if self.edit_params:
            params = self.edit_params(params)
        with open(os.path.join(d, "inference.json"), "wb") as f:
            f.write(text)
        with open(os.path.join(d, "inference.pdiparams"), "wb") as f:
            f.write(params)
        return os.path.join(d, "inference.json") if self.file else d


# ---- numpy references -----------------------------------------------------------


def conv2d_np(x, w, stride=1, pad=0, groups=1):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, o, oh, ow), np.float64)
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(oh):
            for j in range(ow):
                patch = xs[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                y[:, g * og:(g + 1) * og, i, j] = np.einsum(
                    "nckl,ockl->no", patch, w[g * og:(g + 1) * og])
    return y.astype(np.float32)


def hardswish_np(x):
    return x * np.clip(x + 3, 0, 6) / 6


def softmax_np(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def conv_attrs(stride=1, pad=0, groups=1):
    return dict(strides=[stride, stride], paddings=[pad, pad], padding_algorithm="EXPLICIT",
                dilations=[1, 1], groups=groups, data_format="NCHW")


# ---- programs against numpy ----------------------------------------------------------


def case_conv_bn_hardswish():
    """conv2d -> batch_norm_ (PIR's operand order: x, mean, variance, scale,
    bias) -> hardswish, every parameter from the sorted combined file."""
    r = rng(1)
    x = r.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = (r.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)
    mean, var = r.standard_normal(4).astype(np.float32), r.uniform(0.5, 2, 4).astype(np.float32)
    scale, bias = r.uniform(0.5, 1.5, 4).astype(np.float32), r.standard_normal(4).astype(np.float32)
    g = Pir()
    ps = [g.param(n, a) for n, a in (("conv.w", w), ("bn.mean", mean), ("bn.var", var),
                                     ("bn.scale", scale), ("bn.bias", bias))]
    xi = g.data("x", [-1, 3, 6, 6])
    c = g.op("conv2d", [xi, ps[0]], [("f32", [-1, 4, 3, 3])], **conv_attrs(2, 1))
    bn = g.op("batch_norm_", [c, ps[1], ps[2], ps[3], ps[4]],
              [("f32", [-1, 4, 3, 3])] + [("f32", [4])] * 4 + [("ui8", [-1])],
              is_test=True, momentum=0.9, epsilon=1e-5, data_format="NCHW",
              use_global_stats=True, trainable_statistics=False)
    y = g.op("hardswish", [bn[0]], [("f32", [-1, 4, 3, 3])])
    g.fetch(y, dims=[-1, 4, 3, 3])
    cv = conv2d_np(x, w, 2, 1)
    sh = lambda a: a.reshape(1, 4, 1, 1)  # noqa: E731
    want = hardswish_np((cv - sh(mean)) / np.sqrt(sh(var) + 1e-5) * sh(scale) + sh(bias))
    return Case(g, {"x": x}, {"fetch_name_0": want}, rtol=1e-4, atol=1e-4)


def case_squeeze_excite():
    """depthwise_conv2d, pool2d adaptive with kernel_size from a
    full_int_array, a bias reshaped by a full_int_array, add, relu,
    hardsigmoid (slope/offset), multiply: PP-LCNet's SE block."""
    r = rng(2)
    x = r.standard_normal((1, 4, 5, 5)).astype(np.float32)
    dw = (r.standard_normal((4, 1, 3, 3)) * 0.5).astype(np.float32)
    w1 = (r.standard_normal((2, 4, 1, 1)) * 0.5).astype(np.float32)
    b1 = r.standard_normal(2).astype(np.float32)
    w2 = (r.standard_normal((4, 2, 1, 1)) * 0.5).astype(np.float32)
    g = Pir()
    pdw, pw1, pb1, pw2 = (g.param(n, a)
                          for n, a in (("dw", dw), ("w1", w1), ("b1", b1), ("w2", w2)))
    xi = g.data("x", [-1, 4, 5, 5])
    d = g.op("depthwise_conv2d", [xi, pdw], [("f32", [-1, 4, 5, 5])], **conv_attrs(1, 1, 4))
    k = g.full_int_array([1, 1])
    p = g.op("pool2d", [d, k], [("f32", [-1, 4, 1, 1])], strides=[1, 1], paddings=[0, 0],
             ceil_mode=False, exclusive=True, data_format="NCHW", pooling_type="avg",
             global_pooling=False, adaptive=True, padding_algorithm="EXPLICIT")
    c1 = g.op("conv2d", [p, pw1], [("f32", [-1, 2, 1, 1])], **conv_attrs())
    shp = g.full_int_array([1, -1, 1, 1])
    rb = g.op("reshape", [pb1, shp], [("f32", [1, 2, 1, 1])])
    a = g.op("add", [c1, rb], [("f32", [-1, 2, 1, 1])])
    rl = g.op("relu", [a], [("f32", [-1, 2, 1, 1])])
    c2 = g.op("conv2d", [rl, pw2], [("f32", [-1, 4, 1, 1])], **conv_attrs())
    hs = g.op("hardsigmoid", [c2], [("f32", [-1, 4, 1, 1])], slope=0.2, offset=0.5)
    y = g.op("multiply", [d, hs], [("f32", [-1, 4, 5, 5])])
    g.fetch(y, "se_out")
    dv = conv2d_np(x, dw, 1, 1, 4)
    pv = dv.mean(axis=(2, 3), keepdims=True)
    h = np.maximum(conv2d_np(pv, w1) + b1.reshape(1, 2, 1, 1), 0)
    s = np.clip(0.2 * conv2d_np(h, w2) + 0.5, 0, 1)
    return Case(g, {"x": x}, {"se_out": dv * s}, rtol=1e-4, atol=1e-5)


def case_head_flatten_matmul_softmax():
    """flatten (start/stop axis), matmul with transpose_y, a bias add and a
    softmax; the program file itself given to skiff run."""
    r = rng(3)
    x = r.standard_normal((3, 2, 2, 2)).astype(np.float32)
    w = r.standard_normal((5, 8)).astype(np.float32)
    b = r.standard_normal(5).astype(np.float32)
    g = Pir()
    pw, pbias = g.param("fc.w", w), g.param("fc.b", b)
    xi = g.data("x", [-1, 2, 2, 2])
    f = g.op("flatten", [xi], [("f32", [-1, 8])], start_axis=1, stop_axis=3)
    m = g.op("matmul", [f, pw], [("f32", [-1, 5])], transpose_x=False, transpose_y=True)
    a = g.op("add", [m, pbias], [("f32", [-1, 5])])
    s = g.op("softmax", [a], [("f32", [-1, 5])], axis=-1)
    g.fetch(s)
    g.file = True
    return Case(g, {"x": x}, {"fetch_name_0": softmax_np(x.reshape(3, 8) @ w.T + b)}, rtol=1e-4)


def case_concat_transpose_scale_binary():
    """builtin.combine + concat (axis from a full), transpose (perm),
    scale (its scale from a full), subtract, divide, maximum, minimum."""
    r = rng(4)
    a = r.standard_normal((2, 3)).astype(np.float32)
    b = r.standard_normal((2, 3)).astype(np.float32)
    g = Pir()
    ai, bi = g.data("a", [2, 3]), g.data("b", [2, 3])
    lst = g.combine([ai, bi])
    ax = g.full([1], 0, "int32")
    c = g.op("concat", [lst, ax], [("f32", [4, 3])])
    t = g.op("transpose", [c], [("f32", [3, 4])], perm=[1, 0])
    sc = g.full([1], 2.5)
    s = g.op("scale", [t, sc], [("f32", [3, 4])], bias=1.0, bias_after_scale=False)
    d = g.op("subtract", [s, t], [("f32", [3, 4])])
    q = g.op("divide", [d, g.full([1], 4.0)], [("f32", [3, 4])])
    mx = g.op("maximum", [q, t], [("f32", [3, 4])])
    mn = g.op("minimum", [q, t], [("f32", [3, 4])])
    g.fetch(mx, "mx")
    g.fetch(mn, "mn")
    tv = np.concatenate([a, b], 0).T
    qv = ((tv + 1.0) * 2.5 - tv) / 4.0
    return Case(g, {"a": a, "b": b}, {"mx": np.maximum(qv, tv), "mn": np.minimum(qv, tv)},
                rtol=1e-5)


def case_slice_cast_shape():
    """slice (starts/ends from full_int_array, decrease_axis), cast (a dtype
    attribute), shape, and a full used as a tensor (fill_constant)."""
    x = rng(5).standard_normal((2, 5, 4)).astype(np.float32)
    g = Pir()
    xi = g.data("x", [-1, 5, 4])
    s = g.op("slice", [xi, g.full_int_array([1, 0]), g.full_int_array([4, 1])], [("f32", [-1, 3])],
             axes=[("i64", 1), ("i64", 2)], infer_flags=[("i64", 1), ("i64", 1)],
             decrease_axis=[("i64", 2)])
    c = g.op("cast", [s], [("i32", [-1, 3])], dtype=("dtype", "int32"))
    sh = g.op("shape", [xi], [("i32", [3])])
    one = g.full([1], 1.0)
    p1 = g.op("add", [s, one], [("f32", [-1, 3])])
    g.fetch(c, "c", "i32")
    g.fetch(sh, "sh", "i32")
    g.fetch(p1, "p1")
    sv = x[:, 1:4, 0]
    return Case(g, {"x": x}, {"c": sv.astype(np.int32), "sh": np.array([2, 5, 4], np.int32),
                              "p1": sv + 1})


def case_activations_inplace():
    """relu6, sigmoid, tanh, leaky_relu (negative_slope), dropout at
    inference (upscale_in_train: identity) and inplace spellings (relu_)."""
    x = (rng(6).standard_normal((3, 7)) * 4).astype(np.float32)
    g = Pir()
    xi = g.data("x", [3, 7])
    shape = [("f32", [3, 7])]
    r6 = g.op("relu6", [xi], shape)
    sg = g.op("sigmoid", [r6], shape)
    th = g.op("tanh_", [xi], shape)
    lr = g.op("leaky_relu", [th], shape, negative_slope=0.1)
    dr = g.op("dropout", [lr, 0], shape + [("ui8", [3, 7])], p=("scalar", "float32", 0.3),
              is_test=True, mode="upscale_in_train", seed=0, fix_seed=False)
    rl = g.op("relu_", [dr[0]], shape)
    g.fetch(sg, "sg")
    g.fetch(rl, "rl")
    t = np.tanh(x)
    return Case(g, {"x": x}, {"sg": 1 / (1 + np.exp(-np.clip(x, 0, 6))),
                              "rl": np.maximum(np.where(t > 0, t, 0.1 * t), 0)}, rtol=1e-5)


def case_interp_pool_max():
    """nearest_interp and bilinear_interp by scale (align_corners false,
    align_mode 0: half-pixel), and a windowed max pool2d."""
    x = rng(7).standard_normal((1, 2, 3, 4)).astype(np.float32)
    g = Pir()
    xi = g.data("x", [1, 2, 3, 4])
    common = dict(data_format="NCHW", out_d=-1, out_h=-1, out_w=-1, scale=[2.0, 2.0],
                  align_corners=False)
    nn = g.op("nearest_interp", [xi, 0, 0, 0], [("f32", [1, 2, 6, 8])], interp_method="nearest",
              align_mode=1, **common)
    bl = g.op("bilinear_interp", [xi, 0, 0, 0], [("f32", [1, 2, 6, 8])], interp_method="bilinear",
              align_mode=0, **common)
    mp = g.op("pool2d", [bl, g.full_int_array([2, 2])], [("f32", [1, 2, 3, 4])], strides=[2, 2],
              paddings=[0, 0], ceil_mode=False, exclusive=True, data_format="NCHW",
              pooling_type="max", global_pooling=False, adaptive=False,
              padding_algorithm="EXPLICIT")
    g.fetch(nn, "nn")
    g.fetch(mp, "mp")
    want_nn = x.repeat(2, axis=2).repeat(2, axis=3)

    def lin(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) / 2 - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), lo] += 1 - (src - lo)
        m[np.arange(n_out), hi] += src - lo
        return m
    up = np.einsum("hi,ncij,wj->nchw", lin(3, 6), x, lin(4, 8)).astype(np.float32)
    want_mp = up.reshape(1, 2, 3, 2, 4, 2).max(axis=(3, 5))
    return Case(g, {"x": x}, {"nn": want_nn, "mp": want_mp}, rtol=1e-5, atol=1e-5)


def case_conv2d_transpose():
    """conv2d_transpose with stride 2 (output_size: an empty full_int_array)."""
    r = rng(8)
    x = r.standard_normal((1, 2, 3, 3)).astype(np.float32)
    w = r.standard_normal((2, 3, 2, 2)).astype(np.float32)
    g = Pir()
    pw = g.param("up.w", w)
    xi = g.data("x", [1, 2, 3, 3])
    y = g.op("conv2d_transpose", [xi, pw, g.full_int_array([])], [("f32", [1, 3, 6, 6])],
             strides=[2, 2], paddings=[0, 0], output_padding=[], padding_algorithm="EXPLICIT",
             groups=1, dilations=[1, 1], data_format="NCHW")
    g.fetch(y)
    want = np.zeros((1, 3, 6, 6), np.float32)
    for i in range(3):
        for j in range(3):
            want[0, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2] += np.einsum("c,cokl->okl",
                                                                      x[0, :, i, j], w)
    return Case(g, {"x": x}, {"fetch_name_0": want}, rtol=1e-4, atol=1e-5)


def case_fetch_order_by_col():
    """Two inputs and two fetches: feeds in data order, outputs in col
    order, each named after its fetch op."""
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.ones((2, 3), np.float32)
    g = Pir()
    ai, bi = g.data("first", [2, 3]), g.data("second", [2, 3])
    s = g.op("add", [ai, bi], [("f32", [2, 3])])
    m = g.op("multiply", [ai, bi], [("f32", [2, 3])])
    g.fetch(s, "sum")
    g.fetch(m, "prod")
    return Case(g, {"first": a, "second": b}, {"sum": a + b, "prod": a},
                check=lambda outs: None if set(outs) == {"sum", "prod"}
                else "outputs %s" % list(outs))


# ---- refusals ---------------------------------------------------------------------


def small():
    g = Pir()
    w = g.param("w", np.ones((3, 2), np.float32))
    x = g.data("x", [-1, 3])
    g.fetch(g.op("matmul", [x, w], [("f32", [-1, 2])], transpose_x=False, transpose_y=False))
    return g


def refused(g, error):
    return Case(g, {"x": np.ones((1, 3), np.float32)}, error=error)


def case_error_truncated_json():
    g = small()
    g.edit_json = lambda t: t[:len(t) // 2]
    return refused(g, "not a Paddle PIR program: invalid JSON at line 1")


def case_error_not_json():
    g = small()
    g.edit_json = lambda t: b"\x00\x01 pir"
    return refused(g, "invalid JSON")


def case_error_wrong_magic():
    g = small()
    g.magic = "mlir"
    return refused(g, "inference.json: not a Paddle PIR program (base_code.magic is 'mlir'")


def case_error_wrong_version():
    g = small()
    g.version = 7
    return refused(g, "PIR program version 7 is not supported")


def case_error_param_dims_disagree():
    g = Pir()
    w = g.param("w", np.ones((3, 2), np.float32), dims=[3, 4])
    x = g.data("x", [-1, 3])
    g.fetch(g.op("matmul", [x, w], [("f32", [-1, 4])], transpose_x=False, transpose_y=False))
    return refused(g, "parameter 'w': dim 1 is 2, its VarDesc says 4")


def case_error_params_short():
    g = small()
    g.edit_params = lambda b: b[:-5]
    return refused(g, "parameter 'w' (6 elements) needs more bytes than the 19 the file "
                      "has left")


def case_error_params_long():
    g = small()
    g.edit_params = lambda b: b + b"\x00" * 7
    return refused(g, "7 bytes left after the 1 parameters the program names")


def case_error_undefined_value():
    g = Pir()
    x = g.data("x", [-1, 3])
    y = g.op("relu", [x + 40], [("f32", [-1, 3])])
    g.fetch(y)
    return refused(g, "op 1 (pd_op.relu): operand 0 is value 41, which no earlier op defines")


def case_error_unknown_ops_listed():
    g = Pir()
    x = g.data("x", [-1, 3])
    a = g.op("frobnicate", [x], [("f32", [-1, 3])])
    b = g.op("relu", [a], [("f32", [-1, 3])])
    c = g.op("frobnicate", [b], [("f32", [-1, 3])])
    d = g.op("custom.thing", [c], [("f32", [-1, 3])])
    g.fetch(d)
    return refused(g, "unsupported Paddle operators: pd_op.frobnicate x2, custom.thing x1")


def case_error_kernel_not_constant():
    g = Pir()
    x = g.data("x", [1, 1, 4, 4])
    k = g.data("k", [2], "i64")
    y = g.op("pool2d", [x, k], [("f32", [1, 1, 2, 2])], pooling_type="max")
    g.fetch(y)
    return Case(g, {"x": np.ones((1, 1, 4, 4), np.float32), "k": np.array([2, 2])},
                error="operand 1 (ksize) must be a constant")


# ---- the real model: PP-LCNet_x0_25_textline_ori -----------------------------------

LCNET = os.path.join(os.path.dirname(ROOT), "shared", "paddle-models",
                     "pir_PP-LCNet_x0_25_textline_ori")


class Dir:
    """A model directory that exists already (run_ops calls write)."""

    def __init__(self, path):
        self.path = path

    def write(self, d, combined=True):
        os.makedirs(d, exist_ok=True)  # run_ops writes the inputs beside it
        return self.path


def read_pdiparams(program, path):
    """The parameters of a PIR program from its .pdiparams: the tensor records
    of its "p" ops' names in byte-wise sorted order (each record: u32
    version, u64 LoD level + levels, u32 version, i32 desc size, TensorDesc,
    data)."""
    names = sorted((op["A"][3] for op in ops_of(program) if op["#"] == "p"),
                   key=lambda n: n.encode())
    np_of = {5: np.float32, 6: np.float64, 2: np.int32, 3: np.int64}
    with open(path, "rb") as f:
        b = f.read()
    at, out = 0, {}
    for n in names:
        at += 4
        (lod,) = struct.unpack_from("<Q", b, at)
        at += 8
        for _ in range(lod):
            at += 8 + struct.unpack_from("<Q", b, at)[0]
        at += 4
        (dsize,) = struct.unpack_from("<i", b, at)
        at += 4
        desc = pb().StreamTensorDesc.FromString(b[at:at + dsize])
        at += dsize
        dt = np.dtype(np_of[desc.data_type])
        count = int(np.prod(desc.dims))
        out[n] = np.frombuffer(b, dt, count, at).reshape(list(desc.dims)).copy()
        at += count * dt.itemsize
    assert at == len(b), "pdiparams: %d bytes left" % (len(b) - at)
    return out


def ops_of(program):
    return program["program"]["regions"][0]["blocks"][0]["ops"]


def attrs_of(op):
    """An op's attributes as Python values."""
    out = {}
    for a in op.get("A", []):
        if not isinstance(a, dict):
            continue
        at = a["AT"]
        d = at.get("D")
        if at["#"] == "0.a_array":
            d = [e.get("D") for e in d]
        out[a["N"]] = d
    return out


def pir_torch(program, params, feeds):
    """Runs a PIR program with torch.nn.functional, op by op from its JSON
    (the ops a PP-LCNet classifier holds); returns {fetch name: array}."""
    import torch
    import torch.nn.functional as F
    vals, outs = {}, {}

    def conv_padding(a, kh, kw):
        p = a["paddings"]
        if a.get("padding_algorithm", "EXPLICIT") != "EXPLICIT" or len(p) != 2:
            raise NotImplementedError("padding %r" % (a,))
        return p[0], p[1]

    with torch.no_grad():
        for op in ops_of(program):
            kind, a = op["#"], attrs_of(op)
            ins = [vals.get(i["%"]) for i in op.get("I", [])]
            if kind == "p":
                vals[op["O"]["%"]] = torch.from_numpy(params[op["A"][3]])
                continue
            if kind == "1.data":
                r = torch.from_numpy(feeds[a["name"]])
            elif kind in ("1.conv2d", "1.depthwise_conv2d"):
                w = ins[1]
                r = F.conv2d(ins[0], w, stride=a["strides"], padding=conv_padding(a, *w.shape[2:]),
                             dilation=a["dilations"], groups=a["groups"])
            elif kind in ("1.batch_norm_", "1.batch_norm"):
                x, mean, var, scale, bias = ins
                r = F.batch_norm(x, mean, var, scale, bias, False, 0.0, a["epsilon"])
            elif kind == "1.hardswish":
                r = F.hardswish(ins[0])
            elif kind == "1.hardsigmoid":
                r = torch.clamp(ins[0] * a["slope"] + a["offset"], 0, 1)
            elif kind == "1.relu":
                r = F.relu(ins[0])
            elif kind == "1.full_int_array":
                r = [int(v) for v in a["value"]]
            elif kind == "1.add":
                r = ins[0] + ins[1]
            elif kind == "1.multiply":
                r = ins[0] * ins[1]
            elif kind == "1.reshape":
                shape = [ins[0].shape[i] if s == 0 else s for i, s in enumerate(ins[1])]
                r = ins[0].reshape(shape)
            elif kind == "1.pool2d":
                k = ins[1]
                if a["adaptive"]:
                    avg = a["pooling_type"] == "avg"
                    pool = F.adaptive_avg_pool2d if avg else F.adaptive_max_pool2d
                    r = pool(ins[0], k)
                elif a["global_pooling"]:
                    r = ins[0].mean(dim=(2, 3), keepdim=True)
                else:
                    pool = F.avg_pool2d if a["pooling_type"] == "avg" else F.max_pool2d
                    r = pool(ins[0], k, a["strides"], a["paddings"], a["ceil_mode"])
            elif kind == "1.flatten":
                r = torch.flatten(ins[0], a["start_axis"], a["stop_axis"])
            elif kind == "1.matmul":
                x, y = ins
                if a.get("transpose_x"):
                    x = x.transpose(-1, -2)
                if a.get("transpose_y"):
                    y = y.transpose(-1, -2)
                r = torch.matmul(x, y)
            elif kind == "1.softmax":
                r = F.softmax(ins[0], dim=a["axis"])
            elif kind == "1.fetch":
                outs[a["name"]] = ins[0].numpy()
                r = ins[0]
            else:
                raise NotImplementedError(kind)
            vals[op["O"][0]["%"]] = r
    return outs


def text_line(text, flip=False):
    """A rendered text line (tools/models/ocr_input.py's bitmap font),
    resized to 80x160 and normalised as inference.yml says: x/255, minus
    mean, over std, CHW."""
    sys.path.insert(0, os.path.join(ROOT, "tools", "models"))
    import ocr_input
    gray = ocr_input.render_line(text, scale=4)
    img = ocr_input.resize_bilinear(gray, 80, 160)
    if flip:
        img = img[::-1, ::-1]
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    chw = (img[None] * np.float32(0.00392156862745098) - mean[:, None, None]) / std[:, None, None]
    return chw[None].astype(np.float32)


def lcnet_case(flip):
    if not os.path.isdir(LCNET):
        return None
    with open(os.path.join(LCNET, "inference.json")) as f:
        program = json.load(f)
    params = read_pdiparams(program, os.path.join(LCNET, "inference.pdiparams"))
    x = text_line("SKIFF READS PIR", flip)
    want = pir_torch(program, params, {"x": x})["fetch_name_0"]

    def check(outs):
        y = outs["fetch_name_0"]
        if y.shape != (1, 2) or abs(float(y.sum()) - 1) > 1e-5:
            return "softmax output %s (shape %s)" % (y, y.shape)
        if int(y.argmax()) != int(flip):  # labels: 0_degree, 180_degree
            return "the line %s read as %s" % ("turned" if flip else "upright", y)
        return None
    return Case(Dir(LCNET), {"x": x}, {"fetch_name_0": want}, rtol=1e-4, atol=1e-4, check=check)


def case_lcnet_textline_ori_vs_torch():
    """The real PP-LCNet_x0_25_textline_ori (Paddle 3 PIR): loads, runs on a
    rendered text line, softmax [1, 2] summing to 1, equal within 1e-4 to
    torch running the same JSON program on the same parameters, and reads
    the line as upright (0_degree)."""
    return lcnet_case(False)


def case_lcnet_textline_ori_flipped_vs_torch():
    """The same on the line turned by 180 degrees: read as 180_degree."""
    return lcnet_case(True)


def case_more_ops_norm_reduce():
    """gelu, layer_norm (scale and bias), mean with keepdim, pow (y), clip
    (min and max from fulls)."""
    import math
    r = rng(21)
    x = r.standard_normal((2, 6)).astype(np.float32)
    s, b = r.standard_normal(6).astype(np.float32), r.standard_normal(6).astype(np.float32)
    g = Pir()
    xi = g.data("x", [2, 6])
    si, bi = g.param("ln.w", s), g.param("ln.b", b)
    ge = g.op("gelu", [xi], [("f32", [2, 6])], approximate=False)
    ln = g.op("layer_norm", [ge, si, bi], [("f32", [2, 6]), ("f32", [2]), ("f32", [2])],
              epsilon=1e-5, begin_norm_axis=1)
    mn = g.op("mean", [ln[0], g.full_int_array([1])], [("f32", [2, 1])], keepdim=True)
    pw = g.op("pow", [xi], [("f32", [2, 6])], y=2.0)
    cl = g.op("clip", [xi, g.full([1], -0.5), g.full([1], 0.7)], [("f32", [2, 6])])
    g.fetch(ln[0], "ln")
    g.fetch(mn, "mn")
    g.fetch(pw, "pw")
    g.fetch(cl, "cl")
    erf = np.vectorize(math.erf)
    gv = 0.5 * x * (1 + erf(x / np.sqrt(2)))
    lv = (gv - gv.mean(1, keepdims=True)) / np.sqrt(gv.var(1, keepdims=True) + 1e-5) * s + b
    return Case(g, {"x": x}, {"ln": lv.astype(np.float32),
                              "mn": lv.mean(1, keepdims=True).astype(np.float32),
                              "pw": x * x, "cl": np.clip(x, -0.5, 0.7)}, rtol=1e-4, atol=1e-5)


def case_more_ops_index_shape():
    """squeeze, unsqueeze (axes from full_int_array), gather (axis from a
    full), greater_than + where, stack over a combine, argmax."""
    r = rng(22)
    x = r.standard_normal((1, 4, 3)).astype(np.float32)
    idx = np.array([2, 0], np.int64)
    g = Pir()
    xi = g.data("x", [1, 4, 3])
    ii = g.data("i", [2], "i64")
    sq = g.op("squeeze", [xi, g.full_int_array([0])], [("f32", [4, 3])])
    us = g.op("unsqueeze", [sq, g.full_int_array([1])], [("f32", [4, 1, 3])])
    ga = g.op("gather", [sq, ii, g.full([1], 1, "int64")], [("f32", [4, 2])])
    gt = g.op("greater_than", [sq, g.full([1], 0.0)], [("bool", [4, 3])])
    wh = g.op("where", [gt, sq, g.full([1], -1.0)], [("f32", [4, 3])])
    st = g.op("stack", [g.combine([sq, wh])], [("f32", [2, 4, 3])], axis=0)
    am = g.op("argmax", [sq, g.full([1], 1, "int64")], [("i64", [4])], keepdims=False,
              flatten=False, dtype=("dtype", "int64"))
    g.fetch(us, "us")
    g.fetch(ga, "ga")
    g.fetch(st, "st")
    g.fetch(am, "am", "i64")
    sv = x[0]
    wv = np.where(sv > 0, sv, -1.0).astype(np.float32)
    return Case(g, {"x": x, "i": idx}, {"us": sv[:, None, :], "ga": sv[:, idx],
                                       "st": np.stack([sv, wv]), "am": sv.argmax(1)})
