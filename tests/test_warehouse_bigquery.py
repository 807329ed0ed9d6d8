"""The BigQuery adapter: against the bqemulator where it behaves like BigQuery (rows appended
through its Storage Write API), and at the wire level (a loopback HTTP recorder) for the REST
calls whose exact shape is the point. The Storage Write API at the wire level, for what the
emulator does not do (row errors), is in test_storage_write.py."""

from __future__ import annotations

import json
import threading
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from functions.catalogue import tables
from functions.warehouse import WarehouseError
from functions.warehouse.bigquery import (
    BigQueryWarehouse,
    as_transaction,
    query_parameter,
)
from tests.support.bqemulator import PROJECT, client_for

# Fixtures bigquery_emulator and bigquery_client, registered as a plugin (not imported) so that
# every test module shares the one emulator of the session.
pytest_plugins = ["tests.support.bqemulator"]

NOON = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
DAY = NOON.date()


def event_row(event_id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event_id,
        "event_type": "payment",
        "timestamp": NOON,
        "received_at": NOON,
        "loaded_at": NOON,
        "source": "web",
        "user_id": "u1",
        "properties": {"provider_id": "p7", "amount": 12},
        "revenue": 12.5,
        "currency": "EUR",
        "success": True,
    }
    row.update(fields)
    return row


# -- pure: parameter typing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ("x", "STRING"),
        (True, "BOOL"),
        (7, "INT64"),
        (1.5, "FLOAT64"),
        (DAY, "DATE"),
        (NOON, "TIMESTAMP"),
        (None, "STRING"),
    ],
)
def test_scalar_parameters_are_typed(value: Any, type_name: str) -> None:
    parameter = query_parameter("p", value)
    assert isinstance(parameter, bigquery.ScalarQueryParameter)
    assert parameter.type_ == type_name


def test_list_parameters_become_typed_arrays() -> None:
    strings = query_parameter("ids", ["a", "b"])
    days = query_parameter("days", [DAY, DAY + timedelta(days=1)])
    empty = query_parameter("none", [])
    assert isinstance(strings, bigquery.ArrayQueryParameter)
    assert (strings.array_type, strings.values) == ("STRING", ["a", "b"])
    assert isinstance(days, bigquery.ArrayQueryParameter) and days.array_type == "DATE"
    assert isinstance(empty, bigquery.ArrayQueryParameter) and empty.array_type == "STRING"
    with pytest.raises(WarehouseError):
        query_parameter("mixed", ["a", 1])


# -- wire level: a loopback server recording the client's REST requests ----------------------


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.answer: tuple[int, dict[str, Any]] = (
            200,
            {"kind": "bigquery#tableDataInsertAllResponse"},
        )
        self.get_answer: tuple[int, dict[str, Any]] | None = None  # None: same as POST


@pytest.fixture()
def recorder() -> Iterator[tuple[Recorder, str]]:
    record = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            record.bodies.append(json.loads(self.rfile.read(length) or b"{}"))
            record.requests.append(("POST", urlsplit(self.path).path))
            self.answer(record.answer)

        def do_GET(self) -> None:
            record.requests.append(("GET", urlsplit(self.path).path))
            self.answer(record.get_answer or record.answer)

        def answer(self, answer_with: tuple[int, dict[str, Any]]) -> None:
            status, answer = answer_with
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield record, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def recorded_warehouse(url: str) -> BigQueryWarehouse:
    return BigQueryWarehouse(client_for(url), "beacon", location="US", max_bytes_billed=10**9)


# -- against the emulator ---------------------------------------------------------------------


@pytest.fixture()
def warehouse(
    bigquery_client: bigquery.Client, bigquery_write_endpoint: str
) -> Iterator[BigQueryWarehouse]:
    dataset = f"beacon_{uuid.uuid4().hex[:10]}"
    store = BigQueryWarehouse(
        bigquery_client,
        dataset,
        location="US",
        max_bytes_billed=10**9,
        write_endpoint=bigquery_write_endpoint,
    )
    store.ensure_tables()
    yield store
    bigquery_client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)


@pytest.mark.emulator
def test_ensure_tables_creates_day_partitioned_guarded_tables(
    warehouse: BigQueryWarehouse,
    bigquery_client: bigquery.Client,
) -> None:
    warehouse.ensure_tables()  # a second time: nothing changes, nothing fails
    events = bigquery_client.get_table(warehouse.dataset.table("events"))
    bad = bigquery_client.get_table(warehouse.dataset.table("bad_events"))
    # The emulator keeps DAY partitioning and the partition filter guard from the DDL, but not
    # the partition column or the clustering (BigQuery reports both); those stay pinned by the
    # DDL the catalogue renders (Table.bigquery_ddl), which is what runs on BigQuery.
    assert events.time_partitioning is not None
    assert events.time_partitioning.type_ == "DAY"
    assert bad.time_partitioning is not None and bad.time_partitioning.type_ == "DAY"
    # BigQuery reports the guard on the table; the emulator inside timePartitioning, which the
    # client marks as deprecated (hence the silenced warning: reading it is the point here).
    for table in (events, bad):
        assert table.time_partitioning is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            emulator_guard = table.time_partitioning.require_partition_filter
        assert True in (table.require_partition_filter, emulator_guard)


@pytest.mark.emulator
def test_inserted_rows_come_back_through_parameterised_queries(
    warehouse: BigQueryWarehouse,
) -> None:
    rows = [
        event_row("e1"),
        event_row("e2", user_id="u2", revenue=-3.0),
        event_row("e3", timestamp=NOON - timedelta(days=2)),
    ]
    warehouse.insert_rows("events", rows, row_ids=[r["event_id"] for r in rows])
    result = warehouse.query(
        "SELECT event_id, `timestamp`, revenue, "
        "JSON_VALUE(properties, '$.provider_id') AS provider FROM events "
        "WHERE DATE(`timestamp`) = @day AND user_id IN UNNEST(@users) "
        "AND revenue > @floor AND success = @ok AND source = @source ORDER BY event_id LIMIT @n",
        {"day": DAY, "users": ["u1", "u2"], "floor": 0.0, "ok": True, "source": "web", "n": 10},
    )
    assert result.columns == ["event_id", "timestamp", "revenue", "provider"]
    assert result.rows == [{"event_id": "e1", "timestamp": NOON, "revenue": 12.5, "provider": "p7"}]


@pytest.mark.emulator
def test_execute_runs_dml_with_parameters(warehouse: BigQueryWarehouse) -> None:
    warehouse.insert_rows("events", [event_row("e1"), event_row("e2")])
    warehouse.execute(
        "DELETE FROM events WHERE DATE(`timestamp`) = @day AND event_id = @id",
        {"day": DAY, "id": "e1"},
    )
    left = warehouse.query(
        "SELECT event_id FROM events WHERE DATE(`timestamp`) = @day", {"day": DAY}
    )
    assert [row["event_id"] for row in left.rows] == ["e2"]


def test_dml_scripts_are_wrapped_in_one_transaction() -> None:
    script = "DELETE FROM daily WHERE day = @day; INSERT INTO daily SELECT @day, 1;"
    wrapped = as_transaction(script)
    assert wrapped.startswith("BEGIN TRANSACTION;")
    assert wrapped.endswith("COMMIT TRANSACTION;")
    assert script.rstrip(";") in wrapped
    single = "DELETE FROM daily WHERE day = @day"
    assert as_transaction(single) == single
    with_ddl = "CREATE TABLE IF NOT EXISTS t (a INT64); INSERT INTO t VALUES (1)"
    assert as_transaction(with_ddl) == with_ddl


@pytest.mark.emulator
def test_script_runs_atomically(warehouse: BigQueryWarehouse) -> None:
    # The emulator leaves the rows whether or not the script is wrapped (it does not run a
    # failing script's earlier statements); on BigQuery the wrapping pinned above is what does.
    warehouse.insert_rows("events", [event_row("e1"), event_row("e2")])
    with pytest.raises(WarehouseError):
        warehouse.execute(
            # The INSERT fails while running (not while being checked), after the DELETE ran.
            "DELETE FROM events WHERE DATE(`timestamp`) = @day; "
            "INSERT INTO events "
            "(event_id, event_type, `timestamp`, received_at, loaded_at, source) "
            "SELECT ERROR('forced failure'), 'x', @at, @at, @at, 'web';",
            {"day": DAY, "at": NOON},
        )
    left = warehouse.query(
        "SELECT event_id FROM events WHERE DATE(`timestamp`) = @day ORDER BY event_id",
        {"day": DAY},
    )
    assert [row["event_id"] for row in left.rows] == ["e1", "e2"]


@pytest.mark.emulator
def test_bad_sql_raises_warehouse_error(warehouse: BigQueryWarehouse) -> None:
    with pytest.raises(WarehouseError):
        warehouse.query(
            "SELECT no_such_column FROM events WHERE DATE(`timestamp`) = @d", {"d": DAY}
        )


# -- ensure_tables: only what is missing, so read-only functions start ------------------------


class RecordingSession(requests.Session):
    """A real HTTP session that notes every request the BigQuery client makes through it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, str]] = []

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        body = kwargs.get("data") or b""
        self.calls.append(
            (method, urlsplit(url).path, body.decode() if isinstance(body, bytes) else str(body))
        )
        return super().request(method, url, *args, **kwargs)

    def jobs(self) -> list[str]:
        """The SQL of every query job sent (jobs.insert or jobs.query)."""
        sent = [
            json.loads(body)
            for method, path, body in self.calls
            if method == "POST" and path.endswith(("/jobs", "/queries"))
        ]
        # jobs.insert nests the SQL in configuration.query; jobs.query has it at the top.
        return [
            job.get("configuration", {}).get("query", {}).get("query") or job.get("query", "")
            for job in sent
        ]


def recording_warehouse(url: str, dataset: str) -> tuple[BigQueryWarehouse, RecordingSession]:
    session = RecordingSession()
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=url),
        _http=session,
    )
    return BigQueryWarehouse(client, dataset, location="US", max_bytes_billed=10**9), session


@pytest.mark.emulator
def test_ensure_tables_issues_no_create_job_when_every_table_exists(
    warehouse: BigQueryWarehouse,
    bigquery_emulator: str,
) -> None:
    # A function whose account may only read (dataViewer) must start: one listing, no jobs.
    reader, session = recording_warehouse(bigquery_emulator, warehouse.dataset.dataset_id)

    reader.ensure_tables()

    assert session.jobs() == []
    assert [(method, path) for method, path, _ in session.calls] == [
        ("GET", f"/bigquery/v2/projects/{PROJECT}/datasets/{reader.dataset.dataset_id}/tables")
    ]


@pytest.mark.emulator
def test_ensure_tables_creates_only_the_missing_table(
    warehouse: BigQueryWarehouse,
    bigquery_client: bigquery.Client,
    bigquery_emulator: str,
) -> None:
    bigquery_client.delete_table(warehouse.dataset.table("query_costs"))
    repairer, session = recording_warehouse(bigquery_emulator, warehouse.dataset.dataset_id)

    repairer.ensure_tables()

    jobs = session.jobs()
    assert len(jobs) == 1
    assert "CREATE TABLE IF NOT EXISTS query_costs" in jobs[0]
    names = {table.table_id for table in bigquery_client.list_tables(warehouse.dataset)}
    assert names == set(tables())


@pytest.mark.emulator
def test_ensure_tables_creates_an_absent_dataset_and_every_table(
    bigquery_client: bigquery.Client,
    bigquery_emulator: str,
) -> None:
    dataset = f"beacon_{uuid.uuid4().hex[:10]}"
    creator, session = recording_warehouse(bigquery_emulator, dataset)
    try:
        creator.ensure_tables()

        names = {table.table_id for table in bigquery_client.list_tables(dataset)}
        assert names == set(tables())
        assert len(session.jobs()) == len(tables())
        assert ("POST", f"/bigquery/v2/projects/{PROJECT}/datasets") in [
            (method, path) for method, path, _ in session.calls
        ]
    finally:
        bigquery_client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)


def test_ensure_tables_reports_a_refused_listing_as_warehouse_error(
    recorder: tuple[Recorder, str],
) -> None:
    record, url = recorder
    record.answer = (403, {"error": {"code": 403, "message": "Access Denied: no tables.list"}})
    with pytest.raises(WarehouseError, match="Access Denied"):
        recorded_warehouse(url).ensure_tables()


def test_ensure_tables_creates_the_dataset_bigquery_reports_missing(
    recorder: tuple[Recorder, str],
) -> None:
    # BigQuery answers a listing of a missing dataset with 404 (the emulator with an empty list).
    record, url = recorder
    record.get_answer = (404, {"error": {"code": 404, "message": "Not found: Dataset beacon"}})
    record.answer = (403, {"error": {"code": 403, "message": "no bigquery.datasets.create"}})

    with pytest.raises(WarehouseError, match="cannot create dataset beacon"):
        recorded_warehouse(url).ensure_tables()

    assert record.requests == [
        ("GET", f"/bigquery/v2/projects/{PROJECT}/datasets/beacon/tables"),
        ("POST", f"/bigquery/v2/projects/{PROJECT}/datasets"),
    ]


@pytest.mark.emulator
def test_the_insights_question_runs_on_bigquery_with_its_parameters(
    warehouse: BigQueryWarehouse,
) -> None:
    """sql/queries/insights.sql as the query function sends it: a breakdown by property, a
    filter, the top-N fold and a quantile, with array and scalar parameters of every kind."""
    from functions.query import insights
    from functions.sqlfiles import load_sql

    rows = [
        event_row("e1", properties={"tier": "a"}, platform="ios", duration_ms=100.0),
        event_row("e2", properties={"tier": "a"}, platform="ios", duration_ms=300.0),
        event_row("e3", properties={"tier": "b"}, platform="ios", duration_ms=200.0),
        event_row("e4", properties={"tier": "c"}, platform="web", duration_ms=900.0),
        event_row("e1", properties={"tier": "a"}, platform="ios", duration_ms=100.0),  # a copy
    ]
    warehouse.insert_rows("events", rows)
    question = insights.parse(
        {
            "event": ["payment"],
            "start": [DAY.isoformat()],
            "end": [DAY.isoformat()],
            "breakdown": ["properties.tier"],
            "filter": ["platform=ios"],
            "limit": ["1"],
        },
        DAY,
    )
    params = insights.sql_parameters(question, "USD")
    assert warehouse.estimate_bytes(load_sql("queries/insights"), params) >= 0
    answer = warehouse.query(load_sql("queries/insights"), params).rows
    totals = {(r["key"], r["is_other"]): r["value"] for r in answer if r["bucket"] is None}
    assert totals == {("a", False): 2, (None, True): 1}  # e1 once; e3 folded; e4 filtered out
