"""One report run: checks, papermill, HTML, atomic publication, failure handling.

Before a kernel starts, the parameters are checked against the notebook and the database
(see :mod:`.prepare`), and the database must answer at the Alembic head revision. A notebook
that declares ``as_of`` gets the run's own time (the slot for ``run-due``, now for a manual
run) unless the schedule or ``-p`` sets it. The kernel
inherits the environment, so ``IWM_DATABASE_URL``/``IWM_DATA_DIR`` reach
``iwm_lab.connect()`` there and never travel as parameters; it also gets the report's
statement timeout (``IWM_STATEMENT_TIMEOUT``, and ``PGOPTIONS`` for any other libpq
connection, which is read-only too) and ``PLOTLY_RENDERER=plotly_mimetype`` for offline HTML.

papermill writes into ``<job>/.staging/<run-id>/``; when the run ends the folder is renamed to
``<job>/<run-id>/`` and only a successful run moves ``latest`` (an ad hoc one only in a
folder the schedule does not run: a scheduled job's ``latest`` is a scheduled output). A
failed run keeps its executed notebook (papermill marks the failing cell) and an HTML page
with the code shown, is recorded with a one-line error (:mod:`.errors`: no SQL text, no bound
values), and calls the report's ``on_failure`` command. An interrupted
run (Ctrl-C, SIGTERM) is recorded as such and leaves ``latest`` alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from iwm_lab.database import database_url, get_engine
from iwm_lab.exceptions import DatabaseNotReady, DatabaseUnavailable, ReportError, SchemaNotReady
from iwm_lab.migrate import require_head
from iwm_lab.reports.errors import failure_message, lost_database, short_message
from iwm_lab.reports.prepare import PreparedJob, check_values, prepare, run_parameters
from iwm_lab.reports.redaction import Redactor
from iwm_lab.reports.render import render
from iwm_lab.reports.schedule import Job, Schedule
from iwm_lab.reports.signals import Terminated, interrupts_once, signals_deferred
from iwm_lab.reports.state import (
    FAILED,
    INTERRUPTED,
    RUN_FILE,
    STAGING,
    SUCCESS,
    RunRecord,
    job_dir,
    job_lock,
    new_run_id,
    read_state,
    set_latest,
    write_json_atomic,
    write_state,
)
from iwm_lab.settings import get_settings

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
KERNEL = "python3"
ON_FAILURE_TIMEOUT_S = 300
# Variables a failure hook must not see: it may mail or post its environment somewhere.
_HIDDEN_FROM_HOOK = ("IWM_DATABASE_URL", "PGPASSWORD", "PGOPTIONS")


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


def check_database() -> str:
    """The database's revision, read now (:func:`iwm_lab.migrate.require_head`, not its
    once-per-process answer): :class:`DatabaseNotReady` unless it is the head revision,
    :class:`DatabaseUnavailable` when the database does not answer."""
    engine = get_engine(database_url())
    try:
        return require_head(engine, cached=False)
    except SchemaNotReady as exc:
        # Recorded as the run's failure, as a report's own error.
        raise DatabaseNotReady(str(exc)) from None
    finally:
        engine.dispose()


@contextlib.contextmanager
def _kernel_environment(statement_timeout_ms: int) -> Iterator[None]:
    """What the kernel inherits, set on this process for the run and restored after."""
    wanted = {
        "PLOTLY_RENDERER": "plotly_mimetype",
        "IWM_STATEMENT_TIMEOUT": str(statement_timeout_ms),
        "PGOPTIONS": (
            f"-c statement_timeout={statement_timeout_ms} -c default_transaction_read_only=on"
        ),
    }
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


def run_job(
    schedule: Schedule,
    prepared: PreparedJob,
    *,
    keep_code: bool | None = None,
    self_contained: bool | None = None,
    trigger: str = "manual",
    slot: datetime | None = None,
    progress: Progress | None = None,
    progress_bar: bool = True,
    lock_fd: int | None = None,
) -> RunResult | None:
    """Run one job under its lock and publish the result; see the module docstring.

    With ``slot`` (run-due), returns None without running when that slot has been run
    already (by a concurrent ``run-due``). Raises :class:`~iwm_lab.exceptions.ReportBusy`
    when the job is running elsewhere, ``KeyboardInterrupt`` (:class:`Terminated` for
    SIGTERM) after recording an interrupted run; a failed run is returned, not raised.
    A value the database rejects (:func:`.prepare.check_values`, unless done already) raises
    :class:`~iwm_lab.exceptions.ReportValueError` with nothing recorded.
    ``lock_fd`` is the job's lock, already taken by a parent process (run-due).
    """
    job, say = prepared.job, progress or (lambda _message: None)
    directory = job_dir(schedule, job)
    with job_lock(directory, job.label, lock_fd):
        state = read_state(directory, job.key, job.label)
        if slot is not None and state.last_slot and datetime.fromisoformat(state.last_slot) >= slot:
            return None
        redactor = Redactor.from_environment()
        started = datetime.now(UTC)
        record = RunRecord(
            run_id=new_run_id(started),
            status=FAILED,
            trigger=trigger,
            started=started.isoformat(timespec="seconds"),
            parameters=run_parameters(prepared, slot or started),
            slot=slot.astimezone(UTC).isoformat() if slot else None,
            ad_hoc=prepared.ad_hoc is not None,
            ad_hoc_reason=prepared.ad_hoc,
        )
        try:
            record.revision = check_database()
            if not prepared.values_checked:
                check_values([prepared])
        except (DatabaseUnavailable, DatabaseNotReady) as exc:
            record.error = short_message(str(exc))
            record.unreachable = isinstance(exc, DatabaseUnavailable)
            return _finish(schedule, prepared, record, None, redactor, say)
        except DBAPIError as exc:  # the connection failed while the values were checked
            name = type(exc.orig or exc).__name__
            record.error = failure_message(name, str(exc))
            record.unreachable = lost_database(type(exc).__name__, str(exc))
            return _finish(schedule, prepared, record, None, redactor, say)
        staging = directory / STAGING / record.run_id
        staging.mkdir(parents=True)
        interrupted: KeyboardInterrupt | None = None
        try:
            _execute(prepared, staging / f"{job.file_stem}.ipynb", record, say, progress_bar)
        except KeyboardInterrupt as exc:
            interrupted = exc
            signal_name = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
            record.status, record.error = INTERRUPTED, f"interrupted by {signal_name}"
        with signals_deferred():
            render(
                prepared,
                staging,
                record,
                redactor,
                keep_code=keep_code,
                self_contained=self_contained,
                history=state.runs,
                output_dir=schedule.output_dir,
                say=say,
            )
            result = _finish(schedule, prepared, record, staging, redactor, say)
    if interrupted is not None:
        raise interrupted
    return result


def _execute(
    prepared: PreparedJob, output: Path, record: RunRecord, say: Progress, progress_bar: bool
) -> None:
    from papermill import execute_notebook
    from papermill.exceptions import PapermillExecutionError

    spec = prepared.job.report
    timeout = spec.statement_timeout_ms
    if timeout is None:
        timeout = get_settings().statement_timeout_ms
    say(f"{prepared.job.label}: executing {spec.notebook.name} (statement timeout {timeout} ms)")
    began = time.perf_counter()
    try:
        with _kernel_environment(timeout), interrupts_once():
            execute_notebook(
                str(spec.notebook),
                str(output),
                parameters=record.parameters,
                kernel_name=KERNEL,
                progress_bar=progress_bar,
                cwd=str(spec.notebook.parent),
                # ipykernel's start-up warnings (TCP transport) would drown the progress bar.
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
        record.status = SUCCESS
    except PapermillExecutionError as exc:
        if exc.ename == "KeyboardInterrupt":  # Ctrl-C reached the kernel too
            raise KeyboardInterrupt from None
        record.error = failure_message(exc.ename, exc.evalue, exc.exec_count)
        record.unreachable = lost_database(exc.ename, exc.evalue)
    except Exception as exc:  # the kernel died or could not start: still a failed run
        record.error = failure_message(type(exc).__name__, str(exc))
    finally:
        record.timings["execute_s"] = round(time.perf_counter() - began, 3)


def _finish(
    schedule: Schedule,
    prepared: PreparedJob,
    record: RunRecord,
    staging: Path | None,
    redactor: Redactor,
    say: Progress,
) -> RunResult:
    """Publish the run: folder in place, ``latest`` on success, history, index, hook."""
    from iwm_lab.reports.index import write_index

    job = prepared.job
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
        if record.status == SUCCESS and not (record.ad_hoc and _scheduled(schedule, job)):
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
    try:
        write_index(schedule)
    except Exception as exc:  # the run itself is published; the index can be rebuilt
        log.warning("could not refresh the index: %s", exc)
    result = RunResult(job, record, run_dir)
    say(f"{job.label}: {record.status}" + (f": {record.error}" if record.error else ""))
    if record.status == FAILED and job.report.on_failure and not told:
        _call_on_failure(schedule, result)
    return result


def _scheduled(schedule: Schedule, job: Job) -> bool:
    """Whether the schedule runs this job (a fan-out value outside ``for_each`` is not)."""
    return any(other.key == job.key for other in schedule.jobs())


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


def run_report(
    schedule: Schedule,
    name: str,
    overrides: Mapping[str, str] | None = None,
    *,
    keep_code: bool | None = None,
    self_contained: bool | None = None,
    progress: Progress | None = None,
    progress_bar: bool = True,
) -> list[RunResult]:
    """Run a report now (every fan-out part, one after another); returns one result per part.

    Parameters are checked for all parts before the first kernel starts, and before anything
    is written: a wrong value raises :class:`~iwm_lab.exceptions.ReportParameterError`
    (:class:`~iwm_lab.exceptions.ReportValueError` for a value outside its choices). A
    failed part does not stop the others. ``keep_code`` and ``self_contained`` override the
    schedule's settings when given.
    """
    prepared = _checked_before_any_run(prepare(schedule, name, overrides))
    results = []
    for item in prepared:
        result = run_job(
            schedule,
            item,
            keep_code=keep_code,
            self_contained=self_contained,
            progress=progress,
            progress_bar=progress_bar,
        )
        if result is None:  # only possible with a slot, which manual runs do not have
            raise ReportError(f"report {item.job.label} did not run")
        results.append(result)
    return results


def _checked_before_any_run(prepared: list[PreparedJob]) -> list[PreparedJob]:
    """Every part's values checked against the database, when it is ready to answer.

    When it is not, each run records that failure itself (and calls ``on_failure``), as a
    scheduled run would; the values are then checked by the run, should the database recover.
    """
    try:
        check_database()
        return check_values(prepared)
    except (DatabaseUnavailable, DatabaseNotReady, DBAPIError):
        return prepared
