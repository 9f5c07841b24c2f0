"""Latency of ``iwm_lab.queries.ratings`` against a pandas baseline, at a chosen data scale.

For every function (some twice, with and without filters) it reports the median latency over
repeated calls and, in the same run, the median of a baseline that loads the rows it needs with
``pandas.read_sql`` (plain selects) and aggregates in pandas. The baseline is the independent
pandas computation of ``benchmarks/references.py``, so the run also checks that both agree.
Then it prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest queries.

Run it from the repository root:

    .venv/bin/python -m benchmarks.bench_ratings              # the configured database
    .venv/bin/python -m benchmarks.bench_ratings --url postgresql+psycopg://me@host/iwm
    .venv/bin/python -m benchmarks.bench_ratings --seed small # fresh iwm_bench_ratings_small

``--seed SCALE`` (re)creates the database ``iwm_bench_ratings_SCALE`` on the configured server,
migrates it, seeds the demo dataset at that scale, vacuums and analyses it, and measures it; it
is kept for later runs with ``--url``. The targets (under 100 ms median since issue 15, at
least 10 times the baseline) are for scale ``large`` (100k movies, 5M reviews) on two cores:
``--seed large``, or ``iwm-lab seed --scale large`` followed by a run without arguments.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import perf_counter
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import URL, make_url

from benchmarks.references import REFERENCES, Raw, assert_same
from iwm_lab import migrate
from iwm_lab.database import database_url, describe_url, get_engine
from iwm_lab.queries import ratings

SEED = 42


@dataclass(frozen=True)
class Case:
    function: str
    params: dict[str, Any] = field(default_factory=dict)
    # The baseline of review_volume reads only the reviews in the window, as it could.
    review_dates: tuple[datetime, datetime] | None = None

    @property
    def label(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.function}({shown})"


@dataclass
class Measurement:
    case: Case
    rows: int
    sql_ms: float
    pandas_ms: float
    same: bool
    statement: str
    parameters: Any


class LastStatement:
    """Remembers the last statement an engine sent, to EXPLAIN it afterwards."""

    def __init__(self, engine: Engine) -> None:
        self.statement = ""
        self.parameters: Any = None
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statement, self.parameters = statement, parameters


def cases(conn: Connection) -> list[Case]:
    """Representative calls: defaults, and the busiest genre where filters matter."""
    genre = conn.execute(
        text(
            "select g.slug from genres g join movie_genres mg on mg.genre_id = g.id "
            "group by g.slug order by count(*) desc, g.slug limit 1"
        )
    ).scalar()
    last = conn.execute(text("select max(date) from reviews")).scalar() or datetime.now()
    end: date = last.date()
    start = end - timedelta(days=364)
    window = (datetime.combine(start, time()), datetime.combine(end + timedelta(days=1), time()))
    month = end - timedelta(days=29)
    month_window = (datetime.combine(month, time()), window[1])
    with_genre = {"genre": genre} if genre else {}
    return [
        Case("score_distribution", {"source": "users"}),
        Case("score_distribution", {"source": "imdb", **with_genre}),
        Case("platform_agreement", {"min_reviews": 20}),
        Case("platform_agreement", {"min_reviews": 20, **with_genre}),
        # Nearly every reviewed movie rated: the most points to rank.
        Case("platform_agreement", {"min_reviews": 1}),
        Case("top_rated", {"min_reviews": 20}),
        Case("top_rated", {"min_reviews": 1}),
        Case("top_rated", {"min_reviews": 20, **with_genre, "year_from": 1990, "year_to": 2019}),
        Case("top_rated", {"min_reviews": 20, "language": "English"}),
        Case("divisive_movies", {"min_reviews": 20}),
        Case("divisive_movies", {"min_reviews": 20, **with_genre}),
        Case("ratings_by_genre", {"min_reviews": 20}),
        Case("ratings_by_genre", {"min_reviews": 20, "year_from": 1990, "year_to": 2019}),
        Case("ratings_by_year", {"by": "decade", "min_reviews": 20}),
        Case("ratings_by_year", {"min_reviews": 20, **with_genre}),
        Case("ratings_by_year", {"by": "decade", "min_reviews": 20, **with_genre}),
        Case("score_gap", {"a": "users", "b": "critics", "min_reviews": 20}),
        Case("score_gap", {"a": "imdb", "b": "rotten_tomatoes", "by": "decade"}),
        Case("score_gap", {"a": "users", "b": "critics", "by": "year", "min_reviews": 1}),
        Case("score_gap", {"a": "users", "b": "siddu", "by": "none", **with_genre}),
        Case("review_volume", {"start": start, "end": end, "freq": "week"}, window),
        Case("review_volume", {"start": start, "end": end}, window),
        Case("review_volume", {"start": month, "end": end}, month_window),
    ]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


def median_ms(call: Callable[[], pd.DataFrame], repeat: int) -> tuple[float, pd.DataFrame]:
    times = []
    for _ in range(repeat):
        started = perf_counter()
        result = call()
        times.append(perf_counter() - started)
    return statistics.median(times) * 1000, result


def measure(
    conn: Connection,
    last: LastStatement,
    case: Case,
    repeat: int,
    pandas_repeat: int,
) -> Measurement:
    function = getattr(ratings, case.function)
    function(conn, **case.params)  # warm-up: plan, caches
    statement, parameters = last.statement, last.parameters
    sql_ms, result = median_ms(lambda: function(conn, **case.params), repeat)
    baseline = REFERENCES[case.function]
    pandas_ms, expected = median_ms(
        lambda: baseline(Raw(conn, case.review_dates), **case.params), pandas_repeat
    )
    try:
        assert_same(result, expected)
        same = True
    except AssertionError:
        same = False
    return Measurement(case, len(result), sql_ms, pandas_ms, same, statement, parameters)


def fresh_database(scale: str) -> URL:
    """Create ``iwm_bench_ratings_<scale>`` beside the configured database, migrated and seeded."""
    from iwm_lab.demodata import seed_database

    if not re.fullmatch(r"[a-z]+", scale):
        raise SystemExit(f"error: scale must be a word such as small or large, got {scale!r}")
    base = database_url()
    name = f"iwm_bench_ratings_{scale}"
    admin = get_engine(base.set(database="postgres"), writable=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'drop database if exists "{name}" with (force)'))
        conn.execute(text(f'create database "{name}"'))
    admin.dispose()
    url = base.set(database=name)
    engine = get_engine(url, writable=True)
    started = perf_counter()
    migrate.upgrade(engine)
    seed_database(engine, scale=scale, seed=SEED, progress=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Fresh statistics and visibility map, as a settled database would have.
        conn.execute(text("vacuum analyze"))
    engine.dispose()
    print(f"seeded {describe_url(url)} at scale {scale} in {perf_counter() - started:.0f} s")
    return url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help="SQLAlchemy URL to measure (default: the configured one)")
    where.add_argument("--seed", metavar="SCALE", help="measure a fresh database at SCALE")
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per function")
    parser.add_argument("--pandas-repeat", type=int, default=3, help="timed baseline calls")
    parser.add_argument("--explain", type=int, default=2, help="EXPLAIN the N slowest queries")
    args = parser.parse_args(argv)

    if args.seed:
        url: URL | None = fresh_database(args.seed)
    else:
        url = make_url(args.url) if args.url else None
    engine = get_engine(url)  # read-only, as analysts' sessions are
    last = LastStatement(engine)
    with engine.connect() as conn:
        counts = conn.execute(
            text("select (select count(*) from movies), (select count(*) from reviews)")
        ).one()
        print(f"{describe_url(engine.url)}: {counts[0]:,} movies, {counts[1]:,} reviews")
        # Medians on a shared machine mean little without knowing how busy it was.
        print(f"median of {args.repeat} calls (pandas: {args.pandas_repeat}); {load()}\n")
        results = []
        for case in cases(conn):
            results.append(measure(conn, last, case, args.repeat, args.pandas_repeat))
            m = results[-1]
            print(f"  {m.sql_ms:9.1f} ms  {m.pandas_ms:9.1f} ms  {m.case.label}", flush=True)

        table = pd.DataFrame(
            {
                "function": [m.case.label for m in results],
                "rows": [m.rows for m in results],
                "median ms": [round(m.sql_ms, 1) for m in results],
                "pandas ms": [round(m.pandas_ms, 1) for m in results],
                "ratio": [round(m.pandas_ms / m.sql_ms, 1) for m in results],
                "same result": ["yes" if m.same else "NO" for m in results],
            }
        )
        print()
        print(table.to_string(index=False))
        print(f"\n{load()}")

        for m in sorted(results, key=lambda m: m.sql_ms, reverse=True)[: args.explain]:
            print(f"\nEXPLAIN (ANALYZE, BUFFERS) {m.case.label}:")
            plan = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + m.statement, m.parameters
            ).scalars()
            print("\n".join(plan))
    engine.dispose()


if __name__ == "__main__":
    main()
