"""The embedded PostgreSQL 16 server: real servers in a data dir of this module's own."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from iwm_lab import server as server_module
from iwm_lab.exceptions import ServerError
from iwm_lab.server import EmbeddedServer
from iwm_lab.settings import Settings

AS_ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not AS_ROOT, reason="the root code path needs root")


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    # Our own folder (mkdtemp makes it 0700), opened so the server user can reach below it.
    root = Path(tempfile.mkdtemp(prefix="iwm-srv-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[EmbeddedServer]:
    srv = EmbeddedServer(Settings(data_dir=workdir / "data"))
    yield srv
    srv.stop()


@pytest.fixture
def running(server: EmbeddedServer) -> EmbeddedServer:
    server.start()
    return server


@pytest.fixture
def stopped(server: EmbeddedServer) -> Iterator[EmbeddedServer]:
    server.stop()
    yield server
    server.stop()


def scalar(url: URL, query: str) -> object:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(query))
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}")


def test_cold_start_creates_the_cluster_and_serves_database_iwm(
    server: EmbeddedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not server.pgdata.exists()
    began = time.perf_counter()
    status = server.start()
    report(capsys, f"cold start (initdb + first start): {time.perf_counter() - began:.2f} s")

    assert status.running and status.pid is not None
    assert status.version.startswith("16.")
    assert status.data_dir == server.settings.data_dir
    assert status.port is None, "no TCP unless a port is asked for"
    assert status.url == server.url()
    assert "PostgreSQL 16." in str(scalar(server.url(), "select version()"))
    assert scalar(server.url(), "select current_database()") == "iwm"
    collation = "select datcollate from pg_database where datname = current_database()"
    assert scalar(server.url(), collation) == "C"
    assert "running" in status.describe() and str(server.data_dir) in status.describe()


def test_socket_path_is_short_and_private(running: EmbeddedServer) -> None:
    socket_dir = Path(str(running.url().query["host"]))
    assert len(str(socket_dir / ".s.PGSQL.5432")) < 100
    info = socket_dir.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == running.pgdata.stat().st_uid


def test_starting_a_running_server_reports_it(running: EmbeddedServer) -> None:
    first = running.status()
    again = running.start()
    assert again.running and again.pid == first.pid
    assert running.ensure_running() == first.url


def test_the_url_carries_no_password(running: EmbeddedServer) -> None:
    url = running.url("postgres")
    assert url.password is None and url.username == "iwm" and url.database == "postgres"
    assert url.render_as_string(hide_password=False).startswith("postgresql+psycopg://iwm@:")


def test_stop_then_status_is_stopped(running: EmbeddedServer) -> None:
    assert running.stop() is True
    status = running.status()
    assert not status.running and status.pid is None and status.url is None
    assert "stopped" in status.describe()
    assert running.stop() is False
    with pytest.raises(ServerError, match="not running"):
        running.url()


def test_restart_keeps_the_data(
    running: EmbeddedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    scalar(running.url(), "create table kept (id int); insert into kept values (42)")
    running.stop()
    began = time.perf_counter()
    running.start()
    report(capsys, f"warm start: {time.perf_counter() - began:.2f} s")
    assert scalar(running.url(), "select id from kept") == 42


def test_a_pid_file_naming_a_live_process_that_is_not_the_server_is_cleared(
    running: EmbeddedServer,
) -> None:
    lines = (running.pgdata / "postmaster.pid").read_text().splitlines()
    running.stop()
    # Left by a crash, its pid now reused by some other process: this one.
    (running.pgdata / "postmaster.pid").write_text("\n".join([str(os.getpid()), *lines[1:]]))
    assert not running.status().running
    assert running.stop() is False, "must not signal a process that is not the server"
    status = running.start()
    assert status.running and status.pid != os.getpid()
    assert scalar(running.url(), "select id from kept") == 42


def test_start_recovers_after_the_server_was_killed(running: EmbeddedServer) -> None:
    killed = running.status().pid
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while running.status().running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running.status().running
    status = running.start()
    assert status.running and status.pid != killed
    assert scalar(running.url(), "select id from kept") == 42


def test_tcp_port_requires_the_password(
    stopped: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status = stopped.start(port=port)
    assert status.port == port
    assert stat.S_IMODE(stopped.password_file.stat().st_mode) == 0o600
    password = stopped.password_file.read_text().strip()
    assert len(password) >= 16
    # passfile: no ~/.pgpass may supply a password either.
    tcp = f"host=127.0.0.1 port={port} user=iwm dbname=iwm passfile=/dev/null connect_timeout=5"
    for wrong in ("", " password=wrong"):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(tcp + wrong).close()
    with psycopg.connect(tcp, password=password) as conn:
        assert conn.execute("select current_user").fetchone() == ("iwm",)
    # The socket stays open, with trust, and nothing shows the password.
    assert scalar(stopped.url(), "select 1") == 1
    assert status.url is not None and password not in status.url.render_as_string(False)
    assert password not in status.describe()
    assert password not in (stopped.pgdata.parent / "server.log").read_text()
    with pytest.raises(ServerError, match="already running"):
        stopped.start(port=port + 1)
    assert stopped.start().pid == status.pid


def test_a_port_in_use_is_a_clear_error(stopped: EmbeddedServer) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerError, match=f"port {port} on 127.0.0.1 is already in use"):
            stopped.start(port=port)
    assert not stopped.status().running


@root_only
def test_as_root_the_server_user_owns_and_runs_the_cluster(running: EmbeddedServer) -> None:
    user = pwd.getpwnam(running.settings.server_user)
    assert running.pgdata.stat().st_uid == user.pw_uid
    assert running.data_dir.stat().st_uid == user.pw_uid
    proc_status = Path(f"/proc/{running.status().pid}/status").read_text()
    uid_line = next(line for line in proc_status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == [str(user.pw_uid)] * 4


@root_only
def test_as_root_a_data_dir_out_of_the_server_users_reach_is_refused(workdir: Path) -> None:
    closed = workdir / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(ServerError, match="IWM_DATA_DIR"):
        EmbeddedServer(Settings(data_dir=closed / "data")).start()
    assert stat.S_IMODE(closed.stat().st_mode) == 0o700, "never loosen someone's folder"


@root_only
def test_as_root_binaries_out_of_the_server_users_reach_are_copied(
    running: EmbeddedServer, workdir: Path
) -> None:
    # Like a venv under /root: behind a folder the server user may not enter.
    closed = workdir / "closed-venv"
    closed.mkdir(mode=0o700)
    hidden = closed / "postgresql"
    hidden.symlink_to(server_module._installed_tree())
    account = running._account()
    tree = running._runnable_tree(hidden, account)
    assert tree == running.data_dir / f"postgresql-{running.version}"
    assert sorted(path.name for path in tree.iterdir()) == ["bin", "lib", "share"]
    assert running._runnable_tree(hidden, account) == tree, "copied once, then reused"


@root_only
def test_a_normal_user_runs_the_server_as_itself(workdir: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    home = workdir / "nobody"
    home.mkdir()
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    srv = EmbeddedServer(Settings(data_dir=home / "data"))
    # Python itself lives under root's home here, out of nobody's reach: fork, don't exec.
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - reports through the pipe
        outcome = "failed"
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            try:
                srv.start()
                with psycopg.connect(str(srv.url()).replace("+psycopg", "")) as conn:
                    user = conn.execute("select current_user").fetchone()
                owner = srv.pgdata.stat().st_uid
                outcome = f"ok {user} {owner == nobody.pw_uid}"
            finally:
                srv.stop()
        except BaseException as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(writer, outcome.encode())
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        outcome = pipe.read()
    os.waitpid(child, 0)
    assert outcome == "ok ('iwm',) True"
