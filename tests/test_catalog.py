"""``iwm_lab.describe()`` and ``docs/schema.md``: the schema as the database's catalog has it.

Expectations come from the SQLAlchemy models (``Base.metadata``), the rollups' list and the
rows a database holds, never from a copy of the schema.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Column, Connection, DefaultClause, Engine, text
from sqlalchemy.engine import URL

from iwm_lab import catalog, rollups
from iwm_lab.exceptions import UnknownTable
from iwm_lab.models import Base

TWINS = ("pulses_partitioned", "reviews_partitioned")
MODEL_TABLES = sorted(Base.metadata.tables)


def test_describe_lists_every_table_with_its_description(conn: Connection) -> None:
    listed = catalog.describe(conn=conn)
    assert tuple(listed.columns) == catalog.TABLE_COLUMNS
    by_name = listed.set_index("table")
    assert by_name.index.is_unique
    for name, model in Base.metadata.tables.items():
        assert by_name.loc[name, "kind"] == "table"
        assert by_name.loc[name, "description"] == model.comment
    assert set(by_name.index[by_name["kind"] == "materialized view"]) == set(rollups.VIEW_ROLLUPS)
    assert set(by_name.index[by_name["kind"] == "partitioned table"]) == set(TWINS)
    # Partitions stand behind their parent; Alembic's bookkeeping is no reader's business.
    assert "reviews_2024" not in by_name.index
    assert "alembic_version" not in by_name.index
    assert by_name["description"].notna().all(), by_name[by_name["description"].isna()]


def _expected_types(conn: Connection, columns: list[Column[object]]) -> list[str]:
    """The model's column types as PostgreSQL names them, from a temporary table made of them."""
    compiled = [str(column.type.compile(dialect=conn.dialect)) for column in columns]
    conn.execute(
        text(
            "create temporary table expected_types ("
            + ", ".join(f"c{i} {spelled}" for i, spelled in enumerate(compiled))
            + ") on commit drop"
        )
    )
    return list(
        conn.execute(
            text(
                "select format_type(atttypid, atttypmod) from pg_attribute "
                "where attrelid = 'expected_types'::regclass and attnum > 0 order by attnum"
            )
        ).scalars()
    )


def _expected_default(column: Column[object], conn: Connection) -> str | None:
    default = column.server_default
    if isinstance(default, DefaultClause):
        arg = default.arg
        return arg if isinstance(arg, str) else str(arg.compile(dialect=conn.dialect))
    assert default is None, f"{column}: unexpected kind of default {default!r}"
    if column is column.table.autoincrement_column:
        return f"nextval('{column.table.name}_{column.name}_seq')"
    return None


def _without_casts(default: str) -> str:
    """``'released'::character varying`` as the model writes it: ``'released'``."""
    return re.sub(r"::[a-z ]+(\(\d+\))?", "", default)


@pytest.mark.parametrize("table", MODEL_TABLES)
def test_describe_table_matches_the_model(table: str, conn: Connection) -> None:
    described = catalog.describe(table, conn=conn)
    model = Base.metadata.tables[table]
    columns = list(model.columns)
    assert tuple(described.columns) == catalog.COLUMN_COLUMNS
    assert list(described["column"]) == [c.name for c in columns]
    assert list(described["type"]) == _expected_types(conn, columns)
    assert list(described["nullable"]) == [c.nullable for c in columns]
    assert [None if pd.isna(d) else _without_casts(d) for d in described["default"]] == [
        _expected_default(c, conn) for c in columns
    ]
    assert list(described["description"]) == [c.comment for c in columns]
    assert [None if pd.isna(r) else r for r in described["references"]] == [
        ", ".join(f"{fk.column.table.name}.{fk.column.name}" for fk in c.foreign_keys) or None
        for c in columns
    ]


def test_estimated_rows_are_close_to_the_true_counts(tiny: Connection) -> None:
    listed = catalog.describe(conn=tiny).set_index("table")
    # Every table the demo loader fills and analyses, its partitioned twins and the rollups.
    for name in [*MODEL_TABLES, *TWINS, *rollups.ROLLUPS]:
        true = tiny.execute(text(f'select count(*) from "{name}"')).scalar_one()
        estimate = listed.loc[name, "estimated_rows"]
        assert not pd.isna(estimate), f"{name}: no estimate"
        assert abs(int(estimate) - true) <= 1 + 0.05 * true, (name, estimate, true)
    assert listed.loc["reviews_partitioned", "estimated_rows"] > 0


@pytest.mark.parametrize(
    ("name", "suggested"),
    [("movie", ["movies"]), ("reveiws", ["reviews"]), ("no_such_thing", [])],
)
def test_unknown_table_names_the_closest_ones(
    name: str, suggested: list[str], conn: Connection
) -> None:
    with pytest.raises(UnknownTable) as caught:
        catalog.describe(name, conn=conn)
    message = str(caught.value)
    assert "\n" not in message and repr(name) in message
    for table in suggested:
        assert table in message
    if not suggested:
        assert "did you mean" not in message


def test_schema_docs_are_up_to_date(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = catalog.schema_docs_differences(catalog.DOCS_PATH, conn)
    shown = "\n".join(diff[:30])
    assert diff == [], (
        f"{catalog.DOCS_PATH} differs from the migrated schema: regenerate it with "
        f"`{catalog.REGENERATE}` on a database at head\n{shown}"
    )


def test_schema_docs_do_not_change_with_the_data(engine: Engine, tiny: Connection) -> None:
    with engine.connect() as empty:
        assert catalog.schema_markdown(empty) == catalog.schema_markdown(tiny)


@pytest.mark.slow
def test_db_docs_writes_and_checks(
    tmp_path: Path, db_url: URL, engine: Engine, cli_env: dict[str, str]
) -> None:
    env = cli_env | {"IWM_DATABASE_URL": db_url.render_as_string(hide_password=False)}
    target = tmp_path / "docs" / "schema.md"
    wrote = subprocess.run(
        ["iwm-lab", "db", "docs", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wrote.returncode == 0, wrote.stderr
    with engine.connect() as conn:
        assert target.read_text(encoding="utf-8") == catalog.schema_markdown(conn)

    target.write_text(target.read_text(encoding="utf-8").replace("Movie title", "Name"))
    checked = subprocess.run(
        ["iwm-lab", "db", "docs", "--check", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 1
    assert "-| title |" in checked.stderr and "+| title |" in checked.stderr
    assert checked.stderr.rstrip().splitlines()[-1] == (
        f"error: {target} is out of date: run `{catalog.REGENERATE}`"
    )
