"""Reading needs an existing, migrated database: never a silent new cluster.

The issue: with a mistyped ``IWM_DATA_DIR``, ``iwm_lab.connect()`` created and started a new
empty cluster, and the next query failed with ``relation "movies" does not exist``. Only
``iwm-lab db start`` and ``iwm-lab demo`` create a cluster; everything else says in one line
what to run, and a database behind the head revision says to upgrade.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from iwm_lab import connect, get_settings, migrate
from iwm_lab.database import analyst_engine, database_url, get_engine
from iwm_lab.exceptions import DatabaseMissing, SchemaNotReady
from iwm_lab.lab import prepare_database
from iwm_lab.server import EmbeddedServer
from iwm_lab.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def root() -> Iterator[Path]:
    # Our own folder, opened so the unprivileged server user can reach below it as root.
    folder = Path(tempfile.mkdtemp(prefix="iwm-datadir-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def use_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set this process's IWM_* variables as a notebook's environment would."""

    def use(**variables: str) -> None:
        for name in ("IWM_DATA_DIR", "IWM_DATABASE_URL"):
            monkeypatch.delenv(name, raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield use
    monkeypatch.undo()
    get_settings.cache_clear()


def socket_dir(data_dir: Path) -> Path:
    """Where the embedded server of ``data_dir`` would put its socket (see iwm_lab.server)."""
    key = os.path.realpath(data_dir).encode()
    return Path(f"/tmp/iwm-lab-{hashlib.sha1(key, usedforsecurity=False).hexdigest()[:8]}")


def missing_message(data_dir: Path) -> str:
    return (
        f"no iwm-lab database in {data_dir} (IWM_DATA_DIR); run `iwm-lab demo` for one with "
        "demo data, or `iwm-lab db start` for an empty one"
    )


READERS: dict[str, Callable[[], Any]] = {
    "connect": connect,
    "analyst_engine": analyst_engine,
    "get_engine": get_engine,
    "database_url": database_url,
    "lab": prepare_database,
}


@pytest.mark.parametrize("folder", ["absent", "empty"])
@pytest.mark.parametrize("reader", list(READERS))
def test_a_mistyped_data_dir_creates_nothing(
    root: Path, use_env: Callable[..., None], reader: str, folder: str
) -> None:
    data_dir = root / "typo" / "data"
    if folder == "empty":
        data_dir.mkdir(parents=True)
    use_env(IWM_DATA_DIR=str(data_dir))
    with pytest.raises(DatabaseMissing) as caught:
        READERS[reader]()
    assert str(caught.value) == missing_message(data_dir)
    left = sorted(str(path.relative_to(root)) for path in root.rglob("*"))
    assert left == (["typo", "typo/data"] if folder == "empty" else [])
    assert not socket_dir(data_dir).exists()


@pytest.mark.parametrize(
    "command",
    [["db", "upgrade"], ["lab", "--no-browser"], ["import", "movies", "movies.csv"]],
)
def test_commands_on_a_mistyped_data_dir_say_what_to_run_in_one_line(
    root: Path, cli_env: dict[str, str], command: list[str]
) -> None:
    data_dir = root / "typo" / "data"
    (root / "movies.csv").write_text("title,year\nDune,2021\n")
    done = subprocess.run(
        ["iwm-lab", *command],
        env=cli_env | {"IWM_DATA_DIR": str(data_dir)},
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == f"error: {missing_message(data_dir)}\n"
    assert sorted(path.name for path in root.iterdir()) == ["movies.csv"]
    assert not socket_dir(data_dir).exists()


def test_demo_creates_the_cluster_and_readers_start_a_stopped_one(
    root: Path, use_env: Callable[..., None]
) -> None:
    """``iwm-lab demo``'s way in creates; a reader starts the stopped cluster on demand
    (zero setup after a reboot), then says that its database was never migrated."""
    settings = Settings(data_dir=root / "data")
    server = EmbeddedServer(settings)
    try:
        database_url(settings, create=True)
        assert server.has_cluster() and server.status().running
        server.stop()
        use_env(IWM_DATA_DIR=str(settings.data_dir))
        with pytest.raises(SchemaNotReady, match=r"never migrated\): run `iwm-lab db upgrade`$"):
            connect()
        assert server.status().running
    finally:
        server.stop()


def _set_revision(url: URL, revision: str | None) -> None:
    """Write ``revision`` as the database's; None: no version table at all."""
    engine = get_engine(url, writable=True)
    with engine.begin() as conn:
        hidden = conn.execute(text("select to_regclass('alembic_version_away')")).scalar()
        if hidden is not None:
            conn.execute(text("alter table alembic_version_away rename to alembic_version"))
        if revision is None:
            conn.execute(text("alter table alembic_version rename to alembic_version_away"))
        else:
            conn.execute(text("update alembic_version set version_num = :r"), {"r": revision})
    engine.dispose()


# What each state says, by the revision written into a copy of the migrated template.
NOT_READY = {
    "never migrated": (
        None,
        r"holds no iwm-lab schema \(never migrated\): run `iwm-lab db upgrade`",
    ),
    "behind": (
        "0002",
        r"is at revision 0002, behind the head revision \w+: run `iwm-lab db upgrade`",
    ),
    "unknown": ("9999_later", r"at revision 9999_later, which this iwm-lab does not know"),
}
ENTRIES: dict[str, Callable[[URL], Any]] = {
    "connect": lambda url: connect(url),
    "analyst_engine": lambda _url: analyst_engine(),
    "lab": lambda _url: prepare_database(),
}


@pytest.mark.parametrize("entry", list(ENTRIES))
@pytest.mark.parametrize("state", list(NOT_READY))
def test_a_database_not_at_head_says_what_to_run(
    make_database: Callable[..., URL],
    template_name: str,
    use_env: Callable[..., None],
    state: str,
    entry: str,
) -> None:
    url = make_database("notready", template=template_name)
    revision, message = NOT_READY[state]
    _set_revision(url, revision)
    use_env(IWM_DATABASE_URL=url.render_as_string(hide_password=False))
    with pytest.raises(SchemaNotReady, match=message) as caught:
        ENTRIES[entry](url)
    assert f"database {url.database!r}" in str(caught.value) and "\n" not in str(caught.value)
    # Not remembered as failed: once upgraded, the same process reads.
    _set_revision(url, migrate.head_revision())
    ENTRIES[entry](url)


def test_the_check_runs_once_per_process_and_url_unless_asked_live(
    make_database: Callable[..., URL], template_name: str
) -> None:
    url = make_database("once", template=template_name)
    engine = get_engine(url)
    assert migrate.require_head(engine) == migrate.head_revision()
    # Checked once: a database that fell behind afterwards is not asked again in this process
    # (a notebook's every call would otherwise pay a round trip), while another URL is.
    _set_revision(url, "0002")
    assert migrate.require_head(engine) == migrate.head_revision()
    # The report runner and the seeder ask the database every time, and what they see counts.
    with pytest.raises(SchemaNotReady, match="behind the head revision"):
        migrate.require_head(engine, cached=False)
    with pytest.raises(SchemaNotReady, match="behind the head revision"):
        migrate.require_head(engine)
    engine.dispose()
    other = make_database("other", template=template_name)
    _set_revision(other, "0002")
    behind = get_engine(other)
    with pytest.raises(SchemaNotReady, match="behind the head revision"):
        migrate.require_head(behind)
    behind.dispose()
