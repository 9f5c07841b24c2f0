"""Gates before publishing: a report's ``checks`` evaluated on the figures a run recorded.

After the notebook ran and before ``latest`` moves, the runner asks :func:`evaluate_checks`
about the run's records; each reason it returns is one failing check, and any reason holds
the run (kept and viewable, ``latest`` stays on the last good run)::

    checks = [ { record = "reviews_age_days", max = 7 },
               { record = "total_rows", min = 1, max_change_pct = 20 } ]

Kinds (see :data:`iwm_lab.reports.rules.CHECK_KINDS`): ``min`` and ``max`` (inclusive
bounds), ``equals`` (the same JSON value: ``1 == 1.0``, but ``"1" != 1`` and ``true != 1``),
``not_null`` (recorded, and not null) and ``max_change_pct`` (the relative change from the
previous good run, :func:`previous_good_run`, at most this many percent either way).

A figure a check names that the run did not record fails every kind of check: a gate that
passes because the notebook stopped recording its figure would guard nothing. Booleans are
not numbers. Reasons are plain English, numbers formatted as in the rest of the reports.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from iwm_lab.exceptions import ReportError
from iwm_lab.formatting import number, plural, signed
from iwm_lab.reports.changes import previous_run
from iwm_lab.reports.rules import Check
from iwm_lab.reports.state import RunRecord

__all__ = ["describe_value", "evaluate_checks", "json_equal", "previous_good_run"]

_TEXT_MAX = 60  # characters of a text or list value shown in a reason
_MAX_DIGITS = 12


def previous_good_run(runs: Sequence[RunRecord], record: RunRecord) -> RunRecord | None:
    """The run ``record``'s ``max_change_pct`` checks compare with; None when there is none.

    ``runs`` is the job's history, newest first (``JobState.runs``), with or without
    ``record`` itself: only runs older than it count when it is there. The choice is
    :func:`iwm_lab.reports.changes.previous_run`'s, so a gate and the page header's "what
    changed" compare with the same run: successful, the same parameters apart from ``as_of``,
    and not ad hoc unless ``record`` is.
    """
    position = next((i for i, run in enumerate(runs) if run.run_id == record.run_id), None)
    older = runs if position is None else runs[position + 1 :]
    return previous_run(older, record.parameters, ad_hoc=record.ad_hoc)


def evaluate_checks(
    checks: Sequence[Check], records: Mapping[str, Any], previous: RunRecord | None
) -> list[str]:
    """One reason per failing check, in the checks' order; an empty list when all pass.

    ``records`` are the run's figures (``RunRecord.records``); ``previous`` is the run a
    ``max_change_pct`` check compares with (:func:`previous_good_run`). Without one, or when
    it recorded no number under the figure's name, that check passes: there is nothing to
    compare with. A previous value of 0 and any other value now is an unbounded change, which
    fails. The same reason given by two checks (a figure two checks name was not recorded) is
    listed once.
    """
    reasons: list[str] = []
    for check in checks:
        reason = _failure(check, records, previous)
        if reason is not None and reason not in reasons:
            reasons.append(reason)
    return reasons


def _failure(check: Check, records: Mapping[str, Any], previous: RunRecord | None) -> str | None:
    name = check.record
    if name not in records:
        return f"{name} was not recorded"
    value = records[name]
    if check.kind == "not_null":
        return f"{name} is null" if value is None else None
    if check.kind == "equals":
        return _equals(name, value, check.value)
    if check.kind not in ("min", "max", "max_change_pct"):
        raise ReportError(f"check on {name}: unknown kind {check.kind!r}")
    if _number(value) and not math.isfinite(value):
        return f"{name} is {value}, not a finite number"
    if not _number(value):
        return f"{name} is {_what(value)}, not a number"
    bound = check.value
    if check.kind == "min" and value < bound:
        now, least = _apart(value, bound)
        return f"{name} is {now}, below the minimum {least}"
    if check.kind == "max" and value > bound:
        now, most = _apart(value, bound)
        return f"{name} is {now}, above the maximum {most}"
    if check.kind == "max_change_pct":
        return _change(name, value, bound, previous)
    return None


def _equals(name: str, value: Any, expected: Any) -> str | None:
    expected = _as_json(expected)
    if json_equal(value, expected):
        return None
    now, wanted = describe_value(value), describe_value(expected)
    if _finite_number(value) and _finite_number(expected):
        now, wanted = _apart(value, expected)
    elif _kind(value) != _kind(expected):
        # "1" and 1 read alike: name the types.
        now, wanted = f"{now} ({_kind(value)})", f"{wanted} ({_kind(expected)})"
    return f"{name} is {now}, not the expected {wanted}"


def _change(name: str, now: float, bound: float, previous: RunRecord | None) -> str | None:
    if previous is None:
        return None
    before = previous.records.get(name)
    if not _finite_number(before):
        return None
    assert before is not None  # for mypy: _finite_number said so
    limit = _plain(bound, _decimals(bound))
    if before == 0:
        if now == 0:
            return None
        return (
            f"{name} changed from 0 to {_plain(now, _decimals(now))} since the last good run "
            f"({previous.run_id}), an unbounded change, more than {limit}%"
        )
    pct = 100 * (now - before) / abs(before)
    if abs(pct) <= bound or math.isclose(abs(pct), bound, rel_tol=1e-9):
        return None
    # Enough digits that the change shown is above the limit shown (20.04% is not "20.0%").
    digits = 1
    while round(abs(pct), digits) <= bound and digits < _MAX_DIGITS:
        digits += 1
    was, is_now = _apart(before, now)
    return (
        f"{name} changed by {signed(pct, digits)}% since the last good run "
        f"({previous.run_id}: {was} -> {is_now}), more than {limit}%"
    )


def json_equal(left: Any, right: Any) -> bool:
    """Whether two JSON values are the same: numbers by value (``1 == 1.0``), all else by type
    and value (``"1" != 1``, ``true != 1``), lists item by item, dicts key by key."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _number(left) or _number(right):
        return _number(left) and _number(right) and left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    return type(left) is type(right) and bool(left == right)


def describe_value(value: Any) -> str:
    """A recorded value as a reason or an alert message shows it: ``1,850``, ``9.2``,
    ``"stale"``, ``true``, ``null``, ``[1, 2, 3]`` (long text and lists shortened)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _number(value):
        return _plain(value, _decimals(value)) if math.isfinite(value) else str(value)
    value = _as_json(value)
    if isinstance(value, str):
        shown = value if len(value) <= _TEXT_MAX else f"{value[:_TEXT_MAX]}…"
        return json.dumps(shown, ensure_ascii=False)
    try:
        shown = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:  # a circular structure: not a recorded figure, but never a crash
        return type(value).__name__
    return shown if len(shown) <= _TEXT_MAX else f"{shown[:_TEXT_MAX]}…"


def _what(value: Any) -> str:
    """A non-number named by its type, with the value when short: ``text "abc"``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({describe_value(value)})"
    if isinstance(value, str):
        return f"text {describe_value(value)}"
    if isinstance(value, list | tuple):
        return f"a list of {plural(len(value), 'item')}"
    if isinstance(value, Mapping):
        return f"a dict of {plural(len(value), 'item')}"
    return f"a {type(value).__name__}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _number(value):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a dict"
    return f"a {type(value).__name__}"


def _as_json(value: Any) -> Any:
    # A TOML date or time in a check or alert; the recorded figure holds its ISO text
    # (see iwm_lab.reports.records).
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite_number(value: Any) -> bool:
    return _number(value) and math.isfinite(value)


def _decimals(value: float) -> int:
    """The fewest decimals that show ``value`` as recorded: 7, 9.2, 0.333 (never 0.300000)."""
    if isinstance(value, int) or float(value).is_integer():
        return 0
    for digits in range(1, 5):
        if math.isclose(round(value, digits), value, rel_tol=1e-9, abs_tol=1e-12):
            return digits
    # Not a short decimal: about four significant digits.
    magnitude = math.floor(math.log10(abs(value)))
    return min(_MAX_DIGITS, max(2, 3 - magnitude))


def _plain(value: float, digits: int) -> str:
    # A true minus sign, as in the changes the page header shows.
    return signed(value, digits) if value < 0 else number(value, digits)


def _apart(left: float, right: float) -> tuple[str, str]:
    """Both numbers with their own decimals, or with more when those would show them equal."""
    ldig, rdig = _decimals(left), _decimals(right)
    if left == right or round(left, ldig) != round(right, rdig):
        return _plain(left, ldig), _plain(right, rdig)
    digits = max(ldig, rdig)
    while round(left, digits) == round(right, digits) and digits < _MAX_DIGITS:
        digits += 1
    if round(left, digits) == round(right, digits):
        # Apart only in binary noise (0.1 + 0.2 and 0.3): every digit Python keeps.
        return repr(left), repr(right)
    return _plain(left, digits), _plain(right, digits)
