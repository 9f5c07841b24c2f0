"""Ratings movie by movie: the rankings (:func:`top_rated`, :func:`divisive_movies`) and the
paired gap between two sources on the same movies (:func:`score_gap`); the helpers the ratings
modules share (:mod:`iwm_lab.queries.ratings_agreement` compares the sources pair by pair).

Public through :mod:`iwm_lab.queries.ratings`, whose docstring says what the sources, filters
and ranges are. Every function here reads its movies from the ``movie_scores`` rollup
(:mod:`iwm_lab.rollups`): one narrow row per movie with its year, language, platform scores,
users' review count, rating sum and spread, and genre ids, as of the last refresh; a scan of
it replaces a scan of ``movies`` (wide rows) joined to the reviews' statistics and the genres.
Titles and years shown next to a ranked movie are read from ``movies`` itself.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Float,
    Integer,
    String,
    any_,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select, Subquery

from iwm_lab.models import Genre, Movie
from iwm_lab.queries._common import (
    SOURCES,
    check_choice,
    check_genre,
    check_limit,
    check_min_reviews,
    check_text,
    check_year_range,
    frame,
    movie_year,
    typed,
)
from iwm_lab.queries._intervals import t_interval
from iwm_lab.rollups import MOVIE_SCORES

PERIODS: tuple[str, ...] = ("year", "decade")
# The groups of score_gap; "none" is one group of every movie.
GAP_GROUPS: tuple[str, ...] = ("genre", "decade", "year", "none")
CONFIDENCE = 0.95  # of score_gap's intervals
PLATFORMS = tuple(source for source in SOURCES if source != "users")

FACTS = MOVIE_SCORES
_LANGUAGE_LENGTH = 50  # movies.language is VARCHAR(50): a longer value cannot match
# Sort keys are rounded: summing the same ratings in another order changes the last bits of a
# mean, and that noise must not decide between movies that are equal.
_SORT_DECIMALS = 9

_GAP_COLUMNS = {
    "group": "str",
    "movies": "int64",
    "mean_a": "float64",
    "mean_b": "float64",
    "mean_gap": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
}
_MOVIE_COLUMNS = {
    "movie_id": "int64",
    "title": "str",
    "year": "Int64",
    "reviews": "int64",
    "mean_rating": "float64",
}


def genre_id_of(conn: Connection, genre: str | None) -> int | None:
    """The id of ``genre``, a slug checked against the known ones."""
    if check_genre(conn, genre) is None:
        return None
    return conn.execute(select(Genre.id).where(Genre.slug == genre)).scalar_one()


def facts_conditions(
    *,
    genre_id: int | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    language: str | None = None,
) -> list[ColumnElement[bool]]:
    """The movie filters as conditions on ``movie_scores``: a year bound leaves out the
    movies without a valid year (their ``year`` is NULL)."""
    conditions: list[ColumnElement[bool]] = []
    if genre_id is not None:
        conditions.append(literal(genre_id, Integer) == any_(FACTS.c.genre_ids))
    if year_from is not None:
        conditions.append(FACTS.c.year >= year_from)
    if year_to is not None:
        conditions.append(FACTS.c.year <= year_to)
    if language is not None:
        conditions.append(FACTS.c.language == language)
    return conditions


def users_mean() -> ColumnElement[Any]:
    """A movie's mean review rating (NULL without reviews)."""
    return FACTS.c.rating_sum / cast(FACTS.c.reviews, Float)


def score_on_ten(source: str) -> ColumnElement[Any]:
    """A movie's ``source`` score on the common 0-10 scale (Rotten Tomatoes divided by 10,
    users' the mean rating, whatever the review count: callers apply ``min_reviews``)."""
    if source == "users":
        return users_mean()
    if source == "rotten_tomatoes":
        return cast(FACTS.c.rotten_tomatoes, Float) / 10
    return FACTS.c[source]


def _review_stats(conditions: list[ColumnElement[bool]], *, spread: bool = False) -> Subquery:
    """Per reviewed movie meeting ``conditions``: reviews, rating_sum, mean_rating (and
    stddev_rating when ``spread``)."""
    columns = [
        FACTS.c.movie_id,
        FACTS.c.reviews,
        FACTS.c.rating_sum,
        users_mean().label("mean_rating"),
    ]
    if spread:
        columns.append(FACTS.c.rating_stddev.label("stddev_rating"))
    return select(*columns).where(FACTS.c.reviews > 0, *conditions).subquery("review_stats")


def _sort_key(value: ColumnElement[float]) -> ColumnElement[float]:
    """``value`` rounded to :data:`_SORT_DECIMALS` decimals, as a whole number: rint(value ·
    10⁹), which is how numpy's ``round`` rounds too. A float product, where a cast to numeric
    and its rounding cost more than the rest of a ranking."""
    return func.round(cast(value, Float) * float(10**_SORT_DECIMALS))


def _first_with_titles(ranked: Subquery, key: str, limit: int) -> Select[Any]:
    """The first ``limit`` movies of ``ranked`` by ``key`` descending, then reviews descending,
    then movie_id; with their title and year."""

    def order(rows: Subquery) -> tuple[ColumnElement[Any], ...]:
        return (_sort_key(rows.c[key]).desc(), rows.c.reviews.desc(), rows.c.movie_id)

    # Pick the winners before joining movies: its rows are wide, and only theirs are needed.
    first = select(ranked).order_by(*order(ranked)).limit(limit).subquery("first")
    return (
        select(
            first.c.movie_id,
            Movie.title,
            movie_year().label("year"),
            first.c.reviews,
            first.c.mean_rating,
            first.c[key],
        )
        .join(Movie, Movie.id == first.c.movie_id)
        .order_by(*order(first))
    )


def score_gap(
    conn: Connection,
    *,
    a: str,
    b: str,
    by: str = "genre",
    min_reviews: int = 20,
    genre: str | None = None,
) -> pd.DataFrame:
    """How much higher source ``a`` scores than source ``b``, on the same movies only.

    ``a`` and ``b`` are two different sources of :data:`SOURCES`, on the common 0-10 scale:
    ``rotten_tomatoes`` is divided by 10, ``users`` is a movie's mean review rating and is
    known only for movies with at least ``min_reviews`` reviews. Only the movies (of
    ``genre``, when given) that have both scores count: each group's two means are over the
    same movies, so their difference is the sources' gap and not a difference of which movies
    each source scored. The interval is the 95 % t-interval of the mean of the movies' paired
    gaps.

    ``by`` groups the movies: ``genre`` (a movie of several genres counts in each; a movie
    without a genre in none; with ``genre`` given, only that genre's row), ``decade`` or
    ``year`` of release (movies without a valid year are left out) or ``none`` (one group of
    every movie). One row per group that has at least one movie with both scores, sorted by
    ``mean_gap`` descending (then name) for genres, chronologically for decades and years:

    - ``group`` (str): the genre's display name, the decade ("1990s"), the year ("1995"), or
      "all".
    - ``movies`` (int64): movies with both scores.
    - ``mean_a``, ``mean_b`` (float64): the two sources' mean scores over those movies, 0-10.
    - ``mean_gap`` (float64): mean of ``a - b`` over those movies, in points out of 10:
      positive when ``a`` scores them higher.
    - ``ci_low``, ``ci_high`` (float64): the 95 % interval of ``mean_gap``; NaN below two
      movies (one gap has no spread); equal to ``mean_gap`` when every movie's gap is the same.
    """
    check_choice(a, SOURCES, "a")
    check_choice(b, SOURCES, "b")
    if a == b:
        raise ValueError(f"a and b must be two different sources, got {a!r} for both")
    check_choice(by, GAP_GROUPS, "by")
    check_min_reviews(min_reviews)
    genre_id = genre_id_of(conn, genre)

    score_a, score_b = score_on_ten(a), score_on_ten(b)
    conditions: list[ColumnElement[bool]] = [score_a.is_not(None), score_b.is_not(None)]
    if "users" in (a, b):
        conditions.append(FACTS.c.reviews >= min_reviews)
    if by == "genre":
        # One row per (movie, genre): a movie of several genres counts in each, one without a
        # genre in none (unnest of an empty array gives no row).
        group: ColumnElement[Any] = func.unnest(FACTS.c.genre_ids)
    else:
        group = FACTS.c.year if by == "year" else FACTS.c.year // 10 * 10
    paired = select(group.label("group_key"), score_a.label("a"), score_b.label("b")).where(
        *conditions, *facts_conditions(genre_id=genre_id)
    )
    pairs = paired.subquery("pairs")

    gap = pairs.c.a - pairs.c.b
    # Per group the count, means and the gaps' spread: the interval needs nothing else.
    aggregates = [
        func.count().label("movies"),
        func.avg(pairs.c.a).label("mean_a"),
        func.avg(pairs.c.b).label("mean_b"),
        func.avg(gap).label("mean_gap"),
        func.stddev_samp(gap).label("sd_gap"),
    ]
    stmt: Select[Any]
    if by == "genre":
        where = [] if genre_id is None else [pairs.c.group_key == genre_id]
        stmt = (
            select(Genre.name.label("group"), *aggregates)
            .select_from(pairs)
            .join(Genre, Genre.id == pairs.c.group_key)
            .where(*where)
            .group_by(Genre.id)
            # Byte order, so the order does not depend on the server's locale.
            .order_by(_sort_key(func.avg(gap)).desc(), Genre.name.collate("C"), Genre.id)
        )
    elif by in PERIODS:
        label = cast(pairs.c.group_key, String)
        stmt = (
            select((label + "s" if by == "decade" else label).label("group"), *aggregates)
            .where(pairs.c.group_key.is_not(None))
            .group_by(pairs.c.group_key)
            .order_by(pairs.c.group_key)
        )
    else:
        # Without a GROUP BY an aggregate gives a row even of nothing: no movie, no group.
        stmt = (
            select(literal("all").label("group"), *aggregates)
            .select_from(pairs)
            .having(func.count() > 0)
        )
    columns = {name: dtype for name, dtype in _GAP_COLUMNS.items() if not name.startswith("ci_")}
    groups = frame(conn, stmt, {**columns, "sd_gap": "float64"})

    # t with n - 1 degrees of freedom; one movie gives NaN (no spread), as it should.
    groups["ci_low"], groups["ci_high"] = t_interval(
        groups["mean_gap"], groups["sd_gap"], groups["movies"], CONFIDENCE
    )
    return typed(groups, _GAP_COLUMNS)


def top_rated(
    conn: Connection,
    *,
    min_reviews: int = 20,
    genre: str | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    language: str | None = None,
    limit: int = 20,
) -> pd.DataFrame:
    """The best movies by users' ratings, ranked by an IMDb-style weighted rating.

    Among the movies meeting the filters, those with at least ``min_reviews`` reviews are
    ranked by ``WR = (v·R + m·C) / (v + m)``: ``v`` the movie's reviews, ``R`` their mean
    rating, ``m = min_reviews`` and ``C`` the mean rating of every review of every movie
    meeting the filters. A movie with few reviews is pulled towards ``C``.

    A ranking of users' ratings only, weighted by their number: not "well rated" in the sense
    of the other queries (one ``source``'s score at least ``min_score``, for users the plain
    mean rating of movies with ``min_reviews`` reviews; see
    :class:`iwm_lab.queries._common.WellRated`).

    At most ``limit`` rows, by ``weighted_rating`` descending, then ``reviews`` descending,
    then ``movie_id``:

    - ``movie_id`` (int64), ``title`` (str), ``year`` (Int64, NA when not a valid year).
    - ``reviews`` (int64): ``v``.
    - ``mean_rating`` (float64): ``R``, 0-10.
    - ``weighted_rating`` (float64): ``WR``, 0-10.
    """
    check_min_reviews(min_reviews)
    check_year_range(year_from, year_to)
    check_limit(limit)
    if language is not None:
        check_text(language, "language", _LANGUAGE_LENGTH)
    genre_id = genre_id_of(conn, genre)

    conditions = facts_conditions(
        genre_id=genre_id, year_from=year_from, year_to=year_to, language=language
    )
    # C, over every reviewed movie meeting the filters (before the min_reviews cut), once.
    overall_mean = (
        select(cast(func.sum(FACTS.c.rating_sum), Float) / cast(func.sum(FACTS.c.reviews), Float))
        .where(FACTS.c.reviews > 0, *conditions)
        .scalar_subquery()
    )
    weighted = (FACTS.c.rating_sum + min_reviews * overall_mean) / (
        cast(FACTS.c.reviews, Float) + min_reviews
    )
    ranked = (
        select(
            FACTS.c.movie_id,
            FACTS.c.reviews,
            users_mean().label("mean_rating"),
            weighted.label("weighted_rating"),
        )
        .where(FACTS.c.reviews >= min_reviews, *conditions)
        .subquery("ranked")
    )
    stmt = _first_with_titles(ranked, "weighted_rating", limit)
    return frame(conn, stmt, {**_MOVIE_COLUMNS, "weighted_rating": "float64"})


def divisive_movies(
    conn: Connection, *, min_reviews: int = 20, genre: str | None = None, limit: int = 20
) -> pd.DataFrame:
    """The movies users disagree about most: highest spread of their review ratings.

    Movies (of ``genre``, when given) with at least ``min_reviews`` reviews, and at least two,
    since one rating has no spread. At most ``limit`` rows, by ``stddev_rating`` descending,
    then ``reviews`` descending, then ``movie_id``:

    - ``movie_id`` (int64), ``title`` (str), ``year`` (Int64, NA when not a valid year).
    - ``reviews`` (int64): the movie's reviews.
    - ``mean_rating`` (float64): their mean rating, 0-10.
    - ``stddev_rating`` (float64): their sample standard deviation (n - 1 denominator).
    """
    check_min_reviews(min_reviews)
    check_limit(limit)
    genre_id = genre_id_of(conn, genre)

    stats = _review_stats(facts_conditions(genre_id=genre_id), spread=True)
    ranked = select(stats).where(stats.c.reviews >= max(min_reviews, 2)).subquery("ranked")
    stmt = _first_with_titles(ranked, "stddev_rating", limit)
    return frame(conn, stmt, {**_MOVIE_COLUMNS, "stddev_rating": "float64"})
