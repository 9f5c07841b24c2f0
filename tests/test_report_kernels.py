"""Warm kernels for run-due and serve (:mod:`iwm_lab.reports.kernels`), against real kernels
and a real PostgreSQL 16.

A warm kernel serves one run and is then shut down: the next run gets another one, with a
namespace as fresh as a cold kernel's and the run's environment. A pool's key follows the
environment the kernel would get. A kernel that dies while it waits is replaced; a run past
``timeout_s`` stops its warm kernel; closing the pool (or ending ``serve``) leaves no worker
and no kernel running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy.engine import URL

from iwm_lab.reports.due import DueOutcome, run_due
from iwm_lab.reports.kernels import KernelPool, WarmWorker, pool_key
from iwm_lab.reports.schedule import Schedule, load_schedule
from iwm_lab.reports.state import RunRecord, job_dir, read_state
from iwm_lab.settings import get_settings

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

IWM_LAB = Path(sys.executable).parent / "iwm-lab"
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
READY_WAIT_S = 180.0

PARAMETERS = """\
from typing import Optional

sleep_s: float = 0.0
pid_file: str = ""
as_of: Optional[str] = None
"""
# What a kernel left over from another run would show: the name set below, a history.
BODY = """\
import os
import time

import iwm_lab
from iwm_lab.reports import record

if pid_file:
    with open(pid_file, "w") as handle:
        handle.write(str(os.getpid()))
record("leftover", "left_by_a_run" in globals())
record("names", sorted(n for n in globals() if not n.startswith("_")))
record("history", len(In))  # noqa: F821 (IPython's input history)
record("environment", {k: os.environ.get(k) for k in ("IWM_STATEMENT_TIMEOUT", "PGOPTIONS",
    "PLOTLY_RENDERER", "IWM_POOL_TEST")})
record("cwd", os.getcwd())
conn = iwm_lab.connect()
record("answer", conn.exec_driver_sql("select 6 * 7").scalar_one())
left_by_a_run = True
time.sleep(sleep_s)
"""


def write_notebook(path: Path) -> Path:
    nb = new_notebook()
    nb.cells = [new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}), new_code_cell(BODY)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


class Lab:
    """A notebook, a schedule due every minute, and a clock: each call has one slot to run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.notebook = write_notebook(folder / "pooled.ipynb")
        self.path = folder / "schedule.toml"
        self.output = folder / "output"
        self.now = START

    def schedule(self, extra: str = "") -> Schedule:
        self.path.write_text(
            f'[reports.pooled]\nnotebook = "pooled.ipynb"\ncron = "* * * * *"\n{extra}\n'
        )
        return load_schedule(self.path, self.output)

    def run_due(self, schedule: Schedule, **options: Any) -> DueOutcome:
        self.now += timedelta(minutes=1)
        [outcome] = run_due(schedule, now=self.now, **options)
        return outcome

    def last_run(self, schedule: Schedule) -> RunRecord:
        [job] = schedule.jobs()
        return read_state(job_dir(schedule, job), job.key, job.label).runs[0]


@pytest.fixture
def lab(tmp_path: Path, db_url: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """A lab on the module's migrated database; workers and kernels inherit the URL."""
    monkeypatch.setenv("IWM_DATABASE_URL", db_url.render_as_string(hide_password=False))
    monkeypatch.setenv("IWM_POOL_TEST", "1")
    get_settings.cache_clear()
    yield Lab(tmp_path)
    get_settings.cache_clear()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:  # a zombie runs no code
            return handle.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def _gone(pids: list[int], within_s: float = 20.0) -> bool:
    deadline = time.monotonic() + within_s
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(_alive(pid) for pid in pids)


def _ready_worker(
    pool: KernelPool, schedule: Schedule, other_than: frozenset[int] = frozenset()
) -> WarmWorker:
    """The pool's worker for ``schedule``'s report once its kernel is warm (not one of
    ``other_than``). Asked for by its current key: the key follows the package's files, which
    may change while the tests run."""
    [job] = schedule.jobs()
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        key = pool_key(job.report.notebook, get_settings().statement_timeout_ms)
        pool.expect([key])
        for worker in pool.idle():
            fits = worker.key == key and worker.pid not in other_than
            if fits and worker.ready.wait(0.2) and worker.kernel_pid:
                return worker
        time.sleep(0.1)
    raise AssertionError("no warm worker became ready")


def _counts(lab: Lab, run: RunRecord) -> list[int | None]:
    """The execution counts of a run's executed notebook."""
    executed = nbformat.read(lab.output / "pooled" / run.run_id / "pooled.ipynb", as_version=4)
    return [c.execution_count for c in executed.cells if c.cell_type == "code"]


def _records(run: RunRecord) -> dict[str, Any]:
    return {k: v for k, v in run.records.items() if k != "as_of"}


def test_pool_keys_follow_the_kernels_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = tmp_path / "a.ipynb"
    key = pool_key(notebook, 60_000)
    assert pool_key(notebook, 60_000) == key
    assert pool_key(notebook, 300_000) != key  # another statement timeout
    assert pool_key(tmp_path / "sub" / "a.ipynb", 60_000) != key  # another working folder
    monkeypatch.setenv("IWM_DATABASE_URL", "postgresql+psycopg://analyst@127.0.0.1:1/other")
    changed = pool_key(notebook, 60_000)
    assert changed != key and changed.code == key.code
    assert "127.0.0.1" not in repr(changed)  # the environment is kept as a digest only


@pytest.mark.heavy
def test_each_warm_kernel_serves_one_run_as_a_cold_one_would(lab: Lab, tmp_path: Path) -> None:
    pid_file = tmp_path / "kernel.pid"
    schedule = lab.schedule(f'parameters = {{ pid_file = "{pid_file}" }}')
    cold = lab.run_due(schedule, pool=0)
    assert cold.status == "success", cold.message
    cold_run = lab.last_run(schedule)
    assert cold_run.timings["warm_kernel"] == 0.0
    kernels = [int(pid_file.read_text())]
    workers: list[int] = []
    with KernelPool(1, keep=True) as pool:
        lab.run_due(schedule, pool=pool)  # the pool learns which kernel this report needs
        kernels.append(int(pid_file.read_text()))
        for _ in range(2):
            worker = _ready_worker(pool, schedule, frozenset(workers))
            workers.append(worker.pid)
            outcome = lab.run_due(schedule, pool=pool)
            assert outcome.status == "success", outcome.message
            run = lab.last_run(schedule)
            assert run.timings["warm_kernel"] == 1.0
            kernels.append(int(pid_file.read_text()))
            assert kernels[-1] == worker.kernel_pid
            # A fresh namespace, the run's environment and folder: what the cold run saw.
            assert _records(run) == _records(cold_run)
            assert run.records["leftover"] is False
            assert run.records["environment"]["IWM_STATEMENT_TIMEOUT"] == str(
                get_settings().statement_timeout_ms
            )
            assert run.records["cwd"] == str(lab.folder)
            assert _counts(lab, run) == _counts(lab, cold_run)
        waiting = [(w.pid, w.kernel_pid) for w in pool.idle()]
    assert len(set(kernels)) == len(kernels), "a kernel served two runs"
    leftover = workers + kernels + [pid for pair in waiting for pid in pair if pid]
    assert _gone(leftover), "a worker or kernel outlived the pool"


@pytest.mark.heavy
def test_a_kernel_that_dies_in_the_pool_is_replaced(lab: Lab) -> None:
    schedule = lab.schedule()
    with KernelPool(1, keep=True) as pool:
        first = _ready_worker(pool, schedule)
        assert first.kernel_pid is not None
        os.kill(first.kernel_pid, signal.SIGKILL)
        second = _ready_worker(pool, schedule, frozenset({first.pid}))
        assert _gone([first.pid, first.kernel_pid])
        assert second.kernel_pid != first.kernel_pid
        outcome = lab.run_due(schedule, pool=pool)
        assert outcome.status == "success", outcome.message
        assert lab.last_run(schedule).timings["warm_kernel"] == 1.0
    assert _gone([second.pid, second.kernel_pid or second.pid])


@pytest.mark.heavy
def test_a_warm_run_past_its_timeout_stops_its_kernel(lab: Lab, tmp_path: Path) -> None:
    pid_file = tmp_path / "kernel.pid"
    schedule = lab.schedule(f'timeout_s = 5\nparameters = {{ pid_file = "{pid_file}" }}')
    with KernelPool(1, keep=True) as pool:
        worker = _ready_worker(pool, schedule)
        slow = lab.schedule(
            f'timeout_s = 5\nparameters = {{ pid_file = "{pid_file}", sleep_s = 120.0 }}'
        )
        began = time.perf_counter()
        outcome = lab.run_due(slow, pool=pool)
        assert outcome.status == "timed_out", outcome.message
        assert time.perf_counter() - began < 60
        assert lab.last_run(slow).timings["warm_kernel"] == 1.0
        assert int(pid_file.read_text()) == worker.kernel_pid
        assert _gone([worker.kernel_pid or 0, worker.pid]), "the timed-out kernel still runs"


def test_sigterm_stops_a_warm_run_and_its_kernel(lab: Lab, tmp_path: Path) -> None:
    pid_file = tmp_path / "kernel.pid"
    schedule = lab.schedule(f'parameters = {{ pid_file = "{pid_file}", sleep_s = 120.0 }}')
    with KernelPool(1, keep=True) as pool:
        worker = _ready_worker(pool, schedule)

        def stop_when_running() -> None:
            deadline = time.monotonic() + READY_WAIT_S
            while not pid_file.is_file() and time.monotonic() < deadline:
                time.sleep(0.1)
            os.kill(worker.pid, signal.SIGTERM)  # as run-due passes its own SIGTERM on

        threading.Thread(target=stop_when_running, daemon=True).start()
        began = time.perf_counter()
        outcome = lab.run_due(schedule, pool=pool)
        assert time.perf_counter() - began < 60
        assert outcome.status == "interrupted", outcome.message
        run = lab.last_run(schedule)
        assert run.error == "interrupted by SIGTERM" and run.timings["warm_kernel"] == 1.0
        assert int(pid_file.read_text()) == worker.kernel_pid
        assert _gone([worker.kernel_pid or 0, worker.pid]), "the interrupted kernel still runs"


def _marked(mark: str) -> list[int]:
    """Processes whose environment carries ``mark`` (workers and kernels inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"IWM_POOL_MARK={mark}".encode() in environ.split(b"\0") and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.mark.heavy
def test_serve_keeps_a_kernel_warm_and_leaves_nothing_running_on_sigterm(
    lab: Lab, db_url: URL
) -> None:
    lab.schedule()
    mark = uuid.uuid4().hex
    env = dict(os.environ, IWM_POOL_MARK=mark)
    env["IWM_DATABASE_URL"] = db_url.render_as_string(hide_password=False)
    argv = [str(IWM_LAB), "report", "--schedule", str(lab.path), "--output", str(lab.output)]
    serve = subprocess.Popen(
        [*argv, "serve", "--every", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        state = lab.output / "pooled" / "state.json"
        deadline = time.monotonic() + READY_WAIT_S
        # The first run, then a warm worker and its kernel for the next round.
        while time.monotonic() < deadline and not (state.is_file() and len(_marked(mark)) >= 3):
            assert serve.poll() is None, serve.communicate()
            time.sleep(0.2)
        running = _marked(mark)
        assert len(running) >= 3, running  # serve, a warm worker, its kernel
        assert json.loads(state.read_text())["runs"][0]["status"] == "success"
        serve.send_signal(signal.SIGTERM)
        _out, err = serve.communicate(timeout=120)
        assert serve.returncode == 0, err
        assert _gone(running), f"still running: {_marked(mark)}"
    finally:
        if serve.poll() is None:
            serve.kill()
