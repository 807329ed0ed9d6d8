"""Translate a sql/tables/ CREATE TABLE statement into what the BigQuery table API needs.

The DDL files stay the one definition of each table: the functions run them as
`CREATE TABLE IF NOT EXISTS`, and Pulumi creates the same tables from this translation (JSON
schema, time partitioning, clustering, partition filter). Pure: no Pulumi, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp


class DDLError(ValueError):
    """A table's DDL uses something this translation does not support; the message says what."""


# BigQuery's table API answers with the legacy type names; sending them avoids a permanent diff
# between what Pulumi sent (INT64) and what it reads back (INTEGER).
_LEGACY_TYPE_NAMES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}
_PARTITION_UNITS = {"DAY", "HOUR", "MONTH", "YEAR"}


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: list[dict[str, Any]]  # BigQuery JSON schema fields
    partition_field: str
    partition_type: str  # DAY, HOUR, MONTH or YEAR
    clusterings: tuple[str, ...]
    require_partition_filter: bool
    description: str

    def schema_json(self) -> str:
        return json.dumps(self.schema, sort_keys=True)


def parse_table(sql: str) -> TableSpec:
    """Translate one CREATE TABLE statement (BigQuery dialect)."""
    statement = sqlglot.parse_one(sql, read="bigquery")
    if not isinstance(statement, exp.Create) or not isinstance(statement.this, exp.Schema):
        raise DDLError("expected one CREATE TABLE statement with a column list")
    table = statement.this.this
    name = table.name
    columns = [c for c in statement.this.expressions if isinstance(c, exp.ColumnDef)]
    partition_field, partition_type = _partitioning(statement, name)
    return TableSpec(
        name=name,
        schema=[_field(column) for column in columns],
        partition_field=partition_field,
        partition_type=partition_type,
        clusterings=_clusterings(statement),
        require_partition_filter=_option(statement, "require_partition_filter") is True,
        description=str(_option(statement, "description") or _comment(statement)),
    )


def _field(column: exp.ColumnDef) -> dict[str, Any]:
    kind = column.args.get("kind")
    if not isinstance(kind, exp.DataType):
        raise DDLError(f"column {column.name} has no type")
    not_null = any(isinstance(c.kind, exp.NotNullColumnConstraint) for c in column.constraints)
    mode = "REQUIRED" if not_null else "NULLABLE"
    if kind.this == exp.DataType.Type.ARRAY:
        # BigQuery arrays are never NULL themselves: an ARRAY column is a REPEATED field.
        (kind,) = kind.expressions
        mode = "REPEATED"
    result: dict[str, Any] = {"name": column.name, "type": bigquery_type(kind), "mode": mode}
    if kind.this == exp.DataType.Type.STRUCT:
        result["fields"] = [_field(sub) for sub in kind.expressions]
    description = _comment(column)
    if description:
        result["description"] = description
    return result


def bigquery_type(kind: exp.DataType) -> str:
    """The schema type name of a scalar or STRUCT type: INTEGER, FLOAT, BOOLEAN, RECORD, ..."""
    if kind.this == exp.DataType.Type.STRUCT:
        return "RECORD"
    # Render in BigQuery's own spelling and drop parameters: STRING(10) -> STRING.
    bare = kind.copy()
    bare.set("expressions", [])
    name = bare.sql("bigquery").split("(")[0].upper()
    return _LEGACY_TYPE_NAMES.get(name, name)


def _comment(node: exp.Expression) -> str:
    return " ".join(c.strip() for c in node.comments or [] if c.strip())


def _properties(statement: exp.Create) -> list[exp.Expression]:
    properties = statement.args.get("properties")
    return list(properties.expressions) if properties else []


def _option(statement: exp.Create, key: str) -> object:
    for prop in _properties(statement):
        if type(prop) is exp.Property and prop.name.lower() == key:
            value = prop.args.get("value")
            if isinstance(value, exp.Boolean):
                return bool(value.this)
            if isinstance(value, exp.Literal):
                return value.this
    return None


def _clusterings(statement: exp.Create) -> tuple[str, ...]:
    for prop in _properties(statement):
        if isinstance(prop, exp.ClusteredByProperty | exp.ClusterProperty):
            return tuple(column.name for column in prop.expressions)
    return ()


def _partitioning(statement: exp.Create, table: str) -> tuple[str, str]:
    """(column, unit) of a time-partitioned table; every Beacon table must be one."""
    for prop in _properties(statement):
        if not isinstance(prop, exp.PartitionedByProperty):
            continue
        spec = prop.this
        if isinstance(spec, exp.Schema) and len(spec.expressions) == 1:
            spec = spec.expressions[0]
        if isinstance(spec, exp.Column | exp.Identifier | exp.Var):  # a DATE column: by day
            return spec.name, "DAY"
        if isinstance(spec, exp.Date | exp.TsOrDsToDate) and isinstance(spec.this, exp.Column):
            return spec.this.name, "DAY"
        if isinstance(spec, exp.TimestampTrunc | exp.DatetimeTrunc | exp.DateTrunc):
            unit = spec.text("unit").upper()
            column = spec.this
            if isinstance(column, exp.Column) and unit in _PARTITION_UNITS:
                return column.name, unit
        raise DDLError(f"table {table}: unsupported PARTITION BY {spec.sql('bigquery')}")
    raise DDLError(f"table {table} has no PARTITION BY: every table must be time-partitioned")
