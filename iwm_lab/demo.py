"""The main job behind ``iwm-lab demo``: a ready database from nothing, in one call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from iwm_lab import migrate
from iwm_lab.database import database_url, get_engine
from iwm_lab.queries.overview import table_row_counts


@dataclass(frozen=True)
class DemoResult:
    url: str
    revision: str | None
    row_counts: pd.DataFrame


def run_demo(report: Callable[[str], None] = print) -> DemoResult:
    """Start the database (embedded unless IWM_DATABASE_URL is set), migrate and check it."""
    report("starting the database")
    url = database_url()
    engine = get_engine(url, writable=True)
    try:
        report("upgrading to the head revision")
        revision = migrate.upgrade(engine)
        report("checking the schema against the models")
        migrate.check(engine)
        with engine.connect() as conn:
            counts = table_row_counts(conn)
    finally:
        engine.dispose()
    return DemoResult(url.render_as_string(hide_password=True), revision, counts)
