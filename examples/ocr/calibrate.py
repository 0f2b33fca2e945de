#!/usr/bin/python3
"""Calibration samples for the OCR example's three models, for `skiff quantize`.

    examples/ocr/calibrate.py --out DIR [--pages 32] [--skiff build/skiff]

Renders --pages text pages (tests/integration/ocr_pages.py, seeds 9001 on: not
the pages bench/ocr measures accuracy on), reads them with the fp32 OCR service
(examples/ocr/config.yml) to get each page's text crops, and writes what each
model is fed, as PaddleOCR's preprocessing makes it (cv2, numpy):

    DIR/det/sNNN/det_x.npy   the page, DetResizeForTest (longest side 960, sides
                             multiples of 32), normalised, [1, 3, H, W]
    DIR/cls/sNNN/cls_x.npy   the page's crops at 3x48x192 (resize_norm_img), [N, 3, 48, 192]
    DIR/rec/sNNN/rec_x.npy   one crop at its own width (height 48, width
                             48 * max(320/48, w/h)), [1, 3, 48, W]

examples/ocr/quantize.sh runs this, then `skiff quantize` on each model.
"""
import argparse
import json
import math
import os
import sys
import tempfile

import cv2
import numpy as np
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench", "ocr"))
import bench  # noqa: E402


def det_input(img):
    """DetResizeForTest (limit_type max, limit_side_len 960) and NormalizeImage."""
    h, w = img.shape[:2]
    ratio = 960.0 / max(h, w) if max(h, w) > 960 else 1.0
    rh = max(int(round(h * ratio / 32) * 32), 32)
    rw = max(int(round(w * ratio / 32) * 32), 32)
    x = cv2.resize(img, (rw, rh)).astype(np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def rec_input(crop, width):
    """resize_norm_img: height 48, width from the aspect ratio, padded to `width`."""
    h, w = crop.shape[:2]
    rw = min(width, int(math.ceil(48 * w / max(h, 1))))
    x = cv2.resize(crop, (max(rw, 1), 48)).astype(np.float32) / 255.0
    x = (x - 0.5) / 0.5
    out = np.zeros((3, 48, width), np.float32)
    out[:, :, :x.shape[1]] = x.transpose(2, 0, 1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pages", type=int, default=32)
    ap.add_argument("--skiff", default=os.path.join(ROOT, "build", "skiff"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="skiff-ocr-calib-")
    images, used, seed = [], set(), 9001
    while len(images) < args.pages:
        k = min(20, args.pages - len(images))
        images += bench.make_set(os.path.join(tmp, "s%d" % seed), seed, k, used)
        seed += 1
    config = open(os.path.join(HERE, "config.yml")).read().replace(" models/", " %s/models/" % HERE)
    config = config.rstrip("\n") + """
            - ToString: {in: crops, json: true, out: crops}
            - ToString: {in: crop_sizes, json: true, out: crop_sizes}
"""
    path = os.path.join(tmp, "config.yml")
    with open(path, "w") as f:
        f.write(config)
    srv = bench.Skiff(args.skiff, path, tmp, "calib")
    n_rec = 0
    try:
        session = requests.Session()
        for i, im in enumerate(images):
            page = cv2.imread(im["file"], cv2.IMREAD_COLOR)
            d = os.path.join(args.out, "det", "s%03d" % i)
            os.makedirs(d, exist_ok=True)
            np.save(os.path.join(d, "det_x.npy"), det_input(page))
            kv = srv.call(session, srv.body(im["file"]))
            crops, sizes = json.loads(kv["crops"]), json.loads(kv["crop_sizes"])
            if not sizes:
                continue
            cs = [np.asarray(crops[j], np.uint8)[:h, :w] for j, (h, w) in enumerate(sizes)]
            d = os.path.join(args.out, "cls", "s%03d" % i)
            os.makedirs(d, exist_ok=True)
            np.save(os.path.join(d, "cls_x.npy"), np.stack([rec_input(c, 192) for c in cs]))
            for c in cs:
                width = int(48 * max(320 / 48, c.shape[1] / max(c.shape[0], 1)))
                d = os.path.join(args.out, "rec", "s%04d" % n_rec)
                os.makedirs(d, exist_ok=True)
                np.save(os.path.join(d, "rec_x.npy"), rec_input(c, width)[None])
                n_rec += 1
    finally:
        srv.close()
    print("calibrate: %d pages -> %s/det, %s/cls, %d crops -> %s/rec" % (
        len(images), args.out, args.out, n_rec, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
