"""Charts of :mod:`iwm_lab.queries.trending` results."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from iwm_lab.charts._base import (
    bar_chart,
    empty_figure,
    line_chart,
)


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
