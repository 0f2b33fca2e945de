#!/usr/bin/env python3
"""examples/image_classification/config.yml against a real `skiff serve --pipeline`.

Lines of text are drawn with Pillow (DejaVu Sans, 24 and 40 px) on a 4:1 page and
sent upright and turned 180 degrees, as PNG and JPEG; the pipeline's top-1 label
must be "0" for upright pages and "180" for turned ones, its two scores must sum
to 1 in descending order. A value that is not base64 answers err_no 5000 naming the
step. Without the npm models, Pillow or the font the test says so and exits 77
(CTest: skipped).

    classify_tests.py --skiff BIN
"""
import argparse
import base64
import io
import json
import os
import subprocess
import sys

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serve_tests as st  # noqa: E402

ROOT = st.ROOT
EXAMPLE = os.path.join(ROOT, "examples", "image_classification")
MODEL = os.path.join(ROOT, "third_party", "npm", "node_modules", "@gutenye", "ocr-models",
                     "assets", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = ["Hello world", "Skiff serves models", "Invoice 2024"]
SKIP = 77
check = st.check


def page(text, size, turned, fmt):
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.truetype(FONT, size)
    tw = font.getbbox(text)[2]
    w = tw + size // 2
    h = w // 4
    img = Image.new("RGB", (w, h), "white")
    ImageDraw.Draw(img).text(((w - tw) // 2, (h - size) // 2 - size // 8), text, font=font,
                             fill="black")
    if turned:
        img = img.rotate(180)
    b = io.BytesIO()
    img.save(b, fmt)
    return base64.b64encode(b.getvalue()).decode()


def post(srv, value):
    r = requests.post(srv.url + "/classify/prediction", timeout=60,
                      data=json.dumps({"key": ["image"], "value": [value]}))
    check(r.status_code == 200, "HTTP status", r.status_code, r.text[:300])
    return r.json()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skiff", required=True)
    args = ap.parse_args()
    st.SKIFF = os.path.abspath(args.skiff)
    try:
        import PIL  # noqa: F401
    except ImportError:
        print("skip: Pillow is missing")
        return SKIP
    if not os.path.exists(FONT) or not os.path.exists(MODEL):
        print("skip: %s or %s is missing (scripts/install-deps.sh)" % (FONT, MODEL))
        return SKIP
    if not os.path.exists(os.path.join(EXAMPLE, "models", "cls", "model.onnx")):
        r = subprocess.run([os.path.join(EXAMPLE, "prepare.sh"), st.SKIFF], capture_output=True,
                           text=True, timeout=300)
        check(r.returncode == 0, "prepare.sh", r.stdout, r.stderr)
    right = total = 0
    with st.Server(None, "--pipeline", os.path.join(EXAMPLE, "config.yml")) as srv:
        for text in LINES:
            for size in (24, 40):
                for turned in (False, True):
                    fmt = "PNG" if size == 24 else "JPEG"
                    ans = post(srv, page(text, size, turned, fmt))
                    check(ans["err_no"] == 0, "no error", ans)
                    kv = dict(zip(ans["key"], ans["value"]))
                    labels, scores = json.loads(kv["labels"]), json.loads(kv["scores"])
                    check(len(labels) == 1 and sorted(labels[0]) == ["0", "180"],
                          "both labels, one row", labels)
                    check(scores[0][0] >= scores[0][1] and abs(sum(scores[0]) - 1) < 1e-4,
                          "scores in order, summing to 1", scores)
                    want = "180" if turned else "0"
                    total += 1
                    right += labels[0][0] == want
                    print("  %-20s %2d px %-4s %-7s -> %-3s (%.4f)" % (
                        text, size, fmt, "turned" if turned else "upright", labels[0][0],
                        scores[0][0]))
                    check(labels[0][0] == want, "top-1 label", text, size, turned, ans)
        ans = post(srv, "not base64 !")
        check(ans["err_no"] == 5000 and "Base64Decode" in ans["err_msg"],
              "not base64: err_no 5000 naming the step", ans)
    print("classify: %d of %d pages right" % (right, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
