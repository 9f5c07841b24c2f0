"""Parameters with a closed set of values, checked before a kernel starts.

A typo such as ``-p region XX`` would otherwise run, "succeed" with an empty page and stay in
the index for good. Two sources say which values a parameter takes:

- **The notebook**, in the trailing comment of its line in the ``parameters`` cell (papermill's
  inspection calls it ``help``)::

      window: str = "7d"  # how far back; one of: 7d, 30d, 90d

  Everything after ``one of:`` is a comma-separated list (quotes and backticks are ignored).
  This wins over the registry below, for any parameter name.
- **The registry** :data:`KNOWN`, by parameter name, for names that mean the same in every
  notebook: ``region`` and ``genre`` (read from the database), ``category`` (pulse
  categories), ``window`` (trending windows: ``7d``, ``30d`` or any ``<days>d``), and the score
  sources ``source``, ``a`` and ``b``.

``None`` (the notebooks' "all of them") is never checked; a list is checked item by item.
A wrong value is a :class:`~iwm_lab.exceptions.ReportValueError` listing the valid ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from iwm_lab.exceptions import ReportValueError
from iwm_lab.reports.parameters import NotebookParameter, shown

_ONE_OF = re.compile(r"\bone of:\s*(?P<values>.+)$", re.IGNORECASE)
_WINDOW = re.compile(r"^(?P<days>\d+)d$")


@dataclass(frozen=True)
class Allowed:
    """The values a parameter takes: a list, and optionally a rule for values beyond it."""

    values: tuple[str, ...]
    rule: Callable[[str], bool] | None = None
    rule_text: str = ""  # the rule in words, for the error message
    # How the queries read a value before comparing it (region codes: any case, spaces trimmed).
    normal: Callable[[str], str] | None = None

    def admits(self, value: str) -> bool:
        if self.normal is not None:
            value = self.normal(value)
        return value in self.values or (self.rule is not None and self.rule(value))

    def describe(self) -> str:
        listed = ", ".join(self.values) if self.values else "(none in the database)"
        return f"{listed}, or {self.rule_text}" if self.rule_text else listed


def _regions(conn: Connection) -> Allowed:
    from iwm_lab.queries._common import normal_region, regions

    return Allowed(tuple(regions(conn)), normal=normal_region)


def _genres(conn: Connection) -> Allowed:
    from iwm_lab.queries._common import genre_slugs

    return Allowed(tuple(genre_slugs(conn)))


def _categories(_conn: Connection) -> Allowed:
    from iwm_lab.models.values import TRENDING_CATEGORIES

    return Allowed(TRENDING_CATEGORIES)


def _windows(_conn: Connection) -> Allowed:
    from iwm_lab.models.values import TRENDING_WINDOWS
    from iwm_lab.queries.trending import MAX_DAYS

    def days(value: str) -> bool:
        found = _WINDOW.match(value)
        return found is not None and 1 <= int(found["days"]) <= MAX_DAYS

    return Allowed(TRENDING_WINDOWS, days, f"<days>d for 1 to {MAX_DAYS:,} days")


def _sources(_conn: Connection) -> Allowed:
    from iwm_lab.queries.ratings import SOURCES

    return Allowed(SOURCES)


# Parameter name -> the values it takes. The names mean the same in every notebook.
KNOWN: dict[str, Callable[[Connection], Allowed]] = {
    "region": _regions,
    "genre": _genres,
    "category": _categories,
    "window": _windows,
    "source": _sources,
    "a": _sources,
    "b": _sources,
}


def declared_choices(help_text: str) -> tuple[str, ...] | None:
    """The values a parameter's comment lists after ``one of:``; None when it lists none."""
    found = _ONE_OF.search(help_text)
    if found is None:
        return None
    values = (v.strip().strip("`'\"").strip() for v in found["values"].split(","))
    return tuple(v for v in values if v) or None


def _items(value: Any, *, text_only: bool = False) -> list[str]:
    """The values to check: None is "all", a list is checked item by item.

    ``text_only``: the registry's names are text; a number under the same name (``a: int``)
    means something else and is left alone.
    """
    items = value if isinstance(value, list) else [value]
    if text_only:
        return [v for v in items if isinstance(v, str)]
    return [str(v) for v in items if v is not None and not isinstance(v, bool)]


def _fail(where: str, name: str, value: str, allowed: Allowed) -> ReportValueError:
    return ReportValueError(
        f"{where}: parameter {name!r} cannot be {shown(value)}; valid values: {allowed.describe()}"
    )


def check_declared(
    where: str, parameters: Mapping[str, Any], declared: Mapping[str, NotebookParameter]
) -> None:
    """Check values against the choices the notebook lists (no database needed)."""
    for name, value in parameters.items():
        listed = declared_choices(declared[name].help) if name in declared else None
        if listed is None:
            continue
        allowed = Allowed(listed)
        for item in _items(value):
            if not allowed.admits(item):
                raise _fail(where, name, item, allowed)


def needs_database(
    parameters: Mapping[str, Any], declared: Mapping[str, NotebookParameter]
) -> list[str]:
    """The parameters :func:`check_known` would check: registry names the notebook leaves open."""
    return [
        name
        for name, value in parameters.items()
        if name in KNOWN
        and _items(value, text_only=True)
        and not (name in declared and declared_choices(declared[name].help))
    ]


def check_known(
    where: str,
    parameters: Mapping[str, Any],
    declared: Mapping[str, NotebookParameter],
    conn: Connection,
    cache: dict[str, Allowed] | None = None,
) -> None:
    """Check values against the registry :data:`KNOWN`, reading the database where it must.

    ``cache`` keeps what one connection found, for checking several fan-out parts.
    """
    cache = {} if cache is None else cache
    for name in needs_database(parameters, declared):
        if name not in cache:
            cache[name] = KNOWN[name](conn)
        for item in _items(parameters[name], text_only=True):
            if not cache[name].admits(item):
                raise _fail(where, name, item, cache[name])
