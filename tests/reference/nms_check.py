#!/usr/bin/python3
"""NonMaxSuppression at detector sizes against ONNX Runtime.

The conformance cases hold a handful of boxes; exported detectors hand NMS
thousands (torchvision's batched_nms shifts each class's boxes apart and runs
one NMS over all of them), where skiff buckets the kept boxes by x. Each case
is a one-node model run by `skiff run` and by ONNX Runtime on the same seeded
inputs; the selected (batch, class, box) triples must be identical:
  - clustered boxes (many overlaps) and boxes spread over 90 shifted classes;
  - both box formats (corners either way round, centre + size);
  - score thresholds, max_output_boxes_per_class limits, IoU 0 and 1;
  - boxes of zero area, equal scores, and a box with a NaN coordinate.
Exit status 0 when all match, 1 on a mismatch, 77 when ORT cannot run here.

    tests/reference/nms_check.py --skiff build/skiff
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check  # noqa: E402


def model(path, center, with_limits):
    import onnx
    from onnx import TensorProto, helper
    ins = ["boxes", "scores"] + (["max_out", "iou", "score_thr"] if with_limits else [])
    node = helper.make_node("NonMaxSuppression", ins, ["selected"], center_point_box=center)
    inputs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["b", "n", 4]),
              helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["b", "c", "n"])]
    if with_limits:
        inputs += [helper.make_tensor_value_info("max_out", TensorProto.INT64, [1]),
                   helper.make_tensor_value_info("iou", TensorProto.FLOAT, [1]),
                   helper.make_tensor_value_info("score_thr", TensorProto.FLOAT, [1])]
    g = helper.make_graph([node], "nms", inputs,
                          [helper.make_tensor_value_info("selected", TensorProto.INT64, ["k", 3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)])
    m.ir_version = 7
    onnx.save(m, path)


def cases(rng):
    """(name, center_point_box, boxes [b, n, 4], scores [b, c, n], limits or None)."""
    # clustered: 3000 boxes around 40 centres, one class
    c = rng.uniform(0, 300, (40, 2))
    ctr = c[rng.randint(0, 40, 3000)] + rng.normal(0, 6, (3000, 2))
    wh = rng.uniform(4, 60, (3000, 2))
    boxes = np.concatenate([ctr - wh / 2, ctr + wh / 2], 1)[None].astype(np.float32)
    scores = rng.uniform(0, 1, (1, 1, 3000)).astype(np.float32)
    yield "clustered", 0, boxes, scores, (3000, 0.5, 0.0)
    yield "clustered, at most 50", 0, boxes, scores, (50, 0.3, 0.2)
    yield "clustered, iou 0", 0, boxes, scores, (3000, 0.0, 0.0)
    yield "clustered, iou 1", 0, boxes, scores, (3000, 1.0, 0.0)
    # corners the other way round: the same boxes
    flipped = boxes[:, :, [2, 3, 0, 1]].copy()
    yield "clustered, flipped corners", 0, flipped, scores, (3000, 0.5, 0.0)
    # centre + size
    cw = np.concatenate([ctr, wh], 1)[None].astype(np.float32)
    yield "centre and size", 1, cw, scores, (3000, 0.5, 0.0)
    # torchvision's batched_nms: 90 classes x 300 boxes, each class shifted by 321
    n = 90 * 300
    xy = rng.uniform(0, 280, (n, 2))
    wh = rng.uniform(2, 120, (n, 2))
    cls = np.repeat(np.arange(90), 300)
    b = np.concatenate([xy, np.minimum(xy + wh, 320)], 1) + (cls * 321.0)[:, None]
    s = rng.uniform(0, 1, (1, 1, n)).astype(np.float32)
    yield "90 shifted classes", 0, b[None].astype(np.float32), s, (n, 0.55, 0.001)
    # per-class scores over shared boxes (2 batches x 3 classes), equal scores, zero areas
    b2 = rng.uniform(0, 200, (2, 500, 4)).astype(np.float32)
    b2[:, ::37, 2] = b2[:, ::37, 0]  # zero width
    s2 = np.round(rng.uniform(0, 1, (2, 3, 500)), 2).astype(np.float32)  # many ties
    yield "batches, classes, ties, zero areas", 0, b2, s2, (100, 0.45, 0.1)
    b3 = b2.copy()
    b3[0, 7, 1] = np.nan
    yield "a NaN coordinate", 0, b3, s2, (500, 0.5, 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skiff", default=os.path.join(check.REPO, "build", "skiff"))
    ap.add_argument("--node", default=shutil.which("node") or "node")
    args = ap.parse_args()
    if not check.ort_available(args.node):
        print("nms_check: ONNX Runtime (onnxruntime-node) cannot load; run scripts/install-deps.sh")
        return check.SKIP
    work = tempfile.mkdtemp(prefix="skiff-nms-")
    failed = total = 0
    try:
        for k, (name, center, boxes, scores, limits) in enumerate(cases(np.random.RandomState(7))):
            d = os.path.join(work, str(k))
            os.makedirs(os.path.join(d, "skiff"))
            os.makedirs(os.path.join(d, "ort"))
            path = os.path.join(d, "nms.onnx")
            model(path, center, limits is not None)
            feeds = {"boxes": boxes, "scores": scores}
            if limits:
                feeds.update(max_out=np.array([limits[0]], np.int64),
                             iou=np.array([limits[1]], np.float32),
                             score_thr=np.array([limits[2]], np.float32))
            ins = []
            for f, v in feeds.items():
                np.save(os.path.join(d, f + ".npy"), v)
                ins += ["--input", "%s=%s" % (f, os.path.join(d, f + ".npy"))]
            err = check.run([args.skiff, "run", path] + ins +
                            ["--output-dir", os.path.join(d, "skiff"), "--quiet"], "skiff run")
            err = err or check.run([args.node, check.ORT_RUN, path] + ins +
                                   ["--output-dir", os.path.join(d, "ort"), "--warmup", "0",
                                    "--quiet"], "ort_run.js")
            total += 1
            if err:
                failed += 1
                print("FAIL %s: %s" % (name, err))
                continue
            got = np.load(os.path.join(d, "skiff", "selected.npy"))
            want = np.load(os.path.join(d, "ort", "selected.npy"))
            same = got.shape == want.shape and np.array_equal(got, want)
            if not same and got.shape == want.shape:
                # the order of (batch, class) groups is the spec's; within them both
                # engines list boxes by descending score
                same = np.array_equal(got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])])
            failed += not same
            print("%s %s: %d selected (ORT %d)" % ("ok  " if same else "FAIL", name, len(got),
                                                  len(want)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d of %d NMS cases match ONNX Runtime" % (total - failed, total))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
