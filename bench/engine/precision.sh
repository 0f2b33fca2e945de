#!/usr/bin/env bash
# bench/engine/precision.sh - skiff's fp32, bf16 and int8 against ONNX Runtime's
# fp32 and ONNX Runtime running skiff's own quantized (QDQ) model, same inputs,
# same run, same thread count.
#
#   bench/engine/precision.sh [--skiff build/skiff] [--models resnet50,ocr_det]
#                             [--rounds 3] [--runs 10] [--threads 2] [--reduce_range]
#                             [--write-doc]
#
# For each model (batch 1 entries of models-cache/manifest.json; default the
# reference models with convolutions or products), `skiff quantize` first makes
# the QDQ model in models-cache/int8/NAME (once; percentile ranges, calibrated on
# the entry's input and 7 copies of it with noise of 10% of its spread: enough
# for timing; the accuracy tables come from tools/quant_accuracy.py). Then each
# round runs five processes, in an order that alternates between rounds: skiff
# fp32, skiff bf16 (fp32 where the CPU lacks AVX512-BF16: the column says so),
# skiff int8 on the QDQ model, ORT fp32, ORT on the QDQ model. Each process does
# 2 untimed runs and --runs timed runs and reports its median; cells are the
# median over rounds, peak RSS (GNU time) beside them. Speedups are ORT fp32 /
# skiff (above 1: skiff faster), and ORT int8 / skiff int8 on the same QDQ
# model. The output check: skiff bf16 and int8 outputs against skiff fp32 on
# the bench input (cosine similarity, max |diff| / max |fp32|).
set -euo pipefail
cd "$(dirname "$0")/../.."

SKIFF=build/skiff
MODELS="resnet50,mobilenet_v2,bert_base,ocr_det,ocr_rec,ocr_cls"
ROUNDS=3
RUNS=10
THREADS=2
WRITE_DOC=0
REDUCE=""
CACHE=models-cache
PY=/usr/bin/python3
while (($#)); do
  case "$1" in
    --skiff) SKIFF=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --reduce_range) REDUCE=--reduce_range; shift ;;
    --write-doc) WRITE_DOC=1; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "precision.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -x $SKIFF ]] || { echo "precision.sh: $SKIFF not found (build skiff or pass --skiff)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "precision.sh: GNU time is needed (scripts/install-deps.sh --bench)" >&2; exit 2; }
$PY tools/models/export_models.py --out "$CACHE" --only "$MODELS"

TMP=$(mktemp -d /tmp/skiff-prec.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# name model input-args (batch 1, no variant)
mapfile -t ENTRIES < <($PY - "$CACHE" "$MODELS" <<'EOF'
import json, os, sys
cache, only = sys.argv[1], sys.argv[2].split(",")
for e in json.load(open(os.path.join(cache, "manifest.json"))):
    if e["name"] in only and e["batch"] == 1 and not e.get("variant"):
        args = " ".join("--input %s=%s" % (k, os.path.join(cache, v)) for k, v in e["inputs"].items())
        print(e["name"], os.path.join(cache, e["model"]), args)
EOF
)

# the QDQ model: calibration samples from the bench input, then skiff quantize
qdq_model() { # name model input-args... -> path of the QDQ model.onnx
  local name=$1 model=$2; shift 2
  local out="$CACHE/int8/$name${REDUCE:+_rr}"
  if [[ ! -f $out/model.onnx ]]; then
    local calib="$TMP/calib_$name"
    $PY - "$calib" "$@" <<'EOF' >&2
import os, sys
import numpy as np
out, args = sys.argv[1], sys.argv[2:]
rng = np.random.default_rng(0)
files = [a.split("=", 1) for a in args if a != "--input"]
for s in range(8):
    d = os.path.join(out, "s%d" % s)
    os.makedirs(d, exist_ok=True)
    for name, path in files:
        x = np.load(path)
        if s and x.dtype.kind == "f":
            x = (x + rng.standard_normal(x.shape).astype(x.dtype) * 0.1 * x.std()).astype(x.dtype)
        np.save(os.path.join(d, name + ".npy"), x)
EOF
    mkdir -p "$CACHE/int8"
    "$SKIFF" quantize --model "$model" --calib "$calib" --out "$out" $REDUCE --quiet >&2
  fi
  echo "$out/model.onnx"
}

rss_mb() { awk '{printf "%.1f", $1 / 1024}' "$TMP/rss"; }
skiff_once() { # precision model inputs... -> "median rss"
  local prec=$1 model=$2; shift 2
  local t
  t=$(/usr/bin/time -o "$TMP/rss" -f %M "$SKIFF" run "$model" "$@" --precision "$prec" --threads "$THREADS" \
    --warmup 2 --repeat "$RUNS" 2>/dev/null | sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' || true)
  [[ -n $t ]] && echo "$t $(rss_mb)"
}
ort_once() { # model inputs... -> "median rss"
  local model=$1; shift
  /usr/bin/time -o "$TMP/rss" -f %M node tools/ort_run.js "$model" "$@" --threads "$THREADS" --warmup 2 \
    --runs "$RUNS" --timings "$TMP/ort.json" --quiet >/dev/null 2>&1 || return 0
  $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["median_ms"], sys.argv[2])' "$TMP/ort.json" "$(rss_mb)"
}
med() { $PY -c '
import statistics, sys
k = int(sys.argv[1]); v = [float(x.split()[k]) for x in sys.argv[2:] if len(x.split()) > k]
print("nan" if not v else ("%.1f" if k else "%.3f") % statistics.median(v))' "$@"; }
ratio() { $PY -c '
import math, sys
a, b = float(sys.argv[1]), float(sys.argv[2])
print("n/a" if math.isnan(a) or math.isnan(b) or b == 0 else "%.2f" % (a / b))' "$1" "$2"; }
# outputs of one precision against fp32's: "cos maxrel"
compare() { $PY - "$1" "$2" <<'EOF'
import os, sys
import numpy as np
a, b = sys.argv[1], sys.argv[2]
cos, rel = 1.0, 0.0
for f in sorted(os.listdir(a)):
    if not f.endswith(".npy") or not os.path.exists(os.path.join(b, f)):
        continue
    x, y = np.load(os.path.join(a, f)).astype(np.float64).ravel(), np.load(os.path.join(b, f)).astype(np.float64).ravel()
    if x.size == 0:
        continue
    n = np.linalg.norm(x) * np.linalg.norm(y)
    cos = min(cos, float(x @ y / n) if n else 1.0)
    rel = max(rel, float(np.abs(x - y).max() / max(np.abs(x).max(), 1e-30)))
print("%.5f %.4f" % (cos, rel))
EOF
}

# what the first model runs in when asked for bf16 (skiff run prints "precision bf16 (...)")
read -r _ first_model first_inputs <<<"${ENTRIES[0]}"
# shellcheck disable=SC2086
if "$SKIFF" run "$first_model" $first_inputs --precision bf16 2>/dev/null | grep -q "^precision bf16"; then
  bf16_cpu=yes
else
  bf16_cpu="no (runs fp32)"
fi
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
echo "# bf16 on this CPU: $bf16_cpu; threads $THREADS; rounds $ROUNDS x $RUNS runs; load $LOAD_START"
printf '%-14s %9s %9s %9s %9s %9s | %7s %7s %7s | %8s %8s %8s | %s\n' model fp32_ms bf16_ms int8_ms \
  ort_ms ort8_ms x_bf16 x_int8 x_ort8 fp32_MB bf16_MB int8_MB "int8 vs fp32 (cos, max rel)"
ROWS=()
for entry in "${ENTRIES[@]}"; do
  read -r name model inputs <<<"$entry"
  # shellcheck disable=SC2206
  in_args=($inputs)
  qdq=$(qdq_model "$name" "$model" "${in_args[@]}")
  f=(); b=(); q=(); o=(); o8=()
  for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
      f+=("$(skiff_once fp32 "$model" "${in_args[@]}")"); b+=("$(skiff_once bf16 "$model" "${in_args[@]}")")
      q+=("$(skiff_once int8 "$qdq" "${in_args[@]}")"); o+=("$(ort_once "$model" "${in_args[@]}")")
      o8+=("$(ort_once "$qdq" "${in_args[@]}")")
    else
      o8+=("$(ort_once "$qdq" "${in_args[@]}")"); o+=("$(ort_once "$model" "${in_args[@]}")")
      q+=("$(skiff_once int8 "$qdq" "${in_args[@]}")"); b+=("$(skiff_once bf16 "$model" "${in_args[@]}")")
      f+=("$(skiff_once fp32 "$model" "${in_args[@]}")")
    fi
  done
  mf=$(med 0 "${f[@]}"); mb=$(med 0 "${b[@]}"); mq=$(med 0 "${q[@]}"); mo=$(med 0 "${o[@]}"); mo8=$(med 0 "${o8[@]}")
  rf=$(med 1 "${f[@]}"); rb=$(med 1 "${b[@]}"); rq=$(med 1 "${q[@]}")
  for p in fp32 bf16; do
    "$SKIFF" run "$model" "${in_args[@]}" --precision $p --quiet --output-dir "$TMP/out_$p" >/dev/null 2>&1 || true
  done
  "$SKIFF" run "$qdq" "${in_args[@]}" --precision int8 --quiet --output-dir "$TMP/out_int8" >/dev/null 2>&1 || true
  acc=$(compare "$TMP/out_fp32" "$TMP/out_int8")
  xb=$(ratio "$mo" "$mb"); xq=$(ratio "$mo" "$mq"); xo8=$(ratio "$mo8" "$mq")
  rm -rf "$TMP"/out_*
  printf '%-14s %9s %9s %9s %9s %9s | %7s %7s %7s | %8s %8s %8s | %s\n' "$name" "$mf" "$mb" "$mq" "$mo" "$mo8" \
    "$xb" "$xq" "$xo8" "$rf" "$rb" "$rq" "$acc"
  ROWS+=("| $name | $mf | $mb | $mq | $mo | $mo8 | $xb | $xq | $xo8 | $rf | $rb | $rq | $acc |")
done

if ((WRITE_DOC)); then
  cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo "uncommitted")
  {
    echo "<!-- engine-precision:begin (written by bench/engine/precision.sh --write-doc) -->"
    echo "## Engine precision: skiff fp32, bf16, int8 against ONNX Runtime"
    echo
    echo "Machine: $cpu, $(nproc) cores ($(date -u +%Y-%m-%d), commit $commit; load average"
    echo "$LOAD_START at the start, $(cut -d' ' -f1 /proc/loadavg) at the end); bf16 on this CPU: $bf16_cpu."
    echo "$THREADS threads; each cell the median over $ROUNDS rounds of a process's median of $RUNS runs."
    echo "int8: the QDQ model \`skiff quantize\` made${REDUCE:+ with --reduce_range}, run by skiff (\`--precision int8\`)"
    echo "and by ONNX Runtime (ort8). x_bf16, x_int8: ONNX Runtime fp32 / skiff (above 1: skiff"
    echo "faster); x_ort8: ONNX Runtime on the QDQ model / skiff int8. MB: peak RSS. The last"
    echo "column compares skiff int8's outputs with skiff fp32's on the bench input."
    echo "Reproduce: \`bench/engine/precision.sh --write-doc\`."
    echo
    echo "| model | fp32 ms | bf16 ms | int8 ms | ORT fp32 ms | ORT int8 ms | x_bf16 | x_int8 | x_ort8 | fp32 MB | bf16 MB | int8 MB | int8 vs fp32 (cos, max rel) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${ROWS[@]}"
    echo "<!-- engine-precision:end -->"
  } >"$TMP/section.md"
  $PY - docs/performance.md "$TMP/section.md" <<'EOF'
import re, sys
doc, section = sys.argv[1], open(sys.argv[2]).read()
text = open(doc).read()
pat = re.compile(r"<!-- engine-precision:begin.*?<!-- engine-precision:end -->\n?", re.S)
text = pat.sub(lambda m: section, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section
open(doc, "w").write(text)
EOF
  echo "precision.sh: wrote the precision table to docs/performance.md"
fi
