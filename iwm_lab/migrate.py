"""Migration helpers: typed functions over Alembic, used by the CLI, the tests and the seeder.

:func:`require_head` is the one check that a database is at the head revision: readers
(``connect()``, ``iwm_lab.sql()``, ``iwm-lab lab``) ask it once per process and URL, the report
runner and the seeder every time.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from iwm_lab.database import check_connection, describe_url, scrub
from iwm_lab.destructive import Confirm, Loss, count_rows, user_tables
from iwm_lab.exceptions import MigrationError, SchemaDriftError, SchemaNotReady
from iwm_lab.settings import MIGRATIONS_DIR

log = logging.getLogger(__name__)

# Filled by the migrations and the refreshes themselves (the refresh records, the change log,
# the rollups stored as tables and their histogram) and rebuilt by an upgrade: dropping them
# loses nothing anybody put in, so a downgrade does not ask about them.
_BOOKKEEPING = frozenset(
    {
        "rollup_refreshes",
        "rollup_changes",
        "movie_scores",
        "pulse_hours",
        "movie_score_counts",
        "movie_review_stats",
        "pulse_tag_hours",
        "review_daily_stats",
        "score_counts",
    }
)


def comparison_options() -> dict[str, Any]:
    """Options shared by ``migrations/env.py`` and :func:`check`, so both compare alike."""
    from iwm_lab.models import include_object

    return {"include_object": include_object, "compare_type": True, "compare_server_default": True}


def alembic_config() -> Config:
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise MigrationError(
            f"migrations not found in {MIGRATIONS_DIR}: install iwm-lab from its repository "
            "(pip install -e .)"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise MigrationError("the migrations folder holds no revision")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    check_connection(engine)
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@cache
def _revisions() -> tuple[str, frozenset[str]]:
    """The head revision and every revision the migrations folder holds."""
    script = ScriptDirectory.from_config(alembic_config())
    return head_revision(), frozenset(r.revision for r in script.walk_revisions())


# Databases (by URL) this process found at the head revision.
_AT_HEAD: set[str] = set()


def require_head(engine: Engine, *, cached: bool = True) -> str:
    """The head revision, when ``engine``'s database is at it; otherwise
    :class:`~iwm_lab.exceptions.SchemaNotReady`, one line saying what to run
    (:class:`~iwm_lab.exceptions.DatabaseUnavailable` when it does not answer).

    ``cached``: a database found at head is not asked again in this process (a database does
    not fall behind while a notebook runs, and each of its calls would pay a round trip).
    Pass ``cached=False`` where the revision must be the live one: a report run, a seed.
    """
    key = engine.url.render_as_string(hide_password=False)
    head, known = _revisions()
    if cached and key in _AT_HEAD:
        return head
    check_connection(engine)
    where = describe_url(engine.url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise SchemaNotReady(
            f"cannot read the revision of {where}: {scrub(reason, engine.url)}"
        ) from None
    if current == (head,):
        _AT_HEAD.add(key)
        return head
    _AT_HEAD.discard(key)
    if not current:
        raise SchemaNotReady(
            f"{where} holds no iwm-lab schema (never migrated): run `iwm-lab db upgrade`"
        )
    shown = ", ".join(current)
    if not set(current) <= known:
        raise SchemaNotReady(
            f"{where} is at revision {shown}, which this iwm-lab does not know (a newer version "
            "migrated it?): update iwm-lab, or run `iwm-lab db upgrade` with the one that did"
        )
    raise SchemaNotReady(
        f"{where} is at revision {shown}, behind the head revision {head}: run `iwm-lab db upgrade`"
    )


def _refuse_unversioned(engine: Engine) -> None:
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    if tables and "alembic_version" not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise MigrationError(
            f"{describe_url(engine.url)} already has tables ({shown}) but no Alembic version: "
            "it was not created by iwm-lab's migrations, and upgrading it could clash with or "
            "damage them. Use an empty database, or, if the schema is known to match revision "
            "REV, record that with `alembic stamp REV` first."
        )


def _run(engine: Engine, fn: Any, revision: str) -> None:
    config = alembic_config()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            fn(config, revision)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise MigrationError(f"migration to {revision} failed: {reason}") from None
    except CommandError as exc:
        raise MigrationError(str(exc)) from None


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade to ``revision``; return the revision the database is at afterwards."""
    check_connection(engine)
    _refuse_unversioned(engine)
    _run(engine, command.upgrade, revision)
    return current_revision(engine)


def downgrade(engine: Engine, revision: str, *, confirm: Confirm | None = None) -> str | None:
    """Downgrade to ``revision`` (``base`` drops everything); return the revision afterwards.

    When the downgrade drops tables that hold rows, ``confirm`` (if given) is called with the
    :class:`~iwm_lab.destructive.Loss` (those tables and their exact row counts) after the
    downgrade ran and before it commits, so what it lists is exactly what goes; raising
    from it rolls everything back. ``iwm-lab db downgrade`` asks through it.
    """
    check_connection(engine)
    config = alembic_config()
    try:
        with engine.connect() as conn, conn.begin():
            before = count_rows(conn, [t for t in user_tables(conn) if t not in _BOOKKEEPING])
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
            remaining = set(user_tables(conn))
            dropped = tuple(t for t in before if t.table not in remaining)
            if dropped and confirm is not None:
                confirm(Loss(f"downgrade to {revision}", describe_url(engine.url), dropped))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise MigrationError(f"migration to {revision} failed: {reason}") from None
    except CommandError as exc:
        raise MigrationError(str(exc)) from None
    return current_revision(engine)


def _render(value: Any) -> str:
    if isinstance(value, TypeEngine):
        return str(value.compile(dialect=postgresql.dialect()))
    if hasattr(value, "arg"):  # a server default
        return repr(str(getattr(value.arg, "text", value.arg)))
    return repr(value)


def _describe_diff(diff: Any) -> str:
    if isinstance(diff, list):
        return "; ".join(_describe_diff(d) for d in diff)
    kind = diff[0]
    if kind.startswith("modify_"):
        _, _schema, table, column, _info, old, new = diff
        what = kind.removeprefix("modify_").replace("_", " ")
        return (
            f"column {table}.{column}: {what} is {_render(old)} in the database, "
            f"{_render(new)} in the models"
        )
    obj = diff[1]
    if kind == "add_table_comment":  # (kind, table, the database's comment)
        return (
            f"table {obj.name}: comment is {_render(diff[2])} in the database, "
            f"{_render(obj.comment)} in the models"
        )
    if kind == "remove_table_comment":
        return f"table {obj.name}: comment only in the database"
    if kind in ("add_column", "remove_column"):
        table, column = diff[2], diff[3]
        where = "the database" if kind == "remove_column" else "the models"
        return f"column {table}.{column.name} only in {where}"
    where = "the database" if kind.startswith("remove_") else "the models"
    noun = kind.split("_", 1)[1].replace("_", " ")
    name = getattr(obj, "name", None) or str(obj)
    table = getattr(getattr(obj, "table", None), "name", None)
    on = f" on {table}" if table and table != name else ""
    return f"{noun} {name}{on} only in {where}"


def differences(engine: Engine) -> list[str]:
    """Every difference between the models and the live database, and revision vs head; for a
    migrated database also the CHECK constraints, rollups (views and tables) and their
    indexes, the change-log triggers (missing or disabled), functions and extensions the
    migrations create (:data:`HEAD_OBJECTS`), which Alembic does not compare."""
    from iwm_lab.models import Base

    check_connection(engine)
    found: list[str] = []
    head = head_revision()
    current = current_revision(engine)
    if current != head:
        found.append(f"database is at revision {current or '(none)'}, head is {head}")
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts=comparison_options())
        found.extend(_describe_diff(d) for d in compare_metadata(ctx, Base.metadata))
        if current is not None:
            found.extend(_owned_differences(conn))
    return found


# What the migrations create at head that Alembic's compare_metadata does not look at: CHECK
# constraints, the rollups (materialized views, and the tables without a model: rollups stored
# as tables, their change log and records) and their indexes, functions, the triggers that log
# the rollups' changes, extensions.
# Recorded from a database at head by write_head_objects(); tests/test_migrations.py fails
# when a migration changes any of them and this file was not rewritten.
HEAD_OBJECTS = MIGRATIONS_DIR / "head_objects.json"

_OWNED_QUERIES: dict[str, str] = {
    # Partitions inherit their parent's checks and come and go with iwm_ensure_partitions.
    "check constraint": """
        select con.conname || ' on ' || rel.relname, pg_get_constraintdef(con.oid)
        from pg_constraint con join pg_class rel on rel.oid = con.conrelid
        where con.contype = 'c' and rel.relnamespace = current_schema()::regnamespace
          and not rel.relispartition
    """,
    "materialized view": """
        select c.relname, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod),
                                     ', ' order by a.attnum)
        from pg_class c join pg_attribute a on a.attrelid = c.oid
        where c.relkind = 'm' and c.relnamespace = current_schema()::regnamespace
          and a.attnum > 0 and not a.attisdropped
        group by c.relname
    """,
    # Tables without a model (models.is_unmodelled_table, applied to the third column): the
    # rollups stored as tables, the change log, the refresh records.
    "table without a model": """
        select c.relname, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                     || case when a.attnotnull then ' not null' else '' end,
                                     ', ' order by a.attnum),
               c.relname
        from pg_class c join pg_attribute a on a.attrelid = c.oid
        where c.relkind = 'r' and not c.relispartition
          and c.relnamespace = current_schema()::regnamespace
          and a.attnum > 0 and not a.attisdropped
        group by c.relname
    """,
    # Indexes of the materialized views and of the tables without a model ('' in the third
    # column: a view's, always kept).
    "index": """
        select i.relname || ' on ' || t.relname, pg_get_indexdef(i.oid),
               case when t.relkind = 'm' then '' else t.relname end
        from pg_index x join pg_class i on i.oid = x.indexrelid
        join pg_class t on t.oid = x.indrelid
        where (t.relkind = 'm' or (t.relkind = 'r' and not t.relispartition))
          and t.relnamespace = current_schema()::regnamespace
    """,
    # The change-log triggers: one dropped or disabled, and the rollups miss changes.
    "trigger": """
        select t.tgname || ' on ' || c.relname,
               pg_get_triggerdef(t.oid)
               || case t.tgenabled when 'D' then ' (disabled)' else '' end
        from pg_trigger t join pg_class c on c.oid = t.tgrelid
        where not t.tgisinternal and c.relnamespace = current_schema()::regnamespace
    """,
    # Extension members (pg_trgm's functions) belong to the extension, not the migrations.
    # SECURITY DEFINER and the SET clauses (search_path) count: without them a refresh
    # function is either useless to the writer role or unsafe for its owner.
    "function": """
        select p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
               'returns ' || pg_get_function_result(p.oid) || ', body md5 ' || md5(p.prosrc)
               || case when p.prosecdef then ', security definer' else '' end
               || coalesce(', set ' || array_to_string(p.proconfig, ', set '), '')
        from pg_proc p
        where p.pronamespace = current_schema()::regnamespace
          and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass
                          and d.objid = p.oid and d.deptype = 'e')
    """,
    "extension": "select extname, extversion from pg_extension where extname <> 'plpgsql'",
}
# Extra objects of these kinds are drift too: an extra CHECK can refuse rows the app writes.
# Extra functions, views or extensions break nothing and may be a DBA's own.
_EXTRA_IS_DRIFT = frozenset({"check constraint", "index"})


def owned_objects(conn: Connection) -> dict[str, dict[str, str]]:
    """The objects :data:`HEAD_OBJECTS` records, as ``conn``'s database has them: by kind,
    name to definition (for functions, the signature to the result type, a digest of the
    body, SECURITY DEFINER and the SET clauses; for triggers, their definition and whether
    disabled; for extensions, the version is informative only)."""
    from iwm_lab.models import is_unmodelled_table

    found = {}
    for kind, sql in _OWNED_QUERIES.items():
        rows = conn.execute(text(sql)).all()
        # A third column names the table the object belongs to: kept when it has no model
        # (or is '', always kept).
        kept = [r for r in rows if len(r) < 3 or r[2] == "" or is_unmodelled_table(r[2])]
        found[kind] = dict(sorted((str(r[0]), str(r[1])) for r in kept))
    return found


def write_head_objects(engine: Engine) -> Path:
    """Record :func:`owned_objects` of ``engine``'s database, which must be at head."""
    if current_revision(engine) != head_revision():
        raise MigrationError("record the head's objects from a database at the head revision")
    with engine.connect() as conn:
        found = owned_objects(conn)
    HEAD_OBJECTS.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")
    return HEAD_OBJECTS


def _owned_differences(conn: Connection) -> list[str]:
    try:
        expected: dict[str, dict[str, str]] = json.loads(HEAD_OBJECTS.read_text())
    except (OSError, ValueError) as exc:
        raise MigrationError(f"cannot read {HEAD_OBJECTS}: {exc}") from None
    live = owned_objects(conn)
    found = []
    for kind, wanted in expected.items():
        have = live.get(kind, {})
        for name, definition in wanted.items():
            if name not in have:
                found.append(f"{kind} {name} missing from the database (the migrations create it)")
            elif kind != "extension" and have[name] != definition:
                found.append(
                    f"{kind} {name} differs: {have[name]!r} in the database, {definition!r} at head"
                )
        if kind in _EXTRA_IS_DRIFT:
            found.extend(
                f"{kind} {name} only in the database" for name in sorted(set(have) - set(wanted))
            )
    return found


def check(engine: Engine) -> None:
    """Raise :class:`SchemaDriftError` listing every difference; return quietly when none."""
    found = differences(engine)
    if found:
        raise SchemaDriftError(found)


def list_partitions(engine: Engine) -> dict[str, list[str]]:
    """Partitions of each partitioned twin, by parent table name."""
    sql = text(
        "select parent.relname, child.relname from pg_inherits "
        "join pg_class parent on parent.oid = inhparent "
        "join pg_class child on child.oid = inhrelid "
        "where parent.relname in ('reviews_partitioned', 'pulses_partitioned') "
        "order by 1, 2"
    )
    found: dict[str, list[str]] = {"reviews_partitioned": [], "pulses_partitioned": []}
    with engine.connect() as conn:
        for parent, child in conn.execute(sql):
            found[parent].append(child)
    return found


def ensure_partitions(engine: Engine, through: date) -> list[str]:
    """Create the missing yearly review and monthly pulse partitions up to ``through``.

    Idempotent; returns the names of the partitions it created.
    """
    before = list_partitions(engine)
    with engine.begin() as conn:
        conn.execute(text("select iwm_ensure_partitions(:through)"), {"through": through})
    after = list_partitions(engine)
    return sorted(
        {p for ps in after.values() for p in ps} - {p for ps in before.values() for p in ps}
    )


def schedule_refreshes(engine: Engine) -> bool:
    """Schedule the refreshes with pg_cron when the server has it: the jobs and statements
    of :func:`iwm_lab.operations.scheduled_jobs` (trending topics daily, rollups hourly).

    Returns False (and logs why) when pg_cron is not available, which is the case for the
    embedded server: run ``iwm-lab db refresh`` from cron or a systemd timer instead.
    """
    from iwm_lab.operations import scheduled_jobs  # loads pandas; migrations need it only here

    with engine.begin() as conn:
        available = conn.execute(
            text("select 1 from pg_available_extensions where name = 'pg_cron'")
        ).first()
        if available is None:
            log.info("pg_cron is not available on this server; refreshes not scheduled")
            return False
        conn.execute(text("create extension if not exists pg_cron"))
        for job in scheduled_jobs():
            conn.execute(
                text("select cron.schedule(:job, :when, :command)"),
                {"job": job.name, "when": job.cron, "command": job.sql},
            )
    return True
