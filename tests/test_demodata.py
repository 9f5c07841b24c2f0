"""Demo data (``iwm_lab.demodata``): deterministic, complete, realistic, and careful.

Every seed here is scale ``tiny`` into a fresh copy of the migrated template database, so
the database itself checks every key, foreign key and CHECK constraint (the loader re-adds
them after COPY, which validates all rows). ``AS_OF`` is a fixed moment well before today:
the trending refresh counts its windows back from the data's as-of, not from the clock, so
the burst week still tops the 7-day list, and the same as-of gives the same rows on any day.
Without an as-of, the data runs up to the moment it is seeded.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from seeding import AS_OF, seed
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from iwm_lab.database import get_engine
from iwm_lab.demodata import (
    NOTEBOOK_AS_OF,
    SCALES,
    SeedNeedsOption,
    SeedReport,
    check_as_of,
    copytext,
    generate,
    load,
    seed_database,
    vocab,
)
from iwm_lab.demodata.generate import SOURCES, Chunk, TableSource, chunks
from iwm_lab.demodata.world import World, build_world
from iwm_lab.exceptions import ReadOnlySessionError, SchemaNotReady
from iwm_lab.models import Base
from iwm_lab.models.values import STREAMING_OPTION_TYPES, STREAMING_QUALITIES
from iwm_lab.server import is_embedded
from iwm_lab.settings import Settings, get_settings

pytestmark = pytest.mark.slow

TABLES = [t.name for t in Base.metadata.sorted_tables] + [
    "reviews_partitioned",
    "pulses_partitioned",
]
# trending_topics included: its windows end at the data's as-of, not at the clock.
CHECKED = TABLES
TRIVIA_KEYS = {"question", "category", "answer", "explanation"}
TIMELINE_KEYS = {"date", "title", "description", "type"}


def checksums(url: URL) -> dict[str, str]:
    engine = get_engine(url)
    with engine.connect() as conn:
        sums = {
            t: conn.execute(
                text(f"select md5(string_agg(t::text, '|' order by t::text)) from {t} t")
            ).scalar_one()
            for t in CHECKED
        }
    engine.dispose()
    return sums


@pytest.fixture(scope="module")
def fresh(make_database: Callable[..., URL], template_name: str) -> Callable[[], URL]:
    return lambda: make_database("seed", template=template_name)


@pytest.fixture(scope="module")
def seeded(fresh: Callable[[], URL]) -> tuple[URL, SeedReport]:
    url = fresh()
    return url, seed(url, seed=42)


@pytest.fixture(scope="module")
def db(seeded: tuple[URL, SeedReport]) -> Iterator[Engine]:
    engine = get_engine(seeded[0])
    yield engine
    engine.dispose()


def rows(db: Engine, sql: str) -> list[Any]:
    with db.connect() as conn:
        return list(conn.execute(text(sql)))


def value(db: Engine, sql: str) -> Any:
    with db.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


# Determinism


@pytest.mark.heavy
def test_same_scale_and_seed_give_the_same_rows(
    seeded: tuple[URL, SeedReport], fresh: Callable[[], URL]
) -> None:
    again = fresh()
    seed(again, seed=42)
    first, second = checksums(seeded[0]), checksums(again)
    assert first == second


def test_another_seed_gives_other_rows(
    seeded: tuple[URL, SeedReport], fresh: Callable[[], URL]
) -> None:
    other = fresh()
    seed(other, seed=7)
    first, second = checksums(seeded[0]), checksums(other)
    for table in ("movies", "people", "users", "reviews", "pulses", "watchlist"):
        assert first[table] != second[table], table


# Completeness and counts


def test_every_table_holds_rows(db: Engine) -> None:
    empty = [t for t in TABLES if value(db, f"select count(*) from {t}") == 0]
    assert empty == []
    windows = dict(rows(db, "select window_label, count(*) from trending_topics group by 1"))
    assert windows.keys() == {"7d", "30d"}


def test_row_counts_of_the_tiny_scale(seeded: tuple[URL, SeedReport], db: Engine) -> None:
    tiny = SCALES["tiny"]
    count = {t: value(db, f"select count(*) from {t}") for t in TABLES}
    exact = {
        "movies": tiny.movies,
        "people": tiny.people,
        "users": tiny.users,
        "scenes": tiny.scenes,
        "collections": tiny.collections,
        "reviews": tiny.reviews,
        "pulses": tiny.pulses,
        "genres": len(vocab.GENRES),
        "streaming_platforms": len(vocab.PLATFORMS),
        "reviews_partitioned": tiny.reviews,
        "pulses_partitioned": tiny.pulses,
    }
    assert {t: count[t] for t in exact} == exact
    per_movie = {
        "movie_genres": (1, 3),
        "movie_people": (6, 20),
        "movie_streaming_options": (3, 15),
    }
    for table, (low, high) in per_movie.items():
        assert low * tiny.movies <= count[table] <= high * tiny.movies, table
    per_user = {
        "watchlist": tiny.watchlist_per_user,
        "favorites": tiny.favorites_per_user,
        "user_follows": tiny.follows_per_user,
    }
    for table, mean in per_user.items():
        assert 0.5 * mean * tiny.users <= count[table] <= 1.5 * mean * tiny.users, table
    assert count["collection_movies"] >= 3 * tiny.collections
    report = seeded[1]
    assert {t: load.rows for t, load in report.tables.items()} == {
        t: count[t] for t in report.tables
    }
    assert report.rows == sum(count[t] for t in report.tables)


def test_sequences_continue_after_the_loaded_ids(seeded: tuple[URL, SeedReport]) -> None:
    engine = get_engine(seeded[0], writable=True)
    with engine.connect() as conn, conn.begin() as tx:
        new = conn.execute(
            text("insert into genres (slug, name) values ('noir', 'Noir') returning id")
        ).scalar_one()
        assert new == len(vocab.GENRES) + 1
        tx.rollback()
    engine.dispose()


# Shapes


def test_a_few_blockbusters_hold_most_of_the_activity(db: Engine) -> None:
    for table, column in (
        ("reviews", "movie_id"),
        ("watchlist", "movie_id"),
        ("pulses", "linked_movie_id"),
    ):
        counts = np.sort(
            [
                n
                for (n,) in rows(
                    db, f"select count(*) from {table} where {column} is not null group by {column}"
                )
            ]
        )[::-1]
        movies = value(db, "select count(*) from movies")
        top_one_percent = counts[: max(1, movies // 100)].sum() / counts.sum()
        top_tenth = counts[: movies // 10].sum() / counts.sum()
        assert top_one_percent >= 0.15, table
        assert top_tenth >= 0.5, table


def test_scores_are_in_range_correlated_and_sometimes_missing(db: Engine) -> None:
    bounds = rows(
        db,
        "select min(siddu_score), max(siddu_score), min(critics_score), max(critics_score), "
        "min(imdb_rating), max(imdb_rating), min(rotten_tomatoes_score), "
        "max(rotten_tomatoes_score) from movies",
    )[0]
    assert all(0 <= v <= 10 for v in bounds[:6])
    assert 0 <= bounds[6] <= bounds[7] <= 100
    pairs = np.array(
        rows(
            db,
            "select imdb_rating, rotten_tomatoes_score from movies where "
            "imdb_rating is not null and rotten_tomatoes_score is not null",
        ),
        dtype=float,
    )
    assert np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1] > 0.5
    same = value(db, "select count(*) from movies where siddu_score = imdb_rating")
    assert same < value(db, "select count(imdb_rating) from movies") / 2
    for column in ("siddu_score", "critics_score", "imdb_rating", "rotten_tomatoes_score"):
        assert value(db, f"select count(*) from movies where {column} is null") > 0, column


def test_user_ratings_skew_high_and_differ_by_genre_and_era(db: Engine) -> None:
    assert value(db, "select avg(rating) from reviews") > 6
    assert value(db, "select count(*) from reviews where rating = 10") > 0
    assert value(db, "select count(*) from reviews where rating < 4") > 0
    by_genre = dict(
        rows(
            db,
            "select g.slug, avg(r.rating) from reviews r join movie_genres mg using (movie_id) "
            "join genres g on g.id = mg.genre_id group by g.slug having count(*) > 50",
        )
    )
    assert max(by_genre.values()) - min(by_genre.values()) > 0.3


def test_releases_span_decades_with_upcoming_and_unscheduled_films(db: Engine) -> None:
    statuses = dict(rows(db, "select status, count(*) from movies group by status"))
    assert statuses.keys() == {"released", "upcoming", "in-production"}
    assert value(db, "select min(year::int) from movies") < 1985
    assert (
        value(
            db,
            f"select count(*) from movies where status = 'upcoming' and release_date <= '{AS_OF}'",
        )
        == 0
    )
    assert value(db, "select count(*) from movies where release_date is null") > 0
    assert value(db, "select count(distinct language) from movies") >= 6
    assert value(db, "select count(distinct country) from movies") >= 6
    assert value(db, "select max(revenue) from movies") > 2**31
    assert (
        value(
            db,
            "select count(*) from reviews r join movies m on m.id = r.movie_id "
            "where m.status <> 'released' or r.date < m.release_date",
        )
        == 0
    )


def test_trivia_and_timeline_are_shaped_as_the_seed(db: Engine) -> None:
    trivia = [t for (t,) in rows(db, "select trivia from movies where trivia is not null")]
    timeline = [t for (t,) in rows(db, "select timeline from movies where timeline is not null")]
    assert trivia and timeline
    for items, keys in ((trivia, TRIVIA_KEYS), (timeline, TIMELINE_KEYS)):
        for doc in items:
            assert isinstance(doc, list) and doc
            assert all(isinstance(item, dict) and item.keys() == keys for item in doc)
    dates = [datetime.strptime(e["date"], "%Y-%m-%d") for doc in timeline for e in doc]
    assert max(dates) <= AS_OF
    assert any(item["question"] == "What was the budget?" for doc in trivia for item in doc)


def test_streaming_offers_cover_regions_with_gaps_and_local_prices(db: Engine) -> None:
    offers = rows(
        db,
        "select o.region, o.type, o.price, o.quality, p.name from movie_streaming_options o "
        "join streaming_platforms p on p.id = o.platform_id",
    )
    regions = {r for r, *_ in offers}
    assert regions <= set(vocab.REGIONS) and len(regions) >= 8
    assert {t for _, t, *_ in offers} == set(STREAMING_OPTION_TYPES)
    assert {q for *_, q, _ in offers} <= {*STREAMING_QUALITIES, None}
    allowed = {name: set(regions) for name, _, _, regions, _, _ in vocab.PLATFORMS}
    assert all(r in allowed[name] for r, *_, name in offers)
    symbols = {"US": "$", "IN": "₹", "UK": "£", "DE": "€", "JP": "¥"}
    for region, kind, price, _, _ in offers:
        if kind == "subscription":
            assert price is None
        elif kind == "free":
            assert price == "free"
        elif region in symbols:
            assert price.startswith(symbols[region]) or price[2:3] == symbols[region]


def test_pulses_hashtags_are_json_with_bursting_and_fading_tags(db: Engine) -> None:
    docs = [h for (h,) in rows(db, "select hashtags from pulses")]
    assert None in docs and "[]" in docs
    tags = []
    for doc in docs:
        if doc is not None:
            parsed = json.loads(doc)
            assert isinstance(parsed, list) and all(isinstance(t, str) for t in parsed)
            tags += parsed
    assert any(t.startswith("#") for t in tags) and any(not t.startswith("#") for t in tags)
    assert any(t != t.lower() for t in tags) and any(t == t.lower() for t in tags)
    week = [
        t
        for (t,) in rows(
            db,
            "select tag from trending_topics where window_label = '7d' "
            "order by count desc, tag limit 5",
        )
    ]
    bursting = {t.lstrip("#").lower() for t in vocab.BURST_TAGS + vocab.CRICKET_BURST_TAGS}
    fading = {t.lstrip("#").lower() for t in vocab.FADING_TAGS + vocab.CRICKET_FADING_TAGS}
    assert week[0] in bursting
    assert not fading & set(week)
    month = {t for (t,) in rows(db, "select tag from trending_topics where window_label = '30d'")}
    assert fading & month
    assert (
        value(
            db,
            "select count(*) from pulses where linked_type = 'cricket' and linked_movie_id is null",
        )
        > 0
    )
    assert (
        value(
            db,
            "select count(*) from pulses p join movies m on m.id = p.linked_movie_id "
            "where p.linked_title <> m.title or p.linked_type <> 'movie'",
        )
        == 0
    )


def test_social_graph_and_favorites(db: Engine) -> None:
    in_degree = np.array(
        [n for (n,) in rows(db, "select count(*) from user_follows group by following_id")]
    )
    assert in_degree.max() >= 5 * in_degree.mean()
    assert value(db, "select count(*) from user_follows where follower_id = following_id") == 0
    kinds = dict(rows(db, "select type, count(*) from favorites group by type"))
    assert kinds.keys() == {"movie", "person", "scene", "article"}
    assert (
        value(
            db,
            "select count(*) from favorites where (type = 'scene') <> "
            "(scene_id is not null) or (type = 'movie') <> (movie_id is not null) "
            "or (type = 'article' and coalesce(movie_id, person_id, scene_id) is not null)",
        )
        == 0
    )


@pytest.mark.heavy
def test_users_share_a_handful_of_real_argon2_hashes(db: Engine) -> None:
    hashes = [h for (h,) in rows(db, "select distinct hashed_password from users")]
    assert 1 < len(hashes) <= len(vocab.PASSWORDS)
    hasher = PasswordHasher()

    def verifies(stored: str, password: str) -> bool:
        try:
            return hasher.verify(stored, password)
        except VerifyMismatchError:
            return False

    verified = sum(verifies(h, p) for h in hashes for p in vocab.PASSWORDS)
    assert verified == len(hashes)


def test_vocabulary_is_safe_inside_copy_text_and_json() -> None:
    strings: list[str] = []
    for name in dir(vocab):
        if name.isupper():
            strings += _strings(getattr(vocab, name))
    assert strings
    bad = [s for s in strings if any(c in s for c in '\t\n\r\\"')]
    assert bad == []


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, tuple | list):
        return [s for item in value for s in _strings(item)]
    return []


# The generator's COPY text

# SHA-256 of every table's COPY text (its column list, then its text) at scale tiny, seed 42,
# as of NOTEBOOK_AS_OF, as the generator produced it before it was sped up (issue 15): a
# faster generator must render the very same text. A numpy whose random streams differ would
# show here too.
TINY_DIGESTS = {
    "genres": "37d1f8b127e1f1a8267fa8d11ecd48f6dbc48c2d8310f550c9cf2d68751c503c",
    "movies": "24a47e6127d6f94abf9011319805bd2401d3125678fea533f4b60b7a1b1bd5b8",
    "people": "ba1589d6c1a19684866ab8541c7b7d509916c33c1b60fba5d1ac14f37e0b2bb6",
    "movie_genres": "ecf719b25ec6ab7acfde0d68f59b9bbd9d82434d39a123cfcdc6e69cc9f81fe6",
    "movie_people": "f8109a4d766aa2c7d0319285bcad31d2210fa4c27ba1df95950ed89d9a906ab1",
    "scenes": "45866724c1834503c44e350ce2ca8f02c232a8631ed6de17133e215c2c7779b6",
    "users": "b73a86d47c46d63d75e8a0bbe3bd7bf2f292f2931c5ea06dcab0707f6aee852c",
    "reviews": "fb4b7e43cc9112f7278eb18c8e23051f4a9993e462923b0e28f9e5129c08979c",
    "collections": "b43e72e21323edc885f0af9f3eccf7d04ca85b72f8bd2e7a75bc360ae7625d78",
    "collection_movies": "30ee09ea8441413fc2414741d30afae677f3992640f7e7d6d5d04228c7b834c0",
    "watchlist": "ba89c1909536c77ff499a0a6cd2cfdae52d5075d520ba581f003d445971e0a7d",
    "favorites": "0095db90e06310a3540bb7a8fbd1f4209dfebcfe9c1af7277c6d3dac832b87f7",
    "pulses": "c4252bd143db74d9fc3321c7eba183a6f3fc12002d879e6cc8f8855af292f310",
    "user_follows": "f506f08807102477a0f249e4d79992ebdc907d4e68fc5ba9c419da6353e7897f",
    "streaming_platforms": "ccc032afbf16893c50bc97361f319d09894bf4ec83a8d26eed5cd97928fa6216",
    "movie_streaming_options": "c9506488cd33f4f0c676b7575097f190a82dfd538f54937dee699c31dd04f193",
}


def _digests(world: World) -> dict[str, str]:
    digests: dict[str, Any] = {}
    for chunk in chunks(world):
        digest = digests.setdefault(chunk.table, hashlib.sha256())
        digest.update(repr(chunk.columns).encode())
        digest.update(chunk.data)
    return {table: digest.hexdigest() for table, digest in digests.items()}


@pytest.fixture(scope="module")
def tiny_world() -> World:
    return build_world(SCALES["tiny"], 42, NOTEBOOK_AS_OF)


def test_generated_copy_text_is_unchanged(tiny_world: World) -> None:
    # The platform areas' tables came later (issue 16), and replay the base tables' streams
    # without changing them: the base tables' text must stay exactly as it was.
    digests = _digests(tiny_world)
    assert {t: d for t, d in digests.items() if t in TINY_DIGESTS} == TINY_DIGESTS


def _joined_row_by_row(rows: copytext.CopyRows) -> bytes:
    """The chunk's COPY text built the slow, obvious way: each column's pieces as Python
    ``bytes``, joined per row."""
    columns: list[list[bytes]] = []
    for _, width, fill in rows._fixed:
        block = np.zeros((rows.n, width), dtype=np.uint8)
        fill(block)
        columns.append([row.tobytes() for row in block])
    for _, parts in rows._var:
        values = []
        for part in parts:
            if isinstance(part, bytes):
                values.append([part] * rows.n)
            elif isinstance(part, copytext.Take | copytext.Matrix):
                values.append(part.materialize().tolist())
            else:
                values.append(list(part))
        columns.append([b"".join(pieces) for pieces in zip(*values, strict=True)])
    return b"".join(b"\t".join(line) + b"\n" for line in zip(*columns, strict=True))


def test_rendering_equals_a_row_by_row_join(tiny_world: World) -> None:
    small = build_world(SCALES["small"], 7, AS_OF)
    # Two chunks of each table of the small scale too (chunks hold thousands of rows there).
    sampled = [
        rows
        for source in SOURCES
        for world in (tiny_world, small)
        for rows in itertools.islice(source.rows(world), 2)
    ]
    for rows in sampled:
        assert bytes(rows.render()) == _joined_row_by_row(rows)


def test_rendering_of_nulls_markers_and_constants() -> None:
    names = copytext.pool(["a", "bb", "", "dddd"])
    index = np.array([0, 1, 2, 3, 1])
    null = np.array([False, True, False, False, True])
    rows = copytext.CopyRows(5)
    rows.ints("id", np.array([1, 20, 300, 4000, 0]))
    rows.ints("maybe", np.array([5, 0, 777, 1, 2]), null=null)
    rows.text("name", copytext.Take(names, index), null=~null)
    rows.text("blank", copytext.masked(copytext.Take(names, index), null), b"!")
    rows.text("sign", b"+", copytext.Take(names, index), b"-", null=null)
    rows.code("code", "x", np.arange(5), 3, ".png", null=null)
    rows.text(("pair", "const"), b"k\t", copytext.Take(names, index))
    rows.text("constant", b"c")
    expected = [
        "   1\t  5\t\\N\t!\t+a-\tx000.png\tk\ta\tc",
        "  20\t\\N\tbb\tbb!\t\\N\t\\N\tk\tbb\tc",
        " 300\t777\t\\N\t!\t+-\tx002.png\tk\t\tc",
        "4000\t  1\t\\N\t!\t+dddd-\tx003.png\tk\tdddd\tc",
        "   0\t\\N\tbb\tbb!\t\\N\t\\N\tk\tbb\tc",
    ]
    text = bytes(rows.render())
    assert text.decode().splitlines() == expected
    assert text == _joined_row_by_row(rows)
    only = copytext.CopyRows(3)
    only.text("constant", b"c")
    assert bytes(only.render()) == b"c\nc\nc\n"


def _load_in_rollback(
    url: URL, stream: Iterator[Chunk], query: str, process: bool
) -> tuple[list[load.TableLoad], list[Any]]:
    """Load ``stream`` with :func:`load.copy_chunks` into emptied tables, run ``query``, and
    roll everything back; the loads and the query's rows."""
    engine = get_engine(url, writable=True)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert isinstance(conn, psycopg.Connection)
        with conn.transaction(force_rollback=True):
            load.set_session(conn)
            load.truncate(conn, TABLES)
            loads = load.copy_chunks(conn, stream, expected={}, progress=False, process=process)
            return loads, conn.execute(query).fetchall()
    finally:
        raw.close()
        engine.dispose()


@pytest.mark.heavy
def test_a_generator_process_loads_the_same_rows_as_a_thread(
    fresh: Callable[[], URL], tiny_world: World
) -> None:
    url = fresh()
    names = [source.table for source in SOURCES]
    query = " union all ".join(
        f"select '{t}', count(*), md5(string_agg(t::text, '|' order by t::text)) from {t} t"
        for t in names
    )
    by_thread = _load_in_rollback(url, chunks(tiny_world), query, process=False)
    by_process = _load_in_rollback(url, chunks(tiny_world), query, process=True)
    assert by_process[1] == by_thread[1]
    counts = {table: rows for table, rows, _ in by_process[1]}
    assert counts == {t.table: t.rows for t in by_process[0]}
    assert counts["reviews"] == SCALES["tiny"].reviews
    assert not multiprocessing.active_children()


def _genres_named_by(rows_of: Callable[[World], Iterator[copytext.CopyRows]]) -> TableSource:
    return TableSource("genres", lambda _world: 0, rows_of)


def _pid_rows(_world: World) -> Iterator[copytext.CopyRows]:
    # Large enough to fill several of the process's shared slots: one chunk spans them.
    n = 3 * generate.SLOT_BYTES // 40
    rows = copytext.CopyRows(n)
    rows.ints("id", np.arange(1, n + 1))
    rows.text("slug", copytext.int_text(np.arange(n)), b"-" + b"x" * 24)
    rows.text("name", str(os.getpid()).encode())
    yield rows


@pytest.mark.parametrize("process", [True, False])
def test_the_generator_runs_in_another_process_only_when_asked(
    fresh: Callable[[], URL], tiny_world: World, process: bool
) -> None:
    stream = chunks(tiny_world, (_genres_named_by(_pid_rows),))
    query = "select count(*), count(distinct slug), min(name), max(id) from genres"
    (loaded,), [(count, slugs, pid, last)] = _load_in_rollback(fresh(), stream, query, process)
    assert count == slugs == last == loaded.rows
    assert loaded.bytes > 2 * generate.SLOT_BYTES
    assert (pid != str(os.getpid())) is process


def _failing_rows(_world: World) -> Iterator[copytext.CopyRows]:
    rows = copytext.CopyRows(2)
    rows.ints("id", np.array([1, 2]))
    rows.text("slug", copytext.pool(["a", "b"]))
    rows.text("name", copytext.pool(["A", "B"]))
    yield rows
    raise ValueError("the generator broke")


def _bad_rows(_world: World) -> Iterator[copytext.CopyRows]:
    for _ in range(50):
        rows = copytext.CopyRows(1)
        rows.text("id", b"not a number")
        yield rows


@pytest.mark.parametrize("process", [True, False])
@pytest.mark.parametrize(
    ("rows_of", "error"),
    [(_failing_rows, "the generator broke"), (_bad_rows, "invalid input syntax")],
)
def test_a_failure_on_either_side_ends_the_load_and_the_generator(
    fresh: Callable[[], URL],
    tiny_world: World,
    process: bool,
    rows_of: Callable[[World], Iterator[copytext.CopyRows]],
    error: str,
) -> None:
    stream = chunks(tiny_world, (_genres_named_by(rows_of),))
    with pytest.raises(Exception, match=error):
        _load_in_rollback(fresh(), stream, "select 1", process)
    assert not multiprocessing.active_children()


def test_the_embedded_server_leaves_a_large_load_between_checkpoints(
    seeded: tuple[URL, SeedReport],
) -> None:
    engine = get_engine(seeded[0])
    with engine.connect() as conn:
        wal = conn.execute(
            text(
                "select setting::bigint * 1024 * 1024 from pg_settings where name = 'max_wal_size'"
            )
        ).scalar_one()
        target = conn.execute(text("select current_setting('checkpoint_completion_target')"))
        level = conn.execute(text("select current_setting('wal_level')")).scalar_one()
    engine.dispose()
    # A checkpoint is due after max_wal_size / (1 + target) of WAL: more than the ~2.5 GB
    # that COPYing scale large writes. The standby still gets its WAL.
    assert wal / (1 + float(target.scalar_one())) > 3 * 2**30
    assert level == "replica"


@pytest.mark.parametrize("pad", [" ", "0"])
def test_integers_are_formatted_like_python(pad: str) -> None:
    rng = np.random.default_rng(3)
    for width in range(1, 14):
        edges = [10**k for k in range(width)] + [10**k - 1 for k in range(1, width + 1)]
        values = np.concatenate([np.arange(min(10**width, 1200)), edges])
        values = np.concatenate([values, rng.integers(0, 10**width, 3000)])
        out = np.zeros((len(values), width), dtype=np.uint8)
        copytext._digits(out, values, pad=ord(pad))
        got = out.view(f"S{width}").ravel().tolist()
        assert got == [f"{v:{pad}>{width}d}".encode() for v in values.tolist()]
        for wrong in (10**width, -1):
            with pytest.raises(ValueError, match="wider than its column"):
                copytext._digits(np.zeros((1, width), np.uint8), np.array([wrong]), pad=ord(pad))


# Refusals and reset


@pytest.fixture
def embedded_is_test_server(
    server_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """This process's embedded server is the test server, as it is for the CLI (cli_env)."""
    monkeypatch.setenv("IWM_DATA_DIR", str(server_settings.data_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()  # read again once monkeypatch restored the environment


@pytest.mark.usefixtures("embedded_is_test_server")
def test_refuses_a_database_with_data_then_reset_replaces_it(fresh: Callable[[], URL]) -> None:
    url = fresh()
    seed(url, seed=42)
    before = checksums(url)
    with pytest.raises(SeedNeedsOption, match="already holds data") as refused:
        seed(url, seed=7)
    assert refused.value.option == "reset"
    assert checksums(url) == before
    # Issue 10: only the embedded server's own demo database ('iwm') is reset unasked-for;
    # this one, on the same server, was emptied before.
    with pytest.raises(SeedNeedsOption, match="not the embedded demo database 'iwm'") as refused:
        seed(url, seed=7, reset=True)
    assert refused.value.option == "allow_external"
    assert checksums(url) == before
    report = seed(url, seed=7, reset=True, allow_external=True)
    after = checksums(url)
    assert after["reviews"] != before["reviews"]
    assert report.tables["movies"].rows == SCALES["tiny"].movies


def test_rejects_an_unknown_scale(seeded: tuple[URL, SeedReport]) -> None:
    with pytest.raises(ValueError, match="tiny, small, large"):
        seed(seeded[0], scale="huge")


def test_refuses_an_unmigrated_database(make_database: Callable[..., URL]) -> None:
    with pytest.raises(SchemaNotReady, match=r"never migrated\): run `iwm-lab db upgrade`"):
        seed(make_database("bare"))


def test_refuses_a_read_only_engine(fresh: Callable[[], URL]) -> None:
    engine = get_engine(fresh())
    with pytest.raises(ReadOnlySessionError, match="seeding demo data writes to the database"):
        seed_database(engine, scale="tiny", progress=False)
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "embedded"),
    [
        ("postgresql+psycopg://iwm@:5432/iwm?host=/tmp/iwm-lab-deeed157", True),
        ("postgresql+psycopg://iwm@/x?host=/tmp/iwm-lab-0a1b2c3d/", True),
        ("postgresql+psycopg://iwm@db.internal:5432/iwm", False),
        ("postgresql+psycopg://iwm@localhost/iwm?host=/tmp/iwm-lab-deeed157", False),
        ("postgresql+psycopg://iwm@/iwm", False),
        ("postgresql+psycopg://iwm@/iwm?host=/var/run/postgresql", False),
        ("postgresql+psycopg://iwm@/iwm?host=/tmp/iwm-lab-deeed157/../prod", False),
        ("sqlite:///tmp/iwm-lab-deeed157", False),
    ],
)
def test_what_counts_as_the_embedded_server(url: str, embedded: bool) -> None:
    assert is_embedded(url) is embedded


def test_refuses_another_server_unless_allowed(fresh: Callable[[], URL], tmp_path: Path) -> None:
    url = fresh()
    # The same server through another socket path: to the seeder, a database elsewhere.
    link = tmp_path / "sock"
    link.symlink_to(str(url.query["host"]))
    elsewhere = url.update_query_dict({"host": str(link)})
    with pytest.raises(SeedNeedsOption, match="not the embedded demo server") as refused:
        seed(elsewhere)
    assert refused.value.option == "allow_external"
    assert checksums(url)["movies"] is None
    report = seed(elsewhere, allow_external=True)
    assert report.tables["movies"].rows == SCALES["tiny"].movies


@pytest.mark.heavy
def test_cli_seeds_up_to_now_then_refuses_without_reset(
    fresh: Callable[[], URL], cli_env: dict[str, str]
) -> None:
    url = fresh()
    env = {**cli_env, "IWM_DATABASE_URL": url.render_as_string(hide_password=False)}
    args = ["iwm-lab", "seed", "--scale", "tiny", "--quiet"]
    before = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    after = datetime.now(UTC).replace(tzinfo=None)
    assert done.returncode == 0, done.stderr
    assert "total:" in done.stdout and "reviews" in done.stdout
    stated = re.search(r"as_of (\d{4}-\d{2}-\d{2} \d{2}:\d{2})\)", done.stdout)
    assert stated, done.stdout
    as_of = datetime.strptime(stated.group(1), "%Y-%m-%d %H:%M")
    assert before.replace(second=0) <= as_of <= after
    latest = value_at(url, "select max(created_at) from pulses")
    assert as_of - timedelta(days=1) <= latest <= after
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1
    assert again.stderr.startswith("error: ") and "; pass --reset to replace it" in again.stderr
    assert os.linesep.join(again.stderr.splitlines()[1:]) == ""


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("2026-13-01", "--as-of must be an ISO date or date and time"),
        ("yesterday", "--as-of must be an ISO date or date and time"),
        ("2099-01-01", "--as-of must not lie in the future"),
        ("2999-01-01", "--as-of must fall in the years 1870 to 2100"),
    ],
)
def test_cli_refuses_a_bad_as_of_in_one_line(
    fresh: Callable[[], URL], cli_env: dict[str, str], as_of: str, message: str
) -> None:
    url = fresh()
    env = {**cli_env, "IWM_DATABASE_URL": url.render_as_string(hide_password=False)}
    for command in ("seed", "demo"):
        args = ["iwm-lab", command, "--scale", "tiny", "--as-of", as_of]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, command
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stderr.startswith(f"error: {message}"), done.stderr
        assert as_of in done.stderr
    assert checksums(url)["movies"] is None


def test_as_of_accepts_dates_and_text_and_keeps_whole_seconds() -> None:
    assert check_as_of("2025-03-14") == datetime(2025, 3, 14)
    assert check_as_of("2025-03-14T09:30:15.75") == datetime(2025, 3, 14, 9, 30, 15)
    aware = datetime(2025, 3, 14, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    assert check_as_of(aware) == datetime(2025, 3, 14, 9, 30)
    assert check_as_of(NOTEBOOK_AS_OF.date()) == NOTEBOOK_AS_OF
    with pytest.raises(ValueError, match="must not lie in the future"):
        check_as_of(datetime.now(UTC) + timedelta(hours=1))


def test_as_of_moves_every_date_and_the_trending_windows(fresh: Callable[[], URL]) -> None:
    url = fresh()
    earlier = AS_OF - timedelta(days=365)
    report = seed(url, as_of=earlier.date())
    assert report.as_of == datetime.combine(earlier.date(), datetime.min.time())
    latest = value_at(url, "select max(created_at) from pulses")
    assert report.as_of - timedelta(days=7) <= latest <= report.as_of
    # The refresh counted back from the data's as-of, a year and more before the clock.
    windows = dict(
        rows_at(url, "select window_label, max(computed_at) from trending_topics group by 1")
    )
    assert windows == {"7d": report.as_of, "30d": report.as_of}
    top = value_at(
        url,
        "select tag from trending_topics where window_label = '7d' order by count desc, tag "
        "limit 1",
    )
    assert top in {t.lstrip("#").lower() for t in vocab.BURST_TAGS + vocab.CRICKET_BURST_TAGS}


def test_without_an_as_of_the_data_runs_up_to_now(fresh: Callable[[], URL]) -> None:
    url = fresh()
    before = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    report = seed(url, as_of=None)
    after = datetime.now(UTC).replace(tzinfo=None)
    assert before <= report.as_of <= after
    latest = value_at(url, "select max(created_at) from pulses")
    assert report.as_of - timedelta(days=1) <= latest <= report.as_of
    assert value_at(url, "select max(date) from reviews") <= report.as_of
    windows = dict(
        rows_at(url, "select window_label, max(computed_at) from trending_topics group by 1")
    )
    assert windows == {"7d": report.as_of, "30d": report.as_of}


@pytest.mark.heavy
def test_demo_loads_dated_data_then_says_how_old_it_is(
    fresh: Callable[[], URL], cli_env: dict[str, str]
) -> None:
    url = fresh()
    env = {**cli_env, "IWM_DATABASE_URL": url.render_as_string(hide_password=False)}
    as_of = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    args = ["iwm-lab", "demo", "--scale", "tiny", "--no-reports"]
    first = subprocess.run(
        [*args, "--as-of", as_of], env=env, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    assert f"loading the tiny demo dataset, dated up to {as_of.replace('T', ' ')} UTC" in (
        first.stderr
    )
    latest = value_at(
        url, "select greatest(max(p.created_at), max(r.date)) from pulses p, reviews r"
    )
    second = subprocess.run(
        [*args, "--as-of", "2025-01-01"], env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr
    said = re.search(
        r"reusing it; its latest review or pulse is from (\S+ \S+), (\d+) days old", second.stderr
    )
    assert said, second.stderr
    assert said.group(1) == f"{latest:%Y-%m-%d %H:%M}"
    assert 10 <= int(said.group(2)) <= 11
    assert "--as-of applies to a new load only" in second.stderr
    assert "seed --reset" in second.stderr


def value_at(url: URL, sql: str) -> Any:
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def rows_at(url: URL, sql: str) -> list[Any]:
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()
