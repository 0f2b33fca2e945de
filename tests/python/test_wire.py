#!/usr/bin/python3
"""paddle_serving_client.wire (protobuf by hand, baidu_std framing) against
python3-protobuf: messages generated here with grpc_tools.protoc from
general_model_service.proto and brpc's RpcMeta as docs/PROTOCOLS.md gives
them. Each message is encoded by one side and decoded by the other, and the
encodings are compared byte for byte. Then Client is run over a socket
against a baidu_std server written here with the protobuf classes.

    tests/python/test_wire.py [--skiff build/skiff] [unittest args]
"""
import math
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

import numpy as np

import helpers

helpers.skiff_arg()  # not needed here; accepted like the other tests
from paddle_serving_client import Client, ServingError, wire  # noqa: E402

PROTO = """
syntax = "proto3";
package baidu.paddle_serving.predictor.general_model;
message Tensor {
  repeated int64 int64_data = 1; repeated float float_data = 2;
  repeated int32 int_data = 3; repeated double float64_data = 4;
  repeated uint32 uint32_data = 5; repeated bool bool_data = 6;
  repeated float complex64_data = 7; repeated double complex128_data = 8;
  repeated string data = 9; int32 elem_type = 10; repeated int32 shape = 11;
  repeated int32 lod = 12; string name = 13; string alias_name = 14;
  bytes tensor_content = 15;
}
message Request { repeated Tensor tensor = 1; repeated string fetch_var_names = 2;
  bool profile_server = 3; uint64 log_id = 4; }
message ModelOutput { repeated Tensor tensor = 1; string engine_name = 2; }
message Response { repeated ModelOutput outputs = 1; repeated int64 profile_time = 2;
  bool profile_server = 3; uint64 log_id = 4; int32 err_no = 5; string err_msg = 6; }
service GeneralModelService { rpc inference(Request) returns (Response);
                              rpc debug(Request) returns (Response); }
// the same Tensor written by an encoder that does not pack repeated scalars
message TensorUnpacked {
  repeated int64 int64_data = 1 [packed = false]; repeated float float_data = 2 [packed = false];
  repeated int32 int_data = 3 [packed = false]; repeated double float64_data = 4 [packed = false];
  repeated uint32 uint32_data = 5 [packed = false]; repeated bool bool_data = 6 [packed = false];
  repeated float complex64_data = 7 [packed = false];
  repeated double complex128_data = 8 [packed = false];
  repeated string data = 9; int32 elem_type = 10; repeated int32 shape = 11 [packed = false];
  repeated int32 lod = 12 [packed = false]; string name = 13; string alias_name = 14;
  bytes tensor_content = 15;
}
"""

BRPC_PROTO = """
syntax = "proto2";
package brpc.policy;
message RpcMeta {
  optional RpcRequestMeta request = 1; optional RpcResponseMeta response = 2;
  optional int32 compress_type = 3; optional int64 correlation_id = 4;
  optional int32 attachment_size = 5; optional bytes authentication_data = 7;
}
message RpcRequestMeta {
  required string service_name = 1; required string method_name = 2;
  optional int64 log_id = 3; optional int64 trace_id = 4; optional int64 span_id = 5;
  optional int64 parent_span_id = 6; optional string request_id = 7;
  optional int32 timeout_ms = 8;
}
message RpcResponseMeta { optional int32 error_code = 1; optional string error_text = 2; }
"""


def generate():
    d = tempfile.mkdtemp(prefix="skiff-pywire-")
    for name, text in (("general_model_service.proto", PROTO), ("brpc_meta.proto", BRPC_PROTO)):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", d, "--python_out", d,
                        os.path.join(d, name)], check=True)
    sys.path.insert(0, d)
    import brpc_meta_pb2
    import general_model_service_pb2
    return general_model_service_pb2, brpc_meta_pb2


pb, meta_pb = generate()

F32 = [0.0, -1.5, 3.25, 1e-30, -3.4e38, float("inf")]
F64 = [0.0, -2.5, math.pi, 1e300, -1e-300]
FULL_TENSOR = {
    "int64_data": [0, 1, -1, 2**63 - 1, -2**63, 300, -300],
    "float_data": F32,
    "int_data": [0, -1, 2**31 - 1, -2**31, 127, 128],
    "float64_data": F64,
    "uint32_data": [0, 1, 2**32 - 1, 2**31],
    "bool_data": [True, False, True],
    "complex64_data": [1.0, -2.0],
    "complex128_data": [0.5, -0.25],
    "data": ["words", "中文", ""],
    "elem_type": 20,
    "shape": [3, 1, -1],
    "lod": [0, 1, 3],
    "name": "fc_1.tmp_2",
    "alias_name": "prediction",
    "tensor_content": bytes(range(256)),
}


def f32(values):
    return [float(np.float32(v)) for v in values]


class TensorTest(unittest.TestCase):
    def check_pb_tensor(self, m, t):
        self.assertEqual(list(m.int64_data), t["int64_data"])
        self.assertEqual(list(m.float_data), f32(t["float_data"]))
        self.assertEqual(list(m.int_data), t["int_data"])
        self.assertEqual(list(m.float64_data), t["float64_data"])
        self.assertEqual(list(m.uint32_data), t["uint32_data"])
        self.assertEqual(list(m.bool_data), t["bool_data"])
        self.assertEqual(list(m.complex64_data), f32(t["complex64_data"]))
        self.assertEqual(list(m.complex128_data), t["complex128_data"])
        self.assertEqual(list(m.data), t["data"])
        self.assertEqual(m.elem_type, t["elem_type"])
        self.assertEqual(list(m.shape), t["shape"])
        self.assertEqual(list(m.lod), t["lod"])
        self.assertEqual(m.name, t["name"])
        self.assertEqual(m.alias_name, t["alias_name"])
        self.assertEqual(m.tensor_content, t["tensor_content"])

    def check_decoded(self, got, t):
        for k, v in t.items():
            if k in ("float_data", "complex64_data"):
                v = f32(v)
            elif k == "data":
                v = [s.encode("utf-8") for s in v]
            self.assertEqual(got[k], v, k)

    def test_ours_to_protobuf(self):
        data = wire.encode_tensor(FULL_TENSOR)
        m = pb.Tensor()
        m.ParseFromString(data)
        self.check_pb_tensor(m, FULL_TENSOR)
        self.assertEqual(data, m.SerializeToString(), "byte-for-byte as protobuf writes it")

    def test_protobuf_to_ours(self):
        m = pb.Tensor(**FULL_TENSOR)
        self.check_decoded(wire.decode_tensor(m.SerializeToString()), FULL_TENSOR)

    def test_unpacked_repeated_fields(self):
        m = pb.TensorUnpacked(**FULL_TENSOR)
        data = m.SerializeToString()
        self.assertNotEqual(data, pb.Tensor(**FULL_TENSOR).SerializeToString())
        self.check_decoded(wire.decode_tensor(data), FULL_TENSOR)

    def test_packed_and_unpacked_occurrences_merge(self):
        a = pb.TensorUnpacked(int64_data=[1, 2], shape=[4]).SerializeToString()
        b = pb.Tensor(int64_data=[3, -4], shape=[5]).SerializeToString()
        got = wire.decode_tensor(a + b)
        self.assertEqual(got["int64_data"], [1, 2, 3, -4])
        self.assertEqual(got["shape"], [4, 5])

    def test_empty_tensor_is_empty(self):
        self.assertEqual(wire.encode_tensor({}), b"")
        self.assertEqual(wire.decode_tensor(b"")["int64_data"], [])

    def test_unknown_fields_skipped(self):
        extra = wire.Writer().varint(40, 7).fixed32(41, "f", 1.0).fixed64(42, "d", 2.0) \
            .string(43, "x").bytes()
        got = wire.decode_tensor(extra + pb.Tensor(name="w", shape=[2]).SerializeToString())
        self.assertEqual((got["name"], got["shape"]), ("w", [2]))

    def test_truncated_input_refused(self):
        data = pb.Tensor(name="words", int64_data=[1, 2, 3]).SerializeToString()
        for cut in (1, len(data) - 1):
            with self.assertRaises(wire.DecodeError):
                wire.decode_tensor(data[:cut])
        with self.assertRaises(wire.DecodeError):
            wire.decode_tensor(b"\x08\xff")  # a varint without its end


class MessageTest(unittest.TestCase):
    def test_request_both_ways(self):
        tensors = [{"int64_data": [3, 17, 250], "elem_type": 0, "shape": [3, 1], "lod": [0, 3],
                    "name": "words", "alias_name": "words"},
                   {"float_data": [0.5], "elem_type": 1, "shape": [1, 1], "name": "x"}]
        data = wire.encode_request(tensors, ["prediction", "acc"], log_id=2**64 - 1,
                                   profile_server=True)
        m = pb.Request()
        m.ParseFromString(data)
        self.assertEqual([t.name for t in m.tensor], ["words", "x"])
        self.assertEqual(list(m.tensor[0].int64_data), [3, 17, 250])
        self.assertEqual(list(m.tensor[0].lod), [0, 3])
        self.assertEqual(list(m.fetch_var_names), ["prediction", "acc"])
        self.assertEqual((m.log_id, m.profile_server), (2**64 - 1, True))
        self.assertEqual(data, m.SerializeToString())
        back = wire.decode_request(m.SerializeToString())
        self.assertEqual(back["fetch_var_names"], ["prediction", "acc"])
        self.assertEqual(back["tensor"][1]["float_data"], [0.5])
        self.assertEqual(back["log_id"], 2**64 - 1)

    def test_response_both_ways(self):
        m = pb.Response(log_id=9, err_no=-5100, err_msg="InferService inference failed!",
                        profile_time=[1, -2, 2**40])
        out = m.outputs.add(engine_name="GeneralInferOp_0")
        out.tensor.add(float_data=[0.25, 0.75], elem_type=1, shape=[1, 2], name="fc_1.tmp_2",
                       alias_name="prediction")
        out.tensor.add(int64_data=[5, 6, 7], elem_type=0, shape=[3, 1], lod=[0, 1, 3],
                       name="crf", alias_name="crf")
        got = wire.decode_response(m.SerializeToString())
        self.assertEqual((got["log_id"], got["err_no"], got["err_msg"]),
                         (9, -5100, "InferService inference failed!"))
        self.assertEqual(got["profile_time"], [1, -2, 2**40])
        o = got["outputs"][0]
        self.assertEqual(o["engine_name"], "GeneralInferOp_0")
        self.assertEqual(o["tensor"][0]["float_data"], [0.25, 0.75])
        self.assertEqual(o["tensor"][1]["lod"], [0, 1, 3])
        mine = wire.encode_response(got["outputs"], log_id=9, err_no=-5100,
                                    err_msg="InferService inference failed!",
                                    profile_time=[1, -2, 2**40])
        self.assertEqual(mine, m.SerializeToString())


class FrameTest(unittest.TestCase):
    def test_request_meta(self):
        data = wire.encode_rpc_meta(77, wire_service(), "inference", log_id=5)
        m = meta_pb.RpcMeta()
        m.ParseFromString(data)
        self.assertEqual(m.request.service_name, wire_service())
        self.assertEqual(m.request.method_name, "inference")
        self.assertEqual((m.request.log_id, m.correlation_id), (5, 77))
        self.assertFalse(m.HasField("response"))
        self.assertEqual(data, m.SerializeToString())

    def test_response_meta(self):
        m = meta_pb.RpcMeta(correlation_id=2**40, attachment_size=3)
        m.response.error_code = -5100
        m.response.error_text = "InferService inference failed!"
        got = wire.decode_rpc_meta(m.SerializeToString())
        self.assertEqual(got["correlation_id"], 2**40)
        self.assertEqual(got["attachment_size"], 3)
        self.assertEqual(got["response"], {"error_code": -5100,
                                           "error_text": "InferService inference failed!"})
        mine = wire.encode_rpc_meta(2**40, error_code=-5100,
                                    error_text="InferService inference failed!",
                                    attachment_size=3)
        m2 = meta_pb.RpcMeta()
        m2.ParseFromString(mine)
        self.assertEqual(m2, m)

    def test_frame_bytes(self):
        self.assertEqual(wire.frame(b"\x20\x01", b"xyz"),
                         b"PRPC\x00\x00\x00\x05\x00\x00\x00\x02\x20\x01xyz")
        big = wire.frame(b"m" * 300, b"p" * 70000)
        self.assertEqual(big[:12], b"PRPC" + struct.pack(">II", 70300, 300))
        self.assertEqual(wire.parse_frame_header(big[:12]), (70300, 300))
        for bad in (b"HTTP/1.1 200", b"PRPC\x00\x00\x00\x01\x00\x00\x00\x02", b"PRPC"):
            with self.assertRaises(wire.DecodeError):
                wire.parse_frame_header(bad)


def wire_service():
    from paddle_serving_client import SERVICE_NAME
    return SERVICE_NAME


# ---- Client over a socket, against a baidu_std server made of the protobuf classes ---------


class FakeServer:
    """Answers each baidu_std call: echoes the request's words as float_data of
    "prediction", or an RpcResponseMeta error when a word is negative. Calls
    are recorded (service, method, correlation id, request)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.calls = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        with c:
            while True:
                head = _read(c, 12)
                if not head:
                    return
                assert head[:4] == b"PRPC"
                body_size, meta_size = struct.unpack(">II", head[4:])
                body = _read(c, body_size)
                meta = meta_pb.RpcMeta()
                meta.ParseFromString(body[:meta_size])
                req = pb.Request()
                req.ParseFromString(body[meta_size:])
                self.calls.append((meta.request.service_name, meta.request.method_name,
                                   meta.correlation_id, req))
                out = meta_pb.RpcMeta(correlation_id=meta.correlation_id)
                resp = pb.Response(log_id=req.log_id)
                words = list(req.tensor[0].int64_data)
                if any(w < 0 for w in words):
                    out.response.error_code = -5100
                    out.response.error_text = "InferService inference failed!"
                    payload = b""
                else:
                    t = resp.outputs.add(engine_name="GeneralInferOp_0").tensor.add(
                        float_data=[float(w) for w in words], elem_type=1,
                        shape=list(req.tensor[0].shape), lod=list(req.tensor[0].lod),
                        name="fc_1.tmp_2", alias_name="prediction")
                    assert t
                    payload = resp.SerializeToString()
                    out.response.error_code = 0
                m = out.SerializeToString()
                c.sendall(b"PRPC" + struct.pack(">II", len(m) + len(payload), len(m)) + m
                          + payload)

    def close(self):
        self.sock.close()


def _read(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            return b""
        buf += chunk
    return buf


CONF = """feed_var { name: "words" alias_name: "words" is_lod_tensor: true feed_type: 0 shape: -1 }
fetch_var { name: "fc_1.tmp_2" alias_name: "prediction" is_lod_tensor: true fetch_type: 1 shape: 1 }
"""


class ClientOverSocketTest(unittest.TestCase):
    def setUp(self):
        self.server = FakeServer()
        d = tempfile.mkdtemp(prefix="skiff-pywire-conf-")
        self.conf = os.path.join(d, "serving_client_conf.prototxt")
        with open(self.conf, "w") as f:
            f.write(CONF)

    def tearDown(self):
        self.server.close()

    def client(self, endpoints):
        c = Client()
        c.load_client_config(os.path.dirname(self.conf))
        c.set_rpc_timeout_ms(3000)
        c.connect(endpoints)
        return c

    def test_call(self):
        c = self.client(["127.0.0.1:%d" % self.server.port])
        for i in range(3):
            got = c.predict(feed={"words": [3, 17, 250]}, fetch=["acc", "prediction"],
                            batch=False, log_id=11)
            np.testing.assert_array_equal(got["prediction"], [[3.0], [17.0], [250.0]])
            np.testing.assert_array_equal(got["prediction.lod"], [0, 3])
        self.assertEqual([x[2] for x in self.server.calls], [1, 2, 3])  # correlation ids
        service, method, _, req = self.server.calls[0]
        self.assertEqual((service, method), (wire_service(), "inference"))
        self.assertEqual(list(req.fetch_var_names), ["prediction"])  # acc: not in the conf
        t = req.tensor[0]
        self.assertEqual((t.name, t.alias_name, t.elem_type), ("words", "words", 0))
        self.assertEqual((list(t.shape), list(t.lod), req.log_id), ([3, 1], [0, 3], 11))
        self.assertEqual(len(c._socks), 1, "one kept connection")

    def test_error_reply_raises_its_text(self):
        c = self.client(["127.0.0.1:%d" % self.server.port])
        with self.assertRaises(ServingError) as e:
            c.predict(feed={"words": [1, -2]}, fetch=["prediction"])
        self.assertIn("InferService inference failed!", str(e.exception))
        self.assertEqual(e.exception.code, -5100)
        # the connection stays usable
        got = c.predict(feed={"words": [4]}, fetch=["prediction"])
        np.testing.assert_array_equal(got["prediction"], [[4.0]])

    def test_failover_to_the_next_endpoint(self):
        dead = helpers.free_port()  # nothing listens there
        c = self.client(["127.0.0.1:%d" % dead, "127.0.0.1:%d" % self.server.port])
        for i in range(4):
            got = c.predict(feed={"words": [i]}, fetch=["prediction"])
            np.testing.assert_array_equal(got["prediction"], [[float(i)]])
        self.assertEqual(len(self.server.calls), 4)

    def test_no_endpoint_answers(self):
        c = self.client(["127.0.0.1:%d" % helpers.free_port()])
        with self.assertRaises(ConnectionError) as e:
            c.predict(feed={"words": [1]}, fetch=["prediction"])
        self.assertIn("no endpoint answered", str(e.exception))

    def test_timeout_fails_over(self):
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts (the kernel does) but never answers
        try:
            c = self.client(["127.0.0.1:%d" % silent.getsockname()[1],
                             "127.0.0.1:%d" % self.server.port])
            c.set_rpc_timeout_ms(300)
            got = c.predict(feed={"words": [9]}, fetch=["prediction"])
            np.testing.assert_array_equal(got["prediction"], [[9.0]])
        finally:
            silent.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
