"""What every query function shares: parameter validation, typed and stable result frames, and
the one definition of a movie's score and of "well rated"."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from itertools import islice
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Executable,
    Float,
    Integer,
    Interval,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select, TableValuedAlias

from iwm_lab.formatting import number
from iwm_lab.models import SCORE_RANGE, Genre, Movie
from iwm_lab.models.values import SCORE_NAMES, SCORE_SOURCES
from iwm_lab.rollups import MOVIE_REVIEW_STATS

MAX_LIMIT = 10_000
# Years a date or moment may fall in: the first films to the end of the century. Outside them a
# value is a mistake, and near the ends of Python's calendar (years 1 and 9999) adding a day or
# a window overflows.
YEAR_RANGE: tuple[int, int] = (1870, 2100)
# The rows of a time series: ten thousand days is 27 years; weeks and months cover the year
# range whole.
MAX_PERIODS = 10_000
# How much of a refused value an error message repeats: messages end up in logs and in report
# failure pages, which must not carry a 100 KB parameter.
_SHOWN = 60
# The periods of the time series (review_volume, hashtag_timeseries); weeks start on Monday.
FREQUENCIES: tuple[str, ...] = ("day", "week", "month")
_STEPS = {"day": "1 day", "week": "1 week", "month": "1 month"}


def shown(value: object) -> str:
    """``repr(value)``, cut short: what an error message may repeat of a refused value."""
    if isinstance(value, list | tuple | set | frozenset | dict):
        # A large container's repr alone could take seconds; its size says enough.
        return f"a {type(value).__name__} of {len(value):,} items"
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 3]}..."


def check_int(value: int, name: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high``: not a bool (Python counts them as ints), not a
    float, even a whole one, whose bound value PostgreSQL would read as a different type."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(
            f"{name} must be a whole number from {low:,} to {high:,}, got {shown(value)}"
        )
    return value


def check_limit(value: int, name: str = "limit") -> int:
    """Reject limits outside 1..10,000 (and booleans, which Python counts as ints)."""
    return check_int(value, name, 1, MAX_LIMIT)


def check_number(value: float, name: str, low: float, high: float) -> float:
    """A finite number (int or float, not bool) from ``low`` to ``high``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ValueError(f"{name} must be a number from {low:,} to {high:,}, got {shown(value)}")
    return value


def check_positive(value: int | float, name: str, high: float = math.inf) -> int | float:
    """A number above 0 and at most ``high``; NaN and infinity are refused."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= high
    ):
        bound = "a positive number" if high == math.inf else f"a number above 0, at most {high:,}"
        raise ValueError(f"{name} must be {bound}, got {shown(value)}")
    return value


def check_choice(value: str, valid: Iterable[str], name: str) -> str:
    """``value`` must be one of ``valid``; the error lists them."""
    options = sorted(valid)
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"unknown {name} {shown(value)}; valid values: {', '.join(options)}")
    return value


def check_list(values: object, name: str, max_items: int, *, min_items: int = 1) -> list[Any]:
    """``values`` (any iterable but a string or a mapping) as a list of ``min_items`` to
    ``max_items`` items.

    Reads at most ``max_items + 1`` items, so a huge (or endless) iterable is refused without
    being read whole; callers check the items in one pass each (sets, not list lookups).
    """
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be a list, got {shown(values)}")
    items = list(islice(values, max_items + 1))
    if not min_items <= len(items) <= max_items:
        count = f"{len(items):,}" if len(items) <= max_items else f"more than {max_items:,}"
        raise ValueError(f"{name} must hold {min_items:,} to {max_items:,} items, got {count}")
    return items


def check_date_range(
    start: date | datetime | None, end: date | datetime | None, names: tuple[str, str]
) -> None:
    if start is not None and end is not None and start > end:
        raise ValueError(f"{names[0]} ({start}) must not be after {names[1]} ({end})")


def _check_year_of(value: date, name: str) -> None:
    low, high = YEAR_RANGE
    if not low <= value.year <= high:
        raise ValueError(f"{name} must fall in the years {low} to {high}, got {value.isoformat()}")


def check_day(value: date | datetime | str, name: str) -> date:
    """A day of the years :data:`YEAR_RANGE`, given as a ``date``, a ``datetime`` (the day it
    falls on) or an ISO string."""
    if isinstance(value, str):
        value = _parse_iso(value, name)
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        raise ValueError(f"{name} must be a date (or an ISO date string), got {shown(value)}")
    _check_year_of(value, name)
    return value


def check_moment(value: datetime | date | str, name: str) -> datetime:
    """A moment of the years :data:`YEAR_RANGE` as the database's naive timestamps hold it.

    A ``date`` (or a date-only ISO string) stands for its midnight, the start of that day, so
    "as of 2026-11-01" covers what happened before that day began. An aware ``datetime`` is
    converted to UTC, the time zone the timestamps are stored in.
    """
    if isinstance(value, str):
        value = _parse_iso(value, name)
    if isinstance(value, datetime):
        # Checked before the conversion, which itself overflows near years 1 and 9999.
        _check_year_of(value, name)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        _check_year_of(value, name)
        return datetime.combine(value, time())
    raise ValueError(f"{name} must be a datetime, a date or an ISO string, got {shown(value)}")


def _parse_iso(text: str, name: str) -> date | datetime:
    stripped = text.strip()
    try:
        # No ISO date or time is this long; longer text is not parsed at all.
        if len(stripped) > 40:
            raise ValueError
        if len(stripped) == 10:
            return date.fromisoformat(stripped)
        return datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"{name} must be an ISO date or date and time (2026-11-01, 2026-11-01T06:00), "
            f"got {shown(text)}"
        ) from None


def count_periods(freq: str, first_day: date, last_day: date) -> int:
    """How many ``freq`` periods (:data:`FREQUENCIES`) overlap ``first_day``..``last_day``."""
    if freq == "day":
        return (last_day - first_day).days + 1
    if freq == "week":
        # Weeks start on Monday, as date_trunc('week') has them.
        return (last_day - first_day).days // 7 + (last_day.weekday() < first_day.weekday()) + 1
    return (last_day.year - first_day.year) * 12 + last_day.month - first_day.month + 1


def check_periods(freq: str, first_day: date, last_day: date) -> int:
    """Refuse a series of more than :data:`MAX_PERIODS` periods, naming coarser ones."""
    periods = count_periods(freq, first_day, last_day)
    if periods > MAX_PERIODS:
        raise ValueError(
            f"{first_day} to {last_day} holds {periods:,} periods of a {freq}; a series holds "
            f"at most {MAX_PERIODS:,}: shorten the range or use a longer freq"
        )
    return periods


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
    """Release years from :data:`YEAR_RANGE`, ``year_from`` not after ``year_to``."""
    low, high = YEAR_RANGE
    for name, year in (("year_from", year_from), ("year_to", year_to)):
        if year is not None and (
            isinstance(year, bool) or not isinstance(year, int) or not low <= year <= high
        ):
            raise ValueError(f"{name} must be a year from {low} to {high}, got {shown(year)}")
    check_date_range(year_from, year_to, ("year_from", "year_to"))  # type: ignore[arg-type]


# What a valid ``movies.year`` looks like (the column is text: '19??' and 'TBA' occur).
YEAR_PATTERN = "^[0-9]{4}$"


def movie_year() -> ColumnElement[int]:
    """``movies.year`` as an integer, NULL unless it is four digits: every query's ``year``."""
    # The CASE guards the cast: a junk year such as '19??' would abort the whole query.
    return case((Movie.year.regexp_match(YEAR_PATTERN), cast(Movie.year, Integer)))


def genre_slugs(conn: Connection) -> list[str]:
    slugs = conn.execute(select(Genre.slug).order_by(Genre.slug)).scalars()
    return [slug for slug in slugs if slug is not None]


def check_genre(conn: Connection, genre: str | None) -> str | None:
    """A genre is named by its slug (``sci-fi``); unknown slugs list the valid ones."""
    if genre is not None:
        check_genre_text(genre)
        check_choice(genre, genre_slugs(conn), "genre")
    return genre


MAX_GENRE_LENGTH = 50  # genres.slug is VARCHAR(50): a longer slug cannot exist


def check_genre_text(genre: str | None) -> str | None:
    """What can be checked of a genre before the database is asked for the known slugs."""
    if genre is not None:
        check_text(genre, "genre", MAX_GENRE_LENGTH)
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


MAX_REGION_LENGTH = 10  # movie_streaming_options.region is VARCHAR(10)


def normal_region(value: str) -> str:
    """A region code as the database spells it: stored codes are upper case (a CHECK
    constraint), so ``de`` and `` De `` can only mean ``DE``."""
    return value.strip().upper()


def region_code(value: str) -> str:
    """:func:`normal_region` of a value checked to be text short enough to be a code. Whether
    the region has any option is for the caller to check, against :func:`regions`."""
    if not isinstance(value, str) or len(value) > MAX_REGION_LENGTH:
        raise ValueError(
            f"region must be a region code (text of at most {MAX_REGION_LENGTH} characters), "
            f"got {shown(value)}"
        )
    return normal_region(value)


def frame(
    conn: Connection,
    stmt: Executable,
    columns: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run ``stmt``; its rows with exactly ``columns`` (name -> dtype), even when empty."""
    result = conn.execute(stmt, dict(params or {}))
    keys = list(result.keys())
    rows = result.all()
    try:
        # Each column built at its dtype from the values: a frame of objects cast afterwards
        # costs five times as much, a large share of a fast query's time.
        values = dict(zip(keys, zip(*rows, strict=True) if rows else [()] * len(keys), strict=True))
        return pd.DataFrame(
            {name: pd.array(list(values[name]), dtype=dtype) for name, dtype in columns.items()}
        )
    except (TypeError, ValueError):
        # The slower path's conversions, and its error for values of the wrong type.
        return typed(pd.DataFrame.from_records(rows, columns=keys), columns)


def typed(df: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """Select and cast ``df``'s columns so results have stable names and dtypes."""
    return df[list(columns)].astype(dict(columns)).reset_index(drop=True)


def check_text(value: str, name: str, max_length: int) -> str:
    """Non-blank text of at most ``max_length`` characters, matched literally by the caller.

    NUL is refused here: PostgreSQL text cannot hold it, and the driver would fail the query
    with a less clear error.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be non-blank text, got {shown(value)}")
    if len(value) > max_length:
        raise ValueError(f"{name} must be at most {max_length:,} characters, got {len(value):,}")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    return value


# --- scores, and what "well rated" means -------------------------------------------------------

SOURCES = SCORE_SOURCES
DEFAULT_SOURCE = "siddu"
DEFAULT_MIN_SCORE = 8.0
DEFAULT_MIN_REVIEWS = 20
# A threshold above any movie's review count is a mistake; unbounded, a huge one overflows the
# bigint it is bound as.
MAX_MIN_REVIEWS = 1_000_000
# A column of a query: a model's attribute (Movie.title) or an expression.
Column = ColumnElement[Any] | QueryableAttribute[Any]


def check_min_reviews(value: int) -> int:
    return check_int(value, "min_reviews", 1, MAX_MIN_REVIEWS)


def platform_score(source: str) -> ColumnElement[Any]:
    """A platform ``source``'s score of ``movies`` on the common 0-10 scale: ``siddu_score``,
    ``critics_score`` and ``imdb_rating`` as stored, ``rotten_tomatoes_score`` (0-100) / 10."""
    if source == "rotten_tomatoes":
        return cast(Movie.rotten_tomatoes_score, Float) / 10
    columns = {
        "siddu": Movie.siddu_score,
        "critics": Movie.critics_score,
        "imdb": Movie.imdb_rating,
    }
    return columns[source].expression


@dataclass(frozen=True)
class WellRated:
    """What "well rated" and "top rated" mean, wherever a query, a finding or a notebook says
    it: a movie's score from one ``source``, on the common 0-10 scale, at least ``min_score``
    (inclusive). Invalid values raise ``ValueError`` when the definition is made.

    ``source`` is one of :data:`SOURCES`:

    - ``siddu``: ``movies.siddu_score``, iwm's own score (0-10; the default);
    - ``critics``: ``movies.critics_score`` (0-10);
    - ``imdb``: ``movies.imdb_rating`` (0-10);
    - ``rotten_tomatoes``: ``movies.rotten_tomatoes_score`` (0-100) divided by 10, so
      ``min_score=8`` means 80 or more;
    - ``users``: the mean ``reviews.rating`` (0-10) of the movie's reviews, for movies with at
      least ``min_reviews`` reviews (fewer make no score at all); read from the
      ``movie_review_stats`` rollup, as of its last refresh. ``min_reviews`` (1 to 1,000,000)
      matters to this source only.

    A movie without a score of the source is neither well rated nor ranked. "Top rated" is
    the same score ranked: the ``top_n`` movies with the highest score, ties by movie id.
    ``min_score`` runs from 0 to 10. :func:`iwm_lab.queries.ratings.top_rated` is another
    thing, a ranking of users' ratings weighted by their number, and says so.
    """

    source: str = DEFAULT_SOURCE
    min_score: float = DEFAULT_MIN_SCORE
    min_reviews: int = DEFAULT_MIN_REVIEWS

    def __post_init__(self) -> None:
        check_choice(self.source, SOURCES, "source")
        low, high = SCORE_RANGE
        check_number(self.min_score, "min_score", low, high)
        check_min_reviews(self.min_reviews)

    def scored(self, *columns: Column) -> Select[Any]:
        """``columns`` of ``movies`` and ``score`` (0-10), for every movie with a score of the
        source; callers add their own conditions and order."""
        if self.source != "users":
            score = platform_score(self.source)
            return select(*columns, score.label("score")).where(score.is_not(None))
        stats = MOVIE_REVIEW_STATS
        mean = stats.c.rating_sum / cast(stats.c.reviews, Float)
        rated = and_(stats.c.movie_id == Movie.id, stats.c.reviews >= self.min_reviews)
        return select(*columns, mean.label("score")).join_from(Movie, stats, rated)

    def movies(self, *columns: Column) -> Select[Any]:
        """:meth:`scored`, of the well-rated movies only."""
        stmt = self.scored(*columns)
        return stmt.where(stmt.selected_columns.score >= float(self.min_score))

    def score_text(self, score: float) -> str:
        """A movie's score as a sentence gives it: ``Siddu score 8.5``, ``Rotten Tomatoes
        score 85``."""
        if self.source == "rotten_tomatoes":
            return f"{SCORE_NAMES[self.source]} {number(score * 10)}"
        return f"{SCORE_NAMES[self.source]} {number(score, 1)}"

    def describe(self) -> str:
        """The definition as a sentence says it: ``a Siddu score of 8.0 or more``."""
        if self.source == "rotten_tomatoes":
            return f"a {SCORE_NAMES[self.source]} of {number(self.min_score * 10)} or more"
        text = f"a {SCORE_NAMES[self.source]} of {number(self.min_score, 1)} or more"
        if self.source == "users":
            text += f" (from at least {self.min_reviews:,} reviews)"
        return text
