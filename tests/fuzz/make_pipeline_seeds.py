#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_pipeline_request (tests/fuzz/corpus/fuzz_pipeline_request/):
Paddle pipeline Requests and Responses, as the HTTP gateway's JSON and as protobuf
binary encoded by hand here (field numbers from src/proto/pb/pipeline_service.proto).
Each file is byte 0 = form (bit 0: protobuf, bit 1: Response), then the body."""
import base64
import json
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


def key(field, wire):
    return varint(field << 3 | wire)


def ld(field, payload):
    return key(field, 2) + varint(len(payload)) + payload


def packed(field, vals, fmt=None):
    if fmt:
        body = b"".join(struct.pack("<" + fmt, v) for v in vals)
    else:
        body = b"".join(varint(v) for v in vals)
    return ld(field, body)


def vint(field, v):
    return key(field, 0) + varint(v)


# elem_type -> (field number, struct format or None for varints, JSON name)
FIELDS = {0: (1, None, "int64_data"), 1: (2, "f", "float_data"), 2: (3, None, "int_data"),
          3: (4, "d", "float64_data"), 4: (3, None, "int_data"), 5: (2, "f", "float_data"),
          6: (5, None, "uint32_data"), 7: (5, None, "uint32_data"), 8: (3, None, "int_data"),
          9: (6, None, "bool_data"), 10: (7, "f", "complex64_data"),
          11: (8, "d", "complex128_data")}


def pb_tensor(name, elem, shape, vals, lod=()):
    t = b""
    if elem == 12:
        t += b"".join(ld(9, s.encode()) for s in vals)
    elif elem == 13:
        t += ld(10, vals)
    else:
        field, fmt, _ = FIELDS[elem]
        t += packed(field, [int(v) for v in vals] if fmt is None else vals, fmt)
    t += vint(20, elem)
    if shape:
        t += packed(21, shape)
    if lod:
        t += packed(22, lod)
    return t + ld(23, name.encode())


def json_tensor(name, elem, shape, vals, lod=()):
    t = {}
    if elem == 12:
        t["str_data"] = vals
    elif elem == 13:
        t["byte_data"] = base64.b64encode(vals).decode()
    else:
        t[FIELDS[elem][2]] = vals
    t["elem_type"] = elem
    t["shape"] = shape
    if lod:
        t["lod"] = list(lod)
    t["name"] = name
    return t


TENSORS = [
    ("ids", 0, [3], [1, -2, 1 << 40], (0, 1, 3)),
    ("x", 1, [1, 2], [0.5, -1.25], ()),
    ("i", 2, [2], [7, -7], ()),
    ("d", 3, [1], [1e300], ()),
    ("s16", 4, [2], [-300, 300], ()),
    ("h", 5, [2], [0.5, 2.0], ()),
    ("bf", 6, [1], [0x3F80], ()),
    ("u", 7, [2, 1], [0, 255], ()),
    ("i8", 8, [2], [-128, 127], ()),
    ("b", 9, [2], [1, 0], ()),
    ("s", 12, [2], ["a", "\u65e5"], ()),
    ("raw", 13, [], b"\x93NUMPY", ()),
    ("c", 10, [1], [1.0, 2.0], ()),
]


def pb_request(keys, values, tensors, logid=0):
    m = b"".join(ld(1, k.encode()) for k in keys) + b"".join(ld(2, v.encode()) for v in values)
    m += b"".join(ld(3, pb_tensor(*t)) for t in tensors)
    m += ld(4, b"uci") + ld(5, b"prediction")
    if logid:
        m += vint(6, logid)
    return m + ld(7, b"127.0.0.1")


def pb_response(err_no, msg, keys, values, tensors):
    m = (vint(1, err_no) if err_no else b"") + (ld(2, msg.encode()) if msg else b"")
    m += b"".join(ld(3, k.encode()) for k in keys) + b"".join(ld(4, v.encode()) for v in values)
    return m + b"".join(ld(5, pb_tensor(*t)) for t in tensors)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_pipeline_request")
    os.makedirs(out, exist_ok=True)
    ok = TENSORS[:-1]
    js = lambda o: json.dumps(o, separators=(",", ":")).encode()
    seeds = {
        "req_uci.json": (0, js({"key": ["x"], "value": ["0.0137, -0.1136, 0.2553"], "logid": 10000})),
        "req_tensors.json": (0, js({"key": ["k"], "value": ["v"],
                                    "tensors": [json_tensor(*t) for t in ok],
                                    "name": "uci", "method": "prediction", "logid": "7",
                                    "clientip": "10.0.0.1"})),
        "req_complex.json": (0, js({"tensors": [json_tensor(*TENSORS[-1])]})),
        "req_bad_len.json": (0, js({"key": ["a", "b"], "value": ["1"]})),
        "req_bad_shape.json": (0, js({"tensors": [{"float_data": [1, 2, 3], "elem_type": 1,
                                                   "shape": [2, 2], "name": "x"}]})),
        "req_camel.json": (0, b'{"tensors":[{"floatData":["NaN","Infinity",1],"elemType":"1",'
                              b'"shape":[3],"name":"f"}]}'),
        "resp_ok.json": (2, b'{"err_no":0,"err_msg":"","key":["price"],"value":["18.901152"],'
                            b'"tensors":[]}'),
        "resp_err.json": (2, js({"err_no": 5000, "err_msg": "bad input"})),
        "resp_tensors.json": (2, js({"err_no": 0, "err_msg": "", "key": [], "value": [],
                                     "tensors": [json_tensor(*t) for t in ok[:4]]})),
        "req_uci.pb": (1, pb_request(["x"], ["0.0137, -0.1136"], [], logid=10000)),
        "req_tensors.pb": (1, pb_request(["k"], ["v"], ok, logid=7)),
        "req_complex.pb": (1, pb_request([], [], [TENSORS[-1]])),
        "req_bad_len.pb": (1, pb_request(["a"], [], [])),
        "req_garbage.pb": (1, b"\x0a\x05a"),
        "resp_ok.pb": (3, pb_response(0, "", ["price"], ["18.901152"], [])),
        "resp_tensors.pb": (3, pb_response(6000, "late", [], [], ok[:5])),
    }
    for name, (form, body) in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([form]) + body)
    print(f"wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    main()
