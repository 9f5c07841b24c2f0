"""The ``iwm-lab`` command: parses, calls the library, formats. Errors become one line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from iwm_lab.exceptions import IwmLabError
from iwm_lab.settings import get_settings

# Each command imports what it needs (SQLAlchemy, Alembic, pandas, papermill): `--help`,
# `--version` and `report list` would otherwise wait seconds for libraries they never use.
# tests/test_cli.py checks that importing this module loads none of them.
if TYPE_CHECKING:
    from sqlalchemy import Engine

# A message from outside iwm-lab (a driver, the OS) may repeat a value as long as the input
# that caused it: a 100 KB file name must not become a 100 KB error line.
_MAX_MESSAGE = 500


def _one_line(message: str) -> str:
    from iwm_lab.database import scrub

    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    try:
        urls = [get_settings().database_url, get_settings().primary_url]
    except Exception:  # a broken setting must not hide the error being reported
        urls = []
    for url in urls:
        first = scrub(first, url)
    return first if len(first) <= _MAX_MESSAGE else f"{first[: _MAX_MESSAGE - 3]}..."


def _describe(exc: BaseException) -> str:
    """The one line a user sees for an exception that is not an :class:`IwmLabError`."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    if isinstance(exc, DBAPIError):
        # The driver's own message, not SQLAlchemy's: that one goes on with the SQL text and
        # its bound values, which may hold a user's data.
        return f"database: {_one_line(str(exc.orig) or type(exc.orig).__name__)}"
    if isinstance(exc, SQLAlchemyError):
        return f"database: {_one_line(str(exc).split('[SQL:')[0])}"
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        where = exc.filename if exc.filename is not None else ""
        return _one_line(f"{reason}: {where}" if where != "" else reason)
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to process"
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, ValueError):
        return _one_line(str(exc) or type(exc).__name__)
    return _one_line(
        f"unexpected {type(exc).__name__}: {exc} (a bug in iwm-lab; `iwm-lab -v ...` shows "
        "where it happened)"
    )


# The flag that sets each keyword argument a library refusal may name (OptionNeeded.option).
_FLAGS = {
    "allow_external": "--allow-external",
    "encoding": "--encoding",
    "force": "--force",
    "format": "--format",
    "part": "-p",
    "reject_path": "--reject-file",
    "reset": "--reset",
    "skip_bad": "--skip-bad",
    "yes": "--yes",
}


def _with_flag(exc: IwmLabError) -> str:
    """The error's message; for a refusal a flag would lift, then what to pass."""
    from iwm_lab.exceptions import OptionNeeded

    if isinstance(exc, OptionNeeded) and exc.option in _FLAGS:
        return f"{exc}; pass {_FLAGS[exc.option]} {exc.remedy}"
    return str(exc)


class _Group(click.Group):
    """The single place where an error becomes one ``error:`` line and an exit status.

    Every exception but click's own (usage errors, ``--help``, aborts) and ``SystemExit``
    ends here: an :class:`IwmLabError` with its message, anything else with one line saying
    what failed, never a traceback unless ``-v`` asked for it. Ctrl-C exits 130, SIGTERM 143.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt as exc:
            from iwm_lab.reports.signals import Terminated

            self._traceback(ctx)
            click.echo("interrupted", err=True)
            sys.exit(143 if isinstance(exc, Terminated) else 130)
        except IwmLabError as exc:
            self._traceback(ctx)
            click.echo(f"error: {_with_flag(exc)}", err=True)
            sys.exit(1)
        except Exception as exc:
            import errno

            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # click closes the streams quietly: the reader (| head) went away
            self._traceback(ctx)
            click.echo(f"error: {_describe(exc)}", err=True)
            sys.exit(1)

    @staticmethod
    def _traceback(ctx: click.Context) -> None:
        if ctx.params.get("verbose"):
            import traceback

            traceback.print_exc(file=sys.stderr)


def _writable_engine() -> Engine:
    """The owner's engine: migrations, seed and partitions change the schema."""
    from iwm_lab.database import database_url, get_engine

    return get_engine(database_url(), writable=True)


def _writer_engine() -> Engine:
    """The writer role's engine on the embedded server (rows and the refresh functions, no
    DDL): import and db refresh. With IWM_DATABASE_URL, that URL's role."""
    from iwm_lab.database import database_url, get_engine

    return get_engine(database_url(), writable=True, role="writer")


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


@click.group(cls=_Group)
@click.version_option(package_name="iwm-lab", message="%(prog)s %(version)s")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show progress messages of migrations, and the traceback of an error.",
)
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
    rollups and their indexes, functions, extensions); exit non-zero listing every difference."""
    from iwm_lab import migrate
    from iwm_lab.database import database_url, get_engine

    migrate.check(get_engine(database_url()))
    click.echo(
        "database matches the models and the head revision's constraints, rollups, "
        "functions and extensions"
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


class _LazyChoice(click.Choice[str]):
    """``click.Choice`` of names the library holds, read only when a command line is checked
    against them (or its help shown): the modules that hold them load SQLAlchemy."""

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        self._names = names
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names())

    @choices.setter
    def choices(self, _names: tuple[str, ...]) -> None:
        """``click.Choice.__init__`` stores its (empty) choices; the property supplies them."""


def _rollups() -> Sequence[str]:
    from iwm_lab.rollups import ROLLUPS

    return ROLLUPS


def _scales() -> Sequence[str]:
    from iwm_lab.demodata.scales import SCALES

    return list(SCALES)


@db.command()
@click.argument("names", nargs=-1, type=_LazyChoice(_rollups), metavar="[ROLLUP]...")
@click.option(
    "--blocking",
    is_flag=True,
    help="Rebuild without CONCURRENTLY: faster, but readers of a view wait for it.",
)
def refresh(names: tuple[str, ...], blocking: bool) -> None:
    """Refresh the rollups the query functions read (default: all), then trending topics.

    With ROLLUP names, only those rollups are refreshed (and not the trending topics).
    """
    from sqlalchemy.exc import DBAPIError

    from iwm_lab import operations

    def show(step: operations.RollupRefresh | operations.TrendingRefresh) -> None:
        if isinstance(step, operations.RollupRefresh):
            click.echo(f"{step.name:<30} {step.rows:>11,} rows  {step.seconds:7.2f}s")
        else:
            click.echo(f"{'trending_topics ' + step.window:<30} {len(step.topics):>11,} rows")

    engine = _writer_engine()
    try:
        if names:
            operations.refresh_rollups(engine, names, concurrently=not blocking, progress=show)
        else:
            operations.refresh_all(engine, concurrently=not blocking, progress=show)
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


def _as_of(value: str | None) -> datetime | None:
    """``--as-of`` of ``seed`` and ``demo``, checked before anything starts."""
    if value is None:
        return None
    from iwm_lab.demodata import check_as_of

    try:
        return check_as_of(value, "--as-of")
    except ValueError as exc:
        raise IwmLabError(str(exc)) from None


@cli.command()
@click.option(
    "--scale",
    type=_LazyChoice(_scales),
    default="small",
    show_default=True,
    help="Demo dataset to load when the database is empty.",
)
@click.option(
    "--as-of",
    metavar="DATE",
    help="Date a new load of demo data runs up to (2026-11-01, or 2026-11-01T06:00 UTC). "
    "Default: now.",
)
@click.option("--no-reports", is_flag=True, help="Stop before rendering the reports.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Reports rendered at once.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where reports go. Default: the schedule's output folder (reports/output/).",
)
def demo(scale: str, as_of: str | None, no_reports: bool, jobs: int, output: Path | None) -> None:
    """The main job: database up, migrated, checked, demo data, trending topics, reports."""
    from iwm_lab.demo import run_demo

    result = run_demo(
        scale=scale,
        as_of=_as_of(as_of),
        reports=not no_reports,
        jobs=jobs,
        output_dir=output,
        report=lambda step: click.echo(f"-> {step}", err=True),
    )
    click.echo(f"database {result.url} at revision {result.revision}; schema checked")
    click.echo(result.row_counts.to_string(index=False))
    for label, status in result.reports:
        click.echo(f"report {label}: {status}")
    click.echo("next:")
    click.echo("  iwm-lab lab                      explore the notebooks in JupyterLab")
    if result.index is not None:
        click.echo(f"  open {result.index}   the rendered reports")
    failed = [label for label, status in result.reports if status in ("failed", "error")]
    if failed:
        raise IwmLabError(f"report(s) failed: {', '.join(failed)}; see the index for details")


@cli.command("import")
@click.argument("table")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--format",
    "format_",
    metavar="FORMAT",
    help="csv, jsonl, json (an array) or parquet. Default: from FILE's extension.",
)
@click.option("--skip-bad", is_flag=True, help="Load the good rows, write the bad ones aside.")
@click.option(
    "--reject-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where bad rows go, with an _error column; written on refusal too. "
    "Default with --skip-bad: NAME.rejects.csv (.jsonl for JSON and Parquet) beside FILE.",
)
@click.option("--upsert", is_flag=True, help="Update rows whose external_id exists already.")
@click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    help="Encoding of a CSV or JSON file (a UTF-8 byte order mark is always accepted).",
)
@click.option("--force", is_flag=True, help="Replace an existing reject file.")
def import_command(
    table: str,
    file: Path,
    format_: str | None,
    skip_bad: bool,
    reject_file: Path | None,
    upsert: bool,
    encoding: str,
    force: bool,
) -> None:
    """Import FILE into TABLE: every row, or none unless --skip-bad."""
    # Imported here: the importer loads models and psycopg, which other commands do not need.
    from iwm_lab.importing import import_file

    report = import_file(
        _writer_engine(),
        table,
        file,
        format=format_,
        skip_bad=skip_bad,
        reject_path=reject_file,
        upsert=upsert,
        encoding=encoding,
        force=force,
    )
    if report.unknown_columns:
        unknown = ", ".join(report.unknown_columns)
        click.echo(f"warning: ignored unknown column(s): {unknown}", err=True)
    click.echo(report.summary())


@cli.group("report")
@click.option(
    "--schedule",
    "schedule_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Schedule file. Default: the project's reports/schedule.toml.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder. Default: the schedule's `output` (reports/output/).",
)
@click.pass_context
def report_group(ctx: click.Context, schedule_file: Path | None, output: Path | None) -> None:
    """Scheduled papermill reports: list, run, run-due, serve, history, diff, publish,
    prune, index."""
    ctx.obj = (schedule_file, output)


def _schedule() -> Any:
    from iwm_lab.reports.schedule import load_schedule

    schedule_file, output = click.get_current_context().obj
    return load_schedule(schedule_file, output.absolute() if output else None)


def _interrupted(exc: KeyboardInterrupt) -> None:
    from iwm_lab.reports.signals import Terminated

    click.echo("interrupted: the latest good output is unchanged", err=True)
    sys.exit(143 if isinstance(exc, Terminated) else 130)


def _say(message: str) -> None:
    click.echo(f"-> {message}", err=True)


@report_group.command("list")
def report_list() -> None:
    """Reports, their schedules, next due time, last run and its status."""
    from iwm_lab.reports.due import summaries
    from iwm_lab.reports.state import OUTBOX_FILE, job_dir

    schedule = _schedule()
    rows = [("REPORT", "SCHEDULE", "NEXT DUE", "LAST RUN", "STATUS")]
    for item in summaries(schedule):
        spec, last = item.job.report, item.last_run
        rows.append(
            (
                item.job.label,
                f"{spec.cron} ({spec.timezone})",
                f"{item.next_due:%Y-%m-%d %H:%M %Z}",
                last.started.replace("T", " ").replace("+00:00", " UTC") if last else "never",
                (_status_words(last.status) if last else "-")
                + (
                    " (database unreachable, will retry)"
                    if last and last.unreachable and last.slot
                    else ""
                )
                + (" (due now)" if item.due else ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())
    # The delivery machinery costs most of a second to import: only when there is an outbox.
    jobs = [job for job in schedule.jobs() if (job_dir(schedule, job) / OUTBOX_FILE).is_file()]
    if not jobs:
        return
    from iwm_lab.reports.delivery import pending_deliveries

    waiting = [entry for job in jobs for entry in pending_deliveries(schedule, job)]
    if waiting:
        click.echo(f"\nwaiting to be sent (the next run-due tries again): {len(waiting)}")
        for entry in waiting:
            click.echo(f"  {entry.describe()}")


def _status_words(status: str) -> str:
    return {"skipped": "skipped (unchanged)", "timed_out": "timed out"}.get(status, status)


@report_group.command("run")
@click.argument("name")
@click.option(
    "-p",
    "--parameter",
    "parameters",
    nargs=2,
    multiple=True,
    metavar="KEY VALUE",
    help="Set a notebook parameter (repeatable); a for_each key runs that one part.",
)
@click.option("--keep-code", is_flag=True, help="Show the code cells in the HTML.")
@click.option(
    "--self-contained",
    is_flag=True,
    help="Put plotly.js inside the page (one file to mail; ~5 MB) instead of the output "
    "folder's _static/.",
)
def report_run(
    name: str, parameters: tuple[tuple[str, str], ...], keep_code: bool, self_contained: bool
) -> None:
    """Run report NAME now: executed notebook + stand-alone HTML in reports/output/NAME/.

    A notebook declaring ``as_of`` gets the run's time unless ``-p as_of`` sets it.
    """
    from iwm_lab.exceptions import ReportFailed
    from iwm_lab.reports.runner import run_report

    try:
        results = run_report(
            _schedule(),
            name,
            dict(parameters),
            keep_code=keep_code or None,
            self_contained=self_contained or None,
            progress=_say,
        )
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    failed = [r for r in results if not r.ok]
    for result in results:
        where = result.file(".html") or result.file(".ipynb") or result.run_dir
        ad_hoc = " (ad hoc)" if result.record.ad_hoc else ""
        click.echo(
            f"{result.job.label}: {result.record.status}{ad_hoc} in {result.record.seconds} s"
        )
        if where:
            click.echo(f"  {where}")
    if failed:
        raise ReportFailed(
            "; ".join(f"{r.job.label} failed: {r.record.error}" for r in failed)
            + " (the failing notebook is kept; see the index)"
        )


@report_group.command("run-due")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="Run up to N due reports at once (default: 1 with --executor local, the cluster's "
    "worker threads with dask://).",
)
@click.option(
    "--executor",
    default="local",
    show_default=True,
    metavar="local|dask://HOST:PORT",
    help="Where the notebooks run: worker processes here, or the workers of the Dask "
    "scheduler at HOST:PORT (they send the files back; this process publishes them).",
)
@click.option(
    "--force",
    is_flag=True,
    help='Run reports with run_when = "data_changed" even when their data is unchanged.',
)
def report_run_due(jobs: int | None, executor: str, force: bool) -> None:
    """Run every report (and fan-out part) that came due since its last run."""
    from iwm_lab.reports.due import run_due

    try:
        outcomes = run_due(_schedule(), jobs=jobs, force=force, executor=executor, progress=_say)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    if not outcomes:
        click.echo("nothing due")
    _outcomes(outcomes)


def _outcomes(outcomes: Any) -> None:
    from iwm_lab.exceptions import ReportFailed

    for outcome in outcomes:
        detail = f": {outcome.message}" if outcome.message else ""
        click.echo(f"{outcome.job.label}: {outcome.status.replace('_', ' ')}{detail}")
        if outcome.html:
            click.echo(f"  {outcome.html}")
    bad = [o for o in outcomes if o.status in _NOT_PUBLISHED]
    if bad:
        raise ReportFailed(f"{len(bad)} of {len(outcomes)} due report(s) did not succeed")


# Outcomes that leave a report's latest page where it was: run-due exits non-zero for cron.
_NOT_PUBLISHED = ("failed", "error", "interrupted", "timed_out", "held")


@report_group.command("serve")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="Run up to N due reports at once (default: 1 with --executor local, the cluster's "
    "worker threads with dask://).",
)
@click.option(
    "--executor",
    default="local",
    show_default=True,
    metavar="local|dask://HOST:PORT",
    help="Where the notebooks run: worker processes here, or the workers of the Dask "
    "scheduler at HOST:PORT (they send the files back; this process publishes them).",
)
@click.option(
    "--every",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between rounds of run-due.",
)
def report_serve(jobs: int | None, executor: str, every: float) -> None:
    """Run run-due every minute in the foreground (a systemd service or a container).

    SIGTERM ends it after the current runs; Ctrl-C interrupts them.
    """
    from iwm_lab.reports.serve import serve

    click.echo(f"serving the schedule: run-due every {every:g} s (SIGTERM to stop)", err=True)
    try:
        summary = serve(_schedule, every_s=every, jobs=jobs, executor=executor, progress=_say)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    click.echo(f"stopped after {summary.rounds} round(s), {len(summary.outcomes)} run(s)")


def _part(parameters: tuple[tuple[str, str], ...]) -> dict[str, str] | None:
    return dict(parameters) or None


_PART_OPTION = click.option(
    "-p",
    "--part",
    "part",
    nargs=2,
    multiple=True,
    metavar="KEY VALUE",
    help="The fan-out part, e.g. -p region US (for_each reports).",
)


@report_group.command("history")
@click.argument("name")
@_PART_OPTION
@click.option("-n", "--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
def report_history(name: str, part: tuple[tuple[str, str], ...], limit: int) -> None:
    """Runs of report NAME, newest first, with their key figures."""
    from iwm_lab.reports.history import format_history, history

    click.echo(format_history(history(_schedule(), name, _part(part), limit=limit)))


@report_group.command("diff")
@click.argument("name")
@click.argument("run_a", required=False)
@click.argument("run_b", required=False)
@_PART_OPTION
def report_diff(
    name: str, run_a: str | None, run_b: str | None, part: tuple[tuple[str, str], ...]
) -> None:
    """How each key figure of NAME changed between two runs (default: the last two good ones).

    RUN_A alone compares it with the good run before it; run ids may be shortened.
    """
    from iwm_lab.reports.history import diff, format_diff

    click.echo(format_diff(diff(_schedule(), name, run_a, run_b, part=_part(part))))


@report_group.command("publish")
@click.argument("name")
@click.argument("run_id")
def report_publish(name: str, run_id: str) -> None:
    """Publish a held run of NAME by hand: latest moves to it and its targets are told."""
    from iwm_lab.reports.publish import publish_held

    result = publish_held(_schedule(), name, run_id, say=_say)
    click.echo(f"{result.job.label}: published {run_id}")
    if html := result.file(".html"):
        click.echo(f"  {html}")


@report_group.command("prune")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.option("--yes", is_flag=True, help="Delete without asking.")
def report_prune(dry_run: bool, yes: bool) -> None:
    """Delete old runs as each report's retention says (never a report's latest good run).

    Lists the runs it would delete with their sizes and asks first.
    """
    from datetime import UTC, datetime

    from iwm_lab.destructive import Listing, confirm_deletion
    from iwm_lab.reports.retention import prune, size_text

    schedule, now = _schedule(), datetime.now(UTC)
    plan = prune(schedule, dry_run=True, now=now)
    if dry_run or not plan.pruned:
        for line in plan.describe():
            click.echo(line)
        if not plan.pruned:
            click.echo("nothing to prune")
        return
    headline = f"{len(plan.pruned):,} run(s), {size_text(plan.bytes_freed)}"
    lines = tuple(item.describe(True) for item in plan.pruned)
    confirm_deletion(yes)(Listing(str(schedule.output_dir), headline, lines))
    for line in prune(schedule, now=now).describe():
        click.echo(line)


@report_group.command("index")
def report_index() -> None:
    """Rebuild reports/output/index.html and print its path."""
    from iwm_lab.reports.index import write_index

    click.echo(write_index(_schedule()))


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--notebooks",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to open. Default: the project's notebooks/.",
)
@click.option("--port", type=click.IntRange(1, 65535), help="Port of the Jupyter server.")
@click.option("--no-browser", is_flag=True, help="Print the URL instead of opening a browser.")
@click.argument("jupyter_args", nargs=-1, type=click.UNPROCESSED)
def lab(
    notebooks: Path | None, port: int | None, no_browser: bool, jupyter_args: tuple[str, ...]
) -> None:
    """JupyterLab on notebooks/ with the database ready and the project's kernel."""
    import os

    from iwm_lab.lab import check_notebook_dir, lab_argv, prepare_database
    from iwm_lab.settings import NOTEBOOKS_DIR

    folder = check_notebook_dir(notebooks or NOTEBOOKS_DIR)
    for note in prepare_database():
        click.echo(note, err=True)
    argv = lab_argv(folder, port=port, open_browser=not no_browser, extra=jupyter_args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


@cli.command()
@click.option(
    "--scale",
    type=_LazyChoice(_scales),
    default="small",
    show_default=True,
    help="tiny ~200 movies; small ~5,000 movies, 100k reviews; large ~100k movies, 5M reviews.",
)
@click.option("--seed", "seed_", type=int, default=42, show_default=True, help="Random seed.")
@click.option(
    "--reset",
    is_flag=True,
    help="Replace the data the database holds (only the embedded demo database, unless "
    "--allow-external); lists what would be deleted and asks.",
)
@click.option("--yes", is_flag=True, help="With --reset: delete without asking.")
@click.option(
    "--allow-external",
    is_flag=True,
    help="Allow a database other than the embedded server (IWM_DATABASE_URL).",
)
@click.option(
    "--as-of",
    metavar="DATE",
    help="Date the data runs up to (2026-11-01, or 2026-11-01T06:00 UTC), for the same rows "
    "on any day. Default: now.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def seed(
    scale: str,
    seed_: int,
    reset: bool,
    yes: bool,
    allow_external: bool,
    as_of: str | None,
    quiet: bool,
) -> None:
    """Fill the database with reproducible demo data (COPY; every table)."""
    from iwm_lab.demodata import seed_database
    from iwm_lab.destructive import confirm_loss

    moment = _as_of(as_of)  # before the engine: a bad date should not start a server
    report = seed_database(
        _writable_engine(),
        scale=scale,
        seed=seed_,
        reset=reset,
        allow_external=allow_external,
        progress=not quiet,
        as_of=moment,
        confirm=confirm_loss(yes),
    )
    click.echo(report.describe())


def main() -> None:
    cli(prog_name="iwm-lab")
