"""The embedded PostgreSQL 16 server: real servers in a data dir of this module's own."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from iwm_lab import server as server_module
from iwm_lab.destructive import Interruption
from iwm_lab.exceptions import DataLossRefused, ServerError
from iwm_lab.roles import ANALYST_ROLE
from iwm_lab.server import EmbeddedServer
from iwm_lab.settings import Settings

pytestmark = pytest.mark.slow

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


def _as_nobody(home: Path, work: Callable[[], str]) -> str:
    """``work()``'s outcome, run as the user nobody in a forked child with ``home`` its own.

    Python itself lives under root's home here, out of nobody's reach: fork, don't exec.
    """
    nobody = pwd.getpwnam("nobody")
    home.mkdir()
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - reports through the pipe
        outcome = "failed"
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            outcome = work()
        except BaseException as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(writer, outcome.encode())
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        outcome = pipe.read()
    os.waitpid(child, 0)
    return outcome


@root_only
def test_a_normal_user_runs_the_server_as_itself(workdir: Path) -> None:
    home = workdir / "nobody"
    srv = EmbeddedServer(Settings(data_dir=home / "data"))

    def run() -> str:
        try:
            srv.start()
            with psycopg.connect(str(srv.url()).replace("+psycopg", "")) as conn:
                user = conn.execute("select current_user").fetchone()
            owner = srv.pgdata.stat().st_uid
            return f"ok {user} {owner == pwd.getpwnam('nobody').pw_uid}"
        finally:
            srv.stop()

    assert _as_nobody(home, run) == "ok ('iwm',) True"


def _start_over_a_live_server(data_dir: Path, how: str) -> str:
    """Issue 10's sequence: the data folder of a running server goes away, then ``db start``.

    Returns "refused" when the second start is refused with one line naming the live
    postmaster, which still serves its socket; otherwise what went wrong.
    """
    first = EmbeddedServer(Settings(data_dir=data_dir))
    first.start()
    socket_dir = Path(str(first.url().query["host"]))
    pid = first.status().pid
    assert pid is not None
    moved = data_dir.with_name(data_dir.name + ".moved")
    if how == "moved":
        data_dir.rename(moved)
    else:
        shutil.rmtree(data_dir)
    try:
        try:
            EmbeddedServer(Settings(data_dir=data_dir)).start()
        except ServerError as exc:
            message = str(exc)
        else:
            return "a second server started"
        if f"pid {pid}" not in message or "\n" in message:
            return f"unclear refusal: {message}"
        lock = socket_dir / ".s.PGSQL.5432.lock"
        if not lock.exists() or lock.read_text().split("\n", 1)[0] != str(pid):
            return "the live server's socket lock was touched"
        if not (socket_dir / ".s.PGSQL.5432").is_socket() or not server_module._is_postgres(pid):
            return "the live server lost its socket or died"
        if how == "moved":
            # Its files moved with it: it still serves every session.
            dsn = f"host={socket_dir} port=5432 user=iwm dbname=iwm connect_timeout=5"
            with psycopg.connect(dsn) as conn:
                if conn.execute("select 1").fetchone() != (1,):
                    return "the live server no longer answers"
        return "refused"
    finally:
        if how == "moved":
            EmbeddedServer(Settings(data_dir=moved)).stop()
        else:
            os.kill(pid, signal.SIGINT)  # its pg_ctl has no data folder left to read
            deadline = time.monotonic() + 30
            while server_module._is_postgres(pid) and time.monotonic() < deadline:
                time.sleep(0.05)


@pytest.mark.parametrize("how", ["moved", "deleted"])
def test_a_server_whose_data_folder_went_away_is_not_disturbed(workdir: Path, how: str) -> None:
    assert _start_over_a_live_server(workdir / f"live-{how}" / "data", how) == "refused"


@root_only
def test_a_normal_users_server_whose_data_folder_went_away_is_not_disturbed(
    workdir: Path,
) -> None:
    home = workdir / "nobody-live"
    outcome = _as_nobody(home, lambda: _start_over_a_live_server(home / "data", "moved"))
    assert outcome == "refused"


def test_a_stale_socket_lock_of_a_dead_server_is_cleared(stopped: EmbeddedServer) -> None:
    status = stopped.start()
    socket_dir = Path(str(stopped.url().query["host"]))
    stopped.stop()
    # What a kill -9 and a reboot leave: a lock naming a pid that is no server now.
    socket_dir.mkdir(mode=0o700, exist_ok=True)
    if AS_ROOT:
        os.chown(socket_dir, *_ids(stopped))
    (socket_dir / ".s.PGSQL.5432.lock").write_text(f"{os.getpid()}\n{stopped.pgdata}\n")
    restarted = stopped.start()
    assert restarted.running and restarted.pid != status.pid


def _ids(server: EmbeddedServer) -> tuple[int, int]:
    account = server._account()
    return account.pw_uid, account.pw_gid


def test_a_pgdata_that_is_not_a_cluster_is_refused_and_kept(workdir: Path) -> None:
    data_dir = workdir / "foreign" / "data"
    (data_dir / "pgdata").mkdir(parents=True)
    if AS_ROOT:
        srv_user = pwd.getpwnam(Settings().server_user)
        for path in (data_dir, data_dir / "pgdata"):
            os.chown(path, srv_user.pw_uid, srv_user.pw_gid)
    notes = data_dir / "pgdata" / "notes.txt"
    notes.write_text("someone's files\n")
    with pytest.raises(ServerError, match="is not a PostgreSQL cluster") as caught:
        EmbeddedServer(Settings(data_dir=data_dir)).start()
    assert "\n" not in str(caught.value)
    assert notes.read_text() == "someone's files\n"
    assert sorted(p.name for p in (data_dir / "pgdata").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("variables", "command", "expected"),
    [
        ({"IWM_DATA_DIR": ""}, ["db", "start"], "error: IWM_DATA_DIR is set but empty"),
        ({"IWM_DATA_DIR": "  "}, ["db", "status"], "error: IWM_DATA_DIR is set but empty"),
        (
            {"IWM_DATABASE_URL": "postgresql+psycopg://[::1"},
            ["db", "url"],
            "error: IWM_DATABASE_URL is not a valid SQLAlchemy URL",
        ),
        (
            {"IWM_DATABASE_URL": "postgresql+psycopg://u:pw@h:notaport/db"},
            ["db", "roles"],
            "error: IWM_DATABASE_URL is not a valid SQLAlchemy URL",
        ),
    ],
)
def test_configuration_mistakes_are_one_line(
    variables: dict[str, str], command: list[str], expected: str, workdir: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IWM_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # HOME elsewhere: were the empty value taken as unset, no real default folder is touched.
    env["HOME"] = env["XDG_DATA_HOME"] = str(workdir / "home")
    done = subprocess.run(
        ["iwm-lab", *command], env=env | variables, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.startswith(expected) and len(done.stderr.strip().splitlines()) == 1
    assert "pw" not in done.stderr.replace("psycopg", "")
    assert not (workdir / "home").exists()


def test_db_start_on_a_foreign_pgdata_is_one_line(workdir: Path) -> None:
    data_dir = workdir / "foreign-cli" / "data"
    (data_dir / "pgdata").mkdir(parents=True)
    if AS_ROOT:
        srv_user = pwd.getpwnam(Settings().server_user)
        for path in (data_dir, data_dir / "pgdata"):
            os.chown(path, srv_user.pw_uid, srv_user.pw_gid)
    (data_dir / "pgdata" / "base").write_text("not a cluster\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IWM_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["IWM_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        ["iwm-lab", "db", "start"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "is not a PostgreSQL cluster" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


# `db start --port N` on a running server: restarted in place, never behind anyone's back.


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def held_session(url: URL, name: str) -> psycopg.Connection[Any]:
    """A session someone else holds open: a notebook's, say."""
    dsn = url.render_as_string(hide_password=False).replace("+psycopg", "")
    return psycopg.connect(dsn, application_name=name, autocommit=True)


def never_asked(interruption: Interruption) -> None:
    raise AssertionError(f"asked without cause: {interruption.summary()}")


def db_start(server: EmbeddedServer, *args: str) -> subprocess.CompletedProcess[str]:
    """``iwm-lab db start`` on ``server``'s data folder, without a terminal to ask on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IWM_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["IWM_DATA_DIR"] = str(server.data_dir)
    return subprocess.run(
        ["iwm-lab", "db", "start", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("how", ["library", "cli"])
def test_a_port_in_use_leaves_the_running_server_untouched(
    stopped: EmbeddedServer, how: str
) -> None:
    before = stopped.start()
    with held_session(stopped.url(), "notebook") as held, socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refusal = f"port {port} on 127.0.0.1 is already in use"
        if how == "library":
            with pytest.raises(ServerError, match=f"^{refusal}$"):
                stopped.start(port=port, confirm=never_asked)
        else:
            done = db_start(stopped, "--port", str(port), "--yes")
            assert (done.returncode, done.stderr) == (1, f"error: {refusal}\n")
        assert held.execute("select 1").fetchone() == (1,)
    after = stopped.status()
    assert (after.pid, after.port, after.url) == (before.pid, before.port, before.url)


def test_db_start_with_a_port_lists_the_sessions_it_would_end_and_asks(
    stopped: EmbeddedServer,
) -> None:
    before = stopped.start()
    old_url = stopped.url()
    scalar(old_url, "create table kept_for_port (id int); insert into kept_for_port values (7)")
    port = free_port()
    with held_session(old_url, "someone's notebook") as held:
        refused = db_start(stopped, "--port", str(port))
        assert refused.returncode == 1
        lines = refused.stderr.splitlines()
        assert lines[0] == (
            f"restarting the embedded server for TCP port {port} would end 1 open session(s) "
            f"on the embedded server in {stopped.data_dir}:"
        )
        listed = [line.split() for line in lines[2:-1]]
        assert [row[0] for row in listed] == [str(held.info.backend_pid)]
        assert "someone's notebook" in lines[2]
        assert lines[-1].startswith("error: ") and "--yes" in lines[-1]
        assert stopped.status().pid == before.pid
        assert held.execute("select 1").fetchone() == (1,)

        done = db_start(stopped, "--port", str(port), "--yes")
        assert done.returncode == 0, done.stderr
        with pytest.raises(psycopg.OperationalError):
            held.execute("select 1")
    after = stopped.status()
    assert after.port == port and after.pid != before.pid
    assert f"tcp:      127.0.0.1:{port}" in done.stdout
    # The URL handed out before the restart still leads there: same data, same roles.
    assert scalar(old_url, "select id from kept_for_port") == 7
    analyst = old_url.set(username=ANALYST_ROLE)
    assert scalar(analyst, "select current_user") == ANALYST_ROLE
    password = stopped.password_file.read_text().strip()
    tcp = f"host=127.0.0.1 port={port} user=iwm dbname=iwm passfile=/dev/null connect_timeout=5"
    with psycopg.connect(tcp, password=password) as conn:
        assert conn.execute("select id from kept_for_port").fetchone() == (7,)
    # On the port it serves, a start just reports it.
    assert stopped.start(port=port, confirm=never_asked).pid == after.pid
    assert db_start(stopped, "--port", str(port)).returncode == 0
    assert stopped.status().pid == after.pid


def test_a_restart_without_sessions_asks_nothing_and_keeps_every_earlier_socket_name(
    stopped: EmbeddedServer,
) -> None:
    first = stopped.start()
    assert first.url is not None
    socket_dir = Path(str(first.url.query["host"]))
    ports = [free_port()]
    ports.append(next(p for p in iter(free_port, None) if p != ports[0]))
    for port in ports:
        assert stopped.start(port=port, confirm=never_asked).port == port
    earlier = [first.url.port, ports[0]]
    aliases = sorted(path.name for path in socket_dir.iterdir() if path.is_symlink())
    assert aliases == sorted(f".s.PGSQL.{p}" for p in earlier)
    for old in earlier:
        assert scalar(first.url.set(port=old), "select current_setting('port')") == str(ports[1])
    stopped.stop()
    assert not socket_dir.exists(), "the links go with the server"


def test_a_restart_that_fails_leaves_the_server_running_as_before(
    stopped: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = stopped.start()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # As if something took the port between the check and the restart.
        monkeypatch.setattr(server_module, "_check_port_free", lambda _port: None)
        with pytest.raises(ServerError, match=r"it runs again as before$"):
            stopped.start(port=port, confirm=never_asked)
    after = stopped.status()
    assert after.running and (after.port, after.url) == (before.port, before.url)
    assert scalar(stopped.url(), "select 1") == 1


def test_without_a_confirm_a_restart_that_would_end_sessions_is_refused(
    stopped: EmbeddedServer,
) -> None:
    before = stopped.start()
    with held_session(stopped.url(), "notebook") as held:
        with pytest.raises(DataLossRefused, match="would end 1 open session"):
            stopped.start(port=free_port())
        assert held.execute("select 1").fetchone() == (1,)
    assert stopped.status().pid == before.pid
