"""Arrow benchmark: ``iwm_lab.sql()`` (ADBC, Arrow) against ``pandas.read_sql`` (SQLAlchemy).

Run it from the repository root:

    .venv/bin/python benchmarks/bench_arrow.py                  # 1M rows, 5 runs per method
    .venv/bin/python benchmarks/bench_arrow.py --rows 200000 --repeats 3

It creates a database ``iwm_bench_arrow_<random>`` on the configured server
(``IWM_DATABASE_URL`` or the embedded one), migrated to head (``iwm_lab.sql()`` reads only
migrated databases), with one table of ``--rows`` rows and 7 columns made by
``generate_series``: integer, bigint, double precision (10% NULL), text, timestamp, boolean
and numeric(12, 2), dropped afterwards unless ``--keep``. Both methods pull the whole table
through the same read-only analyst session (role, statement timeout, UTC): ``iwm_lab.sql()``,
and ``pandas.read_sql(text(query), conn)`` on a connection of ``iwm_lab.get_engine()``.

Every run is a fresh Python process (as a notebook kernel is) that imports both libraries, opens
its connection with a one-row query, then measures the pull alone: wall time, and peak resident
set size (``ru_maxrss``) after the pull minus the peak before it, the memory the pull itself
took. Runs alternate between the methods; the figures are medians. Each run checks the frame's
shape and the sum of its id column, so both read the same rows.

Targets: ``iwm_lab.sql()`` at least 3 times faster, with at most half the peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL

from iwm_lab import migrate
from iwm_lab.database import database_url, get_engine
from iwm_lab.roles import ANALYST_ROLE

QUERY = "select * from bench_arrow_rows"
METHODS = ("iwm_lab.sql", "pandas.read_sql")

# Runs in the child process; argv: method, query.
_CHILD = r"""
import json, resource, sys, time

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

import pandas as pd
from sqlalchemy import text
import iwm_lab

method, query = sys.argv[1], sys.argv[2]
if method == "iwm_lab.sql":
    iwm_lab.sql("select 1 as one")
    pull = lambda: iwm_lab.sql(query)
else:
    conn = iwm_lab.get_engine().connect()
    pd.read_sql(text("select 1 as one"), conn)
    pull = lambda: pd.read_sql(text(query), conn)
before = peak_mb()
started = time.perf_counter()
frame = pull()
seconds = time.perf_counter() - started
after = peak_mb()
print(json.dumps({
    "seconds": seconds, "call_mb": after - before, "process_mb": after,
    "rows": len(frame), "columns": frame.shape[1], "id_sum": int(frame["id"].sum()),
    "dtypes": [str(t) for t in frame.dtypes],
}))
"""


def fresh_database() -> tuple[URL, URL]:
    """A new database migrated to head, and the URL of the server's maintenance database."""
    base = database_url()
    admin_url = base.set(database="postgres")
    name = f"iwm_bench_arrow_{uuid.uuid4().hex[:6]}"
    admin = get_engine(admin_url, writable=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    admin.dispose()
    url = base.set(database=name)
    engine = get_engine(url, writable=True)
    migrate.upgrade(engine)
    engine.dispose()
    return url, admin_url


def fill(url: URL, rows: int) -> None:
    engine = get_engine(url, writable=True)
    with engine.begin() as conn:
        conn.execute(
            text(
                "create table bench_arrow_rows as select g::integer as id, "
                "g::bigint * 1000003 as big, "
                "case when g % 10 = 0 then null else g * 0.37 end::double precision as score, "
                "'movie title ' || g as title, "
                "timestamp '2020-01-01' + g * interval '17 seconds' as created_at, "
                "g % 3 = 0 as flag, "
                "((g % 100000) / 7.0)::numeric(12, 2) as amount "
                "from generate_series(1, :rows) as g"
            ),
            {"rows": rows},
        )
        # On the embedded server iwm_lab.sql() reads as the analyst; elsewhere as the URL's role.
        role = conn.execute(
            text("select rolname from pg_roles where rolname = :r"), {"r": ANALYST_ROLE}
        ).scalar()
        if role is not None:
            conn.execute(text(f'grant select on bench_arrow_rows to "{role}"'))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("vacuum analyze bench_arrow_rows"))
    engine.dispose()


def drop_database(url: URL, admin_url: URL) -> None:
    admin = get_engine(admin_url, writable=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'drop database if exists "{url.database}" with (force)'))
    admin.dispose()


def measure(url: URL, method: str) -> dict[str, Any]:
    env = os.environ | {"IWM_DATABASE_URL": url.render_as_string(hide_password=False)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, method, QUERY],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"{method} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report(runs: dict[str, list[dict[str, Any]]], rows: int) -> None:
    def median(method: str, key: str) -> float:
        return statistics.median(float(run[key]) for run in runs[method])

    print()
    print(f"{'method':<18}{'median s':>10}{'min s':>9}{'pull MB':>10}{'process MB':>12}  dtypes")
    for method in METHODS:
        fastest = min(float(run["seconds"]) for run in runs[method])
        print(
            f"{method:<18}{median(method, 'seconds'):>10.2f}{fastest:>9.2f}"
            f"{median(method, 'call_mb'):>10.0f}{median(method, 'process_mb'):>12.0f}  "
            f"{', '.join(runs[method][0]['dtypes'])}"
        )
    speed = median("pandas.read_sql", "seconds") / median("iwm_lab.sql", "seconds")
    memory = median("iwm_lab.sql", "call_mb") / median("pandas.read_sql", "call_mb")
    print(
        f"\n{rows:,} rows x 7 columns: iwm_lab.sql() is {speed:.1f}x as fast (target >= 3) and "
        f"takes {memory:.0%} of read_sql's pull memory (target <= 50%)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5, help="runs per method")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args(argv)
    url, admin_url = fresh_database()
    print(f"database {url.database}: {args.rows:,} rows", flush=True)
    try:
        fill(url, args.rows)
        runs: dict[str, list[dict[str, Any]]] = {method: [] for method in METHODS}
        for repeat in range(args.repeats):
            # Alternating, so that a busy moment of the machine hits both methods alike.
            for method in METHODS if repeat % 2 == 0 else reversed(METHODS):
                run = measure(url, method)
                if (run["rows"], run["columns"]) != (args.rows, 7):
                    raise SystemExit(f"{method} read {run['rows']} rows, {run['columns']} columns")
                if run["id_sum"] != args.rows * (args.rows + 1) // 2:
                    raise SystemExit(f"{method} read other rows: id sum {run['id_sum']}")
                runs[method].append(run)
                print(
                    f"  {method:<16} {run['seconds']:6.2f} s {run['call_mb']:6.0f} MB",
                    flush=True,
                )
        report(runs, args.rows)
    finally:
        if not args.keep:
            drop_database(url, admin_url)


if __name__ == "__main__":
    main()
