"""Detector and audio reference models, exported from python3-torchvision with
random weights (weights=None: nothing is downloaded), for tools/models/export_models.py.

  ssdlite     SSDlite320 (MobileNetV3-large): anchors, box decoding, batched NMS, TopK
  frcnn_mnv3  Faster R-CNN, MobileNetV3-large 320 FPN: RPN, RoiAlign (MultiScaleRoIAlign),
              per-class NMS, the exporter's If/Loop-free box code
  maskrcnn    Mask R-CNN, ResNet-50 FPN at 320x320: as Faster R-CNN plus the mask head
              and the paste of masks into the image
  retinanet   RetinaNet, ResNet-50 FPN at 320x320: per-level TopK, sigmoid scores
  detr_tiny   a DETR-style detector: ResNet-18 trunk, a 2+2-layer nn.Transformer with
              learned queries, class and box heads (no NMS)
  audio_stft  an audio classifier on raw waveform, written with onnx.helper (opset 17):
              HannWindow, STFT, power, MelWeightMatrix, log, two convolutions,
              pooling, linear

Random weights give every class the same score (a 91-way softmax of near-zero
logits): every detection would tie with every other, and NMS and TopK could
legally return any order. So the backbones' BatchNorm statistics are calibrated
on random images, and the classification heads' weights are redrawn larger, so
scores spread out as a trained model's do. Near-ties remain possible; the
comparison rule for detections is in tests/reference/check.py.

The detectors take one image [3, 320, 320] (torchvision's list-of-images input,
exported as one tensor) and return boxes [N,4] (x1,y1,x2,y2 in input pixels),
labels [N] (int64), scores [N], and masks [N,1,320,320] for Mask R-CNN.
"""

import math

import numpy as np

DETECTORS = ("ssdlite", "frcnn_mnv3", "maskrcnn", "retinanet", "detr_tiny")
AUDIO = ("audio_stft",)
# Detectors whose outputs come out of NMS: compared as sets of detections
# (tests/reference/check.py), not element by element.
NMS_OUTPUTS = ("ssdlite", "frcnn_mnv3", "maskrcnn", "retinanet")
SIZE = 320
AUDIO_SAMPLES = 16000


def _calibrate_backbone(backbone, seed):
    """BatchNorm statistics from random images, affine parameters perturbed:
    export_models.calibrate_bn on the backbone alone, at the detectors' size."""
    from export_models import calibrate_bn
    calibrate_bn(backbone, (2, 3, SIZE, SIZE), seed)


def _spread(modules, seed, gain):
    """Redraws weights of the given conv/linear layers: normal(0, gain/sqrt(fan_in))."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in modules:
            w = m.weight
            fan_in = w[0].numel()
            w.copy_(torch.randn(w.shape, generator=g) * (gain / math.sqrt(fan_in)))
            if m.bias is not None:
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))


def _detr_tiny():
    import torch
    import torchvision
    from torch import nn

    class DetrTiny(nn.Module):
        def __init__(self, classes=91, queries=50, d=128):
            super().__init__()
            r = torchvision.models.resnet18(weights=None)
            self.trunk = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1, r.layer2,
                                       r.layer3, r.layer4)
            self.proj = nn.Conv2d(512, d, 1)
            self.pos = nn.Parameter(torch.randn(1, 100, d) * 0.1)  # 10x10 feature map
            self.query = nn.Parameter(torch.randn(queries, 1, d) * 0.5)
            self.transformer = nn.Transformer(d, 4, 2, 2, 256, dropout=0.0)
            self.cls = nn.Linear(d, classes + 1)
            self.box = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 4))

        def forward(self, image):
            f = self.proj(self.trunk(image.unsqueeze(0)))     # [1, d, 10, 10]
            src = f.flatten(2).permute(2, 0, 1) + self.pos.permute(1, 0, 2)
            h = self.transformer(src, self.query)              # [Q, 1, d]
            h = h.permute(1, 0, 2)
            logits = self.cls(h)
            boxes = self.box(h).sigmoid()                      # cx, cy, w, h in [0, 1]
            cx, cy, w, hh = boxes.unbind(-1)
            xyxy = torch.stack([cx - 0.5 * w, cy - 0.5 * hh, cx + 0.5 * w, cy + 0.5 * hh], -1)
            probs = logits.softmax(-1)[..., :-1]
            scores, labels = probs.max(-1)
            return xyxy[0] * SIZE, labels[0], scores[0], logits[0]

    m = DetrTiny()
    _calibrate_backbone(m.trunk, 11)
    _spread([m.cls], 12, 3.0)
    return m


def _audio_stft(path):
    """Written with onnx.helper: torch 1.13 cannot export aten::stft. The
    front end is ONNX's own audio ops (HannWindow, STFT, MelWeightMatrix)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(77)
    n_fft, hop, mels, classes = 512, 160, 40, 10

    def const(name, arr):
        return numpy_helper.from_array(np.asarray(arr), name)

    w1 = rng.normal(0, 1 / 3.0, (16, 1, 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 1 / 12.0, (32, 16, 3, 3)).astype(np.float32)
    fc = rng.normal(0, 1 / math.sqrt(32), (classes, 32)).astype(np.float32)
    inits = [const("n_fft", np.int64(n_fft)), const("hop", np.int64(hop)),
             const("mels", np.int64(mels)), const("rate", np.int64(16000)),
             const("f_lo", np.float32(20.0)), const("f_hi", np.float32(8000.0)),
             const("ax2", np.array([2], np.int64)), const("ax1", np.array([1], np.int64)),
             const("ax3", np.array([3], np.int64)), const("eps", np.float32(1e-6)),
             const("w1", w1), const("b1", rng.normal(0, 0.1, 16).astype(np.float32)),
             const("w2", w2), const("b2", rng.normal(0, 0.1, 32).astype(np.float32)),
             const("fc", fc), const("fcb", rng.normal(0, 0.1, classes).astype(np.float32))]
    nodes = [
        helper.make_node("HannWindow", ["n_fft"], ["window"]),
        helper.make_node("Unsqueeze", ["wave", "ax2"], ["signal"]),
        helper.make_node("STFT", ["signal", "hop", "window"], ["spec"]),     # [B,T,257,2]
        helper.make_node("Mul", ["spec", "spec"], ["sq"]),
        helper.make_node("ReduceSum", ["sq", "ax3"], ["power"], keepdims=0),  # [B,T,257]
        helper.make_node("MelWeightMatrix", ["mels", "n_fft", "rate", "f_lo", "f_hi"], ["fb"]),
        helper.make_node("MatMul", ["power", "fb"], ["mel"]),               # [B,T,40]
        helper.make_node("Add", ["mel", "eps"], ["mel_eps"]),
        helper.make_node("Log", ["mel_eps"], ["logmel"]),
        helper.make_node("Unsqueeze", ["logmel", "ax1"], ["x0"]),           # [B,1,T,40]
        helper.make_node("Conv", ["x0", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("ReduceMean", ["r2"], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("Gemm", ["pooled", "fc", "fcb"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "audio_stft",
        [helper.make_tensor_value_info("wave", TensorProto.FLOAT, ["batch", AUDIO_SAMPLES])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def torch_model(name):
    """The torch module for a detector and its output names (same seeds as the export)."""
    import warnings
    import torch
    from torchvision.models import detection as D
    warnings.filterwarnings("ignore")
    torch.manual_seed(4321)
    torch.set_num_threads(2)
    sz = dict(min_size=SIZE, max_size=SIZE)
    if name == "ssdlite":
        m = D.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
        _calibrate_backbone(m.backbone, 1)
        _spread([x for x in m.head.classification_head.modules()
                 if isinstance(x, torch.nn.Conv2d)], 2, 2.0)
        outs = ["boxes", "scores", "labels"]
    elif name == "frcnn_mnv3":
        m = D.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None,
                                                box_score_thresh=0.02)
        _calibrate_backbone(m.backbone, 3)
        _spread([m.rpn.head.cls_logits, m.roi_heads.box_predictor.cls_score], 4, 0.08)
        outs = ["boxes", "labels", "scores"]
    elif name == "maskrcnn":
        m = D.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, box_score_thresh=0.02,
                                    box_detections_per_img=20, **sz)
        _calibrate_backbone(m.backbone, 5)
        _spread([m.rpn.head.cls_logits, m.roi_heads.box_predictor.cls_score], 6, 0.08)
        outs = ["boxes", "labels", "scores", "masks"]
    elif name == "retinanet":
        m = D.retinanet_resnet50_fpn(weights=None, weights_backbone=None, **sz)
        _calibrate_backbone(m.backbone, 7)
        _spread([m.head.classification_head.cls_logits], 8, 0.3)
        outs = ["boxes", "scores", "labels"]
    elif name == "detr_tiny":
        m = _detr_tiny()
        outs = ["boxes", "labels", "scores", "logits"]
    else:
        raise ValueError(name)
    return m.eval(), outs


def build(name, path):
    """Writes model `name` to `path` (ONNX)."""
    import os
    import torch
    tmp = path + ".tmp"
    if name == "audio_stft":
        _audio_stft(tmp)
    else:
        m, outs = torch_model(name)
        x = torch.from_numpy(image(1))
        if name == "detr_tiny":
            torch.onnx.export(m, (x,), tmp, opset_version=13, input_names=["images"],
                              output_names=outs)
        else:
            torch.onnx.export(m, ([x],), tmp, opset_version=11, input_names=["images"],
                              output_names=outs, do_constant_folding=True)
    os.replace(tmp, path)


def image(seed):
    """A synthetic picture [3, 320, 320] in [0, 1]: a smooth background with
    filled rectangles and discs of random colours (edges and blobs for the
    detectors' features), plus a little noise."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    img = np.stack([0.3 + 0.4 * xx, 0.3 + 0.4 * yy, 0.5 + 0.2 * (xx - yy)]).astype(np.float32)
    for _ in range(12):
        c = rng.uniform(0, 1, 3).astype(np.float32)
        x0, y0 = rng.randint(0, SIZE - 40, 2)
        w, h = rng.randint(20, 140, 2)
        if rng.rand() < 0.5:
            img[:, y0:y0 + h, x0:x0 + w] = c[:, None, None]
        else:
            r = min(w, h) / 2
            mask = (xx * SIZE - x0 - r) ** 2 + (yy * SIZE - y0 - r) ** 2 <= r * r
            img[:, mask] = c[:, None]
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


def inputs(name, batch, seed):
    if name == "audio_stft":
        rng = np.random.RandomState(seed)
        t = np.arange(AUDIO_SAMPLES, dtype=np.float64) / 16000.0
        waves = [0.3 * np.sin(2 * np.pi * (200 + 300 * i) * t) + 0.05 * rng.normal(size=t.shape)
                 for i in range(batch)]
        return {"wave": np.stack(waves).astype(np.float32)}
    return {"images": image(seed)}
