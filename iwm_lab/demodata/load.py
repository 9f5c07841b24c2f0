"""Bulk loading: COPY streaming from a generator process, index and constraint handling.

The whole load is one transaction, so a failure leaves the database as it was. Inside it:

1. the tables are locked, checked for rows and truncated, which also lets ``COPY ... FREEZE``
   write rows already frozen and all-visible (no hint-bit rewrite of every page on first
   read, index-only scans at once). Like TRUNCATE itself this is not MVCC-safe: a
   transaction whose snapshot predates the commit sees the new rows;
2. foreign keys, primary/unique keys and indexes are dropped, after their exact definitions
   are read from the catalog (measured on reviews: COPY with them all runs at ~36k rows/s,
   without them at ~400k rows/s, and rebuilding costs far less than the difference);
3. a CHECKPOINT (for big loads), then a forked process generates and renders chunks into a
   small ring of shared buffers while this one streams them with COPY, so the generator's
   Python never holds up the thread feeding the socket (where this process cannot fork
   safely, a thread generates instead; memory stays flat either way);
4. keys, indexes and then foreign keys are restored (adding a foreign key validates every
   row), the partitioned twins are filled with INSERT ... SELECT, statistics gathered.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import psycopg
from psycopg import sql

from iwm_lab.demodata.generate import Chunk, ChunkStream, can_fork, in_process, in_thread
from iwm_lab.rollups import CHANGE_TRIGGERS

Statement = sql.SQL | sql.Composed
Labelled = list[tuple[str, Statement]]

# Session settings for the load, all transaction-local. Parallel workers speed up index
# builds; large maintenance_work_mem lets each build sort in memory.
SESSION_SETTINGS = {
    "statement_timeout": "0",
    "synchronous_commit": "off",
    "maintenance_work_mem": "512MB",
    "max_parallel_maintenance_workers": "2",
    "work_mem": "256MB",
}
LOCK_TIMEOUT = "10s"
# When the generator is a thread: while COPY runs, the thread feeding the socket must get
# the GIL back from it quickly each time the socket drains, or the server sits idle:
# Python's default switch interval (5 ms) is longer than the server takes to consume a
# socket buffer.
COPY_SWITCH_INTERVAL = 0.0005
# Loads of this many rows or more start with a CHECKPOINT (see copy_chunks); smaller ones
# write too little WAL to meet one.
CHECKPOINT_ROWS = 1_000_000
# The partitioned twins and the tables they copy.
TWINS = {"reviews_partitioned": "reviews", "pulses_partitioned": "pulses"}
_TWINNED = frozenset(TWINS.values())


@dataclass
class TableLoad:
    """What loading one table took. ``seconds`` is COPY wall time; ``generate_seconds`` the
    generator thread's time for the same rows (overlapping it); ``wait_seconds`` how long COPY
    sat idle waiting for the generator."""

    table: str
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    generate_seconds: float = 0.0
    wait_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Definitions:
    """DDL to drop and later restore every key, index and foreign key of some tables."""

    drop: list[Statement]
    restore_keys: Labelled
    restore_indexes: Labelled
    restore_foreign_keys: Labelled


def set_session(conn: psycopg.Connection[Any]) -> None:
    for name, value in SESSION_SETTINGS.items():
        conn.execute("select set_config(%s, %s, true)", [name, value])


def lock_tables(conn: psycopg.Connection[Any], tables: Iterable[str]) -> None:
    """Take every table exclusively, waiting at most LOCK_TIMEOUT for other sessions."""
    conn.execute("select set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
    names = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
    conn.execute(sql.SQL("lock table {} in access exclusive mode").format(names))
    conn.execute("select set_config('lock_timeout', '0', true)")


def tables_with_rows(conn: psycopg.Connection[Any], tables: Iterable[str]) -> list[str]:
    found = []
    for table in tables:
        query = sql.SQL("select exists (select from {})").format(sql.Identifier(table))
        row = conn.execute(query).fetchone()
        if row and row[0]:
            found.append(table)
    return found


def truncate(conn: psycopg.Connection[Any], tables: Iterable[str]) -> None:
    """Empty ``tables`` and restart their id sequences. Without CASCADE: a table outside the
    list that references one of them makes this fail rather than be emptied unasked."""
    names = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
    conn.execute(sql.SQL("truncate {} restart identity").format(names))


def definitions(conn: psycopg.Connection[Any], tables: Iterable[str]) -> Definitions:
    """Read the keys, indexes and foreign keys of ``tables`` as the catalog has them."""
    oids = [_oid(conn, t) for t in tables]
    constraints = conn.execute(
        "select conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
        "from pg_constraint where conrelid = any(%s) and contype in ('p', 'u', 'f') "
        "and conparentid = 0 order by conrelid, conname",
        [oids],
    ).fetchall()
    indexes = conn.execute(
        "select indrelid::regclass::text, indexrelid::regclass::text, "
        "pg_get_indexdef(indexrelid) from pg_index i where indrelid = any(%s) "
        "and not exists (select from pg_constraint c where c.conindid = i.indexrelid "
        "and c.conrelid = i.indrelid) order by indrelid, indexrelid",
        [oids],
    ).fetchall()
    drop: list[Statement] = []
    keys: Labelled = []
    fks: Labelled = []
    # Foreign keys are dropped first: they depend on the referenced tables' keys.
    for table, name, kind, definition in sorted(constraints, key=lambda c: c[2] != "f"):
        drop.append(
            sql.SQL("alter table {} drop constraint {}").format(
                sql.Identifier(table), sql.Identifier(name)
            )
        )
        add = sql.SQL("alter table {} add constraint {} {}").format(
            sql.Identifier(table), sql.Identifier(name), sql.SQL(definition)
        )
        (fks if kind == "f" else keys).append((f"{table}.{name}", add))
    rebuild: Labelled = []
    for table, name, definition in indexes:
        drop.append(sql.SQL("drop index {}").format(sql.Identifier(name)))
        # On a partitioned table the catalog says ON ONLY; creating the index on the parent
        # without ONLY builds it on every partition too.
        rebuild.append((f"{table}.{name}", sql.SQL(definition.replace(" ON ONLY ", " ON ", 1))))
    return Definitions(drop, keys, rebuild, fks)


def _oid(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute("select to_regclass(%s)::oid", [table]).fetchone()
    if row is None or row[0] is None:
        raise LookupError(f"table {table!r} not found")
    return int(row[0])


def run_all(
    conn: psycopg.Connection[Any],
    statements: Sequence[tuple[str, Statement]],
    progress: Callable[[str], None],
) -> dict[str, float]:
    """Execute labelled statements in order; seconds each took, by label."""
    seconds = {}
    for label, statement in statements:
        progress(label)
        started = time.perf_counter()
        conn.execute(statement)
        seconds[label] = time.perf_counter() - started
    return seconds


def reset_sequences(conn: psycopg.Connection[Any], tables: Iterable[str]) -> None:
    """Point each serial id's sequence past the loaded ids, so later inserts do not collide."""
    for table in tables:
        row = conn.execute(
            "select pg_get_serial_sequence(%s, 'id') from pg_attribute "
            "where attrelid = to_regclass(%s) and attname = 'id'",
            [table, table],
        ).fetchone()
        if row is None or row[0] is None:
            continue
        query = sql.SQL("select setval(%s, coalesce(max(id), 0) + 1, false) from {}").format(
            sql.Identifier(table)
        )
        conn.execute(query, [row[0]])


def checkpoint(conn: psycopg.Connection[Any]) -> bool:
    """Run a CHECKPOINT if this role may (a superuser or a member of ``pg_checkpoint``);
    whether it ran."""
    row = conn.execute(
        "select rolsuper or pg_has_role(current_user, 'pg_checkpoint', 'member') "
        "from pg_roles where rolname = current_user"
    ).fetchone()
    if not (row and row[0]):
        return False
    conn.execute("checkpoint")
    return True


def copy_chunks(
    conn: psycopg.Connection[Any],
    chunks: Iterator[Chunk],
    *,
    expected: dict[str, int],
    progress: bool,
    freeze: bool = True,
    process: bool | None = None,
    fresh_checkpoint: bool | None = None,
    tee: Callable[[Chunk], None] | None = None,
) -> list[TableLoad]:
    """COPY every chunk into its table, generating the next ones meanwhile: in a forked
    process if ``process`` (by default when ``chunks`` is a :class:`ChunkStream` and
    :func:`can_fork`), else in a thread. ``tee`` is also given each chunk of the tables that
    have partitioned twins (:data:`TWINS`), before it is written.

    With ``fresh_checkpoint`` (by default when ``expected`` adds up to
    :data:`CHECKPOINT_ROWS` or more), and the right to, a CHECKPOINT comes first: the COPYs then
    start a checkpoint cycle of their own, and the WAL they write (about the size of the
    tables) triggers the next one only after ``max_wal_size / (1 +
    checkpoint_completion_target)`` of it (the embedded server's 8 GB: past every table of
    ``large``). A checkpoint during COPY flushes and fsyncs what the load wrote since the
    last, stalling it for seconds."""
    if fresh_checkpoint is None:
        fresh_checkpoint = sum(expected.values()) >= CHECKPOINT_ROWS
    if fresh_checkpoint:
        checkpoint(conn)
    if process is None:
        process = isinstance(chunks, ChunkStream) and can_fork()
    loads: list[TableLoad] = []
    if process:
        if not isinstance(chunks, ChunkStream):
            raise TypeError("only a ChunkStream can be generated in another process")
        with in_process(chunks) as take:
            _copy_tables(conn, take, expected, progress, freeze, loads, tee)
        return loads
    interval = sys.getswitchinterval()
    sys.setswitchinterval(COPY_SWITCH_INTERVAL)
    try:
        with in_thread(chunks) as take:
            _copy_tables(conn, take, expected, progress, freeze, loads, tee)
    finally:
        sys.setswitchinterval(interval)
    return loads


def _copy_tables(
    conn: psycopg.Connection[Any],
    take: Callable[[], Chunk | None],
    expected: dict[str, int],
    progress: bool,
    freeze: bool,
    loads: list[TableLoad],
    tee: Callable[[Chunk], None] | None,
) -> None:
    waited = 0.0

    def stream() -> Iterator[Chunk]:
        nonlocal waited
        while True:
            started = time.perf_counter()
            chunk = take()
            waited += time.perf_counter() - started
            if chunk is None:
                return
            yield chunk

    for table, group in groupby(stream(), key=lambda c: c.table):
        load = TableLoad(table)
        started, waited_before = time.perf_counter(), waited
        first = next(group)
        statement = sql.SQL("copy {} ({}) from stdin{}").format(
            sql.Identifier(table),
            sql.SQL(", ").join(sql.Identifier(c) for c in first.columns),
            sql.SQL(" with (freeze)" if freeze else ""),
        )
        with (
            _bar(table, expected.get(table), progress) as advance,
            conn.cursor().copy(statement) as copy,
        ):
            for chunk in _chain(first, group):
                if chunk.columns != first.columns:
                    raise RuntimeError(f"chunk of {table} has different columns")
                if tee is not None and table in _TWINNED:
                    tee(chunk)
                copy.write(memoryview(chunk.data))
                load.rows += chunk.rows
                load.bytes += len(chunk.data)
                load.generate_seconds += chunk.seconds
                advance(chunk.rows)
        load.seconds = time.perf_counter() - started
        load.wait_seconds = waited - waited_before
        loads.append(load)


def _chain[T](first: T, rest: Iterator[T]) -> Iterator[T]:
    yield first
    yield from rest


@contextmanager
def _bar(table: str, total: int | None, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A tqdm bar (rows, rows/s) on stderr, shown only when loading takes over half a second."""
    if not enabled:
        yield lambda _rows: None
        return
    from tqdm import tqdm

    with tqdm(
        total=total,
        desc=f"{table:<24}",
        unit=" rows",
        unit_scale=True,
        delay=0.5,
        file=sys.stderr,
        dynamic_ncols=True,
    ) as bar:
        yield bar.update
        # Sampled tables end near, not at, the expected count: show the real one.
        bar.total = bar.n


@contextmanager
def step_bar(label: str, steps: int, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A tqdm bar over DDL statements (index builds), naming the current one."""
    if not enabled:
        yield lambda _name: None
        return
    from tqdm import tqdm

    with tqdm(
        total=steps,
        desc=f"{label:<24}",
        unit=" step",
        delay=0.5,
        file=sys.stderr,
        dynamic_ncols=True,
    ) as bar:
        first = True

        def advance(name: str) -> None:
            nonlocal first
            if not first:
                bar.update(1)
            first = False
            bar.set_postfix_str(name, refresh=False)

        yield advance
        if not first:
            bar.update(1)


def switch_change_triggers(conn: psycopg.Connection[Any], *, enable: bool) -> None:
    """Enable or disable the rollups' change-log triggers (:data:`iwm_lab.rollups.
    CHANGE_TRIGGERS`) on their tables, in the open transaction (the seeder owns the tables and
    holds them locked); the benchmark's raw COPY does the same, to compare like with like."""
    action = sql.SQL("enable" if enable else "disable")
    for table, triggers in CHANGE_TRIGGERS.items():
        for trigger in triggers:
            conn.execute(
                sql.SQL("alter table {} {} trigger {}").format(
                    sql.Identifier(table), action, sql.Identifier(trigger)
                )
            )
