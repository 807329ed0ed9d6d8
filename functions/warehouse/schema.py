"""Column types of Beacon's tables, read from their DDL in sql/tables/ (the one definition)."""

from __future__ import annotations

from functools import cache

import sqlglot
from sqlglot import exp

from functions.sqlfiles import table_ddl


@cache
def column_types(table: str) -> dict[str, str]:
    """{column: BigQuery type} of a table of sql/tables/; empty for a table not defined there."""
    ddl = table_ddl().get(table)
    if ddl is None:
        return {}
    tree = sqlglot.parse_one(ddl, read="bigquery")
    return {
        column.name: column.args["kind"].sql(dialect="bigquery") if column.args.get("kind") else ""
        for column in tree.find_all(exp.ColumnDef)
    }


def json_columns(table: str) -> frozenset[str]:
    return frozenset(name for name, kind in column_types(table).items() if kind == "JSON")
