"""Tables for readers: a query's frame as a report shows it.

Query functions return frames for code: snake_case columns, shares from 0 to 1, ``NaN``,
booleans. :func:`table` turns one into what a reader outside the team can read: human
headers, percentages, thousands separators, blanks for missing values, yes/no, dates and
durations in words, and no index column. It is pandas' Styler underneath (the page shows its
HTML); the plain-text form, used by consoles and by nbval's comparison of stored outputs,
holds the same formatted cells.

>>> from iwm_lab.tables import table
>>> table(top, labels={"weighted_rating": "Weighted rating"}, formats={"share": "percent"})

A column's format comes from ``formats`` when given, else from its dtype and name: booleans
read yes/no; timestamps as dates (with the time when it is not midnight); durations in
words; floats whose name says they are a share as percentages, a gap or change with its sign,
other floats with ``digits`` decimals; integers with thousands separators.

A table also keeps its data: the shown columns, every row, under the same headers, with the
values as the frame held them (full precision, ISO dates), not as formatted. Its display
carries them as CSV text in the output's metadata (:data:`TABLE_METADATA`), where a report
run finds them and writes a file readers can download; a frontend ignores them, and so does
nbval when it compares outputs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from iwm_lab import formatting

Formatter = Callable[[Any], str]

# The key of a table's data in its display output's metadata: {"caption", "rows", "columns",
# "bytes", "csv"}; "csv" is left out above CSV_LIMIT_BYTES.
TABLE_METADATA = "iwm_lab.table"
# A notebook output this large already slows JupyterLab and doubles the executed notebook.
CSV_LIMIT_BYTES = 20 * 1024 * 1024

# Words a header spells in a particular way, whatever the column name's case.
_WORDS = {
    "imdb": "IMDb",
    "ci": "CI",
    "id": "ID",
    "url": "URL",
    "iwm": "iwm",
    "pct": "%",
    "n": "n",
}
_SHARE = re.compile(r"(^|_)(share|shares|ratio_of|coverage|pct|percent)(_|$)")
_SIGNED = re.compile(r"(^|_)(gap|diff|change|delta)(_|$)")
# A year is a label, not a quantity: 2016, never "2,016".
_YEAR = re.compile(r"(^|_)year(_|$)")


def header(name: str) -> str:
    """A column name as a header: ``mean_gap`` -> ``Mean gap``, ``imdb_rating`` -> ``IMDb
    rating``."""
    words = [word for word in str(name).split("_") if word]
    if not words:
        return str(name)
    first = _WORDS.get(words[0].lower(), words[0][:1].upper() + words[0][1:])
    return " ".join([first, *(_WORDS.get(word.lower(), word) for word in words[1:])])


def _parsed(spec: str) -> Formatter:
    kind, _, arg = spec.partition(":")
    digits = int(arg) if arg else None
    kinds: dict[str, Formatter] = {
        "int": formatting.number,
        "number": lambda v: formatting.number(v, 2 if digits is None else digits),
        "percent": lambda v: formatting.percent(v, 1 if digits is None else digits),
        "signed": lambda v: formatting.signed(v, 2 if digits is None else digits),
        "date": formatting.day,
        "moment": formatting.moment,
        "duration": formatting.duration,
        "age": formatting.age,
        "yesno": formatting.yes_no,
        "text": lambda v: formatting.MISSING if formatting.is_missing(v) else str(v),
    }
    if kind not in kinds:
        raise ValueError(f"unknown table format {spec!r}; valid kinds: {', '.join(kinds)}")
    return kinds[kind]


def _guess(name: str, series: pd.Series, digits: int) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "yesno"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "moment"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "duration"
    if pd.api.types.is_integer_dtype(dtype):
        return "text" if _YEAR.search(name) else "int"
    if pd.api.types.is_float_dtype(dtype):
        if _SHARE.search(name):
            return "percent"
        if _SIGNED.search(name):
            return f"signed:{digits}"
        return f"number:{digits}"
    if pd.api.types.is_object_dtype(dtype):
        sample = series.dropna()
        if not sample.empty and all(isinstance(v, bool) for v in sample):
            return "yesno"
    return "text"


def _numeric(spec: str) -> bool:
    return spec.split(":")[0] in ("int", "number", "percent", "signed", "duration", "age")


class Table:
    """A formatted table: shown as HTML in notebooks and pages, as aligned text elsewhere.

    ``cells`` holds the formatted text of every cell, under the readers' headers; ``data``
    the values behind them, under the same headers (None: nothing to download).
    """

    def __init__(
        self,
        cells: pd.DataFrame,
        numeric: Sequence[str],
        caption: str | None,
        data: pd.DataFrame | None = None,
    ) -> None:
        self.cells = cells
        self.numeric = list(numeric)
        self.caption = caption
        self.data = data

    @property
    def styler(self) -> Styler:
        # A uuid from the content, not a random one, so stored notebook outputs are stable.
        digest = hashlib.sha1(
            self.cells.to_csv(index=False).encode() + (self.caption or "").encode()
        ).hexdigest()[:10]
        styler = (
            self.cells.style.hide(axis="index")
            .set_uuid(digest)
            .set_table_attributes('class="iwm-data"')
        )
        if self.numeric:
            styler = styler.set_properties(subset=self.numeric, **{"text-align": "right"})
        if self.caption:
            styler = styler.set_caption(self.caption)
        return styler

    def to_html(self) -> str:
        return str(self.styler.to_html())

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_csv(self) -> str:
        """The data as CSV text: a header row, then one line per row, quoted where needed;
        a missing value is an empty field."""
        if self.data is None:
            raise ValueError("this table was made without its data")
        return str(self.data.to_csv(index=False, lineterminator="\n"))

    def metadata(self) -> dict[str, Any] | None:
        """What :data:`TABLE_METADATA` holds for this table; None without data."""
        if self.data is None:
            return None
        text = self.to_csv()
        size = len(text.encode())
        found: dict[str, Any] = {
            "caption": self.caption,
            "rows": len(self.data),
            "columns": len(self.data.columns),
            "bytes": size,
        }
        if size <= CSV_LIMIT_BYTES:
            found["csv"] = text
        return found

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # text/plain still comes from __repr__; the data rides in the metadata, which nbval
        # leaves out of its comparison, so stored outputs compare as before.
        found = self.metadata()
        return {"text/html": self.to_html()}, ({TABLE_METADATA: found} if found else {})

    def __repr__(self) -> str:
        text = self.cells.to_string(index=False) if len(self.cells) else "(no rows)"
        return f"{self.caption}\n{text}" if self.caption else text

    def __len__(self) -> int:
        return len(self.cells)


def table(
    df: pd.DataFrame,
    *,
    labels: Mapping[str, str] | None = None,
    formats: Mapping[str, str | Formatter] | None = None,
    columns: Sequence[str] | None = None,
    caption: str | None = None,
    digits: int = 2,
) -> Table:
    """``df`` as readers should see it: the ``columns`` given (default: all), in that order.

    ``labels`` maps column names to headers (others are derived from the name); ``formats``
    maps column names to a kind (``int``, ``number[:digits]``, ``percent[:digits]``,
    ``signed[:digits]``, ``date``, ``moment``, ``duration`` (a timedelta or days), ``age``
    (days ago, negative ahead), ``yesno``, ``text``) or to a function of the value. The index
    is not shown: keep what matters in columns (``df.reset_index()``).
    """
    labels = dict(labels or {})
    formats = dict(formats or {})
    chosen = list(columns) if columns is not None else list(df.columns)
    unknown = [c for c in [*chosen, *labels, *formats] if c not in df.columns]
    if unknown:
        raise ValueError(
            f"unknown column(s) {', '.join(map(repr, unknown))}; "
            f"the frame has: {', '.join(map(str, df.columns))}"
        )
    cells: dict[str, list[str]] = {}
    data: dict[str, pd.Series] = {}
    numeric: list[str] = []
    for name in chosen:
        spec = formats.get(name) or _guess(str(name), df[name], digits)
        formatter = spec if callable(spec) else _parsed(spec)
        title = labels.get(name, header(str(name)))
        cells[title] = [formatter(value) for value in df[name]]
        data[title] = df[name].reset_index(drop=True)
        if isinstance(spec, str) and _numeric(spec):
            numeric.append(title)
    return Table(
        pd.DataFrame(cells, columns=list(cells)),
        numeric,
        caption,
        pd.DataFrame(data, columns=list(data), index=pd.RangeIndex(len(df))),
    )
