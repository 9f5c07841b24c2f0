"""``refresh_trending_topics(window_label, as_of)``, the SQL function the migrations create.

What it promises (migrations/versions/0001_initial_schema.py, 0003_trending_as_of.py): it
replaces the rows of one window ('7d' = 7 days, '30d' = 30 days, counted back from ``as_of``,
by default the transaction's ``localtimestamp``) with the top 50 tags of the pulses created in
it, by pulse count, ties by tag, and records the refresh in ``trending_refreshes``. Tags are
normalised with ``lower(trim(ltrim(trim(tag), '#')))`` and counted once per pulse; a tag's
category is the ``linked_type`` of most of its pulses ('general' when unlinked), ties
alphabetical; hashtags that are not a JSON array are skipped.

Every test runs in one transaction that starts by emptying ``pulses`` and ``trending_topics``
and is rolled back at the end. Inside it ``localtimestamp``, which the function measures the
window from, stands still, so a pulse can be placed exactly on the window boundary.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from iwm_lab import migrate
from iwm_lab.database import get_engine

pytestmark = pytest.mark.slow

WINDOW_DAYS = {"7d": 7, "30d": 30}
INVALID_PARAMETER_VALUE = "22023"
TOP = 50


@pytest.fixture
def conn(conn: Connection) -> Connection:
    """The shared rolled-back transaction, with no pulses and no trending rows."""
    conn.execute(text("delete from trending_topics"))
    conn.execute(text("delete from pulses"))
    return conn


@pytest.fixture
def user_id(conn: Connection) -> int:
    return conn.execute(
        text(
            "insert into users (email, hashed_password, name) "
            "values ('trend@example.test', 'h', 'Trend') returning id"
        )
    ).scalar_one()


@pytest.fixture
def movie_id(conn: Connection) -> int:
    sql = text("insert into movies (title) values ('Dune') returning id")
    return conn.execute(sql).scalar_one()


class Pulses:
    """Writes pulses aged relative to the transaction's ``localtimestamp``."""

    def __init__(self, conn: Connection, user_id: int, movie_id: int) -> None:
        self.conn, self.user_id, self.movie_id = conn, user_id, movie_id

    def add(
        self,
        tags: list[Any] | None = None,
        *,
        age: timedelta = timedelta(hours=1),
        linked_type: str | None = None,
        raw: str | None = None,
    ) -> int:
        hashtags = raw if raw is not None else json.dumps(tags)
        return self.conn.execute(
            text(
                "insert into pulses (user_id, content_text, hashtags, linked_type, "
                "linked_movie_id, created_at) "
                "values (:user, :content, :hashtags, :linked_type, :movie, localtimestamp - :age) "
                "returning id"
            ),
            {
                "user": self.user_id,
                "content": f"pulse {tags or raw}",
                "hashtags": hashtags,
                "linked_type": linked_type,
                "movie": self.movie_id if linked_type == "movie" else None,
                "age": age,
            },
        ).scalar_one()


@pytest.fixture
def pulses(conn: Connection, user_id: int, movie_id: int) -> Pulses:
    return Pulses(conn, user_id, movie_id)


def refresh(conn: Connection, window: str | None) -> int:
    return conn.execute(text("select refresh_trending_topics(:w)"), {"w": window}).scalar_one()


def topics(conn: Connection, window: str) -> dict[str, tuple[str, int]]:
    """``{tag: (category, count)}`` of one window."""
    rows = conn.execute(
        text("select tag, category, count from trending_topics where window_label = :w"),
        {"w": window},
    ).all()
    return {tag: (category, count) for tag, category, count in rows}


def counts(conn: Connection, window: str) -> dict[str, int]:
    return {tag: count for tag, (_, count) in topics(conn, window).items()}


def test_refresh_twice_gives_the_same_rows(conn: Connection, pulses: Pulses) -> None:
    pulses.add(["#Dune", "#Oscars"], linked_type="movie")
    pulses.add(["#dune"], linked_type="movie")
    pulses.add(["#IPL"], linked_type="cricket", age=timedelta(days=3))
    pulses.add(["#weekend"])
    snapshot = text(
        "select tag, category, count, window_label from trending_topics order by window_label, tag"
    )
    assert refresh(conn, "7d") == 4
    assert refresh(conn, "30d") == 4
    first = conn.execute(snapshot).all()
    assert refresh(conn, "7d") == 4
    assert refresh(conn, "30d") == 4
    assert conn.execute(snapshot).all() == first
    assert topics(conn, "7d") == {
        "dune": ("movie", 2),
        "oscars": ("movie", 1),
        "ipl": ("cricket", 1),
        "weekend": ("general", 1),
    }


def test_tag_disappears_when_its_pulses_leave_the_window(conn: Connection, pulses: Pulses) -> None:
    old = pulses.add(["#Oppenheimer"], age=timedelta(days=2))
    pulses.add(["#Dune"])
    refresh(conn, "7d")
    assert set(counts(conn, "7d")) == {"oppenheimer", "dune"}
    conn.execute(
        text("update pulses set created_at = localtimestamp - interval '8 days' where id = :id"),
        {"id": old},
    )
    refresh(conn, "7d")
    assert counts(conn, "7d") == {"dune": 1}


def test_7d_and_30d_count_differently(conn: Connection, pulses: Pulses) -> None:
    for age_days in (1, 1, 10, 10, 10, 40):
        pulses.add(["#Dune"], age=timedelta(days=age_days))
    pulses.add(["#Arrival"], age=timedelta(days=10))  # only in the 30-day window
    pulses.add(["#Sicario"], age=timedelta(days=40))  # in neither
    refresh(conn, "7d")
    refresh(conn, "30d")
    assert counts(conn, "7d") == {"dune": 2}
    assert counts(conn, "30d") == {"dune": 5, "arrival": 1}


@pytest.mark.parametrize(
    ("linked_types", "category"),
    [
        (["movie"], "movie"),
        (["cricket"], "cricket"),
        ([None], "general"),
        (["cricket", "cricket", "movie"], "cricket"),  # most of its pulses
        (["movie", "movie", None], "movie"),
        ([None, None, "cricket"], "general"),
        (["movie", "cricket"], "cricket"),  # a tie goes to the alphabetically first
    ],
    ids=lambda v: "-".join(map(str, v)) if isinstance(v, list) else v,
)
def test_category_comes_from_the_pulses_linked_type(
    conn: Connection, pulses: Pulses, linked_types: list[str | None], category: str
) -> None:
    for linked_type in linked_types:
        pulses.add(["#Topic"], linked_type=linked_type)
    refresh(conn, "7d")
    assert topics(conn, "7d") == {"topic": (category, len(linked_types))}


def test_refresh_leaves_the_other_window_untouched(conn: Connection, pulses: Pulses) -> None:
    pulses.add(["#Dune"])
    refresh(conn, "30d")
    conn.execute(
        text(
            "insert into trending_topics (tag, category, window_label, count) "
            "values ('handmade', 'event', '30d', 42)"
        )
    )
    snapshot = text(
        "select id, tag, category, count, computed_at from trending_topics "
        "where window_label = '30d' order by id"
    )
    before = conn.execute(snapshot).all()
    assert len(before) == 2
    pulses.add(["#Arrival"])
    refresh(conn, "7d")
    assert conn.execute(snapshot).all() == before
    assert counts(conn, "7d") == {"dune": 1, "arrival": 1}


def test_refresh_replaces_the_rows_of_its_window(conn: Connection, pulses: Pulses) -> None:
    conn.execute(
        text(
            "insert into trending_topics (tag, category, window_label, count) "
            "values ('stale', 'general', '7d', 99)"
        )
    )
    pulses.add(["#Fresh"])
    assert refresh(conn, "7d") == 1
    assert counts(conn, "7d") == {"fresh": 1}


@pytest.mark.parametrize("window", ["1y", "7D", "7 days", "", None])
def test_invalid_window_label_raises(conn: Connection, window: str | None) -> None:
    with pytest.raises(DBAPIError) as raised:
        refresh(conn, window)
    orig: Any = raised.value.orig
    assert orig.sqlstate == INVALID_PARAMETER_VALUE, str(orig)


def test_case_and_hash_prefixes_merge(conn: Connection, pulses: Pulses) -> None:
    for tag in ("#Dune", "dune", " #DUNE ", "##dune", "#DuNe"):
        pulses.add([tag])
    pulses.add(["#Dune", "dune", "DUNE"])  # one pulse: counted once
    refresh(conn, "7d")
    assert counts(conn, "7d") == {"dune": 6}


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '["#Dune"',  # truncated
        '{"tags": ["#Dune"]}',  # an object, not an array
        '"#Dune"',  # a bare string
        "",
        "[]",
        "[1, null, true]",  # no strings
        '["", "#", "   "]',  # nothing left after normalising
    ],
    ids=[
        "not-json",
        "truncated",
        "object",
        "string",
        "empty",
        "empty-array",
        "no-strings",
        "blank-tags",
    ],
)
def test_bad_hashtags_are_skipped_not_fatal(conn: Connection, pulses: Pulses, raw: str) -> None:
    pulses.add(raw=raw)
    pulses.add(["#Arrival"])
    pulses.add(raw='[42, "#Arrival", {"x": 1}]')  # strings among other values still count
    assert refresh(conn, "7d") == 1
    assert counts(conn, "7d") == {"arrival": 2}


def test_null_hashtags_are_skipped(conn: Connection, pulses: Pulses) -> None:
    conn.execute(text("insert into pulses (content_text, hashtags) values ('no tags', null)"))
    pulses.add(["#Arrival"])
    refresh(conn, "7d")
    assert counts(conn, "7d") == {"arrival": 1}


@pytest.mark.parametrize("window", sorted(WINDOW_DAYS))
def test_window_boundary_is_exclusive(conn: Connection, pulses: Pulses, window: str) -> None:
    """The window is ``created_at > localtimestamp - N days``: a pulse exactly N days old is
    outside it, one a microsecond younger is inside."""
    length = timedelta(days=WINDOW_DAYS[window])
    pulses.add(["#OnTheBoundary"], age=length)
    pulses.add(["#JustInside"], age=length - timedelta(microseconds=1))
    pulses.add(["#JustOutside"], age=length + timedelta(microseconds=1))
    boundary_age = conn.execute(
        text(
            "select localtimestamp - created_at from pulses where hashtags = :h",
        ),
        {"h": json.dumps(["#OnTheBoundary"])},
    ).scalar_one()
    assert boundary_age == length  # the pulse really sits on the boundary
    refresh(conn, window)
    assert counts(conn, window) == {"justinside": 1}


def test_only_the_top_50_are_kept(conn: Connection, pulses: Pulses) -> None:
    tags = [f"tag{i:02d}" for i in range(TOP + 5)]
    pulses.add(tags)  # every tag once: ties, broken by tag
    assert refresh(conn, "7d") == TOP
    assert sorted(counts(conn, "7d")) == tags[:TOP]
    pulses.add([tags[-1]])  # the alphabetically last tag now leads
    assert refresh(conn, "7d") == TOP
    found = counts(conn, "7d")
    assert found[tags[-1]] == 2
    assert sorted(found) == sorted([*tags[: TOP - 1], tags[-1]])


def test_empty_window_leaves_no_rows(conn: Connection, pulses: Pulses) -> None:
    pulses.add(["#Dune"], age=timedelta(days=8))
    conn.execute(
        text(
            "insert into trending_topics (tag, category, window_label, count) "
            "values ('stale', 'general', '7d', 5)"
        )
    )
    assert refresh(conn, "7d") == 0
    assert counts(conn, "7d") == {}


def test_tags_longer_than_the_column_are_skipped_not_truncated(
    conn: Connection, pulses: Pulses
) -> None:
    limit = conn.execute(
        text(
            "select character_maximum_length from information_schema.columns "
            "where table_schema = current_schema() and table_name = 'trending_topics' "
            "and column_name = 'tag'"
        )
    ).scalar_one()
    fits, too_long = "a" * limit, "b" * (limit + 1)
    pulses.add([f"#{fits}", f"#{too_long}"])
    refresh(conn, "7d")
    assert counts(conn, "7d") == {fits: 1}


# --- the as-of (migration 0003) -----------------------------------------------------------

AS_OF = datetime(2024, 3, 10, 12, 0)


def refresh_as_of(conn: Connection, window: str, as_of: datetime | None) -> int:
    return conn.execute(
        text("select refresh_trending_topics(:w, :as_of)"), {"w": window, "as_of": as_of}
    ).scalar_one()


def add_at(pulses: Pulses, tags: list[str], at: datetime) -> None:
    """A pulse created at ``at``, whatever the transaction's clock."""
    age = pulses.conn.execute(text("select localtimestamp - :at"), {"at": at}).scalar_one()
    pulses.add(tags, age=age)


@pytest.mark.parametrize("window", sorted(WINDOW_DAYS))
def test_the_window_counts_back_from_the_as_of_given(
    conn: Connection, pulses: Pulses, window: str
) -> None:
    length = timedelta(days=WINDOW_DAYS[window])
    add_at(pulses, ["#OnTheBoundary"], AS_OF - length)
    add_at(pulses, ["#JustInside"], AS_OF - length + timedelta(microseconds=1))
    add_at(pulses, ["#AtAsOf"], AS_OF)
    add_at(pulses, ["#JustAfter"], AS_OF + timedelta(microseconds=1))
    pulses.add(["#Today"])  # inside the window of the transaction's clock only
    assert refresh_as_of(conn, window, AS_OF) == 2
    assert counts(conn, window) == {"justinside": 1, "atasof": 1}
    computed = conn.execute(
        text("select distinct computed_at from trending_topics where window_label = :w"),
        {"w": window},
    ).scalars()
    assert list(computed) == [AS_OF]


def test_without_an_as_of_or_with_null_the_clock_is_used(conn: Connection, pulses: Pulses) -> None:
    add_at(pulses, ["#Old"], AS_OF)
    pulses.add(["#Today"])
    clock = conn.execute(text("select localtimestamp")).scalar_one()
    for run in (lambda: refresh(conn, "7d"), lambda: refresh_as_of(conn, "7d", None)):
        conn.execute(text("delete from trending_topics"))
        assert run() == 1
        assert counts(conn, "7d") == {"today": 1}
        stored = conn.execute(text("select computed_at from trending_topics")).scalar_one()
        assert stored == clock


def test_each_refresh_is_recorded_with_its_as_of(conn: Connection, pulses: Pulses) -> None:
    record = text(
        "select window_label, as_of, refreshed_at, topics from trending_refreshes "
        "order by window_label"
    )
    conn.execute(text("delete from trending_refreshes"))
    clock = conn.execute(text("select localtimestamp")).scalar_one()
    add_at(pulses, ["#Dune", "#Arrival"], AS_OF - timedelta(days=1))
    refresh_as_of(conn, "7d", AS_OF)
    refresh(conn, "30d")
    assert conn.execute(record).all() == [("30d", clock, clock, 0), ("7d", AS_OF, clock, 2)]
    refresh_as_of(conn, "7d", AS_OF + timedelta(days=30))  # replaces its window's record
    assert conn.execute(record).all() == [
        ("30d", clock, clock, 0),
        ("7d", AS_OF + timedelta(days=30), clock, 0),
    ]


def test_an_unknown_window_is_refused_with_an_as_of_too(conn: Connection) -> None:
    with pytest.raises(DBAPIError) as raised:
        refresh_as_of(conn, "1y", AS_OF)
    orig: Any = raised.value.orig
    assert orig.sqlstate == INVALID_PARAMETER_VALUE, str(orig)


def _signatures(engine: Engine) -> list[str]:
    with engine.connect() as c:
        return sorted(
            c.execute(
                text(
                    "select pg_get_function_identity_arguments(oid) from pg_proc "
                    "where proname = 'refresh_trending_topics'"
                )
            ).scalars()
        )


@pytest.mark.heavy
def test_migration_0003_records_stored_windows_and_downgrades_to_0002(
    make_database: Callable[..., URL],
) -> None:
    engine = get_engine(make_database("trend0003"), writable=True)
    try:
        migrate.upgrade(engine, "0002")
        with engine.begin() as c:
            c.execute(
                text(
                    "insert into trending_topics (tag, category, window_label, count, computed_at)"
                    " values ('dune', 'movie', '7d', 3, :t), ('ipl', 'cricket', '7d', 2, :t)"
                ),
                {"t": AS_OF},
            )
        migrate.upgrade(engine)
        assert _signatures(engine) == ["p_window_label text, p_as_of timestamp without time zone"]
        with engine.connect() as c:
            recorded = c.execute(text("select * from trending_refreshes")).all()
            assert recorded == [("7d", AS_OF, AS_OF, 2)]  # the 30d window held nothing

        migrate.downgrade(engine, "0002")
        assert _signatures(engine) == ["p_window_label text"]
        with engine.begin() as c:
            assert c.execute(text("select to_regclass('trending_refreshes')")).scalar() is None
            assert c.execute(text("select refresh_trending_topics('7d')")).scalar_one() == 0
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
