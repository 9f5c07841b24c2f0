"""Rollups for the query library: materialized views over reviews and pulses, and their refresh.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

At scale ``large`` (5M reviews, 2M pulses) the analyses cannot aggregate the raw rows in an
interactive time; they read these summaries instead (``iwm_lab.rollups`` says which function
reads which):

* ``movie_review_stats``: per reviewed movie, its reviews, their rating sum and spread.
* ``score_counts``: per score source (users' review ratings, or a platform score), genre or
  all genres, release year and score, how many values.
* ``score_pair_cells``: per pair of platform scores, genre or all genres and pair of values,
  how many movies have them.
* ``review_daily_stats``: reviews and rating sum per day of ``reviews.date``.
* ``pulse_tag_hours``: pulses per (hour, normalised tag, category), for the hours before the
  refresh began; the trending functions count the hours after it, and partial hours at a
  window's edges, from ``pulses`` itself.
* ``streaming_region_movies``: per (region, movie) the offer types available there, as flags,
  and whether the movie is released.
* ``streaming_region_type_counts``: per region, the movies with each combination of offer types.
* ``streaming_platform_shares``: per (region, platform) the movies offered and the exclusives.
* ``streaming_price_mix``: per (region, offer type, quality, currency) the options and
  statistics of their prices, parsed from the display strings.

``rollup_refreshes`` records, per rollup, when it was last refreshed, how long that took and
(for ``pulse_tag_hours``) the hour up to which it holds the pulses. ``iwm_refresh_rollup(name,
concurrently)`` refreshes one rollup and updates that record; ``iwm-lab db refresh`` and the
seeder call it. ``iwm_pulse_tags(hashtags)`` is the tag normalisation, written once here for
the rollup, ``refresh_trending_topics`` and the live counts. ``refresh_trending_topics`` gains
the upper bound 0001 lacked: pulses dated after the refresh are no longer counted.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rules of the module docstring of iwm_lab.queries.trending. SQL, not plpgsql, and with no
# SET clause, so that the planner inlines it into the calling query (a per-row function call
# would cost more than the parsing); every name it uses lives in pg_catalog, which is always
# searched first, so it needs no search_path of its own. No backslashes in the pattern: immune
# to standard_conforming_strings.
_PULSE_TAGS_SQL = """
CREATE FUNCTION iwm_pulse_tags(hashtags text) RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$
    SELECT DISTINCT t.tag
    FROM jsonb_array_elements(
             CASE WHEN hashtags ~ '^[[:space:]]*[[]' AND pg_input_is_valid(hashtags, 'jsonb')
                  THEN hashtags::jsonb
             END) AS e(value)
    CROSS JOIN LATERAL (SELECT lower(trim(ltrim(trim(e.value #>> '{}'), '#')))) AS t(tag)
    WHERE jsonb_typeof(e.value) = 'string' AND t.tag <> '' AND char_length(t.tag) <= 120
$fn$;
"""

_REFRESH_TRENDING_SQL = """
CREATE OR REPLACE FUNCTION refresh_trending_topics(p_window_label text) RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    window_length interval;
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
        WHERE p.created_at > localtimestamp - window_length
          AND p.created_at <= localtimestamp
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
    SELECT tag, category, p_window_label, total, now()
    FROM ranked
    WHERE pick = 1
    ORDER BY total DESC, tag
    LIMIT 50;

    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$fn$;
"""

# Each view has a unique index on plain columns: REFRESH ... CONCURRENTLY needs one. Sums are
# float8 and counts bigint, whatever the aggregate would give, so the readers' types are fixed.
_ROLLUPS: dict[str, tuple[str, str]] = {
    "movie_review_stats": (
        """
        SELECT r.movie_id, count(*)::bigint AS reviews, sum(r.rating)::float8 AS rating_sum,
               stddev_samp(r.rating)::float8 AS rating_stddev
        FROM reviews AS r
        WHERE r.movie_id IS NOT NULL
        GROUP BY r.movie_id
        """,
        "(movie_id)",
    ),
    # Per score source, genre (NULL: every movie, whatever its genres; a movie of several
    # genres counts once there and once under each of its genres), release year (NULL unless
    # four digits, as the ratings module reads it) and score: how many values. For "users"
    # the values are review ratings, for the platform scores the movies' scores.
    "score_counts": (
        """
        WITH movie_years AS MATERIALIZED (
            SELECT m.id, CASE WHEN m.year ~ '^[0-9]{4}$' THEN m.year::integer END AS year,
                   m.siddu_score, m.critics_score, m.imdb_rating, m.rotten_tomatoes_score
            FROM movies AS m
        ),
        per_movie AS (
            SELECT r.movie_id, 'users' AS source, r.rating::float8 AS score, count(*) AS n
            FROM reviews AS r
            WHERE r.movie_id IS NOT NULL
            GROUP BY r.movie_id, r.rating
            UNION ALL
            SELECT id, 'siddu', siddu_score, 1 FROM movie_years WHERE siddu_score IS NOT NULL
            UNION ALL
            SELECT id, 'critics', critics_score, 1 FROM movie_years WHERE critics_score IS NOT NULL
            UNION ALL
            SELECT id, 'imdb', imdb_rating, 1 FROM movie_years WHERE imdb_rating IS NOT NULL
            UNION ALL
            SELECT id, 'rotten_tomatoes', rotten_tomatoes_score::float8, 1
            FROM movie_years WHERE rotten_tomatoes_score IS NOT NULL
        ),
        dated AS MATERIALIZED (
            SELECT p.movie_id, y.year, p.source, p.score, p.n
            FROM per_movie AS p JOIN movie_years AS y ON y.id = p.movie_id
        )
        SELECT source, NULL::integer AS genre_id, year, score, sum(n)::bigint AS n
        FROM dated
        GROUP BY source, year, score
        UNION ALL
        SELECT d.source, g.genre_id, d.year, d.score, sum(d.n)::bigint
        FROM dated AS d JOIN movie_genres AS g ON g.movie_id = d.movie_id
        GROUP BY d.source, g.genre_id, d.year, d.score
        """,
        "(source, genre_id, year, score) NULLS NOT DISTINCT",
    ),
    # For every pair of platform scores (Rotten Tomatoes divided by 10, as the ratings module
    # compares it), per genre (NULL: every movie) and pair of values: how many movies have
    # them. Platform scores take few values, so 100k movies fold into a few thousand cells.
    "score_pair_cells": (
        """
        WITH scores AS MATERIALIZED (
            SELECT id, siddu_score AS siddu, critics_score AS critics, imdb_rating AS imdb,
                   rotten_tomatoes_score::float8 / 10 AS rotten_tomatoes
            FROM movies
        ),
        pairs AS (
            SELECT id, 'siddu' AS source_a, 'critics' AS source_b, siddu AS x, critics AS y
            FROM scores WHERE siddu IS NOT NULL AND critics IS NOT NULL
            UNION ALL
            SELECT id, 'siddu', 'imdb', siddu, imdb
            FROM scores WHERE siddu IS NOT NULL AND imdb IS NOT NULL
            UNION ALL
            SELECT id, 'siddu', 'rotten_tomatoes', siddu, rotten_tomatoes
            FROM scores WHERE siddu IS NOT NULL AND rotten_tomatoes IS NOT NULL
            UNION ALL
            SELECT id, 'critics', 'imdb', critics, imdb
            FROM scores WHERE critics IS NOT NULL AND imdb IS NOT NULL
            UNION ALL
            SELECT id, 'critics', 'rotten_tomatoes', critics, rotten_tomatoes
            FROM scores WHERE critics IS NOT NULL AND rotten_tomatoes IS NOT NULL
            UNION ALL
            SELECT id, 'imdb', 'rotten_tomatoes', imdb, rotten_tomatoes
            FROM scores WHERE imdb IS NOT NULL AND rotten_tomatoes IS NOT NULL
        ),
        grouped AS (
            SELECT NULL::integer AS genre_id, source_a, source_b, x, y FROM pairs
            UNION ALL
            SELECT g.genre_id, p.source_a, p.source_b, p.x, p.y
            FROM pairs AS p JOIN movie_genres AS g ON g.movie_id = p.id
        )
        SELECT genre_id, source_a, source_b, x, y, count(*)::bigint AS movies
        FROM grouped
        GROUP BY genre_id, source_a, source_b, x, y
        """,
        "(genre_id, source_a, source_b, x, y) NULLS NOT DISTINCT",
    ),
    "review_daily_stats": (
        """
        SELECT date_trunc('day', r.date) AS day, count(*)::bigint AS reviews,
               sum(r.rating)::float8 AS rating_sum
        FROM reviews AS r
        WHERE r.date IS NOT NULL
        GROUP BY 1
        """,
        "(day)",
    ),
    # Only whole hours before the refresh's start: later pulses are still arriving.
    "pulse_tag_hours": (
        """
        SELECT date_trunc('hour', p.created_at) AS hour, t.tag,
               COALESCE(p.linked_type, 'general')::text AS category, count(*)::bigint AS pulses
        FROM pulses AS p
        CROSS JOIN LATERAL iwm_pulse_tags(p.hashtags) AS t(tag)
        WHERE p.hashtags IS NOT NULL
          AND p.created_at < date_trunc('hour', localtimestamp)
        GROUP BY 1, 2, 3
        """,
        "(hour, tag, category)",
    ),
    "streaming_region_movies": (
        """
        SELECT o.region, o.movie_id,
               bool_or(o.type = 'subscription') AS subscription,
               bool_or(o.type = 'rent') AS rent,
               bool_or(o.type = 'buy') AS buy,
               bool_or(o.type = 'free') AS free,
               bool_or(m.status = 'released') AS released
        FROM movie_streaming_options AS o
        JOIN movies AS m ON m.id = o.movie_id
        WHERE o.region IS NOT NULL
        GROUP BY o.region, o.movie_id
        """,
        "(region, movie_id)",
    ),
    # The same per (region, movie) flags, counted: how many movies of a region have each
    # combination of offer types (and are released or not).
    "streaming_region_type_counts": (
        """
        SELECT region, subscription, rent, buy, free, released, count(*)::bigint AS movies
        FROM (
            SELECT o.region,
                   bool_or(o.type = 'subscription') AS subscription,
                   bool_or(o.type = 'rent') AS rent,
                   bool_or(o.type = 'buy') AS buy,
                   bool_or(o.type = 'free') AS free,
                   bool_or(m.status = 'released') AS released
            FROM movie_streaming_options AS o
            JOIN movies AS m ON m.id = o.movie_id
            WHERE o.region IS NOT NULL
            GROUP BY o.region, o.movie_id
        ) AS per_movie
        GROUP BY region, subscription, rent, buy, free, released
        """,
        "(region, subscription, rent, buy, free, released) NULLS NOT DISTINCT",
    ),
    # Per region, offer type, quality and currency: options, and statistics of the prices
    # parsed from the display strings ("$3.99", "3,99 €", "₹1,49,999", "1.299,00 €"). The
    # number may use a decimal point, a decimal comma (one or two digits after it) or
    # thousands separators (western or Indian grouping); one marker (symbol or code, the
    # markers below) may come before or after it. Anything else, "free" included, is unpriced:
    # a price that is not a number must not pull an average towards zero. Each distinct
    # display string is parsed once. No backslashes in the patterns: immune to
    # standard_conforming_strings.
    "streaming_price_mix": (
        """
        WITH markers(marker, code) AS (
            VALUES
                ('$', 'USD'),
                ('US$', 'USD'),
                ('USD', 'USD'),
                ('₹', 'INR'),
                ('RS', 'INR'),
                ('RS.', 'INR'),
                ('INR', 'INR'),
                ('€', 'EUR'),
                ('EUR', 'EUR'),
                ('£', 'GBP'),
                ('GBP', 'GBP'),
                ('¥', 'JPY'),
                ('JPY', 'JPY'),
                ('CA$', 'CAD'),
                ('C$', 'CAD'),
                ('CAD', 'CAD'),
                ('A$', 'AUD'),
                ('AU$', 'AUD'),
                ('AUD', 'AUD'),
                ('R$', 'BRL'),
                ('BRL', 'BRL')
        ),
        prices AS (
            SELECT DISTINCT price FROM movie_streaming_options WHERE price IS NOT NULL
        ),
        split AS (
            SELECT price, upper(btrim(part[1]) || btrim(part[3])) AS marker,
                   CASE
                       WHEN part[2] ~ '^[0-9]+([.][0-9]+)?$' THEN part[2]
                       WHEN part[2] ~ '^[0-9]+,[0-9]{1,2}$' THEN replace(part[2], ',', '.')
                       WHEN part[2] ~ '^[0-9]{1,3}(,[0-9]{2,3})*,[0-9]{3}([.][0-9]+)?$'
                           THEN replace(part[2], ',', '')
                       WHEN part[2] ~ '^[0-9]{1,3}([.][0-9]{3})+(,[0-9]+)?$'
                           THEN replace(replace(part[2], '.', ''), ',', '.')
                   END AS number
            FROM prices
            CROSS JOIN LATERAL regexp_match(
                btrim(translate(price, chr(160) || chr(8239) || chr(9), '   ')),
                '^([^0-9]*)([0-9][0-9.,]*)([^0-9]*)$'
            ) AS part
        ),
        parsed AS (
            SELECT s.price, CASE WHEN s.number IS NOT NULL THEN m.code END AS currency,
                   CASE WHEN s.number IS NOT NULL AND (s.marker = '' OR m.code IS NOT NULL)
                        THEN CAST(s.number AS numeric)
                   END AS amount
            FROM split AS s
            LEFT JOIN markers AS m ON m.marker = s.marker
        )
        SELECT o.region, o.type, o.quality, p.currency, count(*)::bigint AS options,
               count(p.amount)::bigint AS priced,
               CAST(min(p.amount) AS float8) AS price_min,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY p.amount) AS price_median,
               CAST(max(p.amount) AS float8) AS price_max,
               CAST(avg(p.amount) AS float8) AS price_mean
        FROM movie_streaming_options AS o
        LEFT JOIN parsed AS p ON p.price = o.price
        WHERE o.region IS NOT NULL
        GROUP BY o.region, o.type, o.quality, p.currency
        """,
        "(region, type, quality, currency) NULLS NOT DISTINCT",
    ),
    # Per region and platform: movies offered, and those no other platform offers there;
    # region_movies counts the region's movies offered by any platform (the shares' base).
    "streaming_platform_shares": (
        """
        WITH pairs AS MATERIALIZED (
            SELECT DISTINCT o.region, o.movie_id, o.platform_id
            FROM movie_streaming_options AS o
            WHERE o.region IS NOT NULL AND o.movie_id IS NOT NULL AND o.platform_id IS NOT NULL
        ),
        spread AS (
            SELECT region, platform_id,
                   count(*) OVER (PARTITION BY region, movie_id) AS platforms
            FROM pairs
        ),
        totals AS (
            SELECT region, count(DISTINCT movie_id)::bigint AS region_movies
            FROM pairs
            GROUP BY region
        )
        SELECT s.region, s.platform_id, count(*)::bigint AS movies,
               count(*) FILTER (WHERE s.platforms = 1)::bigint AS exclusives,
               t.region_movies
        FROM spread AS s JOIN totals AS t ON t.region = s.region
        GROUP BY s.region, s.platform_id, t.region_movies
        """,
        "(region, platform_id)",
    ),
}

_EXTRA_INDEXES = (
    "CREATE INDEX idx_pulse_tag_hours_tag ON pulse_tag_hours (tag, hour)",
    "CREATE INDEX idx_streaming_region_movies_movie_id ON streaming_region_movies (movie_id)",
)

_REFRESH_ROLLUP_SQL = """
CREATE FUNCTION iwm_refresh_rollup(p_name text, p_concurrently boolean DEFAULT true)
RETURNS double precision
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    started timestamptz := clock_timestamp();
    populated boolean;
    took double precision;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rollup_refreshes WHERE name = p_name) THEN
        RAISE EXCEPTION USING
            MESSAGE = 'unknown rollup ' || coalesce(quote_literal(p_name), 'NULL')
                      || ', expected one of '
                      || (SELECT string_agg(name, ', ' ORDER BY name) FROM rollup_refreshes),
            ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Two concurrent refreshes of one view would wait on each other anyway; one at a time
    -- also keeps the record below in step with the view.
    PERFORM pg_advisory_xact_lock(hashtext('iwm_refresh_rollup:' || p_name));
    SELECT c.relispopulated INTO populated
    FROM pg_class AS c
    WHERE c.oid = to_regclass(quote_ident(p_name));
    -- CONCURRENTLY keeps the view readable during the refresh but needs it populated; a plain
    -- refresh is faster where nobody reads (the seeder's transaction holds every table).
    IF p_concurrently AND populated THEN
        EXECUTE 'REFRESH MATERIALIZED VIEW CONCURRENTLY ' || quote_ident(p_name);
    ELSE
        EXECUTE 'REFRESH MATERIALIZED VIEW ' || quote_ident(p_name);
    END IF;
    -- Fresh statistics with fresh contents: the readers' plans depend on them.
    EXECUTE 'ANALYZE ' || quote_ident(p_name);
    took := extract(epoch FROM clock_timestamp() - started);
    UPDATE rollup_refreshes
    SET refreshed_at = localtimestamp,
        covered_until = date_trunc('hour', localtimestamp),
        seconds = took
    WHERE name = p_name;
    RETURN took;
END
$fn$;
"""


def _previous_trending_refresh() -> str:
    """0001's ``refresh_trending_topics``, to put back on downgrade."""
    path = Path(__file__).with_name("0001_initial_schema.py")
    spec = importlib.util.spec_from_file_location("iwm_migration_0001", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sql: str = module._REFRESH_TRENDING_SQL
    return sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    op.execute(_PULSE_TAGS_SQL)
    op.execute(_REFRESH_TRENDING_SQL)
    op.execute(
        """
        CREATE TABLE rollup_refreshes (
            name text PRIMARY KEY,
            refreshed_at timestamp,
            covered_until timestamp,
            seconds double precision
        )
        """
    )
    for name, (query, key) in _ROLLUPS.items():
        op.execute(f"CREATE MATERIALIZED VIEW {name} AS {query} WITH NO DATA")
        op.execute(f"CREATE UNIQUE INDEX uq_{name} ON {name} {key}")
    records = sa.table("rollup_refreshes", sa.column("name", sa.Text))
    op.bulk_insert(records, [{"name": name} for name in _ROLLUPS])
    for statement in _EXTRA_INDEXES:
        op.execute(statement)
    op.execute(_REFRESH_ROLLUP_SQL)
    # Populated now: on an empty database in milliseconds, on a loaded one it is the first
    # refresh, and readers would otherwise fail on an unpopulated view.
    op.execute("SELECT iwm_refresh_rollup(name, false) FROM rollup_refreshes ORDER BY name")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS iwm_refresh_rollup(text, boolean)")
    for name in reversed(_ROLLUPS):
        op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS rollup_refreshes")
    op.execute(_previous_trending_refresh())
    op.execute("DROP FUNCTION IF EXISTS iwm_pulse_tags(text)")
