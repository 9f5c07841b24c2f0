"""What every query function shares: parameter validation and typed, stable result frames."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Executable, Interval, cast, func, literal, select, text
from sqlalchemy.sql.selectable import TableValuedAlias

from iwm_lab.models import Genre

MAX_LIMIT = 10_000
# The periods of the time series (review_volume, hashtag_timeseries); weeks start on Monday.
FREQUENCIES: tuple[str, ...] = ("day", "week", "month")
_STEPS = {"day": "1 day", "week": "1 week", "month": "1 month"}


def check_limit(value: int, name: str = "limit") -> int:
    """Reject limits outside 1..10,000 (and booleans, which Python counts as ints)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"{name} must be a whole number from 1 to {MAX_LIMIT:,}, got {value!r}")
    return value


def check_positive(value: int | float, name: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def check_choice(value: str, valid: Iterable[str], name: str) -> str:
    """``value`` must be one of ``valid``; the error lists them."""
    options = sorted(valid)
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; valid values: {', '.join(options)}")
    return value


def check_date_range(
    start: date | datetime | None, end: date | datetime | None, names: tuple[str, str]
) -> None:
    if start is not None and end is not None and start > end:
        raise ValueError(f"{names[0]} ({start}) must not be after {names[1]} ({end})")


def check_day(value: date | datetime | str, name: str) -> date:
    """A day, given as a ``date``, a ``datetime`` (the day it falls on) or an ISO string."""
    if isinstance(value, str):
        value = _parse_iso(value, name)
    if isinstance(value, datetime):
        return value.date()
    if not isinstance(value, date):
        raise ValueError(f"{name} must be a date (or an ISO date string), got {value!r}")
    return value


def check_moment(value: datetime | date | str, name: str) -> datetime:
    """A moment as the database's naive timestamps hold it.

    A ``date`` (or a date-only ISO string) stands for its midnight, the start of that day, so
    "as of 2026-11-01" covers what happened before that day began. An aware ``datetime`` is
    converted to UTC, the time zone the timestamps are stored in.
    """
    if isinstance(value, str):
        value = _parse_iso(value, name)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    raise ValueError(f"{name} must be a datetime, a date or an ISO string, got {value!r}")


def _parse_iso(text: str, name: str) -> date | datetime:
    stripped = text.strip()
    try:
        if len(stripped) == 10:
            return date.fromisoformat(stripped)
        return datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"{name} must be an ISO date or date and time (2026-11-01, 2026-11-01T06:00), "
            f"got {text!r}"
        ) from None


def period_starts(freq: str, first_day: date, last_day: date) -> TableValuedAlias:
    """Table ``periods(period)``: the start of every ``freq`` period (one of
    :data:`FREQUENCIES`) from the one holding ``first_day`` to the one holding ``last_day``."""
    return (
        func.generate_series(
            func.date_trunc(freq, literal(datetime.combine(first_day, time()))),
            func.date_trunc(freq, literal(datetime.combine(last_day, time()))),
            cast(literal(_STEPS[freq]), Interval),
        )
        .table_valued("period")
        .render_derived(name="periods")
    )


def check_year_range(year_from: int | None, year_to: int | None) -> None:
    for name, year in (("year_from", year_from), ("year_to", year_to)):
        if year is not None and (isinstance(year, bool) or not 1870 <= year <= 2100):
            raise ValueError(f"{name} must be a year from 1870 to 2100, got {year!r}")
    check_date_range(year_from, year_to, ("year_from", "year_to"))  # type: ignore[arg-type]


def genre_slugs(conn: Connection) -> list[str]:
    slugs = conn.execute(select(Genre.slug).order_by(Genre.slug)).scalars()
    return [slug for slug in slugs if slug is not None]


def check_genre(conn: Connection, genre: str | None) -> str | None:
    """A genre is named by its slug (``sci-fi``); unknown slugs list the valid ones."""
    if genre is not None:
        check_choice(genre, genre_slugs(conn), "genre")
    return genre


# A loose index scan: one probe of the region index per region, where DISTINCT would read
# every option (a few hundred thousand at scale large) to find a dozen regions.
_REGIONS_SQL = text("""
WITH RECURSIVE found AS (
    (SELECT region FROM movie_streaming_options WHERE region IS NOT NULL ORDER BY region LIMIT 1)
    UNION ALL
    SELECT (SELECT o.region FROM movie_streaming_options AS o
            WHERE o.region > found.region ORDER BY o.region LIMIT 1)
    FROM found
    WHERE found.region IS NOT NULL
)
SELECT region FROM found WHERE region IS NOT NULL
""")


def regions(conn: Connection) -> list[str]:
    """Regions that have at least one streaming option."""
    return sorted(conn.execute(_REGIONS_SQL).scalars())


def check_regions(conn: Connection, values: Sequence[str]) -> list[str]:
    known = regions(conn)
    for value in values:
        check_choice(value, known, "region")
    return list(values)


def frame(
    conn: Connection,
    stmt: Executable,
    columns: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run ``stmt``; its rows with exactly ``columns`` (name -> dtype), even when empty."""
    result = conn.execute(stmt, dict(params or {}))
    rows = result.all()
    df = pd.DataFrame.from_records(rows, columns=list(result.keys()))
    return typed(df, columns)


def typed(df: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """Select and cast ``df``'s columns so results have stable names and dtypes."""
    return df[list(columns)].astype(dict(columns)).reset_index(drop=True)


def check_text(value: str, name: str, max_length: int) -> str:
    """Non-blank text of at most ``max_length`` characters, matched literally by the caller.

    NUL is refused here: PostgreSQL text cannot hold it, and the driver would fail the query
    with a less clear error.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be non-blank text, got {value!r}")
    if len(value) > max_length:
        raise ValueError(f"{name} must be at most {max_length:,} characters, got {len(value):,}")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    return value
