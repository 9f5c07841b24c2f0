"""Rollup refresh: a full rebuild of every rollup against the default (incremental) refresh.

Issue 15's target: after 1,000 new reviews and 1,000 new pulses at scale ``large``, the default
refresh takes under a tenth of a full one, with the same rows (``tests/test_rollups_incremental``
compares them). In one run, taking turns, ``--repeat`` times each (medians), every case in a
transaction rolled back afterwards:

* ``full``: ``refresh_rollups_in(conn, full=True)``, what ``iwm-lab db refresh --full`` does
  (the rollups stored as tables deleted and rebuilt, the views refreshed CONCURRENTLY);
* ``new rows``: ``--rows`` new reviews (random movies, dates in the data's last 30 days) and as
  many new pulses (hours in the last 30 days), then the default refresh;
* ``updated rows``: ``--rows`` old reviews given another rating, movie and date, then the
  default refresh;
* ``movie years``: a tenth as many movies given another release year (``score_counts`` is
  then rebuilt from its per-movie histogram, without reading reviews), then the default
  refresh.

Only the refreshes are timed (the server's own seconds per rollup, and the wall time of all).
It never writes to a database it did not make: by default it seeds a fresh one at ``--scale``
on the configured server and drops it afterwards (``--keep`` keeps it, ``--url`` reuses one
kept earlier).

    .venv/bin/python -m benchmarks.bench_refresh                 # large: seeds for minutes
    .venv/bin/python -m benchmarks.bench_refresh --url postgresql+psycopg://...  --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL, make_url

from benchmarks.bench_seed import drop_database, fresh_database
from iwm_lab import operations, rollups
from iwm_lab.database import describe_url, get_engine
from iwm_lab.demodata import seed_database

# Random rows of the data's last 30 days; :rows is bound.
_NEW_REVIEWS = """
INSERT INTO reviews (title, content, rating, date, movie_id)
SELECT 'bench', 'bench', (floor(random() * 21) / 2)::float8,
       (SELECT max(date) FROM reviews) - random() * interval '30 days',
       1 + floor(random() * (SELECT max(id) FROM movies))::integer
FROM generate_series(1, :rows)
"""
_NEW_PULSES = """
INSERT INTO pulses (content_text, hashtags, linked_type, created_at)
SELECT 'bench', '["#bench", "#tag' || (i % 50) || '"]', CASE WHEN i % 3 = 0 THEN 'movie' END,
       (SELECT max(created_at) FROM pulses) - random() * interval '30 days'
FROM generate_series(1, :rows) AS i
"""
_CHANGED_YEARS = """
UPDATE movies SET year = (year::integer + 1)::text
WHERE id IN (SELECT id FROM movies WHERE year ~ '^[0-9]{4}$' ORDER BY random() LIMIT :rows)
"""
_UPDATED_REVIEWS = """
UPDATE reviews
SET rating = 10 - rating, movie_id = movie_id % 1000 + 1, date = date - interval '1 day'
WHERE id IN (SELECT id FROM reviews TABLESAMPLE SYSTEM (1) LIMIT :rows)
"""

Case = Callable[[Connection], None]


def _writes(*statements: str, rows: int) -> Case:
    def write(conn: Connection) -> None:
        for statement in statements:
            conn.execute(text(statement), {"rows": rows})

    return write


def measure(url: URL, repeat: int, rows: int) -> None:
    engine = get_engine(url, writable=True)
    cases: dict[str, tuple[Case, bool]] = {
        "full": (lambda _conn: None, True),
        "new rows": (_writes(_NEW_REVIEWS, _NEW_PULSES, rows=rows), False),
        "updated rows": (_writes(_UPDATED_REVIEWS, rows=rows), False),
        "movie years": (_writes(_CHANGED_YEARS, rows=max(rows // 10, 1)), False),
    }
    seconds: dict[str, dict[str, list[float]]] = {case: {} for case in cases}
    walls: dict[str, list[float]] = {case: [] for case in cases}
    modes: dict[str, dict[str, str]] = {case: {} for case in cases}
    with engine.connect() as conn:
        conn.execute(text("select 1"))  # connected before the first timing
        conn.rollback()
        for _ in range(repeat):
            for case, (write, full) in cases.items():
                with conn.begin() as tx:
                    write(conn)
                    started = time.perf_counter()
                    done = operations.refresh_rollups_in(conn, full=full)
                    walls[case].append(time.perf_counter() - started)
                    tx.rollback()
                for step in done:
                    seconds[case].setdefault(step.name, []).append(step.seconds)
                    modes[case][step.name] = f"{step.mode}, {step.changes:,} keys"
    engine.dispose()

    print(f"\n{rows:,} rows per case, median of {repeat}; server seconds per rollup\n")
    others = [case for case in cases if case != "full"]
    print("| rollup | full s | " + " | ".join(f"{case} s (mode)" for case in others) + " |")
    print("|---|---:|" + "---:|" * len(others))
    for name in rollups.ROLLUPS:
        full_s = statistics.median(seconds["full"][name])
        cells = [
            f"{statistics.median(seconds[case][name]):.3f} ({modes[case][name]})" for case in others
        ]
        print(f"| {name} | {full_s:.3f} | " + " | ".join(cells) + " |")
    full_wall = statistics.median(walls["full"])
    totals = " | ".join(f"{statistics.median(walls[case]):.2f}" for case in others)
    print(f"| **total (wall)** | {full_wall:.2f} | {totals} |")
    ratios = [
        f"{case}: {statistics.median(walls[case]):.2f} s, "
        f"{statistics.median(walls[case]) / full_wall:.3f} of full"
        for case in others
    ]
    print("\nratios: " + "; ".join(ratios))


def seeded_database(scale: str) -> tuple[URL, URL]:
    """A new database migrated to head and seeded at ``scale``, and the maintenance URL."""
    url, admin_url = fresh_database(scale, "refresh")
    engine = get_engine(url, writable=True)
    started = time.perf_counter()
    seed_database(engine, scale=scale, progress=False)
    print(f"seeded {scale} in {time.perf_counter() - started:.0f} s")
    engine.dispose()
    return url, admin_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a database seeded earlier (default: seed a fresh one)")
    parser.add_argument("--scale", default="large", help="scale of the fresh database")
    parser.add_argument("--keep", action="store_true", help="keep the fresh database")
    parser.add_argument("--repeat", type=int, default=3, help="timed refreshes per case")
    parser.add_argument("--rows", type=int, default=1000, help="rows written per case")
    args = parser.parse_args()
    admin_url = None
    if args.url:
        url = make_url(args.url)
    else:
        url, admin_url = seeded_database(args.scale)
    print(f"{describe_url(url)}; load average {os.getloadavg()[0]:.1f}")
    try:
        measure(url, args.repeat, args.rows)
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        if admin_url is not None and not args.keep:
            drop_database(url, admin_url)
        elif admin_url is not None:
            print(f"kept {url.database}")


if __name__ == "__main__":
    main()
