"""A rendered HTML report in a real browser, offline: every plotly chart draws, no console error.

Headless Chromium (Debian's ``chromium``, installed here when missing) opens the report from
disk with name resolution and any proxy pointing nowhere, driven over the Chrome DevTools
Protocol (``websocket-client``). The test fails if the page requests anything but local
files, logs an error, or leaves a chart without an SVG holding data points. A screenshot of
each page is kept in ``reports/output/screenshots/`` (git-ignored) as an artefact.
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

from iwm_lab.reports.runner import run_report
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
  charts: Array.from(document.querySelectorAll("div.iwm-plotly-chart")).map(d => ({
    svg: d.querySelectorAll("svg.main-svg").length,
    traces: d.querySelectorAll("g.trace").length,
    marks: d.querySelectorAll("g.trace .point, g.trace path.js-line").length}))})"""


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
    threading.Thread(target=lambda: [lines.put(line) for line in stderr], daemon=True).start()
    try:
        endpoint = None
        seen = []
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


def check_report_in_browser(tools: DevTools, html: Path, screenshot: Path) -> list[dict[str, Any]]:
    """Open ``html``; assert charts drew, nothing was fetched, nothing failed; screenshot it."""
    tools.call("Page.navigate", url=html.resolve().as_uri())
    tools.wait_for("Page.loadEventFired")
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
        width=1280,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
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
    return charts


def _render(
    monkeypatch: pytest.MonkeyPatch,
    schedule_path: Path,
    output: Path,
    url: URL,
    name: str,
    **overrides: str,
) -> Path:
    monkeypatch.setenv("IWM_DATABASE_URL", url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        schedule = load_schedule(schedule_path, output)
        [result] = run_report(schedule, name, overrides, progress_bar=False)
    finally:
        get_settings.cache_clear()
    html = result.file(".html")
    assert result.ok and html is not None, result.record.error
    return html


def test_a_synthetic_report_draws_its_charts_offline(
    browser: DevTools, tmp_path: Path, db_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_notebook(tmp_path / "synthetic.ipynb")
    schedule = tmp_path / "schedule.toml"
    schedule.write_text('[reports.synthetic]\nnotebook = "synthetic.ipynb"\ncron = "0 6 * * *"\n')
    html = _render(monkeypatch, schedule, tmp_path / "output", db_url, "synthetic")
    charts = check_report_in_browser(browser, html, ARTEFACTS / "synthetic.png")
    assert len(charts) == 2


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
    html = _render(monkeypatch, DEFAULT_SCHEDULE, tmp_path / "output", tiny_url, name, **part)
    check_report_in_browser(browser, html, ARTEFACTS / f"{name}.png")


def test_the_checks_catch_a_page_that_needs_the_network(browser: DevTools, tmp_path: Path) -> None:
    # A page loading plotly from its CDN must fail the checks, or they prove nothing.
    page = tmp_path / "cdn.html"
    page.write_text(
        '<html><head><script src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script></head>'
        '<body><div class="iwm-plotly-chart"></div></body></html>'
    )
    with pytest.raises(AssertionError, match="network"):
        check_report_in_browser(browser, page, tmp_path / "cdn.png")
