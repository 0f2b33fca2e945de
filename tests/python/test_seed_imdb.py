#!/usr/bin/python3
"""The seed's RPC client, unchanged, against skiff serving examples/imdb.

With the server on 127.0.0.1:9292 (the port the seed script connects to),
from examples/imdb:

    head test_data/part-0 | PYTHONPATH=<repo>/python /usr/bin/python3 \
        ../../../shared/seed/scripts/imdb_test_client.py \
        imdb_lstm_client_conf/serving_client_conf.prototxt imdb.vocab

must print ten lines "[p0 p1] label", each label the line's and each pair
what HTTP answers for that line. Run twice: the server started as
`skiff serve --model imdb_lstm_model --port 9292`, then as
`python3 -m paddle_serving_server.serve --model imdb_lstm_model --port 9292`.
Port 9292 must be free (the test fails otherwise).

    tests/python/test_seed_imdb.py [--skiff build/skiff]
"""
import os
import re
import socket
import subprocess
import sys

import numpy as np

import helpers

SKIFF = helpers.skiff_arg()
from paddle_serving_client import HttpClient  # noqa: E402

PORT = 9292
SEED_CLIENT = os.path.join("..", "..", "..", "shared", "seed", "scripts", "imdb_test_client.py")
LINE = re.compile(r"^\[\s*(\S+)\s+(\S+)\s*\]\s+(\d+)$")


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def expected():
    """(probability pairs over HTTP, labels) of the first ten test lines."""
    ds = helpers.imdb_dataset()
    c = HttpClient()
    c.load_client_config(helpers.IMDB_CONF)
    c.connect("127.0.0.1:%d" % PORT)
    probs, labels = [], []
    for line in helpers.imdb_lines()[:10]:
        ids, label = ds.get_words_and_label(line)
        probs.append(c.predict(feed={"words": ids}, fetch=["prediction"])["prediction"][0])
        labels.append(label[0])
    c.release()
    return np.array(probs), labels


def run_seed_client(server):
    cmd = ("head test_data/part-0 | PYTHONPATH=%s /usr/bin/python3 %s "
           "imdb_lstm_client_conf/serving_client_conf.prototxt imdb.vocab"
           % (helpers.PYTHON_DIR, SEED_CLIENT))
    r = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], cwd=helpers.IMDB,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        log = server.logs()
        why = ""
        if "brpc (PRPC)" in log and "not served yet" in log:
            why = ("\n=> the server refused the PRPC connection: it does not serve brpc "
                   "(baidu_std) yet")
        raise AssertionError("the seed client failed (exit %d):\n%s%s\n--- server log:\n%s%s"
                             % (r.returncode, r.stdout, r.stderr[-3000:], log[-2000:], why))
    return r.stdout


def check(server, label):
    out = run_seed_client(server)
    lines = out.splitlines()
    if len(lines) != 10:
        raise AssertionError("%s: expected ten lines, got %d:\n%s" % (label, len(lines), out))
    want, labels = expected()
    for i, (line, p, lab) in enumerate(zip(lines, want, labels)):
        m = LINE.match(line.strip())
        if not m:
            raise AssertionError("%s: line %d is not '[p0 p1] label': %r" % (label, i + 1, line))
        got = np.array([float(m.group(1)), float(m.group(2))], np.float32)
        if int(m.group(3)) != lab:
            raise AssertionError("%s: line %d: label %s, the file says %d"
                                 % (label, i + 1, m.group(3), lab))
        if not np.allclose(got, p, rtol=1e-5, atol=1e-7):
            raise AssertionError("%s: line %d: %s, HTTP answers %s" % (label, i + 1, got, p))
    print("%s: ten lines as HTTP answers them" % label)
    print(out, end="")


def main():
    if not os.path.exists(os.path.join(helpers.IMDB, SEED_CLIENT)):
        print("FAIL: the seed client is missing: %s"
              % os.path.normpath(os.path.join(helpers.IMDB, SEED_CLIENT)))
        return 1
    runs = [
        ("skiff serve", [SKIFF, "serve", "--model", "imdb_lstm_model"], None),
        ("python3 -m paddle_serving_server.serve",
         [sys.executable, "-m", "paddle_serving_server.serve", "--model", "imdb_lstm_model"],
         dict(os.environ, PYTHONPATH=helpers.PYTHON_DIR, SKIFF=SKIFF)),
    ]
    for label, cmd, env in runs:
        if not port_free(PORT):
            print("FAIL: port %d is taken; the seed client connects there only" % PORT)
            return 1
        with helpers.Server(cmd, port=PORT, cwd=helpers.IMDB, env=env) as server:
            try:
                check(server, label)
            except AssertionError as e:
                print("FAIL (%s): %s" % (label, e))
                return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
