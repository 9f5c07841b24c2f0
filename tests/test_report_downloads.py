"""Every table a report page shows can be downloaded: a CSV beside the page, linked under it.

One run of a small report on the tiny dataset (a kernel costs seconds): a table from a query
function, a table of awkward text (commas, quotes, line breaks, non-ASCII) under a caption
with a comma and non-ASCII, two tables of one caption, one without a caption, and one in a
``report-hide`` cell. Each CSV must hold the data the test built or queried, raw, under the
page's headers. The rest (sizes, atomic writes, names) needs no kernel.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup, Tag
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from iwm_lab import tables
from iwm_lab.queries import ratings
from iwm_lab.reports.html import prepare_for_html, shown_tables
from iwm_lab.reports.runner import RunResult, run_report
from iwm_lab.reports.schedule import load_schedule
from iwm_lab.reports.tables import TABLES_DIR, slug, table_files, write_table_files
from iwm_lab.settings import get_settings
from iwm_lab.tables import TABLE_METADATA, header, table

TOP_N = 4
MIN_REVIEWS = 2
TOP_COLUMNS = ["title", "year", "reviews", "weighted_rating"]
TOP_CAPTION = "Top rated"
AWKWARD_CAPTION = "Séries, à revoir «2026»"
HIDDEN_CAPTION = "Hidden from readers"
AWKWARD = {
    "movie": ['Heat, "director\'s cut"', "Amélie\nPoulain", "東京物語", "Plain"],
    "mean_gap": [0.123456789012, -1.5, np.nan, 0.0],
    "votes": [1, 22222, 333, 4],
}

PARAMETERS = f"""\
from typing import Optional

as_of: Optional[str] = None
top_n: int = {TOP_N}
"""
SETUP = f"""\
import numpy as np
import pandas as pd

import iwm_lab
from iwm_lab.queries import ratings
from iwm_lab.tables import table

conn = iwm_lab.connect()
top = ratings.top_rated(conn, min_reviews={MIN_REVIEWS}, limit=top_n)
nan = np.nan
awkward = pd.DataFrame({AWKWARD!r})
"""


def _notebook(path: Path) -> None:
    hide = {"tags": ["report-hide"]}
    top = f"table(top, columns={TOP_COLUMNS!r}, caption={TOP_CAPTION!r})"
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# Downloads", metadata=hide),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(SETUP),
        new_code_cell(top),
        new_code_cell(f"table(awkward, caption={AWKWARD_CAPTION!r})"),
        new_code_cell(f"table(awkward, caption={HIDDEN_CAPTION!r})", metadata=hide),
        new_markdown_cell("Votes, as the readers see them.\n\n## Votes by movie"),
        new_code_cell(f"display({top})\ntable(awkward, columns=['votes', 'movie'])"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_url: URL) -> Iterator[RunResult]:
    folder = tmp_path_factory.mktemp("downloads")
    _notebook(folder / "downloads.ipynb")
    (folder / "schedule.toml").write_text(
        '[reports.downloads]\nnotebook = "downloads.ipynb"\ncron = "0 0 1 1 *"\n'
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IWM_DATABASE_URL", tiny_url.render_as_string(hide_password=False))
        get_settings.cache_clear()
        schedule = load_schedule(folder / "schedule.toml", folder / "output")
        [result] = run_report(schedule, "downloads", progress_bar=False)
    get_settings.cache_clear()
    assert result.ok, result.record.error
    yield result


def _expected(tiny: Connection) -> dict[str | None, pd.DataFrame]:
    """The data behind each caption, under the readers' headers, as the test knows it."""
    top = ratings.top_rated(tiny, min_reviews=MIN_REVIEWS, limit=TOP_N)[TOP_COLUMNS]
    awkward = pd.DataFrame(AWKWARD)
    return {
        TOP_CAPTION: top.rename(columns=header),
        AWKWARD_CAPTION: awkward.rename(columns=header),
        None: awkward[["votes", "movie"]].rename(columns=header),
    }


def _shown(page: Path) -> list[tuple[Tag, str]]:
    """Each data table of the page and the link under it."""
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    found = []
    for shown in soup.find_all("table", class_="iwm-data"):
        link = shown.find_next("p", class_="iwm-download")
        assert link is not None and link.a is not None and link.a.get_text() == "Download CSV"
        found.append((shown, str(link.a["href"])))
    return found


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig")


@pytest.mark.kernel
@pytest.mark.parametrize("moved", [False, True], ids=["in-place", "folder-copied"])
def test_each_shown_table_links_to_a_csv_of_its_data(
    run: RunResult, tiny: Connection, tmp_path: Path, moved: bool
) -> None:
    assert run.run_dir is not None
    folder = run.run_dir
    if moved:  # the links are relative: a copied folder keeps working
        folder = Path(shutil.copytree(run.run_dir, tmp_path / "copy"))
    expected = _expected(tiny)
    assert len(expected[TOP_CAPTION]) == TOP_N
    shown = _shown(folder / "downloads.html")
    captions = [t.caption.get_text() if t.caption else None for t, _ in shown]
    assert captions == [TOP_CAPTION, AWKWARD_CAPTION, TOP_CAPTION, None]
    for (element, href), caption in zip(shown, captions, strict=True):
        data = _read(folder / href)
        headers = [th.get_text() for th in element.select("thead th")]
        assert list(data.columns) == headers
        assert len(data) == len(element.select("tbody tr"))
        pd.testing.assert_frame_equal(data, expected[caption], check_dtype=False)
    hrefs = [href for _, href in shown]
    assert len(set(hrefs)) == len(hrefs)  # one caption twice: two files
    assert sorted(hrefs) == sorted(
        f"{TABLES_DIR}/{p.name}" for p in (folder / TABLES_DIR).iterdir()
    )


@pytest.mark.kernel
def test_file_names_are_numbered_ascii_slugs_of_the_captions(run: RunResult) -> None:
    assert run.run_dir is not None
    names = sorted(p.name for p in (run.run_dir / TABLES_DIR).iterdir())
    assert names == [
        "01-top-rated.csv",
        "02-series-a-revoir-2026.csv",
        "03-top-rated.csv",
        "04-votes-by-movie.csv",  # no caption: the heading above it names the file
    ]
    raw = (run.run_dir / TABLES_DIR / names[1]).read_bytes()
    # A byte order mark for spreadsheets; quoting keeps the comma, quote and line break.
    assert raw.startswith(b"\xef\xbb\xbf") and "東京物語".encode() in raw
    assert b'"Heat, ""director\'s cut"""' in raw and b'"Am\xc3\xa9lie\nPoulain"' in raw


@pytest.mark.kernel
def test_hidden_tables_are_neither_shown_nor_exported(run: RunResult) -> None:
    assert run.run_dir is not None
    page = (run.run_dir / "downloads.html").read_text(encoding="utf-8")
    assert HIDDEN_CAPTION not in page
    assert not list(run.run_dir.glob(f"{TABLES_DIR}/*{slug(HIDDEN_CAPTION)}*"))
    # The executed notebook still has it, with its data: only the page leaves it out.
    nb = nbformat.read(run.run_dir / "downloads.ipynb", as_version=4)
    carried = [
        o.metadata[TABLE_METADATA]["caption"]
        for c in nb.cells
        for o in c.get("outputs", [])
        if TABLE_METADATA in o.get("metadata", {})
    ]
    assert HIDDEN_CAPTION in carried and len(carried) == 5
    assert run.record.files == sorted(["downloads.html", "downloads.ipynb", TABLES_DIR])


# Without a kernel ---------------------------------------------------------------------------


def _table_notebook(*shown: tables.Table) -> nbformat.NotebookNode:
    """A notebook whose cells show these tables, as a kernel would have stored them."""
    nb = new_notebook()
    for number, item in enumerate(shown, start=1):
        data, metadata = item._repr_mimebundle_()
        output = new_output(
            "execute_result",
            data={**data, "text/plain": repr(item)},
            metadata=metadata,
            execution_count=number,
        )
        nb.cells.append(new_code_cell("table(...)", outputs=[output], execution_count=number))
    return nb


@pytest.mark.slow
def test_a_table_over_the_size_limit_is_shown_without_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = table(pd.DataFrame(AWKWARD), caption="small")
    big_frame = pd.DataFrame({"n": range(5000)})
    monkeypatch.setattr(tables, "CSV_LIMIT_BYTES", len(table(big_frame).to_csv()) - 1)
    big = table(big_frame, caption="big")
    metadata: dict[str, Any] | None = big.metadata()
    assert metadata is not None and "csv" not in metadata and metadata["rows"] == 5000
    nb = _table_notebook(small, big)
    files = shown_tables(nb)
    assert [f.csv is not None for f in files] == [True, False]
    page = "".join(o.data["text/html"] for c in prepare_for_html(nb)[0].cells for o in c.outputs)
    assert page.count("Download CSV") == 1 and page.count("No CSV attached") == 1
    assert write_table_files(files, tmp_path) == [tmp_path / files[0].name]
    assert [p.name for p in (tmp_path / TABLES_DIR).iterdir()] == ["01-small.csv"]


def test_csv_files_are_written_all_or_none(tmp_path: Path) -> None:
    nb = _table_notebook(table(pd.DataFrame(AWKWARD)), table(pd.DataFrame(AWKWARD)))
    (tmp_path / TABLES_DIR).write_text("in the way")  # the final rename must fail
    with pytest.raises(OSError):
        write_table_files(shown_tables(nb), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [TABLES_DIR]
    assert write_table_files([], tmp_path / "nowhere") == []


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        (None, "table"),
        ("", "table"),
        ("東京物語", "table"),
        ("Top 10: IMDb vs. users (%)", "top-10-imdb-vs-users"),
        ("../../etc/passwd", "etc-passwd"),
        ("x" * 100, "x" * 60),
    ],
)
def test_slugs_are_safe_file_name_parts(caption: str | None, expected: str) -> None:
    assert slug(caption) == expected


def test_a_table_without_caption_or_heading_is_a_table() -> None:
    files = table_files(
        [{"caption": None}, {"caption": "Top rated"}, {"caption": None}],
        headings=[None, "Ignored: the caption wins", "Gaps in DE"],
    )
    assert [f.name for f in files] == [
        f"{TABLES_DIR}/01-table.csv",
        f"{TABLES_DIR}/02-top-rated.csv",
        f"{TABLES_DIR}/03-gaps-in-de.csv",
    ]
