"""Charts of :mod:`iwm_lab.queries.box_office` results."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from iwm_lab.charts._base import bar_chart, empty_figure, line_chart
from iwm_lab.charts._intervals import interval_chart


def weekend_race_chart(races: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """A bump chart of :func:`~iwm_lab.queries.box_office.weekend_races`: each movie's rank
    weekend by weekend, rank 1 on top."""
    region = ", ".join(races["region"].unique()) if not races.empty else ""
    title = title or f"Weekend box office chart{f' in {region}' if region else ''}"
    if races.empty:
        return empty_figure(title)
    fig = line_chart(
        races.sort_values(["movie_id", "weekend_start"]),
        x="weekend_start",
        y="rank",
        color="title",
        title=title,
        x_title="Weekend",
        y_title="Rank",
    )
    top = int(races["rank"].max())
    fig.update_yaxes(autorange=False, range=[top + 0.5, 0.5], dtick=1)
    return fig.update_layout(hovermode="closest", showlegend=True)


def legs_chart(legs: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Horizontal bars of :func:`~iwm_lab.queries.box_office.run_legs`: each run's legs
    (total over opening weekend), runs without a recorded opening left out."""
    title = title or "Legs: total gross over the opening weekend"
    known = legs.dropna(subset=["legs"])
    if known.empty:
        return empty_figure(title)
    return bar_chart(
        known.assign(legs=known["legs"].round(2)),
        x="title",
        y="legs",
        title=title,
        y_title="Total ÷ opening weekend",
        horizontal=True,
        hover=["total_gross", "weeks"],
    )


def budget_multiple_chart(multiples: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Dots of :func:`~iwm_lab.queries.box_office.budget_multiple`: each group's median
    gross-to-budget multiple with its 95 % interval, and a line at 1 (the budget back)."""
    title = title or "Gross as a multiple of budget (median, 95% interval)"
    return interval_chart(
        multiples,
        label="group",
        value="median_multiple",
        low="ci_low",
        high="ci_high",
        title=title,
        x_title="Gross ÷ budget",
        reference=1.0,
        hover=["movies"],
    )


def regional_split_chart(split: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Bars of :func:`~iwm_lab.queries.box_office.regional_split`: each region's share of
    the total of the regions reporting in its currency (currencies are not added up)."""
    title = title or "Each region's share of its currency's box office"
    if split.empty:
        return empty_figure(title)
    return bar_chart(
        split,
        x="region",
        y="currency_share",
        color="currency",
        title=title,
        x_title="Region",
        y_title="Share of the currency's total",
        percent=True,
        hover=["movies"],
    )
