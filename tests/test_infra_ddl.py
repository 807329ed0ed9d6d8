"""The catalogue -> BigQuery table translation that keeps sql/<table>/ the one definition of
tables, and the rules the catalogue itself enforces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from functions.catalogue import CatalogueError, Table, read_catalogue, tables
from infra.ddl import table_spec

THINGS = """
CREATE TABLE IF NOT EXISTS things (
  id STRING NOT NULL,           -- the key
  n INT64,
  x FLOAT64 NOT NULL,
  ok BOOL,
  at TIMESTAMP NOT NULL,
  d DATE,
  props JSON,
  price NUMERIC(10, 2),
  tags ARRAY<STRING>,
  item STRUCT<sku STRING NOT NULL, qty INT64>
);
"""

METADATA = """
description: Things that happened.
kind: raw
retention: raw
depends_on: []
user_keys: [id]
partitioning: {column: at, unit: DAY, require_filter: true}
clustering: [id, n]
"""


def catalogue_of(root: Path, ddl: str = THINGS, metadata: str = METADATA) -> dict[str, Table]:
    folder = root / "things"
    folder.mkdir(exist_ok=True)
    (folder / "table.sql").write_text(ddl)
    (folder / "metadata.yaml").write_text(metadata)
    return read_catalogue(root)


def test_columns_become_bigquery_schema_fields_with_types_and_modes(tmp_path: Path) -> None:
    fields = {f["name"]: f for f in table_spec(catalogue_of(tmp_path)["things"]).schema}
    assert [(f["type"], f["mode"]) for f in fields.values()] == [
        ("STRING", "REQUIRED"),
        ("INTEGER", "NULLABLE"),
        ("FLOAT", "REQUIRED"),
        ("BOOLEAN", "NULLABLE"),
        ("TIMESTAMP", "REQUIRED"),
        ("DATE", "NULLABLE"),
        ("JSON", "NULLABLE"),
        ("NUMERIC", "NULLABLE"),
        ("STRING", "REPEATED"),
        ("RECORD", "NULLABLE"),
    ]
    assert fields["item"]["fields"] == [
        {"name": "sku", "type": "STRING", "mode": "REQUIRED"},
        {"name": "qty", "type": "INTEGER", "mode": "NULLABLE"},
    ]


def test_trailing_sql_comments_and_the_metadata_become_descriptions(tmp_path: Path) -> None:
    spec = table_spec(catalogue_of(tmp_path)["things"])
    assert spec.schema[0]["description"] == "the key"
    assert "description" not in spec.schema[1]
    assert spec.description == "Things that happened."


def test_partitioning_clustering_and_partition_filter_come_from_the_metadata(
    tmp_path: Path,
) -> None:
    spec = table_spec(catalogue_of(tmp_path)["things"])
    assert (spec.partition_field, spec.partition_type) == ("at", "DAY")
    assert spec.clusterings == ("id", "n")
    assert spec.require_partition_filter is True


@pytest.mark.parametrize(
    ("column", "unit", "partition_by"),
    [
        ("d", "DAY", "`d`"),
        ("at", "DAY", "DATE(`at`)"),
        ("at", "HOUR", "TIMESTAMP_TRUNC(`at`, HOUR)"),
        ("d", "MONTH", "DATE_TRUNC(`d`, MONTH)"),
    ],
)
def test_time_partitioning_forms(tmp_path: Path, column: str, unit: str, partition_by: str) -> None:
    metadata = METADATA.replace("column: at, unit: DAY", f"column: {column}, unit: {unit}")
    entry = catalogue_of(tmp_path, metadata=metadata)["things"]
    assert entry.partition_by == partition_by
    parsed = sqlglot.parse_one(entry.bigquery_ddl(), read="bigquery")
    assert parsed.find(exp.PartitionedByProperty) is not None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("column: at", "column: nope"), "partitioning column names no column"),
        (("column: at", "column: n"), "must be a DATE or TIMESTAMP"),
        (("user_keys: [id]", "user_keys: [who]"), "user_keys names no column"),
        (("kind: raw", "kind: cache"), "kind must be one of"),
        (("retention: raw", "retention: forever"), "retention must be one of"),
        (("depends_on: []", "depends_on: [ghosts]"), "depends_on names no table"),
        (("clustering: [id, n]", "clusters: [id]"), "unknown"),
    ],
)
def test_the_catalogue_refuses_a_folder_that_breaks_its_rules(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(CatalogueError, match=message):
        catalogue_of(tmp_path, metadata=METADATA.replace(*change))


def test_partitioning_in_table_sql_is_refused_it_belongs_in_the_metadata(tmp_path: Path) -> None:
    ddl = THINGS.rstrip().rstrip(";") + " PARTITION BY DATE(at);"
    with pytest.raises(CatalogueError, match=r"belong in metadata\.yaml"):
        catalogue_of(tmp_path, ddl=ddl)


def test_every_table_of_the_catalogue_translates_to_a_partitioned_table() -> None:
    for name, entry in tables().items():
        spec = table_spec(entry)
        assert spec.name == name
        assert spec.partition_field in {f["name"] for f in spec.schema}
        assert json.loads(spec.schema_json()) == spec.schema
        assert sqlglot.parse_one(entry.bigquery_ddl(), read="bigquery") is not None
