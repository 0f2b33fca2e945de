#!/usr/bin/python3
"""paddle_serving_app.reader's image readers (python/paddle_serving_app/reader/
image_reader.py, ocr_reader.py) through libskiff.so, each class against

  * an oracle: cv2 and numpy written here as Paddle Serving's readers compute
    (cv2.imdecode, img[:, :, ::-1], astype(float32) / v, (img - mean) / std in
    numpy's mixed float32/float64 arithmetic, Paddle's resize sizes and
    cv2.resize, slicing, transpose, OCR's resize_norm_img and CTC decode);
  * the server-side step with the same parameters: steps_cli (the step
    registry linked statically, as `skiff serve` runs it), which must agree
    bit for bit;

plus the faster_rcnn client's preprocessing chain exactly as Paddle's example
writes it, RCNNPostprocess's JSON and picture, and the errors: no libskiff.so,
http URLs, bad parameters.

    tests/python/test_reader.py [--skiff build/skiff]
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

import cv2
import numpy as np

import helpers

SKIFF = helpers.skiff_arg()
BUILD = os.path.dirname(SKIFF)
LIB = os.path.join(BUILD, "libskiff.so")
STEPS_CLI = os.path.join(BUILD, "tests", "vision", "steps_cli")
os.environ["SKIFF_LIB"] = LIB

from paddle_serving_app.reader import (  # noqa: E402  (after SKIFF_LIB is set)
    Base64ToImage, BGR2RGB, CenterCrop, Div, File2Image, ImageReader, Normalize, OCRReader,
    RCNNPostprocess, Resize, RGB2BGR, Sequential, Step, StepError, String2Image, Transpose,
    URL2Image, step_names)
from paddle_serving_app.reader import _native  # noqa: E402

TMP = tempfile.mkdtemp(prefix="skiff-py-reader-")
RNG = np.random.default_rng(2024)
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL", what, flush=True)


def image(h, w, kind="random"):
    if kind == "random":
        return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    y, x = np.mgrid[0:h, 0:w]
    g = ((x * 255 // max(w - 1, 1) + y * 97 // max(h - 1, 1)) % 256).astype(np.uint8)
    return np.stack([g, 255 - g, (g * 5) % 256], axis=-1).astype(np.uint8)


def write(img, name, params=()):
    path = os.path.join(TMP, name)
    check(cv2.imwrite(path, img, list(params)), "cv2.imwrite " + name)
    return path


def server_step(step, params, inputs):
    """The outputs of `step` run by steps_cli on inputs (arrays or file paths)."""
    args = [STEPS_CLI, step] + ["%s=%s" % (k, _native._param_value(v))
                                for k, v in params.items()] + ["--"]
    for i, x in enumerate(inputs):
        if isinstance(x, str):
            args.append(x)
        else:
            p = os.path.join(TMP, "in%d.npy" % i)
            np.save(p, x)
            args.append(p)
    prefix = os.path.join(TMP, "srv")
    for i in range(4):
        for ext in (".npy", ".txt"):
            if os.path.exists("%s%d%s" % (prefix, i, ext)):
                os.unlink("%s%d%s" % (prefix, i, ext))
    p = subprocess.run(args + ["-o", prefix], capture_output=True, text=True, timeout=120,
                       env=helpers.native_env())
    if p.returncode != 0:
        raise RuntimeError("steps_cli %s: %s" % (step, p.stderr.strip()))
    outs = []
    for i in range(4):
        if os.path.exists("%s%d.npy" % (prefix, i)):
            outs.append(np.load("%s%d.npy" % (prefix, i)))
        elif os.path.exists("%s%d.txt" % (prefix, i)):
            with open("%s%d.txt" % (prefix, i), encoding="utf-8") as f:
                outs.append(f.read().split("\n")[:-1])
    return outs


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def maxdiff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max() if a.shape == b.shape else "shapes %s vs %s" % (a.shape, b.shape)


# ---- the oracles: Paddle Serving's readers in cv2 + numpy ----------------------------------
def paddle_normalize(img, mean, std, channel_first):
    shape = (3, 1, 1) if channel_first else (1, 1, 3)
    out = np.array(img).astype("float32")
    out -= np.array(mean).reshape(shape)
    out /= np.array(std).reshape(shape)
    return out


def paddle_resize(img, size, max_size=2147483647, interpolation=None):
    if isinstance(size, tuple):
        w, h = min(size[0], max_size), min(size[1], max_size)
    else:
        im_max = max(img.shape[0], img.shape[1])
        percent = float(size) / min(img.shape[0], img.shape[1])
        if np.round(percent * im_max) > max_size:
            percent = float(max_size) / float(im_max)
        w, h = int(round(img.shape[1] * percent)), int(round(img.shape[0] * percent))
    if interpolation:
        return cv2.resize(img, (w, h), interpolation=interpolation)
    return cv2.resize(img, (w, h))


def paddle_crop(img, size):
    h, w = img.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return img[y:y + size, x:x + size, :]


# ---- the classes one by one ------------------------------------------------------------------
def test_decoders():
    for h, w, kind in [(1, 1, "random"), (17, 31, "random"), (480, 640, "grad")]:
        img = image(h, w, kind)
        for ext, params in [(".png", ()), (".jpg", (cv2.IMWRITE_JPEG_QUALITY, 90))]:
            path = write(img, "d%dx%d%s" % (w, h, ext), params)
            want = cv2.imread(path, cv2.IMREAD_COLOR)
            got = File2Image()(path)
            check(same(got, want), "File2Image %s %dx%d: %s" % (ext, w, h, maxdiff(got, want)))
            check(same(got, server_step("ImageDecode", {}, [path])[0]),
                  "File2Image %s %dx%d: differs from the server's ImageDecode" % (ext, w, h))
            with open(path, "rb") as f:
                data = f.read()
            check(same(String2Image()(data), want), "String2Image %s" % ext)
            b64 = base64.b64encode(data)
            check(same(Base64ToImage()(b64), want), "Base64ToImage bytes %s" % ext)
            check(same(Base64ToImage()(b64.decode()), want), "Base64ToImage str %s" % ext)
            check(same(URL2Image()(path), want), "URL2Image path %s" % ext)
            check(same(URL2Image()("file://" + path), want), "URL2Image file:// %s" % ext)
    try:
        URL2Image()("http://127.0.0.1:1/x.jpg")
        check(False, "URL2Image http: no error")
    except ValueError as e:
        check("file://" in str(e) and "http" in str(e), "URL2Image http: message %r" % str(e))
    bad = os.path.join(TMP, "bad.jpg")
    with open(bad, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not a jpeg")
    try:
        File2Image()(bad)
        check(False, "File2Image on a corrupt file: no error")
    except StepError as e:
        check("bad.jpg" in str(e) and "ImageDecode" in str(e),
              "File2Image corrupt: message %r" % str(e))


def test_pixels():
    img = image(37, 53)
    f = RNG.random((37, 53, 3), dtype=np.float32) * 300 - 20
    for x, name in [(img, "u8"), (f, "f32")]:
        check(same(BGR2RGB()(x), np.ascontiguousarray(x[:, :, ::-1])), "BGR2RGB " + name)
        check(same(RGB2BGR()(x), np.ascontiguousarray(x[:, :, ::-1])), "RGB2BGR " + name)
        check(same(BGR2RGB()(x), server_step("BGR2RGB", {}, [x])[0]), "BGR2RGB server " + name)
        for v in (255.0, 255, 3.5, -7.0):
            want = x.astype("float32") / v
            got = Div(v)(x)
            check(same(got, want), "Div(%r) %s: %s" % (v, name, maxdiff(got, want)))
            check(same(got, server_step("Div", {"value": float(v)}, [x])[0]),
                  "Div(%r) %s: differs from the server's" % (v, name))
    # a non-contiguous view goes in as its values
    check(same(Div(2.0)(img[:, ::2]), img[:, ::2].astype("float32") / 2.0), "Div on a view")
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    for x, name in [(img, "u8"), (img.astype("float32") / 255.0, "f32 /255"), (f, "f32")]:
        want = paddle_normalize(x, mean, std, False)
        got = Normalize(mean, std, False)(x)
        check(got.dtype == np.float32 and np.allclose(got, want, rtol=1e-6, atol=1e-6),
              "Normalize %s: %s" % (name, maxdiff(got, want)))
        srv = server_step("Normalize", {"mean": mean, "std": std, "is_scale": False}, [x])[0]
        check(same(got, srv), "Normalize %s: differs from the server's" % name)
        chw = np.ascontiguousarray(x.transpose(2, 0, 1))
        want = paddle_normalize(chw, mean, std, True)
        got = Normalize(mean, std, True)(chw)
        check(np.allclose(got, want, rtol=1e-6, atol=1e-6),
              "Normalize channel_first %s: %s" % (name, maxdiff(got, want)))
    got = Normalize([104, 117, 123], [127.502231] * 3, False)(img)
    want = paddle_normalize(img, [104, 117, 123], [127.502231] * 3, False)
    check(np.allclose(got, want, rtol=1e-6, atol=1e-6), "Normalize blazeface: %s"
          % maxdiff(got, want))


def test_resize():
    for h, w in [(300, 500), (481, 317), (64, 64), (5, 9), (1080, 1920)]:
        img = image(h, w, "grad")
        f = paddle_normalize(img.astype("float32") / 255.0, [0.5] * 3, [0.5] * 3, False)
        for size, max_size, interp in [(640, 640, None), (256, 2147483647, None), (100, 120, None),
                                       ((224, 160), 2147483647, None), ((50, 70), 60, None),
                                       (96, 2147483647, cv2.INTER_CUBIC),
                                       (48, 2147483647, cv2.INTER_AREA),
                                       (200, 2147483647, cv2.INTER_NEAREST)]:
            r = Resize(size, max_size, interp)
            tag = "Resize(%s, %s, %s) %dx%d" % (size, max_size, interp, w, h)
            for x, tol, name in [(img, 1, "u8"), (f, 1e-3, "f32")]:
                want = paddle_resize(x, size, max_size, interp)
                got = r(x)
                check(got.shape == want.shape and got.dtype == want.dtype
                      and maxdiff(got, want) <= tol, "%s %s: %s" % (tag, name, maxdiff(got, want)))
                # Paddle hands INTER_NEAREST (0) on as cv2's default, linear
                params = {"width": want.shape[1], "height": want.shape[0],
                          "interpolation": {None: "linear", 0: "linear", 2: "cubic",
                                            3: "area"}[interp]}
                check(same(got, server_step("Resize", params, [x])[0]),
                      "%s %s: differs from the server's" % (tag, name))


def test_crop_transpose():
    for h, w in [(256, 341), (300, 224), (225, 225)]:
        img = image(h, w)
        for size in (224, 100, 1):
            got = CenterCrop(size)(img)
            check(same(got, np.ascontiguousarray(paddle_crop(img, size))),
                  "CenterCrop(%d) %dx%d" % (size, w, h))
            check(same(got, server_step("CenterCrop", {"size": size}, [img])[0]),
                  "CenterCrop(%d): differs from the server's" % size)
    try:
        CenterCrop(500)(image(100, 100))
        check(False, "CenterCrop larger than the image: no error")
    except StepError as e:
        check("CenterCrop" in str(e), "CenterCrop too large: message %r" % str(e))
    x = RNG.random((5, 7, 3), dtype=np.float32)
    for perm in [(2, 0, 1), (1, 0, 2), (0, 1, 2), (2, 1, 0)]:
        got = Transpose(perm)(x)
        check(same(got, np.ascontiguousarray(x.transpose(perm))), "Transpose%s" % (perm,))
        check(same(got, server_step("Transpose", {"perm": list(perm)}, [x])[0]),
              "Transpose%s: differs from the server's" % (perm,))
    u = image(4, 6)
    check(same(Transpose((2, 0, 1))(u), np.ascontiguousarray(u.transpose(2, 0, 1))),
          "Transpose uint8")


def test_faster_rcnn_chain():
    """The faster_rcnn client's preprocessing, as the example writes it."""
    for h, w, ext in [(427, 640, ".jpg"), (640, 480, ".png"), (333, 333, ".png")]:
        path = write(image(h, w, "grad"), "frcnn%dx%d%s" % (w, h, ext))
        seq = Sequential([File2Image(), BGR2RGB(), Div(255.0),
                          Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], False),
                          Resize(640, 640), Transpose((2, 0, 1))])
        got = seq(path)
        # Paddle's arithmetic, written out with cv2 and numpy
        im = cv2.imread(path, cv2.IMREAD_COLOR)[:, :, ::-1]
        im = im.astype("float32") / 255.0
        im = paddle_normalize(im, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], False)
        im = paddle_resize(im, 640, 640).transpose((2, 0, 1))
        check(got.shape == im.shape and got.dtype == np.float32 and maxdiff(got, im) <= 1e-3,
              "faster_rcnn chain %dx%d: %s" % (w, h, maxdiff(got, im)))
        check(max(got.shape[1:]) == 640, "faster_rcnn chain %dx%d: longer side %s"
              % (w, h, got.shape))
        # and the server's steps, one after another
        x = server_step("ImageDecode", {}, [path])[0]
        x = server_step("BGR2RGB", {}, [x])[0]
        x = server_step("Div", {"value": 255.0}, [x])[0]
        x = server_step("Normalize", {"mean": [0.485, 0.456, 0.406],
                                      "std": [0.229, 0.224, 0.225], "is_scale": False}, [x])[0]
        x = server_step("Resize", {"width": im.shape[2], "height": im.shape[1]}, [x])[0]
        x = server_step("Transpose", {"perm": [2, 0, 1]}, [x])[0]
        check(same(got, x), "faster_rcnn chain %dx%d: differs from the server's steps" % (w, h))
    check("Sequential(" in repr(seq) and "Resize(size=640, max_size=640" in repr(seq),
          "Sequential repr: %s" % repr(seq))


def test_image_reader():
    img = image(300, 400, "grad")
    path = write(img, "ir.jpg", (cv2.IMWRITE_JPEG_QUALITY, 92))
    with open(path, "rb") as f:
        data = f.read()
    got = ImageReader().process_image(data)
    im = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    percent = 256.0 / min(im.shape[:2])
    im = cv2.resize(im, (int(round(im.shape[1] * percent)), int(round(im.shape[0] * percent))))
    im = paddle_crop(im, 224)[:, :, ::-1]
    im = im.astype("float32").transpose((2, 0, 1)) / 255
    im -= np.array([0.485, 0.456, 0.406]).reshape((3, 1, 1))
    im /= np.array([0.229, 0.224, 0.225]).reshape((3, 1, 1))
    # uint8 resize within one grey level: 1/255/0.224 after normalising
    check(got.shape == (3, 224, 224) and maxdiff(got, im) <= 1.0 / 255 / 0.224 + 1e-5,
          "ImageReader.process_image: %s" % maxdiff(got, im))
    r = ImageReader(crop_center=False)
    check(r.crop_image(img, 50, False).shape == (50, 50, 3), "ImageReader random crop")


def ctc_oracle(preds, chars, use_space):
    """Paddle's CTCLabelDecode: argmax, merge repeats, drop blanks (class 0)."""
    table = ["blank"] + chars + ([" "] if use_space else [])
    out = []
    for p in preds:
        idx, prob = p.argmax(axis=1), p.max(axis=1)
        text, conf = [], []
        for t in range(len(idx)):
            if idx[t] == 0 or (t > 0 and idx[t - 1] == idx[t]):
                continue
            text.append(table[idx[t]])
            conf.append(prob[t])
        out.append(("".join(text), float(np.mean(conf)) if conf else None))
    return out


def test_ocr():
    chars = ["a", "b", "c", "\u4e2d", "\u6587", "1", "2"]
    dict_path = os.path.join(TMP, "keys.txt")
    with open(dict_path, "w", encoding="utf-8") as f:
        f.write("\n".join(chars) + "\n")
    for shape in ([3, 48, 320], [3, 32, 320]):
        reader = OCRReader(image_shape=shape, char_dict_path=dict_path)
        for h, w, ratio in [(32, 100, None), (48, 500, None), (20, 300, 10.0), (60, 40, None),
                            (48, 2000, 5.0)]:
            img = image(h, w, "grad")
            c, ih, iw = shape
            max_wh = ratio if ratio is not None else max(iw / float(ih), w / float(h))
            # Paddle's resize_norm_img
            iw = int(ih * max_wh)
            rw = iw if np.ceil(ih * w / float(h)) > iw else int(np.ceil(ih * w / float(h)))
            want = cv2.resize(img, (rw, ih)).astype("float32").transpose((2, 0, 1)) / 255
            want -= 0.5
            want /= 0.5
            pad = np.zeros((c, ih, iw), dtype=np.float32)
            pad[:, :, :rw] = want
            got = reader.resize_norm_img(img, max_wh)
            # uint8 resize within one grey level: 2/255 after (x/255 - 0.5)/0.5
            check(got.shape == pad.shape and maxdiff(got, pad) <= 2.0 / 255 + 1e-6,
                  "OCRReader%s.resize_norm_img %dx%d ratio %s: %s"
                  % (shape, w, h, ratio, maxdiff(got, pad)))
            if ratio is None:
                pre = reader.preprocess([img])
                check(pre.shape == pad.shape and np.array_equal(pre, got),
                      "OCRReader%s.preprocess %dx%d" % (shape, w, h))
    reader = OCRReader(char_dict_path=dict_path)
    ncls = len(chars) + 2
    logits = RNG.random((3, 25, ncls)).astype(np.float32) ** 4
    logits[1, :, 0] = 10.0  # all blank: empty text
    preds = logits / logits.sum(axis=2, keepdims=True)
    got = reader.postprocess({"softmax_0.tmp_0": preds})
    want = ctc_oracle(preds, chars, True)
    check(len(got) == 3, "OCRReader.postprocess: %d results" % len(got))
    for i, ((gt, gs), (wt, ws)) in enumerate(zip(got, want)):
        check(gt == wt, "OCRReader.postprocess %d: %r, want %r" % (i, gt, wt))
        if ws is not None:
            check(abs(gs - ws) <= 1e-5, "OCRReader.postprocess %d score %s, want %s" % (i, gs, ws))
    srv = server_step("CTCLabelDecode", {"character_dict_path": dict_path}, [preds])
    check(len(srv) == 2 and srv[0] == [t for t, _ in got]
          and same(srv[1], np.array([s for _, s in got], dtype=np.float32)),
          "OCRReader.postprocess: differs from the server's CTCLabelDecode: %s" % (srv,))
    en = OCRReader(char_type="en", image_shape=[3, 32, 100])
    p = np.zeros((1, 4, 37), dtype=np.float32)
    for t, k in enumerate([11, 11, 0, 12]):  # a a - b
        p[0, t, k] = 1.0
    check(en.postprocess(p)[0][0] == "ab", "OCRReader en: %r" % (en.postprocess(p),))
    try:
        OCRReader(char_dict_path=os.path.join(TMP, "missing.txt"))
        check(False, "OCRReader with a missing dictionary: no error")
    except (OSError, StepError):
        pass


def test_rcnn_postprocess():
    labels = os.path.join(TMP, "label_list.txt")
    with open(labels, "w") as f:
        f.write("background\nperson\ncar\n")
    pic = write(image(120, 160, "grad"), "scene.jpg")
    out_dir = os.path.join(TMP, "output")
    dets = np.array([[1, 0.9, 10, 20, 50, 80], [2, 0.3, 0, 0, 9, 9], [2, 0.75, 100, 30, 150, 90]],
                    dtype=np.float32)
    post = RCNNPostprocess(labels, out_dir)
    res = post({"image": pic, "multiclass_nms_0.tmp_0": dets,
                "multiclass_nms_0.tmp_0.lod": np.array([0, 3])})
    with open(os.path.join(out_dir, "bbox.json")) as f:
        written = json.load(f)
    want = [{"category_id": int(d[0]), "bbox": [float(d[2]), float(d[3]), float(d[4] - d[2] + 1),
                                                 float(d[5] - d[3] + 1)], "score": float(d[1])}
            for d in dets]
    check(written == res and len(res) == 3, "RCNNPostprocess: bbox.json %s" % written)
    for r, w in zip(res, want):
        check(r["category_id"] == w["category_id"] and np.allclose(r["bbox"], w["bbox"])
              and abs(r["score"] - w["score"]) < 1e-6, "RCNNPostprocess box %s, want %s" % (r, w))
    drawn = cv2.imread(os.path.join(out_dir, "scene.jpg"))
    orig = cv2.imread(pic)
    check(drawn is not None and drawn.shape == orig.shape, "RCNNPostprocess: the picture")
    if drawn is not None and drawn.shape == orig.shape:
        # the person box's left edge (score 0.9) is drawn; the 0.3 box is not
        edge = np.abs(drawn[25:75, 9:12].astype(int) - orig[25:75, 9:12].astype(int)).mean()
        check(edge > 20, "RCNNPostprocess: no box drawn at the person's edge (%.1f)" % edge)
    check(post({"image": pic, "out": np.zeros((1, 1), np.float32)}, visualize=False) == [],
          "RCNNPostprocess: no detections")


def test_errors_and_library():
    try:
        Div(0)
        check(False, "Div(0): no error")
    except StepError as e:
        check("'Div'" in str(e) and "value" in str(e), "Div(0): message %r" % str(e))
    try:
        Resize(10, interpolation=7)
        check(False, "Resize interpolation 7: no error")
    except ValueError:
        pass
    try:
        Step("NoSuchStep")
        check(False, "unknown step: no error")
    except StepError as e:
        check("NoSuchStep" in str(e), "unknown step: message %r" % str(e))
    names = step_names()
    for n in ("ImageDecode", "Resize", "Normalize", "CTCLabelDecode", "Transpose"):
        check(n in names, "step_names lacks %s" % n)
    # zero copy out: the array views the step's tensor and keeps it alive
    out = Div(2.0)(image(8, 8))
    check(isinstance(out.base, _native._Owned) or isinstance(getattr(out.base, "base", None),
                                                            _native._Owned),
          "output is not a view of the step's tensor")
    env = dict(os.environ, PYTHONPATH=helpers.PYTHON_DIR)
    probe = ("import paddle_serving_app.reader as r\n"
             "print(r.IMDBDataset.__name__)\n"
             "try:\n    r.File2Image()\n"
             "except ImportError as e:\n    print('ImportError', type(e).__name__, e)\n")
    env["SKIFF_LIB"] = os.path.join(TMP, "nowhere", "libskiff.so")
    p = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                       cwd=TMP)
    check(p.returncode == 0 and "IMDBDataset" in p.stdout and "SkiffLibraryNotFound" in p.stdout
          and "libskiff.so not found" in p.stdout and "nowhere" in p.stdout,
          "missing libskiff.so: %s %s" % (p.stdout, p.stderr))
    # without SKIFF_LIB a checkout finds its own build/libskiff.so
    if os.path.abspath(BUILD) == os.path.join(helpers.ROOT, "build"):
        env.pop("SKIFF_LIB")
        p = subprocess.run([sys.executable, "-c", "from paddle_serving_app.reader import _native;"
                            "print(_native.library_path())"], env=env, capture_output=True,
                           text=True, cwd=TMP)
        check(p.stdout.strip() == os.path.join(helpers.ROOT, "build", "libskiff.so"),
              "checkout discovery: %s %s" % (p.stdout, p.stderr))


def main():
    if not os.path.exists(LIB) or not os.path.exists(STEPS_CLI):
        print("FAIL: build first: %s and %s are needed" % (LIB, STEPS_CLI))
        return 1
    for t in (test_decoders, test_pixels, test_resize, test_crop_transpose, test_faster_rcnn_chain,
              test_image_reader, test_ocr, test_rcnn_postprocess, test_errors_and_library):
        n = len(FAILS)
        t()
        print("%s %s" % ("ok  " if len(FAILS) == n else "FAIL", t.__name__), flush=True)
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    shutil.rmtree(TMP)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
