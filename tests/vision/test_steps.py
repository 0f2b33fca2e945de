#!/usr/bin/python3
"""test_steps.py - every built-in step against cv2/numpy, through steps_cli.

    test_steps.py PATH/TO/steps_cli

Images are generated here (random, gradients, odd sizes, 1x1 to 4000x3000);
oracles are cv2 (decode, resize) and numpy implementations of PaddleOCR's
algorithms written below. Exit status 1 and a line per failure on any mismatch."""
import base64
import math
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

# MergeLines' Python version lives beside the page renderer it serves (bench/ocr uses it too)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import ocr_pages  # noqa: E402

CLI = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="skiff_vision_")
FAILS = []
RNG = np.random.default_rng(1234)


def run(step, params, inputs, expect_fail=False):
    args = [CLI, step] + ["%s=%s" % kv for kv in params.items()] + ["--"] + inputs
    args += ["-o", os.path.join(TMP, "o")]
    for f in os.listdir(TMP):
        if f.startswith("o") and (f.endswith(".npy") or f.endswith(".txt")):
            os.unlink(os.path.join(TMP, f))
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if expect_fail:
        return p.returncode, p.stderr.strip()
    if p.returncode != 0:
        raise RuntimeError("%s %s failed: %s" % (step, params, p.stderr.strip()))
    outs = []
    for i in range(4):
        npy = os.path.join(TMP, "o%d.npy" % i)
        txt = os.path.join(TMP, "o%d.txt" % i)
        if os.path.exists(npy):
            outs.append(np.load(npy))
        elif os.path.exists(txt):
            with open(txt, encoding="utf-8") as f:
                outs.append(f.read().split("\n")[:-1])
    return outs


def save(arr, name):
    path = os.path.join(TMP, name)
    np.save(path, arr)
    return path


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL", what, flush=True)


def image(h, w, c=3, kind="random"):
    if kind == "random":
        return RNG.integers(0, 256, (h, w, c), dtype=np.uint8)
    y, x = np.mgrid[0:h, 0:w]
    g = ((x * 255 // max(w - 1, 1) + y * 131 // max(h - 1, 1)) % 256).astype(np.uint8)
    return np.stack([g, 255 - g, (g * 7) % 256][:c], axis=-1).astype(np.uint8)


# ---- decode -----------------------------------------------------------------------------
def test_decode():
    cases = []
    for (h, w) in [(1, 1), (3, 5), (17, 31), (480, 640), (1081, 1919)]:
        cases.append((h, w))
    for h, w in cases:
        img = image(h, w, 3, "grad" if h > 100 else "random")
        for ext, params in [(".png", []), (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95]),
                            (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 30]), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),
                            (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101])]:
            ok, buf = cv2.imencode(ext, img, params)
            if not ok:
                continue
            path = os.path.join(TMP, "img" + ext)
            buf.tofile(path)
            want = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            got = run("ImageDecode", {}, [path])[0]
            check(got.shape == want.shape and np.array_equal(got, want),
                  "decode %s %dx%d %s: max diff %s" % (ext, w, h, params,
                                                      np.abs(got.astype(int) - want).max() if got.shape == want.shape else got.shape))
            rgb = run("ImageDecode", {"to_rgb": "true"}, [path])[0]
            check(np.array_equal(rgb, want[:, :, ::-1]), "decode %s to_rgb" % ext)
    # grey, RGBA, palette, 16-bit PNGs
    g = image(37, 53, 1)[:, :, 0]
    pngs = {"grey": g, "rgba": image(37, 53, 4), "grey16": (g.astype(np.uint16) * 257)}
    for name, arr in pngs.items():
        ok, buf = cv2.imencode(".png", arr)
        path = os.path.join(TMP, name + ".png")
        buf.tofile(path)
        want = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        got = run("ImageDecode", {}, [path])[0]
        check(np.array_equal(got, want), "decode png %s" % name)
    # palette PNG (written by PIL)
    try:
        from PIL import Image
        pal = Image.fromarray(image(29, 41, 3)).convert("P", palette=Image.ADAPTIVE, colors=16)
        path = os.path.join(TMP, "pal.png")
        pal.save(path)
        want = cv2.imread(path, cv2.IMREAD_COLOR)
        got = run("ImageDecode", {}, [path])[0]
        check(np.array_equal(got, want), "decode palette png")
        Image.fromarray(image(29, 41, 1)[:, :, 0]).convert("1").save(path)
        check(np.array_equal(run("ImageDecode", {}, [path])[0], cv2.imread(path)), "decode 1-bit png")
        Image.fromarray(image(30, 40, 3)).save(os.path.join(TMP, "g.jpg"), quality=90)
        Image.fromarray(image(30, 40, 1)[:, :, 0]).save(path.replace(".png", ".jpg"), quality=90)
        p = path.replace(".png", ".jpg")
        check(np.array_equal(run("ImageDecode", {}, [p])[0], cv2.imread(p)), "decode grey jpeg")
    except ImportError:
        print("PIL missing: palette PNG case skipped")
    # large image
    big = image(3000, 4000, 3, "grad")
    ok, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    path = os.path.join(TMP, "big.jpg")
    buf.tofile(path)
    check(np.array_equal(run("ImageDecode", {}, [path])[0], cv2.imdecode(buf, cv2.IMREAD_COLOR)), "decode 4000x3000")
    # bombs and truncations: clear errors
    rc, err = run("ImageDecode", {"max_pixels": "1000000"}, [path], expect_fail=True)
    check(rc == 1 and "exceeds the limit" in err, "bomb limit: %s" % err)
    data = open(path, "rb").read()
    for cut in [10, 100, len(data) // 2, len(data) - 10]:
        tp = os.path.join(TMP, "trunc.jpg")
        open(tp, "wb").write(data[:cut])
        rc, err = run("ImageDecode", {}, [tp], expect_fail=True)
        check(rc == 1 and err.startswith("step 'ImageDecode': jpeg:"), "truncated jpeg at %d: %s" % (cut, err))
    ok, buf = cv2.imencode(".png", image(300, 200))
    pdata = buf.tobytes()
    for cut in [20, 60, len(pdata) // 2, len(pdata) - 16]:
        tp = os.path.join(TMP, "trunc.png")
        open(tp, "wb").write(pdata[:cut])
        rc, err = run("ImageDecode", {}, [tp], expect_fail=True)
        check(rc == 1 and "png:" in err, "truncated png at %d: %s" % (cut, err))
    ok, buf = cv2.imencode(".webp", image(300, 200))
    wdata = buf.tobytes()
    tp = os.path.join(TMP, "trunc.webp")
    open(tp, "wb").write(wdata[: len(wdata) // 2])
    rc, err = run("ImageDecode", {}, [tp], expect_fail=True)
    check(rc == 1 and "webp:" in err, "truncated webp: %s" % err)
    # a PNG header claiming 65535 x 65535
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", 65535, 65535, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    tp = os.path.join(TMP, "bomb.png")
    open(tp, "wb").write(bomb)
    rc, err = run("ImageDecode", {}, [tp], expect_fail=True)
    check(rc == 1 and "exceeds the limit" in err, "png bomb: %s" % err)
    rc, err = run("ImageDecode", {}, ["str:hello"], expect_fail=True)
    check(rc == 1 and "unknown format" in err, "unknown format: %s" % err)


def test_base64():
    for n in [0, 1, 2, 3, 4, 5, 100, 1001]:
        raw = RNG.integers(0, 256, n, dtype=np.uint8).tobytes()
        enc = base64.b64encode(raw).decode()
        for variant in [enc, enc.rstrip("="), "\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + "\r\n"]:
            got = run("Base64Decode", {}, ["str:" + variant])[0] if variant else np.zeros(0, np.uint8)
            check(got.tobytes() == raw, "base64 n=%d variant" % n)
    rc, err = run("Base64Decode", {}, ["str:QUJD*RA=="], expect_fail=True)
    check(rc == 1 and "offset 4" in err, "base64 bad char: %s" % err)
    rc, err = run("Base64Decode", {}, ["str:QUJDR"], expect_fail=True)
    check(rc == 1 and "bad length" in err, "base64 bad length: %s" % err)
    # base64 of a JPEG, then decode: the PaddleOCR client's path
    ok, buf = cv2.imencode(".jpg", image(40, 60))
    b = run("Base64Decode", {}, ["str:" + base64.b64encode(buf.tobytes()).decode()])[0]
    check(b.tobytes() == buf.tobytes(), "base64 jpeg")


# ---- pixel steps ---------------------------------------------------------------------------
INTERP = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA}


def test_resize():
    shapes = [(1, 1), (1, 7), (5, 3), (17, 23), (64, 64), (101, 77), (480, 640)]
    targets = lambda h, w: [(1, 1), (2, 3), (h * 2, w * 2), (max(1, h // 2), max(1, w // 2)),
                            (h * 3 + 1, max(1, w // 3)), (37, 59), (max(1, h * 2 // 3), w * 5 // 3 + 1)]
    for h, w in shapes:
        for c in (1, 3, 4):
            img = image(h, w, c)
            path = save(img, "img.npy")
            fimg = img.astype(np.float32) / 3.0
            fpath = save(fimg, "fimg.npy")
            for oh, ow in targets(h, w):
                for name, flag in INTERP.items():
                    want = cv2.resize(img, (ow, oh), interpolation=flag)
                    if want.ndim == 2:
                        want = want[:, :, None]
                    got = run("Resize", {"width": ow, "height": oh, "interpolation": name}, [path])[0]
                    d = np.abs(got.astype(int) - want.astype(int)).max() if got.shape == want.shape else 999
                    check(d <= 1, "resize u8 %s %dx%dx%d -> %dx%d: max diff %s" % (name, w, h, c, ow, oh, d))
                    if c == 3 and name != "area":
                        wantf = cv2.resize(fimg, (ow, oh), interpolation=flag)
                        gotf = run("Resize", {"width": ow, "height": oh, "interpolation": name}, [fpath])[0]
                        check(gotf.shape == wantf.shape and np.allclose(gotf, wantf, atol=1e-3),
                              "resize f32 %s %dx%d -> %dx%d" % (name, w, h, ow, oh))
    img = image(3000, 4000, 3, "grad")
    path = save(img, "big.npy")
    for name in ("linear", "cubic", "area", "nearest"):
        want = cv2.resize(img, (1333, 999), interpolation=INTERP[name])
        got = run("Resize", {"width": 1333, "height": 999, "interpolation": name}, [path])[0]
        check(np.abs(got.astype(int) - want).max() <= 1, "resize 4000x3000 %s" % name)


def det_resize_oracle(img, limit, ltype):
    h, w, _ = img.shape
    if ltype == "max":
        ratio = float(limit) / max(h, w) if max(h, w) > limit else 1.0
    elif ltype == "min":
        ratio = float(limit) / min(h, w) if min(h, w) < limit else 1.0
    else:
        ratio = float(limit) / max(h, w)
    rh, rw = int(h * ratio), int(w * ratio)
    rh = max(int(round(rh / 32) * 32), 32)
    rw = max(int(round(rw / 32) * 32), 32)
    return cv2.resize(img, (int(rw), int(rh))), [h, w, rh / float(h), rw / float(w)]


def test_det_resize_normalize():
    for h, w in [(1, 1), (31, 47), (480, 640), (1080, 1920), (1500, 700)]:
        img = image(h, w, 3, "grad")
        path = save(img, "img.npy")
        for limit, lt in [(960, "max"), (736, "min"), (640, "resize_long")]:
            want, shape = det_resize_oracle(img, limit, lt)
            got, gshape = run("DetResizeForTest", {"limit_side_len": limit, "limit_type": lt}, [path])
            check(got.shape == want.shape and np.abs(got.astype(int) - want).max() <= 1,
                  "det_resize %dx%d %d %s" % (w, h, limit, lt))
            check(np.allclose(gshape, shape, rtol=1e-6), "det_resize shape %s vs %s" % (gshape, shape))
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
        want = (img.astype("float32") * np.float32(1 / 255.0) - np.array(mean, np.float32)) / np.array(std, np.float32)
        got = run("NormalizeImage", {"mean": str(mean), "std": str(std), "scale": str(1 / 255.0)}, [path])[0]
        check(np.allclose(got, want, atol=1e-5), "normalize")
        got = run("Normalize", {"mean": "0.5,0.5,0.5", "std": "0.5,0.5,0.5", "is_scale": "false"}, [path])[0]
        check(np.allclose(got, (img.astype("float32") - 0.5) / 0.5, atol=1e-5), "normalize is_scale=false")
        got = run("Div", {"value": "255"}, [path])[0]
        check(np.allclose(got, img / np.float32(255.0), atol=1e-6), "div")
        got = run("BGR2RGB", {}, [path])[0]
        check(np.array_equal(got, img[:, :, ::-1]), "bgr2rgb")
        got = run("Transpose", {}, [save(want, "f.npy")])[0]
        check(np.array_equal(got, want.transpose(2, 0, 1)), "transpose")
        got = run("Permute", {"perm": "[1,0,2]"}, [path])[0]
        check(np.array_equal(got, img.transpose(1, 0, 2)), "permute")
        if h >= 16 and w >= 16:
            got = run("CenterCrop", {"width": 15, "height": 9}, [path])[0]
            y0, x0 = (h - 9) // 2, (w - 15) // 2
            check(np.array_equal(got, img[y0:y0 + 9, x0:x0 + 15]), "center_crop")
        got = run("Pad", {"top": 1, "bottom": 2, "left": 3, "right": 4, "value": 7}, [path])[0]
        check(np.array_equal(got, cv2.copyMakeBorder(img, 1, 2, 3, 4, cv2.BORDER_CONSTANT, value=(7, 7, 7))), "pad")
        got = run("PadStride", {"stride": 32}, [path])[0]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        check(got.shape == (ph, pw, 3) and np.array_equal(got[:h, :w], img) and not got[h:].any(), "pad_stride")
        got = run("PadStride", {"stride": 96, "mode": "edge"}, [path])[0]
        ph, pw = -(-h // 96) * 96, -(-w // 96) * 96
        check(np.array_equal(got, cv2.copyMakeBorder(img, 0, ph - h, 0, pw - w, cv2.BORDER_REPLICATE)),
              "pad_stride edge")
        fimg = img.astype(np.float32) / 255 - 0.5
        got = run("PadStride", {"stride": 7, "mode": "edge"}, [save(fimg, "fimg.npy")])[0]
        ph, pw = -(-h // 7) * 7, -(-w // 7) * 7
        check(np.array_equal(got, np.pad(fimg, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")),
              "pad_stride edge float")
    a = RNG.random((3, 5, 7), dtype=np.float32)
    b = RNG.random((3, 8, 4), dtype=np.float32)
    got = run("Stack", {"pad_value": "0"}, [save(a, "a.npy"), save(b, "b.npy")])[0]
    want = np.zeros((2, 3, 8, 7), np.float32)
    want[0, :, :5, :7] = a
    want[1, :, :8, :4] = b
    check(np.array_equal(got, want), "stack")


# ---- OCR ----------------------------------------------------------------------------------
def sorted_boxes_oracle(dt_boxes):
    num = dt_boxes.shape[0]
    boxes = sorted(dt_boxes, key=lambda x: (x[0][1], x[0][0]))
    _boxes = list(boxes)
    for i in range(num - 1):
        for j in range(i, -1, -1):
            if abs(_boxes[j + 1][0][1] - _boxes[j][0][1]) < 10 and _boxes[j + 1][0][0] < _boxes[j][0][0]:
                _boxes[j], _boxes[j + 1] = _boxes[j + 1], _boxes[j]
            else:
                break
    return np.array(_boxes)


def order_points_clockwise(pts):
    rect = np.zeros((4, 2), dtype="float32")
    s = pts.sum(axis=1)
    rect[0] = pts[np.argmin(s)]
    rect[2] = pts[np.argmax(s)]
    tmp = np.delete(pts, (np.argmin(s), np.argmax(s)), axis=0)
    diff = np.diff(np.array(tmp), axis=1)
    rect[1] = tmp[np.argmin(diff)]
    rect[3] = tmp[np.argmax(diff)]
    return rect


def filter_oracle(dt_boxes, h, w):
    out = []
    for box in dt_boxes:
        box = order_points_clockwise(box)
        box[:, 0] = np.clip(box[:, 0], 0, w - 1)
        box[:, 1] = np.clip(box[:, 1], 0, h - 1)
        rw = int(np.linalg.norm(box[0] - box[1]))
        rh = int(np.linalg.norm(box[0] - box[3]))
        if rw <= 3 or rh <= 3:
            continue
        out.append(box)
    return np.array(out, np.float32).reshape(-1, 4, 2)


def test_ocr():
    for n in [0, 1, 5, 40]:
        boxes = []
        for _ in range(n):
            x, y = RNG.integers(0, 600), RNG.integers(0, 400)
            bw, bh = RNG.integers(2, 120), RNG.integers(2, 40)
            boxes.append([[x, y], [x + bw, y + RNG.integers(-3, 4)], [x + bw, y + bh], [x, y + bh]])
        boxes = np.array(boxes, np.float32).reshape(-1, 4, 2)
        p = save(boxes, "boxes.npy")
        got = run("SortedBoxes", {}, [p])[0]
        want = sorted_boxes_oracle(boxes) if n else boxes
        check(np.array_equal(got.reshape(-1, 4, 2), want.reshape(-1, 4, 2)), "sorted_boxes n=%d" % n)
        shuffled = boxes[:, RNG.permutation(4)] if n else boxes
        got = run("FilterBoxes", {}, [save(shuffled, "sb.npy"), save(image(380, 580, 3), "im.npy")])[0]
        want = filter_oracle(shuffled, 380, 580)
        check(got.shape == want.shape and np.allclose(got, want), "filter_boxes n=%d" % n)
    # CTC with a 6623-line dictionary -> 6625 classes
    chars = [chr(0x4E00 + i) for i in range(6600)] + [chr(ord("a") + i) for i in range(23)]
    dpath = os.path.join(TMP, "dict.txt")
    with open(dpath, "w", encoding="utf-8") as f:
        f.write("\n".join(chars) + "\n")
    classes = ["blank"] + chars + [" "]
    check(len(classes) == 6625, "dict size")
    for b, t in [(1, 40), (4, 80)]:
        probs = RNG.random((b, t, 6625), dtype=np.float32) * 0.1
        idx = RNG.integers(0, 6625, (b, t))
        idx[:, ::3] = 0
        idx[:, 1::7] = 6624
        for i in range(b):
            for j in range(t):
                probs[i, j, idx[i, j]] = 0.5 + 0.4 * RNG.random()
        texts, scores = run("CTCLabelDecode", {"character_dict_path": dpath}, [save(probs, "p.npy")])
        for i in range(b):
            pi = probs[i].argmax(1)
            pm = probs[i].max(1)
            sel = np.ones(t, bool)
            sel[1:] = pi[1:] != pi[:-1]
            sel &= pi != 0
            want_t = "".join(classes[k] for k in pi[sel])
            want_s = float(np.mean(pm[sel])) if sel.any() else 0.0
            check(texts[i] == want_t, "ctc text %d: %r vs %r" % (i, texts[i], want_t))
            check(abs(scores[i] - want_s) < 1e-5, "ctc score")
    # top-k with labels and softmax
    lpath = os.path.join(TMP, "labels.txt")
    open(lpath, "w").write("\n".join("class_%d" % i for i in range(10)))
    x = RNG.standard_normal((3, 10)).astype(np.float32)
    idx, sc, lab = run("TopK", {"k": 3, "softmax": "true", "label_path": lpath}, [save(x, "x.npy")])
    e = np.exp(x - x.max(1, keepdims=True))
    sm = e / e.sum(1, keepdims=True)
    want = np.argsort(-sm, 1, kind="stable")[:, :3]
    check(np.array_equal(idx, want), "topk idx")
    check(np.allclose(sc, np.take_along_axis(sm, want, 1), atol=1e-6), "topk scores")
    check(lab == ["class_%d" % k for k in want.ravel()], "topk labels")
    got = run("Softmax", {}, [save(x, "x.npy")])[0]
    check(np.allclose(got, sm, atol=1e-6), "softmax")
    # NMS against a numpy implementation
    bx = RNG.random((60, 2), dtype=np.float32) * 200
    wh = RNG.random((60, 2), dtype=np.float32) * 60 + 1
    boxes = np.concatenate([bx, bx + wh], 1).astype(np.float32)
    scores = RNG.random(60, dtype=np.float32)
    got = run("NMS", {"iou_threshold": 0.3, "score_threshold": 0.2}, [save(boxes, "b.npy"), save(scores, "s.npy")])[0]
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] >= 0.2]
    keep = []
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])
    for i in order:
        ok = True
        for j in keep:
            iw = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
            ih = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
            inter = iw * ih if iw > 0 and ih > 0 else 0
            if inter / (area(boxes[i]) + area(boxes[j]) - inter) > 0.3:
                ok = False
                break
        if ok:
            keep.append(i)
    check(list(got) == keep, "nms %s vs %s" % (list(got), keep))
    # recogniser resize: height 48, width by aspect, right padding, [-1, 1]
    for h, w in [(20, 100), (48, 48), (30, 900), (10, 2000)]:
        img = image(h, w, 3)
        got = run("RecResizeImg", {"rec_image_shape": "3,48,320"}, [save(img, "r.npy")])[0]
        imgW = int(48 * max(320 / 48, w / h))
        imgW = min(imgW, 3200)
        rw = min(int(math.ceil(48 * w / h)), imgW)
        r = cv2.resize(img, (rw, 48)).astype("float32").transpose((2, 0, 1)) / 255
        r = (r - 0.5) / 0.5
        want = np.zeros((3, 48, imgW), np.float32)
        want[:, :, :rw] = r
        check(got.shape == want.shape and np.abs(got - want).max() <= 2.0 / 255 + 1e-6, "rec_resize %dx%d" % (w, h))
        # width_multiple: the same image, the width rounded up, the rest 0
        got = run("RecResizeImg", {"rec_image_shape": "3,48,320", "width_multiple": 64},
                  [save(img, "r.npy")])[0]
        mW = min(-(-imgW // 64) * 64, 3200)
        check(got.shape == (3, 48, mW) and np.abs(got[:, :, :imgW] - want).max() <= 2.0 / 255 + 1e-6
              and not got[:, :, imgW:].any(), "rec_resize %dx%d width_multiple 64: %s" % (w, h, got.shape))
    img = image(7, 9, 3)
    for p, rot in [([0.05, 0.95], True), ([0.95, 0.05], False), ([0.15, 0.85], False)]:
        got = run("ClsRotate", {"cls_thresh": 0.9}, [save(img, "i.npy"), save(np.array(p, np.float32), "p.npy")])[0]
        check(np.array_equal(got, cv2.rotate(img, cv2.ROTATE_180) if rot else img), "cls_rotate %s" % p)


# ---- text ----------------------------------------------------------------------------------
def wordpiece_oracle(vocab, text, lower=True, max_chars=100):
    import unicodedata
    def is_punct(ch):
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")
    def is_cjk(cp):
        return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF
    out = []
    if lower:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words, cur = [], ""
    for ch in text:
        if ch.isspace():
            if cur:
                words.append(cur)
            cur = ""
        elif is_punct(ch) or is_cjk(ord(ch)):
            if cur:
                words.append(cur)
            cur = ""
            words.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf"):
            continue
        else:
            cur += ch
    if cur:
        words.append(cur)
    for w in words:
        if len(w) > max_chars:
            out.append(vocab["[UNK]"])
            continue
        start, pieces = 0, []
        while start < len(w):
            end, found = len(w), None
            while start < end:
                sub = ("##" if start else "") + w[start:end]
                if sub in vocab:
                    found = sub
                    break
                end -= 1
            if found is None:
                pieces = None
                break
            pieces.append(vocab[found])
            start = end
        out.extend(pieces if pieces is not None else [vocab["[UNK]"]])
    return out


def test_wordpiece():
    toks = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "un", "##aff", "##able", "run", "##ning", "hello",
            ",", "!", ".", "world", "##s", "cafe", "中", "国", "a", "##b", "##c", "x"]
    vpath = os.path.join(TMP, "vocab.txt")
    open(vpath, "w", encoding="utf-8").write("\n".join(toks) + "\n")
    vocab = {t: i for i, t in enumerate(toks)}
    texts = ["unaffable running", "Hello, World!", "the worlds.", "Café 中国 abc xyz", "  ",
             "unaffable" * 20, "a\tb\nab abc", "HELLO!!!"]
    for t in texts:
        got = list(run("WordPiece", {"vocab_path": vpath}, ["str:" + t])[0])
        want = wordpiece_oracle(vocab, t)
        check(got == want, "wordpiece %r: %s vs %s" % (t, got, want))
    got = list(run("WordPiece", {"vocab_path": vpath, "max_chars_per_word": "5"}, ["str:unaffable the"])[0])
    check(got == [1, 4], "wordpiece max chars %s" % got)

# ---- DBPostProcess and GetRotateCropImage -----------------------------------------------
def mini_box_oracle(contour):
    rect = cv2.minAreaRect(contour)
    pts = sorted(list(cv2.boxPoints(rect)), key=lambda x: x[0])
    i1, i4 = (0, 1) if pts[1][1] > pts[0][1] else (1, 0)
    i2, i3 = (2, 3) if pts[3][1] > pts[2][1] else (3, 2)
    return np.array([pts[i1], pts[i2], pts[i3], pts[i4]]), min(rect[1])


def box_score_oracle(bitmap, _box):
    """PaddleOCR's box_score_fast, with the corners snapped to 1/1000 pixel
    first: cv2's float32 corners of a corner on a pixel fall on either side of
    it, and the int32 truncation below then moves a pixel row at random."""
    h, w = bitmap.shape[:2]
    box = np.round(_box.astype(np.float64), 3)
    xmin = np.clip(np.floor(box[:, 0].min()).astype("int32"), 0, w - 1)
    xmax = np.clip(np.ceil(box[:, 0].max()).astype("int32"), 0, w - 1)
    ymin = np.clip(np.floor(box[:, 1].min()).astype("int32"), 0, h - 1)
    ymax = np.clip(np.ceil(box[:, 1].max()).astype("int32"), 0, h - 1)
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    box[:, 0] = box[:, 0] - xmin
    box[:, 1] = box[:, 1] - ymin
    cv2.fillPoly(mask, box.reshape(1, -1, 2).astype("int32"), 1)
    return cv2.mean(bitmap[ymin:ymax + 1, xmin:xmax + 1], mask)[0]


def unclip_oracle(box, ratio, points="int"):
    """The rounded offset as the hull of circles around the corners (truncated
    to integers with points "int", as PaddleOCR hands them to pyclipper): the
    Minkowski sum of the box with a disc, which is what a round-join offset
    approximates."""
    area = 0.5 * abs(sum(box[i][0] * box[(i + 1) % 4][1] - box[(i + 1) % 4][0] * box[i][1] for i in range(4)))
    length = sum(np.hypot(*(box[(i + 1) % 4] - box[i])) for i in range(4))
    d = area * ratio / length
    q = box.astype(np.float64)
    if points == "int":
        q = np.trunc(q)
    t = np.linspace(0, 2 * np.pi, 256, endpoint=False)
    pts = np.concatenate([np.stack([c[0] + d * np.cos(t), c[1] + d * np.sin(t)], 1) for c in q])
    if points == "int":
        return np.round(pts).astype(np.int32).reshape(-1, 1, 2)
    return pts.astype(np.float32).reshape(-1, 1, 2)


def db_oracle(pred, shape, thresh=0.3, box_thresh=0.6, max_cand=1000, ratio=1.5, dil=False, mode="fast",
              min_size=3, points="int"):
    h, w = pred.shape
    seg = (pred > thresh).astype(np.uint8)
    if dil:
        seg = cv2.dilate(seg, np.array([[1, 1], [1, 1]], np.uint8))
    contours, _ = cv2.findContours(seg * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    dh, dw = shape[0], shape[1]
    boxes, scores = [], []
    for contour in contours[:max_cand]:
        pts, sside = mini_box_oracle(contour)
        if sside < min_size:
            continue
        score = box_score_oracle(pred, pts) if mode == "fast" else box_score_oracle(pred, contour.reshape(-1, 2).astype(np.float32))
        if box_thresh > score:
            continue
        box, sside = mini_box_oracle(unclip_oracle(pts, ratio, points))
        if sside < min_size + 2:
            continue
        box = np.array(box)
        box[:, 0] = np.clip(np.round(box[:, 0] / w * dw), 0, dw - 1)
        box[:, 1] = np.clip(np.round(box[:, 1] / h * dh), 0, dh - 1)
        boxes.append(box)
        scores.append(score)
    return np.array(boxes, np.float32).reshape(-1, 4, 2), np.array(scores, np.float32)


def text_map(h, w, rects, blur=True, noise=0):
    m = np.zeros((h, w), np.float32)
    for (cx, cy, bw, bh, ang) in rects:
        pts = cv2.boxPoints(((cx, cy), (bw, bh), ang)).astype(np.int32)
        cv2.fillPoly(m, [pts], 0.6 + 0.35 * RNG.random())
    if blur:
        m = cv2.GaussianBlur(m, (5, 5), 1.2)
    for _ in range(noise):
        m[RNG.integers(0, h), RNG.integers(0, w)] = 0.9
    return np.clip(m, 0, 1).astype(np.float32)


def text_lines(h, w, n):
    rects = []
    for i in range(n):
        cy = 20 + i * (h - 40) / max(n, 1)
        rects.append((RNG.uniform(w * 0.3, w * 0.7), cy, RNG.uniform(60, w * 0.5), RNG.uniform(12, 22),
                      RNG.uniform(-8, 8)))
    return rects


def compare_db(name, pred, shape, params, **kw):
    want_b, want_s = db_oracle(pred, shape, **kw)
    got_b, got_s = run("DBPostProcess", params, [save(pred.reshape(1, 1, *pred.shape), "db.npy"),
                                                  save(np.array(shape, np.float32), "shp.npy")])
    ok = got_b.shape == want_b.shape
    check(ok, "db %s: %d boxes vs %d" % (name, len(got_b), len(want_b)))
    if ok and len(want_b):
        d = np.abs(got_b - want_b).max()
        check(d <= 2, "db %s: boxes differ by %.1f px" % (name, d))
        ds = np.abs(got_s - want_s).max()
        check(ds <= 1e-3, "db %s: scores differ by %.2g" % (name, ds))
    return got_b, got_s


def test_db():
    cases = [
        ("rotated", text_map(320, 480, [(240, 160, 200, 30, 12), (120, 60, 90, 20, -25), (350, 260, 150, 24, 40)]),
         [640, 960, 0.5, 0.5]),
        ("lines", text_map(640, 640, text_lines(640, 640, 14), noise=200), [1000, 1000, 0.64, 0.64]),
        ("touching", text_map(200, 300, [(150, 50, 220, 20, 0), (150, 69, 200, 20, 0), (100, 150, 80, 30, 90)]),
         [200, 300, 1, 1]),
        ("blobs", np.clip(cv2.GaussianBlur((RNG.random((256, 256)) > 0.995).astype(np.float32), (0, 0), 4) * 60,
                          0, 1).astype(np.float32), [512, 512, 0.5, 0.5]),
        ("noise", (RNG.random((128, 160)) > 0.99).astype(np.float32) * 0.95, [128, 160, 1, 1]),
        ("empty", np.zeros((96, 96), np.float32), [96, 96, 1, 1]),
        ("full", np.full((64, 96), 0.9, np.float32), [128, 192, 0.5, 0.5]),
    ]
    for name, pred, shape in cases:
        compare_db(name, pred, shape, {})
    pred = cases[1][1]
    compare_db("lines slow", pred, [1000, 1000, 0.64, 0.64], {"score_mode": "slow"}, mode="slow")
    compare_db("lines dilation", pred, [1000, 1000, 0.64, 0.64], {"use_dilation": "true"}, dil=True)
    compare_db("lines params", pred, [640, 640, 1, 1],
               {"thresh": 0.5, "box_thresh": 0.7, "unclip_ratio": 2.0, "min_size": 5, "max_candidates": 6},
               thresh=0.5, box_thresh=0.7, ratio=2.0, min_size=5, max_cand=6)
    for name, pred, shape in cases[:3]:
        compare_db(name + " float points", pred, shape, {"unclip_points": "float"}, points="float")
    got_b, _ = compare_db("rotated", cases[0][1], cases[0][2], {})
    check(len(got_b) == 3, "db rotated: three boxes")
    # a map padded bottom/right after DetResizeForTest (PadStride): the part
    # src * ratio covers maps to the source, the same boxes as unpadded
    for name, pred, shape in cases[:2]:
        want_b, want_s = run("DBPostProcess", {}, [save(pred.reshape(1, 1, *pred.shape), "u.npy"),
                                                   save(np.array(shape, np.float32), "us.npy")])
        padded = np.zeros((pred.shape[0] + 64, pred.shape[1] + 128), np.float32)
        padded[:pred.shape[0], :pred.shape[1]] = pred
        got_b, got_s = run("DBPostProcess", {}, [save(padded.reshape(1, 1, *padded.shape), "p.npy"),
                                                 save(np.array(shape, np.float32), "ps.npy")])
        check(got_b.shape == want_b.shape and np.array_equal(got_b, want_b) and np.array_equal(got_s, want_s),
              "db %s padded: the unpadded map's boxes (%s vs %s)" % (name, got_b.shape, want_b.shape))
    # bad input
    good = save(np.zeros((1, 1, 32, 32), np.float32), "g.npy")
    shp = save(np.array([32, 32, 1, 1], np.float32), "shp.npy")
    nanmap = np.zeros((1, 1, 32, 32), np.float32)
    nanmap[0, 0, 5, 7] = np.nan
    for what, inputs in [("uint8 map", [save(np.zeros((1, 1, 8, 8), np.uint8), "u.npy"), shp]),
                         ("batch 2", [save(np.zeros((2, 1, 8, 8), np.float32), "b2.npy"), shp]),
                         ("NaN", [save(nanmap, "nan.npy"), shp]),
                         ("short shape", [good, save(np.array([32, 32], np.float32), "s2.npy")]),
                         ("zero shape", [good, save(np.array([0, 32, 1, 1], np.float32), "s0.npy")]),
                         ("one input", [good])]:
        rc, err = run("DBPostProcess", {}, inputs, expect_fail=True)
        check(rc == 1 and "step 'DBPostProcess'" in err and ("input" in err), "db bad %s: %d %r" % (what, rc, err))
    rc, err = run("DBPostProcess", {"score_mode": "medium"}, [good, shp], expect_fail=True)
    check(rc == 1 and "score_mode" in err, "db bad score_mode: %r" % err)
    rc, err = run("DBPostProcess", {"unclip_points": "double"}, [good, shp], expect_fail=True)
    check(rc == 1 and "unclip_points" in err, "db bad unclip_points: %r" % err)


def crop_oracle(img, points):
    w = int(max(np.linalg.norm(points[0] - points[1]), np.linalg.norm(points[2] - points[3])))
    h = int(max(np.linalg.norm(points[0] - points[3]), np.linalg.norm(points[1] - points[2])))
    std = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    M = cv2.getPerspectiveTransform(points, std)
    d = cv2.warpPerspective(img, M, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if d.shape[0] * 1.0 / d.shape[1] >= 1.5:
        d = np.rot90(d)
    return d


def widen_oracle(points, m, w, h):
    """The box moved outward by m along its own edges, clipped to the image."""
    p = points.astype(np.float64)
    u = (p[1] - p[0]) / np.linalg.norm(p[1] - p[0]) * m
    v = (p[3] - p[0]) / np.linalg.norm(p[3] - p[0]) * m
    q = p + np.array([-u - v, u - v, u + v, -u + v])
    q[:, 0] = np.clip(q[:, 0], 0, w - 1)
    q[:, 1] = np.clip(q[:, 1], 0, h - 1)
    return q.astype(np.float32)


def test_rotate_crop():
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 28)
    page = Image.new("RGB", (640, 480), (235, 230, 220))
    dr = ImageDraw.Draw(page)
    lines = ["Skiff serves models", "over HTTP and gRPC", "0123456789 ABCDEF"]
    for i, t in enumerate(lines):
        dr.text((30, 30 + 50 * i), t, font=font, fill=(20, 20, 60))
    tall = Image.new("RGB", (300, 40), (235, 230, 220))
    ImageDraw.Draw(tall).text((5, 2), "VERTICAL", font=font, fill=(90, 10, 10))
    page.paste(tall.rotate(90, expand=True), (560, 120))
    img = np.ascontiguousarray(np.array(page)[:, :, ::-1])
    boxes = np.array([
        [[25, 25], [330, 25], [330, 65], [25, 65]],            # axis-aligned
        [[24, 78], [300, 70], [302, 112], [26, 120]],          # rotated a little
        [[30, 130], [310, 128], [330, 168], [20, 175]],        # perspective
        [[558, 118], [602, 118], [602, 422], [558, 422]],      # tall: rotated 90
        [[0, 0], [639, 0], [639, 479], [0, 479]],              # the whole page
        [[600.5, 440.2], [639, 441], [639, 479], [601, 479]],  # at the corner, fractional
    ], np.float32)
    crops, sizes = run("GetRotateCropImage", {}, [save(img, "page.npy"), save(boxes, "cb.npy")])
    check(crops.shape[0] == len(boxes) and sizes.shape == (len(boxes), 2), "crop shapes %s %s" % (crops.shape, sizes.shape))
    for i, b in enumerate(boxes):
        want = crop_oracle(img, b)
        h, w = sizes[i]
        got = crops[i, :h, :w]
        ok = got.shape == want.shape
        check(ok, "crop %d: %s vs %s" % (i, got.shape, want.shape))
        if ok:
            mad = np.abs(got.astype(np.float64) - want).mean()
            check(mad <= 2, "crop %d: mean abs diff %.2f" % (i, mad))
            check(np.all(crops[i, h:] == 0) and np.all(crops[i, :, w:] == 0), "crop %d: padding" % i)
    check(sizes[3][0] < sizes[3][1], "tall crop rotated: %s" % sizes[3])
    for m in (1, 2.5):  # margin: each box widened along its edges, then clipped
        crops, sizes = run("GetRotateCropImage", {"margin": m}, [save(img, "page.npy"), save(boxes, "cb.npy")])
        for i, b in enumerate(boxes):
            want = crop_oracle(img, widen_oracle(b, m, img.shape[1], img.shape[0]))
            h, w = sizes[i]
            got = crops[i, :h, :w]
            ok = got.shape == want.shape and np.abs(got.astype(np.float64) - want).mean() <= 2
            check(ok, "crop margin %g box %d: %s vs %s" % (m, i, got.shape, want.shape))
    rc, err = run("GetRotateCropImage", {"margin": -1}, [save(img, "page.npy"), save(boxes, "cb.npy")],
                  expect_fail=True)
    check(rc == 1 and "margin" in err, "crop bad margin: %r" % err)
    grey = np.ascontiguousarray(img[:, :, 1:2])
    crops, sizes = run("GetRotateCropImage", {}, [save(grey, "grey.npy"), save(boxes[1:3], "cb.npy")])
    for i, b in enumerate(boxes[1:3]):
        want = crop_oracle(grey[:, :, 0], b)
        h, w = sizes[i]
        check(crops[i, :h, :w, 0].shape == want.shape and np.abs(crops[i, :h, :w, 0].astype(float) - want).mean() <= 2,
              "grey crop %d" % i)
    crops, sizes = run("GetRotateCropImage", {}, [save(img, "page.npy"), save(np.zeros((0, 4, 2), np.float32), "e.npy")])
    check(crops.shape[0] == 0 and sizes.shape == (0, 2), "crop of no boxes")
    page_p = save(img, "page.npy")
    nanb = boxes[:1].copy()
    nanb[0, 2, 0] = np.nan
    for what, inputs in [("outside", [page_p, save(boxes[:1] + 700, "far.npy")]),
                         ("zero size", [page_p, save(np.full((1, 4, 2), 10, np.float32), "z.npy")]),
                         ("NaN box", [page_p, save(nanb, "n.npy")]),
                         ("boxes shape", [page_p, save(np.zeros((2, 3, 2), np.float32), "s.npy")]),
                         ("boxes int", [page_p, save(boxes.astype(np.int32), "i.npy")]),
                         ("float image", [save(img.astype(np.float32), "f.npy"), save(boxes, "cb.npy")])]:
        rc, err = run("GetRotateCropImage", {}, inputs, expect_fail=True)
        check(rc == 1 and "step 'GetRotateCropImage'" in err and "input" in err, "crop bad %s: %d %r" % (what, rc, err))


def rec_resize_oracle(img, img_h, max_wh_ratio, max_w=3200):
    h, w = img.shape[:2]
    imgW = min(int(img_h * max_wh_ratio), max_w)
    rw = min(int(math.ceil(img_h * w / h)), imgW)
    r = cv2.resize(img, (rw, img_h)).astype("float32").transpose((2, 0, 1)) / 255
    want = np.zeros((img.shape[2], img_h, imgW), np.float32)
    want[:, :, :rw] = (r - 0.5) / 0.5
    return want


def test_batches():
    # crops of several sizes in one zero-padded batch, as GetRotateCropImage gives them
    sizes = np.array([[20, 100], [48, 48], [30, 420], [12, 7]], np.int64)
    crops = np.zeros((4, 48, 420, 3), np.uint8)
    parts = []
    for i, (h, w) in enumerate(sizes):
        parts.append(image(h, w, 3, "gradient" if i % 2 else "random"))
        crops[i, :h, :w] = parts[-1]
    cp, sp = save(crops, "crops.npy"), save(sizes, "sizes.npy")
    # the recogniser: one width for all, 48 * max(320/48, widest ratio), as PaddleOCR pads a batch
    got = run("RecResizeImg", {"rec_image_shape": "3,48,320"}, [cp, sp])[0]
    ratio = max(320 / 48, max(w / h for h, w in sizes))
    for i in range(4):
        want = rec_resize_oracle(parts[i], 48, ratio)
        check(got.shape == (4,) + want.shape and np.abs(got[i] - want).max() <= 2.0 / 255 + 1e-6,
              "rec_resize batch %d: %s" % (i, got.shape))
    # the classifier: fixed 3x48x192
    got = run("RecResizeImg", {"rec_image_shape": "3,48,192", "max_width": 192}, [cp, sp])[0]
    for i in range(4):
        want = rec_resize_oracle(parts[i], 48, 192 / 48, 192)
        check(got.shape == (4, 3, 48, 192) and np.abs(got[i] - want).max() <= 2.0 / 255 + 1e-6,
              "cls resize batch %d: %s" % (i, got.shape))
    empty = run("RecResizeImg", {}, [save(crops[:0], "c0.npy"), save(sizes[:0], "s0.npy")])[0]
    check(empty.shape == (0, 3, 48, 320), "rec_resize of no crops: %s" % (empty.shape,))
    # the classifier's rotation, each crop within its own size
    probs = np.array([[0.05, 0.95], [0.95, 0.05], [0.15, 0.85], [0.02, 0.98]], np.float32)
    got = run("ClsRotate", {"cls_thresh": 0.9}, [cp, save(probs, "probs.npy"), sp])[0]
    for i, (h, w) in enumerate(sizes):
        rot = probs[i, 1] > probs[i, 0] and probs[i, 1] > 0.9
        want = cv2.rotate(parts[i], cv2.ROTATE_180) if rot else parts[i]
        check(np.array_equal(got[i, :h, :w], want) and not got[i, h:].any() and not got[i, :, w:].any(),
              "cls_rotate batch %d" % i)
    for what, params, inputs in [
            ("sizes too big", {}, [cp, save(sizes + 1000, "sb.npy")]),
            ("sizes rows", {}, [cp, save(sizes[:2], "sr.npy")]),
            ("sizes dtype", {}, [cp, save(sizes.astype(np.float32), "sf.npy")]),
            ("crops 3-d", {}, [save(crops[0], "c3.npy"), sp])]:
        rc, err = run("RecResizeImg", params, inputs, expect_fail=True)
        check(rc == 1 and "step 'RecResizeImg'" in err, "rec_resize bad %s: %r" % (what, err))
    rc, err = run("ClsRotate", {}, [cp, save(probs[:2], "p2.npy"), sp], expect_fail=True)
    check(rc == 1 and "step 'ClsRotate'" in err and "probabilities" in err, "cls_rotate bad probs: %r" % err)
    # PadBatch / TrimBatch around a model that cannot run an empty batch
    x = RNG.random((0, 3, 48, 320), dtype=np.float32)
    got = run("PadBatch", {"min_rows": 1}, [save(x, "x0.npy")])[0]
    check(got.shape == (1, 3, 48, 320) and not got.any(), "pad_batch empty: %s" % (got.shape,))
    x = RNG.random((2, 5), dtype=np.float32)
    got = run("PadBatch", {"min_rows": 4}, [save(x, "x2.npy")])[0]
    check(got.shape == (4, 5) and np.array_equal(got[:2], x) and not got[2:].any(), "pad_batch 2 -> 4")
    got = run("PadBatch", {}, [save(x, "x2.npy")])[0]
    check(np.array_equal(got, x), "pad_batch unchanged")
    probs = RNG.random((3, 6, 6625), dtype=np.float32)
    y = RNG.random(3, dtype=np.float32)
    a, b = run("TrimBatch", {}, [save(probs, "tp.npy"), save(y, "ty.npy"), save(sizes[:1], "tr.npy")])
    check(np.array_equal(a, probs[:1]) and np.array_equal(b, y[:1]), "trim_batch to 1")
    a = run("TrimBatch", {}, [save(y, "ty.npy"), save(sizes[:0], "t0.npy")])[0]
    check(a.shape == (0,), "trim_batch to 0: %s" % (a.shape,))
    rc, err = run("TrimBatch", {}, [save(y, "ty.npy"), sp], expect_fail=True)
    check(rc == 1 and "step 'TrimBatch'" in err and "input 0" in err, "trim_batch short: %r" % err)
    rc, err = run("PadBatch", {"min_rows": 0}, [save(y, "ty.npy")], expect_fail=True)
    check(rc == 1 and "min_rows" in err, "pad_batch min_rows 0: %r" % err)


def test_to_string_json():
    import json
    boxes = np.array([[[33, 34], [511.5, 33], [511, 65], [33, 66]]], np.float32)
    got = run("ToString", {"json": "true"}, [save(boxes, "b.npy")])[0]
    check(json.loads(got[0]) == boxes.tolist(), "to_string json boxes: %r" % got)
    got = run("ToString", {"json": "true"}, [save(np.zeros((0, 4, 2), np.float32), "e.npy")])[0]
    check(got == ["[]"], "to_string json empty: %r" % got)
    got = run("ToString", {"json": "true"}, [save(np.array([1, -2], np.int64), "i.npy")])[0]
    check(got == ["[1,-2]"], "to_string json int64: %r" % got)
    got = run("ToString", {"json": "true"}, [save(np.array([np.nan, 0.25], np.float32), "n.npy")])[0]
    check(got == ["[null,0.25]"], "to_string json nan: %r" % got)
    got = run("ToString", {"json": "true"}, ['str:say "hi", \\ then 文字'])[0]
    check(json.loads(got[0]) == ['say "hi", \\ then 文字'], "to_string json string: %r" % got)


def test_merge_lines():
    def lines_file(texts):
        path = os.path.join(TMP, "texts.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in texts))
        return "lines:" + path

    def case(name, boxes, texts, scores, probs=None, params=None, **kw):
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4, 2)
        scores = np.asarray(scores, np.float32)
        inputs = [save(boxes, "mb.npy"), lines_file(texts), save(scores, "ms.npy")]
        if probs is not None:
            probs = np.asarray(probs, np.float32)
            inputs.append(save(probs, "mp.npy"))
        got_t, got_b, got_s = run("MergeLines", params or {}, inputs)
        want_t, want_b, want_s = ocr_pages.merge_lines(boxes, texts, scores, probs, **kw)
        check(got_t == want_t, "merge_lines %s: %s vs %s" % (name, got_t, want_t))
        check(got_b.shape == want_b.shape and np.array_equal(got_b, want_b),
              "merge_lines %s boxes: %s vs %s" % (name, got_b.tolist(), want_b.tolist()))
        check(np.allclose(got_s, want_s, atol=1e-6), "merge_lines %s scores: %s vs %s" % (name, got_s, want_s))
        return got_t

    def rect(x0, y0, x1, y1):
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]

    # a line split in three boxes (out of order), a blank and a low-score box, a slanted box
    boxes = [rect(180, 183, 398, 210), rect(34, 182, 187, 212), rect(37, 111, 517, 140),
             [[408, 180], [538, 185], [537, 215], [407, 210]], rect(393, 191, 418, 202),
             rect(36, 250, 519, 286), rect(600, 250, 640, 286)]
    texts = ["text from", "Reading", "Invoice number 20240517", "images", "", "jumps over", "·"]
    got = case("split line", boxes, texts, [0.96, 1.0, 0.99, 1.0, 0.0, 0.97, 0.3])
    check(got == ["Invoice number 20240517", "Reading text from images", "jumps over"],
          "merge_lines split line: %s" % got)
    # a page turned 180 degrees: lines bottom to top, words right to left
    probs = [[0.02, 0.98]] * 3 + [[0.5, 0.5]]
    got = case("turned", [rect(46, 61, 428, 101), rect(407, 59, 611, 103), rect(133, 149, 611, 191),
                          rect(10, 300, 50, 320)],
               ["text from images", "Reading", "Open source software", "x"], [0.99, 1.0, 1.0, 0.9],
               probs)
    check(got == ["x", "Open source software", "Reading text from images"], "merge_lines turned: %s" % got)
    # parameters: everything kept, a stricter overlap, another separator
    case("params", boxes, texts, [0.96, 1.0, 0.99, 1.0, 0.0, 0.97, 0.3],
         params={"drop_score": "-1", "overlap": "0.9", "sep": "|"}, drop=-1, overlap=0.9, sep="|")
    # random pages: rows of boxes with jitter, CJK text, random scores
    for k in range(20):
        n = int(RNG.integers(0, 12))
        bs, ts = [], []
        for i in range(n):
            row = int(RNG.integers(0, 4))
            y = 40 * row + RNG.uniform(-8, 8)
            x = RNG.uniform(0, 400)
            bs.append(rect(x, y, x + RNG.uniform(5, 120), y + RNG.uniform(12, 30)))
            ts.append(("文字%d" % i) if i % 3 == 0 else "w%d" % i)
        sc = RNG.uniform(0.3, 1.0, n)
        pr = RNG.dirichlet([1, 1], n) if k % 2 else None
        case("random %d" % k, bs, ts, sc, pr)
    # bad input
    good_b = save(np.zeros((2, 4, 2), np.float32), "mb2.npy")
    good_s = save(np.ones(2, np.float32), "ms2.npy")
    for what, inputs in [("texts count", [good_b, "str:one", good_s]),
                         ("scores count", [good_b, lines_file(["a", "b"]), save(np.ones(3, np.float32), "ms3.npy")]),
                         ("boxes shape", [save(np.zeros((2, 3, 2), np.float32), "mb3.npy"), lines_file(["a", "b"]), good_s]),
                         ("probs shape", [good_b, lines_file(["a", "b"]), good_s, save(np.ones((2, 3), np.float32), "mp3.npy")])]:
        rc, err = run("MergeLines", {}, inputs, expect_fail=True)
        check(rc == 1 and "step 'MergeLines'" in err and "input" in err, "merge_lines bad %s: %d %r" % (what, rc, err))
    rc, err = run("MergeLines", {"overlap": "2"}, [good_b, lines_file(["a", "b"]), good_s], expect_fail=True)
    check(rc == 1 and "overlap" in err, "merge_lines bad overlap: %r" % err)


def test_detection():
    import json
    # ScaleFactor: im_shape (resized H, W) and scale_factor (resized / source), [1, 2] each
    src, res = save(np.zeros((360, 480, 3), np.uint8), "src.npy"), save(np.zeros((320, 320, 3), np.float32), "res.npy")
    shape, scale = run("ScaleFactor", {}, [src, res])
    check(shape.dtype == np.float32 and shape.tolist() == [[320.0, 320.0]], "scale_factor im_shape: %r" % shape)
    check(np.allclose(scale, [[320 / 360, 320 / 480]]) and scale.shape == (1, 2), "scale_factor: %r" % scale)
    rc, err = run("ScaleFactor", {}, [save(np.zeros((4,), np.float32), "v.npy"), res], expect_fail=True)
    check(rc == 1 and "step 'ScaleFactor'" in err and "input 0" in err, "scale_factor bad input: %r" % err)
    # DetectionBoxes: rows at or above the threshold, Paddle's empty row (-1) skipped, labels
    labels = os.path.join(TMP, "labels.txt")
    with open(labels, "w") as f:
        f.write("cat\ndog\n\"quoted\"\n")
    rows = np.array([[1, 0.9, 10, 20, 30.5, 40], [0, 0.3, 1, 2, 3, 4], [2, 0.5, 0, 0, 1, 1],
                     [-1, 0, 0, 0, 0, 0], [7, 0.8, 5, 5, 6, 6]], np.float32)
    got = json.loads(run("DetectionBoxes", {"label_path": labels}, [save(rows, "r.npy")])[0][0])
    check([b["category_id"] for b in got] == [1, 2, 7], "detection_boxes kept: %r" % got)
    check(got[0] == {"category_id": 1, "label": "dog", "score": 0.9, "bbox": [10, 20, 30.5, 40]},
          "detection_boxes first: %r" % got[0])
    check(got[1]["label"] == '"quoted"' and got[2]["label"] == "", "detection_boxes labels: %r" % got)
    got = json.loads(run("DetectionBoxes", {"threshold": "0"}, [save(rows, "r.npy")])[0][0])
    check(len(got) == 4 and "label" not in got[0], "detection_boxes threshold 0: %r" % got)
    got = run("DetectionBoxes", {}, [save(np.zeros((0, 6), np.float32), "z.npy")])[0]
    check(got == ["[]"], "detection_boxes empty: %r" % got)
    for what, arr in (("shape", np.zeros((3, 5), np.float32)), ("dtype", np.zeros((3, 6), np.float64))):
        rc, err = run("DetectionBoxes", {}, [save(arr, "bad.npy")], expect_fail=True)
        check(rc == 1 and "step 'DetectionBoxes'" in err and "input 0" in err, "detection_boxes bad %s: %r" % (what, err))
    rc, err = run("DetectionBoxes", {"label_path": "/nonexistent"}, [save(rows, "r.npy")], expect_fail=True)
    check(rc == 1 and "label_path" in err, "detection_boxes bad label_path: %r" % err)


for t in [test_base64, test_decode, test_resize, test_det_resize_normalize, test_ocr, test_wordpiece,
          test_db, test_rotate_crop, test_batches, test_to_string_json, test_merge_lines,
          test_detection]:
    try:
        t()
    except Exception as e:  # a crash of the CLI or a missing output
        FAILS.append("%s: %s" % (t.__name__, e))
        print("FAIL", t.__name__, e, flush=True)
    print("done", t.__name__, flush=True)
print("%d failures" % len(FAILS))
sys.exit(1 if FAILS else 0)
