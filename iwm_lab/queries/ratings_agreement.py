"""How far the score sources agree: :func:`platform_agreement`, public through
:mod:`iwm_lab.queries.ratings`.

Everything is computed in one statement from "points": movies with both scores of a pair,
counted per (x, y), each with the rank of its y among the pair's movies. The pairs of platform
scores come counted from the ``score_pair_cells`` rollup (platform scores take few values:
60k movies fold into a few thousand cells); the pairs with users' mean rating, which exists
only for movies with ``min_reviews`` reviews, are one point per movie, from the
``movie_scores`` rollup.

Spearman's ranks give tied values the mean of the positions they take: the positions up to
the value's last, less half of the (size - 1) others in its tie group. Doubled, so that ranks
are whole numbers (a correlation does not change with scale) and every sum of ranks is exact:
a score that does not vary gives exactly zero spread, hence NaN, as ``corr`` does. Ranks are
taken over distinct values (grouped first, then a running count in row mode): a window over
every movie with peers, or a partition per value, costs several times more. The points are
then summed per (pair, x), where x's rank is taken, and the sums per pair give every figure.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Integer,
    Numeric,
    String,
    and_,
    any_,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    select,
    union_all,
    values,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from iwm_lab.queries._common import SOURCES, check_min_reviews, typed
from iwm_lab.queries.ratings_catalogue import (
    FACTS,
    PLATFORMS,
    genre_id_of,
    score_on_ten,
)
from iwm_lab.rollups import SCORE_PAIR_CELLS

# Users' mean rating is the last source: every pair with it is (platform, users), users on y.
assert SOURCES[-1] == "users" and SOURCES[:-1] == PLATFORMS
PAIRS: list[tuple[str, str]] = list(combinations(SOURCES, 2))
_NUMBER = {pair: i for i, pair in enumerate(PAIRS)}


def _doubled_rank(
    count: ColumnElement[Any], order: ColumnElement[Any], partition: ColumnElement[Any] | None
) -> ColumnElement[Any]:
    """Twice the mean rank of each distinct value ``order`` (one row each, ``count`` movies
    with it): twice the positions up to its last, less (count - 1). ``count`` is an integer,
    whose running sum is a bigint."""
    running = func.sum(count).over(partition_by=partition, order_by=order, rows=(None, 0))
    return cast(2 * running - count + 1, BigInteger)


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
    genre or period, with its interval. Read from the rollups, as of their last refresh.
    """
    check_min_reviews(min_reviews)
    genre_id = genre_id_of(conn, genre)
    params: dict[str, int] = {"min_reviews": min_reviews}
    if genre_id is not None:
        params["genre_id"] = genre_id
    sql, defaults = _compiled(conn.dialect, genre_id is not None)
    result = conn.exec_driver_sql(sql, {**defaults, **params})
    rows = pd.DataFrame.from_records(result.all(), columns=list(result.keys()))
    return typed(rows, _COLUMNS)


_COLUMNS = {
    "source_a": "str",
    "source_b": "str",
    "n": "int64",
    "pearson_r": "float64",
    "spearman_rho": "float64",
    "mean_diff": "float64",
    "mean_abs_diff": "float64",
}


@lru_cache(maxsize=16)
def _compiled(dialect: Dialect, of_genre: bool) -> tuple[str, dict[str, Any]]:
    """:func:`_statement` compiled once per dialect: the SQL and its literals' parameters.
    Building and compiling the statement took longer than a fifth of running it."""
    compiled = _statement(of_genre).compile(dialect=dialect)
    return compiled.string, dict(compiled.params)


def _statement(of_genre: bool) -> Select[Any]:
    """The query, with the bound parameters ``min_reviews`` and (``of_genre``) ``genre_id``."""
    genre_id = bindparam("genre_id", type_=Integer)
    min_reviews = bindparam("min_reviews", type_=BigInteger)
    # The pairs of platform scores: cells of the rollup, y ranked per pair.
    stored = SCORE_PAIR_CELLS
    pair_number = case(
        *(
            (and_(stored.c.source_a == a, stored.c.source_b == b), i)
            for (a, b), i in _NUMBER.items()
            if "users" not in (a, b)
        )
    )
    cells_of_genre = stored.c.genre_id == genre_id if of_genre else stored.c.genre_id.is_(None)
    cells = (
        select(
            pair_number.label("pair"),
            stored.c.x,
            stored.c.y,
            cast(stored.c.movies, Integer).label("n"),
        )
        .where(cells_of_genre)
        .cte("cells")
    )
    y_values = (
        select(cells.c.pair, cells.c.y, cast(func.sum(cells.c.n), Integer).label("n"))
        .group_by(cells.c.pair, cells.c.y)
        .subquery("y_values")
    )
    y_ranks = select(
        y_values.c.pair,
        y_values.c.y,
        _doubled_rank(y_values.c.n, y_values.c.y, y_values.c.pair).label("rank_y"),
    ).subquery("y_ranks")
    from_cells = select(cells.c.pair, cells.c.x, cells.c.y, cells.c.n, y_ranks.c.rank_y).join(
        y_ranks, and_(y_ranks.c.pair == cells.c.pair, y_ranks.c.y == cells.c.y)
    )

    # The pairs with users: one point per rated movie; users' mean ranked once for all four
    # pairs, each counting the movies that have its platform score (count() skips NULLs).
    rated = (
        select(*(score_on_ten(source).label(source) for source in SOURCES))
        .where(
            FACTS.c.reviews >= min_reviews,
            *([genre_id == any_(FACTS.c.genre_ids)] if of_genre else []),
        )
        .cte("rated")
        .prefix_with("MATERIALIZED")
    )
    by_users = (
        select(
            rated.c.users,
            *(cast(func.count(rated.c[p]), Integer).label(p) for p in PLATFORMS),
        )
        .group_by(rated.c.users)
        .subquery("by_users")
    )
    users_ranks = select(
        by_users.c.users,
        *(_doubled_rank(by_users.c[p], by_users.c.users, None).label(p) for p in PLATFORMS),
    ).subquery("users_ranks")
    ranked = (
        select(rated, *(users_ranks.c[p].label(f"rank_{p}") for p in PLATFORMS))
        .join(users_ranks, users_ranks.c.users == rated.c.users)
        .cte("ranked")
        .prefix_with("MATERIALIZED")
    )
    from_movies = [
        select(
            literal(_NUMBER[(p, "users")]).label("pair"),
            ranked.c[p].label("x"),
            ranked.c.users.label("y"),
            literal(1, Integer).label("n"),
            ranked.c[f"rank_{p}"].label("rank_y"),
        ).where(ranked.c[p].is_not(None))
        for p in PLATFORMS
    ]
    points = union_all(from_cells, *from_movies).subquery("points")

    # Per (pair, x): the sums over its points, and x's rank among the pair's movies.
    p = points.c
    n = p.n
    per_x = (
        select(
            p.pair,
            p.x,
            cast(func.sum(n), Integer).label("n"),
            func.sum(n * p.y).label("sum_y"),
            func.sum(n * p.y * p.y).label("sum_yy"),
            func.sum(n * (p.x - p.y)).label("sum_diff"),
            func.sum(n * func.abs(p.x - p.y)).label("sum_abs_diff"),
            func.min(p.y).label("min_y"),
            func.max(p.y).label("max_y"),
            func.sum(n * p.rank_y).label("sum_rank_y"),
            func.sum(n * p.rank_y * p.rank_y).label("sum_rank_yy"),
        )
        .group_by(p.pair, p.x)
        .subquery("per_x")
    )
    g = per_x.c
    ranked_x = select(per_x, _doubled_rank(g.n, g.x, g.pair).label("rank_x")).subquery("ranked_x")
    r = ranked_x.c
    total = func.sum(r.n)
    x = cast(r.x, Float)

    def correlation(
        sum_a: ColumnElement[Any],
        sum_aa: ColumnElement[Any],
        sum_b: ColumnElement[Any],
        sum_bb: ColumnElement[Any],
        sum_ab: ColumnElement[Any],
    ) -> ColumnElement[Any]:
        covariance = total * sum_ab - sum_a * sum_b
        spread = (total * sum_aa - sum_a * sum_a) * (total * sum_bb - sum_b * sum_b)
        return covariance / func.sqrt(func.nullif(spread, 0))

    # The scores' sums are floats: a score that does not vary may then show a rounding-noise
    # spread, so constant scores are told by their range instead (corr() gives NaN there).
    varies = and_(func.min(r.x) < func.max(r.x), func.min(r.min_y) < func.max(r.max_y))
    pearson = case(
        (
            varies,
            correlation(
                func.sum(r.n * x),
                func.sum(r.n * x * x),
                func.sum(r.sum_y),
                func.sum(r.sum_yy),
                func.sum(x * r.sum_y),
            ),
        )
    )
    # Doubled ranks are whole numbers and their sums numeric: exact, constant ones give 0.
    rank_x = cast(r.rank_x, Numeric)
    spearman = correlation(
        func.sum(r.n * rank_x),
        func.sum(r.n * rank_x * rank_x),
        func.sum(r.sum_rank_y),
        func.sum(r.sum_rank_yy),
        func.sum(rank_x * r.sum_rank_y),
    )
    agreement = (
        select(
            r.pair,
            cast(total, BigInteger).label("n"),
            cast(pearson, Float).label("pearson_r"),
            cast(spearman, Float).label("spearman_rho"),
            (func.sum(r.sum_diff) / cast(total, Float)).label("mean_diff"),
            (func.sum(r.sum_abs_diff) / cast(total, Float)).label("mean_abs_diff"),
        )
        .group_by(r.pair)
        .subquery("agreement")
    )
    names = values(
        column("pair", Integer),
        column("source_a", String),
        column("source_b", String),
        name="pairs",
    ).data([(i, a, b) for (a, b), i in _NUMBER.items()])
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
    return stmt


__all__ = ["PAIRS", "platform_agreement"]
