"""A rendered HTML report in a real browser, offline: every plotly chart draws, no console error.

Headless Chromium (Debian's ``chromium``, installed here when missing) opens the report from
disk with name resolution and any proxy pointing nowhere, driven over the Chrome DevTools
Protocol (``websocket-client``). The test fails if the page requests anything but local
files, logs an error, or leaves a chart without an SVG holding data points; on a 400 px
screen, also if a chart or the page is wider than the screen. plotly.js comes from the output
folder's ``_static/`` by a relative path, so pages are opened where they were published,
including through the ``latest`` link. A screenshot of each page is kept in
``reports/output/screenshots/`` (git-ignored) as an artefact.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket
from sqlalchemy.engine import URL
from test_reports import write_notebook

from iwm_lab.demodata import NOTEBOOK_AS_OF
from iwm_lab.reports.runner import RunResult, run_report
from iwm_lab.reports.schedule import DEFAULT_SCHEDULE, load_schedule
from iwm_lab.settings import get_settings

ARTEFACTS = DEFAULT_SCHEDULE.parent / "output" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    # Network off: no name resolves, and any proxied request goes to a closed port.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--window-size=1280,1600",
]
CHART_STATE = """JSON.stringify({
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
    """Debian's chromium; installed with apt-get when missing (needs root), else a failure."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.fail("chromium is missing, and installing it needs root: apt-get install chromium")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    found = shutil.which("chromium")
    if not found:
        pytest.fail("apt-get installed chromium, but no chromium command is on PATH")
    return found


class DevTools:
    """A minimal Chrome DevTools Protocol client: commands, and the events seen meanwhile."""

    def __init__(self, ws_url: str) -> None:
        self.socket = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._next = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        self.socket.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(event)
            self.events.append(json.loads(self.socket.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {json.dumps(result['exceptionDetails'])}")
        return result["result"].get("value")


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[DevTools]:
    proc = subprocess.Popen(
        [
            chromium,
            *FLAGS,
            "--remote-debugging-port=0",
            f"--user-data-dir={tmp_path / 'profile'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    stderr = proc.stderr

    def pump() -> None:
        for line in stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        endpoint = None
        seen: list[str] = []
        while endpoint is None:
            try:
                line = lines.get(timeout=30)
            except queue.Empty:
                pytest.fail("chromium did not open its DevTools port:\n" + "".join(seen))
            seen.append(line)
            if line.startswith("DevTools listening on "):
                endpoint = line.split()[-1]
        port = endpoint.split("/")[2].split(":")[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            pages = [t for t in json.load(reply) if t["type"] == "page"]
        tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Runtime", "Log", "Network", "Page"):
            tools.call(f"{domain}.enable")
        yield tools
        tools.socket.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def check_report_in_browser(
    tools: DevTools, html: Path, screenshot: Path, width: int = 1280
) -> list[dict[str, Any]]:
    """Open ``html`` on a screen ``width`` pixels wide; assert charts drew within the screen,
    nothing was fetched, nothing failed; screenshot it."""
    tools.call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=1000,
        deviceScaleFactor=1,
        mobile=width <= NARROW,
    )
    # Not resolved: the page must work where it is, a `latest` link included.
    url = html.absolute().as_uri()
    tools.events.clear()  # a late load event of the previous page must not count
    tools.call("Page.navigate", url=url)
    tools.wait_for("Page.loadEventFired")
    assert tools.evaluate("document.location.href") == url
    deadline = time.monotonic() + 30
    state = json.loads(tools.evaluate(CHART_STATE))
    # Plotly draws after load; without plotly.js (inlined, so there at load) it never will.
    while state["plotly"] and not all(c["svg"] and c["marks"] for c in state["charts"]):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
        state = json.loads(tools.evaluate(CHART_STATE))
    charts: list[dict[str, Any]] = state["charts"]
    metrics = tools.call("Page.getLayoutMetrics")["cssContentSize"]
    height = min(int(metrics["height"]), 4000)
    tools.call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=width <= NARROW,
    )
    shot = tools.call("Page.captureScreenshot", format="png")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(shot["data"]))

    fetched = [
        e["params"]["request"]["url"]
        for e in tools.events
        if e.get("method") == "Network.requestWillBeSent"
        and not e["params"]["request"]["url"].startswith(("file:", "data:", "blob:"))
    ]
    errors = [
        e
        for e in tools.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (
            e.get("method") == "Runtime.consoleAPICalled"
            and e["params"]["type"] in ("error", "assert")
        )
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert fetched == [], f"the page tried the network: {fetched}"
    assert errors == [], f"console errors: {json.dumps(errors)[:3000]}"
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


TABLE_ALIGNMENT = """JSON.stringify(Array.from(
  document.querySelectorAll(".iwm-table tbody tr:first-child td"),
  td => getComputedStyle(td).textAlign))"""


def test_a_synthetic_report_draws_its_charts_offline_and_fits_a_phone(
    browser: DevTools, tmp_path: Path, db_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_notebook(tmp_path / "synthetic.ipynb")
    schedule = tmp_path / "schedule.toml"
    # A fan-out part: its pages are one folder deeper than a plain report's.
    schedule.write_text(
        '[reports.synthetic]\nnotebook = "synthetic.ipynb"\ncron = "0 6 * * *"\n'
        "for_each = { n = [3] }\n"
    )
    html = _render(monkeypatch, schedule, tmp_path / "output", db_url, "synthetic")
    latest = html.parent.parent / "latest" / html.name
    assert latest.is_file()
    charts = check_report_in_browser(browser, latest, ARTEFACTS / "synthetic.png")
    assert len(charts) == 2
    # Text left, numbers right (the lab stylesheet would right-align the titles too).
    assert json.loads(browser.evaluate(TABLE_ALIGNMENT)) == ["left", "right", "right"]
    charts = check_report_in_browser(browser, html, ARTEFACTS / "synthetic-400px.png", NARROW)
    assert len(charts) == 2

    # Without the output folder's plotly.js the page says what is missing, instead of blanks.
    static = tmp_path / "output" / "_static"
    static.rename(tmp_path / "elsewhere")
    browser.events.clear()
    browser.call("Page.navigate", url=html.as_uri())
    browser.wait_for("Page.loadEventFired")
    note = browser.evaluate('document.querySelector(".iwm-plotly-missing").textContent')
    assert "_static/plotly-" in note and "--self-contained" in note


def test_a_failed_runs_page_draws_the_charts_it_got_to(
    browser: DevTools, tmp_path: Path, db_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_notebook(tmp_path / "synthetic.ipynb")
    schedule = tmp_path / "schedule.toml"
    schedule.write_text('[reports.synthetic]\nnotebook = "synthetic.ipynb"\ncron = "0 6 * * *"\n')
    result = _run(monkeypatch, schedule, tmp_path / "output", db_url, "synthetic", fail="true")
    html = result.file(".html")
    assert not result.ok and html is not None
    charts = check_report_in_browser(browser, html, ARTEFACTS / "synthetic-failed.png")
    assert len(charts) == 2
    assert "boom: failed on purpose" in browser.evaluate("document.body.textContent")


def _shipped_reports() -> list[Any]:
    schedule = load_schedule(DEFAULT_SCHEDULE)
    return [
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                not spec.notebook.exists(), reason=f"{spec.notebook.name} not written yet"
            ),
        )
        for name, spec in schedule.reports.items()
    ]


@pytest.mark.parametrize("name", _shipped_reports())
def test_each_shipped_report_draws_its_charts_offline(
    browser: DevTools, tmp_path: Path, tiny_url: URL, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_schedule(DEFAULT_SCHEDULE).report(name)
    part = {key: str(values[0]) for key, values in spec.for_each.items()}
    # The tiny dataset ends at a fixed date; a run as of now would find its windows empty.
    part["as_of"] = NOTEBOOK_AS_OF.date().isoformat()
    html = _render(monkeypatch, DEFAULT_SCHEDULE, tmp_path / "output", tiny_url, name, **part)
    check_report_in_browser(browser, html, ARTEFACTS / f"{name}.png")
    check_report_in_browser(browser, html, ARTEFACTS / f"{name}-400px.png", NARROW)


def test_the_checks_catch_a_page_that_needs_the_network(browser: DevTools, tmp_path: Path) -> None:
    # A page loading plotly from its CDN must fail the checks, or they prove nothing.
    page = tmp_path / "cdn.html"
    page.write_text(
        '<html><head><script src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script></head>'
        '<body><div class="iwm-plotly-chart"></div></body></html>'
    )
    with pytest.raises(AssertionError, match="network"):
        check_report_in_browser(browser, page, tmp_path / "cdn.png")
