"""A hot standby of the embedded server: a streaming replica that analysts read from.

:func:`start_standby` (``iwm-lab db standby start``) copies the running embedded server, the
primary, with ``pg_basebackup -R`` into ``<data dir>/standby/`` (its own cluster folder,
beside the primary's ``pgdata/``; its log is ``standby.log``) and starts it from the same
PostgreSQL 16 binaries, with a socket folder of its own and, with ``port``, TCP on
127.0.0.1. It streams the primary's WAL through the physical replication slot
``iwm_standby``: the primary keeps the WAL the standby has not received yet, so a standby
that was stopped catches up when it starts again, however much was written meanwhile. The
slot's price is that a stopped standby makes the primary keep all its WAL from then on:
:func:`stop_standby` with ``drop=True`` (``db standby stop --drop``) deletes the standby's
folder and its slot, after listing them and asking.

What the primary needs for replication, initdb gives it: ``wal_level=replica``,
``max_wal_senders`` and ``max_replication_slots`` above zero, and a ``local replication``
line in ``pg_hba.conf`` for the owner ``iwm``, who may replicate as a superuser; a server set
otherwise is refused, naming the setting. Both servers start with their PostgreSQL tree's
``lib/`` on ``LD_LIBRARY_PATH`` (:mod:`iwm_lab.server_process`): the standby's WAL receiver
would otherwise load the system's libpq.

Reading: :func:`reads_url` is the multi-host URL of both servers with
``target_session_attrs=prefer-standby``, for ``IWM_DATABASE_URL``: sessions read from the
standby while it answers, from the primary otherwise, and every write goes to the primary
(:func:`iwm_lab.database.writes_url`). A standby refuses writes whatever the role, and runs
with ``hot_standby_feedback`` on, so that the primary's vacuum does not cancel an analyst's
long query there (at the cost of some bloat on the primary while the query runs).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from iwm_lab.destructive import Listing
from iwm_lab.exceptions import DataLossRefused, ServerError
from iwm_lab.server import EmbeddedServer, is_embedded
from iwm_lab.server_process import (
    Account,
    PidFile,
    check_port_free,
    clear_leftovers,
    installed_tree,
    locked,
    pg_ctl_start,
    pg_ctl_stop,
    read_pid_file,
    runnable_tree,
    server_account,
    socket_dir_for,
)
from iwm_lab.server_replication import (
    APPLICATION_NAME,
    SLOT,
    SlotStatus,
    base_backup,
    check_replication,
    drop_slot,
    ensure_slot,
    lsn_distance,
    primary_side,
    standby_side,
    wait_replayed,
)
from iwm_lab.settings import EMBEDDED_DATABASE, EMBEDDED_ROLE, Settings, get_settings

# The standby's socket is named after this port when it listens on no TCP port.
SOCKET_ONLY_PORT = 5433

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StandbyStatus:
    """Whether the standby exists and runs, how far behind the primary it is, and its slot.

    ``lag_bytes`` is the WAL the primary wrote that the standby has not replayed (measured
    against the primary when both answer, else the WAL it received and has not replayed);
    ``lag_s`` is 0 when that is nothing, else the primary's measure of its replay lag
    (``pg_stat_replication.replay_lag``), else the time since the commit of the last
    transaction it replayed (the most its data can lag). None: it cannot tell.
    """

    exists: bool
    running: bool
    pgdata: Path
    pid: int | None = None
    port: int | None = None  # TCP, on 127.0.0.1
    url: URL | None = None
    reads_url: URL | None = None
    in_recovery: bool | None = None
    streaming: bool | None = None
    lag_bytes: int | None = None
    lag_s: float | None = None
    slot: SlotStatus | None = None
    primary_running: bool = False

    def describe(self) -> str:
        if self.running:
            state = f"running (pid {self.pid})"
            if self.in_recovery is not None:
                state += ", in recovery" if self.in_recovery else ", NOT in recovery (promoted)"
            if self.streaming is not None:
                state += ", streaming" if self.streaming else ", not streaming"
        else:
            state = "stopped" if self.exists else "not made yet"
        lines = [f"hot standby of the embedded server: {state}", f"  data dir: {self.pgdata}"]
        if self.url is not None:
            lines.append(f"  url:      {self.url.render_as_string(hide_password=True)}")
        if self.reads_url is not None:
            lines.append(f"  reads:    {self.reads_url.render_as_string(hide_password=True)}")
        if self.port is not None:
            lines.append(f"  tcp:      127.0.0.1:{self.port} (role iwm, password file in data dir)")
        if self.running:
            size = "unknown" if self.lag_bytes is None else f"{self.lag_bytes:,} bytes"
            seconds = "unknown" if self.lag_s is None else f"{self.lag_s:,.3f} s"
            lines.append(f"  lag:      {size}, {seconds} behind the primary")
        lines.append(f"  slot:     {self._slot()}")
        if not self.exists:
            lines.append("  (iwm-lab db standby start makes one)")
        elif self.running and self.streaming is False:
            lines.append(f"  (see {self.pgdata.parent / 'standby.log'} for why it does not stream)")
        return "\n".join(lines)

    def _slot(self) -> str:
        if not self.primary_running:
            return f"{SLOT} on the primary (not running: unknown)"
        if self.slot is None:
            return f"{SLOT} on the primary: none"
        use = "active" if self.slot.active else "inactive"
        kept = self.slot.retained_bytes
        held = "" if kept is None else f", keeps {kept:,} bytes of WAL"
        hint = "" if self.slot.active else " (iwm-lab db standby stop --drop removes it)"
        return f"{self.slot.name} on the primary: {use}{held}{hint}"


@dataclass(frozen=True)
class StandbyStopped:
    was_running: bool
    removed: tuple[str, ...] = ()  # what drop=True deleted, in words


class _Layout:
    """Where the standby of the embedded server in ``settings.data_dir`` lives."""

    def __init__(self, settings: Settings) -> None:
        self.primary = EmbeddedServer(settings)
        self.data_dir = self.primary.data_dir
        self.pgdata = self.data_dir / "standby"
        self.log_file = self.data_dir / "standby.log"
        self.lock_file = self.data_dir / "standby.lock"
        self.server_user = settings.server_user

    @functools.cached_property
    def account(self) -> Account | None:
        # Looked up (or created) only to run programs: a status asks nothing of it.
        return server_account(self.server_user) if os.geteuid() == 0 else None

    def tree(self) -> Path:
        return runnable_tree(self.data_dir, installed_tree(), self.account)

    def exists(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()


def _layout(settings: Settings | None) -> _Layout:
    settings = settings or get_settings()
    if settings.database_url is not None and not is_embedded(settings.database_url):
        raise ServerError(
            "IWM_DATABASE_URL names another server; the standby here is the embedded "
            "server's (make one of that server with its own tools: pg_basebackup -R); unset "
            "IWM_DATABASE_URL to manage the embedded server's standby"
        )
    return _Layout(settings)


def start_standby(
    settings: Settings | None = None,
    *,
    port: int | None = None,
    timeout: float = 60,
    copy_timeout: float = 3600,
    progress: Progress | None = None,
) -> StandbyStatus:
    """Start the standby, making it first if there is none, and return its status.

    Starts a stopped primary (a missing cluster raises
    :class:`~iwm_lab.exceptions.DatabaseMissing`), creates the slot, copies the primary with
    ``pg_basebackup`` (within ``copy_timeout`` seconds) into a side folder renamed into place
    when complete, and starts the standby, which then streams. With ``port`` it also listens
    on 127.0.0.1:``port``. A running standby is reported as it is; asked for a port it does
    not listen on, it is refused (stop it first).
    """
    if port is not None and not 0 < port < 65536:
        raise ServerError(f"port must be between 1 and 65535, got {port}")
    say = progress or (lambda _message: None)
    layout = _layout(settings)
    layout.primary.ensure_running()
    tree = layout.tree()
    with locked(layout.lock_file):
        running = read_pid_file(layout.pgdata)
        if running is not None:
            if port is not None and not (running.tcp and running.port == port):
                where = f"on 127.0.0.1:{running.port}" if running.tcp else "without TCP"
                raise ServerError(
                    f"the standby already runs {where}; stop it first "
                    "(iwm-lab db standby stop) to start it on port {port}"
                )
            return standby_status(settings)
        primary = read_pid_file(layout.primary.pgdata)
        if primary is None:
            raise ServerError("the embedded server stopped meanwhile; run the command again")
        check_replication(primary)
        if not layout.exists():
            _refuse_foreign(layout.pgdata)
            say(f"copying the embedded server into {layout.pgdata} (pg_basebackup)")
            began = time.perf_counter()
            base_backup(tree, layout.account, primary, layout.pgdata, copy_timeout)
            say(f"copied in {time.perf_counter() - began:.1f} s")
        else:
            # Normally there already; made anew if it was dropped by hand (the standby then
            # catches up only if the primary still has the WAL it needs: see its log).
            ensure_slot(primary)
        socket_dir = socket_dir_for(layout.pgdata, layout.account)
        clear_leftovers(layout.pgdata, socket_dir)
        if port is not None:
            check_port_free(port)
        conninfo = (
            f"host={primary.socket_dir} port={primary.port} user={EMBEDDED_ROLE} "
            f"application_name={APPLICATION_NAME}"
        )
        options = {
            "listen_addresses": "127.0.0.1" if port is not None else "",
            "port": str(port or SOCKET_ONLY_PORT),
            "unix_socket_directories": str(socket_dir),
            # Given at every start: the primary's socket may have moved since the copy.
            "primary_conninfo": conninfo,
            "primary_slot_name": SLOT,
            "hot_standby": "on",
            "hot_standby_feedback": "on",
        }
        pg_ctl_start(tree, layout.account, layout.pgdata, layout.log_file, options, timeout)
    return standby_status(settings)


def stop_standby(
    settings: Settings | None = None,
    *,
    drop: bool = False,
    confirm: Callable[[Listing], None] | None = None,
    timeout: float = 60,
) -> StandbyStopped:
    """Stop the standby (fast shutdown: its sessions end); its folder and slot stay, and it
    catches up when started again.

    With ``drop``, also delete its folder, its log and its slot on the primary (which then
    stops keeping WAL for it), after handing the list to ``confirm``, which may raise to keep
    them; without ``confirm`` that is refused and nothing is stopped or deleted. Dropping
    starts a stopped primary, where the slot lives.
    """
    layout = _layout(settings)
    listing = None
    if drop:
        listing = _drop_listing(layout)
        if listing is not None:
            if confirm is None:
                raise DataLossRefused(f"{listing.summary()}; nothing was deleted")
            confirm(listing)
    with locked(layout.lock_file):
        running = read_pid_file(layout.pgdata)
        if running is not None:
            pg_ctl_stop(layout.tree(), layout.account, layout.pgdata, timeout)
            # The socket folder is empty now; one that is not stays.
            with contextlib.suppress(OSError):
                os.rmdir(running.socket_dir)
        if listing is None:
            return StandbyStopped(running is not None)
        removed = []
        if layout.pgdata.exists():
            shutil.rmtree(layout.pgdata)
            removed.append(f"folder {layout.pgdata}")
        shutil.rmtree(layout.data_dir / "standby.partial", ignore_errors=True)
        if layout.log_file.exists():
            layout.log_file.unlink()
            removed.append(f"log {layout.log_file}")
        if layout.primary.has_cluster():
            layout.primary.ensure_running()
        primary = read_pid_file(layout.primary.pgdata)
        if primary is not None and drop_slot(primary, timeout):
            removed.append(f"replication slot {SLOT}")
        return StandbyStopped(running is not None, tuple(removed))


def standby_status(settings: Settings | None = None) -> StandbyStatus:
    """The standby's status (see :class:`StandbyStatus`); starts and changes nothing."""
    layout = _layout(settings)
    running = read_pid_file(layout.pgdata)
    primary = read_pid_file(layout.primary.pgdata)
    told = primary_side(primary) if primary is not None else None
    slot = told.slot if told is not None else None
    if running is None:
        return StandbyStatus(
            exists=layout.exists(),
            running=False,
            pgdata=layout.pgdata,
            slot=slot,
            primary_running=primary is not None,
        )
    side = standby_side(running)
    lag_bytes = side.lag_bytes if side else None
    lag_s = side.lag_s if side else None
    if side and side.in_recovery and primary and told and side.replay_lsn:
        # Against what the primary wrote, not only what the standby received of it.
        lag_bytes = lsn_distance(primary, told.current_lsn, side.replay_lsn)
        if lag_bytes == 0:
            lag_s = 0.0
        elif told.replay_lag_s:
            lag_s = told.replay_lag_s
        else:
            # Behind by WAL the primary has not measured a lag for (not sent yet, or sent
            # and not reported): at most as old as the last transaction it replayed.
            lag_s = side.since_replay_s
    return StandbyStatus(
        exists=True,
        running=True,
        pgdata=layout.pgdata,
        pid=running.pid,
        port=running.port if running.tcp else None,
        url=_url(running, EMBEDDED_DATABASE, EMBEDDED_ROLE),
        reads_url=_reads(primary, running, EMBEDDED_DATABASE, EMBEDDED_ROLE) if primary else None,
        in_recovery=side.in_recovery if side else None,
        streaming=side.streaming if side else None,
        lag_bytes=lag_bytes,
        lag_s=lag_s,
        slot=slot,
        primary_running=primary is not None,
    )


def standby_url(
    settings: Settings | None = None,
    *,
    database: str = EMBEDDED_DATABASE,
    role: str = EMBEDDED_ROLE,
) -> URL:
    """URL of ``database`` on the running standby alone, over its socket (no password)."""
    layout = _layout(settings)
    running = read_pid_file(layout.pgdata)
    if running is None:
        raise ServerError(
            f"the standby in {layout.pgdata} is not running; start it with "
            "`iwm-lab db standby start`"
        )
    return _url(running, database, role)


def reads_url(
    settings: Settings | None = None,
    *,
    database: str = EMBEDDED_DATABASE,
    role: str = EMBEDDED_ROLE,
) -> URL:
    """The multi-host URL of the primary and its standby with
    ``target_session_attrs=prefer-standby``: for ``IWM_DATABASE_URL``, so that reads go to the
    standby while it answers and to the primary otherwise (writes: to the primary). Both
    must run."""
    layout = _layout(settings)
    primary = read_pid_file(layout.primary.pgdata)
    if primary is None:
        raise ServerError(f"the embedded server in {layout.data_dir} is not running")
    standby = read_pid_file(layout.pgdata)
    if standby is None:
        raise ServerError(
            f"the standby in {layout.pgdata} is not running; start it with "
            "`iwm-lab db standby start`"
        )
    return _reads(primary, standby, database, role)


def wait_for_replay(settings: Settings | None = None, *, timeout: float = 60) -> float:
    """Wait until the standby has replayed all the primary had written when called; the
    seconds that took. Raises :class:`ServerError` after ``timeout`` seconds."""
    layout = _layout(settings)
    primary, standby = read_pid_file(layout.primary.pgdata), read_pid_file(layout.pgdata)
    if primary is None or standby is None:
        raise ServerError("the embedded server and its standby must both run")
    return wait_replayed(primary, standby, timeout, layout.log_file)


def _url(running: PidFile, database: str, role: str) -> URL:
    return URL.create(
        "postgresql+psycopg",
        username=role,
        port=running.port,
        database=database,
        query={"host": running.socket_dir},
    )


def _reads(primary: PidFile, standby: PidFile, database: str, role: str) -> URL:
    return URL.create(
        "postgresql+psycopg",
        username=role,
        database=database,
        query={
            "host": f"{primary.socket_dir},{standby.socket_dir}",
            "port": f"{primary.port},{standby.port}",
            "target_session_attrs": "prefer-standby",
        },
    )


def _refuse_foreign(pgdata: Path) -> None:
    if pgdata.exists() and (not pgdata.is_dir() or any(pgdata.iterdir())):
        raise ServerError(
            f"{pgdata} exists but is not a PostgreSQL cluster (no PG_VERSION); move it away"
        )


def _drop_listing(layout: _Layout) -> Listing | None:
    """What ``stop --drop`` deletes, or None when there is nothing."""
    lines = []
    if layout.pgdata.exists():
        lines.append(f"the standby's data folder {layout.pgdata} ({_size(layout.pgdata)})")
    if layout.log_file.exists():
        lines.append(f"its log {layout.log_file}")
    primary = read_pid_file(layout.primary.pgdata)
    if primary is not None:
        told = primary_side(primary)
        slot = told.slot if told is not None else None
        if slot is not None:
            kept = (
                ""
                if slot.retained_bytes is None
                else f", keeping {slot.retained_bytes:,} bytes of WAL"
            )
            lines.append(f"the replication slot {SLOT} on the embedded server{kept}")
    elif layout.primary.has_cluster():
        lines.append(f"the replication slot {SLOT} on the embedded server, if any (started for it)")
    if not lines:
        return None
    return Listing(
        where=f"the embedded server in {layout.data_dir}",
        headline="dropping the standby would delete these (a new one is a full copy again)",
        lines=tuple(lines),
    )


def _size(folder: Path) -> str:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return f"{total / 1_048_576:,.1f} MB"
