"""Findings of the data-health report: what the database holds, how fresh and complete it is.

Each function takes the frame of the :mod:`iwm_lab.queries.overview` (or
:mod:`iwm_lab.queries.security`) function it is named after and returns one or two Markdown
sentences. Ages are those of :func:`iwm_lab.queries.overview.freshness`, measured at the
report's run, so "stale" means stale at the time the report was made.
"""

from __future__ import annotations

import pandas as pd

from iwm_lab.formatting import (
    capitalised,
    day,
    duration,
    is_missing,
    listing,
    number,
    percent,
    plural,
)
from iwm_lab.queries.overview import ACTIVITY_TABLES, stale_sources

# What one row of a table is called in a sentence.
_ROW_NAMES = {"reviews": "review", "pulses": "pulse", "movies": "movie"}


def _arrived(row: pd.Series, *, subject: str) -> str:
    """When ``row``'s latest timestamp lies, relative to the run."""
    age = float(row["age_days"])
    when = day(row["latest"])
    if age < 0:
        return f"{subject} is dated {duration(-age)} after this run's as-of ({when})"
    return f"{subject} arrived {duration(age)} before this run ({when})"


def freshness(
    fresh: pd.DataFrame,
    *,
    stale_after_days: float,
    tables: tuple[str, ...] = ACTIVITY_TABLES,
) -> list[str]:
    """Whether reviews and pulses (``tables``) are still arriving, at the time of the run.

    ``fresh`` is :func:`iwm_lab.queries.overview.freshness` measured at the run's as-of. A
    table is stale when its latest row is more than ``stale_after_days`` days old, or when it
    has none (:func:`~iwm_lab.queries.overview.stale_sources`). At most two sentences: the
    stale tables, with the age and date of their latest row, then the current ones.
    """
    stale = stale_sources(fresh, stale_after_days=stale_after_days, tables=tables)
    rows = fresh.drop_duplicates("table").set_index("table")
    sentences = []
    if stale:
        details = []
        for table in stale:
            row = rows.loc[table]
            if is_missing(row["latest"]):
                details.append(f"there are no {table} at all")
            else:
                name = _ROW_NAMES.get(table, f"{table} row")
                details.append(_arrived(row, subject=f"the latest {name}"))
        # Tables are named in the plural ("Reviews are stale"), one or several alike.
        sentences.append(
            f"**{capitalised(listing(stale))} are stale** (nothing new for more than "
            f"{duration(stale_after_days)}): {'; '.join(details)}."
        )
    current = [t for t in tables if t not in stale]
    if current:
        details = [
            _arrived(rows.loc[t], subject=f"the latest {_ROW_NAMES.get(t, f'{t} row')}")
            for t in current
        ]
        sentences.append(
            f"{capitalised(listing(current))} are current (within "
            f"{duration(stale_after_days)}): {'; '.join(details)}."
        )
    return sentences


def trending_refresh(fresh: pd.DataFrame, *, stale_after_days: float = 2.0) -> list[str]:
    """Whether the stored trending list is as recent as the app's daily refresh makes it.

    ``fresh`` is :func:`iwm_lab.queries.overview.freshness` at the run's as-of; its
    ``trending_topics`` row holds the last refresh. Older than ``stale_after_days`` (default
    two days: one missed daily run) is stale. One sentence.
    """
    row = fresh.drop_duplicates("table").set_index("table").loc["trending_topics"]
    if is_missing(row["latest"]):
        return ["**The trending list has never been refreshed**: the app shows no trends."]
    age = float(row["age_days"])
    if age > stale_after_days:
        return [
            f"**The trending list is stale**: it was last refreshed {duration(age)} before "
            f"this run ({day(row['latest'])}), although the app refreshes it daily."
        ]
    if age < 0:
        return [
            f"The trending list was refreshed {duration(-age)} after this run's as-of "
            f"({day(row['latest'])})."
        ]
    return [f"The trending list was last refreshed {duration(age)} before this run."]


def _exact_or_estimated(frame: pd.DataFrame, exact: str, estimated: str) -> tuple[str, bool]:
    """Which of two columns ``frame`` holds (an exact count, or an estimate), and whether it
    is the estimate."""
    if exact in frame.columns:
        return exact, False
    if estimated in frame.columns:
        return estimated, True
    raise ValueError(f"expected a column {exact!r} or {estimated!r}, got {list(frame.columns)}")


def row_counts(counts: pd.DataFrame) -> list[str]:
    """What the database holds, from :func:`iwm_lab.queries.overview.table_row_counts` (or
    the part of it a report shows): the total, the largest table and the empty ones. An
    estimate (``rows_estimate``, the default) is said to be one ("about"); exact counts
    (``rows``, ``exact=True``) are given as they are."""
    rows, estimated = _exact_or_estimated(counts, "rows", "rows_estimate")
    if counts.empty or int(counts[rows].sum()) == 0:
        return ["**Every table is empty**: the database holds no data."]
    about = "about " if estimated else ""
    total = int(counts[rows].sum())
    ordered = counts.sort_values([rows, "table"], ascending=[False, True], kind="stable")
    largest = ordered.iloc[0]
    sentences = [
        f"The database holds {about}{plural(total, 'row')} in {plural(len(counts), 'table')}; "
        f"the largest is `{largest['table']}` with {about}{number(largest[rows])} "
        f"({percent(largest[rows] / total)} of all rows)."
    ]
    empty = sorted(counts.loc[counts[rows] == 0, "table"])
    if empty:
        names = listing([f"`{t}`" for t in empty])
        verb = "is" if len(empty) == 1 else "are"
        sentences.append(f"{plural(len(empty), 'table')} {verb} empty: {names}.")
    if estimated:
        sentences.append(
            "Row counts are PostgreSQL's estimates (from the tables' statistics and size), "
            "close but not exact."
        )
    return sentences


def null_shares(nulls: pd.DataFrame, *, top: int = 3) -> list[str]:
    """The emptiest key columns, from :func:`iwm_lab.queries.overview.null_shares`.

    Ranked by the share of their table's rows that are NULL (not by the count, which favours
    big tables), ties by count, then name; columns of empty tables have no share and are left
    out. At most ``top`` columns are named. An estimate (the ``*_estimate`` columns, the
    default) is said to be one: a column "filled in every row" is then filled in every
    sampled row.
    """
    share, estimated = _exact_or_estimated(nulls, "null_share", "null_share_estimate")
    suffix = "_estimate" if estimated else ""
    nulls = nulls.rename(
        columns={share: "null_share", f"nulls{suffix}": "nulls", f"rows{suffix}": "rows"}
    )
    about = "about " if estimated else ""
    known = nulls.dropna(subset=["null_share"])
    if known.empty:
        return ["**No key column can be checked**: the tables that hold them are empty."]
    gaps = known[known["nulls"] > 0].sort_values(
        ["null_share", "nulls", "table", "column"],
        ascending=[False, False, True, True],
        kind="stable",
    )
    if gaps.empty:
        where = "every sampled row" if estimated else "every row"
        return [f"Every one of the {plural(len(known), 'key column')} is filled in {where}."]
    named = [
        f"`{row.table}.{row.column}` ({about}{percent(row.null_share)} missing, "
        f"{about}{number(row.nulls)} of {number(row.rows)} rows)"
        for row in gaps.head(top).itertuples(index=False)
    ]
    label = "The emptiest key column is" if len(named) == 1 else "The emptiest key columns are"
    sentences = [f"{label} {listing(named)}."]
    filled = len(known) - len(gaps)
    skipped = len(nulls) - len(known)
    if filled == 0:
        tail = f"none of the {plural(len(known), 'key column')} is complete"
    else:
        verb = "has" if filled == 1 else "have"
        missing = "no missing value in the sample" if estimated else "no missing value"
        tail = f"{plural(filled, 'key column')} of {number(len(known))} {verb} {missing}"
    if skipped:
        tail += f"; {plural(skipped, 'column')} of empty tables cannot be checked"
    sentences.append(capitalised(tail) + ".")
    return sentences


def hash_audit(audit: pd.DataFrame) -> list[str]:
    """How many users' password hashes the application would replace at their next login,
    from :func:`iwm_lab.queries.security.password_hash_audit`.

    Counts users, not parameter sets: one outdated set may hold a single user or most of
    them. Names the unreadable (non-Argon2) hashes among them.
    """
    users = int(audit["users"].sum()) if not audit.empty else 0
    if users == 0:
        return ["There are no users, so no password hash to audit."]
    flagged = audit[audit["needs_rehash"].astype(bool)]
    rehash = int(flagged["users"].sum())
    if rehash == 0:
        return [
            f"All {plural(users, 'user')} have password hashes made with the current "
            "parameters: none will be replaced at login."
        ]
    sets = len(flagged)
    sentences = [
        f"**{number(rehash)} of {plural(users, 'user')} ({percent(rehash / users)})** have a "
        "password hash the current parameters would replace at their next login, in "
        f"{plural(sets, 'outdated parameter set')}."
    ]
    unreadable = int(flagged.loc[flagged["algorithm"].isna(), "users"].sum())
    if unreadable:
        sentences.append(
            f"{number(unreadable)} of them {'has' if unreadable == 1 else 'have'} a "
            "stored value that is not a readable Argon2 hash at all."
        )
    return sentences
