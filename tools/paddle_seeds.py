#!/usr/bin/python3
"""Writes tests/fuzz/corpus/fuzz_paddle/: small Paddle programs and their
parameters, built here from src/engine/paddle/framework.proto (no file of a
real model goes into the repository). Each seed is a 4-byte little-endian
program length, the ProgramDesc, then the combined parameters (the tensor
records of the persistable variables in byte-wise sorted name order).

And tests/fuzz/corpus/fuzz_paddle_pir/: the same layout with a Paddle 3 PIR
program (JSON text) for the program: the small programs of
tests/paddle_ops/cases_pir.py, built by its Pir builder, refusals included.

    tools/paddle_seeds.py
"""
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "paddle_ops"))
from pdprog import Prog  # noqa: E402


def seed(g):
    prog = g.program()
    return struct.pack("<I", len(prog)) + prog + g.combined()


def linear(with_scale=False):
    g = Prog()
    g.feed("x", [-1, 3])
    g.param("w", np.array([[0.5], [-1.0], [2.0]], np.float32))
    g.param("b", np.array([0.25], np.float32))
    g.var("t", [-1, 1])
    g.var("y", [-1, 1])
    g.op("mul", {"X": "x", "Y": "w"}, {"Out": "t"}, x_num_col_dims=1, y_num_col_dims=1)
    g.op("elementwise_add", {"X": "t", "Y": "b"}, {"Out": "y"}, axis=1)
    out = "y"
    if with_scale:
        g.var("s", [-1, 1])
        g.op("scale", {"X": "y"}, {"Out": "s"}, scale=2.0, bias=1.0, bias_after_scale=True)
        out = "s"
    g.fetch(out)
    return seed(g)


def mlp():
    g = Prog()
    g.feed("img", [-1, 1, 2, 2])
    g.param("w0", (0.1 * np.arange(12)).reshape(4, 3).astype(np.float32))
    g.param("b0", np.array([0.0, 0.5, -0.5], np.float32))
    for v in ("h", "a", "z", "p"):
        g.var(v, [-1, 3])
    g.op("mul", {"X": "img", "Y": "w0"}, {"Out": "h"}, x_num_col_dims=1, y_num_col_dims=1)
    g.op("elementwise_add", {"X": "h", "Y": "b0"}, {"Out": "a"}, axis=1)
    g.op("tanh", {"X": "a"}, {"Out": "z"})
    g.op("softmax", {"X": "z"}, {"Out": "p"}, axis=-1)
    g.fetch("p")
    return seed(g)


def quant():
    g = Prog()
    g.feed("x", [-1, 2])
    g.param("s", np.array([1.5], np.float32))
    g.param("w", np.array([[0.5, -1.0], [2.0, 0.25]], np.float32))
    for v in ("xq", "wq", "y"):
        g.var(v, [-1, 2])
    g.op("fake_quantize_dequantize_moving_average_abs_max", {"X": "x", "InScale": "s"},
         {"Out": "xq"}, bit_length=8, is_test=True)
    g.op("fake_channel_wise_quantize_dequantize_abs_max", {"X": "w"}, {"Out": "wq"},
         bit_length=8, quant_axis=1)
    g.op("matmul_v2", {"X": "xq", "Y": "wq"}, {"Out": "y"}, trans_x=False, trans_y=False)
    g.fetch("y")
    return seed(g)


def lod():
    g = Prog()
    g.feed("words", [-1, 1], dtype=3, lod_level=1)
    g.param("emb", (0.1 * np.arange(12)).reshape(6, 2).astype(np.float32))
    g.var("e", [-1, 2])
    g.var("p", [-1, 2])
    g.op("lookup_table", {"W": "emb", "Ids": "words"}, {"Out": "e"}, padding_idx=-1)
    g.op("sequence_pool", {"X": "e"}, {"Out": "p"}, pooltype="SUM", pad_value=0.0)
    g.fetch("p")
    return seed(g)


def nms():
    g = Prog()
    g.feed("boxes", [1, 3, 4])
    g.feed("scores", [1, 2, 3])
    g.var("out", [-1, 6])
    g.op("multiclass_nms", {"BBoxes": "boxes", "Scores": "scores"}, {"Out": "out"},
         background_label=0, score_threshold=0.1, nms_top_k=10, nms_threshold=0.5, nms_eta=1.0,
         keep_top_k=5, normalized=True)
    g.fetch("out")
    return seed(g)


def pir_seeds():
    """fuzz_paddle_pir's seeds: every case of cases_pir.py with a program of
    its own (the real model's cases are left out), broken files as the case
    breaks them."""
    import cases_pir
    out = os.path.join(ROOT, "tests", "fuzz", "corpus", "fuzz_paddle_pir")
    os.makedirs(out, exist_ok=True)
    for name in sorted(n for n in dir(cases_pir) if n.startswith("case_")):
        if name.startswith("case_lcnet"):
            continue
        case = getattr(cases_pir, name)()
        g = case.prog if case else None
        if not isinstance(g, cases_pir.Pir):
            continue
        text, params = g.text(), g.combined()
        if g.edit_json:
            text = g.edit_json(text)
        if g.edit_params:
            params = g.edit_params(params)
        v = struct.pack("<I", len(text)) + text + params
        with open(os.path.join(out, name[5:]), "wb") as f:
            f.write(v)
        print("fuzz_paddle_pir/%s: %d bytes" % (name[5:], len(v)))


def main():
    pir_seeds()
    out = os.path.join(ROOT, "tests", "fuzz", "corpus", "fuzz_paddle")
    os.makedirs(out, exist_ok=True)
    lin = linear()
    seeds = {
        "linear": lin,
        "linear_scale": linear(True),
        "mlp": mlp(),
        "quant": quant(),
        "lod": lod(),
        "nms": nms(),
        "program_only": lin[:4 + struct.unpack("<I", lin[:4])[0]],
        "params_short": lin[:-3],
        "garbage": b"\x05\x00\x00\x00\x0a\x03\x08\x00\x10",
    }
    for k, v in seeds.items():
        with open(os.path.join(out, k), "wb") as f:
            f.write(v)
        print("fuzz_paddle/%s: %d bytes" % (k, len(v)))


if __name__ == "__main__":
    main()
