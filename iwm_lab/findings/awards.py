"""Findings of the awards report: how nominees and winners score like for like, who wins
most, and where festival selections lead.

Each function takes the frame of the :mod:`iwm_lab.queries.awards` function it reads and
returns Markdown sentences.
"""

from __future__ import annotations

import pandas as pd

from iwm_lab.formatting import number, percent, plural, signed
from iwm_lab.models.values import SCORE_NAMES

# How a sentence names each comparison's two groups.
_SUBJECTS = {
    "nominated": ("Nominated movies", "movies not nominated"),
    "won": ("Movies that won", "nominees that did not win"),
}


def versus(versus: pd.DataFrame) -> list[str]:
    """Each comparison's like-for-like difference with its interval and sample, and the naive
    difference it corrects."""
    if versus.empty:
        return [
            "No year and genre holds both nominated and other scored movies, so there is "
            "nothing to compare like for like."
        ]
    score = SCORE_NAMES.get(str(versus["source"].iloc[0]), str(versus["source"].iloc[0]))
    sentences = []
    for row in versus.itertuples():
        direction = "higher" if row.difference >= 0 else "lower"
        sentences.append(
            f"{_SUBJECTS[row.comparison][0]} have a {score} {number(abs(row.difference), 2)} "
            f"points out of 10 {direction} than {_SUBJECTS[row.comparison][1]} of the same year "
            "and genre "
            f"(95% interval {signed(row.ci_low)} to {signed(row.ci_high)}; "
            f"{plural(int(row.movies), 'movie')} against {number(row.versus_movies)}, in "
            f"{plural(int(row.strata), 'year-and-genre group')}); compared with every movie, "
            f"the gap would read {signed(row.naive_difference)}."
        )
    return sentences


def people(people: pd.DataFrame) -> list[str]:
    """The most awarded person, with wins and nominations."""
    if people.empty:
        return ["No person has a nomination for the filters asked."]
    top = people.iloc[0]
    return [
        f"{top['name']} leads with {plural(int(top['wins']), 'win')} from "
        f"{plural(int(top['nominations']), 'nomination')} ({int(top['first_year'])} to "
        f"{int(top['last_year'])}, {plural(int(top['bodies']), 'award body', 'award bodies')})."
    ]


def paths(paths: pd.DataFrame, *, window_years: int) -> list[str]:
    """The later-nomination rate of each kind of selection, with its interval."""
    if paths.empty:
        return ["No festival selection is recorded for the years asked."]
    totals = paths.groupby("selection", sort=False)[["selections", "nominated"]].sum()
    parts = [
        f"{percent(row.nominated / row.selections)} of {plural(int(row.selections), 'selection')}"
        f" ({selection})"
        for selection, row in totals.iterrows()
    ]
    return [
        f"Within {plural(window_years, 'year')} of the festival, later nominations came to "
        + "; ".join(parts)
        + "."
    ]
