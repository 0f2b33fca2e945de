#!/usr/bin/python3
"""Writes tests/fuzz/corpus/fuzz_paddle/: small Paddle programs and their
parameters, built here from src/engine/paddle/framework.proto (no file of a
real model goes into the repository). Each seed is a 4-byte little-endian
program length, the ProgramDesc, then the combined parameters (the tensor
records of the persistable variables in byte-wise sorted name order).

    tools/paddle_seeds.py
"""
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PB_DIR = os.path.join(ROOT, "src", "engine", "paddle")

FP32, INT64 = 5, 3
DENSE, FEED, FETCH = 7, 9, 10


def load_pb():
    gen = tempfile.mkdtemp()
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", PB_DIR, "--python_out", gen,
                    os.path.join(PB_DIR, "framework.proto")], check=True)
    sys.path.insert(0, gen)
    import framework_pb2
    return framework_pb2


def record(pb, dims, values, dtype=FP32):
    desc = pb.StreamTensorDesc(data_type=dtype, dims=dims).SerializeToString()
    data = struct.pack("<%df" % len(values), *values)
    return struct.pack("<IQIi", 0, 0, 0, len(desc)) + desc + data


class Prog:
    def __init__(self, pb):
        self.pb = pb
        self.p = pb.ProgramDesc()
        self.b = self.p.blocks.add(idx=0, parent_idx=-1)
        self.params = {}

    def var(self, name, dims, persistable=False, kind=DENSE):
        v = self.b.vars.add(name=name, persistable=persistable)
        v.type.type = kind
        if kind == DENSE:
            v.type.dense_tensor.tensor.data_type = FP32
            v.type.dense_tensor.tensor.dims.extend(dims)

    def param(self, name, dims, values):
        self.var(name, dims, persistable=True)
        self.params[name] = record(self.pb, dims, values)

    def op(self, type_, ins, outs, **attrs):
        o = self.b.ops.add(type=type_)
        for k, v in ins.items():
            o.inputs.add(parameter=k, arguments=[v])
        for k, v in outs.items():
            o.outputs.add(parameter=k, arguments=[v])
        for k, v in attrs.items():
            a = o.attrs.add(name=k)
            if isinstance(v, bool):
                a.type, a.b = 6, v
            elif isinstance(v, int):
                a.type, a.i = 0, v
            else:
                a.type, a.f = 1, v

    def seed(self):
        prog = self.p.SerializeToString()
        blob = b"".join(self.params[k] for k in sorted(self.params))
        return struct.pack("<I", len(prog)) + prog + blob


def linear(pb, with_scale=False):
    g = Prog(pb)
    g.var("feed", [], kind=FEED)
    g.var("fetch", [], kind=FETCH)
    g.var("x", [-1, 3])
    g.param("w", [3, 1], [0.5, -1.0, 2.0])
    g.param("b", [1], [0.25])
    g.var("t", [-1, 1])
    g.var("y", [-1, 1])
    g.op("feed", {"X": "feed"}, {"Out": "x"}, col=0)
    g.op("mul", {"X": "x", "Y": "w"}, {"Out": "t"}, x_num_col_dims=1, y_num_col_dims=1)
    g.op("elementwise_add", {"X": "t", "Y": "b"}, {"Out": "y"}, axis=1)
    out = "y"
    if with_scale:
        g.var("s", [-1, 1])
        g.op("scale", {"X": "y"}, {"Out": "s"}, scale=2.0, bias=1.0, bias_after_scale=True)
        out = "s"
    g.op("fetch", {"X": out}, {"Out": "fetch"}, col=0)
    return g.seed()


def mlp(pb):
    g = Prog(pb)
    g.var("feed", [], kind=FEED)
    g.var("fetch", [], kind=FETCH)
    g.var("img", [-1, 1, 2, 2])
    g.param("w0", [4, 3], [0.1 * i for i in range(12)])
    g.param("b0", [3], [0.0, 0.5, -0.5])
    for v in ("h", "a", "z", "p"):
        g.var(v, [-1, 3])
    g.op("feed", {"X": "feed"}, {"Out": "img"}, col=0)
    g.op("mul", {"X": "img", "Y": "w0"}, {"Out": "h"}, x_num_col_dims=1, y_num_col_dims=1)
    g.op("elementwise_add", {"X": "h", "Y": "b0"}, {"Out": "a"}, axis=1)
    g.op("tanh", {"X": "a"}, {"Out": "z"})
    g.op("softmax", {"X": "z"}, {"Out": "p"}, axis=-1)
    g.op("fetch", {"X": "p"}, {"Out": "fetch"}, col=0)
    return g.seed()


def main():
    pb = load_pb()
    out = os.path.join(ROOT, "tests", "fuzz", "corpus", "fuzz_paddle")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    lin = linear(pb)
    seeds = {
        "linear": lin,
        "linear_scale": linear(pb, True),
        "mlp": mlp(pb),
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
