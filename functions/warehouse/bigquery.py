"""The warehouse in the cloud: BigQuery, through the official client.

Every job runs in the configured dataset (so SQL names tables bare), with typed query parameters
and a maximum_bytes_billed guard. Rows are appended through the Storage Write API
(`storage_write`), which leaves them open to DML at once; queries de-duplicate on event_id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import sqlglot
from google.api_core import exceptions as google_exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from sqlglot import exp
from sqlglot.errors import ParseError

from functions.catalogue import tables
from functions.settings import Settings, SettingsError
from functions.warehouse import QueryResult, RefusedRow, WarehouseError
from functions.warehouse.storage_write import StorageWriter

_DML = (exp.Insert, exp.Update, exp.Delete, exp.Merge)


def _scalar_type(value: Any) -> str:
    # Order matters: bool is an int, datetime is a date.
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, Decimal):
        return "NUMERIC"
    if isinstance(value, datetime):
        return "TIMESTAMP"
    if isinstance(value, date):
        return "DATE"
    if isinstance(value, str) or value is None:
        return "STRING"
    raise WarehouseError(f"no BigQuery type for a parameter of type {type(value).__name__}")


def _utc(value: Any) -> Any:
    # A naive datetime is UTC, as in BigQuery itself and the DuckDB adapter.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def query_parameter(
    name: str, value: Any
) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    """A typed BigQuery parameter for a Python value; a list becomes an ARRAY of its items' type."""
    if isinstance(value, list | tuple | set | frozenset):
        items = [_utc(item) for item in value]
        kinds = {_scalar_type(item) for item in items if item is not None}
        if len(kinds) > 1:
            raise WarehouseError(f"parameter {name} mixes types: {', '.join(sorted(kinds))}")
        return bigquery.ArrayQueryParameter(name, kinds.pop() if kinds else "STRING", items)
    return bigquery.ScalarQueryParameter(name, _scalar_type(value), _utc(value))


@lru_cache(maxsize=256)
def as_transaction(sql: str) -> str:
    """A script of several DML statements wrapped in one BigQuery transaction.

    The DuckDB adapter runs every script atomically; this gives BigQuery the same meaning, so a
    rollup's "DELETE the days; INSERT the days" never leaves the days empty if the INSERT fails.
    Scripts with DDL or their own transaction control are left as written.
    """
    try:
        statements = [tree for tree in sqlglot.parse(sql, read="bigquery") if tree is not None]
    except ParseError:
        return sql  # BigQuery will say what is wrong with it
    if len(statements) < 2 or not all(isinstance(tree, _DML) for tree in statements):
        return sql
    return f"BEGIN TRANSACTION;\n{sql.strip().rstrip(';')};\nCOMMIT TRANSACTION;"


class BigQueryWarehouse:
    def __init__(
        self,
        client: bigquery.Client,
        dataset: str,
        *,
        location: str,
        max_bytes_billed: int,
        timeout: float = 60.0,
        write_endpoint: str = "",
    ) -> None:
        # timeout bounds the client's retries of a request (its default is 10 minutes): a load
        # call should rather fail and let Pub/Sub redeliver than hold its instance that long.
        self.timeout = timeout
        self.retry = bigquery.DEFAULT_RETRY.with_timeout(timeout)
        self.client = client
        self.location = location
        self.max_bytes_billed = max_bytes_billed
        self.dataset = bigquery.DatasetReference(client.project, dataset)
        self.writer = StorageWriter(
            client.project, dataset, endpoint=write_endpoint, timeout=timeout
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> BigQueryWarehouse:
        if settings.bigquery_endpoint:
            if not settings.gcp_project:
                raise SettingsError("BEACON_BIGQUERY_ENDPOINT needs BEACON_GCP_PROJECT too")
            # An emulator: it checks no credentials, and looking for Google ones would fail or,
            # worse, find a developer's real ones.
            client = bigquery.Client(
                project=settings.gcp_project,
                location=settings.bigquery_location,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options=ClientOptions(api_endpoint=settings.bigquery_endpoint),
            )
        else:
            client = bigquery.Client(
                project=settings.gcp_project or None, location=settings.bigquery_location
            )
        return cls(
            client,
            settings.dataset,
            location=settings.bigquery_location,
            max_bytes_billed=settings.max_bytes_billed,
            write_endpoint=settings.bigquery_write_endpoint,
        )

    def ensure_tables(self) -> None:
        """Create the dataset and the catalogue's tables that are missing; leave the rest alone.

        In the cloud, Pulumi creates the dataset and every table, and most functions may only
        read them: a CREATE job, even `IF NOT EXISTS`, needs the right to create and would fail
        their start-up with 403. So the tables are listed first (one call, which readers may
        make) and a DDL job runs only for a table that is absent.
        """
        existing = self._existing_tables()
        if existing is None:
            self._create_dataset()
            existing = frozenset()
        for name, entry in tables().items():
            if name in existing:
                continue
            try:
                self._run(entry.bigquery_ddl(), None)
            except WarehouseError as exc:
                raise WarehouseError(f"cannot create table {name}: {exc}") from exc

    def _existing_tables(self) -> frozenset[str] | None:
        """Names of the dataset's tables, or None when the dataset does not exist."""
        try:
            # One page holds every Beacon table, so this is one request.
            listing = self.client.list_tables(
                self.dataset, page_size=1000, retry=self.retry, timeout=self.timeout
            )
            names = frozenset(table.table_id for table in listing)
            # An empty listing is also what some emulators answer for a missing dataset
            # (BigQuery answers 404); only then is a second call needed to tell which.
            if not names:
                self.client.get_dataset(self.dataset, retry=self.retry, timeout=self.timeout)
        except google_exceptions.NotFound:
            return None
        except google_exceptions.GoogleAPIError as exc:
            raise WarehouseError(
                f"cannot list the tables of dataset {self.dataset.dataset_id}: {exc}"
            ) from exc
        return names

    def _create_dataset(self) -> None:
        dataset = bigquery.Dataset(self.dataset)
        dataset.location = self.location
        try:
            # exists_ok: another instance starting at the same moment may have just made it.
            self.client.create_dataset(
                dataset, exists_ok=True, retry=self.retry, timeout=self.timeout
            )
        except google_exceptions.GoogleAPIError as exc:
            raise WarehouseError(f"cannot create dataset {self.dataset.dataset_id}: {exc}") from exc

    def insert_rows(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        row_ids: Sequence[str] | None = None,
    ) -> list[RefusedRow]:
        """Append through the Storage Write API (see storage_write). Of rows sharing an id in
        one call the first is written; across calls the default stream keeps no ids, and every
        read de-duplicates on event_id."""
        if not rows:
            return []
        if row_ids is not None and len(row_ids) != len(rows):
            raise WarehouseError(f"{len(rows)} rows but {len(row_ids)} row ids")
        if table not in tables():
            raise WarehouseError(f"insert into {table}: not a table of the catalogue")
        if row_ids is None:
            return self.writer.append(tables()[table], rows)
        # A repeated id within the call (a client retrying inside one batch) is written once.
        first = {row_id: position for position, row_id in reversed(list(enumerate(row_ids)))}
        positions = sorted(first.values())
        refused = self.writer.append(tables()[table], [rows[p] for p in positions])
        return [RefusedRow(positions[r.index], r.message) for r in refused]

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        job, result = self._run(sql, params)
        columns = [field.name for field in result.schema or []]
        rows = [dict(row.items()) for row in result]
        return QueryResult(
            rows=rows, bytes_billed=int(job.total_bytes_billed or 0), columns=columns
        )

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement or script; a multi-statement DML script runs as one transaction."""
        job, _ = self._run(as_transaction(sql), params)
        return int(job.num_dml_affected_rows or 0)

    def estimate_bytes(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        config = bigquery.QueryJobConfig(
            default_dataset=self.dataset,
            query_parameters=[query_parameter(k, v) for k, v in (params or {}).items()],
            dry_run=True,
            use_query_cache=False,
        )
        try:
            job = self.client.query(sql, job_config=config, location=self.location)
        except (google_exceptions.GoogleAPIError, TimeoutError) as exc:
            raise WarehouseError(f"BigQuery dry run failed: {exc}") from exc
        return int(job.total_bytes_processed or 0)

    def close(self) -> None:
        self.writer.close()
        self.client.close()  # type: ignore[no-untyped-call]

    def _run(self, sql: str, params: Mapping[str, Any] | None) -> tuple[bigquery.QueryJob, Any]:
        config = bigquery.QueryJobConfig(
            default_dataset=self.dataset,
            query_parameters=[query_parameter(k, v) for k, v in (params or {}).items()],
            maximum_bytes_billed=self.max_bytes_billed,
        )
        try:
            job = self.client.query(
                sql, job_config=config, location=self.location, retry=self.retry
            )
            return job, job.result(retry=self.retry, timeout=self.timeout)
        except (google_exceptions.GoogleAPIError, TimeoutError) as exc:
            raise WarehouseError(f"BigQuery job failed: {exc}") from exc
