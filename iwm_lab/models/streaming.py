"""Streaming platforms and where (region, platform, offer type) each movie can be watched."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from iwm_lab.models.base import Base
from iwm_lab.models.values import (
    REGION_PATTERN,
    STREAMING_OPTION_TYPES,
    STREAMING_QUALITIES,
    sql_in,
)

if TYPE_CHECKING:
    from iwm_lab.models.catalog import Movie


class StreamingPlatform(Base):
    __tablename__ = "streaming_platforms"
    __table_args__ = ({"comment": "Streaming service providers."},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False, comment="Platform name")
    logo_url: Mapped[str | None] = mapped_column(String(255), comment="Logo image URL")
    website_url: Mapped[str | None] = mapped_column(String(255), comment="Website URL")

    # The FK has no ON DELETE action: the database keeps a platform that still has offers.
    options: Mapped[list[MovieStreamingOption]] = relationship(
        back_populates="platform", lazy="raise", passive_deletes="all"
    )

    def __repr__(self) -> str:
        return f"StreamingPlatform(id={self.id!r}, name={self.name!r})"


class MovieStreamingOption(Base):
    __tablename__ = "movie_streaming_options"
    __table_args__ = (
        CheckConstraint(sql_in("type", STREAMING_OPTION_TYPES), name="type"),
        CheckConstraint(sql_in("quality", STREAMING_QUALITIES), name="quality"),
        CheckConstraint(f"region ~ '{REGION_PATTERN}'", name="region_format"),
        {"comment": "Where movies are available to stream."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(80), unique=True, comment="External identifier"
    )
    movie_id: Mapped[int | None] = mapped_column(ForeignKey("movies.id"), comment="Movie")
    platform_id: Mapped[int | None] = mapped_column(
        ForeignKey("streaming_platforms.id"), comment="Platform"
    )
    region: Mapped[str | None] = mapped_column(String(10), comment="Region code (US, UK, IN, etc.)")
    type: Mapped[str] = mapped_column(
        String(20), nullable=False, comment="Type (subscription, rent, buy, free)"
    )
    # A display string as documented ("$3.99", "₹149"), not a number.
    price: Mapped[str | None] = mapped_column(String(20), comment="Price string")
    quality: Mapped[str | None] = mapped_column(String(10), comment="Quality (HD, 4K, SD)")
    url: Mapped[str | None] = mapped_column(String(500), comment="Direct URL")
    verified: Mapped[bool | None] = mapped_column(
        server_default=false(), comment="Verified availability"
    )

    movie: Mapped[Movie | None] = relationship(back_populates="streaming_options", lazy="raise")
    platform: Mapped[StreamingPlatform | None] = relationship(
        back_populates="options", lazy="raise"
    )

    def __repr__(self) -> str:
        return (
            f"MovieStreamingOption(id={self.id!r}, movie_id={self.movie_id!r}, "
            f"platform_id={self.platform_id!r}, region={self.region!r}, type={self.type!r})"
        )


Index("idx_streaming_movie_id", MovieStreamingOption.movie_id)
Index("idx_streaming_platform_id", MovieStreamingOption.platform_id)
Index("idx_streaming_region", MovieStreamingOption.region)
# Migration 0006: whether a movie has an option in a region, and its regions, from the index
# alone.
Index(
    "idx_streaming_movie_id_region",
    MovieStreamingOption.movie_id,
    MovieStreamingOption.region,
)
