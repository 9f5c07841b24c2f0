"""``iwm_lab.findings.ratings``: sentences from hand-built frames with the documented columns.

Each frame is built so that the naive reading and the right one differ where they can: the
widest gap on three movies, a mean inflated by one spike, a partial last week, a plain
average on a handful of reviews. Expected figures are worked out here from the frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from iwm_lab.findings import ratings as findings

USERS, CRITICS = "iwm users", "Critics"


def gap_frame(rows: list[tuple[str, int, float, float, float]]) -> pd.DataFrame:
    """score_gap's frame from (group, movies, mean_gap, ci_low, ci_high); mean_b fixed at 6."""
    groups, movies, gaps, lows, highs = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "group": pd.array(groups, dtype="str"),
            "movies": pd.array(movies, dtype="Int64"),
            "mean_a": [6.0 + g for g in gaps],
            "mean_b": [6.0] * len(rows),
            "mean_gap": gaps,
            "ci_low": lows,
            "ci_high": highs,
        }
    )


def is_sentence(text: str) -> bool:
    return text[0].isupper() and text.endswith(".") and "nan" not in text.lower()


# --- score_gaps -------------------------------------------------------------------------------


GENRES = gap_frame(
    [
        # Western's gap is the biggest, on three movies: the naive pick.
        ("Western", 3, 2.10, -3.00, 7.20),
        ("Documentary", 120, 0.49, 0.30, 0.68),
        ("Drama", 300, 0.02, -0.05, 0.09),
        ("Horror", 85, -0.25, -0.40, -0.10),
    ]
)


def test_widest_gap_is_one_the_data_supports() -> None:
    first, caution = findings.score_gaps(GENRES, a_label=USERS, b_label=CRITICS)
    assert first == (
        "The widest gap is in Documentary: over its 120 movies with both scores, the iwm users "
        "score is 0.49 points higher than the Critics score on average (95% interval +0.30 to "
        "+0.68); in "
        "Horror it is the other way round, Critics higher by 0.25 (85 movies)."
    )
    assert "Western" not in first
    assert caution.startswith("The intervals of Western and Drama include zero; Western ")
    assert "rests on fewer than 10 movies" in caution
    assert is_sentence(caution)


def test_without_a_reversed_group_the_narrowest_is_named() -> None:
    positive = GENRES[GENRES["group"] != "Horror"]
    first = findings.score_gaps(positive, a_label=USERS, b_label=CRITICS)[0]
    assert first.endswith("; it is narrowest in Drama, +0.02 (300 movies).")


def test_a_negative_widest_gap_says_lower_and_the_reversal_names_a() -> None:
    flipped = GENRES.assign(
        mean_gap=-GENRES["mean_gap"], ci_low=-GENRES["ci_high"], ci_high=-GENRES["ci_low"]
    )
    first = findings.score_gaps(flipped, a_label=CRITICS, b_label=USERS)[0]
    assert "the Critics score is 0.49 points lower than the iwm users score" in first
    assert "(95% interval \u22120.68 to \u22120.30)" in first
    assert "in Horror it is the other way round, Critics higher by 0.25" in first


def test_when_every_group_is_small_the_widest_is_still_named_and_flagged() -> None:
    small = gap_frame([("1990s", 4, -0.8, -2.0, 0.4), ("2000s", 1, 0.3, np.nan, np.nan)])
    first, caution = findings.score_gaps(small, a_label=USERS, b_label=CRITICS)
    assert first.startswith("The widest gap is in the 1990s: over its 4 movies")
    assert "in the 2000s it is the other way round" in first
    # The one-movie group has no interval: it is few, not "an interval across zero".
    assert caution.startswith(
        "The interval of the 1990s includes zero; the 1990s and the 2000s rest on fewer"
    )


def test_one_group_overall() -> None:
    overall = gap_frame([("all", 1_234, 0.26, 0.20, 0.32)])
    assert findings.score_gaps(overall, a_label=USERS, b_label=CRITICS) == [
        "Over the same 1,234 movies, the iwm users score is 0.26 points higher than the "
        "Critics score on average (95% interval +0.20 to +0.32)."
    ]
    one_genre = gap_frame([("Horror", 12, -0.004, -0.3, 0.29)])
    first, caution = findings.score_gaps(one_genre, a_label=USERS, b_label=CRITICS)
    assert first.startswith("Over the same 12 movies in Horror, the iwm users and Critics scores")
    assert "the iwm users and Critics scores are the same on average" in first
    assert caution == (
        "The interval includes zero: the gap could be chance rather than a difference between "
        "the sources."
    )
    tiny = gap_frame([("all", 4, 0.9, 0.1, 1.7)])
    assert findings.score_gaps(tiny, a_label=USERS, b_label=CRITICS)[1].startswith(
        "It rests on fewer than 10 movies: "
    )


def test_no_pairs_say_so() -> None:
    [sentence] = findings.score_gaps(GENRES.iloc[0:0], a_label="IMDb", b_label=CRITICS)
    assert sentence.startswith("No movie has both a IMDb and a Critics score")


def test_group_names_are_literal_markdown() -> None:
    odd = gap_frame([("Sci_Fi *cult*", 40, 0.5, 0.2, 0.8), ("Drama", 40, 0.1, 0.05, 0.15)])
    first = findings.score_gaps(odd, a_label=USERS, b_label=CRITICS)[0]
    assert "in Sci\\_Fi \\*cult\\*:" in first


def test_many_uncertain_groups_are_counted_not_listed() -> None:
    names = [f"Genre {i}" for i in range(12)]
    # Genres 0-5 have intervals across zero, 6-11 do not.
    many = gap_frame([(n, 50, 0.1 * i, 0.1 * i - 0.55, 0.1 * i + 0.5) for i, n in enumerate(names)])
    caution = findings.score_gaps(many, a_label=USERS, b_label=CRITICS)[1]
    assert caution.startswith(
        "The intervals of Genre 0, Genre 1, Genre 2, Genre 3 and 2 other groups include zero:"
    )
    # When most groups span zero, the few that do not are named instead.
    most = many.iloc[:7].assign(ci_low=[-0.5] * 6 + [0.1])
    caution = findings.score_gaps(most, a_label=USERS, b_label=CRITICS)[1]
    assert caution.startswith("The intervals of 6 of the 7 groups include zero (all but Genre 6):")
    every = many.assign(ci_low=-1.0)
    caution = findings.score_gaps(every, a_label=USERS, b_label=CRITICS)[1]
    assert caution.startswith("The intervals of all 12 groups include zero:")


# --- agreement --------------------------------------------------------------------------------


AGREEMENT = pd.DataFrame(
    {
        "source_a": ["siddu", "critics", "imdb", "critics"],
        "source_b": ["critics", "imdb", "users", "users"],
        "n": [500, 480, 90, 1],
        "pearson_r": [0.62, 0.85, 0.31, np.nan],
        "spearman_rho": [0.6, 0.8, 0.3, np.nan],
        "mean_diff": [0.1, -0.2, -0.9, 3.0],
        "mean_abs_diff": [0.7, 0.5, 1.4, 3.0],
    }
)
LABELS = {"siddu": "iwm (Siddu)", "critics": "Critics", "imdb": "IMDb", "users": "iwm users"}


def test_agreement_names_the_closest_and_furthest_pairs_with_the_signed_gap() -> None:
    first, second = findings.agreement(AGREEMENT, labels=LABELS)
    assert first == (
        "Critics and IMDb agree most (Pearson r 0.85 over 480 movies); IMDb and iwm users "
        "least (r 0.31)."
    )
    # mean_diff is IMDb minus users: negative, so users are the higher.
    assert second == (
        "On their 90 shared movies, the IMDb score is 0.90 points lower than the iwm users "
        "score on average, yet a movie's two scores are 1.40 points apart on average."
    )


def test_agreement_without_correlations() -> None:
    none = AGREEMENT.assign(pearson_r=np.nan)
    assert findings.agreement(none) == [
        "No two sources score enough of the same movies to be compared."
    ]


# --- score_distribution ---------------------------------------------------------------------


def distribution(counts: list[int], top: float = 10.0) -> pd.DataFrame:
    bins = len(counts)
    edges = np.linspace(0, top, bins + 1)
    total = sum(counts)
    return pd.DataFrame(
        {
            "bin": range(1, bins + 1),
            "bin_start": edges[:-1],
            "bin_end": edges[1:],
            "count": counts,
            "share": [c / total if total else np.nan for c in counts],
        }
    )


def test_distribution_gives_the_peak_and_the_share_well_rated() -> None:
    counts = [0, 1, 2, 3, 5, 10, 20, 40, 30, 9]
    [sentence] = findings.score_distribution(distribution(counts))
    # Well rated by default: 8 or more out of 10, the threshold every query uses.
    high = sum(counts[8:]) / sum(counts)
    assert sentence == (
        f"The most common band is 7.0\u20138.0, with {40 / 120:.1%} of the 120 ratings; "
        f"{high:.1%} are 8 or more out of 10."
    )


@pytest.mark.parametrize(("min_score", "said", "first_bin"), [(7, "7", 14), (6.5, "6.5", 13)])
def test_distribution_takes_the_well_rated_threshold(
    min_score: float, said: str, first_bin: int
) -> None:
    counts = list(range(1, 21))  # twenty half-point bins
    [sentence] = findings.score_distribution(distribution(counts), min_score=min_score)
    share = sum(counts[first_bin:]) / sum(counts)
    assert sentence.endswith(f"; {share:.1%} are {said} or more out of 10.")


def test_distribution_refuses_a_threshold_off_the_scale() -> None:
    with pytest.raises(ValueError, match="min_score must be a number from 0 to 10"):
        findings.score_distribution(distribution([1, 2]), min_score=70)


def test_distribution_on_a_hundred_point_scale() -> None:
    counts = [1, 2, 3, 4, 5, 6, 9, 9, 3, 1]  # two bands tie
    [sentence] = findings.score_distribution(
        distribution(counts, top=100.0), what="Rotten Tomatoes scores"
    )
    total = sum(counts)
    assert sentence.startswith(
        f"The most common bands are 60\u201370 and 70\u201380, with {9 / total:.1%} each of the "
        f"{total} Rotten Tomatoes scores; "
    )
    assert sentence.endswith(f"{sum(counts[8:]) / total:.1%} are 80 or more out of 100.")


def test_distribution_without_a_bin_edge_at_the_threshold_leaves_the_share_out() -> None:
    [sentence] = findings.score_distribution(distribution([1, 2, 3]))  # edges 0, 3.3, 6.7, 10
    assert sentence == "The most common band is 6.7\u201310.0, with 50.0% of the 6 ratings."


def test_distribution_of_nothing() -> None:
    empty = distribution([0, 0, 0, 0])
    assert findings.score_distribution(empty, what="critics scores") == [
        "There are no critics scores to count."
    ]


# --- top_rated --------------------------------------------------------------------------------


def top_frame(rows: list[tuple[str, Any, int, float, float]]) -> pd.DataFrame:
    titles, years, reviews, means, weighted = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "movie_id": range(1, len(rows) + 1),
            "title": pd.array(titles, dtype="str"),
            "year": pd.array(years, dtype="Int64"),
            "reviews": reviews,
            "mean_rating": means,
            "weighted_rating": weighted,
        }
    )


def test_top_rated_names_the_plain_average_leader_the_weighting_moved_down() -> None:
    top = top_frame(
        [
            ("Heat", 1995, 1_200, 8.91, 8.84),
            ("Ran", 1985, 800, 8.80, 8.70),
            ("Tiny Gem", None, 21, 9.60, 8.10),
        ]
    )
    first, second = findings.top_rated(top)
    assert first == (
        "*Heat* (1995) leads with a weighted rating of 8.84, from 1,200 reviews averaging 8.91."
    )
    assert second.startswith("*Tiny Gem* has the highest plain average, 9.60 from 21 reviews, ")
    assert "ranks 3rd: with fewer reviews" in second


def test_top_rated_gives_the_leaders_margin_when_it_also_has_the_best_average() -> None:
    top = top_frame([("Heat", 1995, 40, 8.5, 8.2), ("M*A*S*H", 1970, 25, 8.0, 7.6)])
    assert findings.top_rated(top)[1] == "It leads *M\\*A\\*S\\*H* (1970) by 0.60 points."
    assert findings.top_rated(top.iloc[0:1]) == [findings.top_rated(top)[0]]
    assert findings.top_rated(top.iloc[0:0]) == ["No movie has enough reviews to be ranked."]


# --- review_activity --------------------------------------------------------------------------


def weeks(counts: list[int], *, last_days: int = 7, first: str = "2026-09-28") -> pd.DataFrame:
    """review_volume's weekly frame; the last week covers ``last_days`` days."""
    days = [7] * (len(counts) - 1) + [last_days]
    return pd.DataFrame(
        {
            "period": pd.date_range(first, periods=len(counts), freq="7D").astype("datetime64[us]"),
            "reviews": counts,
            "mean_rating": [7.0] * len(counts),
            "days": days,
            "partial": [d < 7 for d in days],
        }
    )


def test_a_spike_is_measured_against_the_median_week() -> None:
    volume = weeks([1_030, 1_000, 1_100, 7_512])
    [sentence] = findings.review_activity(volume)
    typical = float(np.median([1_030, 1_000, 1_100]))
    assert sentence == (
        f"The week of 2026-10-19, the latest whole week, had 7,512 reviews: "
        f"{7_512 / typical:.1f}\u00d7 the typical week (1,030, the median of the 3 other whole "
        "weeks)."
    )


def test_an_earlier_spike_does_not_make_the_latest_week_look_low() -> None:
    counts = [1_000, 980, 1_020, 8_000, 1_010]
    first, second = findings.review_activity(weeks(counts))
    # Against the mean of the others (2,750) the latest would read as 0.4x: a drop.
    assert np.mean(counts[:-1]) > 2 * counts[-1]
    assert "had 1,010 reviews: 1.0\u00d7 the typical week (1,010," in first
    spike = 8_000 / np.median([1_000, 980, 1_020, 1_010])
    assert second == (
        f"The week of 2026-10-19 stands out with 8,000 reviews, {spike:.1f}\u00d7 the typical "
        "week (1,005)."
    )


def test_a_partial_last_week_is_not_called_a_drop() -> None:
    volume = weeks([1_000, 1_040, 1_020, 980, 290], last_days=2)
    first, second = findings.review_activity(volume)
    assert first.startswith("The week of 2026-10-19, the latest whole week, had 980 reviews: ")
    assert "1.0\u00d7 the typical week (1,020" in first
    assert "290" not in first
    assert second == (
        "The week of 2026-10-26 is cut short by the range (2 days counted, 290 reviews) and is "
        "not compared."
    )


def test_several_spikes_are_counted() -> None:
    counts = [100, 500, 100, 400, 100, 100, 100]
    second = findings.review_activity(weeks(counts))[1]
    assert second.startswith("The week of 2026-10-05 stands out with 500 reviews, 5.0\u00d7")
    assert second.endswith("; 1 other week reached 2\u00d7 or more.")


def test_months_and_days_are_named_as_such() -> None:
    months = pd.DataFrame(
        {
            "period": pd.to_datetime(["2026-08-01", "2026-09-01", "2026-10-01"]),
            "reviews": [4_000, 4_200, 4_100],
            "mean_rating": [7.0, 7.1, 7.2],
            "days": [31, 30, 31],
            "partial": [False, False, False],
        }
    )
    first = findings.review_activity(months, freq="month")[0]
    assert first.startswith("October 2026, the latest whole month, had 4,100 reviews: 1.0\u00d7")
    assert "the median of the 2 other whole months" in first
    daily = months.assign(days=1, period=pd.to_datetime(["2026-10-01", "2026-10-02", "2026-10-03"]))
    assert findings.review_activity(daily, freq="day")[0].startswith("2026-10-03, the latest")


def test_activity_without_whole_weeks_or_reviews() -> None:
    assert findings.review_activity(weeks([0, 0])) == ["No review was written in these periods."]
    partial = weeks([12], last_days=3)
    assert findings.review_activity(partial) == [
        "The range covers no whole week: 12 reviews in 3 days."
    ]
    single = findings.review_activity(weeks([50]))
    assert single == [
        "The week of 2026-09-28 had 50 reviews; no other whole week is shown to compare it with."
    ]
    quiet = findings.review_activity(weeks([0, 0, 0, 6]))
    assert quiet[0].endswith(
        "had 6 reviews, against none in a typical week (the median of the 3 other whole weeks)."
    )


def test_activity_checks_its_frequency() -> None:
    with pytest.raises(ValueError, match="unknown freq 'fortnight'"):
        findings.review_activity(weeks([1, 2]), freq="fortnight")


# --- divisive -------------------------------------------------------------------------------


def test_divisive_names_the_leader_and_the_next_two() -> None:
    div = pd.DataFrame(
        {
            "movie_id": [1, 2, 3, 4],
            "title": ["Split", "Marmite", "Cult", "Fourth"],
            "year": pd.array([2001, None, 1999, 2010], dtype="Int64"),
            "reviews": [35, 40, 22, 30],
            "mean_rating": [5.4, 6.0, 5.0, 6.1],
            "stddev_rating": [3.123, 2.9, 2.85, 2.1],
        }
    )
    first, second = findings.divisive(div)
    assert first == (
        "Users disagree most about *Split* (2001): its 35 ratings spread 3.12 points (standard "
        "deviation) around a mean of 5.40."
    )
    assert second == "Next come *Marmite* at 2.90 and *Cult* (1999) at 2.85."
    assert findings.divisive(div.iloc[0:2])[1] == "Next comes *Marmite* at 2.90."
    assert findings.divisive(div.iloc[0:0]) == [
        "No movie has enough reviews to measure how much its users disagree."
    ]


@pytest.mark.parametrize(
    "sentences",
    [
        findings.score_gaps(GENRES, a_label=USERS, b_label=CRITICS),
        findings.agreement(AGREEMENT, labels=LABELS),
        findings.score_distribution(distribution([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])),
        findings.review_activity(weeks([10, 12, 11, 30, 9], last_days=4)),
    ],
)
def test_findings_are_one_or_two_complete_sentences(sentences: list[str]) -> None:
    assert 1 <= len(sentences) <= 2
    assert all(is_sentence(s) for s in sentences)
