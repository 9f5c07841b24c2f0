"""Streaming replication between the embedded server and its standby, in SQL and pg_basebackup.

The pieces :mod:`iwm_lab.standby` puts together: whether the primary can feed a standby, its
physical replication slot (:data:`SLOT`), the copy that makes a standby, and what each
server says about the other (slot, WAL positions, replay lag). Every session here is the
owner's, over a server's socket (:func:`iwm_lab.server_process.connect_socket`).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from iwm_lab.database import REPLICA_LAG_SQL
from iwm_lab.exceptions import ServerError
from iwm_lab.server_process import Account, PidFile, connect_socket, first_line, last_line, run
from iwm_lab.settings import EMBEDDED_ROLE

SLOT = "iwm_standby"
# The standby's name in the primary's pg_stat_replication.
APPLICATION_NAME = "iwm_standby"


@dataclass(frozen=True)
class SlotStatus:
    """The standby's replication slot on the primary."""

    name: str
    active: bool  # a standby streams through it now
    retained_bytes: int | None  # WAL the primary keeps for it


@dataclass(frozen=True)
class StandbySide:
    """What the standby says about itself; the lag it can see alone."""

    in_recovery: bool
    streaming: bool  # its WAL receiver is connected to the primary
    lag_bytes: int | None  # received, not replayed yet
    lag_s: float | None
    replay_lsn: str | None
    since_replay_s: float | None  # since the commit of the last transaction it replayed


@dataclass(frozen=True)
class PrimarySide:
    """What the primary says about the standby."""

    slot: SlotStatus | None
    current_lsn: str  # the end of the WAL it has written
    replay_lag_s: float | None  # pg_stat_replication's measure, while it streams


def one(conn: psycopg.Connection[Any], query: str, params: list[Any] | None = None) -> Any:
    row = conn.execute(query.encode(), params).fetchone()
    return None if row is None else row[0]


def check_replication(primary: PidFile) -> None:
    """Refuse a primary that cannot feed a standby, naming the setting to change."""
    try:
        with connect_socket(primary.socket_dir, primary.port, "postgres") as conn:
            level = one(conn, "select current_setting('wal_level')")
            senders = int(one(conn, "select current_setting('max_wal_senders')"))
            slots = int(one(conn, "select current_setting('max_replication_slots')"))
    except psycopg.Error as exc:
        raise ServerError(
            f"cannot read the embedded server's settings: {first_line(exc)}"
        ) from None
    wrong = []
    if level not in ("replica", "logical"):
        wrong.append(f"wal_level is {level!r} (needs 'replica')")
    if senders < 1:
        wrong.append("max_wal_senders is 0 (needs at least 1)")
    if slots < 1:
        wrong.append("max_replication_slots is 0 (needs at least 1)")
    if wrong:
        raise ServerError(
            f"the embedded server cannot feed a standby: {'; '.join(wrong)}; change it with "
            "ALTER SYSTEM, then `iwm-lab db stop` and `iwm-lab db start`"
        )


def ensure_slot(primary: PidFile) -> bool:
    """Create the physical slot :data:`SLOT`, keeping WAL from now on; False if it existed."""
    create = (
        "select pg_create_physical_replication_slot(%s, true) "
        "where not exists (select from pg_replication_slots where slot_name = %s)"
    )
    kind_query = "select slot_type from pg_replication_slots where slot_name = %s"
    try:
        with connect_socket(primary.socket_dir, primary.port, "postgres") as conn:
            kind = one(conn, kind_query, [SLOT])
            if kind not in (None, "physical"):
                raise ServerError(f"the embedded server's slot {SLOT} is a {kind} one; drop it")
            return conn.execute(create.encode(), [SLOT, SLOT]).fetchone() is not None
    except psycopg.Error as exc:
        raise ServerError(f"cannot create the replication slot {SLOT}: {first_line(exc)}") from None


def drop_slot(primary: PidFile, timeout: float) -> bool:
    """Drop the slot; True if there was one. The sender of a standby that just stopped may
    hold it for a moment."""
    deadline = time.monotonic() + timeout
    query = (
        "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = %s"
    )
    try:
        with connect_socket(primary.socket_dir, primary.port, "postgres") as conn:
            while True:
                try:
                    return conn.execute(query.encode(), [SLOT]).fetchone() is not None
                except psycopg.errors.ObjectInUse:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
    except psycopg.Error as exc:
        raise ServerError(f"cannot drop the replication slot {SLOT}: {first_line(exc)}") from None


def base_backup(
    tree: Path, account: Account | None, primary: PidFile, target: Path, timeout: float
) -> None:
    """Copy the primary into ``target`` as a standby (``pg_basebackup -R`` through the slot):
    into a side folder first, renamed when complete, so that a copy cut short never looks
    like a standby."""
    ensure_slot(primary)
    partial = target.with_name(f"{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    args = [str(tree / "bin" / "pg_basebackup"), "-h", primary.socket_dir, "-p", str(primary.port)]
    args += ["-U", EMBEDDED_ROLE, "-w", "-D", str(partial), "-R", "-S", SLOT, "-X", "stream"]
    # A fast checkpoint: the copy starts now, not at the next scheduled checkpoint.
    args += ["-c", "fast"]
    done = run(args, account, timeout=timeout, tree=tree)
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise ServerError(f"pg_basebackup could not copy the embedded server: {last_line(done)}")
    partial.rename(target)


def primary_side(primary: PidFile) -> PrimarySide | None:
    """The slot, the primary's WAL position and the standby's replay lag as the primary
    measures it; None when the primary does not answer."""
    slot_query = (
        "select active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
        "from pg_replication_slots where slot_name = %s"
    )
    lag_query = (
        "select extract(epoch from replay_lag)::float8 from pg_stat_replication "
        "where application_name = %s order by backend_start desc limit 1"
    )
    try:
        with connect_socket(primary.socket_dir, primary.port, "postgres") as conn:
            row = conn.execute(slot_query.encode(), [SLOT]).fetchone()
            current = one(conn, "select pg_current_wal_lsn()::text")
            lag = one(conn, lag_query, [APPLICATION_NAME])
    except psycopg.Error:
        return None
    slot = None if row is None else SlotStatus(SLOT, bool(row[0]), row[1])
    return PrimarySide(slot, str(current), None if lag is None else float(lag))


def standby_side(standby: PidFile) -> StandbySide | None:
    """What the standby says (:data:`iwm_lab.database.REPLICA_LAG_SQL` and its replay
    position); None when it does not answer."""
    try:
        with connect_socket(standby.socket_dir, standby.port, "postgres") as conn:
            row = conn.execute(REPLICA_LAG_SQL.encode()).fetchone()
            streaming = one(conn, "select exists (select from pg_stat_wal_receiver)")
            replay = one(conn, "select pg_last_wal_replay_lsn()::text")
            since = one(
                conn, "select extract(epoch from now() - pg_last_xact_replay_timestamp())::float8"
            )
    except psycopg.Error:
        return None
    if row is None:
        return None
    lag_s = None if row[2] is None else float(row[2])
    since_s = None if since is None else max(0.0, float(since))
    return StandbySide(bool(row[0]), bool(streaming), row[1], lag_s, replay, since_s)


def lsn_distance(primary: PidFile, ahead: str, behind: str) -> int | None:
    """Bytes of WAL from ``behind`` to ``ahead`` (0 when not ahead); None when the primary
    does not answer."""
    query = "select pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)::bigint"
    try:
        with connect_socket(primary.socket_dir, primary.port, "postgres") as conn:
            found = one(conn, query, [ahead, behind])
    except psycopg.Error:
        return None
    return max(0, int(found))


def wait_replayed(primary: PidFile, standby: PidFile, timeout: float, log_file: Path) -> float:
    """Wait until the standby has replayed all the primary had written when called; the
    seconds that took. :class:`ServerError` after ``timeout`` seconds.

    The primary is first made to flush its WAL, by committing synchronously a transaction
    that writes an empty logical-decoding message (a transaction id and about 100 bytes of
    WAL, ignored by a physical standby): it sends only what it flushed, and an asynchronous
    commit, or the records after the last commit, may otherwise wait in its memory for
    seconds. (A transaction that writes nothing before its commit record commits
    asynchronously whatever ``synchronous_commit`` says.)
    """
    began = time.perf_counter()
    try:
        with connect_socket(primary.socket_dir, primary.port, "postgres") as conn:
            conn.execute(b"set synchronous_commit = on")
            with conn.transaction():
                conn.execute(b"select pg_logical_emit_message(true, 'iwm-lab', '')")
            target = one(conn, "select pg_current_wal_flush_lsn()::text")
        with connect_socket(standby.socket_dir, standby.port, "postgres") as conn:
            while not one(conn, "select pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]):
                if time.perf_counter() - began > timeout:
                    raise ServerError(
                        f"the standby did not replay up to {target} within {timeout:g} s; "
                        f"see {log_file}"
                    )
                time.sleep(0.01)
    except psycopg.Error as exc:
        raise ServerError(f"cannot compare the servers' WAL: {first_line(exc)}") from None
    return time.perf_counter() - began
