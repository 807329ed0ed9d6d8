"""The dashboard in headless Chromium on data from the real pipeline: token prompt, every panel
drawn, no console errors; screenshots in test-artifacts/ for a human to look at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import pipeline_data
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.serve import REPO, serve_function

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

TOKEN = "browser-test-token"
ARTIFACTS = REPO / "test-artifacts"
PANELS = [
    "realtime", "kpis", "hourly", "revenue", "platforms", "funnel",
    "retention", "lifecycle", "search", "errors", "top",
]  # fmt: skip

# Per panel: [charts, charts drawing no data point, "no data" placeholders, px of horizontal
# overflow]. Real data is uneven (long labels, thin stages, quiet hours), so any chart left blank
# or any label pushing its panel wider than the screen shows up here, not only in screenshots.
PANEL_CHARTS = """() => Object.fromEntries([...document.querySelectorAll("[data-panel]")].map(
  (panel) => {
    const charts = [...panel.querySelectorAll("svg")];
    return [panel.dataset.panel, [
      charts.length,
      charts.filter((chart) => !chart.querySelector("[data-value]")).length,
      panel.querySelectorAll(".empty").length,
      panel.scrollWidth - panel.clientWidth,
    ]];
  }))"""


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run scripts/setup-chromium.sh")
    directory = tmp_path_factory.mktemp("dashboard")
    # What a user of `beacon dev` sees: demo traffic loaded and rolled up by the real pipeline.
    pipeline_data.build(directory / "beacon.duckdb")
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
            charts = page.evaluate(PANEL_CHARTS)
            assert sorted(charts) == sorted(PANELS)
            for panel, (drawn, blank, placeholders, overflow) in charts.items():
                assert drawn > 0, f"panel {panel} has no chart"
                assert blank == 0, f"panel {panel} has {blank} chart(s) without data"
                assert placeholders == 0, f"panel {panel} says it has no data"
                assert overflow <= 0, f"panel {panel} is {overflow} px wider than its box"
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
