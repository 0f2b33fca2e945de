#!/usr/bin/env bash
# Writes examples/detection/models/ (ignored by git) from a PaddleDetection export
# (the folder `tools/export_model.py` writes: model.pdmodel, model.pdiparams,
# infer_cfg.yml):
#   ppyolo_tiny_server/   the model as a Paddle Serving directory (skiff convert),
#                         what config.yml and `skiff serve --model` load
#   ppyolo_tiny_client/   its client conf, for the RPC client (test_client.py)
#   label_list.txt        one label per line, from infer_cfg.yml's label_list
#
#   examples/detection/prepare.sh [EXPORT_DIR] [PATH/TO/skiff]
# EXPORT_DIR defaults to ../shared/paddle-models/ppdet_ppyolo_tiny beside the
# repository (PP-YOLO tiny, 320x320); skiff defaults to build/skiff.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=${1:-../shared/paddle-models/ppdet_ppyolo_tiny}
SKIFF=${2:-build/skiff}
OUT=examples/detection/models
for f in model.pdmodel model.pdiparams infer_cfg.yml; do
  if [[ ! -f $SRC/$f ]]; then
    echo "prepare: $SRC/$f is missing (pass a PaddleDetection export folder)" >&2
    exit 1
  fi
done
if [[ ! -x $SKIFF ]]; then
  echo "prepare: $SKIFF is not built; run cmake --build build (or pass the skiff binary)" >&2
  exit 1
fi
mkdir -p "$OUT"
rm -rf "$OUT/ppyolo_tiny_server" "$OUT/ppyolo_tiny_client"
"$SKIFF" convert --dirname "$SRC" --model_filename model.pdmodel --params_filename model.pdiparams \
  --serving_server "$OUT/ppyolo_tiny_server" --serving_client "$OUT/ppyolo_tiny_client" >/dev/null
# label_list: the "- name" lines after "label_list:" up to the next top-level key
awk '/^label_list:/ {on = 1; next} on && /^[^ -]/ {on = 0} on && /^ *- / {sub(/^ *- /, ""); print}' \
  "$SRC/infer_cfg.yml" > "$OUT/label_list.txt"
echo "prepare: wrote $OUT/ppyolo_tiny_{server,client} and $OUT/label_list.txt ($(wc -l < "$OUT/label_list.txt") labels)"
