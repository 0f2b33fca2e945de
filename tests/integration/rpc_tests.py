#!/usr/bin/env python3
"""brpc baidu_std against a real `skiff serve` (docs/rpc.md).

The client here shares nothing with skiff's C: the messages are python3-protobuf
classes that grpc_tools.protoc generates at test time from .proto text written
below (brpc's RpcMeta with its real map<string,string> user_fields, Paddle
Serving 0.9's and 0.3-0.6's GeneralModelService messages), and the framing
("PRPC", body_size, meta_size) is written here with struct.

Groups (run one with `rpc_tests.py --skiff BIN GROUP`):
  generations  both wire generations answer the uci price; HTTP and brpc agree bit for bit
  stream       pipelined calls with distinct correlation_ids, gzip, model selection
  errors       unknown service/method/model, wrong elem_type, shape mismatch, bad body,
               bad compress_type: an error in the RpcResponseMeta, the connection serves on
  framing      oversized body (error, close), meta_size > body_size, garbage, truncated
               frames (closed), the server serving others all along
  deadline     timeout_ms, drain with a call in flight (answered, exit 0), metrics
"""
import argparse
import gzip
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serve_tests as st  # noqa: E402  (the Server harness, DEMO_X, the uci reference)

SERVICE = "baidu.paddle_serving.predictor.general_model.GeneralModelService"
PRICE = 22.989538

META_PROTO = """
syntax = "proto2";
package testbrpc;
message RpcRequestMeta { optional string service_name = 1; optional string method_name = 2;
  optional int64 log_id = 3; optional int64 trace_id = 4; optional int64 span_id = 5;
  optional int64 parent_span_id = 6; optional string request_id = 7; optional int32 timeout_ms = 8; }
message RpcResponseMeta { optional int32 error_code = 1; optional string error_text = 2; }
message RpcMeta { optional RpcRequestMeta request = 1; optional RpcResponseMeta response = 2;
  optional int32 compress_type = 3; optional int64 correlation_id = 4; optional int32 attachment_size = 5;
  optional bytes authentication_data = 7; map<string, string> user_fields = 9; }
"""

P09_PROTO = """
syntax = "proto3";
package testp09;
message Tensor { repeated int64 int64_data = 1; repeated float float_data = 2; repeated int32 int_data = 3;
  repeated double float64_data = 4; repeated uint32 uint32_data = 5; repeated bool bool_data = 6;
  repeated float complex64_data = 7; repeated double complex128_data = 8; repeated string data = 9;
  int32 elem_type = 10; repeated int32 shape = 11; repeated int32 lod = 12; string name = 13;
  string alias_name = 14; bytes tensor_content = 15; }
message Request { repeated Tensor tensor = 1; repeated string fetch_var_names = 2; bool profile_server = 3;
  uint64 log_id = 4; }
message ModelOutput { repeated Tensor tensor = 1; string engine_name = 2; }
message Response { repeated ModelOutput outputs = 1; repeated int64 profile_time = 2; bool profile_server = 3;
  uint64 log_id = 4; int32 err_no = 5; string err_msg = 6; }
"""

P04_PROTO = """
syntax = "proto2";
package testp04;
message Tensor { repeated bytes data = 1; repeated int32 int_data = 2; repeated int64 int64_data = 3;
  repeated float float_data = 4; optional int32 elem_type = 5; repeated int32 shape = 6; repeated int32 lod = 7; }
message FeedInst { repeated Tensor tensor_array = 1; }
message FetchInst { repeated Tensor tensor_array = 1; }
message Request { repeated FeedInst insts = 1; repeated string fetch_var_names = 2;
  optional bool profile_server = 3 [default = false]; required uint64 log_id = 4 [default = 0]; }
message Response { repeated ModelOutput outputs = 1; repeated int64 profile_time = 2; }
message ModelOutput { repeated FetchInst insts = 1; optional string engine_name = 2; }
"""


def gen_protos():
    d = tempfile.mkdtemp(prefix="skiff-rpc-pb-")
    for name, text in (("tmeta", META_PROTO), ("tp09", P09_PROTO), ("tp04", P04_PROTO)):
        with open(os.path.join(d, name + ".proto"), "w") as f:
            f.write(text)
    r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", d, "--python_out", d,
                        "tmeta.proto", "tp09.proto", "tp04.proto"], capture_output=True, text=True, cwd=d)
    st.check(r.returncode == 0, "protoc", r.stderr)
    sys.path.insert(0, d)
    import tmeta_pb2
    import tp04_pb2
    import tp09_pb2
    return tmeta_pb2, tp09_pb2, tp04_pb2


M = P9 = P4 = None
check = st.check


# ---- framing -------------------------------------------------------------------------------

def frame(payload, corr=1, service=SERVICE, method="inference", compress=0, timeout_ms=0, model=None,
          attachment=b"", log_id=0):
    meta = M.RpcMeta(correlation_id=corr)
    meta.request.service_name = service
    meta.request.method_name = method
    if log_id:
        meta.request.log_id = log_id
    if timeout_ms:
        meta.request.timeout_ms = timeout_ms
    if compress:
        meta.compress_type = compress
        if compress == 2:
            payload = gzip.compress(payload)
    if model is not None:
        meta.user_fields["model"] = model
    if attachment:
        meta.attachment_size = len(attachment)
    mb = meta.SerializeToString()
    body = mb + payload + attachment
    return b"PRPC" + struct.pack(">II", len(body), len(mb)) + body


class Conn:
    def __init__(self, port, timeout=30):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.settimeout(timeout)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read(self):
        """(RpcMeta, payload) of the next answer frame, or None at close."""
        if not self._need(12):
            check(self.buf == b"", "connection closed mid-frame", self.buf[:40])
            return None
        check(self.buf[:4] == b"PRPC", "answer magic", self.buf[:12])
        body, msize = struct.unpack(">II", self.buf[4:12])
        check(msize <= body, "answer meta_size <= body_size", msize, body)
        check(self._need(12 + body), "answer frame truncated", body, len(self.buf))
        meta = M.RpcMeta.FromString(self.buf[12:12 + msize])
        payload = self.buf[12 + msize:12 + body]
        self.buf = self.buf[12 + body:]
        if meta.compress_type == 2:
            payload = gzip.decompress(payload)
        return meta, payload

    def closed(self, wait=5.0):
        """True when the server closes without sending anything more."""
        self.s.settimeout(wait)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def call(self, payload, **kw):
        self.send(frame(payload, **kw))
        got = self.read()
        check(got is not None, "connection closed instead of an answer")
        return got

    def close(self):
        self.s.close()


def req09(rows, fetch=("price",), elem_type=1, shape=None, name="x", log_id=0):
    r = P9.Request(fetch_var_names=list(fetch), log_id=log_id)
    flat = [v for row in rows for v in row]
    t = r.tensor.add(name=name, alias_name=name, elem_type=elem_type,
                     shape=shape if shape is not None else [len(rows), 13])
    if elem_type == 1:
        t.float_data.extend(flat)
    elif elem_type == 0:
        t.int64_data.extend(int(v * 1000) for v in flat)
    else:
        t.int_data.extend(int(v * 1000) for v in flat)
    return r.SerializeToString()


def req04(rows, fetch=("price",), per_row=False, elem_type=1, shape=None):
    r = P4.Request(fetch_var_names=list(fetch), log_id=0)
    groups = [[row] for row in rows] if per_row else [rows]
    for g in groups:
        inst = r.insts.add()
        t = inst.tensor_array.add(elem_type=elem_type)
        flat = [v for row in g for v in row]
        if elem_type == 1:
            t.float_data.extend(flat)
        else:
            t.int64_data.extend(int(v * 1000) for v in flat)
        t.shape.extend(shape if shape is not None else ([13] if per_row else [len(g), 13]))
    return r.SerializeToString()


def ok09(meta, payload, n=1):
    check(not meta.response.error_code, "brpc error", meta.response.error_code, meta.response.error_text)
    resp = P9.Response.FromString(payload)
    t = resp.outputs[0].tensor[0]
    check(resp.outputs[0].engine_name == "uci" and t.alias_name == "price" and t.elem_type == 1 and
          list(t.shape) == [n, 1], "0.9 answer form", resp)
    check(st.close(list(t.float_data), [PRICE] * n), "0.9 price", list(t.float_data))
    return resp


def ok04(meta, payload, n=1):
    check(not meta.response.error_code, "brpc error", meta.response.error_code, meta.response.error_text)
    resp = P4.Response.FromString(payload)
    t = resp.outputs[0].insts[0].tensor_array[0]
    check(resp.outputs[0].engine_name == "uci" and t.elem_type == 1 and list(t.shape) == [n, 1],
          "0.4 answer form", resp)
    check(st.close(list(t.float_data), [PRICE] * n), "0.4 price", list(t.float_data))
    return resp


def err(meta, code, *needles):
    e = meta.response
    check(e.error_code == code, "error_code", e.error_code, "want", code, e.error_text)
    for n in needles:
        check(n.lower() in e.error_text.lower(), "error text lacks %r" % n, e.error_text)


def uci_server(*flags, models=None):
    return st.Server(models or [st.UCI], *flags, name=None if models else "uci")


# ---- groups ------------------------------------------------------------------------------

def test_generations():
    X = st.DEMO_X
    with uci_server() as srv:
        c = Conn(srv.port)
        ok09(*c.call(req09([X]), corr=11))
        ok09(*c.call(req09([X, X]), corr=12), n=2)
        ok04(*c.call(req04([X]), corr=13))
        ok04(*c.call(req04([X, X, X]), corr=14), n=3)
        # 0.3: one FeedInst per row, each with the sample's shape.
        ok04(*c.call(req04([X, X], per_row=True), corr=15), n=2)
        # debug = inference; empty fetch_var_names = every output.
        ok09(*c.call(req09([X], fetch=()), method="debug", corr=16))
        ok04(*c.call(req04([X], fetch=()), corr=17))
        # HTTP application/proto and brpc: the same tensor, bit for bit.
        hr = requests.post(srv.url + "/GeneralModelService/inference", data=req09([X, X]),
                           headers={"Content-Type": "application/proto"})
        check(hr.status_code == 200, "HTTP proto", hr.status_code)
        ht = P9.Response.FromString(hr.content).outputs[0].tensor[0]
        meta, payload = c.call(req09([X, X]), corr=18)
        bt = P9.Response.FromString(payload).outputs[0].tensor[0]
        check(ht.SerializeToString() == bt.SerializeToString(), "HTTP and brpc tensors differ", ht, bt)
        check(struct.pack("<2f", *ht.float_data) == struct.pack("<2f", *bt.float_data), "bits")
        b4 = P4.Response.FromString(c.call(req04([X, X]), corr=19)[1]).outputs[0].insts[0].tensor_array[0]
        check(struct.pack("<2f", *b4.float_data) == struct.pack("<2f", *ht.float_data), "0.4 bits")
        c.close()
        check(srv.stop() == 0, "exit code")


def test_stream():
    X = st.DEMO_X
    two = os.path.join(st.MODELS, "two")
    with uci_server() as srv:
        c = Conn(srv.port)
        # Pipelined: every frame sent before any answer is read.
        n = 40
        data = b"".join(frame(req09([X] * (1 + k % 3)) if k % 2 else req04([X] * (1 + k % 3)),
                              corr=1000 + k) for k in range(n))
        c.send(data)
        seen = {}
        for _ in range(n):
            meta, payload = c.read()
            k = meta.correlation_id - 1000
            check(0 <= k < n and k not in seen, "correlation_id", meta.correlation_id)
            seen[k] = True
            (ok04 if k % 2 == 0 else ok09)(meta, payload, n=1 + k % 3)
        check(len(seen) == n, "every pipelined call answered", len(seen))
        # gzip request -> gzip answer.
        meta, payload = c.call(req09([X]), corr=7, compress=2)
        check(meta.compress_type == 2, "gzip answer", meta)
        ok09(meta, payload)
        meta, payload = c.call(req04([X]), corr=8, compress=2)
        ok04(meta, payload)
        # An attachment is carried and ignored.
        ok09(*c.call(req09([X]), corr=9, attachment=b"extra bytes"))
        # Two connections at once, interleaved.
        c2 = Conn(srv.port)
        c2.send(frame(req09([X]), corr=1))
        c.send(frame(req04([X]), corr=2))
        ok09(*c2.read())
        ok04(*c.read())
        c2.close()
        c.close()
        check(srv.stop() == 0, "exit code")
    # Several models: the first by default, others by service suffix or user_fields.
    with st.Server([st.UCI + ":uci", two]) as srv:
        c = Conn(srv.port)
        ok09(*c.call(req09([X])))
        ok09(*c.call(req09([X]), service=SERVICE + "/uci"))
        ok09(*c.call(req09([X]), model="uci"))
        r2 = P9.Request()
        for nm in ("a", "b"):
            r2.tensor.add(name=nm, alias_name=nm, elem_type=1, shape=[1, 3]).float_data.extend([1, 2, 3])
        for kw in ({"service": SERVICE + "/two"}, {"model": "two"}):
            meta, payload = c.call(r2.SerializeToString(), **kw)
            check(meta.response.error_code == 0 and
                  P9.Response.FromString(payload).outputs[0].engine_name == "two", "the second model", kw, meta)
        # The service suffix wins over user_fields.
        meta, payload = c.call(r2.SerializeToString(), service=SERVICE + "/two", model="uci")
        check(meta.response.error_code == 0, "suffix wins", meta)
        err(c.call(req09([X]), service=SERVICE + "/nope")[0], 404, "Not found model", "nope")
        err(c.call(req09([X]), model="nope")[0], 404, "nope")
        ok09(*c.call(req09([X])))
        c.close()
        check(srv.stop() == 0, "exit code")


def test_errors():
    X = st.DEMO_X
    with uci_server("--max_body_size", "1048576") as srv:
        c = Conn(srv.port)
        err(c.call(req09([X]), service="Foo.Bar", corr=5)[0], 404, "Not found service: Foo.Bar")
        err(c.call(req09([X]), method="predict")[0], 404, "method", "predict")
        ok09(*c.call(req09([X])))
        # Shape mismatch: the input, expected and got.
        meta, _ = c.call(req09([X[:12]], shape=[1, 12]), corr=6)
        check(meta.correlation_id == 6, "error keeps the correlation_id", meta)
        err(meta, -5100, "input 'x'", "13", "12")
        meta, _ = c.call(req04([X[:12]], shape=[1, 12]))
        err(meta, -5100, "input 'x'", "13", "12")
        # Wrong elem_type: int64 data for a float input; an elem_type 0.4 has no field for.
        meta, _ = c.call(req09([X], elem_type=0))
        err(meta, -5100, "input 'x'", "float32", "int64")
        meta, _ = c.call(req04([X], elem_type=0))
        err(meta, -5100, "input 'x'", "float32", "int64")
        bad = P4.Request(log_id=0)
        bad.insts.add().tensor_array.add(elem_type=7, shape=[1, 13]).float_data.extend(X)
        err(c.call(bad.SerializeToString())[0], -5100, "input 'x'", "elem_type 7")
        # A FeedInst with the wrong number of tensors.
        bad = P4.Request(log_id=0)
        inst = bad.insts.add()
        for _ in range(2):
            inst.tensor_array.add(elem_type=1, shape=[1, 13]).float_data.extend(X)
        err(c.call(bad.SerializeToString())[0], -5100, "2 tensors", "x")
        # A payload that is no Request; unknown fetch name.
        err(c.call(b"\xff\xff\xff garbage")[0], -5100, "not a Paddle")
        err(c.call(req09([X], fetch=("nope",)))[0], -5100, "nope")
        # compress_type 1 (snappy) is not served; a broken gzip payload.
        err(c.call(req09([X]), compress=1)[0], -5000, "compress_type 1")
        raw = frame(req09([X]))
        m = M.RpcMeta(correlation_id=3, compress_type=2)
        m.request.service_name = SERVICE
        m.request.method_name = "inference"
        mb = m.SerializeToString()
        body = mb + b"\x1f\x8b\x08\x00broken"
        c.send(b"PRPC" + struct.pack(">II", len(body), len(mb)) + body)
        err(c.read()[0], -5100, "gzip")
        # A gzip bomb: inflates past --max_body_size, refused, the connection goes on.
        bomb = frame(b"\x00" * (8 << 20), compress=2)
        check(len(bomb) < 64 << 10, "bomb is small", len(bomb))
        c.send(bomb)
        err(c.read()[0], -5100, "inflates past")
        # The connection still serves.
        ok09(*c.call(req09([X]), corr=99))
        ok04(*c.call(req04([X])))
        c.close()
        check(srv.stop() == 0, "exit code")


def test_framing():
    X = st.DEMO_X
    with uci_server("--max_body_size", "65536", "--request_timeout_s", "3", "--idle_timeout_s", "30") as srv:
        keep = Conn(srv.port)
        ok09(*keep.call(req09([X])))
        # Oversized: an error answer with the correlation_id, then close.
        c = Conn(srv.port)
        big = req09([X] * 2000)
        check(len(big) > 65536, "big body")
        c.send(frame(big, corr=77)[:4096])
        meta, _ = c.read()
        check(meta.correlation_id == 77, "oversize correlation_id", meta)
        err(meta, -5100, "max_body_size")
        check(c.closed(), "closed after the oversized body")
        ok09(*keep.call(req09([X])))
        # meta_size > body_size; garbage; garbage after a good frame: closed.
        for bad in (b"PRPC" + struct.pack(">II", 8, 20) + b"\x00" * 8,
                    b"GARBAGE!" * 4,
                    b"PRPC" + struct.pack(">II", 10, 10) + b"\xff" * 10,
                    frame(req09([X])) + b"PRPZ\x00\x00"):
            c = Conn(srv.port)
            c.send(bad)
            if bad.startswith(frame(req09([X]))[:12]):
                ok09(*c.read())
            check(c.closed(), "broken frame closes the connection", bad[:16])
            ok09(*keep.call(req09([X])))
        # A truncated frame: closed after --request_timeout_s.
        c = Conn(srv.port)
        c.send(frame(req09([X]))[:30])
        t0 = time.time()
        check(c.closed(wait=10), "truncated frame closed")
        check(time.time() - t0 > 1.5, "closed by the request timer", time.time() - t0)
        # A frame whose declared body the client never sends in full, then half-closes.
        c = Conn(srv.port)
        c.send(frame(req09([X]))[:40])
        c.s.shutdown(socket.SHUT_WR)
        check(c.closed(), "half-closed mid-frame")
        # Half-close after whole frames: still answered.
        c = Conn(srv.port)
        c.send(frame(req09([X]), corr=1) + frame(req04([X]), corr=2))
        c.s.shutdown(socket.SHUT_WR)
        ok09(*c.read())
        ok04(*c.read())
        check(c.closed(), "closed after the answers")
        ok09(*keep.call(req09([X])))
        keep.close()
        check(srv.stop() == 0, "exit code")


def test_deadline():
    slow = os.path.join(st.MODELS, "slow")
    with st.Server([slow], "--instances", "1", "--batch_infer_size", "1", "--grace_s", "30") as srv:
        c = Conn(srv.port, timeout=60)

        def slow_req(rows):
            r = P9.Request()
            r.tensor.add(name="x", alias_name="x", elem_type=1, shape=[rows, 1]).float_data.extend([0.001] * rows)
            return r.SerializeToString()

        meta, payload = c.call(slow_req(6))
        check(meta.response.error_code == 0, "slow model answers", meta)
        t0 = time.time()
        meta, payload = c.call(slow_req(6))
        one = max(time.time() - t0, 1e-3)
        rows = max(6, min(48, int(6 * 0.5 / one)))
        # A deadline of 1 ms cannot be met by a queued call behind a long one.
        busy = Conn(srv.port, timeout=60)
        busy.send(frame(slow_req(rows), corr=1))
        time.sleep(0.05)
        meta, _ = c.call(slow_req(rows), corr=2, timeout_ms=1)
        check(meta.correlation_id == 2 and meta.response.error_code != 0 and
              "deadline" in meta.response.error_text.lower(), "timeout_ms", meta)
        check(busy.read()[0].response.error_code == 0, "the long call answers")
        # Drain: SIGTERM with a call in flight: answered, then exit 0.
        busy.send(frame(slow_req(rows), corr=5))
        time.sleep(0.1)
        srv.proc.send_signal(signal.SIGTERM)
        meta, payload = busy.read()
        check(meta.correlation_id == 5 and meta.response.error_code == 0, "in-flight call answered in drain", meta)
        check(P9.Response.FromString(payload).outputs[0].tensor[0].shape[0] == rows, "drain answer rows")
        srv.proc.wait(30)
        check(srv.proc.returncode == 0, "exit 0 after drain", srv.proc.returncode, srv.logs()[-2000:])
    # Metrics carry the protocol label.
    with uci_server() as srv:
        c = Conn(srv.port)
        ok09(*c.call(req09([st.DEMO_X])))
        err(c.call(req09([st.DEMO_X]), method="nope")[0], 404)
        mt = requests.get(srv.url + "/metrics").text
        check(st.metric(mt, "skiff_rpc_responses_total", protocol="baidu_std", result="ok") == 1, "ok metric", mt[-800:])
        check(st.metric(mt, "skiff_rpc_responses_total", protocol="baidu_std", result="error") == 1, "error metric")
        c.close()
        check(srv.stop() == 0, "exit code")


GROUPS = {
    "generations": test_generations,
    "stream": test_stream,
    "errors": test_errors,
    "framing": test_framing,
    "deadline": test_deadline,
}


def main():
    global M, P9, P4
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", required=True)
    ap.add_argument("groups", nargs="*")
    args = ap.parse_args()
    st.SKIFF = os.path.abspath(args.skiff)
    M, P9, P4 = gen_protos()
    failed = 0
    for g in args.groups or list(GROUPS):
        t0 = time.time()
        try:
            GROUPS[g]()
            print("PASS rpc %s (%.1fs)" % (g, time.time() - t0))
        except Exception as e:
            failed += 1
            print("FAIL rpc %s: %s" % (g, e))
            import traceback
            traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
