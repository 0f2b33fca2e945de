"""Pages of rendered text and the line scorer, shared by tests/integration/ocr_tests.py
and bench/ocr (which imports this file by path). Pillow only.

render() draws lines of text with Debian's fonts (DejaVu for Latin, WenQuanYi Micro
Hei for Chinese), optionally turned 180 degrees; match_lines() pairs each drawn line
with the answered line most like it. PP-OCRv4's Chinese recogniser often leaves out
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
