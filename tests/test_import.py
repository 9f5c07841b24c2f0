"""``iwm-lab import``: real files in every format into a real PostgreSQL, good and bad.

Tests that load data get a database of their own, copied from a template that holds a few
reference rows (users, movies, genres, people, a collection, platforms); tests of refused
files share the module's database, which a refusal must leave untouched. The converters are
also tested alone, without a database, for the many forms values take in real extracts.
"""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from platform_rows import PLATFORM_FILES
from sqlalchemy import CheckConstraint, Engine, text
from sqlalchemy.engine import URL

from iwm_lab import rollups
from iwm_lab.database import get_engine
from iwm_lab.exceptions import ImportRejected, OptionNeeded, ReadOnlySessionError
from iwm_lab.importing import IMPORTABLE_TABLES, ImportReport, RowError, import_file, readers
from iwm_lab.importing.checks import CHECK_RULES, ROW_CHECKS
from iwm_lab.importing.conversion import BadValue
from iwm_lab.importing.tables import table_spec
from iwm_lab.models import Base

Record = dict[str, Any]

REFERENCE_SQL = """
insert into users (id, email, hashed_password, name) values
    (1, 'a@example.test', '$argon2id$x', 'Ann'), (2, 'b@example.test', '$argon2id$x', 'Bo');
insert into movies (id, external_id, title) values (1, 'm1', 'Dune'), (2, 'm2', 'Heat'),
    (3, 'm3', 'Alien');
insert into genres (id, slug, name) values (1, 'drama', 'Drama'), (2, 'sci-fi', 'Sci-Fi'),
    (3, 'crime', 'Crime');
insert into people (id, external_id, name) values (1, 'p1', 'Denis'), (2, 'p2', 'Zendaya');
insert into movie_genres (movie_id, genre_id) values (3, 3);
insert into collections (id, title, user_id) values (1, 'Favourites', 1);
insert into streaming_platforms (id, external_id, name) values (1, 'netflix', 'Netflix'),
    (2, 'prime', 'Prime Video');
select setval(pg_get_serial_sequence(t, 'id'), 10)
    from unnest(array['users', 'movies', 'genres', 'people', 'collections',
                      'streaming_platforms']) as t;
"""


@pytest.fixture(scope="module")
def reference_template(make_database: Callable[..., URL], template_name: str) -> str:
    url = make_database("importref", template=template_name)
    engine = get_engine(url, writable=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(REFERENCE_SQL)
    engine.dispose()  # a template cannot be copied while anyone is connected to it
    assert url.database is not None
    return url.database


@pytest.fixture(scope="module")
def shared_url(make_database: Callable[..., URL], reference_template: str) -> URL:
    """The module's database with the reference rows, for imports that must be refused."""
    return make_database("importshared", template=reference_template)


@pytest.fixture(scope="module")
def shared(shared_url: URL) -> Iterator[Engine]:
    engine = get_engine(shared_url, writable=True)
    yield engine
    engine.dispose()


@pytest.fixture
def fresh_url(make_database: Callable[..., URL], reference_template: str) -> URL:
    return make_database("import", template=reference_template)


@pytest.fixture
def fresh(fresh_url: URL) -> Iterator[Engine]:
    """A database of this test's own with the reference rows, for imports that write."""
    engine = get_engine(fresh_url, writable=True)
    yield engine
    engine.dispose()


def write(tmp_path: Path, format: str, records: list[Record], name: str = "extract") -> Path:
    """Write ``records`` as a file of ``format``; CSV gets each value's text ("" for None)."""
    path = tmp_path / f"{name}.{format}"
    if format == "csv":
        fields = list(dict.fromkeys(key for record in records for key in record))
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(fields)
            for record in records:
                writer.writerow([_text(record.get(key)) for key in fields])
    elif format == "jsonl":
        path.write_text("".join(json.dumps(record) + "\n" for record in records))
    elif format == "json":
        path.write_text(json.dumps(records, indent=1))
    else:
        pq.write_table(pa.Table.from_pylist(records), path)
    return path


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def rows(engine: Engine, query: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(query), params)]


def count(engine: Engine, table: str) -> int:
    return rows(engine, f"select count(*) from {table}")[0][0]


# --- good files ----------------------------------------------------------------------------------

MOVIES: list[Record] = [
    {
        "external_id": "tt8579674",
        "title": "1917",
        "year": "2019",
        "release_date": "2019-12-25",
        "runtime": 119,
        "imdb_rating": 8.2,
        "rotten_tomatoes_score": 88,
        "budget": 95_000_000,
        "revenue": 384_900_000,
        "status": "released",
        "trivia": [{"question": "One take?", "answer": "Nearly", "category": "production"}],
    },
    {
        "external_id": "tt0499549",
        "title": "Avatar",
        "year": "2009",
        "release_date": "2009-12-18T00:00:00",
        "runtime": 162,
        "imdb_rating": None,
        "rotten_tomatoes_score": None,
        "budget": 237_000_000,
        "revenue": 2_923_706_026,
        "status": "released",
        "trivia": None,
    },
]

GOOD_FILES: dict[str, tuple[list[Record], str, list[tuple[Any, ...]]]] = {
    "movies": (
        MOVIES,
        "select title, year, release_date, runtime, imdb_rating, revenue, trivia->0->>'answer'"
        " from movies where id > 3 order by id",
        [
            ("1917", "2019", datetime(2019, 12, 25), 119, 8.2, 384_900_000, "Nearly"),
            ("Avatar", "2009", datetime(2009, 12, 18), 162, None, 2_923_706_026, None),
        ],
    ),
    "reviews": (
        [
            {
                "external_id": "r1",
                "title": "Sand",
                "content": "Lots of it.",
                "rating": 9.5,
                "movie_id": 1,
                "user_id": 1,
                "has_spoilers": True,
                "media_urls": ["https://img.example/1.jpg"],
            },
            {
                "external_id": "r2",
                "title": "Heat",
                "content": "Long.",
                "rating": 7,
                "movie_id": 2,
                "user_id": 2,
                "has_spoilers": False,
                "media_urls": None,
            },
        ],
        "select external_id, rating, movie_id, has_spoilers, media_urls::jsonb->>0 from reviews"
        " order by id",
        [
            ("r1", 9.5, 1, True, "https://img.example/1.jpg"),
            ("r2", 7.0, 2, False, None),
        ],
    ),
    "movie_genres": (
        [{"movie_id": 1, "genre_id": 1}, {"movie_id": 1, "genre_id": 2}],
        "select movie_id, genre_id from movie_genres order by 1, 2",
        [(1, 1), (1, 2), (3, 3)],
    ),
    "pulses": (
        [
            {
                "external_id": "pl1",
                "user_id": 1,
                "content_text": "#Dune tonight",
                "hashtags": ["dune", "imax"],
                "linked_type": "movie",
                "linked_movie_id": 1,
                "created_at": "2025-03-01 20:15:00",
            }
        ],
        "select content_text, hashtags::jsonb->>1, linked_movie_id, created_at from pulses",
        [("#Dune tonight", "imax", 1, datetime(2025, 3, 1, 20, 15))],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("format", ["csv", "jsonl", "json", "parquet"])
@pytest.mark.parametrize("table", sorted(GOOD_FILES))
def test_good_file_loads_in_every_format(
    fresh: Engine, tmp_path: Path, format: str, table: str
) -> None:
    records, query, expected = GOOD_FILES[table]
    report = import_file(fresh, table, write(tmp_path, format, records))
    assert report == ImportReport(
        table=table,
        path=tmp_path / f"extract.{format}",
        format=format,
        rows_read=len(records),
        inserted=len(records),
        updated=0,
        rejected=0,
        unknown_columns=(),
        reject_path=None,
        errors=(),
        rollups_refreshed=rollups.SOURCES.get(table, ()),
    )
    assert rows(fresh, query) == expected


def test_an_import_refreshes_the_rollups_over_its_table(fresh: Engine, tmp_path: Path) -> None:
    records = GOOD_FILES["reviews"][0]
    before = rows(fresh, "select movie_id, reviews from movie_review_stats where movie_id <= 2")
    report = import_file(fresh, "reviews", write(tmp_path, "csv", records))
    assert "refreshed movie_review_stats, review_daily_stats, score_counts" in (report.summary())
    after = dict(rows(fresh, "select movie_id, reviews from movie_review_stats"))
    for movie_id in (1, 2):
        assert after[movie_id] == dict(before).get(movie_id, 0) + 1


@pytest.mark.parametrize("table", IMPORTABLE_TABLES)
def test_every_check_constraint_is_validated_up_front(table: str) -> None:
    # A CHECK added to a model must be mirrored, or its violations lose their column name; a
    # CHECK over several columns is a row check, left to the database but named with its
    # columns and rule. None is both.
    model = Base.metadata.tables[table]
    declared = {c.name for c in model.constraints if isinstance(c, CheckConstraint)}
    mirrored = {f"ck_{table}_{name}" for name in CHECK_RULES.get(table, {})}
    row_checks = {f"ck_{table}_{name}" for name in ROW_CHECKS.get(table, {})}
    assert mirrored | row_checks == declared
    assert not mirrored & row_checks
    spec = table_spec(table)  # every column type has a converter
    for name in row_checks:
        assert set(spec.constraint_columns[name]) <= set(spec.columns), name


def test_remaining_tables_load_from_csv(fresh: Engine, tmp_path: Path) -> None:
    files: dict[str, list[Record]] = {
        "genres": [{"slug": "horror", "name": "Horror"}],
        "people": [{"external_id": "p9", "name": "Villeneuve", "bio": ""}],
        "streaming_platforms": [{"external_id": "mubi", "name": "MUBI", "logo_url": ""}],
        "movie_people": [
            {"movie_id": 1, "person_id": 2, "role": "actor", "character_name": "Chani"},
            {"movie_id": 1, "person_id": 1, "role": "director", "billing_order": ""},
        ],
        "collection_movies": [{"collection_id": 1, "movie_id": 2, "position": 1}],
        "movie_streaming_options": [
            {
                "external_id": "o1",
                "movie_id": 1,
                "platform_id": 1,
                "region": "UK",
                "type": "rent",
                "price": "£3.49",
                "quality": "4K",
                "verified": "yes",
            }
        ],
    }
    # With GOOD_FILES and the platform tables' (tests/test_import_platform.py), a file for
    # every importable table: each one is shown to load.
    assert set(files) | set(GOOD_FILES) | set(PLATFORM_FILES) == set(IMPORTABLE_TABLES)
    assert not set(files) & set(PLATFORM_FILES)
    for table, records in files.items():
        report = import_file(fresh, table, write(tmp_path, "csv", records, name=table))
        assert (report.inserted, report.rejected) == (len(records), 0), table
    assert rows(fresh, "select price, verified from movie_streaming_options") == [("£3.49", True)]
    assert rows(fresh, "select bio from people where external_id = 'p9'") == [(None,)]
    assert rows(fresh, "select added_at is not null from collection_movies") == [(True,)]


def test_messy_real_extract_values(fresh: Engine, tmp_path: Path) -> None:
    path = tmp_path / "movies.csv"
    path.write_text(
        "external_id,title,year,release_date,runtime,revenue,budget,imdb_rating,tagline,status\n"
        'x1,1917,1917,2019-12-25,"1,234",2923706026,,7.0,,released\n'
        'x2,2012,2012,2009/11/13,158.0,"2,923,706,026",200000000, 7.9 ,"",\n'
        "x3,Jaws,1975,20 Jun 1975,124,,,8,  ,\n"
        'x4,Heat,1995,"Dec 15, 1995",170,,,,,released\n'
        "x5,Up,2009,2009-05-29T10:30:00+02:00,96,,,,,released\n"
    )
    report = import_file(fresh, "movies", path)
    assert report.inserted == 5
    assert rows(
        fresh,
        "select title, year, release_date, runtime, revenue, budget, imdb_rating, tagline,"
        " status from movies where external_id like 'x%' order by external_id",
    ) == [
        ("1917", "1917", datetime(2019, 12, 25), 1234, 2_923_706_026, None, 7.0, None, "released"),
        ("2012", "2012", datetime(2009, 11, 13), 158, 2_923_706_026, 200_000_000, 7.9, None, None),
        ("Jaws", "1975", datetime(1975, 6, 20), 124, None, None, 8.0, None, None),
        ("Heat", "1995", datetime(1995, 12, 15), 170, None, None, None, None, "released"),
        ("Up", "2009", datetime(2009, 5, 29, 8, 30), 96, None, None, None, None, "released"),
    ]


def test_parquet_types_from_pandas_keep_text_columns_as_text(fresh: Engine, tmp_path: Path) -> None:
    # pandas writes an int column with gaps as float64: 1917.0 must still become "1917".
    table = pa.table(
        {
            "external_id": ["pq1", "pq2"],
            "title": [1917.0, 2012.0],
            "year": [1917.0, None],
            "release_date": pa.array([datetime(2019, 12, 25), None], pa.timestamp("us")),
            # pandas writes its missing values as nulls (a NaN is refused: test_import_hostile).
            "revenue": [2_923_706_026.0, None],
        }
    )
    path = tmp_path / "movies.parquet"
    pq.write_table(table, path)
    import_file(fresh, "movies", path)
    assert rows(
        fresh, "select title, year, release_date, revenue from movies where id > 3 order by id"
    ) == [("1917", "1917", datetime(2019, 12, 25), 2_923_706_026), ("2012", None, None, None)]


def test_unknown_columns_are_reported_and_ignored(fresh: Engine, tmp_path: Path) -> None:
    records = [{"external_id": "u1", " Title ": "Dune", "box_office": "$1", "score": "9"}]
    report = import_file(fresh, "movies", write(tmp_path, "csv", records))
    assert report.unknown_columns == ("box_office", "score")
    assert rows(fresh, "select title from movies where external_id = 'u1'") == [("Dune",)]


def test_ids_in_the_file_are_kept_and_the_sequence_moves_past_them(
    fresh: Engine, tmp_path: Path
) -> None:
    records = [{"id": 500, "title": "Five hundred"}, {"id": 40, "title": "Forty"}]
    import_file(fresh, "movies", write(tmp_path, "csv", records))
    with fresh.begin() as conn:
        new_id = conn.execute(text("insert into movies (title) values ('next') returning id"))
        assert new_id.scalar_one() == 501


def test_empty_file_with_header_imports_nothing(fresh: Engine, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("external_id,title\n")
    report = import_file(fresh, "movies", path)
    assert (report.rows_read, report.inserted) == (0, 0)


# --- bad rows: the whole file is refused ---------------------------------------------------------

BASE_ROWS: dict[str, list[Record]] = {
    "movies": [
        {
            "external_id": f"b{i}",
            "title": f"Film {i}",
            "year": "2001",
            "release_date": "2001-05-01",
            "runtime": "101",
            "imdb_rating": "7.1",
            "rotten_tomatoes_score": "80",
            "status": "released",
            "budget": "1000",
            "trivia": "[]",
        }
        for i in range(3)
    ],
    "reviews": [
        {
            "external_id": f"rv{i}",
            "title": "Good",
            "content": "Liked it",
            "rating": "8",
            "user_id": "1",
            "movie_id": "1",
            "has_spoilers": "false",
        }
        for i in range(3)
    ],
    "pulses": [
        {
            "external_id": f"pu{i}",
            "content_text": "hi #dune",
            "user_id": "1",
            "hashtags": '["dune"]',
            "linked_type": "movie",
            "linked_movie_id": "1",
        }
        for i in range(3)
    ],
    "movie_streaming_options": [
        {
            "external_id": f"o{i}",
            "movie_id": "1",
            "platform_id": "1",
            "region": "US",
            "type": "subscription",
            "quality": "HD",
        }
        for i in range(3)
    ],
    "movie_people": [
        {"movie_id": "1", "person_id": "1", "role": "director", "character_name": ""},
        {"movie_id": "1", "person_id": "2", "role": "actor", "character_name": "Chani"},
        {"movie_id": "2", "person_id": "1", "role": "writer", "character_name": ""},
    ],
    "movie_genres": [
        {"movie_id": "1", "genre_id": "1"},
        {"movie_id": "1", "genre_id": "2"},
        {"movie_id": "2", "genre_id": "1"},
    ],
}

# (table, column, value put in the second data row, i.e. line 3, expected reason)
BAD_VALUES = {
    "bad-integer": ("movies", "runtime", "12a", "not an integer"),
    "fractional-integer": ("movies", "runtime", "12.5", "not a whole number"),
    "integer-overflow": ("movies", "runtime", "3000000000", "out of range for INTEGER"),
    "bigint-overflow": ("movies", "budget", "9" * 20, "out of range for BIGINT"),
    "decimal-comma": ("movies", "imdb_rating", "7,5", "decimal comma"),
    "impossible-date": ("movies", "release_date", "2023-02-30", "not a real date"),
    "not-a-date": ("movies", "release_date", "soon", "not a date"),
    "ambiguous-date": ("movies", "release_date", "03/04/2023", "ambiguous day/month order"),
    "day-first-date": ("movies", "release_date", "21/07/2023", "ambiguous day/month order"),
    "too-long": ("movies", "title", "x" * 201, "201 characters, the column holds at most 200"),
    "year-as-float-text": ("movies", "year", "1917.0", "6 characters, the column holds at most 4"),
    "bad-json": ("movies", "trivia", '[{"question": ', "not valid JSON"),
    "json-wrong-shape": ("movies", "trivia", '{"question": "q"}', "not a JSON array of objects"),
    "outside-check-set": ("movies", "status", "rumoured", "not one of released, upcoming"),
    "score-out-of-range": ("movies", "imdb_rating", "10.5", "outside the range 0 to 10"),
    "percent-out-of-range": (
        "movies",
        "rotten_tomatoes_score",
        "101",
        "outside the range 0 to 100",
    ),
    "required-empty": ("movies", "title", "", "required (NOT NULL, no default) but empty"),
    "duplicate-in-file": ("movies", "external_id", "b0", "repeats line 2 (must be unique)"),
    "duplicate-in-database": ("movies", "external_id", "m1", "already in movies (an upsert"),
    "missing-movie": ("reviews", "movie_id", "999", "no movies row has id 999"),
    "missing-user": ("reviews", "user_id", "77", "no users row has id 77"),
    "review-rating": ("reviews", "rating", "-1", "outside the range 0 to 10"),
    "bad-boolean": ("reviews", "has_spoilers", "maybe", "not a boolean"),
    "hashtags-not-an-array": ("pulses", "hashtags", '{"a": 1}', "not a JSON array of strings"),
    "linked-type": ("pulses", "linked_type", "podcast", "not one of movie, cricket"),
    "region-format": ("movie_streaming_options", "region", "usa", "not two upper-case letters"),
    "option-type": ("movie_streaming_options", "type", "lease", "not one of subscription"),
    "credit-role": ("movie_people", "role", "stuntman", "not one of actor"),
    "credit-twice": ("movie_people", "person_id", "1", "repeats line 2 (must be unique)"),
    "genre-pair-twice": ("movie_genres", "genre_id", "1", "repeats line 2 (must be unique)"),
    "genre-pair-in-database": ("movie_genres", "movie_id", "3", "already in movie_genres"),
}


# Where a key spans several columns, the error names them all.
REPORTED_COLUMN = {
    "credit-twice": "movie_id, person_id, role, character_name",
    "genre-pair-twice": "movie_id, genre_id",
    "genre-pair-in-database": "movie_id, genre_id",
}


def _with_bad_value(table: str, column: str, value: str) -> list[Record]:
    records = [dict(record) for record in BASE_ROWS[table]]
    records[1][column] = value
    if table == "movie_genres" and column == "movie_id":
        records[1]["genre_id"] = "3"  # (3, 3) is a reference row
    if table == "movie_people" and column == "person_id":
        records[1].update(role="director", character_name="")
    return records


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_a_bad_row_refuses_the_whole_file(shared: Engine, tmp_path: Path, case: str) -> None:
    table, column, value, reason = BAD_VALUES[case]
    before = count(shared, table)
    path = write(tmp_path, "csv", _with_bad_value(table, column, value))
    with pytest.raises(ImportRejected) as refused:
        import_file(shared, table, path)
    message = str(refused.value)
    assert message.startswith("extract.csv: 1 of 3 rows refused, nothing imported; line 3, ")
    assert f"column {REPORTED_COLUMN.get(case, column)}, " in message
    assert reason in message
    assert "\n" not in message
    errors = cast(tuple[RowError, ...], refused.value.errors)
    assert [error.number for error in errors] == [3]
    assert count(shared, table) == before


@pytest.mark.parametrize(
    ("format", "location"),
    [("jsonl", "line 2"), ("json", "record 2"), ("parquet", "record 2")],
)
def test_bad_rows_are_located_in_every_format(
    shared: Engine, tmp_path: Path, format: str, location: str
) -> None:
    records = [dict(MOVIES[0], external_id="loc1"), dict(MOVIES[1], imdb_rating=11.0)]
    with pytest.raises(ImportRejected, match=f"; {location}, column imdb_rating, value 11.0: "):
        import_file(shared, "movies", write(tmp_path, format, records))


def test_a_missing_required_column_refuses_the_file(shared: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "csv", [{"external_id": "n1", "year": "2001"}])
    with pytest.raises(ImportRejected, match="no column title, which movies requires"):
        import_file(shared, "movies", path)


def test_a_record_without_a_required_field_is_a_bad_row(shared: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "jsonl", [{"title": "ok"}, {"year": "2001"}])
    with pytest.raises(
        ImportRejected, match=r"line 2, column title: required \(NOT NULL, no default\) but missing"
    ):
        import_file(shared, "movies", path)


def test_an_unknown_table_lists_the_importable_ones(shared: Engine, tmp_path: Path) -> None:
    with pytest.raises(
        ImportRejected, match="cannot import into 'users'; importable tables: movies"
    ):
        import_file(shared, "users", write(tmp_path, "csv", [{"name": "x"}]))


def test_a_ragged_csv_row_is_a_bad_row(shared: Engine, tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text('title,year\nDune,2021\n"Heat, the film",1995,extra\n')
    with pytest.raises(ImportRejected, match="line 3: 3 fields where the header has 2"):
        import_file(shared, "movies", path)


def test_lines_count_physical_lines_of_multiline_fields(shared: Engine, tmp_path: Path) -> None:
    path = tmp_path / "multiline.csv"
    path.write_text('title,overview,runtime\nDune,"a\nlong\nstory",155\nHeat,short,long\n')
    with pytest.raises(ImportRejected, match="line 5, column runtime, value 'long'"):
        import_file(shared, "movies", path)


def test_a_constraint_outside_the_models_is_still_pinned_to_its_row(
    fresh: Engine, tmp_path: Path
) -> None:
    with fresh.begin() as conn:
        conn.execute(
            text("alter table genres add constraint genres_no_misc check (name <> 'Misc')")
        )
    records = [{"slug": f"g{i}", "name": "Misc" if i in (3, 6) else f"G{i}"} for i in range(8)]
    path = write(tmp_path, "csv", records)
    with pytest.raises(ImportRejected) as refused:
        import_file(fresh, "genres", path)
    assert "2 of 8 rows refused" in str(refused.value)
    assert 'line 5: new row for relation "genres" violates check constraint' in str(refused.value)
    assert count(fresh, "genres") == 3

    report = import_file(fresh, "genres", path, skip_bad=True)
    assert (report.inserted, report.rejected) == (6, 2)
    assert [e.number for e in report.errors] == [5, 8]


# --- --skip-bad and reject files -----------------------------------------------------------------


@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_skip_bad_loads_the_good_rows_and_writes_the_bad_ones(
    fresh: Engine, tmp_path: Path, format: str
) -> None:
    records: list[Record] = [
        {"external_id": "s1", "title": "Good one", "movie_id": 1, "content": "ok", "rating": 8},
        {"external_id": "s2", "title": "Bad rating", "movie_id": 1, "content": "x", "rating": 12},
        {"external_id": "s3", "title": "No movie", "movie_id": 404, "content": "x", "rating": 5},
        {"external_id": "s4", "title": "Good two", "movie_id": 2, "content": "ok", "rating": 6},
    ]
    path = write(tmp_path, format, records, name="reviews")
    report = import_file(fresh, "reviews", path, skip_bad=True)
    assert (report.rows_read, report.inserted, report.rejected) == (4, 2, 2)
    assert report.reject_path == tmp_path / f"reviews.rejects.{format}"
    assert rows(fresh, "select external_id from reviews order by 1") == [("s1",), ("s4",)]

    if format == "csv":
        with report.reject_path.open(newline="") as handle:
            rejected = list(csv.DictReader(handle))
    else:
        rejected = [json.loads(line) for line in report.reject_path.read_text().splitlines()]
    assert [row["external_id"] for row in rejected] == ["s2", "s3"]
    # CSV values are text, JSON ones keep their type: '12' versus 12.
    location, value = ("line 3", "'12'") if format == "csv" else ("line 2", "12")
    assert (
        rejected[0]["_error"]
        == f"{location}: column rating, value {value}: outside the range 0 to 10"
    )
    assert "no movies row has id 404" in rejected[1]["_error"]

    # Fixed, the reject file imports as it is: its _error column is not data.
    fixed = report.reject_path.read_text().replace("404", "3").replace("12", "2")
    report.reject_path.write_text(fixed)
    again = import_file(fresh, "reviews", report.reject_path)
    assert (again.inserted, again.unknown_columns) == (2, ())


def test_an_explicit_reject_file_is_written_even_when_refused(
    shared: Engine, tmp_path: Path
) -> None:
    records = [{"title": "ok"}, {"title": "x" * 300}]
    (tmp_path / "out").mkdir()
    rejects = tmp_path / "out" / "bad.csv"
    with pytest.raises(ImportRejected, match=f"every bad row is in {rejects}"):
        import_file(shared, "movies", write(tmp_path, "csv", records), reject_path=rejects)
    assert rejects.read_text().splitlines()[0] == "title,_error"


def test_parquet_rejects_are_json_lines(fresh: Engine, tmp_path: Path) -> None:
    records = [dict(MOVIES[0]), dict(MOVIES[1], status="rumoured")]
    report = import_file(fresh, "movies", write(tmp_path, "parquet", records), skip_bad=True)
    assert report.reject_path == tmp_path / "extract.rejects.jsonl"
    (line,) = report.reject_path.read_text().splitlines()
    assert json.loads(line)["title"] == "Avatar"


# --- upsert --------------------------------------------------------------------------------------


def test_upsert_updates_existing_rows_and_inserts_new_ones(fresh: Engine, tmp_path: Path) -> None:
    with fresh.begin() as conn:
        conn.execute(text("update movies set year = '2021' where external_id = 'm1'"))
    records = [
        {"id": 99, "external_id": "m1", "title": "Dune: Part One", "runtime": 155},
        {"id": 50, "external_id": "m9", "title": "Arrival", "runtime": 116},
    ]
    report = import_file(fresh, "movies", write(tmp_path, "jsonl", records), upsert=True)
    assert (report.inserted, report.updated) == (1, 1)
    # An update changes the file's columns only, never the id; year is not in the file.
    assert rows(
        fresh,
        "select id, title, year, runtime from movies where external_id in ('m1', 'm9') order by id",
    ) == [(1, "Dune: Part One", "2021", 155), (50, "Arrival", None, 116)]


@pytest.mark.slow
def test_upsert_may_update_some_columns_only(fresh: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "csv", [{"external_id": "m2", "runtime": 170}])
    report = import_file(fresh, "movies", path, upsert=True)
    assert (report.inserted, report.updated) == (0, 1)
    assert rows(fresh, "select title, runtime from movies where external_id = 'm2'") == [
        ("Heat", 170)
    ]
    # ... but a new row must still have every required column.
    path = write(tmp_path, "csv", [{"external_id": "m3", "runtime": 117}, {"external_id": "m404"}])
    new_row = r"line 3, column title: required .*, and this external_id is not in movies"
    with pytest.raises(ImportRejected, match=new_row):
        import_file(fresh, "movies", path, upsert=True)


def test_without_upsert_an_existing_external_id_refuses(shared: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "csv", [{"external_id": "m2", "title": "Heat (1995)"}])
    with pytest.raises(ImportRejected, match="already in movies"):
        import_file(shared, "movies", path)


def test_upsert_on_a_table_without_external_id_is_refused(shared: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "csv", [{"slug": "drama", "name": "Drama!"}])
    with pytest.raises(ImportRejected, match="an upsert matches rows on external_id, which genres"):
        import_file(shared, "genres", path, upsert=True)


# --- encodings -----------------------------------------------------------------------------------


def test_latin1_file_with_its_encoding(fresh: Engine, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("title,country\nAmélie,France\nLéon,Française\n".encode("latin-1"))
    import_file(fresh, "movies", path, encoding="latin-1")
    assert rows(fresh, "select title from movies where id > 3 order by id") == [
        ("Amélie",),
        ("Léon",),
    ]


@pytest.mark.parametrize("block", [16, 1 << 20])
def test_undecodable_bytes_name_line_and_byte(
    monkeypatch: pytest.MonkeyPatch, shared: Engine, tmp_path: Path, block: int
) -> None:
    # With 16-byte blocks the bad byte is met during the COPY, not while reading the header.
    monkeypatch.setattr(readers, "_BLOCK", block)
    before = count(shared, "movies")
    path = tmp_path / "latin1.csv"
    path.write_bytes("title,country\nDune,US\nAmélie,France\n".encode("latin-1"))
    with pytest.raises(ImportRejected) as refused:
        import_file(shared, "movies", path)
    assert str(refused.value) == (
        "latin1.csv: line 3 (byte 24) is not valid utf-8: invalid continuation byte b'\\xe9'; "
        "nothing imported"
    )
    assert isinstance(refused.value, OptionNeeded) and refused.value.option == "encoding"
    assert count(shared, "movies") == before


def test_a_read_only_engine_is_refused_clearly(shared_url: URL, tmp_path: Path) -> None:
    engine = get_engine(shared_url)
    with pytest.raises(ReadOnlySessionError, match="importing writes to the database"):
        import_file(engine, "genres", write(tmp_path, "csv", [{"name": "Noir"}]))
    engine.dispose()


def test_utf8_byte_order_mark_is_not_part_of_the_first_column(
    fresh: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftitle,year\r\nCaf\xc3\xa9,2001\r\n")
    report = import_file(fresh, "movies", path)
    assert report.unknown_columns == ()
    assert rows(fresh, "select title, year from movies where id > 3") == [("Café", "2001")]


# --- readers alone -------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 20])
def test_readers_stream_across_block_boundaries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, block: int
) -> None:
    # Multi-byte characters, a BOM, brackets inside strings and numbers split between blocks.
    monkeypatch.setattr(readers, "_BLOCK", block)
    records = [
        {"title": f"Amélie ] , [ {i}", "n": 12345678901234, "x": [{"a": "}"}]} for i in range(4)
    ]
    (tmp_path / "a.json").write_text(json.dumps(records, indent=2, ensure_ascii=False))
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    text_csv = "title,overview\r\n" + "".join(f'"{r["title"]}","two\nlines"\r\n' for r in records)
    (tmp_path / "a.csv").write_bytes(b"\xef\xbb\xbf" + text_csv.encode())
    (tmp_path / "bad.csv").write_bytes("title\nabc\ndéf\n".encode() + b"xy\xffz\n")

    def read(name: str, format: str) -> list[tuple[int, Record]]:
        source = readers.open_source(tmp_path / name, format, "utf-8")
        return [(record.number, record.values) for record in source.records()]

    assert read("a.json", "json") == list(enumerate(records, start=1))
    assert read("a.jsonl", "jsonl") == list(enumerate(records, start=1))
    assert read("a.csv", "csv") == [
        (2 + 2 * i, {"title": r["title"], "overview": "two\nlines"}) for i, r in enumerate(records)
    ]
    with pytest.raises(ImportRejected, match=r"line 4 \(byte 17\)"):
        read("bad.csv", "csv")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"title": "x"}',
            r"expected a JSON array of objects \(one object per line is the jsonl format",
        ),
        ('[{"title": "x"}, {"title": }]', r"record 2 \(line 1\) is not valid JSON"),
        ('[{"title": "x"}\n', "line 2: the array is not closed"),
        ('[{"title": "x"} {"title": "y"}]', "expected ',' or ']' after record 1"),
        ('[{"title": "x"}] []', "unexpected content after the array"),
    ],
)
def test_a_broken_json_array_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(ImportRejected, match=message):
        list(readers.open_source(path, "json", "utf-8").records())


# --- converters alone ----------------------------------------------------------------------------


def _convert(table: str, column: str, value: Any) -> Any:
    return table_spec(table).columns[column].convert(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-07-21", datetime(2023, 7, 21)),
        ("2023-7-1", datetime(2023, 7, 1)),
        ("2023-07-21T10:00:00", datetime(2023, 7, 21, 10)),
        ("2023-07-21 10:00", datetime(2023, 7, 21, 10)),
        ("2023-07-21T10:00:00.1234567", datetime(2023, 7, 21, 10, 0, 0, 123456)),
        ("2023-07-21T10:00:00Z", datetime(2023, 7, 21, 10)),
        ("2023-07-21T10:00:00-0130", datetime(2023, 7, 21, 11, 30)),
        ("2023/07/21", datetime(2023, 7, 21)),
        ("21 Jul 2023", datetime(2023, 7, 21)),
        ("21 July 2023", datetime(2023, 7, 21)),
        ("21-Jul-2023", datetime(2023, 7, 21)),
        ("Jul 21, 2023", datetime(2023, 7, 21)),
        ("September 3rd, 2023", datetime(2023, 9, 3)),
        ("  2023-07-21  ", datetime(2023, 7, 21)),
    ],
)
def test_accepted_date_forms(value: str, expected: datetime) -> None:
    assert _convert("movies", "release_date", value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("03/04/2023", "ambiguous day/month order"),
        ("21/07/2023", "ambiguous day/month order"),
        ("07-21-2023", "ambiguous day/month order"),
        ("21.07.2023", "ambiguous day/month order"),
        ("21 Jul 23", "not a date"),
        ("2023", "not a date"),
        ("2023-13-01", "not a real date"),
        ("21 Jly 2023", "unknown month name 'Jly'"),
        ("2023-07-21T25:00", "not a real date"),
        (1689933600, "epoch seconds or milliseconds"),
    ],
)
def test_rejected_date_forms(value: Any, reason: str) -> None:
    with pytest.raises(BadValue, match=reason):
        _convert("movies", "release_date", value)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("runtime", "1,234", 1234),
        ("runtime", "1234.0", 1234),
        ("runtime", " 42 ", 42),
        ("runtime", 42.0, 42),
        ("runtime", "", None),
        ("revenue", "2,923,706,026", 2_923_706_026),
        ("imdb_rating", "7.25", 7.25),
        ("imdb_rating", "8", 8.0),
        ("year", 1917, "1917"),
        ("year", 1917.0, "1917"),
        ("title", "1917", "1917"),
        ("title", "  Dune ", "  Dune "),
        ("tagline", "   ", None),
        ("tagline", "NULL", "NULL"),
        ("trivia", [{"question": "q"}], '[{"question": "q"}]'),
        ("trivia", '[{"q": "é"}]', '[{"q": "é"}]'),
    ],
)
def test_accepted_values(column: str, value: Any, expected: Any) -> None:
    assert _convert("movies", column, value) == expected


@pytest.mark.parametrize(
    ("table", "column", "value", "reason"),
    [
        ("movies", "runtime", "12a", "not an integer"),
        ("movies", "runtime", "1,23", "not an integer"),
        ("movies", "runtime", "1_000", "not an integer"),
        ("movies", "runtime", True, "a boolean"),
        ("movies", "imdb_rating", "inf", "not a number"),
        ("movies", "imdb_rating", "N/A", "not a number"),
        ("movies", "title", "a\x00b", "NUL character"),
        ("movies", "title", True, "a boolean, not text"),
        ("movies", "trivia", "[NaN]", "NaN is not a JSON value"),
        ("movies", "runtime", float("nan"), "NaN is not a value for column runtime"),
        ("movies", "tagline", float("nan"), "NaN is not a value for column tagline"),
        ("movies", "title", float("inf"), "not a finite number, nor text"),
        ("movies", "trivia", '[{"q": "\\u0000"}]', "\\\\u0000"),
        ("reviews", "media_urls", '["a", 1]', "not a JSON array of strings"),
        ("pulses", "reactions_json", "[]", "not a JSON object"),
        ("reviews", "has_spoilers", "2", "not a boolean"),
    ],
)
def test_rejected_values(table: str, column: str, value: Any, reason: str) -> None:
    with pytest.raises(BadValue, match=reason):
        _convert(table, column, value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(v, True) for v in ("true", "T", "yes", "Y", "1", 1, True)]
    + [(v, False) for v in ("false", "F", "No", "n", "0", 0, False)],
)
def test_booleans(value: Any, expected: bool) -> None:
    assert _convert("reviews", "has_spoilers", value) is expected


# --- the command line ----------------------------------------------------------------------------


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iwm-lab", "import", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.heavy
@pytest.mark.slow
def test_cli_imports_and_refuses(fresh_url: URL, cli_env: dict[str, str], tmp_path: Path) -> None:
    env = cli_env | {"IWM_DATABASE_URL": fresh_url.render_as_string(hide_password=False)}
    good = write(tmp_path, "csv", [{"title": "Dune", "rank": "1"}], name="good")
    done = run_cli(env, "movies", str(good))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "movies: read 1 row from good.csv: 1 inserted, 0 updated, 0 rejected; "
        "refreshed score_counts, movie_scores, score_pair_cells, streaming_region_movies, "
        "streaming_region_type_counts\n"
    )
    assert done.stderr == "warning: ignored unknown column(s): rank\n"

    bad = write(tmp_path, "csv", [{"title": "Dune", "runtime": "2h"}], name="bad")
    done = run_cli(env, "movies", str(bad))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(
        "error: bad.csv: 1 of 1 rows refused, nothing imported; "
        "line 2, column runtime, value '2h': not an integer;"
    )
    # The library says what is wrong; the command adds its flag that fixes it.
    assert done.stderr.endswith(
        "; pass --skip-bad to load the good rows and write every bad one to a reject file\n"
    )

    done = run_cli(env, "movies", str(bad), "--skip-bad", "--reject-file", str(tmp_path / "r.csv"))
    assert done.returncode == 0, done.stderr
    assert f"1 rejected (written to {tmp_path / 'r.csv'})" in done.stdout

    done = run_cli(env, "actors", str(good))
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot import into 'actors'; importable tables:")


# --- as the writer role ---------------------------------------------------------------------------
# `iwm-lab import` logs in as iwm_writer on the embedded server: rows, sequences and the
# refresh functions (SECURITY DEFINER, migration 0004), no DDL. Every step of a load must work
# with that: COPY into a temporary table, ANALYZE and index it, INSERT/UPDATE, setval, and the
# rollup refresh in the import's own transaction.


@pytest.fixture
def as_writer(fresh_url: URL) -> Iterator[Engine]:
    engine = get_engine(fresh_url, writable=True, role="writer")
    yield engine
    engine.dispose()


def test_the_writer_engine_logs_in_as_the_writer(as_writer: Engine) -> None:
    assert rows(as_writer, "select current_user") == [("iwm_writer",)]
    with pytest.raises(ValueError, match="role 'writer' for a read-only engine"):
        get_engine(as_writer.url, role="writer")
    with pytest.raises(ValueError, match="role 'analyst' for a writable engine"):
        get_engine(as_writer.url, writable=True, role="analyst")


@pytest.mark.parametrize("table", sorted(GOOD_FILES))
def test_every_table_loads_as_the_writer(as_writer: Engine, tmp_path: Path, table: str) -> None:
    records, query, expected = GOOD_FILES[table]
    report = import_file(as_writer, table, write(tmp_path, "csv", records))
    assert (report.inserted, report.rollups_refreshed) == (
        len(records),
        rollups.SOURCES.get(table, ()),
    )
    assert rows(as_writer, query) == expected


def test_a_writer_import_refreshes_its_rollups(as_writer: Engine, tmp_path: Path) -> None:
    before = dict(rows(as_writer, "select movie_id, reviews from movie_review_stats"))
    days = rows(as_writer, "select count(*) from review_daily_stats")[0][0]
    report = import_file(as_writer, "reviews", write(tmp_path, "csv", GOOD_FILES["reviews"][0]))
    assert report.rollups_refreshed == (
        "movie_review_stats",
        "review_daily_stats",
        "score_counts",
        "movie_scores",
    )
    after = dict(rows(as_writer, "select movie_id, reviews from movie_review_stats"))
    for movie_id in (1, 2):
        assert after[movie_id] == before.get(movie_id, 0) + 1
    assert rows(as_writer, "select count(*) from review_daily_stats")[0][0] == days + 1
    users = rows(as_writer, "select n from score_counts where source = 'users' and score = 9.5")
    assert sum(n for (n,) in users) >= 1
    refreshed = rows(
        as_writer,
        "select count(*) from rollup_refreshes where refreshed_at is not null "
        "and name = any(:names)",
        names=list(report.rollups_refreshed),
    )
    assert refreshed == [(4,)]


def test_writer_ids_upserts_and_rejects(as_writer: Engine, tmp_path: Path) -> None:
    # Ids from the file move the sequence (setval needs UPDATE on it).
    import_file(as_writer, "movies", write(tmp_path, "csv", [{"id": 700, "title": "Seven"}]))
    with as_writer.begin() as conn:
        new_id = conn.execute(text("insert into movies (title) values ('next') returning id"))
        assert new_id.scalar_one() == 701
    records = [
        {"external_id": "m1", "title": "Dune: Part One"},
        {"external_id": "m8", "title": "Arrival"},
    ]
    report = import_file(as_writer, "movies", write(tmp_path, "jsonl", records), upsert=True)
    assert (report.inserted, report.updated) == (1, 1)
    bad = [{"external_id": "w1", "title": "Fine", "movie_id": 1, "content": "ok", "rating": 8}]
    bad.append({"external_id": "w2", "title": "Bad", "movie_id": 404, "content": "x", "rating": 5})
    path = write(tmp_path, "csv", bad, name="reviews")
    report = import_file(as_writer, "reviews", path, skip_bad=True)
    assert (report.inserted, report.rejected) == (1, 1)
    # A constraint the models lack: the bisection's savepoints and index on the staging table.
    owner = get_engine(as_writer.url.set(username="iwm"), writable=True)
    with owner.begin() as conn:
        conn.execute(text("alter table movies add constraint ck_no_x check (title <> 'X')"))
    owner.dispose()
    with pytest.raises(ImportRejected, match="ck_no_x"):
        import_file(as_writer, "movies", write(tmp_path, "csv", [{"title": "A"}, {"title": "X"}]))


@pytest.mark.heavy
@pytest.mark.slow
def test_cli_import_runs_as_the_writer(
    fresh_url: URL, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The embedded server's owner URL becomes the writer's: without the writer's INSERT on
    movies the same import is refused, which the owner's would not be."""
    env = cli_env | {"IWM_DATABASE_URL": fresh_url.render_as_string(hide_password=False)}
    good = write(tmp_path, "csv", [{"title": "Dune"}], name="good")
    owner = get_engine(fresh_url, writable=True)
    try:
        with owner.begin() as conn:
            conn.execute(text("revoke insert on movies from iwm_writer"))
        done = run_cli(env, "movies", str(good))
        assert done.returncode == 1
        assert done.stderr.startswith("error: good.csv: the database failed during the import")
        assert "permission denied for table movies" in done.stderr
        with owner.begin() as conn:
            conn.execute(text("grant insert on movies to iwm_writer"))
        done = run_cli(env, "movies", str(good))
        assert done.returncode == 0, done.stderr
        assert "1 inserted" in done.stdout
        assert rows(owner, "select count(*) from movies where title = 'Dune'") == [(2,)]
    finally:
        owner.dispose()
