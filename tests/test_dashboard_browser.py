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
    "explore", "realtime", "kpis", "hourly", "revenue", "platforms", "funnel",
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
            strip = page.text_content("#health") or ""
            assert "Last event loaded" in strip and "Dead letters 0" in strip, strip
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


EXPLORE_QUESTION = "#explore?event=search&measure=users&interval=day&days=7&breakdown=platform"


def test_explore_reads_its_question_from_the_url_draws_it_and_exports_csv(
    dashboard_url: str,
) -> None:
    """A shared link opens on its question; asking another rewrites the link; CSV holds the
    points drawn, which are the API's answer to the same question."""
    problems: list[str] = []
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, accept_downloads=True)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(dashboard_url)
            page.evaluate(f"localStorage.setItem('beacon.adminToken', '{TOKEN}')")
            page.goto(dashboard_url + EXPLORE_QUESTION)  # the fragment alone: no new load
            page.reload()
            page.wait_for_selector("#status:has-text('Updated')")
            assert page.input_value("#x-measure") == "users"
            assert page.input_value("#x-days") == "7"
            assert page.text_content("#explore .chart-title").startswith("users of search")
            answer = page.evaluate(
                """async () => (await fetch('/v1/insights?event=search&measure=users&interval=day'
                + '&days=7&limit=6&breakdown=platform',
                { headers: { Authorization: 'Bearer ' + localStorage.getItem('beacon.adminToken') }
                })).json()"""
            )
            drawn = page.eval_on_selector_all(
                "#explore circle[data-value]", "dots => dots.map(d => Number(d.dataset.value))"
            )
            expected = [p["value"] for one in answer["series"] for p in one["points"]]
            assert drawn == expected and sum(drawn) > 0

            page.select_option("#x-measure", "events")
            page.select_option("#x-breakdown", "")
            page.fill("#x-filter", "platform=web")
            page.click("#explore-form button[type=submit]")
            page.wait_for_selector("#explore .chart-title:has-text('events of search')")
            assert "measure=events" in page.url and "filter=platform%3Dweb" in page.url
            with page.expect_download() as download_info:
                page.click("#explore-csv")
            rows = download_info.value.path().read_text().splitlines()
            assert rows[0] == "t,key,value"
            total = sum(int(row.rsplit(",", 1)[1]) for row in rows[1:])
            searches = sum(
                1 for _, steps in pipeline_data.JOURNEYS for s in steps if s[0] == "search"
            )
            assert total >= searches  # the journeys' searches, plus the demo traffic's
            ARTIFACTS.mkdir(exist_ok=True)
            page.locator("[data-panel=explore]").screenshot(path=str(ARTIFACTS / "explore.png"))
        finally:
            browser.close()
    assert problems == []
    assert (ARTIFACTS / "explore.png").stat().st_size > 5_000
