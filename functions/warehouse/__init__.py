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
class QueryResult:
    rows: list[dict[str, Any]]
    bytes_billed: int = 0  # BigQuery's total_bytes_billed; locally the bytes of the tables read
    columns: list[str] = field(default_factory=list)


class Warehouse(Protocol):
    def ensure_tables(self) -> None:
        """Create every table of sql/tables/ that does not exist yet."""

    def insert_rows(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        row_ids: Sequence[str] | None = None,
    ) -> None:
        """Append rows; with row_ids, a row whose id was inserted before is skipped.

        Raises WarehouseError when any row could not be written (the caller redelivers).
        """

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run one BigQuery-dialect statement with @named parameters and return its rows."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a BigQuery-dialect statement or script; return the rows it changed when known."""

    def close(self) -> None: ...
