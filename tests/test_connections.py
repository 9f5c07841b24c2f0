"""Analyst sessions are read-only with a statement timeout, survive a failed statement;
passwords never leak."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable

import pandas as pd
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from iwm_lab import connect, get_async_engine, get_engine, get_settings
from iwm_lab.database import analyst_engine, check_connection, scrub
from iwm_lab.exceptions import DatabaseUnavailable
from iwm_lab.queries.overview import table_row_counts
from iwm_lab.roles import ANALYST_ROLE
from iwm_lab.settings import Settings

SECRET = "S3cr3t-Pa55word"
# Port 1 on loopback: nothing listens there, so the connection is refused at once.
DEAD_URL = f"postgresql+psycopg://analyst:{SECRET}@127.0.0.1:1/iwm_prod"


def test_default_session_is_read_only(db_url: URL) -> None:
    with connect(db_url) as conn:
        assert conn.execute(text("show default_transaction_read_only")).scalar_one() == "on"
        with pytest.raises(DBAPIError, match="read-only transaction"):
            conn.execute(text("create table t_forbidden (id int)"))


def test_writable_session_only_when_asked(db_url: URL) -> None:
    with connect(db_url, writable=True) as conn:
        conn.execute(text("create temporary table t_ok (id int)"))
        conn.execute(text("insert into t_ok values (1)"))
        assert conn.execute(text("select count(*) from t_ok")).scalar_one() == 1


@pytest.mark.parametrize("writable", [False, True])
def test_sessions_are_in_utc_whatever_the_server_zone(
    make_database: Callable[..., URL], writable: bool
) -> None:
    url = make_database("zone")
    admin = get_engine(url, writable=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"alter database \"{url.database}\" set timezone = 'Asia/Kolkata'"))
    admin.dispose()
    engine = get_engine(url, writable=writable)
    with engine.connect() as conn:
        zone, offset = conn.execute(
            text("select current_setting('TimeZone'), localtimestamp - (now() at time zone 'UTC')")
        ).one()
    engine.dispose()
    assert zone == "UTC" and offset.total_seconds() == 0


def test_statement_timeout_cancels_long_queries(db_url: URL) -> None:
    with (
        connect(db_url, statement_timeout_ms=200) as conn,
        pytest.raises(OperationalError, match="statement timeout"),
    ):
        conn.execute(text("select pg_sleep(3)"))


def test_default_timeout_comes_from_settings(db_url: URL, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IWM_STATEMENT_TIMEOUT", "4321")
    get_settings.cache_clear()
    try:
        engine = get_engine(db_url)
        with engine.connect() as conn:
            assert conn.execute(text("show statement_timeout")).scalar_one() == "4321ms"
        engine.dispose()
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(("value", "expected"), [("", "64MB"), ("256", "256MB"), ("0", "4MB")])
def test_work_mem_comes_from_settings(
    db_url: URL, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("IWM_WORK_MEM", value)  # 0: the server's own setting (4MB by default)
    get_settings.cache_clear()
    try:
        for writable in (False, True):
            engine = get_engine(db_url, writable=writable)
            with engine.connect() as conn:
                assert conn.execute(text("show work_mem")).scalar_one() == expected
            engine.dispose()
    finally:
        get_settings.cache_clear()


def test_async_engine_is_read_only_too(db_url: URL) -> None:
    async def probe() -> tuple[str, str]:
        engine = get_async_engine(db_url)
        try:
            async with engine.connect() as conn:
                ro = (await conn.execute(text("show default_transaction_read_only"))).scalar_one()
                one = (await conn.execute(text("select 'ok'"))).scalar_one()
                return ro, one
        finally:
            await engine.dispose()

    assert asyncio.run(probe()) == ("on", "ok")


def test_unreachable_database_is_one_clear_line_without_password() -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        check_connection(get_engine(DEAD_URL))
    message = str(caught.value)
    assert "'iwm_prod'" in message and "127.0.0.1:1" in message
    assert SECRET not in message and "\n" not in message


def test_settings_and_engine_reprs_hide_the_password() -> None:
    settings = Settings(database_url=make_url(DEAD_URL))
    engine = get_engine(DEAD_URL)
    for shown in (repr(settings), str(settings), repr(engine), repr(engine.url), str(engine.url)):
        assert SECRET not in shown


@pytest.mark.parametrize(
    "message",
    [
        f"could not connect to postgresql://u:{SECRET}@h/db",
        f"options password={SECRET} host=h",
    ],
)
def test_scrub_removes_passwords(message: str) -> None:
    assert SECRET not in scrub(message)


@pytest.mark.slow
@pytest.mark.parametrize("command", [["db", "current"], ["db", "check"], ["db", "upgrade"]])
def test_cli_reports_unreachable_database_without_password(
    command: list[str], cli_env: dict[str, str]
) -> None:
    env = cli_env | {"IWM_DATABASE_URL": DEAD_URL}
    done = subprocess.run(
        ["iwm-lab", *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot connect to database 'iwm_prod' on '127.0.0.1:1'")
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stdout + done.stderr


# Issue 10: each of these switched "read-only" off on a pooled connection, and the change
# stayed there, so a later pandas.to_sql on get_engine() committed a table.
POOL_POISON = {
    "set transaction read write": ["COMMIT", "SET TRANSACTION READ WRITE"],
    "begin read write": ["COMMIT", "BEGIN READ WRITE"],
    "default_transaction_read_only off + commit": [
        "SET default_transaction_read_only = off",
        "COMMIT",
    ],
    "statement_timeout 0": ["SET statement_timeout = 0", "COMMIT"],
    "session settings": ["SET work_mem = '1MB'", "SET search_path = pg_catalog", "COMMIT"],
}


@pytest.mark.parametrize("name", list(POOL_POISON))
def test_a_pooled_connection_forgets_what_its_last_user_set(db_url: URL, name: str) -> None:
    engine = get_engine(db_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            first_pid = conn.execute(text("select pg_backend_pid()")).scalar_one()
            for statement in POOL_POISON[name]:
                conn.exec_driver_sql(statement)
            conn.exec_driver_sql("PREPARE poisoned AS SELECT 1")
        with engine.connect() as conn:
            assert conn.execute(text("select pg_backend_pid()")).scalar_one() == first_pid
            settings = conn.execute(
                text(
                    "select current_setting('default_transaction_read_only'), "
                    "current_setting('transaction_read_only'), "
                    "current_setting('statement_timeout')::interval, "
                    "current_setting('work_mem'), current_setting('search_path'), "
                    "(select count(*) from pg_prepared_statements where name = 'poisoned')"
                )
            ).one()
        timeout_ms = get_settings().statement_timeout_ms
        assert settings[0] == settings[1] == "on"
        assert settings[2].total_seconds() * 1000 == timeout_ms
        assert settings[3] == "64MB" and "public" in settings[4] and settings[5] == 0
        frame = pd.DataFrame({"id": [1, 2]})
        with pytest.raises(DBAPIError):
            frame.to_sql(f"leak_{name.replace(' ', '_')[:20]}", engine, index=False)
    finally:
        engine.dispose()
    writer = get_engine(db_url, writable=True)
    with writer.connect() as conn:
        leaked = conn.execute(text("select count(*) from pg_tables where tablename like 'leak%'"))
        assert leaked.scalar_one() == 0
    writer.dispose()


def test_writable_pooled_connections_are_reset_too(db_url: URL) -> None:
    engine = get_engine(db_url, writable=True, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET default_transaction_read_only = on")
            conn.exec_driver_sql("SET statement_timeout = 5")
            conn.exec_driver_sql("SET ROLE iwm_analyst")
            conn.commit()
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "select current_user, current_setting('transaction_read_only'), "
                    "current_setting('statement_timeout')"
                )
            ).one()
            assert tuple(row) == ("iwm", "off", "0")
    finally:
        engine.dispose()


def test_async_pooled_connections_are_reset(db_url: URL) -> None:
    async def probe() -> tuple[str, str]:
        engine = get_async_engine(db_url, pool_size=1, max_overflow=0)
        try:
            async with engine.connect() as conn:
                await conn.exec_driver_sql("SET default_transaction_read_only = off")
                await conn.exec_driver_sql("SET statement_timeout = 0")
                await conn.commit()
            async with engine.connect() as conn:
                ro = await conn.execute(text("show default_transaction_read_only"))
                timeout = await conn.execute(text("show statement_timeout"))
                return ro.scalar_one(), timeout.scalar_one()
        finally:
            await engine.dispose()

    read_only, timeout = asyncio.run(probe())
    assert read_only == "on" and timeout != "0"


# The issue: after one failed statement in a notebook, every later call on the connection
# failed with "current transaction is aborted". Each mistake, then the session goes on.
MISTAKES = {
    "no such table": ("select * from no_such_table", "UndefinedTable"),
    "a write": ("create table t_mistake (id int)", "ReadOnlySqlTransaction"),
    "division by zero": ("select 1 / 0", "DivisionByZero"),
}


@pytest.mark.parametrize("opened_by", ["connect", "analyst_engine"])
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_failed_statement_does_not_poison_the_analyst_session(
    tiny_url: URL,
    tiny: Connection,
    monkeypatch: pytest.MonkeyPatch,
    opened_by: str,
    mistake: str,
) -> None:
    if opened_by == "connect":
        conn = connect(tiny_url)
    else:
        monkeypatch.setenv("IWM_DATABASE_URL", tiny_url.render_as_string(hide_password=False))
        get_settings.cache_clear()
        conn = analyst_engine().connect()
    statement, error = MISTAKES[mistake]
    try:
        with pytest.raises(pd.errors.DatabaseError) as caught:
            pd.read_sql(text(statement), conn)
        cause = caught.value.__cause__
        assert isinstance(cause, DBAPIError) and type(cause.orig).__name__ == error
        assert pd.read_sql(text("select 1 as one"), conn)["one"].tolist() == [1]
        pd.testing.assert_frame_equal(table_row_counts(conn), table_row_counts(tiny))
        # Each statement's own transaction is read-only all the same.
        assert conn.execute(text("show transaction_read_only")).scalar_one() == "on"
    finally:
        conn.close()
        get_settings.cache_clear()


def test_the_analyst_engine_is_one_per_process(
    db_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IWM_DATABASE_URL", db_url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        assert analyst_engine() is analyst_engine()
        with analyst_engine().connect() as conn:
            assert conn.execute(text("select current_user")).scalar_one() == ANALYST_ROLE
    finally:
        get_settings.cache_clear()


def test_writable_connections_keep_their_transactions(db_url: URL) -> None:
    with connect(db_url, writable=True) as conn:
        conn.execute(text("create temporary table t_kept (id int)"))
        conn.commit()
        conn.execute(text("insert into t_kept values (1)"))
        conn.rollback()
        assert conn.execute(text("select count(*) from t_kept")).scalar_one() == 0
        with pytest.raises(DBAPIError, match="no_such_table"):
            conn.execute(text("select * from no_such_table"))
        with pytest.raises(DBAPIError, match="current transaction is aborted"):
            conn.execute(text("select 1"))
        conn.rollback()
        assert conn.execute(text("select 1")).scalar_one() == 1
