"""A failed run's message: one short line, and whether the database was out of reach.

The message travels far: ``run.json``, ``state.json``, the index, the ``on_failure`` hook's
environment (often mailed or posted), the terminal. SQLAlchemy's errors carry the whole
statement (``[SQL: …]``), its bound values (``[parameters: …]``) and a link; the database's
own message may add ``LINE 1: <statement>``, ``DETAIL`` and ``HINT`` lines quoting rows. Only
the first line of the error is kept, without those blocks, with any long quoted text left out
and the length capped. The executed notebook keeps the full traceback for whoever debugs it.

A run whose database could not be reached (refused, wrong password, server gone mid-run) did
not fail on its own account: :func:`lost_database` tells ``run-due`` to try its slot again.
"""

from __future__ import annotations

import re

MAX_MESSAGE = 300
# PostgreSQL identifiers are at most 63 bytes: longer quoted text is data, not a name.
_LONG_QUOTED = re.compile(r'"[^"\n]{64,}"|\'[^\'\n]{64,}\'')
_SQLALCHEMY_BLOCKS = re.compile(
    r"\s*(\[SQL: .*|\[parameters: .*|\(Background on this error at: .*)", re.DOTALL
)
# What libpq and psycopg say when there is no connection (any more), as opposed to an error
# of the statement on a live one (a statement timeout is an OperationalError too).
_NO_CONNECTION = re.compile(
    r"connection to server .* failed"
    r"|could not connect to server"
    r"|connection failed"
    r"|server closed the connection unexpectedly"
    r"|terminating connection due to administrator command"
    r"|terminating connection because of crash of another server process"
    r"|the database system is (?:shutting down|starting up|in recovery mode)"
    r"|SSL connection has been closed unexpectedly"
    r"|the connection is (?:closed|lost)"
    r"|consuming input failed"
    r"|no connection to the server"
    r"|cannot connect to ",
    re.IGNORECASE,
)
_CONNECTION_ERRORS = {"OperationalError", "InterfaceError", "DatabaseUnavailable", "AdminShutdown"}


def short_message(text: str, limit: int = MAX_MESSAGE) -> str:
    """The first line of an error message, without SQL text, bound values or long data."""
    text = _SQLALCHEMY_BLOCKS.sub("", text)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = _LONG_QUOTED.sub("[value left out]", first)
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def failure_message(ename: str, evalue: str, cell: int | None = None) -> str:
    """``cell [n]: ExcName: first line`` for a failed cell (``ExcName: …`` without a cell)."""
    where = f"cell [{cell}]: " if cell is not None else ""
    detail = short_message(evalue)
    return f"{where}{ename}: {detail}" if detail else f"{where}{ename}"


def lost_database(ename: str, evalue: str) -> bool:
    """Whether an error says the database could not be reached, rather than refused a query."""
    return ename in _CONNECTION_ERRORS and _NO_CONNECTION.search(evalue) is not None
