#!/usr/bin/env bash
# Installs the SDK test dependencies into tests/sdk/.venv and tests/sdk/node_modules.
# Idempotent: re-running only reinstalls when requirements.txt or package-lock.json changed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian without python3-venv has no ensurepip: make the venv bare and
        # bring pip in with the system's pip.
        rm -rf "$venv"
        python3 -m venv --without-pip "$venv"
        python3 -m pip --python "$venv/bin/python" install --quiet --disable-pip-version-check pip
    fi
fi

req_stamp="$venv/.requirements.sha256"
req_hash="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ ! -f "$req_stamp" ] || [ "$(cat "$req_stamp")" != "$req_hash" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
    echo "$req_hash" > "$req_stamp"
fi

lock_stamp="node_modules/.package-lock.sha256"
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$lock_stamp" ] || [ "$(cat "$lock_stamp")" != "$lock_hash" ]; then
    npm ci --silent --no-audit --no-fund >/dev/null
    echo "$lock_hash" > "$lock_stamp"
fi
