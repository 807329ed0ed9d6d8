"""The table catalogue: one folder per table under sql/, read once.

    sql/<table>/table.sql      the columns (CREATE TABLE IF NOT EXISTS, BigQuery types, comments)
    sql/<table>/metadata.yaml  description, kind, retention, depends_on, user_keys,
                               partitioning and clustering
    sql/<table>/rollup.sql     the idempotent script that recomputes a range of days, if any

Everything that needs a table's rules asks here: table creation on DuckDB and BigQuery, the
Pulumi tables and their partition expiration, retention, GDPR erasure and export, the rollup run
order (from depends_on) and the tests. Folders without metadata.yaml hold other statements
(queries, alerts, gdpr, retention) and are not tables.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

import sqlglot
import yaml
from sqlglot import exp

from functions.sqlfiles import SQL_DIR, expand

Kind = Literal["raw", "rollup", "state", "log"]
# raw: kept BEACON_RETENTION_DAYS; rollup: BEACON_ROLLUP_RETENTION_DAYS; keep: never aged out.
Retention = Literal["raw", "rollup", "keep"]
PartitionUnit = Literal["DAY", "HOUR", "MONTH", "YEAR"]
_FIELDS = {
    "description",
    "kind",
    "retention",
    "depends_on",
    "user_keys",
    "partitioning",
    "clustering",
}

# Tables an earlier version kept that this one neither writes nor reads, with what replaced them.
# They may hold user ids that erasure no longer reaches: the DuckDB adapter drops them when it
# opens a file, and a cloud deployment drops them once on upgrade (the README says how).
RETIRED_TABLES: Mapping[str, str] = {
    "user_activity": "retention_cohorts reads its week of active days from user_days",
}


class CatalogueError(ValueError):
    """A table folder breaks the catalogue's rules; the message names the table and the rule."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # BigQuery type, e.g. STRING, TIMESTAMP, ARRAY<STRING>, JSON
    required: bool  # NOT NULL
    description: str  # the column's comment in table.sql
    definition: exp.ColumnDef  # the parsed column, for translations (infra/ddl.py)


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    kind: Kind
    retention: Retention
    depends_on: tuple[str, ...]
    user_keys: tuple[str, ...]  # columns that name a user (GDPR erasure and export match them)
    partition_column: str
    partition_unit: PartitionUnit
    require_partition_filter: bool
    clustering: tuple[str, ...]
    columns: tuple[Column, ...]
    ddl: str  # table.sql: the columns, for DuckDB (which has no partitioning)
    rollup_sql: str | None  # rollup.sql with shared fragments expanded, when it has one

    @property
    def json_columns(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns if c.type == "JSON")

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name} has no column {name}")

    @property
    def partition_expression(self) -> str:
        """BigQuery SQL giving a row's day, the DATE column or DATE(timestamp): a filter on it
        selects whole partitions (what retention deletes)."""
        column = f"`{self.partition_column}`"
        if self.column(self.partition_column).type == "DATE":
            return column
        return f"DATE({column})"

    @property
    def partition_by(self) -> str:
        """The PARTITION BY expression of BigQuery DDL for the column and unit."""
        column = f"`{self.partition_column}`"
        is_date = self.column(self.partition_column).type == "DATE"
        if self.partition_unit == "DAY":
            return self.partition_expression
        truncate = "DATE_TRUNC" if is_date else "TIMESTAMP_TRUNC"
        return f"{truncate}({column}, {self.partition_unit})"

    def bigquery_ddl(self) -> str:
        """table.sql with the partitioning, clustering and partition filter of metadata.yaml
        (the description reaches BigQuery through Pulumi)."""
        clauses = [f"PARTITION BY {self.partition_by}"]
        if self.clustering:
            clauses.append("CLUSTER BY " + ", ".join(f"`{c}`" for c in self.clustering))
        if self.require_partition_filter:
            clauses.append("OPTIONS (require_partition_filter = TRUE)")
        return self.ddl.rstrip().rstrip(";") + "\n" + "\n".join(clauses) + ";\n"


@cache
def tables() -> Mapping[str, Table]:
    """Every table of the catalogue, by name, in name order."""
    return read_catalogue(SQL_DIR)


def read_catalogue(root: Path) -> dict[str, Table]:
    """The tables of the folders under ROOT that hold a metadata.yaml, checked."""
    found = {path.parent.name: _read(path.parent) for path in sorted(root.glob("*/metadata.yaml"))}
    _check_references(found)
    return found


def table(name: str) -> Table:
    try:
        return tables()[name]
    except KeyError:
        raise KeyError(f"no table {name!r} in the catalogue (sql/{name}/metadata.yaml)") from None


@cache
def rollup_order() -> tuple[str, ...]:
    """The tables with a rollup.sql, each after the tables it depends on (then by name)."""
    with_rollup = {name: t for name, t in tables().items() if t.rollup_sql is not None}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name, entry in with_rollup.items():
        sorter.add(name, *(d for d in entry.depends_on if d in with_rollup))
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return tuple(order)


def retention_days(entry: Table, *, raw_days: int, rollup_days: int) -> int | None:
    """Days a table's partitions are kept; None for a table never aged out."""
    return {"raw": raw_days, "rollup": rollup_days, "keep": None}[entry.retention]


def user_tables() -> tuple[str, ...]:
    """Tables holding rows of a user, raw tables first (an erasure that stops half-way has
    removed the personal data already)."""
    named = [t for t in tables().values() if t.user_keys]
    return tuple(t.name for t in sorted(named, key=lambda t: (t.kind != "raw", t.name)))


def _read(folder: Path) -> Table:
    name = folder.name
    metadata = yaml.safe_load((folder / "metadata.yaml").read_text(encoding="utf-8"))
    if not isinstance(metadata, dict):
        raise CatalogueError(f"{name}: metadata.yaml must be a mapping")
    unknown = set(metadata) - _FIELDS
    missing = _FIELDS - set(metadata)
    if unknown or missing:
        raise CatalogueError(
            f"{name}: metadata.yaml unknown {sorted(unknown)}, missing {sorted(missing)}"
        )
    ddl = (folder / "table.sql").read_text(encoding="utf-8")
    columns = _columns(name, ddl)
    rollup_path = folder / "rollup.sql"
    partitioning = _mapping(metadata["partitioning"], f"{name}: partitioning")
    entry = Table(
        name=name,
        description=str(metadata["description"]).strip(),
        kind=_choice(metadata["kind"], Kind, f"{name}: kind"),
        retention=_choice(metadata["retention"], Retention, f"{name}: retention"),
        depends_on=_names(metadata["depends_on"], f"{name}: depends_on"),
        user_keys=_names(metadata["user_keys"], f"{name}: user_keys"),
        partition_column=str(partitioning.get("column")),
        partition_unit=_choice(partitioning.get("unit"), PartitionUnit, f"{name}: unit"),
        require_partition_filter=partitioning.get("require_filter") is True,
        clustering=_names(metadata["clustering"], f"{name}: clustering"),
        columns=columns,
        ddl=ddl,
        rollup_sql=expand(rollup_path.read_text(encoding="utf-8"))
        if rollup_path.is_file()
        else None,
    )
    names = {c.name for c in columns}
    for what, wanted in (
        ("user_keys", entry.user_keys),
        ("clustering", entry.clustering),
        ("partitioning column", (entry.partition_column,)),
    ):
        absent = [c for c in wanted if c not in names]
        if absent:
            raise CatalogueError(f"{name}: {what} names no column: {', '.join(absent)}")
    partition_type = entry.column(entry.partition_column).type
    if partition_type not in ("DATE", "TIMESTAMP"):
        raise CatalogueError(f"{name}: partition column must be a DATE or TIMESTAMP")
    if partition_type == "DATE" and entry.partition_unit == "HOUR":
        raise CatalogueError(f"{name}: a DATE column cannot be partitioned by HOUR")
    return entry


def _columns(name: str, ddl: str) -> tuple[Column, ...]:
    statement = sqlglot.parse_one(ddl, read="bigquery")
    if not isinstance(statement, exp.Create) or not isinstance(statement.this, exp.Schema):
        raise CatalogueError(f"{name}: table.sql must be one CREATE TABLE with its columns")
    if statement.this.this.name != name:
        raise CatalogueError(f"{name}: table.sql creates {statement.this.this.name}")
    if statement.args.get("properties"):
        raise CatalogueError(f"{name}: partitioning and options belong in metadata.yaml")
    columns = []
    for definition in statement.this.expressions:
        if not isinstance(definition, exp.ColumnDef):
            continue
        kind = definition.args.get("kind")
        if not isinstance(kind, exp.DataType):
            raise CatalogueError(f"{name}: column {definition.name} has no type")
        required = any(
            isinstance(c.kind, exp.NotNullColumnConstraint) for c in definition.constraints
        )
        comment = " ".join(c.strip() for c in definition.comments or [] if c.strip())
        columns.append(
            Column(definition.name, kind.sql(dialect="bigquery"), required, comment, definition)
        )
    return tuple(columns)


def _check_references(found: Mapping[str, Table]) -> None:
    for entry in found.values():
        unknown = [d for d in entry.depends_on if d not in found]
        if unknown:
            raise CatalogueError(f"{entry.name}: depends_on names no table: {', '.join(unknown)}")


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CatalogueError(f"{what} must be a mapping")
    return value


def _names(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogueError(f"{what} must be a list of names")
    return tuple(value)


def _choice(value: Any, allowed: Any, what: str) -> Any:
    options = get_args(allowed)
    if value not in options:
        raise CatalogueError(f"{what} must be one of {', '.join(options)}, got {value!r}")
    return value
