"""Data-stamp benchmark: how long ``run_when = "data_changed"`` takes to decide.

Run it from the repository root, against the database a report would read:

    .venv/bin/python benchmarks/bench_datastamp.py                 # 50 calls per case
    .venv/bin/python benchmarks/bench_datastamp.py --calls 200

It opens one read-only analyst session on the configured database (``IWM_DATABASE_URL``, else
the embedded one), as the runner does, and times :func:`iwm_lab.reports.datastamp.data_stamp`
for every table (the default), for ``reads = ["reviews"]`` and for ``reads = ["pulses"]``:
one warm-up call, then ``--calls`` calls, and prints the median and the slowest in
milliseconds, with the scale (the rows the planner estimates in reviews and pulses, and the
number of tables and partitions in the fingerprint). Nothing is written.

Target: a few milliseconds at any scale; the query reads statistics and catalogs, never rows.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlalchemy import Connection, text

from iwm_lab.database import database_url, describe_url, get_engine
from iwm_lab.reports.datastamp import data_stamp

CASES: dict[str, tuple[str, ...]] = {
    "every table": (),
    "reads = [reviews]": ("reviews",),
    "reads = [pulses]": ("pulses",),
}

_SCALE = text(
    """
    select relname, reltuples::bigint from pg_class
    where relnamespace = current_schema()::regnamespace and relname in ('reviews', 'pulses')
    order by relname
    """
)
_PARTITIONS = text(
    """
    select count(*) from pg_class
    where relnamespace = current_schema()::regnamespace and relispartition and relkind = 'r'
    """
)


def time_calls(conn: Connection, reads: tuple[str, ...], calls: int) -> list[float]:
    """Milliseconds of each of ``calls`` stamps, after one warm-up call."""
    data_stamp(conn, reads)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        data_stamp(conn, reads)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="timed calls per case (50)")
    args = parser.parse_args()
    url = database_url()
    engine = get_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            scale = ", ".join(f"{name} ~{rows:,} rows" for name, rows in conn.execute(_SCALE))
            partitions = conn.execute(_PARTITIONS).scalar_one()
            tables = len(data_stamp(conn).parts["tables"])
            print(f"{describe_url(url)}: {scale}; {tables} tables, {partitions} partitions")
            for label, reads in CASES.items():
                times = time_calls(conn, reads, args.calls)
                print(
                    f"{label:<20} median {statistics.median(times):6.2f} ms   "
                    f"max {max(times):6.2f} ms   ({args.calls} calls)"
                )
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
