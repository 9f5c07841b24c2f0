"""Rows of the moderation tables: ``user_roles``, ``content_reports``,
``moderation_actions`` and ``user_bans`` (the audit log is :mod:`.audit`).

Reports are about rows that exist (reviews, pulses, users, collections, quizzes, talent
profiles, casting calls) and are made after them. Most are settled within days: an action
at the moment ``resolved_at`` says (a dismissal for a dismissed one); what is still open is
mostly recent, except reports on talent profiles, a queue nobody works through, which holds
reports months old. Reports on users lead to warnings, suspensions and bans; a ban starts
when the action that caused it was taken. Moderators act only while they hold the role.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from iwm_lab.demodata.copytext import CopyRows, Take, pool
from iwm_lab.demodata.facts import cached, pulse_dates, review_dates, sliced, spread
from iwm_lab.demodata.quizzes import plan as quiz_plan
from iwm_lab.demodata.talent import plan as talent_plan
from iwm_lab.demodata.world import DAY, I64, SECOND, Distribution, World, rng_for, sample
from iwm_lab.models.moderation import (
    MODERATION_ACTIONS,
    REPORT_REASONS,
    REPORT_STATUSES,
    REPORT_TARGET_TYPES,
    STAFF_ROLES,
)

# The models' value sets, in their order (the generator's draws index into them).
ROLES = STAFF_ROLES
TARGETS = REPORT_TARGET_TYPES
REASONS = REPORT_REASONS
STATUSES = REPORT_STATUSES
ACTIONS = MODERATION_ACTIONS
SCOPES = ("full", "posting", "reviews", "pulses", "messaging")
NEGLECTED = TARGETS.index("talent_profile")
USER = TARGETS.index("user")


@dataclass
class Roles:
    user: I64  # id
    role: I64
    granted: np.ndarray
    granted_by: I64  # user id, 0 = none
    revoked: np.ndarray  # NaT = held


def roles(world: World) -> Roles:
    return cached(world, "roles", lambda: _roles(world))


def _roles(world: World) -> Roles:
    rng = rng_for(world.seed, "user-roles")
    users = world.scale.users
    counts = [3, max(4, users // 2000), max(3, users // 5000), max(4, users // 4000)]
    counts.append(max(2, users // 10000))
    # Staff are among the oldest accounts.
    oldest = np.argsort(world.user_created.astype(np.int64), kind="stable")[: 4 * sum(counts)]
    # The three oldest are the admins, from the day their account was made.
    chosen = np.r_[oldest[:3], rng.permutation(oldest[3:])[: sum(counts) - 3]]
    role = np.repeat(np.arange(len(ROLES)), counts)
    user = chosen + 1
    span = (world.as_of - world.launch).astype(np.int64)
    start = np.maximum(world.user_created[chosen], world.launch)
    later = start + (span * 0.3 * rng.random(len(user))).astype(np.int64) * SECOND
    granted = np.where(role == 0, start, np.maximum(later, start[0] + DAY))
    granted_by = np.where(role == 0, 0, user[0])
    revoked = spread(granted, np.full(len(user), world.as_of), rng.random(len(user)))
    revoked = np.where(
        (role > 0) & (rng.random(len(user)) < 0.12), revoked, np.datetime64("NaT", "s")
    )
    return Roles(user, role, granted, granted_by, revoked.astype("datetime64[s]"))


@dataclass
class Reports:
    reporter: I64  # id, 0 = none
    target: I64  # index into TARGETS
    target_id: I64
    reason: I64
    status: I64
    created: np.ndarray
    resolved: np.ndarray  # NaT = unresolved
    # actions
    act_report: I64  # report id, 0 = proactive
    act_moderator: I64
    act_action: I64
    act_target: I64
    act_target_id: I64
    act_created: np.ndarray
    # bans
    ban_action: I64  # 0-based action index
    ban_scope: I64
    ban_ends: np.ndarray  # NaT = permanent
    ban_lifted: np.ndarray  # NaT = not lifted


def reports(world: World) -> Reports:
    return cached(world, "reports", lambda: _reports(world))


def _targets(world: World, rng: np.random.Generator, kind: I64) -> tuple[I64, np.ndarray]:
    """A target id of each kind and when the target was made."""
    n = len(kind)
    quizzes, talent = quiz_plan(world), talent_plan(world)
    scale = world.scale
    sizes = [scale.reviews, scale.pulses, scale.users, scale.collections]
    sizes += [len(quizzes.source), len(talent.person), len(talent.call_role)]
    target = (rng.random(n) * np.array(sizes)[kind]).astype(np.int64) + 1
    # A few troublemakers gather most reports on users.
    trouble = np.argsort(rng.random(scale.users))[: max(5, scale.users // 200)]
    target = np.where(
        kind == USER, trouble[sample(Distribution(np.ones(len(trouble))), rng, n)] + 1, target
    )
    made = np.full(n, world.launch)
    for k, dates in (
        (0, lambda ids: review_dates(world, ids)),
        (1, lambda ids: pulse_dates(world, ids)),
        (2, lambda ids: world.user_created[ids - 1]),
        (3, lambda ids: world.collection_created[ids - 1]),
        (4, lambda ids: quizzes.created[ids - 1]),
        (5, lambda ids: talent.created[ids - 1]),
        (6, lambda ids: talent.call_created[ids - 1]),
    ):
        here = kind == k
        if here.any():
            made[here] = dates(target[here])
    return target, made.astype("datetime64[s]")


def _reports(world: World) -> Reports:
    rng = rng_for(world.seed, "reports-plan")
    n = max(120, world.scale.users // 10)
    kind = rng.choice(len(TARGETS), size=n, p=[0.38, 0.3, 0.1, 0.05, 0.05, 0.07, 0.05])
    target, made = _targets(world, rng, kind)
    created = np.minimum(
        made + rng.exponential(3 * 86_400, n).astype(np.int64) * SECOND, world.as_of
    )
    reporter = sample(Distribution(world.user_activity), rng, n) + 1
    reporter = np.where(world.user_created[reporter - 1] <= created, reporter, 0)
    reason = rng.choice(
        len(REASONS), size=n, p=[0.25, 0.15, 0.06, 0.04, 0.04, 0.2, 0.08, 0.04, 0.04, 0.1]
    )
    # Settled after a delay; the neglected queue is rarely worked.
    delay = rng.exponential(1.5 * 86_400, n).astype(np.int64) * SECOND
    settles = (created + delay <= world.as_of) & ((kind != NEGLECTED) | (rng.random(n) < 0.25))
    actioned = rng.random(n) < 0.55
    status = np.where(settles, np.where(actioned, 2, 3), np.where(rng.random(n) < 0.3, 1, 0))
    resolved = np.where(settles, created + delay, np.datetime64("NaT", "s"))
    # One action per settled report, at its resolution; an escalation of some under review.
    held = roles(world)
    mods = np.flatnonzero(held.role <= 1)
    settled = np.flatnonzero(settles)
    user_kind = kind[settled] == USER
    by_content = rng.choice([1, 2, 3], size=len(settled), p=[0.3, 0.4, 0.3])
    by_user = rng.choice([1, 5, 6], size=len(settled), p=[0.5, 0.35, 0.15])
    action = np.where(status[settled] == 3, 0, np.where(user_kind, by_user, by_content))
    reviewing = np.flatnonzero(status == 1)
    escalated = reviewing[rng.random(len(reviewing)) < 0.5]
    at = (
        created[escalated]
        + ((world.as_of - created[escalated]).astype(np.int64) * rng.random(len(escalated))).astype(
            np.int64
        )
        * SECOND
    )
    # Proactive actions on content, found without a report.
    p_count = max(10, n // 10)
    p_kind = rng.choice([0, 1], size=p_count)
    p_target, p_made = _targets(world, rng, p_kind)
    p_at = np.minimum(
        p_made + rng.exponential(86_400, p_count).astype(np.int64) * SECOND, world.as_of
    )
    act_report = np.r_[settled + 1, escalated + 1, np.zeros(p_count, np.int64)]
    act_action = np.r_[action, np.full(len(escalated), 7), rng.choice([2, 3], p_count)]
    act_target = np.r_[kind[settled], kind[escalated], p_kind]
    act_target_id = np.r_[target[settled], target[escalated], p_target]
    act_created = np.r_[resolved[settled], at, p_at].astype("datetime64[s]")
    order = np.argsort(act_created, kind="stable")
    act_report, act_action, act_target, act_target_id, act_created = (
        a[order] for a in (act_report, act_action, act_target, act_target_id, act_created)
    )
    # The moderator: one holding the role then, else the first admin (never revoked).
    m = len(act_created)
    pick = mods[rng.integers(0, len(mods), m)]
    holds = (held.granted[pick] <= act_created) & ~(held.revoked[pick] <= act_created)
    # Before any moderator held the role: an automatic action, by nobody.
    first = held.granted[0]
    act_moderator = np.where(
        holds, held.user[pick], np.where(act_created >= first, held.user[0], 0)
    )
    # Bans from suspensions (ended or ending) and bans (permanent).
    ban_action = np.flatnonzero((act_action == 5) | (act_action == 6))
    b = len(ban_action)
    suspended = act_action[ban_action] == 5
    scope = np.where(suspended, rng.integers(1, len(SCOPES), b), 0)
    ends = np.where(
        suspended,
        act_created[ban_action] + rng.choice([7, 14, 30], b) * DAY,
        np.datetime64("NaT", "s"),
    )
    until = np.where(np.isnat(ends), world.as_of, np.minimum(ends, world.as_of))
    lifted = spread(act_created[ban_action], until, rng.random(b))
    lifted = np.where(rng.random(b) < 0.15, lifted, np.datetime64("NaT", "s"))
    return Reports(
        reporter=reporter,
        target=kind,
        target_id=target,
        reason=reason,
        status=status,
        created=created.astype("datetime64[s]"),
        resolved=resolved.astype("datetime64[s]"),
        act_report=act_report,
        act_moderator=act_moderator,
        act_action=act_action,
        act_target=act_target,
        act_target_id=act_target_id,
        act_created=act_created,
        ban_action=ban_action,
        ban_scope=scope,
        ban_ends=ends.astype("datetime64[s]"),
        ban_lifted=lifted.astype("datetime64[s]"),
    )


def user_roles(world: World) -> Iterator[CopyRows]:
    r = roles(world)
    n = len(r.user)
    ids = np.arange(1, n + 1)
    rows = CopyRows(n)
    rows.ints("id", ids)
    rows.code("external_id", "ur", ids, 6)
    rows.ints("user_id", r.user)
    rows.text("role", Take(pool(ROLES), r.role))
    rows.ints("granted_by_id", r.granted_by, null=r.granted_by == 0)
    rows.timestamps("created_at", r.granted)
    rows.timestamps("revoked_at", r.revoked, null=np.isnat(r.revoked))
    yield rows


def content_reports(world: World) -> Iterator[CopyRows]:
    r = reports(world)
    total = len(r.target)
    rng = rng_for(world.seed, "content-reports")
    details = pool(["Please take a look.", "This keeps happening.", "Spoils the ending."])
    for part in sliced(total):
        k = part.stop - part.start
        ids = np.arange(part.start + 1, part.stop + 1)
        reporter = r.reporter[part]
        rows = CopyRows(k)
        rows.ints("id", ids)
        rows.code("external_id", "cr", ids, 8)
        rows.ints("reporter_id", reporter, null=reporter == 0)
        rows.text("target_type", Take(pool(TARGETS), r.target[part]))
        rows.ints("target_id", r.target_id[part])
        rows.text("reason", Take(pool(REASONS), r.reason[part]))
        rows.text("details", Take(details, rng.integers(0, 3, k)), null=rng.random(k) < 0.5)
        rows.text("status", Take(pool(STATUSES), r.status[part]))
        rows.timestamps("created_at", r.created[part])
        rows.timestamps("resolved_at", r.resolved[part], null=np.isnat(r.resolved[part]))
        yield rows


def moderation_actions(world: World) -> Iterator[CopyRows]:
    r = reports(world)
    total = len(r.act_action)
    rng = rng_for(world.seed, "moderation-actions")
    notes = pool(["Against the guidelines.", "No violation found.", "Second warning."])
    for part in sliced(total):
        k = part.stop - part.start
        ids = np.arange(part.start + 1, part.stop + 1)
        report = r.act_report[part]
        rows = CopyRows(k)
        rows.ints("id", ids)
        rows.code("external_id", "ma", ids, 8)
        rows.ints("report_id", report, null=report == 0)
        rows.ints("moderator_id", r.act_moderator[part], null=r.act_moderator[part] == 0)
        rows.text("action", Take(pool(ACTIONS), r.act_action[part]))
        rows.text("target_type", Take(pool(TARGETS), r.act_target[part]))
        rows.ints("target_id", r.act_target_id[part])
        rows.text("note", Take(notes, rng.integers(0, 3, k)), null=rng.random(k) < 0.4)
        rows.timestamps("created_at", r.act_created[part])
        yield rows


def user_bans(world: World) -> Iterator[CopyRows]:
    r = reports(world)
    n = len(r.ban_action)
    ids = np.arange(1, n + 1)
    action = r.ban_action
    reasons = pool(["Repeated harassment.", "Spam account.", "Ban evasion."])
    rows = CopyRows(n)
    rows.ints("id", ids)
    rows.code("external_id", "ub", ids, 7)
    rows.ints("user_id", r.act_target_id[action])
    rows.ints("action_id", action + 1)
    rows.ints("banned_by_id", r.act_moderator[action], null=r.act_moderator[action] == 0)
    rows.text("scope", Take(pool(SCOPES), r.ban_scope))
    rows.text("reason", Take(reasons, ids % 3))
    rows.timestamps("starts_at", r.act_created[action])
    rows.timestamps("ends_at", r.ban_ends, null=np.isnat(r.ban_ends))
    rows.timestamps("lifted_at", r.ban_lifted, null=np.isnat(r.ban_lifted))
    yield rows
