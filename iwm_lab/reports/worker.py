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
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pickle
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from iwm_lab.exceptions import IwmLabError
from iwm_lab.reports.executors import ROOT_DIR, RUN_DIR, Task
from iwm_lab.reports.prepare import PreparedJob
from iwm_lab.reports.runner import execute_run, render_run
from iwm_lab.reports.signals import Terminated, signals_deferred
from iwm_lab.reports.state import SUCCESS

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
    parser.add_argument("--task", type=Path, required=True, help="a pickled Task")
    parser.add_argument("--into", type=Path, required=True, help="the run's temporary folder")
    parser.add_argument("--watch-stdin", action="store_true", help="stop when stdin ends")
    args = parser.parse_args(argv)
    # Before the kernel too, SIGTERM ends the run through the same path as during it.
    signal.signal(signal.SIGTERM, _terminated)
    if args.watch_stdin:
        threading.Thread(target=_watch_stdin, daemon=True).start()

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        return _run(args.task, args.into, say)
    finally:
        if _orphaned.is_set():  # nobody will collect the files
            shutil.rmtree(args.into, ignore_errors=True)


def _run(task_file: Path, into: Path, say: Any) -> int:
    try:
        task: Task = pickle.loads(task_file.read_bytes())
        request = dataclasses.replace(
            task.request, prepared=with_notebook(task.request.prepared, task.notebook, into)
        )
        staging = into / RUN_DIR
        record, interrupted = execute_run(request, staging, say)
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


if __name__ == "__main__":
    sys.exit(main())
