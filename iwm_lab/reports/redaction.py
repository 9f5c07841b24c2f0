"""Keeping the database URL, the mail password and webhook URLs out of everything a run writes.

The URL reaches kernels through the environment only, but a notebook can still print it, or
an error message can quote it. Every notebook, HTML page, state file and message a run
writes passes through :class:`Redactor` first. Delivery (:mod:`.delivery`) hides the SMTP
password (``IWM_SMTP_PASSWORD``, or one written into ``IWM_SMTP_URL``) and each webhook URL
the schedule names, as their servers' errors could quote them.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iwm_lab.database import scrub
from iwm_lab.settings import get_settings

if TYPE_CHECKING:
    from iwm_lab.reports.schedule import Schedule

SMTP_URL = "IWM_SMTP_URL"
SMTP_PASSWORD = "IWM_SMTP_PASSWORD"
# A password of a few characters would blank out ordinary text; the URL forms still catch it
# where it matters.
_MIN_PASSWORD = 4
# The secret part of a webhook URL is usually its path (Slack's /services/T…/B…/…), which an
# error can quote without the host; a short path ("/hook") is not worth blanking everywhere.
_MIN_PATH = 16


def _password_forms(password: str) -> list[str]:
    if len(password) < _MIN_PASSWORD:
        return []
    return [password, urllib.parse.quote(password, safe="")]


def _url_forms(url: str) -> list[str]:
    """A secret URL as given, and its path and query, which an error may quote alone."""
    found = [url]
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL at all: the whole value is what there is to hide
        return found
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(tail) >= _MIN_PATH:
        found.append(tail)
    if password:
        found += _password_forms(urllib.parse.unquote(password))
    return found


def _smtp_url_forms(url: str) -> list[str]:
    """The SMTP URL holds a secret only when someone wrote a password into it."""
    try:
        password = urllib.parse.urlsplit(url).password
    except ValueError:
        return []
    if not password:
        return []
    return [url, *_password_forms(urllib.parse.unquote(password))]


@dataclass
class Redactor:
    """Removes the database URL, mail password and webhook URLs from anything a run writes."""

    secrets: list[str] = field(default_factory=list)

    @classmethod
    def from_environment(cls, extra_env: Sequence[str] = ()) -> Redactor:
        """What to hide: ``IWM_DATABASE_URL`` as given and as parsed, and its password;
        ``IWM_SMTP_PASSWORD`` and any password inside ``IWM_SMTP_URL``; and the values of the
        environment variables named in ``extra_env`` (the schedule's webhook variables)."""
        found = []
        raw = os.environ.get("IWM_DATABASE_URL")
        if raw:
            found.append(raw)
        url = get_settings().database_url
        if url is not None:
            found.append(url.render_as_string(hide_password=False))
            found += _password_forms(str(url.password or ""))
        found += _password_forms(os.environ.get(SMTP_PASSWORD, ""))
        found += _smtp_url_forms(os.environ.get(SMTP_URL, ""))
        for name in extra_env:
            value = os.environ.get(name, "")
            if len(value) >= _MIN_PASSWORD:
                found += _url_forms(value)
        return cls(sorted(set(found), key=len, reverse=True))

    def text(self, value: str) -> str:
        """``value`` with every secret, and any ``user:password@`` in a URL, replaced."""
        for secret in self.secrets:
            value = value.replace(secret, "[redacted]")
        return scrub(value)

    def tree(self, value: Any) -> Any:
        """A copy of a JSON-like structure (a notebook) with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.tree(v) for v in value]
        if isinstance(value, dict):
            return type(value)({k: self.tree(v) for k, v in value.items()})
        return value


def redactor_for(schedule: Schedule) -> Redactor:
    """The usual secrets plus the webhook URLs of the schedule's targets."""
    names = {t.webhook_env for t in schedule.targets.values() if t.webhook_env}
    return Redactor.from_environment(extra_env=sorted(names))
