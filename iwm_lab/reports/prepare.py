"""Before a run: its parameters typed and checked, its as-of, and whether the schedule makes it.

Checks come in two steps, both before a kernel starts and before anything is written: types
and the notebook's declared choices (:func:`prepare`, no database), then the values only the
database knows, such as regions and genres (:func:`check_values`). A run whose parameters are
not the schedule's (a fan-out value outside ``for_each``, or ``-p`` changing a value) is
*ad hoc*: it runs, and says so in its record, the index and its page.

**As-of.** A notebook that declares ``as_of`` gets the run's own time unless the schedule or
``-p`` sets it: the slot time for ``run-due``, the start of the run for ``report run``. It
travels as a naive ISO date and time in UTC (``2026-11-29T06:00:00``), the time zone the
database's timestamps are stored in, so ``datetime.fromisoformat(as_of)`` in a notebook gives a
moment the query functions take as it is.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iwm_lab.database import database_url, get_engine
from iwm_lab.reports.choices import Allowed, check_declared, check_known, needs_database
from iwm_lab.reports.parameters import (
    NotebookParameter,
    notebook_parameters,
    resolve_parameters,
    shown,
)
from iwm_lab.reports.schedule import Job, Schedule

AS_OF = "as_of"
_NO_DEFAULT = object()


@dataclass(frozen=True)
class PreparedJob:
    """A job whose parameters passed the checks: ready to run."""

    job: Job
    parameters: dict[str, Any]
    declared: dict[str, NotebookParameter]
    ad_hoc: str | None = None  # why the schedule would not make this run; None when it would
    values_checked: bool = False  # checked against the database already (check_values)

    @property
    def where(self) -> str:
        return f"report {self.job.label!r} ({self.job.report.notebook.name})"


def prepare(
    schedule: Schedule, name: str, overrides: Mapping[str, str] | None = None
) -> list[PreparedJob]:
    """Check a report's parameters for each of its jobs; nothing runs.

    ``overrides`` are command-line values (text). One naming a ``for_each`` key selects that
    single part (any value, not only the listed ones: such a part is ad hoc).
    """
    spec = schedule.report(name)
    overrides = dict(overrides or {})
    fixed = {k: overrides.pop(k) for k in list(overrides) if k in spec.for_each}
    declared = notebook_parameters(spec.notebook)
    if fixed:
        # A listed value keeps its schedule.toml type; another is read as the notebook's type.
        typed = resolve_parameters(spec.name, spec.notebook, {}, fixed, declared)
        part = {
            k: next((v for v in spec.for_each[k] if str(v) == text), typed[k])
            for k, text in fixed.items()
        }
        jobs = [spec.job({**jobs_part, **part}) for jobs_part in _other_parts(spec.jobs(), part)]
    else:
        jobs = spec.jobs()
    return [prepare_job(job, overrides, declared) for job in jobs]


def prepare_job(
    job: Job,
    overrides: Mapping[str, str] | None = None,
    declared: dict[str, NotebookParameter] | None = None,
) -> PreparedJob:
    """Check one job's parameters (schedule values, then command-line text) and return it."""
    declared = declared if declared is not None else notebook_parameters(job.report.notebook)
    parameters = resolve_parameters(
        job.label, job.report.notebook, job.parameters, overrides, declared
    )
    prepared = PreparedJob(job, parameters, declared)
    check_declared(prepared.where, parameters, declared)
    reasons = _outside_schedule(job) + _changed_by_hand(job, parameters, overrides or {}, declared)
    return dataclasses.replace(prepared, ad_hoc="; ".join(reasons) or None)


def _other_parts(jobs: list[Job], fixed: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for job in jobs:
        rest = {k: v for k, v in job.part.items() if k not in fixed}
        if rest not in parts:
            parts.append(rest)
    return parts


def _outside_schedule(job: Job) -> list[str]:
    reasons = []
    for key, value in sorted(job.part.items()):
        listed = job.report.for_each.get(key, ())
        if value not in listed:
            values = ", ".join(str(v) for v in listed)
            reasons.append(f"{key} = {shown(value)} is not among the schedule's values ({values})")
    return reasons


def _changed_by_hand(
    job: Job,
    parameters: Mapping[str, Any],
    overrides: Mapping[str, str],
    declared: Mapping[str, NotebookParameter],
) -> list[str]:
    """Command-line values that differ from what the schedule would run with."""
    reasons = []
    for name in sorted(overrides):
        value = parameters[name]
        if name == AS_OF:
            reasons.append(
                f"{AS_OF} = {shown(value)} set by hand (scheduled runs use their own time)"
            )
            continue
        scheduled = job.parameters.get(name, _default(declared[name]))
        if scheduled is _NO_DEFAULT or value != scheduled:
            reasons.append(f"{name} = {shown(value)} set by hand")
    return reasons


def _default(parameter: NotebookParameter) -> Any:
    try:
        return ast.literal_eval(parameter.default)
    except (ValueError, SyntaxError):
        return _NO_DEFAULT


def check_values(prepared: Sequence[PreparedJob]) -> list[PreparedJob]:
    """Check the values only the database knows (regions, genres), on one connection.

    Raises :class:`~iwm_lab.exceptions.ReportValueError` naming the job, the parameter and the
    valid values. Returns the jobs marked as checked.
    """
    if any(needs_database(p.parameters, p.declared) for p in prepared):
        engine = get_engine(database_url())
        try:
            with engine.connect() as conn:
                cache: dict[str, Allowed] = {}
                for item in prepared:
                    check_known(item.where, item.parameters, item.declared, conn, cache)
        finally:
            engine.dispose()
    return [dataclasses.replace(p, values_checked=True) for p in prepared]


def as_of_text(moment: datetime) -> str:
    """A moment as ``as_of`` travels: naive ISO date and time in UTC, to the second."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def run_parameters(prepared: PreparedJob, moment: datetime) -> dict[str, Any]:
    """The parameters to inject: with ``as_of`` at ``moment`` when the notebook declares it
    (as text) and neither the schedule nor ``-p`` set it."""
    declared = prepared.declared.get(AS_OF)
    if declared is None or AS_OF in prepared.parameters or declared.type.kind not in ("str", "any"):
        return dict(prepared.parameters)
    return {**prepared.parameters, AS_OF: as_of_text(moment)}
