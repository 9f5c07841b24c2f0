"""Charts as static images, drawn by the machine's own Chrome or Chromium, never downloaded.

Drawing needs a browser: without one, the image tests skip with the reason, except under CI
(``CI`` set), which has Chromium and must run them. A browser start costs about 3 s, so the
PNG and SVG are written by one :func:`~iwm_lab.charts.save_images` call, and plain
``fig.write_image`` is checked once. The errors for a missing browser start none.
"""

from __future__ import annotations

import os
import struct
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from choreographer.browsers.chromium import Chromium

from iwm_lab import charts
from iwm_lab.charts.export import BROWSER_ENV, NO_BROWSER
from iwm_lab.exceptions import ChartExportError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TOP = pd.DataFrame(
    {
        "movie_id": [3, 1, 7],
        "title": ["Heat", "Amélie", "Tokyo Story"],
        "year": pd.array([1995, 2001, None], dtype="Int64"),
        "reviews": [40, 25, 31],
        "mean_rating": [8.5, 8.0, 8.8],
        "weighted_rating": [8.2, 7.6, 8.4],
    }
)


@pytest.fixture(scope="module")
def fig() -> go.Figure:
    return charts.top_rated_chart(TOP)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> str:
    """The browser found with nothing configured, as an analyst has it; skips without one
    outside CI."""
    monkeypatch.delenv(BROWSER_ENV, raising=False)
    try:
        return charts.browser_path()
    except ChartExportError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no browser to draw charts with: {exc}")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.browser
def test_png_and_svg_of_a_chart_with_one_browser_start(
    fig: go.Figure, browser: str, tmp_path: Path
) -> None:
    png, svg = tmp_path / "top.png", tmp_path / "top.svg"
    written = charts.save_images([(fig, png), (fig, svg)], width=640, height=360, scale=2)
    assert written == [png, svg]
    assert _png_size(png.read_bytes()) == (1280, 720)  # layout pixels times the scale
    assert png.stat().st_size > 10_000  # drawn bars and text, not a blank canvas
    root = ET.fromstring(svg.read_text(encoding="utf-8"))
    assert root.tag.endswith("svg") and root.get("width") == "1280"
    text = " ".join(node.text or "" for node in root.iter() if node.tag.endswith("text"))
    for title in TOP["title"]:
        assert title in text
    assert fig.layout.title.text in text


@pytest.mark.browser
def test_plain_write_image_finds_the_browser_unaided(
    fig: go.Figure, browser: str, tmp_path: Path
) -> None:
    path = tmp_path / "plain.png"
    fig.write_image(path)
    width, height = _png_size(path.read_bytes())
    # plotly's default width; the chart's own height.
    assert (width, height) == (700, fig.layout.height)


@pytest.mark.parametrize("how", ["write_image", "save_image", "to_image"])
@pytest.mark.parametrize("setting", ["nothing-installed", "wrong-browser-path"])
def test_without_a_browser_one_clear_line_and_no_file(
    fig: go.Figure, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, setting: str
) -> None:
    if setting == "nothing-installed":
        # The search kaleido makes (download folder, PATH, usual install paths) finds nothing.
        monkeypatch.delenv(BROWSER_ENV, raising=False)
        monkeypatch.setattr(Chromium, "find_browser", classmethod(lambda cls, **_: None))
        expected = NO_BROWSER
    else:
        monkeypatch.setenv(BROWSER_ENV, str(tmp_path / "no-such-chrome"))
        expected = f"{BROWSER_ENV}={tmp_path / 'no-such-chrome'} is not an executable file"
    path = tmp_path / "chart.png"
    began = time.perf_counter()
    with pytest.raises(ChartExportError) as caught:
        if how == "write_image":
            fig.write_image(path)
        elif how == "save_image":
            charts.save_image(fig, path)
        else:
            fig.to_image(format="svg")
    message = str(caught.value)
    assert message.startswith(expected) and "\n" not in message
    assert time.perf_counter() - began < 2  # refused before any browser start or download
    assert not path.exists()


@pytest.mark.parametrize(
    ("name", "problem"),
    [("chart.gif", "name the file with one of .png, .svg"), ("missing/chart.png", "folder")],
)
def test_file_names_kaleido_cannot_write_are_refused(
    fig: go.Figure, tmp_path: Path, name: str, problem: str
) -> None:
    with pytest.raises(ChartExportError, match=problem):
        charts.save_image(fig, tmp_path / name)


def test_the_check_is_installed_once() -> None:
    from plotly.io import _kaleido

    checked = _kaleido.to_image
    charts.check_browser_before_export()
    assert _kaleido.to_image is checked and checked.__wrapped__ is not None
