#!/usr/bin/env bash
# The dashboard in a real browser: Playwright for Python driving Debian's
# Chromium against `seglab serve --demo` (the binary is not built here:
# `cargo build` first, or point SEGLAB_BIN at another build). Usage from the
# repo root:
#   bash tests/browser/run.sh [extra pytest args]
# Screenshots of every page go to target/screenshots/. With
# SEGLAB_UPDATE_DOCS=1 the overview's also replaces docs/dashboard.png.
#
# Installs what is missing, and only that: Debian's chromium (as root, with
# apt-get; Playwright's own browser download is never used) and the pinned
# Python packages (requirements.txt) into tests/browser/.venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "tests/browser: Chromium is missing; install Debian's package: apt-get install chromium" >&2
        exit 1
    fi
    echo "tests/browser: installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

venv="$here/.venv"
python="$venv/bin/python"
if [ ! -x "$python" ] || ! "$python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian without python3-venv has no ensurepip: a bare venv, and pip
        # from the system's.
        rm -rf "$venv"
        python3 -m venv --without-pip "$venv"
        python3 -m pip --python "$python" install --quiet --disable-pip-version-check pip
    fi
fi
stamp="$venv/.requirements.sha256"
hash="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
    "$python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    echo "$hash" > "$stamp"
fi

export SEGLAB_BIN="${SEGLAB_BIN:-$repo/target/debug/seglab}"
if [ ! -x "$SEGLAB_BIN" ]; then
    echo "tests/browser: no seglab binary at $SEGLAB_BIN: run cargo build first" >&2
    exit 1
fi
export CHROMIUM="${CHROMIUM:-$(command -v chromium)}"
# Never fetch a browser of Playwright's own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
cd "$repo"
exec "$python" -m pytest -q -p no:cacheprovider tests/browser "$@"
