"""Read BigQuery statements from the repository's sql/ folder, the one home of Beacon's SQL."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@cache
def load_sql(name: str) -> str:
    """Return the text of sql/NAME.sql, e.g. load_sql("tables/events")."""
    path = (SQL_DIR / f"{name}.sql").resolve()
    if SQL_DIR not in path.parents:
        raise ValueError(f"SQL name {name!r} leaves the sql/ folder")
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file sql/{name}.sql")
    return path.read_text(encoding="utf-8")


def table_ddl() -> dict[str, str]:
    """Every CREATE TABLE statement of sql/tables/, by table name, in a stable order."""
    return {
        path.stem: load_sql(f"tables/{path.stem}") for path in sorted(SQL_DIR.glob("tables/*.sql"))
    }
