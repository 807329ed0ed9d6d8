"""Retention: drop raw partitions older than BEACON_RETENTION_DAYS, rollups older than
BEACON_ROLLUP_RETENTION_DAYS. Each table's partition expression is read from its DDL in
sql/tables/, so the delete is always aligned on whole partitions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import sqlglot
from sqlglot import exp

from functions import runtime
from functions.jobs import parse_dry_run
from functions.rollup.runner import ROLLUP_TABLES
from functions.settings import Settings
from functions.sqlfiles import load_sql, table_ddl
from functions.warehouse import Warehouse

RAW_TABLES = frozenset({"events", "bad_events"})
# Never aged out: user_first_seen is partitioned by a user's first day, not by the age of the
# row, and must outlive the raw events it was computed from; GDPR deletion removes its rows.
KEPT_TABLES = frozenset({"user_first_seen"})
AGED_TABLES = (frozenset(ROLLUP_TABLES) - KEPT_TABLES) | {
    "query_costs",
    "alerts_log",
    "privacy_log",
}
_SAFE_EXPRESSION = re.compile(r"^[A-Za-z0-9_`() ]+$")


@dataclass(frozen=True)
class TableLayout:
    name: str
    partition: str | None  # BigQuery expression giving the row's partition day
    columns: tuple[str, ...]


@cache
def table_layouts() -> dict[str, TableLayout]:
    """Every table of sql/tables/ with its partition expression and columns, from its DDL."""
    layouts = {}
    for name, ddl in table_ddl().items():
        create = next(s for s in sqlglot.parse(ddl, read="bigquery") if s is not None)
        schema = create.find(exp.Schema)
        columns = tuple(
            column.name
            for column in (schema.expressions if schema else [])
            if isinstance(column, exp.ColumnDef)
        )
        partitioned = create.find(exp.PartitionedByProperty)
        partition = partitioned.this.sql(dialect="bigquery") if partitioned else None
        if partition is not None and not _SAFE_EXPRESSION.match(partition):
            raise ValueError(f"unexpected partition expression for {name}: {partition}")
        layouts[name] = TableLayout(name, partition, columns)
    return layouts


def cutoffs(settings: Settings, today: date) -> dict[str, date]:
    """The first day each aged table keeps; rows of earlier partitions go."""
    raw = today - timedelta(days=settings.retention_days)
    aged = today - timedelta(days=settings.rollup_retention_days)
    return {
        name: raw if name in RAW_TABLES else aged
        for name, layout in table_layouts().items()
        if layout.partition is not None and (name in RAW_TABLES or name in AGED_TABLES)
    }


def _statement(template: str, layout: TableLayout) -> str:
    assert layout.partition is not None
    return load_sql(template).replace("{table}", layout.name).replace("{day}", layout.partition)


def run_retention(
    warehouse: Warehouse, settings: Settings, *, today: date, dry_run: bool
) -> dict[str, Any]:
    """Delete (or with dry_run, list) the partitions past retention, per table."""
    tables: dict[str, Any] = {}
    for name, cutoff in cutoffs(settings, today).items():
        layout = table_layouts()[name]
        params = {"cutoff": cutoff}
        rows = warehouse.query(_statement("retention/partitions", layout), params).rows
        days = {str(row["partition_day"]): int(row["row_count"]) for row in rows}
        entry: dict[str, Any] = {"cutoff": cutoff.isoformat(), "days": days}
        entry["rows"] = sum(days.values())
        if not dry_run and days:
            entry["deleted"] = warehouse.execute(_statement("retention/delete", layout), params)
        tables[name] = entry
    return {"today": today.isoformat(), "dry_run": dry_run, "tables": tables}


def handle_retention(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """POST /v1/jobs/retention {"dry_run": bool}."""
    dry_run = parse_dry_run(body)
    today = datetime.now(UTC).date()
    return run_retention(
        runtime.get_warehouse(), runtime.get_settings(), today=today, dry_run=dry_run
    )
