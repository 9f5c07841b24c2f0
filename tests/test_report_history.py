"""A report's history, the diff of two runs' figures, and the index page that charts them.

No kernel: the runs are written as the runner writes them (``state.json`` through
``state.write_state``, a folder per run), so every status (held, timed out, skipped, pruned,
published by hand) can be laid out exactly, and the answers checked against known figures.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from iwm_lab.exceptions import OptionNeeded, ReportError
from iwm_lab.reports.history import (
    FIGURE_COLUMNS,
    GONE,
    NEW,
    NUMBER,
    TEXT,
    diff,
    format_diff,
    format_history,
    history,
)
from iwm_lab.reports.index import render_index, sparkline
from iwm_lab.reports.schedule import Schedule, parse_schedule
from iwm_lab.reports.state import (
    FAILED,
    HELD,
    SKIPPED,
    SUCCESS,
    TIMED_OUT,
    JobState,
    RunRecord,
    set_latest,
    write_state,
)

START = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
NOW = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
LONG_TEXT = "x" * 200
REASON = "reviews_age_days <= 7 (recorded 9)"

Runs = Callable[..., list[RunRecord]]


SCHEDULE = {
    "ratings": {"notebook": "ratings.ipynb", "cron": "0 6 * * *"},
    "coverage": {"notebook": "c.ipynb", "cron": "0 6 * * 1", "for_each": {"region": ["US", "IN"]}},
}


@pytest.fixture
def schedule(tmp_path: Path) -> Schedule:
    return parse_schedule({"reports": SCHEDULE}, tmp_path / "schedule.toml", tmp_path / "output")


def make_run(
    n: int, status: str = SUCCESS, records: dict[str, Any] | None = None, **kw: Any
) -> RunRecord:
    """Run number ``n``: a day after run n-1, with an id sortable like the runner's."""
    started = START + timedelta(days=n)
    as_of = (started - timedelta(hours=6)).isoformat()
    return RunRecord(
        f"{started:%Y%m%dT%H%M%SZ}-{n:06x}",
        status,
        "schedule",
        started.isoformat(),
        seconds=1.5,
        as_of=as_of,
        records={"as_of": as_of, **(records or {})},
        **kw,
    )


def write_job(schedule: Schedule, key: str, runs: Sequence[RunRecord]) -> list[RunRecord]:
    """Store ``runs`` (oldest first) as the job's history, with a folder for each kept run."""
    folder = schedule.output_dir / key
    stem = key.replace("/", "-")
    stored = []
    for run in runs:
        if run.status != SKIPPED:
            run = replace(run, files=[f"{stem}.html", f"{stem}.ipynb"])
            if not run.pruned:
                (folder / run.run_id).mkdir(parents=True)
                for name in run.files:
                    (folder / run.run_id / name).write_text("page")
        stored.append(run)
    good = [r for r in stored if r.status == SUCCESS and not r.pruned]
    if good:
        set_latest(folder, good[-1].run_id)
    write_state(folder, JobState(key, key, None, list(reversed(stored))))
    return stored


def figures(movies: int, top: str, **more: Any) -> dict[str, Any]:
    return {"movies": movies, "top_title": top, "session": {"a": 1}, "notes": LONG_TEXT, **more}


# --- history -------------------------------------------------------------------------------------


def test_history_lists_every_run_newest_first_with_its_key_figures(schedule: Schedule) -> None:
    runs = write_job(
        schedule,
        "ratings",
        [
            make_run(
                0, records=figures(10, "Dune", share=0.25), pruned="2025-06-01T00:00:00+00:00"
            ),
            make_run(1, FAILED, error="RuntimeError: boom\nmore lines"),
            make_run(2, HELD, records=figures(99, "Dune"), held_reasons=[REASON]),
            make_run(3, TIMED_OUT, error="stopped after 60 s"),
            make_run(4, records=figures(12, "Heat", share=0.5)),
        ],
    )
    [job] = history(schedule, "ratings")
    assert [r.run_id for r in job.runs] == [r.run_id for r in reversed(runs)]
    assert job.total == 5 and job.scheduled
    # The newest good run's numbers, booleans and short text; not as_of, a dict or long text.
    assert job.figure_names == ["movies", "share", "top_title"]
    text = format_history([job])
    lines = text.splitlines()
    assert lines[0] == "ratings: 5 run(s)"
    assert lines[1].split() == ["RUN", "STARTED", "(UTC)", "STATUS", "AS", "OF", *job.figure_names]
    newest = next(line for line in lines if runs[4].run_id in line)
    assert newest.split()[-3:] == ["12", "0.50", "Heat"]
    assert "2025-03-05 00:00" in newest  # the data's as-of
    pruned = next(line for line in lines if runs[0].run_id in line)
    assert "success, pruned" in pruned and pruned.split()[-3:] == ["10", "0.25", "Dune"]
    timed_out = next(line for line in lines if runs[3].run_id in line)
    assert "timed out" in timed_out
    held_at = next(i for i, line in enumerate(lines) if runs[2].run_id in line)
    assert lines[held_at + 1].strip() == f"held: {REASON}"
    assert (
        lines[held_at + 2].strip() == f"publish it: iwm-lab report publish ratings {runs[2].run_id}"
    )
    failed_at = next(i for i, line in enumerate(lines) if runs[1].run_id in line)
    assert lines[failed_at + 1].strip() == "RuntimeError: boom more lines"
    # Rows are in time order, newest first.
    order = [i for r in reversed(runs) for i, line in enumerate(lines) if r.run_id in line]
    assert order == sorted(order)


def test_history_shows_at_most_six_figures_and_names_the_rest(schedule: Schedule) -> None:
    many = {f"f{i}": i for i in range(FIGURE_COLUMNS + 2)}
    write_job(schedule, "ratings", [make_run(0, records=many)])
    [job] = history(schedule, "ratings")
    assert job.figure_names == [f"f{i}" for i in range(FIGURE_COLUMNS)]
    assert job.more_figures == ["f6", "f7"]
    assert "6 of 8 key figures shown; not shown: f6, f7" in format_history([job])


def test_skipped_runs_share_one_row_and_do_not_push_real_runs_out(schedule: Schedule) -> None:
    real = [make_run(i, records={"movies": i}) for i in range(3)]
    skipped = [make_run(10 + i, SKIPPED, note="nothing it reads changed") for i in range(30)]
    runs = write_job(schedule, "ratings", [real[0], real[1], *skipped, real[2]])
    [job] = history(schedule, "ratings", limit=4)
    assert {r.run_id for r in real} <= {r.run_id for r in job.runs}
    assert [len(row) for row in job.rows()] == [1, 30, 1, 1]
    text = format_history([job])
    streak = next(line for line in text.splitlines() if "30 runs" in line)
    assert "skipped (unchanged)" in streak
    assert f"{runs[2].run_id} … {runs[31].run_id}" in text
    # A limit of 2 rows: the newest run and the streak.
    [short] = history(schedule, "ratings", limit=2)
    assert len(short.runs) == 31 and "31 of 33 runs shown" in format_history([short])


def test_a_fan_out_report_has_one_history_per_part(schedule: Schedule) -> None:
    us = write_job(schedule, "coverage/region-US", [make_run(0, records={"titles": 5})])
    write_job(schedule, "coverage/region-IN", [make_run(1, records={"titles": 7})])
    write_job(schedule, "coverage/region-FR", [make_run(2, records={"titles": 1}, ad_hoc=True)])
    jobs = history(schedule, "coverage")
    assert [j.key for j in jobs] == [
        "coverage/region-US",
        "coverage/region-IN",
        "coverage/region-FR",
    ]
    assert [j.scheduled for j in jobs] == [True, True, False]
    text = format_history(jobs)
    assert "coverage[region=US]: 1 run(s)" in text and "coverage[region=IN]: 1 run(s)" in text
    assert "a part outside the schedule" in text
    [one] = history(schedule, "coverage", {"region": "US"})
    assert [r.run_id for r in one.runs] == [us[0].run_id]
    [fr] = history(schedule, "coverage", {"region": "FR"})
    assert fr.key == "coverage/region-FR" and not fr.scheduled


@pytest.mark.parametrize(
    ("name", "part", "message"),
    [
        ("coverage", {"region": "XX"}, "has no part region=XX (its parts: region=US; region=IN)"),
        ("coverage", {"window": "7d"}, "'window' is not a fan-out key of report coverage"),
        ("ratings", {"region": "US"}, "report ratings has no parts"),
        ("nope", None, "no report named 'nope'"),
    ],
)
def test_history_names_what_is_wrong_with_the_report_or_part(
    schedule: Schedule, name: str, part: dict[str, str] | None, message: str
) -> None:
    with pytest.raises(ReportError, match=re.escape(message)):
        history(schedule, name, part)


# --- diff ----------------------------------------------------------------------------------------


@pytest.fixture
def ratings(schedule: Schedule) -> list[RunRecord]:
    """Good, good, failed, held, good: the last two good runs are 1 and 4."""
    return write_job(
        schedule,
        "ratings",
        [
            make_run(0, records=figures(8, "Alien", gone_soon=3)),
            make_run(1, records=figures(10, "Dune", gone_soon=3, fresh=True, share=0.5)),
            make_run(2, FAILED, records={"movies": 500}, error="boom"),
            make_run(3, HELD, records=figures(99, "Tron"), held_reasons=[REASON]),
            make_run(4, records=figures(12, "Heat", fresh=False, share=0.5, added=4)),
        ],
    )


def test_diff_defaults_to_the_last_two_good_runs(
    schedule: Schedule, ratings: list[RunRecord]
) -> None:
    result = diff(schedule, "ratings")
    assert (result.before.run_id, result.after.run_id) == (ratings[1].run_id, ratings[4].run_id)
    by_name = {f.name: f for f in result.figures}
    assert "as_of" not in by_name
    movies = by_name["movies"]
    assert (movies.kind, movies.before, movies.after, movies.change, movies.relative) == (
        NUMBER,
        "10",
        "12",
        "+2",
        "+20.0%",
    )
    assert movies.changed
    assert not by_name["share"].changed and by_name["share"].change == "0.00"
    top = by_name["top_title"]
    assert (top.kind, top.change, top.changed) == (TEXT, "Dune -> Heat", True)
    assert by_name["fresh"].change == "true -> false"
    assert (by_name["added"].kind, by_name["added"].after, by_name["added"].change) == (
        NEW,
        "4",
        "new",
    )
    assert (by_name["gone_soon"].kind, by_name["gone_soon"].before) == (GONE, "3")
    assert not by_name["session"].changed and by_name["session"].change == ""
    assert by_name["notes"].after == "x" * 39 + "…"
    assert {f.name for f in result.changed} == {
        "movies",
        "top_title",
        "fresh",
        "added",
        "gone_soon",
    }
    text = format_diff(result)
    assert text.splitlines()[0] == "ratings"
    assert f"before {ratings[1].run_id}" in text and f"after  {ratings[4].run_id}" in text
    row = next(line for line in text.splitlines() if line.split()[:1] == ["movies"])
    assert row.split() == ["movies", "10", "12", "+2", "+20.0%"]
    assert "Dune -> Heat" in text and "5 of 8 figure(s) changed" in text


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ((0, 4), (0, 4)),  # both given, whole
        (("20250301", "20250305T06"), (0, 4)),  # unique prefixes: a day names a run
        ((4,), (1, 4)),  # one given: against the good run before it
        ((3,), (1, 3)),  # a held run against the good run before it
        ((1,), (0, 1)),
        ((4, 0), (4, 0)),  # the order given is kept: before, after
    ],
)
def test_diff_by_run_ids_and_prefixes(
    schedule: Schedule,
    ratings: list[RunRecord],
    ids: tuple[int | str, ...],
    expected: tuple[int, int],
) -> None:
    names = [ratings[i].run_id if isinstance(i, int) else i for i in ids] + [None]
    result = diff(schedule, "ratings", names[0], names[1])
    assert (result.before.run_id, result.after.run_id) == tuple(ratings[i].run_id for i in expected)


def test_a_fan_out_diff_takes_its_part_from_the_arguments_or_the_run_ids(
    schedule: Schedule,
) -> None:
    us = write_job(
        schedule,
        "coverage/region-US",
        [make_run(0, records={"n": 1}), make_run(1, records={"n": 3})],
    )
    write_job(
        schedule,
        "coverage/region-IN",
        [make_run(2, records={"n": 5}), make_run(3, records={"n": 4})],
    )
    assert diff(schedule, "coverage", part={"region": "US"}).after.run_id == us[1].run_id
    result = diff(schedule, "coverage", us[1].run_id)
    assert result.label == "coverage[region=US]" and result.before.run_id == us[0].run_id
    with pytest.raises(OptionNeeded) as caught:
        diff(schedule, "coverage")
    assert isinstance(caught.value, ReportError) and caught.value.option == "part"
    assert "2 parts (region=US; region=IN)" in str(caught.value)
    assert caught.value.remedy == "KEY VALUE to pick one (e.g. region US)"


@pytest.mark.parametrize(
    ("layout", "args", "message"),
    [
        ([(0, SUCCESS), (1, FAILED), (2, HELD)], (), "ratings has 1 good run(s); a diff needs two"),
        (
            [(0, SUCCESS), (1, SUCCESS)],
            ("nothing",),
            "no run of ratings is 'nothing' or starts with it",
        ),
        ([(0, SUCCESS), (1, SUCCESS)], ("2025030",), "'2025030' is ambiguous: 2 runs of ratings"),
        ([(0, SUCCESS), (1, SUCCESS)], ("20250301", "20250301T"), "are the same run"),
        ([(0, SUCCESS), (1, SUCCESS)], ("20250301",), "no good run before 20250301T060000Z-000000"),
    ],
)
def test_diff_errors_say_what_is_missing(
    schedule: Schedule, layout: list[tuple[int, str]], args: tuple[str, ...], message: str
) -> None:
    runs = write_job(
        schedule, "ratings", [make_run(n, status, records={"m": n}) for n, status in layout]
    )
    padded = [*args, None, None]
    with pytest.raises(ReportError, match=re.escape(message)) as caught:
        diff(schedule, "ratings", padded[0], padded[1])
    if "nothing" in args or "2025030" in args:
        # The candidates are named, newest first.
        assert f"{runs[1].run_id}, {runs[0].run_id}" in str(caught.value)


# --- the index page ------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Tags with their attributes, the text, and each key figure's chart and text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.charts: dict[str, dict[str, str | None]] = {}
        self.figure_text: dict[str, str] = {}
        self._figure = ""  # inside the <div data-figure> of this figure (it holds no div)
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._style = tag == "style"
        if tag == "div" and dict(attrs).get("data-figure"):
            self._figure = dict(attrs)["data-figure"] or ""
            self.figure_text[self._figure] = ""
        if tag == "polyline" and self._figure:
            self.charts[self._figure] = dict(attrs)

    def handle_endtag(self, tag: str) -> None:
        self._style = False
        self._figure = "" if tag == "div" else self._figure

    def handle_data(self, data: str) -> None:
        if not self._style:
            self.text.append(data)
        if self._figure:
            self.figure_text[self._figure] += data


def page_of(schedule: Schedule) -> tuple[str, _Page]:
    html = render_index(schedule, NOW)
    page = _Page()
    page.feed(html)
    return html, page


def points(polyline: dict[str, str | None]) -> list[tuple[float, float]]:
    return [
        (float(x), float(y)) for x, y in (p.split(",") for p in (polyline["points"] or "").split())
    ]


def test_the_index_charts_each_key_figure_over_the_good_runs(schedule: Schedule) -> None:
    movies = [10, 30, 20, 40, 35]
    runs = [
        make_run(i, records={"movies": m, "share": 0.5, "top": "Dune"})
        for i, m in enumerate(movies)
    ]
    runs.insert(2, make_run(20, HELD, records={"movies": 999}, held_reasons=[REASON]))
    runs.insert(3, make_run(21, FAILED, records={"movies": -5}, error="boom"))
    write_job(schedule, "ratings", runs)
    html, page = page_of(schedule)
    chart = points(page.charts["movies"])
    assert len(chart) == len(movies)  # the held and failed runs are not good runs
    xs, ys = [x for x, _ in chart], [y for _, y in chart]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)  # oldest left
    # A higher value is drawn higher up: a smaller y.
    assert sorted(range(len(ys)), key=ys.__getitem__) == sorted(
        range(len(movies)), key=lambda i: -movies[i]
    )
    assert min(ys) >= 0 and max(ys) <= 24
    assert "35" in page.figure_text["movies"] and "min 10, max 40" in page.figure_text["movies"]
    assert "5 good run(s)" in page.figure_text["movies"]
    # Equal values: a flat line; text figures get no chart.
    assert len({y for _, y in points(page.charts["share"])}) == 1
    assert "top" not in page.charts
    titles = [i for i, (tag, _) in enumerate(page.tags) if tag == "title"]
    assert len(titles) == 3  # the page's and one per chart
    assert "movies: 35 at the latest good run; min 10, max 40 over 5 good run(s)" in html


def test_a_chart_covers_the_newest_thirty_good_runs(schedule: Schedule) -> None:
    write_job(schedule, "ratings", [make_run(i, records={"n": i}) for i in range(40)])
    _, page = page_of(schedule)
    assert len(points(page.charts["n"])) == 30
    assert "min 10, max 39" in page.figure_text["n"]


def test_sparkline_of_one_value_is_a_dot() -> None:
    svg = sparkline([5.0], "one run")
    assert 'points="60.0,12.0"' in svg and 'cx="60.0" cy="12.0"' in svg
    assert "<title>one run</title>" in svg


def test_the_index_shows_the_new_statuses_and_what_to_do_about_them(schedule: Schedule) -> None:
    runs = write_job(
        schedule,
        "ratings",
        [
            make_run(0, pruned="2025-06-01T00:00:00+00:00", records={"m": 1}),
            make_run(1, records={"m": 2}),
            # As ``report publish`` leaves a held run it published.
            make_run(2, published="2025-03-04T09:00:00+00:00", note=f"held by: {REASON}"),
            make_run(3, TIMED_OUT, error="stopped after 60 s"),
            make_run(4, HELD, held_reasons=[REASON, "movies >= 1"], records={"m": 0}),
        ],
    )
    html, page = page_of(schedule)
    text = " ".join("".join(page.text).split())
    command = f"iwm-lab report publish ratings {runs[4].run_id}"
    row = html[html.index('<tr id="job-ratings">') :]
    row = unescape(" ".join(row[: row.index("</tr>")].split()))
    # The job's latest run is held: why, and the command that publishes it.
    assert "status-held" in row and f"{REASON}; movies >= 1" in row and command in row
    assert text.count(command) == 2  # in the job's row and in its history
    classes = {a.get("class") for t, a in page.tags if t == "span"}
    assert {"status status-held", "status status-timed_out", "status published"} <= classes
    assert "timed out" in text and "timed_out" not in text
    assert "published by hand" in text and f"held by: {REASON}" in text
    hrefs = [a.get("href") or "" for t, a in page.tags if t == "a"]
    assert not [h for h in hrefs if runs[0].run_id in h]  # the pruned run's folder is gone
    assert f"ratings/{runs[1].run_id}/ratings.html" in hrefs
    history_row = html[html.index(f"<code>{runs[0].run_id}</code>") :]
    assert ">pruned</span>" in history_row[: history_row.index("</tr>")]
    assert all((schedule.output_dir / h).is_file() for h in hrefs if not h.startswith("#"))


def test_skipped_runs_are_collapsed_on_the_index(schedule: Schedule) -> None:
    old = [make_run(i, records={"m": i}) for i in range(59)]
    skipped = [make_run(100 + i, SKIPPED, note="unchanged") for i in range(120)]
    newest, checked = make_run(250, records={"m": 99}), make_run(251, SKIPPED)
    write_job(schedule, "ratings", [*old, *skipped, newest, checked])
    html, page = page_of(schedule)
    # 50 rows: the last check, the newest real run, the streak of 120, and 47 older runs.
    for run in [checked, newest, *skipped, *old[12:]]:
        assert run.run_id in html
    assert old[11].run_id not in html
    rows = [a for t, a in page.tags if t == "tr" and a.get("class") == "skipped"]
    assert len(rows) == 2  # the streak, and the newest check alone
    text = " ".join("".join(page.text).split())
    assert "120 runs" in text and "skipped (unchanged) 120 times in a row" in text
    assert "181 run(s), the newest 169 shown, 121 skipped (unchanged)" in text
    # The job's latest run is its latest real one; the check after it is said apart.
    row = html[html.index('<tr id="job-ratings">') :]
    row = " ".join(row[: row.index("</tr>")].split())
    assert newest.run_id in row and checked.run_id not in row
    when = f"{datetime.fromisoformat(checked.started):%Y-%m-%d %H:%M:%S}"
    assert f"skipped (unchanged)</span> {when}: the data it reads had not changed" in row


def test_the_index_loads_nothing_from_anywhere(schedule: Schedule) -> None:
    write_job(schedule, "ratings", [make_run(i, records={"m": i}) for i in range(3)])
    html, page = page_of(schedule)
    assert not [t for t, _ in page.tags if t in ("script", "img", "link", "iframe", "object")]
    assert not [a for _, a in page.tags if "src" in a]
    assert "://" not in html and "<script" not in html.lower()
