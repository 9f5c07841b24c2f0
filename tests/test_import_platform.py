"""``iwm-lab import`` into the platform tables (migration 0008): every table loads as the writer,
and bad rows are refused with one line naming the row, its columns and the rule.

The tables bring what the documented ones lack: DATE columns, CHECKs over several columns or
over a JSON value's length (left to the database, whose refusal is pinned to its row), a unique
key whose NULLs are not distinct (award nominations) and a partial unique index (a staff role
is held once at a time, revoked grants stay). The analyst reads every new table and writes none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from platform_rows import PLATFORM_FILES, PLATFORM_REFERENCE_SQL, Record
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from test_import import REFERENCE_SQL, count, rows, write

from iwm_lab import roles
from iwm_lab.database import get_engine
from iwm_lab.exceptions import ImportRejected
from iwm_lab.importing import IMPORTABLE_TABLES, RowError, import_file
from iwm_lab.importing.conversion import BadValue
from iwm_lab.importing.tables import table_spec


@pytest.fixture(scope="module")
def platform_template(make_database: Callable[..., URL], template_name: str) -> str:
    url = make_database("importplat", template=template_name)
    engine = get_engine(url, writable=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(REFERENCE_SQL)
        conn.exec_driver_sql(PLATFORM_REFERENCE_SQL)
    engine.dispose()  # a template cannot be copied while anyone is connected to it
    assert url.database is not None
    return url.database


@pytest.fixture(scope="module")
def shared(make_database: Callable[..., URL], platform_template: str) -> Iterator[Engine]:
    """The module's database, for imports that must be refused (and so leave it as it is)."""
    engine = get_engine(
        make_database("importplatshared", template=platform_template), writable=True
    )
    yield engine
    engine.dispose()


@pytest.fixture
def fresh_url(make_database: Callable[..., URL], platform_template: str) -> URL:
    return make_database("importplat", template=platform_template)


def test_every_platform_table_loads_as_the_writer(fresh_url: URL, tmp_path: Path) -> None:
    writer = get_engine(fresh_url, writable=True, role="writer")
    try:
        # In the importer's order, which puts each table after the ones it references.
        platform = [name for name in IMPORTABLE_TABLES if name in PLATFORM_FILES]
        assert set(platform) == set(PLATFORM_FILES)
        for table in platform:
            format, records, query, expected = PLATFORM_FILES[table]
            path = write(tmp_path, format, records, name=table)
            report = import_file(writer, table, path)
            assert (report.inserted, report.rejected, report.unknown_columns) == (
                len(records),
                0,
                (),
            ), table
            assert rows(writer, query) == expected, table
    finally:
        writer.dispose()


def test_the_analyst_reads_the_platform_tables_and_writes_none(fresh_url: URL) -> None:
    dsn = f"host={fresh_url.query['host']} port={fresh_url.port} dbname={fresh_url.database}"
    with psycopg.connect(f"{dsn} user={roles.ANALYST_ROLE}", autocommit=True) as analyst:
        for table in PLATFORM_FILES:
            assert analyst.execute(f"select count(*) from {table}".encode()).fetchone() is not None
            # Refused for want of the privilege, not for the read-only setting it could turn
            # off, and before any constraint is looked at.
            analyst.execute(b"begin read write")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                analyst.execute(f"insert into {table} default values".encode())
            analyst.execute(b"rollback")


# --- bad rows --------------------------------------------------------------------------------

# Three good records per table; a case changes the second one (line 3 of the CSV file).
BASE_ROWS: dict[str, list[Record]] = {
    "award_bodies": [
        {"name": f"Body {i}", "body_type": "critics", "country": "FR"} for i in range(3)
    ],
    "award_ceremonies": [
        {"award_body_id": "1", "year": str(year), "ceremony_date": f"{year + 1}-02-01"}
        for year in (2000, 2001, 2002)
    ],
    "award_nominations": [
        {"ceremony_id": "1", "category_id": "1", "movie_id": str(movie), "person_id": ""}
        for movie in (1, 2, 3)
    ],
    "festival_editions": [
        {
            "festival_id": "1",
            "year": str(year),
            "starts_on": f"{year}-05-14",
            "ends_on": f"{year}-05-25",
        }
        for year in (2000, 2001, 2002)
    ],
    "festival_selections": [
        {"edition_id": "1", "movie_id": str(movie), "section": "sidebar"} for movie in (1, 2, 3)
    ],
    "box_office_grosses": [
        {
            "movie_id": "2",
            "region": "US",
            "weekend_start": f"2024-03-{day:02d}",
            "week_of_run": str(week),
            "weekend_gross": "1000",
            "week_gross": "1500",
        }
        for week, day in ((1, 1), (2, 8), (3, 15))
    ],
    "movie_similarities": [
        {"movie_id": "1", "similar_movie_id": str(other), "score": "0.5", "method": "content"}
        for other in (2, 3)
    ]
    + [{"movie_id": "2", "similar_movie_id": "3", "score": "0.5", "method": "content"}],
    "quiz_questions": [
        {
            "quiz_id": "1",
            "position": str(position),
            "prompt": "Q",
            "options": '["a", "b"]',
            "answer_index": "1",
        }
        for position in (2, 3, 4)
    ],
    "quiz_attempts": [
        {
            "quiz_id": "1",
            "user_id": "1",
            "started_at": "2024-05-01 10:00",
            "finished_at": "2024-05-01 10:05",
            "question_count": "3",
            "score": "2",
            "answers": '[{"question_id": 1, "chosen": 0}]',
        }
        for _ in range(3)
    ],
    "talent_profiles": [
        {"person_id": "", "user_id": str(user), "display_name": "T"} for user in (1, 2)
    ]
    + [{"person_id": "2", "user_id": "", "display_name": "Z"}],
    "casting_applications": [
        {"casting_call_id": "1", "talent_profile_id": "1", "status": "submitted"}
    ],
    "content_reports": [
        {
            "reporter_id": "1",
            "target_type": "review",
            "target_id": "1",
            "reason": "spam",
            "status": "open",
        }
        for _ in range(3)
    ],
    "user_roles": [
        {"user_id": "2", "role": role, "revoked_at": ""} for role in ("admin", "editor", "curator")
    ],
    "user_bans": [
        {
            "user_id": "2",
            "reason": "spam",
            "starts_at": "2024-01-01",
            "ends_at": "2024-01-08",
        }
        for _ in range(3)
    ],
    "audit_log": [
        {
            "action": "review.hide",
            "target_table": "reviews",
            "target_id": "1",
            "details": '{"by": "rule"}',
        }
        for _ in range(3)
    ],
}

# case: (table, changes to the second record, the column(s) reported, the reason reported)
BAD_ROWS: dict[str, tuple[str, Record, str, str]] = {
    "date-with-a-time": (
        "box_office_grosses",
        {"weekend_start": "2024-03-08T10:00"},
        "weekend_start",
        "a time of day (10:00:00) in a date column",
    ),
    "date-with-a-zone": (
        "box_office_grosses",
        {"weekend_start": "2024-03-08T00:00:00+05:30"},
        "weekend_start",
        "a time zone in a date column",
    ),
    "impossible-date": (
        "box_office_grosses",
        {"weekend_start": "2024-02-30"},
        "weekend_start",
        "not a real date",
    ),
    "currency": ("box_office_grosses", {"currency": "usd"}, "currency", "not three upper-case"),
    "negative-gross": (
        "box_office_grosses",
        {"weekend_gross": "-5"},
        "weekend_gross",
        "outside the range 0 to",
    ),
    "week-below-weekend": (
        "box_office_grosses",
        {"week_gross": "999"},
        "weekend_gross, week_gross",
        "the week's gross includes its weekend's "
        "(check ck_box_office_grosses_week_includes_weekend)",
    ),
    "run-twice": (
        "box_office_grosses",
        {"weekend_start": "2024-03-01"},
        "movie_id, region, weekend_start",
        "repeats line 2 (must be unique)",
    ),
    "body-type": ("award_bodies", {"body_type": "studio"}, "body_type", "not one of academy"),
    "country": ("award_bodies", {"country": "France"}, "country", "not two upper-case letters"),
    "ceremony-years-later": (
        "award_ceremonies",
        {"ceremony_date": "2004-01-01"},
        "year, ceremony_date",
        "the ceremony is held in its award year or the next",
    ),
    "award-year": ("award_ceremonies", {"year": "1850"}, "year", "outside the range 1900 to 2100"),
    "no-nominee": (
        "award_nominations",
        {"movie_id": ""},
        "movie_id, person_id",
        "a nomination names a movie, a person or both",
    ),
    # NULLS NOT DISTINCT: the same movie twice in a category, person NULL both times.
    "nominated-twice": (
        "award_nominations",
        {"movie_id": "1"},
        "ceremony_id, category_id, movie_id, person_id",
        "repeats line 2 (must be unique)",
    ),
    "ends-before-start": (
        "festival_editions",
        {"ends_on": "2001-05-13"},
        "starts_on, ends_on",
        "ends_on must be at or after starts_on",
    ),
    "starts-in-another-year": (
        "festival_editions",
        {"starts_on": "2000-12-30"},
        "year, starts_on",
        "an edition starts in its year",
    ),
    "missing-edition": (
        "festival_selections",
        {"edition_id": "999"},
        "edition_id",
        "no festival_editions row has id 999",
    ),
    "section": ("festival_selections", {"section": "main"}, "section", "not one of competition"),
    "similar-to-itself": (
        "movie_similarities",
        {"similar_movie_id": "1"},
        "movie_id, similar_movie_id",
        "a movie is not similar to itself",
    ),
    "similarity-score": (
        "movie_similarities",
        {"score": "1.5"},
        "score",
        "outside the range 0 to 1",
    ),
    "one-option": (
        "quiz_questions",
        {"options": '["only"]', "answer_index": "0"},
        "options",
        "options is a JSON array of 2 to 10 strings (check ck_quiz_questions_options_array)",
    ),
    "option-not-text": (
        "quiz_questions",
        {"options": '["a", 2]'},
        "options",
        "not a JSON array of strings",
    ),
    "answer-beyond-options": (
        "quiz_questions",
        {"answer_index": "2"},
        "answer_index, options",
        "answer_index is a position in options, from 0",
    ),
    "position-taken": (
        "quiz_questions",
        {"position": "1"},
        "quiz_id, position",
        "already in quiz_questions",
    ),
    "score-above-questions": (
        "quiz_attempts",
        {"score": "4"},
        "question_count, score",
        "score is 0 to question_count",
    ),
    "scored-unfinished": (
        "quiz_attempts",
        {"finished_at": ""},
        "finished_at, score",
        "a finished attempt has a score, an unfinished one none",
    ),
    "answers-not-an-array": (
        "quiz_attempts",
        {"answers": '{"question_id": 1}'},
        "answers",
        "not a JSON array of objects",
    ),
    "more-answers-than-questions": (
        "quiz_attempts",
        {"answers": "[" + ", ".join(['{"question_id": 1, "chosen": 0}'] * 4) + "]"},
        "question_count, answers",
        "answers is a JSON array of at most question_count answers",
    ),
    "nobody's-profile": (
        "talent_profiles",
        {"user_id": ""},
        "person_id, user_id",
        "a profile names a person, a user or both",
    ),
    "second-profile-of-a-person": (
        "talent_profiles",
        {"user_id": "", "person_id": "1"},
        "person_id",
        "already in talent_profiles",
    ),
    "applied-twice": (
        "casting_applications",
        {},
        "casting_call_id, talent_profile_id",
        "repeats line 2 (must be unique)",
    ),
    "report-reason": ("content_reports", {"reason": "rude"}, "reason", "not one of spam"),
    "actioned-unresolved": (
        "content_reports",
        {"status": "actioned"},
        "status, resolved_at",
        "resolved_at is set exactly when the status is actioned or dismissed",
    ),
    # User 1 holds moderator already (a reference row).
    "role-held-already": (
        "user_roles",
        {"user_id": "1", "role": "moderator"},
        "user_id, role",
        "already in user_roles",
    ),
    "role-held-twice-in-file": (
        "user_roles",
        {"role": "admin"},
        "user_id, role",
        "repeats line 2 (must be unique)",
    ),
    "staff-role": ("user_roles", {"role": "owner"}, "role", "not one of admin"),
    "ban-ends-before-start": (
        "user_bans",
        {"ends_at": "2024-01-01"},
        "starts_at, ends_at",
        "ends_at must be after starts_at",
    ),
    "audit-action": ("audit_log", {"action": "Review.Hide"}, "action", "not area.verb in lower"),
    "audit-target-half": (
        "audit_log",
        {"target_id": ""},
        "target_table, target_id",
        "target_table and target_id go together",
    ),
    "audit-details": ("audit_log", {"details": "[]"}, "details", "not a JSON object"),
    "audit-details-nul": (
        "audit_log",
        {"details": '{"a": "\\u0000"}'},
        "details",
        "contains \\u0000",
    ),
}


def _records(table: str, changes: Record) -> list[Record]:
    records = [dict(record) for record in BASE_ROWS[table]]
    if len(records) == 1:
        records.append(dict(records[0]))
    records[1].update(changes)
    return records


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_platform_row_is_refused_in_one_line(
    shared: Engine, tmp_path: Path, case: str
) -> None:
    table, changes, column, reason = BAD_ROWS[case]
    records = _records(table, changes)
    before = count(shared, table)
    with pytest.raises(ImportRejected) as refused:
        import_file(shared, table, write(tmp_path, "csv", records))
    message = str(refused.value)
    assert message.startswith(
        f"extract.csv: 1 of {len(records)} rows refused, nothing imported; line 3, "
        f"column {column}, "
    ), message
    assert reason in message
    assert "\n" not in message
    errors = cast(tuple[RowError, ...], refused.value.errors)
    assert [error.number for error in errors] == [3]
    assert count(shared, table) == before


def test_the_base_rows_of_the_bad_cases_load(fresh_url: URL, tmp_path: Path) -> None:
    # Each refusal above is the changed value's doing: unchanged, the same rows load.
    engine = get_engine(fresh_url, writable=True)
    try:
        for table, records in BASE_ROWS.items():
            report = import_file(engine, table, write(tmp_path, "csv", records, name=table))
            assert report.inserted == len(records), table
    finally:
        engine.dispose()


def test_skip_bad_pins_each_row_check_to_its_line(fresh_url: URL, tmp_path: Path) -> None:
    # Three rows the database refuses among five good ones: each is found and named.
    engine = get_engine(fresh_url, writable=True)
    try:
        records = [
            {"quiz_id": 1, "user_id": 1, "question_count": 3, "score": score, "finished_at": done}
            for score, done in (
                (1, "2024-01-01"),
                (5, "2024-01-01"),
                (2, "2024-01-01"),
                (None, "2024-01-01"),
                (3, "2024-01-01"),
                (0, None),
                (0, "2024-01-01"),
                (3, "2024-01-01"),
            )
        ]
        for record in records:
            record["started_at"] = "2023-12-31"
        path = write(tmp_path, "jsonl", records, name="attempts")
        report = import_file(engine, "quiz_attempts", path, skip_bad=True)
        assert (report.inserted, report.rejected) == (5, 3)
        assert [(e.number, e.column) for e in report.errors] == [
            (2, "question_count, score"),
            (4, "finished_at, score"),
            (6, "finished_at, score"),
        ]
        assert rows(engine, "select score from quiz_attempts order by id") == [
            (1,),
            (2,),
            (3,),
            (0,),
            (3,),
        ]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01", date(2024, 3, 1)),
        ("2024/3/1", date(2024, 3, 1)),
        ("1 Mar 2024", date(2024, 3, 1)),
        ("March 1st, 2024", date(2024, 3, 1)),
        ("2024-03-01T00:00:00", date(2024, 3, 1)),
        (date(2024, 3, 1), date(2024, 3, 1)),
        (datetime(2024, 3, 1), date(2024, 3, 1)),
    ],
)
def test_accepted_date_forms(value: Any, expected: date) -> None:
    assert table_spec("box_office_grosses").columns["weekend_start"].convert(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2024-03-01 18:30", "a time of day"),
        ("2024-03-01T00:00Z", "a time zone"),
        (datetime(2024, 3, 1, 23, 0), "a time of day"),
        ("01/03/2024", "ambiguous day/month order"),
        ("2024-13-01", "not a real date"),
        (20240301, "a number, not a date"),
        (True, "not a date"),
    ],
)
def test_rejected_date_forms(value: Any, reason: str) -> None:
    with pytest.raises(BadValue, match=reason):
        table_spec("box_office_grosses").columns["weekend_start"].convert(value)


def test_upsert_revises_box_office_estimates_to_actuals(fresh_url: URL, tmp_path: Path) -> None:
    # Weekend estimates first, the week's actuals later, matched on external_id.
    engine = get_engine(fresh_url, writable=True)
    try:
        estimate = {
            "external_id": "bo-1-us-2024-03-01",
            "movie_id": 1,
            "region": "US",
            "weekend_start": "2024-03-01",
            "week_of_run": 1,
            "weekend_gross": 81_500_000,
            "currency": "USD",
            "created_at": "2024-03-03 18:00",
        }
        import_file(engine, "box_office_grosses", write(tmp_path, "jsonl", [estimate]))
        actual = {
            "external_id": "bo-1-us-2024-03-01",
            "weekend_gross": 82_505_391,
            "week_gross": 100_102_003,
            "updated_at": "2024-03-08 09:00",
        }
        path = write(tmp_path, "jsonl", [actual], name="actuals")
        report = import_file(engine, "box_office_grosses", path, upsert=True)
        assert (report.inserted, report.updated) == (0, 1)
        assert rows(
            engine, "select weekend_gross, week_gross, week_of_run from box_office_grosses"
        ) == [(82_505_391, 100_102_003, 1)]
        # A revision dated before the row was made breaks a row check: named, nothing changed.
        early = dict(actual, week_gross=100_000_000, updated_at="2024-03-01")
        with pytest.raises(ImportRejected) as refused:
            import_file(
                engine, "box_office_grosses", write(tmp_path, "jsonl", [early]), upsert=True
            )
        assert str(refused.value).startswith(
            "extract.jsonl: 1 of 1 rows refused, nothing imported; line 1, column created_at, "
            "updated_at, value "
        )
        assert "updated_at cannot be before created_at" in str(refused.value)
        assert rows(engine, "select week_gross from box_office_grosses") == [(100_102_003,)]
    finally:
        engine.dispose()
