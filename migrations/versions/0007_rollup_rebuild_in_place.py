"""Full rebuilds that write only the rows that differ; an index for the latest release date.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

0006's full rebuild of a rollup stored as a table, with readers about (``db refresh --full``),
deleted every row and inserted them all again with the indexes in place: 190 s at scale
large, 100 s of it ``pulse_tag_hours``'s 820,000 rows, where the materialized views it replaced
took 36 s in all. A full rebuild now computes the rollup's rows into a temporary table and then
changes the rollup only where they differ: the rows that are gone or changed are deleted, the
new and changed ones inserted. Rows are compared whole, as text (the output of a column type is
a function of its value, NULLs included), so the comparison is a hash join. After incremental
refreshes a full rebuild finds nothing or little to write; readers see the old rows until it
commits, as before.

The blocking rebuild (the seeder's, nobody reading) still empties the rollup with TRUNCATE and
inserts every row, from the same temporary table.

The rows are computed by 0006's queries, unchanged; as there, the statement that computes them
also consumes the rollup's change-log rows, so a write committing meanwhile is counted once.

Also an index on ``movies (release_date)``: the data's freshness (``overview.freshness``) reads
the latest release date, which otherwise reads every movie's wide row (150 ms at scale large).

The downgrade puts back 0006's ``iwm_rollup_rebuild`` and drops the index.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
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

# Make ``p_target`` hold exactly the rows of the temporary table ``p_staged``; returns its rows.
# Blocking: TRUNCATE and insert them all. Otherwise delete the rows that are not staged and
# insert the staged rows that are missing, so unchanged rows are never written. The rollups
# have a unique key, so neither side holds duplicate rows.
_APPLY_SQL = """
CREATE FUNCTION iwm_rollup_apply(p_target regclass, p_staged regclass, p_blocking boolean)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
DECLARE
    written bigint;
BEGIN
    IF p_blocking THEN
        EXECUTE format('TRUNCATE %s', p_target);
        EXECUTE format('INSERT INTO %s SELECT * FROM %s', p_target, p_staged);
        GET DIAGNOSTICS written = ROW_COUNT;
        RETURN written;
    END IF;
    EXECUTE format(
        'DELETE FROM %s AS t WHERE NOT EXISTS (SELECT FROM %s AS f WHERE f::text = t::text)',
        p_target, p_staged);
    EXECUTE format(
        'INSERT INTO %s SELECT f.* FROM %s AS f '
        'WHERE NOT EXISTS (SELECT FROM %s AS t WHERE t::text = f::text)',
        p_target, p_staged, p_target);
    EXECUTE format('SELECT count(*) FROM %s', p_staged) INTO written;
    RETURN written;
END
$fn$;
"""

# A temporary table shaped like ``p_like``, empty, dropped at commit (a transaction may rebuild
# several rollups: an earlier one's is dropped first).
_STAGE_SQL = """
CREATE FUNCTION iwm_rollup_stage(p_staged text, p_like regclass)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS pg_temp.%I', p_staged);
    EXECUTE format('CREATE TEMPORARY TABLE %I (LIKE %s) ON COMMIT DROP', p_staged, p_like);
    RETURN format('pg_temp.%I', p_staged)::regclass;
END
$fn$;
"""

# 0006's queries, into the staging table; p_until: the hours pulse_tag_hours holds end there.
_REBUILD_SQL = (
    """
CREATE OR REPLACE FUNCTION iwm_rollup_rebuild(p_name text, p_until timestamp, p_blocking boolean)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
DECLARE
    target regclass := ('public.' || quote_ident(p_name))::regclass;
    staged regclass := public.iwm_rollup_stage('iwm_rebuilt', target);
    histogram regclass;
BEGIN
    IF p_name = 'movie_review_stats' THEN
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name)
        INSERT INTO pg_temp.iwm_rebuilt
        SELECT r.movie_id, count(*)::bigint, sum(r.rating)::float8, stddev_samp(r.rating)::float8
        FROM public.reviews AS r
        WHERE r.movie_id IS NOT NULL
        GROUP BY r.movie_id;
    ELSIF p_name = 'review_daily_stats' THEN
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name)
        INSERT INTO pg_temp.iwm_rebuilt
        SELECT date_trunc('day', r.date), count(*)::bigint, sum(r.rating)::float8
        FROM public.reviews AS r
        WHERE r.date IS NOT NULL
        GROUP BY 1;
    ELSIF p_name = 'pulse_tag_hours' THEN
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name)
        INSERT INTO pg_temp.iwm_rebuilt
        SELECT date_trunc('hour', p.created_at), t.tag,
               COALESCE(p.linked_type, 'general')::text, count(*)::bigint
        FROM public.pulses AS p
        CROSS JOIN LATERAL public.iwm_pulse_tags(p.hashtags) AS t(tag)
        WHERE p.hashtags IS NOT NULL AND p.created_at < p_until
        GROUP BY 1, 2, 3;
    ELSIF p_name = 'movie_scores' THEN
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name)
        INSERT INTO pg_temp.iwm_rebuilt{all_movie_scores};
    ELSIF p_name = 'pulse_hours' THEN
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name),
        counted AS ({all_pulse_hours}
        )
        INSERT INTO pg_temp.iwm_rebuilt SELECT * FROM counted;
    ELSIF p_name = 'score_counts' THEN
        histogram := public.iwm_rollup_stage('iwm_rebuilt_histogram',
                                             'public.movie_score_counts'::regclass);
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name)
        INSERT INTO pg_temp.iwm_rebuilt_histogram (movie_id, score, n)
        SELECT r.movie_id, r.rating, count(*)::bigint
        FROM public.reviews AS r
        WHERE r.movie_id IS NOT NULL
        GROUP BY r.movie_id, r.rating;
        PERFORM public.iwm_rollup_apply('public.movie_score_counts'::regclass, histogram,
                                        p_blocking);
        EXECUTE 'ANALYZE public.movie_score_counts';
{histogram};
    END IF;
    RETURN public.iwm_rollup_apply(target, staged, p_blocking);
END
$fn$;
""".replace(
        "{histogram}",
        _ROLLUPS_0006._SCORE_COUNTS_FROM_HISTOGRAM.replace(
            "INSERT INTO public.score_counts", "INSERT INTO pg_temp.iwm_rebuilt"
        ),
    )
    .replace("{all_movie_scores}", _ROLLUPS_0006._ALL_MOVIE_SCORES)
    .replace("{all_pulse_hours}", _ROLLUPS_0006._PULSE_HOURS_QUERY.replace("{since}", ""))
)

_NEW_FUNCTIONS = (
    "iwm_rollup_apply(regclass, regclass, boolean)",
    "iwm_rollup_stage(text, regclass)",
)


def upgrade() -> None:
    op.execute("CREATE INDEX idx_movies_release_date ON movies (release_date)")
    op.execute(_STAGE_SQL)
    op.execute(_APPLY_SQL)
    op.execute(_REBUILD_SQL)
    # Internal, like 0006's: only the owner runs them, through the SECURITY DEFINER entries.
    for function in _NEW_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} OWNER TO CURRENT_USER")
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_movies_release_date")
    op.execute(
        _ROLLUPS_0006._REBUILD_SQL.replace(
            "CREATE FUNCTION iwm_rollup_rebuild", "CREATE OR REPLACE FUNCTION iwm_rollup_rebuild"
        )
    )
    for function in _NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
