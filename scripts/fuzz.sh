#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/*.rs) under libFuzzer for the given number of
# seconds each (default 60), starting from the committed seed corpora (fuzz/seeds/<target>/,
# copied into the git-ignored fuzz/corpus/<target>/, which keeps growing between runs), and
# prints the executions and crashes of each. Exits non-zero if any target crashed; the crashing
# input is in fuzz/artifacts/<target>/ (reproduce: cargo fuzz run <target> <file>).
#
#   scripts/fuzz.sh [seconds-per-target]
#
# Environment: FUZZ_TARGETS="a b" (a subset), FUZZ_PARALLEL=n (targets run at once, default 1),
# FUZZ_SANITIZER=address (default none: the crate forbids unsafe code, and without ASan the
# targets run 5 to 10 times faster; address also checks the C and unsafe code of dependencies),
# FUZZ_TOOLCHAIN=nightly (use that toolchain; by default the active one with RUSTC_BOOTSTRAP=1,
# which lets stable rustc take the -Z flags cargo-fuzz passes).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
read -r -a targets <<<"${FUZZ_TARGETS:-bearer_header jose_header verify_signed differential dpop_proof jwks_document discovery_document}"
parallel=${FUZZ_PARALLEL:-1}
sanitizer=${FUZZ_SANITIZER:-none}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
toolchain=()
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
  toolchain=("+$FUZZ_TOOLCHAIN")
else
  export RUSTC_BOOTSTRAP=1
fi

echo "==> building the fuzz targets (release, sanitizer: $sanitizer)"
cargo "${toolchain[@]}" fuzz build -O -s "$sanitizer"

logs=fuzz/artifacts/logs
mkdir -p "$logs"

# Inputs libFuzzer saved because they crashed, leaked, timed out or ran out of memory.
count_artifacts() {
  find "fuzz/artifacts/$1" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | wc -l
}

run_target() {
  local target=$1
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  local seed
  for seed in "fuzz/seeds/$target/"*; do
    [ -e "fuzz/corpus/$target/${seed##*/}" ] || cp "$seed" "fuzz/corpus/$target/"
  done
  local status=0 before started
  before=$(count_artifacts "$target")
  started=$(date +%s)
  cargo "${toolchain[@]}" fuzz run -O -s "$sanitizer" "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$logs/$target.log" 2>&1 || status=$?
  echo "$status" >"$logs/$target.status"
  echo $(($(date +%s) - started)) >"$logs/$target.seconds"
  echo $(($(count_artifacts "$target") - before)) >"$logs/$target.crashes"
}

echo "==> fuzzing ${#targets[@]} targets for ${seconds}s each, $parallel at a time (logs in $logs/)"
running=0
for target in "${targets[@]}"; do
  run_target "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

crashed=0
printf '\n%-19s %8s %14s %10s %8s %8s\n' target seconds executions exec/s files crashes
for target in "${targets[@]}"; do
  log="$logs/$target.log"
  execs=$(grep -Eo 'stat::number_of_executed_units: +[0-9]+' "$log" | awk '{print $2}' | tail -1 || true)
  rate=$(grep -Eo 'stat::average_exec_per_sec: +[0-9]+' "$log" | awk '{print $2}' | tail -1 || true)
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  crashes=$(cat "$logs/$target.crashes")
  status=$(cat "$logs/$target.status")
  if [ "$status" != 0 ] && [ "$crashes" = 0 ]; then crashes="?"; fi
  # On a crash libFuzzer prints no final stats: take the last status line's count instead.
  if [ -z "$execs" ]; then
    execs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
  fi
  printf '%-19s %8s %14s %10s %8s %8s\n' "$target" "$(cat "$logs/$target.seconds")" \
    "${execs:-?}" "${rate:-?}" \
    "$corpus" "$crashes"
  if [ "$status" != 0 ]; then
    crashed=1
    echo "   $target exited with status $status; see $log and fuzz/artifacts/$target/"
  fi
done
exit "$crashed"
