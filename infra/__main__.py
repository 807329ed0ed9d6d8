"""Pulumi's entry point (Pulumi.yaml: main: infra/). Run `pulumi up` from the repository root."""

import sys
from pathlib import Path

# Pulumi runs this file by path, so the repository root (home of `infra` and `functions`) is not
# on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.program import build

build()
