"""Rollups: the summaries the query functions read, what each summarises, and how each is kept.

Aggregating 5M reviews or parsing the hashtags of a month of pulses takes seconds; the
analyses must answer in well under one. Migration 0002 therefore keeps summaries, and the
query functions read those:

- ``movie_scores``: one narrow row per movie (every movie) with its integer year, language,
  platform scores, reviews' count, rating sum and spread, and genre ids, for the ratings
  functions that would otherwise scan ``movies``' wide rows;
- ``pulse_hours``: pulses per hour and those with a tag, trending.window_totals;
- ``movie_review_stats``: ratings' top_rated, divisive_movies, platform_agreement,
  ratings_by_genre and ratings_by_year;
- ``score_counts``: ratings.score_distribution;
- ``score_pair_cells``: ratings.platform_agreement (the pairs of platform scores);
- ``review_daily_stats``: ratings.review_volume;
- ``pulse_tag_hours``: trending's hashtag_counts, hashtag_timeseries and rising_tags;
- ``streaming_region_type_counts`` (the counts) and ``streaming_region_movies`` (the
  top-rated movies): streaming.coverage_by_region;
- ``streaming_platform_shares``: streaming.platform_share;
- ``streaming_price_mix``: streaming.price_quality_mix;
- ``box_office_runs``: per region, currency and movie, the run's gross and weeks, for
  box_office.regional_split and the box-office gross of box_office.budget_multiple.

A rollup holds the data of its last refresh. Since migration 0006 a refresh processes only
what changed: triggers on the source tables (:data:`CHANGE_TRIGGERS`) log, per rollup, the
keys each statement touched (movies, days, hours) in ``rollup_changes``, and each refresh
consumes its rollup's rows. The rollups over the big tables (:data:`TABLE_ROLLUPS`) are tables
recomputed key by key; the others (:data:`VIEW_ROLLUPS`) are materialized views, rebuilt only
when their sources changed. A TRUNCATE of a source makes its rollups rebuild in full on their
next refresh; ``full=True`` (``iwm-lab db refresh --full``) rebuilds whatever changed.

The review and streaming summaries lag behind writes until the next refresh. The trending
functions do not: the rollup holds whole hours up to the refresh, and they count everything
after that (and the partial hours at a window's edges) from ``pulses`` directly. Nor do the box
office functions: they read ``box_office_runs`` for the movies the change log does not name,
and sum the named movies' rows (every row after a TRUNCATE) from ``box_office_grosses``.
:mod:`iwm_lab.operations` refreshes them, for the seeder and ``iwm-lab import`` (after
loading), ``iwm-lab db refresh`` (by hand, from cron or a systemd timer), and pg_cron hourly
where the server has it. ``iwm_lab.queries.overview.freshness`` shows when each was last
refreshed.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    TableClause,
    column,
    table,
)

ROLLUPS: tuple[str, ...] = (
    "box_office_runs",
    "movie_review_stats",
    "movie_scores",
    "pulse_hours",
    "pulse_tag_hours",
    "review_daily_stats",
    "score_counts",
    "score_pair_cells",
    "streaming_platform_shares",
    "streaming_price_mix",
    "streaming_region_movies",
    "streaming_region_type_counts",
)

# Stored as tables and maintained key by key (migration 0006): the rollups over reviews and
# pulses, whose full rebuild reads millions of rows.
TABLE_ROLLUPS: tuple[str, ...] = (
    "movie_review_stats",
    "movie_scores",
    "pulse_hours",
    "pulse_tag_hours",
    "review_daily_stats",
    "score_counts",
)
# Materialized views, rebuilt only when their sources changed since their last refresh.
VIEW_ROLLUPS: tuple[str, ...] = tuple(name for name in ROLLUPS if name not in TABLE_ROLLUPS)

# How a refresh ran (rollup_refreshes.mode): rebuilt whole, only the changed keys recomputed,
# or nothing to do.
MODES: tuple[str, ...] = ("full", "incremental", "unchanged")

# The change log the triggers fill, and score_counts' per-movie histogram of review ratings.
CHANGE_LOG = "rollup_changes"
ROLLUP_STATE_TABLES: tuple[str, ...] = (CHANGE_LOG, "movie_score_counts")

# The triggers that log changes, per source table (migration 0006). The seeder, which loads
# millions of rows in one transaction and rebuilds every rollup afterwards, disables them.
CHANGE_TRIGGERS: dict[str, tuple[str, ...]] = {
    table: (
        "iwm_rollup_changes_insert",
        "iwm_rollup_changes_update",
        "iwm_rollup_changes_delete",
        "iwm_rollup_changes_truncate",
    )
    for table in (
        "reviews",
        "pulses",
        "movies",
        "movie_genres",
        "movie_streaming_options",
        "box_office_grosses",
    )
}

# The rollups' columns, for the query modules (the rollups have no models: migrations 0002
# and 0006 define them).
MOVIE_REVIEW_STATS: TableClause = table(
    "movie_review_stats",
    column("movie_id", Integer),
    column("reviews", BigInteger),
    column("rating_sum", Float),
    column("rating_stddev", Float),
)
MOVIE_SCORES: TableClause = table(
    "movie_scores",
    column("movie_id", Integer),  # every movie
    column("year", Integer),  # NULL: not a four-digit year
    column("language", String),
    column("siddu", Float),
    column("critics", Float),
    column("imdb", Float),
    column("rotten_tomatoes", Integer),  # 0-100
    column("reviews", BigInteger),  # 0: none
    column("rating_sum", Float),  # NULL: no reviews
    column("rating_stddev", Float),  # NULL: fewer than two reviews
    column("genre_ids", ARRAY(Integer)),  # ascending; empty: none
)
SCORE_PAIR_CELLS: TableClause = table(
    "score_pair_cells",
    column("genre_id", Integer),  # NULL: all movies
    column("source_a", String),  # the pair, in the order of ratings.SOURCES
    column("source_b", String),
    column("x", Float),  # source_a's score (Rotten Tomatoes on 0-10)
    column("y", Float),
    column("movies", BigInteger),
)
SCORE_COUNTS: TableClause = table(
    "score_counts",
    column("source", String),  # users, siddu, critics, imdb, rotten_tomatoes
    column("genre_id", Integer),  # NULL: all movies
    column("year", Integer),  # NULL: not a four-digit year
    column("score", Float),
    column("n", BigInteger),  # reviews (users) or movies (platform scores)
)
REVIEW_DAILY_STATS: TableClause = table(
    "review_daily_stats",
    column("day", DateTime),
    column("reviews", BigInteger),
    column("rating_sum", Float),
)
PULSE_TAG_HOURS: TableClause = table(
    "pulse_tag_hours",
    column("hour", DateTime),
    column("tag", String),
    column("category", String),
    column("pulses", BigInteger),
)
PULSE_HOURS: TableClause = table(
    "pulse_hours",
    column("hour", DateTime),
    column("pulses", BigInteger),
    column("tagged_pulses", BigInteger),  # with at least one normalised hashtag
)
STREAMING_REGION_MOVIES: TableClause = table(
    "streaming_region_movies",
    column("region", String),
    column("movie_id", Integer),
    column("subscription", Boolean),
    column("rent", Boolean),
    column("buy", Boolean),
    column("free", Boolean),
    column("released", Boolean),
)
STREAMING_REGION_TYPE_COUNTS: TableClause = table(
    "streaming_region_type_counts",
    column("region", String),
    column("subscription", Boolean),
    column("rent", Boolean),
    column("buy", Boolean),
    column("free", Boolean),
    column("released", Boolean),
    column("movies", BigInteger),
)
STREAMING_PLATFORM_SHARES: TableClause = table(
    "streaming_platform_shares",
    column("region", String),
    column("platform_id", Integer),
    column("movies", BigInteger),
    column("exclusives", BigInteger),
    column("region_movies", BigInteger),
)

BOX_OFFICE_RUNS: TableClause = table(
    "box_office_runs",
    column("region", String),
    column("currency", String),
    column("movie_id", Integer),
    column("gross", BigInteger),  # a week still running adds its weekend
    column("weeks", BigInteger),
    column("finished_gross", BigInteger),  # the finished weeks only; NULL: none
    column("running", Boolean),
)

ROLLUP_REFRESHES: TableClause = table(
    "rollup_refreshes",
    column("name", String),
    column("refreshed_at", DateTime),  # the refreshing transaction's localtimestamp
    column("covered_until", DateTime),  # pulse_tag_hours: whole hours before this
    column("seconds", Float),
    column("mode", String),  # MODES
    column("reason", String),  # why a full rebuild ran; NULL otherwise
    column("changes", BigInteger),  # keys (movies, days, hours) processed
    column("row_count", BigInteger),
)
ROLLUP_CHANGES: TableClause = table(
    CHANGE_LOG,
    column("rollup", String),
    column("source", String),  # the table that changed
    column("movie_id", Integer),
    column("moment", DateTime),  # a day (review_daily_stats) or an hour (pulse_tag_hours)
    column("rebuild", Boolean),  # the table was truncated: rebuild in full
    column("logged_at", DateTime),
)

# Which rollups summarise which table: an import into one refreshes these.
SOURCES: dict[str, tuple[str, ...]] = {
    "reviews": ("movie_review_stats", "review_daily_stats", "score_counts", "movie_scores"),
    "movies": (
        "score_counts",
        "movie_scores",
        "score_pair_cells",
        "streaming_region_movies",
        "streaming_region_type_counts",
    ),
    "movie_genres": ("score_counts", "score_pair_cells", "movie_scores"),
    "pulses": ("pulse_tag_hours", "pulse_hours"),
    "movie_streaming_options": (
        "streaming_platform_shares",
        "streaming_price_mix",
        "streaming_region_movies",
        "streaming_region_type_counts",
    ),
    "box_office_grosses": ("box_office_runs",),
}
