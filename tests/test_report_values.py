"""Report parameter values checked before a kernel starts; valid values off the schedule are
ad hoc; the run's own time reaches the notebook as ``as_of``.

Against the tiny demo dataset (its regions and genres), through the library and the CLI. A
wrong value must leave nothing behind: no run folder, no history, no row in the index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from iwm_lab.exceptions import ReportValueError
from iwm_lab.queries._common import genre_slugs, regions
from iwm_lab.reports.choices import declared_choices
from iwm_lab.reports.due import run_due
from iwm_lab.reports.prepare import check_values, prepare, run_parameters
from iwm_lab.reports.schedule import Schedule, load_schedule
from iwm_lab.settings import get_settings

IWM_LAB = Path(sys.executable).parent / "iwm-lab"
PARAMETERS = """\
from typing import Optional

region: str = "US"
genre: Optional[str] = None
category: Optional[str] = None
window: str = "7d"
a: str = "users"
b: str = "critics"
top_n: int = 10
size: str = "small"  # how much to show; one of: small, `medium`, "large"
as_of: Optional[str] = None
"""
SCHEDULE = """\
[reports.coverage]
notebook = "values.ipynb"
cron = "0 0 1 1 *"
for_each = { region = ["US", "IN"] }

[reports.picks]
notebook = "values.ipynb"
cron = "0 0 1 1 *"
parameters = { window = "30d", as_of = "2026-10-01" }
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("values")
    nb = new_notebook()
    nb.cells = [
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell('from iwm_lab.reports import record\nrecord("as_of", as_of)'),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, folder / "values.ipynb")
    (folder / "schedule.toml").write_text(SCHEDULE)
    return folder


@pytest.fixture
def schedule(folder: Path, tmp_path: Path) -> Schedule:
    return load_schedule(folder / "schedule.toml", tmp_path / "output")


@pytest.fixture
def on_tiny(tiny_url: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[URL]:
    monkeypatch.setenv("IWM_DATABASE_URL", tiny_url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield tiny_url
    get_settings.cache_clear()


def cli(url: URL, folder: Path, output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IWM_")}
    env["IWM_DATABASE_URL"] = url.render_as_string(hide_password=False)
    argv = [str(IWM_LAB), "report", "--schedule", str(folder / "schedule.toml")]
    argv += ["--output", str(output), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def test_a_parameter_comment_declares_its_choices() -> None:
    assert declared_choices("one of: 7d, 30d") == ("7d", "30d")
    assert declared_choices('how much; One of: small, `medium`, "large"') == (
        "small",
        "medium",
        "large",
    )
    assert declared_choices("movie, cricket, event or general") is None
    assert declared_choices("") is None


WRONG = [
    ({"genre": "nollywood"}, "genre", "nollywood"),
    ({"category": "films"}, "category", "films"),
    ({"window": "9x"}, "window", "9x"),
    ({"window": "0d"}, "window", "0d"),
    ({"window": "4000d"}, "window", "4000d"),
    ({"a": "metacritic"}, "a", "metacritic"),
    ({"b": "Users"}, "b", "Users"),
]


@pytest.mark.parametrize(("overrides", "name", "value"), WRONG)
def test_a_value_outside_its_choices_is_refused_with_the_valid_ones(
    schedule: Schedule, on_tiny: URL, overrides: dict[str, str], name: str, value: str
) -> None:
    prepared = prepare(schedule, "picks", overrides)
    with pytest.raises(ReportValueError) as caught:
        check_values(prepared)
    message = str(caught.value)
    assert message.startswith(f"report 'picks' (values.ipynb): parameter {name!r} cannot be ")
    assert f"{value!r}; valid values: " in message and "\n" not in message


def test_the_valid_values_come_from_the_database(
    schedule: Schedule, on_tiny: URL, tiny: Connection
) -> None:
    with pytest.raises(ReportValueError) as caught:
        check_values(prepare(schedule, "coverage", {"region": "XX"}))
    assert str(caught.value).endswith(f"valid values: {', '.join(regions(tiny))}")
    with pytest.raises(ReportValueError) as caught:
        check_values(prepare(schedule, "picks", {"genre": "nollywood"}))
    assert str(caught.value).endswith(f"valid values: {', '.join(genre_slugs(tiny))}")
    with pytest.raises(ReportValueError, match=r"or <days>d for 1 to 3,650 days$"):
        check_values(prepare(schedule, "picks", {"window": "9x"}))
    # The notebook's own list needs no database, and wins over the registry.
    with pytest.raises(ReportValueError, match=r"valid values: small, medium, large$"):
        prepare(schedule, "picks", {"size": "huge"})
    good = {"genre": genre_slugs(tiny)[0], "category": "movie", "window": "45d", "a": "imdb"}
    [checked] = check_values(prepare(schedule, "picks", good | {"size": "medium"}))
    assert checked.values_checked and checked.parameters["window"] == "45d"
    # None means "all of them" and is not checked.
    assert check_values(prepare(schedule, "picks", {"genre": "none"}))


@pytest.mark.parametrize("spelling", [str.lower, lambda r: f" {r[0]}{r[1:].lower()} "])
def test_a_region_is_admitted_in_any_case_as_the_queries_read_it(
    schedule: Schedule, on_tiny: URL, tiny: Connection, spelling: Callable[[str], str]
) -> None:
    region = regions(tiny)[-1]
    [checked] = check_values(prepare(schedule, "coverage", {"region": spelling(region)}))
    assert checked.values_checked
    # Still a wrong code in any case: "xx" is no region.
    with pytest.raises(ReportValueError, match=r"parameter 'region' cannot be 'xx'; valid values"):
        check_values(prepare(schedule, "coverage", {"region": "xx"}))


@pytest.mark.heavy
@pytest.mark.slow
def test_a_wrong_value_exits_1_and_leaves_nothing_behind(
    folder: Path, tiny_url: URL, tmp_path: Path
) -> None:
    output = tmp_path / "output"
    done = cli(tiny_url, folder, output, "run", "coverage", "-p", "region", "XX")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(
        "error: report 'coverage[region=XX]' (values.ipynb): parameter 'region' cannot be 'XX'"
    )
    assert "valid values: " in done.stderr and len(done.stderr.splitlines()) == 1
    done = cli(tiny_url, folder, output, "run", "picks", "-p", "window", "fortnight")
    assert done.returncode == 1 and "<days>d" in done.stderr
    assert not output.exists()  # no run folder, no history, no index


@pytest.mark.slow
def test_run_due_refuses_a_wrong_scheduled_value_without_recording_a_run(
    folder: Path, on_tiny: URL, tmp_path: Path
) -> None:
    path = folder / "wrong.toml"
    path.write_text(
        '[reports.typo]\nnotebook = "values.ipynb"\ncron = "0 0 1 1 *"\n'
        'for_each = { region = ["XX"] }\n'
    )
    schedule = load_schedule(path, tmp_path / "output")
    [outcome] = run_due(schedule)
    assert outcome.status == "error" and "parameter 'region' cannot be 'XX'" in outcome.message
    assert not list((tmp_path / "output").rglob("state.json"))
    assert not list((tmp_path / "output").rglob("*.ipynb"))


@pytest.mark.heavy
@pytest.mark.kernel
def test_a_valid_value_off_the_schedule_runs_labelled_ad_hoc(
    folder: Path, tiny_url: URL, tiny: Connection, tmp_path: Path
) -> None:
    ad_hoc = next(r for r in regions(tiny) if r not in ("US", "IN"))
    output = tmp_path / "output"
    done = cli(tiny_url, folder, output, "run", "coverage", "-p", "region", ad_hoc)
    assert done.returncode == 0, done.stderr
    assert f"coverage[region={ad_hoc}]: success (ad hoc) in " in done.stdout
    job = output / "coverage" / f"region-{ad_hoc}"
    run = json.loads((job / "latest" / "run.json").read_text())
    assert run["ad_hoc"] is True
    assert run["ad_hoc_reason"] == (
        f"region = {ad_hoc!r} is not among the schedule's values (US, IN)"
    )
    page = (job / "latest" / f"coverage-region-{ad_hoc}.html").read_text()
    assert '<span class="iwm-badge">ad hoc</span>' in page
    assert "not a scheduled output: region = " in page
    index = (output / "index.html").read_text()
    row = index[index.index(f"coverage[region={ad_hoc}]") :]
    assert 'class="status ad-hoc"' in row[: row.index("</tr>")]
    # Its last run, latest good output and history row; the scheduled parts stay unlabelled.
    assert index.count('class="status ad-hoc"') == 3


def test_what_makes_a_run_ad_hoc(schedule: Schedule) -> None:
    def reason(name: str, overrides: dict[str, str]) -> str | None:
        [prepared] = prepare(schedule, name, overrides)
        return prepared.ad_hoc

    assert reason("coverage", {"region": "US"}) is None  # a scheduled part, run by hand
    assert reason("picks", {}) is None
    assert reason("picks", {"window": "30d", "top_n": "10"}) is None  # the same values
    assert reason("picks", {"window": "45d"}) == "window = '45d' set by hand"
    assert reason("picks", {"top_n": "5"}) == "top_n = 5 set by hand"
    assert reason("coverage", {"region": "US", "as_of": "2026-01-01"}) == (
        "as_of = '2026-01-01' set by hand (scheduled runs use their own time)"
    )


def test_the_run_time_becomes_as_of_unless_set(schedule: Schedule) -> None:
    slot = datetime(2026, 3, 30, 6, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    [us, _] = prepare(schedule, "coverage")
    # A slot in Berlin's summer time reaches the notebook in UTC, without an offset.
    assert run_parameters(us, slot) == {"region": "US", "as_of": "2026-03-30T04:00:00"}
    assert run_parameters(us, datetime(2026, 11, 29, 6, 0, 0, 999, tzinfo=UTC))["as_of"] == (
        "2026-11-29T06:00:00"
    )
    [picks] = prepare(schedule, "picks")  # schedule.toml sets as_of: it wins
    assert run_parameters(picks, slot)["as_of"] == "2026-10-01"
    [us] = prepare(schedule, "coverage", {"region": "US", "as_of": "2026-01-01T12:00"})
    assert run_parameters(us, slot)["as_of"] == "2026-01-01T12:00"  # so does -p


def test_a_notebook_without_as_of_gets_none(folder: Path, tmp_path: Path) -> None:
    nb = new_notebook()
    nb.cells = [new_code_cell('region: str = "US"', metadata={"tags": ["parameters"]})]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / "plain.ipynb")
    path = tmp_path / "schedule.toml"
    path.write_text('[reports.plain]\nnotebook = "plain.ipynb"\ncron = "0 6 * * *"\n')
    [prepared] = prepare(load_schedule(path), "plain")
    assert run_parameters(prepared, datetime.now(UTC)) == {}
