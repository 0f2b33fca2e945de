#!/usr/bin/python3
"""Renders text into an image and prepares it as PaddleOCR's models expect.

No image library is needed: glyphs come from a built-in 5x7 bitmap font
(A-Z, 0-9, a little punctuation), scaled up and softened with a box blur so
edges look like rendered text rather than hard blocks.

PaddleOCR's preprocessing, reproduced here:
  det  resize so both sides are multiples of 32, x/255, minus mean
       (0.485, 0.456, 0.406), divided by std (0.229, 0.224, 0.225), HWC->CHW.
  rec  height 48, width by aspect ratio up to 320, (x/255 - 0.5)/0.5,
       zero-padded on the right to 320.
  cls  the same as rec with a 48x192 canvas.

    tools/models/ocr_input.py --text "HELLO SKIFF" --out DIR   (writes det/rec/cls .npy + a .pgm)
"""

import argparse
import os

import numpy as np

FONT = {
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
    "C": ["01110", "10001", "10000", "10000", "10000", "10001", "01110"],
    "D": ["11110", "10001", "10001", "10001", "10001", "10001", "11110"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "F": ["11111", "10000", "10000", "11110", "10000", "10000", "10000"],
    "G": ["01110", "10001", "10000", "10111", "10001", "10001", "01111"],
    "H": ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
    "I": ["01110", "00100", "00100", "00100", "00100", "00100", "01110"],
    "J": ["00111", "00010", "00010", "00010", "00010", "10010", "01100"],
    "K": ["10001", "10010", "10100", "11000", "10100", "10010", "10001"],
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
    "N": ["10001", "10001", "11001", "10101", "10011", "10001", "10001"],
    "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
    "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
    "Q": ["01110", "10001", "10001", "10001", "10101", "10010", "01101"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "U": ["10001", "10001", "10001", "10001", "10001", "10001", "01110"],
    "V": ["10001", "10001", "10001", "10001", "10001", "01010", "00100"],
    "W": ["10001", "10001", "10001", "10101", "10101", "10101", "01010"],
    "X": ["10001", "10001", "01010", "00100", "01010", "10001", "10001"],
    "Y": ["10001", "10001", "01010", "00100", "00100", "00100", "00100"],
    "Z": ["11111", "00001", "00010", "00100", "01000", "10000", "11111"],
    "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    "3": ["11111", "00010", "00100", "00010", "00001", "10001", "01110"],
    "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    "6": ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    "7": ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    "8": ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    "9": ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
    " ": ["00000"] * 7,
    "-": ["00000", "00000", "00000", "11111", "00000", "00000", "00000"],
    ".": ["00000", "00000", "00000", "00000", "00000", "01100", "01100"],
    ":": ["00000", "01100", "01100", "00000", "01100", "01100", "00000"],
    ",": ["00000", "00000", "00000", "00000", "01100", "00100", "01000"],
}


def render_line(text, scale=4):
    """Dark text on white, uint8 grayscale, height 9*scale (one-cell margin)."""
    text = text.upper()
    cell_w = 6  # 5 columns + 1 spacing
    h, w = 9, cell_w * len(text) + 3
    bitmap = np.zeros((h, w), np.float32)
    for k, ch in enumerate(text):
        glyph = FONT.get(ch, FONT[" "])
        for r, row in enumerate(glyph):
            for c, bit in enumerate(row):
                if bit == "1":
                    bitmap[1 + r, 2 + k * cell_w + c] = 1.0
    big = np.kron(bitmap, np.ones((scale, scale), np.float32))
    # A 3x3 box blur gives antialiased edges, as a font rasteriser would.
    pad = np.pad(big, 1, mode="edge")
    soft = sum(pad[i:i + big.shape[0], j:j + big.shape[1]] for i in range(3) for j in range(3)) / 9
    return (255.0 * (1.0 - soft)).clip(0, 255).astype(np.uint8)


def resize_bilinear(img, out_h, out_w):
    """Bilinear resize (half-pixel centres, as cv2.resize INTER_LINEAR)."""
    in_h, in_w = img.shape[:2]
    ys = (np.arange(out_h) + 0.5) * in_h / out_h - 0.5
    xs = (np.arange(out_w) + 0.5) * in_w / out_w - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, in_h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, in_w - 1)
    y1 = np.clip(y0 + 1, 0, in_h - 1)
    x1 = np.clip(x0 + 1, 0, in_w - 1)
    wy = np.clip(ys - y0, 0, 1)[:, None]
    wx = np.clip(xs - x0, 0, 1)[None, :]
    f = img.astype(np.float32)
    top = f[y0][:, x0] * (1 - wx) + f[y0][:, x1] * wx
    bot = f[y1][:, x0] * (1 - wx) + f[y1][:, x1] * wx
    return top * (1 - wy) + bot * wy


def page(lines, height=640, width=640, seed=0):
    """A white page with the lines placed at varied offsets and sizes."""
    rng = np.random.RandomState(seed)
    img = np.full((height, width), 255, np.uint8)
    y = 40
    for i, text in enumerate(lines):
        scale = 3 + (i % 3)
        line = render_line(text, scale)
        lh, lw = line.shape
        lw = min(lw, width - 20)
        x = int(rng.randint(10, max(11, width - lw - 10)))
        if y + lh > height - 10:
            break
        img[y:y + lh, x:x + lw] = np.minimum(img[y:y + lh, x:x + lw], line[:, :lw])
        y += lh + int(rng.randint(20, 60))
    # Paper noise, so the image is not perfectly flat.
    noise = rng.normal(0, 4, img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def det_tensor(gray):
    h, w = gray.shape
    nh, nw = max(32, int(round(h / 32)) * 32), max(32, int(round(w / 32)) * 32)
    img = resize_bilinear(gray, nh, nw) if (nh, nw) != (h, w) else gray.astype(np.float32)
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    chw = (img[None, :, :] / 255.0 - mean[:, None, None]) / std[:, None, None]
    return chw[None].astype(np.float32)


def line_tensor(gray, height=48, width=320):
    h, w = gray.shape
    new_w = min(width, max(1, int(np.ceil(height * w / h))))
    img = resize_bilinear(gray, height, new_w)
    norm = (img / 255.0 - 0.5) / 0.5
    out = np.zeros((3, height, width), np.float32)
    out[:, :, :new_w] = norm[None]
    return out[None]


def write_pgm(path, gray):
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (gray.shape[1], gray.shape[0]))
        f.write(gray.tobytes())


def main():
    ap = argparse.ArgumentParser(description="render text for the PaddleOCR models")
    ap.add_argument("--text", default="SKIFF SERVES PADDLE OCR 2024")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    line = render_line(args.text)
    doc = page([args.text, "MODEL SERVING IN C", "ONNX 13 - 42.5"])
    write_pgm(os.path.join(args.out, "page.pgm"), doc)
    write_pgm(os.path.join(args.out, "line.pgm"), line)
    np.save(os.path.join(args.out, "det.npy"), det_tensor(doc))
    np.save(os.path.join(args.out, "rec.npy"), line_tensor(line, 48, 320))
    np.save(os.path.join(args.out, "cls.npy"), line_tensor(line, 48, 192))


if __name__ == "__main__":
    main()
