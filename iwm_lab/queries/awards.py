"""Awards and festivals: how nominated and winning movies are rated, who wins most, and where
festival selections lead.

Every function reads ``award_nominations`` (with their ceremonies, categories and bodies) and,
for the paths, ``festival_selections`` with their editions; scores come from the
``movie_scores`` rollup (:mod:`iwm_lab.rollups`, as of its last refresh), on the common 0-10
scale of :data:`~iwm_lab.queries._common.SOURCES`.

A movie is *nominated* when a nomination names it (``movie_id``), in any category: a person's
nomination that names the movie counts for the movie too. It *won* when one of those
nominations won. Award years are the ceremonies' ``year``; body types are
:data:`iwm_lab.models.awards.AWARD_BODY_TYPES`.

Ranges, checked before any query (a ``ValueError`` naming the range otherwise): years 1870 to
2100, ``limit`` 1 to 10,000, ``min_reviews`` 1 to 1,000,000, ``window_years`` 0 to 20.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Row, text

from iwm_lab.models.awards import AWARD_BODY_TYPES
from iwm_lab.queries._common import (
    SOURCES,
    check_choice,
    check_int,
    check_limit,
    check_min_reviews,
    check_year_range,
    frame,
    shown,
    typed,
)
from iwm_lab.queries._intervals import Z95, wilson

__all__ = ["awards_vs_ratings", "festival_paths", "most_awarded_people"]

MAX_WINDOW_YEARS = 20
# The score of each source on the common 0-10 scale, from movie_scores; users' is the mean
# rating of the movie's reviews, for movies with at least :min_reviews of them.
_SCORES = {
    "siddu": "ms.siddu",
    "critics": "ms.critics",
    "imdb": "ms.imdb",
    "rotten_tomatoes": "ms.rotten_tomatoes / 10.0",
    "users": "CASE WHEN ms.reviews >= :min_reviews THEN ms.rating_sum / ms.reviews END",
}

# The comparisons in one statement over movie_scores. "cells" holds one row per stratum
# (release year x first genre) and kind of movie (nominated or not, won or not), with the count,
# sum and sum of squares of the scores. "sides" turns them into each comparison's two groups
# per stratum, with their means and sample variances (0 for a single movie). A comparison's
# row then weighs the strata holding both groups by the group's movies: the like-for-like
# means, the variance of their difference, and the plain (naive) means over every stratum.
# Done here rather than in pandas: a few thousand rows of arithmetic cost the server about a
# millisecond, and the frames, groupbys and merges took the client 30 to 40 ms.
_VERSUS_TEMPLATE = """
WITH nominated AS (
    SELECT n.movie_id, bool_or(n.won) AS won
    FROM award_nominations AS n
    JOIN award_ceremonies AS c ON c.id = n.ceremony_id
    JOIN award_bodies AS b ON b.id = c.award_body_id
    WHERE n.movie_id IS NOT NULL
      AND (CAST(:body_type AS text) IS NULL OR b.body_type = CAST(:body_type AS text))
    GROUP BY n.movie_id
),
scored AS (
    SELECT ms.year, coalesce(ms.genre_ids[1], 0) AS genre_id, {score} AS score,
           nm.movie_id IS NOT NULL AS nominated, coalesce(nm.won, false) AS won
    FROM movie_scores AS ms
    LEFT JOIN nominated AS nm ON nm.movie_id = ms.movie_id
    WHERE ms.year IS NOT NULL
      AND (CAST(:year_from AS integer) IS NULL OR ms.year >= :year_from)
      AND (CAST(:year_to AS integer) IS NULL OR ms.year <= :year_to)
),
cells AS (
    SELECT year, genre_id, nominated, won, CAST(count(*) AS float8) AS n, sum(score) AS total,
           sum(score * score) AS squares
    FROM scored
    WHERE score IS NOT NULL
    GROUP BY year, genre_id, nominated, won
),
sums AS (
    SELECT 'nominated' AS comparison, year, genre_id, nominated AS treated,
           sum(n) AS n, sum(total) AS total, sum(squares) AS squares
    FROM cells
    GROUP BY year, genre_id, nominated
    UNION ALL
    SELECT 'won', year, genre_id, won, sum(n), sum(total), sum(squares)
    FROM cells
    WHERE nominated
    GROUP BY year, genre_id, won
),
sides AS (
    SELECT comparison, year, genre_id, treated, n, total, total / n AS mean,
           CASE WHEN n > 1
                THEN greatest(squares - n * (total / n) * (total / n), 0) / (n - 1)
                ELSE 0
           END AS variance
    FROM sums
),
naive AS (
    SELECT comparison,
           sum(total) FILTER (WHERE treated) / sum(n) FILTER (WHERE treated)
           - sum(total) FILTER (WHERE NOT treated) / sum(n) FILTER (WHERE NOT treated)
               AS naive_difference
    FROM sides
    GROUP BY comparison
)
SELECT t.comparison, count(*) AS strata, sum(t.n) AS movies, sum(c.n) AS versus_movies,
       sum(t.total) / sum(t.n) AS mean_score, sum(t.n * c.mean) / sum(t.n) AS versus_mean,
       sum(t.n * t.n * (t.variance / t.n + c.variance / c.n)) / (sum(t.n) * sum(t.n))
           AS variance,
       v.naive_difference
FROM sides AS t
JOIN sides AS c
  ON c.comparison = t.comparison AND c.year = t.year AND c.genre_id = t.genre_id
 AND NOT c.treated
JOIN naive AS v ON v.comparison = t.comparison
WHERE t.treated
GROUP BY t.comparison, v.naive_difference
"""
_VERSUS_SQL = {
    source: text(_VERSUS_TEMPLATE.format(score=expression))
    for source, expression in _SCORES.items()
}
COMPARISONS: dict[str, tuple[str, str]] = {
    "nominated": ("nominated", "not nominated"),
    "won": ("won", "nominated, did not win"),
}
VERSUS_COLUMNS: dict[str, str] = {
    "comparison": "str",
    "group": "str",
    "versus": "str",
    "source": "str",
    "strata": "int64",
    "movies": "int64",
    "versus_movies": "int64",
    "mean_score": "float64",
    "versus_mean": "float64",
    "difference": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "naive_difference": "float64",
}


def awards_vs_ratings(
    conn: Connection,
    *,
    source: str = "critics",
    min_reviews: int = 20,
    body_type: str | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
) -> pd.DataFrame:
    """How much better nominated movies score than comparable movies that were not, and
    winners than the nominees that lost: like for like, on movies of the same year and genre.

    Nominated movies are mostly recent dramas; compared with every other movie, their score
    would mix the award's effect with the year's and the genre's. So the movies (with a
    ``source`` score and a valid release year, in ``year_from``..``year_to``) are split into
    strata, a release year and the movie's first genre (lowest genre id; movies without a
    genre form their own); in each stratum holding both groups the two means are compared,
    and the differences are averaged weighted by the stratum's movies of the group (the
    difference the nominated movies themselves show). Strata with only one of the groups
    say nothing and are left out, and so are their movies. The interval is the normal 95 %
    interval of that weighted difference, from the strata's variances (a group of one movie
    in a stratum adds no variance: with few movies the interval is too narrow, so read it
    with ``movies``).

    ``source`` is one of :data:`SOURCES` (``users``: the mean review rating of movies with
    ``min_reviews`` reviews). ``body_type`` limits the nominations to one kind of award body
    (:data:`~iwm_lab.models.awards.AWARD_BODY_TYPES`).

    Two rows (none when no stratum holds both groups), ``nominated`` then ``won``:

    - ``comparison`` (str): ``nominated`` (nominated vs not nominated) or ``won`` (among the
      nominated: won at least once vs never).
    - ``group``, ``versus`` (str): the two groups' names.
    - ``source`` (str).
    - ``strata`` (int64): year-and-genre strata holding both groups.
    - ``movies``, ``versus_movies`` (int64): the two groups' movies in those strata.
    - ``mean_score`` (float64): the group's mean score; ``versus_mean`` (float64): the other
      group's stratum means, weighted as the group's movies are (its like-for-like mean).
    - ``difference``, ``ci_low``, ``ci_high`` (float64): ``mean_score - versus_mean`` and its
      interval, in points out of 10.
    - ``naive_difference`` (float64): the plain difference of the two groups' means over
      every movie of the years, strata ignored: what the like-for-like one corrects.
    """
    check_choice(source, SOURCES, "source")
    check_min_reviews(min_reviews)
    if body_type is not None:
        check_choice(body_type, AWARD_BODY_TYPES, "body_type")
    check_year_range(year_from, year_to)
    params = {
        "min_reviews": min_reviews,
        "body_type": body_type,
        "year_from": year_from,
        "year_to": year_to,
    }
    found = {row.comparison: row for row in conn.execute(_VERSUS_SQL[source], params)}
    rows = [
        _versus_row(found[comparison], comparison, source)
        for comparison in COMPARISONS
        if comparison in found
    ]
    return typed(pd.DataFrame(rows, columns=list(VERSUS_COLUMNS)), VERSUS_COLUMNS)


def _versus_row(found: Row[Any], comparison: str, source: str) -> dict[str, object]:
    """One comparison's row of :func:`awards_vs_ratings`, from its statement's row."""
    difference = found.mean_score - found.versus_mean
    half = Z95 * math.sqrt(found.variance)
    group, versus = COMPARISONS[comparison]
    return {
        "comparison": comparison,
        "group": group,
        "versus": versus,
        "source": source,
        "strata": found.strata,
        "movies": round(found.movies),
        "versus_movies": round(found.versus_movies),
        "mean_score": found.mean_score,
        "versus_mean": found.versus_mean,
        "difference": difference,
        "ci_low": difference - half,
        "ci_high": difference + half,
        "naive_difference": found.naive_difference,
    }


_PEOPLE_SQL = text("""
WITH counted AS (
    SELECT n.person_id, count(*) AS nominations, count(*) FILTER (WHERE n.won) AS wins,
           min(c.year) AS first_year, max(c.year) AS last_year,
           count(DISTINCT c.award_body_id) AS bodies
    FROM award_nominations AS n
    JOIN award_ceremonies AS c ON c.id = n.ceremony_id
    JOIN award_bodies AS b ON b.id = c.award_body_id
    WHERE n.person_id IS NOT NULL
      AND (CAST(:body_type AS text) IS NULL OR b.body_type = CAST(:body_type AS text))
      AND (CAST(:year_from AS integer) IS NULL OR c.year >= :year_from)
      AND (CAST(:year_to AS integer) IS NULL OR c.year <= :year_to)
    GROUP BY n.person_id
    ORDER BY wins DESC, nominations DESC, n.person_id
    LIMIT :limit
)
SELECT k.person_id, p.name, k.nominations, k.wins, k.wins::float8 / k.nominations AS win_rate,
       k.first_year, k.last_year, k.bodies
FROM counted AS k
JOIN people AS p ON p.id = k.person_id
ORDER BY k.wins DESC, k.nominations DESC, k.person_id
""")

PEOPLE_COLUMNS: dict[str, str] = {
    "person_id": "int64",
    "name": "str",
    "nominations": "int64",
    "wins": "int64",
    "win_rate": "float64",
    "first_year": "int64",
    "last_year": "int64",
    "bodies": "int64",
}


def most_awarded_people(
    conn: Connection,
    *,
    body_type: str | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    limit: int = 20,
) -> pd.DataFrame:
    """The people with the most award wins, then nominations, in the award years
    ``year_from`` to ``year_to`` (ceremony years), of one kind of body when ``body_type``
    is given.

    A win is a nomination too: ``nominations`` counts every nomination naming the person,
    won or not. At most ``limit`` rows, by ``wins`` descending, then ``nominations``
    descending, then ``person_id``:

    - ``person_id`` (int64), ``name`` (str).
    - ``nominations``, ``wins`` (int64); ``win_rate`` (float64): wins / nominations.
    - ``first_year``, ``last_year`` (int64): award years of the first and last nomination.
    - ``bodies`` (int64): award bodies that nominated the person.
    """
    if body_type is not None:
        check_choice(body_type, AWARD_BODY_TYPES, "body_type")
    check_year_range(year_from, year_to)
    check_limit(limit)
    params = {"body_type": body_type, "year_from": year_from, "year_to": year_to, "limit": limit}
    return frame(conn, _PEOPLE_SQL, PEOPLE_COLUMNS, params)


# Each selection, and whether the movie was nominated (won) at a ceremony held after the
# edition opened and within the window; a ceremony without a date is dated by its year's end,
# so it counts only when its whole year is after the opening.
_PATHS_SQL = text("""
WITH selections AS (
    SELECT s.id, s.movie_id, f.name AS festival, e.starts_on,
           CASE WHEN s.prize IS NOT NULL THEN 'prize'
                WHEN s.section = 'competition' THEN 'competition'
                ELSE 'other sections' END AS selection
    FROM festival_selections AS s
    JOIN festival_editions AS e ON e.id = s.edition_id
    JOIN festivals AS f ON f.id = e.festival_id
    WHERE (CAST(:year_from AS integer) IS NULL OR e.year >= :year_from)
      AND (CAST(:year_to AS integer) IS NULL OR e.year <= :year_to)
),
held AS (
    SELECT n.movie_id, n.won, coalesce(c.ceremony_date, make_date(c.year, 12, 31)) AS held_on
    FROM award_nominations AS n
    JOIN award_ceremonies AS c ON c.id = n.ceremony_id
    WHERE n.movie_id IS NOT NULL
),
-- A join on the movie, not a subquery per selection: each would scan the ceremonies.
outcomes AS (
    SELECT s.festival, s.selection, count(h.movie_id) > 0 AS nominated,
           coalesce(bool_or(h.won), false) AS won
    FROM selections AS s
    LEFT JOIN held AS h
      ON h.movie_id = s.movie_id AND h.held_on > s.starts_on
     AND h.held_on <= s.starts_on + make_interval(years => :window_years)
    GROUP BY s.id, s.festival, s.selection
)
SELECT o.festival, o.selection, count(*) AS selections,
       count(*) FILTER (WHERE o.nominated) AS nominated,
       count(*) FILTER (WHERE o.won) AS won
FROM (
    SELECT CASE WHEN CAST(:by_festival AS boolean) THEN festival ELSE 'all festivals' END
               AS festival,
           selection, nominated, won
    FROM outcomes
) AS o
GROUP BY o.festival, o.selection
ORDER BY o.festival COLLATE "C",
         CASE o.selection WHEN 'prize' THEN 1 WHEN 'competition' THEN 2 ELSE 3 END
""")

PATH_COLUMNS: dict[str, str] = {
    "festival": "str",
    "selection": "str",
    "selections": "int64",
    "nominated": "int64",
    "nomination_rate": "float64",
    "nomination_ci_low": "float64",
    "nomination_ci_high": "float64",
    "won": "int64",
    "win_rate": "float64",
    "win_ci_low": "float64",
    "win_ci_high": "float64",
}


def festival_paths(
    conn: Connection,
    *,
    by_festival: bool = False,
    year_from: int | None = None,
    year_to: int | None = None,
    window_years: int = 2,
) -> pd.DataFrame:
    """From festival to awards: of the movies festivals selected, how many were nominated,
    and how many won, at a ceremony after the selection.

    Each selection of an edition in the years ``year_from`` to ``year_to`` counts once (a
    movie selected by two festivals follows two paths). A nomination counts when its
    ceremony took place after the edition opened and at most ``window_years`` years later (a
    ceremony without a date is taken at its year's end): an award a movie had already won
    before a festival showed it (a retrospective, say) is not where the festival led it.
    Selections are split by what the festival did: ``prize`` (awarded a prize), ``competition``
    (in competition, no prize), ``other sections``.

    One row per festival (or "all festivals" unless ``by_festival``) and selection kind, by
    festival then prize, competition, other sections:

    - ``festival`` (str), ``selection`` (str).
    - ``selections`` (int64).
    - ``nominated`` (int64), ``nomination_rate`` (float64), ``nomination_ci_low``,
      ``nomination_ci_high`` (float64): the 95 % Wilson interval of the rate.
    - ``won`` (int64), ``win_rate``, ``win_ci_low``, ``win_ci_high`` (float64).
    """
    if not isinstance(by_festival, bool):
        raise ValueError(f"by_festival must be True or False, got {shown(by_festival)}")
    check_year_range(year_from, year_to)
    check_int(window_years, "window_years", 0, MAX_WINDOW_YEARS)
    params = {
        "by_festival": by_festival,
        "year_from": year_from,
        "year_to": year_to,
        "window_years": window_years,
    }
    counts = frame(
        conn,
        _PATHS_SQL,
        {"festival": "str", "selection": "str", "selections": "int64"}
        | {"nominated": "int64", "won": "int64"},
        params,
    )
    for column, prefix in (("nominated", "nomination"), ("won", "win")):
        rate, low, high = wilson(counts[column], counts["selections"])
        counts[f"{prefix}_rate"], counts[f"{prefix}_ci_low"], counts[f"{prefix}_ci_high"] = (
            rate,
            low,
            high,
        )
    return typed(counts, PATH_COLUMNS)


def __dir__() -> list[str]:
    # What tab completion offers: the queries, not the names they are built from.
    return list(__all__)
