"""Plotly figures of query results: a DataFrame in, a figure out. Charts never query.

Each builder takes the frame a query function returns (its documented columns) and gives a
``plotly.graph_objects.Figure`` in the house style (:data:`TEMPLATE`). A frame with nothing
to plot gives :func:`empty_figure`: the chart's title over a centred "No data" note, so a
filter that matches nothing still reads as such rather than as a broken chart.

>>> from iwm_lab import charts
>>> from iwm_lab.queries import ratings
>>> charts.top_rated_chart(ratings.top_rated(conn, min_reviews=20)).show()

The generic :func:`bar_chart` and :func:`line_chart` serve frames of any shape; the named
builders know a query's columns, labels and scales. Figures carry their own small template,
not plotly's default one, so a notebook that stores them stays small and its outputs do not
change with plotly's defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

# Okabe-Ito: tells colours apart for the common colour-vision deficiencies.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
HIGHLIGHT = "#D55E00"
MUTED = "#9AA5B1"
NO_DATA = "No data"

_GRID = "#E5E8EC"
_AXIS = {
    "gridcolor": _GRID,
    "zerolinecolor": "#C8CED6",
    "linecolor": "#C8CED6",
    "ticks": "outside",
    "tickcolor": "#C8CED6",
    "automargin": True,
    "title": {"standoff": 8},
}
TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": "Inter, 'Segoe UI', Helvetica, Arial, sans-serif", "size": 13},
        "colorway": list(PALETTE),
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "title": {"x": 0, "xanchor": "left", "font": {"size": 17}},
        "xaxis": _AXIS,
        "yaxis": _AXIS,
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
        "margin": {"l": 10, "r": 20, "t": 80, "b": 10},
        "hoverlabel": {"bgcolor": "white"},
        "bargap": 0.2,
    }
)

# Display names of the score sources of iwm_lab.queries.ratings.
SOURCE_LABELS: dict[str, str] = {
    "siddu": "iwm (Siddu)",
    "critics": "Critics",
    "imdb": "IMDb",
    "rotten_tomatoes": "Rotten Tomatoes",
    "users": "iwm users",
}
_ROW_HEIGHT = 26  # pixels per bar of a horizontal bar chart


def _figure(title: str, *, height: int = 420) -> go.Figure:
    return go.Figure(layout={"template": TEMPLATE, "title": {"text": title}, "height": height})


def _bars_height(rows: int) -> int:
    return max(240, 140 + _ROW_HEIGHT * rows)


def empty_figure(title: str, message: str = NO_DATA) -> go.Figure:
    """A figure with no trace: ``title`` over a centred ``message``, axes hidden."""
    fig = _figure(title, height=260)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(
        text=message,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 16, "color": "#5F6B7A"},
    )
    return fig


def _axis_format(percent: bool) -> dict[str, str]:
    return {"tickformat": ".0%"} if percent else {}


def bar_chart(
    df: pd.DataFrame,
    *,
    x: str,
    y: str | Sequence[str],
    title: str,
    x_title: str | None = None,
    y_title: str | None = None,
    color: str | None = None,
    names: dict[str, str] | None = None,
    horizontal: bool = False,
    stacked: bool = False,
    percent: bool = False,
    log: bool = False,
    hover: Sequence[str] = (),
) -> go.Figure:
    """Bars of one or more value columns ``y`` over the categories in column ``x``.

    Several ``y`` columns give one series each (legend names from ``names``, else the column
    names); ``color`` instead splits a single ``y`` into one series per value of that column.
    ``horizontal`` lays the categories down the y axis, first row on top. ``percent`` formats
    the values as shares (0.25 → 25%), ``log`` puts them on a log scale; ``hover`` names extra
    columns shown on hover. Rows are drawn in the frame's order.
    """
    values = [y] if isinstance(y, str) else list(y)
    if df.empty:
        return empty_figure(title)
    height = _bars_height(df[x].nunique()) if horizontal else 420
    fig = _figure(title, height=height)
    if color is not None:
        series = [(str(key), part, values[0]) for key, part in df.groupby(color, sort=False)]
    else:
        series = [((names or {}).get(v, v), df, v) for v in values]
    for name, part, column in series:
        customdata = part[list(hover)] if hover else None
        extra = "".join(f"<br>{h}: %{{customdata[{i}]}}" for i, h in enumerate(hover))
        value_format = ":.1%" if percent else ":,"
        if horizontal:
            template = f"%{{y}}<br>{name}: %{{x{value_format}}}{extra}<extra></extra>"
            trace = go.Bar(
                x=part[column], y=part[x], name=name, orientation="h", customdata=customdata
            )
        else:
            template = f"%{{x}}<br>{name}: %{{y{value_format}}}{extra}<extra></extra>"
            trace = go.Bar(x=part[x], y=part[column], name=name, customdata=customdata)
        trace.hovertemplate = template
        fig.add_trace(trace)
    value_axis: dict[str, Any] = {"title": {"text": y_title}, **_axis_format(percent)}
    if log:
        # Ticks at powers of ten only: the 2, 3, ... 9 between them crowd the axis.
        value_axis |= {"type": "log", "dtick": 1}
    # Series split by ``color`` would otherwise order the categories series by series.
    category_axis = {
        "title": {"text": x_title},
        "type": "category",
        "categoryorder": "array",
        "categoryarray": list(dict.fromkeys(df[x].astype(str))),
    }
    if horizontal:
        category_axis["autorange"] = "reversed"
        fig.update_layout(xaxis=value_axis, yaxis=category_axis)
    else:
        fig.update_layout(xaxis=category_axis, yaxis=value_axis)
    # Plotly lists stacked series in reverse unless told otherwise; keep the frame's order.
    fig.update_layout(
        barmode="stack" if stacked else "group",
        showlegend=len(series) > 1,
        legend_traceorder="normal",
    )
    return fig


def line_chart(
    df: pd.DataFrame,
    *,
    x: str,
    y: str | Sequence[str],
    title: str,
    x_title: str | None = None,
    y_title: str | None = None,
    color: str | None = None,
    names: dict[str, str] | None = None,
    percent: bool = False,
) -> go.Figure:
    """Lines with markers of one or more columns ``y`` against ``x`` (a date or a number).

    As in :func:`bar_chart`: several ``y`` columns give one line each, or ``color`` splits a
    single ``y`` by a column's values. Gaps (NaN) break a line rather than bridging it.
    """
    values = [y] if isinstance(y, str) else list(y)
    if df.empty or df[values].isna().all().all():
        return empty_figure(title)
    fig = _figure(title)
    if color is not None:
        series = [(str(key), part, values[0]) for key, part in df.groupby(color, sort=False)]
    else:
        series = [((names or {}).get(v, v), df, v) for v in values]
    value_format = ":.1%" if percent else ":,.2f"
    for name, part, column in series:
        fig.add_trace(
            go.Scatter(
                x=part[x],
                y=part[column],
                name=name,
                mode="lines+markers",
                marker={"size": 6},
                hovertemplate=f"%{{x}}<br>{name}: %{{y{value_format}}}<extra></extra>",
            )
        )
    fig.update_layout(
        xaxis={"title": {"text": x_title}},
        yaxis={"title": {"text": y_title}, **_axis_format(percent)},
        showlegend=len(series) > 1,
        hovermode="x unified" if len(series) > 1 else "closest",
    )
    return fig


def _highlighted(categories: pd.Series, highlight: str | None) -> list[str] | None:
    if highlight is None:
        return None
    return [HIGHLIGHT if c == highlight else PALETTE[0] for c in categories]


# Ratings -----------------------------------------------------------------------------------


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
    colours = _highlighted(rated["genre"], highlight)
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
    fig = _figure(title)
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


def coverage_chart(
    coverage: pd.DataFrame, *, highlight: str | None = None, title: str | None = None
) -> go.Figure:
    """Grouped bars of :func:`~iwm_lab.queries.streaming.coverage_by_region`: the share of the
    released catalogue and of the top-rated movies watchable in each region."""
    title = title or "Share of the catalogue watchable, by region"
    if coverage.empty:
        return empty_figure(title)
    top_n = int(coverage["top_n"].max())
    fig = bar_chart(
        coverage,
        x="region",
        y=["released_share", "top_n_share"],
        names={
            "released_share": "Released movies",
            "top_n_share": f"Top {top_n} rated movies",
        },
        title=title,
        x_title="Region",
        y_title="Share available",
        percent=True,
        hover=["movies"],
    )
    fig.update_yaxes(range=[0, 1])
    regions = list(coverage["region"])
    if highlight in regions:
        # A category axis places the i-th region at x = i: a band one slot wide marks it.
        at = regions.index(highlight)
        fig.add_vrect(
            x0=at - 0.5, x1=at + 0.5, fillcolor=HIGHLIGHT, opacity=0.12, line_width=0, layer="below"
        )
    return fig


def platform_share_chart(shares: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Stacked horizontal bars of :func:`~iwm_lab.queries.streaming.platform_share`: each
    platform's movies, split into exclusives and movies other platforms offer too."""
    title = title or "Movies per platform"
    if shares.empty:
        return empty_figure(title)
    split = shares.assign(shared=shares["movies"] - shares["exclusives"])
    return bar_chart(
        split,
        x="platform",
        y=["exclusives", "shared"],
        names={"exclusives": "Only on this platform", "shared": "Also on another platform"},
        title=title,
        y_title="Movies",
        horizontal=True,
        stacked=True,
        hover=["movies"],
    )


def offer_mix_chart(mix: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Stacked bars of :func:`~iwm_lab.queries.streaming.price_quality_mix`: options per
    offer type, split by quality (currencies summed)."""
    title = title or "Streaming options by type and quality"
    if mix.empty:
        return empty_figure(title)
    counts = (
        mix.assign(quality=mix["quality"].fillna("not recorded"))
        .groupby(["type", "quality"], sort=False, as_index=False)["options"]
        .sum()
    )
    return bar_chart(
        counts,
        x="type",
        y="options",
        color="quality",
        title=title,
        x_title="Offer type",
        y_title="Options",
        stacked=True,
    )


# Trending ----------------------------------------------------------------------------------


def hashtag_chart(counts: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Horizontal bars of :func:`~iwm_lab.queries.trending.hashtag_counts` (or the stored
    ``trending_topics``): pulses per tag, most used on top, coloured by category."""
    title = title or "Most used hashtags"
    if counts.empty:
        return empty_figure(title)
    fig = bar_chart(
        counts.assign(hashtag="#" + counts["tag"]),
        x="hashtag",
        y="count",
        color="category",
        title=title,
        y_title="Pulses mentioning the tag",
        horizontal=True,
    )
    # One series per category: without "overlay" each tag's bar would sit in a slot per series.
    return fig.update_layout(barmode="overlay", showlegend=True)


def rising_tags_chart(rising: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Grouped horizontal bars of :func:`~iwm_lab.queries.trending.rising_tags`: pulses per
    day in the window against the baseline before it."""
    title = title or "Rising hashtags: pulses per day, now against before"
    if rising.empty:
        return empty_figure(title)
    return bar_chart(
        rising.assign(hashtag="#" + rising["tag"]),
        x="hashtag",
        y=["window_rate", "baseline_rate"],
        names={"window_rate": "Recent window", "baseline_rate": "Baseline before it"},
        title=title,
        y_title="Pulses per day",
        horizontal=True,
        hover=["window_count", "baseline_count"],
    )


def hashtag_timeseries_chart(series: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Lines of :func:`~iwm_lab.queries.trending.hashtag_timeseries`: pulses per period, one
    line per tag."""
    title = title or "Hashtag use over time"
    if series.empty or series["count"].sum() == 0:
        return empty_figure(title)
    return line_chart(
        series.assign(hashtag="#" + series["tag"]),
        x="period",
        y="count",
        color="hashtag",
        title=title,
        x_title="Period starting",
        y_title="Pulses mentioning the tag",
    )


# Data health -------------------------------------------------------------------------------


def row_counts_chart(counts: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Horizontal bars of :func:`~iwm_lab.queries.overview.table_row_counts` on a log scale
    (tables differ by orders of magnitude); empty tables are listed by name in the note."""
    title = title or "Rows per table"
    filled = counts[counts["rows"] > 0]
    if filled.empty:
        return empty_figure(title, f"{NO_DATA}: every table is empty")
    return bar_chart(
        filled,
        x="table",
        y="rows",
        title=title,
        y_title="Rows (log scale)",
        horizontal=True,
        log=True,
    )


def null_shares_chart(shares: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Horizontal bars of :func:`~iwm_lab.queries.overview.null_shares`: the share of NULLs in
    each key column (columns of empty tables, whose share is unknown, are left out)."""
    title = title or "Missing values in key columns"
    known = shares.dropna(subset=["null_share"])
    if known.empty:
        return empty_figure(title)
    labelled = known.assign(column_name=known["table"] + "." + known["column"])
    fig = bar_chart(
        labelled,
        x="column_name",
        y="null_share",
        title=title,
        y_title="Share of rows with no value",
        horizontal=True,
        percent=True,
        hover=["nulls", "rows"],
    )
    return fig.update_xaxes(range=[0, 1])


def hash_audit_chart(audit: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Bars of :func:`~iwm_lab.queries.security.password_hash_audit`: users per Argon2
    parameter set, red where the current parameters would rehash it."""
    title = title or "Password hashes by Argon2 parameters"
    if audit.empty:
        return empty_figure(title)
    labels = [
        "not Argon2 / unreadable"
        if pd.isna(row.algorithm)
        else f"{row.algorithm} v{row.version} m={row.memory_kib} t={row.time_cost} "
        f"p={row.parallelism}"
        for row in audit.itertuples(index=False)
    ]
    flagged = audit.assign(
        parameters=labels,
        share=audit["share"].round(3),
        status=["needs rehash" if n else "current" for n in audit["needs_rehash"]],
    )
    fig = bar_chart(
        flagged,
        x="parameters",
        y="users",
        color="status",
        title=title,
        y_title="Users",
        horizontal=True,
        hover=["share"],
    )
    fig.for_each_trace(
        lambda t: t.update(marker_color=HIGHLIGHT if t.name == "needs rehash" else PALETTE[2])
    )
    return fig.update_layout(barmode="overlay", showlegend=True)


__all__ = [
    "HIGHLIGHT",
    "NO_DATA",
    "PALETTE",
    "SOURCE_LABELS",
    "TEMPLATE",
    "agreement_chart",
    "bar_chart",
    "coverage_chart",
    "empty_figure",
    "genre_ratings_chart",
    "hash_audit_chart",
    "hashtag_chart",
    "hashtag_timeseries_chart",
    "line_chart",
    "null_shares_chart",
    "offer_mix_chart",
    "platform_share_chart",
    "ratings_over_time_chart",
    "review_volume_chart",
    "rising_tags_chart",
    "row_counts_chart",
    "score_histogram",
    "top_rated_chart",
]
