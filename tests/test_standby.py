"""A hot standby of the embedded server, and reads from it (``iwm_lab.standby``).

The module makes its own primary: a fresh embedded server in a folder of its own, migrated
and seeded with the tiny demo dataset (seed 42, as of the notebooks' date), so that copying,
stopping and dropping a standby never touches the session's server. Everything is on Unix
sockets. The first tests need no standby: where a write goes, which URLs are the embedded
server's, and the report header's line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from iwm_lab import migrate
from iwm_lab.database import (
    ReplicaLag,
    database_url,
    get_engine,
    replica_lag,
    writes_url,
)
from iwm_lab.demodata import NOTEBOOK_AS_OF, seed_database
from iwm_lab.destructive import Listing
from iwm_lab.exceptions import ConfigurationError, DataLossRefused
from iwm_lab.queries import overview
from iwm_lab.reports.html import ReportHeader, export_html
from iwm_lab.reports.render import read_from
from iwm_lab.reports.runner import run_report
from iwm_lab.reports.schedule import load_schedule
from iwm_lab.server import EmbeddedServer, is_embedded
from iwm_lab.server_process import installed_tree, read_pid_file
from iwm_lab.server_replication import SLOT
from iwm_lab.settings import Settings, get_settings
from iwm_lab.standby import (
    StandbyStatus,
    reads_url,
    standby_status,
    standby_url,
    start_standby,
    stop_standby,
    wait_for_replay,
)
from tests.test_query_surface import NOT_FRAMES, arguments, public_functions

# What a freshness frame says about the data, apart from where it was read.
DATA_COLUMNS = ["table", "column", "latest", "age_days"]
SERVER_COLUMNS = ["in_recovery", "replay_lag_bytes", "replay_lag_s"]
WAL_SEGMENT = 16 * 1024 * 1024
IWM_LAB = Path(sys.executable).parent / "iwm-lab"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Settings]]:
    """Set iwm-lab's variables for this process (and the kernels it starts); the settings."""

    def use(**values: str | None) -> Settings:
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return get_settings()

    yield use
    get_settings.cache_clear()


# --- where writes go, without a standby ---------------------------------------------------

SOCKET_A, SOCKET_B = "/tmp/iwm-lab-0123abcd", "/tmp/iwm-lab-4567cdef"
MULTI = f"postgresql+psycopg://iwm@/iwm?host={SOCKET_A},{SOCKET_B}&port=5432,5433"


def test_multi_host_urls_of_embedded_sockets_are_embedded() -> None:
    assert is_embedded(MULTI)
    assert is_embedded(f"postgresql+psycopg://iwm@/iwm?host={SOCKET_A}:5432&host={SOCKET_B}:5433")
    assert not is_embedded(f"postgresql+psycopg://iwm@/iwm?host={SOCKET_A},db.internal")
    assert not is_embedded("postgresql+psycopg://iwm@db.internal/iwm")


@pytest.mark.parametrize(
    ("url", "attrs"),
    [
        (MULTI, "read-write"),
        (f"{MULTI}&target_session_attrs=prefer-standby", "read-write"),
        (f"{MULTI}&target_session_attrs=primary", "primary"),
        ("postgresql+psycopg://u@replica.internal/iwm?target_session_attrs=standby", "read-write"),
        ("postgresql+psycopg://u@db.internal/iwm", None),
    ],
)
def test_a_write_asks_libpq_for_a_server_that_takes_writes(
    url: str, attrs: str | None, env: Callable[..., Settings]
) -> None:
    settings = env(IWM_DATABASE_URL=url, IWM_PRIMARY_URL=None)
    written = make_url(writes_url(None, settings))
    assert written.query.get("target_session_attrs") == attrs
    assert written.query.get("host") == make_url(url).query.get("host")
    # The engine layer applies the rule, the read-only one never.
    assert get_engine(writable=True).url.query.get("target_session_attrs") == attrs
    assert get_engine().url.query.get("target_session_attrs") == make_url(url).query.get(
        "target_session_attrs"
    )


def test_iwm_primary_url_takes_the_writes_of_the_configured_database(
    env: Callable[..., Settings],
) -> None:
    primary = "postgresql+psycopg://iwm:sekrit@primary.internal/iwm"
    settings = env(
        IWM_DATABASE_URL=f"{MULTI}&target_session_attrs=prefer-standby", IWM_PRIMARY_URL=primary
    )
    assert writes_url(None, settings) == make_url(primary)
    assert writes_url(settings.database_url, settings) == make_url(primary)
    assert get_engine(writable=True).url == make_url(primary)
    assert get_engine(database_url(), writable=True).url == make_url(primary)
    # Another URL, given on purpose, is that URL's business.
    other = "postgresql+psycopg://iwm@other.internal/iwm"
    assert writes_url(other, settings) == other
    assert "sekrit" not in repr(settings)
    assert get_engine(settings.database_url).url.username == "iwm_analyst"


def test_iwm_primary_url_needs_iwm_database_url(env: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigurationError, match="IWM_PRIMARY_URL is set but IWM_DATABASE_URL"):
        env(IWM_DATABASE_URL=None, IWM_PRIMARY_URL="postgresql+psycopg://iwm@primary/iwm")
    with pytest.raises(ConfigurationError, match="IWM_PRIMARY_URL is not a valid"):
        env(IWM_DATABASE_URL=MULTI, IWM_PRIMARY_URL="postgresql+psycopg://[::1")


def test_the_header_says_when_the_run_read_from_a_standby() -> None:
    nb = new_notebook()
    nb.cells = [new_markdown_cell("Some finding.")]
    header = ReportHeader("T", "t", "r", "now", "1 s", "rev", "today")
    assert "Read from" not in export_html(nb, header)
    lag = ReplicaLag(in_recovery=True, lag_bytes=2048, lag_s=1.25)
    assert lag.describe() == "a hot standby, 1.2 s (2,048 bytes) behind its primary"
    assert ReplicaLag(True).describe() == "a hot standby, an unknown time behind its primary"
    page = export_html(nb, ReportHeader("T", "t", "r", "now", "1 s", "rev", "today", replica="x<y"))
    assert '<dt>Read from</dt><dd class="iwm-replica">x&lt;y</dd>' in page


# --- a standby of a seeded tiny primary ---------------------------------------------------


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    # Open to traversal, so that the server user reaches the data folder below it as root.
    root = Path(tempfile.mkdtemp(prefix="iwm-standby-"))
    root.chmod(0o755)
    yield Settings(data_dir=root / "data")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def primary(settings: Settings) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(settings)
    server.start()
    admin = get_engine(server.url("postgres"), writable=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # A throwaway cluster, as the session's (the standby copies these settings).
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(text(f"alter system set {setting} = off"))
        conn.execute(text("select pg_reload_conf()"))
    admin.dispose()
    engine = get_engine(server.url(), writable=True)
    migrate.upgrade(engine)
    seed_database(engine, scale="tiny", seed=42, progress=False, as_of=NOTEBOOK_AS_OF)
    engine.dispose()
    yield server
    try:
        stop_standby(settings, drop=True, confirm=lambda _listing: None)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def made(settings: Settings, primary: EmbeddedServer) -> float:
    """Seconds to make and start the standby (pg_basebackup of tiny, then the first start)."""
    began = time.perf_counter()
    start_standby(settings)
    return time.perf_counter() - began


@pytest.fixture
def standby(settings: Settings, made: float) -> StandbyStatus:
    """The running standby (started again if a test stopped it), caught up."""
    start_standby(settings)
    wait_for_replay(settings)
    return standby_status(settings)


@pytest.fixture
def owner(primary: EmbeddedServer) -> Iterator[Engine]:
    """The owner's engine on the primary's database."""
    engine = get_engine(primary.url(), writable=True)
    yield engine
    engine.dispose()


def _pulses(engine: Engine, count: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into pulses (content_text, created_at) "
                "select 'written while the standby was away #' || i, localtimestamp "
                "from generate_series(1, :n) as i"
            ),
            {"n": count},
        )


def _library_path(pid: int) -> str:
    environ = Path("/proc", str(pid), "environ").read_bytes().split(b"\0")
    found = [v for v in environ if v.startswith(b"LD_LIBRARY_PATH=")]
    return found[0].decode().split("=", 1)[1] if found else ""


@pytest.mark.slow
def test_a_standby_of_a_seeded_tiny_primary_is_in_recovery_and_streams(
    settings: Settings,
    primary: EmbeddedServer,
    standby: StandbyStatus,
    made: float,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert standby.running and standby.in_recovery and standby.streaming
    assert standby.pgdata == primary.data_dir / "standby"
    assert standby.slot is not None and standby.slot.name == SLOT and standby.slot.active
    # Caught up but for what the primary wrote since (its background writer logs too).
    assert standby.lag_bytes is not None and 0 <= standby.lag_bytes < WAL_SEGMENT
    assert standby.lag_s is not None and standby.lag_s >= 0
    assert standby.url is not None and standby.reads_url is not None
    own, theirs = standby.url.query["host"], primary.url().query["host"]
    assert own != theirs and is_embedded(standby.url) and is_embedded(standby.reads_url)
    assert standby.reads_url.query["target_session_attrs"] == "prefer-standby"
    described = standby.describe()
    assert "running" in described and "in recovery, streaming" in described
    assert re.search(r"lag: +[\d,]+ bytes, [\d,.]+ s behind the primary", described)
    # The trap: both servers load the modules' libpq from their tree's own lib/ first.
    for pgdata in (primary.pgdata, standby.pgdata):
        running = read_pid_file(pgdata)
        assert running is not None
        lib = Path(_library_path(running.pid).split(":")[0])
        assert (lib / "libpq.so.5").exists() and (lib.parent / "bin" / "postgres").exists()
        assert lib.parent.name == installed_tree().name or lib.parent.parent == primary.data_dir
    with capsys.disabled():
        print(f"\nstandby of tiny made and started (pg_basebackup + start): {made:.2f} s")


@pytest.mark.slow
def test_the_standby_answers_every_query_function_as_the_primary_does(
    settings: Settings, primary: EmbeddedServer, standby: StandbyStatus
) -> None:
    functions = dict(public_functions())
    on_primary, on_standby = get_engine(primary.url()), get_engine(standby_url(settings))
    with on_primary.connect() as p, on_standby.connect() as s:
        assert not replica_lag(p).in_recovery and replica_lag(s).in_recovery
        calls = arguments(p)
        assert set(calls) | set(NOT_FRAMES) == set(functions), "every public function"
        compared = 0
        for name, kwargs_list in calls.items():
            for kwargs in kwargs_list:
                mine, theirs = functions[name](p, **kwargs), functions[name](s, **kwargs)
                if name == "overview.freshness":
                    assert not mine["in_recovery"].any() and theirs["in_recovery"].all()
                    assert mine["replay_lag_s"].isna().all()
                    assert (theirs["replay_lag_s"] >= 0).all()
                    assert (theirs["replay_lag_bytes"] >= 0).all()
                    # Ages measured by each server's clock at its own moment, unless as_of.
                    columns = DATA_COLUMNS if kwargs else DATA_COLUMNS[:3]
                    mine, theirs = mine[columns], theirs[columns]
                pd.testing.assert_frame_equal(mine, theirs, obj=f"{name}({kwargs})")
                compared += 1
        assert compared >= len(calls)
    on_primary.dispose()
    on_standby.dispose()


@pytest.mark.slow
def test_the_standby_refuses_writes_even_as_the_owner(
    settings: Settings, standby: StandbyStatus
) -> None:
    engine = get_engine(standby_url(settings), writable=True)
    assert engine.url.username == "iwm"  # the owner, a superuser
    for statement in (
        "insert into pulses (content_text) values ('x')",
        "create table scratch (a int)",
        "refresh materialized view score_pair_cells",
    ):
        with pytest.raises(DBAPIError, match="read-only transaction"), engine.begin() as conn:
            conn.execute(text(statement))
    engine.dispose()


def _where(engine: Engine) -> tuple[str, bool]:
    with engine.connect() as conn:
        row = conn.execute(text("select current_user, pg_is_in_recovery()")).one()
    return str(row[0]), bool(row[1])


@pytest.mark.slow
def test_reads_go_to_the_standby_and_writes_to_the_primary(
    settings: Settings,
    primary: EmbeddedServer,
    standby: StandbyStatus,
    env: Callable[..., Settings],
) -> None:
    url = reads_url(settings).render_as_string(hide_password=False)
    env(IWM_DATABASE_URL=url, IWM_PRIMARY_URL=None)
    reader = get_engine(database_url())
    assert _where(reader) == ("iwm_analyst", True)
    writer = get_engine(database_url(), writable=True)
    assert _where(writer) == ("iwm", False)
    with writer.begin() as conn:
        conn.execute(
            text("insert into pulses (content_text) values ('through the multi-host url')")
        )
    wait_for_replay(settings)
    query = text("select count(*) from pulses where content_text = 'through the multi-host url'")
    with reader.connect() as conn:
        assert conn.execute(query).scalar_one() == 1
    # The writer role goes there too (import, refreshes).
    assert _where(get_engine(database_url(), writable=True, role="writer")) == ("iwm_writer", False)

    # IWM_PRIMARY_URL: the standby alone for reads, the primary named for writes.
    env(
        IWM_DATABASE_URL=standby_url(settings).render_as_string(hide_password=False),
        IWM_PRIMARY_URL=primary.url().render_as_string(hide_password=False),
    )
    assert _where(get_engine(database_url())) == ("iwm_analyst", True)
    assert _where(get_engine(database_url(), writable=True)) == ("iwm", False)
    assert _where(get_engine(writable=True)) == ("iwm", False)


@pytest.mark.slow
def test_a_stopped_standby_catches_up_through_its_slot(
    settings: Settings, primary: EmbeddedServer, standby: StandbyStatus, owner: Engine
) -> None:
    assert standby.url is not None
    socket_dir = Path(str(standby.url.query["host"]))
    assert stop_standby(settings).was_running
    assert not socket_dir.exists(), "its socket folder goes with it"
    # Written meanwhile, over several WAL segments, each switched and checkpointed: without
    # the slot the primary would recycle them (wal_keep_size is 0).
    for _ in range(3):
        _pulses(owner, 2_000)
        with owner.connect() as conn:
            conn.execute(text("select pg_switch_wal()"))
            conn.execute(text("checkpoint"))
            conn.commit()
    away = standby_status(settings)
    assert away.exists and not away.running
    assert away.slot is not None and not away.slot.active
    assert away.slot.retained_bytes is not None and away.slot.retained_bytes > 2 * WAL_SEGMENT
    assert "inactive" in away.describe() and "--drop" in away.describe()
    with owner.connect() as conn:
        kept = conn.execute(
            text(
                "select exists (select from pg_ls_waldir() where name = pg_walfile_name("
                "(select restart_lsn from pg_replication_slots where slot_name = :slot)))"
            ),
            {"slot": SLOT},
        ).scalar_one()
    assert kept, "the slot kept the WAL the standby needs"

    back = start_standby(settings)
    assert back.running and back.in_recovery
    wait_for_replay(settings)
    on_primary, on_standby = get_engine(primary.url()), get_engine(standby_url(settings))
    with on_primary.connect() as p, on_standby.connect() as s:
        pd.testing.assert_frame_equal(overview.table_row_counts(p), overview.table_row_counts(s))
        mine = overview.freshness(p, as_of=NOTEBOOK_AS_OF)[DATA_COLUMNS]
        theirs = overview.freshness(s, as_of=NOTEBOOK_AS_OF)[DATA_COLUMNS]
        pd.testing.assert_frame_equal(mine, theirs)
    on_primary.dispose()
    on_standby.dispose()
    caught_up = standby_status(settings)
    assert caught_up.streaming and caught_up.slot is not None
    assert caught_up.lag_bytes is not None and caught_up.lag_bytes < WAL_SEGMENT
    assert caught_up.slot.active


@pytest.mark.slow
def test_replay_lag_after_a_write_burst(
    settings: Settings, standby: StandbyStatus, owner: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with owner.connect() as conn:
        before = conn.execute(text("select pg_current_wal_lsn()")).scalar_one()
    began = time.perf_counter()
    _pulses(owner, 100_000)
    written = time.perf_counter() - began
    with owner.connect() as conn:
        wal = conn.execute(
            text("select pg_wal_lsn_diff(pg_current_wal_lsn(), :lsn)::bigint"), {"lsn": before}
        ).scalar_one()
    right_after = standby_status(settings)
    waited = wait_for_replay(settings, timeout=120)
    assert right_after.lag_bytes is not None and right_after.lag_bytes >= 0
    with capsys.disabled():
        print(
            f"\nburst: 100,000 pulses, {wal / 1_048_576:.1f} MB of WAL written in {written:.2f} s; "
            f"at commit the standby was {right_after.lag_bytes:,} bytes "
            f"({right_after.lag_s or 0:.3f} s) behind, and caught up {waited:.3f} s later"
        )


@pytest.mark.slow
def test_the_run_records_where_it_read(
    settings: Settings,
    primary: EmbeddedServer,
    standby: StandbyStatus,
    env: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    env(IWM_DATABASE_URL=standby_url(settings).render_as_string(hide_password=False))
    found = read_from()
    assert found is not None and found.in_recovery and found.lag_bytes is not None
    env(IWM_DATABASE_URL=primary.url().render_as_string(hide_password=False))
    assert read_from() is None
    env(IWM_DATABASE_URL=None)
    assert read_from() is None  # the embedded server is a primary
    dead = primary.url().set(password="hush").update_query_dict({"host": "/nonexistent"})
    env(IWM_DATABASE_URL=dead.render_as_string(hide_password=False))
    assert read_from() is None
    assert "cannot tell whether the run read from a standby" in caplog.text
    assert "hush" not in caplog.text


REPORT = """\
from sqlalchemy import text

import iwm_lab
from iwm_lab.queries import overview
from iwm_lab.reports import record

conn = iwm_lab.connect()
fresh = overview.freshness(conn)
record("in_recovery", bool(fresh["in_recovery"].all()))
record("pulses", conn.execute(text("select count(*) from pulses")).scalar_one())
record("user", conn.execute(text("select current_user")).scalar_one())
"""


@pytest.mark.slow
@pytest.mark.kernel
def test_a_report_read_from_the_standby_says_so_in_its_header(
    settings: Settings, standby: StandbyStatus, env: Callable[..., Settings], tmp_path: Path
) -> None:
    nb = new_notebook()
    nb.cells = [
        new_code_cell(
            "from typing import Optional\n\nas_of: Optional[str] = None",
            metadata={"tags": ["parameters"]},
        ),
        new_code_cell(REPORT),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / "replica.ipynb")
    (tmp_path / "schedule.toml").write_text(
        '[reports.replica]\ndescription = "Read from a standby"\n'
        'notebook = "replica.ipynb"\ncron = "0 0 1 1 *"\n'
    )
    env(IWM_DATABASE_URL=reads_url(settings).render_as_string(hide_password=False))
    schedule = load_schedule(tmp_path / "schedule.toml", tmp_path / "output")
    [result] = run_report(schedule, "replica", progress_bar=False)
    assert result.ok, result.record.error
    assert result.run_dir is not None
    assert result.record.records["in_recovery"] is True
    assert result.record.records["user"] == "iwm_analyst"
    page = (result.run_dir / "replica.html").read_text()
    shown = re.search(r"<dt>Read from</dt><dd[^>]*>([^<]*)</dd>", page)
    assert shown is not None, "the header names the standby"
    assert re.fullmatch(
        r"a hot standby, [\d,.]+ s \([\d,]+ bytes\) behind its primary when the run ended",
        shown.group(1),
    ), shown.group(1)
    executed = nbformat.read(result.run_dir / "replica.ipynb", as_version=4)
    assert executed.metadata["iwm_lab"]["replica"]["in_recovery"] is True


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IWM_")}
    env["IWM_DATA_DIR"] = str(settings.data_dir)
    return subprocess.run(
        [str(IWM_LAB), "db", "standby", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.heavy
@pytest.mark.slow
def test_drop_lists_what_it_deletes_and_asks(
    settings: Settings, primary: EmbeddedServer, standby: StandbyStatus
) -> None:
    with pytest.raises(DataLossRefused, match="nothing was deleted"):
        stop_standby(settings, drop=True)  # nobody to ask: nothing stopped or deleted
    done = _cli(settings, "stop", "--drop")  # no terminal, no --yes
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) > 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: dropping the standby")
    assert "pass --yes to confirm" in done.stderr
    asked: list[Listing] = []

    def refuse(listing: Listing) -> None:
        asked.append(listing)
        raise DataLossRefused("no")

    with pytest.raises(DataLossRefused):
        stop_standby(settings, drop=True, confirm=refuse)
    still = standby_status(settings)
    assert still.running and still.slot is not None
    [listing] = asked
    assert [line.split(" ")[1] for line in listing.lines] == ["standby's", "log", "replication"]
    assert str(still.pgdata) in listing.lines[0]

    status = _cli(settings, "status")
    assert status.returncode == 0, status.stderr
    assert (
        "in recovery, streaming" in status.stdout
        and "target_session_attrs=prefer-standby" in status.stdout
    )

    done = _cli(settings, "stop", "--drop", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "stopped"
    assert f"deleted replication slot {SLOT}" in done.stdout
    gone = standby_status(settings)
    assert not gone.exists and not gone.running and gone.slot is None
    assert not (settings.data_dir / "standby").exists()
    assert "not made yet" in _cli(settings, "status").stdout
