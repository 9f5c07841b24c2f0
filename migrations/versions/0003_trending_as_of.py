"""The trending refresh counts back from a given as-of, and records each refresh.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

``refresh_trending_topics(window_label)`` measured its window from the refreshing
transaction's ``localtimestamp``: a database whose pulses end before that (the demo data,
dated up to a fixed day, or a restored copy) got an empty list, and nothing said why. This
revision replaces it with ``refresh_trending_topics(window_label text, as_of timestamp DEFAULT
localtimestamp)``: the window is ``as_of - N days < created_at <= as_of``, so callers that pass
only the window (pg_cron's jobs, ``iwm-lab db refresh``) count back from now as before, and a
caller can count back from the data's own end. A NULL ``as_of`` also means now.

``trending_topics.computed_at`` now holds the as-of the counts are for, the end of the window
(for a refresh of now, the same value as before: the transaction's ``localtimestamp``).

``trending_refreshes`` records, per window, the last refresh: its as-of, when it ran and how
many topics it wrote, zero included; a list that came out empty can then say why. It is filled
here from the rows already stored (their ``computed_at`` for both times); a window whose last
refresh wrote nothing has no record until its next refresh.

The downgrade puts back 0002's one-argument function and drops the record.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFRESH_TRENDING_SQL = """
CREATE FUNCTION refresh_trending_topics(
    p_window_label text, p_as_of timestamp DEFAULT localtimestamp
) RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    window_length interval;
    -- Named apart from the record's as_of column, which plpgsql would find ambiguous.
    v_as_of timestamp := coalesce(p_as_of, localtimestamp);
    written integer;
BEGIN
    window_length := CASE p_window_label
        WHEN '7d' THEN interval '7 days'
        WHEN '30d' THEN interval '30 days'
    END;
    IF window_length IS NULL THEN
        RAISE EXCEPTION USING
            MESSAGE = 'unknown trending window ' || coalesce(quote_literal(p_window_label), 'NULL')
                      || ', expected 7d or 30d',
            ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('refresh_trending_topics:' || p_window_label));

    DELETE FROM trending_topics WHERE window_label = p_window_label;

    WITH per_category AS (
        SELECT t.tag, COALESCE(p.linked_type, 'general') AS category, count(*) AS n
        FROM pulses AS p
        CROSS JOIN LATERAL iwm_pulse_tags(p.hashtags) AS t(tag)
        WHERE p.created_at > v_as_of - window_length
          AND p.created_at <= v_as_of
          AND p.hashtags IS NOT NULL
        GROUP BY 1, 2
    ),
    ranked AS (
        SELECT tag, category,
               sum(n) OVER (PARTITION BY tag) AS total,
               row_number() OVER (PARTITION BY tag ORDER BY n DESC, category) AS pick
        FROM per_category
    )
    INSERT INTO trending_topics (tag, category, window_label, count, computed_at)
    SELECT tag, category, p_window_label, total, v_as_of
    FROM ranked
    WHERE pick = 1
    ORDER BY total DESC, tag
    LIMIT 50;

    GET DIAGNOSTICS written = ROW_COUNT;

    INSERT INTO trending_refreshes AS r (window_label, as_of, refreshed_at, topics)
    VALUES (p_window_label, v_as_of, localtimestamp, written)
    ON CONFLICT (window_label) DO UPDATE
        SET as_of = EXCLUDED.as_of, refreshed_at = EXCLUDED.refreshed_at,
            topics = EXCLUDED.topics;
    RETURN written;
END
$fn$;
"""


def _previous_trending_refresh() -> str:
    """0002's ``refresh_trending_topics(text)``, to put back on downgrade."""
    path = Path(__file__).with_name("0002_rollups.py")
    spec = importlib.util.spec_from_file_location("iwm_migration_0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sql: str = module._REFRESH_TRENDING_SQL
    return sql


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE trending_refreshes (
            window_label varchar(10) PRIMARY KEY
                CONSTRAINT ck_trending_refreshes_window_label CHECK (window_label IN ('7d', '30d')),
            as_of timestamp NOT NULL,
            refreshed_at timestamp NOT NULL,
            topics integer NOT NULL
        )
        """
    )
    op.execute(
        """
        INSERT INTO trending_refreshes (window_label, as_of, refreshed_at, topics)
        SELECT window_label, max(computed_at), max(computed_at), count(*)
        FROM trending_topics
        WHERE window_label IN ('7d', '30d') AND computed_at IS NOT NULL
        GROUP BY window_label
        """
    )
    # Dropped, not replaced: beside a two-argument version, a call with the window alone
    # would be ambiguous between the two.
    op.execute("DROP FUNCTION refresh_trending_topics(text)")
    op.execute(_REFRESH_TRENDING_SQL)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS refresh_trending_topics(text, timestamp)")
    op.execute(_previous_trending_refresh())
    op.execute("DROP TABLE IF EXISTS trending_refreshes")
