#!/usr/bin/env bash
# alloc_fail_loop.sh - fails each allocation of one `skiff run` in turn and checks that
# every failure is a clean error (curl's `runtests.pl -t`, STYLE.md "Tests").
#
#   tools/alloc_fail_loop.sh [SKIFF] [MODEL.onnx INPUT.npy]
#       SKIFF  the skiff executable (default build-asan/skiff: a sanitizer build, so a
#              leak or bad access on an error path is reported, not missed)
#       MODEL, INPUT default to tests/data/mlp.onnx and tests/data/mlp_x.npy
#
# For N = 1, 2, ... it runs `SKIFF_FAIL_ALLOC_AT=N skiff run MODEL --input INPUT --output-dir D --threads 1`
# (src/core/alloc.c makes the Nth skiff__malloc & co return NULL). Each run must
#   - exit 1 with an error message on stderr, or
#   - exit 0 with outputs identical to an undisturbed run (the failure was absorbed,
#     or N is past the last allocation),
# and never die of a signal, a sanitizer report (ASan, LSan, UBSan) or another status.
# The loop ends after STOP_AFTER (default 3) exit-0 runs in a row: N is then past the
# run's last allocation, since a later N would fail an allocation that an earlier,
# absorbed one did not. MAX_N (default 20000) bounds a run that never ends.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

SKIFF=${1:-build-asan/skiff}
MODEL=${2:-tests/data/mlp.onnx}
INPUT=${3:-tests/data/mlp_x.npy}
STOP_AFTER=${STOP_AFTER:-3}
MAX_N=${MAX_N:-20000}
SAN_RE='AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer'

for f in "$SKIFF" "$MODEL" "$INPUT"; do
    [[ -e $f ]] || { echo "alloc_fail_loop: missing $f" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { # run OUTDIR [env...] -> exit status; stdout+stderr in $work/log
    local out=$1
    shift
    rm -rf "$out" && mkdir -p "$out"
    env "$@" "$SKIFF" run "$MODEL" --input "$INPUT" --output-dir "$out" --threads 1 --quiet \
        >"$work/log" 2>&1
}

run "$work/ref"
rc=$?
if ((rc != 0)) || grep -Eq "$SAN_RE" "$work/log"; then
    cat "$work/log"
    echo "alloc_fail_loop: the undisturbed run failed (exit $rc)" >&2
    exit 1
fi

t0=$(date +%s)
clean_errors=0
passes=0
n=0
while ((passes < STOP_AFTER)); do
    n=$((n + 1))
    if ((n > MAX_N)); then
        echo "alloc_fail_loop: still failing allocations at N=$MAX_N; raise MAX_N?" >&2
        exit 1
    fi
    run "$work/out" SKIFF_FAIL_ALLOC_AT=$n
    rc=$?
    why=""
    if grep -Eq "$SAN_RE" "$work/log"; then
        why="sanitizer report"
    elif ((rc == 1)); then
        if [[ ! -s $work/log ]]; then
            why="exit 1 without an error message"
        fi
        clean_errors=$((clean_errors + 1))
        passes=0
    elif ((rc == 0)); then
        if ! diff -r "$work/ref" "$work/out" >/dev/null; then
            why="exit 0 but outputs differ from the undisturbed run"
        fi
        passes=$((passes + 1))
    elif ((rc > 128)); then
        why="killed by signal $((rc - 128))"
    else
        why="exit status $rc"
    fi
    if [[ -n $why ]]; then
        sed -n '1,80p' "$work/log"
        echo "alloc_fail_loop: allocation $n: $why" >&2
        echo "reproduce: SKIFF_FAIL_ALLOC_AT=$n $SKIFF run $MODEL --input $INPUT --output-dir /tmp/out --threads 1" >&2
        exit 1
    fi
done
absorbed=$((n - clean_errors - STOP_AFTER))
echo "alloc_fail_loop: $MODEL: failed allocations 1..$((n - STOP_AFTER)) one at a time:" \
    "$clean_errors clean errors, $absorbed absorbed, no crash or sanitizer report ($(($(date +%s) - t0))s)"
