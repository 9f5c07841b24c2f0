"""``iwm_lab.findings.overview``: the sentences that open the data-health report.

Hand-built frames shaped like the query functions' results, each built so that a naive
reading (an age against the data's own date, a count of rows where users matter, a NULL
count where the share matters) would give another answer than the right one. The last tests
run the report's freshness logic on the tiny demo dataset on a day after its end.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import Connection, text

from iwm_lab.demodata import NOTEBOOK_AS_OF
from iwm_lab.findings import overview as findings
from iwm_lab.queries import overview, security

RUN = pd.Timestamp("2026-11-29 12:00")
FRESHNESS_DTYPES = {
    "table": "str",
    "column": "str",
    "latest": "datetime64[us]",
    "age_days": "float64",
}


def fresh_frame(ages: dict[str, float | None]) -> pd.DataFrame:
    """A freshness frame measured at RUN, with the given ages in days (None: no row)."""
    return pd.DataFrame(
        {
            "table": list(ages),
            "column": ["at"] * len(ages),
            "latest": [pd.NaT if a is None else RUN - pd.Timedelta(days=a) for a in ages.values()],
            "age_days": [float("nan") if a is None else a for a in ages.values()],
        }
    ).astype(FRESHNESS_DTYPES)


# --- freshness ------------------------------------------------------------------------


def test_stale_reviews_are_named_with_their_age_and_date() -> None:
    fresh = fresh_frame({"movies": -400.0, "reviews": 29.0, "pulses": 0.25})
    assert findings.freshness(fresh, stale_after_days=7) == [
        "**Reviews are stale** (nothing new for more than 7 days): the latest review arrived "
        "29 days before this run (2026-10-31).",
        "Pulses are current (within 7 days): the latest pulse arrived 6 hours before this run "
        "(2026-11-29).",
    ]


def test_all_current() -> None:
    fresh = fresh_frame({"reviews": 1.5, "pulses": 0.01})
    sentences = findings.freshness(fresh, stale_after_days=7)
    assert sentences == [
        "Reviews and pulses are current (within 7 days): the latest review arrived 2 days "
        "before this run (2026-11-28); the latest pulse arrived 14 minutes before this run "
        "(2026-11-29)."
    ]


def test_an_empty_table_is_stale_not_current() -> None:
    fresh = fresh_frame({"reviews": None, "pulses": 10.0})
    sentences = findings.freshness(fresh, stale_after_days=7)
    assert sentences == [
        "**Reviews and pulses are stale** (nothing new for more than 7 days): there are no "
        "reviews at all; the latest pulse arrived 10 days before this run (2026-11-19)."
    ]


def test_the_limit_decides_not_the_data() -> None:
    # The same data, judged with a longer limit, is current.
    fresh = fresh_frame({"reviews": 10.0, "pulses": 10.0})
    assert findings.freshness(fresh, stale_after_days=7)[0].startswith(
        "**Reviews and pulses are stale**"
    )
    assert findings.freshness(fresh, stale_after_days=14)[0].startswith(
        "Reviews and pulses are current (within 14 days)"
    )


def test_data_newer_than_a_past_as_of() -> None:
    fresh = fresh_frame({"reviews": -2.0, "pulses": 0.5})
    assert findings.freshness(fresh, stale_after_days=7) == [
        "Reviews and pulses are current (within 7 days): the latest review is dated 2 days "
        "after this run's as-of (2026-12-01); the latest pulse arrived 12 hours before this "
        "run (2026-11-29)."
    ]


def test_trending_refresh() -> None:
    assert findings.trending_refresh(fresh_frame({"trending_topics": 0.25})) == [
        "The trending list was last refreshed 6 hours before this run."
    ]
    assert findings.trending_refresh(fresh_frame({"trending_topics": 28.0})) == [
        "**The trending list is stale**: it was last refreshed 28 days before this run "
        "(2026-11-01), although the app refreshes it daily."
    ]
    assert findings.trending_refresh(fresh_frame({"trending_topics": None}))[0].startswith(
        "**The trending list has never been refreshed**"
    )
    # A day and a half is within the default allowance of one missed daily run, not 28.
    assert "stale" not in findings.trending_refresh(fresh_frame({"trending_topics": 1.5}))[0]
    assert (
        "stale"
        in findings.trending_refresh(fresh_frame({"trending_topics": 1.5}), stale_after_days=1)[0]
    )


# --- row counts -----------------------------------------------------------------------


def test_row_counts_total_largest_and_empty_tables() -> None:
    counts = pd.DataFrame(
        {
            "table": ["movies", "reviews", "scenes", "awards", "pulses"],
            "rows": [200, 4000, 0, 0, 2000],
        }
    )
    assert findings.row_counts(counts) == [
        "The database holds 6,200 rows in 5 tables; the largest is `reviews` with 4,000 "
        "(64.5% of all rows).",
        "2 tables are empty: `awards` and `scenes`.",
    ]


def test_row_counts_of_an_empty_database() -> None:
    counts = pd.DataFrame({"table": ["movies", "reviews"], "rows": [0, 0]})
    assert findings.row_counts(counts) == ["**Every table is empty**: the database holds no data."]


def test_row_counts_say_an_estimate_is_one() -> None:
    """table_row_counts' default frame holds estimates: the sentences say "about"."""
    counts = pd.DataFrame(
        {"table": ["movies", "reviews", "scenes"], "rows_estimate": [200, 4000, 0]}
    )
    assert findings.row_counts(counts) == [
        "The database holds about 4,200 rows in 3 tables; the largest is `reviews` with about "
        "4,000 (95.2% of all rows).",
        "1 table is empty: `scenes`.",
        "Row counts are PostgreSQL's estimates (from the tables' statistics and size), close "
        "but not exact.",
    ]


def test_row_counts_need_a_count_column() -> None:
    with pytest.raises(ValueError, match="rows_estimate"):
        findings.row_counts(pd.DataFrame({"table": ["movies"], "n": [1]}))


# --- null shares ----------------------------------------------------------------------


def nulls_frame(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["table", "column", "rows", "nulls"])
    share = df["nulls"] / df["rows"].where(df["rows"] > 0)
    return df.assign(null_share=share.astype("float64"))


def test_null_shares_rank_by_share_not_by_count() -> None:
    nulls = nulls_frame(
        [
            # Most NULLs by count, but only 10% of a big table.
            ("reviews", "date", 100_000, 10_000),
            # Few NULLs, but most of a small table.
            ("movies", "rotten_tomatoes_score", 200, 150),
            ("movies", "critics_score", 200, 40),
            ("movies", "year", 200, 0),
            # An empty table: no share at all, not 0% nor 100%.
            ("trending_topics", "category", 0, 0),
        ]
    )
    assert findings.null_shares(nulls, top=2) == [
        "The emptiest key columns are `movies.rotten_tomatoes_score` (75.0% missing, 150 of "
        "200 rows) and `movies.critics_score` (20.0% missing, 40 of 200 rows).",
        "1 key column of 4 has no missing value; 1 column of empty tables cannot be checked.",
    ]


def test_null_shares_when_everything_is_filled_or_unknown() -> None:
    filled = nulls_frame([("movies", "year", 200, 0), ("reviews", "date", 10, 0)])
    assert findings.null_shares(filled) == [
        "Every one of the 2 key columns is filled in every row."
    ]
    empty = nulls_frame([("reviews", "date", 0, 0)])
    assert findings.null_shares(empty)[0].startswith("**No key column can be checked**")
    gappy = nulls_frame([("movies", "year", 200, 3)])
    assert findings.null_shares(gappy) == [
        "The emptiest key column is `movies.year` (1.5% missing, 3 of 200 rows).",
        "None of the 1 key column is complete.",
    ]


# --- hash audit -----------------------------------------------------------------------


def audit_frame(rows: list[tuple[str | None, int, bool]]) -> pd.DataFrame:
    """(algorithm, users, needs_rehash) per parameter set."""
    df = pd.DataFrame(rows, columns=["algorithm", "users", "needs_rehash"])
    return df.assign(share=df["users"] / df["users"].sum())


def test_hash_audit_counts_users_not_parameter_sets() -> None:
    # Two of three parameter sets are outdated, but they hold 12 of 300 users.
    audit = audit_frame([("argon2id", 288, False), ("argon2id", 9, True), (None, 3, True)])
    assert findings.hash_audit(audit) == [
        "**12 of 300 users (4.0%)** have a password hash the current parameters would replace "
        "at their next login, in 2 outdated parameter sets.",
        "3 of them have a stored value that is not a readable Argon2 hash at all.",
    ]


def test_hash_audit_all_current_and_no_users() -> None:
    assert findings.hash_audit(audit_frame([("argon2id", 300, False)])) == [
        "All 300 users have password hashes made with the current parameters: none will be "
        "replaced at login."
    ]
    assert findings.hash_audit(audit_frame([])) == [
        "There are no users, so no password hash to audit."
    ]


# --- the report's logic on the tiny demo dataset, on a day after its end --------------


def test_tiny_data_is_current_at_its_own_end_and_stale_three_weeks_later(
    tiny: Connection,
) -> None:
    at_end = overview.freshness(tiny, as_of=NOTEBOOK_AS_OF)
    assert overview.stale_sources(at_end, stale_after_days=7) == []
    assert findings.freshness(at_end, stale_after_days=7)[0].startswith(
        "Reviews and pulses are current"
    )

    later = NOTEBOOK_AS_OF + timedelta(days=21)
    fresh = overview.freshness(tiny, as_of=later)
    assert overview.stale_sources(fresh, stale_after_days=7) == ["reviews", "pulses"]
    sentences = findings.freshness(fresh, stale_after_days=7)
    assert len(sentences) == 1
    assert sentences[0].startswith("**Reviews and pulses are stale**")
    latest_pulse = tiny.execute(text("select max(created_at) from pulses")).scalar_one()
    assert f"({latest_pulse:%Y-%m-%d})" in sentences[0]
    ages = overview.age_figures(fresh)
    assert ages["pulses_age_days"] == pytest.approx(
        (later - latest_pulse) / timedelta(days=1), abs=0.01
    )
    assert ages["reviews_age_days"] is not None and ages["reviews_age_days"] > 7


def test_tiny_data_judged_by_the_clock_by_default(tiny: Connection) -> None:
    """Without an as-of, ages run to the transaction's clock, not to the data's date."""
    now, review, pulse = tiny.execute(
        text(
            "select localtimestamp, (select max(date) from reviews), "
            "(select max(created_at) from pulses)"
        )
    ).one()
    fresh = overview.freshness(tiny)
    ages = overview.age_figures(fresh, digits=6)
    for table, latest in (("reviews", review), ("pulses", pulse)):
        expected = (now - latest) / timedelta(days=1)
        assert ages[f"{table}_age_days"] == pytest.approx(expected, abs=1e-3), table
    overdue = [t for t, at in (("reviews", review), ("pulses", pulse)) if now - at > timedelta(7)]
    assert overview.stale_sources(fresh, stale_after_days=7) == overdue


def test_tiny_hash_audit_sentence_matches_the_audit(tiny: Connection) -> None:
    audit = security.password_hash_audit(tiny)
    sentence = findings.hash_audit(audit)[0]
    users = int(tiny.execute(text("select count(*) from users")).scalar_one())
    assert f"{users:,} users" in sentence


def test_null_shares_say_an_estimate_is_one() -> None:
    """null_shares' default frame holds estimates from a sample: the sentences say so."""
    nulls = nulls_frame([("movies", "year", 200, 3), ("reviews", "date", 10, 0)]).rename(
        columns={
            "rows": "rows_estimate",
            "nulls": "nulls_estimate",
            "null_share": "null_share_estimate",
        }
    )
    assert findings.null_shares(nulls) == [
        "The emptiest key column is `movies.year` (about 1.5% missing, about 3 of 200 rows).",
        "1 key column of 2 has no missing value in the sample.",
    ]
    filled = nulls[nulls["column"] == "date"]
    assert findings.null_shares(filled) == [
        "Every one of the 1 key column is filled in every sampled row."
    ]
