"""The warehouse on one machine: a DuckDB file, queried with BigQuery SQL translated by sqlglot.

One connection per process (DuckDB allows one writing process per file); each call takes its own
cursor, so threads may call concurrently. Writes through insert_rows are serialised by a lock,
which is what keeps the de-duplication exact.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import duckdb
from sqlglot import exp

from functions.catalogue import RETIRED_TABLES, tables
from functions.local.translate import Statement, TranslationError, translate
from functions.warehouse import QueryResult, RefusedRow, WarehouseError
from functions.warehouse.rowjson import RowEncodingError, write_ndjson

# Rough bytes per value for the scanned-bytes estimate; BigQuery bills 8 for numbers and
# timestamps and 2 + length for strings, so 8 is a fair average for Beacon's short strings.
_BYTES_PER_VALUE = 8
_SEEN_PREFIX = "_seen_keys_"  # the row ids' keys (see _append_new)
_OLD_SEEN_PREFIX = "_seen_ids_"  # the row ids themselves, before: migrated on first use
_BATCH = "_beacon_batch"  # temporary, so private to the cursor's connection
_ROW_ID = "_beacon_row_id"
_ROW_KEY = "_beacon_row_key"
_MAX_ROW_BYTES = 64 << 20  # DuckDB's JSON reader refuses larger objects (default 16 MiB)
_STAGE_BUFFER = 1 << 20  # bytes of write buffer for the staged rows' file


def _seen_table(table: str) -> str:
    return f"{_SEEN_PREFIX}{table}"


def _check_identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise WarehouseError(f"not a table name: {name!r}")
    return name


def _params_for(statement: Statement, params: Mapping[str, Any]) -> dict[str, Any]:
    missing = statement.params - params.keys()
    if missing:
        raise WarehouseError(f"missing query parameters: {', '.join(sorted(missing))}")
    # DuckDB refuses parameters a statement does not use, and scripts share one mapping.
    return {name: _to_duckdb(params[name]) for name in statement.params}


def _to_duckdb(value: Any) -> Any:
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return value


def _unique(rows: Sequence[Mapping[str, Any]], row_ids: Sequence[str]) -> dict[str, int]:
    """First position of each id: the same event twice in one call is stored once."""
    first: dict[str, int] = {}
    for position, row_id in enumerate(row_ids):
        first.setdefault(row_id, position)
    return first


def _row_key_sql(expression: str) -> str:
    """The key a row id is remembered by: its MD5 as a 128-bit integer, computed by DuckDB."""
    return f"md5_number({expression})"


class StagedRows:
    """Rows of one insert, encoded as newline-delimited JSON in a temporary file.

    DuckDB's JSON reader then parses them in C++ with the table's own column types: far faster
    than binding Python values (about 15 us each), and JSON columns stay JSON. close() deletes
    the file; insert_staged always does.
    """

    def __init__(self, table: str, struct: str, keyed: bool, file: IO[bytes]) -> None:
        self.table = table
        self.struct = struct  # read_json's columns = {...}
        self.keyed = keyed  # rows carry _ROW_ID, to be de-duplicated
        self._file = file

    @property
    def path(self) -> str:
        return self._file.name

    def close(self) -> None:
        self._file.close()


def _stage(
    table: str,
    columns: Mapping[str, str],
    rows: Sequence[Mapping[str, Any]],
    row_ids: Sequence[str] | None,
) -> StagedRows:
    unknown = set().union(*rows) - columns.keys()  # set.union loops in C
    if unknown:
        raise WarehouseError(f"no such columns in {table}: {', '.join(sorted(unknown))}")
    json_columns = [name for name, kind in columns.items() if kind == "JSON"]
    spec = dict(columns) if row_ids is None else {**columns, _ROW_ID: "VARCHAR"}
    struct = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in spec.items()) + "}"
    # Not a with block: the StagedRows returned owns the file, and deletes it on close().
    out = tempfile.NamedTemporaryFile("wb", suffix=".ndjson", buffering=_STAGE_BUFFER)  # noqa: SIM115
    try:
        if row_ids is None:
            write_ndjson(out, rows, json_columns)
        else:
            write_ndjson(out, rows, json_columns, tag=_ROW_ID, tags=row_ids)
        out.flush()
    except BaseException:
        out.close()
        raise
    return StagedRows(table, struct, row_ids is not None, out)


class DuckDBWarehouse:
    def __init__(
        self, path: Path | str, *, read_only: bool = False, memory_limit: str | None = None
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = duckdb.connect(str(self.path), read_only=read_only)
            # TIMESTAMPTZ truncation and DATE casts follow the session zone; BigQuery's is UTC.
            self._conn.execute("SET GLOBAL TimeZone = 'UTC'")
            if memory_limit is not None:
                # Bounded, DuckDB spills to disk instead of growing (its default: 80 % of RAM).
                self._conn.execute("SET GLOBAL memory_limit = $limit", {"limit": memory_limit})
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open DuckDB file {self.path}: {exc}") from exc
        self._write_lock = threading.Lock()
        self._columns: dict[str, dict[str, str]] = {}
        self._seen_ready: set[str] = set()  # tables whose de-duplication table is set up

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = self._conn.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def ensure_tables(self) -> None:
        if self.read_only:
            return
        self.execute(";\n".join(entry.ddl for entry in tables().values()))
        self._add_new_columns()
        for retired in RETIRED_TABLES:
            self.execute(f"DROP TABLE IF EXISTS {retired}")
        self._columns.clear()

    def _add_new_columns(self) -> None:
        """Add the columns a table's DDL gained since this file was made (BigQuery allows the
        same additive change, which Pulumi applies in the cloud)."""
        with self._cursor() as cursor:
            existing: dict[str, set[str]] = {}
            for table, column in cursor.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema()"
            ).fetchall():
                existing.setdefault(table, set()).add(column)
            for entry in tables().values():
                for column in entry.columns:
                    if column.name not in existing.get(entry.name, {column.name}):
                        duck = exp.DataType.build(column.type, dialect="bigquery").sql("duckdb")
                        cursor.execute(
                            f'ALTER TABLE {entry.name} ADD COLUMN "{column.name}" {duck}'
                        )

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        statements = self._translate(sql)
        params = params or {}
        with self._cursor() as cursor:
            try:
                for statement in statements:
                    cursor.execute(statement.sql, _params_for(statement, params))
                columns = [d[0] for d in cursor.description or []]
                rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
                scanned = self._estimate_bytes(cursor, statements)
            except duckdb.Error as exc:
                raise WarehouseError(f"query failed: {exc}") from exc
        return QueryResult(rows=rows, bytes_billed=scanned, columns=columns)

    def estimate_bytes(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        statements = self._translate(sql)
        with self._cursor() as cursor:
            try:
                return self._estimate_bytes(cursor, statements)
            except duckdb.Error as exc:
                raise WarehouseError(f"estimate failed: {exc}") from exc

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement or script in one transaction: all of it happens, or none of it."""
        statements = self._translate(sql)
        params = params or {}
        changed = 0
        with self._cursor() as cursor:
            try:
                cursor.begin()
                for statement in statements:
                    cursor.execute(statement.sql, _params_for(statement, params))
                    if statement.changes_rows:
                        count = cursor.fetchone()
                        changed += int(count[0]) if count else 0
                cursor.commit()
            except (duckdb.Error, WarehouseError) as exc:
                self._rollback(cursor)
                raise WarehouseError(f"statement failed: {exc}") from exc
        return changed

    def insert_rows(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        row_ids: Sequence[str] | None = None,
    ) -> list[RefusedRow]:
        """All or nothing: DuckDB refuses a bad value by failing the load (WarehouseError)."""
        if not rows:
            return []
        self.insert_staged(self.stage_rows(table, rows, row_ids=row_ids))
        return []

    def stage_rows(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        row_ids: Sequence[str] | None = None,
    ) -> StagedRows:
        """The first half of insert_rows: rows checked and encoded, no lock, no transaction.

        This is the Python half (it holds the GIL); insert_staged is DuckDB's, which releases
        it, so a caller may stage one batch while another thread inserts the previous one.
        """
        table = _check_identifier(table)
        if row_ids is not None and len(row_ids) != len(rows):
            raise WarehouseError(f"{len(rows)} rows but {len(row_ids)} row ids")
        try:
            with self._cursor() as cursor:
                columns = self._table_columns(cursor, table)
            if row_ids is not None:
                first = _unique(rows, row_ids)
                if len(first) < len(rows):
                    rows = [rows[position] for position in first.values()]
                row_ids = list(first)
            return _stage(table, columns, rows, row_ids)
        except (duckdb.Error, RowEncodingError, WarehouseError, OSError) as exc:
            raise WarehouseError(f"insert into {table} failed: {exc}") from exc

    def insert_staged(self, staged: StagedRows) -> None:
        """Insert staged rows in one transaction (skipping seen ids, given ids), then drop them."""
        table = staged.table
        try:
            with self._write_lock, self._cursor() as cursor:
                try:
                    cursor.begin()
                    self._load_batch(cursor, staged)
                    if staged.keyed:
                        self._append_new(cursor, table)
                    else:
                        self._append(cursor, table)
                    cursor.commit()
                    if staged.keyed:
                        self._seen_ready.add(table)
                except (duckdb.Error, WarehouseError, OSError) as exc:
                    self._rollback(cursor)
                    raise WarehouseError(f"insert into {table} failed: {exc}") from exc
        finally:
            staged.close()

    def close(self) -> None:
        """Checkpoint, so that another process can open the file (read-only) right after."""
        try:
            if not self.read_only:
                self._conn.execute("CHECKPOINT")
        finally:
            self._conn.close()

    # -- internals ------------------------------------------------------------------------------

    @staticmethod
    def _translate(sql: str) -> tuple[Statement, ...]:
        try:
            statements = translate(sql)
        except TranslationError as exc:
            raise WarehouseError(str(exc)) from exc
        if not statements:
            raise WarehouseError("no SQL statement to run")
        return statements

    @staticmethod
    def _rollback(cursor: duckdb.DuckDBPyConnection) -> None:
        # Suppressed: no transaction may be open (the failure came before BEGIN took effect).
        with contextlib.suppress(duckdb.Error):
            cursor.rollback()

    def _append_new(self, cursor: duckdb.DuckDBPyConnection, table: str) -> None:
        # De-duplication keeps a key of every id ever inserted in a side table, rather than
        # searching the target table: exact whatever the event's timestamp (a resent event's
        # corrected time can differ from the first copy's). The key is the id's MD5 as a
        # 128-bit integer: a fixed 16 bytes that DuckDB joins several times faster than
        # 36-character ids (a collision needs about 2^64 ids). Every call does one hash
        # anti-join of the staged rows against that narrow column, inside the INSERT's
        # transaction and under the write lock; about 4 ms at a million ids for a small batch,
        # a few tenths of a microsecond per row for a large one, and no index to maintain (a
        # primary key's ART index cost more per insert and at every checkpoint than the join).
        # Ids outlive retention deletes on purpose: a late redelivery must not resurrect a
        # deleted event.
        # The staged rows hold each id once already (stage_rows).
        seen = self._ensure_seen(cursor, table)
        cursor.execute(f"DELETE FROM {_BATCH} WHERE {_ROW_KEY} IN (SELECT row_key FROM {seen})")
        names = ", ".join(f'"{name}"' for name in self._table_columns(cursor, table))
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {_BATCH}")
        cursor.execute(f"INSERT INTO {seen} SELECT {_ROW_KEY} FROM {_BATCH}")
        cursor.execute(f"DROP TABLE {_BATCH}")

    def _ensure_seen(self, cursor: duckdb.DuckDBPyConnection, table: str) -> str:
        """The de-duplication table of TABLE, created (or migrated from plain ids) if need be.

        insert_rows marks TABLE ready once its transaction commits: a rollback also undoes the
        CREATE, so the next call must run this again.
        """
        seen = _seen_table(table)
        if table in self._seen_ready:
            return seen
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {seen} (row_key UHUGEINT NOT NULL)")
        old = f"{_OLD_SEEN_PREFIX}{table}"
        found = cursor.execute(
            "SELECT COUNT(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = $old",
            {"old": old},
        ).fetchone()
        if found and found[0]:
            # Files written before the keys: remember their ids as keys, in this transaction.
            cursor.execute(f"INSERT INTO {seen} SELECT {_row_key_sql('row_id')} FROM {old}")
            cursor.execute(f"DROP TABLE {old}")
        return seen

    def _append(self, cursor: duckdb.DuckDBPyConnection, table: str) -> None:
        names = ", ".join(f'"{name}"' for name in self._table_columns(cursor, table))
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {_BATCH}")
        cursor.execute(f"DROP TABLE {_BATCH}")

    @staticmethod
    def _load_batch(cursor: duckdb.DuckDBPyConnection, staged: StagedRows) -> None:
        """Read the staged rows into a temporary table shaped like theirs (plus id and key)."""
        key = f", {_row_key_sql(_ROW_ID)} AS {_ROW_KEY}" if staged.keyed else ""
        cursor.execute(
            f"CREATE OR REPLACE TEMP TABLE {_BATCH} AS SELECT *{key} FROM read_json($path, "
            f"columns = {staged.struct}, format = 'newline_delimited', "
            f"maximum_object_size = {_MAX_ROW_BYTES})",
            {"path": staged.path},
        )

    def _table_columns(self, cursor: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
        if table not in self._columns:
            described = cursor.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = $table ORDER BY ordinal_position",
                {"table": table},
            ).fetchall()
            if not described:
                raise WarehouseError(f"no table named {table}")
            self._columns[table] = {str(name): str(kind) for name, kind in described}
        return self._columns[table]

    @staticmethod
    def _estimate_bytes(cursor: duckdb.DuckDBPyConnection, statements: Sequence[Statement]) -> int:
        """An estimate of the bytes a query read: rows x columns x 8 of every table it names.

        DuckDB reports no bytes scanned; this stands in for BigQuery's total_bytes_billed so
        cost guards and budget alerts behave alike, growing with the tables as BigQuery's would.
        """
        tables = sorted({name for statement in statements for name in statement.tables})
        if not tables:
            return 0
        sizes = cursor.execute(
            "SELECT coalesce(sum(estimated_size * column_count), 0) FROM duckdb_tables() "
            "WHERE schema_name = 'main' AND table_name = ANY($tables)",
            {"tables": tables},
        ).fetchone()
        return int(sizes[0]) * _BYTES_PER_VALUE if sizes else 0
