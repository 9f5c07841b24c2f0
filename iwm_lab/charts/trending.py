"""Charts of :mod:`iwm_lab.queries.trending` results."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from iwm_lab.charts._base import (
    MUTED,
    PALETTE,
    bar_chart,
    empty_figure,
    line_chart,
    new_figure,
)
from iwm_lab.formatting import plural


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


def _period_days(counts: pd.Series, rates: pd.Series) -> int | None:
    """The length in days of the period behind ``counts`` per day (``rates``), or None."""
    known = rates > 0
    if not known.any():
        return None
    return round(float(counts[known].iloc[0] / rates[known].iloc[0]))


def _rate_text(rate: float) -> str:
    # Two significant digits below 10: 0.036 and 2.0 read at a glance, unlike 0.04 and 2.00.
    return f"{rate:.2g}" if rate < 10 else f"{rate:,.0f}"


def _bar_rows_height(rows: int, bars_per_row: int) -> int:
    return max(260, 140 + 18 * bars_per_row * rows)


def rising_tags_chart(rising: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Grouped horizontal bars of :func:`~iwm_lab.queries.trending.rising_tags`: pulses per
    day in the window and in the baseline before it, biggest riser on top.

    Each bar is labelled with its rate and the hover gives the pulses behind it. Risers
    often grow tens of times over (1 pulse in 28 days, then 14 in 7), so when every rate is
    above zero and the largest is ten times the smallest or more, the rates go on a log
    scale, with room below the smallest so that no bar is a sliver.
    """
    title = title or "Rising hashtags: pulses per day, now against before"
    if rising.empty:
        return empty_figure(title)
    hashtags = "#" + rising["tag"].astype(str)
    window_days = _period_days(rising["window_count"], rising["window_rate"])
    baseline_days = _period_days(rising["baseline_count"], rising["baseline_rate"])
    periods = [
        (
            f"Last {plural(window_days, 'day')}" if window_days else "Recent window",
            "window_rate",
            "window_count",
            PALETTE[0],
        ),
        (
            f"The {plural(baseline_days, 'day')} before" if baseline_days else "Baseline before it",
            "baseline_rate",
            "baseline_count",
            MUTED,
        ),
    ]
    fig = new_figure(title, height=_bar_rows_height(len(rising), len(periods)))
    for name, rate, count, colour in periods:
        fig.add_trace(
            go.Bar(
                x=rising[rate],
                y=hashtags,
                name=name,
                orientation="h",
                marker_color=colour,
                text=[_rate_text(v) for v in rising[rate]],
                textposition="outside",
                cliponaxis=False,
                customdata=rising[count],
                hovertemplate=(
                    f"%{{y}}<br>{name}: %{{x:,.3g}} pulses a day"
                    "<br>%{customdata:,} pulses<extra></extra>"
                ),
            )
        )
    rates = pd.concat([rising["window_rate"], rising["baseline_rate"]])
    value_axis: dict[str, Any] = {"title": {"text": "Pulses per day"}}
    if (rates > 0).all() and rates.max() >= 10 * rates.min():
        low, high = math.log10(rates.min()), math.log10(rates.max())
        # Log axes are given as exponents: half a decade below the smallest bar keeps it
        # visible, a third above the largest leaves room for its label.
        value_axis |= {
            "type": "log",
            "range": [low - 0.5, high + 0.35],
            "title": {"text": "Pulses per day (log scale)"},
        }
    else:
        value_axis |= {"range": [0, float(rates.max()) * 1.15 or 1]}
    fig.update_layout(
        xaxis=value_axis,
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(dict.fromkeys(hashtags)),
            "autorange": "reversed",
        },
        barmode="group",
        showlegend=True,
        legend_traceorder="normal",
    )
    return fig


def new_tags_chart(new: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Horizontal bars of :func:`~iwm_lab.queries.trending.new_tags`: pulses in the window
    of each tag the baseline never mentions, most used on top, each bar labelled."""
    title = title or "New hashtags: pulses in the window, none before"
    if new.empty:
        return empty_figure(title)
    hashtags = "#" + new["tag"].astype(str)
    window_days = _period_days(new["window_count"], new["window_rate"])
    period = f"last {plural(window_days, 'day')}" if window_days else "window"
    fig = new_figure(title, height=_bar_rows_height(len(new), 1))
    fig.add_trace(
        go.Bar(
            x=new["window_count"],
            y=hashtags,
            name="New tags",
            orientation="h",
            marker_color=PALETTE[1],
            text=[f"{int(v):,}" for v in new["window_count"]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate=f"%{{y}}<br>%{{x:,}} pulses in the {period}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis={
            "title": {"text": f"Pulses in the {period}"},
            "range": [0, float(new["window_count"].max()) * 1.15],
        },
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(dict.fromkeys(hashtags)),
            "autorange": "reversed",
        },
        showlegend=False,
    )
    return fig


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
