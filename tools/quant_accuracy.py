#!/usr/bin/env python3
"""quant_accuracy.py - int8 (or bf16) against fp32, per reference model.

    tools/quant_accuracy.py [--models resnet50,mobilenet_v2,ocr_cls,ocr_det]
        [--method entropy] [--work DIR] [--calib 16] [--eval 50] [--extra "--keep_first_last"]
    tools/quant_accuracy.py --precision bf16 [--models ...]

With --precision bf16 nothing is calibrated: skiff runs the fp32 model with
`--precision bf16` and its outputs are compared with the fp32 run's, on the
same evaluation inputs (a CPU without AVX512-BF16 stops it: bf16 would be
fp32 there).

For each model of models-cache/: makes calibration samples and a separate
evaluation set (below), runs `skiff quantize`, runs the fp32 and the int8
model on the evaluation set with `skiff run` and with ONNX Runtime
(tools/ort_run.js), and prints, per engine: the max and mean relative error
(max |int8 - fp32| / max |fp32|, mean |int8 - fp32| / mean |fp32|), the
cosine similarity of all outputs, and for the classifiers the top-1
agreement. docs/precision.md has the figures.

Inputs, all made here from files any Debian machine has (no data set):
  resnet50, mobilenet_v2: the PNG and JPEG pictures under /usr/share/icons
    (512x512 and 256x256 Adwaita icons, alpha over a random background) and
    /usr/share/doc/*, each cropped, flipped and scaled at random (seeded),
    resized to 256 on the short side, centre 224 crop, ImageNet normalisation;
  ocr_det: pages of text drawn by tests/integration/ocr_pages.py with the
    Debian fonts at random sizes and colours, 640x640, ImageNet normalisation;
  ocr_cls: single lines of 1 to 3 words drawn the same way, half of them
    turned 180 degrees, cropped to the ink, resized to height 48 (width up to 192, padded),
    (x / 255 - 0.5) / 0.5, as PaddleOCR feeds its direction classifier.
"""
import argparse
import glob
import json
import os
import random
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(REPO, "models-cache")
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def pictures():
    import cv2
    files = sorted(glob.glob("/usr/share/icons/**/*.png", recursive=True))
    files = [f for f in files if "/512x512/" in f or "/256x256/" in f]
    files += sorted(glob.glob("/usr/share/doc/**/*.jp*g", recursive=True))
    files += sorted(glob.glob("/usr/share/doc/**/*.png", recursive=True))
    out = []
    for f in files:
        im = cv2.imread(f, cv2.IMREAD_UNCHANGED)
        if im is None or min(im.shape[:2]) < 64:
            continue
        out.append(im)
    return out


def classifier_input(im, rng):
    import cv2
    if im.ndim == 2:
        im = cv2.cvtColor(im, cv2.COLOR_GRAY2BGRA)
    if im.shape[2] == 3:
        im = cv2.cvtColor(im, cv2.COLOR_BGR2BGRA)
    bg = np.empty(im.shape[:2] + (3,), np.float32)
    bg[:] = rng.uniform(0, 255, 3)
    a = im[:, :, 3:4].astype(np.float32) / 255
    im = (im[:, :, :3] * a + bg * (1 - a)).astype(np.uint8)
    h, w = im.shape[:2]
    s = rng.uniform(0.6, 1.0)
    ch, cw = int(h * s), int(w * s)
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    im = im[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        im = im[:, ::-1]
    k = 256 / min(im.shape[:2])
    im = cv2.resize(im, (max(224, round(im.shape[1] * k)), max(224, round(im.shape[0] * k))))
    y, x = (im.shape[0] - 224) // 2, (im.shape[1] - 224) // 2
    im = im[y:y + 224, x:x + 224, ::-1].astype(np.float32) / 255
    return ((im - MEAN) / STD).transpose(2, 0, 1)


WORDS = ("skiff serves paddle models over http grpc and brpc with a native onnx engine "
         "quantization calibration entropy percentile accuracy 2026 invoice total 42.50 "
         "the quick brown fox jumps over the lazy dog").split()


def text_image(rng, lines, rotate, words=(2, 6)):
    sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
    import ocr_pages
    font = ["sans", "sans-bold", "serif", "mono"][rng.integers(0, 4)]
    text = [" ".join(rng.choice(WORDS, rng.integers(*words))) for _ in range(lines)]
    bgc = tuple(int(v) for v in rng.integers(170, 256, 3))
    ink = tuple(int(v) for v in rng.integers(0, 90, 3))
    img = ocr_pages.render(font, int(rng.integers(18, 40)), text, (bgc, ink), rotate)
    return np.asarray(img.convert("RGB"))


def det_input(rng):
    import cv2
    im = text_image(rng, int(rng.integers(3, 9)), False)
    im = cv2.resize(im, (640, 640)).astype(np.float32) / 255
    return ((im - MEAN) / STD).transpose(2, 0, 1)


def cls_input(rng, labels):
    import cv2
    rotate = bool(rng.integers(0, 2))
    labels.append(int(rotate))
    im = text_image(rng, 1, rotate, (1, 4))
    # a tight crop around the ink, as the detector's boxes give
    ink = np.abs(im.astype(np.int16) - im[0, 0].astype(np.int16)).max(2) > 40
    ys, xs = np.nonzero(ink)
    m = 3
    im = im[max(0, ys.min() - m):ys.max() + m + 1, max(0, xs.min() - m):xs.max() + m + 1]
    # PaddleOCR's classifier input: height 48, the width that keeps the
    # aspect ratio up to 192, padded on the right with zeros (normalised)
    w = min(192, int(np.ceil(48 * im.shape[1] / im.shape[0])))
    im = cv2.resize(im, (w, 48)).astype(np.float32) / 255
    out = np.zeros((3, 48, 192), np.float32)
    out[:, :, :w] = ((im - 0.5) / 0.5).transpose(2, 0, 1)
    return out


def make_inputs(model, n, seed, labels=None):
    """n inputs; for ocr_cls, labels gets each line's class (1: turned 180)."""
    rng = np.random.default_rng(seed)
    labels = [] if labels is None else labels
    if model in ("resnet50", "mobilenet_v2"):
        pics = pictures()
        order = rng.permutation(len(pics))
        return [classifier_input(pics[order[i % len(pics)]], rng) for i in range(n)]
    if model == "ocr_det":
        return [det_input(rng) for _ in range(n)]
    return [cls_input(rng, labels) for _ in range(n)]


def input_name(model):
    return "x" if model.startswith("ocr") else "input"


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout + r.stderr


def outputs(engine, model_path, name, batch, work, tag, one_by_one, precision="fp32"):
    """Per sample output vectors: the batch in one run (classifiers), or one
    run per sample (ocr_det's pages)."""
    groups = [[x] for x in batch] if one_by_one else [batch]
    outs = []
    for i, g in enumerate(groups):
        f = os.path.join(work, "in_%d.npy" % i)
        np.save(f, np.stack(g))
        d = os.path.join(work, "out_%s_%s_%d" % (engine, tag, i))
        if engine == "skiff":
            log = run([os.path.join(REPO, "build", "skiff"), "run", model_path, "--input",
                       "%s=%s" % (name, f), "--output-dir", d, "--precision", precision])
            if precision == "bf16" and "running fp32" in log:
                sys.exit("bf16 accuracy: this CPU runs fp32 (%s)" % log.strip().splitlines()[0])
        else:
            run(["node", os.path.join(REPO, "tools", "ort_run.js"), model_path, "--input",
                 "%s=%s" % (name, f), "--output-dir", d, "--quiet"])
        files = sorted(glob.glob(os.path.join(d, "*.npy")))
        ys = [np.load(p) for p in files]
        outs += [np.concatenate([y[k].ravel() for y in ys]) for k in range(len(g))]
    return outs


def stats(ref, got, kind, labels):
    r = np.concatenate(ref).astype(np.float64)
    y = np.concatenate(got).astype(np.float64)
    e = np.abs(y - r)
    s = {"max_rel": float(e.max() / np.abs(r).max()), "mean_rel": float(e.mean() / np.abs(r).mean()),
         "cosine": float(r @ y / np.linalg.norm(r) / np.linalg.norm(y))}
    if kind == "classifier":
        s["top1"] = float(np.mean([a.argmax() == b.argmax() for a, b in zip(ref, got)]))
        top2 = [np.sort(a)[-2:] for a in ref]
        s["fp32_margin_median"] = float(np.median([t[1] - t[0] for t in top2]))
        if labels:
            s["fp32_accuracy"] = float(np.mean([a.argmax() == l for a, l in zip(ref, labels)]))
            s["reduced_accuracy"] = float(np.mean([a.argmax() == l for a, l in zip(got, labels)]))
    else:
        # the detector's text mask at DB's threshold 0.3: intersection over union
        mr, my = r > 0.3, y > 0.3
        s["mask_iou"] = float((mr & my).sum() / max(1, (mr | my).sum()))
    return s


def describe(s):
    out = "max rel %.4f  mean rel %.4f  cosine %.6f" % (s["max_rel"], s["mean_rel"], s["cosine"])
    if "top1" in s:
        out += "  top-1 agreement %.1f%% (fp32 top-2 margin median %.3g)" % (
            100 * s["top1"], s["fp32_margin_median"])
    if "fp32_accuracy" in s:
        out += "  accuracy fp32 %.1f%% reduced %.1f%%" % (100 * s["fp32_accuracy"],
                                                          100 * s["reduced_accuracy"])
    if "mask_iou" in s:
        out += "  text mask IoU %.4f" % s["mask_iou"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet50,mobilenet_v2,ocr_cls,ocr_det")
    ap.add_argument("--method", default="percentile")
    ap.add_argument("--work", default="/tmp/skiff-quant-accuracy")
    ap.add_argument("--calib", type=int, default=16)
    ap.add_argument("--eval", type=int, default=50)
    ap.add_argument("--extra", default="", help="more skiff quantize flags")
    ap.add_argument("--engines", default="skiff,ort")
    ap.add_argument("--precision", default="int8", choices=("int8", "bf16"),
                    help="bf16: skiff's bf16 run of the fp32 model against its fp32 run "
                    "(no calibration; skiff only)")
    a = ap.parse_args()
    if a.precision == "bf16":
        a.engines, a.method = "skiff", "bf16"
    report = {}
    for model in a.models.split(","):
        work = os.path.join(a.work, model)
        os.makedirs(work, exist_ok=True)
        name = input_name(model)
        n_eval = a.eval if model != "ocr_det" else min(a.eval, 8)
        calib = make_inputs(model, a.calib, 1)
        labels = []
        evals = make_inputs(model, n_eval, 2, labels)
        cdir = os.path.join(work, "calib")
        os.makedirs(cdir, exist_ok=True)
        for i, x in enumerate(calib):
            np.save(os.path.join(cdir, "%03d.npy" % i), x[None])
        qdir = os.path.join(work, "int8_" + a.method)
        fp32 = os.path.join(CACHE, model + ".onnx")
        if a.precision == "int8":
            log = run([os.path.join(REPO, "build", "skiff"), "quantize", "--model", fp32,
                       "--calib", cdir, "--method", a.method, "--out", qdir] + a.extra.split())
            print(log.strip())
        classifier = model != "ocr_det"
        kind = "classifier" if classifier else "detector"
        got_by = {}
        for engine in a.engines.split(","):
            ref = outputs(engine, fp32, name, evals, work, "fp32", not classifier)
            if a.precision == "bf16":
                got = outputs(engine, fp32, name, evals, work, "bf16", not classifier, "bf16")
            else:
                got = outputs(engine, os.path.join(qdir, "model.onnx"), name, evals, work,
                              "int8", not classifier)
            got_by[engine] = got
            s = stats(ref, got, kind, labels)
            report["%s/%s" % (model, engine)] = s
            print("%-13s %-5s %-10s n=%-3d %s" % (model, engine, a.method, len(evals), describe(s)),
                  flush=True)
        if len(got_by) == 2:
            x, y = got_by.values()
            s = stats(x, y, kind, [])
            report["%s/skiff_vs_ort_int8" % model] = s
            print("%-13s int8 skiff vs ort: %s" % (model, describe(s)), flush=True)
    with open(os.path.join(a.work, "report_%s.json" % a.method), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
