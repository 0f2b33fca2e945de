#!/usr/bin/python3
"""Integration tests of `skiff serve`: each group starts real servers on
127.0.0.1 with an ephemeral port and speaks the real protocols with real
clients (python3-requests, curl, raw sockets).

    serve_tests.py --skiff build/skiff GROUP [GROUP ...]     (no GROUP: all)

Groups: endpoints multi bad concurrency overload drain load_metric limits http11 quickstart docs paddle_proto paddle_models. CTest runs each
group as its own test (label "integration"); tests/integration/CMakeLists.txt
lists them. Expected values are computed here from the ONNX weights with
numpy, never by skiff.
"""
import argparse
import concurrent.futures as cf
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import numpy as np
import onnx
import requests
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
UCI = os.path.join(ROOT, "examples", "uci_housing", "uci_housing_model")
MODELS = os.path.join(HERE, "models")
DEMO_X = [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919,
          0.1856, 0.0795, -0.0332]
SKIFF = None


# ---- harness ---------------------------------------------------------------------------

class Server:
    """A `skiff serve` process on 127.0.0.1 and an ephemeral port."""

    def __init__(self, models, *flags, name=None, wait=True, env=None):
        self.tmp = tempfile.mkdtemp(prefix="skiff-it-")
        self.port_file = os.path.join(self.tmp, "port")
        self.log_path = os.path.join(self.tmp, "serve.log")
        cmd = [SKIFF, "serve"] + (["--model", *models] if models else []) + ["--port", "0", "--port_file", self.port_file]
        if name:
            cmd += ["--name", name]
        cmd += list(flags)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **env) if env else None)
        self.port = None
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=60):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise AssertionError("skiff serve exited with %s:\n%s" % (self.proc.returncode, self.logs()))
            try:
                with open(self.port_file) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    self.url = "http://127.0.0.1:%d" % self.port
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise AssertionError("skiff serve did not become ready:\n" + self.logs())

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("skiff serve did not exit within %ss of %s" % (timeout, sig))
        self.log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


def check(cond, what, *detail):
    if not cond:
        raise AssertionError(what + ("" if not detail else ": " + " ".join(str(d) for d in detail)))


def check_error(resp, status, *needles):
    """resp has `status` and a JSON body whose message holds every needle."""
    check(resp.status_code == status, "expected HTTP %d, got %d" % (status, resp.status_code), resp.text[:300])
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError("error body is not JSON: %r" % resp.text[:200])
    msg = body.get("error") or body.get("err_msg") or body.get("result")
    check(isinstance(msg, str) and msg, "error body has no message", resp.text[:200])
    for n in needles:
        check(n.lower() in msg.lower(), "message lacks %r" % n, msg)
    return msg


def uci_weights():
    m = onnx.load(os.path.join(UCI, "model.onnx"))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return init["fc_0.w_0"].astype(np.float64), init["fc_0.b_0"].astype(np.float64)


W, B = uci_weights()


def uci_expect(rows):
    return (np.asarray(rows, dtype=np.float32).astype(np.float64) @ W + B).reshape(-1)


def close(a, b, tol=1e-4):
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    return a.shape == b.shape and np.allclose(a, b, rtol=tol, atol=tol)


def paddle(url, model, rows, session=requests, fetch=("price",), **kw):
    body = {"feed": [{"x": r} for r in rows]}
    if fetch is not None:
        body["fetch"] = list(fetch)
    return session.post("%s/%s/prediction" % (url, model), json=body, **kw)


def good_uci(srv, model="uci"):
    r = paddle(srv.url, model, [DEMO_X])
    check(r.status_code == 200, "good request after an error failed", r.status_code, r.text[:200])
    check(close(r.json()["result"]["price"], uci_expect([DEMO_X])), "good request answer wrong", r.text)


def kserve_binary_body(inputs, outputs=None, binary_output=False):
    """KServe request with every input in the binary section."""
    hdr = {"inputs": [], "outputs": outputs or []}
    if binary_output:
        hdr["parameters"] = {"binary_data_output": True}
    blobs = b""
    for name, arr, dt in inputs:
        raw = np.ascontiguousarray(arr).tobytes()
        hdr["inputs"].append({"name": name, "shape": list(arr.shape), "datatype": dt,
                              "parameters": {"binary_data_size": len(raw)}})
        blobs += raw
    j = json.dumps(hdr).encode()
    return j + blobs, len(j)


def parse_kserve_binary(resp):
    hl = resp.headers.get("Inference-Header-Content-Length")
    body = resp.content
    if hl is None:
        return json.loads(body), {}
    hl = int(hl)
    meta = json.loads(body[:hl])
    off, out = hl, {}
    for o in meta["outputs"]:
        size = o.get("parameters", {}).get("binary_data_size")
        if size is not None:
            dt = {"FP32": np.float32, "INT64": np.int64, "FP64": np.float64, "INT32": np.int32}[o["datatype"]]
            out[o["name"]] = np.frombuffer(body[off:off + size], dtype=dt).reshape(o["shape"])
            off += size
    check(off == len(body), "binary section sizes do not add up", off, len(body))
    return meta, out


def metric(text, name, **labels):
    """Value of one Prometheus sample (0 when absent)."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted(p for p in (m.group(2) or "{}")[1:-1].split(",") if p))
        if got == want:
            return float(m.group(3))
    return 0.0


def raw_exchange(port, data, read_for=2.0, until_close=False):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(read_for)
    s.sendall(data)
    out = b""
    t0 = time.time()
    try:
        while time.time() - t0 < read_for:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if not until_close and out.count(b"HTTP/1.1 ") and b"\r\n\r\n" in out:
                # Keep reading briefly: pipelined answers may follow.
                s.settimeout(0.3)
    except socket.timeout:
        pass
    except ConnectionResetError:  # closed with our bytes unread: a reset
        pass
    s.close()
    return out


# ---- groups ----------------------------------------------------------------------------

def test_endpoints():
    with Server([UCI], "--access_log", name="uci") as srv:
        u = srv.url
        # The seed's request, verbatim, with curl.
        seed = ('{"feed":[{"x": [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, '
                '-0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332]}], "fetch":["price"]}')
        out = subprocess.run(["curl", "-s", "-H", "Content-Type:application/json", "-X", "POST",
                              "-d", seed, u + "/uci/prediction"], capture_output=True, check=True).stdout
        price = json.loads(out)["result"]["price"]
        check(close(price, uci_expect([DEMO_X])), "seed request answer", out)
        check(5 < price[0][0] < 60, "implausible house price", price)

        s = requests.Session()
        # Paddle web: batches as a list of dicts, one dict holding two rows, flat or nested.
        rows = [[random.uniform(-0.5, 0.5) for _ in range(13)] for _ in range(5)]
        r = paddle(u, "uci", rows, s)
        check(r.status_code == 200 and close(r.json()["result"]["price"], uci_expect(rows)), "batch of 5", r.text)
        r = s.post(u + "/uci/prediction", json={"feed": [{"x": rows[0] + rows[1]}], "fetch": ["price"]})
        check(close(r.json()["result"]["price"], uci_expect(rows[:2])), "flat 2 rows in one dict", r.text)
        r = s.post(u + "/uci/prediction", json={"feed": [{"x": [rows[2], rows[3]]}]})
        check(close(r.json()["result"]["price"], uci_expect(rows[2:4])), "nested rows, fetch omitted", r.text)
        check(list(r.json()["result"].keys()) == ["price"], "fetch omitted = all outputs", r.text)
        r = s.post(u + "/uci/prediction", json={"feed": {"x": rows[4]}})
        check(r.status_code == 200 and close(r.json()["result"]["price"], uci_expect(rows[4:])), "feed as one dict", r.text)

        # Paddle Serving 0.9 HTTP.
        req = {"tensor": [{"float_data": DEMO_X + rows[0], "elem_type": 1, "name": "x", "alias_name": "x",
                           "shape": [2, 13]}], "fetch_var_names": ["price"], "log_id": 42}
        r = s.post(u + "/GeneralModelService/inference", json=req)
        check(r.status_code == 200, "paddle 0.9", r.status_code, r.text)
        t = r.json()["outputs"][0]["tensor"][0]
        check(t["alias_name"] == "price" and t["name"] == "fc_0.tmp_1" and t["shape"] == [2, 1]
              and t["elem_type"] == 1, "paddle 0.9 tensor fields", t)
        check(close(t["float_data"], uci_expect([DEMO_X, rows[0]])), "paddle 0.9 values", t)
        check(r.json().get("log_id") == 42, "log_id echoed", r.text)
        check(r.json()["outputs"][0].get("engine_name"), "engine_name", r.text)

        # KServe v2 metadata and health.
        r = s.get(u + "/v2")
        check(r.status_code == 200 and r.json()["name"] == "skiff" and "binary_tensor_data" in r.json()["extensions"], "/v2", r.text)
        check(s.get(u + "/v2/health/live").status_code == 200, "live")
        check(s.get(u + "/v2/health/ready").status_code == 200, "ready")
        for path in ("/v2/models/uci", "/v2/models/uci/versions/1"):
            m = s.get(u + path).json()
            check(m["name"] == "uci" and m["versions"] == ["1"], "model metadata", m)
            check(m["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 13]}], "inputs", m)
            check(m["outputs"] == [{"name": "price", "datatype": "FP32", "shape": [-1, 1]}], "outputs", m)
        check(s.get(u + "/v2/models/uci/ready").status_code == 200, "model ready")
        check(s.get(u + "/v2/models/uci/versions/1/ready").status_code == 200, "model version ready")
        c = s.get(u + "/v2/models/uci/config").json()
        check(c["max_batch_size"] == 32 and c["input"][0]["dims"] == [13] and c["input"][0]["data_type"] == "TYPE_FP32"
              and "dynamic_batching" in c, "config", c)

        # KServe infer: JSON nested / flat, id echo, outputs filter.
        body = {"id": "req-1", "inputs": [{"name": "x", "shape": [2, 13], "datatype": "FP32", "data": [DEMO_X, rows[1]]}],
                "outputs": [{"name": "price"}]}
        r = s.post(u + "/v2/models/uci/infer", json=body)
        j = r.json()
        check(r.status_code == 200 and j["id"] == "req-1" and j["model_name"] == "uci", "kserve json", r.text)
        o = j["outputs"][0]
        check(o["name"] == "price" and o["datatype"] == "FP32" and o["shape"] == [2, 1], "kserve output", o)
        check(close(o["data"], uci_expect([DEMO_X, rows[1]])), "kserve values", o)
        body["inputs"][0]["data"] = DEMO_X + rows[1]
        r = s.post(u + "/v2/models/uci/versions/1/infer", json=body)
        check(close(r.json()["outputs"][0]["data"], uci_expect([DEMO_X, rows[1]])), "kserve flat data", r.text)

        # KServe binary tensor extension, both ways.
        x = np.array([DEMO_X, rows[2], rows[3]], dtype=np.float32)
        data, hl = kserve_binary_body([("x", x, "FP32")], binary_output=True)
        r = s.post(u + "/v2/models/uci/infer", data=data,
                   headers={"Inference-Header-Content-Length": str(hl), "Content-Type": "application/octet-stream"})
        check(r.status_code == 200, "kserve binary", r.status_code, r.text[:200])
        meta, outs = parse_kserve_binary(r)
        check("price" in outs and close(outs["price"], uci_expect(x)), "binary round trip", meta)
        check(meta["outputs"][0]["parameters"]["binary_data_size"] == 12, "binary_data_size", meta)
        data, hl = kserve_binary_body([("x", x, "FP32")], outputs=[{"name": "price", "parameters": {"binary_data": False}}])
        r = s.post(u + "/v2/models/uci/infer", data=data, headers={"Inference-Header-Content-Length": str(hl)})
        check(r.status_code == 200 and "Inference-Header-Content-Length" not in r.headers, "binary in, JSON out", r.text[:200])
        check(close(r.json()["outputs"][0]["data"], uci_expect(x)), "binary in, JSON out values", r.text)
        data, hl = kserve_binary_body([("x", x, "FP32")], outputs=[{"name": "price", "parameters": {"binary_data": True}}])
        r = s.post(u + "/v2/models/uci/infer", data=data, headers={"Inference-Header-Content-Length": str(hl)})
        meta, outs = parse_kserve_binary(r)
        check(close(outs["price"], uci_expect(x)), "per-output binary_data", meta)

        # Stats and metrics reflect the traffic.
        st = s.get(u + "/v2/models/uci/stats").json()["model_stats"][0]
        check(st["name"] == "uci" and st["inference_count"] >= 20 and st["inference_stats"]["success"]["count"] >= 10,
              "stats", st)
        check(s.get(u + "/v2/models/stats").json()["model_stats"][0]["name"] == "uci", "all stats")
        r = s.get(u + "/metrics")
        check(r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain"), "metrics", r.headers)
        mt = r.text
        for name in ("pd_query_request_success_total", "pd_inference_count_total", "pd_query_request_duration_us_total",
                     "pd_inference_duration_us_total", "pd_query_request_failure_total", "skiff_inference_count_total"):
            check(("%s{model=\"uci\"}" % name) in mt, "metric missing", name)
        check(metric(mt, "pd_query_request_success_total", model="uci") >= 10, "success counter")
        check(metric(mt, "skiff_request_duration_seconds_bucket", model="uci", le="+Inf") >= 10, "latency histogram")
        check(metric(mt, "skiff_batch_size_count", model="uci") >= 10, "batch histogram")
        check("skiff_queue_duration_seconds_bucket" in mt and "skiff_compute_duration_seconds_sum" in mt, "histograms")
        check(metric(mt, "skiff_inflight_requests") >= 1, "in-flight gauge counts the scrape")
        check(metric(mt, "skiff_requests_total", model="uci", outcome="success") >= 10, "outcome counter")

        # Root, 404, 405, HEAD.
        root = s.get(u + "/").json()
        check(root["models"] == ["uci"] and any("prediction" in e for e in root["endpoints"]), "root", root)
        check_error(s.get(u + "/nothing/here"), 404, "no endpoint")
        check_error(s.get(u + "/uci/prediction"), 405, "not allowed", "POST")
        check(s.head(u + "/v2").status_code == 200, "HEAD")

        # Keep-alive and pipelining on one raw connection: three answers in order.
        one = ("GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n"
               "POST /uci/prediction HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
               "GET /v2/models/uci/ready HTTP/1.1\r\nHost: t\r\n\r\n") % (len(seed), seed)
        out = raw_exchange(srv.port, one.encode())
        check(out.count(b"HTTP/1.1 200") == 3 and b'"price"' in out, "pipelined answers", out[:300])

        code = srv.stop()
        check(code == 0, "exit code after SIGTERM", code)
        logs = srv.logs()
        check(re.search(r'access 127\.0\.0\.1 "POST /uci/prediction" 200', logs), "access log line", logs[-500:])
        check(re.search(r"log_id=\d+ 127\.0\.0\.1 GET /nothing/here -> 404", logs), "error log line with log_id")
        check("model 'uci'" in logs and "input  x" in logs and "output price" in logs, "startup summary", logs[:1500])


def test_multi():
    tmp = tempfile.mkdtemp(prefix="skiff-conv-")
    conv_server, conv_client = os.path.join(tmp, "twoconv"), os.path.join(tmp, "twoconv_client")
    out = subprocess.run([SKIFF, "convert", "--dirname", os.path.join(MODELS, "two"), "--serving_server", conv_server,
                          "--serving_client", conv_client, "--feed_alias_names", "a1,b1", "--fetch_alias_names", "s1,p1"],
                         capture_output=True, text=True)
    check(out.returncode == 0, "skiff convert", out.stderr)
    for f in ("model.onnx", "serving_server_conf.prototxt", "serving_server_conf.stream.prototxt"):
        check(os.path.exists(os.path.join(conv_server, f)), "convert wrote", f)
    conf = open(os.path.join(conv_client, "serving_client_conf.prototxt")).read()
    check('alias_name: "a1"' in conf and 'alias_name: "p1"' in conf and "shape: 3" in conf, "client conf", conf)
    bad = subprocess.run([SKIFF, "convert", "--dirname", "/nonexistent"], capture_output=True, text=True)
    check(bad.returncode != 0 and "nonexistent" in bad.stderr, "convert error", bad.stderr)
    bad = subprocess.run([SKIFF, "serve", "--model", UCI, "--batch_sizes", "8,4"], capture_output=True, text=True)
    check(bad.returncode != 0 and "--batch_sizes '8,4'" in bad.stderr and "ascending" in bad.stderr,
          "serve refuses a bad --batch_sizes", bad.stderr)
    # Warm-up batch sizes run at startup, are logged, and change no answer.
    with Server([UCI], "--warmup_batches", "1,2,4", "--instances", "2", name="uci") as srv:
        good_uci(srv)
        check("warmed 2 more batch sizes on 2 instances" in srv.logs(), "warm-up logged", srv.logs())
        check(srv.stop() == 0, "exit code")
    # --warmup_shapes: first-input shapes, for every model or NAME:SHAPE for one
    with Server([UCI], "--warmup_shapes", "3x13,uci:5x13,other:7x13", name="uci") as srv:
        good_uci(srv)
        check("model uci: warmed 2 of 2 input shapes on " in srv.logs(), "shapes warmed",
              srv.logs())
    for spec, needle in (("4xx13", "item '4xx13'"), ("0x13", "item '0x13'"), (":4x13", "item ':4x13'")):
        bad = subprocess.run([SKIFF, "serve", "--model", UCI, "--warmup_shapes", spec], capture_output=True,
                             text=True)
        check(bad.returncode != 0 and "--warmup_shapes" in bad.stderr and needle in bad.stderr,
              "serve refuses --warmup_shapes " + spec, bad.stderr)
    bad = subprocess.run([SKIFF, "serve", "--model", UCI, "--warmup_shapes", "4x12"], capture_output=True, text=True)
    check(bad.returncode != 0 and "warmup_shapes item 0" in bad.stderr and "fixed at 13, got 12" in bad.stderr,
          "serve refuses a warm-up shape the model cannot take", bad.stderr)
    # --precision per model: where the CPU lacks AVX512-BF16 (ONEDNN_MAX_CPU_ISA
    # caps it here) bf16 falls back to fp32 with one warning, and the metadata
    # tells the precision in use.
    bad = subprocess.run([SKIFF, "serve", "--model", UCI, "--precision", "two=fp64"], capture_output=True, text=True)
    check(bad.returncode != 0 and "--precision: entry 'two=fp64'" in bad.stderr, "serve refuses a bad --precision",
          bad.stderr)
    with Server([UCI, conv_server], "--precision", "twoconv=bf16", env={"ONEDNN_MAX_CPU_ISA": "AVX2"}) as srv:
        logs = srv.logs()
        check(logs.count("precision bf16 requested, running fp32") == 1 and "AVX512-BF16" in logs,
              "bf16 fallback warned once", logs)
        check("model 'twoconv' from" in logs and ", precision fp32" in logs, "precision in the start log", logs)
        for m in ("twoconv", "uci_housing_model"):
            meta = requests.get(srv.url + "/v2/models/" + m).json()
            check(meta.get("parameters", {}).get("precision") == "fp32", "metadata precision", m, meta)
        cfg = requests.get(srv.url + "/v2/models/twoconv/config").json()
        check(cfg["parameters"]["precision"]["string_value"] == "fp32", "config precision", cfg)
        r = requests.post(srv.url + "/twoconv/prediction", json={"feed": [{"a1": [1, 2, 3], "b1": [1, 1, 1]}], "fetch": ["s1"]})
        check(r.status_code == 200 and close(r.json()["result"]["s1"], [2, 3, 4]), "served after fallback", r.text)
        check(srv.stop() == 0, "exit code")
    # A model whose weights live in an external data file: the file comes along.
    ext_server = os.path.join(tmp, "extconv")
    out = subprocess.run([SKIFF, "convert", "--dirname", os.path.join(ROOT, "tests", "data", "external.onnx"),
                          "--serving_server", ext_server, "--serving_client", os.path.join(tmp, "extconv_client")],
                         capture_output=True, text=True)
    check(out.returncode == 0 and os.path.exists(os.path.join(ext_server, "external.bin")),
          "convert copies external data", out.stdout, out.stderr)
    w_ext = np.load(os.path.join(ROOT, "tests", "data", "external_w.npy"))

    models = [UCI, os.path.join(MODELS, "two"), os.path.join(MODELS, "seq"), conv_server, ext_server]
    with Server(models) as srv:
        u, s = srv.url, requests.Session()
        root = s.get(u + "/").json()
        check(root["models"] == ["uci_housing_model", "two", "seq", "twoconv", "extconv"], "models by dir name", root)
        xe = [[1, 2, 3, 4]]
        r = s.post(u + "/extconv/prediction", json={"feed": [{"x": xe[0]}]})
        check(r.status_code == 200 and close(r.json()["result"]["y"], np.array(xe, dtype=np.float32) @ w_ext),
              "converted model with external data", r.text)
        a, b = [[1, 2, 3], [4, 5, 6]], [[0.5, 0.5, 0.5], [2, 2, 2]]
        r = s.post(u + "/two/prediction", json={"feed": [{"a": a[0], "b": b[0]}, {"a": a[1], "b": b[1]}], "fetch": ["s", "p"]})
        res = r.json()["result"]
        check(close(res["s"], np.add(a, b)) and close(res["p"], np.multiply(a, b)), "two outputs", r.text)
        r = s.post(u + "/two/prediction", json={"feed": [{"a": a[0], "b": b[0]}], "fetch": ["p"]})
        check(list(r.json()["result"]) == ["p"], "fetch subset", r.text)
        r = s.post(u + "/twoconv/prediction", json={"feed": [{"a1": a[0], "b1": b[0]}], "fetch": ["s1"]})
        check(r.status_code == 200 and close(r.json()["result"]["s1"], np.add(a[0], b[0])), "converted aliases", r.text)
        r = s.post(u + "/uci_housing_model/prediction", json={"feed": [{"x": DEMO_X}], "fetch": ["price"]})
        check(close(r.json()["result"]["price"], uci_expect([DEMO_X])), "uci by dir name", r.text)

        # LoD: one sequence per dict, or offsets given with "alias.lod".
        r = s.post(u + "/seq/prediction", json={"feed": [{"words": [1, 2, 3]}, {"words": [4, 5]}], "fetch": ["emb"]})
        res = r.json()["result"]
        check(r.status_code == 200 and close(res["emb"], [2, 4, 6, 8, 10]) and res["emb.lod"] == [0, 3, 5], "lod feed", r.text)
        r = s.post(u + "/seq/prediction", json={"feed": [{"words": [7, 8, 9, 10], "words.lod": [0, 1, 4]}]})
        res = r.json()["result"]
        check(close(res["emb"], [14, 16, 18, 20]) and res["emb.lod"] == [0, 1, 4], "explicit lod", r.text)
        check_error(s.post(u + "/seq/prediction", json={"feed": [{"words": [1, 2], "words.lod": [0, 3]}]}), 400, "lod")

        # Paddle 0.9: model by body field, by query, or the first model.
        req = {"tensor": [{"float_data": a[0], "elem_type": 1, "name": "a", "shape": [1, 3]},
                          {"float_data": b[0], "elem_type": 1, "name": "b", "shape": [1, 3]}],
               "fetch_var_names": ["s"], "model": "two"}
        r = s.post(u + "/GeneralModelService/inference", json=req)
        check(r.status_code == 200 and close(r.json()["outputs"][0]["tensor"][0]["float_data"], np.add(a[0], b[0])),
              "paddle 0.9 model field", r.text)
        del req["model"]
        r = s.post(u + "/GeneralModelService/inference?model=two", json=req)
        check(r.status_code == 200, "paddle 0.9 ?model=", r.text)
        r = s.post(u + "/GeneralModelService/inference", json={"tensor": [{"float_data": DEMO_X, "elem_type": 1, "name": "x", "shape": [1, 13]}]})
        check(r.status_code == 200 and close(r.json()["outputs"][0]["tensor"][0]["float_data"], uci_expect([DEMO_X])),
              "paddle 0.9 first model", r.text)
        check_error(s.post(u + "/GeneralModelService/inference", json=dict(req, model="nope")), 404, "unknown model 'nope'")

        m = s.get(u + "/v2/models/two").json()
        check([i["name"] for i in m["inputs"]] == ["a", "b"] and [o["name"] for o in m["outputs"]] == ["s", "p"], "two metadata", m)
        body = {"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": a[0]},
                           {"name": "b", "shape": [1, 3], "datatype": "FP32", "data": b[0]}], "outputs": [{"name": "p"}]}
        r = s.post(u + "/v2/models/twoconv/infer", json={"inputs": [dict(body["inputs"][0], name="a1"), dict(body["inputs"][1], name="b1")]})
        check(r.status_code == 200 and {o["name"] for o in r.json()["outputs"]} == {"s1", "p1"}, "kserve converted", r.text)
        r = s.post(u + "/v2/models/two/infer", json=body)
        check([o["name"] for o in r.json()["outputs"]] == ["p"] and close(r.json()["outputs"][0]["data"], np.multiply(a[0], b[0])),
              "kserve two", r.text)
        data, hl = kserve_binary_body([("words", np.array([[3], [4]], dtype=np.int64), "INT64")], binary_output=True)
        r = s.post(u + "/v2/models/seq/infer", data=data, headers={"Inference-Header-Content-Length": str(hl)})
        meta, outs = parse_kserve_binary(r)
        check(r.status_code == 200 and close(outs["emb"], [6, 8]), "kserve binary int64", r.text[:200])
        msg = check_error(s.get(u + "/v2/models/nope"), 404, "unknown model 'nope'")
        check("two" in msg and "seq" in msg, "404 lists the served models", msg)
        check(srv.stop() == 0, "exit code")


def test_bad():
    flags = ["--max_body_size", "8192", "--max_header_size", "2048"]
    with Server([UCI, os.path.join(MODELS, "two")], *flags) as srv:
        u, s = srv.url, requests.Session()
        P = u + "/uci_housing_model/prediction"
        K = u + "/v2/models/uci_housing_model/infer"
        G = u + "/GeneralModelService/inference"
        x13 = DEMO_X
        cases = [
            # (what, method, url, kwargs, status, needles)
            ("malformed JSON", "post", P, {"data": '{"feed":[{"x":[1,2'}, 400, ["malformed JSON", "byte"]),
            ("empty body", "post", P, {"data": ""}, 400, ["empty"]),
            ("JSON not an object", "post", P, {"data": "[1,2]"}, 400, []),
            ("no feed", "post", P, {"json": {"fetch": ["price"]}}, 400, ["feed"]),
            ("too few elements", "post", P, {"json": {"feed": [{"x": x13[:12]}]}}, 400, ["'x'", "13", "12"]),
            ("unknown feed alias", "post", P, {"json": {"feed": [{"y": x13}]}}, 400, ["'y'"]),
            ("string in numbers", "post", P, {"json": {"feed": [{"x": ["a"] * 13}]}}, 400, ["'x'"]),
            ("unknown fetch", "post", P, {"json": {"feed": [{"x": x13}], "fetch": ["nope"]}}, 400, ["'nope'"]),
            ("fetch not a list", "post", P, {"json": {"feed": [{"x": x13}], "fetch": 3}}, 400, ["fetch"]),
            ("ragged nesting", "post", P, {"json": {"feed": [{"x": [x13, x13[:5]]}]}}, 400, ["'x'"]),
            ("deep nesting", "post", P, {"data": '{"feed":[{"x":' + "[" * 3000 + "]" * 3000 + "}]}"}, 400, []),
            ("unknown model", "post", u + "/nope/prediction", {"json": {"feed": [{"x": x13}]}}, 404, ["unknown model 'nope'"]),
            ("kserve unknown model", "post", u + "/v2/models/nope/infer", {"json": {"inputs": []}}, 404, ["'nope'"]),
            ("kserve bad version", "get", u + "/v2/models/uci_housing_model/versions/2", {}, 404, ["version"]),
            ("kserve wrong datatype", "post", K, {"json": {"inputs": [{"name": "x", "shape": [1, 13], "datatype": "INT64", "data": [1] * 13}]}}, 400, ["'x'"]),
            ("kserve shape mismatch", "post", K, {"json": {"inputs": [{"name": "x", "shape": [1, 12], "datatype": "FP32", "data": x13[:12]}]}}, 400, ["'x'", "13"]),
            ("kserve data vs shape", "post", K, {"json": {"inputs": [{"name": "x", "shape": [2, 13], "datatype": "FP32", "data": x13}]}}, 400, ["'x'"]),
            ("kserve no inputs", "post", K, {"json": {"outputs": []}}, 400, ["inputs"]),
            ("kserve unknown input", "post", K, {"json": {"inputs": [{"name": "z", "shape": [1, 13], "datatype": "FP32", "data": x13}]}}, 400, ["'z'"]),
            ("kserve unknown output", "post", K, {"json": {"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32", "data": x13}], "outputs": [{"name": "nope"}]}}, 400, ["'nope'"]),
            ("kserve bad datatype name", "post", K, {"json": {"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FLOAT", "data": x13}]}}, 400, ["FLOAT"]),
            ("kserve header length past body", "post", K, {"data": b'{"inputs":[]}', "headers": {"Inference-Header-Content-Length": "999"}}, 400, ["Inference-Header-Content-Length"]),
            ("kserve binary size mismatch", "post", K, {"data": json.dumps({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32", "parameters": {"binary_data_size": 52}}]}).encode() + b"\0" * 40,
                                                        "headers": {"Inference-Header-Content-Length": str(len(json.dumps({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32", "parameters": {"binary_data_size": 52}}]})))}}, 400, ["binary"]),
            ("paddle09 wrong elem_type", "post", G, {"json": {"tensor": [{"int64_data": [1] * 13, "elem_type": 0, "name": "x", "shape": [1, 13]}]}}, 400, ["'x'"]),
            ("paddle09 shape mismatch", "post", G, {"json": {"tensor": [{"float_data": x13, "elem_type": 1, "name": "x", "shape": [1, 12]}]}}, 400, ["'x'"]),
            ("body too large", "post", P, {"data": "{" + " " * 9000 + "}"}, 413, ["max_body_size"]),
            ("bad timeout header", "post", P, {"json": {"feed": [{"x": x13}]}, "headers": {"X-Request-Timeout-Ms": "soon"}}, 400, ["X-Request-Timeout-Ms"]),
            ("wrong method", "get", P, {}, 405, ["POST"]),
            ("unknown path", "get", u + "/v3/models", {}, 404, ["no endpoint"]),
            ("two: missing input", "post", u + "/two/prediction", {"json": {"feed": [{"a": [1, 2, 3]}]}}, 400, ["'b'"]),
            ("two: rows disagree", "post", u + "/two/prediction", {"json": {"feed": [{"a": [1, 2, 3], "b": [1, 2, 3, 4, 5, 6]}]}}, 400, ["rows"]),
        ]
        for what, method, url, kw, status, needles in cases:
            try:
                r = getattr(s, method)(url, **kw)
                check_error(r, status, *needles)
                good_uci(srv, "uci_housing_model")
            except AssertionError as e:
                raise AssertionError("case '%s': %s" % (what, e))
        check(len(cases) >= 25, "at least 25 bad inputs")
        # Headers over --max_header_size: libmicrohttpd answers on its own.
        out = raw_exchange(srv.port, b"GET /v2 HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
        check(re.match(rb"HTTP/1\.1 4(13|31)", out), "huge header refused", out[:100])
        good_uci(srv, "uci_housing_model")
        mt = s.get(u + "/metrics").text
        check(metric(mt, "pd_query_request_failure_total", model="uci_housing_model") >= 15, "failures counted")
        logs = srv.logs()
        check(len(re.findall(r"WARN  log_id=\d+ ", logs)) >= 25, "one log line per error")
        check(srv.stop() == 0, "exit code")


def test_concurrency():
    for mode in ("auto", "off"):
        flags = ["--inline", mode] + (["--instances", "1", "--max_queue_delay_us", "2000", "--batch_sizes", "auto"]
                                      if mode == "off" else [])
        with Server([UCI], *flags, name="uci") as srv:
            u = srv.url
            errors = []

            def client(k):
                rng = random.Random(k)
                s = requests.Session()
                for i in range(25):
                    n = rng.randint(1, 4)
                    rows = [[rng.uniform(-1, 1) for _ in range(13)] for _ in range(n)]
                    if (k + i) % 2:
                        r = paddle(u, "uci", rows, s)
                        got = r.json()["result"]["price"] if r.status_code == 200 else None
                    else:
                        r = s.post(u + "/v2/models/uci/infer", json={"inputs": [{"name": "x", "shape": [n, 13], "datatype": "FP32", "data": rows}]})
                        got = r.json()["outputs"][0]["data"] if r.status_code == 200 else None
                    if got is None or not close(got, uci_expect(rows)):
                        errors.append((k, i, r.status_code, r.text[:200]))
                return True

            with cf.ThreadPoolExecutor(64) as ex:
                list(ex.map(client, range(64)))
            check(not errors, "%d wrong answers of %d" % (len(errors), 64 * 25), errors[:3])
            mt = requests.get(u + "/metrics").text
            ok = metric(mt, "pd_query_request_success_total", model="uci")
            check(ok == 64 * 25, "success counter", ok)
            merged = metric(mt, "skiff_merged_requests_total", model="uci")
            inline = metric(mt, "skiff_inline_runs_total", model="uci")
            print("  inline=%s: %d inline runs, %d requests merged into batches" % (mode, inline, merged))
            if mode == "off":
                check(merged > 0, "with one instance and 64 clients, requests must have been merged")
                check(inline == 0, "--inline off")
                # An idle instance runs a lone 3-row request padded to 4 rows
                # (--batch_sizes auto); the answer has the request's 3 rows.
                # The 64 clients above ran their merged batches padded too.
                pad0 = metric(mt, "skiff_batch_padding_rows_total", model="uci")
                rows = [[0.1 * (i + j) for j in range(13)] for i in range(3)]
                r = paddle(u, "uci", rows)
                check(r.status_code == 200 and close(r.json()["result"]["price"], uci_expect(rows)),
                      "padded run answers its own rows", r.text[:200])
                pad1 = metric(requests.get(u + "/metrics").text, "skiff_batch_padding_rows_total", model="uci")
                check(pad1 == pad0 + 1, "one padding row for a lone 3-row request", (pad0, pad1))
            code = srv.stop()
            check(code == 0, "exit code", code, srv.logs()[-800:])


def test_overload():
    slow = os.path.join(MODELS, "slow")
    flags = ["--instances", "1", "--queue_size", "2", "--batch_infer_size", "1", "--io_threads", "2"]
    with Server([slow], *flags) as srv:
        u = srv.url
        y1 = 0.001 ** 7 * 512.0 ** 7
        r = requests.post(u + "/slow/prediction", json={"feed": [{"x": [0.001]}]})
        check(r.status_code == 200 and close(r.json()["result"]["y"], [[y1] * 4], 1e-3), "slow model answer", r.text)
        # Size the work to this machine's speed: a request must still be running
        # (or queued) when the next ones arrive, however fast the CPU.
        for n in (4, 4):  # the first run of a new batch size builds its kernels
            t0 = time.time()
            requests.post(u + "/slow/prediction", json={"feed": [{"x": [0.001]}] * n})
            t4 = max(time.time() - t0, 1e-3)
        rows = max(4, min(48, int(4 * 0.5 / t4)))  # about 0.5 s of work
        requests.post(u + "/slow/prediction", json={"feed": [{"x": [0.001]}] * rows})

        def one(_):
            return requests.post(u + "/slow/prediction", json={"feed": [{"x": [0.001]}] * rows})

        with cf.ThreadPoolExecutor(12) as ex:
            rs = list(ex.map(one, range(12)))
        codes = [r.status_code for r in rs]
        full = [r for r in rs if r.status_code == 503]
        check(all(c in (200, 503) for c in codes), "only 200 or 503", codes)
        check(full, "a full queue must answer 503", codes)
        for r in full:
            check_error(r, 503, "queue is full")
            check(r.headers.get("Retry-After") == "1", "Retry-After", r.headers)
        for r in rs:
            if r.status_code == 200:
                check(close(r.json()["result"]["y"], [[y1] * 4] * rows, 1e-3), "answers under load")
        mt = requests.get(u + "/metrics").text
        check(metric(mt, "skiff_requests_total", model="slow", outcome="RESOURCE_EXHAUSTED") == len(full), "503s counted")

        # Deadline: a request that waits behind a running one past its timeout gets 504.
        def busy(_):
            return requests.post(u + "/slow/prediction", json={"feed": [{"x": [0.001]}] * rows})

        late = [
            lambda: requests.post(u + "/slow/prediction", json={"feed": [{"x": [0.001]}]},
                                  headers={"X-Request-Timeout-Ms": "1"}),
            lambda: requests.post(u + "/v2/models/slow/infer", json={
                "inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [0.001]}],
                "parameters": {"timeout": 1000}}),
        ]
        for call in late:
            with cf.ThreadPoolExecutor(1) as ex:
                f = ex.submit(busy, 0)
                time.sleep(0.03)  # the busy request is running now
                check_error(call(), 504, "deadline")
                check(f.result().status_code == 200, "the busy request")
        r = requests.post(u + "/slow/prediction", json={"feed": [{"x": [0.001]}]}, headers={"X-Request-Timeout-Ms": "60000"})
        check(r.status_code == 200, "generous deadline", r.text)
        mt = requests.get(u + "/metrics").text
        check(metric(mt, "skiff_requests_total", model="slow", outcome="DEADLINE_EXCEEDED") == 2, "504s counted")
        check(srv.stop() == 0, "exit code")


def test_drain():
    slow = os.path.join(MODELS, "slow")
    with Server([slow], "--instances", "1", "--batch_infer_size", "1", "--grace_s", "30") as srv:
        u = srv.url
        y1 = 0.001 ** 7 * 512.0 ** 7
        keep = requests.Session()
        check(keep.get(u + "/v2/health/ready").status_code == 200, "ready before")
        results = []
        # Size the in-flight work to this machine: the drain checks below
        # need several seconds of queued work whatever the CPU's speed.
        for _ in range(2):  # the first run also builds the model's kernels
            t0 = time.time()
            r = requests.post(u + "/slow/prediction", json={"feed": [{"x": [0.001]}] * 6})
            one = max(time.time() - t0, 1e-3)
            check(r.status_code == 200, "calibration request", r.text[:200])
        rows = max(6, min(48, int(6 * 0.2 / one)))  # about 0.2 s per request
        n_req = max(4, min(40, int(4.0 / (one * rows / 6)) + 2))
        print("drain: 6 rows take %.3f s; %d requests of %d rows in flight" % (one, n_req, rows))

        def slow_call(k):
            r = requests.post(u + "/slow/prediction", json={"feed": [{"x": [0.001]}] * rows})
            results.append(r)

        threads = [threading.Thread(target=slow_call, args=(k,)) for k in range(n_req)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # all are in flight: one running, the rest queued
        t_sig = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        # Ready turns false on a connection opened before; new connections are refused.
        r = keep.get(u + "/v2/health/ready")
        check(r.status_code == 503, "ready during drain", r.status_code)
        refused = False
        try:
            requests.get(u + "/v2/health/live", timeout=2)
        except requests.ConnectionError:
            refused = True
        check(refused, "new connections must be refused while draining")
        for t in threads:
            t.join(60)
        check(len(results) == n_req, "all in-flight requests answered", len(results), n_req)
        for r in results:
            check(r.status_code == 200 and close(r.json()["result"]["y"], [[y1] * 4] * rows, 1e-3), "in-flight answer", r.status_code, r.text[:200])
        code = srv.proc.wait(30)
        took = time.time() - t_sig
        check(code == 0, "exit code after drain", code)
        check(took < 30, "exit within the grace period", took)
        logs = srv.logs()
        check("SIGTERM: draining" in logs and "drained" in logs, "drain logged", logs[-400:])
    # A drain whose grace period runs out cuts what is in flight and says so:
    # exit status 3 and an ERROR line with the count.
    with Server([slow], "--instances", "1", "--batch_infer_size", "1", "--grace_s", "0") as srv:
        def slow_call():
            try:
                requests.post(srv.url + "/slow/prediction", json={"feed": [{"x": [0.001]}] * rows}, timeout=60)
            except requests.RequestException:
                pass
        threads = [threading.Thread(target=slow_call) for _ in range(3)]
        for t in threads:
            t.start()
        t0 = time.time()
        while time.time() - t0 < 10 and metric(requests.get(srv.url + "/metrics").text, "skiff_inflight_requests") < 3:
            time.sleep(0.02)
        srv.proc.send_signal(signal.SIGTERM)
        code = srv.proc.wait(30)
        check(code == 3, "exit status after a cut drain", code)
        logs = srv.logs()
        check(re.search(r"ERROR .*grace period of 0 s over with \d+ requests? still in flight: cut", logs),
              "cut requests logged", logs[-600:])
        for t in threads:
            t.join(60)


def test_load_metric():
    """The per-instance load gauge an autoscaler scales on: skiff_model_inflight_per_instance
    is in-flight requests over instances, 0 when idle, above 0 while requests run,
    and back to 0 after; every queued request is in skiff_queue_duration_seconds."""
    slow = os.path.join(MODELS, "slow")
    with Server([slow], "--instances", "2", "--batch_infer_size", "1", "--inline", "off") as srv:
        u = srv.url
        mt = requests.get(u + "/metrics").text
        for name in ("skiff_model_instances", "skiff_model_inflight_per_instance"):
            check("# TYPE %s gauge" % name in mt and "# HELP %s " % name in mt, "HELP and TYPE of " + name)
        check("# TYPE skiff_queue_duration_seconds histogram" in mt, "queue time is a histogram")
        check(metric(mt, "skiff_model_instances", model="slow") == 2, "two instances", mt[-2000:])
        check(metric(mt, "skiff_model_inflight_per_instance", model="slow") == 0, "idle: 0")
        q0 = metric(mt, "skiff_queue_duration_seconds_count", model="slow")
        n_req, rows, sent = 8, 6, 0
        seen = []
        # Rounds of 8 concurrent requests on 2 instances, /metrics read in a loop
        # until they are answered; a round whose requests all ran between two
        # reads is simply followed by another.
        for _ in range(5):
            with cf.ThreadPoolExecutor(n_req) as ex:
                futs = [ex.submit(requests.post, u + "/slow/prediction",
                                  json={"feed": [{"x": [0.001]}] * rows}) for _ in range(n_req)]
                while not all(f.done() for f in futs):
                    seen.append(metric(requests.get(u + "/metrics").text,
                                       "skiff_model_inflight_per_instance", model="slow"))
                codes = [f.result().status_code for f in futs]
            sent += n_req
            check(codes == [200] * n_req, "answers under load", codes)
            if max(seen) > 0:
                break
        print("load_metric: %d requests, %d samples, in-flight per instance up to %g"
              % (sent, len(seen), max(seen)))
        check(max(seen) > 0, "in-flight per instance above 0 while requests run", max(seen))
        # In-flight requests over 2 instances: multiples of 1/2, at most all of them.
        check(all(v * 2 == int(v * 2) and 0 <= v <= n_req / 2 for v in seen),
              "samples are in-flight / 2", sorted(set(seen)))
        t0 = time.time()
        while time.time() - t0 < 10:
            mt = requests.get(u + "/metrics").text
            if metric(mt, "skiff_model_inflight_per_instance", model="slow") == 0:
                break
            time.sleep(0.05)
        check(metric(mt, "skiff_model_inflight_per_instance", model="slow") == 0, "idle again: 0")
        check(metric(mt, "skiff_model_inflight_requests", model="slow") == 0, "no request in flight")
        # Every request went through the queue (--inline off) and was timed there once.
        q1 = metric(mt, "skiff_queue_duration_seconds_count", model="slow")
        check(q1 - q0 == sent, "queue time observed once per request", q1 - q0, sent)
        check(metric(mt, "skiff_queue_duration_seconds_bucket", model="slow", le="+Inf") == q1,
              "+Inf bucket = count")
        check(srv.stop() == 0, "exit code")


def test_limits():
    flags = ["--request_timeout_s", "1", "--idle_timeout_s", "2", "--max_body_size", "100000"]
    with Server([UCI], *flags, name="uci") as srv:
        u = srv.url
        body = json.dumps({"feed": [{"x": DEMO_X}]}).encode()
        head = b"POST /uci/prediction HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
        # Slow client: half the body, a pause past --request_timeout_s, the rest: 408.
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(head + body[:10])
        time.sleep(1.3)
        s.sendall(body[10:])
        s.settimeout(5)
        out = s.recv(4096)
        s.close()
        check(out.startswith(b"HTTP/1.1 408"), "slow body gets 408", out[:100])
        # A client that never speaks is closed after --request_timeout_s.
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.settimeout(6)
        t0 = time.time()
        check(s.recv(10) == b"", "silent connection closed")
        check(time.time() - t0 < 4, "silent connection closed in time", time.time() - t0)
        s.close()
        # An idle keep-alive connection is closed after --idle_timeout_s.
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        s.settimeout(8)
        data = b""
        t0 = time.time()
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        check(data.startswith(b"HTTP/1.1 200") and 1.5 < time.time() - t0 < 6, "idle keep-alive closed", time.time() - t0)
        s.close()
        # Other protocols on the same port: TLS is refused; the HTTP/2 preface
        # is gRPC's (tests/integration/grpc_tests.py), answered with SETTINGS;
        # brpc is served (tests/integration/rpc_tests.py).
        out = raw_exchange(srv.port, b"\x16\x03\x01\x00\xa5\x01\x00", read_for=3, until_close=True)
        check(out == b"", "TLS preface closed", out[:80])
        out = raw_exchange(srv.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", read_for=1)
        check(len(out) >= 9 and out[3] == 4, "HTTP/2 preface answered with SETTINGS", out[:40])
        mt = requests.get(u + "/metrics").text
        check(metric(mt, "skiff_connections_refused_total", reason="protocol") == 1, "refused connections counted")
        check(metric(mt, "skiff_connections_refused_total", reason="timeout") >= 1, "silent connection counted")
        # Chunked upload works; a chunked body over the limit gets 413.
        chunked = b"POST /uci/prediction HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        half = len(body) // 2
        chunked += b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:])
        out = raw_exchange(srv.port, chunked)
        check(out.startswith(b"HTTP/1.1 200") and b'"price"' in out, "chunked body", out[:200])
        big = b"x" * 60000
        out = raw_exchange(srv.port, b"POST /uci/prediction HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           (b"%x\r\n%s\r\n" % (len(big), big)) * 2 + b"0\r\n\r\n")
        check(out.startswith(b"HTTP/1.1 413"), "chunked over the limit", out[:200])
        good_uci(srv)
        check(srv.stop() == 0, "exit code")


def exchange_one(port, data, wait=3.0, pace=None, pace_from=0):
    """Sends data (with pace, from byte pace_from on one byte every `pace`
    seconds, until an answer comes), then
    reads until the server closes or `wait` passes. Returns (responses,
    closed): each response (status, headers, body) parsed by Content-Length,
    so a second status line in one answer shows up as a second response."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(0.2)
    out = b""
    closed = False
    t0 = time.time()
    try:
        if pace:
            s.sendall(data[:pace_from])
            for i in range(pace_from, len(data)):
                s.sendall(data[i:i + 1])
                try:
                    chunk = s.recv(65536)
                    if not chunk:
                        closed = True
                        break
                    out += chunk
                    break
                except socket.timeout:
                    pass
                time.sleep(pace)
        else:
            s.sendall(data)
        while not closed and time.time() - t0 < wait + (len(data) * pace if pace else 0):
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                closed = True
                break
            out += chunk
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    s.close()
    responses = []
    while out:
        head, sep, rest = out.partition(b"\r\n\r\n")
        check(sep and head.startswith(b"HTTP/1.1 "), "a well-formed status line and head", out[:200])
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        n = int(headers.get("content-length", ["0"])[0])
        responses.append((status, headers, rest[:n]))
        out = rest[n:]
    return responses, closed


def check_json_error(resp, status, key, *needles):
    st, headers, body = resp
    check(st == status, "expected %d, got %d" % (status, st), body[:200])
    check(headers.get("content-type") == ["application/json"], "JSON content type", headers)
    try:
        doc = json.loads(body)
    except ValueError:
        raise AssertionError("error body is not JSON: %r" % body[:200])
    msg = doc.get(key)
    check(isinstance(msg, str) and msg, "error body has %r" % key, body[:200])
    for n in needles:
        check(n.lower() in msg.lower(), "message names %r" % n, msg)


def test_http11():
    """RFC 9110/9112 points: framing errors (one of them request smuggling),
    Allow on 405, OPTIONS, 408 for stalled bodies, JSON bodies everywhere."""
    with Server([UCI], "--request_timeout_s", "2", name="uci") as srv:
        body = json.dumps({"feed": [{"x": DEMO_X}], "fetch": ["price"]}).encode()
        kbody = json.dumps({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32",
                                        "data": DEMO_X}]}).encode()
        n = len(body)

        def post(path, headers, payload):
            return (b"POST %s HTTP/1.1\r\nHost: t\r\n" % path.encode() +
                    b"".join(h.encode() + b"\r\n" for h in headers) + b"\r\n" + payload)

        # RFC 9112 6.3: differing Content-Lengths are invalid framing: one 400,
        # then the connection closes (whichever value comes first).
        for a, b in ((n, n + 60), (n + 60, n)):
            rs, closed = exchange_one(srv.port, post("/uci/prediction", ["Content-Length: %d" % a,
                                                                         "Content-Length: %d" % b], body))
            check(len(rs) == 1 and closed, "two Content-Lengths: one answer, then close", rs, closed)
            check_json_error(rs[0], 400, "result", "Content-Length")
        rs, closed = exchange_one(srv.port, post("/v2/models/uci/infer",
                                                 ["Content-Length: %d, %d" % (len(kbody), len(kbody) + 1)],
                                                 kbody))
        check(len(rs) == 1 and closed, "a Content-Length list: one answer, then close", rs, closed)
        check_json_error(rs[0], 400, "error", "Content-Length")
        # Invalid values: one well-formed 400 with the route API's JSON error.
        for bad in ("12abc", "-5"):
            rs, closed = exchange_one(srv.port, post("/v2/models/uci/infer", ["Content-Length: " + bad], kbody))
            check(len(rs) == 1 and closed, "invalid Content-Length %s: one answer" % bad, rs)
            check_json_error(rs[0], 400, "error", "Content-Length")
            rs, closed = exchange_one(srv.port, post("/uci/prediction", ["Content-Length: " + bad], body))
            check(len(rs) == 1 and closed, "invalid Content-Length %s: one answer" % bad, rs)
            check_json_error(rs[0], 400, "result", "Content-Length")
        rs, closed = exchange_one(srv.port, post("/GeneralModelService/inference", ["Content-Length: 1x"], b"{}"))
        check(len(rs) == 1 and closed and rs[0][0] == 400, "Paddle 0.9 route", rs)
        doc = json.loads(rs[0][2])
        check(doc.get("err_no") not in (None, 0) and "Content-Length" in doc.get("err_msg", ""),
              "Paddle 0.9 error shape", doc)
        # RFC 9112 6.1: Transfer-Encoding with Content-Length: refused, then close.
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (n, body)
        rs, closed = exchange_one(srv.port, post("/uci/prediction", ["Transfer-Encoding: chunked",
                                                                     "Content-Length: 5"], chunked))
        check(len(rs) == 1 and closed, "TE + CL: one answer, then close", rs, closed)
        check_json_error(rs[0], 400, "result", "Transfer-Encoding")
        # Malformed request line and headers: JSON, never an HTML page.
        for raw in (b"HELLO\r\n\r\n", b"GET / HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n",
                    b"GET /v2 HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n"):
            rs, closed = exchange_one(srv.port, raw)
            check(len(rs) == 1 and closed, "malformed: one answer, then close", raw, rs)
            check_json_error(rs[0], 400, "error", "malformed")
        # Pipelined good requests on one connection are all answered in order.
        good = post("/uci/prediction", ["Content-Length: %d" % n], body)
        rs, closed = exchange_one(srv.port, good * 3 + b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n", wait=1.5)
        check([r[0] for r in rs] == [200, 200, 200, 200] and not closed, "pipelined", [r[0] for r in rs])
        # 405 carries Allow (RFC 9110 15.5.6); OPTIONS gets 204 + Allow.
        for method, path, allow in (("GET", "/uci/prediction", "POST"), ("HEAD", "/v2/models/uci/infer", "POST"),
                                    ("GET", "/GeneralModelService/inference", "POST"),
                                    ("POST", "/v2/health/ready", "GET"), ("DELETE", "/metrics", "GET")):
            r = requests.request(method, srv.url + path, data=b"{}" if method == "POST" else None)
            check(r.status_code == 405, "%s %s: 405" % (method, path), r.status_code)
            got = [m.strip() for m in r.headers.get("Allow", "").split(",")]
            check(allow in got and "OPTIONS" in got, "%s %s: Allow" % (method, path), r.headers)
        for path, allow in (("/metrics", "GET"), ("/uci/prediction", "POST"), ("/v2/models/uci/infer", "POST")):
            r = requests.options(srv.url + path)
            check(r.status_code == 204 and allow in r.headers.get("Allow", "") and r.content == b"",
                  "OPTIONS %s" % path, r.status_code, r.headers)
        # Health answers: JSON content type with a JSON body.
        for path, key in (("/v2/health/live", "live"), ("/v2/health/ready", "ready"),
                          ("/v2/models/uci/ready", "ready")):
            r = requests.get(srv.url + path)
            check(r.status_code == 200 and r.headers["Content-Type"] == "application/json" and
                  r.json()[key] is True, "health body " + path, r.text)
        # A stalled body gets 408 (JSON) at --request_timeout_s, even when the
        # client stays silent, and so does one trickling a byte every 0.5 s.
        t0 = time.time()
        rs, closed = exchange_one(srv.port, good[:len(good) - n + 20], wait=5)
        took = time.time() - t0
        check(len(rs) == 1 and closed and 1.5 < took < 4.5, "silent stall: 408 in time", rs, took)
        check_json_error(rs[0], 408, "result", "request_timeout_s")
        rs, closed = exchange_one(srv.port, good, wait=2, pace=0.5, pace_from=len(good) - n)
        check(len(rs) == 1 and closed, "trickle: one answer", rs)
        check_json_error(rs[0], 408, "result", "request_timeout_s")
        mt = requests.get(srv.url + "/metrics").text
        check(metric(mt, "skiff_connections_cut_total", reason="slow_body") == 2, "slow bodies counted")
        # A slow head (slowloris) gets 408 too.
        rs, closed = exchange_one(srv.port, b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nX-A: aaaaaaaaaa", wait=4)
        check(len(rs) == 1 and closed, "slow head: one answer", rs)
        check_json_error(rs[0], 408, "error", "head")
        good_uci(srv)
        check(srv.stop() == 0, "exit code")


def readme_quickstart():
    """The shell blocks of README.md's Quick start, in order, and the answer it
    promises."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    qs = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in qs.split("```sh")[1:]]
    blocks = [" ".join(ln.strip().rstrip("\\") for ln in b.strip().splitlines()) for b in blocks]
    promised = re.search(r"answers `([^`]+)`", qs).group(1)
    return blocks, promised


def test_quickstart():
    """README's quick start, copy-pasted: convert, serve, curl, run."""
    blocks, promised = readme_quickstart()
    check(len(blocks) == 4, "quick start has convert, serve, call and run blocks", blocks)
    convert, serve, call, run = blocks
    work = tempfile.mkdtemp(prefix="skiff-qs-")
    os.makedirs(os.path.join(work, "build"))
    os.symlink(SKIFF, os.path.join(work, "build", "skiff"))
    os.symlink(os.path.join(ROOT, "examples"), os.path.join(work, "examples"))
    r = subprocess.run(convert, shell=True, cwd=work, capture_output=True, text=True)
    check(r.returncode == 0, "convert as written", r.stdout, r.stderr)
    hint = re.search(r"serve it: (skiff serve .*)", r.stdout)
    check(hint is not None and ":" in hint.group(1).split("--model ", 1)[1], "convert's hint names the model", r.stdout)
    # Serve as written, on a free port instead of 9393.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check("--port 9393" in serve, "serve block", serve)
    proc = subprocess.Popen(serve.replace("--port 9393", "--port %d" % port), shell=True, cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = "http://127.0.0.1:%d" % port
        t0 = time.time()
        while time.time() - t0 < 30:
            try:
                if requests.get(url + "/v2/health/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        r = subprocess.run(call.replace(":9393", ":%d" % port), shell=True, cwd=work, capture_output=True, text=True)
        check(r.returncode == 0 and r.stdout.strip() == promised, "curl as written", r.stdout, r.stderr)
        # the Python RPC client block, as written (PYTHONPATH=python)
        with open(os.path.join(ROOT, "README.md")) as f:
            qs = f.read().split("## Quick start", 1)[1].split("\n## ", 1)[0]
        py = textwrap.dedent(qs.split("```python", 1)[1].split("```", 1)[0])
        printed = re.search(r"prints `([^`]+)`", qs).group(1)
        r = subprocess.run([sys.executable, "-c", py.replace(":9393", ":%d" % port)], cwd=work, capture_output=True,
                           text=True, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")))
        check(r.returncode == 0 and r.stdout.strip() == printed, "README's Python client as written", r.stdout, r.stderr)
        r = requests.post(url + "/v2/models/uci/infer", json={"inputs": [{"name": "x", "shape": [1, 13],
                                                                          "datatype": "FP32", "data": DEMO_X}]})
        check(r.status_code == 200 and r.json()["outputs"][0]["name"] == "price", "KServe as promised", r.text[:200])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    # skiff run on the serving directory: aliases for inputs and output files.
    np.save(os.path.join(work, "x.npy"), np.array([DEMO_X], dtype=np.float32))
    r = subprocess.run(run, shell=True, cwd=work, capture_output=True, text=True)
    check(r.returncode == 0, "run as written", r.stdout, r.stderr)
    out = np.load(os.path.join(work, "out", "price.npy"))
    check(abs(float(out.ravel()[0]) - 22.989538) < 1e-4, "run's price.npy", out)
    # The same settings from a YAML file (--config); flags on the command line win.
    cfgfile = os.path.join(work, "serve.yml")
    with open(cfgfile, "w") as f:
        f.write("# skiff serve settings\nmodel:\n  - %s:fromyaml\nport: 0\nmax_body_size: 4096\n"
                "inline: 'off'\n" % UCI)
    with Server([], "--config", cfgfile, "--max_body_size", "8192") as srv:
        r = requests.post(srv.url + "/fromyaml/prediction", json={"feed": [{"x": DEMO_X}], "fetch": ["price"]})
        check(r.status_code == 200 and close(r.json()["result"]["price"], [[22.989538]], 1e-4), "--config model", r.text[:200])
        r = requests.post(srv.url + "/fromyaml/prediction", data=b"{" + b" " * 6000 + b"}")
        check(r.status_code == 400, "the flag's --max_body_size (8192) wins over the file's (4096)", r.status_code)
        check(srv.stop() == 0, "exit code")
    with open(cfgfile, "w") as f:
        f.write("model: %s\nport: 70000\n" % UCI)
    r = subprocess.run([SKIFF, "serve", "--config", cfgfile], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "serve.yml:2: port 70000 is out of range" in r.stderr, "config error names file and line", r.stderr)
    # Several models, each named with DIR:NAME.
    with Server([UCI + ":a", os.path.join(work, "serving_server") + ":b"]) as srv:
        for name in ("a", "b"):
            r = requests.post(srv.url + "/%s/prediction" % name, json={"feed": [{"x": DEMO_X}], "fetch": ["price"]})
            check(r.status_code == 200 and close(r.json()["result"]["price"], [[22.989538]], 1e-4),
                  "model named " + name, r.text[:200])
        check(srv.stop() == 0, "exit code")


def doc_examples(path):
    """Every curl command in a doc's indented code blocks with the answer
    printed under it: (argv, documented answer text or None)."""
    import shlex
    with open(path) as f:
        lines = f.read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        body = ln[4:] if ln.startswith("    ") else None
        if body is None or not body.lstrip("$ ").startswith("curl "):
            i += 1
            continue
        cmd = body.lstrip("$ ")
        i += 1
        while True:  # continued: an open quote or a trailing backslash
            try:
                argv = shlex.split(cmd)
                if not cmd.rstrip().endswith("\\"):
                    break
            except ValueError:
                pass
            cmd = cmd.rstrip().rstrip("\\") + "\n" + lines[i][4:]
            i += 1
        answer = []
        while i < len(lines) and lines[i].startswith("    ") and not lines[i][4:].lstrip("$ ").startswith(("curl ", "python3", "gzip")):
            answer.append(lines[i][4:])
            i += 1
        out.append((argv, "\n".join(answer).strip() or None))
    return out


VOLATILE = {"ns", "count", "last_inference", "inference_count", "execution_count", "string_value",
            # GET / and /status/stats.json: the machine, the port and the traffic so far
            "uptime_s", "start_time", "cores", "io_threads", "instances", "threads", "ports",
            "in_flight", "connections", "http_responses", "success", "fail", "rows", "runs", "sum",
            "buckets"}


def same_shape(doc, got, where="$"):
    """doc and got agree: same keys and list lengths, equal values (floats
    within 1e-5), except values of keys that change from run to run."""
    if isinstance(doc, dict):
        check(isinstance(got, dict) and set(doc) == set(got), "keys at " + where, sorted(doc), got)
        for k in doc:
            if k not in VOLATILE:
                same_shape(doc[k], got[k], where + "." + k)
    elif isinstance(doc, list):
        check(isinstance(got, list) and len(doc) == len(got), "list at " + where, doc, got)
        for k, (a, b) in enumerate(zip(doc, got)):
            same_shape(a, b, "%s[%d]" % (where, k))
    elif isinstance(doc, float) or isinstance(got, float):
        check(abs(doc - got) <= 1e-5 * max(1.0, abs(doc)), "value at " + where, doc, got)
    else:
        check(doc == got, "value at " + where, doc, got)


def test_docs():
    """docs/http-api.md's examples: each curl is sent as written (to this
    server's port) and its documented answer must be valid JSON that matches."""
    examples = doc_examples(os.path.join(ROOT, "docs", "http-api.md"))
    check(len(examples) >= 8, "examples found", len(examples))
    with Server([UCI], name="uci") as srv:
        sent = 0
        for argv, answer in examples:
            if any(a.startswith("@") for a in argv):
                continue  # a body from a file: the binary example, run below
            cmd = [a.replace("127.0.0.1:9393", "127.0.0.1:%d" % srv.port).replace("localhost:9393", "127.0.0.1:%d" % srv.port) for a in argv]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            check(r.returncode == 0, "curl as documented", " ".join(argv)[:200], r.stderr)
            sent += 1
            if answer is None or not answer.startswith("{"):
                continue
            try:
                doc = json.loads(answer)
            except ValueError as e:
                raise AssertionError("documented answer is not JSON (%s): %s" % (e, answer[:200]))
            same_shape(doc, json.loads(r.stdout))
        check(sent >= 8, "examples sent", sent)
        check(srv.stop() == 0, "exit code")


def test_paddle_proto():
    """Paddle 0.9's HTTP client with set_http_proto(True): the Request as
    protobuf binary (Content-Type application/proto), the Response likewise,
    errors included. The message classes are generated from skiff's .proto by
    grpc_tools, as a Paddle client's would be from Paddle's."""
    gen = tempfile.mkdtemp(prefix="skiff-pb-")
    pbdir = os.path.join(ROOT, "src", "proto", "pb")
    r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", pbdir, "--python_out", gen,
                        os.path.join(pbdir, "general_model_service.proto")], capture_output=True, text=True)
    check(r.returncode == 0, "protoc", r.stderr)
    sys.path.insert(0, gen)
    import general_model_service_pb2 as pb
    with Server([UCI], name="uci") as srv:
        url = srv.url + "/GeneralModelService/inference"
        hdr = {"Content-Type": "application/proto"}
        req = pb.Request(fetch_var_names=["price"], log_id=7)
        t = req.tensor.add(name="x", alias_name="x", elem_type=1, shape=[2, 13])
        t.float_data.extend(DEMO_X + DEMO_X)
        r = requests.post(url, data=req.SerializeToString(), headers=hdr)
        check(r.status_code == 200 and r.headers["Content-Type"] == "application/proto", "proto answer",
              r.status_code, r.headers)
        resp = pb.Response.FromString(r.content)
        out = resp.outputs[0].tensor[0]
        check(out.alias_name == "price" and out.elem_type == 1 and list(out.shape) == [2, 1] and
              close(list(out.float_data), [22.989538, 22.989538], 1e-4) and resp.log_id == 7,
              "proto outputs", resp)
        # The same request as tensor_content (raw float32 bytes).
        req2 = pb.Request(fetch_var_names=["price"])
        req2.tensor.add(name="x", elem_type=1, shape=[1, 13], tensor_content=struct.pack("<13f", *DEMO_X))
        resp = pb.Response.FromString(requests.post(url, data=req2.SerializeToString(), headers=hdr).content)
        check(close(list(resp.outputs[0].tensor[0].float_data), [22.989538], 1e-4), "tensor_content", resp)
        # Errors: a binary Response with Paddle's err_no and a message naming the input.
        bad = pb.Request()
        bad.tensor.add(name="x", elem_type=1, shape=[1, 12]).float_data.extend(DEMO_X[:12])
        r = requests.post(url, data=bad.SerializeToString(), headers=hdr)
        resp = pb.Response.FromString(r.content)
        check(r.status_code == 400 and resp.err_no == -5100 and "input 'x'" in resp.err_msg,
              "proto error", r.status_code, resp)
        r = requests.post(url, data=b"\xff\x01garbage", headers=hdr)
        resp = pb.Response.FromString(r.content)
        check(r.status_code == 400 and "not a Paddle 0.9 Request" in resp.err_msg, "garbage", r.status_code, resp)
        # JSON still answers JSON on the same route.
        r = requests.post(url, json={"tensor": [{"float_data": DEMO_X, "elem_type": 1, "name": "x",
                                                 "shape": [1, 13]}], "fetch_var_names": ["price"]})
        check(r.status_code == 200 and r.headers["Content-Type"] == "application/json", "json", r.text[:200])
        check(srv.stop() == 0, "exit code")


PADDLE_MODELS = os.path.join(os.path.dirname(ROOT), "shared", "paddle-models")


def paddle_params(path):
    """A Paddle tensor-stream file (one record) as a numpy array."""
    with open(path, "rb") as f:
        b = f.read()
    at = 4
    lod_level = struct.unpack_from("<Q", b, at)[0]
    at += 8
    for _ in range(lod_level):
        at += 8 + struct.unpack_from("<Q", b, at)[0]
    at += 4
    dsize = struct.unpack_from("<i", b, at)[0]
    at += 4
    desc = b[at:at + dsize]
    at += dsize
    dims, i = [], 0  # TensorDesc: field 1 data_type (varint), field 2 dims (varints)
    while i < len(desc):
        tag = desc[i]
        i += 1
        v = shift = 0
        while True:
            c = desc[i]
            i += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                break
        if tag >> 3 == 2:
            dims.append(v)
    return np.frombuffer(b[at:], dtype=np.float32).reshape(dims)


def render_text(h, w, lines, size):
    """Dark text on a light page (Pillow, DejaVu Sans), floats in [0, 1], HxWx3."""
    from PIL import Image, ImageDraw, ImageFont
    img = Image.new("RGB", (w, h), (250, 250, 246))
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", size)
    for i, t in enumerate(lines):
        d.text((8, 6 + int(size * 1.7) * i), t, fill=(20, 20, 30), font=font)
    return np.asarray(img).astype(np.float32) / 255.0


def render_scene(h, w, k):
    """A sky, a sun and a house, shifted by k; floats in [0, 1], HxWx3."""
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (w, h), (110 + 20 * k, 160, 210))
    d = ImageDraw.Draw(img)
    d.rectangle((0, h * 2 // 3, w, h), fill=(70, 130, 60))
    d.ellipse((20 + 30 * k, 20, 80 + 30 * k, 80), fill=(250, 210, 60))
    d.rectangle((110, 100, 190, 170), fill=(180, 60, 50))
    d.polygon([(100, 100), (150, 60), (200, 100)], fill=(120, 40, 40))
    return np.asarray(img).astype(np.float32) / 255.0


def test_paddle_models():
    """Paddle's own model files, served and run as they are: the seed's
    uci_housing_model answers the seed's curl with 18.901152; fit_a_line
    models of other eras and an MNIST MLP match numpy on their parameters;
    a model with operators skiff does not map names them all."""
    uci = os.path.join(PADDLE_MODELS, "serving_uci_housing", "uci_housing_model")
    if not os.path.isdir(uci):
        print("  skipped: %s not found" % PADDLE_MODELS)
        return
    with Server([uci], name="uci") as srv:
        seed = ('curl -s -H "Content-Type:application/json" -X POST -d \'{"feed":[{"x": [0.0137, -0.1136, '
                '0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, '
                '-0.0332]}], "fetch":["price"]}\' http://127.0.0.1:%d/uci/prediction' % srv.port)
        r = subprocess.run(seed, shell=True, capture_output=True, text=True)
        check(r.stdout.strip() == '{"result":{"price":[[18.901152]]}}', "the seed's curl on its Paddle model", r.stdout)
        r = requests.get(srv.url + "/v2/models/uci")
        check(r.json()["inputs"][0]["shape"] == [-1, 13] and r.json()["platform"] == "skiff_paddle",
              "metadata from the Paddle conf", r.text)
        # Paddle Serving's own client conf for this model (uci_housing_client), with
        # the Python client package: the 0.9 HTTP form and baidu_std.
        sys.path.insert(0, os.path.join(ROOT, "python"))
        from paddle_serving_client import Client, HttpClient
        client_conf = os.path.join(PADDLE_MODELS, "serving_uci_housing", "uci_housing_client",
                                   "serving_client_conf.prototxt")
        for cls_ in (HttpClient, Client):
            c = cls_()
            c.load_client_config(client_conf)
            c.connect(["127.0.0.1:%d" % srv.port])
            out = c.predict(feed={"x": np.array(DEMO_X, np.float32)}, fetch=["price"], batch=False)
            check(abs(float(np.asarray(out["price"]).ravel()[0]) - 18.901152) < 1e-5,
                  "uci_housing_client conf over " + cls_.__name__, out)
        check(srv.stop() == 0, "exit code")
    # README's "Paddle models, served as they are", as written (a free port for 9393).
    with open(os.path.join(ROOT, "README.md")) as f:
        sec = f.read().split("## Paddle models, served as they are", 1)[1].split("\n## ", 1)[0]
    block = sec.split("```sh", 1)[1].split("```", 1)[0].strip().splitlines()
    serve_cmd = block[0]
    curl_cmd = " ".join(ln.strip().rstrip("\\") for ln in block[1:])
    promised = re.search(r"answers `([^`]+)`", sec).group(1)
    readme_dir = tempfile.mkdtemp(prefix="skiff-pd-readme-")
    os.makedirs(os.path.join(readme_dir, "build"))
    os.symlink(SKIFF, os.path.join(readme_dir, "build", "skiff"))
    os.symlink(uci, os.path.join(readme_dir, "uci_housing_model"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(serve_cmd.replace("--port 9393", "--port %d" % port), shell=True, cwd=readme_dir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        t0 = time.time()
        while time.time() - t0 < 30:
            try:
                if requests.get("http://127.0.0.1:%d/v2/health/ready" % port, timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        r = subprocess.run(curl_cmd.replace(":9393", ":%d" % port), shell=True, capture_output=True, text=True)
        check(r.stdout.strip() == promised == '{"result":{"price":[[18.901152]]}}', "README's Paddle block as written",
              r.stdout, promised)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    work = tempfile.mkdtemp(prefix="skiff-pd-")
    x = np.array([DEMO_X], dtype=np.float32)
    np.save(os.path.join(work, "x.npy"), x)

    def run(model, inp, name):
        out = tempfile.mkdtemp(dir=work)
        r = subprocess.run([SKIFF, "run", model, "--input", "%s=%s" % (name, inp), "--output-dir", out,
                            "--quiet"], capture_output=True, text=True)
        check(r.returncode == 0, "skiff run " + model, r.stderr)
        files = os.listdir(out)
        check(len(files) == 1, "one output", files)
        return np.load(os.path.join(out, files[0]))

    for folder, want in (("book_fit_a_line", 17.641043), ("p2o_fit_a_line_2018", 15.577298)):
        got = run(os.path.join(PADDLE_MODELS, folder, "fit_a_line.inference.model"),
                  os.path.join(work, "x.npy"), "x")
        check(abs(float(got.ravel()[0]) - want) < 1e-4, folder, got, want)
    mnist = os.path.join(PADDLE_MODELS, "mnist_mlp_2018", "model")
    img = np.random.default_rng(3).uniform(-1, 1, (2, 1, 28, 28)).astype(np.float32)
    np.save(os.path.join(work, "img.npy"), img)
    got = run(mnist, os.path.join(work, "img.npy"), "img")
    w = {k: paddle_params(os.path.join(mnist, k)) for k in
         ("fc_0.w_0", "fc_0.b_0", "fc_1.w_0", "fc_1.b_0", "fc_2.w_0", "fc_2.b_0")}
    h = np.tanh(img.reshape(2, -1) @ w["fc_0.w_0"] + w["fc_0.b_0"])
    h = np.tanh(h @ w["fc_1.w_0"] + w["fc_1.b_0"])
    z = h @ w["fc_2.w_0"] + w["fc_2.b_0"]
    want = np.exp(z - z.max(axis=1, keepdims=True))
    want /= want.sum(axis=1, keepdims=True)
    check(got.shape == (2, 10) and np.allclose(got, want, atol=1e-5), "MNIST MLP against numpy",
          np.abs(got - want).max())
    # The official PP-OCR detectors: their Paddle files give their ONNX twins'
    # outputs, on a page of rendered text (normalised as PaddleOCR does).
    page = render_text(320, 480, ["Paddle models, served", "as they are: skiff", "PP-OCR 2026-12-07",
                                  "0123456789 ABCDEF"], 30)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    det_x = ((page - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
    np.save(os.path.join(work, "det_x.npy"), det_x)
    for v in ("PP-OCRv2", "PP-OCRv3"):
        d = os.path.join(PADDLE_MODELS, "ppocr_ch_%s_det_infer" % v)
        onnx_file = os.path.join(d, "onnx", "ch_%s_det_infer.onnx" % v)
        a = run(d, os.path.join(work, "det_x.npy"), "x")
        b = run(onnx_file, os.path.join(work, "det_x.npy"), "x")
        check(a.shape == b.shape == (1, 1, 320, 480), v + " shape", a.shape, b.shape)
        check(np.abs(a - b).max() <= 1e-4 and a.max() > 0.5 and 0 <= a.min(),
              v + ": Paddle files against the ONNX twin", np.abs(a - b).max(), a.max())
    # The classifiers: PaddleOCR's angle classifier (shape/slice/fill_constant/
    # reshape2/matmul_v2 around its head) on rendered text lines, one of them
    # upside down, and a PaddleClas MobileNetV3 on a rendered scene.
    rng = np.random.default_rng(5)
    lines = np.stack([render_text(48, 192, ["Hello skiff"], 28), render_text(48, 192, ["PADDLE OCR"], 28)[::-1, ::-1]])
    scene = np.stack([render_scene(224, 224, k) for k in range(2)])
    imnet = (np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]))
    for folder, model_dir, onnx_rel, data in (
            ("ppocr_ch_ppocr_mobile_v2.0_cls_infer", "", None, (lines - 0.5) / 0.5),
            ("paddleclas_mnv3_3class", "inference", "model.onnx", (scene - imnet[0]) / imnet[1])):
        base = os.path.join(PADDLE_MODELS, folder)
        onnx_dir = os.path.join(base, "onnx")
        onnx_file = os.path.join(onnx_dir, onnx_rel or sorted(os.listdir(onnx_dir))[0])
        xin = os.path.join(work, folder + ".npy")
        np.save(xin, data.transpose(0, 3, 1, 2).astype(np.float32))
        a = run(os.path.join(base, model_dir), xin, "x")
        b = run(onnx_file, xin, "x")
        check(a.shape == b.shape and np.abs(a - b).max() <= 1e-4 and np.allclose(a.sum(axis=1), 1, atol=1e-5),
              folder + ": Paddle files against the ONNX twin", np.abs(a - b).max())
    # PP-YOLO tiny (yolo_box, multiclass_nms3): three feeds, detections [No, 6] and a count per image
    feeds = {"image": rng.uniform(-1, 1, (1, 3, 320, 320)), "im_shape": [[320, 320]], "scale_factor": [[1, 1]]}
    args = []
    for k, v in feeds.items():
        np.save(os.path.join(work, k + ".npy"), np.asarray(v, np.float32))
        args += ["--input", "%s=%s" % (k, os.path.join(work, k + ".npy"))]
    out = tempfile.mkdtemp(dir=work)
    r = subprocess.run([SKIFF, "run", os.path.join(PADDLE_MODELS, "ppdet_ppyolo_tiny"), "--quiet", "--output-dir", out]
                       + args, capture_output=True, text=True)
    check(r.returncode == 0, "PP-YOLO tiny runs", r.stderr)
    dets, nums = (np.load(os.path.join(out, f)) for f in ("multiclass_nms3_0.tmp_0.npy", "multiclass_nms3_0.tmp_2.npy"))
    check(dets.shape[1:] == (6,) and nums.tolist() == [len(dets)], "PP-YOLO tiny outputs", dets.shape, nums)
    # PP-OCR v1's detector as Paddle Serving shipped it (1.8, separate files): loads and runs.
    # (its conf fixes the image at 640x640)
    np.save(os.path.join(work, "det_640.npy"), np.pad(det_x, ((0, 0), (0, 0), (0, 320), (0, 160)), mode="edge"))
    got = run(os.path.join(PADDLE_MODELS, "serving_ocr_det_v1", "ocr_det_model"), os.path.join(work, "det_640.npy"), "image")
    check(got.shape[-2:] == (640, 640) and 0 <= got.min() and got.max() <= 1 and got.max() > 0.5,
          "v1 detector output", got.shape, got.max())
    # Files under other names (Paddle's --model_filename/--params_filename): run, converted
    # with Paddle's convert flags, served from the converted directory.
    import shutil
    cls = os.path.join(PADDLE_MODELS, "ppocr_ch_ppocr_mobile_v2.0_cls_infer")
    odd = tempfile.mkdtemp(dir=work)
    shutil.copy(os.path.join(cls, "inference.pdmodel"), os.path.join(odd, "cls.prog"))
    shutil.copy(os.path.join(cls, "inference.pdiparams"), os.path.join(odd, "cls.weights"))
    xin = os.path.join(work, "cls_x.npy")
    x = rng.uniform(-1, 1, (2, 3, 48, 192)).astype(np.float32)
    np.save(xin, x)
    ref = run(cls, xin, "x")
    r = subprocess.run([SKIFF, "run", odd, "--quiet", "--input", "x=" + xin], capture_output=True, text=True)
    check(r.returncode != 0 and "has no model.onnx" in r.stderr, "other names need the flags", r.stderr)
    out = tempfile.mkdtemp(dir=work)
    r = subprocess.run([SKIFF, "run", odd, "--model_filename", "cls.prog", "--params_filename", "cls.weights",
                        "--quiet", "--input", "x=" + xin, "--output-dir", out], capture_output=True, text=True)
    check(r.returncode == 0, "skiff run --model_filename/--params_filename", r.stderr)
    got = np.load(os.path.join(out, os.listdir(out)[0]))
    check(np.allclose(got, ref, atol=1e-6), "the same model under other names", np.abs(got - ref).max())
    r = subprocess.run([SKIFF, "run", odd, "--model_filename", "cls.prog", "--params_filename", "nope",
                        "--quiet", "--input", "x=" + xin], capture_output=True, text=True)
    check(r.returncode != 0 and "no file 'nope' (--params_filename)" in r.stderr, "a missing params file named",
          r.stderr)
    conv = tempfile.mkdtemp(dir=work)
    r = subprocess.run([SKIFF, "convert", "--dirname", odd, "--model_filename", "cls.prog", "--params_filename",
                        "cls.weights"], capture_output=True, text=True, cwd=conv)
    check(r.returncode == 0 and "--model_filename cls.prog --params_filename cls.weights" in r.stdout,
          "skiff convert of a Paddle model", r.stdout, r.stderr)
    server_dir, client_dir = os.path.join(conv, "serving_server"), os.path.join(conv, "serving_client")
    check(sorted(os.listdir(server_dir)) == ["cls.prog", "cls.weights", "serving_server_conf.prototxt",
                                            "serving_server_conf.stream.prototxt"]
          and sorted(os.listdir(client_dir)) == ["serving_client_conf.prototxt", "serving_client_conf.stream.prototxt"],
          "converted directories", os.listdir(server_dir), os.listdir(client_dir))
    for f in ("cls.prog", "cls.weights"):
        with open(os.path.join(odd, f), "rb") as a, open(os.path.join(server_dir, f), "rb") as b:
            check(a.read() == b.read(), "the Paddle files copied as they are", f)
    with Server([server_dir + ":cls"], "--model_filename", "cls.prog", "--params_filename", "cls.weights") as srv:
        r = requests.post(srv.url + "/v2/models/cls/infer", json={"inputs": [
            {"name": "x", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}]})
        check(r.status_code == 200, "the converted model served", r.text[:300])
        out = r.json()["outputs"][0]
        check(np.allclose(np.array(out["data"]).reshape(out["shape"]), ref, atol=1e-6), "served answer", out)
    # separate parameter files are copied one by one, under their names
    conv2 = tempfile.mkdtemp(dir=work)
    r = subprocess.run([SKIFF, "convert", "--dirname", uci], capture_output=True, text=True, cwd=conv2)
    check(r.returncode == 0 and sorted(os.listdir(os.path.join(conv2, "serving_server"))) ==
          ["__model__", "fc_0.b_0", "fc_0.w_0", "serving_server_conf.prototxt", "serving_server_conf.stream.prototxt"],
          "convert with one file per parameter", r.stdout, r.stderr)
    with Server([os.path.join(conv2, "serving_server") + ":uci"]) as srv:
        r = requests.post(srv.url + "/uci/prediction", json={"feed": [{"x": DEMO_X}], "fetch": ["fc_0.tmp_1"]})
        check(r.status_code == 200 and abs(r.json()["result"]["fc_0.tmp_1"][0][0] - 18.901152) < 1e-4,
              "the converted uci model", r.text)


GROUPS = {
    "endpoints": test_endpoints,
    "multi": test_multi,
    "bad": test_bad,
    "concurrency": test_concurrency,
    "overload": test_overload,
    "drain": test_drain,
    "load_metric": test_load_metric,
    "limits": test_limits,
    "http11": test_http11,
    "quickstart": test_quickstart,
    "docs": test_docs,
    "paddle_proto": test_paddle_proto,
    "paddle_models": test_paddle_models,
}


def run_groups(groups, names):
    """Runs the named groups (all when none), reporting each; 1 if any failed."""
    failed = 0
    for g in names or list(groups):
        t0 = time.time()
        try:
            groups[g]()
            print("PASS %s (%.1fs)" % (g, time.time() - t0))
        except Exception as e:  # report every group, then fail
            failed += 1
            print("FAIL %s: %s" % (g, e))
            import traceback
            traceback.print_exc()
    return 1 if failed else 0


def main():
    global SKIFF
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", required=True)
    ap.add_argument("groups", nargs="*")
    args = ap.parse_args()
    SKIFF = os.path.abspath(args.skiff)
    return run_groups(GROUPS, args.groups)


if __name__ == "__main__":
    sys.exit(main())
