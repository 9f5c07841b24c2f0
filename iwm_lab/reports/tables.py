"""Tables in a report page: numbers right-aligned, text left-aligned, wide tables scroll,
and each one's data downloadable as CSV.

JupyterLab's stylesheet right-aligns every cell, titles included. Which columns hold numbers
is not in the HTML a DataFrame or a pandas ``Styler`` writes, so it is read from the cells: a
column whose every non-blank cell reads as a number (``12,345``, ``30.3%``, ``+0.26``,
``\u22120.25``, ``1.2 \u2013 3.4``) gets the class ``iwm-num`` on its cells and header; the
template's CSS does the rest. A notebook can also mark cells itself with
``Styler.set_td_classes`` (class ``iwm-num``). Each table is wrapped in
``<div class="iwm-table">``, which scrolls sideways on a narrow screen rather than
squeezing the page.

A table made by :func:`iwm_lab.tables.table` carries its data (see
:data:`~iwm_lab.tables.TABLE_METADATA`); the page shows a "Download CSV" link under it, to
``tables/<nn>-<caption as a slug>.csv`` beside the page, numbered in page order, written by
:func:`write_table_files` into the run's staging folder with the page.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup, Tag

from iwm_lab.tables import CSV_LIMIT_BYTES, TABLE_METADATA

NUMERIC_CLASS = "iwm-num"
TABLES_DIR = "tables"
_SLUG_LENGTH = 60
_NUMBER = r"[+\-\u2212]?[$\u20ac\u00a3\u20b9]?\d[\d,]*(?:\.\d+)?(?:\s?(?:%|\u00d7|x|k|M|bn))?"
_NUMERIC = re.compile(
    rf"^\(?{_NUMBER}(?:\s*(?:\u2013|\u2014|-|to|,)\s*{_NUMBER})?\)?$", re.IGNORECASE
)


def is_numeric(text: str) -> bool:
    """Whether a cell's text reads as a number, a percentage, a signed gap or a range."""
    return bool(_NUMERIC.match(text.strip().replace("\u00a0", " ")))


def _span(cell: Tag, name: str) -> int:
    value = cell.get(name)
    try:
        return max(int(str(value)), 1) if value is not None else 1
    except ValueError:
        return 1


def _grid(table: Tag) -> list[list[Tag]] | None:
    """The table's rows as lists of cells, one per column; None when cells span rows."""
    rows = []
    for row in table.find_all("tr"):
        cells: list[Tag] = []
        for cell in row.find_all(["td", "th"], recursive=False):
            if _span(cell, "rowspan") > 1:
                return None
            cells += [cell] * _span(cell, "colspan")
        rows.append(cells)
    return rows


def _mark_numeric_columns(table: Tag) -> None:
    grid = _grid(table)
    if not grid:
        return
    body = [row for row in grid if row and row[0].find_parent("thead") is None]
    for column in range(max(len(row) for row in grid)):
        values = [
            row[column]
            for row in body
            if column < len(row) and row[column].name == "td" and row[column].get_text(strip=True)
        ]
        if values and all(is_numeric(cell.get_text()) for cell in values):
            for row in grid:
                # A heading spanning several columns is over more than this one.
                if column < len(row) and _span(row[column], "colspan") == 1:
                    classes = row[column].get_attribute_list("class")
                    if NUMERIC_CLASS not in classes:
                        row[column]["class"] = " ".join([*filter(None, classes), NUMERIC_CLASS])


def format_tables(html: str) -> str:
    """``html`` with its tables' numeric columns marked and each table wrapped to scroll."""
    if "<table" not in html:
        return html
    soup = BeautifulSoup(html, "html.parser")
    for table in soup.find_all("table"):
        _mark_numeric_columns(table)
        wrapper = soup.new_tag("div", attrs={"class": "iwm-table"})
        table.wrap(wrapper)
    return str(soup)


@dataclass(frozen=True)
class TableFile:
    """A table's CSV file: its path relative to the page, and its text (None when the table
    was over :data:`~iwm_lab.tables.CSV_LIMIT_BYTES` and not attached)."""

    name: str
    caption: str | None
    rows: int
    size: int
    csv: str | None


def table_data(output: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The data a table's display output carries, if it is one with a page to show."""
    found = (output.get("metadata") or {}).get(TABLE_METADATA)
    shown = (output.get("data") or {}).get("text/html")
    return found if isinstance(found, Mapping) and isinstance(shown, str | list) else None


def slug(caption: str | None) -> str:
    """A caption as a file name part: ASCII letters and digits joined by ``-``; ``table``
    when nothing is left (no caption, or no Latin letters)."""
    text = unicodedata.normalize("NFKD", caption or "").encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text[:_SLUG_LENGTH].rstrip("-") or "table"


def table_files(
    found: Sequence[Mapping[str, Any]], *, headings: Sequence[str | None] = ()
) -> list[TableFile]:
    """One file per table, in page order: ``tables/01-<slug>.csv``, the slug of its caption,
    else of the heading above it (``headings``, one per table); the number keeps tables of the
    same name apart."""
    width = max(2, len(str(len(found))))
    files = []
    for number, data in enumerate(found, start=1):
        csv, caption = data.get("csv"), data.get("caption")
        caption = caption if isinstance(caption, str) else None
        heading = headings[number - 1] if number <= len(headings) else None
        files.append(
            TableFile(
                name=f"{TABLES_DIR}/{number:0{width}d}-{slug(caption or heading)}.csv",
                caption=caption,
                rows=int(data.get("rows") or 0),
                size=int(data.get("bytes") or 0),
                csv=csv if isinstance(csv, str) else None,
            )
        )
    return files


def download_link(file: TableFile) -> str:
    """The HTML under a table: a relative link to its CSV, or why there is none."""
    if file.csv is None:
        limit = CSV_LIMIT_BYTES // 2**20
        return (
            '<p class="iwm-download">No CSV attached: the data is '
            f"{file.size / 2**20:.1f} MB, over the {limit} MB limit.</p>"
        )
    rows = f"{file.rows:,} row{'s' if file.rows != 1 else ''}"
    href = html.escape(file.name, quote=True)
    return f'<p class="iwm-download"><a href="{href}" download>Download CSV</a> ({rows})</p>'


def write_table_files(files: Iterable[TableFile], folder: Path) -> list[Path]:
    """Write the CSVs into ``folder/tables/``, all or none: they are written in a scratch
    folder renamed into place. UTF-8 with a byte order mark, which spreadsheet programs
    need to read non-ASCII text as such."""
    attached = [(file.name, file.csv) for file in files if file.csv is not None]
    if not attached:
        return []
    scratch = folder / f".{TABLES_DIR}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        for name, text in attached:
            (scratch / Path(name).name).write_text(text, encoding="utf-8-sig", newline="")
        os.rename(scratch, folder / TABLES_DIR)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return [folder / name for name, _ in attached]
