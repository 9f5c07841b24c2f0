"""Findings of the box office report: who led the weekend, which runs had legs, what movies
grossed against their budgets, and where.

Each function takes the frame of the :mod:`iwm_lab.queries.box_office` function it reads and
returns Markdown sentences. Money is said in its own currency, never summed across them.
"""

from __future__ import annotations

import pandas as pd

from iwm_lab.formatting import day, is_missing, number, ordinal, percent, plural


def _money(value: float, currency: str) -> str:
    return f"{number(value)} {currency}"


def races(races: pd.DataFrame, *, region: str) -> list[str]:
    """The latest weekend's leader, and how many movies led a weekend of the frame."""
    if races.empty:
        return [f"No weekend chart of {region} is recorded up to this report's date."]
    latest = races[races["weekend_start"] == races["weekend_start"].max()]
    top = latest.sort_values("rank", kind="stable").iloc[0]
    sentences = [
        f"On the weekend of {day(top['weekend_start'])}, the latest recorded in {region}, "
        f"*{top['title']}* led with {_money(top['weekend_gross'], top['currency'])} in its "
        f"{ordinal(int(top['week_of_run']))} week."
    ]
    leaders = races.loc[races["rank"] == 1, "movie_id"].nunique()
    weekends = races["weekend_start"].nunique()
    if weekends > 1 and leaders:
        sentences.append(
            f"{plural(leaders, 'movie')} {'was' if leaders == 1 else 'were'} number one over "
            f"the {plural(weekends, 'weekend')} shown."
        )
    return sentences


def legs(legs: pd.DataFrame, *, region: str) -> list[str]:
    """The median legs of the runs listed, the longest-legged run, and the runs without a
    recorded opening (whose legs are unknown rather than guessed)."""
    if legs.empty:
        return [f"No run is recorded in {region} for the years asked."]
    known = legs.dropna(subset=["legs"])
    sentences = []
    if known.empty:
        sentences.append("No run listed has its opening weekend recorded, so none has legs.")
    else:
        best = known.sort_values(["legs", "movie_id"], ascending=[False, True]).iloc[0]
        sentences.append(
            f"Of the {plural(len(known), 'run')} listed with a recorded opening, the median "
            f"made {number(known['legs'].median(), 1)} times its opening weekend; "
            f"*{best['title']}* had the longest legs, {number(best['legs'], 1)} times."
        )
    unknown = len(legs) - len(known)
    if unknown:
        sentences.append(
            f"{plural(unknown, 'run')} without a recorded opening weekend "
            f"{'has' if unknown == 1 else 'have'} no legs figure."
        )
    running = int(legs["running"].sum())
    if running:
        sentences.append(f"{plural(running, 'run')} still playing: their totals will grow.")
    return sentences


def multiples(multiples: pd.DataFrame) -> list[str]:
    """The group with the highest and lowest median multiple, with their intervals."""
    if multiples.empty:
        return ["No movie has both a budget and a gross for the filters asked."]
    ranked = multiples.sort_values(["median_multiple", "group"], ascending=[False, True])
    best, worst = ranked.iloc[0], ranked.iloc[-1]
    total = int(multiples["movies"].sum())

    def told(row: pd.Series) -> str:
        text = f"{row['group']} ({number(row['median_multiple'], 1)} times its budget"
        if is_missing(row["ci_low"]):
            return f"{text}, too few movies for an interval)"
        return f"{text}, 95% interval {number(row['ci_low'], 1)} to {number(row['ci_high'], 1)})"

    if len(ranked) == 1:
        return [
            f"Over {plural(total, 'movie')} with both known, the median gross was {told(best)}."
        ]
    return [
        f"Over movies with both a budget and a gross, the median multiple is highest for "
        f"{told(best)} and lowest for {told(worst)}.",
    ]


def split(split: pd.DataFrame) -> list[str]:
    """The largest region of each currency and its share of that currency's total."""
    if split.empty:
        return ["No box office gross is recorded for the weekends asked."]
    sentences = []
    for currency, part in split.groupby("currency", sort=True):
        top = part.sort_values(["total_gross", "region"], ascending=[False, True]).iloc[0]
        sentences.append(
            f"{top['region']} made {percent(top['currency_share'])} of the {currency} box "
            f"office ({_money(top['total_gross'], str(currency))} from "
            f"{plural(int(top['movies']), 'movie')})."
        )
    return sentences[:3]
