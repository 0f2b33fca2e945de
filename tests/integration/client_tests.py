#!/usr/bin/env python3
"""The C client (libskiff_client.so, `skiff predict`, examples/c/client.c)
against a real `skiff serve` on 127.0.0.1 and ephemeral ports.

Groups (run one with `client_tests.py --skiff BIN [--example BIN] GROUP`):
  answers   uci over brpc, HTTP JSON, HTTP protobuf and gRPC gives 22.989538, the
            four bit for bit equal; imdb (LoD feed) over brpc equals HTTP, gRPC and
            a direct HTTP JSON request made here; a server error is exit 1 with its
            text (over gRPC too: grpc-status and grpc-message)
  failover  "dead,live" endpoints succeed (brpc, HTTP, gRPC); all dead: a clear
            error, exit 1
  timeout   a socket that accepts and never answers: a timeout error in time
            (brpc, HTTP, gRPC)
  threads   examples/c/client.c: 16 threads x 200 calls on one client, each checked
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serve_tests as st  # noqa: E402  (the Server harness, DEMO_X)

ROOT = os.path.dirname(os.path.dirname(HERE))
UCI_MODEL = os.path.join(ROOT, "examples/uci_housing/uci_housing_model")
UCI_CONF = os.path.join(ROOT, "examples/uci_housing/uci_housing_client")
IMDB_MODEL = os.path.join(ROOT, "examples/imdb/imdb_lstm_model")
IMDB_CONF = os.path.join(ROOT, "examples/imdb/imdb_lstm_client_conf")
PRICE = np.float32(22.989538)
X = json.dumps(st.DEMO_X)
PROTOCOLS = ["brpc", "http", "http_proto", "grpc"]
SKIFF = None
EXAMPLE = None


def check(cond, msg, *extra):
    if not cond:
        raise AssertionError(msg + ("\n" + "\n".join(str(e) for e in extra) if extra else ""))


def predict(*args, timeout=60):
    p = subprocess.run([SKIFF, "predict", *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def group_answers():
    with st.Server([UCI_MODEL, IMDB_MODEL]) as srv:
        ep = "127.0.0.1:%d" % srv.port
        outs = {}
        for proto in PROTOCOLS:
            rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint", ep, "--protocol", proto,
                                   "--feed", "x=" + X)
            check(rc == 0, "uci over %s failed" % proto, err)
            ans = json.loads(out)
            check(list(ans) == ["price"] and ans["price"]["shape"] == [1, 1],
                  "uci answer shape over %s" % proto, out)
            check(np.float32(ans["price"]["data"][0]) == PRICE, "uci price over %s" % proto, out)
            outs[proto] = out
        check(len(set(outs.values())) == 1, "transports disagree", outs)
        # --fetch filters like Paddle's Client: unknown names dropped, none left is an error
        rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint", ep, "--feed", "x=" + X,
                               "--fetch", "price,nonexistent")
        check(rc == 0 and list(json.loads(out)) == ["price"], "fetch filter", out, err)
        rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint", ep, "--feed", "x=" + X,
                               "--fetch", "nonexistent")
        check(rc != 0 and "Fetch names" in err and err.count("\n") == 1, "empty fetch list", err)
        # a .npy feed with --batch
        npy = os.path.join(srv.tmp, "x.npy")
        np.save(npy, np.array([st.DEMO_X, st.DEMO_X], dtype=np.float64))
        rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint", ep, "--feed", "x=" + npy,
                               "--batch")
        ans = json.loads(out) if rc == 0 else {}
        check(rc == 0 and ans["price"]["shape"] == [2, 1] and
              all(np.float32(v) == PRICE for v in ans["price"]["data"]), "batch of 2", out, err)
        # the server's error text, one line, exit 1
        rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint", ep, "--feed", "x=[1,2]")
        check(rc == 1 and "expected shape [-1,13], got [1,2]" in err and err.count("\n") == 1,
              "server error", rc, err)
        rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint", ep, "--protocol", "grpc",
                               "--feed", "x=[1,2]")
        check(rc == 1 and "expected shape [-1,13], got [1,2]" in err and "grpc-status 3" in err and
              err.count("\n") == 1, "server error over gRPC", rc, err)
        # an unknown model over gRPC: the server's NOT_FOUND (grpc-status 5)
        rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint", ep, "--protocol", "grpc",
                               "--model", "no_such_model", "--feed", "x=" + X)
        check(rc == 1 and "no_such_model" in err and "grpc-status 5" in err,
              "unknown model over gRPC", rc, err)
        # imdb: a LoD feed; brpc == HTTP == a direct HTTP JSON request
        words = [8, 233, 52, 60, 17, 4]
        imdb = {}
        for proto in ["brpc", "http", "grpc"]:
            rc, out, err = predict("--client_conf", IMDB_CONF, "--endpoint", ep, "--protocol", proto,
                                   "--model", "imdb_lstm_model", "--feed",
                                   "words=" + json.dumps(words))
            check(rc == 0, "imdb over %s" % proto, err)
            imdb[proto] = json.loads(out)
        check(imdb["brpc"] == imdb["http"], "imdb brpc vs http", imdb)
        check(imdb["brpc"] == imdb["grpc"], "imdb brpc vs grpc", imdb)
        body = {"tensor": [{"int64_data": words, "elem_type": 0, "name": "words",
                            "alias_name": "words", "shape": [len(words), 1],
                            "lod": [0, len(words)]}],
                "fetch_var_names": ["prediction"], "model": "imdb_lstm_model"}
        r = requests.post(srv.url + "/GeneralModelService/inference", json=body, timeout=30)
        t = r.json()["outputs"][0]["tensor"][0]
        want = np.array(t["float_data"], dtype=np.float32)
        got = np.array(imdb["brpc"]["prediction"]["data"], dtype=np.float32)
        check(want.tobytes() == got.tobytes(), "imdb vs direct HTTP", want, got)
        # two sequences with explicit LoD, as one batch
        rc, out, err = predict("--client_conf", IMDB_CONF, "--endpoint", ep, "--model",
                               "imdb_lstm_model", "--feed", "words=[8,233,52,60,17,4]",
                               "--feed", "words.lod=[0,2,6]")
        check(rc == 0 and json.loads(out)["prediction"]["shape"] == [2, 2], "imdb LoD", out, err)


def group_failover():
    with st.Server([UCI_MODEL]) as srv:
        dead = dead_port()
        for proto in ["brpc", "http", "grpc"]:
            for eps in ["127.0.0.1:%d,127.0.0.1:%d" % (dead, srv.port),
                        "127.0.0.1:%d,127.0.0.1:%d" % (srv.port, dead)]:
                rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint", eps, "--protocol",
                                       proto, "--feed", "x=" + X)
                check(rc == 0 and np.float32(json.loads(out)["price"]["data"][0]) == PRICE,
                      "failover %s %s" % (proto, eps), out, err)
    d1, d2 = dead_port(), dead_port()
    t0 = time.time()
    rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint",
                           "127.0.0.1:%d,127.0.0.1:%d" % (d1, d2), "--feed", "x=" + X)
    check(rc == 1 and out == "" and "no endpoint answered" in err and str(d1) in err and
          str(d2) in err and "refused" in err and err.count("\n") == 1, "all dead", rc, out, err)
    check(time.time() - t0 < 10, "all dead took too long")
    rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint", "nohost", "--feed", "x=" + X)
    check(rc == 1 and "expected host:port" in err, "bad endpoint", err)


def group_timeout():
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    held = []
    stop = threading.Event()

    def accept():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = lsock.accept()
                held.append(c)  # accepted, read nothing, answer nothing
            except socket.timeout:
                pass

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        for proto in ["brpc", "http", "grpc"]:
            t0 = time.time()
            rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint", "127.0.0.1:%d" % port,
                                   "--protocol", proto, "--timeout_ms", "500", "--feed", "x=" + X)
            took = time.time() - t0
            check(rc == 1 and "timeout" in err and "no answer in time" in err, "timeout %s" % proto,
                  rc, err)
            check(0.45 < took < 5, "timeout %s took %.2fs" % (proto, took))
        # a stalled endpoint then a live one: the call moves on after the timeout
        with st.Server([UCI_MODEL]) as srv:
            for proto in ["brpc", "grpc"]:
                rc, out, err = predict("--client_conf", UCI_CONF, "--endpoint",
                                       "127.0.0.1:%d,127.0.0.1:%d" % (port, srv.port),
                                       "--protocol", proto, "--timeout_ms", "300", "--feed",
                                       "x=" + X)
                check(rc == 0 and np.float32(json.loads(out)["price"]["data"][0]) == PRICE,
                      "timeout then failover %s" % proto, out, err)
    finally:
        stop.set()
        th.join()
        for c in held:
            c.close()
        lsock.close()


def group_threads():
    check(EXAMPLE is not None, "--example is required for the threads group")
    with st.Server([UCI_MODEL]) as srv:
        for proto in ["brpc", "http"]:
            p = subprocess.run([EXAMPLE, UCI_CONF, "127.0.0.1:%d" % srv.port, proto, "16", "200"],
                               capture_output=True, text=True, timeout=240)
            check(p.returncode == 0 and "ok: 3201 calls" in p.stdout, "threads %s" % proto,
                  p.stdout, p.stderr)
            check("price: 22.989538" in p.stdout, "example price", p.stdout)


GROUPS = {"answers": group_answers, "failover": group_failover, "timeout": group_timeout,
          "threads": group_threads}


def main():
    global SKIFF, EXAMPLE
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", required=True)
    ap.add_argument("--example")
    ap.add_argument("group", choices=sorted(GROUPS))
    a = ap.parse_args()
    SKIFF = os.path.abspath(a.skiff)
    EXAMPLE = os.path.abspath(a.example) if a.example else None
    st.SKIFF = SKIFF
    GROUPS[a.group]()
    print("client_tests %s: ok" % a.group)


if __name__ == "__main__":
    main()
