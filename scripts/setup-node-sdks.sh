#!/usr/bin/env bash
# Install the Node packages the tests use, at the versions their package-lock.json pins:
# tests/sdk (the Segment-speaking Node and browser SDKs the compatibility tests drive) and
# clients/js (terser, for the browser client's size budget). Idempotent: returns at once when
# each node_modules matches its lock file. Without Node, the tests that need it say so and skip.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v npm >/dev/null 2>&1; then
  echo "setup-node-sdks: npm not found; the Node and browser tests will skip" >&2
  exit 0
fi
for dir in "$repo/tests/sdk" "$repo/clients/js"; do
  stamp="$dir/node_modules/.beacon-lock"
  if [[ -f "$stamp" ]] && cmp -s "$dir/package-lock.json" "$stamp"; then
    continue
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$dir/package-lock.json" "$stamp"
done
