#!/usr/bin/env python3
"""skiff's OCR service against npm OCR libraries in Node, on the same images in the
same run. bench/ocr/run.sh installs the libraries and calls this; run.sh --help says
what is measured.

    bench.py --skiff BIN --modules DIR --assets DIR [--rounds R] [--images N]
             [--peers a,b,c] [--concurrency 1,4] [--no-stages] [--json FILE]

Images: every (round, concurrency) gets its own set of N pages rendered here with
tests/integration/ocr_pages.py (Latin and Chinese, 20-44 px, 1-5 lines, some turned
180 degrees, JPEG and PNG); no two images of the whole run have the same size, so
neither skiff nor a library has seen an image's size before it is measured. Each
system is warmed up once, on a page of yet another size, before the first round.
"""
import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import ocr_pages as pages  # noqa: E402

CONFIG = os.path.join(ROOT, "examples", "ocr", "config.yml")
STAGES = os.path.join(HERE, "stages.yml")
PEER_JS = os.path.join(HERE, "peer.mjs")
PEERS = {"gutenye": "@gutenye/ocr-node", "ppu": "ppu-paddle-ocr", "paddleocr": "paddleocr"}

LATIN = [
    "Skiff serves models over HTTP", "Invoice number 20240517", "Total amount 1234.50",
    "The quick brown fox", "jumps over the lazy dog", "Pack my box with five dozen jugs",
    "OPEN 24 HOURS", "Welcome", "Order 58213 shipped", "Customer service desk",
    "Meeting room B", "Delivery on Monday", "Price 49.99 EUR", "Account balance",
    "Please keep the door closed", "Exit", "Platform 9", "Tel 555 0199",
    "Batch size and latency", "Model version 3", "Hello world", "Reading text from images",
    "Receipt", "Thank you for shopping", "Quantity 12", "Room 204", "Open source software",
    "return 0", "port = 9393", "def main(argv):",
]
CHINESE = [
    "今天天气很好", "我们一起去公园散步", "欢迎使用文字识别服务", "中华人民共和国",
    "北京大学图书馆", "文字方向分类器", "把倒置的图片转正", "请保持安静", "出口在左边",
    "营业时间上午九点", "会议室在三楼", "欢迎光临", "谢谢您的支持", "火车站", "人民医院",
    "学生证", "禁止吸烟", "新年快乐", "电子邮件地址", "数据中心",
]
MIXED = [
    "模型服务 Model Serving", "版本 2024", "电话 010-62751234", "第 3 号楼", "价格 128 元",
    "型号 A100", "房间 305", "订单 77812",
]
# (script, font, format, turned 180 degrees)
KINDS = [
    ("latin", "sans", "jpeg", False), ("latin", "serif", "png", False),
    ("latin", "mono", "png", False), ("latin", "sans-bold", "jpeg", False),
    ("latin", "serif", "jpeg", False), ("chinese", "cjk", "jpeg", False),
    ("chinese", "cjk", "png", False), ("mixed", "cjk", "jpeg", False),
    ("mixed", "cjk", "png", False), ("latin", "sans", "png", True),
    ("chinese", "cjk", "jpeg", True), ("latin", "sans-bold", "png", False),
]
COLOURS = [("white", "black"), ((245, 240, 225), (30, 30, 80)), ((230, 230, 230), "black"),
           ("white", (120, 0, 0)), ((250, 250, 240), (0, 60, 0)), ("white", (0, 0, 90))]


def make_page(rng, kind, used):
    """(PIL image, lines) of a size not in used (which it joins)."""
    from PIL import ImageOps
    script, font, fmt, rot = kind
    pool = {"latin": LATIN, "chinese": CHINESE, "mixed": MIXED}[script]
    lines = rng.sample(pool, rng.randint(1, 5))
    colours = rng.choice(COLOURS)
    img = pages.render(font, rng.randint(20, 44), lines, colours, rot)
    grow = 0
    while (img.size[0] + grow, img.size[1] + grow // 2) in used:
        grow += 1
    if grow:  # a margin on the right and at the bottom, in the background colour
        img = ImageOps.expand(img, (0, 0, grow, grow // 2), fill=colours[0])
    used.add(img.size)
    return img, lines


def make_set(folder, seed, n, used):
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        img, lines = make_page(rng, kind, used)
        path = os.path.join(folder, "%02d.%s" % (i, "jpg" if kind[2] == "jpeg" else "png"))
        with open(path, "wb") as f:
            f.write(pages.image_bytes(img, kind[2]))
        out.append({"file": path, "lines": lines, "size": list(img.size), "rotated": kind[3],
                    "script": kind[0]})
    return out


# ---- skiff ------------------------------------------------------------------------------

def run_parallel(fn, items, conc):
    """[fn(session, item) for item in items], conc threads at once, each with its own
    requests session; a slot stays None when its call raised."""
    out = [None] * len(items)
    nxt = [0]
    lock = threading.Lock()

    def worker():
        s = requests.Session()
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(items):
                return
            out[i] = fn(s, items[i])
    ts = [threading.Thread(target=worker) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


class Skiff:
    def __init__(self, binary, config, tmp, name, flags=()):
        self.port_file = os.path.join(tmp, name + ".port")
        self.log = open(os.path.join(tmp, name + ".log"), "w")
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [binary, "serve", "--pipeline", config, "--port", "0", "--port_file",
             self.port_file, "--log_level", "warn", *flags], stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env)
        t0 = time.time()
        while not (os.path.exists(self.port_file) and open(self.port_file).read().strip()):
            if self.proc.poll() is not None or time.time() - t0 > 120:
                raise SystemExit("skiff serve did not start; log: " + self.log.name)
            time.sleep(0.05)
        self.url = "http://127.0.0.1:%s/ocr/prediction" % open(self.port_file).read().strip()

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()

    @staticmethod
    def body(path, profile=False):
        with open(path, "rb") as f:
            value = base64.b64encode(f.read()).decode()
        d = {"key": ["image"], "value": [value]}
        if profile:
            d["key"].append("pipeline.profile")
            d["value"].append("1")
        return json.dumps(d)

    def call(self, session, body):
        r = session.post(self.url, data=body, timeout=300)
        ans = r.json()
        if r.status_code != 200 or ans.get("err_no") != 0:
            raise SystemExit("skiff answered %s: %s" % (r.status_code, r.text[:300]))
        return dict(zip(ans["key"], ans["value"]))

    def run(self, images, conc, profile=False):
        """(wall ms, [{file, ms, lines, profile}]) with conc callers at once."""
        bodies = [self.body(im["file"], profile) for im in images]

        def one(s, i):
            t0 = time.perf_counter()
            kv = self.call(s, bodies[i])
            ms = (time.perf_counter() - t0) * 1000
            # the answer's text lines (MergeLines), as the libraries answer
            # lines; "text" has one entry per detected box
            return {"file": images[i]["file"], "ms": ms,
                    "lines": json.loads(kv.get("lines", kv["text"])),
                    "box_texts": json.loads(kv["text"]),
                    "boxes": json.loads(kv["boxes"]), "profile": kv.get("pipeline.profile")}

        t0 = time.perf_counter()
        out = run_parallel(one, range(len(images)), conc)
        wall = (time.perf_counter() - t0) * 1000
        if any(o is None for o in out):
            raise SystemExit("skiff: a caller failed")
        return wall, out


# ---- peers ------------------------------------------------------------------------------

class Peer:
    """One library in one long-lived Node process (bench/ocr/peer.mjs)."""

    def __init__(self, name, modules, assets, warmup, tmp):
        self.name = name
        self.err = open(os.path.join(tmp, name + ".log"), "w")
        self.proc = subprocess.Popen(
            ["node", PEER_JS, "--peer", name, "--modules", modules, "--assets", assets,
             "--warmup", warmup], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.err, text=True)
        ready = self.proc.stdout.readline()
        if not ready:
            raise SystemExit("peer %s did not start; log: %s" % (name, self.err.name))
        self.load_ms = json.loads(ready)["load_ms"]

    def run(self, images, conc):
        self.proc.stdin.write(json.dumps({"files": [im["file"] for im in images],
                                          "concurrency": conc}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("peer %s stopped; log: %s" % (self.name, self.err.name))
        d = json.loads(line)
        return d["wall_ms"], d["images"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.err.close()


# ---- figures ----------------------------------------------------------------------------

def pct(xs, p):
    """The p-th percentile, nearest rank (never interpolated)."""
    xs = sorted(xs)
    k = max(1, -(-p * len(xs) // 100))
    return xs[int(k) - 1]


def floor(x, digits):
    m = 10 ** digits
    return int(x * m) / m


def score(images, results):
    exact = total = 0
    sims = []
    misses = []
    for im, res in zip(images, results):
        for want, best, sim in pages.match_lines(im["lines"], res["lines"]):
            total += 1
            exact += best == pages.norm(want)
            sims.append(sim)
            if best != pages.norm(want):
                misses.append((want, best))
    return exact, total, sims, misses


def parse_profile(text):
    """{op: (start ms, end ms)} of a pipeline.profile value."""
    out = {}
    for part in text.split("; "):
        name, rest = part.split(": ", 1)
        f = rest.replace(",", "").split()
        out[name] = (float(f[1]), float(f[4]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", required=True)
    ap.add_argument("--modules", required=True)
    ap.add_argument("--assets", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--peers", default="gutenye,ppu,paddleocr")
    ap.add_argument("--concurrency", default="1,4")
    ap.add_argument("--no-stages", action="store_true")
    ap.add_argument("--skiff-variant", action="append", default=[],
                    help="also run skiff serve with these extra flags (a system of its own);"
                    " config=FILE among them serves that pipeline file")
    ap.add_argument("--json")
    args = ap.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in PEERS:
            raise SystemExit("unknown peer %s (%s)" % (p, ", ".join(PEERS)))
    concs = [int(c) for c in args.concurrency.split(",")]

    tmp = tempfile.mkdtemp(prefix="skiff-bench-ocr-")
    used = set()
    warm, _ = make_page(random.Random(-1), KINDS[0], used)
    warm_path = os.path.join(tmp, "warmup.png")
    with open(warm_path, "wb") as f:
        f.write(pages.image_bytes(warm, "png"))
    sets = {}
    for r in range(args.rounds):
        for c in concs:
            sets[r, c] = make_set(os.path.join(tmp, "r%d-c%d" % (r, c)), 1000 * r + c,
                                  args.images, used)
    stage_set = make_set(os.path.join(tmp, "stages"), 99999, args.images, used)
    n_lines = sum(len(im["lines"]) for s in sets.values() for im in s)
    print("# images: %d sets of %d (%d lines), every image a size of its own, %d-%d x %d-%d px;"
          " in %s" % (len(sets), args.images, n_lines, min(w for w, h in used),
                      max(w for w, h in used), min(h for w, h in used),
                      max(h for w, h in used), tmp))
    print("# load average at the start: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    sys.stdout.flush()

    systems = {}
    skiffs = ["skiff"]
    systems["skiff"] = Skiff(args.skiff, CONFIG, tmp, "skiff")
    for i, flags in enumerate(args.skiff_variant):
        name = "skiff " + flags
        skiffs.append(name)
        # "config=FILE" among the flags serves another pipeline file
        words = flags.split()
        conf = [w[len("config="):] for w in words if w.startswith("config=")]
        words = [w for w in words if not w.startswith("config=")]
        systems[name] = Skiff(args.skiff, conf[-1] if conf else CONFIG, tmp, "skiff%d" % i,
                              words)
    for n in skiffs:
        systems[n].run([{"file": warm_path}], 1)
    for p in peers:
        systems[p] = Peer(p, args.modules, args.assets, warm_path, tmp)
    names = list(systems)

    res = {(n, c): {"ips": [], "ms": [], "images": [], "results": []} for n in names for c in concs}
    try:
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for c in concs:
                for n in order:
                    wall, out = systems[n].run(sets[r, c], c)
                    d = res[n, c]
                    d["ips"].append(len(out) / wall * 1000)
                    d["ms"] += [o["ms"] for o in out]
                    d["images"] += sets[r, c]
                    d["results"] += out
                    print("round %d  c=%d  %-10s %6.3f images/s" % (r + 1, c, n, d["ips"][-1]))
                    sys.stdout.flush()
    finally:
        for s in systems.values():
            s.close()
    print("# load average after the rounds: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))

    # accuracy over every image each system read (all rounds, all concurrencies)
    acc = {}
    for n in names:
        ims = [im for c in concs for im in res[n, c]["images"]]
        rs = [o for c in concs for o in res[n, c]["results"]]
        exact, total, sims, misses = score(ims, rs)
        acc[n] = (exact, total, statistics.mean(sims), misses)

    print()
    print("| system | clients | images/s median | images/s best | p50 ms | p99 ms | min ms |"
          " skiff / it (median, best) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}
    for c in concs:
        sk = res["skiff", c]["ips"]
        for n in names:
            d = res[n, c]
            med, best = statistics.median(d["ips"]), max(d["ips"])
            ratio = "" if n in skiffs else "%.2f, %.2f" % (
                floor(statistics.median(sk) / med, 2), floor(max(sk) / best, 2))
            print("| %s | %d | %.3f | %.3f | %.0f | %.0f | %.0f | %s |" % (
                n, c, floor(med, 3), floor(best, 3), pct(d["ms"], 50), pct(d["ms"], 99),
                min(d["ms"]), ratio))
            summary["%s@%d" % (n, c)] = {"ips": d["ips"], "p50": pct(d["ms"], 50),
                                         "p99": pct(d["ms"], 99), "min": min(d["ms"])}
    print()
    print("| system | lines exact | share | mean similarity | misses (first 4) |")
    print("|---|---:|---:|---:|---|")
    for n in names:
        exact, total, sim, misses = acc[n]
        print("| %s | %d of %d | %.1f%% | %.3f | %s |" % (
            n, exact, total, floor(100 * exact / total, 1), floor(sim, 3),
            "; ".join("%s -> %s" % m for m in misses[:4])))
        summary[n + ".accuracy"] = {"exact": exact, "total": total, "similarity": sim,
                                    "misses": misses}
    for n in skiffs:
        ims = [im for c in concs for im in res[n, c]["images"]]
        rs = [{"lines": o["box_texts"]} for c in concs for o in res[n, c]["results"]]
        exact, total, sim, _ = score(ims, rs)
        print("%s per detected box (the answer's text, before MergeLines): %d of %d exact "
              "(%.1f%%)" % (n, exact, total, floor(100 * exact / total, 1)))
        summary[n + ".accuracy_per_box"] = {"exact": exact, "total": total}

    for c in concs:
        fastest = max((p for p in peers), key=lambda p: statistics.median(res[p, c]["ips"]),
                      default=None)
        for n in skiffs if fastest else []:
            r = statistics.median(res[n, c]["ips"]) / statistics.median(res[fastest, c]["ips"])
            print("c=%d: %s %.2fx the fastest library (%s), target 1.5x: %s" % (
                c, n, floor(r, 2), PEERS[fastest], "met" if r >= 1.5 else "not met"))
    for n in skiffs if peers else []:
        best_acc = max(acc[p][0] / acc[p][1] for p in peers)
        mine = acc[n][0] / acc[n][1]
        print("accuracy: %s %.1f%%, the most accurate library %.1f%%: %s" % (
            n, floor(100 * mine, 1), floor(100 * best_acc, 1),
            "met" if mine >= best_acc else "not met"))

    if not args.no_stages:
        summary["stages"] = stages(args.skiff, stage_set, tmp, warm_path)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


def stage_times(out):
    """{stage: [ms per image]} from the answers' pipeline.profile values, with
    "outside" (the client's time less the last op's end: HTTP, JSON, queues) and
    "request" (the client's time)."""
    per = {}
    for o in out:
        prof = parse_profile(o["profile"])
        for op, (a, e) in prof.items():
            per.setdefault(op, []).append(e - a)
        per.setdefault("outside", []).append(o["ms"] - max(e for a, e in prof.values()))
        per.setdefault("request", []).append(o["ms"])
    return per


def stages(binary, images, tmp, warm_path):
    """Per-stage time: bench/ocr/stages.yml is examples/ocr/config.yml with each
    stage as an op of its own, so that pipeline.profile times each one; one caller,
    the set once (sizes new to the server), then again (sizes it has run)."""
    srv = Skiff(binary, STAGES, tmp, "stages")
    try:
        srv.run([{"file": warm_path}], 1, profile=True)
        w_new, new = srv.run(images, 1, profile=True)
        w_rep, rep = srv.run(images, 1, profile=True)
    finally:
        srv.close()
    a, b = stage_times(new), stage_times(rep)
    total = statistics.median(a["request"])
    print()
    print("Per stage (bench/ocr/stages.yml, 1 caller, %d images: new sizes %.3f images/s, "
          "the same images again %.3f images/s):" % (
              len(new), floor(len(new) / w_new * 1000, 3), floor(len(rep) / w_rep * 1000, 3)))
    print("| stage | new sizes: median ms | min ms | max ms | share | repeated: median ms |"
          " min ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for op in a:
        m = statistics.median(a[op])
        share = "" if op == "request" else "%.1f%%" % floor(100 * m / total, 1)
        print("| %s | %.2f | %.2f | %.2f | %s | %.2f | %.2f |" % (
            op, m, min(a[op]), max(a[op]), share, statistics.median(b[op]), min(b[op])))
    # the recogniser's input: each crop on its own (split rows 1) at 48 * max(320/48, w/h)
    # columns, rounded up to the config's width bucket (RecResizeImg width_multiple 160),
    # against one batch per image padded to its widest crop
    padded = own = bucketed = 0
    for o in new:
        ws = []
        for box in o["boxes"]:
            w = max(abs(box[1][0] - box[0][0]), 1)
            h = max(abs(box[3][1] - box[0][1]), 1)
            ws.append(max(48 * w / h, 320))
        if ws:
            padded += len(ws) * max(ws)
            own += sum(ws)
            bucketed += sum(-(-int(w) // 160) * 160 for w in ws)
    if own:
        print("rec input columns: %d, each crop at its own width; %d in width buckets of 160 "
              "(%.2fx); %d padded to the widest crop of each image (%.2fx)" % (
                  own, bucketed, floor(bucketed / own, 2), padded, floor(padded / own, 2)))
    return {"new": a, "repeated": b}


if __name__ == "__main__":
    main()
