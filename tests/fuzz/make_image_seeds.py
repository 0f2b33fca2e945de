#!/usr/bin/python3
"""make_image_seeds.py - writes the seed corpora of fuzz_image and fuzz_base64:
small JPEG (baseline, progressive, grey), PNG (RGB, grey, RGBA, palette,
16-bit, interlaced), WebP (lossy, lossless) images, truncations of each, and a
PNG header claiming 65535x65535 pixels."""
import base64, os, struct, sys, zlib
import cv2
import numpy as np

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
img_dir, b64_dir = os.path.join(root, "fuzz_image"), os.path.join(root, "fuzz_base64")
os.makedirs(img_dir, exist_ok=True)
os.makedirs(b64_dir, exist_ok=True)
rng = np.random.default_rng(7)
img = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
seeds = {
    "jpg": cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1],
    "prog.jpg": cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1],
    "grey.jpg": cv2.imencode(".jpg", img[:, :, 0])[1],
    "png": cv2.imencode(".png", img)[1],
    "grey.png": cv2.imencode(".png", img[:, :, 0])[1],
    "rgba.png": cv2.imencode(".png", np.dstack([img, img[:, :, :1]]))[1],
    "16.png": cv2.imencode(".png", img.astype(np.uint16) * 257)[1],
    "webp": cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 50])[1],
    "lossless.webp": cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 101])[1],
}
try:
    from PIL import Image
    import io
    for name, im, kw in [("pal.png", Image.fromarray(img).convert("P"), {}),
                         ("interlaced.png", Image.fromarray(img), {"interlace": 1})]:
        b = io.BytesIO(); im.save(b, format="PNG", **kw); seeds[name] = np.frombuffer(b.getvalue(), np.uint8)
except ImportError:
    pass
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
seeds["bomb.png"] = np.frombuffer(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 65535, 65535, 8, 2, 0, 0, 0))
                                  + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""), np.uint8)
for name, buf in seeds.items():
    data = bytes(buf)
    open(os.path.join(img_dir, "seed_" + name), "wb").write(data)
    open(os.path.join(img_dir, "trunc_" + name), "wb").write(data[: len(data) // 2])
for i, data in enumerate([b"", b"QQ==", b"QUJD", b"QUJDRA", b"QU JD\nRA==\r\n", b"-_-_", b"QUJD*RA==", b"Q===",
                          base64.b64encode(bytes(seeds["jpg"]))]):
    open(os.path.join(b64_dir, "seed_%d" % i), "wb").write(data)
