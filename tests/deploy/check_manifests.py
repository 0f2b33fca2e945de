#!/usr/bin/python3
"""Offline checks of the deployment files under deploy/: no cluster needed.

    check_manifests.py --skiff build/skiff schema     every manifest against what it relies on
    check_manifests.py --skiff build/skiff kubectl    kubectl parses them (kubectl kustomize,
                                                      kubectl label --local); 77 = no kubectl
    check_manifests.py --skiff build/skiff selftest   broken copies must fail `schema`

`schema` reads deploy/k8s, deploy/kserve and deploy/prometheus/prometheus.yml with
PyYAML and checks, per kind, the fields and types the files rely on and how they fit
together: container ports, probes (path and port) against the Service and skiff's
flags, the HorizontalPodAutoscaler's target and metrics against the Deployment and the
prometheus-adapter rules, the PodDisruptionBudget's selector against the Deployment's
labels, the termination grace period against the preStop hook and --grace_s, and each
`args` flag against `skiff serve --help` of the built binary. Then it runs that binary
with the Deployment's and the ServingRuntime's own args (paths mapped to a temporary
directory laid out as the model image and KServe's /mnt/models would be) and calls the
probe paths, the model's readiness and /metrics, where every metric the adapter rules
name must be exported.

Kubernetes' own validation (OpenAPI schemas, admission) needs an API server: a cluster
run is what would show those; docs/deploy.md says what is and is not covered here.
"""
import argparse
import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
UCI = os.path.join(ROOT, "examples", "uci_housing", "uci_housing_model")
SKIP = 77

# The files `kubectl apply -k deploy/k8s` applies come from its kustomization.yaml;
# these are the other inputs.
ADAPTER = "deploy/k8s/prometheus-adapter-rules.yaml"
MODEL_IMAGE = "deploy/k8s/Dockerfile.models"
KSERVE = ["deploy/kserve/servingruntime.yaml", "deploy/kserve/inferenceservice.yaml"]
PROMETHEUS = "deploy/prometheus/prometheus.yml"


class Errors(list):
    def add(self, where, msg):
        self.append("%s: %s" % (where, msg))


# ---- small helpers ---------------------------------------------------------------------

def load_docs(root, rel, errs):
    path = os.path.join(root, rel)
    try:
        with open(path) as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        errs.add(rel, "cannot read: %s" % e)
        return []


def get(obj, path, typ, where, errs, required=True):
    """obj at the dotted path, checked to be of type typ (None when absent/wrong)."""
    cur = obj
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            if required:
                errs.add(where, "missing %s" % path)
            return None
        cur = cur[key]
    if typ is not None and (not isinstance(cur, typ) or (typ is int and isinstance(cur, bool))):
        errs.add(where, "%s: expected %s, got %r" % (path, getattr(typ, "__name__", typ), cur))
        return None
    return cur


def cpu_cores(q):
    """A CPU quantity ("2", 2, "1500m") in cores, or None."""
    s = str(q)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(m?)", s)
    if not m:
        return None
    v = float(m.group(1))
    return v / 1000 if m.group(2) else v


def mem_bytes(q):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(q))
    if not m:
        return None
    mult = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[m.group(2)]
    return int(m.group(1)) * mult


def serve_flags(skiff):
    """Flags `skiff serve --help` lists: {flag: help text}."""
    out = subprocess.run([skiff, "serve", "--help"], capture_output=True, text=True, timeout=30)
    flags = {}
    for line in (out.stdout + out.stderr).splitlines():
        m = re.match(r"^\s+(--[a-z_]+)\b(.*)$", line)
        if m:
            flags[m.group(1)] = m.group(2)
    if "--model" not in flags or "--grace_s" not in flags:
        raise SystemExit("cannot read the flags of %s serve --help:\n%s" % (skiff, out.stdout))
    return flags


def parse_args(args, flags, where, errs):
    """{flag: [values]} of a container's args; unknown or ignored flags are errors."""
    got = {}
    cur = None
    for a in args:
        if not isinstance(a, str):
            errs.add(where, "args: %r is not a string (quote numbers)" % (a,))
            continue
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            if name not in flags:
                errs.add(where, "args: %s is not a flag of `skiff serve` (see skiff serve --help)" % name)
            elif "Paddle compatibility" in flags[name]:
                errs.add(where, "args: %s is accepted but ignored by skiff" % name)
            cur = name
            got.setdefault(name, [])
            if eq:
                got[name].append(val)
        elif cur is None:
            errs.add(where, "args: %r comes before any flag (the entrypoint is `skiff serve`)" % a)
        else:
            got[cur].append(a)
    return got


def flag_int(got, flag, default, where, errs):
    vals = got.get(flag)
    if not vals:
        return default
    try:
        return int(vals[-1])
    except ValueError:
        errs.add(where, "%s %r is not an integer" % (flag, vals[-1]))
        return default


def default_of(flags, flag):
    m = re.search(r"\[default: (\d+)", flags.get(flag, ""))
    return int(m.group(1)) if m else None


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ---- per-kind checks --------------------------------------------------------------------

def check_probe(c, kind, path_want, ports, where, errs):
    p = get(c, kind, dict, where, errs)
    if p is None:
        return None
    path = get(p, "httpGet.path", str, where + " " + kind, errs)
    port = get(p, "httpGet.port", (int, str), where + " " + kind, errs)
    if path is not None and path_want is not None and path != path_want:
        errs.add(where, "%s.httpGet.path %s: skiff answers it on %s" % (kind, path, path_want))
    if port is not None and port not in ports:
        errs.add(where, "%s.httpGet.port %r is not a port of the container %s" % (kind, port, sorted(map(str, ports))))
    for k in ("periodSeconds", "failureThreshold", "timeoutSeconds", "initialDelaySeconds"):
        if k in p:
            get(p, k, int, where + " " + kind, errs)
    return path


def container_ports(c, where, errs):
    """{name or number: containerPort} of a container."""
    ports = {}
    for i, p in enumerate(get(c, "ports", list, where, errs) or []):
        w = "%s ports[%d]" % (where, i)
        num = get(p, "containerPort", int, w, errs)
        name = get(p, "name", str, w, errs, required=False)
        proto = p.get("protocol", "TCP")
        if proto not in ("TCP", "UDP", "SCTP"):
            errs.add(w, "protocol %r" % proto)
        if num is not None:
            if not 1 <= num <= 65535:
                errs.add(w, "containerPort %d out of range" % num)
            ports[num] = num
            if name is not None:
                if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?", name):
                    errs.add(w, "name %r: at most 15 lowercase letters, digits and '-'" % name)
                ports[name] = num
    return ports


def check_security(c, pod_sc, where, errs, read_only=True):
    sc = c.get("securityContext") or {}
    non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    if non_root is not True:
        errs.add(where, "securityContext.runAsNonRoot must be true")
    if uid != 10001:
        errs.add(where, "runAsUser %r: the image's user is uid 10001" % (uid,))
    if sc.get("allowPrivilegeEscalation") is not False:
        errs.add(where, "securityContext.allowPrivilegeEscalation must be false")
    if read_only and sc.get("readOnlyRootFilesystem") is not True:
        errs.add(where, "securityContext.readOnlyRootFilesystem must be true (skiff serve writes no files)")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        errs.add(where, "securityContext.capabilities.drop must hold ALL")


def check_resources(c, where, errs):
    res = get(c, "resources", dict, where, errs)
    if res is None:
        return None
    req_cpu = get(res, "requests.cpu", (str, int), where, errs)
    lim_cpu = get(res, "limits.cpu", (str, int), where, errs)
    req_mem = get(res, "requests.memory", (str, int), where, errs)
    lim_mem = get(res, "limits.memory", (str, int), where, errs)
    rc, lc = cpu_cores(req_cpu), cpu_cores(lim_cpu)
    rm, lm = mem_bytes(req_mem), mem_bytes(lim_mem)
    for q, v, what in ((req_cpu, rc, "requests.cpu"), (lim_cpu, lc, "limits.cpu"),
                       (req_mem, rm, "requests.memory"), (lim_mem, lm, "limits.memory")):
        if q is not None and v is None:
            errs.add(where, "resources.%s %r is not a quantity" % (what, q))
    if rc is not None and lc is not None and rc > lc:
        errs.add(where, "resources: requests.cpu above limits.cpu")
    if rm is not None and lm is not None and rm > lm:
        errs.add(where, "resources: requests.memory above limits.memory")
    # skiff reads the CPU limit from cgroup cpu.max rounded up to whole cores:
    # a fractional limit would size its threads past what it may use.
    if lc is not None and lc != int(lc):
        errs.add(where, "resources.limits.cpu %r: use whole cores (skiff rounds cpu.max up)" % lim_cpu)
    return rc


def check_deployment(d, flags, errs):
    w = "Deployment %s" % d.get("metadata", {}).get("name")
    info = {"name": get(d, "metadata.name", str, w, errs)}
    if d.get("apiVersion") != "apps/v1":
        errs.add(w, "apiVersion %r, expected apps/v1" % d.get("apiVersion"))
    replicas = get(d, "spec.replicas", int, w, errs)
    if replicas is not None and replicas != 3:
        errs.add(w, "spec.replicas %d, expected 3" % replicas)
    info["replicas"] = replicas
    sel = get(d, "spec.selector.matchLabels", dict, w, errs) or {}
    labels = get(d, "spec.template.metadata.labels", dict, w, errs) or {}
    if not labels_match(sel, labels):
        errs.add(w, "spec.selector.matchLabels %s does not select the template's labels %s" % (sel, labels))
    info["labels"] = labels
    info["annotations"] = d.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
    pod = get(d, "spec.template.spec", dict, w, errs) or {}
    pod_sc = pod.get("securityContext") or {}
    volumes = {v.get("name"): v for v in (pod.get("volumes") or [])}
    containers = get(pod, "containers", list, w, errs) or []
    skiffs = [c for c in containers if str(c.get("image", "")).startswith("skiff:")]
    if len(skiffs) != 1:
        errs.add(w, "expected one container of image skiff:latest, found %d" % len(skiffs))
        return info
    c = skiffs[0]
    cw = "%s container %s" % (w, c.get("name"))
    if c.get("image") != "skiff:latest":
        errs.add(cw, "image %r, expected skiff:latest" % c.get("image"))
    if "command" in c:
        errs.add(cw, "command overrides the image's entrypoint `skiff serve`; give args only")
    args = get(c, "args", list, cw, errs) or []
    got = parse_args(args, flags, cw, errs)
    info["args"] = args
    info["container"] = c
    ports = container_ports(c, cw, errs)
    info["ports"] = ports
    port = flag_int(got, "--port", default_of(flags, "--port"), cw, errs)
    info["port"] = port
    if port not in ports.values():
        errs.add(cw, "skiff listens on --port %s, which is not a containerPort %s" % (port, sorted(set(ports.values()))))
    ann_port = info["annotations"].get("prometheus.io/port")
    if ann_port is not None and ann_port != str(port):
        errs.add(w, "annotation prometheus.io/port %r is not --port %s" % (ann_port, port))
    host = (got.get("--host") or ["127.0.0.1"])[-1]
    if host not in ("0.0.0.0", "::"):
        errs.add(cw, "--host %s: a pod must listen on 0.0.0.0 (or ::) to be reached" % host)
    models = got.get("--model") or []
    if not models:
        errs.add(cw, "no --model")
    info["models"] = models
    info["model_names"] = [m.rsplit(":", 1)[1] if ":" in m else os.path.basename(m.rstrip("/")) for m in models]
    if len(models) == 1 and got.get("--name"):
        info["model_names"] = got["--name"][-1:]
    mounts = {}
    for i, vm in enumerate(get(c, "volumeMounts", list, cw, errs) or []):
        name = get(vm, "name", str, "%s volumeMounts[%d]" % (cw, i), errs)
        path = get(vm, "mountPath", str, "%s volumeMounts[%d]" % (cw, i), errs)
        if name is not None and name not in volumes:
            errs.add(cw, "volumeMount %s names no volume of the pod" % name)
        if path is not None:
            mounts[path] = vm
    info["mounts"] = mounts
    for m in models:
        mpath = m.rsplit(":", 1)[0] if re.search(r":[A-Za-z0-9_.-]+$", m) else m
        under = [p for p in mounts if mpath == p or mpath.startswith(p.rstrip("/") + "/")]
        if not under:
            errs.add(cw, "--model %s is not under a mounted volume %s" % (mpath, sorted(mounts)))
        elif not mounts[under[0]].get("readOnly"):
            errs.add(cw, "the model volume %s should be mounted readOnly" % under[0])
    ready = check_probe(c, "readinessProbe", "/v2/health/ready", ports, cw, errs)
    live = check_probe(c, "livenessProbe", "/v2/health/live", ports, cw, errs)
    info["probe_paths"] = [p for p in (ready, live) if p]
    if "startupProbe" in c:
        sp = check_probe(c, "startupProbe", None, ports, cw, errs)
        if sp not in (None, "/v2/health/live", "/v2/health/ready"):
            errs.add(cw, "startupProbe path %s is not a health endpoint" % sp)
        if sp:
            info["probe_paths"].append(sp)
    # Drain: preStop, then SIGTERM and up to --grace_s of in-flight requests, all
    # inside terminationGracePeriodSeconds.
    grace = flag_int(got, "--grace_s", default_of(flags, "--grace_s"), cw, errs)
    tgp = get(pod, "terminationGracePeriodSeconds", int, w, errs)
    pre = (c.get("lifecycle") or {}).get("preStop")
    pre_s = 0
    if not isinstance(pre, dict):
        errs.add(cw, "no lifecycle.preStop: endpoints must be gone before SIGTERM closes the port")
    elif "sleep" in pre:
        pre_s = get(pre, "sleep.seconds", int, cw + " preStop", errs) or 0
    elif "exec" in pre:
        cmd = get(pre, "exec.command", list, cw + " preStop", errs) or []
        if len(cmd) == 2 and os.path.basename(str(cmd[0])) == "sleep" and str(cmd[1]).isdigit():
            pre_s = int(cmd[1])
        else:
            errs.add(cw, "preStop.exec.command %r: expected [sleep, N]" % cmd)
    else:
        errs.add(cw, "preStop: expected a sleep or exec action")
    if pre is not None and pre_s <= 0:
        errs.add(cw, "preStop sleeps no time")
    if tgp is not None and grace is not None and tgp <= pre_s + grace:
        errs.add(w, "terminationGracePeriodSeconds %d must exceed preStop %d s + --grace_s %d s"
                 % (tgp, pre_s, grace))
    info["grace"], info["prestop"], info["tgp"] = grace, pre_s, tgp
    info["cpu_request"] = check_resources(c, cw, errs)
    check_security(c, pod_sc, cw, errs)
    if pod_sc.get("runAsNonRoot") is not True:
        errs.add(w, "pod securityContext.runAsNonRoot must be true")
    for ic in pod.get("initContainers") or []:
        iw = "%s initContainer %s" % (w, ic.get("name"))
        for i, vm in enumerate(ic.get("volumeMounts") or []):
            if vm.get("name") not in volumes:
                errs.add(iw, "volumeMount %s names no volume of the pod" % vm.get("name"))
        check_resources(ic, iw, errs)
        check_security(ic, pod_sc, iw, errs)
    info["init"] = pod.get("initContainers") or []
    return info


def check_service(s, dep, errs):
    w = "Service %s" % s.get("metadata", {}).get("name")
    if s.get("apiVersion") != "v1":
        errs.add(w, "apiVersion %r, expected v1" % s.get("apiVersion"))
    sel = get(s, "spec.selector", dict, w, errs) or {}
    if dep and not labels_match(sel, dep["labels"]):
        errs.add(w, "spec.selector %s does not select the Deployment's pods %s" % (sel, dep["labels"]))
    names, nums, protos = set(), set(), {}
    for i, p in enumerate(get(s, "spec.ports", list, w, errs) or []):
        pw = "%s ports[%d]" % (w, i)
        name = get(p, "name", str, pw, errs)
        port = get(p, "port", int, pw, errs)
        target = get(p, "targetPort", (int, str), pw, errs)
        if name in names:
            errs.add(pw, "duplicate port name %s" % name)
        if port in nums:
            errs.add(pw, "duplicate port %s" % port)
        names.add(name)
        nums.add(port)
        if dep and target is not None and target not in dep["ports"]:
            errs.add(pw, "targetPort %r is not a port of the skiff container %s" % (target, sorted(map(str, dep["ports"]))))
        app = p.get("appProtocol")
        if app is not None and not re.fullmatch(r"([a-z0-9.-]+/)?[a-z0-9-]+", str(app)):
            errs.add(pw, "appProtocol %r is not a (prefixed) protocol name" % app)
        protos[name] = app
    # One port for each protocol skiff speaks.
    if not any(a == "http" for a in protos.values()):
        errs.add(w, "no port with appProtocol http")
    if not any(a == "kubernetes.io/h2c" for a in protos.values()):
        errs.add(w, "no gRPC port (appProtocol kubernetes.io/h2c)")
    if not any("rpc" in (n or "") and n != "grpc" for n in protos):
        errs.add(w, "no brpc port")


def check_hpa(h, dep, adapter_names, errs):
    w = "HorizontalPodAutoscaler %s" % h.get("metadata", {}).get("name")
    if h.get("apiVersion") != "autoscaling/v2":
        errs.add(w, "apiVersion %r, expected autoscaling/v2" % h.get("apiVersion"))
    ref = get(h, "spec.scaleTargetRef", dict, w, errs) or {}
    if dep and (ref.get("apiVersion") != "apps/v1" or ref.get("kind") != "Deployment" or ref.get("name") != dep["name"]):
        errs.add(w, "scaleTargetRef %s is not Deployment %s (apps/v1)" % (ref, dep["name"]))
    lo = get(h, "spec.minReplicas", int, w, errs)
    hi = get(h, "spec.maxReplicas", int, w, errs)
    if lo is not None and hi is not None and not 1 <= lo <= hi:
        errs.add(w, "minReplicas %d, maxReplicas %d" % (lo, hi))
    if dep and lo is not None and dep["replicas"] is not None and lo > dep["replicas"]:
        errs.add(w, "minReplicas %d above the Deployment's replicas %d" % (lo, dep["replicas"]))
    kinds = set()
    for i, m in enumerate(get(h, "spec.metrics", list, w, errs) or []):
        mw = "%s metrics[%d]" % (w, i)
        t = get(m, "type", str, mw, errs)
        kinds.add(t)
        if t == "Resource":
            if get(m, "resource.name", str, mw, errs) != "cpu":
                errs.add(mw, "expected the cpu resource")
            if get(m, "resource.target.type", str, mw, errs) == "Utilization":
                u = get(m, "resource.target.averageUtilization", int, mw, errs)
                if u is not None and not 1 <= u <= 100:
                    errs.add(mw, "averageUtilization %d" % u)
                if dep and not dep.get("cpu_request"):
                    errs.add(mw, "CPU utilization needs a CPU request on the skiff container")
        elif t == "Pods":
            name = get(m, "pods.metric.name", str, mw, errs)
            if name is not None and name not in adapter_names:
                errs.add(mw, "metric %s is not served by a prometheus-adapter rule (%s)" % (name, sorted(adapter_names)))
            sel = (((m.get("pods") or {}).get("metric") or {}).get("selector") or {}).get("matchLabels") or {}
            if dep and "model" in sel and sel["model"] not in dep["model_names"]:
                errs.add(mw, "selector model=%s is not a model the Deployment serves %s" % (sel["model"], dep["model_names"]))
            if get(m, "pods.target.type", str, mw, errs) != "AverageValue":
                errs.add(mw, "a Pods metric's target type is AverageValue")
            v = get(m, "pods.target.averageValue", (str, int, float), mw, errs)
            if v is not None and cpu_cores(v) is None:
                errs.add(mw, "averageValue %r is not a quantity" % v)
        else:
            errs.add(mw, "unexpected metric type %r" % t)
    for want in ("Resource", "Pods"):
        if want not in kinds:
            errs.add(w, "no %s metric" % want)


def check_pdb(p, dep, errs):
    w = "PodDisruptionBudget %s" % p.get("metadata", {}).get("name")
    if p.get("apiVersion") != "policy/v1":
        errs.add(w, "apiVersion %r, expected policy/v1" % p.get("apiVersion"))
    sel = get(p, "spec.selector.matchLabels", dict, w, errs) or {}
    if dep and not labels_match(sel, dep["labels"]):
        errs.add(w, "selector %s does not select the Deployment's pods %s" % (sel, dep["labels"]))
    spec = p.get("spec") or {}
    if ("minAvailable" in spec) == ("maxUnavailable" in spec):
        errs.add(w, "exactly one of minAvailable and maxUnavailable")
    mu = spec.get("maxUnavailable")
    if isinstance(mu, int) and dep and dep["replicas"] and not 1 <= mu < dep["replicas"]:
        errs.add(w, "maxUnavailable %d with %d replicas" % (mu, dep["replicas"]))
    ma = spec.get("minAvailable")
    if isinstance(ma, int) and dep and dep["replicas"] and not 1 <= ma < dep["replicas"]:
        errs.add(w, "minAvailable %d with %d replicas blocks every drain" % (ma, dep["replicas"]))


def check_adapter(doc, errs):
    """Rules (Helm values: rules.custom); returns {exposed name: rule}."""
    w = ADAPTER
    out = {}
    rules = get(doc, "rules.custom", list, w, errs) or []
    for i, r in enumerate(rules):
        rw = "%s rules.custom[%d]" % (w, i)
        sq = get(r, "seriesQuery", str, rw, errs)
        mq = get(r, "metricsQuery", str, rw, errs)
        ov = get(r, "resources.overrides", dict, rw, errs) or {}
        if (ov.get("namespace") or {}).get("resource") != "namespace" or (ov.get("pod") or {}).get("resource") != "pod":
            errs.add(rw, "resources.overrides must map the namespace and pod labels to their resources")
        matches = get(r, "name.matches", str, rw, errs)
        name = (r.get("name") or {}).get("as") or ""
        series = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", sq or "")
        if series and matches:
            if not re.search(matches, series.group(0)):
                errs.add(rw, "name.matches %s does not match the series %s" % (matches, series.group(0)))
            name = name or series.group(0)
        if mq:
            for t in ("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"):
                if t not in mq:
                    errs.add(rw, "metricsQuery lacks %s" % t)
        out[name] = {"series": series.group(0) if series else None, "query": mq}
    return out


def check_prometheus_sd(doc, dep, errs):
    """The kubernetes_sd job keeps exactly the Deployment's pods and port."""
    w = PROMETHEUS
    jobs = get(doc, "scrape_configs", list, w, errs) or []
    k8s = [j for j in jobs if "kubernetes_sd_configs" in j]
    if len(k8s) != 1:
        errs.add(w, "expected one kubernetes_sd_configs job, found %d" % len(k8s))
        return
    job = k8s[0]
    jw = "%s job %s" % (w, job.get("job_name"))
    if not any(sd.get("role") == "pod" for sd in job["kubernetes_sd_configs"]):
        errs.add(jw, "kubernetes_sd_configs role must be pod")
    if not dep:
        return
    # What service discovery would give for the skiff container's serving port.
    meta = {"__meta_kubernetes_namespace": "default", "__meta_kubernetes_pod_name": "skiff-0",
            "__meta_kubernetes_pod_container_port_name": next((k for k, v in dep["ports"].items()
                                                                 if isinstance(k, str) and v == dep["port"]), ""),
            "__metrics_path__": "/metrics"}
    for k, v in dep["labels"].items():
        meta["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k)] = v
    for k, v in dep["annotations"].items():
        meta["__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", k)] = v
    labels = dict(meta)
    for i, r in enumerate(job.get("relabel_configs") or []):
        rw = "%s relabel_configs[%d]" % (jw, i)
        src = r.get("source_labels") or []
        val = (r.get("separator", ";")).join(labels.get(s, "") for s in src)
        rx = re.compile("^(?:%s)$" % r.get("regex", "(.*)"))
        act = r.get("action", "replace")
        if act == "keep":
            if not rx.match(val):
                errs.add(rw, "drops the Deployment's pods (%s = %r)" % (src, val))
                return
        elif act == "replace":
            m = rx.match(val)
            if m and "target_label" in r:
                labels[r["target_label"]] = m.expand(r.get("replacement", "$1").replace("$", "\\"))
        else:
            errs.add(rw, "action %s not modelled by this check" % act)
    for want in ("namespace", "pod"):
        if want not in labels:
            errs.add(jw, "targets get no %s label (prometheus-adapter maps it to pods)" % want)
    if labels.get("__metrics_path__") != "/metrics":
        errs.add(jw, "metrics path %r" % labels.get("__metrics_path__"))


def check_kserve(docs, flags, errs):
    rts = [d for d in docs if d.get("kind") == "ServingRuntime"]
    isvcs = [d for d in docs if d.get("kind") == "InferenceService"]
    if len(rts) != 1 or len(isvcs) != 1:
        errs.add("deploy/kserve", "expected one ServingRuntime and one InferenceService")
        return None
    rt, isvc = rts[0], isvcs[0]
    w = "ServingRuntime %s" % rt.get("metadata", {}).get("name")
    if rt.get("apiVersion") != "serving.kserve.io/v1alpha1":
        errs.add(w, "apiVersion %r" % rt.get("apiVersion"))
    pv = get(rt, "spec.protocolVersions", list, w, errs) or []
    for want in ("v2", "grpc-v2"):
        if want not in pv:
            errs.add(w, "protocolVersions lacks %s" % want)
    formats = {}
    for i, f in enumerate(get(rt, "spec.supportedModelFormats", list, w, errs) or []):
        fw = "%s supportedModelFormats[%d]" % (w, i)
        formats[get(f, "name", str, fw, errs)] = f
        if f.get("autoSelect") is not True:
            errs.add(fw, "autoSelect must be true")
        if "version" in f:
            get(f, "version", str, fw, errs)
    for want in ("onnx", "paddle"):
        if want not in formats:
            errs.add(w, "supportedModelFormats lacks %s" % want)
    cs = get(rt, "spec.containers", list, w, errs) or []
    if len(cs) != 1 or cs[0].get("name") != "kserve-container":
        errs.add(w, "expected one container named kserve-container")
        return None
    c = cs[0]
    cw = w + " container"
    args = get(c, "args", list, cw, errs) or []
    got = parse_args(args, flags, cw, errs)
    if (got.get("--model") or [None])[-1] != "/mnt/models":
        errs.add(cw, "--model must be /mnt/models, where KServe puts the storageUri's files")
    if "{{.Name}}" not in (got.get("--name") or []):
        errs.add(cw, "--name must be {{.Name}}, the InferenceService's name")
    ports = container_ports(c, cw, errs)
    port = flag_int(got, "--port", default_of(flags, "--port"), cw, errs)
    if port not in ports.values():
        errs.add(cw, "--port %s is not a containerPort" % port)
    if (got.get("--host") or [""])[-1] not in ("0.0.0.0", "::"):
        errs.add(cw, "--host must be 0.0.0.0")
    paths = [p for p in (check_probe(c, "readinessProbe", "/v2/health/ready", ports, cw, errs),
                         check_probe(c, "livenessProbe", "/v2/health/live", ports, cw, errs)) if p]
    check_resources(c, cw, errs)
    check_security(c, {}, cw, errs)
    ann = (rt.get("spec") or {}).get("annotations") or {}
    if ann.get("prometheus.kserve.io/port") not in (None, str(port)):
        errs.add(w, "prometheus.kserve.io/port %r is not --port %s" % (ann.get("prometheus.kserve.io/port"), port))
    iw = "InferenceService %s" % isvc.get("metadata", {}).get("name")
    if isvc.get("apiVersion") != "serving.kserve.io/v1beta1":
        errs.add(iw, "apiVersion %r" % isvc.get("apiVersion"))
    name = get(isvc, "metadata.name", str, iw, errs)
    if name is not None and not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name):
        errs.add(iw, "name %r is not a DNS label starting with a letter" % name)
    model = get(isvc, "spec.predictor.model", dict, iw, errs) or {}
    fmt = get(model, "modelFormat.name", str, iw, errs)
    if fmt is not None and fmt not in formats:
        errs.add(iw, "modelFormat %s is not one the runtime supports %s" % (fmt, sorted(formats)))
    if model.get("runtime") != rt.get("metadata", {}).get("name"):
        errs.add(iw, "runtime %r is not the ServingRuntime %r" % (model.get("runtime"), rt.get("metadata", {}).get("name")))
    uri = get(model, "storageUri", str, iw, errs)
    if uri is not None and not re.match(r"(s3|gs|pvc|https?|hdfs|webhdfs|oci|hf)://.+", uri):
        errs.add(iw, "storageUri %r: not a scheme KServe's storage initializer reads" % uri)
    return {"args": args, "name": name, "paths": paths, "port": port}


def model_image_layout(root, errs):
    """{path in the image: path in the tree} from Dockerfile.models' COPY lines."""
    out = {}
    try:
        with open(os.path.join(root, MODEL_IMAGE)) as f:
            for line in f:
                m = re.match(r"^\s*COPY\s+(\S+)\s+(\S+)\s*$", line)
                if m:
                    src = os.path.join(root, m.group(1))
                    if not os.path.exists(src):
                        errs.add(MODEL_IMAGE, "COPY source %s does not exist" % m.group(1))
                    out[m.group(2)] = src
    except OSError as e:
        errs.add(MODEL_IMAGE, str(e))
    if not out:
        errs.add(MODEL_IMAGE, "no COPY line")
    return out


# ---- running the real binary with the manifests' args ------------------------------------

def run_skiff(skiff, args, port, path_map, checks, where, errs):
    """Starts skiff serve with a manifest's args (port -> a free one, host -> 127.0.0.1,
    paths mapped), then GETs each path of checks {path: (status, needle)}."""
    tmp = tempfile.mkdtemp(prefix="skiff-deploy-")
    port_file = os.path.join(tmp, "port")
    out = []
    skip = False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a in ("--port", "--host") and i + 1 < len(args):
            skip = True
            continue
        if a.startswith("--port=") or a.startswith("--host="):
            continue
        for prefix, local in path_map.items():
            if a == prefix or a.startswith(prefix.rstrip("/") + "/") or a.startswith(prefix + ":"):
                a = local + a[len(prefix):]
                break
        out.append(a)
    cmd = [skiff, "serve"] + out + ["--port", "0", "--port_file", port_file, "--host", "127.0.0.1"]
    log = open(os.path.join(tmp, "log"), "w+")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        t0 = time.time()
        got_port = None
        while time.time() - t0 < 60 and proc.poll() is None:
            try:
                with open(port_file) as f:
                    txt = f.read().strip()
                if txt:
                    got_port = int(txt)
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        if got_port is None:
            log.seek(0)
            errs.add(where, "skiff serve %s did not start:\n%s" % (" ".join(out), log.read()[-1500:]))
            return None
        texts = {}
        for path, (status, needle) in checks.items():
            try:
                r = urllib.request.urlopen("http://127.0.0.1:%d%s" % (got_port, path), timeout=10)
                code, body = r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                code, body = e.code, e.read().decode()
            except OSError as e:
                code, body = None, str(e)
            texts[path] = body
            print("     %s: GET %s -> %s" % (where, path, code))
            if code != status:
                errs.add(where, "GET %s answered %s, expected %d" % (path, code, status))
            elif needle and needle not in body:
                errs.add(where, "GET %s: %r not in the answer" % (path, needle))
        proc.send_signal(signal.SIGTERM)
        if proc.wait(30) != 0:
            errs.add(where, "skiff serve exited %s after SIGTERM" % proc.returncode)
        return texts
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def exported_metrics(text):
    names = set()
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", line)
        if m and not line.startswith("#"):
            names.add(m.group(1))
    return names


# ---- the checks as a whole ---------------------------------------------------------------

def check_tree(root, skiff, flags):
    errs = Errors()
    kust = load_docs(root, "deploy/k8s/kustomization.yaml", errs)
    files = []
    if kust:
        files = get(kust[0], "resources", list, "deploy/k8s/kustomization.yaml", errs) or []
    on_disk = sorted(f for f in os.listdir(os.path.join(root, "deploy/k8s"))
                     if f.endswith((".yaml", ".yml")) and f not in ("kustomization.yaml", os.path.basename(ADAPTER)))
    if sorted(files) != on_disk:
        errs.add("deploy/k8s/kustomization.yaml", "resources %s are not the manifests in deploy/k8s %s" % (sorted(files), on_disk))
    objs = []
    for f in files:
        for d in load_docs(root, "deploy/k8s/" + f, errs):
            if not isinstance(d, dict) or not d.get("kind") or not d.get("apiVersion") or not (d.get("metadata") or {}).get("name"):
                errs.add("deploy/k8s/" + f, "a document without apiVersion, kind and metadata.name")
                continue
            objs.append(d)
    by_kind = {}
    for d in objs:
        by_kind.setdefault(d["kind"], []).append(d)
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        if len(by_kind.get(kind, [])) != 1:
            errs.add("deploy/k8s", "expected one %s, found %d" % (kind, len(by_kind.get(kind, []))))
    adapter_docs = load_docs(root, ADAPTER, errs)
    adapter = check_adapter(adapter_docs[0], errs) if adapter_docs else {}
    dep = check_deployment(by_kind["Deployment"][0], flags, errs) if by_kind.get("Deployment") else None
    for s in by_kind.get("Service", []):
        check_service(s, dep, errs)
    for h in by_kind.get("HorizontalPodAutoscaler", []):
        check_hpa(h, dep, set(adapter), errs)
    for p in by_kind.get("PodDisruptionBudget", []):
        check_pdb(p, dep, errs)
    prom = load_docs(root, PROMETHEUS, errs)
    if prom:
        check_prometheus_sd(prom[0], dep, errs)
    kdocs = []
    for f in KSERVE:
        kdocs += load_docs(root, f, errs)
    ks = check_kserve(kdocs, flags, errs)
    layout = model_image_layout(root, errs)

    # The real binary, with the Deployment's args: the model volume laid out as the
    # init container leaves it (the model image's /models copied to the volume).
    if dep and dep.get("models") and not errs:
        tmp = tempfile.mkdtemp(prefix="skiff-deploy-models-")
        try:
            for img_path, src in layout.items():
                rel = os.path.relpath(img_path, "/models")
                if rel.startswith(".."):
                    errs.add(MODEL_IMAGE, "COPY destination %s is not under /models" % img_path)
                    continue
                shutil.copytree(src, os.path.join(tmp, rel))
            mount = next((p for p in dep["mounts"] if any(m.startswith(p.rstrip("/") + "/") for m in dep["models"])), "/models")
            checks = {p: (200, None) for p in dep["probe_paths"]}
            for n in dep["model_names"]:
                checks["/v2/models/%s/ready" % n] = (200, None)
            checks["/metrics"] = (200, "skiff_model_inflight_per_instance{model=")
            texts = run_skiff(skiff, dep["args"], dep["port"], {mount: tmp}, checks, "Deployment args", errs)
            if texts and "/metrics" in texts:
                have = exported_metrics(texts["/metrics"])
                for name, r in adapter.items():
                    used = set(re.findall(r"\bskiff_[a-z_]+\b", (r["query"] or "") + " " + (r["series"] or "")))
                    for m in sorted(used - have):
                        errs.add(ADAPTER, "rule %s uses %s, which skiff does not export" % (name, m))
                for n in dep["model_names"]:
                    if 'skiff_model_inflight_per_instance{model="%s"}' % n not in texts["/metrics"]:
                        errs.add("Deployment args", "no skiff_model_inflight_per_instance for model %s" % n)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    # The ServingRuntime's args as KServe fills them: {{.Name}} = the
    # InferenceService's name, /mnt/models = the downloaded storageUri.
    if ks and ks["name"] and not errs:
        args = [a.replace("{{.Name}}", ks["name"]) for a in ks["args"]]
        checks = {p: (200, None) for p in ks["paths"]}
        checks["/v2/models/%s/ready" % ks["name"]] = (200, None)
        checks["/v2/models/%s" % ks["name"]] = (200, '"name":"%s"' % ks["name"])
        run_skiff(skiff, args, ks["port"], {"/mnt/models": UCI}, checks, "ServingRuntime args", errs)
    return errs


# ---- kubectl ------------------------------------------------------------------------------

def find_kubectl():
    return shutil.which("kubectl")


def kubectl_check(root, kubectl):
    """kubectl parses every manifest without a cluster: `kubectl kustomize` builds the
    kustomization, `kubectl label --local -o name` decodes each object (apiVersion,
    kind, name; YAML and JSON conversion). Returns errors."""
    errs = Errors()
    with tempfile.TemporaryDirectory(prefix="skiff-kubectl-") as tmp:
        cfg = os.path.join(tmp, "config")
        with open(cfg, "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
        env = dict(os.environ, KUBECONFIG=cfg, HOME=tmp)
        r = subprocess.run([kubectl, "kustomize", os.path.join(root, "deploy/k8s")],
                           capture_output=True, text=True, env=env, timeout=60)
        if r.returncode != 0:
            errs.add("kubectl kustomize deploy/k8s", r.stderr.strip()[-800:])
        else:
            kinds = sorted(d["kind"] for d in yaml.safe_load_all(r.stdout) if d)
            want = ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]
            if kinds != want:
                errs.add("kubectl kustomize deploy/k8s", "built %s, expected %s" % (kinds, want))
        files = []
        try:
            with open(os.path.join(root, "deploy/k8s/kustomization.yaml")) as f:
                files = ["deploy/k8s/" + x for x in (yaml.safe_load(f) or {}).get("resources") or []]
        except (OSError, yaml.YAMLError) as e:
            errs.add("deploy/k8s/kustomization.yaml", str(e))
        for rel in files + KSERVE:
            r = subprocess.run([kubectl, "label", "--local", "-o", "name", "-f", os.path.join(root, rel),
                                "skiff.check/offline=yes"], capture_output=True, text=True, env=env, timeout=60)
            if r.returncode != 0:
                errs.add("kubectl label --local -f " + rel, r.stderr.strip()[-800:])
                continue
            names = sorted(r.stdout.split())
            try:
                with open(os.path.join(root, rel)) as f:
                    docs = [d for d in yaml.safe_load_all(f) if d]
                want = sorted(d["metadata"]["name"] for d in docs)
            except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
                errs.add(rel, "unreadable: %s" % e)
                continue
            if sorted(n.rsplit("/", 1)[-1] for n in names) != want:
                errs.add("kubectl label --local -f " + rel, "decoded %s, the file names %s" % (names, want))
    return errs


# ---- self-test: each broken copy must fail --------------------------------------------------

def yaml_edit(rel, fn):
    def apply(root):
        p = os.path.join(root, rel)
        with open(p) as f:
            docs = list(yaml.safe_load_all(f))
        fn(docs)
        with open(p, "w") as f:
            yaml.safe_dump_all(docs, f, sort_keys=False)
    return apply


def text_edit(rel, old, new):
    def apply(root):
        p = os.path.join(root, rel)
        with open(p) as f:
            s = f.read()
        if old not in s:
            raise AssertionError("self-test: %r not in %s" % (old, rel))
        with open(p, "w") as f:
            f.write(s.replace(old, new, 1))
    return apply


def skiff_container(docs):
    return [c for c in docs[0]["spec"]["template"]["spec"]["containers"] if c["name"] == "skiff"][0]


def set_arg(docs, flag, value):
    args = skiff_container(docs)["args"]
    args[args.index(flag) + 1] = value


MUTATIONS = [
    ("YAML syntax error", text_edit("deploy/k8s/deployment.yaml", "  replicas: 3", "  replicas: [3")),
    ("unknown flag", text_edit("deploy/k8s/deployment.yaml", "- --grace_s", "- --grace_seconds")),
    ("flag value skiff refuses", yaml_edit("deploy/k8s/deployment.yaml", lambda d: set_arg(d, "--log_level", "verbose"))),
    ("ignored Paddle flag", text_edit("deploy/k8s/deployment.yaml", "- --log_level", "- --gpu_ids")),
    ("replicas not 3", text_edit("deploy/k8s/deployment.yaml", "  replicas: 3", "  replicas: 2")),
    ("readiness path", text_edit("deploy/k8s/deployment.yaml", "path: /v2/health/ready", "path: /healthz")),
    ("liveness port", yaml_edit("deploy/k8s/deployment.yaml",
                                lambda d: skiff_container(d)["livenessProbe"]["httpGet"].__setitem__("port", "http"))),
    ("containerPort not --port", yaml_edit("deploy/k8s/deployment.yaml",
                                           lambda d: skiff_container(d)["ports"][0].__setitem__("containerPort", 8080))),
    ("scrape annotation port", text_edit("deploy/k8s/deployment.yaml", 'prometheus.io/port: "9393"',
                                         'prometheus.io/port: "8080"')),
    ("grace period too short", text_edit("deploy/k8s/deployment.yaml", "terminationGracePeriodSeconds: 40",
                                         "terminationGracePeriodSeconds: 30")),
    ("no preStop", yaml_edit("deploy/k8s/deployment.yaml", lambda d: skiff_container(d).pop("lifecycle"))),
    ("fractional CPU limit", yaml_edit("deploy/k8s/deployment.yaml",
                                       lambda d: skiff_container(d)["resources"].update(
                                           requests={"cpu": "1500m", "memory": "1Gi"},
                                           limits={"cpu": "1500m", "memory": "1Gi"}))),
    ("root allowed", text_edit("deploy/k8s/deployment.yaml", "runAsNonRoot: true", "runAsNonRoot: false")),
    ("writable root", yaml_edit("deploy/k8s/deployment.yaml",
                                lambda d: skiff_container(d)["securityContext"].__setitem__("readOnlyRootFilesystem", False))),
    ("model outside the volume", yaml_edit("deploy/k8s/deployment.yaml", lambda d: set_arg(d, "--model", "/srv/uci:uci"))),
    ("model missing from the image", text_edit("deploy/k8s/Dockerfile.models", "/models/uci", "/models/housing")),
    ("selector misses the template", yaml_edit("deploy/k8s/deployment.yaml",
                                               lambda d: d[0]["spec"]["selector"]["matchLabels"].__setitem__("app.kubernetes.io/name", "other"))),
    ("Service selector", yaml_edit("deploy/k8s/service.yaml",
                                   lambda d: d[0]["spec"]["selector"].__setitem__("app.kubernetes.io/instance", "ocr"))),
    ("Service targetPort", yaml_edit("deploy/k8s/service.yaml",
                                     lambda d: d[0]["spec"]["ports"][1].__setitem__("targetPort", "grpc"))),
    ("Service port type", yaml_edit("deploy/k8s/service.yaml",
                                    lambda d: d[0]["spec"]["ports"][0].__setitem__("port", "8080"))),
    ("HPA target", text_edit("deploy/k8s/hpa.yaml", "    name: skiff\n", "    name: skiff-uci\n")),
    ("HPA API version", text_edit("deploy/k8s/hpa.yaml", "autoscaling/v2", "autoscaling/v1")),
    ("HPA metric not served", text_edit("deploy/k8s/hpa.yaml", "name: skiff_model_inflight_per_instance",
                                        "name: skiff_inflight")),
    ("HPA model selector", text_edit("deploy/k8s/hpa.yaml", "model: uci", "model: ocr")),
    ("PDB selector", yaml_edit("deploy/k8s/pdb.yaml",
                               lambda d: d[0]["spec"]["selector"]["matchLabels"].__setitem__("app.kubernetes.io/name", "skif"))),
    ("PDB both bounds", yaml_edit("deploy/k8s/pdb.yaml", lambda d: d[0]["spec"].__setitem__("minAvailable", 2))),
    ("adapter metric skiff does not export", text_edit(ADAPTER, "skiff_queue_duration_seconds_count{",
                                                       "skiff_queue_seconds_count{")),
    ("adapter without pod mapping", text_edit(ADAPTER, "pod: {resource: pod}", "pod: {resource: node}")),
    ("manifest left out of kustomization", text_edit("deploy/k8s/kustomization.yaml", "  - pdb.yaml\n", "")),
    ("scrape job drops the pods", text_edit(PROMETHEUS, "regex: serve", "regex: metrics")),
    ("ServingRuntime flag", text_edit("deploy/kserve/servingruntime.yaml", "- --name", "- --model_name")),
    ("ServingRuntime model dir", text_edit("deploy/kserve/servingruntime.yaml", "- /mnt/models", "- /models")),
    ("ServingRuntime without paddle", text_edit("deploy/kserve/servingruntime.yaml", "name: paddle", "name: tensorflow")),
    ("ServingRuntime grpc", text_edit("deploy/kserve/servingruntime.yaml", "- grpc-v2", "- grpc-v1")),
    ("InferenceService runtime", text_edit("deploy/kserve/inferenceservice.yaml", "runtime: skiff", "runtime: triton")),
    ("InferenceService storageUri", text_edit("deploy/kserve/inferenceservice.yaml", "storageUri: s3://", "storageUri: ftp://")),
]


def selftest(skiff, flags, kubectl):
    """Each mutation of a copy of deploy/ must make `schema` fail; a copy of the YAML
    syntax error must make the kubectl check fail too."""
    failed = 0
    for what, mutate in MUTATIONS:
        with tempfile.TemporaryDirectory(prefix="skiff-deploy-broken-") as tmp:
            shutil.copytree(os.path.join(ROOT, "deploy"), os.path.join(tmp, "deploy"))
            # Dockerfile.models copies from the tree: give the copy the model too.
            os.makedirs(os.path.join(tmp, "examples", "uci_housing"))
            os.symlink(UCI, os.path.join(tmp, "examples", "uci_housing", "uci_housing_model"))
            mutate(tmp)
            try:
                errs = check_tree(tmp, skiff, flags)
            except Exception as e:  # a crash of the checker is no detection
                errs = None
                print("FAIL %s: the checker raised %r" % (what, e))
            if errs is None:
                failed += 1
            elif not errs:
                failed += 1
                print("FAIL %s: not detected" % what)
            else:
                print("ok   %-36s -> %s" % (what, errs[0].splitlines()[0][:150]))
            if kubectl and what == "YAML syntax error":
                kerrs = kubectl_check(tmp, kubectl)
                if kerrs:
                    print("ok   %-36s -> %s" % ("kubectl: " + what, kerrs[0].splitlines()[0][:150]))
                else:
                    failed += 1
                    print("FAIL kubectl: %s not detected" % what)
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skiff", required=True)
    ap.add_argument("mode", choices=["schema", "kubectl", "selftest"])
    a = ap.parse_args()
    skiff = os.path.abspath(a.skiff)
    if a.mode == "kubectl":
        kubectl = find_kubectl()
        if not kubectl:
            print("SKIP: no kubectl (scripts/install-deps.sh installs Debian's kubernetes-client)")
            return SKIP
        errs = kubectl_check(ROOT, kubectl)
        ver = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True).stdout.splitlines()
        print("kubectl: %s" % (ver[0] if ver else "?"))
    else:
        flags = serve_flags(skiff)
        if a.mode == "selftest":
            n = selftest(skiff, flags, find_kubectl())
            print("%d of %d broken copies detected" % (len(MUTATIONS) - n, len(MUTATIONS)))
            return 1 if n else 0
        errs = check_tree(ROOT, skiff, flags)
    for e in errs:
        print("FAIL " + e)
    if not errs:
        print("PASS %s: deploy/k8s, deploy/kserve%s" % (a.mode, ", " + PROMETHEUS if a.mode == "schema" else ""))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
