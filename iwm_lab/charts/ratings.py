"""Charts of :mod:`iwm_lab.queries.ratings` results."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from iwm_lab.charts._base import (
    SOURCE_LABELS,
    bar_chart,
    empty_figure,
    highlight_colors,
    line_chart,
    new_figure,
)


def score_histogram(dist: pd.DataFrame, *, source: str, title: str | None = None) -> go.Figure:
    """Bars of :func:`~iwm_lab.queries.ratings.score_distribution`: the share in each bin."""
    label = SOURCE_LABELS.get(source, source)
    title = title or f"Scores from {label}, by band"
    if dist.empty or dist["count"].sum() == 0:
        return empty_figure(title)
    scale = 100 if source == "rotten_tomatoes" else 10
    digits = 0 if scale == 100 else 1
    bins = dist.assign(
        range=[
            f"{start:.{digits}f}-{end:.{digits}f}"
            for start, end in zip(dist["bin_start"], dist["bin_end"], strict=True)
        ]
    )
    fig = bar_chart(
        bins,
        x="range",
        y="share",
        title=title,
        x_title=f"Score (0-{scale})",
        y_title="Share of scores",
        percent=True,
        hover=["count"],
    )
    return fig.update_layout(bargap=0.05)


def top_rated_chart(top: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Horizontal bars of :func:`~iwm_lab.queries.ratings.top_rated`, best on top: the
    weighted rating, with the raw mean beside it."""
    title = title or "Top rated movies (weighted rating)"
    if top.empty:
        return empty_figure(title)
    labelled = top.assign(
        movie=[
            f"{t} ({y})" if pd.notna(y) else str(t)
            for t, y in zip(top["title"], top["year"], strict=True)
        ]
    )
    return bar_chart(
        labelled,
        x="movie",
        y=["weighted_rating", "mean_rating"],
        names={"weighted_rating": "Weighted rating", "mean_rating": "Mean user rating"},
        title=title,
        x_title=None,
        y_title="Rating (0-10)",
        horizontal=True,
        hover=["reviews"],
    )


def agreement_chart(agreement: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Grouped bars of :func:`~iwm_lab.queries.ratings.platform_agreement`: Pearson and
    Spearman correlation of each pair of sources (pairs without enough movies are left out)."""
    title = title or "How closely the score sources agree"
    rated = agreement.dropna(subset=["pearson_r", "spearman_rho"], how="all")
    if rated.empty:
        return empty_figure(title)
    pairs = rated.assign(
        pair=[
            f"{SOURCE_LABELS.get(a, a)} vs {SOURCE_LABELS.get(b, b)}"
            for a, b in zip(rated["source_a"], rated["source_b"], strict=True)
        ]
    )
    fig = bar_chart(
        pairs,
        x="pair",
        y=["pearson_r", "spearman_rho"],
        names={"pearson_r": "Pearson r", "spearman_rho": "Spearman rho"},
        title=title,
        y_title="Correlation (1 = full agreement)",
        horizontal=True,
        hover=["n", "mean_abs_diff"],
    )
    return fig.update_xaxes(
        range=[min(0.0, float(pairs[["pearson_r", "spearman_rho"]].min().min())), 1]
    )


def genre_ratings_chart(
    by_genre: pd.DataFrame, *, highlight: str | None = None, title: str | None = None
) -> go.Figure:
    """Horizontal bars of :func:`~iwm_lab.queries.ratings.ratings_by_genre`: the mean user
    rating per genre, best first; ``highlight`` (a genre slug) stands out in another colour."""
    title = title or "Mean user rating by genre"
    rated = by_genre[by_genre["rated_movies"] > 0].sort_values(
        ["mean_rating", "genre"], ascending=[False, True], kind="stable"
    )
    if rated.empty:
        return empty_figure(title)
    fig = bar_chart(
        rated,
        x="genre_name",
        y="mean_rating",
        title=title,
        y_title="Mean user rating (0-10)",
        horizontal=True,
        hover=["rated_movies", "reviews"],
    )
    colours = highlight_colors(rated["genre"], highlight)
    if colours is not None:
        fig.update_traces(marker_color=colours)
    return fig


def ratings_over_time_chart(by_period: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Lines of :func:`~iwm_lab.queries.ratings.ratings_by_year`: the mean user rating and the
    mean platform scores per period, all on 0-10 (Rotten Tomatoes divided by 10)."""
    title = title or "Ratings by release period"
    scaled = by_period.assign(mean_rotten_tomatoes=by_period["mean_rotten_tomatoes"] / 10)
    columns = {
        "mean_rating": SOURCE_LABELS["users"],
        "mean_siddu": SOURCE_LABELS["siddu"],
        "mean_critics": SOURCE_LABELS["critics"],
        "mean_imdb": SOURCE_LABELS["imdb"],
        "mean_rotten_tomatoes": SOURCE_LABELS["rotten_tomatoes"] + " ÷ 10",
    }
    return line_chart(
        scaled,
        x="period",
        y=list(columns),
        names=columns,
        title=title,
        x_title="Release period",
        y_title="Mean score (0-10)",
    )


def review_volume_chart(volume: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Bars of :func:`~iwm_lab.queries.ratings.review_volume`: reviews written per period."""
    title = title or "Reviews written per period"
    if volume.empty or volume["reviews"].sum() == 0:
        return empty_figure(title)
    fig = new_figure(title)
    fig.add_trace(
        go.Bar(
            x=volume["period"],
            y=volume["reviews"],
            name="Reviews",
            customdata=volume[["mean_rating"]].round(2),
            hovertemplate="%{x|%Y-%m-%d}<br>Reviews: %{y:,}<br>Mean rating: %{customdata[0]}"
            "<extra></extra>",
        )
    )
    return fig.update_layout(
        xaxis={"title": {"text": "Period starting"}},
        yaxis={"title": {"text": "Reviews"}},
    )


# Streaming ---------------------------------------------------------------------------------
