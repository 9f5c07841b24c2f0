"""iwm-lab: the analysts' workbench for the iwm ("I Watch Movies") PostgreSQL database.

>>> import iwm_lab
>>> conn = iwm_lab.connect()             # read-only, with a statement timeout
>>> iwm_lab.sql("select count(*) from movies where year >= :year", year=2000)
>>> iwm_lab.describe("movies")           # the columns, their types and meaning

In a notebook, ``%load_ext iwm_lab`` gives ``%sql`` and ``%%sql`` cells on the same read-only
session.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iwm_lab.catalog import describe
    from iwm_lab.database import connect, get_async_engine, get_engine
    from iwm_lab.exceptions import IwmLabError
    from iwm_lab.explore import sql
    from iwm_lab.magic import load_ipython_extension, unload_ipython_extension
    from iwm_lab.settings import Settings, get_settings

# Loaded on first use: `iwm-lab --help` and `import iwm_lab.cli` must not pay for SQLAlchemy,
# pandas and plotly before a command needs them.
_EXPORTS = {
    "IwmLabError": "iwm_lab.exceptions",
    "Settings": "iwm_lab.settings",
    "connect": "iwm_lab.database",
    "describe": "iwm_lab.catalog",
    "get_async_engine": "iwm_lab.database",
    "get_engine": "iwm_lab.database",
    "get_settings": "iwm_lab.settings",
    "load_ipython_extension": "iwm_lab.magic",
    "sql": "iwm_lab.explore",
    "unload_ipython_extension": "iwm_lab.magic",
}

__all__ = [
    "IwmLabError",
    "Settings",
    "connect",
    "describe",
    "get_async_engine",
    "get_engine",
    "get_settings",
    "load_ipython_extension",
    "sql",
    "unload_ipython_extension",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'iwm_lab' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
