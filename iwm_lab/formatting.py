"""Numbers, dates and durations as readers expect them in sentences and tables.

One place decides how a figure reads, so a finding's sentence, a table cell and a report
header say the same thing the same way: thousands separators, percentages rather than
shares, signed gaps, durations in words, blanks rather than ``NaN``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

MISSING = ""


def is_missing(value: Any) -> bool:
    """None, NaN, NaT and pandas' NA: values a reader should see as a blank."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and other containers
        return False


def number(value: Any, digits: int = 0) -> str:
    """``12,345`` or ``3.14``; a blank when missing."""
    if is_missing(value):
        return MISSING
    return f"{float(value):,.{digits}f}" if digits else f"{round(float(value)):,}"


def signed(value: Any, digits: int = 2) -> str:
    """A gap or change with its sign: ``+0.26``, ``\u22120.25`` (a true minus sign), ``0.00``."""
    if is_missing(value):
        return MISSING
    rounded = round(float(value), digits)
    if rounded == 0:
        return f"{0:.{digits}f}"
    text = f"{abs(rounded):,.{digits}f}"
    return f"+{text}" if rounded > 0 else f"\u2212{text}"


def percent(share: Any, digits: int = 1) -> str:
    """A share (0.303) as a percentage (``30.3%``); a blank when missing."""
    if is_missing(share):
        return MISSING
    return f"{100 * float(share):,.{digits}f}%"


def yes_no(value: Any) -> str:
    if is_missing(value):
        return MISSING
    return "yes" if bool(value) else "no"


def day(value: Any) -> str:
    """``2026-11-01`` for a date or moment; a blank when missing."""
    if is_missing(value):
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()


def moment(value: Any) -> str:
    """``2026-11-01 06:00`` (a date alone when it is midnight); a blank when missing."""
    if is_missing(value):
        return MISSING
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.time() == datetime.min.time():
            return value.date().isoformat()
        return f"{value:%Y-%m-%d %H:%M}"
    return value.isoformat() if isinstance(value, date) else str(value)


def duration(value: Any) -> str:
    """A duration in words, in the largest unit that fits: ``45 minutes``, ``6 hours``,
    ``29 days``, ``3 years``. Accepts a ``timedelta`` or a number of days."""
    if is_missing(value):
        return MISSING
    days = value.total_seconds() / 86400 if isinstance(value, timedelta) else float(value)
    sign, days = ("-" if days < 0 else ""), abs(days)
    for size, unit in ((365.25, "year"), (1.0, "day"), (1 / 24, "hour"), (1 / 1440, "minute")):
        if days >= size:
            count = math.floor(days / size) if unit == "year" else round(days / size)
            return f"{sign}{count:,} {unit}{'' if count == 1 else 's'}"
    return "less than a minute"


def age(days: Any) -> str:
    """How long ago, from an age in days: ``35 minutes ago``, ``in 2 years`` (a negative age:
    ahead of the moment it was measured at); a blank when missing."""
    if is_missing(days):
        return MISSING
    length = duration(abs(float(days)))
    return f"in {length}" if float(days) < 0 else f"{length} ago"


def listing(items: Sequence[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c`` (or another ``conjunction``)."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def capitalised(text: str) -> str:
    """``text`` with its first letter in upper case, the rest as it is."""
    return text[:1].upper() + text[1:]


def ordinal(n: int) -> str:
    """``1st``, ``22nd``, ``113th``, ``1,001st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 movie``, ``12,345 movies``."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count:,} {word}"
