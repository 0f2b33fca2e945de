#!/usr/bin/env bash
# bench/fault/run.sh - fault test: three `skiff serve` replicas behind nginx; one is
# killed with SIGKILL under load and restarted (see bench/fault/fault.py, docs/robustness.md).
#
#   bench/fault/run.sh [SKIFF]          default build/skiff
#
# Environment: CLIENTS (8), LOAD_SECONDS (30), KILL_AT (8), RESTART_AT (15),
# KILL_INDEX (1), FAIL_TIMEOUT (2), NGINX (nginx on PATH, else /usr/sbin/nginx).
# nginx runs as the invoking user with its config, pid, logs and temp paths in a
# temp dir. Needs nginx (scripts/install-deps.sh --bench) and /usr/bin/python3
# with numpy, onnx and requests.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SKIFF=${1:-${SKIFF:-build/skiff}}
[[ -x $SKIFF ]] || { echo "fault: no executable $SKIFF (build first)" >&2; exit 1; }
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] ||
    { echo "fault: nginx missing: scripts/install-deps.sh --bench" >&2; exit 1; }
exec /usr/bin/python3 bench/fault/fault.py
