"""Enrichment rules of the load function: clock skew, IP anonymisation, user agents."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from functions.catalogue import table
from functions.load.enrich import anonymise_ip, event_row
from functions.load.record import RecordError, record_of
from functions.load.useragent import parse_user_agent

RECEIVED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
LOADED = RECEIVED + timedelta(seconds=2)

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
EDGE_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67"
)
CHROME_ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def row_for(record: dict[str, Any], envelope_sent_at: datetime | None = None) -> dict[str, Any]:
    return event_row(
        record_of({"event_id": "e1", "event_type": "page_view", **record}),
        source="web",
        received_at=RECEIVED,
        envelope_sent_at=envelope_sent_at,
        loaded_at=LOADED,
    )


def test_row_has_exactly_the_events_table_columns() -> None:
    ddl = sqlglot.parse_one(table("events").ddl, read="bigquery")
    table_columns = [column.name for column in ddl.find_all(exp.ColumnDef)]
    assert sorted(row_for({})) == sorted(table_columns)


def test_clock_skew_is_corrected_with_the_event_sent_at() -> None:
    skew = timedelta(hours=3, seconds=7)  # the client's clock is ahead
    client_time = RECEIVED + skew - timedelta(minutes=5)
    sent_at = RECEIVED + skew
    row = row_for({"timestamp": client_time.isoformat(), "sent_at": sent_at.isoformat()})
    assert row["timestamp"] == client_time - skew
    assert row["client_timestamp"] == client_time
    assert row["sent_at"] == sent_at
    assert row["received_at"] == RECEIVED
    assert row["loaded_at"] == LOADED


def test_envelope_sent_at_is_used_when_the_event_has_none() -> None:
    skew = timedelta(minutes=-40)  # the client's clock is behind
    client_time = RECEIVED + skew - timedelta(seconds=30)
    row = row_for({"timestamp": client_time.isoformat()}, envelope_sent_at=RECEIVED + skew)
    assert row["timestamp"] == client_time - skew


def test_event_sent_at_wins_over_the_envelope_one() -> None:
    client_time = RECEIVED - timedelta(minutes=1)
    event_sent = RECEIVED - timedelta(seconds=10)
    row = row_for(
        {"timestamp": client_time.isoformat(), "sent_at": event_sent.isoformat()},
        envelope_sent_at=RECEIVED - timedelta(hours=5),
    )
    assert row["timestamp"] == client_time + (RECEIVED - event_sent)


def test_without_sent_at_the_client_time_is_kept_and_without_time_received_at() -> None:
    client_time = RECEIVED - timedelta(minutes=2)
    assert row_for({"timestamp": client_time.isoformat()})["timestamp"] == client_time
    timeless = row_for({})
    assert timeless["timestamp"] == RECEIVED
    assert timeless["client_timestamp"] is None


def test_offsets_are_normalised_to_utc() -> None:
    row = row_for({"timestamp": "2024-05-01T14:00:00+02:00"})
    assert row["timestamp"] == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert row["timestamp"].utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("address", "expected_network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
    ],
)
def test_ip_is_cut_to_its_network(address: str, expected_network: str) -> None:
    anonymised = anonymise_ip(address)
    assert anonymised is not None
    assert ipaddress.ip_address(anonymised) in ipaddress.ip_network(expected_network)
    assert anonymised == str(ipaddress.ip_network(expected_network).network_address)
    assert anonymised != address


@pytest.mark.parametrize("address", ["not an ip", "999.1.1.1", "", None, 42])
def test_invalid_ip_is_stored_as_null(address: object) -> None:
    assert anonymise_ip(address) is None


def test_context_is_flattened_and_ip_anonymised() -> None:
    context = {
        "page_url": "https://shop.example/cart",
        "referrer": "https://search.example/",
        "user_agent": CHROME_WINDOWS,
        "locale": "en-GB",
        "ip": "192.0.2.201",
    }
    row = row_for({"context": context, "properties": {"screen": "cart"}})
    assert {k: row[k] for k in ("page_url", "referrer", "user_agent", "locale")} == {
        k: context[k] for k in ("page_url", "referrer", "user_agent", "locale")
    }
    assert row["ip"] == "192.0.2.0"
    assert row["properties"] == {"screen": "cart"}
    assert (row["browser"], row["os"], row["device"], row["is_bot"]) == (
        "Chrome",
        "Windows",
        "desktop",
        False,
    )


@pytest.mark.parametrize(
    ("agent", "browser", "system", "device"),
    [
        (CHROME_WINDOWS, "Chrome", "Windows", "desktop"),
        (SAFARI_IPHONE, "Mobile Safari", "iOS", "mobile"),
        (SAFARI_IPAD, "Mobile Safari", "iOS", "tablet"),
        (FIREFOX_LINUX, "Firefox", "Linux", "desktop"),
        (EDGE_MAC, "Edge", "Mac OS X", "desktop"),
        (CHROME_ANDROID_PHONE, "Chrome Mobile", "Android", "mobile"),
        (ANDROID_TABLET, "Chrome", "Android", "tablet"),
        ("SomeTV/1.0", "Other", "Other", "other"),
    ],
)
def test_user_agent_families_are_uap_cores(
    agent: str, browser: str, system: str, device: str
) -> None:
    parsed = parse_user_agent(agent)
    assert (parsed.browser, parsed.os, parsed.device, parsed.is_bot) == (
        browser,
        system,
        device,
        False,
    )


@pytest.mark.parametrize(
    "agent",
    [
        GOOGLEBOT,
        HEADLESS,
        "curl/8.5.0",
        "python-requests/2.31.0",
        "Go-http-client/1.1",
        "Wget/1.21.4",
        "facebookexternalhit/1.1",
        "",
    ],
)
def test_crawlers_headless_browsers_and_http_tools_are_bots(agent: str) -> None:
    parsed = parse_user_agent(agent)
    assert parsed.is_bot
    assert parsed.device == "bot"


def test_missing_user_agent_leaves_agent_fields_null() -> None:
    row = row_for({"context": {"locale": "fr"}})
    assert [row[k] for k in ("user_agent", "browser", "os", "device", "is_bot")] == [None] * 5


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"event_id": None}, "event_id"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2024-05-01T10:00:00"}, "timestamp"),
        ({"revenue": "12"}, "revenue"),
        ({"success": "yes"}, "success"),
        ({"context": {"user_agent": 5}}, "context.user_agent"),
        ({"properties": [1, 2]}, "properties"),
    ],
)
def test_records_that_cannot_be_rows_name_the_field(record: dict[str, Any], field: str) -> None:
    with pytest.raises(RecordError) as caught:
        row_for(record)
    assert caught.value.field == field
