"""One run executed in its own process: ``python -m iwm_lab.reports.worker --task FILE --into DIR``.

Started by :func:`.executors.execute_task` (in a ``run-due`` thread, or on a Dask worker).
``FILE`` is a pickled :class:`.executors.Task`; the run is executed and its page written into
``DIR/run/`` (with ``DIR/root/`` standing in for the output folder, for ``_static/``), and
nothing is published: the coordinating ``run-due`` does that with the files. Prints one JSON
line on stdout: ``{"status": "ran", "record": {...}, "interrupted": null}``, or
``{"status": "error", "message": ...}`` when the run could not start (nothing to record, such
as a value the database rejects). Progress goes to stderr. Exit status: 0 success, 1 the run
did not succeed, 2 could not start, 130/143 interrupted by SIGINT/SIGTERM.

With ``--watch-stdin`` the process stops its run (as on SIGTERM) when its stdin reaches its
end: the process that started it holds the other end of that pipe, so that process's death
(a Dask worker killed) stops the run, and the orphan removes ``DIR`` itself.

``--pooled --cwd DIR --statement-timeout-ms N`` starts a warm worker (:mod:`.kernels`): it
imports what a run needs, starts its kernel in ``DIR`` with the run's environment, runs the
heavy imports there, prints ``{"status": "ready", "kernel_pid": ...}`` and waits for one line
on stdin, ``{"task": FILE, "into": DIR}``, then runs that task as above (watching stdin from
then on) with its warm kernel, and exits. It exits without a run when stdin ends first (the
pool is closed, its coordinator gone) or when its kernel dies (the pool starts another).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import pickle
import select
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

# jsonschema (under nbformat) builds an IRI grammar with lark when rfc3987_syntax is
# installed: one to several seconds of every worker's start, for a format check that no
# notebook schema uses. Without the module jsonschema just skips that format.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

from iwm_lab.exceptions import IwmLabError  # noqa: E402 (after the line above)
from iwm_lab.reports.executors import ROOT_DIR, RUN_DIR, Task  # noqa: E402
from iwm_lab.reports.kernels import WATCH_EVERY_S, WarmKernel  # noqa: E402
from iwm_lab.reports.prepare import PreparedJob  # noqa: E402
from iwm_lab.reports.runner import execute_run, render_run  # noqa: E402
from iwm_lab.reports.signals import Terminated, signals_deferred  # noqa: E402
from iwm_lab.reports.state import SUCCESS  # noqa: E402

DIED = 3  # exit status of a warm worker whose kernel died before its task came

_orphaned = threading.Event()


def _emit(status: str, message: str = "", **more: Any) -> None:
    print(json.dumps({"status": status, "message": message, **more}), flush=True)


def _watch_stdin() -> None:
    """SIGTERM to ourselves once stdin ends: our parent is gone."""
    # The descriptor, not sys.stdin: a thread blocked in a buffered read holds the buffer's
    # lock, which the interpreter's shutdown then cannot take.
    try:
        while os.read(sys.stdin.fileno(), 65536):
            pass
    except OSError:
        pass
    _orphaned.set()
    os.kill(os.getpid(), signal.SIGTERM)


def _terminated(_signum: int, _frame: object) -> None:
    raise Terminated()


def with_notebook(prepared: PreparedJob, notebook: bytes, folder: Path) -> PreparedJob:
    """``prepared`` running the coordinator's notebook bytes: its own path when this host has
    the same file there, else a copy in ``folder`` (then the kernel's working folder)."""
    path = prepared.job.report.notebook
    try:
        same = hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(notebook).digest()
    except OSError:
        same = False
    if same:
        return prepared
    copy = folder / path.name
    copy.write_bytes(notebook)
    report = dataclasses.replace(prepared.job.report, notebook=copy)
    return dataclasses.replace(prepared, job=dataclasses.replace(prepared.job, report=report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iwm_lab.reports.worker")
    parser.add_argument("--task", type=Path, help="a pickled Task")
    parser.add_argument("--into", type=Path, help="the run's temporary folder")
    parser.add_argument("--watch-stdin", action="store_true", help="stop when stdin ends")
    parser.add_argument("--pooled", action="store_true", help="warm up, then wait for a task")
    parser.add_argument("--cwd", type=Path, help="--pooled: the kernel's working folder")
    parser.add_argument("--statement-timeout-ms", type=int, help="--pooled: the kernel's")
    args = parser.parse_args(argv)
    if args.pooled and (args.cwd is None or args.statement_timeout_ms is None):
        parser.error("--pooled needs --cwd and --statement-timeout-ms")
    if not args.pooled and (args.task is None or args.into is None):
        parser.error("--task and --into are required")
    # Before the kernel too, SIGTERM ends the run through the same path as during it.
    signal.signal(signal.SIGTERM, _terminated)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.pooled:
        return _pooled(args.cwd, args.statement_timeout_ms, say)
    if args.watch_stdin:
        threading.Thread(target=_watch_stdin, daemon=True).start()
    try:
        return _run(args.task, args.into, say)
    finally:
        if _orphaned.is_set():  # nobody will collect the files
            shutil.rmtree(args.into, ignore_errors=True)


def _warm_up_worker() -> None:
    """Import (and build) in this process what a run will need: papermill, the exporter,
    the database driver (the run checks the revision again: this only warms it)."""
    import papermill.execute  # noqa: F401 (imported to be ready)

    from iwm_lab.reports.html import warm_up
    from iwm_lab.reports.runner import check_database

    warm_up()
    with contextlib.suppress(Exception):  # unreachable now: the run will say so
        check_database()


def _pooled(cwd: Path, statement_timeout_ms: int, say: Any) -> int:
    """A warm worker: warm up, wait for the task, run it with the warm kernel."""
    kernel: WarmKernel | None = None
    into: Path | None = None
    try:
        try:
            _warm_up_worker()
            kernel = WarmKernel.start(cwd, statement_timeout_ms)
        except Exception as exc:  # the task can still run, with a kernel of its own
            say(f"warm kernel: not started ({type(exc).__name__}); the run starts its own")
        _emit("ready", kernel_pid=kernel.pid if kernel is not None else None)
        handed = _wait_for_task(kernel)
        if handed is None:
            if kernel is not None and not kernel.alive():
                _emit("dead", "the warm kernel died")
                return DIED
            return 0
        task_file, into = handed
        threading.Thread(target=_watch_stdin, daemon=True).start()
        return _run(task_file, into, say, kernel)
    except Terminated:
        return 143
    except KeyboardInterrupt:
        return 130
    finally:
        if kernel is not None:
            kernel.shutdown()
        if into is not None and _orphaned.is_set():
            shutil.rmtree(into, ignore_errors=True)


def _wait_for_task(kernel: WarmKernel | None) -> tuple[Path, Path] | None:
    """The task line from stdin; None when stdin ends first or the kernel dies."""
    received = b""
    fd = sys.stdin.fileno()
    while b"\n" not in received:
        readable, _, _ = select.select([fd], [], [], WATCH_EVERY_S)
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            received += chunk
        elif kernel is not None and not kernel.alive():
            return None
    handed = json.loads(received.split(b"\n", 1)[0])
    return Path(handed["task"]), Path(handed["into"])


def _run(task_file: Path, into: Path, say: Any, kernel: WarmKernel | None = None) -> int:
    try:
        task: Task = pickle.loads(task_file.read_bytes())
        request = dataclasses.replace(
            task.request, prepared=with_notebook(task.request.prepared, task.notebook, into)
        )
        staging = into / RUN_DIR
        record, interrupted = execute_run(request, staging, say, kernel)
        with signals_deferred():
            render_run(request, staging, into / ROOT_DIR, record, say)
            stopped = None
            if interrupted is not None:
                stopped = "SIGTERM" if isinstance(interrupted, Terminated) else "SIGINT"
            _emit("ran", record=dataclasses.asdict(record), interrupted=stopped)
            # Sent: a signal held back until now must not add a second, different answer.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    except IwmLabError as exc:
        _emit("error", str(exc))
        return 2
    except OSError as exc:  # e.g. a temporary folder it cannot write to
        _emit("error", f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": "))
        return 2
    except Terminated:
        _emit("interrupted", "interrupted by SIGTERM before the notebook ran")
        return 143
    except KeyboardInterrupt:
        _emit("interrupted", "interrupted by SIGINT before the notebook ran")
        return 130
    if interrupted is not None:
        return 143 if isinstance(interrupted, Terminated) else 130
    return 0 if record.status == SUCCESS else 1


def _exit(status: int) -> None:
    """Exit without the interpreter's teardown: with pandas, SQLAlchemy and nbconvert loaded
    it takes a second or more, which the coordinator would wait for. Everything the run
    wrote is closed by now, and its kernel is shut down."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    _exit(main())
