"""Paddle's shape, indexing, reduction and remaining math ops
(src/engine/paddle_ops_more.c and the extra rows of paddle_ops.c) against
numpy implementations of Paddle's semantics."""
import math

import numpy as np

from pdprog import Prog, BOOL, INT32, INT64
from run_ops import Case, rng

F = np.float32


def rand(shape, seed=0, scale=1.0):
    return (rng(seed).standard_normal(shape) * scale).astype(F)


def single(op, x, outs, ins=None, xdims=None, params=(), feeds=(), out_dtypes=None, **attrs):
    """One op: feed X (declared dims xdims, default its shape), params,
    extra feeds, outputs {slot: (name, expected)}."""
    g = Prog()
    code = {np.dtype(F): 5, np.dtype(np.int64): INT64, np.dtype(np.int32): INT32,
            np.dtype(np.bool_): BOOL}
    g.feed("x", list(xdims or x.shape), dtype=code[x.dtype])
    inputs = {"x": x}
    for name, arr in feeds:
        g.feed(name, list(arr.shape), dtype=code[arr.dtype])
        inputs[name] = arr
    for name, arr in params:
        g.param(name, arr)
    expect = {}
    out_slots = {}
    for slot, pairs in outs.items():
        pairs = pairs if isinstance(pairs, list) else [pairs]
        out_slots[slot] = [p[0] for p in pairs]
        for name, want in pairs:
            want = np.asarray(want)
            g.var(name, list(want.shape), dtype=code.get(want.dtype, 5))
            expect[name] = want
    g.op(op, dict({"X": "x"}, **(ins or {})), out_slots, **attrs)
    for name in expect:
        g.fetch(name)
    return Case(g, inputs, expect, rtol=1e-5, atol=1e-6)


# ---- shape ops ---------------------------------------------------------------

def case_split_num():
    x = rand((2, 6, 3), 1)
    a, b, c = np.split(x, 3, axis=1)
    return single("split", x, {"Out": [("a", a), ("b", b), ("c", c)]}, axis=1, num=3)


def case_split_sections_inferred():
    x = rand((7, 4), 2)
    return single("split", x, {"Out": [("a", x[:2]), ("b", x[2:6]), ("c", x[6:])]}, axis=0,
                  sections=[2, -1, 1])


def case_split_negative_axis():
    x = rand((3, 4), 3)
    return single("split", x, {"Out": [("a", x[:, :1]), ("b", x[:, 1:])]}, axis=-1,
                  sections=[1, 3])


def case_squeeze2_axes_kept_when_not_one():
    # Paddle leaves an axis whose size is not 1
    x = rand((1, 3, 1, 2), 4)
    return single("squeeze2", x, {"Out": ("y", x.reshape(3, 1, 2))}, axes=[0, 1])


def case_squeeze_all():
    x = rand((1, 3, 1, 2), 5)
    return single("squeeze2", x, {"Out": ("y", x.reshape(3, 2))}, axes=[])


def paddle_unsqueeze_shape(shape, axes):
    out = list(shape)
    marks = [False] * len(shape)
    for a in axes:
        cur = len(out)
        a = a + cur + 1 if a < 0 else a
        out.insert(a, 1)
        marks.insert(a, True)
    return out


def case_unsqueeze2_sequential_negative():
    x = rand((2, 3), 6)
    axes = [-1, 0, -2]
    return single("unsqueeze2", x, {"Out": ("y", x.reshape(paddle_unsqueeze_shape((2, 3), axes)))},
                  axes=axes)


def case_unsqueeze_middle():
    x = rand((2, 3), 7)
    axes = [1, 3]
    return single("unsqueeze", x, {"Out": ("y", x.reshape(paddle_unsqueeze_shape((2, 3), axes)))},
                  axes=axes)


def case_stack_axis_negative():
    x = rand((2, 3), 8)
    y = rand((2, 3), 9)
    g = Prog()
    g.feed("x", [2, 3])
    g.feed("y", [2, 3])
    g.var("z", [2, 3, 2])
    g.op("stack", {"X": ["x", "y"]}, {"Y": "z"}, axis=-1)
    g.fetch("z")
    return Case(g, {"x": x, "y": y}, {"z": np.stack([x, y], axis=-1)})


def case_flatten2_axis():
    x = rand((2, 3, 4), 10)
    return single("flatten2", x, {"Out": ("y", x.reshape(6, 4))}, axis=2)


def case_expand_v2_keep_dim():
    x = rand((3, 1), 11)
    return single("expand_v2", x, {"Out": ("y", np.broadcast_to(x, (2, 3, 4)).copy())},
                  shape=[2, -1, 4])


def case_expand_v1_times():
    x = rand((2, 3), 12)
    return single("expand", x, {"Out": ("y", np.tile(x, (2, 3)))}, expand_times=[2, 3])


def case_tile_more_dims():
    x = rand((2, 3), 13)
    return single("tile", x, {"Out": ("y", np.tile(x, (2, 1, 2)))}, repeat_times=[2, 1, 2])


def case_expand_as_v2():
    x = rand((1, 3), 14)
    y = rand((4, 3), 15)
    return single("expand_as_v2", x, {"Out": ("z", np.broadcast_to(x, (4, 3)).copy())},
                  ins={"Y": "t"}, feeds=[("t", y)])


# ---- indexing ------------------------------------------------------------------

def case_gather_rows():
    x = rand((5, 3), 16)
    idx = np.array([4, 0, 0, 2], np.int64)
    return single("gather", x, {"Out": ("y", x[idx])}, ins={"Index": "i"}, feeds=[("i", idx)])


def case_gather_axis1_index_n1():
    x = rand((3, 5), 17)
    idx = np.array([[1], [3]], np.int32)
    return single("gather", x, {"Out": ("y", x[:, idx.ravel()])}, ins={"Index": "i"},
                  feeds=[("i", idx)], axis=1)


def case_gather_nd():
    x = rand((3, 4, 2), 18)
    idx = np.array([[0, 1], [2, 3]], np.int64)
    return single("gather_nd", x, {"Out": ("y", x[idx[:, 0], idx[:, 1]])}, ins={"Index": "i"},
                  feeds=[("i", idx)])


def case_scatter_overwrite():
    x = rand((5, 2), 19)
    ids = np.array([3, 1], np.int64)
    upd = rand((2, 2), 20)
    want = x.copy()
    want[ids] = upd
    return single("scatter", x, {"Out": ("y", want)}, ins={"Ids": "i", "Updates": "u"},
                  feeds=[("i", ids), ("u", upd)], overwrite=True)


def case_scatter_accumulate():
    # overwrite false: the rows named are zeroed, then every update aimed at
    # them is added (duplicates sum)
    x = rand((5, 2), 21)
    ids = np.array([3, 1, 3], np.int64)
    upd = rand((3, 2), 22)
    want = x.copy()
    want[ids] = 0
    for k, i in enumerate(ids):
        want[i] += upd[k]
    return single("scatter", x, {"Out": ("y", want)}, ins={"Ids": "i", "Updates": "u"},
                  feeds=[("i", ids), ("u", upd)], overwrite=False)


def case_top_k_last_axis():
    x = rand((3, 6), 23)
    idx = np.argsort(-x, axis=-1, kind="stable")[:, :2]
    return single("top_k", x, {"Out": ("v", np.take_along_axis(x, idx, -1)),
                               "Indices": ("i", idx.astype(np.int64))}, k=2)


def case_top_k_v2_axis0_smallest():
    x = rand((5, 3), 24)
    idx = np.argsort(x, axis=0, kind="stable")[:3]
    return single("top_k_v2", x, {"Out": ("v", np.take_along_axis(x, idx, 0)),
                                  "Indices": ("i", idx.astype(np.int64))}, k=3, axis=0,
                  largest=False, sorted=True)


def case_where():
    x = rand((2, 4), 25)
    y = rand((2, 4), 26)
    cond = x > y
    return single("where", x, {"Out": ("z", np.where(cond, x, y))},
                  ins={"Condition": "c", "Y": "t"}, feeds=[("c", cond), ("t", y)])


def case_arg_max_int32_keepdims():
    x = rand((3, 5), 27)
    return single("arg_max", x, {"Out": ("y", x.argmax(1)[:, None].astype(np.int32))}, axis=1,
                  keepdims=True, dtype=2)


def case_arg_min_flatten():
    x = rand((3, 5), 28)
    return single("arg_min", x, {"Out": ("y", np.array(x.argmin(), np.int64).reshape(()))},
                  axis=0, flatten=True, keepdims=False, dtype=3)


# ---- math ----------------------------------------------------------------------

def case_range():
    s, e, d = (np.array([v], F) for v in (1.0, 4.0, 0.5))
    g = Prog()
    for n, v in (("s", s), ("e", e), ("d", d)):
        g.feed(n, [1])
    g.var("y", [-1])
    g.op("range", {"Start": "s", "End": "e", "Step": "d"}, {"Out": "y"})
    g.fetch("y")
    return Case(g, {"s": s, "e": e, "d": d}, {"y": np.arange(1.0, 4.0, 0.5, dtype=F)})


def case_cumsum_exclusive_reverse():
    x = rand((3, 4), 29)
    r = np.flip(np.cumsum(np.flip(x, 1), 1), 1) - x
    return single("cumsum", x, {"Out": ("y", r)}, axis=1, exclusive=True, reverse=True)


def case_cumsum_flatten():
    x = rand((3, 4), 30)
    return single("cumsum", x, {"Out": ("y", np.cumsum(x.ravel()))}, flatten=True)


def case_clip_attrs():
    x = rand((4, 5), 31, 3.0)
    return single("clip", x, {"Out": ("y", np.clip(x, -1.0, 0.5))}, min=-1.0, max=0.5)


def case_clip_tensor_max():
    x = rand((4, 5), 32, 3.0)
    return single("clip", x, {"Out": ("y", np.clip(x, -2.0, 1.25))}, ins={"Max": "m"},
                  params=[("m", np.array([1.25], F))], min=-2.0, max=9.0)


def case_pow():
    x = np.abs(rand((3, 4), 33)) + F(0.1)
    return single("pow", x, {"Out": ("y", x ** F(2.5))}, factor=2.5)


def case_reduce_mean_keep():
    x = rand((2, 3, 4), 34)
    return single("reduce_mean", x, {"Out": ("y", x.mean(axis=(1, 2), keepdims=True))},
                  dim=[1, -1], keep_dim=True)


def case_reduce_sum_all():
    x = rand((2, 3, 4), 35)
    return single("reduce_sum", x, {"Out": ("y", np.array(x.sum(), F).reshape(()))},
                  dim=[0], reduce_all=True)


def case_reduce_max_axis():
    x = rand((2, 3, 4), 36)
    return single("reduce_max", x, {"Out": ("y", x.max(axis=1))}, dim=[1])


def layer_norm(x, begin, scale, bias, eps):
    lead = int(np.prod(x.shape[:begin]))
    x2 = x.reshape(lead, -1).astype(np.float64)
    m = x2.mean(1, keepdims=True)
    v = x2.var(1, keepdims=True)
    y = (x2 - m) / np.sqrt(v + eps) * scale.ravel() + bias.ravel()
    return y.reshape(x.shape).astype(F)


def case_layer_norm_two_dims():
    x = rand((2, 3, 4), 37)
    s, b = rand((12,), 38), rand((12,), 39)
    return single("layer_norm", x, {"Y": ("y", layer_norm(x, 1, s, b, 1e-5))},
                  ins={"Scale": "s", "Bias": "b"}, params=[("s", s), ("b", b)],
                  begin_norm_axis=1, epsilon=1e-5)


def case_layer_norm_last_no_affine():
    x = rand((4, 6), 40)
    return single("layer_norm", x, {"Y": ("y", layer_norm(x, 1, np.ones(6), np.zeros(6), 1e-6))},
                  begin_norm_axis=1, epsilon=1e-6)


def case_gelu_erf_and_tanh():
    x = rand((3, 7), 41, 2.0)
    erf = np.vectorize(math.erf)
    return single("gelu", x, {"Out": ("y", (0.5 * x * (1 + erf(x / np.sqrt(2)))).astype(F))},
                  approximate=False)


def case_gelu_tanh():
    x = rand((3, 7), 42, 2.0)
    y = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return single("gelu", x, {"Out": ("y", y.astype(F))}, approximate=True)


def case_silu_square_rsqrt():
    x = np.abs(rand((3, 4), 43)) + F(0.2)
    g = Prog()
    g.feed("x", [3, 4])
    for v in ("a", "b", "c"):
        g.var(v, [3, 4])
    g.op("silu", {"X": "x"}, {"Out": "a"})
    g.op("square", {"X": "x"}, {"Out": "b"})
    g.op("rsqrt", {"X": "x"}, {"Out": "c"})
    for v in ("a", "b", "c"):
        g.fetch(v)
    return Case(g, {"x": x}, {"a": x / (1 + np.exp(-x)), "b": x * x, "c": 1 / np.sqrt(x)},
                rtol=1e-5, atol=1e-6)


def case_elu_log_softmax():
    x = rand((3, 4), 44)
    g = Prog()
    g.feed("x", [3, 4])
    g.var("a", [3, 4])
    g.var("b", [3, 4])
    g.op("elu", {"X": "x"}, {"Out": "a"}, alpha=0.7)
    g.op("log_softmax", {"X": "x"}, {"Out": "b"}, axis=0)
    g.fetch("a")
    g.fetch("b")
    lse = np.log(np.exp(x).sum(0, keepdims=True))
    return Case(g, {"x": x}, {"a": np.where(x > 0, x, 0.7 * (np.exp(x) - 1)).astype(F),
                              "b": (x - lse).astype(F)}, rtol=1e-5, atol=1e-6)


def case_compare_and_logic():
    x = rand((2, 5), 45)
    y = rand((5,), 46)
    g = Prog()
    g.feed("x", [2, 5])
    g.param("y", y)
    outs = {"lt": x < y, "ge": x >= y, "ne": x != y}
    for k in outs:
        g.var(k, [2, 5], dtype=BOOL)
    g.var("and", [2, 5], dtype=BOOL)
    g.op("less_than", {"X": "x", "Y": "y"}, {"Out": "lt"}, axis=-1)
    g.op("greater_equal", {"X": "x", "Y": "y"}, {"Out": "ge"}, axis=-1)
    g.op("not_equal", {"X": "x", "Y": "y"}, {"Out": "ne"}, axis=-1)
    g.op("logical_and", {"X": "lt", "Y": "ne"}, {"Out": "and"})
    for k in ("lt", "ge", "ne", "and"):
        g.fetch(k)
    outs["and"] = outs["lt"] & outs["ne"]
    return Case(g, {"x": x}, outs)


def case_unary_rows():
    x = rand((3, 4), 47) + F(0.01)
    g = Prog()
    g.feed("x", [3, 4])
    want = {"floor": np.floor(x), "ceil": np.ceil(x), "sign": np.sign(x),
            "sin": np.sin(x), "cos": np.cos(x), "softsign": x / (1 + np.abs(x))}
    for k in want:
        g.var(k, [3, 4])
        g.op(k, {"X": "x"}, {"Out": k})
        g.fetch(k)
    return Case(g, {"x": x}, {k: v.astype(F) for k, v in want.items()}, rtol=1e-5, atol=1e-6)


def case_assign_sum():
    x = rand((3, 4), 48)
    g = Prog()
    g.feed("x", [3, 4])
    g.param("p", rand((3, 4), 49))
    g.var("a", [3, 4])
    g.var("s", [3, 4])
    g.op("assign", {"X": "x"}, {"Out": "a"})
    g.op("sum", {"X": ["x", "a", "p"]}, {"Out": "s"})
    g.fetch("s")
    return Case(g, {"x": x}, {"s": x + x + rand((3, 4), 49)})


def case_fill_any_like():
    x = rand((2, 3), 50)
    return single("fill_any_like", x, {"Out": ("y", np.full((2, 3), 7, np.int64))}, value=7.0,
                  dtype=3)


def case_elementwise_pow_axis():
    x = np.abs(rand((2, 3, 4), 51)) + F(0.5)
    y = np.array([1.0, 2.0, 0.5], F)
    return single("elementwise_pow", x, {"Out": ("z", x ** y.reshape(1, 3, 1))},
                  ins={"Y": "y"}, params=[("y", y)], axis=1)


def case_split_bad_sections():
    x = rand((6, 2), 52)
    return Case(single("split", x, {"Out": [("a", x[:3]), ("b", x[3:])]}, axis=0,
                       sections=[-1, -1]).prog, {"x": x},
                error="op split: more than one section is -1")


def case_layer_norm_scale_size_refused():
    x = rand((2, 6), 53)
    return Case(single("layer_norm", x, {"Y": ("y", x)}, ins={"Scale": "s"},
                       params=[("s", np.ones(5, F))], begin_norm_axis=1).prog, {"x": x},
                error="Scale 's' has 5 values, expected 6")


def case_activation_params():
    x = rand((3, 5), 60, 3.0)
    g = Prog()
    g.feed("x", [3, 5])
    sp2 = np.where(2 * x > 20, x, np.log1p(np.exp(2 * x)) / 2)
    want = {"softplus": (sp2, dict(beta=2.0, threshold=20.0)),
            "logsigmoid": (-np.log1p(np.exp(-x)), {}),
            "hard_shrink": (np.where(np.abs(x) > 0.7, x, 0), dict(threshold=0.7)),
            "brelu": (np.clip(x, -1.0, 2.0), dict(t_min=-1.0, t_max=2.0)),
            "thresholded_relu": (np.where(x > 0.5, x, 0), dict(threshold=0.5)),
            "selu": (1.2 * np.where(x > 0, x, 1.5 * (np.exp(x) - 1)), dict(scale=1.2, alpha=1.5))}
    for k, (v, attrs) in want.items():
        g.var(k, [3, 5])
        g.op(k, {"X": "x"}, {"Out": k}, **attrs)
        g.fetch(k)
    return Case(g, {"x": x}, {k: v[0].astype(F) for k, v in want.items()}, rtol=1e-5, atol=1e-6)


def case_prelu_modes():
    x = rand((2, 3, 2, 2), 61)
    ac, aa, ae = rand((3,), 62), np.array([0.1], F), rand((1, 3, 2, 2), 63)
    g = Prog()
    g.feed("x", [2, 3, 2, 2])
    for n, a in (("ac", ac), ("aa", aa), ("ae", ae)):
        g.param(n, a)
    for mode, alpha, out in (("channel", "ac", "c"), ("all", "aa", "a"), ("element", "ae", "e")):
        g.var(out, [2, 3, 2, 2])
        g.op("prelu", {"X": "x", "Alpha": alpha}, {"Out": out}, mode=mode, data_format="NCHW")
        g.fetch(out)
    pre = lambda a: np.where(x > 0, x, a * x).astype(F)  # noqa: E731
    return Case(g, {"x": x}, {"c": pre(ac.reshape(1, 3, 1, 1)), "a": pre(aa[0]), "e": pre(ae)})


def case_instance_norm():
    x = rand((2, 3, 4, 5), 64)
    s, b = rand((3,), 65), rand((3,), 66)
    m = x.mean(axis=(2, 3), keepdims=True)
    v = x.var(axis=(2, 3), keepdims=True)
    y = (x - m) / np.sqrt(v + 1e-5) * s.reshape(1, 3, 1, 1) + b.reshape(1, 3, 1, 1)
    return single("instance_norm", x, {"Y": ("y", y.astype(F))}, ins={"Scale": "s", "Bias": "b"},
                  params=[("s", s), ("b", b)], epsilon=1e-5)


def case_pad2d_reflect_and_pad3d_constant():
    x = rand((1, 2, 3, 4), 67)
    x5 = rand((1, 1, 2, 3, 2), 68)
    g = Prog()
    g.feed("x", [1, 2, 3, 4])
    g.feed("z", [1, 1, 2, 3, 2])
    g.var("p", [1, 2, 6, 5])
    g.var("q", [1, 1, 3, 5, 5])
    g.op("pad2d", {"X": "x"}, {"Out": "p"}, paddings=[1, 2, 0, 1], mode="reflect", pad_value=0.0)
    g.op("pad3d", {"X": "z"}, {"Out": "q"}, paddings=[1, 2, 0, 2, 1, 0], mode="constant",
         value=0.5, data_format="NCDHW")
    g.fetch("p")
    g.fetch("q")
    p = np.pad(x, ((0, 0), (0, 0), (1, 2), (0, 1)), mode="reflect")
    q = np.pad(x5, ((0, 0), (0, 0), (1, 0), (0, 2), (1, 2)), constant_values=0.5)
    return Case(g, {"x": x, "z": x5}, {"p": p, "q": q.astype(F)})


def case_bmm():
    x, y = rand((2, 3, 4), 69), rand((2, 4, 5), 70)
    return single("bmm", x, {"Out": ("z", x @ y)}, ins={"Y": "t"}, feeds=[("t", y)])
