#!/usr/bin/env bash
# Installs the SMTP sink's dependencies (requirements.txt) into
# tests/smtp/.venv. Idempotent and quick: pip runs only when a pinned
# version is missing or differs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="$venv/bin/python"

if [ ! -x "$python" ]; then
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian without python3-venv has no ensurepip: a bare venv.
        rm -rf "$venv"
        python3 -m venv --without-pip "$venv"
    fi
fi

pinned() {
    "$python" - "$here/requirements.txt" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for line in open(sys.argv[1]):
    name, _, want = line.split("#")[0].strip().partition("==")
    if not name:
        continue
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != want:
        sys.exit(f"{name}: {have or 'missing'}, want {want}")
PY
}

if ! pinned 2>/dev/null; then
    if ! "$python" -m pip --version >/dev/null 2>&1; then
        python3 -m pip --python "$python" install --quiet --disable-pip-version-check pip
    fi
    "$python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    pinned
fi
