"""Rows as JSON: the one encoding both warehouse adapters hand rows over in.

BigQuery's insertAll takes JSON rows; the DuckDB adapter bulk-loads newline-delimited JSON. Both
share these rules: dates and datetimes become ISO 8601 text (both warehouses read a naive datetime
as UTC, as BigQuery does; Beacon's code passes aware ones) and a JSON column takes a Python value
(dict, list, number, ...) or a str holding JSON text.

orjson encodes about ten times faster than the standard library, which is what lets the DuckDB
adapter load 50,000+ rows a second; without it the standard library is used.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - the standard library does the same, slower
    orjson = None  # type: ignore[assignment]


class RowEncodingError(ValueError):
    """A row value cannot be written as JSON."""


def _default(value: object) -> object:
    if isinstance(value, date):  # datetime too; orjson encodes both itself
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise RowEncodingError(f"cannot encode {type(value).__name__} as JSON")


def json_value(value: object) -> Any:
    """A JSON column's value as a Python object; a str is read as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowEncodingError(f"JSON column value is not JSON text: {exc}") from None
    return value


def dumps(value: object) -> str:
    return dumps_line(value)[:-1].decode()


if orjson is not None:
    _OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY

    def dumps_line(value: object) -> bytes:
        """Compact JSON with a trailing newline, as UTF-8."""
        try:
            return orjson.dumps(value, default=_default, option=_OPTIONS)
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise RowEncodingError(str(exc)) from None

else:  # pragma: no cover - exercised only where orjson is absent

    def dumps_line(value: object) -> bytes:
        """Compact JSON with a trailing newline, as UTF-8."""
        try:
            text = json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise RowEncodingError(str(exc)) from None
        return (text + "\n").encode()


def json_column_text(value: object) -> str | None:
    """A JSON column's value as JSON text (BigQuery's insertAll wants JSON columns as strings)."""
    if value is None:
        return None
    return dumps(json_value(value))


def normalise_row(row: Mapping[str, Any], json_columns: Collection[str]) -> Mapping[str, Any]:
    """The row with JSON text in its JSON columns parsed, ready for `dumps_line`."""
    texts = [name for name in json_columns if isinstance(row.get(name), str)]
    if not texts:
        return row  # the common case: no copy
    out = dict(row)
    for name in texts:
        out[name] = json_value(out[name])
    return out
