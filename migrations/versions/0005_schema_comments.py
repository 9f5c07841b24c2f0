"""The schema's descriptions on the database: a comment on every table, rollup and column.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

An analyst reads what a column means where the column is listed: ``iwm_lab.describe()``,
``docs/schema.md`` (generated from the catalog), ``\\d+`` in psql, a SQL client's browser. This
revision stores the descriptions as PostgreSQL comments:

* every table and column description of the schema document (``seed/iwm_schema.md``), word
  for word;
* the partitioned twins: a sentence of their own, and the column descriptions of the table each
  copies (the document makes them ``LIKE ... INCLUDING ALL``, comments included); partitions
  created later copy these (``iwm_ensure_partitions`` creates them ``INCLUDING COMMENTS``);
* the tables and the column designed here (association tables, ``favorites.scene_id``, the
  refresh records) and the rollups: descriptions written here.

The text is literal: a revision is a snapshot and must not change when the document or the
models do (a later rewording needs a new revision). The models carry the same text as
``comment=``: Alembic compares comments, so ``iwm-lab db check`` reports a difference between
them and the database, and ``tests/test_schema_comments.py`` holds both to the document.
Comments are DDL, which takes no bound parameters: every text goes through SQLAlchemy's literal
quoting (Alembic's comment operations, or a ``literal_execute`` parameter).

The downgrade sets every one of them back to NULL, the partitions' copies included.
"""

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Table -> (description, {column: description}), as the schema document words them.
_DOCUMENTED: dict[str, tuple[str, dict[str, str]]] = {
    "movies": (
        "Primary table for all movie data.",
        {
            "id": "Internal ID",
            "external_id": "External identifier (e.g., tmdb_12345)",
            "title": "Movie title",
            "tagline": "Movie tagline",
            "year": "Release year",
            "release_date": "Exact release date",
            "runtime": "Runtime in minutes",
            "siddu_score": "Platform rating (0-10)",
            "critics_score": "Critics rating",
            "imdb_rating": "IMDB rating",
            "rotten_tomatoes_score": "RT score (0-100)",
            "rating": "Content rating (PG-13, R, etc.)",
            "language": "Primary language",
            "country": "Country of origin",
            "overview": "Plot synopsis",
            "poster_url": "Poster image URL",
            "backdrop_url": "Backdrop image URL",
            "budget": "Production budget (USD)",
            "revenue": "Box office revenue (USD)",
            "status": "Status (released, upcoming, in-production)",
            "trivia": "Array of trivia objects",
            "timeline": "Array of timeline events",
        },
    ),
    "genres": (
        "Movie genres taxonomy.",
        {
            "id": "Internal ID",
            "slug": "URL-friendly slug",
            "name": "Genre name",
        },
    ),
    "people": (
        "Actors, directors, writers, producers.",
        {
            "id": "Internal ID",
            "external_id": "External identifier",
            "name": "Person's name",
            "bio": "Biography",
            "image_url": "Profile image URL",
        },
    ),
    "scenes": (
        "Individual movie scenes for Scene Explorer feature.",
        {
            "id": "Internal ID",
            "external_id": "External identifier",
            "title": "Scene title",
            "description": "Scene description",
            "thumbnail_url": "Thumbnail image",
            "duration_str": 'Duration string (e.g., "2:30")',
            "duration_seconds": "Duration in seconds",
            "scene_type": "Type of scene",
            "director": "Director name",
            "cinematographer": "Cinematographer name",
            "view_count": "Number of views",
            "comment_count": "Number of comments",
            "is_popular": "Popular flag",
            "is_visual_treat": "Visual treat flag",
            "added_at": "When added",
            "movie_id": "Associated movie",
        },
    ),
    "users": (
        "User accounts.",
        {
            "id": "Internal ID",
            "external_id": "External identifier",
            "email": "Email address",
            "hashed_password": "Argon2 hashed password",
            "name": "Display name",
            "avatar_url": "Avatar image URL",
            "created_at": "Account creation",
            "updated_at": "Last update",
        },
    ),
    "reviews": (
        "User movie reviews.",
        {
            "id": "Internal ID",
            "external_id": "External identifier",
            "title": "Review title",
            "content": "Review content",
            "rating": "User rating (0-10)",
            "date": "Review date",
            "has_spoilers": "Contains spoilers",
            "is_verified": "Verified purchase/viewing",
            "helpful_votes": "Helpful count",
            "unhelpful_votes": "Unhelpful count",
            "comment_count": "Number of comments",
            "engagement_score": "Engagement metric",
            "media_urls": "JSON array of media URLs",
            "user_id": "Review author",
            "movie_id": "Reviewed movie",
        },
    ),
    "collections": (
        "User-created movie collections.",
        {
            "id": "Internal ID",
            "external_id": "External identifier",
            "title": "Collection title",
            "description": "Collection description",
            "is_public": "Public visibility",
            "followers": "Follower count",
            "tags": "JSON array of tags",
            "created_at": "Creation date",
            "updated_at": "Last update",
            "user_id": "Collection owner",
        },
    ),
    "watchlist": (
        "User watchlist entries.",
        {
            "id": "Internal ID",
            "external_id": "External identifier",
            "date_added": "When added",
            "status": "Status",
            "priority": "Priority level",
            "progress": "Watch progress (%)",
            "user_id": "User",
            "movie_id": "Movie",
        },
    ),
    "favorites": (
        "User favorites (movies, people, scenes).",
        {
            "id": "Internal ID",
            "external_id": "External identifier",
            "type": "Type (movie, person, scene, article)",
            "added_date": "When favorited",
            "user_id": "User",
            "movie_id": "Movie (if type=movie)",
            "person_id": "Person (if type=person)",
        },
    ),
    "pulses": (
        "Social posts (like tweets) about movies/cricket.",
        {
            "id": "Internal ID",
            "external_id": "External identifier",
            "user_id": "Post author",
            "content_text": "Post content",
            "content_media": "JSON array of media objects",
            "linked_type": "Linked content type (movie, cricket)",
            "linked_external_id": "Linked content ID",
            "linked_title": "Linked content title",
            "linked_poster_url": "Linked content poster",
            "linked_movie_id": "Linked movie",
            "hashtags": "JSON array of hashtags",
            "reactions_json": "JSON object with reaction counts",
            "reactions_total": "Total reactions",
            "comments_count": "Comment count",
            "shares_count": "Share count",
            "created_at": "Creation time",
            "edited_at": "Last edit time",
        },
    ),
    "user_follows": (
        "User follow relationships.",
        {
            "id": "Internal ID",
            "follower_id": "Follower user",
            "following_id": "Following user",
            "created_at": "Follow date",
        },
    ),
    "trending_topics": (
        "Trending hashtags and topics.",
        {
            "id": "Internal ID",
            "tag": "Hashtag or topic",
            "category": "Category (movie, cricket, event, general)",
            "window_label": "Time window (7d, 30d)",
            "count": "Occurrence count",
            "computed_at": "Computation time",
        },
    ),
    "streaming_platforms": (
        "Streaming service providers.",
        {
            "id": "Internal ID",
            "external_id": "External identifier",
            "name": "Platform name",
            "logo_url": "Logo image URL",
            "website_url": "Website URL",
        },
    ),
    "movie_streaming_options": (
        "Where movies are available to stream.",
        {
            "id": "Internal ID",
            "external_id": "External identifier",
            "movie_id": "Movie",
            "platform_id": "Platform",
            "region": "Region code (US, UK, IN, etc.)",
            "type": "Type (subscription, rent, buy, free)",
            "price": "Price string",
            "quality": "Quality (HD, 4K, SD)",
            "url": "Direct URL",
            "verified": "Verified availability",
        },
    ),
}

# The same shape, for what the document does not describe (None: the document describes the table).
_DESIGNED: dict[str, tuple[str | None, dict[str, str]]] = {
    "favorites": (None, {"scene_id": "Scene (if type=scene)"}),
    "movie_genres": (
        "Genres of each movie: one row per movie and genre.",
        {"movie_id": "Movie", "genre_id": "Genre"},
    ),
    "movie_people": (
        "Credits: a person's role in a movie; an actor playing two characters has two rows.",
        {
            "id": "Internal ID",
            "movie_id": "Movie",
            "person_id": "Credited person",
            "role": "Role (actor, director, writer, producer, composer, cinematographer, editor)",
            "character_name": "Character played (actors only)",
            "billing_order": "Position in the cast list (actors only; 1 is top billing)",
        },
    ),
    "collection_movies": (
        "Movies of each collection, in order.",
        {
            "collection_id": "Collection",
            "movie_id": "Movie",
            "position": "Position in the collection (not unique: order by position, then added_at)",
            "added_at": "When added",
        },
    ),
    "rollup_refreshes": (
        "Last refresh of each rollup (materialized view), written by iwm_refresh_rollup.",
        {
            "name": "Rollup (materialized view) name",
            "refreshed_at": "When its last refresh ran",
            "covered_until": "Start of the hour of its last refresh: pulse_tag_hours holds "
            "the pulses before it",
            "seconds": "How long its last refresh took, in seconds",
        },
    ),
    "trending_refreshes": (
        "Last refresh of each trending_topics window, written by refresh_trending_topics.",
        {
            "window_label": "Time window (7d, 30d)",
            "as_of": "End of the window its counts are for",
            "refreshed_at": "When the refresh ran",
            "topics": "Topics it wrote (0 included)",
        },
    ),
}

# Partitioned twin -> (the table whose columns it copies, its description).
_TWINS: dict[str, tuple[str, str]] = {
    "reviews_partitioned": (
        "reviews",
        "User movie reviews, partitioned by year of date (reviews_pYYYY, reviews_2024 and a "
        "default partition): the document's partitioning strategy for reviews.",
    ),
    "pulses_partitioned": (
        "pulses",
        "Social posts, partitioned by month of created_at (pulses_pYYYY_MM and a default "
        "partition): the document's partitioning for pulses.",
    ),
}

_REFRESHED = "Rollup, as of its last refresh (see rollup_refreshes): "
_ROLLUPS: dict[str, str] = {
    "movie_review_stats": _REFRESHED
    + "per reviewed movie, its reviews, their rating sum and standard deviation.",
    "score_counts": _REFRESHED
    + "per score source (review ratings or a platform score), genre or all genres, release "
    "year and score, how many values.",
    "score_pair_cells": _REFRESHED
    + "per pair of platform scores, genre or all genres and pair of values, how many movies "
    "have them.",
    "review_daily_stats": _REFRESHED + "reviews and rating sum per day of reviews.date.",
    "pulse_tag_hours": _REFRESHED
    + "pulses per hour, normalised hashtag and category, for the whole hours before the refresh.",
    "streaming_region_movies": _REFRESHED
    + "per region and movie, the offer types available there and whether the movie is released.",
    "streaming_region_type_counts": _REFRESHED
    + "per region, the movies with each combination of offer types.",
    "streaming_platform_shares": _REFRESHED
    + "per region and platform, the movies offered and those offered by no other platform.",
    "streaming_price_mix": _REFRESHED
    + "per region, offer type, quality and currency, the options and statistics of their "
    "prices, parsed from the display strings.",
}

# Partitions copy their twin's column comments when iwm_ensure_partitions creates them; the
# names come from the catalog, quoted by regclass's text form and quote_ident.
_CLEAR_PARTITION_COMMENTS = """
DO $$
DECLARE
    described record;
BEGIN
    FOR described IN
        SELECT i.inhrelid::regclass::text AS relation, quote_ident(a.attname) AS attribute
        FROM pg_catalog.pg_inherits AS i
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.inhrelid AND a.attnum > 0
        JOIN pg_catalog.pg_description AS d
          ON d.classoid = 'pg_catalog.pg_class'::regclass
         AND d.objoid = i.inhrelid AND d.objsubid = a.attnum
        WHERE i.inhparent IN ('reviews_partitioned'::regclass, 'pulses_partitioned'::regclass)
    LOOP
        EXECUTE 'COMMENT ON COLUMN ' || described.relation || '.' || described.attribute
            || ' IS NULL';
    END LOOP;
END
$$
"""


def _tables() -> Iterator[tuple[str, str | None, dict[str, str]]]:
    for table, (description, columns) in _DOCUMENTED.items():
        yield table, description, columns
    for table, (designed, columns) in _DESIGNED.items():
        yield table, designed, columns
    for twin, (original, description) in _TWINS.items():
        yield twin, description, _DOCUMENTED[original][1]


def _comment_rollup(name: str, description: str | None) -> None:
    target = op.get_context().dialect.identifier_preparer.quote(name)
    if description is None:
        op.execute(f"COMMENT ON MATERIALIZED VIEW {target} IS NULL")
        return
    # Rendered as a literal by SQLAlchemy when the statement runs (or is written out offline).
    value = sa.bindparam("description", description, type_=sa.Text(), literal_execute=True)
    op.execute(sa.text(f"COMMENT ON MATERIALIZED VIEW {target} IS :description").bindparams(value))


def upgrade() -> None:
    for table, description, columns in _tables():
        if description is not None:
            op.create_table_comment(table, description)
        for column, text in columns.items():
            op.alter_column(table, column, comment=text)
    for name, description in _ROLLUPS.items():
        _comment_rollup(name, description)


def downgrade() -> None:
    op.execute(_CLEAR_PARTITION_COMMENTS)
    for name in _ROLLUPS:
        _comment_rollup(name, None)
    for table, description, columns in _tables():
        if description is not None:
            op.drop_table_comment(table)
        for column in columns:
            op.alter_column(table, column, comment=None)
