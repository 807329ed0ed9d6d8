#!/usr/bin/env bash
# Install the Segment-speaking Node and browser SDKs the compatibility tests drive
# (tests/sdk/package.json, versions pinned by its package-lock.json). Idempotent: returns at once
# when node_modules matches the lock file. Without Node, the tests that need it say so and skip.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sdk="$repo/tests/sdk"
if ! command -v npm >/dev/null 2>&1; then
  echo "setup-node-sdks: npm not found; the Node and browser SDK tests will skip" >&2
  exit 0
fi
stamp="$sdk/node_modules/.beacon-lock"
if [[ -f "$stamp" ]] && cmp -s "$sdk/package-lock.json" "$stamp"; then
  exit 0
fi
(cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error)
cp "$sdk/package-lock.json" "$stamp"
