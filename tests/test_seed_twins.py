"""The partitioned twins, filled by a second session during the seed (``demodata.twins``).

The twins must end up holding exactly their tables' rows, with their keys and indexes, and a
failure on either session must leave the database as it was: the twins' session commits only
after the seeder's, and either one failing rolls both back without waiting on the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from seeding import seed
from sqlalchemy import text
from sqlalchemy.engine import URL

from iwm_lab import demodata
from iwm_lab.database import get_engine
from iwm_lab.demodata import load

pytestmark = pytest.mark.slow

# A row as text, with the twin's columns in its table's order: equal text, equal rows.
_DIGEST = "select count(*), md5(string_agg(t::text, '|' order by t.id)) from {} t"
_INDEXES = (
    "select i.relname from pg_index x join pg_class i on i.oid = x.indexrelid "
    "where x.indrelid = cast(:t as regclass) order by 1"
)


def _scalars(url: URL, statement: str, **params: Any) -> list[Any]:
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(statement), params).all())
    finally:
        engine.dispose()


def _execute(url: URL, statement: str) -> None:
    engine = get_engine(url, writable=True)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def fresh(make_database: Callable[..., URL], template_name: str) -> Callable[[], URL]:
    return lambda: make_database("twins", template=template_name)


@pytest.mark.parametrize("rebuild", [False, True], ids=["indexes kept", "indexes rebuilt"])
def test_the_twins_hold_their_tables_rows_and_indexes(
    fresh: Callable[[], URL], monkeypatch: pytest.MonkeyPatch, rebuild: bool
) -> None:
    url = fresh()
    indexes = {t: _scalars(url, _INDEXES, t=t) for t in load.TWINS}
    if rebuild:  # what a large load does: keys and indexes dropped, then built again
        monkeypatch.setattr(demodata, "TWIN_REBUILD_ROWS", 0)
    report = seed(url)
    for twin, table in load.TWINS.items():
        (twin_rows,) = _scalars(url, _DIGEST.format(twin))
        (table_rows,) = _scalars(url, _DIGEST.format(table))
        assert twin_rows == table_rows and twin_rows[0] > 0
        assert report.extra_rows[twin] == twin_rows[0]
        assert _scalars(url, _INDEXES, t=twin) == indexes[twin]
        assert f"{twin} copy" in report.steps and f"{twin} analyze" in report.steps
    assert report.twins_seconds > 0


def test_no_twins_thread_runs_when_the_generator_process_is_forked(
    fresh: Callable[[], URL], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The twins' thread starts after the seeder's COPY: a process with another thread running
    # is not forked (load.can_fork), and the generator would share the GIL. Other tests may
    # leave threads of their own in this process, so the twins' is looked for by name.
    running: list[list[str]] = []
    real = load.can_fork

    def can_fork() -> bool:
        running.append([t.name for t in threading.enumerate()])
        return real()

    monkeypatch.setattr(load, "can_fork", can_fork)
    report = seed(fresh())
    assert len(running) == 1 and "iwm-seed-twins" not in running[0]
    assert report.twins_seconds > 0  # the thread did run, later


def _refusing(url: URL, table: str) -> None:
    # Every row of the tiny data has a rating or a creation time: the table's COPY fails.
    column = "rating" if table.startswith("reviews") else "created_at"
    _execute(url, f"alter table {table} add constraint ck_refuse check ({column} is null)")


@pytest.mark.parametrize(
    ("refusing", "session"),
    [("reviews_partitioned", "the twins'"), ("pulses", "the seeder's")],
)
def test_a_failure_on_either_session_rolls_both_back(
    fresh: Callable[[], URL], refusing: str, session: str
) -> None:
    url = fresh()
    _refusing(url, refusing)
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            seed(url)
        except BaseException as error:
            outcome.append(error)

    # In a thread with a deadline: a session left waiting for the other would hang the seed.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), f"the seed hung after {session} session failed"
    assert outcome and "ck_refuse" in str(outcome[0])
    # Rows went into both sessions' tables before the failure; neither kept any.
    counted = ("movies", "reviews", *load.TWINS)
    counts = {t: _scalars(url, f"select count(*) from {t}")[0][0] for t in counted}
    assert counts == dict.fromkeys(counted, 0)
