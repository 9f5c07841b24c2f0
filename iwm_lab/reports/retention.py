"""Retention: delete old run folders as the schedule's ``retention`` says, and nothing else.

``retention = { keep_last = 20, keep_days = 90 }`` on a report (or in ``[defaults]``) prunes
each of its jobs' run folders that is beyond the newest ``keep_last`` run folders, or that
started more than ``keep_days`` days ago (either rule is enough). Without ``retention`` a
report keeps every run. Whatever the rules say, these are kept:

- the run ``latest`` points at, and the job's latest good run (scheduled or not);
- a held run (a check failed; kept for someone to look at or publish) younger than
  ``keep_days``, or with ``keep_last`` only, the newest held run;
- anything in ``.staging`` (a run in progress), and anything that is not a run folder: only
  real directories (not symbolic links) directly in the job's folder, named like a run id
  (``20250310T060012Z-3f9a0c``), whose resolved path lies inside the output folder, are ever
  deleted. Other folders and links named like runs are reported as skipped.

Only the schedule's jobs are pruned (their retention is known); the folders of ad hoc fan-out
values and of reports no longer scheduled are left alone.

Deleting happens under the job's folder lock (a job whose folder is being written, a run
being published, is skipped and reported): each
folder is first renamed to ``<job>/.pruning-<run id>``, the run's record in ``state.json``
is marked ``pruned`` (and kept: the history keeps its figures), then the folder is deleted. A
crash leaves a ``.pruning-`` folder, never a half run that looks whole; the next prune
deletes it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from iwm_lab.exceptions import ReportError
from iwm_lab.reports.rules import Retention
from iwm_lab.reports.schedule import Job, Schedule
from iwm_lab.reports.state import (
    HELD,
    LATEST,
    JobState,
    job_dir,
    latest_run_id,
    read_state,
    try_job_lock,
    write_state,
)

RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
PRUNING = ".pruning-"
PRUNE, KEEP, SKIP = "prune", "keep", "skip"
_LEFTOVER = "left behind by an interrupted prune"
_UNITS = ("bytes", "kB", "MB", "GB", "TB")


@dataclass(frozen=True)
class PruneItem:
    """One run folder retention deletes (``prune``), would delete but must keep (``keep``),
    or leaves alone because it is not safely a run folder or the job is busy (``skip``)."""

    job: str  # the job's label, e.g. ratings or streaming_coverage[region=US]
    key: str  # the job's folder below the output root
    run_id: str  # the folder's name; empty for the job's folder as a whole
    action: str  # PRUNE, KEEP or SKIP
    reason: str  # "beyond keep_last=20", "older than 90 days", why it is kept or skipped
    started: str | None = None  # ISO 8601, UTC
    status: str | None = None
    bytes: int = 0

    def describe(self, dry_run: bool = False) -> str:
        """One line for people: what happens to the folder, and why."""
        where = f"{self.job} {self.run_id}" if self.run_id else self.job
        if self.action == PRUNE:
            verb = "would prune" if dry_run else "pruned"
            facts = ", ".join(
                fact
                for fact in (
                    _started(self.started),
                    self.status or "no record",
                    size_text(self.bytes),
                )
                if fact
            )
            return f"{verb} {where} ({facts}): {self.reason}"
        verb = "kept" if self.action == KEEP else "skipped"
        return f"{verb} {where}: {self.reason}"


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune` did (or, with ``dry_run``, would do)."""

    items: tuple[PruneItem, ...]
    dry_run: bool = False

    @property
    def pruned(self) -> list[PruneItem]:
        return [item for item in self.items if item.action == PRUNE]

    @property
    def skipped(self) -> list[PruneItem]:
        return [item for item in self.items if item.action == SKIP]

    @property
    def bytes_freed(self) -> int:
        return sum(item.bytes for item in self.pruned)

    def describe(self) -> list[str]:
        """Lines for the CLI: each pruned and skipped folder (and in a dry run the ones kept
        against the rules), then the total. Empty when there was nothing to say."""
        lines = [
            item.describe(self.dry_run)
            for item in self.items
            if item.action != KEEP or self.dry_run
        ]
        pruned = self.pruned
        if pruned:
            verb = "would free" if self.dry_run else "freed"
            runs = f"{len(pruned):,} run{'s' if len(pruned) != 1 else ''}"
            lines.append(f"{verb} {size_text(self.bytes_freed)} in {runs}")
        return lines


def size_text(count: int) -> str:
    """``512 bytes``, ``34.2 MB``: decimal units, as file managers show them."""
    value = float(count)
    for unit in _UNITS:
        if value < 1000 or unit == _UNITS[-1]:
            return f"{count:,} bytes" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _started(started: str | None) -> str:
    moment = _parse(started)
    return f"started {moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _id_time(run_id: str) -> datetime:
    return datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _days(days: float) -> str:
    return f"{days:g} day{'' if days == 1 else 's'}"


def _folder_bytes(path: Path) -> int:
    """Bytes of everything below ``path``, links counted as themselves (never followed)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            with contextlib.suppress(OSError):  # gone meanwhile
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root)


@dataclass
class _Run:
    run_id: str
    started: datetime
    status: str | None
    started_text: str | None
    path: Path


def _plan_job(schedule: Schedule, job: Job, retention: Retention, now: datetime) -> list[PruneItem]:
    """What retention does with one job's folder; reads only."""
    directory = job_dir(schedule, job)
    if not directory.is_dir():
        return []
    root = schedule.output_dir.resolve()
    if not _inside(directory, root):
        reason = "the job's folder resolves outside the output folder: left alone"
        return [PruneItem(job.label, job.key, "", SKIP, reason)]
    try:
        state = read_state(directory, job.key, job.label)
    except ReportError as exc:  # a damaged state.json: without it nothing is known to be safe
        return [PruneItem(job.label, job.key, "", SKIP, f"{exc}: left alone")]
    records = {run.run_id: run for run in state.runs}
    items: list[PruneItem] = []
    runs: list[_Run] = []

    def run(run_id: str, path: Path) -> _Run:
        record = records.get(run_id)
        started = _parse(record.started if record else None) or _id_time(run_id)
        return _Run(run_id, started, record.status if record else None, started.isoformat(), path)

    def item(found: _Run, action: str, reason: str) -> PruneItem:
        size = _folder_bytes(found.path) if action == PRUNE else 0
        return PruneItem(
            job.label, job.key, found.run_id, action, reason, found.started_text, found.status, size
        )

    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        path = Path(entry.path)
        if entry.name.startswith(PRUNING) and RUN_ID.match(entry.name[len(PRUNING) :]):
            if _real_dir(path):  # left by a prune that stopped half way: finish it
                leftover = run(entry.name[len(PRUNING) :], path)
                items.append(item(leftover, PRUNE, _LEFTOVER))
            continue
        if entry.name.startswith(".") or entry.name == LATEST or not entry.is_dir():
            continue  # the job's own files (state, lock, staging), or not a folder at all
        if not RUN_ID.match(entry.name):
            reason = "not a run folder (its name is not a run id): left alone"
        elif entry.is_symlink():
            reason = "a symbolic link named like a run, not a run folder: left alone"
        elif not _inside(path, root):
            reason = "resolves outside the output folder: left alone"
        else:
            runs.append(run(entry.name, path))
            continue
        items.append(PruneItem(job.label, job.key, entry.name, SKIP, reason))

    items += _apply_rules(runs, state, directory, retention, now, item)
    return items


def _apply_rules(
    runs: list[_Run],
    state: JobState,
    directory: Path,
    retention: Retention,
    now: datetime,
    item: Callable[[_Run, str, str], PruneItem],
) -> list[PruneItem]:
    runs = sorted(runs, key=lambda r: (r.started, r.run_id), reverse=True)  # newest first
    target = latest_run_id(directory)
    latest = os.path.basename(os.path.normpath(target)) if target else None
    good = {r.run_id for r in (state.last_scheduled_success, state.last_success) if r}
    newest_held = next((r.run_id for r in runs if r.status == HELD), None)
    keep_days = retention.keep_days
    items = []
    for position, found in enumerate(runs):
        reasons = []
        if retention.keep_last is not None and position >= retention.keep_last:
            reasons.append(f"beyond keep_last={retention.keep_last}")
        young = keep_days is None or now - found.started <= timedelta(days=keep_days)
        if not young and keep_days is not None:
            reasons.append(f"older than {_days(keep_days)}")
        if not reasons:
            continue
        rules = " and ".join(reasons)
        guard = None
        if found.run_id == latest:
            guard = "latest points at it"
        elif found.run_id in good:
            guard = "the report's latest good run"
        elif found.status == HELD and keep_days is not None and young:
            guard = f"a held run younger than {_days(keep_days)}"
        elif found.status == HELD and keep_days is None and found.run_id == newest_held:
            guard = "the newest held run"
        if guard:
            items.append(item(found, KEEP, f"{guard} (though {rules})"))
        else:
            items.append(item(found, PRUNE, rules))
    return items


def _jobs(schedule: Schedule) -> list[tuple[Job, Retention]]:
    return [
        (job, job.report.retention) for job in schedule.jobs() if job.report.retention is not None
    ]


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def plan_prune(schedule: Schedule, *, now: datetime | None = None) -> list[PruneItem]:
    """What :func:`prune` would do now, for every scheduled job with a ``retention``.

    Reads the output folder only: no lock is taken (a job busy now may be skipped later) and
    nothing is written. ``now`` (default: the clock; naive means UTC) decides ``keep_days``.
    """
    moment = _now(now)
    return [
        item
        for job, retention in _jobs(schedule)
        for item in _plan_job(schedule, job, retention, moment)
    ]


def prune(schedule: Schedule, *, dry_run: bool = False, now: datetime | None = None) -> PruneReport:
    """Apply each scheduled report's ``retention`` to its jobs' run folders.

    ``dry_run`` deletes nothing and writes nothing (not even a lock file): the report says
    what would be pruned, kept against the rules, or skipped. Otherwise each job is pruned
    under its folder lock; a job whose folder is being written is skipped and reported.
    """
    moment = _now(now)
    if dry_run:
        return PruneReport(tuple(plan_prune(schedule, now=moment)), dry_run=True)
    items: list[PruneItem] = []
    for job, retention in _jobs(schedule):
        directory = job_dir(schedule, job)
        if not directory.is_dir():
            continue  # never ran: nothing to prune, and no folder to create for a lock
        if not _inside(directory, schedule.output_dir.resolve()):
            # Not even a lock file is written there: the plan says why it is left alone.
            items += _plan_job(schedule, job, retention, moment)
            continue
        handle = try_job_lock(directory)
        if handle is None:
            busy = (
                "the job's folder is being written (a run in progress is being published): "
                "not pruned this time"
            )
            items += [
                replace(found, action=SKIP, reason=f"{busy} ({found.reason})", bytes=0)
                for found in _plan_job(schedule, job, retention, moment)
                if found.action == PRUNE
            ]
            continue
        try:
            _mark_holder(handle)
            items += _prune_job(schedule, job, retention, moment)
        finally:
            handle.close()
    return PruneReport(tuple(items))


def _mark_holder(handle: TextIO) -> None:
    # What a run that finds the job busy shows as the lock's holder.
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} (pruning)")
    handle.flush()


def _prune_job(
    schedule: Schedule, job: Job, retention: Retention, now: datetime
) -> list[PruneItem]:
    """Prune one job whose lock the caller holds: rename, mark the records, then delete."""
    directory = job_dir(schedule, job)
    plan = _plan_job(schedule, job, retention, now)
    done: list[PruneItem] = []
    renamed: list[tuple[PruneItem, Path]] = []
    for found in plan:
        if found.action != PRUNE:
            done.append(found)
            continue
        aside = directory / f"{PRUNING}{found.run_id}"
        source = directory / found.run_id
        if found.reason == _LEFTOVER:  # already moved aside; checked again before deleting
            renamed.append((found, aside))
            continue
        if not _real_dir(source):  # replaced by a link or removed since it was planned
            done.append(replace(found, action=SKIP, reason="changed while pruning", bytes=0))
            continue
        try:
            os.rename(source, aside)
        except OSError as exc:
            reason = f"cannot be moved aside: {exc.strerror or type(exc).__name__}"
            done.append(replace(found, action=SKIP, reason=reason, bytes=0))
            continue
        renamed.append((found, aside))
    if renamed:
        _mark_pruned(directory, job, {found.run_id for found, _ in renamed}, now)
    for found, aside in renamed:
        try:
            if not _real_dir(aside):
                raise OSError(0, "no longer a folder")
            shutil.rmtree(aside)
        except OSError as exc:
            reason = (
                f"moved aside to {aside.name} but not deleted "
                f"({exc.strerror or type(exc).__name__}); the next prune retries"
            )
            done.append(replace(found, action=SKIP, reason=reason, bytes=0))
            continue
        done.append(found)
    return done


def _mark_pruned(directory: Path, job: Job, run_ids: set[str], now: datetime) -> None:
    state = read_state(directory, job.key, job.label)
    when = now.isoformat(timespec="seconds")
    changed = False
    for record in state.runs:
        if record.run_id in run_ids and record.pruned is None:
            record.pruned = when
            changed = True
    if changed:
        write_state(directory, state)
