#!/usr/bin/python3
"""What an autoscaler would read from one replica as the offered load grows.

    bench/autoscale/load_signal.py --skiff build/skiff [--seconds 8] [--levels 1,2,4,8,16]

Serves tests/integration/models/slow (tens of ms per row, compute-bound) with
2 instances of 1 thread and no merging, and for each level runs that many
closed-loop clients (each sends its next request when the last is answered) for
--seconds. Per level it prints the process's CPU use (from /proc, in cores), the
mean of skiff_model_inflight_per_instance sampled from /metrics every 0.1 s, the
mean queue time from skiff_queue_duration_seconds, throughput and the clients'
latency. docs/deploy.md quotes a run.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLOW = os.path.join(ROOT, "tests", "integration", "models", "slow")
ROWS = 2


def metric(text, name, model="slow"):
    m = re.search(r"^%s\{model=\"%s\"\} (\S+)$" % (re.escape(name), model), text, re.M)
    return float(m.group(1)) if m else 0.0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", required=True)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--levels", default="1,2,4,8,16")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="skiff-signal-")
    port_file = os.path.join(tmp, "port")
    cmd = [os.path.abspath(a.skiff), "serve", "--model", SLOW, "--port", "0", "--port_file", port_file,
           "--instances", "2", "--thread", "1", "--batch_infer_size", "1", "--inline", "off"]
    proc = subprocess.Popen(cmd, stdout=open(os.path.join(tmp, "log"), "w"), stderr=subprocess.STDOUT)
    try:
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if proc.poll() is not None:
                sys.exit("skiff serve exited %s" % proc.returncode)
            time.sleep(0.05)
        url = "http://127.0.0.1:%s" % open(port_file).read().strip()
        body = {"feed": [{"x": [0.001]}] * ROWS}
        for _ in range(3):
            requests.post(url + "/slow/prediction", json=body).raise_for_status()
        print("command: %s" % " ".join(cmd[1:]))
        print("%d rows per request, %.0f s per level, %d cores on this machine\n" % (ROWS, a.seconds, os.cpu_count()))
        print("clients  CPU (cores)  in-flight/instance  queue mean (ms)  req/s   p50 (ms)  p99 (ms)")
        for level in [int(x) for x in a.levels.split(",")]:
            stop = threading.Event()
            lat = []
            lock = threading.Lock()

            def client():
                s = requests.Session()
                while not stop.is_set():
                    t0 = time.perf_counter()
                    s.post(url + "/slow/prediction", json=body).raise_for_status()
                    with lock:
                        lat.append(time.perf_counter() - t0)
            threads = [threading.Thread(target=client) for _ in range(level)]
            for t in threads:
                t.start()
            time.sleep(1.0)  # let the level settle
            with lock:
                lat.clear()
            m0 = requests.get(url + "/metrics").text
            c0, w0 = cpu_seconds(proc.pid), time.time()
            samples = []
            while time.time() - w0 < a.seconds:
                samples.append(metric(requests.get(url + "/metrics").text, "skiff_model_inflight_per_instance"))
                time.sleep(0.1)
            c1, w1 = cpu_seconds(proc.pid), time.time()
            m1 = requests.get(url + "/metrics").text
            with lock:
                done = sorted(lat)
            stop.set()
            for t in threads:
                t.join()
            qn = metric(m1, "skiff_queue_duration_seconds_count") - metric(m0, "skiff_queue_duration_seconds_count")
            qs = metric(m1, "skiff_queue_duration_seconds_sum") - metric(m0, "skiff_queue_duration_seconds_sum")
            p = lambda q: done[min(len(done) - 1, int(q * len(done)))] * 1000 if done else float("nan")
            print("%7d  %11.2f  %18.2f  %15.1f  %5.1f  %8.1f  %8.1f" % (
                level, (c1 - c0) / (w1 - w0), sum(samples) / max(1, len(samples)),
                1000 * qs / qn if qn else 0.0, len(done) / (w1 - w0), p(0.5), p(0.99)))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
