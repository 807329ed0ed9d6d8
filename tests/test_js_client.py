"""The browser client (clients/js/beacon.js): its Node unit tests and size budget, and the module
itself in headless Chromium against the real ingest: two tabs, offline then online, a lost answer,
a page closed with a batch still queued. Every event lands once."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.envelope import Envelope
from functions.load.core import load_messages
from functions.local.duckdb_warehouse import DuckDBWarehouse
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.flaky import FlakyProxy
from tests.support.ingest import Server, serve_ingest
from tests.support.site import serve_site

CLIENT_DIR = Path(__file__).resolve().parents[1] / "clients" / "js"
NODE = shutil.which("node")
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head>
<body>shop<script type="module">
import { Beacon } from "/beacon.js";
window.beacon = new Beacon(JSON.parse(decodeURIComponent(location.hash.slice(1))));
</script></body></html>"""
TRACK = """([count, tab, text]) => Array.from({length: count}, (_, i) =>
  beacon.track("tab_event", {properties: {tab, i, text}}))"""

needs_node = pytest.mark.skipif(NODE is None, reason="Node is not installed")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is missing (scripts/setup-chromium.sh installs it)"
)


@needs_node
def test_the_node_unit_tests_pass() -> None:
    result = subprocess.run(
        [NODE or "node", "--test", "test/"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=CLIENT_DIR,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
    passed = int(result.stdout.split("# pass ")[1].split()[0])
    assert passed >= 18


@needs_node
@pytest.mark.skipif(
    not (CLIENT_DIR / "node_modules" / "terser").is_dir(),
    reason="terser is missing (scripts/setup-node-sdks.sh installs clients/js's packages)",
)
def test_the_module_is_under_3_kb_minified_and_gzipped() -> None:
    result = subprocess.run(
        [NODE or "node", "scripts/size.mjs"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=CLIENT_DIR,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    gzipped = int(result.stdout.split(" minified, ")[1].split()[0])
    assert 500 < gzipped <= 3072
    stated = f"{gzipped:,} bytes minified and gzipped"
    assert stated in (CLIENT_DIR / "README.md").read_text(), "the README states what was measured"


# -- in Chromium, against the real ingest ------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("js-client")
    with serve_ingest(directory, BEACON_ALLOWED_ORIGINS="*") as served:
        yield served


@pytest.fixture(autouse=True)
def empty_queue(server: Server) -> None:
    server.published()


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve_site(CLIENT_DIR, {"/page.html": PAGE}) as origin:
        yield origin


@pytest.fixture
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Chromium is missing (scripts/setup-chromium.sh installs it)")
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def open_tab(context: Any, site: str, **options: Any) -> Any:
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    page.goto(f"{site}/page.html#{urllib.parse.quote(json.dumps(options))}")
    page.wait_for_function("() => window.beacon !== undefined")
    return page


def published(server: Server, count: int, settle: float = 1.0, wait: float = 30) -> list[Any]:
    """The queue's messages once COUNT events came (or WAIT seconds passed), and SETTLE seconds
    more, so a duplicate sent late would be among them."""
    messages: list[Any] = []
    deadline = time.monotonic() + wait
    while sum_events(messages) < count and time.monotonic() < deadline:
        messages += claim(server)
        time.sleep(0.1)
    time.sleep(settle)
    return messages + claim(server)


def claim(server: Server) -> list[Any]:
    batch = server.queue.claim(1000)
    server.queue.ack([m.message_id for m in batch])
    return batch


def event_ids(messages: list[Any]) -> list[str]:
    envelopes = [Envelope.from_message(m.data) for m in messages]
    return [r["event_id"] for e in envelopes if e.kind == "events" for r in e.records]


def sum_events(messages: list[Any]) -> int:
    return len(event_ids(messages))


def landed(messages: list[Any], tmp_path: Path) -> list[dict[str, Any]]:
    """The events table after the real load of MESSAGES."""
    warehouse = DuckDBWarehouse(tmp_path / "beacon.duckdb")
    warehouse.ensure_tables()
    load_messages(messages, warehouse)
    rows = warehouse.query(
        "SELECT event_id, event_type, source, platform, anonymous_id, session_id, user_agent,"
        " browser, page_url, JSON_VALUE(properties, '$.tab') AS tab FROM events"
        " WHERE DATE(`timestamp`) >= '2000-01-01'"
    ).rows
    warehouse.close()
    return rows


@needs_chromium
@pytest.mark.browser
def test_two_tabs_share_one_queue_and_send_each_event_once(
    server: Server, site: str, browser: Any, tmp_path: Path
) -> None:
    context = browser.new_context()
    options = {"writeKey": "k1", "host": server.url, "batchSize": 5, "flushInterval": 150}
    tabs = [open_tab(context, site, **options), open_tab(context, site, **options)]
    tracked: list[str] = []
    for round_ in range(6):
        for number, tab in enumerate(tabs, 1):
            tracked += tab.evaluate(TRACK, [7, number, f"round {round_}"])
    messages = published(server, len(tracked))
    assert sorted(event_ids(messages)) == sorted(tracked)  # on the wire once: none twice
    rows = landed(messages, tmp_path)
    assert sorted(r["event_id"] for r in rows) == sorted(tracked)
    assert {r["tab"] for r in rows} == {"1", "2"}
    # Headless Chromium says so in its agent: uap-core's HeadlessChrome, and a bot.
    assert {(r["source"], r["platform"], r["browser"]) for r in rows} == {
        ("web", "web", "HeadlessChrome")
    }
    assert len({r["anonymous_id"] for r in rows}) == 1  # one visitor in two tabs
    assert len({r["session_id"] for r in rows}) == 1
    assert all(r["page_url"].startswith(site) for r in rows)
    assert [tab.problems for tab in tabs] == [[], []]


@needs_chromium
@pytest.mark.browser
def test_events_tracked_offline_land_once_when_back_online_despite_a_lost_answer(
    server: Server, site: str, browser: Any, tmp_path: Path
) -> None:
    with FlakyProxy(server.url) as proxy:
        context = browser.new_context()
        tab = open_tab(
            context, site, writeKey="k1", host=proxy.url, batchSize=50, flushInterval=100
        )
        context.set_offline(True)
        tracked = tab.evaluate(TRACK, [12, 1, "offline"])
        time.sleep(1.5)  # several flushes fail meanwhile
        assert claim(server) == []
        assert tab.evaluate("() => localStorage.length") >= 12
        context.set_offline(False)
        messages = published(server, 2 * len(tracked), settle=3)
    assert proxy.requests >= 2  # the first answer was lost, so the batch went again
    assert sorted(set(event_ids(messages))) == sorted(tracked)
    rows = landed(messages, tmp_path)
    assert sorted(r["event_id"] for r in rows) == sorted(tracked)  # once each in the warehouse
    assert tab.evaluate("() => Object.keys(localStorage).filter(k => k.includes('.e.'))") == []
    assert tab.problems == []


@needs_chromium
@pytest.mark.browser
def test_a_page_closed_with_a_queued_batch_loses_nothing_and_beacons_under_64_kb(
    server: Server, site: str, browser: Any, tmp_path: Path
) -> None:
    with FlakyProxy(server.url, lose_first=False) as proxy:
        context = browser.new_context()
        options = {"writeKey": "k1", "host": proxy.url, "batchSize": 1000, "flushInterval": 600000}
        tab = open_tab(context, site, **options)
        tracked = tab.evaluate(TRACK, [150, 1, "x" * 1000])  # about 200 KB: 4 beacons or more
        assert claim(server) == []
        tab.close(run_before_unload=True)  # pagehide: sendBeacon
        messages = published(server, len(tracked), wait=3)
        beaconed = sum_events(messages)
        # What a closed page could not send, the next page of the site does on load.
        open_tab(context, site, **options)
        messages += published(server, len(tracked) - beaconed, settle=0.5)
    assert beaconed > 0  # sendBeacon sent at least its first chunk as the page closed
    assert max(proxy.sizes) < 64 * 1024
    assert len(proxy.sizes) >= 4
    assert sorted(event_ids(messages)) == sorted(tracked)
    rows = landed(messages, tmp_path)
    assert sorted(r["event_id"] for r in rows) == sorted(tracked)
