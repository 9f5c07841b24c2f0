"""Servers on 127.0.0.1 that receive what report delivery sends, for tests to read back.

``SmtpSink`` is an aiosmtpd server (optionally asking for AUTH LOGIN/PLAIN), ``HttpSink`` a
threaded HTTP server that keeps each POSTed JSON body; both start on a free port and stop at
the end of their ``with`` block::

    with SmtpSink(user="reports", password="s3cret-pass") as smtp, HttpSink() as hook:
        monkeypatch.setenv("IWM_SMTP_URL", smtp.url)      # smtp://reports@127.0.0.1:PORT
        monkeypatch.setenv("IWM_OPS_WEBHOOK", hook.url)
        ...
        (mail,) = smtp.wait(1)        # envelope, parsed message, text(), attachments()
        (post,) = hook.wait(1)        # path, headers, raw body, parsed JSON

``smtp.wait_for(n)`` gives the parsed messages alone and ``hook.wait_for(n)`` the JSON bodies
(``hook.bodies``, a list a test may clear between steps).
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on: connecting to it is refused at once."""
    return free_port()


def _wait_for(items: list[Any], lock: threading.Lock, count: int, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        with lock:
            if len(items) >= count:
                return list(items)
        if time.monotonic() > deadline:
            with lock:
                raise AssertionError(
                    f"expected {count} message(s) within {timeout} s, got {len(items)}"
                )
        time.sleep(0.02)


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server took it: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str | None

    def text(self) -> str:
        """The text/plain body."""
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "the message has no text/plain part"
        return str(part.get_content())

    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return None if part is None else str(part.get_content())

    def attachments(self) -> dict[str, bytes]:
        """Attached files by name, with their decoded content."""
        found = {}
        for part in self.message.iter_attachments():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[str(part.get_filename())] = payload
        return found


class _MailHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        # Requiring AUTH here rather than with aiosmtpd's auth_required keeps it from warning
        # about AUTH without TLS, which is what a loopback test server does on purpose.
        if self.sink.user is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        received = ReceivedMail(
            str(envelope.mail_from),
            [str(r) for r in envelope.rcpt_tos],
            message,
            login.decode() if isinstance(login, bytes) else None,
        )
        with self.sink.lock:
            self.sink.received.append(received)
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts.

    With ``user`` and ``password`` it offers AUTH LOGIN and PLAIN without TLS (loopback only)
    and refuses mail from a client that did not authenticate; a wrong password gets 535.
    """

    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        self.user = user
        self.password = password
        self.port = free_port()
        self.received: list[ReceivedMail] = []
        self.lock = threading.Lock()
        self.auth_failures = 0
        self._controller: Controller | None = None  # made on entry: it owns an event loop

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        good = (
            mechanism in ("LOGIN", "PLAIN")
            and isinstance(auth_data, LoginPassword)
            and auth_data.login == (self.user or "").encode()
            and auth_data.password == (self.password or "").encode()
        )
        if not good:
            with self.lock:
                self.auth_failures += 1
        return AuthResult(success=good, handled=False, auth_data=auth_data if good else None)

    @property
    def url(self) -> str:
        """``smtp://[user@]127.0.0.1:PORT``, for ``IWM_SMTP_URL``; never the password."""
        who = f"{self.user}@" if self.user else ""
        return f"smtp://{who}{HOST}:{self.port}"

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[ReceivedMail]:
        """The messages received once there are at least ``count`` (AssertionError on timeout)."""
        return _wait_for(self.received, self.lock, count, timeout)

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Like :meth:`wait`, the parsed messages alone."""
        return [mail.message for mail in self.wait(count, timeout)]

    @property
    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [mail.message for mail in self.received]

    def __enter__(self) -> Self:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"auth_require_tls": False, "authenticator": self._authenticate}
        self._controller = Controller(_MailHandler(self), hostname=HOST, port=self.port, **kwargs)
        self._controller.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass(frozen=True)
class ReceivedPost:
    """One POST as the HTTP server took it."""

    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


@dataclass
class _HttpState:
    status: int
    received: list[ReceivedPost] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)  # the parsed JSON; a test may clear it
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: _HttpState) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            post = ReceivedPost(
                self.path, {k.lower(): v for k, v in self.headers.items()}, body, parsed
            )
            with state.lock:
                state.received.append(post)
                state.bodies.append(parsed)
                status = state.status
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 400 else b"no")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test reads what arrived; access lines would only clutter its output

    return Handler


class HttpSink:
    """An HTTP server on 127.0.0.1 that keeps each POST (body, parsed JSON, headers).

    Every POST is answered with ``status`` (change it between calls: 500 makes a delivery
    fail, 200 lets the retry through). ``path`` is part of :attr:`url`, so a test can look for
    it where the webhook URL must never appear.
    """

    def __init__(
        self, status: int = 200, path: str = "/hooks/T0001/B0002/s3cretWebhookToken"
    ) -> None:
        self._state = _HttpState(status)
        self._path = path
        self._server = ThreadingHTTPServer((HOST, 0), _handler(self._state))
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, at the end of every test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def status(self) -> int:
        return self._state.status

    @status.setter
    def status(self, value: int) -> None:
        with self._state.lock:
            self._state.status = value

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self._path}"

    @property
    def received(self) -> list[ReceivedPost]:
        with self._state.lock:
            return list(self._state.received)

    @property
    def bodies(self) -> list[Any]:
        """The parsed JSON of each POST, in order: the live list (``clear()`` starts afresh)."""
        return self._state.bodies

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[ReceivedPost]:
        """The POSTs received once there are at least ``count`` (AssertionError on timeout)."""
        return _wait_for(self._state.received, self._state.lock, count, timeout)

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Any]:
        """The JSON bodies once :attr:`bodies` holds at least ``count``."""
        return _wait_for(self._state.bodies, self._state.lock, count, timeout)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
