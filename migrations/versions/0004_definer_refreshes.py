"""The writer role refreshes: the refresh functions run with their owner's rights.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Refreshing a materialized view needs its owner, the role that ran the migrations; so did
``iwm-lab import`` (which refreshes the rollups it touches) and ``iwm-lab db refresh``. This
revision makes the functions those writes call ``SECURITY DEFINER``, owned by the migrations'
role, so that the writer role ``iwm_writer`` (rows only, no DDL) can run them:

* ``iwm_refresh_rollup(name, concurrently)``: redefined, with its name checked against the
  rollups themselves. It ran ``REFRESH MATERIALIZED VIEW <name>`` for any name
  ``rollup_refreshes`` lists, a table the writer may write to; now the name must also be a
  materialized view of schema public, which only the migrations' role can create. Names are
  quoted and schema-qualified, never run as SQL.
* ``refresh_trending_topics(window_label, as_of)``: the window is one of two labels, the as-of
  a timestamp.
* ``iwm_ensure_partitions(through)``: the seeder's, and ``iwm-lab db partitions``'; it
  creates only its own partitions, named from dates.

Each gets a fixed ``search_path`` (public, then pg_temp last: a caller's temporary table can
never stand in for one of the schema's), EXECUTE is revoked from PUBLIC and granted to
``iwm_writer`` when that role exists (``iwm_lab.roles`` grants it at every start of the
embedded server, and ``iwm-lab db roles`` on a real one, for a role created later). The owner
keeps EXECUTE as the owner; the analyst role has none.

The downgrade puts back 0002's ``iwm_refresh_rollup``, makes the other two invoker's functions
pinned to the downgrading session's search_path (as the migrations that created them did),
and gives EXECUTE back to PUBLIC.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# iwm_lab.roles.WRITER_ROLE, written out: a migration does not follow later code.
_WRITER = "iwm_writer"

# Bookkeeping that only migrations and the definer functions write: a writer able to change
# it could fake the schema's revision or a refresh's record.
_OWNER_ONLY_TABLES = "alembic_version, rollup_refreshes, trending_refreshes"

_FUNCTIONS = (
    "iwm_refresh_rollup(text, boolean)",
    "refresh_trending_topics(text, timestamp)",
    "iwm_ensure_partitions(date)",
)

# As 0002's, but SECURITY DEFINER: the name is looked up among the schema's materialized views
# (only the migrations' role creates those) that rollup_refreshes lists, and only then, quoted
# and qualified, put in a statement. No percent signs (Alembic's offline mode) and no
# backslashes.
_REFRESH_ROLLUP_SQL = """
CREATE OR REPLACE FUNCTION iwm_refresh_rollup(p_name text, p_concurrently boolean DEFAULT true)
RETURNS double precision
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    started timestamptz := clock_timestamp();
    populated boolean;
    took double precision;
    target text;
BEGIN
    SELECT v.ispopulated INTO populated
    FROM pg_catalog.pg_matviews AS v
    WHERE v.schemaname = 'public' AND v.matviewname = p_name
      AND EXISTS (SELECT FROM public.rollup_refreshes AS r WHERE r.name = v.matviewname);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            MESSAGE = 'unknown rollup ' || coalesce(quote_literal(p_name), 'NULL')
                      || ', expected one of '
                      || coalesce((SELECT string_agg(r.name, ', ' ORDER BY r.name)
                                   FROM public.rollup_refreshes AS r
                                   JOIN pg_catalog.pg_matviews AS v
                                     ON v.schemaname = 'public' AND v.matviewname = r.name),
                                  '(none)'),
            ERRCODE = 'invalid_parameter_value';
    END IF;
    target := 'public.' || quote_ident(p_name);
    -- Two concurrent refreshes of one view would wait on each other anyway; one at a time
    -- also keeps the record below in step with the view.
    PERFORM pg_advisory_xact_lock(hashtext('iwm_refresh_rollup:' || p_name));
    -- CONCURRENTLY keeps the view readable during the refresh but needs it populated; a plain
    -- refresh is faster where nobody reads (the seeder's transaction holds every table).
    IF p_concurrently AND populated THEN
        EXECUTE 'REFRESH MATERIALIZED VIEW CONCURRENTLY ' || target;
    ELSE
        EXECUTE 'REFRESH MATERIALIZED VIEW ' || target;
    END IF;
    -- Fresh statistics with fresh contents: the readers' plans depend on them.
    EXECUTE 'ANALYZE ' || target;
    took := extract(epoch FROM clock_timestamp() - started);
    UPDATE public.rollup_refreshes
    SET refreshed_at = localtimestamp,
        covered_until = date_trunc('hour', localtimestamp),
        seconds = took
    WHERE name = p_name;
    RETURN took;
END
$fn$;
"""


def _previous_refresh_rollup() -> str:
    """0002's ``iwm_refresh_rollup``, to put back on downgrade (CREATE OR REPLACE resets
    SECURITY DEFINER and the SET clause to what the text says; owner and privileges stay)."""
    path = Path(__file__).with_name("0002_rollups.py")
    spec = importlib.util.spec_from_file_location("iwm_migration_0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sql: str = module._REFRESH_ROLLUP_SQL
    return sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def _if_writer(statement: str) -> str:
    """``statement`` in a DO block that runs it only on a server with the writer role."""
    exists = f"SELECT FROM pg_catalog.pg_roles WHERE rolname = '{_WRITER}'"
    return f"DO $$ BEGIN IF EXISTS ({exists}) THEN {statement}; END IF; END $$"


def upgrade() -> None:
    op.execute(_REFRESH_ROLLUP_SQL)
    for function in _FUNCTIONS[1:]:
        op.execute(f"ALTER FUNCTION {function} SECURITY DEFINER SET search_path = public, pg_temp")
    for function in _FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} OWNER TO CURRENT_USER")
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
        op.execute(_if_writer(f"GRANT EXECUTE ON FUNCTION {function} TO {_WRITER}"))
    writes = "INSERT, UPDATE, DELETE, TRUNCATE"
    op.execute(_if_writer(f"REVOKE {writes} ON {_OWNER_ONLY_TABLES} FROM {_WRITER}"))


def downgrade() -> None:
    writes = "INSERT, UPDATE, DELETE, TRUNCATE"
    op.execute(_if_writer(f"GRANT {writes} ON {_OWNER_ONLY_TABLES} TO {_WRITER}"))
    op.execute(_previous_refresh_rollup())
    for function in _FUNCTIONS[1:]:
        op.execute(f"ALTER FUNCTION {function} SECURITY INVOKER SET search_path FROM CURRENT")
    for function in _FUNCTIONS:
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO PUBLIC")
        op.execute(_if_writer(f"REVOKE EXECUTE ON FUNCTION {function} FROM {_WRITER}"))
