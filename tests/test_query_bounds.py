"""Every public query function refuses out-of-range parameters before any statement runs.

Issue 10, item 8: ``min_reviews=2**63`` raised ``NumericValueOutOfRange``, ``review_volume``
raised ``OverflowError`` for a year-9999 end and returned 739,648 rows from year 1,
``coverage_by_region`` spent 80 s validating 100,000 regions. Each hostile value below is
passed to a real connection with a listener on ``before_cursor_execute``: the call must raise a
short ``ValueError`` naming the range, quickly, with no statement sent to the server.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Connection, event

from iwm_lab import operations
from iwm_lab.queries import (
    awards,
    box_office,
    overview,
    platform_health,
    ratings,
    security,
    streaming,
    trending,
)
from iwm_lab.queries._common import MAX_PERIODS, count_periods

NAN = float("nan")
HUGE_TEXT = "x" * 100_000
# A date parameter's refusal names the year range, or says what a date must look like.
DATE_MESSAGE = r"years 1870 to 2100|must be an ISO date|must be a date|must be a datetime"


def _int_values(low: int, high: int) -> list[tuple[object, str]]:
    """Hostile values of an integer parameter whose range is ``low``..``high``."""
    message = rf"from {low:,} to {high:,}"
    values: list[object] = [
        2**63,
        2**31,
        10**100,
        -(2**63),
        -1,
        low - 1,
        high + 1,
        True,
        False,
        float(low),
        low + 0.5,
        NAN,
        math.inf,
        str(low),
        b"1",
        [low],
    ]
    return [(value, message) for value in values]


def _date_values(*, optional: bool) -> list[tuple[object, str]]:
    east = timezone(timedelta(hours=5))
    values: list[object] = [
        date(1, 1, 1),
        date(9999, 12, 31),
        datetime(1, 1, 1),
        datetime(1, 1, 1, tzinfo=east),  # converting it to UTC would overflow
        datetime.max,
        datetime(9999, 12, 31, 23, tzinfo=UTC),
        date(1869, 12, 31),
        date(2101, 1, 1),
        "0001-01-01",
        "9999-12-31",
        "9999-12-31T23:59:59",
        "2024-02-30",
        HUGE_TEXT,
        20240101,
        NAN,
        True,
        pd.NaT,
    ]
    if not optional:
        values.append(None)
    return [(value, DATE_MESSAGE) for value in values]


def _text_values(max_length: int, *, optional: bool) -> list[tuple[object, str]]:
    """Hostile values of a free-text parameter of at most ``max_length`` characters."""
    length = rf"at most {max_length:,} characters"
    blank = "must be non-blank text"
    cases: list[tuple[object, str]] = [
        (HUGE_TEXT, length),
        ("x" * (max_length + 1), length),
        ("", blank),
        ("   ", blank),
        ("a\x00b", "NUL"),
        (5, blank),
        (b"drama", blank),
        (["drama"], blank),
    ]
    if not optional:
        cases.append((None, blank))
    return cases


def _choice_values(*, optional: bool) -> list[tuple[object, str]]:
    """Hostile values of a parameter that takes one of a few names."""
    values: list[object] = [HUGE_TEXT, "", "\x00", 5, 1.5, True, b"x", ["7d"]]
    if not optional:
        values.append(None)
    return [(value, "valid values") for value in values]


def _list_values(
    name: str, max_items: int, item_values: list[tuple[object, str]], valid_item: object
) -> list[tuple[object, str]]:
    """Hostile values of a list parameter of at most ``max_items`` items."""
    size = rf"{name} must hold 1 to {max_items:,} items"
    cases: list[tuple[object, str]] = [
        ([valid_item] * 100_000, size),
        ([f"{valid_item}{i}" for i in range(100_000)], size),
        ([valid_item] * (max_items + 1), size),
        (itertools.repeat(valid_item), size),  # endless: must not be read whole
        (5, rf"{name} must be a list"),
        ({valid_item: 1}, rf"{name} must be a list"),
    ]
    # One bad item among good ones.
    cases += [([valid_item, item], message) for item, message in item_values]
    return cases


REGION_ITEMS: list[tuple[object, str]] = [
    (HUGE_TEXT, "at most 10 characters"),
    ("US" + " " * 20, "at most 10 characters"),
    (5, "region must be a region code"),
    (None, "region must be a region code"),
    (b"US", "region must be a region code"),
]
TAG_ITEMS: list[tuple[object, str]] = [
    (HUGE_TEXT, "at most 240 characters"),
    ("", "non-blank"),
    ("a\x00b", "NUL"),
    (5, "non-blank"),
    ("###", "empty once normalised"),
]
MOVIE_ID_ITEMS: list[tuple[object, str]] = [
    (value, "from 1 to 2,147,483,647") for value in (2**63, 2**31, -1, 0, True, 1.0, NAN, "1", None)
]

NOW = date(2024, 5, 1)

# function, the valid arguments the hostile one is added to, parameter, its hostile values.
Spec = tuple[Callable[..., Any], dict[str, Any], str, list[tuple[object, str]]]
SPECS: list[Spec] = []


def spec(function: Callable[..., Any], base: dict[str, Any], name: str, values: Any) -> None:
    SPECS.append((function, base, name, values))


# --- ratings ---------------------------------------------------------------------------
MIN_REVIEWS = _int_values(1, 1_000_000)
YEARS = [(value, "must be a year from 1870 to 2100") for value, _ in _int_values(1870, 2100)]
GENRE = _text_values(50, optional=True)
spec(ratings.score_distribution, {"source": "users"}, "source", _choice_values(optional=False))
spec(ratings.score_distribution, {"source": "users"}, "bins", _int_values(1, 10_000))
spec(ratings.score_distribution, {"source": "users"}, "genre", GENRE)
spec(ratings.score_distribution, {"source": "users"}, "year_from", YEARS)
spec(ratings.score_distribution, {"source": "users"}, "year_to", YEARS)
spec(ratings.platform_agreement, {}, "min_reviews", MIN_REVIEWS)
spec(ratings.platform_agreement, {}, "genre", GENRE)
for param, values in [
    ("a", _choice_values(optional=False)),
    ("b", _choice_values(optional=False)),
    ("by", _choice_values(optional=False)),
    ("min_reviews", MIN_REVIEWS),
    ("genre", GENRE),
]:
    base = {"a": "users", "b": "critics"}
    base.pop(param, None)
    spec(ratings.score_gap, base, param, values)
spec(ratings.top_rated, {}, "min_reviews", MIN_REVIEWS)
spec(ratings.top_rated, {}, "genre", GENRE)
spec(ratings.top_rated, {}, "year_from", YEARS)
spec(ratings.top_rated, {}, "year_to", YEARS)
spec(ratings.top_rated, {}, "language", _text_values(50, optional=True))
spec(ratings.top_rated, {}, "limit", _int_values(1, 10_000))
spec(ratings.divisive_movies, {}, "min_reviews", MIN_REVIEWS)
spec(ratings.divisive_movies, {}, "genre", GENRE)
spec(ratings.divisive_movies, {}, "limit", _int_values(1, 10_000))
spec(ratings.ratings_by_genre, {}, "min_reviews", MIN_REVIEWS)
spec(ratings.ratings_by_genre, {}, "year_from", YEARS)
spec(ratings.ratings_by_genre, {}, "year_to", YEARS)
spec(ratings.ratings_by_year, {}, "min_reviews", MIN_REVIEWS)
spec(ratings.ratings_by_year, {}, "genre", GENRE)
spec(ratings.ratings_by_year, {}, "by", _choice_values(optional=False))
spec(ratings.review_volume, {"end": NOW}, "start", _date_values(optional=False))
spec(ratings.review_volume, {"start": NOW}, "end", _date_values(optional=False))
spec(ratings.review_volume, {"start": NOW, "end": NOW}, "freq", _choice_values(optional=False))

# --- streaming -------------------------------------------------------------------------
REGION = REGION_ITEMS
spec(streaming.coverage_by_region, {}, "top_n", _int_values(1, 10_000))
spec(streaming.coverage_by_region, {}, "regions", _list_values("regions", 300, REGION_ITEMS, "US"))
spec(
    streaming.coverage_by_region,
    {},
    "types",
    _list_values("types", 16, [(v, "valid values") for v in (HUGE_TEXT, 5, None)], "rent"),
)
SCORE = [
    (value, "from 0 to 10")
    for value in (-1, 10.5, 2**63, -(2**63), NAN, math.inf, -math.inf, True, "8", None)
]
for function in (
    streaming.platform_share,
    streaming.coverage_gaps,
    streaming.coverage_gap_summary,
    streaming.price_quality_mix,
    streaming.check_region,
):
    spec(function, {}, "region", REGION)
spec(streaming.coverage_gaps, {"region": "US"}, "min_score", SCORE)
spec(streaming.coverage_gaps, {"region": "US"}, "limit", _int_values(1, 10_000))
spec(streaming.coverage_gap_summary, {"region": "US"}, "min_score", SCORE)
for function, base in (
    (streaming.coverage_by_region, {}),
    (streaming.coverage_gaps, {"region": "US"}),
    (streaming.coverage_gap_summary, {"region": "US"}),
):
    spec(function, base, "source", _choice_values(optional=False))
    spec(function, base, "min_reviews", MIN_REVIEWS)
# title=None is how movie_ids are asked for instead.
spec(streaming.availability, {}, "title", _text_values(200, optional=True))
spec(
    streaming.availability,
    {},
    "movie_ids",
    [
        ([1] * 100_000, "movie_ids must hold 1 to 10,000 items"),
        (list(range(1, 100_002)), "movie_ids must hold 1 to 10,000 items"),
        (itertools.count(1), "movie_ids must hold 1 to 10,000 items"),
        ([], "movie_ids must hold 1 to 10,000 items"),
        ("123", "movie_ids must be a list"),
        (5, "movie_ids must be a list"),
        *[([1, item], message) for item, message in MOVIE_ID_ITEMS],
    ],
)
spec(streaming.availability, {"title": "Dune"}, "limit", _int_values(1, 10_000))

# --- trending --------------------------------------------------------------------------
DAYS = _int_values(1, 3650)
AS_OF = _date_values(optional=True)
WINDOWED: list[tuple[Callable[..., Any], list[str]]] = [
    (trending.hashtag_counts, ["window_days", "as_of", "limit", "category"]),
    (trending.window_totals, ["window_days", "as_of"]),
    (trending.rising_tags, ["window_days", "baseline_days", "min_count", "as_of", "limit"]),
    (trending.new_tags, ["window_days", "baseline_days", "min_count", "as_of", "limit"]),
]
for function, params in WINDOWED:
    for param in params:
        values = {
            "window_days": DAYS,
            "baseline_days": DAYS,
            "min_count": _int_values(1, 10_000),
            "limit": _int_values(1, 10_000),
            "as_of": AS_OF,
            "category": _choice_values(optional=True),
        }[param]
        spec(function, {}, param, values)
spec(trending.trending_topics, {}, "window", _choice_values(optional=False))
spec(trending.trending_topics, {}, "category", _choice_values(optional=True))
spec(trending.trending_topics, {}, "limit", _int_values(1, 10_000))
spec(operations.refresh_trending_topics, {}, "window", _choice_values(optional=False))
spec(operations.refresh_trending_topics, {}, "as_of", AS_OF)
SERIES = {"tags": ["dune"], "start": NOW, "end": NOW}
spec(
    trending.hashtag_timeseries,
    {k: v for k, v in SERIES.items() if k != "tags"},
    "tags",
    _list_values("tags", 100, TAG_ITEMS, "dune"),
)
spec(
    trending.hashtag_timeseries, {"tags": ["a"], "end": NOW}, "start", _date_values(optional=False)
)
spec(
    trending.hashtag_timeseries, {"tags": ["a"], "start": NOW}, "end", _date_values(optional=False)
)
spec(trending.hashtag_timeseries, SERIES, "freq", _choice_values(optional=False))

# --- overview and security --------------------------------------------------------------
spec(overview.freshness, {}, "as_of", AS_OF)
spec(
    security.password_hash_audit,
    {},
    "hasher",
    [(value, "must be an argon2 PasswordHasher") for value in ("argon2", 5, HUGE_TEXT, object())],
)

# --- box office, awards, platform health ------------------------------------------------
CHARTED = {"region": "US"}
spec(box_office.weekend_races, {}, "region", REGION_ITEMS)
spec(box_office.weekend_races, {}, "until", _date_values(optional=True))
spec(box_office.weekend_races, {}, "weekends", _int_values(1, 520))
spec(box_office.weekend_races, {}, "top_n", _int_values(1, 100))
spec(box_office.run_legs, {}, "region", REGION_ITEMS)
spec(box_office.run_legs, {}, "year_from", YEARS)
spec(box_office.run_legs, {}, "year_to", YEARS)
spec(box_office.run_legs, {}, "until", _date_values(optional=True))
spec(box_office.run_legs, {}, "order", _choice_values(optional=False))
spec(box_office.run_legs, {}, "limit", _int_values(1, 10_000))
spec(box_office.budget_multiple, {}, "by", _choice_values(optional=False))
spec(box_office.budget_multiple, {}, "gross", _choice_values(optional=False))
spec(box_office.budget_multiple, {}, "genre", GENRE)
spec(box_office.budget_multiple, {}, "year_from", YEARS)
spec(box_office.budget_multiple, {}, "year_to", YEARS)
spec(box_office.budget_multiple, {}, "min_movies", _int_values(1, 1_000_000))
spec(box_office.regional_split, {}, "start", _date_values(optional=True))
spec(box_office.regional_split, {}, "end", _date_values(optional=True))
for param, values in [
    ("source", _choice_values(optional=False)),
    ("min_reviews", MIN_REVIEWS),
    ("body_type", _choice_values(optional=True)),
    ("year_from", YEARS),
    ("year_to", YEARS),
]:
    spec(awards.awards_vs_ratings, {}, param, values)
spec(awards.most_awarded_people, {}, "body_type", _choice_values(optional=True))
spec(awards.most_awarded_people, {}, "year_from", YEARS)
spec(awards.most_awarded_people, {}, "year_to", YEARS)
spec(awards.most_awarded_people, {}, "limit", _int_values(1, 10_000))
spec(
    awards.festival_paths,
    {},
    "by_festival",
    [(value, "by_festival must be True or False") for value in ("yes", 1, None, HUGE_TEXT)],
)
spec(awards.festival_paths, {}, "year_from", YEARS)
spec(awards.festival_paths, {}, "year_to", YEARS)
spec(awards.festival_paths, {}, "window_years", _int_values(0, 20))
spec(platform_health.moderation_queue, {}, "as_of", AS_OF)
for function in (platform_health.time_to_action, platform_health.quiz_engagement):
    spec(function, {}, "as_of", AS_OF)
    spec(function, {}, "days", _int_values(1, 3650))
    spec(function, {}, "by", _choice_values(optional=False))
spec(platform_health.quiz_difficulty, {}, "as_of", AS_OF)
spec(platform_health.quiz_difficulty, {}, "min_attempts", _int_values(1, 1_000_000))
spec(platform_health.quiz_difficulty, {}, "difficulty", _choice_values(optional=True))
spec(platform_health.quiz_difficulty, {}, "limit", _int_values(1, 10_000))

CASES = [
    pytest.param(
        function,
        {**base, name: value},
        message,
        id=f"{function.__name__}.{name}[{i}]",
    )
    for function, base, name, values in SPECS
    for i, (value, message) in enumerate(values)
]


@pytest.fixture
def statements(conn: Connection) -> Iterator[list[str]]:
    """The statements sent on ``conn`` while the test runs."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(conn, "before_cursor_execute", record)
    yield sent
    event.remove(conn, "before_cursor_execute", record)


@pytest.mark.parametrize(("function", "kwargs", "message"), CASES)
def test_hostile_values_are_refused_before_any_query(
    conn: Connection,
    statements: list[str],
    function: Callable[..., Any],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match=message) as refused:
        function(conn, **kwargs)
    # Loose: refusing must not read a huge input whole, however busy the machine.
    assert time.perf_counter() - started < 5.0
    assert statements == []
    # Short, one line: a message may land in a report's failure page or a log.
    text = str(refused.value)
    assert len(text) < 300 and "\n" not in text, text


def test_every_public_query_function_is_tried() -> None:
    """A new query function, or a new parameter of one, needs its hostile values here."""
    tried = {(f, name) for f, _base, name, _values in SPECS}
    no_parameters = {
        overview.table_row_counts,
        overview.null_shares,
        trending.pulse_span,
        trending.trending_refreshes,
        box_office.box_office_regions,
    }
    for module in (
        ratings,
        streaming,
        trending,
        overview,
        security,
        box_office,
        awards,
        platform_health,
    ):
        for name, function in vars(module).items():
            if (
                name.startswith("_")
                or not callable(function)
                or getattr(function, "__module__", None) != module.__name__
                or function in no_parameters
                or not isinstance(function, type(test_every_public_query_function_is_tried))
            ):
                continue
            code = function.__code__
            params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
            if not params or params[0] != "conn":
                continue
            for param in params[1:]:
                assert (function, param) in tried, f"{name}({param}=...) has no hostile values"


def test_hostile_input_count() -> None:
    """The count the issue's report quotes; it only grows."""
    assert len(CASES) >= 900, len(CASES)


# --- what was seen, and the edges of the ranges ------------------------------------------


@pytest.mark.parametrize(
    "function",
    [
        ratings.platform_agreement,
        ratings.top_rated,
        ratings.divisive_movies,
        ratings.ratings_by_genre,
        ratings.ratings_by_year,
    ],
)
def test_min_reviews_of_2_to_the_63_is_a_value_error(
    conn: Connection, function: Callable[..., Any]
) -> None:
    with pytest.raises(ValueError, match=r"min_reviews must be a whole number from 1 to 1,000,000"):
        function(conn, min_reviews=2**63)
    # The top of the range runs: nothing has that many reviews, and nothing overflows.
    result = function(conn, min_reviews=1_000_000)
    assert result["reviews" if "reviews" in result else "n"].sum() == 0


def test_review_volume_at_the_ends_of_the_calendar(conn: Connection) -> None:
    with pytest.raises(ValueError, match="end must fall in the years 1870 to 2100"):
        ratings.review_volume(conn, start=date(2024, 1, 1), end=date(9999, 12, 31))
    with pytest.raises(ValueError, match="start must fall in the years 1870 to 2100"):
        ratings.review_volume(conn, start=date(1, 1, 1), end=date(2024, 1, 1))
    # The whole year range is one series by month (2,772 of them).
    months = ratings.review_volume(
        conn, start=date(1870, 1, 1), end=date(2100, 12, 31), freq="month"
    )
    assert len(months) == 231 * 12
    assert months["period"].iloc[-1] == pd.Timestamp(2100, 12, 1)
    # By day it is too many periods, and the message says what to do.
    with pytest.raises(ValueError, match=r"at most 10,000: shorten the range or use a longer"):
        ratings.review_volume(conn, start=date(1870, 1, 1), end=date(2100, 12, 31))


def test_the_period_cap_is_exactly_max_periods(conn: Connection) -> None:
    start = date(2000, 1, 1)
    last = start + timedelta(days=MAX_PERIODS - 1)
    assert len(ratings.review_volume(conn, start=start, end=last)) == MAX_PERIODS
    with pytest.raises(ValueError, match="holds 10,001 periods of a day"):
        ratings.review_volume(conn, start=start, end=last + timedelta(days=1))
    series = trending.hashtag_timeseries(conn, tags=["dune"], start=start, end=last)
    assert len(series) == MAX_PERIODS
    with pytest.raises(ValueError, match="holds 10,001 periods of a day"):
        trending.hashtag_timeseries(conn, tags=["dune"], start=start, end=last + timedelta(days=1))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2024, 1, 1), date(2024, 1, 1)),  # a Monday
        (date(2024, 1, 7), date(2024, 1, 8)),  # Sunday to Monday: two weeks
        (date(2024, 1, 3), date(2024, 1, 9)),  # Wednesday to Tuesday
        (date(2024, 1, 1), date(2024, 1, 14)),
        (date(2023, 12, 31), date(2024, 3, 1)),
        (date(1870, 1, 1), date(1897, 5, 18)),  # 10,000 days: the cap itself
        (date(2099, 2, 28), date(2100, 12, 31)),
    ],
)
@pytest.mark.parametrize("freq", ["day", "week", "month"])
def test_counted_periods_match_the_series(
    conn: Connection, start: date, end: date, freq: str
) -> None:
    """The cap counts the periods as the database's series has them."""
    expected = count_periods(freq, start, end)
    assert expected <= MAX_PERIODS
    assert len(ratings.review_volume(conn, start=start, end=end, freq=freq)) == expected


def test_a_list_of_100_000_regions_is_refused_at_once(conn: Connection) -> None:
    regions = [f"{a}{b}" for a in "ABCDEFGHIJ" for b in "ABCDEFGHIJ"] * 1_000
    started = time.perf_counter()
    with pytest.raises(ValueError, match="regions must hold 1 to 300 items, got more than 300"):
        streaming.coverage_by_region(conn, regions=regions)
    # Linear, not quadratic: the quadratic check took 80 s on this list.
    assert time.perf_counter() - started < 5


def test_the_longest_lists_allowed_run(conn: Connection, statements: list[str]) -> None:
    ids = list(range(1, 10_001))
    assert streaming.availability(conn, movie_ids=ids).empty
    tags = [f"tag{i}" for i in range(100)]
    assert len(trending.hashtag_timeseries(conn, tags=tags, start=NOW, end=NOW)) == 100
    # Every region code at once, 300 duplicates of them: validated in one pass.
    with pytest.raises(ValueError, match="unknown region 'AA'"):
        streaming.coverage_by_region(conn, regions=["AA"] * 300)
    assert statements  # these did reach the database


def test_windows_at_the_ends_of_the_years_run(conn: Connection) -> None:
    late = datetime(2100, 12, 31, 23, 59, 59, 999_999)
    early = datetime(1870, 1, 1)
    for as_of in (late, early):
        rising = trending.rising_tags(conn, window_days=3650, baseline_days=3650, as_of=as_of)
        assert list(rising.columns) == list(trending.RISING_COLUMNS)
        totals = trending.window_totals(conn, window_days=3650, as_of=as_of)
        assert totals["pulses"].tolist() == [0]
    assert len(overview.freshness(conn, as_of=late)) >= 4


FRESH = pd.DataFrame({"table": ["reviews", "pulses"], "age_days": [1.0, 2.0]})


@pytest.mark.parametrize("value", [0, -1, NAN, math.inf, 36_526, 2**63, True, "7", None], ids=repr)
def test_stale_after_days_is_a_finite_number_of_days(value: object) -> None:
    """NaN compared false everywhere, so it called every source fresh."""
    with pytest.raises(ValueError, match="stale_after_days must be a number above 0, at most"):
        overview.stale_sources(FRESH, stale_after_days=value)  # type: ignore[arg-type]
    assert overview.stale_sources(FRESH, stale_after_days=1.5) == ["pulses"]


@pytest.mark.parametrize("value", [-1, 16, 2**63, 1.0, True, None], ids=repr)
def test_age_figures_digits_is_a_small_whole_number(value: object) -> None:
    with pytest.raises(ValueError, match="digits must be a whole number from 0 to 15"):
        overview.age_figures(FRESH, digits=value)  # type: ignore[arg-type]
    assert overview.age_figures(FRESH, digits=0) == {
        "reviews_age_days": 1.0,
        "pulses_age_days": 2.0,
    }
