"""Segment's HTTP Tracking API on the real ingest: the paths, keys and bodies Segment-speaking
SDKs use, the mapping onto Beacon's schema, and the real Python SDKs end to end into DuckDB."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.envelope import Envelope
from functions.ingest.segment_api import SPEC_EVENTS, event_type_for, to_beacon
from functions.load.core import load_messages
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.rollup.runner import run_rollups
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.flaky import FlakyProxy
from tests.support.ingest import Server, serve_ingest
from tests.support.site import serve_site

KEY = "k1"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("segment")
    with serve_ingest(directory, BEACON_ALLOWED_ORIGINS="*") as served:
        yield served


@pytest.fixture(autouse=True)
def empty_queue(server: Server) -> None:
    server.published()


def post(server: Server, path: str, body: Any, **kwargs: Any) -> requests.Response:
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", BASIC)}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(server.url + path, data=data, headers=headers, timeout=10, **kwargs)


# -- the mapping, as data --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "event_type"),
    [
        ("Order Completed", "payment"),
        ("Order Refunded", "refund"),
        ("Products Searched", "search"),
        ("Product Reviewed", "review"),
        ("Signed Up", "signup"),
        ("Signed In", "login"),
        ("Button Clicked", "button_clicked"),
        ("  Add-To Cart!! ", "add_to_cart"),
        ("3D View", "e_3d_view"),
        ("", "unnamed_event"),
        ("x" * 100, "x" * 64),
    ],
)
def test_track_names_become_beacon_event_types(name: str, event_type: str) -> None:
    assert event_type_for(name) == event_type


def test_every_spec_event_maps_onto_a_conventional_event() -> None:
    conventional = {"payment", "refund", "search", "review", "signup", "login"}
    assert {spec.event_type for spec in SPEC_EVENTS.values()} == conventional


def test_a_track_call_maps_field_by_field() -> None:
    message = {
        "type": "track",
        "event": "Order Completed",
        "messageId": "m-1",
        "userId": "u-1",
        "anonymousId": "",
        "originalTimestamp": "2026-05-01T10:00:00Z",
        "sentAt": "2026-05-01T10:00:05Z",
        "properties": {"total": 30, "currency": "eur", "order_id": "o1"},
        "context": {
            "ip": "203.0.113.9",
            "locale": "de-DE",
            "userAgent": "Mozilla/5.0",
            "page": {"url": "https://shop.example/cart", "referrer": "https://ads.example/"},
            "app": {"version": "2.3.1"},
            "os": {"name": "iOS", "version": "17"},
            "campaign": {"source": "news"},
            "brandNewField": {"from": "a newer SDK"},
        },
    }
    event = to_beacon(message, None, None)
    assert event == {
        "event_type": "payment",
        "event_id": "m-1",
        "user_id": "u-1",
        "timestamp": "2026-05-01T10:00:00Z",
        "sent_at": "2026-05-01T10:00:05Z",
        "platform": "ios",
        "app_version": "2.3.1",
        "context": {
            "page_url": "https://shop.example/cart",
            "referrer": "https://ads.example/",
            "user_agent": "Mozilla/5.0",
            "locale": "de-DE",
            "ip": "203.0.113.9",
        },
        "properties": {"total": 30, "currency": "eur", "order_id": "o1"},
        "revenue": 30,
        "currency": "EUR",
        "extra": {
            "segment_call": "track",
            "segment_event": "Order Completed",
            "context": {
                "os": {"name": "iOS", "version": "17"},
                "campaign": {"source": "news"},
                "brandNewField": {"from": "a newer SDK"},
            },
        },
    }


def test_a_refund_is_negative_revenue_and_identify_group_alias_keep_their_ids() -> None:
    refund = to_beacon(
        {"type": "track", "event": "Order Refunded", "properties": {"total": 9}}, None, None
    )
    assert refund["revenue"] == -9 and refund["currency"] == "USD"
    identify = to_beacon({"type": "identify", "userId": 7, "traits": {"plan": "pro"}}, None, None)
    assert identify["event_type"] == "identify" and identify["user_id"] == "7"
    assert identify["properties"] == {"plan": "pro"}
    group = to_beacon({"type": "group", "groupId": "g1", "traits": {"n": 1}}, None, None)
    assert group["extra"]["group_id"] == "g1" and group["properties"] == {"n": 1}
    alias = to_beacon({"type": "alias", "userId": "u2", "previousId": "a9"}, None, None)
    assert alias["event_type"] == "alias" and alias["extra"]["previous_id"] == "a9"


def test_context_values_no_json_column_can_hold_are_dropped_not_refused() -> None:
    event = to_beacon(
        {"type": "page", "context": {"weird": {"n": 2**70, "f": float("inf"), "ok": 1}}}, None, None
    )
    assert event["extra"]["context"] == {"weird": {"ok": 1}}


# -- the HTTP API ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "event_type"),
    [
        ("/v1/track", {"event": "Signed Up", "userId": "u"}, "signup"),
        ("/v1/page", {"name": "Home", "anonymousId": "a"}, "page_view"),
        ("/v1/screen", {"name": "Home", "anonymousId": "a"}, "page_view"),
        ("/v1/identify", {"userId": "u", "traits": {"x": 1}}, "identify"),
        ("/v1/group", {"userId": "u", "groupId": "g"}, "group"),
        ("/v1/alias", {"userId": "u", "previousId": "a"}, "alias"),
        ("/v1/t", {"type": "track", "event": "Products Searched", "userId": "u"}, "search"),
        ("/v1/p", {"type": "page", "anonymousId": "a"}, "page_view"),
    ],
)
def test_each_call_path_answers_exactly_200_and_stores_the_event(
    server: Server, path: str, body: dict[str, Any], event_type: str
) -> None:
    response = post(server, path, body)
    assert response.status_code == 200
    assert response.json()["success"] is True
    (event,), bad = server.records()
    assert event["event_type"] == event_type and bad == []


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/import", "/v1/b", "/beacon/v1/batch"])
def test_a_segment_batch_is_accepted_on_every_batch_path(server: Server, path: str) -> None:
    batch = {
        "batch": [
            {"type": "track", "event": "Signed In", "userId": "u", "messageId": f"{path}-1"},
            {"type": "page", "anonymousId": "a", "messageId": f"{path}-2"},
        ],
        "sentAt": datetime.now(UTC).isoformat(),
    }
    assert post(server, path, batch).status_code == 200
    events, _ = server.records()
    assert [e["event_id"] for e in events] == [f"{path}-1", f"{path}-2"]


@pytest.mark.parametrize(
    "auth",
    [
        {"headers": BASIC},
        {"headers": {"Authorization": f"Bearer {KEY}"}},
        {"headers": {}, "params": {"writeKey": KEY}},
        {"headers": {}, "in_body": True},
    ],
    ids=["basic", "bearer", "query", "body"],
)
def test_the_write_key_is_taken_as_the_sdks_send_it(server: Server, auth: dict[str, Any]) -> None:
    body: dict[str, Any] = {"batch": [{"type": "track", "event": "a", "userId": "u"}]}
    if auth.pop("in_body", False):
        body["writeKey"] = KEY
    assert post(server, "/v1/batch", body, **auth).status_code == 200


def test_a_wrong_key_anywhere_is_401_and_nothing_is_kept(server: Server) -> None:
    body = {"writeKey": "nope", "batch": [{"type": "track", "event": "a"}]}
    assert post(server, "/v1/batch", body, headers={}).status_code == 401
    assert server.records() == ([], [])


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json"]
)
def test_bodies_are_json_whatever_the_content_type_and_gzip_by_encoding(
    server: Server, content_type: str
) -> None:
    body = gzip.compress(
        json.dumps({"batch": [{"type": "track", "event": "a", "userId": "u"}]}).encode()
    )
    headers = {**BASIC, "Content-Type": content_type, "Content-Encoding": "gzip"}
    assert post(server, "/v1/batch", body, headers=headers).status_code == 200


def test_good_messages_are_kept_and_each_bad_one_is_recorded(server: Server) -> None:
    batch = {
        "batch": [
            {"type": "track", "event": "a", "userId": "u", "messageId": "good"},
            {"type": "track", "event": "a", "timestamp": "yesterday", "userId": "bad-time"},
            "not a message",
        ]
    }
    response = post(server, "/v1/batch", batch)
    assert response.status_code == 200
    assert response.json()["rejected_count"] == 2
    events, bad = server.records()
    assert [e["event_id"] for e in events] == ["good"]
    assert sorted(r["event_index"] for r in bad) == [1, 2]
    # Rejections keep the message as the SDK sent it, with the user named for erasure.
    assert json.loads(bad[0]["payload"])["timestamp"] == "yesterday"
    assert bad[0]["user_keys"] == ["bad-time"]


def test_a_batch_that_can_never_succeed_is_400(server: Server) -> None:
    response = post(server, "/v1/batch", {"batch": [{"type": "track", "timestamp": "never"}]})
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_up_to_4_mb_is_accepted_and_more_is_413(server: Server) -> None:
    message = {"type": "track", "event": "a", "userId": "u", "properties": {"t": "x" * 8000}}
    big = {"batch": [message] * 450}  # about 3.7 MB
    assert post(server, "/v1/batch", big).status_code == 200
    too_big = {"batch": [message] * 600}
    assert post(server, "/v1/batch", too_big).status_code == 413


def test_analytics_js_metrics_are_answered_and_dropped(server: Server) -> None:
    response = post(server, "/v1/m", {"series": [{"type": "Counter"}]}, headers={})
    assert response.status_code == 200
    assert server.records() == ([], [])


def test_a_preflight_allows_the_headers_the_sdk_asks_for(server: Server) -> None:
    response = requests.options(
        server.url + "/v1/t",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, anonymousid, x-rudder-sdk",
        },
        timeout=10,
    )
    assert response.status_code == 204
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"content-type", "anonymousid", "x-rudder-sdk"} <= allowed
    assert response.headers["Access-Control-Max-Age"] == "86400"


def test_the_native_batch_on_the_same_path_is_unchanged(server: Server) -> None:
    response = post(server, "/v1/batch", {"events": [{"event_type": "a"}]})
    assert response.status_code == 202
    assert "success" not in response.json()
    bad_type = post(
        server,
        "/v1/batch",
        {"events": [{"event_type": "a"}]},
        headers={**BASIC, "Content-Type": "text/csv"},
    )
    assert bad_type.status_code == 415


# -- the real SDKs ---------------------------------------------------------------------------


def send_spec_events(client: Any) -> None:
    client.track("u-sdk", "Order Completed", {"total": 42.0, "currency": "EUR", "order_id": "o-1"})
    client.track("u-sdk", "Products Searched", {"query": "plumber", "result_count": 3})
    client.page("u-sdk", "Docs", "Home", {"url": "https://shop.example/"})
    client.identify("u-sdk", {"plan": "pro"})
    client.flush()


def loaded(server: Server, tmp_path: Path) -> list[dict[str, Any]]:
    messages = []
    while batch := server.queue.claim(1000):
        server.queue.ack([m.message_id for m in batch])
        messages += batch
    return loaded_from(messages, tmp_path)


def loaded_from(messages: list[Any], tmp_path: Path) -> list[dict[str, Any]]:
    warehouse = DuckDBWarehouse(tmp_path / "beacon.duckdb")
    warehouse.ensure_tables()
    load_messages(messages, warehouse)
    today = datetime.now(UTC).date()
    run_rollups(warehouse, start=today, end=today, churn_days=30)
    # What the dashboard's revenue and search panels read (functions/query/reports.py).
    panels = warehouse.query(
        "SELECT (SELECT SUM(revenue) FROM revenue_daily WHERE date = @d AND currency = 'EUR')"
        " AS revenue, (SELECT SUM(searches) FROM search_daily WHERE date = @d"
        " AND query = 'plumber') AS searches",
        {"d": today},
    ).rows[0]
    assert panels == {"revenue": 42.0, "searches": 1}
    rows = warehouse.query(
        "SELECT event_id, event_type, user_id, revenue, currency, page_url, platform,"
        " JSON_VALUE(properties, '$.query') AS query, timestamp FROM events"
        " WHERE DATE(`timestamp`) >= '2000-01-01' ORDER BY event_type"
    ).rows
    warehouse.close()
    return rows


def check_landed_once(rows: list[dict[str, Any]]) -> None:
    assert [r["event_type"] for r in rows] == ["identify", "page_view", "payment", "search"]
    assert {r["user_id"] for r in rows} == {"u-sdk"}
    assert len({r["event_id"] for r in rows}) == 4
    payment = rows[2]
    assert (payment["revenue"], payment["currency"]) == (42.0, "EUR")
    assert rows[3]["query"] == "plumber"
    assert rows[1]["page_url"] == "https://shop.example/"
    now = datetime.now(UTC)
    assert all(abs(r["timestamp"] - now) < timedelta(minutes=5) for r in rows)


def test_segment_analytics_python_events_land_once_despite_a_retry(
    server: Server, tmp_path: Path
) -> None:
    from segment.analytics import Client

    with FlakyProxy(server.url) as proxy:
        client = Client(KEY, host=proxy.url, max_retries=3)
        send_spec_events(client)
    assert proxy.requests >= 2  # the 503 was retried
    check_landed_once(loaded(server, tmp_path))


def test_rudder_sdk_python_events_land_once_despite_a_retry(server: Server, tmp_path: Path) -> None:
    from rudderstack.analytics.client import Client

    with FlakyProxy(server.url) as proxy:
        client = Client(KEY, host=proxy.url, max_retries=3)  # gzips by default
        send_spec_events(client)
    assert proxy.requests >= 2
    check_landed_once(loaded(server, tmp_path))


SDK_DIR = Path(__file__).resolve().parent / "sdk"
NODE = shutil.which("node")
needs_node_sdks = pytest.mark.skipif(
    NODE is None or not (SDK_DIR / "node_modules").is_dir(),
    reason="Node or the SDKs of tests/sdk are missing (scripts/setup-node-sdks.sh installs them)",
)


@needs_node_sdks
@pytest.mark.parametrize("sdk", ["segment", "rudder"])
def test_node_sdk_events_land_once_despite_a_retry(
    server: Server, tmp_path: Path, sdk: str
) -> None:
    assert NODE is not None
    with FlakyProxy(server.url) as proxy:
        result = subprocess.run(
            [NODE, str(SDK_DIR / "send.cjs"), sdk, proxy.url, KEY, "u-sdk"],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=SDK_DIR,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    assert proxy.requests >= 2
    check_landed_once(loaded(server, tmp_path))


needs_browser_sdks = pytest.mark.skipif(
    not CHROMIUM.exists() or not (SDK_DIR / "node_modules").is_dir(),
    reason="Chromium (scripts/setup-chromium.sh) or tests/sdk's SDKs (scripts/setup-node-sdks.sh)"
    " are missing",
)
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>shop</title>
<script src="/sdk/@segment/analytics-next/dist/umd/index.js"></script>
<script src="/sdk/@rudderstack/analytics-js/dist/npm/modern/bundled/umd/index.js"></script>
</head><body>shop</body></html>"""
SEGMENT_BROWSER = """async ({writeKey, apiHost, batching}) => {
  const delivery = batching ? {strategy: "batching", config: {size: 4, timeout: 300}} : undefined;
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(
    {writeKey, cdnSettings: {integrations: {"Segment.io": {apiKey: writeKey}},
                             metrics: {sampleRate: 0}}},
    {integrations: {"Segment.io": {apiHost, protocol: "http", deliveryStrategy: delivery}}});
  await analytics.identify("u-web", {plan: "pro"});
  await analytics.track("Order Completed", {total: 42, currency: "EUR"});
  await analytics.track("Products Searched", {query: "plumber", result_count: 3});
  await analytics.page("Docs", "Home");
  return true;
}"""
RUDDER_BROWSER = """async ({writeKey, dataPlane, beacon}) => {
  const ra = new rudderanalytics.RudderAnalytics();
  ra.load(writeKey, dataPlane, {
    getSourceConfig: () => ({source: {id: "beacon", name: "beacon", enabled: true, config: {},
                                      destinations: []}}),
    polyfillIfRequired: false, useBeacon: beacon, logLevel: "ERROR"});
  await new Promise((resolve) => ra.ready(resolve));
  ra.identify("u-web", {plan: "pro"});
  ra.track("Order Completed", {total: 42, currency: "EUR"});
  ra.track("Products Searched", {query: "plumber", result_count: 3});
  ra.page("Docs", "Home");
  return true;
}"""


def shop_site() -> contextlib.AbstractContextManager[str]:
    """The web app's own origin: the page and the SDK bundles from tests/sdk."""
    return serve_site(SDK_DIR / "node_modules", {"/page.html": PAGE}, strip="/sdk")


def wait_for_events(server: Server, tmp_path: Path, count: int) -> list[dict[str, Any]]:
    """Collect what ingest publishes until COUNT events came (or 30 s), then load it all."""
    messages: list[Any] = []
    deadline = time.monotonic() + 30
    events = 0
    while events < count and time.monotonic() < deadline:
        batch = server.queue.claim(1000)
        server.queue.ack([m.message_id for m in batch])
        messages += batch
        events += sum(
            len(e.records)
            for e in map(Envelope.from_message, (m.data for m in batch))
            if e.kind == "events"
        )
        time.sleep(0.1)
    time.sleep(0.5)  # a duplicate sent right after would land now
    messages += server.queue.claim(1000)
    return loaded_from(messages, tmp_path)


@needs_browser_sdks
@pytest.mark.browser
@pytest.mark.parametrize(
    ("sdk", "option"),
    [("segment", False), ("segment", True), ("rudder", False), ("rudder", True)],
    ids=["analytics-next", "analytics-next-batching", "rudder-xhr", "rudder-beacon"],
)
def test_browser_sdk_events_land_once(
    server: Server, tmp_path: Path, sdk: str, option: bool
) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    beacon = sdk == "rudder" and option  # sendBeacon sees no answer, so it cannot retry
    with (
        shop_site() as site,
        FlakyProxy(server.url) as proxy,
        playwright_api.sync_playwright() as driver,
    ):
        target = server.url if beacon else proxy.url
        host = target.removeprefix("http://")
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(site + "/page.html")
            if sdk == "segment":
                page.evaluate(
                    SEGMENT_BROWSER, {"writeKey": KEY, "apiHost": f"{host}/v1", "batching": option}
                )
            else:
                page.evaluate(
                    RUDDER_BROWSER, {"writeKey": KEY, "dataPlane": target, "beacon": option}
                )
            if sdk == "rudder" and option:
                # The beacon transport sends when the page is left: what sendBeacon is for.
                page.goto(site + "/page.html?next")
            rows = wait_for_events(server, tmp_path, 4)
        finally:
            browser.close()
    assert problems == []
    if not beacon:
        assert proxy.requests >= 2  # the first delivery was answered 503 and sent again
    assert [r["event_type"] for r in rows] == ["identify", "page_view", "payment", "search"]
    assert len({r["event_id"] for r in rows}) == 4  # once each, retry or not
    assert {r["user_id"] for r in rows} == {"u-web"}
    assert {r["platform"] for r in rows} == {"web"}
    assert (rows[2]["revenue"], rows[2]["currency"]) == (42.0, "EUR")
    assert rows[3]["query"] == "plumber"
