"""Stand-alone HTML of an executed notebook: opens from disk, with no network.

nbconvert's ``lab`` template, extended by ``templates/iwm_report``: its CDN scripts
(require.js, MathJax, mermaid, widgets) are left out, and a header states report,
parameters, data as-of, the hot standby the run read from and its lag (when it did),
database revision, run time and how the key figures changed.

plotly.js (4.8 MB) is by default one file per output folder, ``_static/plotly-<version>.min.js``
(:func:`plotly_asset`), which each page loads by a relative path: a run of seven pages weighs
one copy, not seven. The version in the name keeps old pages working after an upgrade. A
self-contained page inlines it instead, for a single file to mail.

Cells tagged ``report-hide`` (a notebook's title, which the header repeats, or instructions
for JupyterLab users) are left out, unless they hold the error of a failed run.

Each table that carries its data gets a "Download CSV" link under it, to a file beside the
page (:func:`shown_tables` names them, :mod:`.tables` writes them); a hidden table has none.

Plotly figures reach the HTML as their JSON (``application/vnd.plotly.v1+json``: the runner
starts kernels with ``PLOTLY_RENDERER=plotly_mimetype``); each becomes a ``div`` plus its
spec in a ``<script type="application/json">``, drawn by the inlined plotly.js. Figures
shown as HTML by plotly's own notebook renderers would pull MathJax from a CDN, so the
plotly JSON is preferred whenever an output has it.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from iwm_lab.reports.changes import Changes
from iwm_lab.reports.records import RECORD_MIMETYPE
from iwm_lab.reports.state import write_text_atomic
from iwm_lab.reports.tables import (
    TableFile,
    download_link,
    format_tables,
    table_data,
    table_files,
)

log = logging.getLogger(__name__)

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
TEMPLATES = Path(__file__).resolve().parent / "templates"
HIDE_TAG = "report-hide"
STATIC = "_static"
# Trace types that fetch map outlines (topojson) from plotly's CDN when drawn.
_NEEDS_NETWORK = {"choropleth", "scattergeo"}


@dataclass(frozen=True)
class HeaderParameter:
    name: str
    value: str
    default: bool = False


@dataclass(frozen=True)
class ReportHeader:
    """What the page header says about the run."""

    title: str
    label: str
    run_id: str
    started: str
    duration: str
    revision: str
    as_of: str
    parameters: list[HeaderParameter] = field(default_factory=list)
    description: str = ""
    error: str | None = None
    ad_hoc: str | None = None  # why the schedule would not make this run
    changes: Changes | None = None
    # When the run read from a hot standby: which, and how far behind its primary it was.
    replica: str | None = None


def _script_json(value: Any) -> str:
    # Inside <script>, "</" could close the element early; JSON allows "<\/".
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def _figure_html(spec: dict[str, Any]) -> str:
    return (
        '<div class="iwm-plotly">'
        '<div class="iwm-plotly-chart"></div>'
        f'<script type="application/json" class="iwm-plotly-spec">{_script_json(spec)}</script>'
        "</div>"
    )


def _hidden(cell: nbformat.NotebookNode) -> bool:
    if HIDE_TAG not in cell.get("metadata", {}).get("tags", []):
        return False
    return not any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def _joined(html: str | list[str]) -> str:
    # nbformat may store a text output as a list of lines.
    return html if isinstance(html, str) else "".join(html)


def _table_outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The outputs of the page's tables that carry their data, in page order."""
    return [
        output
        for cell in nb.cells
        if cell.cell_type == "code" and not _hidden(cell)
        for output in cell.get("outputs", [])
        if table_data(output) is not None
    ]


def _headings(nb: nbformat.NotebookNode) -> list[str | None]:
    """For each of :func:`_table_outputs`, the last markdown heading above it on the page: it
    names the file of a table without a caption (``03-platforms-agree.csv``, not
    ``03-table.csv``)."""
    found: list[str | None] = []
    heading = None
    for cell in nb.cells:
        if _hidden(cell):
            continue
        if cell.cell_type == "markdown":
            lines = [line for line in _joined(cell.source).splitlines() if line.startswith("#")]
            heading = lines[-1].lstrip("#").strip() if lines else heading
        elif cell.cell_type == "code":
            found += [heading for o in cell.get("outputs", []) if table_data(o) is not None]
    return found


def shown_tables(nb: nbformat.NotebookNode) -> list[TableFile]:
    """The CSV files of the tables the page of ``nb`` shows, in page order."""
    return table_files(
        [table_data(output) or {} for output in _table_outputs(nb)], headings=_headings(nb)
    )


def prepare_for_html(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """A copy of ``nb`` for the page: ``report-hide`` cells and recorded figures removed,
    plotly figures as offline HTML, tables formatted (:mod:`.tables`) with their download
    links (:func:`shown_tables`).

    Returns the copy and the number of plotly figures in it.
    """
    nb = copy.deepcopy(nb)
    for output, file in zip(_table_outputs(nb), shown_tables(nb), strict=True):
        output["data"]["text/html"] = _joined(output["data"]["text/html"]) + download_link(file)
    nb.cells = [cell for cell in nb.cells if not _hidden(cell)]
    figures = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if RECORD_MIMETYPE in data:
                continue
            if isinstance(data.get("text/html"), str | list) and PLOTLY_MIMETYPE not in data:
                data["text/html"] = format_tables(_joined(data["text/html"]))
            if PLOTLY_MIMETYPE in data:
                spec = data[PLOTLY_MIMETYPE]
                kinds = {trace.get("type") for trace in spec.get("data", [])}
                if kinds & _NEEDS_NETWORK:
                    log.warning(
                        "a %s chart loads map outlines from plotly's CDN and will not draw "
                        "offline; prefer a bar chart by region",
                        ", ".join(sorted(kinds & _NEEDS_NETWORK)),
                    )
                output["data"] = {"text/html": _figure_html(spec)}
                figures += 1
            kept.append(output)
        cell["outputs"] = kept
    return nb, figures


def plotly_asset(output_dir: Path) -> Path:
    """``<output_dir>/_static/plotly-<version>.min.js``, written on first use."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    path = output_dir / STATIC / f"plotly-{get_plotlyjs_version()}.min.js"
    if not path.is_file():
        # Atomic: run-due's workers may all want it at once.
        write_text_atomic(path, get_plotlyjs())
    return path


def export_html(
    nb: nbformat.NotebookNode,
    header: ReportHeader,
    *,
    keep_code: bool = False,
    plotly_src: str | None = None,
) -> str:
    """The stand-alone HTML page of an executed notebook (code hidden unless ``keep_code``).

    ``plotly_src`` is the URL of plotly.js relative to the page (see :func:`plotly_asset`);
    without it, plotly.js is inlined.
    """
    from plotly.offline import get_plotlyjs

    prepared, figures = prepare_for_html(nb)
    exporter = _exporter(keep_code)
    resources = {
        "metadata": {"name": header.title},
        "iwm_header": header,
        "iwm_plotly_js": get_plotlyjs() if figures and plotly_src is None else "",
        "iwm_plotly_src": plotly_src if figures else None,
        "iwm_plotly_charts": figures,
    }
    body: str = exporter.from_notebook_node(prepared, resources=resources)[0]
    return body


@functools.cache
def _exporter(keep_code: bool) -> Any:
    """One exporter per process and option: its Jinja environment compiles the templates
    once (most of an export's time when each page built its own)."""
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="iwm_report",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=not keep_code,
        exclude_input_prompt=not keep_code,
        exclude_output_prompt=not keep_code,
        embed_images=True,
        theme="light",
    )


def warm_up() -> None:
    """Export a small page with and without code: nbconvert imported, templates compiled
    (a warm worker does this before its run, see :mod:`.kernels`)."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    table = "<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>"
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Warm-up"),
            new_code_cell(
                "1",
                execution_count=1,
                outputs=[
                    new_output("stream", name="stdout", text="1\n"),
                    new_output("display_data", data={"text/markdown": "**1**"}),
                    new_output("execute_result", data={"text/html": table}, execution_count=1),
                ],
            ),
        ]
    )
    header = ReportHeader("Warm-up", "warm-up", "-", "-", "-", "-", "-")
    for keep_code in (False, True):
        export_html(nb, header, keep_code=keep_code, plotly_src="plotly.min.js")
