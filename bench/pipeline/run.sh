#!/usr/bin/env bash
# bench/pipeline/run.sh [--seconds N] [--rounds R] [--connections C] - the
# pipeline's overhead: the uci model behind examples/pipeline_uci/config.yml
# (key/value JSON, ParseNumbers and ToString steps, one op thread pool) against
# `skiff serve` of the same model (Paddle web JSON), both over HTTP/1.1 with wrk
# at C connections (default 64) on 2 threads, the two servers alternating round
# by round. Prints requests/s per round, the medians, minimums and their ratio
# (pipeline / model; target at least 0.7), p50/p99, and the load average.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=5 rounds=3 conns=64
while (($#)); do
  case $1 in
  --seconds) seconds=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --connections) conns=$2; shift 2 ;;
  -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--seconds N] [--rounds R] [--connections C]" >&2; exit 2 ;;
  esac
done
skiff=${SKIFF:-build/skiff}
command -v wrk >/dev/null || { echo "wrk not installed (scripts/install-deps.sh --bench)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
x='0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332'
cat >"$tmp/pipe.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"key": ["x"], "value": ["$x"]}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat >"$tmp/model.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"feed":[{"x": [$x]}], "fetch":["price"]}'
wrk.headers["Content-Type"] = "application/json"
LUA
start() { # NAME ARGS... -> port in $tmp/NAME.port
  local name=$1; shift
  "$skiff" serve "$@" --port 0 --port_file "$tmp/$name.port" --log_level warn >"$tmp/$name.log" 2>&1 &
  for _ in $(seq 200); do [[ -s $tmp/$name.port ]] && break; sleep 0.05; done
  cat "$tmp/$name.port"
}
pp=$(start pipe --pipeline examples/pipeline_uci/config.yml)
mp=$(start model --model examples/uci_housing/uci_housing_model --name uci)
curl -sf -X POST "http://127.0.0.1:$pp/uci/prediction" -d "{\"key\": [\"x\"], \"value\": [\"$x\"]}" | grep -q 22.989538
curl -sf -X POST "http://127.0.0.1:$mp/uci/prediction" -d "{\"feed\":[{\"x\": [$x]}], \"fetch\":[\"price\"]}" | grep -q 22.989538
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run() { # PORT LUA -> "rps p50 p99"
  wrk -t2 -c"$conns" -d"${seconds}s" --latency -s "$3" "http://127.0.0.1:$1/uci/prediction" 2>&1 |
    awk -v name="$2" '/Requests\/sec/ { r = $2 } / 50%/ { p50 = $2 } / 99%/ { p99 = $2 }
      /Non-2xx/ { bad = $4 } END { print name, r, p50, p99, (bad ? "non-2xx=" bad : "") }'
}
res=()
for ((i = 0; i < rounds; i++)); do
  if ((i % 2)); then
    res+=("$(run "$mp" model "$tmp/model.lua")" "$(run "$pp" pipeline "$tmp/pipe.lua")")
  else
    res+=("$(run "$pp" pipeline "$tmp/pipe.lua")" "$(run "$mp" model "$tmp/model.lua")")
  fi
done
printf '%s\n' "${res[@]}"
printf '%s\n' "${res[@]}" | awk '
  $1 == "pipeline" { p[++np] = $2 } $1 == "model" { m[++nm] = $2 }
  function sort(a, k,   i, j, s) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
    if (a[j] < a[i]) { s = a[i]; a[i] = a[j]; a[j] = s } }
  function med(a, k) { return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  END { sort(p, np); sort(m, nm)
        printf "pipeline median %.1f min %.1f req/s; model median %.1f min %.1f req/s; ratio (medians) %.3f, (minimums) %.3f\n",
          med(p, np), p[1], med(m, nm), m[1], int(med(p, np) / med(m, nm) * 1000) / 1000, int(p[1] / m[1] * 1000) / 1000 }'
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
