"""Findings of the platform health report: the moderation queue at the run's moment, how long
reports wait, and how quizzes are played.

Each function takes the frame of the :mod:`iwm_lab.queries.platform_health` function it
reads (and the moment it was measured at) and returns Markdown sentences.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from iwm_lab.formatting import duration, is_missing, moment, percent, plural


def _hours(value: float) -> str:
    return "out of reach" if is_missing(value) else duration(float(value) / 24)


def queue(queue: pd.DataFrame, *, as_of: datetime) -> list[str]:
    """How many reports were open at ``as_of``, how many for over a week, and of which type
    most."""
    total = int(queue["reports"].sum())
    if total == 0:
        return [f"No report was open at {moment(as_of)} UTC."]
    old = queue[queue["age"].isin(["1-4 weeks", "over 4 weeks"])]
    by_type = queue.groupby("target_type", sort=False)["reports"].sum()
    largest = by_type.sort_values(ascending=False, kind="stable").index[0]
    return [
        f"At {moment(as_of)} UTC, {plural(total, 'report')} {'was' if total == 1 else 'were'} "
        f"open, {_count_text(int(old['reports'].sum()))} of them for more than a week; the "
        f"most were about a {largest.replace('_', ' ')} ({int(by_type[largest]):,})."
    ]


def _count_text(count: int) -> str:
    return "none" if count == 0 else f"{count:,}"


def action(times: pd.DataFrame, *, days: int) -> list[str]:
    """The slowest type by median time to first action, and the reports still waiting."""
    if times.empty:
        return [f"No report was made in the {days} days up to this report's date."]
    known = times.dropna(subset=["median_hours"])
    sentences = []
    if not known.empty:
        slow = known.sort_values(["median_hours", "group"], ascending=[False, True]).iloc[0]
        nine = (
            "too many are still waiting to say when nine in ten were"
            if is_missing(slow["p90_hours"])
            else f"nine in ten within {_hours(slow['p90_hours'])}"
        )
        sentences.append(
            f"Reports about a {slow['group'].replace('_', ' ')} waited longest: half were "
            f"acted on within {_hours(slow['median_hours'])}, {nine}."
        )
    waiting = int(times["waiting"].sum())
    if waiting:
        sentences.append(
            f"{plural(waiting, 'report')} of the last {days} days "
            f"{'is' if waiting == 1 else 'are'} still waiting and count as not acted on yet."
        )
    return sentences or ["No report of the window has been acted on yet."]


def engagement(engagement: pd.DataFrame, *, days: int) -> list[str]:
    """Attempts of the window and the completion rate, with the group finishing least."""
    if engagement.empty:
        return [f"No quiz was started in the {days} days up to this report's date."]
    attempts, finished = int(engagement["attempts"].sum()), int(engagement["finished"].sum())
    low = engagement.sort_values(["completion_rate", "group"]).iloc[0]
    return [
        f"{plural(attempts, 'quiz attempt')} started in the last {days} days, "
        f"{percent(finished / attempts)} finished; {low['group']} quizzes were finished least "
        f"({percent(low['completion_rate'])}, 95% interval {percent(low['ci_low'])} to "
        f"{percent(low['ci_high'])})."
    ]


def difficulty(difficulty: pd.DataFrame, *, min_attempts: int) -> list[str]:
    """The hardest quiz and its interval."""
    if difficulty.empty:
        return [f"No quiz has {plural(min_attempts, 'finished attempt')} yet."]
    top = difficulty.iloc[0]
    return [
        f"The hardest quiz with at least {plural(min_attempts, 'finished attempt')} is "
        f"*{top['title']}*: players got {percent(top['mean_share'])} of its answers right "
        f"(95% interval {percent(top['ci_low'])} to {percent(top['ci_high'])}, "
        f"{plural(int(top['attempts']), 'attempt')})."
    ]
