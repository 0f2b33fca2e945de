#!/usr/bin/env bash
# bench/rpc/run.sh [--seconds N] [--rounds R] [--grpc] - skiff's RPC against its
# HTTP in one run: the uci model at 1, 16 and 64 concurrent callers over
# baidu_std, HTTP JSON and HTTP 0.9 protobuf, with the C client
# (build/rpc_bench: threads each making blocking skiff_client_predict calls).
# The protocols alternate round by round; per point it prints the median and
# the minimum requests/s over the rounds, p50/p99 latency (median over rounds)
# and the server's CPU per request (utime+stime of /proc/PID/stat, delta over
# the run), then brpc/HTTP-JSON ratios. --grpc adds an h2load run when h2load
# is installed and the server serves gRPC; otherwise it says it is skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build}
seconds=3 rounds=3 grpc=0
while (($#)); do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --grpc) grpc=1; shift ;;
    *) echo "usage: $0 [--seconds N] [--rounds R] [--grpc]" >&2; exit 2 ;;
    esac
done
skiff=$build/skiff bench=$build/rpc_bench
[[ -x $skiff && -x $bench ]] || { echo "run.sh: build first (cmake --build build)" >&2; exit 1; }
tmp=$(mktemp -d)
srv=
cleanup() { [[ -n $srv ]] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null; rm -rf "$tmp"; }
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
protos=(brpc http http_proto)
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
if ((grpc)); then
    if ! command -v h2load >/dev/null; then
        echo "grpc: skipped (h2load not installed: apt-get install nghttp2-client)"
    elif ! grep -qi grpc "$tmp/serve.log"; then
        echo "grpc: skipped (this skiff does not serve gRPC)"
    else
        echo "grpc: skipped (no gRPC request body is prepared for h2load in this version)"
    fi
fi
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
