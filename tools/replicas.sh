#!/usr/bin/env bash
# tools/replicas.sh - N local `skiff serve` replicas behind nginx, for trying a
# load-balanced deployment on one machine (deploy/nginx/skiff.conf.template).
#
#   tools/replicas.sh [-n N] [--skiff BIN] [--http PORT] [--grpc PORT] [--rpc PORT]
#                     [-- SERVE_ARGS...]
#   tools/replicas.sh --config HOST:PORT,HOST:PORT... [--http ADDR] [--grpc ADDR]
#                     [--rpc ADDR] [--run-dir DIR] [--user 'USER GROUP']
#
#   -n N            replicas (default 3)
#   --skiff BIN     the skiff binary (default build/skiff)
#   --http PORT     nginx's HTTP port (default: a free one); --grpc (gRPC, h2c),
#   --rpc PORT      --rpc (baidu_std) likewise
#   -- SERVE_ARGS   arguments of every `skiff serve` (default: the uci example,
#                   --model examples/uci_housing/uci_housing_model --name uci);
#                   --port and --port_file are added
#   --config LIST   only print the template filled in for the replicas in LIST
#                   (for a real deployment): --http/--grpc/--rpc are then listen
#                   addresses (default 8080, 8081, 8082), --run-dir the directory
#                   for pid, logs and temp files (default /var/lib/nginx), --user
#                   the workers' user and group (default "www-data www-data")
#
# Each replica gets a free port; nginx runs as the invoking user with its
# config, pid, logs and temp files in a temp dir (printed). The front ports are
# printed once everything answers; Ctrl-C (or SIGTERM) stops nginx and drains
# the replicas (SIGTERM), then removes the temp dir. Needs nginx and, on Debian,
# libnginx-mod-stream (scripts/install-deps.sh installs both).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SKIFF=$ROOT/build/skiff
N=3
HTTP_PORT=0 GRPC_PORT=0 RPC_PORT=0
SERVE_ARGS=()
CONFIG= RUN_DIR=/var/lib/nginx WORKER_USER="www-data www-data"
usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
  -n) N=$2; shift 2 ;;
  --skiff) SKIFF=$2; shift 2 ;;
  --http) HTTP_PORT=$2; shift 2 ;;
  --grpc) GRPC_PORT=$2; shift 2 ;;
  --rpc) RPC_PORT=$2; shift 2 ;;
  --config) CONFIG=$2; shift 2 ;;
  --run-dir) RUN_DIR=$2; shift 2 ;;
  --user) WORKER_USER=$2; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  --) shift; SERVE_ARGS=("$@"); break ;;
  *) echo "replicas: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# The stream module's path where nginx loads it (Debian), empty where it is built in.
stream_module() {
  local m
  "$NGINX" -V 2>&1 | grep -q -- '--with-stream=dynamic' || return 0
  for m in /usr/lib/nginx/modules/ngx_stream_module.so /usr/share/nginx/modules/ngx_stream_module.so; do
    [[ -f $m ]] && echo "$m" && return 0
  done
  echo /usr/lib/nginx/modules/ngx_stream_module.so # Debian's, once libnginx-mod-stream is in
}

# render ADDRS HTTP GRPC RPC RUN_DIR USER MODULE: the template filled in, on stdout. A
# line with @REPLICA@ comes once per address; the load_module line goes where MODULE is
# empty (built in), the user line where USER is (nginx not started as root).
render() {
  awk -v addrs="$1" -v http="$2" -v grpc="$3" -v rpc="$4" -v run="$5" -v user="$6" -v module="$7" '
    BEGIN { n = split(addrs, a, /[ ,]+/) }
    /^[ \t]*#/ { print; next }
    /@STREAM_MODULE@/ && module == "" { next }
    /@USER@/ && user == "" { next }
    /@REPLICA@/ { for (i = 1; i <= n; i++) { l = $0; gsub(/@REPLICA@/, a[i], l); print l } next }
    { gsub(/@HTTP_LISTEN@/, http); gsub(/@GRPC_LISTEN@/, grpc); gsub(/@RPC_LISTEN@/, rpc)
      gsub(/@RUN_DIR@/, run); gsub(/@USER@/, user); gsub(/@STREAM_MODULE@/, module); print }
  ' "$ROOT/deploy/nginx/skiff.conf.template"
}

if [[ -n $CONFIG ]]; then
  ((HTTP_PORT)) || HTTP_PORT=8080
  ((GRPC_PORT)) || GRPC_PORT=8081
  ((RPC_PORT)) || RPC_PORT=8082
  module=/usr/lib/nginx/modules/ngx_stream_module.so
  [[ -x $NGINX ]] && module=$(stream_module)
  render "$CONFIG" "$HTTP_PORT" "$GRPC_PORT" "$RPC_PORT" "$RUN_DIR" "$WORKER_USER" "$module"
  exit 0
fi
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "replicas: -n wants a positive number, got '$N'" >&2; exit 2; }
[[ -x $SKIFF ]] || { echo "replicas: no executable $SKIFF (build first: make build)" >&2; exit 1; }
[[ -x $NGINX ]] || { echo "replicas: nginx missing (scripts/install-deps.sh)" >&2; exit 1; }
((${#SERVE_ARGS[@]})) ||
  SERVE_ARGS=(--model "$ROOT/examples/uci_housing/uci_housing_model" --name uci)

# A free TCP port on 127.0.0.1 (the kernel's pick; released before use, as usual).
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

TMP=$(mktemp -d /tmp/skiff-replicas-XXXXXX)
PIDS=()
NGINX_PID=
cleanup() {
  trap - EXIT INT TERM
  [[ -n $NGINX_PID ]] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
  echo "replicas: stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ADDRS=()
for ((i = 0; i < N; i++)); do
  "$SKIFF" serve "${SERVE_ARGS[@]}" --port 0 --port_file "$TMP/port$i" >"$TMP/replica$i.log" 2>&1 &
  PIDS+=($!)
done
for ((i = 0; i < N; i++)); do
  for ((t = 0; t < 1200; t++)); do
    [[ -s $TMP/port$i ]] && break
    kill -0 "${PIDS[i]}" 2>/dev/null || { echo "replicas: replica $i exited:" >&2; cat "$TMP/replica$i.log" >&2; exit 1; }
    sleep 0.05
  done
  [[ -s $TMP/port$i ]] || { echo "replicas: replica $i not ready after 60 s" >&2; exit 1; }
  ADDRS+=("127.0.0.1:$(tr -d '[:space:]' <"$TMP/port$i")")
done

((HTTP_PORT)) || HTTP_PORT=$(free_port)
((GRPC_PORT)) || GRPC_PORT=$(free_port)
((RPC_PORT)) || RPC_PORT=$(free_port)
MODULE=$(stream_module)
[[ -z $MODULE || -f $MODULE ]] ||
  { echo "replicas: nginx's stream module is missing (Debian: apt-get install libnginx-mod-stream)" >&2; exit 1; }
# As root, nginx's workers would switch to "nobody" and could not write to the temp dir.
USER_GROUP=
((EUID == 0)) && USER_GROUP="$(id -un) $(id -gn)"
render "${ADDRS[*]}" "127.0.0.1:$HTTP_PORT" "127.0.0.1:$GRPC_PORT" "127.0.0.1:$RPC_PORT" \
  "$TMP" "$USER_GROUP" "$MODULE" >"$TMP/nginx.conf"

"$NGINX" -p "$TMP" -e "$TMP/error.log" -c "$TMP/nginx.conf" -g 'daemon off;' >"$TMP/nginx.out" 2>&1 &
NGINX_PID=$!
for ((t = 0; t < 200; t++)); do
  curl -fs -o /dev/null "http://127.0.0.1:$HTTP_PORT/v2/health/ready" && break
  kill -0 "$NGINX_PID" 2>/dev/null || { echo "replicas: nginx exited:" >&2; cat "$TMP/nginx.out" "$TMP/error.log" >&2; NGINX_PID=; exit 1; }
  sleep 0.1
done

echo "replicas: ${N} x skiff serve on ${ADDRS[*]} (logs, nginx.conf in $TMP)"
echo "HTTP      http://127.0.0.1:$HTTP_PORT      (KServe v2 REST, /{model}/prediction, pipelines)"
echo "gRPC      127.0.0.1:$GRPC_PORT             (h2c: KServe v2, Paddle GeneralModelService)"
echo "baidu_std 127.0.0.1:$RPC_PORT             (paddle_serving_client.Client, skiff predict --protocol brpc)"
echo "replicas: Ctrl-C stops everything"
while kill -0 "$NGINX_PID" 2>/dev/null; do
  sleep 1 &
  wait $! || true
done
echo "replicas: nginx exited" >&2
NGINX_PID=
exit 1
