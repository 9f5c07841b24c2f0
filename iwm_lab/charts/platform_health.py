"""Charts of :mod:`iwm_lab.queries.platform_health` results."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from iwm_lab.charts._base import bar_chart, empty_figure
from iwm_lab.charts._intervals import interval_chart


def moderation_queue_chart(queue: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Stacked horizontal bars of :func:`~iwm_lab.queries.platform_health.moderation_queue`:
    open reports per target type, split by age (youngest first)."""
    title = title or "Open reports by type and age"
    if queue.empty or int(queue["reports"].sum()) == 0:
        return empty_figure(title)
    return bar_chart(
        queue,
        x="target_type",
        y="reports",
        color="age",
        title=title,
        y_title="Open reports",
        horizontal=True,
        stacked=True,
    )


def time_to_action_chart(times: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Grouped bars of :func:`~iwm_lab.queries.platform_health.time_to_action`: the median
    and 90th percentile hours to a first action per group (a percentile out of reach has
    no bar)."""
    title = title or "Hours from report to first action"
    if times.empty or times[["median_hours", "p90_hours"]].isna().all().all():
        return empty_figure(title)
    return bar_chart(
        times.assign(
            median_hours=times["median_hours"].round(1), p90_hours=times["p90_hours"].round(1)
        ),
        x="group",
        y=["median_hours", "p90_hours"],
        names={"median_hours": "Median", "p90_hours": "90th percentile"},
        title=title,
        x_title="Reports about",
        y_title="Hours",
        hover=["reports", "waiting"],
    )


def quiz_engagement_chart(engagement: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Dots of :func:`~iwm_lab.queries.platform_health.quiz_engagement`: each group's
    completion rate with its 95 % interval."""
    return interval_chart(
        engagement,
        label="group",
        value="completion_rate",
        low="ci_low",
        high="ci_high",
        title=title or "Quiz attempts finished",
        x_title="Completion rate",
        percent=True,
        hover=["attempts", "users"],
    )


def quiz_difficulty_chart(difficulty: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Dots of :func:`~iwm_lab.queries.platform_health.quiz_difficulty`: each quiz's mean
    share of right answers with its 95 % interval, hardest on top."""
    return interval_chart(
        difficulty,
        label="title",
        value="mean_share",
        low="ci_low",
        high="ci_high",
        title=title or "Hardest quizzes: share of right answers",
        x_title="Mean share of right answers",
        percent=True,
        hover=["attempts", "difficulty"],
    )
