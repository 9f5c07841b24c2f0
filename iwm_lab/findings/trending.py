"""Findings of the trending report: leaders, risers, spikes, and why a window is empty.

Each function takes frames of :mod:`iwm_lab.queries.trending` (and plain context such as the
window's length) and returns a list of one or two complete Markdown sentences, or an empty
list when there is nothing to say (a function that explains an empty result, given one that
is not empty). Findings never query.

Tags come from users' pulses, so every character of a tag that Markdown (or the HTML behind
it) could read as markup is escaped: a tag can neither format nor inject anything.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from iwm_lab.formatting import duration, listing, moment, number, percent, plural
from iwm_lab.models.values import TRENDING_WINDOW_DAYS

# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping them all
# keeps "<", "*", "_", "[" and friends in a tag literal.
_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def hashtag(tag: str) -> str:
    """``#tag`` with Markdown's special characters escaped."""
    return "#" + _MARKDOWN_SPECIAL.sub(r"\\\1", str(tag))


def _rate(value: float) -> str:
    """A rate per day with the digits it needs to read as more than zero."""
    if 0 < value < 0.01:
        return f"{value:.1g}"
    return number(value, 2 if value < 10 else 1)


def _times(growth: float) -> str:
    return number(growth, 1 if growth < 10 else 0)


def _range(values: list[float]) -> str:
    """``150``, or ``140`` to ``160`` joined by an en dash when they differ once rounded."""
    low, high = round(min(values)), round(max(values))
    return number(low) if low == high else f"{number(low)}\u2013{number(high)}"


def _moment(value: Any) -> datetime:
    moment: datetime = pd.Timestamp(value).to_pydatetime()
    return moment


# Leaders -----------------------------------------------------------------------------------


def leaders(
    counts: pd.DataFrame, totals: pd.DataFrame, *, top: int = 3, category: str | None = None
) -> list[str]:
    """Which tags led the window, and in what share of its tagged pulses.

    ``counts`` is :func:`~iwm_lab.queries.trending.hashtag_counts`, ``totals`` the
    :func:`~iwm_lab.queries.trending.window_totals` of the same window; ``category`` the
    filter ``counts`` was made with, if any. A tag's share is its pulses over the window's
    tagged pulses, not over the sum of the listed counts: a pulse with three tags counts once
    for each, so that sum overstates how many pulses there are, and the listed tags are only
    the top of the list. Tags tied for the lead are named together; the next ``top - 1``
    follow with their shares. Empty for an empty ``counts`` (see :func:`empty_window`).
    """
    if counts.empty:
        return []
    ranked = counts.sort_values(["count", "tag"], ascending=[False, True])
    window = totals.iloc[0]
    tagged = int(window["tagged_pulses"])
    start, end = _moment(window["start"]), _moment(window["end"])
    span = f"the {duration(end - start)} up to {moment(end)}"

    def share(count: int) -> str:
        return percent(count / tagged) if tagged > 0 else ""

    best = int(ranked["count"].iloc[0])
    first = ranked[ranked["count"] == best]
    names = listing([hashtag(t) for t in first["tag"]])
    among = f" among the {category} tags" if category else ""
    if tagged > 0:
        how_many = f"{number(best)} of the {number(tagged)} tagged pulses ({share(best)})"
    else:
        how_many = plural(best, "pulse")
    if len(first) == 1:
        opening = f"{names} led{among} in {span}: it is in {how_many}."
    else:
        opening = f"{names} tied for the lead{among} in {span}: each is in {how_many}."
    sentences = [opening]
    rest = ranked[ranked["count"] < best].head(max(top - len(first), 0))
    if not rest.empty:
        followers = [
            f"{hashtag(tag)} ({share(int(count)) or plural(int(count), 'pulse')})"
            for tag, count in zip(rest["tag"], rest["count"], strict=True)
        ]
        distinct = int(window["tags"])
        tail = f", out of {plural(distinct, 'tag')} used in all" if distinct > len(ranked) else ""
        sentences.append(f"Next came {listing(followers)}{tail}.")
    return sentences


# Risers and new tags -----------------------------------------------------------------------


def risers(
    rising: pd.DataFrame,
    new: pd.DataFrame,
    *,
    window_days: int,
    baseline_days: int,
    min_count: int | None = None,
) -> list[str]:
    """The biggest riser among established tags, and how many tags are new.

    ``rising`` is :func:`~iwm_lab.queries.trending.rising_tags`, ``new``
    :func:`~iwm_lab.queries.trending.new_tags`, both made with ``window_days``,
    ``baseline_days`` and ``min_count``. The riser is the tag of highest growth in the rate
    per day (whatever order the frame is in), with its counts and rates in both periods; a
    tag with more pulses is not thereby a bigger riser. New tags have no rate before to grow
    from: they are counted and the leading ones named, never ranked against the risers.
    """
    window = f"the last {plural(window_days, 'day')}"
    before = f"the {plural(baseline_days, 'day')} before"
    threshold = f" with at least {plural(min_count, 'pulse')}" if min_count else ""
    if rising.empty:
        first = f"No established tag{threshold} was used more per day in {window} than in {before}."
    else:
        top = rising.sort_values(
            ["growth", "window_count", "tag"], ascending=[False, False, True]
        ).iloc[0]
        first = (
            f"Among established tags, {hashtag(top['tag'])} rose the most: from "
            f"{plural(int(top['baseline_count']), 'pulse')} in {before} "
            f"({_rate(top['baseline_rate'])} a day) to {number(top['window_count'])} in "
            f"{window} ({_rate(top['window_rate'])} a day), {_times(top['growth'])} times the rate."
        )
    if new.empty:
        second = f"No tag{threshold} in {window} is new: each was used in {before} too."
    else:
        ranked = new.sort_values(["window_count", "tag"], ascending=[False, True])
        counts = ranked["window_count"].astype(int)
        verb = "is" if len(ranked) == 1 else "are"
        fresh = f"{plural(len(ranked), 'tag')} unused in {before} {verb} new in {window}"
        if len(ranked) == 1:
            only = plural(int(counts.iloc[0]), "pulse")
            second = f"{fresh}: {hashtag(ranked['tag'].iloc[0])}, with {only}."
        elif counts.nunique() == 1:
            shown = [hashtag(t) for t in ranked["tag"].head(3)]
            if len(ranked) > 3:
                shown.append(f"{number(len(ranked) - 3)} more")
            each = plural(int(counts.iloc[0]), "pulse")
            second = f"{fresh}, with {each} each: {listing(shown)}."
        else:
            named = [
                f"{hashtag(r.tag)} ({plural(int(r.window_count), 'pulse')})"
                for r in ranked.head(3).itertuples()
            ]
            second = f"{fresh}, led by {listing(named)}."
    return [first, second]


# Daily spikes ------------------------------------------------------------------------------


def daily_spikes(series: pd.DataFrame, *, factor: float = 3.0, min_count: int = 10) -> list[str]:
    """Days when leading tags jumped far above their typical day.

    ``series`` is :func:`~iwm_lab.queries.trending.hashtag_timeseries` by day for the
    leading tags, over a span longer than the surges it should find (the window and the
    baseline). A tag's typical day is the median of its days in ``series``; a spike is a day
    of at least ``min_count`` pulses and ``factor`` times that median. The median, not the
    mean: a surge that lasts a few days pulls the mean up until it no longer stands out
    against it, and a few empty days pull it down until an ordinary day does.

    The first sentence is about the onset of the biggest jump: the first day on which the
    most tags spiked at once, their typical and spiking counts, and for how many days in a
    row they stayed up. The second lists the other days with a spike, if any.
    """
    if series.empty:
        return []
    typical = series.groupby("tag")["count"].median()
    threshold = typical.clip(lower=min_count / factor) * factor
    spiking = series[series["count"] >= series["tag"].map(threshold)]
    tags = series["tag"].nunique()
    if spiking.empty:
        return [
            f"No leading tag had a day far above its typical one (at least {number(factor, 1)} "
            f"times its median day and {plural(min_count, 'pulse')})."
        ]
    spiked = spiking.groupby("period")["tag"].agg(frozenset)
    most = max(len(group) for group in spiked)
    onset = min(day for day, group in spiked.items() if len(group) == most)
    group = spiked[onset]
    # The run: the following days (one step of the series apart) on which the same tags spiked.
    days = list(pd.DatetimeIndex(series["period"].unique()).sort_values())
    run = [onset]
    for day in days[days.index(onset) + 1 :]:
        if day not in spiked.index or not group <= spiked[day]:
            break
        run.append(day)
    on_day = spiking[(spiking["period"] == onset)].sort_values(
        ["count", "tag"], ascending=[False, True]
    )
    usual = [float(typical[t]) for t in on_day["tag"]]
    jumped = [float(c) for c in on_day["count"]]
    lasted = (
        f", and stayed up for {plural(len(run), 'day')}, through {moment(run[-1])}"
        if len(run) > 1
        else ""
    )
    if len(on_day) == 1:
        row = on_day.iloc[0]
        first = (
            f"{hashtag(row['tag'])} jumped to {plural(int(row['count']), 'pulse')} on "
            f"{moment(onset)}, against a typical day (the median) of {number(usual[0])}"
            f"{lasted}."
        )
    else:
        who = (
            f"every one of the {number(tags)} leading tags"
            if len(on_day) == tags
            else f"{number(len(on_day))} of the {number(tags)} leading tags "
            f"({listing([hashtag(t) for t in on_day['tag']])})"
        )
        first = (
            f"On {moment(onset)} {who} jumped from a typical day (the median) of "
            f"{_range(usual)} pulses to {_range(jumped)}{lasted}."
        )
    others = [day for day in spiked.index if day not in run]
    if not others:
        return [first]

    def tags_on(day: Any) -> str:
        named = spiked[day]
        if len(named) == tags and tags > 1:
            return "every leading tag"
        return listing([hashtag(t) for t in sorted(named)])

    listed = listing([f"{moment(d)} ({tags_on(d)})" for d in others[:3]])
    more = f" and {plural(len(others) - 3, 'other day')}" if len(others) > 3 else ""
    noun = "day" if len(others) == 1 else "days"
    return [
        first,
        f"Leading tags also spiked on {number(len(others))} other {noun}: {listed}{more}.",
    ]


# Why a window is empty ---------------------------------------------------------------------


def empty_window(
    totals: pd.DataFrame,
    span: tuple[datetime | None, datetime | None],
    *,
    category: str | None = None,
) -> list[str]:
    """Why :func:`~iwm_lab.queries.trending.hashtag_counts` found no tag in a window.

    ``totals`` is :func:`~iwm_lab.queries.trending.window_totals` for the window, ``span``
    :func:`~iwm_lab.queries.trending.pulse_span`; ``category`` the filter of the counts, if
    any. Says whether the window has no pulses (and where the data lies instead: it ends
    before the window, starts after it, or has a gap), pulses but no tags, or tags but none
    of ``category``. Empty when the window holds tags (of ``category``) after all.
    """
    window = totals.iloc[0]
    start, end = _moment(window["start"]), _moment(window["end"])
    between = f"between {moment(start)} and {moment(end)}"
    pulses, tagged = int(window["pulses"]), int(window["tagged_pulses"])
    earliest, latest = span
    if pulses == 0:
        if earliest is None or latest is None:
            return [f"No pulses {between}: there are no pulses at all."]
        if latest <= start:
            return [
                f"No pulses {between}; the latest is from {moment(latest)}, "
                f"{duration(end - latest)} before the window ends."
            ]
        if earliest > end:
            return [
                f"No pulses {between}; the earliest is from {moment(earliest)}, "
                f"{duration(earliest - end)} after the window ends."
            ]
        return [
            f"No pulses {between}, although there are pulses before and after it (from "
            f"{moment(earliest)} to {moment(latest)}): the data has a gap there."
        ]
    if tagged == 0:
        return [f"None of the {plural(pulses, 'pulse')} {between} carries a hashtag."]
    if category is not None:
        return [
            f"No tag of the category {category} {between}: the {plural(tagged, 'tagged pulse')} "
            f"of the window use other tags (a tag's category is what most of its pulses link to)."
        ]
    return []


def empty_topics(
    refreshes: pd.DataFrame, *, window: str, span: tuple[datetime | None, datetime | None]
) -> list[str]:
    """Why the stored trending list of ``window`` (``7d`` or ``30d``) is empty.

    ``refreshes`` is :func:`~iwm_lab.queries.trending.trending_refreshes`, ``span``
    :func:`~iwm_lab.queries.trending.pulse_span`. Says when the list was last refreshed and
    for which as-of, and where the pulses lie against that window: ending before it, or
    arriving after its as-of (the refresh counted back from an earlier moment than the data
    reaches). Empty when the last refresh wrote topics.
    """
    record = refreshes[refreshes["window_label"] == window]
    label = f"The stored {window} trending list"
    if record.empty:
        return [f"{label} has not been refreshed yet, so it is empty."]
    last = record.iloc[0]
    if int(last["topics"]) > 0:
        return []
    as_of, refreshed = _moment(last["as_of"]), _moment(last["refreshed_at"])
    days = TRENDING_WINDOW_DAYS.get(window)
    counted = f"the {plural(days, 'day')} up to {moment(as_of)}" if days else moment(as_of)
    first = (
        f"{label} is empty: its last refresh, at {moment(refreshed)}, counted {counted} and "
        "found no tagged pulse."
    )
    latest = span[1]
    if latest is None:
        return [first, "There are no pulses at all."]
    if days is not None and latest <= as_of - timedelta(days=days):
        return [
            first,
            f"The latest pulse is from {moment(latest)}, {duration(as_of - latest)} before "
            "that as-of.",
        ]
    if latest > as_of:
        return [
            first,
            f"Pulses up to {moment(latest)} came after that as-of; the next refresh counts them.",
        ]
    return [first]
