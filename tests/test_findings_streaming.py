"""``iwm_lab.findings.streaming``: the sentences that open the streaming coverage report.

Hand-built frames shaped like the query functions' results, each built so that a naive
reading gives another answer than the right one: the most movies is not the widest coverage
of the released catalogue, a platform's share is over the region's movies (not over the sum
of the platforms'), the offer mix has several rows per type, and a capped gap list is not
the number of gaps. The last test reads the sentences off the tiny demo dataset.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection

from iwm_lab.findings import streaming as findings
from iwm_lab.queries import streaming


def coverage_frame(
    rows: list[tuple[str, int, int, int]], *, released: int, top_n: int, source: str = "siddu"
) -> pd.DataFrame:
    """(region, movies, released_available, top_n_available) per region."""
    df = pd.DataFrame(rows, columns=["region", "movies", "released_available", "top_n_available"])
    return df.assign(
        released_movies=released,
        released_share=df["released_available"] / released,
        source=source,
        top_n=top_n,
        top_n_share=df["top_n_available"] / top_n,
    )


def test_coverage_ranks_by_share_of_the_released_catalogue() -> None:
    # IN offers the most movies, but most of them are not released yet: US covers more of
    # the released catalogue.
    coverage = coverage_frame(
        [("DE", 300, 250, 40), ("IN", 900, 400, 60), ("JP", 120, 100, 10), ("US", 700, 650, 90)],
        released=1000,
        top_n=100,
    )
    assert findings.coverage(coverage, region="DE") == [
        "US has the widest coverage: 65.0% of the released catalogue (650 of 1,000 movies) can "
        "be watched there, against 10.0% in JP, the narrowest.",
        "In **DE** (3rd of 4 regions), 300 movies can be watched: 25.0% of the released "
        "catalogue and 40.0% of the top 100 rated by Siddu score.",
    ]


def test_coverage_ties_and_a_region_without_offers() -> None:
    coverage = coverage_frame(
        [("DE", 10, 10, 1), ("UK", 12, 10, 2), ("US", 30, 30, 5)], released=100, top_n=10
    )
    sentences = findings.coverage(coverage, region="XX")
    assert sentences == [
        "US has the widest coverage: 30.0% of the released catalogue (30 of 100 movies) can be "
        "watched there, against 10.0% in DE and UK, the narrowest.",
        "No streaming offer is recorded in XX.",
    ]
    # The top-rated set is named by the score it is ranked by.
    by_users = coverage_frame([("DE", 10, 10, 1)], released=100, top_n=10, source="users")
    assert findings.coverage(by_users, region="DE")[1].endswith(
        "of the top 10 rated by mean user rating."
    )
    # Tied regions share their rank.
    assert "(2nd of 3 regions)" in findings.coverage(coverage, region="UK")[1]
    assert "(2nd of 3 regions)" in findings.coverage(coverage, region="DE")[1]


def test_coverage_with_one_region_or_none() -> None:
    one = coverage_frame([("US", 5, 4, 1)], released=8, top_n=2)
    assert findings.coverage(one) == [
        "Only US has streaming offers: 50.0% of the released catalogue (4 of 8 movies) can be "
        "watched there."
    ]
    assert findings.coverage(one.iloc[0:0]) == ["No streaming offer is recorded in any region."]


def shares_frame(rows: list[tuple[str, int, int]], *, region_movies: int) -> pd.DataFrame:
    """(platform, movies, exclusives), with shares as platform_share computes them."""
    df = pd.DataFrame(rows, columns=["platform", "movies", "exclusives"])
    return df.assign(
        platform_id=range(1, len(df) + 1),
        share=df["movies"] / region_movies,
        exclusive_share=df["exclusives"] / df["movies"],
    )


def test_platform_share_is_over_the_region_not_the_sum_of_platforms() -> None:
    # 600 movies watchable in US; the platforms' catalogues overlap and add up to 900, so
    # the leader's share is 400 / 600, not 400 / 900. Prime has fewer titles but more
    # exclusives.
    shares = shares_frame(
        [("Netflix", 400, 50), ("Prime", 300, 120), ("Hulu", 200, 0)], region_movies=600
    )
    assert findings.platforms(shares, region="US") == [
        "Netflix carries the most titles in US: 400 movies, 66.7% of those watchable there; "
        "50 of them (12.5%) are on no other platform there.",
        "Prime has the most exclusives: 120 of its 300 movies (40.0%) can be watched in US "
        "only there.",
    ]


def test_platform_leader_with_the_most_exclusives_too() -> None:
    shares = shares_frame([("Hotstar", 80, 60), ("Netflix", 30, 10)], region_movies=100)
    assert findings.platforms(shares, region="IN") == [
        "Hotstar carries the most titles in IN: 80 movies, 80.0% of those watchable there; "
        "60 of them (75.0%) are on no other platform there."
    ]
    only = shares_frame([("Hotstar", 80, 80)], region_movies=80)
    assert findings.platforms(only, region="IN")[0].startswith(
        "Hotstar is the only platform in IN: 80 movies, 100.0%"
    )
    assert findings.platforms(only.iloc[0:0], region="IN") == ["No offer in IN names its platform."]


def mix_frame(rows: list[tuple[str, str | None, str | None, int]]) -> pd.DataFrame:
    """(type, quality, currency, options) per row of price_quality_mix."""
    return pd.DataFrame(rows, columns=["type", "quality", "currency", "options"])


def test_offer_mix_sums_over_qualities_and_currencies() -> None:
    # A type's offers are spread over rows by quality and currency: rent has four.
    mix = mix_frame(
        [
            ("subscription", "HD", None, 550),
            ("rent", "SD", "USD", 60),
            ("rent", "HD", "USD", 90),
            ("rent", "HD", None, 10),
            ("rent", "4K", "USD", 40),
            ("buy", "4K", "USD", 100),
            ("free", None, None, 150),
        ]
    )
    assert findings.offer_mix(mix, region="US") == [
        "US has 1,000 offers: 55.0% by subscription, 20.0% to rent, 15.0% free and 10.0% to buy.",
        "Of those, 65.0% are in HD, 14.0% in 4K and 6.0% in SD; 15.0% record no picture quality.",
    ]


def test_offer_mix_without_qualities_or_offers() -> None:
    mix = mix_frame([("free", None, None, 3)])
    assert findings.offer_mix(mix, region="JP") == [
        "JP has 3 offers: 100.0% free.",
        "None of them records its picture quality.",
    ]
    assert findings.offer_mix(mix.iloc[0:0], region="JP") == [
        "No streaming offer is recorded in JP."
    ]


def summary_frame(
    well_rated: int, missing: int, nowhere: int, *, source: str = "siddu", min_score: float = 8.0
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": ["US"],
            "source": [source],
            "min_score": [min_score],
            "min_reviews": [20],
            "well_rated": [well_rated],
            "missing": [missing],
            "missing_share": [missing / well_rated if well_rated else float("nan")],
            "nowhere": [nowhere],
        }
    )


def gaps_frame() -> pd.DataFrame:
    """A gap list capped at 2 rows, unsorted as a caller might pass it."""
    return pd.DataFrame(
        {
            "movie_id": [7, 3],
            "title": ["Stalker", "*Dune* [Part_Two]"],
            "year": pd.array([1979, 2024], dtype="Int64"),
            "score": [9.1, 9.4],
            "available_regions": [2, 0],
            "available_in": ["DE, UK", ""],
        }
    )


def test_gaps_count_every_missing_movie_not_the_capped_list() -> None:
    sentences = findings.gaps(summary_frame(310, 42, 12), gaps_frame())
    assert sentences == [
        "**42 of the 310 released movies with a Siddu score of 8.0 or more (13.5%) cannot be "
        "watched in US**; 12 of them cannot be watched in any region.",
        r"The best rated of them, *\*Dune\* \[Part\_Two\]* (2024, Siddu score 9.4), cannot be "
        "watched in any region.",
    ]


def test_gaps_best_rated_elsewhere_and_the_extremes() -> None:
    listed = gaps_frame().iloc[[0]]
    assert findings.gaps(summary_frame(10, 3, 0), listed) == [
        "**3 of the 10 released movies with a Siddu score of 8.0 or more (30.0%) cannot be "
        "watched in US**; each of them can be watched in another region.",
        "The best rated of them, *Stalker* (1979, Siddu score 9.1), can be watched in DE, UK.",
    ]
    assert findings.gaps(summary_frame(10, 3, 3))[0].endswith(
        "none of them can be watched in any region."
    )
    assert findings.gaps(summary_frame(10, 0, 0)) == [
        "Every one of the 10 released movies with a Siddu score of 8.0 or more can be watched "
        "in US."
    ]
    assert findings.gaps(summary_frame(0, 0, 0)) == [
        "No released movie has a Siddu score of 8.0 or more."
    ]


def test_gaps_say_which_score_makes_a_movie_well_rated() -> None:
    listed = gaps_frame().iloc[[0]]
    by_users = findings.gaps(summary_frame(10, 3, 0, source="users", min_score=7.5), listed)
    assert by_users == [
        "**3 of the 10 released movies with a mean user rating of 7.5 or more (from at least "
        "20 reviews) (30.0%) cannot be watched in US**; each of them can be watched in another "
        "region.",
        "The best rated of them, *Stalker* (1979, mean user rating 9.1), can be watched in DE, UK.",
    ]
    # Rotten Tomatoes is scored out of 100: the threshold and the score say so.
    by_tomatoes = findings.gaps(summary_frame(10, 3, 0, source="rotten_tomatoes"), listed)
    assert by_tomatoes[0].startswith(
        "**3 of the 10 released movies with a Rotten Tomatoes score of 80 or more (30.0%)"
    )
    assert "(1979, Rotten Tomatoes score 91)" in by_tomatoes[1]
    assert findings.gaps(summary_frame(0, 0, 0, source="critics", min_score=9)) == [
        "No released movie has a critics score of 9.0 or more."
    ]


# --- on the tiny demo dataset ---------------------------------------------------------


def test_tiny_findings_follow_the_queries(tiny: Connection) -> None:
    coverage = streaming.coverage_by_region(tiny)
    widest = coverage.sort_values(["released_share", "region"], ascending=[False, True]).iloc[0]
    region = streaming.check_region(tiny, str(coverage["region"].iloc[-1]).lower())
    sentences = findings.coverage(coverage, region=region)
    assert sentences[0].startswith(f"{widest['region']} has the widest coverage")
    assert sentences[1].startswith(f"In **{region}**")

    shares = streaming.platform_share(tiny, region=region)
    assert findings.platforms(shares, region=region)[0].startswith(shares["platform"].iloc[0])

    mix = streaming.price_quality_mix(tiny, region=region)
    assert findings.offer_mix(mix, region=region)[0].startswith(
        f"{region} has {int(mix['options'].sum()):,} offers"
    )

    summary = streaming.coverage_gap_summary(tiny, region=region, min_score=6.0)
    listed = streaming.coverage_gaps(tiny, region=region, min_score=6.0, limit=5)
    missing = int(summary["missing"].iloc[0])
    assert missing > len(listed)
    assert f"**{missing:,} of the" in findings.gaps(summary, listed)[0]
