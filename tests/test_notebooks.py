"""The notebooks are tests too.

- Their stored outputs are clean (executed, no errors, no machine paths) and they keep the
  conventions (one ``parameters`` cell whose ``as_of`` is None, meaning the run's time; the
  title and coder instructions in a cell the pages hide; data only through iwm_lab), checked
  without a kernel.
- Their stored outputs are reproduced by ``pytest --nbval-lax notebooks/``, a step of its own
  in ``.ci/test`` (``notebooks/conftest.py`` gives it the tiny dataset): the cells marked
  ``# NBVAL_CHECK_OUTPUT`` must show the same tables of key numbers, never plotly figures.
- papermill runs each one with other parameters, and with parameters or a database that give
  empty results, which must read "No data" rather than fail.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from iwm_lab.demodata import NOTEBOOK_AS_OF
from iwm_lab.queries import awards, box_office, platform_health, streaming, trending
from iwm_lab.reports.parameters import notebook_parameters
from iwm_lab.reports.prepare import prepare
from iwm_lab.reports.records import read_records
from iwm_lab.reports.schedule import load_schedule
from iwm_lab.settings import DEFAULT_SCHEDULE

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = (
    "ratings",
    "streaming_coverage",
    "trending_topics",
    "overview",
    "box_office",
    "awards",
    "platform_health",
)
# The worked example of exploring (README's "Exploring"): no report, but stored and re-run too.
EXPLORING = "exploring"
STORED = (*NAMES, EXPLORING)
CHECK = "# NBVAL_CHECK_OUTPUT"
PLOTLY = "application/vnd.plotly.v1+json"
# What must never reach a stored output: machine paths, URLs, the embedded server's socket.
LEAKS = re.compile(
    r"(?:^|[\s'\"(=])/(?:tmp|home|root|work|var|srv|opt|usr|Users)/"
    r"|\w+://|postgresql|iwm-lab-[0-9a-f]{8}|IWM_DATABASE_URL"
)


def read(path: Path) -> nbformat.NotebookNode:
    nb: nbformat.NotebookNode = nbformat.read(path, as_version=4)
    return nb


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def output_text(nb: nbformat.NotebookNode) -> str:
    """Everything a reader sees as text: markdown and plain-text outputs, printed lines."""
    parts = []
    for cell in code_cells(nb):
        for output in cell.outputs:
            data = output.get("data", {})
            parts.append(data.get("text/markdown", "") or data.get("text/plain", ""))
            parts.append(output.get("text", ""))
    return "\n".join(parts)


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """Errors, warnings (stderr) and leaked paths or URLs in a notebook's outputs."""
    found = []
    for number, cell in enumerate(code_cells(nb)):
        for output in cell.outputs:
            if output.output_type == "error":
                found.append(f"cell {number}: {output.ename}: {output.evalue}")
            elif output.get("name") == "stderr":
                found.append(f"cell {number} wrote to stderr: {output.text[:300]}")
            # Plotly figures are data, not text a path could hide in; their JSON is large.
            text = json.dumps({k: v for k, v in output.get("data", {}).items() if k != PLOTLY})
            text += output.get("text", "")
            for leak in LEAKS.finditer(text):
                found.append(f"cell {number}: {text[max(0, leak.start() - 60) : leak.end() + 60]}")
    return found


# Stored notebooks ---------------------------------------------------------------------------


def test_the_schedule_and_the_notebooks_name_each_other() -> None:
    schedule = load_schedule(DEFAULT_SCHEDULE)
    scheduled = {spec.notebook.resolve() for spec in schedule.reports.values()}
    assert scheduled == {(NOTEBOOKS / f"{name}.ipynb").resolve() for name in NAMES}
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(STORED)
    for name in schedule.reports:
        # Parameters and fan-out values checked against each notebook, as `report run` does.
        assert prepare(schedule, name)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_cell(name: str) -> None:
    nb = read(NOTEBOOKS / f"{name}.ipynb")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    declared = notebook_parameters(NOTEBOOKS / f"{name}.ipynb")
    assert "as_of" in declared
    # Every assignment of the cell is an annotated parameter that papermill sees.
    body = ast.parse(tagged[0].source).body
    assert not any(isinstance(node, ast.Assign) for node in body)
    assigned = [
        node.target.id
        for node in body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    ]
    assert sorted(assigned) == sorted(declared)
    assert all(p.type.kind != "any" for p in declared.values()), declared
    # A report is as of its run: no date is written into the notebook.
    assert declared["as_of"].default == "None"
    assert declared["as_of"].type.kind == "str" and declared["as_of"].type.nullable
    assert nb.metadata.kernelspec.name == "python3"
    # The title (the page header has it) and the instructions for Lab users stay out of pages.
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "report-hide" in first.metadata.get("tags", [])
    assert not any(
        "change the values" in c.source
        for c in nb.cells
        if "report-hide" not in c.metadata.get("tags", [])
    )


@pytest.mark.parametrize("name", STORED)
def test_stored_outputs_are_executed_and_clean(name: str) -> None:
    nb = read(NOTEBOOKS / f"{name}.ipynb")
    cells = code_cells(nb)
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1))
    assert problems(nb) == []
    assert "papermill" not in nb.metadata
    # No wall-clock time anywhere: nbclient's timings would change on every run.
    assert not any("execution" in c.metadata for c in cells)
    if name in NAMES:
        records = read_records(nb)
        assert records["as_of"].startswith(NOTEBOOK_AS_OF.date().isoformat())


def test_the_exploring_notebook_shows_each_tool() -> None:
    nb = read(NOTEBOOKS / f"{EXPLORING}.ipynb")
    sources = "\n".join(c.source for c in code_cells(nb))
    for tool in ("%load_ext iwm_lab", "%%sql", "iwm_lab.describe(", "iwm_lab.sql(", ":kind"):
        assert tool in sources, tool
    assert "from iwm_lab.queries import" in sources and "charts." in sources
    checked = [c for c in code_cells(nb) if "nbval-check-output" in c.metadata.get("tags", [])]
    assert len(checked) >= 2 and all(c.outputs for c in checked)


@pytest.mark.parametrize("name", NAMES)
def test_cells_get_data_only_from_iwm_lab(name: str) -> None:
    sources = "\n".join(c.source for c in code_cells(read(NOTEBOOKS / f"{name}.ipynb")))
    assert "iwm_lab.connect()" in sources
    assert "from iwm_lab.queries import" in sources
    assert "from iwm_lab import charts" in sources
    for banned in ("sqlalchemy", "read_sql", ".execute(", "select ", "psycopg"):
        assert banned not in sources.lower(), banned


@pytest.mark.parametrize("name", NAMES)
def test_compared_cells_show_tables_not_figures(name: str) -> None:
    checked = [c for c in code_cells(read(NOTEBOOKS / f"{name}.ipynb")) if CHECK in c.source]
    assert len(checked) >= 2
    for cell in checked:
        assert cell.outputs, cell.source
        assert not any(PLOTLY in o.get("data", {}) for o in cell.outputs), cell.source


# papermill ----------------------------------------------------------------------------------

Check = Callable[[dict[str, Any], Connection], None]


def _ratings_drama(records: dict[str, Any], _: Connection) -> None:
    assert records["genre"] == "drama" and records["movies_ranked"] == 5


def _ratings_nothing_rated(records: dict[str, Any], _: Connection) -> None:
    assert records["movies_ranked"] == 0


def _streaming_in(records: dict[str, Any], tiny: Connection) -> None:
    expected = streaming.coverage_by_region(tiny, regions="IN", top_n=10).iloc[0]
    assert records["region"] == "IN"
    assert records["movies_available"] == expected["movies"]
    assert records["top_n_share"] == round(float(expected["top_n_share"]), 3)


def _streaming_gb(records: dict[str, Any], _: Connection) -> None:
    assert records["region"] == "GB" and "movies_available" not in records


def _trending_cricket(records: dict[str, Any], tiny: Connection) -> None:
    expected = trending.hashtag_counts(
        tiny, window_days=30, as_of=datetime(2026, 10, 15), category="cricket", limit=5
    )
    assert records["window"] == "30d" and records["category"] == "cricket"
    assert records["tags_listed"] == len(expected) > 0
    assert records["top_tag"] == expected.loc[0, "tag"]


def _trending_nothing(records: dict[str, Any], _: Connection) -> None:
    assert records["tags_listed"] == 0 and records["rising_tags"] == 0


def _overview_stale(records: dict[str, Any], _: Connection) -> None:
    assert records["stale"] == ["reviews", "pulses"]


def _overview_stale_by_the_clock(records: dict[str, Any], _: Connection) -> None:
    # No as-of given: the run's own time, weeks after the tiny dataset's last review.
    assert records["stale"] == ["reviews", "pulses"]
    ran_at = datetime.fromisoformat(records["as_of"])
    assert abs((ran_at - datetime.now(UTC).replace(tzinfo=None)).total_seconds()) < 600
    assert records["reviews_age_days"] > 7 and records["pulses_age_days"] > 7


def _overview_empty(records: dict[str, Any], _: Connection) -> None:
    assert records["total_rows"] == 0 and records["users"] == 0
    assert records["reviews_age_days"] is None and records["stale"] == ["reviews", "pulses"]


def _box_office_in(records: dict[str, Any], tiny: Connection) -> None:
    runs = box_office.run_legs(tiny, region="IN", until=NOTEBOOK_AS_OF, limit=5)
    assert records["region"] == "IN" and records["runs_listed"] == len(runs) > 0


def _box_office_empty(records: dict[str, Any], _: Connection) -> None:
    assert records["markets"] == 0 and "runs_listed" not in records


def _awards_users(records: dict[str, Any], tiny: Connection) -> None:
    expected = awards.awards_vs_ratings(
        tiny, source="users", min_reviews=5, body_type="academy", year_to=NOTEBOOK_AS_OF.year
    )
    assert records["source"] == "users" and records["comparisons"] == len(expected) > 0
    assert records["nominated_difference"] == round(float(expected["difference"].iloc[0]), 3)


def _awards_empty(records: dict[str, Any], _: Connection) -> None:
    assert records["comparisons"] == 0 and records["people_listed"] == 0
    assert records["selections"] == 0


def _health_past(records: dict[str, Any], tiny: Connection) -> None:
    queue = platform_health.moderation_queue(tiny, as_of="2026-06-01")
    assert records["reports_open"] == int(queue["reports"].sum())
    assert records["as_of"].startswith("2026-06-01")


def _health_empty(records: dict[str, Any], _: Connection) -> None:
    assert records["reports_open"] == 0 and records["quiz_attempts"] == 0


# Notebook, database ("tiny" or "empty"), parameters, text to find, whether "No data" shows,
# and a check of the recorded figures.
RUNS: list[Any] = [
    pytest.param(
        "ratings",
        "tiny",
        {"genre": "drama", "min_reviews": 5, "top_n": 5, "activity_weeks": 4},
        ["movies of the genre **drama**", "The week of 2026-10-19, the latest whole week, had"],
        False,
        _ratings_drama,
        id="ratings-drama",
    ),
    pytest.param(
        "ratings",
        "tiny",
        {"genre": "music", "min_reviews": 500},
        ["**No data:** no selected movie has 500 reviews or more."],
        True,
        _ratings_nothing_rated,
        id="ratings-no-movie-rated",
    ),
    pytest.param(
        "streaming_coverage",
        "tiny",
        {"region": "IN", "top_n": 10, "min_score": 7.0, "max_gaps": 5},
        ["Region looked at closely: **IN**", "of the top 10 rated"],
        False,
        _streaming_in,
        id="streaming-IN",
    ),
    pytest.param(
        "streaming_coverage",
        "tiny",
        {"region": "GB"},  # iwm codes the United Kingdom as UK
        ["### No data for GB", "Regions with offers: AU, BR, CA, DE"],
        True,
        _streaming_gb,
        id="streaming-region-without-offers",
    ),
    pytest.param(
        "trending_topics",
        "tiny",
        {"as_of": "2026-10-15", "window": "30d", "category": "cricket", "top_n": 5},
        ["**Data as of 2026-10-15 UTC.**", "(30 days)"],
        False,
        _trending_cricket,
        id="trending-30d-cricket",
    ),
    pytest.param(
        "trending_topics",
        "tiny",
        {"as_of": "2020-01-01"},
        ["**No data.** No pulses between 2019-12-25 and 2020-01-01"],
        True,
        _trending_nothing,
        id="trending-before-any-pulse",
    ),
    pytest.param(
        "overview",
        "tiny",
        {"as_of": "2026-12-01", "stale_after_days": 14},
        ["**Reviews and pulses are stale** (nothing new for more than 14 days)"],
        False,
        _overview_stale,
        id="overview-stale",
    ),
    pytest.param(
        "overview",
        "tiny-unpinned",
        {},
        ["**Reviews and pulses are stale**"],
        False,
        _overview_stale_by_the_clock,
        id="overview-stale-by-the-clock",
    ),
    pytest.param(
        "overview",
        "empty",
        {},
        ["**No data:** every table is empty.", "**No data:** there are no users."],
        True,
        _overview_empty,
        id="overview-empty-database",
    ),
    pytest.param(
        "box_office",
        "tiny",
        {"region": "in", "weekends": 4, "top_n": 3, "max_runs": 5},
        ["Market looked at closely: **IN**", "the latest recorded in IN"],
        False,
        _box_office_in,
        id="box-office-IN",
    ),
    pytest.param(
        "box_office",
        "empty",
        {},
        ["### No data for US", "**No data:** No movie has both a budget and a gross"],
        True,
        _box_office_empty,
        id="box-office-empty-database",
    ),
    pytest.param(
        "awards",
        "tiny",
        {"source": "users", "min_reviews": 5, "body_type": "academy"},
        ["Nominations of award bodies of type **academy**", "have a mean user rating"],
        False,
        _awards_users,
        id="awards-users-academy",
    ),
    pytest.param(
        "awards",
        "empty",
        {},
        ["**No data:** No year and genre holds both"],
        True,
        _awards_empty,
        id="awards-empty-database",
    ),
    pytest.param(
        "platform_health",
        "tiny",
        {"as_of": "2026-06-01", "min_attempts": 5},
        ["**Data as of 2026-06-01 UTC.**"],
        False,
        _health_past,
        id="platform-health-past",
    ),
    pytest.param(
        "platform_health",
        "empty",
        {},
        ["**No data:** No report was open at"],
        True,
        _health_empty,
        id="platform-health-empty-database",
    ),
]


@pytest.mark.heavy
@pytest.mark.kernel
@pytest.mark.parametrize(("name", "database", "parameters", "texts", "no_data", "check"), RUNS)
def test_papermill_run_with_other_parameters(
    name: str,
    database: str,
    parameters: dict[str, Any],
    texts: list[str],
    no_data: bool,
    check: Check,
    tiny_url: URL,
    db_url: URL,
    tiny: Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from papermill import execute_notebook

    url = db_url if database == "empty" else tiny_url  # db_url: migrated, no rows
    # The kernel inherits this process's environment, as under `iwm-lab report run`.
    monkeypatch.setenv("IWM_DATABASE_URL", url.render_as_string(hide_password=False))
    if database == "tiny-unpinned":
        monkeypatch.delenv("IWM_AS_OF", raising=False)
    else:  # "now" is the day the tiny dataset ends, as for the stored outputs
        monkeypatch.setenv("IWM_AS_OF", NOTEBOOK_AS_OF.isoformat())
    output = tmp_path / f"{name}.ipynb"
    execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        cwd=str(NOTEBOOKS),
    )
    nb = read(output)
    assert problems(nb) == []
    text = output_text(nb)
    for expected in texts:
        assert expected in text
    assert ("No data" in text) == no_data
    check(read_records(nb), tiny)
