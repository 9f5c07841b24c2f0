"""Independent computations of what the query functions return, apart from their SQL.

``REFERENCES``: each function of :mod:`iwm_lab.queries.ratings` from a :class:`Raw`'s plain
selects, in pandas (:func:`assert_same` compares). :func:`parse_price`: a display price read
with Python regexes, as :func:`iwm_lab.queries.streaming.price_quality_mix` reads it in SQL.
The benchmarks time them as the pandas baseline; the tests check the queries against them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from functools import cached_property
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from sqlalchemy import Connection, text

from iwm_lab.queries.streaming import CURRENCY_MARKERS

# The documented result columns of each function, and their dtypes.
COLUMNS: dict[str, dict[str, str]] = {
    "score_distribution": {
        "bin": "int64",
        "bin_start": "float64",
        "bin_end": "float64",
        "count": "int64",
        "share": "float64",
    },
    "platform_agreement": {
        "source_a": "str",
        "source_b": "str",
        "n": "int64",
        "pearson_r": "float64",
        "spearman_rho": "float64",
        "mean_diff": "float64",
        "mean_abs_diff": "float64",
    },
    "top_rated": {
        "movie_id": "int64",
        "title": "str",
        "year": "Int64",
        "reviews": "int64",
        "mean_rating": "float64",
        "weighted_rating": "float64",
    },
    "divisive_movies": {
        "movie_id": "int64",
        "title": "str",
        "year": "Int64",
        "reviews": "int64",
        "mean_rating": "float64",
        "stddev_rating": "float64",
    },
}
_SUMMARY = {
    "movies": "int64",
    "rated_movies": "int64",
    "reviews": "int64",
    "users_mean_rated_movies": "float64",
    "siddu_mean_scored_movies": "float64",
    "critics_mean_scored_movies": "float64",
    "imdb_mean_scored_movies": "float64",
    "rotten_tomatoes_mean_scored_movies": "float64",
}
COLUMNS["ratings_by_genre"] = {"genre": "str", "genre_name": "str", **_SUMMARY}
COLUMNS["ratings_by_year"] = {"period": "datetime64[us]", **_SUMMARY}
COLUMNS["review_volume"] = {
    "period": "datetime64[us]",
    "reviews": "int64",
    "mean_rating": "float64",
    "days": "int64",
    "partial": "bool",
}
COLUMNS["score_gap"] = {
    "group": "str",
    "movies": "int64",
    "mean_a": "float64",
    "mean_b": "float64",
    "mean_gap": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
}

SOURCES = ("siddu", "critics", "imdb", "rotten_tomatoes", "users")
SCORE_COLUMNS = {
    "siddu": "siddu_score",
    "critics": "critics_score",
    "imdb": "imdb_rating",
    "rotten_tomatoes": "rotten_tomatoes_score",
}
SORT_DECIMALS = 9  # ties within float noise are ties: see ratings._SORT_DECIMALS


class Raw:
    """The raw rows the references need, each table read on first use with a plain select.

    ``review_dates`` (since, until) limits the reviews read to that half-open window: the
    benchmark's baseline for ``review_volume`` loads no more than it needs.
    """

    def __init__(self, conn: Connection, review_dates: tuple[datetime, datetime] | None = None):
        self._conn = conn
        self._review_dates = review_dates

    def _read(self, sql: str, **params: Any) -> pd.DataFrame:
        return pd.read_sql(text(sql), self._conn, params=params)

    @cached_property
    def movies(self) -> pd.DataFrame:
        return self._read(
            "select id, title, year, language, siddu_score, critics_score, imdb_rating, "
            "rotten_tomatoes_score from movies"
        )

    @cached_property
    def reviews(self) -> pd.DataFrame:
        if self._review_dates is None:
            return self._read("select movie_id, rating, date from reviews")
        since, until = self._review_dates
        return self._read(
            "select movie_id, rating, date from reviews where date >= :since and date < :until",
            since=since,
            until=until,
        )

    @cached_property
    def movie_genres(self) -> pd.DataFrame:
        return self._read("select movie_id, genre_id from movie_genres")

    @cached_property
    def genres(self) -> pd.DataFrame:
        return self._read("select id, slug, name from genres")


def as_columns(df: pd.DataFrame, function: str) -> pd.DataFrame:
    columns = COLUMNS[function]
    return df[list(columns)].astype(columns).reset_index(drop=True)


def valid_year(year: pd.Series) -> pd.Series:
    """The year as a number when it is exactly four digits, else NA."""
    year = year.astype("str")
    four_digits = year.str.fullmatch(r"[0-9]{4}")
    return pd.to_numeric(year.where(four_digits)).astype("Int64")


def movie_mask(
    raw: Raw,
    *,
    genre: str | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    language: str | None = None,
) -> pd.Series:
    movies = raw.movies
    mask = pd.Series(True, index=movies.index)
    if genre is not None:
        genre_ids = raw.genres.loc[raw.genres["slug"] == genre, "id"]
        of_genre = raw.movie_genres.loc[raw.movie_genres["genre_id"].isin(genre_ids), "movie_id"]
        mask &= movies["id"].isin(of_genre)
    year = valid_year(movies["year"])
    if year_from is not None:
        mask &= (year >= year_from).fillna(False).astype(bool)
    if year_to is not None:
        mask &= (year <= year_to).fillna(False).astype(bool)
    if language is not None:
        mask &= (movies["language"] == language).fillna(False).astype(bool)
    return mask


def reviews_of(raw: Raw, movies: pd.DataFrame) -> pd.DataFrame:
    reviews = raw.reviews
    return reviews[reviews["movie_id"].isin(movies["id"])].astype({"movie_id": "int64"})


def ref_score_distribution(
    raw: Raw,
    *,
    source: str,
    bins: int = 20,
    genre: str | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
) -> pd.DataFrame:
    movies = raw.movies[movie_mask(raw, genre=genre, year_from=year_from, year_to=year_to)]
    if source == "users":
        scores = reviews_of(raw, movies)["rating"]
    else:
        scores = movies[SCORE_COLUMNS[source]].dropna().astype("float64")
    low, high = (0.0, 100.0) if source == "rotten_tomatoes" else (0.0, 10.0)
    # Equal-width bins, lower edge inclusive; the top of the scale joins the last bin.
    index = np.minimum(np.floor(bins * ((scores.to_numpy() - low) / (high - low))) + 1, bins)
    counts = pd.Series(index.astype("int64")).value_counts().reindex(range(1, bins + 1))
    counts = counts.fillna(0).astype("int64")
    number = np.arange(1, bins + 1)
    width = (high - low) / bins
    total = counts.sum()
    out = pd.DataFrame(
        {
            "bin": number,
            "bin_start": low + (number - 1) * width,
            "bin_end": low + number * width,
            "count": counts.to_numpy(),
            "share": counts.to_numpy() / total if total else np.nan,
        }
    )
    return as_columns(out, "score_distribution")


def ref_platform_agreement(
    raw: Raw, *, genre: str | None = None, min_reviews: int = 20
) -> pd.DataFrame:
    movies = raw.movies[movie_mask(raw, genre=genre)]
    stats = reviews_of(raw, movies).groupby("movie_id")["rating"].agg(["size", "mean"])
    users = stats.loc[stats["size"] >= min_reviews, "mean"]
    scores = pd.DataFrame(
        {
            "siddu": movies["siddu_score"],
            "critics": movies["critics_score"],
            "imdb": movies["imdb_rating"],
            "rotten_tomatoes": movies["rotten_tomatoes_score"] / 10,
            "users": movies["id"].map(users),
        }
    ).astype("float64")
    rows = []
    for a, b in combinations(SOURCES, 2):
        both = scores[[a, b]].dropna()
        x, y = both[a], both[b]
        rows.append(
            {
                "source_a": a,
                "source_b": b,
                "n": len(both),
                "pearson_r": x.corr(y),
                "spearman_rho": x.rank().corr(y.rank()),  # rank(): ties get their mean rank
                "mean_diff": (x - y).mean(),
                "mean_abs_diff": (x - y).abs().mean(),
            }
        )
    return as_columns(pd.DataFrame(rows), "platform_agreement")


def _ranked_movies(
    movies: pd.DataFrame, stats: pd.DataFrame, key: str, limit: int, function: str
) -> pd.DataFrame:
    stats = stats.assign(_key=stats[key].round(SORT_DECIMALS))
    stats = stats.sort_values(["_key", "reviews", "movie_id"], ascending=[False, False, True])
    out = stats.head(limit).merge(
        movies[["id", "title", "year"]], left_on="movie_id", right_on="id", how="left"
    )
    out["year"] = valid_year(out["year"])
    return as_columns(out, function)


def ref_top_rated(
    raw: Raw,
    *,
    min_reviews: int = 20,
    genre: str | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    language: str | None = None,
    limit: int = 20,
) -> pd.DataFrame:
    mask = movie_mask(raw, genre=genre, year_from=year_from, year_to=year_to, language=language)
    movies = raw.movies[mask]
    reviews = reviews_of(raw, movies)
    c = reviews["rating"].mean()
    stats = reviews.groupby("movie_id")["rating"].agg(reviews="size", mean_rating="mean")
    stats = stats[stats["reviews"] >= min_reviews].reset_index()
    v, r, m = stats["reviews"].astype("float64"), stats["mean_rating"], min_reviews
    stats["weighted_rating"] = v / (v + m) * r + m / (v + m) * c
    return _ranked_movies(movies, stats, "weighted_rating", limit, "top_rated")


def ref_divisive_movies(
    raw: Raw, *, min_reviews: int = 20, genre: str | None = None, limit: int = 20
) -> pd.DataFrame:
    movies = raw.movies[movie_mask(raw, genre=genre)]
    stats = (
        reviews_of(raw, movies)
        .groupby("movie_id")["rating"]
        .agg(reviews="size", mean_rating="mean", stddev_rating="std")
    )
    stats = stats[stats["reviews"] >= max(min_reviews, 2)].reset_index()
    return _ranked_movies(movies, stats, "stddev_rating", limit, "divisive_movies")


def _per_movie(raw: Raw, movies: pd.DataFrame) -> pd.DataFrame:
    """Movies indexed by id with their scores, review count ``n`` and mean review ``mean``."""
    stats = reviews_of(raw, movies).groupby("movie_id")["rating"].agg(n="size", mean="mean")
    per_movie = movies.set_index("id")[list(SCORE_COLUMNS.values())].astype("float64")
    per_movie = per_movie.join(stats)
    per_movie["n"] = per_movie["n"].fillna(0)
    return per_movie


def _summary(group: pd.DataFrame, min_reviews: int) -> dict[str, Any]:
    rated = group[group["n"] >= min_reviews]
    return {
        "movies": len(group),
        "rated_movies": len(rated),
        "reviews": int(rated["n"].sum()),
        "users_mean_rated_movies": rated["mean"].mean(),
        "siddu_mean_scored_movies": group["siddu_score"].mean(),
        "critics_mean_scored_movies": group["critics_score"].mean(),
        "imdb_mean_scored_movies": group["imdb_rating"].mean(),
        "rotten_tomatoes_mean_scored_movies": group["rotten_tomatoes_score"].mean(),
    }


def ref_ratings_by_genre(
    raw: Raw,
    *,
    min_reviews: int = 20,
    year_from: int | None = None,
    year_to: int | None = None,
) -> pd.DataFrame:
    movies = raw.movies[movie_mask(raw, year_from=year_from, year_to=year_to)]
    per_movie = _per_movie(raw, movies)
    links = raw.movie_genres[raw.movie_genres["movie_id"].isin(movies["id"])]
    rows = []
    for genre in raw.genres.sort_values(["slug", "name", "id"]).itertuples():
        group = per_movie.loc[links.loc[links["genre_id"] == genre.id, "movie_id"]]
        rows.append({"genre": genre.slug, "genre_name": genre.name, **_summary(group, min_reviews)})
    out = pd.DataFrame(rows, columns=list(COLUMNS["ratings_by_genre"]))
    return as_columns(out, "ratings_by_genre")


def ref_ratings_by_year(
    raw: Raw, *, genre: str | None = None, by: str = "year", min_reviews: int = 20
) -> pd.DataFrame:
    movies = raw.movies[movie_mask(raw, genre=genre)]
    per_movie = _per_movie(raw, movies)
    year = valid_year(movies.set_index("id")["year"])
    step = 1 if by == "year" else 10
    period = (year // step * step).dropna()
    rows = []
    if len(period):
        for start in range(int(period.min()), int(period.max()) + 1, step):
            group = per_movie.loc[period.index[period == start]]
            rows.append({"period": datetime(start, 1, 1), **_summary(group, min_reviews)})
    out = pd.DataFrame(rows, columns=list(COLUMNS["ratings_by_year"]))
    return as_columns(out, "ratings_by_year")


def _truncate(moments: pd.Series, freq: str) -> pd.Series:
    days = moments.dt.normalize()
    if freq == "day":
        return days
    if freq == "week":
        return days - pd.to_timedelta(days.dt.day_of_week, unit="D")  # back to Monday
    return days - pd.to_timedelta(days.dt.day - 1, unit="D")


def ref_review_volume(
    raw: Raw,
    *,
    start: date | str,
    end: date | str,
    freq: str = "day",
    table: str = "reviews",
) -> pd.DataFrame:
    """Read from ``reviews`` whatever the ``table``: the twin is expected to hold the same."""
    since, until = pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1)
    # An empty read gives object, not datetime, columns.
    reviews = raw.reviews.dropna(subset=["date"]).astype({"date": "datetime64[us]"})
    reviews = reviews[(reviews["date"] >= since) & (reviews["date"] < until)]
    first, last = _truncate(pd.Series([since, pd.Timestamp(end)]), freq)
    offsets = {"day": "D", "week": "7D", "month": "MS"}
    periods = pd.date_range(first, last, freq=offsets[freq])
    volume = reviews.groupby(_truncate(reviews["date"], freq))["rating"].agg(
        reviews="size", mean_rating="mean"
    )
    volume = volume.reindex(periods).rename_axis("period").reset_index()
    volume["reviews"] = volume["reviews"].fillna(0)
    lengths = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1)}
    ends = volume["period"] + lengths.get(freq, pd.DateOffset(months=1))
    inside = ends.clip(upper=until) - volume["period"].clip(lower=since)
    volume["days"] = inside.dt.days
    volume["partial"] = inside < ends - volume["period"]
    return as_columns(volume, "review_volume")


def ref_score_gap(
    raw: Raw,
    *,
    a: str,
    b: str,
    by: str = "genre",
    min_reviews: int = 20,
    genre: str | None = None,
) -> pd.DataFrame:
    movies = raw.movies[movie_mask(raw, genre=genre)]
    stats = reviews_of(raw, movies).groupby("movie_id")["rating"].agg(["size", "mean"])
    scores = pd.DataFrame(
        {
            "siddu": movies["siddu_score"],
            "critics": movies["critics_score"],
            "imdb": movies["imdb_rating"],
            "rotten_tomatoes": movies["rotten_tomatoes_score"] / 10,
            "users": movies["id"].map(stats.loc[stats["size"] >= min_reviews, "mean"]),
        }
    ).astype("float64")
    scores.index = movies["id"].to_numpy()
    pairs = scores[[a, b]].dropna()
    pairs = pairs.assign(gap=pairs[a] - pairs[b])
    year = valid_year(movies.set_index("id")["year"]).reindex(pairs.index)
    if by == "genre":
        links = raw.movie_genres.merge(raw.genres, left_on="genre_id", right_on="id")
        if genre is not None:
            links = links[links["slug"] == genre]
        grouped = pairs.join(links.set_index("movie_id")[["genre_id", "name"]], how="inner")
        keys: list[Any] = ["genre_id", "name"]
    elif by == "none":
        grouped, keys = pairs.assign(name="all"), ["name"]
    else:
        step = 10 if by == "decade" else 1
        period = (year // step * step).dropna()
        grouped = pairs.loc[period.index].assign(period=period.astype("int64"))
        keys = ["period"]
    rows = []
    for key, group in grouped.groupby(keys):
        gaps = group["gap"]
        n = len(gaps)
        if n < 2:
            low = high = np.nan
        elif gaps.max() - gaps.min() < 1e-9:  # the same gap everywhere, up to float noise
            low = high = gaps.mean()
        else:
            low, high = scipy_stats.ttest_1samp(gaps, 0).confidence_interval(0.95)
        label = key[-1] if by in ("genre", "none") else f"{key[0]}{'s' if by == 'decade' else ''}"
        rows.append(
            {
                "group": label,
                "genre_id": key[0] if by == "genre" else 0,
                "order": key[0] if by in ("decade", "year") else 0,
                "movies": n,
                "mean_a": group[a].mean(),
                "mean_b": group[b].mean(),
                "mean_gap": gaps.mean(),
                "ci_low": low,
                "ci_high": high,
            }
        )
    out = pd.DataFrame(rows, columns=[*COLUMNS["score_gap"], "genre_id", "order"])
    if by == "genre":
        out = out.assign(_key=out["mean_gap"].round(SORT_DECIMALS)).sort_values(
            ["_key", "group", "genre_id"], ascending=[False, True, True]
        )
    else:
        out = out.sort_values("order")
    return as_columns(out, "score_gap")


REFERENCES: dict[str, Callable[..., pd.DataFrame]] = {
    "score_distribution": ref_score_distribution,
    "platform_agreement": ref_platform_agreement,
    "top_rated": ref_top_rated,
    "divisive_movies": ref_divisive_movies,
    "ratings_by_genre": ref_ratings_by_genre,
    "ratings_by_year": ref_ratings_by_year,
    "review_volume": ref_review_volume,
    "score_gap": ref_score_gap,
}


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9, atol=1e-12)


def parse_price(price: object) -> tuple[str | None, float | None]:
    """An independent reading of a display price (regexes in Python, not SQL)."""
    if not isinstance(price, str):
        return None, None
    cleaned = price.replace("\u00a0", " ").replace("\u202f", " ").replace("\t", " ").strip(" ")
    m = re.fullmatch(r"([^0-9]*)([0-9][0-9.,]*)([^0-9]*)", cleaned)
    if not m:
        return None, None
    marker = (m[1].strip(" ") + m[3].strip(" ")).upper()
    number = m[2]
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", number):
        value = float(number)
    elif re.fullmatch(r"[0-9]+,[0-9]{1,2}", number):
        value = float(number.replace(",", "."))
    elif re.fullmatch(r"[0-9]{1,3}(,[0-9]{2,3})*,[0-9]{3}(\.[0-9]+)?", number):
        value = float(number.replace(",", ""))
    elif re.fullmatch(r"[0-9]{1,3}(\.[0-9]{3})+(,[0-9]+)?", number):
        value = float(number.replace(".", "").replace(",", "."))
    else:
        return None, None
    if marker == "":
        return None, value
    code = CURRENCY_MARKERS.get(marker)
    return (code, value) if code else (None, None)
