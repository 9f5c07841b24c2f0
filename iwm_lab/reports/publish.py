"""After a run: its folder in place, ``latest``, history, index, messages, alerts, the hook.

Runs are published by the coordinating process (``run-due``, ``report run``), wherever the
notebook was executed: a run on a worker (local or Dask) sends back its files and record,
and :func:`publish_files` writes them into the job's ``.staging`` before :func:`finish` moves
them into place. The caller holds the job's advisory lock (:mod:`.locks`); :func:`finish`
takes the folder lock while it reads and replaces ``state.json``, and publishes nothing when
the run's slot has been published meanwhile (the lock was lost with its session).

Only a successful run moves ``latest``: a held run (a check failed, see :mod:`.gates`) is
kept and viewable but waits for :func:`publish_held` (``iwm-lab report publish``). Messages go
through :mod:`.delivery`'s outbox, so a mail server or webhook that is down never fails or
republishes a run: the message waits and the next ``run-due`` sends it.

Who is told what:

- ``deliver`` targets: a scheduled run that succeeded, or a held run published by hand.
- ``notify_failure`` targets: a scheduled run that failed, timed out or was held (an
  unreachable database is told once per slot, as ``on_failure`` is).
- an alert's ``notify`` targets: when a condition on the run's figures starts to hold, again
  after its ``grace``, and when it clears (:mod:`.alerts`).

A manual ``report run`` records and publishes like any run but sends no delivery or failure
message (the person who ran it sees the result); its figures do move alerts.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from iwm_lab.exceptions import ReportError
from iwm_lab.reports.html import STATIC
from iwm_lab.reports.redaction import Redactor
from iwm_lab.reports.schedule import Job, Schedule
from iwm_lab.reports.state import (
    HELD,
    INTERRUPTED,
    NOTIFY_FAILURE,
    RUN_FILE,
    SKIPPED,
    STAGING,
    SUCCESS,
    RunRecord,
    drop_staging_folder,
    folder_lock,
    job_dir,
    read_state,
    set_latest,
    utc_now_iso,
    write_json_atomic,
    write_state,
    write_text_atomic,
)

if TYPE_CHECKING:
    from iwm_lab.reports.delivery import DeliveryResult

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
ON_FAILURE_TIMEOUT_S = 300
# Variables a failure hook must not see: it may mail or post its environment somewhere.
_HIDDEN_FROM_HOOK = ("IWM_DATABASE_URL", "PGPASSWORD", "PGOPTIONS", "IWM_SMTP_PASSWORD")


@dataclass(frozen=True)
class RunResult:
    """A finished run: its record (status, error, timings) and its folder, if it has one."""

    job: Job
    record: RunRecord
    run_dir: Path | None

    @property
    def ok(self) -> bool:
        return self.record.status == SUCCESS

    def file(self, suffix: str) -> Path | None:
        """The output file ending in ``suffix`` (``.html``, ``.ipynb``), if the run wrote one."""
        if self.run_dir is None:
            return None
        return next((self.run_dir / f for f in self.record.files if f.endswith(suffix)), None)


def publish_files(
    schedule: Schedule,
    job: Job,
    record: RunRecord,
    files: Mapping[str, bytes],
    redactor: Redactor,
    say: Progress,
) -> RunResult:
    """Publish a run executed elsewhere: its ``files`` (paths relative to the run folder, or
    ``_static/NAME`` for an asset of the output folder the page links to) written into the
    job's ``.staging``, then :func:`finish`. No files: a run without a folder.

    The files were redacted where they were written, by the worker that knew the secrets
    its kernel could have printed (its own environment's).
    """
    directory = job_dir(schedule, job)
    staging = directory / STAGING / record.run_id
    shutil.rmtree(staging, ignore_errors=True)
    run_files = {}
    for name, data in files.items():
        path = _relative(name)
        if path.parts[0] == STATIC and len(path.parts) == 2:
            asset = schedule.output_dir / path
            if not asset.is_file():  # another worker's plotly.js version, or the first run
                write_text_atomic(asset, data.decode("utf-8"))
        else:
            run_files[path] = data
    if run_files:
        for path, data in run_files.items():
            target = staging.joinpath(*path.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return finish(schedule, job, record, staging if run_files else None, redactor, say)


def _relative(name: str) -> PurePosixPath:
    """A file name a worker sent, refused unless it stays inside the run folder."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts):
        raise ReportError(f"a worker sent a file outside its run folder: {name!r}")
    return path


def finish(
    schedule: Schedule,
    job: Job,
    record: RunRecord,
    staging: Path | None,
    redactor: Redactor,
    say: Progress,
) -> RunResult:
    """Publish the run (the caller holds the job's advisory lock): folder, ``latest``, state,
    index, messages and alerts, then the ``on_failure`` hook.

    A run for a slot that ``state.json`` says was run meanwhile is not published: it is
    returned as ``skipped`` with a note, its files removed, nothing recorded.
    """
    directory = job_dir(schedule, job)
    finished = datetime.now(UTC)
    record.finished = finished.isoformat(timespec="seconds")
    record.seconds = round((finished - datetime.fromisoformat(record.started)).total_seconds(), 1)
    if staging is not None:
        record.files = sorted(p.name for p in staging.iterdir())
    record = RunRecord.from_dict(redactor.tree(asdict(record)))
    run_dir = None
    with folder_lock(directory):
        state = read_state(directory, job.key, job.label)
        if _slot_taken(state.last_slot, record.slot):
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            drop_staging_folder(directory)
            record.status = SKIPPED
            record.note = "its slot was published by another run-due meanwhile; not published"
            say(f"{job.label}: {record.note}")
            return RunResult(job, record, None)
        if staging is not None:
            write_json_atomic(staging / RUN_FILE, asdict(record))
            run_dir = directory / record.run_id
            os.rename(staging, run_dir)
            if record.status == SUCCESS and not (record.ad_hoc and scheduled(schedule, job)):
                set_latest(directory, record.run_id)
        # Told once per slot: run-due retries an unreachable database every few minutes.
        previous = state.last_attempt
        told = bool(
            record.unreachable
            and previous is not None
            and previous.unreachable
            and previous.slot == record.slot
        )
        state.add(record)
        # Neither an interrupted run nor one that could not reach the database uses up its
        # slot: the next run-due tries again.
        if record.slot and record.status != INTERRUPTED and not record.unreachable:
            state.last_slot = record.slot
        write_state(directory, state)
        drop_staging_folder(directory)
    refresh_index(schedule)
    result = RunResult(job, record, run_dir)
    say(f"{job.label}: {record.status}" + (f": {record.error}" if record.error else ""))
    if not told:
        try:
            _tell(schedule, result, say)
        except Exception as exc:  # the run is published: a message problem must not undo that
            message = redactor.text(f"{type(exc).__name__}: {exc}")
            log.warning("%s: messages not sent: %s", job.label, message)
            say(f"{job.label}: messages not sent: {message}")
    if record.status in NOTIFY_FAILURE and job.report.on_failure and not told:
        _call_on_failure(schedule, result)
    return result


def _slot_taken(last_slot: str | None, slot: str | None) -> bool:
    return bool(
        last_slot and slot and datetime.fromisoformat(last_slot) >= datetime.fromisoformat(slot)
    )


def refresh_index(schedule: Schedule) -> None:
    from iwm_lab.reports.index import write_index

    try:
        write_index(schedule)
    except Exception as exc:  # the run itself is published; the index can be rebuilt
        log.warning("could not refresh the index: %s", exc)


def scheduled(schedule: Schedule, job: Job) -> bool:
    """Whether the schedule runs this job (a fan-out value outside ``for_each`` is not)."""
    return any(other.key == job.key for other in schedule.jobs())


def _tell(schedule: Schedule, result: RunResult, say: Progress) -> None:
    """Messages for the run's targets and alerts; a delivery problem is recorded, not raised."""
    from iwm_lab.reports.delivery import Notice, notify

    job, record, spec = result.job, result.record, result.job.report
    sent: list[DeliveryResult] = []
    if record.trigger == "schedule" and not record.ad_hoc:
        if record.status == SUCCESS and spec.deliver:
            sent += notify(schedule, job, spec.deliver, Notice.from_run(schedule, job, record))
        elif record.status in NOTIFY_FAILURE and spec.notify_failure:
            notice = Notice.from_run(schedule, job, record)
            sent += notify(schedule, job, spec.notify_failure, notice)
    if spec.alerts and not record.ad_hoc and record.status in (SUCCESS, HELD):
        sent += _alerts(schedule, result)
    for outcome in sent:
        say(f"{job.label}: {outcome}")


def _alerts(schedule: Schedule, result: RunResult) -> list[DeliveryResult]:
    from iwm_lab.reports.alerts import evaluate_alerts
    from iwm_lab.reports.delivery import Notice, notify

    job, record = result.job, result.record
    events = evaluate_alerts(
        job_dir(schedule, job),
        job.report.alerts,
        record.records,
        run_id=record.run_id,
        now=datetime.now(UTC),
    )
    sent: list[DeliveryResult] = []
    for event in events:
        notice = Notice.from_run(schedule, job, record, kind=event.kind)
        sent += notify(schedule, job, event.notify, replace(notice, reasons=[event.message]))
    return sent


def publish_held(
    schedule: Schedule, name: str, run_id: str, say: Progress | None = None
) -> RunResult:
    """Publish a held run by hand: ``latest`` moves to it and its deliver targets are told.

    Raises :class:`ReportError` when no job of report ``name`` has a run ``run_id``, when
    that run is not held, or when its folder is gone (pruned).
    """
    say = say or (lambda _message: None)
    spec = schedule.report(name)
    for job in spec.jobs():
        directory = job_dir(schedule, job)
        state = read_state(directory, job.key, job.label)
        found = next((r for r in state.runs if r.run_id == run_id), None)
        if found is not None:
            break
    else:
        raise ReportError(
            f"report {name} has no run {run_id!r} (see: iwm-lab report history {name})"
        )
    if found.status != HELD:
        raise ReportError(
            f"run {run_id} of {job.label} is {found.status}, not held: nothing to publish"
        )
    run_dir = directory / run_id
    if found.pruned or not run_dir.is_dir():
        raise ReportError(f"run {run_id} of {job.label} has no output folder any more")
    # The folder lock only: a run of the job going on meanwhile records itself after this.
    with folder_lock(directory):
        state = read_state(directory, job.key, job.label)
        record = next(r for r in state.runs if r.run_id == run_id)
        record.status = SUCCESS
        record.published = utc_now_iso()
        record.note = "held by: " + "; ".join(record.held_reasons)
        record.error = None
        write_json_atomic(run_dir / RUN_FILE, asdict(record))
        set_latest(directory, run_id)
        write_state(directory, state)
    refresh_index(schedule)
    result = RunResult(job, record, run_dir)
    if spec.deliver:
        from iwm_lab.reports.delivery import Notice, notify

        for outcome in notify(schedule, job, spec.deliver, Notice.from_run(schedule, job, record)):
            say(f"{job.label}: {outcome}")
    return result


def _call_on_failure(schedule: Schedule, result: RunResult) -> None:
    """Run the report's ``on_failure`` shell command; its own failure is only logged."""
    command = result.job.report.on_failure
    assert command is not None
    env = {k: v for k, v in os.environ.items() if k not in _HIDDEN_FROM_HOOK}
    html = result.file(".html")
    env.update(
        IWM_REPORT_NAME=result.job.report.name,
        IWM_REPORT_JOB=result.job.label,
        IWM_REPORT_RUN_ID=result.record.run_id,
        IWM_REPORT_RUN_DIR=str(result.run_dir or ""),
        IWM_REPORT_HTML=str(html or ""),
        IWM_REPORT_STATUS=result.record.status,
        IWM_REPORT_ERROR=result.record.error or "",
        IWM_REPORT_AD_HOC="true" if result.record.ad_hoc else "false",
    )
    try:
        done = subprocess.run(
            command,
            shell=True,
            env=env,
            cwd=schedule.path.parent,
            stdin=subprocess.DEVNULL,
            timeout=ON_FAILURE_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            log.warning("%s: on_failure command exited %d", result.job.label, done.returncode)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("%s: on_failure command failed: %s", result.job.label, exc)
