"""Run state in the output folder: history, the ``latest`` pointer, the folder lock, atomic writes.

Each job (a report, or one fan-out part) has a folder below the output root::

    ratings/
        .lock                 the folder lock: held while this folder is written (milliseconds)
        state.json            last scheduled slot run, and the run history (newest first)
        latest -> 20250310T060012Z-3f9a0c     only ever points at a successful run
        .staging/<run-id>/    a run being published (or, locally, executed); renamed into place
        20250310T060012Z-3f9a0c/   ratings.ipynb, ratings.html, run.json

Every file is replaced atomically (write a temporary file, then ``os.replace``), so readers
such as ``report list`` or the index never see half a file and need no lock.

Two locks, for two questions. *Who runs this job now* is a PostgreSQL advisory lock
(:mod:`.locks`), held by the coordinating process for the whole run, on every host. *Who
writes this folder now* is the folder lock, an fcntl lock on ``.lock``, held only while
``state.json`` is read, changed and replaced (and the run folder and ``latest`` moved into
place): by a run being published, a skipped run being recorded, a held run published by hand
and retention pruning. It is what keeps those read-modify-writes from losing each other's
changes, including the one a run records when the database could not be reached (and no
advisory lock could be taken). On an output folder shared between hosts, the volume must
support fcntl locks (NFSv4, CephFS, EFS and other persistent volumes do).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from iwm_lab.exceptions import ReportError

if TYPE_CHECKING:
    from iwm_lab.reports.schedule import Job, Schedule

STATE_FILE = "state.json"
RUN_FILE = "run.json"
LATEST = "latest"
STAGING = ".staging"
LOCK_FILE = ".lock"
OUTBOX_FILE = "outbox.json"  # messages to send (see .delivery)
HISTORY_LIMIT = 200
SKIPPED_LIMIT = 50  # skipped (unchanged) runs kept, newest first

SUCCESS, FAILED, INTERRUPTED = "success", "failed", "interrupted"
# Held: the notebook ran but a check failed; kept and viewable, ``latest`` stays.
HELD = "held"
TIMED_OUT = "timed_out"  # stopped after the report's timeout_s; ``latest`` stays
# run_when = "data_changed" and nothing the report reads changed: no kernel, no folder.
SKIPPED = "skipped"
# Statuses the failure targets are told about.
NOTIFY_FAILURE = (FAILED, TIMED_OUT, HELD)
_STATUS_TEXT = {TIMED_OUT: "timed out", SKIPPED: "skipped (unchanged)"}


def status_text(status: str) -> str:
    """A status as people read it: ``timed out``, ``skipped (unchanged)``, ``held``..."""
    return _STATUS_TEXT.get(status, status)


@dataclass
class RunRecord:
    """One run of a job, as kept in ``state.json`` and the run's ``run.json``."""

    run_id: str
    status: str
    trigger: str  # "manual" or "schedule"
    started: str  # ISO 8601, UTC
    finished: str | None = None
    seconds: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    files: list[str] = field(default_factory=list)  # in the run folder named run_id
    slot: str | None = None  # the scheduled time this run covered, for run-due
    revision: str | None = None
    as_of: str | None = None  # the data's as-of: ISO text, naive times in UTC
    ad_hoc: bool = False  # parameters the schedule does not run with (see reports.prepare)
    ad_hoc_reason: str | None = None
    # The database could not be reached: the run's slot stays due (see reports.due).
    unreachable: bool = False
    records: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    held_reasons: list[str] = field(default_factory=list)  # the checks a held run failed
    # What the report reads, fingerprinted before the kernel started (run_when).
    data_stamp: str | None = None
    attempts: int = 1  # more than one when the database could not be reached at first
    summary: list[str] = field(default_factory=list)  # the page's findings, for messages
    published: str | None = None  # when a held run was published by hand (ISO, UTC)
    pruned: str | None = None  # when retention deleted the run's folder (ISO, UTC)
    note: str | None = None  # e.g. why a run was skipped
    # Where the notebook was executed: the Dask worker's address, or the local worker process.
    ran_on: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})


@dataclass
class JobState:
    """``state.json`` of one job."""

    key: str
    label: str
    last_slot: str | None = None
    runs: list[RunRecord] = field(default_factory=list)  # newest first

    def add(self, run: RunRecord) -> None:
        runs = [run, *(r for r in self.runs if r.run_id != run.run_id)]
        # A data_changed report checked often must not push its real runs out with skips.
        skipped = [r for r in runs if r.status == SKIPPED][SKIPPED_LIMIT:]
        dropped = {r.run_id for r in skipped}
        self.runs = [r for r in runs if r.run_id not in dropped][:HISTORY_LIMIT]

    @property
    def last_run(self) -> RunRecord | None:
        return self.runs[0] if self.runs else None

    @property
    def last_success(self) -> RunRecord | None:
        return next((r for r in self.runs if r.status == SUCCESS), None)

    # A scheduled job's status and ``latest`` are those of runs with the schedule's
    # parameters: somebody's ad hoc experiment, failed or not, says nothing about the report.
    @property
    def last_scheduled_run(self) -> RunRecord | None:
        return next((r for r in self.runs if not r.ad_hoc), None)

    @property
    def last_scheduled_success(self) -> RunRecord | None:
        return next((r for r in self.runs if r.status == SUCCESS and not r.ad_hoc), None)

    @property
    def last_attempt(self) -> RunRecord | None:
        """The newest run made for a slot (by run-due), whatever became of it."""
        return next((r for r in self.runs if r.slot is not None), None)


def job_dir(schedule: Schedule, job: Job) -> Path:
    """The job's folder below the output root: history, lock, ``latest`` and run folders."""
    return schedule.output_dir / job.key


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: UTC time to the second plus six random hex digits."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def read_state(job_dir: Path, key: str, label: str) -> JobState:
    """The job's state; an empty one when it never ran."""
    path = job_dir / STATE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return JobState(key, label)
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except ValueError as exc:  # not JSON, or not UTF-8
        raise ReportError(f"cannot read {path}: {type(exc).__name__}") from None
    try:
        runs = [RunRecord.from_dict(r) for r in raw.get("runs", [])]
    except (AttributeError, TypeError):
        # Starting afresh would forget the job's history and slot: a person must look.
        raise ReportError(f"{path} is damaged: not a report state file") from None
    return JobState(raw.get("key", key), raw.get("label", label), raw.get("last_slot"), runs)


def write_state(job_dir: Path, state: JobState) -> None:
    """Replace ``state.json``; callers hold the job's folder lock (:func:`folder_lock`)."""
    write_json_atomic(job_dir / STATE_FILE, asdict(state))


def set_latest(job_dir: Path, run_id: str) -> None:
    """Point ``latest`` at a run folder, atomically (a new symlink renamed over the old)."""
    tmp = job_dir / f".{LATEST}.{secrets.token_hex(4)}"
    os.symlink(run_id, tmp)
    os.replace(tmp, job_dir / LATEST)


def latest_run_id(job_dir: Path) -> str | None:
    try:
        return os.readlink(job_dir / LATEST)
    except (FileNotFoundError, OSError):
        return None


def try_job_lock(job_dir: Path) -> TextIO | None:
    """Take the job's folder lock without waiting; None when another process holds it.

    Closing the handle releases the lock, as does the death of the process holding it.
    Retention prunes under it, and skips a job whose folder is being written.
    """
    job_dir.mkdir(parents=True, exist_ok=True)
    handle = open(job_dir / LOCK_FILE, "a+")  # noqa: SIM115 - returned to the caller
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@contextlib.contextmanager
def folder_lock(job_dir: Path) -> Iterator[None]:
    """Hold the job's folder lock while ``state.json`` is read, changed and written (waits:
    its holders keep it for milliseconds, or while retention deletes a few folders)."""
    job_dir.mkdir(parents=True, exist_ok=True)
    with open(job_dir / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def clear_staging(job_dir: Path) -> None:
    """Remove what runs that died left in ``.staging`` (the caller holds the job's advisory
    lock, so no other run of the job is staging there)."""
    shutil.rmtree(job_dir / STAGING, ignore_errors=True)


def drop_staging_folder(job_dir: Path) -> None:
    """Remove ``.staging`` itself once it is empty."""
    with contextlib.suppress(OSError):
        (job_dir / STAGING).rmdir()


@contextlib.contextmanager
def index_lock(output_dir: Path) -> Iterator[None]:
    """Serialise writers of the index page (waits; writing it takes milliseconds)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / ".index.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def scan_states(output_dir: Path) -> list[JobState]:
    """Every job that has a ``state.json`` below ``output_dir``, in key order."""
    found = []
    for path in sorted(output_dir.glob(f"**/{STATE_FILE}")):
        job_dir = path.parent
        key = job_dir.relative_to(output_dir).as_posix()
        state = read_state(job_dir, key, key)
        state.key = key  # where it is now, should the folder have been moved
        found.append(state)
    return found
