"""Admin and moderation: content reports, the moderators' actions on them, staff roles, bans,
and the audit log.

Designed here: the schema document names the section but has no page for it (DESIGN.md).
A report names its target by type and id (a review, a pulse, a user...), not by a foreign key:
the target may be any of several tables, and the report must outlive a removed target.

What a deletion does: a record of what someone did (a report, an action, a grant, a ban, an
audit entry) outlives that someone's account, whose column becomes NULL; a user's roles and
bans go with the user (CASCADE).

Not expressible as a CHECK, and so rules for whoever writes rows: a report's actions come
after it (``moderation_actions.created_at >= content_reports.created_at``) and name its
target; a resolved report was resolved at its last action; a ban starts at or after the
action that imposed it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from iwm_lab.models.base import Base
from iwm_lab.models.values import sql_in

if TYPE_CHECKING:
    from iwm_lab.models.users import User

# What a content report (and an action) can be about: the user-made content of the schema.
REPORT_TARGET_TYPES: tuple[str, ...] = (
    "review",
    "pulse",
    "user",
    "collection",
    "quiz",
    "talent_profile",
    "casting_call",
)
REPORT_REASONS: tuple[str, ...] = (
    "spam",
    "harassment",
    "hate",
    "violence",
    "sexual",
    "spoilers",
    "misinformation",
    "copyright",
    "impersonation",
    "other",
)
# content_reports.status: open and reviewing are the queue; actioned and dismissed are resolved.
REPORT_STATUSES: tuple[str, ...] = ("open", "reviewing", "actioned", "dismissed")
OPEN_REPORT_STATUSES: tuple[str, ...] = ("open", "reviewing")
MODERATION_ACTIONS: tuple[str, ...] = (
    "dismiss",
    "warn",
    "hide",
    "remove",
    "restore",
    "suspend",
    "ban",
    "escalate",
)
STAFF_ROLES: tuple[str, ...] = ("admin", "moderator", "editor", "curator", "support")
# user_bans.scope: what a banned user may no longer do ("full": log in at all).
BAN_SCOPES: tuple[str, ...] = ("full", "posting", "reviews", "pulses", "messaging")
# audit_log.action: area.verb in lower case (review.hide, role.grant); a format rather than a
# list, so a new audited action needs no migration. No backslash: see the migration.
AUDIT_ACTION_PATTERN = "^[a-z_]+[.][a-z_]+$"
# audit_log.target_table: a table name of the schema.
TABLE_NAME_PATTERN = "^[a-z][a-z0-9_]*$"

_DESIGNED = "Designed here (not in the platform's schema document): "


class ContentReport(Base):
    __tablename__ = "content_reports"
    __table_args__ = (
        CheckConstraint(sql_in("target_type", REPORT_TARGET_TYPES), name="target_type"),
        CheckConstraint("target_id >= 1", name="target_id_positive"),
        CheckConstraint(sql_in("reason", REPORT_REASONS), name="reason"),
        CheckConstraint(sql_in("status", REPORT_STATUSES), name="status"),
        CheckConstraint("resolved_at >= created_at", name="resolved_after_created"),
        # Resolved exactly when actioned or dismissed.
        CheckConstraint(
            f"({sql_in('status', OPEN_REPORT_STATUSES)}) = (resolved_at IS NULL)",
            name="resolved_when_closed",
        ),
        {
            "comment": _DESIGNED + "users' reports of content (a review, a pulse, a user...) "
            "to the moderators: reason, status, when resolved."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="User who reported it (NULL once their account is deleted)",
    )
    target_type: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        comment="Type of the reported content (review, pulse, user, collection, quiz, "
        "talent_profile, casting_call)",
    )
    target_id: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Id of the reported row in its type's table"
    )
    reason: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        comment="Reason (spam, harassment, hate, violence, sexual, spoilers, misinformation, "
        "copyright, impersonation, other)",
    )
    details: Mapped[str | None] = mapped_column(Text, comment="Reporter's own words")
    status: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        server_default=text("'open'"),
        comment="Status (open, reviewing, actioned, dismissed)",
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When reported"
    )
    resolved_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="When actioned or dismissed (NULL while open)"
    )

    reporter: Mapped[User | None] = relationship(lazy="raise")
    actions: Mapped[list[ModerationAction]] = relationship(
        back_populates="report", lazy="raise", passive_deletes=True
    )

    def __repr__(self) -> str:
        return (
            f"ContentReport(id={self.id!r}, target_type={self.target_type!r}, "
            f"target_id={self.target_id!r}, status={self.status!r})"
        )


# The moderation queue: open reports by type, oldest first.
Index(
    "idx_content_reports_queue",
    ContentReport.target_type,
    ContentReport.created_at,
    postgresql_where=ContentReport.status.in_(OPEN_REPORT_STATUSES),
)
Index("idx_content_reports_target", ContentReport.target_type, ContentReport.target_id)
Index("idx_content_reports_reporter_id", ContentReport.reporter_id)


class ModerationAction(Base):
    __tablename__ = "moderation_actions"
    __table_args__ = (
        CheckConstraint(sql_in("action", MODERATION_ACTIONS), name="action"),
        CheckConstraint(sql_in("target_type", REPORT_TARGET_TYPES), name="target_type"),
        CheckConstraint("target_id >= 1", name="target_id_positive"),
        {
            "comment": _DESIGNED + "what moderators did, on a report or of their own accord, "
            "to which content."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("content_reports.id", ondelete="SET NULL"),
        comment="Report acted on (NULL for an action without a report)",
    )
    moderator_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="Moderator who acted (NULL once their account is deleted)",
    )
    action: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        comment="What was done (dismiss, warn, hide, remove, restore, suspend, ban, escalate)",
    )
    target_type: Mapped[str] = mapped_column(
        String(20), nullable=False, comment="Type of the content acted on (as in content_reports)"
    )
    target_id: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Id of the row acted on in its type's table"
    )
    note: Mapped[str | None] = mapped_column(Text, comment="Moderator's note")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When taken"
    )

    report: Mapped[ContentReport | None] = relationship(back_populates="actions", lazy="raise")
    moderator: Mapped[User | None] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return (
            f"ModerationAction(id={self.id!r}, report_id={self.report_id!r}, "
            f"action={self.action!r})"
        )


Index(
    "idx_moderation_actions_report_id",
    ModerationAction.report_id,
    postgresql_where=ModerationAction.report_id.is_not(None),
)
Index(
    "idx_moderation_actions_moderator", ModerationAction.moderator_id, ModerationAction.created_at
)


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (
        CheckConstraint(sql_in("role", STAFF_ROLES), name="role"),
        CheckConstraint("revoked_at >= created_at", name="revoked_after_granted"),
        {
            "comment": _DESIGNED + "staff roles granted to users (admin, moderator...), and "
            "when revoked."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, comment="User"
    )
    role: Mapped[str] = mapped_column(
        String(20), nullable=False, comment="Role (admin, moderator, editor, curator, support)"
    )
    granted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="User who granted it (NULL once their account is deleted)",
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When granted"
    )
    revoked_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="When revoked (NULL while held)"
    )

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="raise")
    granted_by: Mapped[User | None] = relationship(foreign_keys=[granted_by_id], lazy="raise")

    def __repr__(self) -> str:
        return f"UserRole(id={self.id!r}, user_id={self.user_id!r}, role={self.role!r})"


# A role is held once at a time; revoked grants stay as history.
Index(
    "idx_user_roles_held",
    UserRole.user_id,
    UserRole.role,
    unique=True,
    postgresql_where=UserRole.revoked_at.is_(None),
)


class UserBan(Base):
    __tablename__ = "user_bans"
    __table_args__ = (
        CheckConstraint(sql_in("scope", BAN_SCOPES), name="scope"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("lifted_at >= starts_at", name="lifted_after_start"),
        {
            "comment": _DESIGNED + "bans of users: what they may no longer do, from when, "
            "until when, and when lifted early."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, comment="Banned user"
    )
    action_id: Mapped[int | None] = mapped_column(
        ForeignKey("moderation_actions.id", ondelete="SET NULL"),
        comment="Moderation action that imposed it",
    )
    banned_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="User who imposed it (NULL once their account is deleted)",
    )
    scope: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        server_default=text("'full'"),
        comment="What is barred (full, posting, reviews, pulses, messaging)",
    )
    reason: Mapped[str] = mapped_column(Text, nullable=False, comment="Reason given to the user")
    starts_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When imposed"
    )
    ends_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="When it expires (NULL: permanent)"
    )
    lifted_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="When lifted before expiring (NULL: not lifted)"
    )

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="raise")
    banned_by: Mapped[User | None] = relationship(foreign_keys=[banned_by_id], lazy="raise")
    action: Mapped[ModerationAction | None] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"UserBan(id={self.id!r}, user_id={self.user_id!r}, scope={self.scope!r})"


Index("idx_user_bans_user", UserBan.user_id, UserBan.starts_at)


class AuditLogEntry(Base):
    """One audited act. BIGINT id: every staff and account action writes a row."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(f"action ~ '{AUDIT_ACTION_PATTERN}'", name="action_format"),
        CheckConstraint(f"target_table ~ '{TABLE_NAME_PATTERN}'", name="target_table_format"),
        CheckConstraint("(target_table IS NULL) = (target_id IS NULL)", name="target_complete"),
        CheckConstraint("jsonb_typeof(details) = 'object'", name="details_object"),
        {
            "comment": _DESIGNED + "the audit log: who did what to which row, when, with the "
            "details."
        },
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(80), unique=True, comment="External identifier"
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="User who acted (NULL: the platform itself, or an account since deleted)",
    )
    action: Mapped[str] = mapped_column(
        String(60), nullable=False, comment="What was done, as area.verb (e.g., review.hide)"
    )
    target_table: Mapped[str | None] = mapped_column(
        String(63), comment="Table of the row acted on (e.g., reviews)"
    )
    target_id: Mapped[int | None] = mapped_column(BigInteger, comment="Id of the row acted on")
    # none_as_null: None is SQL NULL (no details), not the JSON null the CHECK refuses.
    details: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB(none_as_null=True),
        comment="Details: a JSON object (e.g., the values before and after)",
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When done"
    )

    actor: Mapped[User | None] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"AuditLogEntry(id={self.id!r}, action={self.action!r})"


Index("idx_audit_log_created_at", AuditLogEntry.created_at.desc())
Index("idx_audit_log_actor", AuditLogEntry.actor_id, AuditLogEntry.created_at)
Index("idx_audit_log_target", AuditLogEntry.target_table, AuditLogEntry.target_id)
