"""The "has the data changed?" fingerprint behind ``run_when = "data_changed"``.

Every write here is made the way iwm-lab's writers make theirs: on a connection of its own
(the writer role), committed, and closed; the test then waits until the server process behind
it has ended, which is when PostgreSQL has added its write counters to the shared statistics.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from iwm_lab.database import get_engine
from iwm_lab.exceptions import UnknownTable
from iwm_lab.importing import import_file
from iwm_lab.migrate import head_revision
from iwm_lab.operations import refresh_rollups
from iwm_lab.reports.datastamp import DataStamp, changed_parts, data_stamp
from iwm_lab.roles import ANALYST_ROLE
from iwm_lab.rollups import ROLLUPS

SEED_SQL = """
insert into users (id, email, hashed_password, name) values
    (1, 'a@example.test', '$argon2id$x', 'Ann'), (2, 'b@example.test', '$argon2id$x', 'Bo');
insert into movies (id, external_id, title) values (1, 'm1', 'Dune'), (2, 'm2', 'Arrival');
insert into genres (id, slug, name) values (1, 'drama', 'Drama'), (2, 'sci-fi', 'Sci-Fi');
insert into reviews (title, content, rating, user_id, movie_id)
    select 'r' || n, 'text', mod(n, 10), 1 + mod(n, 2), 1 + mod(n, 2)
    from generate_series(1, 20) as n;
insert into pulses (content_text, user_id) values ('#dune tonight', 1);
select setval(pg_get_serial_sequence(t, 'id'), 10)
    from unnest(array['users', 'movies', 'genres']) as t;
"""


@pytest.fixture(scope="module")
def seeded_template(make_database: Callable[..., URL], template_name: str) -> str:
    """A database at head with a few rows in the tables the tests write, as a template."""
    url = make_database("stampref", template=template_name)
    engine = get_engine(url, writable=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(SEED_SQL)
    engine.dispose()  # a template cannot be copied while anyone is connected to it
    assert url.database is not None
    return url.database


@pytest.fixture
def fresh_url(make_database: Callable[..., URL], seeded_template: str) -> URL:
    """A database of this test's own: writes in one test never reach another's stamps."""
    return make_database("stamp", template=seeded_template)


@pytest.fixture
def analyst(fresh_url: URL) -> Iterator[Connection]:
    """The analyst's read-only session, one statement per transaction (as reports get)."""
    engine = get_engine(fresh_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def write_and_disconnect(url: URL, sql: str, *, role: str | None = "writer") -> None:
    """Run ``sql`` in a committed transaction of a new connection, close it, and wait until
    its server process has ended (it flushes its write counters on the way out)."""
    engine = get_engine(url, writable=True, role=role)
    with engine.begin() as conn:
        pid = conn.execute(text("select pg_backend_pid()")).scalar_one()
        conn.exec_driver_sql(sql)
    engine.dispose()
    wait_for_exit(url, pid)


def wait_for_exit(url: URL, pid: int) -> None:
    watcher = get_engine(url)
    try:
        deadline = time.monotonic() + 10
        with watcher.connect() as conn:
            while conn.execute(
                text("select count(*) from pg_stat_activity where pid = :pid"), {"pid": pid}
            ).scalar_one():
                assert time.monotonic() < deadline, f"backend {pid} still running"
                time.sleep(0.01)
    finally:
        watcher.dispose()


def test_the_same_stamp_twice_without_writes(analyst: Connection) -> None:
    first, second = data_stamp(analyst), data_stamp(analyst)
    assert first == second
    assert len(first.digest) == 16 and int(first.digest, 16) >= 0
    assert changed_parts(first.parts, second.parts) == []


def test_the_default_covers_every_base_table_rollup_and_window(analyst: Connection) -> None:
    parts = data_stamp(analyst).parts
    assert parts["revision"] == head_revision()
    tables = set(parts["tables"])
    assert {"reviews", "pulses", "movies", "users", "trending_topics"} <= tables
    # The twins stand for their partitions; the records are read exactly, not by counters.
    assert {"reviews_partitioned", "pulses_partitioned"} <= tables
    assert not tables & {"reviews_2024", "alembic_version", "rollup_refreshes"}
    assert not tables & set(ROLLUPS)
    assert set(parts["rollups"]) == set(ROLLUPS)
    # A database copied from a template starts its counters at zero (they are kept per
    # database), whatever rows it holds.
    assert parts["tables"]["reviews"]["inserted"] == 0


WRITES = {
    "insert": (
        "insert into genres (slug, name) values ('crime', 'Crime'), ('war', 'War')",
        ["genres: 2 rows inserted"],
    ),
    "update": ("update genres set name = upper(name)", ["genres: 2 rows updated"]),
    "delete": ("delete from genres where slug = 'drama'", ["genres: 1 row deleted"]),
    "truncate": (
        "truncate genres cascade",
        [
            "genres: truncated, rewritten or repartitioned",
            "movie_genres: truncated, rewritten or repartitioned",
        ],
    ),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_committed_write_changes_the_stamp(
    analyst: Connection, fresh_url: URL, write: str
) -> None:
    sql, expected = WRITES[write]
    before = data_stamp(analyst)
    write_and_disconnect(fresh_url, sql, role=None)  # the owner: TRUNCATE ... CASCADE
    after = data_stamp(analyst)
    assert after.digest != before.digest
    assert changed_parts(before.parts, after.parts) == expected


def test_an_import_changes_the_stamp(analyst: Connection, fresh_url: URL, tmp_path: Path) -> None:
    before = data_stamp(analyst, ["reviews"])
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["title", "content", "rating", "user_id", "movie_id"])
        out.writerows([["great", "loved it", 9, 1, 1], ["meh", "long", 4, 2, 2]] * 500)
    engine = get_engine(fresh_url, writable=True, role="writer")
    with engine.connect() as conn:
        pid = conn.execute(text("select pg_backend_pid()")).scalar_one()
    import_file(engine, "reviews", path)  # the pool hands the same connection back
    engine.dispose()
    wait_for_exit(fresh_url, pid)
    after = data_stamp(analyst, ["reviews"])
    assert after.digest != before.digest
    changes = changed_parts(before.parts, after.parts)
    assert changes[0] == "reviews: 1,000 rows inserted"
    # The import refreshed the rollups over reviews in its transaction: exact at once.
    assert {line.split(" refreshed")[0] for line in changes[1:]} == {
        "rollup movie_review_stats",
        "rollup movie_scores",
        "rollup review_daily_stats",
        "rollup score_counts",
    }


def test_a_rollup_refresh_changes_the_stamp(analyst: Connection, fresh_url: URL) -> None:
    before = data_stamp(analyst)
    # No disconnect: the refresh time is written in the refreshing transaction, so it shows
    # the moment that commits, whatever the counters say.
    engine = get_engine(fresh_url, writable=True, role="writer")
    try:
        refresh_rollups(engine, ["score_counts"])
        after = data_stamp(analyst)
    finally:
        engine.dispose()
    assert after.digest != before.digest
    assert [line for line in changed_parts(before.parts, after.parts) if "rollup" in line] == [
        f"rollup score_counts refreshed at {after.parts['rollups']['score_counts']}"
    ]


def test_a_new_revision_changes_the_stamp(analyst: Connection, fresh_url: URL) -> None:
    before = data_stamp(analyst)
    write_and_disconnect(fresh_url, "update alembic_version set version_num = 'zz99'", role=None)
    after = data_stamp(analyst)
    assert after.digest != before.digest
    assert changed_parts(before.parts, after.parts)[0] == f"revision {head_revision()} -> zz99"


def test_reads_limit_what_counts(analyst: Connection, fresh_url: URL) -> None:
    pulses = data_stamp(analyst, ["pulses"])
    assert set(pulses.parts["tables"]) == {"pulses"}
    assert set(pulses.parts["rollups"]) == {"pulse_hours", "pulse_tag_hours"}
    assert pulses.parts["trending"] == {}
    write_and_disconnect(
        fresh_url, "insert into reviews (title, content, rating) values ('x', 'y', 5)"
    )
    assert data_stamp(analyst, ["pulses"]) == pulses
    assert data_stamp(analyst) != data_stamp(analyst, ["pulses"])
    write_and_disconnect(fresh_url, "insert into pulses (content_text) values ('#arrival')")
    after = data_stamp(analyst, ["pulses"])
    assert changed_parts(pulses.parts, after.parts) == ["pulses: 1 row inserted"]


def test_a_partitioned_table_sums_its_partitions(analyst: Connection, fresh_url: URL) -> None:
    before = data_stamp(analyst, ["reviews_partitioned", "reviews_2024"])
    write_and_disconnect(
        fresh_url,
        "insert into reviews_partitioned (title, content, rating, date) values "
        "('a', 'b', 5, '2024-05-01'), ('c', 'd', 6, '2019-05-01'), ('e', 'f', 7, '2031-05-01')",
        role=None,
    )
    after = data_stamp(analyst, ["reviews_partitioned", "reviews_2024"])
    assert changed_parts(before.parts, after.parts) == [
        "reviews_2024: 1 row inserted",
        "reviews_partitioned: 3 rows inserted",
    ]


def test_a_rollup_named_in_reads_stands_for_itself(analyst: Connection) -> None:
    parts = data_stamp(analyst, ["movie_review_stats", "trending_topics"]).parts
    assert set(parts["rollups"]) == {"movie_review_stats"}
    assert set(parts["tables"]) == {"movie_review_stats", "trending_topics"}
    assert set(parts["trending"]) <= {"7d", "30d"}


def test_a_stamp_inside_a_transaction_sees_new_counters(fresh_url: URL) -> None:
    # The default stats_fetch_consistency ("cache") keeps the counters a transaction read
    # first until it ends; the stamp clears that snapshot.
    engine = get_engine(fresh_url)
    try:
        with engine.connect() as conn, conn.begin():
            before = data_stamp(conn, ["genres"])
            write_and_disconnect(fresh_url, "update genres set name = name || '!'")
            after = data_stamp(conn, ["genres"])
    finally:
        engine.dispose()
    updated = (
        after.parts["tables"]["genres"]["updated"] - before.parts["tables"]["genres"]["updated"]
    )
    assert updated == 2


@pytest.mark.parametrize(
    ("reads", "message"),
    [
        (["reviews", "reveiws"], "unknown table 'reveiws' in reads: did you mean reviews?"),
        (["zzz"], "unknown table 'zzz' in reads: known: audit_log, award_bodies, "),
        (["x" * 300], "unknown table 'xxxxxxxx"),
    ],
)
def test_an_unknown_table_is_named_with_a_suggestion(
    analyst: Connection, reads: list[str], message: str
) -> None:
    with pytest.raises(UnknownTable) as caught:
        data_stamp(analyst, reads)
    assert str(caught.value).startswith(message)
    assert len(str(caught.value)) < 1000


def test_without_write_counters_every_stamp_differs(fresh_url: URL, pg_server: Any) -> None:
    admin = get_engine(pg_server.url("postgres"), writable=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'alter database "{fresh_url.database}" set track_counts = off'))
    admin.dispose()
    engine = get_engine(fresh_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            first, second = data_stamp(conn), data_stamp(conn)
    finally:
        engine.dispose()
    assert first.digest != second.digest
    assert changed_parts(first.parts, second.parts) == [
        "the server keeps no write counters (track_counts = off): always runs"
    ]


def _parts(**tables: dict[str, Any]) -> dict[str, Any]:
    base = {"inserted": 10, "updated": 0, "deleted": 0, "bytes": 8192, "storage": "a"}
    return {
        "revision": "0005",
        "tables": {name: {**base, **values} for name, values in tables.items()},
        "rollups": {},
        "trending": {},
    }


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, _parts(reviews={}), ["no earlier fingerprint to compare with"]),
        (
            _parts(reviews={}),
            _parts(reviews={"inserted": 1_010, "deleted": 3}),
            ["reviews: 1,000 rows inserted", "reviews: 3 rows deleted"],
        ),
        (
            _parts(reviews={"inserted": 500}),
            _parts(reviews={"inserted": 2}),
            ["reviews: write counters were reset (statistics reset or crash recovery)"],
        ),
        (
            _parts(reviews={}),
            _parts(reviews={"bytes": 16384}),
            ["reviews: size 8,192 -> 16,384 bytes"],
        ),
        (_parts(reviews={}), _parts(reviews={}, users={}), ["users: not read before"]),
        (_parts(reviews={}, users={}), _parts(reviews={}), ["users: no longer read"]),
    ],
)
def test_changed_parts_in_words(
    old: dict[str, Any] | None, new: dict[str, Any], expected: list[str]
) -> None:
    assert changed_parts(old, new) == expected


def test_a_stamp_is_plain_data(analyst: Connection) -> None:
    import json

    stamp = data_stamp(analyst, ["reviews"])
    assert DataStamp(stamp.digest, json.loads(json.dumps(stamp.parts))) == stamp


def test_the_analyst_role_may_take_it(tiny_url: URL) -> None:
    # The tiny dataset is seeded; the stamp must not need any right the analyst lacks.
    analyst_engine = get_engine(tiny_url, isolation_level="AUTOCOMMIT")
    try:
        with analyst_engine.connect() as conn:
            assert conn.execute(text("select current_user")).scalar_one() == ANALYST_ROLE
            assert data_stamp(conn).parts["tables"]["reviews"]["inserted"] > 0
    finally:
        analyst_engine.dispose()
