#!/usr/bin/env bash
# image_test.sh - checks the skiff container image (deploy/Dockerfile) end to end with
# podman, as a user runs it. Not part of `make test`: it needs root, podman and an image
# built by tools/image_build.sh.
#
#   sudo tools/image_test.sh [--image skiff:latest] [--max-mb 150]
#
#   1. the image: its size (podman's figure, decimal MB) is under --max-mb; it declares
#      user 10001, port 9393/tcp, STOPSIGNAL SIGTERM and a HEALTHCHECK
#   2. the image as it is (no arguments, port published on 127.0.0.1): skiff runs as
#      PID 1 with a non-zero uid; the seed's curl request to /uci/prediction answers the
#      price; KServe v2 /v2/health/ready and /v2/models/uci/ready answer 200; the image's
#      HEALTHCHECK reports healthy (`podman healthcheck run`); `podman stop` exits it 0
#   3. the drain: a models directory mounted at /models (uci + the integration tests'
#      slow model) and flags after the image name (--port 8080, which the HEALTHCHECK
#      follows); requests that take seconds are in flight when `podman stop` sends the
#      image's STOPSIGNAL: every one is answered 200, the log shows the drain, and the
#      container exits 0 (3 would mean the grace ran out, 137 a SIGKILL).
set -euo pipefail
cd "$(dirname "$0")/.."

image=skiff:latest
max_mb=150
while (($#)); do
    case $1 in
    --image) image=$2; shift 2 ;;
    --max-mb) max_mb=$2; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "image_test: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $(id -u) -eq 0 ]] || { echo "image_test: run as root (rootful podman)" >&2; exit 1; }

# The same podman settings as tools/image_build.sh (the reasons are there). No systemd
# runs here to time the HEALTHCHECK: the check is run by `podman healthcheck run`, and
# podman's complaints that it cannot set up the timer are left out of the output.
pm() { podman --runtime runc "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }
run_opts=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --health-interval disable)

t0=$(date +%s)
tmp=$(mktemp -d /tmp/skiff-image-test.XXXXXX)
names=()
cleanup() {
    local n
    for n in "${names[@]}"; do pm rm -f -t 0 "$n" >/dev/null 2>&1 || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
current=""
fail() {
    echo "image_test: FAIL: $*"
    if [[ -n $current ]]; then
        echo "--- last lines of $current's log:"
        pm logs "$current" 2>&1 | tail -n 20
    fi
    exit 1
}
ok() { echo "image_test: ok: $*"; }

free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((30000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    fail "no free port found"
}

# start NAME PORT INNER [podman run options] -- [image arguments]: runs the image
# detached with its port INNER published on 127.0.0.1:PORT and waits for readiness.
start() {
    local name=$1 port=$2 inner=$3 opts=()
    shift 3
    while (($#)) && [[ $1 != -- ]]; do opts+=("$1"); shift; done
    (($#)) && shift
    names+=("$name")
    current=$name
    pm run -d --name "$name" "${run_opts[@]}" -p "127.0.0.1:$port:$inner" \
        "${opts[@]}" "$image" "$@" >/dev/null
    for _ in $(seq 1 120); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/health/ready") == 200 ]] &&
            return 0
        [[ $(pm inspect --format '{{.State.Running}}' "$name") == true ]] ||
            fail "$name exited before it was ready"
        sleep 0.5
    done
    fail "$name not ready within 60 s"
}

# ---- 1. the image -------------------------------------------------------------------

pm image exists "$image" || fail "no image $image (tools/image_build.sh builds it)"
bytes=$(pm image inspect --format '{{.Size}}' "$image")
echo "image_test: $image is $bytes bytes ($((bytes / 1000000)) MB)"
((bytes < max_mb * 1000000)) || fail "image is $((bytes / 1000000)) MB, not under $max_mb MB"
ok "image size under $max_mb MB"
# shellcheck disable=SC2016 # a Go template, not shell
cfg=$(pm image inspect --format \
    'user={{.Config.User}} stop={{.Config.StopSignal}} ports={{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}health={{if .Config.Healthcheck}}{{.Config.Healthcheck.Test}}{{end}}' \
    "$image")
echo "image_test: $cfg"
[[ $cfg == *"user=10001:10001 "* ]] || fail "image user is not 10001:10001"
[[ $cfg == *"stop=SIGTERM "* ]] || fail "image STOPSIGNAL is not SIGTERM"
[[ $cfg == *"ports=9393/tcp "* ]] || fail "image does not expose 9393/tcp"
[[ $cfg == *"health=[CMD skiff-healthcheck]"* ]] || fail "image has no HEALTHCHECK"
ok "image config: user, port, stop signal, healthcheck"

# ---- 2. the image as it is ----------------------------------------------------------

c1=skiff-image-test-$$
p1=$(free_port)
start "$c1" "$p1" 9393 --
ok "default container ready on 127.0.0.1:$p1 ($(($(date +%s) - t0)) s)"

status=$(pm exec "$c1" cat /proc/1/status)
exe=$(pm exec "$c1" readlink /proc/1/exe)
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' <<<"$status")
echo "image_test: PID 1 is $exe, uids (real effective saved fs) $uids"
[[ $exe == /usr/local/bin/skiff ]] || fail "PID 1 is $exe, not skiff"
for u in $uids; do ((u != 0)) || fail "skiff runs with uid 0 ($uids)"; done
ok "skiff runs as PID 1, not root (uid $(cut -d' ' -f2 <<<"$uids"))"

# The seed's request (Paddle Serving's tutorial), only the port changed.
answer=$(curl -s -H "Content-Type:application/json" -X POST -d '{"feed":[{"x": [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332]}], "fetch":["price"]}' "http://127.0.0.1:$p1/uci/prediction")
echo "image_test: POST /uci/prediction -> $answer"
[[ $answer == '{"result":{"price":[[22.98'* ]] || fail "no price in the answer"
ok "the seed's curl request answers the price"

for path in /v2/health/ready /v2/health/live /v2/models/uci/ready; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p1$path")
    [[ $code == 200 ]] || fail "GET $path answered $code"
done
ok "KServe v2 server and model readiness: 200"

pm healthcheck run "$c1" || fail "podman healthcheck run: unhealthy"
health=$(pm inspect --format '{{.State.Health.Status}}' "$c1")
[[ $health == healthy ]] || fail "health status '$health'"
ok "HEALTHCHECK (skiff-healthcheck): $health"

pm stop -t 40 "$c1" >/dev/null
code=$(pm inspect --format '{{.State.ExitCode}}' "$c1")
[[ $code == 0 ]] || fail "default container exited $code after podman stop"
ok "podman stop: exit 0"

# ---- 3. the drain on SIGTERM ---------------------------------------------------------

models=$tmp/models
mkdir -p "$models"
cp -r examples/uci_housing/uci_housing_model "$models/uci"
cp -r tests/integration/models/slow "$models/slow"
chmod -R a+rX "$tmp" # read by the container's user 10001
c2=skiff-image-drain-$$
p2=$(free_port)
start "$c2" "$p2" 8080 -v "$models:/models:ro" -- --model /models/uci:uci /models/slow:slow \
    --port 8080 --instances 1 --batch_infer_size 1 --grace_s 30
ok "container with /models mounted and flags after the image name ready on 127.0.0.1:$p2"
# The HEALTHCHECK finds the port in skiff's command line.
pm healthcheck run "$c2" || fail "podman healthcheck run: unhealthy with --port 8080"
ok "HEALTHCHECK follows --port 8080"

# slow: y = (x * 512)^7, seven batched 512x512 MatMuls per row. Each request gets rows
# for about 0.4 s of work on this machine; one instance runs them one after another.
body() { # body ROWS
    local r parts=()
    for ((r = 0; r < $1; r++)); do parts+=('{"x":[0.001]}'); done
    local IFS=,
    echo "{\"feed\":[${parts[*]}],\"fetch\":[\"y\"]}"
}
url=http://127.0.0.1:$p2/slow/prediction
body 6 >"$tmp/calib.json"
for _ in 1 2; do # the first run also compiles the model's kernels
    secs=$(curl -s -o /dev/null -w '%{time_total}' -d @"$tmp/calib.json" "$url")
done
rows=$(awk -v s="$secs" 'BEGIN { r = int(6 * 0.4 / (s > 0.001 ? s : 0.001)); print (r < 6 ? 6 : (r > 200 ? 200 : r)) }')
n_req=8
body "$rows" >"$tmp/slow.json"
echo "image_test: 6 rows take ${secs} s; $n_req requests of $rows rows go in flight"
pids=()
for ((k = 0; k < n_req; k++)); do
    (
        rc=0
        code=$(curl -s -o "$tmp/answer.$k" -w '%{http_code}' --max-time 120 -d @"$tmp/slow.json" "$url") || rc=$?
        echo "$rc $code" >"$tmp/result.$k"
    ) &
    pids+=($!)
done
sleep 1 # every request sent: one running, the rest queued
ts=$(date +%s.%N)
pm stop -t 40 "$c2" >/dev/null
took=$(awk -v a="$ts" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
wait "${pids[@]}"

failed=0
for ((k = 0; k < n_req; k++)); do
    read -r rc code <"$tmp/result.$k"
    if [[ $rc != 0 || $code != 200 ]] || ! grep -q '"y":\[\[' "$tmp/answer.$k"; then
        echo "image_test: request $k: curl exit $rc, HTTP $code: $(head -c 200 "$tmp/answer.$k" 2>/dev/null)"
        failed=$((failed + 1))
    fi
done
logs=$(pm logs "$c2" 2>&1)
drain_line=$(grep -o 'SIGTERM: draining.*' <<<"$logs" || true)
echo "image_test: log: $drain_line"
echo "image_test: log: $(grep -o 'drained; bye' <<<"$logs" || true)"
code=$(pm inspect --format '{{.State.ExitCode}}' "$c2")
echo "image_test: podman stop took $took s; exit code $code"
((failed == 0)) || fail "$failed of $n_req requests in flight failed during the drain"
[[ -n $drain_line ]] || fail "no 'SIGTERM: draining' in the log: the stop signal did not reach skiff"
in_flight=$(sed -nE 's/.*draining \(([0-9]+) requests? in flight.*/\1/p' <<<"$drain_line")
((in_flight > 0)) || fail "no request was in flight at SIGTERM: the drain was not exercised"
grep -q 'drained; bye' <<<"$logs" || fail "no 'drained; bye' in the log"
[[ $code == 0 ]] || fail "exit code $code after the drain (3: grace ran out, 137: killed)"
ok "SIGTERM drain: $in_flight requests in flight, all $n_req answered 200, exit 0 within --grace_s 30"
current=""

echo "image_test: PASS ($(($(date +%s) - t0)) s): $image, $((bytes / 1000000)) MB"
