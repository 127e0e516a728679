#!/usr/bin/env bash
# libFuzzer over the inputs Sextant takes from untrusted peers (Sources/sextant-fuzz lists the targets).
#
#   Scripts/fuzz.sh TARGET SECONDS   fuzz TARGET for SECONDS, starting from Tests/Fuzz/Corpus/TARGET
#   Scripts/fuzz.sh --all SECONDS    every target in turn, SECONDS each
#   Scripts/fuzz.sh --replay         every committed corpus and crash input through the normal debug build
#   Scripts/fuzz.sh --list           the targets
#
# Fuzzing builds sextant-fuzz with `--sanitize=fuzzer -Xswiftc -DFUZZING` into the ignored scratch path .build-fuzz
# (a separate build of every dependency; about as long as a clean `swift build`). Inputs libFuzzer finds are kept in
# a work directory under .build-fuzz, not in the corpus; a crash, a trap, a timeout (10 s for one input) or an
# input that needs over 2 GiB is written to Tests/Fuzz/Crashes/TARGET/ and the script fails: commit the file with
# the fix, and --replay (part of the test command) runs it from then on.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
corpus=Tests/Fuzz/Corpus
crashes=Tests/Fuzz/Crashes

replay() {
  local binary=.build/debug/sextant-fuzz
  [ -x "$binary" ] || swift build --product sextant-fuzz >&2
  for target in $("$binary" list); do
    "$binary" replay "$target" "$corpus/$target" "$crashes/$target"
  done
}

build_fuzzer() {
  echo "fuzz: building sextant-fuzz with libFuzzer in .build-fuzz" >&2
  swift build --sanitize=fuzzer -Xswiftc -DFUZZING --scratch-path .build-fuzz --product sextant-fuzz >&2
  bin=$(swift build --sanitize=fuzzer -Xswiftc -DFUZZING --scratch-path .build-fuzz --show-bin-path)
}

fuzz() {
  local target=$1 seconds=$2
  [ -d "$corpus/$target" ] || { echo "fuzz: no target $target (Scripts/fuzz.sh --list)" >&2; exit 2; }
  local work=.build-fuzz/work/$target
  mkdir -p "$work" "$crashes/$target"
  echo "fuzz: $target for ${seconds}s" >&2
  local log
  log=$(mktemp)
  set +e
  SEXTANT_FUZZ_TARGET=$target "$bin/sextant-fuzz" "$work" "$corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$crashes/$target/" >"$log" 2>&1
  local status=$?
  set -e
  grep -E "^Done [0-9]+ runs|^stat::number_of_executed_units" "$log" | head -1 | sed "s/^/fuzz: $target: /" >&2
  if [ $status -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz: $target failed (exit $status); the input is in $crashes/$target/" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
}

case "${1:-}" in
  --replay) replay ;;
  --list) swift build --product sextant-fuzz >&2 && .build/debug/sextant-fuzz list ;;
  --all)
    seconds=${2:?usage: $0 --all SECONDS}
    build_fuzzer
    for target in $(ls "$corpus"); do fuzz "$target" "$seconds"; done
    ;;
  "" | -*) echo "usage: $0 TARGET SECONDS | --all SECONDS | --replay | --list" >&2; exit 2 ;;
  *)
    build_fuzzer
    fuzz "$1" "${2:?usage: $0 TARGET SECONDS}"
    ;;
esac
