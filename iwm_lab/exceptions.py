"""Errors raised by iwm-lab. The CLI turns any ``IwmLabError`` into one clear line."""


class IwmLabError(Exception):
    """Base class of every error iwm-lab raises on purpose."""


class ConfigurationError(IwmLabError):
    """A setting (environment variable) has a value iwm-lab cannot use."""


class ServerError(IwmLabError):
    """The embedded PostgreSQL server cannot be installed, started or stopped."""


class DatabaseUnavailable(IwmLabError):
    """The database does not answer; the message names host and database, never a password."""


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


class DatabaseNotReady(ReportError):
    """The database is not at the Alembic head revision the reports are written for."""


class ReportBusy(ReportError):
    """Another process is running this report (or fan-out part) right now."""


class ReportFailed(ReportError):
    """A report ran and failed; its executed notebook is kept and the index shows the error."""


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
