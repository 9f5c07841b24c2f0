"""How a run's key figures changed since the previous successful run of the same job.

The figures are what the notebook recorded (:func:`iwm_lab.reports.record`); numbers only.
The previous run must be comparable: same parameters apart from ``as_of`` (which moves with
every scheduled run), and not ad hoc unless this run is ad hoc too, so a scheduled page never
compares itself with somebody's experiment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iwm_lab.formatting import number, signed
from iwm_lab.reports.state import SUCCESS, RunRecord

_NOT_COMPARED = {"as_of"}


@dataclass(frozen=True)
class FigureChange:
    """One key figure, as the page header shows it (text already formatted)."""

    name: str
    label: str
    now: str
    before: str
    change: str
    relative: str  # the change as a percentage of the previous value; blank when that is 0


@dataclass(frozen=True)
class Changes:
    """The previous run compared with, and each numeric figure both runs recorded."""

    run_id: str
    started: str
    as_of: str | None
    figures: list[FigureChange]


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _comparable(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in parameters.items() if k not in _NOT_COMPARED}


def previous_run(
    runs: Iterable[RunRecord], parameters: Mapping[str, Any], *, ad_hoc: bool
) -> RunRecord | None:
    """The newest successful run of ``runs`` (newest first) this run may be compared with."""
    wanted = _comparable(parameters)
    for run in runs:
        if run.status != SUCCESS or (run.ad_hoc and not ad_hoc):
            continue
        if _comparable(run.parameters) == wanted:
            return run
    return None


def _digits(*values: float) -> int:
    return 0 if all(isinstance(v, int) for v in values) else 2


def _value(value: float, digits: int) -> str:
    # A true minus sign, as in the change beside it.
    return signed(value, digits) if value < 0 else number(value, digits)


def figure_changes(records: Mapping[str, Any], previous: RunRecord) -> Changes | None:
    """Each numeric figure in both ``records`` and ``previous.records``; None when none is."""
    figures = []
    for name, now in records.items():
        before = previous.records.get(name)
        if name in _NOT_COMPARED or not (_numeric(now) and _numeric(before)):
            continue
        assert before is not None  # for mypy: _numeric said so
        digits = _digits(now, before)
        delta = now - before
        relative = "" if before == 0 else f"{signed(100 * delta / abs(before), 1)}%"
        figures.append(
            FigureChange(
                name=name,
                label=name.replace("_", " "),
                now=_value(now, digits),
                before=_value(before, digits),
                change=signed(delta, digits),
                relative=relative,
            )
        )
    if not figures:
        return None
    return Changes(previous.run_id, previous.started, previous.as_of, figures)
