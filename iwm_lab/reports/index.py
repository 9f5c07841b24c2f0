"""``<output>/index.html``: every report, its latest run with status and links, and its history.

Self-contained (inline CSS, no scripts) and relative links only, so the output folder can be
copied or served anywhere. Rebuilt after every run and by ``iwm-lab report index``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from iwm_lab.reports.schedule import Job, Schedule
from iwm_lab.reports.state import (
    LATEST,
    JobState,
    RunRecord,
    index_lock,
    read_state,
    scan_states,
    write_text_atomic,
)

INDEX_FILE = "index.html"
HISTORY_SHOWN = 50

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
.status-never { background: #eee; color: #666; }
.ad-hoc { background: #fff4d6; color: #8a5a00; }
.error { color: #b00020; white-space: pre-wrap; }
.muted { color: #777; }
details { margin: 0.3em 0 1.2em 0; }
summary { cursor: pointer; font-weight: 600; }
</style>
</head>
<body>
<h1>iwm-lab reports</h1>
<p class="muted">Updated {{ generated }} UTC. Schedule: <code>{{ schedule_path }}</code>.
Times are UTC unless a time zone is named.</p>
<table id="reports">
<thead><tr><th>Report</th><th>Schedule</th><th>Next due</th><th>Latest run</th>
<th>Latest good output</th></tr></thead>
<tbody>
{% for row in rows %}
<tr id="job-{{ row.anchor }}">
<td><a href="#history-{{ row.anchor }}"><code>{{ row.label }}</code></a>
{% if row.description %}<br><span class="muted">{{ row.description }}</span>{% endif %}</td>
<td>{% if row.cron %}<code>{{ row.cron }}</code> ({{ row.timezone }})<br>
<span class="muted">{{ row.explain }}</span>{% else %}<span class="muted">not in the
schedule</span>{% endif %}</td>
<td>{{ row.next_due or "—" }}</td>
<td>{% if row.last %}<span class="status status-{{ row.last.status }}">{{ row.last.status }}</span>
{{ row.last | ad_hoc }}{{ row.last.started | when }}
{% for name, href in row.last_links %} · <a href="{{ href }}">{{ name }}</a>{% endfor %}
{% if row.last.error %}<div class="error">{{ row.last.error }}</div>{% endif %}
{% else %}<span class="status status-never">never run</span>{% endif %}</td>
<td>{% if row.good %}{{ row.good | ad_hoc }}{{ row.good.started | when }}
{% for name, href in row.good_links %} · <a href="{{ href }}">{{ name }}</a>{% endfor %}
{% else %}<span class="muted">none yet</span>{% endif %}</td>
</tr>
{% endfor %}
</tbody>
</table>

<h2>History</h2>
{% for row in rows %}
<details id="history-{{ row.anchor }}"{% if loop.first %} open{% endif %}>
<summary><code>{{ row.label }}</code> — {{ row.runs | length }} run(s){% if row.more %}, latest
{{ row.runs | length }} of {{ row.total }} shown{% endif %}</summary>
{% if row.runs %}
<table>
<thead><tr><th>Run</th><th>Status</th><th>Trigger</th><th>Started</th><th>Took</th>
<th>Parameters</th><th>Output</th></tr></thead>
<tbody>
{% for run, links in row.runs %}
<tr>
<td><code>{{ run.run_id }}</code></td>
<td><span class="status status-{{ run.status }}">{{ run.status }}</span>
{{ run | ad_hoc }}{% if run.error %}<div class="error">{{ run.error }}</div>{% endif %}</td>
<td>{{ run.trigger }}</td>
<td>{{ run.started | when }}</td>
<td>{% if run.seconds is not none %}{{ "%.1f" | format(run.seconds) }} s{% endif %}</td>
<td>{% for k, v in run.parameters | dictsort %}<code>{{ k }}={{ v }}</code>{% if not loop.last %},
{% endif %}{% else %}<span class="muted">defaults</span>{% endfor %}</td>
<td>{% for name, href in links %}<a href="{{ href }}">{{ name }}</a>
{%- if not loop.last %} · {% endif %}{% endfor %}</td>
</tr>
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
class _Row:
    label: str
    anchor: str
    description: str
    cron: str
    timezone: str
    explain: str
    next_due: str
    last: RunRecord | None
    last_links: list[tuple[str, str]]
    good: RunRecord | None
    good_links: list[tuple[str, str]]
    runs: list[tuple[RunRecord, list[tuple[str, str]]]]
    total: int
    more: bool


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
    names = {".html": "HTML", ".ipynb": "notebook"}
    return [
        (names[suffix], f"{key}/{folder or run.run_id}/{name}")
        for suffix in names
        for name in run.files
        if name.endswith(suffix)
    ]


def _row(key: str, state: JobState, job: Job | None, now: datetime) -> _Row:
    spec = job.report if job else None
    # Outside the schedule (a fan-out value off its list) every run is ad hoc, and counts.
    last = state.last_scheduled_run if job else state.last_run
    good = state.last_scheduled_success if job else state.last_success
    shown = state.runs[:HISTORY_SHOWN]
    return _Row(
        label=job.label if job else state.label,
        anchor=key.replace("/", "--"),
        description=spec.description if spec else "",
        cron=spec.cron if spec else "",
        timezone=spec.timezone if spec else "",
        explain=spec.explain() if spec else "",
        next_due=f"{spec.next_slot(now):%Y-%m-%d %H:%M %Z}" if spec else "",
        last=last,
        last_links=_links(key, last) if last else [],
        good=good,
        good_links=_links(key, good, LATEST) if good else [],
        runs=[(run, _links(key, run)) for run in shown],
        total=len(state.runs),
        more=len(state.runs) > len(shown),
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
