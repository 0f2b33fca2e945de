"""Pages of rendered text and the line scorer, shared by tests/integration/ocr_tests.py
and bench/ocr (which imports this file by path). Pillow only.

render() draws lines of text with Debian's fonts (DejaVu for Latin, WenQuanYi Micro
Hei for Chinese), optionally turned 180 degrees; match_lines() pairs each drawn line
with the answered line most like it; merge_lines() is the step MergeLines in Python. PP-OCRv4's Chinese recogniser often leaves out
the spaces between Latin words (onnxruntime gives the same text), so lines are
compared with whitespace removed.
"""
import base64
import difflib
import io

FONTS = {
    "sans": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "sans-bold": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "serif": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "mono": "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "cjk": "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
}


def render(font, size, lines, colours, rotate):
    """An RGB page: lines of text at size px, colours (background, ink)."""
    from PIL import Image, ImageDraw, ImageFont
    f = ImageFont.truetype(FONTS[font], size)
    pad, gap = size, size
    widths = [f.getbbox(t)[2] for t in lines]
    w = max(widths) + 2 * pad
    h = 2 * pad + len(lines) * size + (len(lines) - 1) * gap + size // 2
    img = Image.new("RGB", (w, h), colours[0])
    d = ImageDraw.Draw(img)
    for i, t in enumerate(lines):
        d.text((pad, pad + i * (size + gap)), t, font=f, fill=colours[1])
    if rotate:
        img = img.rotate(180)
    return img


def image_bytes(img, fmt):
    """The page as a JPEG (quality 90) or PNG file's bytes."""
    b = io.BytesIO()
    if fmt == "jpeg":
        img.save(b, "JPEG", quality=90)
    else:
        img.save(b, "PNG")
    return b.getvalue()


def encode(img, fmt):
    return base64.b64encode(image_bytes(img, fmt)).decode()


def norm(s):
    return "".join(s.split())


def match_lines(lines, text):
    """[(drawn line, the answered line most like it, similarity)] for each drawn line,
    whitespace removed; a line is read exactly when the two are equal."""
    got = [norm(t) for t in text]
    out = []
    for want in lines:
        best = max(got, key=lambda g: difflib.SequenceMatcher(None, norm(want), g).ratio(),
                   default="")
        out.append((want, best, difflib.SequenceMatcher(None, norm(want), best).ratio()))
    return out


def merge_lines(boxes, texts, scores, probs=None, drop=0.5, overlap=0.5, sep=" ", cls_thresh=0.9):
    """The step MergeLines (src/vision/ocr.c) in Python: the boxes of one text line joined
    in reading order -> (texts, float32 [L,4,2] line boxes, float32 [L] mean scores).
    tests/vision/test_steps.py checks the step against it."""
    import numpy as np
    items = []
    for i, (b, t, sc) in enumerate(zip(boxes, texts, scores)):
        if not sc >= drop or not t.strip(" \t\r\n"):
            continue
        b = np.asarray(b, np.float32)
        turned = probs is not None and probs[i][1] > probs[i][0] and probs[i][1] > cls_thresh
        items.append(dict(top=float(b[:, 1].min()), bottom=float(b[:, 1].max()), left=float(b[:, 0].min()),
                          right=float(b[:, 0].max()), t=t, s=float(sc), turned=turned, i=i))
    items.sort(key=lambda q: (q["top"] + q["bottom"], q["left"], q["i"]))
    lines = []
    for q in items:
        best, bo = None, overlap
        for L in lines:
            h = min(q["bottom"] - q["top"], L["bottom"] - L["top"])
            ov = min(q["bottom"], L["bottom"]) - max(q["top"], L["top"])
            o = ov / h if h > 0 else (1 if ov >= 0 else 0)
            if o >= bo and (best is None or o > bo):
                best, bo = L, o
        if best is None:
            lines.append(dict(top=q["top"], bottom=q["bottom"], left=q["left"], right=q["right"], m=[q]))
        else:
            best["m"].append(q)
            for k, f in (("top", min), ("bottom", max), ("left", min), ("right", max)):
                best[k] = f(best[k], q[k])
    if 2 * sum(q["turned"] for q in items) > len(items):
        lines.reverse()
    out_t, out_b, out_s = [], [], []
    for L in lines:
        m = sorted(L["m"], key=lambda q: q["left"])  # stable: equal left edges keep their order
        if 2 * sum(q["turned"] for q in m) > len(m):
            m.reverse()
        out_t.append(sep.join(q["t"] for q in m))
        out_b.append([[L["left"], L["top"]], [L["right"], L["top"]], [L["right"], L["bottom"]],
                      [L["left"], L["bottom"]]])
        out_s.append(np.mean([q["s"] for q in m]))
    return out_t, np.array(out_b, np.float32).reshape(-1, 4, 2), np.array(out_s, np.float32)
