"""What the tests here share: paths, the skiff executable, a `skiff serve`
process, and the imdb example's data."""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON_DIR = os.path.join(ROOT, "python")
IMDB = os.path.join(ROOT, "examples", "imdb")
IMDB_MODEL = os.path.join(IMDB, "imdb_lstm_model")
IMDB_CONF = os.path.join(IMDB, "imdb_lstm_client_conf", "serving_client_conf.prototxt")
IMDB_VOCAB = os.path.join(IMDB, "imdb.vocab")
IMDB_TEST = os.path.join(IMDB, "test_data", "part-0")
sys.path.insert(0, PYTHON_DIR)


def skiff_arg():
    """--skiff PATH from the command line (default build/skiff); the rest stays in sys.argv."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--skiff", default=os.path.join(ROOT, "build", "skiff"))
    args, rest = ap.parse_known_args()
    sys.argv[1:] = rest
    return os.path.abspath(args.skiff)


class Server:
    """A `skiff serve` process (or any command that takes skiff serve's flags)
    on 127.0.0.1: on a free port (port 0 and --port_file) unless one is given."""

    def __init__(self, cmd, port=0, cwd=None, env=None):
        self.tmp = tempfile.mkdtemp(prefix="skiff-py-")
        self.port_file = os.path.join(self.tmp, "port")
        self.log_path = os.path.join(self.tmp, "serve.log")
        self.log = open(self.log_path, "w")
        cmd = list(cmd) + ["--port", str(port), "--port_file", self.port_file]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd,
                                     env=native_env(env))
        self.port = None
        t0 = time.time()
        while time.time() - t0 < 60:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s" % (cmd, self.proc.returncode,
                                                                 self.logs()))
            try:
                with open(self.port_file) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    self.endpoint = "127.0.0.1:%d" % self.port
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError("%s did not become ready:\n%s" % (cmd, self.logs()))

    def logs(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def imdb_lines():
    with open(IMDB_TEST, encoding="utf-8") as f:
        return [line for line in f if line.strip()]


def imdb_dataset():
    from paddle_serving_app.reader import IMDBDataset
    ds = IMDBDataset()
    ds.load_resource(IMDB_VOCAB)
    return ds


def printed_accuracy():
    """(right, total) from the line tools/make_imdb_example.py wrote in the example's README."""
    with open(os.path.join(IMDB, "README.md")) as f:
        for line in f:
            if line.startswith("accuracy on test_data/part-0:"):
                right, total = line.split("(")[1].rstrip(")\n").split("/")
                return int(right), int(total)
    raise AssertionError("examples/imdb/README.md has no accuracy line")


def native_env(env=None):
    """The environment for a program the test starts: without the ASan
    runtime a sanitizer build preloads into this Python (the program carries
    its own)."""
    e = dict(os.environ if env is None else env)
    e.pop("LD_PRELOAD", None)
    return e


def skiff_run(skiff, model, inputs):
    """Runs `skiff run MODEL --input NAME=FILE.npy ...`; returns {output: array}."""
    d = tempfile.mkdtemp(prefix="skiff-py-run-")
    args = [skiff, "run", model, "--output-dir", d]
    for name, arr in inputs.items():
        path = os.path.join(d, "in_" + name + ".npy")
        np.save(path, arr)
        args += ["--input", "%s=%s" % (name, path)]
    r = subprocess.run(args, capture_output=True, text=True, env=native_env())
    if r.returncode != 0:
        raise AssertionError("skiff run failed:\n" + r.stdout + r.stderr)
    return {f[:-4]: np.load(os.path.join(d, f)) for f in os.listdir(d)
            if f.endswith(".npy") and not f.startswith("in_")}
