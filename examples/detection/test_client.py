#!/usr/bin/python3
"""The seed's image-detection client flow (paddle_serving_client + the
paddle_serving_app readers) against `skiff serve --model` with the PP-YOLO tiny
export: image file -> preprocess -> predict over RPC -> boxes drawn on the
picture, written to output/ with bbox.json.

    python3 test_client.py IMAGE [--port 9494] [--output output]

PaddleDetection's preprocessing for this model (infer_cfg.yml): RGB, Resize
320x320 (cubic, aspect not kept), NormalizeImage (x/255, ImageNet mean and std),
Permute. The model also takes im_shape (the resized H, W) and scale_factor
(resized over source), and answers boxes in the source image's pixels."""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from paddle_serving_client import Client  # noqa: E402
from paddle_serving_app.reader import (BGR2RGB, Div, File2Image, Normalize,  # noqa: E402
                                       RCNNPostprocess, Resize, Sequential, Transpose)

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("image")
ap.add_argument("--port", type=int, default=9494)
ap.add_argument("--output", default="output")
args = ap.parse_args()

preprocess = Sequential([
    File2Image(), BGR2RGB(), Resize((320, 320), interpolation=2), Div(255.0),
    Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], False), Transpose((2, 0, 1))
])
postprocess = RCNNPostprocess(os.path.join(HERE, "models", "label_list.txt"), args.output)
client = Client()
client.load_client_config(os.path.join(HERE, "models", "ppyolo_tiny_client",
                                       "serving_client_conf.prototxt"))
client.connect(["127.0.0.1:%d" % args.port])

h, w = File2Image()(args.image).shape[:2]
im = preprocess(args.image)
fetch_map = client.predict(
    feed={"image": im,
          "im_shape": np.array([320, 320], np.float32),
          "scale_factor": np.array([320.0 / h, 320.0 / w], np.float32)},
    fetch=["multiclass_nms3_0.tmp_0"], batch=False)
fetch_map["image"] = args.image
boxes = postprocess(fetch_map)
shown = [b for b in boxes if b["score"] >= 0.5]
print("%d boxes (%d with score >= 0.5) -> %s" % (len(boxes), len(shown),
                                                 os.path.join(args.output, "bbox.json")))
