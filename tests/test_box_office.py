"""``iwm_lab.queries.box_office``: weekend races, runs and legs, budget multiples, the split.

Hand-made rows (each test in a transaction that is rolled back) pin what a naive reading gets
wrong: a run whose opening weekend is missing, a week still running, a movie with a gross but
no budget, grosses in two currencies. The tiny demo dataset is checked against pandas over
the raw table.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from inputs import HOSTILE, insert
from sqlalchemy import Connection, text

from iwm_lab.queries import box_office
from iwm_lab.queries.box_office import (
    budget_multiple,
    regional_split,
    run_legs,
    weekend_races,
)

FRIDAY = date(2026, 10, 2)
# title, year, budget, revenue, genres
MOVIES = [
    ("Opener", "2026", 100, 400, ["action"]),
    ("Sleeper", "2026", 10, 100, ["drama"]),
    ("Late Start", "2026", None, 900, ["drama"]),  # a gross, no budget
    ("Flop", "2025", 50, 25, ["action"]),
    ("Import", "2025", 20, 60, ["drama", "action"]),
]
# movie, region, week of run (weekend = FRIDAY + 7 * (week - 1) + offset), rank,
# weekend gross, week gross (None: still running), currency
GROSSES = [
    ("Opener", "US", 1, 1, 1000, 1500, "USD"),
    ("Opener", "US", 2, 1, 400, 700, "USD"),
    ("Opener", "US", 3, 2, 150, None, "USD"),  # running
    ("Sleeper", "US", 1, 2, 100, 200, "USD"),
    ("Sleeper", "US", 2, 2, 110, 250, "USD"),
    ("Sleeper", "US", 3, 1, 160, 300, "USD"),
    # Its week-1 weekend is not recorded: the first row is week 3, far smaller than the opening.
    ("Late Start", "US", 3, 3, 50, 90, "USD"),
    ("Late Start", "US", 4, 3, 40, 70, "USD"),
    ("Import", "IN", 1, 1, 90000, 150000, "INR"),
    ("Import", "DE", 1, 4, 300, 500, "EUR"),
    ("Flop", "DE", 1, 1, 800, 1200, "EUR"),
]


@pytest.fixture
def data(conn: Connection) -> dict[str, int]:
    genres = {"action": "Action", "drama": "Drama"}
    rows = [{"slug": slug, "name": name} for slug, name in genres.items()]
    genre_ids = dict(zip(genres, insert(conn, "genres", rows), strict=True))
    ids = {}
    for title, year, budget, revenue, slugs in MOVIES:
        row = {"title": title, "year": year, "budget": budget, "revenue": revenue}
        ids[title] = insert(conn, "movies", [row], refresh_rollups=False)[0]
        links = [{"movie_id": ids[title], "genre_id": genre_ids[s]} for s in slugs]
        for link in links:
            conn.execute(
                text("insert into movie_genres (movie_id, genre_id) values (:movie_id, :genre_id)"),
                link,
            )
    from iwm_lab import operations, rollups

    operations.refresh_rollups_in(conn, rollups.SOURCES["movies"], concurrently=False)
    rows = [
        {
            "movie_id": ids[m],
            "region": region,
            "weekend_start": FRIDAY + timedelta(weeks=week - 1),
            "week_of_run": week,
            "rank": rank,
            "weekend_gross": weekend,
            "week_gross": week_gross,
            "theaters": 100,
            "currency": currency,
        }
        for m, region, week, rank, weekend, week_gross, currency in GROSSES
    ]
    insert(conn, "box_office_grosses", rows)
    return ids


def test_weekend_races_rank_each_weekend(conn: Connection, data: dict[str, int]) -> None:
    races = weekend_races(conn, region="us", top_n=2)
    assert list(races.columns) == list(box_office.RACE_COLUMNS)
    by_weekend = races.groupby("weekend_start")["title"].apply(list).to_dict()
    start = pd.Timestamp(FRIDAY)
    assert by_weekend == {
        start: ["Opener", "Sleeper"],
        start + pd.Timedelta(weeks=1): ["Opener", "Sleeper"],
        start + pd.Timedelta(weeks=2): ["Sleeper", "Opener"],  # rank 3 (Late Start) is cut
    }
    # The last weekend only, up to a day: the latest weekend starting by then.
    last = weekend_races(conn, region="US", weekends=1, until=FRIDAY + timedelta(days=8))
    assert list(last["weekend_start"].unique()) == [start + pd.Timedelta(weeks=1)]
    assert list(last["week_of_run"]) == [2, 2]


def test_legs_need_the_opening_weekend(conn: Connection, data: dict[str, int]) -> None:
    legs = run_legs(conn, region="US").set_index("title")
    assert list(legs.index) == ["Opener", "Sleeper", "Late Start"]  # by total gross
    opener = legs.loc["Opener"]
    # The running week adds its weekend: 1500 + 700 + 150.
    assert opener["total_gross"] == 2350 and bool(opener["running"])
    assert opener["legs"] == pytest.approx(2350 / 1000)
    assert legs.loc["Sleeper", "legs"] == pytest.approx(750 / 100)
    late = legs.loc["Late Start"]
    # Naively 160 / 50 = 3.2 from its first recorded weekend; the opening is unknown.
    assert pd.isna(late["opening_weekend"]) and np.isnan(late["legs"])
    assert late["weeks"] == 2 and late["last_week"] == 4 and not late["running"]
    by_legs = run_legs(conn, region="US", order="legs")
    assert list(by_legs["title"]) == ["Sleeper", "Opener", "Late Start"]
    assert run_legs(conn, region="US", year_from=2027).empty
    # As of the second weekend: two weeks of Opener, none of Late Start (from week 3).
    then = run_legs(conn, region="US", until=FRIDAY + timedelta(days=7)).set_index("title")
    assert list(then.index) == ["Opener", "Sleeper"]
    assert then.loc["Opener", "total_gross"] == 2200 and not then.loc["Opener", "running"]


def test_budget_multiple_is_like_for_like(conn: Connection, data: dict[str, int]) -> None:
    overall = budget_multiple(conn, by="none").iloc[0]
    # Late Start has a gross and no budget: left out of both sides.
    assert overall["movies"] == 4
    multiples = [400 / 100, 100 / 10, 25 / 50, 60 / 20]
    assert overall["median_multiple"] == pytest.approx(np.median(multiples))
    assert overall["share_grossing_budget"] == pytest.approx(3 / 4)
    assert np.isnan(overall["ci_low"])  # four movies are too few for an interval
    by_genre = budget_multiple(conn, by="genre").set_index("group")
    assert by_genre.loc["Drama", "movies"] == 2  # Sleeper and Import
    assert by_genre.loc["Drama", "median_multiple"] == pytest.approx((10 + 3) / 2)
    assert by_genre.loc["Action", "median_multiple"] == pytest.approx(3.0)  # 4, 0.5, 3
    assert list(by_genre.index) == ["Drama", "Action"]  # by median
    only = budget_multiple(conn, by="genre", genre="action")
    assert list(only["group"]) == ["Action"]
    years = budget_multiple(conn, by="year")
    assert list(years["group"]) == ["2025", "2026"]
    # The USD box office: Opener's week 3 is running (no total); Sleeper's weeks sum to 750.
    usd = budget_multiple(conn, by="none", gross="box_office").iloc[0]
    assert usd["movies"] == 1 and usd["median_multiple"] == pytest.approx(75.0)


def test_median_interval_uses_order_statistics(conn: Connection) -> None:
    genre = insert(conn, "genres", [{"slug": "x", "name": "X"}])[0]
    budgets = range(1, 31)
    ids = insert(
        conn,
        "movies",
        [{"title": f"m{b}", "year": "2000", "budget": 100, "revenue": b * 10} for b in budgets],
        refresh_rollups=False,
    )
    for movie_id in ids:
        conn.execute(
            text("insert into movie_genres (movie_id, genre_id) values (:m, :g)"),
            {"m": movie_id, "g": genre},
        )
    from iwm_lab import operations, rollups

    operations.refresh_rollups_in(conn, rollups.SOURCES["movies"], concurrently=False)
    row = budget_multiple(conn, by="none").iloc[0]
    values = np.sort(np.array(budgets) * 10 / 100)
    n = len(values)
    low = int(np.floor(n / 2 - 0.98 * np.sqrt(n)))
    high = int(np.ceil(n / 2 + 1 + 0.98 * np.sqrt(n)))
    assert row["ci_low"] == pytest.approx(values[low - 1])
    assert row["ci_high"] == pytest.approx(values[high - 1])
    assert row["ci_low"] < row["median_multiple"] < row["ci_high"]


def test_regional_split_keeps_currencies_apart(conn: Connection, data: dict[str, int]) -> None:
    split = regional_split(conn).set_index("region")
    assert split.loc["US", "total_gross"] == 2350 + 750 + 160
    assert split.loc["US", "currency_share"] == pytest.approx(1.0)
    # DE's EUR grosses are not shares of a total with INR or USD.
    assert split.loc["DE", "currency"] == "EUR" and split.loc["DE", "movies"] == 2
    assert split.loc["IN", "currency_share"] == pytest.approx(1.0)
    first_week = regional_split(conn, start=FRIDAY, end=FRIDAY).set_index("region")
    assert first_week.loc["US", "total_gross"] == 1500 + 200


# --- the runs rollup, read live ------------------------------------------------------------

# A range over every weekend makes the split sum the table itself: the oracle for the rollup.
EVERY_WEEKEND = {"start": date(1900, 1, 1), "end": date(2100, 12, 31)}


def _logged(conn: Connection) -> set[int | None]:
    rows = conn.execute(
        text("select movie_id from rollup_changes where rollup = 'box_office_runs'")
    )
    return {row[0] for row in rows}


def _gross_row(movie_id: int, region: str, week: int, gross: int, currency: str) -> dict[str, Any]:
    return {
        "movie_id": movie_id,
        "region": region,
        "weekend_start": FRIDAY + timedelta(weeks=week - 1),
        "week_of_run": week,
        "rank": 1,
        "weekend_gross": gross // 2,
        "week_gross": gross,
        "theaters": 100,
        "currency": currency,
    }


def _assert_split_is_the_tables(conn: Connection) -> pd.DataFrame:
    split = regional_split(conn)
    pd.testing.assert_frame_equal(split, regional_split(conn, **EVERY_WEEKEND), check_exact=True)
    return split


def test_runs_changed_since_the_refresh_are_read_from_the_table(
    conn: Connection, data: dict[str, int]
) -> None:
    from iwm_lab import operations

    before = _assert_split_is_the_tables(conn)
    assert _logged(conn) == set()  # the fixture's insert refreshed the rollup
    # Opener's running week ends, Sleeper opens in the UK, Flop's only run goes.
    conn.execute(
        text(
            "update box_office_grosses set week_gross = 300 where movie_id = :m and week_of_run = 3"
        ),
        {"m": data["Opener"]},
    )
    insert(
        conn,
        "box_office_grosses",
        [_gross_row(data["Sleeper"], "UK", 1, 80, "GBP")],
        refresh_rollups=False,
    )
    conn.execute(text("delete from box_office_grosses where movie_id = :m"), {"m": data["Flop"]})
    # Ranks and theaters are no part of a run: changing them logs nothing.
    conn.execute(
        text("update box_office_grosses set rank = rank + 1, theaters = 5 where movie_id = :m"),
        {"m": data["Import"]},
    )
    assert _logged(conn) == {data["Opener"], data["Sleeper"], data["Flop"]}
    # The rollup itself is stale: it still holds Flop's run and Opener's running week.
    stale = conn.execute(
        text("select count(*) from box_office_runs where movie_id = :m"), {"m": data["Flop"]}
    ).scalar_one()
    assert stale == 1

    split = _assert_split_is_the_tables(conn)
    assert not split.equals(before)
    by_region = split.set_index("region")
    assert by_region.loc["US", "total_gross"] == 1500 + 700 + 300 + 750 + 160
    assert by_region.loc["DE", "movies"] == 1  # Import's run; Flop's is gone
    assert by_region.loc["UK", "currency"] == "GBP"
    # Opener's run has a total now (2,500 on a budget of 100) beside Sleeper's (750 on 10).
    usd = budget_multiple(conn, by="none", gross="box_office").iloc[0]
    assert usd["movies"] == 2 and usd["median_multiple"] == pytest.approx((25 + 75) / 2)

    operations.refresh_rollups_in(conn, ["box_office_runs"], concurrently=False)
    assert _logged(conn) == set()
    pd.testing.assert_frame_equal(_assert_split_is_the_tables(conn), split, check_exact=True)
    refreshed = budget_multiple(conn, by="none", gross="box_office").iloc[0]
    pd.testing.assert_series_equal(refreshed, usd)


def test_runs_after_a_truncate_are_read_from_the_table(
    conn: Connection, data: dict[str, int]
) -> None:
    conn.execute(text("truncate box_office_grosses"))
    assert None in _logged(conn)  # the truncate's rebuild request names no movie
    assert regional_split(conn).empty
    assert budget_multiple(conn, by="none", gross="box_office").empty
    insert(
        conn,
        "box_office_grosses",
        [_gross_row(data["Sleeper"], "US", 1, 200, "USD")],
        refresh_rollups=False,
    )
    split = _assert_split_is_the_tables(conn)
    assert split[["region", "movies", "total_gross"]].values.tolist() == [["US", 1, 200]]
    usd = budget_multiple(conn, by="none", gross="box_office").iloc[0]
    assert usd["movies"] == 1 and usd["median_multiple"] == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: weekend_races(c, region="FR"), "unknown region 'FR'; valid values: DE, IN, US"),
        (lambda c: weekend_races(c, top_n=101), "top_n must be a whole number from 1 to 100"),
        (lambda c: weekend_races(c, weekends=0), "weekends must be a whole number"),
        (lambda c: run_legs(c, order="gross"), "unknown order 'gross'; valid values"),
        (lambda c: run_legs(c, year_from=2026, year_to=2020), "must not be after"),
        (lambda c: budget_multiple(c, by="month"), "unknown by 'month'"),
        (lambda c: budget_multiple(c, gross="net"), "unknown gross 'net'"),
        (lambda c: budget_multiple(c, genre="western"), "unknown genre 'western'"),
        (lambda c: regional_split(c, start="2026-10-10", end="2026-10-01"), "must not be after"),
        (lambda c: regional_split(c, start="yesterday"), "start must be an ISO date"),
    ],
)
def test_validation_errors(conn: Connection, data: dict[str, int], call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        call(conn)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_regions_are_refused(conn: Connection, data: dict[str, int], value: str) -> None:
    with pytest.raises(ValueError, match="region"):
        weekend_races(conn, region=value)


# --- the tiny demo dataset against pandas --------------------------------------------------


@pytest.fixture(scope="module")
def grosses(tiny: Connection) -> pd.DataFrame:
    return pd.read_sql(text("select * from box_office_grosses"), tiny)


def test_tiny_legs_match_pandas(tiny: Connection, grosses: pd.DataFrame) -> None:
    if grosses.empty:
        pytest.skip("the tiny dataset has no box office yet")
    region = grosses["region"].value_counts().index[0]
    got = run_legs(tiny, region=region, limit=10_000).set_index(["movie_id", "currency"])
    rows = grosses[grosses["region"] == region].assign(
        gross=lambda d: d["week_gross"].fillna(d["weekend_gross"])
    )
    runs = rows.groupby(["movie_id", "currency"])
    expected = pd.DataFrame(
        {
            "total_gross": runs["gross"].sum(),
            "weeks": runs.size(),
            "opening": rows[rows["week_of_run"] == 1]
            .groupby(["movie_id", "currency"])["weekend_gross"]
            .sum(),
        }
    )
    expected["legs"] = expected["total_gross"] / expected["opening"].replace(0, np.nan)
    assert len(got) == len(expected)
    joined = got.join(expected.add_suffix("_pd"))
    assert (joined["total_gross"] == joined["total_gross_pd"]).all()
    assert (joined["weeks"] == joined["weeks_pd"]).all()
    np.testing.assert_allclose(joined["legs"], joined["legs_pd"], equal_nan=True)


def test_tiny_races_match_pandas(tiny: Connection, grosses: pd.DataFrame) -> None:
    if grosses.empty:
        pytest.skip("the tiny dataset has no box office yet")
    region = grosses["region"].value_counts().index[0]
    got = weekend_races(tiny, region=region, weekends=3, top_n=5)
    rows = grosses[(grosses["region"] == region) & (grosses["rank"] <= 5)]
    last = sorted(grosses.loc[grosses["region"] == region, "weekend_start"].unique())[-3:]
    expected = rows[rows["weekend_start"].isin(last)].sort_values(
        ["weekend_start", "rank", "movie_id"]
    )
    assert list(got["movie_id"]) == list(expected["movie_id"])
    assert list(got["weekend_gross"]) == list(expected["weekend_gross"])


def test_tiny_split_matches_pandas(tiny: Connection, grosses: pd.DataFrame) -> None:
    if grosses.empty:
        pytest.skip("the tiny dataset has no box office yet")
    got = regional_split(tiny).set_index(["region", "currency"])
    gross = grosses["week_gross"].fillna(grosses["weekend_gross"])
    expected = grosses.assign(gross=gross).groupby(["region", "currency"])["gross"].sum()
    assert got["total_gross"].sort_index().to_dict() == expected.sort_index().to_dict()


def test_tiny_budget_multiple_matches_pandas(tiny: Connection) -> None:
    movies = pd.read_sql(
        text("select id, year, budget, revenue from movies where budget > 0 and revenue > 0"),
        tiny,
    )
    movies = movies[movies["year"].fillna("").str.fullmatch(r"\d{4}")]
    got = budget_multiple(tiny, by="decade").set_index("group")
    decades = (movies["year"].astype(int) // 10 * 10).astype(str) + "s"
    expected = (movies["revenue"] / movies["budget"]).groupby(decades).agg(["median", "size"])
    assert got["movies"].to_dict() == expected["size"].to_dict()
    np.testing.assert_allclose(got["median_multiple"], expected.loc[got.index, "median"])


# --- charts ---------------------------------------------------------------------------------


def test_charts_draw_the_results(conn: Connection, data: dict[str, int]) -> None:
    from iwm_lab import charts

    races = charts.weekend_race_chart(weekend_races(conn, region="US", top_n=3))
    assert len(races.data) == 3 and list(races.layout.yaxis.range) == [3.5, 0.5]  # 1 on top
    legs = charts.legs_chart(run_legs(conn, region="US"))
    assert list(legs.data[0].y) == ["Opener", "Sleeper"]  # Late Start has no legs to draw
    multiple = charts.budget_multiple_chart(budget_multiple(conn, by="genre"))
    assert list(multiple.data[0].y) == ["Drama", "Action"]
    split = charts.regional_split_chart(regional_split(conn))
    assert {trace.name for trace in split.data} == {"EUR", "INR", "USD"}
    empty = regional_split(conn).iloc[0:0]
    for figure in (
        charts.regional_split_chart(empty),
        charts.weekend_race_chart(weekend_races(conn, region="US").iloc[0:0]),
        charts.legs_chart(run_legs(conn, region="US", year_from=2030)),
        charts.budget_multiple_chart(budget_multiple(conn, year_from=2030)),
    ):
        assert len(figure.data) == 0 and figure.layout.annotations[0].text == charts.NO_DATA


# --- findings -------------------------------------------------------------------------------


def test_findings_say_the_leader_the_legs_and_the_markets(
    conn: Connection, data: dict[str, int]
) -> None:
    from iwm_lab.findings import box_office as findings

    races = findings.races(weekend_races(conn, region="US"), region="US")
    assert races == [
        "On the weekend of 2026-10-23, the latest recorded in US, *Late Start* led with 40 USD "
        "in its 4th week.",
        "2 movies were number one over the 4 weekends shown.",
    ]
    legs = findings.legs(run_legs(conn, region="US"), region="US")
    assert "the median made 4.9 times its opening weekend" in legs[0]  # 2.35 and 7.5
    assert "*Sleeper* had the longest legs, 7.5 times" in legs[0]
    assert legs[1] == "1 run without a recorded opening weekend has no legs figure."
    assert legs[2] == "1 run still playing: their totals will grow."
    multiples = findings.multiples(budget_multiple(conn, by="genre"))
    assert multiples == [
        "Over movies with both a budget and a gross, the median multiple is highest for "
        "Drama (6.5 times its budget, too few movies for an interval) and lowest for Action "
        "(3.0 times its budget, too few movies for an interval)."
    ]
    split = findings.split(regional_split(conn))
    assert split[0].startswith("DE made 100.0% of the EUR box office")
    assert findings.races(weekend_races(conn, region="US").iloc[0:0], region="US") == [
        "No weekend chart of US is recorded up to this report's date."
    ]
