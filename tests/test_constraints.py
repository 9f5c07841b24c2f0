"""Rows that break a CHECK, foreign key, unique or NOT NULL constraint are refused by the database.

Each case is a pair: a row the database must reject (``IntegrityError`` with the expected
SQLSTATE) and a row differing from it only in the value under test that it must accept, so a
constraint that is too strict fails as surely as one that is missing. Closed value sets come
from ``iwm_lab.models.values`` (the tuples the models build their CHECKs from): every allowed
value is inserted. Every test runs in a transaction that is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from inputs import insert
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from iwm_lab.models.values import (
    FAVORITE_TYPES,
    MOVIE_STATUSES,
    PERCENT_RANGE,
    PULSE_LINKED_TYPES,
    SCORE_RANGE,
    STREAMING_OPTION_TYPES,
    STREAMING_QUALITIES,
    TRENDING_CATEGORIES,
    TRENDING_WINDOWS,
    WATCHLIST_PRIORITIES,
    WATCHLIST_STATUSES,
)

CHECK = "23514"  # check_violation
UNIQUE = "23505"  # unique_violation
FOREIGN_KEY = "23503"  # foreign_key_violation
NOT_NULL = "23502"  # not_null_violation

MISSING_ID = 2_000_000_000  # an id no row has
REGIONS_OK = [{"region": code} for code in ("US", "UK", "IN", "FR")]

# A minimal valid row of each table. Values "@name" are replaced by the id of a row the
# ``refs`` fixture creates in the test's transaction.
BASE_ROWS: dict[str, dict[str, Any]] = {
    "movies": {"title": "Dune"},
    "people": {"name": "Denis Villeneuve"},
    "scenes": {"title": "The spice harvester", "movie_id": "@movie"},
    "users": {"email": "case@example.test", "hashed_password": "$argon2id$x", "name": "Case"},
    "reviews": {
        "title": "Sand",
        "content": "Lots of it.",
        "rating": 8.0,
        "user_id": "@user",
        "movie_id": "@movie",
    },
    "watchlist": {"user_id": "@user", "movie_id": "@movie"},
    "favorites": {"type": "movie", "user_id": "@user", "movie_id": "@movie"},
    "pulses": {"content_text": "#Dune tonight", "user_id": "@user"},
    "user_follows": {"follower_id": "@user", "following_id": "@user2"},
    "trending_topics": {"tag": "dune", "category": "movie", "window_label": "7d", "count": 3},
    "movie_streaming_options": {
        "movie_id": "@movie",
        "platform_id": "@platform",
        "region": "US",
        "type": "subscription",
    },
}


@dataclass(frozen=True)
class Case:
    id: str
    table: str
    bad: dict[str, Any]  # overrides of the base row that the database must reject
    good: list[dict[str, Any]]  # the same keys, with values it must accept (each one)
    sqlstate: str
    setup: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # rows inserted first


def range_cases(table: str, column: str, bounds: tuple[int, int], bad: list[float]) -> list[Case]:
    """Values outside ``bounds`` rejected; both (inclusive) bounds accepted."""
    good = [{column: bound} for bound in bounds]
    return [Case(f"{table}.{column}={value}", table, {column: value}, good, CHECK) for value in bad]


def value_set_cases(table: str, column: str, allowed: tuple[str, ...], bad: str) -> list[Case]:
    """One rejected value, and every allowed value accepted."""
    good = [{column: value} for value in allowed]
    return [Case(f"{table}.{column}={bad!r}", table, {column: bad}, good, CHECK)]


CASES: list[Case] = [
    # Scores 0-10 and percentages 0-100 (inclusive).
    *range_cases("movies", "siddu_score", SCORE_RANGE, [10.5, -0.1]),
    *range_cases("movies", "critics_score", SCORE_RANGE, [10.01, -1]),
    *range_cases("movies", "imdb_rating", SCORE_RANGE, [11, -0.5]),
    *range_cases("movies", "rotten_tomatoes_score", PERCENT_RANGE, [101, -1]),
    *range_cases("reviews", "rating", SCORE_RANGE, [11, -0.1]),
    *range_cases("watchlist", "progress", PERCENT_RANGE, [101, -1]),
    # Closed value sets.
    *value_set_cases("movies", "status", MOVIE_STATUSES, "cancelled"),
    *value_set_cases("watchlist", "status", WATCHLIST_STATUSES, "someday"),
    *value_set_cases("watchlist", "priority", WATCHLIST_PRIORITIES, "urgent"),
    *value_set_cases("favorites", "type", FAVORITE_TYPES, "song"),
    *value_set_cases("movie_streaming_options", "type", STREAMING_OPTION_TYPES, "lease"),
    *value_set_cases("movie_streaming_options", "quality", STREAMING_QUALITIES, "8K"),
    *value_set_cases("trending_topics", "window_label", TRENDING_WINDOWS, "1y"),
    *value_set_cases("trending_topics", "category", TRENDING_CATEGORIES, "sports"),
    *value_set_cases("pulses", "linked_type", PULSE_LINKED_TYPES, "tv"),
    # Region codes: two upper-case letters.
    *[
        Case(f"region={bad!r}", "movie_streaming_options", {"region": bad}, REGIONS_OK, CHECK)
        for bad in ["USA", "us", "U1", "", "U S"]
    ],
    Case(
        "user_follows.self_follow",
        "user_follows",
        {"follower_id": "@user", "following_id": "@user"},
        [{"follower_id": "@user", "following_id": "@user2"}],
        CHECK,
    ),
    # Unique keys: the first row is inserted by setup, the second collides with it.
    Case(
        "movies.external_id.duplicate",
        "movies",
        {"external_id": "tmdb_438631"},
        [{"external_id": "tmdb_693134"}],
        UNIQUE,
        setup=[("movies", {"title": "Dune", "external_id": "tmdb_438631"})],
    ),
    Case(
        "users.email.duplicate",
        "users",
        {"email": "paul@arrakis.test"},
        [{"email": "chani@arrakis.test"}],
        UNIQUE,
        setup=[("users", {**BASE_ROWS["users"], "email": "paul@arrakis.test"})],
    ),
    Case(
        "watchlist.user_movie.duplicate",
        "watchlist",
        {"user_id": "@user", "movie_id": "@movie"},
        [{"user_id": "@user", "movie_id": "@movie2"}, {"user_id": "@user2", "movie_id": "@movie"}],
        UNIQUE,
        setup=[("watchlist", BASE_ROWS["watchlist"])],
    ),
    Case(
        "user_follows.pair.duplicate",
        "user_follows",
        {"follower_id": "@user", "following_id": "@user2"},
        [{"follower_id": "@user2", "following_id": "@user"}],  # following back is allowed
        UNIQUE,
        setup=[("user_follows", BASE_ROWS["user_follows"])],
    ),
    Case(
        "trending_topics.tag_window.duplicate",
        "trending_topics",
        {"tag": "dune", "window_label": "7d"},
        [{"tag": "dune", "window_label": "30d"}, {"tag": "arrival", "window_label": "7d"}],
        UNIQUE,
        setup=[("trending_topics", BASE_ROWS["trending_topics"])],
    ),
    # Foreign keys to rows that do not exist.
    *[
        Case(f"{table}.{column}.missing", table, {column: MISSING_ID}, [{column: ref}], FOREIGN_KEY)
        for table, column, ref in [
            ("reviews", "movie_id", "@movie"),
            ("reviews", "user_id", "@user"),
            ("watchlist", "movie_id", "@movie"),
            ("favorites", "person_id", "@person"),
            ("scenes", "movie_id", "@movie"),
            ("pulses", "linked_movie_id", "@movie"),
            ("user_follows", "following_id", "@user2"),
            ("movie_streaming_options", "platform_id", "@platform"),
        ]
    ],
    # NOT NULL.
    *[
        Case(f"{table}.{column}.null", table, {column: None}, [{column: good}], NOT_NULL)
        for table, column, good in [
            ("movies", "title", "Arrival"),
            ("reviews", "content", "Worth it."),
            ("reviews", "rating", 7.5),
            ("users", "hashed_password", "$argon2id$y"),
            ("favorites", "type", "person"),
            ("movie_streaming_options", "type", "rent"),
            ("pulses", "content_text", "hello"),
        ]
    ],
]

# Nullable checked columns accept NULL: a CHECK must not turn them into NOT NULL columns.
NULL_ACCEPTED = [
    ("movies", "siddu_score"),
    ("movies", "rotten_tomatoes_score"),
    ("watchlist", "progress"),
    ("movie_streaming_options", "region"),
    ("movie_streaming_options", "quality"),
    ("trending_topics", "category"),
    ("pulses", "linked_type"),
]


def resolve(value: Any, refs: dict[str, int]) -> Any:
    return refs[value[1:]] if isinstance(value, str) and value.startswith("@") else value


def with_refs(row: dict[str, Any], refs: dict[str, int]) -> dict[str, Any]:
    return {column: resolve(value, refs) for column, value in row.items()}


@pytest.fixture
def refs(conn: Connection) -> dict[str, int]:
    """Rows the cases point at: two users, two movies, a person, a platform."""
    found: dict[str, int] = {}
    for name, table, row in [
        ("user", "users", {"email": "u1@example.test", "hashed_password": "h", "name": "U1"}),
        ("user2", "users", {"email": "u2@example.test", "hashed_password": "h", "name": "U2"}),
        ("movie", "movies", {"title": "Dune"}),
        ("movie2", "movies", {"title": "Dune: Part Two"}),
        ("person", "people", {"name": "Zendaya"}),
        ("platform", "streaming_platforms", {"name": "Max"}),
    ]:
        [found[name]] = insert(conn, table, [row], refresh_rollups=False)
    return found


def run_setup(conn: Connection, case: Case, refs: dict[str, int]) -> None:
    for table, row in case.setup:
        insert(conn, table, [with_refs(row, refs)], refresh_rollups=False)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_database_rejects(case: Case, conn: Connection, refs: dict[str, int]) -> None:
    run_setup(conn, case, refs)
    with pytest.raises(IntegrityError) as raised:
        insert(
            conn,
            case.table,
            [with_refs({**BASE_ROWS[case.table], **case.bad}, refs)],
            refresh_rollups=False,
        )
    orig: Any = raised.value.orig
    assert orig.sqlstate == case.sqlstate, str(orig)


ACCEPTED = [
    pytest.param(case, good, id=f"{case.id}-accepts-" + ",".join(map(str, good.values())))
    for case in CASES
    for good in case.good
]


@pytest.mark.parametrize(("case", "good"), ACCEPTED)
def test_database_accepts_the_valid_counterpart(
    case: Case, good: dict[str, Any], conn: Connection, refs: dict[str, int]
) -> None:
    assert good.keys() == case.bad.keys(), "a counterpart must change only the tested values"
    run_setup(conn, case, refs)
    [row_id] = insert(
        conn,
        case.table,
        [with_refs({**BASE_ROWS[case.table], **good}, refs)],
        refresh_rollups=False,
    )
    columns = ", ".join(f'"{c}"' for c in good)
    stored = conn.execute(
        text(f"select {columns} from {case.table} where id = :id"), {"id": row_id}
    ).one()
    assert list(stored) == [resolve(v, refs) for v in good.values()]


@pytest.mark.parametrize(
    ("table", "column"), NULL_ACCEPTED, ids=[f"{t}.{c}" for t, c in NULL_ACCEPTED]
)
def test_checked_nullable_column_accepts_null(
    table: str, column: str, conn: Connection, refs: dict[str, int]
) -> None:
    [row_id] = insert(
        conn, table, [with_refs({**BASE_ROWS[table], column: None}, refs)], refresh_rollups=False
    )
    stored = conn.execute(
        text(f'select "{column}" from {table} where id = :id'), {"id": row_id}
    ).scalar_one()
    assert stored is None


def test_base_rows_are_valid(conn: Connection, refs: dict[str, int]) -> None:
    """Each base row is accepted as it stands, so a rejection above is due to the case alone."""
    for table, row in BASE_ROWS.items():
        assert insert(conn, table, [with_refs(row, refs)], refresh_rollups=False)[0] > 0
