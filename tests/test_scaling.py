"""The Citus plan (``iwm_lab.scaling``) against the migrated catalog and docs/scaling.md.

The plan must name every relation of a database at head exactly once; the constraints Citus
would refuse under it must be exactly the ones docs/scaling.md lists (its table is parsed, so
the page cannot drift from the code); and the keys stay as they are today, the tests stating
which of them would change. Each kind of blocker is shown found on a scratch table created in
the test's transaction, which is rolled back, beside the cases Citus accepts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from seed_contract import Seed, SeedFormatError, load_seed
from sqlalchemy import Connection, text

from iwm_lab import scaling
from iwm_lab.scaling import (
    PLAN,
    Blocker,
    BlockerKind,
    Placement,
    PlannedTable,
    blockers_markdown,
    citus_blockers,
    plan_differences,
    plan_markdown_rows,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
PLAN_HEADER = "| Table | Placement | Distribution column | Colocation group | Why |"
BLOCKERS_HEADER = "| Table | Constraint | Kind | Fix |"

# Every key of the schema at head that Citus would refuse under the plan, with its definition
# today: the test fails if a key changes (they stay as they are) and states the ones that would.
KEYS_CHANGING_UNDER_CITUS: list[tuple[str, str, str]] = [
    ("audit_log", "uq_audit_log_external_id", "UNIQUE (external_id)"),
    ("box_office_grosses", "pk_box_office_grosses", "PRIMARY KEY (id)"),
    ("box_office_grosses", "uq_box_office_grosses_external_id", "UNIQUE (external_id)"),
    ("collection_movies", "pk_collection_movies", "PRIMARY KEY (collection_id, movie_id)"),
    ("collections", "pk_collections", "PRIMARY KEY (id)"),
    ("collections", "uq_collections_external_id", "UNIQUE (external_id)"),
    ("favorites", "pk_favorites", "PRIMARY KEY (id)"),
    ("favorites", "uq_favorites_external_id", "UNIQUE (external_id)"),
    ("festival_selections", "pk_festival_selections", "PRIMARY KEY (id)"),
    ("festival_selections", "uq_festival_selections_external_id", "UNIQUE (external_id)"),
    ("movie_people", "pk_movie_people", "PRIMARY KEY (id)"),
    ("movie_streaming_options", "pk_movie_streaming_options", "PRIMARY KEY (id)"),
    (
        "movie_streaming_options",
        "uq_movie_streaming_options_external_id",
        "UNIQUE (external_id)",
    ),
    ("movies", "uq_movies_external_id", "UNIQUE (external_id)"),
    ("pulses", "pk_pulses", "PRIMARY KEY (id)"),
    ("pulses", "uq_pulses_external_id", "UNIQUE (external_id)"),
    ("pulses_partitioned", "pk_pulses_partitioned", "PRIMARY KEY (id, created_at)"),
    ("quiz_attempts", "pk_quiz_attempts", "PRIMARY KEY (id)"),
    ("quiz_attempts", "uq_quiz_attempts_external_id", "UNIQUE (external_id)"),
    ("reviews", "pk_reviews", "PRIMARY KEY (id)"),
    ("reviews", "uq_reviews_external_id", "UNIQUE (external_id)"),
    ("reviews_partitioned", "pk_reviews_partitioned", "PRIMARY KEY (id, date)"),
    ("scenes", "pk_scenes", "PRIMARY KEY (id)"),
    ("scenes", "uq_scenes_external_id", "UNIQUE (external_id)"),
    ("user_bans", "pk_user_bans", "PRIMARY KEY (id)"),
    ("user_bans", "uq_user_bans_external_id", "UNIQUE (external_id)"),
    ("user_follows", "pk_user_follows", "PRIMARY KEY (id)"),
    ("user_roles", "pk_user_roles", "PRIMARY KEY (id)"),
    ("user_roles", "uq_user_roles_external_id", "UNIQUE (external_id)"),
    ("users", "uq_users_email", "UNIQUE (email)"),
    ("users", "uq_users_external_id", "UNIQUE (external_id)"),
    ("watchlist", "pk_watchlist", "PRIMARY KEY (id)"),
    ("watchlist", "uq_watchlist_external_id", "UNIQUE (external_id)"),
]

# Of the seed document's keys (its PK and UNIQUE columns and its unique indexes), the ones that
# would change under Citus; docs/scaling.md names the same in words.
SEED_KEYS_CHANGING_UNDER_CITUS: list[tuple[str, tuple[str, ...]]] = [
    ("collections", ("external_id",)),
    ("collections", ("id",)),
    ("favorites", ("external_id",)),
    ("favorites", ("id",)),
    ("movie_streaming_options", ("external_id",)),
    ("movie_streaming_options", ("id",)),
    ("movies", ("external_id",)),
    ("pulses", ("external_id",)),
    ("pulses", ("id",)),
    ("reviews", ("external_id",)),
    ("reviews", ("id",)),
    ("scenes", ("external_id",)),
    ("scenes", ("id",)),
    ("user_follows", ("id",)),
    ("users", ("email",)),
    ("users", ("external_id",)),
    ("watchlist", ("external_id",)),
    ("watchlist", ("id",)),
]


def _doc_table(header: str) -> list[list[str]]:
    """The rows (cells stripped) of the one Markdown table of docs/scaling.md under ``header``."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    assert lines.count(header) == 1, f"docs/scaling.md must hold one table headed {header!r}"
    start = lines.index(header)
    assert lines[start + 1].startswith("|---"), "the header is followed by its separator"
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _with(*entries: PlannedTable) -> tuple[PlannedTable, ...]:
    return (*PLAN, *entries)


def _of(blockers: list[Blocker], table: str) -> list[tuple[str, BlockerKind]]:
    return [(b.constraint, b.kind) for b in blockers if b.table == table]


# --- The plan against the catalog --------------------------------------------------------------


def test_the_plan_covers_the_migrated_catalog_exactly(conn: Connection) -> None:
    assert plan_differences(conn) == []
    # Every table the models know, each partitioned twin and each rollup is placed once.
    names = [t.name for t in PLAN]
    assert len(names) == len(set(names))
    assert {"reviews_partitioned", "pulses_partitioned", "movie_review_stats"} <= set(names)
    assert scaling.planned("reviews") == PlannedTable(
        "reviews", Placement.DISTRIBUTED, "movie_id", "movie"
    )
    assert scaling.planned("reviews_p2025") is None  # a partition goes with its parent


def test_an_unplanned_or_a_missing_relation_is_named(conn: Connection) -> None:
    conn.execute(text("create table scratch_unplanned (id integer primary key)"))
    conn.execute(text("drop table review_daily_stats"))
    # A new partition is covered by its parent's entry: not a difference.
    conn.execute(
        text(
            "create table reviews_p1901 partition of reviews_partitioned "
            "for values from ('1901-01-01') to ('1902-01-01')"
        )
    )
    differences = plan_differences(conn)
    assert len(differences) == 2, differences
    assert differences[0].startswith("scratch_unplanned is not in the plan")
    assert differences[1].startswith("review_daily_stats is planned but the database has no")


def test_a_relation_planned_twice_is_named(conn: Connection) -> None:
    twice = _with(PlannedTable("genres", Placement.LOCAL))
    assert plan_differences(conn, twice) == [
        "genres is planned 2 times: keep one entry in iwm_lab.scaling.PLAN"
    ]


def test_a_distributed_entry_needs_its_column_and_group() -> None:
    with pytest.raises(ValueError, match="distributed table names its column"):
        PlannedTable("movies", Placement.DISTRIBUTED, "id")
    with pytest.raises(ValueError, match="distributed table names its column"):
        PlannedTable("genres", Placement.REFERENCE, "id", "movie")


# --- The page against the code -----------------------------------------------------------------


def test_the_documented_plan_is_the_code_s_plan() -> None:
    documented = [tuple(row[:4]) for row in _doc_table(PLAN_HEADER)]
    assert documented == plan_markdown_rows()


def test_the_blockers_found_are_the_documented_ones(conn: Connection) -> None:
    found = citus_blockers(conn)
    documented = [tuple(row) for row in _doc_table(BLOCKERS_HEADER)]
    expected = [(b.table, b.constraint, str(b.kind), b.fix) for b in found]
    assert documented == expected, (
        "docs/scaling.md's blockers table is out of date; it should read:\n"
        + blockers_markdown(found)
    )


def test_the_known_blockers_are_there(conn: Connection) -> None:
    # A few of the documented rows, spelled out, so that the comparison above cannot pass on
    # an empty list and an empty table.
    found = citus_blockers(conn)
    assert len(found) == 65
    assert ("movie_id", BlockerKind.NULLABLE) in _of(found, "reviews")
    assert ("fk_reviews_user_id_users", BlockerKind.FK_ACROSS_GROUPS) in _of(found, "reviews")
    assert ("user_id", BlockerKind.MISSING) in _of(found, "collection_movies")
    assert (
        "fk_user_follows_following_id_users",
        BlockerKind.FK_OFF_DISTRIBUTION_COLUMN,
    ) in _of(found, "user_follows")
    assert (
        "fk_movie_similarities_similar_movie_id_movies",
        BlockerKind.FK_OFF_DISTRIBUTION_COLUMN,
    ) in _of(found, "movie_similarities")
    assert ("fk_quizzes_movie_id_movies", BlockerKind.FK_REFERENCE_TO_DISTRIBUTED) in _of(
        found, "quizzes"
    )
    # Tables that need nothing: movie_genres and the platform's link tables (keys and
    # references fit), the reference tables that reference reference tables only, and the
    # keys to reference tables (quiz_attempts to quizzes, user_bans to moderation_actions).
    for table in (
        "movie_genres",
        "curated_list_movies",
        "featured_rail_movies",
        "genres",
        "people",
        "streaming_platforms",
        "trending_topics",
        "award_bodies",
        "award_ceremonies",
        "award_categories",
        "festivals",
        "festival_editions",
        "featured_rails",
        "quiz_questions",
        "casting_applications",
    ):
        assert _of(found, table) == []
    assert [b.kind for b in found if b.table in ("quiz_attempts", "user_bans")].count(
        BlockerKind.FK_ACROSS_GROUPS
    ) == 0


def test_no_distribution_column_is_nullable_by_design_or_set_null(conn: Connection) -> None:
    # The platform tables whose user or movie column may be NULL, or is set NULL when the
    # account goes, are not distributed by it: the plan's placements of them, and what
    # distributing them by that column would meet.
    naive = {
        "award_nominations": ("movie_id", "movie"),
        "talent_profiles": ("user_id", "user"),
        "content_reports": ("reporter_id", "user"),
        "moderation_actions": ("moderator_id", "user"),
        "audit_log": ("actor_id", "user"),
    }
    for table in naive:
        entry = scaling.planned(table)
        assert entry is not None and entry.column != naive[table][0], table
    plan = tuple(
        PlannedTable(t.name, Placement.DISTRIBUTED, *naive[t.name]) if t.name in naive else t
        for t in PLAN
    )
    found = citus_blockers(conn, plan)
    for table, (column, _) in naive.items():
        assert (column, BlockerKind.NULLABLE) in _of(found, table), table
    set_null = sorted(b.table for b in found if b.kind is BlockerKind.SET_NULL)
    assert set_null == ["audit_log", "content_reports", "moderation_actions"]
    assert all(b.kind is not BlockerKind.SET_NULL for b in citus_blockers(conn))


# --- The keys stay; which would change ---------------------------------------------------------


def test_the_keys_stay_and_these_would_change_under_citus(conn: Connection) -> None:
    changing = [(b.table, b.constraint) for b in citus_blockers(conn) if b.kind is BlockerKind.KEY]
    assert changing == [(table, name) for table, name, _ in KEYS_CHANGING_UNDER_CITUS]
    definitions: dict[str, str] = dict(
        conn.execute(
            text(
                "select conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid) "
                "from pg_constraint where contype in ('p', 'u') "
                "and connamespace = current_schema()::regnamespace"
            )
        ).all()
    )
    today = [
        (table, name, definitions.get(f"{table}.{name}"))
        for table, name, _ in KEYS_CHANGING_UNDER_CITUS
    ]
    assert today == KEYS_CHANGING_UNDER_CITUS


try:
    SEED: Seed | None = load_seed()
    SEED_ERROR: str | None = None
except (OSError, SeedFormatError) as exc:
    SEED, SEED_ERROR = None, f"{type(exc).__name__}: {exc}"


def _seed() -> Seed:
    # As tests/test_schema_contract.py: a clone without the seed document skips, CI fails.
    if SEED is None:
        if "FileNotFoundError" in (SEED_ERROR or "") and os.environ.get("CI", "").lower() not in (
            "true",
            "1",
        ):
            pytest.skip(f"no seed schema document in this clone: {SEED_ERROR}")
        pytest.fail(f"cannot read the seed schema document: {SEED_ERROR}", pytrace=False)
    return SEED


def test_the_seed_s_documented_keys_stay_and_these_would_change(conn: Connection) -> None:
    seed = _seed()
    documented: set[tuple[str, tuple[str, ...]]] = set()
    for table in seed.tables.values():
        documented |= {(table.name, (c.name,)) for c in table.columns if c.primary_key}
        documented |= {(table.name, (c.name,)) for c in table.columns if c.unique}
        documented |= {
            (table.name, tuple(e.expression for e in index.elements))
            for index in table.indexes
            if index.unique
        }
    unique_now = set(
        (table, tuple(columns))
        for table, columns in conn.execute(
            text(
                "select c.relname, array(select a.attname from unnest(x.indkey) "
                "with ordinality as k(attnum, n) join pg_attribute as a "
                "on a.attrelid = x.indrelid and a.attnum = k.attnum order by k.n) "
                "from pg_index as x join pg_class as c on c.oid = x.indrelid "
                "where x.indisunique and c.relnamespace = current_schema()::regnamespace"
            )
        )
    )
    assert sorted(documented - unique_now) == [], "a key of the seed is missing or changed"
    blocked = {(b.table, b.columns) for b in citus_blockers(conn) if b.kind is BlockerKind.KEY}
    assert sorted(documented & blocked) == SEED_KEYS_CHANGING_UNDER_CITUS


# --- Each kind of blocker, on a scratch table ----------------------------------------------------


def test_a_unique_key_without_the_distribution_column_is_found(conn: Connection) -> None:
    conn.execute(
        text(
            """
            create table scratch_notes (
                id serial primary key,
                movie_id integer not null references movies (id),
                genre_id integer references genres (id),
                code text unique,
                label text
            );
            create unique index scratch_notes_label on scratch_notes (label) include (movie_id);
            create unique index scratch_notes_lower on scratch_notes (lower(code), movie_id);
            create unique index scratch_notes_pair on scratch_notes (movie_id, label)
                where label is not null;
            """
        )
    )
    plan = _with(PlannedTable("scratch_notes", Placement.DISTRIBUTED, "movie_id", "movie"))
    found = [b for b in citus_blockers(conn, plan) if b.table == "scratch_notes"]
    # The primary key, the unique constraint, and the index that has movie_id only as an
    # INCLUDE column; not the ones that key on movie_id, and not the reference to genres.
    assert [(b.constraint, b.kind, b.columns) for b in found] == [
        ("scratch_notes_code_key", BlockerKind.KEY, ("code",)),
        ("scratch_notes_label", BlockerKind.KEY, ("label",)),
        ("scratch_notes_pkey", BlockerKind.KEY, ("id",)),
    ]
    assert found[0].fix.startswith("Citus checks uniqueness within a shard only: widen it to")
    assert found[2].fix == "Make it PRIMARY KEY (movie_id, id)."


def test_a_nullable_distribution_column_is_found(conn: Connection) -> None:
    conn.execute(
        text("create table scratch_clips (movie_id integer references movies (id), n integer)")
    )
    plan = _with(PlannedTable("scratch_clips", Placement.DISTRIBUTED, "movie_id", "movie"))
    found = [b for b in citus_blockers(conn, plan) if b.table == "scratch_clips"]
    assert [(b.constraint, b.kind) for b in found] == [("movie_id", BlockerKind.NULLABLE)]
    assert "SET NOT NULL" in found[0].fix
    conn.execute(text("alter table scratch_clips alter movie_id set not null"))
    assert [b for b in citus_blockers(conn, plan) if b.table == "scratch_clips"] == []


def test_a_foreign_key_from_a_reference_table_to_a_distributed_one_is_found(
    conn: Connection,
) -> None:
    conn.execute(
        text(
            """
            create table scratch_labels (
                id integer primary key,
                genre_id integer references genres (id),
                movie_id integer constraint scratch_labels_movie references movies (id)
            )
            """
        )
    )
    plan = _with(PlannedTable("scratch_labels", Placement.REFERENCE))
    found = [b for b in citus_blockers(conn, plan) if b.table == "scratch_labels"]
    # The key to movies only: a reference table may reference another reference table.
    assert [(b.constraint, b.kind, b.columns) for b in found] == [
        ("scratch_labels_movie", BlockerKind.FK_REFERENCE_TO_DISTRIBUTED, ("movie_id",))
    ]


@pytest.mark.parametrize(
    ("ddl", "entry", "expected"),
    [
        pytest.param(
            "create table scratch_t (user_id integer not null references users (id), "
            "movie_id integer constraint scratch_t_movie references movies (id))",
            PlannedTable("scratch_t", Placement.DISTRIBUTED, "user_id", "user"),
            [("scratch_t_movie", BlockerKind.FK_ACROSS_GROUPS)],
            id="fk-across-groups",
        ),
        pytest.param(
            "create table scratch_t (movie_id integer not null references movies (id), "
            "sequel_id integer constraint scratch_t_sequel references movies (id))",
            PlannedTable("scratch_t", Placement.DISTRIBUTED, "movie_id", "movie"),
            [("scratch_t_sequel", BlockerKind.FK_OFF_DISTRIBUTION_COLUMN)],
            id="fk-off-distribution-column",
        ),
        pytest.param(
            "create table scratch_t (movie_id integer constraint scratch_t_movie "
            "references movies (id))",
            PlannedTable("scratch_t", Placement.LOCAL),
            [("scratch_t_movie", BlockerKind.FK_LOCAL_AND_DISTRIBUTED)],
            id="fk-local-and-distributed",
        ),
        pytest.param(
            "create table scratch_t (user_id integer constraint scratch_t_user "
            "references users (id) on delete set null, n integer)",
            PlannedTable("scratch_t", Placement.DISTRIBUTED, "user_id", "user"),
            [("scratch_t_user", BlockerKind.SET_NULL), ("user_id", BlockerKind.NULLABLE)],
            id="set-null-on-distribution-column",
        ),
        pytest.param(
            "create table scratch_t (user_id integer not null references users (id) "
            "on delete cascade, editor_id integer references users (id) on delete set null)",
            PlannedTable("scratch_t", Placement.DISTRIBUTED, "user_id", "user"),
            [("scratch_t_editor_id_fkey", BlockerKind.FK_OFF_DISTRIBUTION_COLUMN)],
            id="set-null-off-distribution-column",
        ),
        pytest.param(
            "create table scratch_t (movie_id bigint not null references movies (id))",
            PlannedTable("scratch_t", Placement.DISTRIBUTED, "movie_id", "movie"),
            [("movie_id", BlockerKind.TYPE)],
            id="type-mismatch",
        ),
        pytest.param(
            "create table scratch_t (id integer primary key, title text)",
            PlannedTable("scratch_t", Placement.DISTRIBUTED, "movie_id", "movie"),
            [("movie_id", BlockerKind.MISSING), ("scratch_t_pkey", BlockerKind.KEY)],
            id="missing-column",
        ),
        pytest.param(
            "create table scratch_t (movie_id integer not null references movies (id), "
            "genre_id integer references genres (id) on delete cascade, "
            "person_id integer references people (id), "
            "primary key (movie_id, genre_id))",
            PlannedTable("scratch_t", Placement.DISTRIBUTED, "movie_id", "movie"),
            [],
            id="accepted-colocated-and-reference-keys",
        ),
    ],
)
def test_each_kind_of_blocker_is_found(
    conn: Connection,
    ddl: str,
    entry: PlannedTable,
    expected: list[tuple[str, BlockerKind]],
) -> None:
    conn.execute(text(ddl))
    assert _of(citus_blockers(conn, _with(entry)), "scratch_t") == expected


def test_a_missing_column_s_fix_names_where_its_value_comes_from(conn: Connection) -> None:
    found = {(b.table, b.kind): b.fix for b in citus_blockers(conn)}
    assert found["collection_movies", BlockerKind.MISSING] == (
        "Add user_id NOT NULL, copied from collections.user_id through collection_id, "
        "and lead its keys with it."
    )
