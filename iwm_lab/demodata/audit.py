"""Rows of ``audit_log``: what staff and users did on the platform areas, in time order
(ids follow ``created_at``): role grants and revocations, moderation actions, lifted bans,
published lists and quizzes, posted casting calls. The platform itself (no actor) granted
the first admins their role.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from iwm_lab.demodata.copytext import CopyRows, Take, int_text, pool
from iwm_lab.demodata.discovery import LIST_TYPES, lists
from iwm_lab.demodata.facts import cached, sliced
from iwm_lab.demodata.moderation import ACTIONS, ROLES, TARGETS, reports, roles
from iwm_lab.demodata.quizzes import SOURCES
from iwm_lab.demodata.quizzes import plan as quiz_plan
from iwm_lab.demodata.talent import plan as talent_plan
from iwm_lab.demodata.world import I64, World

# (action, target table) of each kind of entry; moderation actions first, by ACTIONS.
KINDS = (
    *tuple((f"moderation.{a}", "moderation_actions") for a in ACTIONS),
    ("roles.grant", "user_roles"),
    ("roles.revoke", "user_roles"),
    ("bans.lift", "user_bans"),
    ("lists.publish", "curated_lists"),
    ("quizzes.publish", "quizzes"),
    ("casting.post", "casting_calls"),
)
_GRANT = len(ACTIONS)
# What "details" names: a target type, a role, a list type or a quiz source.
_DETAILS = (*TARGETS, *ROLES, *LIST_TYPES, *SOURCES)


def _entries(world: World) -> tuple[I64, I64, I64, np.ndarray, I64]:
    """(kind, actor id or 0, target id, moment, detail), sorted by moment."""
    held, rep, found = roles(world), reports(world), lists(world)
    quiz, talent = quiz_plan(world), talent_plan(world)
    role_ids = np.arange(1, len(held.user) + 1)
    revoked = ~np.isnat(held.revoked)
    lifted = np.flatnonzero(~np.isnat(rep.ban_lifted))
    listed = np.flatnonzero(found.published)
    posted = np.flatnonzero(quiz.published)
    off_r, off_l, off_s = len(TARGETS), len(TARGETS) + len(ROLES), len(_DETAILS) - len(SOURCES)
    parts = [
        (
            rep.act_action,
            rep.act_moderator,
            np.arange(1, len(rep.act_action) + 1),
            rep.act_created,
            rep.act_target,
        ),
        (
            np.full(len(held.user), _GRANT),
            held.granted_by,
            role_ids,
            held.granted,
            held.role + off_r,
        ),
        (
            np.full(int(revoked.sum()), _GRANT + 1),
            np.full(int(revoked.sum()), held.user[0]),
            role_ids[revoked],
            held.revoked[revoked],
            held.role[revoked] + off_r,
        ),
        (
            np.full(len(lifted), _GRANT + 2),
            rep.act_moderator[rep.ban_action[lifted]],
            lifted + 1,
            rep.ban_lifted[lifted],
            np.full(len(lifted), TARGETS.index("user")),
        ),
        (
            np.full(len(listed), _GRANT + 3),
            found.curator[listed],
            listed + 1,
            found.published_at[listed],
            found.list_type[listed] + off_l,
        ),
        (
            np.full(len(posted), _GRANT + 4),
            quiz.creator[posted],
            posted + 1,
            quiz.created[posted],
            quiz.source[posted] + off_s,
        ),
        (
            np.full(len(talent.call_role), _GRANT + 5),
            talent.call_poster,
            np.arange(1, len(talent.call_role) + 1),
            talent.call_created,
            np.full(len(talent.call_role), TARGETS.index("casting_call")),
        ),
    ]
    kind, actor, target, moment, detail = (
        np.concatenate([np.asarray(p[i]) for p in parts]) for i in range(5)
    )
    moment = moment.astype("datetime64[s]")
    order = np.argsort(moment, kind="stable")
    return kind[order], actor[order], target[order], moment[order], detail[order]


def audit_log(world: World) -> Iterator[CopyRows]:
    kind, actor, target, moment, detail = cached(world, "audit", lambda: _entries(world))
    actions = pool([k[0] for k in KINDS])
    tables = pool([k[1] for k in KINDS])
    details = pool([f'{{"about": "{d}", "ref": ' for d in _DETAILS])
    for part in sliced(len(kind)):
        k = part.stop - part.start
        ids = np.arange(part.start + 1, part.stop + 1)
        rows = CopyRows(k)
        rows.ints("id", ids)
        rows.code("external_id", "al", ids, 10)
        rows.ints("actor_id", actor[part], null=actor[part] == 0)
        rows.text("action", Take(actions, kind[part]))
        rows.text("target_table", Take(tables, kind[part]))
        rows.ints("target_id", target[part])
        rows.text("details", Take(details, detail[part]), int_text(target[part]), b"}")
        rows.timestamps("created_at", moment[part])
        yield rows
