"""Full rebuilds of the rollups stored as tables (migration 0007): rows compared, only the
differing ones written, the same rows as a blocking rebuild, and a downgrade to 0006's rebuild.

A rebuild's writes are read from ``pg_stat_xact_user_tables``, which counts the rows the current
transaction inserted and deleted, functions' statements included, but also those of the
session's earlier transactions whose counts are not yet flushed: so each test compares the
counts before and after, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from rollup_writes import contents, since, written
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from iwm_lab import migrate, operations, rollups
from iwm_lab.database import get_engine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def owner(make_database: Callable[..., URL], template_name: str) -> Iterator[Engine]:
    """The tiny demo dataset in a database of this module's own, as its owner."""
    from iwm_lab.demodata import NOTEBOOK_AS_OF, seed_database

    url = make_database("rebuild", template=template_name)
    engine = get_engine(url, writable=True)
    seed_database(engine, scale="tiny", seed=42, progress=False, as_of=NOTEBOOK_AS_OF)
    yield engine
    engine.dispose()


def rebuild(conn: Connection, *, blocking: bool) -> None:
    operations.refresh_rollups_in(
        conn, list(rollups.TABLE_ROLLUPS), full=True, concurrently=not blocking
    )


def test_a_full_rebuild_of_current_rollups_writes_no_row(owner: Engine) -> None:
    operations.refresh_rollups(owner)
    with owner.connect() as conn, conn.begin() as tx:
        before = written(conn)
        rebuild(conn, blocking=False)
        assert since(before, conn) == {}
        tx.rollback()


def test_a_full_rebuild_writes_exactly_the_rows_that_differ(owner: Engine) -> None:
    operations.refresh_rollups(owner)
    with owner.connect() as conn, conn.begin() as tx:
        before = written(conn)
        # One row lost, one wrong, one that should not be there: three to delete or insert
        # in pulse_tag_hours and nothing anywhere else.
        lost, wrong = conn.execute(
            text("select hour, tag, category from pulse_tag_hours order by 1, 2, 3 limit 2")
        ).all()
        conn.execute(
            text("delete from pulse_tag_hours where (hour, tag, category) = (:h, :t, :c)"),
            dict(zip("htc", lost, strict=True)),
        )
        conn.execute(
            text(
                "update pulse_tag_hours set pulses = pulses + 5 "
                "where (hour, tag, category) = (:h, :t, :c)"
            ),
            dict(zip("htc", wrong, strict=True)),
        )
        conn.execute(
            text(
                "insert into pulse_tag_hours (hour, tag, category, pulses) "
                "values ('1999-01-01 00:00', 'no-such-tag', 'general', 1)"
            )
        )
        tampered = written(conn)
        assert since(before, conn) == {"pulse_tag_hours": (1, 2)}
        rebuild(conn, blocking=False)
        after = since(tampered, conn)
        fixed = contents(conn, "pulse_tag_hours")
        tx.rollback()
    # lost and wrong come back (2 inserts); wrong and the stray row go (2 deletes).
    assert after == {"pulse_tag_hours": (2, 2)}
    with owner.connect() as conn, conn.begin() as tx:
        before = written(conn)
        rebuild(conn, blocking=True)
        assert contents(conn, "pulse_tag_hours") == fixed
        assert since(before, conn)["pulse_tag_hours"][0] == len(fixed)
        tx.rollback()


@pytest.mark.parametrize("name", sorted(rollups.TABLE_ROLLUPS))
def test_both_kinds_of_rebuild_give_the_same_rows_after_changes(owner: Engine, name: str) -> None:
    with owner.connect() as conn, conn.begin() as tx:
        conn.execute(text("update reviews set rating = 10 - rating where id % 3 = 0"))
        conn.execute(text("delete from pulses where id % 5 = 0"))
        conn.execute(text("update movies set year = '1950' where id % 4 = 0"))
        operations.refresh_rollups_in(conn, [name], full=True, concurrently=True)
        in_place = contents(conn, name)
        operations.refresh_rollups_in(conn, [name], full=True, concurrently=False)
        assert contents(conn, name) == in_place
        tx.rollback()


def _functions(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "select proname, md5(prosrc), prosecdef, proconfig::text, proacl::text "
                    "from pg_proc where pronamespace = current_schema()::regnamespace "
                    "order by 1"
                )
            )
        ]


def test_downgrade_to_0006_restores_its_rebuild(
    make_database: Callable[..., URL], template_name: str
) -> None:
    at_0006 = get_engine(make_database("at0006"), writable=True)
    engine = get_engine(make_database("down0007", template=template_name), writable=True)
    try:
        migrate.upgrade(at_0006, "0006")
        assert migrate.downgrade(engine, "0006") == "0006"
        assert _functions(engine) == _functions(at_0006)
        assert migrate.upgrade(engine) == migrate.head_revision()
        migrate.check(engine)
    finally:
        at_0006.dispose()
        engine.dispose()
