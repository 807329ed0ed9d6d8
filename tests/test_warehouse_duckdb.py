"""The local warehouse: BigQuery SQL translated to DuckDB, bulk inserts, de-duplication."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from functions.catalogue import RETIRED_TABLES, tables
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.local.translate import QUANTILE_RANK_TOLERANCE, translate
from functions.sqlfiles import expand
from functions.warehouse import WarehouseError

DAY = date(2024, 3, 10)
NOON = datetime(2024, 3, 10, 12, 30, 15, tzinfo=UTC)
DAY_START = datetime(2024, 3, 10, tzinfo=UTC)


def event_row(event_id: str, when: datetime = NOON, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event_id,
        "event_type": "page_view",
        "timestamp": when,
        "client_timestamp": when,
        "received_at": when,
        "loaded_at": when,
        "source": "web",
        "user_id": "u1",
        "properties": {"screen": "home", "count": 3},
    }
    row.update(fields)
    return row


@pytest.fixture()
def warehouse(tmp_path: Path) -> Any:
    store = DuckDBWarehouse(tmp_path / "beacon.duckdb")
    store.ensure_tables()
    yield store
    store.close()


def count_events(store: DuckDBWarehouse) -> int:
    result = store.query("SELECT COUNT(*) AS n FROM events WHERE `timestamp` IS NOT NULL")
    return int(result.rows[0]["n"])


# -- translation of BigQuery's rough spots, run for real in DuckDB ---------------------------


def test_table_ddl_translates_without_sqlglot_warnings(caplog: pytest.LogCaptureFixture) -> None:
    translate.cache_clear()
    with caplog.at_level(logging.WARNING, logger="sqlglot"):
        statements = [s for entry in tables().values() for s in translate(entry.ddl)]
    assert statements
    assert not [r for r in caplog.records if r.name == "sqlglot"]
    assert all("PARTITION" not in s.sql and "OPTIONS" not in s.sql for s in statements)


def test_script_splits_into_statements_with_their_own_parameters() -> None:
    statements = translate(
        "BEGIN TRANSACTION; DELETE FROM t WHERE d = @day; "
        "INSERT INTO t SELECT @day, @n; COMMIT TRANSACTION;"
    )
    assert [s.params for s in statements] == [frozenset({"day"}), frozenset({"day", "n"})]
    assert all("$day" in s.sql for s in statements)
    assert [s.changes_rows for s in statements] == [True, True]


def test_json_value_reads_scalars_and_null_for_missing(warehouse: DuckDBWarehouse) -> None:
    warehouse.insert_rows("events", [event_row("e1")])
    row = warehouse.query(
        "SELECT JSON_VALUE(properties, '$.screen') AS screen, "
        "SAFE_CAST(JSON_VALUE(properties, '$.count') AS INT64) AS count, "
        "JSON_VALUE(properties, '$.missing') AS missing "
        "FROM events WHERE DATE(`timestamp`) = @day",
        {"day": DAY},
    ).rows[0]
    assert row == {"screen": "home", "count": 3, "missing": None}


def test_approx_quantiles_offset_is_a_value_within_the_stated_rank_tolerance(
    warehouse: DuckDBWarehouse,
) -> None:
    """Per group, on 20,000 values: a value of the input whose rank is within the tolerance of
    the exact rank, the same on every run (a re-run rollup writes identical rows)."""
    durations = [float(n * 7919 % 10_007) for n in range(20_000)]
    platforms = ("ios", "web")
    rows = [
        event_row(f"e{n}", duration_ms=d, platform=platforms[n % 2])
        for n, d in enumerate(durations)
    ]
    warehouse.insert_rows("events", rows)
    sql = (
        "SELECT platform, APPROX_QUANTILES(duration_ms, 100)[OFFSET(50)] AS p50, "
        "APPROX_QUANTILES(duration_ms, 100)[OFFSET(95)] AS p95 "
        "FROM events WHERE DATE(`timestamp`) = @day GROUP BY platform ORDER BY platform"
    )
    answers = [warehouse.query(sql, {"day": DAY}).rows for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    for row in answers[0]:
        values = sorted(d for n, d in enumerate(durations) if platforms[n % 2] == row["platform"])
        slack = max(1, math.ceil(QUANTILE_RANK_TOLERANCE * len(values)))
        for q, key in ((0.5, "p50"), (0.95, "p95")):
            assert row[key] in values
            exact = q * (len(values) - 1)
            ranks = [i for i, v in enumerate(values) if v == row[key]]
            assert any(abs(rank - exact) <= slack for rank in ranks), (key, row[key])


def test_date_sub_stays_a_date_and_truncation_is_utc(warehouse: DuckDBWarehouse) -> None:
    result = warehouse.query(
        "SELECT DATE_SUB(@day, INTERVAL 3 DAY) AS earlier, "
        "TIMESTAMP_TRUNC(@at, HOUR) AS hour, TIMESTAMP_TRUNC(@at, DAY) AS day",
        {"day": DAY, "at": NOON},
    ).rows[0]
    assert result["earlier"] == DAY - timedelta(days=3)
    assert type(result["earlier"]) is date
    assert result["hour"] == NOON.replace(minute=0, second=0)
    assert result["day"] == NOON.replace(hour=0, minute=0, second=0)


def test_day_and_truncation_of_a_timestamp_column_are_utc_whatever_the_session_zone() -> None:
    # The translation computes these on the UTC instant, not through DuckDB's session zone:
    # Kolkata's clock is on the next day for the second instant, and before 1970 the instant's
    # microseconds are negative (a division that truncates toward zero would round up).
    instants = [
        datetime(1969, 12, 31, 23, 30, tzinfo=UTC),
        datetime(2024, 3, 10, 22, 30, tzinfo=UTC),
        datetime(2024, 3, 10, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 3, 11, 0, 0, tzinfo=UTC),
    ]
    (statement,) = translate(
        "SELECT DATE(ts) AS day, TIMESTAMP_TRUNC(ts, HOUR) AS hour, "
        "TIMESTAMP_TRUNC(ts, ISOWEEK) AS week, TIMESTAMP_TRUNC(ts, MONTH) AS month "
        "FROM instants ORDER BY ts"
    )
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'Asia/Kolkata'")
    conn.execute("CREATE TABLE instants (ts TIMESTAMPTZ)")
    conn.executemany("INSERT INTO instants VALUES ($1)", [[at] for at in [*instants, None]])
    rows = conn.execute(statement.sql).fetchall()
    expected = [
        (
            at.date(),
            at.replace(minute=0, second=0, microsecond=0),
            datetime.combine(at.date() - timedelta(days=at.weekday()), datetime.min.time(), UTC),
            datetime(at.year, at.month, 1, tzinfo=UTC),
        )
        for at in instants
    ]
    assert rows == [(None, None, None, None), *expected]  # BigQuery sorts NULL first


def test_a_filter_on_an_events_day_keeps_exactly_its_rows_and_bounds_the_scan(
    warehouse: DuckDBWarehouse,
) -> None:
    # The translation adds bounds on `timestamp` beside such a filter, for DuckDB to skip row
    # groups by; the filter itself still decides, whatever type its bounds have.
    instants = [DAY_START + timedelta(hours=hours) for hours in (-1, 0, 12, 23, 24, 47, 48)]
    warehouse.insert_rows("events", [event_row(f"e{n}", at) for n, at in enumerate(instants)])

    def kept(condition: str, params: dict[str, Any]) -> list[datetime]:
        sql = f"SELECT `timestamp` AS at FROM events WHERE {condition} ORDER BY at"
        return [row["at"] for row in warehouse.query(sql, params).rows]

    def on_days(*days: date) -> list[datetime]:
        return [at for at in instants if at.date() in days]

    following = DAY + timedelta(days=1)
    between = "DATE(`timestamp`) BETWEEN @low AND @high"
    assert kept(between, {"low": DAY, "high": following}) == on_days(DAY, following)
    assert kept("DATE(`timestamp`) = @day", {"day": DAY}) == on_days(DAY)
    assert kept("DATE(`timestamp`) > @day", {"day": DAY}) == [a for a in instants if a.date() > DAY]
    assert kept("DATE(`timestamp`) < @day", {"day": DAY}) == [a for a in instants if a.date() < DAY]
    # A time as the bound: DuckDB compares the day's midnight with it, with or without the
    # bounds (BigQuery refuses a DATE against a TIMESTAMP).
    assert kept("DATE(`timestamp`) >= @at", {"at": NOON}) == on_days(
        following, following + timedelta(days=1)
    )
    (plan,) = translate("SELECT event_id FROM events WHERE DATE(`timestamp`) = @day")
    explained = warehouse._conn.execute(f"EXPLAIN {plan.sql}", {"day": DAY}).fetchall()
    assert "timestamp>=" in str(explained).replace(" ", "")


def test_generate_date_array_unnests_to_every_day(warehouse: DuckDBWarehouse) -> None:
    result = warehouse.query(
        "SELECT day FROM UNNEST(GENERATE_DATE_ARRAY(@start, @end)) AS day ORDER BY day",
        {"start": DAY, "end": DAY + timedelta(days=4)},
    )
    assert [r["day"] for r in result.rows] == [DAY + timedelta(days=n) for n in range(5)]
    assert result.columns == ["day"]


def test_in_unnest_of_a_list_parameter(warehouse: DuckDBWarehouse) -> None:
    warehouse.insert_rows("events", [event_row(f"e{n}", user_id=f"u{n}") for n in range(5)])
    result = warehouse.query(
        "SELECT user_id FROM events WHERE DATE(`timestamp`) = @day "
        "AND user_id IN UNNEST(@users) ORDER BY user_id",
        {"day": DAY, "users": ["u1", "u3", "nobody"]},
    )
    assert [r["user_id"] for r in result.rows] == ["u1", "u3"]


# -- the adapter ------------------------------------------------------------------------------


def test_ensure_tables_is_idempotent_and_creates_every_table(tmp_path: Path) -> None:
    store = DuckDBWarehouse(tmp_path / "w.duckdb")
    store.ensure_tables()
    store.ensure_tables()
    names = store.query("SELECT table_name FROM INFORMATION_SCHEMA.TABLES").rows
    store.close()
    assert set(tables()) <= {r["table_name"] for r in names}


def test_opening_a_file_drops_the_tables_this_version_retired(tmp_path: Path) -> None:
    # user_activity held user ids; with no statement writing or erasing it, it must not linger.
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute("CREATE TABLE user_activity (user_id VARCHAR, first_seen_date DATE)")
    old.execute("INSERT INTO user_activity VALUES ('u1', DATE '2024-05-01')")
    old.close()
    warehouse = DuckDBWarehouse(path)
    warehouse.ensure_tables()
    names = {row["name"] for row in warehouse.query("SHOW TABLES").rows}
    warehouse.close()
    assert not names & set(RETIRED_TABLES)
    assert set(tables()) <= names


def test_rows_round_trip_with_typed_parameters(warehouse: DuckDBWarehouse) -> None:
    warehouse.insert_rows(
        "events",
        [event_row("e1", revenue=12.5, success=True), event_row("e2", revenue=-2.0)],
        row_ids=["e1", "e2"],
    )
    result = warehouse.query(
        "SELECT event_id, `timestamp`, revenue, properties FROM events "
        "WHERE `timestamp` >= @since AND revenue > @floor AND success = @ok "
        "AND source = @source AND event_id IN UNNEST(@ids) LIMIT @limit",
        {
            "since": NOON - timedelta(hours=1),
            "floor": 0.0,
            "ok": True,
            "source": "web",
            "ids": ["e1", "e2"],
            "limit": 10,
        },
    )
    assert result.columns == ["event_id", "timestamp", "revenue", "properties"]
    assert len(result.rows) == 1
    assert result.rows[0]["event_id"] == "e1"
    assert result.rows[0]["timestamp"] == NOON
    assert result.bytes_billed > 0


def test_json_columns_stay_json(warehouse: DuckDBWarehouse) -> None:
    warehouse.insert_rows(
        "bad_events",
        [
            {
                "received_at": NOON,
                "request_id": "r1",
                "reason": "invalid_event",
                "errors": [{"field": "event_type", "message": "required"}],
            },
            {"received_at": NOON, "request_id": "r2", "reason": "x", "errors": '{"a": 1}'},
        ],
    )
    result = warehouse.query(
        "SELECT request_id, JSON_VALUE(errors, '$[0].field') AS field, "
        "JSON_VALUE(errors, '$.a') AS a FROM bad_events "
        "WHERE DATE(received_at) = @day ORDER BY request_id",
        {"day": DAY},
    )
    assert [(r["field"], r["a"]) for r in result.rows] == [("event_type", None), (None, "1")]
    kinds = warehouse.query("SELECT DISTINCT typeof(errors) AS kind FROM bad_events").rows
    assert kinds == [{"kind": "JSON"}]


def test_a_select_deriving_columns_keeps_each_events_first_loaded_copy(
    warehouse: DuckDBWarehouse,
) -> None:
    # The translation derives these columns below the first-copy filter (_first_copy_below);
    # the copies differ in what is derived, and the later-loaded one is stored first.
    later, first = NOON + timedelta(minutes=5), NOON
    warehouse.insert_rows(
        "events",
        [
            event_row("e1", loaded_at=later, properties={"query": "late"}),
            event_row("e1", loaded_at=first, properties={"query": "first"}),
            event_row("e2", properties={"query": "only"}),
        ],
    )
    sql = (
        "SELECT event_id AS id, JSON_VALUE(properties, '$.query') AS query FROM events "
        "WHERE DATE(`timestamp`) = @day {{ first_copy }}"
    )
    rows = warehouse.query(expand(sql), {"day": DAY}).rows
    assert sorted((row["id"], row["query"]) for row in rows) == [("e1", "first"), ("e2", "only")]


def test_same_id_three_times_in_one_call_is_stored_once(warehouse: DuckDBWarehouse) -> None:
    rows = [event_row("dup"), event_row("dup"), event_row("dup"), event_row("other")]
    warehouse.insert_rows("events", rows, row_ids=[r["event_id"] for r in rows])
    assert count_events(warehouse) == 2


def test_redelivered_rows_are_skipped_small_and_large_batches(
    warehouse: DuckDBWarehouse,
) -> None:
    small = [event_row(f"s{n}") for n in range(3)]
    large = [event_row(f"l{n}") for n in range(600)]  # past the index-lookup threshold
    for batch in (small, large, small, large, small + large):
        warehouse.insert_rows("events", batch, row_ids=[r["event_id"] for r in batch])
    assert count_events(warehouse) == len(small) + len(large)


def test_failed_insert_raises_and_writes_nothing(warehouse: DuckDBWarehouse) -> None:
    good, bad = event_row("good"), event_row("bad", timestamp="not a time")
    with pytest.raises(WarehouseError):
        warehouse.insert_rows("events", [good, bad], row_ids=["good", "bad"])
    with pytest.raises(WarehouseError, match="no such columns"):
        warehouse.insert_rows("events", [event_row("x", colour="red")])
    with pytest.raises(WarehouseError):
        warehouse.insert_rows("no_such_table", [{"a": 1}])
    assert count_events(warehouse) == 0
    # The failed ids were not remembered: a retry stores them.
    warehouse.insert_rows("events", [good], row_ids=["good"])
    assert count_events(warehouse) == 1


def test_execute_runs_a_script_as_one_transaction(warehouse: DuckDBWarehouse) -> None:
    warehouse.insert_rows("events", [event_row("e1"), event_row("e2")])
    changed = warehouse.execute(
        "DELETE FROM events WHERE DATE(`timestamp`) = @day AND event_id = @id; "
        "INSERT INTO events (event_id, event_type, `timestamp`, received_at, loaded_at, source) "
        "VALUES ('e3', 'login', @at, @at, @at, 'web');",
        {"day": DAY, "id": "e1", "at": NOON},
    )
    assert changed == 2
    with pytest.raises(WarehouseError):
        warehouse.execute(
            "DELETE FROM events WHERE DATE(`timestamp`) = @day; "
            "INSERT INTO events (event_id) VALUES ('missing required columns');",
            {"day": DAY},
        )
    ids = warehouse.query("SELECT event_id FROM events ORDER BY event_id").rows
    assert [r["event_id"] for r in ids] == ["e2", "e3"]


def test_bad_sql_and_missing_parameters_raise_warehouse_error(
    warehouse: DuckDBWarehouse,
) -> None:
    with pytest.raises(WarehouseError):
        warehouse.query("SELECT FROM WHERE")
    with pytest.raises(WarehouseError, match="missing query parameters: day"):
        warehouse.query("SELECT @day AS d")
    with pytest.raises(WarehouseError):
        warehouse.query("SELECT * FROM no_such_table")


def test_bytes_billed_estimate_grows_with_the_table(warehouse: DuckDBWarehouse) -> None:
    sql = "SELECT COUNT(*) AS n FROM events WHERE DATE(`timestamp`) = @day"
    warehouse.insert_rows("events", [event_row("e1")])
    before = warehouse.query(sql, {"day": DAY}).bytes_billed
    warehouse.insert_rows("events", [event_row(f"e{n}") for n in range(2, 1000)])
    after = warehouse.query(sql, {"day": DAY}).bytes_billed
    assert 0 < before < after
    assert warehouse.query("SELECT 1 AS one").bytes_billed == 0


def test_threads_insert_and_query_concurrently(warehouse: DuckDBWarehouse) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for batch in range(5):
                rows = [event_row(f"w{worker}-{batch}-{n}") for n in range(20)]
                warehouse.insert_rows("events", rows, row_ids=[r["event_id"] for r in rows])
                # Every worker also re-sends one shared event: it must be stored once.
                warehouse.insert_rows("events", [event_row("shared")], row_ids=["shared"])
                warehouse.query("SELECT COUNT(*) AS n FROM events")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert count_events(warehouse) == 4 * 5 * 20 + 1


def test_after_close_another_process_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "beacon.duckdb"
    store = DuckDBWarehouse(path)
    store.ensure_tables()
    store.insert_rows("events", [event_row("e1"), event_row("e2")])
    store.close()
    script = (
        "import sys; from functions.local.duckdb_warehouse import DuckDBWarehouse; "
        "w = DuckDBWarehouse(sys.argv[1], read_only=True); "
        "print(w.query('SELECT COUNT(*) AS n FROM events').rows[0]['n'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "2"


def test_bulk_insert_with_dedup_keeps_up(warehouse: DuckDBWarehouse) -> None:
    # A smoke check of the bulk path on a table already holding rows; the 1M-row figure is
    # measured outside the suite. The floor is far below the target so a busy machine passes.
    def batch(size: int) -> list[dict[str, Any]]:
        return [
            event_row(str(uuid.uuid4()), NOON + timedelta(seconds=n), user_id=f"u{n % 97}")
            for n in range(size)
        ]

    existing = batch(50_000)
    warehouse.insert_rows("events", existing, row_ids=[r["event_id"] for r in existing])
    fresh = batch(20_000)
    started = time.perf_counter()
    warehouse.insert_rows("events", fresh, row_ids=[r["event_id"] for r in fresh])
    rate = len(fresh) / (time.perf_counter() - started)
    assert count_events(warehouse) == len(existing) + len(fresh)
    assert rate > 5_000


def test_ensure_tables_adds_the_columns_a_table_gained_to_an_older_file(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:
        # bad_events as it was before it named the users in its payloads.
        old.execute(
            "CREATE TABLE bad_events (received_at TIMESTAMPTZ NOT NULL, source VARCHAR,"
            " request_id VARCHAR NOT NULL, event_index BIGINT, event_id VARCHAR,"
            " reason VARCHAR NOT NULL, errors JSON, payload VARCHAR)"
        )
        old.execute("INSERT INTO bad_events VALUES (now(), 's', 'r', 0, 'e', 'x', NULL, 'p')")
    warehouse = DuckDBWarehouse(path)
    warehouse.ensure_tables()
    row = {"received_at": "2024-05-01T00:00:00Z", "request_id": "r2", "reason": "invalid_event"}
    warehouse.insert_rows("bad_events", [row | {"user_keys": ["u"], "keys_extracted": True}])
    rows = warehouse.query(
        "SELECT request_id, user_keys, keys_extracted FROM bad_events"
        " WHERE DATE(received_at) >= '2000-01-01' ORDER BY request_id"
    ).rows
    warehouse.close()
    assert rows == [
        {"request_id": "r", "user_keys": None, "keys_extracted": None},
        {"request_id": "r2", "user_keys": ["u"], "keys_extracted": True},
    ]
