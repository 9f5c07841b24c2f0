"""Charts of :mod:`iwm_lab.queries.streaming` results."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from iwm_lab.charts._base import (
    HIGHLIGHT,
    bar_chart,
    empty_figure,
)
from iwm_lab.models.values import SCORE_NAMES


def coverage_chart(
    coverage: pd.DataFrame, *, highlight: str | None = None, title: str | None = None
) -> go.Figure:
    """Grouped bars of :func:`~iwm_lab.queries.streaming.coverage_by_region`: the share of the
    released catalogue and of the top-rated movies watchable in each region."""
    title = title or "Share of the catalogue watchable, by region"
    if coverage.empty:
        return empty_figure(title)
    top_n = int(coverage["top_n"].max())
    # The frame names the score its top N were ranked by; "rated" alone would hide which.
    sources = coverage["source"].dropna().unique() if "source" in coverage else []
    top = f"Top {top_n} rated movies"
    if len(sources) == 1:
        top = f"Top {top_n} movies by {SCORE_NAMES.get(sources[0], sources[0])}"
    fig = bar_chart(
        coverage,
        x="region",
        y=["released_share", "top_n_share"],
        names={
            "released_share": "Released movies",
            "top_n_share": top,
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
