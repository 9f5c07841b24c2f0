"""Findings of the streaming coverage report: where the catalogue can be watched, and on what.

Each function takes the frame of the :mod:`iwm_lab.queries.streaming` function it reads and
returns one or two Markdown sentences. Every share says what it is a share of: the released
catalogue (coverage), the movies watchable in a region (platforms), a region's offers (offer
mix) or the well-rated movies (gaps). "Top rated" and "well rated" are said of the score the
frame names (its ``source``), as :class:`iwm_lab.queries._common.WellRated` defines them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from iwm_lab.formatting import is_missing, listing, number, ordinal, percent, plural
from iwm_lab.models.values import SCORE_NAMES, STREAMING_OPTION_TYPES, STREAMING_QUALITIES
from iwm_lab.queries._common import WellRated

# How an offer of each type reads after "N% ...".
_TYPE_WORDS = {
    "subscription": "by subscription",
    "rent": "to rent",
    "buy": "to buy",
    "free": "free",
}
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~])")


def _escaped(text: str) -> str:
    """A title as literal Markdown text (no stray emphasis or links)."""
    return _MARKDOWN.sub(r"\\\1", text)


def coverage(coverage: pd.DataFrame, *, region: str | None = None) -> list[str]:
    """Coverage leaders and laggards, from :func:`iwm_lab.queries.streaming.coverage_by_region`.

    Regions are ranked by ``released_share``, the share of the whole released catalogue
    watchable there (one denominator for all), not by ``movies``, which also counts films
    not yet released. The first sentence names the widest and narrowest coverage; with
    ``region``, the second places that region among the others, with its share of the
    top-rated movies, named by the score they are ranked by (the frame's ``source``).
    """
    if coverage.empty:
        return ["No streaming offer is recorded in any region."]
    ranked = coverage.dropna(subset=["released_share"]).sort_values(
        ["released_share", "region"], ascending=[False, True], kind="stable"
    )
    if ranked.empty:
        return ["The catalogue holds no released movie, so no region's coverage can be measured."]
    best = ranked.iloc[0]
    released = int(best["released_movies"])
    sentences = []
    if len(ranked) == 1:
        sentences.append(
            f"Only {best['region']} has streaming offers: {percent(best['released_share'])} of "
            f"the released catalogue ({number(best['released_available'])} of "
            f"{plural(released, 'movie')}) can be watched there."
        )
    else:
        worst = ranked.iloc[-1]
        leaders = ranked.loc[ranked["released_share"] == best["released_share"], "region"]
        laggards = ranked.loc[ranked["released_share"] == worst["released_share"], "region"]
        lead = listing(list(leaders))
        lag = listing(list(laggards))
        verb = "has" if len(leaders) == 1 else "have"
        sentences.append(
            f"{lead} {verb} the widest coverage: {percent(best['released_share'])} of the "
            f"released catalogue ({number(best['released_available'])} of "
            f"{plural(released, 'movie')}) can be watched there, against "
            f"{percent(worst['released_share'])} in {lag}, the narrowest."
        )
    if region is not None:
        chosen = coverage[coverage["region"] == region]
        if chosen.empty:
            sentences.append(f"No streaming offer is recorded in {region}.")
        else:
            row = chosen.iloc[0]
            place = ""
            if region in set(ranked["region"]) and len(ranked) > 1:
                # Ties share a rank: the rank is one more than the regions strictly ahead.
                ahead = int((ranked["released_share"] > row["released_share"]).sum())
                place = f" ({ordinal(ahead + 1)} of {len(ranked)} regions)"
            sentences.append(
                f"In **{region}**{place}, {plural(int(row['movies']), 'movie')} can be watched: "
                f"{percent(row['released_share'])} of the released catalogue and "
                f"{percent(row['top_n_share'])} of the top {number(row['top_n'])} rated by "
                f"{SCORE_NAMES[row['source']]}."
            )
    return sentences


def platforms(shares: pd.DataFrame, *, region: str) -> list[str]:
    """The platform with the most titles in ``region`` and its exclusives, from
    :func:`iwm_lab.queries.streaming.platform_share`.

    ``share`` is over the distinct movies watchable in the region (a movie on two platforms
    counts for both, so shares add up to more than 100%); ``exclusive_share`` is over the
    platform's own movies. When another platform has more exclusives, a second sentence
    names it.
    """
    if shares.empty:
        return [f"No offer in {region} names its platform."]
    by_titles = shares.sort_values(
        ["movies", "platform", "platform_id"], ascending=[False, True, True], kind="stable"
    )
    top = by_titles.iloc[0]
    if len(shares) == 1:
        lead = f"{top['platform']} is the only platform in {region}"
    else:
        lead = f"{top['platform']} carries the most titles in {region}"
    sentences = [
        f"{lead}: {plural(int(top['movies']), 'movie')}, {percent(top['share'])} of those "
        f"watchable there; {number(top['exclusives'])} of them "
        f"({percent(top['exclusive_share'])}) are on no other platform there."
    ]
    by_exclusives = shares.sort_values(
        ["exclusives", "movies", "platform"], ascending=[False, False, True], kind="stable"
    )
    most = by_exclusives.iloc[0]
    if int(most["exclusives"]) > int(top["exclusives"]):
        sentences.append(
            f"{most['platform']} has the most exclusives: {number(most['exclusives'])} of its "
            f"{plural(int(most['movies']), 'movie')} ({percent(most['exclusive_share'])}) can "
            f"be watched in {region} only there."
        )
    return sentences


def _order(values: pd.Series, known: Sequence[str]) -> list[str]:
    """Labels by count (descending), ties in the order of ``known``, then alphabetically."""
    rank = {label: i for i, label in enumerate(known)}
    items = sorted(values.items(), key=lambda kv: (-kv[1], rank.get(kv[0], len(rank)), kv[0]))
    return [label for label, _ in items]


def offer_mix(mix: pd.DataFrame, *, region: str) -> list[str]:
    """The kinds of offer and picture qualities of ``region``, from
    :func:`iwm_lab.queries.streaming.price_quality_mix`.

    The frame has a row per type, quality and currency: the counts are summed over them, and
    every share is over all of the region's offers (those with no recorded quality
    included).
    """
    total = int(mix["options"].sum()) if not mix.empty else 0
    if total == 0:
        return [f"No streaming offer is recorded in {region}."]
    by_type = mix.groupby("type", sort=False)["options"].sum()
    kinds = [
        f"{percent(by_type[t] / total)} {_TYPE_WORDS.get(t, t)}"
        for t in _order(by_type, STREAMING_OPTION_TYPES)
    ]
    sentences = [f"{region} has {plural(total, 'offer')}: {listing(kinds)}."]
    qualities = mix.assign(quality=mix["quality"].fillna(""))
    by_quality = qualities.groupby("quality", sort=False)["options"].sum()
    unrecorded = int(by_quality.get("", 0))
    recorded = by_quality.drop("", errors="ignore")
    recorded = recorded[recorded > 0]
    if recorded.empty:
        sentences.append("None of them records its picture quality.")
    else:
        parts = [
            f"{percent(recorded[q] / total)} in {q}" for q in _order(recorded, STREAMING_QUALITIES)
        ]
        text = f"Of those, {listing(parts).replace(' in ', ' are in ', 1)}"
        if unrecorded:
            text += f"; {percent(unrecorded / total)} record no picture quality"
        sentences.append(text + ".")
    return sentences


def gaps(summary: pd.DataFrame, gaps: pd.DataFrame | None = None) -> list[str]:
    """How many well-rated movies cannot be watched in a region, from
    :func:`iwm_lab.queries.streaming.coverage_gap_summary` (every such movie, not only the
    ones a capped :func:`~iwm_lab.queries.streaming.coverage_gaps` list shows); with
    ``gaps``, that list, the second sentence names the best rated of them and where it can
    be watched instead. "Well rated" is the definition the summary names (``source``,
    ``min_score``, ``min_reviews``): "a Siddu score of 8.0 or more" by default.
    """
    if summary.empty:
        raise ValueError("the gap summary has no row; pass coverage_gap_summary's result")
    row = summary.iloc[0]
    region = row["region"]
    definition = WellRated(str(row["source"]), float(row["min_score"]), int(row["min_reviews"]))
    well_rated, missing = int(row["well_rated"]), int(row["missing"])
    if well_rated == 0:
        return [f"No released movie has {definition.describe()}."]
    if missing == 0:
        return [
            f"Every one of the {plural(well_rated, 'released movie')} with "
            f"{definition.describe()} can be watched in {region}."
        ]
    nowhere = int(row["nowhere"])
    if nowhere == 0:
        elsewhere = "each of them can be watched in another region"
    elif nowhere == missing:
        elsewhere = "none of them can be watched in any region"
    else:
        elsewhere = f"{number(nowhere)} of them cannot be watched in any region"
    sentences = [
        f"**{number(missing)} of the {plural(well_rated, 'released movie')} with "
        f"{definition.describe()} ({percent(row['missing_share'])}) cannot be watched in "
        f"{region}**; {elsewhere}."
    ]
    if gaps is not None and not gaps.empty:
        ranked = gaps.sort_values(["score", "movie_id"], ascending=[False, True], kind="stable")
        best = ranked.iloc[0]
        about = ", ".join(
            part
            for part in (
                "" if is_missing(best["year"]) else str(best["year"]),
                definition.score_text(float(best["score"])),
            )
            if part
        )
        where = (
            f"can be watched in {best['available_in']}"
            if int(best["available_regions"]) > 0
            else "cannot be watched in any region"
        )
        sentences.append(f"The best rated of them, *{_escaped(best['title'])}* ({about}), {where}.")
    return sentences
