#!/usr/bin/env python3
"""gRPC against a real `skiff serve` (docs/grpc.md).

The clients are python3-grpcio channels; the message classes come from
grpc_tools.protoc at test time, from .proto text written below (the KServe v2
messages from the spec, grpc.health.v1, Paddle 0.9's Request/Response), so
nothing is shared with skiff's C. Raw HTTP/2 cases (wrong content-type, no
te: trailers, broken length prefixes) go through nghttp2-client's `nghttp`.

Groups (run one with `grpc_tests.py --skiff BIN GROUP`):
  methods   every GRPCInferenceService method, Health/Check, GeneralModelService/inference
  infer     typed and raw contents; bit-identical to HTTP KServe and brpc
  errors    status codes: INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED, RESOURCE_EXHAUSTED
  robust    bad inputs (HTTP/2 level and message level), each answered, next call served
  gzip      compressed requests and answers, a gzip bomb
  deadline  grpc-timeout (DEADLINE_EXCEEDED), GOAWAY and UNAVAILABLE while draining
  load      64 concurrent streams over 4 channels; HTTP/1.1 + brpc + gRPC at once
"""
import argparse
import gzip
import os
import shutil
import signal
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
import serve_tests as st  # noqa: E402
import rpc_tests as rt  # noqa: E402

import grpc  # noqa: E402

PRICE = 22.989538
KS = "/inference.GRPCInferenceService/"

KSERVE_PROTO = """
syntax = "proto3";
package inference;
message ServerLiveRequest {}
message ServerLiveResponse { bool live = 1; }
message ServerReadyRequest {}
message ServerReadyResponse { bool ready = 1; }
message ModelReadyRequest { string name = 1; string version = 2; }
message ModelReadyResponse { bool ready = 1; }
message ServerMetadataRequest {}
message ServerMetadataResponse { string name = 1; string version = 2; repeated string extensions = 3; }
message ModelMetadataRequest { string name = 1; string version = 2; }
message ModelMetadataResponse {
  message TensorMetadata { string name = 1; string datatype = 2; repeated int64 shape = 3; }
  string name = 1; repeated string versions = 2; string platform = 3;
  repeated TensorMetadata inputs = 4; repeated TensorMetadata outputs = 5; }
message InferParameter { oneof parameter_choice { bool bool_param = 1; int64 int64_param = 2;
  string string_param = 3; double double_param = 4; uint64 uint64_param = 5; } }
message InferTensorContents { repeated bool bool_contents = 1; repeated int32 int_contents = 2;
  repeated int64 int64_contents = 3; repeated uint32 uint_contents = 4; repeated uint64 uint64_contents = 5;
  repeated float fp32_contents = 6; repeated double fp64_contents = 7; repeated bytes bytes_contents = 8; }
message ModelInferRequest {
  message InferInputTensor { string name = 1; string datatype = 2; repeated int64 shape = 3;
    map<string, InferParameter> parameters = 4; InferTensorContents contents = 5; }
  message InferRequestedOutputTensor { string name = 1; map<string, InferParameter> parameters = 2; }
  string model_name = 1; string model_version = 2; string id = 3; map<string, InferParameter> parameters = 4;
  repeated InferInputTensor inputs = 5; repeated InferRequestedOutputTensor outputs = 6;
  repeated bytes raw_input_contents = 7; }
message ModelInferResponse {
  message InferOutputTensor { string name = 1; string datatype = 2; repeated int64 shape = 3;
    map<string, InferParameter> parameters = 4; InferTensorContents contents = 5; }
  string model_name = 1; string model_version = 2; string id = 3; map<string, InferParameter> parameters = 4;
  repeated InferOutputTensor outputs = 5; repeated bytes raw_output_contents = 6; }
message ModelConfigRequest { string name = 1; string version = 2; }
message ModelInput { string name = 1; int32 data_type = 2; repeated int64 dims = 4; }
message ModelOutput { string name = 1; int32 data_type = 2; repeated int64 dims = 3; }
message ModelConfig { string name = 1; string platform = 2; int32 max_batch_size = 4;
  repeated ModelInput input = 5; repeated ModelOutput output = 6; string backend = 17; }
message ModelConfigResponse { ModelConfig config = 1; }
message ModelStatisticsRequest { string name = 1; string version = 2; }
message StatisticDuration { uint64 count = 1; uint64 ns = 2; }
message InferStatistics { StatisticDuration success = 1; StatisticDuration fail = 2; StatisticDuration queue = 3;
  StatisticDuration compute_input = 4; StatisticDuration compute_infer = 5; StatisticDuration compute_output = 6; }
message ModelStatistics { string name = 1; string version = 2; uint64 last_inference = 3;
  uint64 inference_count = 4; uint64 execution_count = 5; InferStatistics inference_stats = 6; }
message ModelStatisticsResponse { repeated ModelStatistics model_stats = 1; }
"""

HEALTH_PROTO = """
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1; }
"""

K = H = None
check = st.check


def gen_protos():
    d = tempfile.mkdtemp(prefix="skiff-grpc-pb-")
    for name, text in (("tkserve", KSERVE_PROTO), ("thealth", HEALTH_PROTO)):
        with open(os.path.join(d, name + ".proto"), "w") as f:
            f.write(text)
    r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", d, "--python_out", d,
                        "tkserve.proto", "thealth.proto"], capture_output=True, text=True, cwd=d)
    check(r.returncode == 0, "protoc", r.stderr)
    sys.path.insert(0, d)
    import thealth_pb2
    import tkserve_pb2
    return tkserve_pb2, thealth_pb2


def call(ch, path, req, resp_cls, **kw):
    f = ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                       response_deserializer=resp_cls.FromString)
    return f(req, **kw)


def expect(code, fn, *needles):
    try:
        r = fn()
    except grpc.RpcError as e:
        check(e.code() == code, "status", e.code(), "want", code, e.details())
        for n in needles:
            check(n.lower() in (e.details() or "").lower(), "message lacks %r" % n, e.details())
        return e
    raise AssertionError("expected %s, got an answer: %r" % (code, r))


def infer_req(rows, raw=False, dtype="FP32", name="x", shape=None, model="uci_housing_model", outputs=()):
    r = K.ModelInferRequest(model_name=model, id="req-1")
    flat = [v for row in rows for v in row]
    t = r.inputs.add(name=name, datatype=dtype, shape=shape if shape is not None else [len(rows), 13])
    if raw:
        r.raw_input_contents.append(np.asarray(flat, dtype=np.float32).tobytes())
    else:
        t.contents.fp32_contents.extend(flat)
    for o in outputs:
        r.outputs.add(name=o)
    return r


def infer(ch, req, **kw):
    return call(ch, KS + "ModelInfer", req, K.ModelInferResponse, **kw)


def price_of(resp):
    o = resp.outputs[0]
    check(o.name == "price" and o.datatype == "FP32", "output form", resp)
    if resp.raw_output_contents:
        return np.frombuffer(resp.raw_output_contents[0], dtype=np.float32), list(o.shape)
    return np.asarray(o.contents.fp32_contents, dtype=np.float32), list(o.shape)


def uci():
    return st.Server([st.UCI])


def channel(srv, **opts):
    return grpc.insecure_channel("127.0.0.1:%d" % srv.port, options=list(opts.items()))


# ---- groups -------------------------------------------------------------------------------------

def test_methods():
    with uci() as srv:
        ch = channel(srv)
        check(call(ch, KS + "ServerLive", K.ServerLiveRequest(), K.ServerLiveResponse).live, "live")
        check(call(ch, KS + "ServerReady", K.ServerReadyRequest(), K.ServerReadyResponse).ready, "ready")
        check(call(ch, KS + "ModelReady", K.ModelReadyRequest(name="uci_housing_model"), K.ModelReadyResponse).ready,
              "model ready")
        md = call(ch, KS + "ServerMetadata", K.ServerMetadataRequest(), K.ServerMetadataResponse)
        check(md.name == "skiff" and md.version and "binary_tensor_data" in md.extensions, "server metadata", md)
        mm = call(ch, KS + "ModelMetadata", K.ModelMetadataRequest(name="uci_housing_model"), K.ModelMetadataResponse)
        http = requests.get(srv.url + "/v2/models/uci_housing_model").json()
        check(mm.name == http["name"] and list(mm.versions) == http["versions"] and mm.platform == http["platform"],
              "model metadata = REST", mm, http)
        check([(t.name, t.datatype, list(t.shape)) for t in mm.inputs] ==
              [(t["name"], t["datatype"], t["shape"]) for t in http["inputs"]], "inputs = REST", mm, http)
        check([(t.name, t.datatype, list(t.shape)) for t in mm.outputs] ==
              [(t["name"], t["datatype"], t["shape"]) for t in http["outputs"]], "outputs = REST", mm, http)
        cfg = call(ch, KS + "ModelConfig", K.ModelConfigRequest(name="uci_housing_model"), K.ModelConfigResponse)
        hc = requests.get(srv.url + "/v2/models/uci_housing_model/config").json()
        check(cfg.config.name == "uci_housing_model" and cfg.config.max_batch_size == hc["max_batch_size"] and
              [i.name for i in cfg.config.input] == [i["name"] for i in hc["input"]] and
              cfg.config.input[0].data_type == 11 and list(cfg.config.input[0].dims) == hc["input"][0]["dims"],
              "model config = REST", cfg, hc)
        price, shape = price_of(infer(ch, infer_req([st.DEMO_X])))
        check(st.close(list(price), [PRICE]) and shape == [1, 1], "ModelInfer price", price, shape)
        sts = call(ch, KS + "ModelStatistics", K.ModelStatisticsRequest(name="uci_housing_model"),
                   K.ModelStatisticsResponse)
        check(len(sts.model_stats) == 1 and sts.model_stats[0].name == "uci_housing_model" and
              sts.model_stats[0].inference_stats.success.count >= 1, "statistics", sts)
        h = call(ch, "/grpc.health.v1.Health/Check", H.HealthCheckRequest(), H.HealthCheckResponse)
        check(h.status == H.HealthCheckResponse.SERVING, "health ''", h)
        h = call(ch, "/grpc.health.v1.Health/Check", H.HealthCheckRequest(service="uci_housing_model"),
                 H.HealthCheckResponse)
        check(h.status == H.HealthCheckResponse.SERVING, "health model", h)
        expect(grpc.StatusCode.NOT_FOUND,
               lambda: call(ch, "/grpc.health.v1.Health/Check", H.HealthCheckRequest(service="nope"),
                            H.HealthCheckResponse), "nope")
        # Paddle 0.9 GeneralModelService over gRPC: the brpc payload.
        f = ch.unary_unary("/" + rt.SERVICE + "/inference")
        resp = rt.P9.Response.FromString(f(rt.req09([st.DEMO_X])))
        t = resp.outputs[0].tensor[0]
        check(t.alias_name == "price" and st.close(list(t.float_data), [PRICE]), "paddle over gRPC", resp)
        mt = requests.get(srv.url + "/metrics").text
        check(st.metric(mt, "skiff_rpc_responses_total", protocol="grpc", result="ok") >= 10, "grpc metric",
              mt[-1200:])
        check(st.metric(mt, "skiff_rpc_responses_total", protocol="grpc", result="error") == 1, "grpc error metric")
        ch.close()


def test_infer():
    rows = [st.DEMO_X, [v * 0.5 for v in st.DEMO_X], [-v for v in st.DEMO_X]]
    with uci() as srv:
        ch = channel(srv)
        typed = infer(ch, infer_req(rows))
        raw = infer(ch, infer_req(rows, raw=True))
        check(not typed.raw_output_contents and typed.outputs[0].contents.fp32_contents, "typed in, typed out", typed)
        check(len(raw.raw_output_contents) == 1 and not raw.outputs[0].HasField("contents"), "raw in, raw out", raw)
        check(typed.model_name == "uci_housing_model" and typed.id == "req-1", "model_name and id echoed", typed)
        pt, shape = price_of(typed)
        pr, _ = price_of(raw)
        check(shape == [3, 1] and pt.tobytes() == pr.tobytes(), "typed = raw bit for bit", pt, pr)
        check(st.close([float(pt[0])], [PRICE]), "uci price", pt)
        # HTTP KServe (binary output) and brpc give the same bits.
        body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [3, 13], "data": [v for r in rows for v in r]}],
                "outputs": [{"name": "price", "parameters": {"binary_data": True}}]}
        hr = requests.post(srv.url + "/v2/models/uci_housing_model/infer", json=body)
        check(hr.status_code == 200, "http", hr.text[:300])
        hl = int(hr.headers["Inference-Header-Content-Length"])
        check(hr.content[hl:] == pt.tobytes(), "gRPC = HTTP KServe bit for bit", hr.content[hl:], pt.tobytes())
        c = rt.Conn(srv.port)
        meta, payload = c.call(rt.req09(rows))
        bt = np.asarray(rt.P9.Response.FromString(payload).outputs[0].tensor[0].float_data, dtype=np.float32)
        check(bt.tobytes() == pt.tobytes(), "gRPC = brpc bit for bit", bt, pt)
        c.close()
        # Requested outputs by name.
        r = infer(ch, infer_req([st.DEMO_X], outputs=["price"]))
        check(len(r.outputs) == 1 and r.outputs[0].name == "price", "requested output", r)
        ch.close()


def test_errors():
    with st.Server([st.UCI], "--max_body_size", "4096") as srv:
        ch = channel(srv)
        IA = grpc.StatusCode.INVALID_ARGUMENT
        expect(grpc.StatusCode.NOT_FOUND, lambda: infer(ch, infer_req([st.DEMO_X], model="nope")), "nope")
        expect(grpc.StatusCode.NOT_FOUND,
               lambda: call(ch, KS + "ModelMetadata", K.ModelMetadataRequest(name="zz"), K.ModelMetadataResponse),
               "zz")
        expect(grpc.StatusCode.UNIMPLEMENTED, lambda: ch.unary_unary(KS + "Nope")(b""), "nope")
        expect(grpc.StatusCode.UNIMPLEMENTED, lambda: ch.unary_unary("/no.Such/Thing")(b""), "no.such")
        expect(IA, lambda: infer(ch, infer_req([st.DEMO_X[:12]], shape=[1, 12])), "'x'", "13", "12")
        expect(IA, lambda: infer(ch, infer_req([st.DEMO_X], shape=[1, 12])), "'x'", "12 elements", "13")
        r = infer_req([st.DEMO_X])
        r.inputs[0].datatype = "INT64"
        r.inputs[0].contents.Clear()
        r.inputs[0].contents.int64_contents.extend([1] * 13)
        expect(IA, lambda: infer(ch, r), "'x'", "FP32", "INT64")
        r = infer_req([st.DEMO_X])
        r.inputs[0].contents.int64_contents.extend([1])
        expect(IA, lambda: infer(ch, r), "fp32_contents", "int64_contents")
        r = infer_req([st.DEMO_X], raw=True)
        r.raw_input_contents[0] = r.raw_input_contents[0][:-4]
        expect(IA, lambda: infer(ch, r), "'x'", "48", "52")
        expect(IA, lambda: infer(ch, infer_req([st.DEMO_X], name="y")), "'y'")
        expect(IA, lambda: ch.unary_unary(KS + "ModelInfer")(b"\xff\xff\xff"), "ModelInferRequest")
        big = infer_req([st.DEMO_X] * 100)
        expect(grpc.StatusCode.RESOURCE_EXHAUSTED, lambda: infer(ch, big), "max_body_size")
        price, _ = price_of(infer(ch, infer_req([st.DEMO_X])))
        check(st.close(list(price), [PRICE]), "served after the errors", price)
        ch.close()


def nghttp(port, path, data=None, headers=()):
    """(response headers+trailers text, exit code) of one nghttp request."""
    cmd = ["nghttp", "-v", "-n"]
    for h in headers:
        cmd += ["-H", h]
    f = None
    if data is not None:
        f = tempfile.NamedTemporaryFile(delete=False)
        f.write(data)
        f.close()
        cmd += ["-d", f.name]
    cmd.append("http://127.0.0.1:%d%s" % (port, path))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if f:
        os.unlink(f.name)
    return r.stdout + r.stderr


def grpc_status(text):
    for line in text.splitlines():
        if "grpc-status:" in line:
            return int(line.split("grpc-status:")[1].strip())
    return None


def test_robust():
    if not shutil.which("nghttp"):
        print("SKIP robust raw HTTP/2 cases: nghttp (nghttp2-client) not installed")
    with st.Server([st.UCI], "--max_body_size", "65536") as srv:
        ch = channel(srv)
        good = infer_req([st.DEMO_X]).SerializeToString()

        def framed(m, flag=0, length=None):
            return struct.pack(">BI", flag, len(m) if length is None else length) + m

        def still_ok():
            p, _ = price_of(infer(ch, infer_req([st.DEMO_X])))
            check(st.close(list(p), [PRICE]), "next good call served", p)

        G = ["content-type: application/grpc", "te: trailers"]
        P = KS + "ModelInfer"
        cases = [
            ("no te: trailers", P, framed(good), ["content-type: application/grpc"], 3, "te: trailers"),
            ("wrong content-type", P, framed(good), ["content-type: application/json", "te: trailers"], 3,
             "content-type"),
            ("truncated prefix", P, b"\x00\x00\x00", G, 3, "prefix"),
            ("longer than its DATA", P, framed(good, length=len(good) + 10), G, 3, "prefix says"),
            ("two messages", P, framed(good) + framed(good), G, 3, "more than one"),
            ("bad flag", P, framed(good, flag=7), G, 3, "flag"),
            ("compressed, no encoding", P, framed(gzip.compress(good), flag=1), G, 3, "grpc-encoding"),
            ("unknown encoding", P, framed(good, flag=1), G + ["grpc-encoding: snappy"], 12, "snappy"),
            ("oversized message", P, framed(b"\x0a" * 70000), G, 8, "max_body_size"),
            ("oversized prefix only", P, framed(b"", length=1 << 30), G, 8, "max_body_size"),
            ("bad grpc-timeout", P, framed(good), G + ["grpc-timeout: soon"], 3, "grpc-timeout"),
            ("unknown method", KS + "Nope", framed(b""), G, 12, "Nope"),
            ("unknown service", "/x.Y/Z", framed(b""), G, 12, "x.Y"),
            ("not a message", P, framed(b"\x0a\xff\xff\xff\xff\x0f"), G, 3, ""),
            ("gzip bomb", P, framed(gzip.compress(b"\x00" * (8 << 20)), flag=1), G + ["grpc-encoding: gzip"], 8, ""),
        ]
        if shutil.which("nghttp"):
            for what, path, data, hdrs, want, needle in cases:
                out = nghttp(srv.port, path, data, hdrs)
                check(grpc_status(out) == want, what, grpc_status(out), "want", want, out[-1500:])
                check(needle.lower() in out.lower(), what + ": message lacks %r" % needle, out[-1500:])
                still_ok()
        # Message-level cases through grpcio.
        msg_cases = []
        r = infer_req([st.DEMO_X])
        r.inputs[0].datatype = "FP64"
        r.inputs[0].contents.Clear()
        r.inputs[0].contents.fp64_contents.extend(st.DEMO_X)
        msg_cases.append(("wrong datatype", r, "FP32"))
        msg_cases.append(("element count", infer_req([st.DEMO_X], shape=[2, 13]), "26 elements"))
        r = infer_req([st.DEMO_X], raw=True)
        r.raw_input_contents[0] += b"\0\0"
        msg_cases.append(("raw size", r, "'x'"))
        r = infer_req([st.DEMO_X], raw=True)
        r.raw_input_contents.append(b"")
        msg_cases.append(("raw count", r, "raw_input_contents"))
        r = infer_req([st.DEMO_X])
        r.inputs[0].shape[:] = [1, -13]
        msg_cases.append(("negative dim", r, "shape"))
        r = infer_req([st.DEMO_X])
        r.inputs[0].datatype = "FP99"
        msg_cases.append(("unknown datatype", r, "FP99"))
        for what, req, needle in msg_cases:
            expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: infer(ch, req), needle)
            still_ok()
        check(srv.proc.poll() is None, "server alive")
        ch.close()


def test_gzip():
    with uci() as srv:
        ch = channel(srv)
        r = infer(ch, infer_req([st.DEMO_X]), compression=grpc.Compression.Gzip)
        p, _ = price_of(r)
        check(st.close(list(p), [PRICE]), "gzip request answered", p)
        # The answer is gzip-compressed too: read the raw stream with nghttp.
        if shutil.which("nghttp"):
            m = gzip.compress(infer_req([st.DEMO_X]).SerializeToString())
            out = nghttp(srv.port, KS + "ModelInfer", struct.pack(">BI", 1, len(m)) + m,
                         ["content-type: application/grpc", "te: trailers", "grpc-encoding: gzip",
                          "grpc-accept-encoding: gzip"])
            check(grpc_status(out) == 0 and "grpc-encoding: gzip" in out, "gzip answer", out[-1500:])
        ch2 = grpc.insecure_channel("127.0.0.1:%d" % srv.port, compression=grpc.Compression.Gzip)
        p, _ = price_of(infer(ch2, infer_req([st.DEMO_X] * 4, raw=True)))
        check(st.close(list(p), [PRICE] * 4), "gzip channel", p)
        ch.close()
        ch2.close()


def test_deadline():
    slow = os.path.join(st.MODELS, "slow")
    with st.Server([slow], "--instances", "1", "--batch_infer_size", "1", "--grace_s", "30") as srv:
        ch = channel(srv)

        def slow_req(rows):
            r = K.ModelInferRequest(model_name="slow")
            r.inputs.add(name="x", datatype="FP32", shape=[rows, 1]).contents.fp32_contents.extend([0.001] * rows)
            return r

        infer(ch, slow_req(6))
        t0 = time.time()
        infer(ch, slow_req(6))
        one = max(time.time() - t0, 1e-3)
        rows = max(6, min(48, int(6 * 0.5 / one)))
        f = ch.unary_unary(KS + "ModelInfer", request_serializer=lambda m: m.SerializeToString(),
                           response_deserializer=K.ModelInferResponse.FromString)
        fut = f.future(slow_req(rows))
        time.sleep(0.05)
        expect(grpc.StatusCode.DEADLINE_EXCEEDED, lambda: infer(ch, slow_req(rows), timeout=0.01))
        fut.result()
        # Drain with a call in flight: answered; the channel gets the GOAWAY notice and
        # then the final GOAWAY, so a new call needs a new connection and finds the
        # port closed: UNAVAILABLE.
        fut = f.future(slow_req(rows))
        time.sleep(0.1)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        expect(grpc.StatusCode.UNAVAILABLE, lambda: infer(ch, slow_req(1)))
        r = fut.result(timeout=30)
        check(list(r.outputs[0].shape)[0] == rows, "in-flight call answered in drain", r)
        srv.proc.wait(30)
        check(srv.proc.returncode == 0, "exit 0 after drain", srv.proc.returncode, srv.logs()[-2000:])
        ch.close()


def test_load():
    with st.Server([st.UCI], "--instances", "2") as srv:
        chans = [channel(srv) for _ in range(4)]
        f = [c.unary_unary(KS + "ModelInfer", request_serializer=lambda m: m.SerializeToString(),
                           response_deserializer=K.ModelInferResponse.FromString) for c in chans]
        rng = np.random.default_rng(7)
        rows = [list(rng.normal(size=13).astype(np.float32).astype(float)) for _ in range(64)]
        ref = {}
        for i, row in enumerate(rows):
            ref[i] = price_of(infer(chans[0], infer_req([row])))[0].tobytes()
        futs = [f[i % 4].future(infer_req([rows[i]], raw=bool(i % 2))) for i in range(64)]
        for i, fu in enumerate(futs):
            got = price_of(fu.result(timeout=60))[0].tobytes()
            check(got == ref[i], "stream %d answer" % i, got, ref[i])
        # HTTP/1.1 + brpc + gRPC at once on the one port, 16 threads.
        errors = []

        def worker(k):
            try:
                s = requests.Session()
                c = rt.Conn(srv.port) if k % 3 == 1 else None
                for j in range(20):
                    i = (k * 20 + j) % 64
                    if k % 3 == 0:
                        got = price_of(f[k % 4](infer_req([rows[i]])))[0].tobytes()
                    elif k % 3 == 1:
                        meta, payload = c.call(rt.req09([rows[i]]), corr=j + 1)
                        got = np.asarray(rt.P9.Response.FromString(payload).outputs[0].tensor[0].float_data,
                                         dtype=np.float32).tobytes()
                    else:
                        hr = s.post(srv.url + "/v2/models/uci_housing_model/infer",
                                    json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 13],
                                                      "data": rows[i]}]})
                        got = np.asarray(hr.json()["outputs"][0]["data"], dtype=np.float32).tobytes()
                    if got != ref[i]:
                        errors.append("thread %d call %d: %r != %r" % (k, j, got, ref[i]))
                if c:
                    c.close()
            except Exception as e:  # noqa: BLE001
                errors.append("thread %d: %r" % (k, e))

        th = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
        for t in th:
            t.start()
        for t in th:
            t.join(120)
        check(not errors, "mixed protocols", errors[:5])
        for c in chans:
            c.close()


GROUPS = {
    "methods": test_methods,
    "infer": test_infer,
    "errors": test_errors,
    "robust": test_robust,
    "gzip": test_gzip,
    "deadline": test_deadline,
    "load": test_load,
}


def main():
    global K, H
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", required=True)
    ap.add_argument("groups", nargs="*")
    args = ap.parse_args()
    st.SKIFF = os.path.abspath(args.skiff)
    rt.M, rt.P9, rt.P4 = rt.gen_protos()
    K, H = gen_protos()
    failed = 0
    for g in args.groups or list(GROUPS):
        t0 = time.time()
        try:
            GROUPS[g]()
            print("PASS grpc %s (%.1fs)" % (g, time.time() - t0))
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("FAIL grpc %s: %s" % (g, e))
            import traceback
            traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
