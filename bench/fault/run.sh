#!/usr/bin/env bash
# bench/fault/run.sh - fault test: N `skiff serve` replicas behind nginx
# (deploy/nginx/skiff.conf.template) under a mixed load on every protocol (KServe
# REST, Paddle web HTTP, KServe gRPC, baidu_std), while one replica is killed with
# SIGKILL and restarted, then every replica is drained with SIGTERM and restarted
# in turn (see bench/fault/fault.py, docs/reliability.md "Behind a load balancer").
#
#   bench/fault/run.sh [SKIFF]          default build/skiff
#
# Environment: REPLICAS (3), CONNECTIONS (64), PHASES (kill,rolling; also term),
# SETTLE (5 s of load before and after each phase), RESTART_AFTER (5 s),
# ROLLING_PAUSE (3 s between a replica ready and the next drain), KILL_INDEX (1),
# GRACE_S (30), NGINX (nginx on PATH, else /usr/sbin/nginx).
# nginx runs as the invoking user with its config, pid, logs and temp paths in a
# temp dir. Needs nginx and its stream module, /usr/bin/python3 with numpy, onnx,
# requests, grpcio and grpc_tools (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
export SKIFF=${1:-${SKIFF:-build/skiff}}
[[ -x $SKIFF ]] || { echo "fault: no executable $SKIFF (build first)" >&2; exit 1; }
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] ||
    { echo "fault: nginx missing: scripts/install-deps.sh" >&2; exit 1; }
exec /usr/bin/python3 bench/fault/fault.py
