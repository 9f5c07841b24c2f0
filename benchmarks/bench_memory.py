"""Memory of a notebook process calling every query function, at two data scales.

A notebook holds only what the query functions return: aggregates, whose size does not grow
with the data. This run checks it. For each database given, a fresh Python process (as a
notebook kernel is) imports iwm_lab, calls every query function once with an analyst's
parameters, and reports its peak resident set size (``ru_maxrss``) before and after the calls
and the rows returned. The same figures at ``small`` (100k reviews) and ``large`` (5M reviews)
mean memory independent of the data size.

    python -m benchmarks.bench_memory --url URL_OF_SMALL --url URL_OF_LARGE

Without ``--url`` it measures the configured database alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

# Runs in the child process: nothing imported before the first measurement but the stdlib.
_CHILD = r"""
import json, resource, sys
from datetime import timedelta

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

import pandas, plotly, sqlalchemy  # what a notebook imports anyway
import iwm_lab
from iwm_lab.queries import overview, ratings, streaming, trending
from sqlalchemy import text

before = rss_mb()
conn = iwm_lab.connect(sys.argv[1] or None)
region = conn.execute(text(
    "select region from movie_streaming_options where region is not null "
    "group by region order by count(*) desc limit 1")).scalar_one()
last_review = conn.execute(text("select max(date) from reviews")).scalar_one()
as_of = conn.execute(text("select max(created_at) from pulses")).scalar_one()
end = last_review.date()
calls = [
    lambda: ratings.score_distribution(conn, source="users"),
    lambda: ratings.platform_agreement(conn),
    lambda: ratings.top_rated(conn),
    lambda: ratings.divisive_movies(conn),
    lambda: ratings.ratings_by_genre(conn),
    lambda: ratings.ratings_by_year(conn, by="decade"),
    lambda: ratings.review_volume(conn, start=end - timedelta(days=364), end=end, freq="week"),
    lambda: streaming.coverage_by_region(conn),
    lambda: streaming.platform_share(conn, region=region),
    lambda: streaming.coverage_gaps(conn, region=region),
    lambda: streaming.availability(conn, title="the"),
    lambda: streaming.price_quality_mix(conn, region=region),
    lambda: trending.hashtag_counts(conn, window_days=30, as_of=as_of),
    lambda: trending.rising_tags(conn, as_of=as_of),
    lambda: trending.hashtag_timeseries(
        conn, tags=["dune", "ipl"], start=as_of - timedelta(days=59), end=as_of),
    lambda: trending.trending_topics(conn),
    lambda: overview.table_row_counts(conn),
    lambda: overview.freshness(conn),
    lambda: overview.null_shares(conn),
]
rows = sum(len(call()) for call in calls)
reviews = conn.execute(text("select count(*) from reviews")).scalar_one()
print(json.dumps({"reviews": reviews, "rows": rows, "before": before, "after": rss_mb()}))
"""


def measure(url: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, url],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ.copy(),
    )
    if done.returncode != 0:
        raise SystemExit(f"error: the measuring process failed:\n{done.stderr.strip()}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", default=[], help="database to measure")
    args = parser.parse_args()
    print("| reviews | rows returned | peak RSS before calls MB | peak RSS after calls MB |")
    print("|---:|---:|---:|---:|")
    for url in args.url or [""]:
        m = measure(url)
        print(f"| {m['reviews']:,} | {m['rows']:,} | {m['before']:.0f} | {m['after']:.0f} |")


if __name__ == "__main__":
    main()
