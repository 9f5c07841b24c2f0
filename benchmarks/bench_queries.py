"""Latency of every public query function of every area, against the 100 ms target.

Each call of ``tests/test_query_surface.py``'s ``arguments()`` (the representative calls of
every public function of ``iwm_lab.queries``: overview, ratings, security, streaming,
trending), with its windows ending at the data's last pulse, is made once to warm up (plans,
caches), then timed ``--repeat`` times (default 7) through a read-only analyst session; the
median is printed with PASS or FAIL against the target, slowest first. A public function
missing from ``arguments()`` stops the run, as it fails the test suite.

Run it from the repository root:

    .venv/bin/python -m benchmarks.bench_queries                  # the configured database
    .venv/bin/python -m benchmarks.bench_queries --url postgresql+psycopg://me@host/iwm_large

The target (issue 15: every query function under 100 ms median) is for scale ``large``
(100k movies, 5M reviews, 2M pulses) on two cores: ``iwm-lab seed --scale large`` first. The
load average is printed before and after: on a shared machine the medians mean little
without it; ``--cpu`` adds each call's server CPU (the backend's user and system time, read
from ``/proc``: a local server), which waiting for a core does not inflate. ``--only
ratings.,overview.`` times some areas or functions. ``--explain N`` prints ``EXPLAIN
(ANALYZE, BUFFERS)`` of the last statement of the N slowest calls.
"""

from __future__ import annotations

import argparse
import os
import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import Connection, Engine, event, select, text
from sqlalchemy.engine import make_url

from iwm_lab.database import describe_url, get_engine
from iwm_lab.models import Pulse
from tests.test_query_surface import NOT_FRAMES, arguments, public_functions

TARGET_MS = 100.0


@dataclass
class Timing:
    call: str
    median_ms: float
    min_ms: float
    rows: int
    statement: str
    parameters: Any
    server_cpu_ms: float | None = None


def backend_cpu_s(conn: Connection) -> float:
    """CPU seconds (user and system) the server process of ``conn`` has used so far, read
    from ``/proc``: the server must run on this machine, visible to this user. Waiting for a
    core does not count, so on a busy machine it says what a call costs where wall time
    cannot; parallel workers' CPU is not included."""
    pid = conn.execute(text("select pg_backend_pid()")).scalar_one()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError as exc:
        raise SystemExit(f"error: --cpu needs a local server visible in /proc: {exc}") from None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LastStatement:
    """Remembers the last statement an engine sent, to EXPLAIN it afterwards."""

    def __init__(self, engine: Engine) -> None:
        self.statement = ""
        self.parameters: Any = None
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statement, self.parameters = statement, parameters


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def last_pulse(conn: Connection) -> datetime:
    latest = conn.execute(select(Pulse.__table__.c.created_at).order_by(text("1 desc")).limit(1))
    found: datetime | None = latest.scalar()
    if found is None:
        raise SystemExit("error: the database holds no pulse; seed it first")
    return found


def label(name: str, kwargs: dict[str, Any]) -> str:
    shown = ", ".join(
        f"{k}={v!s}" if not isinstance(v, list) else f"{k}={v}" for k, v in kwargs.items()
    )
    return f"{name}({shown})"


def time_calls(
    conn: Connection,
    last: LastStatement,
    repeat: int,
    only: list[str] | None = None,
    cpu: bool = False,
) -> list[Timing]:
    functions = dict(public_functions())
    calls = arguments(conn, as_of=last_pulse(conn))
    missing = set(functions) - set(calls) - set(NOT_FRAMES)
    if missing:
        raise SystemExit(f"error: no representative call of {', '.join(sorted(missing))}")
    timings = []
    for name, kwargs_list in calls.items():
        if only is not None and not any(part in name for part in only):
            continue
        for kwargs in kwargs_list:
            function = functions[name]
            function(conn, **kwargs)  # warm-up: plans, caches
            statement, parameters = last.statement, last.parameters
            times = []
            cpu_before = backend_cpu_s(conn) if cpu else 0.0
            for _ in range(repeat):
                started = perf_counter()
                result = function(conn, **kwargs)
                times.append((perf_counter() - started) * 1000)
            server_cpu_ms = (backend_cpu_s(conn) - cpu_before) / repeat * 1000 if cpu else None
            timing = Timing(
                label(name, kwargs),
                statistics.median(times),
                min(times),
                len(result),
                statement,
                parameters,
                server_cpu_ms,
            )
            timings.append(timing)
            cpu_text = "" if server_cpu_ms is None else f" (server CPU {server_cpu_ms:.1f} ms)"
            print(f"  {timing.median_ms:8.1f} ms{cpu_text}  {timing.call}", flush=True)
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="SQLAlchemy URL to measure (default: the configured one)")
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per call (median)")
    parser.add_argument(
        "--only", help="time only the functions whose area.name holds one of these (comma list)"
    )
    parser.add_argument(
        "--cpu", action="store_true", help="also the server's CPU per call (a local server)"
    )
    parser.add_argument("--explain", type=int, default=0, help="EXPLAIN the N slowest calls")
    args = parser.parse_args(argv)

    engine = get_engine(make_url(args.url) if args.url else None)  # read-only, as analysts'
    last = LastStatement(engine)
    with engine.connect() as conn:
        counts = conn.execute(
            text(
                "select (select count(*) from movies), (select count(*) from reviews), "
                "(select count(*) from pulses)"
            )
        ).one()
        print(
            f"{describe_url(engine.url)}: {counts[0]:,} movies, {counts[1]:,} reviews, "
            f"{counts[2]:,} pulses"
        )
        print(f"median of {args.repeat} calls after a warm-up; before: {load()}\n")
        only = args.only.split(",") if args.only else None
        timings = time_calls(conn, last, args.repeat, only, args.cpu)
        print(f"\nafter: {load()}\n")
        cpu_header, cpu_rule = (" server CPU ms |", "---:|") if args.cpu else ("", "")
        print(f"| call | median ms | min ms |{cpu_header} rows | under {TARGET_MS:.0f} ms |")
        print(f"|---|---:|---:|{cpu_rule}---:|---|")
        ordered = sorted(timings, key=lambda t: t.median_ms, reverse=True)
        for t in ordered:
            verdict = "PASS" if t.median_ms < TARGET_MS else "FAIL"
            cpu_cell = f" {t.server_cpu_ms:.1f} |" if t.server_cpu_ms is not None else ""
            times = f"{t.median_ms:.1f} | {t.min_ms:.1f} |{cpu_cell}"
            print(f"| {t.call} | {times} {t.rows} | {verdict} |")
        failed = sum(t.median_ms >= TARGET_MS for t in timings)
        print(f"\n{len(timings) - failed} of {len(timings)} calls under {TARGET_MS:.0f} ms")
        for t in ordered[: args.explain]:
            print(f"\nEXPLAIN (ANALYZE, BUFFERS) {t.call}:")
            plan = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + t.statement, t.parameters
            ).scalars()
            print("\n".join(plan))
    engine.dispose()


if __name__ == "__main__":
    main()
