"""A due report whose data is unchanged against one that renders: what ``run_when`` saves.

The streaming coverage report (one part, region US) with ``run_when = "data_changed"`` runs
against the benchmark database at scale ``small`` (the one ``bench_cli`` prepares and keeps in
``--dir``). Each ``run_due`` call is given the next minute as "now", so each has one slot to
run. Timed, alternating, ``--runs`` times each:

- **rendered**: ``run_due(..., force=True)``: a worker process, a kernel, the notebook, the
  HTML page, publication (what every run cost before ``run_when``);
- **skipped**: ``run_due(...)`` with nothing changed: the data fingerprint, compared with the
  last good run's, and a "skipped (unchanged)" record, without a worker or a kernel.

Prints the medians, the ratio, and the fingerprint's own time from the skip messages.

    python -m benchmarks.bench_run_due
    python -m benchmarks.bench_run_due --runs 5 --dir /var/tmp/iwm-cli-bench
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

from benchmarks.bench_cli import SCALE, small_database
from iwm_lab.settings import NOTEBOOKS_DIR

SCHEDULE = """\
[reports.coverage]
notebook = "{notebook}"
cron = "* * * * *"
for_each = {{ region = ["US"] }}
run_when = "data_changed"
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each kind")
    parser.add_argument("--dir", type=Path, default=None, help="the benchmark database's folder")
    args = parser.parse_args(argv)
    with small_database(args.dir):
        rendered, skipped, fingerprints = measure(args.runs)
    print(
        f"iwm-lab {version('iwm-lab')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
        f"{datetime.now(UTC):%Y-%m-%d}; {args.runs} runs of each, alternating; "
        f"streaming coverage (region US) at scale {SCALE}"
    )
    print("\n| run-due of a due report | median s | min-max s |")
    print("|---|---:|---:|")
    for name, seconds in (("rendered (force)", rendered), ("skipped (unchanged)", skipped)):
        print(
            f"| {name} | {statistics.median(seconds):.3f} | {min(seconds):.3f}-{max(seconds):.3f} |"
        )
    ratio = statistics.median(rendered) / statistics.median(skipped)
    print(
        f"\nrendered / skipped: {ratio:,.0f}x; the skip's fingerprint and record: "
        f"median {statistics.median(fingerprints):.0f} ms"
    )


def measure(runs: int) -> tuple[list[float], list[float], list[float]]:
    from iwm_lab.reports.due import run_due
    from iwm_lab.reports.schedule import load_schedule

    work = Path(tempfile.mkdtemp(prefix="iwm-bench-run-due-"))
    path = work / "schedule.toml"
    path.write_text(SCHEDULE.format(notebook=NOTEBOOKS_DIR / "streaming_coverage.ipynb"))
    schedule = load_schedule(path, work / "output")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rendered: list[float] = []
    skipped: list[float] = []
    fingerprints: list[float] = []
    for attempt in range(runs + 1):
        for force in (True, False):
            now += timedelta(minutes=1)
            began = time.perf_counter()
            [outcome] = run_due(schedule, now=now, force=force)
            took = time.perf_counter() - began
            expected = "success" if force else "skipped"
            if outcome.status != expected:
                raise SystemExit(
                    f"error: expected {expected}, got {outcome.status}: {outcome.message}"
                )
            if attempt == 0:  # warm-up: the first kernel and the file cache
                continue
            (rendered if force else skipped).append(took)
            if not force and (match := re.search(r"\((\d+) ms\)", outcome.message)):
                fingerprints.append(float(match[1]))
    return rendered, skipped, fingerprints


if __name__ == "__main__":
    main()
