"""Engines and connections: read-only analyst sessions by default, writable only when asked.

Analysts' notebooks call :func:`connect` (or :func:`get_engine`). Every session it opens has
``default_transaction_read_only`` on and a statement timeout, so an exploratory query can
neither change data nor hold the server for long. Migrations, demo data and the trending
refresh ask for ``writable=True`` explicitly.

:func:`connect` and :func:`analyst_engine` are for reading: they need an existing database at
the head revision (:func:`iwm_lab.migrate.require_head`), and run every statement in a
read-only transaction of its own (autocommit), so a failed statement in a notebook does not
leave the session aborted for the next one. Nothing here creates a database: with the embedded
server, a data folder without a cluster raises :class:`DatabaseMissing`; a stopped cluster is
started.

On the embedded server a read-only engine logs in as the analyst role
(:data:`iwm_lab.roles.ANALYST_ROLE`), which has SELECT and nothing else: the session settings
are a convenience, the missing privileges the barrier. A writable engine logs in as the owner
(migrations, seed), or with ``role="writer"`` as :data:`iwm_lab.roles.WRITER_ROLE`, which
changes rows and runs the refresh functions but cannot change the schema (import, refreshes).
With ``IWM_DATABASE_URL`` (another server) the role is the URL's, whatever is asked.
Connections returned to the pool are rolled back and ``DISCARD ALL``-ed, so no SET outlives its
user.

Reads may come from a hot standby: ``IWM_DATABASE_URL`` may name several servers (libpq's
multi-host ``?host=a,b&port=p1,p2``) with ``target_session_attrs=prefer-standby``
(:func:`iwm_lab.standby.reads_url` gives the embedded server's). Writes never do: a writable
engine on the configured database goes to ``IWM_PRIMARY_URL`` when it is set, else to the
same URL with ``target_session_attrs=read-write`` (:func:`writes_url`, the one place that
rule lives). :func:`replica_lag` says whether a session reads from a standby, and how far
behind its primary it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Connection, Engine, Float, Integer, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolResetState
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import TextualSelect

from iwm_lab.exceptions import DatabaseUnavailable, ReadOnlySessionError
from iwm_lab.settings import EMBEDDED_ROLE, Settings, get_settings


def database_url(
    settings: Settings | None = None, *, start_server: bool = True, create: bool = False
) -> URL:
    """The URL everything uses: ``IWM_DATABASE_URL`` or the embedded server, started if its
    cluster exists and is stopped.

    Raises :class:`~iwm_lab.exceptions.DatabaseMissing` when the data folder holds no
    cluster, and creates nothing, unless ``create`` (``iwm-lab demo``): a mistyped
    ``IWM_DATA_DIR`` must not become a new empty database.
    """
    settings = settings or get_settings()
    if settings.database_url is not None:
        return settings.database_url
    from iwm_lab.server import EmbeddedServer

    server = EmbeddedServer(settings)
    if start_server:
        return server.ensure_running(create=create)
    server.require_cluster()
    return server.url()


def describe_url(url: URL) -> str:
    """``database 'x' on host 'y'`` for messages: never the password."""
    host = url.host or url.query.get("host") or "localhost"
    if isinstance(host, tuple):
        host = ",".join(host)
    where = f"{host}:{url.port}" if url.port else host
    return f"database {url.database!r} on {where!r}"


def scrub(message: str, url: URL | None = None) -> str:
    """Remove any password (``user:secret@`` or ``password=secret``) from a message."""
    if url is not None and url.password:
        message = message.replace(str(url.password), "***")
    message = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", message)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", message, flags=re.IGNORECASE)


# The roles an engine may ask for, and which of them write.
_ROLES = {"analyst": False, "owner": True, "writer": True}


def _resolve(
    url: URL | str | None,
    *,
    writable: bool,
    role: str | None,
    statement_timeout_ms: int | None,
) -> tuple[URL | str, dict[str, Any]]:
    if role is not None and _ROLES.get(role) is not writable:
        choices = ", ".join(repr(name) for name, writes in _ROLES.items() if writes is writable)
        kind = "writable" if writable else "read-only"
        raise ValueError(f"role {role!r} for a {kind} engine; valid values: {choices}, None")
    settings = get_settings()
    timeout = statement_timeout_ms
    if timeout is None:
        # Writable sessions (migrations, bulk loads) may legitimately run long.
        timeout = 0 if writable else settings.statement_timeout_ms
    # The schema's timestamps have no time zone and hold UTC; a session in the server's own
    # zone would measure ages and windows (localtimestamp) off by that zone's offset.
    options = [f"-c statement_timeout={int(timeout)}", "-c timezone=UTC"]
    if settings.work_mem_mb:
        options.append(f"-c work_mem={int(settings.work_mem_mb)}MB")
    if not writable:
        options.append("-c default_transaction_read_only=on")
    if not writable:
        resolved = _as_embedded_role(database_url(settings) if url is None else url, "analyst")
    else:
        resolved = writes_url(url, settings)
        if role == "writer":
            resolved = _as_embedded_role(resolved, "writer")
    # No server-side prepared statements: the pool's DISCARD ALL deallocates them behind
    # psycopg's back, and the analyses are one-off aggregates that gain nothing from them.
    return resolved, {"options": " ".join(options), "prepare_threshold": None}


def writes_url(url: URL | str | None = None, settings: Settings | None = None) -> URL | str:
    """Where a write to ``url`` (default: the configured database) goes: the primary.

    ``IWM_PRIMARY_URL`` when it is set and ``url`` is the configured database (or None).
    Otherwise ``url`` itself, made to reach only a server that takes writes when it may reach
    a standby: a multi-host URL, or one with a ``target_session_attrs`` other than
    ``read-write`` or ``primary``, gets ``target_session_attrs=read-write`` (libpq then
    skips any host that is a standby or read-only). A single-host URL without it is kept as
    it is: pointed at a standby, its writes fail with PostgreSQL's "read-only transaction".
    """
    settings = settings or get_settings()
    if settings.primary_url is not None and (url is None or _same(url, settings.database_url)):
        return settings.primary_url
    resolved = database_url(settings) if url is None else url
    from iwm_lab.server import url_hosts

    try:
        parsed = make_url(resolved) if isinstance(resolved, str) else resolved
    except (ArgumentError, ValueError):
        return resolved  # create_engine says what is wrong with it
    attrs = parsed.query.get("target_session_attrs")
    several = len(url_hosts(parsed)) > 1 or "," in (parsed.host or "")
    if attrs in ("read-write", "primary") or (attrs is None and not several):
        return resolved
    return parsed.update_query_dict({"target_session_attrs": "read-write"})


def _same(url: URL | str, other: URL | None) -> bool:
    if other is None:
        return False
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):
        return False
    return parsed.render_as_string(hide_password=False) == other.render_as_string(
        hide_password=False
    )


def _as_embedded_role(url: URL | str, role: str) -> URL | str:
    """On the embedded server, the owner's socket URL becomes the analyst's or the writer's:
    read-only means no privilege to write, not just a setting the session can turn off, and a
    load cannot change the schema. Any other URL is kept as it is."""
    from iwm_lab.roles import ANALYST_ROLE, WRITER_ROLE
    from iwm_lab.server import is_embedded

    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):
        return url  # create_engine says what is wrong with it
    owner = parsed.username == EMBEDDED_ROLE and parsed.password is None
    if not (owner and is_embedded(parsed)):
        return url
    return parsed.set(username=ANALYST_ROLE if role == "analyst" else WRITER_ROLE)


def _discard_on_return(dbapi_connection: Any, _record: Any, reset_state: PoolResetState) -> None:
    """Pool "reset" hook: end the transaction, then DISCARD ALL (SETs, temp tables, prepared
    statements, advisory locks), so the next user of the connection starts from the role's
    and the connection's own defaults. DISCARD ALL cannot run inside a transaction block."""
    if reset_state.terminate_only or not reset_state.asyncio_safe:
        return
    dbapi_connection.rollback()
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("DISCARD ALL")
        cursor.close()
    finally:
        dbapi_connection.autocommit = autocommit


def get_engine(
    url: URL | str | None = None,
    *,
    writable: bool = False,
    role: str | None = None,
    statement_timeout_ms: int | None = None,
    **engine_kwargs: Any,
) -> Engine:
    """A synchronous SQLAlchemy engine (psycopg 3) on the configured database.

    Read-only with the settings' statement timeout unless ``writable=True``; writable sessions
    get no timeout unless one is given. On the embedded server a read-only engine is the
    analyst, a writable one the owner, or with ``role="writer"`` the writer role.
    """
    url, connect_args = _resolve(
        url, writable=writable, role=role, statement_timeout_ms=statement_timeout_ms
    )
    engine = create_engine(
        url,
        connect_args=connect_args,
        pool_pre_ping=True,
        **engine_kwargs,
    )
    event.listen(engine, "reset", _discard_on_return)
    return engine


def get_async_engine(
    url: URL | str | None = None,
    *,
    writable: bool = False,
    role: str | None = None,
    statement_timeout_ms: int | None = None,
    **engine_kwargs: Any,
) -> AsyncEngine:
    """The asyncio counterpart of :func:`get_engine` (psycopg 3's async driver)."""
    url, connect_args = _resolve(
        url, writable=writable, role=role, statement_timeout_ms=statement_timeout_ms
    )
    engine = create_async_engine(
        url,
        connect_args=connect_args,
        **engine_kwargs,
    )
    event.listen(engine.sync_engine, "reset", _discard_on_return)
    return engine


def check_connection(engine: Engine) -> None:
    """Raise :class:`DatabaseUnavailable` (one line, no password) unless the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot connect to {describe_url(engine.url)}: {scrub(reason, engine.url)}"
        ) from None


# Read-only sessions run each statement in a transaction of its own: a failed one cannot
# leave the session aborted ("current transaction is aborted") for the next, and
# default_transaction_read_only makes each of those transactions read-only.
_EACH_STATEMENT = "AUTOCOMMIT"


def connect(
    url: URL | str | None = None,
    *,
    writable: bool = False,
    role: str | None = None,
    statement_timeout_ms: int | None = None,
) -> Connection:
    """Open a connection for a notebook: read-only with a statement timeout unless asked.

    A read-only connection needs the database at the head revision
    (:func:`iwm_lab.migrate.require_head`) and runs each statement in its own read-only
    transaction, so after an error the next statement just runs. A writable one keeps SQLAlchemy's
    transactions: commit what it writes.

    >>> conn = connect()              # analysts: read-only
    >>> conn = connect(writable=True) # explicit: migrations, demo data, trending refresh
    """
    if writable:
        engine = get_engine(
            url, writable=True, role=role, statement_timeout_ms=statement_timeout_ms
        )
        check_connection(engine)
    else:
        from iwm_lab.migrate import require_head  # Alembic: loaded only to read

        engine = get_engine(
            url,
            role=role,
            statement_timeout_ms=statement_timeout_ms,
            isolation_level=_EACH_STATEMENT,
        )
        require_head(engine)
    return engine.connect()


def require_writable(conn: Connection, action: str) -> None:
    """Raise :class:`ReadOnlySessionError` before ``action`` (a write) runs on a read-only
    transaction, such as every analyst session's."""
    if conn.execute(text("SELECT current_setting('transaction_read_only')")).scalar_one() == "on":
        raise ReadOnlySessionError(
            f"{action} writes to the database, but this session is read-only; use a writable "
            "connection: iwm_lab.connect(writable=True) or iwm_lab.get_engine(writable=True)"
        )


_ANALYST_ENGINES: dict[str, Engine] = {}


def analyst_engine() -> Engine:
    """The process-wide read-only engine on the configured database, checked once.

    What ``iwm_lab.sql()`` and the ``%sql`` magic run on: the analyst role, the statement
    timeout, every statement in its own transaction. The database must exist and be at the
    head revision (:func:`iwm_lab.migrate.require_head`); nothing is created.
    """
    from iwm_lab.migrate import require_head

    url = database_url()
    key = url.render_as_string(hide_password=False)
    engine = _ANALYST_ENGINES.get(key)
    if engine is None:
        engine = get_engine(url, isolation_level=_EACH_STATEMENT)
        require_head(engine)
        _ANALYST_ENGINES[key] = engine
    return engine


# Whether the session's server is a hot standby, and how far behind its primary: the WAL it
# received but has not replayed yet (bytes), and in seconds, 0 when it replayed all it received
# while streaming, else the time since the last transaction it replayed (the most its data can
# lag when it lost its primary or is still replaying). Readable by any role.
REPLICA_LAG_SQL = """
select pg_is_in_recovery() as in_recovery,
       case when pg_is_in_recovery() then greatest(0, pg_wal_lsn_diff(
           pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()))::bigint end as replay_lag_bytes,
       case when not pg_is_in_recovery() then null
            when pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn()
                 and exists (select from pg_stat_wal_receiver) then 0.0
            else extract(epoch from now() - pg_last_xact_replay_timestamp())::float8
       end as replay_lag_s
"""


def replica_lag_query() -> TextualSelect:
    """The one-row query behind :func:`replica_lag`: ``in_recovery``, ``replay_lag_bytes``,
    ``replay_lag_s`` (NULL on a primary), for use as a subquery."""
    query: TextClause = text(REPLICA_LAG_SQL)
    return query.columns(
        in_recovery=Boolean, replay_lag_bytes=Integer, replay_lag_s=Float(precision=53)
    )


@dataclass(frozen=True)
class ReplicaLag:
    """Where a session reads: a primary (``in_recovery`` False, no lag) or a hot standby, and
    how far behind its primary the standby is (None when it cannot tell)."""

    in_recovery: bool
    lag_bytes: int | None = None
    lag_s: float | None = None

    def describe(self) -> str:
        """``a hot standby, 0.2 s (0 bytes) behind its primary``, for people."""
        if not self.in_recovery:
            return "the primary"
        seconds = "an unknown time" if self.lag_s is None else f"{self.lag_s:,.1f} s"
        size = "" if self.lag_bytes is None else f" ({self.lag_bytes:,} bytes)"
        return f"a hot standby, {seconds}{size} behind its primary"


def replica_lag(conn: Connection) -> ReplicaLag:
    """Whether ``conn``'s server is a hot standby, and its replay lag (see :class:`ReplicaLag`).

    Run on the session that reads, since a multi-host URL may land on either server.
    """
    row = conn.execute(replica_lag_query()).one()
    lag_bytes = None if row.replay_lag_bytes is None else int(row.replay_lag_bytes)
    lag_s = None if row.replay_lag_s is None else float(row.replay_lag_s)
    return ReplicaLag(bool(row.in_recovery), lag_bytes, lag_s)
