#!/usr/bin/env python3
"""Pipelines against a real `skiff serve --pipeline` (docs/pipeline.md).

HTTP goes through python3-requests and curl; gRPC through python3-grpcio with
message classes generated at test time by grpc_tools.protoc from a
PipelineService .proto written below (nothing shared with skiff's C).

Groups (run one with `pipeline_tests.py --skiff BIN GROUP`):
  uci       examples/pipeline_uci/config.yml: the seed's key/value curl; the same
            pipeline over Paddle's own uci_housing_model answers 18.901152;
            the op's model stays reachable through the model APIs
  grpc      PipelineService/inference over gRPC: the same answers; name checks
  dag       fan-out and fan-in of step-only ops; what the answer holds; profile
  split     an op run per group of rows (split:), joined back in the request's order
  errors    bad values, missing keys, unknown names: Paddle's err_no, next call served
  config    config errors named with file, line and key; refused at start
  load      64 concurrent clients over HTTP and gRPC, every answer checked
  seed      the tutorial's uci_pipeline web_service.py and config.yml, unchanged
            (python3 web_service.py), answering 18.901152; examples/pipeline_uci/web_service.py
  remote    remote ops (server_endpoints) over brpc, gRPC and HTTP, failover past a dead endpoint
  plugin    C plugin ops (examples/plugin): answers, bad parameters, ABI mismatch, not a plugin
  pyops     Python ops: fan-out/fan-in by op name, numpy in and out, an op that raises,
            an op's own error code, config.yml's `class:`, the GIL under 32 clients
"""
import argparse
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import tempfile
import time

import shutil

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serve_tests as st  # noqa: E402

ROOT = st.ROOT
EXAMPLE = os.path.join(ROOT, "examples", "pipeline_uci", "config.yml")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
PADDLE_UCI = os.path.join(SHARED, "paddle-models", "serving_uci_housing", "uci_housing_model")
SEED_VALUE = ("0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, "
              "0.4919, 0.1856, 0.0795, -0.0332")
SEED_BODY = '{"key": ["x"], "value": ["%s"]}' % SEED_VALUE
check = st.check

PIPE_PROTO = """
syntax = "proto3";
package baidu.paddle_serving.pipeline_serving;
message Tensor {
  repeated int64 int64_data = 1; repeated float float_data = 2; repeated int32 int_data = 3;
  repeated double float64_data = 4; repeated uint32 uint32_data = 5; repeated bool bool_data = 6;
  repeated float complex64_data = 7; repeated double complex128_data = 8;
  repeated string str_data = 9; bytes byte_data = 10; int32 elem_type = 20;
  repeated int32 shape = 21; repeated int32 lod = 22; string name = 23; }
message Request { repeated string key = 1; repeated string value = 2; repeated Tensor tensors = 3;
  string name = 4; string method = 5; int64 logid = 6; string clientip = 7; }
message Response { int32 err_no = 1; string err_msg = 2; repeated string key = 3;
  repeated string value = 4; repeated Tensor tensors = 5; }
service PipelineService { rpc inference(Request) returns (Response); }
"""
P = None


def gen_proto():
    d = tempfile.mkdtemp(prefix="skiff-pipe-pb-")
    with open(os.path.join(d, "tpipe.proto"), "w") as f:
        f.write(PIPE_PROTO)
    r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", d, "--python_out", d,
                        "tpipe.proto"], capture_output=True, text=True, cwd=d)
    check(r.returncode == 0, "protoc", r.stderr)
    sys.path.insert(0, d)
    import tpipe_pb2
    return tpipe_pb2


class Pipe(st.Server):
    """skiff serve --pipeline FILE on an ephemeral port."""

    def __init__(self, config, *flags, wait=True, env=None):
        super().__init__(None, "--pipeline", config, *flags, wait=wait, env=env)


def write_conf(text, d=None):
    d = d or tempfile.mkdtemp(prefix="skiff-pipe-")
    path = os.path.join(d, "config.yml")
    with open(path, "w") as f:
        f.write(text)
    return path


def post(srv, body, name="uci", method="prediction", **kw):
    data = body if isinstance(body, str) else json.dumps(body)
    r = requests.post("%s/%s/%s" % (srv.url, name, method), data=data, timeout=30, **kw)
    check(r.status_code == 200, "HTTP status", r.status_code, r.text)
    return r.json()


def price_ok(ans, want, tol=1e-5):
    check(ans["err_no"] == 0 and ans["err_msg"] == "", "no error", ans)
    check(ans["key"] == ["price"], "key", ans)
    check(abs(float(ans["value"][0]) - want) <= tol, "price", ans, want)


# ---- groups -------------------------------------------------------------------------------

def test_uci():
    with Pipe(EXAMPLE) as srv:
        # the seed's curl, as written
        r = subprocess.run(["curl", "-sS", "-X", "POST", srv.url + "/uci/prediction", "-d",
                            SEED_BODY], capture_output=True, text=True, timeout=30)
        ans = json.loads(r.stdout)
        check(list(ans) == ["err_no", "err_msg", "key", "value", "tensors"], "field order", r.stdout)
        check(ans["tensors"] == [], "no tensors", ans)
        price_ok(ans, 22.989538)
        check(ans["value"][0] == "22.989538", "the price as Python prints a float32", ans)
        # the model is served by the op's name through the model APIs too
        r = requests.post(srv.url + "/v2/models/uci/infer", timeout=30, json={
            "inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32", "data": st.DEMO_X}]})
        check(r.status_code == 200 and abs(r.json()["outputs"][0]["data"][0] - 22.989538) < 1e-4,
              "KServe on the op's model", r.text)
        # logid and method names are accepted as Paddle clients send them
        ans = post(srv, {"key": ["x"], "value": [SEED_VALUE], "logid": 7}, method="anything")
        price_ok(ans, 22.989538)
        m = requests.get(srv.url + "/metrics", timeout=10).text
        ok = st.metric(m, "skiff_pipeline_op_requests_total", pipeline="uci", op="uci", result="ok")
        check(ok == 2, "per-op request count", ok)
        cnt = st.metric(m, "skiff_pipeline_op_duration_seconds_count", pipeline="uci", op="uci")
        inf = st.metric(m, "skiff_pipeline_op_duration_seconds_bucket", pipeline="uci", op="uci",
                        le="+Inf")
        check(cnt == 2 and inf == 2, "per-op histogram", cnt, inf)
    # an op's batch_size and auto_batching_timeout are its model's batching
    conf = open(EXAMPLE).read().replace("../uci_housing/uci_housing_model", st.UCI).replace(
        "        concurrency: 2\n", "        concurrency: 2\n        batch_size: 16\n"
        "        auto_batching_timeout: 3\n")
    with Pipe(write_conf(conf)) as srv:
        c = requests.get(srv.url + "/v2/models/uci/config", timeout=10).json()
        check(c["max_batch_size"] == 16, "the op's batch_size", c)
        delay = c.get("dynamic_batching", {}).get("max_queue_delay_microseconds")
        check(delay == 3000, "the op's auto_batching_timeout", c)
        price_ok(post(srv, SEED_BODY), 22.989538)
    # skiff serve --precision reaches a pipeline op's model (NAME: the op's
    # name); an op's own local_service_conf.precision other than fp32 wins.
    # ONEDNN_MAX_CPU_ISA makes bf16 fall back (and say so) on every CPU.
    cap = {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    with Pipe(EXAMPLE, "--precision", "uci=bf16", env=cap) as srv:
        logs = srv.logs()
        check("precision bf16 requested, running fp32" in logs, "--precision reaches the op's model", logs)
        price_ok(post(srv, SEED_BODY), 22.989538)
    conf = open(EXAMPLE).read().replace("../uci_housing/uci_housing_model", st.UCI).replace(
        "            client_type: local_predictor\n",
        "            client_type: local_predictor\n            precision: int8\n")
    with Pipe(write_conf(conf), "--precision", "bf16", env=cap) as srv:
        logs = srv.logs()
        check("precision int8 requested, running fp32" in logs and "bf16 requested" not in logs,
              "the op's own precision wins over --precision", logs)
        price_ok(post(srv, SEED_BODY), 22.989538)
    if os.path.isdir(PADDLE_UCI):
        d = tempfile.mkdtemp(prefix="skiff-pipe-")
        conf = open(EXAMPLE).read().replace("../uci_housing/uci_housing_model", PADDLE_UCI)
        with Pipe(write_conf(conf, d)) as srv:
            ans = post(srv, SEED_BODY)
            check(ans == {"err_no": 0, "err_msg": "", "key": ["price"], "value": ["18.901152"],
                          "tensors": []}, "the seed's answer", ans)
    else:
        print("  (no %s: the Paddle model case skipped)" % PADDLE_UCI)


def stub(srv):
    import grpc
    ch = grpc.insecure_channel("127.0.0.1:%d" % srv.port)
    return ch, ch.unary_unary("/baidu.paddle_serving.pipeline_serving.PipelineService/inference",
                              request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=P.Response.FromString)


def test_grpc():
    with Pipe(EXAMPLE) as srv:
        ch, inf = stub(srv)
        r = inf(P.Request(key=["x"], value=[SEED_VALUE], name="uci", method="prediction", logid=3),
                timeout=30)
        check(r.err_no == 0 and list(r.key) == ["price"] and r.value[0] == "22.989538", "answer", r)
        r = inf(P.Request(key=["x"], value=[SEED_VALUE]), timeout=30)
        check(r.err_no == 0 and r.value[0] == "22.989538", "answer without a name", r)
        # a tensor instead of the string: skips ParseNumbers? no: the step reads a string
        r = inf(P.Request(key=["x"], value=[SEED_VALUE], name="other"), timeout=30)
        check(r.err_no == 3002 and "other" in r.err_msg, "NO_SERVICE for another name", r)
        r = inf(P.Request(key=["y"], value=["1"]), timeout=30)
        check(r.err_no == 5000 and "x" in r.err_msg, "a missing key is INPUT_PARAMS_ERROR", r)
        r = inf(P.Request(key=["x"], value=[SEED_VALUE]), timeout=30)
        check(r.err_no == 0, "served after errors", r)
        ch.close()


DAG = """
name: dag
op:
    a:
        preprocess:
            - ParseNumbers: {in: x, out: nums}
    b:
        input_ops: [a]
        preprocess:
            - ToString: {in: nums, out: joined, sep: "|"}
    c:
        input_ops: a
        concurrency: 3
        preprocess:
            - ToString: {in: nums, out: listed, brackets: true}
    d:
        input_ops: [b, c]
        postprocess:
            - ToString: {in: joined, out: from_b}
            - ToString: {in: listed, out: from_c}
"""


SPLIT = """
name: split
op:
    a:
        preprocess:
            - ParseNumbers: {in: x, shape: [-1, 2], out: x}
            - ParseNumbers: {in: s, shape: [-1, 2], dtype: int64, out: sizes}
    b:
        input_ops: a
        split: {in: [x, sizes], sort_by: sizes, rows: 2, out: [y, z]}
        preprocess:
            - Div: {in: x, value: 2, out: y}
            - ToString: {in: x, json: true, out: seen}
        postprocess:
            - Softmax: {in: y, out: z}
    c:
        input_ops: b
        postprocess:
            - ToString: {in: y, json: true, out: y}
            - ToString: {in: z, json: true, out: z}
"""


def test_split():
    """An op's split: groups of 2 rows by width / height, results joined in the request's order."""
    with Pipe(write_conf(SPLIT)) as srv:
        x = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]
        sizes = [[10, 50], [10, 10], [10, 30], [10, 20], [5, 50]]  # aspect 5, 1, 3, 2, 10
        body = {"key": ["x", "s"], "value": [", ".join(str(v) for r in x for v in r),
                                            ", ".join(str(v) for r in sizes for v in r)]}
        ans = post(srv, body, name="split")
        check(ans["err_no"] == 0, "split ok", ans)
        got = dict(zip(ans["key"], ans["value"]))
        check(json.loads(got["y"]) == [[v / 2 for v in r] for r in x], "rows back in order", got)
        z = json.loads(got["z"])
        check(len(z) == 5 and all(abs(sum(r) - 1) < 1e-6 and r[1] > r[0] for r in z), "joined softmax", got)
        check("seen" not in got, "only the joined values leave the op", got)
        # one row and no rows
        ans = post(srv, {"key": ["x", "s"], "value": ["1, 2", "3, 4"]}, name="split")
        check(ans["err_no"] == 0 and json.loads(dict(zip(ans["key"], ans["value"]))["y"]) == [[0.5, 1.0]],
              "one row", ans)
        ans = post(srv, {"key": ["x", "s"], "value": ["1, 2, 3, 4", "3, 4"]}, name="split")
        check(ans["err_no"] == 5000 and "split" in ans["err_msg"] and "'sizes'" in ans["err_msg"],
              "rows that disagree named", ans)
        ans = post(srv, {"key": ["x", "s"], "value": ["1, 2", "3, 4"]}, name="split")
        check(ans["err_no"] == 0, "served after a failure", ans)
    bad_start(SPLIT.replace("split: {in: [x, sizes], sort_by: sizes, rows: 2, out: [y, z]}",
                            "split: {in: [x, sizes], rows: 0, out: [y]}"), "config.yml:", "rows")
    bad_start(SPLIT.replace("split: {in: [x, sizes], sort_by: sizes, rows: 2, out: [y, z]}",
                            "split: {in: [x], rows: 2}"), "config.yml:", "'out'")
    bad_start(SPLIT.replace("split: {in: [x, sizes], sort_by: sizes, rows: 2, out: [y, z]}",
                            "split: {in: [x], rows: 2, out: [y], by: x}"), "config.yml:", "by")
    # parallel groups: the same answers, in the request's order, under concurrent callers
    par = SPLIT.replace("rows: 2, out: [y, z]}", "rows: 1, parallel: 3, out: [y, z]}")
    with Pipe(write_conf(par)) as srv:
        def one(i):
            n = 1 + i % 7
            x = [[i + r, 2 * r + 1] for r in range(n)]
            sizes = [[10, 10 + (r * 37 + i) % 50] for r in range(n)]
            body = {"key": ["x", "s"], "value": [", ".join(str(v) for r in x for v in r),
                                                ", ".join(str(v) for r in sizes for v in r)]}
            ans = post(srv, body, name="split")
            got = dict(zip(ans["key"], ans["value"]))
            return ans["err_no"] == 0 and json.loads(got["y"]) == [[v / 2 for v in r] for r in x]
        with cf.ThreadPoolExecutor(16) as ex:
            ok = list(ex.map(one, range(64)))
        check(all(ok), "parallel groups: 64 answers, each in its order", ok.count(False))
        ans = post(srv, {"key": ["x", "s"], "value": ["1, 2, 3, 4", "3, 4"]}, name="split")
        check(ans["err_no"] == 5000 and "'sizes'" in ans["err_msg"], "parallel: bad rows named", ans)
    bad_start(SPLIT.replace("rows: 2, out: [y, z]}", "rows: 2, parallel: 0, out: [y, z]}"),
              "config.yml:", "parallel")


def test_dag():
    with Pipe(write_conf(DAG)) as srv:
        ans = post(srv, {"key": ["x"], "value": ["1, 2.5, -3"]}, name="dag")
        check(ans["err_no"] == 0, "ok", ans)
        got = dict(zip(ans["key"], ans["value"]))
        check(got == {"from_b": "1.0|2.5|-3.0", "from_c": "[1.0, 2.5, -3.0]"},
              "d answers what it produced, from both inputs", ans)
        ans = post(srv, {"key": ["x", "pipeline.profile"], "value": ["4", "1"]}, name="dag")
        got = dict(zip(ans["key"], ans["value"]))
        prof = got.get("pipeline.profile", "")
        for op in "abcd":
            check(("%s: start" % op) in prof, "profile names op " + op, prof)
        check(got.get("from_b") == "4.0", "profile keeps the answer", ans)
        # an op failing stops the ops after it; the error names it
        ans = post(srv, {"key": ["x"], "value": ["1, two"]}, name="dag")
        check(ans["err_no"] == 5000 and "op a" in ans["err_msg"] and "two" in ans["err_msg"],
              "the failing op and element named", ans)
        ans = post(srv, {"key": ["x"], "value": ["5"]}, name="dag")
        check(ans["err_no"] == 0, "served after a failure", ans)


def test_errors():
    with Pipe(EXAMPLE) as srv:
        cases = [
            ('{"key": ["x"], "value": ["1, 2"]}', 5000, ["13"]),
            ('{"key": ["x"], "value": ["a, b"]}', 5000, ["element 0", "'a'"]),
            ('{"key": ["z"], "value": ["1"]}', 5000, ["x"]),
            ('{"key": ["x", "y"], "value": ["1"]}', 5000, ["key", "value"]),
            ('{"key": "x"}', 5000, ["key"]),
            ('not json', 5000, []),
            ('{"key": ["x"], "value": [7]}', 5000, ["value"]),
            ('{"key": ["x"], "value": ["%s"], "tensors": [{"name": "t", "elem_type": 1, '
             '"shape": [2], "float_data": [1]}]}' % SEED_VALUE, 5000, ["t"]),
        ]
        for body, err, needles in cases:
            ans = post(srv, body)
            check(ans["err_no"] == err, "err_no for %s" % body, ans)
            for n in needles:
                check(n in ans["err_msg"], "message lacks %r for %s" % (n, body), ans)
            price_ok(post(srv, SEED_BODY), 22.989538)
        # wrong method on the route
        r = requests.get(srv.url + "/uci/prediction", timeout=10)
        check(r.status_code == 405, "GET is not allowed", r.status_code, r.text)


def bad_start(text, *needles):
    path = write_conf(text)
    r = subprocess.run([st.SKIFF, "serve", "--pipeline", path, "--port", "0"], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode != 0, "refused", text, r.stdout, r.stderr)
    out = r.stdout + r.stderr
    for n in needles:
        check(n in out, "message lacks %r" % n, out)


def test_config():
    uci = os.path.join(ROOT, "examples", "uci_housing", "uci_housing_model")
    bad_start("op:\n  a:\n    concurrency: lots\n", "config.yml:3", "concurrency")
    bad_start("op:\n  a:\n    preprocess:\n      - NoSuchStep: {}\n", "NoSuchStep", "line 4")
    bad_start("op:\n  a:\n    preprocess:\n      - ParseNumbers: {dtype: complex}\n", "dtype",
              "complex")
    bad_start("op:\n  a:\n    input_ops: [b]\n", "b")
    bad_start("op:\n  a:\n    input_ops: [b]\n  b:\n    input_ops: [a]\n", "cycle")
    bad_start("op:\n  a:\n    local_service_conf:\n      model_config: /nonexistent/m\n",
              "/nonexistent/m")
    bad_start("op:\n  a:\n    local_service_conf:\n      model_config: %s\n      fetch_list: [cost]\n"
              % uci, "cost", "price")
    bad_start("op:\n  a:\n    class: NoDot\n", "NoDot", "module.ClassName")
    bad_start("op:\n  a:\n    class: m.Op\n    split: {in: [x], out: [y]}\n", "config.yml:",
              "split does not apply to a Python op")
    # local_service_conf.warmup_shapes: run on every instance before ready, and logged
    warm = "op:\n  a:\n    local_service_conf:\n      model_config: %s\n      warmup_shapes: %s\n"
    with Pipe(write_conf(warm % (uci, "[[4, 13], [1, 13]]"))) as srv:
        check("warmed 2 of 2 input shapes" in srv.logs(), "warm-up logged", srv.logs())
    bad_start(warm % (uci, "[[4, 12]]"), "warmup_shapes item 0", "fixed at 13, got 12")
    bad_start(warm % (uci, "[[1, 2, 13]]"), "warmup_shapes item 0", "has 2 dims")
    bad_start(warm % (uci, "[4, 13]"), "config.yml:5", "shape 0")
    bad_start(warm % (uci, "[[0, 13]]"), "config.yml:5", "warmup_shapes")


def test_load():
    import grpc  # noqa: F401
    with Pipe(EXAMPLE) as srv:
        ch, inf = stub(srv)
        rows = [[(i * 7 + k) % 13 / 10.0 - 0.5 for k in range(13)] for i in range(64)]
        want = [st.uci_expect([row])[0] for row in rows]

        def one(i):
            v = ", ".join(repr(x) for x in rows[i])
            if i % 2:
                r = inf(P.Request(key=["x"], value=[v]), timeout=60)
                return i, r.err_no, list(r.value)
            ans = post(srv, {"key": ["x"], "value": [v]})
            return i, ans["err_no"], ans["value"]

        with cf.ThreadPoolExecutor(64) as ex:
            for rnd in range(3):
                for i, err, vals in ex.map(one, range(64)):
                    check(err == 0, "call %d" % i, err, vals)
                    check(abs(float(vals[0]) - want[i]) < 1e-3, "value of call %d" % i, vals, want[i])
        ch.close()


SEED_DIR = os.path.join(SHARED, "seed", "scripts", "uci_pipeline")
PYTHON_PKG = os.path.join(ROOT, "python")


class PyService:
    """`python3 SCRIPT` in folder d (it execs skiff serve), on an ephemeral port."""

    def __init__(self, d, script):
        self.port_file = os.path.join(d, "port")
        self.log_path = os.path.join(d, "serve.log")
        env = dict(os.environ)
        env["SKIFF"] = st.SKIFF
        env["PYTHONPATH"] = PYTHON_PKG
        env["SKIFF_SERVE_ARGS"] = "--port 0 --port_file %s" % self.port_file
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, script], cwd=d, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        t0 = time.time()
        while time.time() - t0 < 60:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s" % (script, self.proc.returncode,
                                                                  self.logs()))
            if os.path.exists(self.port_file) and open(self.port_file).read().strip():
                self.port = int(open(self.port_file).read())
                self.url = "http://127.0.0.1:%d" % self.port
                return
            time.sleep(0.05)
        raise AssertionError("%s did not become ready:\n%s" % (script, self.logs()))

    def logs(self):
        self.log.flush()
        return open(self.log_path).read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def test_seed():
    d = tempfile.mkdtemp(prefix="skiff-seed-")
    if os.path.isdir(SEED_DIR) and os.path.isdir(PADDLE_UCI):
        # the tutorial's files as a user has them: the scripts beside the model
        for f in ("web_service.py", "config.yml"):
            shutil.copy(os.path.join(SEED_DIR, f), d)
        os.symlink(PADDLE_UCI, os.path.join(d, "uci_housing_model"))
        with PyService(d, "web_service.py") as srv:
            r = subprocess.run(["curl", "-sS", "-X", "POST", srv.url + "/uci/prediction", "-d",
                                SEED_BODY], capture_output=True, text=True, timeout=30)
            check(r.stdout == '{"err_no":0,"err_msg":"","key":["price"],"value":["18.901152"],'
                  '"tensors":[]}', "the tutorial's answer", r.stdout, srv.logs())
            check("UciOp::preprocess >>> log_id:" in srv.logs(), "the op's own log line",
                  srv.logs())
    else:
        print("  (no %s or %s: the tutorial's script skipped)" % (SEED_DIR, PADDLE_UCI))
    # the example's own web_service.py
    ex = os.path.join(ROOT, "examples", "pipeline_uci")
    d2 = tempfile.mkdtemp(prefix="skiff-ex-")
    for f in ("web_service.py", "web_service.yml"):
        shutil.copy(os.path.join(ex, f), d2)
    conf = open(os.path.join(d2, "web_service.yml")).read()
    with open(os.path.join(d2, "web_service.yml"), "w") as f:
        f.write(conf.replace("../uci_housing/uci_housing_model", st.UCI))
    with PyService(d2, "web_service.py") as srv:
        check(post(srv, SEED_BODY) == {"err_no": 0, "err_msg": "", "key": ["price"],
                                       "value": ["22.989538"], "tensors": []},
              "the example's answer", srv.logs())


PYOPS_CONF = """
http_port: 18099
op:
    model:
        local_service_conf:
            model_config: %s
            fetch_list: [price]
    total:
        concurrency: 2
    unused:
        concurrency: 1
"""


def test_pyops():
    d = tempfile.mkdtemp(prefix="skiff-pyops-")
    shutil.copy(os.path.join(HERE, "pyops", "dag_service.py"), d)
    with open(os.path.join(d, "config.yml"), "w") as f:
        f.write(PYOPS_CONF % st.UCI)
    with PyService(d, "dag_service.py") as srv:
        check("op.unused: not an op of" in srv.logs(), "unused section noted", srv.logs())
        row = [0.01 * k for k in range(13)]
        want_price = st.uci_expect([row])[0]
        ans = post(srv, {"key": ["x", "tag"], "value": [",".join(map(str, row)), "t1"]},
                   name="dag")
        check(ans["err_no"] == 0, "ok", ans, srv.logs())
        got = dict(zip(ans["key"], ans["value"]))
        check(abs(float(got["price"]) - want_price) < 1e-3, "price through the model op", got)
        check(abs(float(got["total"]) - sum(row)) < 1e-3, "total through the Python op", got)
        check(got["tag"] == "t1" and got["inputs"] == "model,total", "inputs by op name", got)
        ans = post(srv, {"key": ["x"], "value": ["boom"]}, name="dag")
        check(ans["err_no"] == 10000 and "op parse" in ans["err_msg"] and
              "ValueError" in ans["err_msg"] and "boom asked for" in ans["err_msg"],
              "an exception names the op and the error", ans)
        ans = post(srv, {"key": ["x"], "value": ["reject"]}, name="dag")
        check(ans["err_no"] == 57 and "rejected by parse" in ans["err_msg"],
              "the op's own error code", ans)

        def one(i):
            r = [0.01 * ((k + i) % 13) for k in range(13)]
            a = post(srv, {"key": ["x", "tag"], "value": [",".join(map(str, r)), "c%d" % i]},
                     name="dag")
            g = dict(zip(a["key"], a["value"]))
            return i, a["err_no"], g, r

        with cf.ThreadPoolExecutor(32) as ex:
            for i, err, g, r in ex.map(one, range(64)):
                check(err == 0 and g["tag"] == "c%d" % i, "call %d" % i, g)
                check(abs(float(g["price"]) - st.uci_expect([r])[0]) < 1e-3, "price %d" % i, g)
    # config.yml's class:
    d = tempfile.mkdtemp(prefix="skiff-pyclass-")
    shutil.copy(os.path.join(HERE, "pyops", "upper.py"), d)
    conf = write_conf("name: up\nop:\n  upper:\n    class: upper.Upper\n", d)
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = PYTHON_PKG + (os.pathsep + env_path if env_path else "")
    try:
        with Pipe(conf) as srv:
            for n in (1, 2):
                ans = post(srv, {"key": ["text"], "value": ["hello"]}, name="up")
                got = dict(zip(ans["key"], ans["value"]))
                check(got == {"text": "HELLO", "calls": str(n)}, "class op answer", ans)
        bad_start("op:\n  a:\n    class: no_such_module.Op\n", "no_such_module",
                  "ModuleNotFoundError")
        # an op over its timeout fails the request with TIMEOUT (6000)
        shutil.copy(os.path.join(HERE, "pyops", "slow.py"), d)
        conf = write_conf("name: slow\nop:\n  nap:\n    class: slow.Sleep\n    timeout: 200\n", d)
        with Pipe(conf) as srv:
            ans = post(srv, {"key": ["seconds"], "value": ["0"]}, name="slow")
            check(ans["err_no"] == 0 and ans["value"] == ["0"], "quick call", ans)
            ans = post(srv, {"key": ["seconds"], "value": ["0.6"]}, name="slow")
            check(ans["err_no"] == 6000 and "op nap" in ans["err_msg"] and "timeout" in ans["err_msg"],
                  "TIMEOUT names the op", ans)
            ans = post(srv, {"key": ["seconds"], "value": ["0"]}, name="slow")
            check(ans["err_no"] == 0, "served after a timeout", ans)
    finally:
        os.environ["PYTHONPATH"] = env_path


PLUGIN_CONF = """
name: scale
op:
    scale:
        preprocess:
            - ParseNumbers: {in: x, dtype: %s}
        plugin: %s
        plugin_params: {in: x, out: y, factor: %s, offset: 0.5}
        postprocess:
            - ToString: {in: y}
"""


def test_plugin():
    d = os.path.join(os.path.dirname(st.SKIFF), "examples", "plugin")
    good = os.path.join(d, "libskiff_scale_op.so")
    with Pipe(write_conf(PLUGIN_CONF % ("float32", good, "2.0"))) as srv:
        ans = post(srv, {"key": ["x"], "value": ["1, 2, 3"]}, name="scale")
        check(ans == {"err_no": 0, "err_msg": "", "key": ["y"], "value": ["2.5, 4.5, 6.5"],
                      "tensors": []}, "the plugin's answer", ans)
    with Pipe(write_conf(PLUGIN_CONF % ("int32", good, "2.0"))) as srv:
        ans = post(srv, {"key": ["x"], "value": ["1, 2"]}, name="scale")
        check(ans["err_no"] == 5000 and "not float32" in ans["err_msg"] and
              "scale" in ans["err_msg"], "the plugin's own error, named", ans)
    bad_start(PLUGIN_CONF % ("float32", good, "lots"), "factor", "lots")
    bad_start(PLUGIN_CONF % ("float32", os.path.join(d, "libskiff_scale_op_abi99.so"), "2"),
              "op ABI 99", "speaks 1")
    bad_start(PLUGIN_CONF % ("float32", os.path.join(d, "no_such.so"), "2"), "does not load",
              "no_such.so")
    lib = os.path.join(os.path.dirname(st.SKIFF), "libskiff.so")
    if os.path.exists(lib):
        bad_start(PLUGIN_CONF % ("float32", lib, "2"), "exports no skiff_op_plugin")


REMOTE_CONF = """
name: uci
dag:
    client_type: %s
op:
    uci:
        server_endpoints: ["127.0.0.1:%d", "127.0.0.1:%d"]
        client_config: %s
        fetch_list: [price]
        timeout: 5000
        retry: 2
        preprocess:
            - ParseNumbers: {in: x, shape: [1, 13]}
        postprocess:
            - ToString: {in: price}
"""


def dead_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_remote():
    client_conf = os.path.join(ROOT, "examples", "uci_housing", "uci_housing_client")
    with st.Server([st.UCI]) as model_srv:
        for ct in ("brpc", "grpc", "http"):
            conf = write_conf(REMOTE_CONF % (ct, dead_port(), model_srv.port, client_conf))
            with Pipe(conf) as srv:
                for _ in range(3):
                    ans = post(srv, SEED_BODY)
                    price_ok(ans, 22.989538)
        # the model server saw the calls over each transport
        r = requests.get(model_srv.url + "/metrics", timeout=10).text
        check(st.metric(r, "skiff_rpc_responses_total", protocol="baidu_std", result="ok") == 3,
              "three brpc calls", r)
        check(st.metric(r, "skiff_rpc_responses_total", protocol="grpc", result="ok") == 3,
              "three gRPC calls", r)
        check(st.metric(r, "skiff_requests_total", model="uci_housing_model", outcome="success") == 9,
              "nine model requests", r)
        # every endpoint dead: a clear error, not a hang
        conf = write_conf(REMOTE_CONF % ("brpc", dead_port(), dead_port(), client_conf))
        with Pipe(conf) as srv:
            ans = post(srv, SEED_BODY)
            check(ans["err_no"] != 0 and "op uci" in ans["err_msg"], "all endpoints dead", ans)
    bad_start("op:\n  a:\n    server_endpoints: [\"127.0.0.1:1\"]\n", "client_config")


GROUPS = {"uci": test_uci, "grpc": test_grpc, "dag": test_dag, "split": test_split, "errors": test_errors,
          "config": test_config, "load": test_load, "seed": test_seed, "pyops": test_pyops,
          "plugin": test_plugin, "remote": test_remote}


def main():
    global P
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", required=True)
    ap.add_argument("groups", nargs="*")
    args = ap.parse_args()
    st.SKIFF = os.path.abspath(args.skiff)
    P = gen_proto()
    return st.run_groups(GROUPS, args.groups)


if __name__ == "__main__":
    sys.exit(main())
