"""The platform areas designed here (issue 16): awards & festivals, box office, discovery,
quizzes, talent hub, moderation; their models and migration 0008.

The migration is held to the models three ways: Alembic's comparison finds nothing; the
catalog of the migrated tables (each constraint's and index's definition, CHECKs included,
which Alembic does not compare; column types, defaults, comments) equals that of the same
tables built from the models; and it downgrades and upgrades again on a database with core
rows, which it leaves alone. The analyst reads the new tables and the writer writes them.

Then, in ``tests/test_constraints.py``'s style, each CHECK, foreign key, unique key and NOT
NULL refuses a bad row whose valid counterpart (differing only in the values under test) is
accepted, every value of each closed set included; and each ON DELETE does what the models
say. Rows go in through the models' tables (SQLAlchemy Core), so JSONB and dates bind as the
application's would; every such test runs in a transaction that is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from inputs import insert
from sqlalchemy import Connection, Engine, Table, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from iwm_lab import migrate, roles
from iwm_lab.database import get_engine
from iwm_lab.models import Base, awards, discovery, moderation, quizzes, talent
from iwm_lab.models import box_office as box
from iwm_lab.models.values import CREDIT_ROLES

REVISION = "0008"
PREFIX = "Designed here (not in the platform's schema document): "
MODULES = (awards, box, discovery, quizzes, talent, moderation)
# By name: the registry's mappers are a set, and pytest-xdist workers must collect the
# parametrised cases in one order.
PLATFORM_TABLES: dict[str, Table] = {
    name: Base.metadata.tables[name]
    for name in sorted(
        mapper.class_.__tablename__
        for mapper in Base.registry.mappers
        if mapper.class_.__module__ in {module.__name__ for module in MODULES}
    )
}

CHECK, UNIQUE, FOREIGN_KEY, NOT_NULL = "23514", "23505", "23503", "23502"
MISSING_ID = 2_000_000_000
T = datetime(2024, 3, 1, 20, 0)  # a moment the rows' own timestamps are set around
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


# --- the migration against the models ---------------------------------------------------------


def test_the_models_define_the_issue_s_six_areas() -> None:
    assert len(PLATFORM_TABLES) == 24
    assert not [
        t for t, table in PLATFORM_TABLES.items() if not str(table.comment).startswith(PREFIX)
    ]
    undescribed = [
        f"{t}.{c.name}" for t, table in PLATFORM_TABLES.items() for c in table.c if not c.comment
    ]
    assert undescribed == []


def _previous_revision() -> str:
    script = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(REVISION)
    assert script is not None and isinstance(script.down_revision, str)
    return script.down_revision


def _about(diff: Any) -> str | None:
    """The table a difference found by Alembic's comparison is about."""
    first = diff[0] if isinstance(diff, list) else diff
    if first[0].startswith("modify_") or first[0] in ("add_column", "remove_column"):
        return str(first[2])
    found = first[1] if isinstance(first[1], Table) else getattr(first[1], "table", None)
    return getattr(found, "name", None)


def _compare(engine: Engine) -> list[Any]:
    """Alembic's differences between the models and the database on the platform tables (the
    rest of the schema is tests/test_migrations.py's)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts=migrate.comparison_options())
        found = compare_metadata(ctx, Base.metadata)
    return [d for d in found if _about(d) in PLATFORM_TABLES or _about(d) is None]


def _catalog(engine: Engine) -> dict[str, Any]:
    """What the catalog says of the platform tables: comments, columns, constraints, indexes."""
    found: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in PLATFORM_TABLES:
            oid = conn.execute(text("select to_regclass(:t)::oid"), {"t": table}).scalar_one()
            found[table] = {
                "comment": conn.execute(
                    text("select obj_description(:o, 'pg_class')"), {"o": oid}
                ).scalar(),
                "columns": conn.execute(
                    text(
                        "select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                        "pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum) "
                        "from pg_attribute a left join pg_attrdef d "
                        "on d.adrelid = a.attrelid and d.adnum = a.attnum "
                        "where a.attrelid = :o and a.attnum > 0 and not a.attisdropped "
                        "order by a.attnum"
                    ),
                    {"o": oid},
                ).all(),
                "constraints": conn.execute(
                    text(
                        "select conname, pg_get_constraintdef(oid) from pg_constraint "
                        "where conrelid = :o order by conname"
                    ),
                    {"o": oid},
                ).all(),
                "indexes": conn.execute(
                    text(
                        "select indexname, indexdef from pg_indexes where tablename = :t order by 1"
                    ),
                    {"t": table},
                ).all(),
            }
    return found


@pytest.mark.slow
def test_the_migration_builds_the_tables_the_models_describe(
    engine: Engine, make_database: Callable[..., URL], template_name: str
) -> None:
    assert _compare(engine) == []
    migrated = _catalog(engine)
    # The same tables built from the models, on a copy taken back to the revision before.
    from_models = get_engine(make_database("models", template=template_name), writable=True)
    try:
        migrate.downgrade(from_models, _previous_revision())
        with from_models.begin() as conn:
            Base.metadata.create_all(conn, tables=list(PLATFORM_TABLES.values()))
        assert _catalog(from_models) == migrated
    finally:
        from_models.dispose()
    assert sum(len(t["constraints"]) for t in migrated.values()) > 150  # CHECKs compared too


@pytest.mark.slow
def test_downgrade_drops_only_the_platform_tables_and_upgrade_restores_them(
    make_database: Callable[..., URL], template_name: str
) -> None:
    engine = get_engine(make_database("platform_down", template=template_name), writable=True)
    try:
        with engine.begin() as conn:
            [movie] = insert(conn, "movies", [{"title": "Dune", "revenue": 402_000_000}])
            [user] = insert(
                conn, "users", [{"email": "a@example.test", "hashed_password": "h", "name": "A"}]
            )
            insert(conn, "people", [{"name": "Denis Villeneuve"}])
            row = {"title": "t", "content": "c", "rating": 8.0, "user_id": user, "movie_id": movie}
            insert(conn, "reviews", [row], refresh_rollups=False)
            conn.execute(PLATFORM_TABLES["quizzes"].insert().values(title="Q", source="editorial"))
        counts = text("select (select count(*) from movies), (select count(*) from reviews)")
        with engine.connect() as conn:
            before = inspect(conn).get_table_names()
            assert tuple(conn.execute(counts).one()) == (1, 1)

        assert migrate.downgrade(engine, _previous_revision()) == _previous_revision()
        with engine.connect() as conn:
            after = set(inspect(conn).get_table_names())
            assert tuple(conn.execute(counts).one()) == (1, 1)
        assert after == set(before) - set(PLATFORM_TABLES)

        assert migrate.upgrade(engine) == migrate.head_revision()
        assert _compare(engine) == []
        with engine.connect() as conn:
            assert conn.execute(text("select count(*) from quizzes")).scalar_one() == 0
    finally:
        engine.dispose()


def _session(url: URL, role: str) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(
        f"host={url.query['host']} port={url.port} dbname={url.database} user={role}"
    )


def test_the_analyst_reads_and_the_writer_writes_the_platform_tables(db_url: URL) -> None:
    with _session(db_url, roles.ANALYST_ROLE) as analyst:
        for table in PLATFORM_TABLES:
            assert analyst.execute(f"select count(*) from {table}").fetchone() == (0,)
        analyst.rollback()
        with pytest.raises(
            (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)
        ):
            analyst.execute("insert into audit_log (action) values ('role.grant')")
    with _session(db_url, roles.WRITER_ROLE) as writer:
        writer.execute("insert into audit_log (action) values ('role.grant')")  # its sequence too
        writer.execute("insert into festivals (name) values ('Berlinale')")
        writer.execute("delete from festivals")
        writer.rollback()  # the module's database stays as it was


# --- rows the database must refuse, and their valid counterparts ------------------------------

# Rows every case may point at ("@name"), inserted in this order.
REFS: list[tuple[str, str, dict[str, Any]]] = [
    ("user", "users", {"email": "u1@example.test", "hashed_password": "h", "name": "U1"}),
    ("user2", "users", {"email": "u2@example.test", "hashed_password": "h", "name": "U2"}),
    ("user3", "users", {"email": "u3@example.test", "hashed_password": "h", "name": "U3"}),
    ("movie", "movies", {"title": "Dune: Part Two"}),
    ("movie2", "movies", {"title": "Dune"}),
    ("person", "people", {"name": "Zendaya"}),
    ("body", "award_bodies", {"name": "BAFTA", "body_type": "academy"}),
    (
        "ceremony",
        "award_ceremonies",
        {"award_body_id": "@body", "year": 2023, "ceremony_date": date(2024, 2, 18)},
    ),
    (
        "category",
        "award_categories",
        {"award_body_id": "@body", "name": "Best Film", "subject": "movie"},
    ),
    ("festival", "festivals", {"name": "Venice Film Festival"}),
    (
        "edition",
        "festival_editions",
        {
            "festival_id": "@festival",
            "year": 2024,
            "starts_on": date(2024, 8, 28),
            "ends_on": date(2024, 9, 7),
        },
    ),
    ("list", "curated_lists", {"title": "Sand", "list_type": "editorial", "slug": "sand"}),
    (
        "rail",
        "featured_rails",
        {"title": "Rail", "placement": "home", "position": 1, "source": "editorial"},
    ),
    ("quiz", "quizzes", {"title": "Quiz", "source": "editorial"}),
    ("profile", "talent_profiles", {"display_name": "U2", "user_id": "@user2"}),
    ("call", "casting_calls", {"title": "Call", "role": "actor"}),
    ("call2", "casting_calls", {"title": "Call 2", "role": "director"}),
    ("report", "content_reports", {"target_type": "pulse", "target_id": 5, "reason": "spam"}),
    ("action", "moderation_actions", {"action": "remove", "target_type": "pulse", "target_id": 5}),
]

# A minimal valid row of each platform table, valid beside the REFS rows.
BASE_ROWS: dict[str, dict[str, Any]] = {
    "award_bodies": {"name": "AMPAS", "body_type": "academy", "country": "US"},
    "award_ceremonies": {
        "award_body_id": "@body",
        "year": 2022,
        "edition_number": 76,
        "ceremony_date": date(2023, 2, 19),
    },
    "award_categories": {
        "award_body_id": "@body",
        "name": "Best Director",
        "subject": "person",
        "credit_role": "director",
    },
    "award_nominations": {
        "ceremony_id": "@ceremony",
        "category_id": "@category",
        "movie_id": "@movie",
        "person_id": "@person",
        "won": True,
    },
    "festivals": {"name": "Cannes", "city": "Cannes", "country": "FR", "founded_year": 1946},
    "festival_editions": {
        "festival_id": "@festival",
        "year": 2023,
        "edition_number": 80,
        "starts_on": date(2023, 8, 30),
        "ends_on": date(2023, 9, 9),
    },
    "festival_selections": {
        "edition_id": "@edition",
        "movie_id": "@movie",
        "section": "competition",
        "premiere": "world",
        "prize": "Golden Lion",
    },
    "box_office_grosses": {
        "movie_id": "@movie",
        "region": "US",
        "weekend_start": date(2024, 3, 1),
        "week_of_run": 1,
        "rank": 1,
        "weekend_gross": 82_505_391,
        "week_gross": 101_000_000,
        "theaters": 4071,
        "currency": "USD",
        "created_at": T,
    },
    "curated_lists": {"title": "Epics", "list_type": "editorial", "slug": "epics", "created_at": T},
    "curated_list_movies": {"curated_list_id": "@list", "movie_id": "@movie", "position": 1},
    "featured_rails": {
        "title": "Now in theaters",
        "placement": "home",
        "region": "US",
        "position": 1,
        "source": "editorial",
        "starts_at": T,
        "created_at": T,
    },
    "featured_rail_movies": {"rail_id": "@rail", "movie_id": "@movie", "position": 1},
    "movie_similarities": {
        "movie_id": "@movie",
        "similar_movie_id": "@movie2",
        "score": 0.8,
        "method": "co-watch",
    },
    "quizzes": {
        "title": "Dune trivia",
        "source": "trivia",
        "movie_id": "@movie",
        "difficulty": "medium",
        "created_at": T,
    },
    "quiz_questions": {
        "quiz_id": "@quiz",
        "position": 1,
        "prompt": "Who directed it?",
        "options": ["Denis Villeneuve", "David Lynch", "Alejandro Jodorowsky"],
        "answer_index": 0,
    },
    "quiz_attempts": {
        "quiz_id": "@quiz",
        "user_id": "@user",
        "started_at": T,
        "finished_at": T + HOUR,
        "question_count": 3,
        "score": 1,
        "answers": [{"question_id": 1, "chosen": 0}],
    },
    "talent_profiles": {
        "display_name": "Zendaya",
        "person_id": "@person",
        "user_id": "@user",
        "primary_role": "actor",
        "region": "US",
        "created_at": T,
    },
    "casting_calls": {
        "title": "Lead, desert drama",
        "role": "actor",
        "region": "UK",
        "posted_by_id": "@user",
        "created_at": T,
        "deadline": T + 30 * DAY,
    },
    "casting_applications": {
        "casting_call_id": "@call",
        "talent_profile_id": "@profile",
        "created_at": T,
    },
    "content_reports": {
        "reporter_id": "@user",
        "target_type": "review",
        "target_id": 1,
        "reason": "spoilers",
        "status": "open",
        "created_at": T,
    },
    "moderation_actions": {
        "report_id": "@report",
        "moderator_id": "@user2",
        "action": "hide",
        "target_type": "review",
        "target_id": 1,
    },
    "user_roles": {
        "user_id": "@user2",
        "role": "moderator",
        "granted_by_id": "@user",
        "created_at": T,
    },
    "user_bans": {
        "user_id": "@user",
        "action_id": "@action",
        "banned_by_id": "@user2",
        "scope": "posting",
        "reason": "Spoilers, again",
        "starts_at": T,
        "ends_at": T + 7 * DAY,
    },
    "audit_log": {
        "actor_id": "@user2",
        "action": "review.hide",
        "target_table": "reviews",
        "target_id": 1,
        "details": {"report": 1},
    },
}


@dataclass(frozen=True)
class Case:
    id: str
    table: str
    bad: dict[str, Any]  # overrides of the base row that the database must reject
    good: list[dict[str, Any]]  # the same keys, with values it must accept (each one)
    sqlstate: str = CHECK
    setup: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # rows inserted first


def one_of(table: str, column: str, allowed: tuple[str, ...], bad: str) -> Case:
    """One value outside the closed set refused, every value of it accepted."""
    return Case(f"{table}.{column}={bad!r}", table, {column: bad}, [{column: v} for v in allowed])


def values(table: str, column: str, bad: list[Any], good: list[Any]) -> list[Case]:
    """Each bad value refused by a CHECK; each good one (the bounds) accepted."""
    return [
        Case(f"{table}.{column}={b!r}", table, {column: b}, [{column: g} for g in good])
        for b in bad
    ]


def rows(
    id: str, table: str, bad: dict[str, Any], *good: dict[str, Any], sqlstate: str = CHECK
) -> Case:
    """A CHECK over several columns: the bad combination refused, the good ones accepted."""
    return Case(id, table, bad, list(good), sqlstate)


def duplicate(
    id: str, table: str, first: dict[str, Any], bad: dict[str, Any], *good: dict[str, Any]
) -> Case:
    """A unique key: ``first`` (over the base row) goes in, then ``bad`` collides with it."""
    return Case(id, table, bad, list(good), UNIQUE, setup=[(table, {**BASE_ROWS[table], **first})])


REGIONS = [
    ("award_bodies", "country"),
    ("festivals", "country"),
    ("featured_rails", "region"),
    ("talent_profiles", "region"),
    ("casting_calls", "region"),
]
# Tables whose other unique keys a second row must not collide with (beside its external_id).
SECOND_ROW: dict[str, dict[str, Any]] = {
    "award_ceremonies": {"year": 2021, "ceremony_date": None},
    "award_categories": {"name": "Best Actress"},
    "award_nominations": {"movie_id": "@movie2"},
    "festival_editions": {
        "year": 2020,
        "starts_on": date(2020, 9, 2),
        "ends_on": date(2020, 9, 12),
    },
    "festival_selections": {"movie_id": "@movie2"},
    "box_office_grosses": {"region": "UK"},
    "curated_lists": {"slug": "epics-2"},
    "quiz_questions": {"position": 2},
    "talent_profiles": {"person_id": None, "user_id": "@user3"},
    "casting_applications": {"casting_call_id": "@call2"},
    "user_roles": {"role": "editor"},
}
LINK_TABLES = ("curated_list_movies", "featured_rail_movies", "movie_similarities")

CASES: list[Case] = [
    # Closed value sets.
    one_of("award_bodies", "body_type", awards.AWARD_BODY_TYPES, "studio"),
    one_of("award_categories", "subject", awards.AWARD_SUBJECTS, "song"),
    one_of("award_categories", "credit_role", CREDIT_ROLES, "stunts"),
    one_of("festival_selections", "section", awards.FESTIVAL_SECTIONS, "market"),
    one_of("festival_selections", "premiere", awards.PREMIERE_TYPES, "local"),
    one_of("curated_lists", "list_type", discovery.CURATED_LIST_TYPES, "personal"),
    one_of("featured_rails", "placement", discovery.RAIL_PLACEMENTS, "footer"),
    one_of("featured_rails", "source", discovery.RAIL_SOURCES, "random"),
    one_of("movie_similarities", "method", discovery.SIMILARITY_METHODS, "vibes"),
    one_of("quizzes", "source", quizzes.QUIZ_SOURCES, "scraped"),
    one_of("quizzes", "difficulty", quizzes.QUIZ_DIFFICULTIES, "expert"),
    one_of("talent_profiles", "primary_role", CREDIT_ROLES, "stunts"),
    one_of("casting_calls", "role", CREDIT_ROLES, "stunts"),
    one_of("casting_calls", "status", talent.CASTING_CALL_STATUSES, "paused"),
    one_of("casting_applications", "status", talent.APPLICATION_STATUSES, "ghosted"),
    one_of("content_reports", "target_type", moderation.REPORT_TARGET_TYPES, "movie"),
    one_of("content_reports", "reason", moderation.REPORT_REASONS, "boring"),
    one_of("moderation_actions", "action", moderation.MODERATION_ACTIONS, "shadowban"),
    one_of("moderation_actions", "target_type", moderation.REPORT_TARGET_TYPES, "movie"),
    one_of("user_roles", "role", moderation.STAFF_ROLES, "owner"),
    one_of("user_bans", "scope", moderation.BAN_SCOPES, "everything"),
    # A report is resolved exactly when actioned or dismissed.
    Case(
        "content_reports.status='closed'",
        "content_reports",
        {"status": "closed", "resolved_at": None},
        [{"status": s, "resolved_at": None} for s in moderation.OPEN_REPORT_STATUSES]
        + [{"status": s, "resolved_at": T + HOUR} for s in ("actioned", "dismissed")],
    ),
    rows(
        "content_reports.open_but_resolved",
        "content_reports",
        {"status": "open", "resolved_at": T + HOUR},
        {"status": "actioned", "resolved_at": T + HOUR},
    ),
    rows(
        "content_reports.actioned_unresolved",
        "content_reports",
        {"status": "actioned", "resolved_at": None},
        {"status": "reviewing", "resolved_at": None},
    ),
    rows(
        "content_reports.resolved_before_reported",
        "content_reports",
        {"status": "dismissed", "resolved_at": T - HOUR},
        {"status": "dismissed", "resolved_at": T},
    ),
    # Ranges and bounds (inclusive bounds accepted).
    *values("festivals", "founded_year", [1899, 2101], [1900, 2100]),
    *values("movie_similarities", "score", [1.01, -0.01], [0.0, 1.0]),
    *values("award_ceremonies", "edition_number", [0], [1]),
    *values("festival_editions", "edition_number", [0, -3], [1]),
    *values("box_office_grosses", "week_of_run", [0], [1, 52]),
    *values("box_office_grosses", "rank", [0], [1, None]),
    *values("box_office_grosses", "theaters", [0], [1, None]),
    rows(
        "box_office_grosses.weekend_gross=-1",
        "box_office_grosses",
        {"weekend_gross": -1, "week_gross": None},
        {"weekend_gross": 0, "week_gross": None},
        {"weekend_gross": 9_000_000_000, "week_gross": 12_000_000_000},
    ),  # past INTEGER; fmt: skip
    *values("curated_list_movies", "position", [0], [1]),
    *values("featured_rails", "position", [0], [1]),
    *values("featured_rail_movies", "position", [0], [1]),
    *values("quiz_questions", "position", [0], [1]),
    *values("quiz_questions", "trivia_index", [-1], [0, None]),
    *values("quizzes", "time_limit_seconds", [0], [1, None]),
    *values("content_reports", "target_id", [0], [1]),
    *values("moderation_actions", "target_id", [0, -1], [1]),
    # Formats: region codes, currencies, audit actions and tables.
    *values(
        "box_office_grosses", "region", ["USA", "us", "U1", "", "U S"], ["US", "UK", "IN", "FR"]
    ),
    *[Case(f"{t}.{c}='GBR'", t, {c: "GBR"}, [{c: "UK"}, {c: None}]) for t, c in REGIONS],
    *values("box_office_grosses", "currency", ["usd", "US", "U5D", ""], ["USD", "EUR", "INR"]),
    *values(
        "audit_log",
        "action",
        ["hide", "Review.hide", "review.hide.now", "review hide"],
        ["review.hide", "role.grant", "user_ban.lift"],
    ),
    *values("audit_log", "details", [[1, 2], "x", 3], [{"before": {"status": "open"}}, None]),
    rows(
        "audit_log.target_table=bad",
        "audit_log",
        {"target_table": "Reviews"},
        {"target_table": "user_bans"},
    ),
    rows(
        "audit_log.target_without_id",
        "audit_log",
        {"target_table": "reviews", "target_id": None},
        {"target_table": None, "target_id": None},
        {"target_table": "reviews", "target_id": 7},
    ),
    # Year and date rules.
    *[
        rows(
            f"award_ceremonies.year={y}",
            "award_ceremonies",
            {"year": y, "ceremony_date": None},
            {"year": 1900, "ceremony_date": None},
            {"year": 2100, "ceremony_date": None},
        )
        for y in (1899, 2101)
    ],
    *[
        rows(
            f"award_ceremonies.held_{d}",
            "award_ceremonies",
            {"year": 2022, "ceremony_date": d},
            *(
                {"year": 2022, "ceremony_date": g}
                for g in (date(2022, 12, 1), date(2023, 12, 31), None)
            ),
        )
        for d in (date(2021, 12, 31), date(2024, 1, 1))
    ],
    rows(
        "festival_editions.ends_before_start",
        "festival_editions",
        {"starts_on": date(2023, 8, 30), "ends_on": date(2023, 8, 29)},
        {"starts_on": date(2023, 8, 30), "ends_on": date(2023, 8, 30)},
    ),
    rows(
        "festival_editions.starts_in_other_year",
        "festival_editions",
        {"year": 2023, "starts_on": date(2022, 12, 30), "ends_on": date(2023, 1, 5)},
        {"year": 2022, "starts_on": date(2022, 12, 30), "ends_on": date(2023, 1, 5)},
    ),
    rows(
        "festival_editions.year=1899",
        "festival_editions",
        {"year": 1899, "starts_on": date(1899, 5, 1), "ends_on": date(1899, 5, 9)},
        {"year": 1900, "starts_on": date(1900, 5, 1), "ends_on": date(1900, 5, 9)},
    ),
    # Rules across columns.
    rows(
        "award_nominations.no_nominee",
        "award_nominations",
        {"movie_id": None, "person_id": None},
        {"movie_id": "@movie", "person_id": None},
        {"movie_id": None, "person_id": "@person"},
    ),
    rows(
        "box_office_grosses.week_below_weekend",
        "box_office_grosses",
        {"weekend_gross": 100, "week_gross": 99},
        {"weekend_gross": 100, "week_gross": 100},
        {"weekend_gross": 100, "week_gross": None},
    ),
    *[
        rows(
            f"{table}.updated_before_created",
            table,
            {"updated_at": T - HOUR},
            {"updated_at": T},
            {"updated_at": None},
        )
        for table in (
            "box_office_grosses",
            "curated_lists",
            "featured_rails",
            "quizzes",
            "talent_profiles",
            "casting_calls",
            "casting_applications",
        )
    ],
    rows(
        "curated_lists.published_undated",
        "curated_lists",
        {"is_published": True, "published_at": None},
        {"is_published": True, "published_at": T},
        {"is_published": False, "published_at": None},
    ),
    rows(
        "featured_rails.ends_at_start",
        "featured_rails",
        {"ends_at": T},
        {"ends_at": T + DAY},
        {"ends_at": None},
    ),
    rows(
        "movie_similarities.self",
        "movie_similarities",
        {"similar_movie_id": "@movie"},
        {"similar_movie_id": "@movie2"},
    ),
    rows(
        "quizzes.trivia_without_movie",
        "quizzes",
        {"source": "trivia", "movie_id": None},
        {"source": "editorial", "movie_id": None},
        {"source": "trivia", "movie_id": "@movie"},
    ),
    *values(
        "quiz_questions",
        "options",
        [["only one"], [], ["a", 2], {"a": "b"}, "a, b", [str(i) for i in range(11)]],
        [["yes", "no"], [str(i) for i in range(10)]],
    ),
    *values("quiz_questions", "answer_index", [3, -1], [0, 2]),
    rows(
        "quiz_attempts.finished_before_started",
        "quiz_attempts",
        {"finished_at": T - HOUR},
        {"finished_at": T},
    ),
    *values("quiz_attempts", "score", [4, -1], [0, 3]),
    *values("quiz_attempts", "question_count", [0], [1, 3]),
    rows(
        "quiz_attempts.unfinished_scored",
        "quiz_attempts",
        {"finished_at": None, "score": 1},
        {"finished_at": None, "score": None},
    ),
    rows(
        "quiz_attempts.finished_unscored",
        "quiz_attempts",
        {"finished_at": T + HOUR, "score": None},
        {"finished_at": T + HOUR, "score": 0},
    ),
    *values(
        "quiz_attempts",
        "answers",
        [[{"question_id": i, "chosen": 0} for i in range(4)], {"question_id": 1}],
        [[], [{"question_id": i, "chosen": 0} for i in range(3)], None],
    ),
    rows(
        "talent_profiles.nobody",
        "talent_profiles",
        {"person_id": None, "user_id": None},
        {"person_id": "@person", "user_id": None},
        {"person_id": None, "user_id": "@user"},
    ),
    rows(
        "casting_calls.deadline_before_posting",
        "casting_calls",
        {"deadline": T - DAY},
        {"deadline": T},
        {"deadline": None},
    ),
    rows(
        "user_roles.revoked_before_granted",
        "user_roles",
        {"revoked_at": T - HOUR},
        {"revoked_at": T},
        {"revoked_at": None},
    ),
    rows(
        "user_bans.ends_at_start",
        "user_bans",
        {"ends_at": T},
        {"ends_at": T + DAY},
        {"ends_at": None},
    ),
    rows(
        "user_bans.lifted_before_start",
        "user_bans",
        {"lifted_at": T - HOUR},
        {"lifted_at": T},
        {"lifted_at": None},
    ),
    # Unique keys.
    *[
        duplicate(
            f"{t}.external_id.duplicate",
            t,
            {"external_id": "x1", **SECOND_ROW.get(t, {})},
            {"external_id": "x1"},
            {"external_id": "x2"},
        )
        for t in BASE_ROWS
        if t not in LINK_TABLES
    ],
    duplicate(
        "award_ceremonies.body_year.duplicate",
        "award_ceremonies",
        {},
        {"year": 2022, "ceremony_date": None},
        {"year": 2021, "ceremony_date": None},
    ),
    duplicate(
        "award_categories.body_name.duplicate",
        "award_categories",
        {},
        {"name": "Best Director"},
        {"name": "Best Actor"},
    ),
    # NULLS NOT DISTINCT: the same movie twice in a movie category, with no person, collides.
    duplicate(
        "award_nominations.movie_only.duplicate",
        "award_nominations",
        {"category_id": "@category", "person_id": None},
        {"movie_id": "@movie", "person_id": None},
        {"movie_id": "@movie2", "person_id": None},
        {"movie_id": "@movie", "person_id": "@person"},
    ),
    duplicate(
        "festival_editions.festival_year.duplicate",
        "festival_editions",
        {},
        {"year": 2023, "starts_on": date(2023, 8, 30)},
        {"year": 2022, "starts_on": date(2022, 8, 30)},
    ),
    duplicate(
        "festival_selections.edition_movie.duplicate",
        "festival_selections",
        {},
        {"movie_id": "@movie"},
        {"movie_id": "@movie2"},
    ),
    duplicate(
        "box_office_grosses.movie_region_weekend.duplicate",
        "box_office_grosses",
        {},
        {"region": "US", "weekend_start": date(2024, 3, 1)},
        {"region": "UK", "weekend_start": date(2024, 3, 1)},
        {"region": "US", "weekend_start": date(2024, 3, 8)},
    ),
    duplicate(
        "curated_lists.slug.duplicate", "curated_lists", {}, {"slug": "epics"}, {"slug": "epics-2"}
    ),
    *[
        duplicate(f"{t}.pk.duplicate", t, {}, {"movie_id": "@movie"}, {"movie_id": "@movie2"})
        for t in ("curated_list_movies", "featured_rail_movies")
    ],
    duplicate(
        "movie_similarities.pk.duplicate",
        "movie_similarities",
        {},
        {"movie_id": "@movie", "similar_movie_id": "@movie2"},
        {"movie_id": "@movie2", "similar_movie_id": "@movie"},
    ),  # the reverse edge is its own
    duplicate(
        "quiz_questions.quiz_position.duplicate",
        "quiz_questions",
        {},
        {"position": 1},
        {"position": 2},
    ),
    duplicate(
        "talent_profiles.person.duplicate",
        "talent_profiles",
        {"user_id": None},
        {"person_id": "@person"},
        {"person_id": None},
    ),
    duplicate(
        "talent_profiles.user.duplicate",
        "talent_profiles",
        {"person_id": None},
        {"user_id": "@user", "person_id": "@person"},
        {"user_id": "@user3", "person_id": "@person"},
    ),
    duplicate(
        "casting_applications.call_profile.duplicate",
        "casting_applications",
        {},
        {"casting_call_id": "@call"},
        {"casting_call_id": "@call2"},
    ),
    # A role is held once at a time; revoked grants stay as history.
    duplicate(
        "user_roles.held.duplicate",
        "user_roles",
        {},
        {"role": "moderator", "revoked_at": None},
        {"role": "moderator", "revoked_at": T + DAY},
        {"role": "editor", "revoked_at": None},
    ),
]

# The row of REFS a foreign key to each table points at, when the base row does not name one.
REF_OF = {
    "users": "@user",
    "movies": "@movie",
    "people": "@person",
    "award_bodies": "@body",
    "award_ceremonies": "@ceremony",
    "award_categories": "@category",
    "festivals": "@festival",
    "festival_editions": "@edition",
    "curated_lists": "@list",
    "featured_rails": "@rail",
    "quizzes": "@quiz",
    "talent_profiles": "@profile",
    "casting_calls": "@call",
    "content_reports": "@report",
    "moderation_actions": "@action",
}

# Every foreign key refuses a row that does not exist; every NOT NULL column refuses NULL (JSONB
# ones aside: SQLAlchemy binds None there as JSON null, which their CHECK refuses).
CASES += [
    Case(
        f"{t}.{fk.parent.name}.missing",
        t,
        {fk.parent.name: MISSING_ID},
        [{fk.parent.name: BASE_ROWS[t].get(fk.parent.name) or REF_OF[fk.column.table.name]}],
        FOREIGN_KEY,
    )
    for t, table in PLATFORM_TABLES.items()
    for fk in sorted(table.foreign_keys, key=lambda fk: fk.parent.name)
] + [
    Case(f"{t}.{c.name}.null", t, {c.name: None}, [{c.name: BASE_ROWS[t][c.name]}], NOT_NULL)
    for t, table in PLATFORM_TABLES.items()
    for c in table.c
    if not c.nullable and c.name in BASE_ROWS[t] and c.type.__class__.__name__ != "JSONB"
]

# Nullable checked columns accept NULL: a CHECK must not make them NOT NULL.
NULL_ACCEPTED = [
    ("award_bodies", "country"),
    ("award_categories", "credit_role"),
    ("festival_selections", "premiere"),
    ("box_office_grosses", "week_gross"),
    ("featured_rails", "region"),
    ("quizzes", "difficulty"),
    ("quiz_attempts", "answers"),
    ("talent_profiles", "primary_role"),
    ("audit_log", "details"),
]


def resolve(value: Any, refs: dict[str, int]) -> Any:
    return refs[value[1:]] if isinstance(value, str) and value.startswith("@") else value


def put(conn: Connection, table: str, row: dict[str, Any], refs: dict[str, int]) -> dict[str, Any]:
    """Insert ``row`` (``"@name"`` values resolved) through the model's table; its key back."""
    target = Base.metadata.tables[table]
    values = {column: resolve(value, refs) for column, value in row.items()}
    returned = conn.execute(target.insert().values(values).returning(*target.primary_key.columns))
    return dict(returned.one()._mapping)


@pytest.fixture
def refs(conn: Connection) -> dict[str, int]:
    found: dict[str, int] = {}
    for name, table, row in REFS:
        found[name] = put(conn, table, row, found)["id"]
    return found


def _stored(conn: Connection, table: str, key: dict[str, Any], columns: list[str]) -> list[Any]:
    target = Base.metadata.tables[table]
    where = [target.c[k] == v for k, v in key.items()]
    return list(
        conn.execute(
            target.select().with_only_columns(*(target.c[c] for c in columns)).where(*where)
        ).one()
    )


@pytest.mark.slow  # hundreds of cases
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_database_rejects(case: Case, conn: Connection, refs: dict[str, int]) -> None:
    for table, row in case.setup:
        put(conn, table, row, refs)
    with pytest.raises(IntegrityError) as raised:
        put(conn, case.table, {**BASE_ROWS[case.table], **case.bad}, refs)
    orig: Any = raised.value.orig
    assert orig.sqlstate == case.sqlstate, str(orig)


ACCEPTED = [
    pytest.param(case, good, id=f"{case.id}-accepts-" + ",".join(map(str, good.values()))[:80])
    for case in CASES
    for good in case.good
]


@pytest.mark.slow  # hundreds of cases
@pytest.mark.parametrize(("case", "good"), ACCEPTED)
def test_database_accepts_the_valid_counterpart(
    case: Case, good: dict[str, Any], conn: Connection, refs: dict[str, int]
) -> None:
    assert good.keys() == case.bad.keys(), "a counterpart must change only the tested values"
    for table, row in case.setup:
        put(conn, table, row, refs)
    key = put(conn, case.table, {**BASE_ROWS[case.table], **good}, refs)
    assert _stored(conn, case.table, key, list(good)) == [resolve(v, refs) for v in good.values()]


@pytest.mark.parametrize(
    ("table", "column"), NULL_ACCEPTED, ids=[f"{t}.{c}" for t, c in NULL_ACCEPTED]
)
def test_checked_nullable_column_accepts_null(
    table: str, column: str, conn: Connection, refs: dict[str, int]
) -> None:
    key = put(conn, table, {**BASE_ROWS[table], column: None}, refs)
    assert _stored(conn, table, key, [column]) == [None]


def test_base_rows_are_valid_and_defaults_fill_the_rest(
    conn: Connection, refs: dict[str, int]
) -> None:
    for table, row in BASE_ROWS.items():
        assert put(conn, table, row, refs)
    # The columns the base rows leave out get their defaults.
    defaults = conn.execute(
        text(
            "select (select status from casting_calls where title = 'Lead, desert drama'), "
            "(select status from casting_applications where casting_call_id = :call), "
            "(select is_published from quizzes where title = 'Dune trivia'), "
            "(select is_verified from talent_profiles where display_name = 'Zendaya'), "
            "(select open_to_work from talent_profiles where display_name = 'Zendaya'), "
            "(select created_at is not null from award_nominations where ceremony_id = :ceremony)"
        ),
        {"call": refs["call"], "ceremony": refs["ceremony"]},
    ).one()
    assert tuple(defaults) == ("open", "submitted", False, False, True, True)


# --- what a deletion does ---------------------------------------------------------------------


@dataclass(frozen=True)
class Deletion:
    id: str
    rows: list[tuple[str, str, dict[str, Any]]]  # (name, table, row) inserted after REFS
    delete: tuple[str, str]  # table, "@name" of the row deleted
    then: str  # SQL of one row, its binds named after REFS and rows
    expected: tuple[Any, ...] | str  # that row, or the SQLSTATE when the delete is refused


def _base(table: str, **changes: Any) -> dict[str, Any]:
    return {**BASE_ROWS[table], **changes}


DELETIONS = [
    *[
        Deletion(
            f"a movie with {t} is kept", [("x", t, _base(t))], ("movies", "@movie"), "", FOREIGN_KEY
        )
        for t in ("award_nominations", "festival_selections", "box_office_grosses")
    ],
    Deletion(
        "a person with nominations is kept",
        [("x", "award_nominations", _base("award_nominations", movie_id=None))],
        ("people", "@person"),
        "",
        FOREIGN_KEY,
    ),
    Deletion(
        "a movie's quiz goes with it, its questions and attempts too",
        [
            ("q", "quizzes", _base("quizzes")),
            ("qq", "quiz_questions", _base("quiz_questions", quiz_id="@q")),
            ("qa", "quiz_attempts", _base("quiz_attempts", quiz_id="@q")),
        ],
        ("movies", "@movie"),
        "select (select count(*) from quizzes where id = :q), "
        "(select count(*) from quiz_questions where id = :qq), "
        "(select count(*) from quiz_attempts where id = :qa), (select count(*) from quizzes)",
        (0, 0, 0, 1),
    ),
    Deletion(
        "a movie's list, rail and similarity rows go; a casting call forgets it",
        [
            ("l", "curated_list_movies", _base("curated_list_movies")),
            ("r", "featured_rail_movies", _base("featured_rail_movies")),
            ("s", "movie_similarities", _base("movie_similarities")),
            (
                "s2",
                "movie_similarities",
                _base("movie_similarities", movie_id="@movie2", similar_movie_id="@movie"),
            ),
            ("c", "casting_calls", _base("casting_calls", movie_id="@movie")),
        ],
        ("movies", "@movie"),
        "select (select count(*) from curated_list_movies)"
        " + (select count(*) from featured_rail_movies)"
        " + (select count(*) from movie_similarities),"
        " (select movie_id from casting_calls where id = :c)",
        (0, None),
    ),
    Deletion(
        "a user's own rows go; records of what they did stay, without them",
        [
            ("a", "quiz_attempts", _base("quiz_attempts", user_id="@user3")),
            ("ro", "user_roles", _base("user_roles", user_id="@user3")),
            ("b", "user_bans", _base("user_bans", user_id="@user3")),
            ("p", "talent_profiles", _base("talent_profiles", person_id=None, user_id="@user3")),
            ("rep", "content_reports", _base("content_reports", reporter_id="@user3")),
            ("act", "moderation_actions", _base("moderation_actions", moderator_id="@user3")),
            ("log", "audit_log", _base("audit_log", actor_id="@user3")),
            ("g", "user_roles", _base("user_roles", granted_by_id="@user3")),
            ("bb", "user_bans", _base("user_bans", banned_by_id="@user3")),
            ("cl", "curated_lists", _base("curated_lists", curator_id="@user3")),
            ("qz", "quizzes", _base("quizzes", creator_id="@user3")),
            ("cc", "casting_calls", _base("casting_calls", posted_by_id="@user3")),
        ],
        ("users", "@user3"),
        "select (select count(*) from quiz_attempts where id = :a)"
        " + (select count(*) from user_roles where id = :ro)"
        " + (select count(*) from user_bans where id = :b)"
        " + (select count(*) from talent_profiles where id = :p),"
        " (select count(*) from content_reports where id = :rep and reporter_id is null)"
        " + (select count(*) from moderation_actions where id = :act and moderator_id is null)"
        " + (select count(*) from audit_log where id = :log and actor_id is null)"
        " + (select count(*) from user_roles where id = :g and granted_by_id is null)"
        " + (select count(*) from user_bans where id = :bb and banned_by_id is null)"
        " + (select count(*) from curated_lists where id = :cl and curator_id is null)"
        " + (select count(*) from quizzes where id = :qz and creator_id is null)"
        " + (select count(*) from casting_calls where id = :cc and posted_by_id is null)",
        (0, 8),
    ),
    Deletion(
        "an award body takes its ceremonies, categories and nominations",
        [("n", "award_nominations", _base("award_nominations"))],
        ("award_bodies", "@body"),
        "select (select count(*) from award_ceremonies) + (select count(*) from award_categories)"
        " + (select count(*) from award_nominations)",
        (0,),
    ),
    Deletion(
        "a festival takes its editions and selections",
        [("s", "festival_selections", _base("festival_selections"))],
        ("festivals", "@festival"),
        "select (select count(*) from festival_editions)"
        " + (select count(*) from festival_selections)",
        (0,),
    ),
    Deletion(
        "a report's actions stay, without it; an action's ban stays, without it",
        [
            ("act", "moderation_actions", _base("moderation_actions")),
            ("b", "user_bans", _base("user_bans", action_id="@act")),
        ],
        ("content_reports", "@report"),
        "select (select report_id from moderation_actions where id = :act), "
        "(select action_id = :act from user_bans where id = :b)",
        (None, True),
    ),
    Deletion(
        "a curated list takes its movies; its rail forgets it",
        [
            ("l", "curated_list_movies", _base("curated_list_movies")),
            (
                "r",
                "featured_rails",
                _base("featured_rails", curated_list_id="@list", source="curated-list"),
            ),
        ],
        ("curated_lists", "@list"),
        "select (select count(*) from curated_list_movies), "
        "(select curated_list_id from featured_rails where id = :r)",
        (0, None),
    ),
    Deletion(
        "a person's talent profile goes with them, and its applications",
        [
            ("p", "talent_profiles", _base("talent_profiles")),
            ("ap", "casting_applications", _base("casting_applications", talent_profile_id="@p")),
        ],
        ("people", "@person"),
        "select (select count(*) from talent_profiles where id = :p), "
        "(select count(*) from casting_applications where id = :ap)",
        (0, 0),
    ),
    Deletion(
        "a casting call takes its applications",
        [("ap", "casting_applications", _base("casting_applications"))],
        ("casting_calls", "@call"),
        "select count(*) from casting_applications",
        (0,),
    ),
]


@pytest.mark.parametrize("case", DELETIONS, ids=lambda d: d.id)
def test_a_deletion_does_what_the_models_say(
    case: Deletion, conn: Connection, refs: dict[str, int]
) -> None:
    for name, table, row in case.rows:
        refs[name] = next(iter(put(conn, table, row, refs).values()))
    table, ref = case.delete
    delete = text(f"delete from {table} where id = :id")
    if isinstance(case.expected, str):
        with pytest.raises(IntegrityError) as raised:
            conn.execute(delete, {"id": resolve(ref, refs)})
        assert getattr(raised.value.orig, "sqlstate", None) == case.expected
        return
    assert conn.execute(delete, {"id": resolve(ref, refs)}).rowcount == 1
    found = conn.execute(
        text(case.then), {k: v for k, v in refs.items() if f":{k}" in case.then}
    ).one()
    assert tuple(found) == case.expected
