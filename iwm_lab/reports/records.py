"""Key figures a notebook records for other tools, scrapbook-style.

In a notebook::

    from iwm_lab.reports import record
    record("as_of", as_of)                 # the report header shows it as "data as of"
    record("movies_rated", int(len(df)))

Each call displays one output carrying :data:`RECORD_MIMETYPE` (JSON) and a plain-text line.
The report runner collects them from the executed notebook into its metadata
(``metadata.iwm_lab.records``) and the run's ``run.json``; the HTML export leaves them out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

RECORD_MIMETYPE = "application/vnd.iwm-lab.record+json"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    item = getattr(value, "item", None)  # numpy and pandas scalars
    if callable(item):
        return _jsonable(item())
    isoformat = getattr(value, "isoformat", None)  # pandas Timestamp
    if callable(isoformat):
        return isoformat()
    raise TypeError(f"cannot record a {type(value).__name__}: use numbers, text, dates or lists")


def record(name: str, value: Any) -> None:
    """Record a key figure under ``name`` in the notebook's output (JSON-compatible values).

    Numbers, text, booleans, None, dates (stored as ISO text), lists and dicts of those;
    numpy/pandas scalars are converted. ``as_of`` is the data's as-of time for the header.
    """
    from IPython.display import display

    if not isinstance(name, str) or not name:
        raise ValueError("record() needs a non-empty name")
    stored = _jsonable(value)
    display(
        {RECORD_MIMETYPE: {"name": name, "value": stored}, "text/plain": f"{name}: {stored}"},
        raw=True,
    )


def read_records(nb: Mapping[str, Any]) -> dict[str, Any]:
    """The figures recorded in an executed notebook, by name (a later record wins)."""
    found: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            payload = (output.get("data") or {}).get(RECORD_MIMETYPE)
            if isinstance(payload, Mapping) and isinstance(payload.get("name"), str):
                found[payload["name"]] = payload.get("value")
    return found
