"""Read BigQuery statements from the repository's sql/ folder, the one home of Beacon's SQL.

A statement may use a shared meaning by name, `{{ deduped }}`: the text of sql/shared/NAME.sql
(without its comment lines) takes its place, so the de-duplication clause, the user key and the
error predicate are each written once and read the same everywhere.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_FRAGMENT = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@cache
def load_sql(name: str) -> str:
    """Return the text of sql/NAME.sql with its fragments expanded, e.g. load_sql("gdpr/...")."""
    return expand(_read(name))


def _read(name: str) -> str:
    path = (SQL_DIR / f"{name}.sql").resolve()
    if SQL_DIR not in path.parents:
        raise ValueError(f"SQL name {name!r} leaves the sql/ folder")
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file sql/{name}.sql")
    return path.read_text(encoding="utf-8")


@cache
def fragment(name: str) -> str:
    """sql/shared/NAME.sql as one line of SQL: its comments say what it means, not the query."""
    lines = [line.strip() for line in _read(f"shared/{name}").splitlines()]
    return " ".join(line for line in lines if line and not line.startswith("--"))


def expand(sql: str) -> str:
    return _FRAGMENT.sub(lambda match: fragment(match.group(1)), sql)
