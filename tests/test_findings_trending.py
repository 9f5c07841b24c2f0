"""Findings of the trending report, from hand-built frames with the query functions' columns.

Each case is built so that the naive reading of the frame (the first row, the sum of the
listed counts, the mean day) gives a different sentence from the right one. The last tests
feed the findings what the query functions return on a real database, so a column that a
finding reads and a query does not return fails here.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import mistune
import pandas as pd
import pytest
from sqlalchemy import Connection, text

from iwm_lab import operations, rollups
from iwm_lab.findings.trending import (
    daily_spikes,
    empty_topics,
    empty_window,
    hashtag,
    leaders,
    risers,
)
from iwm_lab.queries import trending

END = datetime(2026, 11, 29, 6, 0)
START = END - timedelta(days=7)


def totals(pulses: int = 1000, tagged: int = 100, tags: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start": [pd.Timestamp(START)],
            "end": [pd.Timestamp(END)],
            "pulses": [pulses],
            "tagged_pulses": [tagged],
            "tags": [tags],
        }
    ).astype(trending.TOTAL_COLUMNS)


def counts(rows: list[tuple[str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"tag": [t for t, _ in rows], "category": "movie", "count": [c for _, c in rows]}
    ).astype(trending.COUNT_COLUMNS)


def well_formed(sentences: list[str]) -> None:
    assert 1 <= len(sentences) <= 2
    for sentence in sentences:
        assert sentence[0].isupper() or sentence[0].isdigit() or sentence[0] == "#", sentence
        assert sentence.endswith("."), sentence
        assert "nan" not in sentence.lower().split(), sentence


# --- leaders ------------------------------------------------------------------------------


def test_leaders_share_is_of_tagged_pulses_not_of_the_listed_counts() -> None:
    # 100 tagged pulses, many with several tags: the listed counts add up to 150.
    found = leaders(counts([("cinema", 40), ("dune", 60), ("oscars", 50)]), totals(tagged=100))
    well_formed(found)
    first, second = found
    assert first.startswith("#dune led in the 7 days up to 2026-11-29 06:00")
    assert "60 of the 100 tagged pulses (60.0%)" in first
    assert "40.0%" not in first  # 60 of the 150 listed mentions: the naive share
    assert second == "Next came #oscars (50.0%) and #cinema (40.0%), out of 40 tags used in all."


def test_leaders_name_every_tag_tied_for_the_lead() -> None:
    found = leaders(counts([("b", 30), ("a", 30), ("c", 10)]), totals(), category="movie")
    well_formed(found)
    assert found[0].startswith("#a and #b tied for the lead among the movie tags")
    assert "each is in 30 of the 100 tagged pulses (30.0%)" in found[0]
    assert found[1].startswith("Next came #c (10.0%)")


def test_leaders_of_nothing_say_nothing() -> None:
    assert leaders(counts([]), totals(pulses=0, tagged=0, tags=0)) == []


def test_tags_cannot_inject_markup() -> None:
    """Rendered as nbconvert renders Markdown outputs (mistune), a tag stays literal text."""
    hostile = "<img src=x onerror=alert(1)>*bold*_[link](x)`"
    found = leaders(counts([(hostile, 5)]), totals())
    html = mistune.html(found[0])
    assert isinstance(html, str)
    assert "<img" not in html and "<em>" not in html and "<a " not in html and "<code>" not in html
    assert "#&lt;img src=x onerror=alert(1)&gt;*bold*_[link](x)`" in html
    assert hashtag("dune") == "#dune"


# --- risers -------------------------------------------------------------------------------


def rising(rows: list[tuple[str, int, int]], window: int = 7, baseline: int = 28) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["tag", "window_count", "baseline_count"])
    df["window_rate"] = df["window_count"] / window
    df["baseline_rate"] = df["baseline_count"] / baseline
    df["growth"] = df["window_rate"] / df["baseline_rate"]
    return df.astype(trending.RISING_COLUMNS)


def new(rows: list[tuple[str, int]], window: int = 7) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["tag", "window_count"])
    df["window_rate"] = df["window_count"] / window
    return df.astype(trending.NEW_COLUMNS)


def test_risers_name_the_biggest_growth_not_the_busiest_tag_nor_a_new_one() -> None:
    """The issue's case. #regular has more pulses and a higher rate per day (30 in 7 days
    against 14), and comes first in this frame; the new tags would top a combined list."""
    established = rising([("regular", 30, 20), ("riser", 14, 1)])
    newcomers = new([(f"new{i:02d}", 3) for i in range(12)])
    found = risers(established, newcomers, window_days=7, baseline_days=28, min_count=3)
    well_formed(found)
    first, second = found
    assert first == (
        "Among established tags, #riser rose the most: from 1 pulse in the 28 days before "
        "(0.04 a day) to 14 in the last 7 days (2.00 a day), 56 times the rate."
    )
    assert second == (
        "12 tags unused in the 28 days before are new in the last 7 days, with 3 pulses each: "
        "#new00, #new01, #new02 and 9 more."
    )


def test_risers_when_new_tags_differ_in_size() -> None:
    found = risers(
        rising([("up", 10, 14)]),
        new([("small", 3), ("big", 9), ("mid", 5), ("tiny", 3)]),
        window_days=7,
        baseline_days=28,
    )
    well_formed(found)
    assert "#up rose the most: from 14 pulses" in found[0]
    assert "(0.50 a day) to 10 in the last 7 days (1.43 a day), 2.9 times the rate" in found[0]
    assert found[1] == (
        "4 tags unused in the 28 days before are new in the last 7 days, led by "
        "#big (9 pulses), #mid (5 pulses) and #small (3 pulses)."
    )


def test_a_rare_tag_s_rate_does_not_read_as_zero() -> None:
    found = risers(
        rising([("rare", 5, 1)], baseline=365), new([]), window_days=7, baseline_days=365
    )
    assert "from 1 pulse in the 365 days before (0.003 a day) to 5 in the last 7 days" in found[0]


def test_risers_with_a_single_new_tag() -> None:
    found = risers(rising([]), new([("premiere", 4)]), window_days=7, baseline_days=28)
    well_formed(found)
    assert found[1] == (
        "1 tag unused in the 28 days before is new in the last 7 days: #premiere, with 4 pulses."
    )


def test_risers_say_so_when_nothing_rises_and_nothing_is_new() -> None:
    found = risers(rising([]), new([]), window_days=7, baseline_days=28, min_count=5)
    well_formed(found)
    assert found == [
        "No established tag with at least 5 pulses was used more per day in the last 7 days "
        "than in the 28 days before.",
        "No tag with at least 5 pulses in the last 7 days is new: each was used in the "
        "28 days before too.",
    ]


# --- daily spikes -------------------------------------------------------------------------


def series(values: dict[str, list[int]]) -> pd.DataFrame:
    rows = [
        (day, tag, count)
        for tag, counts_ in values.items()
        for day, count in zip(
            pd.date_range("2026-10-01", periods=len(counts_)), counts_, strict=True
        )
    ]
    df = pd.DataFrame(rows, columns=["period", "tag", "count"])
    return df.sort_values(["period", "tag"]).astype(trending.SERIES_COLUMNS)


def burst(peak: int, day: int = 24, base: list[int] | None = None) -> list[int]:
    values = list(base) if base is not None else [0] * 30
    values[day] = peak
    return values


def test_every_leading_tag_jumping_on_one_day() -> None:
    """The issue's case: the leading tags go from nothing to ~150 a day on 2026-10-25."""
    quiet = [0] * 30
    quiet[3] = 2  # a little noise: the typical day stays 0
    found = daily_spikes(
        series({"dune": burst(152, base=quiet), "oscars": burst(148), "ipl": burst(150)})
    )
    well_formed(found)
    assert found == [
        "On 2026-10-25 every one of the 3 leading tags jumped from a typical day (the median) "
        "of 0 pulses to 148\u2013152."
    ]


def test_a_surge_of_several_days_is_a_spike_against_the_median_not_the_mean() -> None:
    values = [0] * 5 + [150] * 4  # four days of 150 among nine
    mean = sum(values) / len(values)
    assert 3 * mean > 150  # against the mean, no day would stand out
    found = daily_spikes(series({"dune": values}))
    well_formed(found)
    assert found == [
        "#dune jumped to 150 pulses on 2026-10-06, against a typical day (the median) of 0, "
        "and stayed up for 4 days, through 2026-10-09."
    ]


def test_the_jump_is_dated_where_it_starts_not_at_its_busiest_day() -> None:
    """The demo's shape: the leading tags surge on 2026-10-25 and peak on the 31st."""
    surge = [0] * 24 + [120, 130, 125, 140, 135, 150, 180]
    found = daily_spikes(
        series(
            {
                "dune": surge,
                "oscars": [v + 5 if v else 0 for v in surge],
                "wild": [20] * 20 + [90] + [20] * 3 + [100] * 7,
            }
        )
    )
    well_formed(found)
    assert found == [
        "On 2026-10-25 every one of the 3 leading tags jumped from a typical day (the median) "
        "of 0\u201320 pulses to 100\u2013125, and stayed up for 7 days, through 2026-10-31.",
        "Leading tags also spiked on 1 other day: 2026-10-21 (#wild).",
    ]


def test_an_ordinary_busy_day_after_an_outage_is_no_spike() -> None:
    values = [100] * 20 + [0] * 8 + [250]  # the empty days drag the mean down to 78
    mean = sum(values) / len(values)
    assert 3 * mean <= 250  # against the mean, the last day would be a spike
    found = daily_spikes(series({"dune": values}))
    assert found == [
        "No leading tag had a day far above its typical one (at least 3.0 times its median "
        "day and 10 pulses)."
    ]


def test_small_jumps_are_not_spikes_and_some_tags_are_named() -> None:
    found = daily_spikes(
        series({"a": burst(40, day=10), "b": burst(60, day=10), "c": burst(5, day=10)})
    )
    well_formed(found)
    assert found == [
        "On 2026-10-11 2 of the 3 leading tags (#b and #a) jumped from a typical day (the "
        "median) of 0 pulses to 40\u201360."
    ]


def test_no_series_no_spikes() -> None:
    assert daily_spikes(series({})) == []


# --- why a window is empty ----------------------------------------------------------------

EMPTY = totals(pulses=0, tagged=0, tags=0)


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (
            (datetime(2025, 1, 1), datetime(2026, 11, 1)),
            "No pulses between 2026-11-22 06:00 and 2026-11-29 06:00; the latest is from "
            "2026-11-01, 28 days before the window ends.",
        ),
        (
            (datetime(2027, 1, 28, 6, 0), datetime(2027, 3, 1)),
            "No pulses between 2026-11-22 06:00 and 2026-11-29 06:00; the earliest is from "
            "2027-01-28 06:00, 60 days after the window ends.",
        ),
        (
            (datetime(2025, 1, 1), datetime(2027, 3, 1)),
            "No pulses between 2026-11-22 06:00 and 2026-11-29 06:00, although there are "
            "pulses before and after it (from 2025-01-01 to 2027-03-01): the data has a gap "
            "there.",
        ),
        (
            (None, None),
            "No pulses between 2026-11-22 06:00 and 2026-11-29 06:00: there are no pulses at all.",
        ),
    ],
    ids=["data-ends-before", "data-starts-after", "gap", "no-pulses"],
)
def test_empty_window_says_where_the_pulses_are(
    span: tuple[datetime | None, datetime | None], expected: str
) -> None:
    assert empty_window(EMPTY, span) == [expected]


def test_empty_window_with_pulses_but_no_tag_or_none_of_the_category() -> None:
    span = (datetime(2025, 1, 1), END)
    assert empty_window(totals(pulses=12, tagged=0, tags=0), span) == [
        "None of the 12 pulses between 2026-11-22 06:00 and 2026-11-29 06:00 carries a hashtag."
    ]
    found = empty_window(totals(pulses=12, tagged=9, tags=4), span, category="event")
    well_formed(found)
    assert found[0].startswith("No tag of the category event between 2026-11-22 06:00 and ")
    assert "the 9 tagged pulses of the window use other tags" in found[0]
    assert empty_window(totals(pulses=12, tagged=9, tags=4), span) == []


def refreshes(rows: list[tuple[str, datetime, datetime, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(trending.REFRESH_COLUMNS)).astype(
        trending.REFRESH_COLUMNS
    )


def test_empty_stored_list_says_when_and_for_what_it_was_refreshed() -> None:
    ran = datetime(2026, 11, 29, 0, 0, 5)
    data = (datetime(2025, 1, 1), datetime(2026, 11, 1))
    found = empty_topics(refreshes([("7d", ran, ran, 0)]), window="7d", span=data)
    well_formed(found)
    assert found == [
        "The stored 7d trending list is empty: its last refresh, at 2026-11-29 00:00, counted "
        "the 7 days up to 2026-11-29 00:00 and found no tagged pulse.",
        "The latest pulse is from 2026-11-01, 28 days before that as-of.",
    ]
    early = datetime(2024, 6, 1)
    found = empty_topics(refreshes([("30d", early, ran, 0)]), window="30d", span=data)
    assert found[1] == (
        "Pulses up to 2026-11-01 came after that as-of; the next refresh counts them."
    )
    assert empty_topics(refreshes([("30d", ran, ran, 0)]), window="7d", span=data) == [
        "The stored 7d trending list has not been refreshed yet, so it is empty."
    ]
    assert empty_topics(refreshes([("7d", ran, ran, 12)]), window="7d", span=data) == []


# --- from the query functions on a real database ------------------------------------------


@pytest.fixture
def conn(conn: Connection) -> Connection:
    conn.execute(text("delete from trending_topics"))
    conn.execute(text("delete from trending_refreshes"))
    conn.execute(text("delete from pulses"))
    return conn


def add(conn: Connection, tags: list[str], at: datetime) -> None:
    conn.execute(
        text("insert into pulses (content_text, hashtags, created_at) values ('p', :h, :at)"),
        {"h": json.dumps(tags), "at": at},
    )


def test_findings_from_the_queries_on_the_issues_case(conn: Connection) -> None:
    day = timedelta(days=1)
    for i in range(8):
        for hours in (5, 30, 60):
            add(conn, [f"#new{i}", "#dune"], END - timedelta(hours=hours))
    add(conn, ["#Riser"], END - 20 * day)
    for i in range(14):
        add(conn, ["#Riser", "#dune"], END - timedelta(hours=3 + 11 * i))
    for i in range(20):
        add(conn, ["#Regular"], END - 8 * day - timedelta(hours=30 * i))
    for i in range(30):
        add(conn, ["#Regular"], END - timedelta(hours=2 + 5 * i))
    for i in range(160):  # #dune is a regular too: 160 in 28 days, then 38 in 7 (fewer a day)
        add(conn, ["#dune"], END - 8 * day - timedelta(hours=4 * i))
    operations.refresh_rollups_in(conn, rollups.SOURCES["pulses"], concurrently=False)
    periods = {"window_days": 7, "baseline_days": 28, "min_count": 3}
    found = risers(
        trending.rising_tags(conn, **periods, as_of=END, limit=5),
        trending.new_tags(conn, **periods, as_of=END),
        **periods,
    )
    assert found[0].startswith("Among established tags, #riser rose the most: from 1 pulse")
    assert found[1].startswith("8 tags unused in the 28 days before are new")

    top = leaders(trending.hashtag_counts(conn, as_of=END), trending.window_totals(conn, as_of=END))
    # #dune is in 38 of the 68 tagged pulses; its 38 are not 38 of the 106 listed mentions.
    assert top[0].startswith("#dune led in the 7 days up to 2026-11-29 06:00: it is in 38 of ")
    assert "38 of the 68 tagged pulses (55.9%)" in top[0]

    later = END + 40 * day
    window = trending.window_totals(conn, as_of=later)
    assert trending.hashtag_counts(conn, as_of=later).empty
    assert empty_window(window, trending.pulse_span(conn)) == [
        "No pulses between 2027-01-01 06:00 and 2027-01-08 06:00; the latest is from "
        "2026-11-29 04:00, 40 days before the window ends."
    ]
    assert operations.refresh_trending_topics(conn, window="7d", as_of=later).empty
    stored = empty_topics(
        trending.trending_refreshes(conn), window="7d", span=trending.pulse_span(conn)
    )
    assert stored[0].startswith("The stored 7d trending list is empty: its last refresh, at ")
    assert "counted the 7 days up to 2027-01-08 06:00 and found no tagged pulse." in stored[0]
    assert stored[1] == "The latest pulse is from 2026-11-29 04:00, 40 days before that as-of."
