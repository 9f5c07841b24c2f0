"""Keeping the database URL and its password out of everything a report run writes.

The URL reaches kernels through the environment only, but a notebook can still print it, or
an error message can quote it. Every notebook, HTML page, state file and message a run
writes passes through :class:`Redactor` first.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from iwm_lab.database import scrub
from iwm_lab.settings import get_settings


@dataclass
class Redactor:
    """Removes the database URL and its password from anything a run writes."""

    secrets: list[str] = field(default_factory=list)

    @classmethod
    def from_environment(cls) -> Redactor:
        """What to hide: ``IWM_DATABASE_URL`` as given and as parsed, and its password."""
        found = []
        raw = os.environ.get("IWM_DATABASE_URL")
        if raw:
            found.append(raw)
        url = get_settings().database_url
        if url is not None:
            found.append(url.render_as_string(hide_password=False))
            password = str(url.password or "")
            # A password of a few characters would blank out ordinary text; the URL forms
            # above still catch it where it matters.
            if len(password) >= 4:
                found += [password, urllib.parse.quote(password, safe="")]
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
