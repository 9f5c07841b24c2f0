"""The ``iwm-lab`` command: parses, calls the library, formats. Errors become one line."""

from __future__ import annotations

import logging
import sys
from datetime import date
from typing import Any

import click
from sqlalchemy import Engine

from iwm_lab import migrate
from iwm_lab.database import database_url, get_engine
from iwm_lab.exceptions import IwmLabError
from iwm_lab.settings import get_settings


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IwmLabError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


def _writable_engine() -> Engine:
    return get_engine(database_url(), writable=True)


def _server() -> Any:
    from iwm_lab.server import EmbeddedServer

    settings = get_settings()
    if not settings.uses_embedded_server:
        raise IwmLabError(
            "IWM_DATABASE_URL is set, so the embedded server is not in use; "
            "unset it to manage the embedded server"
        )
    return EmbeddedServer(settings)


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Show progress messages of migrations.")
def cli(verbose: bool) -> None:
    """iwm-lab: the analysts' workbench for the iwm database."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(message)s", stream=sys.stderr
    )


@cli.group()
def db() -> None:
    """Manage the database: embedded server, migrations, partitions."""


@db.command()
@click.option("--port", type=click.IntRange(1, 65535), help="Also listen on 127.0.0.1:PORT.")
def start(port: int | None) -> None:
    """Start the embedded PostgreSQL 16 server (initialising it on first use)."""
    click.echo(_server().start(port=port).describe())


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
def url() -> None:
    """Print the database URL (never with a password)."""
    settings = get_settings()
    target = settings.database_url or _server().url()
    click.echo(target.render_as_string(hide_password=True))


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the database to REVISION (default: head)."""
    engine = _writable_engine()
    at = migrate.upgrade(engine, revision)
    click.echo(f"database at revision {at}")
    if migrate.schedule_trending_refresh(engine):
        click.echo("pg_cron: trending topics refresh scheduled daily")
    else:
        click.echo("pg_cron not available on this server: trending refresh not scheduled")


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Downgrade the database to REVISION (``base`` removes everything)."""
    at = migrate.downgrade(_writable_engine(), revision)
    click.echo(f"database at revision {at or 'base'}")


@db.command()
def current() -> None:
    """Print the database's revision and the head revision."""
    engine = get_engine(database_url())
    click.echo(f"current: {migrate.current_revision(engine) or '(none)'}")
    click.echo(f"head:    {migrate.head_revision()}")


@db.command()
def check() -> None:
    """Compare models and live database; exit non-zero listing every difference."""
    migrate.check(get_engine(database_url()))
    click.echo("database matches the models and is at the head revision")


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
    created = migrate.ensure_partitions(_writable_engine(), through)
    click.echo(
        f"created {len(created)} partition(s)" + (": " + ", ".join(created) if created else "")
    )


@cli.command()
def demo() -> None:
    """Embedded server, migrations and checks in one go; then where to look next."""
    from iwm_lab.demo import run_demo

    result = run_demo(report=lambda step: click.echo(f"-> {step}", err=True))
    click.echo(f"database {result.url} at revision {result.revision}; schema checked")
    click.echo(result.row_counts.to_string(index=False))
    click.echo("next: jupyter lab notebooks/   (or: iwm-lab db status)")


def main() -> None:
    cli(prog_name="iwm-lab")
