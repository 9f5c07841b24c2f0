"""``iwm_lab.queries.trending``: live hashtag counts, the stored table and its refresh.

Hand-made pulses are written relative to the transaction's ``localtimestamp``, which stands
still inside a transaction, so pulses sit exactly on window boundaries and the live counts
can be compared with the SQL function's in the same transaction. Each hand-made pulse is
followed by a refresh of the rollups over ``pulses`` (``pulse_tag_hours``, ``pulse_hours``),
as an import would do; pulses before the current hour are then counted from the rollups, the
others from ``pulses``. The tiny demo
dataset is checked against an independent pandas computation over the raw pulses.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from inputs import HOSTILE
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from iwm_lab import operations, rollups
from iwm_lab.database import get_engine
from iwm_lab.exceptions import ReadOnlySessionError
from iwm_lab.models.values import TRENDING_WINDOW_DAYS
from iwm_lab.operations import refresh_trending_topics
from iwm_lab.queries import trending
from iwm_lab.queries.trending import (
    hashtag_counts,
    hashtag_timeseries,
    new_tags,
    pulse_span,
    rising_tags,
    trending_refreshes,
    trending_topics,
    window_totals,
)

# The rollups an import of pulses refreshes.
PULSE_ROLLUPS = list(rollups.SOURCES["pulses"])


def refresh_pulse_rollups(conn: Connection, *, concurrently: bool = False) -> None:
    operations.refresh_rollups_in(conn, PULSE_ROLLUPS, concurrently=concurrently)


@pytest.fixture
def conn(conn: Connection) -> Connection:
    """The shared rolled-back transaction, with no pulses and no trending rows."""
    conn.execute(text("delete from trending_topics"))
    conn.execute(text("delete from pulses"))
    refresh_pulse_rollups(conn)
    return conn


class Pulses:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.now: datetime = conn.execute(text("select localtimestamp")).scalar_one()

    def add(
        self,
        tags: list[Any] | None = None,
        *,
        age: timedelta = timedelta(hours=1),
        at: datetime | None = None,
        linked_type: str | None = None,
        raw: str | None = None,
        refresh: bool = True,
    ) -> None:
        self.conn.execute(
            text(
                "insert into pulses (content_text, hashtags, linked_type, created_at) "
                "values ('p', :hashtags, :linked_type, :at)"
            ),
            {
                "hashtags": raw if raw is not None else json.dumps(tags),
                "linked_type": linked_type,
                "at": at if at is not None else self.now - age,
            },
        )
        if refresh:
            refresh_pulse_rollups(self.conn)


@pytest.fixture
def pulses(conn: Connection) -> Pulses:
    return Pulses(conn)


def as_dict(df: pd.DataFrame) -> dict[str, tuple[str, int]]:
    return {r.tag: (r.category, r.count) for r in df.itertuples()}


def test_counts_normalise_and_count_once_per_pulse(conn: Connection, pulses: Pulses) -> None:
    for tag in ("#Dune", "dune", " #DUNE ", "##dune", "#DuNe"):
        pulses.add([tag], linked_type="movie")
    pulses.add(["#Dune", "dune", "DUNE"])  # one pulse: counted once
    pulses.add(["#IPL"], linked_type="cricket")
    pulses.add(raw="not json")
    pulses.add(raw='{"tags": ["#Dune"]}')
    pulses.add(raw='[42, null, "#ipl", {"x": 1}]')
    pulses.add(["", "#", "   "])
    df = hashtag_counts(conn)
    assert dict(df.dtypes.astype(str)) == trending.COUNT_COLUMNS
    assert list(df.itertuples(index=False, name=None)) == [
        ("dune", "movie", 6),
        ("ipl", "cricket", 2),  # one cricket, one unlinked (general): a tie, alphabetical
    ]


@pytest.mark.parametrize("window_days", [1, 7, 30])
def test_window_boundaries(conn: Connection, pulses: Pulses, window_days: int) -> None:
    length = timedelta(days=window_days)
    pulses.add(["#OnTheBoundary"], age=length)  # exactly window_days old: out
    pulses.add(["#JustInside"], age=length - timedelta(microseconds=1))
    pulses.add(["#AtAsOf"], age=timedelta(0))  # created_at == as_of: in
    pulses.add(["#Future"], age=-timedelta(microseconds=1))  # after as_of: out
    assert set(hashtag_counts(conn, window_days=window_days)["tag"]) == {"justinside", "atasof"}


def test_explicit_as_of(conn: Connection, pulses: Pulses) -> None:
    as_of = datetime(2024, 3, 10, 12, 0)
    pulses.add(["#Old"], at=as_of - timedelta(days=7))  # on the boundary: out
    pulses.add(["#Old"], at=as_of - timedelta(days=6))
    pulses.add(["#Old"], at=as_of)
    pulses.add(["#Later"], at=as_of + timedelta(seconds=1))
    assert as_dict(hashtag_counts(conn, as_of=as_of)) == {"old": ("general", 2)}


@pytest.mark.slow
@pytest.mark.parametrize(
    "as_of",
    [
        date(2024, 3, 10),
        "2024-03-10",
        "2024-03-10T00:00:00",
        " 2024-03-10 ",
        datetime(2024, 3, 10, 1, 0, tzinfo=timezone(timedelta(hours=1))),
        "2024-03-10T01:00+01:00",
    ],
    ids=["date", "iso-date", "iso-datetime", "padded", "aware", "iso-aware"],
)
def test_as_of_may_be_a_date_or_an_iso_string(conn: Connection, pulses: Pulses, as_of: Any) -> None:
    """A date is its midnight (the day's pulses are after it); aware moments are read in UTC,
    the time zone the naive timestamps hold."""
    midnight = datetime(2024, 3, 10)
    pulses.add(["#Before"], at=midnight - timedelta(hours=1))
    pulses.add(["#Before", "#Base"], at=midnight - timedelta(days=10))
    pulses.add(["#AtMidnight"], at=midnight)
    pulses.add(["#SameDay"], at=midnight + timedelta(microseconds=1))
    expected = hashtag_counts(conn, as_of=midnight)
    assert set(expected["tag"]) == {"before", "atmidnight"}
    pd.testing.assert_frame_equal(hashtag_counts(conn, as_of=as_of), expected)
    for call in (
        lambda when: rising_tags(conn, min_count=1, as_of=when),
        lambda when: new_tags(conn, min_count=1, as_of=when),
        lambda when: window_totals(conn, as_of=when),
    ):
        expected = call(midnight)
        assert not expected.empty
        pd.testing.assert_frame_equal(call(as_of), expected)
    assert refresh_trending_topics(conn, as_of=as_of)["tag"].tolist() == ["atmidnight", "before"]


def test_category_filter_and_limit_with_ties(conn: Connection, pulses: Pulses) -> None:
    for tag in ("#b", "#a", "#c"):
        pulses.add([tag], linked_type="movie")
    pulses.add(["#c"], linked_type="movie")
    pulses.add(["#ipl"], linked_type="cricket")
    df = hashtag_counts(conn, category="movie", limit=2)
    assert list(df.itertuples(index=False, name=None)) == [("c", "movie", 2), ("a", "movie", 1)]
    empty = hashtag_counts(conn, category="event")
    assert empty.empty
    assert dict(empty.dtypes.astype(str)) == trending.COUNT_COLUMNS


@pytest.mark.slow
@pytest.mark.parametrize("window", ["7d", "30d"])
def test_live_counts_equal_the_refresh_in_one_transaction(
    conn: Connection, pulses: Pulses, window: str
) -> None:
    days = TRENDING_WINDOW_DAYS[window]
    tags = ["#Dune", "dune", "#Oscars", "#IPL", "#Weekend", "#Ünïcode", "ÜNÏCODE", "#a'b", "%_"]
    for i in range(60):
        linked = ("movie", "cricket", None)[i % 3]
        pulses.add(
            [tags[i % len(tags)], tags[(i * 7) % len(tags)]],
            age=timedelta(hours=17 * i),
            linked_type=linked,
        )
    pulses.add(["#Dune"], age=timedelta(days=days))  # on the boundary
    for i in range(55):  # more than 50 tags: the cut must fall in the same place
        pulses.add([f"#tag{i:02d}"], age=timedelta(days=1))
    refreshed = refresh_trending_topics(conn, window=window)
    live = hashtag_counts(conn, window_days=days, limit=50)
    assert len(refreshed) == 50
    pd.testing.assert_frame_equal(refreshed[["tag", "category", "count"]], live)
    assert (refreshed["window_label"] == window).all()


def test_hostile_tags_are_counted_literally(conn: Connection, pulses: Pulses) -> None:
    hostile = ["' or 1=1 --", "'; drop table pulses; --", "100%", "a_b", "😀"]  # lower case
    for tag in hostile:
        pulses.add([tag])
    df = hashtag_counts(conn)
    assert sorted(df["tag"]) == sorted(hostile)
    # The day the pulses were posted (an hour ago), which is not today just after midnight.
    posted = pulses.now - timedelta(hours=1)
    series = hashtag_timeseries(conn, tags=hostile, start=posted, end=posted)
    assert series["count"].tolist() == [1] * len(hostile)
    assert conn.execute(text("select count(*) from pulses")).scalar_one() == len(hostile)


# --- trending_topics and refresh_trending_topics --------------------------------------


def test_trending_topics_reads_the_table(conn: Connection) -> None:
    conn.execute(
        text(
            "insert into trending_topics (tag, category, window_label, count) values "
            "('b', 'movie', '7d', 5), ('a', 'movie', '7d', 5), ('c', 'cricket', '7d', 9), "
            "('z', 'event', '7d', null), ('d', 'movie', '30d', 99)"
        )
    )
    df = trending_topics(conn)
    assert dict(df.dtypes.astype(str)) == trending.TOPIC_COLUMNS
    assert list(zip(df["tag"], df["count"], strict=True)) == [
        ("c", 9),
        ("a", 5),
        ("b", 5),
        ("z", 0),
    ]
    assert df["computed_at"].notna().all()
    assert trending_topics(conn, window="7d", category="movie", limit=1)["tag"].tolist() == ["a"]
    empty = trending_topics(conn, category="general")
    assert empty.empty
    assert dict(empty.dtypes.astype(str)) == trending.TOPIC_COLUMNS


def test_refresh_refuses_a_read_only_session(db_url: URL) -> None:
    engine = get_engine(db_url)  # analysts' default: read-only
    try:
        with engine.connect() as conn:
            with pytest.raises(ReadOnlySessionError, match=r"connect\(writable=True\)"):
                refresh_trending_topics(conn)
            assert not conn.in_transaction()  # its own transaction, closed
            with conn.begin(), pytest.raises(ReadOnlySessionError):
                refresh_trending_topics(conn, window="30d")
    finally:
        engine.dispose()


def test_refresh_refuses_a_read_only_transaction(conn: Connection) -> None:
    conn.execute(text("set transaction read only"))
    with pytest.raises(ReadOnlySessionError):
        refresh_trending_topics(conn)


def test_refresh_commits_its_own_transaction(engine: Engine) -> None:
    with engine.begin() as setup:
        setup.execute(text("delete from trending_topics"))
        setup.execute(text("delete from pulses"))
        setup.execute(
            text("insert into pulses (content_text, hashtags) values ('p', '[\"#Committed\"]')")
        )
    try:
        with engine.connect() as conn:
            rows = refresh_trending_topics(conn)
            assert rows["tag"].tolist() == ["committed"]
        with engine.connect() as other:
            assert trending_topics(other)["tag"].tolist() == ["committed"]
    finally:
        with engine.begin() as cleanup:
            cleanup.execute(text("delete from trending_topics"))
            cleanup.execute(text("delete from pulses"))


def test_refresh_inside_a_callers_transaction_is_the_callers(
    conn: Connection, pulses: Pulses
) -> None:
    pulses.add(["#Mine"])
    savepoint = conn.begin_nested()
    assert refresh_trending_topics(conn)["tag"].tolist() == ["mine"]
    savepoint.rollback()
    assert trending_topics(conn).empty


# --- hashtag_timeseries ---------------------------------------------------------------


def test_timeseries_zero_filled_by_day(conn: Connection, pulses: Pulses) -> None:
    day = datetime(2024, 5, 6)  # a Monday
    pulses.add(["#Dune", "dune"], at=day + timedelta(hours=1))
    pulses.add(["#DUNE"], at=day + timedelta(days=2, hours=23, minutes=59))
    pulses.add(["#ipl"], at=day + timedelta(days=2))
    pulses.add(["#dune"], at=day - timedelta(microseconds=1))  # before start
    pulses.add(["#dune"], at=day + timedelta(days=3))  # after end
    df = hashtag_timeseries(
        conn, tags=["#Dune", "dune", "IPL"], start=date(2024, 5, 6), end=date(2024, 5, 8)
    )
    assert dict(df.dtypes.astype(str)) == trending.SERIES_COLUMNS
    as_text = hashtag_timeseries(
        conn, tags=["#Dune", "dune", "IPL"], start="2024-05-06", end="2024-05-08T12:00"
    )
    pd.testing.assert_frame_equal(as_text, df)
    assert list(df.itertuples(index=False, name=None)) == [
        (pd.Timestamp("2024-05-06"), "dune", 1),
        (pd.Timestamp("2024-05-06"), "ipl", 0),
        (pd.Timestamp("2024-05-07"), "dune", 0),
        (pd.Timestamp("2024-05-07"), "ipl", 0),
        (pd.Timestamp("2024-05-08"), "dune", 1),
        (pd.Timestamp("2024-05-08"), "ipl", 1),
    ]


@pytest.mark.parametrize(
    ("freq", "periods", "counts"),
    [
        ("week", ["2024-04-29", "2024-05-06", "2024-05-13"], [1, 2, 0]),
        ("month", ["2024-04-01", "2024-05-01"], [1, 2]),
    ],
)
def test_timeseries_weeks_and_months(
    conn: Connection, pulses: Pulses, freq: str, periods: list[str], counts: list[int]
) -> None:
    pulses.add(["#x"], at=datetime(2024, 4, 28))  # before start: not counted
    pulses.add(["#x"], at=datetime(2024, 4, 30))
    pulses.add(["#x"], at=datetime(2024, 5, 6))
    pulses.add(["#x"], at=datetime(2024, 5, 12, 23))
    pulses.add(["#x"], at=datetime(2024, 5, 14))  # after end: not counted
    df = hashtag_timeseries(
        conn, tags="x", start=date(2024, 4, 30), end=date(2024, 5, 13), freq=freq
    )
    assert df["period"].tolist() == [pd.Timestamp(p) for p in periods]
    assert df["count"].tolist() == counts


# --- rising_tags ----------------------------------------------------------------------


@pytest.mark.slow
def test_rising_tags(conn: Connection, pulses: Pulses) -> None:
    day = timedelta(days=1)
    for _ in range(6):
        pulses.add(["#Fresh"], age=day)  # new: none in the baseline
    for _ in range(7):
        pulses.add(["#Up"], age=day)  # 7 in 7 days = 1/day
    for _ in range(14):
        pulses.add(["#Up"], age=10 * day)  # 14 in 28 days = 0.5/day
    for _ in range(5):
        pulses.add(["#Flat"], age=2 * day)
    for _ in range(20):
        pulses.add(["#Flat"], age=20 * day)  # 5/7 per day = 20/28: not rising
    for _ in range(4):
        pulses.add(["#Few"], age=day)  # below min_count
    pulses.add(["#Few"], age=20 * day)
    pulses.add(["#Up"], age=7 * day)  # on the split: baseline
    pulses.add(["#Fresh"], age=35 * day)  # on the baseline's far edge: out
    df = rising_tags(conn, min_count=5)
    assert dict(df.dtypes.astype(str)) == trending.RISING_COLUMNS
    assert df["tag"].tolist() == ["up"]
    up = df.iloc[0]
    assert (up["window_count"], up["baseline_count"]) == (7, 15)
    assert (up["window_rate"], up["baseline_rate"]) == pytest.approx((1.0, 15 / 28))
    assert up["growth"] == pytest.approx(1.0 / (15 / 28))
    fresh = new_tags(conn, min_count=5)
    assert dict(fresh.dtypes.astype(str)) == trending.NEW_COLUMNS
    assert list(fresh.itertuples(index=False, name=None)) == [("fresh", 6, pytest.approx(6 / 7))]
    assert new_tags(conn, min_count=7).empty
    for empty in (rising_tags(conn, min_count=100), new_tags(conn, min_count=100)):
        assert empty.empty
    assert dict(rising_tags(conn, min_count=100).dtypes.astype(str)) == trending.RISING_COLUMNS
    assert dict(new_tags(conn, min_count=100).dtypes.astype(str)) == trending.NEW_COLUMNS


def test_an_established_riser_ranks_first_however_many_tags_are_new(
    conn: Connection, pulses: Pulses
) -> None:
    """The issue's case: an established tag going from 1 pulse in the 28-day baseline to 14
    in the 7-day window (56 times the rate per day) among new tags of 3 pulses each. New tags
    first, as the list used to be, would fill the list and leave the riser out."""
    day = timedelta(days=1)
    newcomers = [f"#new{i:02d}" for i in range(12)]
    for tag in newcomers:
        for hours in (5, 30, 60):
            pulses.add([tag], age=timedelta(hours=hours), refresh=False)
    pulses.add(["#Riser"], age=20 * day, refresh=False)
    for i in range(14):
        pulses.add(["#Riser"], age=timedelta(hours=3 + 11 * i), refresh=False)
    # More pulses, but a lower growth (20 -> 30: 6 times the rate): ranks after the riser.
    for i in range(20):
        pulses.add(["#Regular"], age=8 * day + timedelta(hours=30 * i), refresh=False)
    for i in range(30):
        pulses.add(["#Regular"], age=timedelta(hours=2 + 5 * i), refresh=False)
    # 1 -> 2 is 8 times the rate, but two pulses are no trend: kept out by min_count.
    pulses.add(["#Blip"], age=15 * day, refresh=False)
    pulses.add(["#Blip"], age=2 * day, refresh=False)
    pulses.add(["#Blip"], age=3 * day)

    rising = rising_tags(conn, min_count=3, limit=5)
    assert rising["tag"].tolist() == ["riser", "regular"]
    riser = rising.iloc[0]
    assert (riser["window_count"], riser["baseline_count"]) == (14, 1)
    assert riser["growth"] == pytest.approx((14 / 7) / (1 / 28))
    fresh = new_tags(conn, min_count=3, limit=50)
    assert sorted(fresh["tag"]) == [t.removeprefix("#") for t in newcomers]
    assert (fresh["window_count"] == 3).all()
    assert "riser" not in set(new_tags(conn, min_count=1)["tag"])
    assert rising_tags(conn, min_count=2)["tag"].tolist() == ["riser", "blip", "regular"]


# --- the window as a whole, the data's span, the refresh's record ----------------------


def test_window_totals_count_pulses_tagged_or_not(conn: Connection, pulses: Pulses) -> None:
    as_of = datetime(2024, 3, 10, 12, 0)
    pulses.add(["#a", "#b"], at=as_of - timedelta(days=1))
    pulses.add(["#a", "#A", "#c"], at=as_of - timedelta(days=2))
    pulses.add(["#a"], at=as_of)
    pulses.add(raw="not json", at=as_of - timedelta(days=3))
    pulses.add(raw="[]", at=as_of - timedelta(days=3))
    pulses.add(raw='["#", "  "]', at=as_of - timedelta(days=3))
    conn.execute(
        text("insert into pulses (content_text, hashtags, created_at) values ('p', null, :at)"),
        {"at": as_of - timedelta(hours=5)},
    )
    pulses.add(["#d"], at=as_of - timedelta(days=7))  # on the window's far edge: out
    pulses.add(["#e"], at=as_of + timedelta(seconds=1))  # after as_of: out
    totals = window_totals(conn, as_of=as_of)
    assert dict(totals.dtypes.astype(str)) == trending.TOTAL_COLUMNS
    assert totals.to_dict("records") == [
        {
            "start": pd.Timestamp(as_of - timedelta(days=7)),
            "end": pd.Timestamp(as_of),
            "pulses": 7,
            "tagged_pulses": 3,
            "tags": 3,
        }
    ]
    # The sum of the tags' counts (5) is not the number of tagged pulses (3).
    assert hashtag_counts(conn, as_of=as_of)["count"].sum() == 5
    quiet = window_totals(conn, window_days=2, as_of=as_of + timedelta(days=30))
    assert quiet[["pulses", "tagged_pulses", "tags"]].to_numpy().tolist() == [[0, 0, 0]]


def test_pulse_span(conn: Connection, pulses: Pulses) -> None:
    assert pulse_span(conn) == (None, None)
    pulses.add(["#a"], at=datetime(2024, 1, 2, 3, 4))
    pulses.add(raw="not json", at=datetime(2024, 6, 1))
    pulses.add(["#b"], at=datetime(2024, 3, 1))
    assert pulse_span(conn) == (datetime(2024, 1, 2, 3, 4), datetime(2024, 6, 1))


def test_refresh_counts_back_from_its_as_of(conn: Connection, pulses: Pulses) -> None:
    as_of = datetime(2024, 3, 10, 12, 0)
    pulses.add(["#Dune"], at=as_of - timedelta(days=1))
    pulses.add(["#Dune", "#Arrival"], at=as_of - timedelta(days=20))
    pulses.add(["#Later"], at=as_of + timedelta(hours=1))
    pulses.add(["#Now"])  # an hour before the transaction's clock
    for window, expected in (("7d", {"dune": 1}), ("30d", {"dune": 2, "arrival": 1})):
        stored = refresh_trending_topics(conn, window=window, as_of=as_of)
        assert dict(zip(stored["tag"], stored["count"], strict=True)) == expected
        assert (stored["computed_at"] == pd.Timestamp(as_of)).all()
        days = TRENDING_WINDOW_DAYS[window]
        live = hashtag_counts(conn, window_days=days, as_of=as_of)
        pd.testing.assert_frame_equal(stored[["tag", "category", "count"]], live)
    assert refresh_trending_topics(conn)["tag"].tolist() == ["now"]  # default: the clock


def test_refreshes_are_recorded_even_when_empty(conn: Connection, pulses: Pulses) -> None:
    conn.execute(text("delete from trending_refreshes"))
    assert trending_refreshes(conn).empty
    pulses.add(["#Dune"], at=datetime(2024, 3, 9))
    refresh_trending_topics(conn, window="30d", as_of="2024-03-10")
    assert refresh_trending_topics(conn, window="7d", as_of="2024-04-10").empty
    clock = conn.execute(text("select localtimestamp")).scalar_one()
    refreshes = trending_refreshes(conn)
    assert dict(refreshes.dtypes.astype(str)) == trending.REFRESH_COLUMNS
    assert refreshes.to_dict("records") == [
        {
            "window_label": "7d",
            "as_of": pd.Timestamp("2024-04-10"),
            "refreshed_at": pd.Timestamp(clock),
            "topics": 0,
        },
        {
            "window_label": "30d",
            "as_of": pd.Timestamp("2024-03-10"),
            "refreshed_at": pd.Timestamp(clock),
            "topics": 1,
        },
    ]
    assert trending_topics(conn, window="7d").empty  # and the record says why


# --- the rollup and the live counts ---------------------------------------------------


def without_rollup(conn: Connection) -> None:
    """Make the functions count everything from ``pulses``, as before the first refresh."""
    conn.execute(text("update rollup_refreshes set covered_until = null"))


def test_rollup_and_pulses_give_the_same_results(conn: Connection, pulses: Pulses) -> None:
    for i in range(120):
        # Odd minutes and seconds, so windows cut through hours of the rollup.
        pulses.add(
            [f"#t{i % 7}", f"#T{i % 3}", *([f"#only{i}"] if i < 8 else [])],
            age=timedelta(hours=7 * i, minutes=13 * i, seconds=i),
            linked_type=("movie", "cricket", None)[i % 3],
            refresh=False,
        )
    refresh_pulse_rollups(conn)
    assert conn.execute(text("select count(*) from pulse_tag_hours")).scalar_one() > 0
    assert conn.execute(text("select count(*) from pulse_hours")).scalar_one() > 0
    as_of = pulses.now - timedelta(days=2, minutes=17, microseconds=3)
    calls: list[tuple[Any, dict[str, Any]]] = [
        (hashtag_counts, {"window_days": 30}),
        (hashtag_counts, {"window_days": 3, "as_of": as_of}),
        (rising_tags, {"min_count": 1, "window_days": 10, "baseline_days": 20}),
        (rising_tags, {"min_count": 1, "window_days": 4, "baseline_days": 9, "as_of": as_of}),
        (new_tags, {"min_count": 1, "window_days": 3, "baseline_days": 9}),
        (window_totals, {"window_days": 3, "as_of": as_of}),
        (
            hashtag_timeseries,
            {"tags": ["t1", "t2"], "start": pulses.now - timedelta(days=40), "end": pulses.now},
        ),
        (
            hashtag_timeseries,
            {"tags": ["#T0", "t5"], "start": date(2000, 1, 1), "end": pulses.now, "freq": "week"},
        ),
    ]
    with_rollup = [function(conn, **kwargs) for function, kwargs in calls]
    assert all(not df.empty for df in with_rollup)
    without_rollup(conn)
    for (function, kwargs), expected in zip(calls, with_rollup, strict=True):
        pd.testing.assert_frame_equal(function(conn, **kwargs), expected)


@pytest.mark.parametrize("stale", PULSE_ROLLUPS)
def test_each_pulse_rollup_is_read_up_to_its_own_refresh(
    conn: Connection, pulses: Pulses, stale: str
) -> None:
    """An import may refresh one rollup over pulses and not the other: each is read up to the
    hour its own refresh covers, and the rest is counted from ``pulses``."""
    for i in range(40):
        pulses.add(
            [f"#t{i % 4}", "#all"] if i % 3 else [],
            age=timedelta(hours=i, minutes=7 * i),
            linked_type=("movie", None)[i % 2],
            refresh=False,
        )
    operations.refresh_rollups_in(conn, [r for r in PULSE_ROLLUPS if r != stale])
    # The stale one as refreshed two days ago: none of these pulses in it.
    conn.execute(
        text("update rollup_refreshes set covered_until = :at where name = :name"),
        {"at": pulses.now - timedelta(days=2), "name": stale},
    )
    as_of = pulses.now - timedelta(hours=3, minutes=20)
    calls: list[tuple[Any, dict[str, Any]]] = [
        (window_totals, {"window_days": 3}),
        (window_totals, {"window_days": 1, "as_of": as_of}),
        (hashtag_counts, {"window_days": 3}),
        (rising_tags, {"min_count": 1, "window_days": 1, "baseline_days": 1}),
    ]
    got = [function(conn, **kwargs) for function, kwargs in calls]
    assert got[0][["pulses", "tagged_pulses", "tags"]].to_numpy().tolist() == [[40, 26, 5]]
    without_rollup(conn)
    for (function, kwargs), have in zip(calls, got, strict=True):
        pd.testing.assert_frame_equal(have, function(conn, **kwargs))


def test_pulses_after_the_refresh_count_at_once(conn: Connection, pulses: Pulses) -> None:
    pulses.add(["#Old"], age=timedelta(days=2))
    pulses.add(["#New"], age=timedelta(0), refresh=False)
    assert as_dict(hashtag_counts(conn)) == {"old": ("general", 1), "new": ("general", 1)}


def test_a_backdated_pulse_counts_from_the_next_refresh(conn: Connection, pulses: Pulses) -> None:
    """Whole hours before the refresh come from the rollup: a pulse written later but dated
    then is not seen until the rollup is refreshed (``iwm-lab import`` refreshes it)."""
    pulses.add(["#Old"], age=timedelta(days=2))
    pulses.add(["#Old"], age=timedelta(days=2), refresh=False)
    assert as_dict(hashtag_counts(conn)) == {"old": ("general", 1)}
    assert window_totals(conn)["pulses"].item() == 1
    refresh_pulse_rollups(conn, concurrently=True)
    assert as_dict(hashtag_counts(conn)) == {"old": ("general", 2)}
    assert window_totals(conn)["pulses"].item() == 2


# --- validation and hostile input -----------------------------------------------------

NOW = datetime(2024, 5, 1)
BAD_CALLS: list[tuple[str, Any, dict[str, Any]]] = [
    ("window_days 0", hashtag_counts, {"window_days": 0}),
    ("window_days float", hashtag_counts, {"window_days": 7.5}),
    ("window_days too long", hashtag_counts, {"window_days": 3651}),
    ("as_of a number", hashtag_counts, {"as_of": 20240501}),
    ("as_of words", hashtag_counts, {"as_of": "yesterday"}),
    ("as_of no such day", hashtag_counts, {"as_of": "2024-02-30"}),
    ("rising as_of", rising_tags, {"as_of": "2024-05"}),
    ("new as_of", new_tags, {"as_of": 1.5}),
    ("totals as_of", window_totals, {"as_of": "soon"}),
    ("totals window_days", window_totals, {"window_days": 0}),
    ("refresh as_of", refresh_trending_topics, {"as_of": "not a date"}),
    ("unknown category", hashtag_counts, {"category": "sports"}),
    ("limit 0", hashtag_counts, {"limit": 0}),
    ("limit too big", hashtag_counts, {"limit": 10_001}),
    ("unknown window", trending_topics, {"window": "1y"}),
    ("window upper case", trending_topics, {"window": "7D"}),
    ("topics category", trending_topics, {"category": "Movie"}),
    ("topics limit", trending_topics, {"limit": -1}),
    ("refresh window", refresh_trending_topics, {"window": "7 days"}),
    ("no tags", hashtag_timeseries, {"tags": [], "start": NOW, "end": NOW}),
    ("too many tags", hashtag_timeseries, {"tags": ["a"] * 101, "start": NOW, "end": NOW}),
    ("blank tag", hashtag_timeseries, {"tags": ["  "], "start": NOW, "end": NOW}),
    ("hash-only tag", hashtag_timeseries, {"tags": [" ## "], "start": NOW, "end": NOW}),
    ("tag not text", hashtag_timeseries, {"tags": [1], "start": NOW, "end": NOW}),
    ("tag with NUL", hashtag_timeseries, {"tags": ["a\x00"], "start": NOW, "end": NOW}),
    (
        "end before start",
        hashtag_timeseries,
        {"tags": ["a"], "start": NOW, "end": date(2024, 4, 30)},
    ),
    ("start text", hashtag_timeseries, {"tags": ["a"], "start": "May 1st", "end": NOW}),
    ("unknown freq", hashtag_timeseries, {"tags": ["a"], "start": NOW, "end": NOW, "freq": "hour"}),
    ("baseline_days 0", rising_tags, {"baseline_days": 0}),
    ("min_count 0", rising_tags, {"min_count": 0}),
    ("rising limit", rising_tags, {"limit": 10_001}),
    ("new min_count", new_tags, {"min_count": 0}),
    ("new baseline_days", new_tags, {"baseline_days": 3651}),
]


@pytest.mark.parametrize(
    ("func", "kwargs"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_invalid_parameters_raise(conn: Connection, func: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        func(conn, **kwargs)


def test_errors_list_the_valid_values(conn: Connection) -> None:
    with pytest.raises(ValueError, match="valid values: 30d, 7d"):
        trending_topics(conn, window="1y")
    with pytest.raises(ValueError, match="valid values: cricket, event, general, movie"):
        hashtag_counts(conn, category="sports")


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "call",
    [
        lambda c, v: hashtag_counts(c, category=v),
        lambda c, v: trending_topics(c, window=v),
        lambda c, v: trending_topics(c, category=v),
        lambda c, v: refresh_trending_topics(c, window=v),
        lambda c, v: hashtag_timeseries(c, tags=["a"], start=NOW, end=NOW, freq=v),
    ],
    ids=["counts.category", "topics.window", "topics.category", "refresh", "freq"],
)
def test_hostile_choices_are_rejected(
    conn: Connection, pulses: Pulses, call: Any, value: str
) -> None:
    pulses.add(["#kept"])
    with pytest.raises(ValueError, match="valid values"):
        call(conn, value)
    assert conn.execute(text("select count(*) from pulses")).scalar_one() == 1


# --- the tiny demo dataset against pandas ---------------------------------------------


def _ascii_lower(tag: str) -> str:
    # The test server's databases use the C locale, where lower() folds ASCII letters only.
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in tag)


def _mentions(pulses: pd.DataFrame) -> pd.DataFrame:
    """(id, category, created_at, tag) once per pulse and tag, parsed in Python."""
    rows: list[tuple[Any, str, Any, str]] = []
    for pulse in pulses.itertuples():
        raw = pulse.hashtags
        if not isinstance(raw, str) or not raw.lstrip(" \t\n\r\f\v").startswith("["):
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(doc, list):
            continue
        category = pulse.linked_type if isinstance(pulse.linked_type, str) else "general"
        tags = {
            _ascii_lower(v.strip(" ").lstrip("#").strip(" ")) for v in doc if isinstance(v, str)
        }
        rows.extend(
            (pulse.id, category, pulse.created_at, tag)
            for tag in tags
            if tag and len(tag) <= trending.MAX_TAG_LENGTH
        )
    return pd.DataFrame(rows, columns=["id", "category", "created_at", "tag"])


@pytest.fixture(scope="module")
def tiny_mentions(tiny: Connection) -> pd.DataFrame:
    pulses = pd.read_sql(text("select id, hashtags, linked_type, created_at from pulses"), tiny)
    mentions = _mentions(pulses)
    assert len(mentions) > 100
    return mentions


def _expected_counts(mentions: pd.DataFrame, limit: int) -> pd.DataFrame:
    per = mentions.groupby(["tag", "category"]).size().rename("n").reset_index()
    per["total"] = per.groupby("tag")["n"].transform("sum")
    best = per.sort_values(["tag", "n", "category"], ascending=[True, False, True])
    best = best.drop_duplicates("tag").rename(columns={"total": "count"})
    best = best.sort_values(["count", "tag"], ascending=[False, True]).head(limit)
    return best[["tag", "category", "count"]].astype(trending.COUNT_COLUMNS).reset_index(drop=True)


def _latest(tiny: Connection) -> datetime:
    return tiny.execute(text("select max(created_at) from pulses")).scalar_one()


@pytest.mark.parametrize("window_days", [7, 30])
def test_tiny_hashtag_counts(
    tiny: Connection, tiny_mentions: pd.DataFrame, window_days: int
) -> None:
    as_of = _latest(tiny)
    since = as_of - timedelta(days=window_days)
    m = tiny_mentions
    in_window = m[(m["created_at"] > since) & (m["created_at"] <= as_of)]
    expected = _expected_counts(in_window, 50)
    assert len(expected) > 3
    pd.testing.assert_frame_equal(
        hashtag_counts(tiny, window_days=window_days, as_of=as_of), expected
    )


def test_tiny_stored_topics_match_live_counts_at_their_computed_at(tiny: Connection) -> None:
    """The seeder refreshes both windows counting back from the data's own as-of, which
    ``computed_at`` and the refresh record hold: counting live as of that moment reproduces
    the stored rows, and neither window is empty however long ago the data ends."""
    refreshes = trending_refreshes(tiny).set_index("window_label")
    assert sorted(refreshes.index) == sorted(TRENDING_WINDOW_DAYS)
    for window, days in TRENDING_WINDOW_DAYS.items():
        stored = trending_topics(tiny, window=window)
        assert not stored.empty, window
        as_of = refreshes.loc[window, "as_of"]
        assert (stored["computed_at"] == as_of).all()
        assert refreshes.loc[window, "topics"] == len(stored)
        live = hashtag_counts(tiny, window_days=days, as_of=as_of.to_pydatetime())
        pd.testing.assert_frame_equal(stored[["tag", "category", "count"]], live, obj=window)


def test_tiny_hashtag_timeseries(tiny: Connection, tiny_mentions: pd.DataFrame) -> None:
    as_of = _latest(tiny)
    top = tiny_mentions["tag"].value_counts().index[:3].tolist()
    start, end = (as_of - timedelta(days=60)).date(), as_of.date()
    for freq, pandas_freq in (("day", "D"), ("week", "W-MON"), ("month", "MS")):
        m = tiny_mentions[
            tiny_mentions["tag"].isin(top)
            & (tiny_mentions["created_at"] >= pd.Timestamp(start))
            & (tiny_mentions["created_at"] < pd.Timestamp(end) + pd.Timedelta(days=1))
        ]
        period = m["created_at"].dt.to_period(pandas_freq[0]).dt.start_time
        counts = m.assign(period=period).groupby(["period", "tag"]).size()
        first = pd.Timestamp(start).to_period(pandas_freq[0]).start_time
        last = pd.Timestamp(end).to_period(pandas_freq[0]).start_time
        grid = pd.MultiIndex.from_product(
            [pd.date_range(first, last, freq=pandas_freq), sorted(top)], names=["period", "tag"]
        )
        expected = counts.reindex(grid, fill_value=0).rename("count").reset_index()
        expected = expected.astype(trending.SERIES_COLUMNS)
        got = hashtag_timeseries(tiny, tags=[f"#{t}" for t in top], start=start, end=end, freq=freq)
        pd.testing.assert_frame_equal(got, expected, obj=freq)


def test_tiny_rising_and_new_tags(tiny: Connection, tiny_mentions: pd.DataFrame) -> None:
    as_of = _latest(tiny)
    window, baseline, min_count = 7, 28, 2
    split = as_of - timedelta(days=window)
    m = tiny_mentions
    recent = m[(m["created_at"] > split) & (m["created_at"] <= as_of)]["tag"].value_counts()
    before = m[(m["created_at"] > split - timedelta(days=baseline)) & (m["created_at"] <= split)]
    earlier = before["tag"].value_counts()
    df = pd.DataFrame({"window_count": recent}).join(
        pd.DataFrame({"baseline_count": earlier}), how="outer"
    )
    df = df.fillna(0).astype("int64").rename_axis("tag").reset_index()
    df["window_rate"] = df["window_count"] / window
    df["baseline_rate"] = df["baseline_count"] / baseline
    # Growth as a ratio of integers, so mathematically equal growths tie exactly.
    scaled_window, scaled_baseline = df["window_count"] * baseline, df["baseline_count"] * window
    df["growth"] = scaled_window / scaled_baseline.where(scaled_baseline > 0)
    enough = df["window_count"] >= min_count
    established = df[enough & (df["baseline_count"] > 0) & (scaled_window > scaled_baseline)]
    established = established.sort_values(
        ["growth", "window_count", "tag"], ascending=[False, False, True]
    ).head(50)
    expected = established[list(trending.RISING_COLUMNS)].astype(trending.RISING_COLUMNS)
    got = rising_tags(tiny, as_of=as_of, min_count=min_count)
    assert not got.empty
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True))

    newcomers = df[enough & (df["baseline_count"] == 0)]
    newcomers = newcomers.sort_values(["window_count", "tag"], ascending=[False, True]).head(50)
    expected_new = newcomers[list(trending.NEW_COLUMNS)].astype(trending.NEW_COLUMNS)
    got_new = new_tags(tiny, as_of=as_of, min_count=min_count)
    assert not got_new.empty
    pd.testing.assert_frame_equal(got_new, expected_new.reset_index(drop=True))


def test_tiny_window_totals(tiny: Connection, tiny_mentions: pd.DataFrame) -> None:
    as_of = _latest(tiny)
    since = as_of - timedelta(days=7)
    created = pd.read_sql(text("select created_at from pulses"), tiny)["created_at"]
    m = tiny_mentions[
        (tiny_mentions["created_at"] > since) & (tiny_mentions["created_at"] <= as_of)
    ]
    totals = window_totals(tiny, as_of=as_of).iloc[0]
    assert totals["pulses"] == ((created > since) & (created <= as_of)).sum()
    assert totals["tagged_pulses"] == m["id"].nunique()
    assert totals["tags"] == m["tag"].nunique()
    assert totals["tagged_pulses"] > 0
    assert pulse_span(tiny) == (created.min().to_pydatetime(), as_of)
