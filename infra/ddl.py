"""Translate a catalogue table (sql/<table>/) into what the BigQuery table API needs.

The catalogue stays the one definition of each table: the functions create the same tables from
it with `CREATE TABLE IF NOT EXISTS`, and Pulumi creates them from this translation (JSON schema,
time partitioning, clustering, partition filter, description). Pure: no Pulumi, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from functions.catalogue import Table


class DDLError(ValueError):
    """A column uses a type this translation does not support; the message says what."""


# BigQuery's table API answers with the legacy type names; sending them avoids a permanent diff
# between what Pulumi sent (INT64) and what it reads back (INTEGER).
_LEGACY_TYPE_NAMES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}


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


def table_spec(table: Table) -> TableSpec:
    return TableSpec(
        name=table.name,
        schema=[_field(column.definition) for column in table.columns],
        partition_field=table.partition_column,
        partition_type=table.partition_unit,
        clusterings=table.clustering,
        require_partition_filter=table.require_partition_filter,
        description=table.description,
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
