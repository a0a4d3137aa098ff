#!/usr/bin/env bash
# Fuzzes the ingestion parsers and the segment language with cargo-fuzz
# (libFuzzer) on the pinned stable toolchain: every target for a number of
# generated inputs, under memory limits, then a table of what ran.
#
#   scripts/fuzz.sh                 1,000,000 inputs per target
#   scripts/fuzz.sh --runs 5000000  more
#   scripts/fuzz.sh --smoke         50,000 inputs or 15 s per target (scripts/test.sh)
#   scripts/fuzz.sh gzip_body ...   only these targets
#
# A crash, a timeout (10 s for one input), an allocation over 256 MB or a
# resident size over 512 MB fails the run; the input is saved under
# fuzz/artifacts/<target>/ and `fuzz/target/.../<target> <file>` replays it.
# Full runs keep what they find in fuzz/corpus/<target> (not committed) and
# read the committed seeds of fuzz/seeds/<target>; smoke runs start from the
# seeds alone, with a fixed seed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=1000000
SMOKE=0
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1; RUNS=50000 ;;
    --runs) RUNS="$2"; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1") ;;
  esac
  shift
done
ALL=(segment_wire posthog_wire posthog_body gzip_body segment_language)
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=("${ALL[@]}")
fi

# Largest input per target: over the 32 KB message limit for the wire formats.
max_len() {
  case "$1" in
    segment_language) echo 8192 ;;
    *) echo 40000 ;;
  esac
}
dict() {
  case "$1" in
    segment_language) echo "$ROOT/fuzz/dicts/segment.dict" ;;
    *) echo "$ROOT/fuzz/dicts/json.dict" ;;
  esac
}

CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# `-s none`: no sanitizer, so every flag cargo-fuzz passes to rustc is stable
# and the toolchain of rust-toolchain.toml builds it. `-a`: debug assertions
# and overflow checks, as in the tests.
export CARGO_TARGET_DIR="$ROOT/fuzz/target"
(cd fuzz && cargo fuzz build -s none -a)
BIN="$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release"

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
FAILED=()
ROWS=()
for t in "${TARGETS[@]}"; do
  if [ ! -x "$BIN/$t" ]; then
    echo "no fuzz target $t (targets: ${ALL[*]})" >&2
    exit 2
  fi
  if [ "$SMOKE" = 1 ]; then
    corpus="$SCRATCH/corpus-$t"
    extra=(-seed=1 -max_total_time=15)
  else
    corpus="$ROOT/fuzz/corpus/$t"
    extra=()
  fi
  mkdir -p "$corpus" "$ROOT/fuzz/artifacts/$t"
  log="$SCRATCH/$t.log"
  printf '\n== fuzz %s: %s inputs\n' "$t" "$RUNS"
  start=$(date +%s.%N)
  status=0
  "$BIN/$t" "$corpus" "$ROOT/fuzz/seeds/$t" \
    -runs="$RUNS" -max_len="$(max_len "$t")" -dict="$(dict "$t")" \
    -rss_limit_mb=512 -malloc_limit_mb=256 -timeout=10 \
    -artifact_prefix="$ROOT/fuzz/artifacts/$t/" -print_final_stats=1 \
    "${extra[@]}" >"$log" 2>&1 || status=$?
  end=$(date +%s.%N)
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  runs=$(stat number_of_executed_units)
  rss=$(stat peak_rss_mb)
  files=$(find "$corpus" -type f | wc -l)
  secs=$(awk "BEGIN { print $end - $start }")
  speed=$(awk "BEGIN { printf \"%d\", ${runs:-0} / $secs }")
  ROWS+=("$(printf '%-18s %12s %10s %9.1f %9s %8s' "$t" "${runs:-?}" "$speed" "$secs" "${rss:-?}" "$files")")
  if [ "$status" != 0 ]; then
    FAILED+=("$t")
    echo "fuzz target $t failed (exit $status):"
    grep -v '^#[0-9]' "$log" | tail -40
  else
    grep -E '^Done [0-9]+ runs' "$log" || true
  fi
done

printf '\n%-18s %12s %10s %9s %9s %8s\n' target runs exec/s seconds "peak MB" corpus
for row in "${ROWS[@]}"; do
  echo "$row"
done
if [ ${#FAILED[@]} -gt 0 ]; then
  echo
  echo "failed: ${FAILED[*]} (inputs under fuzz/artifacts/)"
  exit 1
fi
