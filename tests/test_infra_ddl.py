"""The DDL -> BigQuery table translation that keeps sql/tables/ the one definition of tables."""

from __future__ import annotations

import json

import pytest

from functions.sqlfiles import table_ddl
from infra.ddl import DDLError, parse_table

EVENTS_LIKE = """
-- Things that happened.
CREATE TABLE IF NOT EXISTS things (
  id STRING NOT NULL,           -- the key
  n INT64,
  x FLOAT64 NOT NULL,
  ok BOOL,
  at TIMESTAMP NOT NULL,
  props JSON,
  price NUMERIC(10, 2),
  tags ARRAY<STRING>,
  item STRUCT<sku STRING NOT NULL, qty INT64>
)
PARTITION BY DATE(at)
CLUSTER BY id, n
OPTIONS (require_partition_filter = TRUE);
"""


def test_columns_become_bigquery_schema_fields_with_types_and_modes() -> None:
    fields = {f["name"]: f for f in parse_table(EVENTS_LIKE).schema}
    assert [(f["type"], f["mode"]) for f in fields.values()] == [
        ("STRING", "REQUIRED"),
        ("INTEGER", "NULLABLE"),
        ("FLOAT", "REQUIRED"),
        ("BOOLEAN", "NULLABLE"),
        ("TIMESTAMP", "REQUIRED"),
        ("JSON", "NULLABLE"),
        ("NUMERIC", "NULLABLE"),
        ("STRING", "REPEATED"),
        ("RECORD", "NULLABLE"),
    ]
    assert fields["item"]["fields"] == [
        {"name": "sku", "type": "STRING", "mode": "REQUIRED"},
        {"name": "qty", "type": "INTEGER", "mode": "NULLABLE"},
    ]


def test_trailing_sql_comments_become_descriptions() -> None:
    table = parse_table(EVENTS_LIKE)
    assert table.schema[0]["description"] == "the key"
    assert "description" not in table.schema[1]
    assert table.description == "Things that happened."


def test_partitioning_clustering_and_partition_filter_are_read_from_the_ddl() -> None:
    table = parse_table(EVENTS_LIKE)
    assert (table.partition_field, table.partition_type) == ("at", "DAY")
    assert table.clusterings == ("id", "n")
    assert table.require_partition_filter is True


@pytest.mark.parametrize(
    ("partition_by", "expected"),
    [
        ("d", ("d", "DAY")),
        ("DATE(t)", ("t", "DAY")),
        ("TIMESTAMP_TRUNC(t, HOUR)", ("t", "HOUR")),
        ("DATE_TRUNC(d, MONTH)", ("d", "MONTH")),
    ],
)
def test_time_partitioning_forms(partition_by: str, expected: tuple[str, str]) -> None:
    sql = f"CREATE TABLE x (d DATE, t TIMESTAMP) PARTITION BY {partition_by}"
    table = parse_table(sql)
    assert (table.partition_field, table.partition_type) == expected
    assert table.require_partition_filter is False


def test_a_table_without_time_partitioning_is_refused() -> None:
    with pytest.raises(DDLError, match="no PARTITION BY"):
        parse_table("CREATE TABLE x (d DATE)")
    with pytest.raises(DDLError, match="unsupported PARTITION BY"):
        parse_table(
            "CREATE TABLE x (n INT64) PARTITION BY RANGE_BUCKET(n, GENERATE_ARRAY(0, 9, 1))"
        )


def test_every_file_of_sql_tables_translates_to_a_partitioned_table() -> None:
    for name, sql in table_ddl().items():
        table = parse_table(sql)
        assert table.name == name
        assert table.partition_field in {f["name"] for f in table.schema}
        assert json.loads(table.schema_json()) == table.schema
