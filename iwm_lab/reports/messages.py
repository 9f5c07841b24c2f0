"""What a message about a run says: the notice, its mail and its webhook JSON.

A :class:`Notice` is built once from a run record (or an alert) and stored in the job's
outbox (:mod:`.delivery`); the mail and the webhook body are rebuilt from it on every try,
so a retry sends the same message. Mail: the title as subject, up to six findings, up to
twenty key figures, the error or the reasons, and the page (attached when it is
self-contained and at most ``[delivery] attach_max_kb``, else linked from ``base_url``).
"""

from __future__ import annotations

import html
import math
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from iwm_lab.formatting import plural
from iwm_lab.reports import state
from iwm_lab.reports.redaction import redactor_for

if TYPE_CHECKING:
    from iwm_lab.reports.rules import Alert
    from iwm_lab.reports.schedule import Job, Schedule

KINDS = ("success", "failed", "timed_out", "held", "alert", "resolved")
_KIND_OF_STATUS = {
    state.SUCCESS: "success",
    state.FAILED: "failed",
    state.INTERRUPTED: "failed",
    state.TIMED_OUT: "timed_out",
    state.HELD: "held",
}
_VERBS = {"success": "succeeded", "failed": "failed", "timed_out": "timed out", "held": "held"}
MAX_SUMMARY = 6
MAX_FIGURES = 20
MAX_TEXT_FIGURE = 80  # longer recorded text is a note or a table, not a key figure
MAX_TITLE = 200


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (whitespace runs become one space), cut at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def show(value: Any) -> str:
    """A recorded figure as a message shows it: ``1,234``, ``3.4``, ``yes``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value)


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= MAX_TEXT_FIGURE
    return isinstance(value, int)


def _as_of_text(value: str | None) -> str | None:
    """``2026-11-30 06:00 UTC`` (or the date alone) from the run's ISO as-of text."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat() if len(value) <= 10 else f"{moment:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Notice:
    """What a message says about one run of a job; the same for every target and retry."""

    kind: str  # one of KINDS
    report: str
    job_label: str
    job_key: str
    run_id: str | None
    status: str
    as_of: str | None
    figures: dict[str, Any]  # the run's recorded numbers and short texts
    summary: list[str]  # the page's findings
    error: str | None
    reasons: list[str]  # the held checks, or the alert's condition
    page: str | None  # the run's HTML, relative to the output folder
    created: str  # ISO 8601, UTC

    @classmethod
    def from_run(
        cls,
        schedule: Schedule,
        job: Job,
        record: state.RunRecord,
        kind: str | None = None,
        *,
        reasons: Sequence[str] | None = None,
    ) -> Notice:
        """The notice of a run: ``kind`` defaults from its status, ``reasons`` to its held
        checks. Only scalar figures are kept: lists and tables stay in the run's files (and
        out of the outbox)."""
        kind = kind or _KIND_OF_STATUS.get(record.status)
        if kind not in KINDS:
            raise ValueError(f"no notice for a run with status {record.status!r} (kind {kind!r})")
        redactor = redactor_for(schedule)
        page = next((f for f in record.files if f.endswith(".html")), None)
        return cls(
            kind=kind,
            report=job.report.name,
            job_label=job.label,
            job_key=job.key,
            run_id=record.run_id,
            status=record.status,
            as_of=record.as_of,
            figures={k: v for k, v in record.records.items() if k != "as_of" and _scalar(v)},
            summary=[redactor.text(s) for s in record.summary],
            error=redactor.text(record.error) if record.error else None,
            reasons=list(record.held_reasons if reasons is None else reasons),
            page=f"{job.key}/{record.run_id}/{page}" if page else None,
            created=state.utc_now_iso(),
        )

    @classmethod
    def for_alert(
        cls,
        schedule: Schedule,
        job: Job,
        record: state.RunRecord,
        alert: Alert,
        *,
        resolved: bool = False,
    ) -> Notice:
        """An alert's notice (or its "resolved" one): the condition and the value now."""
        value = record.records.get(alert.record)
        if value is None:
            now = "not recorded"
        else:
            now = plural(len(value), "row") if isinstance(value, list) else show(value)
        reason = f"{alert.describe()} (now {now})"
        kind = "resolved" if resolved else "alert"
        return cls.from_run(schedule, job, record, kind, reasons=[reason])

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Notice:
        values: dict[str, Any] = {k: raw.get(k) for k in cls.__dataclass_fields__}
        return cls(**values)

    @property
    def title(self) -> str:
        """One line: the mail's subject and the webhook text's first line."""
        if self.kind in ("alert", "resolved"):
            head = "ALERT" if self.kind == "alert" else "resolved"
            return one_line(f"{head} {self.job_label}: {'; '.join(self.reasons)}", MAX_TITLE)
        head = f"iwm-lab: {self.job_label} {_VERBS[self.kind]}"
        if self.kind == "success":
            as_of = _as_of_text(self.as_of)
            return f"{head} (data as of {as_of})" if as_of else head
        # An error's first line names it; the rest (a traceback's tail) is for the body.
        error = self.error.strip().splitlines()[0] if self.error and self.error.strip() else None
        detail = "; ".join(self.reasons) if self.kind == "held" else error
        return one_line(f"{head}: {detail}" if detail else head, MAX_TITLE)

    def figure_lines(self) -> list[str]:
        """``name: value`` of the key figures a message shows (at most twenty)."""
        return [f"{name}: {show(value)}" for name, value in self.figures.items()][:MAX_FIGURES]


def link(schedule: Schedule, notice: Notice) -> str | None:
    """The page's URL, when ``[delivery] base_url`` says where the output folder is served."""
    base = schedule.delivery.base_url
    return base + urllib.parse.quote(notice.page) if base and notice.page else None


def _page_line(schedule: Schedule, notice: Notice) -> str | None:
    url = link(schedule, notice)
    if url:
        return f"Page: {url}"
    return f"Page: {notice.page} (below the report output folder)" if notice.page else None


def attachment(schedule: Schedule, notice: Notice) -> tuple[str, bytes] | None:
    """The run's page (name, content) if it is self-contained and small enough to attach."""
    if not notice.page or schedule.delivery.attach_max_kb <= 0:
        return None
    root = schedule.output_dir.resolve()
    path = (root / notice.page).resolve()
    # The page name comes from a file on disk: never attach anything outside the output.
    if not path.is_relative_to(root) or path.suffix != ".html" or not path.is_file():
        return None
    if path.stat().st_size > schedule.delivery.attach_max_kb * 1024:
        return None
    data = path.read_bytes()
    # plotly.js from the output folder's _static/ would be missing from a mailed copy.
    return None if b"_static/" in data else (path.name, data)


def _detail(notice: Notice) -> tuple[str, list[str]]:
    if notice.error:
        return "Error", [notice.error[:2000]]
    return ("Checks that failed" if notice.kind == "held" else "Condition"), notice.reasons


def build_email(
    schedule: Schedule, notice: Notice, recipients: Sequence[str], message_key: str
) -> EmailMessage:
    """The mail of a notice; ``message_key`` (the outbox entry's id) makes its Message-ID,
    so a retry is the same message, date included."""
    summary = notice.summary[:MAX_SUMMARY]
    figures = notice.figure_lines()
    heading, detail = _detail(notice)
    page_line = _page_line(schedule, notice)
    attached = attachment(schedule, notice)
    lines = [notice.title, ""]
    lines += [*(f"- {s}" for s in summary), ""] if summary else []
    lines += ["Key figures:", *(f"  {f}" for f in figures), ""] if figures else []
    lines += [f"{heading}:", *(f"  {d}" for d in detail), ""] if detail else []
    lines += [page_line] if page_line else []
    lines += [f"The page is attached ({attached[0]})."] if attached else []
    lines += [f"Run: {notice.run_id}"] if notice.run_id else []

    esc = html.escape
    url = link(schedule, notice)
    parts = [f"<p><strong>{esc(notice.title)}</strong></p>"]
    parts += ["<ul>", *(f"<li>{esc(s)}</li>" for s in summary), "</ul>"] if summary else []
    rows = [f"<tr><td>{esc(n)}</td><td>{esc(show(v))}</td></tr>" for n, v in notice.figures.items()]
    parts += ["<table>", *rows[:MAX_FIGURES], "</table>"] if rows else []
    parts += [f"<p>{esc(heading)}: {esc('; '.join(detail))}</p>"] if detail else []
    if url:
        parts.append(f'<p><a href="{esc(url)}">Open the report page</a></p>')
    elif page_line:
        parts.append(f"<p>{esc(page_line)}</p>")

    message = EmailMessage()
    message["Subject"] = notice.title
    message["From"] = schedule.delivery.sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(datetime.fromisoformat(notice.created))
    domain = schedule.delivery.sender.rpartition("@")[2]
    message["Message-ID"] = f"<iwm-lab.{message_key}@{domain}>"
    message.set_content("\n".join(lines) + "\n")
    message.add_alternative("\n".join(parts) + "\n", subtype="html")
    if attached:
        message.add_attachment(attached[1], maintype="text", subtype="html", filename=attached[0])
    return message


def webhook_payload(schedule: Schedule, notice: Notice, message_key: str) -> dict[str, Any]:
    """The webhook JSON of a notice; ``text`` is what Slack and Mattermost show."""
    page_line = _page_line(schedule, notice)
    text = "\n".join([notice.title, *notice.figure_lines(), *([page_line] if page_line else [])])
    return {
        "text": text,
        "id": message_key,
        "report": notice.report,
        "job": notice.job_label,
        "kind": notice.kind,
        "status": notice.status,
        "run_id": notice.run_id,
        "as_of": notice.as_of,
        "figures": notice.figures,
        "summary": notice.summary,
        "reasons": notice.reasons,
        "error": notice.error,
        "link": link(schedule, notice),
        "page": notice.page,
    }
