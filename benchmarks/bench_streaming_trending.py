"""Latency of the streaming, trending and overview query functions, against pandas.

For every function: the median wall time of repeated calls on the configured database
(``iwm_lab.get_engine()``: a read-only analyst session), and in the same run a baseline that
loads the rows the function needs with ``pandas.read_sql`` and aggregates them in pandas.
The coverage and trending calls are then checked against their baseline's answer (the
``result`` column; ``availability(title=)`` against every matching title scored in SQL). The
heaviest call of each module is shown with ``EXPLAIN (ANALYZE, BUFFERS)``. (Rollups
against the raw tables and the partitioned twins: ``benchmarks/bench_windows.py``.)

    python -m benchmarks.bench_streaming_trending                # the configured database
    python -m benchmarks.bench_streaming_trending --seed small   # a fresh iwm_bench_small
    python -m benchmarks.bench_streaming_trending --only coverage   # the calls named so

``--seed SCALE`` creates (first time only) a database ``iwm_bench_<scale>`` on the configured
server, migrates and seeds it with the demo data (seed 42; the seeder refreshes the rollups)
and benchmarks that instead. ``refresh_trending_topics`` runs in a transaction
that is rolled back, so the benchmark leaves any database as it found it (``--seed`` aside).
Trending windows end at the latest pulse, not at now, whenever the data was dated: the
refresh is given that as-of too, so it counts a full window.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import URL

from benchmarks.references import parse_price
from iwm_lab import migrate, operations
from iwm_lab.database import database_url, get_engine
from iwm_lab.models import Base
from iwm_lab.queries import overview, streaming, trending

Call = Callable[[Connection], Any]


# Compares a function's result with its baseline's: None when they agree, else what differs.
Check = Callable[[Any, Any], str | None]


@dataclass
class Case:
    name: str
    sql: Call
    baseline: Call
    explain: bool = True
    check: Check | None = None


def read(conn: Connection, sql: str, **params: Any) -> pd.DataFrame:
    return pd.read_sql(text(sql), conn, params=params)


# --- pandas baselines: the same result from raw rows ----------------------------------


def pd_scores(
    conn: Connection, source: str = "siddu", min_reviews: int = 20, columns: str = "id, status"
) -> pd.DataFrame:
    """``columns`` of movies, and ``score``: the movie's score of ``source`` on 0-10, NaN when
    it has none (``users``: the mean rating of the movies with ``min_reviews`` reviews, from
    ``movie_review_stats``, as ``WellRated`` defines it)."""
    if source == "users":
        movies = read(conn, f"select {columns} from movies")  # noqa: S608
        stats = read(conn, "select movie_id, reviews, rating_sum from movie_review_stats")
        stats = stats[stats["reviews"] >= min_reviews]
        mean = stats.set_index("movie_id")["rating_sum"] / stats.set_index("movie_id")["reviews"]
        return movies.assign(score=movies["id"].map(mean))
    column = {"imdb": "imdb_rating", "rotten_tomatoes": "rotten_tomatoes_score"}.get(
        source, f"{source}_score"
    )
    movies = read(conn, f"select {columns}, {column} as score from movies")  # noqa: S608
    if source == "rotten_tomatoes":
        movies["score"] = movies["score"] / 10
    return movies


def pd_coverage(
    conn: Connection, top_n: int, source: str = "siddu", min_reviews: int = 20
) -> pd.DataFrame:
    opts = read(conn, "select region, movie_id, type from movie_streaming_options")
    movies = pd_scores(conn, source, min_reviews)
    released = movies[movies["status"] == "released"]
    top = set(
        released.dropna(subset=["score"])
        .sort_values(["score", "id"], ascending=[False, True])
        .head(top_n)["id"]
    )
    opts = opts.dropna(subset=["movie_id", "region"]).drop_duplicates()
    opts["released"] = opts["movie_id"].isin(released["id"])
    opts["top"] = opts["movie_id"].isin(top)
    per_movie = opts.groupby(["region", "movie_id"]).agg(released=("released", "first"))
    out = per_movie.groupby("region").agg(movies=("released", "size"), released=("released", "sum"))
    kinds = opts.pivot_table(index="region", columns="type", values="movie_id", aggfunc="nunique")
    tops = opts[opts["top"]].groupby("region")["movie_id"].nunique()
    return out.join(kinds).assign(top=tops, share=out["released"] / len(released))


def check_coverage(found: pd.DataFrame, expected: pd.DataFrame) -> str | None:
    got = found.set_index("region")
    want = expected.fillna(0)
    pairs = {"movies": "movies", "released_available": "released", "top_n_available": "top"}
    pairs.update({f"movies_{t}": t for t in ("subscription", "rent", "buy", "free")})
    for column, theirs in pairs.items():
        if (
            theirs in want
            and not (got[column] == want[theirs].reindex(got.index, fill_value=0)).all()
        ):
            return f"{column} differs"
    return None


def pd_platform_share(conn: Connection, region: str) -> pd.DataFrame:
    pairs = read(
        conn,
        "select distinct movie_id, platform_id from movie_streaming_options "
        "where region = :region and movie_id is not null and platform_id is not null",
        region=region,
    )
    names = read(conn, "select id as platform_id, name from streaming_platforms")
    pairs["exclusive"] = pairs.groupby("movie_id")["platform_id"].transform("size") == 1
    out = pairs.groupby("platform_id").agg(movies=("movie_id", "size"), excl=("exclusive", "sum"))
    out["share"] = out["movies"] / pairs["movie_id"].nunique()
    return out.reset_index().merge(names).sort_values(["movies", "name"], ascending=[False, True])


def pd_gaps(
    conn: Connection,
    region: str,
    min_score: float,
    limit: int,
    source: str = "siddu",
    min_reviews: int = 20,
) -> pd.DataFrame:
    movies = pd_scores(conn, source, min_reviews, "id, title, year, status")
    opts = read(conn, "select movie_id, region from movie_streaming_options")
    present = set(opts.loc[opts["region"] == region, "movie_id"])
    gaps = movies[
        (movies["status"] == "released")
        & (movies["score"] >= min_score)
        & ~movies["id"].isin(present)
    ].sort_values(["score", "id"], ascending=[False, True])
    gaps = gaps.head(limit)
    where = opts.dropna().groupby("movie_id")["region"].agg(lambda r: ", ".join(sorted(set(r))))
    return gaps.assign(available_in=gaps["id"].map(where).fillna(""))


def check_gaps(found: pd.DataFrame, expected: pd.DataFrame) -> str | None:
    if found["movie_id"].tolist() != expected["id"].tolist():
        return "other movies"
    if found["available_in"].tolist() != expected["available_in"].tolist():
        return "other regions"
    return None


def pd_gap_summary(
    conn: Connection, region: str, source: str = "siddu", min_reviews: int = 20
) -> tuple[int, int, int]:
    movies = pd_scores(conn, source, min_reviews)
    opts = read(conn, "select movie_id, region from movie_streaming_options")
    rated = movies[(movies["status"] == "released") & (movies["score"] >= 8.0)]["id"]
    missing = rated[~rated.isin(opts.loc[opts["region"] == region, "movie_id"])]
    nowhere = missing[~missing.isin(opts.dropna()["movie_id"])]
    return len(rated), len(missing), len(nowhere)


def check_gap_summary(found: pd.DataFrame, expected: tuple[int, int, int]) -> str | None:
    got = tuple(found.loc[0, ["well_rated", "missing", "nowhere"]].tolist())
    return None if got == expected else f"{got} against {expected}"


def _trigrams(value: str) -> set[str]:
    grams: set[str] = set()
    for word in re.findall(r"[0-9a-z]+", value.lower()):
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def pd_availability_title(conn: Connection, title: str, limit: int) -> pd.DataFrame:
    movies = read(conn, "select id, title, year from movies")
    wanted = _trigrams(title)
    sims = movies["title"].map(
        lambda t: len(wanted & (g := _trigrams(t))) / max(len(wanted | g), 1)
    )
    matched = movies.assign(similarity=sims)[sims >= 0.3]
    matched = matched.sort_values(["similarity", "id"], ascending=[False, True]).head(limit)
    return pd_availability_ids(conn, matched["id"].tolist())


def pd_availability_ids(conn: Connection, ids: list[int]) -> pd.DataFrame:
    opts = read(
        conn,
        "select o.*, p.name as platform from movie_streaming_options o "
        "left join streaming_platforms p on p.id = o.platform_id "
        "where o.movie_id = any(:ids)",
        ids=ids,
    )
    return opts.sort_values(["movie_id", "region", "platform", "type", "quality", "id"])


def pd_price_mix(conn: Connection, region: str) -> pd.DataFrame:
    opts = read(
        conn,
        "select type, quality, price from movie_streaming_options where region = :region",
        region=region,
    )
    parsed = opts["price"].map(parse_price)
    opts["currency"] = parsed.str[0]
    opts["amount"] = parsed.str[1].astype("float64")
    grouped = opts.groupby(["type", "quality", "currency"], dropna=False)["amount"]
    return grouped.agg(["size", "count", "min", "median", "max", "mean"])


def _ascii_lower(tag: str) -> str:
    # The embedded server's databases use the C locale, where SQL's lower() folds ASCII
    # letters only ("Étoile" stays "Étoile"): the tags must be the ones SQL counts.
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in tag)


def _mentions(pulses: pd.DataFrame) -> pd.DataFrame:
    rows: list[tuple[Any, str, Any, str]] = []
    for pid, raw, linked, created in pulses.itertuples(index=False, name=None):
        try:
            doc = json.loads(raw) if isinstance(raw, str) and raw.lstrip().startswith("[") else None
        except ValueError:
            doc = None
        if isinstance(doc, list):
            tags = {
                _ascii_lower(t.strip(" ").lstrip("#").strip(" ")) for t in doc if isinstance(t, str)
            }
            category = linked if isinstance(linked, str) else "general"
            rows.extend((pid, category, created, t) for t in tags if t and len(t) <= 120)
    return pd.DataFrame(rows, columns=["id", "category", "created_at", "tag"])


def _pulses(conn: Connection, since: datetime, until: datetime) -> pd.DataFrame:
    return read(
        conn,
        "select id, hashtags, linked_type, created_at from pulses "
        "where created_at > :since and created_at <= :until and hashtags is not null",
        since=since,
        until=until,
    )


def pd_counts(conn: Connection, as_of: datetime, days: int) -> pd.DataFrame:
    m = _mentions(_pulses(conn, as_of - timedelta(days=days), as_of))
    per = m.groupby(["tag", "category"]).size().rename("n").reset_index()
    per["count"] = per.groupby("tag")["n"].transform("sum")
    per = per.sort_values(["tag", "n", "category"], ascending=[True, False, True])
    per = per.drop_duplicates("tag").sort_values(["count", "tag"], ascending=[False, True])
    return per.head(50)


def pd_series(conn: Connection, tags: list[str], start: datetime, end: datetime) -> pd.DataFrame:
    m = _mentions(_pulses(conn, start - timedelta(microseconds=1), end))
    m = m[m["tag"].isin(tags)]
    counts = m.groupby([m["created_at"].dt.floor("D"), "tag"]).size()
    grid = pd.MultiIndex.from_product([pd.date_range(start, end, freq="D"), sorted(tags)])
    return counts.reindex(grid, fill_value=0)


def _growth(conn: Connection, as_of: datetime, window: int, baseline: int) -> pd.DataFrame:
    """Per tag of the window or the baseline before it: pulses mentioning it in each."""
    split = as_of - timedelta(days=window)
    m = _mentions(_pulses(conn, split - timedelta(days=baseline), as_of))
    recent = m[m["created_at"] > split]["tag"].value_counts()
    before = m[m["created_at"] <= split]["tag"].value_counts()
    counts = pd.DataFrame({"window_count": recent, "baseline_count": before}).fillna(0)
    return counts.astype("int64").rename_axis("tag").reset_index()


def pd_rising(
    conn: Connection, as_of: datetime, window: int, baseline: int, min_count: int
) -> pd.DataFrame:
    c = _growth(conn, as_of, window, baseline)
    c = c[(c["baseline_count"] > 0) & (c["window_count"] >= min_count)]
    scaled_window, scaled_baseline = c["window_count"] * baseline, c["baseline_count"] * window
    c = c[scaled_window > scaled_baseline].assign(growth=scaled_window / scaled_baseline)
    order = ["growth", "window_count", "tag"]
    return c.sort_values(order, ascending=[False, False, True]).head(50)


def pd_new(
    conn: Connection, as_of: datetime, window: int, baseline: int, min_count: int
) -> pd.DataFrame:
    c = _growth(conn, as_of, window, baseline)
    c = c[(c["baseline_count"] == 0) & (c["window_count"] >= min_count)]
    return c.sort_values(["window_count", "tag"], ascending=[False, True]).head(50)


def pd_window_totals(conn: Connection, as_of: datetime, days: int) -> tuple[int, int, int]:
    pulses = read(
        conn,
        "select id, hashtags, linked_type, created_at from pulses "
        "where created_at > :since and created_at <= :until",
        since=as_of - timedelta(days=days),
        until=as_of,
    )
    m = _mentions(pulses.dropna(subset=["hashtags"]))
    return len(pulses), m["id"].nunique(), m["tag"].nunique()


def same_rows(*columns: str) -> Check:
    """A check that ``columns`` hold the same values, row by row, in both frames."""

    def check(found: pd.DataFrame, expected: pd.DataFrame) -> str | None:
        got = list(found[list(columns)].itertuples(index=False, name=None))
        want = list(expected[list(columns)].itertuples(index=False, name=None))
        return None if got == want else f"{len(got)} rows against {len(want)}, or other values"

    return check


def check_series(found: pd.DataFrame, expected: pd.Series) -> str | None:
    return None if found["count"].tolist() == expected.tolist() else "other counts"


def check_totals(found: pd.DataFrame, expected: tuple[int, int, int]) -> str | None:
    got = tuple(found.loc[0, ["pulses", "tagged_pulses", "tags"]].tolist())
    return None if got == expected else f"{got} against {expected}"


# Every title that matches, each scored: what availability(title=...) answered before the GiST
# index, kept as the reference for its nearest-first search.
_ALL_MATCHES = text("""
SELECT m.id FROM movies AS m
WHERE m.title % :title OR :title <% m.title
ORDER BY similarity(m.title, :title) DESC, word_similarity(:title, m.title) DESC, m.id
LIMIT :limit
""")


def check_matches(expected_ids: list[int]) -> Check:
    def check(found: pd.DataFrame, _baseline: Any) -> str | None:
        got = found["movie_id"].drop_duplicates().tolist()
        return None if got == expected_ids else f"{got[:5]}... against {expected_ids[:5]}..."

    return check


def pd_topics(conn: Connection) -> pd.DataFrame:
    topics = read(conn, "select * from trending_topics")
    return topics[topics["window_label"] == "7d"].sort_values(["count", "tag"]).head(50)


def pd_row_counts(conn: Connection) -> dict[str, int]:
    # A count needs every row; one column of each is the least to read.
    return {
        t.name: len(read(conn, f"select 1 as x from {t.name}"))  # noqa: S608
        for t in Base.metadata.sorted_tables
    }


def pd_freshness(conn: Connection) -> list[Any]:
    return [
        read(conn, f"select {c.name} from {c.table.name}")[c.name].max()  # noqa: S608
        for c in overview.FRESHNESS_COLUMNS
    ]


def pd_null_shares(conn: Connection) -> dict[str, pd.Series]:
    shares = {}
    for name in sorted({c.table.name for c in overview.KEY_COLUMNS}):
        cols = [c.name for c in overview.KEY_COLUMNS if c.table.name == name]
        shares[name] = read(conn, f"select {', '.join(cols)} from {name}").isna().mean()  # noqa: S608
    return shares


# --- the run ----------------------------------------------------------------------------


def cases(conn: Connection) -> list[Case]:
    """Every function, with parameters an analyst would use on this data."""
    by_size = text(
        "select region from movie_streaming_options where region is not null "
        "group by region order by count(*) desc, region"
    )
    regions = conn.execute(by_size).scalars().all()
    busiest, thinnest = regions[0], regions[-1]
    middle = text(
        "select title from movies "
        "where id >= (select max(movie_id) / 2 from movie_streaming_options) order by id limit 1"
    )
    title = conn.execute(middle).scalar_one()
    typo = title[:-2] + title[-1] + title[-2]  # the last two letters swapped
    first_ids = text(
        "select distinct movie_id from movie_streaming_options where movie_id is not null "
        "order by movie_id limit 20"
    )
    ids = list(conn.execute(first_ids).scalars())
    as_of = conn.execute(text("select max(created_at) from pulses")).scalar_one()
    tags = trending.hashtag_counts(conn, window_days=30, as_of=as_of, limit=5)["tag"].tolist()
    start = (as_of - timedelta(days=59)).replace(hour=0, minute=0, second=0, microsecond=0)

    def matches(query: str) -> list[int]:
        params = {"title": query, "limit": 20}
        return list(conn.execute(_ALL_MATCHES, params).scalars())

    users = {"source": "users", "min_reviews": 1}
    found = [
        Case(
            "coverage_by_region()",
            streaming.coverage_by_region,
            partial(pd_coverage, top_n=100),
            check=check_coverage,
        ),
        Case(
            "coverage_by_region(source=users, min_reviews=1)",
            partial(streaming.coverage_by_region, **users),
            partial(pd_coverage, top_n=100, **users),
            check=check_coverage,
        ),
        Case(
            f"platform_share({busiest})",
            partial(streaming.platform_share, region=busiest),
            partial(pd_platform_share, region=busiest),
        ),
        Case(
            f"coverage_gaps({thinnest}, min_score=7)",
            partial(streaming.coverage_gaps, region=thinnest, min_score=7.0),
            partial(pd_gaps, region=thinnest, min_score=7.0, limit=50),
            check=check_gaps,
        ),
        Case(
            f"coverage_gaps({thinnest}, source=users, min_reviews=1)",
            partial(streaming.coverage_gaps, region=thinnest, **users),
            partial(pd_gaps, region=thinnest, min_score=8.0, limit=50, **users),
            check=check_gaps,
        ),
        Case(
            f"coverage_gaps({thinnest}, source=imdb)",
            partial(streaming.coverage_gaps, region=thinnest, source="imdb"),
            partial(pd_gaps, region=thinnest, min_score=8.0, limit=50, source="imdb"),
            check=check_gaps,
        ),
        Case(
            f"coverage_gap_summary({busiest})",
            partial(streaming.coverage_gap_summary, region=busiest),
            partial(pd_gap_summary, region=busiest),
            check=check_gap_summary,
        ),
        Case(
            f"coverage_gap_summary({thinnest}, source=users, min_reviews=1)",
            partial(streaming.coverage_gap_summary, region=thinnest, **users),
            partial(pd_gap_summary, region=thinnest, **users),
            check=check_gap_summary,
        ),
        Case(
            f"availability(title={typo!r})",
            partial(streaming.availability, title=typo),
            partial(pd_availability_title, title=typo, limit=20),
            check=check_matches(matches(typo)),
        ),
        Case(
            "availability(title='the')",
            partial(streaming.availability, title="the"),
            partial(pd_availability_title, title="the", limit=20),
            check=check_matches(matches("the")),
        ),
        Case(
            "availability(20 movie_ids)",
            partial(streaming.availability, movie_ids=ids),
            partial(pd_availability_ids, ids=ids),
        ),
        Case(
            f"price_quality_mix({busiest})",
            partial(streaming.price_quality_mix, region=busiest),
            partial(pd_price_mix, region=busiest),
        ),
        Case("trending_topics(7d)", trending.trending_topics, pd_topics),
        Case("table_row_counts()", overview.table_row_counts, pd_row_counts, explain=False),
        Case("freshness()", overview.freshness, pd_freshness),
        Case("null_shares()", overview.null_shares, pd_null_shares),
    ]
    counted = same_rows("tag", "category", "count")
    found += [
        Case(
            "hashtag_counts(7d)",
            partial(trending.hashtag_counts, as_of=as_of),
            partial(pd_counts, as_of=as_of, days=7),
            check=counted,
        ),
        Case(
            "hashtag_counts(30d)",
            partial(trending.hashtag_counts, window_days=30, as_of=as_of),
            partial(pd_counts, as_of=as_of, days=30),
            check=counted,
        ),
        Case(
            "hashtag_timeseries(5 tags, 60 days)",
            partial(trending.hashtag_timeseries, tags=tags, start=start, end=as_of),
            partial(pd_series, tags=tags, start=start, end=as_of),
            check=check_series,
        ),
        Case(
            "rising_tags(7d vs 28d)",
            partial(trending.rising_tags, as_of=as_of, min_count=3),
            partial(pd_rising, as_of=as_of, window=7, baseline=28, min_count=3),
            check=same_rows("tag", "window_count", "baseline_count"),
        ),
        Case(
            "new_tags(7d vs 28d)",
            partial(trending.new_tags, as_of=as_of, min_count=3),
            partial(pd_new, as_of=as_of, window=7, baseline=28, min_count=3),
            check=same_rows("tag", "window_count"),
        ),
        Case(
            "window_totals(7d)",
            partial(trending.window_totals, as_of=as_of),
            partial(pd_window_totals, as_of=as_of, days=7),
            check=check_totals,
        ),
        Case(
            "window_totals(30d)",
            partial(trending.window_totals, window_days=30, as_of=as_of),
            partial(pd_window_totals, as_of=as_of, days=30),
            check=check_totals,
        ),
    ]
    return found


def median_ms(calls: dict[str, Call], conn: Connection, repeat: int) -> dict[str, float]:
    """Median wall time of each call. Calls take turns, round after round, so a neighbour's
    load on a shared machine weighs on all of them alike."""
    for fn in calls.values():
        fn(conn)  # warm-up: catalog caches, shared buffers
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            started = time.perf_counter()
            fn(conn)
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(times) for name, times in samples.items()}


def refresh_ms(engine: Engine, repeat: int) -> float:
    """refresh_trending_topics('7d') as of the latest pulse, each call rolled back: the
    database is left as it was."""
    samples = []
    with engine.connect() as conn:
        as_of = conn.execute(text("select max(created_at) from pulses")).scalar_one()
        conn.rollback()
        for _ in range(repeat + 1):
            tx = conn.begin()
            started = time.perf_counter()
            operations.refresh_trending_topics(conn, as_of=as_of)
            samples.append((time.perf_counter() - started) * 1000)
            tx.rollback()
    return statistics.median(samples[1:])


class LastStatement:
    """The last statement an engine sent, with its parameters (for EXPLAIN)."""

    def __init__(self, engine: Engine) -> None:
        self.statement, self.parameters = "", None
        event.listen(engine, "before_cursor_execute", self._keep)

    def _keep(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statement, self.parameters = statement, parameters


def explain(conn: Connection, statement: str, parameters: Any) -> str:
    plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
    return "\n".join(plan.scalars())


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seeded(scale: str) -> URL:
    """The URL of iwm_bench_<scale> on the configured server, created and seeded if new."""
    from iwm_lab.demodata import seed_database
    from iwm_lab.demodata.scales import get_scale

    get_scale(scale)  # validates the name, which becomes part of a database name
    base = database_url()
    name = f"iwm_bench_{scale}"
    admin = get_engine(base.set(database="postgres"), writable=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("select 1 from pg_database where datname = :n"), {"n": name})
        if exists.first() is not None:
            return base.set(database=name)
        conn.execute(text(f'create database "{name}"'))
    admin.dispose()
    url = base.set(database=name)
    engine = get_engine(url, writable=True)
    started = time.perf_counter()
    migrate.upgrade(engine)
    seed_database(engine, scale=scale, seed=42, progress=True)
    # The seeder analyzes; a vacuum also sets the visibility map, as on a settled database.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("vacuum analyze"))
    engine.dispose()
    print(f"seeded {name} ({scale}) in {time.perf_counter() - started:.0f} s")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", metavar="SCALE", help="benchmark iwm_bench_SCALE (seeded once)")
    parser.add_argument("--repeat", type=int, default=9, help="timed calls per function")
    parser.add_argument("--pandas-repeat", type=int, default=3, help="timed pandas baselines")
    parser.add_argument("--only", default="", help="only the calls whose name contains this")
    args = parser.parse_args()

    url = seeded(args.seed) if args.seed else None
    engine = get_engine(url)
    statements = LastStatement(engine)
    with engine.connect() as conn:
        sizes = {
            table: conn.execute(text(f"select count(*) from {table}")).scalar_one()  # noqa: S608
            for table in ("movies", "movie_streaming_options", "pulses")
        }
        print(f"database: {engine.url.render_as_string(hide_password=True)}")
        print("rows: " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()))
        benchmark = [case for case in cases(conn) if args.only in case.name]
        sql = median_ms({case.name: case.sql for case in benchmark}, conn, args.repeat)
        sql_rss = max_rss_mb()
        baselines = {case.name: case.baseline for case in benchmark}
        base = median_ms(baselines, conn, args.pandas_repeat)
        # Each checked call once more, against its baseline's answer.
        verdicts = {
            case.name: case.check(case.sql(conn), case.baseline(conn)) or "same"
            for case in benchmark
            if case.check is not None
        }
    if args.only in "refresh_trending_topics":
        writable = get_engine(url, writable=True)
        sql["refresh_trending_topics(7d), rolled back"] = refresh_ms(writable, args.repeat)
        writable.dispose()

    print("\n| function | median ms | pandas ms | ratio | result |\n|---|---:|---:|---:|---|")
    for name, ms in sql.items():
        pandas_ms = base.get(name)
        ratio = f"{pandas_ms / ms:.1f}x" if pandas_ms else "-"
        pandas_text = f"{pandas_ms:.1f}" if pandas_ms else "-"
        print(f"| {name} | {ms:.1f} | {pandas_text} | {ratio} | {verdicts.get(name, '-')} |")
    differ = [name for name, verdict in verdicts.items() if verdict != "same"]
    print(
        f"\nresults: {len(verdicts) - len(differ)} of {len(verdicts)} checked calls agree "
        f"with their baseline" + (f"; DIFFERENT: {', '.join(differ)}" if differ else "")
    )
    print(f"\npeak RSS: {sql_rss:.0f} MB after the SQL calls, {max_rss_mb():.0f} MB after pandas")
    print("load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))

    # The heaviest call of each module (streaming, trending, overview).
    heaviest: dict[str, Case] = {}
    for case in sorted(benchmark, key=lambda c: sql[c.name], reverse=True):
        if case.explain:
            heaviest.setdefault(getattr(case.sql, "func", case.sql).__module__, case)
    with engine.connect() as conn:
        for case in heaviest.values():
            case.sql(conn)
            plan = explain(conn, statements.statement, statements.parameters)
            print(f"\n### EXPLAIN (ANALYZE, BUFFERS): {case.name}\n{plan}")
    engine.dispose()


if __name__ == "__main__":
    main()
