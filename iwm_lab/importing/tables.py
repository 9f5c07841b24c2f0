"""What each importable table accepts, read from the models, and how a file's fields map to it.

Column types, lengths, NOT NULL, keys (partial unique indexes with their condition) and
foreign keys come from the SQLAlchemy models; the CHECK constraints from
``iwm_lab.importing.checks``, which mirrors the one-column ones so that a bad value is
reported with its column before the database sees it. Whatever else the database refuses is
still found row by row (``iwm_lab.importing.writing``), named by the columns and the rule of
its constraint where these are known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnClause, ColumnElement
from sqlalchemy.sql.visitors import replacement_traverse

from iwm_lab.importing.checks import CHECK_RULES, JSON_SHAPES, ROW_CHECKS, RowCheck
from iwm_lab.importing.conversion import BadValue, ColumnSpec, Kind, Rule, show
from iwm_lab.models import Base

IMPORTABLE_TABLES: tuple[str, ...] = (
    "movies",
    "genres",
    "people",
    "movie_genres",
    "movie_people",
    "collection_movies",
    "reviews",
    "streaming_platforms",
    "movie_streaming_options",
    "pulses",
    # The platform areas (migration 0008), each after the tables it references.
    "award_bodies",
    "award_ceremonies",
    "award_categories",
    "award_nominations",
    "festivals",
    "festival_editions",
    "festival_selections",
    "box_office_grosses",
    "curated_lists",
    "curated_list_movies",
    "featured_rails",
    "featured_rail_movies",
    "movie_similarities",
    "quizzes",
    "quiz_questions",
    "quiz_attempts",
    "talent_profiles",
    "casting_calls",
    "casting_applications",
    "content_reports",
    "moderation_actions",
    "user_roles",
    "user_bans",
    "audit_log",
)

UPSERT_KEY = "external_id"


@dataclass(frozen=True)
class UniqueKey:
    """A primary key, unique constraint or unique index of the table.

    ``where`` is a partial unique index's condition, over the table's columns: the key holds
    among the rows that meet it only (``user_roles``: a role is held once at a time, revoked
    grants stay as history).
    """

    name: str
    columns: tuple[str, ...]
    nulls_distinct: bool = True
    where: ColumnElement[bool] | None = None

    def condition(self, table: Table) -> list[ColumnElement[bool]]:
        """``where`` over the same-named columns of ``table`` (the target or a staging table
        like it), as a list to unpack into ``.where(...)``: empty for a key over every row."""
        if self.where is None:
            return []

        def swap(element: Any, **_: Any) -> Any:
            if isinstance(element, ColumnClause):
                return table.c[element.name]
            return None

        rebound: ColumnElement[bool] = replacement_traverse(self.where, {}, swap)
        return [rebound]


@dataclass(frozen=True)
class TableSpec:
    """An importable table: its columns, keys and references, read from the model."""

    table: Table
    columns: dict[str, ColumnSpec]
    serial: str | None
    unique_keys: tuple[UniqueKey, ...]
    # Constraint name in the database → the columns it concerns, for naming the column of an
    # error only the database found.
    constraint_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Constraint name in the database → what a row must satisfy, in words (the row checks).
    constraint_reasons: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def upsertable(self) -> bool:
        return UPSERT_KEY in self.columns

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(name for name, column in self.columns.items() if column.required)


def _kind(table: str, column: Any) -> tuple[Kind, int | None]:
    sql_type = column.type
    if isinstance(sql_type, BigInteger):
        return Kind.BIGINT, None
    if isinstance(sql_type, Integer):
        return Kind.INTEGER, None
    if isinstance(sql_type, Float):
        return Kind.FLOAT, None
    if isinstance(sql_type, Boolean):
        return Kind.BOOLEAN, None
    if isinstance(sql_type, DateTime):
        return Kind.TIMESTAMP, None
    if isinstance(sql_type, Date):
        return Kind.DATE, None
    if isinstance(sql_type, JSONB) or (table, column.name) in JSON_SHAPES:
        return Kind.JSON, None
    if isinstance(sql_type, String):
        return Kind.STRING, sql_type.length
    raise TypeError(f"{table}.{column.name}: the importer has no converter for {sql_type!r}")


def _build(table: Table) -> TableSpec:
    checks = CHECK_RULES.get(table.name, {})
    rules_by_column: dict[str, list[Rule]] = {}
    constraint_columns: dict[str, tuple[str, ...]] = {}
    for short_name, (column_name, rule) in checks.items():
        rules_by_column.setdefault(column_name, []).append(rule)
        constraint_columns[f"ck_{table.name}_{short_name}"] = (column_name,)
    constraint_reasons: dict[str, str] = {}
    row_checks: dict[str, RowCheck] = ROW_CHECKS.get(table.name, {})
    for short_name, row_check in row_checks.items():
        constraint_columns[f"ck_{table.name}_{short_name}"] = row_check.columns
        constraint_reasons[f"ck_{table.name}_{short_name}"] = row_check.meaning
    serial = table.autoincrement_column.name if table.autoincrement_column is not None else None
    columns: dict[str, ColumnSpec] = {}
    for column in table.columns:
        kind, length = _kind(table.name, column)
        shape = JSON_SHAPES.get((table.name, column.name))
        columns[column.name] = ColumnSpec(
            name=column.name,
            kind=kind,
            # The serial id is left to the database unless the file gives it.
            required=not column.nullable
            and column.server_default is None
            and column.name != serial,
            length=length,
            shape=shape,
            jsonb=isinstance(column.type, JSONB),
            rules=tuple(rules_by_column.get(column.name, ())),
        )
    keys = [UniqueKey(str(table.primary_key.name), tuple(table.primary_key.columns.keys()))]
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            nulls_not_distinct = constraint.dialect_options["postgresql"]["nulls_not_distinct"]
            keys.append(
                UniqueKey(
                    str(constraint.name),
                    tuple(constraint.columns.keys()),
                    nulls_distinct=not nulls_not_distinct,
                )
            )
    for index in table.indexes:
        if index.unique:
            where = index.dialect_options["postgresql"]["where"]
            keys.append(
                UniqueKey(str(index.name), tuple(c.name for c in index.columns), where=where)
            )
    for key in keys:
        constraint_columns[key.name] = key.columns
    for fk in table.foreign_keys:
        if fk.constraint is not None:
            constraint_columns[str(fk.constraint.name)] = (fk.parent.name,)
    return TableSpec(
        table=table,
        columns=columns,
        serial=serial,
        unique_keys=tuple(keys),
        constraint_columns=constraint_columns,
        constraint_reasons=constraint_reasons,
    )


_SPECS: dict[str, TableSpec] = {}


def table_spec(name: str) -> TableSpec:
    """The spec of an importable table; ``KeyError`` for any other name."""
    if name not in IMPORTABLE_TABLES:
        raise KeyError(name)
    if name not in _SPECS:
        _SPECS[name] = _build(Base.metadata.tables[name])
    return _SPECS[name]


# A reject file re-imported after fixing carries these columns; they are neither data nor
# unknown. _raw holds the text of a CSV row whose fields did not match the header.
ERROR_FIELD = "_error"
RAW_FIELD = "_raw"


def normalise(field_name: str) -> str:
    """A file's column name as matched against the schema: trimmed, lower case."""
    return field_name.strip().lower()


@dataclass
class ColumnMap:
    """How the fields of a file map to the table's columns, learnt as fields are seen."""

    spec: TableSpec
    columns: dict[str, ColumnSpec | None] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    def resolve(self, field_name: str) -> ColumnSpec | None:
        """The column a field fills, or ``None`` (unknown fields are remembered)."""
        if field_name not in self.columns:
            column = self.spec.columns.get(normalise(field_name))
            self.columns[field_name] = column
            if column is None and field_name not in (ERROR_FIELD, RAW_FIELD):
                self.unknown.append(field_name)
        return self.columns[field_name]

    def present(self) -> set[str]:
        """The table columns some field of the file fills."""
        return {column.name for column in self.columns.values() if column is not None}

    def duplicates(self, field_names: Iterable[str]) -> dict[str, list[str]]:
        """Columns filled by more than one of ``field_names`` ("Title" and "title")."""
        seen: dict[str, list[str]] = {}
        for field_name in field_names:
            column = self.resolve(field_name)
            if column is not None:
                seen.setdefault(column.name, []).append(field_name)
        return {name: names for name, names in seen.items() if len(names) > 1}


@dataclass(frozen=True)
class Problem:
    """One value a row could not use: column, the value as shown, and why."""

    column: str | None
    value: str | None
    reason: str


def convert_record(
    column_map: ColumnMap,
    values: Mapping[str, Any],
    *,
    require_all: bool = True,
) -> tuple[dict[str, Any], list[Problem]]:
    """Convert one record's fields; return the column values and every problem found.

    ``require_all=False`` lets a record leave out required columns (an upsert's update needs
    only the key and what changes); an empty value in a required column is still refused.
    """
    out: dict[str, Any] = {}
    problems: list[Problem] = []
    for field_name, value in values.items():
        column = column_map.resolve(field_name)
        if column is None:
            continue
        if column.name in out:
            problems.append(Problem(column.name, None, "given twice (fields differ in case)"))
            continue
        try:
            out[column.name] = column.convert(value)
        except BadValue as exc:
            out[column.name] = None
            problems.append(Problem(column.name, show(value), str(exc)))
    for name in column_map.spec.required if require_all else ():
        if name not in out:
            problems.append(Problem(name, None, "required (NOT NULL, no default) but missing"))
    return out, problems
