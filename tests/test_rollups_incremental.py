"""Incremental rollups (migration 0006): the change log, the default refresh against a rebuild.

The rows of every rollup after the default refresh must equal a full rebuild's, whatever
changed: inserts, updates (of a review's rating, movie or date, a pulse's hashtags or time, a
movie's year, scores or genres) and deletes, of every rollup (movie_scores and pulse_hours
included). Each case changes a copy of the tiny demo
dataset, refreshes by default (and checks it did not rebuild), then rebuilds in full in a
transaction rolled back afterwards, and compares every rollup's rows.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from iwm_lab import migrate, operations, rollups
from iwm_lab.database import get_engine
from iwm_lab.exceptions import ReadOnlySessionError

pytestmark = pytest.mark.slow

Rows = list[tuple[Any, ...]]


@pytest.fixture(scope="module")
def seeded_url(make_database: Callable[..., URL], template_name: str) -> URL:
    """A database of this module's own holding the tiny demo dataset (changed by the tests)."""
    from iwm_lab.demodata import NOTEBOOK_AS_OF, seed_database

    url = make_database("incremental", template=template_name)
    engine = get_engine(url, writable=True)
    seed_database(engine, scale="tiny", seed=42, progress=False, as_of=NOTEBOOK_AS_OF)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def owner(seeded_url: URL) -> Iterator[Engine]:
    engine = get_engine(seeded_url, writable=True)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def writer(seeded_url: URL) -> Iterator[Engine]:
    engine = get_engine(seeded_url, writable=True, role="writer")
    yield engine
    engine.dispose()


def snapshot(conn: Connection) -> dict[str, Rows]:
    """Every rollup's rows, sorted."""
    found = {}
    for name in rollups.ROLLUPS:
        rows = [tuple(r) for r in conn.execute(text(f"select * from {name}"))]
        found[name] = sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))
    return found


def _same(a: Rows, b: Rows) -> bool:
    # Sums of ratings are exact (halves); a standard deviation may differ in its last bits
    # with the order the rows are read in, as between two full rebuilds.
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                if not math.isclose(u, v, rel_tol=1e-12, abs_tol=1e-12):
                    return False
            elif u != v:
                return False
    return True


def full_rebuild(engine: Engine) -> dict[str, Rows]:
    """What a full rebuild gives now (rolled back: the rollups stay as they were)."""
    with engine.connect() as conn, conn.begin() as tx:
        operations.refresh_rollups_in(conn, full=True)
        rebuilt = snapshot(conn)
        tx.rollback()
    return rebuilt


def refresh_and_compare(engine: Engine) -> dict[str, operations.RollupRefresh]:
    """The default refresh, then every rollup compared with a full rebuild; returns the steps."""
    done = {step.name: step for step in operations.refresh_rollups(engine)}
    with engine.connect() as conn:
        incremental = snapshot(conn)
    rebuilt = full_rebuild(engine)
    differing = [n for n in rollups.ROLLUPS if not _same(incremental[n], rebuilt[n])]
    assert differing == [], {n: (done[n], len(incremental[n]), len(rebuilt[n])) for n in differing}
    return done


def test_the_seed_leaves_an_empty_log_and_enabled_triggers(owner: Engine) -> None:
    with owner.connect() as conn:
        assert conn.execute(text("select count(*) from rollup_changes")).scalar_one() == 0
        modes = dict(conn.execute(text("select name, mode from rollup_refreshes")).all())
        disabled = conn.execute(
            text("select count(*) from pg_trigger where not tgisinternal and tgenabled = 'D'")
        ).scalar_one()
    assert set(modes.values()) == {"full"}
    assert disabled == 0
    migrate.check(owner)


# Each change, and the rollups whose default refresh must then be incremental (not rebuilt).
REVIEW_ROLLUPS = {"movie_review_stats", "review_daily_stats", "score_counts", "movie_scores"}
PULSE_ROLLUPS = {"pulse_tag_hours", "pulse_hours"}
CHANGES: dict[str, tuple[str, set[str]]] = {
    "insert reviews": (
        "insert into reviews (title, content, rating, date, movie_id) "
        "select 'new', 'c', 3.5, '2020-02-03 04:05', id from movies order by id limit 7",
        REVIEW_ROLLUPS,
    ),
    "update a rating": (
        "update reviews set rating = case when rating < 5 then 9.5 else 0.5 end "
        "where id in (select id from reviews order by id limit 5)",
        REVIEW_ROLLUPS,
    ),
    "move reviews to another movie": (
        "update reviews set movie_id = (select max(id) from movies) "
        "where id in (select id from reviews order by id desc limit 4)",
        {"movie_review_stats", "score_counts", "movie_scores"},
    ),
    "change review dates": (
        "update reviews set date = date - interval '40 days' "
        "where id in (select id from reviews order by id limit 6)",
        {"review_daily_stats"},
    ),
    "delete reviews": (
        "delete from reviews where id in (select id from reviews order by id desc limit 9)",
        REVIEW_ROLLUPS,
    ),
    "insert pulses": (
        "insert into pulses (content_text, hashtags, linked_type, created_at) values "
        "('a', '[\"#Dune\", \"new tag\"]', 'movie', '2021-05-06 07:08'), "
        "('b', '[\"#Dune\"]', null, '2021-05-06 07:30'), "
        "('c', '[\"now\"]', null, localtimestamp)",
        PULSE_ROLLUPS,
    ),
    "update pulse hashtags and times": (
        "update pulses set hashtags = '[\"#Edited\"]', "
        "created_at = created_at - interval '3 hours' "
        "where id in (select id from pulses where hashtags is not null order by id limit 5)",
        PULSE_ROLLUPS,
    ),
    "delete pulses": (
        "delete from pulses where id in (select id from pulses order by id desc limit 8)",
        PULSE_ROLLUPS,
    ),
    "change a movie's year": (
        "update movies set year = '1901' "
        "where id in (select movie_id from reviews order by id limit 1)",
        {"score_counts", "movie_scores"},
    ),
    "change a movie's scores": (
        "update movies set siddu_score = 9.9, imdb_rating = 1.1 "
        "where id in (select id from movies order by id limit 2)",
        {"score_counts", "movie_scores"},
    ),
    "change genres": (
        "delete from movie_genres where movie_id = (select min(movie_id) from movie_genres);"
        "insert into movie_genres (movie_id, genre_id) "
        "select m.id, g.id from movies as m cross join genres as g "
        "where m.id = (select max(movie_id) from reviews) "
        "on conflict do nothing",
        {"score_counts", "movie_scores"},
    ),
    "change offers": (
        "delete from movie_streaming_options "
        "where id in (select id from movie_streaming_options order by id limit 3);"
        "update movie_streaming_options set price = '₹1,49,999', type = 'buy' "
        "where id in (select id from movie_streaming_options order by id desc limit 2)",
        set(),
    ),
    "delete a movie": (
        "delete from reviews where movie_id = (select id from movies where title = 'Doomed');"
        "delete from movies where title = 'Doomed'",
        REVIEW_ROLLUPS,
    ),
}


# Rows a case needs first (refreshed before it runs).
SETUP: dict[str, str] = {
    "delete a movie": "insert into movies (title, year, imdb_rating) "
    "values ('Doomed', '1977', 6.6);"
    "insert into movie_genres (movie_id, genre_id) "
    "select m.id, min(g.id) from movies as m, genres as g where m.title = 'Doomed' group by m.id;"
    "insert into reviews (title, content, rating, date, movie_id) "
    "select 'r', 'c', 4.5, '2016-06-06', id from movies where title = 'Doomed'",
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_default_refresh_equals_a_full_rebuild(owner: Engine, change: str) -> None:
    if change in SETUP:
        with owner.begin() as conn:
            for statement in SETUP[change].split(";"):
                conn.execute(text(statement))
    refresh_and_compare(owner)  # whatever earlier cases left, settled
    statements, incremental = CHANGES[change]
    with owner.connect() as conn:
        before = snapshot(conn)
    with owner.begin() as conn:
        for statement in statements.split(";"):
            conn.execute(text(statement))
    done = refresh_and_compare(owner)
    with owner.connect() as conn:
        after = snapshot(conn)
    # The change reached the rollups: a refresh that did nothing would have failed above.
    assert any(not _same(before[n], after[n]) for n in rollups.ROLLUPS)
    for name in incremental:
        assert done[name].mode == "incremental", done[name]
        assert done[name].changes > 0
    for name in set(rollups.TABLE_ROLLUPS) - incremental:
        assert done[name].mode in ("incremental", "unchanged"), done[name]
    # A view is rebuilt only when its sources changed.
    watched = {"change offers": rollups.SOURCES["movie_streaming_options"]}
    for name in rollups.VIEW_ROLLUPS:
        if name in watched.get(change, ()):
            assert (done[name].mode, done[name].reason) == ("full", "sources changed")


def test_nothing_changed_nothing_done(owner: Engine) -> None:
    refresh_and_compare(owner)
    again = operations.refresh_rollups(owner, (*rollups.VIEW_ROLLUPS, "movie_review_stats"))
    assert {step.mode for step in again} == {"unchanged"}
    assert {step.changes for step in again} == {0}


def test_movie_scores_follows_a_movie_from_insert_to_delete(owner: Engine) -> None:
    """A new movie without reviews or genres gets a row (reviews 0, no genres), its genres come
    in ascending order, and its row goes with it; a rollup over the reviewed movies only, or
    one that logged reviews alone, would differ."""
    refresh_and_compare(owner)
    query = text(
        "select year, reviews, rating_sum, rating_stddev, genre_ids "
        "from movie_scores where movie_id = :m"
    )
    with owner.begin() as conn:
        movie = conn.execute(
            text("insert into movies (title, year) values ('Unseen', 'c.99') returning id")
        ).scalar_one()
    done = refresh_and_compare(owner)
    assert done["movie_scores"].mode == "incremental"
    with owner.connect() as conn:
        assert tuple(conn.execute(query, {"m": movie}).one()) == (None, 0, None, None, [])
    with owner.begin() as conn:
        genres = conn.execute(
            text(
                "insert into movie_genres (movie_id, genre_id) "
                "select :m, id from genres order by id desc limit 3 returning genre_id"
            ),
            {"m": movie},
        ).scalars()
        expected = sorted(genres)
        conn.execute(text("update movies set year = '2003' where id = :m"), {"m": movie})
    refresh_and_compare(owner)
    with owner.connect() as conn:
        assert tuple(conn.execute(query, {"m": movie}).one()) == (2003, 0, None, None, expected)
    assert len(expected) == 3
    with owner.begin() as conn:
        conn.execute(text("delete from movies where id = :m"), {"m": movie})  # genres cascade
    done = refresh_and_compare(owner)
    assert done["movie_scores"].mode == "incremental"
    with owner.connect() as conn:
        assert conn.execute(query, {"m": movie}).first() is None


@pytest.mark.parametrize("untagged", [None, "[]", '["#"]'])
def test_tagging_a_pulse_moves_tagged_pulses(owner: Engine, untagged: str | None) -> None:
    """A pulse whose hashtags go from none (NULL, or text without a tag) to a tag is counted
    once more in tagged_pulses of its hour, and the hour's pulses stay."""
    refresh_and_compare(owner)
    hour = text("select pulses, tagged_pulses from pulse_hours where hour = '2021-03-04 05:00'")
    with owner.begin() as conn:
        pulse = conn.execute(
            text(
                "insert into pulses (content_text, hashtags, created_at) "
                "values ('u', :h, '2021-03-04 05:06') returning id"
            ),
            {"h": untagged},
        ).scalar_one()
    refresh_and_compare(owner)
    with owner.connect() as conn:
        pulses, tagged = conn.execute(hour).one()
    with owner.begin() as conn:
        conn.execute(
            text("update pulses set hashtags = '[\"#Fresh\"]' where id = :p"), {"p": pulse}
        )
    done = refresh_and_compare(owner)
    assert done["pulse_hours"].mode == "incremental"
    with owner.connect() as conn:
        assert tuple(conn.execute(hour).one()) == (pulses, tagged + 1)
    with owner.begin() as conn:
        conn.execute(text("delete from pulses where id = :p"), {"p": pulse})
    refresh_and_compare(owner)
    with owner.connect() as conn:
        assert tuple(conn.execute(hour).first() or (0, 0)) == (pulses - 1, tagged)


@pytest.mark.parametrize("table", ["pulses", "movie_streaming_options"])
def test_a_truncate_makes_the_next_refresh_rebuild_and_say_so(
    make_database: Callable[..., URL], template_name: str, table: str
) -> None:
    engine = get_engine(make_database("truncated", template=template_name), writable=True)
    try:
        with engine.begin() as conn:
            movie = conn.execute(
                text("insert into movies (title) values ('T') returning id")
            ).scalar_one()
            conn.execute(
                text(
                    "insert into pulses (content_text, hashtags, created_at) "
                    "values ('p', '[\"gone\"]', '2022-01-01 10:00')"
                )
            )
            conn.execute(
                text(
                    "insert into movie_streaming_options (movie_id, region, type) "
                    "values (:m, 'US', 'rent')"
                ),
                {"m": movie},
            )
        refresh_and_compare(engine)
        with engine.begin() as conn:
            conn.execute(text(f"truncate {table}"))
        done = refresh_and_compare(engine)
        rebuilt = {n for n, step in done.items() if step.mode == "full"}
        assert rebuilt == set(rollups.SOURCES[table])
        assert {done[n].reason for n in rebuilt} == {f"{table} truncated"}
        with engine.connect() as conn:
            emptied = rollups.SOURCES[table][0]
            rows = conn.execute(text(f"select count(*) from {emptied}")).scalar_one()
        assert rows == 0
    finally:
        engine.dispose()


def test_two_writers_log_without_waiting_for_each_other(owner: Engine) -> None:
    refresh_and_compare(owner)
    insert = text(
        "insert into reviews (title, content, rating, date, movie_id) "
        "select 'w', 'c', :rating, '2019-09-09', id from movies order by id limit 3"
    )
    with owner.connect() as first, owner.connect() as second:
        first.begin()
        second.begin()
        first.execute(text("set local lock_timeout = '2s'"))
        second.execute(text("set local lock_timeout = '2s'"))
        first.execute(insert, {"rating": 1.5})
        second.execute(insert, {"rating": 2.5})  # the first is still open
        second.commit()
        first.commit()
    done = refresh_and_compare(owner)
    assert done["movie_review_stats"].mode == "incremental"


@pytest.mark.parametrize(
    "rollup", ["movie_review_stats", "review_daily_stats", "score_counts", "movie_scores"]
)
def test_a_write_committed_during_a_refresh_is_counted_once_by_the_next(
    owner: Engine, rollup: str
) -> None:
    """Keys (movie_review_stats, movie_scores) or deltas (the others): a review committed while
    a refresh runs is left in the log, and the next refresh counts it, once."""
    refresh_and_compare(owner)
    writer_done = threading.Event()
    with owner.connect() as refreshing, owner.connect() as writing:
        writing.begin()
        writing.execute(
            text(
                "insert into reviews (title, content, rating, date, movie_id) "
                "select 'late', 'c', 6, '2018-08-08', min(id) from movies"
            )
        )
        refreshing.begin()
        # The refresh consumes the log while the write is uncommitted...
        [step] = operations.refresh_rollups_in(refreshing, [rollup])
        assert step.mode in ("incremental", "unchanged")

        def commit() -> None:
            writing.commit()
            writer_done.set()

        thread = threading.Thread(target=commit)
        thread.start()
        thread.join(10)
        assert writer_done.is_set(), "the writer waited for the refresh"
        refreshing.commit()  # ...and the write commits before the refresh does.
    with owner.connect() as conn:
        pending = conn.execute(
            text("select count(*) from rollup_changes where rollup = :r"), {"r": rollup}
        ).scalar_one()
    assert pending == 1
    done = refresh_and_compare(owner)
    assert done[rollup].mode == "incremental"


def test_the_writer_refreshes_but_cannot_write_the_log_or_the_rollups(
    writer: Engine, owner: Engine
) -> None:
    with writer.begin() as conn:
        conn.execute(
            text(
                "insert into reviews (title, content, rating, date, movie_id) "
                "select 'by writer', 'c', 8, '2017-07-07', min(id) from movies"
            )
        )
    done = operations.refresh_rollups(writer, ["movie_review_stats", "review_daily_stats"])
    assert [step.mode for step in done] == ["incremental", "incremental"]
    assert [step.mode for step in operations.refresh_rollups(writer, full=True)] == ["full"] * len(
        rollups.ROLLUPS
    )
    for statement in (
        "insert into rollup_changes (rollup, source) values ('score_counts', 'reviews')",
        "delete from rollup_changes",
        "delete from movie_review_stats",
        "update score_counts set n = n + 1",
        "delete from movie_scores",
        "update pulse_hours set pulses = pulses + 1",
        "truncate movie_score_counts",
        "select iwm_rollup_refresh('score_counts', true, false)",
    ):
        with writer.connect() as conn, pytest.raises(DBAPIError, match="permission denied"):
            conn.execute(text(statement))
    refresh_and_compare(owner)


def test_an_analyst_cannot_refresh(seeded_url: URL) -> None:
    analyst = get_engine(seeded_url)
    try:
        with analyst.connect() as conn:
            assert conn.execute(text("select current_user")).scalar_one() == "iwm_analyst"
            with pytest.raises(ReadOnlySessionError):
                operations.refresh_rollups_in(conn, ["score_counts"], full=True)
            for function in ("iwm_refresh_rollup", "iwm_refresh_rollup_full"):
                with pytest.raises(DBAPIError, match="permission denied for function"):
                    conn.execute(text(f"select {function}('score_counts', false)"))
                conn.rollback()
            # Reading is what analysts do.
            assert conn.execute(text("select count(*) from score_counts")).scalar_one() > 0
    finally:
        analyst.dispose()


def _objects(engine: Engine) -> dict[str, Any]:
    """What a downgrade must restore: relations with their view definitions, comments and
    indexes, the functions with their bodies and rights, the records' columns."""
    queries = {
        "relations": """
            select c.relname, c.relkind, pg_get_viewdef(c.oid), obj_description(c.oid),
                   (select string_agg(pg_get_indexdef(i.indexrelid), '; ' order by 1)
                    from pg_index as i where i.indrelid = c.oid)
            from pg_class as c
            where c.relnamespace = current_schema()::regnamespace and c.relkind in ('m', 'r')
            order by 1""",
        "functions": """
            select proname, md5(prosrc), prosecdef, proconfig::text, proacl::text
            from pg_proc where pronamespace = current_schema()::regnamespace order by 1""",
        "records": """
            select column_name, data_type, col_description('rollup_refreshes'::regclass,
                                                           ordinal_position)
            from information_schema.columns where table_name = 'rollup_refreshes'
            order by ordinal_position""",
    }
    with engine.connect() as conn:
        found: dict[str, Any] = {k: conn.execute(text(q)).all() for k, q in queries.items()}
        found["owned"] = migrate.owned_objects(conn)
    return found


def test_downgrade_restores_0005_exactly_and_upgrade_comes_back(
    make_database: Callable[..., URL], template_name: str, seeded_url: URL
) -> None:
    at_0005 = get_engine(make_database("at0005"), writable=True)
    engine = get_engine(make_database("downgraded", template=template_name), writable=True)
    try:
        migrate.upgrade(at_0005, "0005")
        with engine.begin() as conn:
            conn.execute(text("insert into movies (title, year) values ('D', '1999')"))
            conn.execute(
                text(
                    "insert into reviews (title, content, rating, date, movie_id) "
                    "select 'r', 'c', 7, '2020-01-01', id from movies"
                )
            )
        assert migrate.downgrade(engine, "0005") == "0005"
        assert _objects(engine) == _objects(at_0005)
        with engine.connect() as conn:
            stats = conn.execute(text("select movie_id, reviews from movie_review_stats")).all()
        assert len(stats) == 1 and stats[0][1] == 1  # populated again
        assert migrate.upgrade(engine) == migrate.head_revision()
        migrate.check(engine)
        refresh_and_compare(engine)
    finally:
        at_0005.dispose()
        engine.dispose()
