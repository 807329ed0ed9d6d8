"""GET /v1/insights: any event type's measure over time, broken down and filtered, from raw events.

The question arrives as query parameters and is validated into the parameters of
sql/queries/insights.sql: every field, measure and property name is checked against a fixed list
or a strict pattern and reaches the warehouse only as an @parameter. Raw events are the
warehouse's largest table, so the query is dry-run first and a question that would read more than
the per-query byte cap is answered 400 before it runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from functions.query import params
from functions.query.params import ParamError
from functions.query.reports import MAX_RAW_DAYS, Queries
from functions.query.values import json_value

MultiArgs = Mapping[str, Sequence[str]]

PARAMETERS = frozenset(
    {"event", "measure", "interval", "days", "start", "end", "breakdown", "filter", "limit"}
)
# Fields a breakdown or a filter may name, to the name insights.sql's CASE knows them by.
DIMENSIONS = {
    "platform": "platform",
    "source": "source",
    "event_type": "event_type",
    "context.app_version": "app_version",
    "context.os": "os",
    "context.locale": "locale",
}
PROPERTY_PREFIX = "properties."
NUMERIC_FIELDS = ("revenue", "duration_ms")
VALUE_MEASURES = ("sum", "avg", "p50", "p95")
COUNTS = {"events", "users"}
COUNTED = {*COUNTS, "sum"}  # an empty bucket counts 0; a mean of nothing is null
INTERVALS = ("hour", "day", "week")
MAX_DAYS = {"hour": 31, "day": 400, "week": 400}  # hours: at most 744 points per series
DEFAULT_DAYS = 7
DEFAULT_LIMIT = 10
MAX_LIMIT = 50
MAX_PROPERTY_FILTERS = 3  # the @filter_path_N slots of insights.sql
MAX_FILTERS = 20
MAX_VALUE_LENGTH = 200
OTHER = "other"
_FILTER = re.compile(r"^(?P<field>[a-z][a-z0-9_.]{0,80})=(?P<value>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Question:
    event: str
    measure: str  # events | users | sum | avg | p50 | p95
    field: str  # revenue | duration_ms for value measures, else ""
    interval: str
    start: date
    end: date
    breakdown: str  # a DIMENSIONS key, "properties.<key>", or "" for none
    filters: tuple[tuple[str, str], ...]  # (field, value), field as given
    limit: int

    @property
    def measure_label(self) -> str:
        return f"{self.measure}:{self.field}" if self.field else self.measure


def parse(args: MultiArgs, today: date) -> Question:
    """The question in `args`, or ParamError naming the first field that is wrong."""
    params.reject_unknown(args, PARAMETERS)
    for name, values in args.items():
        if name != "filter" and len(values) > 1:
            raise ParamError(name, f"give {name} once")
    single = {name: values[0] for name, values in args.items() if name != "filter" and values}
    event = params.name(single, "event", required=True)
    measure, field = _measure(single.get("measure") or "events")
    interval = params.choice(single, "interval", INTERVALS, "day")
    start, end = _range(single, today, MAX_DAYS[interval])
    breakdown = single.get("breakdown") or ""
    if breakdown:
        _dimension("breakdown", breakdown)
    filters = tuple(_filter(raw) for raw in args.get("filter", ()))
    if len(filters) > MAX_FILTERS:
        raise ParamError("filter", f"at most {MAX_FILTERS} filters")
    properties = {name for name, _ in filters if name.startswith(PROPERTY_PREFIX)}
    if len(properties) > MAX_PROPERTY_FILTERS:
        raise ParamError("filter", f"filters may name at most {MAX_PROPERTY_FILTERS} properties")
    limit = params.integer(single, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    return Question(event, measure, field, interval, start, end, breakdown, filters, limit)


def _measure(raw: str) -> tuple[str, str]:
    if raw in {"events", "users"}:
        return raw, ""
    kind, _, field = raw.partition(":")
    if kind in VALUE_MEASURES and field in NUMERIC_FIELDS:
        return kind, field
    fields = " or ".join(NUMERIC_FIELDS)
    raise ParamError(
        "measure", f"measure must be events, users, or sum|avg|p50|p95 of {fields} (sum:revenue)"
    )


def _range(single: Mapping[str, str], today: date, max_days: int) -> tuple[date, date]:
    if "start" in single or "end" in single:
        if "days" in single:
            raise ParamError("days", "give days, or start and end, not both")
        start, end = _date(single, "start"), _date(single, "end")
        if start > end:
            raise ParamError("start", f"start {start} is after end {end}")
        if (end - start).days + 1 > max_days:
            raise ParamError("start", f"at most {max_days} days at this interval")
        if start < today - timedelta(days=MAX_RAW_DAYS - 1):
            raise ParamError("start", f"raw events are kept {MAX_RAW_DAYS} days")
        return start, end
    days = params.integer(single, "days", DEFAULT_DAYS, 1, max_days)
    return today - timedelta(days=days - 1), today


def _date(single: Mapping[str, str], name: str) -> date:
    raw = single.get(name) or ""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise ParamError(name, f"{name} must be a YYYY-MM-DD date (give start and end together)")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ParamError(name, f"{name} is not a calendar date: {raw}") from None


def _dimension(field: str, raw: str) -> None:
    if raw in DIMENSIONS:
        return
    if raw.startswith(PROPERTY_PREFIX) and params.NAME_PATTERN.fullmatch(
        raw.removeprefix(PROPERTY_PREFIX)
    ):
        return
    known = ", ".join(DIMENSIONS)
    raise ParamError(field, f"{field} must be one of {known}, or properties.<key> (a-z0-9_)")


def _filter(raw: str) -> tuple[str, str]:
    match = _FILTER.fullmatch(raw)
    if match is None:
        raise ParamError("filter", "each filter is field=value, e.g. platform=ios")
    field, value = match.group("field"), match.group("value")
    _dimension("filter", field)
    if not 0 < len(value) <= MAX_VALUE_LENGTH or any(ord(ch) < 32 for ch in value):
        raise ParamError(
            "filter", f"a filter value is 1 to {MAX_VALUE_LENGTH} printable characters"
        )
    return field, value


def sql_parameters(question: Question, currency: str) -> dict[str, Any]:
    """The @parameters of insights.sql for a validated question."""
    by_column: dict[str, list[str]] = {column: [] for column in DIMENSIONS.values()}
    property_paths: dict[str, list[str]] = {}
    for field, value in question.filters:
        if field in DIMENSIONS:
            by_column[DIMENSIONS[field]].append(value)
        else:
            property_paths.setdefault(_path(field), []).append(value)
    values: dict[str, Any] = {f"filter_{column}": v for column, v in by_column.items()}
    slots = list(property_paths.items())
    for slot in range(1, MAX_PROPERTY_FILTERS + 1):
        path, wanted = slots[slot - 1] if slot <= len(slots) else ("$", [])
        values[f"filter_path_{slot}"] = path
        values[f"filter_property_{slot}"] = wanted
    breakdown = question.breakdown
    is_property = breakdown.startswith(PROPERTY_PREFIX)
    return {
        **values,
        "event_type": question.event,
        "measure": question.measure,
        "field": question.field,
        "bucket": question.interval,
        "start_date": question.start,
        "end_date": question.end,
        "breakdown": "property" if is_property else breakdown,
        "breakdown_path": _path(breakdown) if is_property else "$",
        "limit": question.limit,
        "currency": currency,
    }


def _path(field: str) -> str:
    # The key matched NAME_PATTERN, so the path is a plain member access; still only a parameter.
    return "$." + field.removeprefix(PROPERTY_PREFIX)


def buckets(question: Question, now: datetime) -> list[datetime]:
    """Every bucket of the range up to the current one, so a quiet interval reads as zero."""
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
    first = datetime.combine(question.start, datetime.min.time(), UTC)
    if question.interval == "week":
        first -= timedelta(days=first.weekday())
    last = min(
        datetime.combine(question.end, datetime.min.time(), UTC) + timedelta(days=1),
        now.astimezone(UTC),
    )
    out = []
    moment = first
    while moment < last:
        out.append(moment)
        moment += step[question.interval]
    return out


def shape(question: Question, rows: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """Rows of insights.sql (JSON values already) as the answer's series, each with a point for
    every bucket."""
    spine = buckets(question, now)
    empty = 0 if question.measure in COUNTED else None
    series: dict[tuple[bool, Any], dict[str, Any]] = {}
    for row in rows:
        other = bool(row["is_other"])
        entry = series.setdefault(
            (other, row["key"]),
            {"key": OTHER if other else row["key"], "other": other, "values": {}, "total": empty},
        )
        # One CASE column holds every measure, so counts arrive as floats.
        value = int(row["value"]) if question.measure in COUNTS else row["value"]
        if row["bucket"] is None:
            entry["total"] = value
        else:
            entry["values"][row["bucket"]] = value
    shaped = []
    for entry in series.values():
        values = entry.pop("values")
        points = [{"t": t, "value": values.get(t, empty)} for t in map(json_value, spine)]
        shaped.append({**entry, "points": points})
    return {
        "event": question.event,
        "measure": question.measure_label,
        "interval": question.interval,
        "start": question.start.isoformat(),
        "end": question.end.isoformat(),
        "breakdown": question.breakdown or None,
        "filters": [f"{field}={value}" for field, value in question.filters],
        "series": shaped,
    }


class OverByteCap(ParamError):
    """The question would read more than the per-query byte cap (BEACON_MAX_BYTES_BILLED)."""

    code = "over_byte_cap"


def run(q: Queries, args: MultiArgs, max_bytes_billed: int) -> dict[str, Any]:
    """Answer one question: validate, dry-run against the byte cap, query, shape."""
    question = parse(args, q.now.date())
    values = sql_parameters(question, q.currency)
    estimate = q.estimate("insights", values)
    if estimate > max_bytes_billed:
        raise OverByteCap(
            "start" if "start" in args else "days",
            f"this question would read about {estimate:,} bytes, over the per-query cap of "
            f"{max_bytes_billed:,} (BEACON_MAX_BYTES_BILLED): ask for fewer days",
        )
    body = shape(question, q.rows("insights", values), q.now)
    if question.field == "revenue":
        body["currency"] = q.currency
    return body
