"""``iwm_lab.sql()``: ad-hoc SQL on the read-only analyst session, fetched as Arrow.

Each test points ``IWM_DATABASE_URL`` at this module's database (as the analyst, unless the
test is about another role) and queries rows the module wrote there as the owner.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from iwm_lab import get_settings, roles, sql
from iwm_lab.database import get_engine
from iwm_lab.exceptions import DatabaseUnavailable, QueryError
from iwm_lab.explore import libpq_uri, parse
from iwm_lab.server import EmbeddedServer

# The rows every test reads.
COLUMNS = ("id", "title", "released", "seen", "score", "code")
ROWS = [
    (1, "Alpha", date(2019, 12, 31), datetime(2020, 1, 1, 9, 30), 7.5, "1999"),
    (2, "x' or '1'='1", date(2020, 1, 1), datetime(2020, 6, 1, 0, 0), 8.25, "2000"),
    (3, "Gamma", date(2021, 5, 17), datetime(2021, 5, 17, 23, 59, 59), None, "2001"),
]


@pytest.fixture(scope="module")
def cases(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.begin() as conn:
        conn.execute(
            text(
                "create table sql_cases (id int primary key, title text not null, "
                "released date, seen timestamp, score float8, code varchar(4))"
            )
        )
        conn.execute(
            text("insert into sql_cases values (:id, :title, :released, :seen, :score, :code)"),
            [dict(zip(COLUMNS, row, strict=True)) for row in ROWS],
        )
        conn.execute(text(f"grant select on sql_cases to {roles.ANALYST_ROLE}"))
    return ROWS


@pytest.fixture
def use_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[URL], None]]:
    """Point iwm_lab.sql() at a URL, as IWM_DATABASE_URL does."""

    def use(url: URL) -> None:
        monkeypatch.setenv("IWM_DATABASE_URL", url.render_as_string(hide_password=False))
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


@pytest.fixture
def analyst_url(db_url: URL, pg_server: EmbeddedServer) -> URL:
    assert db_url.database is not None
    return pg_server.url(db_url.database, role=roles.ANALYST_ROLE)


@pytest.fixture
def analyst(
    cases: list[tuple[Any, ...]], analyst_url: URL, use_url: Callable[[URL], None]
) -> list[tuple[Any, ...]]:
    use_url(analyst_url)
    return cases


def _count(engine: Engine, query: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(query)).scalar_one())


# Parameters ---------------------------------------------------------------------------------

INJECTIONS = [
    "x' or '1'='1",
    "'; drop table sql_cases; --",
    "$1",
    ":title",
    "{{title}} $title {title}",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_a_value_is_bound_never_written_into_the_statement(
    analyst: list[tuple[Any, ...]], engine: Engine, payload: str
) -> None:
    echoed = sql("select :v as v, length(:v) as n", v=payload)
    assert echoed["v"].tolist() == [payload] and echoed["n"].tolist() == [len(payload)]
    found = sql("select id from sql_cases where title = :title order by id", title=payload)
    assert found["id"].tolist() == [r[0] for r in analyst if r[1] == payload]
    assert _count(engine, "select count(*) from sql_cases") == len(analyst)


def test_colons_in_literals_names_dollar_quotes_and_comments_are_no_parameters(
    analyst: list[tuple[Any, ...]],
) -> None:
    query = (
        "select ':a' as literal, E'it\\'s :b' as escaped, $$ :c $$ as dollar,\n"
        '  $tag$:d$tag$ as tagged, 1 as "odd:name", :n::int + 1 as cast, '
        "(array[10, 20, 30])[2:3] as slice, (array[10, 20])[\\:n] as head, '12:30'::time\n"
        "  -- :e in a line comment\n"
        "  /* :f in a /* nested */ block comment */\n"
        "from (select 1 as n) as one"
    )
    assert parse(query).names == ("n",)
    row = sql(query, n="41").iloc[0]
    assert row["literal"] == ":a" and row["escaped"] == "it's :b"
    assert row["dollar"] == " :c " and row["tagged"] == ":d" and row["odd:name"] == 1
    assert row["cast"] == 42 and list(row["slice"]) == [20, 30]
    assert list(row["head"]) == [10]  # "\\:n" is the subquery's column n, a slice's bound


def test_a_repeated_parameter_is_one_value(analyst: list[tuple[Any, ...]]) -> None:
    statement = parse("select :x as a, :y as b, :x as c")
    assert statement.text == "select $1 as a, $2 as b, $1 as c"
    assert sql("select :x::int as a, :y as b, :x::int as c", x=3, y="b").iloc[0].tolist() == [
        3,
        "b",
        3,
    ]


@pytest.mark.parametrize(
    ("query", "params", "message"),
    [
        ("select :a as a, :b as b", {"a": 1}, "no value given for :b"),
        ("select 1 as one", {"a": 1}, "not in the query: a"),
        ("select :a as a", {"b": 1}, "no value given for :a; not in the query: b"),
    ],
    ids=["missing", "unused", "both"],
)
def test_parameters_that_do_not_match_the_query_are_one_error(
    analyst: list[tuple[Any, ...]], query: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(QueryError) as caught:
        sql(query, **params)
    assert str(caught.value) == f"parameters do not match the query: {message}"


# (query, value, the rows' ids expected): a value takes the type of its place.
TYPED = [
    ("released >= :v", "2020-01-01", lambda r, v: r[2] >= date.fromisoformat(v)),
    ("seen < :v", "2020-06-01", lambda r, v: r[3] < datetime.fromisoformat(v)),
    ("seen < :v", date(2020, 6, 1), lambda r, v: r[3] < datetime(v.year, v.month, v.day)),
    ("id = :v", "2", lambda r, v: r[0] == int(v)),
    ("code = :v", 2000, lambda r, v: r[5] == str(v)),
    ("code = any(:v)", [1999, 2001], lambda r, v: int(r[5]) in v),
    ("released = any(:v)", ["2020-01-01", "2021-05-17"], lambda r, v: str(r[2]) in v),
    ("score > :v", Decimal("8"), lambda r, v: r[4] is not None and r[4] > v),
    ("score > :v", 8, lambda r, v: r[4] is not None and r[4] > v),
    ("score is not distinct from :v", None, lambda r, v: r[4] is None),
]


@pytest.mark.parametrize(("condition", "value", "keep"), TYPED)
def test_a_value_takes_the_type_of_its_place(
    analyst: list[tuple[Any, ...]], condition: str, value: Any, keep: Callable[..., bool]
) -> None:
    found = sql(f"select id from sql_cases where {condition} order by id", v=value)
    expected = [r[0] for r in analyst if keep(r, value)]
    assert found["id"].tolist() == expected and expected, "each case keeps some rows"


# Values in a place the server gives no type keep their Python type.
ROUND_TRIPS: list[tuple[Any, Any, str]] = [
    (None, None, "text"),
    ("text", "text", "text"),
    (7, 7, "bigint"),
    (2**40, 2**40, "bigint"),
    (np.int64(-3), -3, "bigint"),
    (1.5, 1.5, "double precision"),
    (True, True, "boolean"),
    (Decimal("1.25"), 1.25, "numeric"),
    (date(2020, 1, 2), pd.Timestamp("2020-01-02"), "date"),
    (datetime(2020, 1, 2, 3, 4, 5), pd.Timestamp("2020-01-02 03:04:05"), "timestamp"),
    (
        datetime(2020, 1, 2, 3, tzinfo=timezone(timedelta(hours=2))),
        pd.Timestamp("2020-01-02 01:00Z"),
        "timestamp with time zone",
    ),
    (pd.Timestamp("2020-01-02 03:04"), pd.Timestamp("2020-01-02 03:04"), "timestamp"),
]


@pytest.mark.parametrize(("value", "expected", "kind"), ROUND_TRIPS, ids=lambda v: str(v))
def test_an_untyped_value_keeps_its_own_type(
    analyst: list[tuple[Any, ...]], value: Any, expected: Any, kind: str
) -> None:
    row = sql("select :v as v, pg_typeof(:v)::text as kind", v=value).iloc[0]
    assert pd.isna(row["v"]) if expected is None else row["v"] == expected
    assert row["kind"].startswith(kind)


def test_a_bare_select_reads_a_number_as_text(analyst: list[tuple[Any, ...]]) -> None:
    # As PostgreSQL reads "select '7'"; a cast or arithmetic gives the place a number type.
    frame = sql("select :a as bare, :b::int as cast, :c + 1 as next", a=7, b=7, c=7)
    assert frame.iloc[0].tolist() == ["7", 7, 8]


def test_a_list_is_an_array(analyst: list[tuple[Any, ...]]) -> None:
    assert list(sql("select :v as v", v=[3, 1, 2])["v"].iloc[0]) == [3, 1, 2]
    assert sql("select cardinality(:v) as n", v=("a", "b"))["n"].tolist() == [2]


@pytest.mark.parametrize(
    ("query", "value", "fragment"),
    [
        ("select :v::date as d", "not a date, secret", "parameter :v is not a valid date"),
        ("select cast(:v as text)::int as i", "secret-77", "invalid input syntax"),
        ("select * from sql_cases where title = :v and nope", "secret-88", 'column "nope"'),
    ],
    ids=["parsed-here", "refused-by-the-server", "unrelated-error"],
)
def test_an_error_never_shows_a_bound_value(
    analyst: list[tuple[Any, ...]], query: str, value: str, fragment: str
) -> None:
    with pytest.raises(QueryError) as caught:
        sql(query, v=value)
    assert fragment in str(caught.value) and "secret" not in str(caught.value)


# Sessions ----------------------------------------------------------------------------------


def test_the_session_is_the_read_only_analyst_in_utc(analyst: list[tuple[Any, ...]]) -> None:
    row = sql(
        "select current_user as who, current_setting('transaction_read_only') as read_only, "
        "(select setting from pg_settings where name = 'statement_timeout') as timeout, "
        "current_setting('TimeZone') as zone"
    ).iloc[0]
    timeout = str(get_settings().statement_timeout_ms)
    assert row.tolist() == [roles.ANALYST_ROLE, "on", timeout, "UTC"]
    assert sql("show timezone").iloc[0, 0] == "UTC"  # SHOW cannot be fetched by COPY
    assert "Result" in sql("explain select 1").iloc[0, 0]


WRITES = [
    "insert into sql_cases (id, title) values (99, 'written')",
    "update sql_cases set title = 'changed'",
    "delete from sql_cases",
    "create table sql_written (id int)",
    "with gone as (delete from sql_cases returning id) select count(*) from gone",
]


@pytest.mark.parametrize("role", [roles.ANALYST_ROLE, roles.WRITER_ROLE])
@pytest.mark.parametrize("statement", WRITES)
def test_a_write_is_refused_and_writes_nothing(
    cases: list[tuple[Any, ...]],
    db_url: URL,
    pg_server: EmbeddedServer,
    use_url: Callable[[URL], None],
    engine: Engine,
    statement: str,
    role: str,
) -> None:
    # The writer may write: the session's read-only transaction alone refuses it.
    assert db_url.database is not None
    use_url(pg_server.url(db_url.database, role=role))
    with pytest.raises(QueryError) as caught:
        sql(statement)
    assert caught.value.sqlstate == "25006"
    assert "in a read-only transaction" in str(caught.value)
    with engine.connect() as conn:
        titles = conn.execute(text("select id, title from sql_cases order by id")).all()
        created = conn.execute(text("select to_regclass('sql_written')")).scalar_one()
    assert [tuple(t) for t in titles] == [(r[0], r[1]) for r in cases] and created is None


# The mistakes before a good statement: each must leave nothing behind for the next call.
MISTAKES = {
    "no such table": "select * from no_such_table",
    "division by zero": "select 1 / 0",
    "two statements": "select 1; select 2",
    "a write": "insert into sql_cases (id, title) values (98, 'x')",
    "a syntax error": "select from where",
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_failed_statement_does_not_poison_the_next(
    analyst: list[tuple[Any, ...]], mistake: str
) -> None:
    with pytest.raises(QueryError):
        sql(MISTAKES[mistake])
    assert sql("select count(*) as n from sql_cases")["n"].tolist() == [len(analyst)]


def test_nothing_a_call_sets_outlives_it(analyst: list[tuple[Any, ...]]) -> None:
    timeout = sql("show statement_timeout").iloc[0, 0]
    sql("set statement_timeout = 0")
    sql("select set_config('work_mem', '1MB', false)")
    sql("begin")
    assert sql("show statement_timeout").iloc[0, 0] == timeout
    assert sql("show work_mem").iloc[0, 0] == f"{get_settings().work_mem_mb}MB"
    assert sql("select count(*) as n from sql_cases")["n"].tolist() == [len(analyst)]


def test_any_url_becomes_the_same_libpq_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IWM_STATEMENT_TIMEOUT", "1234")
    get_settings.cache_clear()
    password = "p@ss:w/rd?&=%+ x"
    url = URL.create(
        "postgresql+psycopg",
        username="ana lyst",
        password=password,
        host="::1",
        port=5433,
        database="my db",
        query={"sslmode": "require", "options": "-c search_path=public"},
    )
    try:
        parsed = conninfo_to_dict(libpq_uri(url))  # as libpq itself reads it
        work_mem = get_settings().work_mem_mb
    finally:
        get_settings.cache_clear()
    assert parsed == {
        "user": "ana lyst",
        "password": password,
        "host": "::1",
        "port": "5433",
        "dbname": "my db",
        "sslmode": "require",
        # The URL's own options first: ours, later, win.
        "options": "-c search_path=public -c default_transaction_read_only=on "
        f"-c statement_timeout=1234 -c timezone=UTC -c work_mem={work_mem}MB",
    }


def test_the_statement_timeout_applies(
    analyst: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IWM_STATEMENT_TIMEOUT", "200")
    get_settings.cache_clear()
    started = time.monotonic()
    with pytest.raises(QueryError) as caught:
        sql("select pg_sleep(:seconds)", seconds=5)
    assert time.monotonic() - started < 4
    assert caught.value.sqlstate == "57014"
    assert str(caught.value) == (
        "canceling statement due to statement timeout; IWM_STATEMENT_TIMEOUT is 200 ms"
    )
    assert sql("select 1 as one")["one"].tolist() == [1]


def test_a_dropped_connection_is_replaced(analyst: list[tuple[Any, ...]], engine: Engine) -> None:
    me = sql("select pg_backend_pid() as pid")["pid"].iloc[0]
    with engine.connect() as conn:
        assert conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": int(me)}).scalar()
    assert sql("select count(*) as n from sql_cases")["n"].tolist() == [len(analyst)]
    assert sql("select pg_backend_pid() as pid")["pid"].iloc[0] != me


def test_an_error_carries_the_position_and_hint_of_the_server(
    analyst: list[tuple[Any, ...]],
) -> None:
    with pytest.raises(QueryError) as caught:
        sql("select :first as a,\n  :second + nope as b", first=1, second=2)
    # The server counts in "select $1 as a,\n  $2 + nope as b"; the message in the query.
    assert str(caught.value) == 'column "nope" does not exist (at line 2, column 13)'
    assert caught.value.sqlstate == "42703"
    with pytest.raises(QueryError, match="hint: No operator matches"):
        sql("select id from sql_cases where released = :n", n=True)


@pytest.mark.parametrize("query", ["", "   \n", "-- only a comment", "/* and */ "])
def test_an_empty_query_is_refused(analyst: list[tuple[Any, ...]], query: str) -> None:
    with pytest.raises(QueryError, match="the query is empty"):
        sql(query)


@pytest.mark.slow
def test_no_password_in_any_message(
    cases: list[tuple[Any, ...]],
    analyst_url: URL,
    make_database: Callable[..., URL],
    template_name: str,
    use_url: Callable[[URL], None],
) -> None:
    # The socket trusts its users, so the password is never asked for: it only travels.
    secret = f"pw-{uuid.uuid4().hex}"
    use_url(analyst_url.set(password=secret))
    with pytest.raises(QueryError) as caught:
        sql("select * from no_such_table where x = :x", x=secret)
    assert "no_such_table" in str(caught.value) and secret not in str(caught.value)
    # A database dropped under an open session: the reconnection fails, in one line.
    doomed = make_database("doomed", template=template_name)
    use_url(analyst_url.set(database=doomed.database, password=secret))
    assert sql("select 1 as one")["one"].tolist() == [1]
    admin = get_engine(doomed.set(database="postgres"), writable=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'drop database "{doomed.database}" with (force)'))
    admin.dispose()
    with pytest.raises(DatabaseUnavailable) as dropped:
        sql("select 1 as one")
    assert f'"{doomed.database}" does not exist' in str(dropped.value)
    assert secret not in str(dropped.value) and "\n" not in str(dropped.value)


# Dtypes ------------------------------------------------------------------------------------

# PostgreSQL type, a value, the dtype (as str) and the value read back.
TYPES: list[tuple[str, str, str, Any]] = [
    ("smallint", "7", "Int64", 7),
    ("integer", "-8", "Int64", -8),
    ("bigint", "9007199254740993", "Int64", 9007199254740993),
    ("real", "1.5", "float64", 1.5),
    ("double precision", "2.25", "float64", 2.25),
    ("numeric", "3.125", "float64", 3.125),
    ("numeric(12, 2)", "1234567.89", "float64", 1234567.89),
    ("text", "'text'", "str", "text"),
    ("varchar(10)", "'varchar'", "str", "varchar"),
    ("char(3)", "'ab'", "str", "ab "),
    ("jsonb", """'{"a": 1}'""", "str", '{"a": 1}'),
    ("boolean", "true", "boolean", True),
    (
        "timestamp",
        "'2026-03-01 12:34:56.789'",
        "datetime64[us]",
        pd.Timestamp("2026-03-01 12:34:56.789"),
    ),
    (
        "timestamptz",
        "'2026-03-01 12:00+02'",
        "datetime64[us, UTC]",
        pd.Timestamp("2026-03-01 10:00", tz="UTC"),
    ),
    ("date", "'2026-03-01'", "datetime64[us]", pd.Timestamp("2026-03-01")),
]


def test_each_type_has_its_documented_dtype_with_nulls(analyst: list[tuple[Any, ...]]) -> None:
    columns = ", ".join(f"c{i}" for i in range(len(TYPES)))
    values = ", ".join(f"{value}::{kind}" for kind, value, _, _ in TYPES)
    nulls = ", ".join(f"null::{kind}" for kind, _, _, _ in TYPES)
    query = f"select * from (values ({values}), ({nulls})) as t ({columns})"
    frame = sql(query)
    empty = sql(f"{query} where false")
    for i, (kind, _, dtype, expected) in enumerate(TYPES):
        column = frame[f"c{i}"]
        assert str(column.dtype) == dtype, kind
        assert str(empty[f"c{i}"].dtype) == dtype, f"{kind}, no rows"
        assert column.iloc[0] == expected, kind
        assert pd.isna(column.iloc[1]), kind


def test_numeric_special_values_are_floats(analyst: list[tuple[Any, ...]]) -> None:
    values = sql(
        "select v from (values ('NaN'::numeric), ('Infinity'), ('-Infinity'), (null)) as t (v)"
    )["v"]
    assert str(values.dtype) == "float64"
    assert values.isna().tolist() == [True, False, False, True]
    assert values.iloc[1:3].tolist() == [float("inf"), float("-inf")]


def test_a_bigger_pull_keeps_the_rows_and_dtypes(analyst: list[tuple[Any, ...]]) -> None:
    frame = sql(
        "select g as id, g % 3 = 0 as third, case when g % 5 = 0 then null else g end as maybe "
        "from generate_series(1, :n) as g",
        n=100_000,
    )
    assert len(frame) == 100_000 and frame["id"].sum() == 100_000 * 100_001 // 2
    assert frame["maybe"].isna().sum() == 20_000 and int(frame["third"].sum()) == 33_333
    assert [str(t) for t in frame.dtypes] == ["Int64", "boolean", "Int64"]
