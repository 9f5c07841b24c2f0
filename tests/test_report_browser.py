"""A rendered HTML report in a real browser, offline: every plotly chart draws, no console error.

Playwright drives Debian's headless ``chromium`` (``bash .ci/test`` installs it; Playwright's
own browser download is not used). Each page may load only the files of the report's output
folder: Playwright's routing aborts and records every other request. The test fails if the
page asked for anything else, logged an error, or left a chart without an SVG holding data
points; on a 400 px screen, also if a chart or the page is wider than the screen. plotly.js
comes from the output folder's ``_static/`` by a relative path, so pages are opened where they
were published, including through the ``latest`` link. A screenshot of each page is kept in
``reports/output/screenshots/`` (git-ignored) as an artefact.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    sync_playwright,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy.engine import URL
from test_reports import write_notebook

from iwm_lab.demodata import NOTEBOOK_AS_OF
from iwm_lab.reports.runner import RunResult, run_report
from iwm_lab.reports.schedule import load_schedule
from iwm_lab.settings import DEFAULT_SCHEDULE, get_settings

pytestmark = pytest.mark.browser

ARTEFACTS = DEFAULT_SCHEDULE.parent / "output" / "screenshots"
# The browser's own background traffic (updates, sync) does not pass through page routing.
FLAGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
# Plotly draws after load; without plotly.js (there at load, or never) it never will.
CHARTS_DRAWN = """() => typeof Plotly === "undefined" || Array.from(
  document.querySelectorAll("div.iwm-plotly-chart")).every(d => d.querySelector("svg.main-svg")
    && d.querySelector("g.trace .point, g.trace path.js-line"))"""
CHART_STATE = """() => ({
  plotly: typeof Plotly !== "undefined",
  screen: window.innerWidth,
  page: document.documentElement.scrollWidth,
  charts: Array.from(document.querySelectorAll("div.iwm-plotly-chart")).map(d => ({
    svg: d.querySelectorAll("svg.main-svg").length,
    traces: d.querySelectorAll("g.trace").length,
    marks: d.querySelectorAll("g.trace .point, g.trace path.js-line").length,
    right: d.getBoundingClientRect().right,
    width: Math.max(0, ...Array.from(d.querySelectorAll("svg.main-svg"),
                                     s => s.getBoundingClientRect().width))}))})"""
NARROW = 400


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, which ``.ci/test``'s set-up installs: CI fails without it."""
    found = shutil.which("chromium")
    if found:
        return found
    reason = "chromium is not installed (`bash .ci/test` installs it: apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        yield launched
        launched.close()


class OfflinePage:
    """A page that may load only files under ``root``; what else it asked for is aborted and
    kept in ``blocked``, and what it logged as an error in ``errors``."""

    def __init__(self, context: BrowserContext, root: Path) -> None:
        self.page: Page = context.new_page()
        self.allowed = root.absolute().as_uri() + "/"
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _route(self, route: Route) -> None:
        if route.request.url.startswith(self.allowed):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            self.errors.append(f"{message.type}: {message.text}")

    def open(self, html: Path) -> None:
        # Not resolved: the page must work where it is, a `latest` link included.
        url = html.absolute().as_uri()
        self.blocked.clear()
        self.errors.clear()
        self.page.goto(url)
        assert self.page.url == url

    def text(self, selector: str) -> str:
        return self.page.locator(selector).first.text_content() or ""


OpenPage = Callable[..., OfflinePage]


@pytest.fixture
def offline(browser: Browser) -> Iterator[OpenPage]:
    """Pages in their own browser contexts: ``offline(root, width=1280)``."""
    contexts: list[BrowserContext] = []

    def open_page(root: Path, width: int = 1280) -> OfflinePage:
        context = browser.new_context(
            viewport={"width": width, "height": 1000},
            device_scale_factor=1,
            is_mobile=width <= NARROW,
        )
        contexts.append(context)
        return OfflinePage(context, root)

    yield open_page
    for context in contexts:
        context.close()


def check_report_in_browser(
    view: OfflinePage, html: Path, screenshot: Path
) -> list[dict[str, Any]]:
    """Open ``html``; assert its charts drew within the screen, nothing outside the report's
    folder was fetched, nothing failed; screenshot it."""
    view.open(html)
    # A chart that never draws is reported by the checks below, which say which one.
    with contextlib.suppress(PlaywrightTimeout):
        view.page.wait_for_function(CHARTS_DRAWN, timeout=30_000)
    state: dict[str, Any] = view.page.evaluate(CHART_STATE)
    charts: list[dict[str, Any]] = state["charts"]
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    view.page.screenshot(path=screenshot, full_page=True)

    assert view.blocked == [], f"the page tried the network: {view.blocked}"
    assert view.errors == [], f"console errors: {view.errors}"[:3000]
    assert state["plotly"], "plotly.js did not load"
    assert charts, "the report has no plotly chart"
    for number, chart in enumerate(charts, 1):
        assert chart["svg"] and chart["traces"] and chart["marks"], f"chart {number}: {chart}"
        # Within the screen, and not shrunk to a sliver either.
        assert chart["right"] <= state["screen"] + 1, f"chart {number} is clipped: {chart}"
        assert chart["width"] >= min(300, state["screen"] * 0.7), f"chart {number}: {chart}"
    assert state["page"] <= state["screen"], f"the page scrolls sideways: {state}"
    return charts


def _run(
    monkeypatch: pytest.MonkeyPatch,
    schedule_path: Path,
    output: Path,
    url: URL,
    name: str,
    **overrides: str,
) -> RunResult:
    monkeypatch.setenv("IWM_DATABASE_URL", url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        schedule = load_schedule(schedule_path, output)
        [result] = run_report(schedule, name, overrides, progress_bar=False)
    finally:
        get_settings.cache_clear()
    return result


def _render(
    monkeypatch: pytest.MonkeyPatch,
    schedule_path: Path,
    output: Path,
    url: URL,
    name: str,
    **overrides: str,
) -> Path:
    result = _run(monkeypatch, schedule_path, output, url, name, **overrides)
    html = result.file(".html")
    assert result.ok and html is not None, result.record.error
    return html


TABLE_ALIGNMENT = """() => Array.from(
  document.querySelectorAll(".iwm-table tbody tr:first-child td"),
  td => getComputedStyle(td).textAlign)"""


@pytest.mark.kernel
def test_a_synthetic_report_draws_its_charts_offline_and_fits_a_phone(
    offline: OpenPage, tmp_path: Path, db_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_notebook(tmp_path / "synthetic.ipynb")
    schedule = tmp_path / "schedule.toml"
    # A fan-out part: its pages are one folder deeper than a plain report's.
    schedule.write_text(
        '[reports.synthetic]\nnotebook = "synthetic.ipynb"\ncron = "0 6 * * *"\n'
        "for_each = { n = [3] }\n"
    )
    output = tmp_path / "output"
    html = _render(monkeypatch, schedule, output, db_url, "synthetic")
    latest = html.parent.parent / "latest" / html.name
    assert latest.is_file()
    wide = offline(output)
    charts = check_report_in_browser(wide, latest, ARTEFACTS / "synthetic.png")
    assert len(charts) == 2
    # Text left, numbers right (the lab stylesheet would right-align the titles too).
    assert wide.page.evaluate(TABLE_ALIGNMENT) == ["left", "right", "right"]
    phone = offline(output, NARROW)
    charts = check_report_in_browser(phone, html, ARTEFACTS / "synthetic-400px.png")
    assert len(charts) == 2

    # Without the output folder's plotly.js the page says what is missing, instead of blanks.
    (output / "_static").rename(tmp_path / "elsewhere")
    wide.open(html)
    note = wide.text(".iwm-plotly-missing")
    assert "_static/plotly-" in note and "--self-contained" in note


@pytest.mark.heavy
@pytest.mark.kernel
def test_a_failed_runs_page_draws_the_charts_it_got_to(
    offline: OpenPage, tmp_path: Path, db_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_notebook(tmp_path / "synthetic.ipynb")
    schedule = tmp_path / "schedule.toml"
    schedule.write_text('[reports.synthetic]\nnotebook = "synthetic.ipynb"\ncron = "0 6 * * *"\n')
    output = tmp_path / "output"
    result = _run(monkeypatch, schedule, output, db_url, "synthetic", fail="true")
    html = result.file(".html")
    assert not result.ok and html is not None
    view = offline(output)
    charts = check_report_in_browser(view, html, ARTEFACTS / "synthetic-failed.png")
    assert len(charts) == 2
    assert "boom: failed on purpose" in view.text("body")


@pytest.mark.heavy
@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(load_schedule(DEFAULT_SCHEDULE).reports))
def test_each_shipped_report_draws_its_charts_offline(
    offline: OpenPage, tmp_path: Path, tiny_url: URL, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_schedule(DEFAULT_SCHEDULE).report(name)
    part = {key: str(values[0]) for key, values in spec.for_each.items()}
    # The tiny dataset ends at a fixed date; a run as of now would find its windows empty.
    part["as_of"] = NOTEBOOK_AS_OF.date().isoformat()
    output = tmp_path / "output"
    html = _render(monkeypatch, DEFAULT_SCHEDULE, output, tiny_url, name, **part)
    check_report_in_browser(offline(output), html, ARTEFACTS / f"{name}.png")
    check_report_in_browser(offline(output, NARROW), html, ARTEFACTS / f"{name}-400px.png")


def test_the_checks_catch_a_page_that_needs_the_network(offline: OpenPage, tmp_path: Path) -> None:
    # A page loading plotly from its CDN must fail the checks, or they prove nothing.
    page = tmp_path / "cdn.html"
    page.write_text(
        '<html><head><script src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script></head>'
        '<body><div class="iwm-plotly-chart"></div></body></html>'
    )
    view = offline(tmp_path)
    with pytest.raises(AssertionError, match="network"):
        check_report_in_browser(view, page, tmp_path / "cdn.png")
    assert view.blocked == ["https://cdn.plot.ly/plotly-2.35.2.min.js"]
