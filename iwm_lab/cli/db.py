"""``iwm-lab db``: the embedded server, its standby, roles, migrations, docs, refreshes and
partitions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import click

from iwm_lab.cli._base import _LazyChoice, _writable_engine, _writer_engine, cli
from iwm_lab.exceptions import IwmLabError
from iwm_lab.settings import get_settings


def _server() -> Any:
    from iwm_lab.server import EmbeddedServer, is_embedded

    settings = get_settings()
    # A URL reading the embedded server and its standby still names the embedded server.
    url = settings.database_url
    if not settings.uses_embedded_server and not (url is not None and is_embedded(url)):
        raise IwmLabError(
            "IWM_DATABASE_URL is set, so the embedded server is not in use; "
            "unset it to manage the embedded server"
        )
    return EmbeddedServer(settings)


@cli.group()
def db() -> None:
    """Manage the database: embedded server, migrations, partitions."""


@db.command()
@click.option("--port", type=click.IntRange(1, 65535), help="Also listen on 127.0.0.1:PORT.")
@click.option("--yes", is_flag=True, help="With --port: end open sessions without asking.")
def start(port: int | None, yes: bool) -> None:
    """Start the embedded PostgreSQL 16 server (initialising it on first use).

    With --port on a running server that does not listen there, restarts it in place (same
    data, socket and roles); the open sessions that would end are listed first, and it
    proceeds only with --yes or a "y" on a terminal.
    """
    from iwm_lab.destructive import confirm_interruption

    status = _server().start(port=port, confirm=confirm_interruption(yes))
    click.echo(status.describe())


@db.command()
def stop() -> None:
    """Stop the embedded server."""
    was_running = _server().stop()
    click.echo("stopped" if was_running else "not running")


@db.command()
def status() -> None:
    """Say whether the embedded server runs, its version, data folder and URL."""
    click.echo(_server().status().describe())


@db.command()
@click.option(
    "--role",
    type=click.Choice(["owner", "writer", "analyst"]),
    default="owner",
    show_default=True,
    help="Embedded server: the role the URL logs in as (read-only engines use analyst).",
)
def url(role: str) -> None:
    """Print the database URL (never with a password)."""
    from iwm_lab import roles

    settings = get_settings()
    names = {"owner": "iwm", "writer": roles.WRITER_ROLE, "analyst": roles.ANALYST_ROLE}
    target = settings.database_url or _server().url(role=names[role])
    click.echo(target.render_as_string(hide_password=True))


@db.group("standby")
def standby_group() -> None:
    """A hot standby of the embedded server: a streaming replica to read from."""


@standby_group.command("start")
@click.option("--port", type=click.IntRange(1, 65535), help="Also listen on 127.0.0.1:PORT.")
def standby_start(port: int | None) -> None:
    """Start the standby, first copying the embedded server into the data folder when there
    is none (pg_basebackup through the replication slot iwm_standby); print its status and
    the URL that reads from it (IWM_DATABASE_URL)."""
    from iwm_lab.standby import start_standby

    status = start_standby(port=port, progress=lambda message: click.echo(message, err=True))
    click.echo(status.describe())


@standby_group.command("stop")
@click.option(
    "--drop",
    is_flag=True,
    help="Also delete the standby's folder and its replication slot, after listing them.",
)
@click.option("--yes", is_flag=True, help="With --drop: delete without asking.")
def standby_stop(drop: bool, yes: bool) -> None:
    """Stop the standby; it catches up when started again, since the primary keeps its WAL.

    With --drop, also delete its folder, log and slot (the primary then stops keeping WAL
    for it), listed first; it proceeds only with --yes or a "y" on a terminal.
    """
    from iwm_lab.destructive import confirm_deletion
    from iwm_lab.standby import stop_standby

    done = stop_standby(drop=drop, confirm=confirm_deletion(yes))
    click.echo("stopped" if done.was_running else "not running")
    for item in done.removed:
        click.echo(f"deleted {item}")


@standby_group.command("status")
def standby_status() -> None:
    """Say whether the standby runs, is in recovery and streams, its lag behind the primary
    (bytes and seconds), its slot, and its URLs (never a password)."""
    from iwm_lab.standby import standby_status as status_of

    click.echo(status_of().describe())


@db.command("roles")
@click.option("--apply", "apply_", is_flag=True, help="Run the statements on the database.")
def roles_command(apply_: bool) -> None:
    """Print the GRANTs of the least-privilege roles (analyst, writer) for a DBA.

    With --apply, run them on the current database as the URL's role (which needs CREATEROLE
    and the right to grant on the schema). The embedded server gets them at every start.
    """
    from sqlalchemy.engine import URL

    from iwm_lab import roles
    from iwm_lab.database import database_url, get_engine

    settings = get_settings()
    timeout = settings.statement_timeout_ms
    if not apply_:
        # Printing needs no server: the embedded one's database and owner are both iwm.
        target = settings.database_url or URL.create("postgresql", "iwm", database="iwm")
        database, owner = target.database or "iwm", target.username or "iwm"
        click.echo(roles.script(database, owner, statement_timeout_ms=timeout))
        return
    engine = get_engine(database_url(), writable=True)
    try:
        done = roles.apply(engine, statement_timeout_ms=timeout)
    finally:
        engine.dispose()
    click.echo(f"applied {len(done)} statements: roles {roles.ANALYST_ROLE}, {roles.WRITER_ROLE}")


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the database to REVISION (default: head)."""
    from iwm_lab import migrate

    engine = _writable_engine()
    at = migrate.upgrade(engine, revision)
    click.echo(f"database at revision {at}")
    if migrate.schedule_refreshes(engine):
        click.echo("pg_cron: trending topics refresh scheduled daily, rollups hourly")
    else:
        click.echo(
            "pg_cron not available on this server: refreshes not scheduled "
            "(run `iwm-lab db refresh` from cron or a systemd timer)"
        )


@db.command()
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Drop tables that hold rows without asking.")
def downgrade(revision: str, yes: bool) -> None:
    """Downgrade the database to REVISION (``base`` removes everything).

    When tables that hold rows would be dropped, lists them with their row counts and
    proceeds only with --yes or a "y" on a terminal.
    """
    from iwm_lab import migrate
    from iwm_lab.destructive import confirm_loss

    at = migrate.downgrade(_writable_engine(), revision, confirm=confirm_loss(yes))
    click.echo(f"database at revision {at or 'base'}")


@db.command()
def current() -> None:
    """Print the database's revision and the head revision."""
    from iwm_lab import migrate
    from iwm_lab.database import database_url, get_engine

    engine = get_engine(database_url())
    click.echo(f"current: {migrate.current_revision(engine) or '(none)'}")
    click.echo(f"head:    {migrate.head_revision()}")


@db.command()
def check() -> None:
    """Compare the live database with the models and the migrations' head (CHECK constraints,
    rollups and their indexes, the change-log triggers, functions, extensions); exit non-zero
    listing every difference."""
    from iwm_lab import migrate
    from iwm_lab.database import database_url, get_engine

    migrate.check(get_engine(database_url()))
    click.echo(
        "database matches the models and the head revision's constraints, rollups, "
        "triggers, functions and extensions"
    )


@db.command()
@click.option("--check", "check_only", is_flag=True, help="Compare only; exit 1 if out of date.")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def docs(check_only: bool, path: Path | None) -> None:
    """Write the schema reference (default docs/schema.md) from the database's tables, columns
    and their descriptions; with --check, show what differs and fail instead."""
    from iwm_lab import catalog
    from iwm_lab.database import analyst_engine
    from iwm_lab.exceptions import DocsOutOfDate
    from iwm_lab.settings import SCHEMA_DOCS

    target = path or SCHEMA_DOCS
    with analyst_engine().connect() as conn:
        if check_only:
            diff = catalog.schema_docs_differences(target, conn)
            if diff:
                click.echo("\n".join(diff[:40]), err=True)
                raise DocsOutOfDate(f"{target} is out of date: run `{catalog.REGENERATE}`")
            click.echo(f"{target} is up to date")
            return
        changed = catalog.write_schema_docs(target, conn)
    click.echo(f"{'wrote' if changed else 'unchanged:'} {target}")


def _rollups() -> Sequence[str]:
    from iwm_lab.rollups import ROLLUPS

    return ROLLUPS


@db.command()
@click.argument("names", nargs=-1, type=_LazyChoice(_rollups), metavar="[ROLLUP]...")
@click.option(
    "--full",
    is_flag=True,
    help="Rebuild each rollup from its sources instead of processing only what changed.",
)
@click.option(
    "--blocking",
    is_flag=True,
    help="Rebuild without CONCURRENTLY: faster, but readers of a view wait for it.",
)
def refresh(names: tuple[str, ...], full: bool, blocking: bool) -> None:
    """Refresh the rollups the query functions read (default: all), then trending topics.

    Each rollup processes only what changed since its last refresh (and is rebuilt in full
    after a TRUNCATE of a source); --full rebuilds them all. With ROLLUP names, only those
    rollups are refreshed (and not the trending topics).
    """
    from sqlalchemy.exc import DBAPIError

    from iwm_lab import operations

    def show(step: operations.RollupRefresh | operations.TrendingRefresh) -> None:
        if isinstance(step, operations.RollupRefresh):
            how = step.mode + (f" ({step.reason})" if step.reason else "")
            click.echo(
                f"{step.name:<30} {how:<28} {step.changes:>9,} keys {step.rows:>11,} rows  "
                f"{step.seconds:7.2f}s"
            )
        else:
            click.echo(f"{'trending_topics ' + step.window:<30} {len(step.topics):>11,} rows")

    engine = _writer_engine()
    try:
        if names:
            operations.refresh_rollups(
                engine, names, concurrently=not blocking, full=full, progress=show
            )
        else:
            operations.refresh_all(engine, concurrently=not blocking, full=full, progress=show)
    except DBAPIError as exc:
        # A function or table the migrations create is gone or changed: schema drift.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise IwmLabError(
            f"refresh failed: {reason}; run `iwm-lab db check` to see what differs from the "
            "migrations"
        ) from None


def _month(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM, got {value!r}") from None


@db.command()
@click.option(
    "--through",
    required=True,
    callback=_month,
    metavar="YYYY-MM",
    help="Create partitions up to and including this month.",
)
def partitions(through: date) -> None:
    """Create the missing partitions of reviews_partitioned and pulses_partitioned."""
    from iwm_lab import migrate

    created = migrate.ensure_partitions(_writable_engine(), through)
    click.echo(
        f"created {len(created)} partition(s)" + (": " + ", ".join(created) if created else "")
    )
