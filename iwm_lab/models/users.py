"""Users and what they keep: reviews, collections, the watchlist and favorites.

Constraints live in ``__table_args__``; indexes follow each class, as in the seed's ``Indexes``
blocks. ``reviews_partitioned`` (the seed's partitioned twin of ``reviews``) is created by the
migration and deliberately has no model: see ``iwm_lab.models.include_object``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from iwm_lab.models.base import Base
from iwm_lab.models.values import (
    FAVORITE_TYPES,
    PERCENT_RANGE,
    SCORE_RANGE,
    WATCHLIST_PRIORITIES,
    WATCHLIST_STATUSES,
    sql_between,
    sql_in,
)

if TYPE_CHECKING:
    from iwm_lab.models.catalog import Movie, Person, Scene
    from iwm_lab.models.social import Pulse


class User(Base):
    __tablename__ = "users"
    __table_args__ = ({"comment": "User accounts."},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    email: Mapped[str | None] = mapped_column(String(200), unique=True, comment="Email address")
    hashed_password: Mapped[str] = mapped_column(
        String(255), nullable=False, comment="Argon2 hashed password"
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False, comment="Display name")
    avatar_url: Mapped[str | None] = mapped_column(String(255), comment="Avatar image URL")
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), server_default=func.now(), comment="Account creation"
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Last update"
    )

    # passive_deletes="all" on every child collection: the FKs have no ON DELETE action, so the
    # database refuses to delete a user who still owns rows; the ORM must not null them out.
    reviews: Mapped[list[Review]] = relationship(
        back_populates="user", lazy="raise", passive_deletes="all"
    )
    collections: Mapped[list[Collection]] = relationship(
        back_populates="user", lazy="raise", passive_deletes="all"
    )
    watchlist: Mapped[list[WatchlistEntry]] = relationship(
        back_populates="user", lazy="raise", passive_deletes="all"
    )
    favorites: Mapped[list[Favorite]] = relationship(
        back_populates="user", lazy="raise", passive_deletes="all"
    )
    pulses: Mapped[list[Pulse]] = relationship(
        back_populates="user", lazy="raise", passive_deletes="all"
    )

    def __repr__(self) -> str:
        # No email or password hash: reprs end up in notebook outputs and logs.
        return f"User(id={self.id!r}, name={self.name!r})"


Index("idx_users_external_id", User.external_id)
Index("idx_users_email", User.email)
Index("idx_users_created_at", User.created_at.desc())


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(sql_between("rating", SCORE_RANGE), name="rating_range"),
        {"comment": "User movie reviews."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    title: Mapped[str] = mapped_column(String(200), nullable=False, comment="Review title")
    content: Mapped[str] = mapped_column(Text, nullable=False, comment="Review content")
    rating: Mapped[float] = mapped_column(Float, nullable=False, comment="User rating (0-10)")
    date: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), server_default=func.now(), comment="Review date"
    )
    has_spoilers: Mapped[bool | None] = mapped_column(
        server_default=false(), comment="Contains spoilers"
    )
    is_verified: Mapped[bool | None] = mapped_column(
        server_default=false(), comment="Verified purchase/viewing"
    )
    helpful_votes: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Helpful count"
    )
    unhelpful_votes: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Unhelpful count"
    )
    comment_count: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Number of comments"
    )
    engagement_score: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Engagement metric"
    )
    # TEXT holding a JSON array, as documented (not JSONB): parse it, and expect bad rows.
    media_urls: Mapped[str | None] = mapped_column(Text, comment="JSON array of media URLs")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), comment="Review author")
    movie_id: Mapped[int | None] = mapped_column(ForeignKey("movies.id"), comment="Reviewed movie")

    user: Mapped[User | None] = relationship(back_populates="reviews", lazy="raise")
    movie: Mapped[Movie | None] = relationship(back_populates="reviews", lazy="raise")

    def __repr__(self) -> str:
        return f"Review(id={self.id!r}, movie_id={self.movie_id!r}, rating={self.rating!r})"


Index("idx_reviews_user_id", Review.user_id)
Index("idx_reviews_movie_id", Review.movie_id)
Index("idx_reviews_date", Review.date.desc())
Index("idx_reviews_rating", Review.rating.desc())
Index("idx_reviews_engagement", Review.engagement_score.desc())


class Collection(Base):
    __tablename__ = "collections"
    __table_args__ = ({"comment": "User-created movie collections."},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    title: Mapped[str] = mapped_column(String(200), nullable=False, comment="Collection title")
    description: Mapped[str | None] = mapped_column(Text, comment="Collection description")
    is_public: Mapped[bool | None] = mapped_column(
        server_default=true(), comment="Public visibility"
    )
    followers: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Follower count"
    )
    # TEXT holding a JSON array, as documented.
    tags: Mapped[str | None] = mapped_column(Text, comment="JSON array of tags")
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), server_default=func.now(), comment="Creation date"
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Last update"
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), comment="Collection owner")

    user: Mapped[User | None] = relationship(back_populates="collections", lazy="raise")
    entries: Mapped[list[CollectionMovie]] = relationship(
        back_populates="collection",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="CollectionMovie.position",
    )

    def __repr__(self) -> str:
        return f"Collection(id={self.id!r}, title={self.title!r})"


Index("idx_collections_user_id", Collection.user_id)
Index(
    "idx_collections_is_public",
    Collection.is_public,
    postgresql_where=Collection.is_public == true(),
)
Index("idx_collections_created_at", Collection.created_at.desc())


class CollectionMovie(Base):
    """A movie in a collection, at a position (designed here: the seed omits the page)."""

    __tablename__ = "collection_movies"
    __table_args__ = ({"comment": "Movies of each collection, in order."},)

    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True, comment="Collection"
    )
    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True, comment="Movie"
    )
    # Not unique per collection: reordering would then need deferred constraints; readers
    # order by (position, added_at).
    position: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        comment="Position in the collection (not unique: order by position, then added_at)",
    )
    added_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), server_default=func.now(), comment="When added"
    )

    collection: Mapped[Collection] = relationship(back_populates="entries", lazy="raise")
    movie: Mapped[Movie] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return (
            f"CollectionMovie(collection_id={self.collection_id!r}, "
            f"movie_id={self.movie_id!r}, position={self.position!r})"
        )


# The composite PK leads with collection_id; this serves "collections containing a movie".
Index("idx_collection_movies_movie_id", CollectionMovie.movie_id)


class WatchlistEntry(Base):
    __tablename__ = "watchlist"
    __table_args__ = (
        CheckConstraint(sql_in("status", WATCHLIST_STATUSES), name="status"),
        CheckConstraint(sql_in("priority", WATCHLIST_PRIORITIES), name="priority"),
        CheckConstraint(sql_between("progress", PERCENT_RANGE), name="progress_range"),
        {"comment": "User watchlist entries."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    date_added: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), server_default=func.now(), comment="When added"
    )
    status: Mapped[str | None] = mapped_column(
        String(20), server_default=text("'want-to-watch'"), comment="Status"
    )
    priority: Mapped[str | None] = mapped_column(
        String(10), server_default=text("'medium'"), comment="Priority level"
    )
    progress: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Watch progress (%)"
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), comment="User")
    movie_id: Mapped[int | None] = mapped_column(ForeignKey("movies.id"), comment="Movie")

    user: Mapped[User | None] = relationship(back_populates="watchlist", lazy="raise")
    movie: Mapped[Movie | None] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return (
            f"WatchlistEntry(id={self.id!r}, user_id={self.user_id!r}, "
            f"movie_id={self.movie_id!r}, status={self.status!r})"
        )


Index("idx_watchlist_user_id", WatchlistEntry.user_id)
Index("idx_watchlist_movie_id", WatchlistEntry.movie_id)
Index("idx_watchlist_status", WatchlistEntry.status)
Index("idx_watchlist_user_movie", WatchlistEntry.user_id, WatchlistEntry.movie_id, unique=True)


class Favorite(Base):
    """A favorite of a movie, person, scene or article; the id column of the type is set.

    ``scene_id`` is not in the seed (which lists scenes among favorites but gives them no
    column); it is added here, indexed like its siblings.
    """

    __tablename__ = "favorites"
    __table_args__ = (
        CheckConstraint(sql_in("type", FAVORITE_TYPES), name="type"),
        {"comment": "User favorites (movies, people, scenes)."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    type: Mapped[str] = mapped_column(
        String(20), nullable=False, comment="Type (movie, person, scene, article)"
    )
    added_date: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), server_default=func.now(), comment="When favorited"
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), comment="User")
    movie_id: Mapped[int | None] = mapped_column(
        ForeignKey("movies.id"), comment="Movie (if type=movie)"
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id"), comment="Person (if type=person)"
    )
    scene_id: Mapped[int | None] = mapped_column(
        ForeignKey("scenes.id"), comment="Scene (if type=scene)"
    )

    user: Mapped[User | None] = relationship(back_populates="favorites", lazy="raise")
    movie: Mapped[Movie | None] = relationship(lazy="raise")
    person: Mapped[Person | None] = relationship(lazy="raise")
    scene: Mapped[Scene | None] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"Favorite(id={self.id!r}, user_id={self.user_id!r}, type={self.type!r})"


Index("idx_favorites_user_id", Favorite.user_id)
Index("idx_favorites_type", Favorite.type)
Index(
    "idx_favorites_movie_id",
    Favorite.movie_id,
    postgresql_where=Favorite.movie_id.is_not(None),
)
Index(
    "idx_favorites_person_id",
    Favorite.person_id,
    postgresql_where=Favorite.person_id.is_not(None),
)
Index(
    "idx_favorites_scene_id",
    Favorite.scene_id,
    postgresql_where=Favorite.scene_id.is_not(None),
)
