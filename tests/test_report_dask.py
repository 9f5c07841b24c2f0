"""run-due on Dask: a LocalCluster of two worker processes on 127.0.0.1, real kernels, a real
PostgreSQL 16.

A fan-out of four parts and a failing fifth gets the same statuses on Dask as with the local
executor, on both workers, published by the coordinator from the files the workers send
back; two run-due started at once publish each slot once; a worker killed while its task
runs is replaced, the task re-run elsewhere, the slot published once, and the killed run's
kernel and temporary folder do not outlive it. Executor names are checked before anything
runs.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy.engine import URL

from iwm_lab.exceptions import ReportError
from iwm_lab.reports.due import DueOutcome, run_due
from iwm_lab.reports.executors import open_executor, parse_executor
from iwm_lab.reports.schedule import Schedule, load_schedule
from iwm_lab.reports.serve import serve
from iwm_lab.reports.state import JobState, RunRecord, job_dir, read_state, write_state
from iwm_lab.settings import get_settings
from tests.sinks import closed_port

SLOT = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
PARTS = ("a", "b", "c", "d", "bad")
PARAMETERS = """\
from typing import Optional

part: str = "a"
sleep_s: float = 0.0
marker: str = ""
as_of: Optional[str] = None
"""
BODY = """\
import os
import time

import plotly.graph_objects as go

import iwm_lab
from iwm_lab.reports import record

conn = iwm_lab.connect()
record("as_of", as_of)
record("part", part)
if marker:
    first = not os.path.exists(marker)
    with open(marker, "a") as handle:
        handle.write(f"{os.getpid()}\\n")
    if first:  # the first attempt waits, to be killed; the re-run goes straight on
        time.sleep(sleep_s)
if part == "bad":
    raise RuntimeError("boom: failed on purpose")
go.Figure(go.Bar(x=[part], y=[1]))
"""
EXPECTED = {f"fan[part={p}]": "failed" if p == "bad" else "success" for p in PARTS}


class Lab:
    """The notebook, and schedules on it writing to output folders of their own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        nb = new_notebook()
        nb.cells = [
            new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
            new_code_cell(BODY),
        ]
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbformat.write(nb, folder / "dask.ipynb")

    def schedule(
        self, output: str, report: str | None = None, parts: tuple[str, ...] = PARTS
    ) -> Schedule:
        path = self.folder / f"{output}.toml"
        body = (
            report
            if report is not None
            else f"for_each = {{ part = {list(parts)} }}\n".replace("'", '"')
        )
        path.write_text(f'[reports.fan]\nnotebook = "dask.ipynb"\ncron = "* * * * *"\n{body}')
        return load_schedule(path, self.folder / output)


def runs(schedule: Schedule) -> dict[str, list[RunRecord]]:
    return {
        job.label: read_state(job_dir(schedule, job), job.key, job.label).runs
        for job in schedule.jobs()
    }


@pytest.fixture(scope="module")
def lab(db_url: URL, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The module's database in this process's environment, which the cluster's workers,
    started after it, inherit (and with them the runs' kernels)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IWM_DATABASE_URL", db_url.render_as_string(hide_password=False))
        patch.delenv("IWM_PRIMARY_URL", raising=False)
        get_settings.cache_clear()
        yield Lab(tmp_path_factory.mktemp("dask"))
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def cluster(lab: Lab) -> Iterator[str]:
    """A Dask scheduler and two single-threaded worker processes on 127.0.0.1; its address
    as run-due takes it."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as local:
        address = local.scheduler_address.replace("tcp://", "dask://")
        yield address


def statuses(outcomes: list[DueOutcome]) -> dict[str, str]:
    return {o.job.label: o.status for o in outcomes}


# --- executor names ---------------------------------------------------------------------------


def test_executor_names_are_checked_before_anything_runs(tmp_path: Path) -> None:
    assert parse_executor("local") == "local"
    assert parse_executor("dask://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    assert parse_executor("dask://[::1]:8786") == "tcp://[::1]:8786"
    assert parse_executor("dask://scheduler.internal:8786/") == "tcp://scheduler.internal:8786"
    for wrong in (
        "",
        "Local",
        "dask",
        "dask://",
        "dask://host",
        "dask://host:99999",
        "tcp://127.0.0.1:8786",
        "dask://user@host:1",
        "dask://host:1/path",
        "x" * 500,
    ):
        with pytest.raises(ReportError) as caught:
            parse_executor(wrong)
        message = str(caught.value)
        assert "\n" not in message and "use local or dask://HOST:PORT" in message
        assert len(message) < 300
    lab = Lab(tmp_path)
    schedule = lab.schedule("never")
    with pytest.raises(ReportError, match="unknown executor 'dask:/x'"):
        run_due(schedule, executor="dask:/x")
    assert not (tmp_path / "never").exists()  # nothing ran, nothing was written
    with pytest.raises(ReportError, match="unknown executor"):
        serve(lambda: schedule, executor="spark://h:1", rounds=1)


def test_an_unreachable_scheduler_is_one_line_and_only_asked_when_something_is_due(
    tmp_path: Path,
) -> None:
    address = f"dask://127.0.0.1:{closed_port()}"
    began = time.perf_counter()
    with pytest.raises(ReportError) as caught, open_executor(address, connect_timeout_s=1):
        pass
    assert time.perf_counter() - began < 30
    message = str(caught.value)
    assert message.startswith("cannot reach the Dask scheduler at tcp://127.0.0.1:")
    assert "\n" not in message
    # Nothing due: the scheduler is not even asked.
    schedule = Lab(tmp_path).schedule("idle", report="")
    [job] = schedule.jobs()
    later = (SLOT + timedelta(days=1)).isoformat()
    write_state(job_dir(schedule, job), JobState(job.key, job.label, last_slot=later))
    assert run_due(schedule, now=SLOT, executor=address) == []


# --- runs on the cluster ------------------------------------------------------------------------


@pytest.mark.heavy
@pytest.mark.kernel
@pytest.mark.slow
def test_a_fan_out_on_dask_gets_the_local_executors_statuses_on_two_workers(
    lab: Lab, cluster: str
) -> None:
    local = lab.schedule("local")
    began = time.perf_counter()
    assert statuses(run_due(local, now=SLOT, jobs=2)) == EXPECTED
    local_s = time.perf_counter() - began
    on_dask = lab.schedule("on-dask")
    began = time.perf_counter()
    outcomes = run_due(on_dask, now=SLOT, executor=cluster)
    dask_s = time.perf_counter() - began
    print(f"5 jobs: local --jobs 2 {local_s:.1f} s, Dask (2 workers) {dask_s:.1f} s")
    assert statuses(outcomes) == EXPECTED, [o.message for o in outcomes]

    found = runs(on_dask)
    assert all(len(records) == 1 for records in found.values()), found
    where = {records[0].ran_on or "" for records in found.values()}
    assert all(w.startswith("dask worker tcp://127.0.0.1:") for w in where), where
    assert len(where) >= 2, f"all runs on one worker: {where}"
    assert all((r[0].ran_on or "").startswith("worker process ") for r in runs(local).values())

    # Published here from what the workers sent: pages, notebooks, plotly.js once.
    for outcome in outcomes:
        [record] = found[outcome.job.label]
        run_dir = job_dir(on_dask, outcome.job) / record.run_id
        on_disk = sorted(p.name for p in run_dir.iterdir() if p.is_file())
        assert sorted([*record.files, "run.json"]) == on_disk
        assert (
            record.slot == SLOT.isoformat() and record.parameters["as_of"] == "2026-01-05T06:00:00"
        )
        html = run_dir / f"{outcome.job.file_stem}.html"
        assert html.is_file() and outcome.html == str(html)
        if outcome.status == "success":
            [src] = re.findall(r'<script src="([^"]+plotly[^"]+)"', html.read_text())
            assert (html.parent / src).resolve().is_file(), src
            latest = job_dir(on_dask, outcome.job) / "latest"
            assert os.readlink(latest) == record.run_id
        else:
            assert "RuntimeError: boom" in (record.error or "")
            assert not (job_dir(on_dask, outcome.job) / "latest").exists()
    [asset] = (on_dask.output_dir / "_static").iterdir()
    assert asset.name.startswith("plotly-") and asset.stat().st_size > 1_000_000
    # Nothing due any more, on either executor.
    assert run_due(on_dask, now=SLOT, executor=cluster) == []
    assert run_due(on_dask, now=SLOT) == []


@pytest.mark.heavy
@pytest.mark.kernel
@pytest.mark.slow
def test_two_run_due_at_once_publish_each_slot_once(lab: Lab, cluster: str) -> None:
    parts = ("a", "b", "bad")
    expected = {f"fan[part={p}]": EXPECTED[f"fan[part={p}]"] for p in parts}
    schedule = lab.schedule("twice", parts=parts)
    start = threading.Barrier(2)
    results: dict[str, list[DueOutcome]] = {}

    def coordinator(name: str, executor: str) -> None:
        start.wait()
        results[name] = run_due(
            load_schedule(schedule.path, schedule.output_dir), now=SLOT, jobs=3, executor=executor
        )

    threads = [
        threading.Thread(target=coordinator, args=("dask", cluster)),
        threading.Thread(target=coordinator, args=("other dask", cluster)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert set(results) == {"dask", "other dask"} and len(expected) == 3
    for label, status in expected.items():
        got = [o.status for name in results for o in results[name] if o.job.label == label]
        # One coordinator ran it; the other found it locked, or already run for its slot.
        assert sorted(got) in (sorted([status, "busy"]), sorted([status, "skipped"])), got
    found = runs(schedule)
    assert {label: [r.status for r in records] for label, records in found.items()} == {
        label: [status] for label, status in expected.items()
    }
    for job in schedule.jobs():
        folders = [p for p in job_dir(schedule, job).iterdir() if re.match(r"\d{8}T", p.name)]
        assert len(folders) == 1


@pytest.mark.kernel
@pytest.mark.slow
def test_a_worker_killed_mid_run_is_replaced_and_the_slot_published_once(
    lab: Lab, cluster: str, tmp_path: Path
) -> None:
    from distributed import Client

    marker = tmp_path / "attempts.txt"
    schedule = lab.schedule(
        "killed", report=f'parameters = {{ sleep_s = 300.0, marker = "{marker}" }}\n'
    )
    result: list[DueOutcome] = []
    runner = threading.Thread(
        target=lambda: result.extend(run_due(schedule, now=SLOT, executor=cluster))
    )
    runner.start()
    with Client(cluster.replace("dask://", "tcp://"), set_as_default=False) as client:
        workers: dict[str, int] = client.run(os.getpid)
        deadline = time.monotonic() + 180
        while not marker.is_file() and time.monotonic() < deadline:
            assert runner.is_alive(), result
            time.sleep(0.2)
        assert marker.is_file(), "the first attempt did not start"
        first_kernel = int(marker.read_text().split()[0])
        # kernel -> its run's process (python -m iwm_lab.reports.worker) -> the Dask worker
        run_process = psutil.Process(first_kernel).parent()
        assert run_process is not None and "iwm_lab.reports.worker" in run_process.cmdline()
        scratch = Path(run_process.cmdline()[run_process.cmdline().index("--into") + 1])
        worker = run_process.parent()
        assert worker is not None and worker.pid in workers.values()
        os.kill(worker.pid, signal.SIGKILL)
        runner.join(timeout=300)
        assert not runner.is_alive()
        client.wait_for_workers(2, timeout=60)  # the nanny started a new one

    [outcome] = result
    assert outcome.status == "success", outcome.message
    [record] = runs(schedule)["fan"]
    assert record.status == "success" and f"(pid {worker.pid})" not in (record.ran_on or "")
    assert len(marker.read_text().split()) == 2  # two attempts, one publication
    [job] = schedule.jobs()
    assert [p.name for p in job_dir(schedule, job).iterdir() if p.name[:1].isdigit()] == [
        record.run_id
    ]
    # The killed attempt's process saw its parent go: it stopped its kernel and cleaned up.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        _alive(first_kernel) or _alive(run_process.pid) or scratch.exists()
    ):
        time.sleep(0.2)
    assert not _alive(first_kernel), "the killed run's kernel still runs"
    assert not _alive(run_process.pid) and not scratch.exists()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
