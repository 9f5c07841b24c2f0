"""Initial iwm schema: the seed's tables, the partitioned twins and their SQL functions.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Hand-written from ``seed/iwm_schema.md`` and kept identical to ``iwm_lab.models`` (Alembic's
``compare_metadata`` against a freshly upgraded database reports nothing). Constraint names are
spelled out in full with ``op.f`` rather than left to the naming convention, so the revision
creates the same names whatever metadata the environment passes in. Value sets in the CHECK
constraints are literal on purpose: a revision is a snapshot and must not change when
``iwm_lab.models.values`` does.

Besides the modelled tables it creates, in plain SQL:

* ``reviews_partitioned`` / ``pulses_partitioned``: the seed's partitioned twins of ``reviews``
  (yearly ``reviews_pYYYY``) and ``pulses`` (monthly ``pulses_pYYYY_MM``), each with a DEFAULT
  partition so that no insert fails for want of a partition. They have no models; autogenerate
  skips them through ``iwm_lab.models.include_object``.
* ``iwm_ensure_partitions(through date)``: creates the missing partitions up to ``through``.
* ``refresh_trending_topics(window_label text)``: recomputes one window of ``trending_topics``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    # SERIAL, as SQLAlchemy renders an integer primary key: the seed's "PK, AUTO".
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _timestamp(name: str, *, default_now: bool = False) -> sa.Column[object]:
    return sa.Column(
        name,
        sa.DateTime(timezone=False),
        server_default=sa.text("now()") if default_now else None,
        nullable=True,
    )


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=True)


def _flag(name: str, default: bool) -> sa.Column[bool]:
    return sa.Column(
        name, sa.Boolean(), server_default=sa.text("true" if default else "false"), nullable=True
    )


def _create_tables() -> None:
    op.create_table(
        "movies",
        _id(),
        sa.Column("external_id", sa.String(length=50), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("tagline", sa.String(length=500), nullable=True),
        sa.Column("year", sa.String(length=4), nullable=True),
        _timestamp("release_date"),
        sa.Column("runtime", sa.Integer(), nullable=True),
        sa.Column("siddu_score", sa.Float(), nullable=True),
        sa.Column("critics_score", sa.Float(), nullable=True),
        sa.Column("imdb_rating", sa.Float(), nullable=True),
        sa.Column("rotten_tomatoes_score", sa.Integer(), nullable=True),
        sa.Column("rating", sa.String(length=10), nullable=True),
        sa.Column("language", sa.String(length=50), nullable=True),
        sa.Column("country", sa.String(length=50), nullable=True),
        sa.Column("overview", sa.Text(), nullable=True),
        sa.Column("poster_url", sa.String(length=255), nullable=True),
        sa.Column("backdrop_url", sa.String(length=255), nullable=True),
        # BIGINT, not the seed's INTEGER: worldwide grosses pass 2,147,483,647 (DESIGN.md).
        sa.Column("budget", sa.BigInteger(), nullable=True),
        sa.Column("revenue", sa.BigInteger(), nullable=True),
        sa.Column(
            "status", sa.String(length=20), server_default=sa.text("'released'"), nullable=True
        ),
        sa.Column("trivia", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("timeline", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_movies")),
        sa.UniqueConstraint("external_id", name=op.f("uq_movies_external_id")),
        sa.CheckConstraint(
            "siddu_score BETWEEN 0 AND 10", name=op.f("ck_movies_siddu_score_range")
        ),
        sa.CheckConstraint(
            "critics_score BETWEEN 0 AND 10", name=op.f("ck_movies_critics_score_range")
        ),
        sa.CheckConstraint(
            "imdb_rating BETWEEN 0 AND 10", name=op.f("ck_movies_imdb_rating_range")
        ),
        sa.CheckConstraint(
            "rotten_tomatoes_score BETWEEN 0 AND 100",
            name=op.f("ck_movies_rotten_tomatoes_score_range"),
        ),
        sa.CheckConstraint(
            "status IN ('released', 'upcoming', 'in-production')", name=op.f("ck_movies_status")
        ),
    )
    op.create_table(
        "genres",
        _id(),
        sa.Column("slug", sa.String(length=50), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_genres")),
        sa.UniqueConstraint("slug", name=op.f("uq_genres_slug")),
    )
    op.create_table(
        "people",
        _id(),
        sa.Column("external_id", sa.String(length=50), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("image_url", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("external_id", name=op.f("uq_people_external_id")),
    )
    op.create_table(
        "scenes",
        _id(),
        sa.Column("external_id", sa.String(length=50), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("thumbnail_url", sa.String(length=255), nullable=True),
        sa.Column("duration_str", sa.String(length=20), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("scene_type", sa.String(length=50), nullable=True),
        sa.Column("director", sa.String(length=100), nullable=True),
        sa.Column("cinematographer", sa.String(length=100), nullable=True),
        _counter("view_count"),
        _counter("comment_count"),
        _flag("is_popular", default=False),
        _flag("is_visual_treat", default=False),
        _timestamp("added_at", default_now=True),
        sa.Column("movie_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenes")),
        sa.UniqueConstraint("external_id", name=op.f("uq_scenes_external_id")),
        sa.ForeignKeyConstraint(
            ["movie_id"], ["movies.id"], name=op.f("fk_scenes_movie_id_movies")
        ),
    )
    # Association tables: not in the seed's pages (its table of contents names them), designed
    # here. Their rows mean nothing without both ends, hence ON DELETE CASCADE.
    op.create_table(
        "movie_genres",
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("genre_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("movie_id", "genre_id", name=op.f("pk_movie_genres")),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["movies.id"],
            name=op.f("fk_movie_genres_movie_id_movies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["genre_id"],
            ["genres.id"],
            name=op.f("fk_movie_genres_genre_id_genres"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "movie_people",
        _id(),
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("character_name", sa.String(length=200), nullable=True),
        sa.Column("billing_order", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_movie_people")),
        # NULLS NOT DISTINCT: crew credits have no character_name and must still be unique.
        sa.UniqueConstraint(
            "movie_id",
            "person_id",
            "role",
            "character_name",
            name=op.f("uq_movie_people_movie_id_person_id_role_character_name"),
            postgresql_nulls_not_distinct=True,
        ),
        sa.CheckConstraint(
            "role IN ('actor', 'director', 'writer', 'producer', 'composer', "
            "'cinematographer', 'editor')",
            name=op.f("ck_movie_people_role"),
        ),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["movies.id"],
            name=op.f("fk_movie_people_movie_id_movies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_movie_people_person_id_people"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "users",
        _id(),
        sa.Column("external_id", sa.String(length=50), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("hashed_password", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("avatar_url", sa.String(length=255), nullable=True),
        _timestamp("created_at", default_now=True),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("external_id", name=op.f("uq_users_external_id")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "reviews",
        _id(),
        sa.Column("external_id", sa.String(length=50), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("rating", sa.Float(), nullable=False),
        _timestamp("date", default_now=True),
        _flag("has_spoilers", default=False),
        _flag("is_verified", default=False),
        _counter("helpful_votes"),
        _counter("unhelpful_votes"),
        _counter("comment_count"),
        _counter("engagement_score"),
        sa.Column("media_urls", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("movie_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("external_id", name=op.f("uq_reviews_external_id")),
        sa.CheckConstraint("rating BETWEEN 0 AND 10", name=op.f("ck_reviews_rating_range")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_reviews_user_id_users")),
        sa.ForeignKeyConstraint(
            ["movie_id"], ["movies.id"], name=op.f("fk_reviews_movie_id_movies")
        ),
    )
    op.create_table(
        "collections",
        _id(),
        sa.Column("external_id", sa.String(length=50), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _flag("is_public", default=True),
        _counter("followers"),
        sa.Column("tags", sa.Text(), nullable=True),
        _timestamp("created_at", default_now=True),
        _timestamp("updated_at"),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint("external_id", name=op.f("uq_collections_external_id")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_collections_user_id_users")
        ),
    )
    op.create_table(
        "collection_movies",
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _timestamp("added_at", default_now=True),
        sa.PrimaryKeyConstraint("collection_id", "movie_id", name=op.f("pk_collection_movies")),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_collection_movies_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["movies.id"],
            name=op.f("fk_collection_movies_movie_id_movies"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "watchlist",
        _id(),
        sa.Column("external_id", sa.String(length=50), nullable=True),
        _timestamp("date_added", default_now=True),
        sa.Column(
            "status",
            sa.String(length=20),
            server_default=sa.text("'want-to-watch'"),
            nullable=True,
        ),
        sa.Column(
            "priority", sa.String(length=10), server_default=sa.text("'medium'"), nullable=True
        ),
        _counter("progress"),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("movie_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist")),
        sa.UniqueConstraint("external_id", name=op.f("uq_watchlist_external_id")),
        sa.CheckConstraint(
            "status IN ('want-to-watch', 'watching', 'watched', 'dropped')",
            name=op.f("ck_watchlist_status"),
        ),
        sa.CheckConstraint(
            "priority IN ('low', 'medium', 'high')", name=op.f("ck_watchlist_priority")
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_watchlist_progress_range")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_watchlist_user_id_users")),
        sa.ForeignKeyConstraint(
            ["movie_id"], ["movies.id"], name=op.f("fk_watchlist_movie_id_movies")
        ),
    )
    op.create_table(
        "favorites",
        _id(),
        sa.Column("external_id", sa.String(length=50), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        _timestamp("added_date", default_now=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("movie_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        # Not in the seed, which lists scene favorites but gives them no column.
        sa.Column("scene_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_favorites")),
        sa.UniqueConstraint("external_id", name=op.f("uq_favorites_external_id")),
        sa.CheckConstraint(
            "type IN ('movie', 'person', 'scene', 'article')", name=op.f("ck_favorites_type")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_favorites_user_id_users")),
        sa.ForeignKeyConstraint(
            ["movie_id"], ["movies.id"], name=op.f("fk_favorites_movie_id_movies")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_favorites_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["scene_id"], ["scenes.id"], name=op.f("fk_favorites_scene_id_scenes")
        ),
    )
    op.create_table(
        "pulses",
        _id(),
        sa.Column("external_id", sa.String(length=80), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("content_text", sa.Text(), nullable=False),
        sa.Column("content_media", sa.Text(), nullable=True),
        sa.Column("linked_type", sa.String(length=20), nullable=True),
        sa.Column("linked_external_id", sa.String(length=80), nullable=True),
        sa.Column("linked_title", sa.String(length=200), nullable=True),
        sa.Column("linked_poster_url", sa.String(length=255), nullable=True),
        sa.Column("linked_movie_id", sa.Integer(), nullable=True),
        sa.Column("hashtags", sa.Text(), nullable=True),
        sa.Column("reactions_json", sa.Text(), nullable=True),
        _counter("reactions_total"),
        _counter("comments_count"),
        _counter("shares_count"),
        _timestamp("created_at", default_now=True),
        _timestamp("edited_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pulses")),
        sa.UniqueConstraint("external_id", name=op.f("uq_pulses_external_id")),
        sa.CheckConstraint(
            "linked_type IN ('movie', 'cricket')", name=op.f("ck_pulses_linked_type")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_pulses_user_id_users")),
        sa.ForeignKeyConstraint(
            ["linked_movie_id"], ["movies.id"], name=op.f("fk_pulses_linked_movie_id_movies")
        ),
    )
    op.create_table(
        "user_follows",
        _id(),
        sa.Column("follower_id", sa.Integer(), nullable=True),
        sa.Column("following_id", sa.Integer(), nullable=True),
        _timestamp("created_at", default_now=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_follows")),
        sa.CheckConstraint(
            "follower_id <> following_id", name=op.f("ck_user_follows_no_self_follow")
        ),
        sa.ForeignKeyConstraint(
            ["follower_id"], ["users.id"], name=op.f("fk_user_follows_follower_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["following_id"], ["users.id"], name=op.f("fk_user_follows_following_id_users")
        ),
    )
    op.create_table(
        "trending_topics",
        _id(),
        sa.Column("tag", sa.String(length=120), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column(
            "window_label", sa.String(length=10), server_default=sa.text("'7d'"), nullable=True
        ),
        _counter("count"),
        _timestamp("computed_at", default_now=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trending_topics")),
        # Not in the seed's table, but its own refresh SQL (ON CONFLICT (tag, window_label))
        # cannot run without it (DESIGN.md).
        sa.UniqueConstraint(
            "tag", "window_label", name=op.f("uq_trending_topics_tag_window_label")
        ),
        sa.CheckConstraint(
            "category IN ('movie', 'cricket', 'event', 'general')",
            name=op.f("ck_trending_topics_category"),
        ),
        sa.CheckConstraint(
            "window_label IN ('7d', '30d')", name=op.f("ck_trending_topics_window_label")
        ),
    )
    op.create_table(
        "streaming_platforms",
        _id(),
        sa.Column("external_id", sa.String(length=50), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("logo_url", sa.String(length=255), nullable=True),
        sa.Column("website_url", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_streaming_platforms")),
        sa.UniqueConstraint("external_id", name=op.f("uq_streaming_platforms_external_id")),
    )
    op.create_table(
        "movie_streaming_options",
        _id(),
        sa.Column("external_id", sa.String(length=80), nullable=True),
        sa.Column("movie_id", sa.Integer(), nullable=True),
        sa.Column("platform_id", sa.Integer(), nullable=True),
        sa.Column("region", sa.String(length=10), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("price", sa.String(length=20), nullable=True),
        sa.Column("quality", sa.String(length=10), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=True),
        _flag("verified", default=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_movie_streaming_options")),
        sa.UniqueConstraint("external_id", name=op.f("uq_movie_streaming_options_external_id")),
        sa.CheckConstraint(
            "type IN ('subscription', 'rent', 'buy', 'free')",
            name=op.f("ck_movie_streaming_options_type"),
        ),
        sa.CheckConstraint(
            "quality IN ('SD', 'HD', '4K')", name=op.f("ck_movie_streaming_options_quality")
        ),
        # ISO 3166-1 alpha-2 shape; iwm's 'UK' fits it too.
        sa.CheckConstraint(
            "region ~ '^[A-Z]{2}$'", name=op.f("ck_movie_streaming_options_region_format")
        ),
        sa.ForeignKeyConstraint(
            ["movie_id"], ["movies.id"], name=op.f("fk_movie_streaming_options_movie_id_movies")
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["streaming_platforms.id"],
            name=op.f("fk_movie_streaming_options_platform_id_streaming_platforms"),
        ),
    )


# (name, table, columns, options) of every index; the idx_ ones are the seed's, verbatim.
_INDEXES: list[tuple[str, str, list[str], dict[str, object]]] = [
    ("idx_movies_external_id", "movies", ["external_id"], {}),
    (
        "idx_movies_title_trgm",
        "movies",
        ["title"],
        {"postgresql_using": "gin", "postgresql_ops": {"title": "gin_trgm_ops"}},
    ),
    ("idx_movies_year", "movies", ["year"], {}),
    (
        "idx_movies_siddu_score",
        "movies",
        ["siddu_score DESC"],
        {"postgresql_where": "siddu_score IS NOT NULL"},
    ),
    ("idx_movies_status", "movies", ["status"], {}),
    ("idx_movies_trivia_gin", "movies", ["trivia"], {"postgresql_using": "gin"}),
    ("idx_movies_timeline_gin", "movies", ["timeline"], {"postgresql_using": "gin"}),
    ("idx_genres_slug", "genres", ["slug"], {}),
    ("idx_people_external_id", "people", ["external_id"], {}),
    (
        "idx_people_name_trgm",
        "people",
        ["name"],
        {"postgresql_using": "gin", "postgresql_ops": {"name": "gin_trgm_ops"}},
    ),
    ("idx_scenes_movie_id", "scenes", ["movie_id"], {}),
    (
        "idx_scenes_is_popular",
        "scenes",
        ["is_popular"],
        {"postgresql_where": "is_popular = true"},
    ),
    (
        "idx_scenes_is_visual_treat",
        "scenes",
        ["is_visual_treat"],
        {"postgresql_where": "is_visual_treat = true"},
    ),
    ("idx_scenes_added_at", "scenes", ["added_at DESC"], {}),
    # The association tables' keys lead with the left-hand id; these serve the other direction.
    ("idx_movie_genres_genre_id", "movie_genres", ["genre_id"], {}),
    ("idx_movie_people_person_id", "movie_people", ["person_id"], {}),
    ("idx_collection_movies_movie_id", "collection_movies", ["movie_id"], {}),
    ("idx_users_external_id", "users", ["external_id"], {}),
    ("idx_users_email", "users", ["email"], {}),
    ("idx_users_created_at", "users", ["created_at DESC"], {}),
    ("idx_reviews_user_id", "reviews", ["user_id"], {}),
    ("idx_reviews_movie_id", "reviews", ["movie_id"], {}),
    ("idx_reviews_date", "reviews", ["date DESC"], {}),
    ("idx_reviews_rating", "reviews", ["rating DESC"], {}),
    ("idx_reviews_engagement", "reviews", ["engagement_score DESC"], {}),
    ("idx_collections_user_id", "collections", ["user_id"], {}),
    (
        "idx_collections_is_public",
        "collections",
        ["is_public"],
        {"postgresql_where": "is_public = true"},
    ),
    ("idx_collections_created_at", "collections", ["created_at DESC"], {}),
    ("idx_watchlist_user_id", "watchlist", ["user_id"], {}),
    ("idx_watchlist_movie_id", "watchlist", ["movie_id"], {}),
    ("idx_watchlist_status", "watchlist", ["status"], {}),
    ("idx_watchlist_user_movie", "watchlist", ["user_id", "movie_id"], {"unique": True}),
    ("idx_favorites_user_id", "favorites", ["user_id"], {}),
    ("idx_favorites_type", "favorites", ["type"], {}),
    (
        "idx_favorites_movie_id",
        "favorites",
        ["movie_id"],
        {"postgresql_where": "movie_id IS NOT NULL"},
    ),
    (
        "idx_favorites_person_id",
        "favorites",
        ["person_id"],
        {"postgresql_where": "person_id IS NOT NULL"},
    ),
    (
        "idx_favorites_scene_id",
        "favorites",
        ["scene_id"],
        {"postgresql_where": "scene_id IS NOT NULL"},
    ),
    ("idx_pulses_user_id", "pulses", ["user_id"], {}),
    ("idx_pulses_created_at", "pulses", ["created_at DESC"], {}),
    (
        "idx_pulses_linked_movie_id",
        "pulses",
        ["linked_movie_id"],
        {"postgresql_where": "linked_movie_id IS NOT NULL"},
    ),
    ("idx_user_follows_follower", "user_follows", ["follower_id"], {}),
    ("idx_user_follows_following", "user_follows", ["following_id"], {}),
    (
        "idx_user_follows_unique",
        "user_follows",
        ["follower_id", "following_id"],
        {"unique": True},
    ),
    ("idx_trending_topics_tag", "trending_topics", ["tag"], {}),
    ("idx_trending_topics_category", "trending_topics", ["category"], {}),
    ("idx_trending_topics_count", "trending_topics", ["count DESC"], {}),
    ("idx_streaming_movie_id", "movie_streaming_options", ["movie_id"], {}),
    ("idx_streaming_platform_id", "movie_streaming_options", ["platform_id"], {}),
    ("idx_streaming_region", "movie_streaming_options", ["region"], {}),
]


def _create_indexes() -> None:
    for name, table, columns, options in _INDEXES:
        kw = dict(options)
        if "postgresql_where" in kw:
            kw["postgresql_where"] = sa.text(str(kw["postgresql_where"]))
        # "col DESC" is an expression to Alembic; a bare name stays a column reference.
        elements = [sa.text(col) if " " in col else col for col in columns]
        op.create_index(name, table, elements, **kw)  # type: ignore[arg-type]


# The seed's partitioned twins. Its `LIKE x INCLUDING ALL` cannot work as written: the primary
# key (and reviews' unique external_id) of a partitioned table must include the partition key.
# So: everything but indexes is copied, the primary key gains the partition key, and the seed's
# indexes are recreated on the parent (PostgreSQL cascades them to every partition). external_id
# is not unique across partitions. INCLUDING DEFAULTS copies the id default, so a twin shares its
# original's sequence and ids never collide when rows are copied across. reviews_2024 is the
# seed's own example partition, kept under the seed's name; iwm_ensure_partitions names the
# others reviews_pYYYY / pulses_pYYYY_MM and leaves alone a range another partition covers.
_PARTITIONED_TWINS_SQL = """
CREATE TABLE reviews_partitioned (
    LIKE reviews INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS,
    CONSTRAINT pk_reviews_partitioned PRIMARY KEY (id, date)
) PARTITION BY RANGE (date);
CREATE TABLE reviews_partitioned_default PARTITION OF reviews_partitioned DEFAULT;
CREATE TABLE reviews_2024 PARTITION OF reviews_partitioned
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX idx_reviews_partitioned_user_id ON reviews_partitioned (user_id);
CREATE INDEX idx_reviews_partitioned_movie_id ON reviews_partitioned (movie_id);
CREATE INDEX idx_reviews_partitioned_date ON reviews_partitioned (date DESC);
CREATE INDEX idx_reviews_partitioned_rating ON reviews_partitioned (rating DESC);
CREATE INDEX idx_reviews_partitioned_engagement ON reviews_partitioned (engagement_score DESC);

CREATE TABLE pulses_partitioned (
    LIKE pulses INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS,
    CONSTRAINT pk_pulses_partitioned PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE pulses_partitioned_default PARTITION OF pulses_partitioned DEFAULT;
CREATE INDEX idx_pulses_partitioned_user_id ON pulses_partitioned (user_id);
CREATE INDEX idx_pulses_partitioned_created_at ON pulses_partitioned (created_at DESC);
CREATE INDEX idx_pulses_partitioned_linked_movie_id ON pulses_partitioned (linked_movie_id)
    WHERE linked_movie_id IS NOT NULL;
"""

# Idempotent; returns the number of partitions it created. A scheduled job (or the CLI) calls it
# ahead of time; until then rows land in the DEFAULT partition, and this function moves them
# into the partition it creates for their range (CREATE ... PARTITION OF would fail instead).
# `SET search_path FROM CURRENT` pins the schema the migration ran in, whatever the caller's.
# The SQL in this file has no percent signs (hence no format() or RAISE placeholders): Alembic's
# offline mode (--sql) would double them for the pyformat paramstyle and break the functions.
_ENSURE_PARTITIONS_SQL = """
CREATE FUNCTION iwm_ensure_partitions(through date) RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    part record;
    created integer := 0;
BEGIN
    IF through IS NULL THEN
        RAISE EXCEPTION 'iwm_ensure_partitions: through must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Concurrent callers would both find a partition missing and the second CREATE would fail.
    PERFORM pg_advisory_xact_lock(hashtext('iwm_ensure_partitions'));
    FOR part IN
        -- Bounds as ISO text: the default text form of a timestamp follows DateStyle.
        SELECT 'reviews_partitioned' AS parent, 'reviews_partitioned_default' AS default_part,
               'date' AS key_column, 'reviews_p' || to_char(lo, 'YYYY') AS name,
               to_char(lo, 'YYYY-MM-DD') AS lo,
               to_char(lo + interval '1 year', 'YYYY-MM-DD') AS hi
        FROM generate_series(timestamp '1990-01-01', date_trunc('year', through::timestamp),
                             interval '1 year') AS lo
        UNION ALL
        SELECT 'pulses_partitioned', 'pulses_partitioned_default', 'created_at',
               'pulses_p' || to_char(lo, 'YYYY_MM'),
               to_char(lo, 'YYYY-MM-DD'),
               to_char(lo + interval '1 month', 'YYYY-MM-DD')
        FROM generate_series(date_trunc('month', localtimestamp) - interval '24 months',
                             date_trunc('month', through::timestamp), interval '1 month') AS lo
        ORDER BY 1, 5
    LOOP
        CONTINUE WHEN to_regclass(quote_ident(part.name)) IS NOT NULL;
        BEGIN
            EXECUTE 'CREATE TABLE ' || quote_ident(part.name) || ' (LIKE '
                || quote_ident(part.parent) || ' INCLUDING DEFAULTS INCLUDING CONSTRAINTS'
                || ' INCLUDING STORAGE INCLUDING COMMENTS)';
            EXECUTE 'WITH moved AS (DELETE FROM ' || quote_ident(part.default_part)
                || ' WHERE ' || quote_ident(part.key_column) || ' >= ' || quote_literal(part.lo)
                || ' AND ' || quote_ident(part.key_column) || ' < ' || quote_literal(part.hi)
                || ' RETURNING *) INSERT INTO ' || quote_ident(part.name)
                || ' SELECT * FROM moved';
            EXECUTE 'ALTER TABLE ' || quote_ident(part.parent) || ' ATTACH PARTITION '
                || quote_ident(part.name) || ' FOR VALUES FROM (' || quote_literal(part.lo)
                || ') TO (' || quote_literal(part.hi) || ')';
            created := created + 1;
        EXCEPTION WHEN invalid_object_definition THEN
            -- 42P17 from ATTACH of this fresh copy means "would overlap partition ...": a
            -- partition under another name (the seed's reviews_2024) already holds the range.
            -- Leaving the block rolls back the CREATE and the row move.
            NULL;
        END;
    END LOOP;
    RETURN created;
END
$fn$;
"""

# Replaces one window's rows with the top 50 tags of the pulses created in it. pulses.hashtags
# is TEXT that should hold a JSON array; rows that do not are skipped, never fatal (a cast
# error would abort the whole refresh). A tag is counted once per pulse. Its category is the
# linked_type of most of its pulses ('general' when unlinked), ties alphabetical; tags longer
# than trending_topics.tag (120) are skipped rather than truncated into another tag.
_REFRESH_TRENDING_SQL = """
CREATE FUNCTION refresh_trending_topics(p_window_label text) RETURNS integer
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
    -- Two refreshes of one window would both delete, then collide on (tag, window_label).
    PERFORM pg_advisory_xact_lock(hashtext('refresh_trending_topics:' || p_window_label));

    DELETE FROM trending_topics WHERE window_label = p_window_label;

    WITH documents AS (
        SELECT p.id,
               COALESCE(p.linked_type, 'general') AS category,
               -- No backslashes in the pattern: immune to standard_conforming_strings.
               CASE WHEN p.hashtags ~ '^[[:space:]]*[[]'
                         AND pg_input_is_valid(p.hashtags, 'jsonb')
                    THEN p.hashtags::jsonb
               END AS doc
        FROM pulses AS p
        WHERE p.created_at > localtimestamp - window_length
          AND p.hashtags IS NOT NULL
    ),
    mentions AS (
        SELECT DISTINCT d.id, d.category,
               lower(trim(ltrim(trim(e.value #>> '{}'), '#'))) AS tag
        FROM documents AS d
        CROSS JOIN LATERAL jsonb_array_elements(d.doc) AS e(value)
        WHERE jsonb_typeof(d.doc) = 'array'
          AND jsonb_typeof(e.value) = 'string'
    ),
    per_category AS (
        SELECT tag, category, count(*) AS n
        FROM mentions
        WHERE tag <> '' AND char_length(tag) <= 120
        GROUP BY tag, category
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

# Leave pg_trgm installed when we may not drop it (not its owner) or something else uses it.
_DROP_TRGM_SQL = """
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension
               WHERE extname = 'pg_trgm' AND pg_has_role(extowner, 'USAGE')) THEN
        DROP EXTENSION pg_trgm;
    END IF;
EXCEPTION WHEN dependent_objects_still_exist THEN
    RAISE NOTICE 'pg_trgm is still in use; leaving it installed';
END
$do$;
"""

_TABLES_IN_DROP_ORDER = [
    "movie_streaming_options",
    "streaming_platforms",
    "trending_topics",
    "user_follows",
    "pulses",
    "favorites",
    "watchlist",
    "collection_movies",
    "collections",
    "reviews",
    "users",
    "movie_people",
    "movie_genres",
    "scenes",
    "people",
    "genres",
    "movies",
]


def upgrade() -> None:
    # The trigram indexes on movies.title and people.name need it; trusted since PostgreSQL 13,
    # so a database owner can create it without superuser.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    _create_tables()
    _create_indexes()
    op.execute(_PARTITIONED_TWINS_SQL)
    op.execute(_ENSURE_PARTITIONS_SQL)
    op.execute(_REFRESH_TRENDING_SQL)
    op.execute("SELECT iwm_ensure_partitions((now() + interval '3 months')::date)")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS refresh_trending_topics(text)")
    op.execute("DROP FUNCTION IF EXISTS iwm_ensure_partitions(date)")
    # Before reviews/pulses: the twins' id defaults use those tables' sequences.
    op.execute("DROP TABLE IF EXISTS pulses_partitioned")
    op.execute("DROP TABLE IF EXISTS reviews_partitioned")
    for table in _TABLES_IN_DROP_ORDER:
        op.drop_table(table)
    op.execute(_DROP_TRGM_SQL)
