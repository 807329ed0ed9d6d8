"""BigQuery SQL → DuckDB SQL with sqlglot, for the local warehouse.

sqlglot does most of the work; this module fixes the few constructs where its output differs from
BigQuery's meaning or is needlessly slow, and drops BigQuery-only table options before generating so
that sqlglot has nothing to warn about (any warning it still prints is a real gap worth seeing).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from functions.sqlfiles import fragment


class TranslationError(ValueError):
    """The SQL is not BigQuery SQL that sqlglot can read."""


@dataclass(frozen=True)
class Statement:
    sql: str  # DuckDB dialect, parameters as $name
    params: frozenset[str]  # parameter names the statement uses (DuckDB rejects unused ones)
    tables: frozenset[str]  # tables it reads or writes, for the bytes-scanned estimate
    changes_rows: bool  # INSERT, UPDATE, DELETE or MERGE: DuckDB answers with a row count


# BigQuery storage options with no DuckDB meaning: partitioning and clustering only speed BigQuery
# up, and require_partition_filter is a cost guard (BigQuery tests check it is in the DDL).
_TABLE_OPTIONS = (exp.PartitionedByProperty, exp.ClusterProperty, exp.Property)
_DML = (exp.Insert, exp.Update, exp.Delete, exp.Merge)
_DATE_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}
# The tolerance Beacon states for a quantile column (api_p95_ms, ...): its value's rank among the
# group's values lies within this share of them (at least one rank) of the exact rank. DuckDB's
# QUANTILE_DISC (below) is exact, so it meets it with none to spare needed; BigQuery's
# APPROX_QUANTILES(x, 100) is a sketch meant to be within it (not measurable here: the emulator
# runs DuckDB). The quantile tests check this tolerance.
QUANTILE_RANK_TOLERANCE = 0.01


def _drop_table_options(tree: exp.Expr) -> None:
    properties = tree.args.get("properties") if isinstance(tree, exp.Create) else None
    if properties is None:
        return
    kept = [p for p in properties.expressions if not isinstance(p, _TABLE_OPTIONS)]
    if kept:
        properties.set("expressions", kept)
    else:
        tree.set("properties", None)


def _single_quantile(tree: exp.Expr) -> None:
    # APPROX_QUANTILES(x, n)[OFFSET(k)] becomes one exact QUANTILE_DISC(x, k/n): a value of the
    # input at that rank, as BigQuery's answer is, but exact, so it lies within BigQuery's own
    # error of the true quantile by definition (QUANTILE_RANK_TOLERANCE above). Not
    # DuckDB's APPROX_QUANTILE: its t-digests cost 26 s of a 33 s hourly_metrics rollup at 10M
    # events (QUANTILE_DISC 0.1 s more than no quantile at all), and RESERVOIR_QUANTILE samples
    # at random, so a re-run would not write identical rows.
    for bracket in list(tree.find_all(exp.Bracket)):
        quantiles = bracket.this
        if not isinstance(quantiles, exp.ApproxQuantiles) or len(bracket.expressions) != 1:
            continue
        buckets, index = quantiles.expression, bracket.expressions[0]
        if not (isinstance(buckets, exp.Literal) and isinstance(index, exp.Literal)):
            continue
        position = int(index.this) - int(bracket.args.get("offset") or 0)
        fraction = exp.Literal.number(position / int(buckets.this))
        bracket.replace(
            exp.Anonymous(this="QUANTILE_DISC", expressions=[quantiles.this.copy(), fraction])
        )


def _dates_stay_dates(tree: exp.Expr) -> None:
    # DuckDB's DATE - INTERVAL is a TIMESTAMP; BigQuery's DATE_SUB/DATE_ADD return a DATE, and the
    # difference shows in results and in comparisons with DATE columns.
    for node in list(tree.find_all(exp.DateSub, exp.DateAdd)):
        unit = node.args.get("unit")
        if unit is None or unit.name.upper() in _DATE_UNITS:
            node.replace(exp.cast(node.copy(), exp.DataType.Type.DATE))


def _call(function: str, argument: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=function, expressions=[argument])


def _utc_day_column(node: exp.Expr) -> exp.Column | None:
    """The column of a DATE(column) without a zone (BigQuery's UTC day of an instant), or None."""
    if not (isinstance(node, exp.Date) and isinstance(node.this, exp.Column)):
        return None
    return None if node.expressions or node.args.get("zone") else node.this


def _utc_instant(column: exp.Expr) -> exp.Expr:
    # The instant as a plain TIMESTAMP read in UTC: DuckDB computes its date or truncation by
    # arithmetic, where the same on a TIMESTAMPTZ goes through ICU's calendar for the session's
    # zone (UTC here): 0.8-1.3 s for one pass over 10M events, against 0.1-0.2 s.
    return _call("MAKE_TIMESTAMP", _call("EPOCH_US", column))


def _from_utc_instant(timestamp: exp.Expr) -> exp.Expr:
    return _call("MAKE_TIMESTAMPTZ", _call("EPOCH_US", timestamp))


def _utc_midnight(day: exp.Expr, *, days_later: int = 0) -> exp.Expr:
    date: exp.Expr = exp.cast(day.copy(), exp.DataType.Type.DATE)
    if days_later:
        date = exp.Add(this=date, expression=exp.Literal.number(days_later))
    return _from_utc_instant(date)


def _implied_instant_bounds(condition: exp.Expr) -> list[exp.Expr]:
    """Bounds on the instant itself that a filter on DATE(column) implies, or none."""
    column = _utc_day_column(condition.this)
    if column is None:
        return []
    if isinstance(condition, exp.Between):
        low, high = condition.args["low"], condition.args["high"]
    elif isinstance(condition, exp.EQ):
        low = high = condition.expression
    elif isinstance(condition, exp.GTE | exp.GT):
        low, high = condition.expression, None
    elif isinstance(condition, exp.LTE | exp.LT):
        low, high = None, condition.expression
    else:
        return []
    if any(side is not None and side.find(exp.Column) for side in (low, high)):
        return []
    bounds: list[exp.Expr] = []
    if low is not None:
        bounds.append(exp.GTE(this=column.copy(), expression=_utc_midnight(low)))
    if high is not None:
        bounds.append(exp.LT(this=column.copy(), expression=_utc_midnight(high, days_later=1)))
    return bounds


def _prunable_day_filters(tree: exp.Expr) -> None:
    # Beside each WHERE conjunct on an event's day (DATE(`timestamp`) BETWEEN @start_date AND
    # @end_date, >= @since, ...), the bounds it implies on the instant, so that DuckDB skips the
    # rows outside them in the scan: _utc_calendar makes the day an expression DuckDB cannot
    # push into it, and without these a one-day rollup read all 10M events, not the day's. The
    # condition stays, so the rows kept are exactly those it keeps, whatever the bounds' types: a
    # day at or after a time is at or after that time's date, one at or before it, at or before.
    for where in list(tree.find_all(exp.Where)):
        conjuncts = list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]
        bounds = [bound for condition in conjuncts for bound in _implied_instant_bounds(condition)]
        if bounds:
            where.set("this", exp.and_(*(c.copy() for c in conjuncts), *bounds))


def _utc_calendar(tree: exp.Expr) -> None:
    # BigQuery's DATE(ts) and TIMESTAMP_TRUNC(ts, unit) without a zone work in UTC. On a column
    # (the hot case: every rollup's day or hour of an event), compute them on the UTC instant
    # (_utc_instant), which gives the same answer whatever DuckDB's session zone is.
    for node in list(tree.find_all(exp.Date, exp.TimestampTrunc)):
        column = _utc_day_column(node)
        if column is not None:
            node.replace(exp.cast(_utc_instant(column.copy()), exp.DataType.Type.DATE))
        elif (
            isinstance(node, exp.TimestampTrunc)
            and isinstance(node.this, exp.Column)
            and not node.args.get("zone")
        ):
            truncated = node.copy()
            truncated.set("this", _utc_instant(node.this.copy()))
            node.replace(_from_utc_instant(truncated))


@lru_cache(maxsize=1)
def _first_copy_filter() -> exp.Expr:
    select = sqlglot.parse_one(f"SELECT 1 FROM t {fragment('first_copy')}", read="bigquery")
    qualify: exp.Expr = select.args["qualify"]
    return qualify


_PLAIN_SELECT = {"expressions", "from_", "where", "qualify"}  # the clauses _first_copy_below moves


def _first_copy_below(tree: exp.Expr) -> None:
    # A SELECT of derived columns over events, filtered by sql/shared/first_copy.sql, selects
    # those columns by name from a subquery that derives them beside event_id and loaded_at, with
    # the filter above it. Same rows; but DuckDB's window carries what its input holds, and the
    # raw columns a value is derived from (the properties JSON above all) made it 10-30 % slower
    # than the few derived values. Only a plain SELECT (one table, WHERE and QUALIFY only, no
    # window or aggregate of its own, every column named once) has names to select.
    for select in list(tree.find_all(exp.Select)):
        qualify = select.args.get("qualify")
        if qualify is None or qualify != _first_copy_filter():
            continue
        if {key for key, value in select.args.items() if value} - _PLAIN_SELECT:
            continue
        names = [column.alias_or_name for column in select.expressions]
        if (
            not isinstance(select.args["from_"].this, exp.Table)
            or any(column.find(exp.Star, exp.Window, exp.AggFunc) for column in select.expressions)
            or not all(names)
            or {"event_id", "loaded_at"} & set(names)
            or len(set(names)) < len(names)
        ):
            continue
        derived = select.copy()
        derived.set("qualify", None)
        derived.set(
            "expressions", [exp.column("event_id"), exp.column("loaded_at"), *derived.expressions]
        )
        select.set("expressions", [exp.column(name, quoted=True) for name in names])
        select.set("from_", exp.From(this=derived.subquery("first_copy_input")))
        select.set("where", None)


def _information_schema(tree: exp.Expr) -> None:
    # BigQuery names the dataset's INFORMATION_SCHEMA.TABLES as one path; DuckDB has the
    # standard information_schema schema holding the same views.
    for table in tree.find_all(exp.Table):
        schema, dot, view = table.name.partition(".")
        if dot and schema.lower() == "information_schema" and not table.args.get("db"):
            table.set("this", exp.to_identifier(view.lower()))
            table.set("db", exp.to_identifier("information_schema"))


def _is_transaction_control(tree: exp.Expr) -> bool:
    # execute() wraps every script in one transaction itself; BEGIN/COMMIT inside would nest.
    return isinstance(tree, exp.Transaction | exp.Commit | exp.Rollback)


@lru_cache(maxsize=1024)
def translate(sql: str) -> tuple[Statement, ...]:
    """Translate a BigQuery statement or script into DuckDB statements, in order."""
    try:
        trees = sqlglot.parse(sql, read="bigquery")
    except ParseError as exc:
        raise TranslationError(f"cannot read BigQuery SQL: {exc}") from None
    statements = []
    for tree in trees:
        if tree is None or _is_transaction_control(tree):
            continue
        _drop_table_options(tree)
        _single_quantile(tree)
        _dates_stay_dates(tree)
        _first_copy_below(tree)
        _prunable_day_filters(tree)
        _utc_calendar(tree)
        _information_schema(tree)
        params = frozenset(p.name for p in tree.find_all(exp.Parameter, exp.Placeholder) if p.name)
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        tables = frozenset(
            t.name for t in tree.find_all(exp.Table) if not t.db and t.name and t.name not in ctes
        )
        changes_rows = isinstance(tree, _DML)
        statements.append(Statement(tree.sql(dialect="duckdb"), params, tables, changes_rows))
    return tuple(statements)
