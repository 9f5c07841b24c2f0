"""Retention: ``iwm-lab report prune`` deletes old run folders, and only those it may."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from iwm_lab.reports.retention import (
    KEEP,
    PRUNE,
    SKIP,
    PruneItem,
    plan_prune,
    prune,
    size_text,
)
from iwm_lab.reports.schedule import Job, Schedule, parse_schedule
from iwm_lab.reports.state import (
    FAILED,
    HELD,
    SUCCESS,
    JobState,
    RunRecord,
    job_dir,
    read_state,
    set_latest,
    try_job_lock,
    write_state,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RUN_BYTES = 1000


def make_schedule(tmp_path: Path, retention: dict[str, Any] | None, **extra: Any) -> Schedule:
    report: dict[str, Any] = {"notebook": "ratings.ipynb", "cron": "0 6 * * *", **extra}
    if retention is not None:
        report["retention"] = retention
    raw = {"output": "output", "reports": {"ratings": report}}
    return parse_schedule(raw, tmp_path / "schedule.toml")


@dataclass(frozen=True)
class Fake:
    """A run to lay down: its age in days, status, and whether it was ad hoc."""

    age: float
    status: str = SUCCESS
    ad_hoc: bool = False


def run_id(age: float) -> str:
    started = NOW - timedelta(days=age)
    return f"{started:%Y%m%dT%H%M%SZ}-{int(age * 100) % 0xFFFFFF:06x}"


def lay_down(
    schedule: Schedule, runs: Iterable[Fake], *, latest: float | None = None, job: Job | None = None
) -> Path:
    """Folders with a file of RUN_BYTES, their records (newest first) and ``latest``."""
    job = job or schedule.jobs()[0]
    directory = job_dir(schedule, job)
    state = JobState(job.key, job.label)
    for fake in sorted(runs, key=lambda f: f.age, reverse=True):  # oldest added first
        rid = run_id(fake.age)
        (directory / rid).mkdir(parents=True)
        (directory / rid / "ratings.html").write_bytes(b"x" * RUN_BYTES)
        started = (NOW - timedelta(days=fake.age)).isoformat(timespec="seconds")
        state.add(RunRecord(rid, fake.status, "schedule", started, ad_hoc=fake.ad_hoc))
    write_state(directory, state)
    if latest is not None:
        set_latest(directory, run_id(latest))
    return directory


def listing(root: Path) -> dict[str, tuple[str, int, float]]:
    """Every path below ``root`` (links not followed): kind, size, modification time."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
        found[str(path.relative_to(root))] = (kind, info.st_size, info.st_mtime)
    return found


def remaining(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if p.is_dir() and not p.is_symlink()}


def ages(items: Iterable[PruneItem], action: str = PRUNE) -> list[float]:
    by_id = {run_id(age): age for age in [n / 4 for n in range(0, 1601)]}
    return sorted(by_id[item.run_id] for item in items if item.action == action)


@pytest.mark.parametrize(
    ("retention", "runs", "pruned", "reason"),
    [
        ({"keep_last": 2}, [1, 2, 3, 4, 5], [3, 4, 5], "beyond keep_last=2"),
        ({"keep_days": 10}, [1, 5, 20, 40], [20, 40], "older than 10 days"),
        ({"keep_days": 0.5}, [0.25, 1], [1], "older than 0.5 days"),
        (
            {"keep_last": 3, "keep_days": 10},
            [1, 2, 3, 4, 30],
            [4, 30],
            "beyond keep_last=3 and older than 10 days",
        ),
    ],
)
def test_runs_beyond_keep_last_or_older_than_keep_days_are_pruned(
    tmp_path: Path, retention: dict[str, Any], runs: list[float], pruned: list[float], reason: str
) -> None:
    schedule = make_schedule(tmp_path, retention)
    directory = lay_down(schedule, [Fake(age) for age in runs], latest=min(runs))
    report = prune(schedule, now=NOW)
    assert ages(report.items) == pruned
    assert report.pruned[-1].reason == reason  # the oldest: both rules when both apply
    assert remaining(directory) == {run_id(age) for age in runs if age not in pruned}
    assert report.bytes_freed == RUN_BYTES * len(pruned)
    assert os.readlink(directory / "latest") == run_id(min(runs))
    assert not any(p.name.startswith(".pruning-") for p in directory.iterdir())


def test_the_latest_good_run_is_kept_however_old(tmp_path: Path) -> None:
    schedule = make_schedule(tmp_path, {"keep_last": 1, "keep_days": 10})
    runs = [Fake(1, FAILED), Fake(2, FAILED), Fake(50, SUCCESS, ad_hoc=True), Fake(100), Fake(200)]
    directory = lay_down(schedule, runs, latest=100)
    plan = plan_prune(schedule, now=NOW)
    assert ages(plan) == [2, 200]
    assert ages(plan, KEEP) == [50, 100]
    reasons = {item.run_id: item.reason for item in plan if item.action == KEEP}
    assert (
        reasons[run_id(100)]
        == "latest points at it (though beyond keep_last=1 and older than 10 days)"
    )
    assert reasons[run_id(50)].startswith("the report's latest good run")
    prune(schedule, now=NOW)
    assert remaining(directory) == {run_id(1), run_id(50), run_id(100)}


def test_the_latest_good_run_is_kept_when_latest_is_missing(tmp_path: Path) -> None:
    schedule = make_schedule(tmp_path, {"keep_last": 1})
    directory = lay_down(schedule, [Fake(1, FAILED), Fake(3), Fake(5)])
    prune(schedule, now=NOW)
    assert remaining(directory) == {run_id(1), run_id(3)}


@pytest.mark.parametrize(
    ("retention", "later", "kept"),
    [
        ({"keep_last": 1, "keep_days": 10}, 0, [1, 3, 5]),  # held, 3 and 5 days old: kept
        ({"keep_last": 1, "keep_days": 10}, 30, [1]),  # held, 33 days old: pruned
        ({"keep_last": 1}, 0, [1, 3]),  # keep_last only: the newest held run stays...
        ({"keep_last": 1}, 400, [1, 3]),  # ...however old
    ],
)
def test_a_held_run_is_kept_while_young(
    tmp_path: Path, retention: dict[str, Any], later: float, kept: list[float]
) -> None:
    schedule = make_schedule(tmp_path, retention)
    directory = lay_down(schedule, [Fake(1), Fake(3, HELD), Fake(5, HELD)], latest=1)
    prune(schedule, now=NOW + timedelta(days=later))
    assert remaining(directory) == {run_id(age) for age in kept}


def test_only_real_run_folders_inside_the_output_folder_are_deleted(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (outside / "precious").mkdir(parents=True)
    (outside / "precious" / "data.csv").write_text("keep me")
    (outside / "file.txt").write_text("keep me too")
    schedule = make_schedule(tmp_path, {"keep_last": 1})
    directory = lay_down(schedule, [Fake(1), Fake(2)], latest=1)
    linked = run_id(300)
    (directory / linked).symlink_to(outside / "precious")  # named like a run, points outside
    (directory / "notes").mkdir()  # a foreign folder
    (directory / "notes" / "a.txt").write_text("mine")
    (directory / run_id(400)).write_text("a file named like a run")
    (directory / "linked-file").symlink_to(outside / "file.txt")
    (directory / ".staging" / run_id(0.1)).mkdir(parents=True)  # a run in progress

    dry = prune(schedule, dry_run=True, now=NOW)
    skipped = {item.run_id: item.reason for item in dry.items if item.action == SKIP}
    assert skipped == {
        linked: "a symbolic link named like a run, not a run folder: left alone",
        "notes": "not a run folder (its name is not a run id): left alone",
    }

    report = prune(schedule, now=NOW)
    assert [item.run_id for item in report.pruned] == [run_id(2)]
    assert (outside / "precious" / "data.csv").read_text() == "keep me"
    assert (outside / "file.txt").read_text() == "keep me too"
    assert (directory / linked).is_symlink()
    assert (directory / "notes" / "a.txt").read_text() == "mine"
    assert (directory / run_id(400)).is_file()
    assert (directory / ".staging" / run_id(0.1)).is_dir()


def test_a_job_folder_that_resolves_outside_the_output_folder_is_left_alone(
    tmp_path: Path,
) -> None:
    schedule = make_schedule(tmp_path, {"keep_last": 1})
    elsewhere = tmp_path / "elsewhere" / "ratings"
    inside = job_dir(schedule, schedule.jobs()[0])
    lay_down(schedule, [Fake(1), Fake(2), Fake(3)], latest=1)
    elsewhere.parent.mkdir()
    inside.rename(elsewhere)
    inside.symlink_to(elsewhere)
    before = listing(elsewhere)
    report = prune(schedule, now=NOW)
    assert [(item.action, item.run_id) for item in report.items] == [(SKIP, "")]
    assert "outside the output folder" in report.items[0].reason
    assert listing(elsewhere) == before


def test_a_dry_run_changes_nothing(tmp_path: Path) -> None:
    schedule = make_schedule(tmp_path, {"keep_last": 2})
    directory = lay_down(schedule, [Fake(1), Fake(2), Fake(3), Fake(4)], latest=1)
    (directory / ".lock").unlink(missing_ok=True)
    before = listing(tmp_path)
    report = prune(schedule, dry_run=True, now=NOW)
    assert listing(tmp_path) == before
    assert not (directory / ".lock").exists()  # not even a lock file
    assert ages(report.items) == [3, 4]
    assert report.describe() == [
        f"would prune ratings {run_id(3)} (started 2026-05-29 12:00 UTC, success, 1.0 kB): "
        "beyond keep_last=2",
        f"would prune ratings {run_id(4)} (started 2026-05-28 12:00 UTC, success, 1.0 kB): "
        "beyond keep_last=2",
        "would free 2.0 kB in 2 runs",
    ]
    assert read_state(directory, "ratings", "ratings").runs[-1].pruned is None


def test_a_busy_job_is_skipped(tmp_path: Path) -> None:
    schedule = make_schedule(tmp_path, {"keep_last": 1})
    directory = lay_down(schedule, [Fake(1), Fake(2), Fake(3)], latest=1)
    handle = try_job_lock(directory)
    assert handle is not None
    try:
        before = listing(directory)
        report = prune(schedule, now=NOW)
        assert listing(directory) == before
    finally:
        handle.close()
    assert report.pruned == [] and report.bytes_freed == 0
    assert [item.run_id for item in report.skipped] == [run_id(2), run_id(3)]
    assert all("in progress" in item.reason for item in report.skipped)
    assert prune(schedule, now=NOW).bytes_freed == 2 * RUN_BYTES  # once the run is over


def test_the_state_keeps_pruned_records_with_their_figures(tmp_path: Path) -> None:
    schedule = make_schedule(tmp_path, {"keep_days": 10})
    directory = lay_down(schedule, [Fake(1), Fake(20), Fake(30)], latest=1)
    state = read_state(directory, "ratings", "ratings")
    state.runs[-1].records = {"reviews": 1234}
    write_state(directory, state)
    report = prune(schedule, now=NOW)
    assert report.describe()[-1] == "freed 2.0 kB in 2 runs"
    runs = {run.run_id: run for run in read_state(directory, "ratings", "ratings").runs}
    assert set(runs) == {run_id(1), run_id(20), run_id(30)}
    assert runs[run_id(1)].pruned is None
    assert runs[run_id(20)].pruned == runs[run_id(30)].pruned == "2026-06-01T12:00:00+00:00"
    assert runs[run_id(30)].records == {"reviews": 1234}
    assert prune(schedule, now=NOW).items == ()  # nothing left to do


def test_an_interrupted_prune_is_finished(tmp_path: Path) -> None:
    schedule = make_schedule(tmp_path, {"keep_last": 1})
    directory = lay_down(schedule, [Fake(1), Fake(2)], latest=1)
    (directory / run_id(2)).rename(directory / f".pruning-{run_id(2)}")  # a crash came here
    report = prune(schedule, now=NOW)
    assert [(item.run_id, item.reason) for item in report.pruned] == [
        (run_id(2), "left behind by an interrupted prune")
    ]
    assert {p.name for p in directory.iterdir() if p.is_dir()} == {run_id(1), "latest"}
    assert remaining(directory) == {run_id(1)}
    runs = read_state(directory, "ratings", "ratings").runs
    assert [run.pruned is not None for run in runs] == [False, True]


def test_a_job_with_a_damaged_state_is_left_alone(tmp_path: Path) -> None:
    schedule = make_schedule(tmp_path, {"keep_last": 1})
    directory = lay_down(schedule, [Fake(1), Fake(2), Fake(3)], latest=1)
    (directory / "state.json").write_text('{"runs": [1, 2]}')
    before = listing(directory)
    report = prune(schedule, now=NOW)
    assert [(item.action, item.run_id) for item in report.items] == [(SKIP, "")]
    assert report.items[0].reason.endswith("is damaged: not a report state file: left alone")
    after = listing(directory)
    after.pop(".lock", None)  # the job's lock was taken, and nothing else touched
    assert after == before


def test_without_retention_every_run_stays(tmp_path: Path) -> None:
    schedule = make_schedule(tmp_path, None)
    directory = lay_down(schedule, [Fake(age) for age in range(1, 30)], latest=1)
    before = listing(directory)
    assert prune(schedule, now=NOW).items == ()
    assert listing(directory) == before


def test_each_fan_out_part_is_pruned_on_its_own(tmp_path: Path) -> None:
    schedule = make_schedule(tmp_path, {"keep_last": 1}, for_each={"region": ["US", "IN"]})
    folders = [lay_down(schedule, [Fake(1), Fake(2)], latest=1, job=job) for job in schedule.jobs()]
    report = prune(schedule, now=NOW)
    assert sorted(item.job for item in report.pruned) == [
        "ratings[region=IN]",
        "ratings[region=US]",
    ]
    assert [remaining(folder) for folder in folders] == [{run_id(1)}, {run_id(1)}]


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 bytes"), (999, "999 bytes"), (1000, "1.0 kB"), (35_200_000, "35.2 MB")],
)
def test_sizes_in_words(count: int, text: str) -> None:
    assert size_text(count) == text
