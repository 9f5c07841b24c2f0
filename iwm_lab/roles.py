"""Least-privilege roles: an owner for migrations, a writer for loads, an analyst who only reads.

The same statements serve the embedded server (applied at every start, so data folders made
before the roles existed get them too) and a real server (``iwm-lab db roles`` prints them for
a DBA, ``--apply`` runs them as the URL's role). Every statement is idempotent.

The analyst gets SELECT on the schema's tables rather than ``pg_read_all_data``: that role
reads every table of the cluster, ``pg_authid``'s password hashes included.
"""

from __future__ import annotations

from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from iwm_lab.exceptions import RoleError

ANALYST_ROLE = "iwm_analyst"
WRITER_ROLE = "iwm_writer"
SCHEMA = "public"
# The functions that write for the writer: SECURITY DEFINER, owned by the migrations' role,
# EXECUTE revoked from PUBLIC (migrations 0004 and 0006). They refresh what only the owner may
# refresh (materialized views, the rollups stored as tables) or create (partitions), and check
# their arguments.
WRITER_FUNCTIONS = (
    "iwm_refresh_rollup(text, boolean)",
    "iwm_refresh_rollup_full(text, boolean)",
    "refresh_trending_topics(text, timestamp)",
    "iwm_ensure_partitions(date)",
)
# Built-in roles that reach the server's files or shell; neither reader nor writer may hold them.
DANGEROUS_ROLES = (
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_read_all_data",
    "pg_write_all_data",
)


def _ident(name: str) -> str:
    return sql.Identifier(name).as_string()


def _literal(value: object) -> str:
    return sql.Literal(value).as_string()


def _ensure_role(role: str) -> list[str]:
    create = f"CREATE ROLE {_ident(role)} LOGIN"
    # CREATE ROLE has no IF NOT EXISTS; a DO block keeps the script re-runnable.
    exists = f"SELECT FROM pg_roles WHERE rolname = {_literal(role)}"
    attributes = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS LOGIN"
    return [
        f"DO $$ BEGIN IF NOT EXISTS ({exists}) THEN {create}; END IF; END $$",
        f"ALTER ROLE {_ident(role)} {attributes}",
    ]


def _revoke_dangerous(role: str) -> list[str]:
    # REVOKE of a membership never granted only warns, but the DO block keeps logs quiet.
    statements = []
    for builtin in DANGEROUS_ROLES:
        held = (
            f"SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
            f"JOIN pg_roles u ON u.oid = m.member "
            f"WHERE r.rolname = {_literal(builtin)} AND u.rolname = {_literal(role)}"
        )
        revoke = f"REVOKE {_ident(builtin)} FROM {_ident(role)}"
        statements.append(f"DO $$ BEGIN IF EXISTS ({held}) THEN {revoke}; END IF; END $$")
    return statements


def cluster_statements(*, statement_timeout_ms: int) -> list[str]:
    """Create or update the analyst and writer roles (once per server)."""
    analyst, writer = _ident(ANALYST_ROLE), _ident(WRITER_ROLE)
    statements = [*_ensure_role(ANALYST_ROLE), *_ensure_role(WRITER_ROLE)]
    # On the role, not only in the session: a client that skips iwm-lab's options, or a
    # RESET, still lands read-only with a timeout. Read-only alone is no barrier (SET
    # TRANSACTION READ WRITE undoes it); the missing privileges are.
    statements += [
        f"ALTER ROLE {analyst} SET default_transaction_read_only = on",
        f"ALTER ROLE {analyst} SET statement_timeout = {int(statement_timeout_ms)}",
        f"ALTER ROLE {writer} RESET default_transaction_read_only",
    ]
    return statements + _revoke_dangerous(ANALYST_ROLE) + _revoke_dangerous(WRITER_ROLE)


def _grant_execute(function: str, role: str) -> str:
    # The function exists only in a migrated database (not in postgres, template1 or a new
    # one; the two-argument trending refresh from 0003 on): a DO block keeps the script
    # runnable everywhere. Before 0004 PUBLIC may run them anyway; from 0004 only the owner.
    qualified = f"{_ident(SCHEMA)}.{function}"
    present = f"to_regprocedure({_literal(qualified)}) IS NOT NULL"
    grant = f"GRANT EXECUTE ON FUNCTION {qualified} TO {_ident(role)}"
    return f"DO $$ BEGIN IF {present} THEN {grant}; END IF; END $$"


# Bookkeeping only migrations and the definer functions write: a writer able to change them
# could fake the schema's revision, a refresh's record, a rollup's rows or the change log the
# next refresh trusts (the triggers write the log with their owner's rights).
OWNER_ONLY_TABLES = (
    "alembic_version",
    "rollup_refreshes",
    "trending_refreshes",
    "rollup_changes",
    "movie_score_counts",
    "movie_review_stats",
    "movie_scores",
    "pulse_hours",
    "pulse_tag_hours",
    "review_daily_stats",
    "score_counts",
)


def _revoke_writes(table: str, role: str) -> str:
    qualified = f"{_ident(SCHEMA)}.{_ident(table)}"
    present = f"to_regclass({_literal(qualified)}) IS NOT NULL"
    revoke = f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {qualified} FROM {_ident(role)}"
    return f"DO $$ BEGIN IF {present} THEN {revoke}; END IF; END $$"


def database_statements(database: str, owner: str) -> list[str]:
    """Grant the roles their rights in ``database``, whose schema ``owner`` creates and owns.

    Run in that database. Default privileges cover the tables later migrations create. The
    writer may also run the SECURITY DEFINER refresh functions (:data:`WRITER_FUNCTIONS`).
    """
    analyst, writer, schema = _ident(ANALYST_ROLE), _ident(WRITER_ROLE), _ident(SCHEMA)
    readers = f"{analyst}, {writer}"
    default = f"ALTER DEFAULT PRIVILEGES FOR ROLE {_ident(owner)} IN SCHEMA {schema}"
    executes = [_grant_execute(function, WRITER_ROLE) for function in WRITER_FUNCTIONS]
    return [
        f"GRANT CONNECT ON DATABASE {_ident(database)} TO {readers}",
        f"GRANT USAGE ON SCHEMA {schema} TO {readers}",
        # PostgreSQL before 15 lets everyone create in public; neither role may.
        f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {analyst}",
        f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {analyst}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {schema} "
        f"TO {writer}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {writer}",
        f"{default} GRANT SELECT ON TABLES TO {analyst}",
        f"{default} GRANT SELECT ON SEQUENCES TO {analyst}",
        f"{default} GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO {writer}",
        f"{default} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {writer}",
        *executes,
        *(_revoke_writes(table, WRITER_ROLE) for table in OWNER_ONLY_TABLES),
    ]


def script(database: str, owner: str, *, statement_timeout_ms: int) -> str:
    """The whole script for a DBA, as ``iwm-lab db roles`` prints it."""
    lines = [
        "-- iwm-lab roles: run as a role with CREATEROLE that can grant on the schema of",
        f"-- {database!r} (its owner {owner!r}, or a superuser). Idempotent.",
        "-- Then give each role a password: ALTER ROLE iwm_analyst PASSWORD '...';",
        "-- Analysts connect as iwm_analyst. iwm_writer changes rows, and refreshes the rollups",
        "-- and trending topics through the SECURITY DEFINER functions of migrations 0004 and",
        "-- 0006:",
        "-- import and db refresh can run as it. Migrations and seed (which rebuilds indexes)",
        f"-- run as the owner, {owner!r}.",
    ]
    body = cluster_statements(statement_timeout_ms=statement_timeout_ms)
    body += database_statements(database, owner)
    return "\n".join([*lines, *(f"{statement};" for statement in body)])


def apply(engine: Engine, *, statement_timeout_ms: int) -> list[str]:
    """Run the script on ``engine``'s database as its role; return the statements run.

    The schema owner is taken to be the role that owns ``alembic_version`` (who ran the
    migrations), else the connecting role.
    """
    try:
        with engine.begin() as conn:
            owner = conn.execute(
                text(
                    "SELECT coalesce((SELECT tableowner FROM pg_tables WHERE schemaname = "
                    ":schema AND tablename = 'alembic_version'), current_user), "
                    "current_database()"
                ),
                {"schema": SCHEMA},
            ).one()
            statements = cluster_statements(statement_timeout_ms=statement_timeout_ms)
            statements += database_statements(owner[1], owner[0])
            for statement in statements:
                conn.exec_driver_sql(statement)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise RoleError(f"cannot set up the iwm-lab roles: {reason}") from None
    return statements
