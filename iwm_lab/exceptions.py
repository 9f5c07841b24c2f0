"""Errors raised by iwm-lab. The CLI turns any ``IwmLabError`` into one clear line."""


class IwmLabError(Exception):
    """Base class of every error iwm-lab raises on purpose."""


class ConfigurationError(IwmLabError):
    """A setting (environment variable) has a value iwm-lab cannot use."""


class ServerError(IwmLabError):
    """The embedded PostgreSQL server cannot be installed, started or stopped."""


class DatabaseUnavailable(IwmLabError):
    """The database does not answer; the message names host and database, never a password."""


class DatabaseMissing(DatabaseUnavailable):
    """The embedded server's data folder holds no cluster, and nothing was created: only
    ``iwm-lab db start`` and ``iwm-lab demo`` create one (a mistyped IWM_DATA_DIR stays so)."""


class SchemaNotReady(IwmLabError):
    """The database is not at the head revision this iwm-lab is written for (never migrated,
    behind, or at a revision it does not know); the message says what to run."""


class MigrationError(IwmLabError):
    """A migration cannot run against this database as it is."""


class SchemaDriftError(MigrationError):
    """The live database differs from the models or is not at the head revision."""

    def __init__(self, differences: list[str]) -> None:
        self.differences = differences
        listing = "\n".join(f"  - {d}" for d in differences)
        super().__init__(
            f"{len(differences)} difference(s) between models and database:\n{listing}"
        )


class ReadOnlySessionError(IwmLabError):
    """A write was asked of a read-only session (analysts' sessions are read-only)."""


class ImportRejected(IwmLabError):
    """``iwm-lab import`` refused a file; nothing was written to the database.

    ``errors`` holds the bad rows found (``iwm_lab.importing.RowError``); it is empty when the
    file as a whole cannot be used (unknown table, unreadable file, missing required column).
    """

    def __init__(self, message: str, errors: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors


class SeedError(IwmLabError):
    """The demo data cannot be loaded into this database as it is (not empty, not embedded)."""


class ReportError(IwmLabError):
    """A report cannot be scheduled or run as asked (``iwm-lab report ...``)."""


class ScheduleError(ReportError):
    """``reports/schedule.toml`` is invalid; the message names the report and the key."""


class ReportParameterError(ReportError):
    """A report parameter is unknown to the notebook or has the wrong type; nothing ran."""


class DatabaseNotReady(ReportError, SchemaNotReady):
    """The database is not at the Alembic head revision the reports are written for."""


class ReportBusy(ReportError):
    """Another process is running this report (or fan-out part) right now."""


class ReportFailed(ReportError):
    """A report ran and failed; its executed notebook is kept and the index shows the error."""


class ExecutorError(ReportError):
    """The executor named for run-due (``--executor``) is not ``local`` or
    ``dask://HOST:PORT``, or its Dask scheduler cannot be reached."""


class ReportValueError(ReportParameterError):
    """A parameter's value is not one it takes (a region, genre, window...); the message lists
    the valid ones. Nothing ran and nothing was recorded."""


class RoleError(IwmLabError):
    """The least-privilege roles cannot be created or granted on this database."""


class DataLossRefused(IwmLabError):
    """A command that deletes data was not confirmed (no ``--yes``, or "no" on a terminal);
    nothing was deleted."""


class RollupMissing(IwmLabError):
    """A rollup (materialized view) the query functions read is missing from the database."""


class ImportFailed(IwmLabError):
    """An import stopped for a reason outside the file: the database connection was lost or
    the server failed a statement. The message says whether anything was written."""


class UnknownTable(IwmLabError):
    """``iwm_lab.describe()`` was asked about a table the schema does not have; the message
    names the closest ones."""


class ChartExportError(IwmLabError):
    """A chart cannot be written as a static image: no Chrome or Chromium to draw it with, or
    a file type kaleido does not write. The message says what to install or use."""


class QueryError(IwmLabError):
    """An ad-hoc query (``iwm_lab.sql()``, ``%sql``) failed or was refused: the database's own
    message (with the line and column, and its hint), or a parameter missing, unused or
    unusable. Never a password or a bound value. ``sqlstate`` is the server's code, if any."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class DocsOutOfDate(IwmLabError):
    """A generated document (``docs/schema.md``) differs from what the database gives now."""


class OptionNeeded(IwmLabError):
    """Mixed into a refusal that one of the call's own keyword arguments would lift:
    ``option`` names it (``reset``, ``allow_external``, ``skip_bad``, ``force``, ...) and
    ``remedy`` says what passing it does. The message describes the problem only; the CLI
    adds the flag that sets ``option``."""

    def __init__(self, message: str, *args: object, option: str, remedy: str) -> None:
        super().__init__(message, *args)
        self.option = option
        self.remedy = remedy


class ConfirmationNeeded(DataLossRefused, OptionNeeded):
    """A loss nobody could confirm (no terminal to ask on); the ``yes`` argument confirms it."""
