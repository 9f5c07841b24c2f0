"""``iwm-lab report``: list, run, run-due, serve, history, diff, publish, prune, index."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from iwm_lab.cli._base import cli


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
    from iwm_lab.reports.state import OUTBOX_FILE, job_dir, status_text

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
                (status_text(last.status) if last else "-")
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


# run-due and serve share these.
_JOBS_OPTION = click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="Run up to N due reports at once (default: 1 with --executor local, the cluster's "
    "worker threads with dask://).",
)
_EXECUTOR_OPTION = click.option(
    "--executor",
    default="local",
    show_default=True,
    metavar="local|dask://HOST:PORT",
    help="Where the notebooks run: worker processes here, or the workers of the Dask "
    "scheduler at HOST:PORT (they send the files back; this process publishes them).",
)
_POOL_OPTION = click.option(
    "--pool",
    type=click.IntRange(0, 8),
    default=1,
    show_default=True,
    metavar="N",
    help="Warm kernels kept ready per kind of run with --executor local (serve: between "
    "rounds; run-due: for its later due reports); each serves one run. 0: none.",
)


@report_group.command("run-due")
@_JOBS_OPTION
@_EXECUTOR_OPTION
@_POOL_OPTION
@click.option(
    "--force",
    is_flag=True,
    help='Run reports with run_when = "data_changed" even when their data is unchanged.',
)
def report_run_due(jobs: int | None, executor: str, pool: int, force: bool) -> None:
    """Run every report (and fan-out part) that came due since its last run."""
    from iwm_lab.reports.due import run_due

    try:
        outcomes = run_due(
            _schedule(), jobs=jobs, force=force, executor=executor, progress=_say, pool=pool
        )
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
@_JOBS_OPTION
@_EXECUTOR_OPTION
@_POOL_OPTION
@click.option(
    "--every",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between rounds of run-due.",
)
def report_serve(jobs: int | None, executor: str, pool: int, every: float) -> None:
    """Run run-due every minute in the foreground (a systemd service or a container).

    SIGTERM ends it after the current runs; Ctrl-C interrupts them.
    """
    from iwm_lab.reports.serve import serve

    click.echo(f"serving the schedule: run-due every {every:g} s (SIGTERM to stop)", err=True)
    try:
        summary = serve(
            _schedule, every_s=every, jobs=jobs, executor=executor, progress=_say, pool=pool
        )
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
