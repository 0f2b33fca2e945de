#!/usr/bin/python3
"""Soak test: one `skiff serve` under SOAK_SECONDS of mixed load, its RSS and
open descriptors sampled every SAMPLE_SECONDS. Run through bench/soak/run.sh.

Load, all at once for the whole run:
  - wrk (requests.lua) on GOOD_CONNS connections cycling through good requests
    on every endpoint: Paddle web, Paddle 0.9, KServe JSON and binary, and the
    GET endpoints (/, /v2, health, metadata, config, stats, /metrics);
  - wrk on BAD_CONNS connections cycling through bad requests (malformed and
    truncated JSON, wrong types and shapes, unknown models, inputs and routes,
    wrong methods, truncated binary tensors, lying header lengths);
  - a checker thread sending good requests with random inputs on fresh
    connections (and over baidu_std with the Python Client, one pooled
    connection; over gRPC with grpcio, one channel) and comparing each answer
    with numpy (the model's weights);
  - an abuser thread: bursts of connections opened and dropped silently, after
    half a request, or with RST mid-body; clients that stop reading mid-answer;
  - with SOAK_OCR (default: when examples/ocr's models and Pillow are there) the
    same server also serves examples/ocr/config.yml, and an OCR thread sends it
    pages of text drawn with Pillow (PNG, JPEG, WebP, one upside down; each answer's
    text checked) and bad images (not base64, truncated, 0x0, a 30000x30000 bomb;
    each must get its err_no).
Pass: RSS grows by less than 2 % from the first minute (median of the three
samples from 60 s on) to the end (median of the last three samples under load); descriptors return to their idle baseline once the load
stops; no good request failed (wrk: every good answer 2xx and no socket error;
checker: every answer right); bad requests got only 4xx (a 5xx is reported);
SIGTERM gives exit 0.
"""
import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import numpy as np
import onnx
import requests
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
UCI = os.path.join(ROOT, "examples", "uci_housing", "uci_housing_model")
SKIFF = os.environ.get("SKIFF", os.path.join(ROOT, "build", "skiff"))
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
SAMPLE = int(os.environ.get("SAMPLE_SECONDS", "10"))
GOOD_CONNS = int(os.environ.get("GOOD_CONNS", "32"))
BAD_CONNS = int(os.environ.get("BAD_CONNS", "16"))
WARMUP = min(60, max(SECONDS // 5, SAMPLE))
OCR_CONFIG = os.path.join(ROOT, "examples", "ocr", "config.yml")
OCR_MODELS = os.path.join(ROOT, "examples", "ocr", "models")
OCR_ASSETS = os.path.join(ROOT, "third_party", "npm", "node_modules", "@gutenye", "ocr-models",
                          "assets")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
X = [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856,
     0.0795, -0.0332]


def weights():
    m = onnx.load(os.path.join(UCI, "model.onnx"))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return init["fc_0.w_0"].astype(np.float64), init["fc_0.b_0"].astype(np.float64)


W, B = weights()


def predict(rows):
    return (np.asarray(rows, np.float32).astype(np.float64).reshape(-1, 13) @ W + B).reshape(-1)


def raw(method, path, body=b"", headers=()):
    h = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    if body or method == "POST":
        h.append("Content-Length: %d" % len(body))
    h += list(headers)
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


def good_requests():
    xs = ",".join(repr(v) for v in X)
    web = ('{"feed":[{"x":[%s]},{"x":[%s]}],"fetch":["price"]}' % (xs, xs)).encode()
    p09 = ('{"tensor":[{"float_data":[%s],"elem_type":1,"name":"x","alias_name":"x",'
           '"shape":[1,13]}],"fetch_var_names":["price"],"log_id":3}' % xs).encode()
    kv = ('{"id":"s","inputs":[{"name":"x","shape":[1,13],"datatype":"FP32","data":[%s]}]}'
          % xs).encode()
    hdr = json.dumps({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32",
                                  "parameters": {"binary_data_size": 52}}],
                      "outputs": [{"name": "price", "parameters": {"binary_data": True}}]}).encode()
    kb = hdr + struct.pack("<13f", *X)
    j = ("Content-Type: application/json",)
    return [
        raw("POST", "/uci/prediction", web, j),
        raw("POST", "/GeneralModelService/inference", p09, j),
        raw("POST", "/v2/models/uci/infer", kv, j),
        raw("POST", "/v2/models/uci/infer", kb, ("Inference-Header-Content-Length: %d" % len(hdr),
                                                 "Content-Type: application/octet-stream")),
        raw("POST", "/uci/prediction", web, j),
        raw("POST", "/v2/models/uci/infer", kv, j),
        raw("GET", "/"),
        raw("GET", "/v2"),
        raw("GET", "/v2/health/live"),
        raw("GET", "/v2/health/ready"),
        raw("GET", "/v2/models/uci"),
        raw("GET", "/v2/models/uci/ready"),
        raw("GET", "/v2/models/uci/config"),
        raw("GET", "/v2/models/uci/stats"),
        raw("GET", "/metrics"),
    ]


def bad_requests():
    xs = ",".join(repr(v) for v in X)
    j = ("Content-Type: application/json",)
    hdr = json.dumps({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32",
                                  "parameters": {"binary_data_size": 52}}]}).encode()
    return [
        raw("POST", "/uci/prediction", b'{"feed":[{"x":[1,2', j),
        raw("POST", "/uci/prediction", b'{"feed":[{"x":[1,2,3]}]}', j),
        raw("POST", "/uci/prediction", ('{"feed":[{"x":["a",%s]}]}' % xs).encode(), j),
        raw("POST", "/uci/prediction", ('{"feed":[{"y":[%s]}]}' % xs).encode(), j),
        raw("POST", "/uci/prediction", b'{"feed":[{"x":' + b"[" * 5000 + b"]" * 5000 + b"}]}", j),
        raw("POST", "/uci/prediction", b'{"feed":[{"x":[\xff\xfe]}]}', j),
        raw("POST", "/nope/prediction", b"{}", j),
        raw("POST", "/GeneralModelService/inference",
            ('{"tensor":[{"float_data":[%s],"elem_type":0,"name":"x","shape":[1,13]}]}' % xs).encode(), j),
        raw("POST", "/GeneralModelService/inference",
            ('{"tensor":[{"float_data":[%s],"elem_type":1,"name":"x","shape":[-1,13]}]}' % xs).encode(), j),
        raw("POST", "/GeneralModelService/inference", b'{"tensor":[],"bogus":1}', j),
        raw("POST", "/v2/models/uci/infer",
            ('{"inputs":[{"name":"x","shape":[2,13],"datatype":"FP32","data":[%s]}]}' % xs).encode(), j),
        raw("POST", "/v2/models/uci/infer",
            ('{"inputs":[{"name":"x","shape":[1,13],"datatype":"INT8","data":[%s]}]}' % xs).encode(), j),
        raw("POST", "/v2/models/uci/infer",
            b'{"inputs":[{"name":"x","shape":[4294967296,4294967296,13],"datatype":"FP32","data":[1]}]}', j),
        raw("POST", "/v2/models/uci/infer", hdr + b"\0" * 20,
            ("Inference-Header-Content-Length: %d" % len(hdr),)),
        raw("POST", "/v2/models/uci/infer", hdr + b"\0" * 52, ("Inference-Header-Content-Length: 9999",)),
        raw("POST", "/v2/models/nope/infer", b"{}", j),
        raw("GET", "/v2/models/nope"),
        raw("GET", "/v2/models/uci/versions/9"),
        raw("GET", "/nope"),
        raw("DELETE", "/v2/models/uci"),
        raw("GET", "/uci/prediction"),
        raw("POST", "/metrics", b"{}"),
    ]


def write_reqs(path, reqs):
    with open(path, "wb") as f:
        for r in reqs:
            f.write(b"%d\n" % len(r) + r)


# ---- the server ----------------------------------------------------------------------

def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def metric_sum(url, name):
    try:
        txt = requests.get(url + "/metrics", timeout=10).text
    except requests.RequestException:
        return -1
    return sum(float(m.group(1)) for m in re.finditer(r"^%s(?:\{[^}]*\})? ([0-9.e+]+)$" % name,
                                                       txt, re.M))


# ---- checker and abuser threads ---------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.checked = 0
        self.failures = []
        self.abuse = 0
        self.ocr_good = 0
        self.ocr_bad = 0
        self.ocr_seconds = 0.0

    def fail(self, what):
        with self.lock:
            if len(self.failures) < 50:
                self.failures.append(what)


def checker(url, stop, st):
    rng = np.random.default_rng(1)
    kinds = ["web", "p09", "kv", "kbin", "brpc", "grpc"]
    # baidu_std through Paddle Serving's Python client (python/ of this checkout)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "python"))
    from paddle_serving_client import Client
    rpc = Client()
    rpc.load_client_config(os.path.join(UCI, "serving_server_conf.prototxt"))
    rpc.connect([url.split("//", 1)[1]])
    # KServe v2 gRPC with grpcio (messages from tests/integration/grpc_tests.py's .proto)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "tests", "integration"))
    import grpc
    import grpc_tests
    kpb, _ = grpc_tests.gen_protos()
    gch = grpc.insecure_channel(url.split("//", 1)[1])
    ginfer = gch.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                             request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=kpb.ModelInferResponse.FromString)
    i = 0
    while not stop.is_set():
        rows = rng.uniform(-2, 2, size=(3, 13)).astype(np.float32)
        want = predict(rows)
        kind = kinds[i % len(kinds)]
        i += 1
        if kind == "grpc":
            try:
                req = kpb.ModelInferRequest(model_name="uci")
                t = req.inputs.add(name="x", datatype="FP32", shape=[3, 13])
                t.contents.fp32_contents.extend(rows.reshape(-1).tolist())
                resp = ginfer(req, timeout=30)
                g = np.frombuffer(resp.raw_output_contents[0], "<f4").astype(np.float64) \
                    if resp.raw_output_contents else np.asarray(
                        resp.outputs[0].contents.fp32_contents, np.float64)
                if g.shape != want.shape or np.any(np.abs(g - want) > 1e-4 * (1 + np.abs(want))):
                    st.fail("checker grpc: got %s want %s" % (g.tolist(), want.tolist()))
            except Exception as e:  # grpc.RpcError carries the status and message
                st.fail("checker grpc: %s: %s" % (type(e).__name__, e))
            with st.lock:
                st.checked += 1
            time.sleep(0.01)
            continue
        if kind == "brpc":
            try:
                got = rpc.predict(feed={"x": rows}, fetch=["price"], batch=True)["price"]
                g = np.asarray(got, np.float64).reshape(-1)
                if g.shape != want.shape or np.any(np.abs(g - want) > 1e-4 * (1 + np.abs(want))):
                    st.fail("checker brpc: got %s want %s" % (g.tolist(), want.tolist()))
            except Exception as e:  # the client's errors carry the server's text
                st.fail("checker brpc: %s: %s" % (type(e).__name__, e))
            with st.lock:
                st.checked += 1
            time.sleep(0.01)
            continue
        try:
            if kind == "web":
                r = requests.post(url + "/uci/prediction", timeout=30,
                                  json={"feed": [{"x": r_.tolist()} for r_ in rows]})
                got = r.json()["result"]["price"] if r.status_code == 200 else None
            elif kind == "p09":
                r = requests.post(url + "/GeneralModelService/inference", timeout=30,
                                  json={"tensor": [{"float_data": rows.reshape(-1).tolist(),
                                                    "elem_type": 1, "name": "x", "shape": [3, 13]}]})
                got = r.json()["outputs"][0]["tensor"][0]["float_data"] if r.status_code == 200 else None
            elif kind == "kv":
                r = requests.post(url + "/v2/models/uci/infer", timeout=30,
                                  json={"inputs": [{"name": "x", "shape": [3, 13], "datatype": "FP32",
                                                    "data": rows.reshape(-1).tolist()}]})
                got = r.json()["outputs"][0]["data"] if r.status_code == 200 else None
            else:
                hdr = json.dumps({"inputs": [{"name": "x", "shape": [3, 13], "datatype": "FP32",
                                              "parameters": {"binary_data_size": 156}}],
                                  "parameters": {"binary_data_output": True}}).encode()
                r = requests.post(url + "/v2/models/uci/infer", data=hdr + rows.tobytes(), timeout=30,
                                  headers={"Inference-Header-Content-Length": str(len(hdr))})
                got = None
                if r.status_code == 200:
                    jl = int(r.headers["Inference-Header-Content-Length"])
                    got = np.frombuffer(r.content[jl:], "<f4")
            if r.status_code != 200:
                st.fail("checker %s: HTTP %d %s" % (kind, r.status_code, r.text[:200]))
            else:
                g = np.asarray(got, np.float64).reshape(-1)
                if g.shape != want.shape or np.any(np.abs(g - want) > 1e-4 * (1 + np.abs(want))):
                    st.fail("checker %s: got %s want %s" % (kind, g.tolist(), want.tolist()))
        except (requests.RequestException, ValueError, KeyError) as e:
            st.fail("checker %s: %s: %s" % (kind, type(e).__name__, e))
        with st.lock:
            st.checked += 1
        time.sleep(0.01)


def abuser(port, stop, st):
    xs = ",".join(repr(v) for v in X)
    big = ('{"feed":[{"x":[%s]}]}' % ",".join([xs] * 20000)).encode()
    n = 0
    while not stop.is_set():
        kind = n % 4
        n += 1
        socks = []
        try:
            if kind == 0:  # opened and dropped, silent
                for _ in range(100):
                    socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            elif kind == 1:  # half a request, then FIN
                for _ in range(50):
                    s = socket.create_connection(("127.0.0.1", port), timeout=10)
                    s.sendall(b"POST /uci/prediction HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n{\"fe")
                    socks.append(s)
            elif kind == 2:  # half a request, then RST
                for _ in range(50):
                    s = socket.create_connection(("127.0.0.1", port), timeout=10)
                    s.sendall(b"POST /v2/models/uci/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n{")
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    socks.append(s)
            else:  # a big answer, read a little of, then RST
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                s.sendall(raw("POST", "/uci/prediction", big))
                s.recv(1000)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                socks.append(s)
        except OSError as e:
            st.fail("abuser: %s" % e)  # the server refusing connections is a failure too
        time.sleep(0.05)
        for s in socks:
            s.close()
        with st.lock:
            st.abuse += len(socks)
        stop.wait(1.0)


def ocr_wanted():
    """Whether the soak mixes in OCR pipeline requests (SOAK_OCR=0/1; default: when it can)."""
    want = os.environ.get("SOAK_OCR", "auto")
    if want == "0":
        return False
    why = None
    try:
        import PIL  # noqa: F401
    except ImportError:
        why = "Pillow is missing"
    if not why and not os.path.exists(FONT):
        why = FONT + " is missing"
    if not why and not all(os.path.exists(os.path.join(OCR_MODELS, m, "model.onnx"))
                           for m in ("det", "cls", "rec")):
        if os.path.exists(os.path.join(OCR_ASSETS, "ch_PP-OCRv4_det_infer.onnx")):
            subprocess.run([os.path.join(ROOT, "examples", "ocr", "prepare.sh"), SKIFF], check=True)
        else:
            why = "the PP-OCR models are missing (examples/ocr/prepare.sh)"
    if why and want == "1":
        sys.exit("soak: SOAK_OCR=1 but " + why)
    if why:
        print("soak: no OCR requests: " + why, flush=True)
    return not why


def ocr_pages():
    """(base64, text) pages of one line each, and (base64, err_no) bad images."""
    from PIL import Image, ImageDraw, ImageFont
    good = []
    for i, (text, fmt, size, turn) in enumerate([
            ("Soak test page", "PNG", 28, False), ("Invoice 20240517", "JPEG", 32, False),
            ("Pipelines stay flat", "WEBP", 24, False), ("Upside down line", "PNG", 30, True)]):
        font = ImageFont.truetype(FONT, size)
        img = Image.new("RGB", (font.getbbox(text)[2] + 2 * size, 3 * size), "white")
        ImageDraw.Draw(img).text((size, size), text, font=font, fill="black")
        if turn:
            img = img.rotate(180)
        b = io.BytesIO()
        img.save(b, fmt)
        good.append((base64.b64encode(b.getvalue()).decode(), text))
    png = base64.b64decode(good[0][0])

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))

    def png_header(w, h):  # a PNG claiming w x h, with 64 kB of zeros as its data
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(bytes(1 << 16))) + chunk(b"IEND", b""))
    bad = [("not base64 at all !", 5000), (base64.b64encode(png[:200]).decode(), 5000),
           (base64.b64encode(b"just some text").decode(), 5000),
           (base64.b64encode(png_header(0, 0)).decode(), 5000),
           (base64.b64encode(png_header(30000, 30000)).decode(), 10000)]
    return good, bad


def ocr_checker(url, stop, st):
    good, bad = ocr_pages()
    i = 0
    while not stop.is_set():
        i += 1
        if i % 3 == 0:
            value, want_no = bad[(i // 3) % len(bad)]
        else:
            value, text = good[i % len(good)]
            want_no = 0
        t0 = time.time()
        try:
            r = requests.post(url + "/ocr/prediction", timeout=120,
                              data=json.dumps({"key": ["image"], "value": [value]}))
            a = r.json()
            if r.status_code != 200 or a.get("err_no") != want_no:
                st.fail("ocr: HTTP %d err_no %s (want %d): %s" % (
                    r.status_code, a.get("err_no"), want_no, a.get("err_msg", "")[:200]))
            elif want_no == 0:
                got = json.loads(dict(zip(a["key"], a["value"]))["text"])
                if ["".join(t.split()) for t in got] != ["".join(text.split())]:
                    st.fail("ocr: read %r, want [%r]" % (got, text))
        except (requests.RequestException, ValueError, KeyError) as e:
            st.fail("ocr: %s: %s" % (type(e).__name__, e))
        with st.lock:
            st.ocr_seconds += time.time() - t0
            if want_no == 0:
                st.ocr_good += 1
            else:
                st.ocr_bad += 1


# ---- main ----------------------------------------------------------------------------------

def run_wrk(reqs_path, conns, seconds, url, out_path):
    env = dict(os.environ, SOAK_REQS=reqs_path)
    return subprocess.Popen(["wrk", "-t", "1", "-c", str(conns), "-d", "%ds" % seconds,
                             "--timeout", "10s", "-s", os.path.join(HERE, "requests.lua"), url],
                            stdout=open(out_path, "w"), stderr=subprocess.STDOUT, env=env)


def parse_wrk(path):
    txt = open(path).read()
    out = {"text": txt}
    m = re.search(r"(\d+) requests in", txt)
    out["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", txt)
    out["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", txt)
    out["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"STATUS 2xx=(\d+) 3xx=(\d+) 4xx=(\d+) 5xx=(\d+)", txt)
    out["status"] = tuple(int(g) for g in m.groups()) if m else None
    m = re.search(r"Requests/sec:\s+([0-9.]+)", txt)
    out["rps"] = float(m.group(1)) if m else 0.0
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="skiff-soak-")
    port_file = os.path.join(tmp, "port")
    log_path = os.path.join(tmp, "serve.log")
    log = open(log_path, "w")
    ocr = ocr_wanted()
    cmd = [SKIFF, "serve", "--model", UCI, "--name", "uci", "--port", "0", "--port_file", port_file]
    env = dict(os.environ)
    if ocr:  # the OCR models see new input shapes all the time (examples/ocr/README.md)
        cmd += ["--pipeline", OCR_CONFIG]
        env["SKIFF_CONV_ALGO"] = "blocked"
    srv = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    t0 = time.time()
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
        if srv.poll() is not None or time.time() - t0 > 60:
            print(open(log_path).read())
            sys.exit("soak: skiff serve did not start")
        time.sleep(0.05)
    port = int(open(port_file).read())
    url = "http://127.0.0.1:%d" % port
    pid = srv.pid
    requests.get(url + "/v2/health/ready", timeout=10)
    time.sleep(1)
    base_fds = proc_fds(pid)
    base_rss = proc_rss_kb(pid)
    print("soak: skiff %s pid %d port %d; %d s of load (wrk %d good + %d bad connections, checker, "
          "abuser%s); samples every %d s; idle: RSS %.1f MB, %d fds" % (
              SKIFF, pid, port, SECONDS, GOOD_CONNS, BAD_CONNS, ", OCR pipeline" if ocr else "",
              SAMPLE, base_rss / 1024, base_fds), flush=True)

    good_path, bad_path = os.path.join(tmp, "good.reqs"), os.path.join(tmp, "bad.reqs")
    write_reqs(good_path, good_requests())
    write_reqs(bad_path, bad_requests())
    wg = run_wrk(good_path, GOOD_CONNS, SECONDS, url, os.path.join(tmp, "wrk-good.txt"))
    wb = run_wrk(bad_path, BAD_CONNS, SECONDS, url, os.path.join(tmp, "wrk-bad.txt"))
    stop = threading.Event()
    st = Stats()
    threads = [threading.Thread(target=checker, args=(url, stop, st), daemon=True),
               threading.Thread(target=abuser, args=(port, stop, st), daemon=True)]
    if ocr:
        threads.append(threading.Thread(target=ocr_checker, args=(url, stop, st), daemon=True))
    for t in threads:
        t.start()

    samples = []  # (t, rss_kb, fds, requests so far)
    start = time.time()
    print("%7s %10s %6s %12s" % ("t(s)", "RSS(MB)", "fds", "requests"), flush=True)
    while True:
        time.sleep(max(0.0, start + (len(samples) + 1) * SAMPLE - time.time()))
        t = time.time() - start
        if srv.poll() is not None:
            print(open(log_path).read()[-3000:])
            sys.exit("soak: FAIL: skiff serve died (exit %s) at %.0f s" % (srv.returncode, t))
        if t > SECONDS + 0.5:
            break
        rss, fds = proc_rss_kb(pid), proc_fds(pid)
        reqs = metric_sum(url, "skiff_http_responses_total")
        samples.append((t, rss, fds, reqs))
        print("%7.0f %10.1f %6d %12.0f" % (t, rss / 1024, fds, reqs), flush=True)
    stop.set()
    wg.wait()
    wb.wait()
    for t in threads:
        t.join(60)

    # Descriptors back to the idle baseline once every client is gone.
    t_end = time.time()
    fds = proc_fds(pid)
    while fds > base_fds and time.time() - t_end < 90:
        time.sleep(1)
        fds = proc_fds(pid)
    settle = time.time() - t_end
    final_rss = proc_rss_kb(pid)

    srv.send_signal(signal.SIGTERM)
    try:
        rc = srv.wait(60)
    except subprocess.TimeoutExpired:
        srv.kill()
        rc = "none (killed after 60 s)"
    log.close()

    good = parse_wrk(os.path.join(tmp, "wrk-good.txt"))
    bad = parse_wrk(os.path.join(tmp, "wrk-bad.txt"))
    under = [s for s in samples if s[0] >= WARMUP] or samples[-1:]
    # Medians of three samples, so one sample taken while a big answer was being
    # built does not decide the verdict either way.
    rss_first = sorted(s[1] for s in under[:3])[len(under[:3]) // 2]
    rss_last = sorted(s[1] for s in under[-3:])[len(under[-3:]) // 2]
    rss_max = max(s[1] for s in under)
    growth = 100.0 * (rss_last - rss_first) / rss_first
    growth_max = 100.0 * (rss_max - rss_first) / rss_first

    print()
    print("soak figures (%d s, %d samples):" % (SECONDS, len(samples)))
    print("  wrk good: %d requests (%.0f/s), non-2xx %d, socket errors %d, status %s" % (
        good["requests"], good["rps"], good["non2xx"], good["socket_errors"], good["status"]))
    print("  wrk bad:  %d requests (%.0f/s), status %s, socket errors %d" % (
        bad["requests"], bad["rps"], bad["status"], bad["socket_errors"]))
    print("  checker:  %d good requests with random inputs checked against numpy, %d wrong or failed"
          % (st.checked, len(st.failures)))
    print("  abuser:   %d connections dropped (silent, half-request FIN/RST, RST mid-answer)" % st.abuse)
    if ocr:
        n = st.ocr_good + st.ocr_bad
        print("  ocr:      %d pages read and checked, %d bad images answered their err_no; "
              "%.0f ms per request on average" % (st.ocr_good, st.ocr_bad,
                                                  1000 * st.ocr_seconds / max(1, n)))
    print("  RSS: idle %.1f MB; first minute (median of the 3 samples from %.0f s) %.1f MB; "
          "end (median of the last 3) %.1f MB; growth %+.2f %%; max after %.0f s %.1f MB "
          "(%+.2f %%); after the load %.1f MB" % (
              base_rss / 1024, under[0][0], rss_first / 1024, rss_last / 1024, growth, WARMUP,
              rss_max / 1024, growth_max, final_rss / 1024))
    print("  fds: idle %d; max under load %d; %d after the load (%.0f s to settle)" % (
        base_fds, max(s[2] for s in samples), fds, settle))
    print("  SIGTERM: exit %s" % rc)

    problems = []
    if growth >= 2.0:
        problems.append("RSS grew %.2f %% after the first minute (limit 2 %%)" % growth)
    if fds > base_fds:
        problems.append("%d descriptors after the load, %d idle" % (fds, base_fds))
    if good["requests"] == 0 or good["non2xx"] or good["socket_errors"]:
        problems.append("good wrk requests failed: non-2xx %d, socket errors %d (of %d)" % (
            good["non2xx"], good["socket_errors"], good["requests"]))
    if st.failures:
        problems.append("checker/abuser failures: " + "; ".join(st.failures[:5]))
    if bad["status"] and (bad["status"][0] or bad["status"][3]):
        problems.append("bad requests answered 2xx %d / 5xx %d times" % (bad["status"][0],
                                                                          bad["status"][3]))
    if rc != 0:
        problems.append("exit status %s after SIGTERM" % rc)
    if problems:
        print("soak: FAIL\n  " + "\n  ".join(problems))
        print("  (logs in %s)" % tmp)
        return 1
    print("soak: PASS")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
