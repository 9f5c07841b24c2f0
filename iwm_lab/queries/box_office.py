"""Box office: weekend charts, runs and their legs, budget multiples, the regional split.

Every function reads ``box_office_grosses`` (one row per movie, region and weekend of its run:
the weekend's rank, gross and theaters, the whole week's gross once the week is over) or, for
budget multiples, ``movies.budget`` and ``movies.revenue``, and returns a pandas DataFrame
aggregated in SQL with bound parameters. The regional split over every weekend and the
box-office gross of the budget multiples read each run's sums from the rollup
``box_office_runs`` (:mod:`iwm_lab.rollups`), and those of the movies changed since its last
refresh from the table: their results are current, whenever the rollup was refreshed.

Money is never added up across currencies: a region's grosses are in the currency each row
names (``currency``), so every total is per region and currency, and a movie's total gross is
its run in one region. A week still running (``week_gross`` NULL) adds its weekend, the part
of it known, and the run is flagged ``running``.

Regions are validated against the regions that have at least one gross
(:func:`box_office_regions`), in any case (``us`` is ``US``). Ranges, checked before any
query (a ``ValueError`` naming the range otherwise): ``top_n`` 1 to 100, ``weekends`` 1 to
520, ``limit`` 1 to 10,000, ``min_movies`` 1 to 1,000,000, years 1870 to 2100, dates in those
years, a genre slug at most 50 characters.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from iwm_lab.queries._common import (
    check_choice,
    check_date_range,
    check_day,
    check_genre,
    check_genre_text,
    check_int,
    check_limit,
    check_year_range,
    frame,
    region_code,
)

__all__ = [
    "box_office_regions",
    "budget_multiple",
    "regional_split",
    "run_legs",
    "weekend_races",
]

MAX_TOP_N = 100  # a weekend chart deeper than a hundred movies is not a race
MAX_WEEKENDS = 520  # ten years of weekends
MAX_MIN_MOVIES = 1_000_000
LEGS_ORDER: tuple[str, ...] = ("total_gross", "legs", "weeks")
MULTIPLE_GROUPS: tuple[str, ...] = ("genre", "decade", "year", "none")
GROSS_SOURCES: tuple[str, ...] = ("revenue", "box_office")
# The interval of a median: the order statistics whose ranks lie z·√n/2 either side of n/2,
# z for 95 % (distribution-free, exact enough from a dozen movies up).
_HALF_Z = 1.959964 / 2

Day = date | datetime | str

# A loose index scan of idx_box_office_grosses_chart: one probe per region.
_REGIONS_SQL = text("""
WITH RECURSIVE found AS (
    (SELECT region FROM box_office_grosses ORDER BY region LIMIT 1)
    UNION ALL
    SELECT (SELECT g.region FROM box_office_grosses AS g
            WHERE g.region > found.region ORDER BY g.region LIMIT 1)
    FROM found
    WHERE found.region IS NOT NULL
)
SELECT region FROM found WHERE region IS NOT NULL
""")


def box_office_regions(conn: Connection) -> pd.DataFrame:
    """The regions with at least one gross: one row per region, alphabetical.

    - ``region`` (str): the region code (``US``, ``IN``...).
    """
    return frame(conn, _REGIONS_SQL, {"region": "str"})


def _check_region(conn: Connection, code: str) -> str:
    known = set(box_office_regions(conn)["region"])
    if code not in known:
        if not known:
            raise ValueError(f"unknown region {code!r}: no box office gross is recorded")
        check_choice(code, known, "region")
    return code


_RACES_SQL = text("""
WITH weekends AS (
    SELECT DISTINCT g.weekend_start
    FROM box_office_grosses AS g
    WHERE g.region = :region
      AND (CAST(:last AS date) IS NULL OR g.weekend_start <= CAST(:last AS date))
    ORDER BY g.weekend_start DESC
    LIMIT :weekends
)
SELECT g.region, g.weekend_start, g.rank, g.movie_id, m.title, g.week_of_run,
       g.weekend_gross, g.theaters, g.currency
FROM weekends AS w
JOIN box_office_grosses AS g
  ON g.region = :region AND g.weekend_start = w.weekend_start AND g.rank <= :top_n
JOIN movies AS m ON m.id = g.movie_id
ORDER BY g.weekend_start, g.rank, g.movie_id
""")

RACE_COLUMNS: dict[str, str] = {
    "region": "str",
    "weekend_start": "datetime64[us]",
    "rank": "int64",
    "movie_id": "int64",
    "title": "str",
    "week_of_run": "int64",
    "weekend_gross": "int64",
    "theaters": "Int64",
    "currency": "str",
}


def weekend_races(
    conn: Connection,
    *,
    region: str = "US",
    until: Day | None = None,
    weekends: int = 8,
    top_n: int = 10,
) -> pd.DataFrame:
    """The weekend charts of ``region``: the ``top_n`` ranks of each of its last ``weekends``
    weekends that start on or before ``until`` (default: the latest recorded).

    Unranked rows (``rank`` NULL) are not in a chart. One row per weekend and rank, by
    ``weekend_start`` then ``rank`` (ties by ``movie_id``):

    - ``region`` (str), ``weekend_start`` (datetime64[us]): the weekend's first day.
    - ``rank`` (int64): 1 is the top.
    - ``movie_id`` (int64), ``title`` (str).
    - ``week_of_run`` (int64): 1 is the opening weekend.
    - ``weekend_gross`` (int64): in whole units of ``currency``.
    - ``theaters`` (Int64): NA when not recorded.
    - ``currency`` (str): ISO 4217 code.
    """
    code = region_code(region)
    last = None if until is None else check_day(until, "until")
    check_int(weekends, "weekends", 1, MAX_WEEKENDS)
    check_int(top_n, "top_n", 1, MAX_TOP_N)
    _check_region(conn, code)
    params = {"region": code, "last": last, "weekends": weekends, "top_n": top_n}
    return frame(conn, _RACES_SQL, RACE_COLUMNS, params)


# One row per movie's run in the region (and currency): the opening is the week-1 weekend,
# and only it; a run whose first recorded week is later has no opening (legs unknown).
_LEGS_SQL = text("""
WITH runs AS (
    SELECT g.movie_id, g.currency,
           min(g.weekend_start) AS opened,
           count(*) AS weeks,
           max(g.week_of_run) AS last_week,
           sum(coalesce(g.week_gross, g.weekend_gross)) AS total_gross,
           sum(g.weekend_gross) FILTER (WHERE g.week_of_run = 1) AS opening_weekend,
           bool_or(g.week_gross IS NULL) AS running
    FROM box_office_grosses AS g
    WHERE g.region = :region
      AND (CAST(:year_from AS integer) IS NULL OR g.weekend_start >= make_date(:year_from, 1, 1))
      AND (CAST(:year_to AS integer) IS NULL OR g.weekend_start < make_date(:year_to + 1, 1, 1))
      AND (CAST(:until AS date) IS NULL OR g.weekend_start <= CAST(:until AS date))
    GROUP BY g.movie_id, g.currency
),
-- The first runs before the titles: movies' rows are wide, and only theirs are needed.
first AS (
    SELECT r.*, r.total_gross::float8 / nullif(r.opening_weekend, 0) AS legs
    FROM runs AS r
    ORDER BY CASE CAST(:order AS text)
                 WHEN 'legs' THEN coalesce(r.total_gross::float8 / nullif(r.opening_weekend, 0), -1)
                 WHEN 'weeks' THEN r.weeks
                 ELSE r.total_gross END DESC,
             r.total_gross DESC, r.movie_id
    LIMIT :limit
)
SELECT CAST(:region AS text) AS region, f.movie_id, m.title,
       CASE WHEN m.year ~ '^[0-9]{4}$' THEN CAST(m.year AS integer) END AS year,
       f.currency, f.opened, f.weeks, f.last_week, f.opening_weekend, f.total_gross, f.legs,
       f.running
FROM first AS f
JOIN movies AS m ON m.id = f.movie_id
ORDER BY CASE CAST(:order AS text)
             WHEN 'legs' THEN coalesce(f.legs, -1)
             WHEN 'weeks' THEN f.weeks
             ELSE f.total_gross END DESC,
         f.total_gross DESC, f.movie_id
""")

LEGS_COLUMNS: dict[str, str] = {
    "region": "str",
    "movie_id": "int64",
    "title": "str",
    "year": "Int64",
    "currency": "str",
    "opened": "datetime64[us]",
    "weeks": "int64",
    "last_week": "int64",
    "opening_weekend": "Int64",
    "total_gross": "int64",
    "legs": "float64",
    "running": "bool",
}


def run_legs(
    conn: Connection,
    *,
    region: str = "US",
    year_from: int | None = None,
    year_to: int | None = None,
    until: Day | None = None,
    order: str = "total_gross",
    limit: int = 20,
) -> pd.DataFrame:
    """Movies' runs in ``region``: how long they played, what they grossed, and their legs.

    A run is a movie's rows in the region (per currency), those whose weekend falls in the
    years ``year_from`` to ``year_to`` and starts on or before ``until`` (a day), when given:
    a report as of a past day leaves out the weeks after it. Its total is the sum of the
    weeks' grosses (a week still running adds its weekend); its legs are that total over the opening
    weekend, the week-1 weekend gross. A run whose opening weekend is not recorded has no
    legs (NaN), rather than the legs of its first recorded weekend: that weekend is a later,
    smaller one, and would make the legs look longer than they were.

    At most ``limit`` rows, by ``order`` descending (one of :data:`LEGS_ORDER`; runs without
    legs last when ordered by legs), then ``total_gross`` descending, then ``movie_id``:

    - ``region`` (str), ``movie_id`` (int64), ``title`` (str), ``year`` (Int64).
    - ``currency`` (str).
    - ``opened`` (datetime64[us]): the first recorded weekend.
    - ``weeks`` (int64): weeks recorded; ``last_week`` (int64): the highest week of run.
    - ``opening_weekend`` (Int64): the week-1 weekend gross, NA when not recorded.
    - ``total_gross`` (int64): the run's gross so far.
    - ``legs`` (float64): ``total_gross / opening_weekend``, NaN without an opening (or 0).
    - ``running`` (bool): a week of the run is not over, so its total is still growing.
    """
    code = region_code(region)
    check_year_range(year_from, year_to)
    last = None if until is None else check_day(until, "until")
    check_choice(order, LEGS_ORDER, "order")
    check_limit(limit)
    _check_region(conn, code)
    params = {
        "region": code,
        "year_from": year_from,
        "year_to": year_to,
        "until": last,
        "order": order,
        "limit": limit,
    }
    return frame(conn, _LEGS_SQL, LEGS_COLUMNS, params)


# The runs (a movie's rows in one region and currency) are summed in the rollup
# box_office_runs, as of its last refresh; read live through the change log. The movies logged
# since the refresh are summed from the table instead, and the whole table is when the log holds
# a rebuild (a TRUNCATE since). Every condition on the log is evaluated once per query (a
# one-time filter), so only the rollup, or only the table, is read in full.
_REBUILD = (
    "EXISTS (SELECT FROM rollup_changes AS c WHERE c.rollup = 'box_office_runs' AND c.rebuild)"
)
# Rows of the rollup (r) whose movie is not logged, and rows of the table (g) whose movie is.
_NOT_LOGGED = (
    "NOT EXISTS (SELECT FROM rollup_changes AS c WHERE c.rollup = 'box_office_runs' "
    "AND c.rebuild) AND NOT EXISTS (SELECT FROM rollup_changes AS c "
    "WHERE c.rollup = 'box_office_runs' AND c.movie_id = r.movie_id)"
)
_ONLY_LOGGED = (
    "NOT EXISTS (SELECT FROM rollup_changes AS c WHERE c.rollup = 'box_office_runs' "
    "AND c.rebuild) AND g.movie_id = ANY (ARRAY(SELECT c.movie_id FROM rollup_changes AS c "
    "WHERE c.rollup = 'box_office_runs'))"
)
# A table branch per kind of logged change: a condition that chose between them would make
# the logged movies' branch read the whole table too.
_USD_FINISHED = """
              SELECT g.movie_id, sum(g.week_gross)
              FROM box_office_grosses AS g
              WHERE g.currency = 'USD' AND {only}
              GROUP BY g.movie_id
              HAVING bool_and(g.week_gross IS NOT NULL) AND sum(g.week_gross) > 0"""

# Only finished weeks: a run still going has no total yet. A movie is in one branch only: its
# USD runs from the rollup (read in movie order from its index, summed as they pass), or its
# rows from the table when logged.
_BOX_OFFICE_GROSS = """
        SELECT m.id AS movie_id, m.budget, g.gross
        FROM (SELECT o.movie_id, sum(o.finished_gross) AS gross
              FROM (SELECT r.movie_id, r.finished_gross, r.running
                    FROM box_office_runs AS r
                    WHERE r.currency = 'USD' AND {not_logged}
                    ORDER BY r.movie_id) AS o
              GROUP BY o.movie_id
              HAVING NOT bool_or(o.running) AND sum(o.finished_gross) > 0
              UNION ALL {logged}
              UNION ALL {rebuilt}) AS g
        JOIN movies AS m ON m.id = g.movie_id
        WHERE m.budget > 0"""

# Movies with both a budget and a gross above zero (like for like: the same movies on both
# sides of the ratio), one row per group they fall in; then per group the median and the order
# statistics of its interval. The gross and the grouping are fixed fragments chosen by name.
_GROSSES = {
    # From idx_movies_budgeted alone (the budget and the gross of each budgeted movie).
    "revenue": (
        "SELECT id AS movie_id, budget, revenue AS gross FROM movies "
        "WHERE budget > 0 AND revenue > 0"
    ),
    "box_office": _BOX_OFFICE_GROSS.format(
        not_logged=_NOT_LOGGED,
        logged=_USD_FINISHED.format(only=_ONLY_LOGGED),
        rebuilt=_USD_FINISHED.format(only=_REBUILD),
    ),
}
_KEYS = {
    "genre": ("NULL::int", "gid", "CROSS JOIN unnest(b.genre_ids) AS gid", "true"),
    "decade": ("b.year / 10 * 10", "NULL::int", "", "b.year IS NOT NULL"),
    "year": ("b.year", "NULL::int", "", "b.year IS NOT NULL"),
    "none": ("NULL::int", "NULL::int", "", "true"),
}
_MULTIPLE_TEMPLATE = """
WITH grossed AS ({gross}),
both_known AS (
    SELECT gr.movie_id, ms.year, ms.genre_ids, gr.budget, gr.gross
    FROM grossed AS gr
    JOIN movie_scores AS ms ON ms.movie_id = gr.movie_id
    WHERE (CAST(:year_from AS integer) IS NULL OR ms.year >= :year_from)
      AND (CAST(:year_to AS integer) IS NULL OR ms.year <= :year_to)
      AND (CAST(:genre_id AS integer) IS NULL OR CAST(:genre_id AS integer) = ANY(ms.genre_ids))
),
keyed AS (
    SELECT {period} AS period, {genre} AS genre_id, b.budget, b.gross,
           b.gross::float8 / b.budget AS multiple
    FROM both_known AS b {unnest}
    WHERE {where}
),
groups AS (
    -- Each group's multiples gathered into an array, sorted below: the median and the
    -- interval's order statistics are picked from it, no window over every row.
    SELECT k.period, k.genre_id, count(*) AS movies,
           array_agg(k.multiple) AS multiples,
           sum(k.gross)::float8 / sum(k.budget) AS pooled_multiple,
           avg((k.gross >= k.budget)::int) AS share_grossing_budget
    FROM keyed AS k
    WHERE (CAST(:genre_id AS integer) IS NULL OR k.genre_id IS NULL
           OR k.genre_id = CAST(:genre_id AS integer))
    GROUP BY k.period, k.genre_id
    HAVING count(*) >= :min_movies
),
ranked AS (
    -- The middle one (or two) for the median; ranks outside 1..n give NULL, no interval.
    -- Integer and float arithmetic: numeric would cost more than the rest of the query.
    SELECT g.*,
           (g.sorted[(g.movies + 1) / 2] + g.sorted[(g.movies + 2) / 2]) / 2 AS median_multiple,
           g.sorted[CAST(floor(g.half - :half_z * sqrt(g.half * 2)) AS bigint)] AS ci_low,
           g.sorted[CAST(ceil(g.half + 1 + :half_z * sqrt(g.half * 2)) AS bigint)] AS ci_high
    FROM (SELECT h.*, CAST(h.movies AS float8) / 2 AS half, o.sorted
          FROM groups AS h
          -- One group's array at a time, sorted in memory: ordered input to the aggregate
          -- would sort every row of every group at once, on disk past work_mem.
          CROSS JOIN LATERAL (SELECT array_agg(x ORDER BY x) AS sorted
                              FROM unnest(h.multiples) AS x) AS o) AS g
)
SELECT {label} AS "group", g.movies, g.median_multiple, g.ci_low, g.ci_high,
       g.pooled_multiple, g.share_grossing_budget
FROM ranked AS g
LEFT JOIN genres AS ge ON ge.id = g.genre_id
ORDER BY {order}
"""
_LABELS = {
    "genre": ("ge.name", 'g.median_multiple DESC, ge.name COLLATE "C", g.genre_id'),
    "decade": ("g.period::text || 's'", "g.period"),
    "year": ("g.period::text", "g.period"),
    "none": ("'all'", "1"),
}
_MULTIPLE_SQL = {
    (by, gross): text(
        _MULTIPLE_TEMPLATE.format(
            gross=_GROSSES[gross],
            period=_KEYS[by][0],
            genre=_KEYS[by][1],
            unnest=_KEYS[by][2],
            where=_KEYS[by][3],
            label=_LABELS[by][0],
            order=_LABELS[by][1],
        )
    )
    for by in _KEYS
    for gross in _GROSSES
}

MULTIPLE_COLUMNS: dict[str, str] = {
    "group": "str",
    "movies": "int64",
    "median_multiple": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "pooled_multiple": "float64",
    "share_grossing_budget": "float64",
}


def budget_multiple(
    conn: Connection,
    *,
    by: str = "genre",
    gross: str = "revenue",
    genre: str | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    min_movies: int = 1,
) -> pd.DataFrame:
    """How many times their budget movies grossed: the median multiple per group, with its
    interval.

    Like for like: only the movies with both a budget and a gross above zero count, so a
    group's budgets and grosses are those of the same movies (a movie with a gross but no
    budget would otherwise raise the grosses and not the budgets). ``gross`` is
    ``revenue`` (``movies.revenue``, USD like ``movies.budget``) or ``box_office`` (the sum
    of the movie's finished weeks in USD in ``box_office_grosses``; a movie with a week still
    running, or grossing in no USD region, has none; grosses in other currencies are not
    converted, so this is the USD markets' gross).

    ``by`` groups the movies (one of :data:`MULTIPLE_GROUPS`): ``genre`` (a movie of several
    genres counts in each, one without a genre in none; with ``genre`` given only its row),
    ``decade`` or ``year`` of release (movies without a valid year left out), ``none`` (one
    group, "all"). The median is robust to the few movies that gross a hundred times their
    budget, which a mean would follow. The interval is the distribution-free 95 % interval
    of the median, from order statistics: NaN when a group is too small for one (fewer than
    about six movies). Groups of fewer than ``min_movies`` movies are left out.

    Rows by median descending (genres), chronologically (decades, years):

    - ``group`` (str): the genre's name, the decade ("1990s"), the year, or "all".
    - ``movies`` (int64): movies with both a budget and a gross.
    - ``median_multiple``, ``ci_low``, ``ci_high`` (float64): gross / budget.
    - ``pooled_multiple`` (float64): the group's grosses over its budgets, summed: the
      multiple of its money, which its biggest movies decide.
    - ``share_grossing_budget`` (float64): the share of movies whose gross reached their
      budget (0-1); not a share of profitable movies, which costs beyond the budget decide.
    """
    check_choice(by, MULTIPLE_GROUPS, "by")
    check_choice(gross, GROSS_SOURCES, "gross")
    check_genre_text(genre)
    check_year_range(year_from, year_to)
    check_int(min_movies, "min_movies", 1, MAX_MIN_MOVIES)
    genre_id = _genre_id(conn, genre)
    params = {
        "genre_id": genre_id,
        "year_from": year_from,
        "year_to": year_to,
        "min_movies": min_movies,
        "half_z": _HALF_Z,
    }
    return frame(conn, _MULTIPLE_SQL[by, gross], MULTIPLE_COLUMNS, params)


def _genre_id(conn: Connection, genre: str | None) -> int | None:
    if check_genre(conn, genre) is None:
        return None
    found: Any = conn.execute(
        text("SELECT id FROM genres WHERE slug = :slug"), {"slug": genre}
    ).scalar_one()
    return int(found)


# A range of weekends sums the table's rows in it. The ordered subquery lets the planner read
# idx_box_office_grosses_runs in group order and aggregate the runs as they stream past; for a
# few weeks it still filters and sorts only those.
_TABLE_RUNS = """
    SELECT s.region, s.currency, s.movie_id,
           sum(coalesce(s.week_gross, s.weekend_gross))::bigint AS gross,
           count(*) AS weeks
    FROM (SELECT g.region, g.currency, g.movie_id, g.week_gross, g.weekend_gross
          FROM box_office_grosses AS g
          WHERE {only}
          ORDER BY g.region, g.currency, g.movie_id) AS s
    GROUP BY s.region, s.currency, s.movie_id"""
_IN_RANGE = (
    "(CAST(:start AS date) IS NULL OR g.weekend_start >= CAST(:start AS date)) "
    "AND (CAST(:end AS date) IS NULL OR g.weekend_start <= CAST(:end AS date))"
)
# Every weekend: the rollup's runs, live (a movie in one branch only).
_ALL_RUNS_TEMPLATE = """
    SELECT r.region, r.currency, r.movie_id, r.gross, r.weeks
    FROM box_office_runs AS r
    WHERE {not_logged}
    UNION ALL {logged}
    UNION ALL {rebuilt}"""
_ALL_RUNS = _ALL_RUNS_TEMPLATE.format(
    not_logged=_NOT_LOGGED,
    logged=_TABLE_RUNS.format(only=_ONLY_LOGGED),
    rebuilt=_TABLE_RUNS.format(only=_REBUILD),
)
_SPLIT_TEMPLATE = """
WITH runs AS ({runs})
SELECT r.region, r.currency, count(*) AS movies, sum(r.gross) AS total_gross,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.gross) AS median_gross,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.weeks) AS median_weeks,
       sum(r.gross)::float8
           / sum(sum(r.gross)) OVER (PARTITION BY r.currency) AS currency_share
FROM runs AS r
GROUP BY r.region, r.currency
ORDER BY r.currency, sum(r.gross) DESC, r.region
"""
_SPLIT_SQL = {
    "range": text(_SPLIT_TEMPLATE.format(runs=_TABLE_RUNS.format(only=_IN_RANGE))),
    "all": text(_SPLIT_TEMPLATE.format(runs=_ALL_RUNS)),
}

SPLIT_COLUMNS: dict[str, str] = {
    "region": "str",
    "currency": "str",
    "movies": "int64",
    "total_gross": "int64",
    "median_gross": "float64",
    "median_weeks": "float64",
    "currency_share": "float64",
}


def regional_split(
    conn: Connection, *, start: Day | None = None, end: Day | None = None
) -> pd.DataFrame:
    """Where the box office was made: per region (and currency), the movies that played and
    what they grossed, for the weekends from ``start`` to ``end`` (inclusive; default all).

    A movie's gross in a region is the sum of its weeks there in the range (a week still
    running adds its weekend). Totals in different currencies are not comparable: the share
    is of the total of the regions reporting in the same currency. One row per region and
    currency, by currency, then total descending, then region:

    - ``region`` (str), ``currency`` (str).
    - ``movies`` (int64): movies with a gross in the region.
    - ``total_gross`` (int64): their grosses, summed.
    - ``median_gross`` (float64): a movie's gross, median.
    - ``median_weeks`` (float64): weeks a movie played there, median.
    - ``currency_share`` (float64): the region's share of its currency's total, 0-1.
    """
    first = None if start is None else check_day(start, "start")
    last = None if end is None else check_day(end, "end")
    check_date_range(first, last, ("start", "end"))
    if first is None and last is None:
        return frame(conn, _SPLIT_SQL["all"], SPLIT_COLUMNS, {})
    return frame(conn, _SPLIT_SQL["range"], SPLIT_COLUMNS, {"start": first, "end": last})


def __dir__() -> list[str]:
    # What tab completion offers: the queries, not the names they are built from.
    return list(__all__)
