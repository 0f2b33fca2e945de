#!/usr/bin/env bash
# bench/engine/run.sh - skiff's engine against ONNX Runtime on the reference
# models, same inputs, same thread count.
#
#   bench/engine/run.sh [--skiff build/skiff] [--models a,b] [--rounds 5] [--runs 10]
#                       [--threads 2] [--contended [CORE]] [--write-doc]
#
# Each round runs one skiff process and one ORT process per model, in
# alternating order (skiff first on odd rounds), so drift in machine load hits
# both alike. Each process loads the model, does 2 untimed warm-up runs and
# --runs timed runs, and reports its median; the table shows the median of the
# per-round medians. ORT: tools/ort_run.js (intra-op threads = --threads,
# graph optimisation "all"). skiff: `skiff run --threads N`.
#
# Prints "model batch skiff_ms ort_ms ratio skiff_MB ort_MB" (ratio = skiff/ORT,
# below 1 means skiff is faster; MB = the process's peak RSS, the median over the
# rounds, from GNU time; ORT's includes Node's own, printed once as its base).
# --contended runs a busy loop pinned to one core (CORE, default the last one)
# through every process of both engines: the cores shared with a neighbour. --write-doc also writes the table, with the machine line,
# into the engine section of docs/performance.md.
# Models come from models-cache/ (tools/models/export_models.py builds them).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)

SKIFF=build/skiff
MODELS=""
ROUNDS=5
RUNS=10
THREADS=2
WRITE_DOC=0
CONTENDED=""
CACHE=models-cache
PY=/usr/bin/python3
while (($#)); do
  case "$1" in
    --skiff) SKIFF=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --cache) CACHE=$2; shift 2 ;;
    --write-doc) WRITE_DOC=1; shift ;;
    --contended)
      if [[ ${2:-} =~ ^[0-9]+$ ]]; then CONTENDED=$2; shift 2; else CONTENDED=$(($(nproc) - 1)); shift; fi ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -x $SKIFF ]] || { echo "run.sh: $SKIFF not found (build skiff or pass --skiff)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "run.sh: GNU time is needed for peak RSS (scripts/install-deps.sh --bench)" >&2; exit 2; }

# Build whatever is missing (no-op when models-cache is complete).
if [[ -n $MODELS ]]; then
  $PY tools/models/export_models.py --out "$CACHE" --only "$MODELS"
else
  $PY tools/models/export_models.py --out "$CACHE"
fi

# One line per manifest entry: name batch model input-args...
mapfile -t ENTRIES < <($PY - "$CACHE" "$MODELS" <<'EOF'
import json, os, sys
cache, only = sys.argv[1], [m for m in sys.argv[2].split(",") if m]
for e in json.load(open(os.path.join(cache, "manifest.json"))):
    if only and e["name"] not in only:
        continue
    args = " ".join("--input %s=%s" % (k, os.path.join(cache, v)) for k, v in e["inputs"].items())
    name = e["name"] + ("@" + e["variant"] if e.get("variant") else "")
    print(name, e["batch"], os.path.join(cache, e["model"]), args)
EOF
)

TMP=$(mktemp -d /tmp/skiff-bench.XXXXXX)
BUSY=""
stop_busy() { [[ -n $BUSY ]] && kill "$BUSY" 2>/dev/null; wait "$BUSY" 2>/dev/null; BUSY=""; }
trap 'stop_busy; rm -rf "$TMP"' EXIT
# the neighbour: one core kept busy while an engine runs
start_busy() {
  [[ -z $CONTENDED ]] && return 0
  taskset -c "$CONTENDED" bash -c 'while :; do :; done' &
  BUSY=$!
}
rss_mb() { awk '{printf "%.1f", $1 / 1024}' "$TMP/rss"; }

skiff_once() { # model inputs... -> "median min rss_MB" (ms, ms, MB)
  local model=$1; shift
  start_busy
  local t
  t=$(/usr/bin/time -o "$TMP/rss" -f %M "$SKIFF" run "$model" "$@" --threads "$THREADS" --warmup 2 --repeat "$RUNS" 2>/dev/null |
    sed -n 's/.*min \([0-9.]*\) ms, median \([0-9.]*\) ms.*/\2 \1/p' || true)
  stop_busy
  [[ -n $t ]] && echo "$t $(rss_mb)"
}
ort_once() {
  local model=$1; shift
  start_busy
  /usr/bin/time -o "$TMP/rss" -f %M node tools/ort_run.js "$model" "$@" --threads "$THREADS" --warmup 2 --runs "$RUNS" \
    --timings "$TMP/ort.json" --quiet >/dev/null 2>&1 || { stop_busy; return 0; }
  stop_busy
  $PY -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["median_ms"], min(t["runs_ms"]), sys.argv[2])' "$TMP/ort.json" "$(rss_mb)"
}
# Node's own peak RSS with onnxruntime-node loaded and no model: ORT's base
/usr/bin/time -o "$TMP/rss" -f %M node -e "require('./third_party/npm/node_modules/onnxruntime-node')" >/dev/null 2>&1 &&
  ORT_BASE=$(rss_mb) || ORT_BASE="?"

# median of the first (stat=0) or third (stat=2, "%.1f") or min of the second
# (stat=1) field of "a b c" triples
stat() { $PY -c '
import statistics, sys
k = int(sys.argv[1]); v = [float(x.split()[k]) for x in sys.argv[2:] if len(x.split()) > k]
print("nan" if not v else ("%.1f" if k == 2 else "%.3f") % (min(v) if k == 1 else statistics.median(v)))' "$@"; }

LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
if $PY -c 'import os,sys; sys.exit(0 if os.getloadavg()[0] > os.cpu_count() else 1)'; then
  echo "run.sh: warning: load average $LOAD_START exceeds the $(nproc) cores; timings will be noisy" >&2
fi
ROWS=()
[[ -n $CONTENDED ]] && echo "# contended: a busy loop on core $CONTENDED through every run of both engines"
echo "# ORT base (Node with onnxruntime-node, no model): $ORT_BASE MB peak RSS"
printf '%-16s %5s %10s %10s %7s %9s %9s\n' model batch skiff_ms ort_ms ratio skiff_MB ort_MB
for entry in "${ENTRIES[@]}"; do
  read -r name batch model inputs <<<"$entry"
  # shellcheck disable=SC2206
  in_args=($inputs)
  sk=(); ort=()
  for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
      sk+=("$(skiff_once "$model" "${in_args[@]}")"); ort+=("$(ort_once "$model" "${in_args[@]}")")
    else
      ort+=("$(ort_once "$model" "${in_args[@]}")"); sk+=("$(skiff_once "$model" "${in_args[@]}")")
    fi
  done
  sm=$(stat 0 "${sk[@]}"); om=$(stat 0 "${ort[@]}")
  smin=$(stat 1 "${sk[@]}"); omin=$(stat 1 "${ort[@]}")
  srss=$(stat 2 "${sk[@]}"); orss=$(stat 2 "${ort[@]}")
  # skiff run prints ms with 3 decimals: a model under 0.5 us reads 0.000.
  ratio=$($PY -c '
import sys, math
a, b = float(sys.argv[1]), float(sys.argv[2])
if math.isnan(a) or math.isnan(b) or b == 0: print("n/a")
elif a == 0: print("<%.3f" % (0.0005 / b))
else: print("%.2f" % (a / b))' "$sm" "$om")
  [[ $sm == 0.000 ]] && sm="<0.001"
  [[ $smin == 0.000 ]] && smin="<0.001"
  [[ $sm == nan ]] && sm="fail"
  [[ $om == nan ]] && om="fail"
  printf '%-16s %5s %10s %10s %7s %9s %9s\n' "$name" "$batch" "$sm" "$om" "$ratio" "$srss" "$orss"
  ROWS+=("| $name | $batch | $sm | $om | $ratio | $smin | $omin | $srss | $orss |")
done

if ((WRITE_DOC)); then
  MARK=${CONTENDED:+-contended} # the contended table has a section of its own
  cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
  cores=$(nproc)
  ort_ver=$(node -e "console.log(require('./third_party/npm/node_modules/onnxruntime-node/package.json').version)" 2>/dev/null || echo "?")
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo "uncommitted")
  {
    echo "<!-- engine-bench$MARK:begin (written by bench/engine/run.sh --write-doc) -->"
    echo "## Engine: skiff vs ONNX Runtime${CONTENDED:+, one core busy}"
    echo
    echo "Machine: $cpu, $cores cores usable ($(date -u +%Y-%m-%d), commit $commit;"
    echo "load average $LOAD_START at the start, $(cut -d' ' -f1 /proc/loadavg) at the end)."
    echo "Both engines: $THREADS intra-op threads, fp32, same .npy inputs; ONNX Runtime $ort_ver"
    echo "(onnxruntime-node, graph optimisation \"all\"). Each cell is the median of $ROUNDS"
    echo "per-process medians of $RUNS timed runs after 2 warm-up runs; processes alternate."
    echo "ratio = skiff / ORT of the medians (below 1: skiff faster); the min columns are the"
    echo "fastest single run of either engine, less sensitive to other load on the machine."
    echo "Peak RSS: each process's maximum resident set (GNU time), median over the rounds;"
    echo "ORT's includes Node's own $ORT_BASE MB (Node with onnxruntime-node loaded, no model)."
    [[ -n $CONTENDED ]] && echo "Contended: a busy loop pinned to core $CONTENDED ran through every process of both engines."
    echo "Reproduce: \`bench/engine/run.sh --write-doc\`."
    echo
    echo "| model | batch | skiff ms | ORT ms | ratio | skiff min ms | ORT min ms | skiff peak RSS MB | ORT peak RSS MB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
    echo "<!-- engine-bench$MARK:end -->"
  } >"$TMP/section.md"
  $PY - docs/performance.md "$TMP/section.md" "$MARK" <<'EOF'
import os, re, sys
doc, section, mark = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]
text = open(doc).read() if os.path.exists(doc) else "# Performance\n"
pat = re.compile(r"<!-- engine-bench%s:begin.*?<!-- engine-bench%s:end -->\n?" % (mark, mark), re.S)
text = pat.sub(lambda m: section, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section
open(doc, "w").write(text)
EOF
  echo "run.sh: wrote the engine table to docs/performance.md"
fi
