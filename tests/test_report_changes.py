"""The page header compares each key figure with the previous successful run of the job; the
``self_contained`` setting puts plotly.js inside the page.

A tiny notebook records how many genres the database holds; the test adds genres between
runs, so the recorded figure changes while the parameters stay the same.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from iwm_lab.reports.changes import figure_changes, previous_run
from iwm_lab.reports.runner import RunResult, run_report
from iwm_lab.reports.schedule import load_schedule
from iwm_lab.reports.state import RunRecord
from iwm_lab.settings import get_settings

IWM_LAB = Path(sys.executable).parent / "iwm-lab"
PARAMETERS = """\
from typing import Optional

as_of: Optional[str] = None
"""
FIGURES = """\
from pathlib import Path

import plotly.graph_objects as go
from sqlalchemy import text

import iwm_lab
from iwm_lab.reports import record

genres = iwm_lab.connect().execute(text("select count(*) from genres")).scalar_one()
record("as_of", as_of)
record("genres", genres)
record("share_of_eight", genres / 8)
record("label", "not a number")
record("checked", True)
go.Figure(go.Bar(x=["genres"], y=[genres]))
"""
FAIL = """\
if Path("fail.flag").exists():
    raise RuntimeError("failed on purpose")
"""
TABLE = '[reports.figures]\nnotebook = "figures.ipynb"\ncron = "0 6 * * *"\n'


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("changes")
    nb = new_notebook()
    nb.cells = [
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(FIGURES),
        new_code_cell(FAIL),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, folder / "figures.ipynb")
    (folder / "mail.toml").write_text("[defaults]\nself_contained = true\n\n" + TABLE)
    (folder / "schedule.toml").write_text(TABLE)
    return folder


@pytest.fixture(scope="module")
def url(db_url: URL, engine: Engine) -> Iterator[URL]:
    yield db_url


def add_genres(engine: Engine, *slugs: str) -> None:
    with engine.begin() as conn:
        for slug in slugs:
            conn.execute(
                text("insert into genres (slug, name) values (:slug, :slug)"), {"slug": slug}
            )


def run(url: URL, schedule: Path, output: Path, monkeypatch: pytest.MonkeyPatch) -> RunResult:
    monkeypatch.setenv("IWM_DATABASE_URL", url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        [result] = run_report(load_schedule(schedule, output), "figures", progress_bar=False)
    finally:
        get_settings.cache_clear()
    return result


def header(page: Path) -> str:
    html = page.read_text()
    start, end = html.index('<header class="iwm-report-header">'), html.index("</header>")
    return unescape(html[start:end])


def figures_shown(page: Path) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", header(page).split("Since the previous run")[1])
    return [cells for row in rows if (cells := re.findall(r"<td>(.*?)</td>", row))]


@pytest.mark.heavy
@pytest.mark.kernel
def test_the_header_shows_how_each_figure_changed_since_the_previous_good_run(
    url: URL, engine: Engine, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "output"
    add_genres(engine, "drama", "comedy", "horror", "war")
    first = run(url, folder / "mail.toml", output, monkeypatch)
    assert first.ok, first.record.error
    page = first.file(".html")
    assert page is not None and "Since the previous run" not in header(page)
    # self_contained = true in [defaults]: plotly.js inside the page, nothing beside it.
    assert "<script src=" not in page.read_text().replace('<script src="data:', "")
    assert page.stat().st_size > 4_000_000 and not (output / "_static").exists()

    # A failed run in between is not what the next one compares with.
    add_genres(engine, "western")
    (folder / "fail.flag").touch()
    try:
        failed = run(url, folder / "schedule.toml", output, monkeypatch)
    finally:
        (folder / "fail.flag").unlink()
    assert not failed.ok and failed.record.records["genres"] == 5
    failed_page = failed.file(".html")
    assert failed_page is not None and "Since the previous run" not in header(failed_page)
    static = r'<script src="\.\./\.\./_static/plotly-[\d.]+\.min\.js"'
    assert re.search(static, failed_page.read_text())  # the failed page still draws its chart

    add_genres(engine, "music")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IWM_")}
    env["IWM_DATABASE_URL"] = url.render_as_string(hide_password=False)
    argv = [str(IWM_LAB), "report", "--schedule", str(folder / "schedule.toml")]
    argv += ["--output", str(output), "run", "figures", "--self-contained"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    third = output / "figures" / "latest"
    assert json.loads((third / "run.json").read_text())["records"]["genres"] == 6
    page = third / "figures.html"
    assert "<script src=" not in page.read_text() and page.stat().st_size > 4_000_000
    # Numbers only (not text, not yes/no, not as_of), against the first run: 4 -> 6 genres.
    assert figures_shown(page) == [
        ["genres", "6", "4", "+2", "+50.0%"],
        ["share of eight", "0.75", "0.50", "+0.25", "+50.0%"],
    ]
    shown = header(page)
    assert f"run <code>{first.record.run_id}</code> of " in shown
    assert failed.record.run_id not in shown


def record_of(run_id: str, status: str, **fields: object) -> RunRecord:
    return RunRecord.from_dict(
        {"run_id": run_id, "status": status, "trigger": "manual", "started": "2026-11-28", **fields}
    )


def test_the_previous_run_is_a_comparable_one() -> None:
    runs = [
        record_of("5", "success", parameters={"region": "IN"}, ad_hoc=True),
        record_of("4", "failed", parameters={"region": "US"}),
        record_of("3", "success", parameters={"region": "US", "as_of": "2026-01-01"}, ad_hoc=True),
        record_of("2", "success", parameters={"region": "US", "as_of": "2026-11-27T06:00:00"}),
        record_of("1", "success", parameters={"region": "US"}),
    ]
    now = {"region": "US", "as_of": "2026-11-29T06:00:00"}
    # Same parameters but for as_of; an ad hoc run is compared with ad hoc runs too.
    assert previous_run(runs, now, ad_hoc=False).run_id == "2"  # type: ignore[union-attr]
    assert previous_run(runs, now, ad_hoc=True).run_id == "3"  # type: ignore[union-attr]
    assert previous_run(runs, {"region": "DE"}, ad_hoc=False) is None


def test_changes_are_formatted_for_readers() -> None:
    before = record_of("1", "success", records={"rows": 1_200, "gap": -0.25, "zero": 0, "x": 1})
    changes = figure_changes({"rows": 1_084, "gap": 0.125, "zero": 3, "y": 2}, before)
    assert changes is not None
    assert [(f.label, f.now, f.before, f.change, f.relative) for f in changes.figures] == [
        ("rows", "1,084", "1,200", "\u2212116", "\u22129.7%"),
        ("gap", "0.12", "\u22120.25", "+0.38", "+150.0%"),
        ("zero", "3", "0", "+3", ""),
    ]
    assert figure_changes({"y": 2}, before) is None
