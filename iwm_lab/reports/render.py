"""After the kernel: the executed notebook redacted and annotated, and its HTML page written.

The page's header is built here from the run's record: parameters, the data's as-of, whether
the run is ad hoc, and how the key figures changed since the previous comparable run
(:mod:`.changes`). When the run's database (``IWM_DATABASE_URL``, as the kernel reached it)
is a hot standby, the header says so with the standby's replay lag, measured as the run
ends (:func:`read_from`): how far behind its primary the data the notebook read may be.
plotly.js is referenced from the output folder's ``_static/`` unless the page is to be
self-contained (see :mod:`.html`). Each table the page shows that carries its data is
written as a CSV under ``tables/`` beside the page, with the page or not at all.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from iwm_lab.formatting import moment
from iwm_lab.reports.changes import figure_changes, previous_run
from iwm_lab.reports.html import (
    HIDE_TAG,
    HeaderParameter,
    ReportHeader,
    export_html,
    plotly_asset,
    shown_tables,
)
from iwm_lab.reports.prepare import AS_OF, PreparedJob
from iwm_lab.reports.records import read_records
from iwm_lab.reports.redaction import Redactor
from iwm_lab.reports.rules import Check
from iwm_lab.reports.state import FAILED, HELD, INTERRUPTED, SUCCESS, RunRecord
from iwm_lab.reports.tables import TABLES_DIR, write_table_files
from iwm_lab.settings import get_settings

if TYPE_CHECKING:
    from iwm_lab.database import ReplicaLag

log = logging.getLogger(__name__)
# Seconds to wait for the database when measuring a standby's lag for the header.
_LAG_CONNECT_TIMEOUT_S = 5


def render(
    prepared: PreparedJob,
    staging: Path,
    record: RunRecord,
    redactor: Redactor,
    *,
    keep_code: bool | None,
    self_contained: bool | None,
    history: Sequence[RunRecord],
    output_dir: Path,
    say: Callable[[str], None],
) -> None:
    """Redact and annotate the executed notebook in ``staging``; write the HTML page.

    ``history`` is the job's earlier runs (newest first). The page links to plotly.js in
    ``output_dir`` relative to where the run folder will be once published, not to
    ``staging``.
    """
    job, spec = prepared.job, prepared.job.report
    nb_path = staging / f"{job.file_stem}.ipynb"
    if not nb_path.exists():  # interrupted before papermill wrote anything
        return
    nb = nbformat.from_dict(redactor.tree(nbformat.read(nb_path, as_version=4)))
    record.records = read_records(nb)
    record.summary = findings_of(nb)
    if record.status == SUCCESS and spec.checks:
        _gate(record, spec.checks, history)
    record.as_of = _as_of(record, prepared)
    record.timings.update(_kernel_timings(nb))
    # Asked only of a run that read its data: a failed one's page shows its error instead.
    replica = read_from() if record.status in (SUCCESS, HELD) else None
    nb.metadata["iwm_lab"] = {
        "report": spec.name,
        "job": job.label,
        "run_id": record.run_id,
        "parameters": record.parameters,
        "revision": record.revision,
        "as_of": record.as_of,
        "ad_hoc": record.ad_hoc_reason,
        "records": record.records,
    }
    if replica is not None:
        nb.metadata["iwm_lab"]["replica"] = dataclasses.asdict(replica)
    nbformat.write(nb, nb_path)
    # An interrupted run's partial notebook is enough, and it must exit promptly.
    if record.status == INTERRUPTED or (record.status == SUCCESS and "html" not in spec.formats):
        return
    say(f"{job.label}: exporting HTML")
    began = time.perf_counter()
    try:
        # A failed run's page shows the code, so the marked failing cell can be read.
        show_code = spec.keep_code if keep_code is None else keep_code
        inline = spec.self_contained if self_contained is None else self_contained
        src = None
        if not inline:
            run_dir = output_dir / job.key / record.run_id
            src = Path(os.path.relpath(plotly_asset(output_dir), run_dir)).as_posix()
        page = export_html(
            nb,
            _header(prepared, record, history, replica),
            keep_code=show_code or record.status not in (SUCCESS, HELD),
            plotly_src=src,
        )
        # The CSVs of the tables the page shows, beside it (the notebook was redacted).
        write_table_files(shown_tables(nb), staging)
        (staging / f"{job.file_stem}.html").write_text(redactor.text(page), encoding="utf-8")
    except Exception as exc:
        shutil.rmtree(staging / TABLES_DIR, ignore_errors=True)
        if record.status == SUCCESS:
            record.status = FAILED
            record.error = f"HTML export failed: {type(exc).__name__}: {exc}"
        log.warning("%s: HTML export failed: %s", job.label, redactor.text(str(exc)))
    record.timings["html_s"] = round(time.perf_counter() - began, 3)
    if record.status == SUCCESS and "ipynb" not in spec.formats:
        nb_path.unlink()


def _gate(record: RunRecord, checks: Sequence[Check], history: Sequence[RunRecord]) -> None:
    """Hold the run when a check on its figures fails: kept and viewable, not published."""
    from iwm_lab.reports.gates import evaluate_checks, previous_good_run

    reasons = evaluate_checks(checks, record.records, previous_good_run(history, record))
    if reasons:
        record.status, record.held_reasons = HELD, reasons
        record.error = "held: " + "; ".join(reasons)


MAX_FINDINGS = 6


def findings_of(nb: nbformat.NotebookNode) -> list[str]:
    """The sentences a notebook displayed as Markdown outside hidden cells (its findings)."""
    found: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code" or HIDE_TAG in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            text = (output.get("data") or {}).get("text/markdown")
            if text:
                found.append(("".join(text) if isinstance(text, list) else text).strip())
            if len(found) >= MAX_FINDINGS:
                return found
    return found


def _as_of(record: RunRecord, prepared: PreparedJob) -> str | None:
    """The data's as-of: what the notebook recorded, else its ``as_of`` parameter."""
    if record.records.get(AS_OF) is not None:
        return str(record.records[AS_OF])
    if record.parameters.get(AS_OF) is not None:
        return str(record.parameters[AS_OF])
    declared = prepared.declared.get(AS_OF)
    if declared is not None:
        with contextlib.suppress(ValueError, SyntaxError):
            value = ast.literal_eval(declared.default)
            return None if value is None else str(value)
    return None


def as_of_for_readers(text: str | None) -> str:
    """``2026-11-29 06:00 UTC`` for an ISO moment (naive ones are UTC), a date as it is."""
    if not text:
        return "not stated by the notebook"
    try:
        parsed = datetime.fromisoformat(text) if len(text.strip()) > 10 else None
        if parsed is None:
            return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        return text
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return f"{moment(parsed)} UTC" if parsed.time() != datetime.min.time() else moment(parsed)


def _kernel_timings(nb: nbformat.NotebookNode) -> dict[str, float]:
    """Kernel start (notebook start to first cell) and time in cells, from papermill's metadata."""
    started = nb.metadata.get("papermill", {}).get("start_time")
    cells = [c.metadata.get("papermill", {}) for c in nb.cells if c.cell_type == "code"]
    firsts = [c["start_time"] for c in cells if c.get("start_time")]
    timings = {"cells_s": round(sum(c.get("duration") or 0 for c in cells), 3)}
    if started and firsts:
        delta = datetime.fromisoformat(firsts[0]) - datetime.fromisoformat(started)
        timings["kernel_start_s"] = round(delta.total_seconds(), 3)
    return timings


def read_from() -> ReplicaLag | None:
    """The hot standby the run's database is, with its replay lag now; None when it is a
    primary, the embedded server (always a primary), or does not answer within a few seconds.

    Asked through ``IWM_DATABASE_URL`` as the kernel's sessions were: with a multi-host URL
    and ``target_session_attrs=prefer-standby`` that is the standby while it answers.
    """
    url = get_settings().database_url
    if url is None:
        return None
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    from iwm_lab.database import get_engine, replica_lag, scrub

    if "connect_timeout" not in url.query:
        url = url.update_query_dict({"connect_timeout": str(_LAG_CONNECT_TIMEOUT_S)})
    engine = get_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            lag = replica_lag(conn)
    except SQLAlchemyError as exc:
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = scrub(lines[0] if lines else type(exc).__name__, url)
        log.warning("cannot tell whether the run read from a standby: %s", reason)
        return None
    finally:
        engine.dispose()
    return lag if lag.in_recovery else None


def _header(
    prepared: PreparedJob,
    record: RunRecord,
    history: Sequence[RunRecord],
    replica: ReplicaLag | None = None,
) -> ReportHeader:
    spec = prepared.job.report
    parameters = [
        HeaderParameter(name, repr(record.parameters[name]))
        if name in record.parameters
        else HeaderParameter(name, declared.default, default=True)
        for name, declared in prepared.declared.items()
    ]
    started = datetime.fromisoformat(record.started)
    seconds = record.timings.get("execute_s", 0.0)
    changes = None
    previous = previous_run(history, record.parameters, ad_hoc=record.ad_hoc)
    if record.status in (SUCCESS, HELD) and previous is not None:
        changes = figure_changes(record.records, previous)
        if changes is not None:
            when = datetime.fromisoformat(previous.started).astimezone(UTC)
            changes = dataclasses.replace(
                changes,
                started=f"{when:%Y-%m-%d %H:%M}",
                as_of=as_of_for_readers(previous.as_of) if previous.as_of else None,
            )
    return ReportHeader(
        title=spec.description.split("\n")[0] if spec.description else prepared.job.label,
        label=prepared.job.label,
        run_id=record.run_id,
        started=f"{started:%Y-%m-%d %H:%M:%S}",
        duration=f"executed in {seconds:.1f} s",
        revision=record.revision or "unknown",
        as_of=as_of_for_readers(record.as_of),
        parameters=parameters,
        description=spec.description,
        error=None if record.status == SUCCESS else record.error,
        ad_hoc=record.ad_hoc_reason,
        changes=changes,
        replica=None if replica is None else f"{replica.describe()} when the run ended",
    )
