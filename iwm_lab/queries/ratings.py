"""Ratings: how movies score on iwm and elsewhere, and how users rate them.

Scores come in two kinds. Platform scores are columns of ``movies``: ``siddu`` (iwm's own,
0-10), ``critics`` (0-10), ``imdb`` (0-10) and ``rotten_tomatoes`` (0-100). User ratings are
``reviews.rating`` (0-10); only reviews attached to a movie count, except in
:func:`review_volume`, which measures activity. Movie filters: ``genre`` is a genre slug
(``sci-fi``), ``year_from``/``year_to`` are inclusive release years, ``language`` is compared
with ``movies.language`` literally (case and all; blank, over 50 characters or NUL is refused).

The score sources (:data:`SOURCES`) and what "well rated" means are defined once, in
:class:`iwm_lab.queries._common.WellRated`: a score of one source on the common 0-10 scale
(Rotten Tomatoes divided by 10; users' the mean rating of movies with ``min_reviews`` reviews)
at least ``min_score``. :func:`top_rated` ranks by users' weighted rating instead, and says so.

``movies.year`` is text; a value that is not four digits ('19??', 'TBA') reads as no year: such
movies drop out of year filters and year series but count everywhere else.

Two sources are compared like for like only over the movies that have both scores:
:func:`score_gap` (the paired gap per group, with its interval) and :func:`platform_agreement`
do; the per-group means of :func:`ratings_by_genre` and :func:`ratings_by_year` are each over
the movies that have that score, different movies for each source, and their column names say
so.

Every function validates its parameters before it runs its query, and aggregates in SQL.
Ranges: ``min_reviews`` 1 to 1,000,000; ``limit`` and ``bins`` 1 to 10,000; years and dates
in 1870-2100; a :func:`review_volume` series at most 10,000 periods; a ``ValueError`` naming
the range otherwise.
User ratings, the score counts of :func:`score_distribution`, the pairs of platform scores
of :func:`platform_agreement` and the platform means of :func:`ratings_by_genre` and
:func:`ratings_by_year` are read from the rollups of migration 0002 (:mod:`iwm_lab.rollups`):
they reflect the data as of the last refresh (the seeder, ``iwm-lab import`` and
``iwm-lab db refresh`` refresh them); the other functions read platform scores from
``movies`` directly.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    Float,
    Integer,
    Interval,
    Numeric,
    String,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    select,
    union_all,
    values,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select, Subquery

from iwm_lab.models import PERCENT_RANGE, SCORE_RANGE, Genre, Movie, MovieGenre
from iwm_lab.queries._common import (
    FREQUENCIES,
    SOURCES,
    YEAR_PATTERN,
    check_choice,
    check_date_range,
    check_day,
    check_genre,
    check_limit,
    check_min_reviews,
    check_periods,
    check_text,
    check_year_range,
    frame,
    movie_year,
    period_starts,
    platform_score,
    typed,
)
from iwm_lab.rollups import (
    MOVIE_REVIEW_STATS,
    REVIEW_DAILY_STATS,
    SCORE_COUNTS,
    SCORE_PAIR_CELLS,
)

PERIODS: tuple[str, ...] = ("year", "decade")
# The groups of score_gap; "none" is one group of every movie.
GAP_GROUPS: tuple[str, ...] = ("genre", "decade", "year", "none")
CONFIDENCE = 0.95  # of score_gap's intervals

_SCALES: dict[str, tuple[int, int]] = {
    "siddu": SCORE_RANGE,
    "critics": SCORE_RANGE,
    "imdb": SCORE_RANGE,
    "rotten_tomatoes": PERCENT_RANGE,
    "users": SCORE_RANGE,
}
_LANGUAGE_LENGTH = 50  # movies.language is VARCHAR(50): a longer value cannot match
# Sort keys are rounded: summing the same ratings in another order changes the last bits of a
# mean, and that noise must not decide between movies that are equal.
_SORT_DECIMALS = 9

# Each mean's name says which movies it is over: users' over the rated movies (those with
# min_reviews reviews), a platform's over the movies that have its score.
_CATALOGUE_COLUMNS = {
    "movies": "int64",
    "rated_movies": "int64",
    "reviews": "int64",
    "users_mean_rated_movies": "float64",
    "siddu_mean_scored_movies": "float64",
    "critics_mean_scored_movies": "float64",
    "imdb_mean_scored_movies": "float64",
    "rotten_tomatoes_mean_scored_movies": "float64",
}
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


def _genre_id(conn: Connection, genre: str | None) -> int | None:
    """The id of ``genre``, a slug checked against the known ones."""
    if check_genre(conn, genre) is None:
        return None
    return conn.execute(select(Genre.id).where(Genre.slug == genre)).scalar_one()


def _movie_conditions(
    *,
    genre_id: int | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    language: str | None = None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if genre_id is not None:
        # By id, not by a join on the slug: with the id known when the query is planned, the
        # planner sizes the genre from movie_genres' statistics (it guessed a third of the
        # busiest genre, then fetched its reviews one movie at a time).
        of_genre = select(MovieGenre.movie_id).where(MovieGenre.genre_id == genre_id)
        conditions.append(Movie.id.in_(of_genre))
    if year_from is not None or year_to is not None:
        # Compared as text: four-digit strings order as their numbers do, and the planner
        # then estimates from the column's statistics (it cannot see through movie_year()'s CASE,
        # and a wrong guess sends it to fetch millions of reviews one movie at a time).
        conditions.append(Movie.year.regexp_match(YEAR_PATTERN))
        if year_from is not None:
            conditions.append(Movie.year >= f"{year_from:04d}")
        if year_to is not None:
            conditions.append(Movie.year <= f"{year_to:04d}")
    if language is not None:
        conditions.append(Movie.language == language)
    return conditions


def _review_stats(
    conditions: list[ColumnElement[bool]],
    *,
    spread: bool = False,
    min_reviews: int | None = None,
    name: str = "review_stats",
) -> Subquery:
    """Per reviewed movie meeting ``conditions`` (and with at least ``min_reviews`` reviews):
    reviews, rating_sum, mean_rating (and stddev_rating when ``spread``), from the
    ``movie_review_stats`` rollup."""
    stats = MOVIE_REVIEW_STATS
    aggregates = [
        stats.c.movie_id,
        stats.c.reviews,
        stats.c.rating_sum,
        (stats.c.rating_sum / cast(stats.c.reviews, Float)).label("mean_rating"),
    ]
    if spread:
        aggregates.append(stats.c.rating_stddev.label("stddev_rating"))
    stmt = select(*aggregates)
    if conditions:
        stmt = stmt.where(stats.c.movie_id.in_(select(Movie.id).where(*conditions)))
    if min_reviews is not None:
        stmt = stmt.where(stats.c.reviews >= min_reviews)
    return stmt.subquery(name)


def _sort_key(value: ColumnElement[float]) -> ColumnElement[float]:
    return func.round(cast(value, Numeric), _SORT_DECIMALS)


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


def score_distribution(
    conn: Connection,
    *,
    source: str,
    bins: int = 20,
    genre: str | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
) -> pd.DataFrame:
    """Histogram of one score source over its whole scale, in equal-width bins.

    ``source`` is one of :data:`SOURCES`: a platform score of the movies meeting the filters
    (NULL scores skipped; ``rotten_tomatoes`` on its 0-100 scale, the others 0-10), or
    ``users``: the rating of every review of those movies (0-10). Bins split the scale, not the
    data's range, so histograms of different filters line up. A bin holds
    ``bin_start <= value < bin_end``; the top of the scale falls in the last bin.

    One row per bin, every bin present, sorted by ``bin``:

    - ``bin`` (int64): 1 to ``bins``.
    - ``bin_start``, ``bin_end`` (float64): the bin's edges on the source's scale.
    - ``count`` (int64): values in the bin, 0 for an empty one.
    - ``share`` (float64): ``count`` over all counted values; NaN when no value is counted.
    """
    check_choice(source, SOURCES, "source")
    check_limit(bins, "bins")
    check_year_range(year_from, year_to)
    genre_id = _genre_id(conn, genre)

    # Counted per distinct score by the score_counts rollup, binned here: scores take few
    # values, so width_bucket runs a few hundred times instead of once per review.
    stored = SCORE_COUNTS
    where = [
        stored.c.source == source,
        stored.c.genre_id == genre_id if genre_id is not None else stored.c.genre_id.is_(None),
    ]
    if year_from is not None:
        where.append(stored.c.year >= year_from)
    if year_to is not None:
        where.append(stored.c.year <= year_to)
    scored = (
        select(stored.c.score, func.sum(stored.c.n).label("n"))
        .where(*where)
        .group_by(stored.c.score)
        .subquery("scores")
    )

    low, high = (float(bound) for bound in _SCALES[source])
    width = (high - low) / bins
    # width_bucket gives the top of the scale (a perfect 10) a bin of its own past the last.
    bucket = func.least(func.width_bucket(cast(scored.c.score, Float), low, high, bins), bins)
    binned = select(bucket.label("bin"), scored.c.n).subquery("binned")
    counts = (
        select(binned.c.bin, cast(func.sum(binned.c.n), BigInteger).label("n"))
        .group_by(binned.c.bin)
        .subquery("counts")
    )
    series = func.generate_series(1, bins).table_valued("bin").render_derived(name="series")
    count = func.coalesce(counts.c.n, 0)
    stmt = (
        select(
            series.c.bin,
            (low + cast(series.c.bin - 1, Float) * width).label("bin_start"),
            (low + cast(series.c.bin, Float) * width).label("bin_end"),
            count.label("count"),
            (cast(count, Float) / func.nullif(cast(func.sum(count).over(), Float), 0)).label(
                "share"
            ),
        )
        .select_from(series.outerjoin(counts, counts.c.bin == series.c.bin))
        .order_by(series.c.bin)
    )
    columns = {
        "bin": "int64",
        "bin_start": "float64",
        "bin_end": "float64",
        "count": "int64",
        "share": "float64",
    }
    return frame(conn, stmt, columns)


def platform_agreement(
    conn: Connection, *, genre: str | None = None, min_reviews: int = 20
) -> pd.DataFrame:
    """How far the score sources agree, pair by pair, on a common 0-10 scale.

    Sources are those of :data:`SOURCES`: ``rotten_tomatoes`` is divided by 10, ``users`` is a
    movie's mean review rating and is known only for movies with at least ``min_reviews``
    reviews. A pair compares the movies (of ``genre``, when given) that have both scores.

    One row per pair of sources, all ten, in the order of :data:`SOURCES`:

    - ``source_a``, ``source_b`` (str): the pair.
    - ``n`` (int64): movies with both scores.
    - ``pearson_r`` (float64): Pearson correlation of the two scores.
    - ``spearman_rho`` (float64): Spearman rank correlation (tied scores get their mean rank).
    - ``mean_diff`` (float64): mean of ``score_a - score_b`` over the pair's movies, in points
      out of 10: positive when ``source_a`` scores those movies higher.
    - ``mean_abs_diff`` (float64): mean of ``|score_a - score_b|``: how far apart the two
      scores are, whichever is higher.

    The correlations are NaN below two movies or when a score does not vary; the mean
    differences are NaN when ``n`` is 0. :func:`score_gap` gives the signed difference per
    genre or period, with its interval.
    """
    check_min_reviews(min_reviews)
    genre_id = _genre_id(conn, genre)

    pairs = list(combinations(SOURCES, 2))
    # Everything is computed from cells: the movies of a pair counted per (x, y). The pairs of
    # platform scores come counted from the score_pair_cells rollup (platform scores take few
    # values: 60k movies fold into a few thousand cells); the pairs with users' mean rating,
    # which exists only for movies with min_reviews reviews, are added here movie by movie.
    stored = SCORE_PAIR_CELLS
    pair_number = case(
        *(
            (and_(stored.c.source_a == a, stored.c.source_b == b), i)
            for i, (a, b) in enumerate(pairs)
            if "users" not in (a, b)
        )
    )
    from_rollup = select(
        pair_number.label("pair"), stored.c.x, stored.c.y, cast(stored.c.movies, Integer).label("n")
    ).where(stored.c.genre_id == genre_id if genre_id is not None else stored.c.genre_id.is_(None))
    stats = _review_stats(_movie_conditions(genre_id=genre_id))
    rated = (
        select(
            *(platform_score(source).label(source) for source in SOURCES if source != "users"),
            stats.c.mean_rating.label("users"),
        )
        .join(stats, and_(stats.c.movie_id == Movie.id, stats.c.reviews >= min_reviews))
        .cte("rated")
        .prefix_with("MATERIALIZED")
    )
    with_users = union_all(
        *(
            select(literal(i).label("pair"), rated.c[a].label("x"), rated.c[b].label("y")).where(
                rated.c[a].is_not(None), rated.c[b].is_not(None)
            )
            for i, (a, b) in enumerate(pairs)
            if "users" in (a, b)
        )
    ).subquery("with_users")
    # Users' mean ratings are nearly all distinct, so their movies hardly fold into cells:
    # each movie is a cell of one (grouping them cost more than it saved). Counts are
    # integers, whose sums are bigints (a sum of bigints is a slower numeric).
    counted = select(
        with_users.c.pair, with_users.c.x, with_users.c.y, literal(1, Integer).label("n")
    )
    cells = union_all(from_rollup, counted).cte("cells").prefix_with("MATERIALIZED")

    def mean_ranks(value: str) -> Subquery:
        """Each distinct value of a pair's ``x`` or ``y`` with its rank among the pair's movies.

        Spearman needs tied values to share the mean of the positions they take: the positions
        up to the value's last, less half of the (size - 1) others in its tie group. Doubled,
        so that ranks are whole numbers (a correlation does not change with scale) and every
        sum below is exact: a score that does not vary gives exactly zero spread, hence NaN,
        as ``corr`` does.
        """
        column = cells.c[value]
        # Counts as integers: a sum of bigints is numeric, several times slower in a window.
        size = cast(func.sum(cells.c.n), Integer)
        running = func.sum(size).over(partition_by=cells.c.pair, order_by=column)
        return (
            select(cells.c.pair, column, (2 * running - (size - 1)).label("rank"))
            .group_by(cells.c.pair, column)
            .subquery(f"ranks_{value}")
        )

    rank_x, rank_y = mean_ranks("x"), mean_ranks("y")
    n, x, y = cells.c.n, cells.c.x, cells.c.y
    weight = cast(n, Float)

    def correlation(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        """Pearson's r of ``a`` and ``b`` over the cells, each weighing its ``n`` movies."""
        total, sa, sb = func.sum(n), func.sum(n * a), func.sum(n * b)
        covariance = total * func.sum(n * a * b) - sa * sb
        spread = (total * func.sum(n * a * a) - sa * sa) * (total * func.sum(n * b * b) - sb * sb)
        return covariance / func.sqrt(func.nullif(spread, 0))

    # The scores' sums are floats: a score that does not vary may then show a rounding-noise
    # spread, so constant scores are told by their range instead (corr() gives NaN there).
    varies = and_(func.min(x) < func.max(x), func.min(y) < func.max(y))
    pearson = case((varies, correlation(cast(x, Float), cast(y, Float))))
    # Doubled ranks are whole numbers: their sums (numeric) are exact, constant ones give 0.
    spearman = correlation(rank_x.c.rank, rank_y.c.rank)
    agreement = (
        select(
            cells.c.pair,
            cast(func.sum(n), BigInteger).label("n"),
            cast(pearson, Float).label("pearson_r"),
            cast(spearman, Float).label("spearman_rho"),
            (func.sum(weight * (x - y)) / func.sum(weight)).label("mean_diff"),
            (func.sum(weight * func.abs(x - y)) / func.sum(weight)).label("mean_abs_diff"),
        )
        .select_from(
            cells.join(rank_x, and_(rank_x.c.pair == cells.c.pair, rank_x.c.x == cells.c.x)).join(
                rank_y, and_(rank_y.c.pair == cells.c.pair, rank_y.c.y == cells.c.y)
            )
        )
        .group_by(cells.c.pair)
        .subquery("agreement")
    )
    names = values(
        column("pair", Integer),
        column("source_a", String),
        column("source_b", String),
        name="pairs",
    ).data([(i, a, b) for i, (a, b) in enumerate(pairs)])
    stmt = (
        select(
            names.c.source_a,
            names.c.source_b,
            func.coalesce(agreement.c.n, 0).label("n"),
            agreement.c.pearson_r,
            agreement.c.spearman_rho,
            agreement.c.mean_diff,
            agreement.c.mean_abs_diff,
        )
        .select_from(names.outerjoin(agreement, agreement.c.pair == names.c.pair))
        .order_by(names.c.pair)
    )
    columns = {
        "source_a": "str",
        "source_b": "str",
        "n": "int64",
        "pearson_r": "float64",
        "spearman_rho": "float64",
        "mean_diff": "float64",
        "mean_abs_diff": "float64",
    }
    return frame(conn, stmt, columns)


def _score_on_ten(source: str, stats: Subquery) -> ColumnElement[Any]:
    """A movie's ``source`` score on the common 0-10 scale; users' from ``stats``."""
    return stats.c.mean_rating if source == "users" else platform_score(source)


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
    genre_id = _genre_id(conn, genre)

    conditions = _movie_conditions(genre_id=genre_id)
    stats = _review_stats(conditions)
    score_a, score_b = _score_on_ten(a, stats), _score_on_ten(b, stats)
    period = movie_year() if by == "year" else movie_year() // 10 * 10
    paired = select(
        Movie.id.label("movie_id"),
        period.label("period"),
        score_a.label("a"),
        score_b.label("b"),
    ).where(score_a.is_not(None), score_b.is_not(None), *conditions)
    if "users" in (a, b):
        paired = paired.join(
            stats, and_(stats.c.movie_id == Movie.id, stats.c.reviews >= min_reviews)
        )
    pairs = paired.cte("pairs")

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
        links = [MovieGenre.movie_id == pairs.c.movie_id]
        if genre_id is not None:
            links.append(MovieGenre.genre_id == genre_id)
        stmt = (
            select(Genre.name.label("group"), *aggregates)
            .select_from(pairs)
            .join(MovieGenre, and_(*links))
            .join(Genre, Genre.id == MovieGenre.genre_id)
            .group_by(Genre.id)
            # Byte order, so the order does not depend on the server's locale.
            .order_by(_sort_key(func.avg(gap)).desc(), Genre.name.collate("C"), Genre.id)
        )
    elif by in PERIODS:
        label = cast(pairs.c.period, String)
        stmt = (
            select((label + "s" if by == "decade" else label).label("group"), *aggregates)
            .where(pairs.c.period.is_not(None))
            .group_by(pairs.c.period)
            .order_by(pairs.c.period)
        )
    else:
        # Without a GROUP BY an aggregate gives a row even of nothing: no movie, no group.
        stmt = select(literal("all").label("group"), *aggregates).having(func.count() > 0)
    columns = {name: dtype for name, dtype in _GAP_COLUMNS.items() if not name.startswith("ci_")}
    groups = frame(conn, stmt, {**columns, "sd_gap": "float64"})

    n = groups["movies"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        # t with n - 1 degrees of freedom; n = 1 gives NaN (no spread), as it should.
        quantile = scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)
        half_width = quantile * groups["sd_gap"].to_numpy() / np.sqrt(n)
    groups["ci_low"] = groups["mean_gap"] - half_width
    groups["ci_high"] = groups["mean_gap"] + half_width
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
    genre_id = _genre_id(conn, genre)

    conditions = _movie_conditions(
        genre_id=genre_id, year_from=year_from, year_to=year_to, language=language
    )
    stats = _review_stats(conditions)
    # C is a window over every reviewed movie, taken before the min_reviews cut.
    overall_mean = cast(func.sum(stats.c.rating_sum).over(), Float) / cast(
        func.sum(stats.c.reviews).over(), Float
    )
    weighted = (stats.c.rating_sum + min_reviews * overall_mean) / (
        cast(stats.c.reviews, Float) + min_reviews
    )
    scored = select(
        stats.c.movie_id,
        stats.c.reviews,
        stats.c.mean_rating,
        weighted.label("weighted_rating"),
    ).subquery("scored")
    ranked = select(scored).where(scored.c.reviews >= min_reviews).subquery("ranked")
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
    genre_id = _genre_id(conn, genre)

    stats = _review_stats(_movie_conditions(genre_id=genre_id), spread=True)
    ranked = select(stats).where(stats.c.reviews >= max(min_reviews, 2)).subquery("ranked")
    stmt = _first_with_titles(ranked, "stddev_rating", limit)
    return frame(conn, stmt, {**_MOVIE_COLUMNS, "stddev_rating": "float64"})


_PLATFORMS = tuple(source for source in SOURCES if source != "users")


def _platform_means(
    *,
    by: str,
    genre_id: int | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
) -> Select[Any]:
    """Each platform's mean score over the movies that have that score
    (``<source>_mean_scored_movies``, NULL when none; Rotten Tomatoes on 0-100), from the
    ``score_counts`` rollup, in a column ``key``: per genre id (``by="genre"``, every genre),
    or per release year or decade (``by="year"``, ``"decade"``: the movies with a valid year,
    of ``genre_id`` when given); with a year range, only the movies released in it.
    """
    stored = SCORE_COUNTS
    where: list[ColumnElement[bool]] = [stored.c.source.in_(_PLATFORMS)]
    key: ColumnElement[Any]
    if by == "genre":
        where.append(stored.c.genre_id.is_not(None))
        key = stored.c.genre_id
    else:
        # The rollup's year is NULL unless four digits, as movie_year() reads it.
        where.append(
            stored.c.genre_id.is_(None) if genre_id is None else stored.c.genre_id == genre_id
        )
        where.append(stored.c.year.is_not(None))
        key = stored.c.year if by == "year" else stored.c.year // 10 * 10
    if year_from is not None:
        where.append(stored.c.year >= year_from)
    if year_to is not None:
        where.append(stored.c.year <= year_to)
    # Summed per (genre, source) first, then pivoted: two plain sums per row are cheaper than
    # eight filtered ones.
    sums = (
        select(
            key.label("key"),
            stored.c.source,
            func.sum(stored.c.score * stored.c.n).label("total"),
            func.sum(stored.c.n).label("n"),
        )
        .where(*where)
        .group_by(key, stored.c.source)
        .subquery("platform_sums")
    )
    means = [
        (
            func.max(sums.c.total).filter(sums.c.source == source)
            / cast(func.max(sums.c.n).filter(sums.c.source == source), Float)
        ).label(f"{source}_mean_scored_movies")
        for source in _PLATFORMS
    ]
    return select(sums.c.key, *means).group_by(sums.c.key)


def ratings_by_genre(
    conn: Connection,
    *,
    min_reviews: int = 20,
    year_from: int | None = None,
    year_to: int | None = None,
) -> pd.DataFrame:
    """Users' and platforms' ratings per genre, for movies released in the year range.

    One row per genre, every genre (with zeros when none of its movies is in range), sorted by
    ``genre``; a movie of several genres counts in each:

    - ``genre`` (str): the genre's slug; ``genre_name`` (str): its display name.
    - ``movies`` (int64): movies in the group.
    - ``rated_movies`` (int64): those with at least ``min_reviews`` reviews.
    - ``reviews`` (int64): the reviews of the rated movies.
    - ``users_mean_rated_movies`` (float64): mean over the rated movies only of their mean
      review rating (each movie weighs the same), 0-10.
    - ``siddu_mean_scored_movies``, ``critics_mean_scored_movies``,
      ``imdb_mean_scored_movies`` (float64): mean platform score over the group's movies that
      have that score (rated or not), 0-10; ``rotten_tomatoes_mean_scored_movies`` the same on
      0-100.

    Each mean is over its own movies: the users' mean and a platform's mean may cover quite
    different movies (a few much-reviewed ones against most of the group), so their
    difference is not a gap between the two sources. :func:`score_gap` compares two sources
    on the same movies. Means are NaN when nothing is averaged.
    """
    check_min_reviews(min_reviews)
    check_year_range(year_from, year_to)

    # Without a year range no query reads movies, whose wide rows cost more to scan than
    # everything else here: the counts come from movie_genres and movie_review_stats, the
    # platform means from the score_counts rollup (per genre, year and score).
    conditions = _movie_conditions(year_from=year_from, year_to=year_to)
    in_range = [MovieGenre.movie_id.in_(select(Movie.id).where(*conditions))] if conditions else []
    linked = select(MovieGenre.genre_id, MovieGenre.movie_id).where(*in_range).subquery("links")
    rated = _review_stats([], min_reviews=min_reviews, name="rated")
    users = (
        select(
            linked.c.genre_id,
            func.count(linked.c.movie_id).label("movies"),
            func.count(rated.c.movie_id).label("rated_movies"),
            cast(func.coalesce(func.sum(rated.c.reviews), 0), BigInteger).label("reviews"),
            func.avg(rated.c.mean_rating).label("users_mean_rated_movies"),
        )
        .select_from(linked.outerjoin(rated, rated.c.movie_id == linked.c.movie_id))
        .group_by(linked.c.genre_id)
        .subquery("users")
    )
    platforms = _platform_means(by="genre", year_from=year_from, year_to=year_to).subquery(
        "platforms"
    )
    stmt = (
        select(
            Genre.slug.label("genre"),
            Genre.name.label("genre_name"),
            *(
                func.coalesce(users.c[name], 0).label(name)
                for name in ("movies", "rated_movies", "reviews")
            ),
            users.c.users_mean_rated_movies,
            *(platforms.c[f"{source}_mean_scored_movies"] for source in _PLATFORMS),
        )
        .select_from(Genre)
        .outerjoin(users, users.c.genre_id == Genre.id)
        .outerjoin(platforms, platforms.c.key == Genre.id)
        # Byte order, so the order does not depend on the server's locale.
        .order_by(Genre.slug.collate("C"), Genre.name.collate("C"), Genre.id)
    )
    return frame(conn, stmt, {"genre": "str", "genre_name": "str", **_CATALOGUE_COLUMNS})


def ratings_by_year(
    conn: Connection, *, genre: str | None = None, by: str = "year", min_reviews: int = 20
) -> pd.DataFrame:
    """Users' and platforms' ratings per release year or decade (of ``genre``, when given).

    Movies without a valid year are left out. One row per period from the first to the last
    period that has a movie, gaps included (with zeros), sorted by ``period``:

    - ``period`` (datetime64[us]): the period's first moment, as in every time series: the
      year's 1 January (1995-01-01), or with ``by="decade"`` the decade's (1990-01-01 for the
      1990s); ``period.dt.year`` gives the year.
    - ``movies`` (int64): movies in the group.
    - ``rated_movies`` (int64): those with at least ``min_reviews`` reviews.
    - ``reviews`` (int64): the reviews of the rated movies.
    - ``users_mean_rated_movies`` (float64): mean over the rated movies only of their mean
      review rating (each movie weighs the same), 0-10.
    - ``siddu_mean_scored_movies``, ``critics_mean_scored_movies``,
      ``imdb_mean_scored_movies`` (float64): mean platform score over the group's movies that
      have that score (rated or not), 0-10; ``rotten_tomatoes_mean_scored_movies`` the same on
      0-100.

    Each mean is over its own movies: the users' mean and a platform's mean may cover quite
    different movies (a few much-reviewed ones against most of the group), so their
    difference is not a gap between the two sources. :func:`score_gap` compares two sources
    on the same movies. Means are NaN when nothing is averaged.
    """
    check_choice(by, PERIODS, "by")
    check_min_reviews(min_reviews)
    genre_id = _genre_id(conn, genre)

    conditions = _movie_conditions(genre_id=genre_id)
    step = 1 if by == "year" else 10
    # One scan of movies, grouped by the year as stored: the year's pattern is then matched
    # once per distinct value, not twice per movie (it cost more than the scan). The platform
    # means come from the score_counts rollup, per year.
    rated = _review_stats([], min_reviews=min_reviews, name="rated")
    per_year = (
        select(
            Movie.year.label("year"),
            func.count(Movie.id).label("movies"),
            func.count(rated.c.movie_id).label("rated_movies"),
            func.sum(rated.c.reviews).label("reviews"),
            func.sum(rated.c.mean_rating).label("mean_sum"),
        )
        .select_from(Movie)
        .outerjoin(rated, rated.c.movie_id == Movie.id)
        .where(*conditions)
        .group_by(Movie.year)
        # Materialized, or the planner pushes the year check below into the scan of movies.
        .cte("per_year")
        .prefix_with("MATERIALIZED")
    )
    year: ColumnElement[int] = case(
        (per_year.c.year.regexp_match(YEAR_PATTERN), cast(per_year.c.year, Integer))
    )
    period = year if by == "year" else year // 10 * 10
    rated_movies = func.sum(per_year.c.rated_movies)
    counted = (
        select(
            period.label("period"),
            cast(func.sum(per_year.c.movies), BigInteger).label("movies"),
            cast(rated_movies, BigInteger).label("rated_movies"),
            cast(func.coalesce(func.sum(per_year.c.reviews), 0), BigInteger).label("reviews"),
            (func.sum(per_year.c.mean_sum) / cast(func.nullif(rated_movies, 0), Float)).label(
                "users_mean_rated_movies"
            ),
        )
        .where(year.is_not(None))
        .group_by(period)
        .subquery("counted")
    )
    platforms = _platform_means(by=by, genre_id=genre_id).subquery("platforms")
    per_period = (
        select(
            counted,
            *(platforms.c[f"{source}_mean_scored_movies"] for source in _PLATFORMS),
        )
        .select_from(counted.outerjoin(platforms, platforms.c.key == counted.c.period))
        .cte("per_period")
    )
    series = (
        func.generate_series(
            select(func.min(per_period.c.period)).scalar_subquery(),
            select(func.max(per_period.c.period)).scalar_subquery(),
            step,
        )
        .table_valued("period")
        .render_derived(name="periods")
    )
    filled = [
        func.coalesce(per_period.c[name], 0).label(name) if dtype == "int64" else per_period.c[name]
        for name, dtype in _CATALOGUE_COLUMNS.items()
    ]
    starts = func.make_timestamp(series.c.period, 1, 1, 0, 0, 0.0)
    stmt = (
        select(starts.label("period"), *filled)
        .select_from(series.outerjoin(per_period, per_period.c.period == series.c.period))
        .order_by(series.c.period)
    )
    return frame(conn, stmt, {"period": "datetime64[us]", **_CATALOGUE_COLUMNS})


def review_volume(
    conn: Connection,
    *,
    start: date | datetime | str,
    end: date | datetime | str,
    freq: str = "day",
) -> pd.DataFrame:
    """How many reviews were written per day, week or month, and how they rated.

    Counts every review dated from ``start`` through ``end`` (both whole days, inclusive,
    each a ``date``, a ``datetime`` standing for its day, or an ISO string, in the years
    1870-2100; reviews without a movie included). Weeks start on Monday; a range of more than
    10,000 periods is refused (about 27 years by day). Read from the daily rollup
    ``review_daily_stats``: whole days are all the range needs.

    One row per period that overlaps the range, every period present, sorted by ``period``;
    the first and last periods count only the days inside the range, and say so:

    - ``period`` (datetime64[us]): the period's first moment (midnight; a Monday; the 1st).
    - ``reviews`` (int64): reviews dated in the period, 0 when none.
    - ``mean_rating`` (float64): their mean rating, 0-10; NaN when none.
    - ``days`` (int64): the period's days inside the range (7 for a whole week).
    - ``partial`` (bool): the range covers only part of the period, so its count is not
      comparable with a whole period's.
    """
    check_choice(freq, FREQUENCIES, "freq")
    first_day, last_day = check_day(start, "start"), check_day(end, "end")
    check_date_range(first_day, last_day, ("start", "end"))
    check_periods(freq, first_day, last_day)

    days = REVIEW_DAILY_STATS
    since = datetime.combine(first_day, time())
    until = datetime.combine(last_day, time())
    period = func.date_trunc(freq, days.c.day)
    volume = (
        select(
            period.label("period"),
            cast(func.sum(days.c.reviews), BigInteger).label("reviews"),
            (func.sum(days.c.rating_sum) / cast(func.sum(days.c.reviews), Float)).label(
                "mean_rating"
            ),
        )
        .where(days.c.day >= since, days.c.day < until + timedelta(days=1))
        .group_by(period)
        .subquery("volume")
    )
    series = period_starts(freq, first_day, last_day)
    period_end = cast(series.c.period + cast(literal(f"1 {freq}"), Interval), Date)
    period_start = cast(series.c.period, Date)
    # date - date is a whole number of days.
    in_range = func.least(period_end, last_day + timedelta(days=1)) - func.greatest(
        period_start, first_day
    )
    stmt = (
        select(
            series.c.period,
            func.coalesce(volume.c.reviews, 0).label("reviews"),
            volume.c.mean_rating,
            in_range.label("days"),
            (in_range < period_end - period_start).label("partial"),
        )
        .select_from(series.outerjoin(volume, volume.c.period == series.c.period))
        .order_by(series.c.period)
    )
    columns = {
        "period": "datetime64[us]",
        "reviews": "int64",
        "mean_rating": "float64",
        "days": "int64",
        "partial": "bool",
    }
    return frame(conn, stmt, columns)


__all__ = [
    "CONFIDENCE",
    "FREQUENCIES",
    "GAP_GROUPS",
    "PERIODS",
    "SOURCES",
    "divisive_movies",
    "platform_agreement",
    "ratings_by_genre",
    "ratings_by_year",
    "review_volume",
    "score_distribution",
    "score_gap",
    "top_rated",
]


def __dir__() -> list[str]:
    # What tab completion offers: the queries, not the names they are built from.
    return list(__all__)
