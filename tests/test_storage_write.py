"""The Storage Write API path at the wire level: the protobuf rows built from the catalogue, and a
loopback gRPC BigQueryWrite server for what the emulator does not do (row errors, a refused
append). The emulator runs the same path end to end in test_cloud_e2e.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, date, datetime
from typing import Any

import grpc
import pytest
from google.cloud.bigquery_storage_v1 import types
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor_pb2 import FileDescriptorProto

from functions.catalogue import table
from functions.load.core import REFUSED, PreparedLoad
from functions.warehouse import RefusedRow, WarehouseError
from functions.warehouse.bigquery import BigQueryWarehouse
from functions.warehouse.storage_write import encode_row, requests_of, row_schema
from tests.support.bqemulator import client_for
from tests.support.rows import event_row

NOON = datetime(2026, 3, 10, 12, 0, 0, 250_000, tzinfo=UTC)


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    base = event_row(NOON, "payment", event_id=event_id, source="web", user_id="u1")
    extra = {"properties": {"provider_id": "p7", "amount": 12}, "revenue": 12, "success": True}
    return {**base, **extra, **fields}


def decoded(descriptor: Any, data: bytes) -> Any:
    """A row as the server reads it: through the descriptor the append carried."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(FileDescriptorProto(name="sent.proto", syntax="proto2", message_type=[descriptor]))
    message = message_factory.GetMessageClass(pool.FindMessageTypeByName(descriptor.name))()
    message.ParseFromString(data)
    return message


# -- pure: rows as protobuf -------------------------------------------------------------------


def test_rows_follow_the_catalogue_columns_in_storage_write_encodings() -> None:
    schema = row_schema(table("events"))
    message = decoded(schema.descriptor, encode_row(schema, event("e1")))
    assert message.event_id == "e1"
    assert message.timestamp == int(NOON.timestamp()) * 1_000_000 + 250_000  # microseconds
    assert json.loads(message.properties) == {"provider_id": "p7", "amount": 12}  # JSON text
    assert message.revenue == 12.0 and message.success is True
    assert not message.HasField("currency")  # absent is NULL
    assert [f.name for f in schema.descriptor.field] == [c.name for c in table("events").columns]


def test_arrays_dates_and_naive_times() -> None:
    bad = row_schema(table("bad_events"))
    row = {"received_at": datetime(2026, 3, 10), "request_id": "r", "reason": "x"}
    message = decoded(bad.descriptor, encode_row(bad, {**row, "user_keys": ["u1", "a9"]}))
    assert list(message.user_keys) == ["u1", "a9"]
    assert message.received_at == int(datetime(2026, 3, 10, tzinfo=UTC).timestamp()) * 10**6
    dated = row_schema(table("daily_kpis"))
    day = decoded(dated.descriptor, encode_row(dated, {"date": date(1970, 1, 11), "events": 3}))
    assert day.date == 10  # days since the epoch


@pytest.mark.parametrize(
    ("name", "row", "message"),
    [
        ("events", event("e1", revenue="lots"), "revenue"),
        ("events", event("e1", timestamp=17), "TIMESTAMP needs a datetime"),
        ("events", event("e1", colour="red"), "no such column: colour"),
        ("bad_events", {"event_index": 2**70}, "event_index"),
    ],
)
def test_a_value_no_column_can_hold_is_an_encoding_error(
    name: str, row: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode_row(row_schema(table(name)), row)


def test_appends_stay_under_the_request_limit() -> None:
    rows = [(index, b"x" * (1024 * 1024)) for index in range(20)]
    batches = list(requests_of(rows))
    assert len(batches) == 3
    assert [i for batch in batches for i, _ in batch] == list(range(20))
    assert all(sum(len(data) + 8 for _, data in batch) <= 9 * 1024 * 1024 for batch in batches)


# -- wire level: a loopback BigQueryWrite server ----------------------------------------------


class WriteServer:
    """Answers AppendRows as BigQuery does: refuses an append whole, naming its bad rows, when an
    events row's event_id starts with "bad"; `fail` answers every append with an error status."""

    def __init__(self) -> None:
        self.appends: list[tuple[str, list[Any], list[tuple[str, str]]]] = []
        self.fail: str | None = None

    def append_rows(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Any:
        metadata = [(item.key, item.value) for item in context.invocation_metadata()]
        for raw in requests:
            request = types.AppendRowsRequest.deserialize(raw)
            descriptor = request.proto_rows.writer_schema.proto_descriptor
            rows = [decoded(descriptor, data) for data in request.proto_rows.rows.serialized_rows]
            self.appends.append((request.write_stream, rows, metadata))
            if self.fail:
                answer = types.AppendRowsResponse(error={"code": 14, "message": self.fail})
            else:
                errors = [
                    types.RowError(index=i, code=1, message="cannot convert value")
                    for i, row in enumerate(rows)
                    if row.DESCRIPTOR.name == "events_row" and row.event_id.startswith("bad")
                ]
                answer = (
                    types.AppendRowsResponse(row_errors=errors, error={"code": 3})
                    if errors
                    else types.AppendRowsResponse(append_result={})
                )
            yield types.AppendRowsResponse.serialize(answer)


@pytest.fixture
def write_server() -> Iterator[tuple[WriteServer, str]]:
    fake = WriteServer()
    handler = grpc.method_handlers_generic_handler(
        "google.cloud.bigquery.storage.v1.BigQueryWrite",
        {"AppendRows": grpc.stream_stream_rpc_method_handler(fake.append_rows)},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield fake, f"127.0.0.1:{port}"
    server.stop(grace=None)


def warehouse_on(endpoint: str) -> BigQueryWarehouse:
    # The REST endpoint is never reached: inserts go over gRPC only.
    return BigQueryWarehouse(
        client_for("http://127.0.0.1:9"),
        "beacon",
        location="US",
        max_bytes_billed=10**9,
        write_endpoint=endpoint,
    )


def test_rows_go_to_the_tables_default_stream_with_its_routing_header(
    write_server: tuple[WriteServer, str],
) -> None:
    fake, endpoint = write_server
    rows = [event("e1"), event("e2"), event("e1")]
    refused = warehouse_on(endpoint).insert_rows("events", rows, row_ids=["e1", "e2", "e1"])
    assert refused == []
    ((stream, sent, metadata),) = fake.appends
    assert stream == "projects/beacon-test/datasets/beacon/tables/events/streams/_default"
    # What google-cloud-bigquery-storage's own AppendRowsStream sends: BigQuery routes by it.
    assert ("x-goog-request-params", f"write_stream={stream}") in metadata
    assert [row.event_id for row in sent] == ["e1", "e2"]  # the repeat in the call, once


def test_rows_bigquery_refuses_are_returned_and_the_rest_appended_again(
    write_server: tuple[WriteServer, str],
) -> None:
    fake, endpoint = write_server
    rows = [event("e1"), event("bad-1"), event("e2"), event("bad-2"), event("e3")]
    refused = warehouse_on(endpoint).insert_rows("events", rows)
    assert refused == [
        RefusedRow(1, "cannot convert value (row error 1)"),
        RefusedRow(3, "cannot convert value (row error 1)"),
    ]
    assert [[row.event_id for row in sent] for _, sent, _ in fake.appends] == [
        ["e1", "bad-1", "e2", "bad-2", "e3"],
        ["e1", "e2", "e3"],
    ]


def test_a_value_that_cannot_be_encoded_is_refused_without_a_request(
    write_server: tuple[WriteServer, str],
) -> None:
    fake, endpoint = write_server
    refused = warehouse_on(endpoint).insert_rows("events", [event("e1", revenue="x"), event("e2")])
    assert [r.index for r in refused] == [0]
    assert [[row.event_id for row in sent] for _, sent, _ in fake.appends] == [["e2"]]


def test_an_append_refused_whole_raises_so_the_batch_is_redelivered(
    write_server: tuple[WriteServer, str],
) -> None:
    fake, endpoint = write_server
    fake.fail = "the backend is unavailable"
    with pytest.raises(WarehouseError, match="the backend is unavailable"):
        warehouse_on(endpoint).insert_rows("events", [event("e1")])


def test_an_unreachable_service_raises() -> None:
    warehouse = warehouse_on("127.0.0.1:9")
    warehouse.writer.timeout = 2
    with pytest.raises(WarehouseError, match=r"append to .* failed"):
        warehouse.insert_rows("events", [event("e1")])


def test_the_load_parks_a_refused_event_in_bad_events_and_keeps_the_rest(
    write_server: tuple[WriteServer, str],
) -> None:
    fake, endpoint = write_server
    prepared = PreparedLoad(
        events=[event("e1"), event("bad-1", user_id="u-9"), event("e2")],
        bad=[],
        malformed=0,
        requests=["req-a", "req-a", "req-b"],
    )
    stats = prepared.write(warehouse_on(endpoint))
    assert (stats.events, stats.bad_events) == (2, 1)
    streams = [stream.rsplit("/tables/", 1)[1] for stream, _, _ in fake.appends]
    assert streams == [
        "events/streams/_default",
        "events/streams/_default",
        "bad_events/streams/_default",
    ]
    (parked,) = fake.appends[-1][1]
    assert (parked.reason, parked.request_id, parked.event_id) == (REFUSED, "req-a", "bad-1")
    assert list(parked.user_keys) == ["u-9"] and parked.keys_extracted is True
    assert json.loads(parked.errors) == [
        {"field": "event", "message": "cannot convert value (row error 1)"}
    ]
    assert json.loads(parked.payload)["event_id"] == "bad-1"
