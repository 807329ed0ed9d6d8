"""Shared test setup: make `tests.support` importable, and small fixtures for loopback servers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# pytest puts tests/ (this file's folder) on sys.path, not the repository root, so the helpers
# under tests/support would not import as `tests.support` without this.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.serve import free_port  # noqa: E402


@pytest.fixture
def port() -> int:
    """A loopback port that was free a moment ago."""
    return free_port()
