#!/usr/bin/env bash
# bench/rpc/run.sh [--seconds N] [--rounds R] [--grpc] [--large] - skiff's RPC
# against its HTTP and gRPC in one run: the uci model at 1, 16 and 64
# concurrent callers over baidu_std, HTTP JSON, HTTP 0.9 protobuf and gRPC
# (GeneralModelService/inference), with the C client (build/rpc_bench: threads
# each making blocking skiff_client_predict calls). The protocols alternate
# round by round; per point it prints the median and the minimum requests/s
# over the rounds, p50/p99 latency (median over rounds) and the server's CPU
# per request (utime+stime of /proc/PID/stat, delta over the run), then the
# brpc/HTTP-JSON and gRPC/brpc ratios. --grpc adds h2load (nghttp2-client)
# sending KServe v2 ModelInfer for uci at 1 and 16 connections. --large: a
# 3x224x224 float32 tensor through an ONNX Identity model made here
# (grpc_bodies.py, /usr/bin/python3 + onnx): KServe gRPC raw_input_contents
# with h2load, and baidu_std / gRPC (0.9 float_data) with rpc_bench; MB/s of
# tensor bytes each way (the answer carries the same tensor back).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build}
seconds=3 rounds=3 grpc=0 large=0
while (($#)); do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --grpc) grpc=1; shift ;;
    --large) large=1; shift ;;
    *) echo "usage: $0 [--seconds N] [--rounds R] [--grpc] [--large]" >&2; exit 2 ;;
    esac
done
skiff=$build/skiff bench=$build/rpc_bench
[[ -x $skiff && -x $bench ]] || { echo "run.sh: build first (cmake --build build)" >&2; exit 1; }
tmp=$(mktemp -d)
srv= srv2=
cleanup() {
    [[ -n $srv ]] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
    [[ -n $srv2 ]] && kill "$srv2" 2>/dev/null && wait "$srv2" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
"$skiff" serve --model "$root/examples/uci_housing/uci_housing_model" --port 0 \
    --port_file "$tmp/port" >"$tmp/serve.log" 2>&1 &
srv=$!
for _ in $(seq 100); do [[ -s $tmp/port ]] && break; sleep 0.1; done
port=$(cat "$tmp/port")
conf=$root/examples/uci_housing/uci_housing_client
ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$srv/stat"; }
echo "# machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "# uci, $seconds s per point, $rounds rounds, protocols alternating"
declare -A rps_all p50_all p99_all cpu_all
protos=(brpc http http_proto grpc)
for callers in 1 16 64; do
    for ((r = 0; r < rounds; r++)); do
        for proto in "${protos[@]}"; do
            c0=$(cpu)
            line=$("$bench" "$conf" "127.0.0.1:$port" "$proto" "$callers" "$seconds")
            c1=$(cpu)
            calls=$(sed -E 's/.*calls=([0-9]+).*/\1/' <<<"$line")
            k=$proto/$callers
            rps_all[$k]+="$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line") "
            p50_all[$k]+="$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line") "
            p99_all[$k]+="$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line") "
            cpu_all[$k]+="$(awk -v d=$((c1 - c0)) -v t="$ticks" -v n="$calls" \
                'BEGIN { printf "%.1f", n ? d / t / n * 1e6 : 0 }') "
        done
    done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
mn() { tr ' ' '\n' | grep -v '^$' | sort -g | head -1; }
printf "%-11s %7s %10s %10s %8s %8s %12s\n" protocol callers "rps(med)" "rps(min)" p50_us p99_us cpu_us/req
for callers in 1 16 64; do
    for proto in "${protos[@]}"; do
        k=$proto/$callers
        printf "%-11s %7s %10s %10s %8s %8s %12s\n" "$proto" "$callers" \
            "$(med <<<"${rps_all[$k]}")" "$(mn <<<"${rps_all[$k]}")" "$(med <<<"${p50_all[$k]}")" \
            "$(med <<<"${p99_all[$k]}")" "$(med <<<"${cpu_all[$k]}")"
    done
done
for callers in 1 16 64; do
    b=$(med <<<"${rps_all[brpc/$callers]}") h=$(med <<<"${rps_all[http/$callers]}")
    awk -v b="$b" -v h="$h" -v c="$callers" \
        'BEGIN { printf "ratio brpc/http_json at %d callers: %.2fx (median rps)\n", c, b / h }'
done
for callers in 1 16 64; do
    b=$(med <<<"${rps_all[brpc/$callers]}") g=$(med <<<"${rps_all[grpc/$callers]}")
    awk -v b="$b" -v g="$g" -v c="$callers" \
        'BEGIN { printf "ratio grpc/brpc at %d callers: %.2fx (median rps)\n", c, g / b }'
done
h2() { # h2load over gRPC: BODY CONNECTIONS REQUESTS PORT -> "req/s"
    h2load -n "$3" -c "$2" -m 1 -d "$1" -H 'content-type: application/grpc' -H 'te: trailers' \
        "http://127.0.0.1:$4/inference.GRPCInferenceService/ModelInfer" 2>&1 |
        awk '/^requests:/ { if ($8 + 0 != $2 + 0) bad = 1 } /^finished/ { r = $4 }
             END { print bad ? "failed" : r }'
}
py=/usr/bin/python3
if ((grpc)); then
    if ! command -v h2load >/dev/null; then
        echo "h2load: skipped (not installed: apt-get install nghttp2-client)"
    else
        "$py" "$here/grpc_bodies.py" body uci_housing_model x 1,13 "$tmp/uci.bin" >/dev/null
        for c in 1 16; do
            r=()
            for ((i = 0; i < rounds; i++)); do r+=("$(h2 "$tmp/uci.bin" $c $((c * 3000)) "$port")"); done
            echo "h2load KServe ModelInfer uci, $c connections: req/s $(tr ' ' '\n' <<<"${r[*]}" | sort -g | tr '\n' ' ')"
        done
    fi
fi
if ((large)); then
    floats=$((3 * 224 * 224)) bytes=$((3 * 224 * 224 * 4))
    "$py" "$here/grpc_bodies.py" identity "$tmp/id.onnx" >/dev/null
    (cd "$tmp" && "$skiff" convert --dirname id.onnx --serving_server id --serving_client id_client \
        >/dev/null)
    "$skiff" serve --model "$tmp/id" --port 0 --port_file "$tmp/port2" >"$tmp/serve2.log" 2>&1 &
    srv2=$!
    for _ in $(seq 100); do [[ -s $tmp/port2 ]] && break; sleep 0.1; done
    port2=$(cat "$tmp/port2")
    "$py" "$here/grpc_bodies.py" body id x 1,3,224,224 "$tmp/big.bin" >/dev/null
    echo "# large: float32 [1,3,224,224] = $bytes bytes each way, Identity model"
    for ((i = 0; i < rounds; i++)); do
        for c in 1 2; do
            r=$(h2 "$tmp/big.bin" $c $((c * 200)) "$port2")
            awk -v r="$r" -v b=$bytes -v c=$c 'BEGIN { printf "kserve-grpc raw_input_contents  %d conn: %8.1f req/s %8.1f MB/s each way\n", c, r, r * b / 1e6 }'
        done
        for proto in brpc grpc; do
            line=$("$bench" "$tmp/id_client" "127.0.0.1:$port2" "$proto" 1 "$seconds" "$floats")
            r=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line")
            awk -v r="$r" -v b=$bytes -v p="$proto" 'BEGIN { printf "%-5s 0.9 float_data (C client) 1 caller: %8.1f req/s %8.1f MB/s each way\n", p, r, r * b / 1e6 }'
        done
    done
fi
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
