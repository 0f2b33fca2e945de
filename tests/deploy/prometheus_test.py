#!/usr/bin/python3
"""deploy/prometheus and deploy/grafana against a real Prometheus and two real replicas.

    prometheus_test.py --skiff build/skiff

1. promtool: `check config` deploy/prometheus/prometheus.yml, `check rules` rules.yml,
   `test rules` rules_test.yml (the alerts' unit tests).
2. Two `skiff serve` replicas of examples/uci_housing on free 127.0.0.1 ports, and
   Debian's prometheus (scrape and rule interval 1 s, a temporary TSDB) with the
   static job of prometheus.yml pointed at them and rules.yml loaded.
3. Requests to both; once Prometheus has scraped them, its HTTP API must give each
   replica's request counter equal to the requests sent, a finite positive p99 from
   the latency histogram, a result for every expr of the Grafana dashboard and every
   recording rule, no error for any alert expr, every rule evaluated with health ok,
   and one value per pod for each prometheus-adapter rule's query (as the adapter
   would send it for the HorizontalPodAutoscaler). Every skiff_* metric any of them
   names must be in a replica's /metrics.

Exit 77 (CTest SKIP) only when prometheus or promtool is not installed.
"""
import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import requests
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
UCI = os.path.join(ROOT, "examples", "uci_housing", "uci_housing_model")
PROM_DIR = os.path.join(ROOT, "deploy", "prometheus")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "skiff-dashboard.json")
ADAPTER = os.path.join(ROOT, "deploy", "k8s", "prometheus-adapter-rules.yaml")
X = [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919,
     0.1856, 0.0795, -0.0332]
SKIP = 77
failures = []


def check(cond, what, *detail):
    if cond:
        print("ok   " + what)
    else:
        failures.append(what)
        print("FAIL %s %s" % (what, " ".join(repr(d)[:600] for d in detail)))
    return cond


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(fn, timeout, what):
    """fn() until it returns a true value (returned), or None after timeout s."""
    t0 = time.time()
    last = None
    while time.time() - t0 < timeout:
        try:
            last = fn()
            if last:
                return last
        except (requests.RequestException, KeyError, ValueError) as e:
            last = e
        time.sleep(0.25)
    print("     (waited %ds for %s; last: %r)" % (timeout, what, last))
    return None


class Replica:
    def __init__(self, skiff, tmp, k):
        self.port_file = os.path.join(tmp, "port%d" % k)
        self.log = open(os.path.join(tmp, "skiff%d.log" % k), "w+")
        self.proc = subprocess.Popen([skiff, "serve", "--model", UCI, "--name", "uci", "--port", "0",
                                      "--port_file", self.port_file], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.pod = "replica-%d" % k

    def wait(self):
        def port():
            if self.proc.poll() is not None:
                raise SystemExit("skiff serve exited %s" % self.proc.returncode)
            with open(self.port_file) as f:
                return int(f.read().strip() or 0)
        t0 = time.time()
        while time.time() - t0 < 60:
            try:
                p = port()
                if p:
                    self.port = p
                    self.url = "http://127.0.0.1:%d" % p
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise SystemExit("skiff serve did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode


def promtool_checks(promtool, tmp):
    cfg = os.path.join(PROM_DIR, "prometheus.yml")
    r = subprocess.run([promtool, "check", "config", cfg], capture_output=True, text=True)
    out = r.stdout + r.stderr
    if r.returncode != 0 and "field kubernetes_sd_configs not found" in out:
        # Debian builds Prometheus without Kubernetes service discovery: check the
        # file without that job (tests/deploy/check_manifests.py checks the job
        # against the Deployment's labels and ports).
        with open(cfg) as f:
            doc = yaml.safe_load(f)
        doc["scrape_configs"] = [j for j in doc["scrape_configs"] if "kubernetes_sd_configs" not in j]
        cut = os.path.join(tmp, "prometheus.yml")
        with open(cut, "w") as f:
            yaml.safe_dump(doc, f)
        shutil.copy(os.path.join(PROM_DIR, "rules.yml"), os.path.join(tmp, "rules.yml"))
        print("     this promtool has no Kubernetes service discovery (Debian's build): "
              "checking prometheus.yml without its kubernetes_sd job")
        r = subprocess.run([promtool, "check", "config", cut], capture_output=True, text=True)
        out = r.stdout + r.stderr
    check(r.returncode == 0, "promtool check config prometheus.yml", out)
    r = subprocess.run([promtool, "check", "rules", os.path.join(PROM_DIR, "rules.yml")],
                       capture_output=True, text=True)
    check(r.returncode == 0, "promtool check rules rules.yml", r.stdout + r.stderr)
    r = subprocess.run([promtool, "test", "rules", "rules_test.yml"], cwd=PROM_DIR,
                       capture_output=True, text=True)
    check(r.returncode == 0 and "SUCCESS" in r.stdout, "promtool test rules rules_test.yml",
          r.stdout + r.stderr)


def scrape_config(replicas, tmp):
    """prometheus.yml's static job, pointed at the replicas, with the labels the
    kubernetes_sd job would add (namespace, pod); 1 s intervals."""
    with open(os.path.join(PROM_DIR, "prometheus.yml")) as f:
        doc = yaml.safe_load(f)
    job = [j for j in doc["scrape_configs"] if "static_configs" in j][0]
    job["static_configs"] = [{"targets": ["127.0.0.1:%d" % r.port],
                              "labels": {"namespace": "test", "pod": r.pod}} for r in replicas]
    cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
           "rule_files": [os.path.join(PROM_DIR, "rules.yml")],
           "scrape_configs": [job]}
    path = os.path.join(tmp, "prometheus-test.yml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path, job["job_name"]


class Prom:
    def __init__(self, url):
        self.url = url

    def query(self, q):
        r = requests.get(self.url + "/api/v1/query", params={"query": q}, timeout=10)
        body = r.json()
        return body.get("status"), body.get("data", {}).get("result"), body.get("error")

    def vector(self, q):
        st, res, err = self.query(q)
        if st != "success":
            raise ValueError("%s: %s" % (q, err))
        return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in res}


def names_in(expr):
    """skiff_* metric names an expr reads (not recording-rule names, which hold ':')."""
    return set(re.findall(r"(?<![:\w])skiff_[a-z_]+(?![:\w])", expr))


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    return dash, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", required=True)
    a = ap.parse_args()
    skiff = os.path.abspath(a.skiff)
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        print("SKIP: prometheus/promtool not installed (scripts/install-deps.sh installs Debian's prometheus)")
        return SKIP
    ver = subprocess.run([prometheus, "--version"], capture_output=True, text=True)
    print("     " + (ver.stdout + ver.stderr).splitlines()[0])
    tmp = tempfile.mkdtemp(prefix="skiff-prom-")
    replicas, prom_proc = [], None
    try:
        promtool_checks(promtool, tmp)
        replicas = [Replica(skiff, tmp, k) for k in range(2)]
        for r in replicas:
            r.wait()
        cfg, job = scrape_config(replicas, tmp)
        prom_log = open(os.path.join(tmp, "prometheus.log"), "w+")
        for attempt in range(3):  # a free port may be taken before prometheus binds it
            port = free_port()
            prom_proc = subprocess.Popen([prometheus, "--config.file=" + cfg,
                                          "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                                          "--web.listen-address=127.0.0.1:%d" % port,
                                          "--log.level=warn"], stdout=prom_log, stderr=subprocess.STDOUT)
            prom = Prom("http://127.0.0.1:%d" % port)

            def ready():
                if prom_proc.poll() is not None:
                    return "exited"
                return requests.get(prom.url + "/-/ready", timeout=2).status_code == 200
            state = wait_for(ready, 60, "prometheus ready")
            prom_log.seek(0)
            log = prom_log.read()
            if state == "exited" and "address already in use" in log and attempt < 2:
                continue
            break
        check(state is True, "prometheus ready", log[-2000:])
        if state is not True:
            return 1
        # Both replicas scraped once before any request, so rates see the increase.
        up = wait_for(lambda: len([v for v in prom.vector('up{job="%s"}' % job).values() if v == 1]) == 2,
                      60, "both targets up")
        check(up, "both replicas scraped (up == 1)")

        sent = {"replica-0": 7, "replica-1": 12}
        bad = {"replica-0": 0, "replica-1": 2}
        for r in replicas:
            s = requests.Session()
            for i in range(sent[r.pod]):
                if i % 2:
                    resp = s.post(r.url + "/uci/prediction", json={"feed": [{"x": X}], "fetch": ["price"]})
                else:
                    resp = s.post(r.url + "/v2/models/uci/infer", json={"inputs": [
                        {"name": "x", "shape": [1, 13], "datatype": "FP32", "data": X}]})
                check(resp.status_code == 200, "request %d to %s" % (i, r.pod), resp.text[:200])
            for i in range(bad[r.pod]):
                resp = s.post(r.url + "/uci/prediction", json={"feed": [{"x": X[:5]}], "fetch": ["price"]})
                check(resp.status_code == 400, "bad request %d to %s answered 400" % (i, r.pod), resp.text[:200])

        def counted():
            v = prom.vector('skiff_requests_total{job="%s",model="uci",outcome="success"}' % job)
            got = {dict(k)["pod"]: val for k, val in v.items()}
            return got if got == {p: float(n) for p, n in sent.items()} else None
        got = wait_for(counted, 60, "the request counters")
        check(got is not None, "request counters per replica = requests sent %s" % sent,
              prom.vector('skiff_requests_total{outcome="success"}'))
        v = prom.vector('skiff_requests_total{job="%s",outcome="INVALID_ARG"}' % job)
        check({dict(k)["pod"]: val for k, val in v.items()} == {"replica-0": 0.0, "replica-1": 2.0},
              "INVALID_ARG counters per replica", v)
        v = prom.vector("histogram_quantile(0.99, sum by (le) (rate(skiff_request_duration_seconds_bucket[5m])))")
        p99 = list(v.values())
        check(len(p99) == 1 and math.isfinite(p99[0]) and p99[0] > 0,
              "p99 latency from the histogram is finite and positive (%s s)" % p99, v)

        # Rules: every one evaluated, health ok; recording rules give series.
        def evaluated():
            groups = requests.get(prom.url + "/api/v1/rules", timeout=5).json()["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            done = all(r.get("lastEvaluation", "").startswith("20") and r.get("health") == "ok" for r in rules)
            return rules if done and rules else None
        rules = wait_for(evaluated, 30, "rules evaluated") or []
        with open(os.path.join(PROM_DIR, "rules.yml")) as f:
            file_rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
        check(len(rules) == len(file_rules) and rules,
              "Prometheus loaded and evaluated all %d rules, health ok" % len(file_rules),
              [(r.get("name"), r.get("health"), r.get("lastError")) for r in rules])
        referenced = set()
        for r in file_rules:
            referenced |= names_in(r["expr"])
            name = r.get("record") or r.get("alert")
            st, res, err = prom.query(r["expr"])
            if r.get("record"):
                ok = wait_for(lambda: prom.vector(r["record"]), 30, r["record"])
                check(st == "success" and res and ok, "recording rule %s has series" % name, err, res)
            else:
                check(st == "success", "alert %s expr runs" % name, err)

        # The dashboard: every target, with Grafana's variables as a user would pick them.
        dash, exprs = dashboard_exprs()
        for model in (".*", "uci"):
            for title, e in exprs:
                q = e.replace("$__rate_interval", "5m").replace("$model", model)
                referenced |= names_in(q)
                st, res, err = prom.query(q)
                check(st == "success" and res, "dashboard %r (model=~%s): %s" % (title, model, q[:70]), err, res)
        for var in dash["templating"]["list"]:
            m = re.fullmatch(r"label_values\((\w+), *(\w+)\)", var.get("definition", ""))
            if m:
                r = requests.get(prom.url + "/api/v1/label/%s/values" % m.group(2),
                                 params={"match[]": m.group(1)}, timeout=5).json()
                check("uci" in r.get("data", []), "dashboard variable %s lists the model" % var["name"], r)
        panel_titles = " ".join(t for t, _ in exprs) + " " + " ".join(p["title"] for p in dash["panels"])
        for want in ("Requests per second", "Error ratio", "p50", "p99", "Queue time",
                     "In-flight per instance", "Ready replicas"):
            check(want in panel_titles, "dashboard has a %s panel" % want)

        # prometheus-adapter: each rule's query as the adapter sends it for the HPA
        # (pods of one namespace, grouped by pod, the HPA's model selector).
        with open(ADAPTER) as f:
            adapter = yaml.safe_load(f)["rules"]["custom"]
        for rule in adapter:
            series = re.match(r"\w+", rule["seriesQuery"]).group(0)
            q = (rule["metricsQuery"].replace("<<.Series>>", series)
                 .replace("<<.LabelMatchers>>", 'namespace="test",pod=~"replica-0|replica-1",model="uci"')
                 .replace("<<.GroupBy>>", "pod"))
            referenced |= names_in(q)
            v = prom.vector(q)
            pods = sorted(dict(k).get("pod") for k in v)
            check(pods == ["replica-0", "replica-1"] and all(math.isfinite(x) and x >= 0 for x in v.values()),
                  "adapter rule %s: one value per pod" % rule["name"]["as"], q, v)

        exported = set()
        for line in requests.get(replicas[0].url + "/metrics").text.splitlines():
            m = re.match(r"^(skiff_[a-z_]+)[{ ]", line)
            if m:
                exported.add(m.group(1))
        check(referenced and not (referenced - exported), "every skiff_* metric named is exported (%d names)"
              % len(referenced), sorted(referenced - exported))
    finally:
        if prom_proc and prom_proc.poll() is None:
            prom_proc.send_signal(signal.SIGTERM)
            try:
                prom_proc.wait(30)
            except subprocess.TimeoutExpired:
                prom_proc.kill()
                prom_proc.wait()
        for r in replicas:
            check(r.stop() == 0, "%s exits 0 after SIGTERM" % r.pod)
        shutil.rmtree(tmp, ignore_errors=True)
    print("%s: %d failure(s)" % ("FAIL" if failures else "PASS", len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
