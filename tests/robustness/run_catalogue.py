#!/usr/bin/python3
"""The bad-input catalogue: every case in tests/robustness/cases/*.cases sent to
one `skiff serve` process, each followed by a good request whose answer is
checked against numpy.

    run_catalogue.py --skiff build/skiff [--filter SUBSTRING] [--list] [--strict] [-v]

The driver starts the server itself on 127.0.0.1 with a free port (the uci_housing
example model, served as "uci"), runs the cases in file order, then sends SIGTERM
and requires exit status 0 and a stderr free of sanitizer reports (under an ASan
build LeakSanitizer runs at that exit, so a clean exit also means no leak).

Per case it checks: the expected status (or "close": the server hung up without an
answer) and a fragment of the error message (from the JSON "error", "err_msg" or
"result", else the raw body); then that the server still answers a good request of
the same API with the right prediction. A case may carry `known <reason>`: a
defect already reported and not fixed yet; it is run and reported as XFAIL (or
XPASS when it starts passing) without failing the run, unless --strict.
A server crash is always a failure; the driver then restarts the server so the
rest of the catalogue still runs.

Case file format (see also docs/robustness.md): blocks separated by blank
lines, one `key value` per line, `#` comments:
    case      NAME                      starts a block
    send      METHOD PATH [VERSION]     request line (HTTP/1.1 by default); the driver
                                        adds Host and Content-Length unless given
    header    Name: value               repeatable; a Content-Length here replaces
                                        the automatic one (a lying length)
    body      TEXT                      body, with $(...) generators (below)
    body-esc  TEXT                      same, after Python bytes escapes (\\xff)
    tail      TEXT                      KServe binary part after the JSON body; sets
                                        Inference-Header-Content-Length = len(body)
                                        unless a header gives it
    length    none                      send no Content-Length
    chunked                             send the body with Transfer-Encoding: chunked
    raw       TEXT                      exact bytes to send instead (escapes, $(...))
    scenario  NAME [ARG ...]            a raw-TCP scenario implemented here
    expect    STATUS[|STATUS..] [FRAGMENT]  STATUS: a code or "close"
    check     rows=N | bias | value | null   extra checks of a 200 answer
    good      paddle_web|paddle09|kserve|kserve_bin|all   good request after it
    known     REASON                    a known, reported server defect (XFAIL)
Generators: $(x) the 13 demo features; $(x N) N features; $(zeros N); $(rep N TEXT);
$(f32x) the features as float32 bytes; $(f32 N) N float32 zeros; $(bytes N) N zero
bytes; $(gzip TEXT) TEXT gzip-compressed; $(gzipcut TEXT) its first half; $(deflate TEXT)
zlib-compressed; $(gzbomb N) N spaces gzip-compressed. N may be written 1e7. Generators do
not nest.
"""
import argparse
import base64
import codecs
import glob
import gzip
import io
import zlib
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import onnx
import requests
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
UCI = os.path.join(ROOT, "examples", "uci_housing", "uci_housing_model")
DEMO_X = [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919,
          0.1856, 0.0795, -0.0332]
MODEL = "uci"
# Short timeouts so the connection-level cases finish in seconds.
REQUEST_TIMEOUT_S = 5
IDLE_TIMEOUT_S = 4
MAX_BODY = 48 << 20
SERVER_FLAGS = ["--request_timeout_s", str(REQUEST_TIMEOUT_S), "--idle_timeout_s",
                str(IDLE_TIMEOUT_S), "--max_body_size", str(MAX_BODY), "--grace_s", "10"]
SAN_RE = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|"
                    r"SUMMARY: \w*Sanitizer|ThreadSanitizer")
VERBOSE = False


class CaseFail(Exception):
    pass


class CaseSkip(Exception):
    """The case needs what this host lacks (models, Pillow, grpcio, Python ops)."""


def log(*a):
    print(*a, flush=True)


def vlog(*a):
    if VERBOSE:
        print("   ", *a, flush=True)


# ---- the model's true answers -------------------------------------------------------

def uci_weights():
    m = onnx.load(os.path.join(UCI, "model.onnx"))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return init["fc_0.w_0"].astype(np.float64), init["fc_0.b_0"].astype(np.float64)


W, B = uci_weights()


def predict(rows):
    x = np.asarray(rows, dtype=np.float32).astype(np.float64).reshape(-1, 13)
    return (x @ W + B).reshape(-1)


def close_to(got, want, tol=1e-4):
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    return got.shape == want.shape and bool(np.all(np.abs(got - want) <= tol * (1 + np.abs(want))))


# ---- case files ---------------------------------------------------------------------

def num(s):
    return int(float(s))


GEN_RE = re.compile(rb"\$\(([a-z0-9]+)(?: ([^)]*))?\)")


def expand(data):
    """Expands $(...) generators in bytes."""
    def one(m):
        name = m.group(1).decode()
        arg = (m.group(2) or b"").decode("latin-1")
        if name == "x":
            n = num(arg) if arg else 13
            return ",".join(repr(DEMO_X[i % 13]) for i in range(n)).encode()
        if name == "zeros":
            n = num(arg)
            return b"0" + b",0" * (n - 1) if n > 0 else b""
        if name == "rep":
            n, _, text = arg.partition(" ")
            return text.encode("latin-1") * num(n)
        if name == "f32x":
            return struct.pack("<13f", *DEMO_X)
        if name == "f32":
            return bytes(4 * num(arg))
        if name == "bytes":
            return bytes(num(arg))
        if name == "gzip":
            return gzip.compress(arg.encode("latin-1"))
        if name == "gzipcut":  # the stream's first half
            z = gzip.compress(arg.encode("latin-1"))
            return z[:len(z) // 2]
        if name == "deflate":
            return zlib.compress(arg.encode("latin-1"))
        if name == "image":  # base64 of an image from IMAGES
            return gen_image(arg).encode()
        if name == "b64":  # TEXT in base64
            return base64.b64encode(arg.encode("latin-1"))
        if name == "b64rand":  # N random bytes in base64
            return base64.b64encode(np.random.default_rng(7).bytes(num(arg)))
        if name == "gzbomb":  # N spaces, gzip-compressed to about N/1000 bytes
            return gzip.compress(b" " * num(arg), 9)
        raise ValueError("unknown generator $(%s)" % name)
    return GEN_RE.sub(one, data)


def unescape(text):
    return codecs.escape_decode(text.encode("latin-1"))[0]


class Case:
    def __init__(self, name, src):
        self.name = name
        self.src = src
        self.method = self.path = None
        self.version = "HTTP/1.1"
        self.headers = []
        self.body = None
        self.tail = None
        self.length = "auto"
        self.chunked = False
        self.raw = None
        self.scenario = None
        self.expect_status = None
        self.expect_msg = ""
        self.checks = []
        self.good = None
        self.known = None
        self.server = "uci"
        self.errno = None
        self.skip = None

    def family(self):
        if self.good:
            return self.good
        if self.server != "uci":
            return self.server
        p = self.path or ""
        if p.startswith("/v2/models/" + MODEL) and self.tail is not None:
            return "kserve_bin"
        if p.startswith("/v2"):
            return "kserve"
        if p.startswith("/GeneralModelService"):
            return "paddle09"
        if p.endswith("/prediction"):
            return "paddle_web"
        return "all"

    def request_bytes(self):
        if self.raw is not None:
            return expand(self.raw)
        body = self.body or b""
        if self.tail is not None:
            body = body + self.tail
        lines = ["%s %s %s" % (self.method, self.path, self.version)]
        names = {h.split(":", 1)[0].strip().lower() for h in self.headers}
        if "host" not in names:
            lines.append("Host: 127.0.0.1")
        if self.tail is not None and "inference-header-content-length" not in names:
            lines.append("Inference-Header-Content-Length: %d" % len(self.body or b""))
        if self.chunked:
            lines.append("Transfer-Encoding: chunked")
        elif "content-length" not in names and self.length != "none" and (
                body or self.method in ("POST", "PUT", "PATCH")):
            lines.append("Content-Length: %d" % len(body))
        lines += self.headers
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.chunked:
            parts = [head]
            for i in range(0, len(body), 1 << 16):
                c = body[i:i + (1 << 16)]
                parts.append(b"%x\r\n" % len(c) + c + b"\r\n")
            parts.append(b"0\r\n\r\n")
            return b"".join(parts)
        return head + body


def load_cases(paths):
    cases = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        cur = None
        for lineno, line in enumerate(lines, 1):
            where = "%s:%d" % (os.path.relpath(path, HERE), lineno)
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            key, _, val = line.lstrip().partition(" ")
            val = val.strip() if key not in ("body", "body-esc", "tail", "raw") else val.lstrip(" ")
            if key == "case":
                cur = Case(val, where)
                cases.append(cur)
                continue
            if cur is None:
                raise SystemExit("%s: '%s' before any 'case'" % (where, key))
            if key == "send":
                parts = val.split()
                cur.method = parts[0]
                if len(parts) > 2 and parts[-1].startswith("HTTP/"):
                    cur.version = parts.pop()
                target = " ".join(parts[1:])  # a generator may hold spaces
                cur.path = expand(target.encode("latin-1")).decode("latin-1")
            elif key == "header":
                cur.headers.append(expand(unescape(val)).decode("latin-1"))
            elif key == "body":
                try:
                    cur.body = expand(val.encode("utf-8"))
                except CaseSkip as e:  # an image Pillow would have written
                    cur.body, cur.skip = b"", str(e)
            elif key == "body-esc":
                cur.body = expand(unescape(val))
            elif key == "tail":
                cur.tail = expand(unescape(val))
            elif key == "length":
                cur.length = val
            elif key == "chunked":
                cur.chunked = True
            elif key == "raw":
                cur.raw = unescape(val)
            elif key == "scenario":
                cur.scenario = val.split()
            elif key == "expect":
                st, _, msg = val.partition(" ")
                cur.expect_status = st.split("|")
                cur.expect_msg = msg.strip()
            elif key == "check":
                cur.checks.append(val)
            elif key == "good":
                cur.good = val
            elif key == "known":
                cur.known = val
            elif key == "server":
                if val not in SERVER_KINDS:
                    raise SystemExit("%s: unknown server '%s'" % (where, val))
                cur.server = val
            elif key == "errno":
                cur.errno = int(val)
            else:
                raise SystemExit("%s: unknown key '%s'" % (where, key))
    for c in cases:
        if c.expect_status is None:
            raise SystemExit("%s: case %s has no 'expect'" % (c.src, c.name))
        if c.method is None and c.raw is None and c.scenario is None:
            raise SystemExit("%s: case %s sends nothing" % (c.src, c.name))
    names = [c.name for c in cases]
    dups = {n for n in names if names.count(n) > 1}
    if dups:
        raise SystemExit("duplicate case names: %s" % ", ".join(sorted(dups)))
    return cases


# ---- a raw HTTP/1.1 client ------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def message(self):
        try:
            j = json.loads(self.body.decode("utf-8"))
            if isinstance(j, dict):
                for k in ("error", "err_msg", "result"):
                    if isinstance(j.get(k), str):
                        return j[k]
        except (ValueError, UnicodeDecodeError):
            pass
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "%d %r" % (self.status, self.body[:200])


class Conn:
    """A socket with a read buffer; read_response parses one HTTP response."""

    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.eof = False
        self.send_err = None

    def send_all_bg(self, data):
        """Sends in a thread, so a server answering early (413) and closing does
        not deadlock us; send errors (EPIPE, ECONNRESET) are kept, not raised."""
        def run():
            try:
                self.sock.sendall(data)
            except OSError as e:
                self.send_err = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def _fill(self, deadline):
        if self.eof:
            return False
        left = deadline - time.time()
        if left <= 0:
            raise socket.timeout("read deadline")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(1 << 16)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def read_response(self, timeout=30.0, head=False):
        """A Response, or None when the server closed before sending anything."""
        deadline = time.time() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                if self.buf:
                    raise CaseFail("connection closed inside a response head: %r" % self.buf[:200])
                return None
        head_b, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head_b.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            raise CaseFail("bad status line %r" % lines[0])
        status = int(m.group(1))
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        if head or status in (204, 304) or 100 <= status < 200:
            return Response(status, headers, b"")
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    if not self._fill(deadline):
                        raise CaseFail("connection closed inside a chunked body")
                size_l, _, self.buf = self.buf.partition(b"\r\n")
                size = int(size_l.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    if not self._fill(deadline):
                        raise CaseFail("connection closed inside a chunk")
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
            return Response(status, headers, body)
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                if not self._fill(deadline):
                    raise CaseFail("connection closed after %d of %d body bytes" % (len(self.buf), n))
            body, self.buf = self.buf[:n], self.buf[n:]
            return Response(status, headers, body)
        while self._fill(deadline):
            pass
        body, self.buf = self.buf, b""
        return Response(status, headers, body)

    def wait_closed(self, timeout):
        """True when the server closes the connection within timeout seconds
        (data it sends meanwhile is kept in self.buf)."""
        deadline = time.time() + timeout
        try:
            while self._fill(deadline):
                pass
        except (socket.timeout, TimeoutError):
            return False
        return True

    def reset(self):
        """Closes with RST instead of FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self):
        self.sock.close()


# ---- the server -------------------------------------------------------------------------

def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def settled_fds(srv):
    """The server's descriptor count once the connections just closed are gone."""
    n = srv.fds()
    for _ in range(20):
        time.sleep(0.1)
        m = srv.fds()
        if m == n:
            break
        n = m
    return n


class ServerUnavailable(Exception):
    """A server kind this host cannot run (its cases are skipped)."""


class Server:
    def __init__(self, skiff, kind="uci"):
        self.kind = kind
        self.tmp = tempfile.mkdtemp(prefix="skiff-robust-")
        self.port_file = os.path.join(self.tmp, "port")
        self.err_path = os.path.join(self.tmp, "stderr.log")
        env = dict(os.environ)
        # LeakSanitizer is what proves "no leak"; make sure a sanitized server has it on
        # and stops at the first report (the Makefile sets the same).
        asan = env.get("ASAN_OPTIONS", "")
        if "detect_leaks" not in asan:
            asan = (asan + ":" if asan else "") + "detect_leaks=1"
        if "halt_on_error" not in asan:
            asan += ":halt_on_error=1"
        env["ASAN_OPTIONS"] = asan
        if "LSAN_OPTIONS" not in env:
            env["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0" % os.path.join(
                ROOT, "tools", "lsan.supp")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        self.err = open(self.err_path, "w")
        if kind == "uci":
            cmd = [skiff, "serve", "--model", UCI, "--name", MODEL]
        else:
            cmd = [skiff, "serve", "--pipeline", SERVER_KINDS[kind]["config"]]
            env.update(SERVER_KINDS[kind].get("env", {}))
        cmd += ["--port", "0", "--port_file", self.port_file] + SERVER_FLAGS
        self.proc = subprocess.Popen(cmd, stdout=self.err, stderr=subprocess.STDOUT, env=env)
        t0 = time.time()
        self.port = None
        while time.time() - t0 < 120:
            if self.proc.poll() is not None:
                why = next((w for w in SERVER_KINDS.get(kind, {}).get("unavailable", [])
                            if w in self.logs()), None)
                if why:
                    raise ServerUnavailable("skiff serve --pipeline says: %s" % why)
                raise SystemExit("skiff serve exited at start (%s):\n%s" % (self.proc.returncode,
                                                                              self.logs()))
            try:
                with open(self.port_file) as f:
                    t = f.read().strip()
                if t:
                    self.port = int(t)
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        if self.port is None:
            self.proc.kill()
            raise SystemExit("skiff serve did not start:\n" + self.logs())
        self.url = "http://127.0.0.1:%d" % self.port

    def alive(self):
        return self.proc.poll() is None

    def logs(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def fds(self):
        return fd_count(self.proc.pid)

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.err.close()
                return "did not exit within %ds of SIGTERM" % timeout
        self.err.close()
        return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.err.closed:
            self.err.close()


# ---- good requests ----------------------------------------------------------------------

_good_seq = [0]


def good_rows():
    """Two rows of features, different each call, so a stale or mixed-up answer shows."""
    _good_seq[0] += 1
    rng = np.random.default_rng(_good_seq[0])
    return rng.uniform(-1, 1, size=(2, 13)).astype(np.float32)


def good_request(srv, family, timeout=60):
    rows = good_rows()
    want = predict(rows)
    url = srv.url
    if family == "paddle_web":
        r = requests.post("%s/%s/prediction" % (url, MODEL),
                          json={"feed": [{"x": rows[0].tolist()}, {"x": rows[1].tolist()}],
                                "fetch": ["price"]}, timeout=timeout)
        got = r.json()["result"]["price"] if r.status_code == 200 else None
    elif family == "paddle09":
        r = requests.post(url + "/GeneralModelService/inference",
                          json={"tensor": [{"float_data": rows.reshape(-1).tolist(), "elem_type": 1,
                                            "name": "x", "alias_name": "x", "shape": [2, 13]}],
                                "fetch_var_names": ["price"], "log_id": 7}, timeout=timeout)
        got = r.json()["outputs"][0]["tensor"][0]["float_data"] if r.status_code == 200 else None
    elif family == "kserve":
        r = requests.post("%s/v2/models/%s/infer" % (url, MODEL),
                          json={"id": "good", "inputs": [{"name": "x", "shape": [2, 13],
                                                          "datatype": "FP32",
                                                          "data": rows.reshape(-1).tolist()}]},
                          timeout=timeout)
        got = r.json()["outputs"][0]["data"] if r.status_code == 200 else None
    elif family == "kserve_bin":
        hdr = json.dumps({"inputs": [{"name": "x", "shape": [2, 13], "datatype": "FP32",
                                      "parameters": {"binary_data_size": 104}}],
                          "outputs": [{"name": "price", "parameters": {"binary_data": True}}]}
                         ).encode()
        r = requests.post("%s/v2/models/%s/infer" % (url, MODEL), data=hdr + rows.tobytes(),
                          headers={"Inference-Header-Content-Length": str(len(hdr)),
                                   "Content-Type": "application/octet-stream"}, timeout=timeout)
        got = None
        if r.status_code == 200:
            jl = int(r.headers["Inference-Header-Content-Length"])
            got = np.frombuffer(r.content[jl:], dtype="<f4")
    else:
        raise ValueError(family)
    if r.status_code != 200:
        raise CaseFail("good %s request after it got %d: %s" % (family, r.status_code, r.text[:300]))
    if not close_to(got, want):
        raise CaseFail("good %s request after it got %r, want %r" % (family, got, want.tolist()))


def good_after(srv, fam):
    if fam.startswith("pipe_"):
        good_pipe(srv, fam)
        return
    fams = ["paddle_web", "paddle09", "kserve", "kserve_bin"] if fam == "all" else [fam]
    for f in fams:
        good_request(srv, f)


# ---- pipelines (cases/80_pipeline.cases) ----------------------------------------------------
# Three more servers, started when a case first needs one (`server KIND`): skiff serve
# --pipeline with examples/pipeline_uci/config.yml, examples/ocr/config.yml (PP-OCR: skipped
# when the npm models, Pillow or the font are missing) and pipelines/config.yml (a Python op
# that misbehaves on request: skipped when skiff has no embedded Python). A pipeline answers
# errors with HTTP 200 and Paddle's err_no; `errno N` checks it.

PIPE_DIR = os.path.join(HERE, "pipelines")
OCR_ASSETS = os.path.join(ROOT, "third_party", "npm", "node_modules", "@gutenye", "ocr-models",
                          "assets")
OCR_MODELS = os.path.join(ROOT, "examples", "ocr", "models")
OCR_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
NO_PYTHON = "Python ops need skiff built with Python"
SERVER_KINDS = {
    "uci": {},
    "pipe_uci": {"config": os.path.join(ROOT, "examples", "pipeline_uci", "config.yml")},
    # blocked convolutions: the OCR models see a new input shape with nearly every image
    # (examples/ocr/README.md)
    "pipe_ocr": {"config": os.path.join(ROOT, "examples", "ocr", "config.yml"),
                 "env": {"SKIFF_CONV_ALGO": "blocked"}},
    "pipe_py": {"config": os.path.join(PIPE_DIR, "config.yml"),
                "env": {"PYTHONPATH": os.path.join(ROOT, "python")},
                "unavailable": [NO_PYTHON, "import numpy"]},
}


def ocr_ready(skiff):
    """None when the OCR pipeline can run here (its models written by
    examples/ocr/prepare.sh when missing), else the reason it cannot."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        return "Pillow is missing (it draws the good requests' text)"
    if not os.path.exists(OCR_FONT):
        return "%s is missing" % OCR_FONT
    if all(os.path.exists(os.path.join(OCR_MODELS, m, "model.onnx")) for m in ("det", "cls", "rec")):
        return None
    if not os.path.exists(os.path.join(OCR_ASSETS, "ch_PP-OCRv4_det_infer.onnx")):
        return "the PP-OCR models are missing (scripts/install-deps.sh puts them in third_party)"
    r = subprocess.run([os.path.join(ROOT, "examples", "ocr", "prepare.sh"), skiff],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit("examples/ocr/prepare.sh failed:\n%s%s" % (r.stdout, r.stderr))
    return None


def pipe_post(srv, name, keys, values, timeout=120):
    r = requests.post("%s/%s/prediction" % (srv.url, name), timeout=timeout,
                      data=json.dumps({"key": keys, "value": values}))
    if r.status_code != 200:
        raise CaseFail("good %s request after it got HTTP %d: %s" % (name, r.status_code,
                                                                     r.text[:300]))
    ans = r.json()
    if ans.get("err_no") != 0:
        raise CaseFail("good %s request after it got err_no %s: %s" % (
            name, ans.get("err_no"), ans.get("err_msg", "")[:300]))
    return dict(zip(ans["key"], ans["value"]))


_text_pages = {}


def text_page(text, fmt="PNG", size=32, rotate=False):
    """An image of one line of text drawn with Pillow, as encoded bytes."""
    key = (text, fmt, size, rotate)
    if key not in _text_pages:
        from PIL import Image, ImageDraw, ImageFont
        font = ImageFont.truetype(OCR_FONT, size)
        w = font.getbbox(text)[2] + 2 * size
        img = Image.new("RGB", (w, 3 * size), "white")
        ImageDraw.Draw(img).text((size, size), text, font=font, fill="black")
        if rotate:
            img = img.rotate(180)
        b = io.BytesIO()
        img.save(b, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        _text_pages[key] = b.getvalue()
    return _text_pages[key]


GOOD_OCR_LINES = ["Skiff 2024", "Robust pipelines", "OCR under load"]


def good_pipe(srv, kind):
    seq = _good_seq[0] = _good_seq[0] + 1
    if kind == "pipe_uci":
        rows = good_rows()[:1]
        got = pipe_post(srv, "uci", ["x"], [", ".join(repr(float(v)) for v in rows[0])])
        if list(got) != ["price"] or not close_to([float(got["price"])], predict(rows)):
            raise CaseFail("good pipe_uci request after it got %r, want %r" % (
                got, predict(rows).tolist()))
    elif kind == "pipe_ocr":
        line = GOOD_OCR_LINES[seq % len(GOOD_OCR_LINES)]
        page = base64.b64encode(text_page(line, "JPEG" if seq % 2 else "PNG")).decode()
        got = pipe_post(srv, "ocr", ["image"], [page])
        text = json.loads(got.get("text", "null"))
        if not text or "".join(text[0].split()) != "".join(line.split()):
            raise CaseFail("good pipe_ocr request after it read %r, want [%r]" % (text, line))
    elif kind == "pipe_py":
        word = "word%d" % seq
        got = pipe_post(srv, "py", ["mode", "text"], ["ok", word])
        if got != {"text": word.upper()}:
            raise CaseFail("good pipe_py request after it got %r" % got)
    else:
        raise ValueError(kind)


# Images for $(image NAME): base64 text of damaged, tiny and huge images.

def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def png(w, h, rows=None, colour=2, depth=8, idat=None):
    """A PNG written here (no Pillow): colour type 2 (RGB) by default; rows: the raw
    scanlines (filter byte first) or, when None, all zero of the size the header says."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    if idat is None:
        if rows is None:
            per = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
            line = bytes(1 + (w * per * depth + 7) // 8)
            co = zlib.compressobj(9)
            parts = [co.compress(line) for _ in range(h)]
            idat = b"".join(parts) + co.flush()
        else:
            idat = zlib.compress(rows, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + \
        png_chunk(b"IEND", b"")


def pil_image(w, h, fmt, colour=(255, 255, 255)):
    from PIL import Image
    b = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(b, fmt)
    return b.getvalue()


def jpeg_claiming(w, h):
    """A small JPEG whose SOF0 header says w x h."""
    data = bytearray(pil_image(16, 16, "JPEG"))
    at = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, h, w)
    return bytes(data)


def flip_middle(data, n=64):
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0x5a for b in data[mid:mid + n]) + data[mid + n:]


def spoil_after(data, marker, at, n=8):
    """data with n bytes, at bytes after the first marker, turned to 0xff: a damaged
    table or frame header (damage in entropy-coded data is often decoded anyway)."""
    i = data.find(marker)
    if i < 0:
        raise ValueError("no %r in the image" % marker)
    i += at
    return data[:i] + b"\xff" * n + data[i + n:]


IMAGES = {
    "text_png": lambda: text_page(GOOD_OCR_LINES[0]),
    "text_webp": lambda: text_page(GOOD_OCR_LINES[1], "WEBP"),
    "text_upside_down": lambda: text_page(GOOD_OCR_LINES[2], "JPEG", rotate=True),
    "jpeg_truncated": lambda: text_page(GOOD_OCR_LINES[0], "JPEG")[:400],
    "png_truncated": lambda: text_page(GOOD_OCR_LINES[0])[:300],
    "webp_truncated": lambda: text_page(GOOD_OCR_LINES[1], "WEBP")[:200],
    # a Huffman table with impossible code counts; a VP8 frame without its start code
    "jpeg_bad_huffman": lambda: spoil_after(text_page(GOOD_OCR_LINES[0], "JPEG"), b"\xff\xc4", 5),
    "png_corrupt": lambda: flip_middle(text_page(GOOD_OCR_LINES[0])),
    "webp_bad_frame": lambda: spoil_after(text_page(GOOD_OCR_LINES[1], "WEBP"), b"VP8 ", 11, 3),
    "png_signature_only": lambda: b"\x89PNG\r\n\x1a\n",
    "jpeg_soi_only": lambda: b"\xff\xd8\xff",
    "webp_riff_only": lambda: b"RIFF\x10\x00\x00\x00WEBPVP8 ",
    "png_0x0": lambda: png(0, 0, rows=b""),
    "png_0x10": lambda: png(0, 10, rows=b"\x00" * 10),
    "jpeg_0x0": lambda: jpeg_claiming(0, 0),
    "png_1x1": lambda: png(1, 1, rows=b"\x00\xff\xff\xff"),
    "jpeg_1x1": lambda: pil_image(1, 1, "JPEG"),
    "webp_1x1": lambda: pil_image(1, 1, "WEBP"),
    "png_1x4000": lambda: png(1, 4000),
    "png_4000x1": lambda: png(4000, 1),
    # 30000 x 30000 claimed by a few hundred bytes: past max_pixels, refused before
    # anything is allocated
    "png_bomb": lambda: png(30000, 30000, idat=zlib.compress(bytes(1 << 16), 9)),
    "jpeg_bomb": lambda: jpeg_claiming(30000, 30000),
    # a real one under the limit: 4000 x 4000 black pixels (48 MB decoded) from 47 kB
    "png_zeros_4000": lambda: png(4000, 4000),
    "png_16bit_grey": lambda: png(2, 2, rows=b"\x00" + b"\xff\xff" * 2 + b"\x00" + b"\x00" * 4,
                                  colour=0, depth=16),
    "png_bad_crc": lambda: (lambda d: d[:29] + bytes([d[29] ^ 1]) + d[30:])(png(8, 8)),
    "png_palette_no_plte": lambda: png(4, 4, colour=3),
    "gif": lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
    "bmp": lambda: b"BM" + bytes(60),
}


def gen_image(name):
    fn = IMAGES.get(name)
    if fn is None:
        raise ValueError("unknown image '%s'" % name)
    try:
        return base64.b64encode(fn()).decode()
    except ImportError:
        raise CaseSkip("Pillow is missing")


# gRPC PipelineService/inference, protobuf by hand (the pb_* helpers above), through
# grpcio's generic unary call; the answer becomes a Response of status 200 and Paddle's
# JSON shape so that `errno` and the message fragment are checked as for HTTP.

PIPE_METHOD = "/baidu.paddle_serving.pipeline_serving.PipelineService/inference"


def pipe_pb_request(keys, values, name=None, tensors=b""):
    out = b"".join(pb_len(1, k) for k in keys) + b"".join(pb_len(2, v) for v in values)
    out += tensors
    if name is not None:
        out += pb_len(4, name)
    return out


def rd_varint(b, i):
    """The protobuf varint at b[i:] -> (value, index after it)."""
    v = shift = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return v, i


def pipe_pb_answer(data):
    err_no, msg, keys, values, i = 0, b"", [], [], 0
    while i < len(data):
        key, i = rd_varint(data, i)
        if key & 7 == 0:
            v, i = rd_varint(data, i)
            if key >> 3 == 1:
                err_no = v - (1 << 64) if v >= 1 << 63 else v
        elif key & 7 == 2:
            n, i = rd_varint(data, i)
            f, i = data[i:i + n], i + n
            {2: lambda: None, 3: lambda: keys.append(f.decode()),
             4: lambda: values.append(f.decode())}.get(key >> 3, lambda: None)()
            if key >> 3 == 2:
                msg = f
        else:
            raise CaseFail("answer has wire type %d" % (key & 7))
    return {"err_no": err_no, "err_msg": msg.decode("utf-8", "replace"), "key": keys,
            "value": values}


def sc_grpc_pipe(srv, case, args):
    """One PipelineService call over gRPC (args[0] names it)."""
    try:
        import grpc
    except ImportError:
        raise CaseSkip("grpcio is missing")
    x = ", ".join(repr(v) for v in DEMO_X).encode()
    t_bad = pb_len(3, pb_int(20, 99) + pb_len(23, b"t") + pb_int(21, 1) +
                   pb_floats(2, [1.0]))
    t_short = pb_len(3, pb_int(20, 1) + pb_len(23, b"t") + pb_len(21, pb_varint(2) + pb_varint(3))
                     + pb_floats(2, [1.0, 2.0]))
    reqs = {
        "wrong_name": lambda: pipe_pb_request([b"x"], [x], name=b"not_uci"),
        "kv_mismatch": lambda: pipe_pb_request([b"x", b"y"], [x]),
        "unknown_elem_type": lambda: pipe_pb_request([b"x"], [x], tensors=t_bad),
        "shape_count": lambda: pipe_pb_request([b"x"], [x], tensors=t_short),
        "garbage": lambda: b"\xff\xfe\xfd not protobuf",
        "invalid_utf8": lambda: pipe_pb_request([b"x"], [b"\xff\xfe"]),
    }
    with grpc.insecure_channel("127.0.0.1:%d" % srv.port) as ch:
        call = ch.unary_unary(PIPE_METHOD)
        try:
            data = call(reqs[args[0]](), timeout=30)
        except grpc.RpcError as e:
            return Response(400, {}, json.dumps({"err_no": -1, "err_msg": "gRPC %s: %s" % (
                e.code(), e.details())}).encode())
    return Response(200, {}, json.dumps(pipe_pb_answer(data)).encode())


def check_pipe_body(case, resp):
    """`check` lines of a pipeline answer: key=NAME, nokey=NAME, has=TEXT (in the body)."""
    j = resp.json()
    keys = j.get("key", [])
    for chk in case.checks:
        what, _, arg = chk.partition("=")
        if what == "key" and arg not in keys:
            raise CaseFail("answer lacks key %r: %r" % (arg, resp.body[:300]))
        elif what == "nokey" and arg in keys:
            raise CaseFail("answer has key %r: %r" % (arg, resp.body[:300]))
        elif what == "has" and arg.encode() not in resp.body:
            raise CaseFail("answer lacks %r: %r" % (arg, resp.body[:300]))
        elif what not in ("key", "nokey", "has"):
            raise CaseFail("unknown check %r" % chk)


# ---- checks of a case's outcome ------------------------------------------------------------

def check_outcome(case, resp):
    """resp: a Response, or None for a connection closed without an answer."""
    got = "close" if resp is None else str(resp.status)
    if got not in case.expect_status:
        detail = "" if resp is None else ": " + resp.body[:300].decode("utf-8", "replace")
        raise CaseFail("expected %s, got %s%s" % ("|".join(case.expect_status), got, detail))
    if resp is None:
        return
    msg = resp.message()
    if case.expect_msg and case.expect_msg.lower() not in msg.lower():
        raise CaseFail("status %d but message %r lacks %r" % (resp.status, msg[:300], case.expect_msg))
    if case.errno is not None:
        try:
            got_no = resp.json().get("err_no")
        except (ValueError, UnicodeDecodeError, AttributeError):
            got_no = None
        if got_no != case.errno:
            raise CaseFail("expected err_no %d, got %s: %s" % (
                case.errno, got_no, resp.body[:300].decode("utf-8", "replace")))
    if case.server != "uci" and case.checks:
        check_pipe_body(case, resp)
    elif resp.status == 200 and case.checks:
        check_ok_body(case, resp)


def outputs_of(resp):
    """The prediction values of a 200 answer in any of the three formats."""
    jl = resp.headers.get("inference-header-content-length")
    if jl is not None:  # KServe binary answer: JSON, then the raw outputs
        return np.frombuffer(resp.body[int(jl):], dtype="<f4").tolist()
    j = resp.json()
    if "result" in j:
        return j["result"]["price"]
    if "outputs" in j and j["outputs"] and "tensor" in j["outputs"][0]:
        return j["outputs"][0]["tensor"][0].get("float_data", [])
    return j["outputs"][0]["data"]


def check_ok_body(case, resp):
    resp_vals = outputs_of(resp)
    flat = []

    def walk(v):
        if isinstance(v, list):
            for e in v:
                walk(e)
        else:
            flat.append(v)
    walk(resp_vals)
    for chk in case.checks:
        if chk.startswith("rows="):
            n = num(chk[5:])
            if len(flat) != n:
                raise CaseFail("expected %d output rows, got %d" % (n, len(flat)))
        elif chk == "bias":
            if not all(isinstance(v, (int, float)) and abs(v - B[0]) <= 1e-4 * (1 + abs(B[0]))
                       for v in flat):
                raise CaseFail("expected every output = bias %r, got e.g. %r" % (B[0], flat[:3]))
        elif chk == "value":
            if not close_to(flat[:1], predict(DEMO_X)):
                raise CaseFail("expected %r, got %r" % (predict(DEMO_X).tolist(), flat[:1]))
        elif chk == "null":
            if not all(v is None or v in ("NaN", "Infinity", "-Infinity") or
                       (isinstance(v, float) and not math.isfinite(v)) for v in flat):
                raise CaseFail("expected NaN/Inf outputs (null or proto3 strings), got %r" % flat[:3])
        else:
            raise CaseFail("unknown check %r" % chk)


# ---- plain cases -------------------------------------------------------------------------

def run_request_case(srv, case):
    data = case.request_bytes()
    c = Conn(srv.port, timeout=60)
    try:
        t = c.send_all_bg(data)
        head = (case.method or "").upper() == "HEAD"
        try:
            resp = c.read_response(timeout=60, head=head)
        except (socket.timeout, TimeoutError):
            raise CaseFail("no answer within 60 s")
        t.join(5)
        check_outcome(case, resp)
    finally:
        c.close()


# ---- raw TCP scenarios ----------------------------------------------------------------------

GOOD_WEB = ('{"feed":[{"x":[%s]}],"fetch":["price"]}' % ",".join(repr(v) for v in DEMO_X)).encode()


def post_bytes(path, body, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n%s\r\n" % (path, len(body), extra)).encode() + body


def sc_lying_length_short(srv, case, args):
    """Content-Length promises more than is sent, and the client then waits: the
    server must give up within its timeouts (408 or close), not hold the
    connection forever."""
    c = Conn(srv.port)
    c.sock.sendall(b"POST /uci/prediction HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
                   + GOOD_WEB)
    limit = IDLE_TIMEOUT_S + REQUEST_TIMEOUT_S + 3
    t0 = time.time()
    try:
        resp = c.read_response(timeout=limit)
    except (socket.timeout, TimeoutError):
        raise CaseFail("connection still open %.0f s after the short body" % (time.time() - t0))
    finally:
        c.close()
    vlog("closed after %.1f s" % (time.time() - t0))
    return resp


def sc_lying_length_long(srv, case, args):
    """Content-Length smaller than the body: the body is cut where the length says,
    and what follows is read as the next request."""
    body = GOOD_WEB
    c = Conn(srv.port)
    c.sock.sendall(b"POST /uci/prediction HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n" + body)
    try:
        first = c.read_response(timeout=30)
        # The rest of the body is garbage as a request line; end it, and the answer
        # must be an error or a close, not a hang.
        try:
            c.sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # the server closed already: fine
        try:
            second = c.read_response(timeout=REQUEST_TIMEOUT_S + IDLE_TIMEOUT_S + 3)
            vlog("after the cut body:", second)
            if second is not None and second.status < 400:
                raise CaseFail("the rest of the body, read as a request, got %d" % second.status)
        except (socket.timeout, TimeoutError):
            raise CaseFail("the bytes after the cut body left the connection hanging")
    finally:
        c.close()
    return first


def sc_slowloris(srv, case, args):
    """N connections dribble header bytes (one every 0.5 s) while good requests go on
    another connection: the good ones must be served, and the server must cut the
    slow ones off within --request_timeout_s (+ slack) even though bytes keep coming."""
    n = int(args[0]) if args else 20
    conns = [Conn(srv.port) for _ in range(n)]
    head = b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    for c in conns:
        c.sock.sendall(head[:10])
        c.sock.setblocking(False)
    deadline_cut = REQUEST_TIMEOUT_S + 4
    t0 = time.time()
    pos = 10
    open_ = set(range(n))
    good_ok = 0
    while open_ and time.time() - t0 < deadline_cut:
        time.sleep(0.5)
        for i in list(open_):
            s = conns[i].sock
            try:
                d = s.recv(4096)
                if d == b"":
                    open_.discard(i)
                    continue
                conns[i].buf += d
            except BlockingIOError:
                pass
            except OSError:
                open_.discard(i)
                continue
            try:
                s.send(head[pos:pos + 1] if pos < len(head) else b"a")
            except OSError:
                open_.discard(i)
        pos += 1
        good_request(srv, "kserve")
        good_ok += 1
    elapsed = time.time() - t0
    answers = {c.buf.split(b"\r\n", 1)[0].decode("latin-1") for c in conns if c.buf}
    for c in conns:
        c.close()
    vlog("slowloris: %d good requests served meanwhile; %d/%d slow connections still open after "
         "%.1f s; answers %s" % (good_ok, len(open_), n, elapsed, answers or "-"))
    if good_ok == 0:
        raise CaseFail("no good request was served during the slow connections")
    if open_:
        raise CaseFail("%d of %d connections sending a header byte every 0.5 s were still open "
                       "after %.0f s (--request_timeout_s %d): slow headers hold connections "
                       "indefinitely" % (len(open_), n, elapsed, REQUEST_TIMEOUT_S))
    if answers and not all(a.startswith("HTTP/1.1 408") or a.startswith("HTTP/1.1 431") or
                           a.startswith("HTTP/1.1 400") for a in answers):
        raise CaseFail("slow connections got %s" % answers)
    return None  # the common check: "close" (or an answer; see expect)


def sc_half_close(srv, case, args):
    """A whole request, then shutdown(SHUT_WR): HTTP/1.1 lets a client half-close
    after its request; the answer must still come."""
    what = args[0]
    c = Conn(srv.port)
    try:
        if what == "after_request":
            c.sock.sendall(post_bytes("/uci/prediction", GOOD_WEB))
        elif what == "mid_headers":
            c.sock.sendall(b"POST /uci/prediction HTTP/1.1\r\nHost: x\r\nContent-Le")
        elif what == "mid_body":
            c.sock.sendall(post_bytes("/uci/prediction", GOOD_WEB)[:-20])
        else:
            raise ValueError(what)
        c.sock.shutdown(socket.SHUT_WR)
        try:
            return c.read_response(timeout=REQUEST_TIMEOUT_S + IDLE_TIMEOUT_S + 3)
        except (socket.timeout, TimeoutError):
            raise CaseFail("no answer and no close after the client half-closed")
    finally:
        c.close()


def sc_reset(srv, case, args):
    """The client resets (RST) at some point of an exchange; the server must carry on."""
    what = args[0]
    if what == "mid_headers":
        c = Conn(srv.port)
        c.sock.sendall(b"POST /uci/prediction HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.05)
        c.reset()
    elif what == "mid_body":
        c = Conn(srv.port)
        c.sock.sendall(post_bytes("/uci/prediction", GOOD_WEB)[:-30])
        time.sleep(0.05)
        c.reset()
    elif what == "after_request":
        for _ in range(20):
            c = Conn(srv.port)
            c.sock.sendall(post_bytes("/uci/prediction", GOOD_WEB))
            c.reset()
    elif what == "mid_response":
        # A big answer (50,000 rows), read a little of, then reset.
        body = ('{"feed":[{"x":[%s]}]}' % ",".join(["0.5"] * 13 * 50000)).encode()
        for _ in range(2):
            c = Conn(srv.port)
            c.send_all_bg(post_bytes("/uci/prediction", body)).join(30)
            c.sock.settimeout(30)
            c.sock.recv(1000)
            c.reset()
    else:
        raise ValueError(what)
    time.sleep(0.2)
    return None


def sc_flood(srv, case, args):
    """N connections opened and dropped: first silent, then each after half a
    request, half of those with RST. The server's descriptors and open-connection
    gauge must come back to where they were."""
    n = int(args[0]) if args else 1000
    base = settled_fds(srv)
    socks = []
    for _ in range(n):
        socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=10))
    for s in socks:
        s.close()
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"POST /uci/prediction HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"feed\"")
        socks.append(s)
    time.sleep(0.2)
    for i, s in enumerate(socks):
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    good_after(srv, "all")
    t0 = time.time()
    limit = REQUEST_TIMEOUT_S + IDLE_TIMEOUT_S + 5
    while time.time() - t0 < limit:
        fds = srv.fds()
        if fds <= base:
            break
        time.sleep(0.2)
    fds = srv.fds()
    vlog("flood: %d fds before, %d after %.1f s" % (base, fds, time.time() - t0))
    if fds > base:
        raise CaseFail("server holds %d descriptors %.0f s after %d connections were dropped "
                       "(%d before)" % (fds, time.time() - t0, 2 * n, base))
    m = requests.get(srv.url + "/metrics", timeout=10).text
    g = re.search(r"^skiff_open_connections (\d+)", m, re.M)
    if g and int(g.group(1)) > 1:
        raise CaseFail("/metrics says %s connections are open after the flood" % g.group(1))
    return None


def sc_pipeline(srv, case, args):
    """Three requests in one write, the middle one bad: three answers, in order."""
    bad = b'{"feed":[{"x":[1,2'
    data = (post_bytes("/uci/prediction", GOOD_WEB) + post_bytes("/uci/prediction", bad) +
            post_bytes("/uci/prediction", GOOD_WEB))
    c = Conn(srv.port)
    try:
        c.sock.sendall(data)
        got = [c.read_response(timeout=30) for _ in range(3)]
    finally:
        c.close()
    st = [None if r is None else r.status for r in got]
    if st != [200, 400, 200]:
        raise CaseFail("pipelined good, bad, good got %s" % st)
    for r in (got[0], got[2]):
        if not close_to(r.json()["result"]["price"], predict(DEMO_X)):
            raise CaseFail("pipelined answer %r" % r.body[:200])
    return got[1]


def sc_preface(srv, case, args):
    """First bytes of another protocol: refused (closed), or for a bare HTTP/2
    preface (gRPC) the server's SETTINGS and a close once the connection idles."""
    what = args[0]
    data = {"h2": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "prpc": b"PRPC\x00\x00\x00\x10\x00\x00\x00\x08" + bytes(16),
            "tls": bytes.fromhex("160301002a010000260303") + bytes(32),
            "binary": bytes(range(256)) + b"\r\n\r\n"}[what]
    c = Conn(srv.port)
    try:
        c.sock.sendall(data)
        if what == "h2":
            # gRPC is served: the server's SETTINGS, then a close once idle.
            deadline = time.time() + REQUEST_TIMEOUT_S + IDLE_TIMEOUT_S + 3
            while c._fill(deadline):
                pass
            if time.time() >= deadline:
                raise CaseFail("connection left open")
            if len(c.buf) < 9 or c.buf[3] != 4:
                raise CaseFail("no HTTP/2 SETTINGS frame first: %r" % c.buf[:40])
            return None
        try:
            return c.read_response(timeout=REQUEST_TIMEOUT_S + IDLE_TIMEOUT_S + 3)
        except (socket.timeout, TimeoutError):
            raise CaseFail("connection left open")
    finally:
        c.close()


def sc_silent(srv, case, args):
    """A connection that never sends a byte is closed after --request_timeout_s."""
    c = Conn(srv.port)
    t0 = time.time()
    try:
        if not c.wait_closed(REQUEST_TIMEOUT_S + 4):
            raise CaseFail("a silent connection was still open after %.0f s" % (time.time() - t0))
    finally:
        c.close()
    vlog("silent connection closed after %.1f s" % (time.time() - t0))
    return None


def sc_expect_continue(srv, case, args):
    """Expect: 100-continue with a body over the limit: the server refuses (413)
    before the body is sent, instead of inviting it."""
    c = Conn(srv.port)
    try:
        c.sock.sendall(("POST /uci/prediction HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                        "Expect: 100-continue\r\n\r\n" % (MAX_BODY * 4)).encode())
        r = c.read_response(timeout=10)
        if r is not None and r.status == 100:
            raise CaseFail("the server sent 100 Continue for a body over --max_body_size")
        return r
    finally:
        c.close()


# ---- brpc baidu_std (cases/70_brpc.cases) ---------------------------------------------------
# Protobuf written by hand (a few field kinds suffice), so the driver shares nothing with
# skiff's encoders. A brpc answer becomes a Response whose status is the RpcResponseMeta
# error_code (0 for success) and whose body is the error_text.

BRPC_SERVICE = b"baidu.paddle_serving.predictor.general_model.GeneralModelService"


def pb_varint(v):
    v &= (1 << 64) - 1
    out = b""
    while True:
        b, v = v & 0x7F, v >> 7
        if not v:
            return out + bytes([b])
        out += bytes([b | 0x80])


def pb_int(num, v):
    return pb_varint(num << 3) + pb_varint(v)


def pb_len(num, b):
    return pb_varint(num << 3 | 2) + pb_varint(len(b)) + b


def pb_floats(num, vs):
    return pb_len(num, b"".join(struct.pack("<f", v) for v in vs))


def brpc_meta(corr, service=BRPC_SERVICE, method=b"inference", compress=0, attach=0, timeout=0):
    req = pb_len(1, service) + pb_len(2, method) + (pb_int(8, timeout) if timeout else b"")
    return (pb_len(1, req) + pb_int(4, corr) + (pb_int(3, compress) if compress else b"") +
            (pb_int(5, attach) if attach else b""))


def brpc_frame(payload, corr=1, attach=b"", meta=None, **kw):
    m = meta if meta is not None else brpc_meta(corr, attach=len(attach), **kw)
    body = m + payload + attach
    return b"PRPC" + struct.pack(">II", len(body), len(m)) + body


def p09_request(x=DEMO_X, elem=1, shape=(1, 13), name=b"x"):
    t = pb_len(13, name) + pb_int(10, elem) + pb_len(11, b"".join(pb_varint(d) for d in shape))
    t += pb_floats(2, x) if elem == 1 else pb_len(1, b"".join(pb_varint(int(v * 100)) for v in x))
    return pb_len(1, t) + pb_len(2, b"price")


def p04_request(x=DEMO_X, elem=1, shape=(1, 13), n_tensors=1):
    t = pb_int(5, elem) + b"".join(pb_int(6, d) for d in shape) + pb_floats(4, x)
    inst = b"".join(pb_len(1, t) for _ in range(n_tensors))
    return pb_len(1, inst) + pb_len(2, b"price") + pb_int(4, 0)


def brpc_read(c, timeout):
    """(correlation_id, error_code, error_text, payload) of the next answer, None at close."""
    def need(n):
        deadline = time.time() + timeout
        while len(c.buf) < n:
            c.sock.settimeout(max(0.1, deadline - time.time()))
            try:
                chunk = c.sock.recv(65536)
            except ConnectionResetError:
                return False
            if not chunk:
                return False
            c.buf += chunk
        return True
    if not need(12):
        return None
    if c.buf[:4] != b"PRPC":
        raise CaseFail("answer without the PRPC magic: %r" % c.buf[:16])
    body, msize = struct.unpack(">II", c.buf[4:12])
    if not need(12 + body):
        raise CaseFail("answer frame cut short")
    meta, payload = c.buf[12:12 + msize], c.buf[12 + msize:12 + body]
    c.buf = c.buf[12 + body:]
    corr = code = 0
    text = b""
    i = 0
    while i < len(meta):
        key, i = rd_varint(meta, i)
        if key & 7 == 0:
            v, i = rd_varint(meta, i)
            if key >> 3 == 4:
                corr = v
        elif key & 7 == 2:
            n, i = rd_varint(meta, i)
            sub = meta[i:i + n]
            i += n
            if key >> 3 == 2:  # RpcResponseMeta
                j = 0
                while j < len(sub):
                    k2, j = rd_varint(sub, j)
                    if k2 & 7 == 0:
                        v, j = rd_varint(sub, j)
                        if k2 >> 3 == 1:
                            code = v - (1 << 32) if v >= 1 << 31 and v < 1 << 32 else (
                                v - (1 << 64) if v >= 1 << 63 else v)
                    else:
                        n2, j = rd_varint(sub, j)
                        if k2 >> 3 == 2:
                            text = sub[j:j + n2]
                        j += n2
        else:
            raise CaseFail("answer meta has wire type %d" % (key & 7))
    return corr, code, text, payload


def brpc_good(c, corr=4242):
    """A good 0.9 call on connection c: the uci price back."""
    c.sock.sendall(brpc_frame(p09_request(), corr=corr))
    got = brpc_read(c, 30)
    if got is None:
        raise CaseFail("the connection closed instead of answering a good brpc call")
    rc, code, text, payload = got
    if rc != corr or code != 0:
        raise CaseFail("good brpc call: correlation_id %d error_code %d %r" % (rc, code, text[:200]))
    # The one float in the answer's float_data (packed, field 2 of the Tensor).
    at = payload.find(b"\x12\x04")
    if at < 0 or not close_to(struct.unpack("<f", payload[at + 2:at + 6])[0], predict(DEMO_X)):
        raise CaseFail("good brpc call: answer %r" % payload[:120])


def sc_brpc(srv, case, args):
    """One bad baidu_std input (args[0]); the answer's error_code is the status (close: the
    connection closed). On the same connection when it stays open, and on a new one always,
    a good call is answered after it."""
    what = args[0]
    frames = {
        "unknown_service": lambda: brpc_frame(p09_request(), service=BRPC_SERVICE + b"X"),
        "unknown_method": lambda: brpc_frame(p09_request(), method=b"predict"),
        "unknown_model": lambda: brpc_frame(p09_request(), service=BRPC_SERVICE + b"/nope"),
        "wrong_elem_type": lambda: brpc_frame(p09_request(elem=0)),
        "wrong_elem_type_v04": lambda: brpc_frame(p04_request(elem=9)),
        "shape_mismatch": lambda: brpc_frame(p09_request(x=DEMO_X[:12], shape=(1, 12))),
        "shape_mismatch_v04": lambda: brpc_frame(p04_request(x=DEMO_X[:12], shape=(1, 12))),
        "too_many_tensors_v04": lambda: brpc_frame(p04_request(n_tensors=3)),
        "not_a_request": lambda: brpc_frame(b"\xff\xfe garbage \x00"),
        "bad_compress_type": lambda: brpc_frame(p09_request(), compress=1),
        "unknown_compress_type": lambda: brpc_frame(p09_request(), compress=77),
        "broken_gzip": lambda: brpc_frame(b"\x1f\x8b\x08\x00not gzip", compress=2),
        "gzip_bomb": lambda: brpc_frame(gzip.compress(bytes(MAX_BODY + (4 << 20))), compress=2),
        "lying_attachment": lambda: brpc_frame(p09_request(), meta=brpc_meta(1, attach=1 << 20)),
        "no_request_meta": lambda: brpc_frame(p09_request(), meta=pb_int(4, 1)),
        "oversized": lambda: b"PRPC" + struct.pack(">II", MAX_BODY + 1, 20) + brpc_meta(1).ljust(20, b"\0"),
        "meta_over_body": lambda: b"PRPC" + struct.pack(">II", 10, 20) + bytes(10),
        "garbage_header": lambda: b"PRPCxxxxxxxxGARBAGE" * 3,
        "garbage_meta": lambda: b"PRPC" + struct.pack(">II", 16, 16) + b"\xff" * 16,
        "garbage_after_frame": lambda: brpc_frame(p09_request(), corr=5) + b"PRPZ not a frame",
        "truncated": lambda: brpc_frame(p09_request())[:40],
    }
    data = frames[what]()
    c = Conn(srv.port)
    try:
        c.sock.sendall(data)
        got = brpc_read(c, REQUEST_TIMEOUT_S + IDLE_TIMEOUT_S + 3)
        if what == "garbage_after_frame":
            if got is None or got[1] != 0:
                raise CaseFail("the good frame before the garbage was not answered: %r" % (got,))
            got = brpc_read(c, REQUEST_TIMEOUT_S + 3)
        if got is None:
            resp = None
        else:
            resp = Response(got[1], {}, got[2])
            if what in ("oversized", "garbage_header"):
                if brpc_read(c, 5) is not None:
                    raise CaseFail("the connection stayed open after the oversized body")
            else:
                brpc_good(c)
        c2 = Conn(srv.port)
        try:
            brpc_good(c2)
        finally:
            c2.close()
        return resp
    finally:
        c.close()


SCENARIOS = {
    "lying_length_short": sc_lying_length_short,
    "lying_length_long": sc_lying_length_long,
    "slowloris": sc_slowloris,
    "half_close": sc_half_close,
    "reset": sc_reset,
    "flood": sc_flood,
    "pipeline": sc_pipeline,
    "preface": sc_preface,
    "silent": sc_silent,
    "expect_continue": sc_expect_continue,
    "brpc": sc_brpc,
    "grpc_pipe": sc_grpc_pipe,
}


def run_scenario(srv, case):
    fn = SCENARIOS.get(case.scenario[0])
    if fn is None:
        raise SystemExit("%s: unknown scenario %s" % (case.src, case.scenario[0]))
    resp = fn(srv, case, case.scenario[1:])
    check_outcome(case, resp)


# ---- main ---------------------------------------------------------------------------------

def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skiff", required=True)
    ap.add_argument("--filter", default="")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--strict", action="store_true", help="known defects fail the run too")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose

    cases = load_cases(sorted(glob.glob(os.path.join(HERE, "cases", "*.cases"))))
    if args.list:
        for c in cases:
            log("%-45s %s" % (c.name, c.src))
        log("%d cases" % len(cases))
        return 0
    cases = [c for c in cases if args.filter in c.name]

    # 1,000 connections need descriptors; the server inherits the raised limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    t_start = time.time()
    live = {}        # kind -> its running Server
    base_fds = {}    # kind -> its descriptors once idle
    unavailable = {}  # kind -> why this host cannot run it
    servers = []     # every server started, for the sanitizer check

    def start(kind):
        if kind == "pipe_ocr" and kind not in unavailable:
            why = ocr_ready(args.skiff)
            if why:
                unavailable[kind] = why
        if kind in unavailable:
            return None
        try:
            s = Server(args.skiff, kind)
        except ServerUnavailable as e:
            unavailable[kind] = str(e)
            return None
        servers.append(s)
        live[kind] = s
        good_after(s, "all" if kind == "uci" else kind)
        base_fds[kind] = settled_fds(s)
        log("robustness: server %s: pid %d, port %d, %d fds" % (kind, s.proc.pid, s.port,
                                                                  base_fds[kind]))
        return s

    start("uci")
    log("robustness: %d cases against %s" % (len(cases), args.skiff))
    passed, failed, xfail, xpass, crashes, skipped = [], [], [], [], [], []
    for c in cases:
        srv = live.get(c.server) or start(c.server)
        why_skip = c.skip or (unavailable.get(c.server) if srv is None else None)
        if why_skip:
            skipped.append(c)
            log("skip  %-44s %s" % (c.name, why_skip))
            continue
        t0 = time.time()
        err = None
        try:
            if c.scenario:
                run_scenario(srv, c)
            else:
                run_request_case(srv, c)
        except CaseSkip as e:
            skipped.append(c)
            log("skip  %-44s %s" % (c.name, e))
            continue
        except CaseFail as e:
            err = str(e)
        except (OSError, requests.RequestException, ValueError, KeyError) as e:
            err = "%s: %s" % (type(e).__name__, e)
        # The server must still be up and right.
        try:
            good_after(srv, c.family())
        except CaseFail as e:
            err = (err + "; " if err else "") + str(e)
        except (OSError, requests.RequestException, ValueError, KeyError) as e:
            err = (err + "; " if err else "") + "good request after it failed: %s: %s" % (
                type(e).__name__, e)
        if not srv.alive():
            crashes.append(c.name)
            err = (err + "; " if err else "") + "SERVER DIED (exit %s)" % srv.proc.returncode
            tail = srv.logs()[-3000:]
            log(tail)
            srv.kill()
            del live[c.server]
            start(c.server)
        dt = time.time() - t0
        if err is None:
            if c.known:
                xpass.append(c)
                log("XPASS %-44s %.2fs (marked known: %s)" % (c.name, dt, c.known))
            else:
                passed.append(c)
                log("ok    %-44s %.2fs" % (c.name, dt))
        elif c.known and c.name not in crashes:
            xfail.append((c, err))
            log("XFAIL %-44s %.2fs %s" % (c.name, dt, err))
        else:
            failed.append((c, err))
            log("FAIL  %-44s %.2fs %s [%s]" % (c.name, dt, err, c.src))

    # Descriptors back to each server's baseline once the clients are gone.
    fd_report = []
    for kind, srv in live.items():
        t0 = time.time()
        while srv.fds() > base_fds[kind] and time.time() - t0 < IDLE_TIMEOUT_S + 3:
            time.sleep(0.2)
        end_fds = srv.fds()
        fd_report.append("%s %d -> %d" % (kind, base_fds[kind], end_fds))
        if end_fds > base_fds[kind]:
            failed.append((Case("<descriptors>", "-"), "server %s holds %d descriptors at the "
                           "end, %d at the start" % (kind, end_fds, base_fds[kind])))
    # Clean exit on SIGTERM, no sanitizer report in any server's output.
    exits = []
    for s in servers:
        running = live.get(s.kind) is s
        why = s.stop() if running else None
        logs = s.logs()
        if why:
            failed.append((Case("<shutdown>", "-"), "%s: %s" % (s.kind, why)))
        elif running and s.proc.returncode != 0:
            failed.append((Case("<shutdown>", "-"), "%s: exit status %s after SIGTERM" % (
                s.kind, s.proc.returncode)))
        if running:
            exits.append("%s %s" % (s.kind, s.proc.returncode))
        san = [ln for ln in logs.splitlines() if SAN_RE.search(ln)]
        if san:
            log(logs[-8000:])
            failed.append((Case("<sanitizer>", "-"), "sanitizer report in the %s server's output: "
                           "%s" % (s.kind, san[0])))
    log("")
    log("robustness: %d cases: %d passed, %d failed, %d known defects (XFAIL), %d XPASS, "
        "%d skipped; %d server crashes; fds %s; exit %s; %.1f s" % (
            len(cases), len(passed), len(failed), len(xfail), len(xpass), len(skipped),
            len(crashes), ", ".join(fd_report), ", ".join(exits), time.time() - t_start))
    for kind, why in sorted(unavailable.items()):
        log("  skipped the %s cases: %s" % (kind, why))
    for c, e in failed:
        log("  FAIL  %s: %s" % (c.name, e))
    for c, e in xfail:
        log("  XFAIL %s (%s): %s" % (c.name, c.known, e))
    for c in xpass:
        log("  XPASS %s: passes now; remove its 'known' line" % c.name)
    bad = failed or (args.strict and (xfail or xpass))
    if bad:
        log("server logs: %s" % ", ".join(s.err_path for s in servers))
    else:
        for s in servers:
            shutil.rmtree(s.tmp, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
