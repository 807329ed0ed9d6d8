"""Rows into BigQuery through the Storage Write API's default stream.

Why not insertAll: BigQuery refuses UPDATE, DELETE and MERGE on rows insertAll wrote in the last
30-90 minutes (its streaming buffer), so erasing a user active in the last hour would fail; rows
appended through the Storage Write API can be changed by DML at once. It also costs half as much
($0.025/GiB, the first 2 TiB a month free, against $0.05/GB).

The default stream commits each append at once and is at least once: a redelivered batch is
appended again, and every read de-duplicates on event_id (sql/shared/first_copy.sql). Rows go as
protobuf built from the catalogue's columns (`row_descriptor`); the encoding is pure and apart
from the gRPC call (`StorageWriter`).

BigQuery refuses an append whole when any row breaks its column (`row_errors`): those rows are
taken out and returned to the caller, the rest appended again, so one bad value never holds up
its batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from functions.catalogue import Table
from functions.warehouse import RefusedRow, WarehouseError
from functions.warehouse.rowjson import RowEncodingError, json_column_text

MAX_REQUEST_BYTES = 9 * 1024 * 1024  # AppendRows takes at most 10 MB a request
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_Field = descriptor_pb2.FieldDescriptorProto
_PROTO_TYPES = {
    "STRING": _Field.TYPE_STRING,
    "JSON": _Field.TYPE_STRING,  # JSON text, as BigQuery's Storage Write API wants it
    "INT64": _Field.TYPE_INT64,
    "FLOAT64": _Field.TYPE_DOUBLE,
    "BOOL": _Field.TYPE_BOOL,
    "TIMESTAMP": _Field.TYPE_INT64,  # microseconds since the epoch
    "DATE": _Field.TYPE_INT32,  # days since the epoch
}


@dataclass(frozen=True)
class RowSchema:
    """A table's rows as protobuf: the descriptor sent with each append and its message class."""

    descriptor: descriptor_pb2.DescriptorProto
    message: type[Message]
    columns: tuple[tuple[str, str], ...]  # (name, BigQuery type)


def row_schema(table: Table) -> RowSchema:
    """The proto2 message of one row of TABLE: every column optional (absent is NULL), an
    ARRAY<T> column repeated."""
    descriptor = descriptor_pb2.DescriptorProto(name=f"{table.name}_row")
    columns = []
    for number, column in enumerate(table.columns, start=1):
        repeated = column.type.startswith("ARRAY<")
        scalar = column.type.removeprefix("ARRAY<").removesuffix(">") if repeated else column.type
        if scalar not in _PROTO_TYPES:
            raise WarehouseError(f"{table.name}.{column.name}: no Storage Write type for {scalar}")
        descriptor.field.add(
            name=column.name,
            number=number,
            type=_PROTO_TYPES[scalar],
            label=_Field.LABEL_REPEATED if repeated else _Field.LABEL_OPTIONAL,
        )
        columns.append((column.name, scalar))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(
        descriptor_pb2.FileDescriptorProto(
            name=f"beacon_{table.name}.proto", syntax="proto2", message_type=[descriptor]
        )
    )
    message = message_factory.GetMessageClass(pool.FindMessageTypeByName(descriptor.name))
    return RowSchema(descriptor, message, tuple(columns))


def _micros(value: Any) -> int:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise RowEncodingError(f"a TIMESTAMP needs a datetime, got {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive is UTC, as BigQuery reads it
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _days(value: Any) -> int:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date() if value.tzinfo else value.date()
    if not isinstance(value, date):
        raise RowEncodingError(f"a DATE needs a date, got {type(value).__name__}")
    return value.toordinal() - _EPOCH_DAY


def _value(kind: str, value: Any) -> Any:
    if kind == "TIMESTAMP":
        return _micros(value)
    if kind == "DATE":
        return _days(value)
    if kind == "JSON":
        return json_column_text(value)
    if kind == "FLOAT64" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def encode_row(schema: RowSchema, row: Mapping[str, Any]) -> bytes:
    """One row as serialized protobuf; raises RowEncodingError for a value its column cannot
    hold (a wrong type, an integer out of range)."""
    message = schema.message()
    try:
        for name, kind in schema.columns:
            value = row.get(name)
            if value is None:
                continue
            if isinstance(value, list | tuple) and kind != "JSON":
                getattr(message, name).extend(_value(kind, item) for item in value)
            else:
                setattr(message, name, _value(kind, value))
    except (TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, RowEncodingError):
            raise
        raise RowEncodingError(f"{name}: {exc}") from None
    unknown = set(row) - {name for name, _ in schema.columns}
    if unknown:
        raise RowEncodingError(f"no such column: {', '.join(sorted(unknown))}")
    data: bytes = message.SerializeToString()
    return data


def requests_of(rows: Sequence[tuple[int, bytes]]) -> Iterator[list[tuple[int, bytes]]]:
    """Split (index, serialized row) pairs into appends of at most MAX_REQUEST_BYTES."""
    batch: list[tuple[int, bytes]] = []
    size = 0
    for item in rows:
        row_size = len(item[1]) + 8  # with the field tag and length of each row
        if batch and size + row_size > MAX_REQUEST_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += row_size
    if batch:
        yield batch


class StorageWriter:
    """Appends to tables' default streams over one gRPC client, made on first use."""

    def __init__(self, project: str, dataset: str, *, endpoint: str = "", timeout: float = 60.0):
        self.project = project
        self.dataset = dataset
        self.endpoint = endpoint  # host:port of an emulator's gRPC server; "" for BigQuery
        self.timeout = timeout
        self._client: Any = None
        self._schemas: dict[str, RowSchema] = {}

    def client(self) -> Any:
        if self._client is None:
            from google.cloud import bigquery_storage_v1
            from google.cloud.bigquery_storage_v1.services.big_query_write.transports import (
                BigQueryWriteGrpcTransport,
            )

            if self.endpoint:
                import grpc

                # An emulator: plain text on loopback and no credentials to look for.
                transport = BigQueryWriteGrpcTransport(channel=grpc.insecure_channel(self.endpoint))
                self._client = bigquery_storage_v1.BigQueryWriteClient(  # type: ignore[no-untyped-call]
                    transport=transport
                )
            else:
                self._client = bigquery_storage_v1.BigQueryWriteClient()  # type: ignore[no-untyped-call]
        return self._client

    def append(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> list[RefusedRow]:
        """Append ROWS to TABLE; return the rows BigQuery refused (the rest are written).

        Raises WarehouseError when an append fails as a whole (then the caller redelivers).
        """
        schema = self._schemas.get(table.name) or self._schemas.setdefault(
            table.name, row_schema(table)
        )
        refused: list[RefusedRow] = []
        encoded: list[tuple[int, bytes]] = []
        for index, row in enumerate(rows):
            try:
                encoded.append((index, encode_row(schema, row)))
            except RowEncodingError as exc:
                refused.append(RefusedRow(index, str(exc)))
        stream = (
            f"projects/{self.project}/datasets/{self.dataset}/tables/{table.name}/streams/_default"
        )
        for batch in requests_of(encoded):
            while batch:
                errors = self._append_once(stream, schema, [data for _, data in batch])
                if not errors:
                    break
                # The append was refused whole: take out the rows named and send the rest.
                if not any(0 <= i < len(batch) for i in errors):
                    raise WarehouseError(f"append to {stream}: row errors name no row of it")
                refused += [RefusedRow(batch[i][0], message) for i, message in errors.items()]
                batch = [item for i, item in enumerate(batch) if i not in errors]
        return sorted(refused, key=lambda r: r.index)

    def _append_once(self, stream: str, schema: RowSchema, rows: list[bytes]) -> dict[int, str]:
        """One AppendRows request; {index: message} of the rows it refused, {} when written."""
        from google.api_core import exceptions as google_exceptions
        from google.cloud.bigquery_storage_v1 import types

        request = types.AppendRowsRequest(
            write_stream=stream,
            proto_rows=types.AppendRowsRequest.ProtoData(
                writer_schema=types.ProtoSchema(proto_descriptor=schema.descriptor),
                rows=types.ProtoRows(serialized_rows=rows),
            ),
        )
        try:
            # No client-side retry: a retried stream would resend an exhausted iterator, and the
            # GAPIC default waits up to a day. A failure raises; Pub/Sub redelivers the batch.
            responses = self.client().append_rows(
                iter([request]),
                retry=None,
                timeout=self.timeout,
                metadata=(("x-goog-request-params", f"write_stream={stream}"),),
            )
            response = next(iter(responses))
        except (google_exceptions.GoogleAPIError, StopIteration) as exc:
            raise WarehouseError(f"append to {stream} failed: {exc}") from exc
        if response.row_errors:
            return {
                int(e.index): f"{e.message} (row error {int(e.code)})" for e in response.row_errors
            }
        if response.error.code:
            raise WarehouseError(
                f"append to {stream} failed: code {response.error.code}: {response.error.message}"
            )
        return {}

    def close(self) -> None:
        if self._client is not None:
            self._client.transport.close()
