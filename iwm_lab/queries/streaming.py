"""Streaming coverage: where movies can be watched, on which platforms, at what price.

Every function reads ``movie_streaming_options`` (one row per offer: movie x platform x region
x type, with a quality and a display price) and returns a pandas DataFrame aggregated in SQL.
Options without a ``movie_id`` (or, where platforms matter, a ``platform_id``) say nothing
about a movie's availability and are left out of the counts. :func:`coverage_by_region`,
:func:`platform_share` and :func:`price_quality_mix` read the options through the rollups of
migration 0002
(:mod:`iwm_lab.rollups`), as of their last refresh (the seeder, ``iwm-lab import`` and
``iwm-lab db refresh`` refresh them); the others read the table itself.

"Top rated" and "well rated" mean ``movies.siddu_score`` (iwm's own 0-10 score, indexed) among
released movies, ties by movie id. The review-based weighted rating of the ratings module would
cost a pass over every review on each call and rank unreviewed films nowhere.

Regions are validated against the regions that have at least one option
(:func:`iwm_lab.queries._common.regions`), in any case (``de`` is ``DE``: see
:func:`check_region`); types against :data:`iwm_lab.models.values.STREAMING_OPTION_TYPES`.
Ranges, checked before any query (a ``ValueError`` naming the range otherwise): ``limit`` and
``top_n`` 1 to 10,000; ``min_score`` 0 to 10; at most 300 regions (each at most 10
characters), 16 types, 10,000 ``movie_ids`` (each 1 to 2,147,483,647); a title at most 200
characters.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, Float, Integer, Select, String, TextClause, column, select, text

from iwm_lab.models import MovieStreamingOption, StreamingPlatform
from iwm_lab.models.values import SCORE_RANGE, STREAMING_OPTION_TYPES, STREAMING_QUALITIES
from iwm_lab.queries import _common
from iwm_lab.queries._common import (
    MAX_LIMIT,
    check_choice,
    check_int,
    check_limit,
    check_list,
    check_number,
    check_text,
    frame,
    shown,
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
MAX_REGION_LENGTH = 10  # a code with room for surrounding spaces
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
    """Region codes as the database spells them, before the database is asked: stored codes
    are two upper-case letters (a CHECK constraint), so "de" can only mean DE."""
    for value in values:
        if not isinstance(value, str) or len(value) > MAX_REGION_LENGTH:
            raise ValueError(
                f"region must be a region code (text of at most {MAX_REGION_LENGTH} characters), "
                f"got {shown(value)}"
            )
    # Anything else unknown is refused by the lookup, which lists the valid codes.
    return [value.strip().upper() for value in values]


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


def _check_score(value: float, name: str) -> float:
    low, high = SCORE_RANGE
    return float(check_number(value, name, low, high))


# Counts from streaming_region_type_counts (a few rows per region: one per combination of
# offer types); the top-rated movies, at most 10,000, are looked up in streaming_region_movies.
_COVERAGE_SQL = text("""
WITH top_rated AS (
    SELECT id FROM movies
    WHERE status = 'released' AND siddu_score IS NOT NULL
    ORDER BY siddu_score DESC, id
    LIMIT :top_n
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
       c.top_n, coalesce(t.top_n_available, 0) AS top_n_available,
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
) -> pd.DataFrame:
    """How much of the catalogue can be watched in each region.

    ``regions``: a region code or a list of them (default: every region with an option).
    ``types``: offer types to count (default: all of ``subscription``, ``rent``, ``buy``,
    ``free``); options of other types are ignored everywhere in the result.

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
    - ``top_n``: size of the top-rated set: the ``top_n`` released movies with the highest
      ``siddu_score`` (ties by id; fewer when fewer are scored).
    - ``top_n_available``: of those, how many are available there.
    - ``top_n_share``: ``top_n_available / top_n`` (NaN when no movie is scored).
    """
    check_limit(top_n, "top_n")
    wanted_types = _as_list(STREAMING_OPTION_TYPES if types is None else types, "types", MAX_TYPES)
    for value in wanted_types:
        check_choice(value, STREAMING_OPTION_TYPES, "type")
    if regions is None:
        wanted_regions = _common.regions(conn)
    else:
        # Deduplicated again once normalised: "de" and "DE" are one region.
        asked = _check_region_texts(_as_list(regions, "regions", MAX_REGIONS))
        wanted_regions = _check_regions(conn, list(dict.fromkeys(asked)))
    params: dict[str, object] = {"regions": wanted_regions, "top_n": top_n}
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
    "platform_id": "int64",
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

    - ``platform_id``, ``platform``: the platform's id and name.
    - ``movies``: distinct movies it offers there (any type).
    - ``share``: ``movies`` / distinct movies offered there by any platform. A movie on two
      platforms counts for both, so shares add up to more than 1.
    - ``exclusives``: of its movies, those no other platform offers in that region.
    - ``exclusive_share``: ``exclusives / movies``.
    """
    region = check_region(conn, region)
    return frame(conn, _PLATFORM_SHARE_SQL, PLATFORM_SHARE_COLUMNS, {"region": region})


_GAPS_SQL = text("""
WITH gaps AS (
    SELECT m.id, m.title, m.year, m.siddu_score
    FROM movies AS m
    WHERE m.status = 'released'
      AND m.siddu_score >= :min_score
      AND NOT EXISTS (
          SELECT 1 FROM movie_streaming_options AS o
          WHERE o.movie_id = m.id AND o.region = :region
      )
    ORDER BY m.siddu_score DESC, m.id
    LIMIT :limit
)
SELECT g.id AS movie_id, g.title, g.year, g.siddu_score,
       coalesce(a.regions, 0) AS available_regions,
       coalesce(a.available_in, '') AS available_in
FROM gaps AS g
LEFT JOIN LATERAL (
    SELECT count(DISTINCT o.region) AS regions,
           string_agg(DISTINCT o.region, ', ' ORDER BY o.region) AS available_in
    FROM movie_streaming_options AS o
    WHERE o.movie_id = g.id AND o.region IS NOT NULL
) AS a ON true
ORDER BY g.siddu_score DESC, g.id
""")

GAPS_COLUMNS: dict[str, str] = {
    "movie_id": "int64",
    "title": "str",
    "year": "str",
    "siddu_score": "float64",
    "available_regions": "int64",
    "available_in": "str",
}


def coverage_gaps(
    conn: Connection, *, region: str, min_score: float = 8.0, limit: int = 50
) -> pd.DataFrame:
    """Well-rated released movies that cannot be watched in ``region`` at all.

    A movie qualifies when ``status = 'released'``, ``siddu_score >= min_score`` and it has no
    option of any type in ``region``. At most ``limit`` rows, best score first, ties by movie
    id. Columns:

    - ``movie_id``, ``title``, ``year``, ``siddu_score``: the movie.
    - ``available_regions``: how many other regions offer it (0: nowhere).
    - ``available_in``: those regions, sorted and joined by ``", "`` (``""`` when none).
    """
    _check_score(min_score, "min_score")
    check_limit(limit)
    region = check_region(conn, region)
    params = {"region": region, "min_score": float(min_score), "limit": limit}
    return frame(conn, _GAPS_SQL, GAPS_COLUMNS, params)


# The same movies as _GAPS_SQL, all of them: the gap list stops at its limit.
_GAP_SUMMARY_SQL = text("""
WITH well_rated AS (
    SELECT m.id
    FROM movies AS m
    WHERE m.status = 'released' AND m.siddu_score >= :min_score
),
missing AS (
    SELECT w.id
    FROM well_rated AS w
    WHERE NOT EXISTS (
        SELECT 1 FROM movie_streaming_options AS o
        WHERE o.movie_id = w.id AND o.region = :region
    )
)
SELECT CAST(:region AS text) AS region,
       CAST(:min_score AS float8) AS min_score,
       (SELECT count(*) FROM well_rated) AS well_rated,
       (SELECT count(*) FROM missing) AS missing,
       (SELECT count(*) FROM missing)::float8
           / nullif((SELECT count(*) FROM well_rated), 0) AS missing_share,
       (SELECT count(*) FROM missing AS x
        WHERE NOT EXISTS (
            SELECT 1 FROM movie_streaming_options AS o
            WHERE o.movie_id = x.id AND o.region IS NOT NULL
        )) AS nowhere
""")

GAP_SUMMARY_COLUMNS: dict[str, str] = {
    "region": "str",
    "min_score": "float64",
    "well_rated": "int64",
    "missing": "int64",
    "missing_share": "float64",
    "nowhere": "int64",
}


def coverage_gap_summary(conn: Connection, *, region: str, min_score: float = 8.0) -> pd.DataFrame:
    """How many well-rated released movies cannot be watched in ``region``: every one that
    :func:`coverage_gaps` would list, however long its list.

    A movie is well rated when ``status = 'released'`` and ``siddu_score >= min_score``; it is
    missing when it has no option of any type in ``region``. One row. Columns:

    - ``region``, ``min_score``: the question asked.
    - ``well_rated``: well-rated movies in the whole catalogue.
    - ``missing``: of those, the ones with no option in ``region``.
    - ``missing_share``: ``missing / well_rated`` (NaN when no movie is well rated).
    - ``nowhere``: of the missing ones, those with no option in any region.
    """
    _check_score(min_score, "min_score")
    region = check_region(conn, region)
    params = {"region": region, "min_score": float(min_score)}
    return frame(conn, _GAP_SUMMARY_SQL, GAP_SUMMARY_COLUMNS, params)


# `%` (similarity above pg_trgm.similarity_threshold, default 0.3) catches typos in a whole
# title; `<%` (word similarity above pg_trgm.word_similarity_threshold, default 0.6) catches a
# query that is part of a longer title ("Dune" in "Dune: Part Two"). Both use the GIN trigram
# index on movies.title.
_MATCH_BY_TITLE = text("""
    SELECT m.id, m.title, m.year, similarity(m.title, :title) AS similarity
    FROM movies AS m
    WHERE m.title % :title OR :title <% m.title
    ORDER BY similarity DESC, word_similarity(:title, m.title) DESC, m.id
    LIMIT :limit
""")
_MATCH_BY_ID = text("""
    SELECT m.id, m.title, m.year, CAST(NULL AS real) AS similarity
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
        column("year", String),
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
    "year": "str",
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

    - ``title``: a fuzzy title search with pg_trgm (GIN index on ``movies.title``): titles
      similar to it (``%``, above ``pg_trgm.similarity_threshold``, default 0.3, so a typo
      such as "Intersteller" finds "Interstellar") or containing it as words (``<%``, above
      ``pg_trgm.word_similarity_threshold``, default 0.6). The text is matched as text:
      ``%`` or ``_`` in it are no wildcards. Best matches first.
    - ``movie_ids``: movie ids (unknown ids give no rows).

    ``limit`` caps the number of movies (1..10,000), not of rows. One row per option, sorted
    by similarity (descending), movie id, region, platform name and id, type, quality, option
    id; a matched movie without any option gets one row with the option columns empty.
    Columns:

    - ``movie_id``, ``title``, ``year``: the movie.
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
        params: dict[str, object] = {"title": title, "limit": limit}
        return frame(conn, _AVAILABILITY_BY_TITLE, AVAILABILITY_COLUMNS, params)
    ids = check_list(movie_ids, "movie_ids", MAX_LIMIT)
    for movie_id in ids:
        check_int(movie_id, "each of movie_ids", 1, MAX_MOVIE_ID)
    params = {"movie_ids": ids, "limit": limit}
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
