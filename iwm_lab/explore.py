"""Ad-hoc SQL for analysts: ``iwm_lab.sql(query, **params)`` returns a pandas DataFrame.

>>> iwm_lab.sql("select title, year from movies where release_date >= :start", start="2020-01-01")

For the questions the query functions do not answer. The statement runs on the same read-only
analyst session as :func:`iwm_lab.connect` (:func:`iwm_lab.database.analyst_engine`'s URL:
the analyst role, ``default_transaction_read_only``, ``IWM_STATEMENT_TIMEOUT``, UTC, work_mem),
fetched as Arrow through the ADBC PostgreSQL driver (binary COPY): for 1M rows of 7 columns
3.5 times as fast as ``pandas.read_sql`` with a sixth of its memory (``benchmarks/bench_arrow.py``).

Parameters
    ``:name`` in the query is bound to the keyword argument ``name``; the value travels apart
    from the text, so no value can change the statement. A name in the query that is not given,
    or given but not in the query, is a :class:`~iwm_lab.exceptions.QueryError`. Colons in
    string literals, quoted names, dollar quotes and comments, and ``::`` casts, are not
    parameters (``:start::date`` is ``:start`` cast); ``\\:`` is a literal colon. A value takes
    the type the server infers for its place when it fits: ``"2026-01-01"`` compared with a
    timestamp column is that timestamp, ``"2000"`` for an integer 2000, the number 2000 for a
    varchar column (``movies.year``) its text, in lists too (``= any(:years)``); a text that
    does not parse as that type is an error naming the parameter. As PostgreSQL reads a bare
    ``select :x`` as text, a number there comes back as text: write ``:x::int``. Other values,
    and values where the server infers no type (``pg_typeof(:x)``), keep their Python type (int:
    bigint, float: double precision, Decimal: numeric, date, datetime, bool, list: an array).

Sessions
    One ADBC connection per process and URL, each call one transaction rolled back at its end:
    nothing it did, a ``SET`` included, outlives the call, and a failed statement never affects
    the next call. Writes fail (read-only transaction; the analyst role also lacks privileges).
    One statement per call. A connection the server dropped is replaced once, transparently.

Dtypes (by PostgreSQL type; NULL becomes the dtype's missing value)
    ============================================  ============================================
    smallint, integer, bigint                     ``Int64`` (pandas' nullable integer: NULL is
                                                  ``<NA>``, the column stays integer)
    real, double precision                        ``float64`` (NULL is NaN)
    numeric (``avg``, ``sum`` of integers, ...)   ``float64``: analysts compute with it; past
                                                  15 significant digits cast to text in SQL
    text, varchar, char, json, jsonb              ``str``, pandas' string dtype (NULL is NaN)
    boolean                                       ``boolean`` (nullable: NULL is ``<NA>``)
    timestamp                                     ``datetime64[us]`` (UTC wall time, NaT)
    timestamptz                                   ``datetime64[us, UTC]``
    date                                          ``datetime64[us]``, the day's midnight, as the
                                                  query functions' periods
    anything else                                 Python objects as pyarrow gives them (uuid:
                                                  ``UUID``; interval: ``DateOffset``; arrays:
                                                  numpy arrays; time: ``time``); types Arrow
                                                  has none for (inet, ...) arrive as bytes:
                                                  cast them to text in SQL (``ip::text``)
    ============================================  ============================================
    The columns keep these dtypes when there are no rows.

Errors
    A database error is a :class:`~iwm_lab.exceptions.QueryError` with the server's message,
    where in the query it points (line, column) and its hint, never a password or a bound value.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from numbers import Real
from typing import Any
from urllib.parse import quote

import adbc_driver_postgresql.dbapi as adbc
import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import URL

from iwm_lab.database import analyst_engine, describe_url, scrub
from iwm_lab.exceptions import DatabaseUnavailable, QueryError
from iwm_lab.settings import get_settings

# Statements PostgreSQL's COPY (query) TO STDOUT accepts; others (SHOW, EXPLAIN) are fetched
# without COPY.
_COPYABLE = frozenset({"select", "with", "values", "table", "("})
_USE_COPY = "adbc.postgresql.use_copy"
_NAME = re.compile(r"[^\W\d]\w*")
_DOLLAR_QUOTE = re.compile(r"\$(?:[^\W\d]\w*)?\$")
_WORD = re.compile(r"\w+")
_TIMEOUT = "57014"


@dataclass(frozen=True)
class Statement:
    """A query with its ``:name`` parameters replaced by ``$1``, ``$2``, ... placeholders."""

    query: str
    text: str
    names: tuple[str, ...]  # the name of $1, $2, ...
    copyable: bool
    # (index in text, index in query) after each substitution, to map error positions back.
    anchors: tuple[tuple[int, int], ...]

    def location(self, position: int) -> str:
        """``line L, column C`` in the query of the server's 1-based ``position`` in text."""
        index = position - 1
        text_at, query_at = max(a for a in self.anchors if a[0] <= index)
        original = min(query_at + index - text_at, len(self.query))
        line = self.query.count("\n", 0, original) + 1
        column = original - self.query.rfind("\n", 0, original)
        return f"line {line}, column {column}"


def _follows_word(query: str, i: int) -> bool:
    return i > 0 and (query[i - 1].isalnum() or query[i - 1] in "_$:\\")


def _quoted_end(query: str, i: int, quote_char: str, backslashes: bool) -> int:
    j = i + 1
    while j < len(query):
        if backslashes and query[j] == "\\":
            j += 2
        elif query[j] != quote_char:
            j += 1
        elif query.startswith(quote_char * 2, j):
            j += 2
        else:
            return j + 1
    return len(query)


def _comment_end(query: str, i: int) -> int:
    depth, j = 0, i
    while j < len(query):
        if query.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif query.startswith("*/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    return len(query)


def _skip(query: str, i: int) -> int | None:
    """The end of the literal, quoted name or comment starting at ``i``, if one does."""
    c = query[i]
    if query.startswith("--", i):
        end = query.find("\n", i)
        return len(query) if end < 0 else end
    if query.startswith("/*", i):
        return _comment_end(query, i)
    if c == "'":
        # E'...' strings take backslash escapes; standard ones do not.
        escaped = i > 0 and query[i - 1] in "eE" and not _follows_word(query, i - 1)
        return _quoted_end(query, i, "'", escaped)
    if c == '"':
        return _quoted_end(query, i, '"', False)
    if c == "$" and not _follows_word(query, i) and (tag := _DOLLAR_QUOTE.match(query, i)):
        end = query.find(tag.group(), tag.end())
        return len(query) if end < 0 else end + len(tag.group())
    return None


def parse(query: str) -> Statement:
    """Find the ``:name`` parameters of ``query`` (see the module's docstring for the rules)."""
    pieces: list[str] = []
    names: list[str] = []
    anchors = [(0, 0)]
    first: str | None = None
    copied = i = 0  # query[copied:i] is still to be copied into the text
    written = 0  # length of the text so far, up to query[copied:]
    while i < len(query):
        if (end := _skip(query, i)) is not None:
            i = end
            continue
        c = query[i]
        if first is None and not c.isspace():
            first = c if c == "(" else (m.group() if (m := _WORD.match(query, i)) else c)
        if query.startswith("::", i):
            i += 2
            continue
        replacement, width = None, 0
        if query.startswith("\\:", i):
            replacement, width = ":", 2
        elif c == ":" and not _follows_word(query, i) and (name := _NAME.match(query, i + 1)):
            if name.group() not in names:
                names.append(name.group())
            replacement, width = f"${names.index(name.group()) + 1}", 1 + len(name.group())
        if replacement is None:
            i += 1
            continue
        pieces += [query[copied:i], replacement]
        written += i - copied + len(replacement)
        i = copied = i + width
        anchors.append((written, i))
    if first is None:
        raise QueryError("the query is empty: no statement, only spaces or comments")
    pieces.append(query[copied:])
    return Statement(
        query=query,
        text="".join(pieces),
        names=tuple(names),
        copyable=first.lower() in _COPYABLE,
        anchors=tuple(anchors),
    )


def parameter_names(query: str) -> tuple[str, ...]:
    """The ``:name`` parameters of ``query``, in order of first use."""
    return parse(query).names


def _check_parameters(statement: Statement, params: dict[str, Any]) -> None:
    missing = [f":{name}" for name in statement.names if name not in params]
    unused = sorted(set(params) - set(statement.names))
    problems = []
    if missing:
        problems.append(f"no value given for {', '.join(missing)}")
    if unused:
        problems.append(f"not in the query: {', '.join(unused)}")
    if problems:
        raise QueryError("parameters do not match the query: " + "; ".join(problems))


# Parameters --------------------------------------------------------------------------------


def _parsed(raw: str, target: pa.DataType) -> Any:
    """``raw`` as a value of ``target``, the type the server gives its place."""
    text = raw.strip()
    if pa.types.is_date(target):
        return date.fromisoformat(text)
    if pa.types.is_timestamp(target):
        return datetime.fromisoformat(text)
    if pa.types.is_time(target):
        return time.fromisoformat(text)
    if pa.types.is_integer(target):
        return int(text)
    if pa.types.is_floating(target):
        return float(text)
    if pa.types.is_decimal(target):
        return Decimal(text)
    return raw


def _converted(value: Any, field: pa.Field) -> Any:
    target = field.type
    if isinstance(value, str):
        return _parsed(value, target)
    if isinstance(value, list | tuple) and pa.types.is_list(target):
        return [_converted(item, target.value_field) for item in value]
    if pa.types.is_string(target) and isinstance(value, Real | Decimal):
        # A year or a code held as text (movies.year is varchar). Booleans are no numbers here.
        return value if isinstance(value, bool) else str(value)
    return value


def _parameter(name: str, value: Any, field: pa.Field | None) -> pa.Array:
    """One bound value as Arrow: of the server's type for its place when it fits, else its own."""
    if field is not None and not isinstance(field.type, pa.BaseExtensionType):
        target = field.type
        try:
            converted = _converted(value, field)
        except (ValueError, InvalidOperation, TypeError):
            typename = (field.metadata or {}).get(b"POSTGRESQL:type", b"").decode() or target
            raise QueryError(f"parameter :{name} is not a valid {typename}") from None
        with suppress(pa.ArrowException, OverflowError, TypeError, ValueError):
            return pa.array([converted], type=target)
    if value is None and field is None:
        return pa.nulls(1, pa.string())  # nothing tells its type: text, as for a bare NULL
    try:
        return pa.array([value])
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        raise QueryError(
            f"parameter :{name}: a {type(value).__name__} cannot be sent to the database"
        ) from None


def _bind(cursor: Any, statement: Statement, values: list[Any]) -> pa.RecordBatch | None:
    if not values:
        return None
    try:
        # Prepared without types, the statement tells what the server infers for each $n.
        expected = cursor.adbc_prepare(statement.text)
    except adbc.Error:
        # No inference (pg_typeof(:x), cardinality(:x)), or a mistake that running it reports.
        expected = None
    columns = [
        _parameter(name, value, None if expected is None else expected.field(number))
        for number, (name, value) in enumerate(zip(statement.names, values, strict=True))
    ]
    return pa.RecordBatch.from_arrays(columns, names=[f"${n + 1}" for n in range(len(values))])


# Sessions ----------------------------------------------------------------------------------


def _session_options() -> str:
    """libpq ``options`` of the analyst engine's sessions (see iwm_lab.database)."""
    settings = get_settings()
    options = [
        "-c default_transaction_read_only=on",
        f"-c statement_timeout={int(settings.statement_timeout_ms)}",
        "-c timezone=UTC",
    ]
    if settings.work_mem_mb:
        options.append(f"-c work_mem={int(settings.work_mem_mb)}MB")
    return " ".join(options)


def libpq_uri(url: URL) -> str:
    """``url`` (SQLAlchemy, psycopg) as a libpq URI with the analyst session's options.

    Every part goes in the query string (socket folders and IPv6 hosts need no special form);
    the URL's own query items are libpq parameters already, as psycopg passes them on.
    """
    params: dict[str, str] = {}
    for key, part in (("host", url.host), ("port", url.port), ("user", url.username)):
        if part is not None:
            params[key] = str(part)
    if url.password is not None:
        params["password"] = str(url.password)
    for key, value in url.query.items():
        params[key] = ",".join(value) if isinstance(value, tuple) else value
    # Later -c options win: ours after any the URL carries.
    params["options"] = " ".join(filter(None, [params.get("options"), _session_options()]))
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())
    return f"postgresql:///{quote(url.database or '', safe='')}?{query}"


class _Session:
    """One ADBC connection, used by one call at a time, reopened after a fork or a drop."""

    def __init__(self, uri: str, url: URL) -> None:
        self.uri = uri
        self.url = url
        self.lock = threading.Lock()
        self.connection: Any = None
        self.pid = 0

    def _open(self) -> Any:
        if self.connection is not None and self.pid == os.getpid():
            return self.connection
        # A connection inherited through fork belongs to the parent: forget it, never close.
        self.connection = None
        try:
            self.connection = adbc.connect(self.uri, autocommit=False)
        except adbc.Error as exc:
            # libpq's own reason, without the driver's prefix and the socket's path.
            text = str(exc).strip()
            found = re.search(r"FATAL:\s+(.+)", text)
            reason = found.group(1) if found else text.splitlines()[0]
            raise DatabaseUnavailable(
                f"cannot connect to {describe_url(self.url)}: {scrub(reason, self.url)}"
            ) from None
        self.pid = os.getpid()
        return self.connection

    def close(self) -> None:
        if self.connection is not None and self.pid == os.getpid():
            with suppress(adbc.Error):
                self.connection.close()
        self.connection = None

    def run(self, statement: Statement, values: list[Any]) -> pa.Table:
        with self.lock:
            try:
                return self._run(statement, values)
            except adbc.Error:
                if self.connection is not None:
                    raise
                # Not even the rollback went through: the server dropped the connection
                # (restart, idle timeout). A read-only statement can safely run again, once.
                return self._run(statement, values)

    def _run(self, statement: Statement, values: list[Any]) -> pa.Table:
        connection = self._open()
        cursor = connection.cursor()
        try:
            cursor.adbc_statement.set_options(
                **{_USE_COPY: "true" if statement.copyable else "false"}
            )
            parameters = _bind(cursor, statement, values)
            cursor.execute(statement.text, parameters)
            return cursor.fetch_arrow_table()
        finally:
            cursor.close()
            try:
                connection.rollback()
            except adbc.Error:
                self.close()


_SESSIONS: dict[str, _Session] = {}
_SESSIONS_LOCK = threading.Lock()


def _session(url: URL) -> _Session:
    uri = libpq_uri(url)
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(uri)
        if session is None:
            session = _SESSIONS[uri] = _Session(uri, url)
        return session


@atexit.register
def _close_sessions() -> None:
    for session in _SESSIONS.values():
        session.close()


# Results -----------------------------------------------------------------------------------

_DTYPES: dict[pa.DataType, Any] = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def _normalised(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` in the Arrow type whose pandas conversion is the documented dtype."""
    kind = column.type
    if isinstance(kind, pa.BaseExtensionType) and not isinstance(kind, pa.UuidType):
        storage = pa.chunked_array([chunk.storage for chunk in column.chunks], kind.storage_type)
        if isinstance(kind, pa.OpaqueType) and kind.type_name == "numeric":
            return storage.cast(pa.float64())  # PostgreSQL's text: 'NaN' and 'Infinity' too
        return storage
    if pa.types.is_integer(kind):
        return column.cast(pa.int64())
    if pa.types.is_floating(kind):
        return column.cast(pa.float64())
    if pa.types.is_date(kind):
        return column.cast(pa.timestamp("us"))
    return column


def to_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow result as a DataFrame with the dtypes of the module's table."""
    columns = [_normalised(column) for column in table.columns]
    normalised = pa.Table.from_arrays(columns, names=table.column_names)
    return normalised.to_pandas(types_mapper=_DTYPES.get)


# Errors ------------------------------------------------------------------------------------


def _query_error(exc: adbc.Error, statement: Statement, params: dict[str, Any]) -> QueryError:
    diagnostics = {
        key.decode(errors="replace"): value.decode(errors="replace")
        for key, value in exc.details or []
    }
    message = diagnostics.get("PG_DIAG_MESSAGE_PRIMARY")
    if not message:
        text = str(exc).strip()
        found = re.search(r"ERROR:\s+(.+)", text)
        message = found.group(1) if found else text.splitlines()[0]
    position = diagnostics.get("PG_DIAG_STATEMENT_POSITION", "")
    if position.isdigit():
        message += f" (at {statement.location(int(position))})"
    if exc.sqlstate == _TIMEOUT:
        message += f"; IWM_STATEMENT_TIMEOUT is {get_settings().statement_timeout_ms} ms"
    if hint := diagnostics.get("PG_DIAG_MESSAGE_HINT"):
        message += f"; hint: {hint}"
    # The server quotes a value it could not use ('invalid input syntax ... "x"'): name it.
    for name, value in params.items():
        shown = str(value)
        message = message.replace(f'"{shown}"', f"(the value of :{name})")
        if len(shown) >= 4:
            message = message.replace(shown, f"(the value of :{name})")
    return QueryError(message, exc.sqlstate)


def sql(query: str, /, **params: Any) -> pd.DataFrame:
    """Run one read-only ``query`` with ``:name`` parameters bound from ``params``.

    >>> sql("select year, count(*) as movies from movies where year >= :y group by 1", y="2000")

    Returns its rows as a DataFrame (dtypes in the module's docstring). Raises
    :class:`~iwm_lab.exceptions.QueryError` for a failed statement or a parameter that is
    missing, unused or unusable, and never leaves the session changed or aborted.
    """
    __tracebackhide__ = True  # IPython and pytest show the caller's line, not this module's
    statement = parse(query)
    _check_parameters(statement, params)
    engine = analyst_engine()
    values = [params[name] for name in statement.names]
    try:
        table = _session(engine.url).run(statement, values)
    except adbc.Error as exc:
        raise _query_error(exc, statement, params) from None
    return to_frame(table)
