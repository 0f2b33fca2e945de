#!/usr/bin/env python3
"""The Paddle pipeline codecs (src/proto/codec_pipeline.c) against the official
protobuf library: messages built and read with Python classes generated at test
time from src/proto/pb/pipeline_service.proto (grpc_tools.protoc), converted by
the pipe_wire driver (tests/python/pipe_wire.c).

  pipeline_pb_check.py --driver build/tests/python/pipe_wire --proto src/proto/pb/pipeline_service.proto

Checks: a Request the library encodes decodes in skiff to the same message
(read back as skiff's JSON); the library's own proto3 JSON of a Request
(camelCase names, int64 as strings) decodes in skiff and comes back as
protobuf the library parses to the original; a Response in Paddle's gateway
JSON becomes protobuf the library parses; a skiff refusal is a clean exit 1."""
import argparse
import importlib
import json
import os
import struct
import subprocess
import sys
import tempfile


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def run(driver, a, b, data):
    p = subprocess.run([driver, a, b], input=data, capture_output=True, timeout=30)
    return p.returncode, p.stdout, p.stderr.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--proto", required=True)
    args = ap.parse_args()
    from grpc_tools import protoc
    from google.protobuf import json_format

    tmp = tempfile.mkdtemp(prefix="pipe_pb_")
    d, f = os.path.split(os.path.abspath(args.proto))
    if protoc.main(["protoc", "-I" + d, "--python_out=" + tmp, f]) != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, tmp)
    pb = importlib.import_module("pipeline_service_pb2")

    req = pb.Request(key=["x", "y"], value=["0.0137, -0.1136", "\u65e5"], name="uci",
                     method="prediction", logid=-9007199254740993, clientip="10.0.0.1")
    t = req.tensors.add(name="ids", elem_type=0, shape=[3], lod=[0, 1, 3])
    t.int64_data.extend([-(1 << 62), 0, 1 << 62])
    t = req.tensors.add(name="f", elem_type=1, shape=[2, 2])
    t.float_data.extend([0.1, -2.5, float("inf"), 3.4e38])
    t = req.tensors.add(name="u", elem_type=7, shape=[3])
    t.uint32_data.extend([0, 128, 255])
    t = req.tensors.add(name="b", elem_type=9, shape=[2])
    t.bool_data.extend([True, False])
    t = req.tensors.add(name="s", elem_type=12, shape=[2])
    t.str_data.extend(["a", "\u00e9t\u00e9"])
    req.tensors.add(name="raw", elem_type=13, byte_data=b"\x93NUMPY\x00")
    t = req.tensors.add(name="d", elem_type=3, shape=[1])
    t.float64_data.append(5e-324)

    # 1. library pb -> skiff -> skiff's request JSON, compared field by field
    rc, out, err = run(args.driver, "req-pb", "req-json", req.SerializeToString())
    assert rc == 0, err
    got = json.loads(out)
    assert got["key"] == list(req.key) and got["value"] == list(req.value), got
    assert got["name"] == "uci" and got["method"] == "prediction" and got["clientip"] == "10.0.0.1"
    assert got["logid"] == req.logid, got["logid"]
    ts = {x["name"]: x for x in got["tensors"]}
    assert ts["ids"]["int64_data"] == list(req.tensors[0].int64_data) and ts["ids"]["lod"] == [0, 1, 3]
    fl = [f32(v) if isinstance(v, float) else float(v.replace("Infinity", "inf")) for v in ts["f"]["float_data"]]
    assert fl == [f32(0.1), -2.5, float("inf"), f32(3.4e38)], fl
    assert ts["f"]["shape"] == [2, 2] and ts["f"]["elem_type"] == 1
    assert ts["u"]["uint32_data"] == [0, 128, 255]
    assert ts["b"]["bool_data"] == [True, False]
    assert ts["s"]["str_data"] == ["a", "\u00e9t\u00e9"]
    assert ts["raw"]["byte_data"] == "k05VTVBZAA==" and ts["raw"]["shape"] == [7], ts["raw"]
    assert ts["d"]["float64_data"] == [5e-324]

    # 2. the library's proto3 JSON (camelCase, int64 as strings) -> skiff -> pb -> library
    text = json_format.MessageToJson(req)
    assert "elemType" in text and '"-9007199254740993"' in text
    rc, out, err = run(args.driver, "req-json", "req-pb", text.encode())
    assert rc == 0, err
    back = pb.Request.FromString(out)
    # skiff writes a BYTES tensor's shape ([7]); the rest comes back as sent
    assert list(back.tensors[5].shape) == [7]
    del back.tensors[5].shape[:]
    assert back == req, (back, req)

    # 3. Paddle's gateway JSON answer -> skiff -> pb -> library
    answer = {"err_no": 0, "err_msg": "", "key": ["price"], "value": ["18.901152"],
              "tensors": [{"float_data": [1.5], "elem_type": 1, "shape": [1], "name": "y"}]}
    rc, out, err = run(args.driver, "resp-json", "resp-pb", json.dumps(answer).encode())
    assert rc == 0, err
    r = pb.Response.FromString(out)
    assert r.err_no == 0 and list(r.key) == ["price"] and list(r.value) == ["18.901152"]
    assert r.tensors[0].name == "y" and list(r.tensors[0].float_data) == [1.5]
    # ... and the library's Response back into Paddle's exact JSON
    r = pb.Response(err_no=5000, err_msg="bad", key=["k"], value=["v"])
    rc, out, err = run(args.driver, "resp-pb", "resp-json", r.SerializeToString())
    assert rc == 0, err
    assert out == b'{"err_no":5000,"err_msg":"bad","key":["k"],"value":["v"],"tensors":[]}', out

    # 4. refusals are clean, and name the problem
    bad = pb.Request(key=["a", "b"], value=["1"])
    rc, out, err = run(args.driver, "req-pb", "req-json", bad.SerializeToString())
    assert rc == 1 and "key has 2 entries, value has 1" in err, (rc, err)
    bad = pb.Request()
    t = bad.tensors.add(name="x", elem_type=1, shape=[2, 2])
    t.float_data.extend([1, 2, 3])
    rc, out, err = run(args.driver, "req-pb", "req-json", bad.SerializeToString())
    assert rc == 1 and "tensor 'x': elem_type 1 (FP32) with shape [2,2] needs 4 values" in err, err
    print("pipeline pb check: ok")


if __name__ == "__main__":
    main()
