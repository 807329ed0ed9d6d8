"""The warehouse port: BigQuery in the cloud, DuckDB on one machine.

Every statement is BigQuery SQL read from `sql/` (see `functions.sqlfiles`); the DuckDB adapter
translates it with sqlglot. Tables are named without a dataset: the BigQuery adapter sets the
default dataset on every job, DuckDB keeps them in its main schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class WarehouseError(RuntimeError):
    """The warehouse refused or failed a statement or an insert; the caller retries or parks."""


@dataclass(frozen=True)
class RefusedRow:
    """A row the warehouse would not take (a value its column cannot hold); none of it was
    written, and the other rows of the call were."""

    index: int  # position in the rows given
    message: str


@dataclass(frozen=True)
class QueryResult:
    rows: list[dict[str, Any]]
    bytes_billed: int = 0  # BigQuery's total_bytes_billed; locally the bytes of the tables read
    columns: list[str] = field(default_factory=list)


class Warehouse(Protocol):
    def ensure_tables(self) -> None:
        """Create every table of the catalogue (sql/<table>/) that does not exist yet."""

    def insert_rows(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        row_ids: Sequence[str] | None = None,
    ) -> list[RefusedRow]:
        """Append rows; return those refused one by one, in order (the rest are written).

        With row_ids, a warehouse that can skips a row whose id it has (DuckDB does; BigQuery's
        Storage Write API does not, and every read de-duplicates on event_id). Raises
        WarehouseError when the rows could not be written at all (the caller redelivers).
        """

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run one BigQuery-dialect statement with @named parameters and return its rows."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a BigQuery-dialect statement or script; return the rows it changed when known."""

    def estimate_bytes(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """The bytes a query would read, without running it (BigQuery: a dry run; DuckDB: the
        same table-size estimate its query() reports as bytes_billed)."""

    def close(self) -> None: ...


def insert_all(
    warehouse: Warehouse,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    row_ids: Sequence[str] | None = None,
) -> None:
    """insert_rows for rows Beacon built itself: a refused one is a bug, so it raises."""
    refused = warehouse.insert_rows(table, rows, row_ids=row_ids)
    if refused:
        first = refused[0]
        raise WarehouseError(
            f"insert into {table}: {len(refused)} rows refused, first (row {first.index}): "
            f"{first.message}"
        )
