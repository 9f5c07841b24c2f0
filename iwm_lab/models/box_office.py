"""Box office: what each movie grossed, per region and week of its theatrical run.

Designed here: the schema document names the section but has no page for it (DESIGN.md). One
row per movie, region and week of release holds both the weekend (the chart's figures: rank,
weekend gross, theaters) and the whole week from that weekend's first day, so that

* a weekend's rank race is the rows of one region and ``weekend_start``, by ``rank``;
* a movie's run in a region is its rows by ``week_of_run``, and the run's total the sum of
  ``week_gross``; legs are that total over the opening (week 1) weekend gross.

Money is BIGINT in whole units of the row's ``currency`` (ISO 4217), as ``movies.budget`` and
``movies.revenue`` are BIGINT dollars: a blockbuster's weekend passes 2,147,483,647 in some
currencies. Figures in different currencies are never to be added up without a rate.

A row is a fact about a movie of the catalogue: the database refuses to delete a movie that
has grosses (no ON DELETE action, as the documented tables reference movies).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from iwm_lab.models.base import Base
from iwm_lab.models.values import REGION_PATTERN

if TYPE_CHECKING:
    from iwm_lab.models.catalog import Movie

# Three upper-case letters: the shape of an ISO 4217 code. A format check rather than a list,
# as for regions, so a new market's currency needs no migration.
CURRENCY_PATTERN = "^[A-Z]{3}$"
# box_office_grosses.currency when a row does not say.
DEFAULT_CURRENCY = "USD"


class BoxOfficeGross(Base):
    __tablename__ = "box_office_grosses"
    __table_args__ = (
        UniqueConstraint("movie_id", "region", "weekend_start"),
        CheckConstraint(f"region ~ '{REGION_PATTERN}'", name="region_format"),
        CheckConstraint(f"currency ~ '{CURRENCY_PATTERN}'", name="currency_format"),
        CheckConstraint("week_of_run >= 1", name="week_of_run_positive"),
        CheckConstraint("rank >= 1", name="rank_positive"),
        CheckConstraint("theaters >= 1", name="theaters_positive"),
        CheckConstraint("weekend_gross >= 0", name="weekend_gross_not_negative"),
        # The week includes its weekend.
        CheckConstraint("week_gross >= weekend_gross", name="week_includes_weekend"),
        CheckConstraint("updated_at >= created_at", name="updated_after_created"),
        {
            "comment": "Designed here (not in the platform's schema document): box office "
            "per movie, region and week of its run: the weekend's rank, gross and theaters, "
            "and the whole week's gross."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(80), unique=True, comment="External identifier"
    )
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id"), nullable=False, comment="Movie")
    region: Mapped[str] = mapped_column(
        String(10), nullable=False, comment="Market (region code: US, UK, IN, etc.)"
    )
    weekend_start: Mapped[date] = mapped_column(
        Date,
        nullable=False,
        comment="First day of the weekend (a Friday in most markets); the week runs 7 days from it",
    )
    week_of_run: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Week of the run in the region (1 is the opening week)"
    )
    rank: Mapped[int | None] = mapped_column(
        Integer, comment="Rank in the region's weekend chart (1 is the top; NULL when unranked)"
    )
    weekend_gross: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="Weekend gross, in whole units of currency"
    )
    week_gross: Mapped[int | None] = mapped_column(
        BigInteger,
        comment="Gross of the 7 days from weekend_start, weekend included (NULL until the week "
        "is over)",
    )
    theaters: Mapped[int | None] = mapped_column(
        Integer, comment="Theaters showing the movie that weekend"
    )
    currency: Mapped[str] = mapped_column(
        String(3),
        nullable=False,
        server_default=text(f"'{DEFAULT_CURRENCY}'"),
        comment="Currency of the grosses (ISO 4217 code, e.g., USD)",
    )
    distributor: Mapped[str | None] = mapped_column(
        String(100), comment="Distributor in the region"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When added"
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Last revision of the figures (estimates to actuals)"
    )

    movie: Mapped[Movie] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return (
            f"BoxOfficeGross(id={self.id!r}, movie_id={self.movie_id!r}, "
            f"region={self.region!r}, weekend_start={self.weekend_start!r})"
        )


# The unique key (movie_id, region, weekend_start) serves "a movie's run"; this one serves the
# weekend rank races: one region's chart for one weekend, in rank order.
Index(
    "idx_box_office_grosses_chart",
    BoxOfficeGross.region,
    BoxOfficeGross.weekend_start,
    BoxOfficeGross.rank,
)

# Migration 0010. Whole-table aggregations read these instead of the wide rows, in the order
# they group by (queries.box_office): the regional split's runs per region, currency and
# movie, and a movie's gross per currency for the budget multiples.
Index(
    "idx_box_office_grosses_runs",
    BoxOfficeGross.region,
    BoxOfficeGross.currency,
    BoxOfficeGross.movie_id,
    postgresql_include=["weekend_start", "week_gross", "weekend_gross"],
)
Index(
    "idx_box_office_grosses_currency_movie",
    BoxOfficeGross.currency,
    BoxOfficeGross.movie_id,
    postgresql_include=["week_gross"],
)
