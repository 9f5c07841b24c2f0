"""Gates before publishing: each check kind on recorded figures, and the run it compares with.

No kernel and no database: the gates read figures a run recorded (``RunRecord.records``) and
the job's history, both plain data.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from iwm_lab.exceptions import ReportError
from iwm_lab.reports.changes import figure_changes
from iwm_lab.reports.gates import describe_value, evaluate_checks, json_equal, previous_good_run
from iwm_lab.reports.rules import Check
from iwm_lab.reports.schedule import parse_schedule
from iwm_lab.reports.state import FAILED, HELD, SUCCESS, RunRecord

MISSING = object()  # the figure was not recorded at all
PREVIOUS_ID = "20261129T060000Z-abc123"


def run(
    run_id: str,
    status: str = SUCCESS,
    *,
    records: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    ad_hoc: bool = False,
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        status=status,
        trigger="schedule",
        started="2026-11-29T06:00:00+00:00",
        parameters=parameters if parameters is not None else {"as_of": run_id[:8]},
        records=records or {},
        ad_hoc=ad_hoc,
    )


def check_one(check: Check, value: Any, previous: RunRecord | None = None) -> list[str]:
    records = {} if value is MISSING else {check.record: value}
    return evaluate_checks([check], records, previous)


@pytest.mark.parametrize(
    ("check", "value", "reason"),
    [
        (Check("movies_rated", "min", 1), 1, None),
        (Check("movies_rated", "min", 1), 0, "movies_rated is 0, below the minimum 1"),
        (Check("share", "min", 0.25), 0.2, "share is 0.2, below the minimum 0.25"),
        (Check("reviews_age_days", "max", 7), 7, None),
        (Check("reviews_age_days", "max", 7), 6.99, None),
        (Check("reviews_age_days", "max", 7), 9.2, "reviews_age_days is 9.2, above the maximum 7"),
        (Check("total", "max", 1000), 12345, "total is 12,345, above the maximum 1,000"),
        (Check("delta", "min", -1), -2.5, "delta is \u22122.5, below the minimum \u22121"),
        # Shown with enough digits to see why it failed.
        (Check("x", "max", 7), 7.00001, "x is 7.00001, above the maximum 7.00000"),
        (Check("status", "equals", "fresh"), "fresh", None),
        (
            Check("status", "equals", "fresh"),
            "stale",
            'status is "stale", not the expected "fresh"',
        ),
        (Check("count", "equals", 1), 1.0, None),
        (Check("count", "equals", 1), 2, "count is 2, not the expected 1"),
        (Check("count", "equals", 1), "1", 'count is "1" (text), not the expected 1 (a number)'),
        (Check("flag", "equals", True), True, None),
        (
            Check("flag", "equals", True),
            1,
            "flag is 1 (a number), not the expected true (a boolean)",
        ),
        (Check("f", "equals", 0.3), 0.1 + 0.2, "f is 0.30000000000000004, not the expected 0.3"),
        (Check("day", "equals", date(2026, 11, 30)), "2026-11-30", None),
        (
            Check("day", "equals", date(2026, 11, 30)),
            "2026-12-01",
            'day is "2026-12-01", not the expected "2026-11-30"',
        ),
        (Check("as_of", "not_null", True), "2026-11-30", None),
        (Check("as_of", "not_null", True), 0, None),
        (Check("as_of", "not_null", True), None, "as_of is null"),
        (Check("movies_rated", "min", 1), MISSING, "movies_rated was not recorded"),
        (Check("movies_rated", "equals", 1), MISSING, "movies_rated was not recorded"),
        (Check("movies_rated", "not_null", True), MISSING, "movies_rated was not recorded"),
        (Check("movies_rated", "max_change_pct", 20), MISSING, "movies_rated was not recorded"),
        (Check("label", "min", 0), "abc", 'label is text "abc", not a number'),
        (Check("label", "max", 0), None, "label is null, not a number"),
        (Check("checked", "max", 1), True, "checked is a boolean (true), not a number"),
        (Check("rows", "min", 1), [1, 2], "rows is a list of 2 items, not a number"),
        (Check("rows", "min", 1), {"a": 1}, "rows is a dict of 1 item, not a number"),
        (Check("rows", "max_change_pct", 5), "12", 'rows is text "12", not a number'),
        (Check("ratio", "max", 1), float("nan"), "ratio is nan, not a finite number"),
    ],
)
def test_each_check_kind_passes_or_says_why(check: Check, value: Any, reason: str | None) -> None:
    assert check_one(check, value) == ([] if reason is None else [reason])


@pytest.mark.parametrize(
    ("before", "now", "reason"),
    [
        (5000, 4000, None),  # -20%: at the limit
        (5000, 6000, None),
        (5000, 5000, None),
        (
            5000,
            1850,
            "total_rows changed by \u221263.0% since the last good run "
            f"({PREVIOUS_ID}: 5,000 -> 1,850), more than 20%",
        ),
        (
            100,
            120.04,
            "total_rows changed by +20.04% since the last good run "
            f"({PREVIOUS_ID}: 100 -> 120.04), more than 20%",
        ),
        (
            -50,
            -70,
            "total_rows changed by \u221240.0% since the last good run "
            f"({PREVIOUS_ID}: \u221250 -> \u221270), more than 20%",
        ),
        (0, 0, None),
        (
            0,
            3,
            f"total_rows changed from 0 to 3 since the last good run ({PREVIOUS_ID}), "
            "an unbounded change, more than 20%",
        ),
        # Nothing numeric to compare with: the check passes.
        (MISSING, 1850, None),
        (None, 1850, None),
        ("5000", 1850, None),
        (True, 1850, None),
    ],
)
def test_max_change_pct_against_the_previous_good_run(
    before: Any, now: float, reason: str | None
) -> None:
    previous = run(PREVIOUS_ID, records={} if before is MISSING else {"total_rows": before})
    check = Check("total_rows", "max_change_pct", 20)
    assert check_one(check, now, previous) == ([] if reason is None else [reason])


def test_max_change_pct_passes_without_a_previous_run() -> None:
    assert check_one(Check("total_rows", "max_change_pct", 0), 1) == []


def test_several_checks_give_one_reason_each_in_order() -> None:
    checks = [
        Check("rows", "min", 1),
        Check("rows", "max", 10),
        Check("age", "max", 7),
        Check("gone", "min", 1),
        Check("gone", "max", 5),  # the same missing figure is named once
        Check("as_of", "not_null", True),
    ]
    records = {"rows": 0, "age": 8, "as_of": "2026-11-30"}
    assert evaluate_checks(checks, records, None) == [
        "rows is 0, below the minimum 1",
        "age is 8, above the maximum 7",
        "gone was not recorded",
    ]
    assert evaluate_checks(checks, {"rows": 5, "age": 1, "gone": 3, "as_of": "x"}, None) == []


def test_an_unknown_check_kind_is_an_error() -> None:
    with pytest.raises(ReportError, match="unknown kind 'between'"):
        evaluate_checks([Check("rows", "between", 3)], {"rows": 1}, None)


def test_checks_parsed_from_a_schedule_hold_a_run(tmp_path: Path) -> None:
    toml = """
[reports.overview]
notebook = "overview.ipynb"
cron = "0 6 * * *"
checks = [ { record = "reviews_age_days", max = 7 },
           { record = "total_rows", min = 1, max_change_pct = 20 } ]
"""
    schedule = parse_schedule(tomllib.loads(toml), tmp_path / "schedule.toml")
    checks = schedule.report("overview").checks
    previous = run(PREVIOUS_ID, records={"total_rows": 5000, "reviews_age_days": 1.0})
    good = {"reviews_age_days": 1.5, "total_rows": 5100}
    assert evaluate_checks(checks, good, previous) == []
    bad = {"reviews_age_days": 9.2, "total_rows": 1850}
    assert evaluate_checks(checks, bad, previous) == [
        "reviews_age_days is 9.2, above the maximum 7",
        "total_rows changed by \u221263.0% since the last good run "
        f"({PREVIOUS_ID}: 5,000 -> 1,850), more than 20%",
    ]


# The job's history, newest first.
HISTORY = [
    run("20261201T060000Z-000005", records={"total_rows": 10}),  # newer than the run checked
    run("20261130T060000Z-000004", FAILED, records={"total_rows": 1}),
    run("20261130T050000Z-000003", HELD, records={"total_rows": 2}),
    run("20261130T040000Z-000009", records={"total_rows": 3}, ad_hoc=True),
    run(
        "20261130T030000Z-000008",
        records={"total_rows": 4},
        parameters={"as_of": "x", "region": "IN"},
    ),
    run("20261129T060000Z-000002", records={"total_rows": 5000}),
    run("20261128T060000Z-000001", records={"total_rows": 4900}),
]


@pytest.mark.parametrize("listed", [True, False], ids=["in-history", "not-yet-added"])
def test_the_previous_good_run_is_a_comparable_success(listed: bool) -> None:
    record = run("20261130T060000Z-000006", records={"total_rows": 1850})
    history = [*HISTORY[:1], record, *HISTORY[1:]] if listed else HISTORY[1:]
    previous = previous_good_run(history, record)
    # Not the failed, held, ad hoc or other-region runs; not a later one either.
    assert previous is not None
    assert previous.run_id == "20261129T060000Z-000002"
    # The page header's "what changed" compares with the same run.
    changes = figure_changes(record.records, previous)
    assert changes is not None and changes.run_id == previous.run_id


def test_a_run_with_other_parameters_does_not_count() -> None:
    record = run("20261130T060000Z-000006", parameters={"as_of": "y", "region": "US"})
    history = [record, HISTORY[4]]  # only the region IN run before it
    assert previous_good_run(history, record) is None
    check = Check("total_rows", "max_change_pct", 20)
    assert evaluate_checks([check], {"total_rows": 1850}, previous_good_run(history, record)) == []


def test_an_ad_hoc_run_compares_with_ad_hoc_runs_too() -> None:
    record = run("20261130T060000Z-000006", ad_hoc=True)
    previous = previous_good_run(HISTORY[1:], record)
    assert previous is not None and previous.run_id == "20261130T040000Z-000009"


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        (1, 1.0, True),
        ("1", 1, False),
        (True, 1, False),
        (False, 0, False),
        (None, None, True),
        (None, 0, False),
        ([1, "a"], [1.0, "a"], True),
        ([1, "a"], ["1", "a"], False),
        ([1], [1, 1], False),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": 1}, {"b": 1}, False),
        ({"a": True}, {"a": 1}, False),
    ],
)
def test_json_equal(left: Any, right: Any, same: bool) -> None:
    assert json_equal(left, right) is same
    assert json_equal(right, left) is same


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1850, "1,850"),
        (3.4, "3.4"),
        (1 / 3, "0.3333"),
        (-2, "\u22122"),
        ("stale", '"stale"'),
        (None, "null"),
        (False, "false"),
        ([1, 2], "[1, 2]"),
        ("x" * 100, '"' + "x" * 60 + '…"'),
    ],
)
def test_values_read_as_in_the_reports(value: Any, shown: str) -> None:
    assert describe_value(value) == shown
