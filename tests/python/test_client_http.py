#!/usr/bin/python3
"""HttpClient against `skiff serve` of examples/imdb: every line of
test_data/part-0 classified over HTTP equals `skiff run` of the same word ids,
and the accuracy is the one tools/make_imdb_example.py printed (the example's
README). Also predict()'s Paddle semantics (fetch names filtered by the conf,
batches, numpy feeds, explicit LoD), the protobuf body, round robin with
failover, error answers, the conf reader, IMDBDataset, and the serve module.

    tests/python/test_client_http.py [--skiff build/skiff] [unittest args]
"""
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import helpers

SKIFF = helpers.skiff_arg()
from paddle_serving_client import HttpClient, ServingError  # noqa: E402
from paddle_serving_client.conf import ConfError, load_conf, parse_text  # noqa: E402

server = None


def setUpModule():
    global server
    server = helpers.Server([SKIFF, "serve", "--model", helpers.IMDB_MODEL])


def tearDownModule():
    server.stop()


def http_client(endpoints=None):
    c = HttpClient()
    c.load_client_config(helpers.IMDB_CONF)
    c.connect(endpoints or server.endpoint)
    return c


class ExampleTest(unittest.TestCase):
    def test_every_line_equals_skiff_run_and_accuracy(self):
        ds = helpers.imdb_dataset()
        lines = helpers.imdb_lines()
        c = http_client()
        probs, labels, seqs = [], [], []
        for line in lines:
            ids, label = ds.get_words_and_label(line)
            got = c.predict(feed={"words": ids}, fetch=["acc", "cost", "prediction"], batch=False)
            self.assertEqual(sorted(got), ["prediction"])
            self.assertEqual(got["prediction"].shape, (1, 2))
            probs.append(got["prediction"][0])
            labels.append(label[0])
            seqs.append(ids)
        probs = np.array(probs)
        # skiff run: all lines at once, one sequence each
        rows = np.array([i for s in seqs for i in s], np.int64).reshape(-1, 1)
        lod = np.cumsum([0] + [len(s) for s in seqs]).astype(np.int64)
        ref = helpers.skiff_run(SKIFF, helpers.IMDB_MODEL, {"words": rows, "words.lod": lod})
        self.assertEqual(ref["prediction"].shape, (len(lines), 2))
        np.testing.assert_allclose(probs, ref["prediction"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
        right = int((probs.argmax(1) == np.array(labels)).sum())
        self.assertEqual((right, len(lines)), helpers.printed_accuracy())
        self.assertGreater(right / len(lines), 0.8)


class PredictTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ds = helpers.imdb_dataset()
        cls.seqs = [ds.get_words_and_label(line)[0] for line in helpers.imdb_lines()[:3]]
        c = http_client()
        cls.single = [c.predict(feed={"words": s}, fetch=["prediction"])["prediction"][0]
                      for s in cls.seqs]

    def test_fetch_filtered_by_conf(self):
        c = http_client()
        with self.assertRaises(ValueError):
            c.predict(feed={"words": self.seqs[0]}, fetch=["acc", "cost"])
        got = c.predict(feed={"words": self.seqs[0]}, fetch="prediction")
        np.testing.assert_allclose(got["prediction"][0], self.single[0], rtol=1e-6)
        got = c.predict(feed={"words": self.seqs[0]})  # no fetch: every fetch var
        self.assertEqual(sorted(got), ["prediction"])

    def test_list_of_dicts_is_a_batch(self):
        got = http_client().predict(feed=[{"words": s} for s in self.seqs], fetch=["prediction"])
        np.testing.assert_allclose(got["prediction"], np.array(self.single), rtol=1e-5, atol=1e-7)

    def test_numpy_and_explicit_lod(self):
        c = http_client()
        got = c.predict(feed={"words": np.array(self.seqs[1])}, fetch=["prediction"])
        np.testing.assert_allclose(got["prediction"][0], self.single[1], rtol=1e-6)
        rows = np.array(self.seqs[0] + self.seqs[2], np.int64).reshape(-1, 1)
        lod = [0, len(self.seqs[0]), rows.shape[0]]
        got = c.predict(feed={"words": rows, "words.lod": lod}, fetch=["prediction"], batch=True)
        np.testing.assert_allclose(got["prediction"], [self.single[0], self.single[2]],
                                   rtol=1e-5, atol=1e-7)
        # a bare list for a one-feed model
        got = c.predict(feed=self.seqs[2], fetch=["prediction"])
        np.testing.assert_allclose(got["prediction"][0], self.single[2], rtol=1e-6)

    def test_protobuf_body_and_gzip(self):
        c = http_client()
        c.set_http_proto(True)
        c.set_request_compress(True)
        c.set_response_compress(True)
        got = c.predict(feed={"words": self.seqs[0]}, fetch=["prediction"], log_id=42)
        np.testing.assert_allclose(got["prediction"][0], self.single[0], rtol=1e-6)

    def test_wrong_feed_name(self):
        with self.assertRaises(ValueError) as e:
            http_client().predict(feed={"word": [1, 2]}, fetch=["prediction"])
        self.assertIn("Wrong feed name", str(e.exception))

    def test_server_error_raises(self):
        for proto in (False, True):
            c = http_client()
            c.set_http_proto(proto)
            with self.assertRaises(ServingError) as e:
                c.predict(feed={"words": [1, 10**9]}, fetch=["prediction"])
            self.assertNotEqual(e.exception.code, 0)
            self.assertTrue(e.exception.text)

    def test_round_robin_with_failover(self):
        dead = "127.0.0.1:%d" % helpers.free_port()
        c = http_client([dead, server.endpoint])
        for _ in range(4):
            got = c.predict(feed={"words": self.seqs[1]}, fetch=["prediction"])
            np.testing.assert_allclose(got["prediction"][0], self.single[1], rtol=1e-6)
        c = http_client([dead])
        with self.assertRaises(ConnectionError):
            c.predict(feed={"words": self.seqs[1]}, fetch=["prediction"])


class ConfTest(unittest.TestCase):
    def test_example_confs(self):
        for path in (helpers.IMDB_CONF, os.path.dirname(helpers.IMDB_CONF), helpers.IMDB_MODEL):
            conf = load_conf(path)
            (feed,), (fetch,) = conf.feed_vars, conf.fetch_vars
            self.assertEqual((feed.name, feed.alias_name, feed.is_lod_tensor, feed.type,
                              feed.shape), ("words", "words", True, 0, [-1]))
            self.assertEqual((fetch.alias_name, fetch.is_lod_tensor, fetch.type, fetch.shape),
                             ("prediction", False, 1, [2]))

    def test_text_format(self):
        got = parse_text('# comment\nfeed_var { name: "x" alias_name: \'a\\"b\' shape: 13 '
                         'shape: [2, 3] is_lod_tensor: false }\nfetch_var < name: "y" >')
        self.assertEqual(got["feed_var"][0], {"name": ["x"], "alias_name": ['a"b'],
                                              "shape": [13, 2, 3], "is_lod_tensor": [False]})
        self.assertEqual(got["fetch_var"][0], {"name": ["y"]})
        for bad in ('feed_var { name: "x"', 'feed_var { name: }', "feed_var { name: @ }"):
            with self.assertRaises(ConfError):
                parse_text(bad)


class ReaderTest(unittest.TestCase):
    def test_imdb_dataset(self):
        from paddle_serving_app.reader import IMDBDataset
        d = tempfile.mkdtemp(prefix="skiff-py-vocab-")
        with open(os.path.join(d, "v"), "w") as f:
            f.write("the\nmovie\n,\n!\ngood\n")
        ds = IMDBDataset()
        ds.load_resource(os.path.join(d, "v"))
        self.assertEqual(ds.get_words_and_label("The movie, GOOD!<br />unseen | 1\n"),
                         ([0, 1, 2, 4, 3, 5], [1]))
        # "|" splits off the label only: "a|b" stays one (unknown) word
        self.assertEqual(ds.get_words_and_label("a|b | 0"), ([5], [0]))
        self.assertEqual(ds.get_words_only("good  movie\n"), [4, 1])

    def test_example_lines(self):
        ds = helpers.imdb_dataset()
        for line in helpers.imdb_lines()[:20]:
            ids, label = ds.get_words_and_label(line)
            self.assertIn(label, ([0], [1]))
            self.assertTrue(ids)


class ServeModuleTest(unittest.TestCase):
    def test_serve_module_runs_skiff(self):
        env = dict(os.environ, PYTHONPATH=helpers.PYTHON_DIR, SKIFF=SKIFF)
        h = subprocess.run([sys.executable, "-m", "paddle_serving_server.serve", "--help"],
                           env=env, capture_output=True, text=True)
        self.assertEqual(h.returncode, 0, h.stderr)
        self.assertIn("skiff: " + SKIFF, h.stdout)
        self.assertIn("usage: skiff serve", h.stdout + h.stderr)
        with helpers.Server([sys.executable, "-m", "paddle_serving_server.serve", "--model",
                             helpers.IMDB_MODEL, "--thread", "1"], env=env) as s:
            got = http_client(s.endpoint).predict(feed={"words": [1, 2, 3]},
                                                   fetch=["prediction"])
            self.assertEqual(got["prediction"].shape, (1, 2))


if __name__ == "__main__":
    unittest.main(verbosity=2)
