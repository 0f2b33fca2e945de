"""Paddle's fake quantization ops (src/engine/paddle_ops_quant.c,
kernels/cpu/paddle_quant.c) against numpy, and the quantization-aware
("slim") PP-OCR models against their float versions."""
import os

import numpy as np

from pdprog import Prog
from run_ops import SHARED_MODELS, Case, ModelDir, rng

F = np.float32


def inverse(s):
    s = F(s)
    return F(1) / (s + F(1e-6)) if s <= F(1e-30) else F(1) / s


def round_away(a):
    r = np.trunc(a)
    return (r + (np.abs(a - r) >= F(0.5)) * np.sign(a)).astype(F)


def quant(x, s, bits=8, round_type=1, levels_only=False):
    """Paddle's clip, round (and scale back) for one scale, in float32."""
    b = F(2 ** (bits - 1) - 1)
    k = b * inverse(s)
    if round_type == 0:
        q = np.clip(np.rint(k * x), -b, b).astype(F)
    else:
        q = round_away(k * np.clip(x, -F(s), F(s)).astype(F))
    return q if levels_only else (q * F(s) / b).astype(F)


def per_channel(x, axis, fn, scales=None):
    out = np.empty_like(x)
    for c in range(x.shape[axis]):
        idx = [slice(None)] * x.ndim
        idx[axis] = c
        xc = x[tuple(idx)]
        s = np.abs(xc).max() if scales is None else scales[c]
        out[tuple(idx)] = fn(xc, s)
    return out


def one_op(op, x, expect, ins=None, params=(), out_slot="Out", **attrs):
    g = Prog()
    g.feed("x", x.shape)
    for name, arr in params:
        g.param(name, arr)
    g.var("y", x.shape)
    g.op(op, dict({"X": "x"}, **(ins or {})), {out_slot: "y"}, **attrs)
    g.fetch("y")
    return Case(g, {"x": x}, {"y": expect}, rtol=1e-6, atol=1e-7)


def act(seed=0, shape=(2, 3, 4, 5)):
    return (rng(seed).standard_normal(shape) * 2).astype(F)


def case_qdq_moving_average():
    x = act(1)
    s = np.array([1.5], F)
    return one_op("fake_quantize_dequantize_moving_average_abs_max", x, quant(x, s[0]),
                  {"InScale": "s"}, [("s", s)], bit_length=8, is_test=True, moving_rate=0.9)


def case_qdq_moving_average_ties_to_even_4bit():
    # levels at exact halves: ties decide
    x = (np.arange(-20, 21, dtype=F) / F(7) * F(1.75)).reshape(1, 41)
    s = np.array([1.0], F)
    return one_op("fake_quantize_dequantize_moving_average_abs_max", x,
                  quant(x, s[0], bits=4, round_type=0), {"InScale": "s"}, [("s", s)],
                  bit_length=4, round_type=0, is_test=True)


def case_qdq_abs_max():
    x = act(2)
    return one_op("fake_quantize_dequantize_abs_max", x, quant(x, np.abs(x).max()), bit_length=8)


def case_qdq_channel_wise_weights():
    # the weight form: a parameter, per output channel (axis 0): folds at load
    w = act(3, (4, 3, 3, 3))
    g = Prog()
    g.feed("x", [1, 3, 5, 5])
    g.param("w", w)
    for v, d in (("wq", w.shape), ("y", [1, 4, 3, 3])):
        g.var(v, d)
    g.op("fake_channel_wise_quantize_dequantize_abs_max", {"X": "w"}, {"Out": "wq"},
         bit_length=8, quant_axis=0)
    g.op("conv2d", {"Input": "x", "Filter": "wq"}, {"Output": "y"}, strides=[1, 1],
         paddings=[0, 0], dilations=[1, 1], groups=1)
    g.fetch("y")
    x = act(4, (1, 3, 5, 5))
    wq = per_channel(w, 0, quant)
    y = np.zeros((1, 4, 3, 3), F)
    for o in range(4):
        for i in range(3):
            for j in range(3):
                y[0, o, i, j] = (x[0, :, i:i + 3, j:j + 3] * wq[o]).sum()
    return Case(g, {"x": x}, {"y": y}, rtol=1e-4, atol=1e-5)


def case_qdq_channel_wise_axis1():
    x = act(5, (3, 4, 2))
    return one_op("fake_channel_wise_quantize_dequantize_abs_max", x, per_channel(x, 1, quant),
                  bit_length=8, quant_axis=1)


def case_quantize_abs_max_levels():
    x = act(6)
    return one_op("fake_quantize_abs_max", x,
                  quant(x, np.abs(x).max(), levels_only=True), bit_length=8)


def case_quantize_range_abs_max_levels():
    x = act(7)
    s = np.array([0.8], F)
    return one_op("fake_quantize_range_abs_max", x, quant(x, s[0], levels_only=True),
                  {"InScale": "s"}, [("s", s)], bit_length=8, is_test=True, window_size=10000)


def case_dequantize_max_abs():
    q = rng(8).integers(-127, 128, (3, 6)).astype(F)
    s = np.array([2.5], F)
    return one_op("fake_dequantize_max_abs", q, (q * s[0] / F(127)).astype(F),
                  {"Scale": "s"}, [("s", s)], max_range=127.0)


def case_channel_wise_dequantize_two_scales():
    q = rng(9).integers(-127, 128, (2, 4, 3)).astype(F)
    s0 = np.array([0.5, 1.0, 2.0, 4.0], F)
    s1 = np.array([3.0], F)
    want = per_channel(q, 1, lambda a, s: (a * F(s) / F(127)).astype(F), s0)
    want = (want * s1[0] / F(127)).astype(F)
    return one_op("fake_channel_wise_dequantize_max_abs", q, want,
                  {"Scales": ["s0", "s1"]}, [("s0", s0), ("s1", s1)], quant_bits=[8, 8],
                  quant_axis=1)


def case_quantize_dequantize_linear():
    x = act(10, (4, 6))
    s = np.array([0.5, 1.0, 1.5, 2.0], F)
    zp = np.zeros(4, F)
    g = Prog()
    g.feed("x", [4, 6])
    g.param("s", s)
    g.param("zp", zp)
    g.var("q", [4, 6])
    g.var("y", [4, 6])
    g.op("quantize_linear", {"X": "x", "Scale": "s", "ZeroPoint": "zp"}, {"Y": "q"},
         quant_axis=0, bit_length=8)
    g.op("dequantize_linear", {"X": "q", "Scale": "s", "ZeroPoint": "zp"}, {"Y": "y"},
         quant_axis=0, bit_length=8)
    g.fetch("q")
    g.fetch("y")
    q = per_channel(x, 0, lambda a, sc: quant(a, sc, round_type=0, levels_only=True), s)
    y = per_channel(q, 0, lambda a, sc: (a * F(sc) / F(127)).astype(F), s)
    return Case(g, {"x": x}, {"q": q, "y": y}, rtol=1e-6, atol=1e-7)


def case_quantize_linear_zero_point_refused():
    x = act(11, (4, 6))
    g = Prog()
    g.feed("x", [4, 6])
    g.param("s", np.ones(1, F))
    g.param("zp", np.array([3], F))
    g.var("q", [4, 6])
    g.op("quantize_linear", {"X": "x", "Scale": "s", "ZeroPoint": "zp"}, {"Y": "q"},
         quant_axis=-1, bit_length=8)
    g.fetch("q")
    return Case(g, {"x": x}, error="ZeroPoint 'zp' is not zero")


def case_scale_count_refused():
    x = act(12, (4, 6))
    s = np.ones(3, F)
    return Case(one_op("fake_quantize_dequantize_moving_average_abs_max", x, x, {"InScale": "s"},
                       [("s", s)]).prog, {"x": x},
                error="input 'Scale' has 3 values, expected 1 or 1")


def case_variable_written_twice():
    # Paddle programs re-quantize one activation with another scale into
    # the same variable name: readers see the latest write.
    x = act(13, (2, 5))
    g = Prog()
    g.feed("x", [2, 5])
    g.param("s1", np.array([1.0], F))
    g.param("s2", np.array([3.0], F))
    for v in ("xq", "a", "b"):
        g.var(v, [2, 5])
    g.op("fake_quantize_dequantize_moving_average_abs_max", {"X": "x", "InScale": "s1"},
         {"Out": "xq"}, bit_length=8, is_test=True)
    g.op("relu", {"X": "xq"}, {"Out": "a"})
    g.op("fake_quantize_dequantize_moving_average_abs_max", {"X": "x", "InScale": "s2"},
         {"Out": "xq"}, bit_length=8, is_test=True)
    g.op("relu", {"X": "xq"}, {"Out": "b"})
    g.fetch("a")
    g.fetch("b")
    return Case(g, {"x": x}, {"a": np.maximum(quant(x, 1.0), 0), "b": np.maximum(quant(x, 3.0), 0)},
                rtol=1e-6, atol=1e-7)


# ---- the slim PP-OCR models against their float versions -------------------------

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def text_image(h, w, lines, seed=0, size=22):
    """Dark text on a light page, as uint8 HxWx3 (Pillow, DejaVu Sans)."""
    from PIL import Image, ImageDraw, ImageFont
    img = Image.new("RGB", (w, h), (250, 250, 246))
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, size)
    r = np.random.default_rng(seed)
    for i, text in enumerate(lines):
        d.text((6 + int(r.integers(0, 8)), 8 + int(size * 1.8) * i), text, fill=(20, 20, 30),
               font=font)
    return np.asarray(img)


def det_input(img):
    x = img.astype(F) / F(255)
    x = (x - np.array([0.485, 0.456, 0.406], F)) / np.array([0.229, 0.224, 0.225], F)
    return x.transpose(2, 0, 1)[None].astype(F)


def slim_case(slim, float_dir, x, check):
    """Runs the float model first (its output saved beside), then checks the
    slim model's output against it."""
    import subprocess
    import sys
    import tempfile
    skiff = next(a.split("=", 1)[1] if "=" in a else sys.argv[i + 1]
                 for i, a in enumerate(sys.argv) if a.startswith("--skiff"))
    work = tempfile.mkdtemp(prefix="skiff-slim-")
    np.save(os.path.join(work, "x.npy"), x)
    r = subprocess.run([skiff, "run", os.path.join(SHARED_MODELS, float_dir), "--input",
                        "x=" + os.path.join(work, "x.npy"), "--output-dir", work, "--quiet"],
                       capture_output=True, text=True)
    ref = None
    if r.returncode == 0:
        outs = [f for f in os.listdir(work) if f != "x.npy"]
        ref = np.load(os.path.join(work, outs[0])) if len(outs) == 1 else None

    def compare(outs):
        if ref is None:
            return "the float model did not run: " + r.stderr
        got = next(iter(outs.values()))
        print("  float: %s" % (ref.ravel()[:8],), flush=True) if os.environ.get("SKIFF_VERBOSE") else None
        return check(got, ref)
    return Case(ModelDir(os.path.join(SHARED_MODELS, slim)), {"x": x}, check=compare)


def case_model_cls_slim():
    # six text lines upright (class 0) and turned 180 degrees (class 1)
    lines = ["Hello skiff 2026", "paddle serving", "QUANT AWARE", "text line 42", "OCR 12345",
             "Angle check"]
    imgs, truth = [], []
    for i, t in enumerate(lines * 2):
        img = text_image(48, 192, [t], seed=i, size=28)
        if i >= len(lines):
            img = img[::-1, ::-1]
        truth.append(int(i >= len(lines)))
        imgs.append(((img.astype(F) / F(255)) - F(0.5)) / F(0.5))
    x = np.stack(imgs).transpose(0, 3, 1, 2).astype(F)

    def check(got, ref):
        if got.shape != (12, 2):
            return "shape %s" % (got.shape,)
        if not np.allclose(got.sum(axis=1), 1, atol=1e-5):
            return "probabilities do not sum to 1: %s" % got
        if (got.argmax(1) != truth).any() or (ref.argmax(1) != truth).any():
            return "angles %s (slim), %s (float), truth %s" % (got.argmax(1), ref.argmax(1), truth)
        return None
    return slim_case("ppocr_ch_ppocr_mobile_v2.0_cls_slim_infer",
                     "ppocr_ch_ppocr_mobile_v2.0_cls_infer", x, check)


def det_check(got, ref):
    if got.shape != ref.shape or got.shape[:2] != (1, 1):
        return "shape %s, float model %s" % (got.shape, ref.shape)
    if got.min() < 0 or got.max() > 1:
        return "probabilities out of [0, 1]: %g..%g" % (got.min(), got.max())
    a, b = got.ravel() > 0.3, ref.ravel() > 0.3
    iou = (a & b).sum() / max((a | b).sum(), 1)
    corr = np.corrcoef(got.ravel(), ref.ravel())[0, 1]
    if os.environ.get("SKIFF_VERBOSE"):
        print("  text pixels %d/%d, IoU %.3f, correlation %.3f" % (a.sum(), b.sum(), iou, corr))
    # plausibility: the slim model finds the text the float one finds (the
    # kernels themselves are checked value by value above)
    if b.sum() < 100 or iou < 0.6 or corr < 0.8:
        return "slim text map differs from the float one: IoU %.3f, correlation %.3f" % (iou, corr)
    return None


def case_model_det_v3_slim():
    img = text_image(256, 320, ["Paddle models", "served as they are", "skiff 0.1 OCR"])
    return slim_case("ppocr_ch_PP-OCRv3_det_slim_infer", "ppocr_ch_PP-OCRv3_det_infer",
                     det_input(img), det_check)


def case_model_det_v2_slim():
    img = text_image(640, 640, ["quantization aware", "PP-OCRv2 detector", "2026-12-07",
                                "Paddle Serving"], 1, size=36)
    return slim_case("ppocr_ch_PP-OCRv2_det_slim_quant_infer", "ppocr_ch_PP-OCRv2_det_infer",
                     det_input(img), det_check)
