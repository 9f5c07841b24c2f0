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
User ratings, the score counts of :func:`score_distribution` and everything the other
functions know of a movie (its year, language, platform scores, reviews and genres) are read
from the rollups (:mod:`iwm_lab.rollups`; per movie, ``movie_scores``): they reflect the
data as of the last refresh (the seeder, ``iwm-lab import`` and ``iwm-lab db refresh`` refresh
them); only the titles and years shown beside ranked movies are read from ``movies`` directly.
:func:`top_rated`, :func:`divisive_movies` and :func:`score_gap` live in
:mod:`iwm_lab.queries.ratings_catalogue`, :func:`platform_agreement` in
:mod:`iwm_lab.queries.ratings_agreement`; they are public here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    Float,
    Integer,
    Interval,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from iwm_lab.models import PERCENT_RANGE, SCORE_RANGE, Genre
from iwm_lab.queries._common import (
    FREQUENCIES,
    SOURCES,
    check_choice,
    check_date_range,
    check_day,
    check_limit,
    check_min_reviews,
    check_periods,
    check_year_range,
    frame,
    period_starts,
)
from iwm_lab.queries.ratings_agreement import platform_agreement
from iwm_lab.queries.ratings_catalogue import (
    CONFIDENCE,
    FACTS,
    GAP_GROUPS,
    PERIODS,
    PLATFORMS,
    divisive_movies,
    facts_conditions,
    genre_id_of,
    score_gap,
    top_rated,
)
from iwm_lab.rollups import REVIEW_DAILY_STATS, SCORE_COUNTS

_SCALES: dict[str, tuple[int, int]] = {
    "siddu": SCORE_RANGE,
    "critics": SCORE_RANGE,
    "imdb": SCORE_RANGE,
    "rotten_tomatoes": PERCENT_RANGE,
    "users": SCORE_RANGE,
}

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
    genre_id = genre_id_of(conn, genre)

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


def _catalogue(
    group: ColumnElement[Any], min_reviews: int, conditions: list[ColumnElement[bool]]
) -> Select[Any]:
    """The columns of :data:`_CATALOGUE_COLUMNS` per ``group`` (an expression of
    ``movie_scores``, labelled ``key``), over the movies meeting ``conditions``: one scan
    of the rollup, every figure a (filtered) aggregate of it."""
    # Only the columns aggregated: a row per (movie, group) may pass between processes.
    per_movie = (
        select(
            group.label("key"),
            FACTS.c.reviews,
            FACTS.c.rating_sum,
            *(FACTS.c[source] for source in PLATFORMS),
        )
        .where(*conditions)
        .subquery("per_movie")
    )
    movie = per_movie.c
    rated = movie.reviews >= min_reviews

    def mean(total: ColumnElement[Any], counted: ColumnElement[Any]) -> ColumnElement[Any]:
        # Sum over count: avg() of a float also keeps a sum of squares, a third of the cost
        # of this query. The same sum, so the same mean; NULL over no value.
        return total / cast(func.nullif(counted, 0), Float)

    rated_movies = func.count().filter(rated)
    return select(
        movie.key,
        func.count().label("movies"),
        rated_movies.label("rated_movies"),
        # A movie's reviews fit an integer, whose sum is a bigint (a sum of bigints is a slower
        # numeric).
        cast(
            func.coalesce(func.sum(cast(movie.reviews, Integer)).filter(rated), 0), BigInteger
        ).label("reviews"),
        mean(
            func.sum(movie.rating_sum / cast(movie.reviews, Float)).filter(rated), rated_movies
        ).label("users_mean_rated_movies"),
        *(
            mean(func.sum(cast(movie[source], Float)), func.count(movie[source])).label(
                f"{source}_mean_scored_movies"
            )
            for source in PLATFORMS
        ),
    ).group_by(movie.key)


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

    # One scan of the per-movie rollup, a row per (movie, genre): a movie of several genres
    # counts in each (unnest of an empty array gives none).
    per_genre = _catalogue(
        func.unnest(FACTS.c.genre_ids),
        min_reviews,
        facts_conditions(year_from=year_from, year_to=year_to),
    ).subquery("per_genre")
    stmt = (
        select(
            Genre.slug.label("genre"),
            Genre.name.label("genre_name"),
            *(
                func.coalesce(per_genre.c[name], 0).label(name)
                if dtype == "int64"
                else per_genre.c[name]
                for name, dtype in _CATALOGUE_COLUMNS.items()
            ),
        )
        .select_from(Genre)
        .outerjoin(per_genre, per_genre.c.key == Genre.id)
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
    genre_id = genre_id_of(conn, genre)

    step = 1 if by == "year" else 10
    period = FACTS.c.year if by == "year" else FACTS.c.year // 10 * 10
    # One scan of the per-movie rollup, whose year is already an integer (NULL when invalid).
    per_period = (
        _catalogue(
            period, min_reviews, [FACTS.c.year.is_not(None), *facts_conditions(genre_id=genre_id)]
        )
        .cte("per_period")
        .prefix_with("MATERIALIZED")
    )
    series = (
        func.generate_series(
            select(func.min(per_period.c.key)).scalar_subquery(),
            select(func.max(per_period.c.key)).scalar_subquery(),
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
        .select_from(series.outerjoin(per_period, per_period.c.key == series.c.period))
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
