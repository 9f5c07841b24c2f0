"""The main job behind ``iwm-lab demo``: from nothing to a populated database and reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from iwm_lab import migrate, rollups
from iwm_lab.database import database_url, get_engine
from iwm_lab.models import TRENDING_WINDOWS, Movie
from iwm_lab.queries.overview import table_row_counts
from iwm_lab.queries.trending import refresh_trending_topics


@dataclass(frozen=True)
class DemoResult:
    url: str
    revision: str | None
    seeded: bool
    row_counts: pd.DataFrame
    reports: list[tuple[str, str]] = field(default_factory=list)  # (report label, status)
    index: Path | None = None


def run_demo(
    *,
    scale: str = "small",
    reports: bool = True,
    jobs: int = 2,
    output_dir: Path | None = None,
    report: Callable[[str], None] = print,
) -> DemoResult:
    """Start the database (embedded unless IWM_DATABASE_URL is set), migrate and check it,
    load the demo data when it is empty (or else refresh the rollups the analyses read),
    refresh trending topics and render the due reports.

    A second run reuses the data and the reports already rendered for the current slots.
    ``output_dir`` overrides the schedule's output folder (``reports/output/``).
    """
    from iwm_lab.demodata import seed_database

    report("starting the database")
    url = database_url()
    engine = get_engine(url, writable=True)
    try:
        report("upgrading to the head revision")
        revision = migrate.upgrade(engine)
        migrate.check(engine)
        with engine.connect() as conn:
            empty = conn.execute(select(func.count()).select_from(Movie)).scalar_one() == 0
        if empty:
            report(f"loading the {scale} demo dataset")
            seed_database(engine, scale=scale)
        else:
            report("database already holds data: reusing it; refreshing the rollups")
            rollups.refresh_rollups(engine)
        with engine.connect() as conn:
            for window in TRENDING_WINDOWS:
                refresh_trending_topics(conn, window=window)
            counts = table_row_counts(conn)
    finally:
        engine.dispose()
    result = DemoResult(url.render_as_string(hide_password=True), revision, empty, counts)
    if not reports:
        return result
    from iwm_lab.reports.due import run_due
    from iwm_lab.reports.index import write_index
    from iwm_lab.reports.schedule import load_schedule

    report("rendering the reports that are due")
    schedule = load_schedule(output_dir=output_dir)
    outcomes = run_due(schedule, jobs=jobs, progress=report)
    index = write_index(schedule)
    return DemoResult(
        result.url,
        revision,
        empty,
        counts,
        [(o.job.label, o.status) for o in outcomes],
        index,
    )
