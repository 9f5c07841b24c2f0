"""Warm kernels for ``run-due`` and ``serve``: worker processes started ahead of their run.

A cold run pays, before its first cell does any work, for a worker process and its imports
(papermill, nbformat, nbconvert, SQLAlchemy), a kernel, and the kernel's own imports
(iwm_lab, pandas, plotly, the charts, the query modules): most of a report's time at scale
small. A :class:`KernelPool` in the coordinating process starts worker processes ahead
(``python -m iwm_lab.reports.worker --pooled``), each of which imports what a run needs,
starts its kernel (:class:`WarmKernel`) with the run's environment and runs the heavy imports
in it, then waits on its stdin for a task. Each warm worker, and its kernel, serves **one**
run and then exits: nothing a notebook leaves behind can reach the next run. The pool starts
a replacement once that run is over (not during it: on a small machine the warm-up would
compete with the run for the CPU).

A kernel gets its environment when it starts, so a warm one fits only runs that would have
started theirs the same way: the pool is keyed (:class:`PoolKey`) by a digest of the whole
environment the kernel gets (the coordinator's, with the report's statement timeout, see
:func:`kernel_environment`), the kernel's working folder (the notebook's), and the code it
imported (the package's and the migrations' files, by size and modification time, so an
upgrade is never served by a kernel that imported the old code). A run with no fitting warm
worker starts cold, as before.

The warm-up runs silently (no history, no execution count, no output) in a namespace of its
own: the notebook's namespace is as in a fresh kernel, only ``sys.modules`` is filled.

A warm worker whose kernel dies while it waits exits, and the pool replaces it. One whose
coordinator goes away sees its stdin end and exits, stopping its kernel. :meth:`KernelPool.close`
(at the end of ``run-due``, when ``serve`` stops) stops every waiting worker and waits for
them and their kernels to exit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

KERNEL = "python3"
# What nbclient gives a kernel it starts: ipykernel's start-up warnings (TCP transport) would
# drown the progress bar, and the history stays in memory, not in the user's profile.
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR", "--HistoryManager.hist_file=:memory:")
WORKER = "iwm_lab.reports.worker"
STARTUP_TIMEOUT_S = 60.0
STOP_WAIT_S = 10.0
# A worker that has answered shuts its kernel down (jupyter_client kills it after 5 s).
REAP_WAIT_S = 30.0
WATCH_EVERY_S = 0.5

# Imported in a warm kernel: what the report notebooks import, and what their first calls
# load (alembic for the head revision, scipy for the score gaps' intervals).
WARM_MODULES = (
    "numpy",
    "pandas",
    "plotly.graph_objects",
    "plotly.io",
    "nbformat",
    "IPython.display",
    "argon2",
    "sqlalchemy",
    "psycopg",
    "scipy.stats",
    "iwm_lab",
    "iwm_lab.database",
    "iwm_lab.migrate",
    "iwm_lab.clock",
    "iwm_lab.formatting",
    "iwm_lab.charts",
    "iwm_lab.tables",
    "iwm_lab.reports",
    "iwm_lab.findings.overview",
    "iwm_lab.findings.ratings",
    "iwm_lab.findings.streaming",
    "iwm_lab.findings.trending",
    "iwm_lab.queries.overview",
    "iwm_lab.queries.ratings",
    "iwm_lab.queries.security",
    "iwm_lab.queries.streaming",
    "iwm_lab.queries.trending",
)
# Run in the kernel through exec() with a dictionary of its own: no name reaches the
# notebook's namespace. Each step may fail (a module missing): the notebook then says so.
WARM_UP = f"""
import importlib
for _name in {WARM_MODULES!r}:
    try:
        importlib.import_module(_name)
    except Exception:
        pass
try:
    # The first figure and table of each kind load plotly's validators and pandas' templates.
    import pandas as _pd
    import plotly.graph_objects as _go
    from iwm_lab import charts as _charts, tables as _tables
    _frame = _pd.DataFrame({{"x": ["a", "b"], "y": [1.0, 2.0]}})
    for _figure in (
        _charts.bar_chart(_frame, x="x", y="y", title="warm-up"),
        _go.Figure(_go.Scatter(x=[1, 2], y=[1, 2])),
        _go.Figure(_go.Histogram(x=[1, 2])),
        _charts.empty_figure("warm-up"),
    ):
        _figure.to_plotly_json()
    _tables.table(_frame)._repr_html_()
    # The migrations' head revision, read once per process by the first connect().
    from iwm_lab.migrate import _revisions
    _revisions()
except Exception:
    pass
"""


def kernel_environment(statement_timeout_ms: int) -> dict[str, str]:
    """What a report's kernel gets on top of the environment it inherits: offline plotly
    output and the report's statement timeout (``PGOPTIONS`` for any libpq connection, which
    is read-only too)."""
    return {
        "PLOTLY_RENDERER": "plotly_mimetype",
        "IWM_STATEMENT_TIMEOUT": str(statement_timeout_ms),
        "PGOPTIONS": (
            f"-c statement_timeout={statement_timeout_ms} -c default_transaction_read_only=on"
        ),
    }


@contextlib.contextmanager
def kernel_environment_applied(statement_timeout_ms: int) -> Iterator[None]:
    """:func:`kernel_environment` set on this process (whose kernels inherit it), then
    restored."""
    wanted = kernel_environment(statement_timeout_ms)
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _code_fingerprint() -> str:
    """The package's and the migrations' files by path, size and modification time."""
    from iwm_lab.settings import MIGRATIONS_DIR

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for folder in (package, MIGRATIONS_DIR):
        for path in sorted(folder.rglob("*.py")):
            with contextlib.suppress(OSError):
                stat = path.stat()
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class PoolKey:
    """Which runs a warm kernel fits: same environment, working folder and code. The
    environment is kept as a digest only (it holds the database URL)."""

    statement_timeout_ms: int
    cwd: str
    environment: str
    code: str


def pool_key(notebook: Path, statement_timeout_ms: int) -> PoolKey:
    """The key of a run of ``notebook`` from this process now (its environment as it is)."""
    environment = {**os.environ, **kernel_environment(statement_timeout_ms)}
    digest = hashlib.sha256(json.dumps(sorted(environment.items())).encode()).hexdigest()
    return PoolKey(statement_timeout_ms, str(notebook.parent), digest[:16], _code_fingerprint())


class WarmKernel:
    """A kernel started ahead of its run, in a worker process, with the heavy imports done.

    papermill is handed its manager (:attr:`km`); nbclient does not shut down a kernel it
    did not start, so the run's worker does (:meth:`shutdown`).
    """

    def __init__(self, km: Any, cwd: Path, statement_timeout_ms: int) -> None:
        self.km = km
        self.cwd = cwd
        self.statement_timeout_ms = statement_timeout_ms

    @classmethod
    def start(cls, cwd: Path, statement_timeout_ms: int, *, warm_up: bool = True) -> WarmKernel:
        """Start a kernel in ``cwd`` with the environment a run would give it, and warm it."""
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        kernel = cls(AsyncKernelManager(kernel_name=KERNEL), cwd, statement_timeout_ms)
        try:
            with kernel_environment_applied(statement_timeout_ms):
                run_sync(kernel.km.start_kernel)(
                    extra_arguments=list(KERNEL_ARGUMENTS), cwd=str(cwd)
                )
            if warm_up:
                run_sync(kernel._warm_up)()
        except BaseException:  # SIGTERM while warming up too: leave no kernel behind
            kernel.shutdown()
            raise
        return kernel

    async def _warm_up(self) -> None:
        kc = self.km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=STARTUP_TIMEOUT_S)
            code = f"exec(compile({WARM_UP!r}, '<iwm-lab warm-up>', 'exec'), {{}})"
            msg_id = kc.execute(code, silent=True, store_history=False)
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while time.monotonic() < deadline:
                reply = await kc.get_shell_msg(timeout=STARTUP_TIMEOUT_S)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return
            raise TimeoutError("the kernel's warm-up did not finish")
        finally:
            kc.stop_channels()

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        return pid if isinstance(pid, int) else None

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        try:
            return bool(self.km.has_kernel and run_sync(self.km.is_alive)())
        except Exception:
            return False

    def fits(self, cwd: Path, statement_timeout_ms: int) -> bool:
        """Whether a run in ``cwd`` with this statement timeout would start this kernel."""
        return self.cwd == cwd and self.statement_timeout_ms == statement_timeout_ms

    def shutdown(self) -> None:
        """Stop the kernel (politely, then killed after jupyter_client's wait); idempotent."""
        from jupyter_core.utils import run_sync

        if not self.km.has_kernel:
            return
        with contextlib.suppress(Exception):
            run_sync(self.km.shutdown_kernel)(now=False)
        with contextlib.suppress(Exception):
            run_sync(self.km.cleanup_resources)()


@dataclass
class WarmWorker:
    """A worker process started ahead (``--pooled``), waiting for its one task on stdin."""

    key: PoolKey
    proc: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)  # its run's result
    kernel_pid: int | None = None

    @classmethod
    def start(cls, key: PoolKey) -> WarmWorker:
        argv = [sys.executable, "-m", WORKER, "--pooled", "--cwd", key.cwd]
        argv += ["--statement-timeout-ms", str(key.statement_timeout_ms)]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        worker = cls(key, proc)
        threading.Thread(target=worker._read, args=(proc.stdout,), daemon=True).start()
        return worker

    def _read(self, stream: IO[bytes] | None) -> None:
        """Collect the worker's stdout lines; the first says its kernel is ready."""
        if stream is None:
            return
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if not line.startswith("{"):
                continue
            said: Any = None
            with contextlib.suppress(json.JSONDecodeError):
                said = json.loads(line)
            status = said.get("status") if isinstance(said, dict) else None
            if status == "ready":
                self.kernel_pid = said.get("kernel_pid")
                self.ready.set()
            elif status not in (None, "dead"):
                self.answered.set()
        self.ready.set()
        self.answered.set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def hand(self, task_file: Path, into: Path) -> None:
        """Give the worker its task (it starts once its warm-up is done)."""
        assert self.proc.stdin is not None
        line = json.dumps({"task": str(task_file), "into": str(into)}) + "\n"
        self.proc.stdin.write(line.encode())
        self.proc.stdin.flush()

    def output(self) -> str:
        """What the worker printed so far (its result once :attr:`answered` is set)."""
        return "\n".join(self.lines)

    def wait_answer(self, stop: Any, poll_s: float) -> None:
        """Wait for the run's result (or the worker's exit); SIGTERM it once ``stop`` is set.

        The worker shuts its kernel down after answering: that need not be waited for.
        """
        signalled = False
        while not self.answered.wait(poll_s):
            if self.proc.poll() is not None:
                self.answered.wait(poll_s)  # the last lines, still being read
                return
            if not signalled and stop.is_set():
                with contextlib.suppress(ProcessLookupError):
                    self.proc.terminate()
                signalled = True

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self.proc.stdin.close()  # type: ignore[union-attr]

    def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """End of stdin (the worker stops its kernel and exits), then SIGTERM, SIGKILL."""
        self.close_stdin()
        for send in (None, self.proc.terminate, self.proc.kill):
            if send is not None:
                with contextlib.suppress(ProcessLookupError):
                    send()
            try:
                self.proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


def _same_place(a: PoolKey, b: PoolKey) -> bool:
    return (a.cwd, a.statement_timeout_ms) == (b.cwd, b.statement_timeout_ms)


class KernelPool:
    """Warm workers for the coordinator's runs, ``size`` per key at most.

    :meth:`expect` says which runs are coming (one key per run): warm workers start for them
    at once, up to ``size`` per key. With ``keep`` (``serve``) the pool keeps ``size`` per key
    it has seen, for the rounds to come; without it (one ``run-due``) it starts only what the
    runs still expected need. :meth:`take` hands over a warm worker (ready or still warming:
    either is ahead of a cold start); :meth:`finished` after its run lets the pool start its
    replacement. Thread-safe: ``run-due`` runs jobs in threads.
    """

    def __init__(self, size: int = 1, *, keep: bool = False) -> None:
        if size < 1:
            raise ValueError("a kernel pool holds at least one kernel per key")
        self.size = size
        self.keep = keep
        self._idle: list[WarmWorker] = []
        self._expected: Counter[PoolKey] = Counter()
        self._kept: set[PoolKey] = set()
        self._running = 0
        self._reaping: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="kernel-pool", daemon=True)
        self._watcher.start()

    def expect(self, keys: Sequence[PoolKey]) -> None:
        """Runs with these keys are coming: warm workers for them start now."""
        with self._lock:
            self._expected |= Counter(keys)
        self._fill()

    def take(self, key: PoolKey) -> WarmWorker | None:
        """A warm worker for ``key``, now the caller's (None: start cold)."""
        with self._lock:
            if self._expected[key] > 0:
                self._expected[key] -= 1
            if self.keep:
                # A newer environment or code for the same folder and timeout replaces the
                # older one: its kernels would never fit again.
                self._kept = {k for k in self._kept if not _same_place(k, key)} | {key}
            for worker in self._idle:
                if worker.key == key and worker.alive():
                    self._idle.remove(worker)
                    self._running += 1
                    return worker
            self._running += 1
        return None

    def finished(self, worker: WarmWorker | None = None) -> None:
        """A run taken with :meth:`take` is over (warm or cold): refill the pool, once
        ``worker`` (which answered, and is shutting its kernel down) has exited."""
        if worker is None:
            self._done()
            return
        reaper = threading.Thread(target=self._reap, args=(worker,), daemon=True)
        with self._lock:
            self._reaping.append(reaper)
        reaper.start()

    def _reap(self, worker: WarmWorker) -> None:
        worker.stop(wait_s=REAP_WAIT_S)
        with self._lock, contextlib.suppress(ValueError):
            self._reaping.remove(threading.current_thread())
        self._done()

    def _done(self) -> None:
        with self._lock:
            self._running = max(0, self._running - 1)
        self._fill()

    def busy(self) -> bool:
        """Whether a run taken from the pool is going on, or its worker still exiting."""
        with self._lock:
            return self._running > 0 or bool(self._reaping)

    def idle(self) -> list[WarmWorker]:
        """The workers waiting (ready or warming), for tests and progress."""
        with self._lock:
            return list(self._idle)

    def _wanted(self) -> Counter[PoolKey]:
        wanted: Counter[PoolKey] = Counter()
        for key, count in self._expected.items():
            wanted[key] = min(self.size, count)
        for key in self._kept:
            wanted[key] = self.size
        return wanted

    def _fill(self) -> None:
        """Start the workers wanted and missing, unless a run is going on (it has the CPU);
        stop those no longer wanted (a key whose environment or code has changed)."""
        surplus: list[WarmWorker] = []
        with self._lock:
            if self._closed.is_set() or self._running:
                return
            wanted = self._wanted()
            have: Counter[PoolKey] = Counter()
            for worker in list(self._idle):
                if have[worker.key] >= wanted[worker.key]:
                    self._idle.remove(worker)
                    surplus.append(worker)
                else:
                    have[worker.key] += 1
            for key, count in wanted.items():
                for _ in range(count - have[key]):
                    try:
                        self._idle.append(WarmWorker.start(key))
                    except OSError as exc:
                        log.warning("cannot start a warm worker: %s", exc)
                        break
        for worker in surplus:
            worker.stop()

    def _watch(self) -> None:
        """Replace waiting workers that exited (their kernel died, or they were killed)."""
        while not self._closed.wait(WATCH_EVERY_S):
            with self._lock:
                dead = [worker for worker in self._idle if not worker.alive()]
                for worker in dead:
                    self._idle.remove(worker)
            if dead:
                self._fill()

    def close(self) -> None:
        """Stop every waiting worker and wait for it (and its kernel) to exit, and for the
        workers whose runs are over to exit."""
        self._closed.set()
        with self._lock:
            idle, self._idle = self._idle, []
            reaping = list(self._reaping)
        threads = [threading.Thread(target=worker.stop) for worker in idle]
        for thread in threads:
            thread.start()
        for thread in threads + reaping:
            thread.join()
        self._watcher.join(timeout=STOP_WAIT_S)

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
