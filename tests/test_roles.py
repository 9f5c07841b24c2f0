"""Least-privilege roles on the embedded server: the analyst reads, the writer loads, neither
reaches the server's shell or files, whatever the session does to its own settings.

Issue 10 saw analyst sessions as superuser: COPY ... TO PROGRAM ran a shell command, and
SET TRANSACTION READ WRITE and friends turned "read-only" off. These tests try each of those,
and more, as the analyst (and as the writer), on a migrated database of the test server.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from iwm_lab import connect, get_engine, get_settings, migrate, roles, rollups
from iwm_lab.database import database_url
from iwm_lab.server import EmbeddedServer
from iwm_lab.settings import Settings

DENIED = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)


def _dsn(url: URL, role: str) -> str:
    return f"host={url.query['host']} port={url.port} dbname={url.database} user={role}"


@pytest.fixture
def as_role(db_url: URL) -> Iterator[Callable[[str], psycopg.Connection[tuple[object, ...]]]]:
    """Plain psycopg sessions with no iwm-lab options: only the role's own settings apply."""
    opened: list[psycopg.Connection[tuple[object, ...]]] = []

    def open_as(role: str) -> psycopg.Connection[tuple[object, ...]]:
        conn = psycopg.connect(_dsn(db_url, role), autocommit=True)
        opened.append(conn)
        return conn

    yield open_as
    for conn in opened:
        conn.close()


def _refused(conn: psycopg.Connection[tuple[object, ...]], script: str | tuple[str, ...]) -> str:
    """Run ``script`` (one string, or statements one by one); return the class of the error
    it got, or "ran" when it succeeded."""
    try:
        for statement in (script,) if isinstance(script, str) else script:
            conn.execute(statement.encode())
    except psycopg.Error as exc:
        return type(exc).__name__
    finally:
        # A script that failed inside its BEGIN leaves the session in that transaction.
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
    return "ran"


def test_role_attributes_and_memberships(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, "
                "rolreplication, coalesce(rolconfig, '{}') from pg_roles where rolname = any(:r)"
            ),
            {"r": [roles.ANALYST_ROLE, roles.WRITER_ROLE]},
        ).all()
        memberships = conn.execute(
            text(
                "select u.rolname, r.rolname from pg_auth_members m "
                "join pg_roles r on r.oid = m.roleid join pg_roles u on u.oid = m.member "
                "where u.rolname = any(:r)"
            ),
            {"r": [roles.ANALYST_ROLE, roles.WRITER_ROLE]},
        ).all()
    found = {row[0]: row for row in rows}
    assert set(found) == {roles.ANALYST_ROLE, roles.WRITER_ROLE}
    for row in found.values():
        assert row[1:6] == (False,) * 5, f"{row[0]} must hold no superuser-like attribute"
    assert memberships == [], "no built-in role (server files, shell, all data) for either"
    analyst_config = set(found[roles.ANALYST_ROLE][6])
    timeout = get_settings().statement_timeout_ms
    assert {"default_transaction_read_only=on", f"statement_timeout={timeout}"} <= analyst_config


def test_read_only_engines_on_the_embedded_server_log_in_as_the_analyst(
    db_url: URL,
    pg_server: EmbeddedServer,
    default_database: URL,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = get_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("select current_user")).scalar_one() == roles.ANALYST_ROLE
        assert conn.execute(text("select count(*) from movies")).scalar_one() >= 0
    engine.dispose()
    with connect(db_url, writable=True) as conn:
        assert conn.execute(text("select current_user")).scalar_one() == "iwm"
    # And with no URL at all, as a notebook calls it.
    monkeypatch.setenv("IWM_DATA_DIR", str(pg_server.data_dir))
    monkeypatch.delenv("IWM_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        with connect() as conn:
            assert conn.execute(text("select current_user")).scalar_one() == roles.ANALYST_ROLE
        with connect(writable=True) as conn:
            assert conn.execute(text("select current_user")).scalar_one() == "iwm"
        assert database_url().username == "iwm", "the owner's URL; read-only engines switch"
    finally:
        get_settings.cache_clear()


def test_an_explicit_role_in_the_url_is_kept(db_url: URL) -> None:
    engine = get_engine(db_url.set(username=roles.WRITER_ROLE))
    with engine.connect() as conn:
        assert conn.execute(text("select current_user")).scalar_one() == roles.WRITER_ROLE
    engine.dispose()


# Each: what the issue (or a hostile analyst) tried, as one script on one session.
ANALYST_ATTEMPTS: dict[str, str | tuple[str, ...]] = {
    "copy to program": "COPY (SELECT 1) TO PROGRAM 'id > {marker}'",
    "copy to file": "COPY (SELECT 1) TO '{marker}'",
    "copy from file": "COPY genres (id, name) FROM '/etc/hostname'",
    "pg_read_file": "SELECT pg_read_file('/etc/hostname')",
    "pg_read_binary_file": "SELECT pg_read_binary_file('/etc/hostname')",
    "pg_ls_dir": "SELECT pg_ls_dir('.')",
    "lo_import": "SELECT lo_import('/etc/hostname')",
    "set transaction read write": "BEGIN; SET TRANSACTION READ WRITE; "
    "INSERT INTO genres (id, name) VALUES (-1, 'hostile'); COMMIT",
    "begin read write": "BEGIN READ WRITE; UPDATE movies SET title = 'x'; COMMIT",
    # One statement at a time: in one multi-statement string, the SET would come too late for
    # the implicit transaction around it, and read-only, not privilege, would refuse.
    "default_transaction_read_only off + commit": (
        "SET default_transaction_read_only = off",
        "COMMIT",
        "BEGIN",
        "DELETE FROM reviews",
        "COMMIT",
    ),
    "create table after read-write": (
        "SET default_transaction_read_only = off",
        "CREATE TABLE stolen (id int)",
    ),
    "truncate": "BEGIN READ WRITE; TRUNCATE reviews CASCADE; COMMIT",
    "drop table": "BEGIN READ WRITE; DROP TABLE movies CASCADE; COMMIT",
    "create function": "BEGIN READ WRITE; "
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'; COMMIT",
    "trending refresh": "BEGIN READ WRITE; SELECT refresh_trending_topics('7d'); COMMIT",
    "rollup refresh": "BEGIN READ WRITE; SELECT iwm_refresh_rollup(name, false) "
    "FROM rollup_refreshes; COMMIT",
    "create partitions": "BEGIN READ WRITE; SELECT iwm_ensure_partitions('2031-01-01'); COMMIT",
    "refresh a view directly": "BEGIN READ WRITE; REFRESH MATERIALIZED VIEW score_pair_cells; "
    "COMMIT",
    "full rollup refresh": "BEGIN READ WRITE; SELECT iwm_refresh_rollup_full('score_counts'); "
    "COMMIT",
    "write a rollup": "BEGIN READ WRITE; DELETE FROM movie_review_stats; COMMIT",
    "write the change log": "BEGIN READ WRITE; DELETE FROM rollup_changes; COMMIT",
    "set role owner": "SET ROLE iwm",
    "set session authorization": "SET SESSION AUTHORIZATION iwm",
    "grant itself superuser": "BEGIN READ WRITE; ALTER ROLE iwm_analyst SUPERUSER; COMMIT",
    "grant itself shell": "BEGIN READ WRITE; GRANT pg_execute_server_program TO iwm_analyst; "
    "COMMIT",
    "read password hashes": "SELECT rolpassword FROM pg_authid",
    "alter system": "ALTER SYSTEM SET statement_timeout = 0",
    "create extension": "BEGIN READ WRITE; CREATE EXTENSION IF NOT EXISTS dblink; COMMIT",
    "terminate the owner's sessions": "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE usename = 'iwm' AND pid <> pg_backend_pid()",
    "create schema": "BEGIN READ WRITE; CREATE SCHEMA mine; COMMIT",
}


@pytest.mark.parametrize("name", list(ANALYST_ATTEMPTS))
def test_the_analyst_cannot_write_or_reach_the_server(
    name: str,
    as_role: Callable[[str], psycopg.Connection[tuple[object, ...]]],
    engine: Engine,
    tmp_path: Path,
) -> None:
    marker = tmp_path / f"pwned-{uuid.uuid4().hex[:6]}"
    tmp_path.chmod(0o777)  # as root: the server user could write here, were it allowed
    with engine.connect() as conn:  # stays open in the pool: a session to terminate
        before = conn.execute(text("select count(*) from pg_class")).scalar_one()
    analyst = as_role(roles.ANALYST_ROLE)
    attempt = ANALYST_ATTEMPTS[name]
    script = attempt.format(marker=marker) if isinstance(attempt, str) else attempt
    outcome = _refused(analyst, script)
    # Refused for want of privilege, not because of a read-only setting it could turn off.
    assert outcome == "InsufficientPrivilege", outcome
    assert not marker.exists(), "no file written for the analyst"
    with engine.connect() as conn:
        after = conn.execute(text("select count(*) from pg_class")).scalar_one()
        assert (
            conn.execute(
                text("select rolsuper from pg_roles where rolname = :r"), {"r": roles.ANALYST_ROLE}
            ).scalar_one()
            is False
        )
        assert (
            conn.execute(text("select count(*) from genres where name = 'hostile'")).scalar() == 0
        )
    assert after == before, "no relation created or dropped"


def test_the_analyst_can_read_what_analyses_need(
    as_role: Callable[[str], psycopg.Connection[tuple[object, ...]]],
) -> None:
    analyst = as_role(roles.ANALYST_ROLE)
    for relation in ("movies", "reviews", "rollup_refreshes", "alembic_version", "trending_topics"):
        assert analyst.execute(f"select count(*) from {relation}".encode()).fetchone() is not None
    assert analyst.execute("select * from movie_review_stats limit 1").fetchall() is not None


def test_setting_changes_do_not_outlive_the_session(
    as_role: Callable[[str], psycopg.Connection[tuple[object, ...]]],
    db_url: URL,
) -> None:
    analyst = as_role(roles.ANALYST_ROLE)
    # PostgreSQL lets any role change its own session defaults (ALTER ROLE self SET): the
    # options iwm-lab sends at connect outrank them, and every server start puts them back.
    hostile = (
        "SET default_transaction_read_only = off",
        "SET statement_timeout = 0",
        "BEGIN READ WRITE",
        "ALTER ROLE iwm_analyst SET statement_timeout = 0",
        "ALTER ROLE iwm_analyst RESET default_transaction_read_only",
        "COMMIT",
    )
    timeout = get_settings().statement_timeout_ms
    try:
        for statement in hostile:
            _refused(analyst, statement)
        engine = get_engine(db_url)
        with engine.connect() as conn:
            assert conn.execute(text("select current_user")).scalar_one() == roles.ANALYST_ROLE
            assert conn.execute(text("show default_transaction_read_only")).scalar_one() == "on"
            shown = conn.execute(text("select current_setting('statement_timeout')::interval"))
            assert shown.scalar_one().total_seconds() * 1000 == timeout
        engine.dispose()
    finally:
        # What the next server start does (test_roles_come_back_at_start checks that).
        owner = get_engine(db_url, writable=True)
        with owner.begin() as conn:
            for statement in roles.cluster_statements(statement_timeout_ms=timeout):
                conn.exec_driver_sql(statement)
        owner.dispose()


WRITER_DENIED = {
    "create table": "CREATE TABLE stolen (id int)",
    "drop table": "DROP TABLE movies CASCADE",
    "alter table": "ALTER TABLE movies ADD COLUMN x int",
    "copy to program": "COPY (SELECT 1) TO PROGRAM 'id'",
    "pg_read_file": "SELECT pg_read_file('/etc/hostname')",
    "set role owner": "SET ROLE iwm",
    "alter itself": "ALTER ROLE iwm_writer SUPERUSER",
    # Only through iwm_refresh_rollup (SECURITY DEFINER): REFRESH needs the view's owner.
    "refresh a view directly": "REFRESH MATERIALIZED VIEW score_pair_cells",
    "refresh a view concurrently": "REFRESH MATERIALIZED VIEW CONCURRENTLY score_pair_cells",
    "drop a view": "DROP MATERIALIZED VIEW score_pair_cells",
    # Rollups stored as tables, and the change log the next refresh trusts (migration 0006):
    # written only by the owner's functions and triggers.
    "write a rollup table": "DELETE FROM movie_review_stats",
    "inflate a rollup": "UPDATE score_counts SET n = n + 1",
    "empty a histogram": "TRUNCATE movie_score_counts",
    "forge a change": "INSERT INTO rollup_changes (rollup, source) VALUES ('score_counts', 'x')",
    "hide changes": "DELETE FROM rollup_changes",
    "disable the change log": "ALTER TABLE reviews DISABLE TRIGGER iwm_rollup_changes_insert",
    "run the refresh's internals": "SELECT iwm_rollup_refresh('score_counts', true, false)",
    "create a view": "CREATE MATERIALIZED VIEW mine AS SELECT 1",
    "replace a refresh function": "CREATE OR REPLACE FUNCTION iwm_refresh_rollup("
    "p_name text, p_concurrently boolean DEFAULT true) RETURNS double precision "
    "LANGUAGE sql AS 'SELECT 0::float8'",
    "create a function": "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "create an index": "CREATE INDEX ON movies (title)",
    "create schema": "CREATE SCHEMA mine",
    # Bookkeeping: a forged revision or refresh record would mislead db check and readers.
    "fake the revision": "UPDATE alembic_version SET version_num = 'ffff'",
    "empty the revision": "DELETE FROM alembic_version",
    "fake a rollup refresh": "UPDATE rollup_refreshes SET refreshed_at = now()",
    "fake a trending refresh": "DELETE FROM trending_refreshes",
}


def test_the_writer_changes_rows_but_not_the_schema(
    as_role: Callable[[str], psycopg.Connection[tuple[object, ...]]],
) -> None:
    writer = as_role(roles.WRITER_ROLE)
    assert writer.execute("show default_transaction_read_only").fetchone() == ("off",)
    with writer.transaction(force_rollback=True):
        writer.execute("insert into genres (id, name) values (-7, 'writer-genre')")
        writer.execute("update genres set name = 'writer-genre-2' where name = 'writer-genre'")
        writer.execute("delete from genres where name = 'writer-genre-2'")
        writer.execute("truncate trending_topics")
    outcomes = {name: _refused(writer, sql) for name, sql in WRITER_DENIED.items()}
    assert set(outcomes.values()) == {"InsufficientPrivilege"}, outcomes


def test_the_writer_refreshes_through_the_definer_functions(
    as_role: Callable[[str], psycopg.Connection[tuple[object, ...]]],
) -> None:
    """Migration 0004: what only the owner may do (REFRESH a view, create a partition), the
    writer does through the owner's SECURITY DEFINER functions, and nothing more."""
    writer = as_role(roles.WRITER_ROLE)
    with writer.transaction(force_rollback=True):
        writer.execute(
            "insert into movies (title, year, imdb_rating) values ('writer-movie', '1999', 7.5)"
        )
        for name in rollups.ROLLUPS:
            writer.execute("select iwm_refresh_rollup(%s, false)", [name])
        counted = writer.execute(
            "select n from score_counts where source = 'imdb' and genre_id is null "
            "and year = 1999 and score = 7.5"
        ).fetchone()
        assert counted == (1,), "the rollup reflects the writer's row"
        writer.execute("select iwm_refresh_rollup('score_counts')")  # concurrently
        writer.execute("select iwm_refresh_rollup_full('score_pair_cells')")
        assert writer.execute("select refresh_trending_topics('7d')").fetchone() == (0,)
        assert writer.execute("select refresh_trending_topics('30d', '2024-01-01')").fetchone() == (
            0,
        )
        created = writer.execute(
            "select iwm_ensure_partitions((localtimestamp + interval '14 months')::date)"
        ).fetchone()
        assert created is not None and isinstance(created[0], int) and created[0] >= 1
        owners = writer.execute(
            "select distinct c.relowner::regrole::text from pg_inherits i "
            "join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent in ('reviews_partitioned'::regclass, "
            "'pulses_partitioned'::regclass)"
        ).fetchall()
        assert owners == [("iwm",)], "partitions belong to the owner, whoever asked"
        assert writer.execute("select current_user").fetchone() == (roles.WRITER_ROLE,)


# Names a SECURITY DEFINER refresh must refuse: it would otherwise run them as the owner.
HOSTILE_ROLLUP_NAMES: dict[str, str | None] = {
    "a table": "movies",
    "injection": "movie_review_stats; drop table movies",
    "quote injection": "x'; drop table movies; --",
    "qualified": "public.movie_review_stats",
    "quoted": '"movie_review_stats"',
    "catalog": "pg_class",
    "the version table": "alembic_version",
    "the record itself": "rollup_refreshes",
    "empty": "",
    "null": None,
}


@pytest.mark.parametrize("name", list(HOSTILE_ROLLUP_NAMES))
def test_the_rollup_refresh_refuses_names_outside_the_rollups(
    name: str,
    as_role: Callable[[str], psycopg.Connection[tuple[object, ...]]],
    engine: Engine,
) -> None:
    writer = as_role(roles.WRITER_ROLE)
    value = HOSTILE_ROLLUP_NAMES[name]
    with writer.transaction(force_rollback=True):
        # The writer cannot forge a record in rollup_refreshes, and a temporary table of that
        # name would come first on an unfixed search_path: neither makes a name a rollup.
        if value is not None:
            denied = pytest.raises(psycopg.errors.InsufficientPrivilege)
            with denied, writer.transaction():
                writer.execute("insert into rollup_refreshes (name) values (%s)", [value])
        writer.execute("create temporary table rollup_refreshes (name text)")
        writer.execute("insert into rollup_refreshes (name) values (%s)", [value])
        refused = pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown rollup")
        with refused, writer.transaction():
            writer.execute("select iwm_refresh_rollup(%s, false)", [value])
    with engine.connect() as conn:
        assert conn.execute(text("select to_regclass('movies') is not null")).scalar_one()


@pytest.mark.parametrize("window", ["1d", "7d'; drop table movies; --", "", None])
def test_the_trending_refresh_refuses_unknown_windows_for_the_writer(
    window: str | None,
    as_role: Callable[[str], psycopg.Connection[tuple[object, ...]]],
) -> None:
    writer = as_role(roles.WRITER_ROLE)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown trending window"):
        writer.execute("select refresh_trending_topics(%s)", [window])


def test_only_the_owner_and_the_writer_may_execute_the_definer_functions(
    engine: Engine,
    as_role: Callable[[str], psycopg.Connection[tuple[object, ...]]],
) -> None:
    with engine.connect() as conn:
        for function in roles.WRITER_FUNCTIONS:
            found = conn.execute(
                text(
                    "select p.prosecdef, p.proconfig, p.proowner::regrole::text, "
                    "has_function_privilege(:writer, p.oid, 'EXECUTE'), "
                    "has_function_privilege(:analyst, p.oid, 'EXECUTE'), "
                    "exists (select from aclexplode(p.proacl) a "
                    "        where a.grantee = 0 and a.privilege_type = 'EXECUTE') "
                    "from pg_proc p where p.oid = cast(:f as regprocedure)"
                ),
                {"f": function, "writer": roles.WRITER_ROLE, "analyst": roles.ANALYST_ROLE},
            ).one()
            assert tuple(found) == (
                True,
                ["search_path=public, pg_temp"],
                "iwm",
                True,
                False,
                False,
            ), function
    analyst = as_role(roles.ANALYST_ROLE)
    calls = (
        "select iwm_refresh_rollup('movie_review_stats')",
        "select iwm_refresh_rollup_full('movie_review_stats')",
        "select refresh_trending_topics('7d')",
        "select iwm_ensure_partitions('2031-01-01')",
    )
    for call in calls:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            analyst.execute(call)


def test_the_roles_statements_grant_execute_where_the_functions_exist(
    make_database: Callable[..., URL], template_name: str
) -> None:
    """A database migrated while the writer role did not exist gets EXECUTE at the next start
    (the same statements); one without the functions (template1, a new one) is left alone."""
    for url in (make_database("grants", template=template_name), make_database("bare")):
        owner = get_engine(url, writable=True)
        try:
            with owner.begin() as conn:
                present = conn.execute(
                    text("select to_regprocedure('iwm_refresh_rollup(text, boolean)')")
                ).scalar()
                for function in roles.WRITER_FUNCTIONS if present else ():
                    conn.execute(
                        text(f"revoke execute on function {function} from {roles.WRITER_ROLE}")
                    )
            with owner.begin() as conn:
                for statement in roles.database_statements(str(url.database), "iwm"):
                    conn.exec_driver_sql(statement)
                granted = [
                    conn.execute(
                        text("select has_function_privilege(:r, :f, 'EXECUTE')"),
                        {"r": roles.WRITER_ROLE, "f": function},
                    ).scalar_one()
                    for function in (roles.WRITER_FUNCTIONS if present else ())
                ]
        finally:
            owner.dispose()
        assert granted == ([True] * len(roles.WRITER_FUNCTIONS) if present else [])
    script = roles.script("prod", "dba", statement_timeout_ms=1000)
    assert (
        'GRANT EXECUTE ON FUNCTION "public".iwm_refresh_rollup(text, boolean) TO "iwm_writer"'
        in script
    )


def test_tables_of_later_migrations_and_new_databases_are_granted(
    engine: Engine,
    make_database: Callable[..., URL],
    as_role: Callable[[str], psycopg.Connection[tuple[object, ...]]],
) -> None:
    with engine.begin() as conn:
        conn.execute(text("create table later_migration (id serial primary key, v int)"))
    analyst = as_role(roles.ANALYST_ROLE)
    assert analyst.execute("select count(*) from later_migration").fetchone() == (0,)
    writer = as_role(roles.WRITER_ROLE)
    writer.execute("insert into later_migration (v) values (1)")  # its sequence too
    # A database created after the server started, from template1, then built by the owner.
    url = make_database("fresh")
    owner = get_engine(url, writable=True)
    with owner.begin() as conn:
        conn.execute(text("create table t (id int)"))
    owner.dispose()
    with psycopg.connect(_dsn(url, roles.ANALYST_ROLE)) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (0,)


@pytest.mark.slow
def test_roles_come_back_at_start() -> None:
    """A data folder from before the roles existed gets them, on existing tables too; and a
    start undoes what the analyst did to its own role defaults."""
    # Not tmp_path: pytest's base folder is 0700, closed to the server user under root.
    root = Path(tempfile.mkdtemp(prefix="iwm-roles-"))
    root.chmod(0o755)
    server = EmbeddedServer(Settings(data_dir=root / "data"))
    server.start()
    try:
        owner = get_engine(server.url(), writable=True)
        with owner.begin() as conn:
            # What a data folder made before this change holds: no such roles at all.
            for role in (roles.ANALYST_ROLE, roles.WRITER_ROLE):
                conn.execute(text(f"drop owned by {role}"))
        admin = get_engine(server.url("postgres"), writable=True, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for database in ("postgres", "template1"):
                with psycopg.connect(_dsn(server.url(database), "iwm"), autocommit=True) as db:
                    for role in (roles.ANALYST_ROLE, roles.WRITER_ROLE):
                        db.execute(f"drop owned by {role}".encode())
            for role in (roles.ANALYST_ROLE, roles.WRITER_ROLE):
                conn.execute(text(f"drop role {role}"))
        admin.dispose()
        # Migrated with no writer role: 0004 revokes EXECUTE from PUBLIC and grants nobody.
        migrate.upgrade(owner)
        with owner.begin() as conn:
            conn.execute(text("create table old_data (id int)"))
            acl = conn.execute(
                text("select proacl::text[] from pg_proc where oid = cast(:f as regprocedure)"),
                {"f": roles.WRITER_FUNCTIONS[0]},
            ).scalar_one()
            assert acl == ["iwm=X/iwm"], "the owner alone may run it"
        owner.dispose()
        assert server.status().running
        # Still running, as one started by an iwm-lab from before the roles: the first
        # connect() of a process (through ensure_running) puts them in place.
        server.ensure_running()
        with psycopg.connect(_dsn(server.url(), roles.ANALYST_ROLE), autocommit=True) as conn:
            assert conn.execute("select count(*) from old_data").fetchone() == (0,)
            assert _refused(conn, "insert into old_data values (1)") in {
                cls.__name__ for cls in DENIED
            }
            # ... and the writer may run the definer functions of the migration before it.
            for function in roles.WRITER_FUNCTIONS:
                allowed = conn.execute(
                    "select has_function_privilege(%s, %s, 'EXECUTE'), "
                    "has_function_privilege(%s, %s, 'EXECUTE')",
                    [roles.WRITER_ROLE, function, roles.ANALYST_ROLE, function],
                ).fetchone()
                assert allowed == (True, False), function
            # The analyst may change its own defaults; the next start puts them back.
            conn.execute("begin read write")
            conn.execute("alter role iwm_analyst reset default_transaction_read_only")
            conn.execute("alter role iwm_analyst set statement_timeout = 0")
            conn.execute("commit")
        with psycopg.connect(_dsn(server.url(), roles.ANALYST_ROLE)) as conn:
            changed = conn.execute("show default_transaction_read_only").fetchone()
        server.stop()
        server.start()
        with psycopg.connect(_dsn(server.url(), roles.ANALYST_ROLE)) as conn:
            assert conn.execute("show default_transaction_read_only").fetchone() == ("on",)
            assert conn.execute("show statement_timeout").fetchone() != ("0",)
        assert changed == ("off",), "the hostile ALTER ROLE did take effect until the restart"
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_db_roles_prints_the_grants_without_a_password(cli_env: dict[str, str]) -> None:
    secret = "Sup3r-s3cret"
    env = {**cli_env, "IWM_DATABASE_URL": f"postgresql+psycopg://dba:{secret}@db.example/prod"}
    done = subprocess.run(
        ["iwm-lab", "db", "roles"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr
    assert 'GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO "iwm_analyst";' in done.stdout
    assert 'ALTER ROLE "iwm_analyst" SET default_transaction_read_only = on;' in done.stdout
    assert 'FOR ROLE "dba" IN SCHEMA "public" GRANT SELECT ON TABLES' in done.stdout
    assert 'GRANT CONNECT ON DATABASE "prod"' in done.stdout


@pytest.mark.slow
def test_db_roles_apply_runs_them_as_the_urls_role(
    make_database: Callable[..., URL], template_name: str, cli_env: dict[str, str]
) -> None:
    url = make_database("roles", template=template_name)
    env = {**cli_env, "IWM_DATABASE_URL": url.render_as_string(hide_password=False)}
    done = subprocess.run(
        ["iwm-lab", "db", "roles", "--apply"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "applied" in done.stdout
    with psycopg.connect(_dsn(url, roles.ANALYST_ROLE)) as conn:
        assert conn.execute("select count(*) from movies").fetchone() == (0,)
    # As a role that may not grant: one line, exit 1, no traceback.
    analyst_url = url.set(username=roles.ANALYST_ROLE)
    env["IWM_DATABASE_URL"] = analyst_url.render_as_string(hide_password=False)
    done = subprocess.run(
        ["iwm-lab", "db", "roles", "--apply"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot set up the iwm-lab roles:")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
