"""The moment a notebook or report is as of.

A report is as of its run: the scheduler passes the slot time as the ``as_of`` parameter and
a manual run passes now. In a notebook, ``as_of = None`` means now, as this module tells it:
the clock, unless ``IWM_AS_OF`` pins it (to reproduce a past report, or the stored outputs
of the tiny demo dataset). Moments are naive UTC, like the database's timestamps.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from iwm_lab.queries._common import check_moment
from iwm_lab.settings import get_settings


def now() -> datetime:
    """The current moment (naive UTC), or the one ``IWM_AS_OF`` pins."""
    pinned = get_settings().as_of
    return pinned if pinned is not None else datetime.now(UTC).replace(tzinfo=None)


def as_of(value: datetime | date | str | None = None) -> datetime:
    """``value`` as a naive UTC moment (a date stands for its midnight), or :func:`now`."""
    return now() if value is None else check_moment(value, "as_of")
