"""The dashboard in headless Chromium: token prompt, every panel drawn, no console errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from functions.query import sample
from functions.warehouse.duckdb import DuckDBWarehouse
from tests.support.serve import REPO, serve_function

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "browser-test-token"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PANELS = [
    "realtime", "kpis", "hourly", "revenue", "platforms", "funnel",
    "retention", "lifecycle", "search", "errors", "top",
]  # fmt: skip


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run scripts/setup-chromium.sh")
    directory = tmp_path_factory.mktemp("dashboard")
    warehouse = DuckDBWarehouse(directory / "beacon.duckdb")
    warehouse.ensure_tables()
    now = datetime.now(UTC)
    sample.fill(warehouse, now.date(), 120, now)
    warehouse.close()
    env = {"BEACON_DATA_DIR": str(directory), "BEACON_ADMIN_TOKENS": TOKEN}
    with serve_function("query", env) as base_url:
        yield base_url + "/"


def open_dashboard(dashboard_url: str, viewport: dict[str, int], screenshot: str) -> list[str]:
    """Load the page, enter the token, wait for every panel; return console errors."""
    problems: list[str] = []
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(dashboard_url)
            page.wait_for_selector("#login[open]")
            page.fill("#token", TOKEN)
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#status:has-text('Updated')")
            for panel in PANELS:
                drawn = page.locator(f"[data-panel={panel}] svg [data-value]").count()
                assert drawn > 0, f"panel {panel} has no chart with data"
            assert page.evaluate("localStorage.getItem('beacon.adminToken')") == TOKEN
            assert "failed" not in page.text_content("#status")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
        finally:
            browser.close()
    return problems


def test_dashboard_draws_every_panel_on_a_laptop(dashboard_url: str) -> None:
    problems = open_dashboard(dashboard_url, {"width": 1366, "height": 900}, "dashboard.png")
    assert problems == []
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


def test_dashboard_draws_every_panel_on_a_phone(dashboard_url: str) -> None:
    problems = open_dashboard(dashboard_url, {"width": 390, "height": 844}, "dashboard-phone.png")
    assert problems == []
    assert (ARTIFACTS / "dashboard-phone.png").stat().st_size > 10_000
