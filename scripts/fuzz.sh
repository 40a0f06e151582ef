#!/usr/bin/env bash
# Fuzzes everything Frontdesk parses from outside (fuzz/fuzz_targets/) with
# cargo fuzz on the nightly toolchain, starting from the committed corpora.
#
#   scripts/fuzz.sh                 # CI: 2,000 runs of each target on a scratch copy
#   scripts/fuzz.sh 10000000        # the release check: 10 million runs each,
#                                   # new inputs kept in fuzz/corpus/<target>
# Exits non-zero on the first crash; libFuzzer prints the reproducer path.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-2000}
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
targets=(media_frame realtime_event webhook_form twiml_roundtrip config_toml)
for t in "${targets[@]}"; do
  if [ "$runs" -le 100000 ]; then
    corpus=$(mktemp -d)
    cp -r "fuzz/corpus/$t/." "$corpus/"
  else
    corpus="fuzz/corpus/$t"
  fi
  echo "== $t: $runs runs"
  # -s none: the engine forbids unsafe code, so coverage guidance is what
  # matters; -a keeps debug assertions and overflow checks on.
  log=$(mktemp)
  if ! cargo +nightly fuzz run --fuzz-dir fuzz -s none -a "$t" "$corpus" -- \
    -runs="$runs" -max_len=16384 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "fuzz target $t failed" >&2
    exit 1
  fi
  grep -E "^stat::(number_of_executed_units|new_units_added)|^Done" "$log" || true
done
