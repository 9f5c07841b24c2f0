"""Talent hub: talent profiles (of a person of the catalogue, a user, or both), casting calls and
the applications to them.

Designed here: the schema document names the section but has no page for it (DESIGN.md).
Roles are the credit roles of ``movie_people`` (``iwm_lab.models.values.CREDIT_ROLES``).

What a deletion does: a profile is the person's or the user's own and goes with either
(CASCADE), and its applications with it; a casting call outlives its poster's account and the
catalogue movie it casts for (both become NULL); applications go with their call.

Not expressible as a CHECK, and so a rule for whoever writes rows: an application is made while
its call is open (created between the call's created_at and deadline).
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
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from iwm_lab.models.base import Base
from iwm_lab.models.values import CREDIT_ROLES, REGION_PATTERN, sql_in

if TYPE_CHECKING:
    from iwm_lab.models.catalog import Movie, Person
    from iwm_lab.models.users import User

CASTING_CALL_STATUSES: tuple[str, ...] = ("draft", "open", "closed", "filled", "cancelled")
# casting_applications.status, in the order an application moves through them; "withdrawn"
# is the applicant's doing, "rejected" the caster's.
APPLICATION_STATUSES: tuple[str, ...] = (
    "submitted",
    "shortlisted",
    "auditioned",
    "offered",
    "accepted",
    "rejected",
    "withdrawn",
)

_DESIGNED = "Designed here (not in the platform's schema document): "


class TalentProfile(Base):
    __tablename__ = "talent_profiles"
    __table_args__ = (
        UniqueConstraint("person_id"),
        UniqueConstraint("user_id"),
        CheckConstraint("person_id IS NOT NULL OR user_id IS NOT NULL", name="person_or_user"),
        CheckConstraint(sql_in("primary_role", CREDIT_ROLES), name="primary_role"),
        CheckConstraint(f"region ~ '{REGION_PATTERN}'", name="region_format"),
        CheckConstraint("updated_at >= created_at", name="updated_after_created"),
        {
            "comment": _DESIGNED + "talent profiles: a person of the catalogue, a user, or a "
            "user who is that person, offering their work."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"),
        comment="Person of the catalogue it presents (NULL for talent not credited yet)",
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        comment="User who owns it (NULL for an unclaimed profile of a person)",
    )
    display_name: Mapped[str] = mapped_column(String(100), nullable=False, comment="Name shown")
    headline: Mapped[str | None] = mapped_column(
        String(200), comment="One-line pitch (e.g., Stage and screen actor, London)"
    )
    bio: Mapped[str | None] = mapped_column(Text, comment="Biography")
    primary_role: Mapped[str | None] = mapped_column(
        String(20),
        comment="Main role (actor, director, writer, producer, composer, cinematographer, editor)",
    )
    region: Mapped[str | None] = mapped_column(
        String(10), comment="Region they work in (US, UK, IN, etc.)"
    )
    is_verified: Mapped[bool] = mapped_column(
        nullable=False, server_default=false(), comment="Identity verified by the platform"
    )
    open_to_work: Mapped[bool] = mapped_column(
        nullable=False, server_default=true(), comment="Open to casting calls and offers"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="Creation date"
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Last update"
    )

    person: Mapped[Person | None] = relationship(lazy="raise")
    user: Mapped[User | None] = relationship(lazy="raise")
    applications: Mapped[list[CastingApplication]] = relationship(
        back_populates="profile", lazy="raise", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"TalentProfile(id={self.id!r}, display_name={self.display_name!r})"


class CastingCall(Base):
    __tablename__ = "casting_calls"
    __table_args__ = (
        CheckConstraint(sql_in("role", CREDIT_ROLES), name="role"),
        CheckConstraint(sql_in("status", CASTING_CALL_STATUSES), name="status"),
        CheckConstraint(f"region ~ '{REGION_PATTERN}'", name="region_format"),
        CheckConstraint("deadline >= created_at", name="deadline_after_created"),
        CheckConstraint("updated_at >= created_at", name="updated_after_created"),
        {
            "comment": _DESIGNED
            + "casting calls: a role sought for a project, open until a deadline."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    title: Mapped[str] = mapped_column(String(200), nullable=False, comment="Call title")
    description: Mapped[str | None] = mapped_column(Text, comment="What the role involves")
    project_title: Mapped[str | None] = mapped_column(
        String(200), comment="Project as the poster names it"
    )
    movie_id: Mapped[int | None] = mapped_column(
        ForeignKey("movies.id", ondelete="SET NULL"),
        comment="Movie of the catalogue it casts for (NULL for projects not in it)",
    )
    posted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="User who posted it (NULL once their account is deleted)",
    )
    role: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        comment="Role sought (actor, director, writer, producer, composer, cinematographer, "
        "editor)",
    )
    character_name: Mapped[str | None] = mapped_column(
        String(200), comment="Character to play (actors only)"
    )
    region: Mapped[str | None] = mapped_column(
        String(10), comment="Region of the work (US, UK, IN, etc.)"
    )
    is_paid: Mapped[bool | None] = mapped_column(comment="Whether the work is paid")
    status: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        server_default=text("'open'"),
        comment="Status (draft, open, closed, filled, cancelled)",
    )
    deadline: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Last moment to apply (NULL: until closed)"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When posted"
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Last update"
    )

    movie: Mapped[Movie | None] = relationship(lazy="raise")
    posted_by: Mapped[User | None] = relationship(lazy="raise")
    applications: Mapped[list[CastingApplication]] = relationship(
        back_populates="call", lazy="raise", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"CastingCall(id={self.id!r}, title={self.title!r}, status={self.status!r})"


Index("idx_casting_calls_status", CastingCall.status, CastingCall.deadline)
Index(
    "idx_casting_calls_movie_id",
    CastingCall.movie_id,
    postgresql_where=CastingCall.movie_id.is_not(None),
)


class CastingApplication(Base):
    __tablename__ = "casting_applications"
    __table_args__ = (
        UniqueConstraint("casting_call_id", "talent_profile_id"),
        CheckConstraint(sql_in("status", APPLICATION_STATUSES), name="status"),
        CheckConstraint("updated_at >= created_at", name="updated_after_created"),
        {
            "comment": _DESIGNED + "applications of talent profiles to casting calls, with "
            "their status."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(80), unique=True, comment="External identifier"
    )
    casting_call_id: Mapped[int] = mapped_column(
        ForeignKey("casting_calls.id", ondelete="CASCADE"), nullable=False, comment="Casting call"
    )
    talent_profile_id: Mapped[int] = mapped_column(
        ForeignKey("talent_profiles.id", ondelete="CASCADE"),
        nullable=False,
        comment="Applicant's talent profile",
    )
    status: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        server_default=text("'submitted'"),
        comment="Status (submitted, shortlisted, auditioned, offered, accepted, rejected, "
        "withdrawn)",
    )
    cover_note: Mapped[str | None] = mapped_column(Text, comment="Applicant's note to the caster")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When applied"
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Last status change"
    )

    call: Mapped[CastingCall] = relationship(back_populates="applications", lazy="raise")
    profile: Mapped[TalentProfile] = relationship(back_populates="applications", lazy="raise")

    def __repr__(self) -> str:
        return (
            f"CastingApplication(id={self.id!r}, casting_call_id={self.casting_call_id!r}, "
            f"talent_profile_id={self.talent_profile_id!r}, status={self.status!r})"
        )


# The unique key leads with casting_call_id; this serves "a profile's applications".
Index("idx_casting_applications_talent_profile_id", CastingApplication.talent_profile_id)
