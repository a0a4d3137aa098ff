#!/usr/bin/env bash
# Runs the SDK end-to-end tests against the seglab binary (build it first:
# `cargo build`; or point SEGLAB_BIN at another build). Usage from the repo root:
#   bash tests/sdk/run.sh [extra pytest args]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

bash "$here/setup.sh"
cd "$repo"
exec "$here/.venv/bin/python" -m pytest -q -p no:cacheprovider tests/sdk "$@"
