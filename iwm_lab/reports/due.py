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

Each due job is executed by the ``executor`` (:mod:`.executors`): a worker process here
(``python -m iwm_lab.reports.worker``), or the same on a Dask worker, up to ``jobs`` at once,
and published by this process from the files it sends back. Before executing one, run-due
takes the job's advisory lock in PostgreSQL (:mod:`.locks`), holds it until the run is
published, and re-reads the job's state under it, so two run-due started at once, on one
host or two sharing the output folder, never run the same job twice: the second finds it
locked (``busy``) or already done for the slot (``skipped``), without starting anything.
When the database cannot be reached no lock can be taken, and nothing runs: the attempt is
recorded as unreachable (under the folder lock, see :mod:`.state`) and the slot stays due.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from iwm_lab.exceptions import IwmLabError, ReportBusy
from iwm_lab.reports.executors import LOCAL
from iwm_lab.reports.kernels import KernelPool
from iwm_lab.reports.schedule import Job, Schedule
from iwm_lab.reports.signals import interrupts_once
from iwm_lab.reports.state import (
    SKIPPED,
    RunRecord,
    clear_staging,
    folder_lock,
    job_dir,
    new_run_id,
    read_state,
    write_state,
)

if TYPE_CHECKING:
    from iwm_lab.reports.executors import Executor
    from iwm_lab.reports.publish import RunResult
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


def _skip_unchanged(schedule: Schedule, item: DueJob, say: Callable[[str], None]) -> str | None:
    """Record a skipped run when the job's data is as at its last good run (caller holds the
    job's advisory lock); the message, or None when the job must run."""
    from sqlalchemy.exc import DBAPIError

    from iwm_lab.reports.publish import refresh_index
    from iwm_lab.reports.runner import data_key

    began = time.perf_counter()
    directory = job_dir(schedule, item.job)
    good = read_state(directory, item.job.key, item.job.label).last_scheduled_success
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
    slot = item.slot.astimezone(UTC).isoformat()
    with folder_lock(directory):
        state = read_state(directory, item.job.key, item.job.label)
        state.add(
            RunRecord(
                run_id=new_run_id(started),
                status=SKIPPED,
                trigger="schedule",
                started=started.isoformat(timespec="seconds"),
                finished=started.isoformat(timespec="seconds"),
                seconds=round(seconds, 3),
                parameters=dict(good.parameters),
                slot=slot,
                data_stamp=key,
                note=note,
            )
        )
        state.last_slot = slot
        write_state(directory, state)
    refresh_index(schedule)
    return f"{note} ({1000 * seconds:.0f} ms)"


def run_due(
    schedule: Schedule,
    *,
    now: datetime | None = None,
    jobs: int | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    handle_sigterm: bool = True,
    executor: str = LOCAL,
    pool: int | KernelPool = 1,
) -> list[DueOutcome]:
    """Run the due jobs, up to ``jobs`` at once; return what became of each.

    ``pool`` warms kernels ahead for the local executor (:mod:`.kernels`): an int is how many
    per kind of run this call keeps warm (0: each run starts its own, cold), a
    :class:`~iwm_lab.reports.kernels.KernelPool` is one kept by the caller across calls
    (``serve``), which closes it. A warm kernel serves one run only.

    ``executor`` is ``"local"`` (worker processes here) or ``"dask://HOST:PORT"`` (the workers
    of that Dask scheduler, see :mod:`.executors`); anything else raises
    :class:`~iwm_lab.exceptions.ReportError` before anything runs, as does a Dask scheduler
    that cannot be reached when something is due. ``jobs`` defaults to 1 locally and to the
    cluster's worker threads on Dask. ``now`` decides what is due (tests pass a fixed time);
    the runs themselves happen now. ``force`` runs a ``data_changed`` job even when its data
    is unchanged. SIGINT or SIGTERM is passed on to the runs, which are published as
    interrupted; then ``KeyboardInterrupt`` (:class:`~iwm_lab.reports.signals.Terminated`)
    propagates. With ``handle_sigterm=False`` SIGTERM is left to the caller (``report serve``).
    """
    from iwm_lab.reports.delivery import flush
    from iwm_lab.reports.executors import open_executor, parse_executor
    from iwm_lab.reports.retention import prune

    if jobs is not None and jobs < 1:
        raise ValueError("jobs must be at least 1")
    if isinstance(pool, int) and pool < 0:
        raise ValueError("pool must be at least 0")
    parse_executor(executor)
    say = progress or (lambda _message: None)
    for sent in flush(schedule):
        say(f"outbox: {sent}")
    due = due_jobs(schedule, now)
    for item in due:
        say(f"{item.job.label}: {item.reason}")
    if not due:
        return []
    owned = KernelPool(pool) if isinstance(pool, int) and pool and executor == LOCAL else None
    try:
        shared = pool if isinstance(pool, KernelPool) else owned
        with open_executor(executor, pool=shared) as opened:
            width = jobs or opened.default_jobs
            outcomes = _run_all(schedule, due, width, force, say, handle_sigterm, opened)
    finally:
        if owned is not None:  # its waiting workers and their kernels end with the call
            owned.close()
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
    executor: Executor,
) -> list[DueOutcome]:
    # Several progress bars in one terminal garble each other; a Dask worker's go to its log.
    progress_bar = executor.name == LOCAL and (jobs == 1 or len(due) == 1)

    from iwm_lab.reports.runner import statement_timeout_of

    def run_one(item: DueJob) -> DueOutcome:
        return _run_one(schedule, item, executor, force, progress_bar, say)

    # The first runs start at once, cold: warming a kernel for them would only add its
    # warm-up. The later ones get theirs warmed meanwhile (and serve's next rounds).
    later = due[jobs:]
    executor.expect([(i.job.report.notebook, statement_timeout_of(i.job.report)) for i in later])

    with ThreadPoolExecutor(max_workers=jobs) as pool, interrupts_once(sigterm=handle_sigterm):
        futures = [pool.submit(run_one, item) for item in due]
        try:
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            executor.stop()
            for future in futures:
                future.cancel()
            raise


def _run_one(
    schedule: Schedule,
    item: DueJob,
    executor: Executor,
    force: bool,
    progress_bar: bool,
    say: Callable[[str], None],
) -> DueOutcome:
    """One due job: its advisory lock, the slot checked again under it, a skip when the
    data is unchanged, else the run executed by ``executor`` and published here."""
    from iwm_lab.reports.executors import Task
    from iwm_lab.reports.html import STATIC
    from iwm_lab.reports.prepare import prepare_job
    from iwm_lab.reports.publish import finish, publish_files
    from iwm_lab.reports.redaction import redactor_for
    from iwm_lab.reports.runner import RunRequest, lock_job, new_record, redact_env

    job = item.job
    try:
        prepared = prepare_job(job)
        notebook = job.report.notebook.read_bytes()
    except IwmLabError as exc:
        return DueOutcome(job, "error", str(exc))
    except OSError as exc:
        return DueOutcome(job, "error", f"cannot read {job.report.notebook}: {exc.strerror}")
    record = new_record(prepared, "schedule", item.slot)
    redactor = redactor_for(schedule)
    try:
        lock, attempt = lock_job(job, record, say)
    except ReportBusy as exc:
        return DueOutcome(job, "busy", str(exc))
    if lock is None:  # no session, so no lock: the attempt is recorded, the slot stays due
        return _outcome(finish(schedule, job, record, None, redactor, say))
    with lock:
        directory = job_dir(schedule, job)
        state = read_state(directory, job.key, job.label)
        if state.last_slot is not None and datetime.fromisoformat(state.last_slot) >= item.slot:
            return DueOutcome(job, SKIPPED, "already run for this slot")
        if job.report.run_when == "data_changed" and not force:
            skipped = _skip_unchanged(schedule, item, say)
            if skipped is not None:
                return DueOutcome(job, SKIPPED, skipped)
        clear_staging(directory)
        static = schedule.output_dir / STATIC
        request = RunRequest(
            prepared,
            record,
            tuple(state.runs),
            first_attempt=attempt,
            progress_bar=progress_bar,
            redact_env=redact_env(schedule),
        )
        known = frozenset(p.name for p in static.iterdir()) if static.is_dir() else frozenset()
        executed = executor.run(Task(request, notebook, known), directory)
        if executed.record is None:
            return DueOutcome(job, executed.status, executed.message)
        published = publish_files(schedule, job, executed.record, executed.files, redactor, say)
    return _outcome(published)


def _outcome(result: RunResult) -> DueOutcome:
    record = result.record
    message = (record.note if record.status == SKIPPED else record.error) or ""
    if record.unreachable and record.status != SKIPPED:
        message += "; the slot stays due: the next run-due tries again"
    html = result.file(".html")
    return DueOutcome(result.job, record.status, message, str(html) if html else None)
