"""After a run: its folder in place, ``latest``, history, index, messages, alerts, the hook.

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

import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from iwm_lab.exceptions import ReportError
from iwm_lab.reports.redaction import Redactor
from iwm_lab.reports.schedule import Job, Schedule
from iwm_lab.reports.state import (
    HELD,
    INTERRUPTED,
    NOTIFY_FAILURE,
    RUN_FILE,
    STAGING,
    SUCCESS,
    RunRecord,
    job_dir,
    job_lock,
    read_state,
    set_latest,
    utc_now_iso,
    write_json_atomic,
    write_state,
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


def finish(
    schedule: Schedule,
    job: Job,
    record: RunRecord,
    staging: Path | None,
    redactor: Redactor,
    say: Progress,
) -> RunResult:
    """Publish the run (the caller holds the job's lock): folder, ``latest``, state, index,
    messages and alerts, then the ``on_failure`` hook."""
    directory = job_dir(schedule, job)
    finished = datetime.now(UTC)
    record.finished = finished.isoformat(timespec="seconds")
    record.seconds = round((finished - datetime.fromisoformat(record.started)).total_seconds(), 1)
    if staging is not None:
        record.files = sorted(p.name for p in staging.iterdir())
    record = RunRecord.from_dict(redactor.tree(asdict(record)))
    run_dir = None
    if staging is not None:
        write_json_atomic(staging / RUN_FILE, asdict(record))
        run_dir = directory / record.run_id
        os.rename(staging, run_dir)
        if record.status == SUCCESS and not (record.ad_hoc and scheduled(schedule, job)):
            set_latest(directory, record.run_id)
    state = read_state(directory, job.key, job.label)
    # Told once per slot: run-due retries an unreachable database every few minutes.
    previous = state.last_attempt
    told = bool(
        record.unreachable
        and previous is not None
        and previous.unreachable
        and previous.slot == record.slot
    )
    state.add(record)
    # Neither an interrupted run nor one that could not reach the database uses up its slot:
    # the next run-due tries again.
    if record.slot and record.status != INTERRUPTED and not record.unreachable:
        state.last_slot = record.slot
    write_state(directory, state)
    with contextlib.suppress(OSError):
        shutil.rmtree(directory / STAGING)
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
    with job_lock(directory, job.label):
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
