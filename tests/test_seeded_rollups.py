"""Rollups the seeder counts while it generates the rows (``iwm_lab.demodata.tallies``,
migration 0009): equal to a rebuild in SQL, row for row, and recorded as refreshed.

The tiny dataset already has what makes naive counting wrong: tags spelled four ways ('#Tag',
'tag', ...) that count as one, a movie's own tag that may also follow it, pulses with NULL or
empty hashtag lists, and (with the counting stopped before the data ends) pulses after the
hour a refresh covers up to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import numpy as np
import psycopg
import pytest
from rollup_writes import contents, since, written
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from iwm_lab import operations, rollups
from iwm_lab.database import get_engine
from iwm_lab.demodata import NOTEBOOK_AS_OF, SCALES, seed_database, social, tallies
from iwm_lab.demodata.generate import ROLLUP_SOURCES, SOURCES, chunks
from iwm_lab.demodata.world import World, build_world

pytestmark = pytest.mark.slow

COUNTED = [*tallies.LOADED_TABLES]


@pytest.fixture(scope="module")
def seeded_now(make_database: Callable[..., URL], template_name: str) -> Iterator[Engine]:
    """The tiny dataset running up to now, so that the last pulses fall in the hour that no
    refresh has covered yet."""
    url = make_database("counted", template=template_name)
    engine = get_engine(url, writable=True)
    seed_database(engine, scale="tiny", seed=7, progress=False)
    yield engine
    engine.dispose()


def test_a_full_rebuild_after_the_seed_writes_no_row(seeded_now: Engine) -> None:
    # A rebuild writes only rows that differ from what the seeder loaded (migration 0007).
    with seeded_now.connect() as conn, conn.begin() as tx:
        loaded = {name: contents(conn, name) for name in [*COUNTED, "score_counts"]}
        before = written(conn)
        operations.refresh_rollups_in(conn, list(rollups.TABLE_ROLLUPS), full=True)
        assert since(before, conn) == {}
        assert {name: contents(conn, name) for name in loaded} == loaded
        assert all(loaded.values())
        tx.rollback()


def test_the_counted_rollups_are_recorded_as_loaded(seeded_now: Engine) -> None:
    with seeded_now.connect() as conn:
        records = {
            r.name: r
            for r in conn.execute(
                text(
                    "select name, mode, reason, row_count, covered_until, "
                    "date_trunc('hour', localtimestamp) as hour from rollup_refreshes"
                )
            )
        }
        counts = {
            name: conn.execute(text(f"select count(*) from {name}")).scalar_one()
            for name in tallies.LOADED_ROLLUPS
        }
        pending = conn.execute(text("select count(*) from rollup_changes")).scalar_one()
    for name in tallies.LOADED_ROLLUPS:
        record = records[name]
        assert (record.mode, record.reason, record.row_count) == ("full", "loaded", counts[name])
        # Seeded within the test run: the hour it covers is this one or the one before.
        assert record.hour - timedelta(hours=1) <= record.covered_until <= record.hour
    assert {records[n].reason for n in rollups.ROLLUPS if n not in tallies.LOADED_ROLLUPS} == {
        "asked"
    }
    assert pending == 0


def test_an_incremental_refresh_after_the_seed_changes_nothing_but_new_hours(
    seeded_now: Engine,
) -> None:
    with seeded_now.connect() as conn, conn.begin() as tx:
        loaded = contents(conn, "review_daily_stats"), contents(conn, "score_counts")
        done = operations.refresh_rollups_in(conn, ["review_daily_stats", "score_counts"])
        assert [step.mode for step in done] == ["unchanged", "unchanged"]
        assert (contents(conn, "review_daily_stats"), contents(conn, "score_counts")) == loaded
        tx.rollback()


# Counting stopped before the data ends, against SQL over the tiny dataset's rows.


Counted = tuple[datetime, dict[str, list[dict[str, str]]]]


@pytest.fixture(scope="module")
def counted_until(tiny: Connection) -> Counted:
    """The counted rows of the tiny dataset (as the notebooks have it) with ``until`` three
    days before its end, each table's rows parsed from the COPY text."""
    until = (NOTEBOOK_AS_OF - timedelta(days=3)).replace(minute=0, second=0)
    world = build_world(SCALES["tiny"], 42, NOTEBOOK_AS_OF)
    driver = tiny.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    basis = tallies.read_basis(driver, social.tag_spellings(world))
    tallies.attach(world, tallies.RollupBasis(np.datetime64(until, "s"), basis.tags))
    sources = tuple(s for s in SOURCES if s.table in ("reviews", "pulses")) + ROLLUP_SOURCES
    rows: dict[str, list[dict[str, str]]] = {}
    for chunk in chunks(world, sources):
        if chunk.table in tallies.LOADED_TABLES:
            lines = bytes(chunk.data).decode().splitlines()
            rows.setdefault(chunk.table, []).extend(
                dict(zip(chunk.columns, line.split("\t"), strict=True)) for line in lines
            )
    return until, rows


def _sorted(rows: list[dict[str, str]], *columns: str) -> list[tuple[str, ...]]:
    """The rows' ``columns`` as text the way PostgreSQL prints them (COPY accepts an ISO 'T'
    and padding)."""

    def shown(column: str, value: str) -> str:
        return value.strip().replace("T", " ") if column in ("hour", "day") else value.strip()

    return sorted(tuple(shown(c, row[c]) for c in columns) for row in rows)


def _sql(conn: Connection, query: str, **params: object) -> list[tuple[str, ...]]:
    return sorted(tuple(str(v) for v in row) for row in conn.execute(text(query), params))


def test_pulse_tags_are_counted_as_iwm_pulse_tags_reads_them_before_until(
    counted_until: Counted, tiny: Connection
) -> None:
    until, rows = counted_until
    expected = _sql(
        tiny,
        "select date_trunc('hour', p.created_at), t.tag, "
        "coalesce(p.linked_type, 'general'), count(*) from pulses p "
        "cross join lateral iwm_pulse_tags(p.hashtags) as t(tag) "
        "where p.created_at < :until group by 1, 2, 3",
        until=until,
    )
    assert _sorted(rows["pulse_tag_hours"], "hour", "tag", "category", "pulses") == expected
    # The naive counts differ: pulses after until, and raw spellings that are one tag.
    later = tiny.execute(
        text("select count(*) from pulses where created_at >= :until and hashtags is not null"),
        {"until": until},
    ).scalar_one()
    spellings = tiny.execute(
        text(
            "select count(distinct e) from pulses, jsonb_array_elements_text(hashtags::jsonb) e "
            "where hashtags is not null"
        )
    ).scalar_one()
    tags = tiny.execute(text("select count(distinct tag) from pulse_tag_hours")).scalar_one()
    assert later > 0
    assert spellings > tags


def test_pulse_hours_count_every_pulse_and_the_tagged_ones_before_until(
    counted_until: Counted, tiny: Connection
) -> None:
    until, rows = counted_until
    expected = _sql(
        tiny,
        "select date_trunc('hour', created_at), count(*), "
        "count(*) filter (where exists (select from iwm_pulse_tags(hashtags))) "
        "from pulses where created_at < :until group by 1",
        until=until,
    )
    assert _sorted(rows["pulse_hours"], "hour", "pulses", "tagged_pulses") == expected
    untagged = tiny.execute(
        text("select count(*) from pulses where hashtags is null or hashtags = '[]'")
    ).scalar_one()
    assert untagged > 0


def test_reviews_are_counted_per_day_and_per_movie_and_rating(
    counted_until: Counted, tiny: Connection
) -> None:
    _until, rows = counted_until
    days = _sql(
        tiny,
        "select date_trunc('day', date), count(*), to_char(sum(rating), 'FM999999990.0') "
        "from reviews group by 1",
    )
    assert _sorted(rows["review_daily_stats"], "day", "reviews", "rating_sum") == days
    histogram = _sql(
        tiny,
        "select movie_id, to_char(rating, 'FM90.0'), count(*) from reviews group by 1, 2",
    )
    assert _sorted(rows["movie_score_counts"], "movie_id", "score", "n") == histogram


@pytest.mark.parametrize("table", COUNTED)
def test_a_counted_table_needs_its_rows_generated_first(table: str) -> None:
    world = build_world(SCALES["tiny"], 42, NOTEBOOK_AS_OF)
    tallies.attach(world, tallies.RollupBasis(np.datetime64(NOTEBOOK_AS_OF, "s"), {}))
    [source] = [s for s in ROLLUP_SOURCES if s.table == table]
    with pytest.raises(RuntimeError, match=f"{table} is counted while .* are generated"):
        list(chunks(world, (source,)))


def test_without_a_basis_the_generators_count_nothing() -> None:
    world: World = build_world(SCALES["tiny"], 42, NOTEBOOK_AS_OF)
    for _chunk in chunks(world, tuple(s for s in SOURCES if s.table in ("reviews", "pulses"))):
        pass
    assert world.cache == {}


def test_only_the_four_counted_rollups_can_be_recorded_as_loaded(seeded_now: Engine) -> None:
    with seeded_now.connect() as conn, pytest.raises(Exception) as refused:
        conn.execute(text("select iwm_rollup_loaded('movie_scores')"))
    assert "rollup 'movie_scores' cannot be loaded, expected one of" in str(refused.value)


def test_the_analyst_cannot_record_a_rollup_as_loaded(tiny: Connection) -> None:
    with pytest.raises(Exception, match="permission denied for function iwm_rollup_loaded"):
        tiny.execute(text("select iwm_rollup_loaded('pulse_hours')"))
    tiny.rollback()
