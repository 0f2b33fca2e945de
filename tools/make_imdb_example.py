#!/usr/bin/python3
"""Writes examples/imdb/: a small sentiment classifier in Paddle Serving's imdb
layout, trained here on generated reviews.

    tools/make_imdb_example.py [--out examples/imdb]
    tools/make_imdb_example.py --model-only [--out examples/imdb]

--model-only writes imdb_lstm_model/ alone, and only when it is missing: the
model is not kept in git (the other files are), so tests and users make it
with this (about a minute). It lands whole or not at all (written beside, then
renamed), and the README's accuracy line is rewritten if this machine's
training scored differently.

  imdb.vocab                      one word a line; a word's id is its line number
                                  (0-based), words not in it get len(vocab)
  test_data/part-0                held-out reviews, "text | label" (0 negative, 1 positive)
  imdb_lstm_model/                Paddle inference model (__model__ + one file per
                                  parameter) + serving_server_conf.prototxt (+ .stream)
  imdb_lstm_client_conf/          serving_client_conf.prototxt (+ .stream)
  README.md                       how to serve and query it, and its held-out accuracy

The network is Paddle's imdb lstm_net, smaller:

    words (int64 [-1, 1], lod_level 1) -> lookup_table (emb [V+1, 32])
      -> mul + elementwise_add (to 4*32) -> lstm (gates c, i, f, o; no peepholes)
      -> sequence_pool MAX -> tanh -> mul + elementwise_add (to 2) -> softmax

It is trained with torch (one thread, fixed seeds) on reviews made from a
vocabulary of positive, negative and neutral words, a review's label being
the sign of its positive minus negative words. The held-out accuracy printed
is computed with numpy from the written weights, exactly as served.
"""
import argparse
import os
import re
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "paddle_ops"))
sys.path.insert(0, os.path.join(ROOT, "python"))
from pdprog import Prog, INT64  # noqa: E402
from paddle_serving_client import wire  # noqa: E402

EMB, HID, CLASSES = 32, 32, 2
N_TRAIN, N_TEST = 6000, 200
SEED = 20240611

POSITIVE = """good great excellent wonderful superb brilliant amazing enjoyable
delightful fantastic lovely charming moving touching beautiful clever funny witty
memorable masterpiece gripping thrilling stunning powerful impressive fresh
heartfelt engaging fun perfect best loved enjoyed recommend favorite solid
outstanding pleasant inspiring""".split()
NEGATIVE = """bad awful terrible boring dull poor weak horrible worst waste
disappointing disappointed mess stupid silly tedious predictable bland lame
pointless annoying painful forgettable clumsy ridiculous hated ugly slow
confusing shallow unfunny overrated cheap messy miserable flat""".split()
NEUTRAL = """the a an this that it movie film story plot acting actors actor
actress cast director script scene scenes ending music score camera dialogue
characters character role performance was is were are had has have been be
and but or so with of in on at to for from by about as than then i we you he
she they my his her their our its me saw watched went see seen watch rent
rented night weekend friends family theater cinema dvd tv year time minutes
hours part end first second last long short old new young big small whole
really very quite rather somewhat pretty just also still even only ever
never again there here when while after before during since because if though
one two three some many most more much few all every each other another same
sequel remake book novel version series episode trailer ticket popcorn seat
screen sound effects costumes sets budget studio release premiere audience
critics review reviews fans people kids adults city town house war love life
death world man woman girl boy police detective doctor teacher soldier king
queen ship car train dog cat school office hospital island forest space
christopher nora walken husband wife father mother brother sister son
daughter friend stranger villain hero""".split()
PUNCT = [",", ".", "!", "?", ";"]
UNSEEN = "zorbly quimble snarf blivet wug frobnic glorp".split()  # not in the vocab


def make_vocab():
    words = sorted(set(NEUTRAL) | set(POSITIVE) | set(NEGATIVE))
    return PUNCT + words


def make_review(rng):
    """(text, label): a few sentences of neutral words with sentiment words
    sprinkled in; the label is 1 when positive words outnumber negative."""
    while True:
        n_pos, n_neg = rng.integers(0, 4), rng.integers(0, 4)
        if n_pos != n_neg:
            break
    n_neutral = int(rng.integers(5, 22))
    toks = list(rng.choice(NEUTRAL, n_neutral))
    toks += list(rng.choice(POSITIVE, n_pos)) + list(rng.choice(NEGATIVE, n_neg))
    if rng.random() < 0.2:
        toks.append(str(rng.choice(UNSEEN)))
    rng.shuffle(toks)
    out = []
    for i, t in enumerate(toks):
        word = t.capitalize() if i == 0 or (out and out[-1][-1] in ".!?") else t
        if rng.random() < 0.12 and i < len(toks) - 1:
            word += str(rng.choice([",", ".", "!"]))
        out.append(word)
    text = " ".join(out) + str(rng.choice([".", "!", "?", "."]))
    return text, int(n_pos > n_neg)


def tokenize(vocab_ids, text):
    """Word ids as paddle_serving_app.reader.IMDBDataset gives them."""
    sys.path.insert(0, os.path.join(ROOT, "python"))
    from paddle_serving_app.reader import IMDBDataset
    ds = IMDBDataset()
    ds._vocab, ds._unk_id = vocab_ids, len(vocab_ids)
    return ds.get_words_only(text)


# ---- numpy forward pass: what skiff computes ---------------------------------------------


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_forward(p, ids):
    x = p["emb"][np.asarray(ids)] @ p["fc_in_w"] + p["fc_in_b"]
    h = np.zeros(HID, np.float32)
    c = np.zeros(HID, np.float32)
    hs = []
    for t in range(len(ids)):
        g = x[t] + p["lstm_b"][0] + h @ p["lstm_w"]
        cand, ig, fg, og = np.tanh(g[:HID]), sigmoid(g[HID:2 * HID]), \
            sigmoid(g[2 * HID:3 * HID]), sigmoid(g[3 * HID:])
        c = cand * ig + c * fg
        h = og * np.tanh(c)
        hs.append(h)
    pooled = np.tanh(np.max(np.stack(hs), 0))
    z = pooled @ p["fc_out_w"] + p["fc_out_b"]
    e = np.exp(z - z.max())
    return e / e.sum()


# ---- training ------------------------------------------------------------------------------


def train(train_ids, train_labels, vocab_size):
    import torch
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    V = vocab_size + 1  # + the unknown-word id

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(V, EMB)
            self.fc_in = torch.nn.Linear(EMB, 4 * HID)
            self.w = torch.nn.Parameter(torch.randn(HID, 4 * HID) * 0.1)
            self.fc_out = torch.nn.Linear(HID, CLASSES)

        def forward(self, ids, mask):
            x = self.fc_in(self.emb(ids))  # [B, T, 4H]
            B, T = ids.shape
            h = torch.zeros(B, HID)
            c = torch.zeros(B, HID)
            hs = []
            for t in range(T):
                g = x[:, t] + h @ self.w
                cand, ig = torch.tanh(g[:, :HID]), torch.sigmoid(g[:, HID:2 * HID])
                fg, og = torch.sigmoid(g[:, 2 * HID:3 * HID]), torch.sigmoid(g[:, 3 * HID:])
                c_new = cand * ig + c * fg
                h_new = og * torch.tanh(c_new)
                m = mask[:, t:t + 1]
                c = m * c_new + (1 - m) * c
                h = m * h_new + (1 - m) * h
                hs.append(h_new.masked_fill(m == 0, -1e4))
            pooled = torch.tanh(torch.stack(hs, 1).max(1).values)
            return self.fc_out(pooled)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    n = len(train_ids)
    order_rng = np.random.default_rng(SEED + 1)
    for epoch in range(6):
        order = order_rng.permutation(n)
        total = 0.0
        for s in range(0, n, 64):
            idx = order[s:s + 64]
            T = max(len(train_ids[i]) for i in idx)
            ids = np.zeros((len(idx), T), np.int64)
            mask = np.zeros((len(idx), T), np.float32)
            for r, i in enumerate(idx):
                ids[r, :len(train_ids[i])] = train_ids[i]
                mask[r, :len(train_ids[i])] = 1
            logits = net(torch.from_numpy(ids), torch.from_numpy(mask))
            loss = torch.nn.functional.cross_entropy(
                logits, torch.from_numpy(np.array([train_labels[i] for i in idx])))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        print("epoch %d: loss %.4f" % (epoch, total / n))
    f = lambda t: t.detach().numpy().astype(np.float32).copy()  # noqa: E731
    return {
        "emb": f(net.emb.weight),
        "fc_in_w": f(net.fc_in.weight).T.copy(),
        "fc_in_b": f(net.fc_in.bias),
        "lstm_w": f(net.w),
        "lstm_b": np.zeros((1, 4 * HID), np.float32),
        "fc_out_w": f(net.fc_out.weight).T.copy(),
        "fc_out_b": f(net.fc_out.bias),
    }


# ---- the Paddle program and the confs -------------------------------------------------------

# Paddle's names for the parameters and temporaries of this network
PNAMES = {"emb": "embedding_0.w_0", "fc_in_w": "fc_0.w_0", "fc_in_b": "fc_0.b_0",
          "lstm_w": "lstm_0.w_0", "lstm_b": "lstm_0.b_0", "fc_out_w": "fc_1.w_0",
          "fc_out_b": "fc_1.b_0"}
FETCH_NAME = "fc_1.tmp_2"


def build_program(p):
    g = Prog()
    g.feed("words", [-1, 1], dtype=INT64, lod_level=1)
    for k, name in PNAMES.items():
        g.param(name, p[k])
    for v, dims in (("embedding_0.tmp_0", [-1, EMB]), ("fc_0.tmp_0", [-1, 4 * HID]),
                    ("fc_0.tmp_1", [-1, 4 * HID]), ("lstm_0.tmp_0", [-1, HID]),
                    ("lstm_0.tmp_1", [-1, HID]), ("lstm_0.tmp_2", [-1, 4 * HID]),
                    ("lstm_0.tmp_3", [-1, HID]), ("sequence_pool_0.tmp_0", [-1, HID]),
                    ("tanh_0.tmp_0", [-1, HID]), ("fc_1.tmp_0", [-1, CLASSES]),
                    ("fc_1.tmp_1", [-1, CLASSES]), (FETCH_NAME, [-1, CLASSES])):
        g.var(v, dims)
    g.var("sequence_pool_0.tmp_1", [-1, HID], dtype=2)
    g.op("lookup_table", {"Ids": "words", "W": PNAMES["emb"]}, {"Out": "embedding_0.tmp_0"},
         padding_idx=-1, is_sparse=False)
    g.op("mul", {"X": "embedding_0.tmp_0", "Y": PNAMES["fc_in_w"]}, {"Out": "fc_0.tmp_0"},
         x_num_col_dims=1, y_num_col_dims=1)
    g.op("elementwise_add", {"X": "fc_0.tmp_0", "Y": PNAMES["fc_in_b"]}, {"Out": "fc_0.tmp_1"},
         axis=1)
    g.op("lstm", {"Input": "fc_0.tmp_1", "Weight": PNAMES["lstm_w"], "Bias": PNAMES["lstm_b"]},
         {"Hidden": "lstm_0.tmp_0", "Cell": "lstm_0.tmp_1", "BatchGate": "lstm_0.tmp_2",
          "BatchCellPreAct": "lstm_0.tmp_3"},
         use_peepholes=False, is_reverse=False, gate_activation="sigmoid",
         cell_activation="tanh", candidate_activation="tanh")
    g.op("sequence_pool", {"X": "lstm_0.tmp_0"},
         {"Out": "sequence_pool_0.tmp_0", "MaxIndex": "sequence_pool_0.tmp_1"},
         pooltype="MAX", is_test=True, pad_value=0.0)
    g.op("tanh", {"X": "sequence_pool_0.tmp_0"}, {"Out": "tanh_0.tmp_0"})
    g.op("mul", {"X": "tanh_0.tmp_0", "Y": PNAMES["fc_out_w"]}, {"Out": "fc_1.tmp_0"},
         x_num_col_dims=1, y_num_col_dims=1)
    g.op("elementwise_add", {"X": "fc_1.tmp_0", "Y": PNAMES["fc_out_b"]}, {"Out": "fc_1.tmp_1"},
         axis=1)
    g.op("softmax", {"X": "fc_1.tmp_1"}, {"Out": FETCH_NAME}, axis=-1)
    g.fetch(FETCH_NAME)
    return g


CONF_TEXT = """feed_var {
  name: "words"
  alias_name: "words"
  is_lod_tensor: true
  feed_type: 0
  shape: -1
}
fetch_var {
  name: "%s"
  alias_name: "prediction"
  is_lod_tensor: false
  fetch_type: 1
  shape: 2
}
""" % FETCH_NAME


def conf_stream():
    """The conf as binary GeneralModelConfig (the .stream.prototxt files)."""
    w = wire.Writer()
    feed = wire.Writer()
    feed.string(1, "words").string(2, "words").varint(3, 1).varint(4, 0).varint(5, -1)
    w.message(1, feed.bytes())
    fetch = wire.Writer()
    fetch.string(1, FETCH_NAME).string(2, "prediction").varint(3, 0).varint(4, 1).varint(5, 2)
    w.message(2, fetch.bytes())
    return w.bytes()


README = """# imdb: sentiment of a review, an LSTM over word ids

Written by `tools/make_imdb_example.py` (trained there on generated reviews;
run it again to get the same files). The layout and confs are Paddle Serving's
imdb example's:

- `imdb_lstm_model/`: the Paddle inference model (`__model__` + one file per
  parameter) and `serving_server_conf.prototxt`: feed `words` (int64, LoD),
  fetch `prediction` (softmax over negative, positive);
- `imdb_lstm_client_conf/serving_client_conf.prototxt`: the client's conf;
- `imdb.vocab`: one word a line, a word's id its line number; unknown words
  get the id after the last;
- `test_data/part-0`: held-out reviews, `text | label` (0 negative, 1 positive).

The model directory is not kept in git; write it first (about a minute):

    /usr/bin/python3 tools/make_imdb_example.py --model-only

Serve it and classify the first ten test reviews:

    build/skiff serve --model examples/imdb/imdb_lstm_model --port 9292 &
    cd examples/imdb
    head test_data/part-0 | PYTHONPATH=../../python python3 client.py imdb_lstm_client_conf/serving_client_conf.prototxt imdb.vocab

(`client.py` speaks Paddle Serving's RPC; add `--http` for HTTP.) Or one review over HTTP (Paddle Serving 0.9's form):

    curl -s -X POST http://127.0.0.1:9292/GeneralModelService/inference -d '{"tensor":[{"int64_data":[7,8,9],"elem_type":0,"name":"words","alias_name":"words","shape":[3,1],"lod":[0,3]}],"fetch_var_names":["prediction"]}'

accuracy on test_data/part-0: %s
"""


def write_confs(d, base):
    with open(os.path.join(d, base + ".prototxt"), "w") as f:
        f.write(CONF_TEXT)
    with open(os.path.join(d, base + ".stream.prototxt"), "wb") as f:
        f.write(conf_stream())


def write_model(params, model_dir):
    """The Paddle program, one file per parameter, and the server confs."""
    build_program(params).write(model_dir)
    write_confs(model_dir, "serving_server_conf")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "examples", "imdb"))
    ap.add_argument("--model-only", action="store_true",
                    help="write imdb_lstm_model/ only, when it is missing")
    args = ap.parse_args()
    model_dir = os.path.join(args.out, "imdb_lstm_model")
    if args.model_only and os.path.exists(os.path.join(model_dir, "__model__")):
        print("make_imdb_example: %s exists" % model_dir)
        return
    rng = np.random.default_rng(SEED)

    vocab = make_vocab()
    vocab_ids = {w: i for i, w in enumerate(vocab)}
    reviews = [make_review(rng) for _ in range(N_TRAIN + N_TEST)]
    train_r, test_r = reviews[:N_TRAIN], reviews[N_TRAIN:]
    train_ids = [tokenize(vocab_ids, t) for t, _ in train_r]
    params = train(train_ids, [lab for _, lab in train_r], len(vocab))

    right = 0
    for text, label in test_r:
        prob = np_forward(params, tokenize(vocab_ids, text))
        right += int(np.argmax(prob) == label)
    acc = "%.4f (%d/%d)" % (right / len(test_r), right, len(test_r))
    print("accuracy on test_data/part-0:", acc)

    out = args.out
    if args.model_only:
        tmp = model_dir + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        write_model(params, tmp)
        os.replace(tmp, model_dir)
        readme = os.path.join(out, "README.md")
        with open(readme) as f:
            text = f.read()
        line = "accuracy on test_data/part-0: %s\n" % acc
        if line not in text:
            print("make_imdb_example: this training scored %s; README.md's line updated" % acc)
            with open(readme, "w") as f:
                f.write(re.sub(r"accuracy on test_data/part-0: .*\n", line, text))
        print("wrote", model_dir)
        return
    for d in ("imdb_lstm_model", "imdb_lstm_client_conf", "test_data"):
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
    write_model(params, model_dir)
    client_dir = os.path.join(out, "imdb_lstm_client_conf")
    os.makedirs(client_dir)
    os.makedirs(os.path.join(out, "test_data"))
    write_confs(client_dir, "serving_client_conf")
    with open(os.path.join(out, "imdb.vocab"), "w") as f:
        f.write("".join(w + "\n" for w in vocab))
    with open(os.path.join(out, "test_data", "part-0"), "w") as f:
        f.write("".join("%s | %d\n" % (t, lab) for t, lab in test_r))
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(README % acc)
    print("wrote", out)


if __name__ == "__main__":
    main()
