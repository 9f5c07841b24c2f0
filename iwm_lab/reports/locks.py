"""Which run of a report job may go ahead: a PostgreSQL advisory lock per job.

Before a job runs (``run-due`` or ``report run``), the coordinating process opens a session of
its own on the database and takes ``pg_try_advisory_lock(key)``, ``key`` a 64-bit hash of the
job's key (the report, and the fan-out part: what shares one output folder, one ``latest``
and one ``state.json``). It keeps that session open until the run is published, then closes
it, which releases the lock; so does the end of the session in any other way (the process
killed, its host gone, the server restarted). The lock therefore holds across hosts and
processes without any shared filesystem lock, and a run on a Dask worker is covered by the
coordinator that waits for it.

**One key per job, not per slot.** A slot in the key would let a scheduled run and a manual
``report run`` of the same job (which has no slot) run at once, and two slots of one job
race on ``latest`` and ``last_slot``. So every run of a job takes the same key, and the slot
is checked under it: after taking the lock the coordinator re-reads ``state.json`` and skips
a slot already run, and :func:`.publish.finish` checks again before publishing, in case the
lock was lost with its session (a server restart) and another coordinator ran the slot
meanwhile. A slot is therefore published once.

**Where.** Advisory locks live in one server's memory: they are not replicated, and a hot
standby grants its own. The lock is taken on the primary: ``IWM_PRIMARY_URL`` when it is set,
else the configured URL, with ``target_session_attrs=primary`` when it may reach a standby
(several hosts, or another ``target_session_attrs``). The session is otherwise the analyst's
read-only one (``pg_try_advisory_lock`` needs no privilege and no writable transaction),
with an ``application_name`` that says which job, host and process hold it, which is what
another coordinator's "busy" message quotes. Keys are per database: two output folders using
the same report names on one database take turns.

A dead coordinator's host that never closes its connection holds the lock until the server
notices (TCP keepalive: set ``tcp_keepalives_idle`` on the server to bound it).
"""

from __future__ import annotations

import hashlib
import os
import socket
from types import TracebackType

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from iwm_lab.database import database_url, describe_url, get_engine, scrub
from iwm_lab.exceptions import DatabaseUnavailable, ReportBusy
from iwm_lab.settings import get_settings

# Keeps iwm-lab's keys apart from other applications' advisory locks on the same database.
NAMESPACE = "iwm-lab report job"
CONNECT_TIMEOUT_S = 10
_APPLICATION_MAX = 63  # PostgreSQL cuts application_name at NAMEDATALEN - 1 bytes
_ON_PRIMARY = "primary"

# The lock's row in pg_locks: a bigint key is split into classid (high half) and objid.
_HOLDER_SQL = """
select a.application_name
from pg_locks l left join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'advisory' and l.granted and l.objsubid = 1
  and l.classid = cast(:high as bigint)::oid and l.objid = cast(:low as bigint)::oid
  and l.pid <> pg_backend_pid()
"""
_HELD_SQL = """
select count(*) from pg_locks
where locktype = 'advisory' and granted and objsubid = 1 and pid = pg_backend_pid()
  and classid = cast(:high as bigint)::oid and objid = cast(:low as bigint)::oid
"""


def lock_key(job_key: str) -> int:
    """The advisory lock key of a job (``ratings``, ``streaming_coverage/region-US``): a signed
    64-bit integer, the same in every process and on every host."""
    digest = hashlib.blake2b(f"{NAMESPACE}\0{job_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _halves(key: int) -> dict[str, int]:
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF}


def lock_url(holder: str = "iwm-lab") -> URL:
    """Where locks are taken: the primary (see the module docstring), as ``holder`` (the
    session's ``application_name``), giving up after :data:`CONNECT_TIMEOUT_S`."""
    settings = get_settings()
    url = settings.primary_url or database_url(settings)
    attrs = url.query.get("target_session_attrs")
    hosts = url.query.get("host")
    values = [hosts] if isinstance(hosts, str) else list(hosts or ())
    several = sum(len(v.split(",")) for v in values) > 1 or "," in (url.host or "")
    if settings.primary_url is None and (attrs not in (None, _ON_PRIMARY) or several):
        url = url.update_query_dict({"target_session_attrs": _ON_PRIMARY})
    extra = {"application_name": holder.encode("ascii", "replace").decode()[:_APPLICATION_MAX]}
    if "connect_timeout" not in url.query:
        extra["connect_timeout"] = str(CONNECT_TIMEOUT_S)
    return url.update_query_dict(extra)


class JobLock:
    """A job's advisory lock, held by an open session until :meth:`release`."""

    def __init__(self, job_key: str, label: str, engine: Engine, conn: Connection) -> None:
        self.job_key = job_key
        self.label = label
        self.key = lock_key(job_key)
        self._engine = engine
        self._conn: Connection | None = conn

    def held(self) -> bool:
        """Whether the session is alive and still holds the lock (it was lost when not)."""
        if self._conn is None:
            return False
        try:
            found = self._conn.execute(text(_HELD_SQL), _halves(self.key)).scalar_one()
        except DBAPIError:
            return False
        return bool(found)

    def release(self) -> None:
        """End the session, which releases the lock (idempotent)."""
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                conn.close()
        except DBAPIError:  # the session was gone already: so is its lock
            pass
        finally:
            self._engine.dispose()

    def __enter__(self) -> JobLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def take_job_lock(job_key: str, label: str) -> JobLock:
    """Take job ``job_key``'s lock without waiting, on a session of its own.

    Raises :class:`~iwm_lab.exceptions.ReportBusy` (naming the holder) when another session
    holds it, and :class:`~iwm_lab.exceptions.DatabaseUnavailable` (one line, no password)
    when no session can be opened: then nobody can take it, and nothing may run.
    """
    holder = f"iwm-lab {label} {socket.gethostname()} pid {os.getpid()}"
    url = lock_url(holder)
    engine = get_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    key = lock_key(job_key)
    try:
        conn = engine.connect()
    except DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot connect to {describe_url(url)}: {scrub(reason, url)}"
        ) from None
    try:
        taken = conn.execute(text("select pg_try_advisory_lock(:key)"), {"key": key}).scalar_one()
        other = None
        if not taken:
            other = conn.execute(text(_HOLDER_SQL), _halves(key)).scalar()
    except DBAPIError as exc:
        conn.close()
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise DatabaseUnavailable(
            f"lost {describe_url(url)} while locking {label}: {scrub(reason, url)}"
        ) from None
    if not taken:
        conn.close()
        engine.dispose()
        raise ReportBusy(f"report {label} is already running ({other or 'another session'})")
    return JobLock(job_key, label, engine, conn)
