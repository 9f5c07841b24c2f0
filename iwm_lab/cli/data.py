"""The commands that fill and open the database: ``demo``, ``import``, ``lab`` and ``seed``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from iwm_lab.cli._base import _LazyChoice, _writable_engine, _writer_engine, cli
from iwm_lab.exceptions import IwmLabError


def _scales() -> Sequence[str]:
    from iwm_lab.demodata.scales import SCALES

    return list(SCALES)


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
