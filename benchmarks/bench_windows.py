"""Windowed reads three ways (rollup, plain table, partitioned twin), and the rollups' refresh.

The windowed functions (``ratings.review_volume``, ``trending.hashtag_counts``) read the rollups
of migration 0002. This run answers the question behind that choice: for the same windows it
times the library function (rollup), and the raw aggregation it replaces on the plain table
(``reviews``, ``pulses``) and on its partitioned twin (``reviews_partitioned``, yearly;
``pulses_partitioned``, monthly), median of ``--repeat`` calls taken in turns. Then it times a
full rebuild of every rollup, concurrent (as ``iwm-lab db refresh --full`` does) and blocking
(as the seeder does), each in a transaction that is rolled back, so the database is left as it
was. (The default refresh processes only what changed since the last one:
``benchmarks/bench_refresh.py`` measures it against the full rebuild.)

    python -m benchmarks.bench_windows                # the configured database
    python -m benchmarks.bench_windows --url postgresql+psycopg://me@host/iwm

Meant for scale ``large`` (``iwm-lab seed --scale large``): the twins hold the same rows as the
tables only as the seeder left them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock
from functools import partial
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from iwm_lab import operations, rollups
from iwm_lab.database import describe_url, get_engine
from iwm_lab.queries import ratings, trending

# The raw aggregations the rollups replace; {table} is one of two fixed names, never input.
_REVIEWS_RAW = """
SELECT date_trunc('day', date) AS day, count(*), avg(rating)
FROM {table} WHERE date >= :since AND date < :until GROUP BY 1 ORDER BY 1
"""
_PULSES_RAW = """
SELECT t.tag, count(*) AS n
FROM {table} AS p CROSS JOIN LATERAL iwm_pulse_tags(p.hashtags) AS t(tag)
WHERE p.created_at > :since AND p.created_at <= :until AND p.hashtags IS NOT NULL
GROUP BY t.tag ORDER BY n DESC, t.tag LIMIT 50
"""


def medians(calls: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median ms of each call; calls take turns so that a busy neighbour weighs on all alike."""
    for call in calls.values():
        call()  # warm-up: plans, caches
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def raw(conn: Connection, sql: str, table: str, **params: Any) -> Callable[[], Any]:
    statement = text(sql.format(table=table))
    return lambda: conn.execute(statement, params).all()


def windows(conn: Connection, repeat: int) -> None:
    last_review: datetime = conn.execute(text("select max(date) from reviews")).scalar_one()
    last_pulse: datetime = conn.execute(text("select max(created_at) from pulses")).scalar_one()
    end: date = last_review.date()
    print("| window | rollup (library) ms | plain table ms | partitioned twin ms | fastest |")
    print("|---|---:|---:|---:|---|")
    for label, days in (("reviews, 1 year", 365), ("reviews, 30 days", 30)):
        start = end - timedelta(days=days - 1)
        since = datetime.combine(start, clock())
        until = datetime.combine(end + timedelta(days=1), clock())
        calls: dict[str, Callable[[], Any]] = {
            "rollup": partial(ratings.review_volume, conn, start=start, end=end),
            "plain": raw(conn, _REVIEWS_RAW, "reviews", since=since, until=until),
            "twin": raw(conn, _REVIEWS_RAW, "reviews_partitioned", since=since, until=until),
        }
        report(label, medians(calls, repeat))
    for label, days in (("pulses, 7 days", 7), ("pulses, 30 days", 30)):
        since = last_pulse - timedelta(days=days)
        calls = {
            "rollup": partial(trending.hashtag_counts, conn, window_days=days, as_of=last_pulse),
            "plain": raw(conn, _PULSES_RAW, "pulses", since=since, until=last_pulse),
            "twin": raw(conn, _PULSES_RAW, "pulses_partitioned", since=since, until=last_pulse),
        }
        report(label, medians(calls, repeat))


def report(label: str, ms: dict[str, float]) -> None:
    fastest = min(ms, key=ms.__getitem__)
    print(f"| {label} | {ms['rollup']:.1f} | {ms['plain']:.1f} | {ms['twin']:.1f} | {fastest} |")


def refreshes(url: Any, repeat: int) -> None:
    # As `iwm-lab db refresh` runs them: the writer role (on the embedded server).
    engine = get_engine(url, writable=True, role="writer")
    print("\n| rollup | rows | concurrent rebuild s | blocking rebuild s |")
    print("|---|---:|---:|---:|")
    with engine.connect() as conn:
        for name in rollups.ROLLUPS:
            seconds: dict[bool, list[float]] = {True: [], False: []}
            rows = 0
            for _ in range(repeat):
                for concurrently in (True, False):
                    tx = conn.begin()
                    (done,) = operations.refresh_rollups_in(
                        conn, [name], concurrently=concurrently, full=True
                    )
                    tx.rollback()
                    seconds[concurrently].append(done.seconds)
                    rows = done.rows
            print(
                f"| {name} | {rows:,} | {statistics.median(seconds[True]):.2f} "
                f"| {statistics.median(seconds[False]):.2f} |"
            )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="SQLAlchemy URL to measure (default: the configured one)")
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per variant")
    parser.add_argument("--refresh-repeat", type=int, default=3, help="timed refreshes")
    args = parser.parse_args()
    url = make_url(args.url) if args.url else None
    engine = get_engine(url)  # read-only, as analysts' sessions are
    with engine.connect() as conn:
        print(f"{describe_url(engine.url)}; load average {os.getloadavg()[0]:.1f}\n")
        windows(conn, args.repeat)
    # The configured URL, not the read-only engine's: on the embedded server that one is the
    # analyst's, whose sessions are read-only whatever is asked.
    refreshes(url, args.refresh_repeat)
    engine.dispose()


if __name__ == "__main__":
    main()
