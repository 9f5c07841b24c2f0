"""Charts as static images (PNG, SVG, PDF, JPEG, WebP), drawn offline by a local browser.

plotly's ``fig.write_image`` goes through kaleido v1, which draws the figure in a headless
Chrome or Chromium that choreographer starts; kaleido ships none. It takes ``BROWSER_PATH``
when set, else a browser ``plotly_get_chrome`` downloaded earlier, else Chrome or Chromium
on ``PATH`` or in their usual install folders: a system Chromium (Debian's ``chromium``)
is found with no setting, and starts as root too, as choreographer passes
``--no-sandbox`` unless asked for the sandbox. Nothing here downloads a browser.

What importing :mod:`iwm_lab.charts` adds:

- ``fig.write_image`` and ``fig.to_image`` (any figure, not only ours) check for a browser
  first and raise :class:`~iwm_lab.exceptions.ChartExportError`, one line saying what to
  install, where plotly would print a paragraph recommending a download;
- :func:`save_image` and :func:`save_images`: several images for one browser start (each
  ``write_image`` starts its own, about 3 s), with MathJax off, so kaleido's page loads
  nothing from a CDN (the charts here use no LaTeX).

>>> from iwm_lab import charts
>>> charts.save_images([(fig, "top.png"), (fig, "top.svg")])
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from iwm_lab.exceptions import ChartExportError

BROWSER_ENV = "BROWSER_PATH"
# What kaleido writes, by file suffix.
FORMATS = {
    ".png": "png",
    ".svg": "svg",
    ".pdf": "pdf",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".webp": "webp",
}
NO_BROWSER = (
    "no Chrome or Chromium to draw static chart images with: install one "
    "(Debian/Ubuntu: apt-get install chromium; macOS: Google Chrome) "
    f"or set {BROWSER_ENV} to its executable"
)

ImagePath = str | os.PathLike[str]
_checked_to_image: Callable[..., Any] | None = None


def browser_path() -> str:
    """The browser kaleido will start: ``BROWSER_PATH`` when set, else the one kaleido finds.

    Raises :class:`~iwm_lab.exceptions.ChartExportError` when ``BROWSER_PATH`` names no
    executable file, or when there is no browser at all.
    """
    configured = os.environ.get(BROWSER_ENV)
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise ChartExportError(
                f"{BROWSER_ENV}={configured} is not an executable file: point it at Chrome "
                "or Chromium, or unset it to use the one installed on this machine"
            )
        return configured
    from choreographer.browsers.chromium import Chromium

    found = Chromium.find_browser(skip_local=False)  # the search kaleido itself makes
    if not found:
        raise ChartExportError(NO_BROWSER)
    return str(found)


def _image_format(path: Path) -> str:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ChartExportError(
            f"cannot write a chart as {path.name!r}: name the file with one of {', '.join(FORMATS)}"
        )
    return kind


def save_images(
    figures: Iterable[tuple[go.Figure, ImagePath]],
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
) -> list[Path]:
    """Write each ``(figure, path)`` as an image, the kind named by the path's suffix
    (``.png``, ``.svg``, ``.pdf``, ``.jpg``, ``.webp``), all drawn by one browser start.

    ``width`` and ``height`` are in layout pixels (default: the figure's own, else 700 by
    500); ``scale`` multiplies them for a raster image (2 for a sharp slide). Existing files
    are replaced. Returns the paths written.
    """
    import kaleido

    opts: dict[str, Any] = {"width": width, "height": height, "scale": scale}
    jobs, written = [], []
    for fig, path in figures:
        target = Path(path)
        kind = _image_format(target)
        if not target.parent.is_dir():
            raise ChartExportError(f"cannot write {target}: its folder does not exist")
        given = {key: value for key, value in opts.items() if value is not None}
        jobs.append({"fig": fig, "path": target, "opts": {"format": kind, **given}})
        written.append(target)
    if jobs:
        kaleido.write_fig_from_object_sync(
            jobs, kopts={"path": browser_path(), "mathjax": False}, cancel_on_error=True
        )
    return written


def save_image(
    fig: go.Figure,
    path: ImagePath,
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
) -> Path:
    """Write ``fig`` as an image at ``path``; see :func:`save_images` (several at once are
    faster)."""
    return save_images([(fig, path)], width=width, height=height, scale=scale)[0]


def check_browser_before_export() -> None:
    """Make plotly's image export (``fig.write_image``, ``fig.to_image``, ``plotly.io``'s
    functions) raise :class:`~iwm_lab.exceptions.ChartExportError` when there is no browser.

    plotly's own error is a paragraph recommending ``plotly_get_chrome``, a download; behind
    a running kaleido server, a missing browser makes every export wait forever. Called when
    :mod:`iwm_lab.charts` is imported; calling it again changes nothing.
    """
    global _checked_to_image
    from plotly.io import _kaleido

    original: Callable[..., Any] = _kaleido.to_image
    if original is _checked_to_image:
        return

    @functools.wraps(original)
    def to_image(*args: Any, **kwargs: Any) -> Any:
        browser_path()
        return original(*args, **kwargs)

    # write_image calls to_image through the module, as do the figures' methods.
    _kaleido.to_image = _checked_to_image = to_image
