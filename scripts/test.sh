#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests, the real
# SDKs against the real binary, the dashboard in a real browser, a smoke run of
# the benchmarks, and a short fuzzing run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=line-tables-only
fi
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all --check
(cd fuzz && cargo fmt --check)

step "lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "build"
cargo build --workspace --all-targets --quiet

# --- SMTP sink (tests/smtp): the real SMTP server of the email tests --------
step "SMTP sink for the email tests"
bash tests/smtp/setup.sh
export SEGLAB_SMTP_PYTHON="$PWD/tests/smtp/.venv/bin/python" SEGLAB_REQUIRE_SMTP=1
# ---------------------------------------------------------------------------

# --- ClickHouse (tests/clickhouse): the scale-out tests' servers -----------
# One 18.16 server, a 2-shard 18.16 cluster and a chDB shim, on loopback;
# stopped when this script ends (after the benchmark smoke run, which uses them).
step "ClickHouse servers for the scale-out tests"
eval "$(bash tests/clickhouse/start.sh)"
trap 'bash tests/clickhouse/start.sh stop' EXIT
export SEGLAB_REQUIRE_CLICKHOUSE=1
# ---------------------------------------------------------------------------

# The full-disk test mounts a small tmpfs: as root it must run, not skip.
if [ "$(id -u)" = 0 ]; then
  export SEGLAB_REQUIRE_MOUNT=1
fi

step "unit and integration tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --quiet
fi
cargo test --workspace --doc --quiet

step "SDK end-to-end tests"
bash tests/sdk/run.sh

step "dashboard in a browser (Playwright, Debian's Chromium)"
bash tests/browser/run.sh

step "benchmark smoke run (small sizes; real figures: see README)"
./target/debug/seglab bench ingest --events 20000 --batch 100 --connections 4
./target/debug/seglab bench import --events 50000
./target/debug/seglab --log warn bench live --people 2000 --events 40000 --samples 500 --pings 50 --sustained 5000
./target/debug/seglab --log warn bench insights --people 2000 --events 40000
# The servers started above are still running (stopped on exit).
./target/debug/seglab --log warn bench clickhouse --people 2000 --events 40000
./target/debug/seglab --log warn bench campaigns --people 2000 --events 40000 --messages 1000 --decisions 200
./target/debug/seglab --log warn bench retention --people 2000 --events 40000 --days 30 --keep-days 20 --rate 5000 --baseline 2
./target/debug/seglab --log warn bench soak --people 2000 --events 40000 --duration 20s --idle 5s --sample 1 --calibrate 5000

step "fuzzing smoke run (50,000 inputs or 15 s per target; long runs: scripts/fuzz.sh)"
bash scripts/fuzz.sh --smoke

echo
echo "all tests passed"
