"""The main job behind ``iwm-lab demo``: from nothing to a populated database and reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, func, select

from iwm_lab import migrate, operations
from iwm_lab.database import database_url, get_engine
from iwm_lab.formatting import duration, moment
from iwm_lab.models import Movie
from iwm_lab.queries.overview import ACTIVITY_TABLES, freshness, table_row_counts


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` did. ``data_until`` is the latest review or pulse, ``data_age_days``
    how many days before the database's clock it lies (None when there is none)."""

    url: str
    revision: str | None
    seeded: bool
    row_counts: pd.DataFrame
    reports: list[tuple[str, str]] = field(default_factory=list)  # (report label, status)
    index: Path | None = None
    data_until: datetime | None = None
    data_age_days: float | None = None


def data_age(conn: Connection) -> tuple[datetime | None, float | None]:
    """The latest review or pulse, and its age in days against the transaction's clock
    (``(None, None)`` when there is neither)."""
    fresh = freshness(conn)
    activity = fresh[fresh["table"].isin(ACTIVITY_TABLES)].dropna(subset=["latest"])
    if activity.empty:
        return None, None
    newest = activity.loc[activity["latest"].idxmax()]
    return newest["latest"].to_pydatetime(), float(newest["age_days"])


def run_demo(
    *,
    scale: str = "small",
    as_of: datetime | date | str | None = None,
    reports: bool = True,
    jobs: int = 2,
    output_dir: Path | None = None,
    report: Callable[[str], None] = print,
) -> DemoResult:
    """Start the database (embedded unless IWM_DATABASE_URL is set; the embedded cluster is
    created when the data folder has none), migrate and check it, load the demo data when it
    is empty, and render the due reports.

    The demo data is dated up to ``as_of`` (default: now; see
    :func:`iwm_lab.demodata.seed_database`). A database that holds data already is reused
    as it is, whatever ``as_of``: its rollups and trending topics are refreshed, as the app's
    scheduled jobs would (trending counting back from now), and ``report`` says how old its
    data is. A second run reuses the reports already rendered for the current slots.
    ``output_dir`` overrides the schedule's output folder (``reports/output/``).
    """
    from iwm_lab.demodata import check_as_of, default_as_of, seed_database

    # Checked before anything starts: a bad date should not cost a server start.
    wanted = None if as_of is None else check_as_of(as_of)
    report("starting the database")
    url = database_url(create=True)
    engine = get_engine(url, writable=True)
    try:
        report("upgrading to the head revision")
        revision = migrate.upgrade(engine)
        migrate.check(engine)
        with engine.connect() as conn:
            empty = conn.execute(select(func.count()).select_from(Movie)).scalar_one() == 0
            until, age = (None, None) if empty else data_age(conn)
        if empty:
            # The seeder refreshes the rollups and the trending topics itself, the latter
            # counting back from the data's as_of.
            dated = wanted or default_as_of()
            report(f"loading the {scale} demo dataset, dated up to {moment(dated)} UTC")
            seed_database(engine, scale=scale, as_of=dated)
        else:
            report(f"database already holds data: reusing it; {_described(until, age)}")
            if wanted is not None:
                report("--as-of applies to a new load only: the data is kept as it is")
            report("refreshing the rollups and trending topics")
            operations.refresh_all(engine)
        with engine.connect() as conn:
            counts = table_row_counts(conn, exact=True)
            until, age = data_age(conn)
    finally:
        engine.dispose()
    result = DemoResult(
        url.render_as_string(hide_password=True),
        revision,
        empty,
        counts,
        data_until=until,
        data_age_days=age,
    )
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
        until,
        age,
    )


def _described(until: datetime | None, age_days: float | None) -> str:
    if until is None or age_days is None:
        return "it holds no reviews or pulses"
    if age_days < 1:
        return f"its latest review or pulse is from {moment(until)}, less than a day old"
    return (
        f"its latest review or pulse is from {moment(until)}, {duration(age_days)} old; "
        "`iwm-lab seed --reset` replaces it with demo data dated up to now"
    )
