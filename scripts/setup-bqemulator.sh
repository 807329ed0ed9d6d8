#!/usr/bin/env bash
# Create .venv-bqemu with the BigQuery emulator (bqemulator) for the emulator tests.
# It needs its own venv: installed into the main one it downgrades sqlglot. numpy is needed by
# bqemulator but not declared by it; with DuckDB 2 its streaming inserts fail ("connection has an
# unfinished result", HTTP 500), so DuckDB stays below 2. Idempotent and quiet; returns at once
# when already set up.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BQEMU_VENV:-$repo/.venv-bqemu}"
marker="$venv/.bqemulator-1.4.0-duckdb1"

if [[ -f "$marker" ]]; then
  exit 0
fi
python="${PYTHON:-python3}"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
# pip's notes about unreachable extra index locations are noise here; real errors still show.
"$venv/bin/pip" install --quiet --disable-pip-version-check "bqemulator==1.4.0" numpy "duckdb<2" \
  2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -c "import bqemulator, numpy, duckdb" # fail loudly if the install did not work
touch "$marker"
echo "bqemulator ready in $venv"
