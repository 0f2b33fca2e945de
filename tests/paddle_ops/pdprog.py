"""Builds small Paddle programs (ProgramDesc from src/engine/paddle/framework.proto)
and their parameter files, for the op tests here and the fuzz seeds
(tools/paddle_seeds.py). Nothing of a real model is used.

    g = Prog()
    g.feed("x", [-1, 3])
    g.param("w", np.ones((3, 1), np.float32))
    g.var("y", [-1, 1])
    g.op("mul", {"X": "x", "Y": "w"}, {"Out": "y"}, x_num_col_dims=1)
    g.fetch("y")
    g.write(directory)                  # __model__ + one file per parameter
    g.write(directory, combined=True)   # inference.pdmodel + inference.pdiparams
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PB_DIR = os.path.join(ROOT, "src", "engine", "paddle")

# VarType.Type
BOOL, INT16, INT32, INT64, FP16, FP32, FP64, UINT8, INT8 = 0, 1, 2, 3, 4, 5, 6, 20, 21
DENSE, FEED, FETCH = 7, 9, 10
NP_OF = {FP32: np.float32, FP64: np.float64, INT32: np.int32, INT64: np.int64, BOOL: np.bool_,
         UINT8: np.uint8, INT8: np.int8, INT16: np.int16, FP16: np.float16}
CODE_OF = {np.dtype(v): k for k, v in NP_OF.items()}

_pb = None


def pb():
    """framework_pb2, generated once per process with grpc_tools' protoc."""
    global _pb
    if _pb is None:
        gen = tempfile.mkdtemp(prefix="skiff-pdpb-")
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", PB_DIR, "--python_out",
                        gen, os.path.join(PB_DIR, "framework.proto")], check=True)
        sys.path.insert(0, gen)
        import framework_pb2
        _pb = framework_pb2
    return _pb


def record(arr, lod=None, dtype=None):
    """One tensor record of Paddle's stream format (lod: list of offset lists)."""
    arr = np.ascontiguousarray(arr)
    code = dtype if dtype is not None else CODE_OF[arr.dtype]
    desc = pb().StreamTensorDesc(data_type=code, dims=list(arr.shape)).SerializeToString()
    lod = lod or []
    head = struct.pack("<IQ", 0, len(lod))
    for level in lod:
        head += struct.pack("<Q", 8 * len(level)) + struct.pack("<%dQ" % len(level), *level)
    return head + struct.pack("<Ii", 0, len(desc)) + desc + arr.tobytes()


class Prog:
    def __init__(self):
        self.p = pb().ProgramDesc()
        self.b = self.p.blocks.add(idx=0, parent_idx=-1)
        self.params = {}
        self.n_feed = 0
        self.n_fetch = 0
        self._io = False

    def _io_vars(self):
        if not self._io:
            self._io = True
            self.var("feed", kind=FEED)
            self.var("fetch", kind=FETCH)

    def var(self, name, dims=(), dtype=FP32, persistable=False, kind=DENSE, lod_level=0):
        v = self.b.vars.add(name=name, persistable=persistable)
        v.type.type = kind
        if kind == DENSE:
            v.type.dense_tensor.tensor.data_type = dtype
            v.type.dense_tensor.tensor.dims.extend(list(dims))
            if lod_level:
                v.type.dense_tensor.lod_level = lod_level
        return name

    def param(self, name, arr):
        arr = np.ascontiguousarray(arr)
        self.var(name, arr.shape, dtype=CODE_OF[arr.dtype], persistable=True)
        self.params[name] = record(arr)
        return name

    def feed(self, name, dims, dtype=FP32, lod_level=0):
        self._io_vars()
        self.var(name, dims, dtype, lod_level=lod_level)
        self.op("feed", {"X": "feed"}, {"Out": name}, col=self.n_feed)
        self.n_feed += 1
        return name

    def fetch(self, name):
        self._io_vars()
        self.op("fetch", {"X": name}, {"Out": "fetch"}, col=self.n_fetch)
        self.n_fetch += 1

    def op(self, type_, ins, outs, **attrs):
        o = self.b.ops.add(type=type_)
        for k, v in ins.items():
            o.inputs.add(parameter=k, arguments=v if isinstance(v, (list, tuple)) else [v])
        for k, v in outs.items():
            o.outputs.add(parameter=k, arguments=v if isinstance(v, (list, tuple)) else [v])
        for k, v in attrs.items():
            a = o.attrs.add(name=k)
            if isinstance(v, bool):
                a.type, a.b = 6, v
            elif isinstance(v, int):
                if -2**31 <= v < 2**31:
                    a.type, a.i = 0, v
                else:
                    a.type, a.l = 9, v
            elif isinstance(v, float):
                a.type, a.f = 1, v
            elif isinstance(v, str):
                a.type, a.s = 2, v
            elif isinstance(v, (list, tuple)):
                if all(isinstance(x, bool) for x in v) and v:
                    a.type = 7
                    a.bools.extend(v)
                elif all(isinstance(x, int) for x in v):
                    a.type = 3
                    a.ints.extend(v)
                elif all(isinstance(x, (int, float)) for x in v):
                    a.type = 4
                    a.floats.extend(float(x) for x in v)
                elif all(isinstance(x, str) for x in v):
                    a.type = 5
                    a.strings.extend(v)
                else:
                    raise TypeError("attribute %s: mixed list" % k)
            else:
                raise TypeError("attribute %s: %r" % (k, v))
        return o

    def program(self):
        return self.p.SerializeToString()

    def combined(self):
        return b"".join(self.params[k] for k in sorted(self.params))

    def write(self, d, combined=False):
        os.makedirs(d, exist_ok=True)
        if combined:
            with open(os.path.join(d, "inference.pdmodel"), "wb") as f:
                f.write(self.program())
            with open(os.path.join(d, "inference.pdiparams"), "wb") as f:
                f.write(self.combined())
            return d
        with open(os.path.join(d, "__model__"), "wb") as f:
            f.write(self.program())
        for k, v in self.params.items():
            with open(os.path.join(d, k), "wb") as f:
                f.write(v)
        return d
