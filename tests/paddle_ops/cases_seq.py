"""Paddle's sequence (LoD) ops mapped in src/engine/paddle_ops_seq.c, each
against numpy written from Paddle's semantics. A LoD feed x is given as x
(the stacked rows) and x.lod (its level-0 offsets); a fetched variable that
carries a LoD comes back with y.lod."""
import numpy as np

from pdprog import Prog, INT64
from run_ops import Case, rng

LOD = np.array([0, 3, 4, 8, 10], np.int64)  # lengths 3, 1, 4, 2
T = int(LOD[-1])


def seqs(lod):
    return [(int(lod[i]), int(lod[i + 1])) for i in range(len(lod) - 1)]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACTS = {"sigmoid": sigmoid, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0),
        "identity": lambda x: x}


def exactly(want, rtol=1e-5, atol=1e-5):
    """A check: the outputs are exactly those of want (a LoD output more or
    less fails it), each close to its value."""
    def check(outs):
        if sorted(outs) != sorted(want):
            return "outputs %s, expected %s" % (sorted(outs), sorted(want))
        for k, v in want.items():
            if outs[k].shape != v.shape or not np.allclose(outs[k], v, rtol=rtol, atol=atol):
                return "%s: %s\n  expected %s" % (k, outs[k].ravel()[:8], v.ravel()[:8])
        return None
    return check


def f32(*shape, seed=0, scale=1.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


# ---- lookup_table ------------------------------------------------------------------


def lookup_prog(op, ids_dims, w, lod_level, **attrs):
    g = Prog()
    g.feed("ids", ids_dims, dtype=INT64, lod_level=lod_level)
    g.param("w", w)
    g.var("y", [-1, w.shape[1]])
    g.op(op, {"Ids": "ids", "W": "w"}, {"Out": "y"}, **attrs)
    g.fetch("y")
    return g


def case_lookup_table_padding_lod():
    w = f32(12, 5, seed=1)
    ids = rng(2).integers(0, 12, (T, 1)).astype(np.int64)
    ids[2, 0] = 4
    want = w[ids[:, 0]].copy()
    want[ids[:, 0] == 4] = 0
    g = lookup_prog("lookup_table", [-1, 1], w, 1, padding_idx=4)
    return Case(g, {"ids": ids, "ids.lod": LOD}, {"y": want, "y.lod": LOD})


def case_lookup_table_v2_plain():
    w = f32(9, 3, seed=3)
    ids = np.array([8, 0, 3, 3], np.int64)
    g = lookup_prog("lookup_table_v2", [-1], w, 0)
    return Case(g, {"ids": ids}, {"y": w[ids]})


def case_lookup_table_v2_rank2_ids():
    w = f32(9, 3, seed=3)
    ids = np.array([[8, 0], [3, 3]], np.int64)
    g = lookup_prog("lookup_table_v2", [-1, 2], w, 0, padding_idx=-1)
    return Case(g, {"ids": ids}, {"y": w[ids]})


def case_lookup_table_id_out_of_range():
    w = f32(6, 2)
    g = lookup_prog("lookup_table", [-1, 1], w, 1)
    ids = np.array([[1], [6], [0]], np.int64)
    return Case(g, {"ids": ids, "ids.lod": np.array([0, 3], np.int64)},
                error="(lookup_table): input Ids ('ids'): id 6 at position 1 is outside the table W")


def case_lookup_table_negative_id():
    w = f32(6, 2)
    g = lookup_prog("lookup_table_v2", [-1], w, 0)
    return Case(g, {"ids": np.array([0, -1], np.int64)}, error="id -1 at position 1")


# ---- sequence_pool -------------------------------------------------------------------

POOL_LOD = np.array([0, 3, 3, 4, 8], np.int64)  # lengths 3, 0, 1, 4


def np_pool(x, lod, kind, pad):
    out = []
    for a, b in seqs(lod):
        s = x[a:b]
        if b == a:
            out.append(np.full(x.shape[1:], pad, np.float32))
        elif kind == "SUM":
            out.append(s.sum(0))
        elif kind == "AVERAGE":
            out.append(s.mean(0))
        elif kind == "SQRT":
            out.append(s.sum(0) / np.sqrt(b - a))
        elif kind == "MAX":
            out.append(s.max(0))
        elif kind == "LAST":
            out.append(s[-1])
        else:
            out.append(s[0])
    return np.stack(out).astype(np.float32)


def case_sequence_pool_every_type():
    x = f32(8, 3, 2, seed=4)
    g = Prog()
    g.feed("x", [-1, 3, 2], lod_level=1)
    want = {}
    for kind in ("SUM", "AVERAGE", "SQRT", "MAX", "LAST", "FIRST"):
        name = "y_" + kind.lower()
        g.var(name, [-1, 3, 2])
        g.var(name + "_idx", [-1, 3, 2], dtype=2)
        g.op("sequence_pool", {"X": "x"}, {"Out": name, "MaxIndex": name + "_idx"},
             pooltype=kind, is_test=True, pad_value=-7.5)
        g.fetch(name)
        want[name] = np_pool(x, POOL_LOD, kind, -7.5)

    # sequence_pool drops the LoD: no y_*.lod outputs
    return Case(g, {"x": x, "x.lod": POOL_LOD}, check=exactly(want))


# ---- sequence_conv, sequence_softmax ----------------------------------------------------


def np_seq_conv(x, lod, filt, length, start):
    d = x.shape[1]
    out = np.zeros((x.shape[0], filt.shape[1]), np.float32)
    for a, b in seqs(lod):
        for t in range(a, b):
            col = np.zeros(length * d, np.float32)
            for k in range(length):
                r = t + start + k
                if a <= r < b:
                    col[k * d:(k + 1) * d] = x[r]
            out[t] = col @ filt
    return out


def seq_conv_case(length, start):
    x = f32(T, 4, seed=5)
    filt = f32(length * 4, 3, seed=6)
    g = Prog()
    g.feed("x", [-1, 4], lod_level=1)
    g.param("f", filt)
    g.var("y", [-1, 3])
    g.op("sequence_conv", {"X": "x", "Filter": "f"}, {"Out": "y"}, contextLength=length,
         contextStart=start, contextStride=1, paddingTrainable=False)
    g.fetch("y")
    return Case(g, {"x": x, "x.lod": LOD}, {"y": np_seq_conv(x, LOD, filt, length, start),
                                            "y.lod": LOD}, rtol=1e-4, atol=1e-5)


def case_sequence_conv_centered():
    return seq_conv_case(3, -1)


def case_sequence_conv_forward():
    return seq_conv_case(2, 0)


def case_sequence_conv_trainable_padding_refused():
    g = seq_conv_case(3, -1).prog
    for a in g.b.ops[1].attrs:
        if a.name == "paddingTrainable":
            a.b = True
    return Case(g, {"x": f32(T, 4), "x.lod": LOD}, error="paddingTrainable")


def case_sequence_softmax():
    x = f32(T, 1, seed=7)
    want = np.zeros_like(x)
    for a, b in seqs(LOD):
        e = np.exp(x[a:b] - x[a:b].max())
        want[a:b] = e / e.sum()
    g = Prog()
    g.feed("x", [-1, 1], lod_level=1)
    g.var("y", [-1, 1])
    g.op("sequence_softmax", {"X": "x"}, {"Out": "y"})
    g.fetch("y")
    return Case(g, {"x": x, "x.lod": LOD}, {"y": want, "y.lod": LOD})


# ---- gru ---------------------------------------------------------------------------------


def np_gru(x, lod, w, bias, h0, act, gate_act, reverse, origin):
    d = w.shape[0]
    wg = w.reshape(-1)[:2 * d * d].reshape(d, 2 * d)
    wc = w.reshape(-1)[2 * d * d:].reshape(d, d)
    out = np.zeros((x.shape[0], d), np.float32)
    for i, (a, b) in enumerate(seqs(lod)):
        h = h0[i].astype(np.float64) if h0 is not None else np.zeros(d)
        order = range(b - 1, a - 1, -1) if reverse else range(a, b)
        for t in order:
            g = x[t].astype(np.float64) + (bias[0] if bias is not None else 0)
            ur = ACTS[gate_act](g[:2 * d] + h @ wg)
            u, r = ur[:d], ur[d:]
            c = ACTS[act](g[2 * d:] + (r * h) @ wc)
            h = u * h + (1 - u) * c if origin else (1 - u) * h + u * c
            out[t] = h
    return out


def gru_case(reverse=False, origin=False, with_h0=False, with_bias=True, act="tanh",
             gate_act="sigmoid"):
    d = 4
    x = f32(T, 3 * d, seed=8)
    w = f32(d, 3 * d, seed=9, scale=0.5)
    bias = f32(1, 3 * d, seed=10)
    h0 = f32(len(LOD) - 1, d, seed=11)
    g = Prog()
    g.feed("x", [-1, 3 * d], lod_level=1)
    g.param("w", w)
    ins = {"Input": "x", "Weight": "w"}
    if with_bias:
        g.param("b", bias)
        ins["Bias"] = "b"
    if with_h0:
        g.param("h0", h0)
        ins["H0"] = "h0"
    for v in ("h", "bg", "brh", "bh"):
        g.var(v, [-1, d])
    g.op("gru", ins, {"Hidden": "h", "BatchGate": "bg", "BatchResetHiddenPrev": "brh",
                      "BatchHidden": "bh"},
         activation=act, gate_activation=gate_act, is_reverse=reverse, origin_mode=origin)
    g.fetch("h")
    want = np_gru(x, LOD, w, bias if with_bias else None, h0 if with_h0 else None, act, gate_act,
                  reverse, origin)
    return Case(g, {"x": x, "x.lod": LOD}, {"h": want, "h.lod": LOD}, rtol=1e-4, atol=1e-5)


def case_gru_forward():
    return gru_case()


def case_gru_reverse():
    return gru_case(reverse=True)


def case_gru_origin_mode_h0():
    return gru_case(origin=True, with_h0=True)


def case_gru_reverse_origin_no_bias():
    return gru_case(reverse=True, origin=True, with_bias=False)


def case_gru_relu_identity_gates():
    return gru_case(act="relu", gate_act="identity")


def case_gru_unknown_activation():
    c = gru_case()
    for a in c.prog.b.ops[1].attrs:
        if a.name == "activation":
            a.s = "softsign"
    return Case(c.prog, c.inputs, error="activation 'softsign'")


def case_gru_without_lod():
    d = 2
    g = Prog()
    g.feed("x", [-1, 3 * d])
    g.param("w", f32(d, 3 * d))
    g.var("h", [-1, d])
    g.op("gru", {"Input": "x", "Weight": "w"}, {"Hidden": "h"})
    g.fetch("h")
    return Case(g, {"x": f32(3, 3 * d)}, error="op gru: input Input ('x') carries no LoD")


# ---- lstm --------------------------------------------------------------------------------


def np_lstm(x, lod, w, bias, h0, c0, peep, reverse, gate_act, cell_act, cand_act):
    d = w.shape[0]
    b = bias[0].astype(np.float64)
    hs = np.zeros((x.shape[0], d), np.float32)
    cs = np.zeros((x.shape[0], d), np.float32)
    for i, (s, e) in enumerate(seqs(lod)):
        h = h0[i].astype(np.float64) if h0 is not None else np.zeros(d)
        c = c0[i].astype(np.float64) if c0 is not None else np.zeros(d)
        order = range(e - 1, s - 1, -1) if reverse else range(s, e)
        for t in order:
            g = x[t] + b[:4 * d] + h @ w
            cand = ACTS[cand_act](g[:d])
            ig = ACTS[gate_act](g[d:2 * d] + (c * b[4 * d:5 * d] if peep else 0))
            fg = ACTS[gate_act](g[2 * d:3 * d] + (c * b[5 * d:6 * d] if peep else 0))
            c = cand * ig + c * fg
            og = ACTS[gate_act](g[3 * d:] + (c * b[6 * d:] if peep else 0))
            h = og * ACTS[cell_act](c)
            hs[t], cs[t] = h, c
    return hs, cs


def lstm_case(peep=True, reverse=False, with_state=False, gate_act="sigmoid", cell_act="tanh",
              cand_act="tanh"):
    d = 3
    x = f32(T, 4 * d, seed=12)
    w = f32(d, 4 * d, seed=13, scale=0.5)
    bias = f32(1, (7 if peep else 4) * d, seed=14)
    h0, c0 = f32(len(LOD) - 1, d, seed=15), f32(len(LOD) - 1, d, seed=16)
    g = Prog()
    g.feed("x", [-1, 4 * d], lod_level=1)
    g.param("w", w)
    g.param("b", bias)
    ins = {"Input": "x", "Weight": "w", "Bias": "b"}
    if with_state:
        g.param("h0", h0)
        g.param("c0", c0)
        ins.update(H0="h0", C0="c0")
    for v in ("h", "c", "bg", "bc"):
        g.var(v, [-1, d])
    g.op("lstm", ins, {"Hidden": "h", "Cell": "c", "BatchGate": "bg", "BatchCellPreAct": "bc"},
         use_peepholes=peep, is_reverse=reverse, gate_activation=gate_act,
         cell_activation=cell_act, candidate_activation=cand_act)
    g.fetch("h")
    g.fetch("c")
    hs, cs = np_lstm(x, LOD, w, bias, h0 if with_state else None, c0 if with_state else None,
                     peep, reverse, gate_act, cell_act, cand_act)
    return Case(g, {"x": x, "x.lod": LOD}, {"h": hs, "c": cs, "h.lod": LOD, "c.lod": LOD},
                rtol=1e-4, atol=1e-5)


def case_lstm_peepholes():
    return lstm_case()


def case_lstm_no_peepholes_reverse():
    return lstm_case(peep=False, reverse=True)


def case_lstm_state_and_activations():
    return lstm_case(with_state=True, cell_act="relu", cand_act="identity")


def case_lstm_bias_size_checked():
    c = lstm_case(peep=False)
    for a in c.prog.b.ops[1].attrs:
        if a.name == "use_peepholes":
            a.b = True
    return Case(c.prog, c.inputs, error="input Bias ('b'): expected [1, 21]")


# ---- crf_decoding --------------------------------------------------------------------------


def np_viterbi(e, trans):
    """Every path scored, the best taken (lowest tags first on ties)."""
    k = e.shape[1]
    start, end, tr = trans[0], trans[1], trans[2:]
    best, best_path = -np.inf, None
    n = e.shape[0]
    for code in range(k ** n):
        path = [(code // k ** (n - 1 - i)) % k for i in range(n)]
        s = start[path[0]] + end[path[-1]] + sum(e[i, path[i]] for i in range(n))
        s += sum(tr[path[i - 1], path[i]] for i in range(1, n))
        if s > best:
            best, best_path = s, path
    return best_path


def crf_case(with_label):
    k = 3
    e = f32(T, k, seed=17)
    trans = f32(k + 2, k, seed=18)
    want = np.zeros((T, 1), np.int64)
    for a, b in seqs(LOD):
        want[a:b, 0] = np_viterbi(e[a:b].astype(np.float64), trans.astype(np.float64))
    g = Prog()
    g.feed("e", [-1, k], lod_level=1)
    g.param("trans", trans)
    ins = {"Emission": "e", "Transition": "trans"}
    inputs = {"e": e, "e.lod": LOD}
    if with_label:
        label = want.copy()
        label[[0, 4, 9], 0] = (label[[0, 4, 9], 0] + 1) % k
        g.feed("label", [-1, 1], dtype=INT64, lod_level=1)
        ins["Label"] = "label"
        inputs.update({"label": label, "label.lod": LOD})
        want = (label == want).astype(np.int64)
    g.var("path", [-1, 1], dtype=INT64)
    g.op("crf_decoding", ins, {"ViterbiPath": "path"})
    g.fetch("path")
    return Case(g, inputs, {"path": want, "path.lod": LOD})


def case_crf_decoding_viterbi():
    return crf_case(False)


def case_crf_decoding_label():
    return crf_case(True)


# ---- fc ----------------------------------------------------------------------------------


def case_fc_relu_keeps_lod():
    x = f32(T, 6, seed=19)
    w = f32(6, 4, seed=20)
    b = f32(4, seed=21)
    g = Prog()
    g.feed("x", [-1, 6], lod_level=1)
    g.param("w", w)
    g.param("b", b)
    g.var("y", [-1, 4])
    g.op("fc", {"Input": "x", "W": "w", "Bias": "b"}, {"Out": "y"}, in_num_col_dims=1,
         activation_type="relu")
    g.fetch("y")
    return Case(g, {"x": x, "x.lod": LOD}, {"y": np.maximum(x @ w + b, 0), "y.lod": LOD},
                rtol=1e-4)


def case_fc_num_col_dims_2_no_bias():
    x = f32(2, 3, 2, 5, seed=22)
    w = f32(10, 4, seed=23)
    g = Prog()
    g.feed("x", [-1, 3, 2, 5])
    g.param("w", w)
    g.var("y", [-1, 3, 4])
    g.op("fc", {"Input": "x", "W": "w"}, {"Out": "y"}, in_num_col_dims=2)
    g.fetch("y")
    return Case(g, {"x": x}, {"y": x.reshape(2, 3, 10) @ w}, rtol=1e-4)


# ---- LoD through a chain, and bad offsets ----------------------------------------------------


def chain_prog():
    """ids -> lookup_table -> fc -> elementwise_add -> gru -> concat(axis 1)
    -> sequence_pool: the LoD travels to gru and concat, the pool drops it."""
    d = 2
    g = Prog()
    g.feed("ids", [-1, 1], dtype=INT64, lod_level=1)
    g.param("emb", f32(7, 3, seed=24))
    g.param("w", f32(3, 3 * d, seed=25))
    g.param("b", f32(3 * d, seed=26))
    g.param("gw", f32(d, 3 * d, seed=27))
    for v, dims in (("e", [-1, 3]), ("p", [-1, 3 * d]), ("q", [-1, 3 * d]), ("h", [-1, d]),
                    ("cat", [-1, 2 * d]), ("pool", [-1, 2 * d])):
        g.var(v, dims)
    g.op("lookup_table", {"Ids": "ids", "W": "emb"}, {"Out": "e"})
    g.op("mul", {"X": "e", "Y": "w"}, {"Out": "p"}, x_num_col_dims=1, y_num_col_dims=1)
    g.op("elementwise_add", {"X": "p", "Y": "b"}, {"Out": "q"}, axis=1)
    g.op("gru", {"Input": "q", "Weight": "gw"}, {"Hidden": "h"})
    g.op("concat", {"X": ["h", "h"]}, {"Out": "cat"}, axis=1)
    g.op("sequence_pool", {"X": "cat"}, {"Out": "pool"}, pooltype="LAST")
    g.fetch("cat")
    g.fetch("pool")
    return g


def case_lod_travels_through_a_chain():
    g = chain_prog()
    ids = np.array([[1], [2], [3], [6], [0]], np.int64)
    lod = np.array([0, 1, 5], np.int64)
    p = {n: np.frombuffer(g.params[n][-a.nbytes:], np.float32).reshape(a.shape)
         for n, a in (("emb", np.zeros((7, 3), np.float32)), ("w", np.zeros((3, 6), np.float32)),
                      ("b", np.zeros(6, np.float32)), ("gw", np.zeros((2, 6), np.float32)))}
    q = p["emb"][ids[:, 0]] @ p["w"] + p["b"]
    h = np_gru(q, lod, p["gw"], None, None, "tanh", "sigmoid", False, False)
    cat = np.concatenate([h, h], 1)
    pool = np.stack([cat[b - 1] for a, b in seqs(lod)])
    return Case(g, {"ids": ids, "ids.lod": lod},
                check=exactly({"cat": cat, "cat.lod": lod, "pool": pool}, rtol=1e-4))


def case_lod_not_ending_at_rows():
    g = chain_prog()
    return Case(g, {"ids": np.zeros((5, 1), np.int64), "ids.lod": np.array([0, 2, 4], np.int64)},
                error="LoD input 'ids.lod': offsets end at 4 but the data ('q') has 5 rows")


def case_lod_decreasing():
    g = chain_prog()
    return Case(g, {"ids": np.zeros((5, 1), np.int64),
                    "ids.lod": np.array([0, 3, 2, 5], np.int64)},
                error="LoD input 'ids.lod': offsets must not decrease (offset 2 is 2 after 3)")


def case_lod_not_starting_at_zero():
    g = chain_prog()
    return Case(g, {"ids": np.zeros((5, 1), np.int64), "ids.lod": np.array([1, 5], np.int64)},
                error="LoD input 'ids.lod': offsets must start at 0, got 1")


def case_lod_missing_input():
    g = chain_prog()
    return Case(g, {"ids": np.zeros((5, 1), np.int64)}, error="input 'ids.lod' is missing")


def case_concat_rows_drops_lod():
    d = 2
    g = Prog()
    g.feed("x", [-1, d], lod_level=1)
    g.var("cat", [-1, d])
    g.var("pool", [-1, d])
    g.op("concat", {"X": ["x", "x"]}, {"Out": "cat"}, axis=0)
    g.op("sequence_pool", {"X": "cat"}, {"Out": "pool"}, pooltype="SUM")
    g.fetch("pool")
    return Case(g, {"x": f32(3, d), "x.lod": np.array([0, 3], np.int64)},
                error="op sequence_pool: input X ('cat') carries no LoD")
