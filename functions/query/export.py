"""Write a report's table as CSV for /v1/export?format=csv."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

# A cell starting with one of these runs as a formula when a spreadsheet opens the file; text
# from events (search queries, error types, entity ids) is untrusted, so such cells get a quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return "|".join("" if item is None else str(item) for item in value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """A header of every column in first-seen order, then one line per row."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()
