"""A report's runs for people: its history with key figures, and what changed between two runs.

``iwm-lab report history NAME`` lists each part's runs newest first, with the figures the
notebook recorded (:func:`iwm_lab.reports.record`); ``iwm-lab report diff NAME [RUN_A
[RUN_B]]`` compares the figures of two runs, by default the last two good ones. Both read
``state.json`` only, so they work for runs whose folders retention has pruned. Numeric
changes are computed by :mod:`.changes`, as on the page header. Consecutive skipped runs
(``run_when = "data_changed"``, nothing changed) are collapsed into one row here and on the
index (:func:`collapse_skipped`), so that they cannot push real runs out of sight.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iwm_lab.exceptions import OptionNeeded, ReportError
from iwm_lab.formatting import number, signed
from iwm_lab.reports.changes import figure_changes, previous_run
from iwm_lab.reports.schedule import Schedule
from iwm_lab.reports.state import (
    HELD,
    SKIPPED,
    STATE_FILE,
    SUCCESS,
    JobState,
    RunRecord,
    read_state,
    status_text,
)

FIGURE_COLUMNS = 6  # key figures shown as columns of the history table
SHORT_TEXT = 40  # longer text figures are not key figures; in a diff they are shortened
NEW, GONE, NUMBER, TEXT = "new", "gone", "number", "text"

_NOT_FIGURES = {"as_of"}  # shown in a column of its own
_SHOWN_IDS = 10  # candidates listed in an unknown or ambiguous run id error


class ReportNeedsPart(OptionNeeded, ReportError):
    """A fan-out report has several parts and the call must name one (``part``)."""


@dataclass(frozen=True)
class JobHistory:
    """The runs of one job (the report, or one fan-out part), newest first."""

    report: str
    key: str
    label: str
    runs: list[RunRecord]  # the first ``limit`` rows, a streak of skipped runs counting one
    total: int  # runs in the job's state, shown or not
    figure_names: list[str]  # columns: the latest good run's key figures, at most 6
    more_figures: list[str]  # its key figures beyond those
    scheduled: bool  # False for a part outside the schedule's for_each (ad hoc runs only)

    def rows(self) -> list[list[RunRecord]]:
        """The runs shown, consecutive skipped runs in one row (see collapse_skipped)."""
        return collapse_skipped(self.runs)


@dataclass(frozen=True)
class FigureDiff:
    """One figure of a diff, its values already formatted for people."""

    name: str
    kind: str  # NUMBER or TEXT (both runs recorded it), NEW or GONE
    before: str  # blank when NEW
    after: str  # blank when GONE
    change: str  # "+66", "Dune -> Heat", "new", "gone"; blank for unchanged text
    relative: str  # "+5.3%" for numbers whose previous value is not 0
    changed: bool


@dataclass(frozen=True)
class RunDiff:
    """Two runs of one job and every figure either recorded (``as_of`` apart)."""

    report: str
    key: str
    label: str
    before: RunRecord
    after: RunRecord
    figures: list[FigureDiff]
    parameters: list[tuple[str, str, str]]  # those that differ (not as_of): name, before, after

    @property
    def changed(self) -> list[FigureDiff]:
        return [f for f in self.figures if f.changed]


@dataclass(frozen=True)
class _Ref:
    key: str
    label: str
    part: dict[str, Any]
    scheduled: bool


# --- shared with the index --------------------------------------------------------------------


def publish_command(report: str, run_id: str) -> str:
    """The command that publishes a held run by hand."""
    return f"iwm-lab report publish {report} {run_id}"


def collapse_skipped(runs: Sequence[RunRecord]) -> list[list[RunRecord]]:
    """Rows of a history: each run alone, but consecutive skipped runs in one row."""
    rows: list[list[RunRecord]] = []
    for run in runs:
        if run.status == SKIPPED and rows and rows[-1][0].status == SKIPPED:
            rows[-1].append(run)
        else:
            rows.append([run])
    return rows


def good_runs(runs: Sequence[RunRecord], *, scheduled: bool = True) -> list[RunRecord]:
    """The successful ``runs`` (newest first); of a scheduled job, those the schedule made.

    A part outside the schedule has only ad hoc runs, and they are its good runs.
    """
    return [r for r in runs if r.status == SUCCESS and not (scheduled and r.ad_hoc)]


def numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def key_figures(records: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded figures worth a column: numbers, booleans and short text (not as_of)."""
    return {
        name: value
        for name, value in records.items()
        if name not in _NOT_FIGURES
        and (
            isinstance(value, bool | int | float)
            or (isinstance(value, str) and len(value) <= SHORT_TEXT)
        )
    }


def figure_text(value: Any) -> str:
    """A recorded value as a table cell: numbers as the page header writes them, text shortened."""
    if numeric(value):
        digits = 0 if isinstance(value, int) else 2
        # A true minus sign, as in the changes beside it (see .changes).
        return signed(value, digits) if value < 0 else number(value, digits)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return _shorten(" ".join(text.split()), SHORT_TEXT)


def when_text(iso: str | None) -> str:
    """``2025-03-10 06:00`` in UTC for an ISO time (naive ones are UTC); a date as it is."""
    try:
        moment = datetime.fromisoformat(iso or "")
    except ValueError:
        return _shorten(iso or "", SHORT_TEXT)
    if len(iso or "") <= 10:
        return f"{moment:%Y-%m-%d}"
    return f"{moment.astimezone(UTC) if moment.tzinfo else moment:%Y-%m-%d %H:%M}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


# --- which jobs ----------------------------------------------------------------------------


def _part_text(part: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_shorten(str(v), SHORT_TEXT)}" for k, v in sorted(part.items()))


def _refs(schedule: Schedule, name: str, part: Mapping[str, Any] | None) -> list[_Ref]:
    """The jobs of report ``name``: every part (with ad hoc ones found on disk), or ``part``."""
    spec = schedule.report(name)
    jobs = spec.jobs()
    refs = [_Ref(job.key, job.label, dict(job.part), True) for job in jobs]
    if not part:
        if spec.for_each:
            # Parts run ad hoc (``-p region XX`` off the list) have folders too.
            known = {job.key for job in jobs}
            for path in sorted((schedule.output_dir / name).glob(f"*/{STATE_FILE}")):
                key = f"{name}/{path.parent.name}"
                if key not in known:
                    state = read_state(path.parent, key, key)
                    refs.append(_Ref(key, state.label, {}, False))
        return refs
    if not spec.for_each:
        raise ReportError(f"report {name} has no parts (no for_each); name no part")
    unknown = sorted(set(part) - set(spec.for_each))
    if unknown:
        raise ReportError(
            f"{_shorten(unknown[0], SHORT_TEXT)!r} is not a fan-out key of report {name} "
            f"(keys: {', '.join(sorted(spec.for_each))})"
        )
    # Values typed on a command line are text; the schedule's may be numbers.
    wanted = {k: str(v) for k, v in part.items()}
    found = [r for r in refs if all(str(r.part[k]) == v for k, v in wanted.items())]
    if found:
        return found
    if set(part) == set(spec.for_each):
        job = spec.job(part)
        if (schedule.output_dir / job.key / STATE_FILE).is_file():
            return [_Ref(job.key, job.label, dict(part), False)]
    raise ReportError(
        f"report {name} has no part {_part_text(part)} "
        f"(its parts: {'; '.join(_part_text(r.part) for r in refs)})"
    )


def _state(schedule: Schedule, ref: _Ref) -> JobState:
    return read_state(schedule.output_dir / ref.key, ref.key, ref.label)


# --- history -----------------------------------------------------------------------------------


def history(
    schedule: Schedule, name: str, part: Mapping[str, Any] | None = None, *, limit: int = 50
) -> list[JobHistory]:
    """Report ``name``'s runs, newest first, for each part (or the one ``part``).

    ``limit`` counts rows: a streak of skipped runs is one row however long. Held, timed out,
    skipped and pruned runs are included (pruned ones keep their figures in the state).
    """
    if limit < 1:
        raise ReportError(f"limit must be at least 1, not {limit}")
    found = []
    for ref in _refs(schedule, name, part):
        state = _state(schedule, ref)
        rows = collapse_skipped(state.runs)[:limit]
        good = good_runs(state.runs, scheduled=ref.scheduled)
        newest = good[0] if good else next((r for r in state.runs if r.records), None)
        names = list(key_figures(newest.records)) if newest else []
        found.append(
            JobHistory(
                report=name,
                key=ref.key,
                label=ref.label,
                runs=[run for row in rows for run in row],
                total=len(state.runs),
                figure_names=names[:FIGURE_COLUMNS],
                more_figures=names[FIGURE_COLUMNS:],
                scheduled=ref.scheduled,
            )
        )
    return found


def _status_cell(run: RunRecord) -> str:
    """The status, and what else to know: ad hoc, published by hand, pruned."""
    flags = (("ad hoc", run.ad_hoc), ("published by hand", run.published), ("pruned", run.pruned))
    return ", ".join([status_text(run.status), *(flag for flag, on in flags if on)])


def _details(report: str, run: RunRecord) -> list[str]:
    """Lines under a run's row: why it was held and how to publish it, or its error."""
    if run.status == HELD and not run.published:
        lines = [f"held: {reason}" for reason in run.held_reasons] or ["held"]
        return [*lines, f"publish it: {publish_command(report, run.run_id)}"]
    if run.error and run.status != SUCCESS:
        return [_shorten(" ".join(run.error.split()), 96)]
    return []


def format_history(histories: Sequence[JobHistory]) -> str:
    """Aligned text tables for a terminal, one block per part."""
    blocks = []
    for job in histories:
        head = f"{job.label}: {job.total} run(s)"
        if not job.scheduled:
            head += " (a part outside the schedule: ad hoc runs)"
        if not job.runs:
            blocks.append(f"{head}\n  no run yet")
            continue
        table = [["RUN", "STARTED (UTC)", "STATUS", "AS OF", *job.figure_names]]
        notes: dict[int, list[str]] = {}
        for row in job.rows():
            run = row[0]
            cells = [run.run_id, when_text(run.started), _status_cell(run), when_text(run.as_of)]
            if len(row) > 1:  # a streak of skipped runs, newest first
                cells[0] = f"{len(row)} runs"
                notes[len(table)] = [
                    f"from {when_text(row[-1].started)} to {when_text(run.started)}; "
                    f"{row[-1].run_id} … {run.run_id}"
                ]
            else:
                notes[len(table)] = _details(job.report, run)
            figures = key_figures(run.records)
            cells += [figure_text(figures[n]) if n in figures else "" for n in job.figure_names]
            table.append(cells)
        lines = [head, *_aligned(table, right=set(range(4, len(table[0]))), notes=notes)]
        shown = len(job.runs)
        if shown < job.total:
            lines.append(f"  {shown} of {job.total} runs shown (the newest; raise the limit)")
        if job.more_figures:
            lines.append(
                f"  {len(job.figure_names)} of {len(job.figure_names) + len(job.more_figures)} "
                f"key figures shown; not shown: {', '.join(job.more_figures)} (a diff shows all)"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _aligned(
    table: Sequence[Sequence[str]], *, right: set[int], notes: Mapping[int, list[str]] | None = None
) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for number_, row in enumerate(table):
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(("  " + "  ".join(cells)).rstrip())
        lines += [f"      {note}" for note in (notes or {}).get(number_, [])]
    return lines


# --- diff ----------------------------------------------------------------------------------------


def _match(state: JobState, run_id: str) -> list[RunRecord]:
    exact = [r for r in state.runs if r.run_id == run_id]
    return exact or [r for r in state.runs if r.run_id.startswith(run_id)]


def _find(state: JobState, label: str, run_id: str) -> RunRecord:
    """The run ``run_id`` names, whole or by a unique prefix."""
    matches = _match(state, run_id) if run_id else []
    asked = _shorten(run_id, SHORT_TEXT)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        newest = ", ".join(r.run_id for r in state.runs[:_SHOWN_IDS]) or "none"
        raise ReportError(f"no run of {label} is {asked!r} or starts with it (newest: {newest})")
    listed = ", ".join(r.run_id for r in matches[:_SHOWN_IDS])
    more = f" and {len(matches) - _SHOWN_IDS} more" if len(matches) > _SHOWN_IDS else ""
    raise ReportError(
        f"run id {asked!r} is ambiguous: {len(matches)} runs of {label} start with it "
        f"({listed}{more}); give more of it"
    )


def _good_before(state: JobState, after: RunRecord, scheduled: bool) -> RunRecord | None:
    """The good run before ``after``: the one its page compares with, else the newest good."""
    older = state.runs[state.runs.index(after) + 1 :]
    ad_hoc = after.ad_hoc or not scheduled
    comparable = previous_run(older, after.parameters, ad_hoc=ad_hoc)
    if comparable is not None:
        return comparable
    # Its parameters changed since: the newest good run still says what the figures were.
    return next(iter(good_runs(older, scheduled=scheduled and not after.ad_hoc)), None)


def _pick_ref(
    schedule: Schedule, name: str, part: Mapping[str, Any] | None, ids: list[str]
) -> _Ref:
    refs = _refs(schedule, name, part)
    if len(refs) == 1:
        return refs[0]
    if ids:
        # Run ids are unique across parts: the ones given say which part is meant.
        holding = [r for r in refs if all(_match(_state(schedule, r), i) for i in ids)]
        if len(holding) == 1:
            return holding[0]
        if not holding:
            asked = " and ".join(repr(_shorten(i, SHORT_TEXT)) for i in ids)
            raise ReportError(f"no part of report {name} has a run {asked} (or starting so)")
    parts = "; ".join(_part_text(r.part) if r.part else r.label for r in refs)
    key, value = next(iter(refs[0].part.items()), ("KEY", "VALUE"))  # the first is scheduled
    raise ReportNeedsPart(
        f"report {name} has {len(refs)} parts ({parts}); a diff compares runs of one",
        option="part",
        remedy=f"KEY VALUE to pick one (e.g. {key} {_shorten(str(value), SHORT_TEXT)})",
    )


def diff(
    schedule: Schedule,
    name: str,
    run_a: str | None = None,
    run_b: str | None = None,
    part: Mapping[str, Any] | None = None,
) -> RunDiff:
    """How each figure changed from run ``run_a`` to run ``run_b`` of one job.

    With no run id, the last two good runs; with one, that run against the good run before
    it (the one its page compared with, when the parameters allow). Ids may be unique
    prefixes. A fan-out report needs ``part`` unless the run ids name one part's runs.
    """
    ids = [i for i in (run_a, run_b) if i is not None]
    ref = _pick_ref(schedule, name, part, ids)
    state = _state(schedule, ref)
    if len(ids) == 2:
        before, after = (_find(state, ref.label, run_id) for run_id in ids)
        if before.run_id == after.run_id:
            raise ReportError(f"{ids[0]!r} and {ids[1]!r} are the same run, {after.run_id}")
    else:
        good = good_runs(state.runs, scheduled=ref.scheduled)
        if not ids and len(good) < 2:
            raise ReportError(
                f"{ref.label} has {len(good)} good run(s); a diff needs two (or two run ids)"
            )
        after = _find(state, ref.label, ids[0]) if ids else good[0]
        found = _good_before(state, after, ref.scheduled)
        if found is None:
            raise ReportError(
                f"{ref.label} has no good run before {after.run_id} to compare it with "
                "(give two run ids)"
            )
        before = found
    return RunDiff(
        report=name,
        key=ref.key,
        label=ref.label,
        before=before,
        after=after,
        figures=_figures(before, after),
        parameters=_parameters(before.parameters, after.parameters),
    )


def _figures(before: RunRecord, after: RunRecord) -> list[FigureDiff]:
    records = {k: v for k, v in after.records.items() if k not in _NOT_FIGURES}
    old = {k: v for k, v in before.records.items() if k not in _NOT_FIGURES}
    # Numbers both runs recorded: computed as the page header computes them.
    compared = figure_changes(records, before)
    numbers = {f.name: f for f in compared.figures} if compared else {}
    found = []
    for name, value in records.items():
        if name in numbers:
            f = numbers[name]
            found.append(
                FigureDiff(name, NUMBER, f.before, f.now, f.change, f.relative, value != old[name])
            )
        elif name not in old:
            found.append(FigureDiff(name, NEW, "", figure_text(value), NEW, "", True))
        else:
            a, b = figure_text(old[name]), figure_text(value)
            same = value == old[name] and type(value) is type(old[name])
            change = "" if same else (f"{a} -> {b}" if a != b else "changed")
            found.append(FigureDiff(name, TEXT, a, b, change, "", not same))
    found += [
        FigureDiff(name, GONE, figure_text(value), "", GONE, "", True)
        for name, value in old.items()
        if name not in records
    ]
    return found


def _parameters(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    names = sorted((set(before) | set(after)) - {"as_of"})
    return [
        (n, figure_text(before.get(n, "(default)")), figure_text(after.get(n, "(default)")))
        for n in names
        if before.get(n) != after.get(n)
    ]


def _run_line(role: str, run: RunRecord) -> str:
    as_of = f", data as of {when_text(run.as_of)}" if run.as_of else ""
    return (
        f"  {role:<6} {run.run_id}, started {when_text(run.started)} UTC{as_of} "
        f"({_status_cell(run)})"
    )


def format_diff(result: RunDiff) -> str:
    """The diff as text for a terminal: the two runs, then one row per figure."""
    lines = [result.label, _run_line("before", result.before), _run_line("after", result.after)]
    if not result.figures:
        lines.append("  neither run recorded a figure")
    else:
        table = [["FIGURE", "BEFORE", "AFTER", "CHANGE", "%"]]
        table += [[f.name, f.before, f.after, f.change, f.relative] for f in result.figures]
        lines += ["", *_aligned(table, right={1, 2, 4})]
        lines += ["", f"  {len(result.changed)} of {len(result.figures)} figure(s) changed"]
    if result.parameters:
        differ = "; ".join(f"{n} {a} -> {b}" for n, a, b in result.parameters)
        lines.append(f"  parameters differ: {differ}")
    return "\n".join(lines)
