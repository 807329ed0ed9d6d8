"""Retention: drop partitions past their table's retention class in the catalogue.

`raw` tables keep BEACON_RETENTION_DAYS, `rollup` tables BEACON_ROLLUP_RETENTION_DAYS, `keep`
tables (user_first_seen: partitioned by a user's first day, not by the row's age) are never aged
out. Pulumi gives the same tables the same partition expiration in the cloud, from the same
catalogue. The delete is aligned on whole partitions: it filters on the partition expression.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from functions import runtime
from functions.catalogue import Table, retention_days, tables
from functions.jobs import parse_dry_run
from functions.settings import Settings
from functions.sqlfiles import load_sql
from functions.warehouse import Warehouse


def cutoffs(settings: Settings, today: date) -> dict[str, date]:
    """The first day each aged table keeps; rows of earlier partitions go."""
    found = {}
    for name, entry in tables().items():
        days = retention_days(
            entry, raw_days=settings.retention_days, rollup_days=settings.rollup_retention_days
        )
        if days is not None:
            found[name] = today - timedelta(days=days)
    return found


def _statement(template: str, entry: Table) -> str:
    sql = load_sql(template)
    return sql.replace("{table}", entry.name).replace("{day}", entry.partition_expression)


def run_retention(
    warehouse: Warehouse, settings: Settings, *, today: date, dry_run: bool
) -> dict[str, Any]:
    """Delete (or with dry_run, list) the partitions past retention, per table."""
    result: dict[str, Any] = {}
    for name, cutoff in cutoffs(settings, today).items():
        entry = tables()[name]
        params = {"cutoff": cutoff}
        rows = warehouse.query(_statement("retention/partitions", entry), params).rows
        days = {str(row["partition_day"]): int(row["row_count"]) for row in rows}
        found: dict[str, Any] = {"cutoff": cutoff.isoformat(), "days": days}
        found["rows"] = sum(days.values())
        if not dry_run and days:
            found["deleted"] = warehouse.execute(_statement("retention/delete", entry), params)
        result[name] = found
    return {"today": today.isoformat(), "dry_run": dry_run, "tables": result}


def handle_retention(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """POST /v1/jobs/retention {"dry_run": bool}."""
    dry_run = parse_dry_run(body)
    today = datetime.now(UTC).date()
    return run_retention(
        runtime.get_warehouse(), runtime.get_settings(), today=today, dry_run=dry_run
    )
