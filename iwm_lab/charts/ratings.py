"""Charts of :mod:`iwm_lab.queries.ratings` results."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from iwm_lab.charts._base import (
    MUTED,
    PALETTE,
    SOURCE_LABELS,
    _bars_height,
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
        hover=["n", "mean_diff", "mean_abs_diff"],
    )
    return fig.update_xaxes(
        range=[min(0.0, float(pairs[["pearson_r", "spearman_rho"]].min().min())), 1]
    )


def genre_ratings_chart(
    by_genre: pd.DataFrame, *, highlight: str | None = None, title: str | None = None
) -> go.Figure:
    """Horizontal bars of :func:`~iwm_lab.queries.ratings.ratings_by_genre`: the mean user
    rating per genre over its rated movies, best first; ``highlight`` (a genre slug) stands out
    in another colour. To compare users with a platform, use :func:`score_gap_chart`."""
    title = title or "Mean user rating by genre"
    rated = by_genre[by_genre["rated_movies"] > 0].sort_values(
        ["users_mean_rated_movies", "genre"], ascending=[False, True], kind="stable"
    )
    if rated.empty:
        return empty_figure(title)
    fig = bar_chart(
        rated,
        x="genre_name",
        y="users_mean_rated_movies",
        names={"users_mean_rated_movies": "Mean user rating"},
        title=title,
        y_title="Mean user rating of the rated movies (0-10)",
        horizontal=True,
        hover=["rated_movies", "reviews"],
    )
    colours = highlight_colors(rated["genre"], highlight)
    if colours is not None:
        fig.update_traces(marker_color=colours)
    return fig


def ratings_over_time_chart(by_period: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Lines of :func:`~iwm_lab.queries.ratings.ratings_by_year`: the mean user rating and the
    mean platform scores per period, all on 0-10 (Rotten Tomatoes divided by 10), each over
    the period's movies that have that score."""
    title = title or "Ratings by release period"
    tomatoes = "rotten_tomatoes_mean_scored_movies"
    scaled = by_period.assign(**{tomatoes: by_period[tomatoes] / 10})
    columns = {
        "users_mean_rated_movies": SOURCE_LABELS["users"],
        "siddu_mean_scored_movies": SOURCE_LABELS["siddu"],
        "critics_mean_scored_movies": SOURCE_LABELS["critics"],
        "imdb_mean_scored_movies": SOURCE_LABELS["imdb"],
        tomatoes: SOURCE_LABELS["rotten_tomatoes"] + " ÷ 10",
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


def score_gap_chart(
    gap: pd.DataFrame, *, a_label: str, b_label: str, title: str | None = None
) -> go.Figure:
    """Dots of :func:`~iwm_lab.queries.ratings.score_gap`: the mean gap of source ``a`` over
    source ``b`` per group, on the same movies, with its 95 % interval as a bar across the dot
    and a line at zero (no gap). Groups whose interval excludes zero are drawn in colour, the
    others (interval across zero, or one movie: no interval) in grey. Rows are drawn in the
    frame's order, first on top; hover gives the movies and both means."""
    title = title or f"{a_label} minus {b_label}, on the same movies"
    if gap.empty:
        return empty_figure(title)
    fig = new_figure(title, height=_bars_height(len(gap)))
    above = gap["ci_high"] - gap["mean_gap"]
    below = gap["mean_gap"] - gap["ci_low"]
    clear = ((gap["ci_low"] > 0) | (gap["ci_high"] < 0)).fillna(False)
    fig.add_trace(
        go.Scatter(
            x=gap["mean_gap"],
            y=gap["group"],
            mode="markers",
            name="Mean gap",
            marker={"size": 10, "color": [PALETTE[0] if c else MUTED for c in clear]},
            # A group of one movie has no interval: no bar rather than a missing value.
            error_x={
                "type": "data",
                "symmetric": False,
                "array": above.fillna(0).tolist(),
                "arrayminus": below.fillna(0).tolist(),
                "thickness": 2,
                "width": 4,
            },
            customdata=gap[["movies", "mean_a", "mean_b", "ci_low", "ci_high"]]
            .astype("float64")
            .round(2),
            hovertemplate="%{y}<br>Mean gap: %{x:+.2f}"
            "<br>95% interval: %{customdata[3]:+.2f} to %{customdata[4]:+.2f}"
            "<br>Movies: %{customdata[0]:,}"
            f"<br>{a_label}: %{{customdata[1]:.2f}}<br>{b_label}: %{{customdata[2]:.2f}}"
            "<extra></extra>",
        )
    )
    fig.add_vline(x=0, line={"color": "#5F6B7A", "width": 1, "dash": "dot"})
    values = pd.concat([gap["mean_gap"], gap["ci_low"], gap["ci_high"]]).dropna()
    low, high = min(0.0, float(values.min())), max(0.0, float(values.max()))
    pad = 0.05 * (high - low) or 0.5
    return fig.update_layout(
        xaxis={
            "title": {"text": f"Points out of 10 ({a_label} \u2212 {b_label})"},
            "range": [low - pad, high + pad],
            "zeroline": False,
        },
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(gap["group"].astype(str)),
            "autorange": "reversed",
        },
        showlegend=False,
    )


def review_volume_chart(volume: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Bars of :func:`~iwm_lab.queries.ratings.review_volume`: reviews written per period.

    A period the range covers only in part (the first or last) is drawn in grey, and its
    hover says how many of its days are counted: its shorter bar is not a drop."""
    title = title or "Reviews written per period"
    if volume.empty or volume["reviews"].sum() == 0:
        return empty_figure(title)
    fig = new_figure(title)
    notes = [
        f" (partial: {days} days counted)" if partial else ""
        for days, partial in zip(volume["days"], volume["partial"], strict=True)
    ]
    fig.add_trace(
        go.Bar(
            x=volume["period"],
            y=volume["reviews"],
            name="Reviews",
            marker_color=[MUTED if partial else PALETTE[0] for partial in volume["partial"]],
            customdata=list(zip(volume["mean_rating"].round(2), notes, strict=True)),
            hovertemplate="%{x|%Y-%m-%d}%{customdata[1]}<br>Reviews: %{y:,}"
            "<br>Mean rating: %{customdata[0]}<extra></extra>",
        )
    )
    return fig.update_layout(
        xaxis={"title": {"text": "Period starting"}},
        yaxis={"title": {"text": "Reviews"}},
    )
