"""Rollups: the materialized views the query functions read, and what each summarises.

Aggregating 5M reviews or parsing the hashtags of a month of pulses takes seconds; the
analyses must answer in well under one. Migration 0002 therefore keeps summaries as
materialized views, and the query functions read those:

- ``movie_review_stats``: ratings' top_rated, divisive_movies, platform_agreement,
  ratings_by_genre and ratings_by_year;
- ``score_counts``: ratings.score_distribution;
- ``score_pair_cells``: ratings.platform_agreement (the pairs of platform scores);
- ``review_daily_stats``: ratings.review_volume;
- ``pulse_tag_hours``: trending's hashtag_counts, hashtag_timeseries and rising_tags;
- ``streaming_region_type_counts`` (the counts) and ``streaming_region_movies`` (the
  top-rated movies): streaming.coverage_by_region;
- ``streaming_platform_shares``: streaming.platform_share;
- ``streaming_price_mix``: streaming.price_quality_mix.

A materialized view holds the data of its last refresh. The review and streaming summaries
therefore lag behind writes until the next refresh. The trending functions do not: the rollup
holds whole hours up to the refresh, and they count everything after that (and the partial
hours at a window's edges) from ``pulses`` directly. :mod:`iwm_lab.operations` refreshes them,
for the seeder and ``iwm-lab import`` (after loading), ``iwm-lab db refresh`` (by hand, from
cron or a systemd timer), and pg_cron hourly where the server has it.
``iwm_lab.queries.overview.freshness`` shows when each was last refreshed.
"""

from __future__ import annotations

from sqlalchemy import (
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
    "movie_review_stats",
    "pulse_tag_hours",
    "review_daily_stats",
    "score_counts",
    "score_pair_cells",
    "streaming_platform_shares",
    "streaming_price_mix",
    "streaming_region_movies",
    "streaming_region_type_counts",
)

# The views' columns, for the query modules (the views have no models: Alembic does not
# compare materialized views, migration 0002 defines them).
MOVIE_REVIEW_STATS: TableClause = table(
    "movie_review_stats",
    column("movie_id", Integer),
    column("reviews", BigInteger),
    column("rating_sum", Float),
    column("rating_stddev", Float),
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

ROLLUP_REFRESHES: TableClause = table(
    "rollup_refreshes",
    column("name", String),
    column("refreshed_at", DateTime),  # the refreshing transaction's localtimestamp
    column("covered_until", DateTime),  # pulse_tag_hours: whole hours before this
    column("seconds", Float),
)

# Which rollups summarise which table: an import into one refreshes these.
SOURCES: dict[str, tuple[str, ...]] = {
    "reviews": ("movie_review_stats", "review_daily_stats", "score_counts"),
    "movies": (
        "score_counts",
        "score_pair_cells",
        "streaming_region_movies",
        "streaming_region_type_counts",
    ),
    "movie_genres": ("score_counts", "score_pair_cells"),
    "pulses": ("pulse_tag_hours",),
    "movie_streaming_options": (
        "streaming_platform_shares",
        "streaming_price_mix",
        "streaming_region_movies",
        "streaming_region_type_counts",
    ),
}
