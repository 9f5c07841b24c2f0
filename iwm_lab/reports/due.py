"""``run-due``: run every job whose latest scheduled time has not been run yet.

A scheduler (cron, a systemd timer, a Kubernetes CronJob, Airflow) calls it every few minutes.
A job is due when its report's cron expression has a slot at or before *now* later than the
slot its last scheduled run covered (``state.json``'s ``last_slot``):

- **Missed slots** (the machine was off, run-due was not called) give **one** catch-up run,
  for the latest slot, not one run per missed slot.
- A job that **never ran** counts as having missed its latest slot, so a new report renders
  at the next run-due.
- A **failed** run uses up its slot (no retry storm every few minutes; ``on_failure`` has
  said so); an **interrupted** run does not, so the next run-due tries again. Nor does a run
  that could not reach the database (refused, wrong password, connection lost mid-run): an
  outage is not the report's fault, and the slot's report is still wanted once it is over.
  The retry says so; ``on_failure`` is called for the first such attempt at a slot only.

With ``run_when = "data_changed"``, a due job whose data has not changed since its last good
run (the fingerprint of :mod:`.datastamp` over the tables it ``reads``) is recorded as
**skipped (unchanged)** here, in milliseconds, without a worker or a kernel; its slot is used
up. ``force`` runs it anyway. Before anything runs, messages waiting in an outbox are sent
again (:func:`.delivery.flush`); after the runs, retention prunes old runs
(:func:`.retention.prune`).

Each due job runs in a worker process (``python -m iwm_lab.reports.worker``), up to ``jobs``
at once. Before starting one, run-due takes the job's lock (an fcntl lock, which the worker
inherits and holds until it exits) and re-reads the job's state, so two run-due processes
started at once never run the same job twice: the second finds it locked (``busy``) or
already done (``skipped``), without starting a worker.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from iwm_lab.exceptions import IwmLabError
from iwm_lab.reports.schedule import Job, Schedule
from iwm_lab.reports.signals import interrupts_once
from iwm_lab.reports.state import (
    SKIPPED,
    RunRecord,
    job_dir,
    new_run_id,
    read_state,
    try_job_lock,
    write_state,
)

WORKER = "iwm_lab.reports.worker"
RETRYING = "retrying: the last attempt could not reach the database"


@dataclass(frozen=True)
class DueJob:
    job: Job
    slot: datetime  # the latest scheduled time at or before now, in the report's time zone
    missed: int  # slots since the last scheduled run; 1 when it never ran
    retry: bool = False  # the last attempt could not reach the database

    @property
    def reason(self) -> str:
        """Why it is due, for people: ``due since 2026-11-30 06:00 CET, catching up 3 …``."""
        text = f"due since {self.slot:%Y-%m-%d %H:%M %Z}"
        if self.missed > 1:
            text += f", catching up {self.missed} missed slots"
        if self.retry:
            text += f", {RETRYING}"
        return text


@dataclass(frozen=True)
class JobSummary:
    """One line of ``report list``."""

    job: Job
    next_due: datetime
    last_run: RunRecord | None
    due: DueJob | None


@dataclass(frozen=True)
class DueOutcome:
    """What became of a due job: ``success``, ``failed``, ``held``, ``timed_out``,
    ``interrupted``, ``skipped`` (already run for this slot, or unchanged data), ``busy``
    (running elsewhere) or ``error`` (did not start)."""

    job: Job
    status: str
    message: str = ""
    html: str | None = None


def _due(schedule: Schedule, job: Job, now: datetime) -> DueJob | None:
    slot = job.report.last_slot(now)
    if slot is None:
        return None
    state = read_state(job_dir(schedule, job), job.key, job.label)
    attempt = state.last_attempt
    retry = attempt is not None and attempt.unreachable
    if state.last_slot is None:
        return DueJob(job, slot, 1, retry)
    last = datetime.fromisoformat(state.last_slot)
    if last >= slot:
        return None
    return DueJob(job, slot, job.report.slots_between(last, now), retry)


def due_jobs(schedule: Schedule, now: datetime | None = None) -> list[DueJob]:
    """The jobs due at ``now`` (default: the current time), in schedule order."""
    now = now or datetime.now(UTC)
    return [due for job in schedule.jobs() if (due := _due(schedule, job, now)) is not None]


def summaries(schedule: Schedule, now: datetime | None = None) -> list[JobSummary]:
    """Every scheduled job with its next due time, last run and whether it is due now."""
    now = now or datetime.now(UTC)
    return [
        JobSummary(
            job,
            job.report.next_slot(now),
            read_state(job_dir(schedule, job), job.key, job.label).last_scheduled_run,
            _due(schedule, job, now),
        )
        for job in schedule.jobs()
    ]


class _Workers:
    """The worker processes alive now, so an interrupt can be passed on to each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._alive: set[subprocess.Popen[str]] = set()
        self.stopping = False

    def run(self, argv: list[str], lock: TextIO) -> tuple[int, str]:
        with self._lock:
            if self.stopping:
                return -signal.SIGTERM, ""
            # stdout carries the worker's JSON result; its stderr (progress) is ours.
            proc = subprocess.Popen(
                [*argv, "--lock-fd", str(lock.fileno())],
                stdout=subprocess.PIPE,
                text=True,
                pass_fds=(lock.fileno(),),
            )
            self._alive.add(proc)
        try:
            out, _ = proc.communicate()
        finally:
            with self._lock:
                self._alive.discard(proc)
        return proc.returncode, out

    def terminate(self) -> None:
        with self._lock:
            self.stopping = True
            for proc in self._alive:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)


def _worker_argv(schedule: Schedule, due: DueJob, progress_bar: bool) -> list[str]:
    return [
        sys.executable,
        "-m",
        WORKER,
        "--schedule",
        str(schedule.path),
        "--output",
        str(schedule.output_dir),
        "--report",
        due.job.report.name,
        "--part",
        json.dumps(dict(due.job.part), default=str),
        "--slot",
        due.slot.isoformat(),
        *([] if progress_bar else ["--no-progress-bar"]),
    ]


def _outcome(job: Job, returncode: int, out: str) -> DueOutcome:
    lines = [line for line in out.splitlines() if line.startswith("{")]
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return DueOutcome(job, "error", f"worker exited with status {returncode}")
    return DueOutcome(job, result["status"], result.get("message", ""), result.get("html"))


def _skip_unchanged(schedule: Schedule, item: DueJob, say: Callable[[str], None]) -> str | None:
    """Record a skipped run when the job's data is as at its last good run (caller holds the
    job's lock); the message, or None when the job must run."""
    from sqlalchemy.exc import DBAPIError

    from iwm_lab.reports.publish import refresh_index
    from iwm_lab.reports.runner import data_key

    began = time.perf_counter()
    directory = job_dir(schedule, item.job)
    state = read_state(directory, item.job.key, item.job.label)
    good = state.last_scheduled_success
    if good is None or good.data_stamp is None:
        return None
    try:
        key = data_key(item.job)
    except IwmLabError as exc:  # e.g. unreachable: the run says so, and may retry
        say(f"{item.job.label}: could not tell whether the data changed ({exc}); running")
        return None
    except DBAPIError:
        return None
    if key != good.data_stamp:
        return None
    started = datetime.now(UTC)
    seconds = time.perf_counter() - began
    note = f"unchanged since run {good.run_id}"
    state.add(
        RunRecord(
            run_id=new_run_id(started),
            status=SKIPPED,
            trigger="schedule",
            started=started.isoformat(timespec="seconds"),
            finished=started.isoformat(timespec="seconds"),
            seconds=round(seconds, 3),
            parameters=dict(good.parameters),
            slot=item.slot.astimezone(UTC).isoformat(),
            data_stamp=key,
            note=note,
        )
    )
    state.last_slot = item.slot.astimezone(UTC).isoformat()
    write_state(directory, state)
    refresh_index(schedule)
    return f"{note} ({1000 * seconds:.0f} ms)"


def run_due(
    schedule: Schedule,
    *,
    now: datetime | None = None,
    jobs: int = 1,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    handle_sigterm: bool = True,
) -> list[DueOutcome]:
    """Run the due jobs, up to ``jobs`` at once; return what became of each.

    ``now`` decides what is due (tests pass a fixed time); the runs themselves happen now.
    ``force`` runs a ``data_changed`` job even when its data is unchanged. SIGINT or SIGTERM
    is passed on to the workers, which record their runs as interrupted; then
    ``KeyboardInterrupt`` (:class:`~iwm_lab.reports.signals.Terminated`) propagates. With
    ``handle_sigterm=False`` SIGTERM is left to the caller (``report serve``).
    """
    from iwm_lab.reports.delivery import flush
    from iwm_lab.reports.retention import prune

    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    say = progress or (lambda _message: None)
    for sent in flush(schedule):
        say(f"outbox: {sent}")
    due = due_jobs(schedule, now)
    for item in due:
        say(f"{item.job.label}: {item.reason}")
    if not due:
        return []
    outcomes = _run_all(schedule, due, jobs, force, say, handle_sigterm)
    try:
        for line in prune(schedule).describe():
            say(f"retention: {line}")
    except IwmLabError as exc:  # the runs are published; pruning waits for the next call
        say(f"retention: {exc}")
    return outcomes


def _run_all(
    schedule: Schedule,
    due: list[DueJob],
    jobs: int,
    force: bool,
    say: Callable[[str], None],
    handle_sigterm: bool,
) -> list[DueOutcome]:
    workers = _Workers()
    # Several progress bars in one terminal garble each other.
    progress_bar = jobs == 1 or len(due) == 1

    def run_one(item: DueJob) -> DueOutcome:
        directory = job_dir(schedule, item.job)
        lock = try_job_lock(directory)
        if lock is None:
            return DueOutcome(item.job, "busy", "running in another process")
        with lock:
            last = read_state(directory, item.job.key, item.job.label).last_slot
            if last is not None and datetime.fromisoformat(last) >= item.slot:
                return DueOutcome(item.job, "skipped", "already run for this slot")
            if item.job.report.run_when == "data_changed" and not force:
                skipped = _skip_unchanged(schedule, item, say)
                if skipped is not None:
                    return DueOutcome(item.job, SKIPPED, skipped)
            code, out = workers.run(_worker_argv(schedule, item, progress_bar), lock)
        return _outcome(item.job, code, out)

    with ThreadPoolExecutor(max_workers=jobs) as pool, interrupts_once(sigterm=handle_sigterm):
        futures = [pool.submit(run_one, item) for item in due]
        try:
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            workers.terminate()
            for future in futures:
                future.cancel()
            raise
