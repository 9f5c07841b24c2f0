"""Data health: how much is in the database, how recent it is, and how complete.

Recency is judged by the clock: a source is as old as the time since its latest row, measured
at the moment a report runs (its ``as_of``: the schedule's slot, or now), never against a
date written into a notebook.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Float,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    UniqueConstraint,
    cast,
    column,
    func,
    literal,
    select,
    table,
    true,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from iwm_lab.database import replica_lag_query
from iwm_lab.models import Base, Movie, MovieStreamingOption, Pulse, Review, TrendingTopic, User
from iwm_lab.queries._common import check_int, check_moment, check_positive, frame

# The columns whose gaps matter to the analyses: scores and what the filters and windows rely
# on. Model attributes rather than names, so a renamed column fails here, not in a notebook.
KEY_COLUMNS: tuple[Column[object], ...] = tuple(
    attribute.expression  # type: ignore[misc]
    for attribute in (
        Movie.siddu_score,
        Movie.critics_score,
        Movie.imdb_rating,
        Movie.rotten_tomatoes_score,
        Movie.release_date,
        Movie.year,
        Movie.language,
        Movie.country,
        Movie.runtime,
        Movie.status,
        Review.movie_id,
        Review.user_id,
        Review.date,
        Pulse.user_id,
        Pulse.created_at,
        Pulse.hashtags,
        Pulse.linked_type,
        MovieStreamingOption.movie_id,
        MovieStreamingOption.platform_id,
        MovieStreamingOption.region,
        MovieStreamingOption.price,
        MovieStreamingOption.quality,
        User.created_at,
        TrendingTopic.category,
    )
)

# What "latest" means per table, in the order freshness() lists them.
FRESHNESS_COLUMNS: tuple[Column[object], ...] = tuple(
    attribute.expression  # type: ignore[misc]
    for attribute in (
        Movie.release_date,
        Review.date,
        Pulse.created_at,
        TrendingTopic.computed_at,
    )
)


def table_row_counts(conn: Connection) -> pd.DataFrame:
    """Exact row count of every table in the models.

    Columns: ``table`` (table name), ``rows`` (int64, exact ``count(*)``). Sorted by table name.
    """
    tables = sorted(Base.metadata.tables.values(), key=lambda t: t.name)
    counts = [conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables]
    return pd.DataFrame(
        {"table": [t.name for t in tables], "rows": pd.Series(counts, dtype="int64")}
    )


def freshness(conn: Connection, *, as_of: datetime | date | str | None = None) -> pd.DataFrame:
    """How recent the data is: the latest timestamp of each table that has one that matters,
    and its age at ``as_of``.

    ``as_of`` is the moment ages are measured at, the report's run (a ``datetime``, a
    ``date`` for its midnight, or an ISO string; aware times are taken in UTC); default: now,
    the transaction's ``localtimestamp``.

    One row each, in this order: ``movies.release_date`` (latest release, future for
    announced films), ``reviews.date`` (latest review), ``pulses.created_at`` (latest pulse),
    ``trending_topics.computed_at`` (last trending refresh, either window); then one row per
    rollup (:mod:`iwm_lab.rollups`), by name, with column ``refreshed_at``: when it was last
    refreshed (the summaries the ratings and streaming functions read are that old). Columns:

    - ``table``, ``column``: where the timestamp comes from.
    - ``latest`` (datetime64[us]): its maximum over the whole table (rows later than
      ``as_of`` included); NaT when the table has no value.
    - ``age_days`` (float64): days from ``latest`` to ``as_of``; negative when ``latest``
      lies after it (announced films, or data newer than a past ``as_of``); NaN with NaT.

    And where the frame was read, the same on every row (a multi-host URL with
    ``target_session_attrs=prefer-standby`` reads from a hot standby when one answers, whose
    data lags its primary's; see :func:`iwm_lab.database.replica_lag`):

    - ``in_recovery`` (bool): True when read from a hot standby.
    - ``replay_lag_bytes`` (Int64): WAL the standby received and has not replayed yet; NA on
      a primary, or when the standby never streamed.
    - ``replay_lag_s`` (float64): seconds behind its primary: 0 when it replayed all it
      received while streaming, else the time since the last transaction it replayed (the
      most its data can lag); NaN on a primary, or when it cannot tell. Measured when the
      query ran, whatever ``as_of`` is.
    """
    parts = [
        select(
            literal(position).label("position"),
            literal(col.table.name, String).label("table"),
            literal(col.name, String).label("column"),
            func.max(col).label("latest"),
        )
        for position, col in enumerate(FRESHNESS_COLUMNS)
    ]
    refreshes = table("rollup_refreshes", column("name", String), column("refreshed_at", DateTime))
    parts.append(
        select(
            literal(len(parts)).label("position"),
            refreshes.c.name.label("table"),
            literal("refreshed_at", String).label("column"),
            refreshes.c.refreshed_at.label("latest"),
        )
    )
    latest = union_all(*parts).subquery("latest")
    clock = (
        func.localtimestamp() if as_of is None else literal(check_moment(as_of, "as_of"), DateTime)
    )
    age = func.extract("epoch", clock - latest.c.latest) / 86400
    replica = replica_lag_query().subquery("replica")
    stmt = (
        select(
            latest.c.table,
            latest.c.column,
            latest.c.latest,
            age.label("age_days"),
            replica.c.in_recovery,
            replica.c.replay_lag_bytes,
            replica.c.replay_lag_s,
        )
        .select_from(latest.join(replica, true()))
        .order_by(latest.c.position, latest.c.table)
    )
    columns = {
        "table": "str",
        "column": "str",
        "latest": "datetime64[us]",
        "age_days": "float64",
        "in_recovery": "bool",
        "replay_lag_bytes": "Int64",
        "replay_lag_s": "float64",
    }
    return frame(conn, stmt, columns)


# The sources that should keep arriving: the app writes reviews and pulses as they happen, so
# a long silence means it, or an import, stopped.
ACTIVITY_TABLES: tuple[str, ...] = ("reviews", "pulses")
# A century: any longer threshold would call every source fresh.
MAX_STALE_DAYS = 36_525


def _ages(fresh: pd.DataFrame) -> dict[str, float]:
    return {str(t): float(a) for t, a in zip(fresh["table"], fresh["age_days"], strict=True)}


def age_figures(fresh: pd.DataFrame, *, digits: int = 2) -> dict[str, float | None]:
    """The ages of a :func:`freshness` frame as figures a report can ``record``.

    One entry per row, in its order, named ``<table>_age_days`` (``reviews_age_days``,
    ``pulses_age_days``, ``movies_age_days``, ``trending_topics_age_days``, one per rollup):
    the age in days rounded to ``digits`` decimals (a plain ``float``), ``None`` when the
    table has no timestamp.
    """
    check_int(digits, "digits", 0, 15)  # a float64 holds no more
    return {
        f"{table}_age_days": None if math.isnan(age) else round(age, digits)
        for table, age in _ages(fresh).items()
    }


def stale_sources(
    fresh: pd.DataFrame,
    *,
    stale_after_days: float,
    tables: tuple[str, ...] = ACTIVITY_TABLES,
) -> list[str]:
    """Which of ``tables`` are stale in a :func:`freshness` frame (measured at the run's
    ``as_of``): those whose latest row is more than ``stale_after_days`` days old, and those
    with no row at all. In the order of ``tables``; an empty list when all are current.
    """
    check_positive(stale_after_days, "stale_after_days", MAX_STALE_DAYS)
    ages = _ages(fresh)
    missing = [t for t in tables if t not in ages]
    if missing:
        raise ValueError(
            f"the freshness frame has no row for {', '.join(missing)}; "
            f"it has: {', '.join(ages) or 'none'}"
        )
    # NaN (no row) compares false, so "not within" counts an empty table as stale.
    return [t for t in tables if not ages[t] <= stale_after_days]


def _leads_an_index(col: Column[object]) -> bool:
    """Whether an index of the whole table (not a partial one) starts with ``col``."""
    table = col.table
    assert isinstance(table, Table)
    keys = [
        index.columns
        for index in table.indexes
        if index.dialect_options["postgresql"]["where"] is None
    ]
    keys += [
        c.columns
        for c in table.constraints
        if isinstance(c, PrimaryKeyConstraint | UniqueConstraint)
    ]
    # By name: KEY_COLUMNS holds the models' annotated copies of the table's columns.
    return any(len(k) and next(iter(k)).name == col.name for k in keys)


def null_shares(conn: Connection) -> pd.DataFrame:
    """How complete the key columns are: the share of NULLs in each.

    Long format, one row per key column (:data:`KEY_COLUMNS`: movie scores, release date,
    year, language, country, runtime, status; the foreign keys and timestamps of reviews and
    pulses; pulses' hashtags and linked type; streaming options' movie, platform, region,
    price and quality; users' created_at; trending categories), sorted by table, then column.
    One pass per table. Columns:

    - ``table``, ``column``: the column.
    - ``rows`` (int64): rows in the table.
    - ``nulls`` (int64): rows where the column is NULL.
    - ``null_share`` (float64): ``nulls / rows``; NaN for an empty table.
    """
    by_table: dict[str, list[Column[object]]] = {}
    for col in KEY_COLUMNS:
        by_table.setdefault(col.table.name, []).append(col)
    parts: list[Select[tuple[str, str, int, int]]] = []
    for name in sorted(by_table):
        cols = sorted(by_table[name], key=lambda c: c.name)
        scanned = [col for col in cols if not _leads_an_index(col)]
        # One pass over the table for the row count and the columns no index leads, in a CTE
        # computed once however many rows read it; an indexed column's NULLs are found in its
        # index (b-trees keep NULLs), which spares the scan of a wide table such as reviews.
        counts = (
            select(
                func.count().label("rows"),
                *(func.count().filter(col.is_(None)).label(col.name) for col in scanned),
            )
            .select_from(cols[0].table)
            .cte(f"counts_{name}")
        )
        for col in cols:
            if col in scanned:
                nulls: ColumnElement[int] = counts.c[col.name]
            else:
                nulls = select(func.count()).where(col.is_(None)).scalar_subquery()
            parts.append(
                select(
                    literal(name, String).label("table"),
                    literal(col.name, String).label("column"),
                    counts.c.rows,
                    nulls.label("nulls"),
                )
            )
    shares = union_all(*parts).subquery("shares")
    null_share = shares.c.nulls / func.nullif(cast(shares.c.rows, Float), 0)
    stmt = select(
        shares.c.table,
        shares.c.column,
        shares.c.rows,
        shares.c.nulls,
        null_share.label("null_share"),
    ).order_by(shares.c.table, shares.c.column)
    columns = {
        "table": "str",
        "column": "str",
        "rows": "int64",
        "nulls": "int64",
        "null_share": "float64",
    }
    return frame(conn, stmt, columns)


__all__ = [
    "ACTIVITY_TABLES",
    "KEY_COLUMNS",
    "age_figures",
    "freshness",
    "null_shares",
    "stale_sources",
    "table_row_counts",
]


def __dir__() -> list[str]:
    # What tab completion offers: the queries, not the names they are built from.
    return list(__all__)
