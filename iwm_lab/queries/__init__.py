"""Query functions, one module per analysis area; each returns a pandas DataFrame.

- :mod:`~iwm_lab.queries.awards`: how nominated and winning movies score, like for like;
  who wins most; where festival selections lead.
- :mod:`~iwm_lab.queries.box_office`: weekend charts, runs and legs, budget multiples, the
  regional split.
- :mod:`~iwm_lab.queries.overview`: how much data there is, how recent, how complete.
- :mod:`~iwm_lab.queries.platform_health`: the moderation queue and its speed, quiz
  engagement and difficulty.
- :mod:`~iwm_lab.queries.ratings`: how movies score on iwm and elsewhere, and how users rate.
- :mod:`~iwm_lab.queries.security`: which password hashes would be replaced at next login.
- :mod:`~iwm_lab.queries.streaming`: where movies can be watched, on which platforms, at what
  price, and which well-rated ones cannot.
- :mod:`~iwm_lab.queries.trending`: which hashtags pulses use, live or as stored, and which rise.

>>> from iwm_lab.queries import ratings
>>> ratings.top_rated(conn, min_reviews=20)
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iwm_lab.queries import (
        awards,
        box_office,
        overview,
        platform_health,
        ratings,
        security,
        streaming,
        trending,
    )

__all__ = [
    "awards",
    "box_office",
    "overview",
    "platform_health",
    "ratings",
    "security",
    "streaming",
    "trending",
]


def __getattr__(name: str) -> ModuleType:
    # Imported on first use: `import iwm_lab.queries` must not pay for pandas, SQLAlchemy and
    # scipy before an area is asked for.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return import_module(f"{__name__}.{name}")


def __dir__() -> list[str]:
    return list(__all__)
