"""A report against papermill's floor: each shipped report, cold and from a warm pool.

The floor is a **bare papermill run**: ``papermill.execute_notebook`` of a three-cell notebook
(a parameters cell, ``x = 1``, ``print(x)``) in this process, with the kernel name the reports
use: a kernel started, three cells, the kernel shut down. Against it, each shipped report
notebook (ratings, overview, streaming coverage for US, trending topics, box office, awards,
platform health) rendered the way
``run-due`` renders it, timed from the call to ``run_due`` to its return (a due job's lock,
worker, kernel, notebook, page, publication, index and retention):

- **cold**: ``run_due(..., pool=0)``: a worker process and a kernel started for the run, as
  a ``run-due`` from cron does for its first due report;
- **warm**: ``run_due(..., pool=KernelPool(keep=True))`` with the pool's worker for the report
  ready, as ``report serve`` runs every report after its first round (and ``run-due`` its
  later due reports).

Timed in rounds, alternating bare, cold and warm for each report, ``--runs`` rounds after a
warm-up round; before each timing the pool's background warm-up is waited for, so no timing
shares the CPU with it. The database is ``bench_cli``'s, at scale small, kept in ``--dir``.

Each run's parts come from its record and its executed notebook: the coordinator's own work
(``total - worker``: lock, state, publication, index, retention), the worker's own (process
start and imports, or the hand-over to a warm one; reading, redacting and annotating the
executed notebook; sending the files), the database check (head revision), the kernel start
(papermill's start to the first cell), the notebook's import cell, its other cells (queries,
charts, tables), and the HTML export.

    python -m benchmarks.bench_report
    python -m benchmarks.bench_report --runs 7 --reports ratings,overview --dir /var/tmp/bench
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from benchmarks.bench_cli import SCALE, small_database
from iwm_lab.settings import NOTEBOOKS_DIR

REPORTS = {
    "ratings": "",
    "overview": "statement_timeout_ms = 300000\n",
    "streaming_coverage": 'for_each = { region = ["US"] }\n',
    "trending_topics": "",
    "box_office": "",
    "awards": "",
    "platform_health": "",
}
PARTS = (
    "coordinator",
    "worker",
    "db check",
    "kernel start",
    "import cell",
    "other cells",
    "html",
)
READY_WAIT_S = 300.0


def bare_notebook(folder: Path) -> Path:
    """Three cells: parameters, ``x = 1``, ``print(x)``."""
    nb = new_notebook(
        cells=[
            new_code_cell("x = 0", metadata={"tags": ["parameters"]}),
            new_code_cell("x = 1"),
            new_code_cell("print(x)"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = folder / "bare.ipynb"
    nbformat.write(nb, path)
    return path


def bare_run(notebook: Path) -> float:
    from papermill import execute_notebook

    from iwm_lab.reports.kernels import KERNEL, KERNEL_ARGUMENTS

    began = time.perf_counter()
    execute_notebook(
        str(notebook),
        str(notebook.with_name("bare-out.ipynb")),
        parameters={"x": 2},
        kernel_name=KERNEL,
        progress_bar=False,
        cwd=str(notebook.parent),
        extra_arguments=[KERNEL_ARGUMENTS[0]],
    )
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (at least 5)")
    parser.add_argument("--reports", default=",".join(REPORTS), help="comma-separated names")
    parser.add_argument("--dir", type=Path, default=None, help="the benchmark database's folder")
    args = parser.parse_args(argv)
    names = [name for name in args.reports.split(",") if name]
    unknown = set(names) - set(REPORTS)
    if unknown:
        parser.error(f"unknown reports: {', '.join(sorted(unknown))}")
    if args.runs < 1:
        parser.error("--runs must be at least 1 (5 or more for figures)")
    loads = [os.getloadavg()[0]]
    with small_database(args.dir):
        seconds, parts = measure(names, args.runs, loads)
    print(
        f"iwm-lab {version('iwm-lab')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {min(loads):.2f}-{max(loads):.2f} during the run, "
        f"{datetime.now(UTC):%Y-%m-%d}; {args.runs} rounds after a warm-up, alternating; "
        f"database at scale {SCALE}"
    )
    bare = statistics.median(seconds["bare papermill"])
    print(f"\n| run | median s | min-max s | / bare | {' | '.join(PARTS)} |")
    print(f"|---|---:|---:|---:|{'---:|' * len(PARTS)}")
    for case, times in seconds.items():
        shown = [
            f"{statistics.median(parts[case][p]):.2f}" if parts[case].get(p) else "-" for p in PARTS
        ]
        print(
            f"| {case} | {statistics.median(times):.2f} | {min(times):.2f}-{max(times):.2f} "
            f"| {statistics.median(times) / bare:.1f}x | {' | '.join(shown)} |"
        )
    warm = [statistics.median(t) / bare for c, t in seconds.items() if c.endswith(" warm")]
    if warm:
        verdict = "meets" if max(warm) <= 2.5 else "MISSES"
        print(f"\nwarm reports / bare papermill: at most {max(warm):.2f}x ({verdict} 2.5x)")


def measure(
    names: list[str], runs: int, loads: list[float]
) -> tuple[dict[str, list[float]], dict[str, dict[str, list[float]]]]:
    """Seconds per case, and the parts of each report case's runs."""
    work = Path(tempfile.mkdtemp(prefix="iwm-bench-report-"))
    try:
        return _measure(work, names, runs, loads)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(
    work: Path, names: list[str], runs: int, loads: list[float]
) -> tuple[dict[str, list[float]], dict[str, dict[str, list[float]]]]:
    from iwm_lab.reports.kernels import KernelPool, pool_key
    from iwm_lab.reports.runner import statement_timeout_of
    from iwm_lab.reports.schedule import Schedule, load_schedule

    bare = bare_notebook(work)
    schedules: dict[str, Schedule] = {}
    for name in names:  # one schedule per report: each run_due call runs that one
        path = work / f"{name}.toml"
        notebook = NOTEBOOKS_DIR / f"{name}.ipynb"
        path.write_text(
            f'[reports.{name}]\nnotebook = "{notebook}"\ncron = "* * * * *"\n{REPORTS[name]}'
        )
        schedules[name] = load_schedule(path, work / "output")
    clock = [datetime.now(UTC).replace(second=0, microsecond=0)]
    seconds: dict[str, list[float]] = defaultdict(list)
    parts: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))

    with KernelPool(1, keep=True) as pool:

        def settled(name: str | None = None) -> None:
            """Wait until the pool is idle (and has a ready worker for ``name``)."""
            key = None
            if name is not None:
                [job] = schedules[name].jobs()
                key = pool_key(job.report.notebook, statement_timeout_of(job.report))
                # As serve's next round would have it (also after the package's files
                # changed, which changes the key).
                pool.expect([key])
            deadline = time.monotonic() + READY_WAIT_S
            while time.monotonic() < deadline:
                idle = pool.idle()
                busy = pool.busy()
                ready = all(w.ready.is_set() for w in idle)
                if not busy and ready and (key is None or any(w.key == key for w in idle)):
                    return
                time.sleep(0.1)
            raise SystemExit(f"error: the kernel pool did not settle within {READY_WAIT_S:.0f} s")

        for attempt in range(runs + 1):
            keep = attempt > 0  # the first round fills the caches and shows the pool its keys
            settled()
            loads.append(os.getloadavg()[0])
            took = bare_run(bare)
            if keep:
                seconds["bare papermill"].append(took)
            for name in names:
                for mode in ("cold", "warm"):
                    settled(name if mode == "warm" and keep else None)
                    loads.append(os.getloadavg()[0])
                    took, run, executed = _run_due(
                        schedules[name], clock, pool if mode == "warm" else 0
                    )
                    if keep:
                        seconds[f"{name} {mode}"].append(took)
                        _parts(parts[f"{name} {mode}"], took, run, executed)
    return seconds, parts


def _run_due(schedule: Any, clock: list[datetime], pool: Any) -> tuple[float, Any, Path]:
    """One run_due call with one due run, a minute after the last: its time and record."""
    from iwm_lab.reports.due import run_due
    from iwm_lab.reports.state import job_dir, read_state

    clock[0] += timedelta(minutes=1)
    began = time.perf_counter()
    [outcome] = run_due(schedule, now=clock[0], pool=pool)
    took = time.perf_counter() - began
    if outcome.status != "success":
        raise SystemExit(f"error: {outcome.job.label}: {outcome.status}: {outcome.message}")
    [job] = schedule.jobs()
    run = read_state(job_dir(schedule, job), job.key, job.label).runs[0]
    return took, run, job_dir(schedule, job) / run.run_id / f"{job.file_stem}.ipynb"


def _parts(into: dict[str, list[float]], took: float, run: Any, executed: Path) -> None:
    """The parts of a run's time, from its record and its executed notebook."""
    timings = run.timings
    into["coordinator"].append(took - timings.get("worker_s", 0.0))
    inside = sum(timings.get(k, 0.0) for k in ("execute_s", "html_s", "check_s"))
    into["worker"].append(timings.get("worker_s", 0.0) - inside)
    into["db check"].append(timings.get("check_s", 0.0))
    into["kernel start"].append(timings.get("kernel_start_s", 0.0))
    nb = nbformat.read(executed, as_version=4)
    durations = [
        cell.metadata.get("papermill", {}).get("duration") or 0.0
        for cell in nb.cells
        if cell.cell_type == "code"
    ]
    # papermill's injected parameters, the parameters cell, then the import cell.
    tags = [c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code"]
    first = next(i for i, t in enumerate(tags) if "injected-parameters" in t) + 1
    into["import cell"].append(durations[first])
    into["other cells"].append(sum(durations) - durations[first])
    into["html"].append(timings.get("html_s", 0.0))


if __name__ == "__main__":
    main()
