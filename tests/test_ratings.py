"""``iwm_lab.queries.ratings``: every function against pandas, plus hand-made edge cases.

On the tiny demo dataset (``tiny``) each function must return exactly what the pandas
references below compute from the raw rows (plain table selects, aggregated in pandas). The
same references, run on hand-made rows, check the edge cases: ties, NULL scores, movies without
reviews, junk years, window boundaries. Hand-made rows live in a transaction on the module's
empty database that is rolled back after each test.

The references live in ``benchmarks/references.py``, shared with the pandas baseline of
``benchmarks/bench_ratings.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import pytest
from inputs import HOSTILE, STORABLE_HOSTILE
from scipy import stats as scipy_stats
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import URL

from benchmarks.references import COLUMNS, REFERENCES, SOURCES, Raw, assert_same, valid_year
from iwm_lab import operations
from iwm_lab.database import get_engine
from iwm_lab.queries import ratings


def refreshed(conn: Connection) -> Connection:
    """``conn``, its rollups refreshed first when hand-made rows were written since."""
    if conn.info.pop("rollups_stale", False):
        operations.refresh_rollups_in(conn, concurrently=False)
    return conn


def check(conn: Connection, function: str, **params: Any) -> pd.DataFrame:
    """Run ``function``, check it against its reference on the same rows, return its result."""
    actual = getattr(ratings, function)(refreshed(conn), **params)
    assert_same(actual, REFERENCES[function](Raw(conn), **params))
    return actual


# --- the tiny demo dataset ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_params(tiny: Connection) -> dict[str, Any]:
    """Filter values that select something in the tiny dataset, whatever it holds."""
    raw = Raw(tiny)
    links = raw.movie_genres.merge(raw.genres, left_on="genre_id", right_on="id")
    year = valid_year(raw.movies["year"]).dropna()
    dates = raw.reviews["date"].dropna()
    per_movie = raw.reviews.groupby("movie_id").size()
    assert len(links) and len(year) and len(dates), "the tiny dataset has genres, years, reviews"
    return {
        "genre": links["slug"].value_counts().index[0],
        "language": raw.movies["language"].value_counts().index[0],
        "year_from": int(year.quantile(0.25)),
        "year_to": int(year.quantile(0.75)),
        "start": dates.min().date(),
        "end": dates.max().date(),
        # A threshold that some movies pass and some miss.
        "min_reviews": max(2, int(per_movie.median())),
    }


def resolve(params: dict[str, Any], tiny_params: dict[str, Any]) -> dict[str, Any]:
    """Replace the placeholder ``...`` by the tiny dataset's value for that parameter."""
    return {k: tiny_params[k] if v is ... else v for k, v in params.items()}


TINY_CASES: list[tuple[str, dict[str, Any]]] = [
    *[("score_distribution", {"source": s}) for s in SOURCES],
    *[("score_distribution", {"source": s, "bins": 7, "genre": ...}) for s in SOURCES],
    ("score_distribution", {"source": "users", "bins": 3, "year_from": ..., "year_to": ...}),
    ("score_distribution", {"source": "imdb", "bins": 1, "year_to": ...}),
    ("platform_agreement", {"min_reviews": 1}),
    ("platform_agreement", {"min_reviews": ..., "genre": ...}),
    ("top_rated", {"min_reviews": 1, "limit": 10_000}),
    ("top_rated", {"min_reviews": ...}),
    ("top_rated", {"min_reviews": 1, "genre": ..., "year_from": ..., "language": ...}),
    ("top_rated", {"min_reviews": 2, "year_from": ..., "year_to": ..., "limit": 5}),
    ("divisive_movies", {"min_reviews": 1, "limit": 10_000}),
    ("divisive_movies", {"min_reviews": ..., "genre": ..., "limit": 3}),
    ("ratings_by_genre", {"min_reviews": 1}),
    ("ratings_by_genre", {"min_reviews": ..., "year_from": ..., "year_to": ...}),
    ("ratings_by_year", {"min_reviews": 1}),
    ("ratings_by_year", {"by": "decade", "min_reviews": ...}),
    ("ratings_by_year", {"by": "year", "genre": ..., "min_reviews": ...}),
    ("review_volume", {"start": ..., "end": ..., "freq": "day"}),
    ("review_volume", {"start": ..., "end": ..., "freq": "week"}),
    ("review_volume", {"start": ..., "end": ..., "freq": "month"}),
    ("score_gap", {"a": "users", "b": "critics", "min_reviews": 1}),
    ("score_gap", {"a": "critics", "b": "users", "min_reviews": ..., "by": "decade"}),
    ("score_gap", {"a": "rotten_tomatoes", "b": "imdb", "by": "year"}),
    ("score_gap", {"a": "siddu", "b": "rotten_tomatoes", "by": "none", "genre": ...}),
    ("score_gap", {"a": "users", "b": "imdb", "min_reviews": 1, "genre": ...}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("function", "params"), TINY_CASES)
def test_matches_pandas_on_tiny(
    tiny: Connection, tiny_params: dict[str, Any], function: str, params: dict[str, Any]
) -> None:
    check(tiny, function, **resolve(params, tiny_params))


def test_tiny_results_are_not_trivial(tiny: Connection, tiny_params: dict[str, Any]) -> None:
    """The comparisons above compare something: the dataset fills the results."""
    assert ratings.top_rated(tiny, min_reviews=1).shape[0] > 1
    assert ratings.score_distribution(tiny, source="users")["count"].sum() > 0
    agreement = ratings.platform_agreement(tiny, min_reviews=1)
    assert (agreement["n"] > 2).all()
    volume = ratings.review_volume(tiny, start=tiny_params["start"], end=tiny_params["end"])
    assert volume["reviews"].sum() > 0
    gap = ratings.score_gap(tiny, a="users", b="critics", min_reviews=1)
    assert len(gap) > 1 and (gap["movies"] > 2).any() and gap["ci_low"].notna().any()


# --- hand-made rows ----------------------------------------------------------------------------


class Rows:
    """Writes hand-made catalogue rows into the test's transaction, and marks the rollups
    stale (``refreshed`` refreshes them before the next query)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _write(self, sql: str, params: Any) -> Any:
        self.conn.info["rollups_stale"] = True
        return self.conn.execute(text(sql), params)

    def genre(self, slug: str, name: str | None = None) -> int:
        sql = "insert into genres (slug, name) values (:slug, :name) returning id"
        return self._write(sql, {"slug": slug, "name": name or slug}).scalar_one()

    def movie(
        self,
        title: str = "Movie",
        *,
        year: str | None = "2000",
        language: str | None = None,
        siddu: float | None = None,
        critics: float | None = None,
        imdb: float | None = None,
        rotten_tomatoes: int | None = None,
        genres: tuple[int, ...] = (),
        ratings: tuple[float, ...] = (),
    ) -> int:
        movie_id = self._write(
            "insert into movies (title, year, language, siddu_score, critics_score, "
            "imdb_rating, rotten_tomatoes_score) "
            "values (:title, :year, :language, :siddu, :critics, :imdb, :rt) returning id",
            {
                "title": title,
                "year": year,
                "language": language,
                "siddu": siddu,
                "critics": critics,
                "imdb": imdb,
                "rt": rotten_tomatoes,
            },
        ).scalar_one()
        for genre_id in genres:
            self._write(
                "insert into movie_genres (movie_id, genre_id) values (:m, :g)",
                {"m": movie_id, "g": genre_id},
            )
        self.reviews(movie_id, ratings)
        return movie_id

    def reviews(
        self,
        movie_id: int | None,
        ratings: tuple[float, ...] | list[float],
        *,
        dates: Sequence[datetime | None] | None = None,
    ) -> None:
        if not ratings:
            return
        moments = dates or [datetime(2024, 1, 1, 12)] * len(ratings)
        self._write(
            "insert into reviews (title, content, rating, date, movie_id) "
            "values ('r', 'text', :rating, :date, :movie)",
            [
                {"rating": r, "date": d, "movie": movie_id}
                for r, d in zip(ratings, moments, strict=True)
            ],
        )


@pytest.fixture
def rows(conn: Connection) -> Rows:
    return Rows(conn)


@pytest.mark.parametrize(
    ("source", "bins", "scores", "counts"),
    [
        # 0 opens the first bin, 2.5 opens the second, the top of the scale ends the last.
        ("siddu", 4, [0.0, 2.5, 5.0, 9.99, 10.0, None], [1, 1, 1, 2]),
        ("critics", 2, [4.999, 5.0, None], [1, 1]),
        ("imdb", 1, [0.0, 10.0], [2]),
        ("rotten_tomatoes", 2, [0, 49, 50, 100, None], [2, 2]),
        ("users", 10, [0.0, 0.5, 9.99, 10.0, 10.0], [2, 0, 0, 0, 0, 0, 0, 0, 0, 3]),
    ],
)
def test_score_distribution_bin_edges(
    conn: Connection,
    rows: Rows,
    source: str,
    bins: int,
    scores: list[float | None],
    counts: list[int],
) -> None:
    if source == "users":
        rows.movie(ratings=tuple(s for s in scores if s is not None))
    else:
        for score in scores:
            scored: dict[str, Any] = {source: score}
            rows.movie(**scored)
    rows.movie()  # no score, no reviews: counts nowhere
    result = check(conn, "score_distribution", source=source, bins=bins)
    assert result["count"].tolist() == counts
    assert result["share"].sum() == pytest.approx(1.0)
    high = 100.0 if source == "rotten_tomatoes" else 10.0
    assert result["bin_start"].iloc[0] == 0.0
    assert result["bin_end"].iloc[-1] == pytest.approx(high)


def test_spearman_gives_tied_scores_their_mean_rank(conn: Connection, rows: Rows) -> None:
    # siddu ranks 1, 2.5, 2.5, 4 against critics 1, 2, 3, 4: rho = 4.5 / sqrt(4.5 * 5).
    for siddu, critics in [(1.0, 1.0), (2.0, 2.0), (2.0, 3.0), (3.0, 4.0)]:
        rows.movie(siddu=siddu, critics=critics)
    result = check(conn, "platform_agreement").set_index(["source_a", "source_b"])
    pair = result.loc[("siddu", "critics")]
    assert pair["n"] == 4
    assert pair["spearman_rho"] == pytest.approx(math.sqrt(0.9))
    assert pair["mean_abs_diff"] == pytest.approx(0.5)


def test_platform_agreement_counts_only_movies_with_both_scores(
    conn: Connection, rows: Rows
) -> None:
    rows.movie(siddu=8.0, critics=7.0, imdb=7.5, rotten_tomatoes=90, ratings=(9.0, 7.0))
    rows.movie(siddu=6.0, critics=None, imdb=6.5, rotten_tomatoes=60, ratings=(5.0, 6.0))
    rows.movie(siddu=None, critics=5.0, imdb=None, rotten_tomatoes=None, ratings=(3.0,))
    rows.movie(siddu=4.0, critics=4.5, imdb=5.0, rotten_tomatoes=None)
    rows.movie(siddu=2.0, critics=2.5, imdb=3.5, rotten_tomatoes=20, ratings=(1.0, 2.0, 4.0))
    result = check(conn, "platform_agreement", min_reviews=2).set_index(["source_a", "source_b"])
    assert result.loc[("siddu", "critics"), "n"] == 3
    assert result.loc[("siddu", "users"), "n"] == 3  # the one-review movie has no users score
    assert result.loc[("critics", "rotten_tomatoes"), "n"] == 2
    # rotten_tomatoes is compared on 0-10: |6.5 - 6.0| and |7.5 - 9.0| and |3.5 - 2.0|.
    assert result.loc[("imdb", "rotten_tomatoes"), "mean_abs_diff"] == pytest.approx(3.5 / 3)
    assert result.loc[("siddu", "users"), "pearson_r"] == pytest.approx(
        np.corrcoef([8.0, 6.0, 2.0], [8.0, 5.5, 7 / 3])[0, 1]
    )


def test_platform_agreement_without_pairs_lists_every_pair(conn: Connection, rows: Rows) -> None:
    rows.movie(siddu=5.0)  # one score: pairs with nothing
    rows.movie(siddu=6.0, imdb=6.0)  # one movie: no correlation
    result = check(conn, "platform_agreement")
    assert list(zip(result["source_a"], result["source_b"], strict=True)) == list(
        combinations(SOURCES, 2)
    )
    pair = result.set_index(["source_a", "source_b"]).loc[("siddu", "imdb")]
    assert pair["n"] == 1
    assert np.isnan(pair["pearson_r"]) and np.isnan(pair["spearman_rho"])
    assert pair["mean_abs_diff"] == 0.0


def test_top_rated_ties_fall_back_to_reviews_then_id(conn: Connection, rows: Rows) -> None:
    # Every rating is 7.3, so every weighted rating is 7.3 up to float noise: a tie.
    later = rows.movie("Later", ratings=(7.3,) * 2)
    earlier = rows.movie("Earlier", ratings=(7.3,) * 2)
    most = rows.movie("Most", ratings=(7.3,) * 3)
    few = rows.movie("Few", ratings=(7.3,))  # below min_reviews
    rows.movie("Unreviewed")
    result = check(conn, "top_rated", min_reviews=2)
    assert result["movie_id"].tolist() == [most, *sorted([later, earlier])]
    assert few not in result["movie_id"].tolist()
    assert result["weighted_rating"].to_numpy() == pytest.approx([7.3] * 3)


def test_top_rated_pulls_few_reviews_towards_the_mean(conn: Connection, rows: Rows) -> None:
    # Two perfect reviews rank below ten 9s: C = 7.375 weighs on the two.
    many = rows.movie("Many", ratings=(9.0,) * 10)
    two = rows.movie("Two", ratings=(10.0, 10.0))
    rows.movie("Low", ratings=(2.0,) * 4)
    result = check(conn, "top_rated", min_reviews=2)
    c = (90 + 20 + 8) / 16
    assert result["movie_id"].tolist()[:2] == [many, two]
    assert result.set_index("movie_id").loc[two, "weighted_rating"] == pytest.approx(
        (20 + 2 * c) / 4
    )


def test_divisive_ties_fall_back_to_reviews_then_id(conn: Connection, rows: Rows) -> None:
    # Sample variance 8 for both spreads; more reviews first, then the lower id.
    pair = rows.movie("Pair", ratings=(3.0, 7.0))
    five = rows.movie("Five", ratings=(1.0, 5.0, 5.0, 5.0, 9.0))
    reversed_pair = rows.movie("Reversed pair", ratings=(7.0, 3.0))
    calm = rows.movie("Calm", ratings=(5.0, 5.0, 5.0))
    rows.movie("Single", ratings=(0.0,))  # one rating has no spread, even with min_reviews=1
    result = check(conn, "divisive_movies", min_reviews=1)
    assert result["movie_id"].tolist() == [five, pair, reversed_pair, calm]
    assert result["stddev_rating"].iloc[0] == pytest.approx(math.sqrt(8))


def test_junk_years_count_nowhere_by_year(conn: Connection, rows: Rows) -> None:
    drama = rows.genre("drama")
    for year in ["19??", "TBA", "", None, "0x10", "1995"]:
        rows.movie(year=year, siddu=5.0, genres=(drama,), ratings=(6.0, 8.0))
    rows.movie(year="2013", genres=(drama,))  # a gap from 1996 to 2012, filled with zeros
    by_year = check(conn, "ratings_by_year", min_reviews=1)
    assert by_year["period"].dt.year.tolist() == list(range(1995, 2014))
    assert by_year["movies"].sum() == 2
    by_decade = check(conn, "ratings_by_year", by="decade", min_reviews=2)
    assert by_decade["period"].dt.year.tolist() == [1990, 2000, 2010]
    assert by_decade["rated_movies"].tolist() == [1, 0, 0]
    # Junk years are no years to a year filter, but count when no year filter is given.
    assert check(conn, "top_rated", min_reviews=1, year_from=1870)["year"].tolist() == [1995]
    assert len(check(conn, "top_rated", min_reviews=1)) == 6
    assert check(conn, "ratings_by_genre", min_reviews=1)["movies"].tolist() == [7]


def test_ratings_by_genre_counts_movies_without_reviews(conn: Connection, rows: Rows) -> None:
    drama, comedy = rows.genre("drama", "Drama"), rows.genre("comedy", "Comedy")
    rows.genre("western", "Western")
    rows.movie(year="2001", siddu=8.0, genres=(drama, comedy), ratings=(8.0, 9.0, 10.0))
    rows.movie(year="2002", imdb=6.0, rotten_tomatoes=55, genres=(drama,), ratings=(4.0,))
    rows.movie(year="2003", genres=(drama,))
    rows.movie(year="1980", critics=3.0, genres=(comedy,), ratings=(2.0, 2.0))
    result = check(conn, "ratings_by_genre", min_reviews=2, year_from=2000)
    assert result["genre"].tolist() == ["comedy", "drama", "western"]
    assert result["movies"].tolist() == [1, 3, 0]
    assert result["rated_movies"].tolist() == [1, 1, 0]
    assert result["reviews"].tolist() == [3, 3, 0]
    assert result["users_mean_rated_movies"].iloc[1] == pytest.approx(9.0)
    # The 1980 comedy is out of range.
    assert np.isnan(result["critics_mean_scored_movies"].iloc[0])


# Users rate only a few Biography films (those with min_reviews reviews), all well liked;
# critics also score many other Biography films, much lower. Per genre, the naive means put
# users ~2.6 points above critics; on the same films critics score higher.
BIOGRAPHY_PAIRS = [(8.0, 8.3), (7.0, 7.1), (6.0, 6.4)]  # (users' mean, critics) per film
BIOGRAPHY_CRITICS_ONLY = [3.0, 2.5, 3.5, 3.0, 2.0, 4.0]
HORROR_PAIRS = [(5.0, 4.0), (6.5, 6.0)]  # users above critics, on films critics rate low


class GapRows:
    """The Biography/Horror catalogue above; the last Horror pair is a film of both genres."""

    MIN_REVIEWS = 3

    def __init__(self, rows: Rows) -> None:
        biography = rows.genre("biography", "Biography")
        horror = rows.genre("horror", "Horror")
        years = iter(["1995", "2003", "2008", "2011", "19??"])

        def rated(users: float, critics: float, genres: tuple[int, ...]) -> None:
            ratings = (users - 1.0, users, users + 1.0)  # MIN_REVIEWS of them, mean ``users``
            rows.movie(year=next(years), critics=critics, genres=genres, ratings=ratings)

        for users, critics in BIOGRAPHY_PAIRS:
            rated(users, critics, (biography,))
        for critics in BIOGRAPHY_CRITICS_ONLY:
            # Perfect reviews, one too few: no users' score, so no pair.
            few = (10.0,) * (self.MIN_REVIEWS - 1)
            rows.movie(year="1999", critics=critics, genres=(biography,), ratings=few)
        rated(*HORROR_PAIRS[0], (horror,))
        rated(*HORROR_PAIRS[1], (biography, horror))  # a biopic of a killer: counts in both
        rows.movie(year="2001", genres=(horror,), ratings=(9.0,) * self.MIN_REVIEWS)  # no critics

    @staticmethod
    def gaps(pairs: list[tuple[float, float]]) -> np.ndarray:
        return np.array([users - critics for users, critics in pairs])


def _interval(gaps: np.ndarray) -> tuple[float, float]:
    """The 95 % t-interval of the mean of ``gaps``, by the textbook formula."""
    half = scipy_stats.t.ppf(0.975, len(gaps) - 1) * gaps.std(ddof=1) / math.sqrt(len(gaps))
    return gaps.mean() - half, gaps.mean() + half


def test_score_gap_compares_the_same_movies_not_the_naive_means(
    conn: Connection, rows: Rows
) -> None:
    GapRows(rows)
    by_genre = check(conn, "ratings_by_genre", min_reviews=3).set_index("genre")
    naive = (by_genre["users_mean_rated_movies"] - by_genre["critics_mean_scored_movies"]).loc[
        "biography"
    ]
    gap = check(conn, "score_gap", a="users", b="critics", min_reviews=3).set_index("group")

    biography_pairs = [*BIOGRAPHY_PAIRS, HORROR_PAIRS[1]]
    biography = GapRows.gaps(biography_pairs)
    horror = GapRows.gaps(HORROR_PAIRS)
    assert naive > 2  # the unlike comparison: users far above critics
    assert biography.mean() < 0  # the like one: critics a little above users
    assert gap.index.tolist() == ["Horror", "Biography"]  # widest gap first
    row = gap.loc["Biography"]
    assert row["movies"] == len(biography_pairs)
    assert row["mean_gap"] == pytest.approx(biography.mean())
    assert row["mean_a"] == pytest.approx(np.mean([u for u, _ in biography_pairs]))
    assert row["mean_b"] == pytest.approx(np.mean([c for _, c in biography_pairs]))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(_interval(biography))
    assert row["ci_low"] < row["mean_gap"] < row["ci_high"]
    assert gap.loc["Horror", "mean_gap"] == pytest.approx(horror.mean())
    assert gap.loc["Horror", "movies"] == 2
    # The reverse comparison is the same gap, negated, with the interval mirrored.
    reverse = check(conn, "score_gap", a="critics", b="users", min_reviews=3).set_index("group")
    assert reverse.index.tolist() == ["Biography", "Horror"]
    assert reverse.loc["Biography", "mean_gap"] == pytest.approx(-biography.mean())
    assert reverse.loc["Biography", "ci_high"] == pytest.approx(-row["ci_low"])


def test_score_gap_by_period_and_overall(conn: Connection, rows: Rows) -> None:
    GapRows(rows)
    pairs = [*BIOGRAPHY_PAIRS, *HORROR_PAIRS]  # the two-genre film once, not twice
    everything = check(conn, "score_gap", a="users", b="critics", by="none", min_reviews=3)
    assert everything["group"].tolist() == ["all"]
    assert everything.loc[0, "movies"] == len(pairs)
    assert everything.loc[0, "mean_gap"] == pytest.approx(GapRows.gaps(pairs).mean())
    low, high = _interval(GapRows.gaps(pairs))
    assert everything.loc[0, "ci_high"] - everything.loc[0, "ci_low"] == pytest.approx(high - low)

    # Years 1995, 2003, 2008 (Biography), 2011 (Horror), '19??' (both genres): no decade.
    decades = check(conn, "score_gap", a="users", b="critics", by="decade", min_reviews=3)
    assert decades["group"].tolist() == ["1990s", "2000s", "2010s"]
    assert decades["movies"].tolist() == [1, 2, 1]
    assert decades["mean_gap"].tolist() == pytest.approx([-0.3, -0.25, 1.0])
    # One movie: a mean but no interval.
    assert decades[["ci_low", "ci_high"]].iloc[[0, 2]].isna().all().all()
    years = check(conn, "score_gap", a="users", b="critics", by="year", min_reviews=3)
    assert years["group"].tolist() == ["1995", "2003", "2008", "2011"]


def test_score_gap_of_one_genre(conn: Connection, rows: Rows) -> None:
    GapRows(rows)
    whole = ratings.score_gap(refreshed(conn), a="users", b="critics", min_reviews=3)
    one = check(conn, "score_gap", a="users", b="critics", min_reviews=3, genre="horror")
    assert one["group"].tolist() == ["Horror"]  # not the genres its films share
    pd.testing.assert_frame_equal(one, whole[whole["group"] == "Horror"].reset_index(drop=True))
    # At the default min_reviews (20) no film has a users' score: no pair, no row.
    assert check(conn, "score_gap", a="users", b="critics", by="none", genre="horror").empty


def test_score_gap_puts_rotten_tomatoes_on_ten_points(conn: Connection, rows: Rows) -> None:
    for tomatoes, imdb in [(80, 7.0), (65, 7.0), (90, None), (None, 5.0)]:
        rows.movie(rotten_tomatoes=tomatoes, imdb=imdb)
    gap = check(conn, "score_gap", a="rotten_tomatoes", b="imdb", by="none")
    assert gap.loc[0, "movies"] == 2
    assert gap.loc[0, "mean_a"] == pytest.approx(7.25)
    assert gap.loc[0, "mean_gap"] == pytest.approx(0.25)


def test_score_gap_with_one_gap_for_every_movie_has_no_width(conn: Connection, rows: Rows) -> None:
    for siddu in (5.0, 6.0, 7.0):
        rows.movie(siddu=siddu, imdb=siddu - 1.0)
    gap = check(conn, "score_gap", a="siddu", b="imdb", by="none")
    assert gap[["mean_gap", "ci_low", "ci_high"]].iloc[0].tolist() == pytest.approx([1.0] * 3)


def test_platform_agreement_mean_diff_is_first_minus_second(conn: Connection, rows: Rows) -> None:
    # Critics score higher than Siddu on two films and lower on one: signed 2/3, unsigned 4/3.
    for siddu, critics in [(5.0, 7.0), (6.0, 7.0), (8.0, 7.0)]:
        rows.movie(siddu=siddu, critics=critics, ratings=(9.0,))
    result = check(conn, "platform_agreement", min_reviews=1).set_index(["source_a", "source_b"])
    assert result.loc[("siddu", "critics"), "mean_diff"] == pytest.approx(-2 / 3)
    assert result.loc[("siddu", "critics"), "mean_abs_diff"] == pytest.approx(4 / 3)
    # users (9.0 everywhere) come last in SOURCES: critics minus users.
    assert result.loc[("critics", "users"), "mean_diff"] == pytest.approx(-2.0)
    assert result.loc[("siddu", "users"), "mean_diff"] < 0


@pytest.mark.parametrize(
    ("freq", "start", "end", "expected"),
    [
        (
            "day",
            date(2024, 2, 28),
            date(2024, 3, 1),
            {datetime(2024, 2, 28): 3, datetime(2024, 2, 29): 0, datetime(2024, 3, 1): 2},
        ),
        # Weeks start on Monday: one week, of which Wednesday to Friday count.
        ("week", date(2024, 2, 28), date(2024, 3, 1), {datetime(2024, 2, 26): 5}),
        (
            "month",
            date(2024, 1, 31),
            date(2024, 3, 1),
            {datetime(2024, 1, 1): 1, datetime(2024, 2, 1): 4, datetime(2024, 3, 1): 2},
        ),
    ],
)
def test_review_volume_boundaries(
    conn: Connection,
    rows: Rows,
    freq: str,
    start: date,
    end: date,
    expected: dict[datetime, int],
) -> None:
    movie = rows.movie()
    moments = [
        datetime(2024, 1, 31, 23, 59, 59),
        datetime(2024, 2, 27, 23, 59, 59, 999_999),  # just before a start
        datetime(2024, 2, 28),  # exactly a start
        datetime(2024, 2, 28, 18),
        datetime(2024, 3, 1),
        datetime(2024, 3, 1, 23, 59, 59, 999_999),  # the end day's last moment
        datetime(2024, 3, 2),  # just after an end
    ]
    rows.reviews(movie, [5.0] * len(moments), dates=moments)
    # A review without a movie counts (this is activity); one without a date cannot.
    rows.reviews(None, [1.0, 2.0], dates=[datetime(2024, 2, 28, 9), None])
    result = check(conn, "review_volume", start=start, end=end, freq=freq)
    counts = dict(zip(result["period"].dt.to_pydatetime(), result["reviews"], strict=True))
    assert counts == expected
    # The same range given as ISO strings.
    as_text = ratings.review_volume(conn, start=start.isoformat(), end=f"{end}T06:00", freq=freq)
    pd.testing.assert_frame_equal(as_text, result)


@pytest.mark.parametrize(
    ("freq", "start", "end", "days", "partial"),
    [
        ("day", date(2024, 2, 28), date(2024, 3, 1), [1, 1, 1], [False] * 3),
        # Wednesday to the next Tuesday: 5 days of one week, 2 of the next.
        ("week", date(2024, 2, 28), date(2024, 3, 5), [5, 2], [True, True]),
        ("week", date(2024, 2, 26), date(2024, 3, 10), [7, 7], [False, False]),
        # February 2024 has 29 days; January is cut to its last day.
        ("month", date(2024, 1, 31), date(2024, 3, 31), [1, 29, 31], [True, False, False]),
        ("month", date(2024, 3, 1), date(2024, 3, 30), [30], [True]),
    ],
)
def test_review_volume_says_which_periods_are_partial(
    conn: Connection, freq: str, start: date, end: date, days: list[int], partial: list[bool]
) -> None:
    result = check(conn, "review_volume", start=start, end=end, freq=freq)
    assert result["days"].tolist() == days
    assert result["partial"].tolist() == partial


def test_review_volume_counts_reviews_as_of_the_last_refresh(conn: Connection, rows: Rows) -> None:
    day = date(2024, 5, 5)
    rows.reviews(rows.movie(), [4.0], dates=[datetime(2024, 5, 5, 8)])
    assert check(conn, "review_volume", start=day, end=day)["reviews"].tolist() == [1]
    conn.execute(
        text(
            "insert into reviews (title, content, rating, date) "
            "values ('t', 'c', 8.0, '2024-05-05 09:00')"
        )
    )
    assert ratings.review_volume(conn, start=day, end=day)["reviews"].tolist() == [1]
    operations.refresh_rollups_in(conn, ["review_daily_stats"])
    result = ratings.review_volume(conn, start=day, end=day)
    assert result[["reviews", "mean_rating"]].values.tolist() == [[2, 6.0]]


def test_review_volume_accepts_datetimes_as_their_day(conn: Connection, rows: Rows) -> None:
    rows.reviews(rows.movie(), [5.0], dates=[datetime(2024, 5, 5, 8)])
    result = ratings.review_volume(
        refreshed(conn), start=datetime(2024, 5, 5, 12), end=datetime(2024, 5, 5, 13)
    )
    assert result["reviews"].tolist() == [1]


EMPTY_CASES: list[tuple[str, dict[str, Any], int]] = [
    *[("score_distribution", {"source": s, "bins": 5}, 5) for s in SOURCES],
    ("platform_agreement", {}, 10),
    ("top_rated", {}, 0),
    ("divisive_movies", {}, 0),
    ("ratings_by_genre", {}, 0),
    ("ratings_by_year", {}, 0),
    ("ratings_by_year", {"by": "decade"}, 0),
    ("review_volume", {"start": date(2024, 1, 1), "end": date(2024, 1, 3)}, 3),
    *[("score_gap", {"a": "users", "b": "critics", "by": by}, 0) for by in ratings.GAP_GROUPS],
    ("score_gap", {"a": "imdb", "b": "siddu", "by": "none"}, 0),
]


@pytest.mark.slow
@pytest.mark.parametrize(("function", "params", "length"), EMPTY_CASES)
@pytest.mark.parametrize("content", ["nothing", "unscored movie"])
def test_no_data_gives_the_documented_columns(
    conn: Connection, rows: Rows, function: str, params: dict[str, Any], length: int, content: str
) -> None:
    """No rows (or only a movie with no score, year or review): the documented frame."""
    if content == "unscored movie":
        rows.movie(year=None)
    result = check(conn, function, **params)
    assert dict(result.dtypes.astype(str)) == COLUMNS[function]
    assert len(result) == length
    for name, dtype in COLUMNS[function].items():
        if dtype == "int64" and name not in {"bin", "days"}:
            assert (result[name] == 0).all(), name
        elif dtype == "float64" and name not in {"bin_start", "bin_end"}:
            assert result[name].isna().all(), name


VALIDATION_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("score_distribution", {"source": "metacritic"}, r"unknown source 'metacritic'.*critics"),
    *[
        ("score_distribution", {"source": "imdb", "bins": bins}, "bins must be a whole number")
        for bins in (0, -3, 10_001, 2.5, True, "20")
    ],
    (
        "score_distribution",
        {"source": "users", "year_from": 2010, "year_to": 2000},
        r"year_from \(2010\) must not be after year_to \(2000\)",
    ),
    ("score_distribution", {"source": "users", "year_to": 1500}, "year_to must be a year"),
    *[
        (function, {"min_reviews": bad}, "min_reviews must be a whole number")
        for function in ("platform_agreement", "top_rated", "divisive_movies", "ratings_by_genre")
        for bad in (0, -1, 1.5, None)
    ],
    ("ratings_by_year", {"min_reviews": 0}, "min_reviews must be a whole number"),
    *[
        (function, {"limit": bad}, "limit must be a whole number from 1 to 10,000")
        for function in ("top_rated", "divisive_movies")
        for bad in (0, -1, 10_001, 3.0, False)
    ],
    ("top_rated", {"year_from": 2001, "year_to": 2000}, "must not be after"),
    ("top_rated", {"language": ""}, "language must be non-blank text"),
    ("top_rated", {"language": "x" * 51}, "language must be at most 50 characters"),
    ("top_rated", {"language": "en\x00"}, "language must not contain NUL"),
    ("top_rated", {"language": 7}, "language must be non-blank text"),
    ("ratings_by_genre", {"year_from": 2101}, "year_from must be a year"),
    ("ratings_by_year", {"by": "century"}, r"unknown by 'century'; valid values: decade, year"),
    (
        "review_volume",
        {"start": date(2024, 1, 1), "end": date(2024, 1, 2), "freq": "hour"},
        r"unknown freq 'hour'; valid values: day, month, week",
    ),
    (
        "review_volume",
        {"start": date(2024, 1, 2), "end": date(2024, 1, 1)},
        r"start \(2024-01-02\) must not be after end \(2024-01-01\)",
    ),
    ("review_volume", {"start": "2024-13-01", "end": date(2024, 1, 1)}, "start must be an ISO"),
    ("review_volume", {"start": date(2024, 1, 1), "end": "soon"}, "end must be an ISO"),
    ("review_volume", {"start": 20240101, "end": date(2024, 1, 1)}, "start must be a date"),
    (
        "review_volume",
        {"start": "2024-01-02", "end": datetime(2024, 1, 1, 23)},
        r"start \(2024-01-02\) must not be after end \(2024-01-01\)",
    ),
    (
        "score_gap",
        {"a": "critics", "b": "critics"},
        "a and b must be two different sources, got 'critics' for both",
    ),
    ("score_gap", {"a": "metacritic", "b": "critics"}, r"unknown a 'metacritic'; valid values:"),
    ("score_gap", {"a": "users", "b": "Critics"}, r"unknown b 'Critics'; valid values: critics"),
    (
        "score_gap",
        {"a": "users", "b": "critics", "by": "month"},
        r"unknown by 'month'; valid values: decade, genre, none, year",
    ),
    *[
        ("score_gap", {"a": "users", "b": "critics", "min_reviews": bad}, "min_reviews must be")
        for bad in (0, -1, 1.5, None, True)
    ],
]


@pytest.mark.parametrize(("function", "params", "message"), VALIDATION_CASES)
def test_invalid_parameters_raise_before_any_query(
    engine: Engine, function: str, params: dict[str, Any], message: str
) -> None:
    closed = engine.connect()
    closed.close()  # any query on it would raise ResourceClosedError, not ValueError
    with pytest.raises(ValueError, match=message):
        getattr(ratings, function)(closed, **params)


GENRE_FUNCTIONS: list[tuple[str, dict[str, Any]]] = [
    ("score_distribution", {"source": "users"}),
    ("platform_agreement", {}),
    ("top_rated", {}),
    ("divisive_movies", {}),
    ("ratings_by_year", {}),
    ("score_gap", {"a": "users", "b": "critics"}),
    ("score_gap", {"a": "imdb", "b": "critics", "by": "none"}),
]


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize(("function", "params"), GENRE_FUNCTIONS)
def test_unknown_genre_is_rejected_with_the_valid_ones(
    conn: Connection, rows: Rows, function: str, params: dict[str, Any], hostile: str
) -> None:
    rows.genre("drama")
    rows.genre("sci-fi")
    # A NUL is refused before the lookup that lists the valid ones.
    refused = r"unknown genre .*; valid values: drama, sci-fi|genre must not contain NUL"
    with pytest.raises(ValueError, match=refused):
        getattr(ratings, function)(conn, genre=hostile, **params)


@pytest.mark.parametrize(
    ("name", "function", "params"),
    [
        ("source", "score_distribution", {}),
        ("by", "ratings_by_year", {}),
        ("freq", "review_volume", {"start": date(2024, 1, 1), "end": date(2024, 1, 1)}),
        ("a", "score_gap", {"b": "critics"}),
        ("b", "score_gap", {"a": "critics"}),
        ("by", "score_gap", {"a": "users", "b": "critics"}),
    ],
)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_choices_are_rejected(
    conn: Connection, name: str, function: str, params: dict[str, Any], hostile: str
) -> None:
    with pytest.raises(ValueError, match=f"unknown {name} "):
        getattr(ratings, function)(conn, **{name: hostile}, **params)


@pytest.mark.slow
@pytest.mark.parametrize("hostile", STORABLE_HOSTILE)
def test_hostile_genres_and_languages_match_literally(
    conn: Connection, rows: Rows, hostile: str
) -> None:
    """A genre slug or language that looks like SQL or a LIKE pattern is only itself."""
    odd, drama = rows.genre(hostile), rows.genre("drama")
    own = rows.movie("Own", language=hostile, genres=(odd,), ratings=(6.0, 8.0))
    rows.movie("Other", language="drama", genres=(drama,), ratings=(9.0, 9.0))
    rows.movie("English", language="English", genres=(drama,), ratings=(4.0, 4.0))

    assert check(conn, "top_rated", min_reviews=1, language=hostile)["movie_id"].tolist() == [own]
    assert check(conn, "top_rated", min_reviews=1, genre=hostile)["movie_id"].tolist() == [own]
    assert check(conn, "divisive_movies", min_reviews=1, genre=hostile)["movie_id"].tolist() == [
        own
    ]
    histogram = check(conn, "score_distribution", source="users", genre=hostile)
    assert histogram["count"].sum() == 2
    agreement = check(conn, "platform_agreement", min_reviews=1, genre=hostile)
    assert agreement["n"].sum() == 0
    assert check(conn, "ratings_by_year", genre=hostile, min_reviews=1)["movies"].sum() == 1
    by_genre = check(conn, "ratings_by_genre", min_reviews=1).set_index("genre")
    assert by_genre.loc[hostile, "movies"] == 1
    # Nothing was executed: the rows and tables are as they were.
    for table, count in {"movies": 3, "reviews": 6, "genres": 2, "movie_genres": 3}.items():
        assert conn.execute(text(f"select count(*) from {table}")).scalar_one() == count


@pytest.mark.parametrize("language", ["x' OR '1'='1", "English' --", "%", "_nglish", "english"])
def test_language_matches_nothing_but_itself(conn: Connection, rows: Rows, language: str) -> None:
    rows.movie(language="English", ratings=(7.0,))
    assert check(conn, "top_rated", min_reviews=1, language=language).empty
    assert conn.execute(text("select count(*) from movies")).scalar_one() == 1


def test_read_only_sessions_can_run_everything(db_url: URL) -> None:
    """Analysts' sessions are read-only: nothing here writes, not even a temporary table."""
    reader = get_engine(db_url)
    try:
        with reader.connect() as connection:
            for function, params, _ in EMPTY_CASES:
                getattr(ratings, function)(connection, **params)
    finally:
        reader.dispose()


def test_sql_uses_bound_parameters(conn: Connection, rows: Rows) -> None:
    """The language arrives as a parameter: the statement text never contains it."""
    marker = "marker-value-7f3a"
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(conn, "before_cursor_execute", record)
    try:
        ratings.top_rated(conn, language=marker)
    finally:
        event.remove(conn, "before_cursor_execute", record)
    assert seen and not any(marker in statement for statement in seen)


# --- the per-movie rollup ----------------------------------------------------------------------


def test_movie_scores_hold_every_movie_as_the_functions_read_it(
    conn: Connection, rows: Rows
) -> None:
    """``movie_scores`` has a row for every movie, reviewed or not, with the year read as the
    ratings functions read it, its review statistics and its genres in ascending order; and
    it is as of its refresh: a review written after it does not count until the next one."""
    drama, action = rows.genre("drama"), rows.genre("action")
    reviewed = rows.movie(
        "Reviewed",
        year="1999",
        language="Tamil",
        siddu=7.5,
        rotten_tomatoes=81,
        genres=(action, drama),
        ratings=(6.0, 8.0, 10.0),
    )
    junk = rows.movie("Junk year", year="19??", critics=4.0)
    bare = rows.movie("No genre, no review", year=None)
    refreshed(conn)
    facts = {
        row.movie_id: row
        for row in conn.execute(
            text("select * from movie_scores where movie_id = any(:ids)"),
            {"ids": [reviewed, junk, bare]},
        )
    }
    assert set(facts) == {reviewed, junk, bare}
    first = facts[reviewed]
    assert (first.year, first.language, first.siddu, first.rotten_tomatoes) == (
        1999,
        "Tamil",
        7.5,
        81,
    )
    assert (first.reviews, first.rating_sum, first.rating_stddev) == (3, 24.0, 2.0)
    assert first.genre_ids == sorted([drama, action])
    assert facts[junk].year is None and facts[junk].critics == 4.0
    assert (facts[bare].reviews, facts[bare].rating_sum, facts[bare].genre_ids) == (0, None, [])

    # Not refreshed: the rollup, and so the functions, still say three reviews.
    conn.execute(
        text(
            "insert into reviews (title, content, rating, date, movie_id) "
            "values ('r', 'text', 0, '2024-01-02', :m)"
        ),
        {"m": reviewed},
    )
    top = ratings.top_rated(conn, min_reviews=1)
    assert top.set_index("movie_id").loc[reviewed, "reviews"] == 3
    operations.refresh_rollups_in(conn, ["movie_scores"], concurrently=False)
    top = ratings.top_rated(conn, min_reviews=1)
    assert top.set_index("movie_id").loc[reviewed, "reviews"] == 4
