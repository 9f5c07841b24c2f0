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
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    UniqueConstraint,
    column,
    func,
    literal,
    select,
    table,
    text,
    true,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from iwm_lab.database import replica_lag_query
from iwm_lab.models import Base, Movie, MovieStreamingOption, Pulse, Review, TrendingTopic, User
from iwm_lab.queries._common import (
    check_int,
    check_moment,
    check_positive,
    frame,
    shown,
    typed,
)

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


# The planner's estimate of a table's rows (as estimate_rel_size() makes it): the density of
# its last VACUUM or ANALYZE (reltuples / relpages) times its pages now, so rows added since
# count; NULL where there is no density to scale (never vacuumed or analysed, or empty then
# and not now), for the caller to count exactly. A table of no pages holds no row.
_ESTIMATES_SQL = text("""
SELECT c.relname AS table,
       CASE
           WHEN s.pages = 0 THEN 0
           WHEN c.reltuples >= 0 AND c.relpages > 0
               THEN round(c.reltuples / c.relpages * s.pages)::bigint
       END AS rows_estimate
FROM pg_class AS c
CROSS JOIN LATERAL (
    SELECT pg_relation_size(c.oid) / current_setting('block_size')::bigint AS pages
) AS s
WHERE c.oid = ANY(CAST(:tables AS regclass[]))
""")


def _model_tables() -> list[Table]:
    return sorted(Base.metadata.tables.values(), key=lambda t: t.name)


def _exact_count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _row_estimates(conn: Connection) -> dict[str, int]:
    """:data:`_ESTIMATES_SQL` for every model table, counted exactly where it has none."""
    tables = _model_tables()
    # Quoted as identifiers, then read as regclass: a table of the search path, by its name.
    names = [f'"{t.name}"' for t in tables]
    found: dict[str, int | None] = dict(conn.execute(_ESTIMATES_SQL, {"tables": names}).all())
    estimates = {}
    for t in tables:
        estimate = found.get(t.name)
        estimates[t.name] = int(estimate) if estimate is not None else _exact_count(conn, t)
    return estimates


def table_row_counts(conn: Connection, *, exact: bool = False) -> pd.DataFrame:
    """How many rows every table of the models holds: estimated (default), or counted.

    An exact ``count(*)`` reads every row of every table: about half a second at scale
    ``large`` (13M rows), and it grows with the data. The estimate reads the catalog, in
    milliseconds whatever the size: PostgreSQL's own (the planner's), the rows per page its
    last ``VACUUM`` or ``ANALYZE`` found (the seeder analyses; autovacuum follows writes) times
    the table's pages now, so rows added since count too. It is close for tables that grow by
    appending (within a percent or so after the seed), and can be off after large deletions
    not yet vacuumed; a table of no pages shows 0, exactly; a table never vacuumed or
    analysed is counted exactly. Columns, sorted by table name:

    - ``table`` (str): the table's name.
    - ``rows_estimate`` (int64): the estimate; or, with ``exact=True``, ``rows`` (int64): the
      exact ``count(*)`` instead.
    """
    if not isinstance(exact, bool):
        raise ValueError(f"exact must be True or False, got {shown(exact)}")
    tables = _model_tables()
    if exact:
        counts = [_exact_count(conn, t) for t in tables]
        column_name = "rows"
    else:
        estimates = _row_estimates(conn)
        counts = [estimates[t.name] for t in tables]
        column_name = "rows_estimate"
    return pd.DataFrame(
        {
            "table": pd.Series([t.name for t in tables], dtype="str"),
            column_name: pd.Series(counts, dtype="int64"),
        }
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


def _exact_nulls(conn: Connection, tables: list[str]) -> pd.DataFrame:
    """``table``, ``column``, ``rows``, ``nulls`` of the key columns of ``tables``, counted."""
    by_table: dict[str, list[Column[object]]] = {}
    for col in KEY_COLUMNS:
        if col.table.name in tables:
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
    columns = {"table": "str", "column": "str", "rows": "int64", "nulls": "int64"}
    if not parts:
        return typed(pd.DataFrame(columns={name: [] for name in columns}), columns)
    return frame(conn, union_all(*parts), columns)


# The share of NULLs ANALYZE found in each column's sample (pg_stats lists the columns the
# session may read).
_NULL_FRACTIONS_SQL = text("""
SELECT tablename AS table, attname AS column, null_frac
FROM pg_stats
WHERE schemaname = current_schema() AND NOT inherited AND tablename = ANY(:tables)
""")


def null_shares(conn: Connection, *, exact: bool = False) -> pd.DataFrame:
    """How complete the key columns are: the share of NULLs in each, estimated (default) or
    counted.

    Long format, one row per key column (:data:`KEY_COLUMNS`: movie scores, release date,
    year, language, country, runtime, status; the foreign keys and timestamps of reviews and
    pulses; pulses' hashtags and linked type; streaming options' movie, platform, region,
    price and quality; users' created_at; trending categories), sorted by table, then column.

    The estimate reads the catalog, in milliseconds whatever the size: the share of NULLs the
    table's last ``ANALYZE`` found in its sample (30,000 rows by default; the seeder analyses,
    autovacuum re-analyses tables that changed), applied to the table's estimated rows
    (:func:`table_row_counts`). A share seen in the sample is close (within a percent or so);
    a few NULLs among millions of rows may show as none. A table without statistics (never
    analysed) is counted exactly. Columns:

    - ``table``, ``column`` (str): the column.
    - ``rows_estimate`` (int64): the table's estimated rows.
    - ``nulls_estimate`` (int64): ``rows_estimate`` times ``null_share_estimate``, rounded.
    - ``null_share_estimate`` (float64): the share of NULLs; NaN for an empty table.

    With ``exact=True`` every table is read (one pass per table, indexed columns' NULLs from
    their index: about half a second at scale ``large``), and the columns are exact counts
    instead: ``rows`` (int64), ``nulls`` (int64), ``null_share`` (float64, ``nulls / rows``).
    """
    if not isinstance(exact, bool):
        raise ValueError(f"exact must be True or False, got {shown(exact)}")
    key_tables = sorted({col.table.name for col in KEY_COLUMNS})
    if exact:
        counted = _exact_nulls(conn, key_tables)
        share = counted["nulls"] / counted["rows"].where(counted["rows"] > 0)
        result = counted.assign(null_share=share)
        columns = {
            "table": "str",
            "column": "str",
            "rows": "int64",
            "nulls": "int64",
            "null_share": "float64",
        }
        return typed(result.sort_values(["table", "column"], kind="stable"), columns)
    rows = _row_estimates(conn)
    fractions = {
        (str(t), str(c)): float(f)
        for t, c, f in conn.execute(_NULL_FRACTIONS_SQL, {"tables": key_tables})
    }
    unknown = sorted(
        {
            col.table.name
            for col in KEY_COLUMNS
            if rows[col.table.name] > 0 and (col.table.name, col.name) not in fractions
        }
    )
    # A table without statistics has no sample to estimate from: it is counted.
    counted = _exact_nulls(conn, unknown).set_index(["table", "column"])
    records = []
    for col in KEY_COLUMNS:
        table_name, key = col.table.name, (col.table.name, col.name)
        if table_name in unknown:
            total, nulls = (int(v) for v in counted.loc[key, ["rows", "nulls"]])
            share = nulls / total if total else math.nan
        else:
            total = rows[table_name]
            share = fractions.get(key, 0.0) if total else math.nan
            nulls = 0 if not total else round(total * share)
        records.append((table_name, col.name, total, nulls, share))
    result = pd.DataFrame(
        records,
        columns=["table", "column", "rows_estimate", "nulls_estimate", "null_share_estimate"],
    )
    columns = {
        "table": "str",
        "column": "str",
        "rows_estimate": "int64",
        "nulls_estimate": "int64",
        "null_share_estimate": "float64",
    }
    return typed(result.sort_values(["table", "column"], kind="stable"), columns)


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
