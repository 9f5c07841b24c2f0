"""Shared fixtures: one embedded PostgreSQL 16 per test session, a fresh database per module.

A template database is migrated to head once; each module gets a copy of it, which
PostgreSQL makes in milliseconds, so modules never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from iwm_lab import migrate
from iwm_lab.database import get_engine
from iwm_lab.server import EmbeddedServer
from iwm_lab.settings import Settings


@pytest.fixture(scope="session")
def server_settings() -> Iterator[Settings]:
    # Our own folder, opened to traversal so the unprivileged server user can reach its
    # data dir below it when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="iwm-test-"))
    root.chmod(0o755)
    yield Settings(data_dir=root / "data")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(server_settings: Settings) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(server_settings)
    server.start()
    # A throwaway cluster: flushing to disk buys nothing here, and costs seconds across the
    # hundreds of databases the tests create (and in the checkpoint of the final stop).
    admin = get_engine(server.url("postgres"), writable=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(text(f"alter system set {setting} = off"))
        conn.execute(text("select pg_reload_conf()"))
    admin.dispose()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def make_database(pg_server: EmbeddedServer) -> Callable[..., URL]:
    """Create a new empty database (or a copy of ``template``) and return its URL."""
    admin = get_engine(pg_server.url("postgres"), writable=True, isolation_level="AUTOCOMMIT")

    def make(prefix: str = "test", template: str | None = None) -> URL:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        clause = f" template {template}" if template else ""
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"{clause}'))
        return pg_server.url(name)

    return make


@pytest.fixture(scope="session")
def template_name(make_database: Callable[..., URL]) -> str:
    url = make_database("template")
    engine = get_engine(url, writable=True)
    migrate.upgrade(engine)
    engine.dispose()  # a template cannot be copied while anyone is connected to it
    assert url.database is not None
    return url.database


@pytest.fixture(scope="module")
def db_url(make_database: Callable[..., URL], template_name: str) -> URL:
    """A database of this module's own, migrated to head."""
    return make_database("mod", template=template_name)


@pytest.fixture(scope="module")
def engine(db_url: URL) -> Iterator[Engine]:
    """A writable engine on the module's database."""
    eng = get_engine(db_url, writable=True)
    yield eng
    eng.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A transaction on the module's database, rolled back at the end of the test."""
    with engine.connect() as connection:
        tx = connection.begin()
        try:
            yield connection
        finally:
            tx.rollback()


@pytest.fixture(scope="session")
def default_database(pg_server: EmbeddedServer) -> URL:
    """The test server's own ``iwm`` database, migrated to head: what ``iwm-lab`` commands,
    ``connect()`` and ``iwm-lab lab`` read when nothing else is configured (they refuse a
    database that was never migrated)."""
    url = pg_server.url()
    engine = get_engine(url, writable=True)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def cli_env(server_settings: Settings, default_database: URL) -> dict[str, str]:
    """Environment for running ``iwm-lab`` as a subprocess against the test server, whose
    default database is at head."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IWM_")}
    env["IWM_DATA_DIR"] = str(server_settings.data_dir)
    # The console script lives beside the interpreter running the tests (the venv's bin/).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


TINY_SEED = 42


@pytest.fixture(scope="session")
def tiny_url(make_database: Callable[..., URL], template_name: str) -> URL:
    """A database holding the tiny demo dataset (seed 42) dated up to the fixed
    :data:`~iwm_lab.demodata.NOTEBOOK_AS_OF`, the rows behind the notebooks' stored outputs,
    the same on any day. Treat it as read-only."""
    from iwm_lab.demodata import NOTEBOOK_AS_OF, seed_database

    url = make_database("tiny", template=template_name)
    engine = get_engine(url, writable=True)
    seed_database(engine, scale="tiny", seed=TINY_SEED, progress=False, as_of=NOTEBOOK_AS_OF)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def tiny(tiny_url: URL) -> Iterator[Connection]:
    """A read-only connection on the tiny demo dataset, as analysts get."""
    engine = get_engine(tiny_url)
    with engine.connect() as conn:
        yield conn
    engine.dispose()
