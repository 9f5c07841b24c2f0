"""Tables for readers: headers, formats, blanks, no index, stable HTML."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from iwm_lab import formatting
from iwm_lab.tables import TABLE_METADATA, header, table


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mean_gap", "Mean gap"),
        ("imdb_rating", "IMDb rating"),
        ("ci_low", "CI low"),
        ("movies", "Movies"),
        ("iwm_score", "iwm score"),
    ],
)
def test_header_reads_as_words(name: str, expected: str) -> None:
    assert header(name) == expected


FRAME = pd.DataFrame(
    {
        "region": ["US", "IN"],
        "movies": pd.array([12345, 7], dtype="Int64"),
        "coverage_share": [0.3034, np.nan],
        "mean_gap": [0.256, -0.251],
        "mean_rating": [7.123, np.nan],
        "is_new": [True, False],
        "latest": pd.to_datetime(["2026-11-01", "2026-10-31 06:30"], format="ISO8601"),
        "age": [timedelta(days=29, hours=2), timedelta(hours=5)],
    },
    index=[5, 9],
)


def test_cells_are_formatted_for_readers() -> None:
    cells = table(FRAME).cells
    assert list(cells.columns) == [
        "Region",
        "Movies",
        "Coverage share",
        "Mean gap",
        "Mean rating",
        "Is new",
        "Latest",
        "Age",
    ]
    assert cells["Movies"].tolist() == ["12,345", "7"]
    assert cells["Coverage share"].tolist() == ["30.3%", ""]
    assert cells["Mean gap"].tolist() == ["+0.26", "\u22120.25"]
    assert cells["Mean rating"].tolist() == ["7.12", ""]
    assert cells["Is new"].tolist() == ["yes", "no"]
    assert cells["Latest"].tolist() == ["2026-11-01", "2026-10-31 06:30"]
    assert cells["Age"].tolist() == ["29 days", "5 hours"]


def test_explicit_labels_formats_and_columns_win() -> None:
    shown = table(
        FRAME,
        columns=["mean_rating", "region"],
        labels={"mean_rating": "Users' mean (0-10)"},
        formats={"mean_rating": "number:1"},
    )
    assert list(shown.cells.columns) == ["Users' mean (0-10)", "Region"]
    assert shown.cells["Users' mean (0-10)"].tolist() == ["7.1", ""]


def test_days_as_a_duration_and_a_custom_formatter() -> None:
    df = pd.DataFrame({"age_days": [28.9, 0.2], "n": [1, 2]})
    cells = table(df, formats={"age_days": "duration", "n": lambda v: f"#{v}"}).cells
    assert cells.iloc[:, 0].tolist() == ["29 days", "5 hours"]
    assert cells.iloc[:, 1].tolist() == ["#1", "#2"]


def test_html_hides_the_index_and_is_stable() -> None:
    first, second = table(FRAME, caption="Watchable by region").to_html(), table(FRAME).to_html()
    assert first == table(FRAME, caption="Watchable by region").to_html()  # no random ids
    assert "Watchable by region" in first and "Watchable" not in second
    assert 'class="iwm-data"' in first
    # The frame's own index (5, 9) is not a column of the page.
    assert ">5<" not in first and ">9<" not in first
    assert "nan" not in first.lower().replace("nanoseconds", "")
    assert "text-align: right" in first


def test_text_form_has_the_same_cells() -> None:
    text = repr(table(FRAME, columns=["region", "coverage_share"]))
    assert "30.3%" in text and "US" in text and "NaN" not in text
    assert repr(table(FRAME.iloc[:0])) == "(no rows)"


def test_the_display_carries_the_raw_data_of_the_shown_columns() -> None:
    from IPython.core.formatters import DisplayFormatter

    shown = table(FRAME, columns=["region", "coverage_share", "mean_gap"], caption="Gaps, é")
    data, metadata = DisplayFormatter().format(shown)
    # What readers and nbval see is unchanged: the Styler's HTML and the aligned text.
    assert data == {"text/html": shown.to_html(), "text/plain": repr(shown)}
    carried = metadata[TABLE_METADATA]
    assert carried["caption"] == "Gaps, é" and carried["rows"] == len(FRAME)
    assert carried["columns"] == 3 and carried["bytes"] == len(carried["csv"].encode())
    csv = pd.read_csv(io.StringIO(carried["csv"]))
    expected = FRAME[["region", "coverage_share", "mean_gap"]].reset_index(drop=True)
    # Full precision, not "30.3%" or "+0.26"; the frame's index is not a column.
    pd.testing.assert_frame_equal(csv, expected.rename(columns=header), check_dtype=False)


def test_a_table_made_without_data_has_nothing_to_download() -> None:
    from IPython.core.formatters import DisplayFormatter

    bare = table(FRAME)
    bare.data = None
    assert bare.metadata() is None and DisplayFormatter().format(bare)[1] == {}
    with pytest.raises(ValueError, match="without its data"):
        bare.to_csv()


def test_unknown_columns_and_formats_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown column.*'nope'.*the frame has: region"):
        table(FRAME, columns=["nope"])
    with pytest.raises(ValueError, match="unknown table format 'money'"):
        table(FRAME, formats={"movies": "money"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(28.9, "29 days"), (400, "1 year"), (1 / 24, "1 hour"), (0.0001, "less than a minute")],
)
def test_durations_in_words(value: float, expected: str) -> None:
    assert formatting.duration(value) == expected


@pytest.mark.parametrize(
    ("days", "expected"), [(0.0243, "35 minutes ago"), (-1084.0, "in 2 years"), (None, "")]
)
def test_ages_say_ago_or_ahead(days: float | None, expected: str) -> None:
    assert formatting.age(days) == expected
    if days is not None:
        df = pd.DataFrame({"age_days": [days]})
        assert table(df, formats={"age_days": "age"}).cells.iloc[0, 0] == expected


def test_moment_drops_a_midnight_time() -> None:
    assert formatting.moment(datetime(2026, 11, 1)) == "2026-11-01"
    assert formatting.moment(pd.NaT) == ""


@pytest.mark.parametrize(
    ("items", "expected"),
    [([], ""), (["US"], "US"), (["US", "IN"], "US and IN"), (["a", "b", "c"], "a, b and c")],
)
def test_listing_joins_as_a_sentence_does(items: list[str], expected: str) -> None:
    assert formatting.listing(items) == expected
    assert formatting.listing(["a", "b"], "or") == "a or b"


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (11, "11th"),
        (12, "12th"),
        (22, "22nd"),
        (1001, "1,001st"),
    ],
)
def test_ordinals(n: int, expected: str) -> None:
    assert formatting.ordinal(n) == expected
