#!/usr/bin/python3
"""Fault test: N `skiff serve` replicas behind a real nginx configured from
deploy/nginx/skiff.conf.template, under a mixed load on every protocol skiff
serves, while replicas are killed, drained and restarted. Run through
bench/fault/run.sh (tests/integration/nginx_tests.py runs a short version).

nginx runs as the invoking user, its config, pid, logs and temp paths in a temp
dir. It has three front ports: HTTP/1.1, gRPC (h2c) and baidu_std (stream).

Load: CONNECTIONS client connections, one per thread, in four equal shares:
  http     KServe v2 REST /v2/models/uci/infer (JSON)
  paddle   Paddle web service /uci/prediction and Paddle 0.9 HTTP
           /GeneralModelService/inference, in turn
  grpc     KServe v2 gRPC ModelInfer (python3-grpcio, one channel each)
  brpc     Paddle's RPC client (python/paddle_serving_client.Client, baidu_std)
every answer checked against numpy. Besides, when EXAMPLE_CLIENT names
examples/c's example_client (default: build/examples/c/example_client if built),
one more thread runs it again and again through nginx's baidu_std port (4
threads x 250 calls of libskiff_client a run, each answer checked bit for bit):
protocol "c-brpc", counted per call.

Phases (PHASES, comma-separated, run in order under one continuous load):
  kill     SIGKILL replica KILL_INDEX; restart it on its port after RESTART_AFTER s
  rolling  each replica in turn: SIGTERM, wait for its exit (status 0), restart
           it on its port, wait until it is ready, then ROLLING_PAUSE (3 s: more than
           nginx's fail_timeout of 2 s) before the next
  term     SIGTERM replica KILL_INDEX and leave it down: the others serve the rest
Each phase is preceded and followed by SETTLE seconds of load.

Pass: no client request failed or was wrong; every SIGTERM exit was 0; after a
restart every replica's request counter grows (nginx uses all of them again);
after `term`, the surviving replicas answered every request the clients sent
after the exit.
"""
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
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
sys.path.insert(0, os.path.join(ROOT, "python"))
from paddle_serving_client import Client  # noqa: E402

UCI = os.path.join(ROOT, "examples", "uci_housing", "uci_housing_model")
UCI_CLIENT = os.path.join(ROOT, "examples", "uci_housing", "uci_housing_client",
                          "serving_client_conf.prototxt")
TEMPLATE = os.path.join(ROOT, "deploy", "nginx", "skiff.conf.template")
SKIFF = os.environ.get("SKIFF", os.path.join(ROOT, "build", "skiff"))
NGINX = os.environ.get("NGINX", shutil.which("nginx") or "/usr/sbin/nginx")
REPLICAS = int(os.environ.get("REPLICAS", "3"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "64"))
PHASES = [p for p in os.environ.get("PHASES", "kill,rolling").split(",") if p]
SETTLE = float(os.environ.get("SETTLE", "5"))
RESTART_AFTER = float(os.environ.get("RESTART_AFTER", "5"))
KILL_INDEX = int(os.environ.get("KILL_INDEX", "1"))
GRACE_S = int(os.environ.get("GRACE_S", "30"))
ROLLING_PAUSE = float(os.environ.get("ROLLING_PAUSE", "3"))
PROTOCOLS = ("http", "paddle", "grpc", "brpc")
EXAMPLE_CLIENT = os.environ.get("EXAMPLE_CLIENT",
                                os.path.join(ROOT, "build", "examples", "c", "example_client"))
C_CONF = os.path.join(ROOT, "examples", "uci_housing", "uci_housing_client")
# gRPC's retry policy (A6, the service config): UNAVAILABLE calls are sent again.
GRPC_SERVICE_CONFIG = json.dumps({"methodConfig": [{
    "name": [{"service": "inference.GRPCInferenceService"}],
    "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.05s", "maxBackoff": "0.5s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]})

KSERVE_PROTO = """
syntax = "proto3";
package inference;
message InferParameter { oneof parameter_choice { bool bool_param = 1; int64 int64_param = 2;
  string string_param = 3; double double_param = 4; uint64 uint64_param = 5; } }
message InferTensorContents { repeated bool bool_contents = 1; repeated int32 int_contents = 2;
  repeated int64 int64_contents = 3; repeated uint32 uint_contents = 4;
  repeated uint64 uint64_contents = 5; repeated float fp32_contents = 6;
  repeated double fp64_contents = 7; repeated bytes bytes_contents = 8; }
message ModelInferRequest {
  message InferInputTensor { string name = 1; string datatype = 2; repeated int64 shape = 3;
    map<string, InferParameter> parameters = 4; InferTensorContents contents = 5; }
  message InferRequestedOutputTensor { string name = 1; map<string, InferParameter> parameters = 2; }
  string model_name = 1; string model_version = 2; string id = 3;
  map<string, InferParameter> parameters = 4; repeated InferInputTensor inputs = 5;
  repeated InferRequestedOutputTensor outputs = 6; repeated bytes raw_input_contents = 7; }
message ModelInferResponse {
  message InferOutputTensor { string name = 1; string datatype = 2; repeated int64 shape = 3;
    map<string, InferParameter> parameters = 4; InferTensorContents contents = 5; }
  string model_name = 1; string model_version = 2; string id = 3;
  map<string, InferParameter> parameters = 4; repeated InferOutputTensor outputs = 5;
  repeated bytes raw_output_contents = 6; }
"""


def log(msg):
    print(msg, flush=True)


def weights():
    m = onnx.load(os.path.join(UCI, "model.onnx"))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return init["fc_0.w_0"].astype(np.float64), init["fc_0.b_0"].astype(np.float64)


W, B = weights()


def predict(rows):
    return (np.asarray(rows, np.float32).astype(np.float64).reshape(-1, 13) @ W + B).reshape(-1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def stream_module():
    """Path of the stream module where nginx loads it (Debian), else None (built in)."""
    r = subprocess.run([NGINX, "-V"], capture_output=True, text=True)
    if "--with-stream=dynamic" not in r.stderr + r.stdout:
        return None
    for p in ("/usr/lib/nginx/modules/ngx_stream_module.so",
              "/usr/share/nginx/modules/ngx_stream_module.so"):
        if os.path.exists(p):
            return p
    sys.exit("fault: nginx's stream module is not installed (Debian: libnginx-mod-stream; "
             "scripts/install-deps.sh installs it)")


def render(template, replicas, http, grpc_port, rpc, run_dir, user, module):
    """deploy/nginx/skiff.conf.template filled in: each @REPLICA@ line once per replica."""
    out = []
    for line in template.splitlines():
        if line.lstrip().startswith("#"):
            out.append(line)
            continue
        if "@STREAM_MODULE@" in line and module is None:
            continue
        if "@USER@" in line and user is None:
            continue
        if "@REPLICA@" in line:
            out.extend(line.replace("@REPLICA@", r) for r in replicas)
            continue
        out.append(line.replace("@HTTP_LISTEN@", http).replace("@GRPC_LISTEN@", grpc_port)
                   .replace("@RPC_LISTEN@", rpc).replace("@RUN_DIR@", run_dir)
                   .replace("@USER@", user or "").replace("@STREAM_MODULE@", module or ""))
    return "\n".join(out) + "\n"


class Replica:
    def __init__(self, tmp, index):
        self.tmp, self.index = tmp, index
        self.proc = None
        self.port = 0
        self.start()

    def start(self):
        pf = os.path.join(self.tmp, "port%d" % self.index)
        if os.path.exists(pf):
            os.unlink(pf)
        logf = os.path.join(self.tmp, "replica%d.log" % self.index)
        self.proc = subprocess.Popen(
            [SKIFF, "serve", "--model", UCI, "--name", "uci", "--port", str(self.port),
             "--port_file", pf, "--thread", "1", "--instances", "1", "--io_threads", "1",
             "--grace_s", str(GRACE_S)],
            stdout=open(logf, "a"), stderr=subprocess.STDOUT)
        t0 = time.time()
        while not (os.path.exists(pf) and open(pf).read().strip()):
            if self.proc.poll() is not None or time.time() - t0 > 60:
                sys.exit("fault: replica %d did not start:\n%s" % (self.index, open(logf).read()))
            time.sleep(0.05)
        self.port = int(open(pf).read())
        while True:  # ready: the port file is written once serving; check anyway
            try:
                if requests.get("http://127.0.0.1:%d/v2/health/ready" % self.port,
                                timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.time() - t0 > 60:
                sys.exit("fault: replica %d not ready" % self.index)
            time.sleep(0.05)

    def successes(self):
        """Requests this process answered with success (its /metrics), None if down."""
        if self.proc.poll() is not None:
            return None
        try:
            txt = requests.get("http://127.0.0.1:%d/metrics" % self.port, timeout=5).text
        except requests.RequestException:
            return None
        m = re.search(r'^skiff_requests_total\{model="uci",outcome="success"\} (\d+)', txt, re.M)
        return int(m.group(1)) if m else 0


def start_nginx(tmp, replicas):
    ports = {"http": free_port(), "grpc": free_port(), "rpc": free_port()}
    user = None
    if os.geteuid() == 0:
        # As root, nginx's workers would switch to "nobody" and could not write to
        # the temp dir: keep them as the invoking user.
        user = "%s %s" % (pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name)
    conf = render(open(TEMPLATE).read(), ["127.0.0.1:%d" % r.port for r in replicas],
                  "127.0.0.1:%d" % ports["http"], "127.0.0.1:%d" % ports["grpc"],
                  "127.0.0.1:%d" % ports["rpc"], tmp, user, stream_module())
    path = os.path.join(tmp, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    out = open(os.path.join(tmp, "nginx.out"), "w")
    proc = subprocess.Popen([NGINX, "-p", tmp, "-e", os.path.join(tmp, "error.log"), "-c", path,
                             "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % ports["http"]
    t0 = time.time()
    while True:
        if proc.poll() is not None:
            sys.exit("fault: nginx exited:\n%s%s" % (
                open(os.path.join(tmp, "nginx.out")).read(),
                open(os.path.join(tmp, "error.log")).read()))
        try:
            if requests.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                return proc, ports
        except requests.RequestException:
            pass
        if time.time() - t0 > 20:
            proc.kill()
            sys.exit("fault: nginx did not answer")
        time.sleep(0.1)


def gen_protos(tmp):
    with open(os.path.join(tmp, "fkserve.proto"), "w") as f:
        f.write(KSERVE_PROTO)
    r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", tmp, "--python_out", tmp,
                        "fkserve.proto"], capture_output=True, text=True, cwd=tmp)
    if r.returncode:
        sys.exit("fault: grpc_tools.protoc failed: " + r.stderr)
    sys.path.insert(0, tmp)
    import fkserve_pb2
    return fkserve_pb2


class Load:
    """CONNECTIONS threads, each with its own connection through nginx."""

    def __init__(self, ports, pb):
        import grpc
        self.grpc = grpc
        self.pb = pb
        self.ports = ports
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.phase = "start"
        self.ok = {}  # (phase, protocol) -> count
        self.failures = []  # (time, phase, protocol, error)
        self.last_ok = {}  # protocol -> time of the last success
        self.reconnects = {}  # phase -> brpc calls that went out on a new connection
        self.threads = []

    def total_ok(self):
        """Answers so far, counted per call (example_client's runs count at their end:
        left out, so the term check compares like with like)."""
        with self.lock:
            return sum(v for k, v in self.ok.items() if k[1] != "c-brpc")

    def _http(self, sess, rng, i):
        url = "http://127.0.0.1:%d" % self.ports["http"]
        rows = rng.uniform(-2, 2, size=(2, 13)).astype(np.float32)
        r = sess.post(url + "/v2/models/uci/infer", timeout=30,
                      json={"inputs": [{"name": "x", "shape": [2, 13], "datatype": "FP32",
                                        "data": rows.reshape(-1).tolist()}]})
        if r.status_code != 200:
            return rows, None, "HTTP %d %s" % (r.status_code, r.text[:200])
        return rows, r.json()["outputs"][0]["data"], None

    def _paddle(self, sess, rng, i):
        url = "http://127.0.0.1:%d" % self.ports["http"]
        rows = rng.uniform(-2, 2, size=(2, 13)).astype(np.float32)
        if i % 2 == 0:
            r = sess.post(url + "/uci/prediction", timeout=30,
                          json={"feed": [{"x": rows[0].tolist()}, {"x": rows[1].tolist()}],
                                "fetch": ["price"]})
            if r.status_code != 200:
                return rows, None, "HTTP %d %s" % (r.status_code, r.text[:200])
            return rows, r.json()["result"]["price"], None
        r = sess.post(url + "/GeneralModelService/inference", timeout=30,
                      json={"tensor": [{"float_data": rows.reshape(-1).tolist(), "elem_type": 1,
                                        "name": "x", "shape": [2, 13]}], "fetch_var_names": ["price"]})
        if r.status_code != 200:
            return rows, None, "HTTP %d %s" % (r.status_code, r.text[:200])
        return rows, r.json()["outputs"][0]["tensor"][0]["float_data"], None

    def client(self, proto, seed):
        rng = np.random.default_rng(seed)
        i = 0
        if proto in ("http", "paddle"):
            sess = requests.Session()
            step = self._http if proto == "http" else self._paddle
        elif proto == "grpc":
            # A channel of its own (local subchannel pool): one connection per thread.
            # The retry policy is gRPC's own answer to a call lost with its replica
            # (nginx cannot resend a gRPC call it has sent: it answers 502, which
            # the client reads as UNAVAILABLE); docs/deploy.md recommends it.
            ch = self.grpc.insecure_channel("127.0.0.1:%d" % self.ports["grpc"], options=[
                ("grpc.use_local_subchannel_pool", 1), ("grpc.enable_retries", 1),
                ("grpc.service_config", GRPC_SERVICE_CONFIG)])
            call = ch.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=self.pb.ModelInferResponse.FromString)
        else:
            cli = Client()
            cli.load_client_config(UCI_CLIENT)
            cli.connect(["127.0.0.1:%d" % self.ports["rpc"]])
            cli.set_rpc_timeout_ms(30000)
        while not self.stop.is_set():
            phase = self.phase
            try:
                if proto in ("http", "paddle"):
                    rows, got, err = step(sess, rng, i)
                elif proto == "grpc":
                    rows = rng.uniform(-2, 2, size=(2, 13)).astype(np.float32)
                    req = self.pb.ModelInferRequest(model_name="uci")
                    t = req.inputs.add(name="x", datatype="FP32", shape=[2, 13])
                    t.contents.fp32_contents.extend(rows.reshape(-1).tolist())
                    resp = call(req, timeout=30)
                    got, err = resp.outputs[0].contents.fp32_contents, None
                else:
                    rows = rng.uniform(-2, 2, size=(2, 13)).astype(np.float32)
                    before = cli._socks.get(0)  # the kept connection (to count reconnects)
                    got = cli.predict(feed={"x": rows}, fetch=["price"], batch=True)["price"]
                    err = None
                    if before is not None and cli._socks.get(0) is not before:
                        with self.lock:
                            self.reconnects[phase] = self.reconnects.get(phase, 0) + 1
                if err is None:
                    g = np.asarray(got, np.float64).reshape(-1)
                    want = predict(rows)
                    if g.shape != want.shape or np.any(np.abs(g - want) > 1e-4 * (1 + np.abs(want))):
                        err = "wrong answer %s, want %s" % (g.tolist(), want.tolist())
            except Exception as e:  # every failure is counted, whatever raised it
                err = "%s: %s" % (type(e).__name__, str(e)[:300])
            i += 1
            with self.lock:
                if err:
                    self.failures.append((time.time(), phase, proto, err))
                else:
                    self.ok[(phase, proto)] = self.ok.get((phase, proto), 0) + 1
                    self.last_ok[proto] = time.time()

    def c_client(self):
        """libskiff_client through nginx (baidu_std): example_client, run after run."""
        threads, calls = 4, 250
        while not self.stop.is_set():
            phase = self.phase
            r = subprocess.run([EXAMPLE_CLIENT, C_CONF, "127.0.0.1:%d" % self.ports["rpc"], "brpc",
                                str(threads), str(calls)], capture_output=True, text=True)
            m = re.search(r"(\d+) failed calls", r.stderr)
            failed = int(m.group(1)) if m else (0 if r.returncode == 0 else 1 + threads * calls)
            with self.lock:
                key = (phase, "c-brpc")
                self.ok[key] = self.ok.get(key, 0) + 1 + threads * calls - failed
                if failed:
                    self.failures.append((time.time(), phase, "c-brpc", "%d calls: %s" % (
                        failed, r.stderr.strip()[:300])))

    def start(self):
        if EXAMPLE_CLIENT and os.access(EXAMPLE_CLIENT, os.X_OK):
            t = threading.Thread(target=self.c_client, daemon=True)
            t.start()
            self.threads.append(t)
        for k in range(CONNECTIONS):
            proto = PROTOCOLS[k % len(PROTOCOLS)]
            t = threading.Thread(target=self.client, args=(proto, k), daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def wait_counts(load, seconds):
    """Load runs; one progress line per second."""
    t_end = time.time() + seconds
    while time.time() < t_end:
        time.sleep(min(1.0, max(0.0, t_end - time.time())))
        with load.lock:
            nfail = len(load.failures)
        log("    client ok %7d  failed %d" % (load.total_ok(), nfail))


def stop_replica(r, sig):
    r.proc.send_signal(sig)
    try:
        return r.proc.wait(GRACE_S + 30)
    except subprocess.TimeoutExpired:
        r.proc.kill()
        r.proc.wait()
        return "killed after %d s" % (GRACE_S + 30)


def main():
    for p in PHASES:
        if p not in ("kill", "rolling", "term"):
            sys.exit("fault: unknown phase %r (kill, rolling, term)" % p)
    tmp = tempfile.mkdtemp(prefix="skiff-fault-")
    pb = gen_protos(tmp)
    replicas = [Replica(tmp, i) for i in range(REPLICAS)]
    nginx, ports = start_nginx(tmp, replicas)
    log("fault: %d replicas on ports %s behind nginx (HTTP %d, gRPC %d, baidu_std %d; %s); "
        "%d connections (%s); phases %s" % (
            REPLICAS, ", ".join(str(r.port) for r in replicas), ports["http"], ports["grpc"],
            ports["rpc"], tmp, CONNECTIONS, ", ".join(PROTOCOLS), ",".join(PHASES)))
    load = Load(ports, pb)
    load.start()
    problems = []
    events = []
    marks = []  # (phase, start time, end time) for nginx's logs
    t_start = time.time()
    log("  warm-up %.0f s" % SETTLE)
    wait_counts(load, SETTLE)
    term_check = None
    for phase in PHASES:
        load.phase = phase
        t_phase = time.time()
        log("  phase %s" % phase)
        if phase == "kill":
            v = replicas[KILL_INDEX % REPLICAS]
            v.proc.send_signal(signal.SIGKILL)
            v.proc.wait()
            events.append("%s: SIGKILL replica %d (port %d) at %.1f s" % (
                phase, v.index, v.port, time.time() - t_start))
            log("  " + events[-1])
            wait_counts(load, RESTART_AFTER)
            v.start()
            events.append("%s: replica %d restarted on port %d at %.1f s" % (
                phase, v.index, v.port, time.time() - t_start))
            log("  " + events[-1])
        elif phase == "rolling":
            for v in replicas:
                t0 = time.time()
                rc = stop_replica(v, signal.SIGTERM)
                t1 = time.time()
                if rc != 0:
                    problems.append("%s: replica %d exited %s after SIGTERM" % (phase, v.index, rc))
                v.start()
                events.append("%s: replica %d drained in %.2f s (exit %s), ready again %.2f s later" % (
                    phase, v.index, t1 - t0, rc, time.time() - t1))
                log("  " + events[-1])
                # nginx takes a replica it marked failed back only fail_timeout (2 s)
                # later: drain the next one before that and, for that moment, nginx
                # may see no live replica at all ("no live upstreams", 502).
                wait_counts(load, ROLLING_PAUSE)
        elif phase == "term":
            v = replicas[KILL_INDEX % REPLICAS]
            rc = stop_replica(v, signal.SIGTERM)
            if rc != 0:
                problems.append("%s: replica %d exited %s after SIGTERM" % (phase, v.index, rc))
            events.append("%s: SIGTERM replica %d (port %d), exit %s at %.1f s; left down" % (
                phase, v.index, v.port, rc, time.time() - t_start))
            log("  " + events[-1])
            survivors = [r for r in replicas if r is not v]
            term_check = (survivors, [r.successes() for r in survivors], load.total_ok())
        counts_before = [r.successes() for r in replicas]
        wait_counts(load, SETTLE)
        counts_after = [r.successes() for r in replicas]
        if phase in ("kill", "rolling"):
            idle = [r.index for r, a, b in zip(replicas, counts_before, counts_after)
                    if a is None or b is None or b <= a]
            if idle:
                problems.append("%s: replicas %s served nothing in the %.0f s after the phase" % (
                    phase, idle, SETTLE))
        marks.append((phase, t_phase, time.time()))
    total_after = load.total_ok()  # before the servers' counts: no answer counted twice
    survivors_after = [r.successes() for r in term_check[0]] if term_check else None
    load.finish()
    t_end = time.time()

    nginx.send_signal(signal.SIGQUIT)
    try:
        nginx.wait(10)
    except subprocess.TimeoutExpired:
        nginx.kill()
    rcs = []
    for r in replicas:
        if r.proc.poll() is None:
            rcs.append(stop_replica(r, signal.SIGTERM))
    if any(rc != 0 for rc in rcs):
        problems.append("a replica did not exit 0 on the final SIGTERM: %s" % rcs)

    # What nginx saw, per phase: requests, and those that needed another replica.
    def phase_of(t):
        for name, a, b in marks:
            if a <= t < b:
                return name
        return "start"

    nginx_seen = {}
    for logname in ("access.log", "grpc_access.log"):
        path = os.path.join(tmp, logname)
        if not os.path.exists(path):
            continue
        for line in open(path):
            parts = line.strip().split("|")
            if len(parts) < 6:
                continue
            uri = parts[5]
            proto = ("grpc" if uri.startswith("/inference.") else "http" if uri.startswith("/v2/models")
                     else "paddle" if uri.endswith("/prediction") or uri.endswith("/inference")
                     else None)
            if proto is None:
                continue  # health checks, /metrics
            ph = phase_of(float(parts[0]))
            e = nginx_seen.setdefault((ph, proto), [0, 0, 0])
            e[0] += 1
            if "," in parts[2]:
                e[1] += 1
            if parts[1] != "200":
                e[2] += 1
    rpc_sessions = 0
    path = os.path.join(tmp, "rpc_access.log")
    if os.path.exists(path):
        rpc_sessions = sum(1 for _ in open(path))

    log("")
    log("fault figures (%d replicas, %d connections, %.0f s of load):" % (
        REPLICAS, CONNECTIONS, t_end - t_start))
    for e in events:
        log("  " + e)
    fails = {}
    for _, ph, proto, err in load.failures:
        n = int(err.split(" ", 1)[0]) if proto == "c-brpc" else 1
        fails[(ph, proto)] = fails.get((ph, proto), 0) + n
    # nginx's columns: requests it proxied, those it sent to a second replica after
    # a failed try, and answers other than 200 it passed back (gRPC: its 502 for a
    # call lost with a killed replica, which the client's retry policy resent).
    log("  %-8s %-7s %9s %7s %9s %8s %8s" % ("phase", "proto", "client ok", "failed", "nginx req",
                                            "retried", "non-200"))
    protos = PROTOCOLS + (("c-brpc",) if any(k[1] == "c-brpc" for k in load.ok) else ())
    for ph in ["start"] + PHASES:
        for proto in protos:
            ng = nginx_seen.get((ph, proto), [0, 0, 0])
            if proto in ("brpc", "c-brpc"):
                ng = ["-"] * 3  # a TCP stream: nginx sees connections, not calls
            log("  %-8s %-7s %9d %7d %9s %8s %8s" % (ph, proto, load.ok.get((ph, proto), 0),
                                                    fails.get((ph, proto), 0), *ng))
    log("  baidu_std: %d connections through nginx; the %d Python clients' calls that went out "
        "on a new connection (their kept one closed or broke): %s" % (
            rpc_sessions,
            sum(1 for k in range(CONNECTIONS) if PROTOCOLS[k % len(PROTOCOLS)] == "brpc"),
            ", ".join("%s %d" % (ph, load.reconnects.get(ph, 0)) for ph in ["start"] + PHASES)))
    total_fail = sum(fails.values())
    total_ok = sum(load.ok.values())
    log("  client requests: %d ok, %d failed" % (total_ok, total_fail))
    if total_fail:
        problems.append("%d client requests failed, e.g.\n    %s" % (
            total_fail, "\n    ".join("%.2f %s %s: %s" % (t - t_start, ph, pr, e)
                                      for t, ph, pr, e in load.failures[:8])))
    for proto in PROTOCOLS:
        if not any(load.ok.get((ph, proto)) for ph in ["start"] + PHASES):
            problems.append("no %s request succeeded" % proto)
    if term_check:
        survivors, before, ok_before = term_check
        served = sum((a or 0) - (b or 0) for a, b in zip(survivors_after, before))
        sent = total_after - ok_before
        log("  term: the clients got %d answers after the exit; the survivors answered %d" % (
            sent, served))
        if sent <= 0 or served < sent:
            problems.append("term: survivors answered %d requests, the clients got %d" % (served, sent))
    if problems:
        log("fault: FAIL\n  " + "\n  ".join(problems) + "\n  (logs in %s)" % tmp)
        return 1
    log("fault: PASS")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
