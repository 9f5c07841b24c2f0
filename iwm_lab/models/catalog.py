"""The film catalogue: movies, genres, people, scenes and the tables that link them.

Constraints live in ``__table_args__``; indexes follow each class, named and shaped exactly as
the seed's ``Indexes`` blocks (they reference the mapped attributes, so ``DESC`` and partial
predicates bind to the real columns).

Relationships load with ``lazy="raise"``: an analyst who touches ``movie.genres`` without an
explicit ``selectinload`` gets an error instead of one query per row.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from iwm_lab.models.base import Base
from iwm_lab.models.values import (
    CREDIT_ROLES,
    MOVIE_STATUSES,
    PERCENT_RANGE,
    SCORE_RANGE,
    sql_between,
    sql_in,
)

if TYPE_CHECKING:
    from iwm_lab.models.streaming import MovieStreamingOption
    from iwm_lab.models.users import Review


class Movie(Base):
    __tablename__ = "movies"
    __table_args__ = (
        CheckConstraint(sql_between("siddu_score", SCORE_RANGE), name="siddu_score_range"),
        CheckConstraint(sql_between("critics_score", SCORE_RANGE), name="critics_score_range"),
        CheckConstraint(sql_between("imdb_rating", SCORE_RANGE), name="imdb_rating_range"),
        CheckConstraint(
            sql_between("rotten_tomatoes_score", PERCENT_RANGE),
            name="rotten_tomatoes_score_range",
        ),
        CheckConstraint(sql_in("status", MOVIE_STATUSES), name="status"),
        {"comment": "Primary table for all movie data."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier (e.g., tmdb_12345)"
    )
    title: Mapped[str] = mapped_column(String(200), nullable=False, comment="Movie title")
    tagline: Mapped[str | None] = mapped_column(String(500), comment="Movie tagline")
    year: Mapped[str | None] = mapped_column(String(4), comment="Release year")
    release_date: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Exact release date"
    )
    runtime: Mapped[int | None] = mapped_column(Integer, comment="Runtime in minutes")
    siddu_score: Mapped[float | None] = mapped_column(Float, comment="Platform rating (0-10)")
    critics_score: Mapped[float | None] = mapped_column(Float, comment="Critics rating")
    imdb_rating: Mapped[float | None] = mapped_column(Float, comment="IMDB rating")
    rotten_tomatoes_score: Mapped[int | None] = mapped_column(Integer, comment="RT score (0-100)")
    rating: Mapped[str | None] = mapped_column(
        String(10), comment="Content rating (PG-13, R, etc.)"
    )
    language: Mapped[str | None] = mapped_column(String(50), comment="Primary language")
    country: Mapped[str | None] = mapped_column(String(50), comment="Country of origin")
    overview: Mapped[str | None] = mapped_column(Text, comment="Plot synopsis")
    poster_url: Mapped[str | None] = mapped_column(String(255), comment="Poster image URL")
    backdrop_url: Mapped[str | None] = mapped_column(String(255), comment="Backdrop image URL")
    # BIGINT, not the seed's INTEGER: worldwide grosses pass 2,147,483,647 (DESIGN.md).
    budget: Mapped[int | None] = mapped_column(BigInteger, comment="Production budget (USD)")
    revenue: Mapped[int | None] = mapped_column(BigInteger, comment="Box office revenue (USD)")
    status: Mapped[str | None] = mapped_column(
        String(20),
        server_default=text("'released'"),
        comment="Status (released, upcoming, in-production)",
    )
    trivia: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSONB, comment="Array of trivia objects"
    )
    timeline: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSONB, comment="Array of timeline events"
    )

    genres: Mapped[list[Genre]] = relationship(
        secondary="movie_genres",
        back_populates="movies",
        lazy="raise",
        passive_deletes=True,
    )
    credits: Mapped[list[MoviePerson]] = relationship(
        back_populates="movie", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )
    # passive_deletes="all": the database refuses to delete a movie that still has scenes or
    # reviews (plain FKs); the ORM must not "help" by nulling their movie_id first.
    scenes: Mapped[list[Scene]] = relationship(
        back_populates="movie", lazy="raise", passive_deletes="all"
    )
    reviews: Mapped[list[Review]] = relationship(
        back_populates="movie", lazy="raise", passive_deletes="all"
    )
    streaming_options: Mapped[list[MovieStreamingOption]] = relationship(
        back_populates="movie", lazy="raise", passive_deletes="all"
    )

    def __repr__(self) -> str:
        return f"Movie(id={self.id!r}, title={self.title!r}, year={self.year!r})"


Index("idx_movies_external_id", Movie.external_id)
Index(
    "idx_movies_title_trgm",
    Movie.title,
    postgresql_using="gin",
    postgresql_ops={"title": "gin_trgm_ops"},
)
Index("idx_movies_year", Movie.year)
Index(
    "idx_movies_siddu_score",
    Movie.siddu_score.desc(),
    postgresql_where=Movie.siddu_score.is_not(None),
)
Index("idx_movies_status", Movie.status)
Index("idx_movies_trivia_gin", Movie.trivia, postgresql_using="gin")
Index("idx_movies_timeline_gin", Movie.timeline, postgresql_using="gin")
# Migration 0006. GiST returns titles nearest first (ORDER BY title <-> :title), so a title
# search stops after the best few instead of scoring every title sharing a trigram.
Index(
    "idx_movies_title_gist",
    Movie.title,
    postgresql_using="gist",
    postgresql_ops={"title": "gist_trgm_ops"},
)
# The released movies' ids and platform scores, read from the index alone rather than from
# movies' wide rows.
Index(
    "idx_movies_released_scores",
    Movie.id,
    postgresql_include=["siddu_score", "critics_score", "imdb_rating", "rotten_tomatoes_score"],
    postgresql_where=Movie.status == "released",
)
# Migration 0007. The data's freshness reads the latest release date: max() from this index
# instead of every movie's wide row.
Index("idx_movies_release_date", Movie.release_date)
# Migration 0008. The movies with a budget, with their revenue: the box office's budget
# multiples read them from the index alone.
Index(
    "idx_movies_budgeted",
    Movie.id,
    postgresql_include=["budget", "revenue"],
    postgresql_where=Movie.budget > 0,
)


class Genre(Base):
    __tablename__ = "genres"
    __table_args__ = ({"comment": "Movie genres taxonomy."},)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    slug: Mapped[str | None] = mapped_column(String(50), unique=True, comment="URL-friendly slug")
    name: Mapped[str] = mapped_column(String(100), nullable=False, comment="Genre name")

    movies: Mapped[list[Movie]] = relationship(
        secondary="movie_genres",
        back_populates="genres",
        lazy="raise",
        passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"Genre(id={self.id!r}, slug={self.slug!r})"


Index("idx_genres_slug", Genre.slug)


class Person(Base):
    __tablename__ = "people"
    __table_args__ = ({"comment": "Actors, directors, writers, producers."},)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False, comment="Person's name")
    bio: Mapped[str | None] = mapped_column(Text, comment="Biography")
    image_url: Mapped[str | None] = mapped_column(String(255), comment="Profile image URL")

    credits: Mapped[list[MoviePerson]] = relationship(
        back_populates="person", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Person(id={self.id!r}, name={self.name!r})"


Index("idx_people_external_id", Person.external_id)
Index(
    "idx_people_name_trgm",
    Person.name,
    postgresql_using="gin",
    postgresql_ops={"name": "gin_trgm_ops"},
)


class Scene(Base):
    __tablename__ = "scenes"
    __table_args__ = ({"comment": "Individual movie scenes for Scene Explorer feature."},)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    title: Mapped[str] = mapped_column(String(200), nullable=False, comment="Scene title")
    description: Mapped[str | None] = mapped_column(Text, comment="Scene description")
    thumbnail_url: Mapped[str | None] = mapped_column(String(255), comment="Thumbnail image")
    duration_str: Mapped[str | None] = mapped_column(
        String(20), comment='Duration string (e.g., "2:30")'
    )
    duration_seconds: Mapped[int | None] = mapped_column(Integer, comment="Duration in seconds")
    scene_type: Mapped[str | None] = mapped_column(String(50), comment="Type of scene")
    director: Mapped[str | None] = mapped_column(String(100), comment="Director name")
    cinematographer: Mapped[str | None] = mapped_column(String(100), comment="Cinematographer name")
    view_count: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Number of views"
    )
    comment_count: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Number of comments"
    )
    is_popular: Mapped[bool | None] = mapped_column(server_default=false(), comment="Popular flag")
    is_visual_treat: Mapped[bool | None] = mapped_column(
        server_default=false(), comment="Visual treat flag"
    )
    added_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), server_default=func.now(), comment="When added"
    )
    movie_id: Mapped[int | None] = mapped_column(
        ForeignKey("movies.id"), comment="Associated movie"
    )

    movie: Mapped[Movie | None] = relationship(back_populates="scenes", lazy="raise")

    def __repr__(self) -> str:
        return f"Scene(id={self.id!r}, title={self.title!r}, movie_id={self.movie_id!r})"


Index("idx_scenes_movie_id", Scene.movie_id)
Index("idx_scenes_is_popular", Scene.is_popular, postgresql_where=Scene.is_popular == true())
Index(
    "idx_scenes_is_visual_treat",
    Scene.is_visual_treat,
    postgresql_where=Scene.is_visual_treat == true(),
)
Index("idx_scenes_added_at", Scene.added_at.desc())


class MovieGenre(Base):
    """movie ↔ genre (designed here: the seed names association tables but omits the page)."""

    __tablename__ = "movie_genres"
    __table_args__ = ({"comment": "Genres of each movie: one row per movie and genre."},)
    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True, comment="Movie"
    )
    genre_id: Mapped[int] = mapped_column(
        ForeignKey("genres.id", ondelete="CASCADE"), primary_key=True, comment="Genre"
    )

    def __repr__(self) -> str:
        return f"MovieGenre(movie_id={self.movie_id!r}, genre_id={self.genre_id!r})"


# The composite PK leads with movie_id; this serves "movies of a genre".
Index("idx_movie_genres_genre_id", MovieGenre.genre_id)


class MoviePerson(Base):
    """A credit: a person's role in a movie (designed here, like movie_genres).

    An actor playing two characters has two rows; crew rows have no character_name. The unique
    key treats NULLs as equal (PostgreSQL 15+ NULLS NOT DISTINCT), so a person cannot be
    credited twice as the director of the same movie.
    """

    __tablename__ = "movie_people"
    __table_args__ = (
        UniqueConstraint(
            "movie_id",
            "person_id",
            "role",
            "character_name",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint(sql_in("role", CREDIT_ROLES), name="role"),
        {
            "comment": "Credits: a person's role in a movie; an actor playing two characters "
            "has two rows."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), nullable=False, comment="Movie"
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), nullable=False, comment="Credited person"
    )
    role: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        comment="Role (actor, director, writer, producer, composer, cinematographer, editor)",
    )
    character_name: Mapped[str | None] = mapped_column(
        String(200), comment="Character played (actors only)"
    )
    billing_order: Mapped[int | None] = mapped_column(
        Integer, comment="Position in the cast list (actors only; 1 is top billing)"
    )

    movie: Mapped[Movie] = relationship(back_populates="credits", lazy="raise")
    person: Mapped[Person] = relationship(back_populates="credits", lazy="raise")

    def __repr__(self) -> str:
        return (
            f"MoviePerson(movie_id={self.movie_id!r}, person_id={self.person_id!r}, "
            f"role={self.role!r}, character_name={self.character_name!r})"
        )


# The unique key leads with movie_id; this serves "filmography of a person".
Index("idx_movie_people_person_id", MoviePerson.person_id)
