"""The monthly Google Cloud bill of Beacon and its cost per million events, computed.

    .venv/bin/python bench/cost.py [--events-per-month 30000000] [--event-bytes 1024] [--batch 10]
    .venv/bin/python bench/cost.py --readme    # the README's table: 1, 30 and 300 million a month

Prices are data (bench/prices.yaml). Measured here, from the program itself:
- the Pub/Sub message of one ingest request: demo events padded to --event-bytes of JSON, --batch
  to a request, in the envelope ingest publishes (functions/envelope.py);
- the Storage Write bytes of a row: the load function's enriched row, encoded as it appends it
  (functions/warehouse/storage_write.py), and the row's BigQuery logical size column by column;
- the bytes every scheduled job and a dashboard view bill: the jobs run against DuckDB through a
  warehouse that records each statement; for every scan of a raw table or of per-user state the
  columns it names are read from the SQL (sqlglot) and the partitions it reads are counted by
  running its own partition filter, with its own parameters, over a table holding one row per
  day. BigQuery bills the named columns of those partitions, at least 10 MB per table a query
  references. The state tables' rows a day are those the rollups write for a month of demo
  traffic (user_days, user_first_seen, user_milestones, user_lifecycle), run on DuckDB.
Assumed (prices.yaml, `assumptions`): billed seconds per request, dashboard views a month, the
share of rejected events, the size of the function images, and the months of users that
user_first_seen and user_milestones hold (they are never expired, and the rollups read them
whole).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlglot
import yaml
from croniter import croniter
from sqlglot import exp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from functions.alerts import figures, report  # noqa: E402
from functions.catalogue import Table, retention_days, tables  # noqa: E402
from functions.envelope import Envelope  # noqa: E402
from functions.load.enrich import event_row  # noqa: E402
from functions.load.record import record_of  # noqa: E402
from functions.local.devserver.demo import generate_events  # noqa: E402
from functions.local.duckdb_warehouse import DuckDBWarehouse  # noqa: E402
from functions.query.reports import REPORTS, Queries  # noqa: E402
from functions.rollup.retention import run_retention  # noqa: E402
from functions.rollup.runner import resolve_range, run_rollups  # noqa: E402
from functions.schedules import SCHEDULES  # noqa: E402
from functions.settings import Settings  # noqa: E402
from functions.warehouse import QueryResult, RefusedRow  # noqa: E402
from functions.warehouse.storage_write import encode_row, row_schema  # noqa: E402
from infra.cloud_functions import PROFILES  # noqa: E402

PRICES = yaml.safe_load((REPO / "bench" / "prices.yaml").read_text(encoding="utf-8"))
GIB = 1024**3
TIB = 1024**4
DAYS_A_MONTH = 30
# Billed by the bytes of the partitions each statement reads: the raw tables, and the per-user
# state the rollups read for history, which grows with the users. The other rollup tables are
# small (a row per day and dimension), billed at BigQuery's 10 MB minimum per table.
STATE_TABLES = ("user_days", "user_first_seen", "user_milestones", "user_lifecycle")
SCANNED_TABLES = ("events", "bad_events", *STATE_TABLES)
README_VOLUMES = (1_000_000, 30_000_000, 300_000_000)
# The requests one dashboard view makes, as refresh() in functions/query/static/dashboard.js
# sends them with the page's defaults (30 days, funnel signup,search,payment, top providers).
DASHBOARD_VIEW: tuple[tuple[str, dict[str, str]], ...] = (
    ("realtime", {}),
    ("trends/hourly", {"hours": "24"}),
    ("kpis", {"days": "30"}),
    ("trends/hourly", {"hours": "48"}),
    ("revenue", {"days": "30"}),
    ("platforms", {"days": "30"}),
    ("funnel", {"steps": "signup,search,payment", "days": "30"}),
    ("retention", {"period": "week", "periods": "5"}),
    ("lifecycle", {"days": "30"}),
    ("search", {"days": "30", "limit": "10"}),
    ("errors", {"days": "30", "limit": "10"}),
    *(
        ("top", {"by": "provider_id", "metric": metric, "days": "30", "limit": "8"})
        for metric in ("revenue", "events", "rating")
    ),
)
TODAY = date(2026, 6, 15)  # any day: the jobs' reads are relative to it
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


# -- measured sizes ----------------------------------------------------------------------------


def sample_records(count: int, event_bytes: int) -> list[dict[str, Any]]:
    """Demo events as ingest accepts them, each padded to EVENT_BYTES of JSON."""
    records = generate_events(count, seed=11, now=NOW, days=1)
    for record in records:
        size = len(json.dumps(record, separators=(",", ":")).encode())
        if size < event_bytes:
            properties = dict(record.get("properties") or {})
            properties["note"] = "x" * max(0, event_bytes - size - 12)
            record["properties"] = properties
    return records


def message_bytes(records: Sequence[dict[str, Any]], batch: int) -> float:
    """Average bytes of the Pub/Sub message one ingest request of BATCH events publishes."""
    sizes = []
    for start in range(0, len(records) - batch + 1, batch):
        envelope = Envelope(
            "events",
            "web",
            "r" * 32,
            NOW.isoformat(),
            NOW.isoformat(),
            records[start : start + batch],
        )
        sizes.append(len(envelope.to_message().data))
    return sum(sizes) / len(sizes)


def rows_of(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        event_row(record_of(r), source="web", received_at=NOW, envelope_sent_at=NOW, loaded_at=NOW)
        for r in records
    ]


def logical_bytes(kind: str, value: Any) -> int:
    """BigQuery's logical size of one value (what storage and queries bill)."""
    if value is None:
        return 0
    if kind.startswith("ARRAY<"):
        inner = kind.removeprefix("ARRAY<").removesuffix(">")
        return sum(logical_bytes(inner, item) for item in value)
    if kind == "STRING":
        return 2 + len(str(value).encode())
    if kind == "JSON":
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        return len(text.encode())
    if kind == "BOOL":
        return 1
    return 8  # INT64, FLOAT64, TIMESTAMP, DATE


def column_bytes(entry: Table, rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Average logical bytes per row of each column of ENTRY."""
    return {
        column.name: sum(logical_bytes(column.type, row.get(column.name)) for row in rows)
        / len(rows)
        for column in entry.columns
    }


# -- the bytes the jobs bill -------------------------------------------------------------------


@dataclass
class Recorder:
    """A warehouse that runs everything on DuckDB and records each statement with its params."""

    inner: DuckDBWarehouse
    statements: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def ensure_tables(self) -> None:
        self.inner.ensure_tables()

    def insert_rows(
        self, table: str, rows: Sequence[Mapping[str, Any]], *, row_ids: Sequence[str] | None = None
    ) -> list[RefusedRow]:
        return self.inner.insert_rows(table, rows, row_ids=row_ids)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        self.statements.append((sql, dict(params or {})))
        return self.inner.query(sql, params)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        self.statements.append((sql, dict(params or {})))
        return self.inner.execute(sql, params)

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True)
class Scan:
    table: str
    columns: frozenset[str]
    days: int  # partitions read


def _own_columns(select: exp.Select, alias: str) -> set[str]:
    """Columns SELECT names of its source ALIAS (or unqualified), outside nested SELECTs."""
    names = set()
    for column in select.find_all(exp.Column):
        if column.find_ancestor(exp.Select) is not select:
            continue
        if column.table in ("", alias):
            names.add(column.name)
    if any(star.find_ancestor(exp.Select) is select for star in select.find_all(exp.Star)):
        names.add("*")
    return names


def _partition_only(where: exp.Expression | None, column: str) -> list[exp.Expression]:
    """The conjuncts of WHERE that name only the partition column: what BigQuery prunes by."""
    if where is None:
        return []
    conjuncts = list(where.flatten()) if isinstance(where, exp.And) else [where]
    return [c for c in conjuncts if {col.name for col in c.find_all(exp.Column)} == {column}]


def scans(
    sql: str, params: Mapping[str, Any], days_table: DuckDBWarehouse, days_of: Mapping[str, int]
) -> list[Scan]:
    """The scans of SCANNED_TABLES in one recorded statement: columns named, partitions read
    (of the DAYS_OF[table] days of partitions each table holds)."""
    found = []
    for tree in sqlglot.parse(sql, read="bigquery"):
        if tree is None:
            continue
        for select in tree.find_all(exp.Select):
            sources = [
                t for t in select.find_all(exp.Table) if t.find_ancestor(exp.Select) is select
            ]
            for source in sources:
                if source.name not in SCANNED_TABLES:
                    continue
                entry = tables()[source.name]
                alias = source.alias_or_name
                named = _own_columns(select, alias)
                columns = {c.name for c in entry.columns}
                named = columns if "*" in named else named & columns
                kept = _partition_only(
                    select.args.get("where") and select.args["where"].this, entry.partition_column
                )
                held = days = days_of[source.name]
                if kept:
                    condition = " AND ".join(c.sql(dialect="bigquery") for c in kept)
                    probe = (
                        f"SELECT COUNT(DISTINCT {entry.partition_expression}) AS days "
                        f"FROM {source.name} AS {alias} WHERE {condition}"
                    )
                    used = {
                        p.name
                        for p in sqlglot.parse_one(probe, read="bigquery").find_all(exp.Parameter)
                    }
                    result = days_table.query(probe, {k: v for k, v in params.items() if k in used})
                    days = min(held, int(result.rows[0]["days"]))
                found.append(Scan(source.name, frozenset(named), days))
    return found


def referenced_tables(sql: str) -> set[str]:
    """The tables a statement reads or writes: not its WITH clauses' names, which BigQuery
    does not bill as tables (no 10 MB minimum of their own)."""
    names = set()
    for tree in sqlglot.parse(sql, read="bigquery"):
        if tree is not None:
            ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
            names |= {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}
    return names


def one_row_a_day(warehouse: DuckDBWarehouse, days_of: Mapping[str, int]) -> None:
    """Every scanned table holds one row on each of its DAYS_OF[table] days, to today: the raw
    tables their retention's (older partitions have expired), as the partition probe counts."""

    def moments(table: str) -> list[datetime]:
        first = datetime.combine(
            TODAY - timedelta(days=days_of[table] - 1), datetime.min.time(), UTC
        )
        return [first + timedelta(days=offset, hours=12) for offset in range(days_of[table])]

    rows: dict[str, list[dict[str, Any]]] = {
        "events": [
            {"event_id": f"d{n}", "event_type": "x", "timestamp": at, "received_at": at,
             "loaded_at": at, "source": "web"}
            for n, at in enumerate(moments("events"))
        ],
        "bad_events": [
            {"received_at": at, "request_id": f"r{n}", "reason": "x"}
            for n, at in enumerate(moments("bad_events"))
        ],
        "user_days": [
            {"date": at.date(), "user_id": "u", "signup": False, "payment": False, "updated_at": at}
            for at in moments("user_days")
        ],
        "user_first_seen": [
            {"user_id": f"u{n}", "first_seen_date": at.date(), "updated_at": at}
            for n, at in enumerate(moments("user_first_seen"))
        ],
        "user_milestones": [
            {"user_id": f"u{n}", "milestone": "signup", "first_date": at.date(), "updated_at": at}
            for n, at in enumerate(moments("user_milestones"))
        ],
        "user_lifecycle": [
            {"date": at.date(), "user_id": "u", "stage": "lead", "previous_stage": "new",
             "signed_up": False, "paid": False, "updated_at": at}
            for at in moments("user_lifecycle")
        ],
    }  # fmt: skip
    for table, table_rows in rows.items():
        warehouse.insert_rows(table, table_rows)


def days_held(settings: Settings) -> dict[str, int]:
    """The days of partitions each scanned table holds at the bill's steady state: its
    retention's (sql/<table>/metadata.yaml), or the assumed months of history for a table that
    is never expired."""
    history = int(PRICES["assumptions"]["history_months"] * DAYS_A_MONTH)
    return {
        table: retention_days(
            tables()[table],
            raw_days=settings.retention_days,
            rollup_days=settings.rollup_retention_days,
        )
        or history
        for table in SCANNED_TABLES
    }


Statement = tuple[frozenset[str], list[Scan]]  # tables referenced, scans of SCANNED_TABLES


def measured_jobs(settings: Settings) -> dict[str, list[Statement]]:
    """Each scheduled job's statements, and one dashboard view's, as they run: the tables each
    references and its scans of SCANNED_TABLES."""
    with tempfile.TemporaryDirectory() as folder:
        inner = DuckDBWarehouse(Path(folder) / "cost.duckdb")
        inner.ensure_tables()
        recorder = Recorder(inner)
        recorded: dict[str, list[tuple[str, dict[str, Any]]]] = {}

        def record(name: str, run: Any) -> None:
            recorder.statements = []
            run()
            recorded[name] = recorder.statements

        for job in SCHEDULES:
            if job.path == "/v1/jobs/rollup":
                start, end = resolve_range(
                    job.body, today=TODAY, trailing_days=settings.rollup_trailing_days
                )
                record(
                    job.name,
                    lambda s=start, e=end: run_rollups(
                        recorder, start=s, end=e, churn_days=settings.churn_days
                    ),
                )
            elif job.path == "/v1/jobs/retention":
                record(
                    job.name, lambda: run_retention(recorder, settings, today=TODAY, dry_run=False)
                )
            elif job.path == "/v1/jobs/alerts":
                record(
                    job.name,
                    lambda: (
                        figures.error_rate(recorder, NOW),
                        figures.latency(recorder, NOW),
                        figures.revenue(recorder, settings, NOW),
                        figures.silence(recorder, settings, NOW),
                        figures.cost(recorder, settings, NOW),
                    ),
                )
            elif job.path == "/v1/jobs/report":
                period = report.last_complete(str(job.body.get("period", "week")), TODAY)
                record(
                    job.name,
                    lambda p=period: (
                        report.already_sent(recorder, p),
                        report.figures(recorder, settings, p, NOW),
                    ),
                )
            else:
                raise SystemExit(f"bench/cost.py does not know what job {job.name} runs")
        record(
            "dashboard view",
            lambda: [
                REPORTS[name].run(Queries(recorder, name, now=NOW), args)
                for name, args in DASHBOARD_VIEW
            ],
        )
        days_of = days_held(settings)
        one_row_a_day(inner, days_of)
        jobs = {
            name: [
                (
                    frozenset(referenced_tables(sql)),
                    scans(sql, params, inner, days_of),
                )
                for sql, params in statements
            ]
            for name, statements in recorded.items()
        }
        inner.close()
    return jobs


def runs_a_month(cron: str) -> int:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    end = start + timedelta(days=DAYS_A_MONTH)
    schedule = croniter(cron, start - timedelta(seconds=1))
    runs = 0
    while schedule.get_next(datetime) < end:
        runs += 1
    return runs


# -- the bill ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """Everything bench/cost.py measures once for an event size and client batch size."""

    event_bytes: int
    batch: int
    message_bytes: float  # one ingest request's Pub/Sub message
    write_bytes: float  # one event row as the Storage Write API appends it
    event_columns: dict[str, float]  # logical bytes per row, by column
    bad_row_bytes: float  # one bad_events row, logical
    # Per state table: logical bytes per row, by column, and demo events per row (its rows a
    # day are a day's events over that).
    state_columns: dict[str, dict[str, float]]
    events_per_state_row: dict[str, float]
    jobs: dict[str, list[Statement]]
    runs: dict[str, int]  # a month


def measure(event_bytes: int, batch: int, settings: Settings) -> Measured:
    records = sample_records(max(200, 20 * batch), event_bytes)
    rows = rows_of(records)
    schema = row_schema(tables()["events"])
    write = sum(len(encode_row(schema, row)) for row in rows) / len(rows)
    bad = {
        "received_at": NOW,
        "request_id": "r" * 32,
        "reason": "invalid_event",
        "errors": [{"field": "currency", "message": "must be an ISO 4217 code"}],
        "payload": json.dumps(records[0]),
        "user_keys": ["u-1"],
        "keys_extracted": True,
    }
    bad_bytes = sum(column_bytes(tables()["bad_events"], [bad]).values())
    state = state_rows(generate_events(20_000, seed=11, now=NOW), settings.churn_days)
    runs = {job.name: runs_a_month(job.cron) for job in SCHEDULES}
    runs["dashboard view"] = int(PRICES["assumptions"]["dashboard_views_per_month"])
    return Measured(
        event_bytes,
        batch,
        message_bytes(records, batch),
        write,
        column_bytes(tables()["events"], rows),
        bad_bytes,
        {table: column_bytes(tables()[table], found) for table, found in state.rows.items()},
        {table: state.events / len(found) for table, found in state.rows.items()},
        measured_jobs(settings),
        runs,
    )


@dataclass(frozen=True)
class StateRows:
    events: int
    rows: dict[str, list[dict[str, Any]]]  # by state table


def state_rows(demo: Sequence[dict[str, Any]], churn_days: int) -> StateRows:
    """The state tables' rows that the rollups write for DEMO traffic, run on DuckDB over its
    days and the churn window after them, so that each user's churn is in user_lifecycle too.

    Each of the demo's users is new in its month, so user_first_seen gains a row for every user
    a month: an app whose users come back for months gains fewer.
    """
    events = rows_of(demo)
    days = [row["timestamp"].date() for row in events]
    with tempfile.TemporaryDirectory() as folder:
        warehouse = DuckDBWarehouse(Path(folder) / "state.duckdb")
        warehouse.ensure_tables()
        warehouse.insert_rows("events", events)
        end = max(days) + timedelta(days=churn_days + 1)
        run_rollups(warehouse, start=min(days), end=end, churn_days=churn_days)
        found = {
            table: warehouse.query(
                f"SELECT * FROM {table} WHERE {tables()[table].partition_expression} >= @first",
                {"first": date(1, 1, 1)},
            ).rows
            for table in STATE_TABLES
        }
        warehouse.close()
    return StateRows(len(demo), found)


def statement_bytes(
    statement: Statement, daily: Mapping[str, float], per_column: Mapping[str, Mapping[str, float]]
) -> float:
    """What BigQuery bills one statement: the named columns of the partitions read, at least
    10 MB for each table referenced."""
    referenced, found = statement
    minimum = PRICES["bigquery"]["minimum_bytes_per_table"]
    billed = 0.0
    for table in referenced:
        read = sum(
            scan.days * daily[table] * sum(per_column[table].get(c, 0.0) for c in scan.columns)
            for scan in found
            if scan.table == table
        )
        billed += max(minimum, read)
    return billed


def _billable(amount: float, free: float) -> float:
    return max(0.0, amount - free)


def _gib_of(memory: str) -> float:
    return int(memory.removesuffix("Mi")) / 1024 if memory.endswith("Mi") else float(memory[:-2])


def query_gib(events: int, measured: Measured) -> dict[str, float]:
    """GiB a month each job (and the dashboard) bills, for EVENTS a month."""
    per_day = {
        "events": events / DAYS_A_MONTH,
        "bad_events": events * PRICES["assumptions"]["rejected_share"] / DAYS_A_MONTH,
        **{
            table: events / DAYS_A_MONTH / per_row
            for table, per_row in measured.events_per_state_row.items()
        },
    }
    bad_columns = tables()["bad_events"].columns
    per_column = {
        "events": measured.event_columns,
        "bad_events": {c.name: measured.bad_row_bytes / len(bad_columns) for c in bad_columns},
        **measured.state_columns,
    }
    return {
        name: sum(statement_bytes(s, per_day, per_column) for s in statements)
        * measured.runs[name]
        / GIB
        for name, statements in measured.jobs.items()
    }


def function_calls(events: int, measured: Measured) -> dict[str, int]:
    runs = measured.runs
    return {
        "ingest": math.ceil(events / measured.batch),
        "load": math.ceil(events / measured.batch),  # one push per ingest request
        "query": runs["dashboard view"] * len(DASHBOARD_VIEW),
        "rollup": sum(
            n for job, n in runs.items() if job in ("rollup-today", "rollup", "retention")
        ),
        "alerts": runs["alerts"] + runs["weekly-report"],
    }


def bill(events: int, measured: Measured, settings: Settings) -> dict[str, float]:
    """The month's cost by line, in USD, for EVENTS a month."""
    usage, fn, ps, bq = (PRICES[k] for k in ("assumptions", "functions", "pubsub", "bigquery"))
    calls = function_calls(events, measured)
    vcpu = gib_seconds = 0.0
    for name, count in calls.items():
        seconds = max(fn["billed_seconds_minimum"], usage["billed_seconds"][name]) * count
        memory = PROFILES[name].memory
        vcpu += seconds * fn["vcpu_by_memory"][memory]
        gib_seconds += seconds * _gib_of(memory)
    rejected = events * usage["rejected_share"]
    message = max(ps["minimum_bytes_per_message"], measured.message_bytes)
    written = (events * measured.write_bytes + rejected * measured.bad_row_bytes) / GIB
    raw_a_day = (
        (events * sum(measured.event_columns.values()) + rejected * measured.bad_row_bytes)
        / DAYS_A_MONTH
        / GIB
    )
    active_days = min(90, settings.retention_days)
    scheduler, registry = PRICES["scheduler"], PRICES["artifact_registry"]
    return {
        "Cloud Run functions (requests, CPU, memory)": (
            _billable(sum(calls.values()), fn["free_requests"]) / 1e6 * fn["requests_per_million"]
            + _billable(vcpu, fn["free_vcpu_seconds"]) * fn["vcpu_second"]
            + _billable(gib_seconds, fn["free_gib_seconds"]) * fn["gib_second"]
        ),
        # Published once, pushed once; each message bills at least 1 KB.
        "Pub/Sub": _billable(2 * calls["ingest"] * message / GIB, ps["free_gib"])
        / 1024
        * ps["throughput_per_tib"],
        "BigQuery Storage Write API": _billable(written, bq["storage_write_free_gib"])
        * bq["storage_write_per_gib"],
        "BigQuery storage (raw tables, steady state)": (
            _billable(raw_a_day * active_days, bq["free_storage_gib"])
            * bq["active_storage_gib_month"]
            + raw_a_day
            * (settings.retention_days - active_days)
            * bq["long_term_storage_gib_month"]
        ),
        "BigQuery queries (rollups, alerts, dashboard)": _billable(
            sum(query_gib(events, measured).values()) / 1024, bq["free_query_tib"]
        )
        * bq["query_per_tib"],
        "Cloud Scheduler, Artifact Registry": (
            _billable(len(SCHEDULES), scheduler["free_jobs"]) * scheduler["per_job"]
            + _billable(usage["function_images_gib"], registry["free_gib"]) * registry["gib_month"]
        ),
    }


# -- output ------------------------------------------------------------------------------------


def _millions(events: int) -> str:
    return f"{events / 1e6:g} M events/month"


def table(volumes: Sequence[int], measured: Measured, settings: Settings) -> str:
    bills = [bill(events, measured, settings) for events in volumes]
    lines = [
        "| | " + " | ".join(_millions(v) for v in volumes) + " |",
        "|---|" + "---|" * len(volumes),
    ]
    for item in bills[0]:
        lines.append(f"| {item} | " + " | ".join(f"${b[item]:,.2f}" for b in bills) + " |")
    totals = [sum(b.values()) for b in bills]
    lines.append("| **Total** | " + " | ".join(f"**${t:,.2f}**" for t in totals) + " |")
    per_million = [t / (v / 1e6) for t, v in zip(totals, volumes, strict=True)]
    lines.append(
        "| **Per million events** | " + " | ".join(f"**${p:,.3f}**" for p in per_million) + " |"
    )
    return "\n".join(lines) + "\n"


def details(volumes: Sequence[int], measured: Measured) -> str:
    """What the table rests on, measured in this run."""
    lines = [
        f"measured: {measured.event_bytes}-byte events, {measured.batch} a request: "
        f"Pub/Sub message {measured.message_bytes:,.0f} bytes, Storage Write row "
        f"{measured.write_bytes:,.0f} bytes, events row {sum(measured.event_columns.values()):,.0f}"
        " logical bytes; state rows: "
        + ", ".join(
            f"{table} {sum(measured.state_columns[table].values()):,.0f} bytes, one for every"
            f" {per_row:.1f} events"
            for table, per_row in measured.events_per_state_row.items()
        )
        + f" (the demo's); {PRICES['assumptions']['history_months']} months of users held",
        "runs a month: " + ", ".join(f"{name} {n:,}" for name, n in measured.runs.items()),
    ]
    for events in volumes:
        gib = query_gib(events, measured)
        lines.append(
            f"query GiB a month at {_millions(events)}: "
            + ", ".join(f"{name} {value:,.1f}" for name, value in gib.items())
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events-per-month",
        type=int,
        action="append",
        help="volume (repeatable; default 30,000,000)",
    )
    parser.add_argument("--event-bytes", type=int, default=1024, help="JSON bytes an event")
    parser.add_argument("--batch", type=int, default=10, help="events a client request")
    parser.add_argument(
        "--readme",
        action="store_true",
        help="the README's table: 1, 30 and 300 million events a month",
    )
    args = parser.parse_args(argv)
    volumes = README_VOLUMES if args.readme else tuple(args.events_per_month or [30_000_000])
    settings = Settings.from_env({})
    measured = measure(args.event_bytes, args.batch, settings)
    sys.stdout.write(table(volumes, measured, settings))
    if not args.readme:
        sys.stdout.write("\n" + details(volumes, measured))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
