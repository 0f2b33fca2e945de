#!/usr/bin/env bash
# bench/soak/run.sh - soak test of `skiff serve` (not in CI; see docs/robustness.md).
#
#   bench/soak/run.sh [SKIFF]           default build/skiff
#
# Environment: SOAK_SECONDS (600), SAMPLE_SECONDS (10), GOOD_CONNS (32), BAD_CONNS (16).
# Runs one server under mixed good and bad load on every endpoint (two wrk runs,
# a numpy-checked client and a connection abuser), samples its RSS and open
# descriptors every SAMPLE_SECONDS, prints the figures and passes when RSS grows
# by less than 2 % after the first minute, descriptors return to baseline and no
# good request failed. Needs wrk (scripts/install-deps.sh --bench) and
# /usr/bin/python3 with numpy, onnx and requests.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SKIFF=${1:-${SKIFF:-build/skiff}}
[[ -x $SKIFF ]] || { echo "soak: no executable $SKIFF (build first)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "soak: wrk missing: scripts/install-deps.sh --bench" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec /usr/bin/python3 bench/soak/soak.py
