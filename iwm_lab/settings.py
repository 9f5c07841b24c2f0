"""The one settings object, read from the environment by the library and by migrations/env.py.

Environment variables:

``IWM_DATABASE_URL``
    SQLAlchemy URL (``postgresql+psycopg://...``) of an existing server. When unset, the
    embedded PostgreSQL 16 is used and started on demand. It may name several servers, a
    primary and its hot standbys (libpq's multi-host ``?host=a,b&port=p1,p2``, with
    ``target_session_attrs=prefer-standby`` to read from a standby when one answers).
``IWM_PRIMARY_URL``
    Where writes go (migrations, seed, import, refreshes) when ``IWM_DATABASE_URL`` is one
    for reading, e.g. a standby's. Unset, writes use ``IWM_DATABASE_URL`` with
    ``target_session_attrs=read-write`` (see :func:`iwm_lab.database.get_engine`). Needs
    ``IWM_DATABASE_URL``.
``IWM_DATA_DIR``
    Folder of the embedded server (cluster, log, socket lock). Defaults to
    ``$XDG_DATA_HOME/iwm-lab`` (``~/.local/share/iwm-lab``) for a normal user and to
    ``/var/lib/iwm-lab`` for root, whose home the unprivileged server user cannot enter.
    Set but empty is an error, not the default.
``IWM_SERVER_USER``
    When running as root, the unprivileged account that owns and runs the embedded server
    (created if missing). Default ``iwm-lab``.
``IWM_STATEMENT_TIMEOUT``
    Statement timeout of analyst (read-only) sessions, in milliseconds. Default 60000.
``IWM_AS_OF``
    Pins the moment notebooks and reports take as "now" (ISO date or date and time, UTC):
    to reproduce a past report, or the stored notebook outputs of the tiny dataset. Unset,
    a notebook whose ``as_of`` is None is as of the clock (see :mod:`iwm_lab.clock`).

The project's own folders (:data:`PROJECT_DIR` and the paths under it) are those of the
repository this package is installed from (``pip install -e .``): the migrations, the report
schedule, the notebooks and ``docs/schema.md`` live beside the package, not in it. A wheel
installed without the repository lacks them; what needs one says so when it is missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from iwm_lab.exceptions import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

DEFAULT_STATEMENT_TIMEOUT_MS = 60_000
# Per sort or hash of a query: PostgreSQL's 4 MB default makes the analyses' hash aggregates
# (tens of thousands of groups) spill to disk. One analyst's few queries at a time can afford
# more.
DEFAULT_WORK_MEM_MB = 64
EMBEDDED_DATABASE = "iwm"
EMBEDDED_ROLE = "iwm"

# The repository's folders (see the module docstring), named here and nowhere else.
PROJECT_DIR = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_DIR / "migrations"
DEFAULT_SCHEDULE = PROJECT_DIR / "reports" / "schedule.toml"
NOTEBOOKS_DIR = PROJECT_DIR / "notebooks"
SCHEMA_DOCS = PROJECT_DIR / "docs" / "schema.md"


def _default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/iwm-lab")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "iwm-lab"


def _parse_url(raw: str, name: str = "IWM_DATABASE_URL") -> URL:
    # Imported here: SQLAlchemy takes tenths of a second to load, and `iwm-lab --help` and
    # `report list` import this module with no URL to parse.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):  # ValueError: a bad port or IPv6 host, e.g. "[::1"
        raise ConfigurationError(
            f"{name} is not a valid SQLAlchemy URL "
            "(expected postgresql+psycopg://user@host:port/database)"
        ) from None
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError(f"{name} must point at PostgreSQL, not {url.get_backend_name()!r}")
    # psycopg 3 is the only driver iwm-lab is built and tested with.
    return url.set(drivername="postgresql+psycopg")


def _parse_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, got {value}")
    return value


def _parse_moment(name: str) -> datetime | None:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return None
    from iwm_lab.queries._common import check_moment

    try:
        return check_moment(raw, name)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


@dataclass(frozen=True)
class Settings:
    database_url: URL | None = field(default=None, repr=False)
    primary_url: URL | None = field(default=None, repr=False)
    data_dir: Path = field(default_factory=_default_data_dir)
    server_user: str = "iwm-lab"
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    work_mem_mb: int = DEFAULT_WORK_MEM_MB
    as_of: datetime | None = None

    @property
    def uses_embedded_server(self) -> bool:
        return self.database_url is None

    def __repr__(self) -> str:
        url = self.database_url.render_as_string(hide_password=True) if self.database_url else None
        primary = (
            self.primary_url.render_as_string(hide_password=True) if self.primary_url else None
        )
        return (
            f"Settings(database_url={url!r}, primary_url={primary!r}, "
            f"data_dir={str(self.data_dir)!r}, "
            f"server_user={self.server_user!r}, statement_timeout_ms={self.statement_timeout_ms}, "
            f"work_mem_mb={self.work_mem_mb}, as_of={self.as_of!r})"
        )

    @classmethod
    def from_env(cls) -> Settings:
        raw_url = os.environ.get("IWM_DATABASE_URL") or None
        raw_primary = os.environ.get("IWM_PRIMARY_URL") or None
        if raw_primary and not raw_url:
            # Writes would go to that server while everything else reads the embedded one.
            raise ConfigurationError(
                "IWM_PRIMARY_URL is set but IWM_DATABASE_URL is not; IWM_PRIMARY_URL names "
                "where writes go when IWM_DATABASE_URL reads from a standby: set both, or "
                "unset IWM_PRIMARY_URL"
            )
        data_dir = os.environ.get("IWM_DATA_DIR")
        if data_dir is not None and not data_dir.strip():
            # An empty value is most likely a variable that failed to expand; falling back to
            # the shared default would start, or seed, someone else's server.
            raise ConfigurationError(
                "IWM_DATA_DIR is set but empty; unset it to use the default folder "
                f"{_default_data_dir()}, or give a folder"
            )
        return cls(
            database_url=_parse_url(raw_url) if raw_url else None,
            primary_url=_parse_url(raw_primary, "IWM_PRIMARY_URL") if raw_primary else None,
            data_dir=Path(data_dir).expanduser().absolute() if data_dir else _default_data_dir(),
            server_user=os.environ.get("IWM_SERVER_USER") or "iwm-lab",
            statement_timeout_ms=_parse_int("IWM_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT_MS),
            work_mem_mb=_parse_int("IWM_WORK_MEM", DEFAULT_WORK_MEM_MB),
            as_of=_parse_moment("IWM_AS_OF"),
        )


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings.from_env()
