#!/usr/bin/env python3
"""examples/detection against real servers, with PP-YOLO tiny (PaddleDetection
export, real weights) from ../shared/paddle-models.

The oracle is the model run by `skiff run` on inputs prepared with OpenCV as
PaddleDetection's infer_cfg.yml says (RGB, cv2.resize 320x320 INTER_CUBIC,
x/255, ImageNet mean/std, HWC -> CHW; im_shape [320, 320], scale_factor
resized/source). On a 480x360 picture of shapes, as PNG and as JPEG:
  - the pipeline (config.yml, `skiff serve --pipeline`) answers the same rows
    as the oracle (scores within 2e-3, boxes within 1.5 px: its resize matches
    cv2's within one grey level), and its `boxes` JSON holds exactly the rows
    scoring at least the threshold, with their labels; a copy of the config
    with threshold 0 checks every row's JSON;
  - the seed's client flow (test_client.py: paddle_serving_client over RPC to
    `skiff serve --model`, paddle_serving_app readers, RCNNPostprocess) writes
    bbox.json with the oracle's rows (COCO [x, y, w + 1, h + 1]) and the picture;
  - a value that is not an image answers err_no 5000 naming the step.
Exits 77 (CTest: skipped) when the Paddle model or python3-opencv is missing.

    detection_tests.py --skiff BIN
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serve_tests as st  # noqa: E402

ROOT = st.ROOT
EXAMPLE = os.path.join(ROOT, "examples", "detection")
MODEL_SRC = os.path.join(st.PADDLE_MODELS, "ppdet_ppyolo_tiny")
FETCH = "multiclass_nms3_0.tmp_0"
SKIP = 77
check = st.check


def picture(seed=3, w=480, h=360):
    """BGR uint8: a gradient with filled rectangles and discs, a little noise."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([60 + 120 * xx / w, 80 + 100 * yy / h, 140 + 60 * (xx / w - yy / h)], -1)
    for _ in range(10):
        c = rng.randint(0, 256, 3)
        x0, y0 = rng.randint(0, w - 60), rng.randint(0, h - 60)
        bw, bh = rng.randint(30, 200), rng.randint(30, 160)
        if rng.rand() < 0.5:
            img[y0:y0 + bh, x0:x0 + bw] = c
        else:
            r = min(bw, bh) // 2
            img[(xx - x0 - r) ** 2 + (yy - y0 - r) ** 2 <= r * r] = c
    img = img + rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def oracle(cv2, path, work):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    h, w = bgr.shape[:2]
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    x = cv2.resize(rgb, (320, 320), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225],
                                                                        np.float32)
    feeds = {"image": x.transpose(2, 0, 1)[None].astype(np.float32),
             "im_shape": np.array([[320, 320]], np.float32),
             "scale_factor": np.array([[320.0 / h, 320.0 / w]], np.float32)}
    args = []
    for k, v in feeds.items():
        np.save(os.path.join(work, k + ".npy"), v)
        args += ["--input", "%s=%s" % (k, os.path.join(work, k + ".npy"))]
    out = tempfile.mkdtemp(dir=work)
    r = subprocess.run([st.SKIFF, "run", os.path.join(EXAMPLE, "models", "ppyolo_tiny_server"),
                        "--quiet", "--output-dir", out] + args, capture_output=True, text=True)
    check(r.returncode == 0, "skiff run (the oracle)", r.stderr)
    return np.load(os.path.join(out, FETCH + ".npy"))


def same_rows(got, want, what):
    got = np.asarray(got, np.float64).reshape(-1, 6)
    check(got.shape == want.shape, what + ": row count", got.shape, want.shape)
    check(np.array_equal(got[:, 0], want[:, 0]), what + ": classes", got[:, 0], want[:, 0])
    ds = np.abs(got[:, 1] - want[:, 1]).max(initial=0)
    db = np.abs(got[:, 2:] - want[:, 2:]).max(initial=0)
    check(ds <= 2e-3 and db <= 1.5, what + ": scores and boxes", "score diff", ds, "box diff", db)
    return ds, db


def post(url, path):
    with open(path, "rb") as f:
        value = base64.b64encode(f.read()).decode()
    r = requests.post(url + "/detection/prediction", timeout=120,
                      data=json.dumps({"key": ["image"], "value": [value]}))
    check(r.status_code == 200, "HTTP status", r.status_code, r.text[:300])
    return r.json()


def check_answer(ans, want, threshold, labels, what):
    check(ans["err_no"] == 0, what + ": no error", ans)
    tensors = {t["name"]: t for t in ans["tensors"]}
    check(FETCH in tensors, what + ": the model's rows in tensors", list(tensors))
    rows = np.array(tensors[FETCH]["float_data"], np.float64).reshape(tensors[FETCH]["shape"])
    ds, db = same_rows(rows, want, what)
    boxes = json.loads(dict(zip(ans["key"], ans["value"]))["boxes"])
    kept = [r for r in rows if r[0] >= 0 and r[1] >= threshold]
    check(len(boxes) == len(kept), what + ": boxes at or above %g" % threshold, len(boxes),
          len(kept))
    for b, r in zip(boxes, kept):
        check(b["category_id"] == int(r[0]) and b["label"] == labels[int(r[0])] and
              abs(b["score"] - r[1]) < 1e-6 and np.allclose(b["bbox"], r[2:], atol=1e-3),
              what + ": box JSON", b, r)
    print("  %-28s %d rows, %d boxes >= %g (vs oracle: score diff %.2g, box diff %.2g px)" % (
        what, len(rows), len(boxes), threshold, ds, db))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skiff", required=True)
    args = ap.parse_args()
    st.SKIFF = os.path.abspath(args.skiff)
    try:
        import cv2
    except ImportError:
        print("skip: python3-opencv is missing (scripts/install-deps.sh)")
        return SKIP
    if not os.path.exists(os.path.join(MODEL_SRC, "model.pdmodel")):
        print("skip: %s is missing" % MODEL_SRC)
        return SKIP
    r = subprocess.run([os.path.join(EXAMPLE, "prepare.sh"), MODEL_SRC, st.SKIFF],
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, "prepare.sh", r.stdout, r.stderr)
    with open(os.path.join(EXAMPLE, "models", "label_list.txt")) as f:
        labels = [ln.rstrip("\n") for ln in f]
    check(len(labels) == 80 and labels[12] == "parking meter", "label_list.txt", labels[:13])
    work = tempfile.mkdtemp(prefix="skiff-det-")
    try:
        bgr = picture()
        pics = {}
        for ext in ("png", "jpg"):
            pics[ext] = os.path.join(work, "shapes." + ext)
            cv2.imwrite(pics[ext], bgr)
        want = {ext: oracle(cv2, p, work) for ext, p in pics.items()}
        check(all(len(w) > 0 for w in want.values()), "the oracle finds rows", want)

        # the shipped config, and a copy with threshold 0 (every row as JSON)
        conf = os.path.join(EXAMPLE, "config.yml")
        with open(conf) as f:
            text = f.read()
        check("threshold: 0.5" in text, "config.yml's threshold")
        all_rows = os.path.join(work, "config.yml")
        with open(all_rows, "w") as f:
            f.write(text.replace("threshold: 0.5", "threshold: 0")
                    .replace("models/", os.path.join(EXAMPLE, "models") + "/")
                    .replace("rpc_port: 9996", "rpc_port: 0"))
        for cfg, thr in ((conf, 0.5), (all_rows, 0.0)):
            with st.Server(None, "--pipeline", cfg) as srv:
                for ext, p in pics.items():
                    check_answer(post(srv.url, p), want[ext], thr, labels,
                                 "pipeline %s, threshold %g" % (ext, thr))
                r = requests.post(srv.url + "/detection/prediction", timeout=60,
                                  data=json.dumps({"key": ["image"],
                                                   "value": [base64.b64encode(b"GIF89a").decode()]}))
                ans = r.json()
                check(ans["err_no"] == 5000 and "ImageDecode" in ans["err_msg"],
                      "not an image: err_no 5000 naming the step", ans)

        # the seed's RPC client flow
        with st.Server([os.path.join(EXAMPLE, "models", "ppyolo_tiny_server")]) as srv:
            log = srv.logs()
            rpc_port = srv.port  # baidu_std shares the HTTP port
            out = os.path.join(work, "output")
            r = subprocess.run([sys.executable, os.path.join(EXAMPLE, "test_client.py"),
                                pics["png"], "--port", str(rpc_port), "--output", out],
                               capture_output=True, text=True, timeout=120)
            check(r.returncode == 0, "test_client.py", r.stdout, r.stderr, log[-2000:])
            with open(os.path.join(out, "bbox.json")) as f:
                got = json.load(f)
            rows = np.array([[b["category_id"], b["score"], b["bbox"][0], b["bbox"][1],
                              b["bbox"][0] + b["bbox"][2] - 1, b["bbox"][1] + b["bbox"][3] - 1]
                             for b in got], np.float64)
            ds, db = same_rows(rows, want["png"], "test_client.py bbox.json")
            drawn = cv2.imread(os.path.join(out, "shapes.png"))
            check(drawn is not None and drawn.shape == bgr.shape, "the picture written",
                  None if drawn is None else drawn.shape)
            print("  %-28s %d boxes in bbox.json (vs oracle: score diff %.2g, box diff %.2g px)"
                  % ("seed client flow (RPC)", len(got), ds, db))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("detection: pipeline and the seed's client flow match the oracle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
