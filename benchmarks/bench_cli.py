"""CLI start-up: how long ``iwm-lab --help``, ``--version`` and ``report list`` take.

Every command runs as a user types it: the console script in a fresh process (a new
interpreter, nothing cached in memory), ``--runs`` times after one warm-up run that fills the
operating system's file cache. Each gets the median and the spread (quartiles, minimum and
maximum) of its wall time, against its target: ``--help`` and ``--version`` under 0.3 s,
``report list`` under 1 s median.

``report list`` runs against an embedded server of the benchmark's own, in ``--dir``
(default: ``iwm-lab-bench-cli`` beside iwm-lab's default data folder), migrated and seeded at
scale ``small`` with ``iwm-lab db upgrade`` and ``iwm-lab seed --scale small`` on the first
run and kept for the next. The server runs while the commands are timed and is stopped
afterwards unless it was running already.

    python -m benchmarks.bench_cli
    python -m benchmarks.bench_cli --runs 30 --dir /var/tmp/iwm-cli-bench
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from iwm_lab.server import EmbeddedServer
from iwm_lab.settings import Settings, get_settings

SCALE = "small"
CASES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("--help",), 0.3),
    (("--version",), 0.3),
    (("report", "list"), 1.0),
)
# Written once the seed has finished: a run interrupted while seeding starts afresh.
SEEDED_MARK = f"seeded-{SCALE}"


@dataclass(frozen=True)
class Timing:
    args: tuple[str, ...]
    target: float
    seconds: list[float]
    exit_codes: set[int]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def row(self) -> str:
        q1, _, q3 = statistics.quantiles(self.seconds, n=4)
        verdict = "meets" if self.median < self.target else "MISSES"
        failed = sorted(self.exit_codes - {0})
        if failed:
            verdict += f" (exit status {', '.join(map(str, failed))})"
        return (
            f"| iwm-lab {' '.join(self.args)} | {self.median:.3f} | {q1:.3f}-{q3:.3f} "
            f"| {min(self.seconds):.3f}-{max(self.seconds):.3f} | < {self.target:g} | {verdict} |"
        )


def default_dir() -> Path:
    # Beside iwm-lab's own default data folder: outside root's home, which the unprivileged
    # server user cannot enter.
    return Settings().data_dir.with_name("iwm-lab-bench-cli")


def command() -> list[str]:
    """The console script installed beside this interpreter, as a user runs it."""
    script = Path(sys.executable).parent / "iwm-lab"
    if not script.exists():
        raise SystemExit(f"error: no iwm-lab console script beside {sys.executable}")
    return [str(script)]


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IWM_")}
    env["IWM_DATA_DIR"] = str(data_dir)
    return env


def prepare(folder: Path, env: dict[str, str]) -> None:
    """Migrate and seed the benchmark's database at scale small, once."""
    mark = folder / SEEDED_MARK
    if mark.exists():
        return
    started = time.perf_counter()
    for args in (
        ("db", "start"),
        ("db", "upgrade"),
        ("seed", "--scale", SCALE, "--reset", "--yes", "--quiet"),
    ):
        done = subprocess.run([*command(), *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"error: iwm-lab {' '.join(args)} failed: {done.stderr.strip()}")
    mark.write_text(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n", encoding="utf-8")
    print(f"seeded scale {SCALE} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


@contextlib.contextmanager
def small_database(folder: Path | None) -> Iterator[None]:
    """This process (and the workers and kernels it starts) on the benchmark's embedded server
    in ``folder`` (default :func:`default_dir`), seeded at scale small and at head; the server
    is stopped afterwards unless it was running already."""
    folder = (folder or default_dir()).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    data_dir = folder / "data"
    env = environment(data_dir)
    os.environ.update({k: v for k, v in env.items() if k.startswith("IWM_")})
    os.environ.pop("IWM_DATABASE_URL", None)
    get_settings.cache_clear()
    server = EmbeddedServer(Settings(data_dir=data_dir))
    was_running = server.status().running
    server.start()
    try:
        prepare(folder, env)
        # A database kept from an older checkout: bring it to this one's head.
        subprocess.run([*command(), "db", "upgrade"], env=env, check=True, capture_output=True)
        yield
    finally:
        if not was_running:
            server.stop()


def measure(args: tuple[str, ...], target: float, runs: int, env: dict[str, str]) -> Timing:
    seconds: list[float] = []
    codes: set[int] = set()
    for attempt in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run([*command(), *args], env=env, capture_output=True)
        elapsed = time.perf_counter() - started
        codes.add(done.returncode)
        if attempt:  # the first run only warms the file cache
            seconds.append(elapsed)
    return Timing(args, target, seconds, codes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="folder of the benchmark's server and database (kept between runs)",
    )
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    folder = (args.dir or default_dir()).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    # When run as root, the server user must be able to reach the data folder inside.
    folder.chmod(0o755)
    data_dir = folder / "data"
    env = environment(data_dir)
    server = EmbeddedServer(Settings(data_dir=data_dir))
    was_running = server.status().running
    server.start()
    try:
        prepare(folder, env)
        timings = [measure(case, target, args.runs, env) for case, target in CASES]
    finally:
        if not was_running:
            server.stop()

    print(
        f"iwm-lab {version('iwm-lab')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
        f"{datetime.now(UTC):%Y-%m-%d}; {args.runs} runs each after a warm-up, "
        f"database at scale {SCALE} in {data_dir}"
    )
    print("\n| command | median s | quartiles s | min-max s | target s | |")
    print("|---|---:|---:|---:|---:|---|")
    for timing in timings:
        print(timing.row())


if __name__ == "__main__":
    main()
