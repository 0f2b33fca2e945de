"""Broken Paddle model files: each refused at load with one clear line that
names the file and the variable, never a crash (the sanitizer build runs
these too). The files are written here from small programs, then damaged."""
import os
import struct

import numpy as np

from pdprog import Prog, record, INT64
from run_ops import Case

F = np.float32


class Damaged(Prog):
    """A Prog whose written files are changed by fn(dir) after writing."""

    def __init__(self, fn, combined=False):
        super().__init__()
        self.fn = fn
        self.combined_files = combined

    def write(self, d, combined=False):
        super().write(d, combined=self.combined_files)
        self.fn(d)
        return d


def linear(fn, combined=False):
    g = Damaged(fn, combined)
    g.feed("x", [-1, 3])
    g.param("w", np.array([[0.5], [-1.0], [2.0]], F))
    g.param("b", np.array([0.25], F))
    g.var("t", [-1, 1])
    g.var("y", [-1, 1])
    g.op("mul", {"X": "x", "Y": "w"}, {"Out": "t"}, x_num_col_dims=1, y_num_col_dims=1)
    g.op("elementwise_add", {"X": "t", "Y": "b"}, {"Out": "y"}, axis=1)
    g.fetch("y")
    return g


X = {"x": np.ones((1, 3), F)}


def rewrite(path, fn):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(fn(data))


def case_program_truncated():
    return Case(linear(lambda d: rewrite(os.path.join(d, "__model__"), lambda b: b[:len(b) // 2])),
                X, error="__model__ is not a Paddle ProgramDesc")


def case_program_garbage():
    return Case(linear(lambda d: rewrite(os.path.join(d, "__model__"), lambda b: b"\xff" * 64)),
                X, error="__model__ is not a Paddle ProgramDesc")


def case_program_empty():
    return Case(linear(lambda d: rewrite(os.path.join(d, "__model__"), lambda b: b"")),
                X, error="__model__ has no blocks")


def case_param_file_missing():
    return Case(linear(lambda d: os.remove(os.path.join(d, "w"))), X,
                error="parameter 'w': cannot open")


def case_param_dims_disagree():
    return Case(linear(lambda d: rewrite(os.path.join(d, "w"),
                                         lambda b: record(np.ones((1, 3), F)))), X,
                error="'w'")


def case_param_dtype_disagree():
    return Case(linear(lambda d: rewrite(os.path.join(d, "b"),
                                         lambda b: record(np.ones(1, np.float64)))), X,
                error="'b'")


def case_param_unknown_dtype():
    def bad(b):
        return record(np.ones(1, F), dtype=99)
    return Case(linear(lambda d: rewrite(os.path.join(d, "b"), bad)), X, error="'b'")


def case_param_file_short():
    return Case(linear(lambda d: rewrite(os.path.join(d, "w"), lambda b: b[:-2])), X,
                error="'w'")


def case_param_file_long():
    return Case(linear(lambda d: rewrite(os.path.join(d, "w"), lambda b: b + b"\0\0\0")), X,
                error="bytes after parameter 'w'")


def case_param_tensor_version():
    return Case(linear(lambda d: rewrite(os.path.join(d, "b"),
                                         lambda b: struct.pack("<I", 7) + b[4:])), X,
                error="'b'")


def case_combined_short():
    return Case(linear(lambda d: rewrite(os.path.join(d, "inference.pdiparams"),
                                         lambda b: b[:-5]), combined=True), X,
                error="inference.pdiparams")


def case_combined_long():
    return Case(linear(lambda d: rewrite(os.path.join(d, "inference.pdiparams"),
                                         lambda b: b + b"\1" * 9), combined=True), X,
                error="9 bytes left after the 2 parameters")


def case_op_reads_missing_variable():
    g = Prog()
    g.feed("x", [-1, 3])
    g.var("y", [-1, 3])
    g.op("relu", {"X": "nowhere"}, {"Out": "y"})
    g.fetch("y")
    return Case(g, X, error="op 1 (relu): op relu: input X ('nowhere') is not defined before it")


def case_fetch_of_missing_variable():
    g = Prog()
    g.feed("x", [-1, 3])
    g.fetch("ghost")
    return Case(g, X, error="ghost")


def case_feed_col_out_of_range():
    g = Prog()
    g._io_vars()
    g.var("x", [-1, 3])
    g.op("feed", {"X": "feed"}, {"Out": "x"}, col=5)
    g.fetch("x")
    return Case(g, X, error="feed op 0: bad output or col 5")


def case_lod_feed_without_offsets_at_run():
    g = Prog()
    g.feed("w", [-1, 1], dtype=INT64, lod_level=1)
    g.param("emb", np.ones((10, 2), F))
    g.var("e", [-1, 2])
    g.op("lookup_table", {"W": "emb", "Ids": "w"}, {"Out": "e"}, padding_idx=-1)
    g.fetch("e")
    return Case(g, {"w": np.array([[1], [2]], np.int64)}, error="w.lod")
