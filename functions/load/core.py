"""Bus messages → warehouse rows: the load function's logic, apart from its CloudEvent edge.

Delivery is at-least-once, so every event row is inserted with its event_id as row id; DuckDB
skips ids it has seen, and every read de-duplicates on event_id (BigQuery's Storage Write API has
no row ids). What can never load (a message that is not an envelope, a record
that is not an event) is parked in bad_events and acknowledged; a warehouse failure propagates so
the bus redelivers the message.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from functions.bad_events import COLUMNS, bad_event_row, truncate_payload, user_keys
from functions.bus import Message
from functions.envelope import Envelope, MalformedEnvelope, inexact_value
from functions.load.enrich import event_row, parse_time
from functions.load.record import EventsEnvelope, RecordError, decode_events, record_of
from functions.warehouse import Warehouse, insert_all

MALFORMED = "malformed_message"
REFUSED = "refused_by_warehouse"  # a value BigQuery's column would not take


@dataclass(frozen=True)
class LoadStats:
    events: int  # event rows offered to the warehouse (before its de-duplication)
    bad_events: int  # rejection rows written, including malformed ones
    malformed: int  # messages or records that could not be read, parked as malformed_message


def _malformed_row(
    *,
    received_at: datetime,
    source: str | None,
    request_id: str,
    field: str,
    message: str,
    payload: bytes | str,
    keys: list[str] | None,
    event_index: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    return bad_event_row(
        received_at=received_at,
        source=source,
        request_id=request_id,
        reason=MALFORMED,
        errors=[{"field": field, "message": message}],
        payload=payload,
        keys=keys,
        event_index=event_index,
        event_id=event_id,
    )


def bad_row_id(row: Mapping[str, Any]) -> str:
    """A stable id for a rejection row, so a redelivered message does not park it twice.

    received_at is left out: a malformed message gets the time it was loaded, which changes.
    """
    key = [row.get(name) for name in ("request_id", "event_index", "event_id", "reason")]
    key.append(row.get("payload"))
    digest = hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()
    return f"bad:{digest[:32]}"


def _record_text(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)


def _bad_event_row(record: Mapping[str, Any], envelope: Envelope, received: datetime) -> Any:
    """A rejection row from ingest, reduced to the table's columns with envelope defaults."""
    row = {name: record.get(name) for name in COLUMNS}
    row["received_at"] = parse_time(row["received_at"], "received_at") or received
    row["source"] = row["source"] if row["source"] is not None else envelope.source
    row["request_id"] = row["request_id"] or envelope.request_id
    if not isinstance(row["reason"], str) or not row["reason"]:
        raise RecordError("reason", "required string")
    for name in ("source", "request_id", "event_id", "payload"):
        if row[name] is not None and not isinstance(row[name], str):
            raise RecordError(name, "must be a string")
    if row["event_index"] is not None and (
        isinstance(row["event_index"], bool) or not isinstance(row["event_index"], int)
    ):
        raise RecordError("event_index", "must be an integer")
    if row["payload"] is not None:
        row["payload"] = truncate_payload(row["payload"])
    keys = row["user_keys"]
    if keys is None or row["keys_extracted"] is None:
        # From an ingest older than the column: erasure matches the row by its raw text.
        row["user_keys"], row["keys_extracted"] = [], False
    elif not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise RecordError("user_keys", "must be a list of strings")
    elif not isinstance(row["keys_extracted"], bool):
        raise RecordError("keys_extracted", "must be true or false")
    return row


def _rows_of(
    envelope: Envelope, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(event rows, bad_events rows) of one envelope."""
    received, sent_at = _envelope_times(envelope.received_at, envelope.sent_at)
    events: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    for index, record in enumerate(envelope.records):
        try:
            if envelope.kind == "events":
                row = event_row(
                    record_of(record),
                    source=envelope.source,
                    received_at=received,
                    envelope_sent_at=sent_at,
                    loaded_at=now,
                )
            else:
                row = _bad_event_row(record, envelope, received)
            # Only a message orjson did not read can hold such values; its row is checked
            # after enrichment so enrichment's own, more specific, errors come first.
            if not envelope.exact and (problem := inexact_value(row)) is not None:
                raise RecordError(*problem)
            (events if envelope.kind == "events" else bad).append(row)
        except RecordError as exc:
            event_id = record.get("event_id")
            bad.append(
                _malformed_row(
                    received_at=received,
                    source=envelope.source,
                    request_id=envelope.request_id,
                    field=exc.field,
                    message=exc.message,
                    payload=_record_text(record),
                    keys=user_keys(record) if envelope.kind == "events" else None,
                    event_index=index,
                    event_id=event_id if isinstance(event_id, str) else None,
                )
            )
    return events, bad


def _envelope_times(received_at: str, sent_at: str | None) -> tuple[datetime, datetime | None]:
    received = parse_time(received_at, "received_at")
    if received is None:  # both envelope readers check it is a string; parse_time checks the rest
        raise RecordError("received_at", "required")
    return received, parse_time(sent_at, "sent_at")


def _typed_rows(envelope: EventsEnvelope, now: datetime) -> list[dict[str, Any]]:
    """The event rows of an envelope decode_events read; RecordError if one cannot be a row."""
    received, sent_at = _envelope_times(envelope.received_at, envelope.sent_at)
    source = envelope.source
    return [
        event_row(
            record, source=source, received_at=received, envelope_sent_at=sent_at, loaded_at=now
        )
        for record in envelope.records
    ]


def _message_id(message: Message) -> str:
    return message.message_id or message.attributes.get("request_id") or "unknown"


@dataclass(frozen=True)
class PreparedLoad:
    """The rows of a batch of messages, ready to write: everything but the warehouse's part."""

    events: list[dict[str, Any]]
    bad: list[dict[str, Any]]
    malformed: int
    requests: list[str]  # the ingest request of each event row, for a refusal's bad_events row

    def write(self, warehouse: Warehouse) -> LoadStats:
        """Insert the rows; raises WarehouseError, and then the batch must be redelivered.

        An event row the warehouse refuses is parked in bad_events (reason refused_by_warehouse)
        and the rest are kept; a bad_events row refused is a bug of ours and raises.
        """
        events, bad = self.events, list(self.bad)
        refused = []
        # Events first: if the bad_events insert then fails, the redelivery re-sends events the
        # warehouse already has, which every read's de-duplication skips.
        if events:
            refused = warehouse.insert_rows(
                "events", events, row_ids=[row["event_id"] for row in events]
            )
            bad += [self._refused_row(r.index, r.message) for r in refused]
        if bad:
            insert_all(warehouse, "bad_events", bad, row_ids=[bad_row_id(row) for row in bad])
        return LoadStats(
            events=len(events) - len(refused), bad_events=len(bad), malformed=self.malformed
        )

    def _refused_row(self, index: int, message: str) -> dict[str, Any]:
        row = self.events[index]
        return bad_event_row(
            received_at=row["received_at"],
            source=row.get("source"),
            request_id=self.requests[index],
            reason=REFUSED,
            errors=[{"field": "event", "message": message}],
            payload=_record_text(row),
            keys=user_keys(row),
            event_id=row.get("event_id"),
        )


def prepare_load(messages: Sequence[Message], *, now: datetime | None = None) -> PreparedLoad:
    """Decode and enrich MESSAGES without touching the warehouse; never raises for bad data."""
    now = now or datetime.now(UTC)
    events: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    requests: list[str] = []
    malformed = 0
    for message in messages:
        typed = decode_events(message.data)
        if typed is not None:
            try:
                message_events = _typed_rows(typed, now)
            except RecordError:
                pass  # the dict path below parks the record that failed, with its payload
            else:
                events.extend(message_events)
                requests += [typed.request_id] * len(message_events)
                continue
        try:
            envelope = Envelope.from_message(message.data)
            message_events, message_bad = _rows_of(envelope, now)
        except (MalformedEnvelope, RecordError) as exc:
            malformed += 1
            bad.append(
                _malformed_row(
                    received_at=now,
                    source=message.attributes.get("source"),
                    request_id=_message_id(message),
                    field="message",
                    message=str(exc),
                    payload=message.data,
                    keys=None,
                )
            )
            continue
        malformed += sum(1 for row in message_bad if row["reason"] == MALFORMED)
        events.extend(message_events)
        requests += [envelope.request_id] * len(message_events)
        bad.extend(message_bad)
    return PreparedLoad(events=events, bad=bad, malformed=malformed, requests=requests)


def load_messages(
    messages: Sequence[Message], warehouse: Warehouse, *, now: datetime | None = None
) -> LoadStats:
    """Write the events and rejections of MESSAGES; raise WarehouseError to be redelivered."""
    return prepare_load(messages, now=now).write(warehouse)


@runtime_checkable
class StagingWarehouse(Protocol):
    """A warehouse whose insert_rows comes in two halves (the DuckDB adapter's)."""

    def stage_rows(
        self, table: str, rows: Sequence[Mapping[str, Any]], *, row_ids: Sequence[str] | None
    ) -> Staged: ...

    def insert_staged(self, staged: Staged) -> None: ...


class Staged(Protocol):
    def close(self) -> None: ...


class LoadHandler:
    """load_messages as a QueueWorker handler in two stages, so the worker can overlap them.

    `prepare` (decode, enrich and, for a warehouse that can, encode the rows: Python, holding
    the GIL) of the next batch then runs while the job it returned for this batch waits on the
    warehouse, which releases the GIL while it executes.
    """

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def __call__(self, messages: Sequence[Message]) -> None:
        self.prepare(messages)()

    def prepare(self, messages: Sequence[Message]) -> Callable[[], None]:
        prepared = prepare_load(messages)
        warehouse = self.warehouse
        if not isinstance(warehouse, StagingWarehouse):

            def write_rows() -> None:
                prepared.write(warehouse)

            return write_rows
        # Staging raises WarehouseError as insert_rows would; the batch is then nacked.
        staged: list[Staged] = []
        try:
            for table, rows, row_id in (
                ("events", prepared.events, _event_id),
                ("bad_events", prepared.bad, bad_row_id),
            ):
                if rows:
                    row_ids = [row_id(row) for row in rows]
                    staged.append(warehouse.stage_rows(table, rows, row_ids=row_ids))
        except BaseException:
            _close_all(staged)
            raise

        def write() -> None:
            # In order, events first, as PreparedLoad.write does.
            try:
                for one in staged:
                    warehouse.insert_staged(one)
            finally:
                _close_all(staged)  # those not reached after a failure

        return write


def _event_id(row: Mapping[str, Any]) -> Any:
    return row["event_id"]  # as PreparedLoad.write passes it


def _close_all(staged: Sequence[Staged]) -> None:
    for one in staged:
        one.close()
