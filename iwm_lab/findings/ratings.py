"""Findings of the ratings report: sentences from :mod:`iwm_lab.queries.ratings` results.

Each function takes the frame a ratings query returns (its documented columns) and gives one
or two complete Markdown sentences, every figure formatted with :mod:`iwm_lab.formatting`.
They read only what the frame holds: a sentence never claims more than the rows support, and
where a naive reading would mislead (a gap on a handful of movies, a partial last week, a
spike that inflates a mean) the sentence says what the data can bear.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from iwm_lab.formatting import (
    capitalised,
    day,
    listing,
    number,
    ordinal,
    percent,
    plural,
    signed,
)
from iwm_lab.queries._common import DEFAULT_MIN_SCORE, FREQUENCIES, check_choice, check_number

# A group's paired gap over fewer movies than this is called out as resting on few.
FEW_MOVIES = 10
# A whole period with at least SPIKE times the typical period's reviews is a spike.
SPIKE = 2.0
# Names listed in a sentence before the rest are counted instead.
_LISTED = 4

_DASH = "\u2013"  # an en dash, between a band's edges
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+|~!])")


def _md(text: Any) -> str:
    """``text`` as literal Markdown: titles and names may hold ``*``, ``_`` or brackets."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def _names(names: Sequence[str], other: str = "other") -> str:
    """``A``, ``A and B``, ``A, B and C``; past a few names, ``A, B, C, D and 3 other``
    (``other`` a plural: "other groups")."""
    listed = names if len(names) <= _LISTED + 1 else names[:_LISTED]
    shown = [_group(n) for n in listed]
    if len(names) > len(listed):
        shown.append(f"{len(names) - len(listed):,} {other}")
    return listing(shown)


def _times(ratio: float, digits: int = 1) -> str:
    """``7.3`` and a multiplication sign: how many times the typical value."""
    return f"{number(ratio, digits)}\u00d7"


def _movie(title: Any, year: Any) -> str:
    return f"*{_md(title)}*" + ("" if pd.isna(year) else f" ({int(year)})")


# --- score gaps -------------------------------------------------------------------------------


def _interval(row: Any) -> str:
    if pd.isna(row.ci_low):
        return "one movie, so no interval"
    return f"95% interval {signed(row.ci_low)} to {signed(row.ci_high)}"


def _comparison(gap: float, a_label: str, b_label: str) -> str:
    """``the A score is 0.49 points higher than the B score``, or equal at two decimals."""
    if round(gap, 2) == 0:
        return f"the {a_label} and {b_label} scores are the same"
    direction = "higher" if gap > 0 else "lower"
    return (
        f"the {a_label} score is {number(abs(gap), 2)} points {direction} than the {b_label} score"
    )


def _group(name: Any) -> str:
    """A group as a sentence names it: ``Drama``, ``the 1990s``, ``1995``."""
    text = _md(name)
    return f"the {text}" if re.fullmatch(r"[0-9]{4}s", str(name)) else text


def _spans_zero(gap: pd.DataFrame) -> pd.Series:
    """Groups whose interval includes zero: the data cannot tell their gap from none."""
    return (gap["ci_low"] <= 0) & (gap["ci_high"] >= 0)


def score_gaps(gap: pd.DataFrame, *, a_label: str, b_label: str) -> list[str]:
    """What :func:`~iwm_lab.queries.ratings.score_gap` shows, for sources named ``a_label``
    and ``b_label`` (``"iwm users"``, ``"Critics"``).

    The widest gap (largest in size) with its interval and movie count, and the gap most
    reversed from it (or, when none is, the narrowest). Groups of fewer than
    :data:`FEW_MOVIES` movies or without an interval are not picked while others have both:
    a gap on three movies is mostly chance. A second sentence names the groups whose
    interval includes zero or that rest on few movies.
    """
    if gap.empty:
        return [
            f"No movie has both a {a_label} and a {b_label} score, so the two cannot be "
            "compared on the same movies."
        ]
    rows = gap.reset_index(drop=True)
    if len(rows) == 1:
        row = next(rows.itertuples())
        where = "" if row.group == "all" else f" in {_group(row.group)}"
        first = (
            f"Over the same {plural(int(row.movies), 'movie')}{where}, "
            f"{_comparison(row.mean_gap, a_label, b_label)} on average ({_interval(row)})."
        )
    else:
        trusted = rows[(rows["movies"] >= FEW_MOVIES) & rows["ci_low"].notna()]
        pool = trusted if not trusted.empty else rows
        size = pool["mean_gap"].abs()
        widest = pool.loc[size.idxmax()]
        first = (
            f"The widest gap is in {_group(widest['group'])}: over its "
            f"{plural(int(widest['movies']), 'movie')} with both scores, "
            f"{_comparison(widest['mean_gap'], a_label, b_label)} on average "
            f"({_interval(widest)})"
        )
        others = pool.drop(index=widest.name)
        reversed_ = others[others["mean_gap"] * widest["mean_gap"] < 0]
        if not reversed_.empty:
            other = reversed_.loc[reversed_["mean_gap"].abs().idxmax()]
            higher = b_label if widest["mean_gap"] > 0 else a_label
            first += (
                f"; in {_group(other['group'])} it is the other way round, {higher} higher by "
                f"{number(abs(other['mean_gap']), 2)} ({plural(int(other['movies']), 'movie')})."
            )
        elif not others.empty:
            other = others.loc[others["mean_gap"].abs().idxmin()]
            first += (
                f"; it is narrowest in {_group(other['group'])}, {signed(other['mean_gap'])} "
                f"({plural(int(other['movies']), 'movie')})."
            )
        else:
            first += "."
    sentences = [first]

    sentences.append(_caution(rows))
    return [sentence for sentence in sentences if sentence]


def _caution(rows: pd.DataFrame) -> str:
    """Which groups' gaps the data cannot tell from none or rests on few movies; blank when
    none. A group of one movie has no interval: it is among the few."""
    spans = rows.loc[_spans_zero(rows), "group"].tolist()
    few = rows.loc[rows["movies"] < FEW_MOVIES, "group"].tolist()
    if len(rows) == 1:
        parts = (["the interval includes zero"] if spans else []) + (
            [f"it rests on fewer than {FEW_MOVIES} movies"] if few else []
        )
        if not parts:
            return ""
        return (
            f"{capitalised(' and '.join(parts))}: the gap could be chance rather than a "
            "difference between the sources."
        )
    cautions = []
    if spans:
        if len(spans) == 1:
            cautions.append(f"the interval of {_names(spans)} includes zero")
        elif len(spans) > _LISTED + 1 and len(rows) - len(spans) <= _LISTED:
            # Most groups: name the exceptions instead.
            clear = [g for g in rows["group"] if g not in set(spans)]
            if clear:
                cautions.append(
                    f"the intervals of {len(spans):,} of the {len(rows):,} groups include zero "
                    f"(all but {_names(clear)})"
                )
            else:
                cautions.append(f"the intervals of all {len(rows):,} groups include zero")
        else:
            cautions.append(f"the intervals of {_names(spans, 'other groups')} include zero")
    if few:
        verb = "rests" if len(few) == 1 else "rest"
        cautions.append(f"{_names(few, 'other groups')} {verb} on fewer than {FEW_MOVIES} movies")
    if not cautions:
        return ""
    return (
        f"{capitalised('; '.join(cautions))}: read those gaps as uncertain, possibly chance "
        "rather than a difference between the sources."
    )


# --- agreement between sources -----------------------------------------------------------------


def agreement(agreement: pd.DataFrame, *, labels: Mapping[str, str] | None = None) -> list[str]:
    """What :func:`~iwm_lab.queries.ratings.platform_agreement` shows: the pairs of sources
    that agree most and least (Pearson r), the least agreeing with its signed mean
    difference. ``labels`` maps source names to display names (``charts.SOURCE_LABELS``).
    Pairs without a correlation (fewer than two movies, or a constant score) are skipped."""
    names = dict(labels or {})
    rated = agreement.dropna(subset=["pearson_r"]).reset_index(drop=True)
    if rated.empty:
        return ["No two sources score enough of the same movies to be compared."]

    def pair(row: Any) -> str:
        return (
            f"{names.get(row.source_a, row.source_a)} and {names.get(row.source_b, row.source_b)}"
        )

    most = rated.loc[rated["pearson_r"].idxmax()]
    first = (
        f"{pair(most)} agree most (Pearson r {number(most['pearson_r'], 2)} over "
        f"{plural(int(most['n']), 'movie')})"
    )
    if len(rated) == 1:
        return [first + "."]
    least = rated.loc[rated["pearson_r"].idxmin()]
    a = names.get(least["source_a"], least["source_a"])
    b = names.get(least["source_b"], least["source_b"])
    return [
        f"{first}; {pair(least)} least (r {number(least['pearson_r'], 2)}).",
        f"On their {plural(int(least['n']), 'shared movie')}, "
        f"{_comparison(float(least['mean_diff']), a, b)} on average, yet a movie's two scores "
        f"are {number(least['mean_abs_diff'], 2)} points apart on average.",
    ]


# --- distribution ------------------------------------------------------------------------------


def score_distribution(
    dist: pd.DataFrame, *, what: str = "ratings", min_score: float = DEFAULT_MIN_SCORE
) -> list[str]:
    """What :func:`~iwm_lab.queries.ratings.score_distribution` shows: the most common band
    with its share, and the share of ``what`` (``"ratings"``, ``"critics scores"``) that are
    well rated: ``min_score`` or more on the 0-10 scale, the threshold of
    :class:`iwm_lab.queries._common.WellRated` (8 by default; 80 out of 100 on a 0-100 scale).

    Shares are of all counted values, whatever the bins' width. The high share is given only
    when a bin starts at that mark, since a bin across it cannot be split."""
    check_number(min_score, "min_score", 0, 10)
    total = int(dist["count"].sum())
    if total == 0:
        return [f"There are no {what} to count."]
    top = float(dist["bin_end"].iloc[-1])
    digits = 0 if top > 10 else 1

    def band(row: Any) -> str:
        return f"{number(row.bin_start, digits)}{_DASH}{number(row.bin_end, digits)}"

    peak = dist[dist["count"] == dist["count"].max()]
    peak_share = int(peak["count"].iloc[0]) / total
    bands = _names([band(row) for row in peak.itertuples()], "other bands")
    if len(peak) == 1:
        first = f"The most common band is {bands}, with {percent(peak_share)} of the "
    else:
        first = f"The most common bands are {bands}, with {percent(peak_share)} each of the "
    first += f"{number(total)} {what}"
    mark = min_score / 10 * top
    starts = dist["bin_start"].to_numpy()
    if not (abs(starts - mark) < 1e-9 * top).any():
        return [first + "."]
    high = int(dist.loc[dist["bin_start"] >= mark - 1e-9 * top, "count"].sum()) / total
    shown = number(mark, 0 if mark == round(mark) else 1)
    return [f"{first}; {percent(high)} are {shown} or more out of {number(top)}."]


# --- top rated --------------------------------------------------------------------------------


def top_rated(top: pd.DataFrame) -> list[str]:
    """What :func:`~iwm_lab.queries.ratings.top_rated` shows: the leader, its weighted
    rating and review count. Then, when a listed movie has a higher plain average than the
    leader, that movie and where the weighting puts it (a plain average on few reviews is the
    naive ranking); else the leader's margin over the second."""
    if top.empty:
        return ["No movie has enough reviews to be ranked."]
    ranked = top.reset_index(drop=True)
    leader = ranked.iloc[0]
    first = (
        f"{_movie(leader['title'], leader['year'])} leads with a weighted rating of "
        f"{number(leader['weighted_rating'], 2)}, from {plural(int(leader['reviews']), 'review')} "
        f"averaging {number(leader['mean_rating'], 2)}."
    )
    if len(ranked) == 1:
        return [first]
    best_mean = ranked["mean_rating"].idxmax()
    if ranked.loc[best_mean, "mean_rating"] > leader["mean_rating"]:
        other = ranked.loc[best_mean]
        why = (
            ": with fewer reviews, it is pulled further towards the overall mean"
            if other["reviews"] < leader["reviews"]
            else " once its reviews are weighed"
        )
        second = (
            f"{_movie(other['title'], other['year'])} has the highest plain average, "
            f"{number(other['mean_rating'], 2)} from {plural(int(other['reviews']), 'review')}, "
            f"but ranks {ordinal(int(best_mean) + 1)}{why}."
        )
    else:
        runner = ranked.iloc[1]
        margin = float(leader["weighted_rating"] - runner["weighted_rating"])
        second = (
            f"It leads {_movie(runner['title'], runner['year'])} by {number(margin, 2)} points."
        )
    return [first, second]


# --- review activity -----------------------------------------------------------------------


def _period_name(period: Any, freq: str) -> str:
    if freq == "week":
        return f"the week of {day(period)}"
    if freq == "month":
        return f"{pd.Timestamp(period):%B %Y}"
    return day(period)


def review_activity(volume: pd.DataFrame, *, freq: str = "week") -> list[str]:
    """What :func:`~iwm_lab.queries.ratings.review_volume` shows for periods of ``freq`` (as
    it was called with): the latest whole period against the typical one, and a spike or
    a partial period.

    Only whole periods are compared (``partial`` is false): a week the range cuts short has
    fewer reviews without any drop. The typical period is the median of the other whole
    periods, not their mean, which one spike would inflate. A spike is a whole period with
    at least :data:`SPIKE` times the median of the others. The second sentence names the
    biggest earlier spike, else says that the last period is partial and left out.
    """
    check_choice(freq, FREQUENCIES, "freq")
    if volume.empty or volume["reviews"].sum() == 0:
        return ["No review was written in these periods."]
    whole = volume[~volume["partial"].astype(bool)].reset_index(drop=True)
    if whole.empty:
        return [
            f"The range covers no whole {freq}: {plural(int(volume['reviews'].sum()), 'review')} "
            f"in {plural(int(volume['days'].sum()), 'day')}."
        ]
    latest = whole.iloc[-1]
    name = _period_name(latest["period"], freq)
    others = whole.iloc[:-1]
    if others.empty:
        first = (
            f"{capitalised(name)} had {plural(int(latest['reviews']), 'review')}; no other whole "
            f"{freq} is shown to compare it with."
        )
    else:
        typical = float(others["reviews"].median())
        reviews = plural(int(latest["reviews"]), "review")
        basis = f"the median of the {plural(len(others), f'other whole {freq}')}"
        if typical == 0:
            first = (
                f"{capitalised(name)}, the latest whole {freq}, had {reviews}, against none in "
                f"a typical {freq} ({basis})."
            )
        else:
            ratio = float(latest["reviews"]) / typical
            first = (
                f"{capitalised(name)}, the latest whole {freq}, had {reviews}: "
                f"{_times(ratio)} the typical {freq} ({number(typical)}, {basis})."
            )
    sentences = [first]

    spikes = []
    for i in range(len(whole) - 1):
        rest = whole["reviews"].drop(index=i)
        typical = float(rest.median())
        if typical > 0 and whole.loc[i, "reviews"] >= SPIKE * typical:
            spikes.append((whole.loc[i, "reviews"] / typical, i, typical))
    last = volume.iloc[-1]
    if spikes:
        ratio, i, typical = max(spikes)
        row = whole.loc[i]
        text = (
            f"{capitalised(_period_name(row['period'], freq))} stands out with "
            f"{plural(int(row['reviews']), 'review')}, {_times(ratio)} the typical {freq} "
            f"({number(typical)})"
        )
        if len(spikes) > 1:
            more = plural(len(spikes) - 1, f"other {freq}")
            text += f"; {more} reached {_times(SPIKE, 0)} or more"
        sentences.append(text + ".")
    elif bool(last["partial"]) and len(volume) > 1:
        sentences.append(
            f"{capitalised(_period_name(last['period'], freq))} is cut short by the range "
            f"({plural(int(last['days']), 'day')} counted, "
            f"{plural(int(last['reviews']), 'review')}) and is not compared."
        )
    return sentences


# --- divisive movies ----------------------------------------------------------------------------


def divisive(div: pd.DataFrame) -> list[str]:
    """What :func:`~iwm_lab.queries.ratings.divisive_movies` shows: the movie users disagree
    about most, with the spread (standard deviation) of its ratings, their number and mean;
    then the next two."""
    if div.empty:
        return ["No movie has enough reviews to measure how much its users disagree."]
    ranked = div.reset_index(drop=True)
    top = ranked.iloc[0]
    sentences = [
        f"Users disagree most about {_movie(top['title'], top['year'])}: its "
        f"{plural(int(top['reviews']), 'rating')} spread {number(top['stddev_rating'], 2)} "
        f"points (standard deviation) around a mean of {number(top['mean_rating'], 2)}."
    ]
    following = [
        f"{_movie(row.title, row.year)} at {number(row.stddev_rating, 2)}"
        for row in ranked.iloc[1:3].itertuples()
    ]
    if following:
        sentences.append(f"Next {'come' if len(following) > 1 else 'comes'} {listing(following)}.")
    return sentences


__all__ = [
    "FEW_MOVIES",
    "SPIKE",
    "agreement",
    "divisive",
    "review_activity",
    "score_distribution",
    "score_gaps",
    "top_rated",
]
