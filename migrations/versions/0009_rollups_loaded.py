"""Record rollups whose rows a loader wrote itself.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

The demo seeder counts ``review_daily_stats``, ``pulse_hours``, ``pulse_tag_hours`` and
``score_counts``' per-movie histogram ``movie_score_counts`` while it generates the reviews and
pulses, and COPYs their rows with the data (``iwm_lab.demodata.tallies``): rebuilding them
afterwards read 7M rows again at scale large. ``iwm_rollup_loaded(name)`` finishes such a
rollup in the loader's transaction as a full refresh would: ``score_counts`` is built from the
loaded histogram (0006's query), the rollup's change-log rows are consumed, the table analysed,
and ``rollup_refreshes`` records a full refresh with reason 'loaded', covering the hours before
``date_trunc('hour', localtimestamp)`` like ``iwm_rollup_refresh``. The comment on
``rollup_refreshes.reason`` lists the new reason.

It trusts the rows it is given: only the owner may run it (the seeder owns the tables it
loads). The tests compare what the seeder loads with a rebuild in SQL.

The downgrade drops the function and restores 0006's comment.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _load(name: str, filename: str) -> ModuleType:
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ROLLUPS_0006 = _load("iwm_migration_0006", "0006_incremental_rollups.py")

_FUNCTION = "iwm_rollup_loaded(text)"

_LOADED_SQL = (
    """
CREATE FUNCTION iwm_rollup_loaded(p_name text)
RETURNS double precision
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
DECLARE
    started timestamptz := clock_timestamp();
    total bigint;
    took double precision;
BEGIN
    IF p_name IS NULL OR p_name NOT IN ('review_daily_stats', 'pulse_hours', 'pulse_tag_hours',
                                        'score_counts') THEN
        RAISE EXCEPTION USING
            MESSAGE = 'rollup ' || coalesce(quote_literal(p_name), 'NULL')
                      || ' cannot be loaded, expected one of pulse_hours, pulse_tag_hours, '
                      || 'review_daily_stats, score_counts',
            ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('iwm_refresh_rollup:' || p_name));
    DELETE FROM public.rollup_changes WHERE rollup = p_name;
    IF p_name = 'score_counts' THEN
        DELETE FROM public.score_counts;
{histogram};
        ANALYZE public.movie_score_counts;
    END IF;
    EXECUTE 'SELECT count(*) FROM public.' || quote_ident(p_name) INTO total;
    EXECUTE 'ANALYZE public.' || quote_ident(p_name);
    took := extract(epoch FROM clock_timestamp() - started);
    UPDATE public.rollup_refreshes
    SET refreshed_at = localtimestamp,
        covered_until = date_trunc('hour', localtimestamp),
        seconds = took,
        mode = 'full',
        reason = 'loaded',
        changes = 0,
        row_count = total
    WHERE name = p_name;
    RETURN took;
END
$fn$;
"""
).replace("{histogram}", _ROLLUPS_0006._SCORE_COUNTS_FROM_HISTOGRAM)


_REASON = (
    "Why its last refresh rebuilt it in full (asked, never refreshed, a source table "
    "truncated, sources changed, loaded: its rows were counted and loaded with the data); "
    "NULL otherwise"
)
_REASON_0006 = next(text for name, _kind, text in _ROLLUPS_0006._RECORD_COLUMNS if name == "reason")


def upgrade() -> None:
    op.execute(_LOADED_SQL)
    op.execute(f"ALTER FUNCTION {_FUNCTION} OWNER TO CURRENT_USER")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {_FUNCTION} FROM PUBLIC")
    _ROLLUPS_0006._comment("COLUMN", "rollup_refreshes.reason", _REASON)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_FUNCTION}")
    _ROLLUPS_0006._comment("COLUMN", "rollup_refreshes.reason", _REASON_0006)
