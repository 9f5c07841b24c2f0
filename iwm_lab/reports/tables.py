"""Tables in a report page: numbers right-aligned, text left-aligned, wide tables scroll.

JupyterLab's stylesheet right-aligns every cell, titles included. Which columns hold numbers
is not in the HTML a DataFrame or a pandas ``Styler`` writes, so it is read from the cells: a
column whose every non-blank cell reads as a number (``12,345``, ``30.3%``, ``+0.26``,
``\u22120.25``, ``1.2 \u2013 3.4``) gets the class ``iwm-num`` on its cells and header; the
template's CSS does the rest. A notebook can also mark cells itself with
``Styler.set_td_classes`` (class ``iwm-num``). Each table is wrapped in
``<div class="iwm-table">``, which scrolls sideways on a narrow screen rather than
squeezing the page.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Tag

NUMERIC_CLASS = "iwm-num"
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
