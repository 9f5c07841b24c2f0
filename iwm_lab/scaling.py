"""The schema on Citus (distributed PostgreSQL), on paper and checked against the catalog.

:data:`PLAN` says where each relation of the migrated schema would go on a Citus cluster:

- **reference** tables, small and joined everywhere, copied whole to every node;
- **distributed** tables, hash-sharded by a distribution column, in a colocation group whose
  tables keep the rows of one key on one node, so that their joins on that key stay local;
- **local** relations, kept on the coordinator only: the bookkeeping of migrations and
  refreshes, and the rollups (a materialized view over distributed tables is stored there).

``docs/scaling.md`` gives the reasons, and how rollups and the trending refresh run there.

:func:`citus_blockers` reads a migrated database's catalog (``pg_catalog`` only; no Citus
needed) and lists every constraint that would make ``create_distributed_table`` or
``create_reference_table`` refuse a table under the plan, each with its fix.
:func:`plan_differences` checks that the plan and the catalog name the same relations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, text

from iwm_lab.rollups import ROLLUP_STATE_TABLES, ROLLUPS


class Placement(StrEnum):
    """Where a relation lives on a Citus cluster."""

    REFERENCE = "reference"
    DISTRIBUTED = "distributed"
    LOCAL = "local"


@dataclass(frozen=True)
class PlannedTable:
    """One relation of the plan: a distributed one names its column and colocation group."""

    name: str
    placement: Placement
    column: str | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        distributed = self.placement is Placement.DISTRIBUTED
        if distributed != (self.column is not None) or distributed != (self.group is not None):
            raise ValueError(
                f"{self.name}: a distributed table names its column and colocation group, "
                "any other none"
            )


def _reference(*names: str) -> list[PlannedTable]:
    return [PlannedTable(name, Placement.REFERENCE) for name in names]


def _group(group: str, *tables: tuple[str, str]) -> list[PlannedTable]:
    return [PlannedTable(name, Placement.DISTRIBUTED, column, group) for name, column in tables]


def _local(*names: str) -> list[PlannedTable]:
    return [PlannedTable(name, Placement.LOCAL) for name in names]


# The first table of a group is its anchor: the others are colocated with it, and its
# distribution column's type is the group's.
PLAN: tuple[PlannedTable, ...] = (
    *_reference("genres", "people", "streaming_platforms", "trending_topics"),
    # Migration 0008: the small tables, and those whose user or movie column may be NULL.
    *_reference(
        "award_bodies",
        "award_ceremonies",
        "award_categories",
        "award_nominations",
        "festivals",
        "festival_editions",
        "curated_lists",
        "featured_rails",
        "quizzes",
        "quiz_questions",
        "talent_profiles",
        "casting_calls",
        "casting_applications",
        "content_reports",
        "moderation_actions",
    ),
    *_group(
        "movie",
        ("movies", "id"),
        ("movie_genres", "movie_id"),
        ("movie_people", "movie_id"),
        ("scenes", "movie_id"),
        ("movie_streaming_options", "movie_id"),
        ("reviews", "movie_id"),
        ("reviews_partitioned", "movie_id"),
        ("festival_selections", "movie_id"),
        ("box_office_grosses", "movie_id"),
        ("curated_list_movies", "movie_id"),
        ("featured_rail_movies", "movie_id"),
        ("movie_similarities", "movie_id"),
    ),
    *_group(
        "user",
        ("users", "id"),
        ("collections", "user_id"),
        ("collection_movies", "user_id"),
        ("watchlist", "user_id"),
        ("favorites", "user_id"),
        ("pulses", "user_id"),
        ("pulses_partitioned", "user_id"),
        ("user_follows", "follower_id"),
        ("quiz_attempts", "user_id"),
        ("user_roles", "user_id"),
        ("user_bans", "user_id"),
    ),
    # Append-only; its actor is NULL for the platform's own acts, or set NULL with the account.
    *_group("audit", ("audit_log", "id")),
    *_local("alembic_version", "rollup_refreshes", "trending_refreshes", *ROLLUPS),
    *_local(*ROLLUP_STATE_TABLES),
)


class BlockerKind(StrEnum):
    """Why Citus would refuse a table as planned."""

    KEY = "key-lacks-distribution-column"
    NULLABLE = "nullable-distribution-column"
    MISSING = "missing-distribution-column"
    TYPE = "distribution-type-mismatch"
    FK_REFERENCE_TO_DISTRIBUTED = "fk-reference-to-distributed"
    FK_ACROSS_GROUPS = "fk-across-colocation-groups"
    FK_OFF_DISTRIBUTION_COLUMN = "fk-off-distribution-column"
    FK_LOCAL_AND_DISTRIBUTED = "fk-local-and-distributed"
    SET_NULL = "set-null-on-distribution-column"


@dataclass(frozen=True, order=True)
class Blocker:
    """A constraint (or, for the column kinds, a column) Citus would refuse under the plan.

    ``constraint`` is the constraint's or unique index's name, or the distribution column's
    name for the kinds about the column itself; ``columns`` are the constraint's own columns
    (the column, for those kinds); ``fix`` is one sentence saying what to change.
    """

    table: str
    constraint: str
    kind: BlockerKind
    columns: tuple[str, ...]
    fix: str


@dataclass(frozen=True)
class _Key:
    table: str
    name: str
    primary: bool
    columns: tuple[str, ...]


@dataclass(frozen=True)
class _ForeignKey:
    table: str
    name: str
    columns: tuple[str, ...]
    referenced: str
    referenced_columns: tuple[str, ...]
    # pg_constraint.confdeltype: a no action, r restrict, c cascade, n set null, d set default.
    on_delete: str = "a"


# Relations of the current schema: tables, partitioned tables and materialized views.
# Partitions are left out: Citus distributes them with their parent, whose constraints they
# inherit.
_RELATIONS = text(
    """
    select c.relname
    from pg_catalog.pg_class as c
    where c.relnamespace = pg_catalog.current_schema()::regnamespace
      and c.relkind in ('r', 'p', 'm')
      and not c.relispartition
    order by c.relname
    """
)

_COLUMNS = text(
    """
    select c.relname, a.attname, a.attnotnull, pg_catalog.format_type(a.atttypid, a.atttypmod)
    from pg_catalog.pg_attribute as a
    join pg_catalog.pg_class as c on c.oid = a.attrelid
    where c.relnamespace = pg_catalog.current_schema()::regnamespace
      and c.relkind in ('r', 'p') and not c.relispartition
      and a.attnum > 0 and not a.attisdropped
    """
)

# Every unique index (primary keys and unique constraints are backed by one), with its key
# columns (INCLUDE columns and expressions left out: neither counts as containing the
# distribution column) and the constraint it backs, if any.
_KEYS = text(
    """
    select c.relname,
           coalesce(con.conname, i.relname),
           x.indisprimary,
           array(select a.attname
                 from unnest(x.indkey) with ordinality as k(attnum, n)
                 join pg_catalog.pg_attribute as a
                   on a.attrelid = x.indrelid and a.attnum = k.attnum
                 where k.n <= x.indnkeyatts
                 order by k.n)
    from pg_catalog.pg_index as x
    join pg_catalog.pg_class as c on c.oid = x.indrelid
    join pg_catalog.pg_class as i on i.oid = x.indexrelid
    left join pg_catalog.pg_constraint as con
      on con.conindid = x.indexrelid and con.conrelid = x.indrelid and con.contype in ('p', 'u')
    where x.indisunique
      and c.relnamespace = pg_catalog.current_schema()::regnamespace
      and c.relkind in ('r', 'p') and not c.relispartition
    """
)

# Foreign keys declared on the schema's tables (conparentid = 0: not the copies PostgreSQL
# makes for partitions), with their column pairs in order.
_FOREIGN_KEYS = text(
    """
    select c.relname, con.conname,
           array(select a.attname
                 from unnest(con.conkey) with ordinality as k(attnum, n)
                 join pg_catalog.pg_attribute as a
                   on a.attrelid = con.conrelid and a.attnum = k.attnum
                 order by k.n),
           r.relname,
           array(select a.attname
                 from unnest(con.confkey) with ordinality as k(attnum, n)
                 join pg_catalog.pg_attribute as a
                   on a.attrelid = con.confrelid and a.attnum = k.attnum
                 order by k.n),
           con.confdeltype
    from pg_catalog.pg_constraint as con
    join pg_catalog.pg_class as c on c.oid = con.conrelid
    join pg_catalog.pg_class as r on r.oid = con.confrelid
    where con.contype = 'f' and con.conparentid = 0
      and c.relnamespace = pg_catalog.current_schema()::regnamespace
    """
)


def planned(name: str) -> PlannedTable | None:
    """The plan's entry for relation ``name``, or None when the plan does not name it."""
    return _BY_NAME.get(name)


def plan_differences(conn: Connection, plan: Sequence[PlannedTable] = PLAN) -> list[str]:
    """Where the plan and the migrated schema disagree, one sentence each; [] when they agree.

    Every table, partitioned table and materialized view of the connection's current schema
    (partitions go with their parent) must be in ``plan`` (default :data:`PLAN`) exactly
    once, and every planned relation must exist.
    """
    differences = [
        f"{name} is planned {count} times: keep one entry in iwm_lab.scaling.PLAN"
        for name, count in Counter(t.name for t in plan).items()
        if count > 1
    ]
    existing = set(conn.execute(_RELATIONS).scalars())
    planned_names = {t.name for t in plan}
    differences += [
        f"{name} is not in the plan: add it to iwm_lab.scaling.PLAN and docs/scaling.md"
        for name in sorted(existing - planned_names)
    ]
    differences += [
        f"{name} is planned but the database has no such relation: remove it from the plan"
        for name in sorted(planned_names - existing)
    ]
    return differences


def citus_blockers(conn: Connection, plan: Sequence[PlannedTable] = PLAN) -> list[Blocker]:
    """Every constraint of the migrated schema that Citus would refuse under ``plan``, sorted.

    Read from ``pg_catalog`` of the connection's current schema; tables the plan does not
    name are left to :func:`plan_differences`. The kinds (:class:`BlockerKind`):

    - a primary key, unique constraint or unique index of a distributed table without its
      distribution column (Citus enforces uniqueness within a shard only);
    - a distribution column that is nullable, missing, or of another type than the rest of
      its colocation group;
    - a foreign key from a reference table to a distributed one; between distributed tables
      of different colocation groups; between distributed tables of one group that does not
      pair the two distribution columns; between a local table and a distributed one;
    - ``ON DELETE SET NULL``/``SET DEFAULT`` on a distribution column (no row moves shard).

    Not checked, as the schema has none: a cascading key from a reference table to a local
    one (Citus refuses it).
    """
    by_name = {t.name: t for t in plan}
    columns: dict[str, dict[str, tuple[bool, str]]] = {}
    for table, column, not_null, type_name in conn.execute(_COLUMNS):
        columns.setdefault(table, {})[column] = (bool(not_null), str(type_name))
    keys = [_Key(t, n, bool(p), tuple(c)) for t, n, p, c in conn.execute(_KEYS)]
    foreign_keys = [
        _ForeignKey(t, n, tuple(c), r, tuple(rc), str(d))
        for t, n, c, r, rc, d in conn.execute(_FOREIGN_KEYS)
    ]
    found = _column_blockers(plan, columns, foreign_keys)
    primary = {key.table: key.columns for key in keys if key.primary}
    found += [
        b
        for key in keys
        if (b := _key_blocker(key, by_name.get(key.table), primary.get(key.table)))
    ]
    found += [b for fk in foreign_keys if (b := _foreign_key_blocker(fk, by_name))]
    return sorted(found)


def blockers_markdown(blockers: Iterable[Blocker]) -> str:
    """The blockers as the Markdown table docs/scaling.md keeps (header included)."""
    lines = ["| Table | Constraint | Kind | Fix |", "|---|---|---|---|"]
    lines += [f"| {b.table} | {b.constraint} | {b.kind} | {b.fix} |" for b in blockers]
    return "\n".join(lines)


def plan_markdown_rows(plan: Iterable[PlannedTable] = PLAN) -> list[tuple[str, str, str, str]]:
    """(table, placement, distribution column, colocation group) of each entry, "—" for none:
    the first four cells of each row of the plan's table in docs/scaling.md."""
    return [(t.name, str(t.placement), t.column or "—", t.group or "—") for t in plan]


# --- The checks -------------------------------------------------------------------------------


def _column_blockers(
    plan: Sequence[PlannedTable],
    columns: dict[str, dict[str, tuple[bool, str]]],
    foreign_keys: Sequence[_ForeignKey],
) -> list[Blocker]:
    found: list[Blocker] = []
    group_types: dict[str, str] = {}
    for entry in plan:
        if entry.column is None or entry.group is None or entry.name not in columns:
            continue
        column = columns[entry.name].get(entry.column)
        if column is None:
            found.append(
                Blocker(
                    entry.name,
                    entry.column,
                    BlockerKind.MISSING,
                    (entry.column,),
                    _missing_fix(entry, plan, foreign_keys),
                )
            )
            continue
        not_null, type_name = column
        if not not_null:
            found.append(
                Blocker(
                    entry.name,
                    entry.column,
                    BlockerKind.NULLABLE,
                    (entry.column,),
                    f"ALTER TABLE {entry.name} ALTER {entry.column} SET NOT NULL: Citus places "
                    f"each row by its {entry.column} and refuses a row without one.",
                )
            )
        anchor_type = group_types.setdefault(entry.group, type_name)
        if type_name != anchor_type:
            found.append(
                Blocker(
                    entry.name,
                    entry.column,
                    BlockerKind.TYPE,
                    (entry.column,),
                    f"Make {entry.name}.{entry.column} {anchor_type}, the type the "
                    f"{entry.group} group is distributed by: colocated tables share one "
                    f"type (it is {type_name}).",
                )
            )
    return found


def _missing_fix(
    entry: PlannedTable, plan: Sequence[PlannedTable], foreign_keys: Sequence[_ForeignKey]
) -> str:
    # The value is the parent's: a table of the same group that these rows reference.
    group = {t.name: t for t in plan if t.group == entry.group}
    for fk in foreign_keys:
        parent = group.get(fk.referenced)
        if fk.table == entry.name and parent is not None and parent.name != entry.name:
            return (
                f"Add {entry.column} NOT NULL, copied from {parent.name}.{parent.column} "
                f"through {', '.join(fk.columns)}, and lead its keys with it."
            )
    return f"Add {entry.column} NOT NULL and lead its keys with it."


def _key_blocker(
    key: _Key, entry: PlannedTable | None, primary: tuple[str, ...] | None
) -> Blocker | None:
    if entry is None or entry.column is None or entry.column in key.columns:
        return None
    # An index on expressions only has no plain column to name.
    listed = ", ".join(key.columns) or "its expressions"
    first = key.columns[0] if key.columns else "its value"
    if key.primary:
        fix = f"Make it PRIMARY KEY ({entry.column}, {listed})."
    elif primary == (entry.column,):
        # Widened by a column that is unique on its own, the key would check nothing.
        fix = (
            f"Citus checks uniqueness within a shard only, and {entry.column} is unique on "
            f"its own: keep {listed} unique in a lookup table distributed by {first}."
        )
    else:
        fix = (
            f"Citus checks uniqueness within a shard only: widen it to ({entry.column}, "
            f"{listed}), unique per {entry.column}, or keep {listed} unique in a lookup table "
            f"distributed by {first}."
        )
    return Blocker(key.table, key.name, BlockerKind.KEY, key.columns, fix)


def _foreign_key_blocker(fk: _ForeignKey, by_name: dict[str, PlannedTable]) -> Blocker | None:
    source, target = by_name.get(fk.table), by_name.get(fk.referenced)
    if source is None or target is None:
        return None
    listed = ", ".join(fk.columns)

    def blocker(kind: BlockerKind, fix: str) -> Blocker:
        return Blocker(fk.table, fk.name, kind, fk.columns, fix)

    places = {source.placement, target.placement}
    if Placement.DISTRIBUTED not in places:
        return None  # local and reference tables reference each other freely
    if fk.on_delete in ("n", "d") and source.column in fk.columns:
        # The deletion would change the column that places the row.
        return blocker(
            BlockerKind.SET_NULL,
            f"Citus refuses ON DELETE SET NULL or SET DEFAULT on the distribution column "
            f"{source.column}: distribute {fk.table} by another column, or make the key "
            "ON DELETE CASCADE.",
        )
    if source.placement is Placement.REFERENCE:
        return blocker(
            BlockerKind.FK_REFERENCE_TO_DISTRIBUTED,
            f"A reference table cannot reference a distributed one: drop the key and check "
            f"{listed} on write, or distribute {fk.table} in the {target.group} group.",
        )
    if Placement.LOCAL in places:
        local = fk.table if source.placement is Placement.LOCAL else fk.referenced
        return blocker(
            BlockerKind.FK_LOCAL_AND_DISTRIBUTED,
            f"Citus keeps no key between a local and a distributed table: drop it and check "
            f"{listed} on write, or make {local} a reference table.",
        )
    if target.placement is Placement.REFERENCE:
        return None  # a distributed table may reference a reference table on any column
    if source.group != target.group:
        return blocker(
            BlockerKind.FK_ACROSS_GROUPS,
            f"{fk.table} ({source.group}) and {fk.referenced} ({target.group}) are sharded "
            f"apart: drop the key and check {listed} on write (iwm-lab import already "
            "checks references in its staging table).",
        )
    pairs = set(zip(fk.columns, fk.referenced_columns, strict=True))
    if (source.column, target.column) in pairs:
        return None
    if fk.referenced_columns == (target.column,):
        fix = (
            f"{listed} points at another {fk.referenced} row, placed by its own "
            f"{target.column} on another shard: drop the key and check {listed} on write."
        )
    else:
        referenced = ", ".join(fk.referenced_columns)
        fix = (
            f"Make it FOREIGN KEY ({source.column}, {listed}) REFERENCES {fk.referenced} "
            f"({target.column}, {referenced}), the pair the widened primary key of "
            f"{fk.referenced} holds."
        )
    return blocker(BlockerKind.FK_OFF_DISTRIBUTION_COLUMN, fix)


_BY_NAME: dict[str, PlannedTable] = {t.name: t for t in PLAN}

__all__ = [
    "PLAN",
    "Blocker",
    "BlockerKind",
    "Placement",
    "PlannedTable",
    "blockers_markdown",
    "citus_blockers",
    "plan_differences",
    "plan_markdown_rows",
    "planned",
]
