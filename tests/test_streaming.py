"""``iwm_lab.queries.streaming``: coverage, platform shares, gaps, availability, prices.

Hand-made rows (each test in a transaction that is rolled back) pin the edge cases: ties,
NULL scores, NULL movie/platform ids, regions whose options are all of another type, typos,
price strings of every shape, hostile strings. The tiny demo dataset is checked against an
independent pandas computation over the raw tables.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from inputs import HOSTILE, insert
from sqlalchemy import Connection, text

from benchmarks.references import parse_price
from iwm_lab.queries import streaming
from iwm_lab.queries.streaming import (
    availability,
    check_region,
    coverage_by_region,
    coverage_gap_summary,
    coverage_gaps,
    platform_share,
    price_quality_mix,
)

MOVIES = [
    ("Interstellar", "2014", 9.1, "released"),
    ("Dune", "2021", 8.5, "released"),
    ("Dune: Part Two", "2024", 8.5, "released"),  # ties with Dune, higher id
    ("Arrival", "2016", 8.0, "released"),  # exactly on the default min_score
    ("Cats", "2019", 2.0, "released"),
    ("Orphan", "2009", None, "released"),  # no score
    ("Avatar 3", "2026", 9.5, "upcoming"),  # best score, not released
]
PLATFORMS = ["Netflix", "Prime", "Hotstar", "Ghost"]
OPTIONS = [  # movie, platform, region, type, price, quality
    ("Interstellar", "Netflix", "US", "subscription", None, "HD"),
    ("Interstellar", "Prime", "US", "rent", "$3.99", "HD"),
    ("Interstellar", "Prime", "US", "buy", "$14.99", "4K"),
    ("Dune", "Netflix", "US", "subscription", None, "SD"),
    ("Avatar 3", "Netflix", "US", "free", None, None),
    (None, "Prime", "US", "rent", "$2.99", "SD"),  # no movie: ignored
    ("Cats", None, "US", "free", "free", None),  # no platform
    ("Dune", "Hotstar", "IN", "rent", "₹149", "HD"),
    ("Dune", "Hotstar", "IN", "buy", "₹1,49,999", None),
    ("Arrival", "Hotstar", "IN", "subscription", None, "HD"),
    ("Cats", "Prime", "FR", "rent", "3,99 €", "HD"),
    ("Arrival", "Netflix", "FR", "subscription", None, "HD"),  # ties Prime in FR
    ("Orphan", "Prime", "JP", "buy", "¥1,500", "HD"),  # JP: buy only
]


@pytest.fixture
def catalogue(conn: Connection) -> dict[str, int]:
    """MOVIES, PLATFORMS and OPTIONS; returns ids by title or platform name."""
    keys = ("title", "year", "siddu_score", "status")
    movie_ids = insert(conn, "movies", [dict(zip(keys, m, strict=True)) for m in MOVIES])
    platform_ids = insert(conn, "streaming_platforms", [{"name": p} for p in PLATFORMS])
    ids = dict(zip([m[0] for m in MOVIES] + PLATFORMS, movie_ids + platform_ids, strict=True))
    option_keys = ("movie_id", "platform_id", "region", "type", "price", "quality")
    rows = [(ids.get(m or ""), ids.get(p or ""), *rest) for m, p, *rest in OPTIONS]
    options = [dict(zip(option_keys, r, strict=True)) for r in rows]
    insert(conn, "movie_streaming_options", options)
    return ids


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()} for row in df.to_dict("records")
    ]


# --- coverage_by_region ---------------------------------------------------------------


def test_coverage_by_region_counts(conn: Connection, catalogue: dict[str, int]) -> None:
    df = coverage_by_region(conn, top_n=3)
    assert list(df.columns) == list(streaming.COVERAGE_COLUMNS)
    assert dict(df.dtypes.astype(str)) == streaming.COVERAGE_COLUMNS
    got = {row["region"]: row for row in records(df)}
    assert list(got) == ["FR", "IN", "JP", "US"]
    # Released: 6; top 3 by siddu_score: Interstellar, Dune (ties Dune: Part Two, lower id),
    # Dune: Part Two. Avatar 3 scores best but is not released.
    us = got["US"]
    assert (us["movies"], us["movies_subscription"], us["movies_rent"], us["movies_buy"]) == (
        4,
        2,
        1,
        1,
    )
    assert us["movies_free"] == 2  # Avatar 3, and Cats on an unknown platform
    assert (us["released_movies"], us["released_available"], us["released_share"]) == (6, 3, 0.5)
    assert (us["top_n"], us["top_n_available"]) == (3, 2)
    assert us["top_n_share"] == pytest.approx(2 / 3)
    assert (got["IN"]["movies"], got["IN"]["top_n_available"]) == (2, 1)
    assert (got["FR"]["movies"], got["FR"]["top_n_available"]) == (2, 0)


def test_coverage_ties_in_top_n_break_by_id(conn: Connection, catalogue: dict[str, int]) -> None:
    # top 2 = Interstellar and Dune (not Dune: Part Two): IN has Dune, so 1 of 2.
    df = coverage_by_region(conn, regions="IN", top_n=2)
    assert (df.loc[0, "top_n"], df.loc[0, "top_n_available"]) == (2, 1)


def test_coverage_region_without_options_of_the_types_gets_zeros(
    conn: Connection, catalogue: dict[str, int]
) -> None:
    df = coverage_by_region(conn, regions=["JP", "US"], types=["subscription"])
    jp, us = records(df)
    assert jp["region"] == "JP"
    assert {
        k: jp[k] for k in ("movies", "movies_buy", "released_available", "top_n_available")
    } == {
        "movies": 0,
        "movies_buy": 0,  # JP's buy option is not of the asked types
        "released_available": 0,
        "top_n_available": 0,
    }
    assert jp["released_share"] == 0.0
    assert (us["movies"], us["movies_rent"], us["movies_free"]) == (2, 0, 0)


def test_coverage_shares_are_nan_without_a_catalogue(conn: Connection) -> None:
    # Options of movies that are all upcoming and unscored: no released catalogue, no top set.
    (movie,) = insert(conn, "movies", [{"title": "Soon", "status": "upcoming"}])
    insert(conn, "movie_streaming_options", [{"movie_id": movie, "region": "US", "type": "free"}])
    df = coverage_by_region(conn)
    values = [None if pd.isna(v) else v for v in df.iloc[0]]
    assert values == ["US", 1, 0, 0, 0, 1, 0, 0, None, "siddu", 0, 0, None]


def test_type_columns_cover_every_offer_type() -> None:
    type_columns = [c for c in streaming.COVERAGE_COLUMNS if c.startswith("movies_")]
    assert type_columns == list(streaming.TYPE_COLUMNS.values())


# --- platform_share -------------------------------------------------------------------


def test_platform_share(conn: Connection, catalogue: dict[str, int]) -> None:
    df = platform_share(conn, region="US")
    assert dict(df.dtypes.astype(str)) == streaming.PLATFORM_SHARE_COLUMNS
    # Movies with a known platform in US: Interstellar, Dune, Avatar 3. Prime rents and sells
    # Interstellar: one movie.
    assert [tuple(r.values()) for r in records(df)] == [
        (catalogue["Netflix"], "Netflix", 3, 1.0, 2, pytest.approx(2 / 3)),
        (catalogue["Prime"], "Prime", 1, pytest.approx(1 / 3), 0, 0.0),
    ]


def test_platform_share_ties_sorted_by_name(conn: Connection, catalogue: dict[str, int]) -> None:
    df = platform_share(conn, region="FR")
    assert list(df["platform"]) == ["Netflix", "Prime"]
    assert list(df["movies"]) == [1, 1]
    assert list(df["exclusives"]) == [1, 1]


def test_platform_share_empty_keeps_columns(conn: Connection) -> None:
    insert(conn, "movie_streaming_options", [{"region": "US", "type": "free"}])
    df = platform_share(conn, region="US")
    assert df.empty
    assert dict(df.dtypes.astype(str)) == streaming.PLATFORM_SHARE_COLUMNS


# --- coverage_gaps --------------------------------------------------------------------


def test_coverage_gaps(conn: Connection, catalogue: dict[str, int]) -> None:
    df = coverage_gaps(conn, region="US")
    assert dict(df.dtypes.astype(str)) == streaming.GAPS_COLUMNS
    assert [tuple(r.values()) for r in records(df)] == [
        (catalogue["Dune: Part Two"], "Dune: Part Two", 2024, 8.5, 0, ""),
        (catalogue["Arrival"], "Arrival", 2016, 8.0, 2, "FR, IN"),  # min_score is inclusive
    ]


def test_coverage_gaps_ties_by_id_and_limit(conn: Connection, catalogue: dict[str, int]) -> None:
    df = coverage_gaps(conn, region="JP", min_score=8.5, limit=3)
    assert list(df["title"]) == ["Interstellar", "Dune", "Dune: Part Two"]
    assert list(df["available_in"]) == ["US", "IN, US", ""]
    assert coverage_gaps(conn, region="JP", min_score=8.5, limit=1)["title"].tolist() == [
        "Interstellar"
    ]


def test_coverage_gaps_empty_keeps_columns(conn: Connection, catalogue: dict[str, int]) -> None:
    df = coverage_gaps(conn, region="US", min_score=10)
    assert df.empty
    assert dict(df.dtypes.astype(str)) == streaming.GAPS_COLUMNS


def test_gap_summary_counts_every_gap_beyond_the_list(
    conn: Connection, catalogue: dict[str, int]
) -> None:
    # JP offers only Orphan (unscored): Interstellar, Dune, Dune: Part Two and Arrival are
    # well rated and missing there; Dune: Part Two is offered nowhere. A list capped at 1
    # shows one of them, the summary counts all four.
    listed = coverage_gaps(conn, region="JP", min_score=8.0, limit=1)
    df = coverage_gap_summary(conn, region="JP", min_score=8.0)
    assert dict(df.dtypes.astype(str)) == streaming.GAP_SUMMARY_COLUMNS
    assert len(listed) == 1
    assert records(df) == [
        {
            "region": "JP",
            "source": "siddu",
            "min_score": 8.0,
            "min_reviews": 20,
            "well_rated": 4,  # Avatar 3 (9.5) is not released
            "missing": 4,
            "missing_share": 1.0,
            "nowhere": 1,
        }
    ]
    us = records(coverage_gap_summary(conn, region="us", min_score=8.0))[0]
    assert (us["region"], us["well_rated"], us["missing"], us["nowhere"]) == ("US", 4, 2, 1)
    assert us["missing_share"] == 0.5
    assert len(coverage_gaps(conn, region="US", min_score=8.0)) == us["missing"]


def test_an_option_without_a_region_offers_a_movie_nowhere(
    conn: Connection, catalogue: dict[str, int]
) -> None:
    # Dune: Part Two gets options, but none with a region: still missing in JP and nowhere.
    option = {"movie_id": catalogue["Dune: Part Two"], "platform_id": catalogue["Prime"]}
    insert(conn, "movie_streaming_options", [{**option, "type": t} for t in ("rent", "buy")])
    df = records(coverage_gap_summary(conn, region="JP", min_score=8.0))[0]
    assert (df["well_rated"], df["missing"], df["nowhere"]) == (4, 4, 1)
    gaps = coverage_gaps(conn, region="JP", min_score=8.0).set_index("title")
    assert gaps.loc["Dune: Part Two", ["available_regions", "available_in"]].tolist() == [0, ""]


def test_gap_summary_without_well_rated_movies(conn: Connection, catalogue: dict[str, int]) -> None:
    row = records(coverage_gap_summary(conn, region="US", min_score=10))[0]
    assert (row["well_rated"], row["missing"], row["nowhere"]) == (0, 0, 0)
    assert row["missing_share"] is None


# --- well rated, by each score source ---------------------------------------------------------

# Built so that the sources disagree: Siddu's darling is panned by users, the crowd pleaser
# scores low on Siddu, a single rave review makes no users' score unless min_reviews is 1.
# title: (siddu_score, critics_score, rotten_tomatoes_score, users' ratings, regions offered)
SCORED: dict[str, tuple[float | None, float | None, int | None, list[float], list[str]]] = {
    "Siddu's darling": (9.0, None, None, [5.0, 5.0, 6.0], ["FR"]),
    "Crowd pleaser": (6.0, None, None, [9.0, 9.0, 10.0], ["IN"]),
    "Both agree": (8.5, 7.9, 79, [8.0, 9.0, 8.0], ["US"]),
    "One rave": (None, None, None, [10.0], []),
    "Critics' pick": (None, 9.0, 80, [], []),
}


@pytest.fixture
def scored(conn: Connection) -> dict[str, int]:
    """SCORED, all released; returns movie ids by title."""
    rows = [
        {"title": t, "siddu_score": s, "critics_score": c, "rotten_tomatoes_score": rt}
        for t, (s, c, rt, _, _) in SCORED.items()
    ]
    ids = dict(zip(SCORED, insert(conn, "movies", rows), strict=True))
    reviews = [
        {"title": "r", "content": "c", "rating": rating, "movie_id": ids[t]}
        for t, (*_, ratings, _) in SCORED.items()
        for rating in ratings
    ]
    insert(conn, "reviews", reviews)
    options = [
        {"movie_id": ids[t], "region": region, "type": "rent"}
        for t, (*_, regions) in SCORED.items()
        for region in regions
    ]
    insert(conn, "movie_streaming_options", options)
    return ids


@pytest.mark.parametrize(
    ("source", "min_reviews", "well_rated"),
    [
        ("siddu", 20, {"Siddu's darling": 9.0, "Both agree": 8.5}),
        ("users", 3, {"Crowd pleaser": 28 / 3, "Both agree": 25 / 3}),
        ("users", 1, {"One rave": 10.0, "Crowd pleaser": 28 / 3, "Both agree": 25 / 3}),
        ("critics", 20, {"Critics' pick": 9.0}),
        ("rotten_tomatoes", 20, {"Critics' pick": 8.0}),  # 80 of 100 is 8.0: inclusive
    ],
)
def test_each_source_picks_its_own_well_rated_movies(
    conn: Connection,
    scored: dict[str, int],
    source: str,
    min_reviews: int,
    well_rated: dict[str, float],
) -> None:
    for region in ("US", "fr"):
        region_code = region.upper()
        gaps = coverage_gaps(conn, region=region, source=source, min_reviews=min_reviews)
        missing = {t: s for t, s in well_rated.items() if region_code not in SCORED[t][4]}
        assert dict(zip(gaps["title"], gaps["score"], strict=True)) == pytest.approx(missing)
        assert list(gaps["score"]) == sorted(gaps["score"], reverse=True)
        summary = records(
            coverage_gap_summary(conn, region=region, source=source, min_reviews=min_reviews)
        )[0]
        assert (summary["region"], summary["source"], summary["min_reviews"]) == (
            region_code,
            source,
            min_reviews,
        )
        assert (summary["well_rated"], summary["missing"]) == (len(well_rated), len(missing))
        offered_nowhere = [t for t in missing if not SCORED[t][4]]
        assert summary["nowhere"] == len(offered_nowhere)


@pytest.mark.parametrize(
    ("source", "min_reviews", "best"),
    [("siddu", 20, "Siddu's darling"), ("users", 3, "Crowd pleaser"), ("users", 1, "One rave")],
)
def test_top_rated_set_is_ranked_by_the_source(
    conn: Connection, scored: dict[str, int], source: str, min_reviews: int, best: str
) -> None:
    df = coverage_by_region(conn, top_n=1, source=source, min_reviews=min_reviews)
    assert set(df["source"]) == {source}
    available = dict(zip(df["region"], df["top_n_available"], strict=True))
    assert available == {region: int(region in SCORED[best][4]) for region in ("FR", "IN", "US")}


def test_the_threshold_is_inclusive_on_every_scale(
    conn: Connection, scored: dict[str, int]
) -> None:
    # Both agree: critics 7.9, Rotten Tomatoes 79 (7.9 out of 10).
    for source in ("critics", "rotten_tomatoes"):
        summary = records(coverage_gap_summary(conn, region="US", source=source, min_score=7.9))
        assert summary[0]["well_rated"] == 2
        summary = records(coverage_gap_summary(conn, region="US", source=source, min_score=8.1))
        assert summary[0]["well_rated"] == (1 if source == "critics" else 0)


# --- region codes ---------------------------------------------------------------------


def test_region_codes_are_matched_regardless_of_case(
    conn: Connection, catalogue: dict[str, int]
) -> None:
    assert check_region(conn, "us") == "US"
    assert check_region(conn, " In ") == "IN"
    pd.testing.assert_frame_equal(
        platform_share(conn, region="fr"), platform_share(conn, region="FR")
    )
    pd.testing.assert_frame_equal(
        coverage_gaps(conn, region="jp"), coverage_gaps(conn, region="JP")
    )
    pd.testing.assert_frame_equal(
        price_quality_mix(conn, region="us"), price_quality_mix(conn, region="US")
    )
    both = coverage_by_region(conn, regions=["us", "US", "in"])
    assert list(both["region"]) == ["IN", "US"]
    with pytest.raises(ValueError, match="valid values: FR, IN, JP, US"):
        check_region(conn, "usa")


# --- availability ---------------------------------------------------------------------


def test_availability_finds_a_typo(conn: Connection, catalogue: dict[str, int]) -> None:
    df = availability(conn, title="Intersteller")
    assert dict(df.dtypes.astype(str)) == streaming.AVAILABILITY_COLUMNS
    assert set(df["title"]) == {"Interstellar"}
    assert 0 < df.loc[0, "similarity"] < 1
    assert list(zip(df["region"], df["platform"], df["type"], strict=True)) == [
        ("US", "Netflix", "subscription"),
        ("US", "Prime", "buy"),
        ("US", "Prime", "rent"),
    ]
    assert list(df["price"].fillna("")) == ["", "$14.99", "$3.99"]


def test_availability_ranks_by_similarity(conn: Connection, catalogue: dict[str, int]) -> None:
    df = availability(conn, title="Dune")
    movies = df.drop_duplicates("movie_id")
    assert list(movies["title"]) == ["Dune", "Dune: Part Two"]
    assert movies["similarity"].iloc[0] == 1.0
    # Dune: Part Two has no option: one row, option columns empty.
    last = records(df)[-1]
    assert last["title"] == "Dune: Part Two"
    assert all(last[k] is None for k in ("option_id", "region", "platform", "type", "price"))


# Every matching title scored, best first: the definition availability(title=) keeps while it
# reads only the nearest titles of its trigram index.
ALL_MATCHES = """
SELECT m.id FROM movies AS m
WHERE m.title % :title OR :title <% m.title
ORDER BY similarity(m.title, :title) DESC, word_similarity(:title, m.title) DESC, m.id
LIMIT :limit
"""


@pytest.mark.parametrize("use_index", [True, False], ids=["index", "no index"])
def test_availability_keeps_the_best_matches_whatever_the_limit(
    conn: Connection, use_index: bool
) -> None:
    """Ties on similarity at the cut (the same title three times), titles that match only as
    a word of a longer title (less similar than the typos, so a search by similarity alone
    misses them), and many matches of a common word: the nearest-first search returns what
    scoring every match returns, for every limit."""
    titles = [
        "Dune", "Dune", "Dune", "Dunes", "Dine", "Dune Messiah", "Dune Messiah",
        "Dune: Part Two", "Children of Dune", "The Dune Chronicles of a Very Long Title",
        "Dunk", "Dude", "Prune", "Dune Dune", "The Road", "The", "Them", "Other",
        *(f"The Sea {i}" for i in range(30)),
        *(f"Night of the Dune {i}" for i in range(12)),
    ]  # fmt: skip
    insert(conn, "movies", [{"title": title} for title in titles])
    conn.execute(text("analyze movies"))
    # Each plan reads the same rows; with the index off, they are scored and sorted instead.
    conn.execute(text(f"set local enable_indexscan = {'on' if use_index else 'off'}"))
    conn.execute(text(f"set local enable_bitmapscan = {'on' if use_index else 'off'}"))
    for query in ("Dune", "dune messiah", "the", "Dnue", "Night of the", "Chronicles"):
        for limit in (1, 2, 3, 4, 7, 20, 100):
            expected = conn.execute(text(ALL_MATCHES), {"title": query, "limit": limit})
            found = availability(conn, title=query, limit=limit)["movie_id"].drop_duplicates()
            assert found.tolist() == list(expected.scalars()), (query, limit)


def test_availability_by_ids(conn: Connection, catalogue: dict[str, int]) -> None:
    df = availability(conn, movie_ids=[catalogue["Cats"], 999_999, catalogue["Orphan"]])
    assert list(df["title"]) == ["Cats", "Cats", "Orphan"]
    assert df["similarity"].isna().all()
    assert list(df["region"]) == ["FR", "US", "JP"]
    assert df["platform_id"].isna().tolist() == [False, True, False]  # US Cats: no platform


def test_availability_nothing_found_keeps_columns(
    conn: Connection, catalogue: dict[str, int]
) -> None:
    for df in (availability(conn, title="Zzyzx Qwv"), availability(conn, movie_ids=[999_999])):
        assert df.empty
        assert dict(df.dtypes.astype(str)) == streaming.AVAILABILITY_COLUMNS


@pytest.mark.parametrize(
    "title",
    [
        "' OR 1=1 --",
        "Robert'); DROP TABLE movies; --",
        "100% _pure_ joy",
        'The "Quoted" One',
        "Amélie ❤ Paris",
        "back\\slash",
    ],
)
def test_hostile_titles_are_matched_literally(conn: Connection, title: str) -> None:
    (movie,) = insert(conn, "movies", [{"title": title}])
    insert(conn, "movies", [{"title": "Unrelated filler"}])
    df = availability(conn, title=title)
    assert df.loc[0, "movie_id"] == movie
    assert df.loc[0, "title"] == title
    assert df.loc[0, "similarity"] == 1.0
    assert conn.execute(text("select count(*) from movies")).scalar_one() == 2


@pytest.mark.parametrize("title", ["%", "_", "%%", "--", ";"])
def test_wildcard_only_titles_match_nothing(
    conn: Connection, catalogue: dict[str, int], title: str
) -> None:
    assert availability(conn, title=title).empty


# --- price_quality_mix ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "currency", "amount"),
    [
        ("$3.99", "USD", 3.99),
        ("₹149", "INR", 149.0),
        ("€4.99", "EUR", 4.99),
        ("3,99 €", "EUR", 3.99),
        ("3,99\u00a0€", "EUR", 3.99),  # no-break space, as French formatting has it
        ("£2.49", "GBP", 2.49),
        ("¥1,500", "JPY", 1500.0),
        ("CA$4.99", "CAD", 4.99),
        ("A$3.99", "AUD", 3.99),
        ("R$9.90", "BRL", 9.9),
        ("₹1,49,999", "INR", 149999.0),  # Indian grouping
        ("$1,299.00", "USD", 1299.0),
        ("1.299,00 €", "EUR", 1299.0),
        (" $ 3.99 ", "USD", 3.99),
        ("USD 3.99", "USD", 3.99),
        ("Rs. 99", "INR", 99.0),
        ("12", None, 12.0),  # a bare number: priced, currency unknown
        ("free", None, None),
        ("FREE", None, None),
        ("", None, None),
        (None, None, None),
        ("junk 12 x", None, None),
        ("$", None, None),
        ("3.99.99", None, None),
        ("$3.99 USD", None, None),  # two markers
        ("' OR 1=1 --", None, None),
    ],
)
def test_price_parsing(
    conn: Connection, price: str | None, currency: str | None, amount: float | None
) -> None:
    insert(conn, "movie_streaming_options", [{"region": "ZZ", "type": "rent", "price": price}])
    (row,) = records(price_quality_mix(conn, region="ZZ"))
    assert (row["currency"], row["options"], row["priced"]) == (
        currency,
        1,
        int(amount is not None),
    )
    assert row["price_min"] == (pytest.approx(amount) if amount is not None else None)


def test_the_rollup_knows_every_documented_currency_marker(conn: Connection) -> None:
    markers = list(streaming.CURRENCY_MARKERS)
    insert(
        conn,
        "movie_streaming_options",
        [{"region": "ZZ", "type": "rent", "price": f"{marker}7"} for marker in markers],
    )
    df = price_quality_mix(conn, region="ZZ")
    counts = dict(zip(df["currency"], df["priced"], strict=True))
    expected = pd.Series(streaming.CURRENCY_MARKERS).value_counts().to_dict()
    assert counts == expected


def test_price_statistics_and_grain(conn: Connection) -> None:
    rows = [
        ("rent", "HD", "$1.00"),
        ("rent", "HD", "$2.00"),
        ("rent", "HD", "$10.00"),
        ("rent", "HD", "€5,00"),  # another currency: its own row
        ("rent", "HD", "free"),  # unpriced: the no-currency row
        ("rent", "SD", "$1.50"),
        ("buy", None, "$9.99"),
        ("subscription", "4K", None),
    ]
    insert(
        conn,
        "movie_streaming_options",
        [{"region": "ZZ", "type": t, "quality": q, "price": p} for t, q, p in rows],
    )
    df = price_quality_mix(conn, region="ZZ")
    assert dict(df.dtypes.astype(str)) == streaming.PRICE_MIX_COLUMNS
    got = [(r["type"], r["quality"], r["currency"], r["options"], r["priced"]) for r in records(df)]
    assert got == [
        ("subscription", "4K", None, 1, 0),
        ("rent", "SD", "USD", 1, 1),
        ("rent", "HD", "EUR", 1, 1),
        ("rent", "HD", "USD", 3, 3),
        ("rent", "HD", None, 1, 0),
        ("buy", None, "USD", 1, 1),
    ]
    usd = df[(df["quality"] == "HD") & (df["currency"] == "USD")].iloc[0]
    assert (usd["price_min"], usd["price_median"], usd["price_max"]) == (1.0, 2.0, 10.0)
    assert usd["price_mean"] == pytest.approx(13 / 3)


# --- validation and hostile input -----------------------------------------------------

BAD_CALLS: list[tuple[str, Any, dict[str, Any]]] = [
    ("unknown region", platform_share, {"region": "XX"}),
    ("region not text", platform_share, {"region": 1}),
    ("region with a typo", coverage_gaps, {"region": "usa"}),
    ("gap summary region", coverage_gap_summary, {"region": "XX"}),
    ("gap summary score", coverage_gap_summary, {"region": "US", "min_score": 11}),
    ("unknown region in list", coverage_by_region, {"regions": ["US", "XX"]}),
    ("empty regions", coverage_by_region, {"regions": []}),
    ("unknown type", coverage_by_region, {"types": ["lease"]}),
    ("empty types", coverage_by_region, {"types": []}),
    ("top_n 0", coverage_by_region, {"top_n": 0}),
    ("top_n too big", coverage_by_region, {"top_n": 10_001}),
    ("top_n bool", coverage_by_region, {"top_n": True}),
    ("min_score above 10", coverage_gaps, {"region": "US", "min_score": 10.5}),
    ("min_score negative", coverage_gaps, {"region": "US", "min_score": -1}),
    ("min_score text", coverage_gaps, {"region": "US", "min_score": "8"}),
    ("unknown source", coverage_gaps, {"region": "US", "source": "tmdb"}),
    ("source in capitals", coverage_gap_summary, {"region": "US", "source": "Siddu"}),
    ("ranked by an unknown source", coverage_by_region, {"source": "weighted"}),
    ("min_reviews 0", coverage_gaps, {"region": "US", "source": "users", "min_reviews": 0}),
    ("min_reviews float", coverage_by_region, {"min_reviews": 2.0}),
    ("limit 0", coverage_gaps, {"region": "US", "limit": 0}),
    ("limit float", coverage_gaps, {"region": "US", "limit": 5.0}),
    ("neither title nor ids", availability, {}),
    ("both title and ids", availability, {"title": "Dune", "movie_ids": [1]}),
    ("blank title", availability, {"title": "  "}),
    ("title too long", availability, {"title": "x" * 201}),
    ("title with NUL", availability, {"title": "Du\x00ne"}),
    ("empty ids", availability, {"movie_ids": []}),
    ("ids not ints", availability, {"movie_ids": ["1"]}),
    ("ids bool", availability, {"movie_ids": [True]}),
    ("too many ids", availability, {"movie_ids": list(range(10_001))}),
    ("availability limit", availability, {"title": "Dune", "limit": 10_001}),
    ("price region", price_quality_mix, {"region": "XX"}),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("func", "kwargs"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_invalid_parameters_raise(
    conn: Connection, catalogue: dict[str, int], func: Any, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        func(conn, **kwargs)


def test_unknown_region_lists_the_valid_ones(conn: Connection, catalogue: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="valid values: FR, IN, JP, US"):
        platform_share(conn, region="XX")
    with pytest.raises(ValueError, match="valid values: buy, free, rent, subscription"):
        coverage_by_region(conn, types="lease")


@pytest.mark.slow
@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "call",
    [
        lambda c, v: platform_share(c, region=v),
        lambda c, v: coverage_gaps(c, region=v),
        lambda c, v: price_quality_mix(c, region=v),
        lambda c, v: coverage_gap_summary(c, region=v),
        lambda c, v: coverage_by_region(c, regions=[v]),
        lambda c, v: coverage_by_region(c, types=[v]),
    ],
    ids=[
        "platform_share",
        "coverage_gaps",
        "price_quality_mix",
        "coverage_gap_summary",
        "coverage.regions",
        "types",
    ],
)
def test_hostile_region_and_type_strings_are_rejected(
    conn: Connection, catalogue: dict[str, int], call: Any, value: str
) -> None:
    before = conn.execute(text("select count(*) from movie_streaming_options")).scalar_one()
    # A value longer than any code is refused before the lookup that lists the valid ones.
    with pytest.raises(ValueError, match=r"valid values|region code \(text of at most 10 char"):
        call(conn, value)
    after = conn.execute(text("select count(*) from movie_streaming_options")).scalar_one()
    assert after == before


# --- the tiny demo dataset against pandas ---------------------------------------------


def read(conn: Connection, sql: str) -> pd.DataFrame:
    return pd.read_sql(text(sql), conn)


def four_digit_years(years: pd.Series) -> pd.Series:
    """``movies.year`` as the queries read it: a number when four digits, else NA."""
    valid = years.where(years.str.fullmatch(r"[0-9]{4}").fillna(False))
    return pd.to_numeric(valid).astype("Int64")


@pytest.fixture(scope="module")
def tiny_tables(tiny: Connection) -> dict[str, pd.DataFrame]:
    return {
        "movies": read(tiny, "select id, title, year, siddu_score, status from movies"),
        "options": read(
            tiny,
            "select id, movie_id, platform_id, region, type, price, quality, verified, url "
            "from movie_streaming_options",
        ),
        "platforms": read(tiny, "select id, name from streaming_platforms"),
    }


def test_tiny_coverage_by_region(tiny: Connection, tiny_tables: dict[str, pd.DataFrame]) -> None:
    movies, options = tiny_tables["movies"], tiny_tables["options"]
    top_n = 25
    released = movies[movies["status"] == "released"]
    top = set(
        released.dropna(subset=["siddu_score"])
        .sort_values(["siddu_score", "id"], ascending=[False, True])
        .head(top_n)["id"]
    )
    known = options.dropna(subset=["movie_id", "region"])
    rows = []
    for region in sorted(options["region"].dropna().unique()):
        here = known[known["region"] == region]
        available = set(here["movie_id"])
        row: dict[str, Any] = {"region": region, "movies": len(available)}
        for kind, col in streaming.TYPE_COLUMNS.items():
            row[col] = here.loc[here["type"] == kind, "movie_id"].nunique()
        on_sale = len(available & set(released["id"]))
        row |= {
            "released_movies": len(released),
            "released_available": on_sale,
            "released_share": on_sale / len(released),
            "source": "siddu",
            "top_n": len(top),
            "top_n_available": len(available & top),
            "top_n_share": len(available & top) / len(top),
        }
        rows.append(row)
    expected = pd.DataFrame(rows).astype(streaming.COVERAGE_COLUMNS)
    assert len(expected) > 1
    pd.testing.assert_frame_equal(coverage_by_region(tiny, top_n=top_n), expected)


def test_tiny_platform_share(tiny: Connection, tiny_tables: dict[str, pd.DataFrame]) -> None:
    options, platforms = tiny_tables["options"], tiny_tables["platforms"]
    region = options["region"].value_counts().index[0]
    pairs = options[options["region"] == region].dropna(subset=["movie_id", "platform_id"])
    pairs = pairs[["movie_id", "platform_id"]].drop_duplicates()
    spread = pairs.groupby("movie_id")["platform_id"].transform("size")
    total = pairs["movie_id"].nunique()
    grouped = pairs.assign(exclusive=spread == 1).groupby("platform_id")
    expected = (
        pd.DataFrame({"movies": grouped.size(), "exclusives": grouped["exclusive"].sum()})
        .reset_index()
        .merge(platforms.rename(columns={"id": "platform_id", "name": "platform"}))
        .assign(
            share=lambda d: d["movies"] / total,
            exclusive_share=lambda d: d["exclusives"] / d["movies"],
        )
        .sort_values(["movies", "platform", "platform_id"], ascending=[False, True, True])
    )
    expected = expected[list(streaming.PLATFORM_SHARE_COLUMNS)].astype(
        streaming.PLATFORM_SHARE_COLUMNS
    )
    pd.testing.assert_frame_equal(
        platform_share(tiny, region=region), expected.reset_index(drop=True)
    )


def test_tiny_coverage_gaps(tiny: Connection, tiny_tables: dict[str, pd.DataFrame]) -> None:
    movies, options = tiny_tables["movies"], tiny_tables["options"]
    region = options["region"].value_counts().index[-1]  # the thinnest region: most gaps
    min_score, limit = 6.0, 40
    present = set(options.loc[options["region"] == region, "movie_id"].dropna())
    gaps = (
        movies[
            (movies["status"] == "released")
            & (movies["siddu_score"] >= min_score)
            & ~movies["id"].isin(present)
        ]
        .sort_values(["siddu_score", "id"], ascending=[False, True])
        .head(limit)
    )
    where = options.dropna(subset=["movie_id", "region"]).groupby("movie_id")["region"]
    regions_of = where.agg(lambda r: ", ".join(sorted(set(r))))
    expected = pd.DataFrame(
        {
            "movie_id": gaps["id"],
            "title": gaps["title"],
            "year": four_digit_years(gaps["year"]),
            "score": gaps["siddu_score"],
            "available_regions": gaps["id"].map(where.nunique()).fillna(0),
            "available_in": gaps["id"].map(regions_of).fillna(""),
        }
    ).astype(streaming.GAPS_COLUMNS)
    got = coverage_gaps(tiny, region=region, min_score=min_score, limit=limit)
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True))
    every = movies[
        (movies["status"] == "released")
        & (movies["siddu_score"] >= min_score)
        & ~movies["id"].isin(present)
    ]
    summary = coverage_gap_summary(tiny, region=region, min_score=min_score).iloc[0]
    assert summary["missing"] == len(every) > limit  # more than the list shows
    assert (
        summary["well_rated"]
        == ((movies["status"] == "released") & (movies["siddu_score"] >= min_score)).sum()
    )
    assert summary["nowhere"] == (~every["id"].isin(where.groups)).sum()


def test_tiny_availability(tiny: Connection, tiny_tables: dict[str, pd.DataFrame]) -> None:
    movies, options, platforms = (tiny_tables[k] for k in ("movies", "options", "platforms"))
    offered = movies[movies["id"].isin(options["movie_id"])].sort_values("id")
    target = offered.iloc[len(offered) // 2]
    ids = offered["id"].head(5).tolist()
    expected = (
        movies[movies["id"].isin(ids)]
        .rename(columns={"id": "movie_id"})
        .merge(options.rename(columns={"id": "option_id"}), on="movie_id", how="left")
        .merge(platforms.rename(columns={"id": "platform_id", "name": "platform"}), how="left")
        .assign(similarity=float("nan"), year=lambda d: four_digit_years(d["year"]))
        .sort_values(
            ["movie_id", "region", "platform", "platform_id", "type", "quality", "option_id"],
            na_position="last",
        )
    )
    expected = expected[list(streaming.AVAILABILITY_COLUMNS)].astype(streaming.AVAILABILITY_COLUMNS)
    pd.testing.assert_frame_equal(
        availability(tiny, movie_ids=ids), expected.reset_index(drop=True)
    )
    # A typo (two letters swapped) still finds the film, with the same options.
    title = target["title"]
    i = len(title) // 2
    typo = title[: i - 1] + title[i] + title[i - 1] + title[i + 1 :]
    found = availability(tiny, title=typo, limit=50)
    mine = found[found["movie_id"] == target["id"]]
    assert not mine.empty
    assert sorted(mine["option_id"]) == sorted(
        options.loc[options["movie_id"] == target["id"], "id"]
    )


def test_tiny_price_quality_mix(tiny: Connection, tiny_tables: dict[str, pd.DataFrame]) -> None:
    options = tiny_tables["options"]
    for region in sorted(options["region"].dropna().unique()):
        here = options[options["region"] == region].copy()
        parsed = here["price"].map(parse_price)
        here["currency"] = parsed.map(lambda p: p[0])
        here["amount"] = parsed.map(lambda p: p[1]).astype("float64")
        keys = ["type", "quality", "currency"]
        grouped = here.groupby(keys, dropna=False)["amount"]
        expected = grouped.agg(
            options="size",
            priced="count",
            price_min="min",
            price_median="median",
            price_max="max",
            price_mean="mean",
        ).reset_index()
        type_rank = {t: i for i, t in enumerate(streaming.STREAMING_OPTION_TYPES)}
        quality_rank = {q: i for i, q in enumerate(streaming.STREAMING_QUALITIES)}
        expected = expected.assign(
            t=expected["type"].map(type_rank),
            q=expected["quality"].map(quality_rank).fillna(99),
            c=expected["currency"].fillna("\uffff"),
        ).sort_values(["t", "q", "c"])
        expected = expected[list(streaming.PRICE_MIX_COLUMNS)].astype(streaming.PRICE_MIX_COLUMNS)
        got = price_quality_mix(tiny, region=region)
        assert got["priced"].sum() > 0, region
        pd.testing.assert_frame_equal(got, expected.reset_index(drop=True))
