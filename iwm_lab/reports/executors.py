"""Where ``run-due`` executes due jobs: worker processes on this host, or Dask workers.

``executor="local"`` (the default) or ``"dask://HOST:PORT"``, the address of a Dask
distributed scheduler (``dask scheduler``; workers started with ``dask worker
tcp://HOST:PORT``). Either way a due job goes the same way:

1. the coordinating ``run-due`` takes the job's advisory lock (:mod:`.locks`), reads its
   state and builds a :class:`Task`: the checked job, its record so far, its history, and
   the notebook's bytes;
2. :func:`execute_task` runs where the executor runs it: in a coordinator thread (local) or
   on a Dask worker. It starts ``python -m iwm_lab.reports.worker`` on the task, which
   executes the notebook and writes its page into a temporary folder, and returns the run's
   files (bytes) and record: an :class:`Executed`;
3. the coordinator publishes them (:func:`.publish.publish_files`) and releases the lock.

So a worker needs the project installed (the same version as the coordinator: the task is
pickled) and the database URL in its environment (``IWM_DATABASE_URL``, which its kernels
inherit), but not the output folder, nor the schedule file or notebooks at the same paths
(the notebook travels with the task; a worker whose copy differs runs the coordinator's).

The run gets a process of its own on the worker so that it has a main thread
(``timeout_s`` is a SIGALRM, see :mod:`.signals`), its kernel is its own, and stopping it is
a signal to that one process, which stops its kernel cleanly. That process watches its
stdin, a pipe from the process that started it: when that process dies (a Dask worker
killed, a coordinator gone), it stops its kernel and removes its temporary folder, so a run
nobody waits for does not go on. Dask re-runs a task whose worker died on another worker;
the coordinator still waits for one result and publishes it once. ``stop()`` (Ctrl-C,
SIGTERM of ``run-due``) asks every running task to stop its run, which is then published
as interrupted.

Locally the temporary folder is in the job's ``.staging`` (a run in progress shows there, as
it always has); on a Dask worker it is the worker's temporary folder.

Locally, a run may instead be handed to a worker process started ahead, with its kernel
warm (:mod:`.kernels`: ``run-due``'s later due reports, ``serve`` after a report's first
round): the same process, told its task on stdin rather than on its command line. A Dask
worker always starts the run's process and kernel cold.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from iwm_lab.exceptions import ExecutorError
from iwm_lab.reports.kernels import KernelPool, WarmWorker, pool_key
from iwm_lab.reports.state import STAGING, RunRecord

if TYPE_CHECKING:
    from iwm_lab.reports.runner import RunRequest

LOCAL = "local"
DASK = "dask"
WORKER = "iwm_lab.reports.worker"  # the same module as kernels.WORKER
TASK_FILE = "task.pickle"
RESULT_FILE = "result.out"
RUN_DIR = "run"  # the run's own files, in the temporary folder
ROOT_DIR = "root"  # stands in for the output folder: _static/ (plotly.js)
DASK_CONNECT_TIMEOUT_S = 10.0
STOP_POLL_S = 0.5


@dataclass(frozen=True)
class Task:
    """One due job, as sent to where it is executed."""

    request: RunRequest
    notebook: bytes  # the coordinator's notebook, run when the worker's copy differs
    known_static: frozenset[str] = frozenset()  # assets the output folder has already


@dataclass
class Executed:
    """What came back from a task: the run's record and files, or why there is no run."""

    record: RunRecord | None
    files: dict[str, bytes] = field(default_factory=dict)
    ran_on: str = ""
    # When record is None: "error" (could not start, was killed...) or "interrupted", and why.
    status: str = "error"
    message: str = ""


class StopFlag(Protocol):
    """A ``threading.Event`` locally, a ``distributed.Event`` on Dask."""

    def is_set(self) -> bool: ...


class Executor(Protocol):
    """Runs tasks for ``run-due`` (:class:`LocalExecutor`, :class:`DaskExecutor`)."""

    name: str

    @property
    def default_jobs(self) -> int: ...

    def expect(self, tasks: list[tuple[Path, int]]) -> None:
        """Runs of these notebooks, with these statement timeouts, are coming (a hint)."""
        ...

    def run(self, task: Task, job_dir: Path) -> Executed:
        """Execute ``task`` and wait for it (called from a coordinator thread per job)."""
        ...

    def stop(self) -> None:
        """Ask every running task to stop its run; tasks not started yet do not start."""
        ...


def parse_executor(spec: str) -> str:
    """``"local"``, or the Dask scheduler's address (``tcp://HOST:PORT``) of
    ``dask://HOST:PORT``; anything else is a :class:`~iwm_lab.exceptions.ReportError`."""
    if spec == LOCAL:
        return LOCAL
    problem = f"unknown executor {spec[:200]!r}: use local or dask://HOST:PORT (a Dask scheduler)"
    try:
        parts = urllib.parse.urlsplit(spec)
        port = parts.port
    except ValueError:
        raise ExecutorError(problem) from None
    extra = parts.path not in ("", "/") or parts.query or parts.fragment or parts.username
    if parts.scheme != DASK or not parts.hostname or port is None or extra:
        raise ExecutorError(problem)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"tcp://{host}:{port}"


class LocalExecutor:
    """Worker processes on this host, one per running job (``run-due --jobs N``), warm ones
    from ``pool`` when it has one for the run (:mod:`.kernels`)."""

    name = LOCAL
    default_jobs = 1

    def __init__(self, pool: KernelPool | None = None) -> None:
        self._stop = threading.Event()
        self.pool = pool

    def expect(self, tasks: list[tuple[Path, int]]) -> None:
        """Runs of these notebooks (with these statement timeouts) are coming: warm up."""
        if self.pool is not None:
            self.pool.expect([pool_key(notebook, timeout) for notebook, timeout in tasks])

    def run(self, task: Task, job_dir: Path) -> Executed:
        if self.pool is None:
            return execute_task(task, str(job_dir / STAGING), self._stop)
        from iwm_lab.reports.runner import statement_timeout_of

        spec = task.request.prepared.job.report
        warm = self.pool.take(pool_key(spec.notebook, statement_timeout_of(spec)))
        try:
            return execute_task(task, str(job_dir / STAGING), self._stop, warm)
        finally:
            self.pool.finished(warm)

    def stop(self) -> None:
        self._stop.set()


class DaskExecutor:
    """Tasks on the workers of a Dask distributed scheduler."""

    def __init__(self, address: str, connect_timeout_s: float = DASK_CONNECT_TIMEOUT_S) -> None:
        # Imported here, and as Any: distributed has no type annotations to check against.
        distributed: Any = importlib.import_module("distributed")

        self.name = f"dask scheduler {address}"
        try:
            self._client: Any = distributed.Client(
                address, timeout=connect_timeout_s, set_as_default=False
            )
        except Exception as exc:  # OSError, TimeoutError, a version mismatch...
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {reason}") from None
        self._stop: Any = distributed.Event(f"iwm-lab-stop-{uuid.uuid4().hex}", client=self._client)

    @property
    def default_jobs(self) -> int:
        """The cluster's worker threads now: every one of them can run a job."""
        threads: dict[str, int] = self._client.nthreads()
        return max(1, sum(threads.values()))

    def expect(self, tasks: list[tuple[Path, int]]) -> None:
        """Nothing to warm: each Dask task starts its worker process and kernel."""

    def run(self, task: Task, job_dir: Path) -> Executed:
        future: Any = self._client.submit(
            execute_task,
            task,
            None,
            self._stop,
            key=f"iwm-lab-{task.request.prepared.job.key}-{task.request.record.run_id}",
            pure=False,
        )
        try:
            result = future.result()
        except Exception as exc:  # KilledWorker (died too often), the scheduler gone, ...
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return Executed(None, ran_on=self.name, message=f"{type(exc).__name__}: {message}")
        finally:
            future.release()
        if not isinstance(result, Executed):
            return Executed(None, ran_on=self.name, message="the Dask task returned no run")
        return result

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._stop.is_set():
                self._stop.clear()
        self._client.close()


@contextlib.contextmanager
def open_executor(
    spec: str,
    *,
    connect_timeout_s: float = DASK_CONNECT_TIMEOUT_S,
    pool: KernelPool | None = None,
) -> Iterator[LocalExecutor | DaskExecutor]:
    """The executor ``spec`` names (:func:`parse_executor`), connected, closed afterwards.
    ``pool`` (warm workers, :mod:`.kernels`) serves the local executor only: a Dask worker
    starts each run's process and kernel cold."""
    address = parse_executor(spec)
    if address == LOCAL:
        yield LocalExecutor(pool)
        return
    executor = DaskExecutor(address, connect_timeout_s)
    try:
        yield executor
    finally:
        executor.close()


def execute_task(
    task: Task, scratch_parent: str | None, stop: StopFlag, warm: WarmWorker | None = None
) -> Executed:
    """Run ``task`` in a worker process in a temporary folder below ``scratch_parent`` (the
    system's when None) and return what it made; the folder is removed afterwards.

    ``warm`` is a worker started ahead (:mod:`.kernels`), which is handed the task; without
    it (or when it has exited) a worker process starts now. A warm worker is waited for until
    it answers, not until it exits (it then shuts its kernel down): whoever gave it reaps it
    (:meth:`.kernels.KernelPool.finished`).
    """
    began = time.perf_counter()
    if stop.is_set():
        if warm is not None:
            warm.stop()
        return Executed(None, ran_on=_where(), status="interrupted", message="not started")
    if scratch_parent is not None:
        Path(scratch_parent).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="iwm-run-", dir=scratch_parent))
    try:
        (scratch / TASK_FILE).write_bytes(pickle.dumps(task))
        if warm is not None and _handed(warm, scratch):
            proc = warm.proc
            warm.wait_answer(stop, STOP_POLL_S)
            output = warm.output()
        else:
            argv = [sys.executable, "-m", WORKER, "--task", str(scratch / TASK_FILE)]
            argv += ["--into", str(scratch), "--watch-stdin"]
            with open(scratch / RESULT_FILE, "w+", encoding="utf-8") as out:
                # stdout carries the worker's JSON result; its stderr (progress) is ours.
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out)
                _wait_closed(proc, stop)
                out.seek(0)
                output = out.read()
        where = _where(proc.pid)
        result = _last_json(output)
        if result is None or result.get("status") in ("ready", "dead"):
            message = f"worker exited with status {proc.returncode}"
            return Executed(None, ran_on=where, message=message)
        if result.get("record") is None:
            status = "interrupted" if result.get("status") == "interrupted" else "error"
            return Executed(None, ran_on=where, status=status, message=str(result.get("message")))
        record = RunRecord.from_dict(result["record"])
        record.ran_on = where
        record.timings["worker_s"] = round(time.perf_counter() - began, 3)
        return Executed(record, _files(scratch, task.known_static), where)
    finally:
        if warm is not None:  # its files are read: it may go (it watches its stdin)
            warm.close_stdin()
        shutil.rmtree(scratch, ignore_errors=True)


def _handed(warm: WarmWorker, scratch: Path) -> bool:
    """Hand the task in ``scratch`` to ``warm``; False when it has exited (start cold)."""
    if warm.alive():
        try:
            warm.hand(scratch / TASK_FILE, scratch)
            return True
        except OSError:  # it exited meanwhile: its stdin is closed
            pass
    warm.stop()
    return False


def _wait_closed(proc: subprocess.Popen[bytes], stop: StopFlag) -> None:
    """:func:`_wait`, then close the worker's stdin (which it watches)."""
    try:
        _wait(proc, stop)
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()


def _wait(proc: subprocess.Popen[bytes], stop: StopFlag) -> None:
    """Wait for the worker process; pass ``stop`` on to it as SIGTERM (once)."""
    signalled = False
    while True:
        try:
            proc.wait(timeout=STOP_POLL_S)
            return
        except subprocess.TimeoutExpired:
            if not signalled and stop.is_set():
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                signalled = True


def _last_json(out: str) -> dict[str, Any] | None:
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except json.JSONDecodeError:
                continue
            return found if isinstance(found, dict) else None
    return None


def _files(scratch: Path, known_static: frozenset[str]) -> dict[str, bytes]:
    """The run's files by path relative to its folder, and any asset of ``_static/`` the
    output folder does not have yet (as ``_static/NAME``)."""
    from iwm_lab.reports.html import STATIC

    run = scratch / RUN_DIR
    files = {
        path.relative_to(run).as_posix(): path.read_bytes()
        for path in sorted(run.rglob("*"))
        if path.is_file()
    }
    static = scratch / ROOT_DIR / STATIC
    for path in sorted(static.glob("*")) if static.is_dir() else []:
        if path.is_file() and path.name not in known_static:
            files[f"{STATIC}/{path.name}"] = path.read_bytes()
    return files


def _where(pid: int | None = None) -> str:
    """Where a task runs: the Dask worker's address (and its pid), or the worker process."""
    host = socket.gethostname()
    if "distributed" in sys.modules:  # imported in every Dask worker, never needed locally
        from distributed import get_worker

        with contextlib.suppress(ValueError):
            return f"dask worker {get_worker().address} (pid {os.getpid()}) on {host}"
    return f"worker process {pid or os.getpid()} on {host}"
