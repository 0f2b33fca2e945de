"""Paddle ops mapped in src/engine/paddle_ops.c, each against numpy."""
import numpy as np

from pdprog import Prog, INT64
from run_ops import Case, rng


def unary(op, x, expect, **attrs):
    g = Prog()
    g.feed("x", x.shape)
    g.var("y", x.shape)
    g.op(op, {"X": "x"}, {"Out": "y"}, **attrs)
    g.fetch("y")
    return Case(g, {"x": x}, {"y": expect})


def case_mul_num_col_dims():
    x = rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    w = rng(2).standard_normal((12, 5)).astype(np.float32)
    g = Prog()
    g.feed("x", [-1, 3, 4])
    g.param("w", w)
    g.var("y", [-1, 5])
    g.op("mul", {"X": "x", "Y": "w"}, {"Out": "y"}, x_num_col_dims=1, y_num_col_dims=1)
    g.fetch("y")
    return Case(g, {"x": x}, {"y": x.reshape(2, 12) @ w}, rtol=1e-4)


def case_elementwise_add_axis1():
    x = rng(1).standard_normal((2, 3, 4, 5)).astype(np.float32)
    b = rng(2).standard_normal((3,)).astype(np.float32)
    g = Prog()
    g.feed("x", [-1, 3, 4, 5])
    g.param("b", b)
    g.var("y", [-1, 3, 4, 5])
    g.op("elementwise_add", {"X": "x", "Y": "b"}, {"Out": "y"}, axis=1)
    g.fetch("y")
    return Case(g, {"x": x}, {"y": x + b.reshape(1, 3, 1, 1)}, combined=True)


def case_scale_bias_before():
    x = rng(3).standard_normal((4, 6)).astype(np.float32)
    return unary("scale", x, (x + 0.5) * 3.0, scale=3.0, bias=0.5, bias_after_scale=False)


def case_relu6():
    x = (rng(4).standard_normal((3, 7)) * 5).astype(np.float32)
    return unary("relu6", x, np.clip(x, 0, 6), threshold=6.0)


def case_hard_sigmoid():
    x = (rng(5).standard_normal((3, 7)) * 4).astype(np.float32)
    return unary("hard_sigmoid", x, np.clip(0.2 * x + 0.5, 0, 1), slope=0.2, offset=0.5)


def case_pool2d_max_ceil():
    x = rng(6).standard_normal((1, 2, 5, 5)).astype(np.float32)
    y = np.full((1, 2, 3, 3), -np.inf, np.float32)
    for i in range(3):
        for j in range(3):
            y[:, :, i, j] = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(2, 3))
    g = Prog()
    g.feed("x", [1, 2, 5, 5])
    g.var("y", [1, 2, 3, 3])
    g.op("pool2d", {"X": "x"}, {"Out": "y"}, pooling_type="max", ksize=[2, 2], strides=[2, 2],
         paddings=[0, 0], ceil_mode=True, global_pooling=False, adaptive=False)
    g.fetch("y")
    return Case(g, {"x": x}, {"y": y})


def case_shape_int32():
    x = np.zeros((2, 3, 4), np.float32)
    g = Prog()
    g.feed("x", [-1, 3, 4])
    g.var("s", [3], dtype=2)
    g.op("shape", {"Input": "x"}, {"Out": "s"})
    g.fetch("s")
    return Case(g, {"x": x}, {"s": np.array([2, 3, 4], np.int32)})


def case_unknown_ops_listed():
    g = Prog()
    g.feed("x", [2, 3])
    g.var("y", [2, 3])
    g.var("z", [2, 3])
    g.var("w", [2, 3])
    g.op("no_such_op", {"X": "x"}, {"Out": "y"})
    g.op("no_such_op", {"X": "y"}, {"Out": "z"})
    g.op("other_op", {"X": "z"}, {"Out": "w"})
    g.fetch("w")
    return Case(g, {"x": np.zeros((2, 3), np.float32)},
                error="unsupported Paddle operators: no_such_op x2, other_op x1")


def case_int64_feed_cast():
    x = np.array([[1, 2, 3]], np.int64)
    g = Prog()
    g.feed("x", [1, 3], dtype=INT64)
    g.var("y", [1, 3])
    g.op("cast", {"X": "x"}, {"Out": "y"}, in_dtype=3, out_dtype=5)
    g.fetch("y")
    return Case(g, {"x": x}, {"y": x.astype(np.float32)})


def case_op_version_too_new():
    # a program recording a newer version of an op it uses is refused by name
    x = rng(9).standard_normal((2, 3)).astype(np.float32)
    c = unary("relu", x, np.maximum(x, 0))
    pr = c.prog.p.op_version_map.pair.add(op_name="relu")
    pr.op_version.version = 3
    pr = c.prog.p.op_version_map.pair.add(op_name="pool2d")  # unused: no matter
    pr.op_version.version = 9
    c.expect = {}
    c.error = "Paddle operator version newer than skiff reads: relu v3 (reads up to v0)"
    return c


def case_op_version_known():
    x = rng(10).standard_normal((2, 3)).astype(np.float32)
    c = unary("leaky_relu", x, np.where(x > 0, x, 0.1 * x).astype(np.float32), alpha=0.1)
    pr = c.prog.p.op_version_map.pair.add(op_name="leaky_relu")
    pr.op_version.version = 1
    return c
