#!/usr/bin/env bash
# Fuzzes the parsers that meet untrusted bytes with libFuzzer (ASan on), each target for a set time.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 s each, every target
# Targets: deframer json config xml keys tar (Sources/FuzzEntries). Each run starts from the
# committed seed corpus (Tests/Fuzz/corpus/<target>) in a working copy under .build-fuzz/; a
# crash is kept in .build-fuzz/crashes/<target>/ and fails the run: copy it into
# Tests/Fuzz/regressions/<target>/ once fixed, and `swift test` replays it for good.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(deframer json config xml keys tar)
scratch=.build-fuzz

echo "fuzz: building plugin-fuzz with -sanitize=fuzzer,address" >&2
swift build -c debug --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING \
  --product plugin-fuzz 2>&1 | grep -Ev "^\[|^Building|^Compiling" >&2 || true
bin="$scratch/debug/plugin-fuzz"
[ -x "$bin" ] || { echo "fuzz: build failed" >&2; exit 1; }

failed=0
for t in "${targets[@]}"; do
  work="$scratch/corpus/$t"; crashes="$scratch/crashes/$t"
  mkdir -p "$work" "$crashes"
  cp -n Tests/Fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  log="$scratch/$t.log"
  set +e
  FUZZ_TARGET="$t" "$bin" "$work" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -E "^stat::number_of_executed_units" "$log" | awk '{print $2}')
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1)
  if [ $rc -ne 0 ] || ls "$crashes"/* >/dev/null 2>&1; then
    echo "fuzz $t: FAILED after ${runs:-?} runs ($cov); inputs in $crashes:" >&2
    ls "$crashes" >&2 || true
    grep -E "Fatal error|ERROR: AddressSanitizer|ERROR: libFuzzer|invariant" "$log" | head -5 >&2 || true
    failed=1
  else
    echo "fuzz $t: ${runs:-?} runs in ${seconds}s, $cov, no crash"
  fi
done
exit $failed
