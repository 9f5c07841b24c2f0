"""Alembic migrations: upgrade, downgrade, drift detection, partitions, refusals."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL

from iwm_lab import migrate, rollups
from iwm_lab.database import get_engine
from iwm_lab.exceptions import MigrationError, SchemaDriftError
from iwm_lab.models import Base

pytestmark = pytest.mark.slow


@pytest.fixture
def empty_engine(make_database: Callable[..., URL]) -> Engine:
    return get_engine(make_database("empty"), writable=True)


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


@pytest.mark.heavy
def test_upgrade_downgrade_base_upgrade_again(empty_engine: Engine) -> None:
    assert migrate.upgrade(empty_engine) == migrate.head_revision()
    assert set(Base.metadata.tables) <= _tables(empty_engine)
    migrate.check(empty_engine)

    assert migrate.downgrade(empty_engine, "base") is None
    assert _tables(empty_engine) <= {"alembic_version"}

    assert migrate.upgrade(empty_engine) == migrate.head_revision()
    migrate.check(empty_engine)


def test_fresh_database_is_clean(engine: Engine) -> None:
    assert migrate.differences(engine) == []


def test_check_reports_a_database_never_migrated(empty_engine: Engine) -> None:
    found = migrate.differences(empty_engine)
    assert f"database is at revision (none), head is {migrate.head_revision()}" in found
    assert any("table movies only in the models" in d for d in found)


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("alter", "undo", "expected"),
    [
        (
            "alter table movies add column mood varchar(20)",
            "alter table movies drop column mood",
            "column movies.mood only in the database",
        ),
        (
            "alter table movies alter column title type varchar(300)",
            "alter table movies alter column title type varchar(200)",
            "column movies.title: type is VARCHAR(300) in the database, VARCHAR(200) in the models",
        ),
        (
            "drop index idx_movies_year",
            "create index idx_movies_year on movies (year)",
            "index idx_movies_year on movies only in the models",
        ),
        (
            "alter table reviews alter column title drop not null",
            "alter table reviews alter column title set not null",
            "column reviews.title: nullable is True in the database, False in the models",
        ),
    ],
    ids=["extra-column", "column-type", "missing-index", "nullability"],
)
def test_check_reports_drift(engine: Engine, alter: str, undo: str, expected: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(alter))
    try:
        with pytest.raises(SchemaDriftError) as caught:
            migrate.check(engine)
        assert expected in caught.value.differences
    finally:
        with engine.begin() as conn:
            conn.execute(text(undo))
    migrate.check(engine)


def test_cli_check_exits_non_zero_listing_drift(
    engine: Engine, db_url: URL, cli_env: dict[str, str]
) -> None:
    with engine.begin() as conn:
        conn.execute(text("alter table genres add column colour text"))
    try:
        done = subprocess.run(
            ["iwm-lab", "db", "check"],
            env=cli_env | {"IWM_DATABASE_URL": db_url.render_as_string(hide_password=False)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        with engine.begin() as conn:
            conn.execute(text("alter table genres drop column colour"))
    assert done.returncode == 1
    assert "column genres.colour only in the database" in done.stderr


def test_upgrade_refuses_tables_without_alembic_version(empty_engine: Engine) -> None:
    with empty_engine.begin() as conn:
        conn.execute(text("create table legacy_movies (id int primary key)"))
    with pytest.raises(MigrationError, match="no Alembic version"):
        migrate.upgrade(empty_engine)
    assert _tables(empty_engine) == {"legacy_movies"}


def test_partitions_are_created_ahead_idempotently(engine: Engine) -> None:
    created = migrate.ensure_partitions(engine, date(2031, 2, 1))
    assert "reviews_p2031" in created
    assert {"pulses_p2031_01", "pulses_p2031_02"} <= set(created)
    assert migrate.ensure_partitions(engine, date(2031, 2, 1)) == []
    partitions = migrate.list_partitions(engine)
    assert "reviews_partitioned_default" in partitions["reviews_partitioned"]
    assert "pulses_partitioned_default" in partitions["pulses_partitioned"]


def test_rows_land_in_their_partition(engine: Engine) -> None:
    migrate.ensure_partitions(engine, date(2031, 2, 1))
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into pulses_partitioned (id, content_text, created_at) "
                "values (1, 'x', '2031-01-15 10:00'), (2, 'y', '1970-01-01')"
            )
        )
        where: dict[int, str] = dict(
            conn.execute(text("select id, tableoid::regclass::text from pulses_partitioned")).all()
        )
        conn.execute(text("delete from pulses_partitioned"))
    assert where == {1: "pulses_p2031_01", 2: "pulses_partitioned_default"}


@pytest.mark.parametrize("bad", ["2031-13", "2031", "next-month"])
def test_cli_partitions_rejects_bad_month(bad: str, cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        ["iwm-lab", "db", "partitions", "--through", bad],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "expected YYYY-MM" in done.stderr


def test_pg_cron_absent_is_reported_and_skipped(engine: Engine) -> None:
    with engine.connect() as conn:
        has_cron = conn.execute(
            text("select count(*) from pg_available_extensions where name = 'pg_cron'")
        ).scalar_one()
    assert has_cron == 0, "the embedded server ships without pg_cron"
    assert migrate.schedule_refreshes(engine) is False


# Drift Alembic does not see: CHECK constraints, rollups and their indexes, triggers, functions,
# extensions. Issue 10: a dropped CHECK or rollup gave "database matches the models".


def test_head_objects_record_matches_what_the_migrations_create(
    make_database: Callable[..., URL], template_name: str
) -> None:
    engine = get_engine(make_database("head", template=template_name))
    try:
        with engine.connect() as conn:
            live = migrate.owned_objects(conn)
    finally:
        engine.dispose()
    recorded = json.loads(migrate.HEAD_OBJECTS.read_text())
    assert live == recorded, (
        f"{migrate.HEAD_OBJECTS} is out of date: on a database at head, run "
        "migrate.write_head_objects(engine)"
    )
    assert "ck_reviews_rating_range on reviews" in recorded["check constraint"]
    assert set(recorded["materialized view"]) == set(rollups.VIEW_ROLLUPS)
    assert set(rollups.TABLE_ROLLUPS) | {"rollup_changes", "movie_score_counts"} <= set(
        recorded["table without a model"]
    )
    assert {
        f"{trigger} on {table}"
        for table, triggers in rollups.CHANGE_TRIGGERS.items()
        for trigger in triggers
    } == set(recorded["trigger"])
    assert {
        "iwm_refresh_rollup(p_name text, p_concurrently boolean)",
        "iwm_ensure_partitions(through date)",
        "iwm_pulse_tags(hashtags text)",
    } <= set(recorded["function"])
    assert any(name.startswith("refresh_trending_topics(") for name in recorded["function"])
    assert set(recorded["extension"]) == {"pg_trgm"}


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("sabotage", "expected"),
    [
        (
            "alter table reviews drop constraint ck_reviews_rating_range",
            ["check constraint ck_reviews_rating_range on reviews missing from the database"],
        ),
        (
            "alter table reviews drop constraint ck_reviews_rating_range;"
            "alter table reviews add constraint ck_reviews_rating_range "
            "check (rating between 0 and 100)",
            ["check constraint ck_reviews_rating_range on reviews differs: "],
        ),
        (
            "alter table movies add constraint ck_no_sequels check (title <> 'Sequel')",
            ["check constraint ck_no_sequels on movies only in the database"],
        ),
        (
            "drop table movie_review_stats",
            [
                "table without a model movie_review_stats missing from the database",
                "index uq_movie_review_stats on movie_review_stats missing from the database",
            ],
        ),
        (
            "drop materialized view score_pair_cells",
            [
                "materialized view score_pair_cells missing from the database",
                "index uq_score_pair_cells on score_pair_cells missing from the database",
            ],
        ),
        (
            "drop trigger iwm_rollup_changes_update on reviews",
            ["trigger iwm_rollup_changes_update on reviews missing from the database"],
        ),
        (
            "alter table pulses disable trigger iwm_rollup_changes_delete",
            ["trigger iwm_rollup_changes_delete on pulses differs: "],
        ),
        (
            "drop index uq_score_counts",
            ["index uq_score_counts on score_counts missing from the database"],
        ),
        (
            "drop function iwm_refresh_rollup(text, boolean)",
            [
                "function iwm_refresh_rollup(p_name text, p_concurrently boolean) missing "
                "from the database"
            ],
        ),
        (
            "create or replace function iwm_ensure_partitions(through date) returns integer "
            "language sql as $$ select 0 $$",
            ["function iwm_ensure_partitions(through date) differs: "],
        ),
        (
            "drop extension pg_trgm cascade",
            ["extension pg_trgm missing from the database"],
        ),
    ],
    ids=[
        "dropped-check",
        "loosened-check",
        "extra-check",
        "dropped-rollup",
        "dropped-view",
        "dropped-change-trigger",
        "disabled-change-trigger",
        "dropped-rollup-index",
        "dropped-function",
        "replaced-function",
        "dropped-extension",
    ],
)
def test_check_reports_drift_alembic_does_not_see(
    make_database: Callable[..., URL], template_name: str, sabotage: str, expected: list[str]
) -> None:
    engine = get_engine(make_database("drift", template=template_name), writable=True)
    try:
        migrate.check(engine)  # clean at head first
        with engine.begin() as conn:
            conn.exec_driver_sql(sabotage)
        with pytest.raises(SchemaDriftError) as caught:
            migrate.check(engine)
    finally:
        engine.dispose()
    found = caught.value.differences
    for line in expected:
        assert any(d.startswith(line) for d in found), found


def test_cli_check_lists_a_dropped_rollup_and_passes_a_clean_head(
    make_database: Callable[..., URL], template_name: str, cli_env: dict[str, str]
) -> None:
    url = make_database("cli_drift", template=template_name)
    env = cli_env | {"IWM_DATABASE_URL": url.render_as_string(hide_password=False)}
    clean = subprocess.run(
        ["iwm-lab", "db", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.startswith("database matches the models and the head revision's")
    engine = get_engine(url, writable=True)
    with engine.begin() as conn:
        conn.execute(text("drop table score_counts"))
        conn.execute(text("alter table watchlist drop constraint ck_watchlist_progress_range"))
    engine.dispose()
    done = subprocess.run(
        ["iwm-lab", "db", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: 3 difference(s)"), done.stderr
    assert "table without a model score_counts missing from the database" in done.stderr
    assert "index uq_score_counts on score_counts missing" in done.stderr
    assert "check constraint ck_watchlist_progress_range on watchlist missing" in done.stderr
    assert "Traceback" not in done.stderr
