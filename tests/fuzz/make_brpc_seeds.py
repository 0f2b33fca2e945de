#!/usr/bin/python3
"""Writes the seed corpus of fuzz_brpc (tests/fuzz/corpus/fuzz_brpc/).

    /usr/bin/python3 tests/fuzz/make_brpc_seeds.py

Each seed: byte 0 picks the model of fuzz_p09.h (0: x float32 [N,2]; 1: LoD
int64 'words'; 2: every type), then baidu_std frames as a client sends them on
one connection. Protobuf is written by hand here (a few field kinds suffice),
so the seeds do not depend on skiff's encoders."""
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_brpc")
SERVICE = b"baidu.paddle_serving.predictor.general_model.GeneralModelService"


def varint(v):
    v &= (1 << 64) - 1
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def packed_varints(num, vs):
    return f_bytes(num, b"".join(varint(v) for v in vs))


def packed_floats(num, vs):
    return f_bytes(num, b"".join(struct.pack("<f", v) for v in vs))


def meta(corr, method=b"inference", service=SERVICE, compress=0, timeout=0, attach=0, model=None):
    req = f_bytes(1, service) + f_bytes(2, method) + (f_varint(8, timeout) if timeout else b"")
    m = f_bytes(1, req) + f_varint(4, corr)
    if compress:
        m += f_varint(3, compress)
    if attach:
        m += f_varint(5, attach)
    if model is not None:
        m += f_bytes(9, f_bytes(1, b"model") + f_bytes(2, model))
    return m


def frame(payload, corr=1, attachment=b"", **kw):
    m = meta(corr, attach=len(attachment), **kw)
    if kw.get("compress") == 2:
        payload = gzip.compress(payload, mtime=0)
    body = m + payload + attachment
    return b"PRPC" + struct.pack(">II", len(body), len(m)) + body


def t09(name, elem, shape, floats=(), ints=(), lod=()):
    t = f_bytes(13, name) + f_bytes(14, name) + f_varint(10, elem) + packed_varints(11, shape)
    if floats:
        t += packed_floats(2, floats)
    if ints:
        t += packed_varints(1, ints)
    if lod:
        t += packed_varints(12, lod)
    return t


def r09(*tensors, fetch=(b"price",)):
    return b"".join(f_bytes(1, t) for t in tensors) + b"".join(f_bytes(2, f) for f in fetch)


def t04(elem, shape, floats=(), ints=(), lod=()):
    t = f_varint(5, elem) + b"".join(f_varint(6, s) for s in shape)
    if floats:
        t += b"".join(varint(4 << 3 | 5) + struct.pack("<f", v) for v in floats)
    if ints:
        t += b"".join(f_varint(3, v) for v in ints)
    if lod:
        t += b"".join(f_varint(7, v) for v in lod)
    return t


def r04(*insts, fetch=(b"price",)):
    return (b"".join(f_bytes(1, b"".join(f_bytes(1, t) for t in inst)) for inst in insts) +
            b"".join(f_bytes(2, f) for f in fetch) + f_varint(4, 0))


def seeds():
    s = {}
    s["p09_dense"] = b"\x00" + frame(r09(t09(b"x", 1, [2, 2], floats=[1, 2, 3, 4])))
    s["p04_dense"] = b"\x00" + frame(r04([t04(1, [2, 2], floats=[1, 2, 3, 4])]))
    s["p03_rows"] = b"\x00" + frame(r04([t04(1, [2], floats=[1, 2])], [t04(1, [2], floats=[3, 4])]))
    s["p09_lod"] = b"\x01" + frame(r09(t09(b"words", 0, [5, 1], ints=[1, 2, 3, 4, 5], lod=[0, 2, 5])))
    s["p04_lod"] = b"\x01" + frame(r04([t04(0, [5, 1], ints=[1, 2, 3, 4, 5], lod=[0, 2, 5])]))
    s["p04_rows_lod"] = b"\x01" + frame(r04([t04(0, [2, 1], ints=[1, 2])], [t04(0, [3, 1], ints=[3, 4, 5])]))
    s["p09_types"] = b"\x02" + frame(r09(t09(b"l", 0, [1, 2], ints=[1, 2]), t09(b"i", 2, [1, 1], ints=[7]),
                                         t09(b"f", 1, [1, 1], floats=[0.5])))
    s["gzip"] = b"\x00" + frame(r09(t09(b"x", 1, [1, 2], floats=[1, 2])), compress=2)
    s["gzip_p04"] = b"\x00" + frame(r04([t04(1, [1, 2], floats=[1, 2])]), compress=2)
    s["pipelined"] = b"\x00" + b"".join(frame(r09(t09(b"x", 1, [1, 2], floats=[k, k])), corr=k) for k in range(1, 5))
    s["attachment"] = b"\x00" + frame(r09(t09(b"x", 1, [1, 2], floats=[1, 2])), attachment=b"att")
    s["model_field"] = b"\x00" + frame(r09(t09(b"x", 1, [1, 2], floats=[1, 2])), model=b"uci", timeout=50)
    s["snappy"] = b"\x00" + frame(r09(t09(b"x", 1, [1, 2], floats=[1, 2])), compress=1)
    s["bad_elem_type"] = b"\x00" + frame(r04([t04(7, [1, 2], floats=[1, 2])]))
    s["shape_mismatch"] = b"\x00" + frame(r09(t09(b"x", 1, [1, 3], floats=[1, 2, 3])))
    s["meta_gt_body"] = b"\x00PRPC" + struct.pack(">II", 8, 20) + b"\x00" * 8
    s["garbage"] = b"\x00" + frame(r09(t09(b"x", 1, [1, 2], floats=[1, 2]))) + b"GARBAGE!"
    s["truncated"] = b"\x00" + frame(r04([t04(1, [1, 2], floats=[1, 2])]))[:30]
    s["bad_meta"] = b"\x00PRPC" + struct.pack(">II", 10, 10) + b"\xff" * 10
    s["lying_attachment"] = b"\x00" + frame(b"", attachment=b"")[:0] + \
        (lambda m: b"PRPC" + struct.pack(">II", len(m) + 2, len(m)) + m + b"ab")(meta(9, attach=1000))
    s["broken_gzip"] = b"\x00" + (lambda m: b"PRPC" + struct.pack(">II", len(m) + 9, len(m)) + m +
                                  b"\x1f\x8b\x08\x00broke")(meta(3, compress=2))
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds()), OUT))


if __name__ == "__main__":
    main()
