"""Commands that delete data ask first, and ``seed --reset`` empties only the demo database.

Issue 10 saw ``seed --reset`` empty a database ``prod`` on the embedded server (its socket
path was all the seeder checked) and ``db downgrade base`` drop 100k reviews without a word.
Each test here makes that attempt, by mistake or on purpose, and checks what is left.
"""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from iwm_lab import migrate
from iwm_lab.database import describe_url, get_engine
from iwm_lab.demodata import seed_database
from iwm_lab.destructive import Loss, TableRows, confirm_loss, embedded_mismatch
from iwm_lab.exceptions import DataLossRefused
from iwm_lab.server import EmbeddedServer
from iwm_lab.settings import Settings

pytestmark = pytest.mark.slow


def _env(cli_env: dict[str, str], url: URL | None = None) -> dict[str, str]:
    if url is None:
        return cli_env
    return cli_env | {"IWM_DATABASE_URL": url.render_as_string(hide_password=False)}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``iwm-lab`` without a terminal, as cron or CI runs it."""
    return subprocess.run(
        ["iwm-lab", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_on_terminal(env: dict[str, str], answer: str, *args: str) -> tuple[int, str]:
    """``iwm-lab`` with a real terminal on stdin, answering ``answer`` to any question."""
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(
            ["iwm-lab", *args],
            env=env,
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(primary, f"{answer}\n".encode())
        _out, err = proc.communicate(timeout=300)
    finally:
        os.close(primary)
        os.close(secondary)
    return proc.returncode, err


# Rows the migrations write and rebuild themselves, not anybody's data.
REBUILT = frozenset({"rollup_refreshes", "rollup_changes"})


def counts(url: URL) -> dict[str, int]:
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                text(
                    "select relname from pg_class where relkind in ('r', 'p') "
                    "and not relispartition and relnamespace = 'public'::regnamespace"
                )
            ).scalars()
            return {
                t: conn.execute(text(f'select count(*) from "{t}"')).scalar_one() for t in tables
            }
    finally:
        engine.dispose()


def movie_titles(url: URL) -> str:
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            sql = "select md5(string_agg(title, '|' order by id)) from movies"
            return str(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def seed_tiny(url: URL, **options: object) -> None:
    engine = get_engine(url, writable=True)
    try:
        seed_database(engine, scale="tiny", progress=False, **options)  # type: ignore[arg-type]
    finally:
        engine.dispose()


@pytest.fixture
def filled(make_database: Callable[..., URL], template_name: str) -> URL:
    """A migrated database holding a few rows: one genre, two movies, one review."""
    url = make_database("filled", template=template_name)
    engine = get_engine(url, writable=True)
    with engine.begin() as conn:
        conn.execute(text("insert into genres (name) values ('Drama')"))
        movie = (
            conn.execute(
                text("insert into movies (title) values ('Kept'), ('Also kept') returning id")
            )
            .scalars()
            .first()
        )
        conn.execute(
            text(
                "insert into reviews (title, content, rating, date, movie_id) "
                "values ('t', 'c', 7, '2024-01-01', :m)"
            ),
            {"m": movie},
        )
    engine.dispose()
    return url


# db downgrade


def test_downgrade_base_with_data_refuses_without_yes(filled: URL, cli_env: dict[str, str]) -> None:
    before = counts(filled)
    done = run(_env(cli_env, filled), "db", "downgrade", "base")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[-1].startswith("error: downgrade to base would delete")
    assert "pass --yes" in lines[-1] and "nothing was deleted" in lines[-1]
    assert "Traceback" not in done.stderr
    # The listing names each table that holds rows, with its count.
    listed = {line.split()[0]: line.split()[1] for line in lines[2:-1]}
    assert listed == {"genres": "1", "movies": "2", "reviews": "1"}
    assert counts(filled) == before
    engine = get_engine(filled)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_downgrade_base_with_yes_drops_and_says_what(filled: URL, cli_env: dict[str, str]) -> None:
    done = run(_env(cli_env, filled), "db", "downgrade", "base", "--yes")
    assert done.returncode == 0, done.stderr
    assert "downgrade to base would delete 4 row(s) in 3 table(s)" in done.stderr
    assert done.stdout.strip() == "database at revision base"
    assert set(counts(filled)) <= {"alembic_version"}


def test_downgrade_of_an_empty_database_needs_no_yes(
    make_database: Callable[..., URL], template_name: str, cli_env: dict[str, str]
) -> None:
    url = make_database("empty", template=template_name)
    # Only migration bookkeeping holds rows (rollup_refreshes); nothing a user put in.
    assert {t for t, n in counts(url).items() if n} == {"alembic_version", "rollup_refreshes"}
    done = run(_env(cli_env, url), "db", "downgrade", "base")
    assert done.returncode == 0, done.stderr
    assert "would delete" not in done.stderr


def test_downgrade_to_a_revision_that_keeps_the_rows_needs_no_yes(
    filled: URL, cli_env: dict[str, str]
) -> None:
    engine = get_engine(filled, writable=True)
    with engine.begin() as conn:
        conn.execute(text("delete from trending_refreshes"))
    engine.dispose()
    before = counts(filled)
    done = run(_env(cli_env, filled), "db", "downgrade", "0002")
    assert done.returncode == 0, done.stderr
    after = counts(filled)
    # The rollups' records and change log are the migrations' own bookkeeping: 0006 adds rows
    # for its rollups and the log, and its downgrade takes them away again.
    kept = {t: n for t, n in after.items() if n and t not in REBUILT}
    assert kept == {t: n for t, n in before.items() if n and t not in REBUILT}
    assert after["rollup_refreshes"] > 0


@pytest.mark.parametrize(("answer", "dropped"), [("n", False), ("", False), ("y", True)])
def test_downgrade_asks_on_a_terminal(
    filled: URL, cli_env: dict[str, str], answer: str, dropped: bool
) -> None:
    code, err = run_on_terminal(_env(cli_env, filled), answer, "db", "downgrade", "base")
    assert "Delete these rows? [y/N]" in err
    assert "Traceback" not in err
    if dropped:
        assert code == 0, err
        assert set(counts(filled)) <= {"alembic_version"}
    else:
        assert code == 1
        # The typed answer and its newline are echoed on the terminal, not on stderr.
        refusal = f"error: not confirmed; nothing was deleted from {describe_url(filled)}"
        assert err.endswith(f"[y/N]: {refusal}\n")
        assert counts(filled)["movies"] == 2


def test_library_downgrade_rolls_back_when_confirm_refuses(filled: URL) -> None:
    seen: list[Loss] = []

    def refuse(loss: Loss) -> None:
        seen.append(loss)
        raise DataLossRefused("no")

    engine = get_engine(filled, writable=True)
    try:
        with pytest.raises(DataLossRefused):
            migrate.downgrade(engine, "base", confirm=refuse)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
    assert [(t.table, t.rows) for t in seen[0].tables] == [
        ("genres", 1),
        ("movies", 2),
        ("reviews", 1),
    ]
    assert counts(filled)["reviews"] == 1


def test_confirm_without_terminal_or_yes_refuses_in_one_line() -> None:
    loss = Loss("seed --reset", "database 'iwm' on '/tmp/x'", (TableRows("movies", 5000),))
    with pytest.raises(DataLossRefused) as caught:
        confirm_loss(False, terminal=lambda: False)(loss)
    message = str(caught.value)
    assert "\n" not in message
    assert "5,000 row(s) in 1 table(s)" in message and "no terminal to ask on" in message
    # The library names the argument that confirms; the CLI turns it into --yes.
    assert caught.value.option == "yes"
    confirm_loss(True, terminal=lambda: False)(loss)  # --yes proceeds


# seed --reset: only the embedded demo database


@pytest.fixture
def prod(pg_server: EmbeddedServer, template_name: str) -> Iterator[URL]:
    """A database literally named ``prod`` on the embedded server, holding demo rows."""
    admin = get_engine(pg_server.url("postgres"), writable=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"create database prod template {template_name}"))
    url = pg_server.url("prod")
    seed_tiny(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text("drop database prod with (force)"))
    admin.dispose()


@pytest.mark.heavy
def test_seed_reset_refuses_prod_on_the_embedded_server(prod: URL, cli_env: dict[str, str]) -> None:
    before = counts(prod)
    for extra in ((), ("--yes",)):
        done = run(_env(cli_env, prod), "seed", "--scale", "tiny", "--quiet", "--reset", *extra)
        assert done.returncode == 1
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert "database 'prod', not the embedded demo database 'iwm'" in done.stderr
        assert "--allow-external" in done.stderr
    assert counts(prod) == before
    # Allowed explicitly, and without a terminal: the listing, then it still needs --yes.
    env = _env(cli_env, prod)
    asked = run(env, "seed", "--scale", "tiny", "--quiet", "--reset", "--allow-external")
    assert asked.returncode == 1
    assert "seed --reset would delete" in asked.stderr and "pass --yes" in asked.stderr
    assert counts(prod) == before
    args = ("seed", "--scale", "tiny", "--quiet", "--reset", "--allow-external", "--yes")
    done = run(env, *args)
    assert done.returncode == 0, done.stderr
    assert counts(prod)["movies"] == before["movies"]  # replaced by the same demo dataset


@pytest.fixture(scope="module")
def second_server() -> Iterator[EmbeddedServer]:
    """Another embedded server, in a data folder of its own: to the test server's settings it
    is a foreign cluster (another account's, say), and its own ``iwm`` database is a demo
    database this module may fill and reset without disturbing the test server's."""
    root = Path(tempfile.mkdtemp(prefix="iwm-other-"))
    root.chmod(0o755)  # the unprivileged server user must reach the data folder below
    server = EmbeddedServer(Settings(data_dir=root / "data"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_seed_reset_refuses_another_server_whose_database_is_named_iwm(
    second_server: EmbeddedServer, cli_env: dict[str, str]
) -> None:
    """Same database name, same kind of socket path (/tmp/iwm-lab-...), but not the embedded
    server these settings name: issue 10 saw such a server emptied."""
    url = second_server.url()
    engine = get_engine(url, writable=True)
    with engine.begin() as conn:
        conn.execute(text("create table precious (id int)"))
        conn.execute(text("insert into precious values (1), (2)"))
    engine.dispose()
    try:
        assert str(url.query["host"]).startswith("/tmp/iwm-lab-")
        done = run(_env(cli_env, url), "seed", "--scale", "tiny", "--reset", "--yes")
        assert done.returncode == 1
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert "served by another cluster than the embedded server's" in done.stderr
        assert counts(url) == {"precious": 2}
    finally:
        engine = get_engine(url, writable=True)
        with engine.begin() as conn:
            conn.execute(text("drop table precious"))
        engine.dispose()


@pytest.fixture
def demo_iwm(second_server: EmbeddedServer, cli_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The environment of a user whose embedded server is ``second_server``, its demo
    database ``iwm`` holding the tiny demo data; emptied afterwards."""
    url = second_server.url()
    engine = get_engine(url, writable=True)
    migrate.upgrade(engine)
    seed_tiny(url)
    yield {**cli_env, "IWM_DATA_DIR": str(second_server.data_dir)}
    migrate.downgrade(engine, "base")
    engine.dispose()


@pytest.mark.heavy
def test_seed_reset_of_the_demo_database_lists_and_asks(demo_iwm: dict[str, str]) -> None:
    env = demo_iwm
    url = EmbeddedServer(Settings(data_dir=Path(env["IWM_DATA_DIR"]))).url()
    before, titles = counts(url), movie_titles(url)
    args = ("seed", "--scale", "tiny", "--quiet", "--reset", "--seed", "7")
    refused = run(env, *args)
    assert refused.returncode == 1
    lines = refused.stderr.splitlines()
    assert lines[0].startswith("seed --reset would delete")
    assert any(line.split()[:2] == ["movies", f"{before['movies']:,}"] for line in lines)
    assert lines[-1].startswith("error: seed --reset would delete") and "--yes" in lines[-1]
    assert counts(url) == before

    code, err = run_on_terminal(env, "n", *args)
    assert code == 1 and "Delete these rows? [y/N]" in err
    assert counts(url) == before

    code, err = run_on_terminal(env, "y", *args)
    assert code == 0, err
    assert counts(url)["movies"] == before["movies"]
    assert movie_titles(url) != titles  # replaced: seed 7's movies, not seed 42's


def test_embedded_mismatch_names_what_differs(
    pg_server: EmbeddedServer, server_settings: Settings, db_url: URL, tmp_path: Path
) -> None:
    data_dir = server_settings.data_dir
    own = get_engine(pg_server.url(), writable=True)
    other_db = get_engine(db_url)
    try:
        assert embedded_mismatch(own, data_dir) is None
        assert "not the embedded demo database 'iwm'" in (
            embedded_mismatch(other_db, data_dir) or ""
        )
        assert "the embedded server's cluster cannot be read" in (
            embedded_mismatch(own, tmp_path) or ""
        )
    finally:
        own.dispose()
        other_db.dispose()


def test_embedded_server_is_recognised_without_superuser(
    pg_server: EmbeddedServer, server_settings: Settings
) -> None:
    """A role that may not read ``data_directory`` (a writer role) is still recognised on the
    embedded server, through the socket's lock file; and still refused elsewhere."""
    role = f"plain_{uuid.uuid4().hex[:8]}"
    admin = get_engine(pg_server.url(), writable=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"create role {role} login nosuperuser"))
    plain = get_engine(pg_server.url().set(username=role))
    try:
        with plain.connect() as conn, pytest.raises(Exception, match="data_directory"):
            conn.execute(text("show data_directory"))
        assert embedded_mismatch(plain, server_settings.data_dir) is None
    finally:
        plain.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"drop role {role}"))
        admin.dispose()
