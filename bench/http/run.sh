#!/usr/bin/env bash
# bench/http/run.sh - skiff serving the uci model against nginx returning the
# same fixed JSON for the same POST, in one run, with wrk; then a 3x224x224
# float32 tensor sent as JSON and as the KServe binary extension.
#
#   bench/http/run.sh [--skiff build/skiff] [--duration 10] [--conns "1 16 64"]
#                     [--reps 3] [--skiff-args "..."] [--no-image] [--shared] [--write-doc]
#
# Needs wrk and nginx (scripts/install-deps.sh --bench) and /usr/bin/python3
# with numpy (request bodies). For each connection count it runs wrk against
# skiff, then against nginx (same wrk threads, same duration), --reps times
# alternately, and prints a markdown table of the medians: requests/s, p50
# and p99 latency, and CPU time per request (user + system of the server's
# processes, from /proc; steadier than requests/s on a shared machine), and
# the ratio skiff/nginx of the median requests/s with the per-run ratios.
# The load average is printed per row: what else was going on.
# Both servers get the same cores: nginx runs one worker per skiff I/O thread.
# By default the servers run on the first half of the cores and wrk on the
# other half (taskset), as clients on other machines would be; --shared lets
# wrk share all cores with the server it measures (one machine, one core:
# the default falls back to shared) and writes its own doc section.
# --write-doc also puts the output into the HTTP section of docs/performance.md
# (between the http-bench markers; the section is appended when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)

SKIFF=build/skiff
DURATION=10
CONNS="1 16 64"
REPS=3
SKIFF_ARGS=""
IMAGE=1
PIN=1
WRITE_DOC=0
while (($#)); do
  case "$1" in
    --skiff) SKIFF=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --skiff-args) SKIFF_ARGS=$2; shift 2 ;;
    --no-image) IMAGE=0; shift ;;
    --pin) PIN=1; shift ;;
    --shared) PIN=0; shift ;;
    --write-doc) WRITE_DOC=1; shift ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in wrk nginx curl; do
  command -v $tool >/dev/null || { echo "bench/http: $tool is missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
done
[[ -x $SKIFF ]] || { echo "bench/http: $SKIFF not built (make build)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/skiff-bench-http.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

CORES=$(nproc)
IO_THREADS=$(( CORES < 4 ? CORES : 4 ))
WRK_THREADS=2
SRV=() CLI=() PLACEMENT="wrk shares the cores with the server"
if ((PIN)) && { ((CORES < 2)) || ! command -v taskset >/dev/null; }; then
  echo "bench/http: one core or no taskset (util-linux): wrk shares the cores (--shared)" >&2
  PIN=0
fi
if ((PIN)); then
  HALF=$((CORES / 2))
  SRV=(taskset -c "0-$((HALF - 1))") CLI=(taskset -c "$HALF-$((CORES - 1))")
  IO_THREADS=$(( HALF < 4 ? HALF : 4 )) WRK_THREADS=$((CORES - HALF))
  PLACEMENT="servers pinned to cores 0-$((HALF - 1)), wrk to cores $HALF-$((CORES - 1))"
fi

# ---- skiff -----------------------------------------------------------------------
SKIFF_PORT=$(free_port)
# shellcheck disable=SC2086
# Served as "uci" and "image": a model is named after its directory.
ln -s "$REPO/examples/uci_housing/uci_housing_model" "$TMP/uci"
"${SRV[@]}" "$SKIFF" serve --model "$TMP/uci" bench/http/models/image --port "$SKIFF_PORT" --port_file "$TMP/port" \
  --io_threads "$IO_THREADS" --log_level warn $SKIFF_ARGS >"$TMP/skiff.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -s $TMP/port ]] && break; sleep 0.1; done
[[ -s $TMP/port ]] || { cat "$TMP/skiff.log"; exit 1; }

BODY='{"feed":[{"x": [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332]}], "fetch":["price"]}'
printf '%s' "$BODY" >"$TMP/uci.json"
REPLY=$(curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$TMP/uci.json" \
  "http://127.0.0.1:$SKIFF_PORT/uci/prediction")
[[ $REPLY == *price* ]] || { echo "skiff answered: $REPLY" >&2; exit 1; }

# ---- nginx with the same answer ----------------------------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes $IO_THREADS;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  client_body_buffer_size 16k;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = /uci/prediction {
      default_type application/json;
      return 200 '$REPLY';
    }
  }
}
EOF
"${SRV[@]}" nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" &
NGINX_PID=$!
PIDS+=($NGINX_PID)
SKIFF_PID=${PIDS[0]}
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/uci/prediction" -d x && break; sleep 0.1; done

cat >"$TMP/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("CTYPE") or "application/json"
local hl = os.getenv("IHCL")
if hl and hl ~= "" then wrk.headers["Inference-Header-Content-Length"] = hl end
EOF

# wrk output -> "rps p50_ms p99_ms errors"
parse() {
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { err += $NF }
    /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) err += $i }
    END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, err }'
}

run_wrk() { # url conns body_file [ctype] [ihcl]
  local t=$(( $2 < WRK_THREADS ? $2 : WRK_THREADS ))
  BODY_FILE=$3 CTYPE=${4:-application/json} IHCL=${5:-} \
    "${CLI[@]}" wrk -t"$t" -c"$2" -d"${DURATION}s" --latency -s "$TMP/post.lua" "$1" 2>&1 | parse
}

# CPU clock ticks (user + system) of every thread of the given processes.
ticks() {
  local t=0 f
  for f in $(for p in "$@"; do echo /proc/"$p"/task/*/stat; done); do
    t=$((t + $(awk '{ print $14 + $15 }' "$f" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)

# run_wrk plus the server's CPU microseconds per request: "rps p50 p99 errors cpu_us"
run_cpu() { # url conns body_file pid...
  local url=$1 c=$2 body=$3
  shift 3
  local a b r
  a=$(ticks "$@")
  r=$(run_wrk "$url" "$c" "$body")
  b=$(ticks "$@")
  awk -v r="$r" -v t=$((b - a)) -v hz="$HZ" -v d="$DURATION" 'BEGIN {
    split(r, f, " "); n = f[1] * d
    printf "%s %.1f\n", r, (n > 0 ? t / hz * 1e6 / n : 0) }'
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

OUT=$TMP/report.md
exec 3>&1 1> >(tee "$OUT" >&3)
echo "machine: $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "skiff: $IO_THREADS I/O threads, defaults otherwise${SKIFF_ARGS:+ + $SKIFF_ARGS}; nginx $(nginx -v 2>&1 | sed 's/.*\///'): $IO_THREADS workers; wrk ${DURATION}s per point, $WRK_THREADS threads at most; $PLACEMENT"
echo
echo "Each row: medians of $REPS runs per server, skiff and nginx alternating. CPU = user + system"
echo "time of the server's processes per request. ratio = skiff/nginx of the median req/s (per-run ratios)."
echo
echo "| conns | load | skiff req/s | skiff p50 ms | skiff p99 ms | skiff CPU us/req | nginx req/s | nginx p50 ms | nginx p99 ms | nginx CPU us/req | skiff/nginx |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
NGINX_WORKERS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
for c in $CONNS; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  S=() N=() ratios="" errs=0
  for _ in $(seq "$REPS"); do
    s=$(run_cpu "http://127.0.0.1:$SKIFF_PORT/uci/prediction" "$c" "$TMP/uci.json" "$SKIFF_PID")
    # shellcheck disable=SC2086
    n=$(run_cpu "http://127.0.0.1:$NGINX_PORT/uci/prediction" "$c" "$TMP/uci.json" "$NGINX_PID" $NGINX_WORKERS)
    S+=("$s") N+=("$n")
    ratios+="$(awk -v a="${s%% *}" -v b="${n%% *}" 'BEGIN { printf "%.2f ", (b > 0 ? a / b : 0) }')"
    errs=$((errs + $(echo "$s" | cut -d' ' -f4) + $(echo "$n" | cut -d' ' -f4)))
  done
  col() { printf '%s\n' "$@" | cut -d' ' -f"$COL" | tr '\n' ' ' | median; }
  COL=1 s_rps=$(col "${S[@]}"); COL=2 s_p50=$(col "${S[@]}"); COL=3 s_p99=$(col "${S[@]}"); COL=5 s_cpu=$(col "${S[@]}")
  COL=1 n_rps=$(col "${N[@]}"); COL=2 n_p50=$(col "${N[@]}"); COL=3 n_p99=$(col "${N[@]}"); COL=5 n_cpu=$(col "${N[@]}")
  ratio=$(awk -v a="$s_rps" -v b="$n_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  note=""
  ((errs > 0)) && note=", errors: $errs"
  printf '| %s | %s | %.0f | %.3f | %.3f | %.1f | %.0f | %.3f | %.3f | %.1f | %s (%s%s) |\n' "$c" "$load" \
    "$s_rps" "$s_p50" "$s_p99" "$s_cpu" "$n_rps" "$n_p50" "$n_p99" "$n_cpu" "$ratio" "${ratios% }" "$note"
done

if ((IMAGE)); then
  /usr/bin/python3 - "$TMP" <<'EOF'
import json, sys
import numpy as np
tmp = sys.argv[1]
x = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
with open(tmp + "/image.json", "w") as f:
    json.dump({"inputs": [{"name": "image", "shape": [1, 3, 224, 224], "datatype": "FP32",
                           "data": [float("%.6g" % v) for v in x.reshape(-1)]}]}, f)
hdr = json.dumps({"inputs": [{"name": "image", "shape": [1, 3, 224, 224], "datatype": "FP32",
                              "parameters": {"binary_data_size": x.nbytes}}]}).encode()
with open(tmp + "/image.bin", "wb") as f:
    f.write(hdr + x.tobytes())
with open(tmp + "/image.ihcl", "w") as f:
    f.write(str(len(hdr)))
EOF
  URL="http://127.0.0.1:$SKIFF_PORT/v2/models/image/infer"
  TENSOR=$((3 * 224 * 224 * 4))
  echo
  echo "3x224x224 float32 (${TENSOR} bytes of tensor data) to KServe /v2/models/image/infer, 4 connections:"
  echo
  echo "| body | body bytes | req/s | p50 ms | p99 ms | tensor MB/s accepted |"
  echo "|---|---|---|---|---|---|"
  for kind in json binary; do
    if [[ $kind == json ]]; then
      read -r rps p50 p99 err < <(run_wrk "$URL" 4 "$TMP/image.json")
      size=$(stat -c %s "$TMP/image.json")
    else
      read -r rps p50 p99 err < <(run_wrk "$URL" 4 "$TMP/image.bin" application/octet-stream "$(cat "$TMP/image.ihcl")")
      size=$(stat -c %s "$TMP/image.bin")
    fi
    mbs=$(awk -v r="$rps" -v t="$TENSOR" 'BEGIN { printf "%.0f", r * t / 1e6 }')
    note=""
    ((err > 0)) && note=" (errors: $err)"
    echo "| $kind | $size | $rps | $p50 | $p99 | $mbs$note |"
  done
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exec 1>&3

if ((WRITE_DOC)); then
  sleep 0.2 # let tee finish
  /usr/bin/python3 - "$OUT" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$PIN" <<'PY'
import datetime, re, sys
report, commit, pin = open(sys.argv[1]).read().strip(), sys.argv[2], sys.argv[3] == "1"
doc = "docs/performance.md"
tag = "http-bench" if pin else "http-bench-shared"
title = ("## HTTP" if pin else "## HTTP, load generator sharing the server's cores")
where = ("with the servers on half the cores and wrk on the other half"
         if pin else "measured by wrk on the same cores")
body = ("<!-- %s:begin (written by bench/http/run.sh --write-doc) -->\n%s\n\n"
        "skiff serving the uci_housing model (Paddle web API, the seed's request) against nginx "
        "answering the same fixed JSON to the same POST, %s, "
        "the two servers alternating (%s, commit %s). Reproduce: `bench/http/run.sh --reps 5 "
        "%s--write-doc`.\n\n%s\n"
        "<!-- %s:end -->" % (tag, title, where, datetime.date.today(), commit,
                              "" if pin else "--shared ", report, tag))
try:
    text = open(doc).read()
except FileNotFoundError:
    text = "# Performance\n"
if "<!-- %s:begin" % tag in text:
    text = re.sub(r"<!-- %s:begin.*?<!-- %s:end -->" % (tag, tag), lambda m: body, text,
                  flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + body + "\n"
open(doc, "w").write(text)
print("wrote the %s section of" % tag, doc)
PY
fi
