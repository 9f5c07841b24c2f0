"""Migration helpers: typed functions over Alembic, used by the CLI, the tests and the seeder."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, inspect, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from iwm_lab.database import check_connection, describe_url
from iwm_lab.exceptions import MigrationError, SchemaDriftError
from iwm_lab.models.values import TRENDING_WINDOWS

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


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


def downgrade(engine: Engine, revision: str) -> str | None:
    """Downgrade to ``revision`` (``base`` drops everything); return the revision afterwards."""
    check_connection(engine)
    _run(engine, command.downgrade, revision)
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
    """Every difference between the models and the live database, and revision vs head."""
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
    """Schedule the refreshes with pg_cron when the server has it: ``refresh_trending_topics``
    daily and the rollups (:mod:`iwm_lab.rollups`) hourly.

    Returns False (and logs why) when pg_cron is not available, which is the case for the
    embedded server: run ``iwm-lab db refresh`` from cron or a systemd timer instead.
    """
    with engine.begin() as conn:
        available = conn.execute(
            text("select 1 from pg_available_extensions where name = 'pg_cron'")
        ).first()
        if available is None:
            log.info("pg_cron is not available on this server; refreshes not scheduled")
            return False
        conn.execute(text("create extension if not exists pg_cron"))
        jobs = {
            f"iwm-refresh-trending-{window}": (
                "0 0 * * *",
                f"select refresh_trending_topics('{window}')",
            )
            for window in TRENDING_WINDOWS
        }
        jobs["iwm-refresh-rollups"] = (
            "5 * * * *",
            "select iwm_refresh_rollup(name) from rollup_refreshes order by name",
        )
        for job, (when, command) in jobs.items():
            conn.execute(
                text("select cron.schedule(:job, :when, :command)"),
                {"job": job, "when": when, "command": command},
            )
    return True
