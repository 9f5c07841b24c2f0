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
