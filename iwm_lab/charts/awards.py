"""Charts of :mod:`iwm_lab.queries.awards` results."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from iwm_lab.charts._base import SOURCE_LABELS, bar_chart, empty_figure
from iwm_lab.charts._intervals import interval_chart


def awards_ratings_chart(versus: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Dots of :func:`~iwm_lab.queries.awards.awards_vs_ratings`: each comparison's
    like-for-like score difference with its 95 % interval, the naive difference as a hollow
    dot, and a line at zero."""
    source = SOURCE_LABELS.get(str(versus["source"].iloc[0]), "") if not versus.empty else ""
    title = title or f"Score difference, like for like{f' ({source})' if source else ''}"
    labelled = versus.assign(label=versus["group"] + " vs " + versus["versus"])
    return interval_chart(
        labelled,
        label="label",
        value="difference",
        low="ci_low",
        high="ci_high",
        title=title,
        x_title="Points out of 10",
        reference=0.0,
        hover=["movies", "versus_movies"],
        compare="naive_difference",
        compare_name="Naive (all movies)",
    )


def awarded_people_chart(people: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Stacked horizontal bars of :func:`~iwm_lab.queries.awards.most_awarded_people`: each
    person's wins and the nominations they did not win."""
    title = title or "Most awarded people"
    if people.empty:
        return empty_figure(title)
    split = people.assign(lost=people["nominations"] - people["wins"])
    return bar_chart(
        split,
        x="name",
        y=["wins", "lost"],
        names={"wins": "Won", "lost": "Nominated, not won"},
        title=title,
        y_title="Nominations",
        horizontal=True,
        stacked=True,
    )


def festival_paths_chart(paths: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Grouped bars of :func:`~iwm_lab.queries.awards.festival_paths`: the share of
    selections later nominated, and later winning, by what the festival did."""
    title = title or "From festival selection to awards"
    if paths.empty:
        return empty_figure(title)
    labelled = paths.assign(
        label=paths["selection"]
        if paths["festival"].nunique() == 1
        else paths["festival"] + ": " + paths["selection"]
    )
    return bar_chart(
        labelled,
        x="label",
        y=["nomination_rate", "win_rate"],
        names={"nomination_rate": "Later nominated", "win_rate": "Later won"},
        title=title,
        x_title="Selection",
        y_title="Share of selections",
        percent=True,
        hover=["selections"],
    )
