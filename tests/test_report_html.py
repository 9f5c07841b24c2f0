"""The HTML page of a report, from notebooks built in memory (no kernel, no database):
``report-hide`` cells, tables for readers, plotly.js referenced or inlined, the as-of line."""

from __future__ import annotations

import re

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from iwm_lab.reports.html import PLOTLY_MIMETYPE, ReportHeader, export_html, prepare_for_html
from iwm_lab.reports.render import as_of_for_readers
from iwm_lab.reports.tables import format_tables, is_numeric

HIDE = {"tags": ["report-hide"]}
HEADER = ReportHeader("Ratings", "ratings", "run-1", "2026-11-29 06:00:03", "1 s", "0003", "now")


def html_output(html: str) -> nbformat.NotebookNode:
    return new_output("display_data", data={"text/html": html})


def notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = list(cells)
    return nb


@pytest.mark.parametrize(
    "text", ["12,345", "0", "30.3%", "+0.26", "\u22120.25", "-1,084", "0.1 \u2013 0.4", "(1, 2)"]
)
def test_numbers_read_as_numbers(text: str) -> None:
    assert is_numeric(text)


@pytest.mark.parametrize("text", ["Heat", "1995-12-15", "29 days", "yes", "US", "", "7d"])
def test_other_text_does_not(text: str) -> None:
    assert not is_numeric(text)


def test_numeric_columns_are_right_aligned_and_tables_scroll() -> None:
    table = pd.DataFrame(
        {
            "Title": ["1917", "Heat"],  # one title reads as a number; the column does not
            "Votes": ["1,234", ""],
            "Gap": ["+0.26", "\u22120.25"],
            "Released": ["1995-12-15", "2019-12-25"],
        }
    )
    html = format_tables(table.style.hide(axis="index").to_html())
    assert html.count('<div class="iwm-table"><table') == 1
    marked = re.findall(r'<t[hd][^>]*class="([^"]*)"[^>]*>([^<]*)<', html)
    numeric = {text for classes, text in marked if "iwm-num" in classes.split()}
    assert numeric == {"Votes", "1,234", "", "Gap", "+0.26", "\u22120.25"}
    # An index column (th in the body) is a label column, never marked.
    plain = format_tables(pd.DataFrame({"n": [1, 2]}).to_html())
    assert re.search(r"<tbody>\s*<tr>\s*<th>0</th>", plain)
    assert '<td class="iwm-num">1</td>' in plain
    assert format_tables("<p>no table</p>") == "<p>no table</p>"


@pytest.mark.slow
def test_report_hide_cells_are_left_out_unless_they_hold_the_error() -> None:
    failing = new_code_cell("raise RuntimeError('x')", metadata=HIDE)
    failing.outputs = [new_output("error", ename="RuntimeError", evalue="x", traceback=["tb"])]
    shown = new_code_cell("print('kept')")
    shown.outputs = [new_output("stream", name="stdout", text="kept output\n")]
    nb = notebook(
        new_markdown_cell("# Ratings\nThe notebook's own title.", metadata=HIDE),
        new_markdown_cell("Change the values in the next cell.", metadata=HIDE),
        new_markdown_cell("## Findings"),
        shown,
        failing,
    )
    prepared, _ = prepare_for_html(nb)
    assert [c.source[:10] for c in prepared.cells] == ["## Finding", "print('kep", "raise Runt"]
    page = export_html(nb, HEADER)
    assert "The notebook's own title" not in page and "Change the values" not in page
    assert page.count("<h1") == 1 and "<h1>Ratings</h1>" in page
    assert "kept output" in page


def chart_notebook() -> nbformat.NotebookNode:
    cell = new_code_cell("fig")
    spec = {"data": [{"type": "bar", "x": [1], "y": [2]}], "layout": {"width": 900}}
    cell.outputs = [new_output("display_data", data={PLOTLY_MIMETYPE: spec})]
    return notebook(cell)


@pytest.mark.slow
def test_plotly_js_is_referenced_by_default_or_inlined() -> None:
    referenced = export_html(chart_notebook(), HEADER, plotly_src="../../_static/plotly-3.0.min.js")
    assert '<script src="../../_static/plotly-3.0.min.js" type="text/javascript">' in referenced
    assert len(referenced) < 500_000
    inlined = export_html(chart_notebook(), HEADER)
    assert "_static/" not in inlined and len(inlined) > 4_000_000
    # No chart, no plotly.js at all.
    assert "<script src=" not in export_html(notebook(new_markdown_cell("text")), HEADER)


def test_the_as_of_line_reads_in_utc() -> None:
    assert as_of_for_readers("2026-11-29T06:00:00") == "2026-11-29 06:00 UTC"
    assert as_of_for_readers("2026-11-29T07:00:00+01:00") == "2026-11-29 06:00 UTC"
    assert as_of_for_readers("2026-11-01") == "2026-11-01"
    assert as_of_for_readers("2026-11-01T00:00:00") == "2026-11-01"
    assert as_of_for_readers(None) == "not stated by the notebook"
    assert as_of_for_readers("last Tuesday") == "last Tuesday"
