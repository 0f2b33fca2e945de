"""Paddle Serving's LAC model (lookup_table, mul, gru x4, concat, crf_decoding,
a LoD int64 feed) run end to end, by `skiff run` and over HTTP. Its
directory in ../shared/paddle-models lacks the embedding table word_emb: a
temporary copy (links to the real files) gets one of random values with the
dims and dtype its VarDesc declares; the rest of the model is Paddle's own.
The tag ids are checked against numpy running the same program."""
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request

import numpy as np

import pdprog
from run_ops import Case, rng

HERE = os.path.dirname(os.path.abspath(__file__))
LAC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "shared",
                   "paddle-models", "serving_lac", "lac_model")
IDS = np.array([[3], [17], [250], [9], [1000], [20940], [5]], np.int64)
LOD = np.array([0, 3, 7], np.int64)


def read_record(path):
    """One tensor record (PADDLE-FORMAT.md) as an array."""
    b = open(path, "rb").read()
    ver, levels = struct.unpack_from("<IQ", b, 0)
    at = 12
    for _ in range(levels):
        at += 8 + struct.unpack_from("<Q", b, at)[0]
    _, size = struct.unpack_from("<Ii", b, at)
    at += 8
    desc = pdprog.pb().StreamTensorDesc()
    desc.ParseFromString(b[at:at + size])
    at += size
    return np.frombuffer(b, pdprog.NP_OF[desc.data_type], offset=at).reshape(list(desc.dims))


class LacDir:
    """A copy of the LAC directory with a generated word_emb, written where
    run_ops puts a case's model."""
    def __init__(self):
        self.dir = None

    def write(self, d, combined=False):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(LAC):
            os.symlink(os.path.join(LAC, f), os.path.join(d, f))
        prog = pdprog.pb().ProgramDesc()
        prog.ParseFromString(open(os.path.join(LAC, "__model__"), "rb").read())
        var = [v for v in prog.blocks[0].vars if v.name == "word_emb"][0]
        t = var.type.dense_tensor.tensor
        emb = (rng(7).standard_normal(list(t.dims)) * 2.0).astype(pdprog.NP_OF[t.data_type])
        with open(os.path.join(d, "word_emb"), "wb") as f:
            f.write(pdprog.record(emb))
        self.dir = d
        return d


def np_gru(x, lod, w, b, reverse):
    d = w.shape[0]
    wg = w.reshape(-1)[:2 * d * d].reshape(d, 2 * d)
    wc = w.reshape(-1)[2 * d * d:].reshape(d, d)
    out = np.zeros((x.shape[0], d))
    for s in range(len(lod) - 1):
        h = np.zeros(d)
        steps = range(lod[s], lod[s + 1])
        for t in (reversed(steps) if reverse else steps):
            g = x[t] + b[0]
            ur = 1 / (1 + np.exp(-(g[:2 * d] + h @ wg)))
            c = np.tanh(g[2 * d:] + (ur[d:] * h) @ wc)
            h = (1 - ur[:d]) * h + ur[:d] * c
            out[t] = h
    return out


def np_lac(d, ids, lod):
    """The LAC program in numpy: tag ids [T, 1]."""
    p = lambda n: read_record(os.path.join(d, n)).astype(np.float64)  # noqa: E731
    emb = p("word_emb")[ids[:, 0]]
    fc = lambda x, i: x @ p("fc_%d.w_0" % i) + p("fc_%d.b_0" % i)  # noqa: E731
    cat0 = np.concatenate([np_gru(fc(emb, 0), lod, p("gru_0.w_0"), p("gru_0.b_0"), False),
                           np_gru(fc(emb, 1), lod, p("gru_1.w_0"), p("gru_1.b_0"), True)], 1)
    cat1 = np.concatenate([np_gru(fc(cat0, 2), lod, p("gru_2.w_0"), p("gru_2.b_0"), False),
                           np_gru(fc(cat0, 3), lod, p("gru_3.w_0"), p("gru_3.b_0"), True)], 1)
    e = fc(cat1, 4)
    trans = p("crfw")
    start, end, tr = trans[0], trans[1], trans[2:]
    path = np.zeros((len(ids), 1), np.int64)
    for s in range(len(lod) - 1):
        x = e[lod[s]:lod[s + 1]]
        alpha, track = start + x[0], []
        for k in range(1, len(x)):
            sc = alpha[:, None] + tr
            track.append(sc.argmax(0))
            alpha = sc.max(0) + x[k]
        tag = int(np.argmax(alpha + end))
        tags = [tag]
        for back in reversed(track):
            tag = int(back[tag])
            tags.append(tag)
        path[lod[s]:lod[s + 1], 0] = tags[::-1]
    return path, e.shape[1]


def check_tags(model, got, got_lod):
    want, n_tags = np_lac(model.dir, IDS, LOD)
    if got.shape != (len(IDS), 1) or got.dtype != np.int64:
        return "crf_decode: %s %s, expected int64 [%d, 1]" % (got.dtype, got.shape, len(IDS))
    if got.min() < 0 or got.max() >= n_tags:
        return "crf_decode: tag ids %s outside [0, %d)" % (got.ravel(), n_tags)
    if not np.array_equal(got_lod, LOD):
        return "crf_decode.lod %s, expected %s" % (got_lod, LOD)
    if not np.array_equal(got, want):
        return "crf_decode %s, numpy %s" % (got.ravel(), want.ravel())
    return None


def case_lac_skiff_run():
    model = LacDir()

    def check(outs):
        return check_tags(model, outs["crf_decode"], outs["crf_decode.lod"])
    if not os.path.isdir(LAC):
        print("  skipped: %s not found" % LAC)
        return Case(_trivial(), {"x": np.zeros(1, np.float32)}, {"y": np.zeros(1, np.float32)})
    return Case(model, {"words": IDS, "words.lod": LOD}, check=check)


def skiff_path():
    """The skiff run_ops.py was given (--skiff PATH or --skiff=PATH)."""
    for i, a in enumerate(sys.argv):
        if a == "--skiff" and i + 1 < len(sys.argv):
            return os.path.abspath(sys.argv[i + 1])
        if a.startswith("--skiff="):
            return os.path.abspath(a[8:])
    raise RuntimeError("run_ops.py --skiff PATH is needed to serve the model")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, body):
    req = urllib.request.Request("http://127.0.0.1:%d/lac/prediction" % port,
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def serve_and_check(model, skiff):
    port = free_port()
    srv = subprocess.Popen([skiff, "serve", "--model", model.dir, "--name", "lac", "--port",
                            str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if srv.poll() is not None:
                    return "skiff serve exited: %s" % srv.stderr.read().decode()[-2000:]
                time.sleep(0.1)
        # Paddle Serving's web form: the LoD of a feed as "<alias>.lod"
        code, r = post(port, {"feed": [{"words": IDS.ravel().tolist(),
                                        "words.lod": LOD.tolist()}], "fetch": ["crf_decode"]})
        if code != 200 or "crf_decode.lod" not in r.get("result", {}):
            return "HTTP %d: %s" % (code, r)
        err = check_tags(model, np.array(r["result"]["crf_decode"], np.int64),
                         np.array(r["result"]["crf_decode.lod"], np.int64))
        if err:
            return "HTTP: " + err
        # Paddle Serving 0.9's form: the LoD in the tensor's "lod", answered in the fetch's
        body = {"tensor": [{"int64_data": IDS.ravel().tolist(), "elem_type": 0, "name": "word",
                            "alias_name": "words", "shape": [len(IDS), 1],
                            "lod": LOD.tolist()}], "fetch_var_names": ["crf_decode"], "log_id": 7}
        req = urllib.request.Request("http://127.0.0.1:%d/GeneralModelService/inference" % port,
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                code, r = resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            code, r = e.code, json.loads(e.read())
        if code != 200:
            return "0.9 HTTP %d: %s" % (code, r)
        t = r["outputs"][0]["tensor"][0]
        err = check_tags(model, np.array(t["int64_data"], np.int64).reshape(-1, 1),
                         np.array(t.get("lod", []), np.int64))
        if err:
            return "0.9 HTTP: %s (%s)" % (err, t)
        # baidu_std with the Python client (Paddle's Client API): the LoD as "words.lod"
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "python"))
        from paddle_serving_client import Client
        cl = Client()
        cl.load_client_config(os.path.join(model.dir, "serving_server_conf.prototxt"))
        cl.connect(["127.0.0.1:%d" % port])
        out = cl.predict(feed={"words": IDS.ravel(), "words.lod": LOD}, fetch=["crf_decode"],
                         batch=True)
        err = check_tags(model, np.asarray(out["crf_decode"], np.int64).reshape(-1, 1),
                         np.asarray(out.get("crf_decode.lod", []), np.int64))
        if err:
            return "baidu_std: %s (%s)" % (err, out)
        # no "words.lod": one sentence of every word
        code, r = post(port, {"feed": [{"words": [3, 17, 250]}], "fetch": ["crf_decode"]})
        want, _ = np_lac(model.dir, IDS[:3], np.array([0, 3]))
        if code != 200 or r["result"].get("crf_decode.lod") != [0, 3] or \
                np.array(r["result"]["crf_decode"]).ravel().tolist() != want.ravel().tolist():
            return "HTTP without words.lod: %d %s (numpy %s)" % (code, r, want.ravel())
        # bad offsets and a word id outside the table: errors that say so
        code, r = post(port, {"feed": [{"words": [3, 17, 250], "words.lod": [0, 2, 1, 3]}],
                              "fetch": ["crf_decode"]})
        if code == 200 or "must not decrease" not in json.dumps(r):
            return "HTTP with decreasing offsets: %d %s" % (code, r)
        code, r = post(port, {"feed": [{"words": [3, 20941]}], "fetch": ["crf_decode"]})
        if code == 200 or "id 20941 at position 1 is outside the table W" not in json.dumps(r):
            return "HTTP with an id outside the table: %d %s" % (code, r)
        return None
    finally:
        srv.terminate()
        srv.wait(timeout=30)


def case_lac_http():
    if not os.path.isdir(LAC):
        print("  skipped: %s not found" % LAC)
        return Case(_trivial(), {"x": np.zeros(1, np.float32)}, {"y": np.zeros(1, np.float32)})
    model = LacDir()
    skiff = skiff_path()

    def check(outs):
        # the same answers as skiff run gave
        err = check_tags(model, outs["crf_decode"], outs["crf_decode.lod"])
        return err or serve_and_check(model, skiff)
    return Case(model, {"words": IDS, "words.lod": LOD}, check=check)


def _trivial():
    g = pdprog.Prog()
    g.feed("x", [1])
    g.var("y", [1])
    g.op("relu", {"X": "x"}, {"Out": "y"})
    g.fetch("y")
    return g
