#!/usr/bin/python3
"""Fault test: three `skiff serve` replicas behind a real nginx; under load one
replica is killed with SIGKILL and later restarted on its port. Run through
bench/fault/run.sh.

nginx (run as the invoking user, config, pid, logs and temp paths in a temp
dir) proxies to an upstream of the three replicas with
  proxy_next_upstream error timeout http_502 http_503 non_idempotent;
  max_fails=1 fail_timeout=FAIL_TIMEOUT
so a request that meets the dead replica (connection refused or reset) is
retried on the next one. `non_idempotent` is needed because inference requests
are POSTs, which nginx otherwise never resends once they reached an upstream;
inference is a pure function, so resending is safe.

Timeline (seconds of load): KILL_AT SIGKILL replica KILL_INDEX; RESTART_AT
start it again on the same port; LOAD_SECONDS stop. CLIENTS threads send good
requests (Paddle web, Paddle 0.9, KServe JSON, in turn, random inputs) through
nginx, each answer checked against numpy.
Pass: no client request failed or was wrong, and after the restart every
replica's request counter (its /metrics) grew - nginx uses all three again.
"""
import grp
import os
import pwd
import re
import shutil
import signal
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
SKIFF = os.environ.get("SKIFF", os.path.join(ROOT, "build", "skiff"))
NGINX = os.environ.get("NGINX", shutil.which("nginx") or "/usr/sbin/nginx")
CLIENTS = int(os.environ.get("CLIENTS", "8"))
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "30"))
KILL_AT = float(os.environ.get("KILL_AT", "8"))
RESTART_AT = float(os.environ.get("RESTART_AT", "15"))
KILL_INDEX = int(os.environ.get("KILL_INDEX", "1"))
FAIL_TIMEOUT = int(os.environ.get("FAIL_TIMEOUT", "2"))


def weights():
    m = onnx.load(os.path.join(UCI, "model.onnx"))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return init["fc_0.w_0"].astype(np.float64), init["fc_0.b_0"].astype(np.float64)


W, B = weights()


def predict(rows):
    return (np.asarray(rows, np.float32).astype(np.float64).reshape(-1, 13) @ W + B).reshape(-1)


class Replica:
    def __init__(self, tmp, index, port=0):
        self.tmp, self.index = tmp, index
        self.proc = None
        self.port = port
        self.start()

    def start(self):
        pf = os.path.join(self.tmp, "port%d" % self.index)
        if os.path.exists(pf):
            os.unlink(pf)
        self.log = open(os.path.join(self.tmp, "replica%d.log" % self.index), "a")
        self.proc = subprocess.Popen(
            [SKIFF, "serve", "--model", UCI, "--name", "uci", "--port", str(self.port),
             "--port_file", pf, "--thread", "1", "--instances", "1", "--io_threads", "1"],
            stdout=self.log, stderr=subprocess.STDOUT)
        t0 = time.time()
        while not (os.path.exists(pf) and open(pf).read().strip()):
            if self.proc.poll() is not None or time.time() - t0 > 60:
                sys.exit("fault: replica %d did not start:\n%s" % (
                    self.index, open(os.path.join(self.tmp, "replica%d.log" % self.index)).read()))
            time.sleep(0.05)
        self.port = int(open(pf).read())

    def successes(self):
        """Requests this process answered with success (its /metrics)."""
        try:
            txt = requests.get("http://127.0.0.1:%d/metrics" % self.port, timeout=5).text
        except requests.RequestException:
            return None
        m = re.search(r'^skiff_requests_total\{model="uci",outcome="success"\} (\d+)', txt, re.M)
        return int(m.group(1)) if m else None


NGINX_CONF = """
worker_processes 1;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    log_format up '$status|$upstream_addr|$upstream_status|$request_time';
    access_log {tmp}/access.log up;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream skiff {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 64m;
        location / {{
            proxy_pass http://skiff;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 3;
            proxy_connect_timeout 1s;
            proxy_read_timeout 10s;
        }}
    }}
}}
"""


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_nginx(tmp, replicas):
    port = free_port()
    servers = "\n".join("        server 127.0.0.1:%d max_fails=1 fail_timeout=%ds;" % (
        r.port, FAIL_TIMEOUT) for r in replicas)
    # As root, nginx's workers would switch to "nobody" and could not write to the
    # temp dir: keep them as the invoking user.
    user = ""
    if os.geteuid() == 0:
        user = "user %s %s;" % (pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(tmp=tmp, servers=servers, port=port, user=user))
    log = open(os.path.join(tmp, "nginx.out"), "w")
    proc = subprocess.Popen([NGINX, "-p", tmp, "-e", os.path.join(tmp, "error.log"), "-c", conf],
                            stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    t0 = time.time()
    while True:
        if proc.poll() is not None:
            sys.exit("fault: nginx exited:\n%s%s" % (open(os.path.join(tmp, "nginx.out")).read(),
                                                    open(os.path.join(tmp, "error.log")).read()))
        try:
            if requests.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        if time.time() - t0 > 20:
            proc.kill()
            sys.exit("fault: nginx did not answer")
        time.sleep(0.1)


class Load:
    def __init__(self, url):
        self.url = url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []
        self.timeline = []  # (t, ok) per second

    def one(self, sess, rng, kind):
        rows = rng.uniform(-2, 2, size=(2, 13)).astype(np.float32)
        want = predict(rows)
        if kind == 0:
            r = sess.post(self.url + "/uci/prediction", timeout=30,
                          json={"feed": [{"x": rows[0].tolist()}, {"x": rows[1].tolist()}]})
            got = r.json()["result"]["price"] if r.status_code == 200 else None
        elif kind == 1:
            r = sess.post(self.url + "/GeneralModelService/inference", timeout=30,
                          json={"tensor": [{"float_data": rows.reshape(-1).tolist(), "elem_type": 1,
                                            "name": "x", "shape": [2, 13]}]})
            got = r.json()["outputs"][0]["tensor"][0]["float_data"] if r.status_code == 200 else None
        else:
            r = sess.post(self.url + "/v2/models/uci/infer", timeout=30,
                          json={"inputs": [{"name": "x", "shape": [2, 13], "datatype": "FP32",
                                            "data": rows.reshape(-1).tolist()}]})
            got = r.json()["outputs"][0]["data"] if r.status_code == 200 else None
        if r.status_code != 200:
            return "HTTP %d %s" % (r.status_code, r.text[:200])
        g = np.asarray(got, np.float64).reshape(-1)
        if g.shape != want.shape or np.any(np.abs(g - want) > 1e-4 * (1 + np.abs(want))):
            return "wrong answer %s, want %s" % (g.tolist(), want.tolist())
        return None

    def client(self, seed):
        rng = np.random.default_rng(seed)
        sess = requests.Session()
        i = 0
        while not self.stop.is_set():
            try:
                err = self.one(sess, rng, i % 3)
            except (requests.RequestException, ValueError, KeyError) as e:
                err = "%s: %s" % (type(e).__name__, e)
            i += 1
            with self.lock:
                if err:
                    self.failures.append((time.time(), err))
                else:
                    self.ok += 1


def main():
    tmp = tempfile.mkdtemp(prefix="skiff-fault-")
    replicas = [Replica(tmp, i) for i in range(3)]
    nginx, url = start_nginx(tmp, replicas)
    print("fault: replicas on ports %s behind nginx %s (%s); %d clients for %.0f s; SIGKILL replica "
          "%d at %.0f s, restart at %.0f s; fail_timeout %d s" % (
              ", ".join(str(r.port) for r in replicas), url, tmp, CLIENTS, LOAD_SECONDS, KILL_INDEX,
              KILL_AT, RESTART_AT, FAIL_TIMEOUT), flush=True)
    load = Load(url)
    threads = [threading.Thread(target=load.client, args=(i,), daemon=True) for i in range(CLIENTS)]
    t0 = time.time()
    for t in threads:
        t.start()
    victim = replicas[KILL_INDEX]
    events = []
    killed = restarted = False
    before_restart = None
    last_ok = 0
    while time.time() - t0 < LOAD_SECONDS:
        time.sleep(1)
        t = time.time() - t0
        counts = [r.successes() for r in replicas]
        with load.lock:
            ok, nfail = load.ok, len(load.failures)
        print("  t=%4.0fs  client ok %6d (+%5d)  failed %d  replica successes %s" % (
            t, ok, ok - last_ok, nfail, counts), flush=True)
        last_ok = ok
        if not killed and t >= KILL_AT:
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait()
            killed = True
            events.append("SIGKILL replica %d (port %d) at %.1f s" % (KILL_INDEX, victim.port, t))
            print("  " + events[-1], flush=True)
        if killed and not restarted and t >= RESTART_AT:
            victim.start()
            restarted = True
            before_restart = [r.successes() for r in replicas]
            events.append("restarted replica %d on port %d at %.1f s" % (KILL_INDEX, victim.port,
                                                                         time.time() - t0))
            print("  " + events[-1], flush=True)
    load.stop.set()
    for t in threads:
        t.join(60)
    after = [r.successes() for r in replicas]

    nginx.send_signal(signal.SIGQUIT)
    try:
        nginx.wait(10)
    except subprocess.TimeoutExpired:
        nginx.kill()
    for r in replicas:
        r.proc.send_signal(signal.SIGTERM)
    rcs = []
    for r in replicas:
        try:
            rcs.append(r.proc.wait(30))
        except subprocess.TimeoutExpired:
            r.proc.kill()
            rcs.append("killed")

    # What nginx saw: answers by upstream, and how many needed a retry.
    retried = 0
    by_upstream = {}
    by_status = {}
    with open(os.path.join(tmp, "access.log")) as f:
        for line in f:
            parts = line.strip().split("|")
            if len(parts) < 3:
                continue
            by_status[parts[0]] = by_status.get(parts[0], 0) + 1
            ups = [u.strip() for u in parts[1].split(",")]
            if len(ups) > 1:
                retried += 1  # "a, b": a failed (error, timeout, 502, 503) and b answered
            by_upstream[ups[-1]] = by_upstream.get(ups[-1], 0) + 1

    grew = [before_restart is not None and a is not None and b is not None and a > b
            for a, b in zip(after, before_restart or [None] * 3)]
    print()
    print("fault figures:")
    print("  " + "; ".join(events))
    print("  client requests: %d ok, %d failed" % (load.ok, len(load.failures)))
    print("  nginx: answers by status %s; by the upstream that answered %s; %d retried on another "
          "upstream after an error" % (
              ", ".join("%s %d" % kv for kv in sorted(by_status.items())),
              ", ".join("%s %d" % kv for kv in sorted(by_upstream.items())), retried))
    print("  replica successes at restart %s, at the end %s (counters of the running processes; "
          "the restarted one starts at 0)" % (before_restart, after))
    print("  replicas' exit status after SIGTERM: %s" % rcs)
    problems = []
    if load.failures:
        problems.append("%d client requests failed, e.g. %s" % (
            len(load.failures), "; ".join(e for _, e in load.failures[:3])))
    if load.ok == 0:
        problems.append("no request succeeded")
    if not all(grew):
        problems.append("not every replica served requests after the restart: %s -> %s" % (
            before_restart, after))
    if any(rc != 0 for rc in rcs):
        problems.append("a replica did not exit 0 on SIGTERM: %s" % rcs)
    if problems:
        print("fault: FAIL\n  " + "\n  ".join(problems) + "\n  (logs in %s)" % tmp)
        return 1
    print("fault: PASS")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
