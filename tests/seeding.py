"""Seeding the tiny scale at a fixed moment, for the tests of the demo data and its twins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import URL

from iwm_lab.database import get_engine
from iwm_lab.demodata import SeedReport, seed_database

# Neither midnight nor the notebooks' date, and long enough ago that a refresh counting back
# from the clock would find no pulse.
AS_OF = datetime(2025, 3, 14, 9, 30)


def seed(url: URL, **options: Any) -> SeedReport:
    """Seed ``url`` at scale tiny, quietly, up to :data:`AS_OF` unless ``options`` say else."""
    engine = get_engine(url, writable=True)
    try:
        options = {"scale": "tiny", "progress": False, "as_of": AS_OF, **options}
        return seed_database(engine, **options)
    finally:
        engine.dispose()
