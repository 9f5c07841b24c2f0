"""Streaming coverage: where movies can be watched, on which platforms, at what price.

Every function reads ``movie_streaming_options`` (one row per offer: movie x platform x region
x type, with a quality and a display price) and returns a pandas DataFrame aggregated in SQL.
Options without a ``movie_id`` (or, where platforms matter, a ``platform_id``) say nothing
about a movie's availability and are left out of the counts. :func:`coverage_by_region`,
:func:`platform_share` and :func:`price_quality_mix` read the options through the rollups of
migration 0002
(:mod:`iwm_lab.rollups`), as of their last refresh (the seeder, ``iwm-lab import`` and
``iwm-lab db refresh`` refresh them); the others read the table itself.

"Top rated" and "well rated" are among released movies, by one score ``source`` (one of
:data:`SOURCES`, default ``siddu``: ``movies.siddu_score``, iwm's own 0-10 score) on the
common 0-10 scale, ties by movie id; well rated is a score of at least ``min_score`` (default
8.0), and ``source="users"`` scores the movies with ``min_reviews`` reviews by their mean
rating. The definition is :class:`iwm_lab.queries._common.WellRated`, the same wherever a query,
a finding or a notebook says "well rated" or "top rated".

Regions are validated against the regions that have at least one option
(:func:`iwm_lab.queries._common.regions`), in any case (``de`` is ``DE``: see
:func:`check_region`); types against :data:`iwm_lab.models.values.STREAMING_OPTION_TYPES`.
Ranges, checked before any query (a ``ValueError`` naming the range otherwise): ``limit`` and
``top_n`` 1 to 10,000; ``min_score`` 0 to 10; ``min_reviews`` 1 to 1,000,000; at most 300
regions (each at most 10 characters), 16 types, 10,000 ``movie_ids`` (each 1 to
2,147,483,647); a title at most 200 characters.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Integer,
    Select,
    String,
    TextClause,
    and_,
    cast,
    column,
    false,
    func,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement

from iwm_lab.models import Movie, MovieStreamingOption, StreamingPlatform
from iwm_lab.models.values import STREAMING_OPTION_TYPES, STREAMING_QUALITIES
from iwm_lab.queries import _common
from iwm_lab.queries._common import (
    DEFAULT_MIN_REVIEWS,
    DEFAULT_MIN_SCORE,
    DEFAULT_SOURCE,
    MAX_LIMIT,
    SOURCES,
    YEAR_PATTERN,
    Column,
    WellRated,
    check_choice,
    check_int,
    check_limit,
    check_list,
    check_text,
    frame,
    movie_year,
    region_code,
)

# One column per offer type in coverage_by_region; the SQL below names the same four.
TYPE_COLUMNS: dict[str, str] = {t: f"movies_{t}" for t in STREAMING_OPTION_TYPES}

# Price prefixes/suffixes (upper-cased) and the currency each one means. A price whose marker is
# not here is junk (NULL), a bare number is a price in an unknown currency.
_CURRENCIES: dict[str, tuple[str, ...]] = {
    "USD": ("$", "US$", "USD"),
    "INR": ("₹", "RS", "RS.", "INR"),
    "EUR": ("€", "EUR"),
    "GBP": ("£", "GBP"),
    "JPY": ("¥", "JPY"),
    "CAD": ("CA$", "C$", "CAD"),
    "AUD": ("A$", "AU$", "AUD"),
    "BRL": ("R$", "BRL"),
}
CURRENCY_MARKERS: dict[str, str] = {m: code for code, ms in _CURRENCIES.items() for m in ms}

MAX_TITLE_LENGTH = 200  # movies.title


# Regions are ISO 3166 codes (fewer than 300); a longer list is a mistake.
MAX_REGIONS = 300
MAX_TYPES = len(STREAMING_OPTION_TYPES) * 4
# movies.id is an integer column: a larger id would fail the cast of the whole list.
MAX_MOVIE_ID = 2**31 - 1


def _as_list(values: str | Sequence[str], name: str, max_items: int) -> list[str]:
    """A single value or a sequence of at most ``max_items``, as a duplicate-free list in the
    order given (one pass: a dict keeps the first of each)."""
    items = [values] if isinstance(values, str) else check_list(values, name, max_items)
    if not items:
        raise ValueError(f"{name} must name at least one value")
    return list(dict.fromkeys(items))


def _check_region_texts(values: Sequence[str]) -> list[str]:
    """Region codes as the database spells them (:func:`~iwm_lab.queries._common.region_code`),
    before the database is asked; anything else unknown is refused by the lookup, which lists
    the valid codes."""
    return [region_code(value) for value in values]


def _check_regions(conn: Connection, values: Sequence[str]) -> list[str]:
    known = set(_common.regions(conn))
    for value in values:
        if value not in known:
            check_choice(value, known, "region")
    return list(values)


def check_region(conn: Connection, region: str) -> str:
    """``region`` as the database spells it: a region with at least one option, matched
    regardless of case and surrounding spaces (``de`` -> ``DE``). ``ValueError`` listing the
    valid regions otherwise."""
    return _check_regions(conn, _check_region_texts([region]))[0]


def _offered(movie_id: Column, region: str | None = None) -> ColumnElement[bool]:
    """Whether the movie has an option in ``region`` (None: in any region)."""
    o = MovieStreamingOption.__table__
    where = o.c.region == region if region is not None else o.c.region.is_not(None)
    return select(o.c.id).where(o.c.movie_id == movie_id, where).exists()


# Counts from streaming_region_type_counts (a few rows per region: one per combination of
# offer types); the top-rated movies, at most 10,000 ids, are looked up in
# streaming_region_movies.
_COVERAGE_SQL = text("""
WITH top_rated AS (
    SELECT unnest(CAST(:top_ids AS integer[])) AS id
),
per_region AS (
    SELECT c.region,
           sum(c.movies) FILTER (WHERE (c.subscription AND :subscription) OR (c.rent AND :rent)
                                       OR (c.buy AND :buy) OR (c.free AND :free)) AS movies,
           sum(c.movies) FILTER (WHERE c.subscription AND :subscription) AS movies_subscription,
           sum(c.movies) FILTER (WHERE c.rent AND :rent) AS movies_rent,
           sum(c.movies) FILTER (WHERE c.buy AND :buy) AS movies_buy,
           sum(c.movies) FILTER (WHERE c.free AND :free) AS movies_free,
           sum(c.movies) FILTER (WHERE c.released AND ((c.subscription AND :subscription)
                                       OR (c.rent AND :rent) OR (c.buy AND :buy)
                                       OR (c.free AND :free))) AS released_available
    FROM streaming_region_type_counts AS c
    WHERE c.region = ANY(CAST(:regions AS text[]))
    GROUP BY c.region
),
top_available AS (
    SELECT r.region, count(*) AS top_n_available
    FROM top_rated AS t
    JOIN streaming_region_movies AS r ON r.movie_id = t.id
    WHERE r.region = ANY(CAST(:regions AS text[]))
      AND ((r.subscription AND :subscription) OR (r.rent AND :rent) OR (r.buy AND :buy)
           OR (r.free AND :free))
    GROUP BY r.region
),
catalogue AS MATERIALIZED (
    SELECT (SELECT count(*) FROM movies WHERE status = 'released') AS released_movies,
           (SELECT count(*) FROM top_rated) AS top_n
)
SELECT w.region, coalesce(r.movies, 0) AS movies,
       coalesce(r.movies_subscription, 0) AS movies_subscription,
       coalesce(r.movies_rent, 0) AS movies_rent, coalesce(r.movies_buy, 0) AS movies_buy,
       coalesce(r.movies_free, 0) AS movies_free, c.released_movies,
       coalesce(r.released_available, 0) AS released_available,
       coalesce(r.released_available, 0)::float8 / nullif(c.released_movies, 0) AS released_share,
       CAST(:source AS text) AS source, c.top_n, coalesce(t.top_n_available, 0) AS top_n_available,
       coalesce(t.top_n_available, 0)::float8 / nullif(c.top_n, 0) AS top_n_share
FROM unnest(CAST(:regions AS text[])) AS w(region)
CROSS JOIN catalogue AS c
LEFT JOIN per_region AS r ON r.region = w.region
LEFT JOIN top_available AS t ON t.region = w.region
ORDER BY w.region
""")

COVERAGE_COLUMNS: dict[str, str] = {
    "region": "str",
    "movies": "int64",
    **dict.fromkeys(TYPE_COLUMNS.values(), "int64"),
    "released_movies": "int64",
    "released_available": "int64",
    "released_share": "float64",
    "source": "str",
    "top_n": "int64",
    "top_n_available": "int64",
    "top_n_share": "float64",
}


def coverage_by_region(
    conn: Connection,
    *,
    regions: str | Sequence[str] | None = None,
    types: str | Sequence[str] | None = None,
    top_n: int = 100,
    source: str = DEFAULT_SOURCE,
    min_reviews: int = DEFAULT_MIN_REVIEWS,
) -> pd.DataFrame:
    """How much of the catalogue can be watched in each region.

    ``regions``: a region code or a list of them, in any case (default: every region with an
    option). ``types``: offer types to count (default: all of ``subscription``, ``rent``,
    ``buy``, ``free``); options of other types are ignored everywhere in the result.
    ``top_n``, ``source`` and ``min_reviews``: the top-rated set, the ``top_n`` released movies
    with the best score of ``source`` (:class:`~iwm_lab.queries._common.WellRated`: ``siddu``
    by default; ``users`` ranks the movies with ``min_reviews`` reviews by their mean rating).

    One row per region, sorted by region; a region whose options are all of other types gets a
    row of zeros. Columns:

    - ``region``: region code.
    - ``movies``: distinct movies with at least one option of the chosen types there.
    - ``movies_subscription``, ``movies_rent``, ``movies_buy``, ``movies_free``: distinct
      movies with an option of that type there (wide format, one column per type; a movie
      offered both ways counts in both, so they do not add up to ``movies``; 0 for a type
      left out by ``types``).
    - ``released_movies``: movies with ``status = 'released'`` in the whole catalogue.
    - ``released_available``: of those, how many are available there.
    - ``released_share``: ``released_available / released_movies`` (NaN for an empty catalogue).
    - ``source``: the score the top-rated set is ranked by.
    - ``top_n``: size of the top-rated set: the ``top_n`` released movies with the highest
      score of ``source`` (ties by id; fewer when fewer are scored).
    - ``top_n_available``: of those, how many are available there.
    - ``top_n_share``: ``top_n_available / top_n`` (NaN when no movie is scored).
    """
    check_limit(top_n, "top_n")
    ranking = WellRated(source=source, min_reviews=min_reviews)
    wanted_types = _as_list(STREAMING_OPTION_TYPES if types is None else types, "types", MAX_TYPES)
    for value in wanted_types:
        check_choice(value, STREAMING_OPTION_TYPES, "type")
    if regions is None:
        wanted_regions = _common.regions(conn)
    else:
        # Deduplicated again once normalised: "de" and "DE" are one region.
        asked = _check_region_texts(_as_list(regions, "regions", MAX_REGIONS))
        wanted_regions = _check_regions(conn, list(dict.fromkeys(asked)))
    ranked = ranking.scored(Movie.id).where(Movie.status == "released")
    best = ranked.order_by(ranked.selected_columns.score.desc(), Movie.id).limit(top_n)
    params: dict[str, object] = {
        "regions": wanted_regions,
        "top_ids": list(conn.execute(best).scalars()),
        "source": source,
    }
    params.update({t: t in wanted_types for t in STREAMING_OPTION_TYPES})
    return frame(conn, _COVERAGE_SQL, COVERAGE_COLUMNS, params)


# Reads the streaming_platform_shares rollup; platform names are read live.
_PLATFORM_SHARE_SQL = text("""
SELECT s.platform_id, p.name AS platform, s.movies,
       s.movies::float8 / s.region_movies AS share,
       s.exclusives, s.exclusives::float8 / s.movies AS exclusive_share
FROM streaming_platform_shares AS s
JOIN streaming_platforms AS p ON p.id = s.platform_id
WHERE s.region = :region
ORDER BY s.movies DESC, platform, s.platform_id
""")

PLATFORM_SHARE_COLUMNS: dict[str, str] = {
    "platform_id": "Int64",
    "platform": "str",
    "movies": "int64",
    "share": "float64",
    "exclusives": "int64",
    "exclusive_share": "float64",
}


def platform_share(conn: Connection, *, region: str) -> pd.DataFrame:
    """Each platform's part of what can be watched in ``region``.

    One row per platform with at least one option there, sorted by ``movies`` (descending),
    then platform name and id. Columns:

    - ``platform_id`` (Int64, as in :func:`availability`), ``platform``: the platform's id
      and name.
    - ``movies``: distinct movies it offers there (any type).
    - ``share``: ``movies`` / distinct movies offered there by any platform. A movie on two
      platforms counts for both, so shares add up to more than 1.
    - ``exclusives``: of its movies, those no other platform offers in that region.
    - ``exclusive_share``: ``exclusives / movies``.
    """
    region = check_region(conn, region)
    return frame(conn, _PLATFORM_SHARE_SQL, PLATFORM_SHARE_COLUMNS, {"region": region})


GAPS_COLUMNS: dict[str, str] = {
    "movie_id": "int64",
    "title": "str",
    "year": "Int64",
    "score": "float64",
    "available_regions": "int64",
    "available_in": "str",
}


def coverage_gaps(
    conn: Connection,
    *,
    region: str,
    source: str = DEFAULT_SOURCE,
    min_score: float = DEFAULT_MIN_SCORE,
    min_reviews: int = DEFAULT_MIN_REVIEWS,
    limit: int = 50,
) -> pd.DataFrame:
    """Well-rated released movies that cannot be watched in ``region`` at all.

    A movie qualifies when ``status = 'released'``, it is well rated (its score of ``source``
    is at least ``min_score`` on the 0-10 scale, :class:`~iwm_lab.queries._common.WellRated`:
    by default a Siddu score of 8.0 or more; ``source="users"`` takes the mean rating of the
    movies with ``min_reviews`` reviews) and it has no option of any type in ``region``. At
    most ``limit`` rows, best score first, ties by movie id. Columns:

    - ``movie_id``, ``title``, ``year`` (Int64, NA when not a four-digit year): the movie.
    - ``score``: its score of ``source``, 0-10.
    - ``available_regions``: how many other regions offer it (0: nowhere).
    - ``available_in``: those regions, sorted and joined by ``", "`` (``""`` when none).
    """
    well_rated = WellRated(source, min_score, min_reviews)
    check_limit(limit)
    region = check_region(conn, region)
    # The gaps are found by id and score alone, which the indexes of migration 0006b hold;
    # titles and years are read for the rows kept, not for every well-rated movie.
    found = well_rated.movies(Movie.id.label("movie_id")).where(
        Movie.status == "released", ~_offered(Movie.id, region)
    )
    gaps = (
        found.order_by(found.selected_columns.score.desc(), Movie.id).limit(limit).subquery("gaps")
    )
    o = MovieStreamingOption.__table__
    elsewhere = (
        select(
            func.count(o.c.region.distinct()).label("regions"),
            func.string_agg(
                o.c.region.distinct(), aggregate_order_by(literal(", "), o.c.region)
            ).label("available_in"),
        )
        .where(o.c.movie_id == gaps.c.movie_id, o.c.region.is_not(None))
        .lateral("elsewhere")
    )
    stmt = (
        select(
            gaps.c.movie_id,
            Movie.title,
            movie_year().label("year"),
            gaps.c.score,
            elsewhere.c.regions.label("available_regions"),
            func.coalesce(elsewhere.c.available_in, "").label("available_in"),
        )
        .select_from(gaps.join(Movie, Movie.id == gaps.c.movie_id).join(elsewhere, true()))
        .order_by(gaps.c.score.desc(), gaps.c.movie_id)
    )
    return frame(conn, stmt, GAPS_COLUMNS)


GAP_SUMMARY_COLUMNS: dict[str, str] = {
    "region": "str",
    "source": "str",
    "min_score": "float64",
    "min_reviews": "int64",
    "well_rated": "int64",
    "missing": "int64",
    "missing_share": "float64",
    "nowhere": "int64",
}


def coverage_gap_summary(
    conn: Connection,
    *,
    region: str,
    source: str = DEFAULT_SOURCE,
    min_score: float = DEFAULT_MIN_SCORE,
    min_reviews: int = DEFAULT_MIN_REVIEWS,
) -> pd.DataFrame:
    """How many well-rated released movies cannot be watched in ``region``: every one that
    :func:`coverage_gaps` would list, however long its list.

    Well rated as in :func:`coverage_gaps` (:class:`~iwm_lab.queries._common.WellRated`); a
    movie is missing when it has no option of any type in ``region``. One row. Columns:

    - ``region``, ``source``, ``min_score``, ``min_reviews``: the question asked.
    - ``well_rated``: well-rated released movies in the whole catalogue.
    - ``missing``: of those, the ones with no option in ``region``.
    - ``missing_share``: ``missing / well_rated`` (NaN when no movie is well rated).
    - ``nowhere``: of the missing ones, those with no option in any region.
    """
    well_rated = WellRated(source, min_score, min_reviews)
    region = check_region(conn, region)
    rated = well_rated.movies(Movie.id).where(Movie.status == "released").subquery("well_rated")
    # One look at each well-rated movie's options, in the index on (movie_id, region): whether
    # one is in the region, and how many have a region at all.
    o = MovieStreamingOption.__table__
    offers = (
        select(
            func.coalesce(func.bool_or(o.c.region == region), false()).label("here"),
            func.count(o.c.region).label("regions"),
        )
        .where(o.c.movie_id == rated.c.id)
        .lateral("offers")
    )
    missing = ~offers.c.here
    counts = (
        select(
            func.count().label("well_rated"),
            func.count().filter(missing).label("missing"),
            func.count().filter(and_(missing, offers.c.regions == 0)).label("nowhere"),
        )
        .select_from(rated.join(offers, true()))
        .subquery("counts")
    )
    stmt = select(
        literal(region, String).label("region"),
        literal(source, String).label("source"),
        literal(float(min_score), Float).label("min_score"),
        literal(min_reviews, BigInteger).label("min_reviews"),
        counts.c.well_rated,
        counts.c.missing,
        (cast(counts.c.missing, Float) / func.nullif(counts.c.well_rated, 0)).label(
            "missing_share"
        ),
        counts.c.nowhere,
    )
    return frame(conn, stmt, GAP_SUMMARY_COLUMNS)


# `%` (similarity above pg_trgm.similarity_threshold, default 0.3) catches typos in a whole
# title; `<%` (word similarity above pg_trgm.word_similarity_threshold, default 0.6) catches a
# query that is part of a longer title ("Dune" in "Dune: Part Two"). The year is read as
# movie_year() reads it: NULL unless four digits.
#
# A common word matches a third of the catalogue ("the": 37,000 titles at scale large), and
# scoring every match costs most of a second. The GiST trigram index returns titles nearest
# first instead (`<->` is 1 - similarity), so each condition takes only its `limit` most similar
# titles, with ties; the best `limit` of those two short lists, in the full order, are the best
# of all matches: a match that neither list kept is less similar than `limit` titles that one of
# them did (ties included, and `<->` never orders two titles against their similarity).
_MATCH_BY_TITLE = text("""
    SELECT m.id, m.title,
           CASE WHEN m.year ~ :year_pattern THEN CAST(m.year AS integer) END AS year,
           similarity(m.title, :title) AS similarity
    FROM movies AS m
    WHERE m.id IN (
        (SELECT s.id FROM movies AS s
         WHERE s.title % :title
         ORDER BY s.title <-> :title
         FETCH FIRST :limit ROWS WITH TIES)
        UNION
        (SELECT w.id FROM movies AS w
         WHERE :title <% w.title
         ORDER BY w.title <-> :title
         FETCH FIRST :limit ROWS WITH TIES)
    )
    ORDER BY similarity DESC, word_similarity(:title, m.title) DESC, m.id
    LIMIT :limit
""")
_MATCH_BY_ID = text("""
    SELECT m.id, m.title,
           CASE WHEN m.year ~ :year_pattern THEN CAST(m.year AS integer) END AS year,
           CAST(NULL AS real) AS similarity
    FROM movies AS m
    WHERE m.id = ANY(CAST(:movie_ids AS integer[]))
    ORDER BY m.id
    LIMIT :limit
""")


def _availability_stmt(matched: TextClause) -> Select[tuple[object, ...]]:
    """Every option of the ``matched`` movies; a movie without any keeps one empty row."""
    mt = matched.columns(
        column("id", Integer),
        column("title", String),
        column("year", Integer),
        column("similarity", Float),
    ).cte("matched")
    o = MovieStreamingOption.__table__
    p = StreamingPlatform.__table__
    return (
        select(
            mt.c.id.label("movie_id"),
            mt.c.title,
            mt.c.year,
            mt.c.similarity,
            o.c.id.label("option_id"),
            o.c.region,
            o.c.platform_id,
            p.c.name.label("platform"),
            o.c.type,
            o.c.quality,
            o.c.price,
            o.c.verified,
            o.c.url,
        )
        .select_from(
            mt.outerjoin(o, o.c.movie_id == mt.c.id).outerjoin(p, p.c.id == o.c.platform_id)
        )
        .order_by(
            mt.c.similarity.desc().nulls_last(),
            mt.c.id,
            o.c.region.nulls_last(),
            p.c.name.nulls_last(),
            o.c.platform_id.nulls_last(),
            o.c.type.nulls_last(),
            o.c.quality.nulls_last(),
            o.c.id,
        )
    )


_AVAILABILITY_BY_TITLE = _availability_stmt(_MATCH_BY_TITLE)
_AVAILABILITY_BY_ID = _availability_stmt(_MATCH_BY_ID)

AVAILABILITY_COLUMNS: dict[str, str] = {
    "movie_id": "int64",
    "title": "str",
    "year": "Int64",
    "similarity": "float64",
    "option_id": "Int64",
    "region": "str",
    "platform_id": "Int64",
    "platform": "str",
    "type": "str",
    "quality": "str",
    "price": "str",
    "verified": "boolean",
    "url": "str",
}


def availability(
    conn: Connection,
    *,
    title: str | None = None,
    movie_ids: Sequence[int] | None = None,
    limit: int = 20,
) -> pd.DataFrame:
    """Where given movies can be watched: every option, by region, platform and type.

    Name the movies by exactly one of:

    - ``title``: a fuzzy title search with pg_trgm (the GiST trigram index on
      ``movies.title``, nearest titles first): titles similar to it (``%``, above
      ``pg_trgm.similarity_threshold``, default 0.3, so a typo such as "Intersteller" finds
      "Interstellar") or containing it as words (``<%``, above
      ``pg_trgm.word_similarity_threshold``, default 0.6). The text is matched as text:
      ``%`` or ``_`` in it are no wildcards. Best matches first.
    - ``movie_ids``: movie ids (unknown ids give no rows).

    ``limit`` caps the number of movies (1..10,000), not of rows. One row per option, sorted
    by similarity (descending), movie id, region, platform name and id, type, quality, option
    id; a matched movie without any option gets one row with the option columns empty.
    Columns:

    - ``movie_id``, ``title``, ``year`` (Int64, NA when not a four-digit year): the movie.
    - ``similarity``: ``similarity(title, query)`` from 0 to 1 (NaN when asked by id).
    - ``option_id`` (NA: no option), ``region``, ``platform_id``, ``platform``: the offer.
    - ``type``: subscription, rent, buy or free; ``quality``: SD, HD or 4K.
    - ``price``: the display price as stored ("$3.99"); ``verified``: availability checked;
      ``url``: the offer's direct link.
    """
    check_limit(limit)
    if (title is None) == (movie_ids is None):
        raise ValueError("pass exactly one of title or movie_ids")
    if title is not None:
        check_text(title, "title", MAX_TITLE_LENGTH)
        params: dict[str, object] = {"title": title, "limit": limit, "year_pattern": YEAR_PATTERN}
        return frame(conn, _AVAILABILITY_BY_TITLE, AVAILABILITY_COLUMNS, params)
    ids = check_list(movie_ids, "movie_ids", MAX_LIMIT)
    for movie_id in ids:
        check_int(movie_id, "each of movie_ids", 1, MAX_MOVIE_ID)
    params = {"movie_ids": ids, "limit": limit, "year_pattern": YEAR_PATTERN}
    return frame(conn, _AVAILABILITY_BY_ID, AVAILABILITY_COLUMNS, params)


# Reads the streaming_price_mix rollup, where migration 0002 parses the display prices with
# the markers of CURRENCY_MARKERS (a test checks that the two agree).
_PRICE_MIX_SQL = text("""
SELECT type, quality, currency, options, priced, price_min, price_median, price_max, price_mean
FROM streaming_price_mix
WHERE region = :region
ORDER BY array_position(CAST(:types AS text[]), CAST(type AS text)) NULLS LAST, type,
         array_position(CAST(:qualities AS text[]), CAST(quality AS text)) NULLS LAST,
         quality, currency NULLS LAST
""")

PRICE_MIX_COLUMNS: dict[str, str] = {
    "type": "str",
    "quality": "str",
    "currency": "str",
    "options": "int64",
    "priced": "int64",
    "price_min": "float64",
    "price_median": "float64",
    "price_max": "float64",
    "price_mean": "float64",
}


def price_quality_mix(conn: Connection, *, region: str) -> pd.DataFrame:
    """What kinds of offer ``region`` has, and what they cost.

    Prices are parsed in SQL from the display strings: a number with a decimal point or comma
    ("$3.99", "3,99 €") or thousands separators ("₹1,49,999", "1.299,00 €"), with at most one
    currency marker before or after it (a symbol or code from :data:`CURRENCY_MARKERS`).
    "free", NULL and anything else are unpriced. Prices in different currencies are never
    mixed: the grain is type x quality x currency.

    One row per (type, quality, currency), sorted by type (subscription, rent, buy, free),
    quality (SD, HD, 4K, none) and currency (none last). Columns:

    - ``type``, ``quality``: the offer (quality NaN when not recorded).
    - ``currency``: ISO code derived from the marker (USD, INR, EUR, ...); NaN for unpriced
      offers and for bare numbers with no marker.
    - ``options``: number of options; sum over currencies for counts by type x quality.
    - ``priced``: of those, how many have a parsed price.
    - ``price_min``, ``price_median``, ``price_max``, ``price_mean``: statistics of the parsed
      prices (NaN when none is priced).
    """
    region = check_region(conn, region)
    params = {
        "region": region,
        "types": list(STREAMING_OPTION_TYPES),
        "qualities": list(STREAMING_QUALITIES),
    }
    return frame(conn, _PRICE_MIX_SQL, PRICE_MIX_COLUMNS, params)


__all__ = [
    "CURRENCY_MARKERS",
    "SOURCES",
    "TYPE_COLUMNS",
    "availability",
    "check_region",
    "coverage_by_region",
    "coverage_gap_summary",
    "coverage_gaps",
    "platform_share",
    "price_quality_mix",
]


def __dir__() -> list[str]:
    # What tab completion offers: the queries, not the names they are built from.
    return list(__all__)
