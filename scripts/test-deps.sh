#!/usr/bin/env bash
# Set up what the tests need beyond the venv: the BigQuery emulator's venv, headless Chromium and
# the Segment-speaking Node and browser SDKs.
# Each setup script is idempotent and returns at once when its tool is ready; absent ones are skipped.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for setup in setup-bqemulator.sh setup-chromium.sh setup-node-sdks.sh; do
  if [[ -f "$repo/scripts/$setup" ]]; then
    bash "$repo/scripts/$setup"
  fi
done
