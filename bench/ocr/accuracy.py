#!/usr/bin/env python3
"""Line accuracy of skiff's OCR service (examples/ocr/config.yml and variants of its
step parameters) and, for reference, the npm paddleocr library; no timing.

    accuracy.py --skiff BIN [--set A|B] [--images N] [--variant NAME:STEP.KEY=VALUE,...]...
                [--own-width] [--peer paddleocr --modules DIR --assets DIR] [--json FILE]

Image sets are fixed: set A (seeds 7001-) to choose parameters, set B (seeds 8001-) to
confirm a choice on pages the choice was not made on. Each seed renders 20 pages with
bench/ocr/bench.py's make_set (tests/integration/ocr_pages.py: Latin in DejaVu Sans, Serif,
Mono and Sans Bold, Chinese and mixed lines in WenQuanYi Micro Hei, 20-44 px, 1-5 lines,
some pages turned 180 degrees, JPEG and PNG); --images 400 is 20 seeds.

A variant is skiff's config with step parameters changed (STEP#N: only the N-th step of
that name, e.g. RecResizeImg#2 is the recogniser's, #1 the classifier's), e.g.
`--variant "unclip_ratio 1.8:DBPostProcess.unclip_ratio=1.8"` or
`--variant "m1:GetRotateCropImage.margin=1,DBPostProcess.unclip_points=float"`;
`local_service_conf.KEY=VALUE` sets a key of every model op, e.g.
`--variant "bf16:local_service_conf.precision=bf16"`. Each variant is also held against
the default config's reading: the drawn lines both read the same.
--own-width also reads every crop of the default config at its own width (one crop per
recogniser run, width 48 * max(320/48, w/h), as PaddleOCR's rec_batch_num 1), instead of
padded to the widest crop of its image: the crops come from skiff's answer, each one is
read by a second skiff serving only the recogniser, and the lines are joined as MergeLines
joins them (the same rule in Python). Lines are scored as bench.py and
tests/integration/ocr_tests.py score them: each drawn line against the answered line most
like it, whitespace removed; exact when equal.
"""
import argparse
import base64
import io
import json
import os
import re
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

SETS = {"A": 7001, "B": 8001}
PER_SEED = 20
OCR_DIR = os.path.join(bench.ROOT, "examples", "ocr")

REC_ONLY = """name: ocr
worker_num: 1
dag:
    is_thread_op: true
op:
    rec:
        concurrency: 1
        preprocess:
            - Base64Decode: {in: image, out: image_bytes}
            - ImageDecode: {out: img}
            - RecResizeImg: {in: img, rec_image_shape: [3, 48, 320], out: rec_x}
            - Stack: {in: rec_x, out: rec_x}
        local_service_conf:
            model_config: %(models)s/rec
            client_type: local_predictor
        postprocess:
            - CTCLabelDecode: {in: rec_probs, character_dict_path: %(models)s/ppocr_keys_v1.txt, use_space_char: true, out: [text_lines, text_scores]}
            - ToString: {in: text_lines, json: true, out: text}
            - ToString: {in: text_scores, json: true, out: scores}
"""


def image_set(name, n, folder):
    """The fixed pages of set name: n pages, PER_SEED per seed."""
    used = set()
    out = []
    seed = SETS[name]
    while len(out) < n:
        k = min(PER_SEED, n - len(out))
        out += bench.make_set(os.path.join(folder, "s%d" % seed), seed, k, used)
        seed += 1
    return out


def variant_config(base, changes):
    """config.yml's text with STEP.KEY=VALUE changes applied to each `- STEP: {...}`
    line (a key set anew or added) and the model paths made absolute."""
    text = base
    for ch in changes:
        m = re.fullmatch(r"local_service_conf\.(\w+)=(.+)", ch)
        if m:  # every model's: e.g. local_service_conf.precision=bf16
            text = re.sub(r"^(\s*)local_service_conf:\n",
                          lambda mm: "%slocal_service_conf:\n%s    %s: %s\n" % (
                              mm.group(1), mm.group(1), m.group(1), m.group(2)), text, flags=re.M)
            continue
        m = re.fullmatch(r"(\w+)(?:#(\d+))?\.(\w+)=(.+)", ch)
        if not m:
            raise SystemExit("variant: expected STEP[#N].KEY=VALUE, got %r" % ch)
        step, nth, key, value = m.groups()
        pat = re.compile(r"^(\s*- %s: \{)(.*)\}\s*$" % step, re.M)
        if not pat.search(text):
            raise SystemExit("variant: no step %s in the config" % step)
        seen = [0]

        def edit(mm):
            seen[0] += 1
            if nth and seen[0] != int(nth):  # STEP#N: only the N-th such step
                return mm.group(0)
            body = mm.group(2)
            kv = re.compile(r"\b%s: (\[[^\]]*\]|[^,}]+)" % key)
            if kv.search(body):
                body = kv.sub("%s: %s" % (key, value), body)
            else:
                body = body.rstrip() + ", %s: %s" % (key, value)
            return mm.group(1) + body + "}"
        text = pat.sub(edit, text)
    return text.replace(" models/", " %s/models/" % OCR_DIR)


def score(images, answers):
    exact, total, misses = 0, 0, []
    for im, lines in zip(images, answers):
        for want, best, _ in bench.pages.match_lines(im["lines"], lines):
            total += 1
            if best == bench.pages.norm(want):
                exact += 1
            else:
                misses.append((want, best))
    return exact, total, misses


def agreement(images, answers, reference):
    """Drawn lines whose best-matching answer line is the same in both runs."""
    same = total = 0
    for im, a, r in zip(images, answers, reference):
        ma = bench.pages.match_lines(im["lines"], a)
        mr = bench.pages.match_lines(im["lines"], r)
        for (_, best_a, _), (_, best_r, _) in zip(ma, mr):
            total += 1
            same += best_a == best_r
    return same, total


def crop_png(crops, sizes, i):
    """Crop i of the answer's padded batch as PNG bytes (BGR pixels stored as RGB, so
    that ImageDecode gives back the same BGR)."""
    from PIL import Image
    h, w = sizes[i]
    a = np.asarray(crops[i], np.uint8)[:h, :w, ::-1]
    b = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(b, "PNG")
    return b.getvalue()


def run_skiff(binary, config_text, images, tmp, name, conc, own_width=False):
    path = os.path.join(tmp, name + ".yml")
    if own_width:
        config_text = config_text.rstrip("\n") + """
            - ToString: {in: crops, json: true, out: crops}
            - ToString: {in: crop_sizes, json: true, out: crop_sizes}
            - ToString: {in: cls_probs, json: true, out: cls_probs}
"""
    with open(path, "w") as f:
        f.write(config_text)
    srv = bench.Skiff(binary, path, tmp, name)
    rec = None
    try:
        if own_width:
            rpath = os.path.join(tmp, name + "-rec.yml")
            with open(rpath, "w") as f:
                f.write(REC_ONLY % {"models": os.path.join(OCR_DIR, "models")})
            rec = bench.Skiff(binary, rpath, tmp, name + "-rec")

        def one(session, im):
            kv = srv.call(session, srv.body(im["file"]))
            ans = {"lines": json.loads(kv["lines"]), "box_texts": json.loads(kv["text"])}
            if own_width:
                crops, sizes = json.loads(kv["crops"]), json.loads(kv["crop_sizes"])
                texts, scores = [], []
                for i in range(len(sizes)):
                    body = json.dumps({"key": ["image"], "value": [
                        base64.b64encode(crop_png(crops, sizes, i)).decode()]})
                    r = rec.call(session, body)
                    texts.append(json.loads(r["text"])[0])
                    scores.append(json.loads(r["scores"])[0])
                ans["own_lines"] = bench.pages.merge_lines(json.loads(kv["boxes"]), texts, scores,
                                                           json.loads(kv["cls_probs"]))[0]
                ans["own_box_texts"] = texts
            return ans
        return bench.run_parallel(one, images, conc)
    finally:
        srv.close()
        if rec:
            rec.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", default=os.path.join(bench.ROOT, "build", "skiff"))
    ap.add_argument("--set", default="A", choices=sorted(SETS))
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME:STEP.KEY=VALUE[,STEP.KEY=VALUE...]")
    ap.add_argument("--no-default", action="store_true", help="only the variants")
    ap.add_argument("--own-width", action="store_true")
    ap.add_argument("--peer", default="", help="paddleocr (or gutenye, ppu)")
    ap.add_argument("--modules")
    ap.add_argument("--assets")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="skiff-ocr-acc-")
    images = image_set(args.set, args.images, tmp)
    n_lines = sum(len(im["lines"]) for im in images)
    print("# set %s: %d images, %d lines, %d turned, %d JPEG; in %s" % (
        args.set, len(images), n_lines, sum(im["rotated"] for im in images),
        sum(im["file"].endswith(".jpg") for im in images), tmp), flush=True)
    base = open(bench.CONFIG).read()
    runs = [] if args.no_default else [("default", [])]
    for v in args.variant:
        name, _, spec = v.rpartition(":")
        runs.append((name, [c for c in spec.split(",") if c]))
    for _, changes in runs:  # a bad change fails here, before any run
        variant_config(base, changes)

    results = {}

    def report(name, answers, key="lines"):
        exact, total, misses = score(images, [a[key] for a in answers])
        results[name] = {"exact": exact, "total": total, "misses": misses}
        print("| %s | %d of %d | %.2f%% | %s |" % (name, exact, total, 100.0 * exact / total,
                                                   "; ".join("%s -> %s" % m for m in misses[:3])),
              flush=True)
        if args.json:  # after every system, so that a long run that is stopped keeps its results
            with open(args.json, "w") as f:
                json.dump({"set": args.set, "images": len(images), "lines": n_lines,
                           "results": results}, f, indent=1, ensure_ascii=False)

    if args.peer:  # first: the reference every variant is held against
        peer = bench.Peer(args.peer, args.modules, args.assets, images[0]["file"], tmp)
        try:
            _, out = peer.run(images, 1)
        finally:
            peer.close()
        report(args.peer, [{"lines": o["lines"]} for o in out])
    default_lines = None
    for name, changes in runs:
        own = args.own_width and name == "default"
        ans = run_skiff(args.skiff, variant_config(base, changes), images, tmp,
                        re.sub(r"\W", "_", name), args.concurrency, own)
        report(name, ans)
        if name == "default":
            default_lines = [a["lines"] for a in ans]
        elif default_lines is not None:
            same, total = agreement(images, [a["lines"] for a in ans], default_lines)
            results[name]["same_as_default"] = same
            print("|   %s reads %d of %d lines as the default does (%.2f%%) |" % (
                name, same, total, 100.0 * same / max(1, total)), flush=True)
        if own:
            report("default, each crop at its own width", ans, "own_lines")


if __name__ == "__main__":
    main()
