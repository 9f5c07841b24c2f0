"""``<output>/index.html``: every report, its latest run with status and links, and its history.

Self-contained (inline CSS, inline SVG, no scripts) and relative links only, so the output
folder can be copied or served anywhere. Rebuilt after every run and by ``iwm-lab report
index``. Each job shows its key figures over its recent good runs as small charts; a held run
says why and how to publish it; a pruned run says so instead of linking to a deleted folder;
consecutive skipped runs share one row of the history (see :mod:`.history`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from iwm_lab.reports.history import (
    FIGURE_COLUMNS,
    collapse_skipped,
    figure_text,
    good_runs,
    key_figures,
    numeric,
    publish_command,
    when_text,
)
from iwm_lab.reports.schedule import Job, Schedule
from iwm_lab.reports.state import (
    LATEST,
    SKIPPED,
    JobState,
    RunRecord,
    index_lock,
    read_state,
    scan_states,
    status_text,
    write_text_atomic,
)

INDEX_FILE = "index.html"
HISTORY_SHOWN = 50  # rows: a streak of skipped runs takes one
CHART_RUNS = 30  # good runs a key figure's chart covers
# The chart's box, in CSS pixels; the line keeps PAD from its edges.
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 120, 24, 3

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>iwm-lab reports</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0 1.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35em 0.6em; text-align: left;
  vertical-align: top; font-size: 0.95em; }
th { background: #f4f4f6; }
code { font-size: 0.92em; }
.status { font-weight: 600; padding: 0.05em 0.45em; border-radius: 0.3em; }
.status-success { background: #e3f4e6; color: #1b6b2a; }
.status-failed { background: #fde7ea; color: #b00020; }
.status-interrupted { background: #fff4d6; color: #8a5a00; }
.status-held { background: #efe3f7; color: #6a1b9a; }
.status-timed_out { background: #ffe8d9; color: #a33f00; }
.status-skipped { background: #e6eef8; color: #3b5b85; }
.status-never { background: #eee; color: #666; }
.ad-hoc { background: #fff4d6; color: #8a5a00; }
.published { background: #e6eef8; color: #3b5b85; }
.error { color: #b00020; white-space: pre-wrap; }
.held { color: #6a1b9a; }
.muted { color: #777; }
.figure { white-space: nowrap; margin: 0.1em 0; }
.figure code { display: inline-block; min-width: 9em; }
.figure svg { vertical-align: middle; margin: 0 0.4em 0 0; }
.figure .value { font-variant-numeric: tabular-nums; }
tr.skipped td { color: #557; background: #f8f9fc; }
details { margin: 0.3em 0 1.2em 0; }
summary { cursor: pointer; font-weight: 600; }
td details { margin: 0.2em 0 0 0; }
td summary { font-weight: normal; }
</style>
</head>
<body>
{%- macro status(run) -%}
<span class="status status-{{ run.status }}">{{ run.status | status_text }}</span>
{%- if run.published %} <span class="status published" title="published by hand at
{{ run.published | when }} UTC">published by hand</span>{% endif %}
{%- endmacro %}
{%- macro held(row, run) -%}
{% if run.status == "held" and not run.published %}<div class="held">Held:
{% for reason in run.held_reasons %}{{ reason }}{% if not loop.last %}; {% endif %}
{%- else %}a check failed{% endfor %}. Kept here, not published; to publish it:
<code>{{ row.report | publish(run.run_id) }}</code></div>{% endif %}
{%- endmacro %}
{%- macro output(links, run) -%}
{% if run.pruned %}<span class="muted" title="deleted by retention at {{ run.pruned | when }}
UTC">pruned</span>{% else %}{% for name, href in links %}<a href="{{ href }}">{{ name }}</a>
{%- if not loop.last %} · {% endif %}{% endfor %}{% endif %}
{%- endmacro %}
<h1>iwm-lab reports</h1>
<p class="muted">Updated {{ generated }} UTC. Schedule: <code>{{ schedule_path }}</code>.
Times are UTC unless a time zone is named.</p>
<table id="reports">
<thead><tr><th>Report</th><th>Schedule</th><th>Next due</th><th>Latest run</th>
<th>Latest good output</th><th>Key figures</th></tr></thead>
<tbody>
{% for row in rows %}
<tr id="job-{{ row.anchor }}">
<td><a href="#history-{{ row.anchor }}"><code>{{ row.label }}</code></a>
{% if row.description %}<br><span class="muted">{{ row.description }}</span>{% endif %}</td>
<td>{% if row.cron %}<code>{{ row.cron }}</code> ({{ row.timezone }})<br>
<span class="muted">{{ row.explain }}</span>{% else %}<span class="muted">not in the
schedule</span>{% endif %}</td>
<td>{{ row.next_due or "—" }}</td>
<td>{% if row.last %}{{ status(row.last) }}
{{ row.last | ad_hoc }}{{ row.last.started | when }}
{% if row.last.pruned %} · {{ output([], row.last) }}{% else %}
{%- for name, href in row.last_links %} · <a href="{{ href }}">{{ name }}</a>{% endfor %}{% endif %}
{% if row.last.error %}<div class="error">{{ row.last.error }}</div>{% endif %}
{{ held(row, row.last) }}
{% elif not row.checked %}<span class="status status-never">never run</span>{% endif %}
{% if row.checked %}<div class="muted"><span class="status status-skipped">skipped
(unchanged)</span> {{ row.checked.started | when }}: the data it reads had not changed</div>
{% endif %}</td>
<td>{% if row.good %}{{ row.good | ad_hoc }}{{ row.good.started | when }}
{% for name, href in row.good_links %} · <a href="{{ href }}">{{ name }}</a>{% endfor %}
{% else %}<span class="muted">none yet</span>{% endif %}</td>
<td>{% for f in row.figures %}<div class="figure" data-figure="{{ f.name }}">
<code>{{ f.name }}</code>{{ f.chart }}<span class="value">{{ f.latest }}</span>
<span class="muted">(min {{ f.low }}, max {{ f.high }}; {{ f.count }} good run(s))</span></div>
{% else %}<span class="muted">none recorded</span>{% endfor %}
{% if row.more_figures %}<div class="muted">and {{ row.more_figures | length }} more:
{{ row.more_figures | join(", ") }}</div>{% endif %}</td>
</tr>
{% endfor %}
</tbody>
</table>

<h2>History</h2>
{% for row in rows %}
<details id="history-{{ row.anchor }}"{% if loop.first %} open{% endif %}>
<summary><code>{{ row.label }}</code> — {{ row.total }} run(s){% if row.more %}, the newest
{{ row.shown }} shown{% endif %}{% if row.skipped %}, {{ row.skipped }} skipped
(unchanged){% endif %}</summary>
{% if row.runs %}
<table>
<thead><tr><th>Run</th><th>Status</th><th>Trigger</th><th>Started</th><th>Took</th>
<th>Parameters</th><th>Output</th></tr></thead>
<tbody>
{% for entry in row.runs %}
{% set run = entry.run %}
{% if entry.skipped | length > 1 %}
<tr class="skipped">
<td><details><summary>{{ entry.skipped | length }} runs</summary>
{% for other in entry.skipped %}<code>{{ other.run_id }}</code><br>{% endfor %}</details></td>
<td>{{ status(run) }} {{ entry.skipped | length }} times in a row</td>
<td>{{ entry.skipped | map(attribute="trigger") | unique | join(", ") }}</td>
<td>{{ entry.skipped[-1].started | when }} to<br>{{ run.started | when }}</td>
<td></td>
<td>the data it reads had not changed</td>
<td></td>
</tr>
{% else %}
<tr{% if run.status == "skipped" %} class="skipped"{% endif %}>
<td><code>{{ run.run_id }}</code></td>
<td>{{ status(run) }}
{{ run | ad_hoc }}{% if run.error %}<div class="error">{{ run.error }}</div>{% endif %}
{{ held(row, run) }}{% if run.note %}<div class="muted">{{ run.note }}</div>{% endif %}</td>
<td>{{ run.trigger }}</td>
<td>{{ run.started | when }}</td>
<td>{% if run.seconds is not none %}{{ "%.1f" | format(run.seconds) }} s{% endif %}</td>
<td>{% for k, v in run.parameters | dictsort %}<code>{{ k }}={{ v }}</code>{% if not loop.last %},
{% endif %}{% else %}<span class="muted">defaults</span>{% endfor %}</td>
<td>{{ output(entry.links, run) }}</td>
</tr>
{% endif %}
{% endfor %}
</tbody>
</table>
{% else %}<p class="muted">No run yet.</p>{% endif %}
</details>
{% endfor %}
</body>
</html>
"""


@dataclass
class _Entry:
    """A row of a job's history: one run, or a streak of skipped runs (newest first)."""

    run: RunRecord
    links: list[tuple[str, str]]
    skipped: list[RunRecord]


@dataclass
class _Figure:
    """A key figure over the job's recent good runs: a chart and the numbers beside it."""

    name: str
    chart: Markup
    latest: str
    low: str
    high: str
    count: int


@dataclass
class _Row:
    label: str
    anchor: str
    report: str
    description: str
    cron: str
    timezone: str
    explain: str
    next_due: str
    last: RunRecord | None
    last_links: list[tuple[str, str]]
    checked: RunRecord | None  # a skipped run newer than ``last``
    good: RunRecord | None
    good_links: list[tuple[str, str]]
    runs: list[_Entry]
    total: int
    shown: int
    skipped: int
    more: bool
    figures: list[_Figure]
    more_figures: list[str]


def _ad_hoc(run: RunRecord) -> Markup:
    """A label for a run the schedule would not make, with the reason as its tooltip."""
    if not run.ad_hoc:
        return Markup("")
    return Markup('<span class="status ad-hoc" title="{}">ad hoc</span> ').format(
        run.ad_hoc_reason or ""
    )


def _when(iso: str | None) -> str:
    if not iso:
        return ""
    return f"{datetime.fromisoformat(iso).astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def _links(key: str, run: RunRecord, folder: str | None = None) -> list[tuple[str, str]]:
    if run.pruned and folder is None:
        return []  # its folder is gone: a link would lead nowhere
    names = {".html": "HTML", ".ipynb": "notebook"}
    return [
        (names[suffix], f"{key}/{folder or run.run_id}/{name}")
        for suffix in names
        for name in run.files
        if name.endswith(suffix)
    ]


def sparkline(values: Sequence[float], title: str) -> Markup:
    """An inline SVG line of ``values`` (oldest first), higher values higher up; no script.

    The last value is marked with a dot; ``title`` is the tooltip. Equal values draw a flat
    line through the middle.
    """
    low, high = min(values), max(values)
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    steps = max(len(values) - 1, 1)

    def x(i: int) -> float:
        return CHART_WIDTH / 2 if len(values) == 1 else CHART_PAD + i * inner_w / steps

    def y(value: float) -> float:
        if high == low:
            return CHART_HEIGHT / 2
        return CHART_PAD + (high - value) / (high - low) * inner_h

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    return Markup(
        '<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        'aria-label="{title}"><title>{title}</title>'
        '<polyline points="{points}" fill="none" stroke="#3465a4" stroke-width="1.5" '
        'stroke-linejoin="round"/><circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.2" '
        'fill="#3465a4"/></svg>'
    ).format(
        w=CHART_WIDTH,
        h=CHART_HEIGHT,
        title=title,
        points=points,
        cx=x(len(values) - 1),
        cy=y(values[-1]),
    )


def _figures(good: Sequence[RunRecord]) -> tuple[list[_Figure], list[str]]:
    """Charts of the newest good run's numeric figures over up to CHART_RUNS good runs."""
    recent = list(reversed(good[:CHART_RUNS]))  # oldest left
    if not recent:
        return [], []
    names = [n for n, v in key_figures(recent[-1].records).items() if numeric(v)]
    figures = []
    for name in names[:FIGURE_COLUMNS]:
        runs = [r for r in recent if numeric(r.records.get(name))]
        values = [r.records[name] for r in runs]
        latest, low, high = (figure_text(v) for v in (values[-1], min(values), max(values)))
        title = (
            f"{name}: {latest} at the latest good run; min {low}, max {high} over "
            f"{len(values)} good run(s) from {when_text(runs[0].started)} to "
            f"{when_text(runs[-1].started)} UTC"
        )
        figures.append(_Figure(name, sparkline(values, title), latest, low, high, len(values)))
    return figures, names[FIGURE_COLUMNS:]


def _row(key: str, state: JobState, job: Job | None, now: datetime) -> _Row:
    spec = job.report if job else None
    # Outside the schedule (a fan-out value off its list) every run is ad hoc, and counts.
    mine = [r for r in state.runs if not r.ad_hoc] if job else state.runs
    # A skipped run says nothing new about the report: the run before it is its latest.
    last = next((r for r in mine if r.status != SKIPPED), None)
    checked = next((r for r in mine if r.status == SKIPPED), None)
    if checked and last and checked.started < last.started:
        checked = None
    good = state.last_scheduled_success if job else state.last_success
    rows = collapse_skipped(state.runs)[:HISTORY_SHOWN]
    figures, more_figures = _figures(good_runs(state.runs, scheduled=job is not None))
    shown = sum(len(row) for row in rows)
    return _Row(
        label=job.label if job else state.label,
        anchor=key.replace("/", "--"),
        report=spec.name if spec else key.split("/")[0],
        description=spec.description if spec else "",
        cron=spec.cron if spec else "",
        timezone=spec.timezone if spec else "",
        explain=spec.explain() if spec else "",
        next_due=f"{spec.next_slot(now):%Y-%m-%d %H:%M %Z}" if spec else "",
        last=last,
        last_links=_links(key, last) if last else [],
        checked=checked,
        good=good,
        good_links=_links(key, good, LATEST) if good else [],
        runs=[
            _Entry(row[0], _links(key, row[0]), row if row[0].status == SKIPPED else [])
            for row in rows
        ],
        total=len(state.runs),
        shown=shown,
        skipped=sum(r.status == SKIPPED for r in state.runs),
        more=len(state.runs) > shown,
        figures=figures,
        more_figures=more_figures,
    )


def render_index(schedule: Schedule, now: datetime | None = None) -> str:
    """The index page's HTML: scheduled jobs first (schedule order), then other output found."""
    now = now or datetime.now(UTC)
    rows = []
    scheduled = {job.key: job for job in schedule.jobs()}
    for key, job in scheduled.items():
        rows.append(_row(key, read_state(schedule.output_dir / key, key, job.label), job, now))
    if schedule.output_dir.is_dir():
        for state in scan_states(schedule.output_dir):
            if state.key not in scheduled:
                rows.append(_row(state.key, state, None, now))
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["when"] = _when
    env.filters["ad_hoc"] = _ad_hoc
    env.filters["status_text"] = status_text
    env.filters["publish"] = publish_command
    return env.from_string(_TEMPLATE).render(
        rows=rows,
        generated=f"{now.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
        schedule_path=str(schedule.path),
    )


def write_index(schedule: Schedule, now: datetime | None = None) -> Path:
    """Write ``<output>/index.html`` atomically and return its path."""
    path = schedule.output_dir / INDEX_FILE
    with index_lock(schedule.output_dir):
        write_text_atomic(path, render_index(schedule, now))
    return path
