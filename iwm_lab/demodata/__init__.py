"""Demo data: a realistic, reproducible iwm database at three scales, loaded with COPY.

>>> from iwm_lab.demodata import seed_database
>>> report = seed_database(get_engine(url, writable=True), scale="small")
>>> print(report.describe())

Every date is relative to ``as_of``, the moment the data runs up to: by default the moment
the seeder runs, so the demo shows live data on any day (the latest reviews and pulses are
minutes old, the burst of trending tags is this week's). The same scale, seed and ``as_of``
always give the same rows; pass a fixed ``as_of`` for data that must not change, as the tiny
dataset behind the notebooks' stored outputs does (:data:`NOTEBOOK_AS_OF`). The trending
refresh at the end counts its 7- and 30-day windows back from ``as_of`` too, so a dataset
dated in the past still has its trending list.

The platform areas (awards and festivals, box office, discovery, quizzes, the talent hub,
moderation) are filled in the same load, consistent with the catalogue and the activity:
nominations only for films out before the ceremony and people credited in the category's
role, grosses adding up to each film's revenue, quiz scores counting the right answers,
moderation in time order. Things that happened are dated up to ``as_of``; plans (an open
casting call's deadline, a suspension's end) may lie after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from iwm_lab.database import describe_url, require_writable
from iwm_lab.demodata import load, social, tallies, twins
from iwm_lab.demodata.generate import ROLLUP_SOURCES, SOURCES, chunks
from iwm_lab.demodata.scales import NOTEBOOK_AS_OF, SCALES, Scale, get_scale
from iwm_lab.demodata.world import build_world
from iwm_lab.destructive import Confirm, Loss, TableRows, embedded_mismatch
from iwm_lab.exceptions import OptionNeeded, SeedError
from iwm_lab.rollups import CHANGE_LOG, ROLLUP_STATE_TABLES, ROLLUPS, TABLE_ROLLUPS
from iwm_lab.server import is_embedded

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "NOTEBOOK_AS_OF",
    "SCALES",
    "Scale",
    "SeedNeedsOption",
    "SeedReport",
    "TableLoad",
    "check_as_of",
    "default_as_of",
    "seed_database",
]

TableLoad = load.TableLoad
PHASES = (
    "prepare",
    "generate",
    "copy",
    "index",
    "twins",
    "analyze",
    "refresh",
    "rollups",
    "commit",
)
# Above this many review and pulse rows, the twins' keys and indexes are dropped for the
# INSERT and rebuilt afterwards.
TWIN_REBUILD_ROWS = 500_000


class SeedNeedsOption(OptionNeeded, SeedError):
    """The seeder refused a database that one of its keyword arguments (``option``:
    ``reset`` or ``allow_external``) would let it fill."""


@dataclass
class SeedReport:
    """What :func:`seed_database` loaded and how long each part took.

    ``tables`` maps each table to its :class:`TableLoad` (rows, COPY seconds, ...); the
    twins and ``trending_topics`` are in ``extra_rows``. ``phases`` holds seconds of:
    prepare (shared attributes, password hashes, truncation, dropping keys and indexes),
    generate (generator thread, overlapping copy), copy, index (keys, indexes, foreign keys),
    twins (waiting for the twins' session at the end: it fills them alongside, see
    :mod:`.twins`; its statements in ``steps``, all its time in ``twins_seconds``), analyze,
    refresh (trending topics), rollups (the rollups of :mod:`iwm_lab.rollups`
    rebuilt, or for the four counted while generating (:mod:`.tallies`, loaded by COPY with
    the tables; in ``extra_rows`` as "<table> (counted)") recorded as loaded, then analysed)
    and commit; ``steps`` the seconds of each statement of the index, twins and analyze phases,
    of each rollup refresh and of each counted rollup's COPY, by label.
    """

    scale: str
    seed: int
    as_of: datetime
    tables: dict[str, TableLoad] = field(default_factory=dict)
    extra_rows: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)
    twins_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Rows loaded with COPY, over all tables (twins and trending topics not counted)."""
        return sum(t.rows for t in self.tables.values())

    def describe(self) -> str:
        """A plain-text table of rows and rates per table, then the phases."""
        lines = [f"{'table':<26}{'rows':>11}{'seconds':>9}{'rows/s':>11}{'MB':>8}"]
        for t in self.tables.values():
            lines.append(
                f"{t.table:<26}{t.rows:>11,}{t.seconds:>9.2f}{t.rows_per_second:>11,.0f}"
                f"{t.bytes / 1e6:>8.1f}"
            )
        for name, rows in self.extra_rows.items():
            lines.append(f"{name:<26}{rows:>11,}")
        phases = ", ".join(f"{name} {self.phases.get(name, 0.0):.1f}s" for name in PHASES)
        lines.append(
            f"phases: {phases} (generate overlaps copy; the twins' session, "
            f"{self.twins_seconds:.1f}s, overlaps copy to rollups)"
        )
        lines.append(
            f"total: {self.rows:,} rows in {self.total_seconds:.1f}s "
            f"(scale {self.scale}, seed {self.seed}, as_of {self.as_of:%Y-%m-%d %H:%M})"
        )
        return "\n".join(lines)


def default_as_of() -> datetime:
    """Now, to the second, as the naive UTC timestamp the tables store: the moment demo data
    runs up to unless told otherwise."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def check_as_of(value: datetime | date | str, name: str = "as_of") -> datetime:
    """A moment demo data can run up to: ``value`` as :func:`check_moment
    <iwm_lab.queries._common.check_moment>` reads it (a date is its midnight, aware times
    are taken in UTC), to the second, and not in the future. ``ValueError`` otherwise."""
    from iwm_lab.queries._common import check_moment

    # To the second: the generator drops fractions, and the trending windows must end where
    # the data does.
    moment = check_moment(value, name).replace(microsecond=0)
    now = default_as_of()
    if moment > now:
        shown = value if isinstance(value, str) else moment.isoformat(sep=" ")
        raise ValueError(
            f"{name} must not lie in the future, got {shown!r} (now is {now:%Y-%m-%d %H:%M} UTC)"
        )
    return moment


def seed_database(
    engine: Engine,
    *,
    scale: str = "small",
    seed: int = 42,
    reset: bool = False,
    allow_external: bool = False,
    progress: bool = True,
    as_of: datetime | date | str | None = None,
    confirm: Confirm | None = None,
) -> SeedReport:
    """Fill every table of a migrated database with synthetic demo data, in one transaction
    (and the partitioned twins in a second, committed right after it: :mod:`.twins`).

    ``scale`` is one of :data:`SCALES` (tiny ~200 movies, small ~5,000 movies and 100k
    reviews, large ~100k movies and 5M reviews). ``as_of`` is the moment the data runs up to
    (a ``datetime``, a ``date`` for its midnight, or an ISO string; aware times are taken in
    UTC, the time zone timestamps are stored in; to the second): by default now
    (:func:`default_as_of`). Refuses a database that is not at the head revision
    (:class:`~iwm_lab.exceptions.SchemaNotReady`), a read-only session
    (:class:`~iwm_lab.exceptions.ReadOnlySessionError`), one that holds rows unless ``reset``
    (which replaces them), and any database but the embedded server unless ``allow_external``
    (:class:`SeedNeedsOption` says which). ``reset`` without ``allow_external``
    empties only the embedded server's demo database (``iwm``), the server recognised by its
    cluster's system identifier and data directory (:func:`iwm_lab.destructive.
    embedded_mismatch`); when it would delete rows, ``confirm`` (if given) is called with
    the :class:`~iwm_lab.destructive.Loss`, tables locked, and may raise to keep them.
    The partitioned twins get the rows of ``reviews`` and ``pulses``; trending topics are
    refreshed for 7d and 30d counting back from ``as_of``; every table is analysed.
    ``progress`` shows per-table bars on stderr.
    """
    from iwm_lab.migrate import require_head  # imports Alembic; keep it off the package path

    spec = get_scale(scale)
    as_of = default_as_of() if as_of is None else check_as_of(as_of)
    where = describe_url(engine.url)
    if not allow_external and not is_embedded(engine.url):
        raise SeedNeedsOption(
            f"{where} is not the embedded demo server; demo data would mix with real data",
            option="allow_external",
            remedy="if this database is meant for it",
        )
    if reset and not allow_external:
        from iwm_lab.settings import get_settings

        data_dir = get_settings().data_dir
        mismatch = embedded_mismatch(engine, data_dir)
        if mismatch is not None:
            raise SeedNeedsOption(
                f"a reset empties only the embedded demo database ('iwm' on the embedded "
                f"server in {data_dir}), and {where} is not it: {mismatch}",
                option="allow_external",
                remedy="if its data may be deleted",
            )
    # The live revision, not one this process saw earlier: the load runs against it now.
    require_head(engine, cached=False)
    started = time.perf_counter()
    report = SeedReport(scale=spec.name, seed=seed, as_of=as_of)
    _run(engine, spec, seed, as_of, reset, progress, report, where, confirm)
    report.total_seconds = time.perf_counter() - started
    return report


def _run(
    engine: Engine,
    spec: Scale,
    seed: int,
    as_of: datetime,
    reset: bool,
    progress: bool,
    report: SeedReport,
    where: str,
    confirm: Confirm | None,
) -> None:
    import psycopg

    from iwm_lab import operations
    from iwm_lab.models import Base

    base_tables = [t.name for t in Base.metadata.sorted_tables]
    twin_tables = list(load.TWINS)
    # Derived, so replaced whatever they hold: the table rollups and score_counts' histogram.
    rollup_tables = [*TABLE_ROLLUPS, *(t for t in ROLLUP_STATE_TABLES if t != CHANGE_LOG)]
    phase = report.phases
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phase[name] = phase.get(name, 0.0) + now - clock
        clock = now

    world = build_world(spec, seed, as_of)
    lap("prepare")
    # Two sessions: the seeder's, one transaction for SQLAlchemy (the refreshes run on it) and
    # the psycopg connection that COPYs; and the twins' (:mod:`.twins`), whose transaction
    # commits right after the seeder's, or rolls back with it.
    with engine.connect() as twin_session, twin_session.begin():
        with engine.connect() as session, session.begin():
            require_writable(session, "seeding demo data")
            conn = _driver(session)
            twin_conn = _driver(twin_session)
            for each in (conn, twin_conn):
                load.set_session(each)
            try:
                load.lock_tables(conn, base_tables + rollup_tables)
                load.lock_tables(twin_conn, twin_tables)
            except psycopg.errors.LockNotAvailable:
                raise SeedError(
                    f"the tables of {where} are in use by another session (an open notebook "
                    "transaction?); close it and try again"
                ) from None
            # Any lock the twins' session waits for now is the seeder's own session's, which
            # holds every other table: a wait nobody would end, as this thread drives both.
            twin_conn.execute("select set_config('lock_timeout', %s, true)", [load.LOCK_TIMEOUT])
            # The rollups' change-log triggers would copy every loaded row into a transition
            # table, seconds at scale large; the rollups are rebuilt in full at the end
            # instead. Back on before the commit: no other session ever sees them off.
            load.switch_change_triggers(conn, enable=False)
            filled = load.tables_with_rows(conn, base_tables)
            filled_twins = load.tables_with_rows(twin_conn, twin_tables)
            if (filled or filled_twins) and not reset:
                shown = ", ".join([*filled, *filled_twins][:5])
                more = ", ..." if len(filled) + len(filled_twins) > 5 else ""
                raise SeedNeedsOption(
                    f"{where} already holds data ({shown}{more})",
                    option="reset",
                    remedy="to replace it with demo data",
                )
            if (filled or filled_twins) and confirm is not None:
                # Asked with the tables locked: what is listed is exactly what goes.
                counts = [TableRows(n, _row_count(conn, n)) for n in filled]
                counts += [TableRows(n, _row_count(twin_conn, n)) for n in filled_twins]
                confirm(Loss("seed --reset", where, tuple(c for c in counts if c.rows)))
            # Partitions for every month and year the twins will receive rows for; before the
            # truncation below, which locks the sequence their ids' default reads.
            twin_conn.execute("select iwm_ensure_partitions(%s::date)", [as_of])
            # Base tables always: COPY FREEZE needs them truncated in this transaction. The
            # twins have ~65 partitions, whose truncation alone takes a second or two.
            load.truncate(conn, base_tables + rollup_tables)
            if filled_twins:
                load.truncate(twin_conn, filled_twins)
            # Rebuilding the twins' indexes means one build per partition (~600 at any
            # scale): slower than keeping them, unless many rows go in.
            big = spec.reviews + spec.pulses > TWIN_REBUILD_ROWS
            ddl = load.definitions(conn, base_tables)
            twin_ddl = load.definitions(twin_conn, twin_tables if big else [])
            # The table rollups are filled without their keys and indexes too (at scale large,
            # pulse_tag_hours' 820k rows took 13.5 s to insert into its three indexes, about
            # 1 s into the bare table and 2 to 3 s more to build the indexes).
            rollup_ddl = load.definitions(conn, rollup_tables)
            for statement in ddl.drop + rollup_ddl.drop:
                conn.execute(statement)
            for statement in twin_ddl.drop:
                twin_conn.execute(statement)
            lap("prepare")

            # Four rollups are counted as the rows are generated, and loaded after them.
            tallies.attach(world, tallies.read_basis(conn, social.tag_spellings(world)))
            sources = SOURCES + ROLLUP_SOURCES
            expected = {s.table: s.expected_rows(world) for s in sources}
            restore_twins = twin_ddl.restore_keys + twin_ddl.restore_indexes
            with twins.filling(twin_conn, restore_twins) as filler:
                stream = chunks(world, sources)
                loads = load.copy_chunks(
                    conn, stream, expected=expected, progress=progress, tee=filler.put
                )
                report.tables = {t.table: t for t in loads if t.table not in tallies.LOADED_TABLES}
                for counted in (t for t in loads if t.table in tallies.LOADED_TABLES):
                    report.extra_rows[f"{counted.table} (counted)"] = counted.rows
                    report.steps[f"{counted.table} copy"] = counted.seconds
                filler.close()
                phase["generate"] = sum(t.generate_seconds for t in loads)
                lap("copy")

                steps = ddl.restore_keys + ddl.restore_indexes + ddl.restore_foreign_keys
                with load.step_bar("keys and indexes", len(steps), progress) as advance:
                    report.steps.update(load.run_all(conn, steps, advance))
                load.reset_sequences(conn, base_tables)
                lap("index")

                # Statistics first: the refresh's query over pulses is planned with them.
                analyze = [
                    (
                        f"{t} analyze",
                        psycopg.sql.SQL("analyze {}").format(psycopg.sql.Identifier(t)),
                    )
                    for t in base_tables
                    if t != "trending_topics"
                ]
                report.steps.update(load.run_all(conn, analyze, lambda _label: None))
                lap("analyze")
                # Trending windows end where the data does, not at the database's clock.
                for step in operations.refresh_trending_windows(session, as_of=as_of):
                    report.extra_rows[f"trending_topics {step.window}"] = len(step.topics)
                conn.execute("analyze trending_topics")
                lap("refresh")
                load.switch_change_triggers(conn, enable=True)
                # Whatever the log held described rows that are gone: every rollup is rebuilt.
                conn.execute(
                    psycopg.sql.SQL("delete from {}").format(psycopg.sql.Identifier(CHANGE_LOG))
                )
                # The rest rebuilt from their sources, not concurrently: nobody else can read
                # these tables until the commit anyway.
                rebuilt = [name for name in ROLLUPS if name not in tallies.LOADED_ROLLUPS]
                refreshes = operations.refresh_rollups_in(
                    session, rebuilt, concurrently=False, full=True
                )
                for done in refreshes:
                    report.steps[f"{done.name} refresh"] = done.seconds
                for name in tallies.LOADED_ROLLUPS:
                    row = conn.execute("select iwm_rollup_loaded(%s)", [name]).fetchone()
                    report.steps[f"{name} loaded"] = float(row[0]) if row else 0.0
                rollup_steps = rollup_ddl.restore_keys + rollup_ddl.restore_indexes
                report.steps.update(load.run_all(conn, rollup_steps, lambda _label: None))
                lap("rollups")
                # Mostly done by now: the twins' session had less to do.
                filled_in = filler.finish()
                lap("twins")
            report.extra_rows.update(filled_in.rows)
            report.steps.update(filled_in.steps)
            report.twins_seconds = filled_in.busy
        lap("commit")
    lap("commit")


def _driver(session: Connection) -> psycopg.Connection[Any]:
    import psycopg

    conn = session.connection.driver_connection
    assert isinstance(conn, psycopg.Connection)
    return conn


def _row_count(conn: psycopg.Connection[Any], table: str) -> int:
    import psycopg

    query = psycopg.sql.SQL("select count(*) from {}").format(psycopg.sql.Identifier(table))
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0
