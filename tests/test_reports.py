"""Scheduled reports end to end: a synthetic notebook, real kernels, a real PostgreSQL 16.

Kernels cost seconds each, so one module-scoped workspace is shared: a good run, then a
failing and an interrupted run of the same report (which must leave the good one as latest),
then the index and a grep of every byte written for the database password. The workspace
reads the tiny demo dataset, whose regions the ``region`` parameter is checked against.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from plotly.offline import get_plotlyjs_version
from sqlalchemy.engine import URL

from iwm_lab import migrate
from iwm_lab.exceptions import ReportParameterError, ScheduleError
from iwm_lab.reports.due import due_jobs, run_due
from iwm_lab.reports.runner import prepare, run_report
from iwm_lab.reports.schedule import load_schedule, parse_schedule
from iwm_lab.reports.state import read_state, write_state
from iwm_lab.settings import DEFAULT_SCHEDULE, get_settings

PASSWORD = "KnownSecret123"
IWM_LAB = Path(sys.executable).parent / "iwm-lab"
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")

PARAMETERS = """\
from typing import Optional

region: str = "US"
n: int = 3
fail: bool = False
sleep_s: float = 0.0
as_of: Optional[str] = None
"""
TITLE = "# Synthetic report title\nTwo charts and a number."
INSTRUCTIONS = "To explore, change the values in the next cell."
TABLE = """\
import pandas as pd

table = pd.DataFrame(
    {"Movie title": ["Dune", "Heat"], "Reviews": ["1,234", "56"], "Share": ["30.3%", ""]}
)
table.style.hide(axis="index")
"""
QUERY = """\
# marker: code-cell-source
import os
import time

import plotly.graph_objects as go
from sqlalchemy import text

import iwm_lab
from iwm_lab.reports import record

conn = iwm_lab.connect()
session = {
    name: conn.execute(text(f"show {name}")).scalar_one()
    for name in ("statement_timeout", "default_transaction_read_only")
}
record("as_of", as_of)
record("answer", n * 14)
record("session", session)
print("answer", n * 14)
# Careless on purpose: the runner must redact what a notebook prints.
print("connected with", os.environ.get("IWM_DATABASE_URL"))
"""
BAR = 'go.Figure(go.Bar(x=["a", "b", region], y=[1, n, 2]), layout={"title": "bars"})'
SCATTER = """\
fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], mode="lines+markers"))
fig.show()
"""
TAIL = """\
time.sleep(sleep_s)
if fail:
    raise RuntimeError("boom: failed on purpose")
"""


def write_notebook(path: Path) -> Path:
    """A small parameterised notebook: a query, two plotly charts, recorded figures."""
    nb = new_notebook()
    hide = {"tags": ["report-hide"]}
    nb.cells = [
        new_markdown_cell(TITLE, metadata=hide),
        new_markdown_cell(INSTRUCTIONS, metadata=hide),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(QUERY),
        new_markdown_cell("## Bars\nThe bars by region."),
        new_code_cell(BAR),
        new_code_cell(SCATTER),
        new_code_cell(TABLE),
        new_code_cell('print("hidden output: for JupyterLab users")', metadata=hide),
        new_code_cell(TAIL),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def write_schedule(folder: Path, hook_file: Path) -> Path:
    write_notebook(folder / "synthetic.ipynb")
    path = folder / "schedule.toml"
    path.write_text(
        f"""
[reports.synthetic]
description = "Synthetic report"
notebook = "synthetic.ipynb"
cron = "0 0 1 1 *"
parameters = {{ n = 3 }}
statement_timeout_ms = 4321
on_failure = "env > '{hook_file}'"

[reports.fanout]
notebook = "synthetic.ipynb"
cron = "0 0 1 1 *"
for_each = {{ region = ["US", "IN"] }}
"""
    )
    return path


def secret_url(url: URL) -> str:
    return url.set(password=PASSWORD).render_as_string(hide_password=False)


class Workspace:
    """A schedule, its notebook, and every line the CLI printed (for the secret grep)."""

    def __init__(self, folder: Path, url: URL) -> None:
        self.folder = folder
        self.hook_file = folder / "on_failure.env"
        self.schedule_path = write_schedule(folder, self.hook_file)
        self.output = folder / "output"
        self.url = secret_url(url)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("IWM_")}
        self.env["IWM_DATABASE_URL"] = self.url
        self.logs: list[str] = []

    def cli(self, *args: str, output: Path | None = None) -> subprocess.CompletedProcess[str]:
        argv = [str(IWM_LAB), "report", "--schedule", str(self.schedule_path)]
        argv += ["--output", str(output or self.output), *args]
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=300)
        self.logs += [done.stdout, done.stderr]
        return done

    def popen(self, *args: str) -> subprocess.Popen[str]:
        argv = [str(IWM_LAB), "report", "--schedule", str(self.schedule_path)]
        argv += ["--output", str(self.output), *args]
        return subprocess.Popen(
            argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, tiny_url: URL) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("reports"), tiny_url)


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Point this process (and kernels it starts) at a database URL."""

    def use(url: str) -> None:
        monkeypatch.setenv("IWM_DATABASE_URL", url)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def good_run(ws: Workspace) -> dict[str, Any]:
    before = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    done = ws.cli("run", "synthetic")  # the schedule's parameters: not ad hoc
    after = datetime.now(UTC).replace(tzinfo=None)
    assert done.returncode == 0, done.stderr
    job = ws.output / "synthetic"
    run_id = os.readlink(job / "latest")
    return {"done": done, "run_id": run_id, "dir": job / run_id, "between": (before, after)}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def parse_html(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    return parser


def external_references(page: _Tags, html: Path | None = None) -> list[str]:
    """Every ``src``/``href`` but relative ones to a file of the output folder ``html`` is in.

    The output folder is the nearest folder above the page holding ``_static/``.
    """
    found = []
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is None or (tag == "a" and name == "href"):
                continue  # links a reader may follow load nothing
            relative = "://" not in value and not value.startswith(("/", "//", "data:"))
            if not (html is not None and relative and _in_output(html, value)):
                found.append(f"<{tag} {name}={value}>")
    return found


def _in_output(html: Path, reference: str) -> bool:
    target = (html.parent / reference).resolve()
    root = next((p for p in html.parents if (p / "_static").is_dir()), None)
    return root is not None and target.is_file() and root.resolve() in target.parents


# --- schedule.toml ---------------------------------------------------------------------------


def test_the_shipped_schedule_defines_the_seven_reports() -> None:
    schedule = load_schedule(DEFAULT_SCHEDULE)
    assert set(schedule.reports) == {
        "ratings",
        "streaming_coverage",
        "trending_topics",
        "overview",
        "box_office",
        "awards",
        "platform_health",
    }
    for name, spec in schedule.reports.items():
        assert spec.notebook == DEFAULT_SCHEDULE.parent.parent / "notebooks" / f"{name}.ipynb"
    coverage = schedule.report("streaming_coverage")
    assert list(coverage.for_each) == ["region"] and len(coverage.jobs()) >= 2
    assert schedule.output_dir == DEFAULT_SCHEDULE.parent / "output"


BAD_SCHEDULES = [
    ('[reports.r]\nnotebook = "a.ipynb"\ncron = "0 25 * * *"', "report 'r', key 'cron'"),
    ('[reports.r]\nnotebook = "a.ipynb"\ncron = "0 6 * *"', "report 'r', key 'cron'"),
    ('[reports.r]\nnotebook = "a.ipynb"', "report 'r', key 'cron'"),
    ('[reports.r]\ncron = "0 6 * * *"', "report 'r', key 'notebook'"),
    (
        '[reports.r]\nnotebook = "a.ipynb"\ncron = "0 6 * * *"\ntimezone = "Mars/Olympus"',
        "report 'r', key 'timezone'",
    ),
    (
        '[reports.r]\nnotebook = "a.ipynb"\ncron = "0 6 * * *"\nformats = ["pdf"]',
        "report 'r', key 'formats'",
    ),
    ('[reports.r]\nnotebook = "a.ipynb"\ncron = "0 6 * * *"\ncorn = "x"', "unknown key 'corn'"),
    (
        '[reports.r]\nnotebook = "a.ipynb"\ncron = "0 6 * * *"\nfor_each = { region = [] }',
        "report 'r', key 'for_each.region'",
    ),
    (
        '[reports.r]\nnotebook = "a.ipynb"\ncron = "0 6 * * *"\nfor_each = { g = ["a b", "a_b"] }',
        "report 'r', key 'for_each.g'",
    ),
    (
        '[reports.r]\nnotebook = "a.ipynb"\ncron = "0 6 * * *"\nstatement_timeout_ms = "1s"',
        "report 'r', key 'statement_timeout_ms'",
    ),
    (
        '[reports.r]\nnotebook = "a.ipynb"\ncron = "0 6 * * *"\nparameters = { x = { y = 1 } }',
        "report 'r', key 'parameters.x'",
    ),
]


@pytest.mark.parametrize(("toml", "message"), BAD_SCHEDULES)
def test_schedule_errors_name_the_report_and_the_key(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(toml)
    with pytest.raises(ScheduleError, match=re.escape(message)):
        load_schedule(path)


def test_cron_is_read_in_the_report_time_zone_across_daylight_saving() -> None:
    raw = {
        "reports": {"r": {"notebook": "r.ipynb", "cron": "0 6 * * *", "timezone": "Europe/Berlin"}}
    }
    spec = parse_schedule(raw, Path("/tmp/schedule.toml")).report("r")
    # Berlin moves from UTC+1 to UTC+2 on 2025-03-30: 06:00 local stays 06:00 local.
    before = spec.next_slot(datetime(2025, 3, 28, 12, tzinfo=UTC))
    after = spec.next_slot(datetime(2025, 3, 30, 12, tzinfo=UTC))
    assert (before.hour, after.hour) == (6, 6)
    assert before.astimezone(UTC).hour == 5 and after.astimezone(UTC).hour == 4
    assert spec.last_slot(datetime(2025, 3, 31, 4, 0, tzinfo=UTC)) == after


# --- checks before any kernel ------------------------------------------------------------------


@pytest.mark.heavy
@pytest.mark.slow
def test_parameter_errors_stop_the_run_before_it_starts(ws: Workspace) -> None:
    schedule = load_schedule(ws.schedule_path, ws.folder / "out-params")
    with pytest.raises(ReportParameterError, match=r"unknown parameter 'nope'.*region"):
        prepare(schedule, "synthetic", {"nope": "1"})
    with pytest.raises(ReportParameterError, match="parameter 'n' must be int, got 'three'"):
        prepare(schedule, "synthetic", {"n": "three"})
    with pytest.raises(ReportParameterError, match="parameter 'fail' must be bool"):
        prepare(schedule, "synthetic", {"fail": "maybe"})
    with pytest.raises(ReportParameterError, match="URL with a password"):
        prepare(schedule, "synthetic", {"region": "postgresql://me:pw@db/iwm"})
    bad = parse_schedule(
        {
            "reports": {
                "s": {
                    "notebook": "synthetic.ipynb",
                    "cron": "0 6 * * *",
                    "parameters": {"n": "three"},
                }
            }
        },
        ws.schedule_path,
    )
    with pytest.raises(ReportParameterError, match=r"report 's'.*'n' must be int, got 'three'"):
        prepare(bad, "s")
    # Text converts to the notebook's types; a for_each key picks one part.
    [job] = prepare(schedule, "fanout", {"region": "IN", "n": "7", "sleep_s": "0.5"})
    assert job.job.label == "fanout[region=IN]"
    assert job.parameters == {"region": "IN", "n": 7, "sleep_s": 0.5}

    done = ws.cli("run", "synthetic", "-p", "n", "three", output=ws.folder / "out-params")
    assert done.returncode == 1
    assert done.stderr.startswith("error: report 'synthetic' (synthetic.ipynb): parameter 'n'")
    assert not (ws.folder / "out-params").exists()


def test_a_database_behind_the_head_revision_is_refused_before_the_kernel(
    ws: Workspace, make_database: Callable[..., URL], use_database: Callable[[str], None]
) -> None:
    use_database(secret_url(make_database("old")))
    schedule = load_schedule(ws.schedule_path, ws.folder / "out-old")
    [result] = run_report(schedule, "synthetic", progress_bar=False)
    assert not result.ok and result.run_dir is None  # no kernel, no notebook
    assert result.record.error is not None
    assert "holds no iwm-lab schema (never migrated): run `iwm-lab db upgrade`" in (
        result.record.error
    )
    assert "IWM_REPORT_ERROR=" in ws.hook_file.read_text()
    ws.hook_file.unlink()


# --- runs -------------------------------------------------------------------------------------


@pytest.mark.kernel
def test_a_run_writes_notebook_and_offline_html_with_header(
    ws: Workspace, good_run: dict[str, Any]
) -> None:
    run_dir: Path = good_run["dir"]
    assert RUN_ID.match(good_run["run_id"])
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "run.json",
        "synthetic.html",
        "synthetic.ipynb",
    ]
    assert "Executing" in good_run["done"].stderr  # papermill's progress bar
    assert str(run_dir / "synthetic.html") in good_run["done"].stdout

    nb = nbformat.read(run_dir / "synthetic.ipynb", as_version=4)
    meta = nb.metadata["iwm_lab"]
    # A manual run passes its own time as as_of: naive ISO, UTC, to the second.
    as_of = meta["parameters"].pop("as_of")
    assert meta["parameters"] == {"n": 3}
    before, after = good_run["between"]
    assert before <= datetime.fromisoformat(as_of) <= after and len(as_of) == 19
    assert meta["records"]["answer"] == 42
    assert meta["as_of"] == as_of == meta["records"]["as_of"]
    assert meta["revision"] == migrate.head_revision()
    # The report's statement timeout and a read-only session reached the kernel.
    assert meta["records"]["session"] == {
        "statement_timeout": "4321ms",
        "default_transaction_read_only": "on",
    }
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "success" and run["timings"]["kernel_start_s"] > 0
    assert run["as_of"] == as_of and run["parameters"]["as_of"] == as_of
    assert run["ad_hoc"] is False and run["ad_hoc_reason"] is None

    page_path = run_dir / "synthetic.html"
    html = page_path.read_text()
    page = parse_html(html)
    # plotly.js is one file of the output folder, two levels up, not inside the page.
    [script] = [a["src"] for t, a in page.tags if t == "script" and a.get("src")]
    version = get_plotlyjs_version()
    assert script == f"../../_static/plotly-{version}.min.js"
    assert (ws.output / "_static" / f"plotly-{version}.min.js").stat().st_size > 1_000_000
    assert external_references(page, page_path) == []
    assert page_path.stat().st_size < 1_500_000
    assert not [s for s in page.scripts if len(s) > 100_000]
    assert not re.search(r"https?://[^\"' ]*(cdn|unpkg|jsdelivr|mathjax|require)", html, re.I)
    charts = [a for t, a in page.tags if t == "div" and a.get("class") == "iwm-plotly"]
    assert len(charts) == 2
    assert "marker: code-cell-source" not in html  # code hidden by default
    # Cells tagged report-hide are left out; the only h1 is the header's.
    assert [t for t, _ in page.tags].count("h1") == 1
    for hidden in ("Synthetic report title", "change the values", "hidden output"):
        assert hidden not in html
    assert "The bars by region" in html
    # The Styler table: no index column, the numeric columns marked for right alignment.
    [table] = re.findall(r'<div class="iwm-table"><table.*?</table></div>', html, re.S)
    assert "<tbody>" in table and not re.search(r"<tbody>.*<th", table, re.S)
    assert re.search(r'<th[^>]*class="[^"]*iwm-num[^"]*"[^>]*>Reviews</th>', table)
    assert not re.search(r"<th[^>]*iwm-num[^>]*>Movie title</th>", table)
    start, end = html.index('<header class="iwm-report-header">'), html.index("</header>")
    header = unescape(html[start:end])
    assert "<h1>Synthetic report" in header and ">ad hoc<" not in header
    for expected in (
        "synthetic",
        'region = "US"',  # a default, shown as the notebook writes it
        "n = 3",
        f"as_of = '{as_of}'",
        f"Data as of</dt><dd>{as_of[:10]} {as_of[11:16]} UTC",
        migrate.head_revision(),
        good_run["run_id"],
    ):
        assert expected in header
    assert "(default)" in header  # fail and sleep_s kept their defaults
    assert "Since the previous run" not in header  # there is none


@pytest.mark.heavy
@pytest.mark.kernel
def test_a_run_weeks_after_the_data_ends_says_the_data_is_stale(
    tmp_path: Path, tiny_url: URL
) -> None:
    """The shipped overview, run now on the tiny dataset (which ends on 2026-11-01): it is as
    of the run, not of a date in the notebook, so it finds the data stale."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IWM_")}
    env["IWM_DATABASE_URL"] = tiny_url.render_as_string(hide_password=False)
    argv = [str(IWM_LAB), "report", "--output", str(tmp_path), "run", "overview"]
    started = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "overview" / "latest"
    record = json.loads((run_dir / "run.json").read_text())
    assert (
        started <= datetime.fromisoformat(record["as_of"]) <= datetime.now(UTC).replace(tzinfo=None)
    )
    assert record["records"]["stale"] == ["reviews", "pulses"]
    assert record["records"]["reviews_age_days"] > 7
    page = unescape((run_dir / "overview.html").read_text())
    assert "Reviews and pulses are stale" in page
    assert f"Data as of {started:%Y-%m-%d}" in re.sub(r"<[^>]+>", "", page)


@pytest.mark.kernel
def test_keep_code_shows_the_code(ws: Workspace, good_run: dict[str, Any]) -> None:
    # The HTML export alone, from the good run's notebook: no second kernel needed.
    from iwm_lab.reports.html import ReportHeader, export_html

    run_dir = ws.output / "synthetic" / "latest"
    nb = nbformat.read(run_dir / "synthetic.ipynb", as_version=4)
    header = ReportHeader("t", "t", "r", "now", "1 s", "rev", "today")
    assert "marker: code-cell-source" in export_html(nb, header, keep_code=True)


# Not heavy: the history tests after it expect the failed run it leaves.
@pytest.mark.kernel
def test_a_failing_cell_fails_the_run_and_keeps_the_latest_good_output(
    ws: Workspace, good_run: dict[str, Any]
) -> None:
    done = ws.cli("run", "synthetic", "-p", "fail", "true")
    assert done.returncode == 1
    assert "boom: failed on purpose" in done.stderr and "error:" in done.stderr
    job = ws.output / "synthetic"
    assert os.readlink(job / "latest") == good_run["run_id"]
    failed = read_state(job, "synthetic", "synthetic").last_run
    assert failed is not None and failed.status == "failed"
    assert failed.error is not None and "RuntimeError: boom" in failed.error
    nb = nbformat.read(job / failed.run_id / "synthetic.ipynb", as_version=4)
    assert any("papermill-error-cell-tag" in c.metadata.get("tags", []) for c in nb.cells)
    html = (job / failed.run_id / "synthetic.html").read_text()
    assert "marker: code-cell-source" in html and "boom" in html  # code shown to debug
    hook = dict(line.split("=", 1) for line in ws.hook_file.read_text().splitlines() if "=" in line)
    assert hook["IWM_REPORT_NAME"] == "synthetic"
    assert hook["IWM_REPORT_STATUS"] == "failed"
    assert hook["IWM_REPORT_RUN_DIR"] == str(job / failed.run_id)
    assert "boom" in hook["IWM_REPORT_ERROR"]
    assert hook["IWM_REPORT_AD_HOC"] == "true"  # fail = true is not the schedule's value
    assert "IWM_DATABASE_URL" not in hook


@pytest.mark.kernel
def test_an_interrupted_run_leaves_latest_alone(ws: Workspace, good_run: dict[str, Any]) -> None:
    job = ws.output / "synthetic"
    proc = ws.popen("run", "synthetic", "-p", "sleep_s", "60")
    deadline = time.monotonic() + 60
    # Wait until the kernel has run the query cell (its record is in the staging notebook).
    while time.monotonic() < deadline:
        staged = list((job / ".staging").glob("*/synthetic.ipynb"))
        if staged and "answer 42" in staged[0].read_text():  # printed: the kernel runs
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    else:
        pytest.fail("the run did not start within 60 s")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    ws.logs += [out, err]
    assert proc.returncode == 143, err
    assert "interrupted" in err
    assert os.readlink(job / "latest") == good_run["run_id"]
    assert not (job / ".staging").exists()
    last = read_state(job, "synthetic", "synthetic").last_run
    assert last is not None and last.status == "interrupted"


@pytest.mark.kernel
def test_ad_hoc_runs_stay_in_the_history_but_never_change_the_jobs_status(
    ws: Workspace, good_run: dict[str, Any]
) -> None:
    """Issue 10, item 6: a failing `report run -p …` turned the scheduled report's status to
    failed. The failed and interrupted runs above were ad hoc (`-p fail true`,
    `-p sleep_s 60`); a successful ad hoc run must not take over `latest` either."""
    job = ws.output / "synthetic"
    done = ws.cli("run", "synthetic", "-p", "region", "IN")
    assert done.returncode == 0, done.stderr
    assert "synthetic: success (ad hoc) in " in done.stdout
    state = read_state(job, "synthetic", "synthetic")
    ad_hoc = state.runs[0]
    assert ad_hoc.ad_hoc and "region = 'IN' set by hand" in (ad_hoc.ad_hoc_reason or "")
    assert (job / ad_hoc.run_id / "synthetic.html").is_file()  # kept, and printed
    assert str(job / ad_hoc.run_id / "synthetic.html") in done.stdout
    assert os.readlink(job / "latest") == good_run["run_id"]
    assert [r.status for r in state.runs[:4]] == ["success", "interrupted", "failed", "success"]
    assert state.last_scheduled_run is not None
    assert state.last_scheduled_run.run_id == good_run["run_id"]
    listed = ws.cli("list")
    [line] = [ln for ln in listed.stdout.splitlines() if ln.startswith("synthetic ")]
    assert line.endswith("  success (due now)"), line  # manual runs leave the slot due


@pytest.mark.heavy
@pytest.mark.kernel
def test_concurrent_run_due_runs_each_job_once_with_fan_out(ws: Workspace) -> None:
    output = ws.folder / "out-due"
    first, second = (
        subprocess.Popen(
            [
                str(IWM_LAB),
                "report",
                "--schedule",
                str(ws.schedule_path),
                "--output",
                str(output),
                "run-due",
                "--jobs",
                "2",
            ],
            env=ws.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    )
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    for proc, (out, err) in zip((first, second), outputs, strict=True):
        ws.logs += [out, err]
        assert proc.returncode == 0, err
    said = "".join(out for out, _ in outputs)
    for label in ("synthetic", "fanout[region=US]", "fanout[region=IN]"):
        assert said.count(f"{label}: success") == 1, said
    for key, region in (("fanout/region-US", "US"), ("fanout/region-IN", "IN")):
        state = read_state(output / key, key, key)
        assert [r.status for r in state.runs] == ["success"]
        # as_of is the slot run-due ran for: this year's 1 January, 00:00 UTC.
        slot = f"{datetime.now(UTC).year}-01-01T00:00:00"
        assert state.runs[0].parameters == {"region": region, "as_of": slot}
        assert (output / key / "latest" / f"fanout-region-{region}.html").is_file()
    assert len(read_state(output / "synthetic", "synthetic", "synthetic").runs) == 1
    # Everything ran for this year's slot: nothing is due any more.
    done = ws.cli("run-due", output=output)
    assert done.returncode == 0 and done.stdout.strip() == "nothing due"


@pytest.mark.kernel
def test_missed_slots_give_one_catch_up_run(
    ws: Workspace, use_database: Callable[[str], None]
) -> None:
    use_database(ws.url)
    path = ws.folder / "catchup.toml"
    path.write_text(
        '[reports.daily]\nnotebook = "synthetic.ipynb"\ncron = "0 6 * * *"\n'
        'timezone = "Europe/Berlin"\n'
    )
    schedule = load_schedule(path, ws.folder / "out-catchup")
    [job] = schedule.jobs()
    job_dir = schedule.output_dir / "daily"
    # Never run: due once, for the latest slot.
    now = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
    [due] = due_jobs(schedule, now)
    assert due.slot == datetime(2025, 3, 5, 5, 0, tzinfo=UTC) and due.missed == 1
    # Last run for 1 March; four slots missed since (2nd to 5th): one catch-up run.
    state = read_state(job_dir, job.key, job.label)
    state.last_slot = datetime(2025, 3, 1, 5, 0, tzinfo=UTC).isoformat()
    write_state(job_dir, state)
    [due] = due_jobs(schedule, now)
    assert due.missed == 4
    [outcome] = run_due(schedule, now=now)
    assert outcome.status == "success", outcome.message
    state = read_state(job_dir, job.key, job.label)
    assert len(state.runs) == 1 and state.runs[0].trigger == "schedule"
    assert state.last_slot == "2025-03-05T05:00:00+00:00"
    # The notebook's as_of is the slot (06:00 in Berlin), in UTC, not the time it ran.
    assert state.runs[0].parameters["as_of"] == "2025-03-05T05:00:00"
    assert state.runs[0].as_of == "2025-03-05T05:00:00" and not state.runs[0].ad_hoc
    assert run_due(schedule, now=now) == []
    [due] = due_jobs(schedule, datetime(2025, 3, 6, 5, 30, tzinfo=UTC))
    assert due.missed == 1


# --- index, list, secrets ----------------------------------------------------------------------


@pytest.mark.kernel
def test_the_index_shows_every_report_latest_run_and_history(
    ws: Workspace, good_run: dict[str, Any]
) -> None:
    done = ws.cli("index")
    assert done.returncode == 0, done.stderr
    index = ws.output / "index.html"
    assert done.stdout.strip() == str(index)
    html = index.read_text()
    page = parse_html(html)
    assert page.scripts == [] and external_references(page) == []
    state = read_state(ws.output / "synthetic", "synthetic", "synthetic")
    statuses = [r.status for r in state.runs]
    assert statuses[:4] == ["success", "interrupted", "failed", "success"]
    for run in state.runs:
        assert run.run_id in html
    assert "RuntimeError: boom: failed on purpose" in html  # in the history, labelled
    # The job's own row shows its scheduled run, not the ad hoc ones after it.
    row = html[html.index('<tr id="job-synthetic">') :]
    row = row[: row.index("</tr>")]
    assert "status-success" in row and "ad hoc" not in row and "boom" not in row
    assert good_run["run_id"] in row
    assert "fanout[region=US]" in html and "never run" in html
    hrefs = [a.get("href") or "" for t, a in page.tags if t == "a"]
    links = [href for href in hrefs if not href.startswith("#")]
    assert "synthetic/latest/synthetic.html" in links
    for href in links:
        assert (ws.output / href).is_file(), href


@pytest.mark.kernel
def test_report_list_shows_schedule_next_due_and_last_status(ws: Workspace) -> None:
    done = ws.cli("list")
    assert done.returncode == 0, done.stderr
    [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("synthetic ")]
    # The ad hoc runs after the good one (failed, interrupted, success) leave its status alone.
    assert "0 0 1 1 * (UTC)" in line and line.endswith("  success (due now)")
    assert re.search(rf"{datetime.now(UTC).year + 1}-01-01 00:00 UTC", line)
    assert "fanout[region=IN]" in done.stdout and "never" in done.stdout


@pytest.mark.kernel
def test_no_output_log_or_state_holds_the_database_url_or_password(ws: Workspace) -> None:
    assert ws.logs, "the runs above printed nothing"
    secrets = [PASSWORD.encode(), ws.url.encode()]
    files = [p for p in ws.folder.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in files) and any(p.name == "state.json" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret not in data, f"{path} holds the secret"
    for text in ws.logs:
        for secret in secrets:
            assert secret.decode() not in text
    # The careless print in the notebook was caught, not merely absent.
    nb = (ws.output / "synthetic" / "latest" / "synthetic.ipynb").read_text()
    assert "connected with [redacted]" in nb


# --- JupyterLab ------------------------------------------------------------------------------


@pytest.mark.slow
def test_lab_starts_jupyterlab_on_the_notebooks_with_the_project_kernel(
    tmp_path: Path, pg_server: object, cli_env: dict[str, str]
) -> None:
    import socket
    import urllib.error
    import urllib.request

    write_notebook(tmp_path / "explore.ipynb")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [str(IWM_LAB), "lab", "--no-browser", "--port", str(port), "--notebooks", str(tmp_path)],
        env=cli_env | {"JUPYTER_RUNTIME_DIR": str(tmp_path / ".runtime")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 60
        token = None
        while time.monotonic() < deadline and token is None:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", line)
            token = found.group(1) if found else None
        assert token, "".join(seen)
        assert any(line.startswith("database: ") for line in seen)

        def api(path: str) -> Any:
            url = f"http://127.0.0.1:{port}/api/{path}?token={token}"
            # The banner can come before the server accepts connections on a loaded machine.
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=10) as response:
                        return json.load(response)
                except urllib.error.URLError as exc:
                    refused = isinstance(exc.reason, ConnectionRefusedError)
                    if not refused or time.monotonic() > deadline:
                        raise
                time.sleep(0.5)

        assert api("kernelspecs")["default"] == "python3"
        assert [c["name"] for c in api("contents")["content"]] == ["explore.ipynb"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
