"""One report run: checks, papermill, HTML, atomic publication, failure handling.

Before a kernel starts, the parameters are checked against the notebook and the database
(see :mod:`.prepare`), and the database must answer at the Alembic head revision. A notebook
that declares ``as_of`` gets the run's own time (the slot for ``run-due``, now for a manual
run) unless the schedule or ``-p`` sets it. The kernel
inherits the environment, so ``IWM_DATABASE_URL``/``IWM_DATA_DIR`` reach
``iwm_lab.connect()`` there and never travel as parameters; it also gets the report's
statement timeout (``IWM_STATEMENT_TIMEOUT``, and ``PGOPTIONS`` for any other libpq
connection, which is read-only too) and ``PLOTLY_RENDERER=plotly_mimetype`` for offline HTML.

A run has two halves, wherever it happens. :func:`execute_run` and :func:`render_run` execute
the notebook into a staging folder and write its page, and need the database (its URL in the
environment) but not the output folder; :func:`.publish.finish` then publishes it in the
output folder, in the coordinating process, which holds the job's advisory lock
(:mod:`.locks`) from before the run until it is published. ``report run`` does both halves
here (:func:`run_job`, staging in ``<job>/.staging/<run-id>/``); ``run-due`` executes on a
worker (:mod:`.executors`) and publishes the files it sends back. The run folder is renamed
to ``<job>/<run-id>/`` and only a successful run moves ``latest`` (an ad hoc one only in a
folder the schedule does not run: a scheduled job's ``latest`` is a scheduled output). A
failed run keeps its executed notebook (papermill marks the failing cell) and an HTML page
with the code shown, is recorded with a one-line error (:mod:`.errors`: no SQL text, no bound
values), and calls the report's ``on_failure`` command. An interrupted
run (Ctrl-C, SIGTERM) is recorded as such and leaves ``latest`` alone.

``timeout_s`` bounds the whole run: when it passes the kernel is stopped, the run is recorded
as timed out and ``latest`` stays. ``retries`` applies only to a database that cannot be
reached (before the kernel, or lost during the run), waiting ``retry_backoff_s``, then twice
as long each time (taking the lock counts as an attempt: when no session can be opened, the
run is recorded as unreachable without a kernel, as no kernel could reach the database
either); a notebook's own error is never retried. A run whose checks fail is held
(see :mod:`.render` and :mod:`.gates`); what happens after a run is :mod:`.publish`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from iwm_lab.database import database_url, get_engine
from iwm_lab.exceptions import DatabaseNotReady, DatabaseUnavailable, SchemaNotReady
from iwm_lab.migrate import require_head
from iwm_lab.reports.errors import failure_message, lost_database, short_message
from iwm_lab.reports.kernels import KERNEL, KERNEL_ARGUMENTS, WarmKernel, kernel_environment_applied
from iwm_lab.reports.locks import JobLock, take_job_lock
from iwm_lab.reports.prepare import AS_OF, PreparedJob, check_values, prepare, run_parameters
from iwm_lab.reports.publish import RunResult, finish
from iwm_lab.reports.redaction import Redactor, redactor_for
from iwm_lab.reports.render import render
from iwm_lab.reports.schedule import Job, ReportSpec, Schedule
from iwm_lab.reports.signals import (
    Terminated,
    TimedOut,
    deadline,
    interrupts_once,
    signals_deferred,
)
from iwm_lab.reports.state import (
    FAILED,
    INTERRUPTED,
    STAGING,
    SUCCESS,
    TIMED_OUT,
    RunRecord,
    clear_staging,
    job_dir,
    new_run_id,
    read_state,
)
from iwm_lab.settings import get_settings

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


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


def _kernel_environment(statement_timeout_ms: int) -> contextlib.AbstractContextManager[None]:
    """What the kernel inherits, set on this process for the run and restored after."""
    return kernel_environment_applied(statement_timeout_ms)


@dataclass(frozen=True)
class RunRequest:
    """What executing one run needs, wherever it happens (this process, a worker process, a
    Dask worker): the checked job, its record so far, the job's earlier runs (gates and the
    page's "since the previous run" compare with them) and the page options."""

    prepared: PreparedJob
    record: RunRecord
    history: tuple[RunRecord, ...] = ()
    keep_code: bool | None = None
    self_contained: bool | None = None
    first_attempt: int = 1  # attempts already used up taking the lock (database unreachable)
    progress_bar: bool = True
    redact_env: tuple[str, ...] = ()  # the schedule's webhook variables, redacted too


def new_record(prepared: PreparedJob, trigger: str, slot: datetime | None) -> RunRecord:
    """A run's record before it runs: its id, start, parameters (``as_of`` the slot, or now)."""
    started = datetime.now(UTC)
    return RunRecord(
        run_id=new_run_id(started),
        status=FAILED,
        trigger=trigger,
        started=started.isoformat(timespec="seconds"),
        parameters=run_parameters(prepared, slot or started),
        slot=slot.astimezone(UTC).isoformat() if slot else None,
        ad_hoc=prepared.ad_hoc is not None,
        ad_hoc_reason=prepared.ad_hoc,
    )


def redact_env(schedule: Schedule) -> tuple[str, ...]:
    """The environment variables of the schedule's webhook targets (secrets to redact)."""
    return tuple(sorted({t.webhook_env for t in schedule.targets.values() if t.webhook_env}))


def _wait_before(attempt: int, spec: ReportSpec, label: str, say: Progress) -> None:
    """Back off before ``attempt`` (2, 3, ...): ``retry_backoff_s``, then twice as long."""
    wait = spec.retry_backoff_s * 2 ** (attempt - 2)
    say(
        f"{label}: the database could not be reached; retry {attempt - 1} "
        f"of {spec.retries} in {wait:g} s"
    )
    time.sleep(wait)


def lock_job(job: Job, record: RunRecord, say: Progress) -> tuple[JobLock | None, int]:
    """The job's advisory lock (:mod:`.locks`) and the attempt it was taken at.

    While the database cannot be reached, tries again as the report's ``retries`` say; then
    returns ``(None, attempts)`` with ``record`` marked unreachable, for the caller to publish
    (nothing ran: no kernel could have reached the database either). Raises
    :class:`~iwm_lab.exceptions.ReportBusy` when another session holds the lock.
    """
    spec = job.report
    for attempt in range(1, spec.retries + 2):
        record.attempts = attempt
        if attempt > 1:
            _wait_before(attempt, spec, job.label, say)
        try:
            return take_job_lock(job.key, job.label), attempt
        except DatabaseUnavailable as exc:
            record.status, record.unreachable = FAILED, True
            record.error = short_message(str(exc))
    return None, spec.retries + 1


def run_job(
    schedule: Schedule,
    prepared: PreparedJob,
    *,
    keep_code: bool | None = None,
    self_contained: bool | None = None,
    progress: Progress | None = None,
    progress_bar: bool = True,
) -> RunResult:
    """Run one job now in this process, under its lock, and publish the result.

    Raises :class:`~iwm_lab.exceptions.ReportBusy` when the job is running elsewhere,
    ``KeyboardInterrupt`` (:class:`Terminated` for SIGTERM) after recording an interrupted
    run; a failed, held, timed-out or unreachable run is returned, not raised. A value the
    database rejects (:func:`.prepare.check_values`, unless done already) raises
    :class:`~iwm_lab.exceptions.ReportValueError` with nothing recorded.
    """
    job, say = prepared.job, progress or (lambda _message: None)
    directory = job_dir(schedule, job)
    redactor = redactor_for(schedule)
    record = new_record(prepared, "manual", None)
    lock, attempt = lock_job(job, record, say)
    if lock is None:
        return finish(schedule, job, record, None, redactor, say)
    with lock:
        clear_staging(directory)
        request = RunRequest(
            prepared,
            record,
            tuple(read_state(directory, job.key, job.label).runs),
            keep_code,
            self_contained,
            attempt,
            progress_bar,
            redact_env(schedule),
        )
        staging = directory / STAGING / record.run_id
        record, interrupted = execute_run(request, staging, say)
        with signals_deferred():
            render_run(request, staging, schedule.output_dir, record, say)
            result = finish(
                schedule, job, record, staging if staging.is_dir() else None, redactor, say
            )
    if interrupted is not None:
        raise interrupted
    return result


def execute_run(
    request: RunRequest, staging: Path, say: Progress, kernel: WarmKernel | None = None
) -> tuple[RunRecord, KeyboardInterrupt | None]:
    """Execute the notebook into ``staging``: the record, and the interrupt that stopped it
    (SIGINT, SIGTERM), if any, for the caller to raise once the run is published. Retries
    while the database cannot be reached, from ``request.first_attempt`` on.

    ``kernel`` is a warm kernel (:mod:`.kernels`) for the first attempt that starts one; it
    is shut down after that attempt, and later attempts start their own.

    Then :func:`render_run` (with signals deferred until the result is published or sent:
    the run is published whole or not at all).
    """
    prepared = request.prepared
    record = RunRecord.from_dict(dataclasses.asdict(request.record))  # the caller's stays
    job, spec = prepared.job, prepared.job.report
    interrupted: KeyboardInterrupt | None = None
    for attempt in range(request.first_attempt, spec.retries + 2):
        record.attempts = attempt
        record.status, record.error, record.unreachable = FAILED, None, False
        shutil.rmtree(staging, ignore_errors=True)
        try:
            if attempt > request.first_attempt:
                _wait_before(attempt, spec, job.label, say)
            began = time.perf_counter()
            ready = _ready(prepared, record)
            record.timings["check_s"] = round(time.perf_counter() - began, 3)
            if not ready:
                continue
            staging.mkdir(parents=True)
            warm, kernel = kernel, None  # one run per kernel: a retry starts afresh
            _execute(
                prepared,
                staging / f"{job.file_stem}.ipynb",
                record,
                say,
                request.progress_bar,
                warm,
            )
        except TimedOut as exc:
            record.status = TIMED_OUT
            record.error = f"{exc}: the kernel was stopped (timeout_s = {spec.timeout_s})"
            break
        except KeyboardInterrupt as exc:
            interrupted = exc
            signal_name = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
            record.status, record.error = INTERRUPTED, f"interrupted by {signal_name}"
            break
        # Only an outage is worth another attempt: a notebook's own error would repeat.
        if not record.unreachable:
            break
    return record, interrupted


def render_run(
    request: RunRequest, staging: Path, output_dir: Path, record: RunRecord, say: Progress
) -> None:
    """Annotate the executed notebook in ``staging`` and write its page (:func:`.render.render`)
    when the run got that far. ``output_dir`` is the output folder the run will be published
    in (the page links to its ``_static/`` relative to the run's folder there), or a stand-in
    for it on a worker; nothing outside ``staging`` and ``output_dir/_static`` is written."""
    if not staging.is_dir():
        return
    render(
        request.prepared,
        staging,
        record,
        Redactor.from_environment(extra_env=request.redact_env),
        keep_code=request.keep_code,
        self_contained=request.self_contained,
        history=request.history,
        output_dir=output_dir,
        say=say,
    )


def _ready(prepared: PreparedJob, record: RunRecord) -> bool:
    """The database answers at head and the values hold; False (recorded) when it does not.

    Also fingerprints what the report reads (``run_when = "data_changed"``), before the
    kernel starts: a write during the run makes the next run-due run again.
    """
    try:
        record.revision = check_database()
        if not prepared.values_checked:
            check_values([prepared])
        if prepared.job.report.run_when == "data_changed":
            record.data_stamp = data_key(prepared.job)
    except (DatabaseUnavailable, DatabaseNotReady) as exc:
        record.error = short_message(str(exc))
        record.unreachable = isinstance(exc, DatabaseUnavailable)
        return False
    except DBAPIError as exc:  # the connection failed while the values were checked
        name = type(exc.orig or exc).__name__
        record.error = failure_message(name, str(exc))
        record.unreachable = lost_database(type(exc).__name__, str(exc))
        return False
    return True


def data_key(job: Job) -> str:
    """What a run of ``job`` depends on, as one digest: the data it reads (fingerprinted on a
    read-only session on the primary, see :mod:`.datastamp`), the notebook's bytes and the
    parameters apart from ``as_of``. The same key as the last good run's: nothing new to
    show."""
    from iwm_lab.database import writes_url
    from iwm_lab.reports.datastamp import data_stamp

    # On the primary, read-only: a standby's statistics counters do not count replayed rows,
    # so a write on the primary would leave a standby's fingerprint unchanged.
    engine = get_engine(writes_url(database_url()))
    try:
        with engine.connect() as conn:
            stamp = data_stamp(conn, job.report.reads)
    finally:
        engine.dispose()
    digest = hashlib.sha256(stamp.digest.encode())
    digest.update(hashlib.sha256(job.report.notebook.read_bytes()).digest())
    others = {k: v for k, v in job.parameters.items() if k != AS_OF}
    digest.update(json.dumps(others, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:24]


def statement_timeout_of(spec: ReportSpec) -> int:
    """The statement timeout a report's kernel gets: the report's, else the settings'."""
    if spec.statement_timeout_ms is not None:
        return spec.statement_timeout_ms
    return get_settings().statement_timeout_ms


def _execute(
    prepared: PreparedJob,
    output: Path,
    record: RunRecord,
    say: Progress,
    progress_bar: bool,
    warm: WarmKernel | None = None,
) -> None:
    from papermill import execute_notebook
    from papermill.exceptions import PapermillExecutionError

    spec = prepared.job.report
    timeout = statement_timeout_of(spec)
    if warm is not None and not (warm.fits(spec.notebook.parent, timeout) and warm.alive()):
        warm.shutdown()  # started for another folder or timeout, or died: start one afresh
        warm = None
    say(f"{prepared.job.label}: executing {spec.notebook.name} (statement timeout {timeout} ms)")
    began = time.perf_counter()
    try:
        # An interrupted warm kernel is shut down last, after the deadline is disarmed.
        with (
            _shut_down_after(warm),
            _kernel_environment(timeout),
            interrupts_once(),
            deadline(spec.timeout_s),
        ):
            execute_notebook(
                str(spec.notebook),
                str(output),
                parameters=record.parameters,
                kernel_name=KERNEL,
                progress_bar=progress_bar,
                cwd=str(spec.notebook.parent),
                extra_arguments=[KERNEL_ARGUMENTS[0]],
                # A warm kernel: nbclient uses it and leaves it running for its owner.
                **({"km": warm.km} if warm is not None else {}),
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
        record.timings["warm_kernel"] = 1.0 if warm is not None else 0.0


@contextlib.contextmanager
def _shut_down_after(warm: WarmKernel | None) -> Iterator[None]:
    """Shut a warm kernel down at once when its run is interrupted (a timeout, Ctrl-C,
    SIGTERM), as nbclient does its own. A run that ends otherwise leaves it to its worker,
    which shuts it down after sending the result (a kernel takes a second or two to exit)."""
    try:
        yield
    except KeyboardInterrupt:
        if warm is not None:
            warm.shutdown()
        raise


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
