"""``iwm_lab.queries.overview``: row counts, freshness and null shares for data health."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from iwm_lab import operations, rollups
from iwm_lab.database import get_engine
from iwm_lab.models import Base
from iwm_lab.queries import overview
from iwm_lab.queries.overview import freshness, null_shares, table_row_counts

FRESHNESS_DTYPES = {
    "table": "str",
    "column": "str",
    "latest": "datetime64[us]",
    "age_days": "float64",
    "in_recovery": "bool",
    "replay_lag_bytes": "Int64",
    "replay_lag_s": "float64",
}
NULL_SHARE_DTYPES = {
    "table": "str",
    "column": "str",
    "rows": "int64",
    "nulls": "int64",
    "null_share": "float64",
}


ESTIMATED_NULL_DTYPES = {
    "table": "str",
    "column": "str",
    "rows_estimate": "int64",
    "nulls_estimate": "int64",
    "null_share_estimate": "float64",
}


@pytest.mark.parametrize(("exact", "column"), [(False, "rows_estimate"), (True, "rows")])
def test_table_row_counts(conn: Connection, exact: bool, column: str) -> None:
    # Tables never vacuumed nor analysed have no statistics to estimate from: counted.
    conn.execute(text("insert into movies (title) values ('a'), ('b')"))
    df = table_row_counts(conn, exact=exact)
    assert list(df.columns) == ["table", column]
    assert dict(df.dtypes.astype(str)) == {"table": "str", column: "int64"}
    assert df["table"].tolist() == sorted(Base.metadata.tables)
    assert dict(zip(df["table"], df[column], strict=True))["movies"] == 2


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_exact_must_be_a_bool(conn: Connection, bad: object) -> None:
    for function in (table_row_counts, null_shares):
        with pytest.raises(ValueError, match="exact must be True or False"):
            function(conn, exact=bad)  # type: ignore[arg-type]


@pytest.fixture
def analysed(make_database: Callable[..., URL], template_name: str) -> Iterator[Connection]:
    """A committed database of its own (statistics are not rolled back), 4,000 movies, a
    fifth without a Siddu score, analysed; then 4,000 more of the same size that ANALYZE has
    not seen, all with a score. The estimate must count the rows added since; the statistics
    alone (the naive estimate) say 4,000 rows."""
    engine = get_engine(make_database("analysed", template=template_name), writable=True)
    insert = text(
        "insert into movies (title, siddu_score) "
        "select 'movie ' || i, case when i % 5 <> 0 then 7.5 end from generate_series(1, :n) i"
    )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(insert, {"n": 4000})
        conn.execute(text("analyze movies"))
        conn.execute(
            text(
                "insert into movies (title, siddu_score) "
                "select 'later ' || i, 7.5 from generate_series(1, 4000) i"
            )
        )
        yield conn
    engine.dispose()


def test_row_estimates_count_the_rows_added_since_the_statistics(analysed: Connection) -> None:
    stored = analysed.execute(text("select reltuples from pg_class where relname = 'movies'"))
    assert stored.scalar_one() == 4000  # what the statistics alone would say
    estimated = table_row_counts(analysed).set_index("table")["rows_estimate"]
    exact = table_row_counts(analysed, exact=True).set_index("table")["rows"]
    assert exact["movies"] == 8000
    # Within the rows-per-page spread of the two batches, far from the 4,000 of the statistics.
    assert abs(estimated["movies"] - 8000) <= 8000 * 0.05
    # Tables of no pages hold no row, exactly; never-analysed ones are counted.
    assert estimated["reviews"] == exact["reviews"] == 0


def test_null_share_estimates_come_from_the_sample(analysed: Connection) -> None:
    estimated = null_shares(analysed)
    assert dict(estimated.dtypes.astype(str)) == ESTIMATED_NULL_DTYPES
    movies = estimated[estimated["table"] == "movies"].set_index("column")
    siddu = movies.loc["siddu_score"]
    # ANALYZE saw a fifth of NULLs (it read every one of the 4,000 rows then), applied to the
    # table's estimated rows: not the 10 % an exact count finds now.
    assert siddu["null_share_estimate"] == pytest.approx(0.2)
    assert (
        siddu["rows_estimate"] == table_row_counts(analysed).set_index("table").loc["movies"].item()
    )
    assert siddu["nulls_estimate"] == round(siddu["rows_estimate"] * 0.2)
    counted = null_shares(analysed, exact=True).set_index(["table", "column"])
    assert counted.loc[("movies", "siddu_score"), "null_share"] == pytest.approx(0.1)
    # A table without statistics (reviews: empty, no pages) has no share.
    reviews = estimated[estimated["table"] == "reviews"]
    assert (reviews["rows_estimate"] == 0).all() and reviews["null_share_estimate"].isna().all()


def test_freshness_of_an_empty_database(conn: Connection) -> None:
    df = freshness(conn)
    assert dict(df.dtypes.astype(str)) == FRESHNESS_DTYPES
    assert list(zip(df["table"], df["column"], strict=True)) == [
        ("movies", "release_date"),
        ("reviews", "date"),
        ("pulses", "created_at"),
        ("trending_topics", "computed_at"),
        *((name, "refreshed_at") for name in rollups.ROLLUPS),
    ]
    tables, refreshes = df.iloc[:4], df.iloc[4:]
    assert tables["latest"].isna().all()
    assert tables["age_days"].isna().all()
    # The migration populates every rollup, so each has been refreshed.
    assert refreshes["latest"].notna().all()
    # Read from the primary: no replica, no lag (tests/test_standby.py reads a standby).
    assert not df["in_recovery"].any()
    assert df["replay_lag_bytes"].isna().all()
    assert df["replay_lag_s"].isna().all()


def test_freshness(conn: Connection) -> None:
    now: datetime = conn.execute(text("select localtimestamp")).scalar_one()
    user = conn.execute(
        text("insert into users (hashed_password, name) values ('h', 'u') returning id")
    ).scalar_one()
    movie = (
        conn.execute(
            text(
                "insert into movies (title, release_date) values "
                "('old', :old), ('announced', :future), ('undated', null) returning id"
            ),
            {"old": now - timedelta(days=400), "future": now + timedelta(days=30)},
        )
        .scalars()
        .first()
    )
    conn.execute(
        text(
            "insert into reviews (title, content, rating, date, user_id, movie_id) values "
            "('r', 'c', 7, :d1, :u, :m), ('r', 'c', 8, :d2, :u, :m), ('r', 'c', 9, null, :u, :m)"
        ),
        {
            "d1": now - timedelta(days=3),
            "d2": now - timedelta(days=1, hours=12),
            "u": user,
            "m": movie,
        },
    )
    conn.execute(
        text("insert into pulses (content_text, created_at) values ('p', :t)"),
        {"t": now - timedelta(hours=6)},
    )
    df = freshness(conn)
    latest = dict(zip(df["table"], df["latest"], strict=True))
    age = dict(zip(df["table"], df["age_days"], strict=True))
    assert latest["movies"] == pd.Timestamp(now + timedelta(days=30))
    assert age["movies"] == pytest.approx(-30)  # announced: in the future
    assert age["reviews"] == pytest.approx(1.5)
    assert age["pulses"] == pytest.approx(0.25)
    assert pd.isna(latest["trending_topics"])
    conn.execute(text("update rollup_refreshes set refreshed_at = :t"), {"t": now})
    operations.refresh_rollups_in(conn, ["review_daily_stats"])
    age = dict(zip(*freshness(conn)[["table", "age_days"]].T.values, strict=True))
    assert age["review_daily_stats"] == pytest.approx(0)
    assert age["movie_review_stats"] == pytest.approx(0)


def test_freshness_measured_at_a_given_moment(conn: Connection) -> None:
    latest = datetime(2026, 10, 31, 18, 0)
    conn.execute(
        text("insert into pulses (content_text, created_at) values ('p', :t)"), {"t": latest}
    )
    now = conn.execute(text("select localtimestamp")).scalar_one()
    by_clock = dict(zip(*freshness(conn)[["table", "age_days"]].T.values, strict=True))
    assert by_clock["pulses"] == pytest.approx((now - latest) / timedelta(days=1))
    for as_of in (date(2026, 11, 2), datetime(2026, 11, 2), "2026-11-02", "2026-11-02T00:00"):
        df = freshness(conn, as_of=as_of)
        assert dict(df.dtypes.astype(str)) == FRESHNESS_DTYPES
        age = dict(zip(df["table"], df["age_days"], strict=True))
        assert age["pulses"] == pytest.approx(1.25), as_of  # 6 hours + 1 day
        assert pd.isna(age["reviews"])
    aware = datetime(2026, 11, 2, 1, 0, tzinfo=timezone(timedelta(hours=1)))  # 00:00 UTC
    assert freshness(conn, as_of=aware)["age_days"].iloc[2] == pytest.approx(1.25)
    # A moment before the latest row: the data is newer than the as-of.
    earlier = freshness(conn, as_of="2026-10-31T12:00")
    assert earlier.loc[earlier["table"] == "pulses", "age_days"].item() == pytest.approx(-0.25)


@pytest.mark.parametrize("as_of", ["yesterday", "2026-13-01", 20261101, "2026-11-01 25:00"])
def test_freshness_rejects_a_bad_moment(conn: Connection, as_of: object) -> None:
    with pytest.raises(ValueError, match="as_of"):
        freshness(conn, as_of=as_of)  # type: ignore[arg-type]


def fresh_frame(ages: dict[str, float | None]) -> pd.DataFrame:
    """A freshness frame as the query returns it on a primary, with the given ages (None: no
    row)."""
    run = pd.Timestamp("2026-11-29 12:00")
    return pd.DataFrame(
        {
            "table": list(ages),
            "column": ["date"] * len(ages),
            "latest": [pd.NaT if a is None else run - pd.Timedelta(days=a) for a in ages.values()],
            "age_days": [float("nan") if a is None else a for a in ages.values()],
            "in_recovery": [False] * len(ages),
            "replay_lag_bytes": [None] * len(ages),
            "replay_lag_s": [float("nan")] * len(ages),
        }
    ).astype(FRESHNESS_DTYPES)


def test_stale_sources_judge_age_against_the_limit() -> None:
    fresh = fresh_frame({"movies": -30.0, "reviews": 7.0, "pulses": 7.01, "trending_topics": 40})
    assert overview.stale_sources(fresh, stale_after_days=7) == ["pulses"]
    assert overview.stale_sources(fresh, stale_after_days=8) == []
    assert overview.stale_sources(fresh, stale_after_days=1) == ["reviews", "pulses"]
    # The announced film in the future and the old trending list are not activity.
    assert overview.stale_sources(
        fresh, stale_after_days=7, tables=("movies", "trending_topics")
    ) == ["trending_topics"]


def test_an_empty_source_is_stale() -> None:
    fresh = fresh_frame({"reviews": None, "pulses": 0.1})
    assert overview.stale_sources(fresh, stale_after_days=7) == ["reviews"]


def test_stale_sources_checks_its_arguments() -> None:
    fresh = fresh_frame({"reviews": 1.0})
    with pytest.raises(ValueError, match="no row for pulses"):
        overview.stale_sources(fresh, stale_after_days=7)
    for bad in (0, -1, "7", True):
        with pytest.raises(ValueError, match="stale_after_days"):
            overview.stale_sources(fresh, stale_after_days=bad, tables=("reviews",))  # type: ignore[arg-type]


def test_age_figures_name_every_source() -> None:
    fresh = fresh_frame({"movies": -30.123, "reviews": 28.98765, "pulses": None})
    figures = overview.age_figures(fresh)
    assert figures == {
        "movies_age_days": -30.12,
        "reviews_age_days": 28.99,
        "pulses_age_days": None,
    }
    assert all(type(v) is float for v in figures.values() if v is not None)
    assert overview.age_figures(fresh, digits=0)["reviews_age_days"] == 29.0


@pytest.mark.parametrize("exact", [False, True])
def test_null_shares(conn: Connection, exact: bool) -> None:
    # Never analysed: the estimate counts, exactly, as exact=True does.
    conn.execute(
        text(
            "insert into movies (title, siddu_score, language, status) values "
            "('a', 8, 'English', 'released'), ('b', null, null, 'released'), "
            "('c', null, 'Hindi', null), ('d', 5, null, 'released')"
        )
    )
    df = null_shares(conn, exact=exact)
    if not exact:
        assert dict(df.dtypes.astype(str)) == ESTIMATED_NULL_DTYPES
        df = df.rename(columns=lambda name: name.removesuffix("_estimate"))
    assert dict(df.dtypes.astype(str)) == NULL_SHARE_DTYPES
    expected_keys = sorted((c.table.name, c.name) for c in overview.KEY_COLUMNS)
    assert list(zip(df["table"], df["column"], strict=True)) == expected_keys
    movies = df[df["table"] == "movies"].set_index("column")
    assert movies.loc["siddu_score", ["rows", "nulls", "null_share"]].tolist() == [4, 2, 0.5]
    assert movies.loc["language", "null_share"] == 0.5
    assert movies.loc["status", "null_share"] == 0.25
    assert movies.loc["imdb_rating", "null_share"] == 1.0
    reviews = df[df["table"] == "reviews"]
    assert (reviews["rows"] == 0).all()
    assert reviews["null_share"].isna().all()  # an empty table has no share


# --- the tiny demo dataset against pandas ---------------------------------------------


def test_tiny_freshness(tiny: Connection) -> None:
    expected = []
    for col in overview.FRESHNESS_COLUMNS:
        values = pd.read_sql(text(f"select {col.name} from {col.table.name}"), tiny)[col.name]
        expected.append((col.table.name, col.name, values.max()))
    refreshes = pd.read_sql(text("select name, refreshed_at from rollup_refreshes"), tiny)
    expected.extend(
        (name, "refreshed_at", when) for name, when in sorted(refreshes.itertuples(index=False))
    )
    df = freshness(tiny)
    assert dict(df.dtypes.astype(str)) == FRESHNESS_DTYPES
    got = list(zip(df["table"], df["column"], df["latest"], strict=True))
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    for (_, _, latest), (_, _, want) in zip(got, expected, strict=True):
        assert latest == want or (pd.isna(latest) and pd.isna(want))
    assert df.loc[df["table"] == "reviews", "latest"].notna().all()


def test_tiny_null_shares(tiny: Connection) -> None:
    rows = []
    for table_name in sorted({c.table.name for c in overview.KEY_COLUMNS}):
        cols = sorted(c.name for c in overview.KEY_COLUMNS if c.table.name == table_name)
        data = pd.read_sql(text(f"select {', '.join(cols)} from {table_name}"), tiny)
        for col in cols:
            nulls = int(data[col].isna().sum())
            share = nulls / len(data) if len(data) else float("nan")
            rows.append((table_name, col, len(data), nulls, share))
    expected = pd.DataFrame(rows, columns=list(NULL_SHARE_DTYPES)).astype(NULL_SHARE_DTYPES)
    pd.testing.assert_frame_equal(null_shares(tiny, exact=True), expected)
