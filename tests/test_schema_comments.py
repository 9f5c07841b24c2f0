"""The schema document's descriptions are on the models and, from migration 0005, on the database.

The expected text comes from the document (``../shared/seed/iwm_schema.md`` or
``$IWM_SEED_SCHEMA``, found by ``tests/seed_contract.py``): a table's description is the line
under its heading, a column's the last cell of its row. As in ``test_schema_contract.py``, a
clone without the document skips those tests with the reason, and under CI a missing document
fails them. The rest (drift in a comment, the downgrade) needs no document.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import date

import pytest
from seed_contract import Seed, SeedFormatError, load_seed
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from iwm_lab import migrate
from iwm_lab.database import get_engine
from iwm_lab.exceptions import SchemaDriftError
from iwm_lab.models import Base

try:
    SEED: Seed | None = load_seed()
    SEED_ERROR: str | None = None
    SEED_ABSENT = False
except (OSError, SeedFormatError) as exc:
    SEED, SEED_ERROR = None, f"{type(exc).__name__}: {exc}"
    SEED_ABSENT = isinstance(exc, FileNotFoundError)

# The partitioned twins copy their table's columns, descriptions included (LIKE ... INCLUDING
# ALL in the document).
TWINS = {"reviews_partitioned": "reviews", "pulses_partitioned": "pulses"}

_SECTION = re.compile(r"^###\s+`(?P<name>\w+)`\s*$", re.MULTILINE)
_HEADING = re.compile(r"^#{1,3}\s", re.MULTILINE)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def document_descriptions(seed: Seed) -> dict[str, tuple[str, dict[str, str]]]:
    """Table -> (its description, {column: description}), as the document words them."""
    found: dict[str, tuple[str, dict[str, str]]] = {}
    for match in _SECTION.finditer(seed.text):
        following = _HEADING.search(seed.text, match.end())
        body = seed.text[match.end() : following.start() if following else None]
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        rows = [_cells(line) for line in lines if line.startswith("|")]
        header = [cell.lower() for cell in rows[0]]
        assert header[-1] == "description", f"{match['name']}: header {header}"
        columns = {row[0]: row[-1] for row in rows[1:] if not set("".join(row)) <= set("-: ")}
        found[match["name"]] = (lines[0], columns)
    return found


def _documented() -> dict[str, tuple[str, dict[str, str]]]:
    if SEED is None:
        if SEED_ABSENT and os.environ.get("CI", "").lower() not in ("true", "1"):
            pytest.skip(f"no seed schema document in this clone: {SEED_ERROR}")
        pytest.fail(f"cannot read the seed schema document: {SEED_ERROR}", pytrace=False)
    found = document_descriptions(SEED)
    # Read the way seed_contract reads the structure: the same tables and columns.
    assert {t: list(c) for t, (_, c) in found.items()} == {
        t: [c.name for c in table.columns] for t, table in SEED.tables.items()
    }
    return found


DOCUMENTED_TABLES = (
    [pytest.param(t, id=t) for t in sorted(document_descriptions(SEED))]
    if SEED is not None
    else [pytest.param(None, id="seed-unavailable")]
)


def _live_comments(conn: Connection, table: str) -> tuple[str | None, dict[str, str | None]]:
    described = conn.execute(
        text("select obj_description(cast(:t as regclass), 'pg_class')"), {"t": table}
    ).scalar_one()
    columns = conn.execute(
        text(
            "select attname, col_description(attrelid, attnum) from pg_attribute "
            "where attrelid = cast(:t as regclass) and attnum > 0 and not attisdropped"
        ),
        {"t": table},
    ).all()
    return described, {name: comment for name, comment in columns}


@pytest.mark.parametrize("table", DOCUMENTED_TABLES)
def test_models_carry_the_document_descriptions(table: str | None) -> None:
    described, columns = _documented()[str(table)]
    model = Base.metadata.tables[str(table)]
    assert model.comment == described
    assert {c: model.c[c].comment for c in columns} == columns


@pytest.mark.parametrize("table", DOCUMENTED_TABLES)
def test_database_carries_the_document_descriptions(table: str | None, conn: Connection) -> None:
    described, columns = _documented()[str(table)]
    live_table, live_columns = _live_comments(conn, str(table))
    assert live_table == described
    assert {c: live_columns.get(c) for c in columns} == columns


@pytest.mark.parametrize("twin", sorted(TWINS))
def test_partitioned_twins_carry_their_tables_column_descriptions(
    twin: str, conn: Connection
) -> None:
    described, twin_columns = _live_comments(conn, twin)
    _, columns = _live_comments(conn, TWINS[twin])
    assert described
    assert twin_columns == columns
    assert all(columns.values())


def test_every_modelled_table_and_column_is_described() -> None:
    undescribed = [t.name for t in Base.metadata.sorted_tables if not t.comment]
    undescribed += [
        f"{t.name}.{c.name}" for t in Base.metadata.sorted_tables for c in t.c if not c.comment
    ]
    assert undescribed == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "comment on column movies.title is 'Title (it''s 100% the title)'",
            'column movies.title: comment is "Title (it\'s 100% the title)" in the database, '
            "'Movie title' in the models",
        ),
        ("comment on column genres.slug is null", "column genres.slug: comment is None"),
        ("comment on table genres is null", "table genres: comment is None in the database"),
    ],
    ids=["changed-column", "dropped-column", "dropped-table"],
)
def test_check_reports_a_comment_that_differs(
    make_database: Callable[..., URL], template_name: str, statement: str, expected: str
) -> None:
    engine = get_engine(make_database("comment", template=template_name), writable=True)
    try:
        migrate.check(engine)
        with engine.begin() as conn:
            conn.execute(text(statement))
        with pytest.raises(SchemaDriftError) as caught:
            migrate.check(engine)
    finally:
        engine.dispose()
    assert any(d.startswith(expected) for d in caught.value.differences), caught.value


def _described_objects(engine: Engine) -> list[str]:
    """Every comment on a relation of the schema or on one of its columns."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "select c.relname || coalesce('.' || a.attname, '') "
                    "from pg_description d join pg_class c on c.oid = d.objoid "
                    "left join pg_attribute a on a.attrelid = c.oid and a.attnum = d.objsubid "
                    "where d.classoid = 'pg_class'::regclass "
                    "and c.relnamespace = current_schema()::regnamespace order by 1"
                )
            ).scalars()
        )


@pytest.mark.slow
def test_downgrade_removes_every_comment_and_upgrade_restores_them(
    make_database: Callable[..., URL], template_name: str
) -> None:
    engine = get_engine(make_database("comments_down", template=template_name), writable=True)
    try:
        at_head = _described_objects(engine)
        # A partition made after 0005 copies its twin's column comments.
        migrate.ensure_partitions(engine, date(2031, 1, 1))
        assert "pulses_p2031_01.content_text" in _described_objects(engine)

        assert migrate.downgrade(engine, "0004") == "0004"
        assert _described_objects(engine) == []

        migrate.upgrade(engine)
        migrate.check(engine)
        assert set(at_head) <= set(_described_objects(engine))
    finally:
        engine.dispose()
    assert {"movies", "movies.title", "score_counts", "reviews_partitioned.rating"} <= set(at_head)
