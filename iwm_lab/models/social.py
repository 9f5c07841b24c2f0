"""The social side: pulses (short posts), who follows whom, and trending topics.

``pulses_partitioned`` (the seed's partitioned twin of ``pulses``) is created by the migration
and deliberately has no model: see ``iwm_lab.models.include_object``. ``trending_topics`` is
written by the SQL function ``refresh_trending_topics(window_label)`` from the migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from iwm_lab.models.base import Base
from iwm_lab.models.values import (
    PULSE_LINKED_TYPES,
    TRENDING_CATEGORIES,
    TRENDING_WINDOWS,
    sql_in,
)

if TYPE_CHECKING:
    from iwm_lab.models.catalog import Movie
    from iwm_lab.models.users import User


class Pulse(Base):
    __tablename__ = "pulses"
    __table_args__ = (
        CheckConstraint(sql_in("linked_type", PULSE_LINKED_TYPES), name="linked_type"),
        {"comment": "Social posts (like tweets) about movies/cricket."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(80), unique=True, comment="External identifier"
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), comment="Post author")
    content_text: Mapped[str] = mapped_column(Text, nullable=False, comment="Post content")
    # The JSON-in-TEXT columns are as documented (not JSONB): parse them, expect bad rows.
    content_media: Mapped[str | None] = mapped_column(Text, comment="JSON array of media objects")
    linked_type: Mapped[str | None] = mapped_column(
        String(20), comment="Linked content type (movie, cricket)"
    )
    linked_external_id: Mapped[str | None] = mapped_column(String(80), comment="Linked content ID")
    linked_title: Mapped[str | None] = mapped_column(String(200), comment="Linked content title")
    linked_poster_url: Mapped[str | None] = mapped_column(
        String(255), comment="Linked content poster"
    )
    linked_movie_id: Mapped[int | None] = mapped_column(
        ForeignKey("movies.id"), comment="Linked movie"
    )
    hashtags: Mapped[str | None] = mapped_column(Text, comment="JSON array of hashtags")
    reactions_json: Mapped[str | None] = mapped_column(
        Text, comment="JSON object with reaction counts"
    )
    reactions_total: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Total reactions"
    )
    comments_count: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Comment count"
    )
    shares_count: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Share count"
    )
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), server_default=func.now(), comment="Creation time"
    )
    edited_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Last edit time"
    )

    user: Mapped[User | None] = relationship(back_populates="pulses", lazy="raise")
    linked_movie: Mapped[Movie | None] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"Pulse(id={self.id!r}, user_id={self.user_id!r}, created_at={self.created_at!r})"


Index("idx_pulses_user_id", Pulse.user_id)
# The seed's column-level "INDEX" on created_at is this one, not a second index.
Index("idx_pulses_created_at", Pulse.created_at.desc())
Index(
    "idx_pulses_linked_movie_id",
    Pulse.linked_movie_id,
    postgresql_where=Pulse.linked_movie_id.is_not(None),
)


class UserFollow(Base):
    __tablename__ = "user_follows"
    __table_args__ = (
        CheckConstraint("follower_id <> following_id", name="no_self_follow"),
        {"comment": "User follow relationships."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    follower_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), comment="Follower user")
    following_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), comment="Following user"
    )
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), server_default=func.now(), comment="Follow date"
    )

    follower: Mapped[User | None] = relationship(foreign_keys=[follower_id], lazy="raise")
    following: Mapped[User | None] = relationship(foreign_keys=[following_id], lazy="raise")

    def __repr__(self) -> str:
        return f"UserFollow(follower_id={self.follower_id!r}, following_id={self.following_id!r})"


Index("idx_user_follows_follower", UserFollow.follower_id)
Index("idx_user_follows_following", UserFollow.following_id)
Index(
    "idx_user_follows_unique",
    UserFollow.follower_id,
    UserFollow.following_id,
    unique=True,
)


class TrendingTopic(Base):
    """The top tags of a window, replaced wholesale by ``refresh_trending_topics``."""

    __tablename__ = "trending_topics"
    __table_args__ = (
        # Not in the seed's table, but its own refresh SQL (ON CONFLICT (tag, window_label))
        # needs it (DESIGN.md).
        UniqueConstraint("tag", "window_label"),
        CheckConstraint(sql_in("category", TRENDING_CATEGORIES), name="category"),
        CheckConstraint(sql_in("window_label", TRENDING_WINDOWS), name="window_label"),
        {"comment": "Trending hashtags and topics."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    tag: Mapped[str | None] = mapped_column(String(120), comment="Hashtag or topic")
    category: Mapped[str | None] = mapped_column(
        String(20), comment="Category (movie, cricket, event, general)"
    )
    window_label: Mapped[str | None] = mapped_column(
        String(10), server_default=text("'7d'"), comment="Time window (7d, 30d)"
    )
    count: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Occurrence count"
    )
    computed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), server_default=func.now(), comment="Computation time"
    )

    def __repr__(self) -> str:
        return (
            f"TrendingTopic(tag={self.tag!r}, window_label={self.window_label!r}, "
            f"count={self.count!r})"
        )


Index("idx_trending_topics_tag", TrendingTopic.tag)
Index("idx_trending_topics_category", TrendingTopic.category)
Index("idx_trending_topics_count", TrendingTopic.count.desc())
