"""Alerts on recorded figures: fire once, remind after a grace period, say when they clear.

A report's ``alerts`` (see :class:`iwm_lab.reports.rules.Alert`)::

    alerts = [ { record = "reviews_age_days", op = ">", value = 2, notify = ["ops"],
                 grace = "12h" },
               { record = "failed_imports", when = "has_rows", notify = ["ops"] } ]

After each run the runner calls :func:`evaluate_alerts` with the run's figures, holding the
job's lock, and sends the events it returns. The state of each alert lives in
``<job_dir>/alerts.json``, beside ``state.json``, so a restart neither forgets a firing alert
(which would send it again) nor the time of its last message (which the grace counts from)::

    {"alerts": {"reviews_age_days > 2": {"firing": true,
                "since": "2026-11-30T06:00:00+00:00", "last_sent": "2026-11-30T06:00:00+00:00",
                "last_value": 3.4, "run_id": "20261130T060000Z-abc123"}}}

``since`` is when the alert's present state (firing or clear) began, ``last_sent`` when a
message about it was last sent, ``last_value`` the figure (for a list or dict, its number of
rows) and ``run_id`` the run that recorded it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from iwm_lab.exceptions import ReportError
from iwm_lab.formatting import plural
from iwm_lab.reports.gates import describe_value
from iwm_lab.reports.rules import OPERATORS, Alert
from iwm_lab.reports.state import write_json_atomic

__all__ = [
    "ALERT",
    "ALERTS_FILE",
    "RESOLVED",
    "AlertEvent",
    "AlertState",
    "alert_states",
    "condition_holds",
    "evaluate_alerts",
]

ALERTS_FILE = "alerts.json"
ALERT, RESOLVED = "alert", "resolved"  # AlertEvent.kind


@dataclass(frozen=True)
class AlertState:
    """What ``alerts.json`` keeps of one alert (by :attr:`Alert.key`) between runs."""

    firing: bool
    since: str | None = None  # ISO 8601, UTC: when the present state began
    last_sent: str | None = None  # ISO 8601, UTC: the last "alert" or "resolved" message
    last_value: Any = None  # the figure; for a list or dict, its number of rows
    run_id: str | None = None  # the run that recorded last_value


@dataclass(frozen=True)
class AlertEvent:
    """A message to send: an alert fired (or, ``reminder``, still fires after its grace), or
    cleared (``kind`` :data:`RESOLVED`)."""

    kind: str  # ALERT or RESOLVED
    alert: Alert
    value: Any  # the figure as recorded (a has_rows alert: the whole list or dict)
    since: str | None  # ISO 8601, UTC: when the alert began firing
    message: str  # one line, e.g. "reviews_age_days > 2: now 3.4 (since 2026-11-30 06:00 UTC)"
    notify: tuple[str, ...]  # target names
    reminder: bool = False  # still firing, sent again because its grace has passed


def alert_states(job_dir: Path) -> dict[str, AlertState]:
    """Each alert's state by key, from ``<job_dir>/alerts.json``; empty when there is none.

    A file that cannot be read or is damaged raises :class:`ReportError` naming it: starting
    afresh would send every firing alert again, so a person must look (fix or delete it).
    """
    path = job_dir / ALERTS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except ValueError as exc:  # not JSON, or not UTF-8
        raise _damaged(path, f"not JSON ({type(exc).__name__})") from None
    entries = raw.get("alerts") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        raise _damaged(path, "not an alert state file")
    states = {}
    for key, entry in entries.items():
        state = _state(entry)
        if state is None:
            raise _damaged(path, f"the entry of alert {key[:80]!r} is not an alert state")
        states[key] = state
    return states


def evaluate_alerts(
    job_dir: Path,
    alerts: Sequence[Alert],
    records: Mapping[str, Any],
    *,
    run_id: str,
    now: datetime,
) -> list[AlertEvent]:
    """Update each alert's state from a run's figures; the messages to send, in ``alerts``' order.

    - The condition becoming true fires an :data:`ALERT` event.
    - While it stays true, another (a reminder) only once ``grace`` has passed since the last
      message; with a grace of 0 an alert fires once until it clears.
    - The condition turning false while firing gives a :data:`RESOLVED` event.
    - A figure the run did not record, or recorded as null, neither fires nor resolves: the
      alert's state stays as it was (a failed run records nothing and changes nothing).

    State of alerts no longer in ``alerts`` is dropped; of two alerts with the same key, the
    first counts. ``now`` is the run's time (naive: UTC). The caller holds the job's lock;
    a damaged ``alerts.json`` raises :class:`ReportError` before anything changes.
    """
    now = _utc(now)
    before = alert_states(job_dir)
    after: dict[str, AlertState] = {}
    events = []
    for alert in alerts:
        key = alert.key
        if key in after:
            continue
        old = before.get(key)
        value = records.get(alert.record)
        if value is None:
            if old is not None:
                after[key] = old
            continue
        state, event = _step(alert, old, value, run_id, now)
        after[key] = state
        if event is not None:
            events.append(event)
    path = job_dir / ALERTS_FILE
    if after != before or (after and not path.exists()):
        write_json_atomic(path, {"alerts": {key: asdict(state) for key, state in after.items()}})
    return events


def condition_holds(alert: Alert, value: Any) -> bool:
    """Whether ``alert``'s condition is true of a recorded ``value``, whatever its type.

    ``when = "has_rows"``: the value is a non-empty list or dict (a number of rows does not
    count: record the rows). ``op``/``value``: both numbers, both text or both booleans,
    compared with the operator; anything else (a number and text, a list) is false, ``!=``
    included, so a figure of an unexpected type never fires. A TOML date in the alert is
    compared as its ISO text, the form dates are recorded in.
    """
    if alert.when is not None:
        if alert.when != "has_rows":
            raise ReportError(f"alert {alert.key}: unknown condition {alert.when!r}")
        return isinstance(value, list | dict) and len(value) > 0
    compare = OPERATORS.get(alert.op or "")
    if compare is None:
        raise ReportError(f"alert {alert.key}: unknown operator {alert.op!r}")
    expected = alert.value.isoformat() if isinstance(alert.value, date) else alert.value
    if not _same_kind(value, expected):
        return False
    try:
        return bool(compare(value, expected))
    except TypeError:
        return False


def _step(
    alert: Alert, old: AlertState | None, value: Any, run_id: str, now: datetime
) -> tuple[AlertState, AlertEvent | None]:
    stamp = now.isoformat(timespec="seconds")
    kept = len(value) if isinstance(value, list | dict) else value
    firing = old is not None and old.firing
    if condition_holds(alert, value):
        if not firing:
            state = AlertState(True, stamp, stamp, kept, run_id)
            return state, _event(ALERT, alert, value, stamp)
        assert old is not None  # for mypy: firing says so
        last = _parse(old.last_sent)
        due = alert.grace > timedelta(0) and (last is None or now - last >= alert.grace)
        if not due:
            return replace(old, last_value=kept, run_id=run_id), None
        state = replace(old, last_value=kept, run_id=run_id, last_sent=stamp)
        return state, _event(ALERT, alert, value, old.since, reminder=True)
    if firing:
        assert old is not None
        state = AlertState(False, stamp, stamp, kept, run_id)
        return state, _event(RESOLVED, alert, value, old.since)
    if old is None:
        return AlertState(False, stamp, None, kept, run_id), None
    return replace(old, last_value=kept, run_id=run_id), None


def _event(
    kind: str, alert: Alert, value: Any, since: str | None, *, reminder: bool = False
) -> AlertEvent:
    shown = _shown(alert, value)
    if kind == RESOLVED:
        message = f"{alert.describe()} cleared: now {shown}"
    else:
        still = " still" if reminder else ""
        started = _parse(since)
        when = f" (since {started:%Y-%m-%d %H:%M} UTC)" if started is not None else ""
        message = f"{alert.describe()}{still}: now {shown}{when}"
    # One line, whatever a record's name holds.
    message = " ".join(message.splitlines())
    return AlertEvent(kind, alert, value, since, message, alert.notify, reminder)


def _shown(alert: Alert, value: Any) -> str:
    if isinstance(value, list):
        return plural(len(value), "row")
    if isinstance(value, dict):
        return plural(len(value), "entry", "entries")
    return describe_value(value)


def _same_kind(left: Any, right: Any) -> bool:
    # Booleans are not numbers: true > 0 would otherwise fire.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool)
    numbers = int | float
    if isinstance(left, numbers) or isinstance(right, numbers):
        return isinstance(left, numbers) and isinstance(right, numbers)
    return isinstance(left, str) and isinstance(right, str)


def _utc(moment: datetime) -> datetime:
    # Naive times are UTC, as everywhere in the run state.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse(text: str | None) -> datetime | None:
    if text is None:
        return None
    return _utc(datetime.fromisoformat(text))


def _state(entry: object) -> AlertState | None:
    """An entry of the file as an :class:`AlertState`; None when it is not one."""
    if not isinstance(entry, dict) or not isinstance(entry.get("firing"), bool):
        return None
    for key in ("since", "last_sent"):
        moment = entry.get(key)
        if moment is not None:
            try:
                datetime.fromisoformat(moment)
            except (TypeError, ValueError):
                return None
    if not isinstance(entry.get("run_id"), str | None):
        return None
    return AlertState(
        entry["firing"],
        entry.get("since"),
        entry.get("last_sent"),
        entry.get("last_value"),
        entry.get("run_id"),
    )


def _damaged(path: Path, problem: str) -> ReportError:
    return ReportError(
        f"{path} is damaged: {problem}; fix or delete it (deleting it sends every alert that "
        "is firing again)"
    )
