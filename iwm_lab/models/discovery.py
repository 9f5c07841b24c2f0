"""Content discovery: editors' curated lists, the featured rails of the apps' pages with their
movies, and the "because you watched" similarity edges between movies.

Designed here: the schema document names the section but has no page for it (DESIGN.md).
Lists and rails are entities in the documented tables' style (integer ``id``, unique
``external_id``, ``created_at``/``updated_at``); their movies and the similarity edges are link
rows keyed by both ends, like ``collection_movies``, and go with either end (CASCADE). A list
outlives its editor's account (``curator_id`` becomes NULL), a rail the list it showed
(``curated_list_id`` becomes NULL).
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
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from iwm_lab.models.base import Base
from iwm_lab.models.values import REGION_PATTERN, sql_between, sql_in

if TYPE_CHECKING:
    from iwm_lab.models.catalog import Movie
    from iwm_lab.models.users import User

# curated_lists.list_type: what the list gathers.
CURATED_LIST_TYPES: tuple[str, ...] = ("editorial", "awards", "festival", "seasonal", "genre")
# featured_rails.placement: the page a rail is shown on.
RAIL_PLACEMENTS: tuple[str, ...] = ("home", "browse", "streaming", "awards", "search")
# featured_rails.source: how a rail's movies are chosen.
RAIL_SOURCES: tuple[str, ...] = (
    "editorial",
    "curated-list",
    "trending",
    "new-releases",
    "because-you-watched",
)
# movie_similarities.method: how an edge's score was computed.
SIMILARITY_METHODS: tuple[str, ...] = ("co-watch", "co-rating", "content", "editorial")
# movie_similarities.score: inclusive range.
SIMILARITY_RANGE: tuple[int, int] = (0, 1)

_DESIGNED = "Designed here (not in the platform's schema document): "


class CuratedList(Base):
    __tablename__ = "curated_lists"
    __table_args__ = (
        CheckConstraint(sql_in("list_type", CURATED_LIST_TYPES), name="list_type"),
        CheckConstraint("NOT is_published OR published_at IS NOT NULL", name="published_dated"),
        CheckConstraint("updated_at >= created_at", name="updated_after_created"),
        {"comment": _DESIGNED + "lists of movies curated by the platform's editors."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    slug: Mapped[str | None] = mapped_column(String(100), unique=True, comment="URL-friendly slug")
    title: Mapped[str] = mapped_column(String(200), nullable=False, comment="List title")
    description: Mapped[str | None] = mapped_column(Text, comment="List description")
    list_type: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        comment="What it gathers (editorial, awards, festival, seasonal, genre)",
    )
    curator_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="Editor who curates it (NULL once their account is deleted)",
    )
    is_published: Mapped[bool] = mapped_column(
        nullable=False, server_default=false(), comment="Visible to users"
    )
    published_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="When first published"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="Creation date"
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Last update"
    )

    curator: Mapped[User | None] = relationship(lazy="raise")
    entries: Mapped[list[CuratedListMovie]] = relationship(
        back_populates="curated_list",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="CuratedListMovie.position",
    )

    def __repr__(self) -> str:
        return f"CuratedList(id={self.id!r}, title={self.title!r})"


Index(
    "idx_curated_lists_published_at",
    CuratedList.published_at.desc(),
    postgresql_where=CuratedList.is_published == true(),
)


class CuratedListMovie(Base):
    __tablename__ = "curated_list_movies"
    __table_args__ = (
        CheckConstraint("position >= 1", name="position_positive"),
        {"comment": _DESIGNED + "movies of each curated list, in order."},
    )

    curated_list_id: Mapped[int] = mapped_column(
        ForeignKey("curated_lists.id", ondelete="CASCADE"), primary_key=True, comment="List"
    )
    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True, comment="Movie"
    )
    # Not unique per list, as in collection_movies: reordering would need deferred keys.
    position: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Position in the list (1 is first; order by position)"
    )
    note: Mapped[str | None] = mapped_column(Text, comment="Editor's note on the movie")
    added_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When added"
    )

    curated_list: Mapped[CuratedList] = relationship(back_populates="entries", lazy="raise")
    movie: Mapped[Movie] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return (
            f"CuratedListMovie(curated_list_id={self.curated_list_id!r}, "
            f"movie_id={self.movie_id!r}, position={self.position!r})"
        )


# The composite PK leads with curated_list_id; this serves "lists featuring a movie".
Index("idx_curated_list_movies_movie_id", CuratedListMovie.movie_id)


class FeaturedRail(Base):
    __tablename__ = "featured_rails"
    __table_args__ = (
        CheckConstraint(sql_in("placement", RAIL_PLACEMENTS), name="placement"),
        CheckConstraint(sql_in("source", RAIL_SOURCES), name="source"),
        CheckConstraint(f"region ~ '{REGION_PATTERN}'", name="region_format"),
        CheckConstraint("position >= 1", name="position_positive"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("updated_at >= created_at", name="updated_after_created"),
        {
            "comment": _DESIGNED + "featured rails: rows of movies shown on an app page, in a "
            "region, for a time."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    title: Mapped[str] = mapped_column(
        String(200), nullable=False, comment="Heading shown above the rail"
    )
    placement: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        comment="Page it is shown on (home, browse, streaming, awards, search)",
    )
    region: Mapped[str | None] = mapped_column(
        String(10), comment="Region it is shown in (US, UK, IN, etc.; NULL for every region)"
    )
    position: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Position on its page (1 is the top)"
    )
    source: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        comment="How its movies are chosen (editorial, curated-list, trending, new-releases, "
        "because-you-watched)",
    )
    curated_list_id: Mapped[int | None] = mapped_column(
        ForeignKey("curated_lists.id", ondelete="SET NULL"),
        comment="Curated list it shows (source curated-list)",
    )
    starts_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False),
        nullable=False,
        server_default=func.now(),
        comment="When it starts being shown",
    )
    ends_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="When it stops being shown (NULL: until taken down)"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="Creation date"
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Last update"
    )

    curated_list: Mapped[CuratedList | None] = relationship(lazy="raise")
    entries: Mapped[list[FeaturedRailMovie]] = relationship(
        back_populates="rail",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="FeaturedRailMovie.position",
    )

    def __repr__(self) -> str:
        return f"FeaturedRail(id={self.id!r}, title={self.title!r}, placement={self.placement!r})"


# "The rails of a page, as shown at a time": by placement and start.
Index("idx_featured_rails_placement", FeaturedRail.placement, FeaturedRail.starts_at)


class FeaturedRailMovie(Base):
    __tablename__ = "featured_rail_movies"
    __table_args__ = (
        CheckConstraint("position >= 1", name="position_positive"),
        {"comment": _DESIGNED + "movies of each featured rail, in order."},
    )

    rail_id: Mapped[int] = mapped_column(
        ForeignKey("featured_rails.id", ondelete="CASCADE"), primary_key=True, comment="Rail"
    )
    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True, comment="Movie"
    )
    position: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Position in the rail (1 is first; order by position)"
    )
    added_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When added"
    )

    rail: Mapped[FeaturedRail] = relationship(back_populates="entries", lazy="raise")
    movie: Mapped[Movie] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return (
            f"FeaturedRailMovie(rail_id={self.rail_id!r}, movie_id={self.movie_id!r}, "
            f"position={self.position!r})"
        )


Index("idx_featured_rail_movies_movie_id", FeaturedRailMovie.movie_id)


class MovieSimilarity(Base):
    """A directed "because you watched" edge: people who watched ``movie_id`` are shown
    ``similar_movie_id``. The reverse edge is a row of its own, with its own score."""

    __tablename__ = "movie_similarities"
    __table_args__ = (
        CheckConstraint("movie_id <> similar_movie_id", name="not_self"),
        CheckConstraint(sql_between("score", SIMILARITY_RANGE), name="score_range"),
        CheckConstraint(sql_in("method", SIMILARITY_METHODS), name="method"),
        {
            "comment": _DESIGNED + '"because you watched" edges: a movie, a movie to suggest '
            "after it, and how similar they are."
        },
    )

    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True, comment="Movie watched"
    )
    similar_movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"),
        primary_key=True,
        comment="Movie suggested after it",
    )
    score: Mapped[float] = mapped_column(
        Float, nullable=False, comment="Similarity (0-1; higher is more similar)"
    )
    method: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        comment="How the score was computed (co-watch, co-rating, content, editorial)",
    )
    computed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When computed"
    )

    movie: Mapped[Movie] = relationship(foreign_keys=[movie_id], lazy="raise")
    similar_movie: Mapped[Movie] = relationship(foreign_keys=[similar_movie_id], lazy="raise")

    def __repr__(self) -> str:
        return (
            f"MovieSimilarity(movie_id={self.movie_id!r}, "
            f"similar_movie_id={self.similar_movie_id!r}, score={self.score!r})"
        )


# "Because you watched X": X's edges, best first.
Index("idx_movie_similarities_top", MovieSimilarity.movie_id, MovieSimilarity.score.desc())
# The other end, for the cascade when a suggested movie is deleted.
Index("idx_movie_similarities_similar_movie_id", MovieSimilarity.similar_movie_id)
