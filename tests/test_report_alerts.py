"""Alerts on recorded figures: fire once, stay quiet within the grace, remind after it, resolve.

The state is a real ``alerts.json`` in a job folder; each call reads it afresh, as a new
``run-due`` process would, and ``now`` is driven forward by hand.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from iwm_lab.exceptions import ReportError
from iwm_lab.reports.alerts import (
    ALERT,
    ALERTS_FILE,
    RESOLVED,
    AlertEvent,
    alert_states,
    condition_holds,
    evaluate_alerts,
)
from iwm_lab.reports.rules import Alert
from iwm_lab.reports.schedule import parse_schedule

START = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
AGE = Alert("reviews_age_days", ("ops",), op=">", value=2, grace=timedelta(hours=12))
ONCE = Alert("reviews_age_days", ("ops",), op=">", value=5)  # grace 0: once until it clears
ROWS = Alert("failed_imports", ("ops", "analysts"), when="has_rows")

Evaluate = Callable[..., list[AlertEvent]]


@pytest.fixture
def job(tmp_path: Path) -> Path:
    return tmp_path / "overview"


@pytest.fixture
def at(job: Path) -> Evaluate:
    """Evaluate ``alerts`` on ``records`` at START plus ``hours``, as run ``run-<hours>``."""

    def evaluate(hours: float, records: dict[str, Any], alerts: tuple[Alert, ...] = (AGE,)) -> Any:
        return evaluate_alerts(
            job, alerts, records, run_id=f"run-{hours:g}", now=START + timedelta(hours=hours)
        )

    return evaluate


def kinds(events: list[AlertEvent]) -> list[tuple[str, bool]]:
    return [(e.kind, e.reminder) for e in events]


def test_an_alert_fires_once_when_its_condition_becomes_true(at: Evaluate, job: Path) -> None:
    assert at(0, {"reviews_age_days": 1.5}) == []
    [event] = at(1, {"reviews_age_days": 3.4})
    assert event.kind == ALERT and not event.reminder
    assert event.alert == AGE and event.value == 3.4 and event.notify == ("ops",)
    assert event.since == "2026-11-30T07:00:00+00:00"
    assert event.message == "reviews_age_days > 2: now 3.4 (since 2026-11-30 07:00 UTC)"
    state = alert_states(job)[AGE.key]
    assert state.firing and state.since == state.last_sent == "2026-11-30T07:00:00+00:00"
    assert state.last_value == 3.4 and state.run_id == "run-1"


def test_the_grace_silences_it_and_then_reminds(at: Evaluate, job: Path) -> None:
    assert kinds(at(0, {"reviews_age_days": 3})) == [(ALERT, False)]
    assert at(1, {"reviews_age_days": 3.5}) == []
    assert at(11.9, {"reviews_age_days": 4}) == []
    # Still firing: the state follows the figure, the last message stays where it was.
    state = alert_states(job)[AGE.key]
    assert state.last_value == 4 and state.run_id == "run-11.9"
    assert state.last_sent == "2026-11-30T06:00:00+00:00"
    [reminder] = at(12, {"reviews_age_days": 4.25})
    assert reminder.kind == ALERT and reminder.reminder
    assert reminder.since == "2026-11-30T06:00:00+00:00"  # when it began, not now
    assert reminder.message == "reviews_age_days > 2 still: now 4.25 (since 2026-11-30 06:00 UTC)"
    # The grace counts from the reminder.
    assert at(23, {"reviews_age_days": 5}) == []
    assert kinds(at(24, {"reviews_age_days": 5})) == [(ALERT, True)]


def test_without_a_grace_it_fires_once_until_it_clears(at: Evaluate) -> None:
    assert kinds(at(0, {"reviews_age_days": 6}, (ONCE,))) == [(ALERT, False)]
    for hours in (1, 24, 24 * 30):
        assert at(hours, {"reviews_age_days": 7}, (ONCE,)) == []


def test_it_resolves_once_and_fires_again_after(at: Evaluate, job: Path) -> None:
    at(0, {"reviews_age_days": 3.4})
    [resolved] = at(2, {"reviews_age_days": 1.2})
    assert resolved.kind == RESOLVED and resolved.value == 1.2
    assert resolved.since == "2026-11-30T06:00:00+00:00"
    assert resolved.message == "reviews_age_days > 2 cleared: now 1.2"
    assert not alert_states(job)[AGE.key].firing
    assert at(3, {"reviews_age_days": 1.0}) == []
    assert at(100, {"reviews_age_days": 2}) == []  # > 2 is false at 2
    [again] = at(101, {"reviews_age_days": 2.5})
    assert again.kind == ALERT and not again.reminder
    assert again.message == "reviews_age_days > 2: now 2.5 (since 2026-12-04 11:00 UTC)"


def test_the_state_survives_a_restart(job: Path) -> None:
    alerts = (AGE,)
    evaluate_alerts(job, alerts, {"reviews_age_days": 3}, run_id="a", now=START)
    saved = json.loads((job / ALERTS_FILE).read_text(encoding="utf-8"))
    assert saved == {
        "alerts": {
            "reviews_age_days > 2": {
                "firing": True,
                "since": "2026-11-30T06:00:00+00:00",
                "last_sent": "2026-11-30T06:00:00+00:00",
                "last_value": 3,
                "run_id": "a",
            }
        }
    }
    # A new process knows only the file: the alert is still firing, so no second message...
    copy = job.parent / "restarted"
    copy.mkdir()
    (copy / ALERTS_FILE).write_bytes((job / ALERTS_FILE).read_bytes())
    later = START + timedelta(hours=6)
    assert evaluate_alerts(copy, alerts, {"reviews_age_days": 3}, run_id="b", now=later) == []
    # ...and the grace still counts from the message sent before the restart.
    later = START + timedelta(hours=12)
    [event] = evaluate_alerts(copy, alerts, {"reviews_age_days": 3}, run_id="c", now=later)
    assert event.reminder
    # A lost file would have fired again: that is what the file prevents.
    fresh = job.parent / "fresh"
    assert kinds(evaluate_alerts(fresh, alerts, {"reviews_age_days": 3}, run_id="d", now=later))


@pytest.mark.parametrize(
    ("value", "fires", "shown"),
    [
        ([{"file": "a.csv", "rows": 3}], True, "1 row"),
        ([1, 2, 3], True, "3 rows"),
        ({"US": 2}, True, "1 entry"),
        ([], False, None),
        ({}, False, None),
        (5, False, None),  # a count of rows is not rows
        ("a.csv", False, None),
    ],
)
def test_has_rows(at: Evaluate, value: Any, fires: bool, shown: str | None) -> None:
    events = at(0, {"failed_imports": value}, (ROWS,))
    if not fires:
        assert events == []
        return
    [event] = events
    assert event.value == value and event.notify == ("ops", "analysts")
    assert event.message == f"failed_imports has rows: now {shown} (since 2026-11-30 06:00 UTC)"
    [resolved] = at(1, {"failed_imports": []}, (ROWS,))
    assert resolved.message == "failed_imports has rows cleared: now 0 rows"


def test_has_rows_keeps_the_count_not_the_rows(at: Evaluate, job: Path) -> None:
    at(0, {"failed_imports": [{"line": n} for n in range(500)]}, (ROWS,))
    assert alert_states(job)[ROWS.key].last_value == 500


@pytest.mark.parametrize("records", [{}, {"reviews_age_days": None}], ids=["missing", "null"])
def test_a_missing_figure_leaves_the_state_alone(
    at: Evaluate, job: Path, records: dict[str, Any]
) -> None:
    at(0, {"reviews_age_days": 3})
    before = (job / ALERTS_FILE).read_bytes()
    assert at(1, records) == []  # does not resolve
    assert at(13, records) == []  # does not remind either
    assert (job / ALERTS_FILE).read_bytes() == before
    at(14, {"reviews_age_days": 1})
    assert at(15, records) == []  # nor fire
    assert not alert_states(job)[AGE.key].firing
    # An alert never seen with its figure gets no state at all.
    assert at(16, {}, (AGE, ROWS)) == []
    assert ROWS.key not in alert_states(job)


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"alerts": []}',
        b'{"reviews_age_days > 2": {"firing": true}}',
        b'{"alerts": {"reviews_age_days > 2": {"firing": "yes"}}}',
        b'{"alerts": {"reviews_age_days > 2": {"firing": true, "last_sent": "yesterday"}}}',
        b'{"alerts": {"reviews_age_days > 2": {"firing": true, "run_id": 7}}}',
    ],
)
def test_a_damaged_file_is_an_error_not_a_reset(at: Evaluate, job: Path, content: bytes) -> None:
    job.mkdir()
    (job / ALERTS_FILE).write_bytes(content)
    with pytest.raises(ReportError, match=rf"{job / ALERTS_FILE} is damaged: .*fix or delete"):
        at(0, {"reviews_age_days": 3})
    with pytest.raises(ReportError, match="is damaged"):
        alert_states(job)
    assert (job / ALERTS_FILE).read_bytes() == content


def test_alerts_gone_from_the_schedule_lose_their_state(at: Evaluate, job: Path) -> None:
    at(0, {"reviews_age_days": 3, "failed_imports": [1]}, (AGE, ROWS))
    assert set(alert_states(job)) == {AGE.key, ROWS.key}
    at(1, {"reviews_age_days": 3, "failed_imports": [1]}, (ROWS,))
    assert set(alert_states(job)) == {ROWS.key}
    # Back in the schedule, it starts afresh (and fires).
    assert kinds(at(2, {"reviews_age_days": 3}, (AGE, ROWS))) == [(ALERT, False)]


def test_no_alerts_write_no_file(at: Evaluate, job: Path) -> None:
    assert at(0, {"reviews_age_days": 3}, ()) == []
    assert not (job / ALERTS_FILE).exists()
    assert alert_states(job) == {}


def alert(op: str, value: Any) -> Alert:
    return Alert("figure", ("ops",), op=op, value=value)


@pytest.mark.parametrize(
    ("op", "limit", "value", "holds"),
    [
        ("<", 2, 1, True),
        ("<", 2, 2, False),
        ("<=", 2, 2.0, True),
        ("<=", 2, 2.5, False),
        (">", 2, 2.5, True),
        (">", 2, 2, False),
        (">=", 2, 2, True),
        (">=", 2, 1.9, False),
        ("==", 1, 1.0, True),
        ("==", 1, 2, False),
        ("!=", 1, 2, True),
        ("!=", 1, 1, False),
        ("==", "stale", "stale", True),
        ("!=", "stale", "fresh", True),
        (">", "2026-11-01", "2026-11-30", True),
        (">", date(2026, 11, 1), "2026-11-30", True),  # a TOML date: compared as ISO text
        ("==", True, True, True),
        ("==", True, False, False),
        # Text and numbers, booleans and numbers, lists: false, never an exception.
        (">", 2, "abc", False),
        (">", 2, "3", False),
        ("==", 1, "1", False),
        ("!=", 1, "1", False),
        ("<", "abc", 3, False),
        (">", 0, True, False),
        ("==", 1, True, False),
        ("==", True, 1, False),
        (">", 2, [3, 4], False),
        ("!=", 2, {"a": 1}, False),
    ],
)
def test_conditions(op: str, limit: Any, value: Any, holds: bool) -> None:
    assert condition_holds(alert(op, limit), value) is holds


def test_text_against_a_number_neither_fires_nor_fails(at: Evaluate, job: Path) -> None:
    assert at(0, {"reviews_age_days": "unknown"}) == []
    assert not alert_states(job)[AGE.key].firing
    at(1, {"reviews_age_days": 3})
    # A firing alert whose figure turns into text is not true any more: it clears.
    assert kinds(at(2, {"reviews_age_days": "3"})) == [(RESOLVED, False)]


def test_alerts_parsed_from_a_schedule(tmp_path: Path) -> None:
    toml = """
[targets.ops]
email = ["ops@example.org"]

[reports.overview]
notebook = "overview.ipynb"
cron = "0 6 * * *"
alerts = [ { record = "reviews_age_days", op = ">", value = 2, notify = ["ops"], grace = "12h" },
           { record = "failed_imports", when = "has_rows", notify = "ops" } ]
"""
    schedule = parse_schedule(tomllib.loads(toml), tmp_path / "schedule.toml")
    alerts = schedule.report("overview").alerts
    job = tmp_path / "output" / "overview"
    records = {"reviews_age_days": 3.4, "failed_imports": ["a.csv"]}
    events = evaluate_alerts(job, alerts, records, run_id="r1", now=START)
    assert [e.message for e in events] == [
        "reviews_age_days > 2: now 3.4 (since 2026-11-30 06:00 UTC)",
        "failed_imports has rows: now 1 row (since 2026-11-30 06:00 UTC)",
    ]
    later = START + timedelta(hours=12)
    events = evaluate_alerts(job, alerts, records, run_id="r2", now=later)
    assert [e.alert.record for e in events] == ["reviews_age_days"]  # has_rows has no grace


def test_a_naive_now_is_utc(job: Path) -> None:
    [event] = evaluate_alerts(
        job, (AGE,), {"reviews_age_days": 3}, run_id="a", now=datetime(2026, 11, 30, 6, 0)
    )
    assert event.since == "2026-11-30T06:00:00+00:00"
    berlin = datetime.fromisoformat("2026-11-30T19:00:00+01:00")
    [event] = evaluate_alerts(job, (AGE,), {"reviews_age_days": 3}, run_id="b", now=berlin)
    assert event.reminder and event.message.endswith("(since 2026-11-30 06:00 UTC)")
