"""The house style every chart shares: palette, template, empty and generic figures."""

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


def new_figure(title: str, *, height: int = 420) -> go.Figure:
    return go.Figure(layout={"template": TEMPLATE, "title": {"text": title}, "height": height})


def _bars_height(rows: int) -> int:
    return max(240, 140 + _ROW_HEIGHT * rows)


def empty_figure(title: str, message: str = NO_DATA) -> go.Figure:
    """A figure with no trace: ``title`` over a centred ``message``, axes hidden."""
    fig = new_figure(title, height=260)
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
    fig = new_figure(title, height=height)
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
    fig = new_figure(title)
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


def highlight_colors(categories: pd.Series, highlight: str | None) -> list[str] | None:
    if highlight is None:
        return None
    return [HIGHLIGHT if c == highlight else PALETTE[0] for c in categories]


# Ratings -----------------------------------------------------------------------------------
