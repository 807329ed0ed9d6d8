#!/usr/bin/env bash
# Create .venv-bqemu with the BigQuery emulator (bqemulator) for the emulator tests.
# It needs its own venv: installed into the main one it downgrades sqlglot. numpy is needed by
# bqemulator but not declared by it. Idempotent and quiet; returns at once when already set up.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BQEMU_VENV:-$repo/.venv-bqemu}"
marker="$venv/.bqemulator-1.4.0"

if [[ -f "$marker" ]]; then
  exit 0
fi
python="${PYTHON:-python3}"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "bqemulator==1.4.0" numpy
touch "$marker"
echo "bqemulator ready in $venv"
