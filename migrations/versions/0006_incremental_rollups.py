"""Incremental rollups: a change log filled by triggers, and refreshes that process only it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Until now every refresh rebuilt every rollup from all of ``reviews`` and ``pulses``, whatever
had changed. From here:

* ``rollup_changes`` is a change log: statement-level AFTER triggers with transition tables on
  ``reviews``, ``pulses``, ``movies``, ``movie_genres`` and ``movie_streaming_options`` append,
  per rollup that reads the table, what a statement changed (its old rows and new ones): for
  the additive rollups the deltas per key, summed over the statement (per day of
  ``reviews.date`` the reviews and ratings to add to ``review_daily_stats``; per movie and
  rating the reviews to add to ``score_counts``; per hour of ``pulses.created_at``, tag and
  category the pulses to add to ``pulse_tag_hours``), for the others the movies touched. An
  update logs only rows whose columns the rollup reads changed (old and new rows compared as
  multisets). The log is append-only with no unique index, so concurrent writers never wait
  on each other. A TRUNCATE fires no row triggers: its statement trigger logs a ``rebuild``
  marker for each rollup of the table instead. The trigger functions are SECURITY DEFINER,
  owned by the migrations' role: the writer role needs (and has) no right on the log.
* ``movie_review_stats``, ``review_daily_stats``, ``pulse_tag_hours`` and ``score_counts`` (the
  rollups over the big tables) become plain tables with the same columns, types and unique
  keys. A refresh adds the logged deltas to ``review_daily_stats``, ``pulse_tag_hours`` and
  ``score_counts`` (rows reaching 0 removed) without reading ``reviews`` or ``pulses``, and
  recomputes the logged movies of ``movie_review_stats`` (a standard deviation does not add
  up). ``pulse_tag_hours`` also counts the hours from the previous refresh's ``covered_until``
  to the new one from ``pulses`` (later hours are never stored, as before). ``score_counts``
  keeps a per-movie histogram of review ratings, ``movie_score_counts``: when a movie's year,
  scores or genres changed, ``score_counts`` is rebuilt from it and ``movies`` without reading
  ``reviews``.
* Two rollups are new, tables from the start: ``movie_scores``, one narrow row per movie (every
  movie) with its year as an integer, language, platform scores, its reviews' count, rating
  sum and standard deviation (0, NULL, NULL without reviews) and its genre ids (ascending,
  ``'{}'`` for none), for the ratings functions, which otherwise scan ``movies``' wide rows; a
  refresh recomputes the movies logged from ``reviews``, ``movies`` (inserts and deletes
  included) and ``movie_genres``, reading their reviews through ``idx_reviews_movie_id``.
  ``pulse_hours``, per whole hour before the refresh, the pulses and those with at least one
  tag (``iwm_pulse_tags``), for ``trending.window_totals``; kept with deltas like
  ``pulse_tag_hours`` (``rollup_changes.n`` the pulses, ``amount`` the tagged ones).
* Indexes for the read paths: ``idx_pulse_tag_hours_hour`` (a window's whole hours from the
  index alone), ``idx_movie_review_stats_score`` (best mean rating first, as
  ``WellRated`` computes it), and on modelled tables, declared in the models too:
  ``idx_movies_title_gist`` (GiST trigrams: titles nearest first),
  ``idx_streaming_movie_id_region`` and ``idx_movies_released_scores`` (the released movies'
  platform scores without visiting ``movies``' wide rows).
* ``score_pair_cells`` and the four streaming rollups stay materialized views, rebuilt (with
  CONCURRENTLY where asked) only when the log says their sources changed, and skipped otherwise.
* ``iwm_refresh_rollup(name, concurrently)`` keeps its signature (pg_cron jobs and old callers)
  and becomes the incremental refresh; ``iwm_refresh_rollup_full(name, concurrently)`` rebuilds.
  Both are SECURITY DEFINER and granted to the writer role. Each runs in the caller's
  transaction, under the rollup's advisory lock, and records in ``rollup_refreshes`` the mode
  ('full', 'incremental', 'unchanged'), why a full rebuild ran, the keys processed and the
  rows. Readers see the rollup before or after, never half-way. A statement that consumes the
  log (DELETE ... RETURNING) and one that reads a source table are the same statement
  wherever deltas are involved: both see the same committed writes, so a write committing
  during a refresh is either counted now or left in the log for the next refresh, never
  counted twice. (Recomputing a movie's keys twice is harmless, so the keyed rollups need no
  such care.)

A TRUNCATE's rebuild request is a log row rather than a flag on ``rollup_refreshes``: a flag set
by a TRUNCATE committing during a refresh would be cleared by that refresh's own update of the
record, while a log row is consumed only by a refresh whose statements saw it committed (the
incremental statements leave it for the next refresh, which rebuilds).

The downgrade drops all of it (the new rollups with their records, the new indexes) and puts
back 0002's views (with 0005's comments) and 0004's ``iwm_refresh_rollup``, then populates the
views.
"""

# Every SQL text below is assembled from this file's own constants, never from input.
# ruff: noqa: S608

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# iwm_lab.roles.WRITER_ROLE, written out: a migration does not follow later code.
_WRITER = "iwm_writer"

# The rollups that become tables, with their columns (as the views had them) and unique key.
_REPLACED: dict[str, tuple[str, str]] = {
    "movie_review_stats": (
        "movie_id integer, reviews bigint, rating_sum double precision, "
        "rating_stddev double precision",
        "(movie_id)",
    ),
    "pulse_tag_hours": (
        "hour timestamp without time zone, tag text, category text, pulses bigint",
        "(hour, tag, category)",
    ),
    "review_daily_stats": (
        "day timestamp without time zone, reviews bigint, rating_sum double precision",
        "(day)",
    ),
    "score_counts": (
        "source text, genre_id integer, year integer, score double precision, n bigint",
        "(source, genre_id, year, score) NULLS NOT DISTINCT",
    ),
}
# The rollups new here, stored as tables from the start: one row per movie (every movie) with
# what the ratings functions read of it, and the pulses per hour with those carrying a tag.
_NEW: dict[str, tuple[str, str]] = {
    "movie_scores": (
        "movie_id integer, year integer, language character varying(50), "
        "siddu double precision, critics double precision, imdb double precision, "
        "rotten_tomatoes integer, reviews bigint, rating_sum double precision, "
        "rating_stddev double precision, genre_ids integer[]",
        "(movie_id)",
    ),
    "pulse_hours": (
        "hour timestamp without time zone, pulses bigint, tagged_pulses bigint",
        "(hour)",
    ),
}
_TABLES: dict[str, tuple[str, str]] = {**_REPLACED, **_NEW}
# Read paths of the rollups: pulse_tag_hours by tag and by hour (a window's whole hours from
# the index alone), movie_review_stats best mean rating first (as queries._common.WellRated
# computes it).
_TABLE_INDEXES = (
    "CREATE INDEX idx_pulse_tag_hours_tag ON pulse_tag_hours (tag, hour)",
    "CREATE INDEX idx_pulse_tag_hours_hour ON pulse_tag_hours (hour) "
    "INCLUDE (tag, category, pulses)",
    "CREATE INDEX idx_movie_review_stats_score ON movie_review_stats "
    "((rating_sum / reviews::double precision) DESC, movie_id) INCLUDE (rating_sum, reviews)",
)
# Indexes on modelled tables (declared in iwm_lab.models too, named alike): titles nearest
# first (GiST trigrams), a movie's regions from the index alone, and the released movies'
# platform scores without a visit to movies' wide rows.
_MODEL_INDEXES: dict[str, str] = {
    "idx_movies_title_gist": "movies USING gist (title gist_trgm_ops)",
    "idx_streaming_movie_id_region": "movie_streaming_options (movie_id, region)",
    "idx_movies_released_scores": (
        "movies (id) INCLUDE (siddu_score, critics_score, imdb_rating, rotten_tomatoes_score) "
        "WHERE status = 'released'"
    ),
}

# What each rollup logs of a statement's rows, per watched table: (rollup, the columns it
# reads, the SELECT that turns ``{rows}`` (those columns and ``sign``: +1 for a row that
# appears, -1 for one that goes) into log rows). Two kinds:
#
# * keys: the movies touched (the rollup recomputes them, or a view rebuilds when any is);
# * deltas: what to add per key of the rollup, summed over the statement (counts, and the
#   ratings' sum): a refresh adds them up without reading the source table again.
_LOG_COLUMNS = "rollup, source, movie_id, moment, tag, category, score, n, amount"


def _keys(rollup: str, table: str, key: str, *, drop_null: bool) -> str:
    where = f" WHERE c.{key} IS NOT NULL" if drop_null else ""
    return (
        f"SELECT DISTINCT '{rollup}', '{table}', c.{key}, NULL::timestamp, NULL::text, "
        f"NULL::text, NULL::float8, NULL::bigint, NULL::float8 FROM {{rows}} AS c{where}"
    )


_REVIEW_DAYS = (
    "SELECT 'review_daily_stats', 'reviews', NULL::integer, date_trunc('day', c.date), "
    "NULL::text, NULL::text, NULL::float8, sum(c.sign)::bigint, sum(c.sign * c.rating) "
    "FROM {rows} AS c WHERE c.date IS NOT NULL GROUP BY date_trunc('day', c.date) "
    "HAVING sum(c.sign) <> 0 OR sum(c.sign * c.rating) <> 0"
)
_REVIEW_SCORES = (
    "SELECT 'score_counts', 'reviews', c.movie_id, NULL::timestamp, NULL::text, NULL::text, "
    "c.rating, sum(c.sign)::bigint, NULL::float8 "
    "FROM {rows} AS c WHERE c.movie_id IS NOT NULL GROUP BY c.movie_id, c.rating "
    "HAVING sum(c.sign) <> 0"
)
# A pulse is tagged when iwm_pulse_tags finds at least one tag in its hashtags; n counts the
# pulses, amount the tagged ones.
_PULSE_HOURS = (
    "SELECT 'pulse_hours', 'pulses', NULL::integer, c.hour, NULL::text, NULL::text, "
    "NULL::float8, sum(c.sign)::bigint, sum(c.sign * c.tagged)::float8 "
    "FROM (SELECT date_trunc('hour', r.created_at) AS hour, r.sign, "
    "CASE WHEN r.hashtags IS NOT NULL "
    "AND EXISTS (SELECT FROM public.iwm_pulse_tags(r.hashtags)) THEN 1 ELSE 0 END AS tagged "
    "FROM {rows} AS r WHERE r.created_at IS NOT NULL) AS c "
    "GROUP BY c.hour HAVING sum(c.sign) <> 0 OR sum(c.sign * c.tagged) <> 0"
)
_PULSE_TAGS = (
    "SELECT 'pulse_tag_hours', 'pulses', NULL::integer, date_trunc('hour', c.created_at), "
    "t.tag, COALESCE(c.linked_type, 'general')::text, NULL::float8, sum(c.sign)::bigint, "
    "NULL::float8 "
    "FROM {rows} AS c CROSS JOIN LATERAL public.iwm_pulse_tags(c.hashtags) AS t(tag) "
    "WHERE c.hashtags IS NOT NULL AND c.created_at IS NOT NULL "
    "GROUP BY 4, 5, 6 HAVING sum(c.sign) <> 0"
)
_SCORES = "siddu_score, critics_score, imdb_rating, rotten_tomatoes_score"
_OFFERS = "movie_streaming_options"

_WATCHED: dict[str, list[tuple[str, str, str]]] = {
    "reviews": [
        (
            "movie_review_stats",
            "movie_id, rating",
            _keys("movie_review_stats", "reviews", "movie_id", drop_null=True),
        ),
        ("review_daily_stats", "date, rating", _REVIEW_DAYS),
        ("score_counts", "movie_id, rating", _REVIEW_SCORES),
        (
            "movie_scores",
            "movie_id, rating",
            _keys("movie_scores", "reviews", "movie_id", drop_null=True),
        ),
    ],
    "pulses": [
        ("pulse_tag_hours", "created_at, hashtags, linked_type", _PULSE_TAGS),
        ("pulse_hours", "created_at, hashtags", _PULSE_HOURS),
    ],
    "movies": [
        (
            "movie_scores",
            f"id, year, language, {_SCORES}",
            _keys("movie_scores", "movies", "id", drop_null=True),
        ),
        (
            "score_counts",
            f"id, year, {_SCORES}",
            _keys("score_counts", "movies", "id", drop_null=True),
        ),
        (
            "score_pair_cells",
            f"id, {_SCORES}",
            _keys("score_pair_cells", "movies", "id", drop_null=False),
        ),
        (
            "streaming_region_movies",
            "id, status",
            _keys("streaming_region_movies", "movies", "id", drop_null=False),
        ),
        (
            "streaming_region_type_counts",
            "id, status",
            _keys("streaming_region_type_counts", "movies", "id", drop_null=False),
        ),
    ],
    "movie_genres": [
        (
            "movie_scores",
            "movie_id, genre_id",
            _keys("movie_scores", "movie_genres", "movie_id", drop_null=True),
        ),
        (
            "score_counts",
            "movie_id, genre_id",
            _keys("score_counts", "movie_genres", "movie_id", drop_null=True),
        ),
        (
            "score_pair_cells",
            "movie_id, genre_id",
            _keys("score_pair_cells", "movie_genres", "movie_id", drop_null=False),
        ),
    ],
    _OFFERS: [
        (
            "streaming_platform_shares",
            "movie_id, region, platform_id",
            _keys("streaming_platform_shares", _OFFERS, "movie_id", drop_null=False),
        ),
        (
            "streaming_price_mix",
            "movie_id, region, type, quality, price",
            _keys("streaming_price_mix", _OFFERS, "movie_id", drop_null=False),
        ),
        (
            "streaming_region_movies",
            "movie_id, region, type",
            _keys("streaming_region_movies", _OFFERS, "movie_id", drop_null=False),
        ),
        (
            "streaming_region_type_counts",
            "movie_id, region, type",
            _keys("streaming_region_type_counts", _OFFERS, "movie_id", drop_null=False),
        ),
    ],
}
_EVENTS = ("insert", "update", "delete")


def _rows(event: str, columns: str) -> str:
    """A statement's rows the rollup reads, signed: +1 appears, -1 goes. An update counts only
    the rows whose columns changed (old and new compared as multisets)."""
    if event == "insert":
        return f"(SELECT {columns}, 1 AS sign FROM new_rows)"
    if event == "delete":
        return f"(SELECT {columns}, -1 AS sign FROM old_rows)"
    new = f"SELECT {columns} FROM new_rows"
    old = f"SELECT {columns} FROM old_rows"
    return (
        f"((SELECT *, 1 AS sign FROM ({new} EXCEPT ALL {old}) AS x) "
        f"UNION ALL (SELECT *, -1 AS sign FROM ({old} EXCEPT ALL {new}) AS y))"
    )


def _log_function(table: str) -> str:
    """The trigger function of ``table``: one INSERT into the log per statement."""

    def statement(event: str) -> str:
        parts = [
            select.replace("{rows}", _rows(event, cols)) for _r, cols, select in _WATCHED[table]
        ]
        return f"INSERT INTO public.rollup_changes ({_LOG_COLUMNS})\n        " + (
            "\n        UNION ALL ".join(parts)
        )

    return f"""
CREATE FUNCTION iwm_log_{table}_changes() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {statement("insert")};
    ELSIF TG_OP = 'DELETE' THEN
        {statement("delete")};
    ELSE
        {statement("update")};
    END IF;
    RETURN NULL;
END
$fn$;
"""


# TRUNCATE fires no row triggers: the rollups named as the trigger's arguments rebuild in full.
_LOG_TRUNCATE_SQL = """
CREATE FUNCTION iwm_log_truncate() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
BEGIN
    INSERT INTO public.rollup_changes (rollup, source, rebuild)
    SELECT a.rollup, TG_TABLE_NAME, true FROM unnest(TG_ARGV) AS a(rollup);
    RETURN NULL;
END
$fn$;
"""


def _rollups_of(table: str) -> list[str]:
    return sorted({rule[0] for rule in _WATCHED[table]})


def _triggers(table: str) -> list[str]:
    statements = []
    for event in _EVENTS:
        transitions = {
            "insert": "NEW TABLE AS new_rows",
            "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
            "delete": "OLD TABLE AS old_rows",
        }[event]
        statements.append(
            f"CREATE TRIGGER iwm_rollup_changes_{event} AFTER {event.upper()} ON {table} "
            f"REFERENCING {transitions} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION iwm_log_{table}_changes()"
        )
    names = ", ".join(f"'{name}'" for name in _rollups_of(table))
    statements.append(
        f"CREATE TRIGGER iwm_rollup_changes_truncate AFTER TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION iwm_log_truncate({names})"
    )
    return statements


# score_counts from the per-movie histogram of review ratings and the movies' own scores: 0002's
# query with movie_score_counts in place of the grouped reviews.
_SCORE_COUNTS_FROM_HISTOGRAM = """
        INSERT INTO public.score_counts (source, genre_id, year, score, n)
        WITH movie_years AS MATERIALIZED (
            SELECT m.id, CASE WHEN m.year ~ '^[0-9]{4}$' THEN m.year::integer END AS year,
                   m.siddu_score, m.critics_score, m.imdb_rating, m.rotten_tomatoes_score
            FROM public.movies AS m
        ),
        per_movie AS (
            SELECT h.movie_id, 'users' AS source, h.score, h.n
            FROM public.movie_score_counts AS h
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
        FROM dated AS d JOIN public.movie_genres AS g ON g.movie_id = d.movie_id
        GROUP BY d.source, g.genre_id, d.year, d.score
"""

# movie_scores' rows: of every movie, or (``{only}`` filled) of the movies in the array
# ``movies``, whose reviews are then read through idx_reviews_movie_id, never scanned. The
# reviews are aggregated here rather than read from movie_review_stats, which may be refreshed
# after this rollup.
_MOVIE_SCORES_QUERY = """
        SELECT m.id, CASE WHEN m.year ~ '^[0-9]{4}$' THEN m.year::integer END, m.language,
               m.siddu_score, m.critics_score, m.imdb_rating, m.rotten_tomatoes_score,
               COALESCE(r.reviews, 0)::bigint, r.rating_sum, r.rating_stddev,
               COALESCE(g.genre_ids, '{}'::integer[])
        FROM public.movies AS m
        LEFT JOIN (
            SELECT q.movie_id, count(*)::bigint AS reviews, sum(q.rating)::float8 AS rating_sum,
                   stddev_samp(q.rating)::float8 AS rating_stddev
            FROM public.reviews AS q
            WHERE q.movie_id IS NOT NULL{only}
            GROUP BY q.movie_id
        ) AS r ON r.movie_id = m.id
        LEFT JOIN (
            SELECT q.movie_id, array_agg(q.genre_id ORDER BY q.genre_id) AS genre_ids
            FROM public.movie_genres AS q
            WHERE true{only}
            GROUP BY q.movie_id
        ) AS g ON g.movie_id = m.id"""
_ALL_MOVIE_SCORES = _MOVIE_SCORES_QUERY.replace("{only}", "")
_SOME_MOVIE_SCORES = (
    _MOVIE_SCORES_QUERY.replace("{only}", " AND q.movie_id = ANY(movies)")
    + "\n        WHERE m.id = ANY(movies)"
)

# pulse_hours' rows for the pulses created in [{since}, p_until): each distinct hashtags text is
# parsed once (126,000 texts for 2M pulses at scale large), not once per pulse.
_PULSE_HOURS_QUERY = """
        WITH tagged AS (
            SELECT t.hashtags
            FROM (SELECT DISTINCT p.hashtags FROM public.pulses AS p
                  WHERE p.hashtags IS NOT NULL{since}) AS t
            WHERE EXISTS (SELECT FROM public.iwm_pulse_tags(t.hashtags))
        )
        SELECT date_trunc('hour', p.created_at) AS hour, count(*)::bigint AS pulses,
               count(g.hashtags)::bigint AS tagged_pulses
        FROM public.pulses AS p
        LEFT JOIN tagged AS g ON g.hashtags = p.hashtags
        WHERE p.created_at < p_until{since}
        GROUP BY 1"""

# Rebuild one rollup stored as a table from its sources; returns its rows. The statement that
# reads the sources also deletes the rollup's log rows, so both see the same committed writes:
# a write committing meanwhile is either in the rebuild or still in the log, never both (its
# deltas would otherwise be counted twice). p_until: the hours pulse_tag_hours holds end there.
# p_blocking: nobody reads (the seeder), so TRUNCATE, which blocks readers, may replace DELETE,
# which leaves dead rows behind.
_REBUILD_SQL = (
    """
CREATE FUNCTION iwm_rollup_rebuild(p_name text, p_until timestamp, p_blocking boolean)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
DECLARE
    written bigint;
BEGIN
    IF p_blocking THEN
        EXECUTE 'TRUNCATE public.' || quote_ident(p_name);
    ELSE
        EXECUTE 'DELETE FROM public.' || quote_ident(p_name);
    END IF;
    IF p_name = 'movie_review_stats' THEN
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name)
        INSERT INTO public.movie_review_stats
        SELECT r.movie_id, count(*)::bigint, sum(r.rating)::float8, stddev_samp(r.rating)::float8
        FROM public.reviews AS r
        WHERE r.movie_id IS NOT NULL
        GROUP BY r.movie_id;
    ELSIF p_name = 'review_daily_stats' THEN
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name)
        INSERT INTO public.review_daily_stats
        SELECT date_trunc('day', r.date), count(*)::bigint, sum(r.rating)::float8
        FROM public.reviews AS r
        WHERE r.date IS NOT NULL
        GROUP BY 1;
    ELSIF p_name = 'pulse_tag_hours' THEN
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name)
        INSERT INTO public.pulse_tag_hours
        SELECT date_trunc('hour', p.created_at), t.tag,
               COALESCE(p.linked_type, 'general')::text, count(*)::bigint
        FROM public.pulses AS p
        CROSS JOIN LATERAL public.iwm_pulse_tags(p.hashtags) AS t(tag)
        WHERE p.hashtags IS NOT NULL AND p.created_at < p_until
        GROUP BY 1, 2, 3;
    ELSIF p_name = 'movie_scores' THEN
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name)
        INSERT INTO public.movie_scores{all_movie_scores};
    ELSIF p_name = 'pulse_hours' THEN
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name),
        counted AS ({all_pulse_hours}
        )
        INSERT INTO public.pulse_hours SELECT * FROM counted;
    ELSIF p_name = 'score_counts' THEN
        IF p_blocking THEN
            TRUNCATE public.movie_score_counts;
        ELSE
            DELETE FROM public.movie_score_counts;
        END IF;
        WITH consumed AS (DELETE FROM public.rollup_changes WHERE rollup = p_name)
        INSERT INTO public.movie_score_counts (movie_id, score, n)
        SELECT r.movie_id, r.rating, count(*)::bigint
        FROM public.reviews AS r
        WHERE r.movie_id IS NOT NULL
        GROUP BY r.movie_id, r.rating;
        EXECUTE 'ANALYZE public.movie_score_counts';
{histogram};
    END IF;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$fn$;
""".replace("{histogram}", _SCORE_COUNTS_FROM_HISTOGRAM)
    .replace("{all_movie_scores}", _ALL_MOVIE_SCORES)
    .replace("{all_pulse_hours}", _PULSE_HOURS_QUERY.replace("{since}", ""))
)

# Bring one rollup stored as a table up to date from its log rows (a TRUNCATE's rebuild request
# left for the next refresh, which rebuilds): movie_review_stats recomputes the movies logged;
# review_daily_stats, pulse_tag_hours and score_counts add the logged deltas (pulse_tag_hours
# also counts the hours from p_from, the previous covered_until, to p_until, the new one, from
# pulses; deltas of those hours and later are dropped: they are counted there, or never
# stored). Consuming the log and reading a source happen in one statement, as in a rebuild.
# keys: movies, days or hours processed; touched: rows written or deleted; net: rows added
# (NULL: count them).
_UPDATE_SQL = (
    """
CREATE FUNCTION iwm_rollup_update(
    p_name text, p_from timestamp, p_until timestamp,
    OUT keys bigint, OUT touched bigint, OUT net bigint)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
DECLARE
    gone bigint := 0;
    made bigint := 0;
    added bigint := 0;
    dropped bigint;
    movies integer[];
    moments timestamp[];
    moved boolean;
    edge timestamp := least(p_from, p_until);
BEGIN
    net := NULL;
    IF p_name = 'movie_review_stats' THEN
        WITH consumed AS (
            DELETE FROM public.rollup_changes WHERE rollup = p_name AND NOT rebuild
            RETURNING movie_id
        )
        SELECT coalesce(array_agg(DISTINCT movie_id) FILTER (WHERE movie_id IS NOT NULL), '{}')
        INTO movies FROM consumed;
        DELETE FROM public.movie_review_stats WHERE movie_id = ANY(movies);
        GET DIAGNOSTICS gone = ROW_COUNT;
        INSERT INTO public.movie_review_stats
        SELECT r.movie_id, count(*)::bigint, sum(r.rating)::float8, stddev_samp(r.rating)::float8
        FROM public.reviews AS r
        WHERE r.movie_id = ANY(movies)
        GROUP BY r.movie_id;
        GET DIAGNOSTICS made = ROW_COUNT;
        keys := cardinality(movies);
        net := made - gone;
    ELSIF p_name = 'review_daily_stats' THEN
        WITH consumed AS (
            DELETE FROM public.rollup_changes WHERE rollup = p_name AND NOT rebuild
            RETURNING moment, n, amount
        ),
        delta AS (
            SELECT moment AS day, sum(n)::bigint AS n, sum(amount) AS amount
            FROM consumed WHERE moment IS NOT NULL GROUP BY moment
        ),
        written AS (
            INSERT INTO public.review_daily_stats AS s (day, reviews, rating_sum)
            SELECT day, n, amount FROM delta
            ON CONFLICT (day) DO UPDATE
            SET reviews = s.reviews + excluded.reviews,
                rating_sum = s.rating_sum + excluded.rating_sum
            RETURNING xmax = 0 AS inserted
        )
        SELECT (SELECT count(*) FROM written), (SELECT count(*) FROM written WHERE inserted),
               coalesce((SELECT array_agg(day) FROM delta), '{}')
        INTO made, added, moments;
        DELETE FROM public.review_daily_stats WHERE day = ANY(moments) AND reviews <= 0;
        GET DIAGNOSTICS gone = ROW_COUNT;
        keys := cardinality(moments);
        net := added - gone;
    ELSIF p_name = 'pulse_tag_hours' THEN
        -- Nothing at or after the previous covered_until is stored, unless the clock went back.
        DELETE FROM public.pulse_tag_hours WHERE hour >= edge;
        GET DIAGNOSTICS gone = ROW_COUNT;
        WITH consumed AS (
            DELETE FROM public.rollup_changes WHERE rollup = p_name AND NOT rebuild
            RETURNING moment, tag, category, n
        ),
        delta AS (
            SELECT moment AS hour, tag, category, sum(n)::bigint AS n
            FROM consumed WHERE moment < edge
            GROUP BY moment, tag, category
            HAVING sum(n) <> 0
        ),
        fresh AS (
            SELECT date_trunc('hour', p.created_at) AS hour, t.tag,
                   COALESCE(p.linked_type, 'general')::text AS category, count(*)::bigint AS n
            FROM public.pulses AS p
            CROSS JOIN LATERAL public.iwm_pulse_tags(p.hashtags) AS t(tag)
            WHERE p.hashtags IS NOT NULL AND p.created_at >= p_from AND p.created_at < p_until
            GROUP BY 1, 2, 3
        ),
        written AS (
            INSERT INTO public.pulse_tag_hours AS s (hour, tag, category, pulses)
            SELECT hour, tag, category, n FROM delta
            UNION ALL
            SELECT hour, tag, category, n FROM fresh
            ON CONFLICT (hour, tag, category) DO UPDATE SET pulses = s.pulses + excluded.pulses
            RETURNING xmax = 0 AS inserted
        )
        SELECT (SELECT count(*) FROM written), (SELECT count(*) FROM written WHERE inserted),
               coalesce((SELECT array_agg(DISTINCT hour) FROM delta), '{}'),
               (SELECT count(DISTINCT moment) FROM consumed)
        INTO made, added, moments, keys;
        DELETE FROM public.pulse_tag_hours WHERE hour = ANY(moments) AND pulses <= 0;
        GET DIAGNOSTICS dropped = ROW_COUNT;
        gone := gone + dropped;
        net := added - gone;
        IF p_from < p_until THEN
            keys := keys + (extract(epoch FROM p_until - p_from) / 3600)::bigint;
        END IF;
    ELSIF p_name = 'movie_scores' THEN
        -- The logged movies recomputed: a deleted movie's row goes, a new one gets its row.
        WITH consumed AS (
            DELETE FROM public.rollup_changes WHERE rollup = p_name AND NOT rebuild
            RETURNING movie_id
        )
        SELECT coalesce(array_agg(DISTINCT movie_id) FILTER (WHERE movie_id IS NOT NULL), '{}')
        INTO movies FROM consumed;
        DELETE FROM public.movie_scores WHERE movie_id = ANY(movies);
        GET DIAGNOSTICS gone = ROW_COUNT;
        INSERT INTO public.movie_scores{some_movie_scores};
        GET DIAGNOSTICS made = ROW_COUNT;
        keys := cardinality(movies);
        net := made - gone;
    ELSIF p_name = 'pulse_hours' THEN
        -- As pulse_tag_hours: deltas for the hours before the previous covered_until, the
        -- hours from there to the new one counted from pulses.
        DELETE FROM public.pulse_hours WHERE hour >= edge;
        GET DIAGNOSTICS gone = ROW_COUNT;
        WITH consumed AS (
            DELETE FROM public.rollup_changes WHERE rollup = p_name AND NOT rebuild
            RETURNING moment, n, amount
        ),
        delta AS (
            SELECT moment AS hour, sum(n)::bigint AS n, sum(amount)::bigint AS tagged
            FROM consumed WHERE moment < edge
            GROUP BY moment
            HAVING sum(n) <> 0 OR sum(amount) <> 0
        ),
        fresh AS ({fresh_pulse_hours}
        ),
        written AS (
            INSERT INTO public.pulse_hours AS s (hour, pulses, tagged_pulses)
            SELECT hour, n, tagged FROM delta
            UNION ALL
            SELECT hour, pulses, tagged_pulses FROM fresh
            ON CONFLICT (hour) DO UPDATE
            SET pulses = s.pulses + excluded.pulses,
                tagged_pulses = s.tagged_pulses + excluded.tagged_pulses
            RETURNING xmax = 0 AS inserted
        )
        SELECT (SELECT count(*) FROM written), (SELECT count(*) FROM written WHERE inserted),
               coalesce((SELECT array_agg(hour) FROM delta), '{}'),
               (SELECT count(DISTINCT moment) FROM consumed)
        INTO made, added, moments, keys;
        DELETE FROM public.pulse_hours WHERE hour = ANY(moments) AND pulses <= 0;
        GET DIAGNOSTICS dropped = ROW_COUNT;
        gone := gone + dropped;
        net := added - gone;
        IF p_from < p_until THEN
            keys := keys + (extract(epoch FROM p_until - p_from) / 3600)::bigint;
        END IF;
    ELSIF p_name = 'score_counts' THEN
        -- Review deltas go into the per-movie histogram, and (when no movie's year, scores or
        -- genres changed) into the cells of each movie's year and genres.
        WITH consumed AS (
            DELETE FROM public.rollup_changes WHERE rollup = p_name AND NOT rebuild
            RETURNING source, movie_id, score, n
        ),
        changed AS (
            SELECT coalesce(bool_or(source <> 'reviews'), false) AS any_moved FROM consumed
        ),
        delta AS (
            SELECT movie_id, score, sum(n)::bigint AS n
            FROM consumed WHERE source = 'reviews'
            GROUP BY movie_id, score
            HAVING sum(n) <> 0
        ),
        histogram AS (
            INSERT INTO public.movie_score_counts AS h (movie_id, score, n)
            SELECT movie_id, score, n FROM delta
            ON CONFLICT (movie_id, score) DO UPDATE SET n = h.n + excluded.n
            RETURNING 1
        ),
        dated AS (
            SELECT d.movie_id, CASE WHEN m.year ~ '^[0-9]{4}$' THEN m.year::integer END AS year,
                   d.score, d.n
            FROM delta AS d JOIN public.movies AS m ON m.id = d.movie_id
            WHERE NOT (SELECT c.any_moved FROM changed AS c)
        ),
        cells AS (
            SELECT NULL::integer AS genre_id, year, score, sum(n) AS n
            FROM dated GROUP BY year, score
            UNION ALL
            SELECT g.genre_id, d.year, d.score, sum(d.n)
            FROM dated AS d JOIN public.movie_genres AS g ON g.movie_id = d.movie_id
            GROUP BY g.genre_id, d.year, d.score
        ),
        written AS (
            INSERT INTO public.score_counts AS s (source, genre_id, year, score, n)
            SELECT 'users', genre_id, year, score, n::bigint FROM cells WHERE n <> 0
            ON CONFLICT (source, genre_id, year, score) DO UPDATE SET n = s.n + excluded.n
            RETURNING xmax = 0 AS inserted
        )
        SELECT (SELECT count(*) FROM written), (SELECT count(*) FROM written WHERE inserted),
               coalesce((SELECT array_agg(DISTINCT movie_id) FROM consumed
                         WHERE movie_id IS NOT NULL), '{}'),
               (SELECT c.any_moved FROM changed AS c)
        INTO made, added, movies, moved;
        DELETE FROM public.movie_score_counts WHERE movie_id = ANY(movies) AND n <= 0;
        keys := cardinality(movies);
        IF moved THEN
            -- A movie's year, scores or genres changed: its cells were counted under the old
            -- ones, which are gone. Rebuild from the histogram, without reading reviews.
            DELETE FROM public.score_counts;
            GET DIAGNOSTICS gone = ROW_COUNT;
{histogram};
            GET DIAGNOSTICS made = ROW_COUNT;
            net := made - gone;
        ELSE
            DELETE FROM public.score_counts WHERE source = 'users' AND n <= 0;
            GET DIAGNOSTICS gone = ROW_COUNT;
            net := added - gone;
        END IF;
    ELSE
        RAISE EXCEPTION USING
            MESSAGE = 'rollup ' || quote_literal(p_name) || ' is not maintained incrementally',
            ERRCODE = 'invalid_parameter_value';
    END IF;
    touched := gone + made;
END
$fn$;
""".replace("{histogram}", _SCORE_COUNTS_FROM_HISTOGRAM)
    .replace("{some_movie_scores}", _SOME_MOVIE_SCORES)
    .replace(
        "{fresh_pulse_hours}", _PULSE_HOURS_QUERY.replace("{since}", " AND p.created_at >= p_from")
    )
)

# The refresh itself, for both entry points. Not callable by anyone but its owner: the two
# SECURITY DEFINER functions below call it with their owner's rights.
_REFRESH_SQL = """
CREATE FUNCTION iwm_rollup_refresh(p_name text, p_full boolean, p_concurrently boolean)
RETURNS double precision
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
DECLARE
    started timestamptz := clock_timestamp();
    kind "char";
    populated boolean;
    target text;
    last public.rollup_refreshes%ROWTYPE;
    until timestamp := date_trunc('hour', localtimestamp);
    logged bigint;
    rebuild_from text;
    how text;
    why text;
    keys bigint := 0;
    touched bigint := 0;
    net bigint;
    total bigint;
    took double precision;
BEGIN
    SELECT c.relkind, c.relispopulated INTO kind, populated
    FROM pg_catalog.pg_class AS c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relname = p_name
      AND c.relkind IN ('m', 'r')
      AND EXISTS (SELECT FROM public.rollup_refreshes AS r WHERE r.name = c.relname);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            MESSAGE = 'unknown rollup ' || coalesce(quote_literal(p_name), 'NULL')
                      || ', expected one of '
                      || coalesce((SELECT string_agg(r.name, ', ' ORDER BY r.name)
                                   FROM public.rollup_refreshes AS r
                                   JOIN pg_catalog.pg_class AS c
                                     ON c.relnamespace = 'public'::regnamespace
                                    AND c.relname = r.name AND c.relkind IN ('m', 'r')),
                                  '(none)'),
            ERRCODE = 'invalid_parameter_value';
    END IF;
    target := 'public.' || quote_ident(p_name);
    -- One refresh of a rollup at a time: each consumes the log rows the previous one left.
    PERFORM pg_advisory_xact_lock(hashtext('iwm_refresh_rollup:' || p_name));
    SELECT * INTO last FROM public.rollup_refreshes WHERE name = p_name;
    -- What is pending, to choose how to refresh; the statements below consume the log rows
    -- committed when they run (later ones stay for the next refresh).
    SELECT count(*), string_agg(DISTINCT source, ', ') FILTER (WHERE rebuild)
    INTO logged, rebuild_from
    FROM public.rollup_changes WHERE rollup = p_name;

    IF p_full THEN
        how := 'full';
        why := 'asked';
    ELSIF rebuild_from IS NOT NULL THEN
        how := 'full';
        why := rebuild_from || ' truncated';
    ELSIF last.refreshed_at IS NULL OR NOT populated THEN
        how := 'full';
        why := 'never refreshed';
    ELSIF kind = 'm' THEN
        how := CASE WHEN logged > 0 THEN 'full' ELSE 'unchanged' END;
        why := CASE WHEN logged > 0 THEN 'sources changed' END;
    ELSIF logged = 0
          AND (p_name NOT IN ('pulse_tag_hours', 'pulse_hours') OR last.covered_until = until)
    THEN
        how := 'unchanged';
    ELSE
        how := 'incremental';
    END IF;

    IF how = 'full' THEN
        IF kind = 'm' THEN
            -- Keys only (any change rebuilds a view): a write committing between this and the
            -- rebuild is counted by both, and only makes the next refresh rebuild again.
            DELETE FROM public.rollup_changes WHERE rollup = p_name;
            -- CONCURRENTLY keeps the view readable during the refresh but needs it populated.
            IF p_concurrently AND populated THEN
                EXECUTE 'REFRESH MATERIALIZED VIEW CONCURRENTLY ' || target;
            ELSE
                EXECUTE 'REFRESH MATERIALIZED VIEW ' || target;
            END IF;
            EXECUTE 'SELECT count(*) FROM ' || target INTO total;
        ELSE
            total := public.iwm_rollup_rebuild(p_name, until, NOT p_concurrently);
        END IF;
        keys := logged;
        EXECUTE 'ANALYZE ' || target;
    ELSIF how = 'incremental' THEN
        SELECT u.keys, u.touched, u.net INTO keys, touched, net
        FROM public.iwm_rollup_update(p_name, last.covered_until, until) AS u;
        IF net IS NULL OR last.row_count IS NULL THEN
            EXECUTE 'SELECT count(*) FROM ' || target INTO total;
        ELSE
            total := last.row_count + net;
        END IF;
        -- Fresh statistics only when the contents changed materially: ANALYZE samples the
        -- whole table, which would cost more than a small update.
        IF touched * 10 > greatest(total, 1) THEN
            EXECUTE 'ANALYZE ' || target;
        END IF;
    ELSE
        total := last.row_count;
    END IF;

    took := extract(epoch FROM clock_timestamp() - started);
    UPDATE public.rollup_refreshes
    SET refreshed_at = localtimestamp,
        covered_until = until,
        seconds = took,
        mode = how,
        reason = why,
        changes = keys,
        row_count = total
    WHERE name = p_name;
    RETURN took;
END
$fn$;
"""

_ENTRY_SQL = """
CREATE OR REPLACE FUNCTION {name}(p_name text, p_concurrently boolean DEFAULT true)
RETURNS double precision
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
BEGIN
    RETURN public.iwm_rollup_refresh(p_name, {full}, p_concurrently);
END
$fn$;
"""

# Granted to the writer (the first already is, from 0004: CREATE OR REPLACE keeps that).
_ENTRY_FUNCTIONS = ("iwm_refresh_rollup(text, boolean)", "iwm_refresh_rollup_full(text, boolean)")
# Run only as their owner, from the entry functions.
_INTERNAL_FUNCTIONS = (
    "iwm_rollup_refresh(text, boolean, boolean)",
    "iwm_rollup_rebuild(text, timestamp, boolean)",
    "iwm_rollup_update(text, timestamp, timestamp)",
    "iwm_log_truncate()",
    *(f"iwm_log_{table}_changes()" for table in _WATCHED),
)
# Written only by the owner's functions: the writer keeps SELECT (from the default privileges).
_OWNER_ONLY = ("rollup_changes", "movie_score_counts", *_TABLES)

_RECORD_COLUMNS = (
    ("mode", "text", "How its last refresh ran: full, incremental or unchanged"),
    (
        "reason",
        "text",
        "Why its last refresh rebuilt it in full (asked, never refreshed, a source table "
        "truncated, sources changed); NULL otherwise",
    ),
    ("changes", "bigint", "Keys (movies, days, hours) its last refresh processed"),
    ("row_count", "bigint", "Its rows after its last refresh"),
)

_DESCRIPTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "rollup_changes": (
        "Change log of the rollups' sources, filled by triggers on reviews, pulses, movies, "
        "movie_genres and movie_streaming_options; each refresh consumes its rollup's rows.",
        {
            "rollup": "Rollup the change concerns",
            "source": "Table that changed",
            "movie_id": "Movie whose rows changed (movie-keyed rollups and score_counts)",
            "moment": "Day (review_daily_stats) or hour (pulse_tag_hours, pulse_hours) whose "
            "rows changed",
            "tag": "Normalised hashtag (pulse_tag_hours)",
            "category": "Category of the pulses (pulse_tag_hours)",
            "score": "Review rating (score_counts)",
            "n": "Rows to add to the key's count (negative: rows gone)",
            "amount": "Ratings to add to the key's rating sum (review_daily_stats), or tagged "
            "pulses to add to the hour's (pulse_hours)",
            "rebuild": "The table was truncated: the rollup rebuilds in full",
            "logged_at": "When the change was logged",
        },
    ),
    "movie_score_counts": (
        "Per movie and review rating, how many reviews: kept with score_counts, whose users' "
        "cells it updates without reading reviews.",
        {
            "movie_id": "Movie",
            "score": "Review rating",
            "n": "Reviews of the movie with that rating",
        },
    ),
}

_REFRESHED = "Rollup, as of its last refresh (see rollup_refreshes): "
_TABLE_COMMENTS: dict[str, str] = {
    "movie_review_stats": _REFRESHED
    + "per reviewed movie, its reviews, their rating sum and standard deviation.",
    "score_counts": _REFRESHED
    + "per score source (review ratings or a platform score), genre or all genres, release "
    "year and score, how many values.",
    "review_daily_stats": _REFRESHED + "reviews and rating sum per day of reviews.date.",
    "pulse_tag_hours": _REFRESHED
    + "pulses per hour, normalised hashtag and category, for the whole hours before the refresh.",
    "movie_scores": _REFRESHED
    + "per movie, its release year as an integer, language, platform scores, its reviews' "
    "count, rating sum and standard deviation, and its genre ids.",
    "pulse_hours": _REFRESHED
    + "pulses per hour, and those with at least one normalised hashtag, for the whole hours "
    "before the refresh.",
}
_COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "movie_scores": {
        "movie_id": "The movie (movies.id); every movie has a row",
        "year": "movies.year as an integer, NULL unless four digits",
        "language": "movies.language",
        "siddu": "movies.siddu_score (0-10)",
        "critics": "movies.critics_score (0-10)",
        "imdb": "movies.imdb_rating (0-10)",
        "rotten_tomatoes": "movies.rotten_tomatoes_score (0-100)",
        "reviews": "Reviews of the movie, 0 when none",
        "rating_sum": "Sum of their ratings, NULL when none",
        "rating_stddev": "Sample standard deviation of their ratings, NULL below two",
        "genre_ids": "Ids of the movie's genres, ascending; empty when none",
    },
}


def _load(name: str, filename: str) -> ModuleType:
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _if_writer(statement: str) -> str:
    """``statement`` in a DO block that runs it only on a server with the writer role."""
    exists = f"SELECT FROM pg_catalog.pg_roles WHERE rolname = '{_WRITER}'"
    return f"DO $$ BEGIN IF EXISTS ({exists}) THEN {statement}; END IF; END $$"


def _comment(kind: str, target: str, description: str | None) -> None:
    if description is None:
        op.execute(f"COMMENT ON {kind} {target} IS NULL")
        return
    # Rendered as a literal by SQLAlchemy when the statement runs (or is written out offline).
    value = sa.bindparam("description", description, type_=sa.Text(), literal_execute=True)
    op.execute(sa.text(f"COMMENT ON {kind} {target} IS :description").bindparams(value))


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE rollup_changes (
            rollup text NOT NULL,
            source text NOT NULL,
            movie_id integer,
            moment timestamp,
            tag text,
            category text,
            score double precision,
            n bigint,
            amount double precision,
            rebuild boolean NOT NULL DEFAULT false,
            logged_at timestamp NOT NULL DEFAULT localtimestamp
        )
        """
    )
    # Each refresh deletes its rollup's rows: found through this, not a scan of the log.
    op.execute("CREATE INDEX idx_rollup_changes_rollup ON rollup_changes (rollup)")
    op.execute(
        """
        CREATE TABLE movie_score_counts (
            movie_id integer NOT NULL,
            score double precision NOT NULL,
            n bigint NOT NULL,
            CONSTRAINT pk_movie_score_counts PRIMARY KEY (movie_id, score)
        )
        """
    )
    for column, kind, _text in _RECORD_COLUMNS:
        op.execute(f"ALTER TABLE rollup_refreshes ADD COLUMN {column} {kind}")
    for name, (columns, key) in _TABLES.items():
        if name in _REPLACED:
            op.execute(f"DROP MATERIALIZED VIEW {name}")
        op.execute(f"CREATE TABLE {name} ({columns})")
        op.execute(f"CREATE UNIQUE INDEX uq_{name} ON {name} {key}")
    for statement in _TABLE_INDEXES:
        op.execute(statement)
    for name, definition in _MODEL_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {definition}")

    op.execute(_LOG_TRUNCATE_SQL)
    for table in _WATCHED:
        op.execute(_log_function(table))
        for statement in _triggers(table):
            op.execute(statement)
    op.execute(_REBUILD_SQL)
    op.execute(_UPDATE_SQL)
    op.execute(_REFRESH_SQL)
    op.execute(_ENTRY_SQL.format(name="iwm_refresh_rollup", full="false"))
    op.execute(_ENTRY_SQL.format(name="iwm_refresh_rollup_full", full="true"))
    for function in (*_ENTRY_FUNCTIONS, *_INTERNAL_FUNCTIONS):
        op.execute(f"ALTER FUNCTION {function} OWNER TO CURRENT_USER")
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
    for function in _ENTRY_FUNCTIONS:
        op.execute(_if_writer(f"GRANT EXECUTE ON FUNCTION {function} TO {_WRITER}"))
    writes = "INSERT, UPDATE, DELETE, TRUNCATE"
    op.execute(_if_writer(f"REVOKE {writes} ON {', '.join(_OWNER_ONLY)} FROM {_WRITER}"))

    for table, (description, columns) in _DESCRIPTIONS.items():
        _comment("TABLE", table, description)
        for column, text in columns.items():
            _comment("COLUMN", f"{table}.{column}", text)
    for column, _kind, text in _RECORD_COLUMNS:
        _comment("COLUMN", f"rollup_refreshes.{column}", text)
    _comment(
        "TABLE",
        "rollup_refreshes",
        "Last refresh of each rollup, written by iwm_refresh_rollup and iwm_refresh_rollup_full.",
    )
    for name, description in _TABLE_COMMENTS.items():
        _comment("TABLE", name, description)
    for name, columns in _COLUMN_COMMENTS.items():
        for column, text in columns.items():
            _comment("COLUMN", f"{name}.{column}", text)

    records = sa.table("rollup_refreshes", sa.column("name", sa.Text))
    op.bulk_insert(records, [{"name": name} for name in _NEW])
    # Every rollup rebuilt once: the new tables are empty, and the record gains its new columns.
    op.execute("SELECT iwm_refresh_rollup_full(name, false) FROM rollup_refreshes ORDER BY name")


def downgrade() -> None:
    rollups_0002 = _load("iwm_migration_0002", "0002_rollups.py")
    refresh_0004 = _load("iwm_migration_0004", "0004_definer_refreshes.py")
    comments_0005 = _load("iwm_migration_0005", "0005_schema_comments.py")

    for table in _WATCHED:
        for event in (*_EVENTS, "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS iwm_rollup_changes_{event} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS iwm_refresh_rollup_full(text, boolean)")
    for function in _INTERNAL_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    # 0004's refresh (CREATE OR REPLACE: owner and grants stay).
    op.execute(refresh_0004._REFRESH_ROLLUP_SQL)
    op.execute("DROP TABLE IF EXISTS rollup_changes")
    op.execute("DROP TABLE IF EXISTS movie_score_counts")
    for column, _kind, _text in _RECORD_COLUMNS:
        op.execute(f"ALTER TABLE rollup_refreshes DROP COLUMN IF EXISTS {column}")
    designed, _columns = comments_0005._DESIGNED["rollup_refreshes"]
    _comment("TABLE", "rollup_refreshes", designed)

    op.execute(
        "DELETE FROM rollup_refreshes WHERE name IN (" + ", ".join(f"'{n}'" for n in _NEW) + ")"
    )
    for name in _NEW:
        op.execute(f"DROP TABLE IF EXISTS {name}")
    for name in reversed(_MODEL_INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for name in _REPLACED:
        query, key = rollups_0002._ROLLUPS[name]
        op.execute(f"DROP TABLE IF EXISTS {name}")
        op.execute(f"CREATE MATERIALIZED VIEW {name} AS {query} WITH NO DATA")
        op.execute(f"CREATE UNIQUE INDEX uq_{name} ON {name} {key}")
        _comment("MATERIALIZED VIEW", name, comments_0005._ROLLUPS[name])
    for statement in rollups_0002._EXTRA_INDEXES:
        if " ON streaming_" not in statement:  # that view was never dropped
            op.execute(statement)
    for name in _REPLACED:
        op.execute(f"SELECT iwm_refresh_rollup('{name}', false)")
