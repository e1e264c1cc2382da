#!/usr/bin/env bash
# Coverage-guided fuzzing of seams' boundaries (the targets: fuzz/src, seams_fuzz::TARGETS),
# with cargo-fuzz and libFuzzer on the stable toolchain: no sanitizer, since the code is safe
# Rust and stable allows only coverage instrumentation; a panic, a broken invariant, a hang
# or running out of memory is what the fuzzer finds.
#   scripts/fuzz.sh                        every target for 60 s
#   scripts/fuzz.sh filter chunk --time 600
#   scripts/fuzz.sh --runs 10000000        every target to 10 million executions
#   scripts/fuzz.sh --runs 10000000 --time 900   whichever comes first
#   scripts/fuzz.sh --list
# Corpora grow in .tools/fuzz/corpus/<target> (not committed); the committed seeds in
# fuzz/seeds/<target> are read every run. An input that fails is saved in
# fuzz/libfuzzer/artifacts/<target>/: copy it into fuzz/regressions/<target>/, fix the code,
# and scripts/test.sh replays it from then on. Each target's executions, seconds and result
# are printed and appended to .tools/fuzz/report.tsv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$root/fuzz/libfuzzer"
work="$root/.tools/fuzz"

targets=()
limit=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --time) limit+=(-max_total_time="$2"); shift 2 ;;
    --runs) limit+=(-runs="$2"); shift 2 ;;
    --list) ls "$fuzz_dir/fuzz_targets" | sed 's/\.rs$//'; exit 0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${#limit[@]} -gt 0 ]] || limit=(-max_total_time=60)
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(ls "$fuzz_dir/fuzz_targets" | sed 's/\.rs$//')
fi
for target in "${targets[@]}"; do
  [[ -f "$fuzz_dir/fuzz_targets/$target.rs" ]] || { echo "fuzz: no target $target (--list)" >&2; exit 2; }
done

"$root/scripts/setup.sh" fuzz
export PATH="$root/.tools/cargo/bin:$PATH"
mkdir -p "$work"
echo "fuzz: building ${#targets[@]} target(s) with coverage instrumentation (the first build takes minutes)"
for target in "${targets[@]}"; do
  cargo fuzz build --fuzz-dir "$fuzz_dir" --sanitizer none --release "$target"
done

failed=0
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  log="$work/$target.log"
  mkdir -p "$corpus" "$fuzz_dir/artifacts/$target"
  started=$SECONDS
  set +e
  cargo fuzz run --fuzz-dir "$fuzz_dir" --sanitizer none --release "$target" "$corpus" "$root/fuzz/seeds/$target" -- \
    "${limit[@]}" -dict="$root/fuzz/dict/seams.dict" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$fuzz_dir/artifacts/$target/" >"$log" 2>&1
  status=$?
  set -e
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  result=passed
  if grep -q 'libFuzzer: run interrupted' "$log"; then
    # Stopped by a signal (Ctrl-C, kill -INT): nothing was found, the run was cut short.
    result="interrupted"
    failed=1
  elif [[ -z "$runs" && $status -ne 0 ]]; then
    # `cargo fuzz run` builds first: a tree that does not compile never starts the fuzzer.
    result="NOT RUN (the build failed, see $log)"
    failed=1
  elif [[ $status -ne 0 ]]; then
    result="FAILED (see $log and fuzz/libfuzzer/artifacts/$target)"
    failed=1
  fi
  printf 'fuzz: %-16s %12s executions %6s s  %s\n' "$target" "${runs:-?}" "$((SECONDS - started))" "$result"
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "${runs:-?}" "$((SECONDS - started))" "$result" >>"$work/report.tsv"
done
exit $failed
