"""The event schema, rule by rule: what is accepted, what is rejected and with which field."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from functions.schema import (
    MAX_EVENT_BYTES,
    MAX_PROPERTIES_DEPTH,
    InvalidJSON,
    parse_json,
    validate_events,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def check(event: object, **kwargs: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    return validate_events([event], received_at=NOW, **kwargs)


def errors_of(event: object) -> dict[str, str]:
    accepted, rejected = check(event)
    assert accepted == []
    assert len(rejected) == 1
    return {e.field: e.message for e in rejected[0].errors}


def accepted_one(event: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    accepted, rejected = check(event, **kwargs)
    assert rejected == []
    return accepted[0]


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def test_minimal_event_gets_uuid4_id_and_received_time() -> None:
    record = accepted_one({"event_type": "page_view"})
    assert uuid.UUID(record["event_id"]).version == 4
    assert record["timestamp"] == NOW.isoformat()
    assert record["event_type"] == "page_view"


def test_full_event_is_kept_with_utc_timestamps() -> None:
    event = {
        "event_type": "payment",
        "event_id": "e-1",
        "timestamp": "2024-05-01T13:30:00+02:00",
        "sent_at": "2024-05-01T11:31:00Z",
        "user_id": "u1",
        "anonymous_id": "a1",
        "session_id": "s1",
        "platform": "ios",
        "app_version": "3.2.1",
        "category": "checkout",
        "properties": {"provider_id": "p9", "items": [1, 2.5, None, True, {"x": "y"}]},
        "context": {"page_url": "https://a.example/x", "locale": "en-GB", "ip": "2001:db8::1"},
        "revenue": 12.5,
        "currency": "EUR",
        "duration_ms": 0,
        "success": True,
        "error_type": None,
    }
    record = accepted_one(event)
    assert record["timestamp"] == "2024-05-01T11:30:00+00:00"
    assert record["sent_at"] == "2024-05-01T11:31:00+00:00"
    assert {k: v for k, v in record.items() if k not in ("timestamp", "sent_at")} == {
        k: v for k, v in event.items() if k not in ("timestamp", "sent_at")
    }
    json.dumps(record)  # the record is JSON-able as it stands


def test_event_type_is_required() -> None:
    assert errors_of({"user_id": "u1"}) == {"event_type": "required"}


@pytest.mark.parametrize("event_type", ["PageView", "page-view", "1st", "_x", "", "a" * 65, 7])
def test_event_type_must_be_bounded_lower_snake_case(event_type: object) -> None:
    assert set(errors_of({"event_type": event_type})) == {"event_type"}


def test_event_type_of_64_chars_is_accepted() -> None:
    assert accepted_one({"event_type": "a" * 64})["event_type"] == "a" * 64


def test_unknown_top_level_field_is_named() -> None:
    assert errors_of({"event_type": "x", "foo": 1}) == {"foo": "unknown field 'foo'"}


def test_unknown_context_field_is_rejected_with_dotted_path() -> None:
    errors = errors_of({"event_type": "x", "context": {"screen": "home"}})
    assert errors == {"context.screen": "unknown field 'context.screen'"}


def test_context_strings_are_bounded() -> None:
    errors = errors_of({"event_type": "x", "context": {"user_agent": "u" * 1025}})
    assert list(errors) == ["context.user_agent"]


def test_context_ip_must_be_an_address() -> None:
    assert list(errors_of({"event_type": "x", "context": {"ip": "10.0.0.300"}})) == ["context.ip"]


@pytest.mark.parametrize("name", ["user_id", "anonymous_id", "session_id"])
def test_ids_must_be_non_empty_and_bounded(name: str) -> None:
    assert list(errors_of({"event_type": "x", name: ""})) == [name]
    assert list(errors_of({"event_type": "x", name: "i" * 257})) == [name]
    assert accepted_one({"event_type": "x", name: "i" * 256})[name] == "i" * 256


def test_event_id_is_at_most_64_chars_and_reported_back() -> None:
    accepted, rejected = check({"event_type": "x", "event_id": "e" * 65})
    assert accepted == []
    assert rejected[0].event_id == "e" * 65
    assert [e.field for e in rejected[0].errors] == ["event_id"]


def test_strings_are_not_coerced_from_numbers() -> None:
    assert list(errors_of({"event_type": "x", "user_id": 42})) == ["user_id"]


def test_platform_is_an_enum() -> None:
    assert accepted_one({"event_type": "x", "platform": "android"})["platform"] == "android"
    assert list(errors_of({"event_type": "x", "platform": "tv"})) == ["platform"]


def test_naive_timestamp_is_rejected() -> None:
    errors = errors_of({"event_type": "x", "timestamp": "2024-05-01T12:00:00"})
    assert "UTC offset" in errors["timestamp"]


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01T00:00:00Z", 1714564800, "2024-05-01"])
def test_timestamp_must_be_iso_8601_with_offset(value: object) -> None:
    assert list(errors_of({"event_type": "x", "timestamp": value})) == ["timestamp"]


def test_naive_sent_at_is_rejected() -> None:
    assert list(errors_of({"event_type": "x", "sent_at": "2024-05-01T12:00:00"})) == ["sent_at"]


def test_timestamp_more_than_24h_ahead_is_rejected() -> None:
    ahead = (NOW + timedelta(hours=24, minutes=1)).isoformat()
    assert errors_of({"event_type": "x", "timestamp": ahead}) == {
        "timestamp": "is more than 24 h in the future"
    }
    within = (NOW + timedelta(hours=23)).isoformat()
    assert accepted_one({"event_type": "x", "timestamp": within})["timestamp"] == within


def test_future_check_uses_clock_corrected_time() -> None:
    # A client whose clock runs three days fast: its own sent_at shows the skew.
    skew = timedelta(days=3)
    event = {
        "event_type": "x",
        "timestamp": (NOW + skew - timedelta(minutes=5)).isoformat(),
        "sent_at": (NOW + skew).isoformat(),
    }
    assert accepted_one(event)["timestamp"] == event["timestamp"]


def test_missing_timestamp_defaults_to_sent_at_so_correction_gives_received_time() -> None:
    sent = NOW - timedelta(minutes=2)
    record = accepted_one({"event_type": "x"}, sent_at=sent)
    assert record["timestamp"] == sent.isoformat()
    assert record["sent_at"] == sent.isoformat()


def test_event_sent_at_wins_over_batch_sent_at() -> None:
    own = "2024-05-01T11:00:00+00:00"
    record = accepted_one({"event_type": "x", "sent_at": own}, sent_at=NOW)
    assert record["sent_at"] == own


def test_currency_is_required_with_revenue() -> None:
    assert errors_of({"event_type": "payment", "revenue": 10.0}) == {
        "currency": "required when revenue is given"
    }


@pytest.mark.parametrize("currency", ["usd", "US", "USDT", "U$D"])
def test_currency_must_be_iso_4217(currency: str) -> None:
    errors = errors_of({"event_type": "payment", "revenue": 1.0, "currency": currency})
    assert errors == {"currency": "must be an ISO 4217 code: three capital letters"}


def test_negative_revenue_is_a_refund_and_accepted() -> None:
    record = accepted_one({"event_type": "refund", "revenue": -5, "currency": "USD"})
    assert record["revenue"] == -5


@pytest.mark.parametrize("name", ["revenue", "duration_ms"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "12", True])
def test_numbers_must_be_finite_numbers(name: str, value: object) -> None:
    event = {"event_type": "x", name: value, "currency": "USD"}
    assert list(errors_of(event)) == [name]


def test_duration_must_not_be_negative() -> None:
    assert list(errors_of({"event_type": "api_call", "duration_ms": -1})) == ["duration_ms"]


def test_success_must_be_a_real_boolean() -> None:
    assert list(errors_of({"event_type": "api_call", "success": "true"})) == ["success"]
    assert list(errors_of({"event_type": "api_call", "success": 1})) == ["success"]


def test_properties_must_be_an_object() -> None:
    assert list(errors_of({"event_type": "x", "properties": [1, 2]})) == ["properties"]


def test_properties_depth_is_bounded() -> None:
    assert accepted_one({"event_type": "x", "properties": nested(MAX_PROPERTIES_DEPTH - 1)})
    errors = errors_of({"event_type": "x", "properties": nested(MAX_PROPERTIES_DEPTH)})
    assert len(errors) == 1
    (path, message) = next(iter(errors.items()))
    assert path.startswith("properties.n.")
    assert "deeper than 8" in message


def test_nan_inside_properties_is_rejected_at_its_path() -> None:
    errors = errors_of({"event_type": "x", "properties": {"a": {"b": [1, float("nan")]}}})
    assert list(errors) == ["properties.a.b.1"]


def test_property_keys_and_strings_are_bounded() -> None:
    assert list(errors_of({"event_type": "x", "properties": {"k" * 129: 1}})) == ["properties"]
    long_value = {"event_type": "x", "properties": {"q": "s" * 8193}}
    assert list(errors_of(long_value)) == ["properties.q"]


def test_property_integers_fit_64_bits() -> None:
    assert list(errors_of({"event_type": "x", "properties": {"n": 2**63}})) == ["properties.n"]


def test_non_json_property_values_are_rejected() -> None:
    errors = errors_of({"event_type": "x", "properties": {"when": NOW}})
    assert errors == {"properties.when": "datetime is not a JSON value"}


def test_event_over_32_kb_serialised_is_rejected() -> None:
    properties = {f"k{i}": "v" * 8000 for i in range(5)}
    errors = errors_of({"event_type": "x", "properties": properties})
    assert list(errors) == ["event"]
    assert str(MAX_EVENT_BYTES) in errors["event"]


def test_event_just_under_32_kb_with_escapes_is_accepted() -> None:
    # Quotes escape to two bytes each; the bound must not reject what fits.
    properties = {f"k{i}": '"' * 3000 for i in range(5)}
    record = accepted_one({"event_type": "x", "properties": properties})
    assert len(json.dumps(record, separators=(",", ":")).encode()) < MAX_EVENT_BYTES


def test_the_size_limit_counts_the_bytes_json_writes_where_msgspec_writes_fewer() -> None:
    # json spells 1e16 as 1e+16: 6,000 of them fit the limit in msgspec's text, not in json's.
    event = {"event_type": "x", "properties": {"f": [1e16] * 6000}}
    record = {**event, "timestamp": NOW.isoformat(), "event_id": "e" * 36}
    written = len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())
    assert len(msgspec.json.encode(record)) < MAX_EVENT_BYTES < written
    errors = errors_of({**event, "event_id": "e" * 36})
    assert errors == {"event": f"serialises to {written} bytes; the limit is {MAX_EVENT_BYTES}"}


def test_non_object_event_is_rejected() -> None:
    accepted, rejected = validate_events(["page_view", None], received_at=NOW)
    assert accepted == []
    assert [(r.index, r.errors[0].field) for r in rejected] == [(0, "event"), (1, "event")]


def test_all_errors_of_an_event_are_reported_together() -> None:
    errors = errors_of({"event_type": "X", "platform": "tv", "properties": {"n": float("inf")}})
    assert set(errors) == {"event_type", "platform", "properties.n"}


def test_mixed_batch_keeps_order_and_indices() -> None:
    raw = [
        {"event_type": "a", "event_id": "1"},
        {"event_type": "b", "bogus": True, "event_id": "2"},
        {"event_type": "c"},
        7,
    ]
    accepted, rejected = validate_events(raw, received_at=NOW)
    assert [r["event_type"] for r in accepted] == ["a", "c"]
    assert [(r.index, r.event_id) for r in rejected] == [(1, "2"), (3, None)]


def test_null_optional_fields_mean_absent() -> None:
    record = accepted_one({"event_type": "x", "event_id": None, "timestamp": None, "context": None})
    assert uuid.UUID(record["event_id"]).version == 4
    assert record["timestamp"] == NOW.isoformat()


def test_received_at_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_events([], received_at=datetime(2024, 5, 1))  # deliberately naive


def test_rejection_serialises_to_the_response_shape() -> None:
    _, rejected = check({"event_type": "x", "foo": 1, "event_id": "e9"})
    assert rejected[0].to_dict() == {
        "index": 0,
        "event_id": "e9",
        "errors": [{"field": "foo", "message": "unknown field 'foo'"}],
    }


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', "[-Infinity]"])
def test_parse_json_refuses_nan_and_infinity(text: str) -> None:
    with pytest.raises(InvalidJSON, match="finite"):
        parse_json(text)


def test_parse_json_refuses_deep_nesting_cleanly() -> None:
    with pytest.raises(InvalidJSON):
        parse_json("[" * 200_000 + "]" * 200_000)


def realistic_events(count: int) -> list[object]:
    kinds = ["page_view", "search", "payment", "api_call", "login"]
    events: list[dict[str, Any]] = []
    for i in range(count):
        event: dict[str, Any] = {
            "event_type": kinds[i % len(kinds)],
            "timestamp": (NOW - timedelta(seconds=i)).isoformat(),
            "user_id": f"user-{i % 700}",
            "session_id": f"session-{i % 3000}",
            "platform": "web",
            "app_version": "2.3.1",
            "context": {
                "page_url": "https://app.example/jobs/123?ref=home",
                "referrer": "https://www.google.com/",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0",
                "locale": "en-GB",
            },
            "properties": {"screen": "jobs", "query": "plumber", "result_count": 12},
        }
        if i % 5 == 2:
            event.update(revenue=49.5, currency="GBP")
        if i % 5 == 3:
            event.update(duration_ms=87.5, success=True)
        events.append(event)
    return json.loads(json.dumps(events))  # type: ignore[no-any-return]


def test_accepts_10k_realistic_events_each_with_its_own_id() -> None:
    # Speed is measured in bench/ingest.py, not here.
    accepted, rejected = validate_events(realistic_events(10_000), received_at=NOW)
    assert rejected == []
    assert len({record["event_id"] for record in accepted}) == 10_000
