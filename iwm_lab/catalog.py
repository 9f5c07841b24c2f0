"""The schema at hand: what each table, rollup and column holds, read from the database itself.

>>> iwm_lab.describe()            # tables and rollups: kind, estimated rows, description
>>> iwm_lab.describe("movies")    # its columns: type, nullable, default, description, references

The descriptions are the comments migration 0005 puts on the database (the schema document's
words, and the repository's for what the document does not describe), so they hold on any
server at head, a clone without the document included. Everything is read from
``pg_catalog`` with bound parameters; the row counts are the planner's estimates
(``pg_class.reltuples``, as of the last ``ANALYZE``), never a scan.

``docs/schema.md`` is :func:`schema_markdown` of a database at head; regenerate it with
``python -m iwm_lab.catalog`` (``--check`` only compares, exits 1 when it is out of date).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from iwm_lab.exceptions import IwmLabError, UnknownTable
from iwm_lab.settings import SCHEMA_DOCS as DOCS_PATH

REGENERATE = "iwm-lab db docs"

# relkind -> what describe() calls it. Partitions (relispartition) are left out: their parent
# stands for them, and which ones exist depends on the data's dates.
KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}
# Alembic's one-row record of the revision: nothing to analyse (`iwm-lab db current` shows it).
# The rollups' and trending refresh records stay listed: they say how fresh the rollups are.
HIDDEN = frozenset({"alembic_version"})

TABLE_COLUMNS = ("table", "kind", "estimated_rows", "description")
COLUMN_COLUMNS = ("column", "type", "nullable", "default", "description", "references")

_RELATIONS = text(
    """
    select c.relname as "table",
           c.relkind as kind,
           case when c.relkind = 'p' then
                    (select sum(leaf.reltuples) filter (where leaf.reltuples >= 0)
                     from pg_catalog.pg_partition_tree(c.oid) as tree
                     join pg_catalog.pg_class as leaf on leaf.oid = tree.relid
                     where tree.isleaf)
                when c.reltuples >= 0 then c.reltuples
           end as estimated_rows,
           pg_catalog.obj_description(c.oid, 'pg_class') as description
    from pg_catalog.pg_class as c
    where c.relnamespace = pg_catalog.current_schema()::regnamespace
      and c.relkind::text = any(cast(:kinds as text[]))
      and not c.relispartition
    order by array_position(cast(:kinds as text[]), c.relkind::text), c.relname
    """
)

_RELATION = text(
    """
    select c.oid
    from pg_catalog.pg_class as c
    where c.relnamespace = pg_catalog.current_schema()::regnamespace
      and c.relkind::text = any(cast(:kinds as text[]))
      and c.relname = :name
    """
)

# A column of a foreign key references the column at the same position of the key's target.
_COLUMNS = text(
    """
    select a.attname as "column",
           pg_catalog.format_type(a.atttypid, a.atttypmod) as type,
           not a.attnotnull as nullable,
           pg_catalog.pg_get_expr(d.adbin, d.adrelid) as "default",
           pg_catalog.col_description(a.attrelid, a.attnum) as description,
           (select string_agg(target.oid::regclass::text || '.' || quote_ident(ta.attname),
                              ', ' order by con.conname)
            from pg_catalog.pg_constraint as con
            cross join lateral unnest(con.conkey, con.confkey) as keys(attnum, target_attnum)
            join pg_catalog.pg_class as target on target.oid = con.confrelid
            join pg_catalog.pg_attribute as ta
              on ta.attrelid = con.confrelid and ta.attnum = keys.target_attnum
            where con.conrelid = a.attrelid and con.contype = 'f'
              and keys.attnum = a.attnum) as "references"
    from pg_catalog.pg_attribute as a
    left join pg_catalog.pg_attrdef as d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where a.attrelid = :oid and a.attnum > 0 and not a.attisdropped
    order by a.attnum
    """
)


@contextmanager
def _connection(conn: Connection | None) -> Iterator[Connection]:
    if conn is not None:
        yield conn
        return
    from iwm_lab.database import analyst_engine

    with analyst_engine().connect() as own:
        yield own


def _typed(frame: pd.DataFrame, **dtypes: str) -> pd.DataFrame:
    """``frame`` with the given dtypes, the rest as pandas' nullable string type (a missing
    description or default is ``<NA>`` whatever the pandas version)."""
    return frame.astype({name: dtypes.get(name, "string") for name in frame.columns})


def _tables(conn: Connection) -> pd.DataFrame:
    rows = conn.execute(_RELATIONS, {"kinds": list(KINDS)}).mappings().all()
    frame = pd.DataFrame(
        [
            {
                "table": row["table"],
                "kind": KINDS[row["kind"]],
                "estimated_rows": None
                if row["estimated_rows"] is None
                else round(row["estimated_rows"]),
                "description": row["description"],
            }
            for row in rows
            if row["table"] not in HIDDEN
        ],
        columns=list(TABLE_COLUMNS),
    )
    return _typed(frame, estimated_rows="Int64")


def _columns(conn: Connection, table: str) -> pd.DataFrame:
    oid = conn.execute(_RELATION, {"kinds": list(KINDS), "name": table}).scalar_one_or_none()
    if oid is None:
        known = list(_tables(conn)["table"])
        close = difflib.get_close_matches(table, known, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else "describe() lists them"
        raise UnknownTable(f"unknown table {table!r} in this schema: {hint}")
    rows = conn.execute(_COLUMNS, {"oid": oid}).mappings().all()
    frame = pd.DataFrame([dict(row) for row in rows], columns=list(COLUMN_COLUMNS))
    return _typed(frame, nullable="bool")


def describe(table: str | None = None, *, conn: Connection | None = None) -> pd.DataFrame:
    """The schema's tables, or one table's columns, with their descriptions.

    Without ``table``: one row per table, partitioned table, view and materialized view
    (rollup) of the schema, columns ``table``, ``kind``, ``estimated_rows`` (the planner's
    estimate as of the last ``ANALYZE``, summed over the partitions of a partitioned table;
    missing when never analysed) and ``description``. Alembic's ``alembic_version`` is left out.

    With ``table``: one row per column, in table order, columns ``column``, ``type``,
    ``nullable``, ``default`` (the SQL expression), ``description`` and ``references`` (the
    referenced ``table.column`` of a foreign key). Any relation of the schema can be named,
    partitions included; an unknown name raises :class:`~iwm_lab.exceptions.UnknownTable`
    naming the closest ones.

    ``conn`` defaults to the process-wide read-only analyst engine.
    """
    with _connection(conn) as active:
        return _tables(active) if table is None else _columns(active, table)


def _cell(value: Any, *, code: bool = False) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    shown = " ".join(str(value).split()).replace("|", "\\|")
    return f"`{shown}`" if code else shown


def _reference(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    # An anchor per table heading: "## `movies`" is #movies on GitHub and in most renderers.
    return ", ".join(f"[{ref}](#{ref.split('.')[0]})" for ref in value.split(", "))


def schema_markdown(conn: Connection | None = None) -> str:
    """``docs/schema.md``: every table and rollup of :func:`describe`, with its columns.

    Nothing in it changes with the data (no row counts, no partitions, no dates), so two
    databases at the same revision give the same text.
    """
    with _connection(conn) as active:
        tables = _tables(active)
        lines = [
            "# The iwm schema",
            "",
            f"Generated from a database at the migrations' head by `{REGENERATE}`: do not edit "
            "by hand. The descriptions are the comments on the database, so `iwm_lab.describe()`"
            " shows the same (with estimated row counts), as do `\\d+` in psql and SQL clients.",
            "",
            "| Table | Kind | Description |",
            "|---|---|---|",
        ]
        lines += [
            f"| [{row.table}](#{row.table}) | {row.kind} | {_cell(row.description)} |"
            for row in tables.itertuples()
        ]
        for row in tables.itertuples():
            lines += ["", f"## `{row.table}`", ""]
            lines += [f"{_cell(row.description) or '(no description)'} *({row.kind})*", ""]
            lines += [
                "| Column | Type | Nullable | Default | References | Description |",
                "|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {_cell(col.column)} | {_cell(col.type)} | {'yes' if col.nullable else 'no'} "
                f"| {_cell(col.default, code=True)} | {_reference(col.references)} "
                f"| {_cell(col.description)} |"
                for col in _columns(active, str(row.table)).itertuples()
            ]
    return "\n".join(lines) + "\n"


def schema_docs_differences(path: Path = DOCS_PATH, conn: Connection | None = None) -> list[str]:
    """A unified diff from the file at ``path`` to :func:`schema_markdown`; empty when the
    file is up to date."""
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = ""
    wanted = schema_markdown(conn)
    return list(
        difflib.unified_diff(
            current.splitlines(),
            wanted.splitlines(),
            fromfile=str(path),
            tofile="generated",
            lineterm="",
        )
    )


def write_schema_docs(path: Path = DOCS_PATH, conn: Connection | None = None) -> bool:
    """Write :func:`schema_markdown` to ``path``; return whether the file changed."""
    wanted = schema_markdown(conn)
    try:
        if path.read_text(encoding="utf-8") == wanted:
            return False
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted, encoding="utf-8")
    except OSError as exc:
        raise IwmLabError(f"cannot write {path}: {exc.strerror or exc}") from None
    return True
