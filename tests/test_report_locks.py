"""The job lock of report runs: a PostgreSQL advisory lock per job, on the analyst's session.

A second holder is refused (naming the first), the lock goes with its session (released,
closed, or the process killed), keys differ by report and fan-out part and are the same in
every process, the session is the analyst's read-only one on the primary, and a slot that
was published meanwhile is not published again. No kernel starts here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from iwm_lab.database import get_engine
from iwm_lab.exceptions import DatabaseUnavailable, ReportBusy
from iwm_lab.reports.due import run_due
from iwm_lab.reports.locks import lock_key, lock_url, take_job_lock
from iwm_lab.reports.prepare import prepare_job
from iwm_lab.reports.publish import finish
from iwm_lab.reports.redaction import Redactor
from iwm_lab.reports.runner import new_record, run_report
from iwm_lab.reports.schedule import Schedule, load_schedule
from iwm_lab.reports.state import JobState, job_dir, read_state, write_state
from iwm_lab.roles import ANALYST_ROLE
from iwm_lab.settings import get_settings
from tests.sinks import closed_port

PASSWORD = "KnownSecret123"


@pytest.fixture
def on_db(db_url: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[URL]:
    """This process (and what it starts) on the module's database."""
    monkeypatch.setenv("IWM_DATABASE_URL", db_url.render_as_string(hide_password=False))
    monkeypatch.delenv("IWM_PRIMARY_URL", raising=False)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


def use_url(monkeypatch: pytest.MonkeyPatch, url: str, primary: str | None = None) -> None:
    monkeypatch.setenv("IWM_DATABASE_URL", url)
    if primary is None:
        monkeypatch.delenv("IWM_PRIMARY_URL", raising=False)
    else:
        monkeypatch.setenv("IWM_PRIMARY_URL", primary)
    get_settings.cache_clear()


@pytest.fixture
def schedule(tmp_path: Path) -> Schedule:
    """A report due every minute, on a notebook that would fail loudly if it ever ran here."""
    nb = new_notebook()
    nb.cells = [
        new_code_cell(
            "from typing import Optional\n\nas_of: Optional[str] = None\n",
            metadata={"tags": ["parameters"]},
        ),
        new_code_cell('raise RuntimeError("no kernel should run in these tests")'),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / "locked.ipynb")
    path = tmp_path / "schedule.toml"
    path.write_text('[reports.locked]\nnotebook = "locked.ipynb"\ncron = "* * * * *"\n')
    return load_schedule(path, tmp_path / "output")


def test_keys_differ_by_report_and_part_and_are_the_same_in_every_process() -> None:
    keys = ["ratings", "overview", "streaming_coverage/region-US", "streaming_coverage/region-IN"]
    values = [lock_key(k) for k in keys]
    assert len(set(values)) == len(values)
    assert all(-(2**63) <= v < 2**63 for v in values)
    # Not Python's hash(), which differs per process: another interpreter agrees.
    key = "streaming_coverage/region-US"
    code = f"from iwm_lab.reports.locks import lock_key; print(lock_key({key!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout) == lock_key(key)


def test_a_second_holder_is_refused_until_the_first_releases(on_db: URL) -> None:
    first = take_job_lock("locked", "locked")
    try:
        assert first.held()
        with pytest.raises(ReportBusy, match=r"report locked is already running \(iwm-lab locked "):
            take_job_lock("locked", "locked")
        # Another job, or another part of the same report, is another key.
        with (
            take_job_lock("parts/region-US", "parts[region=US]") as us,
            take_job_lock("parts/region-IN", "parts[region=IN]") as india,
        ):
            assert us.held() and india.held() and first.held()
    finally:
        first.release()
    assert not first.held()
    with take_job_lock("locked", "locked") as again:
        assert again.held()


def test_the_lock_is_the_analysts_read_only_session_on_the_primary(on_db: URL) -> None:
    admin = get_engine(on_db, writable=True, poolclass=NullPool)
    try:
        with take_job_lock("locked", "locked"), admin.connect() as conn:
            holders = conn.execute(
                text(
                    "select a.usename, a.application_name from pg_locks l "
                    "join pg_stat_activity a on a.pid = l.pid "
                    "where l.locktype = 'advisory' and l.granted"
                )
            ).all()
        assert [(user, name.split(" ")[:2]) for user, name in holders] == [
            (ANALYST_ROLE, ["iwm-lab", "locked"])
        ]
    finally:
        admin.dispose()
    # A session opened as the lock's is: read-only, yet it takes advisory locks.
    engine = get_engine(lock_url("probe"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("show transaction_read_only")).scalar_one() == "on"
            assert conn.execute(text("select pg_try_advisory_lock(1)")).scalar_one() is True
    finally:
        engine.dispose()


def test_the_lock_goes_with_its_session_when_the_process_is_killed(on_db: URL) -> None:
    code = (
        "import time\nfrom iwm_lab.reports.locks import take_job_lock\n"
        "lock = take_job_lock('locked', 'locked')\nprint('held', flush=True)\ntime.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ReportBusy, match=f"pid {holder.pid}"):
            take_job_lock("locked", "locked")
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    # The server ends the session when its client's socket closes: nothing to clean up.
    deadline = time.monotonic() + 10
    while True:
        try:
            take_job_lock("locked", "locked").release()
            break
        except ReportBusy:
            assert time.monotonic() < deadline, "the dead process still holds the lock"
            time.sleep(0.1)


def test_no_lock_without_the_database_and_no_password_in_the_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"postgresql+psycopg://analyst:{PASSWORD}@127.0.0.1:{closed_port()}/iwm"
    use_url(monkeypatch, url)
    with pytest.raises(DatabaseUnavailable, match="cannot connect to ") as caught:
        take_job_lock("locked", "locked")
    assert PASSWORD not in str(caught.value)
    get_settings.cache_clear()


def test_locks_are_taken_on_the_primary_of_a_multi_host_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    many = "postgresql+psycopg://analyst@/iwm?host=a.internal,b.internal&port=5432,5432"
    use_url(monkeypatch, f"{many}&target_session_attrs=prefer-standby")
    url = lock_url("iwm-lab locked")
    assert url.query["target_session_attrs"] == "primary"
    assert url.query["application_name"] == "iwm-lab locked"
    use_url(monkeypatch, many)  # several hosts, no attribute: any of them may answer
    assert lock_url().query["target_session_attrs"] == "primary"
    use_url(monkeypatch, "postgresql+psycopg://analyst@db.internal/iwm")
    assert "target_session_attrs" not in lock_url().query  # one server: that one
    use_url(
        monkeypatch,
        f"{many}&target_session_attrs=prefer-standby",
        primary="postgresql+psycopg://analyst@a.internal/iwm",
    )
    assert lock_url().host == "a.internal"
    get_settings.cache_clear()


def test_a_manual_run_and_a_scheduled_run_of_one_job_exclude_each_other(
    on_db: URL, schedule: Schedule
) -> None:
    with take_job_lock("locked", "locked"):  # as a run-due elsewhere would hold it
        with pytest.raises(ReportBusy, match="report locked is already running"):
            run_report(schedule, "locked", progress_bar=False)
        [outcome] = run_due(schedule, executor="local")
    assert outcome.status == "busy", outcome
    assert "already running (iwm-lab locked " in outcome.message
    [job] = schedule.jobs()
    assert read_state(job_dir(schedule, job), job.key, job.label).runs == []


def test_a_slot_published_meanwhile_is_not_published_again(on_db: URL, schedule: Schedule) -> None:
    """The lock went with its session (a server restart) and another run-due ran the slot:
    the first one's result is dropped, not published a second time."""
    [job] = schedule.jobs()
    directory = job_dir(schedule, job)
    slot = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    write_state(directory, JobState(job.key, job.label, last_slot=slot.isoformat()))
    staging = directory / ".staging" / "run"
    staging.mkdir(parents=True)
    (staging / "locked.ipynb").write_text("{}")
    record = new_record(prepare_job(job), "schedule", slot)
    said: list[str] = []
    result = finish(schedule, job, record, staging, Redactor(), said.append)
    assert result.record.status == "skipped" and result.run_dir is None
    assert "published by another run-due" in (result.record.note or "")
    assert read_state(directory, job.key, job.label).runs == []
    assert sorted(p.name for p in directory.iterdir()) == [".lock", "state.json"]
