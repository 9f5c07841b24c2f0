"""Awards and festivals: award bodies, their ceremonies and categories, nominations; festivals,
their editions and the movies each edition selected.

Designed here: the schema document names the section but has no page for it (DESIGN.md). The
tables follow the documented ones (integer ``id``, unique ``external_id``, ``created_at``
defaulting to now), with every closed value set a CHECK built from the tuples below.

What a deletion does: a ceremony, category or edition belongs to its body or festival and goes
with it (CASCADE), and its nominations or selections with it. A nomination or selection is a
fact about a movie or person of the catalogue, so the database refuses to delete a movie or
person that still has one (no ON DELETE action, as the documented tables reference movies).

Not expressible as a CHECK, and so a rule for whoever writes rows: a nomination's category and
ceremony belong to the same award body; a person category's nominations name a person; a
nominated movie was released before its ceremony.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from iwm_lab.models.base import Base
from iwm_lab.models.values import CREDIT_ROLES, REGION_PATTERN, sql_between, sql_in

if TYPE_CHECKING:
    from iwm_lab.models.catalog import Movie, Person

# award_bodies.body_type: who gives the award.
AWARD_BODY_TYPES: tuple[str, ...] = ("academy", "guild", "critics", "press", "audience")
# award_categories.subject: what a nomination in the category names first.
AWARD_SUBJECTS: tuple[str, ...] = ("movie", "person")
# festival_selections.section: the kind of section (its own name is section_name).
FESTIVAL_SECTIONS: tuple[str, ...] = (
    "competition",
    "out-of-competition",
    "sidebar",
    "special-screening",
    "retrospective",
)
# festival_selections.premiere: where the screening stands among the movie's screenings.
PREMIERE_TYPES: tuple[str, ...] = ("world", "international", "regional", "national")
# Inclusive range of the award, edition and founding years.
AWARD_YEAR_RANGE: tuple[int, int] = (1900, 2100)

_DESIGNED = "Designed here (not in the platform's schema document): "


class AwardBody(Base):
    __tablename__ = "award_bodies"
    __table_args__ = (
        CheckConstraint(sql_in("body_type", AWARD_BODY_TYPES), name="body_type"),
        CheckConstraint(f"country ~ '{REGION_PATTERN}'", name="country_format"),
        {
            "comment": _DESIGNED + "bodies that give film awards (academies, guilds, critics' "
            "and press associations, audience awards)."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    name: Mapped[str] = mapped_column(
        String(200), nullable=False, comment="Body name (e.g., Academy of Motion Picture Arts)"
    )
    short_name: Mapped[str | None] = mapped_column(
        String(50), comment="Name of its awards in short (e.g., Oscars, BAFTA)"
    )
    body_type: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        comment="Kind of body (academy, guild, critics, press, audience)",
    )
    country: Mapped[str | None] = mapped_column(
        String(10), comment="Country code (US, UK, FR, etc.; NULL for international bodies)"
    )
    website_url: Mapped[str | None] = mapped_column(String(255), comment="Website URL")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When added"
    )

    ceremonies: Mapped[list[AwardCeremony]] = relationship(
        back_populates="body", lazy="raise", passive_deletes=True
    )
    categories: Mapped[list[AwardCategory]] = relationship(
        back_populates="body", lazy="raise", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"AwardBody(id={self.id!r}, name={self.name!r})"


class AwardCeremony(Base):
    __tablename__ = "award_ceremonies"
    __table_args__ = (
        UniqueConstraint("award_body_id", "year"),
        CheckConstraint(sql_between("year", AWARD_YEAR_RANGE), name="year_range"),
        CheckConstraint("edition_number >= 1", name="edition_number_positive"),
        # The 96th Academy Awards (award year 2023) were held in March 2024.
        CheckConstraint(
            "EXTRACT(year FROM ceremony_date) BETWEEN year AND year + 1",
            name="held_in_award_year_or_next",
        ),
        {"comment": _DESIGNED + "award ceremonies: one per award body and award year."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    award_body_id: Mapped[int] = mapped_column(
        ForeignKey("award_bodies.id", ondelete="CASCADE"),
        nullable=False,
        comment="Award body holding the ceremony",
    )
    edition_number: Mapped[int | None] = mapped_column(
        Integer, comment="Ordinal of the ceremony (e.g., 96 for the 96th)"
    )
    year: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Award year: the calendar year of the films honoured"
    )
    ceremony_date: Mapped[date | None] = mapped_column(
        Date, comment="Date the ceremony was held (in the award year or the next)"
    )
    location: Mapped[str | None] = mapped_column(String(200), comment="Venue and city")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When added"
    )

    body: Mapped[AwardBody] = relationship(back_populates="ceremonies", lazy="raise")
    nominations: Mapped[list[AwardNomination]] = relationship(
        back_populates="ceremony", lazy="raise", passive_deletes=True
    )

    def __repr__(self) -> str:
        return (
            f"AwardCeremony(id={self.id!r}, award_body_id={self.award_body_id!r}, "
            f"year={self.year!r})"
        )


class AwardCategory(Base):
    __tablename__ = "award_categories"
    __table_args__ = (
        UniqueConstraint("award_body_id", "name"),
        CheckConstraint(sql_in("subject", AWARD_SUBJECTS), name="subject"),
        CheckConstraint(sql_in("credit_role", CREDIT_ROLES), name="credit_role"),
        {"comment": _DESIGNED + "the categories an award body gives awards in, across years."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    award_body_id: Mapped[int] = mapped_column(
        ForeignKey("award_bodies.id", ondelete="CASCADE"),
        nullable=False,
        comment="Award body giving the category",
    )
    name: Mapped[str] = mapped_column(
        String(200), nullable=False, comment="Category name (e.g., Best Picture)"
    )
    subject: Mapped[str] = mapped_column(
        String(10),
        nullable=False,
        comment="What a nomination names: the movie (movie) or a person for a movie (person)",
    )
    credit_role: Mapped[str | None] = mapped_column(
        String(20),
        comment="Credit role honoured (e.g., director for Best Director; NULL for movie "
        "categories)",
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When added"
    )

    body: Mapped[AwardBody] = relationship(back_populates="categories", lazy="raise")

    def __repr__(self) -> str:
        return f"AwardCategory(id={self.id!r}, name={self.name!r})"


class AwardNomination(Base):
    """A nomination in a category at a ceremony, of a movie, a person, or a person for a movie.

    The unique key treats NULLs as equal (NULLS NOT DISTINCT), so a movie cannot be nominated
    twice in the same category and ceremony, nor a person for the same movie.
    """

    __tablename__ = "award_nominations"
    __table_args__ = (
        UniqueConstraint(
            "ceremony_id",
            "category_id",
            "movie_id",
            "person_id",
            name="uq_award_nominations_nominee",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint("movie_id IS NOT NULL OR person_id IS NOT NULL", name="names_a_nominee"),
        {
            "comment": _DESIGNED + "nominations: a movie and/or a person nominated in a "
            "category at a ceremony, and whether it won."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(80), unique=True, comment="External identifier"
    )
    ceremony_id: Mapped[int] = mapped_column(
        ForeignKey("award_ceremonies.id", ondelete="CASCADE"), nullable=False, comment="Ceremony"
    )
    category_id: Mapped[int] = mapped_column(
        ForeignKey("award_categories.id", ondelete="CASCADE"),
        nullable=False,
        comment="Category (of the ceremony's award body)",
    )
    movie_id: Mapped[int | None] = mapped_column(
        ForeignKey("movies.id"),
        comment="Nominated movie, or the movie a person is nominated for",
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id"), comment="Nominated person (NULL in movie categories)"
    )
    won: Mapped[bool] = mapped_column(
        nullable=False, server_default=false(), comment="Whether the nomination won"
    )
    detail: Mapped[str | None] = mapped_column(
        String(300), comment="What the citation adds (e.g., the song's title, shared with)"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When added"
    )

    ceremony: Mapped[AwardCeremony] = relationship(back_populates="nominations", lazy="raise")
    category: Mapped[AwardCategory] = relationship(lazy="raise")
    movie: Mapped[Movie | None] = relationship(lazy="raise")
    person: Mapped[Person | None] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return (
            f"AwardNomination(id={self.id!r}, ceremony_id={self.ceremony_id!r}, "
            f"category_id={self.category_id!r}, movie_id={self.movie_id!r}, "
            f"person_id={self.person_id!r}, won={self.won!r})"
        )


# The unique key leads with (ceremony_id, category_id): it serves "nominations of a ceremony".
Index(
    "idx_award_nominations_movie_id",
    AwardNomination.movie_id,
    postgresql_where=AwardNomination.movie_id.is_not(None),
)
Index(
    "idx_award_nominations_person_id",
    AwardNomination.person_id,
    postgresql_where=AwardNomination.person_id.is_not(None),
)
Index("idx_award_nominations_category_id", AwardNomination.category_id)


class Festival(Base):
    __tablename__ = "festivals"
    __table_args__ = (
        CheckConstraint(f"country ~ '{REGION_PATTERN}'", name="country_format"),
        CheckConstraint(sql_between("founded_year", AWARD_YEAR_RANGE), name="founded_year_range"),
        {"comment": _DESIGNED + "film festivals."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    name: Mapped[str] = mapped_column(
        String(200), nullable=False, comment="Festival name (e.g., Cannes Film Festival)"
    )
    city: Mapped[str | None] = mapped_column(String(100), comment="City it is held in")
    country: Mapped[str | None] = mapped_column(
        String(10), comment="Country code (US, UK, FR, etc.)"
    )
    founded_year: Mapped[int | None] = mapped_column(Integer, comment="Year of the first edition")
    website_url: Mapped[str | None] = mapped_column(String(255), comment="Website URL")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When added"
    )

    editions: Mapped[list[FestivalEdition]] = relationship(
        back_populates="festival", lazy="raise", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Festival(id={self.id!r}, name={self.name!r})"


class FestivalEdition(Base):
    __tablename__ = "festival_editions"
    __table_args__ = (
        UniqueConstraint("festival_id", "year"),
        CheckConstraint(sql_between("year", AWARD_YEAR_RANGE), name="year_range"),
        CheckConstraint("edition_number >= 1", name="edition_number_positive"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        CheckConstraint("EXTRACT(year FROM starts_on) = year", name="starts_in_year"),
        {"comment": _DESIGNED + "a festival's yearly editions and their dates."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    festival_id: Mapped[int] = mapped_column(
        ForeignKey("festivals.id", ondelete="CASCADE"), nullable=False, comment="Festival"
    )
    year: Mapped[int] = mapped_column(Integer, nullable=False, comment="Year of the edition")
    edition_number: Mapped[int | None] = mapped_column(
        Integer, comment="Ordinal of the edition (e.g., 77 for the 77th)"
    )
    starts_on: Mapped[date] = mapped_column(Date, nullable=False, comment="Opening day")
    ends_on: Mapped[date] = mapped_column(Date, nullable=False, comment="Closing day")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When added"
    )

    festival: Mapped[Festival] = relationship(back_populates="editions", lazy="raise")
    selections: Mapped[list[FestivalSelection]] = relationship(
        back_populates="edition", lazy="raise", passive_deletes=True
    )

    def __repr__(self) -> str:
        return (
            f"FestivalEdition(id={self.id!r}, festival_id={self.festival_id!r}, year={self.year!r})"
        )


class FestivalSelection(Base):
    __tablename__ = "festival_selections"
    __table_args__ = (
        UniqueConstraint("edition_id", "movie_id"),
        CheckConstraint(sql_in("section", FESTIVAL_SECTIONS), name="section"),
        CheckConstraint(sql_in("premiere", PREMIERE_TYPES), name="premiere"),
        {
            "comment": _DESIGNED + "movies selected by a festival edition: the section, the "
            "premiere and any prize won."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(80), unique=True, comment="External identifier"
    )
    edition_id: Mapped[int] = mapped_column(
        ForeignKey("festival_editions.id", ondelete="CASCADE"),
        nullable=False,
        comment="Festival edition",
    )
    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id"), nullable=False, comment="Selected movie"
    )
    section: Mapped[str] = mapped_column(
        String(30),
        nullable=False,
        comment="Kind of section (competition, out-of-competition, sidebar, special-screening, "
        "retrospective)",
    )
    section_name: Mapped[str | None] = mapped_column(
        String(100), comment="Section as the festival names it (e.g., Un Certain Regard)"
    )
    premiere: Mapped[str | None] = mapped_column(
        String(20),
        comment="Premiere status of the screening (world, international, regional, national)",
    )
    prize: Mapped[str | None] = mapped_column(
        String(200), comment="Prize won at the edition (e.g., Palme d'Or; NULL when none)"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When added"
    )

    edition: Mapped[FestivalEdition] = relationship(back_populates="selections", lazy="raise")
    movie: Mapped[Movie] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return (
            f"FestivalSelection(id={self.id!r}, edition_id={self.edition_id!r}, "
            f"movie_id={self.movie_id!r}, section={self.section!r})"
        )


# The unique key leads with edition_id; this serves "festival selections of a movie".
Index("idx_festival_selections_movie_id", FestivalSelection.movie_id)
