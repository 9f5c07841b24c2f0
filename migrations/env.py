"""Alembic environment: the URL comes from iwm-lab's settings; an injected connection wins.

``iwm_lab.migrate`` passes its own connection in ``config.attributes["connection"]`` (the
Alembic cookbook's "sharing a connection" recipe), so tests and the CLI migrate exactly the
database they hold. Plain ``alembic upgrade head`` from the repository root uses the settings:
``IWM_DATABASE_URL`` or the embedded server.
"""

from alembic import context
from sqlalchemy import Connection

from iwm_lab.database import get_engine
from iwm_lab.migrate import comparison_options
from iwm_lab.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=True,
        **comparison_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        dialect_name="postgresql",
        target_metadata=target_metadata,
        literal_binds=True,
        # Named, not pyformat: a literal "%" in a comment or default stays one "%" in the SQL.
        dialect_opts={"paramstyle": "named"},
        **comparison_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = get_engine(writable=True)
    try:
        with engine.connect() as connection:
            run_migrations(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
