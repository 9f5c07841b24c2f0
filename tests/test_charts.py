"""Chart builders on small hand-made frames: the figure, its traces and axes, and empty input.

Frames carry the columns the query functions document, so a builder that reads a column a
query does not return fails here; each builder is also given the same frame with no rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from iwm_lab import charts
from iwm_lab.charts import ratings as ratings_charts


def _values(trace: Any, axis: str) -> list[Any]:
    """A trace's x or y values as a list, whatever plotly stored them as."""
    data = getattr(trace, axis)
    return [] if data is None else list(np.asarray(data).tolist())


def _is_empty(fig: go.Figure) -> bool:
    notes = [a.text for a in fig.layout.annotations]
    return len(fig.data) == 0 and any(charts.NO_DATA in (n or "") for n in notes)


def _axis_title(axis: Any) -> str | None:
    return axis.title.text


DIST = pd.DataFrame(
    {
        "bin": [1, 2, 3, 4],
        "bin_start": [0.0, 2.5, 5.0, 7.5],
        "bin_end": [2.5, 5.0, 7.5, 10.0],
        "count": [1, 0, 3, 6],
        "share": [0.1, 0.0, 0.3, 0.6],
    }
)
TOP = pd.DataFrame(
    {
        "movie_id": [3, 1],
        "title": ["Heat", "Untitled"],
        "year": pd.array([1995, None], dtype="Int64"),
        "reviews": [40, 25],
        "mean_rating": [8.5, 8.0],
        "weighted_rating": [8.2, 7.6],
    }
)
AGREEMENT = pd.DataFrame(
    {
        "source_a": ["siddu", "siddu", "imdb"],
        "source_b": ["imdb", "users", "users"],
        "n": [10, 1, 8],
        "pearson_r": [0.8, np.nan, -0.2],
        "spearman_rho": [0.7, np.nan, -0.1],
        "mean_diff": [-0.1, 1.0, -1.5],
        "mean_abs_diff": [0.5, 1.0, 2.0],
    }
)
BY_GENRE = pd.DataFrame(
    {
        "genre": ["drama", "sci-fi", "war"],
        "genre_name": ["Drama", "Science Fiction", "War"],
        "movies": [5, 3, 1],
        "rated_movies": [4, 2, 0],
        "reviews": [100, 40, 0],
        "users_mean_rated_movies": [6.5, 7.5, np.nan],
        "siddu_mean_scored_movies": [6.0, 7.0, 5.0],
        "critics_mean_scored_movies": [5.5, 6.5, np.nan],
        "imdb_mean_scored_movies": [6.1, 7.1, 5.1],
        "rotten_tomatoes_mean_scored_movies": [60.0, 70.0, np.nan],
    }
)
BY_PERIOD = pd.DataFrame(
    {
        "period": [1990, 2000, 2010],
        "movies": [2, 0, 3],
        "rated_movies": [1, 0, 3],
        "reviews": [30, 0, 90],
        "users_mean_rated_movies": [6.0, np.nan, 7.0],
        "siddu_mean_scored_movies": [5.0, np.nan, 6.0],
        "critics_mean_scored_movies": [5.5, np.nan, 6.5],
        "imdb_mean_scored_movies": [6.5, np.nan, 7.5],
        "rotten_tomatoes_mean_scored_movies": [55.0, np.nan, 80.0],
    }
)
VOLUME = pd.DataFrame(
    {
        "period": pd.to_datetime(["2026-10-19", "2026-10-26", "2026-11-02"]),
        "reviews": [3, 5, 1],
        "mean_rating": [7.0, np.nan, 6.0],
        "days": [7, 7, 2],
        "partial": [False, False, True],
    }
)
GAP = pd.DataFrame(
    {
        "group": ["Documentary", "Drama", "Horror"],
        "movies": pd.array([40, 1, 12], dtype="Int64"),
        "mean_a": [7.5, 6.0, 5.0],
        "mean_b": [7.0, 5.9, 5.25],
        "mean_gap": [0.5, 0.1, -0.25],
        "ci_low": [0.3, np.nan, -0.6],
        "ci_high": [0.7, np.nan, 0.1],
    }
)
COVERAGE = pd.DataFrame(
    {
        "region": ["IN", "US"],
        "movies": [4, 9],
        "movies_subscription": [3, 8],
        "movies_rent": [1, 2],
        "movies_buy": [0, 2],
        "movies_free": [0, 1],
        "released_movies": [10, 10],
        "released_available": [4, 9],
        "released_share": [0.4, 0.9],
        "top_n": [5, 5],
        "top_n_available": [2, 5],
        "top_n_share": [0.4, 1.0],
    }
)
SHARES = pd.DataFrame(
    {
        "platform_id": [2, 1],
        "platform": ["Prime Video", "Netflix"],
        "movies": [7, 5],
        "share": [0.7, 0.5],
        "exclusives": [3, 0],
        "exclusive_share": [3 / 7, 0.0],
    }
)
MIX = pd.DataFrame(
    {
        "type": ["rent", "rent", "rent", "buy"],
        "quality": ["HD", "HD", None, "4K"],
        "currency": ["USD", "EUR", "USD", "USD"],
        "options": [4, 1, 2, 3],
        "priced": [4, 1, 2, 3],
        "price_min": [2.99, 3.99, 1.99, 9.99],
        "price_median": [3.99, 3.99, 1.99, 12.99],
        "price_max": [4.99, 3.99, 1.99, 14.99],
        "price_mean": [3.99, 3.99, 1.99, 12.5],
    }
)
COUNTS = pd.DataFrame(
    {
        "tag": ["dune", "indvaus", "oscars"],
        "category": ["movie", "cricket", "movie"],
        "count": [9, 5, 2],
    }
)
# The riser: 1 pulse in 28 days, then 14 in 7 (56 times the rate); rates 1/28 to 30/7.
RISING = pd.DataFrame(
    {
        "tag": ["dune", "oscars"],
        "window_count": [14, 30],
        "baseline_count": [1, 20],
        "window_rate": [2.0, 30 / 7],
        "baseline_rate": [1 / 28, 20 / 28],
        "growth": [56.0, 6.0],
    }
)
NEW = pd.DataFrame(
    {"tag": ["festival", "premiere"], "window_count": [5, 3], "window_rate": [5 / 7, 3 / 7]}
)
SERIES = pd.DataFrame(
    {
        "period": pd.to_datetime(["2026-10-30", "2026-10-30", "2026-10-31", "2026-10-31"]),
        "tag": ["dune", "oscars", "dune", "oscars"],
        "count": [1, 0, 4, 2],
    }
)
ROWS = pd.DataFrame({"table": ["movies", "genres", "scenes"], "rows": [200, 19, 0]})
NULLS = pd.DataFrame(
    {
        "table": ["movies", "movies", "pulses"],
        "column": ["imdb_rating", "year", "hashtags"],
        "rows": [10, 10, 0],
        "nulls": [2, 0, 0],
        "null_share": [0.2, 0.0, np.nan],
    }
)
AUDIT = pd.DataFrame(
    {
        "algorithm": pd.array(["argon2id", "argon2id", None], dtype="str"),
        "version": pd.array([19, 19, None], dtype="Int64"),
        "memory_kib": pd.array([65536, 102400, None], dtype="Int64"),
        "time_cost": pd.array([3, 2, None], dtype="Int64"),
        "parallelism": pd.array([4, 8, None], dtype="Int64"),
        "salt_bytes": pd.array([16, 16, None], dtype="Int64"),
        "hash_bytes": pd.array([32, 32, None], dtype="Int64"),
        "users": [7, 2, 1],
        "share": [0.7, 0.2, 0.1],
        "needs_rehash": [False, True, True],
    }
)

# Builder, its input, and the number of traces it draws from it.
BUILDERS: dict[str, tuple[Callable[[pd.DataFrame], go.Figure], pd.DataFrame, int]] = {
    "score_histogram": (lambda df: charts.score_histogram(df, source="users"), DIST, 1),
    "top_rated_chart": (charts.top_rated_chart, TOP, 2),
    "agreement_chart": (charts.agreement_chart, AGREEMENT, 2),
    "genre_ratings_chart": (charts.genre_ratings_chart, BY_GENRE, 1),
    "ratings_over_time_chart": (charts.ratings_over_time_chart, BY_PERIOD, 5),
    "review_volume_chart": (charts.review_volume_chart, VOLUME, 1),
    "score_gap_chart": (
        lambda df: ratings_charts.score_gap_chart(df, a_label="iwm users", b_label="Critics"),
        GAP,
        1,
    ),
    "coverage_chart": (charts.coverage_chart, COVERAGE, 2),
    "platform_share_chart": (charts.platform_share_chart, SHARES, 2),
    "offer_mix_chart": (charts.offer_mix_chart, MIX, 3),
    "hashtag_chart": (charts.hashtag_chart, COUNTS, 2),
    "rising_tags_chart": (charts.rising_tags_chart, RISING, 2),
    "new_tags_chart": (charts.trending.new_tags_chart, NEW, 1),
    "hashtag_timeseries_chart": (charts.hashtag_timeseries_chart, SERIES, 2),
    "row_counts_chart": (charts.row_counts_chart, ROWS, 1),
    "null_shares_chart": (charts.null_shares_chart, NULLS, 1),
    "hash_audit_chart": (charts.hash_audit_chart, AUDIT, 2),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_builder_draws_its_traces_in_the_house_style(name: str) -> None:
    build, frame, traces = BUILDERS[name]
    fig = build(frame)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == traces
    assert fig.layout.template == charts.TEMPLATE
    assert fig.layout.title.text
    assert _axis_title(fig.layout.xaxis) or _axis_title(fig.layout.yaxis)
    # The figure survives the trip through JSON that a notebook output makes.
    assert json.loads(fig.to_json())["data"]


@pytest.mark.parametrize("name", BUILDERS)
def test_builder_gives_a_no_data_figure_for_no_rows(name: str) -> None:
    build, frame, _ = BUILDERS[name]
    fig = build(frame.iloc[0:0])
    assert _is_empty(fig)
    assert fig.layout.title.text
    assert not fig.layout.xaxis.visible and not fig.layout.yaxis.visible


def test_builders_do_not_change_their_input() -> None:
    for build, frame, _ in BUILDERS.values():
        before = frame.copy()
        build(frame)
        pd.testing.assert_frame_equal(frame, before)


def test_figure_json_is_small_and_free_of_plotlys_default_template() -> None:
    # Stored notebooks keep every figure: plotly's own template would add ~7 kB to each.
    fig = charts.top_rated_chart(TOP)
    assert len(fig.to_json()) < 4000
    assert "histogram2dcontour" not in fig.to_json()


def test_bar_chart_keeps_row_order_and_axis_titles() -> None:
    frame = pd.DataFrame({"name": ["b", "a", "c"], "value": [1, 3, 2]})
    fig = charts.bar_chart(frame, x="name", y="value", title="T", x_title="X", y_title="Y")
    assert _values(fig.data[0], "x") == ["b", "a", "c"]
    assert _values(fig.data[0], "y") == [1, 3, 2]
    assert fig.layout.xaxis.title.text == "X" and fig.layout.yaxis.title.text == "Y"
    assert list(fig.layout.xaxis.categoryarray) == ["b", "a", "c"]
    assert not fig.layout.showlegend


def test_horizontal_bars_put_the_first_row_on_top_and_values_on_x() -> None:
    fig = charts.top_rated_chart(TOP)
    assert all(trace.orientation == "h" for trace in fig.data)
    assert fig.layout.yaxis.autorange == "reversed"
    assert _values(fig.data[0], "y") == ["Heat (1995)", "Untitled"]
    assert _values(fig.data[0], "x") == [8.2, 7.6]
    assert fig.layout.xaxis.title.text == "Rating (0-10)"


def test_split_by_colour_keeps_categories_in_frame_order() -> None:
    fig = charts.hashtag_chart(COUNTS)
    assert [t.name for t in fig.data] == ["movie", "cricket"]
    assert _values(fig.data[0], "y") == ["#dune", "#oscars"]
    assert list(fig.layout.yaxis.categoryarray) == ["#dune", "#indvaus", "#oscars"]
    assert fig.layout.barmode == "overlay"


def test_rising_tags_chart_draws_both_periods_every_bar_visible_and_labelled() -> None:
    fig = charts.rising_tags_chart(RISING)
    window, baseline = fig.data
    assert [window.name, baseline.name] == ["Last 7 days", "The 28 days before"]
    assert fig.layout.barmode == "group"
    for trace, rates, counts in (
        (window, RISING["window_rate"], RISING["window_count"]),
        (baseline, RISING["baseline_rate"], RISING["baseline_count"]),
    ):
        assert trace.orientation == "h"
        assert _values(trace, "y") == ["#dune", "#oscars"]
        assert _values(trace, "x") == pytest.approx(rates.tolist())
        assert all(trace.text), "every bar carries its number"
        assert _values(trace, "customdata") == counts.tolist()
        assert "%{customdata" in trace.hovertemplate
    # 1/28 a day beside 30/7 (120 times as much): on a linear axis the smallest bar would be
    # under 1% of the axis. On the log axis (ranges are exponents) it is a tenth or more.
    axis = fig.layout.xaxis
    assert axis.type == "log"
    smallest = np.log10(RISING["baseline_rate"].min())
    largest = np.log10(RISING["window_rate"].max())
    assert (smallest - axis.range[0]) / (axis.range[1] - axis.range[0]) >= 0.1
    assert axis.range[1] > largest
    assert fig.layout.width is None  # the page decides the width


def test_rising_tags_chart_stays_linear_when_rates_are_close_or_zero() -> None:
    close = RISING.assign(window_rate=[2.0, 3.0], baseline_rate=[1.0, 0.5])
    assert charts.rising_tags_chart(close).layout.xaxis.type != "log"
    with_zero = RISING.assign(baseline_count=[0, 20], baseline_rate=[0.0, 20 / 28])
    fig = charts.rising_tags_chart(with_zero)
    assert fig.layout.xaxis.type != "log"
    assert fig.data[1].name == "The 28 days before"  # inferred from the row with a rate


def test_new_tags_chart_labels_every_bar_with_its_count() -> None:
    fig = charts.trending.new_tags_chart(NEW)
    (bars,) = fig.data
    assert _values(bars, "y") == ["#festival", "#premiere"]
    assert list(bars.text) == ["5", "3"]
    assert fig.layout.xaxis.title.text == "Pulses in the last 7 days"


def test_score_histogram_labels_bins_on_the_sources_scale() -> None:
    fig = charts.score_histogram(DIST, source="users")
    assert _values(fig.data[0], "x") == ["0.0-2.5", "2.5-5.0", "5.0-7.5", "7.5-10.0"]
    assert fig.layout.yaxis.tickformat == ".0%"
    assert fig.layout.xaxis.title.text == "Score (0-10)"
    tomatoes = DIST.assign(bin_start=DIST["bin_start"] * 10, bin_end=DIST["bin_end"] * 10)
    fig = charts.score_histogram(tomatoes, source="rotten_tomatoes")
    assert _values(fig.data[0], "x")[0] == "0-25"
    assert fig.layout.xaxis.title.text == "Score (0-100)"


def test_score_histogram_of_only_empty_bins_is_no_data() -> None:
    assert _is_empty(charts.score_histogram(DIST.assign(count=0, share=np.nan), source="imdb"))


def test_agreement_leaves_out_pairs_without_a_correlation() -> None:
    fig = charts.agreement_chart(AGREEMENT)
    assert _values(fig.data[0], "y") == ["iwm (Siddu) vs IMDb", "IMDb vs iwm users"]
    assert fig.layout.xaxis.range == (-0.2, 1)
    all_nan = AGREEMENT.assign(pearson_r=np.nan, spearman_rho=np.nan)
    assert _is_empty(charts.agreement_chart(all_nan))


def test_genre_chart_sorts_best_first_skips_unrated_and_highlights() -> None:
    fig = charts.genre_ratings_chart(BY_GENRE, highlight="drama")
    assert _values(fig.data[0], "y") == ["Science Fiction", "Drama"]
    assert list(fig.data[0].marker.color) == [charts.PALETTE[0], charts.HIGHLIGHT]


def test_ratings_over_time_puts_rotten_tomatoes_on_ten_points() -> None:
    fig = charts.ratings_over_time_chart(BY_PERIOD)
    tomatoes = next(t for t in fig.data if t.name.startswith("Rotten Tomatoes"))
    assert _values(tomatoes, "y")[0] == 5.5
    assert all(t.mode == "lines+markers" for t in fig.data)
    assert fig.layout.showlegend
    assert _is_empty(charts.ratings_over_time_chart(BY_PERIOD.iloc[[1]]))


def test_genre_chart_reads_the_users_mean_over_rated_movies() -> None:
    fig = charts.genre_ratings_chart(BY_GENRE)
    assert _values(fig.data[0], "x") == [7.5, 6.5]
    assert "rated movies" in fig.layout.xaxis.title.text


def test_review_volume_with_no_reviews_is_no_data() -> None:
    assert _is_empty(charts.review_volume_chart(VOLUME.assign(reviews=0)))
    fig = charts.review_volume_chart(VOLUME)
    assert fig.layout.yaxis.title.text == "Reviews"


def test_review_volume_greys_a_partial_period() -> None:
    fig = charts.review_volume_chart(VOLUME)
    assert list(fig.data[0].marker.color) == [charts.PALETTE[0], charts.PALETTE[0], charts.MUTED]
    assert [row[1] for row in fig.data[0].customdata] == ["", "", " (partial: 2 days counted)"]


def test_score_gap_draws_each_interval_around_its_dot() -> None:
    fig = ratings_charts.score_gap_chart(GAP, a_label="iwm users", b_label="Critics")
    [dots] = fig.data
    assert _values(dots, "y") == ["Documentary", "Drama", "Horror"]
    assert fig.layout.yaxis.autorange == "reversed"  # the frame's first row on top
    assert _values(dots, "x") == [0.5, 0.1, -0.25]
    # Bars reach from ci_low to ci_high; one movie has no interval, so no bar.
    assert list(dots.error_x.array) == pytest.approx([0.2, 0.0, 0.35])
    assert list(dots.error_x.arrayminus) == pytest.approx([0.2, 0.0, 0.35])
    # Colour only where the interval leaves out zero.
    assert list(dots.marker.color) == [charts.PALETTE[0], charts.MUTED, charts.MUTED]
    [zero] = fig.layout.shapes
    assert (zero.x0, zero.x1) == (0, 0)
    low, high = fig.layout.xaxis.range
    assert low < -0.6 and high > 0.7
    assert "Movies: %{customdata[0]:,}" in dots.hovertemplate
    assert list(dots.customdata[0]) == [40, 7.5, 7.0, 0.3, 0.7]
    assert "iwm users" in fig.layout.xaxis.title.text and "Critics" in fig.layout.title.text


def test_score_gap_keeps_zero_in_view_when_every_gap_is_positive() -> None:
    positive = GAP.iloc[[0]]
    fig = ratings_charts.score_gap_chart(positive, a_label="IMDb", b_label="Critics")
    low, high = fig.layout.xaxis.range
    assert low < 0 < 0.7 < high


RATINGS_CHARTS = [
    "score_histogram",
    "top_rated_chart",
    "agreement_chart",
    "genre_ratings_chart",
    "ratings_over_time_chart",
    "review_volume_chart",
    "score_gap_chart",
]


@pytest.mark.parametrize("name", RATINGS_CHARTS)
def test_ratings_charts_take_the_pages_width(name: str) -> None:
    build, frame, _ = BUILDERS[name]
    assert build(frame).layout.width is None


def test_coverage_shares_are_percentages_with_the_region_marked() -> None:
    fig = charts.coverage_chart(COVERAGE, highlight="US")
    assert fig.layout.yaxis.tickformat == ".0%"
    assert fig.data[1].name == "Top 5 rated movies"
    by_users = charts.coverage_chart(COVERAGE.assign(source="users"))
    assert by_users.data[1].name == "Top 5 movies by mean user rating"
    [band] = fig.layout.shapes
    assert (band.x0, band.x1) == (0.5, 1.5)
    assert not charts.coverage_chart(COVERAGE, highlight="GB").layout.shapes


def test_platform_share_stacks_exclusives_and_the_rest() -> None:
    fig = charts.platform_share_chart(SHARES)
    assert fig.layout.barmode == "stack"
    assert _values(fig.data[0], "x") == [3, 0]
    assert _values(fig.data[1], "x") == [4, 5]


def test_offer_mix_sums_currencies_and_names_missing_quality() -> None:
    fig = charts.offer_mix_chart(MIX)
    by_quality = {t.name: (_values(t, "x"), _values(t, "y")) for t in fig.data}
    assert by_quality["HD"] == (["rent"], [5])
    assert by_quality["not recorded"] == (["rent"], [2])
    assert list(fig.layout.xaxis.categoryarray) == ["rent", "buy"]


def test_row_counts_use_a_log_scale_and_skip_empty_tables() -> None:
    fig = charts.row_counts_chart(ROWS)
    assert fig.layout.xaxis.type == "log"
    assert _values(fig.data[0], "y") == ["movies", "genres"]
    assert _is_empty(charts.row_counts_chart(ROWS.assign(rows=0)))


def test_null_shares_skip_unknown_shares() -> None:
    fig = charts.null_shares_chart(NULLS)
    assert _values(fig.data[0], "y") == ["movies.imdb_rating", "movies.year"]
    assert fig.layout.xaxis.range == (0, 1)


def test_hash_audit_marks_sets_that_need_a_rehash() -> None:
    fig = charts.hash_audit_chart(AUDIT)
    current, stale = fig.data
    assert current.name == "current" and current.marker.color == charts.PALETTE[2]
    assert stale.name == "needs rehash" and stale.marker.color == charts.HIGHLIGHT
    assert _values(stale, "y") == [
        "argon2id v19 m=102400 t=2 p=8",
        "not Argon2 / unreadable",
    ]


def test_line_chart_splits_by_colour() -> None:
    fig = charts.hashtag_timeseries_chart(SERIES)
    assert [t.name for t in fig.data] == ["#dune", "#oscars"]
    assert _values(fig.data[1], "y") == [0, 2]
    assert fig.layout.hovermode == "x unified"


def test_empty_figure_says_why() -> None:
    fig = charts.empty_figure("Coverage", "No data for GB")
    assert fig.layout.title.text == "Coverage"
    assert [a.text for a in fig.layout.annotations] == ["No data for GB"]
    assert len(fig.data) == 0
