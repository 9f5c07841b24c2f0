"""Estimates with their intervals: one dot per row, a bar across it for the interval."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from iwm_lab.charts._base import MUTED, PALETTE, _bars_height, empty_figure, new_figure


def interval_chart(
    df: pd.DataFrame,
    *,
    label: str,
    value: str,
    low: str,
    high: str,
    title: str,
    x_title: str,
    reference: float | None = None,
    percent: bool = False,
    hover: Sequence[str] = (),
    compare: str | None = None,
    compare_name: str | None = None,
) -> go.Figure:
    """Dots of ``value`` per row (labelled by column ``label``, first row on top) with the
    interval ``low``..``high`` as a bar across each; a row without an interval has no bar.
    With a ``reference`` (a line drawn there), rows whose interval excludes it are in colour,
    the others grey. ``compare`` adds a hollow dot per row (e.g. a naive estimate)."""
    if df.empty:
        return empty_figure(title)
    fig = new_figure(title, height=_bars_height(len(df)))
    labels = df[label].astype(str)
    if reference is None:
        clear = pd.Series(True, index=df.index)
    else:
        clear = ((df[low] > reference) | (df[high] < reference)).fillna(False)
    number = ".1%" if percent else ",.2f"
    extra = "".join(f"<br>{h}: %{{customdata[{i + 2}]}}" for i, h in enumerate(hover))
    customdata = pd.concat(
        [df[[low, high]].astype("float64").round(4), df[list(hover)]], axis=1
    ).to_numpy()
    fig.add_trace(
        go.Scatter(
            x=df[value],
            y=labels,
            mode="markers",
            name=x_title,
            marker={"size": 10, "color": [PALETTE[0] if c else MUTED for c in clear]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (df[high] - df[value]).fillna(0).tolist(),
                "arrayminus": (df[value] - df[low]).fillna(0).tolist(),
                "thickness": 2,
                "width": 4,
            },
            customdata=customdata,
            hovertemplate=f"%{{y}}<br>%{{x:{number}}}"
            f"<br>95% interval: %{{customdata[0]:{number}}} to %{{customdata[1]:{number}}}"
            f"{extra}<extra></extra>",
        )
    )
    if compare is not None:
        name = compare_name or compare
        fig.add_trace(
            go.Scatter(
                x=df[compare],
                y=labels,
                mode="markers",
                name=name,
                marker={"size": 9, "symbol": "circle-open", "color": PALETTE[1]},
                hovertemplate=f"%{{y}}<br>{name}: %{{x:{number}}}<extra></extra>",
            )
        )
    if reference is not None:
        fig.add_vline(x=reference, line={"color": "#5F6B7A", "width": 1, "dash": "dot"})
    return fig.update_layout(
        xaxis={"title": {"text": x_title}, **({"tickformat": ".0%"} if percent else {})},
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(labels),
            "autorange": "reversed",
        },
        showlegend=compare is not None,
    )
