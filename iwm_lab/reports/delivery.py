"""Telling people about runs: mail and webhook messages, through an outbox that retries.

:func:`notify` puts one entry per (notice, target, channel) in the job's outbox, then sends
every pending entry of the job; :func:`flush` (what each ``run-due`` calls first) retries the
pending entries of every job. A delivery problem never raises: it is recorded in the entry
(one line, redacted) and the entry stays pending until a later try sends the same message::

    <output>/overview/outbox.json        entries: pending ones forever, the last 200 sent
    <output>/overview/.outbox.lock       held while outbox.json is read and replaced
    <output>/overview/.outbox.send.lock  held while a process sends (so nothing goes twice)

Mail goes to the server of ``IWM_SMTP_URL`` (``smtp://[user@]host[:port]``, STARTTLS when
offered, ``?starttls=required`` to insist; ``smtps://`` for implicit TLS), with the password
from ``IWM_SMTP_PASSWORD`` only. A webhook URL comes from the variable its target names.
Neither secret is written to the outbox, a log line or an error.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import logging
import os
import smtplib
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iwm_lab.formatting import duration, plural
from iwm_lab.reports import state
from iwm_lab.reports.messages import Notice, build_email, one_line, webhook_payload
from iwm_lab.reports.redaction import SMTP_PASSWORD, SMTP_URL, Redactor, redactor_for
from iwm_lab.reports.state import OUTBOX_FILE

if TYPE_CHECKING:
    from iwm_lab.reports.rules import Target
    from iwm_lab.reports.schedule import Job, Schedule

# Notice is built in .messages; callers take it from here, with what sends it.
__all__ = ["DeliveryResult", "Notice", "OutboxEntry", "flush", "notify", "pending_deliveries"]

log = logging.getLogger(__name__)

EMAIL, WEBHOOK = "email", "webhook"
PENDING, SENT = "pending", "sent"
OUTBOX_LOCK = ".outbox.lock"
SEND_LOCK = ".outbox.send.lock"
SENT_KEPT = 200
SMTP_TIMEOUT_S = 20
WEBHOOK_TIMEOUT_S = 10


@dataclass
class OutboxEntry:
    """One message to one target by one channel, as kept in ``outbox.json``."""

    id: str
    notice: Notice
    target: str
    channel: str  # EMAIL or WEBHOOK
    created: str
    status: str = PENDING
    attempts: int = 0
    last_error: str | None = None  # one line, redacted
    last_attempt: str | None = None
    sent_at: str | None = None

    @classmethod
    def create(cls, notice: Notice, target: str, channel: str) -> OutboxEntry:
        # The same notice for the same target and channel is one entry, however often it
        # is handed in (a runner retrying its bookkeeping sends nothing twice).
        key = json.dumps([asdict(notice), target, channel], sort_keys=True, default=str)
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        return cls(digest, notice, target, channel, state.utc_now_iso())

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OutboxEntry:
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "notice": Notice.from_dict(raw["notice"])})

    def age(self, now: datetime | None = None) -> float:
        """Seconds since the entry was made."""
        now = now or datetime.now(UTC)
        return (now - datetime.fromisoformat(self.created)).total_seconds()

    def describe(self, now: datetime | None = None) -> str:
        """``webhook to target 'ops' (overview failed, run …): pending for 3 hours, …``."""
        what = f"{self.notice.job_label} {self.notice.kind}, run {self.notice.run_id or '-'}"
        text = f"{self.channel} to target {self.target!r} ({what}): {self.status}"
        if self.status == PENDING:
            text += f" for {duration(max(self.age(now), 0) / 86400)}"
        text += f", {plural(self.attempts, 'attempt')}"
        return text + (f"; last error: {self.last_error}" if self.last_error else "")


@dataclass(frozen=True)
class DeliveryResult:
    """What one try of one outbox entry came to."""

    id: str
    job_label: str
    target: str
    channel: str
    kind: str
    sent: bool
    error: str | None = None
    attempts: int = 0

    def __str__(self) -> str:
        if self.sent:
            return f"{self.channel} to target {self.target!r}: sent ({self.kind})"
        return f"not sent ({plural(self.attempts, 'attempt')}, will retry): {self.error}"


class _Failure(Exception):
    """A delivery that did not happen; the text holds no secret (it is redacted again)."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable  # the server did not answer: skip its other entries


# --- sending ------------------------------------------------------------------------------


def _network_problem(exc: BaseException, where: str | None, timeout: int) -> _Failure:
    at = f" {where}" if where else ""
    if isinstance(exc, ConnectionRefusedError):
        text = f"cannot connect to {where}: connection refused" if where else "connection refused"
    elif isinstance(exc, TimeoutError):
        text = f"no answer from{at or ' the server'} within {timeout} s"
    elif isinstance(exc, socket.gaierror):
        text = f"cannot resolve the host{at}"
    elif isinstance(exc, ssl.SSLError):
        text = f"TLS with{at or ' the server'} failed: {exc.reason or type(exc).__name__}"
    elif isinstance(exc, OSError):
        text = f"cannot reach{at or ' the server'}: {exc.strerror or type(exc).__name__}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return _Failure(text, unreachable=True)


def _smtp_problem(exc: Exception, where: str) -> _Failure:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _Failure(f"SMTP {exc.smtp_code} authentication failed")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _ in exc.recipients.values()})
        return _Failure(f"SMTP {'/'.join(codes)} refused {', '.join(exc.recipients)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        said = (
            exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
        )
        return _Failure(f"SMTP {exc.smtp_code} {said.splitlines()[0] if said else ''}".strip())
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _Failure(f"the SMTP server at {where} closed the connection", unreachable=True)
    if isinstance(exc, smtplib.SMTPException):
        return _Failure(f"SMTP: {exc}")
    return _network_problem(exc, where, SMTP_TIMEOUT_S)


def _smtp_settings() -> tuple[str, str, int, str | None, bool]:
    """(scheme, host, port, user, STARTTLS required) from ``IWM_SMTP_URL``."""
    raw = os.environ.get(SMTP_URL, "").strip()
    if not raw:
        raise _Failure(f"{SMTP_URL} is not set")
    wrong = _Failure(f"{SMTP_URL} is not a URL like smtp://user@host:587 or smtps://host")
    try:
        parts = urllib.parse.urlsplit(raw)
        port = parts.port
    except ValueError:
        raise wrong from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise wrong
    if parts.password is not None:
        raise _Failure(f"{SMTP_URL} holds a password: set it in {SMTP_PASSWORD} instead")
    starttls = urllib.parse.parse_qs(parts.query).get("starttls", ["auto"])[-1]
    if starttls not in ("auto", "required"):
        raise _Failure(f"{SMTP_URL}: starttls may only be 'required' (or left out)")
    user = urllib.parse.unquote(parts.username) if parts.username else None
    default_port = 465 if parts.scheme == "smtps" else 25
    return parts.scheme, parts.hostname, port or default_port, user, starttls == "required"


def may_send_password(encrypted: bool, peer: str | None) -> bool:
    """A password goes over TLS, or in the clear only to a server on this machine."""
    if encrypted:
        return True
    try:
        return peer is not None and ipaddress.ip_address(peer.split("%")[0]).is_loopback
    except ValueError:
        return False


def _send_email(message: EmailMessage, sender: str, recipients: Sequence[str]) -> None:
    scheme, host, port, user, require_tls = _smtp_settings()
    password = os.environ.get(SMTP_PASSWORD) if user else None
    if user and not password:
        raise _Failure(f"{SMTP_PASSWORD} is not set ({SMTP_URL} names a user)")
    where = f"{host}:{port}"
    context = ssl.create_default_context()
    try:
        if scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=SMTP_TIMEOUT_S, context=context
            )
        else:
            client = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_S)
        with client:
            client.ehlo()
            encrypted = scheme == "smtps"
            if not encrypted and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
                encrypted = True
            if require_tls and not encrypted:
                raise _Failure(f"the SMTP server at {where} does not offer STARTTLS")
            if user and password:
                peer = client.sock.getpeername()[0] if client.sock else None
                if not may_send_password(encrypted, peer):
                    raise _Failure(
                        f"the SMTP server at {where} offers no TLS: the password is not sent "
                        "in the clear (use smtps:// or a server with STARTTLS)"
                    )
                client.login(user, password)
            client.send_message(message, from_addr=sender, to_addrs=list(recipients))
    except _Failure:
        raise
    except (OSError, smtplib.SMTPException) as exc:
        raise _smtp_problem(exc, where) from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST would arrive as a GET without its body, or somewhere else entirely.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def _post_webhook(env: str, payload: dict[str, Any]) -> None:
    url = os.environ.get(env, "").strip()
    if not url:
        raise _Failure(f"{env} is not set")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Failure(f"{env} does not hold an http(s) URL")
    body = json.dumps(payload, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "iwm-lab"}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=WEBHOOK_TIMEOUT_S) as response:
            response.read(65536)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _Failure(f"HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, BaseException) else OSError(exc.reason)
        raise _network_problem(reason, None, WEBHOOK_TIMEOUT_S) from None
    except OSError as exc:
        raise _network_problem(exc, None, WEBHOOK_TIMEOUT_S) from None
    if not 200 <= status < 300:
        raise _Failure(f"HTTP {status}")


def _send(schedule: Schedule, entry: OutboxEntry, target: Target | None) -> None:
    if target is None:
        raise _Failure("the target is not in the schedule any more")
    if entry.channel == EMAIL:
        if not target.email:
            raise _Failure("the target has no mail addresses any more")
        message = build_email(schedule, entry.notice, target.email, entry.id)
        _send_email(message, schedule.delivery.sender, target.email)
    else:
        if not target.webhook_env:
            raise _Failure("the target has no webhook any more")
        _post_webhook(target.webhook_env, webhook_payload(schedule, entry.notice, entry.id))


def _where(entry: OutboxEntry, target: Target | None) -> str:
    if entry.channel == EMAIL:
        return f"email to target {entry.target!r}"
    env = f" ({target.webhook_env})" if target and target.webhook_env else ""
    return f"webhook of target {entry.target!r}{env}"


# --- the outbox ---------------------------------------------------------------------------


@contextlib.contextmanager
def _flock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an fcntl lock on ``path``; yields False when ``wait`` is off and it is taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def _read(job_dir: Path, *, repair: bool = True) -> list[OutboxEntry]:
    """The entries of ``outbox.json``; a damaged file is moved aside when ``repair``."""
    path = job_dir / OUTBOX_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [OutboxEntry.from_dict(e) for e in raw["entries"]]
    except FileNotFoundError:
        return []
    except (ValueError, KeyError, TypeError, AttributeError):
        if not repair:
            return []
        # Kept for a person to read; a fresh outbox lets new messages go out meanwhile.
        aside = path.with_name(f"{OUTBOX_FILE}.damaged-{state.new_run_id()}")
        os.replace(path, aside)
        log.warning("%s was damaged; moved to %s", path, aside.name)
        return []


def _change[T](job_dir: Path, change: Callable[[list[OutboxEntry]], T]) -> T:
    """Read, change and replace ``outbox.json`` under its lock (no writer loses an entry)."""
    with _flock(job_dir / OUTBOX_LOCK):
        entries = _read(job_dir)
        result = change(entries)
        sent = sorted((e for e in entries if e.status == SENT), key=lambda e: e.sent_at or "")
        dropped = {e.id for e in sent[:-SENT_KEPT]}
        kept = [asdict(e) for e in entries if e.id not in dropped]
        state.write_json_atomic(job_dir / OUTBOX_FILE, {"entries": kept})
        return result


def _result(entry: OutboxEntry, error: str | None, attempts: int) -> DeliveryResult:
    notice = entry.notice
    return DeliveryResult(
        entry.id, notice.job_label, entry.target, entry.channel, notice.kind, error is None,
        error, attempts,
    )  # fmt: skip


def _attempt(
    schedule: Schedule, job_dir: Path, entry: OutboxEntry, redactor: Redactor, down: dict[str, str]
) -> DeliveryResult:
    """Send one entry once and record what came of it."""
    target = schedule.targets.get(entry.target)
    where = _where(entry, target)
    route = EMAIL if entry.channel == EMAIL else f"{WEBHOOK} {target and target.webhook_env}"
    if route in down:
        # Its server did not answer a moment ago: waiting out its timeout again for each
        # entry would make a run-due with a long outbox take minutes. The entry stays as is.
        return _result(entry, f"{where}: not tried, {down[route]}", entry.attempts)
    error: str | None = None
    try:
        _send(schedule, entry, target)
    except _Failure as exc:
        error = redactor.text(one_line(f"{where}: {exc}"))
        if exc.unreachable:
            down[route] = redactor.text(one_line(str(exc)))
    except Exception as exc:  # a delivery must never fail the run that asked for it
        error = redactor.text(one_line(f"{where}: {type(exc).__name__}: {exc}"))
    now = state.utc_now_iso()

    def mark(entries: list[OutboxEntry]) -> int:
        for stored in entries:
            if stored.id == entry.id:
                stored.attempts += 1
                stored.last_attempt = now
                if error is None:
                    stored.status, stored.sent_at = SENT, now
                else:
                    stored.last_error = error
                return stored.attempts
        return entry.attempts + 1

    attempts = _change(job_dir, mark)
    if error is None:
        log.info("%s: sent %s of %s", where, entry.notice.kind, entry.notice.job_label)
    else:
        log.warning("delivery failed (attempt %d, will retry): %s", attempts, error)
    return _result(entry, error, attempts)


def _deliver(
    schedule: Schedule, job_dir: Path, *, wait: bool, down: dict[str, str] | None = None
) -> list[DeliveryResult]:
    """Try each pending entry of one job once, including those added meanwhile.

    ``down`` maps a server (mail, or one webhook variable) that did not answer to its error,
    across the jobs of one flush."""
    with _flock(job_dir / SEND_LOCK, wait=wait) as ours:
        if not ours:
            log.info("%s: another process is sending its outbox", job_dir.name)
            return []
        redactor = redactor_for(schedule)
        results: list[DeliveryResult] = []
        down = {} if down is None else down
        tried: set[str] = set()
        while True:
            with _flock(job_dir / OUTBOX_LOCK):
                todo = [e for e in _read(job_dir) if e.status == PENDING and e.id not in tried]
            if not todo:
                return results
            for entry in todo:
                tried.add(entry.id)
                results.append(_attempt(schedule, job_dir, entry, redactor, down))


def _channels(target: Target) -> list[str]:
    return [EMAIL] * bool(target.email) + [WEBHOOK] * bool(target.webhook_env)


def notify(
    schedule: Schedule, job: Job, targets: Sequence[str], notice: Notice
) -> list[DeliveryResult]:
    """Queue ``notice`` for each channel of each target, then send every pending entry of
    the job. A delivery problem is recorded and returned, never raised; an unknown target
    name is a programming error (ValueError)."""
    for name in targets:
        if name not in schedule.targets:
            known = ", ".join(sorted(schedule.targets)) or "none"
            raise ValueError(f"no delivery target named {name!r} (known: {known})")
    job_dir = state.job_dir(schedule, job)
    new = [
        OutboxEntry.create(notice, name, channel)
        for name in dict.fromkeys(targets)
        for channel in _channels(schedule.targets[name])
    ]

    def add(entries: list[OutboxEntry]) -> None:
        known = {e.id for e in entries}
        entries += [e for e in new if e.id not in known]

    try:
        _change(job_dir, add)
        return _deliver(schedule, job_dir, wait=True)
    except OSError as exc:
        error = f"cannot use the outbox of {job.label}: {exc.strerror or type(exc).__name__}"
        log.error("%s", error)
        return [
            DeliveryResult(e.id, job.label, e.target, e.channel, notice.kind, False, error)
            for e in new
        ]


def _outbox_dirs(schedule: Schedule) -> list[Path]:
    # Each report's folder and the folders of its parts (ad hoc ones too): no walk through
    # every run folder of the output tree once a minute.
    found = set()
    for name in schedule.reports:
        root = schedule.output_dir / name
        found |= {p.parent for p in [root / OUTBOX_FILE, *root.glob(f"*/{OUTBOX_FILE}")]}
    return sorted(d for d in found if (d / OUTBOX_FILE).is_file())


def flush(schedule: Schedule) -> list[DeliveryResult]:
    """Retry every pending entry of every job of the schedule (what ``run-due`` does first).

    A job whose outbox another process is sending right now is left to that process."""
    results: list[DeliveryResult] = []
    down: dict[str, str] = {}
    for job_dir in _outbox_dirs(schedule):
        try:
            results += _deliver(schedule, job_dir, wait=False, down=down)
        except OSError as exc:
            log.error("cannot use the outbox in %s: %s", job_dir.name, exc.strerror or exc)
    return results


def pending_deliveries(schedule: Schedule, job: Job) -> list[OutboxEntry]:
    """The job's entries still waiting to be sent, oldest first (see ``OutboxEntry.describe``).

    Reads without a lock: ``outbox.json`` is replaced atomically."""
    entries = _read(state.job_dir(schedule, job), repair=False)
    return sorted((e for e in entries if e.status == PENDING), key=lambda e: e.created)
