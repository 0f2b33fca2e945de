#!/usr/bin/env bash
# run_fuzz.sh - the fuzz stage of `make test` (`make fuzz`): for each target, replay
# every committed seed once (each must run cleanly), then fuzz from them.
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS SEED TARGET...
#
# New inputs go to fuzz-out/<target>/corpus (git-ignored; the committed seeds are never
# written to), findings to fuzz-out/<target>/crash-* (leak-, timeout-, oom-). SEED is
# libFuzzer's -seed: a fixed one makes a CI run repeat the mutations a developer's run
# made, so a red fuzz stage is reproducible; 0 picks a new one each run (for hunting).
# Every target runs even after one fails; the exit status is 1 when any did.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
build=$1 seconds=$2 seed=$3
shift 3
failed=()
for t in "$@"; do
    bin=$build/tests/fuzz/$t out=fuzz-out/$t corpus=tests/fuzz/corpus/$t
    mkdir -p "$out/corpus"
    mapfile -t seeds < <(find "$corpus" -type f 2>/dev/null | sort)
    if ((${#seeds[@]} == 0)); then
        echo "-- $t: no seeds in $corpus"
        failed+=("$t")
        continue
    fi
    echo "-- $t: replaying ${#seeds[@]} seeds"
    if ! "$bin" "${seeds[@]}" >"$out/replay.log" 2>&1; then
        grep -E -A14 'ERROR: |runtime error' "$out/replay.log" | head -n 40
        bad=$(sed -n 's/^Running: //p' "$out/replay.log" | tail -n 1)
        echo "-- $t: FAILED on seed $bad (log: $out/replay.log); reproduce: $bin $bad"
        failed+=("$t")
        continue
    fi
    echo "-- $t: fuzzing ${seconds}s (seed $seed)"
    dict=()
    [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
    rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*
    if ! "$bin" -max_total_time="$seconds" -seed="$seed" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/" "${dict[@]}" \
        "$out/corpus" "$corpus" >"$out/fuzz.log" 2>&1; then
        grep -E -B2 -A14 'ERROR: |runtime error' "$out/fuzz.log" | head -n 40
        echo "-- $t: FAILED; reproduce with: $bin $(ls "$out"/{crash,leak,timeout,oom}-* 2>/dev/null | head -n 1)"
        failed+=("$t")
        continue
    fi
    sed -n 's/^stat::number_of_executed_units: */   executions: /p; s/^stat::new_units_added: */   new inputs: /p' "$out/fuzz.log"
done
if ((${#failed[@]})); then
    echo "fuzz: FAILED: ${failed[*]} (docs/reliability.md: reproducing a fuzzer finding)"
    exit 1
fi
echo "fuzz: $# targets replayed their seeds and fuzzed ${seconds}s each without a finding"
