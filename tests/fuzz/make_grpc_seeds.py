#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_kserve_grpc (tests/fuzz/corpus/fuzz_kserve_grpc/):
ModelInferRequest messages encoded by hand here (protobuf wire format, field
numbers from the KServe v2 spec), for the models of fuzz_p09.h. Each file is
byte 0 = model index, byte 1 = 1 (gRPC length prefix follows) or 0 (bare)."""
import os
import struct
import sys


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


def ld(field, payload):
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def packed(field, vals, fmt=None):
    if fmt:
        body = b"".join(struct.pack("<" + fmt, v) for v in vals)
    else:
        body = b"".join(varint(v) for v in vals)
    return ld(field, body)


def tensor(name, dtype, shape, contents=b""):
    t = ld(1, name.encode()) + ld(2, dtype.encode()) + packed(3, shape)
    return t + (ld(5, contents) if contents else b"")


def request(inputs, raw=(), outputs=(), rid="r1"):
    m = ld(1, b"m") + ld(3, rid.encode())
    for t in inputs:
        m += ld(5, t)
    for o in outputs:
        m += ld(6, ld(1, o.encode()))
    for r in raw:
        m += ld(7, r)
    return m


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "fuzz_kserve_grpc")
    os.makedirs(out, exist_ok=True)
    seeds = {
        "dense_typed": (0, request([tensor("x", "FP32", [1, 2], packed(6, [1.5, -2.0], "f"))], outputs=["price"])),
        "dense_raw": (0, request([tensor("x", "FP32", [2, 2])], raw=[struct.pack("<4f", 1, 2, 3, 4)])),
        "dense_bad_count": (0, request([tensor("x", "FP32", [1, 2], packed(6, [1.0], "f"))])),
        "dense_wrong_field": (0, request([tensor("x", "FP32", [1, 2], packed(3, [1, 2]))])),
        "lod_int64": (1, request([tensor("words", "INT64", [3, 1], packed(3, [1, 2, 3]))])),
        "types_many": (2, request([
            tensor("l", "INT64", [1, 2], packed(3, [5, -6])),
            tensor("i", "INT32", [1, 1], packed(2, [7])),
            tensor("d", "FP64", [1, 1], packed(7, [0.25], "d")),
            tensor("s16", "INT16", [1, 2], packed(2, [300, -300])),
            tensor("u", "UINT8", [1, 2], packed(4, [1, 255])),
            tensor("i8", "INT8", [1, 1], packed(2, [-128])),
            tensor("b", "BOOL", [1, 2], packed(1, [1, 0])),
            tensor("s", "BYTES", [1, 1], ld(8, b"hello")),
        ])),
        "types_half_raw": (2, request([tensor("h", "FP16", [1, 2]), tensor("bf", "BF16", [1, 1])],
                                      raw=[b"\x00\x3c\x00\x40", b"\x80\x3f"])),
        "empty": (0, b""),
        "not_proto": (0, b"\xff\xff\xff\xff"),
    }
    for name, (model, msg) in seeds.items():
        for framed in (0, 1):
            body = struct.pack(">BI", 0, len(msg)) + msg if framed else msg
            with open(os.path.join(out, "%s_%d" % (name, framed)), "wb") as f:
                f.write(bytes([model, framed]) + body)


if __name__ == "__main__":
    main()
