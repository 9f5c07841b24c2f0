"""Commands that delete data: say what would be lost, ask, and know which database is the demo's.

Every command that deletes rows (``seed --reset``, ``db downgrade`` past a table that holds
rows, and any future one) builds a :class:`Loss` (tables and exact row counts) and hands it to
the ``confirm`` callback it was given. :func:`confirm_loss` is the command line's callback:
it lists the loss and proceeds only with ``--yes`` or a "y" typed on a terminal. A command
that would end other people's sessions (``db start --port`` restarting a running server)
does the same with an :class:`Interruption` and :func:`confirm_interruption`.

:func:`embedded_mismatch` decides whether a connection reaches the embedded server's demo
database, by the cluster's system identifier and data directory rather than by the socket
path, which any account can imitate.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import click
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from iwm_lab.exceptions import ConfirmationNeeded, DataLossRefused
from iwm_lab.settings import EMBEDDED_DATABASE

# pg_control begins with the cluster's 64-bit system identifier (ControlFileData), in the
# byte order of the machine that wrote it, which is this one for the embedded server.
_SYSID_BYTES = 8
_UINT64 = (1 << 64) - 1


@dataclass(frozen=True)
class TableRows:
    table: str
    rows: int


@dataclass(frozen=True)
class Loss:
    """What an action would delete: ``tables`` that hold rows, with their exact counts."""

    action: str  # what would do it, e.g. "seed --reset"
    where: str  # describe_url() of the database
    tables: tuple[TableRows, ...]

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def summary(self) -> str:
        return (
            f"{self.action} would delete {self.rows:,} row(s) in {len(self.tables)} table(s) "
            f"of {self.where}"
        )

    def describe(self) -> str:
        width = max([len("table"), *(len(t.table) for t in self.tables)])
        lines = [f"{self.summary()}:", f"  {'table':<{width}} {'rows':>12}"]
        lines.extend(f"  {t.table:<{width}} {t.rows:>12,}" for t in self.tables)
        return "\n".join(lines)


Confirm = Callable[[Loss], None]


@dataclass(frozen=True)
class Session:
    """A client session open on a server (a row of ``pg_stat_activity``)."""

    pid: int
    role: str
    database: str
    application: str
    client: str  # an address, or "local socket"
    state: str
    since: datetime


@dataclass(frozen=True)
class Interruption:
    """What an action would interrupt: the open ``sessions`` of a server it restarts. Their
    open transactions are rolled back, and temporary tables and settings lost."""

    action: str  # what would do it, e.g. "restarting the embedded server for TCP port 5433"
    where: str
    sessions: tuple[Session, ...]

    def summary(self) -> str:
        return f"{self.action} would end {len(self.sessions)} open session(s) on {self.where}"

    def describe(self) -> str:
        header = ("pid", "role", "database", "application", "client", "state", "since (UTC)")
        rows = [header] + [
            (
                str(s.pid),
                s.role,
                s.database,
                s.application or "-",
                s.client,
                s.state or "-",
                f"{s.since.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
            )
            for s in self.sessions
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows
        ]
        return "\n".join([f"{self.summary()}:", *lines])


ConfirmEnd = Callable[[Interruption], None]


class _Listing(Protocol):
    @property
    def where(self) -> str: ...

    def summary(self) -> str: ...

    def describe(self) -> str: ...


def count_rows(conn: Connection, tables: Iterable[str]) -> tuple[TableRows, ...]:
    """Exact row counts of those ``tables`` that hold rows (a partitioned table counts all of
    its partitions), in the order given."""
    found = []
    for table in tables:
        quoted = conn.dialect.identifier_preparer.quote(table)
        rows = conn.execute(text(f"select count(*) from {quoted}")).scalar_one()  # noqa: S608
        if rows:
            found.append(TableRows(table, int(rows)))
    return tuple(found)


def user_tables(conn: Connection) -> list[str]:
    """The tables of the current schema, partitions left out (their parent counts them), and
    Alembic's own version table, which holds no user data."""
    return list(
        conn.execute(
            text(
                "select c.relname from pg_class c "
                "where c.relnamespace = current_schema()::regnamespace "
                "and c.relkind in ('r', 'p') and not c.relispartition "
                "and c.relname <> 'alembic_version' order by c.relname"
            )
        ).scalars()
    )


def accept(_loss: Loss) -> None:
    """A ``confirm`` callback that always proceeds, for callers that decided already."""


def confirm_loss(yes: bool, *, terminal: Callable[[], bool] | None = None) -> Confirm:
    """The command line's ``confirm``: list the loss on stderr, then proceed with ``yes``, or
    ask on a terminal; anything else raises :class:`DataLossRefused` and nothing is deleted.

    Without a terminal (cron, a pipe, CI) there is nobody to ask, so only ``--yes`` proceeds.
    """
    return _asking(yes, terminal, "Delete these rows?", "nothing was deleted", "from")


def confirm_interruption(yes: bool, *, terminal: Callable[[], bool] | None = None) -> ConfirmEnd:
    """:func:`confirm_loss` for sessions: list them, then proceed with ``yes`` or a "y" on a
    terminal; anything else raises :class:`DataLossRefused` and no session is ended."""
    return _asking(yes, terminal, "End these sessions?", "no session was ended", "on")


@dataclass(frozen=True)
class Listing:
    """Anything else a command would delete, as lines for the person asked."""

    where: str
    headline: str
    lines: tuple[str, ...]

    def summary(self) -> str:
        return self.headline

    def describe(self) -> str:
        return "\n".join([f"{self.headline}:", *(f"  {line}" for line in self.lines)])


def confirm_deletion(
    yes: bool, *, terminal: Callable[[], bool] | None = None
) -> Callable[[Listing], None]:
    """:func:`confirm_loss` for files (``report prune``): list, then proceed with ``yes`` or a
    "y" on a terminal; anything else raises :class:`DataLossRefused` and nothing is deleted."""
    return _asking(yes, terminal, "Delete them?", "nothing was deleted", "in")


def _asking(
    yes: bool, terminal: Callable[[], bool] | None, question: str, kept: str, place: str
) -> Callable[[_Listing], None]:
    is_terminal = terminal or (lambda: sys.stdin.isatty())

    def confirm(listing: _Listing) -> None:
        click.echo(listing.describe(), err=True)
        if yes:
            return
        if not is_terminal():
            raise ConfirmationNeeded(
                f"{listing.summary()}; {kept}: no terminal to ask on",
                option="yes",
                remedy="to confirm",
            )
        if not click.confirm(question, default=False, err=True):
            raise DataLossRefused(f"not confirmed; {kept} {place} {listing.where}")

    return confirm


def system_identifier(pgdata: Path) -> int:
    """The system identifier of the cluster in ``pgdata``, from its ``global/pg_control``."""
    with open(pgdata / "global" / "pg_control", "rb") as control:
        head = control.read(_SYSID_BYTES)
    if len(head) != _SYSID_BYTES:
        raise OSError(f"{pgdata / 'global' / 'pg_control'} is truncated")
    return int.from_bytes(head, sys.byteorder)


def _server_data_dir(conn: Connection) -> str | None:
    """The data directory of the server on ``conn``: ``data_directory`` when the role may read
    it, else the socket lock file of the Unix socket the connection came through (which names
    the postmaster's data directory on its second line), else None."""
    try:
        with conn.begin_nested():
            return str(conn.execute(text("show data_directory")).scalar_one())
    except DBAPIError:
        pass  # not a superuser nor in pg_read_all_settings: ask the socket instead
    info = conn.connection.driver_connection.info  # type: ignore[union-attr]
    host, port = str(info.host), int(info.port)
    if not host.startswith("/"):
        return None
    try:
        lines = Path(host, f".s.PGSQL.{port}.lock").read_text().splitlines()
    except OSError:
        return None
    return lines[1] if len(lines) > 1 else None


def embedded_mismatch(
    engine: Engine, data_dir: Path, database: str = EMBEDDED_DATABASE
) -> str | None:
    """None when ``engine`` reaches ``database`` on the embedded server kept in ``data_dir``;
    otherwise why not, in a few words.

    The server must have the embedded cluster's system identifier (read from its
    ``pg_control``: another account's server, or a different cluster, has another) and its
    data directory (a copy or replica of the cluster shares the identifier, not the folder).
    """
    pgdata = data_dir / "pgdata"
    try:
        ours = system_identifier(pgdata)
    except OSError as exc:
        return f"the embedded server's cluster cannot be read in {data_dir} ({exc.strerror or exc})"
    with engine.connect() as conn:
        theirs, name = conn.execute(
            text("select system_identifier, current_database() from pg_control_system()")
        ).one()
        served = _server_data_dir(conn)
    if int(theirs) & _UINT64 != ours:
        return f"it is served by another cluster than the embedded server's in {data_dir}"
    if served is None:
        return "the server's data directory cannot be confirmed"
    if os.path.realpath(served) != os.path.realpath(pgdata):
        return f"it is served from {served}, not from the embedded server's {pgdata}"
    if name != database:
        return f"it is database {name!r}, not the embedded demo database {database!r}"
    return None
