"""``iwm_lab.rollups``, their refresh (:mod:`iwm_lab.operations`) and ``iwm-lab db refresh``."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, TableClause, text
from sqlalchemy.engine import URL

from iwm_lab import operations, rollups
from iwm_lab.database import get_engine
from iwm_lab.exceptions import ReadOnlySessionError, RollupMissing
from iwm_lab.models.values import TRENDING_WINDOWS


def relations(engine: Engine, kind: str) -> list[str]:
    """Populated materialized views (``m``) or tables (``r``) of the schema."""
    with engine.connect() as conn:
        sql = (
            "select relname from pg_class where relnamespace = current_schema()::regnamespace "
            "and relkind = :kind and relispopulated order by relname"
        )
        return list(conn.execute(text(sql), {"kind": kind}).scalars())


def test_every_rollup_is_a_populated_view_or_a_table_with_a_record(engine: Engine) -> None:
    assert relations(engine, "m") == list(rollups.VIEW_ROLLUPS)
    assert set(rollups.TABLE_ROLLUPS) <= set(relations(engine, "r"))
    assert sorted(rollups.TABLE_ROLLUPS + rollups.VIEW_ROLLUPS) == list(rollups.ROLLUPS)
    with engine.connect() as conn:
        names = conn.execute(text("select name from rollup_refreshes order by name")).scalars()
        assert list(names) == list(rollups.ROLLUPS)
        modes = set(conn.execute(text("select mode from rollup_refreshes")).scalars())
        assert modes <= set(rollups.MODES)


CLAUSES = {
    clause.name: clause
    for clause in vars(rollups).values()
    if isinstance(clause, TableClause) and clause.name in rollups.ROLLUPS
}


@pytest.mark.parametrize("name", sorted(CLAUSES))
def test_the_rollup_columns_the_queries_use_are_the_database_s(engine: Engine, name: str) -> None:
    """Each TableClause of iwm_lab.rollups names the rollup's columns, in order, with types
    giving the same Python values (an array stays a list): a query built on it reads what is
    there."""
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "select attname, format_type(atttypid, atttypmod) from pg_attribute "
                "where attrelid = cast(:name as regclass) and attnum > 0 and not attisdropped "
                "order by attnum"
            ),
            {"name": name},
        ).all()
    kinds: dict[str, type] = {
        "integer": int,
        "bigint": int,
        "double precision": float,
        "text": str,
        "timestamp without time zone": datetime,
        "boolean": bool,
        "integer[]": list,
    }
    declared = [(c.name, c.type.python_type) for c in CLAUSES[name].columns]
    live = [
        (column, str if kind.startswith("character") else kinds[kind]) for column, kind in found
    ]
    assert declared == live


def test_the_new_rollups_have_their_clauses() -> None:
    assert {"movie_scores", "pulse_hours"} <= set(CLAUSES)
    assert rollups.MOVIE_SCORES.name == "movie_scores"
    assert rollups.PULSE_HOURS.name == "pulse_hours"


def test_sources_name_only_rollups() -> None:
    assert {name for names in rollups.SOURCES.values() for name in names} == set(rollups.ROLLUPS)


@pytest.fixture
def reviews(engine: Engine) -> Iterator[None]:
    """Two reviews of one movie, removed (and the rollups refreshed) afterwards."""
    with engine.begin() as conn:
        movie = conn.execute(
            text("insert into movies (title) values ('Rolled up') returning id")
        ).scalar_one()
        conn.execute(
            text(
                "insert into reviews (title, content, rating, date, movie_id) values "
                "('a', 'b', 4, '2024-01-02', :m), ('a', 'b', 8, '2024-01-02 10:00', :m)"
            ),
            {"m": movie},
        )
    yield
    with engine.begin() as conn:
        conn.execute(text("delete from reviews"))
        conn.execute(text("delete from movies"))
    operations.refresh_rollups(engine)


@pytest.mark.usefixtures("reviews")
@pytest.mark.parametrize("concurrently", [True, False])
def test_refresh_brings_the_summaries_up_to_date_and_records_it(
    engine: Engine, concurrently: bool
) -> None:
    with engine.connect() as conn:
        before = conn.execute(text("select localtimestamp")).scalar_one()
    done = operations.refresh_rollups(
        engine, ["review_daily_stats", "movie_review_stats"], concurrently=concurrently
    )
    refreshed = [(d.name, d.rows) for d in done]
    assert refreshed == [("review_daily_stats", 1), ("movie_review_stats", 1)]
    assert all(d.seconds >= 0 for d in done)
    with engine.connect() as conn:
        day = conn.execute(text("select day, reviews, rating_sum from review_daily_stats")).one()
        assert tuple(day) == (datetime(2024, 1, 2), 2, 12.0)
        stats = conn.execute(text("select reviews, rating_stddev from movie_review_stats")).one()
        assert stats[0] == 2 and stats[1] == pytest.approx(2**0.5 * 2)
        record: dict[str, object] = dict(
            conn.execute(
                text("select name, refreshed_at from rollup_refreshes where refreshed_at >= :t"),
                {"t": before},
            ).all()
        )
    assert set(record) == {"review_daily_stats", "movie_review_stats"}


def test_unknown_rollups_are_refused_before_anything_runs(engine: Engine) -> None:
    refused = "unknown rollup 'reviews'; valid values: box_office_runs, movie_review"
    with pytest.raises(ValueError, match=refused):
        operations.refresh_rollups(engine, ["review_daily_stats", "reviews"])
    with engine.connect() as conn, pytest.raises(Exception, match="unknown rollup 'x; drop'"):
        conn.execute(text("select iwm_refresh_rollup('x; drop')"))


def test_a_read_only_session_cannot_refresh(db_url: URL) -> None:
    reader = get_engine(db_url)  # analysts' default: read-only
    try:
        with reader.connect() as conn, pytest.raises(ReadOnlySessionError, match="writable"):
            operations.refresh_rollups_in(conn, ["review_daily_stats"])
    finally:
        reader.dispose()


@pytest.mark.slow
def test_cli_refresh_lists_every_rollup(db_url: URL, cli_env: dict[str, str]) -> None:
    env = cli_env | {"IWM_DATABASE_URL": db_url.render_as_string(hide_password=False)}
    done = subprocess.run(
        ["iwm-lab", "db", "refresh"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines()]
    assert listed == [*rollups.ROLLUPS, "trending_topics", "trending_topics"]
    full = subprocess.run(
        ["iwm-lab", "db", "refresh", "--full", "movie_review_stats", "score_pair_cells"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert full.returncode == 0, full.stderr
    assert [line.split()[:3] for line in full.stdout.splitlines()] == [
        ["movie_review_stats", "full", "(asked)"],
        ["score_pair_cells", "full", "(asked)"],
    ]
    again = subprocess.run(
        ["iwm-lab", "db", "refresh", "movie_review_stats"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.split()[:2] == ["movie_review_stats", "unchanged"]
    one = subprocess.run(
        ["iwm-lab", "db", "refresh", "score_counts", "--blocking"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert one.returncode == 0, one.stderr
    assert [line.split()[0] for line in one.stdout.splitlines()] == ["score_counts"]
    bad = subprocess.run(
        ["iwm-lab", "db", "refresh", "reviews"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "'reviews' is not one of" in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sabotage", "expected"),
    [
        (
            "drop table movie_review_stats",
            "error: rollup(s) movie_review_stats missing from database ",
        ),
        (
            "drop function iwm_refresh_rollup(text, boolean)",
            "error: refresh failed: function iwm_refresh_rollup(",
        ),
    ],
    ids=["dropped-rollup", "dropped-refresh-function"],
)
def test_cli_refresh_of_a_drifted_database_is_one_line(
    make_database: Callable[..., URL],
    template_name: str,
    cli_env: dict[str, str],
    sabotage: str,
    expected: str,
) -> None:
    """Issue 10: with a rollup dropped, ``db refresh`` ended in a traceback."""
    url = make_database("drifted", template=template_name)
    engine = get_engine(url, writable=True)
    with engine.begin() as conn:
        conn.execute(text(sabotage))
        before: dict[str, object] = dict(
            conn.execute(text("select name, refreshed_at from rollup_refreshes")).all()
        )
    env = cli_env | {"IWM_DATABASE_URL": url.render_as_string(hide_password=False)}
    done = subprocess.run(
        ["iwm-lab", "db", "refresh"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(expected), done.stderr
    assert "iwm-lab db check" in done.stderr
    if "missing" in expected:
        assert "iwm-lab db upgrade" in done.stderr
        # Refused before any rollup was refreshed, not half-way through the list.
        with engine.connect() as conn:
            after: dict[str, object] = dict(
                conn.execute(text("select name, refreshed_at from rollup_refreshes")).all()
            )
        assert after == before
        with pytest.raises(RollupMissing, match="movie_review_stats"):
            operations.refresh_rollups(engine, ["score_counts", "movie_review_stats"])
    engine.dispose()


def _refreshed_since(engine: Engine, moment: datetime) -> tuple[list[str], list[str]]:
    """The rollups and the trending windows refreshed at or after ``moment``."""
    with engine.connect() as conn:
        names = conn.execute(
            text("select name from rollup_refreshes where refreshed_at >= :t order by name"),
            {"t": moment},
        ).scalars()
        windows = conn.execute(
            text("select window_label from trending_refreshes where refreshed_at >= :t"),
            {"t": moment},
        ).scalars()
        return list(names), sorted(windows)


@pytest.mark.usefixtures("reviews")
def test_refresh_all_does_every_rollup_then_every_window_and_tells_each(
    writer_engine: Engine,
) -> None:
    with writer_engine.connect() as conn:
        before = conn.execute(text("select localtimestamp")).scalar_one()
    told: list[str] = []

    def progress(step: operations.RollupRefresh | operations.TrendingRefresh) -> None:
        told.append(step.name if isinstance(step, operations.RollupRefresh) else step.window)

    done = operations.refresh_all(writer_engine, as_of="2024-01-05", progress=progress)
    assert [r.name for r in done.rollups] == list(rollups.ROLLUPS)
    assert [t.window for t in done.trending] == list(TRENDING_WINDOWS)
    assert told == [*rollups.ROLLUPS, *TRENDING_WINDOWS]
    assert _refreshed_since(writer_engine, before) == (
        sorted(rollups.ROLLUPS),
        sorted(TRENDING_WINDOWS),
    )
    with writer_engine.connect() as conn:
        as_of = conn.execute(text("select distinct as_of from trending_refreshes")).scalars()
        assert list(as_of) == [datetime(2024, 1, 5)]
        day = conn.execute(text("select day, reviews from review_daily_stats")).one()
        assert tuple(day) == (datetime(2024, 1, 2), 2)


def test_refresh_all_checks_as_of_before_anything_runs(writer_engine: Engine) -> None:
    with writer_engine.connect() as conn:
        before = conn.execute(text("select localtimestamp")).scalar_one()
    with pytest.raises(ValueError, match="as_of"):
        operations.refresh_all(writer_engine, as_of="not a date")
    assert _refreshed_since(writer_engine, before) == ([], [])


def test_the_pg_cron_jobs_run_the_same_refreshes(writer_engine: Engine) -> None:
    """pg_cron is not on the test server: its statements run here as the job would run
    them, with nothing bound."""
    jobs = operations.scheduled_jobs()
    trending = [job for job in jobs if "refresh_trending_topics" in job.sql]
    assert [job.name for job in trending] == [
        f"iwm-refresh-trending-{window}" for window in TRENDING_WINDOWS
    ]
    for job, window in zip(trending, TRENDING_WINDOWS, strict=True):
        assert f"'{window}'" in job.sql and ":" not in job.sql
    with writer_engine.connect() as conn:
        before = conn.execute(text("select localtimestamp")).scalar_one()
    for job in jobs:
        with writer_engine.begin() as conn:
            conn.exec_driver_sql(job.sql)
    assert _refreshed_since(writer_engine, before) == (
        sorted(rollups.ROLLUPS),
        sorted(TRENDING_WINDOWS),
    )


# --- the writer role (migration 0004) -------------------------------------------------------------


@pytest.fixture
def writer_engine(db_url: URL) -> Iterator[Engine]:
    engine = get_engine(db_url, writable=True, role="writer")
    yield engine
    engine.dispose()


@pytest.mark.usefixtures("reviews")
def test_the_writer_refreshes_the_rollups_through_the_definer_function(
    writer_engine: Engine,
) -> None:
    with writer_engine.connect() as conn:
        assert conn.execute(text("select current_user")).scalar_one() == "iwm_writer"
    done = operations.refresh_rollups(writer_engine, concurrently=True)
    assert [d.name for d in done] == list(rollups.ROLLUPS)
    with writer_engine.begin() as conn:
        day = conn.execute(text("select day, reviews from review_daily_stats")).one()
        assert tuple(day) == (datetime(2024, 1, 2), 2)
        conn.execute(
            text(
                "insert into reviews (title, content, rating, date, movie_id) "
                "select 'c', 'd', 6, '2024-01-03', id from movies where title = 'Rolled up'"
            )
        )
        # In the writer's own transaction, as an import does.
        operations.refresh_rollups_in(conn, ["review_daily_stats"])
        assert conn.execute(text("select count(*) from review_daily_stats")).scalar_one() == 2


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("refresh materialized view score_pair_cells", "must be owner of materialized view"),
        (
            "refresh materialized view concurrently score_pair_cells",
            "must be owner of materialized view",
        ),
        ("drop materialized view score_pair_cells", "must be owner of materialized view"),
        ("delete from review_daily_stats", "permission denied for table review_daily_stats"),
        ("drop table review_daily_stats", "must be owner of table review_daily_stats"),
    ],
)
def test_the_writer_cannot_refresh_a_rollup_directly(
    writer_engine: Engine, statement: str, refusal: str
) -> None:
    with writer_engine.connect() as conn:
        with pytest.raises(Exception, match=refusal):
            conn.execute(text(statement))
        conn.rollback()


@pytest.mark.slow
def test_cli_refresh_runs_as_the_writer(
    make_database: Callable[..., URL], template_name: str, cli_env: dict[str, str]
) -> None:
    """The embedded server's owner URL becomes the writer's: without the writer's EXECUTE on
    the refresh function, db refresh is refused, which the owner's would not be."""
    url = make_database("writerrefresh", template=template_name)
    env = cli_env | {"IWM_DATABASE_URL": url.render_as_string(hide_password=False)}
    trending = "refresh_trending_topics(text, timestamp)"
    owner = get_engine(url, writable=True)
    try:
        with owner.begin() as conn:
            conn.execute(
                text("revoke execute on function iwm_refresh_rollup(text, boolean) from iwm_writer")
            )
        done = subprocess.run(
            ["iwm-lab", "db", "refresh"], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 1
        assert done.stderr.startswith(
            "error: refresh failed: permission denied for function iwm_refresh_rollup"
        ), done.stderr
        with owner.begin() as conn:
            conn.execute(
                text("grant execute on function iwm_refresh_rollup(text, boolean) to iwm_writer")
            )
            conn.execute(text(f"revoke execute on function {trending} from iwm_writer"))
        done = subprocess.run(
            ["iwm-lab", "db", "refresh"], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 1
        assert "permission denied for function refresh_trending_topics" in done.stderr
        with owner.begin() as conn:
            conn.execute(text(f"grant execute on function {trending} to iwm_writer"))
        done = subprocess.run(
            ["iwm-lab", "db", "refresh"], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        listed = [line.split()[0] for line in done.stdout.splitlines()]
        assert listed == [*rollups.ROLLUPS, "trending_topics", "trending_topics"]
    finally:
        owner.dispose()
