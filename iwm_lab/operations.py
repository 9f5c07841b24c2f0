"""Writes that keep derived data current: the rollups, the trending topics, their schedule.

Every refresh of a summary goes through here: ``iwm-lab db refresh`` and ``iwm-lab demo`` on a
database it reuses (:func:`refresh_all`), the seeder inside its load transaction
(:func:`refresh_trending_windows`, :func:`refresh_rollups_in`), the importer for the rollups
over the table it loaded, in its own transaction (:func:`refresh_rollups_in`), and pg_cron
where the server has it (:func:`scheduled_jobs`: the same statements, as SQL text for the
server to run on its own).

Refreshing a rollup needs its owner, so everything here calls the owner's ``SECURITY
DEFINER`` functions (migrations 0004 and 0006), which the writer role may run:
``iwm_refresh_rollup(name, concurrently)`` (incremental: only what the change log says
changed since the rollup's last refresh), ``iwm_refresh_rollup_full(name, concurrently)`` and
``refresh_trending_topics(window, as_of)``. A read-only session is refused before anything
runs (:func:`iwm_lab.database.require_writable`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    TextClause,
    bindparam,
    func,
    select,
    table,
    text,
)
from sqlalchemy.dialects import postgresql

from iwm_lab.database import describe_url, require_writable
from iwm_lab.exceptions import RollupMissing
from iwm_lab.models.values import TRENDING_WINDOWS
from iwm_lab.queries._common import check_choice, check_moment
from iwm_lab.queries.trending import Moment, trending_topics
from iwm_lab.rollups import ROLLUPS

# The statements: bound when run from here, rendered with literals for pg_cron.
_REFRESH_ROLLUP = text("SELECT iwm_refresh_rollup(:name, :concurrently)")
_REFRESH_ROLLUP_FULL = text("SELECT iwm_refresh_rollup_full(:name, :concurrently)")
# What the refresh just did, as the function recorded it in the same transaction.
_REFRESH_RECORD = text(
    "SELECT mode, reason, changes, row_count FROM rollup_refreshes WHERE name = :name"
)
_REFRESH_LISTED_ROLLUPS = text(
    "SELECT iwm_refresh_rollup(name) FROM rollup_refreshes ORDER BY name"
)
# Without an as-of the function's own default applies: the transaction's clock.
_REFRESH_TRENDING = text("SELECT refresh_trending_topics(:window)")
_REFRESH_TRENDING_AS_OF = text("SELECT refresh_trending_topics(:window, :as_of)").bindparams(
    bindparam("as_of", type_=DateTime)
)
# The stored list of a window is its top 50 tags (migration 0003).
_TOPICS = 50


@dataclass(frozen=True)
class RollupRefresh:
    """One rollup refreshed: its name, the server's time for the refresh, its rows, how it ran
    (``mode``: one of :data:`iwm_lab.rollups.MODES`), why it was rebuilt in full (``reason``:
    ``asked``, ``never refreshed``, ``reviews truncated``, ``sources changed``; None when it
    was not) and how many keys (movies, days, hours) it processed (``changes``)."""

    name: str
    seconds: float
    rows: int
    mode: str = "full"
    reason: str | None = None
    changes: int = 0


@dataclass(frozen=True)
class TrendingRefresh:
    """One window of trending topics refreshed, and its new rows (as
    :func:`iwm_lab.queries.trending.trending_topics` returns them)."""

    window: str
    topics: pd.DataFrame


@dataclass(frozen=True)
class Refreshed:
    """What :func:`refresh_all` did: each rollup, then each trending window."""

    rollups: list[RollupRefresh]
    trending: list[TrendingRefresh]


# Called with each refresh as soon as it is done (``iwm-lab db refresh`` prints it).
Progress = Callable[[RollupRefresh | TrendingRefresh], None]


def _ignore(_step: RollupRefresh | TrendingRefresh) -> None:
    pass


@dataclass(frozen=True)
class CronJob:
    """A pg_cron job: its name, when it runs (crontab fields) and the statement it runs."""

    name: str
    cron: str
    sql: str


def _check_names(names: Sequence[str] | None) -> list[str]:
    """``names`` (default: every rollup) as a list; an unknown name lists the valid ones."""
    if names is None:
        return list(ROLLUPS)
    for name in names:
        if name not in ROLLUPS:
            raise ValueError(f"unknown rollup {name!r}; valid values: {', '.join(ROLLUPS)}")
    return sorted(set(names), key=list(names).index)


def _require_present(conn: Connection, names: Sequence[str]) -> None:
    # A materialized view or, for the rollups maintained incrementally, a table.
    present = set(
        conn.execute(
            text(
                "select relname from pg_class "
                "where relnamespace = current_schema()::regnamespace "
                "and relkind in ('m', 'r') and relname = any(:names)"
            ),
            {"names": list(names)},
        ).scalars()
    )
    missing = [name for name in names if name not in present]
    if missing:
        # Caught here, not from the refresh's UndefinedTable: the view was dropped by hand or
        # the database is behind the migration that creates it.
        raise RollupMissing(
            f"rollup(s) {', '.join(missing)} missing from {describe_url(conn.engine.url)}: "
            "run `iwm-lab db check` to see what differs from the migrations, and "
            "`iwm-lab db upgrade` for a database behind the head revision"
        )


def refresh_rollups_in(
    conn: Connection,
    names: Sequence[str] | None = None,
    *,
    concurrently: bool = True,
    full: bool = False,
) -> list[RollupRefresh]:
    """Refresh rollups (default: all) inside the transaction open on ``conn`` (the caller
    commits).

    By default each rollup processes only what changed since its last refresh (a rollup whose
    sources did not change is left as it is; one whose source table was truncated is rebuilt);
    ``full`` rebuilds each from its sources. ``concurrently`` keeps a materialized view
    readable while it is rebuilt (the usual case: analysts may be reading); without it the
    rebuild is faster but blocks readers of that rollup.
    """
    wanted = _check_names(names)
    require_writable(conn, "refreshing rollups")
    _require_present(conn, wanted)
    statement = _REFRESH_ROLLUP_FULL if full else _REFRESH_ROLLUP
    done = []
    for name in wanted:
        seconds = conn.execute(statement, {"name": name, "concurrently": concurrently}).scalar_one()
        record = conn.execute(_REFRESH_RECORD, {"name": name}).one()
        rows = record.row_count
        if rows is None:  # a record from before migration 0006's first refresh
            rows = conn.execute(select(func.count()).select_from(table(name))).scalar_one()
        done.append(
            RollupRefresh(
                name,
                float(seconds),
                int(rows),
                mode=str(record.mode),
                reason=record.reason,
                changes=int(record.changes or 0),
            )
        )
    return done


def refresh_rollups(
    engine: Engine,
    names: Sequence[str] | None = None,
    *,
    concurrently: bool = True,
    full: bool = False,
    progress: Progress = _ignore,
) -> list[RollupRefresh]:
    """Refresh rollups (default: all), each in its own committed transaction: what changed
    since its last refresh, or with ``full`` a rebuild (:func:`refresh_rollups_in`).

    One transaction per rollup, so a failure keeps the rollups already refreshed and readers
    see each new summary as soon as it is ready, never one half-updated. ``engine`` must be
    writable. A missing rollup (:class:`~iwm_lab.exceptions.RollupMissing`) is refused before
    any is refreshed.
    """
    wanted = _check_names(names)
    with engine.connect() as conn:
        _require_present(conn, wanted)
    done = []
    for name in wanted:
        with engine.begin() as conn:
            [step] = refresh_rollups_in(conn, [name], concurrently=concurrently, full=full)
        progress(step)
        done.append(step)
    return done


def refresh_trending_topics(
    conn: Connection, *, window: str = "7d", as_of: Moment | None = None
) -> pd.DataFrame:
    """Recompute one window of ``trending_topics`` as of ``as_of``, and return its new rows.

    Runs the SQL function ``refresh_trending_topics(window, as_of)`` (migration 0003), which
    replaces the window's rows with the top 50 tags of the pulses created in the 7 or 30 days
    up to ``as_of`` (a datetime, date or ISO string; default: the transaction's
    ``localtimestamp``), stores ``as_of`` as their ``computed_at`` and records the refresh
    (:func:`iwm_lab.queries.trending.trending_refreshes`). ``conn`` must be writable
    (``iwm_lab.connect(writable=True)``); a read-only one raises
    :class:`iwm_lab.exceptions.ReadOnlySessionError` before anything runs. When ``conn`` has
    no transaction open, the refresh runs in its own and is committed; inside a transaction
    already open on ``conn`` (including one begun implicitly by an earlier query) it is left
    to the caller to commit.

    Returns what :func:`iwm_lab.queries.trending.trending_topics` returns for the window
    (columns ``tag``, ``category``, ``window_label``, ``count``, ``computed_at``), read in the
    same transaction.
    """
    check_choice(window, TRENDING_WINDOWS, "window")
    moment = None if as_of is None else check_moment(as_of, "as_of")
    if not conn.in_transaction():
        with conn.begin():
            return _refresh_trending(conn, window, moment)
    return _refresh_trending(conn, window, moment)


def _refresh_trending(conn: Connection, window: str, as_of: datetime | None) -> pd.DataFrame:
    require_writable(conn, "refresh_trending_topics")
    if as_of is None:
        conn.execute(_REFRESH_TRENDING, {"window": window})
    else:
        conn.execute(_REFRESH_TRENDING_AS_OF, {"window": window, "as_of": as_of})
    return trending_topics(conn, window=window, limit=_TOPICS)


def refresh_trending_windows(
    conn: Connection, *, as_of: Moment | None = None, progress: Progress = _ignore
) -> list[TrendingRefresh]:
    """:func:`refresh_trending_topics` of every window (``7d``, ``30d``), shortest first, as
    of the same moment. Each window commits on its own unless a transaction is open on
    ``conn``."""
    moment = None if as_of is None else check_moment(as_of, "as_of")
    done = []
    for window in TRENDING_WINDOWS:
        step = TrendingRefresh(window, refresh_trending_topics(conn, window=window, as_of=moment))
        progress(step)
        done.append(step)
    return done


def refresh_all(
    engine: Engine,
    *,
    concurrently: bool = True,
    full: bool = False,
    as_of: Moment | None = None,
    progress: Progress = _ignore,
) -> Refreshed:
    """Every rollup (:func:`refresh_rollups`: what changed, or with ``full`` a rebuild), then
    the trending topics of every window as of ``as_of`` (default: the database's clock;
    :func:`refresh_trending_windows`).

    What ``iwm-lab db refresh`` runs, and ``iwm-lab demo`` on a database it reuses.
    ``engine`` must be writable: the writer role is enough.
    """
    moment = None if as_of is None else check_moment(as_of, "as_of")
    rollups = refresh_rollups(engine, concurrently=concurrently, full=full, progress=progress)
    with engine.connect() as conn:
        trending = refresh_trending_windows(conn, as_of=moment, progress=progress)
    return Refreshed(rollups, trending)


def _as_literal_sql(statement: TextClause) -> str:
    """``statement`` with its parameters rendered as quoted literals, for a server that runs
    it later with nothing to bind them (pg_cron)."""
    compiled = statement.compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def scheduled_jobs() -> list[CronJob]:
    """The pg_cron jobs ``iwm-lab db upgrade`` schedules where the server has pg_cron: each
    trending window daily at midnight (as of the moment the job runs), every rollup the
    database lists hourly at five past (incrementally: what changed in the hour)."""
    jobs = [
        CronJob(
            f"iwm-refresh-trending-{window}",
            "0 0 * * *",
            _as_literal_sql(_REFRESH_TRENDING.bindparams(window=window)),
        )
        for window in TRENDING_WINDOWS
    ]
    jobs.append(CronJob("iwm-refresh-rollups", "5 * * * *", str(_REFRESH_LISTED_ROLLUPS)))
    return jobs
