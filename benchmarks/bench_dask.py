"""run-due of four due report parts: two local worker processes against two Dask workers.

The streaming coverage report fanned out over four regions (US, UK, IN, CA) runs against the
benchmark database at scale ``small`` (the one ``bench_cli`` prepares and keeps in
``--dir``). Each ``run_due`` call is given the next minute as "now", so all four parts are
due each time. Timed, alternating, ``--runs`` times each (after one warm-up round each):

- **local**: ``run_due(..., jobs=2)``, what ``iwm-lab report run-due --jobs 2`` does: two
  worker processes on this host at a time, each executing one part;
- **dask**: ``run_due(..., executor="dask://...")`` on a ``distributed.LocalCluster`` of two
  single-threaded worker processes on 127.0.0.1 (started once, before the rounds; its
  start-up is printed apart): each part is a task whose files come back to this process,
  which publishes them.

Both publish the same way here (advisory lock, files written, state, index); the difference
is where the notebook runs and how its files travel. Prints the medians and the ranges.

    python -m benchmarks.bench_dask
    python -m benchmarks.bench_dask --runs 5 --dir /var/tmp/iwm-cli-bench
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

from benchmarks.bench_cli import SCALE, small_database
from iwm_lab.settings import NOTEBOOKS_DIR

REGIONS = ("US", "UK", "IN", "CA")
SCHEDULE = """\
[reports.coverage]
notebook = "{notebook}"
cron = "* * * * *"
for_each = {{ region = [{regions}] }}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed rounds of each executor")
    parser.add_argument("--dir", type=Path, default=None, help="the benchmark database's folder")
    args = parser.parse_args(argv)
    # The environment is set before the cluster starts: its workers, and their kernels,
    # inherit it.
    with small_database(args.dir):
        local, dask, cluster_s = measure(args.runs)
    print(
        f"iwm-lab {version('iwm-lab')}, distributed {version('distributed')}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}, {datetime.now(UTC):%Y-%m-%d}; {args.runs} rounds of each, "
        f"alternating; streaming coverage for {', '.join(REGIONS)} at scale {SCALE}"
    )
    print("\n| run-due of 4 due parts | median s | min-max s |")
    print("|---|---:|---:|")
    for name, seconds in (
        ("local, --jobs 2 (2 worker processes)", local),
        ("Dask, LocalCluster of 2 workers x 1 thread", dask),
    ):
        print(
            f"| {name} | {statistics.median(seconds):.2f} | {min(seconds):.2f}-{max(seconds):.2f} |"
        )
    ratio = statistics.median(dask) / statistics.median(local)
    print(f"\nDask / local: {ratio:.2f}; the cluster started in {cluster_s:.1f} s (not counted)")


def measure(runs: int) -> tuple[list[float], list[float], float]:
    from distributed import LocalCluster

    from iwm_lab.reports.due import run_due
    from iwm_lab.reports.schedule import load_schedule

    work = Path(tempfile.mkdtemp(prefix="iwm-bench-dask-"))
    path = work / "schedule.toml"
    regions = ", ".join(f'"{r}"' for r in REGIONS)
    notebook = NOTEBOOKS_DIR / "streaming_coverage.ipynb"
    path.write_text(SCHEDULE.format(notebook=notebook, regions=regions))
    schedule = load_schedule(path, work / "output")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    local: list[float] = []
    dask: list[float] = []
    began = time.perf_counter()
    with LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        cluster.wait_for_workers(2)
        cluster_s = time.perf_counter() - began
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        for attempt in range(runs + 1):
            for executor in ("local", address):
                now += timedelta(minutes=1)
                began = time.perf_counter()
                outcomes = run_due(schedule, now=now, jobs=2, executor=executor)
                took = time.perf_counter() - began
                bad = [o for o in outcomes if o.status != "success"]
                if len(outcomes) != len(REGIONS) or bad:
                    raise SystemExit(f"error: {executor}: {[(o.status, o.message) for o in bad]}")
                if attempt:  # round 0 warms the kernels' imports and the file cache
                    (local if executor == "local" else dask).append(took)
    return local, dask, cluster_s


if __name__ == "__main__":
    main()
