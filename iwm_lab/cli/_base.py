"""What every command shares: the root group, where an error becomes one line, the flags that
lift a refusal, the engines and lazily read choices."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
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
