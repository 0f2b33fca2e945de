#!/usr/bin/env bash
# bench/grpc_core/run.sh - skiff's gRPC front end (nghttp2, src/serve/grpc/grpc.c)
# against the same calls served by gRPC core's C API (core_server.c), for the
# choice written down in docs/grpc.md.
#
#   bench/grpc_core/run.sh [--rounds R] [--calls N] [--large-calls N] [--no-large]
#
# Three servers load the same two models with the same flags: skiff serve
# ("skiff"), core_server with as many completion-queue threads as skiff has
# I/O threads ("core") and with one ("core1"). The models: the uci example
# and an Identity model over float32 [N,3,224,224] (made here with
# bench/rpc/grpc_bodies.py, /usr/bin/python3 + onnx). h2load (nghttp2-client)
# sends unary KServe ModelInfer calls, the input in raw_input_contents, at
# CONNECTIONSxSTREAMS points: uci at 1x1, 1x16, 4x4 and 16x1 (N calls each,
# default 20000), Identity at 1x1 and 1x4 (default 1000 calls). The servers
# alternate point by point, and which goes first rotates round by round
# (default 5 rounds). Per point: median and minimum calls/s, p50/p99 latency
# from h2load's --log-file (median over rounds), server CPU per call
# (utime+stime of /proc/PID/stat over the run), and for Identity MB/s of
# tensor bytes each way; figures are truncated, never rounded up. Before
# measuring, one call to each server is made with Python's grpcio and the
# answers must be byte-identical; after, each server's count of error answers
# must be 0 (h2load counts a grpc-status other than 0 as a success, since it
# comes with HTTP 200).
#
# Needs build/skiff and build/core_server:
#   scripts/install-deps.sh --bench     (libgrpc-dev, nghttp2-client)
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSKIFF_BENCH_GRPC_CORE=ON
#   cmake --build build -j2 --target skiff core_server
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build}
rounds=5 calls=20000 large_calls=1000 large=1
while (($#)); do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --calls) calls=$2; shift 2 ;;
    --large-calls) large_calls=$2; shift 2 ;;
    --no-large) large=0; shift ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
skiff=$build/skiff core=$build/core_server py=/usr/bin/python3
for f in "$skiff" "$core"; do
    [[ -x $f ]] || { echo "run.sh: no $f (see --help for the build)" >&2; exit 1; }
done
command -v h2load >/dev/null || { echo "run.sh: h2load missing (nghttp2-client)" >&2; exit 1; }

tmp=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "# machine: $(nproc) CPUs, load average at start $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
uci=$root/examples/uci_housing/uci_housing_model
"$py" "$root/bench/rpc/grpc_bodies.py" body uci_housing_model x 1,13 "$tmp/uci.bin" >/dev/null
"$py" "$root/bench/rpc/grpc_bodies.py" identity "$tmp/id.onnx" >/dev/null
(cd "$tmp" && "$skiff" convert --dirname id.onnx --serving_server id --serving_client id_client \
    >/dev/null)
"$py" "$root/bench/rpc/grpc_bodies.py" body id x 1,3,224,224 "$tmp/big.bin" >/dev/null
big_bytes=$((3 * 224 * 224 * 4))

wait_port() { # FILE -> the port, once written
    for _ in $(seq 300); do [[ -s $1 ]] && break; sleep 0.1; done
    [[ -s $1 ]] || { echo "run.sh: a server did not start:" >&2; cat "$tmp"/*.log >&2; exit 1; }
    cat "$1"
}
declare -A port pid
"$skiff" serve --model "$uci" --model "$tmp/id" --port 0 --port_file "$tmp/port_skiff" \
    >"$tmp/skiff.log" 2>&1 &
pid[skiff]=$!
"$core" --grpc_port 0 --grpc_port_file "$tmp/port_core" --model "$uci" --model "$tmp/id" \
    >"$tmp/core.log" 2>&1 &
pid[core]=$!
"$core" --cq_threads 1 --grpc_port 0 --grpc_port_file "$tmp/port_core1" --model "$uci" \
    --model "$tmp/id" >"$tmp/core1.log" 2>&1 &
pid[core1]=$!
pids="${pid[*]}"
servers=(skiff core core1)
for s in "${servers[@]}"; do port[$s]=$(wait_port "$tmp/port_$s"); done
echo "# skiff: $(grep -o '[0-9]* I/O threads' "$tmp/skiff.log" | head -1); $(sed -n 's/.*core_server: //p' "$tmp/core.log"); core1: 1 completion-queue thread"

# The same body must get the same answer from both (and grpc-status 0).
"$py" - "${port[skiff]}" "${port[core]}" "${port[core1]}" "$tmp/uci.bin" "$tmp/big.bin" <<'EOF'
import sys
import grpc
ports = sys.argv[1:4]
for path in sys.argv[4:]:
    body = open(path, "rb").read()[5:]
    got = []
    for port in ports:
        with grpc.insecure_channel("127.0.0.1:" + port,
                                   options=[("grpc.max_receive_message_length", 1 << 26)]) as ch:
            call = ch.unary_unary("/inference.GRPCInferenceService/ModelInfer")
            got.append(call(body, timeout=30))
    if got[0] != got[1] or got[0] != got[2]:
        sys.exit("run.sh: the two servers answer %s differently" % path)
    print("# answers identical for %s (%d bytes)" % (path.rsplit("/", 1)[1], len(got[0])))
EOF

ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
declare -A rps lat50 lat99 cpuc
# one SERVER BODY CONNS STREAMS CALLS KEY: one h2load run, its figures appended under KEY.
one() {
    local s=$1 body=$2 c=$3 m=$4 n=$5 key=$6 c0 c1 out
    rm -f "$tmp/lat" # h2load appends to its log file
    c0=$(cpu "${pid[$s]}")
    out=$(h2load -n "$n" -c "$c" -m "$m" -t 1 -d "$body" --log-file="$tmp/lat" \
        -H 'content-type: application/grpc' -H 'te: trailers' \
        "http://127.0.0.1:${port[$s]}/inference.GRPCInferenceService/ModelInfer" 2>&1)
    c1=$(cpu "${pid[$s]}")
    local ok
    ok=$(awk '/^requests:/ { print $8 + 0 }' <<<"$out")
    if [[ $ok != "$n" ]]; then
        echo "run.sh: $s $key: $ok of $n calls succeeded" >&2
        echo "$out" >&2
        exit 1
    fi
    rps[$s/$key]+="$(awk '/^finished/ { print $4 }' <<<"$out") "
    read -r p50 p99 < <(cut -f3 "$tmp/lat" | sort -n |
        awk '{ a[NR] = $1 } END { i = int(NR * 0.5); j = int(NR * 0.99); print a[i ? i : 1], a[j ? j : 1] }')
    lat50[$s/$key]+="$p50 " lat99[$s/$key]+="$p99 "
    cpuc[$s/$key]+="$(awk -v d=$((c1 - c0)) -v t="$ticks" -v n="$n" 'BEGIN { printf "%.1f", int(d / t / n * 1e7) / 10 }') "
}
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
mn() { tr ' ' '\n' | grep -v '^$' | sort -g | head -1; }

points=("1 1" "1 16" "4 4" "16 1")
big_points=("1 1" "1 4")
# Warm-up: connections, caches and the instances' first runs, on both.
for s in "${servers[@]}"; do
    one "$s" "$tmp/uci.bin" 1 16 2000 warm
    ((large)) && one "$s" "$tmp/big.bin" 1 4 100 warmbig
done
for ((r = 0; r < rounds; r++)); do
    order=("${servers[@]:r%3}" "${servers[@]:0:r%3}") # who goes first rotates
    for p in "${points[@]}"; do
        read -r c m <<<"$p"
        for s in "${order[@]}"; do one "$s" "$tmp/uci.bin" "$c" "$m" "$calls" "uci/${c}x$m"; done
    done
    if ((large)); then
        for p in "${big_points[@]}"; do
            read -r c m <<<"$p"
            for s in "${order[@]}"; do one "$s" "$tmp/big.bin" "$c" "$m" "$large_calls" "big/${c}x$m"; done
        done
    fi
done

echo "# $rounds rounds; uci: $calls calls per point; Identity [1,3,224,224] float32 ($big_bytes bytes each way): $large_calls calls per point"
printf "%-6s %-6s %-9s %10s %10s %8s %8s %11s %10s\n" \
    server model conn×str "calls/s" "min" p50_us p99_us cpu_us/call "MB/s(med)"
keys=()
for p in "${points[@]}"; do read -r c m <<<"$p"; keys+=("uci/${c}x$m"); done
if ((large)); then for p in "${big_points[@]}"; do read -r c m <<<"$p"; keys+=("big/${c}x$m"); done; fi
for k in "${keys[@]}"; do
    for s in "${servers[@]}"; do
        r=$(med <<<"${rps[$s/$k]}")
        mb=-
        [[ $k == big/* ]] && mb=$(awk -v r="$r" -v b=$big_bytes 'BEGIN { printf "%.1f", int(r * b / 1e5) / 10 }')
        printf "%-6s %-6s %-9s %10s %10s %8s %8s %11s %10s\n" "$s" "${k%%/*}" "${k#*/}" "$r" \
            "$(mn <<<"${rps[$s/$k]}")" "$(med <<<"${lat50[$s/$k]}")" "$(med <<<"${lat99[$s/$k]}")" \
            "$(med <<<"${cpuc[$s/$k]}")" "$mb"
    done
    awk -v a="$(med <<<"${rps[core/$k]}")" -v a1="$(med <<<"${rps[core1/$k]}")" \
        -v b="$(med <<<"${rps[skiff/$k]}")" -v k="$k" \
        'BEGIN { printf "  %s median calls/s, core/skiff %.2fx, core1/skiff %.2fx\n", k,
                int(a / b * 100) / 100, int(a1 / b * 100) / 100 }'
done

# Error answers: skiff's /metrics; core_server prints its count on SIGTERM.
errs_skiff=$(curl -s "http://127.0.0.1:${port[skiff]}/metrics" |
    awk '/skiff_rpc_responses_total\{protocol="grpc",result="error"\}/ { print $2 }')
errs=0
echo "# error answers: skiff ${errs_skiff:-?}"
[[ ${errs_skiff:-x} == 0 ]] || errs=1
for s in core core1; do
    kill "${pid[$s]}"
    wait "${pid[$s]}" || true
    e=$(sed -n 's/.*core_server: answers ok=[0-9]* error=\([0-9]*\).*/\1/p' "$tmp/$s.log")
    echo "# error answers: $s ${e:-?}"
    [[ ${e:-x} == 0 ]] || errs=1
done
pids=${pid[skiff]}
echo "# load average at end $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
((errs == 0)) || { echo "run.sh: error answers" >&2; exit 1; }
